//! Changing the mappings of an address space: mmap, munmap, mprotect,
//! madvise, brk and mremap, with Linux's limits (`mmap_min_addr`,
//! `vm.max_map_count`, the memory cap).

use std::sync::Arc;

use platform::{FrameKind, PAGE_SIZE, Pte, PteFlags};

use super::{
    AddressSpace, Inner, MAX_MAP_COUNT, MMAP_BASE, MMAP_MIN_ADDR, Prot, SharedMemory, TASK_SIZE,
    Vma, page_down, page_up,
};
use crate::errno::Errno;

// mmap flags.
const MAP_SHARED: u64 = 0x1;
const MAP_PRIVATE: u64 = 0x2;
const MAP_SHARED_VALIDATE: u64 = 0x3;
const MAP_TYPE: u64 = 0xf;
const MAP_FIXED: u64 = 0x10;
const MAP_ANONYMOUS: u64 = 0x20;
const MAP_GROWSDOWN: u64 = 0x100;
const MAP_NORESERVE: u64 = 0x4000;
const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;
const MAP_HUGETLB: u64 = 0x4_0000;
/// Flags MAP_SHARED_VALIDATE knows.
const MAP_KNOWN: u64 = 0x1ff_ffff & !MAP_TYPE;

impl AddressSpace {
    /// mmap(2) for anonymous memory.
    pub fn mmap(&self, addr: u64, len: u64, prot: u64, flags: u64, fd: i64) -> Result<u64, Errno> {
        let map_type = flags & MAP_TYPE;
        if !matches!(map_type, MAP_SHARED | MAP_PRIVATE | MAP_SHARED_VALIDATE) {
            return Err(Errno::EINVAL);
        }
        if map_type == MAP_SHARED_VALIDATE && flags & !MAP_KNOWN & !MAP_TYPE != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        if prot & !0x7 & !0x0300_0000 != 0 {
            return Err(Errno::EINVAL);
        }
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        if flags & MAP_ANONYMOUS == 0 {
            // Only anonymous memory exists so far; files cannot be mapped.
            return Err(if fd < 0 { Errno::EBADF } else { Errno::ENODEV });
        }
        if flags & MAP_HUGETLB != 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len).ok_or(Errno::ENOMEM)?;
        if len > TASK_SIZE - MMAP_MIN_ADDR {
            return Err(Errno::ENOMEM);
        }
        let prot = Prot::from_bits(prot);
        let shared = map_type != MAP_PRIVATE;
        if (shared || prot.write) && flags & MAP_NORESERVE == 0 && len > self.memory_left() {
            return Err(Errno::ENOMEM);
        }
        let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
        let mut inner = self.inner.lock();
        // Linux's do_mmap: `map_count > sysctl_max_map_count`.
        if inner.vmas.len() > MAX_MAP_COUNT {
            return Err(Errno::ENOMEM);
        }
        let start = if fixed {
            if !addr.is_multiple_of(PAGE_SIZE) {
                return Err(Errno::EINVAL);
            }
            let end = addr.checked_add(len).ok_or(Errno::ENOMEM)?;
            if end > TASK_SIZE {
                return Err(Errno::ENOMEM);
            }
            if addr < MMAP_MIN_ADDR {
                return Err(Errno::EPERM);
            }
            if flags & MAP_FIXED_NOREPLACE != 0 && flags & MAP_FIXED == 0 {
                if inner.vmas.overlaps(addr, end) {
                    return Err(Errno::EEXIST);
                }
            } else {
                Self::check_hole_room(&inner, addr, end)?;
                self.unmap_locked(&mut inner, addr, end);
            }
            addr
        } else {
            let hint = page_down(addr);
            if hint >= MMAP_MIN_ADDR
                && hint.checked_add(len).is_some_and(|e| e <= TASK_SIZE)
                && !inner.vmas.overlaps(hint, hint + len)
            {
                hint
            } else {
                inner
                    .vmas
                    .find_gap(len, MMAP_MIN_ADDR, MMAP_BASE)
                    .ok_or(Errno::ENOMEM)?
            }
        };
        let mut vma = Vma::anon(start + len, prot);
        if shared {
            vma.shared = Some((Arc::new(SharedMemory::new(Arc::clone(&self.machine))), 0));
        }
        vma.grows_down = flags & MAP_GROWSDOWN != 0;
        inner.vmas.insert(start, vma);
        Ok(start)
    }

    /// Splits the VMAs at `start` and `end` before changing what lies
    /// between, one split at a time as Linux's vma_modify does: each split
    /// fails with ENOMEM at `vm.max_map_count`, and a first split made
    /// before the second fails stays (as on Linux).
    fn split_for_update(inner: &mut Inner, start: u64, end: u64) -> Result<(), Errno> {
        for at in [start, end] {
            if inner.vmas.splits_at(at) {
                if inner.vmas.len() >= MAX_MAP_COUNT {
                    return Err(Errno::ENOMEM);
                }
                inner.vmas.split_at(at);
            }
        }
        Ok(())
    }

    /// Linux refuses to punch a hole in the middle of one VMA (a split that
    /// adds one) when the address space is at `vm.max_map_count`.
    fn check_hole_room(inner: &Inner, start: u64, end: u64) -> Result<(), Errno> {
        if let Some((s, v)) = inner.vmas.find(start)
            && s < start
            && end < v.end
            && inner.vmas.len() >= MAX_MAP_COUNT
        {
            return Err(Errno::ENOMEM);
        }
        Ok(())
    }

    /// Removes mappings and drops their pages.
    pub(super) fn unmap_locked(&self, inner: &mut Inner, start: u64, end: u64) {
        let removed = inner.vmas.remove(start, end);
        if removed.is_empty() {
            return;
        }
        self.drop_pages(inner, start, end);
    }

    /// Clears the translations of `[start, end)` and drops their frames.
    fn drop_pages(&self, inner: &mut Inner, start: u64, end: u64) {
        let frames = self.machine.frames();
        let mut dropped = Vec::new();
        let _ = inner.pt.update_range(start, end, |_, pte| {
            dropped.push(pte.frame);
            None
        });
        inner.deferred_puts.extend(dropped);
        let parked: Vec<u64> = inner.parked.range(start..end).map(|(k, _)| *k).collect();
        for va in parked {
            if let Some(f) = inner.parked.remove(&va) {
                frames.put(f, FrameKind::Data);
            }
        }
    }

    /// munmap(2).
    pub fn munmap(&self, addr: u64, len: u64) -> Result<(), Errno> {
        if !addr.is_multiple_of(PAGE_SIZE) || len == 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len).ok_or(Errno::EINVAL)?;
        let end = addr.checked_add(len).ok_or(Errno::EINVAL)?;
        if end > TASK_SIZE {
            return Err(Errno::EINVAL);
        }
        let mut inner = self.inner.lock();
        Self::check_hole_room(&inner, addr, end)?;
        self.unmap_locked(&mut inner, addr, end);
        Ok(())
    }

    /// mprotect(2).
    pub fn mprotect(&self, addr: u64, len: u64, prot: u64) -> Result<(), Errno> {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        // PROT_GROWSDOWN/PROT_GROWSUP are accepted and ignored.
        if prot & !0x7 & !0x0300_0000 != 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len).ok_or(Errno::ENOMEM)?;
        let end = addr.checked_add(len).ok_or(Errno::ENOMEM)?;
        if len == 0 {
            return Ok(());
        }
        let prot = Prot::from_bits(prot);
        let mut inner = self.inner.lock();
        if !inner.vmas.fully_mapped(addr, end) {
            return Err(Errno::ENOMEM);
        }
        Self::split_for_update(&mut inner, addr, end)?;
        inner.vmas.update(addr, end, |v| v.prot = prot);
        let none = !prot.read && !prot.write && !prot.exec;
        let mut parked = Vec::new();
        inner
            .pt
            .update_range(addr, end, |va, pte| {
                if none {
                    parked.push((va, pte.frame));
                    return None;
                }
                Some(Pte {
                    frame: pte.frame,
                    flags: PteFlags {
                        // Write access comes back through a fault (which checks
                        // for sharing); exec is granted at once.
                        write: pte.flags.write && prot.write,
                        exec: prot.exec,
                    },
                })
            })
            .map_err(|_| Errno::ENOMEM)?;
        inner.parked.extend(parked);
        Ok(())
    }

    /// madvise(2).
    pub fn madvise(&self, addr: u64, len: u64, advice: u64) -> Result<(), Errno> {
        const DONTNEED: u64 = 4;
        const FREE: u64 = 8;
        const REMOVE: u64 = 9;
        const DONTFORK: u64 = 10;
        const DOFORK: u64 = 11;
        const WIPEONFORK: u64 = 18;
        const KEEPONFORK: u64 = 19;
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        let known = matches!(advice, 0..=4 | 8..=19 | 20..=23 | 25);
        if !known {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len).ok_or(Errno::EINVAL)?;
        let end = addr.checked_add(len).ok_or(Errno::EINVAL)?;
        if len == 0 {
            return Ok(());
        }
        let mut inner = self.inner.lock();
        if !inner.vmas.fully_mapped(addr, end) {
            return Err(Errno::ENOMEM);
        }
        if matches!(advice, DONTFORK | DOFORK | WIPEONFORK | KEEPONFORK) {
            Self::split_for_update(&mut inner, addr, end)?;
        }
        match advice {
            DONTNEED | FREE | REMOVE => {
                let shared = inner
                    .vmas
                    .find(addr)
                    .is_some_and(|(_, v)| v.shared.is_some());
                if shared && advice != REMOVE {
                    // Shared pages stay in their object; just unmap them.
                    let mut dropped = Vec::new();
                    let _ = inner.pt.update_range(addr, end, |_, pte| {
                        dropped.push(pte.frame);
                        None
                    });
                    inner.deferred_puts.extend(dropped);
                } else {
                    self.drop_pages(&mut inner, addr, end);
                }
            }
            DONTFORK => inner.vmas.update(addr, end, |v| v.dont_fork = true),
            DOFORK => inner.vmas.update(addr, end, |v| v.dont_fork = false),
            WIPEONFORK => {
                let shared = inner
                    .vmas
                    .iter()
                    .any(|(s, v)| s < end && v.end > addr && v.shared.is_some());
                if shared {
                    return Err(Errno::EINVAL);
                }
                inner.vmas.update(addr, end, |v| v.wipe_on_fork = true)
            }
            KEEPONFORK => inner.vmas.update(addr, end, |v| v.wipe_on_fork = false),
            _ => {}
        }
        Ok(())
    }

    /// brk(2): returns the new (or unchanged) break.
    pub fn brk(&self, new: u64) -> u64 {
        let mut inner = self.inner.lock();
        let old = inner.brk;
        if new < inner.brk_start || new >= TASK_SIZE {
            return old;
        }
        let Some(old_end) = page_up(old) else {
            return old;
        };
        let Some(new_end) = page_up(new) else {
            return old;
        };
        if new_end > old_end {
            if old_end < MMAP_MIN_ADDR
                || inner.vmas.len() > MAX_MAP_COUNT
                || inner.vmas.overlaps(old_end, new_end)
                || new_end - old_end > self.memory_left()
            {
                return old;
            }
            let mut vma = Vma::anon(new_end, Prot::RW);
            vma.name = "[heap]";
            inner.vmas.insert(old_end, vma);
        } else if new_end < old_end {
            if Self::check_hole_room(&inner, new_end, old_end).is_err() {
                return old;
            }
            self.unmap_locked(&mut inner, new_end, old_end);
        }
        inner.brk = new;
        new
    }

    /// mremap(2).
    pub fn mremap(
        &self,
        old: u64,
        old_len: u64,
        new_len: u64,
        flags: u64,
        new_addr: u64,
    ) -> Result<u64, Errno> {
        const MAYMOVE: u64 = 1;
        const FIXED: u64 = 2;
        const DONTUNMAP: u64 = 4;
        if flags & !(MAYMOVE | FIXED | DONTUNMAP) != 0 || !old.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        if flags & FIXED != 0 && flags & MAYMOVE == 0 {
            return Err(Errno::EINVAL);
        }
        let dont_unmap = flags & DONTUNMAP != 0;
        if dont_unmap && (flags & MAYMOVE == 0 || old_len != new_len) {
            return Err(Errno::EINVAL);
        }
        let old_len = page_up(old_len).ok_or(Errno::EINVAL)?;
        let new_len = page_up(new_len).ok_or(Errno::EINVAL)?;
        if new_len == 0 {
            return Err(Errno::EINVAL);
        }
        let mut inner = self.inner.lock();
        let (vstart, vma) = inner
            .vmas
            .find(old)
            .map(|(s, v)| (s, v.clone()))
            .ok_or(Errno::EFAULT)?;
        let old_end = old.checked_add(old_len).ok_or(Errno::EINVAL)?;
        if old_end > vma.end {
            return Err(Errno::EFAULT);
        }
        if flags & FIXED != 0 {
            if !new_addr.is_multiple_of(PAGE_SIZE) {
                return Err(Errno::EINVAL);
            }
            let dst_end = new_addr.checked_add(new_len).ok_or(Errno::EINVAL)?;
            if dst_end > TASK_SIZE || (new_addr < old_end && old < dst_end) {
                return Err(Errno::EINVAL);
            }
            // get_unmapped_area's security_mmap_addr: as for mmap(MAP_FIXED).
            if new_addr < MMAP_MIN_ADDR {
                return Err(Errno::EPERM);
            }
            Self::check_move_room(&inner)?;
            self.unmap_locked(&mut inner, new_addr, dst_end);
            return self.move_locked(
                &mut inner, old, old_len, new_len, new_addr, vstart, &vma, dont_unmap,
            );
        }
        if dont_unmap {
            Self::check_move_room(&inner)?;
            let dst = inner
                .vmas
                .find_gap(new_len, MMAP_MIN_ADDR, MMAP_BASE)
                .ok_or(Errno::ENOMEM)?;
            return self.move_locked(&mut inner, old, old_len, new_len, dst, vstart, &vma, true);
        }
        if new_len <= old_len {
            Self::check_hole_room(&inner, old + new_len, old_end)?;
            self.unmap_locked(&mut inner, old + new_len, old_end);
            return Ok(old);
        }
        let grow_end = old.checked_add(new_len).ok_or(Errno::ENOMEM)?;
        if old_end == vma.end && grow_end <= TASK_SIZE && !inner.vmas.overlaps(old_end, grow_end) {
            let mut ext = vma.clone();
            ext.end = grow_end;
            if let Some((obj, off)) = &vma.shared {
                ext.shared = Some((Arc::clone(obj), off + (old_end - vstart)));
            }
            inner.vmas.insert(old_end, ext);
            return Ok(old);
        }
        if flags & MAYMOVE == 0 {
            return Err(Errno::ENOMEM);
        }
        Self::check_move_room(&inner)?;
        let dst = inner
            .vmas
            .find_gap(new_len, MMAP_MIN_ADDR, MMAP_BASE)
            .ok_or(Errno::ENOMEM)?;
        self.move_locked(&mut inner, old, old_len, new_len, dst, vstart, &vma, false)
    }

    /// Linux's move_vma: `map_count >= sysctl_max_map_count - 3` is ENOMEM.
    fn check_move_room(inner: &Inner) -> Result<(), Errno> {
        if inner.vmas.len() >= MAX_MAP_COUNT - 3 {
            return Err(Errno::ENOMEM);
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn move_locked(
        &self,
        inner: &mut Inner,
        old: u64,
        old_len: u64,
        new_len: u64,
        dst: u64,
        vstart: u64,
        vma: &Vma,
        dont_unmap: bool,
    ) -> Result<u64, Errno> {
        let keep = old_len.min(new_len);
        let mut moved = Vec::new();
        inner
            .pt
            .update_range(old, old + keep, |va, pte| {
                moved.push((va - old, pte));
                None
            })
            .map_err(|_| Errno::ENOMEM)?;
        let parked: Vec<(u64, u64)> = inner
            .parked
            .range(old..old + keep)
            .map(|(k, v)| (*k, *v))
            .collect();
        for (va, _) in &parked {
            inner.parked.remove(va);
        }
        // The moved pages were cleared above, so removing the old range only
        // drops what lies beyond `keep`. MREMAP_DONTUNMAP keeps the old
        // range mapped, empty (old_len == new_len, so nothing lies beyond).
        if !dont_unmap {
            self.unmap_locked(inner, old, old + old_len);
        }
        let mut nv = vma.clone();
        nv.end = dst + new_len;
        if let Some((obj, off)) = &vma.shared {
            nv.shared = Some((Arc::clone(obj), off + (old - vstart)));
        }
        inner.vmas.insert(dst, nv);
        for (off, pte) in moved {
            inner
                .pt
                .set(dst + off, Some(pte))
                .map_err(|_| Errno::ENOMEM)?;
        }
        for (va, f) in parked {
            inner.parked.insert(dst + (va - old), f);
        }
        Ok(dst)
    }
}

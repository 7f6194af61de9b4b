//! Changing the mappings of an address space: mmap, munmap, mprotect,
//! madvise, brk and mremap, with Linux's limits (`mmap_min_addr`,
//! `vm.max_map_count`, the memory cap). The syscalls' arguments arrive
//! decoded and checked by the syscall layer (`syscalls/mm.rs`); the errors here are the
//! ones that depend on what is mapped.

use std::sync::Arc;

use platform::{Mapping, PAGE_SIZE, PageFlags};

use super::{
    AddressSpace, Inner, MAX_MAP_COUNT, MMAP_MIN_ADDR, Prot, SharedMemory, TASK_SIZE, Vma, page_up,
    platform_errno,
};
use crate::errno::Errno;

/// Where an anonymous mapping goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// Anywhere; at this address (rounded down) if it is free (no MAP_FIXED).
    Hint(u64),
    /// Exactly here, replacing what is mapped (MAP_FIXED).
    Fixed(u64),
    /// Exactly here, EEXIST if anything is mapped (MAP_FIXED_NOREPLACE
    /// without MAP_FIXED).
    FixedNoReplace(u64),
}

/// A decoded anonymous mmap(2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MapRequest {
    /// Where.
    pub placement: Placement,
    /// Length in bytes: a non-zero multiple of the page size, at most
    /// `TASK_SIZE - MMAP_MIN_ADDR`.
    pub len: u64,
    /// Protections.
    pub prot: Prot,
    /// MAP_SHARED (or MAP_SHARED_VALIDATE) rather than MAP_PRIVATE.
    pub shared: bool,
    /// MAP_GROWSDOWN.
    pub grows_down: bool,
    /// MAP_NORESERVE: not counted against the memory cap up front.
    pub noreserve: bool,
}

/// A decoded madvise(2) advice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Advice {
    /// MADV_DONTNEED: drop the pages (private ones read back as zeros).
    DontNeed,
    /// MADV_FREE: dropped at once here, as DONTNEED.
    Free,
    /// MADV_REMOVE: drop the pages, also a shared mapping's.
    Remove,
    /// MADV_DONTFORK.
    DontFork,
    /// MADV_DOFORK.
    DoFork,
    /// MADV_WIPEONFORK (EINVAL on shared mappings).
    WipeOnFork,
    /// MADV_KEEPONFORK.
    KeepOnFork,
    /// Any other advice Linux knows: only the range is checked.
    Hint,
}

/// A decoded mremap(2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemapRequest {
    /// Start of the old range (page-aligned).
    pub old: u64,
    /// Old length, rounded up to pages.
    pub old_len: u64,
    /// New length, rounded up to pages, non-zero.
    pub new_len: u64,
    /// MREMAP_MAYMOVE.
    pub may_move: bool,
    /// MREMAP_FIXED with its new address (implies `may_move`).
    pub fixed: Option<u64>,
    /// MREMAP_DONTUNMAP (implies `may_move` and equal lengths).
    pub dont_unmap: bool,
}

impl AddressSpace {
    /// Maps anonymous memory as `req` asks (mmap(2) once its arguments
    /// are decoded): ENOMEM past the memory cap or `vm.max_map_count` or
    /// when no room is left, and for a fixed address EINVAL (unaligned),
    /// ENOMEM (beyond user space), EPERM (below `mmap_min_addr`) or EEXIST
    /// (MAP_FIXED_NOREPLACE over a mapping).
    pub fn map_anon(&self, req: &MapRequest) -> Result<u64, Errno> {
        let shared = req
            .shared
            .then(|| (Arc::new(SharedMemory::new(Arc::clone(&self.machine))), 0));
        self.map_with(req, shared, None)
    }

    /// Maps a VMA with the given shared object and file (see
    /// [`AddressSpace::map_anon`] for the errors).
    pub(super) fn map_with(
        &self,
        req: &MapRequest,
        shared_obj: Option<(Arc<SharedMemory>, u64)>,
        file: Option<(super::FileMap, u64)>,
    ) -> Result<u64, Errno> {
        let MapRequest {
            placement,
            len,
            prot,
            shared,
            ..
        } = *req;
        // Memory the mapping may have to provide: anonymous shared memory
        // and private writable pages (a shared file's pages are its own).
        let charged = if file.is_some() {
            !shared && prot.write
        } else {
            shared || prot.write
        };
        if charged && !req.noreserve && len > self.memory_left() {
            return Err(Errno::ENOMEM);
        }
        let mut inner = self.inner.lock();
        // Linux's do_mmap: `map_count > sysctl_max_map_count`.
        if inner.vmas.len() > MAX_MAP_COUNT {
            return Err(Errno::ENOMEM);
        }
        // RLIMIT_AS and RLIMIT_DATA (mmap_region's may_expand_vm, before
        // a MAP_FIXED mapping replaces anything).
        let data_len = if prot.write && !shared && !req.grows_down {
            len
        } else {
            0
        };
        let start = match placement {
            Placement::Fixed(addr) | Placement::FixedNoReplace(addr) => {
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
                if matches!(placement, Placement::FixedNoReplace(_)) {
                    if inner.vmas.overlaps(addr, end) {
                        return Err(Errno::EEXIST);
                    }
                    self.limits.may_expand(&inner.vmas, len, data_len, (0, 0))?;
                } else {
                    self.limits
                        .may_expand(&inner.vmas, len, data_len, (addr, end))?;
                    inner.vmas.check_hole_room(addr, end)?;
                    self.unmap_locked(&mut inner, addr, end);
                }
                addr
            }
            Placement::Hint(addr) => {
                let start = inner.vmas.unmapped_area(addr, len).ok_or(Errno::ENOMEM)?;
                self.limits.may_expand(&inner.vmas, len, data_len, (0, 0))?;
                start
            }
        };
        let mut vma = Vma::anon(start + len, prot);
        vma.shared = shared_obj;
        vma.file = file;
        vma.grows_down = req.grows_down;
        inner.vmas.insert(start, vma);
        Ok(start)
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
        let walked = inner.pt.update_range(start, end, &mut |_, pte| {
            dropped.push(pte.frame);
            None
        });
        if let Err(e) = walked {
            tracing::error!("memory: unmapping {start:#x}..{end:#x}: {e}");
        }
        inner.deferred_puts.extend(dropped);
        let parked: Vec<u64> = inner.parked.range(start..end).map(|(k, _)| *k).collect();
        for va in parked {
            if let Some(f) = inner.parked.remove(&va) {
                frames.put_data(f);
            }
        }
    }

    /// Unmaps `[addr, end)` (page-aligned; munmap(2) once decoded):
    /// ENOMEM when that would split a VMA at `vm.max_map_count`.
    pub fn unmap(&self, addr: u64, end: u64) -> Result<(), Errno> {
        let mut inner = self.inner.lock();
        inner.vmas.check_hole_room(addr, end)?;
        self.unmap_locked(&mut inner, addr, end);
        Ok(())
    }

    /// Sets the protections of `[addr, end)` (page-aligned, non-empty;
    /// mprotect(2) once decoded): ENOMEM when part of it is not mapped or a
    /// split would pass `vm.max_map_count`.
    pub fn protect(&self, addr: u64, end: u64, prot: Prot) -> Result<(), Errno> {
        let mut inner = self.inner.lock();
        if !inner.vmas.fully_mapped(addr, end) {
            return Err(Errno::ENOMEM);
        }
        // A shared file mapping becomes writable only if its file was
        // opened for writing (Linux's VM_MAYWRITE).
        // ([vvar] may gain neither write nor exec.)
        if prot.write || prot.exec {
            let mut at = addr;
            while let Some((_, v)) = inner.vmas.find(at).filter(|_| at < end) {
                if v.locked_read_only
                    || prot.write
                        && v.file
                            .as_ref()
                            .is_some_and(|(f, _)| f.shared && !f.may_write)
                {
                    return Err(Errno::EACCES);
                }
                at = v.end;
            }
        }
        if prot.write && self.limits.data_limited() {
            // mprotect_fixup: pages that become data count against
            // RLIMIT_DATA (the range is fully mapped: checked above).
            let mut becoming = 0;
            let mut at = addr;
            while let Some((s, v)) = inner.vmas.find(at).filter(|_| at < end) {
                if !v.prot.write {
                    let mut w = v.clone();
                    w.prot.write = true;
                    if super::rlimit::is_data(&w) {
                        becoming += v.end.min(end) - s.max(addr);
                    }
                }
                at = v.end;
            }
            if becoming > 0 {
                self.limits.may_expand(&inner.vmas, 0, becoming, (0, 0))?;
            }
        }
        inner.vmas.split_for_update(addr, end)?;
        inner.vmas.update(addr, end, |v| v.prot = prot);
        let none = prot.is_none();
        let mut parked = Vec::new();
        inner
            .pt
            .update_range(addr, end, &mut |va, pte| {
                if none {
                    parked.push((va, pte.frame));
                    return None;
                }
                Some(Mapping {
                    frame: pte.frame,
                    flags: PageFlags {
                        // Write access comes back through a fault (which checks
                        // for sharing); exec is granted at once.
                        write: pte.flags.write && prot.write,
                        exec: prot.exec,
                    },
                })
            })
            .map_err(|e| platform_errno(e, Errno::ENOMEM))?;
        inner.parked.extend(parked);
        Ok(())
    }

    /// Applies `advice` to `[addr, end)` (page-aligned, non-empty;
    /// madvise(2) once decoded): ENOMEM when part of it is not mapped or a
    /// split would pass `vm.max_map_count`, EINVAL for MADV_WIPEONFORK on
    /// a shared or file mapping.
    pub fn advise(&self, addr: u64, end: u64, advice: Advice) -> Result<(), Errno> {
        let mut inner = self.inner.lock();
        if !inner.vmas.fully_mapped(addr, end) {
            return Err(Errno::ENOMEM);
        }
        if matches!(
            advice,
            Advice::DontFork | Advice::DoFork | Advice::WipeOnFork | Advice::KeepOnFork
        ) {
            inner.vmas.split_for_update(addr, end)?;
        }
        match advice {
            Advice::DontNeed | Advice::Free | Advice::Remove => {
                let shared = inner
                    .vmas
                    .find(addr)
                    .is_some_and(|(_, v)| v.shared.is_some());
                if shared && advice != Advice::Remove {
                    // Shared pages stay in their object; just unmap them.
                    let mut dropped = Vec::new();
                    inner
                        .pt
                        .update_range(addr, end, &mut |_, pte| {
                            dropped.push(pte.frame);
                            None
                        })
                        .map_err(|e| platform_errno(e, Errno::ENOMEM))?;
                    inner.deferred_puts.extend(dropped);
                } else {
                    self.drop_pages(&mut inner, addr, end);
                }
                if advice == Advice::Remove {
                    // MADV_REMOVE punches a hole in the shared object (a
                    // shmem file's fallocate PUNCH_HOLE): its pages go from
                    // every mapping. Done without `inner`, which the
                    // object's removal takes for each mapper.
                    let mut holes = Vec::new();
                    let mut at = addr;
                    while let Some((s, v)) = inner.vmas.find(at).filter(|_| at < end) {
                        if let Some((obj, off)) = &v.shared {
                            let (lo, hi) = (at, v.end.min(end));
                            holes.push((Arc::clone(obj), off + (lo - s), off + (hi - s)));
                        }
                        at = v.end;
                    }
                    drop(inner);
                    for (obj, lo, hi) in holes {
                        obj.zero_range(lo, hi);
                    }
                    return Ok(());
                }
            }
            Advice::DontFork => inner.vmas.update(addr, end, |v| v.dont_fork = true),
            Advice::DoFork => inner.vmas.update(addr, end, |v| v.dont_fork = false),
            Advice::WipeOnFork => {
                let shared = inner.vmas.iter().any(|(s, v)| {
                    s < end && v.end > addr && (v.shared.is_some() || v.file.is_some())
                });
                if shared {
                    return Err(Errno::EINVAL);
                }
                inner.vmas.update(addr, end, |v| v.wipe_on_fork = true)
            }
            Advice::KeepOnFork => inner.vmas.update(addr, end, |v| v.wipe_on_fork = false),
            Advice::Hint => {}
        }
        Ok(())
    }

    /// brk(2): returns the new (or unchanged) break.
    pub fn brk(&self, new: u64) -> u64 {
        let mut inner = self.inner.lock();
        let old = inner.brk;
        if new < inner.brk_start
            || new >= TASK_SIZE
            || self.limits.check_brk(new - inner.brk_start).is_err()
        {
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
                || self
                    .limits
                    .may_expand(&inner.vmas, new_end - old_end, new_end - old_end, (0, 0))
                    .is_err()
            {
                return old;
            }
            let mut vma = Vma::anon(new_end, Prot::RW);
            vma.name = "[heap]";
            inner.vmas.insert(old_end, vma);
        } else if new_end < old_end {
            if inner.vmas.check_hole_room(new_end, old_end).is_err() {
                return old;
            }
            self.unmap_locked(&mut inner, new_end, old_end);
        }
        inner.brk = new;
        new
    }

    /// Resizes or moves a mapping (mremap(2) once decoded): EFAULT when
    /// the old range is not inside one VMA, EINVAL for a bad or overlapping
    /// MREMAP_FIXED target, EPERM below `mmap_min_addr`, ENOMEM when it can
    /// neither grow in place nor move, or at `vm.max_map_count`.
    pub fn remap(&self, req: &RemapRequest) -> Result<u64, Errno> {
        let RemapRequest {
            old,
            old_len,
            new_len,
            may_move,
            fixed,
            dont_unmap,
        } = *req;
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
        // vma_to_resize's may_expand_vm: what the remap adds (all of the
        // new range when the old one stays mapped).
        let added = if dont_unmap {
            new_len
        } else {
            new_len.saturating_sub(old_len)
        };
        if added > 0 {
            let data = if super::rlimit::is_data(&vma) {
                added
            } else {
                0
            };
            let skip = fixed.map_or((0, 0), |a| (a, a.saturating_add(new_len)));
            self.limits.may_expand(&inner.vmas, added, data, skip)?;
        }
        if let Some(new_addr) = fixed {
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
            inner.vmas.check_move_room()?;
            self.unmap_locked(&mut inner, new_addr, dst_end);
            return self.move_locked(
                &mut inner, old, old_len, new_len, new_addr, vstart, &vma, dont_unmap,
            );
        }
        if dont_unmap {
            inner.vmas.check_move_room()?;
            let dst = inner
                .vmas
                .find_gap(new_len, MMAP_MIN_ADDR, inner.vmas.mmap_base())
                .ok_or(Errno::ENOMEM)?;
            return self.move_locked(&mut inner, old, old_len, new_len, dst, vstart, &vma, true);
        }
        if new_len <= old_len {
            inner.vmas.check_hole_room(old + new_len, old_end)?;
            self.unmap_locked(&mut inner, old + new_len, old_end);
            return Ok(old);
        }
        let grow_end = old.checked_add(new_len).ok_or(Errno::ENOMEM)?;
        if old_end == vma.end && grow_end <= TASK_SIZE && !inner.vmas.overlaps(old_end, grow_end) {
            let mut ext = vma.tail(vstart, old_end);
            ext.end = grow_end;
            inner.vmas.insert(old_end, ext);
            return Ok(old);
        }
        if !may_move {
            return Err(Errno::ENOMEM);
        }
        inner.vmas.check_move_room()?;
        let dst = inner
            .vmas
            .find_gap(new_len, MMAP_MIN_ADDR, inner.vmas.mmap_base())
            .ok_or(Errno::ENOMEM)?;
        self.move_locked(&mut inner, old, old_len, new_len, dst, vstart, &vma, false)
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
            .update_range(old, old + keep, &mut |va, pte| {
                moved.push((va - old, pte));
                None
            })
            .map_err(|e| platform_errno(e, Errno::ENOMEM))?;
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
        let mut nv = vma.tail(vstart, old);
        nv.end = dst + new_len;
        inner.vmas.insert(dst, nv);
        for (off, pte) in moved {
            inner
                .pt
                .set(dst + off, Some(pte))
                .map_err(|e| platform_errno(e, Errno::ENOMEM))?;
        }
        for (va, f) in parked {
            inner.parked.insert(dst + (va - old), f);
        }
        Ok(dst)
    }
}

//! The VMA map: an ordered, non-overlapping set of page-aligned ranges with
//! their protections and backing, with Linux's split and merge rules, and
//! the limits that depend only on the map (`vm.max_map_count`, where the
//! stack may grow, where a new mapping goes). Nothing here touches page
//! tables or frames, so all of it is tested without a machine.

use std::collections::BTreeMap;
use std::sync::Arc;

use platform::PAGE_SIZE;

use super::{
    Access, FileMap, MAX_MAP_COUNT, MMAP_BASE, MMAP_MIN_ADDR, SharedMemory, TASK_SIZE, page_down,
};
use crate::errno::Errno;

/// Free space a MAP_GROWSDOWN mapping keeps above the mapping below it
/// (Linux's default stack_guard_gap: 256 pages).
const STACK_GUARD_GAP: u64 = 256 * PAGE_SIZE;

/// Page protections (`PROT_*`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Prot {
    /// PROT_READ.
    pub read: bool,
    /// PROT_WRITE.
    pub write: bool,
    /// PROT_EXEC.
    pub exec: bool,
}

impl Prot {
    /// Read and write.
    pub const RW: Prot = Prot {
        read: true,
        write: true,
        exec: false,
    };

    /// PROT_NONE: no access at all.
    pub fn is_none(self) -> bool {
        !self.read && !self.write && !self.exec
    }

    /// Whether a page with these protections allows `access`. On x86 any
    /// accessible page can be read (there are no write-only or
    /// execute-only pages), as on Linux.
    pub fn allows(self, access: Access) -> bool {
        match access {
            Access::Read => !self.is_none(),
            Access::Write => self.write,
            Access::Exec => self.exec,
        }
    }
}

/// One mapping.
#[derive(Clone, Debug)]
pub struct Vma {
    /// Exclusive end.
    pub end: u64,
    /// Protections.
    pub prot: Prot,
    /// MAP_SHARED memory object and the offset of this VMA's start in it;
    /// `None` for private anonymous memory.
    pub shared: Option<(Arc<SharedMemory>, u64)>,
    /// The file this VMA maps and the file offset of its start; `None`
    /// for anonymous memory.
    pub file: Option<(FileMap, u64)>,
    /// MADV_DONTFORK.
    pub dont_fork: bool,
    /// MADV_WIPEONFORK.
    pub wipe_on_fork: bool,
    /// MAP_GROWSDOWN (the main stack).
    pub grows_down: bool,
    /// A name for /proc/self/maps style dumps (`[heap]`, `[stack]`).
    pub name: &'static str,
    /// Neither VM_MAYWRITE nor VM_MAYEXEC (Linux's [vvar]): mprotect may
    /// never add PROT_WRITE or PROT_EXEC (EACCES).
    pub locked_read_only: bool,
}

impl Vma {
    /// Anonymous private memory.
    pub fn anon(end: u64, prot: Prot) -> Self {
        Self {
            end,
            prot,
            shared: None,
            file: None,
            dont_fork: false,
            wipe_on_fork: false,
            grows_down: false,
            name: "",
            locked_read_only: false,
        }
    }

    /// The part of `self` (which starts at `start`) that begins at `at`.
    pub(super) fn tail(&self, start: u64, at: u64) -> Vma {
        let mut t = self.clone();
        if let Some((obj, off)) = &self.shared {
            t.shared = Some((Arc::clone(obj), off + (at - start)));
        }
        if let Some((file, off)) = &self.file {
            t.file = Some((file.clone(), off + (at - start)));
        }
        t
    }

    /// Whether `next` (starting at `self.end`) can merge into `self`.
    fn mergeable(&self, start: u64, next: &Vma) -> bool {
        let shared_ok = match (&self.shared, &next.shared) {
            (None, None) => true,
            (Some((a, ao)), Some((b, bo))) => Arc::ptr_eq(a, b) && ao + (self.end - start) == *bo,
            _ => false,
        };
        let file_ok = match (&self.file, &next.file) {
            (None, None) => true,
            (Some((a, ao)), Some((b, bo))) => a.same(b) && ao + (self.end - start) == *bo,
            _ => false,
        };
        shared_ok
            && file_ok
            && self.prot == next.prot
            && self.dont_fork == next.dont_fork
            && self.wipe_on_fork == next.wipe_on_fork
            && self.grows_down == next.grows_down
            && self.name == next.name
            && self.locked_read_only == next.locked_read_only
    }
}

/// Ordered map from start address to [`Vma`].
#[derive(Clone, Debug, Default)]
pub struct VmaMap {
    map: BTreeMap<u64, Vma>,
    /// Top of the mmap area when ASLR moved it below [`MMAP_BASE`].
    mmap_base: Option<u64>,
}

impl VmaMap {
    /// Top of the area where mappings without a fixed address go:
    /// [`MMAP_BASE`], lowered by a random offset with ASLR (Linux's
    /// `mm->mmap_base`).
    pub fn mmap_base(&self) -> u64 {
        self.mmap_base.unwrap_or(MMAP_BASE)
    }

    /// Sets the top of the mmap area (page-aligned, at most [`MMAP_BASE`]).
    pub fn set_mmap_base(&mut self, base: u64) {
        self.mmap_base = Some(page_down(base.min(MMAP_BASE)));
    }

    /// The VMA containing `addr`, with its start.
    pub fn find(&self, addr: u64) -> Option<(u64, &Vma)> {
        let (start, vma) = self.map.range(..=addr).next_back()?;
        (addr < vma.end).then_some((*start, vma))
    }

    /// The first VMA that ends after `addr`.
    pub fn next_after(&self, addr: u64) -> Option<(u64, &Vma)> {
        if let Some(v) = self.find(addr) {
            return Some(v);
        }
        self.map.range(addr..).next().map(|(s, v)| (*s, v))
    }

    /// Number of VMAs (Linux's `map_count`).
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether there is no VMA.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Whether `addr` falls strictly inside a VMA (so that making it a
    /// boundary splits that VMA in two).
    pub fn splits_at(&self, addr: u64) -> bool {
        self.find(addr).is_some_and(|(s, _)| s != addr)
    }

    /// The last VMA that starts below `addr`.
    pub fn prev_before(&self, addr: u64) -> Option<(u64, &Vma)> {
        self.map.range(..addr).next_back().map(|(s, v)| (*s, v))
    }

    /// Iterates over all VMAs in address order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, &Vma)> {
        self.map.iter().map(|(s, v)| (*s, v))
    }

    /// Whether any VMA overlaps `[start, end)`.
    pub fn overlaps(&self, start: u64, end: u64) -> bool {
        self.next_after(start).is_some_and(|(s, _)| s < end)
    }

    /// Whether `[start, end)` is entirely mapped.
    pub fn fully_mapped(&self, start: u64, end: u64) -> bool {
        let mut at = start;
        while at < end {
            match self.find(at) {
                Some((_, v)) => at = v.end,
                None => return false,
            }
        }
        true
    }

    /// Splits so that `addr` is a VMA boundary (if it falls inside one).
    pub fn split_at(&mut self, addr: u64) {
        let Some((start, vma)) = self.find(addr) else {
            return;
        };
        if start == addr {
            return;
        }
        let tail = vma.tail(start, addr);
        self.map.get_mut(&start).expect("found above").end = addr;
        self.map.insert(addr, tail);
    }

    /// Removes `[start, end)`, splitting VMAs at the edges. Returns the
    /// removed pieces.
    pub fn remove(&mut self, start: u64, end: u64) -> Vec<(u64, Vma)> {
        self.split_at(start);
        self.split_at(end);
        let keys: Vec<u64> = self.map.range(start..end).map(|(s, _)| *s).collect();
        keys.into_iter()
            .map(|k| (k, self.map.remove(&k).expect("key listed above")))
            .collect()
    }

    /// Inserts a VMA at `start` (the range must be free), merging with
    /// compatible neighbours.
    pub fn insert(&mut self, start: u64, vma: Vma) {
        debug_assert!(!self.overlaps(start, vma.end));
        self.map.insert(start, vma);
        self.merge_around(start);
    }

    /// Applies `f` to every VMA piece inside `[start, end)` (splitting at
    /// the edges), then merges what became equal.
    pub fn update(&mut self, start: u64, end: u64, mut f: impl FnMut(&mut Vma)) {
        self.split_at(start);
        self.split_at(end);
        let keys: Vec<u64> = self.map.range(start..end).map(|(s, _)| *s).collect();
        for k in &keys {
            f(self.map.get_mut(k).expect("key listed above"));
        }
        for k in keys {
            if self.map.contains_key(&k) {
                self.merge_around(k);
            }
        }
    }

    fn merge_around(&mut self, start: u64) {
        // Merge with the next VMA.
        let end = self.map[&start].end;
        if let Some(next) = self.map.get(&end)
            && self.map[&start].mergeable(start, next)
        {
            let next = self.map.remove(&end).expect("present");
            self.map.get_mut(&start).expect("present").end = next.end;
        }
        // Merge into the previous VMA.
        if let Some((&pstart, prev)) = self.map.range(..start).next_back()
            && prev.end == start
            && prev.mergeable(pstart, &self.map[&start])
        {
            let cur = self.map.remove(&start).expect("present");
            self.map.get_mut(&pstart).expect("present").end = cur.end;
        }
    }

    /// Splits the VMAs at `start` and `end` before changing what lies
    /// between, one split at a time as Linux's vma_modify does: each split
    /// fails with ENOMEM at `vm.max_map_count`, and a first split made
    /// before the second fails stays (as on Linux).
    pub fn split_for_update(&mut self, start: u64, end: u64) -> Result<(), Errno> {
        for at in [start, end] {
            if self.splits_at(at) {
                if self.len() >= MAX_MAP_COUNT {
                    return Err(Errno::ENOMEM);
                }
                self.split_at(at);
            }
        }
        Ok(())
    }

    /// Linux refuses to punch a hole in the middle of one VMA (a split that
    /// adds one) when the address space is at `vm.max_map_count`.
    pub fn check_hole_room(&self, start: u64, end: u64) -> Result<(), Errno> {
        if let Some((s, v)) = self.find(start)
            && s < start
            && end < v.end
            && self.len() >= MAX_MAP_COUNT
        {
            return Err(Errno::ENOMEM);
        }
        Ok(())
    }

    /// Linux's move_vma: `map_count >= sysctl_max_map_count - 3` is ENOMEM.
    pub fn check_move_room(&self) -> Result<(), Errno> {
        if self.len() >= MAX_MAP_COUNT - 3 {
            return Err(Errno::ENOMEM);
        }
        Ok(())
    }

    /// Grows the MAP_GROWSDOWN VMA above `addr` down to cover it, as
    /// Linux's expand_downwards does, and returns the grown VMA with its
    /// start; `None` (SEGV_MAPERR) when no such VMA lies above, the stack
    /// would exceed `limit` (RLIMIT_STACK), or the new start would be below
    /// `mmap_min_addr` or within `stack_guard_gap` of an accessible
    /// mapping below.
    pub fn grow_stack(&mut self, addr: u64, limit: u64) -> Option<(u64, Vma)> {
        let (start, vma) = self.next_after(addr).map(|(s, v)| (s, v.clone()))?;
        if !vma.grows_down || vma.end - page_down(addr) > limit {
            return None;
        }
        let new_start = page_down(addr);
        if new_start < MMAP_MIN_ADDR || self.overlaps(new_start, start) {
            return None;
        }
        if let Some((_, prev)) = self.prev_before(new_start)
            && !prev.grows_down
            && !prev.prot.is_none()
            && new_start - prev.end < STACK_GUARD_GAP
        {
            return None;
        }
        let mut grown = vma.clone();
        grown.end = start;
        self.insert(new_start, grown);
        let (s, v) = self.find(addr)?;
        Some((s, v.clone()))
    }

    /// How many bytes from `addr` (at most `len`) lie in writable mappings
    /// (or in the gap a stack growing up to `stack_limit` would fill).
    pub fn writable_prefix(&self, addr: u64, len: u64, stack_limit: u64) -> u64 {
        let end = addr.saturating_add(len).min(TASK_SIZE);
        let mut at = addr;
        while at < end {
            match self.find(at) {
                Some((_, v)) if v.prot.write => at = v.end,
                Some(_) => break,
                None => match self.next_after(at) {
                    Some((s, v))
                        if v.grows_down && v.prot.write && v.end - page_down(at) <= stack_limit =>
                    {
                        at = s
                    }
                    _ => break,
                },
            }
        }
        at.min(end).saturating_sub(addr)
    }

    /// Where a mapping of `len` bytes without MAP_FIXED goes: at `hint`
    /// (rounded down to a page) when that range is free and inside
    /// `[mmap_min_addr, TASK_SIZE)`, else the highest free gap below
    /// [`VmaMap::mmap_base`]; `None` when there is none.
    pub fn unmapped_area(&self, hint: u64, len: u64) -> Option<u64> {
        let hint = page_down(hint);
        if hint >= MMAP_MIN_ADDR
            && hint.checked_add(len).is_some_and(|e| e <= TASK_SIZE)
            && !self.overlaps(hint, hint + len)
        {
            return Some(hint);
        }
        self.find_gap(len, MMAP_MIN_ADDR, self.mmap_base())
    }

    /// Finds a free gap of `len` bytes, top-down from below `top`, above
    /// `bottom`.
    pub fn find_gap(&self, len: u64, bottom: u64, top: u64) -> Option<u64> {
        let mut hi = top;
        for (start, vma) in self.map.range(..top).rev() {
            if vma.end <= hi && hi - vma.end >= len {
                return Some(hi - len);
            }
            hi = hi.min(*start);
            if hi < bottom + len {
                return None;
            }
        }
        (hi >= bottom + len).then(|| hi - len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::STACK_LIMIT;

    const RW: Prot = Prot::RW;
    const RO: Prot = Prot {
        read: true,
        write: false,
        exec: false,
    };

    fn ranges(m: &VmaMap) -> Vec<(u64, u64)> {
        m.iter().map(|(s, v)| (s, v.end)).collect()
    }

    #[test]
    fn adjacent_equal_vmas_merge() {
        let mut m = VmaMap::default();
        m.insert(0x1000, Vma::anon(0x3000, RW));
        m.insert(0x3000, Vma::anon(0x5000, RW));
        assert_eq!(ranges(&m), vec![(0x1000, 0x5000)]);
        m.insert(0x5000, Vma::anon(0x6000, RO));
        assert_eq!(ranges(&m), vec![(0x1000, 0x5000), (0x5000, 0x6000)]);
    }

    #[test]
    fn remove_splits_in_the_middle() {
        let mut m = VmaMap::default();
        m.insert(0x1000, Vma::anon(0x9000, RW));
        let gone = m.remove(0x3000, 0x5000);
        assert_eq!(gone.len(), 1);
        assert_eq!((gone[0].0, gone[0].1.end), (0x3000, 0x5000));
        assert_eq!(ranges(&m), vec![(0x1000, 0x3000), (0x5000, 0x9000)]);
        assert!(m.find(0x4000).is_none());
        assert_eq!(m.find(0x5000).unwrap().0, 0x5000);
    }

    #[test]
    fn remove_across_several_vmas() {
        let mut m = VmaMap::default();
        m.insert(0x1000, Vma::anon(0x2000, RW));
        m.insert(0x3000, Vma::anon(0x4000, RO));
        m.insert(0x5000, Vma::anon(0x7000, RW));
        let gone = m.remove(0x1800, 0x6000);
        assert_eq!(gone.len(), 3);
        assert_eq!(ranges(&m), vec![(0x1000, 0x1800), (0x6000, 0x7000)]);
    }

    #[test]
    fn update_splits_then_remerges() {
        let mut m = VmaMap::default();
        m.insert(0x1000, Vma::anon(0x9000, RW));
        m.update(0x3000, 0x4000, |v| v.prot = RO);
        assert_eq!(
            ranges(&m),
            vec![(0x1000, 0x3000), (0x3000, 0x4000), (0x4000, 0x9000)]
        );
        assert_eq!(m.find(0x3000).unwrap().1.prot, RO);
        m.update(0x3000, 0x4000, |v| v.prot = RW);
        assert_eq!(ranges(&m), vec![(0x1000, 0x9000)]);
    }

    #[test]
    fn shared_offsets_follow_splits() {
        let obj = Arc::new(SharedMemory::default());
        let mut m = VmaMap::default();
        let mut v = Vma::anon(0x5000, RW);
        v.shared = Some((Arc::clone(&obj), 0));
        m.insert(0x1000, v);
        m.update(0x3000, 0x5000, |v| v.prot = RO);
        let (_, tail) = m.find(0x3000).unwrap();
        assert_eq!(tail.shared.as_ref().unwrap().1, 0x2000);
    }

    #[test]
    fn gaps_are_found_top_down() {
        let mut m = VmaMap::default();
        m.insert(0x8000, Vma::anon(0x10000, RW));
        assert_eq!(m.find_gap(0x1000, 0x1000, 0x10000), Some(0x7000));
        assert_eq!(m.find_gap(0x1000, 0x1000, 0x20000), Some(0x1f000));
        assert_eq!(m.find_gap(0x8000, 0x1000, 0x10000), None);
        assert_eq!(m.find_gap(0x7000, 0x1000, 0x10000), Some(0x1000));
        assert!(m.overlaps(0x7000, 0x8001));
        assert!(!m.overlaps(0x7000, 0x8000));
        assert!(m.fully_mapped(0x8000, 0x10000));
        assert!(!m.fully_mapped(0x7000, 0x10000));
    }

    const P: u64 = PAGE_SIZE;

    /// A map of `n` VMAs that cannot merge: a 4-page RW one at
    /// `MMAP_MIN_ADDR`, then single pages alternating RO and RW (built
    /// directly, as `insert` would build it, to keep the test quick).
    fn map_of(n: usize) -> VmaMap {
        let mut m = VmaMap::default();
        let first = Vma::anon(MMAP_MIN_ADDR + 4 * P, RW);
        m.map.insert(MMAP_MIN_ADDR, first);
        let mut at = MMAP_MIN_ADDR + 4 * P;
        for i in 1..n {
            let prot = if i % 2 == 1 { RO } else { RW };
            m.map.insert(at, Vma::anon(at + P, prot));
            at += P;
        }
        assert_eq!(m.len(), n);
        m
    }

    #[test]
    fn prot_allows_reads_of_any_accessible_page() {
        let none = Prot::default();
        assert!(none.is_none());
        for a in [Access::Read, Access::Write, Access::Exec] {
            assert!(!none.allows(a), "{a:?}");
        }
        assert!(RW.allows(Access::Read) && RW.allows(Access::Write));
        assert!(!RW.allows(Access::Exec));
        assert!(!RO.allows(Access::Write));
        let wo = Prot {
            write: true,
            ..Prot::default()
        };
        let xo = Prot {
            exec: true,
            ..Prot::default()
        };
        assert!(!wo.is_none() && !xo.is_none());
        assert!(wo.allows(Access::Read), "x86 has no write-only pages");
        assert!(xo.allows(Access::Read) && xo.allows(Access::Exec));
        assert!(!xo.allows(Access::Write));
    }

    #[test]
    fn vmas_with_different_names_or_object_offsets_do_not_merge() {
        let mut m = VmaMap::default();
        let mut heap = Vma::anon(0x3000, RW);
        heap.name = "[heap]";
        m.insert(0x1000, heap);
        m.insert(0x3000, Vma::anon(0x4000, RW));
        assert_eq!(ranges(&m), vec![(0x1000, 0x3000), (0x3000, 0x4000)]);

        let obj = Arc::new(SharedMemory::default());
        let shared = |end, off| {
            let mut v = Vma::anon(end, RW);
            v.shared = Some((Arc::clone(&obj), off));
            v
        };
        let mut m = VmaMap::default();
        m.insert(0x10000, shared(0x12000, 0));
        // Not where the first piece's offsets continue: stays apart.
        m.insert(0x12000, shared(0x13000, 0x5000));
        assert_eq!(m.len(), 2);
        // Contiguous in the object: merges.
        m.insert(0x13000, shared(0x14000, 0x6000));
        assert_eq!(ranges(&m), vec![(0x10000, 0x12000), (0x12000, 0x14000)]);
        assert!(m.splits_at(0x11000) && !m.splits_at(0x12000) && !m.splits_at(0x20000));
    }

    #[test]
    fn split_for_update_stops_at_max_map_count_and_keeps_the_first_split() {
        let mut m = map_of(MAX_MAP_COUNT - 1);
        let a = MMAP_MIN_ADDR;
        // One split fits, the second does not: ENOMEM, and the first stays.
        assert_eq!(m.split_for_update(a + P, a + 2 * P), Err(Errno::ENOMEM));
        assert_eq!(m.len(), MAX_MAP_COUNT);
        assert_eq!(m.find(a + P).unwrap().0, a + P);
        assert_eq!(m.find(a).unwrap().1.end, a + P);
        // Boundaries that already exist need no split, even at the limit.
        assert_eq!(m.split_for_update(a, a + P), Ok(()));
        assert_eq!(m.len(), MAX_MAP_COUNT);

        let mut m = map_of(MAX_MAP_COUNT - 2);
        assert_eq!(m.split_for_update(a + P, a + 2 * P), Ok(()));
        assert_eq!(m.len(), MAX_MAP_COUNT);
    }

    #[test]
    fn hole_and_move_room_follow_linux_limits() {
        let a = MMAP_MIN_ADDR;
        let full = map_of(MAX_MAP_COUNT);
        // A hole strictly inside one VMA would add one: refused at the limit.
        assert_eq!(full.check_hole_room(a + P, a + 2 * P), Err(Errno::ENOMEM));
        // Cutting at an edge (or a whole VMA) adds none.
        assert_eq!(full.check_hole_room(a, a + P), Ok(()));
        assert_eq!(full.check_hole_room(a + P, a + 4 * P), Ok(()));
        let below = map_of(MAX_MAP_COUNT - 1);
        assert_eq!(below.check_hole_room(a + P, a + 2 * P), Ok(()));
        // move_vma keeps three to spare.
        assert_eq!(
            map_of(MAX_MAP_COUNT - 3).check_move_room(),
            Err(Errno::ENOMEM)
        );
        assert_eq!(map_of(MAX_MAP_COUNT - 4).check_move_room(), Ok(()));
    }

    /// A MAP_GROWSDOWN stack VMA ending at `end`.
    fn stack_to(end: u64) -> Vma {
        let mut v = Vma::anon(end, RW);
        v.grows_down = true;
        v.name = "[stack]";
        v
    }

    #[test]
    fn the_stack_grows_down_to_a_fault_below_it() {
        let (top, start) = (0x7000_0000, 0x7000_0000 - 4 * P);
        let mut m = VmaMap::default();
        m.insert(start, stack_to(top));
        let (s, v) = m.grow_stack(start - 2 * P + 8, STACK_LIMIT).expect("grows");
        assert_eq!((s, v.end), (start - 2 * P, top));
        assert!(v.grows_down);
        assert_eq!(ranges(&m), vec![(start - 2 * P, top)], "one VMA, merged");
        // Within the limit counted from the top, not beyond.
        assert!(m.grow_stack(top - STACK_LIMIT, STACK_LIMIT).is_some());
        assert_eq!(m.find(top - STACK_LIMIT).unwrap().0, top - STACK_LIMIT);
        let before = ranges(&m);
        assert!(m.grow_stack(top - STACK_LIMIT - 1, STACK_LIMIT).is_none());
        assert_eq!(ranges(&m), before, "a refused growth changes nothing");
    }

    #[test]
    fn only_a_growsdown_vma_grows_and_never_below_mmap_min_addr() {
        let mut m = VmaMap::default();
        m.insert(0x10_0000, Vma::anon(0x20_0000, RW));
        assert!(
            m.grow_stack(0xf_f000, STACK_LIMIT).is_none(),
            "not MAP_GROWSDOWN"
        );
        assert!(
            m.grow_stack(0x30_0000, STACK_LIMIT).is_none(),
            "nothing above"
        );
        let mut m = VmaMap::default();
        m.insert(MMAP_MIN_ADDR, stack_to(MMAP_MIN_ADDR + P));
        assert!(m.grow_stack(MMAP_MIN_ADDR - 1, STACK_LIMIT).is_none());
        assert_eq!(m.len(), 1);
    }

    #[test]
    fn the_stack_keeps_its_guard_gap_from_accessible_mappings() {
        let (start, top) = (0x4000_0000, 0x4000_0000 + P);
        let below_end = start - 2 * P - STACK_GUARD_GAP;
        let grown = |prot: Prot, fault: u64| {
            let mut m = VmaMap::default();
            m.insert(below_end - P, Vma::anon(below_end, prot));
            m.insert(start, stack_to(top));
            m.grow_stack(fault, STACK_LIMIT).is_some()
        };
        // Exactly the gap left: allowed; one page closer: refused.
        assert!(grown(RW, below_end + STACK_GUARD_GAP));
        assert!(!grown(RW, below_end + STACK_GUARD_GAP - 1));
        // A PROT_NONE mapping below is no obstacle (it is a guard itself).
        assert!(grown(Prot::default(), below_end + STACK_GUARD_GAP - 1));
    }

    #[test]
    fn writable_prefix_stops_at_the_first_unwritable_byte() {
        let mut m = VmaMap::default();
        let a = 0x10_0000;
        m.insert(a, Vma::anon(a + 2 * P, RW));
        m.insert(a + 2 * P, Vma::anon(a + 3 * P, RO));
        assert_eq!(m.writable_prefix(a + 10, 5 * P, STACK_LIMIT), 2 * P - 10);
        assert_eq!(m.writable_prefix(a, 100, STACK_LIMIT), 100);
        assert_eq!(m.writable_prefix(a + 2 * P, 100, STACK_LIMIT), 0);
        assert_eq!(
            m.writable_prefix(a - 1, 100, STACK_LIMIT),
            0,
            "unmapped byte first"
        );
        // The gap below a growing stack counts (the copy would grow it).
        let s = 0x7000_0000;
        m.insert(s, stack_to(s + P));
        assert_eq!(m.writable_prefix(s - 100, 200, STACK_LIMIT), 200);
        assert_eq!(m.writable_prefix(s + P - 8, 100, STACK_LIMIT), 8);
        // Never past the end of user space.
        let mut m = VmaMap::default();
        m.insert(TASK_SIZE - P, Vma::anon(TASK_SIZE, RW));
        assert_eq!(m.writable_prefix(TASK_SIZE - 8, u64::MAX, STACK_LIMIT), 8);
    }

    #[test]
    fn unmapped_area_takes_a_free_hint_else_the_highest_gap() {
        let mut m = VmaMap::default();
        assert_eq!(m.unmapped_area(0x40_0123, 2 * P), Some(0x40_0000));
        assert_eq!(m.unmapped_area(0, P), Some(MMAP_BASE - P), "no hint");
        assert_eq!(
            m.unmapped_area(MMAP_MIN_ADDR - P, P),
            Some(MMAP_BASE - P),
            "below mmap_min_addr"
        );
        assert_eq!(
            m.unmapped_area(TASK_SIZE - P, 2 * P),
            Some(MMAP_BASE - 2 * P),
            "past the end of user space"
        );
        m.insert(MMAP_BASE - 3 * P, Vma::anon(MMAP_BASE, RW));
        assert_eq!(
            m.unmapped_area(MMAP_BASE - 2 * P, P),
            Some(MMAP_BASE - 4 * P)
        );
        assert_eq!(
            m.unmapped_area(MMAP_BASE - 4 * P, 2 * P),
            Some(MMAP_BASE - 5 * P),
            "a hint that overlaps is not used"
        );
        assert_eq!(m.unmapped_area(0, TASK_SIZE), None);
    }
}

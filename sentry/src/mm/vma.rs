//! The VMA map: an ordered, non-overlapping set of page-aligned ranges with
//! their protections and backing, with Linux's split and merge rules.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::SharedMemory;

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
    /// MADV_DONTFORK.
    pub dont_fork: bool,
    /// MADV_WIPEONFORK.
    pub wipe_on_fork: bool,
    /// MAP_GROWSDOWN (the main stack).
    pub grows_down: bool,
    /// A name for /proc/self/maps style dumps (`[heap]`, `[stack]`).
    pub name: &'static str,
}

impl Vma {
    /// Anonymous private memory.
    pub fn anon(end: u64, prot: Prot) -> Self {
        Self {
            end,
            prot,
            shared: None,
            dont_fork: false,
            wipe_on_fork: false,
            grows_down: false,
            name: "",
        }
    }

    /// The part of `self` (which starts at `start`) that begins at `at`.
    fn tail(&self, start: u64, at: u64) -> Vma {
        let mut t = self.clone();
        if let Some((obj, off)) = &self.shared {
            t.shared = Some((Arc::clone(obj), off + (at - start)));
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
        shared_ok
            && self.prot == next.prot
            && self.dont_fork == next.dont_fork
            && self.wipe_on_fork == next.wipe_on_fork
            && self.grows_down == next.grows_down
            && self.name == next.name
    }
}

/// Ordered map from start address to [`Vma`].
#[derive(Clone, Debug, Default)]
pub struct VmaMap {
    map: BTreeMap<u64, Vma>,
}

impl VmaMap {
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
}

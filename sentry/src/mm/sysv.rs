//! What SysV shared memory asks of address spaces: how many mappings of a
//! segment exist (`shm_nattch`, which Linux counts per VMA) and detaching
//! the mapping that starts at an address (shmdt).

use std::sync::Arc;

use super::{AddressSpace, SharedMemory};

impl AddressSpace {
    /// Number of VMAs that map `obj` shared.
    pub fn count_maps(&self, obj: &Arc<SharedMemory>) -> u64 {
        self.inner
            .lock()
            .vmas
            .iter()
            .filter(|(_, v)| v.shared.as_ref().is_some_and(|(s, _)| Arc::ptr_eq(s, obj)))
            .count() as u64
    }

    /// The shared object mapped from offset 0 by a VMA that starts at
    /// `addr`, if `is_segment` accepts it.
    pub fn shared_at(
        &self,
        addr: u64,
        is_segment: &dyn Fn(&Arc<SharedMemory>) -> bool,
    ) -> Option<Arc<SharedMemory>> {
        let inner = self.inner.lock();
        let (start, vma) = inner.vmas.find(addr)?;
        let (obj, off) = vma.shared.as_ref()?;
        (start == addr && *off == 0 && vma.file.is_some() && is_segment(obj))
            .then(|| Arc::clone(obj))
    }

    /// Removes every mapping of `obj` inside `[addr, end)` (shmdt: the
    /// attachment at `addr`, including parts of it split off by mprotect).
    pub fn unmap_object(&self, obj: &Arc<SharedMemory>, addr: u64, end: u64) {
        let ranges: Vec<(u64, u64)> = self
            .inner
            .lock()
            .vmas
            .iter()
            .filter(|(s, v)| {
                *s >= addr
                    && *s < end
                    && v.shared.as_ref().is_some_and(|(o, _)| Arc::ptr_eq(o, obj))
            })
            .map(|(s, v)| (s, v.end.min(end)))
            .collect();
        for (s, e) in ranges {
            if let Err(e) = self.unmap(s, e) {
                tracing::error!("memory: detaching a SysV segment: {e:?}");
            }
        }
    }
}

impl SharedMemory {
    /// Number of mappings of this object in every live address space.
    pub fn attach_count(self: &Arc<Self>) -> u64 {
        let mappers: Vec<Arc<AddressSpace>> = self
            .mappers
            .lock()
            .iter()
            .filter_map(std::sync::Weak::upgrade)
            .collect();
        mappers.iter().map(|mm| mm.count_maps(self)).sum()
    }
}

//! Shared memory objects: the pages every MAP_SHARED mapping of one
//! object shares, whatever address space and address maps them. A tmpfs
//! (or memfd, or /dev/shm) file keeps its data in one of these, so its
//! pages ARE the frames a mapping of it maps: read(2), write(2) and every
//! mapping see the same bytes, in every process.
//!
//! An object also has a size (a file's; anonymous shared memory has
//! none, `u64::MAX`), and a list of the address spaces that map it, so
//! shrinking a file removes the pages past its end from every mapping
//! (later accesses get SIGBUS, as on Linux).

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use platform::{PAGE_SIZE, Platform};

use super::{AddressSpace, FaultError};
use crate::errno::Errno;

/// A shared memory object: its pages, by page index, each holding a
/// frame reference.
pub struct SharedMemory {
    machine: Option<Arc<dyn Platform>>,
    pages: Mutex<BTreeMap<u64, u64>>,
    /// Size in bytes (`u64::MAX` for anonymous shared memory).
    size: AtomicU64,
    /// Address spaces that map (or mapped) this object.
    pub(super) mappers: Mutex<Vec<Weak<AddressSpace>>>,
}

impl Default for SharedMemory {
    fn default() -> Self {
        Self {
            machine: None,
            pages: Mutex::default(),
            size: AtomicU64::new(u64::MAX),
            mappers: Mutex::default(),
        }
    }
}

impl std::fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedMemory({} pages)", self.pages.lock().len())
    }
}

impl SharedMemory {
    /// Anonymous shared memory (MAP_SHARED|MAP_ANONYMOUS): no size.
    pub fn new(machine: Arc<dyn Platform>) -> Self {
        Self {
            machine: Some(machine),
            pages: Mutex::default(),
            size: AtomicU64::new(u64::MAX),
            mappers: Mutex::default(),
        }
    }

    /// The data of an empty file (tmpfs, memfd).
    pub fn new_file(machine: Arc<dyn Platform>) -> Self {
        let s = Self::new(machine);
        s.size.store(0, Ordering::Relaxed);
        s
    }

    /// The size in bytes (`u64::MAX` for anonymous shared memory).
    pub fn size(&self) -> u64 {
        self.size.load(Ordering::Relaxed)
    }

    /// Sets the size without touching the pages (a file that grows).
    pub fn set_size(&self, size: u64) {
        self.size.store(size, Ordering::Relaxed);
    }

    /// Number of pages that hold data.
    pub fn page_count(&self) -> usize {
        self.pages.lock().len()
    }

    /// Whether page `index` holds data (SEEK_DATA, mincore).
    pub fn has_page(&self, index: u64) -> bool {
        self.pages.lock().contains_key(&index)
    }

    pub(super) fn machine(&self) -> Result<&Arc<dyn Platform>, FaultError> {
        self.machine.as_ref().ok_or(FaultError::Oom)
    }

    /// The frame for page `index`, allocated on first use. The returned
    /// frame carries a new reference for the caller.
    pub(super) fn frame(&self, index: u64) -> Result<u64, FaultError> {
        let machine = self.machine()?;
        let mut pages = self.pages.lock();
        let frame = match pages.get(&index) {
            Some(f) => *f,
            None => {
                let f = machine.alloc_data()?;
                pages.insert(index, f);
                f
            }
        };
        machine.frames().get(frame);
        Ok(frame)
    }

    /// Records that `mm` maps this object.
    pub(super) fn add_mapper(&self, mm: &Weak<AddressSpace>) {
        let mut m = self.mappers.lock();
        m.retain(|w| w.strong_count() > 0);
        if !m.iter().any(|w| w.ptr_eq(mm)) {
            m.push(mm.clone());
        }
    }

    /// Reads up to `buf.len()` bytes at `offset`, within the size; holes
    /// read as zeros. Returns the count.
    pub fn read(&self, buf: &mut [u8], offset: u64) -> usize {
        let size = self.size();
        if offset >= size {
            return 0;
        }
        let n = (buf.len() as u64).min(size - offset) as usize;
        let pages = self.pages.lock();
        let mut done = 0;
        while done < n {
            let at = offset + done as u64;
            let (page, off) = (at / PAGE_SIZE, (at % PAGE_SIZE) as usize);
            let k = (PAGE_SIZE as usize - off).min(n - done);
            let dst = &mut buf[done..done + k];
            match (pages.get(&page), &self.machine) {
                (Some(f), Some(m)) => {
                    if let Err(e) = m.memory().read(f + off as u64, dst) {
                        tracing::error!("memory: reading a shared page: {e}");
                        dst.fill(0);
                    }
                }
                _ => dst.fill(0),
            }
            done += k;
        }
        n
    }

    /// Writes `buf` at `offset`, allocating pages (charged to the memory
    /// cap) and growing the size; short when the cap is reached, ENOSPC if
    /// nothing could be written.
    pub fn write(&self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        let machine = self.machine().map_err(|_| Errno::ENOSPC)?;
        let mut pages = self.pages.lock();
        let mut done = 0;
        while done < buf.len() {
            let at = offset + done as u64;
            let (page, off) = (at / PAGE_SIZE, (at % PAGE_SIZE) as usize);
            let k = (PAGE_SIZE as usize - off).min(buf.len() - done);
            let frame = match pages.get(&page) {
                Some(f) => *f,
                None => match machine.alloc_data() {
                    Ok(f) => {
                        pages.insert(page, f);
                        f
                    }
                    Err(_) => break,
                },
            };
            if let Err(e) = machine
                .memory()
                .write(frame + off as u64, &buf[done..done + k])
            {
                tracing::error!("memory: writing a shared page: {e}");
                break;
            }
            done += k;
        }
        if done == 0 && !buf.is_empty() {
            return Err(Errno::ENOSPC);
        }
        let end = offset + done as u64;
        self.size.fetch_max(end, Ordering::Relaxed);
        Ok(done)
    }

    /// Zeroes `[start, end)`, dropping whole pages (fallocate's
    /// PUNCH_HOLE); mappings of the dropped pages are removed.
    pub fn zero_range(&self, start: u64, end: u64) {
        let mut gone = Vec::new();
        {
            let mut pages = self.pages.lock();
            let mut at = start;
            while at < end {
                let (page, off) = (at / PAGE_SIZE, at % PAGE_SIZE);
                let k = (PAGE_SIZE - off).min(end - at);
                if off == 0 && k == PAGE_SIZE {
                    if let Some(f) = pages.remove(&page) {
                        gone.push((page, f));
                    }
                } else if let (Some(f), Some(m)) = (pages.get(&page), &self.machine) {
                    let zeros = vec![0u8; k as usize];
                    if let Err(e) = m.memory().write(f + off, &zeros) {
                        tracing::error!("memory: zeroing a shared page: {e}");
                    }
                }
                at += k;
            }
        }
        self.release(gone);
    }

    /// Sets the size to `size`: a shrink drops the pages past the new end
    /// (from every mapping too: later accesses there get SIGBUS) and
    /// zeroes the tail of the last page kept.
    pub fn truncate(&self, size: u64) {
        let old = self.size();
        self.size.store(size, Ordering::Relaxed);
        if size >= old {
            return;
        }
        let keep = size.div_ceil(PAGE_SIZE);
        let gone: Vec<(u64, u64)> = {
            let mut pages = self.pages.lock();
            let tail = pages.split_off(&keep);
            if !size.is_multiple_of(PAGE_SIZE)
                && let (Some(f), Some(m)) = (pages.get(&(size / PAGE_SIZE)), &self.machine)
            {
                let off = size % PAGE_SIZE;
                let zeros = vec![0u8; (PAGE_SIZE - off) as usize];
                if let Err(e) = m.memory().write(f + off, &zeros) {
                    tracing::error!("memory: zeroing a shared page: {e}");
                }
            }
            tail.into_iter().collect()
        };
        self.release(gone);
    }

    /// Allocates the holes of `[start, end)` (fallocate); ENOSPC past the
    /// memory cap (the pages allocated so far stay).
    pub fn allocate(&self, start: u64, end: u64) -> Result<(), Errno> {
        let machine = self.machine().map_err(|_| Errno::ENOSPC)?;
        let mut pages = self.pages.lock();
        for p in start / PAGE_SIZE..end.div_ceil(PAGE_SIZE) {
            if let std::collections::btree_map::Entry::Vacant(e) = pages.entry(p) {
                e.insert(machine.alloc_data().map_err(|_| Errno::ENOSPC)?);
            }
        }
        Ok(())
    }

    /// Removes pages taken out of the object from every mapping of it,
    /// then drops the object's references to them.
    fn release(&self, gone: Vec<(u64, u64)>) {
        if gone.is_empty() {
            return;
        }
        let frames: std::collections::HashSet<u64> = gone.iter().map(|(_, f)| *f).collect();
        let mappers: Vec<Arc<AddressSpace>> = self
            .mappers
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        for mm in mappers {
            mm.zap_object_frames(self, &frames);
        }
        if let Some(m) = &self.machine {
            for (_, f) in gone {
                m.frames().put_data(f);
            }
        }
    }

    /// Whether some address space maps this object shared and may make
    /// the mapping writable (what F_SEAL_WRITE refuses with EBUSY).
    pub fn writably_mapped(self: &Arc<Self>) -> bool {
        let mappers: Vec<Arc<AddressSpace>> = self
            .mappers
            .lock()
            .iter()
            .filter_map(Weak::upgrade)
            .collect();
        mappers.iter().any(|mm| mm.maps_writably(self))
    }

    /// Whether `self` is the object `other` points to.
    pub(super) fn is(&self, other: &Arc<SharedMemory>) -> bool {
        std::ptr::eq(self, Arc::as_ptr(other))
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        if let Some(m) = &self.machine {
            for f in self.pages.get_mut().values() {
                m.frames().put_data(*f);
            }
        }
    }
}

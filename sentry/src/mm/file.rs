//! File-backed mappings: what a VMA that maps a file holds ([`FileMap`]),
//! mapping a file, and the calls that look at file pages (mincore,
//! msync) or take them away (a file that shrinks).
//!
//! A file is mapped from one of two backings:
//!
//! * [`FileBacking::Store`]: a tmpfs, memfd or /dev/shm file, whose data
//!   lives in a [`SharedMemory`] of platform frames. MAP_SHARED maps those
//!   very frames (coherent with read/write and across processes);
//!   MAP_PRIVATE maps them read-only and copies on the first write, as
//!   Linux maps page-cache pages into a private mapping.
//! * [`FileBacking::Source`]: any other readable file (the read-only host
//!   files of the root): each page is read into a fresh frame when it is
//!   first touched. Such files can be mapped MAP_SHARED only read-only
//!   (their contents never change under the sandbox).
//!
//! Either way an access to a page that lies wholly past the end of the
//! file is a bus error (SIGBUS, BUS_ADRERR), and the bytes of the last
//! page past the end read as zeros.

use std::collections::HashSet;
use std::sync::Arc;

use platform::PAGE_SIZE;

use super::{AddressSpace, FaultError, MapRequest, SharedMemory, page_up};
use crate::errno::Errno;

/// A file that is read page by page into private frames.
pub trait PageSource: Send + Sync {
    /// The file's size now.
    fn size(&self) -> u64;
    /// Reads at `offset` (pread).
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno>;
}

/// Where a mapped file's pages come from.
#[derive(Clone)]
pub enum FileBacking {
    /// The file's own frames (tmpfs, memfd, /dev/shm).
    Store(Arc<SharedMemory>),
    /// Read into private frames on first touch.
    Source(Arc<dyn PageSource>),
}

/// The file a VMA maps (Linux's `vm_file` with what /proc shows of it).
#[derive(Clone)]
pub struct FileMap {
    /// The pages.
    pub backing: FileBacking,
    /// The path `/proc/<pid>/maps` shows.
    pub name: Arc<str>,
    /// Device number (`st_dev`) shown in maps.
    pub dev: u64,
    /// Inode number shown in maps.
    pub ino: u64,
    /// MAP_SHARED (rather than MAP_PRIVATE).
    pub shared: bool,
    /// A shared mapping whose file was opened for writing (Linux's
    /// VM_MAYWRITE): it may be made writable with mprotect.
    pub may_write: bool,
}

impl std::fmt::Debug for FileMap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FileMap({})", self.name)
    }
}

impl FileMap {
    /// Whether `self` and `other` map the same file the same way.
    pub(super) fn same(&self, other: &FileMap) -> bool {
        let backing = match (&self.backing, &other.backing) {
            (FileBacking::Store(a), FileBacking::Store(b)) => Arc::ptr_eq(a, b),
            (FileBacking::Source(a), FileBacking::Source(b)) => {
                std::ptr::addr_eq(Arc::as_ptr(a), Arc::as_ptr(b))
            }
            _ => false,
        };
        backing && self.shared == other.shared && self.may_write == other.may_write
    }

    /// The file's size now.
    pub fn size(&self) -> u64 {
        match &self.backing {
            FileBacking::Store(s) => s.size(),
            FileBacking::Source(s) => s.size(),
        }
    }

    /// The file's own frames, if it has them.
    pub fn store(&self) -> Option<&Arc<SharedMemory>> {
        match &self.backing {
            FileBacking::Store(s) => Some(s),
            FileBacking::Source(_) => None,
        }
    }

    /// The bus error for an access at file offset `off` past the last
    /// page of the file.
    pub(super) fn check_offset(&self, off: u64) -> Result<(), FaultError> {
        match page_up(self.size()) {
            Some(end) if off < end => Ok(()),
            _ => Err(FaultError::Bus),
        }
    }
}

/// The `MS_*` flags of msync(2).
pub const MS_ASYNC: u64 = 1;
/// MS_INVALIDATE.
pub const MS_INVALIDATE: u64 = 2;
/// MS_SYNC.
pub const MS_SYNC: u64 = 4;

impl AddressSpace {
    /// Maps `file` from file offset `offset` (page-aligned) as `req` asks;
    /// the errors of [`AddressSpace::map_anon`], and for a shared mapping
    /// of a file without frames of its own (a host file) that asks for
    /// PROT_WRITE, EACCES.
    pub fn map_file(&self, req: &MapRequest, file: FileMap, offset: u64) -> Result<u64, Errno> {
        if req.shared && req.prot.write && !file.may_write {
            return Err(Errno::EACCES);
        }
        if offset.checked_add(req.len).is_none() {
            return Err(Errno::EOVERFLOW);
        }
        let store = file.store().cloned();
        let shared = match (&store, req.shared) {
            (Some(s), true) => Some((Arc::clone(s), offset)),
            _ => None,
        };
        let start = self.map_with(req, shared, Some((file, offset)))?;
        if let Some(s) = store {
            s.add_mapper(&self.me);
        }
        Ok(start)
    }

    /// Removes from every VMA that maps `obj` the pages whose frame is in
    /// `frames` (pages taken out of the object: a truncated file), so the
    /// next access faults (and gets SIGBUS past the end of the file). Other
    /// vCPUs running on this address space are kicked, so they pick up
    /// the change when they enter again.
    pub(super) fn zap_object_frames(&self, obj: &SharedMemory, frames: &HashSet<u64>) {
        let mut inner = self.inner.lock();
        let ranges: Vec<(u64, u64)> = inner
            .vmas
            .iter()
            .filter(|(_, v)| {
                v.shared.as_ref().is_some_and(|(s, _)| obj.is(s))
                    || v.file
                        .as_ref()
                        .and_then(|(f, _)| f.store())
                        .is_some_and(|s| obj.is(s))
            })
            .map(|(s, v)| (s, v.end))
            .collect();
        if ranges.is_empty() {
            return;
        }
        let mut dropped = Vec::new();
        for (start, end) in ranges {
            let walked = inner.pt.update_range(start, end, &mut |_, pte| {
                if frames.contains(&pte.frame) {
                    dropped.push(pte.frame);
                    None
                } else {
                    Some(pte)
                }
            });
            if let Err(e) = walked {
                tracing::error!("memory: dropping truncated pages: {e}");
            }
            let parked: Vec<u64> = inner
                .parked
                .range(start..end)
                .filter(|(_, f)| frames.contains(f))
                .map(|(va, _)| *va)
                .collect();
            for va in parked {
                if let Some(f) = inner.parked.remove(&va) {
                    dropped.push(f);
                }
            }
        }
        inner.deferred_puts.extend(dropped);
        self.kick_runners();
    }

    /// Whether a VMA maps `obj` shared and may be made writable (Linux's
    /// mapping_writably_mapped, which F_SEAL_WRITE checks).
    pub fn maps_writably(&self, obj: &Arc<SharedMemory>) -> bool {
        self.inner.lock().vmas.iter().any(|(_, v)| {
            v.shared.as_ref().is_some_and(|(s, _)| Arc::ptr_eq(s, obj))
                && v.file.as_ref().is_some_and(|(f, _)| f.may_write)
        })
    }

    /// mincore(2) once decoded: one byte per page of `[start, end)`
    /// (page-aligned), 1 when the page is resident: present in this
    /// address space, or held by the file or shared object it maps (as
    /// Linux looks in the page cache). ENOMEM when part of the range is
    /// not mapped.
    pub fn mincore(&self, start: u64, end: u64) -> Result<Vec<u8>, Errno> {
        let inner = self.inner.lock();
        let mut out = Vec::with_capacity(((end - start) / PAGE_SIZE) as usize);
        let mut va = start;
        while va < end {
            let (vstart, vma) = inner
                .vmas
                .find(va)
                .map(|(s, v)| (s, v.clone()))
                .ok_or(Errno::ENOMEM)?;
            while va < end && va < vma.end {
                let present =
                    inner.parked.contains_key(&va) || inner.pt.lookup(va).ok().flatten().is_some();
                let cached = if present {
                    true
                } else if let Some((obj, off)) = &vma.shared {
                    obj.has_page((off + (va - vstart)) / PAGE_SIZE)
                } else if let Some((f, off)) = &vma.file {
                    let at = off + (va - vstart);
                    match &f.backing {
                        FileBacking::Store(s) => s.has_page(at / PAGE_SIZE),
                        // A host file's pages are in the host's page cache
                        // once read; count the file's own pages as cached.
                        FileBacking::Source(s) => at < s.size(),
                    }
                } else {
                    false
                };
                out.push(u8::from(cached));
                va += PAGE_SIZE;
            }
        }
        drop(inner);
        Ok(out)
    }

    /// msync(2) once decoded (`[start, end)` page-aligned): the pages of a
    /// shared file mapping are the file's own, so there is nothing to
    /// write back; ENOMEM when part of the range is not mapped.
    pub fn msync(&self, start: u64, end: u64) -> Result<(), Errno> {
        if !self.inner.lock().vmas.fully_mapped(start, end) {
            return Err(Errno::ENOMEM);
        }
        Ok(())
    }
}

/// Reads the page at file offset `off` of `src` into `frame`: the bytes
/// past the end of the file stay zero.
pub(super) fn fill_frame(
    machine: &dyn platform::Platform,
    frame: u64,
    src: &dyn PageSource,
    off: u64,
) -> Result<(), FaultError> {
    let mut buf = vec![0u8; PAGE_SIZE as usize];
    let mut done = 0;
    while done < buf.len() {
        match src.read_at(&mut buf[done..], off + done as u64) {
            Ok(0) => break,
            Ok(n) => done += n,
            Err(Errno::EINTR) => continue,
            Err(_) => return Err(FaultError::Bus),
        }
    }
    machine.memory().write(frame, &buf)?;
    Ok(())
}

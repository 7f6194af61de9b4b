//! Special mappings: the [vvar] page and the [vdso] image that every
//! process gets at exec (Linux's `vm_special_mapping`s).
//!
//! Each is a private mapping of a one-sandbox [`SharedMemory`] object
//! that holds the bytes, shown in /proc/self/maps with its name and no
//! file (offset 0, device 00:00, inode 0), as Linux shows them:
//!
//! * the pages are the object's frames, mapped read-only into every
//!   process (a fork shares them; nothing is copied);
//! * [vdso] may be made writable with mprotect, as on Linux, and a write
//!   then copies the page into a private one (what a debugger's
//!   breakpoint does): the other processes keep the original;
//! * [vvar] may never gain PROT_WRITE or PROT_EXEC (Linux's vvar has
//!   neither VM_MAYWRITE nor VM_MAYEXEC: EACCES);
//! * both may be unmapped (the guest loses its fast clocks, as on Linux).

use std::sync::Arc;

use platform::{PAGE_SIZE, Platform};

use super::file::{FileBacking, FileMap};
use super::{Access, AddressSpace, MMAP_MIN_ADDR, Prot, SharedMemory, Vma, page_up};
use crate::errno::Errno;

/// The bytes of one special mapping, in frames of one platform.
pub struct SpecialPages {
    object: Arc<SharedMemory>,
    len: u64,
}

impl SpecialPages {
    /// An object holding `bytes` (padded with zeros to whole pages),
    /// charged to the memory cap like any frame.
    pub fn new(machine: &Arc<dyn Platform>, bytes: &[u8]) -> Result<Self, Errno> {
        let object = Arc::new(SharedMemory::new_file(Arc::clone(machine)));
        let len = page_up(bytes.len().max(1) as u64).ok_or(Errno::ENOMEM)?;
        let mut padded = bytes.to_vec();
        padded.resize(len as usize, 0);
        if object.write(&padded, 0)? != padded.len() {
            return Err(Errno::ENOMEM);
        }
        Ok(Self { object, len })
    }

    /// Bytes mapped (whole pages).
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether the mapping is empty (never: at least one page).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The object holding the pages.
    pub fn object(&self) -> &Arc<SharedMemory> {
        &self.object
    }

    /// The frame of page `index` (the object keeps its reference).
    pub fn frame(&self, index: u64) -> Result<u64, Errno> {
        let machine = self.object_machine()?;
        let frame = self.object.frame(index).map_err(|_| Errno::ENOMEM)?;
        machine.frames().put_data(frame);
        Ok(frame)
    }

    fn object_machine(&self) -> Result<&Arc<dyn Platform>, Errno> {
        self.object.machine().map_err(|_| Errno::ENOMEM)
    }

    fn vma(&self, end: u64, prot: Prot, name: &str, locked: bool) -> Vma {
        let mut vma = Vma::anon(end, prot);
        vma.file = Some((
            FileMap {
                backing: FileBacking::Store(Arc::clone(&self.object)),
                name: Arc::from(name),
                dev: 0,
                ino: 0,
                shared: false,
                may_write: false,
            },
            0,
        ));
        vma.locked_read_only = locked;
        vma
    }
}

impl AddressSpace {
    /// Maps `vvar` read-only and `vdso` read + execute right above it,
    /// in the highest free gap of the mmap area (as Linux places them
    /// with get_unmapped_area), with their pages present at once (so the
    /// guest's first clock read takes no fault); returns the address of
    /// the vDSO image (AT_SYSINFO_EHDR).
    pub fn map_vdso(&self, vvar: &SpecialPages, vdso: &SpecialPages) -> Result<u64, Errno> {
        let mut inner = self.inner.lock();
        let len = vvar.len() + vdso.len();
        let top = inner.vmas.mmap_base();
        let start = inner
            .vmas
            .find_gap(len, MMAP_MIN_ADDR, top)
            .ok_or(Errno::ENOMEM)?;
        let base = start + vvar.len();
        let read = Prot {
            read: true,
            ..Prot::default()
        };
        let rx = Prot { exec: true, ..read };
        inner
            .vmas
            .insert(start, vvar.vma(base, read, "[vvar]", true));
        inner
            .vmas
            .insert(base, vdso.vma(base + vdso.len(), rx, "[vdso]", false));
        for object in [vvar.object(), vdso.object()] {
            object.add_mapper(&self.me);
        }
        let mut va = start;
        while va < base + vdso.len() {
            self.fault_locked(&mut inner, va, Access::Read, false)
                .map_err(|_| Errno::ENOMEM)?;
            va += PAGE_SIZE;
        }
        Ok(base)
    }
}

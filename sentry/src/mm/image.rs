//! Building a new program's image for exec and the loader: its segments,
//! its main stack, the start of its heap, and writes that ignore page
//! protections.

use super::{AddressSpace, Prot, STACK_TOP, Vma};
use crate::errno::Errno;

impl AddressSpace {
    /// Maps `[start, end)` as an anonymous private VMA with `prot` and
    /// `name`, for an ELF segment (its bytes are then written with
    /// [`AddressSpace::poke`]); EINVAL if anything is mapped there.
    pub fn map_image_region(
        &self,
        start: u64,
        end: u64,
        prot: Prot,
        name: &'static str,
    ) -> Result<(), Errno> {
        let mut inner = self.inner.lock();
        if inner.vmas.overlaps(start, end) {
            return Err(Errno::EINVAL);
        }
        let mut vma = Vma::anon(end, prot);
        vma.name = name;
        inner.vmas.insert(start, vma);
        Ok(())
    }

    /// Copies bytes into the guest regardless of page protections (for the
    /// loader); pages are faulted in as needed.
    pub fn poke(&self, addr: u64, data: &[u8]) -> Result<(), Errno> {
        self.copy(addr, data.len(), true, true, |frame_off, range| {
            self.machine
                .memory()
                .write(frame_off, &data[range])
                .map_err(|e| super::platform_errno(e, Errno::EFAULT))
        })
    }

    /// Sets up the main stack VMA `[STACK_TOP - size, STACK_TOP)`,
    /// executable when the ELF asked for it (PT_GNU_STACK with PF_X).
    pub fn map_stack(&self, size: u64, exec: bool) -> Result<(), Errno> {
        self.map_stack_at(STACK_TOP, size, exec)
    }

    /// [`AddressSpace::map_stack`] with its top at `top` (page-aligned, at
    /// most [`STACK_TOP`]): lower with ASLR.
    pub fn map_stack_at(&self, top: u64, size: u64, exec: bool) -> Result<(), Errno> {
        let mut inner = self.inner.lock();
        let top = top.min(STACK_TOP) & !(platform::PAGE_SIZE - 1);
        let start = top.checked_sub(size).ok_or(Errno::ENOMEM)?;
        if inner.vmas.overlaps(start, top) {
            return Err(Errno::ENOMEM);
        }
        let mut vma = Vma::anon(top, Prot { exec, ..Prot::RW });
        vma.grows_down = true;
        vma.name = "[stack]";
        inner.vmas.insert(start, vma);
        Ok(())
    }

    /// A free range of `len` bytes for a program image, the highest one
    /// that ends at or below `top` (an interpreter goes in the mmap area,
    /// as Linux maps it without a hint); `None` when there is none.
    pub fn image_gap(&self, len: u64, top: u64) -> Option<u64> {
        self.inner
            .lock()
            .vmas
            .find_gap(len, super::MMAP_MIN_ADDR, top)
    }

    /// Top of the mmap area (see [`super::VmaMap::mmap_base`]).
    pub fn mmap_base(&self) -> u64 {
        self.inner.lock().vmas.mmap_base()
    }

    /// Moves the top of the mmap area down to `base` (ASLR), before
    /// anything is mapped there.
    pub fn set_mmap_base(&self, base: u64) {
        self.inner.lock().vmas.set_mmap_base(base);
    }

    /// Sets the initial program break (end of the loaded image).
    pub fn set_brk_start(&self, brk: u64) {
        let mut inner = self.inner.lock();
        inner.brk_start = brk;
        inner.brk = brk;
    }
}

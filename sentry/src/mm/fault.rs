//! The fault engine: demand paging with fault-around, the shared zero
//! frame for memory that cannot be written, copy-on-write breaks, stack
//! growth (MAP_GROWSDOWN) and MAP_POPULATE.

use platform::{Mapping, PAGE_SIZE, PageFlags};

use super::file::fill_frame;
use super::{Access, AddressSpace, FaultError, FileBacking, Inner, TASK_SIZE, Vma, page_down};

/// Fault-around blocks a MAP_POPULATE handles under one hold of the lock
/// before it checks for a fatal signal (16 MiB of pages).
const POPULATE_BATCH: usize = 256;
/// Pages mapped around a demand fault (one crossing costs ~83 µs here).
const FAULT_AROUND_PAGES: u64 = 16;
/// Pages a sequential copy-on-write fault breaks at once (the faulting
/// one and those after it): one trap and one commit instead of a trap per
/// page.
const COW_AROUND_PAGES: u64 = 16;

/// The aligned block of [`FAULT_AROUND_PAGES`] pages that holds `addr`, as
/// `(start, end)`: what a demand fault maps at once, and the step of a
/// MAP_POPULATE walk, both clipped by the caller to the VMA. `addr` must
/// be below [`TASK_SIZE`] (the last block ends a page above it).
fn fault_around_block(addr: u64) -> (u64, u64) {
    let block = page_down(addr) & !(FAULT_AROUND_PAGES * PAGE_SIZE - 1);
    (block, block + FAULT_AROUND_PAGES * PAGE_SIZE)
}

impl AddressSpace {
    /// Resolves a fault at `addr`. `guest_fault` says the guest itself
    /// faulted there (so a copy-on-write break may swap the frame in place).
    pub fn handle_fault(
        &self,
        addr: u64,
        access: Access,
        guest_fault: bool,
    ) -> Result<(), FaultError> {
        let mut inner = self.inner.lock();
        self.fault_locked(&mut inner, addr, access, guest_fault)
    }

    pub(super) fn fault_locked(
        &self,
        inner: &mut Inner,
        addr: u64,
        access: Access,
        guest_fault: bool,
    ) -> Result<(), FaultError> {
        if addr >= TASK_SIZE {
            return Err(FaultError::MapErr);
        }
        let page = page_down(addr);
        let (start, vma) = match inner.vmas.find(addr) {
            Some((s, v)) => (s, v.clone()),
            None => {
                // acct_stack_growth: the growth counts against RLIMIT_AS.
                if let Some((above, v)) = inner.vmas.next_after(addr)
                    && v.grows_down
                {
                    let growth = above.saturating_sub(page);
                    self.limits
                        .may_expand(&inner.vmas, growth, 0, (0, 0))
                        .map_err(|_| FaultError::MapErr)?;
                }
                inner
                    .vmas
                    .grow_stack(addr, self.limits.stack())
                    .ok_or(FaultError::MapErr)?
            }
        };
        if !vma.prot.allows(access) {
            return Err(FaultError::AccErr);
        }
        if access == Access::Write {
            // Translations a fork shared hold one frame reference for all
            // the sharers: this address space gets its own before the
            // reference count decides anything (the last sharer keeps
            // write access to what nobody else holds).
            inner.pt.unshare(page, (start, vma.end))?;
        }
        if let Some(pte) = inner.pt.lookup(page)? {
            if access != Access::Write || pte.flags.write {
                return Ok(()); // Already resolved (or a spurious fault).
            }
            // Write to a read-only page of a writable VMA: copy-on-write.
            let frame = self.cow_frame(inner, &vma, pte.frame)?;
            // In place only when no other vCPU can hold the old translation
            // (another thread would keep reading the old frame).
            let in_place = frame == pte.frame || (guest_fault && !self.shared_by_runners());
            let result = if in_place {
                inner.pt.break_cow(page, frame, vma.prot.exec)
            } else {
                inner
                    .pt
                    .set(page, Some(pte_for(frame, &vma, true)))
                    .map(|_| ())
            };
            result?;
            if guest_fault {
                let sequential = page == inner.cow_next;
                inner.cow_next = page + PAGE_SIZE;
                if sequential {
                    self.cow_around(inner, page, &vma);
                }
            }
            return Ok(());
        }
        // Not present: map this page and its neighbours in the VMA.
        let (block, block_end) = fault_around_block(page);
        let lo = block.max(start);
        let hi = block_end.min(vma.end);
        let mut va = lo;
        while va < hi {
            let must = va == page;
            let write = must && access == Access::Write;
            // Around the fault, a file's (or shared object's) pages are
            // mapped only if they exist, as Linux's filemap_map_pages maps
            // only what is in the page cache: nothing is allocated for them.
            if !must && !self.page_exists(inner, va, start, &vma) {
                va += PAGE_SIZE;
                continue;
            }
            match self.populate_page(inner, va, start, &vma, true, write) {
                Ok(()) => {}
                Err(e) if must => return Err(e),
                Err(_) => break,
            }
            va += PAGE_SIZE;
        }
        Ok(())
    }

    /// The frame a copy-on-write break of `old` (in `vma`) writes to: `old`
    /// itself when nobody else maps it, else a copy (and `old` is put once
    /// no vCPU can reach it).
    fn cow_frame(&self, inner: &mut Inner, vma: &Vma, old: u64) -> Result<u64, FaultError> {
        if vma.shared.is_some() || self.machine.frames().refcount(old) == 1 {
            return Ok(old);
        }
        let copy = self.machine.alloc_data()?;
        if let Err(e) = self.machine.memory().copy_frame(copy, old) {
            self.machine.frames().put_data(copy);
            return Err(e.into());
        }
        inner.deferred_puts.push(old);
        Ok(copy)
    }

    /// Copy-on-write fault-around: after a sequential break at `page`,
    /// breaks the read-only pages that follow it in `vma`, up to
    /// [`COW_AROUND_PAGES`] in all, so that a guest writing through
    /// memory it shares with a fork takes one fault per block instead of
    /// one per page. A frame swap of a present entry reaches the guest only
    /// through a commit (the next entry makes one); best effort: it stops
    /// at the memory cap.
    fn cow_around(&self, inner: &mut Inner, page: u64, vma: &Vma) {
        let end = (page + COW_AROUND_PAGES * PAGE_SIZE).min(vma.end);
        let mut va = page + PAGE_SIZE;
        while va < end {
            if inner.pt.unshare(va, (page, end)).is_err() {
                break;
            }
            let Ok(Some(pte)) = inner.pt.lookup(va) else {
                break;
            };
            if !pte.flags.write {
                let Ok(frame) = self.cow_frame(inner, vma, pte.frame) else {
                    break;
                };
                if inner.pt.set(va, Some(pte_for(frame, vma, true))).is_err() {
                    break;
                }
            }
            va += PAGE_SIZE;
        }
        inner.cow_next = va;
    }

    /// Maps one not-yet-present page of `vma` (which starts at `start`).
    /// With `zero_ok`, a private page that cannot be written gets the
    /// shared zero frame, read-only, as Linux maps its zero page: reading
    /// (or populating) read-only memory costs no frame.
    /// With `write`, the page is being written: a private page of a
    /// file's own frames is copied at once.
    fn populate_page(
        &self,
        inner: &mut Inner,
        va: u64,
        start: u64,
        vma: &Vma,
        zero_ok: bool,
        write: bool,
    ) -> Result<(), FaultError> {
        if inner.pt.lookup(va)?.is_some() {
            return Ok(());
        }
        let frames = self.machine.frames();
        let (frame, writable) = if let Some(frame) = inner.parked.remove(&va) {
            (frame, vma.shared.is_some() || frames.refcount(frame) == 1)
        } else if let Some((file, foff)) = &vma.file {
            let off = foff + (va - start);
            file.check_offset(off)?;
            match (&vma.shared, &file.backing) {
                (Some((obj, soff)), _) => (obj.frame((soff + (va - start)) / PAGE_SIZE)?, true),
                // A private mapping of a file with frames maps them
                // read-only: the first write copies (as Linux maps page
                // cache pages).
                (None, FileBacking::Store(s)) => {
                    let frame = s.frame(off / PAGE_SIZE)?;
                    if write {
                        let copied = self.machine.alloc_data().and_then(|copy| {
                            self.machine.memory().copy_frame(copy, frame)?;
                            Ok(copy)
                        });
                        frames.put_data(frame);
                        (copied?, true)
                    } else {
                        (frame, false)
                    }
                }
                (None, FileBacking::Source(src)) => {
                    let frame = self.machine.alloc_data()?;
                    if let Err(e) = fill_frame(&*self.machine, frame, &**src, off) {
                        frames.put_data(frame);
                        return Err(e);
                    }
                    (frame, true)
                }
            }
        } else if let Some((obj, off)) = &vma.shared {
            (obj.frame((off + (va - start)) / PAGE_SIZE)?, true)
        } else if zero_ok && !vma.prot.write {
            let zero = self.machine.zero_frame();
            frames.get(zero);
            (zero, false)
        } else {
            (self.machine.alloc_data()?, true)
        };
        let pte = pte_for(frame, vma, writable);
        inner.pt.set(va, Some(pte))?;
        Ok(())
    }

    /// Whether the object page behind `va` of a shared or store-backed
    /// file VMA exists (always true for other memory).
    fn page_exists(&self, inner: &Inner, va: u64, start: u64, vma: &Vma) -> bool {
        if inner.parked.contains_key(&va) {
            return true;
        }
        if let Some((obj, off)) = &vma.shared {
            return obj.has_page((off + (va - start)) / PAGE_SIZE);
        }
        match &vma.file {
            Some((f, off)) => match f.store() {
                Some(s) => s.has_page((off + (va - start)) / PAGE_SIZE),
                None => true,
            },
            None => true,
        }
    }

    /// For the loader: makes `page` present whatever the VMA's protections
    /// (nothing is shared yet at load time, so writing its frame is safe).
    pub(super) fn force_page(&self, inner: &mut Inner, page: u64) -> Result<(), FaultError> {
        let (start, vma) = inner
            .vmas
            .find(page)
            .map(|(s, v)| (s, v.clone()))
            .ok_or(FaultError::MapErr)?;
        let zero = self.machine.zero_frame();
        if let Some(pte) = inner.pt.lookup(page)?
            && pte.frame == zero
        {
            // Never write the zero frame: give the page its own.
            let frame = self.machine.alloc_data()?;
            inner.pt.set(page, Some(Mapping { frame, ..pte }))?;
            inner.deferred_puts.push(zero);
            return Ok(());
        }
        self.populate_page(inner, page, start, &vma, false, true)
    }

    /// MAP_POPULATE after a successful mmap of `[start, start+len)`:
    /// faults the pages in, as Linux's mm_populate does, best
    /// effort (errors are ignored, as Linux ignores them). Memory that
    /// cannot be written is left alone: Linux would map its zero page
    /// there, which reads exactly like a page not present yet, so walking
    /// it (possibly terabytes) would buy nothing. The walk stops at the
    /// first failure (the memory cap) and whenever `interrupted` says a
    /// fatal signal arrived, checked every `POPULATE_BATCH` blocks with
    /// the lock released.
    pub fn populate(&self, start: u64, len: u64, interrupted: &dyn Fn() -> bool) {
        let end = start.saturating_add(len).min(TASK_SIZE);
        let mut va = start;
        while va < end {
            if interrupted() {
                return;
            }
            let mut inner = self.inner.lock();
            for _ in 0..POPULATE_BATCH {
                if va >= end {
                    return;
                }
                let Some((_, vma)) = inner.vmas.find(va) else {
                    return;
                };
                // A read-only file mapping is read in (the file's pages);
                // other read-only memory is the zero page anyway.
                let access = if vma.prot.write {
                    Access::Write
                } else if vma.file.is_some() && !vma.prot.is_none() {
                    Access::Read
                } else {
                    return;
                };
                let by_page = vma.shared.is_some() || vma.file.is_some();
                if self.fault_locked(&mut inner, va, access, false).is_err() {
                    return;
                }
                // Fault-around maps only existing object pages: populate
                // an object's mapping page by page.
                va = if by_page {
                    page_down(va) + PAGE_SIZE
                } else {
                    fault_around_block(va).1
                };
            }
        }
    }
}

fn pte_for(frame: u64, vma: &Vma, writable: bool) -> Mapping {
    Mapping {
        frame,
        flags: PageFlags {
            write: vma.prot.write && writable,
            exec: vma.prot.exec,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fault_around_blocks_are_aligned_and_hold_the_address() {
        let span = FAULT_AROUND_PAGES * PAGE_SIZE;
        assert_eq!(fault_around_block(0x12_3456), (0x12_0000, 0x12_0000 + span));
        assert_eq!(fault_around_block(0x12_0000), (0x12_0000, 0x12_0000 + span));
        assert_eq!(
            fault_around_block(0x12_0000 + span - 1),
            (0x12_0000, 0x12_0000 + span)
        );
        assert_eq!(fault_around_block(0x12_0000 + span).0, 0x12_0000 + span);
        // TASK_SIZE is one page short of a block boundary: the last block
        // reaches past it, and callers clip to the VMA (which ends by then).
        let (lo, hi) = fault_around_block(TASK_SIZE - 1);
        assert_eq!(
            (lo, hi),
            (TASK_SIZE + PAGE_SIZE - span, TASK_SIZE + PAGE_SIZE)
        );
    }
}

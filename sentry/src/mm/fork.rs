//! fork of an address space: shared mappings stay shared, private ones
//! are copied at once when small or shared copy-on-write, and MADV_DONTFORK
//! and MADV_WIPEONFORK ranges are left out or start empty.

use std::sync::Arc;

use platform::ForkAction;

use super::{AddressSpace, Inner, Vma, platform_errno};
use crate::errno::Errno;

/// A fork copies private pages at once, instead of sharing them
/// copy-on-write, when the parent has at most this many present (a 4 KiB
/// copy costs about a microsecond; write-protecting the parent costs a
/// commit and a shadow re-fault, about 23 µs, for every page it touches
/// afterwards, and each copy-on-write fault about 83 µs).
const EAGER_FORK_PAGES: usize = 512;

/// What the child of a fork gets of one VMA.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum VmaFork {
    /// Nothing (MADV_DONTFORK).
    Omit,
    /// The VMA without its pages: it reads as zeros (MADV_WIPEONFORK).
    Empty,
    /// The VMA, and its present pages handled so.
    Pages(ForkAction),
}

/// Whether the present pages of `vma` count towards [`EAGER_FORK_PAGES`]:
/// the private writable pages the child gets.
fn counts_for_eager(vma: &Vma) -> bool {
    vma.shared.is_none() && vma.prot.write && !vma.dont_fork && !vma.wipe_on_fork
}

/// What the child gets of `vma`; `eager` says the parent's private pages
/// are few enough to copy at once rather than share copy-on-write.
/// Read-only private pages are always shared copy-on-write: neither side
/// can write them without a fault.
fn vma_fork(vma: &Vma, eager: bool) -> VmaFork {
    if vma.dont_fork {
        VmaFork::Omit
    } else if vma.wipe_on_fork {
        VmaFork::Empty
    } else if vma.shared.is_some() {
        VmaFork::Pages(ForkAction::Share)
    } else if eager && vma.prot.write {
        VmaFork::Pages(ForkAction::Copy)
    } else {
        VmaFork::Pages(ForkAction::Cow)
    }
}

impl AddressSpace {
    /// A copy-on-write copy for fork: private pages become read-only in both,
    /// shared ones stay shared, MADV_DONTFORK ranges are left out and
    /// MADV_WIPEONFORK ranges start empty in the child.
    pub fn fork(&self) -> Result<Arc<AddressSpace>, Errno> {
        let child = AddressSpace::new(Arc::clone(&self.machine))?;
        child.limits.copy_from(&self.limits);
        let mut inner = self.inner.lock();
        let mut cinner = child.inner.lock();
        let frames = self.machine.frames();
        let vmas: Vec<(u64, Vma)> = inner.vmas.iter().map(|(s, v)| (s, v.clone())).collect();
        let mut private_pages = 0;
        for (start, vma) in &vmas {
            if counts_for_eager(vma) {
                private_pages += inner
                    .pt
                    .count_present(*start, vma.end)
                    .map_err(|e| platform_errno(e, Errno::ENOMEM))?;
            }
        }
        let eager = private_pages <= EAGER_FORK_PAGES;
        for (start, vma) in vmas {
            let action = match vma_fork(&vma, eager) {
                VmaFork::Omit => continue,
                VmaFork::Empty => {
                    if let Some(obj) = vma.file.as_ref().and_then(|(f, _)| f.store()) {
                        obj.add_mapper(&child.me);
                    }
                    cinner.vmas.insert(start, vma);
                    continue;
                }
                VmaFork::Pages(action) => action,
            };
            if let Some(obj) = vma.file.as_ref().and_then(|(f, _)| f.store()) {
                obj.add_mapper(&child.me);
            }
            cinner.vmas.insert(start, vma.clone());
            let Inner { pt, parked, .. } = &mut *inner;
            pt.fork_range(&mut *cinner.pt, start, vma.end, action)
                .map_err(|e| platform_errno(e, Errno::ENOMEM))?;
            for (va, f) in parked.range(start..vma.end) {
                frames.get(*f);
                cinner.parked.insert(*va, *f);
            }
        }
        cinner.brk_start = inner.brk_start;
        cinner.brk = inner.brk;
        drop(cinner);
        {
            let (path, host) = self.exe.lock().clone();
            child.set_exe(&path, host);
            *child.cmdline.lock() = self.cmdline();
            *child.environ.lock() = self.environ();
        }
        Ok(child)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::{Prot, SharedMemory};

    fn private(prot: Prot) -> Vma {
        Vma::anon(0x2000, prot)
    }

    const RO: Prot = Prot {
        read: true,
        write: false,
        exec: false,
    };

    #[test]
    fn private_writable_pages_are_copied_when_eager_else_cow() {
        let v = private(Prot::RW);
        assert!(counts_for_eager(&v));
        assert_eq!(vma_fork(&v, true), VmaFork::Pages(ForkAction::Copy));
        assert_eq!(vma_fork(&v, false), VmaFork::Pages(ForkAction::Cow));
    }

    #[test]
    fn read_only_private_pages_are_always_cow() {
        let v = private(RO);
        assert!(!counts_for_eager(&v), "read-only pages cost no copy");
        assert_eq!(vma_fork(&v, true), VmaFork::Pages(ForkAction::Cow));
        assert_eq!(vma_fork(&v, false), VmaFork::Pages(ForkAction::Cow));
    }

    #[test]
    fn shared_pages_stay_shared() {
        let mut v = private(Prot::RW);
        v.shared = Some((Arc::new(SharedMemory::default()), 0));
        assert!(!counts_for_eager(&v));
        assert_eq!(vma_fork(&v, true), VmaFork::Pages(ForkAction::Share));
        assert_eq!(vma_fork(&v, false), VmaFork::Pages(ForkAction::Share));
    }

    #[test]
    fn dontfork_is_left_out_and_wipeonfork_starts_empty() {
        let mut v = private(Prot::RW);
        v.dont_fork = true;
        assert!(!counts_for_eager(&v));
        assert_eq!(vma_fork(&v, true), VmaFork::Omit);
        // MADV_DONTFORK wins over MADV_WIPEONFORK.
        v.wipe_on_fork = true;
        assert_eq!(vma_fork(&v, false), VmaFork::Omit);
        v.dont_fork = false;
        assert!(!counts_for_eager(&v));
        assert_eq!(vma_fork(&v, true), VmaFork::Empty);
        assert_eq!(vma_fork(&v, false), VmaFork::Empty);
    }
}

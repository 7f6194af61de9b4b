//! fork of an address space: shared mappings stay shared, private ones
//! are copied at once when small or shared copy-on-write, and MADV_DONTFORK
//! and MADV_WIPEONFORK ranges are left out or start empty.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use platform::ForkAction;

use super::{AddressSpace, Vma, platform_errno};
use crate::errno::Errno;

/// A fork copies private pages at once, instead of sharing them
/// copy-on-write, when the parent has at most this many present (a 4 KiB
/// copy costs about a microsecond; write-protecting the parent costs a
/// commit and a shadow re-fault, about 23 µs, for every page it touches
/// afterwards, and each copy-on-write fault about 83 µs).
const EAGER_FORK_PAGES: usize = 512;

/// In a process too large to copy at once, a private writable mapping
/// with at most this many present pages is still copied at once (within
/// [`EAGER_FORK_PAGES`] for all of them): a static program's data and
/// bss, which libc writes on both sides right after fork, took the child
/// three copy-on-write faults and the parent one or two per fork.
const EAGER_VMA_PAGES: usize = 32;

/// Whether a fork too large to copy at once shares the parent's leaf page
/// tables copy-on-write (2 MiB at a time: the fork then costs a few words
/// per 2 MiB, and the first change in a block copies its table) rather
/// than write-protecting and copying every page's entry: 0 = not decided
/// yet (the `SENTRY_FORK_SHARE` environment variable, `off` or `0` to
/// disable; on by default), 1 = off, 2 = on. The platform must also
/// have passed its sharing self-test ([`platform::Platform::shares_tables`]).
static FORK_SHARE: AtomicU8 = AtomicU8::new(0);

/// Turns leaf-table sharing at fork on or off (`--fork-share`).
pub fn set_fork_share(on: bool) {
    FORK_SHARE.store(if on { 2 } else { 1 }, Ordering::Relaxed);
}

/// Whether forks share leaf page tables when the platform can.
pub fn fork_share() -> bool {
    match FORK_SHARE.load(Ordering::Relaxed) {
        1 => false,
        2 => true,
        _ => {
            let on = !matches!(
                std::env::var("SENTRY_FORK_SHARE").as_deref(),
                Ok("off" | "0" | "false" | "no")
            );
            set_fork_share(on);
            on
        }
    }
}

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
        self.fork_hot(&[])
    }

    /// [`AddressSpace::fork`], with the private writable pages holding the
    /// addresses in `hot` (the parent's stack top and thread block: what
    /// both sides write first after the fork) copied at once even where
    /// the rest is shared copy-on-write: neither side then takes a fault
    /// for them (a trap each, and a commit for the parent).
    pub fn fork_hot(&self, hot: &[u64]) -> Result<Arc<AddressSpace>, Errno> {
        let mut hot: Vec<u64> = hot.iter().map(|&a| super::page_down(a)).collect();
        hot.sort_unstable();
        hot.dedup();
        let child = AddressSpace::new(Arc::clone(&self.machine))?;
        child.limits.copy_from(&self.limits);
        child.membarrier.store(
            self.membarrier.load(std::sync::atomic::Ordering::Relaxed),
            std::sync::atomic::Ordering::Relaxed,
        );
        let mut inner = self.inner.lock();
        let mut cinner = child.inner.lock();
        let frames = self.machine.frames();
        let vmas: Vec<(u64, Vma)> = inner.vmas.iter().map(|(s, v)| (s, v.clone())).collect();
        let mut private_pages = 0;
        let mut present = Vec::with_capacity(vmas.len());
        for (start, vma) in &vmas {
            let n = if counts_for_eager(vma) {
                // Exact up to the eager budget: past it the process is
                // large and the VMA not small, whatever the exact count.
                inner
                    .pt
                    .count_present_upto(*start, vma.end, EAGER_FORK_PAGES + 1)
                    .map_err(|e| platform_errno(e, Errno::ENOMEM))?
            } else {
                0
            };
            private_pages += n;
            present.push(n);
        }
        let eager = private_pages <= EAGER_FORK_PAGES;
        // Large private memory: share its leaf tables rather than walk it.
        let share_tables = !eager && fork_share() && self.machine.shares_tables();
        let mut ranges = Vec::new();
        // A large process still gets its small writable mappings (the
        // program's data and bss, a small heap, the top of the stack)
        // copied at once, within the same budget: its libc writes there
        // right after fork on both sides.
        let mut budget = EAGER_FORK_PAGES;
        for ((start, vma), n) in vmas.into_iter().zip(present) {
            let small = !eager && n <= EAGER_VMA_PAGES && n <= budget;
            if small {
                budget -= n;
            }
            let action = match vma_fork(&vma, eager || small) {
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
            ranges.extend(split_hot(start, vma.end, action, &vma, &hot));
            for (va, f) in inner.parked.range(start..vma.end) {
                frames.get(*f);
                cinner.parked.insert(*va, *f);
            }
        }
        inner
            .pt
            .fork_ranges(&mut *cinner.pt, &ranges, share_tables)
            .map_err(|e| platform_errno(e, Errno::ENOMEM))?;
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

/// `[start, end)` of `vma` forked with `action`, cut into ranges so that
/// the `hot` pages (sorted) inside it are copied when the rest would be
/// shared copy-on-write.
fn split_hot(
    start: u64,
    end: u64,
    action: ForkAction,
    vma: &Vma,
    hot: &[u64],
) -> Vec<(u64, u64, ForkAction)> {
    if action != ForkAction::Cow || !counts_for_eager(vma) {
        return vec![(start, end, action)];
    }
    let mut out = Vec::new();
    let mut at = start;
    for &page in hot.iter().filter(|&&p| p >= start && p < end) {
        if page > at {
            out.push((at, page, ForkAction::Cow));
        }
        let next = page + platform::PAGE_SIZE;
        out.push((page, next, ForkAction::Copy));
        at = next;
    }
    if at < end {
        out.push((at, end, ForkAction::Cow));
    }
    out
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
    fn hot_pages_of_cow_ranges_are_copied() {
        let v = Vma::anon(0x10000, Prot::RW);
        let hot = [0x2000, 0x3000, 0x9000, 0x20000];
        assert_eq!(
            split_hot(0x1000, 0x10000, ForkAction::Cow, &v, &hot),
            vec![
                (0x1000, 0x2000, ForkAction::Cow),
                (0x2000, 0x3000, ForkAction::Copy),
                (0x3000, 0x4000, ForkAction::Copy),
                (0x4000, 0x9000, ForkAction::Cow),
                (0x9000, 0xa000, ForkAction::Copy),
                (0xa000, 0x10000, ForkAction::Cow),
            ]
        );
        // Other actions, and read-only memory, are left whole.
        assert_eq!(
            split_hot(0x1000, 0x10000, ForkAction::Copy, &v, &hot),
            vec![(0x1000, 0x10000, ForkAction::Copy)]
        );
        let ro = Vma::anon(0x10000, RO);
        assert_eq!(
            split_hot(0x1000, 0x10000, ForkAction::Cow, &ro, &hot),
            vec![(0x1000, 0x10000, ForkAction::Cow)]
        );
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

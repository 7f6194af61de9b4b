//! fork of an address space: shared mappings stay shared, private ones
//! are copied at once when small or shared copy-on-write, and MADV_DONTFORK
//! and MADV_WIPEONFORK ranges are left out or start empty.

use std::sync::Arc;

use platform::x86_64::paging::ForkAction;

use super::{AddressSpace, Inner, Vma};
use crate::errno::Errno;

/// A fork copies private pages at once, instead of sharing them
/// copy-on-write, when the parent has at most this many present (a 4 KiB
/// copy costs about a microsecond; write-protecting the parent costs a
/// commit and a shadow re-fault, about 23 µs, for every page it touches
/// afterwards, and each copy-on-write fault about 83 µs).
const EAGER_FORK_PAGES: usize = 512;

impl AddressSpace {
    /// A copy-on-write copy for fork: private pages become read-only in both,
    /// shared ones stay shared, MADV_DONTFORK ranges are left out and
    /// MADV_WIPEONFORK ranges start empty in the child.
    pub fn fork(&self) -> Result<Arc<AddressSpace>, Errno> {
        let child = AddressSpace::new(Arc::clone(&self.machine))?;
        let mut inner = self.inner.lock();
        let mut cinner = child.inner.lock();
        let frames = self.machine.frames();
        let vmas: Vec<(u64, Vma)> = inner.vmas.iter().map(|(s, v)| (s, v.clone())).collect();
        let mut private_pages = 0;
        for (start, vma) in &vmas {
            if vma.shared.is_none() && vma.prot.write && !vma.dont_fork && !vma.wipe_on_fork {
                private_pages += inner
                    .pt
                    .count_present(*start, vma.end)
                    .map_err(|_| Errno::ENOMEM)?;
            }
        }
        let eager = private_pages <= EAGER_FORK_PAGES;
        for (start, vma) in vmas {
            if vma.dont_fork {
                continue;
            }
            cinner.vmas.insert(start, vma.clone());
            if vma.wipe_on_fork {
                continue;
            }
            let action = if vma.shared.is_some() {
                ForkAction::Share
            } else if eager && vma.prot.write {
                ForkAction::Copy
            } else {
                ForkAction::Cow
            };
            let Inner { pt, parked, .. } = &mut *inner;
            pt.fork_range(&mut cinner.pt, start, vma.end, |_| action)
                .map_err(|_| Errno::ENOMEM)?;
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
        }
        Ok(child)
    }
}

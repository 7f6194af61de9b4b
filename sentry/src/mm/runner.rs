//! The tasks running on an address space and the TLB shootdown that
//! makes them leave an old page-table root before its frames are reused.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use platform::{FrameKind, Kicker};

use super::AddressSpace;

/// A task that may run on an address space: what a TLB shootdown kicks.
pub struct Runner {
    /// The task's thread id.
    pub tid: i32,
    kicker: Kicker,
    /// The root the task's vCPU is running on, 0 when not in the guest.
    root: AtomicU64,
}

impl Runner {
    /// A runner for the vCPU behind `kicker`.
    pub fn new(tid: i32, kicker: Kicker) -> Arc<Self> {
        Arc::new(Self {
            tid,
            kicker,
            root: AtomicU64::new(0),
        })
    }
}

impl AddressSpace {
    /// Registers a task that runs on this address space.
    pub fn attach(&self, runner: &Arc<Runner>) {
        self.runners.lock().push(Arc::clone(runner));
    }

    /// Unregisters a task.
    pub fn detach(&self, runner: &Arc<Runner>) {
        self.runners.lock().retain(|r| !Arc::ptr_eq(r, runner));
    }

    pub(super) fn shared_by_runners(&self) -> bool {
        self.runners.lock().len() > 1
    }

    /// Called right before `runner` enters the guest: commits pending
    /// downgrades, makes every other vCPU leave the old root (a TLB
    /// shootdown: kick, then wait until it is out of the guest), frees what
    /// the downgrades released, and returns the root to run on.
    pub fn enter(&self, runner: &Arc<Runner>) -> Result<u64, platform::Error> {
        let mut inner = self.inner.lock();
        if let Some(retired) = inner.pt.commit_deferred()? {
            let old = retired.old_root();
            let others: Vec<Arc<Runner>> = self
                .runners
                .lock()
                .iter()
                .filter(|r| !Arc::ptr_eq(r, runner))
                .cloned()
                .collect();
            for r in &others {
                if r.root.load(Ordering::SeqCst) == old {
                    r.kicker.kick();
                }
            }
            for r in &others {
                while r.root.load(Ordering::SeqCst) == old {
                    std::thread::yield_now();
                }
            }
            retired.release();
        }
        let frames = self.machine.frames();
        for f in inner.deferred_puts.drain(..) {
            frames.put(f, FrameKind::Data);
        }
        let root = inner.pt.root();
        runner.root.store(root, Ordering::SeqCst);
        Ok(root)
    }

    /// Called when `runner` has left the guest.
    pub fn leave(&self, runner: &Runner) {
        runner.root.store(0, Ordering::SeqCst);
    }
}

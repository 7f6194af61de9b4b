//! The tasks running on an address space and the TLB shootdown that
//! makes them leave an old page-table root before its frames are reused.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::{Condvar, Mutex};
use platform::Kicker;

use super::AddressSpace;

/// A task that may run on an address space: what a TLB shootdown kicks.
pub struct Runner {
    /// The task's thread id.
    pub tid: i32,
    kicker: Kicker,
    /// The root the task's vCPU is running on, 0 when not in the guest.
    root: AtomicU64,
    /// How many times the task has left the guest ([`AddressSpace::barrier`]).
    exits: AtomicU64,
}

impl Runner {
    /// A runner for the vCPU behind `kicker`.
    pub fn new(tid: i32, kicker: Kicker) -> Arc<Self> {
        Arc::new(Self {
            tid,
            kicker,
            root: AtomicU64::new(0),
            exits: AtomicU64::new(0),
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

    /// Kicks every runner in the guest, so that it enters again (and
    /// commits pending downgrades) before it runs on.
    pub(super) fn kick_runners(&self) {
        for r in self.runners.lock().iter() {
            if r.root.load(Ordering::SeqCst) != 0 {
                r.kicker.kick();
            }
        }
    }

    pub(super) fn shared_by_runners(&self) -> bool {
        self.runners.lock().len() > 1
    }

    /// Called right before `runner` enters the guest: commits pending
    /// downgrades, makes every other vCPU leave the old root (a TLB
    /// shootdown: kick, then wait until it is out of the guest), frees what
    /// the downgrades released, and returns the root to run on.
    ///
    /// The wait happens without `inner` held (other threads may fault, map
    /// and unmap meanwhile), but only one shootdown is in flight per
    /// address space: an `enter` that finds one waits for it to end before
    /// it commits or frees anything, since the old root may still reach
    /// tables and frames shared with the new one.
    pub fn enter(&self, runner: &Arc<Runner>) -> Result<u64, platform::Error> {
        loop {
            let mut inner = self.inner.lock();
            if self.shootdown.is_busy() {
                drop(inner);
                self.shootdown.wait_idle();
                continue;
            }
            let Some(retired) = inner.pt.commit()? else {
                let frames = self.machine.frames();
                for f in inner.deferred_puts.drain(..) {
                    frames.put_data(f);
                }
                let root = inner.pt.root();
                runner.root.store(root, Ordering::SeqCst);
                return Ok(root);
            };
            // Frames unmapped before this commit may be reached through the
            // old root until the shootdown ends.
            let puts = std::mem::take(&mut inner.deferred_puts);
            let old = retired.old_root();
            let others: Vec<Arc<Runner>> = self
                .runners
                .lock()
                .iter()
                .filter(|r| !Arc::ptr_eq(r, runner) && r.root.load(Ordering::SeqCst) == old)
                .cloned()
                .collect();
            for r in &others {
                r.kicker.kick();
            }
            self.shootdown.begin();
            drop(inner);
            // No runner can store `old` again: `enter` stores the current
            // root under `inner`, and the old root's frame is not reused
            // before `retired.release()`.
            for r in &others {
                self.shootdown
                    .wait_until(|| r.root.load(Ordering::SeqCst) != old, || r.kicker.kick());
            }
            retired.release();
            let frames = self.machine.frames();
            for f in puts {
                frames.put_data(f);
            }
            self.shootdown.end();
        }
    }

    /// Called when `runner` has left the guest (without any lock held).
    pub fn leave(&self, runner: &Runner) {
        runner.root.store(0, Ordering::SeqCst);
        runner.exits.fetch_add(1, Ordering::SeqCst);
        self.shootdown.left();
    }

    /// membarrier's barrier on this address space: returns once every
    /// other task that was running guest code on it has left the guest at
    /// least once. A guest exit is a full memory barrier and serialises the
    /// instruction stream, and a task out of the guest issues no guest
    /// memory access, so each one has passed a barrier after the call.
    pub fn barrier(&self, me: Option<&Runner>) {
        let others: Vec<(Arc<Runner>, u64)> = self
            .runners
            .lock()
            .iter()
            .filter(|r| me.is_none_or(|m| !std::ptr::eq(Arc::as_ptr(r), m)))
            .filter(|r| r.root.load(Ordering::SeqCst) != 0)
            .map(|r| (Arc::clone(r), r.exits.load(Ordering::SeqCst)))
            .collect();
        for (r, _) in &others {
            r.kicker.kick();
        }
        for (r, seen) in &others {
            self.shootdown.wait_until(
                || r.root.load(Ordering::SeqCst) == 0 || r.exits.load(Ordering::SeqCst) != *seen,
                || r.kicker.kick(),
            );
        }
    }
}

/// The TLB shootdown's rendezvous: whether one is in flight, and where its
/// initiator sleeps until the runners it kicked have left the old root.
/// Its lock is a leaf, taken alone or under `AddressSpace::inner` (by
/// [`Shootdown::begin`]).
#[derive(Default)]
pub(super) struct Shootdown {
    busy: Mutex<bool>,
    /// `busy`, readable without the lock (changed only under it), so the
    /// common `enter` takes no lock of the rendezvous.
    in_flight: AtomicBool,
    changed: Condvar,
    /// Threads in [`Shootdown::wait_until`]: `leave` only takes the lock
    /// to notify when someone waits.
    waiters: AtomicUsize,
}

/// How long a shootdown sleeps before it checks again and kicks again (a
/// safety net: leaving runners notify it).
const RECHECK: Duration = Duration::from_millis(10);

impl Shootdown {
    fn is_busy(&self) -> bool {
        self.in_flight.load(Ordering::SeqCst)
    }

    fn begin(&self) {
        let mut busy = self.busy.lock();
        *busy = true;
        self.in_flight.store(true, Ordering::SeqCst);
    }

    fn end(&self) {
        let mut busy = self.busy.lock();
        *busy = false;
        self.in_flight.store(false, Ordering::SeqCst);
        drop(busy);
        self.changed.notify_all();
    }

    /// Sleeps until no shootdown is in flight.
    fn wait_idle(&self) {
        let mut busy = self.busy.lock();
        while *busy {
            self.changed.wait(&mut busy);
        }
    }

    /// Sleeps until `done()`, calling `nudge()` whenever a recheck finds it
    /// still false.
    fn wait_until(&self, done: impl Fn() -> bool, nudge: impl Fn()) {
        self.wait_until_every(RECHECK, done, nudge);
    }

    /// [`Self::wait_until`] with rechecks every `recheck`.
    fn wait_until_every(&self, recheck: Duration, done: impl Fn() -> bool, nudge: impl Fn()) {
        // Registered before the check, so that a runner that leaves after
        // the check sees a waiter and notifies (both sides are SeqCst).
        self.waiters.fetch_add(1, Ordering::SeqCst);
        let mut guard = self.busy.lock();
        while !done() {
            if self.changed.wait_for(&mut guard, recheck).timed_out() && !done() {
                nudge();
            }
        }
        drop(guard);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
    }

    /// A runner left the guest: wakes a waiting shootdown.
    fn left(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            let _guard = self.busy.lock();
            self.changed.notify_all();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leaving_runner_wakes_the_shootdown() {
        let sd = Arc::new(Shootdown::default());
        let root = Arc::new(AtomicU64::new(7));
        let nudges = AtomicUsize::new(0);
        let leaver = {
            let (sd, root) = (Arc::clone(&sd), Arc::clone(&root));
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(30));
                root.store(0, Ordering::SeqCst);
                sd.left();
            })
        };
        let t0 = std::time::Instant::now();
        // A recheck period far beyond any scheduling delay: only the
        // leaver's notify can end the wait before it, however loaded the
        // machine is.
        let never = Duration::from_secs(600);
        sd.wait_until_every(
            never,
            || root.load(Ordering::SeqCst) != 7,
            || {
                nudges.fetch_add(1, Ordering::SeqCst);
            },
        );
        leaver.join().unwrap();
        assert_eq!(root.load(Ordering::SeqCst), 0);
        assert!(t0.elapsed() >= Duration::from_millis(25));
        assert!(t0.elapsed() < never);
        assert_eq!(sd.waiters.load(Ordering::SeqCst), 0);
        assert_eq!(nudges.load(Ordering::SeqCst), 0, "woken by the notify");
    }

    #[test]
    fn a_runner_that_never_notifies_is_nudged_until_it_leaves() {
        let sd = Shootdown::default();
        let root = AtomicU64::new(7);
        let nudges = AtomicUsize::new(0);
        // The "kick" makes it leave, but without calling `left`.
        sd.wait_until(
            || root.load(Ordering::SeqCst) == 0,
            || {
                if nudges.fetch_add(1, Ordering::SeqCst) == 2 {
                    root.store(0, Ordering::SeqCst);
                }
            },
        );
        assert_eq!(nudges.load(Ordering::SeqCst), 3);
    }

    #[test]
    fn enterers_wait_for_the_shootdown_in_flight() {
        let sd = Arc::new(Shootdown::default());
        assert!(!sd.is_busy());
        sd.wait_idle(); // Returns at once when idle.
        sd.begin();
        assert!(sd.is_busy());
        let waiter = {
            let sd = Arc::clone(&sd);
            std::thread::spawn(move || {
                sd.wait_idle();
                assert!(!sd.is_busy());
            })
        };
        std::thread::sleep(Duration::from_millis(20));
        assert!(!waiter.is_finished());
        sd.end();
        waiter.join().unwrap();
    }
}

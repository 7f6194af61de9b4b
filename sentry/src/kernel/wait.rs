//! Sleeping and waking: a per-task [`Waiter`], [`WaitQueue`]s that objects
//! (pipes, child lists, futexes) notify, and the [`Blocker`] interface
//! through which file operations sleep interruptibly.
//!
//! The pattern avoids lost wake-ups: register on the queue first
//! ([`WaitQueue::prepare`]), then check the condition, then sleep. A
//! notification that lands between the check and the sleep leaves the
//! waiter flagged, so the sleep returns at once.

use std::sync::Arc;
use std::time::Instant;

use parking_lot::{Condvar, Mutex};

use crate::errno::Errno;

/// The instant `d` from now, with `d` capped at a century so a guest's
/// huge timeout can never overflow the host clock.
pub fn deadline_after(d: std::time::Duration) -> Instant {
    const CENTURY: std::time::Duration = std::time::Duration::from_secs(100 * 365 * 86_400);
    Instant::now() + d.min(CENTURY)
}

/// What a task sleeps on.
#[derive(Default)]
pub struct Waiter {
    woken: Mutex<bool>,
    cv: Condvar,
    /// Whether a sleep is in progress (/proc's `S` state).
    sleeping: std::sync::atomic::AtomicBool,
    /// How many times a sleep blocked in the host and was ended by a
    /// notification (a cross-thread wake-up), for `--stats`.
    wakeups: std::sync::atomic::AtomicU64,
}

impl Waiter {
    /// Whether the task is asleep in [`Waiter::wait`] now.
    pub fn is_sleeping(&self) -> bool {
        self.sleeping.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Marks the task asleep until the guard is dropped, for a wait that
    /// does not go through [`Waiter::wait`] (polling a host stream).
    pub fn asleep(&self) -> Awake<'_> {
        self.sleeping
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Awake(&self.sleeping)
    }

    /// How many sleeps blocked and were woken by a notification.
    pub fn wakeups(&self) -> u64 {
        self.wakeups.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Wakes the sleeper (or makes its next sleep return at once).
    pub fn notify(&self) {
        *self.woken.lock() = true;
        self.cv.notify_all();
    }

    /// Sleeps until notified or `deadline`. Returns false on timeout.
    pub fn wait(&self, deadline: Option<Instant>) -> bool {
        let mut woken = self.woken.lock();
        self.sleeping
            .store(!*woken, std::sync::atomic::Ordering::Relaxed);
        let _awake = Awake(&self.sleeping);
        let blocked = !*woken;
        while !*woken {
            match deadline {
                Some(d) => {
                    if self.cv.wait_until(&mut woken, d).timed_out() {
                        return std::mem::take(&mut *woken);
                    }
                }
                None => self.cv.wait(&mut woken),
            }
        }
        *woken = false;
        if blocked {
            self.wakeups
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        true
    }
}

/// Clears a waiter's `sleeping` flag when its sleep ends, by whatever
/// return.
pub struct Awake<'a>(&'a std::sync::atomic::AtomicBool);

impl Drop for Awake<'_> {
    fn drop(&mut self) {
        self.0.store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Something that can sleep: a task, seen from file and kernel objects.
pub trait Blocker {
    /// The task's waiter.
    fn waiter(&self) -> &Arc<Waiter>;
    /// `Err(ERESTARTSYS)` when a signal (or a kill) should interrupt a
    /// sleep now.
    fn check_interrupt(&self) -> Result<(), Errno>;
    /// The calling task, when the blocker is one (a terminal's job-control
    /// checks need the caller's process group).
    fn task(&self) -> Option<&super::task::Task> {
        None
    }
}

/// Bumped by every [`WaitQueue::notify_all`] anywhere: edge-triggered
/// epoll items on files without their own event counters compare it.
static GENERATION: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// How many notifications any queue has sent so far.
pub fn generation() -> u64 {
    GENERATION.load(std::sync::atomic::Ordering::SeqCst)
}

/// A list of sleepers to wake when something changes.
#[derive(Default)]
pub struct WaitQueue {
    waiters: Mutex<Vec<Arc<Waiter>>>,
    /// How many times it was notified (an edge for epoll's EPOLLET).
    seq: std::sync::atomic::AtomicU64,
}

/// Registration on a queue; [`WaitGuard::sleep`] sleeps.
pub struct WaitGuard<'a> {
    blocker: &'a dyn Blocker,
}

impl WaitQueue {
    /// Registers `blocker` before it checks its condition.
    pub fn prepare<'a>(&self, blocker: &'a dyn Blocker) -> WaitGuard<'a> {
        let w = blocker.waiter();
        let mut list = self.waiters.lock();
        if !list.iter().any(|x| Arc::ptr_eq(x, w)) {
            list.push(Arc::clone(w));
        }
        WaitGuard { blocker }
    }

    /// How many times [`WaitQueue::notify_all`] ran: it moves before the
    /// sleepers are woken, so one that reads it before checking a condition
    /// sees it move for any change made after that check.
    pub fn seq(&self) -> u64 {
        self.seq.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Wakes every registered sleeper.
    pub fn notify_all(&self) {
        self.seq.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        GENERATION.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let list = std::mem::take(&mut *self.waiters.lock());
        for w in list {
            w.notify();
        }
    }
}

impl WaitGuard<'_> {
    /// Sleeps until a notification, a signal (`Err(ERESTARTSYS)`) or the
    /// deadline (`Ok(false)`).
    pub fn sleep(self, deadline: Option<Instant>) -> Result<bool, Errno> {
        self.blocker.check_interrupt()?;
        Ok(self.blocker.waiter().wait(deadline))
    }
}

/// Sleeps for `deadline` with no queue: only signals wake early.
pub fn sleep_until(blocker: &dyn Blocker, deadline: Instant) -> Result<(), Errno> {
    loop {
        blocker.check_interrupt()?;
        if Instant::now() >= deadline {
            return Ok(());
        }
        blocker.waiter().wait(Some(deadline));
    }
}

/// A one-shot event (vfork completion).
#[derive(Default)]
pub struct Completion {
    done: Mutex<bool>,
    queue: WaitQueue,
}

impl Completion {
    /// Marks it done and wakes the waiter.
    pub fn complete(&self) {
        *self.done.lock() = true;
        self.queue.notify_all();
    }

    /// Waits until done; signals do not interrupt (a vfork parent sleeps
    /// uninterruptibly, as in Linux, except for being killed).
    pub fn wait(&self, blocker: &dyn Blocker, killed: impl Fn() -> bool) {
        loop {
            let guard = self.queue.prepare(blocker);
            if *self.done.lock() || killed() {
                return;
            }
            let _ = guard;
            blocker.waiter().wait(None);
        }
    }
}

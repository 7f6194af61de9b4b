//! PI futexes (Linux's kernel/futex/pi.c and the requeue-PI half of
//! requeue.c): FUTEX_LOCK_PI(2), FUTEX_TRYLOCK_PI, FUTEX_UNLOCK_PI,
//! FUTEX_WAIT_REQUEUE_PI and FUTEX_CMP_REQUEUE_PI, and the hand-over of a
//! dying owner's locks.
//!
//! The futex word holds the owner's tid, FUTEX_WAITERS while sleepers may
//! be in the kernel (Linux keeps it set for as long as a `pi_state` exists,
//! so a hand-over always writes `new owner | FUTEX_WAITERS`), and
//! FUTEX_OWNER_DIED after an owner died holding it. The kernel side of a
//! PI futex with sleepers is its owner's tid in [`Table::pi_owner`], which
//! stands for Linux's `pi_state` and its rt_mutex: sleepers are served in
//! arrival order (Linux orders them by priority; here every task has the
//! same, see below), and whoever releases the lock (an unlock, a requeue
//! that takes it for a sleeper, the owner's death) writes the new owner's
//! word while holding the table, so the word and the table never
//! disagree for another locker.
//!
//! Priority inheritance itself (boosting the owner to its top sleeper's
//! priority) is not done: the guest's policies and priorities are stored
//! and reported (`kernel::sched`), but the host schedules every guest
//! thread alike, so there is nothing to boost.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::{
    FUTEX_OWNER_DIED, FUTEX_TID_MASK, FUTEX_WAITERS, FutexWaiter, Futexes, Key, Kind, PiSleeper,
    Table, drop_pi_if_unused, enqueue_kind, unqueue,
};
use crate::errno::Errno;
use crate::kernel::exit::TaskState;
use crate::kernel::task::{SysResult, Task};
use crate::kernel::wait::Blocker;
use crate::mm::AddressSpace;

/// What `lock_pi_atomic` did.
enum Locked {
    /// The word now names the locker as owner.
    Acquired,
    /// Someone owns it; the PI state (owner) is set up to sleep on.
    Contended,
}

/// Why `lock_pi_atomic` did not settle.
enum Again {
    /// The word changed under us (or names another owner than the one
    /// looked up): start over.
    Retry,
    /// The owner is exiting: wait for its exit to finish, then start over.
    OwnerExiting,
    /// A final error.
    Fail(Errno),
}

impl From<Errno> for Again {
    fn from(e: Errno) -> Self {
        Again::Fail(e)
    }
}

/// The owner a word names, looked up before the futex table is taken
/// (`Kernel::table` comes first in the lock order): its tid and task.
struct Owner(u32, Option<Arc<Task>>);

fn look_up_owner(task: &Task, word: u32) -> Owner {
    let pid = word & FUTEX_TID_MASK;
    if pid == 0 {
        return Owner(pid, None);
    }
    let found = task.kernel.table.lock().tasks.get(&(pid as i32)).cloned();
    Owner(pid, found)
}

/// Linux's futex_lock_pi_atomic: tries to take the PI futex at `uaddr` of
/// `mm` (key `k`) for `tid`, or else attaches to (or sets up) its PI state
/// so that `tid` can sleep for it. `set_waiters`: also set FUTEX_WAITERS
/// (and the PI state) when taking it (requeue-PI, with sleepers to follow).
#[allow(clippy::too_many_arguments)]
fn lock_pi_atomic(
    tab: &mut Table,
    mm: &AddressSpace,
    uaddr: u64,
    k: Key,
    tid: i32,
    set_waiters: bool,
    owner: &Owner,
) -> Result<Locked, Again> {
    let uval = mm.read_u32(uaddr)?;
    if uval & FUTEX_TID_MASK == tid as u32 {
        return Err(Errno::EDEADLOCK.into());
    }
    if let Some(top) = tab.queues.get(&k).and_then(|q| q.first()) {
        // attach_to_pi_state: a non-PI sleeper means PI and non-PI
        // operations were mixed; the word must name the PI state's owner
        // (or nobody, when that owner died).
        if top.kind() != Kind::PiLock {
            return Err(Errno::EINVAL.into());
        }
        let Some(&state_owner) = tab.pi_owner.get(&k) else {
            return Err(Errno::EINVAL.into());
        };
        let pid = uval & FUTEX_TID_MASK;
        if (uval & FUTEX_OWNER_DIED != 0 && pid == 0) || pid == state_owner as u32 {
            return Ok(Locked::Contended);
        }
        return Err(Errno::EINVAL.into());
    }
    if uval & FUTEX_TID_MASK == 0 {
        // Free (perhaps with OWNER_DIED, which stays): take it.
        let waiters = if set_waiters { FUTEX_WAITERS } else { 0 };
        let newval = (uval & FUTEX_OWNER_DIED) | tid as u32 | waiters;
        if mm.cmpxchg_u32(uaddr, uval, newval)? != uval {
            return Err(Again::Retry);
        }
        if set_waiters {
            tab.pi_owner.insert(k, tid);
        }
        return Ok(Locked::Acquired);
    }
    // The first sleeper: set FUTEX_WAITERS (it stays even when the owner
    // turns out to be bogus), then find the owner (attach_to_pi_owner).
    let newval = uval | FUTEX_WAITERS;
    if mm.cmpxchg_u32(uaddr, uval, newval)? != uval {
        return Err(Again::Retry);
    }
    let pid = uval & FUTEX_TID_MASK;
    if owner.0 != pid {
        return Err(Again::Retry);
    }
    match &owner.1 {
        // handle_exit_race: no such task. If the word still says so, the
        // owner died without a robust list (or the word is bogus).
        None => {
            if mm.read_u32(uaddr)? != newval {
                Err(Again::Retry)
            } else {
                Err(Errno::ESRCH.into())
            }
        }
        Some(t) if matches!(t.state.get(), TaskState::Exiting | TaskState::Dead) => {
            Err(Again::OwnerExiting)
        }
        Some(_) => {
            tab.pi_owner.insert(k, pid as i32);
            Ok(Locked::Contended)
        }
    }
}

/// Waits a moment for an exiting owner to finish its exit (it leaves the
/// pid table after handing its PI futexes over).
fn wait_for_owner_exit(task: &Task) -> Result<(), Errno> {
    if task.check_interrupt().is_err() {
        return Err(Errno::ERESTARTNOINTR);
    }
    std::thread::sleep(Duration::from_millis(1));
    Ok(())
}

/// Hands the PI futex `k` over to its top PI sleeper, which `sleeper`
/// (removed from the queue already) is: its lock is taken, the table
/// records it as the owner (the caller drops that record once no sleeper
/// is left).
fn grant(tab: &mut Table, k: Key, sleeper: &Arc<FutexWaiter>, tid: i32) {
    tab.pi_owner.insert(k, tid);
    *sleeper.kind.lock() = Kind::PiLock;
    sleeper.woken.store(true, Ordering::SeqCst);
    sleeper.waiter.notify();
}

/// Takes `fw` out of `k`'s queue.
fn take(tab: &mut Table, k: Key, fw: &Arc<FutexWaiter>) {
    if let Some(q) = tab.queues.get_mut(&k) {
        q.retain(|w| !Arc::ptr_eq(w, fw));
        if q.is_empty() {
            tab.queues.remove(&k);
        }
    }
}

impl Futexes {
    /// FUTEX_LOCK_PI, FUTEX_LOCK_PI2 and (`trylock`) FUTEX_TRYLOCK_PI on
    /// the word at `uaddr` of `mm`: 0 once the caller owns it, EDEADLK if
    /// it already does, ESRCH if the word names a task that does not
    /// exist, EWOULDBLOCK for a trylock that would sleep, ETIMEDOUT at
    /// `deadline`; a signal restarts it (ERESTARTNOINTR).
    pub fn lock_pi(
        &self,
        task: &Arc<Task>,
        mm: &Arc<AddressSpace>,
        k: Key,
        uaddr: u64,
        deadline: Option<Instant>,
        trylock: bool,
    ) -> SysResult {
        let tid = task.tid;
        let fw = loop {
            let owner = look_up_owner(task, mm.read_u32(uaddr)?);
            let mut tab = self.table.lock();
            match lock_pi_atomic(&mut tab, mm, uaddr, k, tid, false, &owner) {
                Ok(Locked::Acquired) => return Ok(0),
                Ok(Locked::Contended) if trylock => {
                    drop_pi_if_unused(&mut tab, k);
                    return Err(Errno::EAGAIN.into());
                }
                Ok(Locked::Contended) => {
                    let me = PiSleeper {
                        tid,
                        mm: Arc::clone(mm),
                        uaddr,
                    };
                    break enqueue_kind(
                        &mut tab,
                        k,
                        &task.waiter,
                        u32::MAX,
                        Kind::PiLock,
                        Some(me),
                    );
                }
                Err(Again::Retry) => continue,
                Err(Again::OwnerExiting) => {
                    drop(tab);
                    wait_for_owner_exit(task)?;
                }
                Err(Again::Fail(e)) => return Err(e.into()),
            }
        };
        self.sleep_pi(task, &fw, deadline)
    }

    /// Sleeps until `fw` owns its PI lock (0), `deadline` (ETIMEDOUT) or a
    /// signal: ERESTARTNOINTR while it sleeps for the lock itself or
    /// waits to be requeued, EWOULDBLOCK for a requeued
    /// FUTEX_WAIT_REQUEUE_PI (Linux cannot restart that one).
    fn sleep_pi(
        &self,
        task: &Arc<Task>,
        fw: &Arc<FutexWaiter>,
        deadline: Option<Instant>,
    ) -> SysResult {
        let requeue_pi = matches!(fw.kind(), Kind::RequeuePi(_));
        loop {
            if fw.woken.load(Ordering::SeqCst) {
                return Ok(0);
            }
            let timed_out = deadline.is_some_and(|d| Instant::now() >= d);
            if timed_out || task.check_interrupt().is_err() {
                let mut tab = self.table.lock();
                // A lock handed over meanwhile is ours: success.
                if fw.woken.load(Ordering::SeqCst) {
                    return Ok(0);
                }
                let requeued = requeue_pi && fw.kind() == Kind::PiLock;
                unqueue(&mut tab, fw);
                return Err(if timed_out {
                    Errno::ETIMEDOUT
                } else if requeued {
                    Errno::EAGAIN
                } else {
                    Errno::ERESTARTNOINTR
                }
                .into());
            }
            task.waiter.wait(deadline);
        }
    }

    /// FUTEX_UNLOCK_PI: the caller must own the word at `uaddr` (EPERM).
    /// With sleepers, the first gets the lock (the word becomes its tid
    /// with FUTEX_WAITERS); without, the word becomes 0.
    pub fn unlock_pi(
        &self,
        task: &Arc<Task>,
        mm: &Arc<AddressSpace>,
        k: Key,
        uaddr: u64,
    ) -> SysResult {
        let tid = task.tid;
        loop {
            let uval = mm.read_u32(uaddr)?;
            if uval & FUTEX_TID_MASK != tid as u32 {
                return Err(Errno::EPERM.into());
            }
            let mut tab = self.table.lock();
            if let Some(top) = tab.queues.get(&k).and_then(|q| q.first()).cloned() {
                // The word says we own it; the PI state must agree.
                if top.kind() != Kind::PiLock || tab.pi_owner.get(&k) != Some(&tid) {
                    return Err(Errno::EINVAL.into());
                }
                let new_owner = top.pi.as_ref().map_or(0, |p| p.tid);
                let newval = FUTEX_WAITERS | new_owner as u32;
                let cur = mm.cmpxchg_u32(uaddr, uval, newval)?;
                if cur != uval {
                    // A sleeper set FUTEX_WAITERS since we read it: again.
                    if cur & FUTEX_TID_MASK == uval {
                        continue;
                    }
                    return Err(Errno::EINVAL.into());
                }
                take(&mut tab, k, &top);
                grant(&mut tab, k, &top, new_owner);
                drop_pi_if_unused(&mut tab, k);
                return Ok(0);
            }
            // No sleepers: neither FUTEX_WAITERS nor OWNER_DIED stays.
            let cur = mm.cmpxchg_u32(uaddr, uval, 0)?;
            return if cur == uval {
                Ok(0)
            } else {
                Err(Errno::EAGAIN.into())
            };
        }
    }

    /// FUTEX_WAIT_REQUEUE_PI: sleeps on `k` (the word at `uaddr` must
    /// still hold `val`, else EAGAIN) until FUTEX_CMP_REQUEUE_PI either
    /// takes the PI futex `k2` (at `uaddr2`) for it or moves it there to
    /// sleep for that lock. 0 once it owns `uaddr2`.
    #[allow(clippy::too_many_arguments)]
    pub fn wait_requeue_pi(
        &self,
        task: &Arc<Task>,
        mm: &Arc<AddressSpace>,
        k: Key,
        uaddr: u64,
        val: u32,
        k2: Key,
        uaddr2: u64,
        deadline: Option<Instant>,
    ) -> SysResult {
        let fw = {
            let mut tab = self.table.lock();
            if mm.read_u32(uaddr)? != val {
                return Err(Errno::EAGAIN.into());
            }
            // The address check is not enough for shared futexes.
            if k == k2 {
                return Err(Errno::EINVAL.into());
            }
            let me = PiSleeper {
                tid: task.tid,
                mm: Arc::clone(mm),
                uaddr: uaddr2,
            };
            enqueue_kind(
                &mut tab,
                k,
                &task.waiter,
                u32::MAX,
                Kind::RequeuePi(k2),
                Some(me),
            )
        };
        self.sleep_pi(task, &fw, deadline)
    }

    /// FUTEX_CMP_REQUEUE_PI (nr_wake is 1, checked by the caller): if the
    /// word at `uaddr` still holds `cmpval` (else EAGAIN), takes the PI
    /// futex at `uaddr2` for the first sleeper of `k1` when it is free
    /// (waking it), and moves up to `nr_requeue` of the others (all of
    /// them sleepers of FUTEX_WAIT_REQUEUE_PI for `k2`, else EINVAL) to
    /// sleep for that lock. Returns how many were woken or moved.
    #[allow(clippy::too_many_arguments)]
    pub fn cmp_requeue_pi(
        &self,
        task: &Arc<Task>,
        mm: &Arc<AddressSpace>,
        k1: Key,
        k2: Key,
        uaddr: u64,
        uaddr2: u64,
        cmpval: u32,
        nr_requeue: u32,
    ) -> SysResult {
        if k1 == k2 {
            return Err(Errno::EINVAL.into());
        }
        let nr_requeue = i64::from(nr_requeue);
        loop {
            let owner = look_up_owner(task, mm.read_u32(uaddr2)?);
            let mut tab = self.table.lock();
            if mm.read_u32(uaddr)? != cmpval {
                return Err(Errno::EAGAIN.into());
            }
            let mut count: i64 = 0;
            // futex_proxy_trylock_atomic: the top sleeper.
            if let Some(top) = tab.queues.get(&k1).and_then(|q| q.first()).cloned() {
                if top.kind() != Kind::RequeuePi(k2) {
                    return Err(Errno::EINVAL.into());
                }
                let top_tid = top.pi.as_ref().map_or(0, |p| p.tid);
                match lock_pi_atomic(&mut tab, mm, uaddr2, k2, top_tid, nr_requeue > 0, &owner) {
                    Ok(Locked::Acquired) => {
                        take(&mut tab, k1, &top);
                        *top.key.lock() = k2;
                        grant(&mut tab, k2, &top, top_tid);
                        count = 1;
                    }
                    Ok(Locked::Contended) => {}
                    Err(Again::Retry) => continue,
                    Err(Again::OwnerExiting) => {
                        drop(tab);
                        wait_for_owner_exit(task)?;
                        continue;
                    }
                    Err(Again::Fail(e)) => return Err(e.into()),
                }
            }
            // Requeue the others (and the top one when the lock was held):
            // nr_wake (1) + nr_requeue sleepers in all, as Linux counts.
            let mut result = Ok(());
            while let Some(w) = tab.queues.get(&k1).and_then(|q| q.first()).cloned() {
                if count > nr_requeue {
                    break;
                }
                if w.kind() != Kind::RequeuePi(k2) {
                    result = Err(Errno::EINVAL);
                    break;
                }
                let w_tid = w.pi.as_ref().map_or(0, |p| p.tid);
                // rt_mutex_start_proxy_lock's deadlock check.
                if tab.pi_owner.get(&k2) == Some(&w_tid) {
                    result = Err(Errno::EDEADLOCK);
                    break;
                }
                take(&mut tab, k1, &w);
                *w.key.lock() = k2;
                *w.kind.lock() = Kind::PiLock;
                tab.queues.entry(k2).or_default().push(w);
                count += 1;
            }
            drop_pi_if_unused(&mut tab, k2);
            return match result {
                Ok(()) => Ok(count as u64),
                Err(e) => Err(e.into()),
            };
        }
    }

    /// A thread exits (or execs) owning PI futexes: each one with sleepers
    /// goes to its first sleeper with FUTEX_OWNER_DIED, as Linux's
    /// exit_pi_state_list and the new owner's fixup_pi_state_owner do (a
    /// robust list has already marked the word, see
    /// [`Futexes::exit_robust_list`]). One without sleepers keeps the
    /// dead tid: the next locker gets ESRCH unless a robust list cleared it.
    pub fn exit_pi_state(&self, tid: i32) {
        let mut tab = self.table.lock();
        let owned: Vec<Key> = tab
            .pi_owner
            .iter()
            .filter(|&(_, &o)| o == tid)
            .map(|(&k, _)| k)
            .collect();
        for k in owned {
            let top = tab
                .queues
                .get(&k)
                .and_then(|q| q.iter().find(|w| w.kind() == Kind::PiLock))
                .cloned();
            let Some(top) = top else {
                tab.pi_owner.remove(&k);
                continue;
            };
            let Some(pi) = top.pi.as_ref() else {
                continue;
            };
            let newtid = pi.tid as u32 | FUTEX_WAITERS | FUTEX_OWNER_DIED;
            if let Ok(mut uval) = pi.mm.read_u32(pi.uaddr) {
                for _ in 0..64 {
                    match pi
                        .mm
                        .cmpxchg_u32(pi.uaddr, uval, (uval & FUTEX_OWNER_DIED) | newtid)
                    {
                        Ok(cur) if cur == uval => break,
                        Ok(cur) => uval = cur,
                        Err(_) => break,
                    }
                }
            }
            let new_owner = pi.tid;
            take(&mut tab, k, &top);
            grant(&mut tab, k, &top, new_owner);
            drop_pi_if_unused(&mut tab, k);
        }
    }
}

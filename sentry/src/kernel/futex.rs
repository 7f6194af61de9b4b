//! The futex engine, owned by the [`Kernel`](super::Kernel): the table of
//! sleepers by key, and wait, wake, requeue, wake-op, wait-on-many, the
//! wake-up of clear_child_tid and the robust-list walk at thread death.
//! futex(2) and futex_waitv(2) only decode their arguments
//! (`syscalls/futex.rs`) and call these.
//!
//! Keys: a private futex (or any futex in private memory) is keyed by its
//! address space and address; a shared futex in a MAP_SHARED mapping by the
//! memory object and offset, so separate processes meet.
//!
//! Lock order: [`Futexes::table`] is taken after task and thread-group
//! locks and before memory locks (it reads and compares-and-exchanges user
//! words while held, as Linux holds the hash-bucket lock); waiters are
//! notified with it held, and nobody sleeps holding it.

mod pi;

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use parking_lot::Mutex;

use super::task::{SysResult, Task};
use super::wait::{Blocker, Waiter};
use crate::abi::UserPtr;
use crate::abi::process::RobustListHead;
use crate::errno::Errno;
use crate::mm::AddressSpace;

/// Where a futex word lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// (address space, address).
    Private(usize, u64),
    /// (shared memory object, offset).
    Shared(usize, u64),
}

impl Key {
    /// The key of the word at `addr` of `mm`: by address space when
    /// `private` (FUTEX_PRIVATE_FLAG) or when the memory is private, else
    /// by the shared memory object.
    pub fn new(mm: &Arc<AddressSpace>, addr: u64, private: bool) -> Self {
        if !private && let Some((obj, off)) = mm.shared_key(addr) {
            return Key::Shared(obj, off);
        }
        Key::Private(Arc::as_ptr(mm) as usize, addr)
    }
}

/// What a sleeper waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    /// FUTEX_WAIT and its kin: a wake-up.
    Plain,
    /// FUTEX_WAIT_REQUEUE_PI, still on its (non-PI) first futex: to be
    /// requeued to the PI futex with this key by FUTEX_CMP_REQUEUE_PI.
    RequeuePi(Key),
    /// A PI futex's lock (FUTEX_LOCK_PI, or a requeued waiter): the lock,
    /// handed over by its owner's unlock or death.
    PiLock,
}

/// Who sleeps for a PI lock, and where its futex word is in its own
/// address space (so that whoever hands the lock over writes it there).
struct PiSleeper {
    tid: i32,
    mm: Arc<AddressSpace>,
    uaddr: u64,
}

struct FutexWaiter {
    waiter: Arc<Waiter>,
    /// Set when woken; for a PI sleeper, when it owns the lock.
    woken: AtomicBool,
    bitset: u32,
    key: Mutex<Key>,
    kind: Mutex<Kind>,
    pi: Option<PiSleeper>,
}

impl FutexWaiter {
    fn kind(&self) -> Kind {
        *self.kind.lock()
    }
}

/// The futex word's bits (the rest is the owner's tid).
const FUTEX_WAITERS: u32 = 0x8000_0000;
const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
const FUTEX_TID_MASK: u32 = 0x3fff_ffff;

type Queues = HashMap<Key, Vec<Arc<FutexWaiter>>>;

/// The sleepers by key, and the owner of each PI futex that has sleepers
/// in the kernel (Linux's `pi_state`: it exists while PI sleepers do).
#[derive(Default)]
struct Table {
    queues: Queues,
    pi_owner: HashMap<Key, i32>,
}

/// The kernel's futex table.
#[derive(Default)]
pub struct Futexes {
    table: Mutex<Table>,
}

fn enqueue(t: &mut Table, k: Key, waiter: &Arc<Waiter>, bitset: u32) -> Arc<FutexWaiter> {
    enqueue_kind(t, k, waiter, bitset, Kind::Plain, None)
}

fn enqueue_kind(
    t: &mut Table,
    k: Key,
    waiter: &Arc<Waiter>,
    bitset: u32,
    kind: Kind,
    pi: Option<PiSleeper>,
) -> Arc<FutexWaiter> {
    let fw = Arc::new(FutexWaiter {
        waiter: Arc::clone(waiter),
        woken: AtomicBool::new(false),
        bitset,
        key: Mutex::new(k),
        kind: Mutex::new(kind),
        pi,
    });
    t.queues.entry(k).or_default().push(Arc::clone(&fw));
    fw
}

/// Wakes up to `n` plain sleepers on `k` whose bitset meets `bitset`, in
/// order. Meeting a PI or requeue-PI sleeper first is EINVAL (those
/// already woken stay woken), as in Linux's futex_wake.
fn wake_key(t: &mut Table, k: Key, n: u64, bitset: u32) -> Result<u64, Errno> {
    let Some(q) = t.queues.get_mut(&k) else {
        return Ok(0);
    };
    let mut woken = 0;
    let mut result = Ok(());
    let mut i = 0;
    while i < q.len() && woken < n {
        let w = &q[i];
        if w.kind() != Kind::Plain {
            result = Err(Errno::EINVAL);
            break;
        }
        if w.bitset & bitset != 0 {
            w.woken.store(true, Ordering::SeqCst);
            w.waiter.notify();
            woken += 1;
            q.remove(i);
        } else {
            i += 1;
        }
    }
    if q.is_empty() {
        t.queues.remove(&k);
    }
    result.map(|()| woken)
}

/// Takes `fw` off its queue (wherever requeues moved it), and drops the
/// PI state of its key when no PI sleeper is left there.
fn unqueue(t: &mut Table, fw: &Arc<FutexWaiter>) {
    let k = *fw.key.lock();
    if let Some(q) = t.queues.get_mut(&k) {
        q.retain(|w| !Arc::ptr_eq(w, fw));
        if q.is_empty() {
            t.queues.remove(&k);
        }
    }
    drop_pi_if_unused(t, k);
}

/// Forgets the owner of the PI futex `k` when no sleeper waits for its
/// lock any more (Linux frees the `pi_state` with its last waiter).
fn drop_pi_if_unused(t: &mut Table, k: Key) {
    let used = t
        .queues
        .get(&k)
        .is_some_and(|q| q.iter().any(|w| w.kind() == Kind::PiLock));
    if !used {
        t.pi_owner.remove(&k);
    }
}

/// Applies a FUTEX_WAKE_OP operation and tells whether its comparison holds.
fn wake_op(mm: &AddressSpace, uaddr2: u64, encoded: u32) -> Result<bool, Errno> {
    let op = (encoded >> 28) & 7;
    let cmp = (encoded >> 24) & 15;
    // Sign-extend the 12-bit arguments as the kernel does.
    let sx = |v: u32| ((v << 20) as i32 >> 20) as u32;
    let mut oparg = sx((encoded >> 12) & 0xfff);
    let cmparg = sx(encoded & 0xfff);
    if encoded & (8 << 28) != 0 {
        // Linux logs an out-of-range shift and masks it (it does not fail).
        oparg = 1 << (oparg & 31);
    }
    let old = loop {
        let cur = mm.read_u32(uaddr2)?;
        let new = match op {
            0 => oparg,
            1 => cur.wrapping_add(oparg),
            2 => cur | oparg,
            3 => cur & !oparg,
            4 => cur ^ oparg,
            _ => return Err(Errno::ENOSYS),
        };
        if mm.cmpxchg_u32(uaddr2, cur, new)? == cur {
            break cur;
        }
    };
    let (a, b) = (old as i32, cmparg as i32);
    Ok(match cmp {
        0 => a == b,
        1 => a != b,
        2 => a < b,
        3 => a <= b,
        4 => a > b,
        5 => a >= b,
        _ => return Err(Errno::ENOSYS),
    })
}

impl Futexes {
    fn remove(&self, fw: &Arc<FutexWaiter>) {
        unqueue(&mut self.table.lock(), fw);
    }

    /// Wakes up to `n` waiters on `k` whose bitset meets `bitset`.
    /// Returns how many (EINVAL if a PI sleeper is met first).
    pub fn wake(&self, k: Key, n: u64, bitset: u32) -> Result<u64, Errno> {
        wake_key(&mut self.table.lock(), k, n, bitset)
    }

    /// Wakes up to `n` waiters on the word at `addr` of `mm` (any bitset,
    /// shared key when the memory is shared), as clear_child_tid does.
    pub fn wake_addr(&self, mm: &Arc<AddressSpace>, addr: u64, n: u32) -> u64 {
        self.wake(Key::new(mm, addr, false), n as u64, u32::MAX)
            .unwrap_or(0)
    }

    /// Sleeps on `k` if the word at `uaddr` still holds `val` (EAGAIN
    /// otherwise), until woken (0), `deadline` (ETIMEDOUT) or a signal
    /// (ERESTARTSYS).
    #[allow(clippy::too_many_arguments)]
    pub fn wait(
        &self,
        task: &Arc<Task>,
        mm: &Arc<AddressSpace>,
        k: Key,
        uaddr: u64,
        val: u32,
        bitset: u32,
        deadline: Option<Instant>,
    ) -> SysResult {
        let fw = {
            let mut t = self.table.lock();
            if mm.read_u32(uaddr)? != val {
                return Err(Errno::EAGAIN.into());
            }
            enqueue(&mut t, k, &task.waiter, bitset)
        };
        loop {
            if fw.woken.load(Ordering::SeqCst) {
                return Ok(0);
            }
            if task.check_interrupt().is_err() {
                self.remove(&fw);
                if fw.woken.load(Ordering::SeqCst) {
                    return Ok(0);
                }
                return Err(Errno::ERESTARTSYS.into());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                self.remove(&fw);
                if fw.woken.load(Ordering::SeqCst) {
                    return Ok(0);
                }
                return Err(Errno::ETIMEDOUT.into());
            }
            task.waiter.wait(deadline);
        }
    }

    /// FUTEX_REQUEUE and FUTEX_CMP_REQUEUE (`expect`: the value the word at
    /// `uaddr` must hold, else EAGAIN): wakes up to `nr_wake` waiters on
    /// `k` and moves up to `nr_requeue` of the others to `k2`. Returns
    /// woken + requeued.
    #[allow(clippy::too_many_arguments)]
    pub fn requeue(
        &self,
        mm: &AddressSpace,
        k: Key,
        k2: Key,
        uaddr: u64,
        expect: Option<u32>,
        nr_wake: u64,
        nr_requeue: usize,
    ) -> Result<u64, Errno> {
        let mut tab = self.table.lock();
        if let Some(v) = expect
            && mm.read_u32(uaddr)? != v
        {
            return Err(Errno::EAGAIN);
        }
        // One pass in order, as Linux's futex_requeue: the first `nr_wake`
        // are woken, the next `nr_requeue` moved; a PI or requeue-PI
        // sleeper stops it with EINVAL (what was done stays done).
        let mut woken = 0;
        let mut moved = Vec::new();
        let mut result = Ok(());
        if let Some(q) = tab.queues.get_mut(&k) {
            while let Some(w) = q.first() {
                if woken + moved.len() as u64 >= nr_wake.saturating_add(nr_requeue as u64) {
                    break;
                }
                if w.kind() != Kind::Plain {
                    result = Err(Errno::EINVAL);
                    break;
                }
                let w = q.remove(0);
                if woken < nr_wake {
                    w.woken.store(true, Ordering::SeqCst);
                    w.waiter.notify();
                    woken += 1;
                } else {
                    moved.push(w);
                }
            }
            if q.is_empty() {
                tab.queues.remove(&k);
            }
        }
        let requeued = moved.len() as u64;
        for w in &moved {
            *w.key.lock() = k2;
        }
        if !moved.is_empty() {
            tab.queues.entry(k2).or_default().extend(moved);
        }
        result.map(|()| woken + requeued)
    }

    /// FUTEX_WAKE_OP: applies the operation `encoded` to the word at
    /// `uaddr2`, wakes up to `nr_wake` waiters on `k`, and, when the
    /// operation's comparison holds, up to `nr_wake2` on `k2`.
    #[allow(clippy::too_many_arguments)]
    pub fn wake_op(
        &self,
        mm: &AddressSpace,
        k: Key,
        k2: Key,
        uaddr2: u64,
        encoded: u32,
        nr_wake: u64,
        nr_wake2: u64,
    ) -> Result<u64, Errno> {
        let mut tab = self.table.lock();
        let cond = wake_op(mm, uaddr2, encoded)?;
        let mut n = wake_key(&mut tab, k, nr_wake, u32::MAX)?;
        if cond {
            n += wake_key(&mut tab, k2, nr_wake2, u32::MAX)?;
        }
        Ok(n)
    }

    /// futex_waitv: sleeps on every `(key, uaddr, val)` at once (EAGAIN if
    /// any word no longer holds its value) and returns the index of one
    /// that was woken.
    pub fn wait_many(
        &self,
        task: &Arc<Task>,
        mm: &Arc<AddressSpace>,
        entries: &[(Key, u64, u32)],
        deadline: Option<Instant>,
    ) -> SysResult {
        let mut queued = Vec::with_capacity(entries.len());
        {
            let mut tab = self.table.lock();
            for (i, (k, uaddr, val)) in entries.iter().enumerate() {
                if mm.read_u32(*uaddr)? != *val {
                    for (fw, _) in &queued {
                        unqueue(&mut tab, fw);
                    }
                    return Err(Errno::EAGAIN.into());
                }
                queued.push((enqueue(&mut tab, *k, &task.waiter, u32::MAX), i));
            }
        }
        let result = loop {
            if let Some((_, i)) = queued.iter().find(|(w, _)| w.woken.load(Ordering::SeqCst)) {
                break Ok(*i as u64);
            }
            if task.check_interrupt().is_err() {
                break Err(Errno::ERESTARTSYS.into());
            }
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break Err(Errno::ETIMEDOUT.into());
            }
            task.waiter.wait(deadline);
        };
        for (fw, _) in &queued {
            self.remove(fw);
        }
        // A wake-up that raced with the timeout or the signal still counts.
        if result.is_err()
            && let Some((_, i)) = queued.iter().find(|(w, _)| w.woken.load(Ordering::SeqCst))
        {
            return Ok(*i as u64);
        }
        result
    }

    /// Walks a dying thread's robust futex list (set_robust_list), marking
    /// each futex it holds FUTEX_OWNER_DIED, as Linux's exit_robust_list
    /// and handle_futex_death: a plain futex with waiters gets a wake-up
    /// (also the pending one whose owner field is 0); a PI one (bit 0 of
    /// its entry) is handed over by [`Futexes::exit_pi_state`] instead.
    pub fn exit_robust_list(&self, mm: &Arc<AddressSpace>, tid: i32, head: u64) {
        const LIST_LIMIT: usize = 2048;
        // Any fault reading the head ends the walk, as in Linux.
        let Ok(RobustListHead {
            next: first,
            futex_offset: offset,
            op_pending: pending,
        }) = UserPtr::<RobustListHead>::new(head).read(mm)
        else {
            return;
        };
        // false: stop the walk (a misaligned or unreadable futex).
        let death = |entry: u64, pi: bool, pending_op: bool| -> bool {
            let uaddr = entry.wrapping_add_signed(offset);
            if uaddr % 4 != 0 {
                return false;
            }
            loop {
                let Ok(v) = mm.read_u32(uaddr) else {
                    return false;
                };
                let owner = v & FUTEX_TID_MASK;
                if pending_op && !pi && owner == 0 {
                    self.wake_addr(mm, uaddr, 1);
                    return true;
                }
                if owner != tid as u32 {
                    return true;
                }
                let new = (v & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
                match mm.cmpxchg_u32(uaddr, v, new) {
                    Ok(found) if found == v => {
                        if !pi && v & FUTEX_WAITERS != 0 {
                            self.wake_addr(mm, uaddr, 1);
                        }
                        return true;
                    }
                    Ok(_) => continue,
                    Err(_) => return false,
                }
            }
        };
        let (pending, pending_pi) = (pending & !1, pending & 1 != 0);
        let (mut entry, mut pi) = (first & !1, first & 1 != 0);
        let mut limit = LIST_LIMIT;
        while entry != head {
            let next = mm.read_u64(entry);
            if entry != pending && !death(entry, pi, false) {
                return;
            }
            let Ok(next) = next else { return };
            (entry, pi) = (next & !1, next & 1 != 0);
            limit -= 1;
            if limit == 0 {
                break;
            }
        }
        if pending != 0 {
            death(pending, pending_pi, true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sleepers(f: &Futexes) -> usize {
        f.table.lock().queues.values().map(Vec::len).sum()
    }

    fn sleep_on(f: &Futexes, k: Key, bitset: u32) -> Arc<FutexWaiter> {
        enqueue(&mut f.table.lock(), k, &Arc::new(Waiter::default()), bitset)
    }

    #[test]
    fn wake_takes_the_oldest_sleepers_up_to_the_count() {
        let f = Futexes::default();
        let k = Key::Private(1, 0x1000);
        let ws: Vec<_> = (0..3).map(|_| sleep_on(&f, k, u32::MAX)).collect();
        assert_eq!(f.wake(k, 2, u32::MAX), Ok(2));
        let woken: Vec<bool> = ws.iter().map(|w| w.woken.load(Ordering::SeqCst)).collect();
        assert_eq!(woken, [true, true, false]);
        assert_eq!(sleepers(&f), 1);
        assert_eq!(f.wake(k, 5, u32::MAX), Ok(1));
        assert_eq!(sleepers(&f), 0, "an empty queue is removed");
        assert_eq!(f.wake(k, 5, u32::MAX), Ok(0));
    }

    #[test]
    fn wake_bitset_skips_sleepers_whose_bits_do_not_meet() {
        let f = Futexes::default();
        let k = Key::Shared(7, 0);
        let a = sleep_on(&f, k, 0b01);
        let b = sleep_on(&f, k, 0b10);
        assert_eq!(f.wake(k, 10, 0b10), Ok(1));
        assert!(!a.woken.load(Ordering::SeqCst));
        assert!(b.woken.load(Ordering::SeqCst));
        // A different key (another address, or private vs shared) meets
        // no one.
        assert_eq!(f.wake(Key::Private(7, 0), 10, u32::MAX), Ok(0));
        assert_eq!(f.wake(Key::Shared(7, 4), 10, u32::MAX), Ok(0));
        assert_eq!(f.wake(k, 10, u32::MAX), Ok(1));
    }

    #[test]
    fn each_kernel_has_its_own_table() {
        let (one, two) = (Futexes::default(), Futexes::default());
        let k = Key::Shared(3, 0x40);
        let w = sleep_on(&one, k, u32::MAX);
        assert_eq!(two.wake(k, 1, u32::MAX), Ok(0));
        assert!(!w.woken.load(Ordering::SeqCst));
        assert_eq!(one.wake(k, 1, u32::MAX), Ok(1));
    }

    #[test]
    fn a_removed_sleeper_is_not_woken() {
        let f = Futexes::default();
        let k = Key::Private(2, 8);
        let a = sleep_on(&f, k, u32::MAX);
        let b = sleep_on(&f, k, u32::MAX);
        f.remove(&a);
        assert_eq!(f.wake(k, 1, u32::MAX), Ok(1));
        assert!(!a.woken.load(Ordering::SeqCst));
        assert!(b.woken.load(Ordering::SeqCst));
    }
}

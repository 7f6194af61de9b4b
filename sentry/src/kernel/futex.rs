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

struct FutexWaiter {
    waiter: Arc<Waiter>,
    woken: AtomicBool,
    bitset: u32,
    key: Mutex<Key>,
}

type Queues = HashMap<Key, Vec<Arc<FutexWaiter>>>;

/// The kernel's futex table.
#[derive(Default)]
pub struct Futexes {
    table: Mutex<Queues>,
}

fn enqueue(t: &mut Queues, k: Key, waiter: &Arc<Waiter>, bitset: u32) -> Arc<FutexWaiter> {
    let fw = Arc::new(FutexWaiter {
        waiter: Arc::clone(waiter),
        woken: AtomicBool::new(false),
        bitset,
        key: Mutex::new(k),
    });
    t.entry(k).or_default().push(Arc::clone(&fw));
    fw
}

fn wake_key(t: &mut Queues, k: Key, n: u64, bitset: u32) -> u64 {
    let Some(q) = t.get_mut(&k) else { return 0 };
    let mut woken = 0;
    q.retain(|w| {
        if woken < n && w.bitset & bitset != 0 {
            w.woken.store(true, Ordering::SeqCst);
            w.waiter.notify();
            woken += 1;
            false
        } else {
            true
        }
    });
    if q.is_empty() {
        t.remove(&k);
    }
    woken
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
        let mut t = self.table.lock();
        let k = *fw.key.lock();
        if let Some(q) = t.get_mut(&k) {
            q.retain(|w| !Arc::ptr_eq(w, fw));
            if q.is_empty() {
                t.remove(&k);
            }
        }
    }

    /// Wakes up to `n` waiters on `k` whose bitset meets `bitset`.
    /// Returns how many.
    pub fn wake(&self, k: Key, n: u64, bitset: u32) -> u64 {
        wake_key(&mut self.table.lock(), k, n, bitset)
    }

    /// Wakes up to `n` waiters on the word at `addr` of `mm` (any bitset,
    /// shared key when the memory is shared), as clear_child_tid does.
    pub fn wake_addr(&self, mm: &Arc<AddressSpace>, addr: u64, n: u32) -> u64 {
        self.wake(Key::new(mm, addr, false), n as u64, u32::MAX)
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
        let woken = wake_key(&mut tab, k, nr_wake, u32::MAX);
        let mut moved = Vec::new();
        if let Some(q) = tab.get_mut(&k) {
            let n = nr_requeue.min(q.len());
            moved = q.drain(..n).collect();
            if q.is_empty() {
                tab.remove(&k);
            }
        }
        let requeued = moved.len() as u64;
        for w in &moved {
            *w.key.lock() = k2;
        }
        tab.entry(k2).or_default().extend(moved);
        Ok(woken + requeued)
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
        let mut n = wake_key(&mut tab, k, nr_wake, u32::MAX);
        if cond {
            n += wake_key(&mut tab, k2, nr_wake2, u32::MAX);
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
                        let fw: &Arc<FutexWaiter> = fw;
                        if let Some(q) = tab.get_mut(&*fw.key.lock()) {
                            q.retain(|w| !Arc::ptr_eq(w, fw));
                        }
                    }
                    tab.retain(|_, q| !q.is_empty());
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
    /// each futex it holds FUTEX_OWNER_DIED and waking a waiter, as Linux's
    /// exit_robust_list.
    pub fn exit_robust_list(&self, mm: &Arc<AddressSpace>, tid: i32, head: u64) {
        const FUTEX_WAITERS: u32 = 0x8000_0000;
        const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
        const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
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
        let death = |entry: u64| {
            let uaddr = (entry & !1).wrapping_add_signed(offset);
            for _ in 0..16 {
                let Ok(v) = mm.read_u32(uaddr) else { return };
                if v & FUTEX_TID_MASK != tid as u32 {
                    return;
                }
                let new = (v & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
                match mm.cmpxchg_u32(uaddr, v, new) {
                    Ok(found) if found == v => {
                        if v & FUTEX_WAITERS != 0 {
                            self.wake_addr(mm, uaddr, 1);
                        }
                        return;
                    }
                    Ok(_) => continue,
                    Err(_) => return,
                }
            }
        };
        let mut entry = first;
        let mut n = 0;
        while entry != head && entry & !1 != 0 && n < LIST_LIMIT {
            let Ok(next) = mm.read_u64(entry & !1) else {
                break;
            };
            if entry != pending {
                death(entry);
            }
            entry = next;
            n += 1;
        }
        if pending != 0 {
            death(pending);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sleepers(f: &Futexes) -> usize {
        f.table.lock().values().map(Vec::len).sum()
    }

    fn sleep_on(f: &Futexes, k: Key, bitset: u32) -> Arc<FutexWaiter> {
        enqueue(&mut f.table.lock(), k, &Arc::new(Waiter::default()), bitset)
    }

    #[test]
    fn wake_takes_the_oldest_sleepers_up_to_the_count() {
        let f = Futexes::default();
        let k = Key::Private(1, 0x1000);
        let ws: Vec<_> = (0..3).map(|_| sleep_on(&f, k, u32::MAX)).collect();
        assert_eq!(f.wake(k, 2, u32::MAX), 2);
        let woken: Vec<bool> = ws.iter().map(|w| w.woken.load(Ordering::SeqCst)).collect();
        assert_eq!(woken, [true, true, false]);
        assert_eq!(sleepers(&f), 1);
        assert_eq!(f.wake(k, 5, u32::MAX), 1);
        assert_eq!(sleepers(&f), 0, "an empty queue is removed");
        assert_eq!(f.wake(k, 5, u32::MAX), 0);
    }

    #[test]
    fn wake_bitset_skips_sleepers_whose_bits_do_not_meet() {
        let f = Futexes::default();
        let k = Key::Shared(7, 0);
        let a = sleep_on(&f, k, 0b01);
        let b = sleep_on(&f, k, 0b10);
        assert_eq!(f.wake(k, 10, 0b10), 1);
        assert!(!a.woken.load(Ordering::SeqCst));
        assert!(b.woken.load(Ordering::SeqCst));
        // A different key (another address, or private vs shared) meets
        // no one.
        assert_eq!(f.wake(Key::Private(7, 0), 10, u32::MAX), 0);
        assert_eq!(f.wake(Key::Shared(7, 4), 10, u32::MAX), 0);
        assert_eq!(f.wake(k, 10, u32::MAX), 1);
    }

    #[test]
    fn each_kernel_has_its_own_table() {
        let (one, two) = (Futexes::default(), Futexes::default());
        let k = Key::Shared(3, 0x40);
        let w = sleep_on(&one, k, u32::MAX);
        assert_eq!(two.wake(k, 1, u32::MAX), 0);
        assert!(!w.woken.load(Ordering::SeqCst));
        assert_eq!(one.wake(k, 1, u32::MAX), 1);
    }

    #[test]
    fn a_removed_sleeper_is_not_woken() {
        let f = Futexes::default();
        let k = Key::Private(2, 8);
        let a = sleep_on(&f, k, u32::MAX);
        let b = sleep_on(&f, k, u32::MAX);
        f.remove(&a);
        assert_eq!(f.wake(k, 1, u32::MAX), 1);
        assert!(!a.woken.load(Ordering::SeqCst));
        assert!(b.woken.load(Ordering::SeqCst));
    }
}

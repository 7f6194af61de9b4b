//! futex(2): WAIT, WAKE, REQUEUE, CMP_REQUEUE, WAKE_OP and the BITSET
//! forms, private and shared, with relative and absolute timeouts; the
//! wake-ups of clear_child_tid; and the robust-list walk at thread death.
//!
//! Keys: a private futex (or any futex in private memory) is keyed by its
//! address space and address; a shared futex in a MAP_SHARED mapping by the
//! memory object and offset, so separate processes meet.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use parking_lot::Mutex;

use crate::errno::Errno;
use crate::kernel::Kernel;
use crate::kernel::task::{SysResult, Task, TaskCtx};
use crate::kernel::wait::{Blocker, Waiter};
use crate::mm::AddressSpace;

/// Where a futex word lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Key {
    /// (address space, address).
    Private(usize, u64),
    /// (shared memory object, offset).
    Shared(usize, u64),
}

struct FutexWaiter {
    waiter: Arc<Waiter>,
    woken: AtomicBool,
    bitset: u32,
    key: Mutex<Key>,
}

type Table = Mutex<HashMap<Key, Vec<Arc<FutexWaiter>>>>;

fn table() -> &'static Table {
    static T: OnceLock<Table> = OnceLock::new();
    T.get_or_init(Default::default)
}

fn key(mm: &Arc<AddressSpace>, addr: u64, private: bool) -> Key {
    if !private && let Some((obj, off)) = mm.shared_key(addr) {
        return Key::Shared(obj, off);
    }
    Key::Private(Arc::as_ptr(mm) as usize, addr)
}

fn wake_key(t: &mut HashMap<Key, Vec<Arc<FutexWaiter>>>, k: Key, n: u64, bitset: u32) -> u64 {
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

/// Wakes up to `n` waiters on `addr` (any bitset). Returns how many.
pub fn wake(_kernel: &Kernel, mm: &Arc<AddressSpace>, addr: u64, n: u32) -> u64 {
    let k = key(mm, addr, false);
    wake_key(&mut table().lock(), k, n as u64, u32::MAX)
}

fn remove(fw: &Arc<FutexWaiter>) {
    let mut t = table().lock();
    let k = *fw.key.lock();
    if let Some(q) = t.get_mut(&k) {
        q.retain(|w| !Arc::ptr_eq(w, fw));
        if q.is_empty() {
            t.remove(&k);
        }
    }
}

fn wait(
    task: &Arc<Task>,
    mm: &Arc<AddressSpace>,
    k: Key,
    uaddr: u64,
    val: u32,
    bitset: u32,
    deadline: Option<Instant>,
) -> SysResult {
    let fw = Arc::new(FutexWaiter {
        waiter: Arc::clone(&task.waiter),
        woken: AtomicBool::new(false),
        bitset,
        key: Mutex::new(k),
    });
    {
        let mut t = table().lock();
        if mm.read_u32(uaddr)? != val {
            return Err(Errno::EAGAIN.into());
        }
        t.entry(k).or_default().push(Arc::clone(&fw));
    }
    loop {
        if fw.woken.load(Ordering::SeqCst) {
            return Ok(0);
        }
        if task.check_interrupt().is_err() {
            remove(&fw);
            if fw.woken.load(Ordering::SeqCst) {
                return Ok(0);
            }
            return Err(Errno::ERESTARTSYS.into());
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            remove(&fw);
            if fw.woken.load(Ordering::SeqCst) {
                return Ok(0);
            }
            return Err(Errno::ETIMEDOUT.into());
        }
        task.waiter.wait(deadline);
    }
}

const FUTEX_WAIT: u64 = 0;
const FUTEX_WAKE: u64 = 1;
const FUTEX_REQUEUE: u64 = 3;
const FUTEX_CMP_REQUEUE: u64 = 4;
const FUTEX_WAKE_OP: u64 = 5;
const FUTEX_WAIT_BITSET: u64 = 9;
const FUTEX_WAKE_BITSET: u64 = 10;
const FUTEX_PRIVATE_FLAG: u64 = 128;
const FUTEX_CLOCK_REALTIME: u64 = 256;

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

/// futex(uaddr, op, val, timeout/val2, uaddr2, val3).
pub fn sys_futex(t: &mut TaskCtx, args: [u64; 6]) -> SysResult {
    let [uaddr, op, val, timeout, uaddr2, val3] = args;
    let (op, val, val3) = (op as u32 as u64, val as u32, val3 as u32);
    if uaddr % 4 != 0 {
        return Err(Errno::EINVAL.into());
    }
    let mm = t.mm();
    let private = op & FUTEX_PRIVATE_FLAG != 0;
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    // Linux accepts FUTEX_CLOCK_REALTIME only with WAIT_BITSET (and the PI
    // forms we do not have), not with plain WAIT.
    if op & FUTEX_CLOCK_REALTIME != 0 && cmd != FUTEX_WAIT_BITSET {
        return Err(Errno::ENOSYS.into());
    }
    let k = key(&mm, uaddr, private);
    match cmd {
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            let bitset = if cmd == FUTEX_WAKE { u32::MAX } else { val3 };
            if bitset == 0 {
                return Err(Errno::EINVAL.into());
            }
            Ok(wake_key(&mut table().lock(), k, val as u64, bitset))
        }
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            let bitset = if cmd == FUTEX_WAIT { u32::MAX } else { val3 };
            if bitset == 0 {
                return Err(Errno::EINVAL.into());
            }
            let deadline = if timeout == 0 {
                None
            } else {
                let d = super::time::read_timespec_at(&mm, timeout)?;
                if cmd == FUTEX_WAIT {
                    Some(crate::kernel::wait::deadline_after(d))
                } else {
                    let clock = if op & FUTEX_CLOCK_REALTIME != 0 { 0 } else { 1 };
                    let now = crate::syscalls::time::clock_now(clock, &t.task.kernel);
                    Some(crate::kernel::wait::deadline_after(d.saturating_sub(now)))
                }
            };
            wait(&t.task, &mm, k, uaddr, val, bitset, deadline)
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            if uaddr2 % 4 != 0 {
                return Err(Errno::EINVAL.into());
            }
            let nr_requeue = timeout as u32 as i32;
            if (val as i32) < 0 || nr_requeue < 0 {
                return Err(Errno::EINVAL.into());
            }
            let k2 = key(&mm, uaddr2, private);
            let mut tab = table().lock();
            if cmd == FUTEX_CMP_REQUEUE && mm.read_u32(uaddr)? != val3 {
                return Err(Errno::EAGAIN.into());
            }
            let woken = wake_key(&mut tab, k, val as u64, u32::MAX);
            let mut moved = Vec::new();
            if let Some(q) = tab.get_mut(&k) {
                let n = (nr_requeue as usize).min(q.len());
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
            // Both forms return woken + requeued (the man page says only
            // CMP_REQUEUE does; the kernel does it for both).
            Ok(woken + requeued)
        }
        FUTEX_WAKE_OP => {
            if uaddr2 % 4 != 0 {
                return Err(Errno::EINVAL.into());
            }
            let k2 = key(&mm, uaddr2, private);
            let mut tab = table().lock();
            let cond = wake_op(&mm, uaddr2, val3)?;
            let mut n = wake_key(&mut tab, k, val as u64, u32::MAX);
            if cond {
                n += wake_key(&mut tab, k2, timeout as u32 as u64, u32::MAX);
            }
            Ok(n)
        }
        _ => Err(Errno::ENOSYS.into()),
    }
}

/// futex_waitv(waiters, nr_futexes, flags, timeout, clockid): waits on up
/// to 128 futexes at once; returns the index of one that was woken.
pub fn sys_futex_waitv(t: &mut TaskCtx, args: [u64; 6]) -> SysResult {
    const FUTEX2_SIZE_U32: u32 = 2;
    const FUTEX2_PRIVATE: u32 = 128;
    const FUTEX_WAITV_MAX: u64 = 128;
    let [waiters, nr, flags, timeout, clockid, _] = args;
    if flags != 0 || nr == 0 || nr > FUTEX_WAITV_MAX || waiters == 0 {
        return Err(Errno::EINVAL.into());
    }
    let mm = t.mm();
    let deadline = if timeout == 0 {
        None
    } else {
        let clock = clockid as u32 as u64;
        if clock != 0 && clock != 1 {
            return Err(Errno::EINVAL.into());
        }
        let d = super::time::read_timespec_at(&mm, timeout)?;
        let now = crate::syscalls::time::clock_now(clock, &t.task.kernel);
        Some(crate::kernel::wait::deadline_after(d.saturating_sub(now)))
    };
    let mut raw = vec![0u8; nr as usize * 24];
    mm.read(waiters, &mut raw)?;
    let mut entries = Vec::with_capacity(nr as usize);
    for c in raw.chunks_exact(24) {
        let val = u64::from_le_bytes(c[0..8].try_into().expect("8 bytes"));
        let uaddr = u64::from_le_bytes(c[8..16].try_into().expect("8 bytes"));
        let fl = u32::from_le_bytes(c[16..20].try_into().expect("4 bytes"));
        let reserved = u32::from_le_bytes(c[20..24].try_into().expect("4 bytes"));
        if reserved != 0
            || fl & !(FUTEX2_SIZE_U32 | FUTEX2_PRIVATE) != 0
            || fl & 3 != FUTEX2_SIZE_U32
        {
            return Err(Errno::EINVAL.into());
        }
        if uaddr % 4 != 0 || val > u32::MAX as u64 {
            return Err(Errno::EINVAL.into());
        }
        entries.push((key(&mm, uaddr, fl & FUTEX2_PRIVATE != 0), uaddr, val as u32));
    }
    let mut queued = Vec::with_capacity(entries.len());
    {
        let mut tab = table().lock();
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
            let fw = Arc::new(FutexWaiter {
                waiter: Arc::clone(&t.task.waiter),
                woken: AtomicBool::new(false),
                bitset: u32::MAX,
                key: Mutex::new(*k),
            });
            tab.entry(*k).or_default().push(Arc::clone(&fw));
            queued.push((fw, i));
        }
    }
    let result = loop {
        if let Some((_, i)) = queued.iter().find(|(w, _)| w.woken.load(Ordering::SeqCst)) {
            break Ok(*i as u64);
        }
        if t.task.check_interrupt().is_err() {
            break Err(Errno::ERESTARTSYS.into());
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            break Err(Errno::ETIMEDOUT.into());
        }
        t.task.waiter.wait(deadline);
    };
    for (fw, _) in &queued {
        remove(fw);
    }
    // A wake-up that raced with the timeout or the signal still counts.
    if result.is_err()
        && let Some((_, i)) = queued.iter().find(|(w, _)| w.woken.load(Ordering::SeqCst))
    {
        return Ok(*i as u64);
    }
    result
}

/// Walks a dying thread's robust futex list (set_robust_list), marking each
/// futex it holds FUTEX_OWNER_DIED and waking a waiter, as Linux's
/// exit_robust_list.
pub fn exit_robust_list(kernel: &Kernel, mm: &Arc<AddressSpace>, tid: i32, head: u64) {
    const FUTEX_WAITERS: u32 = 0x8000_0000;
    const FUTEX_OWNER_DIED: u32 = 0x4000_0000;
    const FUTEX_TID_MASK: u32 = 0x3fff_ffff;
    const LIST_LIMIT: usize = 2048;
    let Ok(first) = mm.read_u64(head) else { return };
    let Ok(offset) = mm.read_u64(head + 8) else {
        return;
    };
    let Ok(pending) = mm.read_u64(head + 16) else {
        return;
    };
    let death = |entry: u64| {
        let uaddr = (entry & !1).wrapping_add(offset);
        for _ in 0..16 {
            let Ok(v) = mm.read_u32(uaddr) else { return };
            if v & FUTEX_TID_MASK != tid as u32 {
                return;
            }
            let new = (v & FUTEX_WAITERS) | FUTEX_OWNER_DIED;
            match mm.cmpxchg_u32(uaddr, v, new) {
                Ok(found) if found == v => {
                    if v & FUTEX_WAITERS != 0 {
                        wake(kernel, mm, uaddr, 1);
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

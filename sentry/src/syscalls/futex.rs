//! futex(2) and futex_waitv(2): argument decoding only. The engine (the
//! futex table, wait, wake, requeue, wake-op, robust lists) is the
//! kernel's: [`crate::kernel::futex`].

use crate::abi::UserPtr;
use crate::abi::process::FutexWaitv;
use crate::abi::time::Timespec;
use crate::errno::Errno;
use crate::kernel::futex::Key;
use crate::kernel::task::{SysResult, TaskCtx};

const FUTEX_WAIT: u64 = 0;
const FUTEX_WAKE: u64 = 1;
const FUTEX_REQUEUE: u64 = 3;
const FUTEX_CMP_REQUEUE: u64 = 4;
const FUTEX_WAKE_OP: u64 = 5;
const FUTEX_LOCK_PI: u64 = 6;
const FUTEX_UNLOCK_PI: u64 = 7;
const FUTEX_TRYLOCK_PI: u64 = 8;
const FUTEX_WAIT_BITSET: u64 = 9;
const FUTEX_WAKE_BITSET: u64 = 10;
const FUTEX_WAIT_REQUEUE_PI: u64 = 11;
const FUTEX_CMP_REQUEUE_PI: u64 = 12;
const FUTEX_LOCK_PI2: u64 = 13;
const FUTEX_PRIVATE_FLAG: u64 = 128;
const FUTEX_CLOCK_REALTIME: u64 = 256;

/// futex(uaddr, op, val, timeout/val2, uaddr2, val3). It takes the raw
/// registers: what the fourth argument is (a `struct timespec *` or the
/// number `val2`) depends on `op`, so it is decoded per operation below,
/// in Linux's order: the timeout first (EFAULT, EINVAL), then the clock
/// flag (ENOSYS), then the operation (whose key lookup rejects a
/// misaligned address with EINVAL).
pub fn sys_futex(t: &mut TaskCtx, args: [u64; 6]) -> SysResult {
    let [uaddr, op, val, timeout, uaddr2, val3] = args;
    let (op, val, val3) = (op as u32 as u64, val as u32, val3 as u32);
    let mm = t.mm();
    let private = op & FUTEX_PRIVATE_FLAG != 0;
    let realtime = op & FUTEX_CLOCK_REALTIME != 0;
    let cmd = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    let has_timeout = matches!(
        cmd,
        FUTEX_WAIT | FUTEX_LOCK_PI | FUTEX_LOCK_PI2 | FUTEX_WAIT_BITSET | FUTEX_WAIT_REQUEUE_PI
    );
    let deadline = match UserPtr::<Timespec>::nullable(timeout) {
        Some(ts) if has_timeout => {
            let d = super::time::read_timespec(&mm, ts)?;
            Some(if cmd == FUTEX_WAIT {
                crate::kernel::wait::deadline_after(d)
            } else {
                // Absolute: FUTEX_LOCK_PI always on CLOCK_REALTIME, the
                // others on it with FUTEX_CLOCK_REALTIME, else
                // CLOCK_MONOTONIC.
                let clock = if realtime || cmd == FUTEX_LOCK_PI {
                    0
                } else {
                    1
                };
                let now = crate::syscalls::time::clock_now(clock, &t.task.kernel);
                crate::kernel::wait::deadline_after(d.saturating_sub(now))
            })
        }
        _ => None,
    };
    // Linux accepts FUTEX_CLOCK_REALTIME only where a timeout is absolute
    // and the clock is the caller's choice.
    if realtime
        && !matches!(
            cmd,
            FUTEX_WAIT_BITSET | FUTEX_WAIT_REQUEUE_PI | FUTEX_LOCK_PI2
        )
    {
        return Err(Errno::ENOSYS.into());
    }
    let known = matches!(
        cmd,
        FUTEX_WAIT..=FUTEX_WAKE
            | FUTEX_REQUEUE..=FUTEX_WAKE_BITSET
            | FUTEX_WAIT_REQUEUE_PI..=FUTEX_LOCK_PI2
    );
    if !known {
        return Err(Errno::ENOSYS.into());
    }
    if uaddr % 4 != 0 {
        return Err(Errno::EINVAL.into());
    }
    let k = Key::new(&mm, uaddr, private);
    let futexes = &t.task.kernel.futex;
    match cmd {
        FUTEX_WAKE | FUTEX_WAKE_BITSET => {
            let bitset = if cmd == FUTEX_WAKE { u32::MAX } else { val3 };
            if bitset == 0 {
                return Err(Errno::EINVAL.into());
            }
            Ok(futexes.wake(k, val as u64, bitset)?)
        }
        FUTEX_WAIT | FUTEX_WAIT_BITSET => {
            let bitset = if cmd == FUTEX_WAIT { u32::MAX } else { val3 };
            if bitset == 0 {
                return Err(Errno::EINVAL.into());
            }
            futexes.wait(&t.task, &mm, k, uaddr, val, bitset, deadline)
        }
        FUTEX_REQUEUE | FUTEX_CMP_REQUEUE => {
            if uaddr2 % 4 != 0 {
                return Err(Errno::EINVAL.into());
            }
            let nr_requeue = timeout as u32 as i32;
            if (val as i32) < 0 || nr_requeue < 0 {
                return Err(Errno::EINVAL.into());
            }
            let k2 = Key::new(&mm, uaddr2, private);
            let expect = (cmd == FUTEX_CMP_REQUEUE).then_some(val3);
            // Both forms return woken + requeued (the man page says only
            // CMP_REQUEUE does; the kernel does it for both).
            Ok(futexes.requeue(&mm, k, k2, uaddr, expect, val as u64, nr_requeue as usize)?)
        }
        FUTEX_WAKE_OP => {
            if uaddr2 % 4 != 0 {
                return Err(Errno::EINVAL.into());
            }
            let k2 = Key::new(&mm, uaddr2, private);
            Ok(futexes.wake_op(&mm, k, k2, uaddr2, val3, val as u64, timeout as u32 as u64)?)
        }
        FUTEX_LOCK_PI | FUTEX_LOCK_PI2 => futexes.lock_pi(&t.task, &mm, k, uaddr, deadline, false),
        FUTEX_TRYLOCK_PI => futexes.lock_pi(&t.task, &mm, k, uaddr, None, true),
        FUTEX_UNLOCK_PI => futexes.unlock_pi(&t.task, &mm, k, uaddr),
        FUTEX_WAIT_REQUEUE_PI => {
            // Linux's futex_wait_requeue_pi: the same address, then the
            // second address's key (misaligned: EINVAL).
            if uaddr == uaddr2 || uaddr2 % 4 != 0 {
                return Err(Errno::EINVAL.into());
            }
            let k2 = Key::new(&mm, uaddr2, private);
            futexes.wait_requeue_pi(&t.task, &mm, k, uaddr, val, k2, uaddr2, deadline)
        }
        FUTEX_CMP_REQUEUE_PI => {
            // futex_requeue's checks: counts, then the same address, then
            // nr_wake == 1 (more would be woken without the lock), then
            // the keys.
            let nr_requeue = timeout as u32 as i32;
            if (val as i32) < 0 || nr_requeue < 0 || uaddr == uaddr2 || val != 1 {
                return Err(Errno::EINVAL.into());
            }
            if uaddr2 % 4 != 0 {
                return Err(Errno::EINVAL.into());
            }
            let k2 = Key::new(&mm, uaddr2, private);
            futexes.cmp_requeue_pi(&t.task, &mm, k, k2, uaddr, uaddr2, val3, nr_requeue as u32)
        }
        _ => Err(Errno::ENOSYS.into()),
    }
}

/// futex_waitv(waiters, nr_futexes, flags, timeout, clockid): waits on up
/// to 128 futexes at once; returns the index of one that was woken.
pub fn sys_futex_waitv(
    t: &mut TaskCtx,
    waiters: UserPtr<FutexWaitv>,
    nr: u32,
    flags: u32,
    timeout: Option<UserPtr<Timespec>>,
    clockid: i32,
) -> SysResult {
    const FUTEX2_SIZE_U32: u32 = 2;
    const FUTEX2_PRIVATE: u32 = 128;
    const FUTEX_WAITV_MAX: u32 = 128;
    if flags != 0 || nr == 0 || nr > FUTEX_WAITV_MAX || waiters.is_null() {
        return Err(Errno::EINVAL.into());
    }
    let mm = t.mm();
    let deadline = if let Some(timeout) = timeout {
        if clockid != 0 && clockid != 1 {
            return Err(Errno::EINVAL.into());
        }
        let d = super::time::read_timespec(&mm, timeout)?;
        let now = crate::syscalls::time::clock_now(clockid, &t.task.kernel);
        Some(crate::kernel::wait::deadline_after(d.saturating_sub(now)))
    } else {
        None
    };
    let waiters = waiters.read_array(&mm, nr as usize)?;
    let mut entries = Vec::with_capacity(nr as usize);
    for w in waiters {
        let FutexWaitv {
            val,
            uaddr,
            flags: fl,
            reserved,
        } = w;
        if reserved != 0
            || fl & !(FUTEX2_SIZE_U32 | FUTEX2_PRIVATE) != 0
            || fl & 3 != FUTEX2_SIZE_U32
        {
            return Err(Errno::EINVAL.into());
        }
        if uaddr % 4 != 0 || val > u32::MAX as u64 {
            return Err(Errno::EINVAL.into());
        }
        entries.push((
            Key::new(&mm, uaddr, fl & FUTEX2_PRIVATE != 0),
            uaddr,
            val as u32,
        ));
    }
    t.task
        .kernel
        .futex
        .wait_many(&t.task, &mm, &entries, deadline)
}

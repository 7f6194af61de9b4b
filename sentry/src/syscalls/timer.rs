//! POSIX timers: timer_create, timer_settime, timer_gettime,
//! timer_getoverrun, timer_delete. The timers themselves (expiry,
//! overruns, signals, CPU-clock checks) are in `kernel::timers`.

use std::sync::Arc;
use std::time::Duration;

use crate::abi::UserPtr;
use crate::abi::time::Timespec;
use crate::errno::Errno;
use crate::kernel::signal::Signal;
use crate::kernel::task::{SysResult, TaskCtx};
use crate::kernel::timers::{self, Clock, Notify, Setting, TimerClock};

const SIGEV_SIGNAL: i32 = 0;
const SIGEV_NONE: i32 = 1;
const SIGEV_THREAD: i32 = 2;
const SIGEV_THREAD_ID: i32 = 4;
const TIMER_ABSTIME: i32 = 1;

/// Size of `struct sigevent`.
const SIGEVENT_SIZE: usize = 64;

/// Decodes a `struct sigevent` as Linux's good_sigevent: SIGEV_SIGNAL (and
/// SIGEV_THREAD, which the kernel treats alike: libc implements it with
/// SIGEV_THREAD_ID) and SIGEV_THREAD_ID need a signal in 1..=64; the
/// thread of SIGEV_THREAD_ID must belong to the caller's process. EINVAL
/// otherwise.
fn decode_sigevent(t: &TaskCtx, ev: &[u8; SIGEVENT_SIZE]) -> Result<Notify, Errno> {
    let value = u64::from_le_bytes(ev[..8].try_into().expect("8 bytes"));
    let signo = i32::from_le_bytes(ev[8..12].try_into().expect("4 bytes"));
    let notify = i32::from_le_bytes(ev[12..16].try_into().expect("4 bytes"));
    let tid = i32::from_le_bytes(ev[16..20].try_into().expect("4 bytes"));
    let thread = match notify {
        SIGEV_NONE => return Ok(Notify::None),
        SIGEV_SIGNAL | SIGEV_THREAD => None,
        n if n == SIGEV_SIGNAL | SIGEV_THREAD_ID => {
            match t.task.kernel.table.lock().tasks.get(&tid) {
                Some(task) if Arc::ptr_eq(&task.tg, &t.task.tg) => Some(Arc::downgrade(task)),
                _ => return Err(Errno::EINVAL),
            }
        }
        _ => return Err(Errno::EINVAL),
    };
    let signal = Signal::new(signo).ok_or(Errno::EINVAL)?;
    Ok(Notify::Signal {
        signal,
        value,
        thread,
    })
}

/// timer_create(clock, sevp, timerid): any readable clock except the
/// coarse ones, MONOTONIC_RAW, the alarm clocks and descriptor clocks
/// (EOPNOTSUPP, as Linux has no timers on them or no RTC here). CPU
/// clocks of any process and of the caller's threads are supported (a
/// thread clock of another process's thread is EINVAL, as Linux's
/// pid_for_clock); the signal goes to the caller's process. At most
/// [`timers::MAX_TIMERS`] per process (EAGAIN).
pub fn timer_create(t: &mut TaskCtx, clock: i32, sevp: u64, timerid: UserPtr<i32>) -> SysResult {
    let ev = if sevp != 0 {
        let mut ev = [0u8; SIGEVENT_SIZE];
        t.mm().read(sevp, &mut ev)?;
        Some(ev)
    } else {
        None
    };
    let tclock = match Clock::decode(clock).ok_or(Errno::EINVAL)? {
        Clock::Wall(
            id @ (timers::id::REALTIME
            | timers::id::MONOTONIC
            | timers::id::BOOTTIME
            | timers::id::TAI),
        ) => TimerClock::Wall(id),
        Clock::Wall(_) | Clock::Alarm | Clock::Fd => return Err(Errno::EOPNOTSUPP.into()),
        Clock::Cpu { pid, thread, which } => {
            TimerClock::Cpu(timers::cpu_target(&t.task, pid, thread, false)?, which)
        }
    };
    let notify = ev.as_ref().map(|ev| decode_sigevent(t, ev)).transpose()?;
    let task = Arc::clone(&t.task);
    let timer = task.tg.timers.create(&task, tclock, notify)?;
    if let Err(e) = timerid.write(&t.mm(), &timer.id) {
        let _ = task.tg.timers.delete(timer.id);
        return Err(e.into());
    }
    Ok(0)
}

/// Reads a `struct itimerspec` (interval, then value).
fn read_itimerspec(t: &TaskCtx, addr: u64) -> Result<(Duration, Duration), Errno> {
    let mm = t.mm();
    let interval = UserPtr::<Timespec>::new(addr).read(&mm)?;
    let value = UserPtr::<Timespec>::new(addr.wrapping_add(16)).read(&mm)?;
    Ok((interval.to_duration()?, value.to_duration()?))
}

/// Writes a `struct itimerspec`.
fn write_itimerspec(t: &TaskCtx, addr: u64, s: Setting) -> Result<(), Errno> {
    let mm = t.mm();
    let mut b = [0u8; 32];
    for (i, d) in [s.interval, s.value].into_iter().enumerate() {
        let ts = Timespec::from_duration(d);
        b[i * 16..i * 16 + 8].copy_from_slice(&ts.sec.to_le_bytes());
        b[i * 16 + 8..i * 16 + 16].copy_from_slice(&ts.nsec.to_le_bytes());
    }
    mm.write(addr, &b)
}

/// timer_settime(id, flags, new, old).
pub fn timer_settime(t: &mut TaskCtx, id: i32, flags: i32, new: u64, old: u64) -> SysResult {
    if new == 0 {
        return Err(Errno::EINVAL.into());
    }
    let (interval, value) = read_itimerspec(t, new)?;
    let timer = t.task.tg.timers.get(id)?;
    let abs_now = if flags & TIMER_ABSTIME != 0 {
        Some(match &timer.clock {
            TimerClock::Wall(c) => super::time::clock_now(*c, &t.task.kernel),
            TimerClock::Cpu(..) => Duration::ZERO,
        })
    } else {
        None
    };
    let prev = timer.set(&t.task, value, interval, abs_now);
    if old != 0 {
        write_itimerspec(t, old, prev)?;
    }
    Ok(0)
}

/// timer_gettime(id, curr).
pub fn timer_gettime(t: &mut TaskCtx, id: i32, curr: u64) -> SysResult {
    let timer = t.task.tg.timers.get(id)?;
    let s = timer.get(&t.task);
    write_itimerspec(t, curr, s)?;
    Ok(0)
}

/// timer_getoverrun(id): the overrun count of the last delivered signal.
pub fn timer_getoverrun(t: &mut TaskCtx, id: i32) -> SysResult {
    let timer = t.task.tg.timers.get(id)?;
    Ok(timer.overrun() as u64)
}

/// timer_delete(id).
pub fn timer_delete(t: &mut TaskCtx, id: i32) -> SysResult {
    t.task.tg.timers.delete(id)?;
    Ok(0)
}

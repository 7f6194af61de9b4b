//! Clocks and sleeping: clock_gettime, gettimeofday, time, clock_getres,
//! nanosleep, clock_nanosleep, alarm.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::abi::UserPtr;
use crate::errno::Errno;
use crate::kernel::Kernel;
use crate::kernel::signal::{SigInfo, Signal, code};
use crate::kernel::task::{ERESTARTNOHAND, RealTimer, SysResult, TaskCtx};
use crate::kernel::wait;

const CLOCK_REALTIME: u64 = 0;
const CLOCK_MONOTONIC: u64 = 1;
const CLOCK_PROCESS_CPUTIME_ID: u64 = 2;
const CLOCK_THREAD_CPUTIME_ID: u64 = 3;
const CLOCK_MONOTONIC_RAW: u64 = 4;
const CLOCK_REALTIME_COARSE: u64 = 5;
const CLOCK_MONOTONIC_COARSE: u64 = 6;
const CLOCK_BOOTTIME: u64 = 7;

fn host(id: i32) -> Duration {
    platform::host::clock(id).unwrap_or_default()
}

/// The current value of `clock`.
pub fn clock_now(clock: u64, kernel: &Kernel) -> Duration {
    match clock {
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
        CLOCK_BOOTTIME => host(libc::CLOCK_BOOTTIME),
        CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID => kernel.start.elapsed(),
        _ => host(libc::CLOCK_MONOTONIC),
    }
}

fn valid_clock(c: u64) -> bool {
    c <= CLOCK_BOOTTIME && c != 8
}

fn timespec_bytes(d: Duration) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&(d.as_secs() as i64).to_le_bytes());
    b[8..].copy_from_slice(&(d.subsec_nanos() as i64).to_le_bytes());
    b
}

/// Reads a guest `struct timespec`, EINVAL unless it is a valid time.
pub fn read_timespec_at(mm: &crate::mm::AddressSpace, addr: u64) -> Result<Duration, Errno> {
    let mut b = [0u8; 16];
    mm.read(addr, &mut b)?;
    let sec = i64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
    let nsec = i64::from_le_bytes(b[8..].try_into().expect("8 bytes"));
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(Duration::new(sec as u64, nsec as u32))
}

fn read_timespec(t: &TaskCtx, addr: u64) -> Result<Duration, Errno> {
    read_timespec_at(&t.mm(), addr)
}

/// clock_gettime(clock, tp).
pub fn clock_gettime(t: &mut TaskCtx, clock: u64, tp: u64) -> SysResult {
    if !valid_clock(clock) {
        return Err(Errno::EINVAL.into());
    }
    let now = clock_now(clock, &t.task.kernel);
    t.mm().write(tp, &timespec_bytes(now))?;
    Ok(0)
}

/// clock_getres(clock, res).
pub fn clock_getres(t: &mut TaskCtx, clock: u64, res: u64) -> SysResult {
    if !valid_clock(clock) {
        return Err(Errno::EINVAL.into());
    }
    if res != 0 {
        let r = if matches!(clock, CLOCK_REALTIME_COARSE | CLOCK_MONOTONIC_COARSE) {
            Duration::from_millis(4)
        } else {
            Duration::from_nanos(1)
        };
        t.mm().write(res, &timespec_bytes(r))?;
    }
    Ok(0)
}

/// gettimeofday(tv, tz).
pub fn gettimeofday(t: &mut TaskCtx, tv: u64, tz: u64) -> SysResult {
    let now = clock_now(CLOCK_REALTIME, &t.task.kernel);
    if tv != 0 {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&(now.as_secs() as i64).to_le_bytes());
        b[8..].copy_from_slice(&(now.subsec_micros() as i64).to_le_bytes());
        t.mm().write(tv, &b)?;
    }
    if tz != 0 {
        t.mm().write(tz, &[0u8; 8])?;
    }
    Ok(0)
}

/// time(tloc).
pub fn time(t: &mut TaskCtx, tloc: u64) -> SysResult {
    let secs = clock_now(CLOCK_REALTIME, &t.task.kernel).as_secs();
    if tloc != 0 {
        t.mm().write_u64(tloc, secs)?;
    }
    Ok(secs)
}

fn sleep_for(t: &mut TaskCtx, deadline: Instant, rem: u64) -> SysResult {
    match wait::sleep_until(&*t.task, deadline) {
        Ok(()) => Ok(0),
        Err(_) => {
            if rem != 0 {
                let left = deadline.saturating_duration_since(Instant::now());
                t.mm().write(rem, &timespec_bytes(left))?;
            }
            Err(ERESTARTNOHAND.into())
        }
    }
}

/// nanosleep(req, rem).
pub fn nanosleep(t: &mut TaskCtx, req: u64, rem: u64) -> SysResult {
    let d = read_timespec(t, req)?;
    sleep_for(t, wait::deadline_after(d), rem)
}

/// clock_nanosleep(clock, flags, req, rem).
pub fn clock_nanosleep(t: &mut TaskCtx, clock: u64, flags: u64, req: u64, rem: u64) -> SysResult {
    const TIMER_ABSTIME: u64 = 1;
    match clock {
        CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_BOOTTIME | CLOCK_PROCESS_CPUTIME_ID => {}
        CLOCK_THREAD_CPUTIME_ID => return Err(Errno::EINVAL.into()),
        CLOCK_MONOTONIC_RAW | CLOCK_REALTIME_COARSE | CLOCK_MONOTONIC_COARSE => {
            return Err(Errno::EOPNOTSUPP.into());
        }
        _ => return Err(Errno::EINVAL.into()),
    }
    let d = read_timespec(t, req)?;
    let deadline = if flags & TIMER_ABSTIME != 0 {
        let now = clock_now(clock, &t.task.kernel);
        wait::deadline_after(d.saturating_sub(now))
    } else {
        wait::deadline_after(d)
    };
    let rem = if flags & TIMER_ABSTIME != 0 { 0 } else { rem };
    sleep_for(t, deadline, rem)
}

fn seconds_left(timer: &RealTimer) -> u64 {
    timer.deadline.map_or(0, |d| {
        let l = d.saturating_duration_since(Instant::now());
        // Linux rounds to the nearest second, but never reports 0 for a
        // pending alarm.
        ((l.as_millis() as u64 + 500) / 1000).max(1)
    })
}

/// Arms (or with `None`, disarms) the process's ITIMER_REAL and returns the
/// previous setting.
fn arm(t: &TaskCtx, value: Option<Duration>, interval: Duration) -> Result<RealTimer, Errno> {
    let tg = Arc::clone(&t.task.tg);
    let kernel = Arc::clone(&t.task.kernel);
    let mut timer = tg.itimer.lock();
    let old = *timer;
    timer.generation += 1;
    let generation = timer.generation;
    let Some(value) = value else {
        timer.deadline = None;
        timer.interval = Duration::ZERO;
        return Ok(old);
    };
    timer.deadline = Some(wait::deadline_after(value));
    timer.interval = interval;
    drop(timer);
    let weak = Arc::downgrade(&tg);
    std::thread::Builder::new()
        .name("itimer".into())
        .spawn(move || {
            loop {
                let Some(tg) = weak.upgrade() else { return };
                let deadline = {
                    let timer = tg.itimer.lock();
                    match timer.deadline {
                        Some(d) if timer.generation == generation => d,
                        _ => return,
                    }
                };
                drop(tg);
                std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
                let Some(tg) = weak.upgrade() else { return };
                {
                    let mut timer = tg.itimer.lock();
                    if timer.generation != generation || timer.deadline.is_none() {
                        return;
                    }
                    if timer.deadline.is_some_and(|d| d > Instant::now()) {
                        continue;
                    }
                    timer.deadline = (!timer.interval.is_zero()).then(|| deadline + timer.interval);
                }
                crate::kernel::process::send_to_group(
                    &kernel,
                    &tg,
                    SigInfo::from_process(Signal::SIGALRM, code::SI_KERNEL, 0, 0),
                );
            }
        })
        .map_err(|_| Errno::EAGAIN)?;
    Ok(old)
}

/// alarm(seconds): returns the seconds left on the previous alarm.
pub fn alarm(t: &mut TaskCtx, seconds: u64) -> SysResult {
    let seconds = seconds as u32 as u64;
    let value = (seconds != 0).then(|| Duration::from_secs(seconds));
    let old = arm(t, value, Duration::ZERO)?;
    Ok(seconds_left(&old))
}

fn timeval_bytes(d: Duration) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&(d.as_secs() as i64).to_le_bytes());
    b[8..].copy_from_slice(&(d.subsec_micros() as i64).to_le_bytes());
    b
}

fn itimerval(timer: &RealTimer) -> [u8; 32] {
    let mut b = [0u8; 32];
    let left = timer.deadline.map_or(Duration::ZERO, |d| {
        d.saturating_duration_since(Instant::now())
            .max(Duration::from_micros(1))
    });
    b[..16].copy_from_slice(&timeval_bytes(timer.interval));
    b[16..].copy_from_slice(&timeval_bytes(left));
    b
}

fn read_timeval(t: &TaskCtx, addr: u64) -> Result<Duration, Errno> {
    let mut b = [0u8; 16];
    t.mm().read(addr, &mut b)?;
    let sec = i64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
    let usec = i64::from_le_bytes(b[8..].try_into().expect("8 bytes"));
    if sec < 0 || !(0..1_000_000).contains(&usec) {
        return Err(Errno::EINVAL);
    }
    Ok(Duration::new(sec as u64, usec as u32 * 1000))
}

const ITIMER_REAL: u64 = 0;

/// setitimer(which, new, old): ITIMER_REAL only.
pub fn setitimer(t: &mut TaskCtx, which: u64, new: u64, old: u64) -> SysResult {
    if which as u32 as u64 != ITIMER_REAL {
        return Err(Errno::EINVAL.into());
    }
    let (value, interval) = if new == 0 {
        (Duration::ZERO, Duration::ZERO)
    } else {
        (
            read_timeval(t, new.wrapping_add(16))?,
            read_timeval(t, new)?,
        )
    };
    let prev = arm(t, (!value.is_zero()).then_some(value), interval)?;
    if old != 0 {
        t.mm().write(old, &itimerval(&prev))?;
    }
    Ok(0)
}

/// getitimer(which, curr).
pub fn getitimer(t: &mut TaskCtx, which: u64, curr: u64) -> SysResult {
    if which as u32 as u64 != ITIMER_REAL {
        return Err(Errno::EINVAL.into());
    }
    let timer = *t.task.tg.itimer.lock();
    t.mm().write(curr, &itimerval(&timer))?;
    Ok(0)
}

/// rt_sigtimedwait(set, info, timeout, sigsetsize).
pub fn rt_sigtimedwait(t: &mut TaskCtx, set: u64, info: u64, timeout: u64, size: u64) -> SysResult {
    use crate::kernel::signal::SigSet;
    if size != 8 {
        return Err(Errno::EINVAL.into());
    }
    let wanted = SigSet(t.mm().read_u64(set)?).unblockable_removed();
    let deadline = if timeout != 0 {
        Some(wait::deadline_after(read_timespec(t, timeout)?))
    } else {
        None
    };
    loop {
        if let Some(got) = crate::kernel::task::dequeue_masked(&t.task, SigSet(!wanted.0)) {
            if info != 0 {
                UserPtr::<SigInfo>::new(info).write(&t.mm(), &got)?;
            }
            return Ok(got.signo as u64);
        }
        if t.task.tg.is_exiting() || t.task.signal_pending() {
            return Err(Errno::EINTR.into());
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Errno::EAGAIN.into());
        }
        t.task.waiter.wait(deadline);
    }
}

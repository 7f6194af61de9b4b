//! Clocks and sleeping: clock_gettime, gettimeofday, time, clock_getres,
//! nanosleep, clock_nanosleep, alarm.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::abi::UserPtr;
use crate::abi::time::{Itimerval, Timespec, Timeval};
use crate::errno::Errno;
use crate::kernel::Kernel;
use crate::kernel::signal::{SigInfo, SigSet, Signal, code};
use crate::kernel::task::{ERESTARTNOHAND, RealTimer, SysResult, TaskCtx};
use crate::kernel::wait;
use crate::mm::AddressSpace;

// A `clockid_t` is an `int`: the table passes the low 32 bits.
const CLOCK_REALTIME: i32 = 0;
const CLOCK_MONOTONIC: i32 = 1;
const CLOCK_PROCESS_CPUTIME_ID: i32 = 2;
const CLOCK_THREAD_CPUTIME_ID: i32 = 3;
const CLOCK_MONOTONIC_RAW: i32 = 4;
const CLOCK_REALTIME_COARSE: i32 = 5;
const CLOCK_MONOTONIC_COARSE: i32 = 6;
const CLOCK_BOOTTIME: i32 = 7;

fn host(id: i32) -> Duration {
    crate::host::clock(id).unwrap_or_default()
}

/// The current value of `clock`.
pub fn clock_now(clock: i32, kernel: &Kernel) -> Duration {
    // The clocks the vDSO serves read the same source as the vDSO.
    if let Some(now) = crate::kernel::vclock::global().now(clock) {
        return now;
    }
    match clock {
        CLOCK_REALTIME | CLOCK_REALTIME_COARSE => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
        CLOCK_BOOTTIME => host(libc::CLOCK_BOOTTIME),
        CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID => kernel.start.elapsed(),
        _ => host(libc::CLOCK_MONOTONIC),
    }
}

fn valid_clock(c: i32) -> bool {
    (CLOCK_REALTIME..=CLOCK_BOOTTIME).contains(&c) || c == crate::kernel::vclock::CLOCK_TAI
}

/// Reads a guest `struct timespec` as a duration, EINVAL unless it is a
/// valid time ([`Timespec::to_duration`]).
pub fn read_timespec(mm: &AddressSpace, ptr: UserPtr<Timespec>) -> Result<Duration, Errno> {
    ptr.read(mm)?.to_duration()
}

/// clock_gettime(clock, tp).
pub fn clock_gettime(t: &mut TaskCtx, clock: i32, tp: UserPtr<Timespec>) -> SysResult {
    if !valid_clock(clock) {
        return Err(Errno::EINVAL.into());
    }
    let now = clock_now(clock, &t.task.kernel);
    tp.write(&t.mm(), &Timespec::from_duration(now))?;
    Ok(0)
}

/// clock_getres(clock, res).
pub fn clock_getres(t: &mut TaskCtx, clock: i32, res: Option<UserPtr<Timespec>>) -> SysResult {
    if !valid_clock(clock) {
        return Err(Errno::EINVAL.into());
    }
    if let Some(res) = res {
        let r = if matches!(clock, CLOCK_REALTIME_COARSE | CLOCK_MONOTONIC_COARSE) {
            Duration::from_millis(4)
        } else {
            Duration::from_nanos(1)
        };
        res.write(&t.mm(), &Timespec::from_duration(r))?;
    }
    Ok(0)
}

/// gettimeofday(tv, tz): the time zone is always UTC (zeroes).
pub fn gettimeofday(
    t: &mut TaskCtx,
    tv: Option<UserPtr<Timeval>>,
    tz: Option<UserPtr<u64>>,
) -> SysResult {
    let now = clock_now(CLOCK_REALTIME, &t.task.kernel);
    if let Some(tv) = tv {
        tv.write(&t.mm(), &Timeval::from_duration(now))?;
    }
    if let Some(tz) = tz {
        // struct timezone: two ints, minutes west and DST type.
        tz.write(&t.mm(), &0)?;
    }
    Ok(0)
}

/// time(tloc).
pub fn time(t: &mut TaskCtx, tloc: Option<UserPtr<u64>>) -> SysResult {
    let secs = clock_now(CLOCK_REALTIME, &t.task.kernel).as_secs();
    if let Some(tloc) = tloc {
        tloc.write(&t.mm(), &secs)?;
    }
    Ok(secs)
}

fn sleep_for(t: &mut TaskCtx, deadline: Instant, rem: Option<UserPtr<Timespec>>) -> SysResult {
    match wait::sleep_until(&*t.task, deadline) {
        Ok(()) => Ok(0),
        Err(_) => {
            if let Some(rem) = rem {
                let left = deadline.saturating_duration_since(Instant::now());
                rem.write(&t.mm(), &Timespec::from_duration(left))?;
            }
            Err(ERESTARTNOHAND.into())
        }
    }
}

/// nanosleep(req, rem).
pub fn nanosleep(
    t: &mut TaskCtx,
    req: UserPtr<Timespec>,
    rem: Option<UserPtr<Timespec>>,
) -> SysResult {
    let d = read_timespec(&t.mm(), req)?;
    sleep_for(t, wait::deadline_after(d), rem)
}

/// clock_nanosleep(clock, flags, req, rem).
pub fn clock_nanosleep(
    t: &mut TaskCtx,
    clock: i32,
    flags: i32,
    req: UserPtr<Timespec>,
    rem: Option<UserPtr<Timespec>>,
) -> SysResult {
    const TIMER_ABSTIME: i32 = 1;
    match clock {
        CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_BOOTTIME | CLOCK_PROCESS_CPUTIME_ID => {}
        CLOCK_THREAD_CPUTIME_ID => return Err(Errno::EINVAL.into()),
        CLOCK_MONOTONIC_RAW | CLOCK_REALTIME_COARSE | CLOCK_MONOTONIC_COARSE => {
            return Err(Errno::EOPNOTSUPP.into());
        }
        _ => return Err(Errno::EINVAL.into()),
    }
    let d = read_timespec(&t.mm(), req)?;
    let deadline = if flags & TIMER_ABSTIME != 0 {
        let now = clock_now(clock, &t.task.kernel);
        wait::deadline_after(d.saturating_sub(now))
    } else {
        wait::deadline_after(d)
    };
    let rem = if flags & TIMER_ABSTIME != 0 {
        None
    } else {
        rem
    };
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
        // Linux cannot fail to arm a timer; a host that cannot start the
        // timer thread is out of resources, which the guest sees as EAGAIN
        // (what fork and clone report for the same host condition).
        .map_err(|e| {
            tracing::warn!("cannot start an itimer thread: {e}");
            Errno::EAGAIN
        })?;
    Ok(old)
}

/// alarm(seconds): returns the seconds left on the previous alarm.
pub fn alarm(t: &mut TaskCtx, seconds: u32) -> SysResult {
    let seconds = u64::from(seconds);
    let value = (seconds != 0).then(|| Duration::from_secs(seconds));
    let old = arm(t, value, Duration::ZERO)?;
    Ok(seconds_left(&old))
}

/// The `struct itimerval` getitimer and setitimer report: the interval,
/// and the time left (at least 1 µs while armed, as Linux rounds up).
fn itimerval(timer: &RealTimer) -> Itimerval {
    let left = timer.deadline.map_or(Duration::ZERO, |d| {
        d.saturating_duration_since(Instant::now())
            .max(Duration::from_micros(1))
    });
    Itimerval {
        interval: Timeval::from_duration(timer.interval),
        value: Timeval::from_duration(left),
    }
}

const ITIMER_REAL: i32 = 0;

/// setitimer(which, new, old): ITIMER_REAL only.
pub fn setitimer(
    t: &mut TaskCtx,
    which: i32,
    new: Option<UserPtr<Itimerval>>,
    old: Option<UserPtr<Itimerval>>,
) -> SysResult {
    if which != ITIMER_REAL {
        return Err(Errno::EINVAL.into());
    }
    let (value, interval) = match new {
        None => (Duration::ZERO, Duration::ZERO),
        Some(new) => {
            let it = new.read(&t.mm())?;
            (it.value.to_duration()?, it.interval.to_duration()?)
        }
    };
    let prev = arm(t, (!value.is_zero()).then_some(value), interval)?;
    if let Some(old) = old {
        old.write(&t.mm(), &itimerval(&prev))?;
    }
    Ok(0)
}

/// getitimer(which, curr).
pub fn getitimer(t: &mut TaskCtx, which: i32, curr: UserPtr<Itimerval>) -> SysResult {
    if which != ITIMER_REAL {
        return Err(Errno::EINVAL.into());
    }
    let timer = *t.task.tg.itimer.lock();
    curr.write(&t.mm(), &itimerval(&timer))?;
    Ok(0)
}

/// rt_sigtimedwait(set, info, timeout, sigsetsize).
pub fn rt_sigtimedwait(
    t: &mut TaskCtx,
    set: UserPtr<SigSet>,
    info: Option<UserPtr<SigInfo>>,
    timeout: Option<UserPtr<Timespec>>,
    size: u64,
) -> SysResult {
    if size != 8 {
        return Err(Errno::EINVAL.into());
    }
    let wanted = set.read(&t.mm())?.unblockable_removed();
    let deadline = match timeout {
        Some(ts) => Some(wait::deadline_after(read_timespec(&t.mm(), ts)?)),
        None => None,
    };
    loop {
        if let Some(got) = crate::kernel::task::dequeue_masked(&t.task, SigSet(!wanted.0)) {
            if let Some(info) = info {
                info.write(&t.mm(), &got)?;
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

//! Clocks and sleeping: clock_gettime, gettimeofday, time, clock_getres,
//! nanosleep, clock_nanosleep, alarm.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::errno::Errno;
use crate::kernel::Kernel;
use crate::kernel::signal::{SigInfo, code, sig};
use crate::kernel::task::{ERESTARTNOHAND, SysResult, TaskCtx};
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

fn read_timespec(t: &TaskCtx, addr: u64) -> Result<Duration, Errno> {
    let mut b = [0u8; 16];
    t.mm().read(addr, &mut b)?;
    let sec = i64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
    let nsec = i64::from_le_bytes(b[8..].try_into().expect("8 bytes"));
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(Duration::new(sec as u64, nsec as u32))
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
    sleep_for(t, Instant::now() + d, rem)
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
        Instant::now() + d.saturating_sub(now)
    } else {
        Instant::now() + d
    };
    let rem = if flags & TIMER_ABSTIME != 0 { 0 } else { rem };
    match sleep_for(t, deadline, rem) {
        // An absolute sleep restarts with the same deadline.
        Err(e) if flags & TIMER_ABSTIME != 0 => Err(e),
        r => r,
    }
}

/// alarm(seconds): returns the seconds left on the previous alarm.
pub fn alarm(t: &mut TaskCtx, seconds: u64) -> SysResult {
    let tg = Arc::clone(&t.task.tg);
    let kernel = Arc::clone(&t.task.kernel);
    let mut a = tg.alarm.lock();
    let left = a.0.map_or(0, |d| {
        let l = d.saturating_duration_since(Instant::now());
        // Linux rounds to the nearest second, but never reports 0 for a
        // pending alarm.
        let s = (l.as_millis() as u64 + 500) / 1000;
        s.max(1)
    });
    a.1 += 1;
    let generation = a.1;
    if seconds == 0 {
        a.0 = None;
        return Ok(left);
    }
    let deadline = Instant::now() + Duration::from_secs(seconds.min(u32::MAX as u64));
    a.0 = Some(deadline);
    drop(a);
    let weak = Arc::downgrade(&tg);
    std::thread::Builder::new()
        .name("alarm".into())
        .spawn(move || {
            std::thread::sleep(deadline.saturating_duration_since(Instant::now()));
            let Some(tg) = weak.upgrade() else { return };
            {
                let mut a = tg.alarm.lock();
                if a.1 != generation || a.0.is_none() {
                    return;
                }
                a.0 = None;
            }
            crate::kernel::process::send_to_group(
                &kernel,
                &tg,
                SigInfo::from_process(sig::SIGALRM, code::SI_KERNEL, 0, 0),
            );
        })
        .map_err(|_| Errno::EAGAIN)?;
    Ok(left)
}

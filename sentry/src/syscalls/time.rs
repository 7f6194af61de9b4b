//! Clocks and sleeping: clock_gettime, gettimeofday, time, clock_getres,
//! clock_settime, clock_adjtime, adjtimex, nanosleep, clock_nanosleep,
//! restart_syscall, alarm, setitimer and getitimer. Every Linux clock id is
//! decoded by [`Clock::decode`]; the CPU clocks and timers live in
//! `kernel::timers`.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::abi::UserPtr;
use crate::abi::time::{Itimerval, Timespec, Timeval};
use crate::errno::Errno;
use crate::kernel::Kernel;
use crate::kernel::signal::{SigInfo, SigSet, Signal, code};
use crate::kernel::task::{ERESTARTNOHAND, RealTimer, SysResult, TaskCtx};
use crate::kernel::timers::{self, Clock, CpuItimer, CpuItimerKind, Expiry, SleepRestart};
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
        CLOCK_REALTIME => SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default(),
        // The host's own coarse clocks: as of its last tick.
        CLOCK_REALTIME_COARSE => host(libc::CLOCK_REALTIME_COARSE),
        CLOCK_MONOTONIC_COARSE => host(libc::CLOCK_MONOTONIC_COARSE),
        CLOCK_BOOTTIME => host(libc::CLOCK_BOOTTIME),
        CLOCK_PROCESS_CPUTIME_ID | CLOCK_THREAD_CPUTIME_ID => kernel.start.elapsed(),
        CLOCK_MONOTONIC_RAW => host(libc::CLOCK_MONOTONIC_RAW),
        timers::id::TAI => tai(),
        _ => host(libc::CLOCK_MONOTONIC),
    }
}

/// The host's CLOCK_TAI (CLOCK_REALTIME if the host cannot read it).
fn tai() -> Duration {
    match rustix::time::clock_gettime_dynamic(rustix::time::DynamicClockId::Tai) {
        Ok(ts) => Duration::new(
            ts.tv_sec.max(0) as u64,
            ts.tv_nsec.clamp(0, 999_999_999) as u32,
        ),
        Err(_) => host(libc::CLOCK_REALTIME),
    }
}

/// The value of `clock` for the calling task; EINVAL for a clock that
/// cannot be read (an alarm clock without an RTC, a descriptor clock, a
/// CPU clock naming no task). `gettime`: clock_gettime's lookup, which
/// also accepts a thread's tid for its process clock.
pub fn clock_value(t: &TaskCtx, clock: Clock, gettime: bool) -> Result<Duration, Errno> {
    match clock {
        Clock::Wall(id) => Ok(clock_now(id, &t.task.kernel)),
        Clock::Alarm | Clock::Fd => Err(Errno::EINVAL),
        Clock::Cpu { pid, thread, which } => {
            let target = timers::cpu_target(&t.task, pid, thread, gettime)?;
            Ok(Duration::from_nanos(timers::cpu_now(
                &target, which, &t.task,
            )))
        }
    }
}

/// Reads a guest `struct timespec` as a duration, EINVAL unless it is a
/// valid time ([`Timespec::to_duration`]).
pub fn read_timespec(mm: &AddressSpace, ptr: UserPtr<Timespec>) -> Result<Duration, Errno> {
    ptr.read(mm)?.to_duration()
}

/// clock_gettime(clock, tp).
pub fn clock_gettime(t: &mut TaskCtx, clock: i32, tp: UserPtr<Timespec>) -> SysResult {
    let c = Clock::decode(clock).ok_or(Errno::EINVAL)?;
    let now = clock_value(t, c, true)?;
    tp.write(&t.mm(), &Timespec::from_duration(now))?;
    Ok(0)
}

/// clock_getres(clock, res).
pub fn clock_getres(t: &mut TaskCtx, clock: i32, res: Option<UserPtr<Timespec>>) -> SysResult {
    let r = match Clock::decode(clock).ok_or(Errno::EINVAL)? {
        Clock::Wall(CLOCK_REALTIME_COARSE | CLOCK_MONOTONIC_COARSE) => timers::MIN_TICK,
        Clock::Wall(_) => Duration::from_nanos(1),
        Clock::Alarm | Clock::Fd => return Err(Errno::EINVAL.into()),
        Clock::Cpu { pid, thread, which } => {
            timers::cpu_target(&t.task, pid, thread, false)?;
            timers::cpu_resolution(which)
        }
    };
    if let Some(res) = res {
        res.write(&t.mm(), &Timespec::from_duration(r))?;
    }
    Ok(0)
}

/// clock_settime(clock, tp): the sandbox never sets the host's clock, and
/// keeps no clock of its own to set, so CLOCK_REALTIME (the only settable
/// clock) and the CPU clocks give EPERM, as for a caller without
/// CAP_SYS_TIME; an invalid time is EINVAL first, and the clocks Linux
/// cannot set are EINVAL.
pub fn clock_settime(t: &mut TaskCtx, clock: i32, tp: UserPtr<Timespec>) -> SysResult {
    match Clock::decode(clock).ok_or(Errno::EINVAL)? {
        Clock::Wall(CLOCK_REALTIME) => {
            let ts = tp.read(&t.mm())?;
            ts.to_duration()?;
            Err(Errno::EPERM.into())
        }
        // CLOCK_PROCESS_CPUTIME_ID and CLOCK_THREAD_CPUTIME_ID have no
        // clock_set at all; the encoded CPU clocks refuse with EPERM.
        Clock::Cpu { pid, thread, .. } if clock < 0 => {
            tp.read(&t.mm())?;
            timers::cpu_target(&t.task, pid, thread, false)?;
            Err(Errno::EPERM.into())
        }
        _ => Err(Errno::EINVAL.into()),
    }
}

/// settimeofday(tv, tz): as clock_settime(CLOCK_REALTIME): an invalid
/// time is EINVAL, anything else EPERM.
pub fn settimeofday(t: &mut TaskCtx, tv: Option<UserPtr<Timeval>>, tz: u64) -> SysResult {
    if let Some(tv) = tv {
        tv.read(&t.mm())?.to_duration()?;
    }
    if tz != 0 {
        let mut b = [0u8; 8];
        t.mm().read(tz, &mut b)?;
    }
    Err(Errno::EPERM.into())
}

/// Size of `struct timex`.
const TIMEX_SIZE: usize = 208;

/// adjtimex's and clock_adjtime's read-only part: mode 0 (or
/// ADJ_OFFSET_SS_READ) fills `struct timex` with the state of a clock no
/// one disciplines (STA_UNSYNC, zero frequency offset, tick 10000) and the
/// current time, and returns TIME_ERROR as Linux does for an unsynchronised
/// clock; any mode that would change the clock is EPERM (the caller has no
/// CAP_SYS_TIME over the host's clock).
fn adjtime(t: &mut TaskCtx, buf: u64) -> SysResult {
    const ADJ_OFFSET_SINGLESHOT: u32 = 0x0001;
    const ADJ_OFFSET_READONLY: u32 = 0x2000;
    const ADJ_ADJTIME: u32 = 0x8000;
    const STA_UNSYNC: i32 = 0x0040;
    const TIME_ERROR: u64 = 5;
    let mm = t.mm();
    let mut tx = [0u8; TIMEX_SIZE];
    mm.read(buf, &mut tx)?;
    let modes = u32::from_le_bytes(tx[..4].try_into().expect("4 bytes"));
    if modes & ADJ_ADJTIME != 0 {
        if modes & ADJ_OFFSET_SINGLESHOT == 0 {
            return Err(Errno::EINVAL.into());
        }
        if modes & ADJ_OFFSET_READONLY == 0 {
            return Err(Errno::EPERM.into());
        }
    } else if modes != 0 {
        return Err(Errno::EPERM.into());
    }
    let now = Timeval::from_duration(clock_now(CLOCK_REALTIME, &t.task.kernel));
    let mut put = |off: usize, v: i64| tx[off..off + 8].copy_from_slice(&v.to_le_bytes());
    put(8, 0); // offset
    put(16, 0); // freq
    put(24, 16_000_000); // maxerror (NTP_PHASE_LIMIT)
    put(32, 16_000_000); // esterror
    put(48, 2); // constant
    put(56, 1); // precision
    put(64, 32_768_000); // tolerance (MAXFREQ_SCALED)
    put(72, now.sec);
    put(80, now.usec);
    put(88, 10_000); // tick
    for off in [96, 104, 120, 128, 136, 144, 152] {
        put(off, 0); // ppsfreq, jitter, stabil, jitcnt, calcnt, errcnt, stbcnt
    }
    tx[40..44].copy_from_slice(&STA_UNSYNC.to_le_bytes());
    tx[112..116].copy_from_slice(&0i32.to_le_bytes()); // shift
    tx[160..164].copy_from_slice(&0i32.to_le_bytes()); // tai
    mm.write(buf, &tx)?;
    Ok(TIME_ERROR)
}

/// adjtimex(buf): read-only ([`adjtime`]).
pub fn adjtimex(t: &mut TaskCtx, buf: u64) -> SysResult {
    adjtime(t, buf)
}

/// clock_adjtime(clock, buf): CLOCK_REALTIME as adjtimex; the other valid
/// clocks cannot be adjusted (EOPNOTSUPP), a descriptor clock names no
/// clock here (EINVAL).
pub fn clock_adjtime(t: &mut TaskCtx, clock: i32, buf: u64) -> SysResult {
    match Clock::decode(clock).ok_or(Errno::EINVAL)? {
        Clock::Wall(CLOCK_REALTIME) => adjtime(t, buf),
        Clock::Fd => Err(Errno::EINVAL.into()),
        _ => Err(Errno::EOPNOTSUPP.into()),
    }
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

/// Sleeps until `until` on `clock` (only signals end it early): Err when
/// a signal interrupted it.
fn sleep_until(t: &TaskCtx, clock: Clock, until: Expiry) -> Result<(), Errno> {
    use crate::kernel::wait::Blocker;
    match until {
        Expiry::At(deadline) => wait::sleep_until(&*t.task, deadline),
        Expiry::Cpu(target) => loop {
            t.task.check_interrupt()?;
            let now = clock_value(t, clock, false)?.as_nanos() as u64;
            if now >= target {
                return Ok(());
            }
            // CPU time grows no faster than wall time per thread: poll.
            let gap = Duration::from_nanos(target - now)
                .clamp(Duration::from_millis(1), Duration::from_millis(100));
            t.task.waiter.wait(Some(Instant::now() + gap));
        },
    }
}

/// The time left until `until` on `clock`.
fn time_left(t: &TaskCtx, clock: Clock, until: Expiry) -> Duration {
    match until {
        Expiry::At(d) => d.saturating_duration_since(Instant::now()),
        Expiry::Cpu(target) => clock_value(t, clock, false).map_or(Duration::ZERO, |now| {
            Duration::from_nanos(target).saturating_sub(now)
        }),
    }
}

/// A relative sleep until `until`: interrupted, it writes the time left to
/// `rem` and returns ERESTART_RESTARTBLOCK (EINTR if a handler runs; with
/// none, restart_syscall goes on sleeping to the same end).
fn relative_sleep(t: &mut TaskCtx, clock_id: i32, until: Expiry, rem: u64) -> SysResult {
    let clock = Clock::decode(clock_id).ok_or(Errno::EINVAL)?;
    match sleep_until(t, clock, until) {
        Ok(()) => Ok(0),
        Err(e) if e != Errno::ERESTARTSYS => Err(e.into()),
        Err(_) => {
            if rem != 0 {
                let left = time_left(t, clock, until);
                UserPtr::<Timespec>::new(rem).write(&t.mm(), &Timespec::from_duration(left))?;
            }
            *t.task.restart_block.lock() = Some(SleepRestart {
                clock: clock_id,
                until,
                rem,
            });
            Err(Errno::ERESTART_RESTARTBLOCK.into())
        }
    }
}

/// nanosleep(req, rem): a relative sleep on CLOCK_MONOTONIC.
pub fn nanosleep(
    t: &mut TaskCtx,
    req: UserPtr<Timespec>,
    rem: Option<UserPtr<Timespec>>,
) -> SysResult {
    let d = read_timespec(&t.mm(), req)?;
    let until = Expiry::At(wait::deadline_after(d));
    relative_sleep(t, CLOCK_MONOTONIC, until, rem.map_or(0, |r| r.addr()))
}

/// restart_syscall(): continues the sleep a signal interrupted (the
/// task's restart block); EINTR if there is none (Linux's
/// do_no_restart_syscall).
pub fn restart_syscall(t: &mut TaskCtx) -> SysResult {
    let Some(r) = t.task.restart_block.lock().take() else {
        return Err(Errno::EINTR.into());
    };
    relative_sleep(t, r.clock, r.until, r.rem)
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
    let c = Clock::decode(clock).ok_or(Errno::EINVAL)?;
    match c {
        // Linux 6.18 has no nsleep for CLOCK_THREAD_CPUTIME_ID.
        _ if clock == CLOCK_THREAD_CPUTIME_ID => return Err(Errno::EOPNOTSUPP.into()),
        Clock::Wall(CLOCK_REALTIME | CLOCK_MONOTONIC | CLOCK_BOOTTIME | timers::id::TAI) => {}
        Clock::Wall(_) | Clock::Alarm | Clock::Fd => return Err(Errno::EOPNOTSUPP.into()),
        Clock::Cpu { .. } => {}
    }
    let d = read_timespec(&t.mm(), req)?;
    let abs = flags & TIMER_ABSTIME != 0;
    let until = match c {
        Clock::Cpu { pid, thread, .. } => {
            // A thread cannot sleep on its own CPU clock.
            if thread && (pid == 0 || pid == t.task.tid) {
                return Err(Errno::EINVAL.into());
            }
            let now = clock_value(t, c, false)?;
            Expiry::Cpu(if abs { d } else { now + d }.as_nanos() as u64)
        }
        _ if abs => {
            let now = clock_value(t, c, false)?;
            Expiry::At(wait::deadline_after(d.saturating_sub(now)))
        }
        _ => Expiry::At(wait::deadline_after(d)),
    };
    if !abs {
        return relative_sleep(t, clock, until, rem.map_or(0, |r| r.addr()));
    }
    // An absolute sleep restarts with its own arguments.
    match sleep_until(t, c, until) {
        Ok(()) => Ok(0),
        Err(e) if e != Errno::ERESTARTSYS => Err(e.into()),
        Err(_) => Err(ERESTARTNOHAND.into()),
    }
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
const ITIMER_VIRTUAL: i32 = 1;
const ITIMER_PROF: i32 = 2;

/// Linux's TICK_NSEC at HZ=250: what a CPU itimer's expiry is pushed back
/// by when armed, and what an overdue one reports.
const TICK_NS: u64 = 4_000_000;

fn cpu_kind(which: i32) -> Result<CpuItimerKind, Errno> {
    match which {
        ITIMER_VIRTUAL => Ok(CpuItimerKind::Virtual),
        ITIMER_PROF => Ok(CpuItimerKind::Prof),
        _ => Err(Errno::EINVAL),
    }
}

/// The process's CPU time an itimer counts, in ns.
fn itimer_clock(t: &TaskCtx, kind: CpuItimerKind) -> u64 {
    let which = match kind {
        CpuItimerKind::Virtual => timers::CpuWhich::Virt,
        CpuItimerKind::Prof => timers::CpuWhich::Prof,
    };
    let me = timers::CpuTarget::Process(Arc::clone(&t.task.tg));
    timers::cpu_now(&me, which, &t.task)
}

/// A CPU itimer as getitimer reports it (Linux's get_cpu_itimer: an
/// overdue expiry reports one tick).
fn cpu_itimerval(it: CpuItimer, now: u64) -> Itimerval {
    let left = it
        .expires
        .map_or(0, |e| if e <= now { TICK_NS } else { e - now });
    Itimerval {
        interval: Timeval::from_duration(Duration::from_nanos(it.interval)),
        value: Timeval::from_duration(Duration::from_nanos(left)),
    }
}

/// setitimer(which, new, old): ITIMER_REAL (SIGALRM), ITIMER_VIRTUAL
/// (SIGVTALRM, user CPU time) and ITIMER_PROF (SIGPROF, user + system).
pub fn setitimer(
    t: &mut TaskCtx,
    which: i32,
    new: Option<UserPtr<Itimerval>>,
    old: Option<UserPtr<Itimerval>>,
) -> SysResult {
    if !matches!(which, ITIMER_REAL | ITIMER_VIRTUAL | ITIMER_PROF) {
        return Err(Errno::EINVAL.into());
    }
    let (value, interval) = match new {
        None => (Duration::ZERO, Duration::ZERO),
        Some(new) => {
            let it = new.read(&t.mm())?;
            (it.value.to_duration()?, it.interval.to_duration()?)
        }
    };
    let prev = if which == ITIMER_REAL {
        itimerval(&arm(t, (!value.is_zero()).then_some(value), interval)?)
    } else {
        let kind = cpu_kind(which)?;
        let now = itimer_clock(t, kind);
        let new = CpuItimer {
            expires: (!value.is_zero()).then(|| {
                now.saturating_add(value.as_nanos() as u64)
                    .saturating_add(TICK_NS)
            }),
            interval: interval.as_nanos() as u64,
        };
        let (kernel, tg) = (Arc::clone(&t.task.kernel), Arc::clone(&t.task.tg));
        cpu_itimerval(tg.timers.set_itimer(&kernel, &tg, kind, new), now)
    };
    if let Some(old) = old {
        old.write(&t.mm(), &prev)?;
    }
    Ok(0)
}

/// getitimer(which, curr).
pub fn getitimer(t: &mut TaskCtx, which: i32, curr: UserPtr<Itimerval>) -> SysResult {
    let v = if which == ITIMER_REAL {
        itimerval(&t.task.tg.itimer.lock())
    } else {
        let kind = cpu_kind(which)?;
        let now = itimer_clock(t, kind);
        cpu_itimerval(t.task.tg.timers.itimer(kind), now)
    };
    curr.write(&t.mm(), &v)?;
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
        if t.task.tg.is_exiting() || t.task.is_zapped() || t.task.signal_pending() {
            return Err(Errno::EINTR.into());
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Err(Errno::EAGAIN.into());
        }
        t.task.waiter.wait(deadline);
    }
}

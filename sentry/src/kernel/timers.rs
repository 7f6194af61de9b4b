//! Clocks ids, CPU-time clocks and the timers that run on them: POSIX
//! timers (timer_create and friends), the CPU itimers (ITIMER_VIRTUAL,
//! ITIMER_PROF), RLIMIT_CPU, and the restart block of an interrupted
//! relative sleep.
//!
//! CPU time is the host CPU time of the worker thread that runs a task
//! ([`super::sched::CpuTime`]): guest code inside KVM_RUN and the sentry's
//! work for the task both count. It is split as Linux splits it: guest
//! mode is user time, the sentry's work and the crossings system time
//! (estimated by the run loop; see `CpuTime` for how).
//!
//! Wall-clock timers wait in one process-wide [`queue`] (a heap of
//! deadlines served by one host thread). CPU-time expiries are checked by
//! the task's own run loop after every trap ([`check_cpu`]) while anything
//! CPU-based is armed; a per-process ticker thread kicks the group's vCPUs
//! out of the guest at least every [`MIN_TICK`] to [`MAX_TICK`] (as
//! Linux's CPU timers run from the scheduler tick), so a busy loop that
//! never traps still gets its SIGVTALRM, SIGPROF, SIGXCPU or timer signal.
//! A timer on another process's CPU clock is checked by the owner's
//! ticker itself, which also kicks the target's threads so that their
//! samples stay current ([`check_foreign`]).
//!
//! Lock order: [`GroupTimers`]'s state, then a [`PosixTimer`]'s state. They
//! are leaves: nothing else is locked while either is held (CPU times are
//! read and signals sent with both released), so they may be taken under
//! any other lock (a group becoming a zombie clears its timers).

use std::collections::{BTreeMap, BinaryHeap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, Weak};
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::Kernel;
use super::signal::{SigInfo, Signal};
use super::task::{Task, ThreadGroup};
use crate::errno::Errno;

/// `si_code` of a POSIX timer's signal.
pub const SI_TIMER: i32 = -2;

/// The most POSIX timers a process may have at once: timer_create fails
/// with EAGAIN beyond it (Linux bounds them only by memory and
/// RLIMIT_SIGPENDING; the sandbox uses a fixed, documented maximum).
pub const MAX_TIMERS: usize = 4096;

/// The shortest period of the CPU-timer ticker (Linux's tick at HZ=250).
pub const MIN_TICK: Duration = Duration::from_millis(4);
/// The longest period of the CPU-timer ticker.
pub const MAX_TICK: Duration = Duration::from_millis(250);

/// What a CPU clock counts (Linux's CPUCLOCK_PROF, _VIRT, _SCHED).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuWhich {
    /// User plus system time.
    Prof,
    /// User time.
    Virt,
    /// All time the task ran (here: user plus system).
    Sched,
}

/// A decoded `clockid_t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Clock {
    /// A clock that reads like the host's clock with this id (REALTIME,
    /// MONOTONIC, MONOTONIC_RAW, the coarse ones, BOOTTIME, TAI).
    Wall(i32),
    /// CLOCK_REALTIME_ALARM or CLOCK_BOOTTIME_ALARM: the sandbox has no
    /// RTC, so they behave as on a Linux without one (EINVAL to read,
    /// EOPNOTSUPP to arm).
    Alarm,
    /// A CPU-time clock: of the caller (`pid` 0) or of the named process or
    /// thread.
    Cpu {
        /// The pid or tid (0: the caller's process or thread).
        pid: i32,
        /// A per-thread clock.
        thread: bool,
        /// What it counts.
        which: CpuWhich,
    },
    /// A dynamic clock on a descriptor (a PTP device): the sandbox has
    /// none, so every descriptor is "not a clock".
    Fd,
}

/// Clock ids.
pub mod id {
    /// CLOCK_REALTIME.
    pub const REALTIME: i32 = 0;
    /// CLOCK_MONOTONIC.
    pub const MONOTONIC: i32 = 1;
    /// CLOCK_PROCESS_CPUTIME_ID.
    pub const PROCESS_CPUTIME_ID: i32 = 2;
    /// CLOCK_THREAD_CPUTIME_ID.
    pub const THREAD_CPUTIME_ID: i32 = 3;
    /// CLOCK_MONOTONIC_RAW.
    pub const MONOTONIC_RAW: i32 = 4;
    /// CLOCK_REALTIME_COARSE.
    pub const REALTIME_COARSE: i32 = 5;
    /// CLOCK_MONOTONIC_COARSE.
    pub const MONOTONIC_COARSE: i32 = 6;
    /// CLOCK_BOOTTIME.
    pub const BOOTTIME: i32 = 7;
    /// CLOCK_REALTIME_ALARM.
    pub const REALTIME_ALARM: i32 = 8;
    /// CLOCK_BOOTTIME_ALARM.
    pub const BOOTTIME_ALARM: i32 = 9;
    /// CLOCK_TAI.
    pub const TAI: i32 = 11;
}

impl Clock {
    /// Decodes a clock id as Linux's `clockid_to_kclock` and the CPU
    /// clocks' `CPUCLOCK_PID`/`CPUCLOCK_PERTHREAD`/`CPUCLOCK_WHICH` do;
    /// None: EINVAL (including CLOCK_SGI_CYCLE, 10).
    pub fn decode(clock: i32) -> Option<Clock> {
        let cpu = |thread| Clock::Cpu {
            pid: 0,
            thread,
            which: CpuWhich::Sched,
        };
        Some(match clock {
            id::PROCESS_CPUTIME_ID => cpu(false),
            id::THREAD_CPUTIME_ID => cpu(true),
            id::REALTIME_ALARM | id::BOOTTIME_ALARM => Clock::Alarm,
            0..=11 if clock != 10 => Clock::Wall(clock),
            c if c < 0 => {
                if c & 7 == 3 {
                    return Some(Clock::Fd);
                }
                let which = match c & 3 {
                    0 => CpuWhich::Prof,
                    1 => CpuWhich::Virt,
                    2 => CpuWhich::Sched,
                    _ => return None,
                };
                Clock::Cpu {
                    pid: !(c >> 3),
                    thread: c & 4 != 0,
                    which,
                }
            }
            _ => return None,
        })
    }
}

/// Whose CPU time a CPU clock reads.
#[derive(Clone)]
pub enum CpuTarget {
    /// One thread.
    Thread(Arc<Task>),
    /// A whole process.
    Process(Arc<ThreadGroup>),
}

/// Resolves a CPU clock's pid as Linux's `pid_for_clock`: 0 is the
/// caller's thread or process; a thread clock must name a thread of the
/// caller's process; a process clock must name a process (or, for
/// clock_gettime, the caller's own tid). EINVAL otherwise.
pub fn cpu_target(
    me: &Arc<Task>,
    pid: i32,
    thread: bool,
    gettime: bool,
) -> Result<CpuTarget, Errno> {
    if pid == 0 {
        return Ok(if thread {
            CpuTarget::Thread(Arc::clone(me))
        } else {
            CpuTarget::Process(Arc::clone(&me.tg))
        });
    }
    let table = me.kernel.table.lock();
    if thread {
        return match table.tasks.get(&pid) {
            Some(t) if Arc::ptr_eq(&t.tg, &me.tg) => Ok(CpuTarget::Thread(Arc::clone(t))),
            _ => Err(Errno::EINVAL),
        };
    }
    if gettime && pid == me.tid {
        return Ok(CpuTarget::Process(Arc::clone(&me.tg)));
    }
    table
        .procs
        .get(&pid)
        .map(|p| CpuTarget::Process(Arc::clone(&p.tg)))
        .ok_or(Errno::EINVAL)
}

/// A task's CPU time: exact for the caller itself, else as of the task's
/// last sample.
fn thread_times(task: &Task, me: &Task) -> super::sched::Times {
    if std::ptr::eq(task, me) {
        task.sched.cpu.sample()
    } else {
        task.sched.cpu.last()
    }
}

/// A process's CPU time: its exited threads' and its live threads'.
fn group_times(tg: &ThreadGroup, me: &Task) -> super::sched::Times {
    let threads = tg.threads.lock();
    threads
        .iter()
        .fold(tg.times.dead(), |acc, t| acc + thread_times(t, me))
}

fn pick(t: super::sched::Times, which: CpuWhich) -> u64 {
    match which {
        CpuWhich::Virt => t.user,
        CpuWhich::Prof | CpuWhich::Sched => t.user + t.sys,
    }
}

/// The value of a CPU clock, in nanoseconds, as `me` sees it.
pub fn cpu_now(target: &CpuTarget, which: CpuWhich, me: &Task) -> u64 {
    match target {
        CpuTarget::Thread(t) => pick(thread_times(t, me), which),
        CpuTarget::Process(tg) => pick(group_times(tg, me), which),
    }
}

/// The value of a CPU clock as of its threads' last samples (for a
/// thread that is none of them: the ticker).
fn cpu_sampled(target: &CpuTarget, which: CpuWhich) -> u64 {
    let t = match target {
        CpuTarget::Thread(t) => t.sched.cpu.last(),
        CpuTarget::Process(tg) => {
            let threads = tg.threads.lock();
            threads
                .iter()
                .fold(tg.times.dead(), |acc, t| acc + t.sched.cpu.last())
        }
    };
    pick(t, which)
}

/// The resolution clock_getres reports for a CPU clock: 1 ns for the
/// scheduler clock, a tick (HZ=250) for the PROF and VIRT clocks.
pub fn cpu_resolution(which: CpuWhich) -> Duration {
    match which {
        CpuWhich::Sched => Duration::from_nanos(1),
        CpuWhich::Prof | CpuWhich::Virt => MIN_TICK,
    }
}

/// When a timer or a sleep ends: an instant of the host's monotonic
/// clock (every wall clock is converted to one when armed), or a value of
/// a CPU clock in nanoseconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Expiry {
    /// A wall-clock expiry.
    At(Instant),
    /// A CPU-clock expiry.
    Cpu(u64),
}

/// The restart block of a relative sleep a signal interrupted
/// (ERESTART_RESTARTBLOCK): restart_syscall goes on sleeping until the
/// same expiry.
#[derive(Clone, Debug)]
pub struct SleepRestart {
    /// The clock id the sleep was on.
    pub clock: i32,
    /// When it ends.
    pub until: Expiry,
    /// Where to write the time left if interrupted again (0: nowhere).
    pub rem: u64,
}

// ---------------------------------------------------------------------
// The wall-clock timer queue.

/// Something a wall-clock deadline fires.
pub trait Fire: Send + Sync {
    /// The deadline armed with `generation` passed.
    fn fire(&self, generation: u64);
}

struct Entry {
    at: Instant,
    seq: u64,
    target: Weak<dyn Fire>,
    generation: u64,
}

impl PartialEq for Entry {
    fn eq(&self, o: &Self) -> bool {
        (self.at, self.seq) == (o.at, o.seq)
    }
}
impl Eq for Entry {}
impl PartialOrd for Entry {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Entry {
    // Reversed: the heap's top is the earliest deadline.
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (o.at, o.seq).cmp(&(self.at, self.seq))
    }
}

/// The process-wide queue of wall-clock deadlines, served by one host
/// thread. Stale entries (a re-armed or deleted timer) stay in the heap
/// until due; the target ignores a generation it no longer has.
pub struct TimerQueue {
    heap: Mutex<(BinaryHeap<Entry>, u64)>,
    cv: Condvar,
}

impl TimerQueue {
    /// Fires `target` with `generation` at `at`.
    pub fn schedule(&self, at: Instant, target: Weak<dyn Fire>, generation: u64) {
        let mut h = self.heap.lock();
        h.1 += 1;
        let seq = h.1;
        let earliest = h.0.peek().is_none_or(|e| at < e.at);
        h.0.push(Entry {
            at,
            seq,
            target,
            generation,
        });
        if earliest {
            self.cv.notify_all();
        }
    }

    fn serve(&self) {
        loop {
            let mut due = Vec::new();
            {
                let mut h = self.heap.lock();
                let now = Instant::now();
                while h.0.peek().is_some_and(|e| e.at <= now) {
                    due.push(h.0.pop().expect("peeked"));
                }
                if due.is_empty() {
                    match h.0.peek().map(|e| e.at) {
                        Some(at) => {
                            self.cv.wait_until(&mut h, at);
                        }
                        None => self.cv.wait(&mut h),
                    }
                    continue;
                }
            }
            for e in due {
                if let Some(t) = e.target.upgrade() {
                    t.fire(e.generation);
                }
            }
        }
    }
}

/// The timer queue (started on first use). None if the host could not
/// start its thread.
pub fn queue() -> Option<&'static TimerQueue> {
    static QUEUE: OnceLock<Option<&'static TimerQueue>> = OnceLock::new();
    *QUEUE.get_or_init(|| {
        let q: &'static TimerQueue = Box::leak(Box::new(TimerQueue {
            heap: Mutex::new((BinaryHeap::new(), 0)),
            cv: Condvar::new(),
        }));
        match std::thread::Builder::new()
            .name("timers".into())
            .spawn(move || q.serve())
        {
            Ok(_) => Some(q),
            Err(e) => {
                tracing::error!("cannot start the timer thread: {e}");
                None
            }
        }
    })
}

// ---------------------------------------------------------------------
// POSIX timers.

/// How a timer notifies (its `struct sigevent`).
#[derive(Clone, Debug)]
pub enum Notify {
    /// SIGEV_NONE.
    None,
    /// SIGEV_SIGNAL (to the process) or SIGEV_THREAD_ID (to `thread`).
    Signal {
        /// The signal.
        signal: Signal,
        /// `sigev_value`.
        value: u64,
        /// The thread of SIGEV_THREAD_ID.
        thread: Option<Weak<Task>>,
    },
}

/// The clock a timer runs on.
#[derive(Clone)]
pub enum TimerClock {
    /// A wall clock (the id).
    Wall(i32),
    /// A CPU clock.
    Cpu(CpuTarget, CpuWhich),
}

#[derive(Debug, Default)]
struct TimerState {
    expires: Option<Expiry>,
    interval: Duration,
    generation: u64,
    /// A signal is queued and not yet delivered (the timer re-arms at
    /// delivery, counting the expirations missed meanwhile as overruns).
    queued: bool,
    /// The overrun count of the last delivered signal.
    overrun: i32,
    deleted: bool,
}

/// A POSIX timer.
pub struct PosixTimer {
    /// Its id in the process.
    pub id: i32,
    /// Its clock.
    pub clock: TimerClock,
    notify: Notify,
    tg: Weak<ThreadGroup>,
    kernel: Weak<Kernel>,
    state: Mutex<TimerState>,
    me: Weak<PosixTimer>,
}

/// A timer's setting (timer_gettime, setitimer's old value).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Setting {
    /// Time to the next expiry (zero: disarmed).
    pub value: Duration,
    /// Reload interval.
    pub interval: Duration,
}

fn ns(d: Duration) -> u64 {
    u64::try_from(d.as_nanos()).unwrap_or(u64::MAX)
}

/// The number of whole intervals after `expiry` that have passed at
/// `now`, and the first expiry after `now` on that grid.
fn forward(expiry: Expiry, now: Expiry, interval: Duration) -> (u64, Expiry) {
    let iv = ns(interval).max(1);
    match (expiry, now) {
        (Expiry::At(e), Expiry::At(n)) => {
            let late = ns(n.saturating_duration_since(e));
            let k = late / iv;
            let next = e + Duration::from_nanos(iv.saturating_mul(k + 1).min(u64::MAX / 2));
            (k, Expiry::At(next))
        }
        (Expiry::Cpu(e), Expiry::Cpu(n)) => {
            let k = n.saturating_sub(e) / iv;
            (k, Expiry::Cpu(e.saturating_add(iv.saturating_mul(k + 1))))
        }
        _ => (0, expiry),
    }
}

fn reached(expiry: Expiry, now: Expiry) -> bool {
    match (expiry, now) {
        (Expiry::At(e), Expiry::At(n)) => n >= e,
        (Expiry::Cpu(e), Expiry::Cpu(n)) => n >= e,
        _ => false,
    }
}

fn left(expiry: Expiry, now: Expiry) -> Duration {
    match (expiry, now) {
        (Expiry::At(e), Expiry::At(n)) => e.saturating_duration_since(n),
        (Expiry::Cpu(e), Expiry::Cpu(n)) => Duration::from_nanos(e.saturating_sub(n)),
        _ => Duration::ZERO,
    }
}

impl PosixTimer {
    /// This clock's "now" as an [`Expiry`], as `me` sees it.
    fn now(&self, me: &Task) -> Expiry {
        match &self.clock {
            TimerClock::Wall(_) => Expiry::At(Instant::now()),
            TimerClock::Cpu(target, which) => Expiry::Cpu(cpu_now(target, *which, me)),
        }
    }

    fn is_cpu(&self) -> bool {
        matches!(self.clock, TimerClock::Cpu(..))
    }

    /// The process whose CPU clock the timer runs on when that is not the
    /// timer's own process (clock_getcpuclockid of another process). Its
    /// threads sample their CPU time, not the timer's, so the owner's
    /// ticker kicks them and checks the expiry itself ([`ticker`]).
    fn foreign(&self) -> Option<&Arc<ThreadGroup>> {
        match &self.clock {
            TimerClock::Cpu(CpuTarget::Process(tg), _)
                if !std::ptr::eq(Arc::as_ptr(tg), self.tg.as_ptr()) =>
            {
                Some(tg)
            }
            _ => None,
        }
    }

    fn setting(st: &TimerState, now: Expiry, sig_none: bool) -> Setting {
        let Some(e) = st.expires else {
            return Setting {
                value: Duration::ZERO,
                interval: st.interval,
            };
        };
        let e = if !st.interval.is_zero() && reached(e, now) {
            forward(e, now, st.interval).1
        } else {
            e
        };
        let mut value = left(e, now);
        // An expired timer whose signal is not yet delivered reports 1 ns
        // (Linux's common_timer_get); an expired one-shot SIGEV_NONE
        // timer reports 0.
        if value.is_zero() && (!sig_none || !st.interval.is_zero()) {
            value = Duration::from_nanos(1);
        }
        if value.is_zero() || (sig_none && st.interval.is_zero() && reached(e, now)) {
            value = Duration::ZERO;
        }
        Setting {
            value,
            interval: st.interval,
        }
    }

    /// timer_gettime.
    pub fn get(&self, me: &Task) -> Setting {
        let now = self.now(me);
        let st = self.state.lock();
        Self::setting(&st, now, matches!(self.notify, Notify::None))
    }

    /// The overrun count of the last delivered signal.
    pub fn overrun(&self) -> i32 {
        self.state.lock().overrun
    }

    /// timer_settime: arms the timer at `value` (relative, or absolute on
    /// the timer's clock when `abs_now` gives that clock's current value)
    /// with `interval`, or disarms it when `value` is zero. Returns the
    /// old setting.
    pub fn set(
        &self,
        me: &Task,
        value: Duration,
        interval: Duration,
        abs_now: Option<Duration>,
    ) -> Setting {
        let now = self.now(me);
        let mut st = self.state.lock();
        let old = Self::setting(&st, now, matches!(self.notify, Notify::None));
        st.generation += 1;
        st.queued = false;
        st.overrun = 0;
        if value.is_zero() {
            st.expires = None;
            st.interval = Duration::ZERO;
            return old;
        }
        let expires = match (now, abs_now) {
            (Expiry::At(n), None) => Expiry::At(super::wait::deadline_after(value).max(n)),
            (Expiry::At(n), Some(c)) => Expiry::At(
                n + value
                    .saturating_sub(c)
                    .min(Duration::from_secs(100 * 365 * 86_400)),
            ),
            (Expiry::Cpu(n), None) => Expiry::Cpu(n.saturating_add(ns(value))),
            (Expiry::Cpu(_), Some(_)) => Expiry::Cpu(ns(value)),
        };
        st.expires = Some(expires);
        st.interval = interval;
        let generation = st.generation;
        drop(st);
        self.schedule(expires, generation);
        old
    }

    /// Puts an armed expiry where it will be noticed: the wall-clock queue,
    /// or the process's CPU checks.
    fn schedule(&self, expires: Expiry, generation: u64) {
        if matches!(self.notify, Notify::None) {
            return;
        }
        match expires {
            Expiry::At(at) => {
                if let Some(q) = queue() {
                    let me: Weak<dyn Fire> = self.me.clone();
                    q.schedule(at, me, generation);
                }
            }
            Expiry::Cpu(_) => {
                if let (Some(tg), Some(kernel)) = (self.tg.upgrade(), self.kernel.upgrade()) {
                    tg.timers.cpu_armed.store(true, Ordering::Release);
                    ensure_ticker(&kernel, &tg);
                }
            }
        }
    }

    /// The timer expired at `now` (its state generation `generation`):
    /// queue its signal, or re-arm it at once when the signal is ignored.
    fn expire(&self, generation: u64, now: Expiry) {
        let Notify::Signal {
            signal,
            value,
            thread,
        } = &self.notify
        else {
            return;
        };
        let (Some(tg), Some(kernel)) = (self.tg.upgrade(), self.kernel.upgrade()) else {
            return;
        };
        {
            let mut st = self.state.lock();
            if st.generation != generation || st.queued || st.deleted {
                return;
            }
            match st.expires {
                Some(e) if reached(e, now) => {}
                _ => return,
            }
            st.queued = true;
        }
        let mut info = SigInfo::kernel(*signal);
        info.code = SI_TIMER;
        info.data[0] = self.id as u32 as u64;
        info.data[1] = *value;
        // si_sys_private: the generation, checked at delivery (cleared
        // before the guest sees the siginfo).
        info.data[2] = generation;
        let target = thread.as_ref().and_then(Weak::upgrade);
        if !queue_signal(&kernel, &tg, target.as_ref(), info) {
            // Ignored: nothing will be delivered, so re-arm now.
            let next = {
                let mut st = self.state.lock();
                if st.generation != generation {
                    return;
                }
                st.queued = false;
                self.rearm(&mut st, now)
            };
            if let Some((e, g)) = next {
                self.schedule(e, g);
            }
        }
    }

    /// Moves an interval timer past `now`, counting the overruns; a
    /// one-shot timer is disarmed. Returns what to schedule.
    fn rearm(&self, st: &mut TimerState, now: Expiry) -> Option<(Expiry, u64)> {
        let e = st.expires?;
        if st.interval.is_zero() {
            st.expires = None;
            st.overrun = 0;
            return None;
        }
        let (k, next) = forward(e, now, st.interval);
        st.overrun = i32::try_from(k).unwrap_or(i32::MAX);
        st.expires = Some(next);
        st.generation += 1;
        Some((next, st.generation))
    }
}

impl Fire for PosixTimer {
    fn fire(&self, generation: u64) {
        self.expire(generation, Expiry::At(Instant::now()));
    }
}

/// A POSIX timer's signal is being delivered to `task` (dequeued): fill
/// in si_overrun and re-arm an interval timer. False when the timer was
/// deleted or re-armed since the signal was queued: the signal is then
/// dropped, as Linux drops it.
pub fn on_deliver(task: &Task, info: &mut SigInfo) -> bool {
    let id = info.data[0] as u32 as i32;
    let generation = info.data[2];
    let Some(timer) = task.tg.timers.state.lock().posix.get(&id).cloned() else {
        return false;
    };
    let now = timer.now(task);
    let next = {
        let mut st = timer.state.lock();
        if st.generation != generation || !st.queued {
            return false;
        }
        st.queued = false;
        let next = timer.rearm(&mut st, now);
        info.data[0] = (id as u32 as u64) | (u64::from(st.overrun as u32) << 32);
        info.data[2] = 0;
        next
    };
    if let Some((e, g)) = next {
        timer.schedule(e, g);
    }
    true
}

/// Queues a kernel-generated signal to `thread` (or to the process),
/// unless the process is exiting or the signal is ignored. Unlike
/// [`super::process::send_to_group`] it queues even a standard signal
/// that is already pending (Linux's send_sigqueue: a timer's preallocated
/// siginfo always goes on the list). Returns whether it was queued.
fn queue_signal(
    kernel: &Arc<Kernel>,
    tg: &Arc<ThreadGroup>,
    thread: Option<&Arc<Task>>,
    info: SigInfo,
) -> bool {
    if tg.is_exiting() {
        return false;
    }
    let Some(signal) = info.signal() else {
        return false;
    };
    let probe = match thread {
        Some(t) => Arc::clone(t),
        None => match tg.threads.lock().first() {
            Some(t) => Arc::clone(t),
            None => return false,
        },
    };
    if super::process::ignored_at_generation(&probe, &info) {
        return false;
    }
    super::process::stop_cont_side_effects(kernel, tg, signal);
    match thread {
        Some(t) => t.sig.lock().pending.push_always(info),
        None => tg.shared_pending.lock().push_always(info),
    }
    if signal == Signal::SIGKILL {
        tg.start_exit(super::signal::sig::SIGKILL);
    }
    match thread {
        Some(t) => t.wake(),
        None => tg.wake_all(),
    }
    true
}

// ---------------------------------------------------------------------
// Per-process state.

/// A CPU itimer (ITIMER_VIRTUAL or ITIMER_PROF): expiry and reload
/// interval in nanoseconds of the process's user (or user + system) time.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CpuItimer {
    /// When it fires (None: disarmed).
    pub expires: Option<u64>,
    /// Reload interval (0: one-shot).
    pub interval: u64,
}

#[derive(Default)]
struct State {
    posix: BTreeMap<i32, Arc<PosixTimer>>,
    next_id: i32,
    virt: CpuItimer,
    prof: CpuItimer,
    /// RLIMIT_CPU: the soft limit (seconds) and the CPU time (ns) at which
    /// its SIGXCPU is due, for the ticker's period.
    xcpu: Option<(u64, u64)>,
}

/// A process's timers: its POSIX timers, its CPU itimers and its
/// RLIMIT_CPU progress. A new process starts with none (fork inherits no
/// timer); execve deletes the POSIX timers and keeps the itimers.
#[derive(Default)]
pub struct GroupTimers {
    state: Mutex<State>,
    /// Something CPU-based may be due: the run loop checks after traps.
    cpu_armed: AtomicBool,
    /// The ticker thread is running.
    ticking: AtomicBool,
}

/// Which CPU itimer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CpuItimerKind {
    /// ITIMER_VIRTUAL (user time, SIGVTALRM).
    Virtual,
    /// ITIMER_PROF (user + system time, SIGPROF).
    Prof,
}

impl GroupTimers {
    /// Adds a timer; EAGAIN at [`MAX_TIMERS`]. Ids count up from 0 and
    /// skip ids in use (Linux 6.13's per-process ids).
    pub fn create(
        &self,
        me: &Arc<Task>,
        clock: TimerClock,
        notify: Option<Notify>,
    ) -> Result<Arc<PosixTimer>, Errno> {
        let mut s = self.state.lock();
        if s.posix.len() >= MAX_TIMERS {
            return Err(Errno::EAGAIN);
        }
        let mut id = s.next_id;
        while s.posix.contains_key(&id) {
            id = id.checked_add(1).unwrap_or(0);
        }
        s.next_id = id.checked_add(1).unwrap_or(0);
        // No sigevent: SIGALRM to the process with the timer id as value.
        let notify = notify.unwrap_or(Notify::Signal {
            signal: Signal::SIGALRM,
            value: id as u32 as u64,
            thread: None,
        });
        let timer = Arc::new_cyclic(|me_weak| PosixTimer {
            id,
            clock,
            notify,
            tg: Arc::downgrade(&me.tg),
            kernel: Arc::downgrade(&me.kernel),
            state: Mutex::new(TimerState::default()),
            me: me_weak.clone(),
        });
        s.posix.insert(id, Arc::clone(&timer));
        Ok(timer)
    }

    /// The timer `id` (EINVAL if none).
    pub fn get(&self, id: i32) -> Result<Arc<PosixTimer>, Errno> {
        self.state
            .lock()
            .posix
            .get(&id)
            .cloned()
            .ok_or(Errno::EINVAL)
    }

    /// timer_delete (EINVAL if none).
    pub fn delete(&self, id: i32) -> Result<(), Errno> {
        let t = self.state.lock().posix.remove(&id).ok_or(Errno::EINVAL)?;
        let mut st = t.state.lock();
        st.deleted = true;
        st.expires = None;
        st.generation += 1;
        Ok(())
    }

    /// execve: every POSIX timer is deleted (itimers stay).
    pub fn exec(&self) {
        let ids: Vec<i32> = self.state.lock().posix.keys().copied().collect();
        for id in ids {
            let _ = self.delete(id);
        }
    }

    /// The process is gone (a zombie): everything is disarmed and the
    /// timers dropped (a thread CPU clock's timer holds its thread).
    pub fn exit(&self) {
        self.exec();
        let mut s = self.state.lock();
        s.virt = CpuItimer::default();
        s.prof = CpuItimer::default();
        s.xcpu = None;
        drop(s);
        self.cpu_armed.store(false, Ordering::Release);
    }

    /// Reads a CPU itimer: (expires, interval) in ns of its clock.
    pub fn itimer(&self, kind: CpuItimerKind) -> CpuItimer {
        let s = self.state.lock();
        match kind {
            CpuItimerKind::Virtual => s.virt,
            CpuItimerKind::Prof => s.prof,
        }
    }

    /// Sets a CPU itimer; returns the old one.
    pub fn set_itimer(
        &self,
        kernel: &Arc<Kernel>,
        tg: &Arc<ThreadGroup>,
        kind: CpuItimerKind,
        new: CpuItimer,
    ) -> CpuItimer {
        let old = {
            let mut s = self.state.lock();
            let slot = match kind {
                CpuItimerKind::Virtual => &mut s.virt,
                CpuItimerKind::Prof => &mut s.prof,
            };
            std::mem::replace(slot, new)
        };
        if new.expires.is_some() {
            self.cpu_armed.store(true, Ordering::Release);
            ensure_ticker(kernel, tg);
        }
        old
    }

    /// Whether the run loop should call [`check_cpu`] after a trap.
    pub fn cpu_armed(&self) -> bool {
        self.cpu_armed.load(Ordering::Acquire)
    }
}

/// The process's RLIMIT_CPU (soft, hard), in seconds.
fn cpu_rlimit(tg: &ThreadGroup) -> (u64, u64) {
    let inf = super::limits::RLIM_INFINITY;
    tg.limits
        .lock()
        .get(super::limits::resource::CPU)
        .unwrap_or((inf, inf))
}

/// Called when a task starts running, and after a syscall that may have
/// changed the process's RLIMIT_CPU (setrlimit, prlimit64): a finite limit
/// needs the run loop's checks and the ticker.
pub fn limits_changed(kernel: &Arc<Kernel>, tg: &Arc<ThreadGroup>) {
    let (soft, hard) = cpu_rlimit(tg);
    if soft != super::limits::RLIM_INFINITY || hard != super::limits::RLIM_INFINITY {
        tg.timers.cpu_armed.store(true, Ordering::Release);
        ensure_ticker(kernel, tg);
    }
}

/// After setrlimit or prlimit64 by `task` on process `pid` (0: its own).
pub fn limits_changed_for(task: &Arc<Task>, pid: i32) {
    let tg = if pid == 0 {
        Arc::clone(&task.tg)
    } else {
        match task.kernel.table.lock().procs.get(&pid) {
            Some(p) => Arc::clone(&p.tg),
            None => return,
        }
    };
    limits_changed(&task.kernel, &tg);
}

/// Starts the process's ticker thread unless it runs.
fn ensure_ticker(kernel: &Arc<Kernel>, tg: &Arc<ThreadGroup>) {
    if tg.timers.ticking.swap(true, Ordering::AcqRel) {
        return;
    }
    let weak = Arc::downgrade(tg);
    let kernel = Arc::downgrade(kernel);
    let spawned = std::thread::Builder::new()
        .name("cpu-ticker".into())
        .spawn(move || ticker(weak, kernel));
    if let Err(e) = spawned {
        tracing::warn!("cannot start a CPU-timer ticker: {e}");
        tg.timers.ticking.store(false, Ordering::Release);
    }
}

/// Kicks the process's threads out of the guest while CPU timers are
/// armed, so each samples its CPU time and checks them ([`check_cpu`]).
fn ticker(tg: Weak<ThreadGroup>, kernel: Weak<Kernel>) {
    loop {
        let Some(g) = tg.upgrade() else { return };
        if g.is_exiting() || kernel.upgrade().is_none_or(|k| k.is_finished()) {
            g.timers.ticking.store(false, Ordering::Release);
            return;
        }
        if !g.timers.cpu_armed() {
            g.timers.ticking.store(false, Ordering::Release);
            // Re-check: an arm that saw `ticking` set just before.
            if g.timers.cpu_armed() && !g.timers.ticking.swap(true, Ordering::AcqRel) {
                continue;
            }
            return;
        }
        let period = next_tick(&g);
        drop(g);
        std::thread::sleep(period);
        let Some(g) = tg.upgrade() else { return };
        for t in g.threads.lock().iter() {
            t.kick();
        }
        check_foreign(&g);
    }
}

/// The ticker's part for timers on another process's CPU clock: kick that
/// process's threads (so each traps and samples its CPU time, which the
/// run loop does at most every 10 ms) and fire what the samples show due.
/// The owner's own threads may all be asleep, so they cannot check.
fn check_foreign(tg: &ThreadGroup) {
    let foreign: Vec<Arc<PosixTimer>> = tg
        .timers
        .state
        .lock()
        .posix
        .values()
        .filter(|t| t.foreign().is_some())
        .cloned()
        .collect();
    for t in foreign {
        let (expires, generation) = {
            let st = t.state.lock();
            (st.expires, st.generation)
        };
        let (Some(e), Some(target), TimerClock::Cpu(clock, which)) =
            (expires, t.foreign(), &t.clock)
        else {
            continue;
        };
        for th in target.threads.lock().iter() {
            th.kick();
        }
        let now = Expiry::Cpu(cpu_sampled(clock, *which));
        if reached(e, now) {
            t.expire(generation, now);
        }
    }
}

/// How long the ticker may sleep: the least CPU time left before any
/// armed expiry, divided among the threads (CPU time grows at most that
/// fast), between [`MIN_TICK`] and [`MAX_TICK`].
fn next_tick(tg: &ThreadGroup) -> Duration {
    let threads = tg.threads.lock().len().max(1) as u64;
    let now = {
        let list = tg.threads.lock();
        list.iter()
            .fold(tg.times.dead(), |acc, t| acc + t.sched.cpu.last())
    };
    let total = now.user + now.sys;
    let mut gap = ns(MAX_TICK);
    {
        let s = tg.timers.state.lock();
        if let Some(e) = s.virt.expires {
            gap = gap.min(e.saturating_sub(now.user));
        }
        if let Some(e) = s.prof.expires {
            gap = gap.min(e.saturating_sub(total));
        }
        if let Some((_, next)) = s.xcpu {
            gap = gap.min(next.saturating_sub(total));
        }
        for t in s.posix.values().filter(|t| t.is_cpu()) {
            if let Some(Expiry::Cpu(e)) = t.state.lock().expires {
                let now = match (t.foreign(), &t.clock) {
                    (Some(_), TimerClock::Cpu(clock, which)) => cpu_sampled(clock, *which),
                    _ => total,
                };
                gap = gap.min(e.saturating_sub(now));
            }
        }
    }
    Duration::from_nanos(gap / threads).clamp(MIN_TICK, MAX_TICK)
}

/// After a trap, while CPU timers are armed: samples the task's CPU time
/// and sends what is due (SIGVTALRM, SIGPROF, SIGXCPU and SIGKILL for
/// RLIMIT_CPU, CPU-clock timer signals), as Linux's
/// run_posix_cpu_timers does at each tick.
pub fn check_cpu(task: &Arc<Task>) {
    let tg = &task.tg;
    let times = group_times(tg, task);
    let total = times.user + times.sys;
    let (soft, hard) = cpu_rlimit(tg);
    let mut send = Vec::new();
    let mut bump_soft = false;
    let cpu_timers: Vec<Arc<PosixTimer>>;
    let armed;
    {
        let mut s = tg.timers.state.lock();
        let s = &mut *s;
        for (slot, now, signal) in [
            (&mut s.virt, times.user, Signal::SIGVTALRM),
            (&mut s.prof, total, Signal::SIGPROF),
        ] {
            if let Some(e) = slot.expires
                && now >= e
            {
                slot.expires = (slot.interval != 0).then(|| e.saturating_add(slot.interval));
                send.push(signal);
            }
        }
        // RLIMIT_CPU (Linux's check_process_timers): SIGKILL at the hard
        // limit; SIGXCPU at the soft limit, which then moves up a second
        // (visible to getrlimit), so it comes again every second.
        const SEC: u64 = 1_000_000_000;
        if hard != super::limits::RLIM_INFINITY && total >= hard.saturating_mul(SEC) {
            send.push(Signal::SIGKILL);
        } else if soft != super::limits::RLIM_INFINITY && total >= soft.saturating_mul(SEC) {
            send.push(Signal::SIGXCPU);
            bump_soft = true;
        }
        s.xcpu = (soft != super::limits::RLIM_INFINITY).then(|| {
            let soft = soft + u64::from(bump_soft);
            (soft, soft.saturating_mul(SEC))
        });
        cpu_timers = s.posix.values().filter(|t| t.is_cpu()).cloned().collect();
        armed = s.virt.expires.is_some()
            || s.prof.expires.is_some()
            || s.xcpu.is_some()
            || hard != super::limits::RLIM_INFINITY;
    }
    let mut cpu_armed = armed;
    for t in cpu_timers {
        let (expires, generation) = {
            let st = t.state.lock();
            (st.expires, st.generation)
        };
        let Some(e) = expires else { continue };
        cpu_armed = true;
        let now = t.now(task);
        if reached(e, now) {
            t.expire(generation, now);
        }
    }
    if !cpu_armed {
        tg.timers.cpu_armed.store(false, Ordering::Release);
    }
    if bump_soft {
        // soft < hard here (at the hard limit SIGKILL went instead), so
        // soft + 1 is a valid soft limit.
        let _ = tg
            .limits
            .lock()
            .set(super::limits::resource::CPU, soft + 1, hard, true);
    }
    for signal in send {
        super::process::send_to_group(&task.kernel, tg, SigInfo::kernel(signal));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_matches_linux_clock_ids() {
        assert_eq!(Clock::decode(0), Some(Clock::Wall(0)));
        assert_eq!(Clock::decode(11), Some(Clock::Wall(11)));
        assert_eq!(Clock::decode(10), None);
        assert_eq!(Clock::decode(12), None);
        assert_eq!(Clock::decode(8), Some(Clock::Alarm));
        // MAKE_PROCESS_CPUCLOCK(1, CPUCLOCK_SCHED) = -14.
        assert_eq!(
            Clock::decode(-14),
            Some(Clock::Cpu {
                pid: 1,
                thread: false,
                which: CpuWhich::Sched
            })
        );
        // MAKE_THREAD_CPUCLOCK(0, CPUCLOCK_VIRT) = -3.
        assert_eq!(
            Clock::decode(-3),
            Some(Clock::Cpu {
                pid: 0,
                thread: true,
                which: CpuWhich::Virt
            })
        );
        assert_eq!(Clock::decode(-1), None);
        assert_eq!(Clock::decode(-5), Some(Clock::Fd));
    }

    #[test]
    fn forward_counts_missed_intervals() {
        let (k, next) = forward(
            Expiry::Cpu(100),
            Expiry::Cpu(350),
            Duration::from_nanos(100),
        );
        assert_eq!((k, next), (2, Expiry::Cpu(400)));
        let (k, next) = forward(
            Expiry::Cpu(100),
            Expiry::Cpu(100),
            Duration::from_nanos(100),
        );
        assert_eq!((k, next), (0, Expiry::Cpu(200)));
    }
}

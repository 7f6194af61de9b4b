//! A task's scheduling attributes as Linux keeps them per thread: the nice
//! value, the policy and real-time priority (with SCHED_RESET_ON_FORK),
//! the I/O priority, and `comm` (the name PR_SET_NAME sets). The sentry
//! stores and reports them (and applies Linux's rules for what a child
//! inherits); the host scheduler does not see them.
//!
//! Lock order: [`SchedAttrs`]'s lock is a leaf, taken alone or under
//! `Kernel::table` and `ThreadGroup::threads`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

/// Lowest and highest nice values.
pub const MIN_NICE: i32 = -20;
/// Highest nice value.
pub const MAX_NICE: i32 = 19;

/// `SCHED_OTHER` (`SCHED_NORMAL`).
pub const SCHED_OTHER: u32 = 0;
/// `SCHED_FIFO`.
pub const SCHED_FIFO: u32 = 1;
/// `SCHED_RR`.
pub const SCHED_RR: u32 = 2;
/// `SCHED_BATCH`.
pub const SCHED_BATCH: u32 = 3;
/// `SCHED_IDLE`.
pub const SCHED_IDLE: u32 = 5;
/// `SCHED_DEADLINE`.
pub const SCHED_DEADLINE: u32 = 6;
/// `SCHED_EXT` (Linux 6.12): a BPF scheduler's class. Its priorities are
/// 0, but setting it fails while no such scheduler is loaded (always here).
pub const SCHED_EXT: u32 = 7;

/// `IOPRIO_CLASS_NONE`..`IOPRIO_CLASS_IDLE`, at bit 13 of an I/O priority.
pub const IOPRIO_CLASS_SHIFT: u32 = 13;
/// `IOPRIO_CLASS_NONE`.
pub const IOPRIO_CLASS_NONE: u16 = 0;
/// `IOPRIO_CLASS_RT`.
pub const IOPRIO_CLASS_RT: u16 = 1;
/// `IOPRIO_CLASS_BE`.
pub const IOPRIO_CLASS_BE: u16 = 2;
/// `IOPRIO_CLASS_IDLE`.
pub const IOPRIO_CLASS_IDLE: u16 = 3;

/// Length of `comm` with its NUL (`TASK_COMM_LEN`).
pub const TASK_COMM_LEN: usize = 16;

/// One task's attributes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Attrs {
    /// -20..=19.
    pub nice: i32,
    /// `SCHED_*`.
    pub policy: u32,
    /// 1..=99 for SCHED_FIFO and SCHED_RR, else 0.
    pub rt_priority: u32,
    /// SCHED_RESET_ON_FORK.
    pub reset_on_fork: bool,
    /// As ioprio_set stored it (0: never set).
    pub ioprio: u16,
    /// The name, NUL-padded; at most 15 bytes.
    pub comm: [u8; TASK_COMM_LEN],
    /// The CPUs sched_setaffinity allowed, one bit each (0: never set, all
    /// the sandbox's vCPUs).
    pub affinity: u64,
}

impl Default for Attrs {
    fn default() -> Self {
        Self {
            nice: 0,
            policy: SCHED_OTHER,
            rt_priority: 0,
            reset_on_fork: false,
            ioprio: 0,
            comm: [0; TASK_COMM_LEN],
            affinity: 0,
        }
    }
}

impl Attrs {
    /// Whether the policy is SCHED_FIFO or SCHED_RR.
    pub fn is_rt(&self) -> bool {
        matches!(self.policy, SCHED_FIFO | SCHED_RR)
    }

    /// What a child gets at fork or clone (Linux's `sched_fork` and
    /// `copy_io`): everything, except that SCHED_RESET_ON_FORK turns a
    /// real-time or deadline policy back into SCHED_OTHER at nice 0 (and
    /// a negative nice into 0) and is itself cleared, and an I/O priority
    /// of class NONE is not copied.
    pub fn for_child(&self) -> Self {
        let mut c = *self;
        if c.reset_on_fork {
            if c.is_rt() || c.policy == SCHED_DEADLINE {
                c.policy = SCHED_OTHER;
                c.rt_priority = 0;
                c.nice = 0;
            } else if c.nice < 0 {
                c.nice = 0;
            }
            c.reset_on_fork = false;
        }
        if c.ioprio >> IOPRIO_CLASS_SHIFT & 7 == IOPRIO_CLASS_NONE {
            c.ioprio = 0;
        }
        c
    }

    /// The I/O priority the block layer would use (Linux's
    /// `__get_task_ioprio`): the stored one, or for class NONE one
    /// derived from the policy and nice value.
    pub fn effective_ioprio(&self) -> u16 {
        if self.ioprio >> IOPRIO_CLASS_SHIFT & 7 != IOPRIO_CLASS_NONE {
            return self.ioprio;
        }
        let class = match self.policy {
            SCHED_IDLE => IOPRIO_CLASS_IDLE,
            SCHED_FIFO | SCHED_RR => IOPRIO_CLASS_RT,
            _ => IOPRIO_CLASS_BE,
        };
        (class << IOPRIO_CLASS_SHIFT) | ((self.nice + 20) / 5) as u16
    }

    /// `comm` without its padding.
    pub fn comm(&self) -> &[u8] {
        let n = self
            .comm
            .iter()
            .position(|&b| b == 0)
            .unwrap_or(TASK_COMM_LEN);
        &self.comm[..n]
    }
}

/// The attributes, behind a leaf lock, and the task's CPU time.
#[derive(Debug, Default)]
pub struct SchedAttrs {
    attrs: Mutex<Attrs>,
    /// A copy of `attrs.affinity` the run loop reads without the lock (to
    /// pin the task's worker thread, `super::cpus`).
    affinity: AtomicU64,
    /// The sandbox CPU the task was last seen on (`/proc/<pid>/stat`).
    pub last_cpu: std::sync::atomic::AtomicU32,
    /// The host CPU a new process starts on until its first trap, plus
    /// one (0: none; `super::cpus::fork_hint`).
    pub start_cpu: std::sync::atomic::AtomicU32,
    /// CPU time used by the task.
    pub cpu: CpuTime,
}

impl SchedAttrs {
    /// A copy of the attributes.
    pub fn get(&self) -> Attrs {
        *self.attrs.lock()
    }

    /// Changes them.
    pub fn update<R>(&self, f: impl FnOnce(&mut Attrs) -> R) -> R {
        let mut a = self.attrs.lock();
        let r = f(&mut a);
        self.affinity.store(a.affinity, Ordering::Relaxed);
        r
    }

    /// The CPUs the task may run on, as sched_setaffinity set them (0:
    /// never set), read without the lock.
    pub fn affinity(&self) -> u64 {
        self.affinity.load(Ordering::Relaxed)
    }

    /// Sets `comm` to (the first 15 bytes of) `name`.
    pub fn set_comm(&self, name: &[u8]) {
        let mut comm = [0u8; TASK_COMM_LEN];
        let n = name.len().min(TASK_COMM_LEN - 1);
        comm[..n].copy_from_slice(&name[..n]);
        self.attrs.lock().comm = comm;
    }

    /// Sets `comm` as execve does: the last component of `path`.
    pub fn set_comm_from_path(&self, path: &[u8]) {
        self.set_comm(path.rsplit(|&b| b == b'/').next().unwrap_or(path));
    }
}

/// User and system time, in nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Times {
    /// User time (guest code included).
    pub user: u64,
    /// System time (the sentry's host syscalls for the task).
    pub sys: u64,
}

impl Times {
    fn from(u: Duration, s: Duration) -> Self {
        Self {
            user: u.as_nanos() as u64,
            sys: s.as_nanos() as u64,
        }
    }
}

impl std::ops::Add for Times {
    type Output = Times;

    fn add(self, o: Times) -> Times {
        Times {
            user: self.user + o.user,
            sys: self.sys + o.sys,
        }
    }
}

#[derive(Debug, Default)]
struct AtomicTimes(AtomicU64, AtomicU64);

impl AtomicTimes {
    fn get(&self) -> Times {
        Times {
            user: self.0.load(Ordering::Relaxed),
            sys: self.1.load(Ordering::Relaxed),
        }
    }

    fn set(&self, t: Times) {
        self.0.store(t.user, Ordering::Relaxed);
        self.1.store(t.sys, Ordering::Relaxed);
    }

    fn add(&self, t: Times) {
        self.0.fetch_add(t.user, Ordering::Relaxed);
        self.1.fetch_add(t.sys, Ordering::Relaxed);
    }
}

/// A task's CPU time: a task runs on one host worker thread from its start
/// to its exit, so it is that thread's CPU time since the task started
/// there. Only the task's own thread can read it ([`CpuTime::sample`]);
/// others see the value of its last sample, which the run loop refreshes
/// after a trap at most every 10 ms (a thread that never traps is seen as
/// of its last trap).
///
/// The split into user and system time is Linux's: time in guest mode is
/// user time, the rest (the sentry working for the task, and each
/// crossing, as Linux counts syscall entry and exit as system time) is
/// system time. The host's own split cannot tell them apart (on this PVM
/// host the worker's user time inside KVM_RUN holds most of each VM exit
/// and entry too: 20 000 trapped getppid calls added 0.6 s of it), and
/// wall time in the guest alone cannot either on a loaded host (a
/// preempted stay looks like guest work). So the run loop times each stay
/// in the guest with the vDSO's clock ([`CpuTime::ran`]) and takes off one
/// round trip ([`crossing_floor`]: the shortest stay that ended in a
/// trapped syscall, a physical lower bound of a crossing):
/// * a stay shorter than [`SHORT_TRIPS`] round trips is all crossing,
///   one shorter than [`LONG_TRIPS`] counts its wall time (no host call,
///   so syscall-heavy paths pay nothing);
/// * a longer one (a compute-bound guest, or a preempted stay) counts CPU
///   time: the run loop reads the thread's CPU time after it, and again
///   before the next stay ([`CpuTime::entering`]), so a run of long stays
///   is measured exactly; the first long stay after short ones counts the
///   CPU time used since the last reading less the wall time spent
///   outside this stay since then (a lower bound of its CPU time).
///
/// Where the platform times guest runs itself
/// ([`platform::host::measured_guest_ns`]: the seccomp platform, whose
/// guest code runs in a stub thread it times with the TSC), that time is
/// the guest time and nothing is estimated: there a bare round trip is a
/// few µs, so a stay the host preempted is many times the floor, and the
/// estimate counted such stays as guest work (a guest making 20 000
/// getppid calls showed as much user time as system time).
///
/// Guest time so estimated, capped by the thread's CPU time, is user
/// time; the rest of the thread's CPU time is system time; neither goes
/// back. It is an estimate: on a loaded host a round trip varies
/// (measured here at load 13: 35 µs at best, 49 µs median, 68 µs at the
/// 90th percentile): a short stay's guest code is not counted, and what
/// a medium one holds above the floor counts as guest time.
#[derive(Debug, Default)]
pub struct CpuTime {
    base: AtomicTimes,
    last: AtomicTimes,
    /// Nanoseconds in guest mode (written by the task's own thread).
    guest: AtomicU64,
    /// The worker thread's platform-measured guest time
    /// ([`platform::host::measured_guest_ns`]) when the task started there.
    guest_base: AtomicU64,
    /// The thread's CPU time (ns, user + system) at the last reading by
    /// the run loop, and whether that reading was right before the
    /// current stay (own thread only).
    read_at: AtomicU64,
    /// When that reading was made ([`wall_ns`]).
    read_wall: AtomicU64,
    measuring: std::sync::atomic::AtomicBool,
    started: std::sync::atomic::AtomicBool,
    /// The total (user + system, ns) the last [`CpuTime::sample`] gave,
    /// and the sandbox's MONOTONIC then ([`super::vclock::VClock::monotonic_ns`]).
    reported: AtomicU64,
    reported_mono: AtomicU64,
}

/// A stay in the guest at least this many round trips long is measured
/// in CPU time.
pub const LONG_TRIPS: u64 = 4;

/// A stay shorter than this many round trips is all crossing (a bare
/// round trip's spread on a loaded host: 35 µs at best, 68 µs at the 90th
/// percentile, measured here).
pub const SHORT_TRIPS: u64 = 2;

/// The shortest stay in the guest that ended in a trapped syscall, in ns.
static SHORTEST_TRIP: AtomicU64 = AtomicU64::new(u64::MAX);

/// The crossing cost assumed before any trip was timed.
const MAX_FLOOR_NS: u64 = 100_000;

/// What one crossing (a VM exit and the re-entry) costs at least here, in
/// ns: the shortest trapped-syscall round trip this sentry has seen, at
/// most [`MAX_FLOOR_NS`].
pub fn crossing_floor() -> u64 {
    SHORTEST_TRIP.load(Ordering::Relaxed).min(MAX_FLOOR_NS)
}

/// Nanoseconds from a fixed instant to `at` (0 before it).
fn wall_ns(at: std::time::Instant) -> u64 {
    static BASE: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    let base = *BASE.get_or_init(std::time::Instant::now);
    at.saturating_duration_since(base).as_nanos() as u64
}

/// The calling thread's CPU time, user + system, in ns.
fn thread_cpu_ns() -> u64 {
    let (u, s) = platform::host::thread_cpu_time();
    (u + s).as_nanos() as u64
}

impl CpuTime {
    /// Called on the worker thread when the task starts running there.
    pub fn start(&self) {
        let (u, s) = platform::host::thread_cpu_time();
        self.base.set(Times::from(u, s));
        self.last.set(Times::default());
        self.guest.store(0, Ordering::Relaxed);
        self.guest_base.store(
            platform::host::measured_guest_ns().unwrap_or(0),
            Ordering::Relaxed,
        );
        self.read_at
            .store((u + s).as_nanos() as u64, Ordering::Relaxed);
        self.read_wall
            .store(wall_ns(std::time::Instant::now()), Ordering::Relaxed);
        self.measuring.store(false, Ordering::Relaxed);
        self.reported.store(0, Ordering::Relaxed);
        self.reported_mono
            .store(super::vclock::global().monotonic_ns(), Ordering::Relaxed);
        self.started.store(true, Ordering::Release);
    }

    /// On the task's own thread, right before it enters the guest: reads
    /// the CPU time if the last stay was long (see the type's doc).
    pub fn entering(&self) {
        if self.measuring.load(Ordering::Relaxed) {
            self.read_at.store(thread_cpu_ns(), Ordering::Relaxed);
            self.read_wall
                .store(wall_ns(std::time::Instant::now()), Ordering::Relaxed);
        }
    }

    /// On the task's own thread, after a stay in the guest from
    /// `entered` to `left` (as the run loop measured it) that ended in a
    /// syscall trap or not.
    pub fn ran(&self, entered: std::time::Instant, left: std::time::Instant, syscall: bool) {
        let ns = left.saturating_duration_since(entered).as_nanos() as u64;
        if syscall && ns < SHORTEST_TRIP.load(Ordering::Relaxed) {
            SHORTEST_TRIP.fetch_min(ns.max(1), Ordering::Relaxed);
        }
        if let Some(g) = platform::host::measured_guest_ns() {
            // The platform timed the guest's runs itself (seccomp): no
            // estimate from the stay, whose length also holds the
            // hand-offs and whatever the host ran meanwhile.
            let base = self.guest_base.load(Ordering::Relaxed);
            self.guest.store(g.saturating_sub(base), Ordering::Relaxed);
            self.measuring.store(false, Ordering::Relaxed);
            return;
        }
        let floor = crossing_floor();
        let long = ns >= LONG_TRIPS * floor;
        let guest = if long {
            let now = thread_cpu_ns();
            let wall = wall_ns(left);
            let used = now.saturating_sub(self.read_at.load(Ordering::Relaxed));
            let outside = wall
                .saturating_sub(self.read_wall.load(Ordering::Relaxed))
                .saturating_sub(ns);
            self.read_at.store(now, Ordering::Relaxed);
            self.read_wall.store(wall, Ordering::Relaxed);
            ns.min(used.saturating_sub(outside))
        } else if ns >= SHORT_TRIPS * floor {
            ns
        } else {
            // Within the spread of a bare round trip: crossing only.
            0
        };
        let guest = guest.saturating_sub(floor);
        if guest != 0 {
            self.guest.fetch_add(guest, Ordering::Relaxed);
        }
        self.measuring.store(long, Ordering::Relaxed);
    }

    /// On the task's own thread: its CPU time now (also kept as the last
    /// sample).
    ///
    /// A thread's CPU time never advances faster than the sandbox's
    /// MONOTONIC between two samples (as on Linux, where one clock source
    /// serves both): the host's thread CPU clock runs at the host's rate,
    /// while the sandbox's MONOTONIC is slewed by up to 500 ppm while it
    /// converges on the host's ([`super::vclock`]), so a busy thread could
    /// otherwise see more CPU time than wall time over an interval. What
    /// the bound holds back is given later, when the thread's CPU time
    /// falls behind the wall clock (it waits, or is preempted).
    pub fn sample(&self) -> Times {
        if !self.started.load(Ordering::Acquire) {
            // Never ran (a worker that failed to start it).
            return Times::default();
        }
        let (u, s) = platform::host::thread_cpu_time();
        let now = Times::from(u, s);
        let base = self.base.get();
        let raw = (now.user + now.sys).saturating_sub(base.user + base.sys);
        let mono = super::vclock::global().monotonic_ns();
        let reported = self.reported.load(Ordering::Relaxed);
        let since = mono.saturating_sub(self.reported_mono.load(Ordering::Relaxed));
        let total = raw.min(reported.saturating_add(since)).max(reported);
        self.reported.store(total, Ordering::Relaxed);
        self.reported_mono.store(mono, Ordering::Relaxed);
        let t = split(self.last.get(), total, self.guest.load(Ordering::Relaxed));
        self.last.set(t);
        t
    }

    /// The last sample (another thread's view).
    pub fn last(&self) -> Times {
        self.last.get()
    }
}

/// User and system time out of `total` CPU time of which `guest` (an
/// estimate, possibly above it) was in guest mode, given the previous
/// sample `last`: user + sys = total, user <= guest, and neither goes
/// below its previous value.
fn split(last: Times, total: u64, guest: u64) -> Times {
    let total = total.max(last.user + last.sys);
    let sys = (total - guest.min(total)).max(last.sys);
    Times {
        user: total - sys,
        sys,
    }
}

/// A process's CPU time beyond its live threads: its exited threads', and
/// its waited-for children's (Linux's `signal->utime` and `cutime`).
#[derive(Debug, Default)]
pub struct GroupTimes {
    dead: AtomicTimes,
    children: AtomicTimes,
}

impl GroupTimes {
    /// A thread of the group exits, having used `t` (call it under the
    /// group's `threads` lock, as the thread leaves the list).
    pub fn thread_exited(&self, t: Times) {
        self.dead.add(t);
    }

    /// The time of the group's exited threads.
    pub fn dead(&self) -> Times {
        self.dead.get()
    }

    /// The time of the group's waited-for children (and theirs).
    pub fn children(&self) -> Times {
        self.children.get()
    }

    /// A child group was reaped by wait: its whole time (all its threads
    /// have exited) and its own children's count as this group's
    /// children's.
    pub fn child_reaped(&self, child: &GroupTimes) {
        self.children.add(child.dead() + child.children());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guest_time_is_user_time_and_neither_part_goes_back() {
        let t = split(Times::default(), 100, 70);
        assert_eq!(t, Times { user: 70, sys: 30 });
        // Guest time measured above the CPU time (the host preempted the
        // thread in the guest): all user, sys keeps what it had.
        let t2 = split(t, 120, 200);
        assert_eq!(t2, Times { user: 90, sys: 30 });
        // Work in the sentry only: sys grows, user stays.
        let t3 = split(t2, 150, 200);
        assert_eq!(t3, Times { user: 120, sys: 30 });
        let t4 = split(t3, 170, 120);
        assert_eq!(t4, Times { user: 120, sys: 50 });
        assert!(t4.user >= t3.user && t4.sys >= t3.sys);
    }

    #[test]
    fn reset_on_fork_follows_sched_fork() {
        let rt = Attrs {
            policy: SCHED_FIFO,
            rt_priority: 10,
            nice: -5,
            reset_on_fork: true,
            ..Attrs::default()
        };
        let c = rt.for_child();
        assert_eq!(
            (c.policy, c.rt_priority, c.nice, c.reset_on_fork),
            (SCHED_OTHER, 0, 0, false)
        );
        let batch = Attrs {
            policy: SCHED_BATCH,
            nice: -3,
            reset_on_fork: true,
            ..Attrs::default()
        };
        let c = batch.for_child();
        assert_eq!((c.policy, c.nice, c.reset_on_fork), (SCHED_BATCH, 0, false));
        let plain = Attrs {
            policy: SCHED_FIFO,
            rt_priority: 3,
            nice: 7,
            ..Attrs::default()
        };
        assert_eq!(plain.for_child(), plain);
    }

    #[test]
    fn ioprio_inheritance_and_default() {
        let a = Attrs {
            ioprio: (IOPRIO_CLASS_BE << 13) | 3,
            ..Attrs::default()
        };
        assert_eq!(a.for_child().ioprio, a.ioprio);
        let none_with_hint = Attrs {
            ioprio: 1 << 3,
            ..Attrs::default()
        };
        assert_eq!(none_with_hint.for_child().ioprio, 0);
        // Nice 0 under SCHED_OTHER: best effort, level 4 (16388).
        assert_eq!(Attrs::default().effective_ioprio(), 16388);
        let idle = Attrs {
            policy: SCHED_IDLE,
            nice: 19,
            ..Attrs::default()
        };
        assert_eq!(idle.effective_ioprio(), (IOPRIO_CLASS_IDLE << 13) | 7);
    }

    #[test]
    fn comm_is_cut_to_15_bytes() {
        let s = SchedAttrs::default();
        s.set_comm_from_path(b"/usr/bin/a-very-long-program-name");
        assert_eq!(s.get().comm(), b"a-very-long-pro");
        s.set_comm(b"x");
        assert_eq!(s.get().comm(), b"x");
    }
}

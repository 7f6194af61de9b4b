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
#[derive(Debug, Default)]
pub struct CpuTime {
    base: AtomicTimes,
    last: AtomicTimes,
    started: std::sync::atomic::AtomicBool,
}

impl CpuTime {
    /// Called on the worker thread when the task starts running there.
    pub fn start(&self) {
        let (u, s) = platform::host::thread_cpu_time();
        self.base.set(Times::from(u, s));
        self.last.set(Times::default());
        self.started.store(true, Ordering::Release);
    }

    /// On the task's own thread: its CPU time now (also kept as the last
    /// sample).
    pub fn sample(&self) -> Times {
        if !self.started.load(Ordering::Acquire) {
            // Never ran (a worker that failed to start it).
            return Times::default();
        }
        let (u, s) = platform::host::thread_cpu_time();
        let now = Times::from(u, s);
        let base = self.base.get();
        let t = Times {
            user: now.user.saturating_sub(base.user),
            sys: now.sys.saturating_sub(base.sys),
        };
        self.last.set(t);
        t
    }

    /// The last sample (another thread's view).
    pub fn last(&self) -> Times {
        self.last.get()
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

//! Guest/host crossing counts for `--stats`.
//!
//! On this kind of host every crossing (a VM exit and the re-entry) costs
//! tens of microseconds, so the speed of a guest path is the number of
//! crossings it makes. The run loop counts each return from
//! `Context::run` by its kind, each time a task starts on a vCPU, and each
//! time a task that slept in the host (blocked in a syscall) was woken by
//! another thread: together the *trap-equivalents* of a run. Counting is
//! only done with `--stats` (one predictable branch per exit otherwise);
//! the counters are relaxed atomics, per kernel, and each task keeps its
//! own plain counts ([`Counts`]) that are recorded when it ends.

use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use platform::Trap;

/// What a crossing was (the index in [`Counts::0`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(usize)]
pub enum Kind {
    /// A trapped `syscall`.
    Syscall = 0,
    /// A page fault sent to the sentry.
    PageFault = 1,
    /// Any other CPU exception.
    Exception = 2,
    /// Kicked out of the guest by another thread (a signal, a TLB
    /// shootdown, an exit).
    Interrupt = 3,
    /// `Context::run` failed (the task is killed).
    Error = 4,
    /// A task started on a vCPU (fork, clone, and the first task).
    VcpuStart = 5,
    /// A task blocked in the host (inside a syscall) and was woken by
    /// another thread: a cross-thread, often cross-CPU, wake-up.
    Wakeup = 6,
}

/// Number of [`Kind`]s.
pub const KINDS: usize = 7;

/// The names `--stats` prints, by [`Kind`].
pub const NAMES: [&str; KINDS] = [
    "syscall",
    "page_fault",
    "exception",
    "interrupt",
    "error",
    "vcpu_start",
    "wakeup",
];

impl Kind {
    /// The kind of exit `trap` is.
    pub fn of(trap: &Trap) -> Self {
        match trap {
            Trap::Syscall { .. } => Kind::Syscall,
            Trap::PageFault { .. } => Kind::PageFault,
            Trap::Exception { .. } => Kind::Exception,
            Trap::Interrupted => Kind::Interrupt,
        }
    }
}

/// One task's counts (plain, owned by its run loop).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Counts(pub [u64; KINDS]);

impl Counts {
    /// The count of `kind`.
    pub fn get(&self, kind: Kind) -> u64 {
        self.0[kind as usize]
    }

    /// VM exits of every kind (each one an exit and a re-entry).
    pub fn exits(&self) -> u64 {
        self.0[..=Kind::Error as usize].iter().sum()
    }

    /// Exits plus vCPU starts plus wake-ups: what the path costs in units
    /// of a bare trap.
    pub fn trap_equivalents(&self) -> u64 {
        self.0.iter().sum()
    }

    /// `kind=N ... exits=N trap_equivalents=N`, the form `--stats` prints.
    pub fn line(&self) -> String {
        let mut s = String::new();
        for (name, n) in NAMES.iter().zip(self.0) {
            s.push_str(&format!("{name}={n} "));
        }
        s.push_str(&format!(
            "exits={} trap_equivalents={}",
            self.exits(),
            self.trap_equivalents()
        ));
        s
    }
}

/// A finished task's record.
#[derive(Clone, Debug)]
pub struct TaskRecord {
    /// Thread id.
    pub tid: i32,
    /// Its `comm` at the end.
    pub comm: Vec<u8>,
    /// What it crossed.
    pub counts: Counts,
}

/// At most this many finished tasks are kept for the per-task lines (the
/// sandbox-wide totals count every task).
const MAX_RECORDS: usize = 4096;

/// The sandbox-wide counters.
#[derive(Default)]
pub struct Crossings {
    totals: [AtomicU64; KINDS],
    tasks: Mutex<Vec<TaskRecord>>,
    tasks_ended: AtomicU64,
}

impl Crossings {
    /// Counts one `kind` for the sandbox.
    pub fn add(&self, kind: Kind, n: u64) {
        self.totals[kind as usize].fetch_add(n, Ordering::Relaxed);
    }

    /// The totals so far.
    pub fn totals(&self) -> Counts {
        Counts(std::array::from_fn(|i| {
            self.totals[i].load(Ordering::Relaxed)
        }))
    }

    /// Records a task that ended.
    pub fn task_ended(&self, record: TaskRecord) {
        self.tasks_ended.fetch_add(1, Ordering::Relaxed);
        let mut tasks = self.tasks.lock();
        if tasks.len() < MAX_RECORDS {
            tasks.push(record);
        }
    }

    /// The `--stats` lines: the totals, then per finished task (the
    /// `limit` tasks with the most trap-equivalents, in tid order), then a
    /// summary of the others. Guest-chosen names are quoted.
    pub fn report(&self, limit: usize) -> String {
        let mut out = format!("crossings: {}\n", self.totals().line());
        let mut tasks = self.tasks.lock().clone();
        let ended = self.tasks_ended.load(Ordering::Relaxed);
        tasks.sort_by_key(|r| (std::cmp::Reverse(r.counts.trap_equivalents()), r.tid));
        let shown = tasks.len().min(limit);
        let mut top: Vec<_> = tasks[..shown].to_vec();
        top.sort_by_key(|r| r.tid);
        for r in &top {
            out.push_str(&format!(
                "crossings task {} {}: {}\n",
                r.tid,
                crate::quote::quote(&r.comm),
                r.counts.line()
            ));
        }
        let rest = ended - shown as u64;
        if rest > 0 {
            let mut sum = Counts::default();
            for r in &tasks[shown..] {
                for (s, n) in sum.0.iter_mut().zip(r.counts.0) {
                    *s += n;
                }
            }
            out.push_str(&format!(
                "crossings: {rest} more finished tasks not shown ({} recorded: {})\n",
                tasks.len() - shown,
                sum.line()
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_sum_by_kind() {
        let c = Crossings::default();
        c.add(Kind::Syscall, 4);
        c.add(Kind::PageFault, 1);
        c.add(Kind::VcpuStart, 1);
        c.add(Kind::Wakeup, 1);
        let t = c.totals();
        assert_eq!(t.exits(), 5);
        assert_eq!(t.trap_equivalents(), 7);
        assert_eq!(
            t.line(),
            "syscall=4 page_fault=1 exception=0 interrupt=0 error=0 vcpu_start=1 wakeup=1 \
             exits=5 trap_equivalents=7"
        );
    }

    #[test]
    fn report_quotes_names_and_summarises_the_rest() {
        let c = Crossings::default();
        for tid in 1..=3 {
            let mut counts = Counts::default();
            counts.0[Kind::Syscall as usize] = tid as u64;
            c.task_ended(TaskRecord {
                tid,
                comm: b"a\nb".to_vec(),
                counts,
            });
        }
        let r = c.report(2);
        assert!(r.contains("crossings task 2 "), "{r}");
        assert!(r.contains("crossings task 3 "), "{r}");
        assert!(!r.contains("crossings task 1 "), "{r}");
        assert!(!r.contains("a\nb"), "an unquoted name: {r}");
        assert!(r.contains("1 more finished tasks not shown"), "{r}");
    }
}

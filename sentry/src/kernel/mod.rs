//! The task manager: the [`Kernel`] (pid table, process tree, the vCPU
//! pool), [`Task`]s (guest threads) and [`ThreadGroup`]s (processes),
//! signals, exit and wait, and the one clone path.
//!
//! # Lock order
//!
//! Take locks in this order, never backwards:
//!
//! 1. `Kernel::table` (the process tree and pid table, as Linux's
//!    `tasklist_lock`);
//! 2. `ThreadGroup` locks (`threads`, `exit`, `stopped`,
//!    `shared_pending`), then `Task::sig`;
//! 3. a group's `sighand` slot (which table it uses), then that signal
//!    handler table (`ThreadGroup::handlers`);
//! 4. a task's resource slots, `Task::mm`, `Task::files` and
//!    `Task::runner` (its registration as a runner of its address space);
//! 5. `Kernel::futex` (the futex table, then a sleeper's key): held while
//!    futex words are read and compared-and-exchanged, as Linux holds the
//!    hash-bucket lock, so it comes before memory;
//! 6. memory (`mm`: `AddressSpace::inner`, then its `runners` list) and
//!    file (`fs`) locks, which never call back up.
//!
//! `ThreadGroup::limits` (resource limits) is a leaf: held only to copy
//! limits in or out (under `Kernel::table` in clone), never while taking
//! another lock.
//! The terminal's job-control state (`tty::Terminal::ctrl`) is a leaf
//! taken after `Kernel::table`.
//!
//! The OOM killer's `OomState::last` comes before all of these: it is held
//! across one decision, which reads the table and thread lists and sends
//! SIGKILL.
//!
//! A task's credentials (`Task::ident.creds`) are a leaf: read or changed
//! under any of the above, never holding another lock inside.
//!
//! Wait queues (`Kernel::readiness` included) and waiters are leaves: they
//! are only notified while holding locks, and nobody sleeps holding any
//! lock. A runner (a task on a vCPU) leaves the guest without taking a
//! lock, so the TLB shootdown in `AddressSpace::enter` may wait for it.

pub mod clone;
pub mod cpus;
pub mod creds;
pub mod crossings;
pub mod exit;
pub mod futex;
pub mod hostsig;
pub mod ipc;
pub mod limits;
pub mod oom;
pub mod process;
pub mod sched;
pub mod signal;
pub mod task;
pub mod timers;
pub mod tty;
pub mod umip;
pub mod vclock;
pub mod vdso;
pub mod wait;

use std::collections::{BTreeSet, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use crossbeam::channel::{Receiver, Sender};
use parking_lot::{Condvar, Mutex};
use platform::{Context, Platform};

pub use task::{Job, Task, ThreadGroup};

/// Options that shape the whole sandbox.
#[derive(Clone, Debug)]
pub struct KernelConfig {
    /// Print one line per syscall on stderr.
    pub strace: bool,
    /// Collect per-syscall counts and latencies ([`Kernel::stats`]).
    pub stats: bool,
    /// The host directory shown read-only as the guest's `/` (None: no
    /// filesystem; nothing is ever written).
    pub root: Option<std::path::PathBuf>,
    /// `--max-tasks` and `--max-files`.
    pub sandbox_limits: limits::SandboxLimits,
    /// Randomise where programs, interpreters and the heap are loaded
    /// (ASLR; off with `--no-aslr`, or per process with the personality
    /// flag ADDR_NO_RANDOMIZE).
    pub aslr: bool,
}

/// Per-syscall statistics: calls, errors, and time spent in the sentry.
#[derive(Clone, Copy, Debug, Default)]
pub struct SyscallStat {
    /// Number of calls.
    pub calls: u64,
    /// Calls that returned an error.
    pub errors: u64,
    /// Total handler time, in nanoseconds.
    pub total_ns: u64,
    /// Longest single call, in nanoseconds.
    pub max_ns: u64,
}

/// A process's place in the tree, guarded by [`Kernel::table`].
pub struct Proc {
    /// The process.
    pub tg: Arc<ThreadGroup>,
    /// Parent tgid (0 for the sandbox's init).
    pub parent: i32,
    /// The thread of the parent that is this process's parent (Linux's
    /// `real_parent` task): the thread that forked it, until that thread
    /// exits and a live thread of the parent takes its children. Only its
    /// waits with __WNOTHREAD see this process; its exit sends the
    /// parent-death signal.
    pub parent_tid: i32,
    /// Child tgids (including zombies not yet reaped).
    pub children: BTreeSet<i32>,
    /// Process group.
    pub pgid: i32,
    /// Session.
    pub sid: i32,
    /// Signal sent to the parent on exit (0: none).
    pub exit_signal: i32,
    /// A stop not yet reported to wait (the stopping signal).
    pub stop_report: Option<i32>,
    /// A continue not yet reported to wait.
    pub cont_report: bool,
    /// PR_SET_CHILD_SUBREAPER.
    pub subreaper: bool,
    /// The real uid of its last thread, kept for the zombie (SIGCHLD's
    /// and waitid's si_uid).
    pub exit_uid: u32,
}

/// The pid table and process tree.
#[derive(Default)]
pub struct TaskTable {
    next_pid: i32,
    /// Live threads by tid.
    pub tasks: HashMap<i32, Arc<Task>>,
    /// Processes by tgid, until reaped.
    pub procs: HashMap<i32, Proc>,
}

/// Highest pid (Linux's default pid_max).
pub const PID_MAX: i32 = 4_194_304;

impl TaskTable {
    /// Allocates a pid, or uses `wanted` (CLONE_SET_TID) if free.
    pub fn alloc_pid(&mut self, wanted: Option<i32>) -> Result<i32, crate::errno::Errno> {
        if let Some(w) = wanted {
            if self.in_use(w) {
                return Err(crate::errno::Errno::EEXIST);
            }
            return Ok(w);
        }
        for _ in 0..PID_MAX {
            self.next_pid = if self.next_pid >= PID_MAX - 1 {
                300
            } else {
                self.next_pid + 1
            };
            if !self.in_use(self.next_pid) {
                return Ok(self.next_pid);
            }
        }
        Err(crate::errno::Errno::EAGAIN)
    }

    /// Enters a new process whose only thread is `leader` (its tid is the
    /// tgid): the thread in its group and the pid table, the process in
    /// the tree under `parent` (0: none, for init). Used by both init and
    /// clone.
    pub fn insert_process(
        &mut self,
        leader: &Arc<Task>,
        parent: i32,
        pgid: i32,
        sid: i32,
        exit_signal: i32,
    ) {
        let pid = leader.tid;
        debug_assert_eq!(pid, leader.tgid());
        leader.tg.threads.lock().push(Arc::clone(leader));
        self.tasks.insert(pid, Arc::clone(leader));
        self.procs.insert(
            pid,
            Proc {
                tg: Arc::clone(&leader.tg),
                parent,
                parent_tid: parent,
                children: BTreeSet::new(),
                pgid,
                sid,
                exit_signal,
                stop_report: None,
                cont_report: false,
                subreaper: false,
                exit_uid: 0,
            },
        );
        if let Some(p) = self.procs.get_mut(&parent) {
            p.children.insert(pid);
        }
    }

    /// Enters `thread`, a new thread of a process already in the table.
    pub fn insert_thread(&mut self, thread: &Arc<Task>) {
        thread.tg.threads.lock().push(Arc::clone(thread));
        self.tasks.insert(thread.tid, Arc::clone(thread));
    }

    fn in_use(&self, pid: i32) -> bool {
        self.tasks.contains_key(&pid)
            || self.procs.contains_key(&pid)
            || self.procs.values().any(|p| p.pgid == pid || p.sid == pid)
    }
}

/// How the sandbox ended: the status of its pid 1.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitReport {
    /// exit(code).
    Exited(i32),
    /// Killed by a signal.
    Signaled(i32),
}

impl ExitReport {
    /// From a wait status.
    pub fn from_status(status: i32) -> Self {
        if status & 0x7f == 0 {
            ExitReport::Exited((status >> 8) & 0xff)
        } else {
            ExitReport::Signaled(status & 0x7f)
        }
    }
}

/// Why a task could not be started.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// No context (vCPU) could be created for a new worker.
    #[error("cannot create a vCPU: {0}")]
    Platform(#[from] platform::Error),
    /// The worker's host thread could not be started.
    #[error("cannot start a worker thread: {0}")]
    Thread(#[source] std::io::Error),
}

/// The sandbox's kernel.
pub struct Kernel {
    /// The platform (the VM, its memory pool).
    pub machine: Arc<dyn Platform>,
    /// Options.
    pub config: KernelConfig,
    /// Pid table and process tree.
    pub table: Mutex<TaskTable>,
    /// Idle workers (a host thread owning a vCPU), waiting for a task.
    idle: Mutex<Vec<Sender<Job>>>,
    logged: Mutex<HashSet<u64>>,
    finished: Mutex<Option<ExitReport>>,
    finished_cv: Condvar,
    next_ino: AtomicU64,
    /// The mount tree (programs for execve, files to open).
    pub vfs: crate::fs::vfs::Vfs,
    /// The FIFOs of the root that are open, by host inode.
    pub fifos: Arc<crate::fs::fifo::FifoTable>,
    /// The internal tmpfs of memfd_create's files.
    pub memfd: crate::fs::memfd::MemfdFs,
    /// The SysV IPC namespace.
    pub ipc: ipc::Ipc,
    stats: Mutex<HashMap<u64, SyscallStat>>,
    /// Guest/host crossings by kind, for `--stats`.
    pub crossings: crossings::Crossings,
    /// When the sandbox started (CLOCK_BOOTTIME's origin).
    pub start: Instant,
    /// The OOM killer's state.
    pub oom: oom::OomState,
    /// The vDSO and [vvar] page mapped into every process (`None` if its
    /// frames could not be had: processes then get no vDSO).
    pub vdso: Option<vdso::Vdso>,
    /// The futex table.
    pub futex: futex::Futexes,
    /// The readiness queue: woken whenever a file that can notify becomes
    /// ready or changes state (pipes, process exits for pidfds), so poll
    /// and epoll sleep instead of sampling.
    pub readiness: Arc<wait::WaitQueue>,
    /// flock and fcntl record locks.
    pub locks: Arc<crate::fs::lock::LockTable>,
    /// The syscall layer (the kernel never names it).
    pub syscalls: &'static SyscallTable,
    /// The guest's terminal, when a standard stream is a host terminal.
    pub terminal: std::sync::OnceLock<Arc<tty::Terminal>>,
}

/// The syscall layer, handed to the kernel when it is built (as gVisor's
/// kernel receives its `SyscallTable`): tasks trap into the kernel, which
/// calls these, so the kernel depends on no module above it.
#[derive(Clone, Copy, Debug)]
pub struct SyscallTable {
    /// The syscall number Linux acts on for a raw `rax`.
    pub decode_nr: fn(u64) -> u64,
    /// Runs syscall `nr` (decoded) for the task.
    pub dispatch: fn(&mut task::TaskCtx, u64, [u64; 6]) -> task::SysResult,
    /// `--strace`: formats the call before it runs.
    pub trace_enter: fn(&task::TaskCtx, u64, [u64; 6]) -> String,
    /// `--strace`: prints the line with the result.
    pub trace_exit: fn(&task::TaskCtx, u64, [u64; 6], String, &task::SysResult),
}

impl Kernel {
    /// A kernel on `machine` with the mount tree `vfs` that runs syscalls
    /// with `syscalls`.
    pub fn new(
        machine: Arc<dyn Platform>,
        config: KernelConfig,
        vfs: crate::fs::vfs::Vfs,
        syscalls: &'static SyscallTable,
    ) -> Arc<Self> {
        let vdso = vdso::Vdso::new(&machine)
            .inspect_err(|e| tracing::error!("vdso: cannot set up the vDSO: {e}"))
            .ok();
        Arc::new(Self {
            machine,
            config,
            table: Mutex::new(TaskTable::default()),
            idle: Mutex::new(Vec::new()),
            logged: Mutex::new(HashSet::new()),
            finished: Mutex::new(None),
            finished_cv: Condvar::new(),
            next_ino: AtomicU64::new(1000),
            vfs,
            fifos: crate::fs::fifo::FifoTable::new(),
            stats: Mutex::new(HashMap::new()),
            crossings: Default::default(),
            start: Instant::now(),
            oom: oom::OomState::default(),
            vdso,
            futex: futex::Futexes::default(),
            memfd: crate::fs::memfd::MemfdFs::default(),
            ipc: ipc::Ipc::default(),
            readiness: Arc::default(),
            locks: Arc::default(),
            syscalls,
            terminal: std::sync::OnceLock::new(),
        })
    }

    /// Starts a task on an idle worker, or on a new one (a host thread
    /// that owns a vCPU for its whole life and runs one task after another,
    /// so creating a task costs neither a vCPU nor a thread).
    pub fn start(self: &Arc<Self>, job: Job) -> Result<(), StartError> {
        let mut job = job;
        while let Some(w) = self.idle.lock().pop() {
            match w.send(job) {
                Ok(()) => return Ok(()),
                Err(e) => job = e.0,
            }
        }
        let vcpu = self.machine.new_context()?;
        let (tx, rx) = crossbeam::channel::bounded::<Job>(1);
        tx.send(job).expect("the receiver is alive");
        let kernel = Arc::clone(self);
        std::thread::Builder::new()
            .name("worker".into())
            .stack_size(1 << 20)
            .spawn(move || kernel.worker(vcpu, rx, tx))
            .map_err(StartError::Thread)?;
        Ok(())
    }

    fn worker(self: Arc<Self>, mut vcpu: Box<dyn Context>, rx: Receiver<Job>, tx: Sender<Job>) {
        while let Ok(job) = rx.recv() {
            // Whatever the previous task did, this one starts from the
            // platform's canonical MSRs and special registers.
            if let Err(e) = vcpu.reset() {
                tracing::error!("task {}: cannot reset its vCPU: {e}", job.task.tid);
                job.task.tg.start_exit(signal::sig::SIGKILL);
                process::exit_thread(&job.task);
                return;
            }
            let fpu = match &job.fpu {
                Some(f) => vcpu.restore_fpu(f),
                None => vcpu.reset_fpu(),
            };
            if let Err(e) = fpu {
                tracing::error!("task {}: cannot load its FPU state: {e}", job.task.tid);
            }
            let task = Arc::clone(&job.task);
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                task::run(job.task, vcpu, job.ctx)
            }));
            vcpu = match ran {
                Ok(v) => v,
                Err(_) => {
                    // A bug in the sentry, not the guest's doing: the guest
                    // process is killed (never left hanging), the sandbox
                    // goes on, and this worker (its vCPU lost) retires.
                    tracing::error!(
                        "internal error while running task {}; killing its process",
                        task.tid
                    );
                    task.tg.start_exit(signal::sig::SIGKILL);
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                        process::exit_thread(&task)
                    }));
                    return;
                }
            };
            if self.is_finished() {
                return;
            }
            vcpu.park();
            self.idle.lock().push(tx.clone());
        }
    }

    /// Logs `what` once per key (unknown syscalls and the like).
    pub fn log_once(&self, key: u64, what: impl FnOnce() -> String) {
        if self.logged.lock().insert(key) {
            tracing::warn!("{}", what());
        }
    }

    /// A fresh inode number for anonymous files.
    pub fn next_ino(&self) -> u64 {
        self.next_ino.fetch_add(1, Ordering::Relaxed)
    }

    /// Records one syscall for `--stats`.
    pub fn record_syscall(&self, nr: u64, ns: u64, error: bool) {
        let mut stats = self.stats.lock();
        let s = stats.entry(nr).or_default();
        s.calls += 1;
        s.errors += u64::from(error);
        s.total_ns += ns;
        s.max_ns = s.max_ns.max(ns);
    }

    /// The statistics collected so far, by syscall number.
    pub fn stats(&self) -> Vec<(u64, SyscallStat)> {
        let mut v: Vec<_> = self.stats.lock().iter().map(|(k, v)| (*k, *v)).collect();
        v.sort_by_key(|s| std::cmp::Reverse(s.1.total_ns));
        v
    }

    /// Records the end of the sandbox (pid 1 exited).
    pub fn finish(&self, report: ExitReport) {
        let mut f = self.finished.lock();
        if f.is_none() {
            *f = Some(report);
        }
        self.finished_cv.notify_all();
    }

    /// Waits for the end of the sandbox.
    pub fn wait_finished(&self) -> ExitReport {
        let mut f = self.finished.lock();
        loop {
            if let Some(r) = *f {
                return r;
            }
            self.finished_cv.wait(&mut f);
        }
    }

    /// Whether the sandbox has ended.
    pub fn is_finished(&self) -> bool {
        self.finished.lock().is_some()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    /// Every `.rs` file under `dir`, recursively (the source scans of this
    /// module and of `sandbox_tests`).
    pub(crate) fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for e in std::fs::read_dir(dir).expect("a source directory") {
            let p = e.expect("a directory entry").path();
            if p.is_dir() {
                sources(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }

    /// Dependencies point one way: syscalls → kernel/mm/fs → platform. The
    /// kernel receives the syscall layer as a [`super::SyscallTable`] and
    /// never names it.
    #[test]
    fn kernel_mm_and_fs_do_not_import_the_syscall_layer() {
        let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
        let mut files = Vec::new();
        for layer in ["kernel", "mm", "fs"] {
            sources(&src.join(layer), &mut files);
        }
        assert!(files.len() >= 10, "found only {files:?}");
        // Spelled in pieces so this file does not match itself.
        let needles = [
            ["crate", "::syscalls"].concat(),
            ["syscalls", "::"].concat(),
        ];
        let mut bad = Vec::new();
        for f in &files {
            let text = std::fs::read_to_string(f).expect("a readable source file");
            for (i, line) in text.lines().enumerate() {
                if needles.iter().any(|n| line.contains(n.as_str())) {
                    bad.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
                }
            }
            // Also inside `use` groups (`use crate::{errno, syscalls};`,
            // `super::super::{...}`): no path segment may be that module.
            let mut lines = text.lines();
            while let Some(line) = lines.next() {
                let l = line.trim_start();
                let l = l
                    .strip_prefix("pub(crate) ")
                    .or(l.strip_prefix("pub "))
                    .unwrap_or(l);
                if !l.starts_with("use ") {
                    continue;
                }
                let mut item = l.to_string();
                while !item.contains(';') {
                    match lines.next() {
                        Some(more) => item.push_str(more),
                        None => break,
                    }
                }
                if item
                    .split(|c: char| !(c.is_alphanumeric() || c == '_'))
                    .any(|seg| seg == ["sys", "calls"].concat())
                {
                    bad.push(format!("{}: {}", f.display(), item.trim()));
                }
            }
        }
        assert!(bad.is_empty(), "upward imports:\n{}", bad.join("\n"));
    }
}

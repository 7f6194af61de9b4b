//! Tasks (guest threads) and thread groups (processes), and the loop that
//! runs a task on its vCPU: enter the guest, handle the trap, deliver
//! signals, repeat.

use std::sync::Arc;
use std::sync::atomic::{AtomicI32, AtomicU64};
use std::time::Instant;

use parking_lot::Mutex;
use platform::{Context, FpuState, Kicker, Trap, UserContext};

use super::crossings::{Counts, Kind, TaskRecord};
use super::exit::{AtomicTaskState, GroupState, TaskState};
use super::signal::{
    self, AltStack, DefaultAction, FaultRegs, SigAction, SigActions, SigInfo, SigQueue, SigSet,
    Signal, code, sa, sig,
};
use super::umip::{self, Umip};
use super::wait::{Blocker, Completion, WaitQueue, Waiter};
use super::{Kernel, process};
use crate::errno::Errno;
use crate::fs::FdTable;
use crate::mm::{Access, AddressSpace, FaultError, Runner};

/// A signal handler table (Linux's `sighand_struct`). It belongs to a
/// thread group, whose threads all use it; CLONE_SIGHAND without
/// CLONE_THREAD shares one table between groups, until an execve unshares
/// it.
pub type Handlers = Mutex<SigActions>;

/// A process.
pub struct ThreadGroup {
    /// Process id.
    pub tgid: i32,
    /// Signals sent to the process as a whole.
    pub shared_pending: Mutex<SigQueue>,
    /// Where the group is in its life (running, exiting, zombie, reaped).
    exit: Mutex<GroupState>,
    /// Whether the group is stopped (SIGSTOP and friends).
    pub stopped: Mutex<bool>,
    /// Woken when the stop state changes.
    pub stop_queue: WaitQueue,
    /// Woken when a child changes state (wait4/waitid sleep here).
    pub child_events: WaitQueue,
    /// ITIMER_REAL (alarm, setitimer).
    pub itimer: Mutex<RealTimer>,
    /// Threads of the group, by tid (live ones).
    pub threads: Mutex<Vec<Arc<Task>>>,
    /// The group's signal handler table (shared with other groups after
    /// CLONE_SIGHAND); replaced only by execve's unsharing.
    sighand: Mutex<Arc<Handlers>>,
    /// Linux's SIGNAL_UNKILLABLE: set for the sandbox's init (pid 1), which
    /// then ignores every signal from inside the sandbox whose action is
    /// the default; cleared when a fault forces a default-action signal on
    /// it (so a crashing init still dies), or when init's write to a
    /// broken host stream raises SIGPIPE (`hostsig::host_output_broken`).
    pub(super) unkillable: std::sync::atomic::AtomicBool,
    /// The leader's command name, kept for /proc once every thread is
    /// gone (a zombie shows it, as Linux's zombie leader keeps its comm).
    pub leader_comm: Mutex<Vec<u8>>,
    /// CPU time of exited threads and waited-for children.
    pub times: super::sched::GroupTimes,
    /// POSIX timers, CPU itimers and RLIMIT_CPU progress.
    pub timers: super::timers::GroupTimers,
    /// Resource limits (inherited by children, kept across execve).
    pub limits: Mutex<super::limits::Rlimits>,
    /// PR_SET_DUMPABLE (Linux keeps it in the mm): 1 after execve, 0
    /// after a change of effective or fs ids.
    pub dumpable: std::sync::atomic::AtomicU8,
}

impl ThreadGroup {
    /// A new, empty group.
    pub fn new(tgid: i32, handlers: Arc<Handlers>) -> Arc<Self> {
        Arc::new(Self {
            tgid,
            shared_pending: Mutex::new(SigQueue::default()),
            exit: Mutex::new(GroupState::Running),
            stopped: Mutex::new(false),
            stop_queue: WaitQueue::default(),
            child_events: WaitQueue::default(),
            itimer: Mutex::new(RealTimer::default()),
            threads: Mutex::new(Vec::new()),
            sighand: Mutex::new(handlers),
            unkillable: std::sync::atomic::AtomicBool::new(tgid == 1),
            leader_comm: Mutex::new(Vec::new()),
            times: Default::default(),
            timers: Default::default(),
            limits: Mutex::default(),
            dumpable: std::sync::atomic::AtomicU8::new(1),
        })
    }

    /// Whether the group is an init that signals cannot kill
    /// (SIGNAL_UNKILLABLE).
    pub fn is_unkillable(&self) -> bool {
        self.unkillable.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Starts a group exit with `status` (the first one wins) and makes
    /// every thread notice.
    pub fn start_exit(&self, status: i32) {
        {
            let mut e = self.exit.lock();
            if *e == GroupState::Running {
                e.advance(GroupState::Exiting { status });
            }
        }
        self.wake_all();
    }

    /// The group's signal handler table.
    pub fn handlers(&self) -> Arc<Handlers> {
        Arc::clone(&self.sighand.lock())
    }

    /// execve's unshare_sighand(): once the group is down to the execing
    /// thread, a table still shared with another group is replaced by a
    /// private copy, so resetting handlers does not touch the other group.
    /// Returns the group's (now private) table.
    pub fn unshare_handlers(&self) -> Arc<Handlers> {
        let mut slot = self.sighand.lock();
        if Arc::strong_count(&slot) > 1 {
            let copy = *slot.lock();
            *slot = Arc::new(Mutex::new(copy));
        }
        Arc::clone(&slot)
    }

    /// The group's exit state.
    pub fn exit_state(&self) -> GroupState {
        *self.exit.lock()
    }

    /// The last thread is gone: the group becomes a zombie with the status
    /// of its group exit, or `status` (the last thread's own exit) if none
    /// was started. Returns the zombie's wait status.
    pub fn become_zombie(&self, status: i32) -> i32 {
        let mut e = self.exit.lock();
        let status = e.status().unwrap_or(status);
        e.advance(GroupState::Zombie { status });
        drop(e);
        self.timers.exit();
        status
    }

    /// The zombie was reaped.
    pub fn reaped(&self) {
        let mut e = self.exit.lock();
        if let GroupState::Zombie { status } = *e {
            e.advance(GroupState::Reaped { status });
        } else {
            let from = *e;
            tracing::error!("reaping a thread group in state {from:?}");
            debug_assert!(false, "reaping a thread group in state {from:?}");
        }
    }

    /// The wait status of a zombie (None while running or exiting, and
    /// once reaped).
    pub fn zombie_status(&self) -> Option<i32> {
        self.exit.lock().zombie()
    }

    /// Wakes and kicks every thread (signals, stops, exits).
    pub fn wake_all(&self) {
        for t in self.threads.lock().iter() {
            t.wake();
        }
        self.stop_queue.notify_all();
    }

    /// Wakes every thread for a queued `signal` ([`Task::wake_for`]).
    pub fn wake_all_for(&self, signal: Signal) {
        for t in self.threads.lock().iter() {
            t.wake_for(signal);
        }
        self.stop_queue.notify_all();
    }

    /// Whether the group is exiting.
    pub fn is_exiting(&self) -> bool {
        self.exit.lock().is_exiting()
    }
}

/// The process's ITIMER_REAL.
#[derive(Clone, Copy, Debug, Default)]
pub struct RealTimer {
    /// When it fires next.
    pub deadline: Option<Instant>,
    /// Reload interval (zero: one-shot).
    pub interval: std::time::Duration,
    /// Bumped at every change, so a stale timer thread gives up.
    pub generation: u64,
}

/// What CLONE_FS shares.
#[derive(Clone, Debug)]
pub struct FsContext {
    /// The file mode creation mask.
    pub umask: u32,
    /// The working directory (None: the root of the mount tree).
    pub cwd: Option<crate::fs::vfs::Path>,
}

impl Default for FsContext {
    fn default() -> Self {
        Self {
            umask: 0o022,
            cwd: None,
        }
    }
}

/// Per-thread signal state.
#[derive(Default)]
pub struct TaskSignals {
    /// Blocked signals.
    pub blocked: SigSet,
    /// Signals sent to this thread.
    pub pending: SigQueue,
    /// sigaltstack.
    pub alt: AltStack,
    /// The mask to restore after rt_sigsuspend.
    pub saved_mask: Option<SigSet>,
}

/// A guest thread.
pub struct Task {
    /// Thread id.
    pub tid: i32,
    /// Its process.
    pub tg: Arc<ThreadGroup>,
    /// The kernel.
    pub kernel: Arc<Kernel>,
    /// Address space (None once the thread has exited).
    pub mm: Mutex<Option<Arc<AddressSpace>>>,
    /// Descriptor table.
    pub files: Mutex<Arc<FdTable>>,
    /// Filesystem context (umask and working directory), shared by
    /// CLONE_FS.
    pub fs: Arc<Mutex<FsContext>>,
    /// Signal state.
    pub sig: Mutex<TaskSignals>,
    /// What this thread sleeps on.
    pub waiter: Arc<Waiter>,
    kicker: Mutex<Option<Kicker>>,
    /// Its registration on the address space (for TLB shootdowns).
    pub runner: Mutex<Option<Arc<Runner>>>,
    /// set_tid_address / CLONE_CHILD_CLEARTID.
    pub clear_child_tid: AtomicU64,
    /// set_robust_list head.
    pub robust_list: AtomicU64,
    /// Completed when this vfork child exits (wakes the parent).
    pub vfork_done: Mutex<Option<Arc<Completion>>>,
    /// PR_SET_PDEATHSIG.
    pub pdeath_signal: AtomicI32,
    /// The thread's own exit code (exit(2)), used when it is the last.
    pub exit_code: AtomicI32,
    /// Where the thread is in its life: running, zapped by another
    /// thread's execve (de_thread), exiting, dead.
    pub state: AtomicTaskState,
    /// trapno/err/cr2 of the last fault, for signal frames (Linux's
    /// thread.trap_nr, error_code, cr2); a clone copies its parent's.
    pub fault: Mutex<FaultRegs>,
    /// When the thread was created (/proc's start time).
    pub started: Instant,
    /// Nice value, policy, I/O priority and `comm` (the command name: the
    /// last component of the path execve was given, or PR_SET_NAME's) (a leaf lock).
    pub sched: super::sched::SchedAttrs,
    /// Credentials, personality and timer slack.
    pub ident: super::creds::Identity,
    /// The restart block of a relative sleep a signal interrupted
    /// (restart_syscall continues it).
    pub restart_block: Mutex<Option<super::timers::SleepRestart>>,
}

impl Task {
    /// A new task (not yet in the table).
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        tid: i32,
        tg: Arc<ThreadGroup>,
        kernel: Arc<Kernel>,
        mm: Arc<AddressSpace>,
        files: Arc<FdTable>,
        fs: Arc<Mutex<FsContext>>,
        blocked: SigSet,
    ) -> Arc<Self> {
        Arc::new(Self {
            tid,
            tg,
            kernel,
            mm: Mutex::new(Some(mm)),
            files: Mutex::new(files),
            fs,
            sig: Mutex::new(TaskSignals {
                blocked,
                ..Default::default()
            }),
            waiter: Arc::new(Waiter::default()),
            kicker: Mutex::new(None),
            runner: Mutex::new(None),
            clear_child_tid: AtomicU64::new(0),
            robust_list: AtomicU64::new(0),
            vfork_done: Mutex::new(None),
            pdeath_signal: AtomicI32::new(0),
            exit_code: AtomicI32::new(0),
            state: AtomicTaskState::default(),
            fault: Mutex::new(FaultRegs::default()),
            started: Instant::now(),
            sched: Default::default(),
            ident: Default::default(),
            restart_block: Mutex::new(None),
        })
    }

    /// The address space.
    pub fn mm(&self) -> Arc<AddressSpace> {
        Arc::clone(self.mm.lock().as_ref().expect("a running task has an mm"))
    }

    /// The command name (`comm`).
    pub fn comm(&self) -> Vec<u8> {
        self.sched.get().comm().to_vec()
    }

    /// Sets the command name: `name` up to its first NUL, at most 15
    /// bytes (Linux's TASK_COMM_LEN - 1).
    pub fn set_comm(&self, name: &[u8]) {
        let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
        let comm = name[..end.min(15)].to_vec();
        if self.tid == self.tg.tgid {
            self.tg.leader_comm.lock().clone_from(&comm);
        }
        self.sched.set_comm(&comm);
    }

    /// Sets the command name execve gives: the last component of `path`.
    pub fn set_comm_from_path(&self, path: &[u8]) {
        self.set_comm(path.rsplit(|&b| b == b'/').next().unwrap_or(path));
    }

    /// The descriptor table.
    pub fn files(&self) -> Arc<FdTable> {
        Arc::clone(&self.files.lock())
    }

    /// Process id.
    pub fn tgid(&self) -> i32 {
        self.tg.tgid
    }

    /// Whether another thread's execve is ending this one.
    pub fn is_zapped(&self) -> bool {
        self.state.get() == TaskState::Zapped
    }

    /// Another thread's execve ends this one (de_thread). A thread already
    /// on its way out stays so.
    pub fn zap(&self) {
        let _ = self.state.try_advance(TaskState::Zapped);
        self.wake();
    }

    /// Wakes the task from a sleep and kicks it out of the guest.
    pub fn wake(&self) {
        self.waiter.notify();
        if let Some(k) = self.kicker.lock().as_ref() {
            k.kick();
        }
    }

    /// Wakes the task for a queued `signal`: a sleep always ends (a
    /// sigtimedwait waits for blocked signals), but a thread that blocks
    /// it is not kicked out of the guest (a crossing): it can only take it
    /// after a syscall that unblocks it, and such a syscall returns through
    /// the run loop, which checks for pending signals. The signal is queued
    /// before the mask is read here, so an unblocking racing with this sees
    /// it.
    pub fn wake_for(&self, signal: Signal) {
        let unblockable = signal == Signal::SIGKILL || signal == Signal::SIGSTOP;
        if !unblockable && self.sig.lock().blocked.has(signal) {
            self.waiter.notify();
        } else {
            self.wake();
        }
    }

    /// Kicks the task out of the guest (if it is there) without waking a
    /// sleep: the run loop comes round once (CPU-timer ticks).
    pub fn kick(&self) {
        if let Some(k) = self.kicker.lock().as_ref() {
            k.kick();
        }
    }

    /// Whether an unblocked signal is pending for this thread.
    pub fn signal_pending(&self) -> bool {
        let shared = self.tg.shared_pending.lock().set();
        let s = self.sig.lock();
        (s.pending.set().0 | shared.0) & !s.blocked.0 != 0
    }

    /// Queues a signal for this thread.
    pub fn send_signal(&self, info: SigInfo) {
        if self.tg.is_exiting() {
            return;
        }
        if process::ignored_at_generation(self, &info) {
            return;
        }
        let Some(signal) = info.signal() else {
            return;
        };
        process::stop_cont_side_effects(&self.kernel, &self.tg, signal);
        self.sig.lock().pending.push(info);
        if signal == Signal::SIGKILL {
            self.tg.start_exit(sig::SIGKILL);
        }
        self.wake_for(signal);
    }

    /// execve's de_thread from a non-leader thread, once every other
    /// thread is gone: the thread takes over the leader's tid (the tgid).
    /// Returns the task under its new tid, carrying this one's state (its
    /// address space, files, signal state, sleeper and vCPU registration),
    /// now in the pid table and the group in place of this one. Call it on
    /// the task's own worker.
    pub fn become_leader(self: &Arc<Self>) -> Arc<Task> {
        let tgid = self.tgid();
        let sig = std::mem::take(&mut *self.sig.lock());
        let new = Arc::new(Self {
            tid: tgid,
            tg: Arc::clone(&self.tg),
            kernel: Arc::clone(&self.kernel),
            mm: Mutex::new(self.mm.lock().take()),
            files: Mutex::new(std::mem::replace(&mut *self.files.lock(), FdTable::new())),
            fs: Arc::clone(&self.fs),
            sig: Mutex::new(sig),
            waiter: Arc::clone(&self.waiter),
            kicker: Mutex::new(self.kicker.lock().take()),
            runner: Mutex::new(self.runner.lock().take()),
            clear_child_tid: AtomicU64::new(0),
            robust_list: AtomicU64::new(0),
            vfork_done: Mutex::new(self.vfork_done.lock().take()),
            pdeath_signal: AtomicI32::new(
                self.pdeath_signal
                    .load(std::sync::atomic::Ordering::Relaxed),
            ),
            exit_code: AtomicI32::new(0),
            state: AtomicTaskState::default(),
            fault: Mutex::new(*self.fault.lock()),
            started: self.started,
            sched: Default::default(),
            ident: self.ident.moved(),
            restart_block: Mutex::new(None),
        });
        let attrs = self.sched.get();
        new.sched.update(|a| *a = attrs);
        new.sched.cpu.start();
        let mut table = self.kernel.table.lock();
        table.tasks.remove(&self.tid);
        table.tasks.insert(tgid, Arc::clone(&new));
        for t in self.tg.threads.lock().iter_mut() {
            if t.tid == self.tid {
                *t = Arc::clone(&new);
            }
        }
        process::rename_parent_thread(&mut table, tgid, self.tid, tgid);
        new
    }

    /// The action for `signal`.
    pub fn action(&self, signal: Signal) -> SigAction {
        self.tg.sighand.lock().lock()[signal]
    }
}

impl Blocker for Task {
    fn waiter(&self) -> &Arc<Waiter> {
        &self.waiter
    }

    fn check_interrupt(&self) -> Result<(), Errno> {
        if self.tg.is_exiting() || self.is_zapped() || self.signal_pending() {
            Err(Errno::ERESTARTSYS)
        } else {
            Ok(())
        }
    }

    fn task(&self) -> Option<&Task> {
        Some(self)
    }
}

/// What a syscall handler returns besides a value.
#[derive(Debug, PartialEq, Eq)]
pub enum SysError {
    /// An errno (including the kernel-internal restart codes).
    Errno(Errno),
    /// The registers were set by the handler (rt_sigreturn, execve).
    KeepRegs,
    /// The thread is gone (exit, exit_group).
    Exited,
}

impl From<Errno> for SysError {
    fn from(e: Errno) -> Self {
        SysError::Errno(e)
    }
}

/// Result of a syscall handler.
pub type SysResult = Result<u64, SysError>;

/// A running task with its vCPU and user context: what syscall handlers
/// get.
pub struct TaskCtx {
    /// The task.
    pub task: Arc<Task>,
    /// Its vCPU (the platform's context).
    pub vcpu: Box<dyn Context>,
    /// Its user registers.
    pub ctx: UserContext,
    /// A syscall interrupted with a restart code: (number, code).
    restart: Option<(u64, Errno)>,
    /// `--stats`: this task's crossings, and its waiter's wake-ups already
    /// counted.
    crossings: (Counts, u64),
}

impl TaskCtx {
    /// The address space.
    pub fn mm(&self) -> Arc<AddressSpace> {
        self.task.mm()
    }
}

/// ERESTARTNOHAND: restart only if no handler runs.
pub const ERESTARTNOHAND: Errno = Errno(514);

/// `__NR_restart_syscall` on x86-64.
const NR_RESTART_SYSCALL: u64 = 219;

/// A task to start on a worker, with its first user context and the FPU
/// state it inherits (`None`: the initial state of a fresh process).
pub struct Job {
    /// The task.
    pub task: Arc<Task>,
    /// Its registers.
    pub ctx: UserContext,
    /// Its FPU state.
    pub fpu: Option<FpuState>,
}

/// Runs `task` on `vcpu` until the thread exits, then hands the vCPU back.
pub fn run(task: Arc<Task>, vcpu: Box<dyn Context>, ctx: UserContext) -> Box<dyn Context> {
    task.sched.cpu.start();
    super::cpus::note(&task);
    super::timers::limits_changed(&task.kernel, &task.tg);
    crate::fs::signalfd::running(&task);
    let runner = Runner::new(task.tid, vcpu.kicker());
    task.mm().attach(&runner);
    *task.runner.lock() = Some(Arc::clone(&runner));
    *task.kicker.lock() = Some(vcpu.kicker());
    let mut tc = TaskCtx {
        task,
        vcpu,
        ctx,
        restart: None,
        crossings: Default::default(),
    };
    let t = &mut tc;
    let stats = t.task.kernel.config.stats;
    if stats {
        count(t, Kind::VcpuStart);
    }
    let mut next_sample = std::time::Instant::now();
    loop {
        // Kicks that came while the task was in the sentry announced work
        // the checks below see: they need not end the next run at once.
        t.vcpu.clear_kick();
        if deliver_pending(t).is_err() {
            break;
        }
        super::cpus::follow(&t.task);
        let mm = t.task.mm();
        let root = match mm.enter(&runner) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!("task {}: page tables: {e}", t.task.tid);
                t.task.tg.start_exit(sig::SIGKILL);
                continue;
            }
        };
        t.task.sched.cpu.entering();
        let entered = std::time::Instant::now();
        let trap = t.vcpu.run(&mut t.ctx, root);
        let left = std::time::Instant::now();
        t.task
            .sched
            .cpu
            .ran(entered, left, matches!(trap, Ok(Trap::Syscall { .. })));
        mm.leave(&runner);
        drop(mm);
        if stats {
            count(t, trap.as_ref().map_or(Kind::Error, Kind::of));
        }
        // Other threads read this task's CPU time from its last sample
        // (getrusage RUSAGE_SELF): refresh it every 10 ms of running.
        let now = left;
        if t.task.tg.timers.cpu_armed() {
            super::timers::check_cpu(&t.task);
        } else if now >= next_sample {
            t.task.sched.cpu.sample();
            next_sample = now + std::time::Duration::from_millis(10);
            super::cpus::note(&t.task);
        }
        let trap = match trap {
            Ok(trap) => trap,
            Err(e) => {
                tracing::error!("task {}: {e}; killing it with SIGSEGV", t.task.tid);
                t.task.tg.start_exit(sig::SIGSEGV);
                continue;
            }
        };
        match trap {
            Trap::Syscall { nr, args } => {
                if let Err(()) = syscall(t, nr, args) {
                    break;
                }
            }
            Trap::PageFault {
                addr,
                access,
                error_code,
            } => page_fault(t, addr, access, error_code),
            Trap::Exception { vector, error_code } => exception(t, vector, error_code),
            Trap::Interrupted => {}
        }
    }
    let TaskCtx {
        task,
        vcpu,
        crossings,
        ..
    } = tc;
    if stats {
        let mut counts = crossings.0;
        let woken = task.waiter.wakeups().saturating_sub(crossings.1);
        counts.0[Kind::Wakeup as usize] += woken;
        task.kernel.crossings.add(Kind::Wakeup, woken);
        task.kernel.crossings.task_ended(TaskRecord {
            tid: task.tid,
            comm: task.comm(),
            counts,
        });
    }
    *task.kicker.lock() = None;
    process::exit_thread(&task);
    vcpu
}

/// `--stats`: counts one crossing of `kind` for the task and the sandbox,
/// with the wake-ups its sleeps since the last one took.
fn count(t: &mut TaskCtx, kind: Kind) {
    let crossings = &t.task.kernel.crossings;
    let (counts, seen) = &mut t.crossings;
    counts.0[kind as usize] += 1;
    crossings.add(kind, 1);
    let woken = t.task.waiter.wakeups();
    if woken > *seen {
        counts.0[Kind::Wakeup as usize] += woken - *seen;
        crossings.add(Kind::Wakeup, woken - *seen);
        *seen = woken;
    }
}

/// Runs one syscall (`raw_nr` is `rax` as the guest left it); Err when the
/// thread is gone.
fn syscall(t: &mut TaskCtx, raw_nr: u64, args: [u64; 6]) -> Result<(), ()> {
    let syscalls = t.task.kernel.syscalls;
    let nr = (syscalls.decode_nr)(raw_nr);
    let strace = t.task.kernel.config.strace;
    let before = strace.then(|| (syscalls.trace_enter)(t, nr, args));
    let started = t.task.kernel.config.stats.then(Instant::now);
    let result = (syscalls.dispatch)(t, nr, args);
    if let Some(s) = started {
        let error = matches!(result, Err(SysError::Errno(_)));
        t.task
            .kernel
            .record_syscall(nr, s.elapsed().as_nanos() as u64, error);
    }
    if let Some(line) = before {
        (syscalls.trace_exit)(t, nr, args, line, &result);
    }
    // setrlimit, prlimit64: a finite RLIMIT_CPU needs the CPU checks.
    if matches!(nr, 160 | 302) && result.is_ok() {
        let pid = if nr == 302 { args[0] as i32 } else { 0 };
        super::timers::limits_changed_for(&t.task, pid);
    }
    match result {
        Ok(v) => t.ctx.regs.rax = v,
        Err(SysError::Errno(e)) => {
            if matches!(e.0, 512..=516) {
                t.restart = Some((raw_nr, e));
                t.ctx.regs.rax = Errno::EINTR.to_return();
            } else {
                t.ctx.regs.rax = e.to_return();
            }
        }
        Err(SysError::KeepRegs) => {}
        Err(SysError::Exited) => return Err(()),
    }
    Ok(())
}

fn page_fault(t: &mut TaskCtx, addr: u64, access: Access, error_code: u64) {
    match t.mm().handle_fault(addr, access, true) {
        Ok(()) => {}
        Err(FaultError::Oom) => match super::oom::out_of_memory(&t.task) {
            // The victim frees its memory as it exits; the fault is retried
            // when the guest runs the instruction again.
            super::oom::OomOutcome::Retry => {
                std::thread::sleep(std::time::Duration::from_millis(1))
            }
            super::oom::OomOutcome::KilledSelf => force_signal(t, SigInfo::kernel(Signal::SIGKILL)),
        },
        Err(FaultError::Bus) => {
            *t.task.fault.lock() = FaultRegs {
                trapno: 14,
                err: error_code | 4,
                cr2: addr,
            };
            force_signal(t, SigInfo::fault(Signal::SIGBUS, code::BUS_ADRERR, addr));
        }
        Err(e) => {
            let c = if e == FaultError::MapErr {
                code::SEGV_MAPERR
            } else {
                code::SEGV_ACCERR
            };
            // As Linux's set_signal_archinfo: the user bit always, and the
            // protection bit for an address above user space.
            let mut err = error_code | 4;
            if addr >= crate::mm::TASK_SIZE {
                err |= 1;
            }
            *t.task.fault.lock() = FaultRegs {
                trapno: 14,
                err,
                cr2: addr,
            };
            force_signal(t, SigInfo::fault(Signal::SIGSEGV, c, addr));
        }
    }
}

/// Sends the signal Linux sends for a CPU exception in user mode
/// (arch/x86/kernel/traps.c), with the same si_code and si_addr.
fn exception(t: &mut TaskCtx, vector: u8, error_code: u64) {
    let rip = t.ctx.regs.rip;
    // What the signal frame's trapno and err will say.
    let (mut trapno, mut err) = (u64::from(vector), error_code);
    let info = match vector {
        // #DE: do_error_trap(SIGFPE, FPE_INTDIV, ip).
        0 => SigInfo::fault(Signal::SIGFPE, code::FPE_INTDIV, rip),
        // #DB: a single step (TF was set: TRAP_TRACE) or icebp
        // (TRAP_BRKPT), as Linux's get_si_code tells them apart by DR6.
        1 if t.ctx.regs.rflags & 0x100 != 0 => {
            SigInfo::fault(Signal::SIGTRAP, code::TRAP_TRACE, rip)
        }
        1 => SigInfo::fault(Signal::SIGTRAP, code::TRAP_BRKPT, rip),
        // int3: do_int3_user sends a plain SIGTRAP (SI_KERNEL, no address).
        3 => SigInfo::kernel(Signal::SIGTRAP),
        // `int $n` through a DPL-0 gate is a #GP on hardware (SIGSEGV,
        // SI_KERNEL); this host's KVM raises #UD for it instead
        // (KVM-NOTES fact 2), so look at the instruction. `int $0x80` is a
        // 32-bit syscall on a Linux with IA32 emulation (this host's is
        // on); the sandbox has no 32-bit ABI and gives SIGSEGV, as Linux
        // does with ia32_emulation=0.
        6 if let Some(n) = software_interrupt(t, rip) => {
            // The #GP hardware would raise: the gate's index, IDT bit set.
            (trapno, err) = (13, (u64::from(n) << 3) | 2);
            SigInfo::kernel(Signal::SIGSEGV)
        }
        // A far jmp/call through memory to a selector KVM's emulator
        // refuses, and (v)ldmxcsr with reserved MXCSR bits, come back from
        // this KVM as #UD; hardware raises #GP (SIGSEGV, SI_KERNEL). The
        // error code (the selector) is not recovered: err 0.
        6 if disguised(t, rip) == Some(Disguised::GpAsUd) => {
            (trapno, err) = (13, 0);
            SigInfo::kernel(Signal::SIGSEGV)
        }
        // An iretq whose stack is canonical faults on a bad SS or CS with
        // #GP on hardware; this KVM reports #SS (SIGBUS) or #NP.
        11 | 12
            if is_canonical(t.ctx.regs.rsp)
                && is_canonical(t.ctx.regs.rsp.wrapping_add(40))
                && disguised(t, rip) == Some(Disguised::Iret) =>
        {
            trapno = 13;
            SigInfo::kernel(Signal::SIGSEGV)
        }
        // monitor/mwait are #UD on hardware here (CPUID has no MONITOR for
        // user code); this KVM raises #GP.
        13 if disguised(t, rip) == Some(Disguised::UdAsGp) => {
            trapno = 6;
            SigInfo::fault(Signal::SIGILL, code::ILL_ILLOPN, rip)
        }
        // #UD: do_error_trap(SIGILL, ILL_ILLOPN, ip).
        6 => SigInfo::fault(Signal::SIGILL, code::ILL_ILLOPN, rip),
        // #SS (a non-canonical stack access): SIGBUS, SI_KERNEL.
        12 => SigInfo::kernel(Signal::SIGBUS),
        16 | 19 => SigInfo::fault(Signal::SIGFPE, 0, rip),
        // #GP from sgdt, sidt or smsw (CR4.UMIP is set): Linux emulates
        // them with dummy values (arch/x86/kernel/umip.c).
        13 => {
            let mm = t.mm();
            let (fs, gs) = (t.ctx.fs_base, t.ctx.gs_base);
            match umip::emulate(&mm, &mut t.ctx.regs, fs, gs) {
                Umip::Done => return,
                Umip::Fault(addr) => SigInfo::fault(Signal::SIGSEGV, code::SEGV_MAPERR, addr),
                Umip::NotEmulated => SigInfo::kernel(Signal::SIGSEGV),
            }
        }
        // #AC: do_error_trap(SIGBUS, BUS_ADRALN, NULL).
        17 => SigInfo::fault(Signal::SIGBUS, code::BUS_ADRALN, 0),
        // #GP, #OF (int $4), #BR, #TS, #NP and anything else: SIGSEGV with
        // SI_KERNEL and no address, as do_general_protection and
        // do_error_trap send it.
        _ => SigInfo::kernel(Signal::SIGSEGV),
    };
    // Linux's do_trap/do_error_trap record the vector and error code (cr2
    // stays what the last page fault left); an emulated UMIP instruction
    // records nothing.
    {
        let mut f = t.task.fault.lock();
        f.trapno = trapno;
        f.err = err;
    }
    force_signal(t, info);
}

/// Whether the instruction at `rip` is `int imm8` (0xcd), after any
/// legacy or REX prefixes except LOCK (which makes it a real #UD).
fn software_interrupt(t: &TaskCtx, rip: u64) -> Option<u8> {
    let mut insn = [0u8; 15];
    let n = t.mm().read_prefix(rip, &mut insn);
    let at = insn[..n].iter().position(
        |b| !matches!(b, 0x26 | 0x2e | 0x36 | 0x3e | 0x64..=0x67 | 0xf2 | 0xf3 | 0x40..=0x4f),
    )?;
    (insn[at] == 0xcd && at + 1 < n).then(|| insn[at + 1])
}

fn is_canonical(a: u64) -> bool {
    (a as i64) << 16 >> 16 == a as i64
}

/// An instruction for which this KVM raises another exception than
/// hardware (measured in `t_traps`'s instruction table).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Disguised {
    /// KVM: #UD; hardware: #GP.
    GpAsUd,
    /// KVM: #GP; hardware: #UD.
    UdAsGp,
    /// `iret`: KVM reports #SS or #NP where hardware gives #GP.
    Iret,
}

/// Reads the instruction at `rip` and classifies it ([`classify`]).
fn disguised(t: &TaskCtx, rip: u64) -> Option<Disguised> {
    let mut insn = [0u8; 15];
    let n = t.mm().read_prefix(rip, &mut insn);
    classify(&insn[..n])
}

/// Which [`Disguised`] instruction `insn` starts with, after legacy and
/// REX prefixes (LOCK excluded: with it every one of them is a real #UD).
fn classify(insn: &[u8]) -> Option<Disguised> {
    let at = insn.iter().position(
        |b| !matches!(b, 0x26 | 0x2e | 0x36 | 0x3e | 0x64..=0x67 | 0xf2 | 0xf3 | 0x40..=0x4f),
    )?;
    let modrm_reg = |m: u8| (m >> 3) & 7;
    let is_mem = |m: u8| m >> 6 != 3;
    match insn[at..] {
        // jmp far m16:xx (FF /5), call far m16:xx (FF /3).
        [0xff, m, ..] if is_mem(m) && matches!(modrm_reg(m), 3 | 5) => Some(Disguised::GpAsUd),
        // ldmxcsr m32 (0F AE /2).
        [0x0f, 0xae, m, ..] if is_mem(m) && modrm_reg(m) == 2 => Some(Disguised::GpAsUd),
        // vldmxcsr m32: VEX.LZ.0F.WIG AE /2 with vvvv = 1111 (two- or
        // three-byte VEX; no legacy or REX prefix before it).
        [0xc5, v, 0xae, m, ..] if at == 0 && v & 0x7f == 0x78 && is_mem(m) && modrm_reg(m) == 2 => {
            Some(Disguised::GpAsUd)
        }
        [0xc4, r, v, 0xae, m, ..]
            if at == 0 && r & 0x1f == 1 && v & 0x7f == 0x78 && is_mem(m) && modrm_reg(m) == 2 =>
        {
            Some(Disguised::GpAsUd)
        }
        // monitor (0F 01 C8), mwait (0F 01 C9).
        [0x0f, 0x01, 0xc8 | 0xc9, ..] => Some(Disguised::UdAsGp),
        [0xcf, ..] => Some(Disguised::Iret),
        // sysenter (0F 34): on Intel CPUs an instruction in 64-bit mode,
        // which faults with #GP(0) when SYSENTER_CS is 0, as Linux sets it
        // when IA32 emulation is off (the sandbox has no 32-bit ABI); this
        // KVM raises #UD. On AMD it is #UD on hardware too.
        [0x0f, 0x34, ..] if sysenter_is_an_instruction() => Some(Disguised::GpAsUd),
        _ => None,
    }
}

/// Whether the CPU (the host's model, which the guest's CPUID shows) is
/// Intel's, where `sysenter` exists in 64-bit mode.
fn sysenter_is_an_instruction() -> bool {
    static INTEL: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *INTEL.get_or_init(|| {
        let l0 = std::arch::x86_64::__cpuid(0);
        let mut vendor = [0u8; 12];
        vendor[..4].copy_from_slice(&l0.ebx.to_le_bytes());
        vendor[4..8].copy_from_slice(&l0.edx.to_le_bytes());
        vendor[8..].copy_from_slice(&l0.ecx.to_le_bytes());
        &vendor == b"GenuineIntel"
    })
}

/// Delivers a synchronous fault signal: if blocked or ignored, it kills
/// (as Linux's force_sig_info does).
fn force_signal(t: &mut TaskCtx, info: SigInfo) {
    let Some(s) = info.signal() else {
        return;
    };
    let act = t.task.action(s);
    let blocked = t.task.sig.lock().blocked.has(s);
    if blocked || act.handler == signal::SIG_IGN {
        t.task.tg.handlers().lock()[s] = SigAction::default();
        t.task.sig.lock().blocked.remove(s);
    }
    // A fault that will take its default action kills even init.
    if t.task.action(s).handler == signal::SIG_DFL {
        t.task
            .tg
            .unkillable
            .store(false, std::sync::atomic::Ordering::Relaxed);
        log_unhandled_fault(t, &info, s);
    }
    t.task.sig.lock().pending.push(info);
}

/// Linux's `show_unhandled_signals`: a fault that kills its task is logged
/// with where it happened, as the kernel's "segfault at" line (at info
/// level, as Linux's KERN_INFO: `--log-level info` shows it). The command
/// name is the guest's, so it is quoted.
fn log_unhandled_fault(t: &TaskCtx, info: &SigInfo, s: Signal) {
    if !tracing::enabled!(tracing::Level::INFO) {
        return;
    }
    let fault = *t.task.fault.lock();
    let place = t.mm().describe_addr(t.ctx.regs.rip).unwrap_or_default();
    tracing::info!(
        "{}[{}]: {} (si_code {}) at {:#x} ip {:#x} sp {:#x} trap {} error {:#x} in {}",
        crate::quote(&t.task.comm()),
        t.task.tid,
        signal::name(s.number()),
        info.code,
        info.data[0],
        t.ctx.regs.rip,
        t.ctx.regs.rsp,
        fault.trapno,
        fault.err,
        crate::quote(place.as_bytes()),
    );
}

/// Takes the next deliverable signal for the running task.
fn dequeue(task: &Task) -> Option<SigInfo> {
    let blocked = task.sig.lock().blocked;
    dequeue_masked(task, blocked)
}

/// Takes the next pending signal not in `blocked` (thread's first).
pub fn dequeue_masked(task: &Task, blocked: SigSet) -> Option<SigInfo> {
    loop {
        let popped = task.sig.lock().pending.pop(blocked);
        let mut info = match popped {
            Some(i) => i,
            None => task.tg.shared_pending.lock().pop(blocked)?,
        };
        // A POSIX timer's signal: si_overrun, re-arming, or dropped if the
        // timer was deleted or re-armed meanwhile.
        if info.code == super::timers::SI_TIMER && !super::timers::on_deliver(task, &mut info) {
            continue;
        }
        return Some(info);
    }
}

/// Handles group exit, stops, and pending signals before returning to the
/// guest. Err when the thread must exit.
fn deliver_pending(t: &mut TaskCtx) -> Result<(), ()> {
    loop {
        if t.task.tg.is_exiting() || t.task.is_zapped() {
            return Err(());
        }
        if *t.task.tg.stopped.lock() {
            let guard = t.task.tg.stop_queue.prepare(&*t.task);
            if *t.task.tg.stopped.lock() && !t.task.tg.is_exiting() {
                let _ = guard;
                t.task.waiter.wait(None);
            }
            continue;
        }
        let Some(info) = dequeue(&t.task) else {
            break;
        };
        let Some(s) = info.signal() else {
            continue;
        };
        let act = t.task.action(s);
        if t.task.kernel.config.strace {
            crate::log::stderr_line(format_args!(
                "[pid {}] --- {} {{si_signo={}, si_code={}}} ---",
                t.task.tid,
                signal::name(s.number()),
                s.number(),
                info.code
            ));
        }
        if s == Signal::SIGKILL {
            t.task.tg.start_exit(sig::SIGKILL);
            return Err(());
        }
        match act.handler {
            signal::SIG_IGN => continue,
            // Init gets no default action it did not ask for (a signal
            // queued while blocked lands here once unblocked).
            signal::SIG_DFL if t.task.tg.is_unkillable() && s != Signal::SIGSTOP => continue,
            signal::SIG_DFL => match signal::default_action(s) {
                DefaultAction::Ignore | DefaultAction::Continue => continue,
                DefaultAction::Stop => {
                    process::group_stop(&t.task, s);
                    continue;
                }
                DefaultAction::Terminate | DefaultAction::Core => {
                    t.task.tg.start_exit(s.number());
                    return Err(());
                }
            },
            _ => {
                if let Some((nr, e)) = t.restart.take() {
                    let restart = e == Errno::ERESTARTNOINTR
                        || (e == Errno::ERESTARTSYS && act.flags & sa::RESTART != 0);
                    if restart {
                        t.ctx.regs.rip -= 2;
                        t.ctx.regs.rax = nr;
                    } else {
                        t.ctx.regs.rax = Errno::EINTR.to_return();
                    }
                }
                if setup_frame(t, &info, act).is_err() {
                    // Linux forces SIGSEGV when the frame cannot be written.
                    t.task.tg.start_exit(sig::SIGSEGV);
                    return Err(());
                }
                return Ok(());
            }
        }
    }
    // No handler ran: restart an interrupted syscall transparently.
    if let Some((nr, e)) = t.restart.take() {
        t.ctx.regs.rip -= 2;
        t.ctx.regs.rax = if e == Errno::ERESTART_RESTARTBLOCK {
            NR_RESTART_SYSCALL
        } else {
            nr
        };
    }
    // A sigsuspend whose signal was ignored restores its mask on restart.
    let mut s = t.task.sig.lock();
    if let Some(m) = s.saved_mask.take() {
        s.blocked = m;
    }
    Ok(())
}

/// A host failure to save or reset the FPU state while building a signal
/// frame: logged with its cause; the frame fails as a bad stack would
/// (the task gets SIGSEGV).
fn fpu_failed(t: &TaskCtx, what: &str, e: platform::Error) -> Errno {
    tracing::error!("task {}: cannot {what} the FPU state: {e}", t.task.tid);
    Errno::EFAULT
}

/// Builds the x86-64 signal frame and points the context at the handler.
fn setup_frame(t: &mut TaskCtx, info: &SigInfo, act: SigAction) -> Result<(), Errno> {
    let mm = t.mm();
    let (alt, old_blocked) = {
        let s = t.task.sig.lock();
        let old = s.saved_mask.unwrap_or(s.blocked);
        (s.alt, old)
    };
    if act.flags & sa::RESTORER == 0 {
        return Err(Errno::EFAULT);
    }
    let use_alt = act.flags & sa::ONSTACK != 0 && alt.size != 0 && !alt.on_stack(t.ctx.regs.rsp);
    let layout = signal::frame_layout(t.ctx.regs.rsp, use_alt.then_some(&alt));
    let fpu = t.vcpu.save_fpu().map_err(|e| fpu_failed(t, "save", e))?;
    let mut xsave = fpu.to_bytes();
    // sw_reserved.xfeatures names the components the frame holds: x87 and
    // SSE always (Linux's user_xfeatures always has them), and whatever
    // else the saved XSTATE_BV says is in use.
    let xfeatures = u64::from_le_bytes(xsave[512..520].try_into().expect("8 bytes")) | 0x3;
    signal::fpstate_markers(&mut xsave, xfeatures);
    mm.write(layout.fpstate, &xsave)?;
    mm.write(
        layout.fpstate + signal::XSAVE_SIZE,
        &signal::fpstate_magic2(),
    )?;
    let fault = *t.task.fault.lock();
    let frame = signal::encode_frame(
        &t.ctx.regs,
        act.restorer,
        old_blocked,
        alt,
        info,
        layout.fpstate,
        fault,
    );
    mm.write(layout.frame, &frame)?;
    // The handler starts with a clean FPU (Linux's fpu__clear_user_states);
    // the interrupted state comes back from the frame at sigreturn.
    t.vcpu.reset_fpu().map_err(|e| fpu_failed(t, "reset", e))?;
    let regs = &mut t.ctx.regs;
    regs.rip = act.handler;
    regs.rsp = layout.frame;
    regs.rdi = info.signo as u64;
    regs.rsi = layout.frame.wrapping_add(signal::INFO_OFFSET);
    regs.rdx = layout.frame.wrapping_add(signal::UC_OFFSET);
    regs.rax = 0;
    // Clear TF, DF and RF, as Linux's handle_signal does; AC stays set
    // (a handler of an alignment-check SIGBUS runs with alignment checks).
    regs.rflags &= !(0x100 | 0x400 | 0x10000);
    {
        let mut s = t.task.sig.lock();
        s.saved_mask = None;
        s.blocked.0 |= act.mask.0;
        if act.flags & sa::NODEFER == 0
            && let Some(sig) = info.signal()
        {
            s.blocked.add(sig);
        }
        s.blocked = s.blocked.unblockable_removed();
        if use_alt && alt.flags & signal::SS_AUTODISARM != 0 {
            s.alt = AltStack::reset();
        }
    }
    if act.flags & sa::RESETHAND != 0
        && let Some(sig) = info.signal()
    {
        t.task.tg.handlers().lock()[sig] = SigAction::default();
    }
    Ok(())
}

/// rt_sigreturn: restores the context saved by [`setup_frame`].
pub fn sigreturn(t: &mut TaskCtx) -> SysResult {
    let mm = t.mm();
    let uc_addr = t.ctx.regs.rsp; // the restorer's `ret` popped pretcode
    let mut uc = vec![0u8; signal::UCONTEXT_SIZE as usize];
    if mm.read(uc_addr, &mut uc).is_err() {
        t.task.tg.start_exit(sig::SIGSEGV);
        return Err(SysError::Exited);
    }
    let r = signal::decode_ucontext(&uc)?;
    if r.fpstate != 0 {
        let mut xsave = vec![0u8; signal::XSAVE_SIZE as usize];
        if mm.read(r.fpstate, &mut xsave).is_err()
            || !signal::xsave_to_standard_form(&mut xsave)
            || t.vcpu.restore_fpu(&FpuState::from_bytes(&xsave)).is_err()
        {
            t.task.tg.start_exit(sig::SIGSEGV);
            return Err(SysError::Exited);
        }
    }
    t.ctx.regs = r.regs;
    // A handler ran: nothing is left to restart (Linux's
    // restore_sigcontext sets do_no_restart_syscall).
    *t.task.restart_block.lock() = None;
    let mut s = t.task.sig.lock();
    s.blocked = r.blocked.unblockable_removed();
    // restore_altstack: sigaltstack(&uc_stack) against the restored stack
    // pointer; its errors (on the current alternate stack, bad flags, too
    // small) leave the alternate stack as it is.
    if !s.alt.on_stack(t.ctx.regs.rsp)
        && let Ok(alt) = signal::altstack_from(r.alt.sp, r.alt.flags, r.alt.size)
    {
        s.alt = alt;
    }
    drop(s);
    // The platform always returns to the 64-bit user segments; where
    // Linux's IRET to the frame's CS/SS would fault, send what that fault
    // sends (a #GP from user mode: SIGSEGV, SI_KERNEL), with the restored
    // registers. A non-canonical RIP or RSP is left to the CPU, as on
    // Linux (#GP at the first fetch, #SS at the first stack access).
    if !r.selectors_valid {
        force_signal(t, SigInfo::kernel(Signal::SIGSEGV));
    }
    Err(SysError::KeepRegs)
}

/// The wait status of exit(code).
pub fn exited_status(code: i32) -> i32 {
    (code & 0xff) << 8
}

/// A SIGCHLD-family notification to send to a parent.
pub fn child_info(exit_signal: Signal, pid: i32, status: i32) -> SigInfo {
    let (c, st) = if status & 0x7f == 0 {
        (code::CLD_EXITED, (status >> 8) & 0xff)
    } else {
        (code::CLD_KILLED, status & 0x7f)
    };
    SigInfo::child(exit_signal, c, pid, st)
}

#[cfg(test)]
mod tests {
    use super::{Disguised, classify};

    #[test]
    fn classify_disguised_instructions() {
        // ljmp *(%rax), lcall *(%rax), rex.w ljmp *(%rax), with a segment
        // prefix; jmp *%rax (FF /4) and FF /5 with a register are not.
        for insn in [
            &[0xff, 0x28][..],
            &[0xff, 0x18],
            &[0x48, 0xff, 0x28],
            &[0x64, 0xff, 0x2c, 0x24],
        ] {
            assert_eq!(classify(insn), Some(Disguised::GpAsUd), "{insn:x?}");
        }
        for insn in [
            &[0xff, 0x20][..],
            &[0xff, 0xe8],
            &[0xf0, 0xff, 0x28],
            &[0xff],
        ] {
            assert_eq!(classify(insn), None, "{insn:x?}");
        }
        // ldmxcsr (%rax), vldmxcsr (%rax) in both VEX forms; stmxcsr and a
        // VEX with vvvv != 1111 are not.
        assert_eq!(classify(&[0x0f, 0xae, 0x10]), Some(Disguised::GpAsUd));
        assert_eq!(classify(&[0xc5, 0xf8, 0xae, 0x10]), Some(Disguised::GpAsUd));
        assert_eq!(
            classify(&[0xc4, 0xe1, 0x78, 0xae, 0x10]),
            Some(Disguised::GpAsUd)
        );
        assert_eq!(classify(&[0x0f, 0xae, 0x18]), None);
        assert_eq!(classify(&[0xc5, 0xf0, 0xae, 0x10]), None);
        assert_eq!(classify(&[0x0f, 0x01, 0xc8]), Some(Disguised::UdAsGp));
        assert_eq!(classify(&[0x48, 0xcf]), Some(Disguised::Iret));
        assert_eq!(classify(&[]), None);
    }
}

//! One path for every way of creating a task, as Linux's
//! `kernel_clone_args` and `kernel_clone()`: fork, vfork, clone and clone3
//! each build a [`CloneArgs`], [`CloneArgs::validate`] checks it once in the
//! kernel's order, and [`do_clone`] creates the task.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::PID_MAX;
use super::signal::{self, SigAction};
use super::task::{self, Task, TaskCtx, ThreadGroup};
use super::wait::Completion;
use crate::errno::Errno;

/// CLONE_* flags as plain words, for the flag arithmetic of [`CloneArgs`];
/// their one definition is [`CloneFlags`].
#[allow(missing_docs)]
pub mod flags {
    use crate::abi::process::CloneFlags;
    pub const CSIGNAL: u64 = CloneFlags::CSIGNAL;
    pub const CLONE_NEWTIME: u64 = CloneFlags::NEWTIME.bits();
    pub const CLONE_VM: u64 = CloneFlags::VM.bits();
    pub const CLONE_FS: u64 = CloneFlags::FS.bits();
    pub const CLONE_FILES: u64 = CloneFlags::FILES.bits();
    pub const CLONE_SIGHAND: u64 = CloneFlags::SIGHAND.bits();
    pub const CLONE_PIDFD: u64 = CloneFlags::PIDFD.bits();
    pub const CLONE_PTRACE: u64 = CloneFlags::PTRACE.bits();
    pub const CLONE_VFORK: u64 = CloneFlags::VFORK.bits();
    pub const CLONE_PARENT: u64 = CloneFlags::PARENT.bits();
    pub const CLONE_THREAD: u64 = CloneFlags::THREAD.bits();
    pub const CLONE_NEWNS: u64 = CloneFlags::NEWNS.bits();
    pub const CLONE_SYSVSEM: u64 = CloneFlags::SYSVSEM.bits();
    pub const CLONE_SETTLS: u64 = CloneFlags::SETTLS.bits();
    pub const CLONE_PARENT_SETTID: u64 = CloneFlags::PARENT_SETTID.bits();
    pub const CLONE_CHILD_CLEARTID: u64 = CloneFlags::CHILD_CLEARTID.bits();
    pub const CLONE_DETACHED: u64 = CloneFlags::DETACHED.bits();
    pub const CLONE_UNTRACED: u64 = CloneFlags::UNTRACED.bits();
    pub const CLONE_CHILD_SETTID: u64 = CloneFlags::CHILD_SETTID.bits();
    pub const CLONE_NEWCGROUP: u64 = CloneFlags::NEWCGROUP.bits();
    pub const CLONE_NEWUTS: u64 = CloneFlags::NEWUTS.bits();
    pub const CLONE_NEWIPC: u64 = CloneFlags::NEWIPC.bits();
    pub const CLONE_NEWUSER: u64 = CloneFlags::NEWUSER.bits();
    pub const CLONE_NEWPID: u64 = CloneFlags::NEWPID.bits();
    pub const CLONE_NEWNET: u64 = CloneFlags::NEWNET.bits();
    pub const CLONE_IO: u64 = CloneFlags::IO.bits();
    pub const CLONE_CLEAR_SIGHAND: u64 = CloneFlags::CLEAR_SIGHAND.bits();
    pub const CLONE_INTO_CGROUP: u64 = CloneFlags::INTO_CGROUP.bits();
    pub const CLONE_LEGACY_FLAGS: u64 = 0xffff_ffff;
    /// Namespace flags (the sandbox creates no namespaces).
    pub const NAMESPACES: u64 = CloneFlags::NAMESPACES.bits();
}
use flags::*;

/// Which entry point built the arguments (some checks differ).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Origin {
    /// fork(2), vfork(2) or clone(2).
    Legacy,
    /// clone3(2).
    Clone3,
}

/// The internal form of every process-creation request (Linux's
/// `kernel_clone_args`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CloneArgs {
    /// CLONE_* flags, without the exit signal.
    pub flags: u64,
    /// Where to store a pidfd (CLONE_PIDFD).
    pub pidfd: u64,
    /// CLONE_CHILD_SETTID / CLONE_CHILD_CLEARTID address.
    pub child_tid: u64,
    /// CLONE_PARENT_SETTID address.
    pub parent_tid: u64,
    /// Signal sent to the parent when the child exits.
    pub exit_signal: u64,
    /// Lowest address of the child's stack (clone3) or its initial rsp
    /// (clone); see `stack_size`.
    pub stack: u64,
    /// Size of the stack (clone3 only; 0 for clone).
    pub stack_size: u64,
    /// TLS (CLONE_SETTLS).
    pub tls: u64,
    /// CLONE_SET_TID values (one per pid namespace level; we have one).
    pub set_tid: Vec<i32>,
    /// CLONE_INTO_CGROUP descriptor.
    pub cgroup: u64,
}

impl CloneArgs {
    /// fork(2).
    pub fn fork() -> Self {
        Self {
            exit_signal: signal::sig::SIGCHLD as u64,
            ..Default::default()
        }
    }

    /// vfork(2).
    pub fn vfork() -> Self {
        Self {
            flags: CLONE_VFORK | CLONE_VM,
            exit_signal: signal::sig::SIGCHLD as u64,
            ..Default::default()
        }
    }

    /// clone(2) on x86-64: (flags, newsp, parent_tid, child_tid, tls).
    pub fn legacy(raw_flags: u64, newsp: u64, parent_tid: u64, child_tid: u64, tls: u64) -> Self {
        let low = raw_flags & 0xffff_ffff;
        Self {
            flags: low & !CSIGNAL,
            pidfd: parent_tid,
            child_tid,
            parent_tid,
            exit_signal: low & CSIGNAL,
            stack: newsp,
            tls,
            ..Default::default()
        }
    }

    /// The checks of clone3_args_valid() and copy_process(), in the
    /// kernel's order (kernel/fork.c). The clone3-only size and field
    /// checks are in clone3(2)'s argument decoding (`syscalls/process.rs`).
    pub fn validate(&self, origin: Origin, caller_is_init: bool) -> Result<(), Errno> {
        let f = self.flags;
        if origin == Origin::Clone3 {
            // clone3_args_valid(): unknown flags; CLONE_DETACHED and the
            // CSIGNAL bits (except CLONE_NEWTIME) are reserved in clone3.
            if f & !(CLONE_LEGACY_FLAGS | CLONE_CLEAR_SIGHAND | CLONE_INTO_CGROUP) != 0 {
                return Err(Errno::EINVAL);
            }
            if f & (CLONE_DETACHED | (CSIGNAL & !CLONE_NEWTIME)) != 0 {
                return Err(Errno::EINVAL);
            }
            if f & (CLONE_SIGHAND | CLONE_CLEAR_SIGHAND) == CLONE_SIGHAND | CLONE_CLEAR_SIGHAND {
                return Err(Errno::EINVAL);
            }
            if f & (CLONE_THREAD | CLONE_PARENT) != 0 && self.exit_signal != 0 {
                return Err(Errno::EINVAL);
            }
            // clone3_stack_valid(): stack and stack_size come together.
            if (self.stack == 0) != (self.stack_size == 0) {
                return Err(Errno::EINVAL);
            }
            if self.stack != 0
                && self
                    .stack
                    .checked_add(self.stack_size)
                    .is_none_or(|e| e > crate::mm::TASK_SIZE)
            {
                return Err(Errno::EINVAL);
            }
        }
        // kernel_clone(): legacy clone returns the pidfd through parent_tid.
        if f & CLONE_PIDFD != 0 && f & CLONE_PARENT_SETTID != 0 && self.pidfd == self.parent_tid {
            return Err(Errno::EINVAL);
        }
        // copy_process().
        if f & (CLONE_NEWNS | CLONE_FS) == CLONE_NEWNS | CLONE_FS
            || f & (CLONE_NEWUSER | CLONE_FS) == CLONE_NEWUSER | CLONE_FS
        {
            return Err(Errno::EINVAL);
        }
        if f & CLONE_THREAD != 0 && f & CLONE_SIGHAND == 0 {
            return Err(Errno::EINVAL);
        }
        if f & CLONE_SIGHAND != 0 && f & CLONE_VM == 0 {
            return Err(Errno::EINVAL);
        }
        if f & CLONE_PARENT != 0 && caller_is_init {
            return Err(Errno::EINVAL);
        }
        if f & CLONE_THREAD != 0 && f & (CLONE_NEWUSER | CLONE_NEWPID) != 0 {
            return Err(Errno::EINVAL);
        }
        if f & CLONE_PIDFD != 0 && f & CLONE_DETACHED != 0 {
            return Err(Errno::EINVAL);
        }
        Ok(())
    }
}

/// Creates the task described by `args` (already validated) as a child of
/// the running task, and starts it. Returns the child's tid.
pub fn do_clone(t: &mut TaskCtx, args: &CloneArgs) -> Result<i32, Errno> {
    let parent = Arc::clone(&t.task);
    let kernel = Arc::clone(&parent.kernel);
    let f = args.flags;
    if f & NAMESPACES != 0 {
        // The sandbox is one set of namespaces; creating more is refused as
        // a container runtime without CAP_SYS_ADMIN would.
        return Err(Errno::EPERM);
    }
    // copy_thread() -> do_arch_prctl_64(ARCH_SET_FS): a TLS base at or
    // above the user limit is EPERM (after copy_namespaces, before the pid
    // is allocated and the cgroup checked).
    if f & CLONE_SETTLS != 0 && args.tls >= crate::mm::TASK_SIZE {
        return Err(Errno::EPERM);
    }
    if f & CLONE_INTO_CGROUP != 0 {
        // There is no cgroup filesystem, so no descriptor names a cgroup.
        return Err(Errno::EBADF);
    }
    let mm = if f & CLONE_VM != 0 {
        parent.mm()
    } else {
        // What the parent and the child write first after the fork: the
        // stack where the parent stands (and its red zone) and its thread
        // block (glibc's struct pthread starts at FS and spans ~2 KiB).
        let (sp, fs) = (t.ctx.regs.rsp, t.ctx.fs_base);
        let mm = parent.mm();
        let child = mm.fork_hot(&[sp, sp.wrapping_sub(128), fs, fs.wrapping_add(0x800)])?;
        // The parent's other threads may still write through translations
        // the fork just made read-only (or shared): make them leave the old
        // root before the child can run, as Linux flushes the parent's TLB
        // before it wakes the child. (The commit would otherwise happen
        // when this thread re-enters the guest.)
        let runner = parent.runner.lock().clone();
        if let Some(r) = runner
            && mm.enter(&r).is_ok()
        {
            mm.leave(&r);
        }
        child
    };
    let files = if f & CLONE_FILES != 0 {
        parent.files()
    } else {
        parent.files().fork()?
    };
    // Signal handlers belong to the thread group: a thread uses its
    // group's table, CLONE_SIGHAND shares the table with a new group, and
    // otherwise the new group gets a copy (CLONE_CLEAR_SIGHAND: with
    // handled signals back to SIG_DFL).
    let new_group_handlers = (f & CLONE_THREAD == 0).then(|| {
        let parent_handlers = parent.tg.handlers();
        if f & CLONE_SIGHAND != 0 {
            return parent_handlers;
        }
        let mut h = *parent_handlers.lock();
        if f & CLONE_CLEAR_SIGHAND != 0 {
            for a in h.iter_mut() {
                if a.handler != signal::SIG_IGN {
                    *a = SigAction::default();
                }
            }
        }
        Arc::new(parking_lot::Mutex::new(h))
    });
    let blocked = parent.sig.lock().blocked;

    // The child starts with the parent's FPU state.
    let fpu = t.vcpu.save_fpu().ok();

    let mut table = kernel.table.lock();
    // copy_process: RLIMIT_NPROC counts the real uid's tasks (threads
    // included) and spares root (INIT_USER) and holders of
    // CAP_SYS_RESOURCE or CAP_SYS_ADMIN.
    let live = table.tasks.len() as u64;
    let nproc = parent.tg.limits.lock().soft(super::limits::resource::NPROC);
    let creds = parent.ident.creds();
    let user_tasks = if nproc == super::limits::RLIM_INFINITY || creds.uid[0] == 0 {
        0
    } else {
        table
            .tasks
            .values()
            .filter(|t| t.ident.creds().uid[0] == creds.uid[0])
            .count() as u64
    };
    let privileged = creds.capable(super::creds::cap::SYS_RESOURCE)
        || creds.capable(super::creds::cap::SYS_ADMIN);
    if super::limits::nproc_refuses(creds.uid[0], privileged, user_tasks, nproc) {
        return Err(Errno::EAGAIN);
    }
    // `--max-tasks`, as Linux's `nr_threads >= max_threads`.
    if live >= kernel.config.sandbox_limits.max_tasks {
        tracing::warn!(
            "task refused: --max-tasks {} reached",
            kernel.config.sandbox_limits.max_tasks
        );
        return Err(Errno::EAGAIN);
    }
    let wanted = match args.set_tid.first() {
        Some(&p) if p > 0 && p < PID_MAX => Some(p),
        Some(_) => return Err(Errno::EINVAL),
        None => None,
    };
    let tid = table.alloc_pid(wanted)?;
    let tg = match new_group_handlers {
        None => Arc::clone(&parent.tg),
        Some(handlers) => {
            let tg = ThreadGroup::new(tid, handlers);
            *tg.limits.lock() = *parent.tg.limits.lock();
            // The mm's dumpable flag is copied with it (dup_mm).
            let d = parent
                .tg
                .dumpable
                .load(std::sync::atomic::Ordering::Relaxed);
            tg.dumpable.store(d, std::sync::atomic::Ordering::Relaxed);
            tg
        }
    };
    // CLONE_FS shares the filesystem context; otherwise the child gets a copy.
    let fs = if f & CLONE_FS != 0 {
        Arc::clone(&parent.fs)
    } else {
        Arc::new(parking_lot::Mutex::new(parent.fs.lock().clone()))
    };
    let child = Task::new(
        tid,
        Arc::clone(&tg),
        Arc::clone(&kernel),
        mm,
        files,
        fs,
        blocked,
    );
    *child.fault.lock() = *parent.fault.lock();
    child.ident.inherit(&parent.ident);
    let attrs = parent.sched.get().for_child();
    child.sched.update(|a| *a = attrs);
    if f & CLONE_THREAD == 0 {
        super::cpus::fork_hint(&child);
    }
    // Also the zombie leader's copy (/proc shows it once threads are gone).
    child.set_comm(&parent.comm());
    // The alternate signal stack is inherited, except by a child that
    // shares the address space without vfork (a thread): sas_ss_reset.
    child.sig.lock().alt = if f & CLONE_VM != 0 && f & CLONE_VFORK == 0 {
        signal::AltStack::reset()
    } else {
        parent.sig.lock().alt
    };
    if f & CLONE_THREAD != 0 {
        table.insert_thread(&child);
    } else {
        let me = parent.tgid();
        let (pp, pp_tid, pgid, sid, inherited_signal) = {
            let mine = table.procs.get(&me).ok_or(Errno::ESRCH)?;
            (
                mine.parent,
                mine.parent_tid,
                mine.pgid,
                mine.sid,
                mine.exit_signal,
            )
        };
        // The parent is a thread (Linux's real_parent): the caller, or with
        // CLONE_PARENT the caller's own parent thread.
        let (new_parent, parent_tid, exit_signal) = if f & CLONE_PARENT != 0 {
            (pp, pp_tid, inherited_signal)
        } else {
            (me, parent.tid, args.exit_signal as i32)
        };
        table.insert_process(&child, new_parent, pgid, sid, exit_signal);
        if let Some(p) = table.procs.get_mut(&child.tid) {
            p.parent_tid = parent_tid;
        }
    }
    drop(table);
    // From here on, every early return takes the child out again.
    let mut partial = Rollback::new(
        PartialClone {
            kernel: Arc::clone(&kernel),
            child: Arc::clone(&child),
            thread: f & CLONE_THREAD != 0,
            pidfd: None,
        },
        PartialClone::undo,
    );

    // Registers: the child returns 0 from the syscall, on its own stack.
    let mut ctx = t.ctx;
    ctx.regs.rax = 0;
    if args.stack != 0 {
        ctx.regs.rsp = args.stack + args.stack_size;
    }
    if f & CLONE_SETTLS != 0 {
        ctx.fs_base = args.tls;
    }
    if f & CLONE_PIDFD != 0 {
        let flags = if f & CLONE_THREAD != 0 {
            crate::fs::pidfd::PIDFD_THREAD
        } else {
            0
        };
        let files = parent.files();
        let fd = crate::fs::pidfd::install(&files, &kernel, tid, &tg, flags)?;
        partial.state_mut().pidfd = Some((Arc::clone(&files), fd, files.get(fd as i64)?));
        parent.mm().write_u32(args.pidfd, fd as u32)?;
    }
    let child_mm = child.mm();
    if f & CLONE_CHILD_SETTID != 0 {
        let _ = child_mm.write_u32(args.child_tid, tid as u32);
    }
    if f & CLONE_CHILD_CLEARTID != 0 {
        child
            .clear_child_tid
            .store(args.child_tid, Ordering::Relaxed);
    }
    if f & CLONE_PARENT_SETTID != 0 {
        let _ = parent.mm().write_u32(args.parent_tid, tid as u32);
    }
    let done = (f & CLONE_VFORK != 0).then(|| {
        let c = Arc::new(Completion::default());
        *child.vfork_done.lock() = Some(Arc::clone(&c));
        c
    });
    let job = task::Job {
        task: Arc::clone(&child),
        ctx,
        fpu,
    };
    if let Err(e) = kernel.start(job) {
        // Out of vCPUs or host threads: the child never ran, so it is taken
        // out again (a thread must not take its whole group down with it).
        tracing::warn!("cannot start task {tid}: {e}");
        return Err(Errno::EAGAIN);
    }
    // The child runs: nothing is undone any more.
    partial.commit();
    if let Some(done) = done {
        done.wait(&*parent, || super::process::killed(&parent));
    }
    Ok(tid)
}

/// A scope guard that undoes a partial operation when dropped, unless
/// [`Rollback::commit`] was called: every early return (`?` included)
/// between its creation and the commit runs `undo` on `state`.
pub struct Rollback<T, F: FnOnce(T)> {
    armed: Option<(T, F)>,
}

impl<T, F: FnOnce(T)> Rollback<T, F> {
    /// Arms the guard.
    pub fn new(state: T, undo: F) -> Self {
        Self {
            armed: Some((state, undo)),
        }
    }

    /// What `undo` will be given (to record more to undo).
    pub fn state_mut(&mut self) -> &mut T {
        &mut self
            .armed
            .as_mut()
            .expect("armed until committed or dropped")
            .0
    }

    /// The operation succeeded: disarms the guard and returns its state.
    pub fn commit(mut self) -> T {
        self.armed
            .take()
            .expect("armed until committed or dropped")
            .0
    }
}

impl<T, F: FnOnce(T)> Drop for Rollback<T, F> {
    fn drop(&mut self) {
        if let Some((state, undo)) = self.armed.take() {
            undo(state);
        }
    }
}

/// A child entered in the tables but not (yet) running.
struct PartialClone {
    kernel: Arc<super::Kernel>,
    child: Arc<Task>,
    thread: bool,
    /// The CLONE_PIDFD descriptor installed in the parent's table.
    pidfd: Option<(Arc<crate::fs::FdTable>, i32, Arc<crate::fs::OpenFile>)>,
}

impl PartialClone {
    /// Takes the child out of the tables again, and closes its pidfd if
    /// the slot still holds it (another thread may have closed it and
    /// reused the number meanwhile).
    fn undo(self) {
        if let Some((files, fd, file)) = self.pidfd
            && files.get(fd as i64).is_ok_and(|f| Arc::ptr_eq(&f, &file))
        {
            let _ = files.remove(fd as i64);
        }
        let mut table = self.kernel.table.lock();
        table.tasks.remove(&self.child.tid);
        self.child
            .tg
            .threads
            .lock()
            .retain(|t| t.tid != self.child.tid);
        if !self.thread
            && let Some(p) = table.procs.remove(&self.child.tid)
            && let Some(pp) = table.procs.get_mut(&p.parent)
        {
            pp.children.remove(&self.child.tid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clone3(flags: u64, exit_signal: u64) -> CloneArgs {
        CloneArgs {
            flags,
            exit_signal,
            ..Default::default()
        }
    }

    #[test]
    fn rollback_undoes_unless_committed() {
        use std::cell::Cell;
        let undone = Cell::new(0);
        {
            let _g = Rollback::new(5, |v| undone.set(undone.get() + v));
        }
        assert_eq!(undone.get(), 5);
        let g = Rollback::new(7, |v| undone.set(undone.get() + v));
        assert_eq!(g.commit(), 7);
        assert_eq!(undone.get(), 5);
    }

    #[test]
    fn rollback_covers_early_returns_and_sees_recorded_state() {
        use std::cell::RefCell;
        let log = RefCell::new(Vec::new());
        let attempt = |fail_at: u32| -> Result<(), Errno> {
            let mut g = Rollback::new(Vec::new(), |steps: Vec<u32>| {
                log.borrow_mut().push(steps);
            });
            for step in 1..=3 {
                if step == fail_at {
                    return Err(Errno::EAGAIN);
                }
                g.state_mut().push(step);
            }
            (fail_at == 4).then_some(()).ok_or(Errno::EFAULT)?;
            g.commit();
            Ok(())
        };
        assert_eq!(attempt(2), Err(Errno::EAGAIN));
        assert_eq!(attempt(5), Err(Errno::EFAULT));
        assert_eq!(attempt(4), Ok(()));
        assert_eq!(*log.borrow(), vec![vec![1], vec![1, 2, 3]]);
    }

    #[test]
    fn legacy_clone_splits_the_exit_signal() {
        let a = CloneArgs::legacy(CLONE_VM | CLONE_VFORK | 17, 0x1000, 0x2000, 0x3000, 0x4000);
        assert_eq!(a.flags, CLONE_VM | CLONE_VFORK);
        assert_eq!(a.exit_signal, 17);
        assert_eq!(a.pidfd, 0x2000);
        assert_eq!(a.stack, 0x1000);
    }

    #[test]
    fn thread_needs_sighand_and_sighand_needs_vm() {
        let v = |f| CloneArgs::legacy(f, 0, 0, 0, 0).validate(Origin::Legacy, false);
        assert_eq!(v(CLONE_THREAD), Err(Errno::EINVAL));
        assert_eq!(v(CLONE_SIGHAND), Err(Errno::EINVAL));
        assert_eq!(v(CLONE_VM | CLONE_SIGHAND | CLONE_THREAD), Ok(()));
    }

    #[test]
    fn clone3_rejects_reserved_bits_and_signals() {
        let v = |a: CloneArgs| a.validate(Origin::Clone3, false);
        assert_eq!(v(clone3(1 << 40, 0)), Err(Errno::EINVAL));
        assert_eq!(v(clone3(CLONE_DETACHED, 0)), Err(Errno::EINVAL));
        assert_eq!(v(clone3(0x11, 0)), Err(Errno::EINVAL));
        assert_eq!(v(clone3(CLONE_NEWTIME, 17)), Ok(()));
        assert_eq!(
            v(clone3(CLONE_VM | CLONE_SIGHAND | CLONE_CLEAR_SIGHAND, 0)),
            Err(Errno::EINVAL)
        );
        assert_eq!(
            v(clone3(CLONE_VM | CLONE_SIGHAND | CLONE_THREAD, 17)),
            Err(Errno::EINVAL)
        );
        assert_eq!(v(clone3(CLONE_PARENT, 17)), Err(Errno::EINVAL));
        let mut a = clone3(0, 17);
        a.stack = 0x1000;
        assert_eq!(v(a.clone()), Err(Errno::EINVAL));
        a.stack_size = 0x1000;
        assert_eq!(v(a), Ok(()));
    }

    #[test]
    fn pidfd_and_parent_settid_may_not_alias() {
        let a = CloneArgs::legacy(CLONE_PIDFD | CLONE_PARENT_SETTID | 17, 0, 0x5000, 0, 0);
        assert_eq!(a.validate(Origin::Legacy, false), Err(Errno::EINVAL));
    }

    #[test]
    fn init_may_not_use_clone_parent() {
        let a = CloneArgs::legacy(CLONE_PARENT | 17, 0, 0, 0, 0);
        assert_eq!(a.validate(Origin::Legacy, true), Err(Errno::EINVAL));
        assert_eq!(a.validate(Origin::Legacy, false), Ok(()));
    }
}

//! Process life and death: thread and process exit, zombies, reparenting
//! to subreapers or init, exit signals, wait4/waitid, group stop and
//! continue, and sending signals to processes and process groups.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::exit::TaskState;
use super::signal::{self, DefaultAction, SigArg, SigInfo, SigSet, Signal, code, sa, sig};
use super::task::{Task, ThreadGroup, child_info};
use super::{ExitReport, Kernel, TaskTable};
use crate::errno::Errno;

/// Whether a signal sent now would be dropped at once, as Linux's
/// sig_ignored: its action is to ignore it and nothing blocks it, or the
/// target is the sandbox's init (SIGNAL_UNKILLABLE: init of a pid namespace
/// gets no signal from inside it whose action is the default, SIGKILL and
/// SIGSTOP included). The sentry's own SIGKILL/SIGSTOP (si_code SI_KERNEL,
/// Linux's SEND_SIG_PRIV, which guests cannot forge) still reach it.
pub fn ignored_at_generation(task: &Task, info: &SigInfo) -> bool {
    let Some(signo) = info.signal() else {
        return true;
    };
    let kernel_only = signo == Signal::SIGKILL || signo == Signal::SIGSTOP;
    if !kernel_only && task.sig.lock().blocked.has(signo) {
        return false;
    }
    let act = task.action(signo);
    if task.tg.is_unkillable()
        && act.handler == signal::SIG_DFL
        && !(kernel_only && info.code == code::SI_KERNEL)
    {
        return true;
    }
    if kernel_only {
        return false;
    }
    act.handler == signal::SIG_IGN
        || (act.handler == signal::SIG_DFL
            && signal::default_action(signo) == DefaultAction::Ignore)
}

/// SIGCONT resumes a stopped group and drops pending stop signals; a stop
/// signal drops a pending SIGCONT (Linux's prepare_signal).
pub fn stop_cont_side_effects(kernel: &Arc<Kernel>, tg: &Arc<ThreadGroup>, signo: Signal) {
    let stops = SigSet::of_all(&[
        Signal::SIGSTOP,
        Signal::SIGTSTP,
        Signal::SIGTTIN,
        Signal::SIGTTOU,
    ]);
    if signo == Signal::SIGKILL {
        // The group exit starts before the stop ends (Linux's
        // complete_signal sets SIGNAL_GROUP_EXIT before waking the stopped
        // threads): a thread that resumed first could otherwise run on and
        // exit normally, losing the kill.
        tg.start_exit(sig::SIGKILL);
    }
    if signo == Signal::SIGCONT || signo == Signal::SIGKILL {
        tg.shared_pending.lock().discard(stops);
        for t in tg.threads.lock().iter() {
            t.sig.lock().pending.discard(stops);
        }
        let was_stopped = std::mem::replace(&mut *tg.stopped.lock(), false);
        if was_stopped && signo == Signal::SIGCONT {
            let mut table = kernel.table.lock();
            if let Some(p) = table.procs.get_mut(&tg.tgid) {
                p.stop_report = None;
                p.cont_report = true;
            }
            notify_parent_state(&mut table, tg.tgid, code::CLD_CONTINUED, sig::SIGCONT);
        }
        tg.wake_all();
    } else if stops.has(signo) {
        tg.shared_pending
            .lock()
            .discard(SigSet::of(Signal::SIGCONT));
    }
}

/// Stops the whole group after a stop signal's default action.
pub fn group_stop(task: &Arc<Task>, signal: Signal) {
    let signo = signal.number();
    let tg = &task.tg;
    {
        let mut stopped = tg.stopped.lock();
        if *stopped {
            return;
        }
        *stopped = true;
    }
    let mut table = task.kernel.table.lock();
    if let Some(p) = table.procs.get_mut(&tg.tgid) {
        p.stop_report = Some(signo);
        p.cont_report = false;
    }
    notify_parent_state(&mut table, tg.tgid, code::CLD_STOPPED, signo);
    drop(table);
    tg.wake_all();
}

/// Tells the parent of `pid` about a stop or continue (SIGCHLD unless it
/// asked for SA_NOCLDSTOP) and wakes its waiters.
fn notify_parent_state(table: &mut TaskTable, pid: i32, cld: i32, status: i32) {
    let Some(parent) = table.procs.get(&pid).map(|p| p.parent) else {
        return;
    };
    let Some(pp) = table.procs.get(&parent) else {
        return;
    };
    let ptg = Arc::clone(&pp.tg);
    let uid = table.procs.get(&pid).map_or(0, |p| live_uid(&p.tg));
    if let Some(leader) = first_thread(&ptg) {
        let act = leader.action(Signal::SIGCHLD);
        if act.flags & sa::NOCLDSTOP == 0 {
            let info = SigInfo::child(Signal::SIGCHLD, cld, pid, status);
            send_to_group_locked(&ptg, with_uid(info, uid));
        }
    }
    ptg.child_events.notify_all();
}

fn first_thread(tg: &ThreadGroup) -> Option<Arc<Task>> {
    tg.threads.lock().first().cloned()
}

/// The real uid of a running process (its first thread's).
fn live_uid(tg: &ThreadGroup) -> u32 {
    first_thread(tg).map_or(0, |t| t.ident.creds().uid[super::creds::REAL])
}

/// A child notification with the child's uid as si_uid (do_notify_parent
/// and wait_task_* fill it in).
pub fn with_uid(mut info: SigInfo, uid: u32) -> SigInfo {
    info.data[0] = (info.data[0] & 0xffff_ffff) | (u64::from(uid) << 32);
    info
}

/// A thread of `tg` that is not on its way out (Linux's
/// find_alive_thread), else any thread of it.
fn live_thread(tg: &ThreadGroup) -> Option<Arc<Task>> {
    let threads = tg.threads.lock();
    threads
        .iter()
        .find(|t| t.state.get() == TaskState::Running)
        .or_else(|| threads.first())
        .cloned()
}

/// Queues a signal for a whole process and wakes a thread to take it.
pub fn send_to_group(kernel: &Arc<Kernel>, tg: &Arc<ThreadGroup>, info: SigInfo) {
    if tg.is_exiting() {
        return;
    }
    let Some(leader) = first_thread(tg) else {
        return;
    };
    if ignored_at_generation(&leader, &info) {
        return;
    }
    let Some(signal) = info.signal() else {
        return;
    };
    stop_cont_side_effects(kernel, tg, signal);
    send_to_group_locked(tg, info);
}

/// The queueing part of [`send_to_group`] (no stop/continue effects).
fn send_to_group_locked(tg: &Arc<ThreadGroup>, info: SigInfo) {
    if tg.is_exiting() {
        return;
    }
    if let Some(leader) = first_thread(tg)
        && ignored_at_generation(&leader, &info)
    {
        return;
    }
    tg.shared_pending.lock().push(info);
    if info.signo == sig::SIGKILL {
        tg.start_exit(sig::SIGKILL);
    }
    // Wake a thread that does not block it (all of them, simply; those
    // that block it are not kicked out of the guest).
    match info.signal() {
        Some(signal) => tg.wake_all_for(signal),
        None => tg.wake_all(),
    }
}

/// Ends one thread: clears its child tid, wakes a vfork parent, and when it
/// was the last thread of its process, turns the process into a zombie.
pub fn exit_thread(task: &Arc<Task>) {
    match task.state.try_advance(TaskState::Exiting) {
        Ok(_) => {}
        // Exiting again after a sentry panic during the first attempt: the
        // cleanup below is idempotent, so finish it.
        Err(TaskState::Exiting) => {}
        Err(cur) => {
            tracing::error!("task {} exits again in state {cur:?}", task.tid);
            debug_assert!(false, "task {} exits again in state {cur:?}", task.tid);
            return;
        }
    }
    let kernel = Arc::clone(&task.kernel);
    let robust = task.robust_list.swap(0, Ordering::Relaxed);
    if robust != 0
        && let Some(mm) = task.mm.lock().clone()
    {
        kernel.futex.exit_robust_list(&mm, task.tid, robust);
    }
    kernel.futex.exit_pi_state(task.tid);
    let ctid = task.clear_child_tid.swap(0, Ordering::Relaxed);
    if ctid != 0
        && let Some(mm) = task.mm.lock().clone()
        && mm.write_u32(ctid, 0).is_ok()
    {
        kernel.futex.wake_addr(&mm, ctid, 1);
    }
    if let Some(done) = task.vfork_done.lock().take() {
        done.complete();
    }
    let last = {
        let mut threads = task.tg.threads.lock();
        // Called on the task's own worker thread: its final CPU time.
        task.tg.times.thread_exited(task.sched.cpu.sample());
        threads.retain(|t| t.tid != task.tid);
        threads.is_empty()
    };
    let mut table = kernel.table.lock();
    table.tasks.remove(&task.tid);
    if !last {
        // This thread's children go to a live thread of the same process
        // (Linux's find_new_reaper tries the thread group first), and get
        // their parent-death signal: it follows the parent *thread*.
        let heir = live_thread(&task.tg).map_or(task.tgid(), |t| t.tid);
        let pdeath = adopt_thread_children(&mut table, task.tgid(), task.tid, heir);
        drop(table);
        release_resources(task);
        task.state.advance(TaskState::Dead);
        send_pdeath(pdeath, task);
        return;
    }
    let status = task
        .tg
        .exit_state()
        .status()
        .unwrap_or_else(|| super::task::exited_status(task.exit_code.load(Ordering::Relaxed)));
    if kernel.config.strace {
        if status & 0x7f == 0 {
            crate::log::stderr_line(format_args!(
                "[pid {}] +++ exited with {} +++",
                task.tgid(),
                (status >> 8) & 0xff
            ));
        } else {
            crate::log::stderr_line(format_args!(
                "[pid {}] +++ killed by {} +++",
                task.tgid(),
                signal::name(status & 0x7f)
            ));
        }
    }
    drop(table);
    // SEM_UNDO adjustments apply before the parent can see the exit.
    kernel.ipc.sem.exit(task.tgid());
    // Close files and free memory before telling the parent, so a parent
    // that reaps us sees pipes at EOF.
    release_resources(task);
    task.state.advance(TaskState::Dead);
    let mut table = kernel.table.lock();
    if let Some(p) = table.procs.get_mut(&task.tgid()) {
        p.exit_uid = task.ident.creds().uid[super::creds::REAL];
    }
    let pdeath = process_exit(&kernel, &mut table, task.tgid(), status);
    drop(table);
    super::tty::process_exited(&kernel, task.tgid());
    // Parent-death signals go out once the tree lock is released (sending
    // SIGCONT takes it again).
    send_pdeath(pdeath, task);
}

/// Threads to send their PR_SET_PDEATHSIG signal to.
type PdeathSignals = Vec<(Arc<Task>, i32)>;

/// Sends parent-death signals as Linux's forget_original_parent does:
/// group_send_sig_info with SEND_SIG_NOINFO, so SI_USER from the dying
/// parent thread `dying` (its tgid and real uid), to the child's process.
fn send_pdeath(pdeath: PdeathSignals, dying: &Task) {
    let uid = dying.ident.creds().uid[super::creds::REAL];
    for (t, s) in pdeath {
        if let Some(s) = Signal::new(s) {
            send_to_group(
                &t.kernel,
                &t.tg,
                SigInfo::from_process(s, code::SI_USER, dying.tgid(), uid),
            );
        }
    }
}

/// The children of thread `tid` of process `pid` get `heir`, another
/// thread of the same process, as their parent thread. Returns their
/// parent-death signals.
fn adopt_thread_children(table: &mut TaskTable, pid: i32, tid: i32, heir: i32) -> PdeathSignals {
    let Some(p) = table.procs.get(&pid) else {
        return Vec::new();
    };
    let children: Vec<i32> = p.children.iter().copied().collect();
    let mut signals = Vec::new();
    for c in children {
        if let Some(cp) = table.procs.get_mut(&c)
            && cp.parent_tid == tid
        {
            cp.parent_tid = heir;
            signals.extend(pdeath_signals(&cp.tg));
        }
    }
    signals
}

/// The PR_SET_PDEATHSIG signals of `tg`'s threads.
fn pdeath_signals(tg: &ThreadGroup) -> PdeathSignals {
    tg.threads
        .lock()
        .iter()
        .filter_map(|t| {
            let s = t.pdeath_signal.load(Ordering::Relaxed);
            (s != 0).then(|| (Arc::clone(t), s))
        })
        .collect()
}

/// execve from a non-leader thread: the thread now has the leader's tid,
/// so the children it forked name that tid as their parent thread.
pub fn rename_parent_thread(table: &mut TaskTable, pid: i32, old_tid: i32, new_tid: i32) {
    let Some(p) = table.procs.get(&pid) else {
        return;
    };
    let children: Vec<i32> = p.children.iter().copied().collect();
    for c in children {
        if let Some(cp) = table.procs.get_mut(&c)
            && cp.parent_tid == old_tid
        {
            cp.parent_tid = new_tid;
        }
    }
}

fn release_resources(task: &Task) {
    let files = std::mem::replace(&mut *task.files.lock(), crate::fs::FdTable::new());
    drop(files);
    let mm = task.mm.lock().take();
    if let (Some(mm), Some(r)) = (&mm, task.runner.lock().take()) {
        mm.detach(&r);
    }
    drop(mm);
}

fn process_exit(
    kernel: &Arc<Kernel>,
    table: &mut TaskTable,
    pid: i32,
    status: i32,
) -> PdeathSignals {
    let Some(p) = table.procs.get_mut(&pid) else {
        return Vec::new();
    };
    let status = p.tg.become_zombie(status);
    let children: Vec<i32> = p.children.iter().copied().collect();
    // pidfds of this process become readable.
    kernel.readiness.notify_all();
    let parent = p.parent;
    if pid == 1 {
        // Init is gone: the sandbox ends and everything else is killed.
        for other in table.procs.values() {
            if other.tg.tgid != 1 {
                other.tg.start_exit(sig::SIGKILL);
            }
        }
        kernel.finish(ExitReport::from_status(status));
        return Vec::new();
    }
    let pdeath = reparent_children(kernel, table, pid, &children);
    notify_parent_exit(kernel, table, pid, parent, status);
    pdeath
}

/// Moves the children of a dying process to the nearest living subreaper
/// ancestor, or to init.
fn reparent_children(
    kernel: &Kernel,
    table: &mut TaskTable,
    dying: i32,
    children: &[i32],
) -> PdeathSignals {
    let mut signals = Vec::new();
    if children.is_empty() {
        return signals;
    }
    let mut reaper = 1;
    let mut at = table.procs.get(&dying).map_or(0, |p| p.parent);
    while at != 0 {
        let Some(p) = table.procs.get(&at) else { break };
        if p.subreaper && p.tg.zombie_status().is_none() {
            reaper = at;
            break;
        }
        at = p.parent;
    }
    // The reaper's parent thread: a live one (find_alive_thread).
    let reaper_tid = table
        .procs
        .get(&reaper)
        .and_then(|p| live_thread(&p.tg))
        .map_or(reaper, |t| t.tid);
    for &c in children {
        let (zombie, pdeath) = {
            let Some(cp) = table.procs.get_mut(&c) else {
                continue;
            };
            cp.parent = reaper;
            cp.parent_tid = reaper_tid;
            cp.exit_signal = sig::SIGCHLD;
            (cp.tg.zombie_status(), pdeath_signals(&cp.tg))
        };
        if let Some(p) = table.procs.get_mut(&dying) {
            p.children.remove(&c);
        }
        if let Some(r) = table.procs.get_mut(&reaper) {
            r.children.insert(c);
        }
        signals.extend(pdeath);
        if let Some(st) = zombie {
            notify_parent_exit(kernel, table, c, reaper, st);
        }
    }
    signals
}

/// Sends the exit signal to the parent, or reaps the child at once if the
/// parent ignores SIGCHLD (SIG_IGN or SA_NOCLDWAIT).
fn notify_parent_exit(kernel: &Kernel, table: &mut TaskTable, pid: i32, parent: i32, status: i32) {
    let (exit_signal, uid) = table
        .procs
        .get(&pid)
        .map_or((0, 0), |p| (p.exit_signal, p.exit_uid));
    let Some(pp) = table.procs.get(&parent) else {
        return;
    };
    let ptg = Arc::clone(&pp.tg);
    let mut autoreap = false;
    if let Some(leader) = first_thread(&ptg) {
        // As Linux's do_notify_parent: a parent that ignores SIGCHLD or set
        // SA_NOCLDWAIT does not keep the zombie; SIG_IGN also drops the signal.
        let act = leader.action(Signal::SIGCHLD);
        let mut signo = exit_signal;
        if signo == sig::SIGCHLD
            && (act.handler == signal::SIG_IGN || act.flags & sa::NOCLDWAIT != 0)
        {
            autoreap = true;
            if act.handler == signal::SIG_IGN {
                signo = 0;
            }
        }
        if let Some(s) = Signal::new(signo) {
            send_to_group_locked(&ptg, with_uid(child_info(s, pid, status), uid));
        }
    }
    if autoreap {
        reap(kernel, table, pid);
    }
    ptg.child_events.notify_all();
}

/// Reaps `pid` if it is a zombie without a parent in the sandbox (a
/// process an OCI `exec` started, whose status went to the host); true if
/// it was.
pub fn reap_parentless(kernel: &Kernel, pid: i32) -> bool {
    let mut table = kernel.table.lock();
    let orphan_zombie = table
        .procs
        .get(&pid)
        .is_some_and(|p| p.parent == 0 && p.tg.zombie_status().is_some());
    if orphan_zombie {
        reap(kernel, &mut table, pid);
    }
    orphan_zombie
}

fn reap(kernel: &Kernel, table: &mut TaskTable, pid: i32) {
    // pidfds of this process hang up.
    kernel.readiness.notify_all();
    let Some(p) = table.procs.remove(&pid) else {
        return;
    };
    p.tg.reaped();
    if let Some(pp) = table.procs.get_mut(&p.parent) {
        pp.children.remove(&pid);
    }
}

/// Which children a wait call selects.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WaitTarget {
    /// Any child.
    Any,
    /// One pid.
    Pid(i32),
    /// A process group.
    Pgid(i32),
}

pub use crate::abi::process::WaitOptions;

/// What a wait found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WaitResult {
    /// The child.
    pub pid: i32,
    /// wait4 status word.
    pub status: i32,
    /// waitid si_code.
    pub code: i32,
    /// waitid si_status.
    pub si_status: i32,
    /// waitid si_uid: the child's real uid.
    pub uid: u32,
    /// The child's CPU time and its waited-for children's (the rusage
    /// that wait4 and waitid report, Linux's RUSAGE_BOTH).
    pub times: super::sched::Times,
}

/// A process's CPU time with its waited-for children's: its exited
/// threads', its live threads' as of their last sample, its children's.
fn group_times(tg: &super::ThreadGroup) -> super::sched::Times {
    let live = tg
        .threads
        .lock()
        .iter()
        .fold(Default::default(), |acc, t| acc + t.sched.cpu.last());
    tg.times.dead() + tg.times.children() + live
}

/// The common core of wait4 and waitid. `Ok(None)` is WNOHANG with
/// nothing ready.
pub fn wait_child(
    task: &Arc<Task>,
    target: WaitTarget,
    options: WaitOptions,
) -> Result<Option<WaitResult>, Errno> {
    let kernel = &task.kernel;
    loop {
        let guard = task.tg.child_events.prepare(&**task);
        {
            let mut table = kernel.table.lock();
            let me = task.tgid();
            let Some(mine) = table.procs.get(&me) else {
                return Err(Errno::ECHILD);
            };
            let my_pgid = mine.pgid;
            let mut any = false;
            let children: Vec<i32> = mine.children.iter().copied().collect();
            for c in children {
                let Some(cp) = table.procs.get_mut(&c) else {
                    continue;
                };
                let selected = match target {
                    WaitTarget::Any => true,
                    WaitTarget::Pid(p) => p == c,
                    WaitTarget::Pgid(0) => cp.pgid == my_pgid,
                    WaitTarget::Pgid(g) => cp.pgid == g,
                };
                // A "clone" child reports with a signal other than SIGCHLD.
                let is_clone = cp.exit_signal != sig::SIGCHLD;
                let kind_ok = options.contains(WaitOptions::ALL)
                    || (is_clone == options.contains(WaitOptions::CLONE));
                // __WNOTHREAD: only children of this thread (Linux's
                // do_wait skips the other threads' lists).
                let thread_ok =
                    !options.contains(WaitOptions::NOTHREAD) || cp.parent_tid == task.tid;
                if !selected || !kind_ok || !thread_ok {
                    continue;
                }
                any = true;
                if let Some(status) = cp.tg.zombie_status()
                    && options.contains(WaitOptions::EXITED)
                {
                    let r = WaitResult {
                        uid: cp.exit_uid,
                        times: group_times(&cp.tg),
                        ..result_for(c, status)
                    };
                    if !options.contains(WaitOptions::NOWAIT) {
                        task.tg.times.child_reaped(&cp.tg.times);
                        reap(kernel, &mut table, c);
                    }
                    return Ok(Some(r));
                }
                if let Some(s) = cp.stop_report
                    && options.contains(WaitOptions::STOPPED)
                {
                    if !options.contains(WaitOptions::NOWAIT) {
                        cp.stop_report = None;
                    }
                    return Ok(Some(WaitResult {
                        pid: c,
                        status: (s << 8) | 0x7f,
                        code: code::CLD_STOPPED,
                        si_status: s,
                        uid: live_uid(&cp.tg),
                        times: group_times(&cp.tg),
                    }));
                }
                if cp.cont_report && options.contains(WaitOptions::CONTINUED) {
                    if !options.contains(WaitOptions::NOWAIT) {
                        cp.cont_report = false;
                    }
                    return Ok(Some(WaitResult {
                        pid: c,
                        status: 0xffff,
                        code: code::CLD_CONTINUED,
                        si_status: sig::SIGCONT,
                        uid: live_uid(&cp.tg),
                        times: group_times(&cp.tg),
                    }));
                }
            }
            if !any {
                return Err(Errno::ECHILD);
            }
        }
        if options.contains(WaitOptions::NOHANG) {
            return Ok(None);
        }
        guard.sleep(None)?;
    }
}

fn result_for(pid: i32, status: i32) -> WaitResult {
    let (code, si_status) = if status & 0x7f == 0 {
        (code::CLD_EXITED, (status >> 8) & 0xff)
    } else {
        (code::CLD_KILLED, status & 0x7f)
    };
    WaitResult {
        pid,
        status,
        code,
        si_status,
        uid: 0,
        times: Default::default(),
    }
}

/// kill(2)'s targets resolved to processes.
pub fn kill(task: &Arc<Task>, pid: i32, signo: SigArg) -> Result<(), Errno> {
    kill_targets(task, pid, None, signo, None)
}

/// Sends `signo` to every process of group `pgid` (kill_pgrp_info: also
/// group 1, which kill(-1, ...) cannot name), with `info` or, without
/// one, kill's SI_USER siginfo.
pub fn kill_pgrp(
    task: &Arc<Task>,
    pgid: i32,
    signo: SigArg,
    info: Option<SigInfo>,
) -> Result<(), Errno> {
    kill_targets(task, 0, Some(pgid), signo, info)
}

/// `signo` is checked once a target exists (ESRCH before EINVAL, as
/// Linux's check_kill_permission runs per target).
fn kill_targets(
    task: &Arc<Task>,
    pid: i32,
    pgrp: Option<i32>,
    signo: SigArg,
    info: Option<SigInfo>,
) -> Result<(), Errno> {
    let kernel = &task.kernel;
    let me = task.tgid();
    let targets: Vec<Arc<ThreadGroup>> = {
        let table = kernel.table.lock();
        let my_pgid = pgrp.unwrap_or_else(|| table.procs.get(&me).map_or(0, |p| p.pgid));
        match pid {
            p if p > 0 => {
                match table.procs.get(&p) {
                    Some(x) => vec![Arc::clone(&x.tg)],
                    None => match table.tasks.get(&p) {
                        // kill() with a thread id reaches its process.
                        Some(t) => vec![Arc::clone(&t.tg)],
                        None => return Err(Errno::ESRCH),
                    },
                }
            }
            0 => table
                .procs
                .values()
                .filter(|p| p.pgid == my_pgid)
                .map(|p| Arc::clone(&p.tg))
                .collect(),
            -1 => table
                .procs
                .values()
                .filter(|p| p.tg.tgid != 1 && p.tg.tgid != me)
                .map(|p| Arc::clone(&p.tg))
                .collect(),
            p => {
                // Linux's kill_something_info: -INT_MIN names no group.
                let g = p.checked_neg().ok_or(Errno::ESRCH)?;
                table
                    .procs
                    .values()
                    .filter(|x| x.pgid == g)
                    .map(|x| Arc::clone(&x.tg))
                    .collect()
            }
        }
    };
    if targets.is_empty() {
        return Err(Errno::ESRCH);
    }
    let Some(sig) = signo.to_send()? else {
        return Ok(());
    };
    let uid = task.ident.creds().uid[super::creds::REAL];
    let info = info.unwrap_or_else(|| SigInfo::from_process(sig, code::SI_USER, me, uid));
    for tg in targets {
        send_to_group(kernel, &tg, info);
    }
    Ok(())
}

/// Whether `task`'s group should stop sleeping because of a kill.
pub fn killed(task: &Task) -> bool {
    task.tg.is_exiting()
}

//! Signal syscalls: rt_sigaction, rt_sigprocmask, rt_sigpending,
//! rt_sigsuspend, sigaltstack, rt_sigreturn, kill, tkill, tgkill,
//! rt_sigqueueinfo, rt_tgsigqueueinfo, pause.
//!
//! Arguments arrive typed (decoded once, in the syscall table): signal
//! numbers as [`SigArg`] (validated into a [`Signal`] where Linux does),
//! pids as [`Pid`], guest structs as [`UserPtr`].

use std::sync::Arc;

use crate::abi::signal::StackT;
use crate::abi::{Pid, UserPtr, UserSlice};
use crate::errno::Errno;
use crate::kernel::process;
use crate::kernel::signal::{self, SigAction, SigArg, SigInfo, SigSet, Signal, code};
use crate::kernel::task::{ERESTARTNOHAND, SysResult, Task, TaskCtx};
use crate::kernel::wait::Waiter;

/// The size of `sigset_t` that every signal call insists on.
const SIGSET_SIZE: u64 = 8;

/// rt_sigaction(sig, act, oact, sigsetsize).
pub fn rt_sigaction(
    t: &mut TaskCtx,
    signo: SigArg,
    act: Option<UserPtr<SigAction>>,
    oact: Option<UserPtr<SigAction>>,
    size: u64,
) -> SysResult {
    if size != SIGSET_SIZE {
        return Err(Errno::EINVAL.into());
    }
    // As Linux: the new action is copied in (EFAULT) before do_sigaction
    // checks the signal (EINVAL).
    let new = match act {
        Some(act) => Some(act.read(&t.mm())?),
        None => None,
    };
    let s = signo.signal()?;
    let new = match new {
        Some(_) if s == Signal::SIGKILL || s == Signal::SIGSTOP => {
            return Err(Errno::EINVAL.into());
        }
        Some(mut a) => {
            a.mask = a.mask.unblockable_removed();
            Some(a)
        }
        None => None,
    };
    let old = {
        let handlers = t.task.tg.handlers();
        let mut h = handlers.lock();
        let old = h[s];
        if let Some(a) = new {
            h[s] = a;
        }
        old
    };
    if let Some(a) = new {
        // Setting a pending signal to be ignored discards it (POSIX).
        let ignored = a.handler == signal::SIG_IGN
            || (a.handler == signal::SIG_DFL
                && signal::default_action(s) == signal::DefaultAction::Ignore);
        if ignored {
            t.task.tg.shared_pending.lock().discard(SigSet::of(s));
            for th in t.task.tg.threads.lock().iter() {
                th.sig.lock().pending.discard(SigSet::of(s));
            }
        }
    }
    if let Some(oact) = oact {
        oact.write(&t.mm(), &old)?;
    }
    Ok(0)
}

/// rt_sigprocmask(how, set, oldset, sigsetsize): `how` is an `int`.
pub fn rt_sigprocmask(
    t: &mut TaskCtx,
    how: i32,
    set: Option<UserPtr<SigSet>>,
    oldset: Option<UserPtr<SigSet>>,
    size: u64,
) -> SysResult {
    const SIG_BLOCK: i32 = 0;
    const SIG_UNBLOCK: i32 = 1;
    const SIG_SETMASK: i32 = 2;
    if size != SIGSET_SIZE {
        return Err(Errno::EINVAL.into());
    }
    let new = if let Some(set) = set {
        // Copied in (EFAULT) before `how` is checked (EINVAL), as Linux.
        let n = set.read(&t.mm())?;
        if !matches!(how, SIG_BLOCK | SIG_UNBLOCK | SIG_SETMASK) {
            return Err(Errno::EINVAL.into());
        }
        Some(n)
    } else {
        None
    };
    let old = {
        let mut s = t.task.sig.lock();
        let old = s.blocked;
        if let Some(n) = new {
            s.blocked = match how {
                SIG_BLOCK => SigSet(old.0 | n.0),
                SIG_UNBLOCK => SigSet(old.0 & !n.0),
                _ => n,
            }
            .unblockable_removed();
        }
        old
    };
    if let Some(oldset) = oldset {
        oldset.write(&t.mm(), &old)?;
    }
    Ok(0)
}

/// rt_sigpending(set, sigsetsize): the first `sigsetsize` bytes (at
/// most 8) of the pending set.
pub fn rt_sigpending(t: &mut TaskCtx, set: UserSlice) -> SysResult {
    if set.len() as u64 > SIGSET_SIZE {
        return Err(Errno::EINVAL.into());
    }
    let shared = t.task.tg.shared_pending.lock().set();
    let s = t.task.sig.lock();
    let pending = (s.pending.set().0 | shared.0) & s.blocked.0;
    drop(s);
    set.write(&t.mm(), &pending.to_le_bytes()[..set.len()])?;
    Ok(0)
}

fn sleep_for_signal(task: &Arc<Task>) -> SysResult {
    let w: &Arc<Waiter> = &task.waiter;
    loop {
        // A zap (another thread's execve) ends the sleep too.
        if task.tg.is_exiting() || task.is_zapped() || task.signal_pending() {
            return Err(ERESTARTNOHAND.into());
        }
        w.wait(None);
    }
}

/// rt_sigsuspend(mask, sigsetsize).
pub fn rt_sigsuspend(t: &mut TaskCtx, mask: UserPtr<SigSet>, size: u64) -> SysResult {
    if size != SIGSET_SIZE {
        return Err(Errno::EINVAL.into());
    }
    let m = mask.read(&t.mm())?.unblockable_removed();
    {
        let mut s = t.task.sig.lock();
        s.saved_mask = Some(s.blocked);
        s.blocked = m;
    }
    sleep_for_signal(&t.task)
}

/// pause().
pub fn pause(t: &mut TaskCtx) -> SysResult {
    sleep_for_signal(&t.task)
}

/// sigaltstack(ss, old_ss).
pub fn sigaltstack(
    t: &mut TaskCtx,
    ss: Option<UserPtr<StackT>>,
    old: Option<UserPtr<StackT>>,
) -> SysResult {
    let rsp = t.ctx.regs.rsp;
    let cur = t.task.sig.lock().alt;
    let on = cur.on_stack(rsp);
    if let Some(old) = old {
        // sas_ss_flags(sp) | the SS_AUTODISARM bit.
        let flags = if cur.size == 0 {
            signal::SS_DISABLE
        } else if on {
            signal::SS_ONSTACK
        } else {
            0
        } | (cur.flags & signal::SS_AUTODISARM);
        let st = StackT {
            sp: cur.sp,
            flags,
            size: cur.size,
        };
        old.write(&t.mm(), &st)?;
    }
    if let Some(ss) = ss {
        let new = ss.read(&t.mm())?;
        if on {
            return Err(Errno::EPERM.into());
        }
        t.task.sig.lock().alt = signal::altstack_from(new.sp, new.flags, new.size)?;
    }
    Ok(0)
}

/// kill(pid, sig).
pub fn kill(t: &mut TaskCtx, pid: Pid, signo: SigArg) -> SysResult {
    process::kill(&t.task, pid.get(), signo)?;
    Ok(0)
}

/// Linux's do_send_specific: the thread `tid` (of group `tgid`, for
/// tgkill and rt_tgsigqueueinfo) gets `info(signal)`. The signal number
/// is checked once the thread is found: ESRCH comes before EINVAL.
fn thread_kill(
    t: &mut TaskCtx,
    tgid: Option<Pid>,
    tid: Pid,
    signo: SigArg,
    info: impl FnOnce(Signal) -> SigInfo,
) -> SysResult {
    if tid.get() <= 0 || tgid.is_some_and(|g| g.get() <= 0) {
        return Err(Errno::EINVAL.into());
    }
    let target = t
        .task
        .kernel
        .table
        .lock()
        .tasks
        .get(&tid.get())
        .cloned()
        .ok_or(Errno::ESRCH)?;
    if tgid.is_some_and(|g| g.get() != target.tgid()) {
        return Err(Errno::ESRCH.into());
    }
    if let Some(s) = signo.to_send()? {
        target.send_signal(info(s));
    }
    Ok(0)
}

/// tkill and tgkill's siginfo: SI_TKILL from the calling process.
fn tkill_info(t: &TaskCtx) -> impl FnOnce(Signal) -> SigInfo + use<> {
    let me = t.task.tgid();
    let uid = t.task.ident.creds().uid[crate::kernel::creds::REAL];
    move |s| SigInfo::from_process(s, code::SI_TKILL, me, uid)
}

/// tkill(tid, sig).
pub fn tkill(t: &mut TaskCtx, tid: Pid, signo: SigArg) -> SysResult {
    let info = tkill_info(t);
    thread_kill(t, None, tid, signo, info)
}

/// tgkill(tgid, tid, sig).
pub fn tgkill(t: &mut TaskCtx, tgid: Pid, tid: Pid, signo: SigArg) -> SysResult {
    let info = tkill_info(t);
    thread_kill(t, Some(tgid), tid, signo, info)
}

/// The siginfo of rt_[tg]sigqueueinfo, for `target` (the pid or tid
/// argument): copied in (EFAULT), then the one forged-siginfo rule
/// ([`SigInfo::check_forged`]: EPERM), then it carries the call's signal.
fn queued_info(
    t: &TaskCtx,
    target: Pid,
    uinfo: UserPtr<SigInfo>,
) -> Result<impl FnOnce(Signal) -> SigInfo + use<>, Errno> {
    let mut info = uinfo.read(&t.mm())?;
    info.check_forged(t.task.tid, Some(target.get()))?;
    Ok(move |s: Signal| {
        info.signo = s.number();
        info
    })
}

/// rt_sigqueueinfo(tgid, sig, info).
pub fn rt_sigqueueinfo(
    t: &mut TaskCtx,
    tgid: Pid,
    signo: SigArg,
    uinfo: UserPtr<SigInfo>,
) -> SysResult {
    let info = queued_info(t, tgid, uinfo)?;
    let tg = {
        let table = t.task.kernel.table.lock();
        table
            .procs
            .get(&tgid.get())
            .map(|p| Arc::clone(&p.tg))
            .ok_or(Errno::ESRCH)?
    };
    if let Some(s) = signo.to_send()? {
        process::send_to_group(&t.task.kernel, &tg, info(s));
    }
    Ok(0)
}

/// rt_tgsigqueueinfo(tgid, tid, sig, info).
pub fn rt_tgsigqueueinfo(
    t: &mut TaskCtx,
    tgid: Pid,
    tid: Pid,
    signo: SigArg,
    uinfo: UserPtr<SigInfo>,
) -> SysResult {
    if tid.get() <= 0 || tgid.get() <= 0 {
        // Before the copy's EPERM check, as Linux's do_rt_tgsigqueueinfo;
        // the copy itself (EFAULT) comes first.
        uinfo.read(&t.mm())?;
        return Err(Errno::EINVAL.into());
    }
    let info = queued_info(t, tid, uinfo)?;
    thread_kill(t, Some(tgid), tid, signo, info)
}

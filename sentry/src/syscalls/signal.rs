//! Signal syscalls: rt_sigaction, rt_sigprocmask, rt_sigpending,
//! rt_sigsuspend, sigaltstack, rt_sigreturn, kill, tkill, tgkill,
//! rt_sigqueueinfo, rt_tgsigqueueinfo, pause.

use std::sync::Arc;

use crate::abi::UserPtr;
use crate::errno::Errno;
use crate::kernel::process;
use crate::kernel::signal::{self, SigAction, SigInfo, SigSet, Signal, code, sig};
use crate::kernel::task::{ERESTARTNOHAND, SysResult, Task, TaskCtx};
use crate::kernel::wait::Waiter;

/// rt_sigaction(sig, act, oact, sigsetsize).
pub fn rt_sigaction(t: &mut TaskCtx, signo: u64, act: u64, oact: u64, size: u64) -> SysResult {
    if size != 8 {
        return Err(Errno::EINVAL.into());
    }
    let signal = Signal::from_arg(signo)?;
    let s = signal.number();
    let new = if act != 0 {
        if s == sig::SIGKILL || s == sig::SIGSTOP {
            return Err(Errno::EINVAL.into());
        }
        let mut a = UserPtr::<SigAction>::new(act).read(&t.mm())?;
        a.mask = a.mask.unblockable_removed();
        Some(a)
    } else {
        None
    };
    let old = {
        let handlers = t.task.tg.handlers();
        let mut h = handlers.lock();
        let old = h[signal.index()];
        if let Some(a) = new {
            h[signal.index()] = a;
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
    if oact != 0 {
        UserPtr::<SigAction>::new(oact).write(&t.mm(), &old)?;
    }
    Ok(0)
}

/// rt_sigprocmask(how, set, oldset, sigsetsize).
pub fn rt_sigprocmask(t: &mut TaskCtx, how: u64, set: u64, oldset: u64, size: u64) -> SysResult {
    if size != 8 {
        return Err(Errno::EINVAL.into());
    }
    let new = if set != 0 {
        if how > 2 {
            return Err(Errno::EINVAL.into());
        }
        Some(SigSet(t.mm().read_u64(set)?))
    } else {
        None
    };
    let old = {
        let mut s = t.task.sig.lock();
        let old = s.blocked;
        if let Some(n) = new {
            s.blocked = match how {
                0 => SigSet(old.0 | n.0),
                1 => SigSet(old.0 & !n.0),
                _ => n,
            }
            .unblockable_removed();
        }
        old
    };
    if oldset != 0 {
        t.mm().write_u64(oldset, old.0)?;
    }
    Ok(0)
}

/// rt_sigpending(set, sigsetsize).
pub fn rt_sigpending(t: &mut TaskCtx, set: u64, size: u64) -> SysResult {
    if size > 8 {
        return Err(Errno::EINVAL.into());
    }
    let shared = t.task.tg.shared_pending.lock().set();
    let s = t.task.sig.lock();
    let pending = (s.pending.set().0 | shared.0) & s.blocked.0;
    drop(s);
    t.mm().write(set, &pending.to_le_bytes()[..size as usize])?;
    Ok(0)
}

fn sleep_for_signal(task: &Arc<Task>) -> SysResult {
    let w: &Arc<Waiter> = &task.waiter;
    loop {
        if task.tg.is_exiting() || task.signal_pending() {
            return Err(ERESTARTNOHAND.into());
        }
        w.wait(None);
    }
}

/// rt_sigsuspend(mask, sigsetsize).
pub fn rt_sigsuspend(t: &mut TaskCtx, mask: u64, size: u64) -> SysResult {
    if size != 8 {
        return Err(Errno::EINVAL.into());
    }
    let m = SigSet(t.mm().read_u64(mask)?).unblockable_removed();
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
pub fn sigaltstack(t: &mut TaskCtx, ss: u64, old: u64) -> SysResult {
    let rsp = t.ctx.regs.rsp;
    let cur = t.task.sig.lock().alt;
    let on = cur.on_stack(rsp);
    if old != 0 {
        let mut b = [0u8; 24];
        b[..8].copy_from_slice(&cur.sp.to_le_bytes());
        // sas_ss_flags(sp) | the SS_AUTODISARM bit.
        let flags = if cur.size == 0 {
            signal::SS_DISABLE
        } else if on {
            signal::SS_ONSTACK
        } else {
            0
        } | (cur.flags & signal::SS_AUTODISARM);
        b[8..12].copy_from_slice(&flags.to_le_bytes());
        b[16..].copy_from_slice(&cur.size.to_le_bytes());
        t.mm().write(old, &b)?;
    }
    if ss != 0 {
        let mut b = [0u8; 24];
        t.mm().read(ss, &mut b)?;
        let sp = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
        let flags = i32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
        let size = u64::from_le_bytes(b[16..].try_into().expect("8 bytes"));
        if on {
            return Err(Errno::EPERM.into());
        }
        t.task.sig.lock().alt = signal::altstack_from(sp, flags, size)?;
    }
    Ok(0)
}

/// kill(pid, sig).
pub fn kill(t: &mut TaskCtx, pid: u64, signo: u64) -> SysResult {
    let s = Signal::arg(signo);
    let pid = pid as i32 as i64;
    if pid == i32::MIN as i64 {
        return Err(Errno::ESRCH.into());
    }
    process::kill(&t.task, pid, s)?;
    Ok(0)
}

fn thread_kill(t: &mut TaskCtx, tgid: Option<i32>, tid: i32, info: SigInfo) -> SysResult {
    if tid <= 0 || tgid.is_some_and(|g| g <= 0) {
        return Err(Errno::EINVAL.into());
    }
    let target = t
        .task
        .kernel
        .table
        .lock()
        .tasks
        .get(&tid)
        .cloned()
        .ok_or(Errno::ESRCH)?;
    if tgid.is_some_and(|g| g != target.tgid()) {
        return Err(Errno::ESRCH.into());
    }
    // Checked once the target is found: ESRCH comes before EINVAL.
    if Signal::to_send(info.signo)?.is_some() {
        target.send_signal(info);
    }
    Ok(0)
}

/// tkill(tid, sig).
pub fn tkill(t: &mut TaskCtx, tid: u64, signo: u64) -> SysResult {
    let me = t.task.tgid();
    let info = SigInfo::from_process(Signal::arg(signo), code::SI_TKILL, me, 0);
    thread_kill(t, None, tid as i32, info)
}

/// tgkill(tgid, tid, sig).
pub fn tgkill(t: &mut TaskCtx, tgid: u64, tid: u64, signo: u64) -> SysResult {
    let me = t.task.tgid();
    let info = SigInfo::from_process(Signal::arg(signo), code::SI_TKILL, me, 0);
    thread_kill(t, Some(tgid as i32), tid as i32, info)
}

/// The siginfo of rt_[tg]sigqueueinfo, sent to `target` (the pid, or the
/// tid): a thread may not pretend to be the kernel or kill/tkill
/// (`si_code >= 0` or SI_TKILL) except towards itself (Linux compares
/// the caller's tid with the pid or tid argument).
fn read_info(t: &TaskCtx, target: i32, signo: u64, uinfo: u64) -> Result<SigInfo, Errno> {
    let mut info = UserPtr::<SigInfo>::new(uinfo).read(&t.mm())?;
    info.check_forged(t.task.tid == target)?;
    info.signo = Signal::arg(signo);
    Ok(info)
}

/// rt_sigqueueinfo(tgid, sig, info).
pub fn rt_sigqueueinfo(t: &mut TaskCtx, tgid: u64, signo: u64, uinfo: u64) -> SysResult {
    let info = read_info(t, tgid as i32, signo, uinfo)?;
    let tg = {
        let table = t.task.kernel.table.lock();
        table
            .procs
            .get(&(tgid as i32))
            .map(|p| Arc::clone(&p.tg))
            .ok_or(Errno::ESRCH)?
    };
    if Signal::to_send(info.signo)?.is_some() {
        process::send_to_group(&t.task.kernel, &tg, info);
    }
    Ok(0)
}

/// rt_tgsigqueueinfo(tgid, tid, sig, info).
pub fn rt_tgsigqueueinfo(
    t: &mut TaskCtx,
    tgid: u64,
    tid: u64,
    signo: u64,
    uinfo: u64,
) -> SysResult {
    if tid as i32 <= 0 || tgid as i32 <= 0 {
        // Before the copy's EPERM check, as Linux's do_rt_tgsigqueueinfo.
        t.mm().read(uinfo, &mut [0u8; 128])?;
        return Err(Errno::EINVAL.into());
    }
    let info = read_info(t, tid as i32, signo, uinfo)?;
    thread_kill(t, Some(tgid as i32), tid as i32, info)
}

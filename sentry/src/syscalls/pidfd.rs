//! pidfd_open, pidfd_send_signal, pidfd_getfd, and the pidfd helpers used
//! by clone (CLONE_PIDFD) and waitid (P_PIDFD).

use std::sync::Arc;

use crate::abi::{Fd, Pid, UserPtr};
use crate::errno::Errno;
use crate::fs::pidfd::{PIDFD_THREAD, PidState, install};
use crate::fs::{O_NONBLOCK, OpenFile};
use crate::kernel::process;
use crate::kernel::signal::{SigArg, SigInfo, Signal, code};
use crate::kernel::task::{SysResult, TaskCtx};

/// The open pidfd behind descriptor `fd` (EBADF for anything else).
pub fn lookup(t: &TaskCtx, fd: Fd) -> Result<Arc<OpenFile>, Errno> {
    let f = t.task.files().get(i64::from(fd.0))?;
    if f.ops.as_pidfd().is_none() {
        return Err(Errno::EBADF);
    }
    Ok(f)
}

/// pidfd_open(pid, flags).
pub fn pidfd_open(t: &mut TaskCtx, pid: Pid, flags: u32) -> SysResult {
    let pid = pid.get();
    if flags & !(O_NONBLOCK | PIDFD_THREAD) != 0 {
        return Err(Errno::EINVAL.into());
    }
    if pid <= 0 {
        return Err(Errno::EINVAL.into());
    }
    let kernel = Arc::clone(&t.task.kernel);
    let tg = {
        let table = kernel.table.lock();
        match table.tasks.get(&pid) {
            Some(task) => {
                // A thread that leads no process needs PIDFD_THREAD.
                if flags & PIDFD_THREAD == 0 && task.tgid() != pid {
                    return Err(Errno::ENOENT.into());
                }
                Arc::clone(&task.tg)
            }
            None => match table.procs.get(&pid) {
                // A zombie still has its pid.
                Some(p) => Arc::clone(&p.tg),
                None => return Err(Errno::ESRCH.into()),
            },
        }
    };
    Ok(install(&t.task.files(), &kernel, pid, &tg, flags)? as u64)
}

/// Whom pidfd_send_signal signals: Linux's `enum pid_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scope {
    /// PIDTYPE_PID: the thread.
    Thread,
    /// PIDTYPE_TGID: its process.
    Process,
    /// PIDTYPE_PGID: its process group.
    ProcessGroup,
}

/// pidfd_send_signal(pidfd, sig, info, flags).
pub fn pidfd_send_signal(
    t: &mut TaskCtx,
    pidfd: Fd,
    signo: SigArg,
    info: Option<UserPtr<SigInfo>>,
    flags: u32,
) -> SysResult {
    const PIDFD_SIGNAL_THREAD: u32 = 1;
    const PIDFD_SIGNAL_THREAD_GROUP: u32 = 2;
    const PIDFD_SIGNAL_PROCESS_GROUP: u32 = 4;
    let scopes = PIDFD_SIGNAL_THREAD | PIDFD_SIGNAL_THREAD_GROUP | PIDFD_SIGNAL_PROCESS_GROUP;
    if flags & !scopes != 0 || (flags & scopes).count_ones() > 1 {
        return Err(Errno::EINVAL.into());
    }
    let file = lookup(t, pidfd)?;
    let pf = file.ops.as_pidfd().expect("checked by lookup");
    let scope = match flags {
        PIDFD_SIGNAL_THREAD => Scope::Thread,
        PIDFD_SIGNAL_THREAD_GROUP => Scope::Process,
        PIDFD_SIGNAL_PROCESS_GROUP => Scope::ProcessGroup,
        // Without a flag, the pidfd's own kind says.
        _ if pf.thread => Scope::Thread,
        _ => Scope::Process,
    };
    let me = t.task.tgid();
    let user_info = match info {
        Some(ptr) => {
            let k = ptr.read(&t.mm())?;
            if k.signo != signo.get() {
                return Err(Errno::EINVAL.into());
            }
            // The pidfd names `pf.pid`; a process group is never oneself.
            let target = (scope != Scope::ProcessGroup).then_some(pf.pid);
            k.check_forged(t.task.tid, target)?;
            Some(k)
        }
        None => None,
    };
    // Linux's prepare_kill_siginfo: SI_TKILL towards a thread, else SI_USER.
    let kill_code = if scope == Scope::Thread {
        code::SI_TKILL
    } else {
        code::SI_USER
    };
    let uid = t.task.ident.creds().uid[crate::kernel::creds::REAL];
    let info_for =
        |s: Signal| user_info.unwrap_or_else(|| SigInfo::from_process(s, kill_code, me, uid));
    let signal = signo.to_send()?;
    if pf.state() == PidState::Reaped {
        return Err(Errno::ESRCH.into());
    }
    let tg = pf.thread_group().ok_or(Errno::ESRCH)?;
    let Some(signal) = signal else {
        return Ok(0);
    };
    let kernel = Arc::clone(&t.task.kernel);
    match scope {
        Scope::ProcessGroup => {
            let pgid = kernel
                .table
                .lock()
                .procs
                .get(&tg.tgid)
                .map(|p| p.pgid)
                .ok_or(Errno::ESRCH)?;
            process::kill_pgrp(&t.task, pgid, signo, Some(info_for(signal)))?;
        }
        Scope::Thread => {
            let task = kernel
                .table
                .lock()
                .tasks
                .get(&pf.pid)
                .cloned()
                .ok_or(Errno::ESRCH)?;
            task.send_signal(info_for(signal));
        }
        Scope::Process => process::send_to_group(&kernel, &tg, info_for(signal)),
    }
    Ok(0)
}

/// pidfd_getfd(pidfd, targetfd, flags).
pub fn pidfd_getfd(t: &mut TaskCtx, pidfd: Fd, targetfd: Fd, flags: u32) -> SysResult {
    if flags != 0 {
        return Err(Errno::EINVAL.into());
    }
    let file = lookup(t, pidfd)?;
    let pf = file.ops.as_pidfd().expect("checked by lookup");
    let tg = pf.thread_group().ok_or(Errno::ESRCH)?;
    let target = tg.threads.lock().first().cloned().ok_or(Errno::ESRCH)?;
    let f = target.files().get(i64::from(targetfd.0))?;
    Ok(t.task.files().insert(f, true, 0)? as u64)
}

/// Resolves a pidfd for waitid(P_PIDFD): (pid, nonblocking?).
pub fn wait_target(t: &TaskCtx, fd: Fd) -> Result<(i32, bool), Errno> {
    let file = lookup(t, fd)?;
    let pf = file.ops.as_pidfd().expect("checked by lookup");
    let pid = pf.thread_group().map_or(pf.pid, |tg| tg.tgid);
    Ok((pid, file.status() & O_NONBLOCK != 0))
}

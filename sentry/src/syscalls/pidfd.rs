//! pidfd_open, pidfd_send_signal, pidfd_getfd, and the pidfd helpers used
//! by clone (CLONE_PIDFD) and waitid (P_PIDFD).

use std::sync::Arc;

use crate::abi::UserPtr;
use crate::errno::Errno;
use crate::fs::pidfd::{PIDFD_THREAD, PidState, install};
use crate::fs::{O_NONBLOCK, OpenFile};
use crate::kernel::process;
use crate::kernel::signal::{SigInfo, Signal, code};
use crate::kernel::task::{SysResult, TaskCtx};

/// The open pidfd behind descriptor `fd` (EBADF for anything else).
pub fn lookup(t: &TaskCtx, fd: u64) -> Result<Arc<OpenFile>, Errno> {
    let f = t.task.files().get(fd as i64)?;
    if f.ops.as_pidfd().is_none() {
        return Err(Errno::EBADF);
    }
    Ok(f)
}

/// pidfd_open(pid, flags).
pub fn pidfd_open(t: &mut TaskCtx, pid: u64, flags: u64) -> SysResult {
    let (pid, flags) = (pid as i32, flags as u32);
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

/// pidfd_send_signal(pidfd, sig, info, flags).
pub fn pidfd_send_signal(
    t: &mut TaskCtx,
    pidfd: u64,
    signo: u64,
    info: u64,
    flags: u64,
) -> SysResult {
    const PIDFD_SIGNAL_THREAD: u32 = 1;
    const PIDFD_SIGNAL_THREAD_GROUP: u32 = 2;
    const PIDFD_SIGNAL_PROCESS_GROUP: u32 = 4;
    let flags = flags as u32;
    let scopes = PIDFD_SIGNAL_THREAD | PIDFD_SIGNAL_THREAD_GROUP | PIDFD_SIGNAL_PROCESS_GROUP;
    if flags & !scopes != 0 || (flags & scopes).count_ones() > 1 {
        return Err(Errno::EINVAL.into());
    }
    let file = lookup(t, pidfd)?;
    let pf = file.ops.as_pidfd().expect("checked by lookup");
    let signo = Signal::arg(signo);
    let thread_scope = match flags {
        0 => pf.thread,
        PIDFD_SIGNAL_THREAD => true,
        _ => false,
    };
    let me = t.task.tgid();
    let kinfo = if info != 0 {
        let k = UserPtr::<SigInfo>::new(info).read(&t.mm())?;
        if k.signo != signo {
            return Err(Errno::EINVAL.into());
        }
        let to_self = pf.pid == me && !thread_scope;
        k.check_forged(to_self)?;
        k
    } else {
        SigInfo::from_process(signo, code::SI_USER, me, 0)
    };
    let signal = Signal::to_send(signo)?;
    if pf.state() == PidState::Reaped {
        return Err(Errno::ESRCH.into());
    }
    let tg = pf.thread_group().ok_or(Errno::ESRCH)?;
    if signal.is_none() {
        return Ok(0);
    }
    let kernel = Arc::clone(&t.task.kernel);
    if flags == PIDFD_SIGNAL_PROCESS_GROUP {
        let pgid = kernel
            .table
            .lock()
            .procs
            .get(&tg.tgid)
            .map(|p| p.pgid)
            .ok_or(Errno::ESRCH)?;
        process::kill_pgrp(&t.task, pgid, signo)?;
        return Ok(0);
    }
    if thread_scope {
        let task = kernel
            .table
            .lock()
            .tasks
            .get(&pf.pid)
            .cloned()
            .ok_or(Errno::ESRCH)?;
        task.send_signal(kinfo);
    } else {
        process::send_to_group(&kernel, &tg, kinfo);
    }
    Ok(0)
}

/// pidfd_getfd(pidfd, targetfd, flags).
pub fn pidfd_getfd(t: &mut TaskCtx, pidfd: u64, targetfd: u64, flags: u64) -> SysResult {
    if flags != 0 {
        return Err(Errno::EINVAL.into());
    }
    let file = lookup(t, pidfd)?;
    let pf = file.ops.as_pidfd().expect("checked by lookup");
    let tg = pf.thread_group().ok_or(Errno::ESRCH)?;
    let target = tg.threads.lock().first().cloned().ok_or(Errno::ESRCH)?;
    let f = target.files().get(targetfd as i64)?;
    Ok(t.task.files().insert(f, true, 0)? as u64)
}

/// Resolves a pidfd for waitid(P_PIDFD): (pid, nonblocking?).
pub fn wait_target(t: &TaskCtx, fd: u64) -> Result<(i32, bool), Errno> {
    let file = lookup(t, fd)?;
    let pf = file.ops.as_pidfd().expect("checked by lookup");
    let pid = pf.thread_group().map_or(pf.pid, |tg| tg.tgid);
    Ok((pid, file.status() & O_NONBLOCK != 0))
}

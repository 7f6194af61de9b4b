//! Process and thread syscalls: exit, exit_group, the id getters, process
//! groups and sessions, fork, vfork, clone, clone3, wait4, waitid,
//! set_tid_address, robust lists, prctl.

use std::sync::atomic::Ordering;

use crate::errno::Errno;
use crate::kernel::clone::{CloneArgs, Origin, do_clone, flags};
use crate::kernel::process::{self, WaitTarget, wopt};
use crate::kernel::signal::{self, sig};
use crate::kernel::task::{SysError, SysResult, TaskCtx, exited_status};

/// exit(code): ends this thread.
pub fn exit(t: &mut TaskCtx, code: u64) -> SysResult {
    t.task
        .exit_code
        .store(code as i32 & 0xff, Ordering::Relaxed);
    Err(SysError::Exited)
}

/// exit_group(code): ends the process.
pub fn exit_group(t: &mut TaskCtx, code: u64) -> SysResult {
    t.task.tg.start_exit(exited_status(code as i32));
    Err(SysError::Exited)
}

/// getppid().
pub fn getppid(t: &mut TaskCtx) -> SysResult {
    let table = t.task.kernel.table.lock();
    Ok(table.procs.get(&t.task.tgid()).map_or(0, |p| p.parent) as u64)
}

fn resolve(t: &TaskCtx, pid: u64) -> Result<i32, Errno> {
    let pid = pid as i32;
    if pid < 0 {
        return Err(Errno::ESRCH);
    }
    Ok(if pid == 0 { t.task.tgid() } else { pid })
}

/// getpgid(pid).
pub fn getpgid(t: &mut TaskCtx, pid: u64) -> SysResult {
    let pid = resolve(t, pid)?;
    let table = t.task.kernel.table.lock();
    let p = table.procs.get(&pid).ok_or(Errno::ESRCH)?;
    Ok(p.pgid as u64)
}

/// getsid(pid).
pub fn getsid(t: &mut TaskCtx, pid: u64) -> SysResult {
    let pid = resolve(t, pid)?;
    let table = t.task.kernel.table.lock();
    let p = table.procs.get(&pid).ok_or(Errno::ESRCH)?;
    Ok(p.sid as u64)
}

/// setpgid(pid, pgid).
pub fn setpgid(t: &mut TaskCtx, pid: u64, pgid: u64) -> SysResult {
    let me = t.task.tgid();
    let pid = if pid as i32 == 0 { me } else { pid as i32 };
    let pgid = if pgid as i32 == 0 { pid } else { pgid as i32 };
    if pgid < 0 || pid < 0 {
        return Err(Errno::EINVAL.into());
    }
    let mut table = t.task.kernel.table.lock();
    let my_sid = table.procs.get(&me).map_or(0, |p| p.sid);
    let target = table.procs.get(&pid).ok_or(Errno::ESRCH)?;
    if pid != me && target.parent != me {
        return Err(Errno::ESRCH.into());
    }
    if target.sid == pid || target.sid != my_sid {
        return Err(Errno::EPERM.into());
    }
    if pgid != pid
        && !table
            .procs
            .values()
            .any(|p| p.pgid == pgid && p.sid == my_sid)
    {
        return Err(Errno::EPERM.into());
    }
    table.procs.get_mut(&pid).expect("checked above").pgid = pgid;
    Ok(0)
}

/// setsid().
pub fn setsid(t: &mut TaskCtx) -> SysResult {
    let me = t.task.tgid();
    let mut table = t.task.kernel.table.lock();
    if table.procs.values().any(|p| p.pgid == me) {
        return Err(Errno::EPERM.into());
    }
    let p = table.procs.get_mut(&me).ok_or(Errno::ESRCH)?;
    p.sid = me;
    p.pgid = me;
    Ok(me as u64)
}

fn is_init(t: &TaskCtx) -> bool {
    t.task.tgid() == 1
}

/// fork().
pub fn fork(t: &mut TaskCtx) -> SysResult {
    let a = CloneArgs::fork();
    a.validate(Origin::Legacy, is_init(t))?;
    Ok(do_clone(t, &a)? as u64)
}

/// vfork().
pub fn vfork(t: &mut TaskCtx) -> SysResult {
    let a = CloneArgs::vfork();
    a.validate(Origin::Legacy, is_init(t))?;
    Ok(do_clone(t, &a)? as u64)
}

/// clone(flags, newsp, parent_tid, child_tid, tls) (x86-64 order).
pub fn clone(t: &mut TaskCtx, args: [u64; 6]) -> SysResult {
    let a = CloneArgs::legacy(args[0], args[1], args[2], args[3], args[4]);
    a.validate(Origin::Legacy, is_init(t))?;
    Ok(do_clone(t, &a)? as u64)
}

/// Size of `struct clone_args` version 0 (first published).
pub const CLONE_ARGS_SIZE_VER0: u64 = 64;
/// Version 2 (with set_tid and cgroup), the largest this kernel knows.
pub const CLONE_ARGS_SIZE_VER2: u64 = 88;

/// clone3(uargs, size).
pub fn clone3(t: &mut TaskCtx, uargs: u64, size: u64) -> SysResult {
    if size > platform::PAGE_SIZE {
        return Err(Errno::E2BIG.into());
    }
    if size < CLONE_ARGS_SIZE_VER0 {
        return Err(Errno::EINVAL.into());
    }
    let mm = t.mm();
    // copy_struct_from_user: bytes past what we know must be zero.
    if size > CLONE_ARGS_SIZE_VER2 {
        let mut rest = vec![0u8; (size - CLONE_ARGS_SIZE_VER2) as usize];
        mm.read(
            uargs
                .checked_add(CLONE_ARGS_SIZE_VER2)
                .ok_or(Errno::EFAULT)?,
            &mut rest,
        )?;
        if rest.iter().any(|b| *b != 0) {
            return Err(Errno::E2BIG.into());
        }
    }
    let mut raw = [0u8; CLONE_ARGS_SIZE_VER2 as usize];
    let known = size.min(CLONE_ARGS_SIZE_VER2) as usize;
    mm.read(uargs, &mut raw[..known])?;
    let w = |i: usize| u64::from_le_bytes(raw[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    let (set_tid_ptr, set_tid_size, cgroup) = (w(8), w(9), w(10));
    if (set_tid_ptr != 0) != (set_tid_size != 0) {
        return Err(Errno::EINVAL.into());
    }
    if set_tid_size > 32 {
        return Err(Errno::EINVAL.into());
    }
    let exit_signal = w(4);
    if exit_signal & !flags::CSIGNAL != 0
        || !(exit_signal == 0 || signal::valid(exit_signal as i64))
    {
        return Err(Errno::EINVAL.into());
    }
    let f = w(0);
    if f & flags::CLONE_INTO_CGROUP != 0
        && (cgroup > i32::MAX as u64 || size < CLONE_ARGS_SIZE_VER2)
    {
        return Err(Errno::EINVAL.into());
    }
    let mut set_tid = Vec::new();
    if set_tid_size > 0 {
        let mut b = vec![0u8; set_tid_size as usize * 4];
        mm.read(set_tid_ptr, &mut b)?;
        set_tid = b
            .chunks_exact(4)
            .map(|c| i32::from_le_bytes(c.try_into().expect("4 bytes")))
            .collect();
    }
    let a = CloneArgs {
        flags: f,
        pidfd: w(1),
        child_tid: w(2),
        parent_tid: w(3),
        exit_signal,
        stack: w(5),
        stack_size: w(6),
        tls: w(7),
        set_tid,
        cgroup,
    };
    a.validate(Origin::Clone3, is_init(t))?;
    // One pid namespace level: more set_tid entries than levels is EINVAL.
    if a.set_tid.len() > 1 {
        return Err(Errno::EINVAL.into());
    }
    Ok(do_clone(t, &a)? as u64)
}

fn write_rusage(t: &TaskCtx, addr: u64) -> Result<(), Errno> {
    if addr != 0 {
        t.mm().write(addr, &[0u8; 144])?;
    }
    Ok(())
}

/// wait4(pid, wstatus, options, rusage).
pub fn wait4(t: &mut TaskCtx, pid: u64, wstatus: u64, options: u64, rusage: u64) -> SysResult {
    use wopt::*;
    let options = options as u32 as u64; // an int
    if options & !(WNOHANG | WSTOPPED | WCONTINUED | WNOTHREAD | WCLONE | WALL) != 0 {
        return Err(Errno::EINVAL.into());
    }
    let pid = pid as i32;
    let target = match pid {
        i32::MIN => return Err(Errno::ESRCH.into()),
        -1 => WaitTarget::Any,
        0 => WaitTarget::Pgid(0),
        p if p < 0 => WaitTarget::Pgid(-p),
        p => WaitTarget::Pid(p),
    };
    match process::wait_child(&t.task, target, options | WEXITED)? {
        None => Ok(0),
        Some(r) => {
            if wstatus != 0 {
                t.mm().write_u32(wstatus, r.status as u32)?;
            }
            write_rusage(t, rusage)?;
            Ok(r.pid as u64)
        }
    }
}

/// waitid(idtype, id, infop, options, rusage).
pub fn waitid(
    t: &mut TaskCtx,
    idtype: u64,
    id: u64,
    infop: u64,
    options: u64,
    rusage: u64,
) -> SysResult {
    use wopt::*;
    if options & !(WNOHANG | WNOWAIT | WEXITED | WSTOPPED | WCONTINUED | WNOTHREAD | WCLONE | WALL)
        != 0
    {
        return Err(Errno::EINVAL.into());
    }
    if options & (WEXITED | WSTOPPED | WCONTINUED) == 0 {
        return Err(Errno::EINVAL.into());
    }
    let id = id as i32;
    let mut options = options;
    let mut nonblocking_pidfd = false;
    let target = match idtype {
        0 => WaitTarget::Any,
        1 if id > 0 => WaitTarget::Pid(id),
        2 if id >= 0 => WaitTarget::Pgid(id),
        3 => {
            if id < 0 {
                return Err(Errno::EINVAL.into());
            }
            let (pid, nonblock) = super::pidfd::wait_target(t, crate::abi::Fd(id))?;
            // A PIDFD_NONBLOCK pidfd makes the wait non-blocking, and then
            // "nothing yet" is EAGAIN, unless the caller asked for WNOHANG.
            if nonblock && options & WNOHANG == 0 {
                options |= WNOHANG;
                nonblocking_pidfd = true;
            }
            WaitTarget::Pid(pid)
        }
        _ => return Err(Errno::EINVAL.into()),
    };
    let r = process::wait_child(&t.task, target, options)?;
    if r.is_none() && nonblocking_pidfd {
        return Err(Errno::EAGAIN.into());
    }
    if infop != 0 {
        let mut b = [0u8; 128];
        if let Some(r) = r {
            b[0..4].copy_from_slice(&sig::SIGCHLD.to_le_bytes());
            b[8..12].copy_from_slice(&r.code.to_le_bytes());
            b[16..20].copy_from_slice(&r.pid.to_le_bytes());
            b[24..28].copy_from_slice(&r.si_status.to_le_bytes());
        }
        t.mm().write(infop, &b)?;
    }
    write_rusage(t, rusage)?;
    Ok(0)
}

/// set_tid_address(tidptr).
pub fn set_tid_address(t: &mut TaskCtx, tidptr: u64) -> SysResult {
    t.task.clear_child_tid.store(tidptr, Ordering::Relaxed);
    Ok(t.task.tid as u64)
}

/// set_robust_list(head, len).
pub fn set_robust_list(t: &mut TaskCtx, head: u64, len: u64) -> SysResult {
    if len != 24 {
        return Err(Errno::EINVAL.into());
    }
    t.task.robust_list.store(head, Ordering::Relaxed);
    Ok(0)
}

/// get_robust_list(pid, head_ptr, len_ptr).
pub fn get_robust_list(t: &mut TaskCtx, pid: u64, head_ptr: u64, len_ptr: u64) -> SysResult {
    let pid = pid as i32;
    let task = if pid == 0 {
        std::sync::Arc::clone(&t.task)
    } else {
        t.task
            .kernel
            .table
            .lock()
            .tasks
            .get(&pid)
            .cloned()
            .ok_or(Errno::ESRCH)?
    };
    let head = task.robust_list.load(Ordering::Relaxed);
    t.mm().write_u64(head_ptr, head)?;
    t.mm().write_u64(len_ptr, 24)?;
    Ok(0)
}

/// prctl(option, arg2, ...).
pub fn prctl(t: &mut TaskCtx, option: u64, arg2: u64) -> SysResult {
    const PR_SET_PDEATHSIG: u64 = 1;
    const PR_GET_PDEATHSIG: u64 = 2;
    const PR_GET_DUMPABLE: u64 = 3;
    const PR_SET_DUMPABLE: u64 = 4;
    const PR_SET_NAME: u64 = 15;
    const PR_GET_NAME: u64 = 16;
    const PR_SET_CHILD_SUBREAPER: u64 = 36;
    const PR_GET_CHILD_SUBREAPER: u64 = 37;
    const PR_SET_NO_NEW_PRIVS: u64 = 38;
    const PR_GET_NO_NEW_PRIVS: u64 = 39;
    match option {
        PR_SET_PDEATHSIG => {
            if !(arg2 == 0 || signal::valid(arg2 as i64)) {
                return Err(Errno::EINVAL.into());
            }
            t.task.pdeath_signal.store(arg2 as i32, Ordering::Relaxed);
            Ok(0)
        }
        PR_GET_PDEATHSIG => {
            let s = t.task.pdeath_signal.load(Ordering::Relaxed);
            t.mm().write_u32(arg2, s as u32)?;
            Ok(0)
        }
        PR_GET_DUMPABLE => Ok(1),
        PR_SET_DUMPABLE => {
            if arg2 > 1 {
                return Err(Errno::EINVAL.into());
            }
            Ok(0)
        }
        PR_SET_NAME => {
            // At most 15 bytes and a NUL, as Linux copies 16.
            let mut name = [0u8; 16];
            let n = t.mm().read_prefix(arg2, &mut name);
            if n < 15 && !name[..n].contains(&0) {
                return Err(Errno::EFAULT.into());
            }
            t.task.set_comm(&name[..15]);
            Ok(0)
        }
        PR_GET_NAME => {
            let mut name = [0u8; 16];
            let comm = t.task.comm();
            name[..comm.len()].copy_from_slice(&comm);
            t.mm().write(arg2, &name)?;
            Ok(0)
        }
        PR_SET_CHILD_SUBREAPER => {
            let me = t.task.tgid();
            if let Some(p) = t.task.kernel.table.lock().procs.get_mut(&me) {
                p.subreaper = arg2 != 0;
            }
            Ok(0)
        }
        PR_GET_CHILD_SUBREAPER => {
            let me = t.task.tgid();
            let v = t
                .task
                .kernel
                .table
                .lock()
                .procs
                .get(&me)
                .is_some_and(|p| p.subreaper);
            t.mm().write_u32(arg2, v as u32)?;
            Ok(0)
        }
        PR_SET_NO_NEW_PRIVS => Ok(0),
        PR_GET_NO_NEW_PRIVS => Ok(0),
        _ => Err(Errno::EINVAL.into()),
    }
}

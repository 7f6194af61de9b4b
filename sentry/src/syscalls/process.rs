//! Process and thread syscalls: exit, exit_group, the id getters, process
//! groups and sessions, fork, vfork, clone, clone3, wait4, waitid,
//! set_tid_address, robust lists, prctl.

use std::sync::atomic::Ordering;

use crate::abi::process::{CloneArgsAbi, Rusage};
use crate::abi::time::Timeval;
use crate::abi::{Fd, Pid, UserPtr, read_extensible};
use crate::errno::Errno;
use crate::kernel::clone::{CloneArgs, Origin, do_clone, flags};
use crate::kernel::process::{self, WaitOptions, WaitTarget};
use crate::kernel::signal::{self, SigInfo, Signal};
use crate::kernel::task::{SysError, SysResult, TaskCtx, exited_status};

/// exit(code): ends this thread.
pub fn exit(t: &mut TaskCtx, code: i32) -> SysResult {
    t.task.exit_code.store(code & 0xff, Ordering::Relaxed);
    Err(SysError::Exited)
}

/// exit_group(code): ends the process.
pub fn exit_group(t: &mut TaskCtx, code: i32) -> SysResult {
    t.task.tg.start_exit(exited_status(code));
    Err(SysError::Exited)
}

/// getppid().
pub fn getppid(t: &mut TaskCtx) -> SysResult {
    let table = t.task.kernel.table.lock();
    Ok(table.procs.get(&t.task.tgid()).map_or(0, |p| p.parent) as u64)
}

fn resolve(t: &TaskCtx, pid: Pid) -> Result<i32, Errno> {
    let pid = pid.get();
    if pid < 0 {
        return Err(Errno::ESRCH);
    }
    Ok(if pid == 0 { t.task.tgid() } else { pid })
}

/// getpgid(pid).
pub fn getpgid(t: &mut TaskCtx, pid: Pid) -> SysResult {
    let pid = resolve(t, pid)?;
    let table = t.task.kernel.table.lock();
    let p = table.procs.get(&pid).ok_or(Errno::ESRCH)?;
    Ok(p.pgid as u64)
}

/// getsid(pid).
pub fn getsid(t: &mut TaskCtx, pid: Pid) -> SysResult {
    let pid = resolve(t, pid)?;
    let table = t.task.kernel.table.lock();
    let p = table.procs.get(&pid).ok_or(Errno::ESRCH)?;
    Ok(p.sid as u64)
}

/// setpgid(pid, pgid).
pub fn setpgid(t: &mut TaskCtx, pid: Pid, pgid: Pid) -> SysResult {
    let me = t.task.tgid();
    let pid = if pid.get() == 0 { me } else { pid.get() };
    let pgid = if pgid.get() == 0 { pid } else { pgid.get() };
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

/// clone3(uargs, size).
pub fn clone3(t: &mut TaskCtx, uargs: UserPtr<CloneArgsAbi>, size: u64) -> SysResult {
    if size > platform::PAGE_SIZE {
        return Err(Errno::E2BIG.into());
    }
    if size < CloneArgsAbi::SIZE_VER0 as u64 {
        return Err(Errno::EINVAL.into());
    }
    let mm = t.mm();
    // copy_struct_from_user: bytes past what we know must be zero.
    let raw = read_extensible(&mm, uargs, size as usize)?;
    if (raw.set_tid != 0) != (raw.set_tid_size != 0) {
        return Err(Errno::EINVAL.into());
    }
    if raw.set_tid_size > 32 {
        return Err(Errno::EINVAL.into());
    }
    let exit_signal = raw.exit_signal;
    if exit_signal & !flags::CSIGNAL != 0 || !signal::valid_signal(exit_signal) {
        return Err(Errno::EINVAL.into());
    }
    if raw.flags & flags::CLONE_INTO_CGROUP != 0
        && (raw.cgroup > i32::MAX as u64 || size < CloneArgsAbi::SIZE_VER2 as u64)
    {
        return Err(Errno::EINVAL.into());
    }
    let set_tid = if raw.set_tid_size > 0 {
        UserPtr::<i32>::new(raw.set_tid).read_array(&mm, raw.set_tid_size as usize)?
    } else {
        Vec::new()
    };
    let a = CloneArgs {
        flags: raw.flags,
        pidfd: raw.pidfd,
        child_tid: raw.child_tid,
        parent_tid: raw.parent_tid,
        exit_signal,
        stack: raw.stack,
        stack_size: raw.stack_size,
        tls: raw.tls,
        set_tid,
        cgroup: raw.cgroup,
    };
    a.validate(Origin::Clone3, is_init(t))?;
    // One pid namespace level: more set_tid entries than levels is EINVAL.
    if a.set_tid.len() > 1 {
        return Err(Errno::EINVAL.into());
    }
    Ok(do_clone(t, &a)? as u64)
}

/// The rusage of a waited-for child (zeroes when nothing was found): its
/// and its own waited-for children's user and system time; the sentry
/// counts no other field.
fn write_rusage(
    t: &TaskCtx,
    ru: Option<UserPtr<Rusage>>,
    found: Option<&process::WaitResult>,
) -> Result<(), Errno> {
    if let Some(ru) = ru {
        let times = found.map(|r| r.times).unwrap_or_default();
        let tv = |ns: u64| Timeval {
            sec: (ns / 1_000_000_000) as i64,
            usec: (ns % 1_000_000_000 / 1000) as i64,
        };
        let usage = Rusage {
            utime: tv(times.user),
            stime: tv(times.sys),
            ..Rusage::default()
        };
        ru.write(&t.mm(), &usage)?;
    }
    Ok(())
}

/// wait4(pid, wstatus, options, rusage).
pub fn wait4(
    t: &mut TaskCtx,
    pid: Pid,
    wstatus: Option<UserPtr<i32>>,
    options: WaitOptions,
    rusage: Option<UserPtr<Rusage>>,
) -> SysResult {
    use WaitOptions as W;
    let allowed = W::NOHANG | W::STOPPED | W::CONTINUED | W::NOTHREAD | W::CLONE | W::ALL;
    if !allowed.contains(options) {
        return Err(Errno::EINVAL.into());
    }
    let target = match pid.get() {
        i32::MIN => return Err(Errno::ESRCH.into()),
        -1 => WaitTarget::Any,
        0 => WaitTarget::Pgid(0),
        p if p < 0 => WaitTarget::Pgid(-p),
        p => WaitTarget::Pid(p),
    };
    match process::wait_child(&t.task, target, options | W::EXITED)? {
        None => Ok(0),
        Some(r) => {
            if let Some(wstatus) = wstatus {
                wstatus.write(&t.mm(), &r.status)?;
            }
            write_rusage(t, rusage, Some(&r))?;
            Ok(r.pid as u64)
        }
    }
}

/// waitid(idtype, id, infop, options, rusage).
pub fn waitid(
    t: &mut TaskCtx,
    idtype: i32,
    id: Pid,
    infop: Option<UserPtr<SigInfo>>,
    options: WaitOptions,
    rusage: Option<UserPtr<Rusage>>,
) -> SysResult {
    use WaitOptions as W;
    const P_ALL: i32 = 0;
    const P_PID: i32 = 1;
    const P_PGID: i32 = 2;
    const P_PIDFD: i32 = 3;
    if !W::all().contains(options) {
        return Err(Errno::EINVAL.into());
    }
    if !options.intersects(W::EXITED | W::STOPPED | W::CONTINUED) {
        return Err(Errno::EINVAL.into());
    }
    let id = id.get();
    let mut options = options;
    let mut nonblocking_pidfd = false;
    let target = match idtype {
        P_ALL => WaitTarget::Any,
        P_PID if id > 0 => WaitTarget::Pid(id),
        P_PGID if id >= 0 => WaitTarget::Pgid(id),
        P_PIDFD => {
            if id < 0 {
                return Err(Errno::EINVAL.into());
            }
            let (pid, nonblock) = super::pidfd::wait_target(t, Fd(id))?;
            // A PIDFD_NONBLOCK pidfd makes the wait non-blocking, and then
            // "nothing yet" is EAGAIN, unless the caller asked for WNOHANG.
            if nonblock && !options.contains(W::NOHANG) {
                options |= W::NOHANG;
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
    if let Some(infop) = infop {
        // Nothing to report (WNOHANG): the fields are zeroes.
        let info = r.map_or_else(SigInfo::default, |r| {
            let info = SigInfo::child(Signal::SIGCHLD, r.code, r.pid, r.si_status);
            process::with_uid(info, r.uid)
        });
        info.write_waitid_fields(&t.mm(), infop)?;
    }
    write_rusage(t, rusage, r.as_ref())?;
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
pub fn get_robust_list(
    t: &mut TaskCtx,
    pid: Pid,
    head_ptr: UserPtr<u64>,
    len_ptr: UserPtr<u64>,
) -> SysResult {
    let pid = pid.get();
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
    head_ptr.write(&t.mm(), &head)?;
    len_ptr.write(&t.mm(), &24)?;
    Ok(0)
}

/// prctl(option, arg2, ...): `option` is an `int`; `arg2` an `unsigned
/// long` whose meaning (a number or a pointer) depends on it, so it is
/// decoded per option.
pub fn prctl(t: &mut TaskCtx, option: i32, arg2: u64) -> SysResult {
    const PR_SET_PDEATHSIG: i32 = 1;
    const PR_GET_PDEATHSIG: i32 = 2;
    const PR_GET_DUMPABLE: i32 = 3;
    const PR_SET_DUMPABLE: i32 = 4;
    const PR_SET_CHILD_SUBREAPER: i32 = 36;
    const PR_GET_CHILD_SUBREAPER: i32 = 37;
    const PR_SET_NO_NEW_PRIVS: i32 = 38;
    const PR_GET_NO_NEW_PRIVS: i32 = 39;
    match option {
        PR_SET_PDEATHSIG => {
            if !signal::valid_signal(arg2) {
                return Err(Errno::EINVAL.into());
            }
            t.task.pdeath_signal.store(arg2 as i32, Ordering::Relaxed);
            Ok(0)
        }
        PR_GET_PDEATHSIG => {
            let s = t.task.pdeath_signal.load(Ordering::Relaxed);
            UserPtr::<i32>::new(arg2).write(&t.mm(), &s)?;
            Ok(0)
        }
        PR_GET_DUMPABLE => Ok(1),
        PR_SET_DUMPABLE => {
            if arg2 > 1 {
                return Err(Errno::EINVAL.into());
            }
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
            UserPtr::<i32>::new(arg2).write(&t.mm(), &i32::from(v))?;
            Ok(0)
        }
        PR_SET_NO_NEW_PRIVS => Ok(0),
        PR_GET_NO_NEW_PRIVS => Ok(0),
        _ => Err(Errno::EINVAL.into()),
    }
}

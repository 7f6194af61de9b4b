//! Identity and environment: uname, getrandom, resource limits, CPU
//! affinity, arch_prctl, user and group ids.

use crate::abi::process::{Rlimit, Sysinfo, Utsname};
use crate::abi::{Pid, UserPtr, UserSlice};
use std::sync::Arc;

use crate::errno::Errno;
use crate::kernel::limits;
use crate::kernel::task::{SysResult, TaskCtx, ThreadGroup};

/// The node name the guest sees.
pub const NODENAME: &str = crate::kernel::limits::HOSTNAME;

/// uname(buf).
pub fn uname(t: &mut TaskCtx, buf: UserPtr<Utsname>) -> SysResult {
    let u = Utsname {
        fields: [
            "Linux",
            crate::kernel::limits::hostname(),
            crate::kernel::limits::RELEASE,
            crate::kernel::limits::VERSION,
            "x86_64",
            "(none)",
        ]
        .map(|f| f.as_bytes().to_vec()),
    };
    buf.write(&t.mm(), &u)?;
    Ok(0)
}

/// getrandom(buf, len, flags).
pub fn getrandom(t: &mut TaskCtx, buf: UserSlice, flags: u32) -> SysResult {
    const GRND_NONBLOCK: u32 = 1;
    const GRND_RANDOM: u32 = 2;
    const GRND_INSECURE: u32 = 4;
    if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0
        || flags & (GRND_RANDOM | GRND_INSECURE) == GRND_RANDOM | GRND_INSECURE
    {
        return Err(Errno::EINVAL.into());
    }
    // At most 32 MiB per call, as Linux's getrandom.
    let buf = buf.prefix(32 << 20);
    let mut data = vec![0u8; buf.len()];
    if !crate::host::random(&mut data) {
        return Err(Errno::EIO.into());
    }
    buf.write(&t.mm(), &data)?;
    Ok(data.len() as u64)
}

/// Linux's do_prlimit on the process `tg`: returns the old limit and sets
/// `new` if given (see `Rlimits::set` for the errors), then makes every
/// thread of the process enforce it.
fn do_prlimit(
    t: &TaskCtx,
    tg: &Arc<ThreadGroup>,
    resource: u32,
    new: Option<Rlimit>,
) -> Result<(u64, u64), Errno> {
    let old = {
        let mut l = tg.limits.lock();
        let old = l.get(resource).ok_or(Errno::EINVAL)?;
        if let Some(n) = new {
            // Raising a hard limit needs CAP_SYS_RESOURCE, which init
            // does not start with (`kernel::creds::CAP_INIT`).
            let privileged = t
                .task
                .ident
                .creds()
                .capable(crate::kernel::creds::cap::SYS_RESOURCE);
            l.set(resource, n.cur, n.max, privileged)?;
        }
        old
    };
    if new.is_some() {
        let threads = tg.threads.lock().clone();
        for th in &threads {
            limits::apply(th);
        }
    }
    Ok(old)
}

/// prlimit64(pid, resource, new, old), in Linux's order: the new limit is
/// read (EFAULT), the task found (ESRCH: `pid` names any thread), the limit
/// set (EINVAL, EPERM), then the old one written (EFAULT, after the set).
pub fn prlimit64(
    t: &mut TaskCtx,
    pid: Pid,
    resource: u32,
    new: Option<UserPtr<Rlimit>>,
    old: Option<UserPtr<Rlimit>>,
) -> SysResult {
    let new = match new {
        Some(p) => Some(p.read(&t.mm())?),
        None => None,
    };
    let tg = if pid.get() == 0 {
        Arc::clone(&t.task.tg)
    } else {
        let table = t.task.kernel.table.lock();
        match table.tasks.get(&pid.get()) {
            Some(task) => Arc::clone(&task.tg),
            None => Arc::clone(&table.procs.get(&pid.get()).ok_or(Errno::ESRCH)?.tg),
        }
    };
    let (cur, max) = do_prlimit(t, &tg, resource, new)?;
    if let Some(old) = old {
        old.write(&t.mm(), &Rlimit { cur, max })?;
    }
    Ok(0)
}

/// getrlimit(resource, rlim).
pub fn getrlimit(t: &mut TaskCtx, resource: u32, rlim: UserPtr<Rlimit>) -> SysResult {
    let (cur, max) = do_prlimit(t, &t.task.tg, resource, None)?;
    rlim.write(&t.mm(), &Rlimit { cur, max })?;
    Ok(0)
}

/// setrlimit(resource, rlim): the limit is read first (EFAULT).
pub fn setrlimit(t: &mut TaskCtx, resource: u32, rlim: UserPtr<Rlimit>) -> SysResult {
    let new = rlim.read(&t.mm())?;
    do_prlimit(t, &t.task.tg, resource, Some(new))?;
    Ok(0)
}

/// arch_prctl(code, addr).
/// The address is an `unsigned long`: a value to set or a pointer to a
/// `u64` to fill, depending on `code`, so it stays raw here.
pub fn arch_prctl(t: &mut TaskCtx, code: i32, addr: u64) -> SysResult {
    const ARCH_SET_GS: i32 = 0x1001;
    const ARCH_SET_FS: i32 = 0x1002;
    const ARCH_GET_FS: i32 = 0x1003;
    const ARCH_GET_GS: i32 = 0x1004;
    match code {
        ARCH_SET_FS | ARCH_SET_GS => {
            if addr >= crate::mm::TASK_SIZE {
                return Err(Errno::EPERM.into());
            }
            if code == ARCH_SET_FS {
                t.ctx.fs_base = addr;
            } else {
                t.ctx.gs_base = addr;
            }
            Ok(0)
        }
        ARCH_GET_FS => {
            UserPtr::<u64>::new(addr).write(&t.mm(), &t.ctx.fs_base)?;
            Ok(0)
        }
        ARCH_GET_GS => {
            UserPtr::<u64>::new(addr).write(&t.mm(), &t.ctx.gs_base)?;
            Ok(0)
        }
        _ => Err(Errno::EINVAL.into()),
    }
}

/// sysinfo(info): uptime since the sandbox started, the memory cap as total
/// RAM, the number of tasks.
pub fn sysinfo(t: &mut TaskCtx, info: UserPtr<Sysinfo>) -> SysResult {
    let kernel = &t.task.kernel;
    let frames = kernel.machine.frames();
    let total = frames.data_limit_bytes();
    let free = total.saturating_sub(frames.data_bytes_in_use());
    let procs = kernel.table.lock().tasks.len() as u16;
    let si = Sysinfo {
        uptime: kernel.start.elapsed().as_secs() as i64,
        totalram: total,
        freeram: free,
        procs,
        mem_unit: 1,
        ..Sysinfo::default()
    };
    info.write(&t.mm(), &si)?;
    Ok(0)
}

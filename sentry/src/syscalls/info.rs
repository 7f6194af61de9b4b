//! Identity and environment: uname, getrandom, resource limits, CPU
//! affinity, arch_prctl, user and group ids.

use crate::abi::process::{Rlimit, Sysinfo, Utsname};
use crate::abi::{Pid, UserPtr, UserSlice};
use crate::errno::Errno;
use crate::kernel::task::{SysResult, TaskCtx};

/// The node name the guest sees.
pub const NODENAME: &str = "sandbox";

/// uname(buf).
pub fn uname(t: &mut TaskCtx, buf: UserPtr<Utsname>) -> SysResult {
    let fields = [
        "Linux",
        NODENAME,
        "6.18.0-sentry",
        "#1 SMP",
        "x86_64",
        "(none)",
    ];
    let u = Utsname {
        fields: fields.map(|f| f.as_bytes().to_vec()),
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
    let len = buf.len() as u64;
    let len = len.min(32 << 20) as usize;
    let mut data = vec![0u8; len];
    if !platform::host::random(&mut data) {
        return Err(Errno::EIO.into());
    }
    buf.prefix(len).write(&t.mm(), &data)?;
    Ok(len as u64)
}

const RLIM_INFINITY: u64 = u64::MAX;

/// The limits the sandbox reports (soft, hard).
fn limit(resource: u64) -> Option<(u64, u64)> {
    Some(match resource {
        0 | 1 | 4 | 5 | 9 | 10 => (RLIM_INFINITY, RLIM_INFINITY), // CPU FSIZE CORE? RSS AS LOCKS
        2 => (RLIM_INFINITY, RLIM_INFINITY),                      // DATA
        3 => (8 << 20, RLIM_INFINITY),                            // STACK
        6 => (63_704, 63_704),                                    // NPROC
        7 => (crate::fs::NOFILE as u64, crate::fs::NOFILE as u64), // NOFILE
        8 => (8 << 20, 8 << 20),                                  // MEMLOCK
        11 => (63_704, 63_704),                                   // SIGPENDING
        12 => (819_200, 819_200),                                 // MSGQUEUE
        13..=15 => (0, 0),                                        // NICE RTPRIO RTTIME
        _ => return None,
    })
}

/// prlimit64(pid, resource, new, old).
pub fn prlimit64(
    t: &mut TaskCtx,
    pid: Pid,
    resource: u32,
    new: Option<UserPtr<Rlimit>>,
    old: Option<UserPtr<Rlimit>>,
) -> SysResult {
    let (cur, max) = limit(u64::from(resource)).ok_or(Errno::EINVAL)?;
    if pid.get() != 0 && !t.task.kernel.table.lock().procs.contains_key(&pid.get()) {
        return Err(Errno::ESRCH.into());
    }
    if let Some(new) = new {
        let r = new.read(&t.mm())?;
        if r.cur > r.max {
            return Err(Errno::EINVAL.into());
        }
        // Limits are reported, not enforced, beyond the memory cap.
    }
    if let Some(old) = old {
        old.write(&t.mm(), &Rlimit { cur, max })?;
    }
    Ok(0)
}

/// getrlimit(resource, rlim).
pub fn getrlimit(t: &mut TaskCtx, resource: u32, rlim: UserPtr<Rlimit>) -> SysResult {
    let (cur, max) = limit(u64::from(resource)).ok_or(Errno::EINVAL)?;
    rlim.write(&t.mm(), &Rlimit { cur, max })?;
    Ok(0)
}

/// sched_getaffinity(pid, len, mask): `len` is an `unsigned int`.
pub fn sched_getaffinity(t: &mut TaskCtx, pid: Pid, len: u32, mask: UserSlice) -> SysResult {
    if pid.get() != 0 && !t.task.kernel.table.lock().tasks.contains_key(&pid.get()) {
        return Err(Errno::ESRCH.into());
    }
    if len < 8 || !len.is_multiple_of(8) {
        return Err(Errno::EINVAL.into());
    }
    let cpus = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(64);
    let bits: u64 = if cpus == 64 {
        u64::MAX
    } else {
        (1 << cpus) - 1
    };
    mask.write(&t.mm(), &bits.to_le_bytes())?;
    Ok(8)
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

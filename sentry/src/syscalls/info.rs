//! Identity and environment: uname, getrandom, resource limits, CPU
//! affinity, arch_prctl, user and group ids.

use crate::errno::Errno;
use crate::kernel::task::{SysResult, TaskCtx};

/// The node name the guest sees.
pub const NODENAME: &str = crate::kernel::limits::HOSTNAME;

/// uname(buf).
pub fn uname(t: &mut TaskCtx, buf: u64) -> SysResult {
    let mut b = [0u8; 65 * 6];
    let fields = [
        "Linux",
        NODENAME,
        crate::kernel::limits::RELEASE,
        crate::kernel::limits::VERSION,
        "x86_64",
        "(none)",
    ];
    for (i, f) in fields.iter().enumerate() {
        b[i * 65..i * 65 + f.len()].copy_from_slice(f.as_bytes());
    }
    t.mm().write(buf, &b)?;
    Ok(0)
}

/// getrandom(buf, len, flags).
pub fn getrandom(t: &mut TaskCtx, buf: u64, len: u64, flags: u64) -> SysResult {
    const GRND_NONBLOCK: u64 = 1;
    const GRND_RANDOM: u64 = 2;
    const GRND_INSECURE: u64 = 4;
    if flags & !(GRND_NONBLOCK | GRND_RANDOM | GRND_INSECURE) != 0
        || flags & (GRND_RANDOM | GRND_INSECURE) == GRND_RANDOM | GRND_INSECURE
    {
        return Err(Errno::EINVAL.into());
    }
    let len = len.min(32 << 20) as usize;
    let mut data = vec![0u8; len];
    if !platform::host::random(&mut data) {
        return Err(Errno::EIO.into());
    }
    t.mm().write(buf, &data)?;
    Ok(len as u64)
}

/// The limits the sandbox reports (soft, hard).
fn limit(resource: u64) -> Option<(u64, u64)> {
    crate::kernel::limits::limit(resource)
}

fn write_limit(t: &TaskCtx, addr: u64, (cur, max): (u64, u64)) -> Result<(), Errno> {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&cur.to_le_bytes());
    b[8..].copy_from_slice(&max.to_le_bytes());
    t.mm().write(addr, &b)
}

/// prlimit64(pid, resource, new, old).
pub fn prlimit64(t: &mut TaskCtx, pid: u64, resource: u64, new: u64, old: u64) -> SysResult {
    let l = limit(resource).ok_or(Errno::EINVAL)?;
    if pid != 0 && !t.task.kernel.table.lock().procs.contains_key(&(pid as i32)) {
        return Err(Errno::ESRCH.into());
    }
    if new != 0 {
        let mut b = [0u8; 16];
        t.mm().read(new, &mut b)?;
        let cur = u64::from_le_bytes(b[..8].try_into().expect("8 bytes"));
        let max = u64::from_le_bytes(b[8..].try_into().expect("8 bytes"));
        if cur > max {
            return Err(Errno::EINVAL.into());
        }
        // Limits are reported, not enforced, beyond the memory cap.
    }
    if old != 0 {
        write_limit(t, old, l)?;
    }
    Ok(0)
}

/// getrlimit(resource, rlim).
pub fn getrlimit(t: &mut TaskCtx, resource: u64, rlim: u64) -> SysResult {
    let l = limit(resource).ok_or(Errno::EINVAL)?;
    write_limit(t, rlim, l)?;
    Ok(0)
}

/// sched_getaffinity(pid, len, mask).
pub fn sched_getaffinity(t: &mut TaskCtx, pid: u64, len: u64, mask: u64) -> SysResult {
    if pid != 0 && !t.task.kernel.table.lock().tasks.contains_key(&(pid as i32)) {
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
    t.mm().write(mask, &bits.to_le_bytes())?;
    Ok(8)
}

/// arch_prctl(code, addr).
pub fn arch_prctl(t: &mut TaskCtx, code: u64, addr: u64) -> SysResult {
    const ARCH_SET_GS: u64 = 0x1001;
    const ARCH_SET_FS: u64 = 0x1002;
    const ARCH_GET_FS: u64 = 0x1003;
    const ARCH_GET_GS: u64 = 0x1004;
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
            t.mm().write_u64(addr, t.ctx.fs_base)?;
            Ok(0)
        }
        ARCH_GET_GS => {
            t.mm().write_u64(addr, t.ctx.gs_base)?;
            Ok(0)
        }
        _ => Err(Errno::EINVAL.into()),
    }
}

/// sysinfo(info): uptime since the sandbox started, the memory cap as total
/// RAM, the number of tasks.
pub fn sysinfo(t: &mut TaskCtx, info: u64) -> SysResult {
    let kernel = &t.task.kernel;
    let frames = kernel.machine.frames();
    let total = frames.data_limit_bytes();
    let free = total.saturating_sub(frames.data_bytes_in_use());
    let procs = kernel.table.lock().tasks.len() as u16;
    let mut b = [0u8; 112];
    b[0..8].copy_from_slice(&kernel.start.elapsed().as_secs().to_le_bytes());
    b[32..40].copy_from_slice(&total.to_le_bytes());
    b[40..48].copy_from_slice(&free.to_le_bytes());
    b[80..82].copy_from_slice(&procs.to_le_bytes());
    b[104..108].copy_from_slice(&1u32.to_le_bytes()); // mem_unit
    t.mm().write(info, &b)?;
    Ok(0)
}

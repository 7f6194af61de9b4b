//! Scheduling and identity calls: getpriority/setpriority, the
//! sched_{get,set}{scheduler,param} family and sched_get_priority_min/max,
//! sched_setattr/getattr, sched_setaffinity/getaffinity (over the
//! sandbox's vCPUs), getcpu, sched_rr_get_interval, ioprio_get/set,
//! getrusage and times, getgroups, and prctl's PR_SET_NAME and
//! PR_GET_NAME. The values live in each task's
//! [`SchedAttrs`](crate::kernel::sched::SchedAttrs), per thread as in
//! Linux, and follow Linux's argument checks, errnos and inheritance; the
//! host scheduler does not see them. Every guest process is root, so no
//! change is refused for want of privilege.

use std::sync::Arc;

use crate::errno::Errno;
use crate::kernel::Kernel;
use crate::kernel::sched::{self as ks, IOPRIO_CLASS_SHIFT, Times};
use crate::kernel::task::{SysResult, Task, TaskCtx};

const PRIO_PROCESS: i32 = 0;
const PRIO_PGRP: i32 = 1;
const PRIO_USER: i32 = 2;

// IOPRIO_WHO_PROCESS, _PGRP and _USER are PRIO_* + 1.
const IOPRIO_WHO_PROCESS: i32 = 1;
const IOPRIO_WHO_USER: i32 = 3;

const SCHED_RESET_ON_FORK: u32 = 0x4000_0000;

/// The tasks `which`/`who` name (Linux's PRIO_* and IOPRIO_WHO_* share the
/// meaning): one thread by tid (0: the caller), every thread of a process
/// group (0: the caller's), or every thread of a user (0: the caller's;
/// every guest task is uid 0).
fn targets(t: &TaskCtx, kind: i32, who: i32) -> Vec<Arc<Task>> {
    let kernel: &Kernel = &t.task.kernel;
    let table = kernel.table.lock();
    match kind {
        PRIO_PROCESS if who == 0 => vec![Arc::clone(&t.task)],
        PRIO_PROCESS => table.tasks.get(&who).cloned().into_iter().collect(),
        PRIO_PGRP => {
            let pgid = if who == 0 {
                table.procs.get(&t.task.tgid()).map_or(0, |p| p.pgid)
            } else {
                who
            };
            table
                .procs
                .values()
                .filter(|p| p.pgid == pgid)
                .flat_map(|p| p.tg.threads.lock().clone())
                .collect()
        }
        _ if who == 0 => table.tasks.values().cloned().collect(),
        _ => Vec::new(),
    }
}

/// getpriority(which, who): the highest priority (lowest nice) among the
/// tasks named, as `20 - nice` (1..=40), or ESRCH.
pub fn getpriority(t: &mut TaskCtx, which: u64, who: u64) -> SysResult {
    let which = which as i32;
    if !(PRIO_PROCESS..=PRIO_USER).contains(&which) {
        return Err(Errno::EINVAL.into());
    }
    targets(t, which, who as i32)
        .iter()
        .map(|task| (20 - task.sched.get().nice) as u64)
        .max()
        .ok_or_else(|| Errno::ESRCH.into())
}

/// setpriority(which, who, niceval): the nice value, clamped to -20..=19,
/// for every task named, or ESRCH.
pub fn setpriority(t: &mut TaskCtx, which: u64, who: u64, niceval: u64) -> SysResult {
    let which = which as i32;
    if !(PRIO_PROCESS..=PRIO_USER).contains(&which) {
        return Err(Errno::EINVAL.into());
    }
    let nice = (niceval as i32).clamp(ks::MIN_NICE, ks::MAX_NICE);
    let tasks = targets(t, which, who as i32);
    if tasks.is_empty() {
        return Err(Errno::ESRCH.into());
    }
    for task in tasks {
        task.sched.update(|a| a.nice = nice);
    }
    Ok(0)
}

/// sched_get_priority_max(policy).
pub fn sched_get_priority_max(_t: &mut TaskCtx, policy: u64) -> SysResult {
    match policy as i32 as u32 {
        ks::SCHED_FIFO | ks::SCHED_RR => Ok(99),
        ks::SCHED_OTHER | ks::SCHED_BATCH | ks::SCHED_IDLE | ks::SCHED_DEADLINE | ks::SCHED_EXT => {
            Ok(0)
        }
        _ => Err(Errno::EINVAL.into()),
    }
}

/// sched_get_priority_min(policy).
pub fn sched_get_priority_min(_t: &mut TaskCtx, policy: u64) -> SysResult {
    match policy as i32 as u32 {
        ks::SCHED_FIFO | ks::SCHED_RR => Ok(1),
        ks::SCHED_OTHER | ks::SCHED_BATCH | ks::SCHED_IDLE | ks::SCHED_DEADLINE | ks::SCHED_EXT => {
            Ok(0)
        }
        _ => Err(Errno::EINVAL.into()),
    }
}

/// The one task a sched_* call names: EINVAL for a negative pid, ESRCH
/// for none.
fn one_task(t: &TaskCtx, pid: u64) -> Result<Arc<Task>, Errno> {
    let pid = pid as i32;
    if pid < 0 {
        return Err(Errno::EINVAL);
    }
    targets(t, PRIO_PROCESS, pid).pop().ok_or(Errno::ESRCH)
}

/// sched_getscheduler(pid): the policy, with SCHED_RESET_ON_FORK.
pub fn sched_getscheduler(t: &mut TaskCtx, pid: u64) -> SysResult {
    let a = one_task(t, pid)?.sched.get();
    let flag = if a.reset_on_fork {
        SCHED_RESET_ON_FORK
    } else {
        0
    };
    Ok((a.policy | flag) as u64)
}

/// sched_getparam(pid, param).
pub fn sched_getparam(t: &mut TaskCtx, pid: u64, param: u64) -> SysResult {
    if param == 0 || (pid as i32) < 0 {
        return Err(Errno::EINVAL.into());
    }
    let a = one_task(t, pid)?.sched.get();
    let prio = if a.is_rt() { a.rt_priority } else { 0 };
    t.mm().write_u32(param, prio)?;
    Ok(0)
}

/// Checks a policy and priority as Linux's `__sched_setscheduler` does.
fn valid(policy: u32, prio: u32) -> bool {
    match policy {
        ks::SCHED_FIFO | ks::SCHED_RR => (1..=99).contains(&prio),
        ks::SCHED_OTHER | ks::SCHED_BATCH | ks::SCHED_IDLE => prio == 0,
        // SCHED_DEADLINE needs sched_setattr's runtime and period;
        // SCHED_EXT a loaded BPF scheduler.
        _ => false,
    }
}

/// sched_setscheduler(pid, policy, param).
pub fn sched_setscheduler(t: &mut TaskCtx, pid: u64, policy: u64, param: u64) -> SysResult {
    let policy = policy as i32;
    if param == 0 || (pid as i32) < 0 || policy < 0 {
        return Err(Errno::EINVAL.into());
    }
    let prio = t.mm().read_u32(param)?;
    let task = one_task(t, pid)?;
    let reset = policy as u32 & SCHED_RESET_ON_FORK != 0;
    let policy = policy as u32 & !SCHED_RESET_ON_FORK;
    if !valid(policy, prio) {
        return Err(Errno::EINVAL.into());
    }
    task.sched.update(|a| {
        a.policy = policy;
        a.rt_priority = prio;
        a.reset_on_fork = reset;
    });
    Ok(0)
}

/// sched_setparam(pid, param): the priority under the current policy.
pub fn sched_setparam(t: &mut TaskCtx, pid: u64, param: u64) -> SysResult {
    if param == 0 || (pid as i32) < 0 {
        return Err(Errno::EINVAL.into());
    }
    let prio = t.mm().read_u32(param)?;
    let task = one_task(t, pid)?;
    task.sched.update(|a| {
        if valid(a.policy, prio) {
            a.rt_priority = prio;
            Ok(0)
        } else {
            Err(Errno::EINVAL.into())
        }
    })
}

/// ioprio_set(which, who, ioprio), with Linux's `ioprio_check_cap`.
pub fn ioprio_set(t: &mut TaskCtx, which: u64, who: u64, ioprio: u64) -> SysResult {
    let ioprio = ioprio as i32;
    let class = (ioprio >> IOPRIO_CLASS_SHIFT) & 7;
    let level = ioprio & 7;
    match class as u16 {
        ks::IOPRIO_CLASS_RT | ks::IOPRIO_CLASS_BE | ks::IOPRIO_CLASS_IDLE => {}
        ks::IOPRIO_CLASS_NONE if level == 0 => {}
        _ => return Err(Errno::EINVAL.into()),
    }
    let which = which as i32;
    if !(IOPRIO_WHO_PROCESS..=IOPRIO_WHO_USER).contains(&which) {
        return Err(Errno::EINVAL.into());
    }
    let tasks = targets(t, which - IOPRIO_WHO_PROCESS, who as i32);
    if tasks.is_empty() {
        return Err(Errno::ESRCH.into());
    }
    for task in tasks {
        // Linux keeps it in an unsigned short.
        task.sched.update(|a| a.ioprio = ioprio as u16);
    }
    Ok(0)
}

/// ioprio_get(which, who): for one task what ioprio_set stored (0 if
/// never), for a group or user the best (lowest) effective priority.
pub fn ioprio_get(t: &mut TaskCtx, which: u64, who: u64) -> SysResult {
    let which = which as i32;
    if !(IOPRIO_WHO_PROCESS..=IOPRIO_WHO_USER).contains(&which) {
        return Err(Errno::EINVAL.into());
    }
    let tasks = targets(t, which - IOPRIO_WHO_PROCESS, who as i32);
    let best = if which == IOPRIO_WHO_PROCESS {
        tasks.first().map(|task| task.sched.get().ioprio)
    } else {
        tasks
            .iter()
            .map(|task| task.sched.get().effective_ioprio())
            .min()
    };
    best.map(u64::from).ok_or_else(|| Errno::ESRCH.into())
}

/// The calling process's CPU time: this thread's now, the other live
/// threads' as of their last sample, the exited threads'.
fn self_times(t: &TaskCtx) -> Times {
    let own = t.task.sched.cpu.sample();
    // Exited threads are added to `dead` under this lock.
    let threads = t.task.tg.threads.lock();
    threads
        .iter()
        .filter(|o| o.tid != t.task.tid)
        .fold(t.task.tg.times.dead() + own, |acc, o| {
            acc + o.sched.cpu.last()
        })
}

/// times(buf): the process's and its waited-for children's user and
/// system time in clock ticks (100 a second); returns the ticks since the
/// sandbox started (Linux: since an arbitrary point in the past).
pub fn times(t: &mut TaskCtx, buf: u64) -> SysResult {
    const NS_PER_TICK: u64 = 10_000_000;
    if buf != 0 {
        let own = self_times(t);
        let children = t.task.tg.times.children();
        let mut tms = [0u8; 32];
        for (i, ns) in [own.user, own.sys, children.user, children.sys]
            .into_iter()
            .enumerate()
        {
            tms[i * 8..i * 8 + 8].copy_from_slice(&(ns / NS_PER_TICK).to_le_bytes());
        }
        t.mm().write(buf, &tms)?;
    }
    Ok(t.task.kernel.start.elapsed().as_nanos() as u64 / NS_PER_TICK)
}

/// getrusage(who, usage): RUSAGE_SELF, RUSAGE_CHILDREN or RUSAGE_THREAD,
/// with real user and system times (the host time of the workers that ran
/// the tasks: guest code counts as user time). The other fields (maxrss,
/// faults, context switches...) are 0: the sentry does not count them.
pub fn getrusage(t: &mut TaskCtx, who: u64, usage: u64) -> SysResult {
    const RUSAGE_SELF: i32 = 0;
    const RUSAGE_CHILDREN: i32 = -1;
    const RUSAGE_THREAD: i32 = 1;
    let times = match who as i32 {
        RUSAGE_THREAD => t.task.sched.cpu.sample(),
        RUSAGE_SELF => self_times(t),
        RUSAGE_CHILDREN => t.task.tg.times.children(),
        _ => return Err(Errno::EINVAL.into()),
    };
    let mut ru = [0u8; 144];
    let timeval = |ns: u64| {
        let mut b = [0u8; 16];
        b[..8].copy_from_slice(&(ns / 1_000_000_000).to_le_bytes());
        b[8..].copy_from_slice(&(ns % 1_000_000_000 / 1000).to_le_bytes());
        b
    };
    ru[..16].copy_from_slice(&timeval(times.user));
    ru[16..32].copy_from_slice(&timeval(times.sys));
    t.mm().write(usage, &ru)?;
    Ok(0)
}

/// prctl: PR_SET_NAME and PR_GET_NAME here (the task's `comm`), every
/// other option in [`super::process::prctl`].
pub fn prctl(t: &mut TaskCtx, a: [u64; 6]) -> SysResult {
    const PR_SET_NAME: u64 = 15;
    const PR_GET_NAME: u64 = 16;
    match a[0] as i32 as u64 {
        PR_SET_NAME => {
            // strncpy_from_user of at most 15 bytes: a fault before the
            // NUL or the 15th byte is EFAULT.
            let mm = t.mm();
            let mut name = Vec::new();
            for i in 0..(ks::TASK_COMM_LEN - 1) as u64 {
                let mut b = [0u8];
                mm.read(a[1].wrapping_add(i), &mut b)?;
                if b[0] == 0 {
                    break;
                }
                name.push(b[0]);
            }
            t.task.set_comm(&name);
            Ok(0)
        }
        PR_GET_NAME => {
            let comm = t.task.sched.get().comm;
            t.mm().write(a[1], &comm)?;
            Ok(0)
        }
        _ => super::process::prctl(t, a[0] as i32, a[1]),
    }
}

/// The sandbox's CPUs as a mask (bit n: vCPU n; at most 64).
fn all_cpus() -> u64 {
    let n = crate::fs::proc::view::vcpus();
    if n >= 64 { u64::MAX } else { (1u64 << n) - 1 }
}

/// The size of Linux's `cpumask_t` for the sandbox's CPUs: whole longs.
const CPUMASK_SIZE: u32 = 8;

/// A task's allowed CPUs.
fn affinity_of(task: &Task) -> u64 {
    match task.sched.get().affinity {
        0 => all_cpus(),
        m => m,
    }
}

/// sched_setaffinity(pid, len, mask): the CPUs the task may run on, kept
/// per thread and inherited (the host scheduler does not see them). As
/// Linux: a shorter mask is zero-extended, a longer one cut (EFAULT if it
/// cannot be read), ESRCH for no such task, EINVAL when no CPU of the
/// sandbox is left.
pub fn sched_setaffinity(t: &mut TaskCtx, pid: u64, len: u64, mask: u64) -> SysResult {
    let len = (len as u32).min(CPUMASK_SIZE) as usize;
    let mut bytes = [0u8; 8];
    t.mm().read(mask, &mut bytes[..len])?;
    let task = one_task(t, pid).map_err(|_| Errno::ESRCH)?;
    let m = u64::from_le_bytes(bytes) & all_cpus();
    if m == 0 {
        return Err(Errno::EINVAL.into());
    }
    task.sched.update(|a| a.affinity = m);
    // Its worker thread moves to the allowed CPUs before the task runs
    // guest code again (kernel::cpus::follow): at once for the caller,
    // at its next trap for another task.
    if !Arc::ptr_eq(&task, &t.task) {
        task.kick();
    }
    Ok(0)
}

/// sched_getaffinity(pid, len, mask): the task's CPUs; returns the bytes
/// written (the size of a cpumask, or `len` if smaller). EINVAL when
/// `len` cannot hold every CPU or is not a multiple of a long.
pub fn sched_getaffinity(t: &mut TaskCtx, pid: u64, len: u64, mask: u64) -> SysResult {
    let len = len as u32;
    let ncpu = crate::fs::proc::view::vcpus() as u32;
    if len.saturating_mul(8) < ncpu || !len.is_multiple_of(8) {
        return Err(Errno::EINVAL.into());
    }
    let task = one_task(t, pid).map_err(|_| Errno::ESRCH)?;
    let n = len.min(CPUMASK_SIZE);
    t.mm()
        .write(mask, &affinity_of(&task).to_le_bytes()[..n as usize])?;
    Ok(n as u64)
}

/// getcpu(cpu, node, tcache): the sandbox CPU the thread runs on now
/// (its worker's host CPU, as the vDSO's getcpu maps it, see
/// kernel::cpus), node 0; the lowest allowed CPU if the host CPU is not
/// one of the sandbox's.
pub fn getcpu(t: &mut TaskCtx, cpu: u64, node: u64) -> SysResult {
    let mm = t.mm();
    if cpu != 0 {
        mm.write_u32(cpu, current_cpu(&t.task))?;
    }
    if node != 0 {
        mm.write_u32(node, 0)?;
    }
    Ok(0)
}

/// The sandbox CPU `task` (the caller) runs on: its worker's, if allowed
/// (always, once kernel::cpus::follow pinned it), else the lowest allowed.
pub fn current_cpu(task: &Task) -> u32 {
    let allowed = affinity_of(task);
    let cpu = match crate::kernel::cpus::current() {
        Some(c) if c < 64 && allowed & (1 << c) != 0 => c,
        _ => allowed.trailing_zeros(),
    };
    task.sched
        .last_cpu
        .store(cpu, std::sync::atomic::Ordering::Relaxed);
    cpu
}

/// sched_rr_get_interval(pid, tp): SCHED_RR's time slice (Linux's
/// RR_TIMESLICE, 100 ms), 0 for SCHED_FIFO, and for the fair policies the
/// base slice in whole milliseconds (Linux: jiffies of it, 0 on an idle
/// CPU).
pub fn sched_rr_get_interval(t: &mut TaskCtx, pid: u64, tp: u64) -> SysResult {
    if (pid as i32) < 0 {
        return Err(Errno::EINVAL.into());
    }
    let a = one_task(t, pid)?.sched.get();
    let ns: u64 = match a.policy {
        ks::SCHED_RR => 100_000_000,
        ks::SCHED_FIFO => 0,
        _ => base_slice() / 1_000_000 * 1_000_000,
    };
    let mut ts = [0u8; 16];
    ts[..8].copy_from_slice(&(ns / 1_000_000_000).to_le_bytes());
    ts[8..].copy_from_slice(&(ns % 1_000_000_000).to_le_bytes());
    t.mm().write(tp, &ts)?;
    Ok(0)
}

/// The fair class's base slice as Linux scales it: 0.75 ms times
/// 1 + log2(CPUs, at most 8).
fn base_slice() -> u64 {
    let cpus = crate::fs::proc::view::vcpus().clamp(1, 8) as u64;
    750_000 * (1 + u64::from(cpus.ilog2()))
}

const SCHED_ATTR_SIZE_VER0: u32 = 48;
/// Linux's `struct sched_attr` today (with the utilization clamps).
const SCHED_ATTR_SIZE: u32 = 56;
const SCHED_FLAG_RESET_ON_FORK: u64 = 0x01;
const SCHED_FLAG_KEEP_POLICY: u64 = 0x08;
const SCHED_FLAG_KEEP_PARAMS: u64 = 0x10;
const SCHED_FLAG_UTIL_CLAMP: u64 = 0x60;
const SCHED_FLAG_ALL: u64 = 0x7f;

/// sched_setattr(pid, attr, flags): policy, flags, nice and priority
/// from a `struct sched_attr`, with Linux's checks: its size (0 means the
/// first version; shorter than that, longer than a page, or longer than
/// Linux's with non-zero bytes past it is E2BIG with Linux's size written
/// back), the flags, the policy and the priority (EINVAL). SCHED_DEADLINE
/// is refused (EINVAL: the sandbox has no deadline class) as SCHED_EXT is.
/// The utilization clamps are accepted and not kept.
pub fn sched_setattr(t: &mut TaskCtx, pid: u64, uattr: u64, flags: u64) -> SysResult {
    if uattr == 0 || (pid as i32) < 0 || flags as u32 != 0 {
        return Err(Errno::EINVAL.into());
    }
    let mm = t.mm();
    let mut size = mm.read_u32(uattr)?;
    if size == 0 {
        size = SCHED_ATTR_SIZE_VER0;
    }
    let e2big = |mm: &crate::mm::AddressSpace| -> SysResult {
        mm.write_u32(uattr, SCHED_ATTR_SIZE)?;
        Err(Errno::E2BIG.into())
    };
    if !(SCHED_ATTR_SIZE_VER0..=4096).contains(&size) {
        return e2big(&mm);
    }
    let mut raw = vec![0u8; size as usize];
    mm.read(uattr, &mut raw)?;
    if raw.len() > SCHED_ATTR_SIZE as usize
        && raw[SCHED_ATTR_SIZE as usize..].iter().any(|&b| b != 0)
    {
        return e2big(&mm);
    }
    raw.resize(raw.len().max(SCHED_ATTR_SIZE as usize), 0);
    let u32_at = |o: usize| u32::from_le_bytes(raw[o..o + 4].try_into().unwrap_or_default());
    let policy = u32_at(4) as i32;
    let sched_flags = u64::from_le_bytes(raw[8..16].try_into().unwrap_or_default());
    let nice = (u32_at(16) as i32).clamp(ks::MIN_NICE, ks::MAX_NICE);
    let prio = u32_at(20);
    if sched_flags & SCHED_FLAG_UTIL_CLAMP != 0 && size < SCHED_ATTR_SIZE {
        return Err(Errno::EINVAL.into());
    }
    if policy < 0 {
        return Err(Errno::EINVAL.into());
    }
    let task = one_task(t, pid)?;
    task.sched.update(|a| {
        // KEEP_POLICY keeps the policy and its SCHED_RESET_ON_FORK.
        let keep = sched_flags & SCHED_FLAG_KEEP_POLICY != 0;
        let policy = if keep { a.policy } else { policy as u32 };
        let reset = if keep {
            a.reset_on_fork
        } else {
            sched_flags & SCHED_FLAG_RESET_ON_FORK != 0
        };
        let (nice, prio) = if sched_flags & SCHED_FLAG_KEEP_PARAMS != 0 {
            (a.nice, if a.is_rt() { a.rt_priority } else { 0 })
        } else {
            (nice, prio)
        };
        // __sched_setscheduler's order: the policy, the flags, then the
        // priority for the policy.
        let known = matches!(
            policy,
            ks::SCHED_OTHER | ks::SCHED_FIFO | ks::SCHED_RR | ks::SCHED_BATCH | ks::SCHED_IDLE
        );
        if !known && policy != ks::SCHED_DEADLINE && policy != ks::SCHED_EXT {
            return Err(Errno::EINVAL.into());
        }
        if sched_flags & !SCHED_FLAG_ALL != 0 || prio > 99 {
            return Err(Errno::EINVAL.into());
        }
        if !known || !valid(policy, prio) {
            return Err(Errno::EINVAL.into());
        }
        a.policy = policy;
        a.rt_priority = prio;
        a.reset_on_fork = reset;
        if matches!(policy, ks::SCHED_OTHER | ks::SCHED_BATCH) {
            a.nice = nice;
        }
        Ok(0)
    })
}

/// sched_getattr(pid, attr, size, flags): the task's `struct sched_attr`,
/// cut to `size` (which must be 48..=4096, else EINVAL), with `size` set
/// to Linux's struct size (at most `size`); bytes past it are zeroed.
/// The utilization clamps read 0 (as on a host without
/// CONFIG_UCLAMP_TASK).
pub fn sched_getattr(t: &mut TaskCtx, pid: u64, uattr: u64, usize: u64, flags: u64) -> SysResult {
    let usize = usize as u32;
    if uattr == 0
        || (pid as i32) < 0
        || !(SCHED_ATTR_SIZE_VER0..=4096).contains(&usize)
        || flags as u32 != 0
    {
        return Err(Errno::EINVAL.into());
    }
    let a = one_task(t, pid)?.sched.get();
    let size = usize.min(SCHED_ATTR_SIZE);
    let mut k = [0u8; SCHED_ATTR_SIZE as usize];
    k[0..4].copy_from_slice(&size.to_le_bytes());
    k[4..8].copy_from_slice(&a.policy.to_le_bytes());
    let fl = if a.reset_on_fork {
        SCHED_FLAG_RESET_ON_FORK
    } else {
        0
    };
    k[8..16].copy_from_slice(&fl.to_le_bytes());
    if a.is_rt() {
        k[20..24].copy_from_slice(&a.rt_priority.to_le_bytes());
    } else {
        k[16..20].copy_from_slice(&a.nice.to_le_bytes());
        // sched_runtime: the fair class's slice.
        k[24..32].copy_from_slice(&base_slice().to_le_bytes());
    }
    // Linux's copy_struct_to_user: zeroes past its struct, up to `usize`.
    let mut out = k.to_vec();
    out.resize(usize as usize, 0);
    t.mm().write(uattr, &out)?;
    Ok(0)
}

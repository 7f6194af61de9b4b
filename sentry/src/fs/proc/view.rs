//! Snapshots of the sentry's own kernel state for /proc: a [`TaskView`]
//! of a process or thread (taken under the kernel's locks, in their
//! order), and a [`SystemView`] of the sandbox. Nothing here reads the
//! host's /proc.

use std::sync::Arc;

use crate::kernel::signal::{self, SigSet};
use crate::kernel::task::Task;
use crate::kernel::{Kernel, ThreadGroup};

/// What /proc shows of one process (or, in `task/<tid>`, one thread).
#[derive(Clone, Debug, Default)]
pub struct TaskView {
    /// The pid (a process directory) or tid (a thread directory).
    pub pid: i32,
    /// Thread group id.
    pub tgid: i32,
    /// Parent's pid (0 for the sandbox's init).
    pub ppid: i32,
    /// Process group.
    pub pgid: i32,
    /// Session.
    pub sid: i32,
    /// The command name (at most 15 bytes).
    pub comm: String,
    /// R, S, T or Z.
    pub state: char,
    /// Tids of the live threads.
    pub threads: Vec<i32>,
    /// The umask (None for a zombie).
    pub umask: Option<u32>,
    /// Signals pending for this thread (the leader's, for a process).
    pub pending: u64,
    /// Signals pending for the process.
    pub shared_pending: u64,
    /// Blocked signals.
    pub blocked: u64,
    /// Ignored signals.
    pub ignored: u64,
    /// Signals with a handler.
    pub caught: u64,
    /// Signals queued (SigQ).
    pub queued: u32,
    /// Signal sent to the parent on exit.
    pub exit_signal: i32,
    /// The sandbox CPU the thread last ran on.
    pub processor: u32,
    /// User and system time (the thread's, or the whole process's), and
    /// the waited-for children's.
    pub times: crate::kernel::sched::Times,
    /// The waited-for children's user and system time.
    pub child_times: crate::kernel::sched::Times,
    /// A zombie's wait status (0 while alive).
    pub exit_code: i32,
    /// Start time, in clock ticks since the sandbox started.
    pub start_ticks: u64,
    /// Size of the descriptor table (FDSize).
    pub fd_size: usize,
    /// The thread's credentials (root's for a zombie).
    pub creds: crate::kernel::creds::Creds,
}

/// A process or thread found in the sandbox's tables, with what its
/// files and memory are (kept out of [`TaskView`] so the text
/// functions stay plain).
pub struct Found {
    /// The plain view.
    pub view: TaskView,
    /// The process.
    pub tg: Arc<ThreadGroup>,
    /// The thread (the leader, or the first live thread, for a process);
    /// None once every thread is gone (a zombie).
    pub task: Option<Arc<Task>>,
}

/// The command name Linux keeps (`comm`): the last component of the
/// program's path, at most 15 bytes.
pub fn comm_of(exe: &[u8]) -> String {
    let base = exe.rsplit(|c| *c == b'/').next().unwrap_or(exe);
    String::from_utf8_lossy(&base[..base.len().min(15)]).into_owned()
}

/// The state letter of `task` in `tg`.
fn state_of(tg: &ThreadGroup, task: Option<&Task>) -> char {
    if tg.zombie_status().is_some() {
        return 'Z';
    }
    let Some(task) = task else {
        return 'Z';
    };
    if *tg.stopped.lock() {
        'T'
    } else if task.waiter.is_sleeping() {
        'S'
    } else {
        'R'
    }
}

/// Looks up `pid` (a tgid, or with `thread` a tid of process `tgid`).
/// `None` when the sandbox has no such process or thread (reaped ones
/// are gone, zombies stay).
pub fn find(kernel: &Arc<Kernel>, pid: i32, thread: Option<i32>) -> Option<Found> {
    let table = kernel.table.lock();
    // A process directory; a thread's tid also names its process, as
    // /proc/<tid> does on Linux (without being listed).
    let (tgid, shown) = match thread {
        Some(tid) => (pid, tid),
        None => match table.procs.get(&pid) {
            Some(_) => (pid, pid),
            None => (table.tasks.get(&pid)?.tgid(), pid),
        },
    };
    let p = table.procs.get(&tgid)?;
    let tg = Arc::clone(&p.tg);
    let threads: Vec<Arc<Task>> = tg.threads.lock().clone();
    let task = threads
        .iter()
        .find(|t| t.tid == shown)
        .or_else(|| threads.first())
        .cloned();
    if thread.is_some() && task.as_ref().is_none_or(|t| t.tid != shown) {
        // A thread directory of a thread that is gone: only a zombie's
        // leader stays.
        if !(shown == tgid && tg.zombie_status().is_some()) {
            return None;
        }
    }
    let mut v = TaskView {
        pid: shown,
        tgid,
        ppid: p.parent,
        pgid: p.pgid,
        sid: p.sid,
        exit_signal: p.exit_signal,
        threads: threads.iter().map(|t| t.tid).collect(),
        exit_code: tg.zombie_status().unwrap_or(0),
        ..Default::default()
    };
    drop(table);
    v.state = state_of(&tg, task.as_deref());
    v.shared_pending = tg.shared_pending.lock().set().0;
    if let Some(t) = &task {
        {
            let s = t.sig.lock();
            v.pending = s.pending.set().0;
            v.blocked = s.blocked.0;
        }
        v.start_ticks = t
            .started
            .saturating_duration_since(kernel.start)
            .as_millis() as u64
            * super::text::HZ
            / 1000;
        v.processor = t.sched.last_cpu.load(std::sync::atomic::Ordering::Relaxed);
        // As Linux: a thread directory shows the thread's time, a process
        // directory the whole group's (live threads as of their last
        // sample, plus the exited ones).
        v.times = if thread.is_some() {
            t.sched.cpu.last()
        } else {
            threads
                .iter()
                .fold(tg.times.dead(), |acc, t| acc + t.sched.cpu.last())
        };
        v.child_times = tg.times.children();
        v.umask = Some(t.fs.lock().umask);
        v.creds = t.ident.creds();
        let comm = t.comm();
        v.comm = if comm.is_empty() {
            let mm = t.mm.lock().clone();
            comm_of(&mm.map(|m| m.exe()).unwrap_or_default())
        } else {
            String::from_utf8_lossy(&comm).into_owned()
        };
        let files = t.files.lock().clone();
        let highest = files.entries().last().map_or(0, |e| e.0 as usize + 1);
        v.fd_size = highest.next_power_of_two().max(64);
    }
    if task.is_none() {
        v.comm = String::from_utf8_lossy(&tg.leader_comm.lock()).into_owned();
    }
    v.queued = (SigSet(v.pending).0 | v.shared_pending).count_ones();
    let mut handlers = *tg.handlers().lock();
    for (i, a) in handlers.iter_mut().enumerate() {
        if a.handler == signal::SIG_IGN {
            v.ignored |= 1 << i;
        } else if a.handler != signal::SIG_DFL {
            v.caught |= 1 << i;
        }
    }
    Some(Found { view: v, tg, task })
}

/// The CPU as CPUID describes it inside the guest (its vCPUs run the
/// host's CPU model).
#[derive(Clone, Debug, Default)]
pub struct CpuView {
    /// `GenuineIntel`, `AuthenticAMD`, ...
    pub vendor: String,
    /// Family, model, stepping (display values).
    pub family: u32,
    /// Model.
    pub model: u32,
    /// Stepping.
    pub stepping: u32,
    /// The brand string.
    pub model_name: String,
    /// Highest standard leaf.
    pub max_leaf: u32,
    /// Feature flags (Linux's names for the common ones).
    pub flags: Vec<&'static str>,
    /// Nominal frequency, MHz (0 when CPUID does not say).
    pub mhz: f64,
    /// Physical and virtual address bits.
    pub phys_bits: u32,
    /// Virtual address bits.
    pub virt_bits: u32,
}

impl CpuView {
    /// Reads CPUID (what the guest's CPUID shows: KVM passes the host's
    /// model through).
    pub fn probe() -> Self {
        use std::arch::x86_64::{__cpuid, __cpuid_count};
        let l0 = __cpuid(0);
        let mut vendor = Vec::new();
        for r in [l0.ebx, l0.edx, l0.ecx] {
            vendor.extend_from_slice(&r.to_le_bytes());
        }
        let l1 = __cpuid(1);
        let base_family = (l1.eax >> 8) & 0xf;
        let family = if base_family == 0xf {
            base_family + ((l1.eax >> 20) & 0xff)
        } else {
            base_family
        };
        let mut model = (l1.eax >> 4) & 0xf;
        if base_family == 0x6 || base_family == 0xf {
            model |= ((l1.eax >> 16) & 0xf) << 4;
        }
        let ext = __cpuid(0x8000_0000).eax;
        let mut name = Vec::new();
        if ext >= 0x8000_0004 {
            for leaf in 0x8000_0002..=0x8000_0004u32 {
                let r = __cpuid(leaf);
                for x in [r.eax, r.ebx, r.ecx, r.edx] {
                    name.extend_from_slice(&x.to_le_bytes());
                }
            }
        }
        let (phys_bits, virt_bits) = if ext >= 0x8000_0008 {
            let r = __cpuid(0x8000_0008);
            (r.eax & 0xff, (r.eax >> 8) & 0xff)
        } else {
            (36, 48)
        };
        let mut flags = Vec::new();
        let edx_names: [(u32, &str); 12] = [
            (0, "fpu"),
            (4, "tsc"),
            (5, "msr"),
            (6, "pae"),
            (8, "cx8"),
            (15, "cmov"),
            (19, "clflush"),
            (23, "mmx"),
            (24, "fxsr"),
            (25, "sse"),
            (26, "sse2"),
            (28, "ht"),
        ];
        for (bit, n) in edx_names {
            if l1.edx & (1 << bit) != 0 {
                flags.push(n);
            }
        }
        let ecx_names: [(u32, &str); 13] = [
            (0, "pni"),
            (1, "pclmulqdq"),
            (9, "ssse3"),
            (12, "fma"),
            (13, "cx16"),
            (19, "sse4_1"),
            (20, "sse4_2"),
            (22, "movbe"),
            (23, "popcnt"),
            (25, "aes"),
            (26, "xsave"),
            (28, "avx"),
            (30, "rdrand"),
        ];
        for (bit, n) in ecx_names {
            if l1.ecx & (1 << bit) != 0 {
                flags.push(n);
            }
        }
        if l0.eax >= 7 {
            let l7 = __cpuid_count(7, 0);
            let ebx_names: [(u32, &str); 7] = [
                (0, "fsgsbase"),
                (3, "bmi1"),
                (5, "avx2"),
                (8, "bmi2"),
                (9, "erms"),
                (18, "rdseed"),
                (19, "adx"),
            ];
            for (bit, n) in ebx_names {
                if l7.ebx & (1 << bit) != 0 {
                    flags.push(n);
                }
            }
            if l7.ebx & (1 << 16) != 0 {
                flags.push("avx512f");
            }
        }
        if ext >= 0x8000_0001 {
            let e1 = __cpuid(0x8000_0001);
            if e1.edx & (1 << 11) != 0 {
                flags.push("syscall");
            }
            if e1.edx & (1 << 20) != 0 {
                flags.push("nx");
            }
            if e1.edx & (1 << 29) != 0 {
                flags.push("lm");
            }
            if e1.ecx & (1 << 5) != 0 {
                flags.push("abm");
            }
        }
        let mhz = if l0.eax >= 0x16 {
            f64::from(__cpuid(0x16).eax & 0xffff)
        } else {
            0.0
        };
        Self {
            vendor: String::from_utf8_lossy(&vendor).into_owned(),
            family,
            model,
            stepping: l1.eax & 0xf,
            model_name: String::from_utf8_lossy(&name)
                .trim_matches(char::from(0))
                .trim()
                .to_string(),
            max_leaf: l0.eax,
            flags,
            mhz,
            phys_bits,
            virt_bits,
        }
    }
}

/// What /proc shows of the whole sandbox.
#[derive(Clone, Debug, Default)]
pub struct SystemView {
    /// vCPUs the sandbox offers (as sched_getaffinity reports).
    pub ncpu: usize,
    /// The memory cap (`--memory`), bytes.
    pub mem_total: u64,
    /// Memory charged to the cap, bytes.
    pub mem_used: u64,
    /// Frames of page tables (all address spaces).
    pub table_pages: u64,
    /// Time since the sandbox started.
    pub uptime: std::time::Duration,
    /// The sandbox's start as seconds since the epoch.
    pub boot_time: u64,
    /// Processes in the table (Linux counts forks since boot).
    pub forks: u64,
    /// Threads running (not asleep, stopped or zombie).
    pub running: usize,
    /// Threads in all.
    pub threads: usize,
    /// The highest pid in use.
    pub last_pid: i32,
    /// CPUID's description.
    pub cpu: CpuView,
}

/// The number of vCPUs the sandbox offers: what sched_getaffinity
/// reports (the host's CPUs, at most 64). Read once: a worker thread
/// pinned by `kernel::cpus::follow` (which reads this first) sees fewer.
pub fn vcpus() -> usize {
    static VCPUS: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *VCPUS.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .min(64)
    })
}

impl SystemView {
    /// The sandbox now; `cpu` only when asked (CPUID is slow under KVM).
    pub fn of(kernel: &Kernel, with_cpu: bool) -> Self {
        let frames = kernel.machine.frames();
        let uptime = kernel.start.elapsed();
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let table = kernel.table.lock();
        let tasks: Vec<Arc<Task>> = table.tasks.values().cloned().collect();
        let forks = table.procs.len() as u64;
        let last_pid = table.tasks.keys().copied().max().unwrap_or(1);
        drop(table);
        let running = tasks
            .iter()
            .filter(|t| !t.waiter.is_sleeping() && !*t.tg.stopped.lock())
            .count();
        Self {
            ncpu: vcpus(),
            mem_total: frames.data_limit_bytes(),
            mem_used: frames.data_bytes_in_use(),
            table_pages: 0,
            uptime,
            boot_time: now.saturating_sub(uptime).as_secs(),
            forks,
            running,
            threads: tasks.len(),
            last_pid,
            cpu: if with_cpu {
                CpuView::probe()
            } else {
                CpuView::default()
            },
        }
    }
}

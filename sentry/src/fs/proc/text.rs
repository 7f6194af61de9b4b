//! The text of /proc files, as pure functions of plain values (a
//! [`TaskView`], a [`VmInfo`], a [`SystemView`]), formatted exactly as
//! Linux's `fs/proc` does (array.c, base.c, meminfo.c, stat.c, ...), so
//! each format is unit-tested without a VM.

use std::fmt::Write;

use super::view::{SystemView, TaskView};
use crate::mm::VmInfo;

/// Clock ticks a second (USER_HZ, AT_CLKTCK).
pub const HZ: u64 = 100;

/// RLIMIT_SIGPENDING the sandbox reports (SigQ's limit).
pub const SIGPENDING_LIMIT: u64 = 63_704;

use crate::kernel::limits::{RELEASE, VERSION};

/// Signals 1..=32 as /proc/<pid>/stat shows them (`sig[0] & 0x7fffffff`,
/// in decimal).
fn stat_sigs(set: u64) -> u64 {
    set & 0x7fff_ffff
}

/// Linux's `State:` text for a state letter.
pub fn state_name(state: char) -> &'static str {
    match state {
        'R' => "R (running)",
        'S' => "S (sleeping)",
        'D' => "D (disk sleep)",
        'T' => "T (stopped)",
        't' => "t (tracing stop)",
        'X' => "X (dead)",
        'Z' => "Z (zombie)",
        _ => "I (idle)",
    }
}

/// `/proc/<pid>/stat` (do_task_stat): 52 fields on one line.
pub fn stat(t: &TaskView, vm: Option<&VmInfo>) -> String {
    let mut s = String::with_capacity(320);
    let vm0 = VmInfo::default();
    let v = vm.unwrap_or(&vm0);
    let has_mm = vm.is_some();
    // Fields 1-4: pid (comm) state ppid.
    let _ = write!(
        s,
        "{} ({}) {} {} {} {} 0 -1 {}",
        t.pid,
        t.comm,
        t.state,
        t.ppid,
        t.pgid,
        t.sid,
        if t.state == 'Z' { 0x40_0004 } else { 0x40_0000 },
    );
    // minflt cminflt majflt cmajflt utime stime cutime cstime.
    let ticks = |ns: u64| ns / (1_000_000_000 / HZ);
    let _ = write!(
        s,
        " 0 0 0 0 {} {} {} {}",
        ticks(t.times.user),
        ticks(t.times.sys),
        ticks(t.child_times.user),
        ticks(t.child_times.sys)
    );
    // priority nice num_threads itrealvalue starttime vsize rss rsslim.
    let _ = write!(
        s,
        " 20 0 {} 0 {} {} {} {}",
        t.threads.len().max(1),
        t.start_ticks,
        v.total,
        v.rss_pages,
        u64::MAX
    );
    // startcode endcode startstack kstkesp kstkeip.
    if has_mm {
        let _ = write!(s, " {} {} {} 0 0", v.code.0, v.code.1, v.stack_top);
    } else {
        s.push_str(" 0 0 0 0 0");
    }
    // signal blocked sigignore sigcatch (decimal, first 31 signals).
    let _ = write!(
        s,
        " {} {} {} {}",
        stat_sigs(t.pending),
        stat_sigs(t.blocked),
        stat_sigs(t.ignored),
        stat_sigs(t.caught)
    );
    // wchan 0 0 exit_signal processor rt_priority policy blkio gtime cgtime.
    let _ = write!(
        s,
        " {} 0 0 {} {} 0 0 0 0 0",
        u8::from(t.state == 'S'),
        t.exit_signal,
        t.processor
    );
    // start_data end_data start_brk arg_start arg_end env_start env_end.
    if has_mm {
        let _ = write!(s, " 0 0 {} 0 0 0 0", v.brk.0);
    } else {
        s.push_str(" 0 0 0 0 0 0 0");
    }
    let _ = writeln!(s, " {}", t.exit_code);
    s
}

/// `/proc/<pid>/statm`: size resident shared text lib data dt, in pages.
pub fn statm(vm: Option<&VmInfo>) -> String {
    let v = vm.copied().unwrap_or_default();
    let page = |b: u64| b / 4096;
    format!(
        "{} {} {} {} 0 {} 0\n",
        page(v.total),
        v.rss_pages,
        page(v.shared),
        page(v.exec),
        page(v.data + v.stack)
    )
}

/// A CPU list as `Cpus_allowed_list` and /sys's `online` write it.
pub fn cpu_list(ncpu: usize) -> String {
    if ncpu <= 1 {
        "0".into()
    } else {
        format!("0-{}", ncpu - 1)
    }
}

/// A CPU mask in hex, as `Cpus_allowed` writes it (32-bit groups).
fn cpu_mask(ncpu: usize) -> String {
    let ncpu = ncpu.clamp(1, 64);
    let mask: u64 = if ncpu == 64 {
        u64::MAX
    } else {
        (1 << ncpu) - 1
    };
    if mask >> 32 == 0 {
        format!("{mask:x}")
    } else {
        format!("{:x},{:08x}", mask >> 32, mask & 0xffff_ffff)
    }
}

/// `/proc/<pid>/status` (proc_pid_status): the keys and their order as
/// Linux 6.18 writes them on x86-64.
pub fn status(t: &TaskView, vm: Option<&VmInfo>, ncpu: usize) -> String {
    let mut s = String::with_capacity(1400);
    let _ = writeln!(s, "Name:\t{}", t.comm);
    if let Some(u) = t.umask {
        let _ = writeln!(s, "Umask:\t{u:04o}");
    }
    let _ = writeln!(s, "State:\t{}", state_name(t.state));
    let _ = writeln!(s, "Tgid:\t{}", t.tgid);
    s.push_str("Ngid:\t0\n");
    let _ = writeln!(s, "Pid:\t{}", t.pid);
    let _ = writeln!(s, "PPid:\t{}", t.ppid);
    s.push_str("TracerPid:\t0\n");
    let c = &t.creds;
    let _ = writeln!(
        s,
        "Uid:\t{}\t{}\t{}\t{}",
        c.uid[0], c.uid[1], c.uid[2], c.uid[3]
    );
    let _ = writeln!(
        s,
        "Gid:\t{}\t{}\t{}\t{}",
        c.gid[0], c.gid[1], c.gid[2], c.gid[3]
    );
    let _ = writeln!(s, "FDSize:\t{}", t.fd_size);
    s.push_str("Groups:\t");
    for g in &c.groups {
        let _ = write!(s, "{g} ");
    }
    if c.groups.is_empty() {
        s.push(' ');
    }
    s.push('\n');
    let _ = writeln!(s, "NStgid:\t{}", t.tgid);
    let _ = writeln!(s, "NSpid:\t{}", t.pid);
    let _ = writeln!(s, "NSpgid:\t{}", t.pgid);
    let _ = writeln!(s, "NSsid:\t{}", t.sid);
    s.push_str("Kthread:\t0\n");
    if let Some(v) = vm {
        let kb = |b: u64| b / 1024;
        let rss = v.rss_pages * 4;
        let shmem = kb(v.shared).min(rss);
        for (k, val) in [
            ("VmPeak", kb(v.total)),
            ("VmSize", kb(v.total)),
            ("VmLck", 0),
            ("VmPin", 0),
            ("VmHWM", rss),
            ("VmRSS", rss),
            ("RssAnon", rss - shmem),
            ("RssFile", 0),
            ("RssShmem", shmem),
            ("VmData", kb(v.data)),
            ("VmStk", kb(v.stack)),
            ("VmExe", kb(v.exec)),
            ("VmLib", 0),
            ("VmPTE", v.table_pages * 4),
            ("VmSwap", 0),
        ] {
            let _ = writeln!(s, "{k}:\t{val:>8} kB");
        }
        s.push_str("HugetlbPages:\t       0 kB\n");
        s.push_str("CoreDumping:\t0\nTHP_enabled:\t1\nuntag_mask:\t0xffffffffffffffff\n");
    }
    let _ = writeln!(s, "Threads:\t{}", t.threads.len().max(1));
    let _ = writeln!(s, "SigQ:\t{}/{SIGPENDING_LIMIT}", t.queued);
    let _ = writeln!(s, "SigPnd:\t{:016x}", t.pending);
    let _ = writeln!(s, "ShdPnd:\t{:016x}", t.shared_pending);
    let _ = writeln!(s, "SigBlk:\t{:016x}", t.blocked);
    let _ = writeln!(s, "SigIgn:\t{:016x}", t.ignored);
    let _ = writeln!(s, "SigCgt:\t{:016x}", t.caught);
    for (k, v) in [
        ("CapInh", c.inheritable),
        ("CapPrm", c.permitted),
        ("CapEff", c.effective),
        ("CapBnd", c.bounding),
        ("CapAmb", c.ambient),
    ] {
        let _ = writeln!(s, "{k}:\t{v:016x}");
    }
    let _ = writeln!(s, "NoNewPrivs:\t{}", u8::from(c.no_new_privs));
    s.push_str(
        "Seccomp:\t0\nSeccomp_filters:\t0\n\
         Speculation_Store_Bypass:\tthread vulnerable\n\
         SpeculationIndirectBranch:\tconditional enabled\n",
    );
    let _ = writeln!(s, "Cpus_allowed:\t{}", cpu_mask(ncpu));
    let _ = writeln!(s, "Cpus_allowed_list:\t{}", cpu_list(ncpu));
    s.push_str("Mems_allowed:\t");
    for _ in 0..31 {
        s.push_str("00000000,");
    }
    s.push_str("00000001\nMems_allowed_list:\t0\n");
    s.push_str("voluntary_ctxt_switches:\t0\nnonvoluntary_ctxt_switches:\t0\n");
    s
}

/// `/proc/<pid>/limits`: the sandbox's limits as (soft, hard), by
/// resource number (RLIMIT_CPU ... RLIMIT_RTTIME); `None` is unlimited.
pub fn limits(limits: &[(Option<u64>, Option<u64>); 16]) -> String {
    const ROWS: [(&str, &str); 16] = [
        ("Max cpu time", "seconds"),
        ("Max file size", "bytes"),
        ("Max data size", "bytes"),
        ("Max stack size", "bytes"),
        ("Max core file size", "bytes"),
        ("Max resident set", "bytes"),
        ("Max processes", "processes"),
        ("Max open files", "files"),
        ("Max locked memory", "bytes"),
        ("Max address space", "bytes"),
        ("Max file locks", "locks"),
        ("Max pending signals", "signals"),
        ("Max msgqueue size", "bytes"),
        ("Max nice priority", ""),
        ("Max realtime priority", ""),
        ("Max realtime timeout", "us"),
    ];
    let show = |v: Option<u64>| v.map_or_else(|| "unlimited".to_string(), |n| n.to_string());
    let mut s = format!(
        "{:<25} {:<20} {:<20} {:<10}\n",
        "Limit", "Soft Limit", "Hard Limit", "Units"
    );
    for (i, (name, unit)) in ROWS.iter().enumerate() {
        let (soft, hard) = limits[i];
        let _ = write!(s, "{name:<25} {:<20} {:<20} ", show(soft), show(hard));
        if unit.is_empty() {
            s.push('\n');
        } else {
            let _ = writeln!(s, "{unit:<10}");
        }
    }
    s
}

/// A mount the sandbox shows in /proc/mounts and mountinfo.
#[derive(Clone, Debug)]
pub struct MountView {
    /// Mount id.
    pub id: u32,
    /// Parent mount id.
    pub parent: u32,
    /// Device (major, minor).
    pub dev: (u32, u32),
    /// Where it is mounted (guest path).
    pub point: String,
    /// Filesystem type.
    pub fstype: String,
    /// Source.
    pub source: String,
    /// Whether it is read-only.
    pub read_only: bool,
    /// Super block options after `rw`/`ro` (may be empty).
    pub options: String,
}

/// `/proc/<pid>/mounts` (and /proc/mounts): fstab's format.
pub fn mounts(ms: &[MountView]) -> String {
    let mut s = String::new();
    for m in ms {
        let rw = if m.read_only { "ro" } else { "rw" };
        let opts = if m.options.is_empty() {
            format!("{rw},relatime")
        } else {
            format!("{rw},relatime,{}", m.options)
        };
        let _ = writeln!(s, "{} {} {} {opts} 0 0", m.source, m.point, m.fstype);
    }
    s
}

/// `/proc/<pid>/mountinfo`.
pub fn mountinfo(ms: &[MountView]) -> String {
    let mut s = String::new();
    for m in ms {
        let rw = if m.read_only { "ro" } else { "rw" };
        let sb = if m.options.is_empty() {
            rw.to_string()
        } else {
            format!("{rw},{}", m.options)
        };
        let _ = writeln!(
            s,
            "{} {} {}:{} / {} {rw},relatime - {} {} {sb}",
            m.id, m.parent, m.dev.0, m.dev.1, m.point, m.fstype, m.source
        );
    }
    s
}

/// One line of `/proc/meminfo`: the label padded to 16 columns, the value
/// right-aligned in 8, then ` kB` (show_val_kb).
fn kb_line(s: &mut String, name: &str, kb: u64) {
    let label = format!("{name}:");
    let _ = writeln!(s, "{label:<16}{kb:>8} kB");
}

/// `/proc/meminfo`: the memory cap as MemTotal, what the sandbox has
/// charged as used.
pub fn meminfo(sys: &SystemView) -> String {
    let total = sys.mem_total / 1024;
    let used = (sys.mem_used / 1024).min(total);
    let free = total - used;
    let mut s = String::with_capacity(1600);
    for (k, v) in [
        ("MemTotal", total),
        ("MemFree", free),
        ("MemAvailable", free),
        ("Buffers", 0),
        ("Cached", 0),
        ("SwapCached", 0),
        ("Active", used),
        ("Inactive", 0),
        ("Active(anon)", used),
        ("Inactive(anon)", 0),
        ("Active(file)", 0),
        ("Inactive(file)", 0),
        ("Unevictable", 0),
        ("Mlocked", 0),
        ("SwapTotal", 0),
        ("SwapFree", 0),
        ("Zswap", 0),
        ("Zswapped", 0),
        ("Dirty", 0),
        ("Writeback", 0),
        ("AnonPages", used),
        ("Mapped", 0),
        ("Shmem", 0),
        ("KReclaimable", 0),
        ("Slab", 0),
        ("SReclaimable", 0),
        ("SUnreclaim", 0),
        ("KernelStack", 0),
        ("PageTables", sys.table_pages * 4),
        ("SecPageTables", 0),
        ("NFS_Unstable", 0),
        ("Bounce", 0),
        ("WritebackTmp", 0),
        ("CommitLimit", total),
        ("Committed_AS", used),
        ("VmallocTotal", 34_359_738_367),
        ("VmallocUsed", 0),
        ("VmallocChunk", 0),
        ("Percpu", 0),
        ("AnonHugePages", 0),
        ("ShmemHugePages", 0),
        ("ShmemPmdMapped", 0),
        ("FileHugePages", 0),
        ("FilePmdMapped", 0),
    ] {
        kb_line(&mut s, k, v);
    }
    for k in [
        "HugePages_Total",
        "HugePages_Free",
        "HugePages_Rsvd",
        "HugePages_Surp",
    ] {
        let label = format!("{k}:");
        let _ = writeln!(s, "{label:<16}{:>8}", 0);
    }
    kb_line(&mut s, "Hugepagesize", 2048);
    kb_line(&mut s, "Hugetlb", 0);
    kb_line(&mut s, "DirectMap4k", total);
    s
}

/// `/proc/cpuinfo`: one block per vCPU of the sandbox, with what CPUID
/// says inside the guest.
pub fn cpuinfo(sys: &SystemView) -> String {
    let c = &sys.cpu;
    let mut s = String::new();
    for i in 0..sys.ncpu {
        let _ = write!(
            s,
            "processor\t: {i}\nvendor_id\t: {}\ncpu family\t: {}\nmodel\t\t: {}\n\
             model name\t: {}\nstepping\t: {}\ncpu MHz\t\t: {:.3}\n\
             physical id\t: 0\nsiblings\t: {n}\ncore id\t\t: {i}\ncpu cores\t: {n}\n\
             apicid\t\t: {i}\ninitial apicid\t: {i}\nfpu\t\t: yes\nfpu_exception\t: yes\n\
             cpuid level\t: {}\nwp\t\t: yes\nflags\t\t: {}\nbogomips\t: {:.2}\n\
             clflush size\t: 64\ncache_alignment\t: 64\n\
             address sizes\t: {} bits physical, {} bits virtual\npower management:\n\n",
            c.vendor,
            c.family,
            c.model,
            c.model_name,
            c.stepping,
            c.mhz,
            c.max_leaf,
            c.flags.join(" "),
            c.mhz * 2.0,
            c.phys_bits,
            c.virt_bits,
            n = sys.ncpu,
        );
    }
    s
}

/// `/proc/stat`: the sandbox's CPUs (all idle time the sandbox does not
/// account), boot time, and its processes.
pub fn system_stat(sys: &SystemView) -> String {
    let idle = sys.uptime.as_millis() as u64 * HZ / 1000;
    let mut s = String::new();
    let _ = writeln!(s, "cpu  0 0 0 {} 0 0 0 0 0 0", idle * sys.ncpu as u64);
    for i in 0..sys.ncpu {
        let _ = writeln!(s, "cpu{i} 0 0 0 {idle} 0 0 0 0 0 0");
    }
    s.push_str("intr 0\nctxt 0\n");
    let _ = writeln!(s, "btime {}", sys.boot_time);
    let _ = writeln!(s, "processes {}", sys.forks);
    let _ = writeln!(s, "procs_running {}", sys.running);
    s.push_str("procs_blocked 0\nsoftirq 0 0 0 0 0 0 0 0 0 0 0\n");
    s
}

/// `/proc/uptime`: seconds since the sandbox started, and idle seconds
/// summed over its vCPUs.
pub fn uptime(sys: &SystemView) -> String {
    let up = sys.uptime.as_millis() as u64 / 10;
    let idle = up * sys.ncpu as u64;
    format!(
        "{}.{:02} {}.{:02}\n",
        up / 100,
        up % 100,
        idle / 100,
        idle % 100
    )
}

/// `/proc/loadavg`: no load averages are kept (0.00); running/total
/// threads and the last pid handed out.
pub fn loadavg(sys: &SystemView) -> String {
    format!(
        "0.00 0.00 0.00 {}/{} {}\n",
        sys.running, sys.threads, sys.last_pid
    )
}

/// `/proc/version`.
pub fn version() -> String {
    format!("Linux version {RELEASE} (sentry@sandbox) (rustc) {VERSION}\n")
}

/// `/proc/filesystems`: the file system types the sandbox has.
pub fn filesystems() -> String {
    "nodev\tsysfs\nnodev\ttmpfs\nnodev\tproc\nnodev\tdevtmpfs\nnodev\tpipefs\nnodev\tanon_inodefs\n"
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::proc::view::CpuView;

    fn task() -> TaskView {
        TaskView {
            pid: 7,
            tgid: 7,
            ppid: 1,
            pgid: 1,
            sid: 1,
            comm: "prog".into(),
            state: 'S',
            threads: vec![7, 8],
            umask: Some(0o022),
            pending: 0,
            shared_pending: 1 << 9,
            blocked: 1 << 1,
            ignored: 1 << 12,
            caught: 1 << 16,
            queued: 1,
            exit_signal: 17,
            processor: 1,
            times: crate::kernel::sched::Times {
                user: 1_230_000_000,
                sys: 40_000_000,
            },
            child_times: crate::kernel::sched::Times {
                user: 10_000_000,
                sys: 0,
            },
            exit_code: 0,
            start_ticks: 42,
            fd_size: 64,
            creds: Default::default(),
        }
    }

    fn vm() -> VmInfo {
        VmInfo {
            total: 16 << 20,
            data: 4 << 20,
            stack: 132 << 10,
            exec: 8192,
            shared: 0,
            rss_pages: 100,
            table_pages: 3,
            code: (0x40_0000, 0x40_2000),
            brk: (0x60_0000, 0x60_1000),
            stack_top: 0x7fff_ffff_f000,
        }
    }

    #[test]
    fn stat_has_linux_52_fields_in_order() {
        let s = stat(&task(), Some(&vm()));
        assert!(s.ends_with('\n'));
        let fields: Vec<&str> = s.split_whitespace().collect();
        assert_eq!(fields.len(), 52, "{s}");
        assert_eq!(&fields[..8], ["7", "(prog)", "S", "1", "1", "1", "0", "-1"]);
        assert_eq!(fields[19], "2", "num_threads");
        assert_eq!(fields[21], "42", "starttime");
        assert_eq!(fields[22], (16u64 << 20).to_string(), "vsize");
        assert_eq!(fields[23], "100", "rss");
        // signal blocked sigignore sigcatch: decimal bit sets.
        assert_eq!(&fields[30..34], ["0", "2", "4096", "65536"]);
        assert_eq!(fields[34], "1", "wchan: sleeping");
        assert_eq!(fields[37], "17", "exit_signal");
        assert_eq!(fields[38], "1", "processor");
        assert_eq!(
            &fields[13..17],
            ["123", "4", "1", "0"],
            "utime stime cutime cstime"
        );
        // A comm with spaces and parentheses still gives 52 fields to
        // readers that split at the last ')'.
        let mut z = task();
        z.state = 'Z';
        z.comm = "a) b".into();
        z.exit_code = 0x100;
        let s = stat(&z, None);
        let after = &s[s.rfind(')').unwrap() + 2..];
        let rest: Vec<&str> = after.split_whitespace().collect();
        assert_eq!(rest.len(), 50);
        assert_eq!(rest[0], "Z");
        assert_eq!(rest[49], "256", "exit_code");
        assert_eq!(rest[20], "0", "a zombie has no vsize");
    }

    #[test]
    fn status_keys_follow_linux() {
        let s = status(&task(), Some(&vm()), 2);
        let keys: Vec<&str> = s.lines().map(|l| l.split(':').next().unwrap()).collect();
        assert_eq!(&keys[..5], ["Name", "Umask", "State", "Tgid", "Ngid"]);
        assert!(s.contains("State:\tS (sleeping)\n"));
        assert!(s.contains("VmRSS:\t     400 kB\n"), "{s}");
        assert!(s.contains("Threads:\t2\n"));
        assert!(s.contains("ShdPnd:\t0000000000000200\n"));
        assert!(s.contains("SigCgt:\t0000000000010000\n"));
        assert!(s.contains("Cpus_allowed:\t3\nCpus_allowed_list:\t0-1\n"));
        assert_eq!(keys.last(), Some(&"nonvoluntary_ctxt_switches"));
        // A zombie has no memory lines.
        let mut z = task();
        z.state = 'Z';
        let s = status(&z, None, 1);
        assert!(!s.contains("VmRSS"));
        assert!(s.contains("State:\tZ (zombie)\n"));
    }

    #[test]
    fn limits_table_is_aligned_as_linux() {
        let mut l = [(None, None); 16];
        l[3] = (Some(8 << 20), None);
        let s = limits(&l);
        let lines: Vec<&str> = s.lines().collect();
        assert_eq!(lines.len(), 17);
        assert_eq!(
            lines[0],
            "Limit                     Soft Limit           Hard Limit           Units     "
        );
        assert_eq!(
            lines[4],
            "Max stack size            8388608              unlimited            bytes     "
        );
        assert_eq!(
            lines[14],
            "Max nice priority         unlimited            unlimited            "
        );
    }

    fn system() -> SystemView {
        SystemView {
            ncpu: 2,
            mem_total: 256 << 20,
            mem_used: 10 << 20,
            table_pages: 5,
            uptime: std::time::Duration::from_millis(12_345),
            boot_time: 1_700_000_000,
            forks: 3,
            running: 1,
            threads: 4,
            last_pid: 9,
            cpu: CpuView::default(),
        }
    }

    #[test]
    fn meminfo_reports_the_cap() {
        let s = meminfo(&system());
        assert!(s.starts_with("MemTotal:         262144 kB\nMemFree:          251904 kB\n"));
        for l in s.lines() {
            assert!(l.len() >= 24, "{l}");
        }
    }

    #[test]
    fn uptime_loadavg_and_stat() {
        let sys = system();
        assert_eq!(uptime(&sys), "12.34 24.68\n");
        assert_eq!(loadavg(&sys), "0.00 0.00 0.00 1/4 9\n");
        let st = system_stat(&sys);
        assert!(st.starts_with("cpu  0 0 0 2468 0 0 0 0 0 0\ncpu0 0 0 0 1234 "));
        assert!(st.contains("\nbtime 1700000000\n"));
        assert_eq!(cpu_list(1), "0");
        assert_eq!(cpu_list(4), "0-3");
        assert_eq!(cpuinfo(&sys).matches("processor\t:").count(), 2);
    }

    #[test]
    fn mount_tables() {
        let m = [MountView {
            id: 22,
            parent: 20,
            dev: (0, 21),
            point: "/proc".into(),
            fstype: "proc".into(),
            source: "proc".into(),
            read_only: false,
            options: String::new(),
        }];
        assert_eq!(mounts(&m), "proc /proc proc rw,relatime 0 0\n");
        assert_eq!(
            mountinfo(&m),
            "22 20 0:21 / /proc rw,relatime - proc proc rw\n"
        );
    }
}

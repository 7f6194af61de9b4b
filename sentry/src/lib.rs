//! The sentry: the sandbox's own implementation of the Linux ABI.
//!
//! It loads a static x86-64 ELF into a guest address space, runs it in ring
//! 3 of a KVM virtual machine (through the `platform` crate), and answers
//! every syscall and fault itself. Nothing the guest does reaches the host
//! kernel unchecked: the only host resources it can touch are the
//! sentry's standard streams, through a narrow interface.
//!
//! * [`kernel`]: tasks, thread groups, the process tree, signals, exit and
//!   wait, and the one clone path.
//! * [`mm`]: address spaces, VMAs, demand paging, copy-on-write fork.
//! * [`fs`]: descriptor tables, pipes, the standard streams.
//! * [`syscalls`]: the syscall table, one file per family, and `--strace`.
#![forbid(unsafe_code)]

pub mod compare;
pub mod demo;
pub mod errno;
pub mod exec;
pub mod fs;
pub mod kernel;
pub mod log;
pub mod mm;
pub mod quote;
pub mod syscalls;

pub use quote::quote;

use std::sync::Arc;

use platform::{Machine, MachineConfig};

use crate::fs::stdio::HostStream;
use crate::fs::{FdTable, OpenFile};
use crate::kernel::signal::SigSet;
use crate::kernel::task::{self, Task, ThreadGroup};
use crate::kernel::{ExitReport, Kernel, KernelConfig};
use crate::mm::AddressSpace;

pub use kernel::ExitReport as Exit;

/// The program to load as pid 1.
#[derive(Clone, Debug)]
pub enum Program {
    /// An ELF image in memory (the built-in demo).
    Bytes(Vec<u8>),
    /// A program file, already checked ([`exec::ProgramFile::new`]); it is
    /// read piecewise while loading.
    File(Arc<exec::ProgramFile>),
}

/// What to run.
#[derive(Clone, Debug)]
pub struct RunOptions {
    /// The program.
    pub program: Program,
    /// argv (`argv[0]` included).
    pub argv: Vec<Vec<u8>>,
    /// The environment (`KEY=VALUE`).
    pub envp: Vec<Vec<u8>>,
    /// The path /proc/self/exe shows and AT_EXECFN holds: a guest path
    /// (see [`guest_exe_path`]), never one that reveals the host's layout.
    pub exe_path: Vec<u8>,
    /// AT_EXECFN when it is not `exe_path`: the path a `#!` script was
    /// run by (`exe_path` is then its interpreter's).
    pub execfn: Option<Vec<u8>>,
    /// The program's host file, to execute /proc/self/exe again (None
    /// when there is none: the demo).
    pub exe_host: Option<std::path::PathBuf>,
    /// Guest memory cap in bytes.
    pub memory_limit: u64,
    /// Print each syscall on stderr.
    pub strace: bool,
    /// Print per-syscall counts and latencies on stderr at the end.
    pub stats: bool,
    /// The host directory shown read-only as the guest's `/` (None: no
    /// filesystem).
    pub root: Option<std::path::PathBuf>,
    /// Confine the sentry process itself before the guest starts
    /// (namespaces, no_new_privs, no capabilities, Landlock, seccomp
    /// filter; see `platform::confine` and docs/SECURITY.md). Off only for
    /// debugging.
    pub sandbox_self: bool,
}

/// Why the sandbox could not run the program.
#[derive(Debug, thiserror::Error)]
pub enum SentryError {
    /// KVM or the memory pool failed.
    #[error("{0}")]
    Platform(#[from] platform::Error),
    /// The program could not be loaded.
    #[error("{0}")]
    Exec(#[from] exec::ExecError),
    /// A host resource (a standard stream, a thread) was unavailable.
    #[error("{0}")]
    Host(#[from] std::io::Error),
    /// The guest address space could not be created.
    #[error("cannot create the guest address space")]
    AddressSpace,
    /// The sentry could not confine itself.
    #[error("{0} (--no-sandbox-self runs without this protection)")]
    Confine(#[from] platform::confine::ConfineError),
}

/// The path the guest sees for a program at host path `program`
/// (canonical): its path inside the root when it lies inside `root`
/// (canonical; with `--root /` that is the host path itself), else `/` and
/// its file name only, so /proc/self/exe never shows where on the host a
/// program outside the guest's tree lives.
pub fn guest_exe_path(program: &std::path::Path, root: Option<&std::path::Path>) -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    if let Some(rel) = root.and_then(|r| program.strip_prefix(r).ok()) {
        let mut p = b"/".to_vec();
        p.extend_from_slice(rel.as_os_str().as_bytes());
        return p;
    }
    let mut p = b"/".to_vec();
    p.extend_from_slice(
        program
            .file_name()
            .map_or(&b"program"[..], |n| n.as_bytes()),
    );
    p
}

/// Runs a program as the sandbox's pid 1 and returns how it ended.
pub fn run(opts: RunOptions) -> Result<ExitReport, SentryError> {
    let machine = Arc::new(Machine::new(MachineConfig {
        memory_limit: opts.memory_limit,
    })?);
    // Refuse to run on a KVM where page-table downgrades would not reach
    // the guest (stale memory would leak between mappings and processes).
    platform::selftest::self_test(&machine)?;
    let kernel = Kernel::new(
        Arc::clone(&machine),
        KernelConfig {
            strace: opts.strace,
            stats: opts.stats,
            root: opts.root.clone(),
        },
        &syscalls::KERNEL_TABLE,
    );
    let mm = AddressSpace::new(Arc::clone(&machine)).map_err(|_| SentryError::AddressSpace)?;
    let execfn = opts.execfn.as_ref().unwrap_or(&opts.exe_path);
    let ctx = match &opts.program {
        Program::Bytes(b) => exec::load(&mm, &b.as_slice(), &opts.argv, &opts.envp, execfn),
        Program::File(f) => exec::load(&mm, f.as_ref(), &opts.argv, &opts.envp, execfn),
    }?;
    mm.set_exe(&opts.exe_path, opts.exe_host.clone());
    mm.set_cmdline(&opts.argv);

    let files = FdTable::new();
    for fd in 0..3 {
        // A standard descriptor the sentry was started without is absent
        // in the guest too (EBADF, and the lowest free number), as natively.
        if platform::host::HostFd::std_closed_at_start(fd) {
            continue;
        }
        let stream = HostStream::new(fd)?;
        let access = stream.access_mode();
        files
            .insert_at(fd, OpenFile::new(Box::new(stream), access), false)
            .map_err(|_| std::io::Error::other("cannot install the standard streams"))?;
    }
    let pid = kernel
        .table
        .lock()
        .alloc_pid(None)
        .map_err(|_| std::io::Error::other("no pid"))?;
    let handlers = Arc::new(parking_lot::Mutex::new(
        [kernel::signal::SigAction::default(); kernel::signal::NSIG as usize],
    ));
    let tg = ThreadGroup::new(pid, handlers);
    let init = Task::new(
        pid,
        tg,
        Arc::clone(&kernel),
        mm,
        files,
        Arc::new(parking_lot::Mutex::new(kernel::task::FsContext::default())),
        SigSet::default(),
    );
    init.sched.set_comm_from_path(execfn);
    kernel
        .table
        .lock()
        .insert_process(&init, 0, pid, pid, kernel::signal::sig::SIGCHLD);
    // Setup is over (VM, memory pool, standard streams, root directory):
    // from here on the sentry runs with no privileges and only the host
    // syscalls it needs, before the first guest instruction.
    if opts.sandbox_self {
        let policy = platform::confine::SeccompPolicy::sentry(std::process::id() as i32);
        // Readable afterwards: the root tree, and the program itself (the
        // guest may re-execute it through /proc/self/exe).
        // `exe_path` is what the guest sees; `exe_host` is the host file.
        let readable: Vec<&std::path::Path> = opts
            .root
            .as_deref()
            .into_iter()
            .chain(opts.exe_host.as_deref())
            .collect();
        platform::confine::confine(&policy, &readable)?;
    }
    kernel.start(task::Job {
        task: init,
        ctx,
        fpu: None,
    })?;
    let exit = kernel.wait_finished();
    if opts.stats {
        let table = stats_table(&kernel);
        crate::log::stderr_line(format_args!("{}", table.trim_end_matches('\n')));
    }
    Ok(exit)
}

/// The `--stats` table, like `strace -c`: time is what the sentry spent
/// handling each call (the guest/host crossing itself, tens of µs here, is
/// not included).
pub fn stats_table(kernel: &Kernel) -> String {
    let stats = kernel.stats();
    let total: u64 = stats.iter().map(|(_, s)| s.total_ns).sum();
    let mut out = format!(
        "{:>6} {:>12} {:>10} {:>10} {:>9} {:>7}  syscall\n",
        "% time", "seconds", "usecs/call", "max usecs", "calls", "errors"
    );
    for (nr, s) in &stats {
        let pct = if total == 0 {
            0.0
        } else {
            100.0 * s.total_ns as f64 / total as f64
        };
        out.push_str(&format!(
            "{:>6.2} {:>12.6} {:>10} {:>10} {:>9} {:>7}  {}\n",
            pct,
            s.total_ns as f64 / 1e9,
            s.total_ns / s.calls.max(1) / 1000,
            s.max_ns / 1000,
            s.calls,
            s.errors,
            syscalls::name(*nr)
        ));
    }
    let calls: u64 = stats.iter().map(|(_, s)| s.calls).sum();
    let errors: u64 = stats.iter().map(|(_, s)| s.errors).sum();
    out.push_str(&format!(
        "{:>6} {:>12.6} {:>10} {:>10} {:>9} {:>7}  total\n",
        "100.00",
        total as f64 / 1e9,
        "",
        "",
        calls,
        errors
    ));
    out
}

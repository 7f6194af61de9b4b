//! The sentry: the sandbox's own implementation of the Linux ABI.
//!
//! It loads a static x86-64 ELF into a guest address space, runs it in ring
//! 3 of a KVM virtual machine (through the `platform` crate), and answers
//! every syscall and fault itself. Nothing the guest does reaches the host
//! kernel unchecked: the only host resources it can touch are the
//! sentry's standard streams, through a narrow interface.
//!
//! * [`abi`]: the Linux ABI as types: guest pointers, ABI structs, flags.
//! * [`kernel`]: tasks, thread groups, the process tree, signals, exit and
//!   wait, and the one clone path.
//! * [`mm`]: address spaces, VMAs, demand paging, copy-on-write fork.
//! * [`fs`]: descriptor tables, pipes, the standard streams.
//! * [`host`]: the host's standard streams, clocks and randomness, safe.
//! * [`syscalls`]: the syscall table, one file per family, and `--strace`.
#![forbid(unsafe_code)]

pub mod abi;
pub mod compare;
pub mod demo;
pub mod errno;
pub mod exec;
pub mod fs;
pub mod host;
pub mod kernel;
pub mod log;
pub mod mm;
pub mod oci;
pub mod quote;
#[cfg(test)]
mod sandbox_tests;
pub mod syscalls;

pub use quote::quote;

use std::sync::Arc;

use platform::PlatformConfig;

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
    /// A program in the guest's tree (`--root`): an absolute or relative
    /// guest path, or a bare name looked up in the guest's `PATH`.
    Guest(Vec<u8>),
}

/// Which platform runs guest code.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum PlatformKind {
    /// The default platform: a virtual machine (`platform::new_platform`).
    #[default]
    Vm,
    /// Stub host processes under a seccomp filter (`platform::seccomp`).
    Seccomp,
}

impl PlatformKind {
    /// `kvm` or `seccomp`.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "kvm" => Some(Self::Vm),
            "seccomp" => Some(Self::Seccomp),
            _ => None,
        }
    }

    /// From `SENTRY_PLATFORM` (KVM when unset or unknown).
    pub fn from_env() -> Self {
        std::env::var("SENTRY_PLATFORM")
            .ok()
            .and_then(|s| Self::parse(&s))
            .unwrap_or_default()
    }
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
    /// The host directory under the guest's `/` (read-only: the guest's
    /// changes stay in memory); None: an empty in-memory root.
    pub root: Option<std::path::PathBuf>,
    /// `--mount` binds.
    pub mounts: Vec<fs::setup::BindMount>,
    /// The guest's initial working directory (None: `/`).
    pub workdir: Option<Vec<u8>>,
    /// Confine the sentry process itself before the guest starts
    /// (namespaces, no_new_privs, no capabilities, Landlock, seccomp
    /// filter; see `platform::confine` and docs/SECURITY.md). Off only for
    /// debugging.
    pub sandbox_self: bool,
    /// Forward the host signals of [`kernel::hostsig::FORWARDED`] to the
    /// guest from a thread of their own; the caller must have blocked
    /// them first, before starting any thread
    /// ([`kernel::hostsig::block_forwarded`]).
    pub forward_signals: bool,
    /// `--kill-after`: kill the whole sandbox this long after the first
    /// forwarded terminating signal if the guest is still running.
    pub kill_after: Option<std::time::Duration>,
    /// `--max-tasks` and `--max-files`.
    pub sandbox_limits: kernel::limits::SandboxLimits,
    /// Randomise the layout of loaded programs (ASLR); `--no-aslr` turns
    /// it off for the whole sandbox.
    pub aslr: bool,
    /// What an OCI config.json adds: init's credentials and limits, more
    /// tmpfs mounts, files copied in (default: nothing).
    pub guest: oci::guest::GuestSetup,
    /// The platform guest code runs on.
    pub platform: PlatformKind,
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
    /// The first task could not be started.
    #[error("{0}")]
    Start(#[from] kernel::StartError),
    /// The mount tree could not be built.
    #[error("{0}")]
    Mount(#[from] fs::setup::SetupError),
    /// The program (a guest path) could not be found or opened.
    #[error("cannot execute {}: {}", quote(.name), std::io::Error::from_raw_os_error(.errno.0))]
    Program {
        /// The name given.
        name: Vec<u8>,
        /// Why (ENOENT: not found).
        errno: errno::Errno,
    },
    /// The working directory could not be entered.
    #[error("--workdir {}: {}", quote(.name), std::io::Error::from_raw_os_error(.errno.0))]
    Workdir {
        /// The directory given.
        name: Vec<u8>,
        /// Why.
        errno: errno::Errno,
    },
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

/// An interpreter (a `#!` script's, or a program's PT_INTERP) as the
/// guest's execve opens it: a path, never a PATH search (Linux's
/// open_exec), a bare name relative to `workdir`.
pub fn guest_interpreter(
    vfs: &fs::vfs::Vfs,
    name: &[u8],
    workdir: Option<&[u8]>,
) -> Result<(fs::vfs::Path, syscalls::exec::VfsProgram), errno::Errno> {
    let relative;
    let path = if name.contains(&b'/') {
        name
    } else {
        relative = [b"./", name].concat();
        &relative
    };
    guest_program(vfs, path, &[], workdir)
}

/// [`guest_interpreter`] as the loader's `open_interp` wants it (an empty
/// PT_INTERP is ENOENT).
pub fn open_interpreter(
    vfs: &fs::vfs::Vfs,
    name: &[u8],
    workdir: Option<&[u8]>,
) -> Result<Box<dyn loader::ElfSource>, errno::Errno> {
    if name.is_empty() {
        return Err(errno::Errno::ENOENT);
    }
    guest_interpreter(vfs, name, workdir).map(|(_, f)| Box::new(f) as Box<dyn loader::ElfSource>)
}

/// A guest PROGRAM as [`guest_program`] finds it, with `#!` scripts
/// followed to their interpreters (guest paths too: the script's line is
/// the guest's data; relative ones from `workdir`, as the guest's own
/// execve would open them) and `argv` rewritten for them. Returns the file
/// to load, where it is, and the execfn (AT_EXECFN) of `name`.
pub fn guest_program_with_scripts(
    vfs: &fs::vfs::Vfs,
    name: &[u8],
    envp: &[Vec<u8>],
    workdir: Option<&[u8]>,
    argv: &mut Vec<Vec<u8>>,
) -> Result<(fs::vfs::Path, syscalls::exec::VfsProgram, Vec<u8>), errno::Errno> {
    let found = guest_program(vfs, name, envp, workdir)?;
    let execfn = vfs.path_name(&found.0, &vfs.root());
    let (place, file) = exec::follow_scripts(
        found,
        &execfn,
        argv,
        |f| f.1.head(),
        |interp| guest_interpreter(vfs, interp, workdir),
    )?;
    Ok((place, file, execfn))
}

/// The program named `name` in the guest's tree, as a shell (or `docker
/// run`) finds it: a name with a `/` is a path (relative ones from
/// `workdir`), a bare name is looked up in the `PATH` of `envp` (the first
/// executable regular file wins; EACCES if only unusable ones exist).
pub fn guest_program(
    vfs: &fs::vfs::Vfs,
    name: &[u8],
    envp: &[Vec<u8>],
    workdir: Option<&[u8]>,
) -> Result<(fs::vfs::Path, syscalls::exec::VfsProgram), errno::Errno> {
    use fs::vfs::{Caller, Resolve};
    let root = vfs.root();
    let start = match workdir {
        Some(w) => vfs.lookup(&Caller::NONE, &root, &root, w, &Resolve::FOLLOW)?,
        None => root.clone(),
    };
    let open = |path: &[u8]| {
        let place = vfs.lookup(&Caller::NONE, &root, &start, path, &Resolve::FOLLOW)?;
        let file = syscalls::exec::open_place(&Caller::NONE, &place)?;
        Ok((place, file))
    };
    if name.is_empty() {
        return Err(errno::Errno::ENOENT);
    }
    if name.contains(&b'/') {
        return open(name);
    }
    let path = envp
        .iter()
        .find_map(|e| e.strip_prefix(b"PATH="))
        .unwrap_or(b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    let mut seen = errno::Errno::ENOENT;
    for dir in path.split(|c| *c == b':') {
        let mut full = if dir.is_empty() {
            b".".to_vec()
        } else {
            dir.to_vec()
        };
        full.push(b'/');
        full.extend_from_slice(name);
        match open(&full) {
            Ok(found) => return Ok(found),
            Err(errno::Errno::EACCES) => seen = errno::Errno::EACCES,
            Err(_) => {}
        }
    }
    Err(seen)
}

/// Runs a program as the sandbox's pid 1 and returns how it ended.
pub fn run(opts: RunOptions) -> Result<ExitReport, SentryError> {
    // The default platform (KVM), after its self-test: it refuses a host
    // where page-table downgrades would not reach the guest (stale memory
    // would leak between mappings and processes).
    let config = PlatformConfig {
        memory_limit: opts.memory_limit,
    };
    let machine = match opts.platform {
        PlatformKind::Vm => platform::new_platform(config)?,
        PlatformKind::Seccomp => {
            platform::seccomp::new_platform_with_task_limit(config, opts.sandbox_limits.max_tasks)?
        }
    };
    let vfs = fs::setup::build_with(
        opts.root.as_deref(),
        opts.guest.read_only_root,
        &opts.mounts,
        Arc::new(fs::tmpfs::PlatformCharge(Arc::clone(&machine))),
    )?;
    opts.guest.prepare_vfs(
        &vfs,
        Arc::new(fs::tmpfs::PlatformCharge(Arc::clone(&machine))),
    )?;
    let kernel = Kernel::new(
        Arc::clone(&machine),
        KernelConfig {
            strace: opts.strace,
            stats: opts.stats,
            root: opts.root.clone(),
            sandbox_limits: opts.sandbox_limits,
            aslr: opts.aslr,
        },
        vfs,
        &syscalls::KERNEL_TABLE,
    );
    let mm = AddressSpace::new(Arc::clone(&machine)).map_err(|_| SentryError::AddressSpace)?;
    let mut exe_path = opts.exe_path.clone();
    let mut execfn = opts.execfn.clone().unwrap_or_else(|| opts.exe_path.clone());
    let mut argv = opts.argv.clone();
    let randomize = opts.aslr;
    let workdir = opts.workdir.clone();
    let vfs_for_interp = &kernel.vfs;
    // An interpreter (PT_INTERP) is a path in the guest's root, relative
    // ones from the working directory, as the guest's own execve opens it.
    let mut open_interp = |name: &[u8]| open_interpreter(vfs_for_interp, name, workdir.as_deref());
    let mut how = exec::LoadEnv {
        vdso: kernel.vdso.as_ref(),
        randomize,
        open_interp: &mut open_interp,
    };
    let ctx = match &opts.program {
        Program::Bytes(b) => exec::load(&mm, &b.as_slice(), &argv, &opts.envp, &execfn, &mut how),
        Program::File(f) => exec::load(&mm, f.as_ref(), &argv, &opts.envp, &execfn, &mut how),
        Program::Guest(name) => {
            let fail = |errno| SentryError::Program {
                name: name.clone(),
                errno,
            };
            let vfs = &kernel.vfs;
            let (place, file, found_execfn) = guest_program_with_scripts(
                vfs,
                name,
                &opts.envp,
                opts.workdir.as_deref(),
                &mut argv,
            )
            .map_err(fail)?;
            execfn = found_execfn;
            exe_path = vfs.path_name(&place, &vfs.root());
            exec::load(&mm, &file, &argv, &opts.envp, &execfn, &mut how)
        }
    }?;
    mm.set_exe(&exe_path, opts.exe_host.clone());
    let cwd = match &opts.workdir {
        Some(dir) => {
            let root = kernel.vfs.root();
            let place = kernel
                .vfs
                .lookup(
                    &fs::vfs::Caller::NONE,
                    &root,
                    &root,
                    dir,
                    &fs::vfs::Resolve::FOLLOW,
                )
                .and_then(|p| {
                    if p.is_dir() {
                        Ok(p)
                    } else {
                        Err(errno::Errno::ENOTDIR)
                    }
                })
                .map_err(|errno| SentryError::Workdir {
                    name: dir.clone(),
                    errno,
                })?;
            Some(place)
        }
        None => None,
    };
    mm.set_cmdline(&argv);
    mm.set_environ(&opts.envp);

    let files = FdTable::with_budget(fs::FileBudget::new(opts.sandbox_limits.max_files));
    for fd in 0..3 {
        // A standard descriptor the sentry was started without is absent
        // in the guest too (EBADF, and the lowest free number), as natively.
        if host::HostFd::std_closed_at_start(fd) {
            continue;
        }
        let stream = HostStream::new(fd, Arc::clone(&kernel.readiness))?;
        let access = stream.access_mode();
        // A host terminal becomes the guest's terminal (fs::tty).
        let stream = fs::tty::std_stream(&kernel, stream);
        files
            .insert_at(fd, OpenFile::new(stream, access), false)
            .map_err(|_| std::io::Error::other("cannot install the standard streams"))?;
    }
    let pid = kernel
        .table
        .lock()
        .alloc_pid(None)
        .map_err(|_| std::io::Error::other("no pid"))?;
    let handlers = Arc::new(parking_lot::Mutex::new(
        kernel::signal::SigActions::default(),
    ));
    let tg = ThreadGroup::new(pid, handlers);
    let init = Task::new(
        pid,
        tg,
        Arc::clone(&kernel),
        mm,
        files,
        Arc::new(parking_lot::Mutex::new(kernel::task::FsContext {
            cwd,
            ..Default::default()
        })),
        SigSet::default(),
    );
    init.set_comm_from_path(&execfn);
    let guest_started = opts.guest.prepare_init(&init);
    kernel
        .table
        .lock()
        .insert_process(&init, 0, pid, pid, kernel::signal::sig::SIGCHLD);
    let stdin_is_terminal = init
        .files()
        .get(0)
        .is_ok_and(|f| f.ops.as_terminal().is_some());
    kernel::tty::attach_init(&kernel, pid, stdin_is_terminal);
    // Setup is over (VM, memory pool, standard streams, root directory):
    // from here on the sentry runs with no privileges and only the host
    // syscalls it needs, before the first guest instruction.
    if opts.sandbox_self {
        let mut policy = platform::confine::SeccompPolicy::sentry(std::process::id() as i32);
        let writable: Vec<&std::path::Path> = opts
            .mounts
            .iter()
            .filter(|m| m.writable)
            .map(|m| m.host.as_path())
            .collect();
        if !writable.is_empty() {
            policy = policy.with_host_writes();
        }
        if opts.guest.control.is_some() {
            policy = policy.with_control_socket();
        }
        if opts.platform == PlatformKind::Seccomp {
            policy = policy.with_stub_processes();
        }
        // Readable afterwards: the root tree, and the program itself (the
        // guest may re-execute it through /proc/self/exe).
        // `exe_path` is what the guest sees; `exe_host` is the host file.
        let readable: Vec<&std::path::Path> = opts
            .root
            .as_deref()
            .into_iter()
            .chain(opts.exe_host.as_deref())
            .chain(opts.mounts.iter().map(|m| m.host.as_path()))
            .collect();
        platform::confine::confine_with_writes_then(&policy, &readable, &writable, &mut || {
            machine
                .prepare_confinement()
                .map_err(|e| std::io::Error::other(e.to_string()))
        })?;
    } else {
        // Helper processes of the platform (seccomp's stub template) are
        // forked by this long-lived thread either way.
        machine.prepare_confinement()?;
    }
    kernel::vclock::start_refresher();
    // Host signals that came before init existed stayed pending (blocked);
    // from here on they reach it.
    if opts.forward_signals {
        kernel::hostsig::spawn_forwarder(&kernel, opts.kill_after)?;
    }
    kernel.start(task::Job {
        task: init,
        ctx,
        fpu: None,
    })?;
    if let Some(started) = guest_started {
        started(&kernel);
    }
    let exit = kernel.wait_finished();
    if opts.stats {
        let table = stats_table(&kernel);
        crate::log::stderr_line(format_args!("{}", table.trim_end_matches('\n')));
        let crossings = kernel.crossings.report(STATS_TASKS);
        crate::log::stderr_line(format_args!("{}", crossings.trim_end_matches('\n')));
    }
    Ok(exit)
}

/// How many tasks `--stats` shows crossing counts for (the ones with the
/// most; the others are summed on one line).
const STATS_TASKS: usize = 16;

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

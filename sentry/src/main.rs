//! The `sentry` command line.
#![forbid(unsafe_code)]

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use sentry::{Exit, RunOptions, SentryError};

#[derive(Parser)]
#[command(
    name = "sentry",
    version,
    about = "Run unmodified x86-64 Linux programs (static or dynamically linked) in a KVM sandbox"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run an x86-64 ELF program (static, or dynamic with --root) in the sandbox.
    Run {
        #[command(flatten)]
        opts: CommonOpts,
        /// Environment variable for the guest (repeatable). The guest's
        /// environment is exactly
        /// PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
        /// plus these (a PATH given here replaces that one).
        #[arg(long = "env", value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// The guest's initial working directory (default `/`).
        #[arg(long, value_name = "DIR")]
        workdir: Option<String>,
        /// The program to run. With --root, a guest path: an absolute path
        /// inside the root, or a bare name looked up in the guest's PATH.
        /// Without --root, a host file (shown to the guest as `/NAME`).
        program: PathBuf,
        /// Its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Run a static program natively and in the sandbox, with the same
    /// arguments, environment and stdin, and compare stdout and exit status
    /// (exit 0 when they match, 1 when not). The native run is not
    /// sandboxed: use it for trusted test programs.
    Compare {
        /// Guest memory cap for the sandboxed run, e.g. 512M or 2G.
        #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = parse_size)]
        memory: u64,
        /// Environment variable for both runs (repeatable). Default: PATH.
        #[arg(long = "env", value_name = "KEY=VALUE")]
        env: Vec<String>,
        /// File to feed to both runs' stdin (default: nothing).
        #[arg(long, value_name = "FILE")]
        stdin: Option<PathBuf>,
        /// Kill a run that takes longer than this many seconds.
        #[arg(long, default_value_t = 60)]
        timeout: u64,
        /// The program to run.
        program: PathBuf,
        /// Its arguments.
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<std::ffi::OsString>,
    },
    /// Run the built-in demo guest (it forks a child and reaps it).
    Demo {
        #[command(flatten)]
        opts: CommonOpts,
    },
}

#[derive(clap::Args)]
struct CommonOpts {
    /// Print one line per syscall on stderr, strace-like.
    #[arg(long)]
    strace: bool,
    /// At the end, print per-syscall counts and latencies on stderr
    /// (like `strace -c`), then the guest/host crossings by kind
    /// (sandbox-wide and per task).
    #[arg(long)]
    stats: bool,
    /// Guest memory cap, e.g. 512M or 2G.
    #[arg(long, value_name = "SIZE", default_value = "1G", value_parser = parse_size)]
    memory: u64,
    /// Host directory under the guest's `/`: read through, never written
    /// (the guest's changes stay in the sandbox's memory; paths resolve
    /// inside it and cannot escape). Without it the root is an empty
    /// in-memory filesystem holding /dev, /proc and /tmp. `--root /`
    /// shows the host's tree.
    #[arg(long, value_name = "DIR")]
    root: Option<PathBuf>,
    /// Bind a host directory into the guest's tree (repeatable):
    /// read-only unless `:rw` is given (then the guest's files are made,
    /// written, renamed and removed on the host; chmod/chown/utimes give
    /// EPERM); paths resolve inside it.
    #[arg(long = "mount", value_name = "HOST:GUEST[:ro|:rw]", value_parser = parse_mount)]
    mounts: Vec<sentry::fs::setup::BindMount>,
    /// Debugging only: do not confine the sentry process itself (it then
    /// keeps its capabilities and namespaces, and gets no no_new_privs, no
    /// Landlock and no seccomp filter). Inherited descriptors are closed
    /// either way.
    #[arg(long = "no-sandbox-self")]
    no_sandbox_self: bool,
    /// Load programs, interpreters and the heap at Linux's fixed
    /// addresses instead of randomised ones (as `setarch -R` or
    /// kernel.randomize_va_space=0 do natively).
    #[arg(long = "no-aslr")]
    no_aslr: bool,
    /// Where guest code runs: `kvm` (the default) or `seccomp` (stub host
    /// processes whose syscalls a seccomp filter traps). Without the
    /// option, the `SENTRY_PLATFORM` environment variable decides.
    #[arg(long = "platform", value_name = "kvm|seccomp", value_parser = parse_platform)]
    platform: Option<sentry::PlatformKind>,
    /// Log level of the sentry's own messages (error, warn, info, debug, trace).
    #[arg(short = 'v', long = "log-level", default_value = "warn")]
    log_level: tracing::Level,
    /// SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH,
    /// SIGCONT and SIGTSTP sent to the sentry go to the guest's init (which,
    /// as a container's pid 1, ignores those it has no handler for). With
    /// this option, if the guest is still running SECS seconds after the
    /// first SIGTERM, SIGINT, SIGHUP or SIGQUIT, the whole sandbox is
    /// killed and the sentry exits with 137 (128+SIGKILL). Later signals
    /// (a second Ctrl-C) do not shorten the delay.
    #[arg(long = "kill-after", value_name = "SECS", value_parser = parse_secs)]
    kill_after: Option<std::time::Duration>,
    /// Most tasks (threads) alive at once in the sandbox: fork, vfork,
    /// clone and clone3 fail with EAGAIN past it.
    #[arg(long = "max-tasks", value_name = "N", default_value_t = sentry::kernel::limits::DEFAULT_MAX_TASKS,
        value_parser = clap::value_parser!(u64).range(1..))]
    max_tasks: u64,
    /// Most descriptors open at once across the whole sandbox: opening,
    /// duplicating or inheriting one past it fails (ENFILE; fork ENOMEM).
    #[arg(long = "max-files", value_name = "N", default_value_t = sentry::fs::DEFAULT_MAX_FILES,
        value_parser = clap::value_parser!(u64).range(3..))]
    max_files: u64,
    /// Whether a fork of a large process shares its page tables
    /// copy-on-write, 2 MiB at a time (on, the default; the platform's
    /// start-up self-test must also pass) or write-protects and copies the
    /// entry of every page (off). Also `SENTRY_FORK_SHARE=off`.
    #[arg(long = "fork-share", value_name = "on|off", value_parser = parse_on_off)]
    fork_share: Option<bool>,
}

fn parse_on_off(s: &str) -> Result<bool, String> {
    match s {
        "on" => Ok(true),
        "off" => Ok(false),
        _ => Err(format!("wants on or off, got {s:?}")),
    }
}

impl CommonOpts {
    /// The sandbox-wide limits; also applies `--fork-share` (a setting of
    /// the memory manager, read at each fork), since every command that
    /// runs a guest asks for its limits first.
    fn sandbox_limits(&self) -> sentry::kernel::limits::SandboxLimits {
        if let Some(on) = self.fork_share {
            sentry::mm::set_fork_share(on);
        }
        sentry::kernel::limits::SandboxLimits {
            max_tasks: self.max_tasks,
            max_files: self.max_files,
        }
    }
}

fn parse_secs(s: &str) -> Result<std::time::Duration, String> {
    let secs: f64 = s
        .trim()
        .parse()
        .map_err(|_| format!("not a number of seconds: {s:?}"))?;
    std::time::Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("not a number of seconds: {s:?}"))
}

fn parse_mount(s: &str) -> Result<sentry::fs::setup::BindMount, String> {
    let m = sentry::fs::setup::BindMount::parse(s)?;
    if !m.host.is_dir() {
        return Err(format!("{}: not a directory", m.host.display()));
    }
    Ok(m)
}

/// The guest's default PATH.
const GUEST_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

fn parse_platform(s: &str) -> Result<sentry::PlatformKind, String> {
    sentry::PlatformKind::parse(s).ok_or_else(|| format!("unknown platform {s:?} (kvm or seccomp)"))
}

fn parse_size(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let (num, mult) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => {
            let m: u64 = match c.to_ascii_uppercase() {
                'K' => 1 << 10,
                'M' => 1 << 20,
                'G' => 1 << 30,
                'T' => 1 << 40,
                _ => return Err(format!("unknown size suffix in {s:?} (use K, M, G or T)")),
            };
            (&s[..i], m)
        }
        _ => (s, 1),
    };
    let n: u64 = num
        .parse()
        .map_err(|_| format!("not a size: {s:?} (for example 512M or 2G)"))?;
    let bytes = n
        .checked_mul(mult)
        .ok_or_else(|| format!("size too large: {s:?}"))?;
    if bytes < (16 << 20) {
        return Err(format!(
            "{s:?} is too small: the sandbox needs at least 16M"
        ));
    }
    Ok(bytes)
}

fn init_logging(level: tracing::Level) {
    sentry::log::init(level);
}

/// A line on stderr that cannot panic (stderr may be closed).
fn say(line: std::fmt::Arguments<'_>) {
    sentry::log::flush();
    sentry::log::stderr_line(line);
}

/// Blocks the host signals the sandbox forwards to its guest, before any
/// thread exists (see `sentry::kernel::hostsig`); false (they then keep
/// their host action) if the host refused.
fn block_host_signals() -> bool {
    match sentry::kernel::hostsig::block_forwarded() {
        Ok(()) => true,
        Err(e) => {
            say(format_args!(
                "sentry: warning: host signals will not reach the guest: {}",
                std::io::Error::from_raw_os_error(e)
            ));
            false
        }
    }
}

fn report(exit: Exit) -> ExitCode {
    match exit {
        Exit::Exited(code) => {
            sentry::log::flush();
            ExitCode::from(code as u8)
        }
        Exit::Signaled(sig) => {
            say(format_args!(
                "sentry: the guest was killed by {} ({sig})",
                sentry::kernel::signal::name(sig)
            ));
            ExitCode::from((128 + sig) as u8)
        }
    }
}

/// Opens the program named on the command line (see
/// [`sentry::exec::ProgramFile::open_host`]); an error comes with the
/// status a shell gives: 127 when it does not exist, 126 otherwise.
fn open_program(
    program: &std::path::Path,
) -> Result<sentry::exec::ProgramFile, (std::io::Error, u8)> {
    sentry::exec::ProgramFile::open_host(program).map_err(|e| {
        let code = if e.kind() == std::io::ErrorKind::NotFound {
            127
        } else {
            126
        };
        (e, code)
    })
}

/// Runs a `#!` PROGRAM's interpreter as Linux would
/// ([`sentry::exec::follow_scripts`]) when PROGRAM is a host file (no
/// `--root`): interpreters are host paths, like PROGRAM. (With `--root`,
/// PROGRAM and its interpreters are guest paths, followed inside the
/// sandbox's tree by [`sentry::run`].) The script's path the interpreter
/// gets is `shown`; the program finally loaded is returned with its host
/// path (what /proc/self/exe shows). An error comes with the status a shell
/// gives (127 for ENOENT, as bash does for a missing interpreter).
fn follow_scripts(
    program: &std::path::Path,
    shown: &[u8],
    file: sentry::exec::ProgramFile,
    argv: &mut Vec<Vec<u8>>,
) -> Result<(PathBuf, sentry::exec::ProgramFile), (std::io::Error, u8)> {
    use sentry::errno::Errno;
    use sentry::exec::ProgramFile;
    use std::os::unix::ffi::OsStrExt;
    let open = |name: &[u8]| {
        let p = PathBuf::from(std::ffi::OsStr::from_bytes(name));
        ProgramFile::open_host(&p)
            .map(|f| (p, f))
            .map_err(|e| Errno(e.raw_os_error().unwrap_or(libc::EIO)))
    };
    let first = (program.to_path_buf(), file);
    sentry::exec::follow_scripts(first, shown, argv, |f| f.1.head(), open).map_err(|e| {
        let code = if e == Errno::ENOENT { 127 } else { 126 };
        (std::io::Error::from_raw_os_error(e.0), code)
    })
}

fn fail(e: SentryError, code: u8) -> ExitCode {
    say(format_args!("sentry: error: {e}"));
    ExitCode::from(code)
}

fn compare(
    memory: u64,
    env: &[String],
    stdin: Option<PathBuf>,
    timeout: u64,
    program: &std::path::Path,
    args: &[std::ffi::OsString],
) -> ExitCode {
    let input = match stdin.map(std::fs::read).transpose() {
        Ok(i) => i.unwrap_or_default(),
        Err(e) => {
            say(format_args!(
                "sentry: error: cannot read the stdin file: {e}"
            ));
            return ExitCode::from(2);
        }
    };
    let mut envp: Vec<(String, String)> = Vec::new();
    for e in env {
        match e.split_once('=') {
            Some((k, v)) => envp.push((k.to_string(), v.to_string())),
            None => {
                say(format_args!(
                    "sentry: error: --env wants KEY=VALUE, got {e:?}"
                ));
                return ExitCode::from(2);
            }
        }
    }
    if !envp.iter().any(|(k, _)| k == "PATH") {
        let path = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".into());
        envp.insert(0, ("PATH".into(), path));
    }
    let me = match std::env::current_exe() {
        Ok(p) => p,
        Err(e) => {
            say(format_args!(
                "sentry: error: cannot find the sentry executable: {e}"
            ));
            return ExitCode::from(2);
        }
    };
    // The native run sees the host's files, so the sandboxed one gets the
    // host's tree too (read-only).
    let flags = vec![
        "--memory".into(),
        memory.to_string().into(),
        "--root".into(),
        "/".into(),
    ];
    let (native, sandbox) = sentry::compare::commands(&me, program, args, &envp, &flags);
    let limit = std::time::Duration::from_secs(timeout);
    let run = |cmd, what| {
        sentry::compare::run(cmd, &input, limit).map_err(|e| {
            say(format_args!(
                "sentry: error: cannot start the {what} run: {e}"
            ));
        })
    };
    let (Ok(n), Ok(s)) = (run(native, "native"), run(sandbox, "sandboxed")) else {
        return ExitCode::from(2);
    };
    let (text, same) = sentry::compare::report(&n, &s);
    // Best-effort: a closed stdout must not panic the sentry.
    let _ = std::io::Write::write_all(&mut std::io::stdout().lock(), text.as_bytes());
    ExitCode::from(if same { 0 } else { 1 })
}

fn main() -> ExitCode {
    // Before anything opens a file: the sentry keeps no descriptor it did
    // not open itself (docs/SECURITY.md).
    if let Err(e) = platform::confine::close_inherited_fds() {
        say(format_args!(
            "sentry: error: cannot close inherited descriptors: {e}"
        ));
        return ExitCode::from(125);
    }
    // runc's command line (create, start, state, kill, delete, ...):
    // `sentry` as an OCI runtime (sentry::oci).
    let args: Vec<std::ffi::OsString> = std::env::args_os().skip(1).collect();
    if sentry::oci::cli::is_oci(&args) {
        return sentry::oci::cli::main(args);
    }
    let cli = Cli::parse();
    match cli.command {
        Command::Run {
            opts,
            env,
            workdir,
            program,
            args,
        } => {
            // First, while the sentry has one thread.
            let forward_signals = block_host_signals();
            init_logging(opts.log_level);
            if let Some(root) = &opts.root
                && !root.is_dir()
            {
                say(format_args!(
                    "sentry: error: --root {}: not a directory",
                    sentry::quote(root.as_os_str().as_encoded_bytes())
                ));
                return ExitCode::from(125);
            }
            use std::os::unix::ffi::OsStrExt;
            let mut argv = vec![program.as_os_str().as_bytes().to_vec()];
            argv.extend(args.iter().map(|a| a.as_bytes().to_vec()));
            let mut envp: Vec<Vec<u8>> = Vec::new();
            if !env.iter().any(|e| e.starts_with("PATH=")) {
                envp.push(GUEST_PATH.as_bytes().to_vec());
            }
            envp.extend(env.iter().map(|e| e.as_bytes().to_vec()));
            // With a root, PROGRAM is a guest path, found (and a `#!`
            // script followed) in the sandbox's tree once it is built;
            // without, a host file, and a script's interpreters are host
            // files too.
            let (prog, exe_path, execfn, exe_host) = if opts.root.is_some() {
                let name = program.as_os_str().as_bytes().to_vec();
                (sentry::Program::Guest(name.clone()), name, None, None)
            } else {
                let elf = match open_program(&program) {
                    Ok(f) => f,
                    Err((e, code)) => {
                        say(format_args!(
                            "sentry: error: cannot execute {}: {e}",
                            sentry::quote(program.as_os_str().as_bytes())
                        ));
                        return ExitCode::from(code);
                    }
                };
                let shown = program.as_os_str().as_bytes().to_vec();
                let (found, elf) = match follow_scripts(&program, &shown, elf, &mut argv) {
                    Ok(f) => f,
                    Err((e, code)) => {
                        say(format_args!(
                            "sentry: error: cannot execute {}: {e}",
                            sentry::quote(program.as_os_str().as_bytes())
                        ));
                        return ExitCode::from(code);
                    }
                };
                let canonical = |p: &std::path::Path| {
                    std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf())
                };
                let exe = canonical(&found);
                // AT_EXECFN is the script's path when a script was run.
                let execfn =
                    (found != program).then(|| sentry::guest_exe_path(&canonical(&program), None));
                (
                    sentry::Program::File(std::sync::Arc::new(elf)),
                    sentry::guest_exe_path(&exe, None),
                    execfn,
                    Some(exe),
                )
            };
            let opts = RunOptions {
                program: prog,
                argv,
                envp,
                exe_path,
                execfn,
                exe_host,
                memory_limit: opts.memory,
                sandbox_limits: opts.sandbox_limits(),
                strace: opts.strace,
                stats: opts.stats,
                root: opts.root,
                mounts: opts.mounts,
                workdir: workdir.map(String::into_bytes),
                sandbox_self: !opts.no_sandbox_self,
                aslr: !opts.no_aslr,
                platform: opts.platform.unwrap_or_else(sentry::PlatformKind::from_env),
                forward_signals,
                kill_after: opts.kill_after,
                guest: Default::default(),
            };
            match sentry::run(opts) {
                Ok(exit) => report(exit),
                Err(
                    e @ SentryError::Exec(sentry::exec::ExecError::Interp {
                        errno: sentry::errno::Errno::ENOENT,
                        ..
                    }),
                ) => fail(e, 127),
                Err(e @ SentryError::Exec(_)) => fail(e, 126),
                Err(
                    e @ SentryError::Program {
                        errno: sentry::errno::Errno::ENOENT,
                        ..
                    },
                ) => fail(e, 127),
                Err(e @ SentryError::Program { .. }) => fail(e, 126),
                Err(e) => fail(e, 125),
            }
        }
        Command::Compare {
            memory,
            env,
            stdin,
            timeout,
            program,
            args,
        } => compare(memory, &env, stdin, timeout, &program, &args),
        Command::Demo { opts } => {
            let forward_signals = block_host_signals();
            init_logging(opts.log_level);
            let run = RunOptions {
                program: sentry::Program::Bytes(sentry::demo::elf()),
                argv: vec![b"demo".to_vec()],
                envp: vec![],
                exe_path: b"/demo".to_vec(),
                execfn: None,
                exe_host: None,
                memory_limit: opts.memory,
                sandbox_limits: opts.sandbox_limits(),
                strace: opts.strace,
                stats: opts.stats,
                root: opts.root,
                mounts: opts.mounts,
                workdir: None,
                sandbox_self: !opts.no_sandbox_self,
                aslr: !opts.no_aslr,
                platform: opts.platform.unwrap_or_else(sentry::PlatformKind::from_env),
                forward_signals,
                kill_after: opts.kill_after,
                guest: Default::default(),
            };
            match sentry::run(run) {
                Ok(exit) => report(exit),
                Err(e) => fail(e, 125),
            }
        }
    }
}

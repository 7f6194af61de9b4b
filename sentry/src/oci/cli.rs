//! The runtime's commands, runc-compatible (see the module docs of
//! [`crate::oci`]). Parsed by hand rather than with clap: engines pass
//! flags of several runtimes (runc's and crun's), which are accepted, and
//! `--flag=value` and `--flag value` forms alike.

use std::ffi::OsString;
use std::io::Write;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use serde_json::Value;

use super::spec::{self, OCI_VERSION};
use super::state::{Container, Record, Status};

/// The default runtime root (state directories).
pub const DEFAULT_ROOT: &str = "/run/sentry-oci";

/// The OCI subcommands.
const COMMANDS: &[&str] = &[
    "create",
    "start",
    "state",
    "kill",
    "delete",
    "exec",
    "ps",
    "features",
    "spec",
    "list",
    "pause",
    "resume",
    "update",
    "events",
    "checkpoint",
    "restore",
    INIT,
];

/// The hidden command of the container's own process.
const INIT: &str = "oci-init";

/// Global flags that take a value.
const GLOBAL_VALUE: &[&str] = &[
    "--root",
    "--log",
    "--log-format",
    "--cgroup-manager",
    "--criu",
];
/// Global flags without a value.
const GLOBAL_BOOL: &[&str] = &["--debug", "--systemd-cgroup", "--rootless", "--no-pivot"];

/// Flags of `run` that only the OCI `run` has (sentry's own `run` has
/// none of them).
const OCI_RUN_FLAGS: &[&str] = &[
    "-b",
    "--bundle",
    "-d",
    "--detach",
    "--pid-file",
    "--console-socket",
    "--no-pivot",
    "--no-new-keyring",
    "--keep",
    "--preserve-fds",
];

fn flag_name(a: &str) -> &str {
    a.split_once('=').map_or(a, |(n, _)| n)
}

/// Whether the command line (without argv[0]) is an OCI runtime command:
/// `oci ...`, a runtime global flag first, an OCI-only command, or `run`
/// with an OCI-only flag (`-b`/`--bundle`, `--detach`, ...).
pub fn is_oci(args: &[OsString]) -> bool {
    let Some(first) = args.first().and_then(|a| a.to_str()) else {
        return false;
    };
    if first == "oci" || COMMANDS.contains(&first) {
        return true;
    }
    let name = flag_name(first);
    if GLOBAL_VALUE.contains(&name) || GLOBAL_BOOL.contains(&name) {
        return true;
    }
    first == "run"
        && args[1..]
            .iter()
            .take_while(|a| *a != "--")
            .filter_map(|a| a.to_str())
            .any(|a| OCI_RUN_FLAGS.contains(&flag_name(a)))
}

/// The global flags.
#[derive(Clone, Debug)]
struct Global {
    root: PathBuf,
    log: Option<PathBuf>,
    log_json: bool,
    debug: bool,
}

impl Global {
    /// Logs `msg` at `level` to --log (if any).
    fn log(&self, level: &str, msg: &str) {
        let Some(path) = &self.log else { return };
        let line = if self.log_json {
            serde_json::json!({"level": level, "msg": msg, "time": super::state::now_rfc3339()})
                .to_string()
        } else {
            format!(
                "time=\"{}\" level={level} msg={:?}",
                super::state::now_rfc3339(),
                msg
            )
        };
        if let Ok(mut f) = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(path)
        {
            let _ = writeln!(f, "{line}");
        }
    }

    /// Reports an error on stderr and in --log.
    fn error(&self, msg: &str) -> ExitCode {
        self.log("error", msg);
        crate::log::stderr_line(format_args!("sentry: error: {msg}"));
        ExitCode::from(1)
    }

    fn debug(&self, msg: &str) {
        if self.debug {
            self.log("debug", msg);
        }
    }

    /// The flags to hand on to the container's process.
    fn pass_on(&self) -> Vec<OsString> {
        let mut v: Vec<OsString> = vec!["--root".into(), self.root.clone().into()];
        if let Some(l) = &self.log {
            v.push("--log".into());
            v.push(l.clone().into());
            v.push("--log-format".into());
            v.push(if self.log_json { "json" } else { "text" }.into());
        }
        v
    }
}

/// Parsed flags of one command.
#[derive(Default, Debug)]
struct Flags {
    values: Vec<(String, String)>,
    bools: Vec<String>,
    positional: Vec<String>,
}

impl Flags {
    fn value(&self, names: &[&str]) -> Option<&str> {
        self.values
            .iter()
            .rev()
            .find(|(n, _)| names.contains(&n.as_str()))
            .map(|(_, v)| v.as_str())
    }
    fn all(&self, names: &[&str]) -> Vec<&str> {
        self.values
            .iter()
            .filter(|(n, _)| names.contains(&n.as_str()))
            .map(|(_, v)| v.as_str())
            .collect()
    }
    fn has(&self, names: &[&str]) -> bool {
        self.bools.iter().any(|b| names.contains(&b.as_str()))
    }
}

/// Parses `args` with the value flags `value` and boolean flags `bools`;
/// positional arguments after the first one are kept as they are when
/// `rest_after_first` (exec's command).
fn parse_flags(
    args: &[String],
    value: &[&str],
    bools: &[&str],
    rest_after: Option<usize>,
) -> Result<Flags, String> {
    let mut f = Flags::default();
    let mut i = 0;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if rest_after.is_some_and(|n| f.positional.len() >= n) {
            if a == "--" && f.positional.len() == rest_after.unwrap_or(0) {
                continue;
            }
            f.positional.push(a.clone());
            f.positional.extend(args[i..].iter().cloned());
            break;
        }
        if a == "--" {
            f.positional.extend(args[i..].iter().cloned());
            break;
        }
        if a.starts_with('-') && a.len() > 1 {
            let (name, inline) = match a.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (a.as_str(), None),
            };
            if value.contains(&name) {
                let v = match inline {
                    Some(v) => v,
                    None => {
                        let v = args
                            .get(i)
                            .ok_or_else(|| format!("flag {name} needs a value"))?;
                        i += 1;
                        v.clone()
                    }
                };
                f.values.push((name.to_string(), v));
            } else if bools.contains(&name) {
                if inline.as_deref().is_none_or(|v| v != "false") {
                    f.bools.push(name.to_string());
                }
            } else {
                return Err(format!("unknown flag {name}"));
            }
        } else {
            f.positional.push(a.clone());
        }
    }
    Ok(f)
}

/// Runs an OCI command line (without argv[0]; `is_oci` said yes).
pub fn main(args: Vec<OsString>) -> ExitCode {
    let mut args: Vec<String> = match args.into_iter().map(|a| a.into_string()).collect() {
        Ok(a) => a,
        Err(_) => {
            crate::log::stderr_line(format_args!("sentry: error: arguments must be UTF-8"));
            return ExitCode::from(1);
        }
    };
    if args.first().is_some_and(|a| a == "oci") {
        args.remove(0);
    }
    let mut g = Global {
        root: PathBuf::from(DEFAULT_ROOT),
        log: None,
        log_json: false,
        debug: false,
    };
    let mut i = 0;
    while i < args.len() && args[i].starts_with('-') {
        let a = args[i].clone();
        i += 1;
        let (name, inline) = match a.split_once('=') {
            Some((n, v)) => (n.to_string(), Some(v.to_string())),
            None => (a.clone(), None),
        };
        let value = if GLOBAL_VALUE.contains(&name.as_str()) {
            match inline {
                Some(v) => Some(v),
                None if i < args.len() => {
                    i += 1;
                    Some(args[i - 1].clone())
                }
                None => return g.error(&format!("flag {name} needs a value")),
            }
        } else {
            None
        };
        match (name.as_str(), value) {
            ("--root", Some(v)) => g.root = PathBuf::from(v),
            ("--log", Some(v)) => g.log = Some(PathBuf::from(v)),
            ("--log-format", Some(v)) => g.log_json = v == "json",
            ("--debug", _) => g.debug = true,
            // Accepted and ignored: the sandbox uses no host cgroup
            // (--systemd-cgroup, crun's --cgroup-manager), no CRIU, and
            // needs no rootless mode or pivot_root choice.
            ("--systemd-cgroup" | "--rootless" | "--no-pivot", _) => {}
            ("--cgroup-manager" | "--criu", _) => {}
            ("-v" | "--version", _) => {
                println!(
                    "sentry version {}\nspec: {OCI_VERSION}",
                    env!("CARGO_PKG_VERSION")
                );
                return ExitCode::SUCCESS;
            }
            (other, _) => {
                // Another runtime's global flag: accepted (a `--x=y`
                // form carries its value), logged.
                g.debug(&format!("ignoring the global flag {other}"));
            }
        }
    }
    let Some(cmd) = args.get(i).cloned() else {
        return g.error("no command given (create, start, state, kill, delete, run, exec, ps, list, features, spec)");
    };
    let rest = &args[i + 1..];
    g.debug(&format!("{cmd} {rest:?}"));
    let result = match cmd.as_str() {
        "create" => create_cmd(&g, rest),
        "start" => start_cmd(&g, rest),
        "state" => state_cmd(&g, rest),
        "kill" => kill_cmd(&g, rest),
        "delete" => delete_cmd(&g, rest),
        "run" => run_cmd(&g, rest),
        "exec" => exec_cmd(&g, rest),
        "ps" => ps_cmd(&g, rest),
        "list" => list_cmd(&g, rest),
        "features" => features_cmd(),
        "spec" => spec_cmd(rest),
        INIT => return init_cmd(&g, rest),
        "pause" | "resume" | "update" | "events" | "checkpoint" | "restore" => {
            Err(format!("{cmd} is not supported by this runtime"))
        }
        other => Err(format!("unknown command {other:?}")),
    };
    match result {
        Ok(code) => code,
        Err(e) => g.error(&e),
    }
}

/// The one positional argument: the container id.
fn one_id(f: &Flags, cmd: &str) -> Result<String, String> {
    match &f.positional[..] {
        [id] => {
            super::state::check_id(id)?;
            Ok(id.clone())
        }
        [] => Err(format!("{cmd}: a container id is required")),
        _ => Err(format!("{cmd}: too many arguments: {:?}", f.positional)),
    }
}

const CREATE_VALUES: &[&str] = &[
    "-b",
    "--bundle",
    "--pid-file",
    "--console-socket",
    "--preserve-fds",
];
const CREATE_BOOLS: &[&str] = &["--no-pivot", "--no-new-keyring"];

fn create_cmd(g: &Global, args: &[String]) -> Result<ExitCode, String> {
    let f = parse_flags(args, CREATE_VALUES, CREATE_BOOLS, None)?;
    let id = one_id(&f, "create")?;
    create(g, &id, &f)?;
    Ok(ExitCode::SUCCESS)
}

/// Creates the container: its state directory, and its process (waiting
/// for `start`), which is returned.
fn create(g: &Global, id: &str, f: &Flags) -> Result<std::process::Child, String> {
    let bundle = f.value(&["-b", "--bundle"]).unwrap_or(".");
    let bundle = std::fs::canonicalize(bundle).map_err(|e| format!("bundle {bundle}: {e}"))?;
    if let Some(n) = f.value(&["--preserve-fds"])
        && n != "0"
    {
        return Err(format!(
            "--preserve-fds {n}: passing extra descriptors into the sandbox is not supported"
        ));
    }
    let plan = spec::load(&bundle).map_err(|e| e.to_string())?;
    std::fs::create_dir_all(&g.root)
        .map_err(|e| format!("cannot make the runtime root {}: {e}", g.root.display()))?;
    let c = Container::new(&g.root, id)?;
    let made = {
        use std::os::unix::fs::DirBuilderExt;
        // Only root reaches the state, the fifo and the control socket.
        std::fs::DirBuilder::new().mode(0o700).create(&c.dir)
    };
    match made {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
            return Err(format!("container with id {id:?} already exists"));
        }
        Err(e) => return Err(format!("cannot make {}: {e}", c.dir.display())),
    }
    let _lock = c.lock()?;
    let made = (|| -> Result<std::process::Child, String> {
        rustix::fs::mknodat(
            rustix::fs::CWD,
            c.fifo(),
            rustix::fs::FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .map_err(|e| format!("cannot make {}: {e}", c.fifo().display()))?;
        let console = if plan.terminal {
            let socket = f.value(&["--console-socket"]).ok_or_else(|| {
                "process.terminal is true but no --console-socket was given".to_string()
            })?;
            Some(open_console(Path::new(socket), plan.console_size)?)
        } else {
            None
        };
        let me = std::env::current_exe()
            .map_err(|e| format!("cannot find the sentry executable: {e}"))?;
        let mut cmd = std::process::Command::new(me);
        cmd.args(g.pass_on()).arg(INIT).arg(&c.dir).arg(&bundle);
        if let Some(slave) = &console {
            let dup = |s: &OwnedFd| {
                s.try_clone()
                    .map(std::process::Stdio::from)
                    .map_err(|e| format!("cannot duplicate the terminal: {e}"))
            };
            cmd.stdin(dup(slave)?)
                .stdout(dup(slave)?)
                .stderr(dup(slave)?);
        }
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start the container process: {e}"))?;
        let pid = child.id() as i32;
        // The child is ours until we exit: its stat is readable now.
        let starttime = super::state::proc_stat(pid).map_or(0, |s| s.1);
        let record = Record {
            oci_version: OCI_VERSION.to_string(),
            id: id.to_string(),
            pid,
            starttime,
            bundle: bundle.display().to_string(),
            rootfs: plan.root.display().to_string(),
            created: super::state::now_rfc3339(),
            annotations: plan.annotations.clone(),
        };
        c.save(&record)?;
        // Wait until the process has read the bundle and waits for
        // `start` (or has failed: its error is on its stderr and in --log).
        let until = std::time::Instant::now() + std::time::Duration::from_secs(60);
        while !c.dir.join("ready").exists() {
            if !super::state::alive(pid, starttime) || std::time::Instant::now() > until {
                return Err(format!("the container process {pid} failed to start"));
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        if let Some(p) = f.value(&["--pid-file"]) {
            write_pid_file(Path::new(p), pid)?;
        }
        Ok(child)
    })();
    match made {
        Ok(child) => Ok(child),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&c.dir);
            Err(e)
        }
    }
}

/// Writes `pid` to `path` atomically (a reader never sees it partial).
fn write_pid_file(path: &Path, pid: i32) -> Result<(), String> {
    let tmp = path.with_extension("sentry-tmp");
    std::fs::write(&tmp, pid.to_string())
        .and_then(|()| std::fs::rename(&tmp, path))
        .map_err(|e| format!("cannot write the pid file {}: {e}", path.display()))
}

/// Makes a pseudo-terminal, sends its master to the console socket
/// (SCM_RIGHTS, as runc does) and returns its slave.
fn open_console(socket: &Path, size: Option<(u16, u16)>) -> Result<OwnedFd, String> {
    use rustix::pty::OpenptFlags;
    let fail = |what: &str, e: rustix::io::Errno| format!("console: {what}: {e}");
    let master =
        rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC)
            .map_err(|e| fail("openpt", e))?;
    rustix::pty::grantpt(&master).map_err(|e| fail("grantpt", e))?;
    rustix::pty::unlockpt(&master).map_err(|e| fail("unlockpt", e))?;
    let name = rustix::pty::ptsname(&master, Vec::new()).map_err(|e| fail("ptsname", e))?;
    let slave = rustix::fs::open(
        name.as_c_str(),
        rustix::fs::OFlags::RDWR | rustix::fs::OFlags::NOCTTY | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    )
    .map_err(|e| fail("open the slave", e))?;
    if let Some((rows, cols)) = size
        && rows > 0
        && cols > 0
    {
        let ws = rustix::termios::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        let _ = rustix::termios::tcsetwinsize(&master, ws);
    }
    let stream = std::os::unix::net::UnixStream::connect(socket)
        .map_err(|e| format!("console socket {}: {e}", socket.display()))?;
    send_fd(&stream, &master, name.to_bytes()).map_err(|e| {
        format!(
            "console socket {}: cannot send the terminal: {e}",
            socket.display()
        )
    })?;
    Ok(slave)
}

/// Sends `fd` with the bytes `data` over a Unix socket.
pub fn send_fd(sock: &impl AsFd, fd: &impl AsFd, data: &[u8]) -> std::io::Result<()> {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    let fds = [fd.as_fd()];
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut anc = SendAncillaryBuffer::new(&mut space);
    anc.push(SendAncillaryMessage::ScmRights(&fds));
    rustix::net::sendmsg(
        sock,
        &[std::io::IoSlice::new(data)],
        &mut anc,
        SendFlags::empty(),
    )?;
    Ok(())
}

fn start_cmd(g: &Global, args: &[String]) -> Result<ExitCode, String> {
    let f = parse_flags(args, &[], &[], None)?;
    let id = one_id(&f, "start")?;
    start(g, &id)?;
    Ok(ExitCode::SUCCESS)
}

fn start(g: &Global, id: &str) -> Result<(), String> {
    let c = Container::new(&g.root, id)?;
    let _lock = c.lock()?;
    let r = c.record()?;
    match c.status(&r) {
        Status::Created => {}
        Status::Running => return Err(format!("container {id:?} is already running")),
        Status::Stopped => return Err(format!("cannot start container {id:?}: it has stopped")),
        Status::Creating => return Err(format!("container {id:?} is still being created")),
    }
    std::fs::write(c.started_marker(), b"").map_err(|e| format!("cannot record the start: {e}"))?;
    // The container's process waits in open(O_RDONLY) on the fifo: this
    // open succeeds at once; ENXIO means no reader (it is gone).
    let fifo = rustix::fs::open(
        c.fifo(),
        rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC,
        rustix::fs::Mode::empty(),
    );
    // The process opens the fifo right after it marked itself ready
    // (`create` waited for that): retry briefly while it is alive.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut fifo = fifo;
    while matches!(fifo, Err(rustix::io::Errno::NXIO))
        && super::state::alive(r.pid, r.starttime)
        && std::time::Instant::now() < until
    {
        std::thread::sleep(std::time::Duration::from_millis(2));
        fifo = rustix::fs::open(
            c.fifo(),
            rustix::fs::OFlags::WRONLY | rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::CLOEXEC,
            rustix::fs::Mode::empty(),
        );
    }
    let sent = fifo.and_then(|fd| rustix::io::write(&fd, b"0"));
    if let Err(e) = sent {
        let _ = std::fs::remove_file(c.started_marker());
        return Err(format!(
            "cannot start container {id:?}: its process is not waiting ({e})"
        ));
    }
    let _ = std::fs::remove_file(c.fifo());
    Ok(())
}

fn state_cmd(g: &Global, args: &[String]) -> Result<ExitCode, String> {
    let f = parse_flags(args, &[], &[], None)?;
    let id = one_id(&f, "state")?;
    let c = Container::new(&g.root, &id)?;
    let r = c.record()?;
    let text = serde_json::to_string_pretty(&c.state_json(&r)).map_err(|e| e.to_string())?;
    println!("{text}");
    Ok(ExitCode::SUCCESS)
}

/// Signal names (without SIG) by number.
const SIGNALS: &[(&str, i32)] = &[
    ("HUP", 1),
    ("INT", 2),
    ("QUIT", 3),
    ("ILL", 4),
    ("TRAP", 5),
    ("ABRT", 6),
    ("IOT", 6),
    ("BUS", 7),
    ("FPE", 8),
    ("KILL", 9),
    ("USR1", 10),
    ("SEGV", 11),
    ("USR2", 12),
    ("PIPE", 13),
    ("ALRM", 14),
    ("TERM", 15),
    ("STKFLT", 16),
    ("CHLD", 17),
    ("CONT", 18),
    ("STOP", 19),
    ("TSTP", 20),
    ("TTIN", 21),
    ("TTOU", 22),
    ("URG", 23),
    ("XCPU", 24),
    ("XFSZ", 25),
    ("VTALRM", 26),
    ("PROF", 27),
    ("WINCH", 28),
    ("IO", 29),
    ("POLL", 29),
    ("PWR", 30),
    ("SYS", 31),
];

/// Parses a signal: a number, `TERM` or `SIGTERM`.
pub fn parse_signal(s: &str) -> Result<i32, String> {
    if let Ok(n) = s.parse::<i32>() {
        if (1..=64).contains(&n) {
            return Ok(n);
        }
        return Err(format!("invalid signal {s:?}"));
    }
    let up = s.to_ascii_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    SIGNALS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .ok_or_else(|| format!("invalid signal {s:?}"))
}

fn kill_cmd(g: &Global, args: &[String]) -> Result<ExitCode, String> {
    let f = parse_flags(args, &[], &["-a", "--all"], None)?;
    let (id, sig) = match &f.positional[..] {
        [id] => (id.clone(), 15),
        [id, s] => (id.clone(), parse_signal(s)?),
        _ => return Err("kill: usage: kill [--all] ID [SIGNAL]".into()),
    };
    let c = Container::new(&g.root, &id)?;
    let _lock = c.lock()?;
    let r = c.record()?;
    if c.status(&r) == Status::Stopped {
        return Err(format!("container {id:?} is not running"));
    }
    // One host process is the whole container: --all is the same.
    send_signal(r.pid, sig).map_err(|e| format!("cannot signal container {id:?}: {e}"))?;
    Ok(ExitCode::SUCCESS)
}

fn send_signal(pid: i32, sig: i32) -> std::io::Result<()> {
    let pid = rustix::process::Pid::from_raw(pid)
        .ok_or_else(|| std::io::Error::from_raw_os_error(libc::ESRCH))?;
    let sig = rustix::process::Signal::from_named_raw(sig)
        .ok_or_else(|| std::io::Error::from_raw_os_error(libc::EINVAL))?;
    rustix::process::kill_process(pid, sig)?;
    Ok(())
}

fn delete_cmd(g: &Global, args: &[String]) -> Result<ExitCode, String> {
    let f = parse_flags(args, &[], &["-f", "--force"], None)?;
    let id = one_id(&f, "delete")?;
    delete(g, &id, f.has(&["-f", "--force"]))?;
    Ok(ExitCode::SUCCESS)
}

fn delete(g: &Global, id: &str, force: bool) -> Result<(), String> {
    let c = Container::new(&g.root, id)?;
    if !c.dir.exists() {
        if force {
            return Ok(());
        }
        return Err(format!("container {id:?} does not exist"));
    }
    let _lock = c.lock()?;
    match c.record() {
        Ok(r) => {
            let status = c.status(&r);
            if status == Status::Running && !force {
                return Err(format!(
                    "cannot delete container {id:?} that is not stopped: running"
                ));
            }
            if status != Status::Stopped {
                let _ = send_signal(r.pid, libc::SIGKILL);
                let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
                while super::state::alive(r.pid, r.starttime) {
                    if std::time::Instant::now() > until {
                        return Err(format!("container {id:?} did not die after SIGKILL"));
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            }
        }
        Err(e) if !force => return Err(e),
        Err(_) => {}
    }
    std::fs::remove_dir_all(&c.dir).map_err(|e| format!("cannot remove {}: {e}", c.dir.display()))
}

fn run_cmd(g: &Global, args: &[String]) -> Result<ExitCode, String> {
    let f = parse_flags(
        args,
        CREATE_VALUES,
        &[CREATE_BOOLS, &["-d", "--detach", "--keep"]].concat(),
        None,
    )?;
    let id = one_id(&f, "run")?;
    // In the foreground, signals sent to `run` go to the container (as
    // runc's): blocked before any thread exists, forwarded below.
    let detach = f.has(&["-d", "--detach"]);
    let forward = !detach && crate::kernel::hostsig::block_forwarded().is_ok();
    let mut child = create(g, &id, &f)?;
    if let Err(e) = start(g, &id) {
        let _ = delete(g, &id, true);
        return Err(e);
    }
    if detach {
        return Ok(ExitCode::SUCCESS);
    }
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    if forward {
        let done = std::sync::Arc::clone(&done);
        let pid = child.id() as i32;
        let _ = std::thread::Builder::new()
            .name("run-signals".into())
            .spawn(move || {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    if let Some(sig) = platform::host::wait_signal(
                        &crate::kernel::hostsig::FORWARDED,
                        Some(std::time::Duration::from_millis(100)),
                    ) {
                        let _ = send_signal(pid, sig);
                    }
                }
            });
    }
    let status = child.wait();
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    let status = status.map_err(|e| format!("cannot wait for the container: {e}"))?;
    if !f.has(&["--keep"]) {
        delete(g, &id, true)?;
    }
    use std::os::unix::process::ExitStatusExt;
    let code = match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        _ => 255,
    };
    Ok(ExitCode::from(code as u8))
}

fn ps_cmd(g: &Global, args: &[String]) -> Result<ExitCode, String> {
    let f = parse_flags(args, &["-f", "--format"], &[], Some(1))?;
    let id = f
        .positional
        .first()
        .cloned()
        .ok_or("ps: a container id is required")?;
    let c = Container::new(&g.root, &id)?;
    let r = c.record()?;
    let pids: Vec<i32> = if c.status(&r) == Status::Stopped {
        vec![]
    } else {
        vec![r.pid]
    };
    if f.value(&["-f", "--format"]) == Some("json") {
        println!(
            "{}",
            serde_json::to_string(&pids).map_err(|e| e.to_string())?
        );
    } else {
        println!("PID   CMD");
        for p in pids {
            let cmd = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
            println!("{p:<5} {}", cmd.trim_end());
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn list_cmd(g: &Global, args: &[String]) -> Result<ExitCode, String> {
    let f = parse_flags(args, &["-f", "--format"], &["-q", "--quiet"], None)?;
    let mut rows = Vec::new();
    if let Ok(dir) = std::fs::read_dir(&g.root) {
        for e in dir.flatten() {
            let Some(name) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            let Ok(c) = Container::new(&g.root, &name) else {
                continue;
            };
            if let Ok(r) = c.record() {
                rows.push(c.state_json(&r));
            }
        }
    }
    rows.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    if f.has(&["-q", "--quiet"]) {
        for r in &rows {
            println!("{}", r["id"].as_str().unwrap_or(""));
        }
    } else if f.value(&["-f", "--format"]) == Some("json") {
        println!("{}", Value::Array(rows));
    } else {
        println!("ID\tPID\tSTATUS\tBUNDLE\tCREATED\tOWNER");
        for r in &rows {
            println!(
                "{}\t{}\t{}\t{}\t{}\troot",
                r["id"].as_str().unwrap_or(""),
                r["pid"],
                r["status"].as_str().unwrap_or(""),
                r["bundle"].as_str().unwrap_or(""),
                r["created"].as_str().unwrap_or("")
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn features_cmd() -> Result<ExitCode, String> {
    let caps: Vec<&str> = spec::CAP_NAMES.to_vec();
    let f = serde_json::json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": OCI_VERSION,
        "hooks": [],
        "mountOptions": ["bind", "rbind", "ro", "rw", "mode", "nosuid", "nodev", "noexec"],
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"],
            "capabilities": caps,
            "cgroup": {"v1": false, "v2": false, "systemd": false, "systemdUser": false},
            "seccomp": {"enabled": false},
            "apparmor": {"enabled": false},
            "selinux": {"enabled": false},
            "intelRdt": {"enabled": false}
        },
        "annotations": {
            "io.github.sentry.sandbox": "kvm",
            "io.github.sentry.ignored": spec::IGNORED.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", ")
        }
    });
    println!(
        "{}",
        serde_json::to_string_pretty(&f).map_err(|e| e.to_string())?
    );
    Ok(ExitCode::SUCCESS)
}

fn spec_cmd(args: &[String]) -> Result<ExitCode, String> {
    let f = parse_flags(args, &["-b", "--bundle"], &["--rootless"], None)?;
    let dir = PathBuf::from(f.value(&["-b", "--bundle"]).unwrap_or("."));
    let path = dir.join("config.json");
    if path.exists() {
        return Err(format!("File {} exists. Remove it first", path.display()));
    }
    let text = serde_json::to_string_pretty(&spec::default_config()).map_err(|e| e.to_string())?;
    std::fs::write(&path, text + "\n").map_err(|e| format!("{}: {e}", path.display()))?;
    Ok(ExitCode::SUCCESS)
}

/// The container's own process: waits for `start`, then runs the guest
/// and exits with its status.
fn init_cmd(g: &Global, args: &[String]) -> ExitCode {
    let Some(dir) = args.first() else {
        return g.error("oci-init: no state directory");
    };
    let dir = PathBuf::from(dir);
    let id = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or_default()
        .to_string();
    let c = Container {
        dir: dir.clone(),
        id,
    };
    // A session of its own, with the terminal (if any) as its controlling
    // terminal: job control inside the guest works on it.
    let _ = rustix::process::setsid();
    let prepared = (|| -> Result<spec::Plan, String> {
        // Wait for `start` (one byte) or for the fifo's writer to go away.
        let bundle = args.get(1).ok_or("oci-init: no bundle")?;
        let plan = spec::load(Path::new(bundle)).map_err(|e| e.to_string())?;
        if plan.terminal {
            let _ = rustix::process::ioctl_tiocsctty(std::io::stdin().as_fd());
        }
        std::fs::write(c.dir.join("ready"), b"").map_err(|e| format!("ready: {e}"))?;
        let fifo = std::fs::File::open(c.fifo()).map_err(|e| format!("exec fifo: {e}"))?;
        let mut b = [0u8; 1];
        let n = std::io::Read::read(&mut &fifo, &mut b).map_err(|e| format!("exec fifo: {e}"))?;
        if n == 0 {
            return Err("the container was not started".into());
        }
        Ok(plan)
    })();
    let plan = match prepared {
        Ok(p) => p,
        Err(e) => return g.error(&e),
    };
    // The socket `exec` requests arrive on (bound before the sentry
    // confines itself).
    let sock_path = dir.join(super::exec::SOCKET);
    let _ = std::fs::remove_file(&sock_path);
    let control = match std::os::unix::net::UnixDatagram::bind(&sock_path) {
        Ok(s) => Some(super::guest::ControlSocket(std::sync::Arc::new(s))),
        Err(e) => {
            g.log(
                "warning",
                &format!("exec will not work: {}: {e}", sock_path.display()),
            );
            None
        }
    };
    // Before any thread exists (see kernel::hostsig).
    let forward_signals = crate::kernel::hostsig::block_forwarded().is_ok();
    crate::log::init(tracing::Level::WARN);
    if let Some(h) = &plan.hostname {
        crate::kernel::limits::set_hostname(h);
    }
    let argv: Vec<Vec<u8>> = plan.args.iter().map(|a| a.as_bytes().to_vec()).collect();
    let opts = crate::RunOptions {
        program: crate::Program::Guest(argv[0].clone()),
        argv: argv.clone(),
        envp: plan.env.iter().map(|e| e.as_bytes().to_vec()).collect(),
        exe_path: argv[0].clone(),
        execfn: None,
        exe_host: None,
        memory_limit: plan.memory_limit.unwrap_or(1 << 30),
        // The platform a container runs on: SENTRY_PLATFORM in the
        // runtime's environment (KVM by default).
        platform: crate::PlatformKind::from_env(),
        strace: false,
        stats: false,
        root: Some(plan.root.clone()),
        mounts: plan.binds.clone(),
        workdir: Some(plan.cwd.as_bytes().to_vec()),
        sandbox_self: true,
        forward_signals,
        kill_after: None,
        sandbox_limits: crate::kernel::limits::SandboxLimits::default(),
        aslr: true,
        guest: super::guest::GuestSetup {
            control,
            ..plan.guest.clone()
        },
    };
    use crate::SentryError;
    use crate::errno::Errno;
    match crate::run(opts) {
        Ok(crate::Exit::Exited(code)) => {
            crate::log::flush();
            ExitCode::from(code as u8)
        }
        Ok(crate::Exit::Signaled(sig)) => {
            crate::log::flush();
            ExitCode::from((128 + sig) as u8)
        }
        Err(e) => {
            let code = match &e {
                SentryError::Program {
                    errno: Errno::ENOENT,
                    ..
                }
                | SentryError::Exec(crate::exec::ExecError::Interp {
                    errno: Errno::ENOENT,
                    ..
                }) => 127,
                SentryError::Program { .. } | SentryError::Exec(_) => 126,
                _ => 125,
            };
            g.error(&e.to_string());
            ExitCode::from(code)
        }
    }
}

const EXEC_VALUES: &[&str] = &[
    "-p",
    "--process",
    "--console-socket",
    "--pid-file",
    "--cwd",
    "-e",
    "--env",
    "-u",
    "--user",
    "-c",
    "--cap",
    "--process-label",
    "--apparmor",
    "--preserve-fds",
    "--cgroup",
    "-g",
    "--additional-gids",
];
const EXEC_BOOLS: &[&str] = &[
    "-t",
    "--tty",
    "-d",
    "--detach",
    "--no-new-privs",
    "--ignore-paused",
    "--no-subreaper",
    "--remove-process-file",
    "--console-inherited",
];

/// `exec [flags] ID [COMMAND...]`: a new process in the running container
/// (see [`super::exec`]); exits with its status.
fn exec_cmd(g: &Global, args: &[String]) -> Result<ExitCode, String> {
    let f = parse_flags(args, EXEC_VALUES, EXEC_BOOLS, Some(1))?;
    let id = f
        .positional
        .first()
        .cloned()
        .ok_or("exec: a container id is required")?;
    let c = Container::new(&g.root, &id)?;
    let r = c.record()?;
    if c.status(&r) != Status::Running {
        return Err(format!(
            "cannot exec in container {id:?}: it is {}",
            c.status(&r).name()
        ));
    }
    if let Some(n) = f.value(&["--preserve-fds"])
        && n != "0"
    {
        return Err(format!(
            "--preserve-fds {n}: passing extra descriptors into the sandbox is not supported"
        ));
    }
    let mut process: serde_json::Map<String, Value> = match f.value(&["-p", "--process"]) {
        Some(path) => {
            let text = std::fs::read(path).map_err(|e| format!("--process {path}: {e}"))?;
            let v: Value = serde_json::from_slice(&text)
                .map_err(|e| format!("--process {path}: not valid JSON: {e}"))?;
            v.as_object()
                .cloned()
                .ok_or_else(|| format!("--process {path}: not an object"))?
        }
        None => {
            // The container's own process, with this command.
            let config = std::fs::read(Path::new(&r.bundle).join("config.json"))
                .map_err(|e| format!("config.json: {e}"))?;
            let config: Value =
                serde_json::from_slice(&config).map_err(|e| format!("config.json: {e}"))?;
            let mut p = config
                .get("process")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default();
            if f.positional.len() < 2 {
                return Err("exec: a command is required (or --process)".into());
            }
            p.insert("args".into(), serde_json::json!(f.positional[1..]));
            p.insert("terminal".into(), Value::Bool(false));
            p.remove("consoleSize");
            p
        }
    };
    if f.has(&["-t", "--tty"]) {
        process.insert("terminal".into(), Value::Bool(true));
    }
    let env_flags = f.all(&["-e", "--env"]);
    if !env_flags.is_empty() {
        let mut env: Vec<String> = process
            .get("env")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|e| e.as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default();
        for e in env_flags {
            let key = e.split_once('=').map_or(e, |(k, _)| k);
            env.retain(|x| x.split_once('=').map_or(x.as_str(), |(k, _)| k) != key);
            env.push(e.to_string());
        }
        process.insert("env".into(), serde_json::json!(env));
    }
    if let Some(cwd) = f.value(&["--cwd"]) {
        process.insert("cwd".into(), cwd.into());
    }
    if let Some(u) = f.value(&["-u", "--user"]) {
        let (uid, gid) = u.split_once(':').unwrap_or((u, "0"));
        let uid: u32 = uid
            .parse()
            .map_err(|_| format!("--user {u}: want UID[:GID]"))?;
        let gid: u32 = gid
            .parse()
            .map_err(|_| format!("--user {u}: want UID[:GID]"))?;
        process.insert("user".into(), serde_json::json!({"uid": uid, "gid": gid}));
    }
    if f.has(&["--no-new-privs"]) {
        process.insert("noNewPrivileges".into(), Value::Bool(true));
    }
    // Checked here, so that a bad process is the caller's error.
    let checked = spec::process(&process).map_err(|e| e.to_string())?;
    let request = Value::Object(process);
    if f.has(&["-d", "--detach"]) {
        // A process of ours waits for the guest's and exits with its
        // status: the engine waits for the pid in --pid-file.
        let file = c.dir.join(format!("exec-{}.json", std::process::id()));
        std::fs::write(&file, request.to_string())
            .map_err(|e| format!("{}: {e}", file.display()))?;
        let me = std::env::current_exe()
            .map_err(|e| format!("cannot find the sentry executable: {e}"))?;
        let mut cmd = std::process::Command::new(me);
        cmd.args(g.pass_on())
            .arg("exec")
            .arg("--process")
            .arg(&file);
        if checked.terminal {
            // The engine wants the terminal's master once exec returns:
            // made and sent here; the waiting process gets the slave as
            // its standard streams and hands them on.
            let console = f.value(&["--console-socket"]).ok_or_else(|| {
                "process.terminal is true but no --console-socket was given".to_string()
            })?;
            let slave = open_console(Path::new(console), checked.console_size)?;
            let dup = |s: &OwnedFd| {
                s.try_clone()
                    .map(std::process::Stdio::from)
                    .map_err(|e| format!("cannot duplicate the terminal: {e}"))
            };
            cmd.stdin(dup(&slave)?)
                .stdout(dup(&slave)?)
                .stderr(dup(&slave)?);
            cmd.arg("--console-inherited");
        }
        cmd.arg("--remove-process-file").arg(&id);
        let child = cmd
            .spawn()
            .map_err(|e| format!("cannot start the exec process: {e}"))?;
        if let Some(p) = f.value(&["--pid-file"]) {
            write_pid_file(Path::new(p), child.id() as i32)?;
        }
        return Ok(ExitCode::SUCCESS);
    }
    if f.has(&["--remove-process-file"])
        && let Some(p) = f.value(&["-p", "--process"])
    {
        let _ = std::fs::remove_file(p);
    }
    if let Some(p) = f.value(&["--pid-file"]) {
        write_pid_file(Path::new(p), std::process::id() as i32)?;
    }
    let socket = c.dir.join(super::exec::SOCKET);
    let status = if checked.terminal && !f.has(&["--console-inherited"]) {
        let console = f.value(&["--console-socket"]).ok_or_else(|| {
            "process.terminal is true but no --console-socket was given".to_string()
        })?;
        let slave = open_console(Path::new(console), checked.console_size)?;
        super::exec::request(
            &socket,
            &request,
            [slave.as_fd(), slave.as_fd(), slave.as_fd()],
        )?
    } else {
        super::exec::request(
            &socket,
            &request,
            [
                std::io::stdin().as_fd(),
                std::io::stdout().as_fd(),
                std::io::stderr().as_fd(),
            ],
        )?
    };
    Ok(ExitCode::from(status as u8))
}

//! Signals sent to the `sentry` process, and the sentry's own output
//! (issue 10, `sentry/src/kernel/hostsig.rs`).
//!
//! These tests start the sentry binary, wait for the guest's "ready" line
//! on stdout (the guest prints it once its handlers are in place, so no
//! signal is sent too early), send signals to the sentry's host pid with
//! `kill`, and check what the guest printed and how the sentry exited.
//! Before host signals were forwarded, every one of these signals killed
//! or stopped the sentry itself (status 128+signal).

mod common;

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};

use common::Libc;

/// How long a line or an exit may take (the machine is slow and shared).
const PATIENCE: Duration = Duration::from_secs(60);

/// Waits up to [`PATIENCE`] for `child` to exit and returns its status as a
/// shell shows it (128+signal when killed). If it is still running then it
/// is killed and `None` is returned: the caller reports the hang.
fn wait_or_kill(child: &mut Child) -> Option<i32> {
    use std::os::unix::process::ExitStatusExt;
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(s) = child.try_wait().expect("try_wait") {
            break s;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    Some(
        status
            .code()
            .unwrap_or_else(|| 128 + status.signal().unwrap_or(0)),
    )
}

/// A sentry running a guest, with its stdout read line by line.
struct Running {
    child: Child,
    lines: Receiver<String>,
    stderr: Receiver<Vec<u8>>,
    what: String,
}

impl Running {
    /// Starts `sentry run FLAGS -- PROGRAM ARGS`.
    fn start(flags: &[&str], program: &Path, args: &[&str]) -> Self {
        let mut argv: Vec<OsString> = vec!["run".into()];
        argv.extend(flags.iter().map(OsString::from));
        argv.push("--".into());
        argv.push(program.into());
        argv.extend(args.iter().map(OsString::from));
        let what = format!("sentry {argv:?}");
        let mut child = Command::new(common::SENTRY)
            .args(&argv)
            .env("PATH", common::guest_path_env())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {what}: {e}"));
        let (tx, lines) = channel();
        let stdout = child.stdout.take().expect("stdout");
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                match line {
                    Ok(l) => {
                        if tx.send(l).is_err() {
                            return;
                        }
                    }
                    Err(_) => return,
                }
            }
        });
        let (etx, stderr) = channel();
        let mut err = child.stderr.take().expect("stderr");
        std::thread::spawn(move || {
            let mut buf = Vec::new();
            let _ = err.read_to_end(&mut buf);
            let _ = etx.send(buf);
        });
        Self {
            child,
            lines,
            stderr,
            what,
        }
    }

    /// The next line the guest printed (panics after [`PATIENCE`]).
    fn line(&mut self) -> String {
        match self.lines.recv_timeout(PATIENCE) {
            Ok(l) => l,
            Err(e) => {
                let _ = self.child.kill();
                let status = self.child.wait();
                panic!(
                    "{}: no line from the guest ({e}); sentry {status:?}; stderr:\n{}",
                    self.what,
                    self.stderr_text()
                );
            }
        }
    }

    /// Asserts that the next line is `want`.
    fn expect(&mut self, want: &str) {
        let got = self.line();
        assert_eq!(got, want, "{}", self.what);
    }

    /// Sends `signal` (a name such as "TERM") to the sentry with kill(1).
    fn kill(&self, signal: &str) {
        let st = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill");
        assert!(st.success(), "kill -{signal} failed");
    }

    fn stderr_text(&self) -> String {
        String::from_utf8_lossy(&self.stderr.recv_timeout(PATIENCE).unwrap_or_default())
            .into_owned()
    }

    /// Waits for the sentry to exit (killing it after [`PATIENCE`]):
    /// its status as a shell shows it (128+signal when killed), and its
    /// stderr.
    fn wait(mut self) -> (i32, String) {
        let Some(code) = wait_or_kill(&mut self.child) else {
            panic!(
                "{}: the sentry did not exit; stderr:\n{}",
                self.what,
                self.stderr_text()
            );
        };
        (code, self.stderr_text())
    }
}

/// Every forwarded signal reaches a guest init that handles it, as sent
/// from outside its pid namespace (si_code SI_USER, si_pid 0); SIGTERM's
/// handler makes it exit 42 and the sentry exits with that status.
#[test]
fn each_forwarded_signal_reaches_the_guests_handler() {
    for libc in Libc::ALL {
        let prog = testdata::guest("hostsig", libc);
        let mut r = Running::start(&[], &prog, &["handlers"]);
        r.expect("ready");
        for (sig, name) in [
            ("USR1", "SIGUSR1"),
            ("USR2", "SIGUSR2"),
            ("HUP", "SIGHUP"),
            ("INT", "SIGINT"),
            ("QUIT", "SIGQUIT"),
            ("WINCH", "SIGWINCH"),
            ("CONT", "SIGCONT"),
            ("TSTP", "SIGTSTP"),
        ] {
            r.kill(sig);
            r.expect(&format!("got {name} code=0 pid0=1"));
            r.expect("ready");
        }
        r.kill("TERM");
        r.expect("got SIGTERM code=0 pid0=1");
        r.expect("exiting");
        let (status, err) = r.wait();
        assert_eq!(status, 42, "{libc}: stderr:\n{err}");
    }
}

/// A guest init with no handler for SIGTERM, SIGINT, SIGHUP, SIGQUIT,
/// SIGUSR1 or SIGTSTP is not killed (nor stopped) by them: pid-1
/// semantics, as for a container's init. Its SIGWINCH handler then shows
/// it still runs (SIGWINCH is numbered above the others, so the sentry
/// takes it last even when they are all pending at once). Under
/// `--kill-after 60`, a second SIGINT (a second Ctrl-C) does not escalate
/// either.
#[test]
fn init_without_handlers_survives_terminating_signals() {
    for libc in Libc::ALL {
        let prog = testdata::guest("hostsig", libc);
        let flags: &[&str] = match libc {
            Libc::Glibc => &[],
            Libc::Musl => &["--kill-after", "60"],
        };
        let mut r = Running::start(flags, &prog, &["plain"]);
        r.expect("ready");
        for sig in ["TERM", "INT", "HUP", "QUIT", "USR1", "TSTP", "INT"] {
            r.kill(sig);
        }
        r.kill("WINCH");
        r.expect("winch: alive");
        let (status, err) = r.wait();
        assert_eq!(status, 7, "{libc}: stderr:\n{err}");
    }
}

/// `--kill-after 1`: an init that ignores SIGTERM (no handler) is killed
/// with the whole sandbox about a second after the SIGTERM, and the
/// sentry exits 137 (128+SIGKILL).
#[test]
fn kill_after_kills_a_guest_that_outlives_sigterm() {
    let prog = testdata::guest("hostsig", Libc::Musl);
    let mut r = Running::start(&["--kill-after", "1"], &prog, &["plain"]);
    r.expect("ready");
    let sent = Instant::now();
    r.kill("TERM");
    let (status, err) = r.wait();
    let took = sent.elapsed();
    assert_eq!(status, 137, "stderr:\n{err}");
    assert!(err.contains("killed by SIGKILL"), "stderr:\n{err}");
    assert!(took >= Duration::from_secs(1), "killed after only {took:?}");
}

/// `--kill-after` does not get in the way of a guest that ends on its own
/// after the signal.
#[test]
fn kill_after_lets_a_guest_that_exits_keep_its_status() {
    let prog = testdata::guest("hostsig", Libc::Glibc);
    let mut r = Running::start(&["--kill-after", "30"], &prog, &["handlers"]);
    r.expect("ready");
    r.kill("TERM");
    r.expect("got SIGTERM code=0 pid0=1");
    r.expect("exiting");
    let (status, err) = r.wait();
    assert_eq!(status, 42, "stderr:\n{err}");
}

/// Runs `cmd` with stdout a pipe whose reader takes one line and closes
/// it: the status (128+signal when killed), the line, and stderr.
fn one_line_then_close(mut cmd: Command) -> (i32, String, String) {
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("read a line");
    drop(out);
    let mut err = child.stderr.take().expect("stderr");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let Some(code) = wait_or_kill(&mut child) else {
        panic!("{cmd:?}: still running after its reader left (a hang)");
    };
    let err = String::from_utf8_lossy(&reader.join().unwrap_or_default()).into_owned();
    (code, line, err)
}

fn sandboxed(prog: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new(common::SENTRY);
    cmd.arg("run")
        .arg("--")
        .arg(prog)
        .args(args)
        .env("PATH", common::guest_path_env());
    cmd
}

/// `sentry run yes | head -1`: a guest writing to the sentry's stdout
/// after its reader left gets EPIPE and SIGPIPE as a native writer does.
/// With SIGPIPE's default action init dies of it and the sentry exits
/// 141, as the native producer; with SIGPIPE ignored or handled, the write
/// fails with EPIPE and the guest decides its status.
#[test]
fn yes_into_a_closed_pipe_ends_as_natively() {
    for libc in Libc::ALL {
        let prog = testdata::guest("hostsig", libc);
        for (mode, status, err) in [
            ("yes", 141, ""),
            ("yes-ign", 3, "write: EPIPE, handler ran: 0\n"),
            ("yes-hnd", 4, "write: EPIPE, handler ran: 1\n"),
        ] {
            let mut native = Command::new(&prog);
            native.arg(mode);
            let n = one_line_then_close(native);
            assert_eq!(
                (n.0, n.1.as_str(), n.2.as_str()),
                (status, "y\n", err),
                "native {mode} ({libc})"
            );
            let s = one_line_then_close(sandboxed(&prog, &[mode]));
            assert_eq!(
                (s.0, s.1.as_str()),
                (status, "y\n"),
                "{mode} ({libc}): {}",
                s.2
            );
            assert!(s.2.starts_with(err), "{mode} ({libc}): stderr {:?}", s.2);
        }
    }
}

/// The same with busybox applets (Debian's busybox-static), as a user
/// would type them: `sentry run /bin/busybox yes | head -1` exits 141, and
/// so does `cat` of a large file, whose writes are sendfile(2) calls.
#[test]
fn busybox_yes_and_cat_into_a_closed_pipe_exit_141() {
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.exists(),
        "/bin/busybox is missing: scripts/setup.sh installs busybox-static"
    );
    let s = one_line_then_close(sandboxed(busybox, &["yes"]));
    assert_eq!((s.0, s.1.as_str()), (141, "y\n"), "stderr: {}", s.2);
    // A text file far larger than a pipe's buffer, from the host's tree.
    let big = Path::new(env!("CARGO_TARGET_TMPDIR")).join("hostsig-lines.txt");
    let text: String = (0..100_000).map(|i| format!("line {i}\n")).collect();
    std::fs::write(&big, text).expect("write the test file");
    let big = big.to_str().expect("a UTF-8 path");
    let mut native = Command::new(busybox);
    native.args(["cat", big]);
    let n = one_line_then_close(native);
    assert_eq!((n.0, n.1.as_str()), (141, "line 0\n"), "native: {}", n.2);
    let mut cmd = Command::new(common::SENTRY);
    cmd.args(["run", "--root", "/", "--"])
        .arg(busybox)
        .args(["cat", big]);
    let s = one_line_then_close(cmd);
    assert_eq!((s.0, s.1.as_str()), (141, "line 0\n"), "stderr: {}", s.2);
}

/// Runs the sentry with `args` and stderr a pipe nobody reads (closed
/// before the sentry starts): its status and stdout.
fn with_stderr_closed(args: &[&std::ffi::OsStr]) -> (i32, String) {
    let mut cmd = Command::new(common::SENTRY);
    cmd.args(args);
    stderr_closed(cmd)
}

/// [`with_stderr_closed`] for `prog args` run natively.
fn with_stderr_closed_native(prog: &Path, args: &[&str]) -> (i32, String) {
    let mut cmd = Command::new(prog);
    cmd.args(args);
    stderr_closed(cmd)
}

fn stderr_closed(mut cmd: Command) -> (i32, String) {
    let (reader, writer) = std::io::pipe().expect("pipe");
    drop(reader);
    let what = format!("{cmd:?}");
    let mut child = cmd
        .env("PATH", common::guest_path_env())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(writer))
        .spawn()
        .expect("spawn the sentry");
    let mut out = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let Some(code) = wait_or_kill(&mut child) else {
        panic!("{what} with a closed stderr hung");
    };
    let out = String::from_utf8_lossy(&reader.join().unwrap_or_default()).into_owned();
    (code, out)
}

/// `sentry run --strace prog 2>&1 | head -1`: with stderr a closed pipe,
/// the strace lines, the sentry's messages and its error reports are
/// lost, and nothing panics (a panic exits 101) or hangs: the status is
/// the guest's, or the shell-like one of a load error.
#[test]
fn a_closed_stderr_neither_panics_nor_hangs_the_sentry() {
    // The sentry's own error reports (before they were best-effort,
    // eprintln! panicked on EPIPE: status 101).
    let (status, _) = with_stderr_closed(&["run".as_ref(), "/nonexistent/program".as_ref()]);
    assert_eq!(status, 127, "a missing program");
    let (status, _) = with_stderr_closed(&[
        "run".as_ref(),
        "--root".as_ref(),
        "/nonexistent/dir".as_ref(),
        "prog".as_ref(),
    ]);
    assert_eq!(status, 125, "a bad --root");
    let hello = testdata::guest("hello", Libc::Musl);
    let native = common::run_native(&hello, &[], b"");
    let (status, out) = with_stderr_closed(&[
        "run".as_ref(),
        "--strace".as_ref(),
        "--stats".as_ref(),
        "--".as_ref(),
        hello.as_os_str(),
    ]);
    assert_eq!(
        (status, out.as_str()),
        (native.status, native.stdout_str().as_str())
    );
    // A guest that forks, execs and pipes, traced; then it writes to the
    // closed stderr itself and dies of SIGPIPE, as natively.
    let script = "echo one | /bin/busybox cat; echo two >&2; exit 3";
    let (status, out) = with_stderr_closed(&[
        "run".as_ref(),
        "--strace".as_ref(),
        "--root".as_ref(),
        "/".as_ref(),
        "--".as_ref(),
        "/bin/busybox".as_ref(),
        "sh".as_ref(),
        "-c".as_ref(),
        script.as_ref(),
    ]);
    let native = with_stderr_closed_native(Path::new("/bin/busybox"), &["sh", "-c", script]);
    assert_eq!(native, (141, "one\n".to_string()), "the native run");
    assert_eq!((status, out), native);
    // A guest killed by a signal: the "killed by" line is lost.
    let segv = testdata::guest("segv", Libc::Musl);
    let (status, _) = with_stderr_closed(&["run".as_ref(), segv.as_os_str()]);
    assert_eq!(status, 139, "a guest killed by SIGSEGV");
}

/// A Go program's signal.Notify gets SIGUSR1 and SIGTERM sent to the
/// sentry (the Go runtime installs its own handlers for every signal and
/// hands the notified ones to the channel).
#[test]
fn go_signal_notify_gets_sigterm_sent_to_the_sentry() {
    let prog = common::go::go_program("sigterm");
    let mut r = Running::start(&["--root", "/"], &prog, &[]);
    r.expect("ready");
    r.kill("USR1");
    r.expect("got user defined signal 1");
    r.expect("ready");
    r.kill("TERM");
    r.expect("got terminated");
    r.expect("exiting");
    let (status, err) = r.wait();
    assert_eq!(status, 5, "stderr:\n{err}");
}

/// `sentry run --strace yes 2>&1 | head -1`, exactly: the first strace
/// line is read, then the pipe has no reader. The strace lines that
/// follow are lost without a panic, and the guest's next write gets EPIPE
/// and SIGPIPE: the sentry exits 141 instead of hanging or panicking.
#[test]
fn strace_into_head_ends_with_sigpipe() {
    let prog = testdata::guest("hostsig", Libc::Musl);
    let (reader, writer) = std::io::pipe().expect("pipe");
    let writer2 = writer.try_clone().expect("dup");
    let mut child = {
        let mut cmd = Command::new(common::SENTRY);
        cmd.args(["run", "--strace", "--"])
            .arg(&prog)
            .arg("yes")
            .env("PATH", common::guest_path_env())
            .stdin(Stdio::null())
            .stdout(Stdio::from(writer))
            .stderr(Stdio::from(writer2));
        cmd.spawn().expect("spawn the sentry")
        // `cmd` and its copies of the pipe's write end are dropped here.
    };
    let mut first = String::new();
    BufReader::new(reader)
        .read_line(&mut first)
        .expect("read the first line");
    assert!(first.starts_with("[pid 1] "), "first line {first:?}");
    let Some(code) = wait_or_kill(&mut child) else {
        panic!("the sentry hung once its output pipe lost its reader");
    };
    assert_eq!(code, 141);
}

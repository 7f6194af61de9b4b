//! Differential test harness: run a guest natively and inside the sentry and
//! compare what they print and how they exit.
//!
//! Both runs get the same argv, the same stdin bytes, stdout/stderr as pipes,
//! and the same environment: nothing but `PATH` (the harness's own `PATH`,
//! passed to the native run with `env_clear()` and to the sandbox with
//! `--env PATH=...`, which is also the sentry's own `PATH`, the value it
//! passes by default). Each run is in its own process group and is killed
//! after a timeout (`SENTRY_TEST_TIMEOUT` seconds, default 60) so that a hung
//! sandbox fails the test instead of hanging CI.
//!
//! Extra sentry flags for debugging can be given in `SENTRY_TEST_FLAGS`
//! (whitespace separated, e.g. `SENTRY_TEST_FLAGS=--strace`); they go between
//! `run` and the rest of the command line.
//!
//! A status is the exit code, or 128+signal if the process was killed by a
//! signal (like a shell); the sentry itself reports a guest's death by signal
//! that way, so the two are directly comparable.

#![allow(dead_code)]

use std::ffi::OsString;
use std::fmt::Write as _;
use std::io::{Read, Write};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

pub use testdata::Libc;

pub mod go;

/// Path of the sentry binary under test.
pub const SENTRY: &str = env!("CARGO_BIN_EXE_sentry");

/// Used when the harness itself has no `PATH`.
const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// What a run produced.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    /// Exit code, or 128+signal if killed by a signal.
    pub status: i32,
    /// The signal that killed the process we spawned, if any. For a sandbox
    /// run this is the sentry itself, which should never die of a signal.
    pub killed_by: Option<i32>,
}

impl Outcome {
    pub fn stdout_str(&self) -> String {
        String::from_utf8_lossy(&self.stdout).into_owned()
    }

    pub fn stderr_str(&self) -> String {
        String::from_utf8_lossy(&self.stderr).into_owned()
    }
}

/// The `PATH` value given to every guest.
pub fn guest_path_env() -> String {
    std::env::var("PATH").unwrap_or_else(|_| DEFAULT_PATH.to_owned())
}

/// Per-run timeout.
pub fn timeout() -> Duration {
    let secs = std::env::var("SENTRY_TEST_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(60);
    Duration::from_secs(secs)
}

fn extra_sentry_flags() -> Vec<String> {
    std::env::var("SENTRY_TEST_FLAGS")
        .map(|s| s.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default()
}

/// Runs `path args...` natively with an environment of just `PATH`.
pub fn run_native(path: &Path, args: &[&str], stdin: &[u8]) -> Outcome {
    let mut cmd = Command::new(path);
    cmd.args(args).env_clear().env("PATH", guest_path_env());
    run_command(cmd, stdin, &format!("native {}", path.display()))
}

/// Runs `sentry run --root / --env PATH=... -- path args...` (the native
/// run sees the host's files, so the sandbox shows the same tree, read-only).
pub fn run_sandbox(path: &Path, args: &[&str], stdin: &[u8]) -> Outcome {
    let mut argv: Vec<OsString> = vec!["run".into(), "--root".into(), "/".into()];
    argv.extend(extra_sentry_flags().into_iter().map(OsString::from));
    argv.push("--env".into());
    argv.push(format!("PATH={}", guest_path_env()).into());
    argv.push("--".into());
    argv.push(path.into());
    argv.extend(args.iter().map(OsString::from));
    run_sentry(&argv, stdin)
}

/// Runs the sentry binary with exactly `argv` (no implicit `run`, no
/// `--env`). Its own environment is the harness's, with `PATH` set to
/// [`guest_path_env`].
pub fn run_sentry<S: AsRef<std::ffi::OsStr>>(argv: &[S], stdin: &[u8]) -> Outcome {
    let mut cmd = Command::new(SENTRY);
    cmd.args(argv).env("PATH", guest_path_env());
    let shown: Vec<String> = argv
        .iter()
        .map(|a| a.as_ref().to_string_lossy().into_owned())
        .collect();
    run_command(cmd, stdin, &format!("sentry {}", shown.join(" ")))
}

/// Spawns `cmd` in a new process group with piped stdio, feeds `stdin`,
/// collects stdout/stderr and waits, killing the group on timeout.
pub fn run_command(mut cmd: Command, stdin: &[u8], what: &str) -> Outcome {
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0);
    let mut child = cmd
        .spawn()
        .unwrap_or_else(|e| panic!("cannot spawn {what}: {e}"));
    let pgid = i32::try_from(child.id()).expect("pid fits in i32");

    let mut child_stdin = child.stdin.take().expect("stdin pipe");
    let input = stdin.to_vec();
    // A guest may exit without reading its input: ignore EPIPE (the Rust
    // runtime ignores SIGPIPE).
    let writer = thread::spawn(move || {
        let _ = child_stdin.write_all(&input);
    });
    let stdout = spawn_reader(child.stdout.take().expect("stdout pipe"));
    let stderr = spawn_reader(child.stderr.take().expect("stderr pipe"));

    let limit = timeout();
    let deadline = Instant::now() + limit;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => panic!("waiting for {what}: {e}"),
        }
        if Instant::now() >= deadline {
            kill_group(pgid);
            let _ = child.wait();
            let out = collect(stdout, Instant::now() + Duration::from_secs(5));
            let err = collect(stderr, Instant::now() + Duration::from_secs(5));
            panic!(
                "TIMEOUT: {what} did not exit within {limit:?}; killed its process group.\n\
                 --- stdout so far ---\n{}\n--- stderr so far ---\n{}",
                String::from_utf8_lossy(&out.unwrap_or_default()),
                String::from_utf8_lossy(&err.unwrap_or_default()),
            );
        }
        thread::sleep(Duration::from_millis(2));
    };

    // Descendants may still hold stdout/stderr open; give them a little
    // while, then kill the rest of the group.
    let grace = Instant::now() + Duration::from_secs(10).min(limit);
    let out = collect(stdout, grace);
    let err = collect(stderr, grace);
    let (out, err) = match (out, err) {
        (Some(out), Some(err)) => (out, err),
        _ => {
            kill_group(pgid);
            panic!(
                "{what} exited ({status}) but its stdout/stderr stayed open: \
                 a descendant outlived it and was killed"
            );
        }
    };
    let _ = writer.join();

    let killed_by = status.signal();
    let code = match (status.code(), killed_by) {
        (Some(code), _) => code,
        (None, Some(sig)) => 128 + sig,
        (None, None) => panic!("{what}: unexpected wait status {status:?}"),
    };
    Outcome {
        stdout: out,
        stderr: err,
        status: code,
        killed_by,
    }
}

type Reader = std::sync::mpsc::Receiver<Vec<u8>>;

fn spawn_reader<R: Read + Send + 'static>(mut pipe: R) -> Reader {
    let (tx, rx) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

/// Waits for a reader thread until `deadline`; `None` if the pipe is still
/// open by then.
fn collect(rx: Reader, deadline: Instant) -> Option<Vec<u8>> {
    let left = deadline.saturating_duration_since(Instant::now());
    rx.recv_timeout(left).ok()
}

/// Kills the process group `pgid` (a child we spawned with
/// `process_group(0)`), through kill(1) so the tests need no `unsafe`.
fn kill_group(pgid: i32) {
    if pgid > 1 {
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{pgid}")])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
    }
}

/// Printable form of `bytes` (text as is, binary data escaped), cut to a
/// readable size around byte `focus`.
fn excerpt(bytes: &[u8], focus: usize) -> String {
    const WINDOW: usize = 4096;
    let text = std::str::from_utf8(bytes).is_ok_and(|s| {
        s.chars()
            .all(|c| !c.is_control() || c == '\n' || c == '\t' || c == '\r')
    });
    let show = |b: &[u8]| {
        if text {
            String::from_utf8_lossy(b).into_owned()
        } else {
            format!("(binary, escaped) {}", b.escape_ascii())
        }
    };
    let window = if text { WINDOW } else { WINDOW / 4 };
    if bytes.len() <= window {
        return show(bytes);
    }
    let start = focus.saturating_sub(window / 2);
    let end = (start + window).min(bytes.len());
    format!(
        "[{} bytes; showing {start}..{end}]\n{}",
        bytes.len(),
        show(&bytes[start..end])
    )
}

fn first_difference(a: &[u8], b: &[u8]) -> Option<usize> {
    if a == b {
        return None;
    }
    Some(
        a.iter()
            .zip(b)
            .position(|(x, y)| x != y)
            .unwrap_or(a.len().min(b.len())),
    )
}

/// Line number (1-based) of byte offset `at`.
fn line_of(bytes: &[u8], at: usize) -> usize {
    bytes[..at.min(bytes.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// Panics with both sides shown unless stdout and status agree and the
/// sentry exited normally.
pub fn assert_outcomes_match(label: &str, native: &Outcome, sandbox: &Outcome) {
    let diff = first_difference(&native.stdout, &sandbox.stdout);
    let sentry_crashed = sandbox.killed_by.is_some();
    if diff.is_none() && native.status == sandbox.status && !sentry_crashed {
        return;
    }
    let focus = diff.unwrap_or(0);
    let mut msg = format!("MISMATCH for {label}\n");
    if let Some(at) = diff {
        let _ = writeln!(
            msg,
            "stdout differs at byte {at} (line {}); native {} bytes, sandbox {} bytes",
            line_of(&native.stdout, at),
            native.stdout.len(),
            sandbox.stdout.len()
        );
    }
    if native.status != sandbox.status {
        let _ = writeln!(
            msg,
            "status differs: native {}, sandbox {}",
            native.status, sandbox.status
        );
    }
    if let Some(sig) = sandbox.killed_by {
        let _ = writeln!(
            msg,
            "the sentry process itself was killed by signal {sig} (it must exit with 128+sig instead)"
        );
    }
    let _ = write!(
        msg,
        "===== native: status {} =====\n--- stdout ---\n{}\n--- stderr ---\n{}\n\
         ===== sandbox: status {} =====\n--- stdout ---\n{}\n--- stderr ---\n{}",
        native.status,
        excerpt(&native.stdout, focus),
        excerpt(&native.stderr, 0),
        sandbox.status,
        excerpt(&sandbox.stdout, focus),
        excerpt(&sandbox.stderr, 0),
    );
    panic!("{msg}");
}

/// Runs `path` natively and in the sandbox and asserts that stdout and the
/// status are identical. Returns the native outcome.
pub fn assert_same_path(label: &str, path: &Path, args: &[&str], stdin: &[u8]) -> Outcome {
    let native = run_native(path, args, stdin);
    let sandbox = run_sandbox(path, args, stdin);
    assert_outcomes_match(label, &native, &sandbox);
    native
}

/// Differential test of the C guest `name` built with `libc`.
pub fn assert_same(name: &str, libc: Libc, args: &[&str], stdin: &[u8]) -> Outcome {
    let path = testdata::guest(name, libc);
    assert_same_path(&format!("{name} ({libc}) {args:?}"), &path, args, stdin)
}

/// Like [`assert_same_path`], but first checks that the native run exits
/// with `status` (so a guest that is broken on this host is reported as
/// such, without blaming the sentry).
pub fn assert_same_expect_path(
    label: &str,
    path: &Path,
    args: &[&str],
    stdin: &[u8],
    status: i32,
) -> Outcome {
    let native = run_native(path, args, stdin);
    assert_eq!(
        native.status,
        status,
        "{label}: the NATIVE run exited {} instead of {status}: the guest itself (or this host) \
         is at fault, not the sentry.\n--- stdout ---\n{}\n--- stderr ---\n{}",
        native.status,
        native.stdout_str(),
        native.stderr_str()
    );
    let sandbox = run_sandbox(path, args, stdin);
    assert_outcomes_match(label, &native, &sandbox);
    native
}

/// [`assert_same_expect_path`] for the C guest `name` built with `libc`.
pub fn assert_same_expect(
    name: &str,
    libc: Libc,
    args: &[&str],
    stdin: &[u8],
    status: i32,
) -> Outcome {
    let path = testdata::guest(name, libc);
    assert_same_expect_path(
        &format!("{name} ({libc}) {args:?}"),
        &path,
        args,
        stdin,
        status,
    )
}

/// A scratch directory for files a test creates.
pub fn scratch_dir(test: &str) -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(test);
    std::fs::create_dir_all(&dir).expect("create scratch dir");
    dir
}

/// Generates `mod <guest> { #[test] fn glibc(); #[test] fn musl(); }` for C
/// guests that must exit with `status` natively and behave identically in
/// the sandbox.
///
/// ```ignore
/// #[macro_use]
/// mod common;
/// differential! {
///     hello: [], 0;
///     exitcode: ["42"], 42;
/// }
/// ```
#[allow(unused_macros)]
macro_rules! differential {
    ($($name:ident : [$($arg:expr),* $(,)?], $status:expr;)*) => {
        $(
            mod $name {
                use super::common::{assert_same_expect, Libc};

                fn run(libc: Libc) {
                    assert_same_expect(stringify!($name), libc, &[$($arg),*], b"", $status);
                }

                #[test]
                fn glibc() {
                    run(Libc::Glibc);
                }

                #[test]
                fn musl() {
                    run(Libc::Musl);
                }
            }
        )*
    };
}

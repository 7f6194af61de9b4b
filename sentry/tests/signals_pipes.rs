//! Issue 7, signals and pipes: the signal frame field by field, short reads
//! into partly bad buffers, pipe memory under the cap, init's immunity to
//! signals from inside the sandbox, and the sentry's own log under a flood.

#[macro_use]
mod common;

differential! {
    t_sigframe: [], 0;
}

// Signal numbers are `int`s: the low 32 bits, 0..=64 (1..=64 for
// rt_sigaction), for every call that takes one; and so are the other `int`
// arguments (how, clock ids, flags, resources, advice, nfds...).
differential! {
    t_signum: [], 0;
    t_intargs: [], 0;
    // The file family's `int`s: descriptors, flags, modes, fcntl commands,
    // whence, readlink's bufsiz (issue 8's typed file syscalls).
    t_intargs_fs: [], 0;
}

/// 200 bytes on stdin, in one write.
const SHORTREAD_STDIN: &[u8] = b"01234567890123456789012345678901234567890123456789\
01234567890123456789012345678901234567890123456789\
01234567890123456789012345678901234567890123456789\
01234567890123456789012345678901234567890123456789";

/// Reads into a buffer whose second page is PROT_NONE: pipes keep what
/// could not be copied whole, files give what fit, stdin follows the host.
mod t_shortread {
    use super::common::{Libc, assert_same_expect};

    #[test]
    fn glibc() {
        assert_same_expect("t_shortread", Libc::Glibc, &[], super::SHORTREAD_STDIN, 0);
    }

    #[test]
    fn musl() {
        assert_same_expect("t_shortread", Libc::Musl, &[], super::SHORTREAD_STDIN, 0);
    }
}

differential! {
    t_pipesize: [], 0;
}

/// The sentry's peak resident memory (VmHWM, in KiB) while it runs.
fn vm_hwm_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("sentry status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmHWM")
}

/// Pipe buffers count against `--memory`: eight processes filling 400
/// pipes each (200 MiB natively) get ENOMEM from write once the cap is
/// reached, and the sentry's own peak RSS stays near the cap (before pipe
/// pages were charged it held every byte on its heap: 16 processes reached
/// 529 MB under `--memory 64M`).
#[test]
fn full_pipes_are_charged_to_the_memory_cap() {
    use std::io::{BufRead, BufReader};
    use std::process::{Command, Stdio};
    let prog = testdata::guest("pipe_hog", common::Libc::Musl);
    let mut child = Command::new(common::SENTRY)
        .args(["run", "--memory", "64M", "--"])
        .arg(&prog)
        .arg("8")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sentry");
    let pid = child.id();
    // If anything below panics, do not leave the sentry behind.
    struct Reap(std::process::Child);
    impl Drop for Reap {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    let stdout = child.stdout.take().expect("stdout");
    let stdin = child.stdin.take().expect("stdin");
    let mut child = Reap(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let mut lines = Vec::new();
    let deadline = std::time::Instant::now() + common::timeout();
    while lines.last().is_none_or(|l| l != "holding") {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(l) => lines.push(l),
            Err(_) => panic!("the guest did not get to holding its pipes: {lines:?}"),
        }
    }
    let hwm = vm_hwm_kib(pid);
    drop(stdin);
    let status = child.0.wait().expect("wait");
    let summary = &lines[0];
    eprintln!("{summary}; sentry VmHWM {hwm} KiB");
    assert!(status.success(), "{status:?}: {lines:?}");
    let kib: u64 = summary
        .split(", ")
        .nth(1)
        .and_then(|s| s.strip_suffix(" KiB buffered"))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("unexpected summary {summary:?}"));
    assert!(kib <= 64 * 1024, "{summary}");
    assert!(!summary.ends_with(" 0 saw ENOMEM"), "{summary}");
    assert!(
        hwm < 160 * 1024,
        "the sentry's peak RSS reached {hwm} KiB under --memory 64M ({summary})"
    );
}

/// The sandbox's pid 1 is the init of a pid namespace: signals from inside
/// with the default action are dropped (SIGKILL and SIGSTOP too), through
/// every sending call; handlers still run; its own fault still kills it.
/// Sandbox-only: natively the guest is not pid 1 and checks nothing (it
/// must not signal the host's init).
#[test]
fn init_ignores_default_action_signals_from_inside() {
    const EXPECTED: &str = "\
kill(1, SIGKILL): sent; child exited 0; init still here
kill(1, SIGTERM): sent; child exited 0; init still here
kill(1, SIGSTOP): sent; child exited 0; init still here
kill(1, SIGSEGV): sent; child exited 0; init still here
kill(1, SIGUSR1): sent; child exited 0; init still here
tkill(1, SIGKILL): sent; child exited 0; init still here
tgkill(1, 1, SIGTERM): sent; child exited 0; init still here
sigqueue(1, SIGUSR1): sent; child exited 0; init still here
pidfd_send_signal(SIGKILL): sent; child exited 0; init still here
kill(0, SIGTERM): no report; child killed by SIGTERM; init still here
pidfd_send_signal(SIGKILL, PIDFD_SIGNAL_PROCESS_GROUP): no report; child killed by SIGKILL; init still here
kill(-1, SIGKILL): ESRCH; child exited 0; init still here
kill(1, SIGUSR2) with a handler: sent; child exited 0; init still here
handler ran 1 time(s)
kill(1, SIGTERM) while blocked: sent; child exited 0; init still here
SIGTERM pending while blocked: 1
after unblocking: pending 0, init still here
raise(SIGTERM): init still here
write to a closed pipe: -1 EPIPE; init still here
faulting
";
    for libc in common::Libc::ALL {
        let prog = testdata::guest("init_signals", libc);
        let r = common::run_sentry(
            &[
                std::ffi::OsString::from("run"),
                "--".into(),
                prog.clone().into(),
            ],
            b"",
        );
        assert_eq!(r.stdout_str(), EXPECTED, "{libc}: {}", r.stderr_str());
        assert_eq!(r.status, 128 + 11, "{libc}: init dies of its own SIGSEGV");
        let n = common::run_native(&prog, &[], b"");
        assert_eq!(n.stdout_str(), "not pid 1: nothing to check\n");
    }
}

/// A guest that makes the sentry warn in a loop (every fork refused at
/// the vCPU limit logs a warning) gets a short log: at most
/// `sentry::log::BURST` lines a second per message site, plus a note of
/// how many were suppressed. Before the limiter, each of the 600 refusals
/// wrote its own line.
#[test]
fn a_warning_flood_is_rate_limited() {
    let prog = testdata::guest("fork_refused", common::Libc::Musl);
    let started = std::time::Instant::now();
    let r = common::run_sentry(
        &[
            std::ffi::OsString::from("run"),
            "--".into(),
            prog.into(),
            "600".into(),
        ],
        b"",
    );
    let secs = started.elapsed().as_secs() + 1;
    let err = r.stderr_str();
    assert_eq!(
        r.stdout_str(),
        "syscall 999: -1 ENOSYS\nchildren: until fork was refused\nthen 600 of 600 more forks refused\n",
        "{err}"
    );
    assert_eq!(r.status, 0, "{err}");
    let lines = err.lines().count() as u64;
    let per_site = sentry::log::BURST as u64 + 1;
    // The unknown syscall's line, then the fork warnings: BURST and a note
    // per second at most.
    assert!(
        lines <= 1 + per_site * secs,
        "{lines} log lines in {secs} s:\n{err}"
    );
    assert!(err.contains("suppressed"), "{err}");
}

/// The sentry's log never panics it: with stderr closed (`2>&1 | head`
/// that has exited), the guest's warning is lost and the run ends as the
/// guest says (before, tracing's writer error was reported with eprintln!,
/// which panics on a closed stderr: the sentry hung).
#[test]
fn closed_stderr_does_not_panic_the_sentry() {
    use std::io::Read;
    use std::process::{Command, Stdio};
    let prog = testdata::guest("fork_refused", common::Libc::Musl);
    let mut child = Command::new(common::SENTRY)
        .args(["run", "--"])
        .arg(&prog)
        .args(["0", "0"])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn sentry");
    drop(child.stderr.take());
    let mut stdout = child.stdout.take().expect("stdout");
    let reader = std::thread::spawn(move || {
        let mut out = String::new();
        let _ = stdout.read_to_string(&mut out);
        out
    });
    // Before the fix the sentry hung after its logging thread panicked:
    // fail instead of hanging the suite.
    let deadline = std::time::Instant::now() + common::timeout();
    let status = loop {
        if let Some(st) = child.try_wait().expect("wait") {
            break st;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the sentry hung with its stderr closed");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    };
    let out = reader.join().expect("reader");
    assert_eq!(
        out,
        "syscall 999: -1 ENOSYS\nchildren: limit reached first\n"
    );
    assert_eq!(status.code(), Some(0), "{status:?}");
}

//! Terminals and job control, in a real pseudo-terminal: the sentry runs
//! as the session leader of a fresh pty (`setsid -c`), as under a terminal
//! emulator, and the test types into the pty's master side.
//!
//! * interactive shells (Debian's busybox-static and bash-static): job
//!   control is on, a typed line is echoed once, Ctrl-C interrupts only
//!   the foreground job, Ctrl-Z stops it, `fg` resumes it, a window
//!   change reaches the foreground job as SIGWINCH, and `exit` ends the
//!   sandbox with the shell's status;
//! * `t_tty`, a differential guest: the terminal ioctls and job-control
//!   signals under a pty, and their errors without a terminal, natively
//!   and in the sandbox.
//!
//! Every wait has a deadline: a failure shows what the terminal printed
//! and never hangs the suite.

mod common;

use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Libc;

const BUSYBOX: &str = "/bin/busybox";
const BASH: &str = "/bin/bash-static";

/// How long one expected piece of output may take.
const STEP: Duration = Duration::from_secs(20);

/// A program running as the session leader of a new pseudo-terminal.
struct Pty {
    master: std::fs::File,
    child: Child,
    /// Everything read so far.
    seen: Vec<u8>,
    /// How much of `seen` earlier expectations consumed.
    at: usize,
}

impl Pty {
    /// Runs `argv` under `setsid -c` (all signals at their default) with
    /// the slave side of a new pty as its standard streams and controlling
    /// terminal, and `env` as its whole environment.
    fn spawn(argv: &[&str], env: &[(&str, &str)]) -> Pty {
        use rustix::pty::{OpenptFlags, grantpt, openpt, ptsname, unlockpt};
        let master =
            openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY | OpenptFlags::CLOEXEC).expect("openpt");
        grantpt(&master).expect("grantpt");
        unlockpt(&master).expect("unlockpt");
        let name = ptsname(&master, Vec::new()).expect("ptsname");
        let winsize = rustix::termios::Winsize {
            ws_row: 24,
            ws_col: 80,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&master, winsize).expect("TIOCSWINSZ");
        let slave: OwnedFd = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .custom_flags(libc::O_NOCTTY)
            .open(name.to_str().expect("a pty name"))
            .expect("open the pty slave")
            .into();
        // Default dispositions, as a terminal emulator gives its shell: a
        // harness started in the background of a non-interactive shell
        // inherits SIGINT and SIGQUIT ignored, and Ctrl-C would then not
        // reach the native shell's jobs.
        let mut cmd = Command::new("env");
        cmd.args(["--default-signal", "setsid", "-c"])
            .args(argv)
            .env_clear()
            .envs(env.iter().copied())
            .stdin(Stdio::from(slave.try_clone().expect("dup")))
            .stdout(Stdio::from(slave.try_clone().expect("dup")))
            .stderr(Stdio::from(slave));
        let child = cmd.spawn().expect("spawn setsid");
        Pty {
            master: std::fs::File::from(master),
            child,
            seen: Vec::new(),
            at: 0,
        }
    }

    /// Sets the terminal's size, as a terminal emulator whose window
    /// changes (the terminal signals its foreground group).
    fn resize(&mut self, rows: u16, cols: u16) {
        let ws = rustix::termios::Winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        rustix::termios::tcsetwinsize(&self.master, ws).expect("TIOCSWINSZ");
    }

    /// Reads what is there within `wait`; false at end of file (every
    /// slave descriptor closed: EIO on Linux).
    fn pump(&mut self, wait: Duration) -> bool {
        use rustix::event::{PollFd, PollFlags, poll};
        let mut fds = [PollFd::new(&self.master, PollFlags::IN)];
        let ts = rustix::time::Timespec {
            tv_sec: wait.as_secs() as i64,
            tv_nsec: i64::from(wait.subsec_nanos()),
        };
        if poll(&mut fds, Some(&ts)).unwrap_or(0) == 0 {
            return true;
        }
        let mut buf = [0u8; 4096];
        match self.master.read(&mut buf) {
            Ok(0) | Err(_) => false,
            Ok(n) => {
                self.seen.extend_from_slice(&buf[..n]);
                true
            }
        }
    }

    /// Waits for `pat` in the output after what earlier expectations
    /// consumed; returns the text up to and including it.
    fn expect(&mut self, pat: &str) -> String {
        let deadline = Instant::now() + STEP;
        loop {
            let rest = &self.seen[self.at..];
            if let Some(i) = find(rest, pat.as_bytes()) {
                let text = String::from_utf8_lossy(&rest[..i + pat.len()]).into_owned();
                self.at += i + pat.len();
                return text;
            }
            let now = Instant::now();
            if now >= deadline {
                self.fail(&format!("timed out waiting for {pat:?}"));
            }
            if !self.pump((deadline - now).min(Duration::from_millis(200))) {
                // Closed: one last look, then fail.
                if find(&self.seen[self.at..], pat.as_bytes()).is_none() {
                    self.fail(&format!("the terminal closed before {pat:?}"));
                }
            }
        }
    }

    /// Collects output for `d`.
    fn settle(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end && self.pump(Duration::from_millis(50)) {}
    }

    fn send(&mut self, bytes: &str) {
        self.master
            .write_all(bytes.as_bytes())
            .expect("write to the pty master");
    }

    /// Waits for the program to end (reading what it still prints) and
    /// returns its exit status.
    fn wait_exit(&mut self) -> i32 {
        let deadline = Instant::now() + STEP;
        loop {
            if let Some(st) = self.child.try_wait().expect("try_wait") {
                return st.code().unwrap_or(-1);
            }
            if Instant::now() >= deadline {
                self.fail("timed out waiting for the program to exit");
            }
            if !self.pump(Duration::from_millis(100)) {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }

    /// Everything the terminal showed.
    fn transcript(&self) -> String {
        String::from_utf8_lossy(&self.seen).into_owned()
    }

    fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        panic!("{why}\n--- terminal transcript ---\n{}", self.transcript());
    }
}

impl Drop for Pty {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

use std::os::unix::fs::OpenOptionsExt as _;

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn count(hay: &str, needle: &str) -> usize {
    hay.matches(needle).count()
}

/// `sentry run --root / ... -- argv` as the pty's session leader.
fn sandbox(argv: &[&str], env: &[(&str, &str)]) -> Pty {
    let mut full = vec![common::SENTRY, "run", "--root", "/"];
    let envs: Vec<String> = env.iter().map(|(k, v)| format!("{k}={v}")).collect();
    for e in &envs {
        full.push("--env");
        full.push(e);
    }
    full.push("--");
    full.extend_from_slice(argv);
    Pty::spawn(&full, &[("PATH", "/usr/bin:/bin")])
}

const PROMPT: &str = "tty-test$ ";

/// Drives an interactive shell through the job-control session of the
/// module doc, with `sleep` the command that sleeps (a static program:
/// the sandbox runs no dynamic one). `exit 7` must end the sandbox with
/// status 7.
fn job_control_session(mut pty: Pty, sleep: &str) {
    let sleep30 = format!("{sleep} 30");
    let sleep31 = format!("{sleep} 31");
    let start = pty.expect(PROMPT);
    assert!(
        !start.contains("job control") && !start.contains("no job control"),
        "job control is off:\n{}",
        pty.transcript()
    );
    // A typed line is echoed once (the host terminal's line discipline or
    // the shell's line editor, never both) and runs once.
    pty.send("echo mark-$((6*7))\r");
    pty.expect("mark-42");
    let screen = pty.expect(PROMPT);
    let all = pty.transcript();
    assert_eq!(
        count(&all, "echo mark-$((6*7))"),
        1,
        "the typed line is echoed once:\n{all}"
    );
    assert!(!screen.contains("mark-42"), "ran once:\n{all}");

    // Ctrl-C interrupts the foreground job only: the shell prompts again
    // and says the job died of SIGINT (status 130).
    pty.send(&format!("{sleep30}\r"));
    pty.expect(&sleep30);
    pty.settle(Duration::from_secs(2));
    let t0 = Instant::now();
    pty.send("\x03");
    pty.expect(PROMPT);
    assert!(
        t0.elapsed() < Duration::from_secs(15),
        "Ctrl-C did not end sleep:\n{}",
        pty.transcript()
    );
    pty.send("echo status-$?\r");
    pty.expect("status-130");
    pty.expect(PROMPT);

    // Ctrl-Z stops it; `jobs` lists it; `fg` resumes it; Ctrl-C ends it.
    pty.send(&format!("{sleep31}\r"));
    pty.expect(&sleep31);
    pty.settle(Duration::from_secs(2));
    pty.send("\x1a");
    pty.expect("Stopped");
    pty.expect(PROMPT);
    pty.send("jobs\r");
    let listing = pty.expect(PROMPT);
    assert!(
        listing.contains("Stopped") && listing.contains(&sleep31),
        "jobs lists the stopped job:\n{}",
        pty.transcript()
    );
    pty.send("fg\r");
    pty.expect(&sleep31);
    pty.settle(Duration::from_secs(2));
    pty.send("\x03");
    pty.expect(PROMPT);
    pty.send("echo after-fg-$?\r");
    pty.expect("after-fg-130");
    pty.expect(PROMPT);
    pty.send("jobs; echo no-more-jobs\r");
    let listing = pty.expect("no-more-jobs\r\n");
    assert!(
        !listing.contains(&format!("{sleep31}\r\n")),
        "the job is gone:\n{}",
        pty.transcript()
    );
    pty.expect(PROMPT);

    // A window change on the terminal reaches the foreground job
    // (SIGWINCH), and the guest reads the new size.
    pty.send(
        "/bin/busybox sh -c 'trap \"echo got-winch; exit 3\" WINCH; \
         while :; do /bin/busybox sleep 1; done'\r",
    );
    pty.expect("done'\r\n");
    pty.settle(Duration::from_secs(2));
    pty.resize(30, 100);
    pty.expect("got-winch");
    pty.expect(PROMPT);
    pty.send("echo winch-status-$?\r");
    pty.expect("winch-status-3");
    pty.expect(PROMPT);
    pty.send("/bin/busybox stty size\r");
    pty.expect("30 100");
    pty.expect(PROMPT);

    pty.send("exit 7\r");
    let status = pty.wait_exit();
    assert_eq!(status, 7, "exit status:\n{}", pty.transcript());
}

#[test]
fn busybox_sh_job_control_in_a_pty() {
    assert!(
        Path::new(BUSYBOX).exists(),
        "{BUSYBOX} is missing: run scripts/setup.sh"
    );
    let pty = sandbox(
        &[BUSYBOX, "sh", "-i"],
        &[("PS1", PROMPT), ("TERM", "dumb"), ("HOME", "/")],
    );
    job_control_session(pty, "sleep");
}

#[test]
fn bash_job_control_in_a_pty() {
    assert!(
        Path::new(BASH).exists(),
        "{BASH} is missing: run scripts/setup.sh"
    );
    let pty = sandbox(
        &[BASH, "--norc", "--noprofile", "-i"],
        &[("PS1", PROMPT), ("TERM", "dumb"), ("HOME", "/")],
    );
    job_control_session(pty, "/bin/busybox sleep");
}

/// The harness itself: natively, busybox's interactive shell passes the
/// same session (so what the sandbox is held to is what Linux does).
#[test]
fn busybox_sh_job_control_natively() {
    let pty = Pty::spawn(
        &[BUSYBOX, "sh", "-i"],
        &[
            ("PATH", "/usr/bin:/bin"),
            ("PS1", PROMPT),
            ("TERM", "dumb"),
            ("HOME", "/"),
        ],
    );
    job_control_session(pty, "sleep");
}

/// The same for bash, natively.
#[test]
fn bash_job_control_natively() {
    let pty = Pty::spawn(
        &[BASH, "--norc", "--noprofile", "-i"],
        &[
            ("PATH", "/usr/bin:/bin"),
            ("PS1", PROMPT),
            ("TERM", "dumb"),
            ("HOME", "/"),
        ],
    );
    job_control_session(pty, "/bin/busybox sleep");
}

/// Output of `t_tty MODE` under a pty, natively and in the sandbox: the
/// terminal's lines (with the pty's \r\n) and the exit status.
fn t_tty_in_pty(libc: Libc) -> [(String, i32); 2] {
    let guest = testdata::guest("t_tty", libc);
    let guest = guest.to_str().expect("a UTF-8 path");
    let run = |mut pty: Pty| {
        let status = pty.wait_exit();
        pty.settle(Duration::from_millis(200));
        (pty.transcript(), status)
    };
    let native = run(Pty::spawn(&[guest, "pty"], &[("PATH", "/usr/bin:/bin")]));
    let sandbox = run(sandbox(&[guest, "pty"], &[]));
    [native, sandbox]
}

#[test]
fn t_tty_under_a_pty_matches_native() {
    for libc in Libc::ALL {
        let [native, sandbox] = t_tty_in_pty(libc);
        assert!(
            native.0.contains("done"),
            "{libc:?}: the native run did not finish:\n{}",
            native.0
        );
        let diff: Vec<String> = native
            .0
            .lines()
            .zip(sandbox.0.lines().chain(std::iter::repeat("<missing>")))
            .filter(|(a, b)| a != b)
            .map(|(a, b)| format!("native {a:?}\nsandbox {b:?}"))
            .collect();
        assert_eq!(
            native,
            sandbox,
            "{libc:?}: native (left) and sandbox (right) differ:\n{}",
            diff.join("\n")
        );
    }
}

/// Without a terminal (stdin a pipe, no controlling terminal: a new
/// session), natively and in the sandbox.
#[test]
fn t_tty_without_a_terminal_matches_native() {
    for libc in Libc::ALL {
        let guest = testdata::guest("t_tty", libc);
        let mut native = Command::new("setsid");
        native
            .arg(&guest)
            .arg("none")
            .env_clear()
            .env("PATH", common::guest_path_env());
        let native = common::run_command(native, b"", "native t_tty");
        let mut sandbox = Command::new("setsid");
        sandbox
            .arg(common::SENTRY)
            .args(["run", "--root", "/", "--"])
            .arg(&guest)
            .arg("none")
            .env("PATH", common::guest_path_env());
        let sandbox = common::run_command(sandbox, b"", "sandbox t_tty");
        assert!(native.stdout_str().contains("done"), "{native:?}");
        common::assert_outcomes_match(&format!("t_tty none {libc:?}"), &native, &sandbox);
    }
}

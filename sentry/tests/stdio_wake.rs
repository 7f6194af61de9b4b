//! The host's standard streams wake a guest blocked on them at once, with
//! no sampling loop: a guest blocked in poll, epoll_wait, select or read on
//! its stdin (a pipe) wakes promptly when the test writes to the pipe, and
//! while it waits with no data the sentry does not keep waking up (its
//! threads' context switches over a second stay few; the former 2 ms
//! sampling made hundreds).

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const SENTRY: &str = env!("CARGO_BIN_EXE_sentry");

/// Context switches (voluntary and not) of every thread of process `pid`.
fn switches(pid: u32) -> u64 {
    let mut total = 0;
    for t in std::fs::read_dir(format!("/proc/{pid}/task")).expect("task dir") {
        let path = t.expect("entry").path().join("status");
        let Ok(text) = std::fs::read_to_string(path) else {
            continue;
        };
        for line in text.lines() {
            if let Some(v) = line
                .strip_prefix("voluntary_ctxt_switches:")
                .or_else(|| line.strip_prefix("nonvoluntary_ctxt_switches:"))
            {
                total += v.trim().parse::<u64>().unwrap_or(0);
            }
        }
    }
    total
}

fn start(how: &str) -> Child {
    let guest = testdata::guest("stdin_wait", testdata::Libc::Glibc);
    Command::new(SENTRY)
        .args(["run", "--"])
        .arg(guest)
        .arg(how)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("spawn sentry")
}

fn blocked_guest_wakes(how: &str) {
    let mut child = start(how);
    let mut stdin = child.stdin.take().expect("stdin");
    let mut out = BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    out.read_line(&mut line).expect("read");
    assert_eq!(line, "waiting\n");
    // Let it block, then count its wake-ups over a second.
    std::thread::sleep(Duration::from_millis(300));
    let before = switches(child.id());
    std::thread::sleep(Duration::from_secs(1));
    let idle = switches(child.id()) - before;
    eprintln!("{how}: {idle} context switches while waiting");
    stdin.write_all(b"hello\n").expect("write");
    stdin.flush().expect("flush");
    // Without a wake-up the guest would sleep forever (nothing samples the
    // stream any more): the generous limit only turns that hang into a
    // failure; how fast it wakes is the benches' business, not a test's.
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut rest = String::new();
        for _ in 0..2 {
            let mut line = String::new();
            if out.read_line(&mut line).unwrap_or(0) == 0 {
                break;
            }
            rest.push_str(&line);
        }
        let _ = tx.send(rest);
    });
    let rest = match rx.recv_timeout(Duration::from_secs(60)) {
        Ok(rest) => rest,
        Err(_) => {
            let _ = child.kill();
            panic!("{how}: the guest did not wake within 60 s of the write");
        }
    };
    drop(stdin);
    let status = child.wait().expect("wait");
    assert!(status.success(), "{how}: {status:?}");
    assert!(rest.ends_with("got hello\n"), "{how}: {rest:?}");
    assert!(
        idle < 10,
        "{how}: {idle} context switches in a second of waiting (a sampling loop?)"
    );
}

#[test]
fn poll_wakes_without_sampling() {
    blocked_guest_wakes("poll");
}

#[test]
fn epoll_wakes_without_sampling() {
    blocked_guest_wakes("epoll");
}

#[test]
fn select_wakes_without_sampling() {
    blocked_guest_wakes("select");
}

#[test]
fn blocking_read_wakes_without_sampling() {
    blocked_guest_wakes("read");
}

/// A stream that is a file is always ready: the guest's poll returns at
/// once and reads it.
#[test]
fn a_file_on_stdin_is_always_ready() {
    let dir = std::env::temp_dir().join(format!("stdio_wake.{}", std::process::id()));
    std::fs::write(&dir, b"from a file\n").expect("write");
    let guest = testdata::guest("stdin_wait", testdata::Libc::Glibc);
    let out = Command::new(SENTRY)
        .args(["run", "--"])
        .arg(guest)
        .arg("poll")
        .stdin(std::fs::File::open(&dir).expect("open"))
        .output()
        .expect("run");
    let _ = std::fs::remove_file(&dir);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "waiting\npoll 1 revents 0x1\ngot from a file\n"
    );
}

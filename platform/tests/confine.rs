//! The sentry's own seccomp filter, capability drop and no_new_privs, each
//! tried in a forked child so the test process itself stays unconfined:
//! allowed calls work, and a refused one kills the child with status 159
//! and the message naming the syscall.

use std::io::Read;
use std::os::fd::FromRawFd;
use std::path::Path;

use platform::confine::{self, SeccompPolicy};

struct Outcome {
    /// Exit status (or 128 + signal).
    status: i32,
    stderr: String,
}

/// One forked child at a time, and every test holds this for its whole run
/// (assertions included): a child forked while another test thread holds
/// a lock (stderr, the backtrace lock of a panicking assertion) would
/// inherit it locked, and a child must not inherit another child's pipe.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static FORKS: std::sync::Mutex<()> = std::sync::Mutex::new(());
    FORKS.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes `msg` on stderr with write(2) (no std lock in the child).
fn child_say(msg: &str) {
    // SAFETY: msg is valid for msg.len() bytes.
    unsafe { libc::write(2, msg.as_ptr().cast(), msg.len()) };
}

/// Runs `body` in a forked child that has confined itself with the
/// sentry's policy (everything readable); the child exits 0 if `body`
/// returns Ok, 1 with its message on stderr if it returns an error.
fn confined(body: impl FnOnce() -> Result<(), String>) -> Outcome {
    confined_reading(&[Path::new("/")], body)
}

/// As [`confined`], with only `readable` readable on the host.
fn confined_reading(readable: &[&Path], body: impl FnOnce() -> Result<(), String>) -> Outcome {
    let mut fds = [0; 2];
    // SAFETY: a valid array of two descriptors to fill.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: the child only confines itself, runs `body` and exits; it
    // never returns into the test harness.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        // SAFETY: in the child: stderr becomes the pipe's write end.
        unsafe { libc::dup2(fds[1], 2) };
        // SAFETY: getpid has no preconditions.
        let me = unsafe { libc::getpid() };
        let code = match confine::confine(&SeccompPolicy::sentry(me), readable) {
            // Nothing may unwind into the harness's code in this child.
            Ok(()) => match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
                Ok(Ok(())) => 0,
                Ok(Err(msg)) => {
                    child_say(&format!("{msg}\n"));
                    1
                }
                Err(_) => 101,
            },
            Err(e) => {
                child_say(&format!("confine failed: {e}\n"));
                99
            }
        };
        // SAFETY: leaving the child without running the harness's exit code.
        unsafe { libc::_exit(code) };
    }
    // SAFETY: the parent closes its copy of the write end.
    unsafe { libc::close(fds[1]) };
    // SAFETY: fds[0] is the read end, owned by this File from now on.
    let mut reader = unsafe { std::fs::File::from_raw_fd(fds[0]) };
    let mut stderr = String::new();
    reader.read_to_string(&mut stderr).unwrap();
    let mut status = 0;
    // SAFETY: waiting for our own child with a valid status pointer.
    assert_eq!(unsafe { libc::waitpid(pid, &mut status, 0) }, pid);
    let status = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        128 + libc::WTERMSIG(status)
    };
    Outcome { status, stderr }
}

/// `Err(what)` unless `ok`.
fn check(ok: bool, what: impl FnOnce() -> String) -> Result<(), String> {
    if ok { Ok(()) } else { Err(what()) }
}

fn assert_refused(out: &Outcome, nr: i64) {
    assert_eq!(out.status, 159, "stderr: {}", out.stderr);
    assert_eq!(
        out.stderr,
        format!("sentry: seccomp: host syscall {nr} not allowed\n")
    );
}

#[test]
fn confined_child_has_no_privileges_and_a_filter() {
    let _serial = serial();
    let out = confined(|| {
        let status = std::fs::read_to_string("/proc/self/status").map_err(|e| e.to_string())?;
        for want in [
            "NoNewPrivs:\t1",
            "Seccomp:\t2",
            "CapInh:\t0000000000000000",
            "CapPrm:\t0000000000000000",
            "CapEff:\t0000000000000000",
            "CapAmb:\t0000000000000000",
        ] {
            check(status.lines().any(|l| l == want), || {
                format!("missing {want:?} in\n{status}")
            })?;
        }
        Ok(())
    });
    assert_eq!(out.status, 0, "stderr: {}", out.stderr);
}

#[test]
fn what_the_sentry_does_after_setup_is_allowed() {
    let _serial = serial();
    let out = confined(|| {
        // Threads: clone3 fails with ENOSYS and glibc falls back to clone
        // with thread flags, which the filter lets through.
        let t = std::thread::spawn(|| {
            std::thread::sleep(std::time::Duration::from_millis(1));
            std::fs::read("/etc/hostname").map(|b| b.len())
        });
        let read = t.join().map_err(|_| "thread failed")?;
        check(read.is_ok(), || format!("read in a thread: {read:?}"))?;
        // Heap growth, files opened read-only, time, randomness.
        let v = vec![7u8; 64 << 20];
        check(v[v.len() - 1] == 7, || "big vector".into())?;
        std::fs::metadata("/").map_err(|e| e.to_string())?;
        let n = std::fs::read_dir("/").map_err(|e| e.to_string())?.count();
        check(n > 0, || "empty /".into())?;
        let _ = std::time::SystemTime::now();
        let mut b = [0u8; 16];
        // SAFETY: getrandom writes at most `b.len()` bytes into `b`.
        let got = unsafe { libc::getrandom(b.as_mut_ptr().cast(), b.len(), 0) };
        check(got == b.len() as isize, || "getrandom".into())?;
        // A sentry bug: a worker's panic is caught (unwinding), and a
        // symbolised backtrace is taken, as RUST_BACKTRACE=1 prints one.
        let caught = std::panic::catch_unwind(|| std::panic::resume_unwind(Box::new(())));
        check(caught.is_err(), || "no unwinding".into())?;
        let trace = std::backtrace::Backtrace::force_capture().to_string();
        check(trace.contains("confine"), || format!("backtrace: {trace}"))
    });
    assert_eq!(out.status, 0, "stderr: {}", out.stderr);
}

#[test]
fn clone3_fails_with_enosys_instead_of_running() {
    let _serial = serial();
    let out = confined(|| {
        // SAFETY: clone3 with a null argument; the filter answers first.
        let r = unsafe { libc::syscall(libc::SYS_clone3, 0usize, 0usize) };
        let e = std::io::Error::last_os_error().raw_os_error();
        check(r == -1 && e == Some(libc::ENOSYS), || {
            format!("clone3 gave {r}, {e:?}")
        })
    });
    assert_eq!(out.status, 0, "stderr: {}", out.stderr);
}

#[test]
fn a_socket_kills_the_sentry_with_a_message() {
    let _serial = serial();
    let out = confined(|| {
        // SAFETY: socket() with integer arguments.
        unsafe { libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) };
        Ok(())
    });
    assert_refused(&out, libc::SYS_socket);
}

#[test]
fn execve_is_refused() {
    let _serial = serial();
    let out = confined(|| {
        let path = c"/bin/true";
        let argv = [path.as_ptr(), std::ptr::null()];
        // SAFETY: valid NUL-terminated path and argv; env empty.
        unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), argv[1..].as_ptr()) };
        Ok(())
    });
    assert_refused(&out, libc::SYS_execve);
}

#[test]
fn a_new_process_is_refused() {
    let _serial = serial();
    let out = confined(|| {
        // SAFETY: a raw fork-like clone (SIGCHLD only, no CLONE_THREAD);
        // the filter refuses it before anything happens.
        unsafe { libc::syscall(libc::SYS_clone, libc::SIGCHLD as usize, 0usize, 0, 0, 0) };
        Ok(())
    });
    assert_refused(&out, libc::SYS_clone);
}

#[test]
fn opening_a_host_file_for_writing_is_refused() {
    let _serial = serial();
    let out = confined(|| {
        // Read-only opens work...
        std::fs::File::open("/etc/hostname").map_err(|e| e.to_string())?;
        // ...writing, creating or truncating does not.
        let _ = std::fs::OpenOptions::new()
            .append(true)
            .open("/tmp/sentry-confine-test");
        Ok(())
    });
    assert_refused(&out, libc::SYS_openat);
}

#[test]
fn executable_memory_is_refused() {
    let _serial = serial();
    let out = confined(|| {
        // SAFETY: an anonymous mapping request; refused before it is made.
        unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                4096,
                libc::PROT_READ | libc::PROT_EXEC,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        Ok(())
    });
    assert_refused(&out, libc::SYS_mmap);
}

#[test]
fn terminal_input_injection_is_refused() {
    let _serial = serial();
    let out = confined(|| {
        let c = b'x';
        // SAFETY: TIOCSTI with a valid byte pointer; refused by the filter.
        unsafe { libc::ioctl(0, libc::TIOCSTI, &c) };
        Ok(())
    });
    assert_refused(&out, libc::SYS_ioctl);
}

#[test]
fn signalling_another_process_is_refused() {
    let _serial = serial();
    let out = confined(|| {
        // SAFETY: tgkill aimed at pid 1 with signal 0; refused first.
        unsafe { libc::syscall(libc::SYS_tgkill, 1, 1, 0) };
        Ok(())
    });
    assert_refused(&out, libc::SYS_tgkill);
}

#[test]
fn raising_limits_is_refused() {
    let _serial = serial();
    let out = confined(|| {
        let lim = libc::rlimit64 {
            rlim_cur: 1 << 20,
            rlim_max: 1 << 20,
        };
        // SAFETY: prlimit64 on ourselves with a valid new limit.
        unsafe { libc::prlimit64(0, libc::RLIMIT_NOFILE, &lim, std::ptr::null_mut()) };
        Ok(())
    });
    assert_refused(&out, libc::SYS_prlimit64);
}

#[test]
fn only_the_given_tree_and_file_can_be_read() {
    let _serial = serial();
    let dir = std::env::temp_dir().join(format!("confine-landlock-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("sub/inside"), b"in").unwrap();
    let inside = dir.join("sub");
    let out = confined_reading(&[&dir, Path::new("/etc/hostname")], || {
        // Beneath the tree: files and directories.
        let got = std::fs::read(inside.join("inside")).map_err(|e| e.to_string())?;
        check(got == b"in", || format!("read {got:?}"))?;
        let n = std::fs::read_dir(&inside)
            .map_err(|e| e.to_string())?
            .count();
        check(n == 1, || format!("{n} entries"))?;
        // The single file granted.
        std::fs::read("/etc/hostname").map_err(|e| format!("/etc/hostname: {e}"))?;
        // Anything else: EACCES, even for root.
        for other in ["/etc/passwd", "/proc/self/status"] {
            let r = std::fs::read(other).map_err(|e| e.raw_os_error());
            check(r == Err(Some(libc::EACCES)), || format!("{other}: {r:?}"))?;
        }
        let r = std::fs::read_dir("/etc")
            .map(|_| ())
            .map_err(|e| e.raw_os_error());
        check(r == Err(Some(libc::EACCES)), || format!("/etc: {r:?}"))
    });
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(out.status, 0, "stderr: {}", out.stderr);
}

//! The sentry process confines itself before the guest's first instruction
//! (docs/SECURITY.md): no descriptor it inherited, no_new_privs, no
//! capability, a seccomp filter, fresh network/IPC/UTS namespaces when
//! the caller may create them. Checked from outside, in
//! /proc/<sentry>/status and /proc/<sentry>/fd, while a guest blocks
//! reading stdin; `--no-sandbox-self` turns the confinement off.

mod common;

use std::io::Read;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::Libc;

/// Kills the sentry if a test fails half-way.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `sentry run [flags] --root / cat` from a shell that first opens
/// /etc/hostname as descriptor 3 and /etc/passwd as descriptor 9, so the
/// sentry inherits both. Returns once the guest runs (a worker thread
/// exists), which is after the sentry confined itself.
fn start_cat(flags: &[&str]) -> Running {
    let cat = testdata::guest("cat", Libc::Glibc);
    let child = Command::new("sh")
        .arg("-c")
        .arg(r#"exec 3</etc/hostname 9</etc/passwd; exec "$0" "$@""#)
        .arg(common::SENTRY)
        .arg("run")
        .args(flags)
        .args(["--root", "/"])
        .arg(&cat)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start the sentry");
    let running = Running(child);
    let pid = running.0.id();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let worker = std::fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten()
            .flatten()
            .any(|t| {
                std::fs::read_to_string(t.path().join("comm")).is_ok_and(|c| c.trim() == "worker")
            });
        if worker {
            return running;
        }
        assert!(Instant::now() < deadline, "the guest never started");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Ends the guest (EOF on its stdin) and checks it exited 0.
fn finish(mut running: Running) {
    drop(running.0.stdin.take());
    let status = running.0.wait().unwrap();
    let mut err = String::new();
    running
        .0
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    assert_eq!(status.code(), Some(0), "sentry stderr: {err}");
}

fn field(status: &str, name: &str) -> String {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
        .unwrap_or_else(|| panic!("no {name} in\n{status}"))
        .trim()
        .to_string()
}

/// Threads of `pid` that run user code (kernel workers such as KVM's
/// `kvm-nx-lpage-recovery`, which show up in /proc but never return to
/// user space, are left out: PF_IO_WORKER | PF_USER_WORKER).
fn user_threads(pid: u32) -> Vec<String> {
    let mut out = Vec::new();
    for t in std::fs::read_dir(format!("/proc/{pid}/task"))
        .unwrap()
        .flatten()
    {
        let stat = std::fs::read_to_string(t.path().join("stat")).unwrap_or_default();
        let flags: u64 = stat
            .rsplit_once(')')
            .and_then(|(_, r)| r.split_whitespace().nth(6))
            .and_then(|f| f.parse().ok())
            .unwrap_or(0);
        if flags & (0x10 | 0x4000) == 0
            && let Ok(s) = std::fs::read_to_string(t.path().join("status"))
        {
            out.push(s);
        }
    }
    out
}

/// Where the sentry's descriptors point.
fn fd_targets(pid: u32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

fn assert_no_inherited_fds(pid: u32) {
    let fds = fd_targets(pid);
    for leaked in ["/etc/hostname", "/etc/passwd"] {
        let real = std::fs::canonicalize(leaked).unwrap();
        assert!(
            !fds.iter().any(|f| Path::new(f) == real),
            "the sentry still holds the inherited {leaked}: {fds:?}"
        );
    }
}

/// The sentry's network, IPC and UTS namespaces, and ours.
fn namespaces(pid: u32) -> (Vec<String>, Vec<String>) {
    let ns = |who: &str| {
        ["net", "ipc", "uts"]
            .iter()
            .map(|n| {
                std::fs::read_link(format!("/proc/{who}/ns/{n}"))
                    .unwrap()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect::<Vec<_>>()
    };
    (ns(&pid.to_string()), ns("self"))
}

/// Whether this test process holds CAP_SYS_ADMIN (bit 21), so the sentry
/// it starts can create namespaces.
fn can_unshare() -> bool {
    u64::from_str_radix(&field(&my_status(), "CapEff"), 16).unwrap() & (1 << 21) != 0
}

fn my_status() -> String {
    std::fs::read_to_string("/proc/self/status").unwrap()
}

#[test]
fn running_sentry_is_confined_and_holds_no_inherited_descriptor() {
    let running = start_cat(&[]);
    let pid = running.0.id();
    let threads = user_threads(pid);
    assert!(threads.len() >= 2, "main thread and a worker");
    // CAP_SETPCAP (bit 8) is what it takes to empty the bounding set.
    let can_drop_bounding =
        u64::from_str_radix(&field(&my_status(), "CapEff"), 16).unwrap() & (1 << 8) != 0;
    for status in &threads {
        let name = field(status, "Name");
        assert_eq!(field(status, "NoNewPrivs"), "1", "thread {name}");
        assert_eq!(field(status, "Seccomp"), "2", "thread {name}");
        for set in ["CapInh", "CapPrm", "CapEff", "CapAmb"] {
            assert_eq!(field(status, set), "0000000000000000", "{set} of {name}");
        }
        if can_drop_bounding {
            assert_eq!(field(status, "CapBnd"), "0000000000000000", "thread {name}");
        }
    }
    assert_no_inherited_fds(pid);
    if can_unshare() {
        let (sentry, ours) = namespaces(pid);
        for (s, o) in sentry.iter().zip(&ours) {
            assert_ne!(s, o, "the sentry should be in a namespace of its own");
        }
    }
    finish(running);
}

#[test]
fn no_sandbox_self_leaves_the_sentry_unconfined() {
    let running = start_cat(&["--no-sandbox-self"]);
    let pid = running.0.id();
    let mine = my_status();
    for status in user_threads(pid) {
        assert_eq!(field(&status, "NoNewPrivs"), field(&mine, "NoNewPrivs"));
        assert_eq!(field(&status, "Seccomp"), field(&mine, "Seccomp"));
        assert_eq!(field(&status, "CapEff"), field(&mine, "CapEff"));
    }
    let (sentry, ours) = namespaces(pid);
    assert_eq!(sentry, ours);
    // Inherited descriptors are closed either way.
    assert_no_inherited_fds(pid);
    finish(running);
}

#[test]
fn every_allowed_syscall_is_documented() {
    let doc = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/SECURITY.md"))
        .expect("docs/SECURITY.md");
    let policy = platform::confine::SeccompPolicy::sentry(1);
    let missing: Vec<&str> = policy
        .rules()
        .iter()
        .map(|r| sentry::syscalls::name(r.nr as u64))
        .filter(|name| !doc.contains(&format!("`{name}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "docs/SECURITY.md does not list {missing:?}"
    );
}

/// Landlock lets the confined sentry read only the `--root` tree and the
/// program itself: a guest under a small root still reads its files and
/// re-executes its own program through /proc/self/exe (busybox's shell
/// runs `cat` that way), exactly as without confinement.
#[test]
fn a_narrow_root_is_readable_and_the_program_can_reexecute_itself() {
    let root = common::scratch_dir("hostself-narrow-root");
    std::fs::create_dir_all(root.join("etc")).unwrap();
    std::fs::write(root.join("etc/motd"), b"inside the root\n").unwrap();
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy("/bin/busybox", root.join("bin/busybox")).unwrap();
    let root = root.to_str().unwrap();
    let script = "cat /etc/motd; cat /etc/hostname 2>/dev/null || echo no host file";
    let run = |flags: &[&str]| {
        let mut argv = vec!["run"];
        argv.extend_from_slice(flags);
        argv.extend(["--root", root, "/bin/busybox", "sh", "-c", script]);
        common::run_sentry(&argv, b"")
    };
    let confined = run(&[]);
    assert_eq!(
        (confined.stdout_str().as_str(), confined.status),
        ("inside the root\nno host file\n", 0),
        "stderr: {}",
        confined.stderr_str()
    );
    let open = run(&["--no-sandbox-self"]);
    assert_eq!(open.stdout, confined.stdout);
}

/// Runs `program` through `sh -c 'exec "$0" "$@" <redirections>'` and
/// returns its stdout and exit status.
fn run_with_redirections(program: &Path, args: &[&str], redirections: &str) -> (String, i32) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!(r#"exec "$0" "$@" {redirections}"#))
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .expect("sh");
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        out.status.code().unwrap_or(-1),
    )
}

/// A standard descriptor the sentry is started without is absent in the
/// guest, as natively (Rust's runtime opens /dev/null over a closed one
/// before `main`; the guest used to read EOF from it). `</dev/null` stays
/// an open, empty stdin.
#[test]
fn closed_standard_descriptors_stay_closed_in_the_guest() {
    for libc in Libc::ALL {
        let guest = testdata::guest("closed_std", libc);
        let guest_str = guest.to_str().unwrap();
        for redirections in ["0<&-", "0<&- 2>&-", "</dev/null"] {
            let native = run_with_redirections(&guest, &[], redirections);
            let sandbox =
                run_with_redirections(Path::new(common::SENTRY), &["run", guest_str], redirections);
            assert_eq!(native, sandbox, "{redirections} ({libc:?})");
        }
        let native = run_with_redirections(&guest, &[], "0<&-");
        assert!(native.0.starts_with("read(0): EBADF\n"), "{}", native.0);
    }
}

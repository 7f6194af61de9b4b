//! End to end: Debian's podman (installed by scripts/setup.sh) runs
//! containers with `sentry` as its OCI runtime, declared in a
//! containers.conf of the test's own (`[engine.runtimes] sentry = [...]`,
//! `runtime_supports_nocgroup`), with `--cgroups=disabled --network none`,
//! on an image imported from a busybox rootfs tarball, in a podman storage
//! of the test's own (`--root`, `--runroot`).

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

const SENTRY: &str = env!("CARGO_BIN_EXE_sentry");
const BUSYBOX: &str = "/bin/busybox";
const IMAGE: &str = "localhost/sentry-test-busybox";

/// The scratch directory with containers.conf, the podman storage and the
/// image, made once per test binary.
fn setup() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        assert!(
            Command::new("podman").arg("--version").output().is_ok(),
            "podman is missing: run scripts/setup.sh (it installs podman)"
        );
        assert!(Path::new(BUSYBOX).exists(), "{BUSYBOX} is missing: run scripts/setup.sh");
        let dir = common::scratch_dir("podman");
        let rootfs = dir.join("rootfs");
        let _ = std::fs::remove_dir_all(&rootfs);
        std::fs::create_dir_all(rootfs.join("bin")).unwrap();
        std::fs::create_dir_all(rootfs.join("etc")).unwrap();
        std::fs::create_dir_all(rootfs.join("tmp")).unwrap();
        std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).unwrap();
        let list = Command::new(BUSYBOX).arg("--list").output().unwrap();
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            if applet != "busybox" {
                std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
            }
        }
        let tar = dir.join("busybox.tar");
        let ok = Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .unwrap();
        assert!(ok.success());
        std::fs::write(
            dir.join("containers.conf"),
            format!(
                "[engine]\nruntime_supports_nocgroup = [\"sentry\"]\n\n[engine.runtimes]\nsentry = [\"{SENTRY}\"]\n"
            ),
        )
        .unwrap();
        let out = podman_in(&dir, &["import", "-q", tar.to_str().unwrap(), IMAGE]);
        assert!(out.status.success(), "podman import: {}", stderr(&out));
        dir
    })
}

fn podman_cmd(dir: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("podman");
    cmd.env("CONTAINERS_CONF", dir.join("containers.conf"))
        .arg("--root")
        .arg(dir.join("storage"))
        .arg("--runroot")
        .arg(dir.join("run"))
        .args(args);
    cmd
}

fn podman_in(dir: &Path, args: &[&str]) -> Output {
    podman_cmd(dir, args).stdin(Stdio::null()).output().unwrap()
}

fn podman(args: &[&str]) -> Output {
    podman_in(setup(), args)
}

/// `podman --runtime sentry run --cgroups=disabled --network none ARGS`.
fn run(args: &[&str]) -> Output {
    let mut all = vec![
        "--runtime",
        "sentry",
        "run",
        "--cgroups=disabled",
        "--network",
        "none",
    ];
    all.extend_from_slice(args);
    podman(&all)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// `podman inspect` of one field.
fn inspect(id: &str, format: &str) -> String {
    let out = podman(&["inspect", "--format", format, id]);
    assert!(out.status.success(), "inspect: {}", stderr(&out));
    stdout(&out).trim().to_string()
}

fn wait_logs(id: &str, want: &str) {
    let until = Instant::now() + common::timeout();
    loop {
        let out = podman(&["logs", id]);
        if stdout(&out).contains(want) {
            return;
        }
        assert!(
            Instant::now() < until,
            "logs of {id} never showed {want:?}: {}",
            stdout(&out)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn script_env_workdir_and_exit_code() {
    let out = run(&[
        "--rm",
        "-e",
        "GREETING=hello there",
        "-w",
        "/tmp",
        "--hostname",
        "pod1",
        IMAGE,
        "sh",
        "-c",
        "echo \"$GREETING\"; pwd; hostname; for i in 1 2 3; do echo $i; done | wc -l; echo oops >&2; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hello there\n/tmp\npod1\n3\n");
    assert!(stderr(&out).contains("oops"), "{}", stderr(&out));
    // A missing program: podman's 127.
    let out = run(&["--rm", IMAGE, "no-such-program"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
}

#[test]
fn volumes_read_only_and_read_write() {
    let dir = common::scratch_dir("podman-volumes");
    let ro = dir.join("ro");
    let rw = dir.join("rw");
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::create_dir_all(&rw).unwrap();
    std::fs::write(ro.join("f"), "from the host\n").unwrap();
    let _ = std::fs::remove_file(rw.join("g"));
    let ro_arg = format!("{}:/data:ro", ro.display());
    let rw_arg = format!("{}:/out", rw.display());
    let out = run(&[
        "--rm",
        "-v",
        &ro_arg,
        "-v",
        &rw_arg,
        IMAGE,
        "sh",
        "-c",
        "cat /data/f; echo x > /data/new || echo refused; echo kept > /out/g",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "from the host\nrefused\n");
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    assert!(!ro.join("new").exists());
    assert_eq!(std::fs::read_to_string(rw.join("g")).unwrap(), "kept\n");
}

#[test]
fn stop_sends_sigterm_then_sigkill() {
    // A guest that traps SIGTERM exits with its own status.
    let out = run(&[
        "-d",
        IMAGE,
        "sh",
        "-c",
        "trap 'echo got TERM; exit 9' TERM; echo up; while true; do sleep 0.1; done",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    wait_logs(&id, "up");
    let out = podman(&["stop", "-t", "10", &id]);
    assert!(out.status.success(), "stop: {}", stderr(&out));
    assert_eq!(inspect(&id, "{{.State.ExitCode}}"), "9");
    wait_logs(&id, "got TERM");
    assert!(podman(&["rm", &id]).status.success());

    // One that ignores it is killed after the timeout: 137.
    let out = run(&[
        "-d",
        IMAGE,
        "sh",
        "-c",
        "trap '' TERM; echo up; while true; do sleep 0.1; done",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    wait_logs(&id, "up");
    let t = Instant::now();
    let out = podman(&["stop", "-t", "1", &id]);
    assert!(out.status.success(), "stop: {}", stderr(&out));
    assert!(t.elapsed() >= Duration::from_secs(1));
    assert_eq!(inspect(&id, "{{.State.ExitCode}}"), "137");
    assert!(podman(&["rm", &id]).status.success());
}

#[test]
fn kill_and_two_containers_at_once() {
    let a = run(&["-d", IMAGE, "sh", "-c", "echo up; sleep 100"]);
    let b = run(&["-d", IMAGE, "sh", "-c", "echo up; sleep 100"]);
    assert!(
        a.status.success() && b.status.success(),
        "{}{}",
        stderr(&a),
        stderr(&b)
    );
    let (a, b) = (stdout(&a).trim().to_string(), stdout(&b).trim().to_string());
    wait_logs(&a, "up");
    wait_logs(&b, "up");
    assert_eq!(inspect(&a, "{{.State.Status}}"), "running");
    assert_eq!(inspect(&b, "{{.State.Status}}"), "running");
    assert_ne!(inspect(&a, "{{.State.Pid}}"), inspect(&b, "{{.State.Pid}}"));
    let out = podman(&["kill", &a]);
    assert!(out.status.success(), "kill: {}", stderr(&out));
    let until = Instant::now() + common::timeout();
    while inspect(&a, "{{.State.Status}}") != "exited" {
        assert!(Instant::now() < until, "{a} still runs after podman kill");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(inspect(&a, "{{.State.ExitCode}}"), "137");
    assert_eq!(inspect(&b, "{{.State.Status}}"), "running");
    assert!(podman(&["rm", "-f", &a, &b]).status.success());
}

/// Runs `podman ARGS` (with the configuration in `dir`) on a new pseudo
/// terminal, types a line that exits with status 4, and returns what the
/// terminal showed and the status.
fn on_a_terminal(dir: &Path, args: &[&str], what: &str) -> (String, std::process::ExitStatus) {
    use rustix::pty::OpenptFlags;
    let master = rustix::pty::openpt(OpenptFlags::RDWR | OpenptFlags::NOCTTY).unwrap();
    rustix::pty::grantpt(&master).unwrap();
    rustix::pty::unlockpt(&master).unwrap();
    let name = rustix::pty::ptsname(&master, Vec::new()).unwrap();
    let slave = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(std::ffi::OsStr::new(name.to_str().unwrap()))
        .unwrap();
    let mut cmd = podman_cmd(dir, args);
    cmd.stdin(slave.try_clone().unwrap())
        .stdout(slave.try_clone().unwrap())
        .stderr(slave);
    let mut child = cmd.spawn().unwrap();
    let mut m = std::fs::File::from(master);
    let mut w = m.try_clone().unwrap();
    // Whatever the shell echoes, the answer (6*7 then x) is only printed
    // by the guest: the input holds "$((6*7))x".
    w.write_all(b"[ -t 0 ] && echo is-a-tty; echo $((6*7))x; exit 4\n")
        .unwrap();
    let reader = std::thread::spawn(move || {
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = m.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&all);
            if text.contains("42x") && text.contains("is-a-tty\r\n") {
                break;
            }
        }
        String::from_utf8_lossy(&all).into_owned()
    });
    let until = Instant::now() + common::timeout();
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if Instant::now() > until {
            let _ = child.kill();
            panic!("{what} did not end");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    (reader.join().unwrap(), status)
}

#[test]
fn interactive_terminal() {
    let (text, status) = on_a_terminal(
        setup(),
        &[
            "--runtime",
            "sentry",
            "run",
            "--rm",
            "-it",
            "--cgroups=disabled",
            "--network",
            "none",
            IMAGE,
            "sh",
        ],
        "podman run -it",
    );
    assert!(text.contains("42x"), "{text:?}");
    assert!(text.contains("is-a-tty\r\n"), "{text:?}");
    assert_eq!(status.code(), Some(4), "{text:?}");
}

#[test]
fn exec_in_a_running_container() {
    let out = run(&[
        "-d",
        IMAGE,
        "sh",
        "-c",
        "echo shared > /tmp/s; echo up; while true; do sleep 0.1; done",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let id = stdout(&out).trim().to_string();
    wait_logs(&id, "up");
    let out = podman(&[
        "exec",
        "-e",
        "FOO=bar",
        "-w",
        "/tmp",
        &id,
        "sh",
        "-c",
        "cat s; echo $FOO; pwd; exit 6",
    ]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert_eq!(stdout(&out), "shared\nbar\n/tmp\n");
    let out = podman(&["exec", &id, "no-such-program"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));

    // -it: a terminal of its own, through the console socket.
    let (text, status) = on_a_terminal(setup(), &["exec", "-it", &id, "sh"], "podman exec -it");
    assert!(
        text.contains("is-a-tty\r\n") && text.contains("42x"),
        "{text:?}"
    );
    assert_eq!(status.code(), Some(4), "{text:?}");
    assert_eq!(inspect(&id, "{{.State.Status}}"), "running");
    assert!(podman(&["rm", "-f", "-t", "0", &id]).status.success());
}

#[test]
fn read_only_root_user_and_ulimit() {
    let out = run(&[
        "--rm",
        "--read-only",
        "--user",
        "1000:1000",
        "--ulimit",
        "nofile=100:200",
        IMAGE,
        "sh",
        "-c",
        "echo x > /etc/f || echo refused; echo y > /tmp/f && cat /tmp/f; id -u; id -g; ulimit -n; ulimit -Hn",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "refused\ny\n1000\n1000\n100\n200\n");
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
}

//! containerd (Debian's 1.6, installed by scripts/setup.sh) runs `sentry`
//! through its runc shim (`io.containerd.runc.v2` with the runc binary
//! replaced: `ctr run --runc-binary`, or `BinaryName` in the CRI config),
//! on a busybox rootfs directory (`--rootfs`). The test starts a
//! containerd of its own (its own root, state and socket).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

const SENTRY: &str = env!("CARGO_BIN_EXE_sentry");
const BUSYBOX: &str = "/bin/busybox";

/// A containerd daemon, stopped when dropped.
struct Daemon {
    child: Child,
    socket: PathBuf,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Daemon {
    fn start(dir: &Path) -> Self {
        assert!(
            Command::new("containerd").arg("--version").output().is_ok(),
            "containerd is missing: run scripts/setup.sh (it installs containerd)"
        );
        let config = dir.join("config.toml");
        std::fs::write(&config, "version = 2\n").unwrap();
        let socket = dir.join("ctd.sock");
        let _ = std::fs::remove_file(&socket);
        let log = std::fs::File::create(dir.join("containerd.log")).unwrap();
        let child = Command::new("containerd")
            .arg("--config")
            .arg(&config)
            .arg("--root")
            .arg(dir.join("root"))
            .arg("--state")
            .arg(dir.join("state"))
            .arg("--address")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let d = Self { child, socket };
        let until = Instant::now() + common::timeout();
        while !d.ctr(&["version"]).status.success() {
            assert!(Instant::now() < until, "containerd did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        d
    }

    fn ctr_cmd(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("ctr");
        cmd.arg("--address").arg(&self.socket).args(args);
        cmd
    }

    fn ctr(&self, args: &[&str]) -> Output {
        self.ctr_cmd(args).stdin(Stdio::null()).output().unwrap()
    }
}

fn rootfs(dir: &Path) -> PathBuf {
    assert!(
        Path::new(BUSYBOX).exists(),
        "{BUSYBOX} is missing: run scripts/setup.sh"
    );
    let rootfs = dir.join("rootfs");
    let _ = std::fs::remove_dir_all(&rootfs);
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::create_dir_all(rootfs.join("tmp")).unwrap();
    std::fs::copy(BUSYBOX, rootfs.join("bin/busybox")).unwrap();
    let list = Command::new(BUSYBOX).arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&list.stdout).lines() {
        if applet != "busybox" {
            std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(applet)).unwrap();
        }
    }
    rootfs
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn runc_shim_runs_sentry() {
    let dir = common::scratch_dir("containerd");
    let rootfs = rootfs(&dir);
    let rootfs = rootfs.to_str().unwrap();
    let d = Daemon::start(&dir);
    let tag = std::process::id().to_string();
    let (a, b) = (format!("a{tag}"), format!("b{tag}"));

    // A script and its exit status.
    let out = d.ctr(&[
        "run",
        "--rm",
        "--runc-binary",
        SENTRY,
        "--rootfs",
        rootfs,
        &a,
        "sh",
        "-c",
        "echo hi from containerd; exit 3",
    ]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "hi from containerd\n");

    // In the background: exec into it, then SIGTERM to its trap.
    let run = d
        .ctr_cmd(&[
            "run", "--rm", "--runc-binary", SENTRY, "--rootfs", rootfs, &b, "sh", "-c",
            "trap 'echo got TERM; exit 9' TERM; echo up > /tmp/u; echo up; while true; do sleep 0.1; done",
        ])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + common::timeout();
    loop {
        let out = d.ctr(&[
            "task",
            "exec",
            "--exec-id",
            "e1",
            &b,
            "sh",
            "-c",
            "cat /tmp/u; exit 4",
        ]);
        if out.status.code() == Some(4) {
            assert_eq!(stdout(&out), "up\n");
            break;
        }
        assert!(
            Instant::now() < until,
            "exec never worked: {}",
            stderr(&out)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = d.ctr(&["task", "kill", "--signal", "SIGTERM", &b]);
    assert!(out.status.success(), "kill: {}", stderr(&out));
    let out = run.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(9), "{}", stderr(&out));
    assert_eq!(stdout(&out), "up\ngot TERM\n");
}

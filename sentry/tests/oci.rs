//! `sentry` as an OCI runtime, driven the way an engine drives runc: on a
//! bundle built here (a busybox root from Debian's busybox-static, the
//! config from `sentry spec`, edited), through `create`, `start`, `state`,
//! `kill`, `delete`, `run`, with a console socket for `terminal: true`.

mod common;

use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const SENTRY: &str = env!("CARGO_BIN_EXE_sentry");
const BUSYBOX: &str = "/bin/busybox";

/// A bundle in a scratch directory: `rootfs/` (busybox and its applet
/// links) and `config.json` from `sentry spec` with `edit` applied.
struct Bundle {
    dir: PathBuf,
    /// The runtime root (state directories) of this test.
    root: PathBuf,
}

impl Bundle {
    fn new(test: &str, edit: impl FnOnce(&mut Value)) -> Self {
        assert!(
            Path::new(BUSYBOX).exists(),
            "{BUSYBOX} is missing: run scripts/setup.sh (it installs busybox-static)"
        );
        let base = common::scratch_dir(&format!("oci-{test}"));
        let _ = std::fs::remove_dir_all(&base);
        let dir = base.join("bundle");
        let bin = dir.join("rootfs/bin");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(dir.join("rootfs/etc")).unwrap();
        std::fs::copy(BUSYBOX, bin.join("busybox")).unwrap();
        let list = Command::new(BUSYBOX).arg("--list").output().unwrap();
        for applet in String::from_utf8_lossy(&list.stdout).lines() {
            if applet != "busybox" {
                std::os::unix::fs::symlink("busybox", bin.join(applet)).unwrap();
            }
        }
        let root = base.join("state");
        let out = oci(&root, &["spec", "--bundle", dir.to_str().unwrap()]);
        assert!(out.status.success(), "spec: {}", stderr(&out));
        let path = dir.join("config.json");
        let mut config: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        config["process"]["terminal"] = Value::Bool(false);
        edit(&mut config);
        std::fs::write(&path, serde_json::to_vec_pretty(&config).unwrap()).unwrap();
        Self { dir, root }
    }

    fn oci(&self, args: &[&str]) -> Output {
        oci(&self.root, args)
    }

    /// `create --bundle DIR ID` with the container's stdout and stderr in
    /// files (the container keeps them open: pipes would not reach EOF).
    fn create(&self, id: &str, extra: &[&str]) -> (Output, PathBuf) {
        let log = self.dir.parent().unwrap().join(format!("{id}.out"));
        let file = std::fs::File::create(&log).unwrap();
        let mut cmd = Command::new(SENTRY);
        cmd.arg("--root")
            .arg(&self.root)
            .args(["create", "--bundle"])
            .arg(&self.dir)
            .args(extra)
            .arg(id)
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file);
        let out = cmd.output().unwrap();
        (out, log)
    }

    fn state(&self, id: &str) -> Value {
        let out = self.oci(&["state", id]);
        assert!(out.status.success(), "state {id}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap().to_string()
    }

    fn wait_status(&self, id: &str, want: &str) {
        let until = Instant::now() + common::timeout();
        loop {
            let s = self.status(id);
            if s == want {
                return;
            }
            assert!(Instant::now() < until, "{id} stayed {s}, wanted {want}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Bundle {
    /// Kills whatever a failed test left running.
    fn drop(&mut self) {
        if let Ok(dir) = std::fs::read_dir(&self.root) {
            for e in dir.flatten() {
                if let Some(id) = e.file_name().to_str() {
                    let _ = oci(&self.root, &["delete", "--force", id]);
                }
            }
        }
    }
}

fn oci(root: &Path, args: &[&str]) -> Output {
    Command::new(SENTRY)
        .arg("--root")
        .arg(root)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn sh(config: &mut Value, script: &str) {
    config["process"]["args"] = serde_json::json!(["sh", "-c", script]);
}

/// Waits until `path` holds `want`.
fn wait_file(path: &Path, want: &str) -> String {
    let until = Instant::now() + common::timeout();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.contains(want) {
            return text;
        }
        assert!(
            Instant::now() < until,
            "{} never showed {want:?}: {text:?}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn lifecycle_create_start_kill_delete() {
    let b = Bundle::new("lifecycle", |c| {
        sh(
            c,
            "trap 'echo got TERM; exit 7' TERM; echo up; while true; do sleep 0.1; done",
        );
        c["annotations"] = serde_json::json!({"org.example.k": "v"});
    });
    let pid_file = b.dir.parent().unwrap().join("pid");
    let (out, log) = b.create("c1", &["--pid-file", pid_file.to_str().unwrap()]);
    assert!(out.status.success(), "create: {}", stderr(&out));
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let st = b.state("c1");
    assert_eq!(st["status"], "created");
    assert_eq!(st["id"], "c1");
    assert_eq!(st["pid"], pid);
    assert_eq!(
        st["bundle"],
        b.dir.canonicalize().unwrap().to_str().unwrap()
    );
    assert_eq!(st["annotations"]["org.example.k"], "v");
    // The state (fifo, control socket) is root's only.
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(b.root.join("c1"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o700);
    assert!(st["ociVersion"].as_str().unwrap().starts_with("1."));
    // Nothing runs before start.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "");
    // A second container with the same id is refused.
    let dup = b.oci(&["create", "-b", b.dir.to_str().unwrap(), "c1"]);
    assert!(!dup.status.success());
    assert!(stderr(&dup).contains("already exists"), "{}", stderr(&dup));

    let out = b.oci(&["start", "c1"]);
    assert!(out.status.success(), "start: {}", stderr(&out));
    wait_file(&log, "up\n");
    assert_eq!(b.status("c1"), "running");
    let listed = b.oci(&["list", "--format", "json"]);
    let listed: Value = serde_json::from_slice(&listed.stdout).unwrap();
    assert_eq!(listed[0]["id"], "c1");
    let ps = b.oci(&["ps", "--format", "json", "c1"]);
    assert_eq!(stdout(&ps).trim(), format!("[{pid}]"));
    // A running container is not deleted without --force.
    let out = b.oci(&["delete", "c1"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("not stopped"), "{}", stderr(&out));

    // SIGTERM reaches the guest's init, whose trap runs.
    let out = b.oci(&["kill", "c1", "SIGTERM"]);
    assert!(out.status.success(), "kill: {}", stderr(&out));
    b.wait_status("c1", "stopped");
    assert_eq!(b.state("c1")["pid"], 0);
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "up\ngot TERM\n");
    let out = b.oci(&["kill", "c1", "KILL"]);
    assert!(
        !out.status.success(),
        "kill of a stopped container succeeded"
    );

    let out = b.oci(&["delete", "c1"]);
    assert!(out.status.success(), "delete: {}", stderr(&out));
    let out = b.oci(&["state", "c1"]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
}

#[test]
fn kill_sigkill_stops_a_guest_that_ignores_term() {
    let b = Bundle::new("sigkill", |c| {
        sh(c, "trap '' TERM; echo up; while true; do sleep 0.1; done")
    });
    let (out, log) = b.create("k", &[]);
    assert!(out.status.success(), "create: {}", stderr(&out));
    assert!(b.oci(&["start", "k"]).status.success());
    wait_file(&log, "up\n");
    assert!(b.oci(&["kill", "k", "TERM"]).status.success());
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(b.status("k"), "running", "the guest ignores SIGTERM");
    assert!(b.oci(&["kill", "--all", "k", "9"]).status.success());
    b.wait_status("k", "stopped");
    assert!(b.oci(&["delete", "k"]).status.success());
}

#[test]
fn run_returns_the_guest_exit_status() {
    let b = Bundle::new("run", |c| {
        sh(c, "echo out; echo err >&2; exit 42");
        c["hostname"] = "box1".into();
    });
    let out = b.oci(&["run", "--bundle", b.dir.to_str().unwrap(), "r1"]);
    assert_eq!(out.status.code(), Some(42), "{}", stderr(&out));
    assert_eq!(stdout(&out), "out\n");
    assert_eq!(stderr(&out), "err\n");
    // run deletes the container it made.
    assert!(!b.root.join("r1").exists());

    let b = Bundle::new("run-hostname", |c| {
        sh(c, "hostname; cat /proc/sys/kernel/hostname; pwd");
        c["hostname"] = "box1".into();
        c["process"]["cwd"] = "/work/dir".into();
    });
    let out = b.oci(&["run", "-b", b.dir.to_str().unwrap(), "r2"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "box1\nbox1\n/work/dir\n");

    // A missing program: 127, as a shell says.
    let b = Bundle::new("run-missing", |c| {
        c["process"]["args"] = serde_json::json!(["no-such-program"]);
    });
    let out = b.oci(&["run", "-b", b.dir.to_str().unwrap(), "r3"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    assert!(stderr(&out).contains("no-such-program"), "{}", stderr(&out));
}

#[test]
fn env_user_and_groups() {
    let b = Bundle::new("user", |c| {
        sh(c, "echo $FOO; id -u; id -g; id -G; umask");
        c["process"]["env"] = serde_json::json!(["PATH=/bin", "FOO=bar baz"]);
        c["process"]["user"] =
            serde_json::json!({"uid": 1000, "gid": 100, "additionalGids": [20, 10], "umask": 63});
    });
    let out = b.oci(&["run", "-b", b.dir.to_str().unwrap(), "u"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "bar baz\n1000\n100\n100 10 20\n0077\n");
}

#[test]
fn bind_mounts_read_only_and_read_write() {
    let b = Bundle::new("binds", |_| {});
    let ro = b.dir.parent().unwrap().join("ro");
    let rw = b.dir.parent().unwrap().join("rw");
    std::fs::create_dir_all(&ro).unwrap();
    std::fs::create_dir_all(&rw).unwrap();
    std::fs::write(ro.join("f"), "host data\n").unwrap();
    let config = b.dir.join("config.json");
    let mut c: Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
    sh(
        &mut c,
        "cat /ro/f; echo x > /ro/g || echo refused; echo written > /rw/new; cat /etc/motd",
    );
    let file = b.dir.parent().unwrap().join("motd");
    std::fs::write(&file, "a single file\n").unwrap();
    let mounts = c["mounts"].as_array_mut().unwrap();
    mounts.push(serde_json::json!({"destination": "/ro", "type": "bind", "source": ro, "options": ["rbind", "ro"]}));
    mounts.push(serde_json::json!({"destination": "/rw", "type": "bind", "source": rw, "options": ["rbind", "rw"]}));
    mounts.push(serde_json::json!({"destination": "/etc/motd", "type": "bind", "source": file, "options": ["bind"]}));
    std::fs::write(&config, serde_json::to_vec(&c).unwrap()).unwrap();
    let out = b.oci(&["run", "-b", b.dir.to_str().unwrap(), "m"]);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert_eq!(stdout(&out), "host data\nrefused\na single file\n");
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
    assert!(!ro.join("g").exists());
    assert_eq!(
        std::fs::read_to_string(rw.join("new")).unwrap(),
        "written\n"
    );
    // The root itself is never written: the guest's changes stay in memory.
    let b2 = Bundle::new("root-untouched", |c| {
        sh(c, "echo x > /etc/new && cat /etc/new")
    });
    let out = b2.oci(&["run", "-b", b2.dir.to_str().unwrap(), "m2"]);
    assert_eq!(stdout(&out), "x\n", "{}", stderr(&out));
    assert!(!b2.dir.join("rootfs/etc/new").exists());
    // root.readonly: writes under / fail, /tmp (the sandbox's own) works.
    let b3 = Bundle::new("root-readonly", |c| {
        sh(
            c,
            "echo x > /etc/new || echo refused; echo y > /tmp/t && cat /tmp/t",
        );
        c["root"]["readonly"] = true.into();
    });
    let out = b3.oci(&["run", "-b", b3.dir.to_str().unwrap(), "m3"]);
    assert_eq!(stdout(&out), "refused\ny\n", "{}", stderr(&out));
    assert!(
        stderr(&out).contains("Read-only file system"),
        "{}",
        stderr(&out)
    );
}

/// The container's process's own (host) limit on open files.
fn host_nofile(pid: i32) -> String {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap()
        .to_string()
}

#[test]
fn rlimits_apply_to_the_guest_not_the_host() {
    let b = Bundle::new("rlimits", |c| {
        sh(c, "ulimit -n; ulimit -Hn; ulimit -s; echo done; sleep 100");
        c["process"]["rlimits"] = serde_json::json!([
            {"type": "RLIMIT_NOFILE", "soft": 77, "hard": 88},
            {"type": "RLIMIT_STACK", "soft": 4194304, "hard": 4194304}
        ]);
    });
    let pid_file = b.dir.parent().unwrap().join("pid");
    let (out, log) = b.create("l", &["--pid-file", pid_file.to_str().unwrap()]);
    assert!(out.status.success(), "create: {}", stderr(&out));
    let pid: i32 = std::fs::read_to_string(&pid_file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    let before = host_nofile(pid);
    assert!(b.oci(&["start", "l"]).status.success());
    let text = wait_file(&log, "done\n");
    assert_eq!(text, "77\n88\n4096\ndone\n");
    // The sentry process's own limit is untouched.
    assert_eq!(host_nofile(pid), before);
    assert!(!before.contains(" 77 "), "{before}");
    assert!(b.oci(&["delete", "--force", "l"]).status.success());
    assert!(!b.root.join("l").exists());
}

#[test]
fn unsupported_fields_are_named() {
    for (field, edit) in [
        (
            "linux.uidMappings",
            Box::new(|c: &mut Value| {
                c["linux"]["uidMappings"] =
                    serde_json::json!([{"containerID": 0, "hostID": 1000, "size": 1}])
            }) as Box<dyn Fn(&mut Value)>,
        ),
        (
            "process.frobnicate",
            Box::new(|c: &mut Value| c["process"]["frobnicate"] = true.into()),
        ),
        (
            "mounts[7].type",
            Box::new(|c: &mut Value| {
                c["mounts"].as_array_mut().unwrap().push(
                    serde_json::json!({"destination": "/x", "type": "nfs", "source": "srv:/x"}),
                )
            }),
        ),
        (
            "hooks.prestart",
            Box::new(|c: &mut Value| {
                c["hooks"] = serde_json::json!({"prestart": [{"path": "/bin/true"}]})
            }),
        ),
        (
            "domainname",
            Box::new(|c: &mut Value| c["domainname"] = "example.org".into()),
        ),
    ] {
        let b = Bundle::new("unsupported", |c| edit(c));
        let (out, _) = b.create("u", &[]);
        assert!(!out.status.success(), "{field}: create succeeded");
        let err = std::fs::read_to_string(b.dir.parent().unwrap().join("u.out")).unwrap();
        assert!(err.contains(&format!("\"{field}\"")), "{field}: {err}");
        assert!(!b.root.join("u").exists(), "{field}: state left behind");
    }
}

#[test]
fn two_containers_at_once() {
    let b = Bundle::new("two", |c| sh(c, "echo up; sleep 100"));
    let (o1, log1) = b.create("one", &[]);
    let (o2, log2) = b.create("two", &[]);
    assert!(o1.status.success() && o2.status.success());
    assert!(b.oci(&["start", "one"]).status.success());
    assert!(b.oci(&["start", "two"]).status.success());
    wait_file(&log1, "up\n");
    wait_file(&log2, "up\n");
    let (s1, s2) = (b.state("one"), b.state("two"));
    assert_eq!(
        (s1["status"].as_str(), s2["status"].as_str()),
        (Some("running"), Some("running"))
    );
    assert_ne!(s1["pid"], s2["pid"]);
    assert!(b.oci(&["kill", "one", "KILL"]).status.success());
    b.wait_status("one", "stopped");
    assert_eq!(b.status("two"), "running");
    assert!(b.oci(&["delete", "one"]).status.success());
    assert!(b.oci(&["delete", "-f", "two"]).status.success());
}

/// Receives one descriptor from a Unix socket (SCM_RIGHTS).
fn recv_fd(sock: &impl AsFd) -> OwnedFd {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(1))];
    let mut anc = RecvAncillaryBuffer::new(&mut space);
    let mut buf = [0u8; 256];
    rustix::net::recvmsg(
        sock,
        &mut [std::io::IoSliceMut::new(&mut buf)],
        &mut anc,
        RecvFlags::empty(),
    )
    .unwrap();
    for m in anc.drain() {
        if let RecvAncillaryMessage::ScmRights(mut fds) = m {
            return fds.next().unwrap();
        }
    }
    panic!("no descriptor received");
}

#[test]
fn terminal_over_the_console_socket() {
    let b = Bundle::new("tty", |c| {
        c["process"]["terminal"] = true.into();
        c["process"]["args"] = serde_json::json!(["sh"]);
        c["process"]["consoleSize"] = serde_json::json!({"height": 30, "width": 100});
    });
    let sock_path = b.dir.parent().unwrap().join("console.sock");
    let listener = std::os::unix::net::UnixListener::bind(&sock_path).unwrap();
    let (out, _) = b.create("t", &["--console-socket", sock_path.to_str().unwrap()]);
    assert!(out.status.success(), "create: {}", stderr(&out));
    let (conn, _) = listener.accept().unwrap();
    let master = std::fs::File::from(recv_fd(&conn));
    assert!(b.oci(&["start", "t"]).status.success());
    let mut w = master.try_clone().unwrap();
    w.write_all(b"tty; stty size; echo $((6*7))x; exit 3\n")
        .unwrap();
    // Read until the shell has exited (EIO once no slave is open).
    let reader = std::thread::spawn(move || {
        let mut m = master;
        let mut all = Vec::new();
        let mut buf = [0u8; 4096];
        while let Ok(n) = m.read(&mut buf) {
            if n == 0 {
                break;
            }
            all.extend_from_slice(&buf[..n]);
            if String::from_utf8_lossy(&all).contains("42x") {
                break;
            }
        }
        String::from_utf8_lossy(&all).into_owned()
    });
    let text = reader.join().unwrap();
    assert!(text.contains("42x"), "{text:?}");
    assert!(
        text.contains("30 100"),
        "the console size did not reach the guest: {text:?}"
    );
    b.wait_status("t", "stopped");
    assert!(b.oci(&["delete", "t"]).status.success());
}

#[test]
fn terminal_without_console_socket_is_an_error() {
    let b = Bundle::new("tty-nosock", |c| c["process"]["terminal"] = true.into());
    let (out, log) = b.create("t", &[]);
    assert!(!out.status.success());
    let err = std::fs::read_to_string(log).unwrap();
    assert!(err.contains("--console-socket"), "{err}");
}

#[test]
fn features_and_global_flags() {
    let root = common::scratch_dir("oci-features");
    let log = root.join("log.json");
    // podman's and crun's global flags are accepted.
    let out = Command::new(SENTRY)
        .args([
            "--cgroup-manager",
            "disabled",
            "--systemd-cgroup",
            "--debug",
            "--log",
        ])
        .arg(&log)
        .args(["--log-format", "json", "--root"])
        .arg(&root)
        .arg("features")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", stderr(&out));
    let f: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(f["ociVersionMin"], "1.0.0");
    assert!(f["linux"]["capabilities"].as_array().unwrap().len() >= 41);
    // Errors go to --log as JSON lines too.
    let out = Command::new(SENTRY)
        .arg("--log")
        .arg(&log)
        .args(["--log-format=json", "--root"])
        .arg(&root)
        .args(["state", "nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let text = std::fs::read_to_string(&log).unwrap();
    let last: Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["level"], "error");
    assert!(last["msg"].as_str().unwrap().contains("does not exist"));
}

#[test]
fn exec_joins_the_running_sandbox() {
    let b = Bundle::new("exec", |c| {
        sh(
            c,
            "echo shared > /tmp/mark; echo up; while true; do sleep 0.1; done",
        );
        c["process"]["env"] = serde_json::json!(["PATH=/bin", "FROM=config"]);
    });
    let (out, log) = b.create("e", &[]);
    assert!(out.status.success(), "create: {}", stderr(&out));
    // No exec before start.
    let out = b.oci(&["exec", "e", "true"]);
    assert!(!out.status.success());
    assert!(b.oci(&["start", "e"]).status.success());
    wait_file(&log, "up\n");
    // Same files (the guest's in-memory /tmp), same pid namespace (init
    // is pid 1), the container's environment plus -e, its exit status.
    let out = Command::new(SENTRY)
        .arg("--root")
        .arg(&b.root)
        .args(["exec", "-e", "EXTRA=1", "--cwd", "/tmp", "e", "sh", "-c"])
        .arg("cat mark; echo $FROM $EXTRA; pwd; cat /proc/1/cmdline | tr '\\0' ' '; echo; read x; echo read $x; exit 6")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = out;
    out.stdin.take().unwrap().write_all(b"input\n").unwrap();
    let out = out.wait_with_output().unwrap();
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stdout(&out).starts_with("shared\nconfig 1\n/tmp\nsh -c echo shared"),
        "{}",
        stdout(&out)
    );
    assert!(stdout(&out).ends_with("\nread input\n"), "{}", stdout(&out));
    // A process description file, as engines pass it.
    let proc_file = b.dir.parent().unwrap().join("process.json");
    std::fs::write(
        &proc_file,
        serde_json::to_vec(&serde_json::json!({
            "args": ["sh", "-c", "id -u; exit 3"], "cwd": "/", "env": ["PATH=/bin"],
            "user": {"uid": 7, "gid": 7}
        }))
        .unwrap(),
    )
    .unwrap();
    let out = b.oci(&["exec", "--process", proc_file.to_str().unwrap(), "e"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert_eq!(stdout(&out), "7\n");
    // A missing program: 127.
    let out = b.oci(&["exec", "e", "no-such-program"]);
    assert_eq!(out.status.code(), Some(127), "{}", stderr(&out));
    // --detach: the pid file names a host process whose status is the
    // guest process's.
    let pid_file = b.dir.parent().unwrap().join("exec.pid");
    let out = b.oci(&[
        "exec",
        "--detach",
        "--pid-file",
        pid_file.to_str().unwrap(),
        "e",
        "sh",
        "-c",
        "echo detached > /tmp/d",
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(pid_file.exists());
    let out = b.oci(&[
        "exec",
        "e",
        "sh",
        "-c",
        "while [ ! -e /tmp/d ]; do sleep 0.05; done; cat /tmp/d",
    ]);
    assert_eq!(stdout(&out), "detached\n", "{}", stderr(&out));
    // The container itself kept running.
    assert_eq!(b.status("e"), "running");
    assert!(b.oci(&["delete", "--force", "e"]).status.success());
}

#[test]
fn run_forwards_signals_to_the_container() {
    let b = Bundle::new("run-signals", |c| {
        sh(
            c,
            "trap 'echo got TERM; exit 5' TERM; echo up; while true; do sleep 0.1; done",
        )
    });
    let log = b.dir.parent().unwrap().join("run.out");
    let mut child = Command::new(SENTRY)
        .arg("--root")
        .arg(&b.root)
        .args(["run", "--bundle"])
        .arg(&b.dir)
        .arg("rs")
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    wait_file(&log, "up\n");
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(5));
    assert_eq!(std::fs::read_to_string(&log).unwrap(), "up\ngot TERM\n");
    assert!(!b.root.join("rs").exists());
}

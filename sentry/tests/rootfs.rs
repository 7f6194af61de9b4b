//! The root filesystem as an attacker sees it (issue 7): host devices and
//! sockets inside `--root` are inert, and a FIFO there opens as a pipe of
//! the sandbox's own (never the host's); symbolic links and bind
//! mounts never lead to the host's /proc, /sys or /dev; absolute links
//! resolve inside the root, as in a chroot; /proc/self/exe and the `..` of
//! `/` reveal nothing of the host; a program that is not a regular,
//! executable file is refused as Linux's execve refuses it, and loading one
//! reads only what an ELF needs.
//!
//! Where a chroot shows the same thing natively, the sandbox's output is
//! compared with `chroot ROOT fsprobe ...` (the tests run as root).

mod common;

use std::ffi::OsString;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Libc, Outcome};

fn probe() -> PathBuf {
    testdata::guest("fsprobe", Libc::Musl)
}

fn sh(cmd: &str) {
    let st = Command::new("sh").arg("-c").arg(cmd).status().expect("sh");
    assert!(st.success(), "{cmd} failed");
}

/// A fresh root: /bin/probe, /etc/passwd, a char device (the host's
/// /dev/kmsg: c 1 11), /dev/zero's twin, a FIFO, a socket, links.
fn make_root(name: &str) -> PathBuf {
    let root = common::scratch_dir(name);
    let _ = std::fs::remove_dir_all(&root);
    for d in ["bin", "etc", "dir"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(probe(), root.join("bin/probe")).unwrap();
    std::fs::copy(probe(), root.join("bin/noexec")).unwrap();
    std::fs::set_permissions(root.join("bin/noexec"), PermissionsExt::from_mode(0o644)).unwrap();
    std::fs::write(root.join("etc/passwd"), "guest-root:x:0:0\n").unwrap();
    let r = root.display();
    sh(&format!(
        "mknod {r}/kmsg c 1 11 && mknod {r}/bin/zdev c 1 5 && chmod 755 {r}/bin/zdev && \
         mkfifo {r}/fifo && mkfifo -m 755 {r}/bin/fifo && \
         python3 -c \"import socket; socket.socket(socket.AF_UNIX).bind('{r}/sock')\""
    ));
    let link = |target: &str, at: &str| std::os::unix::fs::symlink(target, root.join(at)).unwrap();
    link("/etc/passwd", "etc/x");
    link("/proc/mounts", "etc/mtab");
    link("/dev/shm", "shm");
    link("../../../../../../../proc/self/status", "etc/st");
    root
}

fn sandbox(root: &Path, ops: &[&str]) -> Outcome {
    let mut argv: Vec<OsString> = vec![
        "run".into(),
        "--root".into(),
        root.into(),
        "--".into(),
        // A guest path: PROGRAM is found inside the root.
        "/bin/probe".into(),
    ];
    argv.extend(ops.iter().map(OsString::from));
    let out = common::run_sentry(&argv, b"");
    assert_eq!(out.status, 0, "stderr: {}", out.stderr_str());
    out
}

fn chroot(root: &Path, ops: &[&str]) -> Outcome {
    let mut cmd = Command::new("chroot");
    cmd.arg(root).arg("/bin/probe").args(ops);
    let out = common::run_command(cmd, b"", "chroot probe");
    assert_eq!(out.status, 0, "stderr: {}", out.stderr_str());
    out
}

fn lines(o: &Outcome) -> Vec<String> {
    o.stdout_str().lines().map(str::to_owned).collect()
}

/// Item 2: a device node opens with O_PATH only, and that descriptor
/// reads nothing (the old sentry read the host kernel log through it); a
/// FIFO or socket never makes the sentry block in a host open (the old one
/// hung on `O_PATH` of a FIFO); stat shows each as it is; a FIFO opened
/// `O_RDONLY | O_NONBLOCK` is a pipe with no writer (read: end of file),
/// as natively.
#[test]
fn host_devices_fifos_and_sockets_are_inert() {
    let root = make_root("rootfs-inert");
    let same = [
        "opath:/kmsg",
        "opath:/fifo",
        "opath:/sock",
        "opath:/",
        "opath:/etc/x",
        "stat:/kmsg",
        "lstat:/fifo",
        "stat:/sock",
        "open:/sock",
        "open:/fifo",
        "ls:/etc",
    ];
    // These behave exactly as in a chroot.
    let s = sandbox(&root, &same);
    assert_eq!(lines(&s), lines(&chroot(&root, &same)));
    let text = s.stdout_str();
    assert!(
        text.contains("opath /kmsg: read=EBADF write=EBADF pread=EBADF getdents=EBADF fstat=chr\n"),
        "{text}"
    );
    assert!(text.contains("stat /kmsg: chr 0644 rdev=1,11\n"), "{text}");
    assert!(text.contains("open /fifo: read=0:\n"), "{text}");
    // Opening a host device is refused, as on a nodev mount (a chroot
    // would read the kernel log). The sentry's own /dev/null with O_PATH
    // is no more readable.
    let s = sandbox(&root, &["open:/kmsg", "ls:/", "opath:/dev/null"]);
    assert_eq!(
        s.stdout_str(),
        "open /kmsg: EACCES\nls /: ..=ok bin dev dir etc fifo kmsg proc shm sock sys tmp\n\
         opath /dev/null: read=EBADF write=EBADF pread=EBADF getdents=EBADF fstat=chr\n"
    );
}

/// Item 2 (FIFOs): the `fifo` guest, as parent and children over FIFOs of
/// the root (two paths to one of them, a link among them), prints the same
/// natively in a chroot and in the sandbox: blocking and non-blocking
/// opens, ENXIO, EINVAL, EOF, EPIPE and SIGPIPE, poll and epoll, opens
/// interrupted (EINTR, SA_RESTART) and killed, data kept and dropped,
/// fstat and F_GETPIPE_SZ, and 1,500 open/fill/close rounds under
/// `--memory 64M` (96 MiB in all: a pipe kept after its last close would
/// run out). The old sentry refused every open with EACCES.
#[test]
fn fifos_are_pipes_of_the_sandbox() {
    for libc in [Libc::Musl, Libc::Glibc] {
        let root = common::scratch_dir(&format!("rootfs-fifo-{libc}"));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("bin")).unwrap();
        std::fs::copy(testdata::guest("fifo", libc), root.join("bin/fifo")).unwrap();
        let r = root.display();
        sh(&format!(
            "mkfifo -m 640 {r}/f && mkfifo -m 600 {r}/g && ln -s f {r}/link"
        ));
        let mut cmd = Command::new("chroot");
        cmd.arg(&root).args(["/bin/fifo", "/"]);
        let native = common::run_command(cmd, b"", "chroot fifo");
        assert_eq!(native.status, 0, "native: {}", native.stdout_str());
        let argv: Vec<OsString> = vec![
            "run".into(),
            "--memory".into(),
            "64M".into(),
            "--root".into(),
            root.clone().into(),
            "--".into(),
            "/bin/fifo".into(),
            "/".into(),
        ];
        let sandboxed = common::run_sentry(&argv, b"");
        common::assert_outcomes_match(&format!("fifo ({libc})"), &native, &sandboxed);
        let text = sandboxed.stdout_str();
        for line in [
            "nonblock: writer without reader on g: ENXIO\n",
            "rdwr: fstat fifo=1 mode=0640 same inode as path=1 link=1 size=0\n",
            "kept: poll IN HUP, read kept, then EOF, poll HUP\n",
            "epipe: write -1 EPIPE, SIGPIPE 1\n",
            "block: child reader open ok after the writer came: 1, read 'hello world' then EOF\n",
            "signal: reader open EINTR, handler ran 1\n",
            "restart: open ok, handler ran 1, read restarted\n",
            "kill: blocked writer killed by SIGKILL\n",
            "churn: 1500 rounds of 64 KiB: ok\n",
        ] {
            assert!(text.contains(line), "{line:?} missing from:\n{text}");
        }
    }
}

/// Item 2 (links): absolute links resolve inside the root (chroot), links
/// and `..` never reach the host's /proc or /dev but the sentry's own
/// (its mount table, its empty /dev/shm), and the sentry's /proc/self
/// works through a link.
#[test]
fn links_resolve_inside_the_root() {
    let root = make_root("rootfs-links");
    let ops = ["cat:/etc/x", "lstat:/etc/x"];
    let s = sandbox(&root, &ops);
    assert_eq!(lines(&s), lines(&chroot(&root, &ops)));
    assert_eq!(lines(&s)[0], "cat /etc/x: guest-root:x:0:0");
    let s = sandbox(&root, &["cat:/etc/st", "cat:/etc/mtab", "ls:/shm"]);
    assert_eq!(
        s.stdout_str(),
        "cat /etc/st: Name:\tprobe\ncat /etc/mtab: overlay / overlay rw,relatime 0 0\n\
         ls /shm: ..=ok\n"
    );
}

/// Item 2 with `--root /`: the old sentry filtered /proc, /sys and /dev by
/// the path as typed, so a link to /proc/mounts returned the host's mount
/// table and a link to /dev/shm listed the host's directory. Links and
/// `..` reach the sentry's own /proc, /dev and /sys (its mount table, an
/// empty /dev/shm, no /sys/kernel); a bind mount of the host's /proc
/// elsewhere is refused by its filesystem type.
#[test]
fn host_proc_and_dev_are_unreachable_from_root_slash() {
    let dir = common::scratch_dir("rootfs-slash");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("procbind")).unwrap();
    std::os::unix::fs::symlink("/proc/mounts", dir.join("mtab")).unwrap();
    std::os::unix::fs::symlink("/dev/shm", dir.join("shm")).unwrap();
    std::os::unix::fs::symlink("/sys/kernel", dir.join("kernel")).unwrap();
    let up = "../".repeat(dir.components().count()) + "proc/self/mounts";
    std::os::unix::fs::symlink(up, dir.join("up")).unwrap();
    let d = dir.display();
    sh(&format!("mount --bind /proc {d}/procbind"));
    /// Unmounts the bind mount even if the test fails.
    struct Unmount(String);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let mounted = Unmount(format!("{d}/procbind"));
    // A file in the host's /dev/shm: the sandbox's /dev/shm (its own
    // tmpfs) must not show it.
    let marker = format!("/dev/shm/sentry-marker-{}", std::process::id());
    std::fs::write(&marker, b"host").unwrap();
    let ops: Vec<String> = [
        "cat:mtab",
        "ls:shm",
        "ls:kernel",
        "cat:up",
        "cat:procbind/mounts",
        "ls:procbind",
        "stat:procbind/self",
        "cat:/dev/shm/../../proc/mounts",
    ]
    .iter()
    .map(|o| {
        let (op, p) = o.split_once(':').unwrap();
        if p.starts_with('/') {
            (*o).to_owned()
        } else {
            format!("{op}:{d}/{p}")
        }
    })
    .collect();
    let mut argv: Vec<OsString> = vec!["run".into(), "--root".into(), "/".into(), "--".into()];
    argv.push(probe().into());
    argv.extend(ops.iter().map(OsString::from));
    let out = common::run_sentry(&argv, b"");
    drop(mounted);
    let _ = std::fs::remove_file(&marker);
    let want: Vec<String> = ops
        .iter()
        .enumerate()
        .map(|(i, o)| {
            let (op, p) = o.split_once(':').unwrap();
            let seen = match i {
                0 | 3 | 7 => "overlay / overlay rw,relatime 0 0",
                1 => return format!("{op} {p}: ..=ok"),
                _ => "ENOENT",
            };
            format!("{op} {p}: {seen}")
        })
        .collect();
    assert_eq!(lines(&out), want, "stderr: {}", out.stderr_str());
}

/// Item 3: /proc/self/exe shows the program's guest path inside the root
/// (the old sentry showed the host path); without a root, only `/` and the
/// file name; the `..` of `/` is `/` itself, in getdents64 and stat (the
/// old sentry gave the host parent's inode).
#[test]
fn exe_path_and_dotdot_of_root_reveal_nothing() {
    let root = make_root("rootfs-exe");
    let s = sandbox(&root, &["exe:", "ls:/", "dotdot:/", "dotdot:/.."]);
    let l = lines(&s);
    assert_eq!(l[0], "exe: /bin/probe");
    assert!(l[1].starts_with("ls /: ..=ok "), "{}", l[1]);
    assert_eq!(l[2..], ["dotdot /: same", "dotdot /..: same"]);
    let out = common::run_sentry(
        &[
            OsString::from("run"),
            "--".into(),
            probe().into(),
            "exe:".into(),
        ],
        b"",
    );
    assert_eq!(out.stdout_str(), "exe: /fsprobe\n", "{}", out.stderr_str());
}

/// Item 4 (guest execve): a file without an execute bit, a FIFO, a device,
/// a directory: EACCES; an executable file that is not an ELF (or empty):
/// ENOEXEC; execveat relative to a directory descriptor; all as natively
/// in a chroot.
#[test]
fn guest_execve_checks_type_and_mode() {
    let root = make_root("rootfs-execve");
    for (name, text) in [("garbage", "\x7fELF but not really"), ("empty", "")] {
        std::fs::write(root.join("bin").join(name), text).unwrap();
        std::fs::set_permissions(
            root.join("bin").join(name),
            PermissionsExt::from_mode(0o755),
        )
        .unwrap();
    }
    let ops = [
        "exec:/bin/noexec",
        "exec:/bin/fifo",
        "exec:/bin/zdev",
        "exec:/dir",
        "exec:/etc/passwd",
        "exec:/nonexistent",
        "exec:/bin/probe",
        "exec:/bin/garbage",
        "exec:/bin/empty",
        "execat:/bin/probe",
        "execat:/bin/noexec",
        "execat:/etc/x",
    ];
    let s = sandbox(&root, &ops);
    assert_eq!(lines(&s), lines(&chroot(&root, &ops)));
    assert_eq!(lines(&s)[1], "exec /bin/fifo: EACCES");
}

/// Item 4 (the command line): a PROGRAM that is not executable fails with
/// status 126, as a shell's exec does (the old sentry ran it); a FIFO or a
/// device as PROGRAM is refused at once (the old sentry hung on the FIFO
/// and read /dev/zero until allocation failed); a missing one gives 127.
#[test]
fn program_must_be_an_executable_regular_file() {
    let root = make_root("rootfs-program");
    for (p, status) in [
        ("bin/noexec", 126),
        ("bin/fifo", 126),
        ("bin/zdev", 126),
        ("dir", 126),
        ("missing", 127),
    ] {
        let path = root.join(p);
        let native = common::run_command(
            {
                let mut c = Command::new("sh");
                c.arg("-c").arg(format!("exec {}", path.display()));
                c
            },
            b"",
            "native sh",
        );
        assert_eq!(native.status, status, "native {p}");
        let out = common::run_sentry(&[OsString::from("run"), "--".into(), path.into()], b"");
        assert_eq!(out.status, status, "{p}: {}", out.stderr_str());
        assert_eq!(out.stderr_str().lines().count(), 1, "{}", out.stderr_str());
    }
    let out = common::run_sentry(&["run", "--", "/dev/zero"], b"");
    assert_eq!(out.status, 126, "{}", out.stderr_str());
    assert!(
        out.stderr_str().contains("Permission denied"),
        "{}",
        out.stderr_str()
    );
}

/// Item 5: a name from the file or the guest is quoted: a PT_INTERP with
/// escape codes and a newline prints as one line with no control byte.
#[test]
fn hostile_names_are_quoted() {
    let dir = common::scratch_dir("rootfs-quote");
    let mut elf = std::fs::read(probe()).unwrap();
    // Turn the first program header into a PT_INTERP whose name is hostile.
    let phoff = u64::from_le_bytes(elf[32..40].try_into().unwrap()) as usize;
    let evil = b"\x1b[2J\nsentry: error: forged\0";
    let at = elf.len();
    elf.extend_from_slice(evil);
    elf[phoff..phoff + 4].copy_from_slice(&3u32.to_le_bytes());
    elf[phoff + 8..phoff + 16].copy_from_slice(&(at as u64).to_le_bytes());
    elf[phoff + 32..phoff + 40].copy_from_slice(&(evil.len() as u64).to_le_bytes());
    let path = dir.join("evil\x1b[31m\nname");
    std::fs::write(&path, &elf).unwrap();
    std::fs::set_permissions(&path, PermissionsExt::from_mode(0o755)).unwrap();
    let out = common::run_sentry(&[OsString::from("run"), "--".into(), path.into()], b"");
    let err = out.stderr_str();
    // The interpreter is not found (status 127, as a shell's ENOENT).
    assert_eq!(out.status, 127, "{err}");
    assert_eq!(err.lines().count(), 1, "{err:?}");
    assert!(!err.contains('\x1b'), "{err:?}");
    assert!(
        err.contains("\\x1b[2J\\x0asentry: error: forged"),
        "{err:?}"
    );
}

/// Peak RSS (VmHWM) of a running process, in KiB.
fn peak_kib(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = s.lines().find(|l| l.starts_with("VmHWM:")).unwrap();
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Item 4 (memory): a 256 MiB program (a small ELF followed by a sparse
/// tail) costs the sentry almost nothing to load, from the command line
/// and through the guest's execve, once and four times at once: the old
/// sentry read every program file whole into its heap (its peak RSS was
/// 532 MB here; now about 8 MB).
#[test]
fn loading_reads_only_what_the_elf_needs() {
    use std::io::Write;
    let root = make_root("rootfs-big");
    let big = root.join("bin/big");
    std::fs::copy(probe(), &big).unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&big)
        .unwrap()
        .set_len(256 << 20)
        .unwrap();
    let mut child = Command::new(common::SENTRY)
        .args(["run", "--root"])
        .arg(&root)
        .arg("--")
        .arg("/bin/big")
        .args(["exec:/bin/big", "exec4:/bin/big"])
        .arg("wait:")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Wait for the execs to have run (their lines come first).
    let mut stdout = child.stdout.take().unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    while seen.iter().filter(|&&b| b == b'\n').count() < 2 {
        let n = std::io::Read::read(&mut stdout, &mut buf).unwrap();
        assert!(
            n > 0,
            "sentry ended early: {}",
            String::from_utf8_lossy(&seen)
        );
        seen.extend_from_slice(&buf[..n]);
    }
    let peak = peak_kib(child.id());
    child.stdin.take().unwrap().write_all(b"").unwrap();
    let status = child.wait().unwrap();
    assert!(status.success());
    assert_eq!(
        String::from_utf8_lossy(&seen),
        "exec /bin/big: ran, status 0\nexec4 /bin/big: 0 0 0 0\n"
    );
    assert!(peak < 64 * 1024, "sentry peak RSS {peak} KiB");
}

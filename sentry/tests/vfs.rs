//! The writable root (issue 9): the same program changes files natively in
//! a chroot (a writable copy of a small root) and in the sandbox over a
//! pristine copy given as `--root`; stdout and exit status must match, and
//! the sandbox's copy must be byte-for-byte unchanged afterwards (every
//! change stayed in the overlay's memory).

mod common;

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{Libc, Outcome};

fn sh(cmd: &str) {
    let st = Command::new("sh").arg("-c").arg(cmd).status().expect("sh");
    assert!(st.success(), "{cmd} failed");
}

/// Everything about a tree that a write could change: for each path, its
/// type, mode, owner, size, mtime, link count and content (or target).
fn snapshot(root: &Path) -> BTreeMap<PathBuf, String> {
    fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<PathBuf, String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let content = if m.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_file() {
                format!("{:?}", std::fs::read(&p).unwrap())
            } else {
                String::new()
            };
            out.insert(
                p.strip_prefix(root).unwrap().to_owned(),
                format!(
                    "mode={:o} uid={} gid={} size={} mtime={}.{} nlink={} {content}",
                    m.mode(),
                    m.uid(),
                    m.gid(),
                    m.size(),
                    m.mtime(),
                    m.mtime_nsec(),
                    m.nlink()
                ),
            );
            if m.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, &mut out);
    out
}

/// A small root: `/bin/<programs>`, /etc/passwd, /etc/motd, /data/dir/{a,b},
/// /data/sub/inner/deep, /data/lnk -> ../etc/passwd, /data/loop -> loop,
/// /data/hard and /data/hard2 (one inode), an empty /tmp (1777), /dev with
/// only null, and empty /proc and /sys (the sandbox mounts its own there).
fn make_root(name: &str, programs: &[(&str, PathBuf)]) -> PathBuf {
    let root = common::scratch_dir(name);
    let _ = std::fs::remove_dir_all(&root);
    for d in [
        "bin",
        "dev",
        "etc",
        "proc",
        "sys",
        "data/dir",
        "data/sub/inner",
        "tmp",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::set_permissions(root.join("tmp"), PermissionsExt::from_mode(0o1777)).unwrap();
    for (n, src) in programs {
        std::fs::copy(src, root.join("bin").join(n)).unwrap();
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(root.join("etc/motd"), "welcome\n").unwrap();
    std::fs::write(root.join("data/dir/a"), "file a\n").unwrap();
    std::fs::write(root.join("data/dir/b"), "file b\n").unwrap();
    std::fs::write(root.join("data/sub/inner/deep"), "deep\n").unwrap();
    std::fs::write(root.join("data/hard"), "two names\n").unwrap();
    std::fs::hard_link(root.join("data/hard"), root.join("data/hard2")).unwrap();
    std::os::unix::fs::symlink("../etc/passwd", root.join("data/lnk")).unwrap();
    std::os::unix::fs::symlink("loop", root.join("data/loop")).unwrap();
    std::os::unix::fs::symlink("dir", root.join("data/dirlink")).unwrap();
    std::os::unix::fs::symlink("nowhere", root.join("data/dangling-bad")).unwrap();
    std::fs::create_dir_all(root.join("data/made2x")).unwrap();
    // The chroot's /dev/null (shells redirect background jobs to it); the
    // sandbox mounts its own /dev over this one.
    sh(&format!(
        "mknod {}/dev/null c 1 3 && chmod 666 {}/dev/null",
        root.display(),
        root.display()
    ));
    root
}

/// A copy of `root` (cp -a keeps modes, owners, times and hard links).
fn copy_of(root: &Path, name: &str) -> PathBuf {
    let to = common::scratch_dir(name);
    let _ = std::fs::remove_dir_all(&to);
    sh(&format!("cp -a {} {}", root.display(), to.display()));
    to
}

fn native(root: &Path, argv: &[&str]) -> Outcome {
    let mut cmd = Command::new("chroot");
    cmd.arg(root).args(argv).env_clear().env(
        "PATH",
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    );
    common::run_command(cmd, b"", "chroot")
}

fn sandboxed(root: &Path, argv: &[&str]) -> Outcome {
    let mut args: Vec<OsString> = vec!["run".into(), "--root".into(), root.into(), "--".into()];
    args.extend(argv.iter().map(OsString::from));
    common::run_sentry(&args, b"")
}

/// Runs `argv` natively in a writable copy of `root` and in the sandbox
/// over another copy; the outcomes must match and the sandbox's copy must
/// not change.
fn compare(label: &str, root: &Path, argv: &[&str]) -> Outcome {
    let native_root = copy_of(root, &format!("{label}-native"));
    let sandbox_root = copy_of(root, &format!("{label}-sandbox"));
    let before = snapshot(&sandbox_root);
    let n = native(&native_root, argv);
    let s = sandboxed(&sandbox_root, argv);
    common::assert_outcomes_match(label, &n, &s);
    assert!(
        before == snapshot(&sandbox_root),
        "{label}: the sandbox's root changed on the host"
    );
    s
}

/// Creates, writes, appends, truncates, links, renames (across layers),
/// removes, chmods, chowns and utimens in the root, with Linux's errno for
/// each error case, for both libcs.
#[test]
fn file_operations_match_a_chroot() {
    for libc in Libc::ALL {
        let root = make_root(
            &format!("vfs-ops-{libc}"),
            &[("vfsops", testdata::guest("vfsops", libc))],
        );
        let out = compare(&format!("vfsops-{libc}"), &root, &["/bin/vfsops"]);
        assert_eq!(out.status, 0, "{}", out.stdout_str());
        assert!(out.stdout_str().contains("rename lower dir: ok\n"));
    }
}

/// busybox (a real program) writes, moves, links, archives with tar and
/// deletes files under / and /tmp, in a chroot and in the sandbox.
#[test]
fn busybox_script_matches_a_chroot() {
    let root = make_root("vfs-busybox", &[("busybox", PathBuf::from("/bin/busybox"))]);
    sh(&format!(
        "for a in sh ls cat mv cp ln rm mkdir rmdir tar touch chmod find sort wc head od sed echo stat mkfifo; do \
         ln -s busybox {}/bin/$a; done",
        root.display()
    ));
    let script = r#"
set -e
cd /
mkdir -p /work/one /tmp/t
echo first > /work/one/f1
printf 'second\nline\n' > /work/f2
cp /etc/passwd /work/one/pw
mv /work/f2 /work/one/f2
ln /work/one/f1 /work/one/f1.hard
ln -s one/f1 /work/f1.sym
cat /work/f1.sym
stat -c '%n %h %s %a' /work/one/f1 /work/one/f1.hard
chmod 600 /work/one/pw
tar cf /tmp/t/a.tar work etc data
rm -r /work/one
ls -R /work || true
cd /tmp/t && tar xf a.tar && find . | sort
cat /tmp/t/work/one/f2 /tmp/t/data/dir/a
stat -c '%n %a %s' work/one/pw
rm -rf /tmp/t/work
mv /data/dir /data/moved
ls /data /data/moved
rm /etc/motd
ls /etc
echo appended >> /etc/passwd
wc -l /etc/passwd
rmdir /data/sub/inner 2>&1 || echo "rmdir failed"
od -c /data/hard | head -2
cp /bin/busybox /tmp/echo && chmod 755 /tmp/echo && /tmp/echo copied-exec
mkfifo /tmp/ff /data/ff2
echo through-fifo > /tmp/ff & cat /tmp/ff; wait
cat /data/ff2 > /tmp/ff2.out & echo through-lower-dir-fifo > /data/ff2; wait
cat /tmp/ff2.out
ls -l /tmp/ff | cut -c1-10
echo done
"#;
    let out = compare("busybox", &root, &["/bin/sh", "-c", script]);
    assert!(out.stdout_str().ends_with("done\n"), "{}", out.stdout_str());
}

/// `sentry run --root R -- /bin/sh -c ...` finds /bin/sh inside R (the old
/// sentry looked it up on the host), and a bare name goes through the
/// guest's PATH; --workdir sets the initial directory.
#[test]
fn program_is_found_inside_the_root() {
    let root = make_root("vfs-program", &[("busybox", PathBuf::from("/bin/busybox"))]);
    std::os::unix::fs::symlink("busybox", root.join("bin/sh")).unwrap();
    let r = root.to_str().unwrap();
    let out = common::run_sentry(
        &[
            "run",
            "--root",
            r,
            "--",
            "/bin/sh",
            "-c",
            "echo in root; cat /etc/motd",
        ],
        b"",
    );
    assert_eq!(
        out.stdout_str(),
        "in root\nwelcome\n",
        "{}",
        out.stderr_str()
    );
    let out = common::run_sentry(
        &[
            "run",
            "--root",
            r,
            "--workdir",
            "/data/dir",
            "--",
            "sh",
            "-c",
            "pwd; cat a; readlink /proc/self/exe",
        ],
        b"",
    );
    assert_eq!(
        out.stdout_str(),
        "/data/dir\nfile a\n/bin/busybox\n",
        "{}",
        out.stderr_str()
    );
    let out = common::run_sentry(&["run", "--root", r, "--", "nonexistent"], b"");
    assert_eq!(out.status, 127, "{}", out.stderr_str());
    let out = common::run_sentry(&["run", "--root", r, "--", "/etc/motd"], b"");
    assert_eq!(out.status, 126, "{}", out.stderr_str());
}

/// Files in the sandbox's memory count against `--memory`: appending to a
/// file stops when the cap is reached (ENOSPC for the write, or ENOMEM for
/// the next program, whichever comes first), and truncating it (a shell
/// builtin: nothing else can start while memory is full) gives the room
/// back.
#[test]
fn tmpfs_pages_count_against_the_memory_cap() {
    let root = make_root("vfs-memcap", &[("busybox", PathBuf::from("/bin/busybox"))]);
    let out = common::run_sentry(
        // --no-aslr: with the randomised layout (issue 14) the loop stops
        // at the same `busybox cat` every time (the 33rd here), but what
        // that start-up has touched when the cap bites varies by a few
        // pages, and so does how it fails: ENOMEM (or E2BIG, Linux's
        // copy_strings answer) from execve in the shell, the OOM killer
        // (a fault with no frame left: "Killed"), or inside the child's
        // start-up, where Debian's static busybox (glibc) crashes by itself
        // (see the next test): brk
        // fails, three mmap(1 MiB) fail, and glibc's fatal-error path reads
        // a NULL name (SIGSEGV at address 0, rip 0x496493). Linux does the
        // same: `ulimit -v 2200; busybox cat /bin/busybox` natively shows
        // that exact brk/mmap sequence and "segfault at 0 ip 496493" in
        // dmesg. Not a sentry bug; this test is about tmpfs pages and the
        // cap, so it uses a fixed layout, where the cap always bites at the
        // same point.
        &[
            "run",
            "--no-aslr",
            "--memory",
            "64M",
            "--root",
            root.to_str().unwrap(),
            "--",
            "/bin/busybox",
            "sh",
            "-c",
            "i=0; while [ $i -lt 100 ] && busybox cat /bin/busybox >> /tmp/big; do i=$((i+1)); done; \
             echo stopped early: $((i < 100)); : > /tmp/big; \
             busybox cat /bin/busybox /bin/busybox > /tmp/small && echo fits",
        ],
        b"",
    );
    assert_eq!(
        out.stdout_str(),
        "stopped early: 1\nfits\n",
        "{}",
        out.stderr_str()
    );
    let err = out.stderr_str();
    assert!(
        err.contains("No space left on device") || err.contains("Cannot allocate memory"),
        "{err}"
    );
}

/// Why the test above fixes the layout: Debian's static busybox crashes
/// by itself (SIGSEGV at address 0 in glibc's fatal-error path) when its
/// first allocations fail at start-up, natively as in the sandbox. Here
/// RLIMIT_AS makes brk and mmap fail at the same point in both (the
/// status, 139, and stdout must match; with ASLR on in the sandbox).
#[test]
fn busybox_crashes_by_itself_when_startup_allocations_fail() {
    let root = make_root("vfs-bb-as", &[("busybox", PathBuf::from("/bin/busybox"))]);
    let script = "(ulimit -v 2200; busybox cat /bin/busybox > /dev/null); echo rc=$?; \
                  (ulimit -v 2300; busybox cat /bin/busybox > /dev/null); echo rc=$?";
    let mut cmd = Command::new("/usr/sbin/chroot");
    cmd.arg(&root).args(["/bin/busybox", "sh", "-c", script]);
    let native = common::run_command(cmd, b"", "chroot busybox ulimit");
    assert_eq!(
        native.stdout_str(),
        "rc=139\nrc=0\n",
        "{}",
        native.stderr_str()
    );
    let sandbox = common::run_sentry(
        &[
            "run",
            "--root",
            root.to_str().unwrap(),
            "--",
            "/bin/busybox",
            "sh",
            "-c",
            script,
        ],
        b"",
    );
    common::assert_outcomes_match("busybox under RLIMIT_AS", &native, &sandbox);
}

/// `--mount HOST:GUEST` shows a host directory read-only inside the tree;
/// paths resolve inside the mount (`..` leaves it only to its mount point's
/// parent, and a link to `/` means the guest's root), and writes are EROFS.
#[test]
fn read_only_binds() {
    let root = make_root(
        "vfs-bind-root",
        &[("busybox", PathBuf::from("/bin/busybox"))],
    );
    let host = common::scratch_dir("vfs-bind-host");
    let _ = std::fs::remove_dir_all(&host);
    std::fs::create_dir_all(host.join("sub")).unwrap();
    std::fs::write(host.join("sub/file"), "from the host\n").unwrap();
    std::os::unix::fs::symlink("/etc/motd", host.join("abs")).unwrap();
    std::os::unix::fs::symlink("../../../../../../etc/motd", host.join("sub/up")).unwrap();
    let bind = format!("{}:/mnt/host", host.display());
    let before = snapshot(&host);
    let out = common::run_sentry(
        &[
            "run",
            "--root",
            root.to_str().unwrap(),
            "--mount",
            &bind,
            "--",
            "/bin/busybox",
            "sh",
            "-c",
            "cat /mnt/host/sub/file /mnt/host/abs /mnt/host/sub/up; \
             ls /mnt/host/..; touch /mnt/host/new 2>&1; (echo x > /mnt/host/sub/file) 2>&1; \
             busybox mkdir /mnt/host/d 2>&1; busybox rm /mnt/host/sub/file 2>&1; echo end",
        ],
        b"",
    );
    let text = out.stdout_str();
    assert!(
        text.starts_with("from the host\nwelcome\nwelcome\nhost\n"),
        "{text}\n{}",
        out.stderr_str()
    );
    assert_eq!(text.matches("Read-only file system").count(), 4, "{text}");
    assert!(text.ends_with("end\n"));
    assert!(
        before == snapshot(&host),
        "the bind's host directory changed"
    );
}

/// `--mount HOST:GUEST:rw`: the guest's creations, writes, renames, links
/// and removals inside the bind reach the host directory (through the
/// confined sentry: Landlock grants writes beneath that tree only), while
/// attribute changes are refused (EPERM: Landlock cannot confine chmod,
/// chown or utimes, so the sentry's filter never allows them) and the
/// `--root` tree stays unchanged.
#[test]
fn writable_binds_change_the_host_directory_only() {
    let root = make_root("vfs-rw-root", &[("busybox", PathBuf::from("/bin/busybox"))]);
    let host = common::scratch_dir("vfs-rw-host");
    let _ = std::fs::remove_dir_all(&host);
    std::fs::create_dir_all(host.join("sub")).unwrap();
    std::fs::write(host.join("f"), "old\n").unwrap();
    std::fs::write(host.join("gone"), "bye\n").unwrap();
    let bind = format!("{}:/mnt/rw:rw", host.display());
    let before = snapshot(&root);
    let out = common::run_sentry(
        &[
            "run",
            "--root",
            root.to_str().unwrap(),
            "--mount",
            &bind,
            "--",
            "/bin/busybox",
            "sh",
            "-c",
            "cd /mnt/rw && echo new > f && echo made > new && busybox mkdir d && \
             busybox mv new d/new2 && busybox ln -s f sl && busybox ln f hard && \
             busybox rm gone && busybox rmdir sub && echo appended >> f && \
             busybox cat f d/new2 sl && (busybox chmod 600 f 2>&1; true) && \
             echo outside > /etc/motd && echo end",
        ],
        b"",
    );
    assert_eq!(
        out.stdout_str(),
        "new\nappended\nmade\nnew\nappended\nchmod: f: Operation not permitted\nend\n",
        "{}",
        out.stderr_str()
    );
    assert_eq!(std::fs::read(host.join("f")).unwrap(), b"new\nappended\n");
    assert_eq!(std::fs::read(host.join("d/new2")).unwrap(), b"made\n");
    assert_eq!(std::fs::read_link(host.join("sl")).unwrap(), Path::new("f"));
    assert_eq!(std::fs::metadata(host.join("hard")).unwrap().nlink(), 2);
    assert!(!host.join("gone").exists() && !host.join("sub").exists());
    assert!(
        before == snapshot(&root),
        "the --root tree changed on the host"
    );
}

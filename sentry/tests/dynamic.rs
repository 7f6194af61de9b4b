//! Dynamically linked programs (issue 14): Debian's own binaries, run
//! unmodified through their interpreter (`PT_INTERP`) from the guest's
//! root, natively and in the sandbox (`--root /`), with stdout and exit
//! status compared.
//!
//! Every run gets the same environment: `PATH`, `TZ=UTC`, `LC_ALL=C` and
//! `W`, a working directory for the files a test makes: a fresh scratch
//! directory natively, `/tmp/w` in the sandbox (whose /tmp is its own
//! tmpfs, so nothing is written to the host). The scripts print no
//! paths, pids, addresses or times of their own.
//!
//! The C guests of `testdata/dynamic/` cover dlopen with TLS in the opened
//! library (glibc and musl), LD_PRELOAD, LD_LIBRARY_PATH and the errors
//! of broken interpreters.

mod common;

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

use common::{
    Outcome, assert_outcomes_match, guest_path_env, run_command, run_sentry, scratch_dir,
};

/// The environment of both runs besides `PATH` and `W`.
const ENV: &[(&str, &str)] = &[("TZ", "UTC"), ("LC_ALL", "C")];

/// Runs `program args` natively and in the sandbox with [`ENV`], `extra`
/// and `W`, and asserts that stdout and status agree and that the native
/// run exited with `status`. Returns the native stdout.
fn same_status(
    label: &str,
    program: &str,
    args: &[&str],
    extra: &[(&str, &str)],
    status: i32,
) -> String {
    let scratch = scratch_dir(&format!("dynamic-{label}"));
    let _ = std::fs::remove_dir_all(&scratch);
    let mut cmd = Command::new(program);
    cmd.args(args)
        .env_clear()
        .env("PATH", guest_path_env())
        .env("W", &scratch)
        .current_dir("/");
    for (k, v) in ENV.iter().chain(extra) {
        cmd.env(k, v);
    }
    let native = run_command(cmd, b"", &format!("native {label}"));
    assert_eq!(
        native.status,
        status,
        "{label}: the NATIVE run exited {}:\n{}\n{}",
        native.status,
        native.stdout_str(),
        native.stderr_str()
    );
    let _ = std::fs::remove_dir_all(&scratch);
    let sandbox = sandbox(program, args, extra);
    assert_outcomes_match(label, &native, &sandbox);
    native.stdout_str()
}

/// [`same_status`] for a run that must succeed.
fn same(label: &str, program: &str, args: &[&str], extra: &[(&str, &str)]) -> String {
    same_status(label, program, args, extra, 0)
}

/// `sentry run --root /` of `program args` with [`ENV`], `extra` and
/// `W=/tmp/w`, plus `flags` before the program.
fn sandbox_with(flags: &[&str], program: &str, args: &[&str], extra: &[(&str, &str)]) -> Outcome {
    let mut argv: Vec<OsString> = vec!["run".into(), "--root".into(), "/".into()];
    argv.extend(flags.iter().map(OsString::from));
    let path = format!("PATH={}", guest_path_env());
    let env = std::iter::once(path)
        .chain(std::iter::once("W=/tmp/w".to_owned()))
        .chain(ENV.iter().chain(extra).map(|(k, v)| format!("{k}={v}")));
    for e in env {
        argv.push("--env".into());
        argv.push(e.into());
    }
    argv.push("--".into());
    argv.push(program.into());
    argv.extend(args.iter().map(OsString::from));
    run_sentry(&argv, b"")
}

/// At log level info, so that a guest killed by a fault shows where it
/// happened (the sentry's "segfault at" line) in a failing test's stderr.
fn sandbox(program: &str, args: &[&str], extra: &[(&str, &str)]) -> Outcome {
    sandbox_with(&["--log-level", "info"], program, args, extra)
}

/// A bash script, natively and in the sandbox (it starts in `$W`).
fn bash(label: &str, script: &str) -> String {
    let script = format!("set -e\nmkdir -p \"$W\"\ncd \"$W\"\n{script}");
    same(label, "/bin/bash", &["-c", &script], &[])
}

fn dynamic(name: &str) -> String {
    testdata::dynamic(name).display().to_string()
}

#[test]
fn coreutils_text_tools() {
    let out = bash(
        "coreutils text tools",
        r#"
printf 'pear 3\napple 1\nfig 2\napple 1\nkiwi 5\n' > in.txt
cat in.txt | sort | uniq -c
sort -k2n in.txt | head -n 2
tail -n 2 in.txt
wc -l -w -c < in.txt
cut -d' ' -f1 in.txt | tr a-z A-Z | sort -u
sed -n 's/apple/APPLE/p' in.txt
grep -n i in.txt
grep -c apple in.txt
grep -v apple in.txt | wc -l
awk '{ s += $2 } END { print s, NR }' in.txt
seq 1 20 | xargs -n 5 echo
seq 100 | paste -sd+
printf 'b\na\nc\n' | sort -r | head -n 1
echo done
"#,
    );
    assert!(
        out.contains("      2 apple 1\n") && out.ends_with("done\n"),
        "{out}"
    );
}

#[test]
fn ls_find_stat_du_date() {
    let out = bash(
        "ls find stat du date",
        r#"
ls -la /usr/share/doc/coreutils | sort
ls -l --time-style=+%F /etc/passwd | cut -d' ' -f1,3-
find /usr/share/doc/bash -type f | sort
find /usr/share/doc/bash -name '*.gz' -printf '%f %s\n' | sort
stat -c '%n %s %a %F %U %Y' /etc/passwd /usr/bin/env
du -s /usr/share/doc/bash
date -d '2021-03-04 05:06:07 UTC' '+%s %A %j'
date -u -d @1234567890
date -d 'tomorrow' +%s > /dev/null
echo done
"#,
    );
    assert!(
        out.contains("copyright") && out.ends_with("done\n"),
        "{out}"
    );
}

#[test]
fn files_on_the_writable_layer() {
    let out = bash(
        "cp mv rm mkdir on /tmp",
        r#"
mkdir -p a/b/c
echo one > a/b/c/f
cp -r a a2
mv a2 a3
ln -s a3/b/c/f link
cat link
cp -p /etc/hostname copied
cmp copied /etc/hostname && echo copy ok
touch -d '2020-01-01 00:00:00' t
ls -l --time-style=+%F t | cut -d' ' -f1,5-
mkdir x
mv t x/
ls -R a a3 x
rm -r a
ls
rm -rf x a3 link copied
ls -A | wc -l
mkdir -p deep/er && rmdir deep/er deep && echo rmdir ok
echo done
"#,
    );
    assert!(out.contains("copy ok") && out.ends_with("done\n"), "{out}");
}

#[test]
fn tar_and_gzip_round_trip() {
    let out = bash(
        "tar gzip round trip",
        r#"
mkdir -p src/sub
seq 1000 > src/n
printf 'hello\n' > src/h
echo deep > src/sub/d
tar czf t.tgz src
gzip -t t.tgz && echo gzip ok
tar tzf t.tgz | sort
mkdir out
tar xzf t.tgz -C out
diff -r src out/src && echo same tree
gzip -c src/n | gzip -dc | md5sum
gzip -9 src/n
ls src | sort
zcat src/n.gz | tail -n 1
echo done
"#,
    );
    assert!(
        out.contains("same tree") && out.ends_with("done\n"),
        "{out}"
    );
}

/// The same script run by dash and by bash: pipelines of the tools,
/// functions, command substitution, here-documents, subshells.
#[test]
fn dash_and_bash_scripts_piping_tools() {
    let script = r#"
set -e
mkdir -p "$W" && cd "$W"
count() { seq "$1" | wc -l; }
n=$(count 42)
echo "count $n"
cat <<EOF | sort | tr 'a-z' 'A-Z'
zeta
alpha
mid
EOF
(cd / && ls -d usr etc)
for w in one two three; do echo "$w"; done | grep -v two | sed 's/^/- /'
seq 10 | awk '$1 % 2 == 0' | paste -sd, -
printf '%s\n' 3 1 2 | sort -n | head -n 1
echo "status $(false || echo $?)"
echo done
"#;
    for shell in ["/bin/dash", "/bin/bash"] {
        let out = same(&format!("{shell} script"), shell, &["-c", script], &[]);
        assert!(out.contains("count 42") && out.ends_with("done\n"), "{out}");
    }
}

#[test]
fn python3_json_re_hashlib() {
    let out = same(
        "python3 json re hashlib",
        "/usr/bin/python3",
        &[
            "-c",
            r#"
import json, re, hashlib, sys
d = json.loads('{"a": [1, 2, {"b": null}], "c": "x"}')
print(json.dumps(d, sort_keys=True))
print(re.findall(r"(\w)(\d+)", "a1 b22 c333"))
print(hashlib.sha256(b"sentry").hexdigest())
print(hashlib.md5(b"x" * 100000).hexdigest())
print(sys.version_info[0], sorted({3, 1, 2}))
"#,
        ],
        &[],
    );
    assert!(out.contains("\"b\": null"), "{out}");
}

#[test]
fn python3_threads_and_subprocess() {
    same(
        "python3 threading subprocess",
        "/usr/bin/python3",
        &[
            "-c",
            r#"
import threading, subprocess
results = []
lock = threading.Lock()
def work(i):
    s = sum(range(i * 1000))
    with lock:
        results.append((i, s))
ts = [threading.Thread(target=work, args=(i,)) for i in range(8)]
for t in ts: t.start()
for t in ts: t.join()
print(sorted(results))
print(subprocess.run(["echo", "child"], capture_output=True, text=True).stdout, end="")
print(subprocess.check_output("seq 3 | tac", shell=True).decode(), end="")
p = subprocess.run(["sh", "-c", "exit 7"])
print("status", p.returncode)
"#,
        ],
        &[],
    );
}

#[test]
fn python3_multiprocessing() {
    same(
        "python3 multiprocessing",
        "/usr/bin/python3",
        &[
            "-c",
            r#"
import multiprocessing as mp
def square(x):
    return x * x
if __name__ == "__main__":
    with mp.Pool(2) as pool:
        print(pool.map(square, range(10)))
    q = mp.Queue()
    p = mp.Process(target=q.put, args=("from child",))
    p.start(); print(q.get()); p.join()
    print("exitcode", p.exitcode)
"#,
        ],
        &[],
    );
}

#[test]
fn python3_tempfile_and_sqlite() {
    same(
        "python3 tempfile sqlite3",
        "/usr/bin/python3",
        &[
            "-c",
            r#"
import os, sqlite3, tempfile
with tempfile.TemporaryDirectory() as d:
    db = os.path.join(d, "t.db")
    c = sqlite3.connect(db)
    c.execute("create table t (k integer primary key, v text)")
    c.executemany("insert into t (v) values (?)", [(str(i),) for i in range(100)])
    c.commit()
    c.close()
    c = sqlite3.connect(db)
    print(c.execute("select count(*), sum(k), max(v) from t").fetchone())
    c.close()
    with tempfile.NamedTemporaryFile("w+", dir=d) as f:
        f.write("temp data"); f.flush(); f.seek(0)
        print(f.read())
    print(sorted(os.listdir(d)))
print(os.path.exists(d))
"#,
        ],
        &[],
    );
}

#[test]
fn perl_one_liners() {
    let out = same(
        "perl -e",
        "/usr/bin/perl",
        &[
            "-e",
            r#"
use strict; use warnings;
my %h = (b => 2, a => 1, c => 3);
print join(",", map { "$_=$h{$_}" } sort keys %h), "\n";
my $s = "The quick brown fox"; (my $t = $s) =~ s/(\w+)/\u\L$1/g; print "$t\n";
printf "%.3f\n", atan2(1, 1) * 4;
open(my $fh, "-|", "echo", "piped") or die; print scalar <$fh>; close $fh;
print "done\n";
"#,
        ],
        &[],
    );
    assert!(out.ends_with("done\n"), "{out}");
}

#[test]
fn git_init_add_commit_log() {
    let out = bash(
        "git",
        r#"
export HOME="$W" GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=Author GIT_AUTHOR_EMAIL=a@example.org
export GIT_COMMITTER_NAME=Committer GIT_COMMITTER_EMAIL=c@example.org
export GIT_AUTHOR_DATE=2020-01-01T00:00:00Z GIT_COMMITTER_DATE=2020-01-01T00:00:00Z
git init -q -b main repo
cd repo
echo hello > a.txt
mkdir sub
seq 100 > sub/n.txt
git add .
git commit -q -m first
echo more >> a.txt
git commit -q -a -m second
git log --format='%H %an %ad %s' --date=iso-strict
git show --stat --format=%s HEAD
git cat-file -p 'HEAD^{tree}'
git status --short
git diff HEAD~1 --stat
echo done
"#,
    );
    assert!(out.contains(" Author 2020-01-01T00:00:00Z second"), "{out}");
}

/// The interpreter run as the program: it loads the program named by its
/// argument, and `--list` shows the libraries (without their addresses).
#[test]
fn ld_so_run_directly() {
    let ld = "/lib64/ld-linux-x86-64.so.2";
    let out = same("ld.so /bin/echo", ld, &["/bin/echo", "direct"], &[]);
    assert_eq!(out, "direct\n");
    let out = bash(
        "ld.so --list",
        "/lib64/ld-linux-x86-64.so.2 --list /bin/ls | sed 's/ (0x[0-9a-f]*)//' | sort\n\
         ldd /bin/true | sed 's/ (0x[0-9a-f]*)//' | sort\n",
    );
    assert!(out.contains("libc.so.6 => "), "{out}");
}

/// The auxiliary vector a dynamic program gets has Linux's entries in
/// Linux's order (the rseq entries of Linux 6.3+ aside: the sandbox has
/// no rseq).
#[test]
fn auxiliary_vector_entries() {
    let out = bash(
        "LD_SHOW_AUXV",
        "LD_SHOW_AUXV=1 /bin/true | cut -d: -f1 | grep -v 'AT_???'\n",
    );
    for key in [
        "AT_SYSINFO_EHDR",
        "AT_PHDR",
        "AT_BASE",
        "AT_ENTRY",
        "AT_RANDOM",
        "AT_EXECFN",
        "AT_PLATFORM",
        "AT_HWCAP2",
        "AT_MINSIGSTKSZ",
        "AT_SECURE",
    ] {
        assert!(out.contains(key), "{key} missing: {out}");
    }
}

/// With ASLR off (`setarch -R`: personality ADDR_NO_RANDOMIZE, honoured
/// at execve) a PIE loads at 0x555555554000, natively and in the sandbox.
#[test]
fn personality_addr_no_randomize_fixes_the_pie_base() {
    let out = bash(
        "setarch -R",
        "setarch x86_64 -R cat /proc/self/maps | head -n 1 | cut -d- -f1\n",
    );
    assert_eq!(out, "555555554000\n");
}

/// ASLR is on by default (two runs load the PIE, the stack and the mmap
/// area with the interpreter at different places; the heap starts right
/// after the PIE) and `--no-aslr` turns it off (the same, Linux's
/// unrandomised, addresses every time). Sandbox-only: the host's own
/// randomisation is not ours to compare.
#[test]
fn aslr_by_default_and_no_aslr_switch() {
    let maps = |flags: &[&str]| {
        let o = sandbox_with(flags, "/bin/cat", &["/proc/self/maps"], &[]);
        assert_eq!(o.status, 0, "{}", o.stderr_str());
        let text = o.stdout_str();
        let first = |pat: &str| {
            text.lines()
                .find(|l| l.contains(pat))
                .and_then(|l| l.split('-').next())
                .map(str::to_owned)
        };
        (
            text.lines().next().map(str::to_owned),
            first("[vdso]"),
            first("[heap]"),
            first("[stack]"),
        )
    };
    let a = maps(&[]);
    let b = maps(&[]);
    assert_ne!(a.0, b.0, "the program's base should be random");
    assert_ne!(a.1, b.1, "the vDSO (mmap area) should be random");
    assert_ne!(a.3, b.3, "the stack should be random");
    let c = maps(&["--no-aslr"]);
    let d = maps(&["--no-aslr"]);
    assert_eq!(c, d, "--no-aslr must give the same layout twice");
    assert!(
        c.0.as_deref()
            .is_some_and(|l| l.starts_with("555555554000-")),
        "{c:?}"
    );
}

fn dlopen_tls(label: &str, program: &str, library: &str) {
    let out = same(label, &dynamic(program), &[&dynamic(library)], &[]);
    assert!(
        out.contains("thread 3: 7040\n") && out.contains("dlclose 0"),
        "{out}"
    );
}

#[test]
fn dlopen_and_tls_glibc() {
    dlopen_tls("dlopen TLS glibc", "dyn_tls", "libdyntls.so");
}

#[test]
fn dlopen_and_tls_musl() {
    dlopen_tls("dlopen TLS musl", "musl/dyn_tls", "musl/libdyntls.so");
}

#[test]
fn ld_preload() {
    let preload = dynamic("libpreload.so");
    let out = same(
        "LD_PRELOAD",
        &dynamic("dyn_tls"),
        &[&dynamic("libdyntls.so")],
        &[("LD_PRELOAD", &preload)],
    );
    assert!(out.contains("preload loaded\n"), "{out}");
}

#[test]
fn ld_library_path() {
    let dir = testdata::dynamic("libdyntls.so")
        .parent()
        .expect("a directory")
        .display()
        .to_string();
    let out = same(
        "LD_LIBRARY_PATH",
        &dynamic("dyn_linked"),
        &[],
        &[("LD_LIBRARY_PATH", &dir)],
    );
    assert_eq!(out, "linked tls 7\nlinked after set 9\n");
    // Without it the interpreter cannot find the library: status 127.
    same_status("no LD_LIBRARY_PATH", &dynamic("dyn_linked"), &[], &[], 127);
}

/// Broken interpreters give execve Linux's errors: ENOENT for a missing
/// one, EIO for one shorter than an ELF header, ELIBBAD for an ELF
/// without program headers or a script, EACCES without an execute bit.
#[test]
fn broken_interpreters() {
    let bad: Vec<String> = ["missing", "empty", "rel", "script", "noexec"]
        .iter()
        .map(|n| dynamic(&format!("bad/{n}")))
        .collect();
    let mut args: Vec<&str> = bad.iter().map(String::as_str).collect();
    let hello = dynamic("hello_dyn");
    args.push(&hello);
    let out = same("broken interpreters", &dynamic("dyn_exec"), &args, &[]);
    assert!(
        out.contains("missing: execve failed: No such file or directory")
            && out.contains("rel: execve failed: Accessing a corrupted shared library")
            && out.contains("hello_dyn: exit 0"),
        "{out}"
    );
}

/// PROGRAM itself with a missing interpreter: the sentry reports it like
/// a missing program (status 127) and names the interpreter.
#[test]
fn program_with_a_missing_interpreter() {
    let o = sandbox(&dynamic("bad/missing"), &[], &[]);
    assert_eq!(o.status, 127, "{}", o.stderr_str());
    assert!(
        o.stderr_str()
            .contains("\"/nonexistent/ld-linux-x86-64.so.2\": No such file or directory"),
        "{}",
        o.stderr_str()
    );
    assert!(Path::new(&dynamic("hello_dyn")).is_file());
}

/// The dynamic programs of the copied root and their shared libraries.
const ROOT_PROGRAMS: &[&str] = &[
    "/bin/sh",
    "/bin/ls",
    "/bin/cat",
    "/usr/bin/sort",
    "/usr/bin/cp",
    "/usr/bin/mv",
    "/usr/bin/mkdir",
    "/usr/bin/rm",
];

/// Copies host path `p` into `root` at the same path; a symbolic link is
/// copied as a link (same target text) and its target copied too.
fn copy_into_root(root: &Path, p: &Path) {
    let at = root.join(p.strip_prefix("/").unwrap());
    if std::fs::symlink_metadata(&at).is_ok() {
        return;
    }
    std::fs::create_dir_all(at.parent().unwrap()).unwrap();
    let m = std::fs::symlink_metadata(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
    if m.file_type().is_symlink() {
        let target = std::fs::read_link(p).unwrap();
        std::os::unix::fs::symlink(&target, &at).unwrap();
        copy_into_root(root, &p.parent().unwrap().join(target));
    } else {
        std::fs::copy(p, &at).unwrap();
    }
}

/// A small root of Debian's own dynamic programs ([`ROOT_PROGRAMS`]),
/// every library `ldd` lists for them, the interpreter (a link and its
/// target, as on the host), /etc/passwd and /etc/group, and /data with
/// two files and a directory whose times are fixed. (`ls -a` of the
/// root differs: the sandbox's `/` is its own directory.)
fn dynamic_root(name: &str) -> std::path::PathBuf {
    let root = common::scratch_dir(name);
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    for prog in ROOT_PROGRAMS {
        copy_into_root(&root, Path::new(prog));
        let ldd = Command::new("ldd").arg(prog).output().expect("ldd");
        assert!(ldd.status.success(), "ldd {prog}");
        for line in String::from_utf8_lossy(&ldd.stdout).lines() {
            // "libc.so.6 => /lib/.../libc.so.6 (0x...)" or "/lib64/ld... (0x...)".
            let lib = line.split("=>").last().unwrap().split_whitespace().next();
            if let Some(lib) = lib.filter(|l| l.starts_with('/')) {
                copy_into_root(&root, Path::new(lib));
            }
        }
    }
    copy_into_root(&root, Path::new("/lib64/ld-linux-x86-64.so.2"));
    // dev, proc and sys: the sandbox mounts its own there.
    for d in ["etc", "tmp", "dev", "proc", "sys", "data/sub"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/:/bin/sh\n").unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
    std::fs::write(root.join("data/a.txt"), "pear\napple\nfig\n").unwrap();
    std::fs::write(root.join("data/b.txt"), "kiwi\nbanana\n").unwrap();
    let st = Command::new("touch")
        .args(["-d", "@1600000000"])
        .args(["data/a.txt", "data/b.txt", "data/sub", "data"].map(|p| root.join(p)))
        .status()
        .unwrap();
    assert!(st.success());
    root
}

/// Every file's type, mode, owner, size, mtime, link count and content
/// (or link target) under `root`.
fn tree_snapshot(root: &Path) -> Vec<String> {
    use std::os::unix::fs::MetadataExt;
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let content = if m.file_type().is_symlink() {
                format!("-> {}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_file() {
                // The bytes themselves, kept short: a hash of them.
                let mut h = std::collections::hash_map::DefaultHasher::new();
                std::hash::Hash::hash(&std::fs::read(&p).unwrap(), &mut h);
                format!("content={:016x}", std::hash::Hasher::finish(&h))
            } else {
                String::new()
            };
            out.push(format!(
                "{} mode={:o} uid={} gid={} size={} mtime={}.{} nlink={} {content}",
                p.strip_prefix(root).unwrap().display(),
                m.mode(),
                m.uid(),
                m.gid(),
                m.size(),
                m.mtime(),
                m.mtime_nsec(),
                m.nlink()
            ));
            if m.is_dir() {
                walk(root, &p, out);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out.sort();
    out
}

/// `sh -c script` in `root`: natively with `chroot NATIVE_ROOT` (a
/// writable copy), and in the sandbox with `--root` over `root`.
fn in_copied_root(label: &str, native_root: &Path, root: &Path, script: &str) -> String {
    let env = [("PATH", "/usr/bin:/bin"), ("TZ", "UTC"), ("LC_ALL", "C")];
    // By its path: the child's PATH (set below) is the guest's.
    let mut cmd = Command::new("/usr/sbin/chroot");
    cmd.arg(native_root)
        .args(["/bin/sh", "-c", script])
        .env_clear()
        .envs(env);
    let native = run_command(cmd, b"", &format!("chroot {label}"));
    assert_eq!(
        native.status,
        0,
        "{label}: the NATIVE run failed:\n{}",
        native.stderr_str()
    );
    let mut argv: Vec<OsString> = vec!["run".into(), "--root".into(), root.into()];
    for (k, v) in env {
        argv.push("--env".into());
        argv.push(format!("{k}={v}").into());
    }
    argv.extend(["--", "/bin/sh", "-c", script].map(OsString::from));
    let sandbox = run_sentry(&argv, b"");
    assert_outcomes_match(label, &native, &sandbox);
    native.stdout_str()
}

/// Issue 14 with a copied root: dynamic programs (dash, ls, cat, sort, cp,
/// mv, mkdir, rm) and their libraries copied under their own paths, run in
/// a chroot natively and with `--root` in the sandbox: a listing, cat, a
/// pipeline, and changes on the writable upper layer listed afterwards.
/// The sandbox's copy of the root is byte-for-byte unchanged at the end.
/// (Only files are listed long after the writes: a directory made in the
/// upper layer has a tmpfs size, as in Linux's overlayfs over tmpfs, where
/// the chroot's ext4 shows 4096.)
#[test]
fn copied_root_with_a_writable_upper_layer() {
    let root = dynamic_root("dynamic-copied-root");
    let native_root = dynamic_root("dynamic-copied-root-native");
    let before = tree_snapshot(&root);
    let native_before = tree_snapshot(&native_root);
    let run = |label: &str, script: &str| in_copied_root(label, &native_root, &root, script);

    let out = run(
        "copied root ls",
        "ls -lA /data; ls -ld /data /data/sub; ls -l /data/sub; ls /",
    );
    assert!(
        out.contains(" a.txt\n") && out.contains("Sep 13  2020"),
        "{out}"
    );
    let out = run("copied root cat", "cat /data/a.txt /data/b.txt");
    assert_eq!(out, "pear\napple\nfig\nkiwi\nbanana\n");
    let out = run(
        "copied root pipeline",
        "cat /data/a.txt /data/b.txt | sort | sort -r | cat -n; echo status $?",
    );
    assert!(
        out.contains("1\tpear\n") && out.ends_with("status 0\n"),
        "{out}"
    );
    let out = run(
        "copied root writes",
        "set -e; cd /data; mkdir new new/deep; cp a.txt new/c.txt; mv b.txt new/deep/; \
         rm a.txt; cp -r new copy; mv copy/c.txt copy/d.txt; rm -r sub; \
         echo x >> new/c.txt; ls -R /data; cat new/c.txt copy/deep/b.txt; \
         ls -ln --time-style=+ new/c.txt copy/d.txt; rm nothere 2>/dev/null || echo rm failed $?",
    );
    assert!(
        out.contains("copy\nnew\n") && out.ends_with("rm failed 1\n"),
        "{out}"
    );
    // The host's copy of the root is untouched; the chroot's changed.
    assert_eq!(before, tree_snapshot(&root));
    assert_ne!(native_before, tree_snapshot(&native_root));
}

/// A guest killed by a fault is logged as Linux's show_unhandled_signals
/// logs it (at info level): the quoted command name, the signal, the
/// address, and the mapping the instruction pointer is in.
#[test]
fn a_fatal_fault_is_logged_with_its_place() {
    let o = sandbox(
        "/usr/bin/python3",
        &["-c", "import ctypes; ctypes.string_at(8)"],
        &[],
    );
    assert_eq!(o.status, 128 + 11, "{}", o.stderr_str());
    let err = o.stderr_str();
    let line = err
        .lines()
        .find(|l| l.contains("SIGSEGV (si_code 1) at 0x8 "))
        .unwrap_or_else(|| panic!("no fault line in:\n{err}"));
    assert!(line.contains("\"python3"), "{line}");
    assert!(
        line.contains(" trap 14 error 0x4 in \"libc.so.6["),
        "{line}"
    );
}

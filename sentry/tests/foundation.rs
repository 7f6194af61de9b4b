//! Foundation (issue A) tests: each guest runs natively and inside the
//! sentry, and stdout and exit status must be identical; plus CLI behaviour
//! (exact output of `sentry run`, environment, error reporting).

#[macro_use]
mod common;

use common::{
    Libc, Outcome, assert_same_expect, assert_same_expect_path, guest_path_env, run_sentry,
    scratch_dir,
};
use std::path::Path;

differential! {
    badptr: [], 0;
    hello: [], 0;
    malloc64: [], 0;
    misc: [], 0;
    segv: [], 139;
}

fn both(test: impl Fn(Libc)) {
    // Separate #[test]s per libc would be nicer, but keep the list short.
    for libc in Libc::ALL {
        test(libc);
    }
}

mod args {
    use super::common::{Libc, assert_same_expect};

    const ARGS: &[&str] = &[
        "one",
        "",
        "two words",
        "--strace",
        "-x",
        "--",
        "--env=X=1",
        "ünïcödé ✓",
    ];

    #[test]
    fn glibc_no_args() {
        assert_same_expect("args", Libc::Glibc, &[], b"", 0);
    }

    #[test]
    fn musl_no_args() {
        assert_same_expect("args", Libc::Musl, &[], b"", 0);
    }

    #[test]
    fn glibc() {
        let out = assert_same_expect("args", Libc::Glibc, ARGS, b"", 0);
        assert!(out.stdout_str().contains("argv[6]=--\n"));
    }

    #[test]
    fn musl() {
        assert_same_expect("args", Libc::Musl, ARGS, b"", 0);
    }
}

#[test]
fn exit_codes() {
    both(|libc| {
        for (arg, code) in [
            ("0", 0),
            ("1", 1),
            ("42", 42),
            ("255", 255),
            ("256", 0),
            ("-1", 255),
        ] {
            assert_same_expect("exitcode", libc, &[arg], b"", code);
        }
    });
}

/// A few hundred KiB of every byte value, not a multiple of 4 KiB.
fn cat_input() -> Vec<u8> {
    let mut x: u32 = 0x1234_5678;
    (0..300 * 1024 + 123)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (x >> 24) as u8
        })
        .collect()
}

#[test]
fn cat_copies_stdin() {
    let input = cat_input();
    both(|libc| {
        let out = assert_same_expect("cat", libc, &[], &input, 0);
        assert!(
            out.stdout == input,
            "cat ({libc}) did not copy stdin verbatim"
        );
        let out = assert_same_expect("cat", libc, &[], b"", 0);
        assert!(out.stdout.is_empty());
    });
}

#[test]
fn asm_hello() {
    let path = testdata::asm_guest("asm_hello");
    let out = assert_same_expect_path("asm_hello", &path, &[], b"", 7);
    assert_eq!(out.stdout, b"hello from asm\n");
}

#[test]
fn hello_static_pie() {
    let path = testdata::guest("hello-pie", Libc::Glibc);
    let out = assert_same_expect_path("hello-pie (glibc static-pie)", &path, &[], b"", 0);
    assert_eq!(out.stdout, b"hello\n");
}

// ---------------------------------------------------------------- CLI ---

fn sentry_run(args: &[&str]) -> Outcome {
    let mut argv = vec!["run"];
    argv.extend_from_slice(args);
    run_sentry(&argv, b"")
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("guest paths are UTF-8")
}

#[test]
fn sentry_run_hello_exact_output() {
    for libc in Libc::ALL {
        let path = testdata::guest("hello", libc);
        let out = sentry_run(&[path_str(&path)]);
        assert_eq!(out.killed_by, None, "sentry crashed: {}", out.stderr_str());
        assert_eq!(
            out.stdout_str(),
            "hello\n",
            "stdout of `sentry run {}` (stderr: {})",
            path.display(),
            out.stderr_str()
        );
        assert_eq!(out.status, 0, "stderr: {}", out.stderr_str());
    }
}

/// The guest's environment is a fixed PATH, never the host's (the old
/// sentry passed its own PATH on).
#[test]
fn default_environment_is_just_path() {
    for libc in Libc::ALL {
        let path = testdata::guest("args", libc);
        let p = path_str(&path);
        let out = sentry_run(&[p]);
        let want = format!(
            "argc=1\nargv[0]={p}\nenvp[0]=PATH={}\nenvc=1\n",
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
        );
        assert_eq!(out.stdout_str(), want, "stderr: {}", out.stderr_str());
        assert_eq!(out.status, 0);
    }
}

#[test]
fn env_flag_adds_variables() {
    let path = testdata::guest("args", Libc::Musl);
    let out = sentry_run(&[
        "--env",
        "FOO=bar",
        "--env",
        "EMPTY=",
        "--",
        path_str(&path),
        "x",
    ]);
    let text = out.stdout_str();
    assert_eq!(out.status, 0, "stderr: {}", out.stderr_str());
    let env: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_once("]=").filter(|_| l.starts_with("envp[")))
        .map(|(_, v)| v)
        .collect();
    assert!(env.contains(&"FOO=bar"), "guest env: {env:?}");
    assert!(env.contains(&"EMPTY="), "guest env: {env:?}");
    assert!(
        env.iter().any(|v| v.starts_with("PATH=")),
        "guest env: {env:?}"
    );
    assert_eq!(env.len(), 3, "guest env: {env:?}");
    assert!(text.contains("argv[1]=x\n"), "{text}");
}

#[test]
fn strace_goes_to_stderr() {
    let path = testdata::guest("hello", Libc::Glibc);
    let out = sentry_run(&["--strace", "--", path_str(&path)]);
    assert_eq!(out.stdout_str(), "hello\n", "stderr: {}", out.stderr_str());
    assert_eq!(out.status, 0);
    // glibc's puts: one write of the whole line, its bytes shown quoted.
    assert!(
        out.stderr_str()
            .lines()
            .any(|l| l == r#"[pid 1] write(1, "hello\n", 6) = 6"#),
        "--strace should log the write syscall on stderr, got:\n{}",
        out.stderr_str()
    );
    // Every line is the guest's: "[pid N] ", and the last one its end.
    let err = out.stderr_str();
    assert!(
        err.lines().all(|l| l
            .strip_prefix("[pid ")
            .and_then(|r| r.split_once("] "))
            .is_some_and(|(pid, _)| pid.parse::<u32>().is_ok())),
        "{err}"
    );
    assert_eq!(err.lines().last(), Some("[pid 1] +++ exited with 0 +++"));
    // A failing call: -1, the errno's name and its text.
    let path = testdata::guest("t_script", Libc::Musl);
    let out = sentry_run(&["--strace", "--", path_str(&path), "exec", "/nonexistent"]);
    assert_eq!(out.stdout_str(), "execve: ENOENT\n", "{}", out.stderr_str());
    assert_eq!(out.status, 1);
    let err = out.stderr_str();
    assert!(
        err.lines()
            .any(|l| l.starts_with(r#"[pid 1] execve("/nonexistent", "#)
                && l.ends_with(") = -1 ENOENT (No such file or directory)")),
        "{err}"
    );
    assert_eq!(err.lines().last(), Some("[pid 1] +++ exited with 1 +++"));
}

/// `sentry run --strace prog 2>&1 | head`: the sentry's stderr is a pipe
/// whose reader has gone. Every trace line (syscalls, signals, the exit
/// line) then gets EPIPE; the sentry must drop them, not panic, and report
/// the guest's own status.
#[test]
fn strace_survives_a_closed_stderr() {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    for (guest, libc, want) in [
        ("hello", Libc::Glibc, 0),
        ("hello", Libc::Musl, 0),
        ("segv", Libc::Musl, 139),
    ] {
        let path = testdata::guest(guest, libc);
        let (reader, writer) = std::io::pipe().expect("pipe");
        drop(reader);
        let mut child = Command::new(common::SENTRY)
            .args(["run", "--strace", "--stats", "--", path_str(&path)])
            .env("PATH", guest_path_env())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(writer)
            .spawn()
            .expect("spawn the sentry");
        let mut stdout = child.stdout.take().expect("stdout");
        let out = std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = std::io::Read::read_to_end(&mut stdout, &mut v);
            v
        });
        let deadline = Instant::now() + common::timeout();
        let status = loop {
            if let Some(s) = child.try_wait().expect("wait") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                panic!("{guest}: the sentry hung with a closed stderr");
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let out = out.join().expect("stdout reader");
        // A panic would exit with 101 (or abort with SIGABRT).
        assert_eq!(status.code(), Some(want), "{guest} ({libc:?}): {status:?}");
        if guest == "hello" {
            assert_eq!(out, b"hello\n", "{guest} ({libc:?})");
        }
    }
}

#[test]
fn strace_shows_decoded_calls_signals_and_the_end() {
    let path = testdata::guest("segv", Libc::Musl);
    let out = sentry_run(&["--strace", "--", path_str(&path)]);
    assert_eq!(out.status, 139);
    let err = out.stderr_str();
    assert!(err.contains("[pid 1] arch_prctl("), "{err}");
    assert!(err.contains("--- SIGSEGV {si_signo=11"), "{err}");
    assert!(err.contains("+++ killed by SIGSEGV +++"), "{err}");
}

/// Every number COVERAGE.md lists as ENOSYS gives ENOSYS in the sandbox
/// (sandbox only: the host implements them). With the coverage unit tests
/// this ties COVERAGE.md to what the running sentry dispatches: umask,
/// listed ENOSYS while dispatched, failed here.
#[test]
fn coverage_enosys_rows_are_enosys() {
    let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../COVERAGE.md"))
        .expect("COVERAGE.md");
    let enosys: Vec<String> = text
        .lines()
        .filter_map(|l| {
            let cells: Vec<&str> = l.split('|').map(str::trim).collect();
            let nr: u32 = cells.get(1)?.parse().ok()?;
            (cells.get(3) == Some(&"ENOSYS")).then(|| nr.to_string())
        })
        .collect();
    assert!(enosys.len() > 100, "{} ENOSYS rows", enosys.len());
    for libc in Libc::ALL {
        let path = testdata::guest("enosys", libc);
        let mut argv = vec!["run", "--", path_str(&path)];
        argv.extend(enosys.iter().map(String::as_str));
        let out = run_sentry(&argv, b"");
        assert_eq!(
            out.stdout_str(),
            format!("{} numbers called\n", enosys.len()),
            "{libc:?}; stderr: {}",
            out.stderr_str()
        );
        assert_eq!(out.status, 0, "{libc:?}");
    }
}

/// The calls that would write a read-only bind (`--mount HOST:/tmp`) give
/// EROFS, as a read-only mount does for a fresh name in an existing
/// directory (symlinkat read its dirfd as the path and gave EFAULT), and
/// the host directory stays empty.
#[test]
fn writes_to_a_read_only_bind_are_erofs() {
    let dir = common::scratch_dir("erofs-bind");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let bind = format!("{}:/tmp", dir.display());
    for libc in Libc::ALL {
        let path = testdata::guest("erofs", libc);
        let out = run_sentry(
            &[
                "run",
                "--root",
                "/",
                "--mount",
                &bind,
                "--",
                path_str(&path),
            ],
            b"",
        );
        let want: String = [
            "mkdir",
            "mkdirat",
            "symlink",
            "symlinkat",
            "link",
            "linkat",
            "rename",
            "renameat",
            "renameat2",
            "mknodat",
        ]
        .iter()
        .map(|c| format!("{c}: EROFS\n"))
        .collect();
        assert_eq!(
            out.stdout_str(),
            want,
            "{libc:?}; stderr: {}",
            out.stderr_str()
        );
        assert_eq!(out.status, 0, "{libc:?}");
    }
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
}

#[test]
fn stats_count_every_call() {
    let path = testdata::guest("hello", Libc::Musl);
    let out = sentry_run(&["--stats", "--", path_str(&path)]);
    assert_eq!(out.stdout_str(), "hello\n");
    let err = out.stderr_str();
    let line = |name: &str| {
        err.lines()
            .find(|l| l.ends_with(&format!("  {name}")))
            .unwrap_or_else(|| panic!("no {name} row in:\n{err}"))
            .split_whitespace()
            .map(str::to_owned)
            .collect::<Vec<_>>()
    };
    // musl's hello: one writev, then exit_group; calls in column 5.
    assert_eq!(line("writev")[4], "1", "{err}");
    assert_eq!(line("exit_group")[4], "1", "{err}");
    assert!(line("total")[0] == "100.00", "{err}");
}

/// The sentry must refuse `args` with a non-zero status and a message on
/// stderr, without crashing or panicking. Returns the stderr text.
fn expect_cli_error(args: &[&str]) -> String {
    let out = sentry_run(args);
    let err = out.stderr_str();
    assert_eq!(out.killed_by, None, "sentry crashed on {args:?}: {err}");
    assert_ne!(out.status, 0, "sentry {args:?} should fail; stderr: {err}");
    assert!(
        out.stdout.is_empty(),
        "unexpected stdout: {}",
        out.stdout_str()
    );
    assert!(!err.trim().is_empty(), "sentry {args:?} failed silently");
    assert!(
        !err.contains("panicked"),
        "sentry {args:?} panicked instead of reporting an error:\n{err}"
    );
    err
}

#[test]
fn missing_program_is_an_error() {
    expect_cli_error(&["--", "/nonexistent/definitely/not/here"]);
}

#[test]
fn non_elf_program_is_an_error() {
    let file = scratch_dir("non_elf_program_is_an_error").join("not-elf");
    std::fs::write(&file, "this is plain text, not an ELF file\n").expect("write temp file");
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    expect_cli_error(&["--", path_str(&file)]);
}

/// A dynamically linked host program run without `--root`: its
/// interpreter is looked up in the guest's (empty) tree and is not there,
/// a one-line error naming it, status 127 as a shell gives for ENOENT.
#[test]
fn dynamic_program_without_its_interpreter_is_an_error() {
    let dynamic = Path::new("/bin/true");
    assert!(dynamic.exists(), "/bin/true is needed for this test");
    let err = expect_cli_error(&["--", "/bin/true"]);
    let trimmed = err.trim_end();
    assert_eq!(
        trimmed.lines().count(),
        1,
        "expected a one-line error for a dynamically linked program, got:\n{err}"
    );
    assert!(
        trimmed.contains("interpreter \"/lib64/ld-linux-x86-64.so.2\": No such file"),
        "the error should name the missing interpreter, got: {err}"
    );
}

/// The memory cap: past it mmap and brk fail with ENOMEM (checked at
/// mapping time, as Linux's overcommit heuristic refuses obvious
/// overcommits), and a fault that cannot be satisfied kills the guest with
/// SIGKILL, as the OOM killer would; the sentry itself is unharmed.
#[test]
fn memory_cap_gives_enomem_then_oom_kill() {
    for libc in [Libc::Glibc, Libc::Musl] {
        let prog = testdata::guest("memcap", libc);
        let r = common::run_sentry(
            &[
                std::ffi::OsString::from("run"),
                "--memory".into(),
                "64M".into(),
                "--".into(),
                prog.clone().into(),
                "enomem".into(),
            ],
            b"",
        );
        assert_eq!(
            r.stdout_str(),
            "mmap 256M: ENOMEM\nbrk +256M: refused\nmmap 16M and touch: ok\n",
            "{libc:?}: {}",
            r.stderr_str()
        );
        assert_eq!(r.status, 0);
        let r = common::run_sentry(
            &[
                std::ffi::OsString::from("run"),
                "--memory".into(),
                "64M".into(),
                "--".into(),
                prog.into(),
                "oom".into(),
            ],
            b"",
        );
        assert_eq!(r.stdout_str(), "mmap 256M MAP_NORESERVE: ok\n");
        assert_eq!(r.status, 128 + 9, "{libc:?}: {}", r.stderr_str());
        assert!(
            r.stderr_str().contains("out of guest memory"),
            "{}",
            r.stderr_str()
        );
    }
}

/// `sentry compare` runs a program natively and in the sandbox and says
/// whether stdout and status agree; exit 0 when they do, 1 when not.
#[test]
fn compare_reports_agreement_and_differences() {
    let hello = testdata::guest("hello", Libc::Glibc);
    let same = common::run_sentry(
        &[
            std::ffi::OsString::from("compare"),
            "--".into(),
            hello.into(),
        ],
        b"",
    );
    assert_eq!(same.status, 0, "{}", same.stderr_str());
    assert_eq!(
        same.stdout_str(),
        "same: exit status 0, 6 bytes of stdout\n"
    );

    // Under a 64 MiB cap the sandbox refuses a 256 MiB mapping that the
    // host grants: a real difference, which compare must report.
    let memcap = testdata::guest("memcap", Libc::Musl);
    let differ = common::run_sentry(
        &[
            std::ffi::OsString::from("compare"),
            "--memory".into(),
            "64M".into(),
            "--".into(),
            memcap.into(),
            "enomem".into(),
        ],
        b"",
    );
    assert_eq!(differ.status, 1, "{}", differ.stderr_str());
    let out = differ.stdout_str();
    assert!(out.contains("stdout differs at byte 11 (line 1"), "{out}");
    assert!(out.contains("native:  \"mmap 256M: ok\""), "{out}");
    assert!(out.contains("sandbox: \"mmap 256M: ENOMEM\""), "{out}");
}

//! Real Go programs (issue 9: "a Go program that re-executes itself through
//! os.Executable"; the standards' "test on real programs: Go programs").
//!
//! The programs live in `testdata/go/<name>/` (standard library only) and
//! are built here with the Go toolchain that scripts/setup.sh installs
//! (`golang-go`), with `CGO_ENABLED=0` so they are static. A missing `go`
//! fails the tests: it is part of the set-up, not optional. The build
//! cache, GOPATH and binaries stay under Cargo's target directory, so the
//! build works without `HOME` and never touches the network.
//!
//! Each program runs natively and in the sandbox with `--root /` (the
//! binary's absolute host path is then the same guest path), with the same
//! environment, under GOMAXPROCS 1, 2 and the default; stdout and the exit
//! status must match. The programs print only deterministic text.

mod common;

use common::go::{go_program, go_run, go_source, go_work_dir};

use std::ffi::OsString;
use std::path::Path;
use std::process::Command;

/// Runs `prog args` natively and in the sandbox, both with only `PATH` and
/// `env` in the environment, and returns (native, sandbox).
fn run_both(
    prog: &Path,
    args: &[&str],
    env: &[(&str, &str)],
) -> (common::Outcome, common::Outcome) {
    let mut native = Command::new(prog);
    native
        .args(args)
        .env_clear()
        .env("PATH", common::guest_path_env());
    for (k, v) in env {
        native.env(k, v);
    }
    let native = common::run_command(native, b"", &format!("native {}", prog.display()));

    let mut argv: Vec<OsString> = vec!["run".into(), "--root".into(), "/".into()];
    if let Ok(flags) = std::env::var("SENTRY_TEST_FLAGS") {
        argv.extend(flags.split_whitespace().map(OsString::from));
    }
    argv.push("--env".into());
    argv.push(format!("PATH={}", common::guest_path_env()).into());
    for (k, v) in env {
        argv.push("--env".into());
        argv.push(format!("{k}={v}").into());
    }
    argv.push("--".into());
    argv.push(prog.into());
    argv.extend(args.iter().map(OsString::from));
    let sandbox = common::run_sentry(&argv, b"");
    (native, sandbox)
}

/// The expected output of `reexec` run as `exe`, so that a native run that
/// goes wrong on this host is reported as such.
fn reexec_expected(exe: &str) -> String {
    let text = format!(
        "parent: executable {exe}\n\
         parent: args []\n\
         parent: child output (__LEN__ bytes):\n\
         \x20 | child: executable {exe}\n\
         \x20 | child: args [\"child\" \"two words\"]\n\
         \x20 | child: SENTRY_GO_REEXEC_CHILD=from-parent\n\
         \x20 | child: stdin \"input for the child\\n\"\n\
         \x20 | child: temp file name matches: true\n\
         \x20 | child: read back 45 bytes, same: true\n\
         \x20 | child: entry other dir=false mode=-rw------- size=1\n\
         \x20 | child: entry renamed.txt dir=false mode=-rw------- size=45\n\
         \x20 | child: entry sub dir=true mode=drwxr-xr-x size=0\n\
         \x20 | child: files ok\n\
         \x20 | child: 100 results, sum of squares 338350\n\
         \x20 | child: ping-pong reached 1000\n\
         \x20 | child: received user defined signal 1\n\
         parent: child exit status 7\n\
         parent: same executable for the child: true\n"
    );
    // The parent prints the length of what the child printed.
    let child_len: usize = text
        .lines()
        .filter_map(|l| l.strip_prefix("  | "))
        .map(|l| l.len() + 1)
        .sum();
    text.replace("__LEN__", &child_len.to_string())
}

fn reexec(gomaxprocs: Option<&str>) {
    let prog = go_program("reexec");
    let env: Vec<(&str, &str)> = gomaxprocs.map(|n| ("GOMAXPROCS", n)).into_iter().collect();
    let (native, sandbox) = run_both(&prog, &[], &env);
    let label = format!("go reexec GOMAXPROCS={gomaxprocs:?}");

    // The native run is the reference; check it is the one we expect.
    let expected = reexec_expected(&prog.display().to_string());
    assert_eq!(
        (native.stdout_str().as_str(), native.status),
        (expected.as_str(), 3),
        "{label}: the NATIVE run is not what the test expects (the program or this host is \
         at fault, not the sentry); stderr:\n{}",
        native.stderr_str()
    );
    common::assert_outcomes_match(&label, &native, &sandbox);
}

#[test]
fn reexec_default_gomaxprocs() {
    reexec(None);
}

#[test]
fn reexec_gomaxprocs_1() {
    reexec(Some("1"));
}

#[test]
fn reexec_gomaxprocs_2() {
    reexec(Some("2"));
}

/// `rtcheck`: runtime faults turned into panics, stack growth, the GC under
/// many threads, timers, os/exec pipelines, attributes and errors, file
/// I/O, os/signal, LockOSThread, 40 threads blocked in read(2), 30 children
/// at once, and last syscall.Exec from a busy multithreaded process. It
/// prints one `ok`/`FAIL` line a check.
fn rtcheck(gomaxprocs: Option<&str>) {
    let prog = go_program("rtcheck");
    let env: Vec<(&str, &str)> = gomaxprocs.map(|n| ("GOMAXPROCS", n)).into_iter().collect();
    let (native, sandbox) = run_both(&prog, &[], &env);
    let label = format!("go rtcheck GOMAXPROCS={gomaxprocs:?}");
    let out = native.stdout_str();
    assert!(
        native.status == 0
            && out.lines().count() >= 30
            && !out.contains("FAIL")
            && out.ends_with("ok   syscall.Exec from a busy multithreaded process keeps the pid\n"),
        "{label}: the NATIVE run failed (the program or this host is at fault, not the \
         sentry):\n{out}{}",
        native.stderr_str()
    );
    common::assert_outcomes_match(&label, &native, &sandbox);
}

#[test]
fn rtcheck_default_gomaxprocs() {
    rtcheck(None);
}

#[test]
fn rtcheck_gomaxprocs_1() {
    rtcheck(Some("1"));
}

#[test]
fn rtcheck_gomaxprocs_2() {
    rtcheck(Some("2"));
}

/// With `--root R`, PROGRAM is a guest path (or a bare name found through
/// the guest's PATH): os.Executable() in the guest is the guest path
/// `/bin/reexec`, never the host's, and re-executing it works inside R.
/// No native reference here (a chroot has no /proc, so os.Executable fails
/// natively): the output must be the one the native runs of the other
/// tests produce, for the guest path.
#[test]
fn reexec_inside_a_root_uses_the_guest_path() {
    let prog = go_program("reexec");
    let root = common::scratch_dir("golang-root");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy(&prog, root.join("bin/reexec")).unwrap();
    let expected = reexec_expected("/bin/reexec");
    for program in ["/bin/reexec", "reexec"] {
        let argv: Vec<OsString> = vec![
            "run".into(),
            "--root".into(),
            root.clone().into(),
            "--".into(),
            program.into(),
        ];
        let out = common::run_sentry(&argv, b"");
        assert_eq!(
            (out.stdout_str().as_str(), out.status),
            (expected.as_str(), 3),
            "PROGRAM {program} in --root {}\n--- stderr ---\n{}",
            root.display(),
            out.stderr_str()
        );
    }
}

/// The Go compiler and linker (static Go programs of the toolchain) run in
/// the sandbox: they compile `testdata/go/wordsort` against the standard
/// library's export data (read with mmap(MAP_SHARED, PROT_READ) of files in
/// the root), link it, and run the result, in a fresh directory under
/// /tmp. The same shell script runs natively; stdout and status must match.
#[test]
fn toolchain_compiles_links_and_runs_a_program() {
    let busybox = Path::new("/bin/busybox");
    assert!(
        busybox.exists(),
        "/bin/busybox is missing: run scripts/setup.sh (it installs busybox-static)"
    );
    let src = go_source("wordsort").join("main.go");
    let tool_dir = String::from_utf8(go_run("wordsort", &["env".as_ref(), "GOTOOLDIR".as_ref()]))
        .expect("GOTOOLDIR is UTF-8");
    let tool_dir = tool_dir.trim();
    // Export data of every package wordsort needs (the standard library's
    // archives, or the build cache's under target/).
    let cfg = go_run(
        "wordsort",
        &[
            "list".as_ref(),
            "-export".as_ref(),
            "-deps".as_ref(),
            "-f".as_ref(),
            "{{if .Export}}packagefile {{.ImportPath}}={{.Export}}{{end}}".as_ref(),
            ".".as_ref(),
        ],
    );
    let importcfg = go_work_dir().join("wordsort.importcfg");
    std::fs::write(&importcfg, cfg).expect("write importcfg");
    let cfg = importcfg.display();
    let script = format!(
        "d=$(mktemp -d /tmp/sentry-go-build.XXXXXX) && cd \"$d\" && \
         {tool_dir}/compile -o w.o -p main -complete -c=2 -importcfg {cfg} {src} && \
         {tool_dir}/link -o w -importcfg {cfg} -buildmode=exe w.o && \
         ./w lazy dog jumps over the quick brown fox; s=$?; cd /; rm -rf \"$d\"; exit $s",
        src = src.display()
    );
    let args = ["sh", "-c", script.as_str()];
    let native = common::run_native(busybox, &args, b"");
    assert_eq!(
        (native.stdout_str().as_str(), native.status),
        ("brown,dog,fox,jumps,lazy,over,quick,the 8\n", 0),
        "the NATIVE build failed (the toolchain or this host is at fault, not the sentry):\n{}",
        native.stderr_str()
    );
    let sandbox = common::run_sandbox(busybox, &args, b"");
    common::assert_outcomes_match("go toolchain in the sandbox", &native, &sandbox);
}

/// Issue 11: Go finds the sentry's vDSO (it looks up
/// `__vdso_clock_gettime` with version LINUX_2.6 in AT_SYSINFO_EHDR's
/// tables itself), so 100000 `time.Now()` calls (two clock reads each) run
/// without a crossing: the same output as natively, and `--stats` shows
/// (almost) no clock_gettime syscall.
#[test]
fn go_reads_the_clocks_through_the_vdso() {
    let prog = go_program("clockloop");
    let (native, sandbox) = run_both(&prog, &["100000"], &[("GOMAXPROCS", "1")]);
    common::assert_outcomes_match("clockloop", &native, &sandbox);
    assert_eq!(
        sandbox.stdout_str(),
        "100000 time.Now calls, 0 backwards, elapsed positive true, wall clock sane true\n"
    );
    let argv: Vec<OsString> = vec![
        "run".into(),
        "--stats".into(),
        "--env".into(),
        "GOMAXPROCS=1".into(),
        "--".into(),
        prog.into(),
        "100000".into(),
    ];
    let stats = common::run_sentry(&argv, b"");
    assert_eq!(stats.status, 0, "{}", stats.stderr_str());
    let table = stats.stderr_str();
    let clock_calls: u64 = table
        .lines()
        .filter(|l| l.split_whitespace().last() == Some("clock_gettime"))
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            cols[cols.len() - 3].parse::<u64>().ok()
        })
        .sum();
    assert!(
        clock_calls < 100,
        "{clock_calls} clock_gettime syscalls for 200000 clock reads: Go did not use the \
         vDSO\n{table}"
    );
}

/// Issue 11's goroutine program (1000 pairs ping-ponging over channels)
/// gives the same output in the sandbox (its timing, with the argument
/// `time`, is in benches/RESULTS.md: about native speed with the vDSO,
/// 60× slower without).
#[test]
fn goroutine_pingpong() {
    let prog = go_program("pingpong");
    for procs in ["1", "2"] {
        let (native, sandbox) = run_both(&prog, &[], &[("GOMAXPROCS", procs)]);
        common::assert_outcomes_match("pingpong", &native, &sandbox);
        assert_eq!(
            sandbox.stdout_str(),
            "1000 goroutine pairs x 200 round trips, checksum 20100000\n"
        );
    }
}

/// `httploop`: an HTTP server and 32 concurrent clients on 127.0.0.1, one
/// on [::1], a UDP exchange, a TCP read deadline, and net.Interfaces, all
/// in one sandbox (issue 13's loopback networking).
fn httploop(gomaxprocs: Option<&str>) {
    let prog = go_program("httploop");
    let env: Vec<(&str, &str)> = gomaxprocs.map(|n| ("GOMAXPROCS", n)).into_iter().collect();
    let (native, sandbox) = run_both(&prog, &[], &env);
    let label = format!("go httploop GOMAXPROCS={gomaxprocs:?}");
    let out = native.stdout_str();
    assert!(
        native.status == 0 && out.ends_with("done\n") && out.contains("interface lo index 1"),
        "{label}: the NATIVE run failed (the program or this host is at fault, not the \
         sentry):\n{out}{}",
        native.stderr_str()
    );
    common::assert_outcomes_match(&label, &native, &sandbox);
}

#[test]
fn httploop_default_gomaxprocs() {
    httploop(None);
}

#[test]
fn httploop_gomaxprocs_1() {
    httploop(Some("1"));
}

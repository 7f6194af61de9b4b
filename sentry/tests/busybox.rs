//! A real, unmodified static program: Debian's busybox-static (installed by
//! scripts/setup.sh), run natively and in the sandbox with the same
//! arguments; stdout and exit status must match. It exercises the shell
//! (fork, pipes, exec through /proc/self/exe, wait, exit codes), and files
//! read from the root (open, getdents64, stat, lseek).

mod common;

use std::path::Path;

const BUSYBOX: &str = "/bin/busybox";

/// How a run ended: `Ok(code)` for an exit, `Err(signal)` for a death by
/// signal. The sentry itself exits with 128+N when its guest dies of
/// signal N and says so on stderr; an exit with status 128+N is not a
/// death by signal.
fn ending(o: &common::Outcome, sandbox: bool) -> Result<i32, i32> {
    if !sandbox {
        return o.killed_by.map_or(Ok(o.status), Err);
    }
    assert_eq!(o.killed_by, None, "the sentry itself died of a signal");
    let said = o
        .stderr_str()
        .lines()
        .any(|l| l.starts_with("sentry: the guest was killed by "));
    if said {
        Err(o.status - 128)
    } else {
        Ok(o.status)
    }
}

/// Runs busybox natively and in the sandbox: stdout, the exit status and
/// how each run ended (exit or signal) must match.
fn same(args: &[&str]) {
    assert!(
        Path::new(BUSYBOX).exists(),
        "{BUSYBOX} is missing: run scripts/setup.sh (it installs busybox-static)"
    );
    let native = common::run_native(Path::new(BUSYBOX), args, b"");
    let sandbox = common::run_sandbox(Path::new(BUSYBOX), args, b"");
    let label = format!("busybox {args:?}");
    common::assert_outcomes_match(&label, &native, &sandbox);
    assert_eq!(
        ending(&native, false),
        ending(&sandbox, true),
        "{label}: the runs ended differently (Ok: exit status, Err: signal)\n\
         --- sandbox stderr ---\n{}",
        sandbox.stderr_str()
    );
}

/// `ending` tells an exit with 128+N from a death by signal N, on both
/// sides (so `same` cannot pass when only the status numbers agree).
#[test]
fn endings_are_told_apart() {
    let out = |status, killed_by: Option<i32>, stderr: &str| common::Outcome {
        stdout: Vec::new(),
        stderr: stderr.as_bytes().to_vec(),
        status,
        killed_by,
    };
    let killed = "sentry: the guest was killed by SIGTERM (15)\n";
    assert_eq!(ending(&out(143, Some(15), ""), false), Err(15));
    assert_eq!(ending(&out(143, None, ""), false), Ok(143));
    assert_eq!(ending(&out(143, None, killed), true), Err(15));
    assert_eq!(ending(&out(143, None, ""), true), Ok(143));
    // A guest that merely prints the words does not count.
    assert_eq!(
        ending(&out(143, None, "x sentry: the guest was killed by\n"), true),
        Ok(143)
    );
}

#[test]
fn simple_applets() {
    same(&["echo", "hello", "from", "busybox"]);
    same(&["seq", "1", "3", "10"]);
    same(&["printf", "%s-%05d\\n", "x", "42"]);
    same(&["basename", "/usr/lib/os-release", ".conf"]);
    same(&["expr", "6", "*", "7"]);
    same(&["false"]);
    // getgroups: root with no supplementary groups, as natively here.
    same(&["id"]);
    // Exit statuses that look like deaths by signal, and a real one.
    same(&["sh", "-c", "exit 143"]);
    same(&["sh", "-c", "sh -c 'kill -TERM $$'; echo $?"]);
}

#[test]
fn shell_pipelines_subshells_and_status() {
    same(&[
        "sh",
        "-c",
        "echo hello | tr a-z A-Z; seq 1 50 | sort -rn | head -3; (exit 3); echo status $?",
    ]);
    same(&["sh", "-c", "x=$(echo nested | wc -c); echo $x; exit 5"]);
    same(&[
        "sh",
        "-c",
        "for i in 1 2 3; do echo $i | sed s/^/n/; done | uniq -c",
    ]);
    same(&[
        "sh",
        "-c",
        "busybox echo through-exec; busybox sh -c 'exit 7'; echo $?",
    ]);
}

#[test]
fn files_from_the_read_only_root() {
    same(&["sh", "-c", "cd /etc && pwd && cat passwd | wc -l"]);
    same(&["head", "-c", "64", "/bin/busybox"]);
    same(&[
        "sh",
        "-c",
        "ls -la /usr/bin/busybox /etc/passwd | cut -c1-10",
    ]);
    same(&["find", "/etc", "-maxdepth", "1", "-name", "host*"]);
    same(&[
        "sh",
        "-c",
        "test -d /etc && test -f /etc/passwd && test ! -e /nonexistent && echo ok",
    ]);
    same(&[
        "sh",
        "-c",
        "tail -c 100 /bin/busybox | od -An -tx1 | head -2",
    ]);
}

/// The root is writable, in the sandbox's memory only: files made under
/// `/` and `/tmp` are there for the guest and never on the host.
#[test]
fn writes_stay_in_the_sandbox() {
    let pid = std::process::id();
    let script = format!(
        "touch /tmp/sentry-ro-test-{pid} && echo hi > /sentry-ro-test-{pid} && \
         cat /sentry-ro-test-{pid} && ls /tmp/sentry-ro-test-{pid} && \
         echo more >> /etc/passwd && tail -1 /etc/passwd"
    );
    let before = std::fs::read("/etc/passwd").unwrap();
    let out = common::run_sandbox(Path::new(BUSYBOX), &["sh", "-c", &script], b"");
    assert_eq!(out.status, 0, "{}", out.stderr_str());
    assert_eq!(
        out.stdout_str(),
        format!("hi\n/tmp/sentry-ro-test-{pid}\nmore\n")
    );
    assert!(!Path::new(&format!("/tmp/sentry-ro-test-{pid}")).exists());
    assert!(!Path::new(&format!("/sentry-ro-test-{pid}")).exists());
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), before);
}

/// Without `--root` the guest sees no host files at all.
#[test]
fn without_a_root_there_are_no_files() {
    let out = common::run_sentry(&["run", "--", BUSYBOX, "cat", "/etc/passwd"], b"");
    assert_eq!(out.status, 1);
    assert!(out.stdout.is_empty());
    assert!(
        out.stderr_str().contains("No such file or directory"),
        "{}",
        out.stderr_str()
    );
    // The sentry's own /dev/null is always there.
    let out = common::run_sentry(
        &[
            "run",
            "--",
            BUSYBOX,
            "sh",
            "-c",
            "echo gone > /dev/null && echo ok",
        ],
        b"",
    );
    assert_eq!(out.stdout_str(), "ok\n", "{}", out.stderr_str());
}

/// `ulimit` in the shell: a set limit reads back, children and exec'd
/// programs inherit it, and it is enforced (a redirection past
/// RLIMIT_NOFILE fails); raising a hard limit is refused (the guest, like
/// the host's root here, lacks CAP_SYS_RESOURCE). Before resource limits
/// were kept, `ulimit -n 100; ulimit -n` printed 1024.
#[test]
fn ulimit_sets_reads_back_and_is_inherited() {
    same(&[
        "sh",
        "-c",
        "ulimit -n 100; ulimit -n; ulimit -Hn; (ulimit -n); sh -c 'ulimit -n'; \
         ulimit -f 2048; ulimit -f; ulimit -c 0; ulimit -c; ulimit -s 4096; ulimit -s; \
         ulimit -n 200 2>/dev/null; echo raise=$?; ulimit -n; \
         ulimit -n 8; cat /dev/null 9</dev/null 2>/dev/null; echo redirect=$?; \
         cat /dev/null 7</dev/null; echo below=$?",
    ]);
}

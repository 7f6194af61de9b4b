//! Process-creation (issue B) tests: each guest runs natively and inside the
//! sentry, with glibc and with musl; stdout and exit status must be
//! identical, and every guest must pass its own checks natively (status 0).

#[macro_use]
mod common;

differential! {
    exec: [], 0;
    files: [], 0;
    fork_cow: [], 0;
    fork_share: [], 0;
    fork_8mib: [], 0;
    madv_fork: [], 0;
    vfork: [], 0;
    wait_opts: [], 0;
    t_waitid_fields: [], 0;
    exitcodes: [], 0;
    exit_signal: [], 0;
    reparent: [], 0;
    many_forks: [], 0;
    pipes: [], 0;
    sleep_alarm: [], 0;
    pgrp: [], 0;
    t_procbugs: [], 0;
}

/// execve reads programs only from the sandbox's root (`--root`): paths
/// resolve inside it, `..` stops at its top, and a symbolic link may not
/// lead out of it.
#[test]
fn exec_is_confined_to_the_root() {
    let root = common::scratch_dir("exec-root");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy(
        testdata::guest("hello", common::Libc::Musl),
        root.join("bin/hello"),
    )
    .unwrap();
    std::os::unix::fs::symlink("/etc/passwd", root.join("bin/escape")).unwrap();
    std::fs::copy(
        testdata::guest("exec", common::Libc::Musl),
        root.join("bin/exec"),
    )
    .unwrap();
    let run = |path: &str| {
        common::run_sentry(
            &[
                std::ffi::OsString::from("run"),
                "--root".into(),
                root.clone().into(),
                "--".into(),
                "/bin/exec".into(),
                "run".into(),
                path.into(),
            ],
            b"",
        )
    };
    let ok = run("/bin/hello");
    assert_eq!(ok.stdout_str(), "hello\n", "{}", ok.stderr_str());
    assert_eq!(ok.status, 0);
    let clamped = run("/../../../bin/hello");
    assert_eq!(clamped.stdout_str(), "hello\n", "{}", clamped.stderr_str());
    let outside = run("/etc/passwd");
    assert_eq!(outside.stdout_str(), "execve /etc/passwd: ENOENT\n");
    let link = run("/bin/escape");
    assert_eq!(link.stdout_str(), "execve /bin/escape: ENOENT\n");
}

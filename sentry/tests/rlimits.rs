//! Resource limits (issue 10): getrlimit, setrlimit and prlimit64 per
//! process, inherited across fork and execve, enforced (NOFILE, DATA, AS,
//! STACK, FSIZE), differentially against the host; and the sandbox-wide
//! `--max-tasks` and `--max-files`, which only the sandbox has.

#[macro_use]
mod common;

differential! {
    t_rlimits: [], 0;
}

fn sentry_run(flags: &[&str], guest: &str, args: &[&str]) -> common::Outcome {
    let prog = testdata::guest(guest, common::Libc::Musl);
    let mut argv: Vec<std::ffi::OsString> = vec!["run".into()];
    argv.extend(flags.iter().map(Into::into));
    argv.push("--".into());
    argv.push(prog.into());
    argv.extend(args.iter().map(Into::into));
    common::run_sentry(&argv, b"")
}

/// `--max-tasks N`: at most N tasks (threads) alive in the sandbox; fork,
/// pthread_create (clone) and vfork past it fail with EAGAIN, and room
/// comes back as tasks exit. Before the flag, forks went on until the
/// platform ran out of vCPUs (about a thousand).
#[test]
fn max_tasks_bounds_live_tasks() {
    let out = sentry_run(&["--max-tasks", "20"], "sandbox_limits", &["tasks"]);
    assert_eq!(
        out.stdout_str(),
        "forked 19, then EAGAIN\nthread: EAGAIN\nvfork: EAGAIN\nafter the children: ok\n",
        "{}",
        out.stderr_str()
    );
    assert_eq!(out.status, 0);
    assert!(out.stderr_str().contains("--max-tasks 20 reached"));
}

/// `--max-tasks 1` runs a program that creates no task; 0 leaves no room
/// for the init task and is refused on the command line.
#[test]
fn max_tasks_of_one_runs_init_alone() {
    let out = sentry_run(&["--max-tasks", "1"], "hello", &[]);
    assert_eq!(
        (out.stdout_str().as_str(), out.status),
        ("hello\n", 0),
        "{}",
        out.stderr_str()
    );
    let out = sentry_run(&["--max-tasks", "0"], "hello", &[]);
    assert_eq!(out.status, 2, "{}", out.stderr_str());
    assert!(
        out.stderr_str().contains("--max-tasks"),
        "{}",
        out.stderr_str()
    );
}

/// `--max-files N`: at most N descriptors open across the whole sandbox
/// (a forked child's inherited copies count); opening past it fails with
/// ENFILE, a fork whose copy would pass it with ENOMEM, and closing makes
/// room again. Before the flag, only each process's RLIMIT_NOFILE bounded
/// descriptors.
#[test]
fn max_files_bounds_descriptors_across_processes() {
    let out = sentry_run(&["--max-files", "64"], "sandbox_limits", &["files"]);
    // Parent: 3 standard streams + 20; child: a copy (46 in use), 18 more.
    // Then the parent opens the 41 left.
    assert_eq!(
        out.stdout_str(),
        "child opened 18, then ENFILE\nparent opened 41, then ENFILE\npipe: ENFILE\n\
         dup: ENFILE\nfork: ENOMEM\nfork after closing: ok\n",
        "{}",
        out.stderr_str()
    );
    assert_eq!(out.status, 0);
}

/// `/proc/<pid>/limits` shows the process's own limits, as the host's
/// does for the same shell commands (before, it showed fixed defaults).
#[test]
fn proc_limits_shows_the_set_values() {
    let args = [
        "sh",
        "-c",
        "ulimit -n 77; ulimit -f 1000; ulimit -Sc 0; cat /proc/self/limits",
    ];
    let busybox = std::path::Path::new("/bin/busybox");
    let sandbox = common::run_sandbox(busybox, &args, b"");
    let native = common::run_native(busybox, &args, b"");
    let lines = |o: &common::Outcome| -> Vec<String> {
        let text = o.stdout_str();
        ["Max open files", "Max file size", "Max core file size"]
            .iter()
            .map(|name| {
                text.lines()
                    .find(|l| l.starts_with(name))
                    .unwrap_or_else(|| panic!("no {name} in {text}; {}", o.stderr_str()))
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect()
    };
    assert_eq!(lines(&sandbox), lines(&native));
    assert_eq!(lines(&sandbox)[0], "Max open files 77 77 files");
    assert_eq!(lines(&sandbox)[1], "Max file size 512000 512000 bytes");
}

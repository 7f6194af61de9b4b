//! Sanity checks of the guests themselves, without the sentry: every guest
//! runs natively twice per libc, must produce identical output both times
//! (no pids, addresses or times leak into it) and exit with its expected
//! status. These pass regardless of the state of the sentry, so a failure
//! here is a broken guest (or a host whose kernel behaves differently).

mod common;

use common::{Libc, Outcome, run_native};
use std::path::Path;

/// (guest, args, stdin, expected native status). Must list every C guest.
const CASES: &[(&str, &[&str], &[u8], i32)] = &[
    ("args", &["a", "", "b c"], b"", 0),
    ("badptr", &[], b"", 0),
    ("bench_fork", &[], b"", 0),
    ("bench_hot", &[], b"", 0),
    ("bench_net", &[], b"", 0),
    ("bench_syscall", &[], b"", 0),
    ("bench_unix", &[], b"", 0),
    ("bench_clock", &[], b"", 0),
    ("cat", &[], b"some input\nmore input\n", 0),
    ("closed_std", &[], b"", 0),
    ("exit_signal", &[], b"", 0),
    ("exec", &[], b"", 0),
    ("exitcode", &["42"], b"", 42),
    ("exitcodes", &[], b"", 0),
    ("fifo", &["--self"], b"", 0),
    ("files", &[], b"", 0),
    ("filemap", &[], b"", 0),
    (
        "fsprobe",
        &["stat:/", "lstat:/nonexistent", "dotdot:/"],
        b"",
        0,
    ),
    ("fork_8mib", &[], b"", 0),
    ("fork_cow", &[], b"", 0),
    ("fork_share", &[], b"", 0),
    ("fork_refused", &["10", "20"], b"", 0),
    ("hello", &[], b"", 0),
    ("hostsig", &[], b"", 0),
    ("init_signals", &[], b"", 0),
    ("madv_fork", &[], b"", 0),
    ("malloc64", &[], b"", 0),
    ("many_forks", &[], b"", 0),
    ("memcap", &["enomem"], b"", 0),
    ("misc", &[], b"", 0),
    ("mm_limits", &[], b"", 0),
    ("pgrp", &[], b"", 0),
    ("pipe_hog", &["1"], b"", 0),
    ("pipes", &[], b"", 0),
    ("reparent", &[], b"", 0),
    ("segv", &[], b"", 139),
    ("sleep_alarm", &[], b"", 0),
    ("t_clone3", &[], b"", 0),
    ("t_pidfd", &[], b"", 0),
    ("t_pipesize", &[], b"", 0),
    ("t_procfs", &[], b"", 0),
    ("t_pthreads", &[], b"", 0),
    ("t_rawclone", &[], b"", 0),
    ("t_rlimits", &[], b"", 0),
    ("t_shortread", &[], b"0123456789", 0),
    ("t_sigframe", &[], b"", 0),
    ("t_splice", &[], b"", 0),
    ("t_sysv", &[], b"", 0),
    ("t_signals", &[], b"", 0),
    ("t_signum", &[], b"", 0),
    ("t_intargs", &[], b"", 0),
    ("t_locks", &[], b"", 0),
    ("t_intargs_fs", &[], b"", 0),
    ("t_threadgroup", &[], b"", 0),
    ("t_traps", &[], b"", 0),
    ("t_badstate", &[], b"", 0),
    ("t_mmio", &[], b"", 0),
    ("t2_fpu", &[], b"", 0),
    ("t2_futex", &[], b"", 0),
    ("t_futex_pi", &[], b"", 0),
    ("t2_sharing", &[], b"", 0),
    ("t2_tlb", &[], b"", 0),
    ("t2_timeouts", &[], b"", 0),
    ("t_pidfd_thread", &[], b"", 0),
    ("t_sigforge", &[], b"", 0),
    ("t_script", &["exec", "/nonexistent"], b"", 1),
    ("t_sched", &[], b"", 0),
    ("t_sched2", &[], b"", 0),
    ("t_cpuclocks", &[], b"", 0),
    ("t_timers", &[], b"", 0),
    ("t_vdso", &[], b"", 0),
    ("t_getcpu", &[], b"", 0),
    // Without a mode it prints nothing and exits 2; its modes print CPU
    // times, which differ run to run (sentry/tests/timers.rs judges them).
    ("t_cputimes", &[], b"", 2),
    ("t_waitv", &[], b"", 0),
    ("vfork", &[], b"", 0),
    ("wait_opts", &[], b"", 0),
    ("t_waitid_fields", &[], b"", 0),
    ("t_select", &[], b"", 0),
    ("t_eventfd", &[], b"", 0),
    ("t_epoll_et", &[], b"", 0),
    ("t_epoll_wake", &[], b"", 0),
    ("t_membarrier", &[], b"", 0),
    ("t_epoll_more", &[], b"", 0),
    ("t_timerfd", &[], b"", 0),
    ("t_signalfd", &[], b"", 0),
    ("t_signalfd_thread", &[], b"", 0),
    ("t_inotify", &[], b"", 0),
    ("t_inotify_deleted", &[], b"", 0),
    ("t_mqueue", &[], b"", 0),
    ("t_mqueue_notify", &[], b"", 0),
    ("t_sysvipc_proc", &[], b"", 0),
    ("stdin_wait", &["poll"], b"hello\n", 0),
    ("t_unix", &[], b"", 0),
    ("t_unix_listen", &[], b"", 0),
    ("t_unix_path", &[], b"", 0),
    ("t_unix_dgram", &[], b"", 0),
    ("t_unix_mmsg", &[], b"", 0),
    ("t_unix_opts", &[], b"", 0),
    ("t_unix_gc", &[], b"", 0),
    ("t_unix_mem", &[], b"", 0),
    ("t_unix_pair_bind", &[], b"", 0),
    // Without its directory it prints nothing and exits 2 (unix.rs runs
    // it in a `:rw` bind and in a host directory).
    ("t_unix_rwbind", &[], b"", 2),
    ("t_sysv_counter", &[], b"", 0),
    ("t_inet", &[], b"", 0),
    ("t_inet_echo", &[], b"", 0),
    ("t_tcp_oob", &[], b"", 0),
    ("t_tcp_backlog", &[], b"", 0),
    ("t_tcp_timewait", &[], b"", 0),
    // Its `pty` mode needs a pseudo-terminal: sentry/tests/tty.rs.
    ("t_tty", &["none"], b"", 0),
    ("t_procbugs", &[], b"", 0),
    ("t_creds", &[], b"", 0),
];

fn twice(label: &str, path: &Path, args: &[&str], stdin: &[u8], status: i32) -> Outcome {
    let a = run_native(path, args, stdin);
    let b = run_native(path, args, stdin);
    assert_eq!(
        a.status,
        status,
        "{label}: exited {} instead of {status}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        a.status,
        a.stdout_str(),
        a.stderr_str()
    );
    assert_eq!(
        b.status,
        status,
        "{label}: the second run exited {} instead of {status}\n--- stdout ---\n{}\n--- stderr ---\n{}",
        b.status,
        b.stdout_str(),
        b.stderr_str()
    );
    assert_eq!(
        a.stdout_str(),
        b.stdout_str(),
        "{label}: output differs between two native runs"
    );
    assert_eq!(a.status, b.status, "{label}: status differs between runs");
    a
}

/// Guests that must never run natively (they do random damage), with the
/// test that runs them in the sandbox instead.
const SANDBOX_ONLY: &[&str] = &[
    "fuzz_syscalls",  // sentry/tests/fuzz_syscalls.rs
    "enosys",         // foundation.rs: the host implements what the sandbox does not
    "erofs",          // foundation.rs: the host's /tmp is writable
    "vfsops",         // vfs.rs: it rewrites / (run in a chroot there)
    "sandbox_limits", // rlimits.rs: it forks until the system refuses
    "inotify_limits", // inotify.rs: natively it counts the host user's inotify use
    "t_inet_mem",     // inet.rs: natively loopback buffers autotune to megabytes each
    "t_mqueue_dev",   // mqueue.rs: the test hosts mount no /dev/mqueue
];

#[test]
fn every_guest_is_listed() {
    let listed: Vec<&str> = CASES.iter().map(|c| c.0).collect();
    for name in testdata::all_c_guests() {
        if SANDBOX_ONLY.contains(name) {
            continue;
        }
        assert!(
            listed.contains(name),
            "guest {name} is missing from CASES in {}",
            file!()
        );
    }
}

fn all(libc: Libc) {
    for &(name, args, stdin, status) in CASES {
        let path = testdata::guest(name, libc);
        twice(&format!("{name} ({libc})"), &path, args, stdin, status);
    }
}

#[test]
fn glibc_guests_are_deterministic() {
    all(Libc::Glibc);
}

#[test]
fn musl_guests_are_deterministic() {
    all(Libc::Musl);
}

#[test]
fn glibc_and_musl_agree() {
    // Same source, same output: libc differences are worth knowing about.
    for &(name, args, stdin, _) in CASES {
        if name == "args" {
            continue; // argv[0] is the path, which names the libc
        }
        let g = run_native(&testdata::guest(name, Libc::Glibc), args, stdin);
        let m = run_native(&testdata::guest(name, Libc::Musl), args, stdin);
        assert_eq!(
            g.stdout_str(),
            m.stdout_str(),
            "{name}: glibc vs musl output"
        );
        assert_eq!(g.status, m.status, "{name}: glibc vs musl status");
    }
}

#[test]
fn special_builds() {
    let out = twice(
        "hello-pie",
        &testdata::guest("hello-pie", Libc::Glibc),
        &[],
        b"",
        0,
    );
    assert_eq!(out.stdout, b"hello\n");
    for name in testdata::all_asm_guests() {
        let path = testdata::asm_guest(name);
        let out = twice(
            name,
            &path,
            &[],
            b"",
            if *name == "asm_hello" { 7 } else { 0 },
        );
        if *name == "asm_hello" {
            assert_eq!(out.stdout, b"hello from asm\n");
        }
    }
}

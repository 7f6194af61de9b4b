//! Clocks and timers (issue 11): `t_cpuclocks` (every clock id, CPU-time
//! clocks, times(), ITIMER_VIRTUAL/PROF, RLIMIT_CPU) and `t_timers` (POSIX
//! timers on every clock with SIGEV_NONE/SIGNAL/THREAD_ID and libc's
//! SIGEV_THREAD, overruns, absolute and relative arming, fork/exec rules,
//! interrupted and restarted sleeps) run natively and in the sandbox with
//! glibc and musl; stdout and status must match. The guests print only
//! relations between times.

#[macro_use]
mod common;

differential! {
    t_cpuclocks: [], 0;
    t_timers: [], 0;
}

/// What cannot be compared with the host (as root the host would let the
/// guest set its clock): the sandbox refuses to set or adjust any clock
/// (EPERM), and a process's POSIX timers stop at the documented maximum
/// (4096, `kernel::timers::MAX_TIMERS`) with EAGAIN.
#[test]
fn clocks_cannot_be_set_and_timers_are_bounded() {
    let want = "\
clock_settime(REALTIME, now): EPERM
settimeofday: EPERM
adjtimex(ADJ_FREQUENCY): EPERM
adjtimex(ADJ_OFFSET_SINGLESHOT): EPERM
clock_adjtime(REALTIME, ADJ_FREQUENCY): EPERM
timers before the limit: 4096, then EAGAIN
delete one: 0, create again: 0
";
    for libc in common::Libc::ALL {
        let prog = testdata::guest("t_timers", libc);
        let out = common::run_sandbox(&prog, &["sandbox-only"], b"");
        assert_eq!(out.stdout_str(), want, "{libc:?}: {}", out.stderr_str());
        assert_eq!(out.status, 0, "{libc:?}");
    }
}

/// `t_cputimes MODE` lines: (source, user ms, sys ms).
fn cputimes(mode: &str, libc: common::Libc) -> Vec<(String, u64, u64)> {
    let prog = testdata::guest("t_cputimes", libc);
    let out = common::run_sandbox(&prog, &[mode], b"");
    assert_eq!(out.status, 0, "{libc:?} {mode}: {}", out.stderr_str());
    let lines: Vec<(String, u64, u64)> = out
        .stdout_str()
        .lines()
        .map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            assert_eq!(f.len(), 5, "{l}");
            (
                f[0].to_string(),
                f[2].parse().expect("user ms"),
                f[4].parse().expect("sys ms"),
            )
        })
        .collect();
    assert_eq!(lines.len(), 4, "{}", out.stdout_str());
    lines
}

/// User time is guest-mode time and system time is the sentry's work and
/// the crossings (kernel::sched::CpuTime), in wait4's rusage, getrusage,
/// times() and /proc/self/stat alike: a guest looping with (almost) no
/// syscall has mostly user time, one making 20 000 getppid calls mostly
/// system time. Sandbox-only (the amounts are this host's). Before the
/// split every source reported the host's user time for both (and
/// /proc/self/stat zeros).
#[test]
fn guest_mode_is_user_time_and_the_sentry_is_system_time() {
    for libc in common::Libc::ALL {
        for (what, user, sys) in cputimes("busy", libc) {
            assert!(
                user >= 100 && user > sys,
                "{libc:?} busy, {what}: user {user} ms, sys {sys} ms"
            );
        }
        for (what, user, sys) in cputimes("syscalls", libc) {
            assert!(
                sys >= 100 && sys > user,
                "{libc:?} syscalls, {what}: user {user} ms, sys {sys} ms"
            );
        }
    }
}

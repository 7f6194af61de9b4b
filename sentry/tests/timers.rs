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

//! The vDSO (issue 11, "A vDSO"): `t_vdso` runs natively and in the
//! sandbox with glibc and musl, and stdout and status must match (see
//! testdata/guests/t_vdso.c: the symbols and versions the issue requires,
//! each function against the syscall, monotonic across 100000 interleaved
//! reads, two threads and a fork, after execve, [vdso] and [vvar] in
//! /proc/self/maps, [vvar] refusing write and exec, a write to the vDSO
//! staying private).
//!
//! And the point of it: a program reading the clocks makes no crossing.
//! `t_vdso count N` calls clock_gettime, gettimeofday and time through libc
//! N times each, and `--stats` must show (almost) none of those syscalls.
//! This host's TSC is usable, so a sentry that fell back to the syscall
//! (TSC judged unusable, or no vDSO) fails here; it does not skip.

#[macro_use]
mod common;

use common::{Libc, run_sentry};

differential! {
    t_vdso: [], 0;
    // getcpu through the vDSO, the syscall and /proc/self/stat agree and
    // follow sched_setaffinity (testdata/guests/t_getcpu.c).
    t_getcpu: [], 0;
}

/// Calls of `name` in a `--stats` table (0 when it is not listed).
fn calls(table: &str, name: &str) -> u64 {
    table
        .lines()
        .filter_map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            (cols.last() == Some(&name)).then(|| cols[cols.len() - 3].parse::<u64>().ok())?
        })
        .sum()
}

fn clock_reads_make_no_syscalls(libc: Libc) {
    let n = 100_000;
    let guest = testdata::guest("t_vdso", libc);
    let out = run_sentry(
        &[
            "run".as_ref(),
            "--stats".as_ref(),
            "--".as_ref(),
            guest.as_os_str(),
            "count".as_ref(),
            n.to_string().as_ref(),
        ],
        b"",
    );
    let stderr = out.stderr_str();
    assert_eq!(out.status, 0, "{libc}: {}\n{stderr}", out.stdout_str());
    assert_eq!(out.stdout_str(), format!("{n} calls each done ({n})\n"));
    assert!(
        stderr.contains("syscall"),
        "{libc}: no --stats table:\n{stderr}"
    );
    for name in ["clock_gettime", "gettimeofday", "time"] {
        let c = calls(&stderr, name);
        assert!(
            c <= 2,
            "{libc}: {c} {name} syscalls for {n} calls: the clocks cross into the \
             sentry (no vDSO, or the TSC judged unusable):\n{stderr}"
        );
    }
}

#[test]
fn glibc_clock_reads_make_no_syscalls() {
    clock_reads_make_no_syscalls(Libc::Glibc);
}

#[test]
fn musl_clock_reads_make_no_syscalls() {
    clock_reads_make_no_syscalls(Libc::Musl);
}

/// With the TSC judged unusable (forced through the sentry's environment)
/// the vDSO makes the syscall for every clock: `t_vdso` still matches the
/// native run, the clock reads now cross, and the sentry says why.
#[test]
fn without_a_usable_tsc_every_clock_read_is_a_syscall() {
    for libc in [Libc::Glibc, Libc::Musl] {
        let guest = testdata::guest("t_vdso", libc);
        let native = common::run_native(&guest, &["small"], b"");
        let mut cmd = std::process::Command::new(common::SENTRY);
        cmd.env("SENTRY_VCLOCK_NO_TSC", "1")
            .env("PATH", common::guest_path_env())
            .args(["run", "--root", "/", "--env"])
            .arg(format!("PATH={}", common::guest_path_env()))
            .arg("--")
            .arg(&guest)
            .arg("small");
        let sandbox = common::run_command(cmd, b"", "sentry run t_vdso without TSC");
        common::assert_outcomes_match("t_vdso without TSC", &native, &sandbox);
        assert!(
            sandbox.stderr_str().contains("SENTRY_VCLOCK_NO_TSC is set"),
            "{libc}: the reason is not logged:\n{}",
            sandbox.stderr_str()
        );

        let mut cmd = std::process::Command::new(common::SENTRY);
        cmd.env("SENTRY_VCLOCK_NO_TSC", "1")
            .args(["run", "--stats", "--"])
            .arg(&guest)
            .args(["count", "100"]);
        let out = common::run_command(cmd, b"", "sentry run --stats t_vdso count");
        assert_eq!(out.status, 0, "{}", out.stderr_str());
        let table = out.stderr_str();
        // (musl's gettimeofday and time call clock_gettime.)
        let total: u64 = ["clock_gettime", "gettimeofday", "time"]
            .iter()
            .map(|name| calls(&table, name))
            .sum();
        assert!(total >= 300, "{libc}: {total} clock syscalls:\n{table}");
    }
}

#[test]
fn the_stats_parser_counts_a_listed_syscall() {
    let table = " 57.56     0.000472        472        472         7       0  readlink\n\
                 100.00     0.000820                              16       1  total\n";
    assert_eq!(calls(table, "readlink"), 7);
    assert_eq!(calls(table, "time"), 0);
}

/// The _COARSE clocks read as of the sentry's tick, a 4 ms grid of
/// MONOTONIC (issue 11): through the vDSO and the syscall alike, every
/// MONOTONIC_COARSE value is a multiple of 4 ms, and a coarse read
/// between two fine reads f1 and f2 lies in (f1 - 4 ms, f2]. Sandbox-only:
/// Linux's tick is not on a grid of MONOTONIC. (Before the coarse clocks
/// were truncated they read the fine value, off the grid.)
#[test]
fn coarse_clocks_sit_on_the_tick_grid() {
    for libc in [Libc::Glibc, Libc::Musl] {
        let guest = testdata::guest("t_vdso", libc);
        let out = common::run_sandbox(&guest, &["coarse"], b"");
        let stdout = out.stdout_str();
        assert!(
            stdout.contains("coarse reads outside (fine - 4 ms, fine]: 0\n")
                && stdout.contains("MONOTONIC_COARSE reads off the 4 ms grid: 0\n"),
            "{libc}: {stdout}\n{}",
            out.stderr_str()
        );
        assert_eq!(out.status, 0, "{libc}");
    }
}

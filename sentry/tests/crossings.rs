//! Guest/host crossings per operation on the hot paths, counted by
//! `--stats` (deterministic counts, never times). Each case runs a guest
//! loop twice in the sandbox, with a small and a large count, and divides
//! the difference of the `crossings:` totals by the extra iterations, so
//! start-up and exit cancel out. The floors are the ones issue 11 sets:
//! a path costs the syscalls its libc makes, one vCPU start per new task,
//! at most one host wake-up per blocking wait, and no other exit.

mod common;

use common::{Libc, run_sentry};

/// The counts of one `crossings: kind=N ...` line.
#[derive(Clone, Copy, Debug, Default)]
struct Crossings {
    syscall: u64,
    page_fault: u64,
    exception: u64,
    interrupt: u64,
    error: u64,
    vcpu_start: u64,
    wakeup: u64,
}

impl Crossings {
    fn parse(line: &str) -> Self {
        let mut c = Self::default();
        for word in line.split_whitespace() {
            let Some((k, v)) = word.split_once('=') else {
                continue;
            };
            let v: u64 = v
                .parse()
                .unwrap_or_else(|_| panic!("bad count in {line:?}"));
            match k {
                "syscall" => c.syscall = v,
                "page_fault" => c.page_fault = v,
                "exception" => c.exception = v,
                "interrupt" => c.interrupt = v,
                "error" => c.error = v,
                "vcpu_start" => c.vcpu_start = v,
                "wakeup" => c.wakeup = v,
                _ => {}
            }
        }
        c
    }

    fn minus(self, o: Self) -> Self {
        Self {
            syscall: self.syscall - o.syscall,
            page_fault: self.page_fault - o.page_fault,
            exception: self.exception - o.exception,
            interrupt: self.interrupt - o.interrupt,
            error: self.error - o.error,
            vcpu_start: self.vcpu_start - o.vcpu_start,
            wakeup: self.wakeup - o.wakeup,
        }
    }

    /// Exits that are not syscalls.
    fn other_exits(&self) -> u64 {
        self.page_fault + self.exception + self.interrupt + self.error
    }

    fn trap_equivalents(&self) -> u64 {
        self.syscall + self.other_exits() + self.vcpu_start + self.wakeup
    }
}

/// What `--stats` reported for one run.
struct Stats {
    totals: Crossings,
    stderr: String,
}

impl Stats {
    /// The calls column of the per-syscall table's row for `name`.
    fn calls(&self, name: &str) -> u64 {
        self.stderr
            .lines()
            .find(|l| l.ends_with(&format!("  {name}")))
            .and_then(|l| l.split_whitespace().nth(4)?.parse().ok())
            .unwrap_or(0)
    }
}

/// Runs `guest args...` in the sandbox with `--stats`.
fn stats(guest: &str, libc: Libc, args: &[&str]) -> Stats {
    let path = testdata::guest(guest, libc);
    // --no-aslr: a random stack top can put a signal frame or an
    // argument page on a page not yet touched in one run and not the
    // other, one page fault more or less than the counts assert.
    let mut argv = vec![
        "run",
        "--stats",
        "--no-aslr",
        "--",
        path.to_str().expect("utf-8 path"),
    ];
    argv.extend_from_slice(args);
    let out = run_sentry(&argv, b"");
    let stderr = out.stderr_str();
    assert_eq!(
        out.status,
        0,
        "{guest} {args:?} ({libc:?}): stdout {}; stderr {stderr}",
        out.stdout_str()
    );
    let line = stderr
        .lines()
        .find(|l| l.starts_with("crossings: syscall="))
        .unwrap_or_else(|| panic!("no crossings line in:\n{stderr}"));
    Stats {
        totals: Crossings::parse(line),
        stderr,
    }
}

/// The crossings of `n` extra operations: a run of `base + n` minus a run
/// of `base` (`args` with `{}` replaced by the count).
fn per_ops(guest: &str, libc: Libc, args: &[&str], base: u64, n: u64) -> (Crossings, Stats) {
    let with = |count: u64| -> Vec<String> {
        args.iter()
            .map(|a| a.replace("{}", &count.to_string()))
            .collect()
    };
    let small = with(base);
    let large = with(base + n);
    let small: Vec<&str> = small.iter().map(String::as_str).collect();
    let large: Vec<&str> = large.iter().map(String::as_str).collect();
    let s0 = stats(guest, libc, &small);
    let s1 = stats(guest, libc, &large);
    (s1.totals.minus(s0.totals), s1)
}

const LIBCS: [Libc; 2] = [Libc::Glibc, Libc::Musl];

/// fork + child `_exit` + waitpid: the syscalls libc makes (four with
/// glibc: clone, the child's set_robust_list and exit_group, wait4), one
/// vCPU start for the child, at most one wake-up of the waiting parent,
/// and no other exit: the child's first writes find its pages copied at
/// fork (small processes), and no kick is left over from the previous
/// child's exit on the reused vCPU (which cost every child one spurious
/// exit before) nor sent for a SIGCHLD the parent blocks (musl's fork
/// blocks every signal around the clone).
#[test]
fn fork_exit_wait_is_at_its_floor() {
    const N: u64 = 100;
    for libc in LIBCS {
        let (d, s) = per_ops("bench_fork", libc, &["fork", "{}", "0"], 0, N);
        let what = format!("{libc:?}: {d:?} over {N} iterations\n{}", s.stderr);
        assert_eq!(d.vcpu_start, N, "{what}");
        assert_eq!(d.other_exits() - d.interrupt, 0, "{what}");
        // One race may kick the parent: musl's fork blocks every signal
        // around the clone, so a child that exits before the parent
        // unmasks has its SIGCHLD queued rather than dropped; if the
        // parent unmasks between that queueing and the wake-up's look at
        // its mask, the wake-up kicks it (Linux's signal_wake_up sends
        // the same IPI). CI saw it once in 100 forks; a kick left over
        // from every child would show as N.
        assert!(d.interrupt <= N / 20, "{what}");
        assert!(d.wakeup <= N, "{what}");
        if libc == Libc::Glibc {
            assert_eq!(d.syscall, 4 * N, "{what}");
            assert!(d.trap_equivalents() <= 6 * N, "{what}");
        }
    }
}

/// The same for a process too large to copy at fork (64 MiB dirtied, so
/// its pages are shared copy-on-write): its small writable mappings (the
/// program's data and bss, the stack's top) are still copied at once, so
/// neither side takes a fault after the fork (the child took 4 and the
/// parent about 2 per iteration before).
#[test]
fn fork_of_a_large_process_takes_no_fault() {
    const N: u64 = 10;
    let (d, s) = per_ops("bench_fork", Libc::Glibc, &["fork", "{}", "64"], 0, N);
    let what = format!("{d:?} over {N} iterations\n{}", s.stderr);
    assert_eq!(d.vcpu_start, N, "{what}");
    assert_eq!(d.other_exits(), 0, "{what}");
    assert_eq!(d.syscall, 4 * N, "{what}");
    assert!(d.trap_equivalents() <= 6 * N, "{what}");
}

/// raise() with a handler: libc's syscalls (the last of which is
/// rt_sigreturn), and nothing for entering the handler: no exit but the
/// syscalls (the self-kick of the signal cost one before).
#[test]
fn raise_costs_its_syscalls_only() {
    const N: u64 = 100;
    for libc in LIBCS {
        let (d, s) = per_ops("bench_hot", libc, &["raise", "{}"], 1, N);
        let what = format!("{libc:?}: {d:?} over {N} raises\n{}", s.stderr);
        assert_eq!(d.other_exits(), 0, "{what}");
        assert_eq!(d.wakeup, 0, "{what}");
        assert_eq!(d.vcpu_start, 0, "{what}");
        assert_eq!(s.calls("rt_sigreturn"), N + 1, "{what}");
        // glibc: getpid, gettid, tgkill, rt_sigreturn; musl: two
        // rt_sigprocmask, tkill, rt_sigreturn.
        assert_eq!(d.syscall, 4 * N, "{what}");
    }
}

/// pthread_create + pthread_join: one vCPU start per thread, at most one
/// wake-up per FUTEX_WAIT (the join), and no exit but libc's syscalls, apart from the
/// first touch of a fresh thread stack where libc maps one per thread
/// (musl), which faults natively too.
#[test]
fn thread_create_join_costs_its_syscalls() {
    const N: u64 = 100;
    for libc in LIBCS {
        let (d, s) = per_ops("bench_hot", libc, &["thread", "{}"], 1, N);
        let what = format!("{libc:?}: {d:?} over {N} threads\n{}", s.stderr);
        assert_eq!(d.vcpu_start, N, "{what}");
        // Only a FUTEX_WAIT sleeps here (the join, and libc's own locks):
        // at most one wake-up each.
        assert!(d.wakeup <= s.calls("futex"), "{what}");
        assert_eq!(d.exception + d.error, 0, "{what}");
        // A kick only comes from a TLB shootdown: a downgrade (libc's
        // mprotect of the next stack's guard, madvise of the last one)
        // made while the previous thread is still on its way out of the
        // guest, which depends on how busy the host is.
        let downgrades = s.calls("mprotect") + s.calls("madvise") + s.calls("munmap");
        assert!(d.interrupt <= downgrades, "{what}");
        let stack_faults = if libc == Libc::Musl { N } else { 0 };
        assert!(d.page_fault <= stack_faults, "{what}");
    }
}

/// A futex ping-pong between two threads: per round trip two
/// FUTEX_WAKEs and the FUTEX_WAITs that find the other side not done yet,
/// at most a wake-up per wait, and no other exit.
#[test]
fn futex_ping_pong_costs_its_syscalls() {
    const N: u64 = 100;
    for libc in LIBCS {
        let (d, s) = per_ops("bench_hot", libc, &["futex", "{}"], 1, N);
        let what = format!("{libc:?}: {d:?} over {N} round trips\n{}", s.stderr);
        assert_eq!(d.other_exits(), 0, "{what}");
        assert_eq!(d.vcpu_start, 0, "{what}");
        // Every extra syscall is a futex call (the waits' count depends on
        // timing), and only a FUTEX_WAIT can be woken.
        assert!(d.syscall <= s.calls("futex"), "{what}");
        assert!(d.syscall >= 2 * N, "two FUTEX_WAKEs a round: {what}");
        assert!(d.wakeup <= s.calls("futex"), "{what}");
    }
}

/// Copy-on-write faults: writing sequentially through 1024 pages shared
/// with a live child (more than a fork copies eagerly) takes one trap per
/// block of 16 pages, not one per page (fault-around; 1024 traps before).
#[test]
fn sequential_cow_faults_are_batched() {
    const N: u64 = 1024;
    for libc in LIBCS {
        let (d, s) = per_ops("bench_hot", libc, &["cow", "{}"], 0, N);
        let what = format!(
            "{libc:?}: {d:?} over {N} copy-on-write writes\n{}",
            s.stderr
        );
        // One fork for the batch: the child's stack and the parent's own
        // stack and data take a few faults besides.
        assert!(d.page_fault <= N / 16 + 16, "{what}");
        assert!(d.page_fault >= N / 16, "{what}");
        assert_eq!(d.interrupt + d.exception + d.error, 0, "{what}");
    }
}

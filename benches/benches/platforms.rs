//! The two platforms side by side (issue 15): each case runs natively, in
//! the sandbox on KVM (the default platform) and in the sandbox on the
//! seccomp platform (`SENTRY_PLATFORM=seccomp`), in one run, and the
//! summary gives both ratios to native and the seccomp/KVM ratio.
//!
//! Cases: the syscall round trip (raw `getppid`), `clock_gettime` through
//! libc (the vDSO), fork + `_exit` + wait with 0, 64 and 1024 MiB dirtied,
//! vfork, pthread create + join, a copy-on-write fault, and a pipe
//! ping-pong between two processes. Each guest times its own loop (see
//! `common`), so start-up is never measured.
//!
//! Needs the release sentry: `cargo build --release -p sentry`, then
//! `cargo bench -p benches --bench platforms` (append a case name such as
//! `-- fork_64mib` to run one; `--quick` for a short run). `BENCH_LIBC=musl`
//! uses the musl guests. No timed assertions.

mod common;

use std::time::Duration;

use common::{Side, Subject, guest, guest_subject, print_figure, print_ratio};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};

struct Case {
    /// Benchmark group name.
    name: &'static str,
    /// What one iteration is.
    what: &'static str,
    /// The guest and its arguments (the guest's serve protocol).
    guest: &'static str,
    args: &'static [&'static str],
    /// `--memory` for the sandbox.
    memory: Option<&'static str>,
}

const CASES: &[Case] = &[
    Case {
        name: "syscall",
        what: "syscall(SYS_getppid) round trip",
        guest: "bench_syscall",
        args: &["serve"],
        memory: None,
    },
    Case {
        name: "clock_gettime",
        what: "clock_gettime(CLOCK_MONOTONIC) through libc",
        guest: "bench_clock",
        args: &["clock_gettime", "serve"],
        memory: None,
    },
    Case {
        name: "fork_0mib",
        what: "fork + child _exit + waitpid",
        guest: "bench_fork",
        args: &["fork", "serve", "0"],
        memory: None,
    },
    Case {
        name: "fork_64mib",
        what: "fork + child _exit + waitpid, 64 MiB dirtied",
        guest: "bench_fork",
        args: &["fork", "serve", "64"],
        memory: None,
    },
    Case {
        name: "fork_1024mib",
        what: "fork + child _exit + waitpid, 1024 MiB dirtied",
        guest: "bench_fork",
        args: &["fork", "serve", "1024"],
        memory: Some("2G"),
    },
    Case {
        name: "vfork",
        what: "vfork + child _exit + waitpid",
        guest: "bench_fork",
        args: &["vfork", "serve", "0"],
        memory: None,
    },
    Case {
        name: "thread",
        what: "pthread_create + pthread_join",
        guest: "bench_hot",
        args: &["thread", "serve"],
        memory: None,
    },
    Case {
        name: "cow",
        what: "copy-on-write fault (sequential writes)",
        guest: "bench_hot",
        args: &["cow", "serve"],
        memory: None,
    },
    Case {
        name: "pipe",
        what: "pipe ping-pong round trip between two processes",
        guest: "bench_unix",
        args: &["pipe", "serve"],
        memory: None,
    },
];

struct Row {
    case: &'static Case,
    native: Subject,
    kvm: Subject,
    seccomp: Subject,
}

fn platforms(c: &mut Criterion) {
    let sentry = common::sentry_binary();
    let mut rows = Vec::new();
    for case in CASES {
        let bin = guest(case.guest);
        let args: Vec<String> = case.args.iter().map(|a| (*a).to_owned()).collect();
        let ready = if case.guest == "bench_syscall" || case.guest == "bench_clock" {
            None
        } else {
            Some("ready")
        };
        let sandbox = |platform| Side::Sandbox {
            sentry: sentry.clone(),
            memory: case.memory,
            platform: Some(platform),
        };
        let mut row = Row {
            case,
            native: guest_subject(
                &format!("{} native", case.name),
                Side::Native,
                bin.clone(),
                args.clone(),
                ready,
            ),
            kvm: guest_subject(
                &format!("{} kvm", case.name),
                sandbox("kvm"),
                bin.clone(),
                args.clone(),
                ready,
            ),
            seccomp: guest_subject(
                &format!("{} seccomp", case.name),
                sandbox("seccomp"),
                bin,
                args,
                ready,
            ),
        };
        let mut group = c.benchmark_group(case.name);
        group.sampling_mode(SamplingMode::Flat);
        if case.name == "fork_1024mib" {
            group
                .warm_up_time(Duration::from_millis(300))
                .measurement_time(Duration::from_secs(1));
        }
        row.native.bench(&mut group, "native");
        row.kvm.bench(&mut group, "kvm");
        row.seccomp.bench(&mut group, "seccomp");
        group.finish();
        rows.push(row);
    }

    println!("\nplatforms: mean per iteration");
    for r in &rows {
        println!("{}: {}", r.case.name, r.case.what);
        print_figure("native", &r.native);
        print_figure("sandbox, KVM platform", &r.kvm);
        print_figure("sandbox, seccomp platform", &r.seccomp);
    }
    for r in &rows {
        print_ratio(r.case.name, "kvm/native", &r.kvm, &r.native);
        print_ratio(r.case.name, "seccomp/native", &r.seccomp, &r.native);
        print_ratio(r.case.name, "seccomp/kvm", &r.seccomp, &r.kvm);
    }
}

criterion_group! {
    name = benches;
    config = common::criterion_config();
    targets = platforms
}
criterion_main!(benches);

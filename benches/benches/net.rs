//! Socket costs of issue 13, each beside native and the bare trap:
//!
//! * `tcp_pingpong`: a 1-byte round trip between two processes over a
//!   loopback TCP connection (TCP_NODELAY), the latency of a request;
//! * `tcp_bulk`: 64 KiB streamed from one process to another over loopback
//!   TCP (one operation = 64 KiB; throughput = 64 KiB / time);
//! * `unix_pingpong`: the same round trip over a Unix stream socketpair.
//!
//! Each is the guest `bench_net` (testdata/guests/bench_net.c), which
//! times its loop itself: `native` runs it on the host, `sandbox` under the
//! release sentry, in the same run; `trap_floor/platform_floor` is one bare
//! trap round trip through the `platform` crate. After the timings, each
//! case runs twice more in the sandbox with `--stats` to print its
//! crossings per operation.
//!
//! Needs the release sentry: `cargo build --release -p sentry`, then
//! `cargo bench -p benches --bench net` (append e.g. `-- tcp_bulk` to run
//! one case; `--quick` for a short run). `BENCH_LIBC=musl` uses the musl
//! build of the guest. No timed assertions.

mod common;

use common::floor::TrapFloor;
use common::{Runner, Side, Subject, guest, guest_subject, print_figure, print_ratio};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};

/// (mode, what one operation is, base count and extra count for the
/// crossing figures).
const CASES: &[(&str, &str, u64, u64)] = &[
    (
        "tcp_pingpong",
        "1-byte round trip over loopback TCP",
        1,
        200,
    ),
    ("tcp_bulk", "64 KiB over loopback TCP", 1, 20),
    (
        "unix_pingpong",
        "1-byte round trip over a Unix socketpair",
        1,
        200,
    ),
];

fn net(c: &mut Criterion) {
    let sentry = common::sentry_binary();
    let bin = guest("bench_net");

    let mut trap = Subject::new("bare trap floor", || {
        TrapFloor::new().map(|f| Box::new(f) as Box<dyn Runner>)
    });
    let mut group = c.benchmark_group("trap_floor");
    trap.bench(&mut group, "platform_floor");
    group.finish();

    let mut results = Vec::new();
    for &(mode, what, _, _) in CASES {
        let args = vec![mode.to_owned(), "serve".to_owned()];
        let mut native = guest_subject(
            &format!("{mode} native"),
            Side::Native,
            bin.clone(),
            args.clone(),
            Some("ready"),
        );
        let mut sandbox = guest_subject(
            &format!("{mode} sandbox"),
            Side::Sandbox {
                sentry: sentry.clone(),
                memory: None,
            },
            bin.clone(),
            args,
            Some("ready"),
        );
        let mut group = c.benchmark_group(mode);
        group.sampling_mode(SamplingMode::Flat);
        native.bench(&mut group, "native");
        sandbox.bench(&mut group, "sandbox");
        group.finish();
        results.push((mode, what, native, sandbox));
    }

    println!("\nnet: mean per operation");
    print_figure("bare trap (platform floor)", &trap);
    for (mode, what, native, sandbox) in &results {
        if !native.ran() && !sandbox.ran() {
            continue;
        }
        println!("{mode}: {what}");
        print_figure("native", native);
        print_figure("sandbox (sentry)", sandbox);
    }
    for (mode, _, native, sandbox) in &results {
        print_ratio(mode, "sandbox/native", sandbox, native);
        print_ratio(mode, "sandbox/bare_trap", sandbox, &trap);
    }
    for (mode, _, native, sandbox) in &results {
        if !native.ran() && !sandbox.ran() {
            continue;
        }
        let &(_, _, base, n) = CASES.iter().find(|c| c.0 == *mode).expect("a case");
        common::crossings::print_per_op(mode, &sentry, &bin, &[mode, "{}"], base, n);
    }
}

criterion_group! {
    name = benches;
    config = common::criterion_config();
    targets = net
}
criterion_main!(benches);

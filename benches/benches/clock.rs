//! Clock reads through libc: clock_gettime(CLOCK_MONOTONIC), gettimeofday
//! and time, each natively (the host's vDSO) and in the sandbox (the
//! sentry's vDSO, issue 11), beside the trapped syscall floor for scale.
//!
//! * `native` / `sandbox`: the guest `bench_clock FN serve`
//!   (testdata/guests/bench_clock.c) run directly or under the release
//!   sentry; it times N calls of FN inside the guest.
//! * `platform_floor`: the bare trap (what each call cost before the vDSO).
//!
//! The goal is the sandbox within 3× of native. Needs the release sentry:
//! `cargo build --release -p sentry`, then
//! `cargo bench -p benches --bench clock`. `BENCH_LIBC=musl` uses the musl
//! build of the guest. No timed assertions.

mod common;

use common::floor::TrapFloor;
use common::{Side, Subject, guest, guest_subject, print_figure, print_ratio};
use criterion::{Criterion, criterion_group, criterion_main};

fn clock_reads(c: &mut Criterion) {
    let sentry = common::sentry_binary();
    let bin = guest("bench_clock");
    let mut floor = Subject::new("platform floor", || {
        TrapFloor::new().map(|f| Box::new(f) as Box<dyn common::Runner>)
    });
    let mut rows = Vec::new();
    for func in ["clock_gettime", "gettimeofday", "time"] {
        let args = vec![func.to_owned(), "serve".to_owned()];
        let mut native = guest_subject("native", Side::Native, bin.clone(), args.clone(), None);
        let mut sandbox = guest_subject(
            "sandbox",
            Side::Sandbox {
                sentry: sentry.clone(),
                memory: None,
                platform: None,
            },
            bin.clone(),
            args,
            None,
        );
        let mut group = c.benchmark_group(format!("clock_{func}"));
        native.bench(&mut group, "native");
        sandbox.bench(&mut group, "sandbox");
        group.finish();
        rows.push((func, native, sandbox));
    }
    let mut group = c.benchmark_group("clock_trap_floor");
    floor.bench(&mut group, "platform_floor");
    group.finish();

    for (func, native, sandbox) in &rows {
        println!("\nclock_{func}: {func} through libc, mean per call");
        print_figure("native", native);
        print_figure("sandbox (sentry vDSO)", sandbox);
        print_ratio(&format!("clock_{func}"), "sandbox/native", sandbox, native);
        print_ratio(&format!("clock_{func}"), "floor/sandbox", &floor, sandbox);
    }
    print_figure("platform floor (bare trap)", &floor);
}

criterion_group! {
    name = benches;
    config = common::criterion_config();
    targets = clock_reads
}
criterion_main!(benches);

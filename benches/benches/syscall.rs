//! Trapped-syscall round trip.
//!
//! * `native`: the guest `bench_syscall` (testdata/guests/bench_syscall.c)
//!   run directly on the host. It times N raw `syscall(SYS_getppid)` calls
//!   with `clock_gettime(CLOCK_MONOTONIC)` and reports the total.
//! * `sandbox`: the same binary under the release sentry
//!   (`target/release/sentry run -- bench_syscall serve`), where every
//!   syscall traps out of the VM into the sentry and back.
//! * `platform_floor`: the bare trap floor — a hand-assembled guest looping
//!   on `syscall` through the `platform` crate directly, the host resuming it
//!   at once (no sentry work), timed host-side.
//!
//! The guests run in `serve` mode: one process per subject answers every
//! criterion sample (it reads N on stdin and prints the time N calls took),
//! so process and VM start-up are never timed. `iter_custom` returns the
//! guest-measured time of `iters` calls, so criterion's statistics are per
//! call. At the end a summary prints the mean per call of each subject and
//! the ratios sandbox/native and sandbox/floor.
//!
//! Needs the release sentry: `cargo build --release -p sentry`, then
//! `cargo bench -p benches --bench syscall`. `BENCH_LIBC=musl` uses the musl
//! build of the guest; `BENCH_TIMEOUT=secs` bounds each request (default
//! 120). No timed assertions: nothing here fails on a slow machine.

mod common;

use common::floor::TrapFloor;
use common::{Side, Subject, guest, guest_subject, print_figure, print_ratio};
use criterion::{Criterion, criterion_group, criterion_main};

fn syscall_roundtrip(c: &mut Criterion) {
    let sentry = common::sentry_binary();
    let bin = guest("bench_syscall");
    let args = vec!["serve".to_owned()];
    let mut native = guest_subject("native", Side::Native, bin.clone(), args.clone(), None);
    let mut sandbox = guest_subject(
        "sandbox",
        Side::Sandbox {
            sentry,
            memory: None,
            platform: None,
        },
        bin,
        args,
        None,
    );
    let mut floor = Subject::new("platform floor", || {
        TrapFloor::new().map(|f| Box::new(f) as Box<dyn common::Runner>)
    });

    let mut group = c.benchmark_group("syscall_roundtrip");
    native.bench(&mut group, "native");
    sandbox.bench(&mut group, "sandbox");
    floor.bench(&mut group, "platform_floor");
    group.finish();

    println!("\nsyscall_roundtrip: raw syscall(SYS_getppid), mean per call");
    print_figure("native", &native);
    print_figure("sandbox (sentry)", &sandbox);
    print_figure("platform floor (bare trap)", &floor);
    print_ratio("syscall_roundtrip", "sandbox/native", &sandbox, &native);
    print_ratio("syscall_roundtrip", "sandbox/floor", &sandbox, &floor);
}

criterion_group! {
    name = benches;
    config = common::criterion_config();
    targets = syscall_roundtrip
}
criterion_main!(benches);

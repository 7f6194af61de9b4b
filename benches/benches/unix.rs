//! Unix domain sockets between two processes, beside native:
//!
//! * `ping`: a one-byte ping-pong round trip over a stream socketpair
//!   (parent writes, forked child echoes, parent reads);
//! * `bulk`: 64 KiB chunks written by the child and read by the parent
//!   (the figure is per chunk; the summary turns it into MB/s).
//!
//! Both are the guest `bench_unix` (testdata/guests/bench_unix.c), which
//! times its loop itself: `native` runs it on the host, `sandbox` under
//! the release sentry, in the same run.
//!
//! Needs the release sentry: `cargo build --release -p sentry`, then
//! `cargo bench -p benches --bench unix` (`-- ping` for one case,
//! `--quick` for a short run). `BENCH_LIBC=musl` uses the musl build of the
//! guest; `BENCH_TIMEOUT=secs` bounds each request. No timed assertions.

mod common;

use common::{Side, guest, guest_subject, print_figure, print_ratio};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};

/// (mode, what one operation is).
const CASES: &[(&str, &str)] = &[
    ("ping", "1-byte ping-pong round trip between two processes"),
    ("bulk", "one 64 KiB chunk from child to parent"),
];

fn unix_sockets(c: &mut Criterion) {
    let sentry = common::sentry_binary();
    let bin = guest("bench_unix");
    let mut results = Vec::new();
    for &(mode, what) in CASES {
        let args = vec![mode.to_owned(), "serve".to_owned()];
        let mut native = guest_subject(
            &format!("unix {mode} native"),
            Side::Native,
            bin.clone(),
            args.clone(),
            Some("ready"),
        );
        let mut sandbox = guest_subject(
            &format!("unix {mode} sandbox"),
            Side::Sandbox {
                sentry: sentry.clone(),
                memory: None,
                platform: None,
            },
            bin.clone(),
            args,
            Some("ready"),
        );
        let mut group = c.benchmark_group(format!("unix_{mode}"));
        group.sampling_mode(SamplingMode::Flat);
        native.bench(&mut group, "native");
        sandbox.bench(&mut group, "sandbox");
        group.finish();
        results.push((mode, what, native, sandbox));
    }
    println!("\nunix sockets: mean per operation");
    for (mode, what, native, sandbox) in &results {
        if !native.ran() && !sandbox.ran() {
            continue;
        }
        println!("{mode}: {what}");
        print_figure("native", native);
        print_figure("sandbox (sentry)", sandbox);
        if *mode == "bulk" {
            for (side, s) in [("native", native), ("sandbox", sandbox)] {
                if let Ok(ns) = s.per_iter_ns() {
                    println!("  {side}: {:.0} MB/s", 65536.0 / ns * 1e3);
                }
            }
        }
    }
    for (mode, _, native, sandbox) in &results {
        print_ratio(&format!("unix_{mode}"), "sandbox/native", sandbox, native);
    }
}

criterion_group! {
    name = benches;
    config = common::criterion_config();
    targets = unix_sockets
}
criterion_main!(benches);

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

use criterion::{Criterion, criterion_group, criterion_main};

/// (mode, what one operation is, base count and extra count for the
/// crossing figures).
const CASES: &[common::modes::Mode] = &[
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
    common::modes::bench_modes(c, "net", "bench_net", CASES);
}

criterion_group! {
    name = benches;
    config = common::criterion_config();
    targets = net
}
criterion_main!(benches);

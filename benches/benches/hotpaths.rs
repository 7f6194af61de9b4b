//! The hot paths of issue 11, each beside native and the bare trap:
//!
//! * `thread`: pthread_create of a thread that returns at once +
//!   pthread_join;
//! * `futex`: a round trip between two threads through a futex word (two
//!   FUTEX_WAKEs, and FUTEX_WAITs when the other side is not done yet);
//! * `raise`: raise(SIGUSR1) with a handler installed;
//! * `cow`: one copy-on-write fault (the parent writes sequentially to
//!   pages it shares with a live child it forked; only the writes are
//!   timed).
//!
//! Each is the guest `bench_hot` (testdata/guests/bench_hot.c), which
//! times its loop itself: `native` runs it on the host, `sandbox` under the
//! release sentry, in the same run. `trap_floor/platform_floor` is one bare
//! trap round trip through the `platform` crate (see `common/floor.rs`):
//! the summary says how many bare traps each path costs in the sandbox.
//! After the timings, each path is run twice more in the sandbox with
//! `--stats` to print its crossings per operation (counts, which do not
//! depend on the machine's load).
//!
//! Needs the release sentry: `cargo build --release -p sentry`, then
//! `cargo bench -p benches --bench hotpaths` (append e.g. `-- raise` to
//! run one case; `--quick` for a short run). `BENCH_LIBC=musl` uses the
//! musl build of the guest; `BENCH_TIMEOUT=secs` bounds each request. No
//! timed assertions.

mod common;

use criterion::{Criterion, criterion_group, criterion_main};

/// (mode, what one operation is, base count and extra count for the
/// crossing figures).
const CASES: &[common::modes::Mode] = &[
    ("thread", "pthread_create + pthread_join", 1, 200),
    ("futex", "futex ping-pong round trip", 1, 200),
    ("raise", "raise(SIGUSR1) with a handler", 1, 200),
    ("cow", "copy-on-write fault (sequential writes)", 0, 1024),
];

fn hotpaths(c: &mut Criterion) {
    common::modes::bench_modes(c, "hotpaths", "bench_hot", CASES);
}

criterion_group! {
    name = benches;
    config = common::criterion_config();
    targets = hotpaths
}
criterion_main!(benches);

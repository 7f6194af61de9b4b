//! fork/vfork + child `_exit(0)` + `waitpid`, with and without dirty
//! memory.
//!
//! * `native`: the guest `bench_fork` (testdata/guests/bench_fork.c) run
//!   directly on the host. It mallocs DIRTY_MIB MiB and writes one byte per
//!   4 KiB page, then times N iterations of fork (or vfork) + child
//!   `_exit(0)` + `waitpid` with `clock_gettime(CLOCK_MONOTONIC)`.
//! * `sandbox`: the same binary under the release sentry (`--memory 2G` for
//!   the 1024 MiB case, 6G for 4096 MiB; the default cap is 1G), with its
//!   default fork, which shares leaf page tables above 512 present pages
//!   (issue 12; `benches/fork_share.sh` sets sharing on and off side by
//!   side and times the first writes and rewrites after a fork).
//! * `platform_floor`: the same loop through the `platform` crate directly
//!   (see `common/floor.rs`): copy-on-write copy of the page tables, the
//!   child on a second vCPU to its exit, the child's teardown, the parent's
//!   wait and its copy-on-write fault on the stack — no sentry work. Timed
//!   host-side.
//! * `trap_floor/platform_floor`: one bare trap round trip, as a unit: the
//!   summary also says how many bare traps one sandboxed fork costs.
//!
//! The summary also gives the time per MiB dirtied of the cases with
//! dirty memory, and each case's crossings per iteration in the sandbox
//! (`--stats` of two extra runs: counts, which the load does not change).
//!
//! Cases: fork with 0, 1, 64, 1024 and 4096 MiB dirtied, vfork with 0 MiB. The
//! guests run in `serve` mode (one process per subject answers all of
//! criterion's samples: it reads N on stdin and prints the time N
//! iterations took), so start-up and dirtying are never timed and are paid
//! once. `iter_custom` returns the guest-measured time of `iters`
//! iterations. Sampling is flat, and the 1024 and 4096 MiB cases are kept to a few
//! iterations per sample. A sandbox run that fails or times out is killed
//! and reported as FAILED in the summary; the other cases still run.
//!
//! Needs the release sentry: `cargo build --release -p sentry`, then
//! `cargo bench -p benches --bench fork` (append e.g. `-- fork_64mib` to run
//! one case). `BENCH_LIBC=musl` uses the musl build of the guest;
//! `BENCH_TIMEOUT=secs` bounds each request and the set-up (default 120).
//! No timed assertions.

mod common;

use std::time::Duration;

use common::floor::{ForkFloor, TrapFloor};
use common::{Runner, Side, Subject, guest, guest_subject, print_figure, print_ratio};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};

struct Case {
    mode: &'static str,
    dirty_mib: u64,
    /// `--memory` for the sandbox.
    memory: Option<&'static str>,
}

const CASES: &[Case] = &[
    Case {
        mode: "fork",
        dirty_mib: 0,
        memory: None,
    },
    Case {
        mode: "vfork",
        dirty_mib: 0,
        memory: None,
    },
    Case {
        mode: "fork",
        dirty_mib: 1,
        memory: None,
    },
    Case {
        mode: "fork",
        dirty_mib: 64,
        memory: None,
    },
    Case {
        mode: "fork",
        dirty_mib: 1024,
        memory: Some("2G"),
    },
    Case {
        mode: "fork",
        dirty_mib: 4096,
        memory: Some("6G"),
    },
];

struct Measured {
    name: String,
    mode: &'static str,
    dirty_mib: u64,
    native: Subject,
    sandbox: Subject,
    floor: Subject,
}

impl Measured {
    fn ran(&self) -> bool {
        self.native.ran() || self.sandbox.ran() || self.floor.ran()
    }
}

fn fork(c: &mut Criterion) {
    let sentry = common::sentry_binary();
    let bin = guest("bench_fork");

    let mut trap = Subject::new("bare trap floor", || {
        TrapFloor::new().map(|f| Box::new(f) as Box<dyn Runner>)
    });
    let mut group = c.benchmark_group("trap_floor");
    trap.bench(&mut group, "platform_floor");
    group.finish();

    let mut results = Vec::new();
    for case in CASES {
        let name = format!("{}_{}mib", case.mode, case.dirty_mib);
        let args = vec![
            case.mode.to_owned(),
            "serve".to_owned(),
            case.dirty_mib.to_string(),
        ];
        let ready = Some("ready");
        let mut m = Measured {
            native: guest_subject(
                &format!("{name} native"),
                Side::Native,
                bin.clone(),
                args.clone(),
                ready,
            ),
            sandbox: guest_subject(
                &format!("{name} sandbox"),
                Side::Sandbox {
                    sentry: sentry.clone(),
                    memory: case.memory,
                    platform: None,
                },
                bin.clone(),
                args,
                ready,
            ),
            floor: {
                let (vfork, mib) = (case.mode == "vfork", case.dirty_mib);
                Subject::new(format!("{name} platform floor"), move || {
                    ForkFloor::new(vfork, mib).map(|f| Box::new(f) as Box<dyn Runner>)
                })
            },
            name,
            mode: case.mode,
            dirty_mib: case.dirty_mib,
        };

        let mut group = c.benchmark_group(&m.name);
        group.sampling_mode(SamplingMode::Flat);
        if case.dirty_mib >= 1024 {
            // A few iterations per sample: these take tens of ms each.
            group
                .warm_up_time(Duration::from_millis(300))
                .measurement_time(Duration::from_secs(1));
        }
        m.native.bench(&mut group, "native");
        m.sandbox.bench(&mut group, "sandbox");
        m.floor.bench(&mut group, "platform_floor");
        group.finish();
        results.push(m);
    }

    println!("\nfork: (v)fork + child _exit(0) + waitpid, mean per iteration");
    print_figure("bare trap (platform floor)", &trap);
    for m in results.iter().filter(|m| m.ran()) {
        println!("{}:", m.name);
        print_figure("native", &m.native);
        print_figure("sandbox (sentry)", &m.sandbox);
        print_figure("platform floor", &m.floor);
    }
    for m in &results {
        print_ratio(&m.name, "sandbox/native", &m.sandbox, &m.native);
        print_ratio(&m.name, "sandbox/floor", &m.sandbox, &m.floor);
        print_ratio(&m.name, "sandbox/bare_trap", &m.sandbox, &trap);
    }
    // The time a fork takes per MiB its parent has dirtied: the baseline
    // for a fork whose cost does not grow with memory.
    for m in results.iter().filter(|m| m.dirty_mib > 0) {
        for (side, s) in [("native", &m.native), ("sandbox", &m.sandbox)] {
            if let (true, Ok(ns)) = (s.ran(), s.per_iter_ns()) {
                println!(
                    "per_mib {} {side} = {} per MiB dirtied",
                    m.name,
                    common::fmt_ns(ns / m.dirty_mib as f64)
                );
            }
        }
    }
    // Crossings per iteration, from --stats (counts, not times).
    for m in results.iter().filter(|m| m.sandbox.ran()) {
        let n = if m.dirty_mib >= 64 { 10 } else { 100 };
        let mib = m.dirty_mib.to_string();
        common::crossings::print_per_op(&m.name, &sentry, &bin, &[m.mode, "{}", &mib], 0, n);
    }
}

criterion_group! {
    name = benches;
    config = common::criterion_config();
    targets = fork
}
criterion_main!(benches);

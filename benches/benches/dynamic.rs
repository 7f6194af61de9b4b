//! Start-up and pipelines of Debian's dynamically linked programs (issue
//! 14), natively and in the sandbox (`sentry run --root /`), in the same
//! run:
//!
//! * `python3_startup`: `python3 -c pass` (the interpreter, libc and
//!   libm through ld.so, then Python's own start-up: hundreds of
//!   syscalls, most of them opens, stats and reads of its library);
//! * `coreutils_pipeline`: `bash -c 'seq 20000 | sort -r | uniq | wc -l'`
//!   (four dynamic programs forked, executed and piped together).
//!
//! Each iteration is a whole process run: the sandbox's figure includes
//! creating the VM and the sentry's set-up, the native one a fork and
//! exec. Needs the release sentry (`cargo build --release -p sentry`),
//! then `cargo bench -p benches --bench dynamic`. No timed assertions.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};

/// Runs `cmd` to completion with no input and its output discarded;
/// panics unless it succeeds.
fn run(cmd: &mut Command) {
    let status = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("spawn");
    assert!(status.success(), "{cmd:?}: {status}");
}

fn native(program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(program);
    c.args(args).env_clear().env("PATH", "/usr/bin:/bin");
    c
}

fn sandboxed(sentry: &Path, program: &str, args: &[&str]) -> Command {
    let mut c = Command::new(sentry);
    c.args(["run", "--root", "/", "--", program]).args(args);
    c
}

/// Times `iters` runs of `make()`'s command.
fn timed(iters: u64, make: &dyn Fn() -> Command) -> Duration {
    let start = Instant::now();
    for _ in 0..iters {
        run(&mut make());
    }
    start.elapsed()
}

fn dynamic_programs(c: &mut Criterion) {
    let sentry = common::sentry_binary();
    let cases: [(&str, &str, &[&str]); 2] = [
        ("python3_startup", "/usr/bin/python3", &["-c", "pass"]),
        (
            "coreutils_pipeline",
            "/bin/bash",
            &["-c", "seq 20000 | sort -r | uniq | wc -l"],
        ),
    ];
    let mut means = Vec::new();
    for (name, program, args) in cases {
        let mut group = c.benchmark_group(name);
        group.sample_size(10);
        group.measurement_time(Duration::from_secs(5));
        let mut total = [(Duration::ZERO, 0u64); 2];
        group.bench_function("native", |b| {
            b.iter_custom(|iters| {
                let d = timed(iters, &|| native(program, args));
                total[0].0 += d;
                total[0].1 += iters;
                d
            });
        });
        group.bench_function("sandbox", |b| {
            b.iter_custom(|iters| {
                let d = timed(iters, &|| sandboxed(&sentry, program, args));
                total[1].0 += d;
                total[1].1 += iters;
                d
            });
        });
        group.finish();
        means.push((name, total));
    }
    for (name, [(n, ni), (s, si)]) in means {
        let n = n.as_secs_f64() / ni.max(1) as f64;
        let s = s.as_secs_f64() / si.max(1) as f64;
        println!(
            "\n{name}: native {:.1} ms, sandbox {:.1} ms, sandbox/native {:.1}x",
            n * 1e3,
            s * 1e3,
            s / n
        );
    }
}

criterion_group! {
    name = benches;
    config = common::criterion_config();
    targets = dynamic_programs
}
criterion_main!(benches);

//! A bench of one guest's modes: each mode of a guest that times its own
//! loop (`<guest> <mode> serve`) runs natively and in the sandbox, beside
//! the bare trap, and the summary prints the figures, the ratios and the
//! crossings per operation (`--stats` of two extra sandbox runs).

use criterion::{Criterion, SamplingMode};

use super::floor::TrapFloor;
use super::{Runner, Side, Subject, guest, guest_subject, print_figure, print_ratio};

/// One mode: (mode, what one operation is, base count and extra count for
/// the crossing figures).
pub type Mode = (&'static str, &'static str, u64, u64);

/// Benchmarks every mode of the guest `guest_name`; `title` heads the
/// summary.
pub fn bench_modes(c: &mut Criterion, title: &str, guest_name: &str, modes: &[Mode]) {
    let sentry = super::sentry_binary();
    let bin = guest(guest_name);

    let mut trap = Subject::new("bare trap floor", || {
        TrapFloor::new().map(|f| Box::new(f) as Box<dyn Runner>)
    });
    let mut group = c.benchmark_group("trap_floor");
    trap.bench(&mut group, "platform_floor");
    group.finish();

    let mut results = Vec::new();
    for &(mode, what, _, _) in modes {
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
                platform: None,
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

    println!("\n{title}: mean per operation");
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
        let &(_, _, base, n) = modes.iter().find(|c| c.0 == *mode).expect("a case");
        super::crossings::print_per_op(mode, &sentry, &bin, &[mode, "{}"], base, n);
    }
}

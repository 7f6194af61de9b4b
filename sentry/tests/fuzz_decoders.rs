//! Fuzzing the sentry's syscall argument decoders and validators on the
//! stable toolchain: a seeded mutation loop over the targets of
//! `fuzzing/decoders.rs` (clone/clone3 arguments, sigaction, siginfo,
//! ucontext and signal frames, the pending-signal queue, the syscall
//! table), each checking real properties against a model or a round trip.
//!
//! Runs a few seconds in `cargo test`; `FUZZ_SECONDS=600 cargo test
//! --release -p sentry --test fuzz_decoders` runs longer (see
//! docs/FUZZING.md for `FUZZ_SEED`, `FUZZ_ITERS` and `FUZZ_REPLAY`).

#[path = "fuzzing/decoders.rs"]
mod decoders;

use decoders::TARGETS;
use testdata::fuzz::{Budget, Rng, mutate_bytes, run_case};

const CI_SECONDS: f64 = 4.0;

#[test]
fn fuzz_decoders() {
    if let Some(path) = std::env::var_os("FUZZ_REPLAY") {
        let data = std::fs::read(&path).expect("FUZZ_REPLAY file (absolute path)");
        decoders::fuzz_one(&data);
        return;
    }
    let budget = Budget::from_env(CI_SECONDS, 0xdec0de);
    let mut rng = Rng::new(budget.seed);
    // Per target, a small pool of earlier inputs to mutate.
    let mut pools: Vec<Vec<Vec<u8>>> = vec![Vec::new(); TARGETS.len()];
    let mut counts = vec![0u64; TARGETS.len()];
    let mut iter = 0;
    while budget.more(iter, 5000) {
        let t = rng.index(TARGETS.len());
        let pool = &mut pools[t];
        let mut data = if pool.is_empty() || rng.chance(1, 3) {
            let len = rng.index(600);
            if rng.chance(1, 2) {
                rng.bytes(len)
            } else {
                // Words of edge values: flags, addresses, sizes.
                (0..len / 8 + 1)
                    .flat_map(|_| rng.edgy_u64().to_le_bytes())
                    .collect()
            }
        } else {
            pool[rng.index(pool.len())].clone()
        };
        let other = pool.last().cloned().unwrap_or_default();
        mutate_bytes(&mut rng, &mut data, &other, 1024);
        let mut input = vec![t as u8];
        input.extend_from_slice(&data);
        run_case(TARGETS[t].0, budget.seed, iter, &input, || {
            decoders::fuzz_one(&input)
        });
        if pool.len() < 64 {
            pool.push(data);
        } else {
            let i = rng.index(64);
            pool[i] = data;
        }
        counts[t] += 1;
        iter += 1;
    }
    let summary: Vec<String> = TARGETS
        .iter()
        .zip(&counts)
        .map(|((name, _), n)| format!("{name} {n}"))
        .collect();
    eprintln!(
        "fuzz_decoders: seed {:#x}, {iter} cases in {:?}: {}",
        budget.seed,
        budget.time,
        summary.join(", ")
    );
    assert!(counts.iter().all(|&n| n > 0), "a target never ran");
}

/// The clone rules of the model are themselves right on hand-picked cases
/// (so a wrong model cannot make the fuzz test vacuous).
#[test]
fn clone_model_spot_checks() {
    use sentry::kernel::clone::flags::*;
    use sentry::kernel::clone::{CloneArgs, Origin};
    let legacy = |f: u64| CloneArgs::legacy(f, 0, 0, 0, 0);
    let thread = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD;
    assert!(decoders::clone_violations(&legacy(thread), Origin::Legacy, false).is_empty());
    assert!(!decoders::clone_violations(&legacy(CLONE_THREAD), Origin::Legacy, false).is_empty());
    assert!(!decoders::clone_violations(&legacy(CLONE_SIGHAND), Origin::Legacy, false).is_empty());
    assert!(!decoders::clone_violations(&legacy(CLONE_PARENT), Origin::Legacy, true).is_empty());
    let mut c = CloneArgs {
        flags: CLONE_VM,
        stack: 0x1000,
        ..Default::default()
    };
    assert!(!decoders::clone_violations(&c, Origin::Clone3, false).is_empty());
    c.stack_size = 0x1000;
    assert!(decoders::clone_violations(&c, Origin::Clone3, false).is_empty());
    for (name, target) in TARGETS {
        for input in [&[][..], &[0xff; 700][..], &[0; 700][..]] {
            run_case(name, 0, 0, input, || target(input));
        }
    }
}

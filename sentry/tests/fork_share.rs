//! Fork with shared page tables, on a real platform (KVM, or seccomp with
//! `SENTRY_PLATFORM=seccomp`) but without running
//! a guest: a seeded loop of forks, writes, unmaps, protection changes,
//! discards and exits over a family of address spaces that share 8 MiB of
//! dirtied private memory, checked against a model of what each process
//! must see. It fails if a write, unmap, protection change or discard in
//! one address space shows in another through a shared leaf table, and at
//! the end if a frame reference leaked or was dropped twice (every data
//! frame must be free once every address space is gone).
//!
//! Each run does it with sharing on and again with it off (the per-page
//! fork), which must behave the same. `FUZZ_SECONDS`, `FUZZ_SEED` as for
//! the other fuzz tests.

use std::collections::BTreeMap;
use std::sync::Arc;

use platform::{Platform, PlatformConfig};
use sentry::mm::{AddressSpace, Advice, MapRequest, Placement, Prot, Runner};
use testdata::fuzz::{Budget, Rng};

const PAGE: u64 = 4096;
const BASE: u64 = 0x4000_0000;
const PAGES: u64 = 2048;
const RO: Prot = Prot {
    read: true,
    write: false,
    exec: false,
};

/// What one page holds for a process: `None` unmapped, else its value and
/// whether it is writable.
type Model = BTreeMap<u64, Option<(u64, bool)>>;

struct Proc {
    mm: Arc<AddressSpace>,
    model: Model,
}

fn va(page: u64) -> u64 {
    BASE + page * PAGE
}

/// The value a page holds: at its first and last word.
fn check(p: &Proc, page: u64, what: &str) {
    let want = p.model[&page];
    let got = p.mm.read_u64(va(page)).ok();
    match want {
        None => assert_eq!(got, None, "{what}: page {page} should be unmapped"),
        Some((v, _)) => {
            assert_eq!(got, Some(v), "{what}: page {page} first word");
            assert_eq!(
                p.mm.read_u64(va(page) + PAGE - 8).ok(),
                Some(v),
                "{what}: page {page} last word"
            );
        }
    }
}

fn write(p: &mut Proc, page: u64, v: u64) {
    let ok = p.mm.write_u64(va(page), v).is_ok() && p.mm.write_u64(va(page) + PAGE - 8, v).is_ok();
    match p.model[&page] {
        Some((_, true)) => {
            assert!(ok, "write to writable page {page} failed");
            p.model.insert(page, Some((v, true)));
        }
        _ => assert!(!ok, "write to page {page} should fail"),
    }
}

/// Commits what the operations changed, as a task entering the guest
/// would (the old tables are released then).
fn commit(p: &Proc, runner: &Arc<Runner>) {
    p.mm.attach(runner);
    p.mm.enter(runner).unwrap();
    p.mm.leave(runner);
    p.mm.detach(runner);
}

fn run(machine: &Arc<dyn Platform>, rng: &mut Rng, share: bool) {
    sentry::mm::set_fork_share(share);
    let context = machine.new_context().unwrap();
    let runner = Runner::new(1, context.kicker());
    let mm = AddressSpace::new(Arc::clone(machine)).unwrap();
    let req = MapRequest {
        placement: Placement::Fixed(BASE),
        len: PAGES * PAGE,
        prot: Prot::RW,
        shared: false,
        grows_down: false,
        noreserve: false,
    };
    mm.map_anon(&req).unwrap();
    let mut first = Proc {
        mm,
        model: Model::new(),
    };
    for page in 0..PAGES {
        first.model.insert(page, Some((0, true)));
        write(&mut first, page, page);
    }
    let mut procs = vec![first];
    let mut next_value = 1 << 32;
    for _ in 0..150 {
        let i = rng.index(procs.len());
        let page = rng.below(PAGES);
        let span = if rng.chance(1, 4) { 700 } else { 8 };
        let n = 1 + rng.below(span);
        let end = (page + n).min(PAGES);
        match rng.below(9) {
            0 | 1 if procs.len() < 6 => {
                let child = procs[i].mm.fork().unwrap();
                let model = procs[i].model.clone();
                procs.push(Proc { mm: child, model });
            }
            2 if procs.len() > 1 => {
                procs.swap_remove(i);
            }
            3 => {
                let p = &mut procs[i];
                p.mm.unmap(va(page), va(end)).unwrap();
                for q in page..end {
                    p.model.insert(q, None);
                }
            }
            4 => {
                let p = &mut procs[i];
                let writable = rng.chance(1, 2);
                let prot = if writable { Prot::RW } else { RO };
                if p.mm.protect(va(page), va(end), prot).is_ok() {
                    for q in page..end {
                        if let Some(Some((v, _))) = p.model.get(&q).copied() {
                            p.model.insert(q, Some((v, writable)));
                        }
                    }
                }
            }
            5 => {
                let p = &mut procs[i];
                if p.mm.advise(va(page), va(end), Advice::DontNeed).is_ok() {
                    for q in page..end {
                        if let Some(Some((_, w))) = p.model.get(&q).copied() {
                            p.model.insert(q, Some((0, w)));
                        }
                    }
                }
            }
            _ => {
                for q in page..end {
                    next_value += 1;
                    write(&mut procs[i], q, next_value);
                }
            }
        }
        // Every process still sees exactly its own memory where anything
        // happened, and a random sample elsewhere.
        for p in &procs {
            if rng.chance(3, 4) {
                commit(p, &runner);
            }
            for q in page..end {
                check(p, q, "after an operation");
            }
            for _ in 0..8 {
                check(p, rng.below(PAGES), "sample");
            }
        }
    }
    for p in &procs {
        for q in 0..PAGES {
            check(p, q, "at the end");
        }
    }
}

#[test]
fn forks_share_tables_without_leaks() {
    let budget = Budget::from_env(1.0, 0xf0c5);
    let mut rng = Rng::new(budget.seed);
    // The platform SENTRY_PLATFORM names (KVM by default): its
    // translations are what must not leak.
    let config = PlatformConfig {
        memory_limit: 256 << 20,
    };
    let machine = match sentry::PlatformKind::from_env() {
        sentry::PlatformKind::Vm => platform::new_platform(config),
        sentry::PlatformKind::Seccomp => platform::seccomp::new_platform(config),
    }
    .expect("the platform");
    assert!(machine.shares_tables(), "the sharing self-test failed here");
    let mut iter = 0;
    while budget.more(iter, 1) {
        for share in [true, false] {
            run(&machine, &mut rng, share);
            // Everything was dropped: no data frame may stay referenced
            // (on seccomp, the frames a forked child's stub process mapped
            // go back once the platform's reaper has emptied or killed
            // it, shortly after the drop).
            let start = std::time::Instant::now();
            while machine.frames().data_bytes_in_use() != 0 && start.elapsed().as_secs() < 10 {
                std::thread::sleep(std::time::Duration::from_millis(1));
            }
            assert_eq!(
                machine.frames().data_bytes_in_use(),
                0,
                "frames leaked (seed {:#x}, sharing {share})",
                budget.seed
            );
        }
        iter += 1;
    }
    sentry::mm::set_fork_share(true);
}

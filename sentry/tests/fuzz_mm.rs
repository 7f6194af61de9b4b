//! Fuzzing the address space behind mmap, munmap, mprotect, mremap,
//! madvise and brk (through the syscalls' own decode-then-apply path,
//! `sentry::syscalls::mm::do_*`), and the guest-memory copies every
//! syscall decoder goes through (`read`, `write`, `read_cstring`,
//! `read_timespec_at`), on a real KVM machine but without running a
//! guest: a seeded loop of random
//! operations with extreme arguments, checking after each one that
//!
//! * nothing panics and every error is one of the errnos Linux gives for
//!   these calls;
//! * the VMAs (as /proc/self/maps shows them) stay sorted, page-aligned,
//!   disjoint and inside [mmap_min_addr, TASK_SIZE);
//! * a successful mmap/mremap returns a page-aligned range inside the user
//!   address space that is now mapped, a successful munmap leaves nothing
//!   mapped in its range;
//! * memory reads back what was written, and `read_timespec_at` accepts
//!   exactly the valid timespecs.
//!
//! `FUZZ_SECONDS`, `FUZZ_ITERS`, `FUZZ_SEED` as for the other fuzz tests
//! (docs/FUZZING.md).

use std::sync::Arc;

use platform::PlatformConfig;
use sentry::abi::Fd;
use sentry::abi::mm::{MmapFlags, MmapProt};
use sentry::errno::Errno;
use sentry::mm::{AddressSpace, MMAP_MIN_ADDR, TASK_SIZE};
use sentry::syscalls::mm as sys;
use testdata::fuzz::{Budget, Rng};

const CI_SECONDS: f64 = 3.0;
const PAGE: u64 = 4096;

const MAP_SHARED: u64 = 1;
const MAP_PRIVATE: u64 = 2;
const MAP_FIXED: u64 = 0x10;
const MAP_ANONYMOUS: u64 = 0x20;
const MAP_GROWSDOWN: u64 = 0x100;
const MAP_NORESERVE: u64 = 0x4000;
const MAP_POPULATE: u64 = 0x8000;
const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;

/// Errnos Linux's memory calls and copies return.
fn plausible(e: Errno) -> bool {
    [
        Errno::EINVAL,
        Errno::ENOMEM,
        Errno::EFAULT,
        Errno::EEXIST,
        Errno::EACCES,
        Errno::EPERM,
        Errno::ENODEV,
        Errno::EBADF,
        Errno::EAGAIN,
        Errno::EOVERFLOW,
    ]
    .contains(&e)
}

fn vmas(mm: &AddressSpace) -> Vec<(u64, u64, String)> {
    mm.maps()
        .lines()
        .map(|l| {
            let range = l.split_whitespace().next().expect("range");
            let (a, b) = range.split_once('-').expect("a-b");
            (
                u64::from_str_radix(a, 16).expect("hex"),
                u64::from_str_radix(b, 16).expect("hex"),
                l.to_owned(),
            )
        })
        .collect()
}

/// Issue 7: no mapping may start below mmap_min_addr, whatever route
/// (MAP_GROWSDOWN growth, mremap) made it.
fn below_min(msg: String) {
    panic!("mmap_min_addr not enforced: {msg}");
}

fn check_vmas(mm: &AddressSpace, after: &str) {
    let v = vmas(mm);
    for (s, e, line) in &v {
        assert!(s < e, "{after}: empty VMA {line}");
        assert!(
            s % PAGE == 0 && e % PAGE == 0,
            "{after}: unaligned VMA {line}"
        );
        if *s < MMAP_MIN_ADDR {
            below_min(format!("{after}: VMA below mmap_min_addr: {line}"));
        }
        assert!(*e <= TASK_SIZE, "{after}: VMA beyond TASK_SIZE: {line}");
    }
    for w in v.windows(2) {
        assert!(
            w[0].1 <= w[1].0,
            "{after}: VMAs overlap: {} / {}",
            w[0].2,
            w[1].2
        );
    }
}

fn mapped(mm: &AddressSpace, start: u64, end: u64) -> bool {
    let mut at = start;
    for (s, e, _) in vmas(mm) {
        if s <= at && at < e {
            at = e;
        }
    }
    at >= end
}

fn any_mapped(mm: &AddressSpace, start: u64, end: u64) -> bool {
    vmas(mm).iter().any(|(s, e, _)| *s < end && start < *e)
}

/// An address: near an existing VMA, a boundary value, or random.
fn addr(rng: &mut Rng, mm: &AddressSpace) -> u64 {
    let v = vmas(mm);
    if !v.is_empty() && rng.chance(1, 2) {
        let (s, e, _) = &v[rng.index(v.len())];
        let base = if rng.chance(1, 2) { *s } else { *e };
        return base
            .wrapping_add(PAGE * rng.below(4))
            .wrapping_sub(PAGE * rng.below(4));
    }
    match rng.below(3) {
        0 => MMAP_MIN_ADDR + PAGE * rng.below(64) - PAGE * rng.below(17),
        1 => TASK_SIZE - PAGE * rng.below(64),
        _ => rng.edgy_u64(),
    }
}

fn len(rng: &mut Rng) -> u64 {
    match rng.below(4) {
        0 => PAGE * (1 + rng.below(16)),
        1 => rng.below(3 * PAGE),
        2 => rng.edgy_u64(),
        _ => 1 << rng.below(48),
    }
}

fn op(rng: &mut Rng, mm: &AddressSpace, log: &mut Vec<String>) {
    let what;
    match rng.below(10) {
        0 | 1 => {
            let (a, l) = (addr(rng, mm), len(rng));
            let prot = if rng.chance(7, 8) {
                rng.below(8)
            } else {
                rng.next_u64()
            };
            let mut flags = *rng.pick(&[MAP_PRIVATE, MAP_SHARED, MAP_PRIVATE, 3]);
            for bit in [
                MAP_ANONYMOUS,
                MAP_ANONYMOUS,
                MAP_FIXED,
                MAP_FIXED_NOREPLACE,
                MAP_GROWSDOWN,
                MAP_NORESERVE,
            ] {
                if rng.chance(1, 3) {
                    flags |= bit;
                }
            }
            // MAP_POPULATE only on small lengths: a huge one is a known
            // slow path (issue 7: a read-only populate of 64 TiB).
            if l <= 1 << 20 && rng.chance(1, 4) {
                flags |= MAP_POPULATE;
            }
            let fd = if rng.chance(7, 8) {
                -1
            } else {
                rng.below(8) as i64
            };
            let r = sys::do_mmap(
                mm,
                a,
                l,
                MmapProt::from_arg(prot),
                MmapFlags::from_arg(flags),
                Fd(fd as i32),
                0,
            )
            .map(|(start, _)| start);
            what = format!("mmap({a:#x}, {l:#x}, {prot:#x}, {flags:#x}, {fd}) = {r:?}");
            if let Ok(got) = r {
                let end = got + l.div_ceil(PAGE) * PAGE;
                assert!(got % PAGE == 0 && end <= TASK_SIZE, "{what}");
                if got < MMAP_MIN_ADDR {
                    below_min(what.clone());
                }
                assert!(mapped(mm, got, end), "{what}: range not mapped");
                if flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0 {
                    assert_eq!(got, a, "{what}: fixed mapping moved");
                }
            }
        }
        2 => {
            let (a, l) = (addr(rng, mm), len(rng));
            let r = sys::do_munmap(mm, a, l);
            what = format!("munmap({a:#x}, {l:#x}) = {r:?}");
            if r.is_ok() && l != 0 {
                let end = a.saturating_add(l.div_ceil(PAGE) * PAGE).min(TASK_SIZE);
                assert!(!any_mapped(mm, a, end), "{what}: still mapped");
            }
        }
        3 => {
            let (a, l, p) = (addr(rng, mm), len(rng), rng.below(8));
            let r = sys::do_mprotect(mm, a, l, MmapProt::from_arg(p));
            what = format!("mprotect({a:#x}, {l:#x}, {p:#x}) = {r:?}");
        }
        4 => {
            let (a, l) = (addr(rng, mm), len(rng));
            let adv = if rng.chance(3, 4) {
                rng.below(26)
            } else {
                rng.edgy_u64()
            };
            let r = sys::do_madvise(mm, a, l, adv as i32); // an int
            what = format!("madvise({a:#x}, {l:#x}, {adv}) = {r:?}");
        }
        5 => {
            let (old, ol, nl) = (addr(rng, mm), len(rng), len(rng));
            let flags = if rng.chance(7, 8) {
                rng.below(8)
            } else {
                rng.edgy_u64()
            };
            let new = addr(rng, mm);
            let r = sys::do_mremap(mm, old, ol, nl, flags, new);
            what = format!("mremap({old:#x}, {ol:#x}, {nl:#x}, {flags:#x}, {new:#x}) = {r:?}");
            if let Ok(got) = r {
                let end = got.saturating_add(nl.div_ceil(PAGE) * PAGE);
                assert!(got % PAGE == 0 && end <= TASK_SIZE, "{what}");
                if got < MMAP_MIN_ADDR {
                    below_min(what.clone());
                }
                assert!(mapped(mm, got, end), "{what}: range not mapped");
            }
        }
        6 => {
            let b = addr(rng, mm);
            let r = mm.brk(b);
            what = format!("brk({b:#x}) = {r:#x}");
        }
        _ => {
            // Copies: write, read back, timespec, C string.
            let a = addr(rng, mm).wrapping_add(rng.below(PAGE));
            let n = 1 + rng.index(40);
            let data = rng.bytes(n);
            let w = mm.write(a, &data);
            what = format!("write({a:#x}, {} bytes) = {w:?}", data.len());
            if let Err(e) = w {
                assert!(plausible(e), "{what}");
            } else {
                let mut back = vec![0u8; data.len()];
                mm.read(a, &mut back).expect("read back what was written");
                assert_eq!(back, data, "{what}: read back");
            }
            let ts = sentry::syscalls::time::read_timespec(mm, sentry::abi::UserPtr::new(a));
            let mut raw = [0u8; 16];
            match (mm.read(a, &mut raw), ts) {
                (Err(e), Err(t)) => assert_eq!(e, t, "{what}: timespec fault"),
                (Ok(()), r) => {
                    let sec = i64::from_le_bytes(raw[..8].try_into().unwrap());
                    let nsec = i64::from_le_bytes(raw[8..].try_into().unwrap());
                    let valid = sec >= 0 && (0..1_000_000_000).contains(&nsec);
                    match r {
                        Ok(d) => {
                            assert!(valid, "{what}: accepted {sec}/{nsec}");
                            assert_eq!((d.as_secs(), d.subsec_nanos()), (sec as u64, nsec as u32));
                        }
                        Err(e) => assert!(
                            !valid && e == Errno::EINVAL,
                            "{what}: {sec}/{nsec} -> {e:?}"
                        ),
                    }
                }
                (Err(e), Ok(d)) => panic!("{what}: read failed ({e:?}) but timespec read {d:?}"),
            }
            let max = *rng.pick(&[0usize, 1, 64, 4096]);
            match mm.read_cstring(a, max) {
                Ok(s) => assert!(s.len() <= max && !s.contains(&0), "{what}: cstring {s:?}"),
                Err(e) => assert!(
                    e == Errno::ENAMETOOLONG || plausible(e),
                    "{what}: cstring {e:?}"
                ),
            }
            check_vmas(mm, &what);
            log.push(what);
            return;
        }
    }
    check_vmas(mm, &what);
    log.push(what);
}

#[test]
fn fuzz_address_space() {
    let budget = Budget::from_env(CI_SECONDS, 0xadd5);
    let mut rng = Rng::new(budget.seed);
    // The platform SENTRY_PLATFORM names (KVM by default): its
    // translations are what must not leak.
    let config = PlatformConfig {
        memory_limit: 64 << 20,
    };
    let machine = match sentry::PlatformKind::from_env() {
        sentry::PlatformKind::Vm => platform::new_platform(config),
        sentry::PlatformKind::Seccomp => platform::seccomp::new_platform(config),
    }
    .expect("the platform");
    let mut iter = 0u64;
    let mut spaces = 0;
    while budget.more(iter, 2000) {
        // Issue 7 ("something leaks per process"): dropped address spaces
        // must give their page-table frames back, so one machine serves
        // every address space of the run.
        let mm = AddressSpace::new(Arc::clone(&machine)).unwrap_or_else(|e| {
            panic!("AddressSpace::new: {e:?} after {spaces} address spaces on one 64 MiB machine")
        });
        mm.set_brk_start(0x60_0000);
        spaces += 1;
        let mut log = Vec::new();
        for _ in 0..200 {
            let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                op(&mut rng, &mm, &mut log)
            }));
            if let Err(e) = ran {
                let start = log.len().saturating_sub(30);
                eprintln!(
                    "fuzz_address_space: seed {:#x}, operation {iter} failed; the operations before it on this address space:\n{}",
                    budget.seed,
                    log[start..].join("\n")
                );
                std::panic::resume_unwind(e);
            }
            iter += 1;
        }
    }
    eprintln!(
        "fuzz_address_space: seed {:#x}, {iter} operations on {spaces} address spaces",
        budget.seed
    );
}

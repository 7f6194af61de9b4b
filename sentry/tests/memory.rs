//! Guest memory bounds (issue 7): mmap_min_addr on every route to a mapping,
//! vm.max_map_count, MAP_POPULATE of read-only memory, and the OOM killer's
//! choice of victim. The first is differential; the others assert the
//! sandbox's own outcome (natively the host would not run out of memory
//! under a small cap, and its vm.mmap_min_addr is 4096, not 65536).

#[macro_use]
mod common;

use common::Libc;

differential! {
    mm_limits: [], 0;
}

fn run_capped(libc: Libc, mode: &str) -> common::Outcome {
    let prog = testdata::guest("mm_limits", libc);
    common::run_sentry(
        &[
            std::ffi::OsString::from("run"),
            "--memory".into(),
            "64M".into(),
            "--".into(),
            prog.into(),
            mode.into(),
        ],
        b"",
    )
}

/// Addresses in [4096, 65536) are refused like page 0: mmap MAP_FIXED and
/// MAP_FIXED_NOREPLACE with EPERM, a hint is moved above, mremap
/// MREMAP_FIXED / MREMAP_DONTUNMAP with EPERM, and a MAP_GROWSDOWN mapping
/// does not grow there (SIGSEGV). Before: mremap moved the page there and
/// the MAP_GROWSDOWN mapping grew down to it.
#[test]
fn mmap_min_addr_holds_on_every_route() {
    for libc in [Libc::Glibc, Libc::Musl] {
        let r = run_capped(libc, "low");
        assert_eq!(
            r.stdout_str(),
            format!(
                "mmap MAP_FIXED at 0x8000: EPERM\n\
                 mmap MAP_FIXED_NOREPLACE at 0x8000: EPERM\n\
                 mmap hint 0x8000: ok, placed above 64K\n\
                 mremap MREMAP_FIXED to 0x8000: EPERM\n\
                 mremap MREMAP_DONTUNMAP to 0x8000: EPERM\n\
                 source intact: yes\n\
                 MAP_GROWSDOWN at 0x19000: ok\n\
                 touch 0x18000: ok\n\
                 touch 0x8000: SIGSEGV\n"
            ),
            "{libc:?}: {}",
            r.stderr_str()
        );
        assert_eq!(r.status, 0, "{libc:?}");
    }
}

/// A read-only MAP_POPULATE maps the zero frame (1 GiB under a 64 MiB cap
/// leaves the cap free) and one of 64 TiB returns at once. Before: the
/// 1 GiB populate filled the cap (the 48 MiB write was OOM-killed) and the
/// 64 TiB one ran for tens of seconds.
#[test]
fn read_only_populate_takes_no_memory_and_no_time() {
    for libc in [Libc::Glibc, Libc::Musl] {
        let r = run_capped(libc, "populate");
        assert_eq!(
            r.stdout_str(),
            "1 GiB PROT_READ MAP_POPULATE: ok\n\
             reads as zero: yes\n\
             48 MiB written\n\
             written after mprotect: 3, neighbour 0\n\
             64 TiB PROT_READ MAP_POPULATE: ok, fast\n\
             64 TiB writable MAP_POPULATE: ok\n\
             child: exited 0\n",
            "{libc:?}: {}",
            r.stderr_str()
        );
        assert_eq!(r.status, 0, "{libc:?}");
    }
}

/// When pid 1 runs out of memory while a child holds most of it, the OOM
/// killer kills the child (the largest), logs it once, and pid 1 goes on.
/// Before: the faulting task (pid 1) was killed, ending the sandbox.
#[test]
fn oom_killer_picks_the_largest_process_not_the_faulting_init() {
    let r = run_capped(Libc::Musl, "oom");
    assert_eq!(
        r.stdout_str(),
        "pid 1 wrote 32 MiB\nchild: killed by SIGKILL\n",
        "{}",
        r.stderr_str()
    );
    assert_eq!(r.status, 0);
    let err = r.stderr_str();
    let lines: Vec<&str> = err
        .lines()
        .filter(|l| l.contains("out of guest memory"))
        .collect();
    assert_eq!(lines.len(), 1, "{err}");
    assert!(
        lines[0].contains("killed process 2 (\"mm_limits\"), resident"),
        "{err}"
    );
}

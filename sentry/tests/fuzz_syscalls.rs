//! Random syscalls in the sandbox: `testdata/guests/fuzz_syscalls.c` forks
//! children that make hundreds of raw syscalls each with random numbers and
//! extreme arguments (see the guest's header for what it calls and what it
//! excludes, and why). Sandbox only: natively the guest would do real
//! damage, so it refuses to run outside the sentry and this test never runs
//! it natively.
//!
//! For each seed: the sentry exits with the guest's status (0: every child
//! reaped), was not killed by a signal, printed no panic, finished well
//! within the time limit, and the guest's last line says all its children
//! were reaped. Children dying of signals are expected (a random
//! rt_sigreturn or munmap does that).
//!
//! More seeds or calls: `FUZZ_SYSCALL_SEEDS=1-50 FUZZ_SYSCALL_CALLS=2000
//! cargo test -p sentry --test fuzz_syscalls -- --nocapture` (see
//! docs/FUZZING.md).

mod common;

use std::time::{Duration, Instant};

use common::{Libc, guest_path_env, run_sentry};

/// A whole run must end well before the harness's own timeout: the guest
/// kills stragglers after 2.5 s and everything after 5 s.
const RUN_LIMIT: Duration = Duration::from_secs(25);

fn seeds() -> Vec<u64> {
    let spec = std::env::var("FUZZ_SYSCALL_SEEDS").unwrap_or_else(|_| "1-4".into());
    let mut out = Vec::new();
    for part in spec.split(',') {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (u64, u64) = (a.trim().parse().unwrap(), b.trim().parse().unwrap());
                out.extend(a..=b);
            }
            None => out.push(part.trim().parse().expect("FUZZ_SYSCALL_SEEDS: numbers")),
        }
    }
    out
}

fn env_or(name: &str, default: u32) -> String {
    std::env::var(name)
        .ok()
        .and_then(|s| s.parse::<u32>().ok())
        .unwrap_or(default)
        .to_string()
}

fn run_seed(seed: u64, libc: Libc, children: &str, calls: &str) {
    let guest = testdata::guest("fuzz_syscalls", libc);
    let path_env = format!("PATH={}", guest_path_env());
    let seed_arg = seed.to_string();
    let argv = [
        "run",
        "--root",
        "/",
        "--memory",
        "512M",
        "--env",
        &path_env,
        "--",
        guest.to_str().expect("utf-8 path"),
        &seed_arg,
        children,
        calls,
    ];
    let label = format!("fuzz_syscalls seed {seed} ({libc}, {children} children x {calls} calls)");
    let start = Instant::now();
    let out = run_sentry(&argv, b"");
    let took = start.elapsed();
    let stdout = out.stdout_str();
    let stderr = out.stderr_str();
    let tail: String = stderr
        .lines()
        .rev()
        .take(30)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect::<Vec<_>>()
        .join("\n");
    let context = format!(
        "{label}\n--- stdout ---\n{stdout}\n--- stderr (last lines) ---\n{tail}\n--- took {took:?}"
    );
    assert_eq!(
        out.killed_by, None,
        "the sentry died of a signal: {context}"
    );
    assert!(
        !stderr.to_ascii_lowercase().contains("panic"),
        "the sentry panicked: {context}"
    );
    assert!(
        !stderr.contains("internal error"),
        "the sentry hit an internal error: {context}"
    );
    // A guest must never stop or escape the vCPU: the sentry logs such an
    // exit as "unexpected VM exit" or "guest reached ring 0" (a child on a
    // non-canonical stack that made a syscall once triple-faulted the VM).
    for bad in ["unexpected VM exit", "reached ring 0", "Shutdown"] {
        assert!(!stderr.contains(bad), "the vCPU stopped ({bad}): {context}");
    }
    assert!(took < RUN_LIMIT, "too slow: {context}");
    assert!(
        stdout.starts_with(&format!("seed {seed} ")),
        "guest did not start: {context}"
    );
    let last = stdout.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        format!("fuzz_syscalls: reaped {children} of {children} children"),
        "{context}"
    );
    assert_eq!(out.status, 0, "exit status: {context}");
    eprintln!(
        "{label}: ok in {took:?}; {}",
        stdout.lines().nth(1).unwrap_or("")
    );
}

#[test]
fn random_syscalls_in_forked_children() {
    let children = env_or("FUZZ_SYSCALL_CHILDREN", 8);
    let calls = env_or("FUZZ_SYSCALL_CALLS", 500);
    for (i, seed) in seeds().into_iter().enumerate() {
        let libc = Libc::ALL[i % 2];
        run_seed(seed, libc, &children, &calls);
    }
}

/// The guest refuses to run natively (where it would do real damage), so
/// running it by mistake outside the sandbox is harmless.
#[test]
fn guest_refuses_to_run_natively() {
    for libc in Libc::ALL {
        let out = common::run_native(&testdata::guest("fuzz_syscalls", libc), &["1"], b"");
        assert_eq!(out.status, 2, "{libc}: {}", out.stdout_str());
        assert_eq!(
            out.stdout_str(),
            "fuzz_syscalls: refusing to run outside the sandbox\n"
        );
    }
}

//! What the sentry's seccomp filter adds to a host syscall: times
//! `ioctl(-1, KVM_RUN)` (it fails at once with EBADF, but the filter takes
//! the same path as a real KVM_RUN, the hot path) and `getpid`, first
//! unfiltered, then in a forked child confined with the sentry's policy.
//! Prints the best of several rounds per call.
//!
//! `cargo run --release -p platform --example seccomp_cost`

use std::time::Instant;

use platform::confine::{self, SeccompPolicy, kvm_ioctl};

const N: u32 = 200_000;

fn best_ns(f: impl Fn()) -> f64 {
    (0..15)
        .map(|_| {
            let t = Instant::now();
            for _ in 0..N {
                f();
            }
            t.elapsed().as_nanos() as f64 / f64::from(N)
        })
        .fold(f64::INFINITY, f64::min)
}

fn kvm_run() {
    // SAFETY: an ioctl on an invalid descriptor fails with EBADF.
    unsafe { libc::ioctl(-1, u64::from(kvm_ioctl::RUN), 0) };
}

fn getpid() {
    // SAFETY: no preconditions (the raw syscall, not a cached value).
    unsafe { libc::syscall(libc::SYS_getpid) };
}

fn measure(label: &str) {
    println!(
        "{label:>10}: ioctl(KVM_RUN) {:6.1} ns   getpid {:6.1} ns",
        best_ns(kvm_run),
        best_ns(getpid)
    );
}

fn main() {
    measure("no filter");
    // SAFETY: the child only measures and exits.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: getpid has no preconditions.
        let me = unsafe { libc::getpid() };
        confine::confine(&SeccompPolicy::sentry(me), &[]).expect("confine");
        measure("filter");
        // SAFETY: leaving the child.
        unsafe { libc::_exit(0) };
    }
    let mut status = 0;
    // SAFETY: our own child, a valid status pointer.
    unsafe { libc::waitpid(pid, &mut status, 0) };
}

//! Issue 7, escape 1 and two "bad input" items: guest code must never reach
//! ring 0 of the VM, and what the guest sees of odd syscall numbers and CPU
//! traps must be what Linux shows. The platform's own tests
//! (`platform/tests/guest.rs`) check the VM side (CSTAR, SYSENTER, SMEP,
//! SMAP, UMIP, MSR reset); these run whole guests.

#[macro_use]
mod common;

use common::{run_native, run_sandbox};

differential! {
    // Syscall numbers with high bits set, negative and x32 numbers, and
    // the signal and siginfo for ud2, int3, int $n, hlt, #DE, #GP, #SS...
    t_traps: [], 0;
    // Found by the syscall fuzzer: a child cloned onto a non-canonical
    // stack that made a syscall shut the VM down (the sentry killed it
    // with SIGSEGV; Linux lets it exit, and its first push is #SS:
    // SIGBUS). Also CLONE_SETTLS / arch_prctl with a base at or above the
    // user limit (EPERM), and rt_sigreturn to a non-canonical RIP or RSP
    // or to CS/SS selectors Linux's IRET would fault on.
    t_badstate: [], 0;
    // Red-team finding: a load from the MMIO page left a KVM MMIO read
    // pending that KVM completed over the signal handler's registers on
    // the next entry (the handler never ran; the guest spun forever).
    t_mmio: [], 0;
}

/// A far return to the 32-bit user code selector: natively Linux runs the
/// 32-bit code; the KVM platform has no such segment and the guest dies of
/// SIGSEGV at the far return. Sandbox-only (not differential) on purpose.
///
/// On the seccomp platform (`SENTRY_PLATFORM=seccomp`) guest code runs in
/// a host process, whose GDT has the host's 32-bit segment: the guest gets
/// to 32-bit code and back as natively, and what it could do there, a
/// 32-bit syscall, is trapped like any other (the int $0x80 test below).
#[test]
fn far_return_to_32_bit_code_dies_of_sigsegv() {
    let path = testdata::asm_guest("far_ret32");
    // The guest really does what it claims: natively it gets to 32-bit
    // code and back.
    let native = run_native(&path, &[], b"");
    assert_eq!(native.stdout_str(), "before\nran 32-bit code\n");
    assert_eq!(native.status, 0);
    let sandbox = run_sandbox(&path, &[], b"");
    if std::env::var("SENTRY_PLATFORM").is_ok_and(|p| p == "seccomp") {
        assert_eq!(
            sandbox.stdout_str(),
            native.stdout_str(),
            "{}",
            sandbox.stderr_str()
        );
        assert_eq!(sandbox.status, 0, "{}", sandbox.stderr_str());
        return;
    }
    assert_eq!(sandbox.stdout_str(), "before\n", "{}", sandbox.stderr_str());
    assert_eq!(sandbox.status, 128 + 11, "{}", sandbox.stderr_str());
    assert_eq!(sandbox.killed_by, None, "the sentry itself died");
    assert!(
        sandbox.stderr_str().contains("SIGSEGV"),
        "{}",
        sandbox.stderr_str()
    );
}

/// `int $0x80` and `sysenter` are 32-bit syscalls natively when the host
/// has IA32 emulation (sysenter only on Intel CPUs); the sandbox has no
/// 32-bit ABI and does what Linux does when IA32 emulation is off:
/// `int $0x80` is SIGSEGV (SI_KERNEL, no address), and so is `sysenter` on
/// Intel (#GP: SYSENTER_CS is 0), where on AMD it is SIGILL (#UD).
/// Sandbox-only.
#[test]
fn int_0x80_and_sysenter_fault_like_linux_without_ia32_emulation() {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").expect("/proc/cpuinfo");
    let seccomp = std::env::var("SENTRY_PLATFORM").is_ok_and(|p| p == "seccomp");
    let sysenter = if cpuinfo.contains("GenuineIntel") && seccomp {
        // The host kernel's compat entry runs first and points the
        // return address into the (unmapped) 32-bit vDSO before the stub's
        // filter traps the call, so where the instruction was is lost: the
        // guest gets what a native run with IA32 emulation gets.
        "sysenter: signo 11 code 1 errno 0 addr other\n"
    } else if cpuinfo.contains("GenuineIntel") {
        "sysenter: signo 11 code 128 errno 0 addr 0\n"
    } else {
        "sysenter: signo 4 code 2 errno 0 addr insn\n"
    };
    let want = format!("int $0x80 (eax 20): signo 11 code 128 errno 0 addr 0\n{sysenter}");
    for libc in common::Libc::ALL {
        let path = testdata::guest("t_traps", libc);
        let sandbox = run_sandbox(&path, &["int80"], b"");
        assert!(
            sandbox.stdout_str().ends_with(&want),
            "want {want:?} at the end of:\n{}",
            sandbox.stdout_str()
        );
        assert_eq!(sandbox.status, 0);
    }
}

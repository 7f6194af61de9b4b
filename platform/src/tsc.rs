//! The time-stamp counter, for the sentry's clock source (the vDSO's
//! clocks read the same counter in the guest: in ring 3 of this VM
//! `rdtsc` runs natively and returns the host's value, measured in
//! `shared/kvmlab/REPORT.md` §7 and by the sentry's vDSO tests).

/// Reads the TSC after every earlier load has completed (Linux's
/// `rdtsc_ordered`: `lfence; rdtsc`).
pub fn rdtsc_ordered() -> u64 {
    // SAFETY: `_mm_lfence` and `_rdtsc` only read the TSC and order
    // loads; x86-64 always has both (SSE2 is baseline), and user mode may
    // run rdtsc unless CR4.TSD is set, which Linux does not set for us
    // (else this faults, which the caller could not miss).
    unsafe {
        core::arch::x86_64::_mm_lfence();
        core::arch::x86_64::_rdtsc()
    }
}

/// Why the TSC cannot serve as a clock source, if it cannot: the CPU
/// must say it is invariant (CPUID 0x8000_0007 EDX bit 8: constant rate,
/// running in every C-state), as Linux requires before it trusts the TSC
/// for the vDSO.
pub fn tsc_unusable_reason() -> Option<&'static str> {
    let max = core::arch::x86_64::__cpuid(0x8000_0000).eax;
    if max < 0x8000_0007 {
        return Some("the CPU does not report CPUID leaf 0x80000007 (invariant TSC)");
    }
    let edx = core::arch::x86_64::__cpuid(0x8000_0007).edx;
    if edx & (1 << 8) == 0 {
        return Some("the CPU does not report an invariant TSC (CPUID 0x80000007 EDX bit 8)");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tsc_moves_forward() {
        let a = rdtsc_ordered();
        let b = rdtsc_ordered();
        assert!(b > a, "{a} then {b}");
    }

    #[test]
    fn this_host_has_an_invariant_tsc() {
        // The development and CI machines do (constant_tsc, nonstop_tsc);
        // the vDSO tests require it.
        assert_eq!(tsc_unusable_reason(), None);
    }
}

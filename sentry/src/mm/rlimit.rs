//! The resource limits an address space enforces (RLIMIT_AS, RLIMIT_DATA,
//! RLIMIT_STACK), as Linux's `may_expand_vm` and `acct_stack_growth` do.
//!
//! The limits belong to the process (`kernel::limits`), which keeps this
//! copy in step; a vfork child sharing the address space shares it too.
//! The sizes are counted from the VMAs only when a limit is finite, so the
//! default (unlimited) costs nothing.

use std::sync::atomic::{AtomicU64, Ordering};

use platform::PAGE_SIZE;

use super::{STACK_LIMIT, Vma, VmaMap};
use crate::errno::Errno;

/// The limits, in bytes (`u64::MAX`: unlimited).
#[derive(Debug)]
pub struct VmLimits {
    address_space: AtomicU64,
    data: AtomicU64,
    /// RLIMIT_DATA's hard limit (see [`VmLimits::may_expand`]).
    data_hard: AtomicU64,
    stack: AtomicU64,
}

impl Default for VmLimits {
    fn default() -> Self {
        Self {
            address_space: AtomicU64::new(u64::MAX),
            data: AtomicU64::new(u64::MAX),
            data_hard: AtomicU64::new(u64::MAX),
            stack: AtomicU64::new(STACK_LIMIT),
        }
    }
}

impl VmLimits {
    /// Sets the RLIMIT_AS, RLIMIT_DATA (soft, hard) and RLIMIT_STACK
    /// limits.
    pub fn set(&self, address_space: u64, (data, data_hard): (u64, u64), stack: u64) {
        self.address_space.store(address_space, Ordering::Relaxed);
        self.data.store(data, Ordering::Relaxed);
        self.data_hard.store(data_hard, Ordering::Relaxed);
        self.stack.store(stack, Ordering::Relaxed);
    }

    /// Linux's check_data_rlimit for brk: ENOMEM when a heap of `heap`
    /// bytes passes the RLIMIT_DATA soft limit. (Linux adds the data
    /// segment's size, which the sandbox does not track; the heap's own
    /// growth is also charged through [`VmLimits::may_expand`].)
    pub fn check_brk(&self, heap: u64) -> Result<(), Errno> {
        if heap > self.data.load(Ordering::Relaxed) {
            return Err(Errno::ENOMEM);
        }
        Ok(())
    }

    /// Whether RLIMIT_DATA is finite (whether data growth must be counted).
    pub fn data_limited(&self) -> bool {
        self.data.load(Ordering::Relaxed) != u64::MAX
    }

    /// The RLIMIT_STACK soft limit.
    pub fn stack(&self) -> u64 {
        self.stack.load(Ordering::Relaxed)
    }

    /// Takes `other`'s values (fork).
    pub fn copy_from(&self, other: &VmLimits) {
        self.set(
            other.address_space.load(Ordering::Relaxed),
            (
                other.data.load(Ordering::Relaxed),
                other.data_hard.load(Ordering::Relaxed),
            ),
            other.stack(),
        );
    }

    /// The size of the main stack's VMA at exec: 128 KiB (Linux's
    /// `stack_expand`; the arguments are written at its top, and grow it
    /// if they need more). It then grows on demand up to RLIMIT_STACK, as
    /// in force at each fault, so lowering the limit stops further growth.
    pub fn initial_stack(&self) -> u64 {
        128 << 10
    }

    /// Linux's `may_expand_vm`: whether `len` more bytes of mappings, of
    /// which `data_len` are data, fit, given the VMAs other than those in
    /// `[skip_start, skip_end)` (a MAP_FIXED mapping replaces what it
    /// covers). ENOMEM past RLIMIT_AS or RLIMIT_DATA, except that a soft
    /// RLIMIT_DATA of 0 lets data grow up to the hard limit (Linux's
    /// workaround for Valgrind, which sets it so).
    pub fn may_expand(
        &self,
        vmas: &VmaMap,
        len: u64,
        data_len: u64,
        (skip_start, skip_end): (u64, u64),
    ) -> Result<(), Errno> {
        let as_limit = self.address_space.load(Ordering::Relaxed);
        let data_limit = if data_len > 0 {
            self.data.load(Ordering::Relaxed)
        } else {
            u64::MAX
        };
        if as_limit == u64::MAX && data_limit == u64::MAX {
            return Ok(());
        }
        let (mut total, mut data_vm) = (0u64, 0u64);
        for (s, v) in vmas.iter() {
            let outside =
                v.end.saturating_sub(s) - v.end.min(skip_end).saturating_sub(s.max(skip_start));
            total += outside;
            if is_data(v) {
                data_vm += outside;
            }
        }
        // Compared in pages, as Linux: `total_vm + npages > rlimit >> PAGE_SHIFT`.
        let pages = |b: u64| b / PAGE_SIZE;
        if len > 0 && pages(total) + pages(len) > pages(as_limit) {
            return Err(Errno::ENOMEM);
        }
        let data_pages = pages(data_vm) + pages(data_len);
        if data_len > 0 && data_pages > pages(data_limit) {
            let hard = self.data_hard.load(Ordering::Relaxed);
            if !(data_limit == 0 && data_pages <= pages(hard)) {
                return Err(Errno::ENOMEM);
            }
        }
        Ok(())
    }
}

/// Linux's `is_data_mapping`: private, writable and not a stack
/// (`VM_WRITE` without `VM_SHARED` or `VM_STACK`).
pub fn is_data(v: &Vma) -> bool {
    let shared = match &v.file {
        Some((f, _)) => f.shared,
        None => v.shared.is_some(),
    };
    v.prot.write && !shared && !v.grows_down
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mm::Prot;

    const P: u64 = PAGE_SIZE;

    fn map() -> VmaMap {
        let mut m = VmaMap::default();
        m.insert(0x10_0000, Vma::anon(0x10_0000 + 4 * P, Prot::RW)); // data
        m.insert(0x20_0000, Vma::anon(0x20_0000 + 2 * P, Prot::default())); // not data
        m
    }

    #[test]
    fn as_counts_every_mapping_and_data_the_private_writable_ones() {
        let l = VmLimits::default();
        assert_eq!(l.may_expand(&map(), 1 << 40, 1 << 40, (0, 0)), Ok(()));
        l.set(8 * P, (u64::MAX, u64::MAX), STACK_LIMIT);
        assert_eq!(l.may_expand(&map(), 2 * P, 0, (0, 0)), Ok(()));
        assert_eq!(l.may_expand(&map(), 3 * P, 0, (0, 0)), Err(Errno::ENOMEM));
        // A MAP_FIXED mapping over part of the map only adds the rest.
        let skip = (0x20_0000, 0x20_0000 + 2 * P);
        assert_eq!(l.may_expand(&map(), 4 * P, 0, skip), Ok(()));
        l.set(u64::MAX, (5 * P, u64::MAX), STACK_LIMIT);
        assert_eq!(l.may_expand(&map(), 5 * P, 0, (0, 0)), Ok(()), "not data");
        assert_eq!(l.may_expand(&map(), P, P, (0, 0)), Ok(()));
        assert_eq!(
            l.may_expand(&map(), 2 * P, 2 * P, (0, 0)),
            Err(Errno::ENOMEM)
        );
    }

    /// Linux's Valgrind rule: a soft RLIMIT_DATA of 0 still lets data grow
    /// up to the hard limit (but brk's own check has no such rule).
    #[test]
    fn a_zero_soft_data_limit_defers_to_the_hard_one() {
        let l = VmLimits::default();
        l.set(u64::MAX, (0, 6 * P), STACK_LIMIT);
        assert_eq!(l.may_expand(&map(), 2 * P, 2 * P, (0, 0)), Ok(()));
        assert_eq!(
            l.may_expand(&map(), 3 * P, 3 * P, (0, 0)),
            Err(Errno::ENOMEM)
        );
        assert_eq!(l.check_brk(P), Err(Errno::ENOMEM));
        assert_eq!(l.check_brk(0), Ok(()));
    }
}

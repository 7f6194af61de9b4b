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
    stack: AtomicU64,
}

impl Default for VmLimits {
    fn default() -> Self {
        Self {
            address_space: AtomicU64::new(u64::MAX),
            data: AtomicU64::new(u64::MAX),
            stack: AtomicU64::new(STACK_LIMIT),
        }
    }
}

impl VmLimits {
    /// Sets the RLIMIT_AS, RLIMIT_DATA and RLIMIT_STACK soft limits.
    pub fn set(&self, address_space: u64, data: u64, stack: u64) {
        self.address_space.store(address_space, Ordering::Relaxed);
        self.data.store(data, Ordering::Relaxed);
        self.stack.store(stack, Ordering::Relaxed);
    }

    /// The RLIMIT_STACK soft limit.
    pub fn stack(&self) -> u64 {
        self.stack.load(Ordering::Relaxed)
    }

    /// Takes `other`'s values (fork).
    pub fn copy_from(&self, other: &VmLimits) {
        self.set(
            other.address_space.load(Ordering::Relaxed),
            other.data.load(Ordering::Relaxed),
            other.stack(),
        );
    }

    /// The size of the main stack's VMA at exec: the RLIMIT_STACK soft
    /// limit (whole pages), at least 128 KiB (room for the arguments, as
    /// Linux's `stack_expand`) and at most 8 MiB (a larger or unlimited
    /// stack grows on demand up to the limit).
    pub fn initial_stack(&self) -> u64 {
        (self.stack() & !(PAGE_SIZE - 1)).clamp(128 << 10, STACK_LIMIT)
    }

    /// Linux's `may_expand_vm`: whether `len` more bytes of mappings, of
    /// which `data_len` are data, fit, given the VMAs other than those in
    /// `[skip_start, skip_end)` (a MAP_FIXED mapping replaces what it
    /// covers). ENOMEM past RLIMIT_AS or RLIMIT_DATA.
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
            let outside = v.end.saturating_sub(s)
                - v.end.min(skip_end).saturating_sub(s.max(skip_start));
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
        if data_len > 0 && pages(data_vm) + pages(data_len) > pages(data_limit) {
            return Err(Errno::ENOMEM);
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

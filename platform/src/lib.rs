//! The hypervisor side of the sandbox: one KVM virtual machine, its
//! guest-physical memory pool and frame allocator, x86-64 page tables, the
//! tiny supervisor area (GDT/TSS/IDT, exception stubs, the syscall
//! trampoline) and the vCPUs that run guest user code until it traps.
//!
//! The sentry sees three things: a [`Machine`] (the VM and its memory), a
//! [`PageTables`] per guest address space, and a [`Vcpu`] whose
//! [`Vcpu::run`] runs a [`UserContext`] until it returns a typed [`Trap`].
//! Everything that needs `unsafe` in the project lives in this crate.
//!
//! # How this host's KVM shapes the design
//!
//! The figures below were measured on the development and CI machines (a
//! PVM build of KVM with shadow paging, see `shared/KVM-NOTES.md`); the
//! first row also by this crate through `benches/benches/syscall.rs`:
//!
//! | event | cost |
//! | --- | --- |
//! | trapped syscall round trip (`syscall` → trampoline MMIO store → host → back) | 26–38 µs here (`benches`, platform floor); ≈ 81 µs in the C probe of KVM-NOTES |
//! | guest page fault to the host and back | ≈ 83 µs |
//! | any vCPU ioctl (GET/SET_REGS, SREGS, XSAVE…) | ≈ 7 µs |
//! | fresh upper page-table levels + CR3 switch (downgrade batch) | ≈ +55 µs |
//! | memslot add+delete (drops all shadow page tables) | ≈ 0.3–1.8 ms |
//!
//! * `SYSCALL` does not change privilege here, so `LSTAR` points at a
//!   user-executable trampoline page (chosen by measurement: of the traps
//!   that work here, the MMIO store, the unbacked fetch and the #PF-to-IDT
//!   bounce, it is the cheapest that needs no ring-0 code; KVM-NOTES §3) in the upper half whose single
//!   instruction stores to a guest-physical address without a memslot; the
//!   resulting `KVM_EXIT_MMIO` is the syscall trap ([`x86_64::layout`]).
//! * Ring-0 code is interpreted, so the exception stubs are three
//!   instructions (`push`, `push`, `out`) and the host resumes user mode by
//!   writing the user segments straight into the synced special registers.
//! * Registers travel through `KVM_CAP_SYNC_REGS`; no other vCPU ioctl is
//!   made on the hot path.
//! * The host's edits of a present page-table entry are never seen by the
//!   guest. [`PageTables`] therefore edits leaf tables in place and, when any
//!   edit removed or changed a translation, copies the upper levels into fresh
//!   frames and switches CR3 ([`PageTables::commit`]). Upper-level frames that
//!   were ever shadowed are quarantined until a shadow drop ([`Machine::zap`]).
//!   The tests in `platform/tests/` fail if a stale translation survives.

pub mod confine;
pub mod host;
pub mod machine;
pub mod memory;
pub mod selftest;
pub mod vcpu;
pub mod x86_64;

pub use machine::{Machine, MachineConfig};
pub use memory::{FrameAllocator, FrameKind, GuestMemory, PAGE_SIZE};
pub use vcpu::{Kicker, Trap, UserContext, UserRegs, Vcpu};
pub use x86_64::paging::{PageTables, Pte, PteFlags};

/// Errors from the platform (host-side failures, never guest errors).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// /dev/kvm could not be opened or used.
    #[error("KVM is not usable: {0} (is /dev/kvm present and read-write?)")]
    KvmUnavailable(kvm_ioctls::Error),
    /// A KVM ioctl failed.
    #[error("KVM {op} failed: {err}")]
    Kvm {
        /// Which operation.
        op: &'static str,
        /// The error from the kernel.
        err: kvm_ioctls::Error,
    },
    /// Setting up the guest memory pool failed.
    #[error("guest memory: {0}")]
    Memory(String),
    /// The guest-physical pool has no free frame left.
    #[error("out of guest memory")]
    OutOfMemory,
    /// A guest-physical address outside the pool.
    #[error("guest-physical address {0:#x} is outside the memory pool")]
    BadAddress(u64),
    /// Too many vCPUs for the supervisor area.
    #[error("too many vCPUs (limit {0})")]
    TooManyVcpus(usize),
}

/// Platform result type.
pub type Result<T> = std::result::Result<T, Error>;

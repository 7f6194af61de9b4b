//! The hypervisor side of the sandbox: one KVM virtual machine, its
//! guest-physical memory pool and frame allocator, x86-64 page tables, the
//! tiny supervisor area (GDT/TSS/IDT, exception stubs, the syscall
//! trampoline) and the vCPUs that run guest user code until it traps.
//!
//! The sentry sees only the platform interface ([`interface`]): a
//! [`Platform`] (the frame pool; it creates address spaces and contexts),
//! an [`AddressSpace`] per guest address space (pages mapped to frames,
//! protect, unmap, fork actions, commit) and a [`Context`] whose
//! [`Context::run`] runs a [`UserContext`] until it returns a [`Trap`] the
//! platform decoded (syscall; page fault with address and [`Access`];
//! other exception; kicked). Two implementations:
//!
//! * [`kvm`]: the default, [`new_platform`]. [`Machine`] (the VM and its
//!   memory pool), [`PageTables`] (x86-64 page tables; a root is a CR3) and
//!   [`Vcpu`] implement the traits by forwarding to their inherent methods,
//!   so the hot path is one `KVM_RUN` per trap plus one indirect call.
//! * [`fake`]: no hypervisor. Pages are a map in host memory over the same
//!   memfd pool; contexts replay scripted traps. It lets the sentry's
//!   `mm/` and `kernel/` be unit tested without `/dev/kvm`.
//!
//! Every [`Error`] carries its cause (the ioctl and its errno, the host
//! call and its `io::Error`, the VM exit and RIP).
//!
//! Besides, [`host`] holds the three pieces of the sentry's standard-stream
//! handling that need `unsafe` (not hypervisor code: the rest of it, with
//! clocks and randomness, is the sentry's `host` module), and [`confine`]
//! and [`hostfs`] the sentry's self-confinement and read-only host file
//! access. Everything that needs `unsafe` in the project lives in this
//! crate.
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
//!
//! # Ring 0 stays out of the guest's reach
//!
//! Guest code runs in ring 3 only; ring 0 runs nothing but the exception
//! stubs. What closes each way in (each with a test in
//! `platform/tests/guest.rs`):
//!
//! * **No compatibility mode.** From 32-bit code `syscall` does enter ring 0
//!   here, through `CSTAR` (KVM-NOTES fact 1). The GDT has no 32-bit code
//!   segment (Linux's 0x08 and 0x23 slots are null), so a far return, jump
//!   or call to 0x23 takes a #GP (SIGSEGV in the guest); `CSTAR` and
//!   `SYSENTER_EIP` point at a trap stub whose exit is an error, and
//!   `SYSENTER_CS` is 0 (`sysenter` raises #UD on this AMD host, #GP on
//!   Intel). `STAR`'s `SYSRET` half is never used: the host resumes user
//!   mode by writing the segments itself.
//! * **SMEP, SMAP and UMIP** are set in CR4 when KVM accepts them
//!   ([`Vcpu::cr4`]; measured here: all three, CR4 = 0x300e20, read back
//!   after `KVM_SET_SREGS`). Ring 0 then cannot run or write user pages,
//!   and `sgdt`/`sidt` fault in ring 3 (measured: #GP; without UMIP `sgdt`
//!   stored the GDT base 0xffffc90000010000; UMIP also covers `smsw`,
//!   `sldt` and `str`).
//!   The sentry then emulates them with Linux's dummy values, as the host
//!   kernel does for its own processes (`sentry::kernel::umip`). On a host
//!   that refused UMIP the instructions would show the supervisor bases:
//!   that is acceptable, since the addresses are fixed ([`x86_64::layout`],
//!   public in the source, no randomisation to defeat) and the pages behind
//!   them are supervisor-only.
//! * **The trampoline page is readable by ring 3**, on purpose: `SYSCALL`
//!   stays in ring 3 here, so the trampoline is fetched as user code, and
//!   x86 page tables cannot express execute-only (protection keys do not
//!   restrict fetches, and ring 3 could change PKRU). The page holds only
//!   the 13 bytes of public trampoline code; the rest is zero.
//! * **Nothing ring 3 could change is trusted.** Whenever the host writes
//!   special registers it writes the full canonical set (CR0, CR4, EFER,
//!   GDT, IDT, TR, LDT, segments), and [`Vcpu::reset`] rewrites every MSR
//!   the platform relies on when a pooled vCPU passes to another task.
//!   KVM's own half-done work counts too: a ring-3 load from the MMIO page
//!   exits with `KVM_EXIT_MMIO` and KVM would finish that instruction on
//!   the next `KVM_RUN`, over the registers the host had set by then
//!   (found by the red-team review: the signal handler's RIP went back to
//!   the faulting load, the guest spun, and a pooled vCPU would carry the
//!   read to the next task). [`Vcpu::run`] finishes it at once with
//!   `immediate_exit` (every chunk of a `rep movsb`, zeros for the data,
//!   any exception it raised dropped) and reports the fault at the load.
//! * **Exceptions never use a stack the guest chose.** While the user
//!   state cannot be entered natively (a non-canonical RSP, which Linux
//!   allows, or FS base) this KVM emulates the guest, and an emulated
//!   `syscall` is architectural: ring 0 at `LSTAR`, CS 0x10, the user's
//!   RSP (measured in kvm-pvm's dmesg). SMEP stops the first fetch of the
//!   trampoline (a user page); that #PF used to be pushed onto the user
//!   RSP: #SS, #DF, a triple fault and a VM shutdown (found by the syscall
//!   fuzzer: a child cloned onto a non-canonical stack that made a
//!   syscall). Every IDT gate now switches to IST 1 (the vCPU's kernel
//!   stack), and that one frame (#PF 0x11 at `LSTAR` from CS 0x10) is
//!   reported as the syscall it is; no guest instruction ran in ring 0.
//!   A non-canonical RIP faults with #GP, as on Linux; a non-canonical
//!   FS or GS base is never entered ([`Vcpu::run`] refuses it; Linux
//!   never allows one).
//! * **An exit in ring 0 outside the stubs is a compromise**: [`Vcpu::run`]
//!   returns an error and never resumes it (the sentry kills the task). A
//!   kick that finds the vCPU inside a stub takes the trap from the frame
//!   the CPU already pushed, and one on the trampoline from the registers,
//!   instead of resuming ring 0: one kick always ends a run, so nothing
//!   spinning anywhere escapes SIGKILL.

pub mod confine;
pub mod fake;
pub mod host;
pub mod hostfs;
pub mod interface;
pub mod kvm;
pub mod machine;
pub mod memory;
pub mod seccomp;
pub mod selftest;
pub mod tsc;
pub mod vcpu;
pub mod x86_64;

pub use interface::{
    Access, AddressSpace, Context, ForkAction, FpuState, Frame, Kick, Kicker, Mapping, PageFlags,
    Platform, PlatformConfig, Retired, Trap,
};
pub use kvm::new_platform;
pub use machine::{Machine, MachineConfig};
pub use memory::{FrameAllocator, FrameCounters, FrameKind, GuestMemory, PAGE_SIZE};
pub use vcpu::{UserContext, UserRegs, Vcpu};
pub use x86_64::paging::{PageTables, Pte, PteFlags};

/// Errors from the platform (host-side failures, never guest errors).
/// Each variant carries its cause.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// /dev/kvm could not be opened or used.
    #[error("KVM is not usable: {0} (is /dev/kvm present and read-write?)")]
    KvmUnavailable(#[source] kvm_ioctls::Error),
    /// A KVM ioctl failed.
    #[error("KVM {op} failed: {err}")]
    Kvm {
        /// Which operation.
        op: &'static str,
        /// The error from the kernel.
        #[source]
        err: kvm_ioctls::Error,
    },
    /// A host call failed (the memory pool's memfd, its size, madvise).
    #[error("{op}: {err}")]
    Host {
        /// What was being done.
        op: &'static str,
        /// The host's error.
        #[source]
        err: std::io::Error,
    },
    /// The memory pool could not be mapped into the sentry.
    #[error("mapping the memory pool: {0}")]
    MapPool(#[source] vm_memory::mmap::FromRangesError),
    /// The guest-physical pool has no free frame left.
    #[error("out of guest memory")]
    OutOfMemory,
    /// A guest-physical address outside the pool.
    #[error("guest-physical address {0:#x} is outside the memory pool")]
    BadAddress(u64),
    /// A copy within the pool failed.
    #[error("accessing the memory pool at {gpa:#x}: {err}")]
    PoolAccess {
        /// Where.
        gpa: u64,
        /// What the memory layer said.
        #[source]
        err: vm_memory::GuestMemoryError,
    },
    /// Too many vCPUs for the supervisor area.
    #[error("too many vCPUs (limit {0})")]
    TooManyVcpus(usize),
    /// KVM did not keep the CR4 the platform set.
    #[error("KVM_SET_SREGS kept CR4 {got:#x}, not {wanted:#x}")]
    Cr4Rejected {
        /// What was set.
        wanted: u64,
        /// What KVM reports.
        got: u64,
    },
    /// An MSR list longer than KVM's limit.
    #[error("an MSR list of {count} entries: {err}")]
    TooManyMsrs {
        /// How many entries.
        count: usize,
        /// Why the list could not be built.
        #[source]
        err: vmm_sys_util::fam::Error,
    },
    /// KVM refused one of the MSRs the platform relies on.
    #[error("KVM_SET_MSRS set {set} of {wanted} MSRs (stopped at {index:#x})")]
    MsrRejected {
        /// How many were set.
        set: usize,
        /// How many were asked.
        wanted: usize,
        /// The first MSR not set.
        index: u32,
    },
    /// The platform refuses to enter user mode with this state.
    #[error("refusing to enter user mode with a non-canonical {register} base {base:#x}")]
    NonCanonicalBase {
        /// `FS` or `GS`.
        register: &'static str,
        /// The base.
        base: u64,
    },
    /// A VM exit the platform does not expect from ring 3.
    #[error("unexpected VM exit {exit} at rip {rip:#x}")]
    UnexpectedExit {
        /// The exit reason, as KVM reported it.
        exit: String,
        /// Where the guest was.
        rip: u64,
    },
    /// An exit that shows guest code running in ring 0, or supervisor
    /// state that is not the platform's: the context is never resumed.
    #[error("guest reached ring 0 ({what} at rip {rip:#x}); not resuming it")]
    Ring0 {
        /// What was found.
        what: String,
        /// Where.
        rip: u64,
    },
    /// A guest instruction kept the vCPU from finishing a trap.
    #[error("vCPU stuck: {what} at rip {rip:#x}")]
    Stuck {
        /// What did not end.
        what: String,
        /// Where.
        rip: u64,
    },
    /// The start-up self-test found a host that does not behave as the
    /// memory design needs.
    #[error("self-test failed: {0}; this host's KVM does not behave as the memory design needs")]
    SelfTest(String),
    /// An address space of another platform was passed in.
    #[error("an address space of another platform")]
    ForeignAddressSpace,
    /// The platform cannot do this (the fake platform runs no guest code).
    #[error("not supported by this platform: {0}")]
    Unsupported(&'static str),
}

/// Platform result type.
pub type Result<T> = std::result::Result<T, Error>;

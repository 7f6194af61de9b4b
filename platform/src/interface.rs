//! The platform interface: what the sentry sees of the hypervisor, in the
//! spirit of gVisor's `platform.Platform`, `platform.AddressSpace` and
//! `platform.Context`.
//!
//! * A [`Platform`] owns the frame pool (one memfd-backed memory pool
//!   with a reference count per 4 KiB frame, the same on every platform)
//!   and creates address spaces and execution contexts.
//! * An [`AddressSpace`] maps virtual pages to frames with [`PageFlags`],
//!   protects and unmaps them, copies a range into a child at fork as a
//!   [`ForkAction`] says, and makes every change that removed or
//!   restricted access visible with [`AddressSpace::commit`] (the caller
//!   then makes other threads leave the old [`AddressSpace::root`] before
//!   it releases the [`Retired`] state).
//! * A [`Context`] runs a [`UserContext`] on an address space's root until
//!   the guest traps, and hands back a [`Trap`] the platform decoded: a
//!   syscall, a page fault with its address and [`Access`], another CPU
//!   exception, or a kick ([`Kicker`]).
//!
//! Nothing here names a hypervisor concept: a *frame* is a page of the
//! pool (an offset into it), a *root* an opaque token naming the current
//! translation of an address space. [`crate::kvm`] is the implementation
//! the sandbox runs on; [`crate::fake`] keeps pages in host memory and runs
//! no guest code, so the sentry's memory and kernel logic can be unit
//! tested without `/dev/kvm`.
//!
//! Every operation is one dynamic call (`Arc<dyn Platform>`,
//! `Box<dyn AddressSpace>`, `Box<dyn Context>`); none allocates on the
//! syscall path.

use std::any::Any;
use std::sync::Arc;

use crate::memory::{FrameAllocator, GuestMemory};
use crate::{Result, UserContext};

/// A frame of the memory pool: the pool offset of a 4 KiB page.
pub type Frame = u64;

/// How big a platform to make.
#[derive(Clone, Copy, Debug)]
pub struct PlatformConfig {
    /// Cap on guest data memory (frames backing guest pages), in bytes.
    pub memory_limit: u64,
}

impl Default for PlatformConfig {
    fn default() -> Self {
        Self {
            memory_limit: 1 << 30,
        }
    }
}

/// Permissions of a user page (always readable, always user).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PageFlags {
    /// Writable.
    pub write: bool,
    /// Executable.
    pub exec: bool,
}

impl PageFlags {
    /// Read and execute (code).
    pub const RX: PageFlags = PageFlags {
        write: false,
        exec: true,
    };
    /// Read and write (data).
    pub const RW: PageFlags = PageFlags {
        write: true,
        exec: false,
    };
    /// Read only.
    pub const RO: PageFlags = PageFlags {
        write: false,
        exec: false,
    };
}

/// A present page: the frame behind it and its permissions.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mapping {
    /// The frame.
    pub frame: Frame,
    /// Permissions.
    pub flags: PageFlags,
}

impl Mapping {
    /// Whether replacing `self` by `new` takes anything away from a
    /// translation a running context may have cached (so a commit is
    /// needed before the guest runs again).
    pub fn downgraded_by(self, new: Option<Mapping>) -> bool {
        match new {
            None => true,
            Some(n) => {
                n.frame != self.frame
                    || (self.flags.write && !n.flags.write)
                    || (self.flags.exec && !n.flags.exec)
            }
        }
    }
}

/// What the child of a fork gets for one present page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ForkAction {
    /// The same mapping (shared memory).
    Share,
    /// The same frame read-only in both (copy-on-write).
    Cow,
    /// A private copy for the child, made now; the parent's mapping is left
    /// as it is (no downgrade, so no commit for it).
    Copy,
    /// Nothing (the child faults the page in anew).
    Skip,
}

/// A fork's span and copy-on-write runs ([`fork_span_and_cow_runs`]).
pub(crate) type ForkSpan = (u64, u64, Vec<(u64, u64)>);

/// The span `[lo, hi)` of a fork's `ranges` (sorted, disjoint `(start,
/// end, action)`) and its [`ForkAction::Cow`] ranges merged where they
/// touch: what a fork that shares tables needs to know which tables hold
/// copy-on-write pages only. `None` for no ranges.
pub(crate) fn fork_span_and_cow_runs(ranges: &[(u64, u64, ForkAction)]) -> Option<ForkSpan> {
    let lo = ranges.first()?.0;
    let hi = ranges.iter().map(|r| r.1).max().unwrap_or(lo);
    let mut cow: Vec<(u64, u64)> = Vec::new();
    for &(s, e, a) in ranges {
        if a != ForkAction::Cow || s >= e {
            continue;
        }
        match cow.last_mut() {
            Some(last) if last.1 == s => last.1 = e,
            _ => cow.push((s, e)),
        }
    }
    Some((lo, hi, cow))
}

/// Kind of a guest memory access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Load.
    Read,
    /// Store.
    Write,
    /// Instruction fetch.
    Exec,
}

/// Why the guest stopped, as the platform decoded it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Trap {
    /// `syscall`: `nr` from rax, arguments from rdi, rsi, rdx, r10, r8, r9.
    /// The context's `rip` is the return address; store the result in rax.
    Syscall {
        /// Syscall number.
        nr: u64,
        /// The six arguments.
        args: [u64; 6],
    },
    /// A page fault at `addr`.
    PageFault {
        /// Faulting address.
        addr: u64,
        /// What the guest was doing.
        access: Access,
        /// The x86-64 page-fault error code (1 present, 2 write, 4 user,
        /// 16 fetch), which Linux shows in a signal frame's `err`.
        error_code: u64,
    },
    /// Any other CPU exception.
    Exception {
        /// Vector number.
        vector: u8,
        /// Error code (0 when the vector has none).
        error_code: u64,
    },
    /// Kicked out from another thread; the context is up to date.
    Interrupted,
}

impl Trap {
    /// The trap for a page fault with x86-64 error code `error_code`.
    pub fn page_fault(addr: u64, error_code: u64) -> Trap {
        let access = if error_code & 0x10 != 0 {
            Access::Exec
        } else if error_code & 2 != 0 {
            Access::Write
        } else {
            Access::Read
        };
        Trap::PageFault {
            addr,
            access,
            error_code,
        }
    }
}

/// Saved floating-point and vector state of a guest thread: the x86-64
/// XSAVE area (4096 bytes), as `xsave` lays it out in memory.
pub struct FpuState(pub(crate) Box<[u32; 1024]>);

impl FpuState {
    /// The XSAVE area as bytes (4096).
    pub fn to_bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|w| w.to_le_bytes()).collect()
    }

    /// From bytes produced by [`FpuState::to_bytes`] (shorter input is
    /// zero-padded).
    pub fn from_bytes(bytes: &[u8]) -> Self {
        let mut x = Box::new([0u32; 1024]);
        for (w, c) in x.iter_mut().zip(bytes.chunks(4)) {
            let mut b = [0u8; 4];
            b[..c.len()].copy_from_slice(c);
            *w = u32::from_le_bytes(b);
        }
        Self(x)
    }
}

impl Clone for FpuState {
    fn clone(&self) -> Self {
        Self(self.0.clone())
    }
}

impl std::fmt::Debug for FpuState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("FpuState")
    }
}

/// Makes a running context leave [`Context::run`], from any thread.
pub trait Kick: Send + Sync {
    /// Kicks: the current or next `run` returns [`Trap::Interrupted`] (or
    /// the trap it was already taking).
    fn kick(&self);
}

/// A cloneable handle on a context's [`Kick`].
#[derive(Clone)]
pub struct Kicker(Arc<dyn Kick>);

impl Kicker {
    /// A kicker for `kick`.
    pub fn new(kick: Arc<dyn Kick>) -> Self {
        Self(kick)
    }

    /// Kicks the context (see [`Kick::kick`]).
    pub fn kick(&self) {
        self.0.kick();
    }
}

impl std::fmt::Debug for Kicker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Kicker")
    }
}

/// The state a commit replaced, possibly still in use by a context that
/// has not left the old root.
#[must_use = "retired state must be released once no context uses the old root"]
pub struct Retired {
    old_root: u64,
    release: Box<dyn FnOnce() + Send>,
}

impl Retired {
    /// Retired state of `old_root`; `release` frees it.
    pub fn new(old_root: u64, release: Box<dyn FnOnce() + Send>) -> Self {
        Self { old_root, release }
    }

    /// The root that was replaced.
    pub fn old_root(&self) -> u64 {
        self.old_root
    }

    /// Frees the old state (call once no context runs on the old root).
    pub fn release(self) {
        (self.release)();
    }
}

/// A hypervisor (or stand-in) that runs guest user code.
pub trait Platform: Send + Sync {
    /// The memory pool's contents.
    fn memory(&self) -> &GuestMemory;
    /// The frame allocator of the pool (reference counts, the memory cap).
    fn frames(&self) -> &FrameAllocator;
    /// A frame of zeros that is never written: map it read-only only, and
    /// take a reference per mapping with [`FrameAllocator::get`].
    fn zero_frame(&self) -> Frame;
    /// Allocates a zeroed data frame (counts against the memory cap).
    fn alloc_data(&self) -> Result<Frame>;
    /// A new, empty address space.
    fn new_address_space(&self) -> Result<Box<dyn AddressSpace>>;
    /// A new context (KVM: a vCPU) to run guest code on this thread.
    fn new_context(&self) -> Result<Box<dyn Context>>;
    /// Whether [`AddressSpace::fork_ranges`] can share leaf page tables
    /// copy-on-write (it passed its start-up self-test).
    fn shares_tables(&self) -> bool {
        false
    }
    /// The end of the user range the guest may map (exclusive): the
    /// seccomp platform keeps its stub window above it.
    fn max_user_address(&self) -> u64 {
        crate::x86_64::layout::USER_VA_END
    }
    /// Called by the sentry's self-confinement once no_new_privs and
    /// Landlock are in place, before it drops its capabilities and
    /// installs its seccomp filter (see
    /// [`crate::confine::confine_with_writes_then`]): a platform that forks
    /// helper processes forks them here, so they share the sentry's
    /// Landlock domain but not its filter; they must drop their
    /// capabilities themselves.
    fn prepare_confinement(&self) -> Result<()> {
        Ok(())
    }
}

/// The translations of one guest address space, filled page by page.
///
/// Frame reference counts are the caller's, except where a method says
/// otherwise. A change that removes or restricts access (unmap,
/// write-protect, a frame swap) reaches a running context only after
/// [`AddressSpace::commit`].
pub trait AddressSpace: Send {
    /// The current root: what [`Context::run`] runs on. Call
    /// [`AddressSpace::commit`] first. Never 0.
    fn root(&self) -> u64;
    /// The mapping of the page at `va`, if present.
    fn lookup(&self, va: u64) -> Result<Option<Mapping>>;
    /// Sets (or clears, with `None`) the mapping of the page at `va` and
    /// returns the old one.
    fn set(&mut self, va: u64, mapping: Option<Mapping>) -> Result<Option<Mapping>>;
    /// Makes the page at `va` writable on `frame` without a commit. Only
    /// valid while handling the guest's own write fault on a present
    /// read-only page at `va` (a copy-on-write break), where the retried
    /// write sees the new mapping.
    fn break_cow(&mut self, va: u64, frame: Frame, exec: bool) -> Result<()>;
    /// Calls `f(va, mapping)` for every present page in `[start, end)`, in
    /// address order; `f` returns the new mapping (the same to keep it).
    fn update_range(
        &mut self,
        start: u64,
        end: u64,
        f: &mut dyn FnMut(u64, Mapping) -> Option<Mapping>,
    ) -> Result<()>;
    /// Copies the present pages of `[start, end)` into `child` (a fresh
    /// address space of the same platform) as `action` says, taking a
    /// frame reference for each page the child gets. [`ForkAction::Cow`]
    /// write-protects the parent's pages (it then needs a commit).
    fn fork_range(
        &mut self,
        child: &mut dyn AddressSpace,
        start: u64,
        end: u64,
        action: ForkAction,
    ) -> Result<()>;
    /// Forks `ranges` (sorted and disjoint, each with its action) into
    /// `child` as [`AddressSpace::fork_range`] would, one range after the
    /// other. With `share_tables` (and a platform that
    /// [`Platform::shares_tables`]), the translations of whole 2 MiB
    /// blocks whose pages are all [`ForkAction::Cow`] are shared instead of
    /// copied page by page: the fork costs a few words per block, and the
    /// first change to a block in either address space copies its table
    /// (see [`AddressSpace::unshare`]).
    fn fork_ranges(
        &mut self,
        child: &mut dyn AddressSpace,
        ranges: &[(u64, u64, ForkAction)],
        share_tables: bool,
    ) -> Result<()> {
        let _ = share_tables;
        for &(start, end, action) in ranges {
            self.fork_range(child, start, end, action)?;
        }
        Ok(())
    }
    /// Makes the translations around `va` this address space's own if a
    /// fork shared them, keeping write access in `writable` (memory the
    /// caller lets this address space write) for frames nobody else holds.
    /// Call it before deciding anything from the reference count of a frame
    /// mapped at `va` (a copy-on-write break): the pages of shared
    /// translations hold one reference for all the address spaces sharing
    /// them. Every other method unshares by itself where it changes
    /// something.
    fn unshare(&mut self, va: u64, writable: (u64, u64)) -> Result<()> {
        let _ = (va, writable);
        Ok(())
    }
    /// Number of leaf tables shared with other address spaces (tests).
    fn shared_tables(&mut self) -> Result<usize> {
        Ok(0)
    }
    /// Number of present pages in `[start, end)`, or any number above
    /// `limit` once it is known to pass it (the walk stops early).
    fn count_present_upto(&mut self, start: u64, end: u64, limit: usize) -> Result<usize> {
        let _ = limit;
        self.count_present(start, end)
    }
    /// Number of present pages in `[start, end)`.
    fn count_present(&mut self, start: u64, end: u64) -> Result<usize>;
    /// Drops the data-frame reference of every present page: the address
    /// space is being torn down and its translations are not used again.
    /// One call for the whole space (no callback per page), so a large
    /// exit or a forked child's teardown costs what a table walk costs.
    fn put_all_frames(&mut self) -> Result<()>;
    /// Frames the platform spends translating this address space (page
    /// tables), for the OOM killer's accounting.
    fn table_frames(&mut self) -> Result<usize>;
    /// Makes every earlier downgrade visible; `None` when nothing needed
    /// it, else the replaced state, to release once no context runs on
    /// [`Retired::old_root`].
    fn commit(&mut self) -> Result<Option<Retired>>;
    /// For [`AddressSpace::fork_range`]: the concrete type of a child.
    fn as_any_mut(&mut self) -> &mut dyn Any;
}

/// Where guest user code runs: a vCPU-like context owned by one thread.
pub trait Context: Send {
    /// Runs `ctx` on the address space whose root is `root` until it traps.
    /// On return `ctx` holds the user state at the trap.
    fn run(&mut self, ctx: &mut UserContext, root: u64) -> Result<Trap>;
    /// A handle that kicks this context out of `run` from another thread.
    fn kicker(&self) -> Kicker;
    /// Forgets kicks that arrived while no `run` was in progress, so the
    /// next `run` does not end at once for them. A kick announces work its
    /// sender recorded first (a signal, an exit, a TLB shootdown): call
    /// this before checking for that work, never between the checks and
    /// `run`, and no kick is lost.
    fn clear_kick(&self);
    /// Makes the context fit for an unrelated task: nothing one guest could
    /// have planted survives into the next.
    fn reset(&mut self) -> Result<()>;
    /// Its task has ended and it waits for another: lets go of what it
    /// holds of the task's address space (the seccomp platform's stub
    /// thread, so that an ended process's stub is recycled at once).
    fn park(&mut self) {}
    /// Saves the FPU/SSE/AVX state.
    fn save_fpu(&self) -> Result<FpuState>;
    /// Restores FPU state saved by [`Context::save_fpu`] (possibly on
    /// another context of the same platform).
    fn restore_fpu(&self, state: &FpuState) -> Result<()>;
    /// Resets the FPU state to what a fresh process starts with.
    fn reset_fpu(&self) -> Result<()>;
}

//! Guest memory management: address spaces made of VMAs over the
//! platform's translations (a `platform::AddressSpace`), demand paging with fault-around, copy-on-write
//! fork, and the copies between guest and sentry that every syscall uses.
//!
//! The Linux ABI of the memory syscalls (flag bits, argument errnos) is
//! decoded by the syscall layer (`syscalls/mm.rs`); this module takes typed requests
//! ([`MapRequest`], [`Advice`], [`RemapRequest`], [`Prot`]).
//!
//! | file        | what it holds                                              |
//! |-------------|------------------------------------------------------------|
//! | `mod.rs`    | [`AddressSpace`] and its state, limits, lock order         |
//! | `vma.rs`    | the VMA map: split/merge, stack growth, placement, limits  |
//! | `fault.rs`  | demand faults, fault-around, zero frame, CoW, MAP_POPULATE |
//! | `io.rs`     | guest ↔ sentry copies (`read`, `write`, `read_cstring`...) |
//! | `mapping.rs`| map, unmap, protect, advise, brk, remap                    |
//! | `fork.rs`   | fork of an address space (copy, CoW, share, wipe, omit)    |
//! | `shared.rs` | shared memory objects (MAP_SHARED, tmpfs and memfd data)  |
//! | `file.rs`   | file-backed mappings, mincore, msync, truncation           |
//! | `runner.rs` | tasks running on an address space, TLB shootdown           |
//! | `image.rs`  | building a program image (segments, stack, brk) for exec   |
//! | `special.rs`| the [vvar] and [vdso] mappings every process gets at exec  |
//! | `procfs.rs` | what /proc shows: `maps`, `cmdline`, `environ`, `exe`, sizes |
//!
//! # Lock order
//!
//! Take these locks in this order, never backwards:
//!
//! 1. `AddressSpace::inner` (VMAs, page tables, parked frames, brk), at
//!    most one address space's at a time, except in [`AddressSpace::fork`],
//!    which holds the parent's and then the new child's (nobody else can
//!    reach the child yet);
//! 2. `AddressSpace::runners` (taken under `inner` by the shootdown in
//!    `enter` and by copy-on-write breaks, which ask whether other vCPUs
//!    share the address space), and the shootdown's rendezvous lock
//!    (`runner::Shootdown`, a leaf: alone, or under `inner` to mark a
//!    shootdown in flight);
//! 3. `SharedMemory::pages` (under `inner` when a fault maps a shared
//!    page). A file system's own locks come before all of these: a
//!    shrinking file takes its `SharedMemory::mappers` list (a leaf
//!    apart from what follows), releases it, then each mapper's `inner`
//!    to remove the pages (never `pages` and `inner` the other way
//!    round); faults read a file's size from an atomic, never through
//!    the file system;
//! 4. the platform's locks, which take nothing else: its frame allocator
//!    and memory locks, and a context's kick lock (`Kicker::kick`, called
//!    under `inner` by the shootdown in `enter`). `Context::run` is called
//!    with no lock of this module held.
//!
//! `AddressSpace::exe`, `cmdline` and `environ` are leaves: taken alone,
//! or under the parent's `inner` in `fork`, and released before any other
//! lock is taken. [`Runner`] roots are atomics, never locks.
//!
//! Callers come in holding kernel locks (the kernel's order puts `mm`
//! after its own locks) and the futex table, whose engine reads and
//! compare-exchanges futex words under it; nothing in this module calls
//! back into the kernel, the futex engine or the file system.
//!
//! No wait happens under a lock of this module: `enter`, after committing
//! a downgrade, marks a shootdown in flight, releases `inner`, kicks the
//! runners still on the old root and sleeps until each has left it
//! ([`AddressSpace::leave`] wakes it), then frees the old tables and the
//! frames unmapped before the commit. Another `enter` meanwhile waits for
//! that shootdown to end before it commits or frees anything. Runners leave
//! the guest and store their root without any lock of this module, so the
//! wait ends; a runner must never call into its address space between
//! leaving the guest and [`AddressSpace::leave`].
//!
//! # Invariants
//!
//! * Every present page-table entry is inside a VMA that allows at least
//!   what the entry allows.
//! * A private page whose frame has a reference count above one is mapped
//!   read-only; the first write copies it (or takes it over when the count
//!   has dropped to one).
//! * A frame swap on a present entry made outside a guest write fault
//!   (the sentry writing into a copy-on-write page) goes through
//!   [`platform::AddressSpace::set`], so it is committed before the guest
//!   runs again.

mod fault;
mod file;
mod fork;
mod image;
mod io;
mod mapping;
mod procfs;
mod rlimit;
mod runner;
mod shared;
mod special;
mod sysv;
#[cfg(test)]
mod tests;
pub mod vma;

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use platform::{PAGE_SIZE, Platform};

use crate::errno::Errno;
pub use file::{FileBacking, FileMap, MS_ASYNC, MS_INVALIDATE, MS_SYNC, PageSource};
pub use fork::{fork_share, set_fork_share};
pub use mapping::{Advice, MapRequest, Placement, RemapRequest};
pub use procfs::VmInfo;
pub use rlimit::VmLimits;
pub use runner::Runner;
pub use shared::SharedMemory;
pub use special::SpecialPages;
pub use vma::{Prot, Vma, VmaMap};

/// Lowest address a mapping may use (Linux's default `mmap_min_addr`).
pub const MMAP_MIN_ADDR: u64 = 0x1_0000;
/// Exclusive end of user space.
pub const TASK_SIZE: u64 = 0x7fff_ffff_f000;
/// Top of the initial stack.
pub const STACK_TOP: u64 = 0x7fff_ffff_e000;
/// Maximum size of the main stack (RLIMIT_STACK default).
pub const STACK_LIMIT: u64 = 8 << 20;
/// Top of the area where mmap places mappings without a hint.
pub const MMAP_BASE: u64 = 0x7fff_f7ff_f000;
/// Most VMAs an address space may have (Linux's default
/// `vm.max_map_count`); operations that would need more fail with ENOMEM.
pub const MAX_MAP_COUNT: usize = 65_530;

/// Rounds up to a page.
pub fn page_up(x: u64) -> Option<u64> {
    x.checked_add(PAGE_SIZE - 1).map(|v| v & !(PAGE_SIZE - 1))
}

/// Rounds down to a page.
pub fn page_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

/// Why a guest access cannot be satisfied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultError {
    /// No mapping (SIGSEGV, SEGV_MAPERR).
    MapErr,
    /// The mapping forbids the access (SIGSEGV, SEGV_ACCERR).
    AccErr,
    /// No memory left under the cap (the OOM killer's case).
    Oom,
    /// A file page wholly past the end of the file (SIGBUS, BUS_ADRERR).
    Bus,
}

pub use platform::Access;

impl FaultError {
    /// What a copy between guest and sentry returns for a fault: EFAULT,
    /// whatever the fault was (Linux's copy_from_user and copy_to_user).
    pub fn copy_errno(self) -> Errno {
        Errno::EFAULT
    }
}

impl From<platform::Error> for FaultError {
    /// The memory cap is the OOM killer's case and an address the platform
    /// refuses is unmapped; any other platform failure is a host problem,
    /// logged with its cause, and the fault fails as out of memory.
    fn from(e: platform::Error) -> Self {
        match e {
            platform::Error::OutOfMemory => FaultError::Oom,
            platform::Error::BadAddress(_) => FaultError::MapErr,
            other => {
                tracing::error!("memory: platform failure: {other}");
                FaultError::Oom
            }
        }
    }
}

/// The errno a memory operation returns for a platform failure: `errno`,
/// with the failure logged (with its cause) unless it is the memory cap
/// or an address the platform refuses, which a guest can cause.
fn platform_errno(e: platform::Error, errno: Errno) -> Errno {
    if !matches!(
        e,
        platform::Error::OutOfMemory | platform::Error::BadAddress(_)
    ) {
        tracing::error!("memory: platform failure: {e}");
    }
    errno
}

struct Inner {
    /// The platform's translations of this address space.
    pt: Box<dyn platform::AddressSpace>,
    /// Frames unmapped since the last commit: freed only once no vCPU can
    /// still reach them through an old root (after the shootdown).
    deferred_puts: Vec<u64>,
    vmas: VmaMap,
    /// Pages of PROT_NONE ranges: their frames, kept while unmapped.
    parked: BTreeMap<u64, u64>,
    brk_start: u64,
    brk: u64,
    /// The page after the last copy-on-write break a guest fault made:
    /// a fault there is sequential and breaks its neighbours too.
    cow_next: u64,
}

/// A guest address space.
pub struct AddressSpace {
    machine: Arc<dyn Platform>,
    /// This address space, for the shared objects it maps (which remove
    /// their pages from it when a file shrinks).
    me: std::sync::Weak<AddressSpace>,
    inner: Mutex<Inner>,
    /// Tasks that run on this address space (threads, vfork children).
    runners: Mutex<Vec<Arc<Runner>>>,
    /// The TLB shootdown in flight, if any.
    shootdown: runner::Shootdown,
    /// The program it was loaded from (/proc/self/exe), as Linux's
    /// mm->exe_file: the path the guest sees and the host file.
    exe: Mutex<(Vec<u8>, Option<std::path::PathBuf>)>,
    /// The arguments, NUL-terminated (/proc/self/cmdline).
    cmdline: Mutex<Vec<u8>>,
    /// The initial environment, NUL-terminated (/proc/self/environ).
    environ: Mutex<Vec<u8>>,
    /// The RLIMIT_AS, RLIMIT_DATA and RLIMIT_STACK it enforces.
    limits: VmLimits,
    /// The membarrier registrations made on it (the MEMBARRIER_CMD_REGISTER_*
    /// bits, as MEMBARRIER_CMD_GET_REGISTRATIONS reports them): kept by a
    /// fork, dropped by exec (a new address space), as Linux's mm.
    pub membarrier: std::sync::atomic::AtomicU32,
}

impl std::fmt::Debug for AddressSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AddressSpace")
    }
}

impl AddressSpace {
    /// An empty address space.
    pub fn new(machine: Arc<dyn Platform>) -> Result<Arc<Self>, Errno> {
        let pt = machine
            .new_address_space()
            .map_err(|e| platform_errno(e, Errno::ENOMEM))?;
        Ok(Arc::new_cyclic(|me| Self {
            machine,
            me: me.clone(),
            runners: Mutex::new(Vec::new()),
            shootdown: runner::Shootdown::default(),
            exe: Mutex::new((Vec::new(), None)),
            cmdline: Mutex::new(Vec::new()),
            environ: Mutex::new(Vec::new()),
            limits: VmLimits::default(),
            membarrier: std::sync::atomic::AtomicU32::new(0),
            inner: Mutex::new(Inner {
                deferred_puts: Vec::new(),
                pt,
                vmas: VmaMap::default(),
                parked: BTreeMap::new(),
                brk_start: 0,
                brk: 0,
                cow_next: 0,
            }),
        }))
    }

    /// Frames this address space holds (its resident set, for the OOM
    /// killer): present pages other than the zero frame, and parked ones.
    pub fn resident_pages(&self) -> usize {
        let mut inner = self.inner.lock();
        let zero = self.machine.zero_frame();
        let mut n = inner.parked.len();
        let walked = inner.pt.update_range(0, TASK_SIZE, &mut |_, pte| {
            if pte.frame != zero {
                n += 1;
            }
            Some(pte)
        });
        if let Err(e) = walked {
            tracing::error!("memory: counting resident pages: {e}");
        }
        n
    }

    /// Frames spent on this address space's page tables. They are not
    /// charged to `--memory` (the pool keeps headroom for them, so the host
    /// stays bounded), but the OOM killer counts them, as Linux's badness
    /// does: mapping the zero frame sparsely over a huge read-only range
    /// costs tables, not data.
    pub fn table_frames(&self) -> usize {
        match self.inner.lock().pt.table_frames() {
            Ok(n) => n,
            Err(e) => {
                tracing::error!("memory: counting page-table frames: {e}");
                0
            }
        }
    }

    /// The resource limits it enforces (its process's; see
    /// `kernel::limits`).
    pub fn limits(&self) -> &VmLimits {
        &self.limits
    }

    /// The platform.
    pub fn machine(&self) -> &Arc<dyn Platform> {
        &self.machine
    }

    /// Bytes of guest memory still free under the cap.
    fn memory_left(&self) -> u64 {
        let f = self.machine.frames();
        f.data_limit_bytes().saturating_sub(f.data_bytes_in_use())
    }
}

impl Drop for AddressSpace {
    fn drop(&mut self) {
        let inner = self.inner.get_mut();
        let frames = self.machine.frames();
        for f in inner.deferred_puts.drain(..) {
            frames.put_data(f);
        }
        let walked = inner.pt.put_all_frames();
        if let Err(e) = walked {
            tracing::error!("memory: releasing an address space's frames: {e}");
        }
        for f in inner.parked.values() {
            frames.put_data(*f);
        }
    }
}

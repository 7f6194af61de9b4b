//! One KVM virtual machine per sandbox: the VM, its memory pool and frame
//! allocator, the supervisor area, and the factory for vCPUs.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use kvm_bindings::{CpuId, KVM_MAX_CPUID_ENTRIES, kvm_userspace_memory_region};
use kvm_ioctls::{Kvm, VmFd};
use parking_lot::Mutex;

use crate::memory::{FrameAllocator, FrameKind, GuestMemory, PAGE_SIZE};
use crate::x86_64::layout::{MAX_VCPUS, POOL_START, ZAP_GPA};
use crate::x86_64::supervisor;
use crate::{Error, Result, Vcpu};

/// How big a machine to make (the platform interface's configuration).
pub type MachineConfig = crate::interface::PlatformConfig;

/// Quarantined upper-level table frames that trigger a shadow drop.
const ZAP_THRESHOLD: usize = 2048;

/// Free frames kept resident for reuse; beyond twice this many, the
/// excess goes back to the host (16 MiB).
const RESIDENT_FREE_FRAMES: usize = 4096;

/// A page-aligned host page (memslots must be page-aligned).
#[repr(C, align(4096))]
struct ZapPage([u8; PAGE_SIZE as usize]);

/// A KVM virtual machine with its guest-physical memory.
pub struct Machine {
    vm: VmFd,
    memory: GuestMemory,
    frames: FrameAllocator,
    supervisor_pml4: (usize, u64),
    cpuid: CpuId,
    vcpu_slots: Mutex<Vec<bool>>,
    next_vcpu_id: AtomicU64,
    /// A host page for the tiny memslot that drops every shadow.
    zap_page: Mutex<Box<ZapPage>>,
    zaps: AtomicU64,
    /// A frame of zeros that is never written: read faults on private
    /// read-only memory map it (Linux's zero page), so reading or
    /// populating such memory costs no frame.
    zero_frame: u64,
    /// Whether forks may share leaf page tables (set by the start-up
    /// self-test, [`crate::selftest`], when this host keeps its rules).
    table_sharing: AtomicBool,
}

impl Machine {
    /// Creates the VM (do it early: VM creation slows down as the process
    /// gains mappings), the memory pool and the supervisor area.
    pub fn new(config: MachineConfig) -> Result<Self> {
        let kvm = Kvm::new().map_err(Error::KvmUnavailable)?;
        let vm = kvm.create_vm().map_err(|err| Error::Kvm {
            op: "KVM_CREATE_VM",
            err,
        })?;
        let limit = config.memory_limit.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        // Page tables take at most about 1/512 of the data plus the copies
        // made by commits; leave generous room, the pool is sparse.
        let pool = POOL_START + limit + limit / 64 + (64 << 20);
        let memory = GuestMemory::new(pool)?;
        let region = kvm_userspace_memory_region {
            slot: 0,
            flags: 0,
            guest_phys_addr: 0,
            memory_size: pool,
            userspace_addr: memory.host_base(),
        };
        // SAFETY: the region is our own shared mapping of the pool, which
        // lives as long as `memory`, which the Machine owns together with the
        // VM; the VM is dropped first (field order), so KVM never uses the
        // mapping after it is gone.
        unsafe { vm.set_user_memory_region(region) }.map_err(|err| Error::Kvm {
            op: "KVM_SET_USER_MEMORY_REGION",
            err,
        })?;
        let supervisor_pml4 = supervisor::build(&memory)?;
        let cpuid = kvm
            .get_supported_cpuid(KVM_MAX_CPUID_ENTRIES)
            .map_err(|err| Error::Kvm {
                op: "KVM_GET_SUPPORTED_CPUID",
                err,
            })?;
        let frames = FrameAllocator::new(POOL_START, pool, limit);
        // Allocated as a table frame so it is not charged to the guest; its
        // first reference is never dropped, so it is never freed.
        let zero_frame = frames.alloc(FrameKind::Table)?;
        memory.zero_frame(zero_frame)?;
        Ok(Self {
            frames,
            zero_frame,
            vm,
            memory,
            supervisor_pml4,
            cpuid,
            vcpu_slots: Mutex::new(vec![false; MAX_VCPUS]),
            next_vcpu_id: AtomicU64::new(0),
            zap_page: Mutex::new(Box::new(ZapPage([0; PAGE_SIZE as usize]))),
            zaps: AtomicU64::new(0),
            table_sharing: AtomicBool::new(false),
        })
    }

    /// Guest-physical memory.
    pub fn memory(&self) -> &GuestMemory {
        &self.memory
    }

    /// The frame allocator.
    pub fn frames(&self) -> &FrameAllocator {
        &self.frames
    }

    /// The shared frame of zeros (map it read-only only; take a reference
    /// per mapping with [`FrameAllocator::get`]).
    pub fn zero_frame(&self) -> u64 {
        self.zero_frame
    }

    /// Allocates a zeroed data frame (counts against the memory cap).
    pub fn alloc_data(&self) -> Result<u64> {
        let f = self.frames.alloc(FrameKind::Data)?;
        self.memory.zero_frame(f)?;
        Ok(f)
    }

    /// Allocates a zeroed page-table frame.
    pub(crate) fn alloc_table(&self) -> Result<u64> {
        let f = self.frames.alloc(FrameKind::Table)?;
        self.memory.zero_frame(f)?;
        Ok(f)
    }

    pub(crate) fn supervisor_pml4_entry(&self) -> (usize, u64) {
        self.supervisor_pml4
    }

    pub(crate) fn vm(&self) -> &VmFd {
        &self.vm
    }

    pub(crate) fn cpuid(&self) -> &CpuId {
        &self.cpuid
    }

    /// Reserves a supervisor slot (GDT/TSS/stack) for a new vCPU.
    pub(crate) fn take_vcpu_slot(&self) -> Result<usize> {
        let mut slots = self.vcpu_slots.lock();
        let n = slots
            .iter()
            .position(|used| !used)
            .ok_or(Error::TooManyVcpus(MAX_VCPUS))?;
        slots[n] = true;
        supervisor::build_vcpu(&self.memory, n)?;
        Ok(n)
    }

    pub(crate) fn release_vcpu_slot(&self, n: usize) {
        self.vcpu_slots.lock()[n] = false;
    }

    pub(crate) fn next_vcpu_id(&self) -> u64 {
        self.next_vcpu_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Creates a vCPU set up for ring-3 guest code.
    pub fn create_vcpu(self: &std::sync::Arc<Self>) -> Result<Vcpu> {
        Vcpu::new(std::sync::Arc::clone(self))
    }

    /// Drops every shadow page table KVM holds (a tiny memslot add and
    /// delete), then makes the quarantined frames reusable.
    pub fn zap(&self) -> Result<()> {
        let page = self.zap_page.lock();
        // Only frames quarantined before the drop are safe to reuse after it.
        let batch = self.frames.quarantined();
        for size in [PAGE_SIZE, 0] {
            let region = kvm_userspace_memory_region {
                slot: 1,
                flags: 0,
                guest_phys_addr: ZAP_GPA,
                memory_size: size,
                userspace_addr: page.0.as_ptr() as u64,
            };
            // SAFETY: the slot maps a page-sized buffer we own and keep locked
            // for the duration; it is removed again before the lock is
            // released, and no guest page table points at ZAP_GPA.
            unsafe { self.vm.set_user_memory_region(region) }.map_err(|err| Error::Kvm {
                op: "KVM_SET_USER_MEMORY_REGION (shadow drop)",
                err,
            })?;
        }
        self.frames.release_quarantined(batch);
        self.zaps.fetch_add(1, Ordering::Relaxed);
        tracing::debug!("shadow drop: {:?}", self.frames.counters());
        Ok(())
    }

    /// Drops the shadows if enough frames wait in quarantine.
    pub fn maybe_zap(&self) -> Result<()> {
        if self.frames.quarantined() >= ZAP_THRESHOLD {
            self.zap()?;
        }
        Ok(())
    }

    /// Housekeeping after an address space's tables went to quarantine:
    /// drops the shadows when enough tables wait, and gives the memory of
    /// excess free frames back to the host.
    pub fn after_address_space_drop(&self) -> Result<()> {
        self.maybe_zap()?;
        self.trim()
    }

    /// Gives the host memory of the free frames beyond a resident reserve
    /// back to the host (MADV_REMOVE on the pool, one call per contiguous
    /// run), so the sentry's RSS follows what the guest holds.
    pub fn trim(&self) -> Result<()> {
        let excess = self.frames.take_free_excess(RESIDENT_FREE_FRAMES);
        if excess.is_empty() {
            return Ok(());
        }
        let mut result = Ok(());
        let mut i = 0;
        while i < excess.len() {
            let start = excess[i];
            let mut j = i + 1;
            while j < excess.len() && excess[j] == excess[j - 1] + PAGE_SIZE {
                j += 1;
            }
            if let Err(e) = self.memory.discard(start, (j - i) as u64 * PAGE_SIZE) {
                result = Err(e);
            }
            i = j;
        }
        // Even if a discard failed the frames are free and usable: the
        // allocator zeroes every frame it hands out.
        self.frames.mark_discarded(&excess);
        result
    }

    /// Whether forks may share leaf page tables
    /// ([`PageTables::fork_share`](crate::PageTables::fork_share)).
    pub fn table_sharing(&self) -> bool {
        self.table_sharing.load(Ordering::Relaxed)
    }

    /// Allows or forbids leaf-table sharing at fork (the self-test allows
    /// it once it has proved the rules hold here).
    pub fn set_table_sharing(&self, on: bool) {
        self.table_sharing.store(on, Ordering::Relaxed);
    }

    /// How many shadow drops have happened (for statistics and tests).
    pub fn zap_count(&self) -> u64 {
        self.zaps.load(Ordering::Relaxed)
    }
}

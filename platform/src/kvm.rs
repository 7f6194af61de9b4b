//! KVM behind the platform interface: the default platform.
//!
//! [`Kvm`] wraps one [`Machine`]; its address spaces are x86-64
//! [`PageTables`] (a root is a CR3 value) and its contexts are [`Vcpu`]s.
//! Every trait method here forwards to the inherent method of the same
//! name, so the hot path (one `KVM_RUN` per trap, registers through the
//! synced area) is what it was; the interface adds one indirect call.

use std::any::Any;
use std::sync::Arc;

use crate::interface::{
    AddressSpace, Context, ForkAction, FpuState, Frame, Kicker, Mapping, Platform, PlatformConfig,
    Retired, Trap,
};
use crate::memory::{FrameAllocator, GuestMemory};
use crate::{Error, Machine, PageTables, Result, UserContext, Vcpu};

/// The KVM platform: one VM with its memory pool.
pub struct Kvm {
    machine: Arc<Machine>,
}

impl Kvm {
    /// The platform on `machine` (no self-test; see [`new_platform`]).
    pub fn new(machine: Arc<Machine>) -> Self {
        Self { machine }
    }

    /// The machine.
    pub fn machine(&self) -> &Arc<Machine> {
        &self.machine
    }
}

/// Creates the default platform (KVM) and runs its start-up self-test:
/// a host whose KVM would let a stale translation survive a commit, or
/// let ring 3 reach compatibility mode, is refused
/// ([`crate::selftest`]).
pub fn new_platform(config: PlatformConfig) -> Result<Arc<dyn Platform>> {
    let machine = Arc::new(Machine::new(config)?);
    crate::selftest::self_test(&machine)?;
    Ok(Arc::new(Kvm::new(machine)))
}

impl Platform for Kvm {
    fn memory(&self) -> &GuestMemory {
        self.machine.memory()
    }

    fn frames(&self) -> &FrameAllocator {
        self.machine.frames()
    }

    fn zero_frame(&self) -> Frame {
        self.machine.zero_frame()
    }

    fn alloc_data(&self) -> Result<Frame> {
        self.machine.alloc_data()
    }

    fn new_address_space(&self) -> Result<Box<dyn AddressSpace>> {
        Ok(Box::new(PageTables::new(Arc::clone(&self.machine))?))
    }

    fn new_context(&self) -> Result<Box<dyn Context>> {
        Ok(Box::new(self.machine.create_vcpu()?))
    }

    fn shares_tables(&self) -> bool {
        self.machine.table_sharing()
    }
}

impl AddressSpace for PageTables {
    fn root(&self) -> u64 {
        PageTables::root(self)
    }

    fn lookup(&self, va: u64) -> Result<Option<Mapping>> {
        PageTables::lookup(self, va)
    }

    fn set(&mut self, va: u64, mapping: Option<Mapping>) -> Result<Option<Mapping>> {
        PageTables::set(self, va, mapping)
    }

    fn break_cow(&mut self, va: u64, frame: Frame, exec: bool) -> Result<()> {
        PageTables::break_cow(self, va, frame, exec)
    }

    fn update_range(
        &mut self,
        start: u64,
        end: u64,
        f: &mut dyn FnMut(u64, Mapping) -> Option<Mapping>,
    ) -> Result<()> {
        PageTables::update_range(self, start, end, f)
    }

    fn fork_range(
        &mut self,
        child: &mut dyn AddressSpace,
        start: u64,
        end: u64,
        action: ForkAction,
    ) -> Result<()> {
        let child = child
            .as_any_mut()
            .downcast_mut::<PageTables>()
            .ok_or(Error::ForeignAddressSpace)?;
        PageTables::fork_range(self, child, start, end, |_| action)
    }

    fn fork_ranges(
        &mut self,
        child: &mut dyn AddressSpace,
        ranges: &[(u64, u64, ForkAction)],
        share_tables: bool,
    ) -> Result<()> {
        let child = child
            .as_any_mut()
            .downcast_mut::<PageTables>()
            .ok_or(Error::ForeignAddressSpace)?;
        if share_tables && self.machine().table_sharing() {
            return PageTables::fork_share(self, child, ranges);
        }
        for &(start, end, action) in ranges {
            PageTables::fork_range(self, child, start, end, |_| action)?;
        }
        Ok(())
    }

    fn unshare(&mut self, va: u64, writable: (u64, u64)) -> Result<()> {
        PageTables::unshare(self, va, writable).map(|_| ())
    }

    fn shared_tables(&mut self) -> Result<usize> {
        PageTables::shared_leaf_tables(self)
    }

    fn count_present(&mut self, start: u64, end: u64) -> Result<usize> {
        PageTables::count_present(self, start, end)
    }

    fn count_present_upto(&mut self, start: u64, end: u64, limit: usize) -> Result<usize> {
        PageTables::count_present_upto(self, start, end, limit)
    }

    fn table_frames(&mut self) -> Result<usize> {
        PageTables::table_frames(self)
    }

    fn put_all_frames(&mut self) -> Result<()> {
        PageTables::put_all_frames(self)
    }

    fn commit(&mut self) -> Result<Option<Retired>> {
        Ok(self
            .commit_deferred()?
            .map(|retired| Retired::new(retired.old_root(), Box::new(move || retired.release()))))
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

impl Context for Vcpu {
    fn run(&mut self, ctx: &mut UserContext, root: u64) -> Result<Trap> {
        Vcpu::run(self, ctx, root)
    }

    fn kicker(&self) -> Kicker {
        Vcpu::kicker(self)
    }

    fn clear_kick(&self) {
        Vcpu::clear_kick(self)
    }

    fn reset(&mut self) -> Result<()> {
        Vcpu::reset(self)
    }

    fn save_fpu(&self) -> Result<FpuState> {
        Vcpu::save_fpu(self)
    }

    fn restore_fpu(&self, state: &FpuState) -> Result<()> {
        Vcpu::restore_fpu(self, state)
    }

    fn reset_fpu(&self) -> Result<()> {
        Vcpu::reset_fpu(self)
    }
}

//! vCPUs: run a guest user context until it traps.
//!
//! [`Vcpu::run`] loads a [`UserContext`] and an address-space root, enters
//! the guest with one `KVM_RUN`, and turns the exit into a [`Trap`]. All
//! register traffic goes through `KVM_CAP_SYNC_REGS` (general and special
//! registers), so the hot path makes exactly one ioctl per trap.
//!
//! * A `syscall` jumps to the trampoline (`LSTAR`), whose MMIO store exits
//!   with `KVM_EXIT_MMIO`; the return address and flags are in `rcx`/`r11`
//!   as the instruction left them, exactly as Linux sees them.
//! * An exception goes through the IDT to a three-instruction ring-0 stub
//!   that writes to [`EXCEPTION_PORT`]; the vector, error code and user
//!   iret frame are read from the vCPU's kernel stack, and user mode is
//!   resumed by writing the user segments into the synced special registers
//!   (no interpreted `iretq`).
//! * [`Kicker::kick`] makes a running `KVM_RUN` return from another thread
//!   (`immediate_exit` plus a signal), for signals and TLB shootdowns.
//! * Any exit that finds the vCPU in ring 0 anywhere but the exception
//!   stubs (or the trampoline) is an error: guest code in ring 0 is never
//!   resumed (see the crate doc, "Ring 0 stays out of the guest's reach").

use std::sync::Arc;
use std::sync::Once;
use std::sync::atomic::{AtomicI32, AtomicU8, Ordering};

use kvm_bindings::{Msrs, kvm_msr_entry, kvm_regs, kvm_segment, kvm_sregs, kvm_xsave};
use kvm_ioctls::{SyncReg, VcpuExit, VcpuFd};
use parking_lot::Mutex;

use crate::interface::Kick;
pub use crate::interface::{FpuState, Kicker, Trap};
use crate::x86_64::layout::*;
use crate::x86_64::supervisor::{TRAMPOLINE_LEN, has_error_code};
use crate::{Error, Machine, Result};

/// General-purpose registers of a guest thread, as Linux's `pt_regs` holds
/// them for user mode.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserRegs {
    pub rax: u64,
    pub rbx: u64,
    pub rcx: u64,
    pub rdx: u64,
    pub rsi: u64,
    pub rdi: u64,
    pub rsp: u64,
    pub rbp: u64,
    pub r8: u64,
    pub r9: u64,
    pub r10: u64,
    pub r11: u64,
    pub r12: u64,
    pub r13: u64,
    pub r14: u64,
    pub r15: u64,
    pub rip: u64,
    pub rflags: u64,
}

impl From<&kvm_regs> for UserRegs {
    fn from(r: &kvm_regs) -> Self {
        Self {
            rax: r.rax,
            rbx: r.rbx,
            rcx: r.rcx,
            rdx: r.rdx,
            rsi: r.rsi,
            rdi: r.rdi,
            rsp: r.rsp,
            rbp: r.rbp,
            r8: r.r8,
            r9: r.r9,
            r10: r.r10,
            r11: r.r11,
            r12: r.r12,
            r13: r.r13,
            r14: r.r14,
            r15: r.r15,
            rip: r.rip,
            rflags: r.rflags,
        }
    }
}

impl UserRegs {
    fn store(&self, r: &mut kvm_regs) {
        r.rax = self.rax;
        r.rbx = self.rbx;
        r.rcx = self.rcx;
        r.rdx = self.rdx;
        r.rsi = self.rsi;
        r.rdi = self.rdi;
        r.rsp = self.rsp;
        r.rbp = self.rbp;
        r.r8 = self.r8;
        r.r9 = self.r9;
        r.r10 = self.r10;
        r.r11 = self.r11;
        r.r12 = self.r12;
        r.r13 = self.r13;
        r.r14 = self.r14;
        r.r15 = self.r15;
        r.rip = self.rip;
        // Ring 3 may only set the arithmetic flags, DF, TF, AC and ID; IF
        // stays on and IOPL at 0, as Linux enforces on sigreturn.
        const USER_FLAGS: u64 = 0x0004_0dd5 | (1 << 21) | (1 << 8);
        r.rflags = (self.rflags & USER_FLAGS) | 0x202;
    }
}

/// Everything that defines where a guest thread is in user mode.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct UserContext {
    /// General-purpose registers, `rip` and `rflags`.
    pub regs: UserRegs,
    /// FS base (TLS).
    pub fs_base: u64,
    /// GS base.
    pub gs_base: u64,
}

const KICK_SIGNAL_OFFSET: i32 = 2;

/// The signal that kicks a vCPU thread out of `KVM_RUN`.
pub fn kick_signal() -> i32 {
    libc::SIGRTMIN() + KICK_SIGNAL_OFFSET
}

extern "C" fn on_kick(_: libc::c_int) {}

fn install_kick_handler() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        // SAFETY: a zeroed sigaction with a valid handler address and an
        // empty mask is a valid argument; the handler does nothing, so it is
        // async-signal-safe. No SA_RESTART: KVM_RUN must return EINTR.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_kick as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(kick_signal(), &sa, std::ptr::null_mut());
        }
    });
}

struct KickState {
    /// `kvm_run->immediate_exit`; null once the vCPU is gone.
    immediate_exit: Mutex<*const AtomicU8>,
    /// Host thread running the vCPU (0 when none).
    tid: AtomicI32,
}

// SAFETY: the raw pointer is only dereferenced under the mutex while the
// vCPU (and so its kvm_run mapping) is alive; Vcpu::drop nulls it first.
unsafe impl Send for KickState {}
// SAFETY: as above.
unsafe impl Sync for KickState {}

impl KickState {
    /// Forgets a kick that has not ended a run yet (see
    /// [`Vcpu::clear_kick`]).
    fn clear(&self) {
        let guard = self.immediate_exit.lock();
        if !guard.is_null() {
            // SAFETY: non-null means the kvm_run mapping is alive (see
            // KickState).
            unsafe { &**guard }.store(0, Ordering::SeqCst);
        }
    }
}

impl Kick for KickState {
    /// Kicks the vCPU: its current or next `run` returns
    /// [`Trap::Interrupted`] (or the trap it was already taking).
    fn kick(&self) {
        let guard = self.immediate_exit.lock();
        if guard.is_null() {
            return;
        }
        // SAFETY: non-null means the kvm_run mapping is alive (see KickState).
        unsafe { &**guard }.store(1, Ordering::SeqCst);
        let tid = self.tid.load(Ordering::SeqCst);
        if tid != 0 {
            // SAFETY: tgkill with our own pid and a thread id; at worst the
            // thread has moved on and takes a no-op signal.
            unsafe {
                libc::syscall(libc::SYS_tgkill, libc::getpid(), tid, kick_signal());
            }
        }
    }
}

fn user_segment(selector: u16, code: bool) -> kvm_segment {
    kvm_segment {
        base: 0,
        limit: 0xffff_ffff,
        selector,
        type_: if code { 11 } else { 3 },
        present: 1,
        dpl: 3,
        db: u8::from(!code),
        s: 1,
        l: u8::from(code),
        g: 1,
        avl: 0,
        unusable: 0,
        padding: 0,
    }
}

/// CR4 bits always set: PAE, OSFXSR, OSXMMEXCPT.
pub const CR4_BASE: u64 = 0x620;
/// CR4.UMIP: `sgdt`, `sidt`, `sldt`, `smsw`, `str` fault in ring 3.
pub const CR4_UMIP: u64 = 1 << 11;
/// CR4.SMEP: ring 0 cannot execute user pages.
pub const CR4_SMEP: u64 = 1 << 20;
/// CR4.SMAP: ring 0 cannot touch user pages (AC clear).
pub const CR4_SMAP: u64 = 1 << 21;

/// The special registers every entry into user mode starts from: paging
/// and long mode on, this vCPU's GDT/TSS, the shared IDT, no LDT, user
/// segments. The host writes all of them (not only the ones it means to
/// change) whenever it writes special registers, so nothing guest code
/// could have changed survives an entry.
fn canonical_sregs(mut sregs: kvm_sregs, slot: usize) -> kvm_sregs {
    sregs.cr0 = 0x8005_0033; // PE MP ET NE WP AM PG
    sregs.cr4 = CR4_BASE;
    sregs.efer = 0xd01; // SCE LME LMA NXE
    sregs.cr2 = 0;
    sregs.cr3 = 0;
    sregs.cr8 = 0;
    sregs.interrupt_bitmap = [0; 4];
    sregs.cs = user_segment(USER_CS, true);
    for s in [
        &mut sregs.ss,
        &mut sregs.ds,
        &mut sregs.es,
        &mut sregs.fs,
        &mut sregs.gs,
    ] {
        *s = user_segment(USER_DS, false);
    }
    let gdt = KBASE + vcpu_gdt_gpa(slot);
    sregs.tr = kvm_segment {
        base: gdt + TSS_OFFSET,
        limit: 0x67,
        selector: TSS_SEL,
        type_: 11,
        present: 1,
        ..Default::default()
    };
    sregs.ldt = kvm_segment {
        type_: 2,
        unusable: 1,
        ..Default::default()
    };
    sregs.gdt.base = gdt;
    sregs.gdt.limit = 10 * 8 - 1;
    sregs.gdt.padding = [0; 3];
    sregs.idt.base = KBASE + IDT_GPA;
    sregs.idt.limit = 256 * 16 - 1;
    sregs.idt.padding = [0; 3];
    sregs
}

/// Sets `sregs` with CR4 = [`CR4_BASE`] plus as many of SMEP, SMAP and
/// UMIP as KVM accepts (each is tried alone if the full set is refused,
/// and the result is read back). Returns the CR4 in effect.
fn set_cr4(fd: &VcpuFd, sregs: &mut kvm_sregs) -> Result<u64> {
    let kvm_err = |op| move |err| Error::Kvm { op, err };
    let wanted = CR4_SMEP | CR4_SMAP | CR4_UMIP;
    sregs.cr4 = CR4_BASE | wanted;
    if fd.set_sregs(sregs).is_err() {
        let mut ok = 0;
        for bit in [CR4_SMEP, CR4_SMAP, CR4_UMIP] {
            sregs.cr4 = CR4_BASE | bit;
            if fd.set_sregs(sregs).is_ok() {
                ok |= bit;
            }
        }
        sregs.cr4 = CR4_BASE | ok;
        fd.set_sregs(sregs).map_err(kvm_err("KVM_SET_SREGS"))?;
    }
    let back = fd.get_sregs().map_err(kvm_err("KVM_GET_SREGS"))?.cr4;
    if back & !wanted != CR4_BASE {
        return Err(Error::Cr4Rejected {
            wanted: sregs.cr4,
            got: back,
        });
    }
    Ok(back)
}

/// The MSRs the platform relies on and their canonical values.
fn canonical_msrs(slot: usize) -> Result<Vec<(u32, u64)>> {
    let star = ((USER32_CS as u64) << 48) | ((KERNEL_CS as u64) << 32);
    Ok(vec![
        (0xc000_0081, star),          // STAR
        (0xc000_0082, TRAMPOLINE_VA), // LSTAR
        // CSTAR: a compatibility-mode `syscall` would enter ring 0 here
        // (KVM-NOTES fact 1); no 32-bit code segment exists, and should
        // one ever be reached this stub exits and the host kills the task.
        (0xc000_0083, RING0_TRAP_VA),
        (0xc000_0084, 0x47700), // SFMASK: TF DF IF IOPL AC NT, as Linux
        // SYSENTER_CS = 0 makes `sysenter` raise #GP (or #UD on AMD in
        // long mode); EIP/ESP point at the trap stub and this vCPU's
        // kernel stack in case a CPU ignored the null selector.
        (0x174, 0),
        (0x175, vcpu_stack_top(slot)),
        (0x176, RING0_TRAP_VA),
        (0xc000_0100, 0), // FS base
        (0xc000_0101, 0), // GS base
        (0xc000_0102, 0), // kernel GS base
    ])
}

fn set_msrs(fd: &VcpuFd, values: &[(u32, u64)]) -> Result<()> {
    let entries: Vec<kvm_msr_entry> = values
        .iter()
        .map(|&(index, data)| kvm_msr_entry {
            index,
            data,
            ..Default::default()
        })
        .collect();
    let msrs = Msrs::from_entries(&entries).map_err(|err| Error::TooManyMsrs {
        count: entries.len(),
        err,
    })?;
    let set = fd.set_msrs(&msrs).map_err(|err| Error::Kvm {
        op: "KVM_SET_MSRS",
        err,
    })?;
    if set != entries.len() {
        return Err(Error::MsrRejected {
            set,
            wanted: entries.len(),
            index: entries[set].index,
        });
    }
    Ok(())
}

thread_local! {
    static TID: i32 = {
        // SAFETY: gettid has no preconditions.
        unsafe { libc::syscall(libc::SYS_gettid) as i32 }
    };
}

/// A virtual CPU that runs ring-3 guest code.
pub struct Vcpu {
    fd: VcpuFd,
    machine: Arc<Machine>,
    slot: usize,
    kick: Arc<KickState>,
    /// The special registers every user-mode entry starts from.
    canonical: kvm_sregs,
    /// The MSRs [`Vcpu::reset`] restores.
    msrs: Vec<(u32, u64)>,
    loaded_cr3: u64,
    loaded_fs: u64,
    loaded_gs: u64,
    /// False after an exception left the vCPU in a ring-0 stub.
    in_user_mode: bool,
    initial_fpu: FpuState,
}

impl Vcpu {
    pub(crate) fn new(machine: Arc<Machine>) -> Result<Self> {
        install_kick_handler();
        let slot = machine.take_vcpu_slot()?;
        match Self::create(&machine, slot) {
            Ok(v) => Ok(v),
            Err(e) => {
                machine.release_vcpu_slot(slot);
                Err(e)
            }
        }
    }

    fn create(machine: &Arc<Machine>, slot: usize) -> Result<Self> {
        let kvm_err = |op| move |err| Error::Kvm { op, err };
        let mut fd = machine
            .vm()
            .create_vcpu(machine.next_vcpu_id())
            .map_err(kvm_err("KVM_CREATE_VCPU"))?;
        // CPUID must come before EFER.LME/SCE/NXE are accepted.
        fd.set_cpuid2(machine.cpuid())
            .map_err(kvm_err("KVM_SET_CPUID2"))?;
        let mut sregs = canonical_sregs(fd.get_sregs().map_err(kvm_err("KVM_GET_SREGS"))?, slot);
        sregs.cr4 = set_cr4(&fd, &mut sregs)?;
        let msrs = canonical_msrs(slot)?;
        set_msrs(&fd, &msrs)?;
        let initial_fpu = FpuState(Box::new(
            fd.get_xsave().map_err(kvm_err("KVM_GET_XSAVE"))?.region,
        ));
        fd.set_sync_valid_reg(SyncReg::Register);
        fd.set_sync_valid_reg(SyncReg::SystemRegister);
        // The sync area is only filled by an exit; seed it so the first
        // entry's dirty special registers are complete.
        fd.sync_regs_mut().sregs = sregs;
        let immediate_exit = &fd.get_kvm_run().immediate_exit as *const u8 as *const AtomicU8;
        Ok(Self {
            fd,
            machine: Arc::clone(machine),
            slot,
            kick: Arc::new(KickState {
                immediate_exit: Mutex::new(immediate_exit),
                tid: AtomicI32::new(0),
            }),
            canonical: sregs,
            msrs,
            loaded_cr3: u64::MAX,
            loaded_fs: u64::MAX,
            loaded_gs: u64::MAX,
            in_user_mode: false,
            initial_fpu,
        })
    }

    /// Control register 4 as set on this vCPU: the base bits plus whichever
    /// of SMEP, SMAP and UMIP this host's KVM accepted.
    pub fn cr4(&self) -> u64 {
        self.canonical.cr4
    }

    /// Makes the vCPU fit for an unrelated task: writes every MSR the
    /// platform relies on (`STAR`, `LSTAR`, `CSTAR`, `SFMASK`, the
    /// `SYSENTER` MSRs, FS/GS/kernel-GS bases) back to its canonical value
    /// (one `KVM_SET_MSRS`) and makes the next [`Vcpu::run`] write the full
    /// canonical set of special registers. Ring 3 cannot change any of them
    /// and ring 0 is never entered with guest code, but the sentry calls
    /// this whenever a pooled vCPU changes hands, so no state one guest
    /// could have planted survives into another.
    pub fn reset(&mut self) -> Result<()> {
        // A kick aimed at the previous task (its own exit kicks it) must
        // not cost the next one a spurious exit on its first entry.
        self.kick.clear();
        self.in_user_mode = false;
        self.loaded_cr3 = u64::MAX;
        self.loaded_fs = u64::MAX;
        self.loaded_gs = u64::MAX;
        set_msrs(&self.fd, &self.msrs)
    }

    /// Reads the MSRs that [`Vcpu::reset`] writes, as `(index, value)`
    /// (an ioctl; for tests and diagnostics).
    pub fn guarded_msrs(&self) -> Result<Vec<(u32, u64)>> {
        let mut msrs = Msrs::from_entries(
            &self
                .msrs
                .iter()
                .map(|&(index, _)| kvm_msr_entry {
                    index,
                    ..Default::default()
                })
                .collect::<Vec<_>>(),
        )
        .map_err(|err| Error::TooManyMsrs {
            count: self.msrs.len(),
            err,
        })?;
        let n = self.fd.get_msrs(&mut msrs).map_err(|err| Error::Kvm {
            op: "KVM_GET_MSRS",
            err,
        })?;
        Ok(msrs.as_slice()[..n]
            .iter()
            .map(|e| (e.index, e.data))
            .collect())
    }

    /// The canonical values [`Vcpu::reset`] writes, as `(index, value)`.
    pub fn canonical_msrs(&self) -> &[(u32, u64)] {
        &self.msrs
    }

    /// Forgets kicks that arrived while no `run` was in progress. A kick
    /// announces work (a signal, an exit, a TLB shootdown) that its sender
    /// records first: call this before checking for that work, and
    /// re-enter only after the checks, so that a kick is never lost, only
    /// the exit it would have forced on an entry that would see the work
    /// anyway.
    pub fn clear_kick(&self) {
        self.kick.clear();
    }

    /// A handle that kicks this vCPU out of `KVM_RUN` from another thread.
    pub fn kicker(&self) -> Kicker {
        Kicker::new(Arc::clone(&self.kick) as Arc<dyn Kick>)
    }

    /// Saves the FPU/SSE/AVX state (one ioctl, about 7 µs).
    pub fn save_fpu(&self) -> Result<FpuState> {
        self.fd
            .get_xsave()
            .map(|x| FpuState(Box::new(x.region)))
            .map_err(|err| Error::Kvm {
                op: "KVM_GET_XSAVE",
                err,
            })
    }

    /// Restores FPU state saved by [`Vcpu::save_fpu`] (possibly on another
    /// vCPU of the same machine).
    pub fn restore_fpu(&self, state: &FpuState) -> Result<()> {
        let xsave = kvm_xsave {
            region: *state.0,
            extra: Default::default(),
        };
        // SAFETY: a complete kvm_xsave (its flexible tail is empty, as
        // KVM_GET_XSAVE returns it), whose size is what KVM expects.
        unsafe { self.fd.set_xsave(&xsave) }.map_err(|err| Error::Kvm {
            op: "KVM_SET_XSAVE",
            err,
        })
    }

    /// Resets the FPU state to what a fresh process starts with.
    pub fn reset_fpu(&self) -> Result<()> {
        self.restore_fpu(&self.initial_fpu)
    }

    /// Runs `ctx` on the address space whose root is `cr3` until it traps.
    /// On return `ctx` holds the user state at the trap.
    pub fn run(&mut self, ctx: &mut UserContext, cr3: u64) -> Result<Trap> {
        let tid = TID.with(|t| *t);
        self.kick.tid.store(tid, Ordering::SeqCst);
        let result = self.run_inner(ctx, cr3);
        self.kick.tid.store(0, Ordering::SeqCst);
        result
    }

    fn run_inner(&mut self, ctx: &mut UserContext, cr3: u64) -> Result<Trap> {
        // Linux never gives user mode a non-canonical FS or GS base
        // (arch_prctl and clone refuse it with EPERM, and ring 3 has no
        // WRFSBASE here), and this host's KVM cannot load one natively:
        // refuse rather than enter. A non-canonical RIP or RSP is the
        // guest's to have, as on Linux: the first fetch is a #GP, the first
        // stack access a #SS, and a `syscall` on such a stack still traps
        // (see `is_ring0_syscall_entry`).
        for (name, base) in [("FS", ctx.fs_base), ("GS", ctx.gs_base)] {
            if !is_canonical(base) {
                return Err(Error::NonCanonicalBase {
                    register: name,
                    base,
                });
            }
        }
        {
            let sync = self.fd.sync_regs_mut();
            ctx.regs.store(&mut sync.regs);
        }
        self.fd.set_sync_dirty_reg(SyncReg::Register);
        if !self.in_user_mode
            || cr3 != self.loaded_cr3
            || ctx.fs_base != self.loaded_fs
            || ctx.gs_base != self.loaded_gs
        {
            // The full canonical set, never the registers as the exit left
            // them: whatever ring 0 might have changed is overwritten.
            let mut sregs = self.canonical;
            sregs.cr3 = cr3;
            sregs.fs.base = ctx.fs_base;
            sregs.gs.base = ctx.gs_base;
            self.fd.sync_regs_mut().sregs = sregs;
            self.fd.set_sync_dirty_reg(SyncReg::SystemRegister);
            self.loaded_cr3 = cr3;
            self.loaded_fs = ctx.fs_base;
            self.loaded_gs = ctx.gs_base;
            self.in_user_mode = true;
        }
        // Kicks that land while the vCPU is between ring 3 and the exit (in
        // the trampoline or an exception stub) complete the trap on the
        // host, so a kick always ends the run (see Exit::Interrupted).
        let mut kicks_mid_trap = 0;
        loop {
            let exit = match self.fd.run() {
                Ok(VcpuExit::MmioWrite(addr, _)) => Exit::MmioWrite(addr),
                Ok(VcpuExit::MmioRead(addr, data)) => {
                    data.fill(0);
                    Exit::MmioRead(addr)
                }
                Ok(VcpuExit::IoOut(port, _)) if port == EXCEPTION_PORT => Exit::Exception,
                Ok(VcpuExit::IoOut(port, _)) if port == RING0_TRAP_PORT => Exit::Ring0Trap,
                Ok(other) => Exit::Other(format!("{other:?}")),
                Err(e) if e.errno() == libc::EINTR => Exit::Interrupted,
                Err(err) => return Err(Error::Kvm { op: "KVM_RUN", err }),
            };
            let sync = self.fd.sync_regs();
            let regs = sync.regs;
            let sregs = sync.sregs;
            if matches!(exit, Exit::MmioRead(_)) {
                // KVM finishes an MMIO read on the next KVM_RUN, over
                // whatever registers we set by then (it restores the
                // faulting RIP plus the instruction's length, and a string
                // load stores to memory): finish it now, while the state
                // is still this guest's own, and keep the registers of
                // the fault.
                self.complete_pending_read()?;
            }
            let ring0 = sregs.cs.selector & 3 != 3 || sregs.cs.dpl != 3;
            let in_trampoline =
                (TRAMPOLINE_VA..=TRAMPOLINE_VA + TRAMPOLINE_LEN).contains(&regs.rip);
            let in_stubs = (STUBS_VA..STUBS_VA + RING0_TRAP_OFFSET).contains(&regs.rip);
            if ring0 {
                // Ring 0 runs nothing but the exception stubs (and, on a
                // host where SYSCALL changes privilege, the trampoline).
                // Anything else is guest code in ring 0: never resume it.
                self.in_user_mode = false;
                let expected = match exit {
                    Exit::Exception => in_stubs,
                    Exit::Interrupted => in_stubs || in_trampoline,
                    Exit::MmioWrite(_) => in_trampoline,
                    _ => false,
                };
                if !expected {
                    return Err(ring0_error(&exit, &regs, &sregs));
                }
            } else {
                ctx.fs_base = sregs.fs.base;
                ctx.gs_base = sregs.gs.base;
                self.loaded_fs = ctx.fs_base;
                self.loaded_gs = ctx.gs_base;
            }
            match exit {
                Exit::MmioWrite(addr) if addr & !0xfff == MMIO_GPA && in_trampoline => {
                    return Ok(syscall_trap(ctx, &regs));
                }
                Exit::MmioWrite(addr) | Exit::MmioRead(addr) => {
                    // The guest touched the MMIO page itself: a fault at
                    // the address it used (present | user, plus write).
                    ctx.regs = UserRegs::from(&regs);
                    let write = matches!(exit, Exit::MmioWrite(_));
                    return Ok(Trap::page_fault(
                        if addr & !0xfff == MMIO_GPA {
                            MMIO_VA + (addr & 0xfff)
                        } else {
                            MMIO_VA
                        },
                        if write { 0x7 } else { 0x5 },
                    ));
                }
                Exit::Exception => return self.exception(ctx, &regs, sregs.cr2),
                Exit::Interrupted => {
                    self.fd.set_kvm_immediate_exit(0);
                    if ring0 && in_stubs {
                        // Kicked inside an exception stub (checked above),
                        // before its exit: the CPU has already pushed the
                        // user frame, so take the trap from it rather than
                        // resume ring 0 (which a tampered stub could keep).
                        return self.exception_mid_stub(ctx, &regs, sregs.cr2);
                    }
                    if regs.rip == TRAMPOLINE_VA {
                        // Kicked on the trampoline, before its store: the
                        // syscall is complete in the registers.
                        return Ok(syscall_trap(ctx, &regs));
                    }
                    if in_trampoline {
                        // Mid-way into a trap: let it finish and report it.
                        kicks_mid_trap += 1;
                        if kicks_mid_trap > MAX_KICKS_MID_TRAP {
                            return Err(Error::Stuck {
                                what: format!(
                                    "kicked {kicks_mid_trap} times without leaving the trap path"
                                ),
                                rip: regs.rip,
                            });
                        }
                        continue;
                    }
                    ctx.regs = UserRegs::from(&regs);
                    return Ok(Trap::Interrupted);
                }
                Exit::Ring0Trap | Exit::Other(_) => {
                    return Err(Error::UnexpectedExit {
                        exit: exit.describe(),
                        rip: regs.rip,
                    });
                }
            }
        }
    }

    /// Finishes the guest instruction whose MMIO read the last exit
    /// reported, with `immediate_exit` set: KVM completes it (with zeros
    /// for every byte read from the MMIO page) and returns EINTR without
    /// running guest code. A string instruction (`rep movsb` from the
    /// page) asks for its next chunk on each completion; its pointer moves
    /// through the one MMIO page, so [`MAX_MMIO_COMPLETIONS`] exits bound
    /// it. An exception the finished instruction raised (a `movsb` from
    /// the page to an unmapped address: #PF) is dropped: the trap reported
    /// is the fault at its first read, and the registers are set anew
    /// before the next entry.
    fn complete_pending_read(&mut self) -> Result<()> {
        let kicked = self.fd.get_kvm_run().immediate_exit;
        self.fd.set_kvm_immediate_exit(1);
        let mut result = Err(Error::Stuck {
            what: format!(
                "instruction still reading MMIO after {MAX_MMIO_COMPLETIONS} completions"
            ),
            rip: self.fd.sync_regs().regs.rip,
        });
        for _ in 0..MAX_MMIO_COMPLETIONS {
            match self.fd.run() {
                Err(e) if e.errno() == libc::EINTR => {
                    result = Ok(());
                    break;
                }
                Ok(VcpuExit::MmioRead(_, data)) => data.fill(0),
                Ok(VcpuExit::MmioWrite(..)) => {}
                Ok(other) => {
                    let exit = format!("{other:?} while finishing an MMIO read");
                    result = Err(Error::UnexpectedExit {
                        exit,
                        rip: self.fd.sync_regs().regs.rip,
                    });
                    break;
                }
                Err(err) => {
                    result = Err(Error::Kvm { op: "KVM_RUN", err });
                    break;
                }
            }
        }
        // A kick that was pending stays pending for the next entry.
        self.fd.set_kvm_immediate_exit(kicked);
        let mut events = self.fd.get_vcpu_events().map_err(|err| Error::Kvm {
            op: "KVM_GET_VCPU_EVENTS",
            err,
        })?;
        if events.exception.injected != 0 || events.exception.pending != 0 {
            events.exception = Default::default();
            events.exception_has_payload = 0;
            events.exception_payload = 0;
            self.fd.set_vcpu_events(&events).map_err(|err| Error::Kvm {
                op: "KVM_SET_VCPU_EVENTS",
                err,
            })?;
        }
        result
    }

    fn exception(&mut self, ctx: &mut UserContext, regs: &kvm_regs, cr2: u64) -> Result<Trap> {
        self.in_user_mode = false;
        let top = vcpu_stack_top(self.slot);
        let rsp = regs.rsp;
        if !(top - 0x1000..=top - 7 * 8).contains(&rsp) {
            return Err(Error::Ring0 {
                what: format!("exception stub on a bad stack {rsp:#x}"),
                rip: regs.rip,
            });
        }
        let mem = self.machine.memory();
        let vector = mem.read_u64(rsp - KBASE)?;
        let error_code = mem.read_u64(rsp - KBASE + 8)?;
        self.user_trap(ctx, regs, cr2, vector, error_code, rsp + 16)
    }

    /// A kick found the vCPU in exception stub `(rip - STUBS_VA) / 16`
    /// before its exit. The CPU pushed the user frame (and error code) at
    /// the top of the kernel stack; the stub has pushed at most two words
    /// below it.
    fn exception_mid_stub(
        &mut self,
        ctx: &mut UserContext,
        regs: &kvm_regs,
        cr2: u64,
    ) -> Result<Trap> {
        self.in_user_mode = false;
        let top = vcpu_stack_top(self.slot);
        let vector = (regs.rip - STUBS_VA) / 16;
        if vector >= 32 || !(top - 7 * 8..=top - 5 * 8).contains(&regs.rsp) {
            return Err(Error::Ring0 {
                what: format!(
                    "kicked with rsp {:#x}, not in a stub's first steps",
                    regs.rsp
                ),
                rip: regs.rip,
            });
        }
        let error_code = if has_error_code(vector as u8) {
            self.machine.memory().read_u64(top - 6 * 8 - KBASE)?
        } else {
            0
        };
        self.user_trap(ctx, regs, cr2, vector, error_code, top - 5 * 8)
    }

    /// The trap for exception `vector` whose CPU frame (rip, cs, rflags,
    /// rsp, ss) is at `frame`.
    fn user_trap(
        &mut self,
        ctx: &mut UserContext,
        regs: &kvm_regs,
        cr2: u64,
        vector: u64,
        error_code: u64,
        frame: u64,
    ) -> Result<Trap> {
        let mem = self.machine.memory();
        let mut f = [0u64; 5];
        for (i, v) in f.iter_mut().enumerate() {
            *v = mem.read_u64(frame - KBASE + 8 * i as u64)?;
        }
        let [rip, cs, rflags, user_rsp, _ss] = f;
        if is_ring0_syscall_entry(cs, rip, vector, error_code, cr2) {
            // The syscall is complete in the registers (rcx/r11), and the
            // user RSP is the one in the frame: SYSCALL does not switch
            // stacks. The next entry writes the user segments back.
            let trap = syscall_trap(ctx, regs);
            ctx.regs.rsp = user_rsp;
            return Ok(trap);
        }
        if cs & 3 != 3 || vector >= 32 {
            return Err(Error::Ring0 {
                what: format!("exception {vector} in supervisor code"),
                rip,
            });
        }
        ctx.regs = UserRegs::from(regs);
        ctx.regs.rip = rip;
        ctx.regs.rsp = user_rsp;
        ctx.regs.rflags = rflags;
        Ok(if vector == 14 {
            Trap::page_fault(cr2, error_code)
        } else {
            Trap::Exception {
                vector: vector as u8,
                error_code,
            }
        })
    }
}

/// Bound on the MMIO exits one guest instruction may take while it is
/// finished after a read of the MMIO page (two per byte of the page, for a
/// `rep movsb` from the page to itself, plus slack).
const MAX_MMIO_COMPLETIONS: usize = 2 * 4096 + 16;

/// The syscall trap for registers stopped at the trampoline: the return
/// address and flags are in rcx/r11, as `syscall` left them.
fn syscall_trap(ctx: &mut UserContext, regs: &kvm_regs) -> Trap {
    ctx.regs = UserRegs::from(regs);
    ctx.regs.rip = regs.rcx;
    ctx.regs.rflags = regs.r11;
    Trap::Syscall {
        nr: regs.rax,
        args: [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9],
    }
}

/// Whether `addr` is canonical with 48-bit virtual addresses (bits 63..47
/// all equal).
pub fn is_canonical(addr: u64) -> bool {
    ((addr as i64) << 16 >> 16) as u64 == addr
}

/// Whether an exception frame shows a `syscall` that entered ring 0 and
/// stopped at once: SMEP's instruction-fetch #PF (present, fetch, not
/// user: error 0x11) at the trampoline, from the kernel code segment.
///
/// Natively SYSCALL stays in ring 3 on this host (KVM-NOTES fact 1), but
/// while KVM emulates the guest (it does so while the user state cannot be
/// entered natively: a non-canonical RSP or FS base) an emulated `syscall`
/// is architectural: CPL 0, CS from `STAR`, RIP = `LSTAR`, RSP unchanged.
/// The trampoline is a user page, so SMEP stops the first fetch; the #PF
/// is delivered on the IST stack (see `supervisor::build_vcpu`). No guest
/// instruction ran in ring 0, and only the CPU can push CS = 0x10: ring 3
/// cannot fake this frame.
fn is_ring0_syscall_entry(cs: u64, rip: u64, vector: u64, error_code: u64, cr2: u64) -> bool {
    cs == u64::from(KERNEL_CS)
        && vector == 14
        && rip == TRAMPOLINE_VA
        && cr2 == TRAMPOLINE_VA
        && error_code == 0x11
}

/// How many kicks in a row may find the vCPU inside the trampoline past its
/// first instruction (never seen: its one store exits) before
/// [`Vcpu::run`] gives up.
const MAX_KICKS_MID_TRAP: u32 = 8;

enum Exit {
    MmioWrite(u64),
    MmioRead(u64),
    Exception,
    /// The `CSTAR`/`SYSENTER` stub ran: a 32-bit syscall or `sysenter`
    /// entered ring 0.
    Ring0Trap,
    Interrupted,
    Other(String),
}

impl Exit {
    fn describe(&self) -> String {
        match self {
            Exit::MmioWrite(a) => format!("MMIO write to {a:#x}"),
            Exit::MmioRead(a) => format!("MMIO read of {a:#x}"),
            Exit::Exception => "exception stub".into(),
            Exit::Ring0Trap => "CSTAR/SYSENTER trap stub (compat-mode syscall or sysenter)".into(),
            Exit::Interrupted => "kick".into(),
            Exit::Other(what) => what.clone(),
        }
    }
}

/// The error for an exit that shows guest code running in ring 0: the
/// vCPU is never resumed there, and the sentry kills the task.
fn ring0_error(exit: &Exit, regs: &kvm_regs, sregs: &kvm_sregs) -> Error {
    Error::Ring0 {
        what: format!("{}, cs {:#x}", exit.describe(), sregs.cs.selector),
        rip: regs.rip,
    }
}

impl Drop for Vcpu {
    fn drop(&mut self) {
        *self.kick.immediate_exit.lock() = std::ptr::null();
        self.machine.release_vcpu_slot(self.slot);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_addresses() {
        assert!(is_canonical(0));
        assert!(is_canonical(0x7fff_ffff_ffff));
        assert!(is_canonical(0xffff_8000_0000_0000));
        assert!(is_canonical(u64::MAX));
        assert!(!is_canonical(0x8000_0000_0000));
        assert!(!is_canonical(0x8000_0000_0000_0000));
        assert!(!is_canonical(0xffff_7fff_ffff_fff8));
        assert!(!is_canonical(0x2b04_d8ba_dc53_e4db));
    }

    #[test]
    fn only_smeps_fetch_fault_at_lstar_from_kernel_cs_is_a_syscall() {
        let cs = u64::from(KERNEL_CS);
        let t = TRAMPOLINE_VA;
        assert!(is_ring0_syscall_entry(cs, t, 14, 0x11, t));
        // From ring 3 (a jump to the trampoline), another vector, another
        // address or a write fault: not a syscall.
        assert!(!is_ring0_syscall_entry(u64::from(USER_CS), t, 14, 0x11, t));
        assert!(!is_ring0_syscall_entry(cs, t, 13, 0x11, t));
        assert!(!is_ring0_syscall_entry(cs, t + 1, 14, 0x11, t + 1));
        assert!(!is_ring0_syscall_entry(cs, t, 14, 0x03, t));
        assert!(!is_ring0_syscall_entry(cs, STUBS_VA, 14, 0x11, STUBS_VA));
    }
}

//! Signal numbers, sets, actions, queued siginfo, default actions, and the
//! x86-64 `rt_sigframe` (ucontext with XSAVE state) used to enter a handler
//! and to return from it.

use std::collections::VecDeque;

use platform::UserRegs;

use crate::abi::Abi;
use crate::errno::Errno;

// The ABI types live in `crate::abi::signal`; kernel code names them here.
pub use crate::abi::signal::{
    MCONTEXT_OFFSET, SIGMASK_OFFSET, Sigcontext, UCONTEXT_SIZE, Ucontext, sc,
};
pub use crate::abi::signal::{
    NSIG, SIG_DFL, SIG_IGN, SS_AUTODISARM, SS_DISABLE, SS_ONSTACK, SaFlags, SigAction, SigActions,
    SigArg, SigInfo, SigSet, Signal, StackT, code, name, sa, sig, valid_signal,
};
use sig::*;

/// What the default action of a signal does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DefaultAction {
    /// Terminate the process.
    Terminate,
    /// Terminate (a core dump, which the sandbox does not write).
    Core,
    /// Nothing.
    Ignore,
    /// Stop the process.
    Stop,
    /// Continue a stopped process.
    Continue,
}

/// The default action of `s`.
pub fn default_action(s: Signal) -> DefaultAction {
    match s.number() {
        SIGQUIT | SIGILL | SIGTRAP | SIGABRT | SIGBUS | SIGFPE | SIGSEGV | SIGXCPU | SIGXFSZ
        | SIGSYS => DefaultAction::Core,
        SIGCHLD | SIGURG | SIGWINCH => DefaultAction::Ignore,
        SIGSTOP | SIGTSTP | SIGTTIN | SIGTTOU => DefaultAction::Stop,
        SIGCONT => DefaultAction::Continue,
        _ => DefaultAction::Terminate,
    }
}

/// Pending signals: one instance per standard signal, queued real-time
/// signals.
///
/// Queued real-time signals are host memory the guest can make the sentry
/// allocate, so the whole sentry process holds at most
/// [`MAX_QUEUED_REALTIME`] of them (Linux bounds them per user by
/// RLIMIT_SIGPENDING; this is that limit's default on the test hosts,
/// about 8 MiB of siginfo). Past it a real-time signal that is already
/// pending is not queued again: its information is lost, as in Linux's
/// overflow case for kill(); one that is not pending yet is still queued,
/// so each queue holds at most 32 more.
#[derive(Debug, Default)]
pub struct SigQueue {
    queue: VecDeque<SigInfo>,
    /// How many real-time entries of `queue` are counted in [`QUEUED`].
    counted: usize,
    /// How many signals were queued here (signalfd's EPOLLET edges:
    /// Linux's signalfd_notify, not called for a standard signal already
    /// pending).
    pushed: u64,
}

/// The bound on queued real-time signals in the sentry process.
pub const MAX_QUEUED_REALTIME: usize = 63_704;

/// Real-time signals queued in every [`SigQueue`] of the process.
static QUEUED: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

impl Clone for SigQueue {
    fn clone(&self) -> Self {
        let mut q = Self {
            queue: self.queue.clone(),
            counted: 0,
            pushed: self.pushed,
        };
        q.recount();
        q
    }
}

impl Drop for SigQueue {
    fn drop(&mut self) {
        QUEUED.fetch_sub(self.counted, std::sync::atomic::Ordering::Relaxed);
    }
}

impl SigQueue {
    /// Brings [`QUEUED`] up to date after `queue` changed.
    fn recount(&mut self) {
        let now = self
            .queue
            .iter()
            .filter(|i| i.signal().is_some_and(|s| s.is_realtime()))
            .count();
        if now >= self.counted {
            QUEUED.fetch_add(now - self.counted, std::sync::atomic::Ordering::Relaxed);
        } else {
            QUEUED.fetch_sub(self.counted - now, std::sync::atomic::Ordering::Relaxed);
        }
        self.counted = now;
    }

    /// Whether a real-time `info` may not be queued again: the bound is
    /// reached and one of its number is already pending.
    fn overflows(&self, info: &SigInfo) -> bool {
        QUEUED.load(std::sync::atomic::Ordering::Relaxed) >= MAX_QUEUED_REALTIME
            && self.queue.iter().any(|i| i.signo == info.signo)
    }

    /// Real-time signals queued in the whole sentry process.
    pub fn queued_realtime() -> usize {
        QUEUED.load(std::sync::atomic::Ordering::Relaxed)
    }
    /// How many signals were ever queued here.
    pub fn pushed(&self) -> u64 {
        self.pushed
    }

    /// The set of pending signals.
    pub fn set(&self) -> SigSet {
        let mut s = SigSet::default();
        for sig in self.queue.iter().filter_map(SigInfo::signal) {
            s.add(sig);
        }
        s
    }

    /// Queues a signal (standard ones coalesce). Only a siginfo naming a
    /// signal is queued: every sender validated it into a [`Signal`].
    pub fn push(&mut self, info: SigInfo) {
        let Some(s) = info.signal() else {
            debug_assert!(false, "queued a siginfo without a signal: {info:?}");
            return;
        };
        if !s.is_realtime() && self.queue.iter().any(|i| i.signo == info.signo) {
            return;
        }
        if s.is_realtime() && self.overflows(&info) {
            return;
        }
        self.queue.push_back(info);
        self.pushed += 1;
        if s.is_realtime() {
            self.counted += 1;
            QUEUED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Queues a signal even if a standard signal of that number is already
    /// pending (a POSIX timer's signal: Linux's send_sigqueue always adds
    /// the timer's preallocated siginfo).
    pub fn push_always(&mut self, info: SigInfo) {
        let Some(s) = info.signal() else {
            return;
        };
        if s.is_realtime() && self.overflows(&info) {
            return;
        }
        self.queue.push_back(info);
        self.pushed += 1;
        if s.is_realtime() {
            self.counted += 1;
            QUEUED.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    /// Takes the lowest-numbered pending signal not in `blocked`.
    pub fn pop(&mut self, blocked: SigSet) -> Option<SigInfo> {
        let deliverable = self.set().0 & !blocked.0;
        if deliverable == 0 {
            return None;
        }
        // SIGKILL first, then the lowest number (as Linux).
        let deliverable = SigSet(deliverable);
        let signal = if deliverable.has(Signal::SIGKILL) {
            Signal::SIGKILL
        } else {
            deliverable.lowest()?
        };
        let idx = self.queue.iter().position(|i| i.signal() == Some(signal))?;
        let info = self.queue.remove(idx);
        if signal.is_realtime() {
            self.counted -= 1;
            QUEUED.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
        }
        info
    }

    /// Drops every pending instance of the signals in `set`.
    pub fn discard(&mut self, set: SigSet) {
        self.queue
            .retain(|i| i.signal().is_some_and(|s| !set.has(s)));
        self.recount();
    }
}

/// `sigaltstack` state: Linux's sas_ss_sp, sas_ss_size and sas_ss_flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AltStack {
    /// ss_sp.
    pub sp: u64,
    /// ss_size (0: no alternate stack).
    pub size: u64,
    /// The flags as last set (sigaltstack's ss_flags; SS_DISABLE after a
    /// reset; 0 in a fresh process): what a signal frame's uc_stack shows.
    pub flags: i32,
}

impl AltStack {
    /// Whether `sp` lies on this stack.
    pub fn contains(&self, sp: u64) -> bool {
        self.size != 0 && sp > self.sp && sp - self.sp <= self.size
    }

    /// Linux's on_sig_stack: never with SS_AUTODISARM (the stack was
    /// disarmed when the handler started on it).
    pub fn on_stack(&self, sp: u64) -> bool {
        self.flags & SS_AUTODISARM == 0 && self.contains(sp)
    }

    /// Linux's sas_ss_reset (autodisarm, CLONE_VM threads).
    pub fn reset() -> Self {
        Self {
            sp: 0,
            size: 0,
            flags: SS_DISABLE,
        }
    }
}

/// MINSIGSTKSZ as sigaltstack checks it.
pub const MINSIGSTKSZ: u64 = 2048;

/// The alternate stack sigaltstack(2) sets from `ss` (do_sigaltstack
/// without the on-stack check): EINVAL for bad flags, ENOMEM when too small.
pub fn altstack_from(sp: u64, flags: i32, size: u64) -> Result<AltStack, Errno> {
    let mode = flags & !SS_AUTODISARM;
    if mode != 0 && mode != SS_DISABLE && mode != SS_ONSTACK {
        return Err(Errno::EINVAL);
    }
    if mode == SS_DISABLE {
        return Ok(AltStack {
            sp: 0,
            size: 0,
            flags,
        });
    }
    if size < MINSIGSTKSZ {
        return Err(Errno::ENOMEM);
    }
    Ok(AltStack { sp, size, flags })
}

/// Size of the XSAVE area saved in a signal frame (KVM_GET_XSAVE's).
pub const XSAVE_SIZE: u64 = 4096;
const FP_XSTATE_MAGIC1: u32 = 0x4650_5853;
const FP_XSTATE_MAGIC2: u32 = 0x4650_5845;
const UC_FP_XSTATE: u64 = 1;
const UC_SIGCONTEXT_SS: u64 = 2;
const UC_STRICT_RESTORE_SS: u64 = 4;
/// Size of `struct rt_sigframe` without the FPU state.
pub const FRAME_SIZE: u64 = 8 + UCONTEXT_SIZE + 128;
/// Offset of the ucontext in the frame.
pub const UC_OFFSET: u64 = 8;
/// Offset of the siginfo in the frame.
pub const INFO_OFFSET: u64 = 8 + UCONTEXT_SIZE;

/// Where a signal frame goes and what it holds.
pub struct FrameLayout {
    /// Address of the frame (the handler's rsp).
    pub frame: u64,
    /// Address of the XSAVE area.
    pub fpstate: u64,
}

/// Computes the frame position below `sp` (or on the alternate stack), as
/// Linux's get_sigframe does.
pub fn frame_layout(sp: u64, alt: Option<&AltStack>) -> FrameLayout {
    let mut sp = sp.wrapping_sub(128); // red zone
    if let Some(a) = alt {
        sp = a.sp.wrapping_add(a.size);
    }
    sp = sp.wrapping_sub(XSAVE_SIZE + 4);
    let fpstate = sp & !63;
    let frame = (fpstate.wrapping_sub(FRAME_SIZE) & !15).wrapping_sub(8);
    FrameLayout { frame, fpstate }
}

/// What Linux keeps in `thread.trap_nr`, `thread.error_code` and
/// `thread.cr2`: set by the last fault that sent the thread a signal, and
/// copied into every signal frame's `trapno`, `err` and `cr2` (also for
/// signals that are not faults, which see what the last fault left). A
/// child inherits its parent's.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FaultRegs {
    /// The exception vector (14 for a page fault).
    pub trapno: u64,
    /// The error code (a page fault's has the user bit set).
    pub err: u64,
    /// The faulting address of the last page fault.
    pub cr2: u64,
}

/// Encodes the frame (without the FPU area) for the handler: `struct
/// rt_sigframe` { pretcode, ucontext, siginfo }, as Linux's
/// setup_rt_frame / setup_sigcontext write it.
pub fn encode_frame(
    regs: &UserRegs,
    restorer: u64,
    blocked: SigSet,
    alt: AltStack,
    info: &SigInfo,
    fpstate: u64,
    fault: FaultRegs,
) -> Vec<u8> {
    let uc = Ucontext {
        flags: UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS,
        link: 0,
        // __save_altstack: the stack as set, with its flags as set.
        stack: StackT {
            sp: alt.sp,
            flags: alt.flags,
            size: alt.size,
        },
        mcontext: Sigcontext {
            regs: *regs,
            // cs = user code, gs = fs = 0, ss = user data.
            cs: 0x33,
            gs: 0,
            fs: 0,
            ss: 0x2b,
            err: fault.err,
            trapno: fault.trapno,
            oldmask: blocked.0,
            cr2: fault.cr2,
            fpstate,
        },
        sigmask: blocked,
    };
    let mut f = vec![0u8; FRAME_SIZE as usize];
    restorer.encode(&mut f[..8]);
    uc.encode(&mut f[UC_OFFSET as usize..INFO_OFFSET as usize]);
    info.encode(&mut f[INFO_OFFSET as usize..]);
    f
}

/// The software-reserved words Linux writes into the XSAVE area, and the
/// trailing magic.
pub fn fpstate_markers(xsave: &mut [u8], xfeatures: u64) {
    xsave[464..468].copy_from_slice(&FP_XSTATE_MAGIC1.to_le_bytes());
    xsave[468..472].copy_from_slice(&((XSAVE_SIZE + 4) as u32).to_le_bytes());
    xsave[472..480].copy_from_slice(&xfeatures.to_le_bytes());
    xsave[480..484].copy_from_slice(&(XSAVE_SIZE as u32).to_le_bytes());
    // save_xstate_epilog: the header's XSTATE_BV always has x87 and SSE,
    // so a handler that edits those registers in the frame (and not the
    // header) has its edits restored.
    xsave[512] |= 0x3;
}

/// XCOMP_BV bit 63: the XSAVE area is in the compacted form.
const XCOMP_BV_COMPACTED: u64 = 1 << 63;

/// Linux's sigreturn runs XRSTOR on the frame's XSAVE area itself, which
/// takes the compacted form when XCOMP_BV bit 63 is set (on CPUs with
/// XSAVEC); the platforms take only the standard form (KVM_SET_XSAVE, the
/// seccomp stub's own signal frame). So such an area is rewritten to its
/// standard equivalent (XCOMP_BV 0): components 0 and 1 stay in the legacy
/// region, and each later component in XCOMP_BV moves from its compacted
/// offset (in bit order from byte 576, 64-byte aligned where CPUID leaf
/// 0xD says so) to its standard offset (CPUID leaf 0xD's EBX). False where
/// XRSTOR would raise #GP: a component in XSTATE_BV but not in XCOMP_BV,
/// one the CPU does not have (or a supervisor one), nonzero reserved
/// header bytes, or an area that does not fit.
pub fn xsave_to_standard_form(xsave: &mut [u8]) -> bool {
    let word = |at: usize| u64::from_le_bytes(xsave[at..at + 8].try_into().expect("8 bytes"));
    let (bv, comp) = (word(512), word(520));
    if comp & XCOMP_BV_COMPACTED == 0 {
        return true;
    }
    let comp = comp & !XCOMP_BV_COMPACTED;
    if bv & !comp != 0 || xsave[528..576].iter().any(|&b| b != 0) {
        return false;
    }
    let user = {
        let l = std::arch::x86_64::__cpuid_count(0xd, 0);
        u64::from(l.eax) | (u64::from(l.edx) << 32)
    };
    if comp & !user != 0 {
        return false;
    }
    // (compacted offset, standard offset, size, present in XSTATE_BV)
    let mut moves = Vec::new();
    let mut at = 576usize;
    for i in 2..63u32 {
        if comp & (1 << i) == 0 {
            continue;
        }
        let l = std::arch::x86_64::__cpuid_count(0xd, i);
        let (size, standard) = (l.eax as usize, l.ebx as usize);
        if l.ecx & 2 != 0 {
            at = at.next_multiple_of(64);
        }
        if size == 0 || standard < 576 || at + size > xsave.len() || standard + size > xsave.len() {
            return false;
        }
        moves.push((at, standard, size, bv & (1 << i) != 0));
        at += size;
    }
    let compacted = xsave.to_vec();
    for (from, to, size, present) in moves {
        if present {
            xsave[to..to + size].copy_from_slice(&compacted[from..from + size]);
        }
    }
    xsave[520..528].fill(0);
    true
}

/// The magic word stored just past the XSAVE area.
pub fn fpstate_magic2() -> [u8; 4] {
    FP_XSTATE_MAGIC2.to_le_bytes()
}

/// What rt_sigreturn restores.
pub struct Restored {
    /// Registers.
    pub regs: UserRegs,
    /// The signal mask.
    pub blocked: SigSet,
    /// Address of the XSAVE area (0 for none).
    pub fpstate: u64,
    /// The alternate stack as saved.
    pub alt: AltStack,
    /// Whether the frame's CS and SS are the 64-bit user selectors Linux
    /// can return to (see [`selectors_valid`]).
    pub selectors_valid: bool,
}

/// 64-bit user code and data selectors.
const USER_CS: u16 = 0x33;
const USER_DS: u16 = 0x2b;

/// Linux's restore_sigcontext() ORs RPL 3 into the frame's CS and SS and
/// returns to them with IRET; without UC_STRICT_RESTORE_SS it first
/// replaces an unusable SS by the user data segment (force_valid_ss). Any
/// CS but 64-bit user code, or (strict) any SS but user data, makes the
/// IRET fault: SIGSEGV with the restored registers. (CS 0x23 is 32-bit
/// code natively; the sandbox has no such segment, so it faults too.)
pub fn selectors_valid(uc_flags: u64, cs: u16, ss: u16) -> bool {
    let cs = cs | 3;
    let ss = ss | 3;
    cs == USER_CS && (ss == USER_DS || uc_flags & UC_STRICT_RESTORE_SS == 0)
}

/// Decodes a ucontext ([`UCONTEXT_SIZE`] bytes) for rt_sigreturn.
pub fn decode_ucontext(uc: &[u8]) -> Result<Restored, Errno> {
    if uc.len() < Ucontext::SIZE {
        return Err(Errno::EFAULT);
    }
    let u = Ucontext::decode(&uc[..Ucontext::SIZE]);
    let mc = u.mcontext;
    Ok(Restored {
        selectors_valid: selectors_valid(u.flags, mc.cs, mc.ss),
        regs: mc.regs,
        blocked: u.sigmask,
        fpstate: mc.fpstate,
        alt: AltStack {
            sp: u.stack.sp,
            size: u.stack.size,
            flags: u.stack.flags,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sigreturn_selectors_as_linux_checks_them() {
        let strict = UC_FP_XSTATE | UC_SIGCONTEXT_SS | UC_STRICT_RESTORE_SS;
        assert!(selectors_valid(strict, 0x33, 0x2b));
        // RPL 3 is forced.
        assert!(selectors_valid(strict, 0x30, 0x28));
        for cs in [0x2b, 0x10, 0x23, 0x43, 0xfff3, 0] {
            assert!(!selectors_valid(strict, cs, 0x2b), "cs {cs:#x}");
        }
        assert!(!selectors_valid(strict, 0x33, 0));
        assert!(!selectors_valid(strict, 0x33, 0x33));
        // Without UC_STRICT_RESTORE_SS an unusable SS is replaced.
        assert!(selectors_valid(0, 0x33, 0));
    }

    #[test]
    fn queue_coalesces_standard_and_queues_realtime() {
        let rt40 = Signal::new(40).unwrap();
        let mut q = SigQueue::default();
        q.push(SigInfo::kernel(Signal::SIGUSR1));
        q.push(SigInfo::kernel(Signal::SIGUSR1));
        q.push(SigInfo::kernel(rt40));
        q.push(SigInfo::kernel(rt40));
        assert_eq!(q.set(), {
            let mut s = SigSet::of(Signal::SIGUSR1);
            s.add(rt40);
            s
        });
        assert_eq!(q.pop(SigSet::default()).unwrap().signo, SIGUSR1);
        assert_eq!(q.pop(SigSet::default()).unwrap().signo, 40);
        assert_eq!(q.pop(SigSet::default()).unwrap().signo, 40);
        assert!(q.pop(SigSet::default()).is_none());
    }

    #[test]
    fn queued_realtime_signals_are_bounded() {
        let rt40 = Signal::new(40).unwrap();
        let rt41 = Signal::new(41).unwrap();
        let mut q = SigQueue::default();
        while SigQueue::queued_realtime() < MAX_QUEUED_REALTIME {
            q.push(SigInfo::kernel(rt40));
        }
        let full = q.queue.len();
        // Past the bound a pending real-time signal is not queued again,
        // from any sender...
        for _ in 0..1000 {
            q.push(SigInfo::kernel(rt40));
            q.push_always(SigInfo::kernel(rt40));
        }
        assert_eq!(q.queue.len(), full);
        // ...but one that is not pending yet still is.
        q.push(SigInfo::kernel(rt41));
        q.push(SigInfo::kernel(rt41));
        assert_eq!(q.queue.len(), full + 1);
        let copy = q.clone();
        assert_eq!(copy.counted, q.counted);
        drop(copy);
        assert!(q.pop(SigSet::default()).is_some());
        q.discard(SigSet::of(rt40));
        assert_eq!(q.counted, 1);
        drop(q);
        assert!(SigQueue::queued_realtime() < MAX_QUEUED_REALTIME);
    }

    #[test]
    fn blocked_signals_stay_pending_and_kill_comes_first() {
        let mut q = SigQueue::default();
        q.push(SigInfo::kernel(Signal::SIGUSR1));
        q.push(SigInfo::kernel(Signal::SIGTERM));
        q.push(SigInfo::kernel(Signal::SIGKILL));
        assert_eq!(q.pop(SigSet::default()).unwrap().signo, SIGKILL);
        assert_eq!(q.pop(SigSet::of(Signal::SIGUSR1)).unwrap().signo, SIGTERM);
        assert!(q.pop(SigSet::of(Signal::SIGUSR1)).is_none());
    }

    #[test]
    fn frame_is_aligned_like_linux() {
        let l = frame_layout(0x7fff_0000_1234, None);
        assert_eq!(l.fpstate % 64, 0);
        assert_eq!((l.frame + 8) % 16, 0);
        assert!(l.frame + FRAME_SIZE <= l.fpstate);
    }

    #[test]
    fn ucontext_round_trips() {
        let regs = UserRegs {
            rax: 1,
            rbx: 2,
            rip: 0x401000,
            rsp: 0x7fff_0000,
            rflags: 0x246,
            r15: 15,
            ..Default::default()
        };
        let f = encode_frame(
            &regs,
            0x1234,
            SigSet(0x55),
            AltStack::default(),
            &SigInfo::kernel(Signal::SIGUSR1),
            0x9000,
            FaultRegs::default(),
        );
        let uc = &f[UC_OFFSET as usize..(UC_OFFSET + UCONTEXT_SIZE) as usize];
        let r = decode_ucontext(uc).unwrap();
        assert_eq!(r.regs, regs);
        assert_eq!(r.blocked, SigSet(0x55));
        assert_eq!(r.fpstate, 0x9000);
        assert_eq!(u64::from_le_bytes(f[0..8].try_into().unwrap()), 0x1234);
    }

    /// The offsets of glibc's `gregs[REG_*]` (ucontext_t) and the kernel's
    /// `struct rt_sigframe`: REG_ERR 19, REG_TRAPNO 20, REG_OLDMASK 21,
    /// REG_CR2 22, then fpregs, uc_sigmask at 296, siginfo at 312.
    #[test]
    fn frame_fields_sit_where_linux_puts_them() {
        let regs = UserRegs {
            rip: 0x401000,
            rflags: 0x10246,
            ..Default::default()
        };
        let fault = FaultRegs {
            trapno: 14,
            err: 6,
            cr2: 0x5a5a_0456,
        };
        let f = encode_frame(
            &regs,
            0x1234,
            SigSet(0x800),
            AltStack::default(),
            &SigInfo::fault(Signal::SIGSEGV, code::SEGV_ACCERR, 0x5a5a_0456),
            0x7fff_1000,
            fault,
        );
        assert_eq!(FRAME_SIZE, 440);
        let uc = &f[UC_OFFSET as usize..];
        let greg = |i: usize| {
            let o = 40 + 8 * i;
            u64::from_le_bytes(uc[o..o + 8].try_into().unwrap())
        };
        assert_eq!(greg(16), 0x401000, "REG_RIP");
        assert_eq!(greg(17), 0x10246, "REG_EFL");
        assert_eq!(greg(18), 0x2b << 48 | 0x33, "REG_CSGSFS");
        assert_eq!(greg(19), 6, "REG_ERR");
        assert_eq!(greg(20), 14, "REG_TRAPNO");
        assert_eq!(greg(21), 0x800, "REG_OLDMASK");
        assert_eq!(greg(22), 0x5a5a_0456, "REG_CR2");
        assert_eq!(greg(23), 0x7fff_1000, "fpregs");
        assert!((24..32).all(|i| greg(i) == 0), "reserved1");
        assert_eq!(greg(32), 0x800, "uc_sigmask");
        assert_eq!(&f[312..316], &SIGSEGV.to_le_bytes(), "si_signo");
        let r = decode_ucontext(&uc[..UCONTEXT_SIZE as usize]).unwrap();
        assert_eq!(r.fpstate, 0x7fff_1000);
        assert_eq!(r.regs, regs);
    }
}

#[cfg(test)]
mod signal_number_tests {
    use super::*;

    #[test]
    fn signal_numbers_are_the_low_32_bits_of_the_register() {
        assert_eq!(Signal::from_arg(10), Ok(Signal::new(10).unwrap()));
        assert_eq!(Signal::from_arg(0x1_0000_000a).map(Signal::number), Ok(10));
        assert_eq!(
            Signal::from_arg(0xffff_ffff_0000_0040).map(Signal::number),
            Ok(64)
        );
        for bad in [
            0,
            65,
            0x1_0000_0000,
            0x1_0000_0041,
            0xffff_ffff,
            0x8000_0000,
            u64::MAX,
        ] {
            assert_eq!(Signal::from_arg(bad), Err(Errno::EINVAL), "{bad:#x}");
        }
        assert_eq!(SigArg::from_arg(0x1_0000_0000).to_send(), Ok(None));
        assert_eq!(SigArg(0).to_send(), Ok(None));
        assert_eq!(
            SigArg(64).to_send().map(|s| s.map(Signal::index)),
            Ok(Some(63))
        );
        assert_eq!(SigArg(65).to_send(), Err(Errno::EINVAL));
        assert_eq!(SigArg(-1).to_send(), Err(Errno::EINVAL));
        assert_eq!(Signal::new(1).map(Signal::index), Some(0));
    }

    #[test]
    fn compacted_xsave_areas() {
        let mut x = vec![0u8; 4096];
        let set = |x: &mut [u8], bv: u64, comp: u64| {
            x[512..520].copy_from_slice(&bv.to_le_bytes());
            x[520..528].copy_from_slice(&comp.to_le_bytes());
        };
        // Standard form: untouched.
        set(&mut x, 3, 0);
        assert!(super::xsave_to_standard_form(&mut x));
        // Compacted with XSTATE_BV inside XCOMP_BV: the standard form.
        set(&mut x, 7, (1 << 63) | 7);
        assert!(super::xsave_to_standard_form(&mut x));
        assert_eq!(x[520..528], [0; 8]);
        assert_eq!(x[512], 7);
        // XSTATE_BV outside XCOMP_BV: #GP.
        set(&mut x, 3, 1 << 63);
        assert!(!super::xsave_to_standard_form(&mut x));
        // A component the CPU does not have (bit 62): #GP.
        set(&mut x, 3, (1 << 63) | (1 << 62) | 3);
        assert!(!super::xsave_to_standard_form(&mut x));
        // PKRU (component 9), where the CPU has it: from the first
        // compacted slot (byte 576) to its standard offset.
        let pkru = std::arch::x86_64::__cpuid_count(0xd, 9);
        let has_pkru = std::arch::x86_64::__cpuid_count(0xd, 0).eax & (1 << 9) != 0;
        x.fill(0);
        set(&mut x, 0x203, (1 << 63) | 0x203);
        x[576..580].copy_from_slice(&0x5555_0004u32.to_le_bytes());
        assert_eq!(super::xsave_to_standard_form(&mut x), has_pkru);
        if has_pkru {
            let at = pkru.ebx as usize;
            assert_eq!(x[at..at + 4], 0x5555_0004u32.to_le_bytes());
            assert_eq!(x[520..528], [0; 8]);
        }
    }
}

//! Signal ABI: signal numbers ([`Signal`], validated once), sets,
//! `struct sigaction` ([`SigAction`], [`SaFlags`]), `siginfo_t`
//! ([`SigInfo`]) and `stack_t` ([`StackT`]).

use platform::UserRegs;

use super::{Abi, Dec, Enc, UserPtr};
use crate::errno::Errno;
use crate::mm::AddressSpace;

/// Highest signal number.
pub const NSIG: i32 = 64;

#[allow(missing_docs)]
pub mod sig {
    pub const SIGHUP: i32 = 1;
    pub const SIGINT: i32 = 2;
    pub const SIGQUIT: i32 = 3;
    pub const SIGILL: i32 = 4;
    pub const SIGTRAP: i32 = 5;
    pub const SIGABRT: i32 = 6;
    pub const SIGBUS: i32 = 7;
    pub const SIGFPE: i32 = 8;
    pub const SIGKILL: i32 = 9;
    pub const SIGUSR1: i32 = 10;
    pub const SIGSEGV: i32 = 11;
    pub const SIGUSR2: i32 = 12;
    pub const SIGPIPE: i32 = 13;
    pub const SIGALRM: i32 = 14;
    pub const SIGTERM: i32 = 15;
    pub const SIGCHLD: i32 = 17;
    pub const SIGCONT: i32 = 18;
    pub const SIGSTOP: i32 = 19;
    pub const SIGTSTP: i32 = 20;
    pub const SIGTTIN: i32 = 21;
    pub const SIGTTOU: i32 = 22;
    pub const SIGURG: i32 = 23;
    pub const SIGXCPU: i32 = 24;
    pub const SIGXFSZ: i32 = 25;
    pub const SIGVTALRM: i32 = 26;
    pub const SIGPROF: i32 = 27;
    pub const SIGWINCH: i32 = 28;
    pub const SIGSYS: i32 = 31;
}
/// The name of a signal, for messages.
pub fn name(s: i32) -> String {
    const NAMES: [&str; 32] = [
        "",
        "SIGHUP",
        "SIGINT",
        "SIGQUIT",
        "SIGILL",
        "SIGTRAP",
        "SIGABRT",
        "SIGBUS",
        "SIGFPE",
        "SIGKILL",
        "SIGUSR1",
        "SIGSEGV",
        "SIGUSR2",
        "SIGPIPE",
        "SIGALRM",
        "SIGTERM",
        "SIGSTKFLT",
        "SIGCHLD",
        "SIGCONT",
        "SIGSTOP",
        "SIGTSTP",
        "SIGTTIN",
        "SIGTTOU",
        "SIGURG",
        "SIGXCPU",
        "SIGXFSZ",
        "SIGVTALRM",
        "SIGPROF",
        "SIGWINCH",
        "SIGIO",
        "SIGPWR",
        "SIGSYS",
    ];
    match s {
        1..=31 => NAMES[s as usize].to_string(),
        32..=64 => format!("SIGRT{}", s - 32),
        _ => format!("signal {s}"),
    }
}

/// Linux's `valid_signal(unsigned long sig)`, for the 64-bit signal
/// fields (clone3's exit_signal, PR_SET_PDEATHSIG's argument): 0 ("no
/// signal") to 64, all 64 bits counted. `int sig` arguments go through
/// [`SigArg`] instead.
pub const fn valid_signal(sig: u64) -> bool {
    sig <= NSIG as u64
}

/// A valid signal number, 1..=[`NSIG`]: made only by validating, so what
/// is indexed by it (a handler slot, a bit of a [`SigSet`]) cannot be
/// indexed out of range.
///
/// Syscalls pass signal numbers as `int sig`: Linux reads the low 32 bits
/// of the register (`kill(pid, 0x1_0000_000a)` sends SIGUSR1), for kill,
/// tkill, tgkill, rt_sigqueueinfo, rt_tgsigqueueinfo, pidfd_send_signal
/// and rt_sigaction alike (measured natively, `t_signum`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Signal(u8);

impl Signal {
    /// `n` if it is a signal number.
    pub const fn new(n: i32) -> Option<Signal> {
        if 1 <= n && n <= NSIG {
            Some(Signal(n as u8))
        } else {
            None
        }
    }

    /// A signal number a call must name (rt_sigaction): EINVAL unless
    /// the `int` is 1..=64.
    pub fn from_arg(raw: u64) -> Result<Signal, Errno> {
        SigArg::from_arg(raw).signal()
    }

    /// The number, 1..=64.
    pub const fn number(self) -> i32 {
        self.0 as i32
    }

    /// Its slot in a per-signal table, 0..64.
    pub const fn index(self) -> usize {
        self.0 as usize - 1
    }

    /// Its bit in a [`SigSet`].
    const fn bit(self) -> u64 {
        1 << (self.0 - 1)
    }

    /// Whether it is a real-time signal (32..=64: queued, not coalesced).
    pub const fn is_realtime(self) -> bool {
        self.0 >= 32
    }
}

macro_rules! signal_consts {
    ($($name:ident),*) => {
        #[allow(missing_docs)]
        impl Signal {
            $(pub const $name: Signal = Signal(sig::$name as u8);)*
        }
    };
}
signal_consts!(
    SIGHUP, SIGINT, SIGQUIT, SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGKILL, SIGUSR1, SIGSEGV,
    SIGUSR2, SIGPIPE, SIGALRM, SIGTERM, SIGCHLD, SIGCONT, SIGSTOP, SIGTSTP, SIGTTIN, SIGTTOU,
    SIGURG, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF, SIGWINCH, SIGSYS
);

/// A syscall's `int sig` argument as Linux reads it: the low 32 bits of
/// the register, not yet validated. Sending calls validate it only once the
/// target is found (ESRCH comes before EINVAL), with [`SigArg::to_send`];
/// calls that must name a signal use [`SigArg::signal`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SigArg(pub i32);

impl SigArg {
    /// The `int` in a syscall argument.
    pub const fn from_arg(raw: u64) -> Self {
        SigArg(raw as i32)
    }

    /// The number as given.
    pub const fn get(self) -> i32 {
        self.0
    }

    /// The signal, EINVAL unless 1..=64.
    pub fn signal(self) -> Result<Signal, Errno> {
        Signal::new(self.0).ok_or(Errno::EINVAL)
    }

    /// The signal a sending call delivers, checked as Linux's
    /// `check_kill_permission` does: `None` for the null signal 0
    /// (existence and permission only), EINVAL outside 0..=64.
    pub fn to_send(self) -> Result<Option<Signal>, Errno> {
        match self.0 {
            0 => Ok(None),
            n => Signal::new(n).map(Some).ok_or(Errno::EINVAL),
        }
    }
}

/// A set of signals (bit `n-1` for signal `n`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigSet(pub u64);

impl SigSet {
    /// SIGKILL and SIGSTOP: they cannot be blocked or caught.
    pub const UNBLOCKABLE: SigSet = SigSet(Signal::SIGKILL.bit() | Signal::SIGSTOP.bit());

    /// The set containing only `s`.
    pub const fn of(s: Signal) -> Self {
        SigSet(s.bit())
    }
    /// The set of `signals`.
    pub fn of_all(signals: &[Signal]) -> Self {
        SigSet(signals.iter().fold(0, |m, s| m | s.bit()))
    }
    /// Whether `s` is in the set.
    pub const fn has(self, s: Signal) -> bool {
        self.0 & s.bit() != 0
    }
    /// Adds `s`.
    pub fn add(&mut self, s: Signal) {
        self.0 |= s.bit();
    }
    /// Removes `s`.
    pub fn remove(&mut self, s: Signal) {
        self.0 &= !s.bit();
    }
    /// The lowest-numbered signal in the set.
    pub const fn lowest(self) -> Option<Signal> {
        if self.0 == 0 {
            None
        } else {
            Some(Signal(self.0.trailing_zeros() as u8 + 1))
        }
    }
    /// The set with SIGKILL and SIGSTOP removed (they cannot be blocked).
    pub const fn unblockable_removed(self) -> Self {
        SigSet(self.0 & !Self::UNBLOCKABLE.0)
    }
}

/// One [`SigAction`] per signal: a process's handler table, indexed by a
/// validated [`Signal`] only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SigActions([SigAction; NSIG as usize]);

impl Default for SigActions {
    fn default() -> Self {
        SigActions([SigAction::default(); NSIG as usize])
    }
}

impl SigActions {
    /// Every action, in signal order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = &mut SigAction> {
        self.0.iter_mut()
    }
}

impl std::ops::Index<Signal> for SigActions {
    type Output = SigAction;
    fn index(&self, s: Signal) -> &SigAction {
        &self.0[s.index()]
    }
}

impl std::ops::IndexMut<Signal> for SigActions {
    fn index_mut(&mut self, s: Signal) -> &mut SigAction {
        &mut self.0[s.index()]
    }
}

/// `SA_*` flags.
#[allow(missing_docs)]
pub mod sa {
    use super::SaFlags;
    pub const NOCLDSTOP: u64 = SaFlags::NOCLDSTOP.bits();
    pub const NOCLDWAIT: u64 = SaFlags::NOCLDWAIT.bits();
    pub const SIGINFO: u64 = SaFlags::SIGINFO.bits();
    pub const RESTORER: u64 = SaFlags::RESTORER.bits();
    pub const ONSTACK: u64 = SaFlags::ONSTACK.bits();
    pub const RESTART: u64 = SaFlags::RESTART.bits();
    pub const NODEFER: u64 = SaFlags::NODEFER.bits();
    pub const RESETHAND: u64 = SaFlags::RESETHAND.bits();
}

bitflags::bitflags! {
    /// `sa_flags` of `struct sigaction` (an `unsigned long` in the kernel's
    /// struct). Unknown bits are kept, as Linux stores them.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
    pub struct SaFlags: u64 {
        const NOCLDSTOP = 1;
        const NOCLDWAIT = 2;
        const SIGINFO = 4;
        const UNSUPPORTED = 0x400;
        const EXPOSE_TAGBITS = 0x800;
        const RESTORER = 0x0400_0000;
        const ONSTACK = 0x0800_0000;
        const RESTART = 0x1000_0000;
        const NODEFER = 0x4000_0000;
        const RESETHAND = 0x8000_0000;
    }
}

/// SIG_DFL.
pub const SIG_DFL: u64 = 0;
/// SIG_IGN.
pub const SIG_IGN: u64 = 1;

/// One `struct sigaction` (kernel layout: handler, flags, restorer, mask).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigAction {
    /// Handler address, SIG_DFL or SIG_IGN.
    pub handler: u64,
    /// SA_* flags.
    pub flags: u64,
    /// sa_restorer.
    pub restorer: u64,
    /// Signals blocked while the handler runs.
    pub mask: SigSet,
}

impl Abi for SigAction {
    /// The kernel's `struct sigaction` (not glibc's): handler, flags,
    /// restorer, an 8-byte mask.
    const SIZE: usize = 32;
    fn decode(b: &[u8]) -> Self {
        let d = Dec(b);
        Self {
            handler: d.u64(0),
            flags: d.u64(8),
            restorer: d.u64(16),
            mask: SigSet(d.u64(24)),
        }
    }
    fn encode(&self, b: &mut [u8]) {
        let mut e = Enc(b);
        e.u64(0, self.handler);
        e.u64(8, self.flags);
        e.u64(16, self.restorer);
        e.u64(24, self.mask.0);
    }
}

/// `si_code` values.
#[allow(missing_docs)]
pub mod code {
    pub const SI_USER: i32 = 0;
    pub const SI_KERNEL: i32 = 0x80;
    pub const SI_QUEUE: i32 = -1;
    pub const SI_TKILL: i32 = -6;
    pub const CLD_EXITED: i32 = 1;
    pub const CLD_KILLED: i32 = 2;
    pub const CLD_DUMPED: i32 = 3;
    pub const CLD_STOPPED: i32 = 5;
    pub const CLD_CONTINUED: i32 = 6;
    pub const SEGV_MAPERR: i32 = 1;
    pub const SEGV_ACCERR: i32 = 2;
    pub const BUS_ADRALN: i32 = 1;
    pub const BUS_ADRERR: i32 = 2;
    pub const ILL_ILLOPN: i32 = 2;
    pub const FPE_INTDIV: i32 = 1;
    pub const TRAP_BRKPT: i32 = 1;
    pub const TRAP_TRACE: i32 = 2;
}

/// A queued signal with its `siginfo_t` (128 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SigInfo {
    /// Signal number.
    pub signo: i32,
    /// si_code.
    pub code: i32,
    /// si_errno.
    pub errno: i32,
    /// The union, from offset 16.
    pub data: [u64; 14],
}

impl SigInfo {
    /// Whether the caller may queue this siginfo it wrote itself
    /// (rt_sigqueueinfo, rt_tgsigqueueinfo, pidfd_send_signal): the one
    /// rule for all three. A siginfo that claims to come from the kernel
    /// or from kill/tkill (`si_code >= 0` or SI_TKILL) may only go to the
    /// calling thread itself: Linux compares `task_pid_vnr(current)` (the
    /// caller's *tid*) with the pid or tid argument, or `task_pid(current)`
    /// with the pidfd's pid, and never allows it towards a process group
    /// (`type > PIDTYPE_TGID` in do_pidfd_send_signal). EPERM otherwise.
    ///
    /// `target` is the pid or tid the call names (for a pidfd, the pid it
    /// refers to), `None` for a process group.
    pub fn check_forged(&self, caller_tid: i32, target: Option<i32>) -> Result<(), Errno> {
        let claims_kernel_or_kill = self.code >= 0 || self.code == code::SI_TKILL;
        if claims_kernel_or_kill && target != Some(caller_tid) {
            return Err(Errno::EPERM);
        }
        Ok(())
    }

    /// waitid's copy-out: Linux writes only si_signo, si_errno, si_code
    /// (bytes 0..12) and si_pid, si_uid, si_status (16..28) with
    /// `unsafe_put_user`; the rest of the caller's siginfo keeps its bytes
    /// (measured on the 6.18 host: `t_waitid_fields`). The whole struct
    /// must lie in user space (`user_write_access_begin`): EFAULT
    /// otherwise.
    pub fn write_waitid_fields(
        &self,
        mm: &AddressSpace,
        ptr: UserPtr<SigInfo>,
    ) -> Result<(), Errno> {
        let in_user_space = ptr
            .addr()
            .checked_add(Self::SIZE as u64)
            .is_some_and(|end| end <= crate::mm::TASK_SIZE);
        if !in_user_space {
            return Err(Errno::EFAULT);
        }
        let b = self.to_bytes();
        mm.write(ptr.addr(), &b[..12])?;
        mm.write(ptr.addr() + 16, &b[16..28])
    }

    /// The signal, if `signo` is one (always, for a siginfo the sentry
    /// made or queued).
    pub const fn signal(&self) -> Option<Signal> {
        Signal::new(self.signo)
    }

    /// A signal sent by a process (kill, tkill): si_pid and si_uid.
    pub fn from_process(signal: Signal, code: i32, pid: i32, uid: u32) -> Self {
        let mut data = [0u64; 14];
        data[0] = (pid as u32 as u64) | ((uid as u64) << 32);
        Self {
            signo: signal.number(),
            code,
            errno: 0,
            data,
        }
    }

    /// A signal from the kernel about the process itself.
    pub fn kernel(signal: Signal) -> Self {
        Self {
            signo: signal.number(),
            code: code::SI_KERNEL,
            errno: 0,
            data: [0; 14],
        }
    }

    /// A fault signal with si_addr.
    pub fn fault(signal: Signal, code: i32, addr: u64) -> Self {
        let mut data = [0u64; 14];
        data[0] = addr;
        Self {
            signo: signal.number(),
            code,
            errno: 0,
            data,
        }
    }

    /// SIGCHLD (or another exit signal) about a child.
    pub fn child(signal: Signal, code: i32, pid: i32, status: i32) -> Self {
        let mut data = [0u64; 14];
        data[0] = pid as u32 as u64;
        data[1] = status as u32 as u64;
        Self {
            signo: signal.number(),
            code,
            errno: 0,
            data,
        }
    }
}

impl Abi for SigInfo {
    /// `siginfo_t`: signo, errno, code, then the union at 16.
    const SIZE: usize = 128;
    fn decode(b: &[u8]) -> Self {
        let d = Dec(b);
        let mut data = [0u64; 14];
        for (i, w) in data.iter_mut().enumerate() {
            *w = d.u64(16 + i * 8);
        }
        Self {
            signo: d.i32(0),
            errno: d.i32(4),
            code: d.i32(8),
            data,
        }
    }
    fn encode(&self, b: &mut [u8]) {
        let mut e = Enc(b);
        e.i32(0, self.signo);
        e.i32(4, self.errno);
        e.i32(8, self.code);
        for (i, w) in self.data.iter().enumerate() {
            e.u64(16 + i * 8, *w);
        }
    }
}

/// SS_ONSTACK.
pub const SS_ONSTACK: i32 = 1;
/// SS_DISABLE.
pub const SS_DISABLE: i32 = 2;
/// SS_AUTODISARM.
pub const SS_AUTODISARM: i32 = 1 << 31;

/// `stack_t` (sigaltstack, a signal frame's `uc_stack`): sp, flags, size.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StackT {
    /// ss_sp.
    pub sp: u64,
    /// ss_flags.
    pub flags: i32,
    /// ss_size.
    pub size: u64,
}

impl Abi for StackT {
    const SIZE: usize = 24;
    fn decode(b: &[u8]) -> Self {
        let d = Dec(b);
        Self {
            sp: d.u64(0),
            flags: d.i32(8),
            size: d.u64(16),
        }
    }
    fn encode(&self, b: &mut [u8]) {
        let mut e = Enc(b);
        e.u64(0, self.sp);
        e.i32(8, self.flags);
        e.u64(16, self.size);
    }
}

/// Offsets in `struct sigcontext` (arch/x86/include/uapi/asm/sigcontext.h),
/// from the start of `uc_mcontext`.
#[allow(missing_docs)]
pub mod sc {
    /// r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags.
    pub const GPRS: u64 = 0;
    /// cs, gs, fs, ss (u16 each; ss is `__pad0`).
    pub const SEGS: u64 = 144;
    pub const ERR: u64 = 152;
    pub const TRAPNO: u64 = 160;
    pub const OLDMASK: u64 = 168;
    pub const CR2: u64 = 176;
    pub const FPSTATE: u64 = 184;
    /// reserved1[8], zero.
    pub const RESERVED1: u64 = 192;
    /// sizeof(struct sigcontext).
    pub const SIZE: u64 = 256;
}

/// Offset of `uc_mcontext` in `struct ucontext` (after uc_flags, uc_link
/// and the 24-byte uc_stack).
pub const MCONTEXT_OFFSET: u64 = 40;
/// Offset of `uc_sigmask` in `struct ucontext`.
pub const SIGMASK_OFFSET: u64 = MCONTEXT_OFFSET + sc::SIZE;
/// sizeof(struct ucontext) as the kernel writes it (an 8-byte sigmask).
pub const UCONTEXT_SIZE: u64 = SIGMASK_OFFSET + 8;

/// `struct sigcontext` (x86-64, 256 bytes): the registers a signal
/// frame saves and sigreturn restores.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sigcontext {
    /// r8..r15, rdi, rsi, rbp, rbx, rdx, rax, rcx, rsp, rip, eflags.
    pub regs: UserRegs,
    /// cs.
    pub cs: u16,
    /// gs.
    pub gs: u16,
    /// fs.
    pub fs: u16,
    /// ss (Linux's `__pad0`, used as ss since UC_SIGCONTEXT_SS).
    pub ss: u16,
    /// err: the exception's error code.
    pub err: u64,
    /// trapno: the exception vector.
    pub trapno: u64,
    /// oldmask: the blocked signals (as uc_sigmask).
    pub oldmask: u64,
    /// cr2: the last page fault's address.
    pub cr2: u64,
    /// fpstate: the address of the XSAVE area (0: none).
    pub fpstate: u64,
}

impl Sigcontext {
    /// The registers in sigcontext order.
    fn gprs(r: &UserRegs) -> [u64; 18] {
        [
            r.r8, r.r9, r.r10, r.r11, r.r12, r.r13, r.r14, r.r15, r.rdi, r.rsi, r.rbp, r.rbx,
            r.rdx, r.rax, r.rcx, r.rsp, r.rip, r.rflags,
        ]
    }
}

impl Abi for Sigcontext {
    const SIZE: usize = sc::SIZE as usize;
    fn decode(b: &[u8]) -> Self {
        let d = Dec(b);
        let g = |i: usize| d.u64(sc::GPRS as usize + 8 * i);
        let segs = sc::SEGS as usize;
        Self {
            regs: UserRegs {
                r8: g(0),
                r9: g(1),
                r10: g(2),
                r11: g(3),
                r12: g(4),
                r13: g(5),
                r14: g(6),
                r15: g(7),
                rdi: g(8),
                rsi: g(9),
                rbp: g(10),
                rbx: g(11),
                rdx: g(12),
                rax: g(13),
                rcx: g(14),
                rsp: g(15),
                rip: g(16),
                rflags: g(17),
            },
            cs: d.u16(segs),
            gs: d.u16(segs + 2),
            fs: d.u16(segs + 4),
            ss: d.u16(segs + 6),
            err: d.u64(sc::ERR as usize),
            trapno: d.u64(sc::TRAPNO as usize),
            oldmask: d.u64(sc::OLDMASK as usize),
            cr2: d.u64(sc::CR2 as usize),
            fpstate: d.u64(sc::FPSTATE as usize),
        }
    }
    fn encode(&self, b: &mut [u8]) {
        let mut e = Enc(b);
        for (i, v) in Self::gprs(&self.regs).into_iter().enumerate() {
            e.u64(sc::GPRS as usize + 8 * i, v);
        }
        let segs = sc::SEGS as usize;
        e.u16(segs, self.cs);
        e.u16(segs + 2, self.gs);
        e.u16(segs + 4, self.fs);
        e.u16(segs + 6, self.ss);
        e.u64(sc::ERR as usize, self.err);
        e.u64(sc::TRAPNO as usize, self.trapno);
        e.u64(sc::OLDMASK as usize, self.oldmask);
        e.u64(sc::CR2 as usize, self.cr2);
        e.u64(sc::FPSTATE as usize, self.fpstate);
        // reserved1[8] stays zero.
    }
}

/// `struct ucontext` as the kernel writes it in a signal frame: flags,
/// link, the alternate stack, the sigcontext, an 8-byte sigmask.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ucontext {
    /// uc_flags (UC_FP_XSTATE, UC_SIGCONTEXT_SS, UC_STRICT_RESTORE_SS).
    pub flags: u64,
    /// uc_link.
    pub link: u64,
    /// uc_stack.
    pub stack: StackT,
    /// uc_mcontext.
    pub mcontext: Sigcontext,
    /// uc_sigmask.
    pub sigmask: SigSet,
}

impl Abi for Ucontext {
    const SIZE: usize = UCONTEXT_SIZE as usize;
    fn decode(b: &[u8]) -> Self {
        let d = Dec(b);
        Self {
            flags: d.u64(0),
            link: d.u64(8),
            stack: d.get(16),
            mcontext: d.get(MCONTEXT_OFFSET as usize),
            sigmask: d.get(SIGMASK_OFFSET as usize),
        }
    }
    fn encode(&self, b: &mut [u8]) {
        let mut e = Enc(b);
        e.u64(0, self.flags);
        e.u64(8, self.link);
        e.put(16, &self.stack);
        e.put(MCONTEXT_OFFSET as usize, &self.mcontext);
        e.put(SIGMASK_OFFSET as usize, &self.sigmask);
    }
}

impl Abi for SigSet {
    /// `sigset_t` as the kernel copies it (8 bytes on x86-64).
    const SIZE: usize = 8;
    fn decode(b: &[u8]) -> Self {
        SigSet(Dec(b).u64(0))
    }
    fn encode(&self, b: &mut [u8]) {
        Enc(b).u64(0, self.0);
    }
}

#[cfg(test)]
mod tests {
    use std::mem::{offset_of, size_of};

    use super::*;

    #[test]
    fn siginfo_layout_is_linuxs() {
        assert_eq!(SigInfo::SIZE, size_of::<libc::siginfo_t>());
        let mut info = SigInfo::from_process(Signal::SIGUSR1, code::SI_QUEUE, 1234, 77);
        info.errno = 5;
        info.data[1] = 0xdead_beef;
        let b = info.to_bytes();
        assert_eq!(i32::decode(&b[0..4]), sig::SIGUSR1);
        assert_eq!(i32::decode(&b[4..8]), 5);
        assert_eq!(i32::decode(&b[8..12]), code::SI_QUEUE);
        // si_pid at 16, si_uid at 20, si_value at 24 (the kill/rt layout).
        assert_eq!(i32::decode(&b[16..20]), 1234);
        assert_eq!(u32::decode(&b[20..24]), 77);
        assert_eq!(u64::decode(&b[24..32]), 0xdead_beef);
        assert_eq!(SigInfo::decode(&b), info);
    }

    #[test]
    fn child_siginfo_puts_status_where_waitid_reads_it() {
        let b = SigInfo::child(Signal::SIGCHLD, code::CLD_EXITED, 42, 3).to_bytes();
        assert_eq!(i32::decode(&b[16..20]), 42); // si_pid
        assert_eq!(i32::decode(&b[24..28]), 3); // si_status
    }

    #[test]
    fn sigaction_is_the_kernels_32_byte_struct() {
        let a = SigAction {
            handler: 0x40_1000,
            flags: sa::SIGINFO | sa::RESTORER,
            restorer: 0x40_2000,
            mask: SigSet(0x8000_0000_0000_0001),
        };
        let b = a.to_bytes();
        assert_eq!(b.len(), 32);
        assert_eq!(u64::decode(&b[0..8]), 0x40_1000);
        assert_eq!(u64::decode(&b[8..16]), 0x0400_0004);
        assert_eq!(u64::decode(&b[16..24]), 0x40_2000);
        assert_eq!(u64::decode(&b[24..32]), 0x8000_0000_0000_0001);
        assert_eq!(SigAction::decode(&b), a);
    }

    #[test]
    fn stack_t_layout_is_linuxs() {
        assert_eq!(StackT::SIZE, size_of::<libc::stack_t>());
        let s = StackT {
            sp: 0x7000,
            flags: SS_AUTODISARM | SS_ONSTACK,
            size: 8192,
        };
        let b = s.to_bytes();
        assert_eq!(
            u64::decode(&b[offset_of!(libc::stack_t, ss_sp)..][..8]),
            0x7000
        );
        assert_eq!(
            i32::decode(&b[offset_of!(libc::stack_t, ss_flags)..][..4]),
            SS_AUTODISARM | SS_ONSTACK
        );
        assert_eq!(
            u64::decode(&b[offset_of!(libc::stack_t, ss_size)..][..8]),
            8192
        );
        assert_eq!(StackT::decode(&b), s);
    }

    #[test]
    fn ucontext_layout_is_linuxs() {
        use std::mem::offset_of;
        // libc's ucontext_t has a 128-byte sigset and the FPU area after
        // it; the kernel's frame has an 8-byte mask: compare the common
        // prefix.
        assert_eq!(offset_of!(libc::ucontext_t, uc_stack), 16);
        assert_eq!(
            offset_of!(libc::ucontext_t, uc_mcontext),
            MCONTEXT_OFFSET as usize
        );
        assert_eq!(
            offset_of!(libc::ucontext_t, uc_sigmask),
            SIGMASK_OFFSET as usize
        );
        assert_eq!(Ucontext::SIZE, 304);
        assert_eq!(Sigcontext::SIZE, 256);
        let regs = UserRegs {
            r8: 1,
            rdi: 9,
            rsp: 16,
            rip: 17,
            rflags: 18,
            ..UserRegs::default()
        };
        let uc = Ucontext {
            flags: 7,
            link: 0,
            stack: StackT {
                sp: 0x7000,
                flags: SS_ONSTACK,
                size: 0x2000,
            },
            mcontext: Sigcontext {
                regs,
                cs: 0x33,
                ss: 0x2b,
                err: 4,
                trapno: 14,
                oldmask: 0x200,
                cr2: 0xdead,
                fpstate: 0x1000,
                ..Sigcontext::default()
            },
            sigmask: SigSet(0x200),
        };
        let b = uc.to_bytes();
        let mc = MCONTEXT_OFFSET as usize;
        // greg order: REG_R8 = 0, REG_RDI = 8, REG_RSP = 15, REG_RIP = 16,
        // REG_EFL = 17, REG_CSGSFS = 18, REG_ERR = 19, REG_TRAPNO = 20,
        // REG_OLDMASK = 21, REG_CR2 = 22 (glibc's sys/ucontext.h).
        let greg = |i: usize| u64::decode(&b[mc + 8 * i..mc + 8 * i + 8]);
        assert_eq!(
            (greg(0), greg(8), greg(15), greg(16), greg(17)),
            (1, 9, 16, 17, 18)
        );
        assert_eq!(greg(18), 0x33 | (0x2b << 48));
        assert_eq!(
            (greg(19), greg(20), greg(21), greg(22)),
            (4, 14, 0x200, 0xdead)
        );
        assert_eq!(greg(23), 0x1000);
        assert_eq!(Ucontext::decode(&b), uc);
    }

    #[test]
    fn sa_flags_match_linux() {
        assert_eq!(SaFlags::SIGINFO.bits(), libc::SA_SIGINFO as u64);
        assert_eq!(SaFlags::ONSTACK.bits(), libc::SA_ONSTACK as u64);
        assert_eq!(SaFlags::RESTART.bits(), libc::SA_RESTART as u64);
        assert_eq!(SaFlags::NODEFER.bits(), libc::SA_NODEFER as u64);
        assert_eq!(SaFlags::RESETHAND.bits(), libc::SA_RESETHAND as u32 as u64);
        assert_eq!(SaFlags::NOCLDSTOP.bits(), libc::SA_NOCLDSTOP as u64);
        assert_eq!(SaFlags::NOCLDWAIT.bits(), libc::SA_NOCLDWAIT as u64);
        // Unknown bits survive a round trip (Linux stores sa_flags as given).
        assert_eq!(SaFlags::from_bits_retain(1 << 40).bits(), 1 << 40);
    }

    #[test]
    fn forged_siginfo_only_to_the_calling_thread() {
        let me = 100;
        for c in [code::SI_USER, code::SI_KERNEL, code::SI_TKILL, 1] {
            let i = SigInfo::from_process(Signal::SIGUSR1, c, me, 0);
            assert_eq!(i.check_forged(me, Some(me)), Ok(()), "code {c} to self");
            assert_eq!(i.check_forged(me, Some(101)), Err(Errno::EPERM), "code {c}");
            assert_eq!(
                i.check_forged(me, None),
                Err(Errno::EPERM),
                "code {c} to a group"
            );
        }
        for c in [code::SI_QUEUE, -2, -60] {
            let i = SigInfo::from_process(Signal::SIGUSR1, c, me, 0);
            assert_eq!(i.check_forged(me, Some(101)), Ok(()), "code {c}");
            assert_eq!(i.check_forged(me, None), Ok(()), "code {c}");
        }
    }

    #[test]
    fn sigsets_and_handler_tables_take_only_signals() {
        let mut s = SigSet::of(Signal::SIGUSR1);
        s.add(Signal::new(64).unwrap());
        assert!(s.has(Signal::SIGUSR1) && s.has(Signal::new(64).unwrap()));
        assert_eq!(s.0, (1 << 9) | (1 << 63));
        assert_eq!(s.lowest(), Some(Signal::SIGUSR1));
        s.remove(Signal::SIGUSR1);
        assert_eq!(s.lowest().map(Signal::number), Some(64));
        assert_eq!(SigSet::default().lowest(), None);
        assert_eq!(
            SigSet(u64::MAX).unblockable_removed().0,
            !((1 << 8) | (1 << 18))
        );
        let mut h = SigActions::default();
        h[Signal::new(64).unwrap()].handler = 7;
        assert_eq!(h[Signal::new(64).unwrap()].handler, 7);
        assert_eq!(h.iter_mut().filter(|a| a.handler == 7).count(), 1);
    }

    #[test]
    fn valid_signal_counts_all_64_bits_and_allows_0() {
        assert!(valid_signal(0) && valid_signal(64));
        assert!(!valid_signal(65));
        assert!(!valid_signal(1 << 32 | 10));
        assert!(!valid_signal(u64::MAX));
    }

    #[test]
    fn signal_numbers_are_validated_once() {
        assert_eq!(Signal::from_arg(10).map(Signal::number), Ok(10));
        assert_eq!(Signal::from_arg(0x1_0000_000a).map(Signal::number), Ok(10));
        assert_eq!(Signal::from_arg(0), Err(Errno::EINVAL));
        assert_eq!(Signal::from_arg(65), Err(Errno::EINVAL));
        assert_eq!(Signal::from_arg(u64::MAX), Err(Errno::EINVAL));
        assert_eq!(Signal::new(64).map(Signal::index), Some(63));
        assert_eq!(SigArg::from_arg(0x1_0000_0000).to_send(), Ok(None));
        assert_eq!(SigArg(-1).to_send(), Err(Errno::EINVAL));
        assert_eq!(SigArg(65).to_send(), Err(Errno::EINVAL));
        assert_eq!(SigArg(64).to_send(), Ok(Signal::new(64)));
    }
}

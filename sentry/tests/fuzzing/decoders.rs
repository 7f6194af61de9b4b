//! Fuzz harness for the sentry's syscall argument decoders and validators,
//! shared by the stable fuzz test (`sentry/tests/fuzz_decoders.rs`) and the
//! cargo-fuzz target in `fuzz/` (nightly). Every function takes raw fuzz
//! bytes and checks properties, never only "did not panic":
//!
//! * [`clone_args`]: `CloneArgs::legacy` splits clone(2)'s flags exactly,
//!   and `CloneArgs::validate` accepts a request if and only if it breaks
//!   none of the rules of clone(2)/clone3(2) (restated here from the man
//!   pages and kernel/fork.c), and refuses with EINVAL only;
//! * [`sigaction`], [`siginfo`]: the guest structs decode and re-encode
//!   byte for byte (siginfo's padding word aside);
//! * [`ucontext`]: `decode_ucontext` takes any byte string (EFAULT when
//!   short), and decodes what `encode_frame` wrote back into the same
//!   registers, mask, FPU pointer and alternate stack;
//! * [`frame_layout`]: signal frames are aligned like Linux's (rsp+8 on a
//!   16-byte boundary at handler entry, XSAVE area 64-byte aligned) and
//!   fit below the red zone or inside the alternate stack;
//! * [`sigqueue`]: pending-signal queue against a model (standard signals
//!   coalesce, real-time ones queue in order, SIGKILL first, then the
//!   lowest number, never a blocked one);
//! * [`syscall_table`]: any 64-bit number has a name and a support level.

#![allow(dead_code)]

use platform::UserRegs;
use sentry::abi::Abi;
use sentry::errno::Errno;
use sentry::kernel::clone::flags::*;
use sentry::kernel::clone::{CloneArgs, Origin};
use sentry::kernel::signal::{
    self, AltStack, FRAME_SIZE, FaultRegs, INFO_OFFSET, MCONTEXT_OFFSET, SigAction, SigInfo,
    SigQueue, SigSet, Signal, UC_OFFSET, XSAVE_SIZE,
};

/// Reads fuzz bytes as a stream of values (zeros past the end).
pub struct Bytes<'a>(pub &'a [u8]);

impl Bytes<'_> {
    pub fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    pub fn u64(&mut self) -> u64 {
        (0..8).fold(0, |acc, i| acc | (u64::from(self.u8()) << (8 * i)))
    }
    pub fn bool(&mut self) -> bool {
        self.u8() & 1 != 0
    }
    pub fn array<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        a.iter_mut().for_each(|b| *b = self.u8());
        a
    }
}

/// The clone rules, restated: the reasons `a` must be refused with EINVAL.
pub fn clone_violations(a: &CloneArgs, origin: Origin, init: bool) -> Vec<&'static str> {
    let f = a.flags;
    let has = |bits: u64| f & bits == bits;
    let mut v = Vec::new();
    if origin == Origin::Clone3 {
        if f & !(0xffff_ffff | CLONE_CLEAR_SIGHAND | CLONE_INTO_CGROUP) != 0 {
            v.push("clone3: unknown flag");
        }
        if has(CLONE_DETACHED) || f & 0x7f != 0 {
            v.push("clone3: CLONE_DETACHED or exit-signal bits in flags");
        }
        if has(CLONE_SIGHAND | CLONE_CLEAR_SIGHAND) {
            v.push("clone3: CLONE_SIGHAND with CLONE_CLEAR_SIGHAND");
        }
        if f & (CLONE_THREAD | CLONE_PARENT) != 0 && a.exit_signal != 0 {
            v.push("clone3: exit signal with CLONE_THREAD or CLONE_PARENT");
        }
        if (a.stack == 0) != (a.stack_size == 0) {
            v.push("clone3: stack without size or size without stack");
        }
        if a.stack != 0 && u128::from(a.stack) + u128::from(a.stack_size) > 0x7fff_ffff_f000 {
            v.push("clone3: stack beyond the user address space");
        }
    }
    if has(CLONE_PIDFD | CLONE_PARENT_SETTID) && a.pidfd == a.parent_tid {
        v.push("CLONE_PIDFD and CLONE_PARENT_SETTID at one address");
    }
    if has(CLONE_NEWNS | CLONE_FS) {
        v.push("CLONE_NEWNS with CLONE_FS");
    }
    if has(CLONE_NEWUSER | CLONE_FS) {
        v.push("CLONE_NEWUSER with CLONE_FS");
    }
    if has(CLONE_THREAD) && !has(CLONE_SIGHAND) {
        v.push("CLONE_THREAD without CLONE_SIGHAND");
    }
    if has(CLONE_SIGHAND) && !has(CLONE_VM) {
        v.push("CLONE_SIGHAND without CLONE_VM");
    }
    if has(CLONE_PARENT) && init {
        v.push("CLONE_PARENT from init");
    }
    if has(CLONE_THREAD) && f & (CLONE_NEWUSER | CLONE_NEWPID) != 0 {
        v.push("CLONE_THREAD with CLONE_NEWUSER or CLONE_NEWPID");
    }
    if has(CLONE_PIDFD | CLONE_DETACHED) {
        v.push("CLONE_PIDFD with CLONE_DETACHED");
    }
    v
}

/// Flags biased towards the bits the rules look at.
fn flags(d: &mut Bytes) -> u64 {
    const BITS: [u64; 12] = [
        CLONE_VM,
        CLONE_FS,
        CLONE_SIGHAND,
        CLONE_THREAD,
        CLONE_PARENT,
        CLONE_PIDFD,
        CLONE_PARENT_SETTID,
        CLONE_DETACHED,
        CLONE_NEWNS,
        CLONE_NEWUSER,
        CLONE_NEWPID,
        CLONE_CLEAR_SIGHAND,
    ];
    let mode = d.u8();
    if mode < 64 {
        return d.u64();
    }
    let mut f = 0;
    let mask = u16::from_le_bytes([d.u8(), d.u8()]);
    for (i, bit) in BITS.iter().enumerate() {
        if mask & (1 << i) != 0 {
            f |= bit;
        }
    }
    if mode & 1 != 0 {
        f |= u64::from(d.u8()) & CSIGNAL;
    }
    if mode & 2 != 0 {
        f |= 1 << (d.u8() % 64);
    }
    f
}

pub fn clone_args(data: &[u8]) {
    let mut d = Bytes(data);
    let init = d.bool();
    // clone(2): (flags, newsp, parent_tid, child_tid, tls).
    let raw = if d.bool() { flags(&mut d) } else { d.u64() };
    let (sp, ptid, ctid, tls) = (d.u64(), d.u64(), d.u64(), d.u64());
    let ptid = if d.bool() { ptid } else { ctid };
    let a = CloneArgs::legacy(raw, sp, ptid, ctid, tls);
    assert_eq!(a.flags, raw & 0xffff_ff00, "legacy flags");
    assert_eq!(a.exit_signal, raw & 0xff, "legacy exit signal");
    assert_eq!((a.stack, a.stack_size, a.tls), (sp, 0, tls));
    assert_eq!((a.parent_tid, a.child_tid, a.pidfd), (ptid, ctid, ptid));
    check_validate(&a, Origin::Legacy, init);

    // clone3(2): the struct's fields (the syscall checks the exit signal's
    // range and the size before validate).
    let mut c = CloneArgs {
        flags: flags(&mut d),
        pidfd: d.u64(),
        child_tid: d.u64(),
        parent_tid: d.u64(),
        exit_signal: u64::from(d.u8() % 65),
        stack: d.u64(),
        stack_size: d.u64(),
        tls: d.u64(),
        ..Default::default()
    };
    match d.u8() % 4 {
        0 => c.pidfd = c.parent_tid,
        1 => {
            c.stack = 0;
            c.stack_size = 0;
        }
        2 => {
            c.stack &= 0x7fff_ffff_ffff;
            c.stack_size %= 1 << 24;
        }
        _ => {}
    }
    check_validate(&c, Origin::Clone3, init);
    let fork = CloneArgs::fork();
    assert_eq!(fork.validate(Origin::Legacy, init), Ok(()));
    let vfork = CloneArgs::vfork();
    assert_eq!(vfork.validate(Origin::Legacy, init), Ok(()));
}

fn check_validate(a: &CloneArgs, origin: Origin, init: bool) {
    let why = clone_violations(a, origin, init);
    match a.validate(origin, init) {
        Ok(()) => assert!(why.is_empty(), "accepted {a:?} ({origin:?}) but: {why:?}"),
        Err(e) => {
            assert_eq!(e, Errno::EINVAL, "{a:?}: only EINVAL");
            assert!(
                !why.is_empty(),
                "refused {a:?} ({origin:?}) breaking no rule"
            );
        }
    }
}

pub fn sigaction(data: &[u8]) {
    let b: [u8; 32] = Bytes(data).array();
    let act = SigAction::decode(&b);
    assert_eq!(act.to_bytes(), b, "sigaction round trip");
    assert_eq!(act.handler, u64::from_le_bytes(b[..8].try_into().unwrap()));
    assert_eq!(act.mask.0, u64::from_le_bytes(b[24..].try_into().unwrap()));
    let unblockable = act.mask.unblockable_removed();
    assert!(!unblockable.has(Signal::SIGKILL) && !unblockable.has(Signal::SIGSTOP));
    assert_eq!(
        unblockable.0 | (act.mask.0 & ((1 << 8) | (1 << 18))),
        act.mask.0,
        "only SIGKILL and SIGSTOP removed"
    );
}

pub fn siginfo(data: &[u8]) {
    let b: [u8; 128] = Bytes(data).array();
    let info = SigInfo::decode(&b);
    let mut want = b;
    want[12..16].fill(0); // padding after si_code
    assert_eq!(info.to_bytes(), want, "siginfo round trip");
    assert_eq!(SigInfo::decode(&info.to_bytes()), info);
}

fn regs(d: &mut Bytes) -> UserRegs {
    UserRegs {
        rax: d.u64(),
        rbx: d.u64(),
        rcx: d.u64(),
        rdx: d.u64(),
        rsi: d.u64(),
        rdi: d.u64(),
        rsp: d.u64(),
        rbp: d.u64(),
        r8: d.u64(),
        r9: d.u64(),
        r10: d.u64(),
        r11: d.u64(),
        r12: d.u64(),
        r13: d.u64(),
        r14: d.u64(),
        r15: d.u64(),
        rip: d.u64(),
        rflags: d.u64(),
    }
}

pub fn ucontext(data: &[u8]) {
    // Any bytes, any length: never a panic; short is EFAULT.
    let mut d = Bytes(data);
    let len = usize::from(d.u8()) * 2;
    let raw: Vec<u8> = (0..len).map(|_| d.u8()).collect();
    match signal::decode_ucontext(&raw) {
        Err(e) => assert_eq!(e, Errno::EFAULT, "short ucontext"),
        Ok(_) => assert!(raw.len() >= 304, "decoded {} bytes", raw.len()),
    }
    // What encode_frame writes, decode_ucontext reads back.
    let r = regs(&mut d);
    let blocked = SigSet(d.u64());
    let alt = AltStack {
        sp: d.u64(),
        size: d.u64() % (1 << 30),
        flags: 0,
    };
    let info = SigInfo::decode(&d.array::<128>());
    let (restorer, fpstate) = (d.u64(), d.u64());
    let fault = FaultRegs {
        trapno: d.u64(),
        err: d.u64(),
        cr2: d.u64(),
    };
    let frame = signal::encode_frame(&r, restorer, blocked, alt, &info, fpstate, fault);
    assert_eq!(frame.len() as u64, FRAME_SIZE, "frame size");
    assert_eq!(frame[..8], restorer.to_le_bytes(), "pretcode");
    let uc = &frame[UC_OFFSET as usize..];
    let back = signal::decode_ucontext(uc).expect("decode what we encoded");
    // The fault registers sit where Linux's sigcontext has them.
    let mc = &uc[MCONTEXT_OFFSET as usize..];
    let at = |off: u64| u64::from_le_bytes(mc[off as usize..off as usize + 8].try_into().unwrap());
    assert_eq!(
        (
            at(signal::sc::TRAPNO),
            at(signal::sc::ERR),
            at(signal::sc::CR2)
        ),
        (fault.trapno, fault.err, fault.cr2),
        "trapno, err and cr2 in the sigcontext"
    );
    assert_eq!(
        at(signal::sc::FPSTATE),
        fpstate,
        "fpstate in the sigcontext"
    );
    assert_eq!(back.regs, r, "registers round trip");
    assert_eq!(back.blocked, blocked, "mask round trip");
    assert_eq!(back.fpstate, fpstate, "fpstate pointer round trip");
    assert_eq!((back.alt.sp, back.alt.size), (alt.sp, alt.size), "altstack");
    let info_bytes: [u8; 128] = frame[INFO_OFFSET as usize..INFO_OFFSET as usize + 128]
        .try_into()
        .unwrap();
    assert_eq!(SigInfo::decode(&info_bytes), info, "siginfo in the frame");
}

pub fn frame_layout(data: &[u8]) {
    let mut d = Bytes(data);
    let sp = match d.u8() % 4 {
        0 => d.u64(),
        1 => 0x7fff_ffff_e000 - (d.u64() % (1 << 20)),
        2 => d.u64() % (1 << 47),
        _ => d.u64() % 0x10_0000,
    };
    let alt = AltStack {
        sp: if d.bool() {
            d.u64()
        } else {
            d.u64() % (1 << 47)
        },
        size: d.u64() % (1 << 24),
        flags: 0,
    };
    let use_alt = d.bool();
    let layout = signal::frame_layout(sp, use_alt.then_some(&alt));
    assert_eq!(layout.fpstate % 64, 0, "XSAVE area alignment");
    assert_eq!(
        layout.frame.wrapping_add(8) % 16,
        0,
        "rsp+8 16-byte aligned at handler entry"
    );
    let top = if use_alt {
        alt.sp.checked_add(alt.size)
    } else {
        sp.checked_sub(128)
    };
    // Only where nothing wraps: the frame sits below the XSAVE area, which
    // sits below the top (the red zone or the alternate stack's end).
    if let Some(top) = top
        && top > (1 << 20)
    {
        assert!(
            layout.frame + FRAME_SIZE <= layout.fpstate,
            "frame overlaps fpstate"
        );
        assert!(
            layout.fpstate + XSAVE_SIZE + 4 <= top,
            "fpstate above the top"
        );
        assert!(
            top - layout.frame < XSAVE_SIZE + FRAME_SIZE + 256,
            "frame too far down"
        );
    }
}

pub fn sigqueue(data: &[u8]) {
    use std::collections::{BTreeMap, VecDeque};
    let mut d = Bytes(data);
    let mut q = SigQueue::default();
    // Model: per signal, the queued payloads (standard ones hold at most 1).
    let mut model: BTreeMap<i32, VecDeque<u64>> = BTreeMap::new();
    let mut next_payload = 0u64;
    for _ in 0..64 {
        if d.0.is_empty() {
            break;
        }
        let op = d.u8();
        let signo = i32::from(d.u8() % 64) + 1;
        match op % 4 {
            0 | 1 => {
                next_payload += 1;
                q.push(SigInfo::fault(Signal::new(signo).unwrap(), 0, next_payload));
                let slot = model.entry(signo).or_default();
                if signo >= 32 || slot.is_empty() {
                    slot.push_back(next_payload);
                }
            }
            2 => {
                let blocked = SigSet(d.u64());
                let want = {
                    let deliverable: Vec<i32> = model
                        .iter()
                        .filter(|(s, v)| !v.is_empty() && !blocked.has(Signal::new(**s).unwrap()))
                        .map(|(s, _)| *s)
                        .collect();
                    if deliverable.contains(&signal::sig::SIGKILL) {
                        Some(signal::sig::SIGKILL)
                    } else {
                        deliverable.first().copied()
                    }
                };
                let got = q.pop(blocked);
                match (got, want) {
                    (None, None) => {}
                    (Some(info), Some(s)) => {
                        assert_eq!(info.signo, s, "popped the wrong signal");
                        let payload = model.get_mut(&s).unwrap().pop_front();
                        assert_eq!(Some(info.data[0]), payload, "real-time order");
                    }
                    (got, want) => panic!("popped {got:?}, model says {want:?}"),
                }
            }
            _ => {
                let set = SigSet(d.u64());
                q.discard(set);
                model.retain(|s, _| !set.has(Signal::new(*s).unwrap()));
            }
        }
        let want_set = model
            .iter()
            .filter(|(_, v)| !v.is_empty())
            .fold(0u64, |acc, (s, _)| acc | 1 << (s - 1));
        assert_eq!(q.set().0, want_set, "pending set");
    }
}

pub fn syscall_table(data: &[u8]) {
    let mut d = Bytes(data);
    for _ in 0..8 {
        let nr = match d.u8() % 3 {
            0 => u64::from(d.u8()) * 2,
            1 => d.u64() % 1024,
            _ => d.u64(),
        };
        let name = sentry::syscalls::name(nr);
        assert!(!name.is_empty(), "syscall {nr} has no name");
        let _ = sentry::syscalls::support(nr);
        assert!(signal::valid(nr as i64) == (1..=64).contains(&(nr as i64)));
    }
}

/// A fuzz target: raw bytes in, assertions inside.
pub type Target = fn(&[u8]);

/// Every target, by name (the fuzz test and cargo-fuzz pick from these).
pub const TARGETS: &[(&str, Target)] = &[
    ("clone_args", clone_args),
    ("sigaction", sigaction),
    ("siginfo", siginfo),
    ("ucontext", ucontext),
    ("frame_layout", frame_layout),
    ("sigqueue", sigqueue),
    ("syscall_table", syscall_table),
];

/// One libFuzzer-style case: byte 0 picks the target, the rest is its input.
pub fn fuzz_one(data: &[u8]) {
    if let Some((&sel, rest)) = data.split_first() {
        (TARGETS[usize::from(sel) % TARGETS.len()].1)(rest);
    }
}

//! The start-up self-test of the memory design: on this host a downgrade
//! of a page-table entry reaches the guest only through the fresh-table
//! commit ([`crate::PageTables::commit`]). Before the sandbox runs anything
//! it checks, on a scratch address space and vCPU, that after a commit the
//! guest faults where Linux would: after an unmap, after a write-protect,
//! and that a frame swap shows the new frame. On a KVM that behaves
//! otherwise the sentry refuses to run rather than leak stale memory.
//! It also checks that ring 3 cannot enter 32-bit compatibility mode (a far
//! return to the 32-bit user selector 0x23 must take a #GP), the first step
//! of the way into ring 0 through `CSTAR` on this host.
//!
//! The guest is a command loop, also used by the platform's tests:
//! `syscall(0x1000)` asks the host for a command in rax (1 = read `[rdx]`
//! and report it with `syscall(0x2000, value)`, 2 = write r8 to `[rdx]` and
//! report `syscall(0x2001)`, 3 = jump to rdx).

use std::sync::Arc;

use crate::{Error, Machine, PageTables, Pte, PteFlags, Result, Trap, UserContext, Vcpu};

/// Machine code of the command loop (position independent).
pub const PROGRAM: &[u8] = &[
    0xb8, 0x00, 0x10, 0x00, 0x00, 0x0f, 0x05, 0x48, 0x83, 0xf8, 0x01, 0x74, 0x0e, 0x48, 0x83, 0xf8,
    0x02, 0x74, 0x14, 0x48, 0x83, 0xf8, 0x03, 0x74, 0x1a, 0x0f, 0x0b, 0x48, 0x8b, 0x3a, 0xb8, 0x00,
    0x20, 0x00, 0x00, 0x0f, 0x05, 0xeb, 0xd9, 0x4c, 0x89, 0x02, 0xb8, 0x01, 0x20, 0x00, 0x00, 0x0f,
    0x05, 0xeb, 0xcd, 0xff, 0xe2,
];
/// Where the command loop is mapped.
pub const CODE: u64 = 0x40_0000;
const DATA: u64 = 0x60_0000;
/// Where the far-return probe is mapped.
const FAR_RETURN: u64 = 0x50_0000;
/// `push $0x23; lea 1f(%rip),%rax; push %rax; lretq; 1: syscall; ud2`.
const FAR_RETURN_CODE: &[u8] = &[
    0x6a, 0x23, 0x48, 0x8d, 0x05, 0x03, 0x00, 0x00, 0x00, 0x50, 0x48, 0xcb, 0x0f, 0x05, 0x0f, 0x0b,
];

const RX: PteFlags = PteFlags::RX;
const RW: PteFlags = PteFlags::RW;
const RO: PteFlags = PteFlags::RO;
struct Probe {
    machine: Arc<Machine>,
    pt: PageTables,
    vcpu: Vcpu,
    ctx: UserContext,
    frames: Vec<u64>,
}

fn failed(what: &str) -> Error {
    Error::SelfTest(what.to_owned())
}

impl Probe {
    fn run(&mut self) -> Result<Trap> {
        self.pt.commit()?;
        self.vcpu.run(&mut self.ctx, self.pt.root())
    }

    fn command(&mut self, op: u64, addr: u64, value: u64) -> Result<Trap> {
        self.ctx.regs.rax = op;
        self.ctx.regs.rdx = addr;
        self.ctx.regs.r8 = value;
        self.run()
    }

    /// Back to the command loop (after a fault, or after a report).
    fn reset(&mut self) -> Result<()> {
        self.ctx.regs.rip = CODE;
        match self.run()? {
            Trap::Syscall { nr: 0x1000, .. } => Ok(()),
            _ => Err(failed("the command loop did not start")),
        }
    }

    fn read(&mut self, addr: u64) -> Result<std::result::Result<u64, Trap>> {
        let t = self.command(1, addr, 0)?;
        self.reset()?;
        Ok(match t {
            Trap::Syscall { nr: 0x2000, args } => Ok(args[0]),
            other => Err(other),
        })
    }

    fn write(&mut self, addr: u64, value: u64) -> Result<std::result::Result<(), Trap>> {
        let t = self.command(2, addr, value)?;
        self.reset()?;
        Ok(match t {
            Trap::Syscall { nr: 0x2001, .. } => Ok(()),
            other => Err(other),
        })
    }

    fn page(&mut self, value: u64) -> Result<u64> {
        let f = self.machine.alloc_data()?;
        self.machine.memory().write_u64(f, value)?;
        self.frames.push(f);
        Ok(f)
    }
}

/// Runs the self-test on `machine`.
pub fn self_test(machine: &Arc<Machine>) -> Result<()> {
    let mut pt = PageTables::new(Arc::clone(machine))?;
    let code = machine.alloc_data()?;
    machine.memory().write(code, PROGRAM)?;
    pt.set(
        CODE,
        Some(Pte {
            frame: code,
            flags: RX,
        }),
    )?;
    let vcpu = machine.create_vcpu()?;
    let mut p = Probe {
        machine: Arc::clone(machine),
        pt,
        vcpu,
        ctx: UserContext::default(),
        frames: vec![code],
    };
    let result = probe(&mut p);
    // Unmap everything before the frames go back.
    let _ = p.pt.update_range(0, 1 << 47, |_, _| None);
    for f in std::mem::take(&mut p.frames) {
        machine.frames().put(f, crate::FrameKind::Data);
    }
    result
}

fn probe(p: &mut Probe) -> Result<()> {
    p.reset()?;
    let code = p.page(0)?;
    p.machine.memory().write(code, FAR_RETURN_CODE)?;
    let stack = p.page(0)?;
    let map = |frame, flags| Some(Pte { frame, flags });
    p.pt.set(FAR_RETURN, map(code, RX))?;
    p.pt.set(FAR_RETURN + 0x1000, map(stack, RW))?;
    p.ctx.regs.rsp = FAR_RETURN + 0x1800;
    // Command 3 jumps to rdx; the far return must fault, nothing else.
    let far_return = p.command(3, FAR_RETURN, 0)?;
    p.pt.set(FAR_RETURN, None)?;
    p.pt.set(FAR_RETURN + 0x1000, None)?;
    match far_return {
        Trap::Exception {
            vector: 13,
            error_code: 0x20,
        } => p.reset()?,
        other => {
            return Err(Error::SelfTest(format!(
                "a far return to the 32-bit user selector gave {other:?}, not #GP; \
                 guest code could reach compatibility mode"
            )));
        }
    }
    let a = p.page(0xa)?;
    let b = p.page(0xb)?;
    p.pt.set(DATA, map(a, RW))?;
    if p.read(DATA)? != Ok(0xa) || p.write(DATA, 0xaa)? != Ok(()) {
        return Err(failed("a mapped page cannot be used"));
    }
    p.pt.set(DATA, map(b, RW))?;
    if p.read(DATA)? != Ok(0xb) {
        return Err(failed("a frame swap is not seen after a commit"));
    }
    p.pt.set(DATA, map(b, RO))?;
    match p.write(DATA, 1)? {
        Err(Trap::PageFault { error_code: 7, .. }) => {}
        _ => return Err(failed("a write-protect is not seen after a commit")),
    }
    p.pt.set(DATA, None)?;
    match p.read(DATA)? {
        Err(Trap::PageFault { error_code: 4, .. }) => Ok(()),
        _ => Err(failed("an unmap is not seen after a commit")),
    }
}

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

use crate::{
    Error, ForkAction, Machine, PageTables, Pte, PteFlags, Result, Trap, UserContext, Vcpu,
};

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
    let mut result = probe(&mut p);
    if result.is_ok() {
        // Leaf-table sharing at fork is an optimisation: a host where its
        // rules do not hold forks page by page instead.
        match share_probe(&mut p) {
            Ok(()) => machine.set_table_sharing(true),
            Err(Error::SelfTest(why)) => {
                machine.set_table_sharing(false);
                tracing::warn!("page-table sharing at fork is off: {why}");
            }
            Err(e) => result = Err(e),
        }
    }
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

/// Where the sharing probe maps its pages (a leaf table of its own).
const SHARED: u64 = 0x4000_0000;
const SPAN: u64 = 1 << 21;

/// Runs `f` with `other` as the probe's address space.
fn on<T>(
    p: &mut Probe,
    other: &mut PageTables,
    f: impl FnOnce(&mut Probe) -> Result<T>,
) -> Result<T> {
    std::mem::swap(&mut p.pt, other);
    let r = f(p);
    std::mem::swap(&mut p.pt, other);
    r
}

/// A fresh address space with the command loop mapped.
fn new_space(p: &Probe) -> Result<PageTables> {
    let mut pt = PageTables::new(Arc::clone(&p.machine))?;
    let code = p.frames[0];
    p.machine.frames().get(code);
    pt.set(
        CODE,
        Some(Pte {
            frame: code,
            flags: RX,
        }),
    )?;
    Ok(pt)
}

/// Reads `addr` and checks it holds `want`.
fn expect_read(p: &mut Probe, addr: u64, want: u64, what: &str) -> Result<()> {
    match p.read(addr)? {
        Ok(v) if v == want => Ok(()),
        other => Err(Error::SelfTest(format!(
            "leaf-table sharing: {what}: read {other:?}, not {want:#x}"
        ))),
    }
}

/// Writes `addr` and checks the write faults with error code `code`, or
/// succeeds when `code` is `None`.
fn expect_write(p: &mut Probe, addr: u64, value: u64, code: Option<u64>, what: &str) -> Result<()> {
    let got = p.write(addr, value)?;
    let ok = match (code, &got) {
        (None, Ok(())) => true,
        (Some(c), Err(Trap::PageFault { error_code, .. })) => *error_code == c,
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(Error::SelfTest(format!(
            "leaf-table sharing: {what}: write gave {got:?}, wanted fault {code:?}"
        )))
    }
}

/// The copy-on-write break a write fault at `va` under a shared table
/// gets in the sentry: unshare, then copy the frame if someone else
/// holds it (or take it over), writable in place.
fn break_shared(p: &mut Probe, va: u64) -> Result<()> {
    p.pt.unshare(va, (va & !(SPAN - 1), (va & !(SPAN - 1)) + SPAN))?;
    let pte =
        p.pt.lookup(va)?
            .ok_or(failed("leaf-table sharing: page lost"))?;
    let frames = p.machine.frames();
    let frame = if frames.refcount(pte.frame) == 1 {
        pte.frame
    } else {
        let copy = p.machine.alloc_data()?;
        p.machine.memory().copy_frame(copy, pte.frame)?;
        frames.put_data(pte.frame);
        copy
    };
    p.pt.break_cow(va, frame, false)
}

/// Proves the rules of leaf-table sharing ([`PageTables::fork_share`])
/// on this host: parent, child and grandchild see the fork-time data,
/// every write under a shared table faults, a write after unsharing is
/// seen by its writer only (not shared: copied; last sharer: moved), an
/// unmap in one is not seen by the others, and all of it again after a
/// shadow drop recycled the retired table frames.
fn share_probe(p: &mut Probe) -> Result<()> {
    let machine = Arc::clone(&p.machine);
    let frames = machine.frames();
    // Frames whose only reference is their mapping's.
    let a0 = machine.alloc_data()?;
    let a1 = machine.alloc_data()?;
    let rw = |frame| Some(Pte { frame, flags: RW });
    p.pt.set(SHARED, rw(a0))?;
    p.pt.set(SHARED + 0x1000, rw(a1))?;
    // The parent writes both first: KVM then holds writable translations.
    expect_write(p, SHARED, 0xa0, None, "parent before the fork")?;
    expect_write(p, SHARED + 0x1000, 0xa1, None, "parent before the fork")?;
    let mut b = new_space(p)?;
    let mut c = new_space(p)?;
    let cow = [(SHARED, SHARED + SPAN, ForkAction::Cow)];
    p.pt.fork_share(&mut b, &cow)?;
    if p.pt.shared_leaf_tables()? != 1 || b.shared_leaf_tables()? != 1 {
        return Err(failed("leaf-table sharing: the fork shared no table"));
    }
    expect_write(p, SHARED, 1, Some(7), "parent after the fork")?;
    expect_read(p, SHARED, 0xa0, "parent after the fork")?;
    let r = on(p, &mut b, |p| {
        expect_read(p, SHARED + 0x1000, 0xa1, "child")?;
        expect_write(p, SHARED + 0x1000, 2, Some(7), "child")?;
        // A grandchild shares the same table.
        p.pt.fork_share(&mut c, &cow)?;
        // The child breaks its copy-on-write on page 0 (not the last
        // sharer: the table is copied).
        break_shared(p, SHARED)?;
        expect_write(p, SHARED, 0xb0, None, "child after unsharing")?;
        expect_read(p, SHARED, 0xb0, "child after unsharing")?;
        expect_read(p, SHARED + 0x1000, 0xa1, "child after unsharing")?;
        expect_write(
            p,
            SHARED + 0x1000,
            3,
            Some(7),
            "child, other page after unsharing",
        )
    });
    r?;
    on(p, &mut c, |p| {
        expect_read(p, SHARED, 0xa0, "grandchild after the child's write")?;
        expect_write(p, SHARED, 4, Some(7), "grandchild")
    })?;
    expect_read(p, SHARED, 0xa0, "parent after the child's write")?;
    // The grandchild exits: the parent is the last sharer and moves.
    c.put_all_frames()?;
    drop(c);
    expect_write(p, SHARED, 5, Some(7), "last sharer before unsharing")?;
    break_shared(p, SHARED)?;
    expect_write(p, SHARED, 0xaa, None, "last sharer after moving")?;
    expect_write(
        p,
        SHARED + 0x1000,
        6,
        Some(7),
        "last sharer, page still shared",
    )?;
    on(p, &mut b, |p| {
        expect_read(p, SHARED, 0xb0, "child after the parent's write")?;
        expect_read(p, SHARED + 0x1000, 0xa1, "child after the parent's write")?;
        // An unmap in the child is not seen by the parent.
        p.pt.set(SHARED + 0x1000, None)?
            .map(|m| frames.put_data(m.frame));
        match p.read(SHARED + 0x1000)? {
            Err(Trap::PageFault { error_code: 4, .. }) => Ok(()),
            other => Err(Error::SelfTest(format!(
                "leaf-table sharing: an unmap after unsharing gave {other:?}"
            ))),
        }
    })?;
    expect_read(p, SHARED + 0x1000, 0xa1, "parent after the child's unmap")?;
    // Recycle every retired table frame, then share again.
    p.machine.zap()?;
    let mut d = new_space(p)?;
    p.pt.fork_share(&mut d, &cow)?;
    on(p, &mut d, |p| {
        expect_read(p, SHARED, 0xaa, "child after a shadow drop")?;
        expect_read(p, SHARED + 0x1000, 0xa1, "child after a shadow drop")?;
        expect_write(p, SHARED, 7, Some(7), "child after a shadow drop")
    })?;
    expect_write(p, SHARED + 0x1000, 8, Some(7), "parent after a shadow drop")?;
    for mut s in [b, d] {
        s.put_all_frames()?;
    }
    // Back to one private table for the parent.
    p.pt.update_range(SHARED, SHARED + SPAN, |_, m| {
        frames.put_data(m.frame);
        None
    })?;
    Ok(())
}

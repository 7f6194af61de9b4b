//! Platform floors: the same kind of work driven through the `platform`
//! crate directly, with the host answering each trap at once and doing no
//! sentry work (no task table, no VMAs, no syscall dispatch, no FPU
//! switches). They bound from below what the sentry can achieve on this
//! host's KVM. Timed host-side with `Instant`.
//!
//! The guest code is hand-assembled (`gcc -c` + `objdump -d`):
//!
//! ```text
//! trap_loop:                          ; the bare trap floor
//!   0: b8 27 00 00 00     mov  eax, 39          ; getppid, never looked at
//!   5: 0f 05              syscall
//!   7: eb f7              jmp  trap_loop
//! fork_prog:                          ; rdi = first page, rsi = page count
//!   9: 48 85 f6           test rsi, rsi         ; touch every page once, so
//!   c: 74 0f              je   fork_loop        ; that KVM shadows it as it
//!   e: c6 07 01           mov  byte [rdi], 1    ; would in a guest that
//!  11: 48 81 c7 00 10 00 00 add rdi, 4096       ; dirtied its memory
//!  18: 48 ff ce           dec  rsi
//!  1b: eb ec              jmp  fork_prog
//! fork_loop:
//!  1d: 48 89 44 24 f8     mov  [rsp-8], rax     ; dirty the stack page, as
//!  22: b8 39 00 00 00     mov  eax, 57          ; any real program does
//!  27: 0f 05              syscall               ; "fork": rax = 0 in the child
//!  29: 48 85 c0           test rax, rax
//!  2c: 74 09              je   child
//!  2e: b8 3d 00 00 00     mov  eax, 61          ; "wait"
//!  33: 0f 05              syscall
//!  35: eb e6              jmp  fork_loop
//! child:
//!  37: b8 3c 00 00 00     mov  eax, 60          ; "exit"
//!  3c: 0f 05              syscall
//!  3e: 0f 0b              ud2
//! ```

use std::sync::Arc;
use std::time::{Duration, Instant};

use platform::x86_64::layout::USER_VA_END;
use platform::x86_64::paging::ForkAction;
use platform::{
    FrameKind, Machine, MachineConfig, PageTables, Pte, PteFlags, Trap, UserContext, Vcpu,
};

use super::Runner;

const PROGRAM: &[u8] = &[
    0xb8, 0x27, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xeb, 0xf7, // trap_loop
    0x48, 0x85, 0xf6, 0x74, 0x0f, 0xc6, 0x07, 0x01, 0x48, 0x81, 0xc7, 0x00, 0x10, 0x00, 0x00, 0x48,
    0xff, 0xce, 0xeb, 0xec, // fork_prog
    0x48, 0x89, 0x44, 0x24, 0xf8, 0xb8, 0x39, 0x00, 0x00, 0x00, 0x0f, 0x05, 0x48, 0x85, 0xc0, 0x74,
    0x09, 0xb8, 0x3d, 0x00, 0x00, 0x00, 0x0f, 0x05, 0xeb, 0xe6, // fork_loop
    0xb8, 0x3c, 0x00, 0x00, 0x00, 0x0f, 0x05, 0x0f, 0x0b, // child
];
const TRAP_LOOP: u64 = 0x0;
const FORK_PROG: u64 = 0x9;

const SYS_FORK: u64 = 57;
const SYS_EXIT: u64 = 60;
const SYS_WAIT: u64 = 61;

const CODE: u64 = 0x40_0000;
const STACK: u64 = 0x7fff_0000;
const DATA: u64 = 0x1000_0000;
const PAGE: u64 = 4096;

const RX: PteFlags = PteFlags::RX;
const RW: PteFlags = PteFlags::RW;
fn err(what: &str) -> impl FnOnce(platform::Error) -> String + '_ {
    move |e| format!("platform floor: {what}: {e}")
}

/// A machine with the program and a stack page mapped, plus `data_pages`
/// writable pages at `DATA`, and a vCPU at `entry`.
struct Setup {
    machine: Arc<Machine>,
    pt: PageTables,
    vcpu: Vcpu,
    ctx: UserContext,
}

impl Setup {
    fn new(entry: u64, data_pages: u64) -> Result<Self, String> {
        let machine = Arc::new(
            Machine::new(MachineConfig {
                memory_limit: data_pages * PAGE + (64 << 20),
            })
            .map_err(err("creating the machine"))?,
        );
        let mut pt = PageTables::new(Arc::clone(&machine)).map_err(err("page tables"))?;
        let mut map = |va: u64, flags: PteFlags| -> Result<u64, String> {
            let frame = machine.alloc_data().map_err(err("allocating a frame"))?;
            pt.set(va, Some(Pte { frame, flags }))
                .map_err(err("mapping a page"))?;
            Ok(frame)
        };
        let code = map(CODE, RX)?;
        map(STACK, RW)?;
        for i in 0..data_pages {
            map(DATA + i * PAGE, RW)?;
        }
        machine
            .memory()
            .write(code, PROGRAM)
            .map_err(err("writing the program"))?;
        let vcpu = machine.create_vcpu().map_err(err("creating a vCPU"))?;
        let mut ctx = UserContext::default();
        ctx.regs.rip = CODE + entry;
        ctx.regs.rsp = STACK + PAGE;
        ctx.regs.rflags = 0x202;
        ctx.regs.rdi = DATA;
        ctx.regs.rsi = data_pages;
        Ok(Self {
            machine,
            pt,
            vcpu,
            ctx,
        })
    }
}

/// The bare trap floor: a guest looping on `syscall`, the host resuming it
/// at once. One iteration is one round trip guest → host → guest.
pub struct TrapFloor(Setup);

impl TrapFloor {
    /// Sets up the machine and runs to the first trap.
    pub fn new() -> Result<Self, String> {
        let mut s = Setup::new(TRAP_LOOP, 0)?;
        s.pt.commit().map_err(err("commit"))?;
        s.vcpu
            .run(&mut s.ctx, s.pt.root())
            .map_err(err("first run"))?;
        Ok(Self(s))
    }
}

impl Runner for TrapFloor {
    fn run(&mut self, iters: u64) -> Result<Duration, String> {
        let s = &mut self.0;
        let root = s.pt.root();
        let start = Instant::now();
        for _ in 0..iters {
            match s.vcpu.run(&mut s.ctx, root).map_err(err("run"))? {
                Trap::Syscall { .. } => {}
                other => return Err(format!("platform floor: unexpected trap {other:?}")),
            }
        }
        Ok(start.elapsed())
    }
}

/// The fork floor: the guest above after touching `dirty_mib` MiB, each
/// iteration one "fork" (copy-on-write copy of the page tables into a fresh
/// address space, or for vfork the parent's own tables), the child run on
/// a second vCPU to its "exit", the child's address space torn down
/// (frame references dropped, tables retired), the parent's "wait", and
/// the parent's copy-on-write fault on its stack page. This is the
/// platform work a real fork cannot avoid on this host.
pub struct ForkFloor {
    s: Setup,
    child_vcpu: Vcpu,
    vfork: bool,
}

impl ForkFloor {
    /// Sets up the machine, lets the guest touch its memory and runs it to
    /// its first fork.
    pub fn new(vfork: bool, dirty_mib: u64) -> Result<Self, String> {
        let s = Setup::new(FORK_PROG, dirty_mib * (1 << 20) / PAGE)?;
        let child_vcpu = s.machine.create_vcpu().map_err(err("creating a vCPU"))?;
        let mut f = Self {
            s,
            child_vcpu,
            vfork,
        };
        f.run_parent_to(SYS_FORK)?;
        Ok(f)
    }

    /// Resumes the parent until syscall `nr`, breaking copy-on-write on
    /// the way.
    fn run_parent_to(&mut self, nr: u64) -> Result<(), String> {
        let s = &mut self.s;
        loop {
            s.pt.commit().map_err(err("commit"))?;
            match s
                .vcpu
                .run(&mut s.ctx, s.pt.root())
                .map_err(err("run parent"))?
            {
                Trap::Syscall { nr: got, .. } if got == nr => return Ok(()),
                Trap::PageFault {
                    addr, error_code, ..
                } if error_code & 3 == 3 => {
                    let va = addr & !(PAGE - 1);
                    let pte =
                        s.pt.lookup(va)
                            .map_err(err("lookup"))?
                            .ok_or_else(|| format!("platform floor: no page at {va:#x}"))?;
                    let frames = s.machine.frames();
                    let frame = if frames.refcount(pte.frame) > 1 {
                        let copy = frames
                            .alloc(FrameKind::Data)
                            .map_err(err("copy-on-write frame"))?;
                        s.machine
                            .memory()
                            .copy_frame(copy, pte.frame)
                            .map_err(err("copy-on-write copy"))?;
                        frames.put(pte.frame, FrameKind::Data);
                        copy
                    } else {
                        pte.frame
                    };
                    s.pt.break_cow(va, frame, pte.flags.exec)
                        .map_err(err("copy-on-write break"))?;
                }
                Trap::Interrupted => {}
                other => {
                    return Err(format!(
                        "platform floor: parent stopped by {other:?} instead of syscall {nr}"
                    ));
                }
            }
        }
    }

    /// One fork + child exit + wait, from the parent's fork trap to its next.
    fn cycle(&mut self) -> Result<(), String> {
        let mut child_ctx = self.s.ctx;
        child_ctx.regs.rax = 0;
        let child_pt = if self.vfork {
            None
        } else {
            let mut child =
                PageTables::new(Arc::clone(&self.s.machine)).map_err(err("child tables"))?;
            self.s
                .pt
                .fork_range(&mut child, 0, USER_VA_END, |_| ForkAction::Cow)
                .map_err(err("fork_range"))?;
            child.commit().map_err(err("child commit"))?;
            Some(child)
        };
        let root = match &child_pt {
            Some(c) => c.root(),
            None => self.s.pt.root(),
        };
        match self
            .child_vcpu
            .run(&mut child_ctx, root)
            .map_err(err("run child"))?
        {
            Trap::Syscall { nr: SYS_EXIT, .. } => {}
            other => return Err(format!("platform floor: child stopped by {other:?}")),
        }
        if let Some(mut child) = child_pt {
            let frames = self.s.machine.frames();
            child
                .update_range(0, USER_VA_END, |_, pte| {
                    frames.put(pte.frame, FrameKind::Data);
                    Some(pte)
                })
                .map_err(err("child teardown"))?;
        }
        self.s.ctx.regs.rax = 1; // the child's "pid"
        self.run_parent_to(SYS_WAIT)?;
        self.s.ctx.regs.rax = 1; // the reaped "pid"
        self.run_parent_to(SYS_FORK)
    }
}

impl Runner for ForkFloor {
    fn run(&mut self, iters: u64) -> Result<Duration, String> {
        let start = Instant::now();
        for _ in 0..iters {
            self.cycle()?;
        }
        Ok(start.elapsed())
    }
}

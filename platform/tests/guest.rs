//! Runs a tiny ring-3 guest on a real vCPU and checks traps, page faults and
//! — most importantly — that no stale translation survives a downgrade on
//! this host's shadow-paging KVM (KVM-NOTES.md, fact 4). Each downgrade test
//! first makes the guest use the old translation, so KVM has shadowed it.
//!
//! The guest is a command loop: `syscall(0x1000)` asks the host for a
//! command in rax (1 = read `[rdx]` and report it with `syscall(0x2000,
//! value)`, 2 = write r8 to `[rdx]` and report `syscall(0x2001)`, 3 = jump
//! to rdx).

use std::sync::Arc;

use platform::{Machine, MachineConfig, PageTables, Pte, PteFlags, Trap, UserContext, Vcpu};

use platform::selftest::{CODE, PROGRAM};

const STACK: u64 = 0x7fff_0000;
const DATA: u64 = 0x60_0000;

const RX: PteFlags = PteFlags::RX;
const RW: PteFlags = PteFlags::RW;
const RO: PteFlags = PteFlags::RO;
struct Guest {
    machine: Arc<Machine>,
    pt: PageTables,
    vcpu: Vcpu,
    ctx: UserContext,
}

impl Guest {
    fn new() -> Self {
        let machine = Arc::new(
            Machine::new(MachineConfig {
                memory_limit: 64 << 20,
            })
            .expect("KVM machine"),
        );
        let mut pt = PageTables::new(Arc::clone(&machine)).unwrap();
        let code = machine.alloc_data().unwrap();
        machine.memory().write(code, PROGRAM).unwrap();
        pt.set(
            CODE,
            Some(Pte {
                frame: code,
                flags: RX,
            }),
        )
        .unwrap();
        let stack = machine.alloc_data().unwrap();
        pt.set(
            STACK,
            Some(Pte {
                frame: stack,
                flags: RW,
            }),
        )
        .unwrap();
        let vcpu = machine.create_vcpu().unwrap();
        let mut ctx = UserContext::default();
        ctx.regs.rip = CODE;
        ctx.regs.rsp = STACK + 4096;
        ctx.regs.rflags = 0x202;
        Guest {
            machine,
            pt,
            vcpu,
            ctx,
        }
    }

    fn page(&self, value: u64) -> u64 {
        let f = self.machine.alloc_data().unwrap();
        self.machine.memory().write_u64(f, value).unwrap();
        f
    }

    fn run(&mut self) -> Trap {
        self.pt.commit().unwrap();
        self.vcpu.run(&mut self.ctx, self.pt.root()).unwrap()
    }

    /// Runs to the next command request.
    fn await_command(&mut self) {
        match self.run() {
            Trap::Syscall { nr: 0x1000, .. } => {}
            other => panic!("expected a command request, got {other:?}"),
        }
    }

    /// Issues a command and returns the trap it leads to.
    fn command(&mut self, op: u64, addr: u64, value: u64) -> Trap {
        self.ctx.regs.rax = op;
        self.ctx.regs.rdx = addr;
        self.ctx.regs.r8 = value;
        self.run()
    }

    fn read(&mut self, addr: u64) -> Result<u64, Trap> {
        match self.command(1, addr, 0) {
            Trap::Syscall { nr: 0x2000, args } => {
                self.await_command();
                Ok(args[0])
            }
            other => Err(other),
        }
    }

    fn write(&mut self, addr: u64, value: u64) -> Result<(), Trap> {
        match self.command(2, addr, value) {
            Trap::Syscall { nr: 0x2001, .. } => {
                self.await_command();
                Ok(())
            }
            other => Err(other),
        }
    }
}

#[test]
fn startup_self_test_passes() {
    let machine = Arc::new(
        Machine::new(MachineConfig {
            memory_limit: 16 << 20,
        })
        .unwrap(),
    );
    platform::selftest::self_test(&machine).unwrap();
    // Leaf-table sharing at fork passed its rules on this host.
    assert!(machine.table_sharing());
    // It gives back what it used.
    assert_eq!(machine.frames().data_bytes_in_use(), 0);
}

#[test]
fn syscall_arguments_and_result_round_trip() {
    let mut g = Guest::new();
    g.await_command();
    let data = g.page(0x1234_5678);
    g.pt.set(
        DATA,
        Some(Pte {
            frame: data,
            flags: RW,
        }),
    )
    .unwrap();
    assert_eq!(g.read(DATA), Ok(0x1234_5678));
    // rcx/r11 hold the return address and flags, as after a real syscall.
    g.ctx.regs.rax = 1;
    g.ctx.regs.rdx = DATA;
    match g.run() {
        Trap::Syscall { nr, args } => {
            assert_eq!(nr, 0x2000);
            assert_eq!(args[0], 0x1234_5678);
            assert_eq!(g.ctx.regs.rip, g.ctx.regs.rcx);
            assert!(g.ctx.regs.rip > CODE && g.ctx.regs.rip < CODE + PROGRAM.len() as u64);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn demand_fault_then_map_and_retry() {
    let mut g = Guest::new();
    g.await_command();
    let err = g.read(DATA).unwrap_err();
    assert_eq!(err, Trap::page_fault(DATA, 0x4));
    let f = g.page(77);
    g.pt.set(
        DATA,
        Some(Pte {
            frame: f,
            flags: RW,
        }),
    )
    .unwrap();
    // Retry the faulting instruction.
    match g.run() {
        Trap::Syscall { nr: 0x2000, args } => assert_eq!(args[0], 77),
        other => panic!("{other:?}"),
    }
}

#[test]
fn write_to_missing_page_reports_a_write_fault() {
    let mut g = Guest::new();
    g.await_command();
    assert_eq!(
        g.write(DATA + 8, 5).unwrap_err(),
        Trap::page_fault(DATA + 8, 0x6)
    );
}

#[test]
fn frame_swap_is_seen_after_commit() {
    let mut g = Guest::new();
    g.await_command();
    for round in 0..5u64 {
        let a = g.page(0xa000 + round);
        let b = g.page(0xb000 + round);
        g.pt.set(
            DATA,
            Some(Pte {
                frame: a,
                flags: RW,
            }),
        )
        .unwrap();
        assert_eq!(g.read(DATA), Ok(0xa000 + round));
        g.pt.set(
            DATA,
            Some(Pte {
                frame: b,
                flags: RW,
            }),
        )
        .unwrap();
        assert!(g.pt.is_stale());
        assert_eq!(
            g.read(DATA),
            Ok(0xb000 + round),
            "stale frame in round {round}"
        );
    }
}

#[test]
fn write_protect_is_seen_after_commit() {
    let mut g = Guest::new();
    g.await_command();
    for round in 0..5u64 {
        let a = g.page(0);
        g.pt.set(
            DATA,
            Some(Pte {
                frame: a,
                flags: RW,
            }),
        )
        .unwrap();
        g.write(DATA, round).unwrap();
        g.pt.set(
            DATA,
            Some(Pte {
                frame: a,
                flags: RO,
            }),
        )
        .unwrap();
        assert_eq!(
            g.write(DATA, 99).unwrap_err(),
            Trap::page_fault(DATA, 0x7),
            "stale writable translation in round {round}"
        );
        assert_eq!(g.machine.memory().read_u64(a).unwrap(), round);
        // Upgrade in place (a copy-on-write break) and retry the write.
        let copy = g.page(0);
        g.pt.break_cow(DATA, copy, false).unwrap();
        assert!(!g.pt.is_stale());
        match g.run() {
            Trap::Syscall { nr: 0x2001, .. } => g.await_command(),
            other => panic!("{other:?}"),
        }
        assert_eq!(g.machine.memory().read_u64(copy).unwrap(), 99);
        assert_eq!(g.machine.memory().read_u64(a).unwrap(), round);
        assert_eq!(g.read(DATA), Ok(99));
    }
}

#[test]
fn unmap_is_seen_after_commit() {
    let mut g = Guest::new();
    g.await_command();
    for round in 0..5u64 {
        let a = g.page(round);
        g.pt.set(
            DATA,
            Some(Pte {
                frame: a,
                flags: RW,
            }),
        )
        .unwrap();
        assert_eq!(g.read(DATA), Ok(round));
        g.pt.set(DATA, None).unwrap();
        assert_eq!(
            g.read(DATA).unwrap_err(),
            Trap::page_fault(DATA, 0x4),
            "stale translation after unmap in round {round}"
        );
        // Leave the faulting read: go back to the command loop.
        g.ctx.regs.rip = CODE;
        g.await_command();
    }
}

#[test]
fn no_execute_and_kernel_pages_fault() {
    let mut g = Guest::new();
    g.await_command();
    let f = g.page(0x90);
    g.pt.set(
        DATA,
        Some(Pte {
            frame: f,
            flags: RW,
        }),
    )
    .unwrap();
    assert_eq!(g.command(3, DATA, 0), Trap::page_fault(DATA, 0x15));
    g.ctx.regs.rip = CODE;
    g.await_command();
    // The supervisor area is not readable from ring 3.
    match g.read(0xffff_c900_0000_0000).unwrap_err() {
        Trap::PageFault {
            addr, error_code, ..
        } => {
            assert_eq!(addr, 0xffff_c900_0000_0000);
            assert_eq!(error_code & 1, 1);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn invalid_opcode_is_an_exception() {
    let mut g = Guest::new();
    g.await_command();
    match g.command(9, 0, 0) {
        Trap::Exception { vector: 6, .. } => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn kick_interrupts_a_spinning_guest() {
    let mut g = Guest::new();
    g.await_command();
    // `jmp .` at DATA.
    let f = g.page(0xfeeb);
    g.pt.set(
        DATA,
        Some(Pte {
            frame: f,
            flags: RX,
        }),
    )
    .unwrap();
    let kicker = g.vcpu.kicker();
    let t = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(50));
        kicker.kick();
    });
    assert_eq!(g.command(3, DATA, 0), Trap::Interrupted);
    assert_eq!(g.ctx.regs.rip, DATA);
    t.join().unwrap();
}

#[test]
fn fork_range_makes_both_sides_copy_on_write() {
    let mut g = Guest::new();
    g.await_command();
    let a = g.page(5);
    g.pt.set(
        DATA,
        Some(Pte {
            frame: a,
            flags: RW,
        }),
    )
    .unwrap();
    g.write(DATA, 6).unwrap();
    let mut child = PageTables::new(Arc::clone(&g.machine)).unwrap();
    g.pt.fork_range(&mut child, 0, 1 << 47, |_| {
        platform::x86_64::paging::ForkAction::Cow
    })
    .unwrap();
    assert_eq!(g.machine.frames().refcount(a), 2);
    assert_eq!(
        child.lookup(DATA).unwrap(),
        Some(Pte {
            frame: a,
            flags: RO
        })
    );
    assert_eq!(g.write(DATA, 7).unwrap_err(), Trap::page_fault(DATA, 0x7));
    // The child runs the same program on its own vCPU and root.
    let mut vcpu = g.machine.create_vcpu().unwrap();
    let mut ctx = UserContext::default();
    ctx.regs.rip = CODE;
    ctx.regs.rsp = STACK + 4096;
    child.commit().unwrap();
    assert!(matches!(
        vcpu.run(&mut ctx, child.root()).unwrap(),
        Trap::Syscall { nr: 0x1000, .. }
    ));
    ctx.regs.rax = 1;
    ctx.regs.rdx = DATA;
    match vcpu.run(&mut ctx, child.root()).unwrap() {
        Trap::Syscall { nr: 0x2000, args } => assert_eq!(args[0], 6),
        other => panic!("{other:?}"),
    }
}

#[test]
fn shadow_drop_recycles_quarantined_frames() {
    let mut g = Guest::new();
    g.await_command();
    let a = g.page(1);
    g.pt.set(
        DATA,
        Some(Pte {
            frame: a,
            flags: RW,
        }),
    )
    .unwrap();
    assert_eq!(g.read(DATA), Ok(1));
    g.pt.set(DATA, None).unwrap();
    g.pt.commit().unwrap();
    assert!(g.machine.frames().quarantined() > 0);
    g.machine.zap().unwrap();
    assert_eq!(g.machine.frames().quarantined(), 0);
    // After the drop the guest still runs on its (new) tables.
    let b = g.page(2);
    g.pt.set(
        DATA,
        Some(Pte {
            frame: b,
            flags: RW,
        }),
    )
    .unwrap();
    g.ctx.regs.rip = CODE;
    g.await_command();
    assert_eq!(g.read(DATA), Ok(2));
}

/// Regression: an unmapped page whose frame is immediately reused as a
/// page table by the commit must fault, not show the table (found through
/// madvise(MADV_DONTNEED) in a glibc guest). KVM does not re-read a leaf
/// table it already shadows when a fresh parent links it, so edited leaf
/// tables must move to fresh frames too.
#[test]
fn unmapped_frame_reused_as_table_is_not_visible() {
    let mut g = Guest::new();
    g.await_command();
    for round in 0..5u64 {
        let pages: Vec<u64> = (0..4).map(|i| g.page(0xab00 + i)).collect();
        for (i, f) in pages.iter().enumerate() {
            g.pt.set(
                DATA + i as u64 * 4096,
                Some(Pte {
                    frame: *f,
                    flags: RW,
                }),
            )
            .unwrap();
        }
        for i in 0..4 {
            assert_eq!(g.read(DATA + i * 4096), Ok(0xab00 + i));
        }
        for i in 1..3 {
            let old = g.pt.set(DATA + i * 4096, None).unwrap().unwrap();
            // Free the frame so the commit's fresh tables may take it.
            g.machine.frames().put(old.frame, platform::FrameKind::Data);
        }
        for i in 1..3 {
            assert_eq!(
                g.read(DATA + i * 4096).unwrap_err(),
                Trap::page_fault(DATA + i * 4096, 0x4),
                "stale translation to a reused frame in round {round}"
            );
            g.ctx.regs.rip = CODE;
            g.await_command();
        }
        assert_eq!(g.read(DATA), Ok(0xab00));
        assert_eq!(g.read(DATA + 3 * 4096), Ok(0xab03));
    }
}

/// Regression (issue 7): an address space dropped without ever committing
/// (a short-lived forked process) left its table frames in quarantine for
/// good, because only a commit dropped the shadows; after some thousands of
/// processes the pool ran dry (fork failed with ENOMEM) and the sentry's RSS
/// grew by ~27 KB a process. Creating and dropping many address spaces must
/// leave the allocator where it was.
#[test]
fn dropped_address_spaces_give_their_frames_back() {
    let machine = Arc::new(
        Machine::new(MachineConfig {
            memory_limit: 16 << 20,
        })
        .expect("KVM machine"),
    );
    let before = machine.frames().counters();
    // About 7 table frames each: 20,000 spaces need ~140,000 frames, far more
    // than this pool's ~20,000.
    for i in 0..20_000u64 {
        let mut pt = PageTables::new(Arc::clone(&machine)).unwrap();
        let mut data = Vec::new();
        for va in [0x40_0000, 0x7fff_0000 - (i % 8) * 0x1000, 0x7fff_f000_0000] {
            let frame = machine.alloc_data().expect("a data frame");
            pt.set(va, Some(Pte { frame, flags: RW }))
                .expect("a table frame");
            data.push(frame);
        }
        drop(pt);
        for f in data {
            machine.frames().put(f, platform::FrameKind::Data);
        }
    }
    let after = machine.frames().counters();
    assert!(machine.zap_count() > 0, "{after:?}");
    assert_eq!(after.data, before.data, "{after:?}");
    assert!(
        after.quarantined <= 2048 && after.tables == before.tables,
        "table frames leaked: before {before:?}, after {after:?}"
    );
    assert!(
        after.touched < before.touched + 4096,
        "the pool kept growing: before {before:?}, after {after:?}"
    );
}

/// Free frames beyond a resident reserve go back to the host: after a guest
/// frees a lot of memory, the pool's host memory shrinks again.
#[test]
fn trim_gives_free_memory_back_to_the_host() {
    let machine = Arc::new(
        Machine::new(MachineConfig {
            memory_limit: 256 << 20,
        })
        .expect("KVM machine"),
    );
    let frames: Vec<u64> = (0..32_768).map(|_| machine.alloc_data().unwrap()).collect();
    for f in &frames {
        machine.memory().write_u64(*f, 0xdead_beef).unwrap();
        machine.frames().put(*f, platform::FrameKind::Data);
    }
    machine.trim().unwrap();
    let c = machine.frames().counters();
    assert!(c.discarded >= 32_768 - 8192, "{c:?}");
    assert!(c.free <= 8192, "{c:?}");
    // A discarded frame reads as zero and can be reused.
    let g = machine.alloc_data().unwrap();
    assert_eq!(machine.memory().read_u64(g).unwrap(), 0);
}

// ---------------------------------------------------------------------------
// Ring 0 must stay out of the guest's reach (issue 7, escape 1).

/// Where the ring-0 payloads of these tests leave a mark.
const MARK: u64 = DATA;
/// A user page for payload code.
const PAYLOAD: u64 = 0x50_0000;

impl Guest {
    /// Maps a fresh RX page at `va` holding `code`.
    fn map_code(&mut self, va: u64, code: &[u8]) {
        let f = self.page(0);
        self.machine.memory().write(f, code).unwrap();
        self.pt
            .set(
                va,
                Some(Pte {
                    frame: f,
                    flags: RX,
                }),
            )
            .unwrap();
    }

    /// Maps the (zeroed) mark page and returns its frame.
    fn map_mark(&mut self) -> u64 {
        let f = self.page(0);
        self.pt
            .set(
                MARK,
                Some(Pte {
                    frame: f,
                    flags: RW,
                }),
            )
            .unwrap();
        f
    }

    /// Jumps to `va` from the command loop; the run's raw result.
    fn jump(&mut self, va: u64) -> platform::Result<Trap> {
        self.ctx.regs.rax = 3;
        self.ctx.regs.rdx = va;
        self.pt.commit().unwrap();
        self.vcpu.run(&mut self.ctx, self.pt.root())
    }

    /// Points IDT gate `vector` (DPL 3, so `int $vector` reaches it from
    /// ring 3) at `handler`: only a test can do this, by writing the
    /// supervisor area through the host mapping, to stand for guest code
    /// that somehow got into ring 0.
    fn hijack_gate(&self, vector: u64, handler: u64) {
        let cs = u64::from(platform::x86_64::layout::KERNEL_CS);
        let lo =
            (handler & 0xffff) | (cs << 16) | (0xee << 40) | (((handler >> 16) & 0xffff) << 48);
        let idt = platform::x86_64::layout::IDT_GPA + 16 * vector;
        self.machine.memory().write_u64(idt, lo).unwrap();
        self.machine
            .memory()
            .write_u64(idt + 8, handler >> 32)
            .unwrap();
    }

    /// Writes ring-0 code into the supervisor stubs page at `offset`
    /// (past the real stubs) and returns its address.
    fn ring0_code(&self, offset: u64, code: &[u8]) -> u64 {
        use platform::x86_64::layout::{STUBS_GPA, STUBS_VA};
        self.machine
            .memory()
            .write(STUBS_GPA + offset, code)
            .unwrap();
        STUBS_VA + offset
    }

    fn mark(&self, frame: u64) -> u64 {
        self.machine.memory().read_u64(frame).unwrap()
    }
}

/// `movl $0x1234, MARK; hlt`: run in ring 0 it leaves the mark and exits.
const MARK_AND_HALT: &[u8] = &[
    0xc7, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00, 0x34, 0x12, 0x00, 0x00, 0xf4,
];

#[test]
fn far_return_to_32_bit_code_faults_instead_of_reaching_ring0() {
    let mut g = Guest::new();
    g.await_command();
    let mark = g.map_mark();
    // Page 0 holds code that marks and halts: on the old platform a
    // compatibility-mode `syscall` went through CSTAR = 0 and ran it in
    // ring 0 (the platform does not enforce mmap_min_addr; the sentry does).
    g.map_code(0, MARK_AND_HALT);
    // push $0x23; lea 1f(%rip),%rax; push %rax; lretq; 1: syscall; ud2
    g.map_code(
        PAYLOAD,
        &[
            0x6a, 0x23, 0x48, 0x8d, 0x05, 0x03, 0x00, 0x00, 0x00, 0x50, 0x48, 0xcb, 0x0f, 0x05,
            0x0f, 0x0b,
        ],
    );
    let trap = g.jump(PAYLOAD);
    assert_eq!(g.mark(mark), 0, "the page-0 code ran ({trap:?})");
    // The far return itself takes a #GP: selector 0x23 is a null
    // descriptor (error code = the selector's index).
    assert_eq!(
        trap.unwrap(),
        Trap::Exception {
            vector: 13,
            error_code: 0x20
        }
    );
    assert_eq!(g.ctx.regs.rip, PAYLOAD + 0xa, "the fault is at the lretq");
    // The vCPU goes on in user mode.
    g.ctx.regs.rip = CODE;
    g.await_command();
}

#[test]
fn far_returns_to_any_other_selector_fault() {
    let mut g = Guest::new();
    g.await_command();
    let mark = g.map_mark();
    g.map_code(0, MARK_AND_HALT);
    // 0x08 (was the 32-bit kernel code segment), the kernel segments, user
    // data, the TSS and past the GDT's end: push $sel; push $0; lretq.
    for sel in [0x08u8, 0x0b, 0x10, 0x13, 0x1b, 0x23, 0x2b, 0x43, 0x4b, 0x53] {
        g.map_code(PAYLOAD, &[0x6a, sel, 0x6a, 0x00, 0x48, 0xcb]);
        // Room above the frame: KVM's far-return emulation may read an
        // SS:RSP pair too before it checks the selector.
        g.ctx.regs.rsp = STACK + 2048;
        let trap = g.jump(PAYLOAD).unwrap();
        assert_eq!(
            trap,
            Trap::Exception {
                vector: 13,
                error_code: u64::from(sel & !3)
            },
            "selector {sel:#x}"
        );
        assert_eq!(g.ctx.regs.rip, PAYLOAD + 4);
        assert_eq!(g.mark(mark), 0);
        g.ctx.regs.rip = CODE;
        g.await_command();
    }
}

#[test]
fn sysenter_faults_in_ring3() {
    use platform::x86_64::layout::RING0_TRAP_VA;
    let mut g = Guest::new();
    g.await_command();
    let mark = g.map_mark();
    g.map_code(0, MARK_AND_HALT);
    // sysenter; ud2
    g.map_code(PAYLOAD, &[0x0f, 0x34, 0x0f, 0x0b]);
    let trap = g.jump(PAYLOAD).unwrap();
    assert_eq!(g.mark(mark), 0, "{trap:?}");
    // #UD on this AMD host (SYSENTER is invalid in long mode there), #GP
    // on Intel (SYSENTER_CS = 0); at the sysenter either way.
    assert!(
        matches!(
            trap,
            Trap::Exception {
                vector: 13 | 6,
                error_code: 0
            }
        ),
        "sysenter: {trap:?}"
    );
    assert_eq!(g.ctx.regs.rip, PAYLOAD);
    let msrs = g.vcpu.guarded_msrs().unwrap();
    let get = |i| msrs.iter().find(|m| m.0 == i).unwrap().1;
    assert_eq!(get(0x174), 0, "SYSENTER_CS");
    assert_eq!(get(0x176), RING0_TRAP_VA, "SYSENTER_EIP");
    assert_eq!(get(0xc000_0083), RING0_TRAP_VA, "CSTAR");
}

#[test]
fn cr4_has_smep_smap_umip() {
    use platform::vcpu::{CR4_BASE, CR4_SMAP, CR4_SMEP, CR4_UMIP};
    let mut g = Guest::new();
    g.await_command();
    eprintln!("CR4 = {:#x}", g.vcpu.cr4());
    assert_eq!(g.vcpu.cr4(), CR4_BASE | CR4_SMEP | CR4_SMAP | CR4_UMIP);
}

#[test]
fn umip_makes_descriptor_table_reads_fault_in_ring3() {
    let mut g = Guest::new();
    g.await_command();
    let mark = g.map_mark();
    // sgdt MARK; ud2 -- then sidt MARK; ud2. Without UMIP this host stores
    // the supervisor GDT base (measured: 0xffffc90000010000, limit 0x4f).
    for op in [0x04u8, 0x0c] {
        g.map_code(
            PAYLOAD,
            &[0x0f, 0x01, op, 0x25, 0x00, 0x00, 0x60, 0x00, 0x0f, 0x0b],
        );
        assert_eq!(
            g.jump(PAYLOAD).unwrap(),
            Trap::Exception {
                vector: 13,
                error_code: 0
            }
        );
        assert_eq!(g.ctx.regs.rip, PAYLOAD);
        assert_eq!(g.mark(mark), 0);
        g.ctx.regs.rip = CODE;
        g.await_command();
    }
}

/// `int3`, to enter a hijacked gate 3 from ring 3.
const INT3: &[u8] = &[0xcc, 0x0f, 0x0b];

#[test]
fn smep_stops_ring0_from_running_user_pages() {
    let mut g = Guest::new();
    g.await_command();
    let mark = g.map_mark();
    g.map_code(0, MARK_AND_HALT);
    g.map_code(PAYLOAD, INT3);
    g.hijack_gate(3, 0);
    let r = g.jump(PAYLOAD);
    assert_eq!(g.mark(mark), 0, "ring 0 ran a user page: {r:?}");
    assert!(r.is_err(), "{r:?}");
}

#[test]
fn smap_stops_ring0_from_writing_user_pages() {
    let mut g = Guest::new();
    g.await_command();
    let mark = g.map_mark();
    g.map_code(PAYLOAD, INT3);
    // movl $0x1234, MARK; push $0; push $3; out %al, $0x11
    let code = g.ring0_code(
        0x400,
        &[
            0xc7, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00, 0x34, 0x12, 0x00, 0x00, 0x6a, 0x00, 0x6a,
            0x03, 0xe6, 0x11,
        ],
    );
    g.hijack_gate(3, code);
    let r = g.jump(PAYLOAD);
    assert_eq!(g.mark(mark), 0, "ring 0 wrote a user page: {r:?}");
    assert!(r.is_err(), "{r:?}");
}

#[test]
fn ring0_outside_the_stubs_is_an_error_and_reset_restores_msrs() {
    let mut g = Guest::new();
    g.await_command();
    g.map_code(PAYLOAD, INT3);
    // Ring-0 code that zeroes LSTAR, then exits like a stub would:
    // mov $0xc0000082,%ecx; xor %eax,%eax; xor %edx,%edx; wrmsr;
    // push $0; push $3; out %al,$0x11
    let code = g.ring0_code(
        0x400,
        &[
            0xb9, 0x82, 0x00, 0x00, 0xc0, 0x31, 0xc0, 0x31, 0xd2, 0x0f, 0x30, 0x6a, 0x00, 0x6a,
            0x03, 0xe6, 0x11,
        ],
    );
    g.hijack_gate(3, code);
    let err = g.jump(PAYLOAD).unwrap_err().to_string();
    assert!(err.contains("ring 0"), "{err}");
    let lstar = |g: &Guest| {
        g.vcpu
            .guarded_msrs()
            .unwrap()
            .into_iter()
            .find(|m| m.0 == 0xc000_0082)
            .unwrap()
            .1
    };
    assert_eq!(
        lstar(&g),
        0,
        "the payload did not run: the test proves nothing"
    );
    // What the sentry does before a pooled vCPU runs another task.
    g.vcpu.reset().unwrap();
    assert_eq!(g.vcpu.guarded_msrs().unwrap(), g.vcpu.canonical_msrs());
    assert_eq!(lstar(&g), platform::x86_64::layout::TRAMPOLINE_VA);
    // And the vCPU runs user code and traps syscalls again.
    g.hijack_gate(3, platform::x86_64::layout::STUBS_VA + 3 * 16);
    g.ctx.regs.rip = CODE;
    g.ctx.regs.rsp = STACK + 4096;
    g.await_command();
    assert_eq!(g.read(MARK).map_err(|_| ()), Err(()));
}

/// Runs `g` to PAYLOAD while another thread kicks it every 50 ms (for at
/// most 5 s); returns the run's result and how many kicks it took.
fn run_while_kicking(g: &mut Guest) -> (platform::Result<Trap>, usize) {
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    let kicker = g.vcpu.kicker();
    let done = Arc::new(AtomicBool::new(false));
    let kicks = Arc::new(AtomicUsize::new(0));
    let (stop, count) = (Arc::clone(&done), Arc::clone(&kicks));
    let t = std::thread::spawn(move || {
        for _ in 0..10 {
            std::thread::sleep(std::time::Duration::from_millis(50));
            if stop.load(Ordering::SeqCst) {
                break;
            }
            count.fetch_add(1, Ordering::SeqCst);
            kicker.kick();
            // Give the kick ample time to take effect before the next one,
            // so that a loaded machine cannot make one effective kick look
            // like two.
            for _ in 0..1000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                std::thread::sleep(std::time::Duration::from_millis(10));
            }
        }
    });
    let r = g.jump(PAYLOAD);
    done.store(true, Ordering::SeqCst);
    let n = kicks.load(Ordering::SeqCst);
    t.join().unwrap();
    (r, n)
}

#[test]
fn one_kick_ends_a_vcpu_spinning_in_ring0() {
    let mut g = Guest::new();
    g.await_command();
    g.map_code(PAYLOAD, INT3);
    // jmp . in ring 0, outside the stubs.
    let code = g.ring0_code(0x400, &[0xeb, 0xfe]);
    g.hijack_gate(3, code);
    let (r, kicks) = run_while_kicking(&mut g);
    let err = r.unwrap_err().to_string();
    assert!(err.contains("ring 0"), "{err}");
    assert_eq!(kicks, 1);
}

#[test]
fn one_kick_ends_a_vcpu_spinning_inside_a_stub() {
    let mut g = Guest::new();
    g.await_command();
    g.map_code(PAYLOAD, INT3);
    // jmp . in place of vector 3's own stub: a kick finds the vCPU at the
    // stub's first instruction with the user frame pushed, and the host
    // takes the trap from that frame instead of resuming ring 0.
    g.ring0_code(3 * 16, &[0xeb, 0xfe]);
    let (r, kicks) = run_while_kicking(&mut g);
    assert_eq!(
        r.unwrap(),
        Trap::Exception {
            vector: 3,
            error_code: 0
        }
    );
    assert_eq!(kicks, 1);
    assert_eq!(
        g.ctx.regs.rip,
        PAYLOAD + 1,
        "after the int3, as Linux reports it"
    );
    // The vCPU resumes user mode, not the stub.
    g.ctx.regs.rip = CODE;
    g.await_command();
}

#[test]
fn kicks_during_traps_never_lose_or_corrupt_them() {
    use std::sync::atomic::{AtomicBool, Ordering};
    let mut g = Guest::new();
    g.await_command();
    // ud2 at PAYLOAD; syscall; jmp PAYLOAD+0x10 at PAYLOAD+0x10.
    let mut code = vec![0x0f, 0x0b];
    code.resize(0x10, 0x90);
    code.extend_from_slice(&[0x0f, 0x05, 0xeb, 0xfc]);
    g.map_code(PAYLOAD, &code);
    g.pt.commit().unwrap();
    let kicker = g.vcpu.kicker();
    let stop = Arc::new(AtomicBool::new(false));
    let s = Arc::clone(&stop);
    let t = std::thread::spawn(move || {
        while !s.load(Ordering::SeqCst) {
            kicker.kick();
            std::thread::sleep(std::time::Duration::from_micros(20));
        }
    });
    let (mut exceptions, mut syscalls, mut interrupted) = (0, 0, 0);
    for i in 0..4000u64 {
        let ud2 = i % 2 == 0;
        g.ctx.regs.rip = if ud2 { PAYLOAD } else { PAYLOAD + 0x10 };
        g.ctx.regs.rax = i;
        g.ctx.regs.rdi = !i;
        loop {
            match g.vcpu.run(&mut g.ctx, g.pt.root()).unwrap() {
                Trap::Interrupted => interrupted += 1,
                Trap::Exception {
                    vector: 6,
                    error_code: 0,
                } if ud2 => {
                    assert_eq!(g.ctx.regs.rip, PAYLOAD);
                    exceptions += 1;
                    break;
                }
                Trap::Syscall { nr, args } if !ud2 => {
                    assert_eq!((nr, args[0]), (i, !i));
                    assert_eq!(g.ctx.regs.rip, PAYLOAD + 0x12);
                    syscalls += 1;
                    break;
                }
                other => panic!("round {i}: {other:?}"),
            }
        }
        assert_eq!(g.ctx.regs.rax, i);
    }
    stop.store(true, Ordering::SeqCst);
    t.join().unwrap();
    eprintln!(
        "{exceptions} exceptions, {syscalls} syscalls, {interrupted} kicks seen in user mode"
    );
    assert_eq!((exceptions, syscalls), (2000, 2000));
}

// ---------------------------------------------------------------------------
// User state the guest may have (or ask for) must never stop the VM.

/// `syscall; push %rax; ud2`
const SYSCALL_THEN_PUSH: &[u8] = &[0x0f, 0x05, 0x50, 0x0f, 0x0b];

/// Found by the syscall fuzzer: a task entered with a non-canonical RSP
/// (a clone child on a bad stack, a sigreturn) made a syscall, and the VM
/// shut down (the sentry saw "unexpected VM exit Shutdown"). This KVM
/// emulates while it cannot enter such a state natively; the emulated
/// `syscall` enters ring 0 with the user RSP, SMEP faults on the
/// trampoline, and the fault was pushed onto that RSP: #SS, #DF, triple
/// fault. The platform takes every exception on an IST stack and reports
/// the syscall; the stack itself then faults as on Linux.
#[test]
fn syscall_on_a_non_canonical_stack_traps_and_the_stack_faults() {
    let mut g = Guest::new();
    g.await_command();
    g.map_code(PAYLOAD, SYSCALL_THEN_PUSH);
    g.pt.commit().unwrap();
    for rsp in [
        0x8000_0000_0000_0000u64,
        0x0000_8000_0000_0000,
        0x2b04_d8ba_dc53_e4db,
        0xffff_8000_0000_0000,
    ] {
        // A fresh entry (all special registers written), as for a new task.
        g.vcpu.reset().unwrap();
        g.ctx.regs.rip = PAYLOAD;
        g.ctx.regs.rsp = rsp;
        g.ctx.regs.rax = 0x3000;
        g.ctx.regs.r11 = 0;
        let trap = g.vcpu.run(&mut g.ctx, g.pt.root());
        assert_eq!(
            trap.as_ref().ok(),
            Some(&Trap::Syscall {
                nr: 0x3000,
                args: [0; 6]
            }),
            "rsp {rsp:#x}: {trap:?}"
        );
        assert_eq!(g.ctx.regs.rip, PAYLOAD + 2, "rsp {rsp:#x}");
        assert_eq!(g.ctx.regs.rsp, rsp, "rsp {rsp:#x}");
        assert_eq!(g.ctx.regs.rflags & 0x200, 0x200, "rsp {rsp:#x}");
        // Resumed after the syscall, in ring 3, the push faults: #SS when
        // rsp - 8 is non-canonical, else a page fault there.
        let trap = g.vcpu.run(&mut g.ctx, g.pt.root()).unwrap();
        let below = rsp.wrapping_sub(8);
        if platform::vcpu::is_canonical(below) {
            assert_eq!(trap, Trap::page_fault(below, 6), "rsp {rsp:#x}");
        } else {
            assert_eq!(
                trap,
                Trap::Exception {
                    vector: 12,
                    error_code: 0
                },
                "rsp {rsp:#x}"
            );
        }
        assert_eq!(g.ctx.regs.rip, PAYLOAD + 2, "rsp {rsp:#x}");
        g.ctx.regs.rip = CODE;
        g.ctx.regs.rsp = STACK + 4096;
        g.await_command();
    }
}

/// A non-canonical RIP (after a sigreturn, say) is a #GP at that RIP, as
/// Linux reports a failed IRET to user mode.
#[test]
fn non_canonical_rip_is_a_general_protection_fault() {
    let mut g = Guest::new();
    g.await_command();
    for rip in [0x0000_8000_0000_0000u64, 0x8000_0000_0000_0000] {
        g.vcpu.reset().unwrap();
        g.ctx.regs.rip = rip;
        let trap = g.vcpu.run(&mut g.ctx, g.pt.root()).unwrap();
        assert_eq!(
            trap,
            Trap::Exception {
                vector: 13,
                error_code: 0
            },
            "rip {rip:#x}"
        );
        assert_eq!(g.ctx.regs.rip, rip);
        g.ctx.regs.rip = CODE;
        g.await_command();
    }
}

/// A non-canonical FS or GS base is never entered (the sentry refuses
/// them with EPERM first); the vCPU stays usable.
#[test]
fn non_canonical_segment_bases_are_refused() {
    let mut g = Guest::new();
    g.await_command();
    for (fs, gs) in [(0x8000_0000_0000_0000u64, 0), (0, 0x0000_8000_0000_0000)] {
        g.ctx.fs_base = fs;
        g.ctx.gs_base = gs;
        let err = g.vcpu.run(&mut g.ctx, g.pt.root()).unwrap_err();
        assert!(err.to_string().contains("non-canonical"), "{err}");
    }
    g.ctx.fs_base = 0x7fff_ffff_e000;
    g.ctx.gs_base = 0;
    g.ctx.regs.rip = CODE;
    g.await_command();
}

/// The copy-on-write break of a write fault at `va` under a shared leaf
/// table, as the sentry makes it: unshare, then copy the frame if anyone
/// else holds it (else take it over), writable in place.
fn break_shared(g: &mut Guest, va: u64) {
    let block = va & !((2 << 20) - 1);
    g.pt.unshare(va, (block, block + (2 << 20))).unwrap();
    let pte = g.pt.lookup(va).unwrap().unwrap();
    let frames = g.machine.frames();
    let frame = if frames.refcount(pte.frame) == 1 {
        pte.frame
    } else {
        let copy = g.machine.alloc_data().unwrap();
        g.machine.memory().copy_frame(copy, pte.frame).unwrap();
        frames.put_data(pte.frame);
        copy
    };
    g.pt.break_cow(va, frame, false).unwrap();
}

/// Another guest on the same machine, its own vCPU, on `pt`.
fn sibling(g: &Guest, pt: PageTables) -> Guest {
    let mut ctx = UserContext::default();
    ctx.regs.rip = CODE;
    ctx.regs.rsp = STACK + 4096;
    ctx.regs.rflags = 0x202;
    let mut s = Guest {
        machine: Arc::clone(&g.machine),
        pt,
        vcpu: g.machine.create_vcpu().unwrap(),
        ctx,
    };
    s.await_command();
    s
}

/// Re-reads `pages` pages at DATA on its own thread until `stop`, checking
/// each holds `base + index`; returns the guest and how many passes it made.
fn reader(
    mut g: Guest,
    pages: u64,
    base: u64,
    stop: Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<(Guest, u64)> {
    std::thread::spawn(move || {
        let mut passes = 0;
        while !stop.load(std::sync::atomic::Ordering::SeqCst) || passes == 0 {
            for i in 0..pages {
                assert_eq!(g.read(DATA + i * 4096), Ok(base + i), "page {i}");
            }
            passes += 1;
        }
        (g, passes)
    })
}

/// Parent and child share leaf tables ([`PageTables::fork_share`]) and run
/// on two vCPUs in parallel: the child re-reads every page while the
/// parent unshares and writes each (not the last sharer: copies), then
/// the parent re-reads while the child writes each (the last sharer:
/// moves). Every write under the shared table faults, neither side ever
/// reads the other's writes, the shared tables count once in the two
/// address spaces' table frames, and everything is given back at the end.
#[test]
fn shared_tables_on_two_vcpus_in_parallel() {
    use platform::ForkAction;
    use std::sync::atomic::{AtomicBool, Ordering};
    const N: u64 = 64;
    let mut g = Guest::new();
    g.await_command();
    for i in 0..N {
        let f = g.machine.alloc_data().unwrap();
        g.pt.set(
            DATA + i * 4096,
            Some(Pte {
                frame: f,
                flags: RW,
            }),
        )
        .unwrap();
    }
    // Writable translations are hot in KVM before the fork.
    for i in 0..N {
        g.write(DATA + i * 4096, 0x1000 + i).unwrap();
    }
    let before = g.pt.table_frames().unwrap();
    let mut child = PageTables::new(Arc::clone(&g.machine)).unwrap();
    g.pt.fork_share(&mut child, &[(0, 1 << 47, ForkAction::Cow)])
        .unwrap();
    // Code, data and stack: three leaf tables, shared.
    assert_eq!(g.pt.shared_leaf_tables().unwrap(), 3);
    assert_eq!(child.shared_leaf_tables().unwrap(), 3);
    let (p, c) = (g.pt.table_frames().unwrap(), child.table_frames().unwrap());
    assert!(
        p + c < 2 * before,
        "shared tables count once: {p} + {c} against {before} before the fork"
    );
    let stop = Arc::new(AtomicBool::new(false));
    let child = sibling(&g, child);
    let running = reader(child, N, 0x1000, Arc::clone(&stop));
    for i in 0..N {
        let va = DATA + i * 4096;
        assert_eq!(g.write(va, 0x2000 + i), Err(Trap::page_fault(va, 7)));
        g.ctx.regs.rip = CODE;
        g.await_command();
        break_shared(&mut g, va);
        g.write(va, 0x2000 + i).unwrap();
    }
    for i in 0..N {
        assert_eq!(g.read(DATA + i * 4096), Ok(0x2000 + i));
    }
    stop.store(true, Ordering::SeqCst);
    let (mut child, passes) = running.join().unwrap();
    assert!(passes > 0);
    assert_eq!(g.pt.shared_leaf_tables().unwrap(), 2);
    // Now the child writes while the parent re-reads.
    stop.store(false, Ordering::SeqCst);
    let running = reader(g, N, 0x2000, Arc::clone(&stop));
    for i in 0..N {
        let va = DATA + i * 4096;
        if i == 0 {
            assert_eq!(child.write(va, 0x3000), Err(Trap::page_fault(va, 7)));
            child.ctx.regs.rip = CODE;
            child.await_command();
            break_shared(&mut child, va);
        }
        // The last sharer took over the frames nobody else holds: no
        // further fault.
        child.write(va, 0x3000 + i).unwrap();
    }
    for i in 0..N {
        assert_eq!(child.read(DATA + i * 4096), Ok(0x3000 + i));
    }
    stop.store(true, Ordering::SeqCst);
    let (mut g, passes) = running.join().unwrap();
    assert!(passes > 0);
    // A frame reuse after a shadow drop shows nothing stale either.
    g.pt.commit().unwrap();
    g.machine.zap().unwrap();
    for i in 0..N {
        assert_eq!(g.read(DATA + i * 4096), Ok(0x2000 + i));
        assert_eq!(child.read(DATA + i * 4096), Ok(0x3000 + i));
    }
    let machine = Arc::clone(&g.machine);
    for mut s in [g, child] {
        s.pt.put_all_frames().unwrap();
    }
    assert_eq!(machine.frames().data_bytes_in_use(), 0);
}

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
    assert_eq!(
        err,
        Trap::PageFault {
            addr: DATA,
            error_code: 0x4
        }
    );
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
        Trap::PageFault {
            addr: DATA + 8,
            error_code: 0x6
        }
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
            Trap::PageFault {
                addr: DATA,
                error_code: 0x7
            },
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
            Trap::PageFault {
                addr: DATA,
                error_code: 0x4
            },
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
    assert_eq!(
        g.command(3, DATA, 0),
        Trap::PageFault {
            addr: DATA,
            error_code: 0x15
        }
    );
    g.ctx.regs.rip = CODE;
    g.await_command();
    // The supervisor area is not readable from ring 3.
    match g.read(0xffff_c900_0000_0000).unwrap_err() {
        Trap::PageFault { addr, error_code } => {
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
    assert_eq!(
        g.write(DATA, 7).unwrap_err(),
        Trap::PageFault {
            addr: DATA,
            error_code: 0x7
        }
    );
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
                Trap::PageFault {
                    addr: DATA + i * 4096,
                    error_code: 0x4
                },
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

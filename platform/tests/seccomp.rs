//! The seccomp platform: a tiny guest in a stub process makes syscalls,
//! faults and gets kicked; prints the measured round trip.

use std::sync::Arc;
use std::time::Instant;

use platform::seccomp::{self, Tuning};
use platform::{
    Access, AddressSpace, Context, Mapping, PageFlags, Platform, PlatformConfig, Trap, UserContext,
};

const CODE: u64 = 0x40_0000;
const STACK: u64 = 0x7fff_0000;
const DATA: u64 = 0x60_0000;

struct Guest {
    p: Arc<dyn Platform>,
    aspace: Box<dyn AddressSpace>,
    cx: Box<dyn Context>,
    ctx: UserContext,
}

impl Guest {
    fn new(code: &[u8]) -> Self {
        let p = seccomp::new_platform(PlatformConfig {
            memory_limit: 64 << 20,
        })
        .expect("seccomp platform");
        let mut aspace = p.new_address_space().unwrap();
        let f = p.alloc_data().unwrap();
        p.memory().write(f, code).unwrap();
        aspace
            .set(
                CODE,
                Some(Mapping {
                    frame: f,
                    flags: PageFlags::RX,
                }),
            )
            .unwrap();
        let s = p.alloc_data().unwrap();
        aspace
            .set(
                STACK,
                Some(Mapping {
                    frame: s,
                    flags: PageFlags::RW,
                }),
            )
            .unwrap();
        let cx = p.new_context().unwrap();
        let mut ctx = UserContext::default();
        ctx.regs.rip = CODE;
        ctx.regs.rsp = STACK + 4096;
        ctx.regs.rflags = 0x202;
        Guest { p, aspace, cx, ctx }
    }

    fn run(&mut self) -> Trap {
        self.aspace.commit().unwrap();
        let root = self.aspace.root();
        self.cx.run(&mut self.ctx, root).unwrap()
    }
}

/// `mov eax, 110; syscall; jmp $-7` (getppid in a loop).
const GETPPID_LOOP: &[u8] = &[0xb8, 110, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7];

#[test]
fn syscall_round_trip() {
    let mut g = Guest::new(GETPPID_LOOP);
    let t = g.run();
    assert_eq!(
        t,
        Trap::Syscall {
            nr: 110,
            args: [0, 0, 0, 0, 0, 0]
        }
    );
    assert_eq!(g.ctx.regs.rip, CODE + 7);
    for (spin, stub_spin, yield_, pin) in [
        (0, 0, false, true),
        (0, 0, false, false),
        (50, 50, true, true),
        (200, 200, true, true),
        (50, 50, true, false),
        (2000, 2000, false, false),
        (20000, 20000, false, false),
    ] {
        seccomp::set_tuning(Tuning {
            spin,
            stub_spin,
            yield_,
            pin,
        });
        let n = 2000;
        let start = Instant::now();
        for _ in 0..n {
            g.ctx.regs.rax = 1;
            match g.run() {
                Trap::Syscall { nr: 110, .. } => {}
                t => panic!("unexpected {t:?}"),
            }
        }
        let per = start.elapsed() / n;
        println!(
            "seccomp getppid round trip (spin {spin}/{stub_spin}, yield {yield_}, pin {pin}): {per:?}"
        );
    }
    seccomp::set_tuning(seccomp::default_tuning());
}

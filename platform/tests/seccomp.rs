//! The seccomp platform: a tiny guest in a stub process makes syscalls,
//! faults and gets kicked; prints the measured round trip.

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::arch::global_asm;

use platform::seccomp::{self, Seccomp, SeccompAddressSpace, Spin, Tuning};
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

fn platform(stub_tasks: u64) -> Arc<Seccomp> {
    platform_with(stub_tasks, 64 << 20)
}

/// A platform whose guest threads map their own pages
/// (`SENTRY_SECCOMP_GUEST_MAPS=on`): the stub filter's mmap and mprotect
/// rules are then all that stands between a guest and the pool.
fn guest_maps_platform() -> Arc<Seccomp> {
    Arc::new(
        Seccomp::with_options(
            PlatformConfig {
                memory_limit: 64 << 20,
            },
            seccomp::MAX_STUB_TASKS,
            true,
        )
        .expect("seccomp platform"),
    )
}

fn platform_with(stub_tasks: u64, memory_limit: u64) -> Arc<Seccomp> {
    Arc::new(
        Seccomp::with_task_limit(PlatformConfig { memory_limit }, stub_tasks)
            .expect("seccomp platform"),
    )
}

impl Guest {
    fn new(code: &[u8]) -> Self {
        Self::with_limit(code, 64 << 20)
    }

    fn with_limit(code: &[u8], memory_limit: u64) -> Self {
        Self::on(platform_with(seccomp::MAX_STUB_TASKS, memory_limit), code)
    }

    /// A guest in a new address space of `s`.
    fn on(s: Arc<Seccomp>, code: &[u8]) -> Self {
        let p: Arc<dyn Platform> = s;
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

    fn data(&mut self) -> u64 {
        self.map_fresh(DATA)
    }

    /// Maps a fresh data frame read-write at `addr`; returns the frame.
    fn map_fresh(&mut self, addr: u64) -> u64 {
        let f = self.p.alloc_data().unwrap();
        self.aspace
            .set(
                addr,
                Some(Mapping {
                    frame: f,
                    flags: PageFlags::RW,
                }),
            )
            .unwrap();
        f
    }

    fn stub_pid(&mut self) -> i32 {
        self.aspace
            .as_any_mut()
            .downcast_mut::<SeccompAddressSpace>()
            .unwrap()
            .stub_pid()
            .expect("the stub runs")
    }

    fn run(&mut self) -> Trap {
        self.aspace.commit().unwrap();
        let root = self.aspace.root();
        self.cx.run(&mut self.ctx, root).unwrap()
    }
}

/// `mov eax, 110; syscall; jmp $-7` (getppid in a loop).
const GETPPID_LOOP: &[u8] = &[0xb8, 110, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7];

/// Times `batches` batches of `n` trapped getppid calls: the best and the
/// median batch's time per call.
fn round_trips(g: &mut Guest, batches: usize, n: u32) -> (Duration, Duration) {
    let mut per: Vec<Duration> = (0..batches)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..n {
                g.ctx.regs.rax = 1;
                match g.run() {
                    Trap::Syscall { nr: 110, .. } => {}
                    t => panic!("unexpected {t:?}"),
                }
            }
            start.elapsed() / n
        })
        .collect();
    per.sort();
    (per[0], per[batches / 2])
}

/// The default tuning's round trip over many batches, for profiling
/// (`SECCOMP_RT_BATCHES=200 cargo test --release -p platform --test
/// seccomp -- --ignored --nocapture default_round_trip`).
#[test]
#[ignore]
fn default_round_trip() {
    let mut g = Guest::new(GETPPID_LOOP);
    g.run();
    let batches = std::env::var("SECCOMP_RT_BATCHES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(21);
    // SECCOMP_RT_TUNING=spin_us,stub_spin_us,mode(0 pause/1 yield/2 adaptive),pin(0/1)[,wake_us]
    if let Ok(t) = std::env::var("SECCOMP_RT_TUNING") {
        let v: Vec<u32> = t.split(',').map(|x| x.parse().unwrap()).collect();
        seccomp::set_tuning(Tuning {
            spin_us: v[0],
            stub_spin_us: v[1],
            spin: [Spin::Pause, Spin::Yield, Spin::Adaptive][v[2] as usize],
            pin: v[3] != 0,
            wake_us: v.get(4).copied().unwrap_or(seccomp::WAKE_SPIN_US),
        });
    }
    let (min, med) = round_trips(&mut g, batches, 2000);
    println!(
        "seccomp getppid round trip (default): median {med:?}, best {min:?} (of {batches} x 2000)"
    );
}

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
    for (spin_us, stub_spin_us, spin, pin) in [
        (0, 0, Spin::Pause, true),
        (0, 0, Spin::Pause, false),
        (20, 20, Spin::Yield, true),
        (20, 20, Spin::Yield, false),
        (20, 20, Spin::Pause, false),
        (20, 20, Spin::Adaptive, true),
        (20, 20, Spin::Adaptive, false),
    ] {
        // A spin after a wake-up as long as the plain one: the modes
        // compared as they are named.
        seccomp::set_tuning(Tuning {
            spin_us,
            stub_spin_us,
            spin,
            pin,
            wake_us: spin_us,
        });
        let (min, med) = round_trips(&mut g, 7, 1000);
        println!(
            "seccomp getppid round trip (spin {spin_us}/{stub_spin_us} us, {spin:?}, pin {pin}): median {med:?}, best {min:?} (of 7 x 1000)"
        );
    }
    seccomp::set_tuning(seccomp::default_tuning());
}

// Guest routines for the security tests, position independent. The stub
// window: code (and its one allowed syscall instruction) at
// 0x7fffff000000, the control thread's mailbox at 0x7fffff010000 and its
// stack at 0x7fffff017000..0x7fffff018000.
global_asm!(
    ".pushsection .text.guests,\"ax\",@progbits",
    // B: openat(AT_FDCWD, DATA, O_RDONLY) through the stub's instruction.
    ".globl g_open_start",
    "g_open_start:",
    "lea rax, [rip+2f]",
    "push rax",
    "mov eax, 257",
    "mov rdi, -100",
    "mov esi, 0x600000",
    "xor edx, edx",
    "movabs rcx, 0x7fffff000000",
    "jmp rcx",
    "2:",
    "mov rdi, rax",
    "mov eax, 0x1234",
    "syscall",
    "ud2",
    ".globl g_open_end",
    "g_open_end:",
    // C: forge a getpid command in the control thread's mailbox, wake it,
    // wait, report what its result slot holds.
    ".globl g_forge_start",
    "g_forge_start:",
    "movabs rbx, 0x7fffff010000",
    "mov qword ptr [rbx+0x100], 39",
    "mov qword ptr [rbx+0x138], 0x5555",
    "mov dword ptr [rbx+12], 1",
    "mov dword ptr [rbx+8], 1",
    "mov dword ptr [rbx+88], 0",
    "lock inc dword ptr [rbx]",
    "lea rax, [rip+2f]",
    "push rax",
    "mov rdi, rbx",
    "mov esi, 1",
    "mov edx, 1",
    "mov eax, 202",
    "movabs rcx, 0x7fffff000000",
    "jmp rcx",
    "2:",
    "mov ecx, 300000000",
    "3:",
    "dec ecx",
    "jnz 3b",
    "mov rdi, [rbx+0x138]",
    "mov eax, 0x1234",
    "syscall",
    "ud2",
    ".globl g_forge_end",
    "g_forge_end:",
    // D: fill the control thread's stack with the address of a routine
    // that makes a syscall and stores its result at DATA+8, wake the
    // control thread, wait, report DATA+8.
    ".globl g_stack_start",
    "g_stack_start:",
    "movabs rdi, 0x7fffff017000",
    "lea rax, [rip+4f]",
    "mov ecx, 512",
    "1:",
    "mov [rdi], rax",
    "add rdi, 8",
    "dec ecx",
    "jnz 1b",
    "lea rax, [rip+2f]",
    "push rax",
    "movabs rdi, 0x7fffff010000",
    "mov esi, 1",
    "mov edx, 1",
    "mov eax, 202",
    "movabs rcx, 0x7fffff000000",
    "jmp rcx",
    "2:",
    "mov ecx, 300000000",
    "3:",
    "dec ecx",
    "jnz 3b",
    "mov rdi, [0x600008]",
    "mov eax, 0x1234",
    "syscall",
    "ud2",
    "4:",
    "mov eax, 39",
    "syscall",
    "mov [0x600008], rax",
    "5:",
    "jmp 5b",
    ".globl g_stack_end",
    "g_stack_end:",
    // E: rt_sigreturn through the stub's instruction with a forged frame
    // whose signal mask is r13, then (r14 == 0) a syscall or (r14 != 0) a
    // spin.
    ".globl g_sigret_start",
    "g_sigret_start:",
    "mov r12, rsp",
    "sub rsp, 512",
    "mov rdi, rsp",
    "mov ecx, 64",
    "xor eax, eax",
    "rep stosq",
    "mov qword ptr [rsp+24], 2",
    "lea rax, [rip+2f]",
    "mov [rsp+168], rax",
    "mov [rsp+160], r12",
    "mov qword ptr [rsp+176], 0x202",
    "movabs rax, 0x002b000000000033",
    "mov [rsp+184], rax",
    "mov [rsp+296], r13",
    "mov eax, 15",
    "movabs rcx, 0x7fffff000000",
    "jmp rcx",
    "2:",
    "test r14, r14",
    "jnz 3f",
    "mov eax, 39",
    "syscall",
    "ud2",
    "3:",
    "jmp 3b",
    ".globl g_sigret_end",
    "g_sigret_end:",
    // H: any call through the stub's instruction, with the registers the
    // test set (rax, rdi, rsi, rdx, r10, r8, r9); reports the result.
    ".globl g_call_start",
    "g_call_start:",
    "lea r11, [rip+2f]",
    "push r11",
    "movabs r11, 0x7fffff000000",
    "jmp r11",
    "2:",
    "mov rdi, rax",
    "mov eax, 0x1234",
    "syscall",
    "ud2",
    ".globl g_call_end",
    "g_call_end:",
    // G: clone stub threads (flags r14) through the stub's instruction
    // until the kernel refuses (at most 2000); each new thread sleeps on
    // a futex at DATA+8. Reports the count and the last result.
    ".globl g_clone_start",
    "g_clone_start:",
    "lea rax, [rip+5f]",
    "mov r13d, 0x7fff0800",
    "mov [r13], rax",
    "xor r12d, r12d",
    "1:",
    "cmp r12d, 2000",
    "jae 3f",
    "lea rax, [rip+2f]",
    "push rax",
    "mov rdi, r14",
    "mov rsi, r13",
    "xor edx, edx",
    "mov r10d, 0x600000",
    "xor r8d, r8d",
    "mov eax, 56",
    "movabs rcx, 0x7fffff000000",
    "jmp rcx",
    "2:",
    "test rax, rax",
    "js 3f",
    "inc r12d",
    "jmp 1b",
    "3:",
    "mov rdi, r12",
    "mov rsi, rax",
    "mov eax, 0x1234",
    "syscall",
    "ud2",
    // A new thread returns here (its stack's top word) and sleeps.
    "5:",
    "lea rax, [rip+5b]",
    "push rax",
    "mov edi, 0x600008",
    "xor esi, esi",
    "xor edx, edx",
    "xor r10d, r10d",
    "mov eax, 202",
    "movabs rcx, 0x7fffff000000",
    "jmp rcx",
    ".globl g_clone_end",
    "g_clone_end:",
    ".popsection",
);

unsafe extern "C" {
    static g_open_start: u8;
    static g_open_end: u8;
    static g_forge_start: u8;
    static g_forge_end: u8;
    static g_stack_start: u8;
    static g_stack_end: u8;
    static g_sigret_start: u8;
    static g_sigret_end: u8;
    static g_clone_start: u8;
    static g_clone_end: u8;
    static g_call_start: u8;
    static g_call_end: u8;
}

fn bytes(start: *const u8, end: *const u8) -> Vec<u8> {
    // SAFETY: both symbols delimit one routine of the section above.
    unsafe { std::slice::from_raw_parts(start, end.offset_from(start) as usize).to_vec() }
}

const MARK: u64 = 0x1234;
const STUB_SYSCALL_IP: u64 = 0x7fff_ff00_0002;

#[test]
fn guest_jumping_to_the_stub_syscall_is_trapped_not_run() {
    let code = bytes(&raw const g_call_start, &raw const g_call_end);
    let mut g = Guest::new(&code);
    let t = stub_call(&mut g, 39, [0; 6]);
    // Executed, getpid would have returned to the guest, which reports it
    // with the marker syscall.
    assert_eq!(
        t,
        Trap::Syscall {
            nr: 39,
            args: [0; 6]
        },
        "getpid ran on the host"
    );
    assert_eq!(g.ctx.regs.rip, STUB_SYSCALL_IP);
}

/// The recycling check's `unshare(CLONE_VM)` is the only unshare the stub
/// filter allows: a guest asking for new namespaces through the stub's
/// instruction traps, and the check itself, run from a guest thread (its
/// process also has a control thread), fails with EINVAL and unshares
/// nothing.
#[test]
fn guest_unshare_through_the_stub_is_trapped_or_refused() {
    let code = bytes(&raw const g_call_start, &raw const g_call_end);
    let mut g = Guest::new(&code);
    for flags in [
        libc::CLONE_NEWUSER,
        libc::CLONE_NEWNS,
        libc::CLONE_FS,
        libc::CLONE_VM | libc::CLONE_NEWNET,
    ] {
        let t = stub_call(
            &mut g,
            libc::SYS_unshare as u64,
            [flags as u64, 0, 0, 0, 0, 0],
        );
        assert_eq!(
            t,
            Trap::Syscall {
                nr: libc::SYS_unshare as u64,
                args: [flags as u64, 0, 0, 0, 0, 0]
            },
            "unshare({flags:#x}) ran on the host"
        );
    }
    let t = stub_call(
        &mut g,
        libc::SYS_unshare as u64,
        [libc::CLONE_VM as u64, 0, 0, 0, 0, 0],
    );
    match t {
        Trap::Syscall { nr: MARK, args } => {
            assert_eq!(args[0] as i64, -(libc::EINVAL as i64), "{t:?}")
        }
        t => panic!("unshare(CLONE_VM) from a guest thread: {t:?}"),
    }
}

fn fds(pid: i32) -> Vec<String> {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .map(|e| {
            std::fs::read_link(e.unwrap().path())
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect()
}

#[test]
fn guest_openat_through_the_stub_is_trapped() {
    let code = bytes(&raw const g_open_start, &raw const g_open_end);
    let mut g = Guest::new(&code);
    let f = g.data();
    g.p.memory().write(f, b"/etc/passwd\0").unwrap();
    let t = g.run();
    match t {
        Trap::Syscall { nr: 257, args } => assert_eq!(args[1], DATA),
        t => panic!("openat was not trapped: {t:?}"),
    }
    let pid = g.stub_pid();
    let fds = fds(pid);
    assert_eq!(fds.len(), 1, "stub fds: {fds:?}");
    assert!(fds[0].contains("sentry-guest-memory"), "stub fds: {fds:?}");
}

#[test]
fn stub_has_only_the_pool_fd_no_privileges() {
    let mut g = Guest::new(GETPPID_LOOP);
    assert!(matches!(g.run(), Trap::Syscall { nr: 110, .. }));
    let pid = g.stub_pid();
    let fds = fds(pid);
    assert_eq!(fds.len(), 1, "stub fds: {fds:?}");
    assert!(fds[0].contains("sentry-guest-memory"), "stub fds: {fds:?}");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let field = |name: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    assert_eq!(field("NoNewPrivs:"), "1");
    assert_eq!(field("CapEff:"), "0000000000000000");
    assert_eq!(field("CapPrm:"), "0000000000000000");
    assert_eq!(field("CapInh:"), "0000000000000000");
    assert_eq!(field("CapAmb:"), "0000000000000000");
    assert_eq!(field("Seccomp:"), "2");
    // Nothing of the sentry's image is left in the stub.
    let maps = std::fs::read_to_string(format!("/proc/{pid}/maps")).unwrap();
    for l in maps.lines() {
        let start = u64::from_str_radix(l.split('-').next().unwrap(), 16).unwrap();
        assert!(
            !(0x8000_0000..0x7fff_ff00_0000).contains(&start) || l.contains("vsyscall"),
            "{l}"
        );
        assert!(
            !l.contains("vdso") && !l.contains("sentry") || l.contains("memfd"),
            "{l}"
        );
    }
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let open_files = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    assert!(
        open_files.split_whitespace().nth(3) == Some("0"),
        "{open_files}"
    );
}

/// A guest that writes a command into its stub's control mailbox faults:
/// the command page is read-only (and sealed, where the kernel has
/// mseal): only the sentry writes it.
#[test]
fn forged_control_mailbox_is_refused() {
    let code = bytes(&raw const g_forge_start, &raw const g_forge_end);
    let mut g = Guest::new(&code);
    match g.run() {
        Trap::PageFault {
            addr,
            access: platform::Access::Write,
            ..
        } => assert_eq!(addr, seccomp::stub::BLOCK_ADDR + 0x100),
        t => panic!("the control mailbox took a forged command: {t:?}"),
    }
}

#[test]
fn corrupted_control_stack_runs_no_host_syscall() {
    let code = bytes(&raw const g_stack_start, &raw const g_stack_end);
    let mut g = Guest::new(&code);
    let f = g.data();
    g.p.memory().write_u64(f + 8, 0x5555).unwrap();
    match g.run() {
        Trap::Syscall { nr: MARK, args } => {
            assert_eq!(
                args[0], 0x5555,
                "hijacked control thread made a host syscall"
            )
        }
        t => panic!("unexpected {t:?}"),
    }
}

#[test]
fn faults_and_exceptions_are_the_kvm_traps() {
    // mov rax, [0x600000]; ud2
    let code = [0x48, 0x8b, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00, 0x0f, 0x0b];
    let mut g = Guest::new(&code);
    match g.run() {
        Trap::PageFault {
            addr,
            access,
            error_code,
        } => {
            assert_eq!(addr, DATA);
            assert_eq!(access, Access::Read);
            assert_eq!(error_code & 4, 4);
        }
        t => panic!("unexpected {t:?}"),
    }
    let f = g.data();
    g.p.memory().write_u64(f, 0xabcd).unwrap();
    assert_eq!(
        g.run(),
        Trap::Exception {
            vector: 6,
            error_code: 0
        }
    );
    assert_eq!(g.ctx.regs.rax, 0xabcd);
    assert_eq!(g.ctx.regs.rip, CODE + 8);
    // int 0x80 from 64-bit code: the #GP KVM reports.
    let mut g = Guest::new(&[0xb8, 20, 0, 0, 0, 0xcd, 0x80]);
    assert_eq!(
        g.run(),
        Trap::Exception {
            vector: 13,
            error_code: 0x402
        }
    );
}

#[test]
fn kick_interrupts_a_spinning_guest() {
    // jmp $
    let mut g = Guest::new(&[0xeb, 0xfe]);
    let k = g.cx.kicker();
    let h = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(100));
        k.kick();
    });
    assert_eq!(g.run(), Trap::Interrupted);
    h.join().unwrap();
    g.cx.clear_kick();
    assert_eq!(g.ctx.regs.rip, CODE);
}

#[test]
fn fork_cost() {
    let mut g = Guest::new(GETPPID_LOOP);
    assert!(matches!(g.run(), Trap::Syscall { nr: 110, .. }));
    // A fresh stub process (forked from the template) and its first trap.
    let n = 20;
    let start = Instant::now();
    for _ in 0..n {
        let mut child = g.p.new_address_space().unwrap();
        g.aspace
            .fork_range(child.as_mut(), 0, 1 << 47, platform::ForkAction::Cow)
            .unwrap();
        g.aspace.commit().unwrap();
        let mut cx = g.p.new_context().unwrap();
        let mut ctx = g.ctx;
        assert!(matches!(
            cx.run(&mut ctx, child.root()).unwrap(),
            Trap::Syscall { nr: 110, .. }
        ));
        child.put_all_frames().unwrap();
    }
    println!(
        "seccomp fork (2 pages) + first trap of the child: {:?}",
        start.elapsed() / n
    );
    // 32 MiB dirtied in the parent: CoW fork, parent commit, child's first
    // run maps everything in runs.
    let pages = 8192u64;
    let base = 0x1000_0000u64;
    for i in 0..pages {
        g.map_fresh(base + i * 4096);
    }
    assert!(matches!(g.run(), Trap::Syscall { nr: 110, .. }));
    let start = Instant::now();
    let mut child = g.p.new_address_space().unwrap();
    g.aspace
        .fork_range(child.as_mut(), 0, 1 << 47, platform::ForkAction::Cow)
        .unwrap();
    let forked = start.elapsed();
    g.aspace.commit().unwrap();
    let committed = start.elapsed();
    let mut cx = g.p.new_context().unwrap();
    let mut ctx = g.ctx;
    assert!(matches!(
        cx.run(&mut ctx, child.root()).unwrap(),
        Trap::Syscall { nr: 110, .. }
    ));
    println!(
        "seccomp fork with 32 MiB mapped + first trap of the child: {:?} (fork_range {forked:?}, parent commit until {committed:?})",
        start.elapsed()
    );
    child.put_all_frames().unwrap();
}

/// Where the time of a fork goes, step by step, as the sentry does it:
/// the table copy (`fork_range`), the parent's commit, the child's first
/// run up to its first trap, its teardown (`put_all_frames`) and the drop
/// of its address space. Medians of several forks, with nothing and with
/// 256 MiB mapped in the parent (after a first fork made it read-only, as
/// in a loop of forks). Each child reads the parent's data.
#[test]
fn fork_steps() {
    // `mov rax, [r12]; mov eax, 110; syscall; jmp $-7`: reads DATA, then
    // getppid in a loop.
    const READ_THEN_LOOP: &[u8] = &[
        0x49, 0x8b, 0x04, 0x24, 0xb8, 110, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7,
    ];
    let mut g = Guest::with_limit(READ_THEN_LOOP, 300 << 20);
    let f = g.data();
    g.p.memory()
        .write(f, &0x1234_5678u64.to_le_bytes())
        .unwrap();
    g.ctx.regs.r12 = DATA;
    assert!(matches!(g.run(), Trap::Syscall { nr: 110, .. }));
    let base = 0x1000_0000u64;
    let mut mapped = 0;
    for (label, pages, share) in [
        ("nothing", 0u64, false),
        ("nothing, sharing", 0, true),
        ("256 MiB", 65536, false),
        ("256 MiB, sharing", 65536, true),
    ] {
        for i in mapped..pages {
            g.map_fresh(base + i * 4096);
        }
        mapped = mapped.max(pages);
        assert!(matches!(g.run(), Trap::Syscall { nr: 110, .. }));
        let mut steps: Vec<[f64; 5]> = Vec::new();
        for _ in 0..7 {
            let t0 = Instant::now();
            let mut child = g.p.new_address_space().unwrap();
            g.aspace
                .fork_ranges(
                    child.as_mut(),
                    &[(0, 1 << 47, platform::ForkAction::Cow)],
                    share,
                )
                .unwrap();
            let t1 = Instant::now();
            g.aspace.commit().unwrap();
            let t2 = Instant::now();
            let mut cx = g.p.new_context().unwrap();
            let mut ctx = g.ctx;
            ctx.regs.rip = CODE;
            ctx.regs.rax = 0;
            assert!(matches!(
                cx.run(&mut ctx, child.root()).unwrap(),
                Trap::Syscall { nr: 110, .. }
            ));
            assert_eq!(ctx.regs.rax, 110, "the child trapped at getppid");
            let t3 = Instant::now();
            drop(cx);
            child.put_all_frames().unwrap();
            let t4 = Instant::now();
            drop(child);
            let t5 = Instant::now();
            let us = |a: Instant, b: Instant| (b - a).as_secs_f64() * 1e6;
            steps.push([us(t0, t1), us(t1, t2), us(t2, t3), us(t3, t4), us(t4, t5)]);
        }
        let med = |i: usize| {
            let mut v: Vec<f64> = steps.iter().map(|s| s[i]).collect();
            v.sort_by(f64::total_cmp);
            v[v.len() / 2]
        };
        println!(
            "seccomp fork steps, {label} mapped (median µs): fork_range {:.0}, parent commit {:.0}, child first run {:.0}, put_all_frames {:.0}, drop {:.0}",
            med(0),
            med(1),
            med(2),
            med(3),
            med(4)
        );
    }
}

/// `mov [r12], r13; mov rbx, [r14]; mov eax, 110; syscall; jmp` back to
/// the `mov eax`: one write, one read, then getppid in a loop.
const WRITE_READ: &[u8] = &[
    0x4d, 0x89, 0x2c, 0x24, 0x49, 0x8b, 0x1e, 0xb8, 110, 0, 0, 0, 0x0f, 0x05, 0xeb, 0xf7,
];

/// Runs WRITE_READ in `aspace` from its start: writes `val` at `waddr`,
/// returns what it reads at `raddr`. Write faults on read-only pages are
/// resolved as the sentry does (unshare, then copy unless the frame is
/// this address space's alone).
fn write_read(
    p: &Arc<dyn Platform>,
    aspace: &mut dyn AddressSpace,
    cx: &mut dyn Context,
    proto: &UserContext,
    (waddr, val, raddr): (u64, u64, u64),
    writable: (u64, u64),
) -> u64 {
    let mut ctx = *proto;
    ctx.regs.rip = CODE;
    ctx.regs.r12 = waddr;
    ctx.regs.r13 = val;
    ctx.regs.r14 = raddr;
    for _ in 0..4 {
        aspace.commit().unwrap();
        match cx.run(&mut ctx, aspace.root()).unwrap() {
            Trap::Syscall { nr: 110, .. } => return ctx.regs.rbx,
            Trap::PageFault {
                addr,
                access: Access::Write,
                ..
            } => {
                let page = addr & !0xfff;
                aspace.unshare(page, writable).unwrap();
                let m = aspace.lookup(page).unwrap().expect("present");
                if m.flags.write {
                    // The last holder of a shared chunk got write access
                    // back by the unshare.
                    continue;
                }
                if p.frames().refcount(m.frame) == 1 {
                    aspace.break_cow(page, m.frame, false).unwrap();
                } else {
                    let f = p.alloc_data().unwrap();
                    p.memory().copy_frame(f, m.frame).unwrap();
                    aspace.break_cow(page, f, false).unwrap();
                    p.frames().put_data(m.frame);
                }
            }
            t => panic!("unexpected {t:?}"),
        }
    }
    panic!("no progress");
}

/// A fork that shares the software table's chunks (as the sentry's large
/// forks do): writes by parent, child and grandchild, through their real
/// host mappings, never show in another, with chunks shared, unshared and
/// mapped lazily in the child; every frame is free at the end.
#[test]
fn shared_fork_isolates_writes() {
    let mut g = Guest::with_limit(WRITE_READ, 64 << 20);
    let p = Arc::clone(&g.p);
    let base = 0x1000_0000u64;
    let pages = 3 * 512u64; // 6 MiB: three chunks, past the eager map
    let writable = (base, base + pages * 4096);
    for i in 0..pages {
        let f = p.alloc_data().unwrap();
        p.memory().write(f, &i.to_le_bytes()).unwrap();
        g.aspace
            .set(
                base + i * 4096,
                Some(Mapping {
                    frame: f,
                    flags: PageFlags::RW,
                }),
            )
            .unwrap();
    }
    let pg = |i: u64| base + i * 4096;
    let proto = g.ctx;
    let (pa, pcx) = (&mut g.aspace, &mut g.cx);
    // The parent runs: its pages are mapped writable on the host.
    assert_eq!(
        write_read(
            &p,
            pa.as_mut(),
            pcx.as_mut(),
            &proto,
            (pg(0), 100, pg(1)),
            writable
        ),
        1
    );
    let mut child = p.new_address_space().unwrap();
    pa.fork_ranges(
        child.as_mut(),
        &[(0, 1 << 47, platform::ForkAction::Cow)],
        true,
    )
    .unwrap();
    assert!(
        pa.shared_tables().unwrap() >= 3,
        "the data chunks are shared"
    );
    assert_eq!(child.shared_tables().unwrap(), pa.shared_tables().unwrap());
    let mut ccx = p.new_context().unwrap();
    // The child sees the parent's data, in every chunk (mapped lazily).
    assert_eq!(
        write_read(
            &p,
            child.as_mut(),
            ccx.as_mut(),
            &proto,
            (pg(2), 200, pg(0)),
            writable
        ),
        100
    );
    assert_eq!(
        write_read(
            &p,
            child.as_mut(),
            ccx.as_mut(),
            &proto,
            (pg(3), 300, pg(1000)),
            writable
        ),
        1000
    );
    // The parent's write-protected pages: its writes go to its own copies.
    assert_eq!(
        write_read(
            &p,
            pa.as_mut(),
            pcx.as_mut(),
            &proto,
            (pg(2), 201, pg(2)),
            writable
        ),
        201
    );
    assert_eq!(
        write_read(
            &p,
            pa.as_mut(),
            pcx.as_mut(),
            &proto,
            (pg(1001), 1, pg(3)),
            writable
        ),
        3
    );
    assert_eq!(
        write_read(
            &p,
            child.as_mut(),
            ccx.as_mut(),
            &proto,
            (pg(4), 400, pg(2)),
            writable
        ),
        200
    );
    assert_eq!(
        write_read(
            &p,
            child.as_mut(),
            ccx.as_mut(),
            &proto,
            (pg(5), 500, pg(1001)),
            writable
        ),
        1001
    );
    // A grandchild of the child shares what the child still shares.
    let mut grand = p.new_address_space().unwrap();
    child
        .fork_ranges(
            grand.as_mut(),
            &[(0, 1 << 47, platform::ForkAction::Cow)],
            true,
        )
        .unwrap();
    child.commit().unwrap();
    let mut gcx = p.new_context().unwrap();
    assert_eq!(
        write_read(
            &p,
            grand.as_mut(),
            gcx.as_mut(),
            &proto,
            (pg(1200), 7, pg(4)),
            writable
        ),
        400
    );
    assert_eq!(
        write_read(
            &p,
            grand.as_mut(),
            gcx.as_mut(),
            &proto,
            (pg(4), 401, pg(1200)),
            writable
        ),
        7
    );
    assert_eq!(
        write_read(
            &p,
            child.as_mut(),
            ccx.as_mut(),
            &proto,
            (pg(6), 600, pg(1200)),
            writable
        ),
        1200
    );
    assert_eq!(
        write_read(
            &p,
            child.as_mut(),
            ccx.as_mut(),
            &proto,
            (pg(1200), 12, pg(4)),
            writable
        ),
        400
    );
    assert_eq!(
        write_read(
            &p,
            pa.as_mut(),
            pcx.as_mut(),
            &proto,
            (pg(7), 1, pg(1200)),
            writable
        ),
        1200
    );
    assert_eq!(
        write_read(
            &p,
            pa.as_mut(),
            pcx.as_mut(),
            &proto,
            (pg(8), 1, pg(4)),
            writable
        ),
        4
    );
    assert_eq!(
        write_read(
            &p,
            grand.as_mut(),
            gcx.as_mut(),
            &proto,
            (pg(9), 1, pg(1200)),
            writable
        ),
        7
    );
    // The child goes; the grandchild still sees its own and the child's
    // data, and after an unmap in the parent, nothing changes elsewhere.
    drop(ccx);
    child.put_all_frames().unwrap();
    drop(child);
    if let Some(m) = pa.set(pg(5), None).unwrap() {
        p.frames().put_data(m.frame);
    }
    assert_eq!(
        write_read(
            &p,
            grand.as_mut(),
            gcx.as_mut(),
            &proto,
            (pg(10), 1, pg(5)),
            writable
        ),
        500
    );
    assert_eq!(
        write_read(
            &p,
            grand.as_mut(),
            gcx.as_mut(),
            &proto,
            (pg(11), 1, pg(2)),
            writable
        ),
        200
    );
    assert_eq!(
        write_read(
            &p,
            pa.as_mut(),
            pcx.as_mut(),
            &proto,
            (pg(12), 1, pg(1500)),
            writable
        ),
        1500
    );
    drop(gcx);
    grand.put_all_frames().unwrap();
    drop(grand);
    g.aspace.put_all_frames().unwrap();
    // Frames only a stub held are freed once it maps them no more: once no
    // context holds a thread of it (as when the sentry drops the address
    // space after this), by the platform's reaper thread after the stub
    // has emptied itself for reuse or died.
    drop(g);
    let start = Instant::now();
    while p.frames().data_bytes_in_use() != 0 && start.elapsed().as_secs() < 10 {
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    assert_eq!(p.frames().data_bytes_in_use(), 0, "a frame leaked");
}

/// A forged rt_sigreturn that blocks SIGSYS: the next syscall kills the
/// stub (the kernel does not deliver a blocked SIGSYS); `run` returns an
/// error instead of hanging or reporting anything.
#[test]
fn forged_sigreturn_blocking_sigsys_ends_the_stub_with_an_error() {
    let code = bytes(&raw const g_sigret_start, &raw const g_sigret_end);
    let mut g = Guest::new(&code);
    g.ctx.regs.r13 = 1 << (31 - 1);
    g.ctx.regs.r14 = 0;
    g.aspace.commit().unwrap();
    let root = g.aspace.root();
    let r = g.cx.run(&mut g.ctx, root);
    assert!(r.is_err(), "{r:?}");
}

/// A forged rt_sigreturn that blocks the kick signal, then a spin: a kick
/// cannot land, so the platform kills the stub after a grace period and
/// `run` returns an error (no hang).
#[test]
fn a_guest_blocking_kicks_is_ended() {
    let code = bytes(&raw const g_sigret_start, &raw const g_sigret_end);
    let mut g = Guest::new(&code);
    g.ctx.regs.r13 = 1 << (libc::SIGUSR2 - 1);
    g.ctx.regs.r14 = 1;
    let k = g.cx.kicker();
    let h = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_millis(200));
        k.kick();
    });
    g.aspace.commit().unwrap();
    let root = g.aspace.root();
    let start = Instant::now();
    let r = g.cx.run(&mut g.ctx, root);
    h.join().unwrap();
    assert!(r.is_err(), "{r:?}");
    assert!(start.elapsed() < std::time::Duration::from_secs(10));
}

/// A guest that jumps to the stub's mmap maps nothing: its thread's
/// marker filter refuses mmap (the control thread maps for it), so it
/// cannot map another guest process's frames either.
#[test]
fn guest_maps_nothing_through_the_stub() {
    let s = platform(seccomp::MAX_STUB_TASKS);
    let code = bytes(&raw const g_call_start, &raw const g_call_end);
    let rw = (libc::PROT_READ | libc::PROT_WRITE) as u64;
    let mut g = Guest::on(Arc::clone(&s), &code);
    // A data frame of another address space.
    let other = s.alloc_data().unwrap();
    for (off, prot) in [
        (g.data(), rw),
        (other, libc::PROT_READ as u64),
        (s.zero_run_offset(), libc::PROT_READ as u64),
        (s.code_offset(), libc::PROT_READ as u64),
    ] {
        let fd = s.pool_fd() as u64;
        let t = stub_call(&mut g, 9, [0x50_0000, 0x1000, prot, 0x11, fd, off]);
        assert!(
            matches!(t, Trap::Syscall { nr: 9, .. }) && g.ctx.regs.rip == STUB_SYSCALL_IP,
            "offset {off:#x} prot {prot}: {t:?}"
        );
    }
    // Its own pages still work: the control thread mapped them.
    let t = stub_call(&mut g, 39, [0; 6]);
    assert!(matches!(t, Trap::Syscall { nr: 39, .. }), "{t:?}");
}

/// With guest threads mapping their own pages
/// (`SENTRY_SECCOMP_GUEST_MAPS=on`), a guest that jumps to the stub's
/// mmap may map data frames, and the zero run read-only, but not the stub
/// code, the template's block (its mailbox and stack) or the zero run
/// writable: the stub filter traps those.
#[test]
fn guest_maps_neither_stub_code_nor_blocks_nor_a_writable_zero_run() {
    let s = guest_maps_platform();
    let code = bytes(&raw const g_call_start, &raw const g_call_end);
    let rw = (libc::PROT_READ | libc::PROT_WRITE) as u64;
    let mut g = Guest::on(Arc::clone(&s), &code);
    let own = g.data();
    for (off, prot, allowed) in [
        (own, rw, true),
        (s.zero_run_offset(), libc::PROT_READ as u64, true),
        (s.zero_run_offset(), rw, false),
        (s.code_offset(), rw, false),
        (s.code_offset(), libc::PROT_READ as u64, false),
        (s.template_block_offset(), rw, false),
        (s.template_block_offset() + 5 * 0x40_0000, rw, false),
        (s.zero_run_offset() - 0x1000, libc::PROT_READ as u64, false),
    ] {
        let fd = s.pool_fd() as u64;
        let t = stub_call(&mut g, 9, [0x50_0000, 0x1000, prot, 0x11, fd, off]);
        if allowed {
            assert!(
                matches!(t, Trap::Syscall { nr: MARK, args } if args[0] == 0x500000),
                "offset {off:#x} prot {prot}: {t:?}"
            );
        } else {
            assert!(
                matches!(t, Trap::Syscall { nr: 9, .. }) && g.ctx.regs.rip == STUB_SYSCALL_IP,
                "offset {off:#x} prot {prot}: {t:?}"
            );
        }
    }
}

/// Runs `g`'s `g_call` routine from its start: host call `nr` with
/// `args` through the stub's instruction; the trap it ends with.
fn stub_call(g: &mut Guest, nr: u64, args: [u64; 6]) -> Trap {
    g.ctx = UserContext::default();
    g.ctx.regs.rip = CODE;
    g.ctx.regs.rsp = STACK + 4096;
    g.ctx.regs.rflags = 0x202;
    g.ctx.regs.rax = nr;
    g.ctx.regs.rdi = args[0];
    g.ctx.regs.rsi = args[1];
    g.ctx.regs.rdx = args[2];
    g.ctx.regs.r10 = args[3];
    g.ctx.regs.r8 = args[4];
    g.ctx.regs.r9 = args[5];
    g.run()
}

/// A guest that jumps to the stub's mprotect may take write access away
/// from its pages but never add it: the stub code and the zero run are
/// shared pool memory (every stub maps them), so a writable mapping of
/// either would let one guest rewrite every stub's handler or every
/// guest's zero pages. Writable mappings come from `mmap` alone, whose
/// offsets the filter checks. (With guest threads mapping their own
/// pages, so that the guest can map the zero run to try; by default it
/// maps nothing.)
#[test]
fn guest_makes_neither_stub_code_nor_the_zero_run_writable() {
    let s = guest_maps_platform();
    let code = bytes(&raw const g_call_start, &raw const g_call_end);
    let mut g = Guest::on(Arc::clone(&s), &code);
    g.data();
    let r = libc::PROT_READ as u64;
    let rw = (libc::PROT_READ | libc::PROT_WRITE) as u64;
    let rwx = rw | libc::PROT_EXEC as u64;
    let code_addr = seccomp::stub::CODE_ADDR;
    let zero_at = 0x50_0000;
    let done = |t: &Trap| matches!(t, Trap::Syscall { nr: MARK, .. });
    let result = |t: &Trap| match t {
        Trap::Syscall { nr: MARK, args } => args[0] as i64,
        t => panic!("not reported: {t:?}"),
    };
    // The zero run, read-only at `zero_at` (allowed).
    let t = stub_call(
        &mut g,
        9,
        [
            zero_at,
            0x1000,
            r,
            0x11,
            s.pool_fd() as u64,
            s.zero_run_offset(),
        ],
    );
    assert_eq!(result(&t), zero_at as i64, "{t:?}");
    // Taking write access away from its own data page is allowed.
    let t = stub_call(&mut g, 10, [DATA, 0x1000, r, 0, 0, 0]);
    assert_eq!(result(&t), 0, "{t:?}");
    // Sealed (mseal): no guest maps over, unmaps or re-protects the stub
    // code or its block, whose first page holds the control thread's
    // commands.
    if s.sealed() {
        let block = seccomp::stub::BLOCK_ADDR;
        let eperm = -(libc::EPERM as i64);
        let data = s.zero_run_offset() + 2 * 0x20_0000;
        let fd = s.pool_fd() as u64;
        for (what, nr, args) in [
            (
                "mmap over the code",
                9,
                [code_addr, 0x1000, r, 0x11, fd, data],
            ),
            ("mmap over the block", 9, [block, 0x1000, r, 0x11, fd, data]),
            ("munmap of the code", 11, [code_addr, 0x1000, 0, 0, 0, 0]),
            ("munmap of the block", 11, [block, 0x1000, 0, 0, 0, 0]),
            ("mprotect of the block", 10, [block, 0x1000, r, 0, 0, 0]),
        ] {
            let t = stub_call(&mut g, nr, args);
            assert_eq!(result(&t), eperm, "{what}: {t:?}");
        }
    }
    for (addr, prot) in [
        (code_addr, rw),
        (code_addr, rwx),
        (zero_at, rw),
        (DATA, rw),
        (seccomp::stub::BLOCK_ADDR, rw),
    ] {
        let t = stub_call(&mut g, 10, [addr, 0x1000, prot, 0, 0, 0]);
        assert!(
            !done(&t)
                && matches!(t, Trap::Syscall { nr: 10, .. })
                && g.ctx.regs.rip == STUB_SYSCALL_IP,
            "mprotect({addr:#x}, {prot}) ran: {t:?}"
        );
    }
}

/// The template's own filter: a command forged in its mailbox (as by a
/// guest that got hold of it) runs no host call beyond it. getpid traps,
/// so the result slot keeps the forger's marker.
#[test]
fn forged_template_command_runs_no_host_syscall() {
    let s = platform(seccomp::MAX_STUB_TASKS);
    let mut g = Guest::on(Arc::clone(&s), GETPPID_LOOP);
    assert!(matches!(g.run(), Trap::Syscall { nr: 110, .. }));
    let mb = s.template_mailbox().expect("the template runs");
    // SAFETY: the template's mailbox page in the pool mapping, which `s`
    // keeps alive; the words the template reads are written atomically
    // enough for this (it sleeps until the wake below).
    unsafe {
        let w = |off: u64| (mb + off) as *mut u32;
        let q = |off: u64| (mb + off) as *mut u64;
        // Let the spare fork finish first.
        std::thread::sleep(std::time::Duration::from_millis(200));
        q(0x100).write_volatile(39);
        q(0x138).write_volatile(0x5555);
        w(12).write_volatile(1);
        w(8).write_volatile(1);
        w(88).write_volatile(0);
        let to_stub = &*(w(0) as *const std::sync::atomic::AtomicU32);
        to_stub.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        libc::syscall(libc::SYS_futex, w(0), libc::FUTEX_WAKE, 1, 0, 0, 0);
        std::thread::sleep(std::time::Duration::from_millis(500));
        assert_eq!(
            q(0x138).read_volatile(),
            0x5555,
            "the template ran the forged getpid"
        );
    }
    let tpl = s.template_pid().expect("the template runs");
    let status = std::fs::read_to_string(format!("/proc/{tpl}/status")).unwrap();
    assert!(status.lines().any(|l| l == "Seccomp:\t2"), "{status}");
    // The sentry side stays sound: the next stubs still start (the
    // template's spurious report is not taken for a child's pid).
    drop(g);
    for _ in 0..2 {
        let mut g = Guest::on(Arc::clone(&s), GETPPID_LOOP);
        let root = g.aspace.root();
        g.aspace.commit().unwrap();
        let _ = g.cx.run(&mut g.ctx, root);
    }
}

/// A guest that jumps to the stub's clone starts no host thread: the
/// marker filter every guest thread installs first traps it (reported as
/// the guest's own clone), so its stub keeps its control thread and its
/// one guest thread. The task budget (RLIMIT_NPROC) stays as a second
/// line. Another guest keeps running, and new stubs start after the
/// would-be hog's is gone.
#[test]
fn a_guest_cloning_stub_threads_starts_none() {
    let limit = 40;
    let s = platform(limit);
    let mut other = Guest::on(Arc::clone(&s), GETPPID_LOOP);
    assert!(matches!(other.run(), Trap::Syscall { nr: 110, .. }));
    let code = bytes(&raw const g_clone_start, &raw const g_clone_end);
    let mut hog = Guest::on(Arc::clone(&s), &code);
    hog.data();
    hog.ctx.regs.r14 = seccomp::stub::THREAD_CLONE_FLAGS;
    let t = hog.run();
    assert!(
        matches!(t, Trap::Syscall { nr: 56, .. }) && hog.ctx.regs.rip == STUB_SYSCALL_IP,
        "the stub's clone ran: {t:?}"
    );
    let pid = hog.stub_pid();
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let threads: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(threads, 2, "control thread and one guest thread");
    // The other guest is not disturbed.
    for _ in 0..20 {
        other.ctx.regs.rax = 1;
        assert!(matches!(other.run(), Trap::Syscall { nr: 110, .. }));
    }
    drop(hog);
    let mut again = Guest::on(Arc::clone(&s), GETPPID_LOOP);
    assert!(matches!(again.run(), Trap::Syscall { nr: 110, .. }));
    let mut third = Guest::on(s, GETPPID_LOOP);
    assert!(matches!(third.run(), Trap::Syscall { nr: 110, .. }));
}

/// Whether the kernel has mseal (6.10 on).
fn kernel_has_mseal() -> bool {
    let release = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
    let mut v = release
        .split(['.', '-'])
        .map(|x| x.parse::<u32>().unwrap_or(0));
    let (major, minor) = (v.next().unwrap_or(0), v.next().unwrap_or(0));
    (major, minor) >= (6, 10)
}

/// Waits up to 5 s for `cond`.
fn eventually(mut cond: impl FnMut() -> bool) -> bool {
    let start = Instant::now();
    while start.elapsed().as_secs() < 5 {
        if cond() {
            return true;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    cond()
}

/// `mov rax, [DATA2]; mov rdi, [DATA]; mov eax, 110; syscall;
/// mov [DATA3], rdi; ud2`: reads DATA2, reports DATA's first word in
/// getppid's first argument, then writes it to DATA3.
const PROBE_DATA: &[u8] = &[
    0x48, 0xa1, 0x00, 0x00, 0x61, 0x00, 0x00, 0x00, 0x00, 0x00, // movabs rax, [0x610000]
    0x48, 0x8b, 0x3c, 0x25, 0x00, 0x00, 0x60, 0x00, // mov rdi, [0x600000]
    0xb8, 110, 0, 0, 0, 0x0f, 0x05, // getppid
    0x48, 0x89, 0x3c, 0x25, 0x00, 0x00, 0x62, 0x00, // mov [0x620000], rdi
    0x0f, 0x0b,
];
const DATA2: u64 = 0x61_0000;
const DATA3: u64 = 0x62_0000;

/// An ended address space's stub process serves the next one: the next
/// guest runs in the same host process and keeps, of the previous guest's
/// host mappings, only those its own table maps alike (same address,
/// frame and protection). A page it does not map is gone from the host,
/// not only from the table; a page it maps on another frame shows that
/// frame; a page the previous guest could write and it may only read
/// faults on a write. Without mseal stubs are never recycled.
#[test]
fn an_ended_stub_process_is_recycled_with_only_what_the_next_maps_alike() {
    let s = platform(seccomp::MAX_STUB_TASKS);
    let p: Arc<dyn Platform> = Arc::clone(&s) as Arc<dyn Platform>;
    let ro = PageFlags {
        write: false,
        exec: false,
    };
    let map = |a: &mut Box<dyn AddressSpace>, va: u64, frame: u64, flags: PageFlags| {
        a.set(va, Some(Mapping { frame, flags })).unwrap();
    };
    let mut g = Guest::on(Arc::clone(&s), PROBE_DATA);
    let data = p.alloc_data().unwrap();
    p.memory().write_u64(data, 0x1111).unwrap();
    map(&mut g.aspace, DATA, data, ro);
    let data2 = p.alloc_data().unwrap();
    map(&mut g.aspace, DATA2, data2, ro);
    let data3 = g.map_fresh(DATA3);
    // The guest reads DATA2 and DATA, writes DATA3: all mapped on the host.
    match g.run() {
        Trap::Syscall { nr: 110, args } => assert_eq!(args[0], 0x1111),
        t => panic!("{t:?}"),
    }
    let t = g.run();
    assert!(matches!(t, Trap::Exception { vector: 6, .. }), "{t:?}");
    assert_eq!(p.memory().read_u64(data3).unwrap(), 0x1111);
    let pid = g.stub_pid();
    assert_eq!(s.sealed(), kernel_has_mseal());
    let code = g.aspace.lookup(CODE).unwrap().expect("code mapped").frame;
    // Held past the first guest's end: the next maps them again.
    p.frames().get(code);
    p.frames().get(data3);
    g.aspace.put_all_frames().unwrap();
    drop(g);
    if !s.sealed() {
        assert!(!eventually(|| s.recycled_count() > 0), "recycled unsealed");
        return;
    }
    assert!(eventually(|| s.recycled_count() == 1), "not recycled");
    let kept_before = s.kept_pages();
    // The next guest: the same code frame at CODE, another frame at DATA,
    // nothing at DATA2, DATA3's frame read-only.
    let mut aspace = p.new_address_space().unwrap();
    map(&mut aspace, CODE, code, PageFlags::RX);
    let other = p.alloc_data().unwrap();
    p.memory().write_u64(other, 0x3333).unwrap();
    map(&mut aspace, DATA, other, ro);
    map(&mut aspace, DATA3, data3, ro);
    let stack = p.alloc_data().unwrap();
    map(&mut aspace, STACK, stack, PageFlags::RW);
    let cx = p.new_context().unwrap();
    let mut ctx = UserContext::default();
    ctx.regs.rip = CODE;
    ctx.regs.rsp = STACK + 4096;
    ctx.regs.rflags = 0x202;
    let mut g = Guest { p, aspace, cx, ctx };
    match g.run() {
        Trap::PageFault { addr, .. } => assert_eq!(addr, DATA2, "DATA2 still mapped"),
        t => panic!("the previous guest's DATA2 was readable: {t:?}"),
    }
    assert_eq!(g.stub_pid(), pid, "not the recycled process");
    assert_eq!(s.recycled_count(), 0);
    g.map_fresh(DATA2);
    match g.run() {
        Trap::Syscall { nr: 110, args } => {
            assert_eq!(args[0], 0x3333, "the previous guest's DATA frame showed")
        }
        t => panic!("{t:?}"),
    }
    match g.run() {
        Trap::PageFault {
            addr,
            access: Access::Write,
            ..
        } => assert_eq!(addr, DATA3, "DATA3 still writable"),
        t => panic!("the previous guest's write access to DATA3 stayed: {t:?}"),
    }
    // The code page was kept (mapped alike), not mapped again.
    assert!(s.kept_pages() > kept_before, "nothing kept");
    g.aspace.put_all_frames().unwrap();
}

/// `mov rdi, [DATA]; inc qword ptr [DATA]; mov eax, 110; syscall; ud2`.
const READ_AND_BUMP_DATA: &[u8] = &[
    0x48, 0x8b, 0x3c, 0x25, 0x00, 0x00, 0x60, 0x00, // mov rdi, [0x600000]
    0x48, 0xff, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00, // inc qword ptr [0x600000]
    0xb8, 110, 0, 0, 0, 0x0f, 0x05, 0x0f, 0x0b,
];

/// Forked children whose stub processes are recycled copy their pages
/// onto the frames the previous child of the same process had at the
/// same addresses, still mapped there (warm frames): each child still
/// reads its parent's data, not its predecessor's, and writes only its
/// own copy.
#[test]
fn forked_children_copy_onto_warm_frames_and_see_only_their_own() {
    let s = platform(seccomp::MAX_STUB_TASKS);
    let mut g = Guest::on(Arc::clone(&s), READ_AND_BUMP_DATA);
    let data = g.data();
    g.p.memory().write_u64(data, 0x10).unwrap();
    let ranges = [
        (CODE, CODE + 4096, platform::ForkAction::Share),
        (DATA, DATA + 4096, platform::ForkAction::Copy),
        (STACK, STACK + 4096, platform::ForkAction::Copy),
    ];
    for i in 0..8 {
        let mut child = g.p.new_address_space().unwrap();
        g.aspace
            .fork_ranges(child.as_mut(), &ranges, false)
            .unwrap();
        g.aspace.commit().unwrap();
        let mut cx = g.p.new_context().unwrap();
        let mut ctx = g.ctx;
        match cx.run(&mut ctx, child.root()).unwrap() {
            Trap::Syscall { nr: 110, args } => {
                assert_eq!(args[0], 0x10, "child {i} read another's data")
            }
            t => panic!("child {i}: {t:?}"),
        }
        let mine = child.lookup(DATA).unwrap().expect("copied").frame;
        assert_ne!(mine, data);
        assert_eq!(g.p.memory().read_u64(mine).unwrap(), 0x11, "child {i}");
        assert_eq!(g.p.memory().read_u64(data).unwrap(), 0x10, "child {i}");
        drop(cx);
        child.put_all_frames().unwrap();
        drop(child);
        if s.sealed() {
            assert!(eventually(|| s.recycled_count() > 0), "not recycled");
        }
    }
    if s.sealed() {
        assert!(s.warm_hits() > 0, "no copy got a warm frame");
    }
}

/// A thread a guest kept alive in its stub process after the sentry let it
/// go (and whose tid word it cleared) is found by the control thread's
/// check: the process ends instead of serving another address space.
#[test]
fn a_thread_left_behind_ends_its_stub_process_instead_of_recycling() {
    let s = platform(seccomp::MAX_STUB_TASKS);
    let mut g = Guest::on(Arc::clone(&s), GETPPID_LOOP);
    assert!(matches!(g.run(), Trap::Syscall { nr: 110, .. }));
    let pid = g.stub_pid();
    s.leave_threads_for_tests(true);
    g.aspace.put_all_frames().unwrap();
    drop(g);
    let gone = || !std::path::Path::new(&format!("/proc/{pid}")).exists();
    assert!(eventually(gone), "the stub process lives on");
    assert_eq!(s.recycled_count(), 0);
    s.leave_threads_for_tests(false);
    let mut g = Guest::on(s, GETPPID_LOOP);
    assert!(matches!(g.run(), Trap::Syscall { nr: 110, .. }));
    assert_ne!(g.stub_pid(), pid);
}

fn ns(pid: &str, kind: &str) -> String {
    std::fs::read_link(format!("/proc/{pid}/ns/{kind}"))
        .unwrap()
        .to_string_lossy()
        .into_owned()
}

/// The stub lives in fresh user, mount, network, IPC and UTS namespaces
/// (this test runs as root, where the host allows them), with an
/// unprivileged uid and tight rlimits.
#[test]
fn stub_namespaces_uid_and_rlimits() {
    let s = platform(100);
    let mut g = Guest::on(Arc::clone(&s), GETPPID_LOOP);
    assert!(matches!(g.run(), Trap::Syscall { nr: 110, .. }));
    let pid = g.stub_pid().to_string();
    for kind in ["user", "pid", "mnt", "net", "ipc", "uts"] {
        assert_ne!(ns(&pid, kind), ns("self", kind), "{kind} namespace");
    }
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let uids = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    // SAFETY: getuid has no arguments.
    if unsafe { libc::getuid() } == 0 {
        // Real and effective uid leave root (saved: the sentry may signal).
        let ids: Vec<&str> = uids.split_whitespace().skip(1).collect();
        let nobody = seccomp::STUB_UID.to_string();
        assert_eq!(ids[..2], [nobody.as_str(), nobody.as_str()], "{uids}");
    }
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let soft = |name: &str| {
        let l = limits.lines().find(|l| l.starts_with(name)).unwrap();
        l[name.len()..]
            .split_whitespace()
            .next()
            .unwrap()
            .to_string()
    };
    for name in [
        "Max core file size",
        "Max file size",
        "Max open files",
        "Max locked memory",
        "Max msgqueue size",
        "Max data size",
    ] {
        assert_eq!(soft(name), "0", "{name}");
    }
    assert_eq!(soft("Max processes"), "100");
    // The template: the same, and its own filter.
    let tpl = s.template_pid().expect("the template runs");
    let tfds = fds(tpl);
    assert!(
        tfds.len() == 1 && tfds[0].contains("sentry-guest-memory"),
        "template fds: {tfds:?}"
    );
    let status = std::fs::read_to_string(format!("/proc/{tpl}/status")).unwrap();
    for want in [
        "NoNewPrivs:\t1",
        "Seccomp:\t2",
        "CapEff:\t0000000000000000",
        "CapPrm:\t0000000000000000",
    ] {
        assert!(status.lines().any(|l| l == want), "template: {want}");
    }
    for kind in ["user", "mnt", "net", "ipc", "uts"] {
        assert_eq!(ns(&tpl.to_string(), kind), ns(&pid, kind), "{kind}");
    }
    // The template stays in our pid namespace; its children go into the
    // stubs' one.
    assert_eq!(ns(&tpl.to_string(), "pid"), ns("self", "pid"));
    assert_eq!(ns(&tpl.to_string(), "pid_for_children"), ns(&pid, "pid"));
    // A stub is an ordinary member of it (not its init), and its init is
    // the template's only child: no descriptor, the template's filter.
    let nspid = |p: &str| {
        let st = std::fs::read_to_string(format!("/proc/{p}/status")).unwrap();
        st.lines()
            .find_map(|l| l.strip_prefix("NSpid:"))
            .unwrap()
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    let ids = nspid(&pid);
    assert_eq!(ids.len(), 2, "{ids:?}");
    assert_ne!(ids[1], "1", "the stub is the namespace's init");
    let init = init_of(tpl);
    assert_eq!(nspid(&init.to_string())[1], "1");
    assert_eq!(ns(&init.to_string(), "pid"), ns(&pid, "pid"));
    assert!(fds(init).is_empty(), "init fds: {:?}", fds(init));
    let status = std::fs::read_to_string(format!("/proc/{init}/status")).unwrap();
    assert!(status.lines().any(|l| l == "Seccomp:\t2"), "{status}");
    assert!(status.lines().any(|l| l == "NoNewPrivs:\t1"), "{status}");
}

/// The template's one child: the stubs' pid-namespace init.
fn init_of(tpl: i32) -> i32 {
    let children = std::fs::read_to_string(format!("/proc/{tpl}/task/{tpl}/children")).unwrap();
    let kids: Vec<i32> = children
        .split_whitespace()
        .map(|c| c.parse().unwrap())
        .collect();
    assert_eq!(kids.len(), 1, "template children: {kids:?}");
    kids[0]
}

fn state(pid: i32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("State:"))
        .unwrap()
        .trim()
        .to_string()
}

/// Many address spaces come and go in the stubs' pid namespace: each stub
/// runs and is kicked (the kick goes through the namespace's init), and
/// the init outlives them all.
#[test]
fn stubs_come_and_go_in_their_pid_namespace() {
    let s = platform(seccomp::MAX_STUB_TASKS);
    let mut first = Guest::on(Arc::clone(&s), GETPPID_LOOP);
    assert!(matches!(first.run(), Trap::Syscall { nr: 110, .. }));
    let tpl = s.template_pid().expect("the template runs");
    let init = init_of(tpl);
    let pidns = ns(&first.stub_pid().to_string(), "pid");
    let mut latencies = Vec::new();
    for _ in 0..8 {
        // jmp $, kicked.
        let mut g = Guest::on(Arc::clone(&s), &[0xeb, 0xfe]);
        let k = g.cx.kicker();
        let h = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(20));
            k.kick();
            Instant::now()
        });
        assert_eq!(g.run(), Trap::Interrupted);
        let landed = Instant::now();
        latencies.push(landed.saturating_duration_since(h.join().unwrap()));
        assert_eq!(ns(&g.stub_pid().to_string(), "pid"), pidns);
        drop(g);
        assert!(!state(init).starts_with('Z'), "init: {}", state(init));
    }
    latencies.sort();
    println!(
        "seccomp kick through the pid-namespace init, kick to trap: median {:?} (of {})",
        latencies[latencies.len() / 2],
        latencies.len()
    );
    first.ctx.regs.rax = 1;
    assert!(matches!(first.run(), Trap::Syscall { nr: 110, .. }));
    assert_eq!(init_of(tpl), init);
}

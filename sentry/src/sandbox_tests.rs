//! The whole sandbox on the fake platform (no `/dev/kvm`): a kernel with
//! the real syscall table runs tasks whose "guest" is a scripted program
//! (a closure that moves the registers on and says how the guest trapped).
//! So process creation, exit, wait, reparenting, signals and the handling
//! of faults and exceptions are unit tested as state transitions, without
//! a VM.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use platform::fake::{Fake, Program};
use platform::{Access, Error, Platform, PlatformConfig, Trap, UserContext};

use crate::fs::FdTable;
use crate::kernel::signal::{SigSet, sig};
use crate::kernel::task::{FsContext, Job};
use crate::kernel::{ExitReport, Kernel, KernelConfig, Task, ThreadGroup};
use crate::mm::{AddressSpace, MapRequest, Placement, Prot};

/// Where the init process has a page of data.
const DATA: u64 = 0x10_0000;

const SYS_WRITE: u64 = 1;
const SYS_RT_SIGACTION: u64 = 13;
const SYS_SCHED_YIELD: u64 = 24;
const SYS_GETPID: u64 = 39;
const SYS_FORK: u64 = 57;
const SYS_EXIT: u64 = 60;
const SYS_WAIT4: u64 = 61;
const SYS_KILL: u64 = 62;
const SYS_GETPPID: u64 = 110;
const SYS_EXIT_GROUP: u64 = 231;

/// Traps with syscall `nr`, the guest resuming at `next`.
fn sys(ctx: &mut UserContext, next: u64, nr: u64, args: [u64; 6]) -> platform::Result<Trap> {
    ctx.regs.rip = next;
    ctx.regs.rax = nr;
    Ok(Trap::Syscall { nr, args })
}

/// The syscall's return value as the guest sees it in rax.
fn ret(ctx: &UserContext) -> i64 {
    ctx.regs.rax as i64
}

fn exit_group(ctx: &mut UserContext, code: u64) -> platform::Result<Trap> {
    sys(ctx, u64::MAX, SYS_EXIT_GROUP, [code, 0, 0, 0, 0, 0])
}

struct Sandbox {
    kernel: Arc<Kernel>,
    mm: Arc<AddressSpace>,
    fake: Arc<Fake>,
}

/// A kernel on a fake platform with an init process (pid 1) whose address
/// space has one writable page at [`DATA`]; nothing runs yet.
fn sandbox() -> Sandbox {
    let fake = Arc::new(
        Fake::new(PlatformConfig {
            memory_limit: 16 << 20,
        })
        .expect("fake platform"),
    );
    let platform: Arc<dyn Platform> = Arc::clone(&fake) as Arc<dyn Platform>;
    let kernel = Kernel::new(
        Arc::clone(&platform),
        KernelConfig {
            strace: false,
            stats: false,
            root: None,
            sandbox_limits: Default::default(),
            aslr: true,
        },
        crate::fs::setup::build(
            None,
            &[],
            Arc::new(crate::fs::tmpfs::PlatformCharge(Arc::clone(&platform))),
        )
        .expect("the in-memory root"),
        &crate::syscalls::KERNEL_TABLE,
    );
    let mm = AddressSpace::new(platform).expect("address space");
    mm.map_anon(&MapRequest {
        placement: Placement::Fixed(DATA),
        len: 0x1000,
        prot: Prot::RW,
        shared: false,
        grows_down: false,
        noreserve: false,
    })
    .expect("data page");
    Sandbox { kernel, mm, fake }
}

impl Sandbox {
    /// Runs `program` as pid 1 until the sandbox ends (10 s at most).
    fn run(&self, program: Program) -> ExitReport {
        self.fake.program(program);
        let kernel = &self.kernel;
        let pid = kernel.table.lock().alloc_pid(None).expect("a pid");
        let handlers = Arc::new(parking_lot::Mutex::new(
            crate::abi::signal::SigActions::default(),
        ));
        let tg = ThreadGroup::new(pid, handlers);
        let init = Task::new(
            pid,
            tg,
            Arc::clone(kernel),
            Arc::clone(&self.mm),
            FdTable::new(),
            Arc::new(parking_lot::Mutex::new(FsContext::default())),
            SigSet::default(),
        );
        kernel
            .table
            .lock()
            .insert_process(&init, 0, pid, pid, sig::SIGCHLD);
        kernel
            .start(Job {
                task: init,
                ctx: UserContext::default(),
                fpu: None,
            })
            .expect("start");
        let (tx, rx) = std::sync::mpsc::channel();
        let k = Arc::clone(kernel);
        std::thread::spawn(move || {
            let _ = tx.send(k.wait_finished());
        });
        rx.recv_timeout(Duration::from_secs(10))
            .expect("the sandbox ends")
    }
}

fn program(
    f: impl Fn(&mut UserContext) -> platform::Result<Trap> + Send + Sync + 'static,
) -> Program {
    Arc::new(f)
}

#[test]
fn exit_group_ends_the_sandbox_with_its_code() {
    let s = sandbox();
    let r = s.run(program(|ctx| exit_group(ctx, 3)));
    assert_eq!(r, ExitReport::Exited(3));
}

#[test]
fn init_is_pid_1_with_no_parent() {
    let s = sandbox();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let r = s.run(program(move |ctx| match ctx.regs.rip {
        0 => sys(ctx, 1, SYS_GETPID, [0; 6]),
        1 => {
            log.lock().push(ret(ctx));
            sys(ctx, 2, SYS_GETPPID, [0; 6])
        }
        _ => {
            log.lock().push(ret(ctx));
            exit_group(ctx, 0)
        }
    }));
    assert_eq!(r, ExitReport::Exited(0));
    assert_eq!(*seen.lock(), vec![1, 0]);
}

#[test]
fn an_unknown_syscall_is_enosys() {
    let s = sandbox();
    let r = s.run(program(|ctx| match ctx.regs.rip {
        0 => sys(ctx, 1, 100_000, [0; 6]),
        _ => {
            let e = -ret(ctx) as u64;
            exit_group(ctx, e)
        }
    }));
    assert_eq!(r, ExitReport::Exited(38));
}

#[test]
fn writing_to_a_descriptor_never_opened_is_ebadf() {
    let s = sandbox();
    let r = s.run(program(|ctx| match ctx.regs.rip {
        0 => sys(ctx, 1, SYS_WRITE, [1, DATA, 1, 0, 0, 0]),
        _ => {
            let e = -ret(ctx) as u64;
            exit_group(ctx, e)
        }
    }));
    assert_eq!(r, ExitReport::Exited(9));
}

#[test]
fn wait_without_children_is_echild() {
    let s = sandbox();
    let r = s.run(program(|ctx| match ctx.regs.rip {
        0 => sys(ctx, 1, SYS_WAIT4, [u64::MAX, 0, 0, 0, 0, 0]),
        _ => {
            let e = -ret(ctx) as u64;
            exit_group(ctx, e)
        }
    }));
    assert_eq!(r, ExitReport::Exited(10));
}

/// fork; the child exits with 7; the parent waits and exits with the
/// child's pid and the status it read.
#[test]
fn a_forked_child_is_waited_for_and_its_status_reported() {
    let s = sandbox();
    let mm = Arc::clone(&s.mm);
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let r = s.run(program(move |ctx| match ctx.regs.rip {
        0 => sys(ctx, 1, SYS_FORK, [0; 6]),
        1 if ret(ctx) == 0 => sys(ctx, 99, SYS_EXIT, [7, 0, 0, 0, 0, 0]),
        1 => {
            log.lock().push(ret(ctx));
            sys(ctx, 2, SYS_WAIT4, [u64::MAX, DATA, 0, 0, 0, 0])
        }
        2 => {
            log.lock().push(ret(ctx));
            let status = mm.read_u32(DATA).expect("status");
            exit_group(ctx, u64::from(status >> 8))
        }
        _ => Err(Error::Unsupported("off the script")),
    }));
    assert_eq!(r, ExitReport::Exited(7));
    let v = seen.lock().clone();
    assert_eq!(v.len(), 2);
    assert!(v[0] > 1, "the child's pid");
    assert_eq!(v[1], v[0], "wait4 returns the child's pid");
    assert_eq!(s.mm.read_u32(DATA).unwrap(), 7 << 8);
}

#[test]
fn a_reaped_child_cannot_be_waited_for_twice() {
    let s = sandbox();
    let seen = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&seen);
    let r = s.run(program(move |ctx| match ctx.regs.rip {
        0 => sys(ctx, 1, SYS_FORK, [0; 6]),
        1 if ret(ctx) == 0 => sys(ctx, 99, SYS_EXIT, [0; 6]),
        1 => sys(ctx, 2, SYS_WAIT4, [u64::MAX, 0, 0, 0, 0, 0]),
        2 => sys(ctx, 3, SYS_WAIT4, [u64::MAX, 0, 0, 0, 0, 0]),
        _ => {
            log.lock().push(ret(ctx));
            exit_group(ctx, 0)
        }
    }));
    assert_eq!(r, ExitReport::Exited(0));
    assert_eq!(*seen.lock(), vec![-10], "ECHILD");
}

/// A grandchild whose parent exits is reparented to init: its getppid
/// turns to 1, and init reaps it.
#[test]
fn orphans_are_reparented_to_init_and_reaped_by_it() {
    let s = sandbox();
    let codes = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&codes);
    let mm = Arc::clone(&s.mm);
    let r = s.run(program(move |ctx| match ctx.regs.rip {
        // init: fork the middle process, then reap two processes.
        0 => sys(ctx, 1, SYS_FORK, [0; 6]),
        1 if ret(ctx) == 0 => sys(ctx, 10, SYS_FORK, [0; 6]),
        1 => sys(ctx, 2, SYS_WAIT4, [u64::MAX, DATA, 0, 0, 0, 0]),
        2 => {
            log.lock().push(mm.read_u32(DATA).unwrap() >> 8);
            sys(ctx, 3, SYS_WAIT4, [u64::MAX, DATA, 0, 0, 0, 0])
        }
        3 => {
            log.lock().push(mm.read_u32(DATA).unwrap() >> 8);
            exit_group(ctx, 0)
        }
        // middle: exits at once with 5.
        10 if ret(ctx) != 0 => sys(ctx, 99, SYS_EXIT, [5, 0, 0, 0, 0, 0]),
        // grandchild: asks for its parent until it is init's.
        10 | 11 => sys(ctx, 12, SYS_GETPPID, [0; 6]),
        12 if ret(ctx) == 1 => sys(ctx, 99, SYS_EXIT, [41, 0, 0, 0, 0, 0]),
        12 => sys(ctx, 11, SYS_SCHED_YIELD, [0; 6]),
        _ => Err(Error::Unsupported("off the script")),
    }));
    assert_eq!(r, ExitReport::Exited(0));
    let mut v = codes.lock().clone();
    v.sort_unstable();
    assert_eq!(v, vec![5, 41]);
}

#[test]
fn sigkill_ends_a_busy_child_and_wait_reports_the_signal() {
    let s = sandbox();
    let mm = Arc::clone(&s.mm);
    let r = s.run(program(move |ctx| match ctx.regs.rip {
        0 => sys(ctx, 1, SYS_FORK, [0; 6]),
        // The child spins on sched_yield forever.
        1 | 20 if ret(ctx) == 0 || ctx.regs.rip == 20 => sys(ctx, 20, SYS_SCHED_YIELD, [0; 6]),
        1 => {
            let pid = ctx.regs.rax;
            sys(ctx, 2, SYS_KILL, [pid, 9, 0, 0, 0, 0])
        }
        2 => sys(ctx, 3, SYS_WAIT4, [u64::MAX, DATA, 0, 0, 0, 0]),
        _ => {
            let status = mm.read_u32(DATA).unwrap();
            exit_group(ctx, u64::from(status & 0x7f))
        }
    }));
    assert_eq!(r, ExitReport::Exited(9));
}

/// Runs `child` (a program starting at pc 100) in a forked child of init
/// and returns the wait status init got for it.
fn in_child(
    s: &Sandbox,
    child: impl Fn(&mut UserContext) -> platform::Result<Trap> + Send + Sync + 'static,
) -> u32 {
    let r = s.run(program(move |ctx| match ctx.regs.rip {
        0 => sys(ctx, 1, SYS_FORK, [0; 6]),
        1 if ret(ctx) == 0 => {
            ctx.regs.rip = 100;
            child(ctx)
        }
        1 => sys(ctx, 2, SYS_WAIT4, [u64::MAX, DATA, 0, 0, 0, 0]),
        2 => exit_group(ctx, 0),
        _ => child(ctx),
    }));
    assert_eq!(r, ExitReport::Exited(0));
    s.mm.read_u32(DATA).unwrap()
}

#[test]
fn a_default_fatal_signal_to_oneself_kills_the_process() {
    let s = sandbox();
    let status = in_child(&s, |ctx| match ctx.regs.rip {
        100 => sys(ctx, 101, SYS_GETPID, [0; 6]),
        101 => {
            let me = ctx.regs.rax;
            sys(
                ctx,
                102,
                SYS_KILL,
                [me, u64::from(sig::SIGUSR1 as u32), 0, 0, 0, 0],
            )
        }
        _ => sys(ctx, 199, SYS_EXIT, [0; 6]),
    });
    assert_eq!(status & 0x7f, sig::SIGUSR1 as u32);
}

/// init, unlike other processes, is not killed by a signal it has no
/// handler for (Linux's SIGNAL_UNKILLABLE for a namespace's init).
#[test]
fn init_survives_a_default_fatal_signal_it_sends_itself() {
    let s = sandbox();
    let r = s.run(program(|ctx| match ctx.regs.rip {
        0 => sys(
            ctx,
            1,
            SYS_KILL,
            [1, u64::from(sig::SIGUSR1 as u32), 0, 0, 0, 0],
        ),
        _ => exit_group(ctx, 3),
    }));
    assert_eq!(r, ExitReport::Exited(3));
}

#[test]
fn an_ignored_signal_is_discarded() {
    let s = sandbox();
    // struct sigaction: handler SIG_IGN, flags, restorer, mask.
    s.mm.write_u64(DATA + 64, 1).unwrap();
    let status = in_child(&s, |ctx| match ctx.regs.rip {
        100 => sys(
            ctx,
            101,
            SYS_RT_SIGACTION,
            [u64::from(sig::SIGUSR1 as u32), DATA + 64, 0, 8, 0, 0],
        ),
        101 => sys(ctx, 102, SYS_GETPID, [0; 6]),
        102 => {
            let me = ctx.regs.rax;
            sys(
                ctx,
                103,
                SYS_KILL,
                [me, u64::from(sig::SIGUSR1 as u32), 0, 0, 0, 0],
            )
        }
        _ => sys(ctx, 199, SYS_EXIT, [4, 0, 0, 0, 0, 0]),
    });
    assert_eq!(status, 4 << 8, "exited normally with 4");
}

#[test]
fn a_child_killed_by_a_fault_reports_sigsegv_to_its_parent() {
    let s = sandbox();
    let status = in_child(&s, |_| Ok(Trap::page_fault(0x30_0000, 6)));
    assert_eq!(status & 0x7f, sig::SIGSEGV as u32);
}

#[test]
fn a_fault_on_unmapped_memory_is_sigsegv() {
    let s = sandbox();
    let r = s.run(program(|_| Ok(Trap::page_fault(0x20_0000, 4))));
    assert_eq!(r, ExitReport::Signaled(sig::SIGSEGV));
}

#[test]
fn a_write_fault_on_read_only_memory_is_sigsegv() {
    let s = sandbox();
    s.mm.protect(
        DATA,
        DATA + 0x1000,
        Prot {
            read: true,
            write: false,
            exec: false,
        },
    )
    .unwrap();
    let r = s.run(program(|_| Ok(Trap::page_fault(DATA, 6))));
    assert_eq!(r, ExitReport::Signaled(sig::SIGSEGV));
}

#[test]
fn a_demand_fault_is_resolved_and_the_guest_goes_on() {
    let s = sandbox();
    let tries = Arc::new(AtomicUsize::new(0));
    let t = Arc::clone(&tries);
    let mm = Arc::clone(&s.mm);
    let r = s.run(program(move |ctx| {
        if t.fetch_add(1, Ordering::SeqCst) == 0 {
            // The guest's first store to DATA faults (not present, write).
            return Ok(Trap::PageFault {
                addr: DATA + 8,
                access: Access::Write,
                error_code: 6,
            });
        }
        // Retried: the page is there, writable.
        let ok = mm.read_u64(DATA).is_ok();
        exit_group(ctx, if ok { 5 } else { 6 })
    }));
    assert_eq!(r, ExitReport::Exited(5));
    assert_eq!(tries.load(Ordering::SeqCst), 2);
    assert_eq!(s.mm.resident_pages(), 1);
}

#[test]
fn an_invalid_opcode_is_sigill() {
    let s = sandbox();
    s.mm.write(DATA, &[0x0f, 0x0b]).unwrap(); // ud2
    let r = s.run(program(|ctx| {
        ctx.regs.rip = DATA;
        Ok(Trap::Exception {
            vector: 6,
            error_code: 0,
        })
    }));
    assert_eq!(r, ExitReport::Signaled(sig::SIGILL));
}

/// `int $0x80` comes back from this host's KVM as #UD; Linux without a
/// 32-bit ABI gives SIGSEGV, and the sentry looks at the instruction.
#[test]
fn int_0x80_reported_as_invalid_opcode_is_sigsegv() {
    let s = sandbox();
    s.mm.write(DATA, &[0xcd, 0x80]).unwrap();
    let r = s.run(program(|ctx| {
        ctx.regs.rip = DATA;
        Ok(Trap::Exception {
            vector: 6,
            error_code: 0,
        })
    }));
    assert_eq!(r, ExitReport::Signaled(sig::SIGSEGV));
}

#[test]
fn a_divide_error_is_sigfpe() {
    let s = sandbox();
    let r = s.run(program(|_| {
        Ok(Trap::Exception {
            vector: 0,
            error_code: 0,
        })
    }));
    assert_eq!(r, ExitReport::Signaled(sig::SIGFPE));
}

/// A platform failure while running the guest kills the task; the sentry
/// neither panics nor hangs.
#[test]
fn a_platform_failure_kills_the_task_with_sigsegv() {
    let s = sandbox();
    let r = s.run(program(|_| Err(Error::Unsupported("scripted failure"))));
    assert_eq!(r, ExitReport::Signaled(sig::SIGSEGV));
}

/// A kick (a signal for a task in the guest) ends a run with
/// `Interrupted`, and the task delivers the signal then.
#[test]
fn a_kicked_spinning_task_takes_its_fatal_signal() {
    let s = sandbox();
    let r = s.run(program(|ctx| match ctx.regs.rip {
        0 => sys(ctx, 1, SYS_FORK, [0; 6]),
        1 | 30 if ret(ctx) == 0 || ctx.regs.rip == 30 => {
            // The child spins in user mode (each run is one more step).
            ctx.regs.rip = 30;
            ctx.regs.rax = 0;
            Ok(Trap::Interrupted)
        }
        1 => {
            let pid = ctx.regs.rax;
            sys(ctx, 2, SYS_KILL, [pid, 15, 0, 0, 0, 0])
        }
        2 => sys(ctx, 3, SYS_WAIT4, [u64::MAX, 0, 0, 0, 0, 0]),
        _ => exit_group(ctx, 0),
    }));
    assert_eq!(r, ExitReport::Exited(0));
}

/// The sentry reaches the hypervisor only through the platform interface
/// (`Platform`, `AddressSpace`, `Context`): no code of the sentry or its
/// tests names a KVM or x86-paging type, so a second platform needs no
/// change here.
#[test]
fn the_sentry_names_no_kvm_type() {
    use crate::kernel::tests::sources;
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    sources(&root.join("src"), &mut files);
    sources(&root.join("tests"), &mut files);
    assert!(files.len() >= 20, "found only {files:?}");
    // Identifiers, spelled in pieces so this file does not match itself.
    let types = [
        ["Mach", "ine"].concat(),
        ["Mach", "ineConfig"].concat(),
        ["Vc", "pu"].concat(),
        ["Page", "Tables"].concat(),
        ["Pt", "e"].concat(),
        ["Pt", "eFlags"].concat(),
        ["Frame", "Kind"].concat(),
        ["Kv", "m"].concat(),
    ];
    let modules = ["kvm", "vcpu", "x86_64", "machine", "selftest"]
        .map(|m| format!("{}::{m}", ["plat", "form"].concat()));
    let mut bad = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).expect("a readable source file");
        for (i, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            // Outside string literals (a /proc field may be called so).
            let code: String = code.split('"').step_by(2).collect::<Vec<_>>().join(" ");
            let code = code.as_str();
            let idents = code.split(|c: char| !(c.is_alphanumeric() || c == '_'));
            let named_type = idents.clone().any(|w| types.iter().any(|t| t == w));
            let named_module = modules.iter().any(|m| code.contains(m.as_str()));
            if named_type || named_module {
                bad.push(format!("{}:{}: {}", f.display(), i + 1, line.trim()));
            }
        }
    }
    assert!(
        bad.is_empty(),
        "KVM types named in the sentry:\n{}",
        bad.join("\n")
    );
}

const SYS_CLONE: u64 = 56;
const SYS_VFORK: u64 = 58;
const WNOHANG: u64 = 1;

/// wait4 with WNOHANG returns 0 while the child runs; the child goes on
/// and is reaped by a blocking wait later.
#[test]
fn wnohang_returns_zero_while_the_child_runs() {
    let s = sandbox();
    let go = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let (flag, log) = (Arc::clone(&go), Arc::clone(&seen));
    let r = s.run(program(move |ctx| match ctx.regs.rip {
        0 => sys(ctx, 1, SYS_FORK, [0; 6]),
        // The child waits (in the guest) until the parent has polled.
        1 | 20 if ret(ctx) == 0 || ctx.regs.rip == 20 => {
            if flag.load(Ordering::SeqCst) {
                sys(ctx, 99, SYS_EXIT, [3, 0, 0, 0, 0, 0])
            } else {
                sys(ctx, 20, SYS_SCHED_YIELD, [0; 6])
            }
        }
        1 => sys(ctx, 2, SYS_WAIT4, [u64::MAX, 0, WNOHANG, 0, 0, 0]),
        2 => {
            log.lock().push(ret(ctx));
            flag.store(true, Ordering::SeqCst);
            sys(ctx, 3, SYS_WAIT4, [u64::MAX, DATA, 0, 0, 0, 0])
        }
        _ => {
            log.lock().push(ret(ctx));
            exit_group(ctx, 0)
        }
    }));
    assert_eq!(r, ExitReport::Exited(0));
    let v = seen.lock().clone();
    assert_eq!(v[0], 0, "WNOHANG with a running child");
    assert!(v[1] > 1, "then the child's pid");
    assert_eq!(s.mm.read_u32(DATA).unwrap(), 3 << 8);
}

/// vfork suspends the parent until the child exits.
#[test]
fn vfork_suspends_the_parent_until_the_child_exits() {
    let s = sandbox();
    let order = Arc::new(Mutex::new(Vec::new()));
    let log = Arc::clone(&order);
    let r = s.run(program(move |ctx| match ctx.regs.rip {
        0 => sys(ctx, 1, SYS_VFORK, [0; 6]),
        1 if ret(ctx) == 0 => {
            log.lock().push("child");
            sys(ctx, 99, SYS_EXIT, [0; 6])
        }
        1 => {
            log.lock().push("parent");
            sys(ctx, 2, SYS_WAIT4, [u64::MAX, 0, 0, 0, 0, 0])
        }
        _ => exit_group(ctx, 0),
    }));
    assert_eq!(r, ExitReport::Exited(0));
    assert_eq!(*order.lock(), vec!["child", "parent"]);
}

/// exit_group ends every thread of the group, even one spinning in user
/// mode, and the sandbox ends with its code.
#[test]
fn exit_group_ends_a_spinning_sibling_thread() {
    let s = sandbox();
    // CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD.
    let flags = 0x100 | 0x200 | 0x400 | 0x800 | 0x10000;
    let started = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&started);
    let r = s.run(program(move |ctx| match ctx.regs.rip {
        0 => sys(ctx, 1, SYS_CLONE, [flags, DATA + 0x800, 0, 0, 0, 0]),
        // The thread: spins in user mode forever.
        1 | 40 if ret(ctx) == 0 || ctx.regs.rip == 40 => {
            flag.store(true, Ordering::SeqCst);
            ctx.regs.rip = 40;
            ctx.regs.rax = 0;
            Ok(Trap::Interrupted)
        }
        // The main thread waits until the thread runs, then exits.
        1 | 2 if !flag.load(Ordering::SeqCst) => sys(ctx, 2, SYS_SCHED_YIELD, [0; 6]),
        _ => exit_group(ctx, 6),
    }));
    assert_eq!(r, ExitReport::Exited(6));
    assert!(started.load(Ordering::SeqCst));
}

#[test]
fn a_childs_parent_is_the_process_that_forked_it() {
    let s = sandbox();
    let status = in_child(&s, |ctx| match ctx.regs.rip {
        100 => sys(ctx, 101, SYS_GETPPID, [0; 6]),
        _ => {
            let ppid = ctx.regs.rax;
            sys(ctx, 199, SYS_EXIT, [ppid, 0, 0, 0, 0, 0])
        }
    });
    assert_eq!(status, 1 << 8, "getppid() == 1");
}

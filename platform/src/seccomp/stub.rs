//! The stub: position-independent machine code that runs in the stub
//! processes, its shared-memory layout and its seccomp filter.
//!
//! Everything between `sc_stub_start` and `sc_stub_end` is copied into
//! pool frames and mapped read+exec at [`CODE_ADDR`] in every stub
//! process. It uses no libc, no TLS and no Rust runtime; every host call
//! it makes once it runs guest code goes through the `syscall`
//! instruction at `sc_sys` (guest threads' handlers) or at `sc_ctl_sys`
//! (the control thread's, which returns through a register), the only
//! addresses the filter lets through.

use std::arch::global_asm;

/// Start of the stub window (the guest never maps at or above it).
pub const WINDOW_BASE: u64 = 0x7fff_ff00_0000;
/// Stub code (and the filter) at the bottom of the window.
pub const CODE_ADDR: u64 = WINDOW_BASE;
/// Bytes of code frames mapped at [`CODE_ADDR`].
pub const CODE_LEN: u64 = 0x4000;
/// The stub process's block: slot 0 is the control thread, the others
/// guest threads.
pub const BLOCK_ADDR: u64 = WINDOW_BASE + 0x10000;
/// Size of a block.
pub const BLOCK_SIZE: u64 = 0x40_0000;
/// One thread's slot: mailbox page, signal stack, small stack.
pub const SLOT_SIZE: u64 = 0x8000;
/// Slots per block (slot 0 is the control thread's).
pub const SLOTS: usize = (BLOCK_SIZE / SLOT_SIZE) as usize;
/// Top of the host's user range.
pub const TOP: u64 = 0x7fff_ffff_f000;
/// Signal stack within a slot.
pub const ALTSTACK_OFF: u64 = 0x1000;
/// Its size.
pub const ALTSTACK_SIZE: u64 = 0x6000;

/// Mailbox word: commands from the sentry (a sequence number).
pub const MB_TO_STUB: usize = 0;
/// Mailbox word: reports from the stub (a sequence number).
pub const MB_TO_SENTRY: usize = 4;
/// Command.
pub const MB_CMD: usize = 8;
/// Number of ops.
pub const MB_NOPS: usize = 12;
/// FS base at the trap / to resume with.
pub const MB_FS: usize = 16;
/// GS base.
pub const MB_GS: usize = 24;
/// Signal number of the trap.
pub const MB_SIGNO: usize = 32;
/// siginfo pointer (stub address).
pub const MB_INFO: usize = 40;
/// ucontext pointer (stub address).
pub const MB_UC: usize = 48;
/// Stack pointer at handler entry.
pub const MB_ENTRY_RSP: usize = 56;
/// 0, or 1 + the index of the op that failed.
pub const MB_STATUS: usize = 64;
/// Thread id, cleared by the kernel when the thread exits.
pub const MB_TID: usize = 72;
/// CPU mask for sched_setaffinity.
pub const MB_MASK: usize = 80;
/// Ops: `[nr, a0..a5, result]`.
pub const MB_OPS: usize = 0x100;
/// Bytes per op.
pub const OP_SIZE: usize = 64;
/// Ops per command.
pub const MAX_OPS: usize = 60;

/// Run the ops, then report.
pub const CMD_OPS: u32 = 1;
/// Run the ops, then resume the guest (report only if one failed).
pub const CMD_RESUME: u32 = 2;
/// Template only: fork a stub process (op 0's first argument: its block).
pub const CMD_FORK: u32 = 3;
/// Control thread: check that it is the process's only thread (else the
/// process ends), then run the ops (emptying the process for reuse).
pub const CMD_RECYCLE: u32 = 4;
/// Template word: the result of sealing the stub code (0: sealed;
/// negative errno: not, and stub processes are never recycled).
pub const MB_SEALED: usize = 0xf0;
/// How many times a recycling control thread asks whether it is its
/// process's only thread (a `sched_yield` between two asks) before it
/// ends the process.
pub const RECYCLE_TRIES: u32 = 64;
/// Offset of a stub control thread's report page (to_sentry, status,
/// results, its sleeping flag, the sentry's) from its command page.
pub const CTL_REPORT_OFF: u64 = 4096;

/// Spin of the stub on its mailbox before a futex wait, written by the
/// sentry: a budget in units of `1 << SPIN_SHIFT` TSC ticks (the low
/// bits, [`SPIN_BUDGET_MASK`]), and how it spins: [`SPIN_YIELD`] yields
/// the CPU (sched_yield) each round, [`SPIN_ADAPTIVE`] yields while the
/// sentry thread's CPU ([`MB_SENTRY_CPU`]) is the stub thread's own and
/// spins with `pause` otherwise, neither spins with `pause`.
pub const MB_SPIN: usize = 88;
/// See [`MB_SPIN`].
pub const SPIN_YIELD: u32 = 1 << 31;
/// See [`MB_SPIN`] (needs `rdtscp`, whose `TSC_AUX` Linux sets to the CPU).
pub const SPIN_ADAPTIVE: u32 = 1 << 30;
/// See [`MB_SPIN`].
pub const SPIN_BUDGET_MASK: u32 = (1 << 30) - 1;
/// An adaptive spin that has lasted this many TSC ticks (2–4 µs at the
/// usual 2–4 GHz) yields, and again every as many, even while the other
/// side runs on another CPU: a `pause` spin must not keep the CPU from
/// another task that waits for it (a guest process on the other side of
/// a pipe, say) for a whole budget, and a quick hand-off (a syscall the
/// sentry serves in a µs or two) should not pay for a yield.
pub const SPIN_YIELD_TICKS: u32 = 8192;
/// See [`MB_SPIN`].
pub const SPIN_SHIFT: u32 = 10;
/// The stub's spin budget (units as [`MB_SPIN`]'s) after it has woken
/// the sentry thread (see `WAKE_SPIN_US`), if longer than [`MB_SPIN`]'s.
pub const MB_WAKE_SPIN: usize = 148;
/// Set by the handler when the trap is a syscall the sentry serves
/// slowly and whose answer is on a fork's path (clone, fork, vfork,
/// clone3, exit, exit_group: see [`LONG_SPIN_SYSCALLS`]): the stub's
/// spin after its report is then [`MB_WAKE_SPIN`]'s budget, as after a
/// wake-up, so that the answer (the fork's result, the exit command)
/// finds it spinning rather than asleep.
pub const MB_LONG_SPIN: usize = 152;
/// The syscalls of [`MB_LONG_SPIN`].
pub const LONG_SPIN_SYSCALLS: [i64; 6] = [
    libc::SYS_clone,
    libc::SYS_fork,
    libc::SYS_vfork,
    libc::SYS_clone3,
    libc::SYS_exit,
    libc::SYS_exit_group,
];
/// `ucontext_t`'s saved rax (`uc_mcontext.gregs[REG_RAX]`: the gregs
/// start at 40, after `uc_flags`, `uc_link` and `uc_stack`).
const UC_RAX: usize = 40 + 13 * 8;
/// The CPU a guest thread's stub last spun on (adaptive spin).
pub const MB_STUB_CPU: usize = 100;
/// The CPU the sentry thread last waited or sent on (adaptive spin).
pub const MB_SENTRY_CPU: usize = 144;
/// The stub thread's CPU time (a timespec) when it trapped (seconds
/// `u64::MAX`: not read, see [`MB_CLOCK_TSC`]).
pub const MB_CPU_IN: usize = 104;
/// The TSC when the thread last resumed the guest.
pub const MB_TSC_OUT: usize = 120;
/// The TSC when it trapped.
pub const MB_TSC_IN: usize = 128;
/// TSC ticks of guest run below which the handler skips the CPU clock
/// read at a trap (then [`MB_CPU_IN`]'s seconds are `u64::MAX`).
pub const MB_CLOCK_TSC: usize = 160;
/// Template only: the sentry's pid (its parent, and its children's).
pub const MB_PPID: usize = 136;
/// Template only: RLIMIT_NPROC of the stubs' user namespace (written by
/// the sentry before the fork).
pub const MB_NPROC: usize = 0xe0;
/// Template only: the real uid the stubs run with (written by the
/// template).
pub const MB_UID: usize = 0xe8;
/// Template only: 1 if the stubs have a pid namespace of their own
/// (written by the template).
pub const MB_PIDNS: usize = 0xec;
/// The kick ring, in the template's block (its slot 1, which no thread
/// uses): a sequence word, then [`KICK_RING_SLOTS`] words, each 0 or the
/// (pid-namespace) id of a stub thread to kick. Served by the stubs'
/// pid-namespace init.
pub const KICK_RING: u64 = SLOT_SIZE;
/// Entries of the kick ring.
pub const KICK_RING_SLOTS: usize = 64;
/// Set while the stub sleeps on [`MB_TO_STUB`] (the sentry then wakes it).
pub const MB_STUB_SLEEPS: usize = 92;
/// Set while the sentry sleeps on [`MB_TO_SENTRY`] (the stub then wakes it).
pub const MB_SENTRY_SLEEPS: usize = 96;

/// The signal that kicks a stub thread out of guest code.
pub const KICK_SIGNAL: i32 = libc::SIGUSR2;

/// Exact clone flags of a stub thread.
pub const THREAD_CLONE_FLAGS: u64 = (libc::CLONE_VM
    | libc::CLONE_FS
    | libc::CLONE_FILES
    | libc::CLONE_SIGHAND
    | libc::CLONE_THREAD
    | libc::CLONE_SYSVSEM
    | libc::CLONE_CHILD_SETTID
    | libc::CLONE_CHILD_CLEARTID) as u64;

global_asm!(
    ".pushsection .text.sc_stub,\"ax\",@progbits",
    ".p2align 12",
    ".globl sc_stub_start",
    "sc_stub_start:",
    // The one syscall instruction the filter allows.
    "sc_sys:",
    "syscall",
    "ret",
    // The control thread's: it returns through rbp, never through its
    // stack (which guest threads can write).
    "sc_ctl_sys:",
    "syscall",
    "jmp rbp",
    // Signal handler: rdi signo, rsi siginfo, rdx ucontext; on the slot's
    // signal stack.
    ".globl sc_handler",
    "sc_handler:",
    "mov rax, rsp",
    "and rax, -{slot}",
    "mov rbx, rax",
    "mov [rbx+{signo}], rdi",
    "mov [rbx+{info}], rsi",
    "mov [rbx+{uc}], rdx",
    "mov [rbx+{entry}], rsp",
    "rdfsbase rax",
    "mov [rbx+{fs}], rax",
    "rdgsbase rax",
    "mov [rbx+{gs}], rax",
    // CPU time: the TSC at the trap; the thread's CPU clock too unless
    // the guest ran for less than the sentry's threshold since it resumed
    // (then the TSC interval is its time: see `Context::run`).
    "rdtsc",
    "shl rdx, 32",
    "or rax, rdx",
    "mov [rbx+{tsc_in}], rax",
    "sub rax, [rbx+{tsc_out}]",
    "cmp rax, [rbx+{clock_tsc}]",
    "jb 60f",
    "mov edi, 3",
    "lea rsi, [rbx+{cpu_in}]",
    "mov eax, 228",
    "call sc_sys",
    "jmp 61f",
    "60:",
    "mov qword ptr [rbx+{cpu_in}], -1",
    "61:",
    // A syscall of LONG_SPIN_SYSCALLS: a long spin after the report.
    "xor ecx, ecx",
    "cmp qword ptr [rbx+{signo}], {sigsys}",
    "jne 63f",
    "mov rax, [rbx+{uc}]",
    "mov rax, [rax+{uc_rax}]",
    "cmp rax, {nr_clone}",
    "je 62f",
    "cmp rax, {nr_fork}",
    "je 62f",
    "cmp rax, {nr_vfork}",
    "je 62f",
    "cmp rax, {nr_clone3}",
    "je 62f",
    "cmp rax, {nr_exit}",
    "je 62f",
    "cmp rax, {nr_exit_group}",
    "jne 63f",
    "62:",
    "mov ecx, 1",
    "63:",
    "mov [rbx+{long_spin}], ecx",
    "call sc_serve",
    "rdtsc",
    "shl rdx, 32",
    "or rax, rdx",
    "mov [rbx+{tsc_out}], rax",
    "mov rax, [rbx+{fs}]",
    "wrfsbase rax",
    "mov rax, [rbx+{gs}]",
    "wrgsbase rax",
    "mov rsp, [rbx+{entry}]",
    "add rsp, 8",
    ".globl sc_restorer",
    "sc_restorer:",
    "mov eax, 15",
    "jmp sc_sys",
    // Serve loop: rbx = mailbox. Reports, waits for a command, runs its
    // ops; returns only for CMD_RESUME with every op done.
    "sc_serve:",
    "mov r12d, [rbx+{to_stub}]",
    "2:",
    // ebp: the sentry thread was asleep (woken here), or the trap is one
    // of LONG_SPIN_SYSCALLS (its first report only).
    "mov ebp, [rbx+{long_spin}]",
    "mov dword ptr [rbx+{long_spin}], 0",
    "lock inc dword ptr [rbx+{to_sentry}]",
    // Wake the sentry only if it sleeps on the word.
    "cmp dword ptr [rbx+{sentry_sleeps}], 0",
    "je 3f",
    "lea rdi, [rbx+{to_sentry}]",
    "mov esi, 1",
    "mov edx, 1",
    "mov eax, 202",
    "call sc_sys",
    "mov ebp, 1",
    // Spin until the TSC deadline r14 (see MB_SPIN; MB_WAKE_SPIN's budget
    // if longer when the sentry thread was woken), then sleep.
    "3:",
    "mov r13d, [rbx+{spin}]",
    "mov r14d, r13d",
    "and r14d, {spin_budget}",
    "test ebp, ebp",
    "jz 14f",
    "mov eax, [rbx+{wake_spin}]",
    "and eax, {spin_budget}",
    "cmp r14d, eax",
    "cmovb r14d, eax",
    "14:",
    "shl r14, {spin_shift}",
    "rdtsc",
    "shl rdx, 32",
    "or rax, rdx",
    "add r14, rax",
    "lea r15, [rax+{yield_ticks}]",
    "4:",
    "cmp [rbx+{to_stub}], r12d",
    "jne 5f",
    "rdtsc",
    "shl rdx, 32",
    "or rax, rdx",
    "cmp rax, r14",
    "jae 9f",
    "test r13d, {spin_yield}",
    "jnz 12f",
    "test r13d, {spin_adaptive}",
    "jz 10f",
    // Adaptive: yield while the sentry thread last ran on this CPU (it
    // needs it), else spin (it runs on another one); past r15, and then
    // every SPIN_YIELD_TICKS, yield all the same (another task may wait
    // for this CPU; a yield with none returns at once).
    "cmp rax, r15",
    "jae 13f",
    "rdtscp",
    "and ecx, 0xfff",
    "mov [rbx+{stub_cpu}], ecx",
    "cmp ecx, [rbx+{sentry_cpu}]",
    "jne 10f",
    "jmp 12f",
    "13:",
    "lea r15, [rax+{yield_ticks}]",
    // Yielding spin: let the sentry thread run on this CPU.
    "12:",
    "mov eax, 24",
    "call sc_sys",
    "jmp 4b",
    "10:",
    "pause",
    "jmp 4b",
    "9:",
    "mov dword ptr [rbx+{stub_sleeps}], 1",
    "mfence",
    "cmp [rbx+{to_stub}], r12d",
    "jne 11f",
    "lea rdi, [rbx+{to_stub}]",
    "xor esi, esi",
    "mov edx, r12d",
    "xor r10d, r10d",
    "mov eax, 202",
    "call sc_sys",
    "11:",
    "mov dword ptr [rbx+{stub_sleeps}], 0",
    "xor ebp, ebp",
    "jmp 3b",
    "5:",
    "mov r12d, [rbx+{to_stub}]",
    "mov eax, [rbx+{cmd}]",
    "cmp eax, {cmd_fork}",
    "je 20f",
    "xor r13d, r13d",
    "mov r14d, [rbx+{nops}]",
    "cmp r14, {max_ops}",
    "jbe 6f",
    "mov r14d, {max_ops}",
    "6:",
    "cmp r13, r14",
    "jae 8f",
    "mov r15, r13",
    "shl r15, 6",
    "lea r15, [rbx+r15+{ops}]",
    "mov rax, [r15]",
    "mov rdi, [r15+8]",
    "mov rsi, [r15+16]",
    "mov rdx, [r15+24]",
    "mov r10, [r15+32]",
    "mov r8, [r15+40]",
    "mov r9, [r15+48]",
    "call sc_sys",
    "mov [r15+56], rax",
    "cmp rax, -4095",
    "jae 7f",
    "inc r13",
    "jmp 6b",
    "7:",
    "lea rax, [r13+1]",
    "mov [rbx+{status}], rax",
    "jmp 2b",
    "8:",
    "mov qword ptr [rbx+{status}], 0",
    "cmp dword ptr [rbx+{cmd}], {cmd_resume}",
    "jne 2b",
    "ret",
    // Template: fork a stub process (CLONE_PARENT: the sentry's child).
    "20:",
    "mov r13, [rbx+{ops}+8]",
    "mov eax, 56",
    "mov edi, 0x8011",
    "xor esi, esi",
    "xor edx, edx",
    "xor r10d, r10d",
    "xor r8d, r8d",
    "syscall",
    "test rax, rax",
    "jz 22f",
    "mov [rbx+{ops}+56], rax",
    "xor ecx, ecx",
    "cmp rax, -4095",
    "jb 21f",
    "mov ecx, 1",
    "21:",
    "mov [rbx+{status}], rcx",
    "jmp 2b",
    // The new stub process: its own block over the template's (registers
    // only until then: the template's stack is shared memory).
    "22:",
    "mov r14, [rbx+{ppid}]",
    "movabs rdi, {block}",
    "mov esi, {block_size}",
    "mov edx, 3",
    "mov r10d, 0x11",
    "mov r8, [rip+sc_fd]",
    "mov r9, r13",
    "mov eax, 9",
    "syscall",
    "cmp rax, -4095",
    "jae 29f",
    "movabs rsp, {block_stack}",
    "mov edi, 1",
    "mov esi, 9",
    "mov eax, 157",
    "syscall",
    // The sentry may have died before PR_SET_PDEATHSIG: then the parent is
    // no longer the template's.
    "mov eax, 110",
    "syscall",
    "cmp rax, r14",
    "jne 29f",
    // Its control thread's command page read-only, and the block sealed
    // (no guest thread can map over it, unmap it or write the commands;
    // the stub code was sealed by the template). Without mseal (ENOSYS:
    // the template reported it) the process goes on unsealed.
    "movabs rdi, {block}",
    "mov esi, 4096",
    "mov edx, 1",
    "mov eax, 10",
    "syscall",
    "test rax, rax",
    "jnz 29f",
    "movabs rdi, {block}",
    "mov esi, {block_size}",
    "xor edx, edx",
    "mov eax, 462",
    "syscall",
    "test rax, rax",
    "jz 24f",
    "cmp rax, -38",
    "jne 29f",
    "24:",
    "mov edi, 1",
    "xor esi, esi",
    "lea rdx, [rip+sc_fprog]",
    "mov eax, 317",
    "syscall",
    "test rax, rax",
    "jnz 29f",
    // Its first guest thread (slot 1), started now so that the sentry
    // finds it waiting when the stub process is taken into use.
    "movabs rdi, {t1_stack}",
    "lea rax, [rip+sc_thread_start]",
    "mov [rdi], rax",
    "mov rsi, rdi",
    "movabs rdi, {thread_flags}",
    "xor edx, edx",
    "movabs r10, {t1_ctid}",
    "xor r8d, r8d",
    "mov eax, 56",
    "call sc_sys",
    // The control thread takes no signal (a fault kills the process):
    // no handler frame on memory guest threads can write.
    "mov edi, 2",
    "lea rsi, [rip+sc_all_ones]",
    "xor edx, edx",
    "mov r10d, 8",
    "mov eax, 14",
    "call sc_sys",
    "jmp sc_ctl",
    "29:",
    "mov edi, 127",
    "mov eax, 231",
    "syscall",
    "ud2",
    // rbx = slot: the calling thread's signal stack is the slot's.
    "sc_altstack:",
    "sub rsp, 32",
    "lea rax, [rbx+{alt}]",
    "mov [rsp], rax",
    "mov qword ptr [rsp+8], 0",
    "mov qword ptr [rsp+16], {alt_size}",
    "mov rdi, rsp",
    "xor esi, esi",
    "mov eax, 131",
    "call sc_sys",
    "add rsp, 32",
    "ret",
    // A new guest thread: its slot's signal stack, then a trapped
    // syscall enters the handler, which reports to the sentry.
    ".globl sc_thread_start",
    "sc_thread_start:",
    // The marker filter before anything else: this thread, which runs
    // guest code, can then start no thread of its own (the marker
    // refuses clone and seccomp).
    "mov edi, 1",
    "xor esi, esi",
    "lea rdx, [rip+sc_mfprog]",
    "mov eax, 317",
    "call sc_sys",
    "test rax, rax",
    "jz 62f",
    "mov edi, 126",
    "mov eax, 231",
    "call sc_sys",
    "62:",
    // Every signal unblocked (the control thread that cloned it blocks
    // them all).
    "mov edi, 2",
    "lea rsi, [rip+sc_zero_set]",
    "xor edx, edx",
    "mov r10d, 8",
    "mov eax, 14",
    "call sc_sys",
    "lea rbx, [rsp-8]",
    "and rbx, -{slot}",
    // Its first trap reads the CPU clock (the slot may be a dead
    // thread's).
    "mov qword ptr [rbx+{tsc_out}], 0",
    "call sc_altstack",
    "mov eax, 39",
    "call sc_sys",
    "ud2",
    // The control thread of a stub process: registers only (every host
    // call through sc_ctl_sys, returning through rbp), commands from the
    // slot's first page (read-only and sealed in the stub: only the
    // sentry writes it), reports and results to its second page (the
    // same layout). No guest thread can forge its commands, redirect it
    // through its stack or take it over: it runs the sentry's commands
    // and nothing else. rbx: commands, r15: reports, r12: last command
    // sequence, r13/r14: op index and count.
    "sc_ctl:",
    "movabs rbx, {block}",
    "lea r15, [rbx+4096]",
    "mov r12d, [rbx+{to_stub}]",
    "70:",
    "lock inc dword ptr [r15+{to_sentry}]",
    "cmp dword ptr [r15+{sentry_sleeps}], 0",
    "je 71f",
    "lea rdi, [r15+{to_sentry}]",
    "mov esi, 1",
    "mov edx, 1",
    "mov eax, 202",
    "lea rbp, [rip+71f]",
    "jmp sc_ctl_sys",
    // Spin until the TSC deadline r14 (see MB_SPIN; adaptive yields),
    // then sleep.
    "71:",
    "mov r13d, [rbx+{spin}]",
    "mov r14d, r13d",
    "and r14d, {spin_budget}",
    "shl r14, {spin_shift}",
    "rdtsc",
    "shl rdx, 32",
    "or rax, rdx",
    "add r14, rax",
    "72:",
    "cmp [rbx+{to_stub}], r12d",
    "jne 75f",
    "rdtsc",
    "shl rdx, 32",
    "or rax, rdx",
    "cmp rax, r14",
    "jae 73f",
    "test r13d, {spin_yield_or_adaptive}",
    "jz 74f",
    "mov eax, 24",
    "lea rbp, [rip+72b]",
    "jmp sc_ctl_sys",
    "74:",
    "pause",
    "jmp 72b",
    "73:",
    "mov dword ptr [r15+{stub_sleeps}], 1",
    "mfence",
    "cmp [rbx+{to_stub}], r12d",
    "jne 77f",
    "lea rdi, [rbx+{to_stub}]",
    "xor esi, esi",
    "mov edx, r12d",
    "xor r10d, r10d",
    "mov eax, 202",
    "lea rbp, [rip+77f]",
    "jmp sc_ctl_sys",
    "77:",
    "mov dword ptr [r15+{stub_sleeps}], 0",
    "jmp 71b",
    "75:",
    "mov r12d, [rbx+{to_stub}]",
    "cmp dword ptr [rbx+{cmd}], {cmd_recycle}",
    "jne 80f",
    // Recycling: the control thread (the thread-group leader) must be
    // the process's only thread. unshare(CLONE_VM) fails (EINVAL) while
    // the thread group has another thread or another task shares the
    // address space, and changes nothing otherwise. A thread that has
    // just exited may still be in the group for a moment: yield and ask
    // again, a bounded number of times; then the whole process ends,
    // whatever thread the guest left behind with it.
    "mov r14d, {recycle_tries}",
    "76:",
    "mov edi, {clone_vm}",
    "mov eax, {nr_unshare}",
    "lea rbp, [rip+78f]",
    "jmp sc_ctl_sys",
    "78:",
    "test rax, rax",
    "jz 80f",
    "dec r14d",
    "jz 88f",
    "mov eax, 24",
    "lea rbp, [rip+76b]",
    "jmp sc_ctl_sys",
    "88:",
    "mov edi, 125",
    "mov eax, 231",
    "lea rbp, [rip+79f]",
    "jmp sc_ctl_sys",
    "79:",
    "ud2",
    "80:",
    "xor r13d, r13d",
    "mov r14d, [rbx+{nops}]",
    "cmp r14, {max_ops}",
    "jbe 81f",
    "mov r14d, {max_ops}",
    "81:",
    "cmp r13, r14",
    "jae 85f",
    "mov r9, r13",
    "shl r9, 6",
    "lea r9, [rbx+r9+{ops}]",
    "mov rax, [r9]",
    "mov rdi, [r9+8]",
    "mov rsi, [r9+16]",
    "mov rdx, [r9+24]",
    "mov r10, [r9+32]",
    "mov r8, [r9+40]",
    "mov r9, [r9+48]",
    "lea rbp, [rip+82f]",
    "cmp rax, 56",
    "jne 86f",
    "lea rbp, [rip+87f]",
    "86:",
    "jmp sc_ctl_sys",
    // A clone returns here in both threads. The new one (0) starts as a
    // guest thread, marker first, never through its new stack's top; it
    // knows itself by its registers alone (the sentry may already have
    // written the next command).
    "87:",
    "test rax, rax",
    "jnz 82f",
    "add rsp, 8",
    "jmp sc_thread_start",
    "82:",
    "mov rcx, r13",
    "shl rcx, 6",
    "mov [r15+rcx+{ops}+56], rax",
    "cmp rax, -4095",
    "jae 84f",
    "inc r13",
    "jmp 81b",
    "84:",
    "lea rax, [r13+1]",
    "mov [r15+{status}], rax",
    "jmp 70b",
    "85:",
    "mov qword ptr [r15+{status}], 0",
    "jmp 70b",
    // The template process, entered from sc_boot on its block's stack.
    ".globl sc_template_main",
    "sc_template_main:",
    "mov edi, 1",
    "mov esi, 9",
    "mov eax, 157",
    "syscall",
    "mov eax, 110",
    "syscall",
    "movabs rcx, {block}",
    "mov [rcx+{ppid}], rax",
    "mov edi, 38",
    "mov esi, 1",
    "xor edx, edx",
    "xor r10d, r10d",
    "xor r8d, r8d",
    "mov eax, 157",
    "syscall",
    // The real uid the stubs run with, for the sentry (0: RLIMIT_NPROC
    // does not bind them).
    "mov eax, 102",
    "syscall",
    "movabs rcx, {block}",
    "mov [rcx+{uid}], eax",
    // Fresh user, mount, network, IPC and UTS namespaces when the host
    // allows them (best effort: the result is ignored), then no
    // capabilities at all (capset to zero, ambient set cleared).
    // A pid namespace too when the host allows it: the template stays in
    // the sentry's (its fork results are host pids), its children go
    // into the new one; the stubs' getppid is then 0 (the sentry is
    // outside).
    "mov edi, {unshare_pid}",
    "mov eax, 272",
    "syscall",
    "test rax, rax",
    "jz 34f",
    "mov edi, {unshare}",
    "mov eax, 272",
    "syscall",
    "jmp 35f",
    "34:",
    "movabs rcx, {block}",
    "mov dword ptr [rcx+{pidns}], 1",
    "mov qword ptr [rcx+{ppid}], 0",
    "35:",
    "sub rsp, 32",
    "mov dword ptr [rsp], 0x20080522",
    "mov dword ptr [rsp+4], 0",
    "lea rdi, [rsp]",
    "lea rsi, [rsp+8]",
    "mov qword ptr [rsi], 0",
    "mov qword ptr [rsi+8], 0",
    "mov qword ptr [rsi+16], 0",
    "mov eax, 126",
    "syscall",
    "add rsp, 32",
    "mov edi, 47",
    "mov esi, 4",
    "xor edx, edx",
    "xor r10d, r10d",
    "xor r8d, r8d",
    "mov eax, 157",
    "syscall",
    "mov r12, [rip+sc_fd]",
    "test r12, r12",
    "jz 30f",
    "xor edi, edi",
    "lea rsi, [r12-1]",
    "xor edx, edx",
    "mov eax, 436",
    "syscall",
    "30:",
    "lea rdi, [r12+1]",
    "mov esi, -1",
    "xor edx, edx",
    "mov eax, 436",
    "syscall",
    "xor edi, edi",
    "movabs rsi, {window}",
    "mov eax, 11",
    "syscall",
    "movabs rdi, {code_end}",
    "mov esi, {gap}",
    "mov eax, 11",
    "syscall",
    "movabs rdi, {block_end}",
    "movabs rsi, {tail}",
    "mov eax, 11",
    "syscall",
    // rlimits: core, fsize, nofile, memlock, msgqueue, data to 0.
    "push 0",
    "push 0",
    "mov r12, rsp",
    "mov edi, 4",
    "mov rsi, r12",
    "mov eax, 160",
    "syscall",
    "mov edi, 1",
    "mov rsi, r12",
    "mov eax, 160",
    "syscall",
    "mov edi, 7",
    "mov rsi, r12",
    "mov eax, 160",
    "syscall",
    "mov edi, 8",
    "mov rsi, r12",
    "mov eax, 160",
    "syscall",
    "mov edi, 12",
    "mov rsi, r12",
    "mov eax, 160",
    "syscall",
    // RLIMIT_DATA: no private writable memory (everything a stub maps is
    // the pool's, shared).
    "mov edi, 2",
    "mov rsi, r12",
    "mov eax, 160",
    "syscall",
    // RLIMIT_NPROC: the tasks of the stubs' user namespace (template,
    // stub processes, their threads), the budget the sentry wrote.
    "movabs rcx, {block}",
    "mov rax, [rcx+{nproc}]",
    "mov [r12], rax",
    "mov [r12+8], rax",
    "mov edi, 6",
    "mov rsi, r12",
    "mov eax, 160",
    "syscall",
    "add rsp, 16",
    // With a pid namespace, its init first (the first child forked into
    // it; its death would end every stub): the template's child, with
    // default signal dispositions (the handlers come next).
    "movabs rcx, {block}",
    "cmp dword ptr [rcx+{pidns}], 0",
    "je 36f",
    "mov edi, 17",
    "xor esi, esi",
    "xor edx, edx",
    "xor r10d, r10d",
    "xor r8d, r8d",
    "mov eax, 56",
    "syscall",
    "test rax, rax",
    "jz 50f",
    "cmp rax, -4095",
    "jb 36f",
    "mov edi, 124",
    "mov eax, 231",
    "syscall",
    "36:",
    // Handlers: SA_SIGINFO | SA_ONSTACK | SA_RESTORER, every signal
    // blocked while one runs.
    "sub rsp, 32",
    "lea rax, [rip+sc_handler]",
    "mov [rsp], rax",
    "mov eax, 0x0c000004",
    "mov [rsp+8], rax",
    "lea rax, [rip+sc_restorer]",
    "mov [rsp+16], rax",
    "mov rax, -1",
    "mov [rsp+24], rax",
    "mov r12, rsp",
    "lea r13, [rip+sc_signals]",
    "31:",
    "movzx edi, byte ptr [r13]",
    "test edi, edi",
    "jz 32f",
    "mov rsi, r12",
    "xor edx, edx",
    "mov r10d, 8",
    "mov eax, 13",
    "syscall",
    "inc r13",
    "jmp 31b",
    "32:",
    "add rsp, 32",
    "movabs rbx, {block}",
    "call sc_altstack",
    // The template's own filter, before any guest code exists.
    "mov edi, 1",
    "xor esi, esi",
    "lea rdx, [rip+sc_tfprog]",
    "mov eax, 317",
    "syscall",
    "test rax, rax",
    "jz 33f",
    "mov edi, 125",
    "mov eax, 231",
    "syscall",
    "33:",
    "call sc_serve",
    "jmp 33b",
    // The stubs' pid-namespace init: registers only (the stack it shares
    // with the template is the template's). It dies with the template,
    // holds no descriptor, runs under the template's filter, and sends
    // the sentry's kicks: the sentry puts stub thread ids (of this
    // namespace, which the sentry cannot translate) in the ring of the
    // template block's slot 1, bumps its sequence word and wakes it.
    "50:",
    "mov edi, 1",
    "mov esi, 9",
    "mov eax, 157",
    "syscall",
    "xor edi, edi",
    "mov esi, -1",
    "xor edx, edx",
    "mov eax, 436",
    "syscall",
    "mov edi, 1",
    "xor esi, esi",
    "lea rdx, [rip+sc_tfprog]",
    "mov eax, 317",
    "syscall",
    "test rax, rax",
    "jnz 59f",
    "movabs rbx, {ring}",
    "51:",
    "mov r12d, [rbx]",
    "xor r13d, r13d",
    "52:",
    "cmp r13d, {ring_n}",
    "jae 54f",
    "xor eax, eax",
    "xchg rax, [rbx+r13*8+8]",
    "test rax, rax",
    "jz 53f",
    "mov edi, eax",
    "mov esi, {kick}",
    "mov eax, 200",
    "syscall",
    "53:",
    "inc r13d",
    "jmp 52b",
    "54:",
    "mov rdi, rbx",
    "xor esi, esi",
    "mov edx, r12d",
    "xor r10d, r10d",
    "mov eax, 202",
    "syscall",
    "jmp 51b",
    "59:",
    "mov edi, 123",
    "mov eax, 231",
    "syscall",
    "ud2",
    "sc_signals:",
    ".byte 31, 11, 7, 8, 4, 5, {kick}, 0",
    ".p2align 3",
    ".globl sc_fd",
    "sc_fd:",
    ".quad 0",
    ".globl sc_fprog",
    "sc_fprog:",
    ".quad 0",
    ".quad 0",
    ".globl sc_tfprog",
    "sc_tfprog:",
    ".quad 0",
    ".quad 0",
    ".globl sc_mfprog",
    "sc_mfprog:",
    ".quad 0",
    ".quad 0",
    "sc_zero_set:",
    ".quad 0",
    "sc_all_ones:",
    ".quad -1",
    ".globl sc_stub_end",
    "sc_stub_end:",
    // Entered in the freshly forked template (still a copy of the sentry):
    // rdi = &[fd, code offset, block offset, stack top (sentry alias)].
    ".globl sc_boot",
    "sc_boot:",
    "mov rbx, rdi",
    "mov r12, [rbx]",
    "mov r13, [rbx+8]",
    "mov r14, [rbx+16]",
    "mov rsp, [rbx+24]",
    "movabs rdi, {code}",
    "mov esi, {code_len}",
    "mov edx, 5",
    "mov r10d, 0x11",
    "mov r8, r12",
    "mov r9, r13",
    "mov eax, 9",
    "syscall",
    "cmp rax, -4095",
    "jae 40f",
    "movabs rdi, {block}",
    "mov esi, {block_size}",
    "mov edx, 3",
    "mov r10d, 0x11",
    "mov r8, r12",
    "mov r9, r14",
    "mov eax, 9",
    "syscall",
    "cmp rax, -4095",
    "jae 40f",
    // The stub code sealed (every stub inherits the seal): no guest
    // maps over it; the sentry learns whether the kernel has mseal.
    "movabs rdi, {code}",
    "mov esi, {code_len}",
    "xor edx, edx",
    "mov eax, 462",
    "syscall",
    "movabs rcx, {block}",
    "mov [rcx+{sealed}], eax",
    "movabs rsp, {block_stack}",
    "lea rax, [rip+sc_template_main]",
    "lea rcx, [rip+sc_stub_start]",
    "sub rax, rcx",
    "movabs rcx, {code}",
    "add rax, rcx",
    "jmp rax",
    "40:",
    "mov edi, 126",
    "mov eax, 231",
    "syscall",
    "ud2",
    ".popsection",
    slot = const SLOT_SIZE,
    signo = const MB_SIGNO,
    info = const MB_INFO,
    uc = const MB_UC,
    entry = const MB_ENTRY_RSP,
    fs = const MB_FS,
    gs = const MB_GS,
    to_stub = const MB_TO_STUB,
    to_sentry = const MB_TO_SENTRY,
    spin = const MB_SPIN,
    wake_spin = const MB_WAKE_SPIN,
    long_spin = const MB_LONG_SPIN,
    uc_rax = const UC_RAX,
    sigsys = const libc::SIGSYS,
    nr_clone = const LONG_SPIN_SYSCALLS[0],
    nr_fork = const LONG_SPIN_SYSCALLS[1],
    nr_vfork = const LONG_SPIN_SYSCALLS[2],
    nr_clone3 = const LONG_SPIN_SYSCALLS[3],
    nr_exit = const LONG_SPIN_SYSCALLS[4],
    nr_exit_group = const LONG_SPIN_SYSCALLS[5],
    recycle_tries = const RECYCLE_TRIES,
    clone_vm = const libc::CLONE_VM,
    nr_unshare = const libc::SYS_unshare,
    spin_budget = const SPIN_BUDGET_MASK,
    spin_shift = const SPIN_SHIFT,
    spin_yield = const SPIN_YIELD,
    spin_adaptive = const SPIN_ADAPTIVE,
    yield_ticks = const SPIN_YIELD_TICKS,
    spin_yield_or_adaptive = const SPIN_YIELD | SPIN_ADAPTIVE,
    stub_cpu = const MB_STUB_CPU,
    sentry_cpu = const MB_SENTRY_CPU,
    cpu_in = const MB_CPU_IN,
    tsc_in = const MB_TSC_IN,
    tsc_out = const MB_TSC_OUT,
    clock_tsc = const MB_CLOCK_TSC,
    stub_sleeps = const MB_STUB_SLEEPS,
    sentry_sleeps = const MB_SENTRY_SLEEPS,
    cmd = const MB_CMD,
    cmd_fork = const CMD_FORK,
    cmd_resume = const CMD_RESUME,
    cmd_recycle = const CMD_RECYCLE,
    sealed = const MB_SEALED,
    nops = const MB_NOPS,
    max_ops = const MAX_OPS,
    ops = const MB_OPS,
    status = const MB_STATUS,
    block = const BLOCK_ADDR,
    block_size = const BLOCK_SIZE,
    block_stack = const BLOCK_ADDR + SLOT_SIZE,
    alt = const ALTSTACK_OFF,
    alt_size = const ALTSTACK_SIZE,
    window = const WINDOW_BASE,
    code = const CODE_ADDR,
    code_len = const CODE_LEN,
    code_end = const CODE_ADDR + CODE_LEN,
    gap = const BLOCK_ADDR - CODE_ADDR - CODE_LEN,
    block_end = const BLOCK_ADDR + BLOCK_SIZE,
    tail = const TOP - BLOCK_ADDR - BLOCK_SIZE,
    kick = const KICK_SIGNAL,
    ppid = const MB_PPID,
    uid = const MB_UID,
    nproc = const MB_NPROC,
    t1_stack = const BLOCK_ADDR + 2 * SLOT_SIZE - 8,
    t1_ctid = const BLOCK_ADDR + SLOT_SIZE + MB_TID as u64,
    thread_flags = const THREAD_CLONE_FLAGS,
    pidns = const MB_PIDNS,
    ring = const BLOCK_ADDR + KICK_RING,
    ring_n = const KICK_RING_SLOTS,
    unshare_pid = const libc::CLONE_NEWUSER | libc::CLONE_NEWNS | libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS | libc::CLONE_NEWPID,
    unshare = const libc::CLONE_NEWUSER | libc::CLONE_NEWNS | libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS,
);

unsafe extern "C" {
    static sc_stub_start: u8;
    static sc_stub_end: u8;
    static sc_fd: u8;
    static sc_fprog: u8;
    static sc_tfprog: u8;
    static sc_mfprog: u8;
    /// Boots the template; never returns.
    pub fn sc_boot(params: *const u64) -> !;
}

/// The stub's code bytes.
pub fn code() -> &'static [u8] {
    // SAFETY: both symbols are in the same section, start before end; the
    // bytes between them are the assembled stub, immutable.
    unsafe {
        let start = &raw const sc_stub_start;
        let end = &raw const sc_stub_end;
        std::slice::from_raw_parts(start, end.offset_from(start) as usize)
    }
}

fn offset_of(sym: *const u8) -> u64 {
    // SAFETY: only the address is taken and compared with the start of the
    // same section.
    unsafe { sym.offset_from(&raw const sc_stub_start) as u64 }
}

/// Offset of `sc_fd` in the code.
pub fn fd_offset() -> u64 {
    offset_of(&raw const sc_fd)
}

/// Offset of `sc_fprog` in the code.
pub fn fprog_offset() -> u64 {
    offset_of(&raw const sc_fprog)
}

/// Offset of `sc_tfprog` (the template filter's sock_fprog) in the code.
pub fn tfprog_offset() -> u64 {
    offset_of(&raw const sc_tfprog)
}

/// Offset of `sc_mfprog` (the marker filter's sock_fprog) in the code.
pub fn mfprog_offset() -> u64 {
    offset_of(&raw const sc_mfprog)
}

/// Stub address just past the one allowed `syscall` instruction (the
/// instruction pointer seccomp reports for it).
pub fn syscall_ip() -> u64 {
    CODE_ADDR + 2
}

/// The same for the control thread's `syscall` instruction (`sc_ctl_sys`,
/// which returns through a register, not the stack).
pub fn ctl_syscall_ip() -> u64 {
    CODE_ADDR + 5
}

/// One classic BPF instruction.
#[derive(Clone, Copy)]
#[repr(C)]
pub struct Insn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

const LD_W_ABS: u16 = 0x20;
const JEQ_K: u16 = 0x15;
const JGE_K: u16 = 0x35;
const JSET_K: u16 = 0x45;
const JGT_K: u16 = 0x25;
const RET_K: u16 = 0x06;
const RET_TRAP: u32 = 0x0003_0000;
const RET_ALLOW: u32 = 0x7fff_0000;
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;

/// Where a conditional jump of the filter goes.
#[derive(Clone, Copy)]
enum To {
    /// The next instruction.
    Next,
    /// The end of the current block: `RET_TRAP` in a block, the next block
    /// for a block's number test.
    Trap,
    /// The instruction `n` further on in the block (relative to the
    /// instruction after the jump).
    Skip(u8),
}

/// An argument check: the 32-bit half at `off` of `seccomp_data`.
#[derive(Clone, Copy)]
enum Arg {
    /// Equals.
    Eq(u32, u32),
    /// Has none of these bits.
    NoBits(u32, u32),
    /// Is one of two values.
    Either(u32, u32, u32),
    /// The 64-bit argument `.0` is at least `.1`.
    AtLeast(u32, u64),
    /// When the low half at `.2` has bit `.3` set, the 64-bit argument `.0`
    /// is at least `.1`.
    AtLeastIf(u32, u64, u32, u32),
}

/// Offset of argument `i`'s low half in `seccomp_data`.
const fn lo(i: u32) -> u32 {
    16 + 8 * i
}

/// Offset of argument `i`'s high half.
const fn hi(i: u32) -> u32 {
    16 + 8 * i + 4
}

/// A syscall the filter allows when all its checks hold (it traps when one
/// does not).
struct Rule {
    nr: i64,
    args: Vec<Arg>,
}

fn rule(nr: i64, args: &[Arg]) -> Rule {
    Rule {
        nr,
        args: args.to_vec(),
    }
}

/// The rules both filters share: the calls the stub makes while it serves
/// the sentry, each with its arguments checked where the stub's use is
/// narrower than the call.
fn serve_rules(pool_fd: i32, pool: Option<PoolLayout>) -> Vec<Rule> {
    use Arg::*;
    // mmap of the pool only: MAP_SHARED|MAP_FIXED, prot rwx at most; in a
    // stub, nothing below the zero run (the blocks and the code, which
    // the pool keeps below it) and nothing writable below the data frames
    // (the zero run).
    let mut mmap = vec![
        Eq(lo(3), 0x11),
        Eq(hi(3), 0),
        Eq(lo(4), pool_fd as u32),
        Eq(hi(4), 0),
        NoBits(lo(2), !7),
    ];
    if let Some(l) = pool {
        mmap.push(AtLeast(5, l.zero_off));
        mmap.push(AtLeastIf(5, l.data_start, lo(2), libc::PROT_WRITE as u32));
    }
    vec![
        // The hand-off: FUTEX_WAIT and FUTEX_WAKE (shared) only, no PI or
        // requeue op (those name other tasks).
        rule(libc::SYS_futex, &[Either(lo(1), 0, 1), Eq(hi(1), 0)]),
        rule(libc::SYS_rt_sigreturn, &[]),
        rule(libc::SYS_munmap, &[]),
        // Taking access away only (a fork's write-protection): write
        // access comes from `mmap` alone, whose offsets are checked, so a
        // guest makes neither the shared stub code nor the zero run
        // writable.
        rule(
            libc::SYS_mprotect,
            &[NoBits(lo(2), libc::PROT_WRITE as u32)],
        ),
        rule(libc::SYS_exit, &[]),
        // A control thread that finds a thread it should not: the whole
        // process ends (a guest may end its own too).
        rule(libc::SYS_exit_group, &[]),
        // A new guest thread unblocks the signals its control thread
        // blocks (a guest changes its own thread's mask only).
        rule(libc::SYS_rt_sigprocmask, &[]),
        rule(libc::SYS_sched_yield, &[]),
        // The calling thread only (pid 0).
        rule(libc::SYS_sched_setaffinity, &[Eq(lo(0), 0), Eq(hi(0), 0)]),
        rule(libc::SYS_sigaltstack, &[]),
        rule(libc::SYS_clock_gettime, &[]),
        // The control thread's recycling check (see `sc_ctl`): only
        // CLONE_VM, which unshares nothing and fails unless the caller is
        // its process's only thread.
        rule(
            libc::SYS_unshare,
            &[Eq(lo(0), libc::CLONE_VM as u32), Eq(hi(0), 0)],
        ),
        rule(libc::SYS_mmap, &mmap),
        // A stub thread: exactly its flags.
        rule(
            libc::SYS_clone,
            &[Eq(lo(0), THREAD_CLONE_FLAGS as u32), Eq(hi(0), 0)],
        ),
    ]
}

/// Flags of the template's fork of a stub process: `CLONE_PARENT`, exit
/// signal SIGCHLD.
pub const FORK_CLONE_FLAGS: u64 = (libc::CLONE_PARENT | libc::SIGCHLD) as u64;

/// Five instructions: the 64-bit argument `i` is at least `v`, else trap.
fn at_least(i: u32, v: u64) -> [(Insn, To, To); 5] {
    let insn = |code: u16, k: u32| Insn {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    [
        (insn(LD_W_ABS, hi(i)), To::Next, To::Next),
        (insn(JGT_K, (v >> 32) as u32), To::Skip(3), To::Next),
        (insn(JEQ_K, (v >> 32) as u32), To::Next, To::Trap),
        (insn(LD_W_ABS, lo(i)), To::Next, To::Next),
        (insn(JGE_K, v as u32), To::Next, To::Trap),
    ]
}

/// Compiles a filter: architecture and x32 checks, then (with `ip`) the
/// instruction pointer, then one block per rule; anything else traps.
fn compile(ips: &[u64], rules: &[Rule]) -> Vec<Insn> {
    let insn = |code: u16, k: u32| Insn {
        code,
        jt: 0,
        jf: 0,
        k,
    };
    // (instruction, jump if true, jump if false), blocks resolved below.
    let mut head: Vec<(Insn, To, To)> = vec![
        (insn(LD_W_ABS, 4), To::Next, To::Next),
        (insn(JEQ_K, AUDIT_ARCH_X86_64), To::Next, To::Trap),
        (insn(LD_W_ABS, 0), To::Next, To::Next),
        (insn(JGE_K, 0x4000_0000), To::Trap, To::Next),
    ];
    // The instruction pointer: one of `ips` (same high half), if any.
    if let Some(&first) = ips.first() {
        assert!(
            ips.iter().all(|ip| ip >> 32 == first >> 32) && ips.len() < 64,
            "filter instruction pointers"
        );
        head.push((insn(LD_W_ABS, 8), To::Next, To::Next));
        for (i, ip) in ips.iter().enumerate() {
            let left = (ips.len() - 1 - i) as u8;
            if i + 1 == ips.len() {
                head.push((insn(JEQ_K, *ip as u32), To::Next, To::Trap));
            } else {
                head.push((insn(JEQ_K, *ip as u32), To::Skip(left), To::Next));
            }
        }
        head.extend([
            (insn(LD_W_ABS, 12), To::Next, To::Next),
            (insn(JEQ_K, (first >> 32) as u32), To::Next, To::Trap),
        ]);
    }
    let mut blocks: Vec<Vec<(Insn, To, To)>> = Vec::new();
    for r in rules {
        // ld nr; jeq nr (else: next block); checks (else: trap); allow;
        // trap.
        let mut b = vec![
            (insn(LD_W_ABS, 0), To::Next, To::Next),
            (insn(JEQ_K, r.nr as u32), To::Next, To::Trap),
        ];
        for a in &r.args {
            match *a {
                Arg::Eq(off, v) => b.extend([
                    (insn(LD_W_ABS, off), To::Next, To::Next),
                    (insn(JEQ_K, v), To::Next, To::Trap),
                ]),
                Arg::NoBits(off, m) => b.extend([
                    (insn(LD_W_ABS, off), To::Next, To::Next),
                    (insn(JSET_K, m), To::Trap, To::Next),
                ]),
                Arg::Either(off, v, w) => b.extend([
                    (insn(LD_W_ABS, off), To::Next, To::Next),
                    (insn(JEQ_K, v), To::Skip(1), To::Next),
                    (insn(JEQ_K, w), To::Next, To::Trap),
                ]),
                Arg::AtLeast(i, v) => b.extend(at_least(i, v)),
                Arg::AtLeastIf(i, v, cond, bit) => {
                    b.extend([
                        (insn(LD_W_ABS, cond), To::Next, To::Next),
                        (insn(JSET_K, bit), To::Next, To::Skip(5)),
                    ]);
                    b.extend(at_least(i, v));
                }
            }
        }
        b.push((insn(RET_K, RET_ALLOW), To::Next, To::Next));
        b.push((insn(RET_K, RET_TRAP), To::Next, To::Next));
        blocks.push(b);
    }
    let total: usize = head.len() + blocks.iter().map(Vec::len).sum::<usize>() + 1;
    let trap_at = total - 1;
    let mut out = Vec::with_capacity(total);
    let off = |from: usize, to: usize| -> u8 {
        u8::try_from(to - from - 1).expect("filter jump within 255")
    };
    for (insn, jt, jf) in &head {
        let i = out.len();
        let fix = |t: To| match t {
            To::Next => 0,
            To::Trap => off(i, trap_at),
            To::Skip(n) => n,
        };
        out.push(Insn {
            jt: fix(*jt),
            jf: fix(*jf),
            ..*insn
        });
    }
    for b in &blocks {
        let start = out.len();
        let end = start + b.len();
        for (j, (insn, jt, jf)) in b.iter().enumerate() {
            let i = out.len();
            // The number test's "else" is the next block; every other
            // "else" is the block's own trap (its last instruction).
            let fix = |t: To| match t {
                To::Next => 0,
                To::Trap if j == 1 => off(i, end),
                To::Trap => off(i, end - 1),
                To::Skip(n) => n,
            };
            out.push(Insn {
                jt: fix(*jt),
                jf: fix(*jf),
                ..*insn
            });
        }
    }
    out.push(insn(RET_K, RET_TRAP));
    out
}

/// The stub's filter: from the one stub `syscall` instruction, only the
/// calls the stub needs, with their arguments checked; everything else
/// (any other instruction pointer, any other architecture or ABI) traps
/// with SIGSYS, which the stub's handler reports to the sentry.
pub fn filter(pool_fd: i32, pool: PoolLayout) -> Vec<Insn> {
    use Arg::*;
    let mut rules = serve_rules(pool_fd, Some(pool));
    // The marker filter a new guest thread installs (no flags): the
    // sock_fprog in the sealed stub code, nothing else.
    let m = CODE_ADDR + mfprog_offset();
    rules.push(rule(
        libc::SYS_seccomp,
        &[
            Eq(lo(0), 1),
            Eq(hi(0), 0),
            Eq(lo(1), 0),
            Eq(hi(1), 0),
            Eq(lo(2), m as u32),
            Eq(hi(2), (m >> 32) as u32),
        ],
    ));
    compile(&[syscall_ip(), ctl_syscall_ip()], &rules)
}

/// The marker filter every guest-running stub thread installs first
/// (`sc_thread_start`), under the stub filter: it refuses clone and
/// seccomp (they trap), and with `refuse_mmap` mmap, munmap and mprotect
/// too; it allows the rest. A guest thread therefore starts no host
/// thread and installs no filter (every thread of a stub process is one
/// its control thread started for the sentry), and with `refuse_mmap`
/// changes no mapping: only the control thread, which runs the sentry's
/// commands alone, maps pool frames into the process, so the sentry knows
/// exactly what the process maps (a recycled process keeps what the next
/// address space maps alike; see the platform's *Recycling*).
pub fn marker_filter(refuse_mmap: bool) -> Vec<Insn> {
    let insn = |code: u16, jt: u8, jf: u8, k: u32| Insn { code, jt, jf, k };
    let mut refused = vec![libc::SYS_clone, libc::SYS_seccomp];
    if refuse_mmap {
        refused.extend([libc::SYS_mmap, libc::SYS_munmap, libc::SYS_mprotect]);
    }
    let n = refused.len();
    let mut f = vec![insn(LD_W_ABS, 0, 0, 0)];
    // The i-th test jumps over the later tests and the allow to the trap.
    for (i, nr) in refused.iter().enumerate() {
        f.push(insn(JEQ_K, (n - i) as u8, 0, *nr as u32));
    }
    f.push(insn(RET_K, 0, 0, RET_ALLOW));
    f.push(insn(RET_K, 0, 0, RET_TRAP));
    f
}

/// Where the pool keeps what a stub may map: below `zero_off` the blocks
/// and the code (never a guest's), `[zero_off, data_start)` the zero run
/// (read-only), from `data_start` on the data frames.
#[derive(Clone, Copy, Debug)]
pub struct PoolLayout {
    /// Pool offset of the zero run.
    pub zero_off: u64,
    /// Pool offset of the first data frame.
    pub data_start: u64,
}

/// The template's filter, installed once its set-up is done (before any
/// guest code exists): the stub's calls from any instruction pointer
/// (the template's fork and a new stub's first calls are `syscall`
/// instructions of their own), plus what forking a stub process takes:
/// clone with exactly [`FORK_CLONE_FLAGS`], `PR_SET_PDEATHSIG`, getppid,
/// installing the stub filter (no flags: no TSYNC, no listener) and
/// exit_group. Every stub process inherits it under its own, stricter
/// filter. The template's code, stack and mailbox are pool memory a guest
/// can map (see the module docs), so this is what bounds a guest that
/// takes the template over.
pub fn template_filter(pool_fd: i32) -> Vec<Insn> {
    use Arg::*;
    // The template maps stub blocks: no offset check (its mailbox and
    // stack are out of a guest's reach; this filter is the second line).
    let mut rules = serve_rules(pool_fd, None);
    for r in &mut rules {
        if r.nr == libc::SYS_clone {
            r.args = vec![
                Either(lo(0), THREAD_CLONE_FLAGS as u32, FORK_CLONE_FLAGS as u32),
                Eq(hi(0), 0),
            ];
        }
    }
    rules.extend([
        rule(
            libc::SYS_prctl,
            &[Eq(lo(0), libc::PR_SET_PDEATHSIG as u32), Eq(hi(0), 0)],
        ),
        rule(libc::SYS_getppid, &[]),
        // The pid-namespace init's kicks.
        rule(
            libc::SYS_tkill,
            &[Eq(lo(1), KICK_SIGNAL as u32), Eq(hi(1), 0)],
        ),
        // Installing the stub filter and the marker (no flags: no TSYNC,
        // no listener).
        rule(
            libc::SYS_seccomp,
            &[Eq(lo(0), 1), Eq(hi(0), 0), Eq(lo(1), 0), Eq(hi(1), 0)],
        ),
        // A new stub sealing its block (mseal only takes rights away).
        rule(libc::SYS_mseal, &[]),
    ]);
    compile(&[], &rules)
}

/// A filter as bytes.
pub fn bytes(filter: &[Insn]) -> Vec<u8> {
    filter
        .iter()
        .flat_map(|i| {
            let mut b = Vec::with_capacity(8);
            b.extend_from_slice(&i.code.to_le_bytes());
            b.push(i.jt);
            b.push(i.jf);
            b.extend_from_slice(&i.k.to_le_bytes());
            b
        })
        .collect()
}

/// The stub filter as bytes.
pub fn filter_bytes(pool_fd: i32, pool: PoolLayout) -> Vec<u8> {
    bytes(&filter(pool_fd, pool))
}

//! The sandbox's CPUs and where a task runs.
//!
//! The sandbox offers [`vcpus`](crate::fs::proc::view::vcpus) CPUs,
//! numbered 0..n: sandbox CPU `i` is the `i`-th host CPU the sentry may
//! run on (its affinity when it started). A task runs on one host worker
//! thread, so "the CPU a task is on" is the host CPU of that thread, read
//! the same way by everything that reports it:
//!
//! * the vDSO's getcpu reads the host CPU with RDTSCP (in ring 3 of this
//!   VM TSC_AUX is the host's, KVM-NOTES) and maps it through the table
//!   the sentry publishes in the [vvar] page ([`vvar_table`]);
//! * the getcpu syscall and `/proc/<pid>/stat`'s `processor` map the
//!   host CPU the same way ([`current`], [`Task`]'s last sample);
//! * sched_setaffinity pins the task's worker thread to the host CPUs of
//!   the allowed sandbox CPUs ([`follow`]), so the CPU reported is always
//!   one sched_getaffinity allows, as on Linux;
//! * a forked child's first stay in the guest may run on its parent's CPU
//!   ([`fork_hint`], off by default).
//!
//! A host CPU outside the table (the sentry's affinity changed under it)
//! reads as the lowest allowed CPU in the syscalls, and the vDSO makes
//! the syscall.

use std::cell::Cell;
use std::sync::OnceLock;
use std::sync::atomic::Ordering;

use super::task::Task;

/// Host CPUs the [vvar] table covers (`VVAR_HOST_CPUS` in vvar.h).
pub const VVAR_HOST_CPUS: usize = 256;

/// The host CPUs the sentry could run on when it started, lowest first.
fn host_cpus() -> &'static [usize] {
    static CPUS: OnceLock<Vec<usize>> = OnceLock::new();
    CPUS.get_or_init(|| {
        // The main thread's mask: a worker may already be pinned.
        // (rustix re-exports its Pid under termios, a feature we have.)
        let main = rustix::termios::Pid::from_raw(std::process::id() as i32);
        match rustix::thread::sched_getaffinity(main) {
            Ok(set) => (0..rustix::thread::CpuSet::MAX_CPU)
                .filter(|&c| set.is_set(c))
                .collect(),
            Err(e) => {
                tracing::warn!("cannot read the sentry's CPU affinity: {e}");
                Vec::new()
            }
        }
    })
}

/// The number of sandbox CPUs.
fn count() -> usize {
    crate::fs::proc::view::vcpus().min(host_cpus().len()).max(1)
}

/// The sandbox CPU of host CPU `host`, if it is one.
pub fn of_host(host: usize) -> Option<u32> {
    host_cpus()[..count().min(host_cpus().len())]
        .iter()
        .position(|&c| c == host)
        .map(|i| i as u32)
}

/// The sandbox CPU the calling (worker) thread is on now.
pub fn current() -> Option<u32> {
    of_host(rustix::thread::sched_getcpu())
}

/// The [vvar] page's table: for each host CPU below [`VVAR_HOST_CPUS`],
/// its sandbox CPU plus one (0: not a sandbox CPU; the vDSO then makes
/// the syscall).
pub fn vvar_table() -> [u16; VVAR_HOST_CPUS] {
    let mut t = [0u16; VVAR_HOST_CPUS];
    for (i, &h) in host_cpus()[..count().min(host_cpus().len())]
        .iter()
        .enumerate()
    {
        if h < VVAR_HOST_CPUS {
            t[h] = i as u16 + 1;
        }
    }
    t
}

thread_local! {
    /// The sandbox CPU mask this worker thread is pinned to (0: not
    /// pinned, the sentry's whole affinity).
    static PINNED: Cell<u64> = const { Cell::new(0) };
}

/// The environment variable that turns [`fork_hint`] on (`1`).
pub const FORK_SAME_CPU_ENV: &str = "SENTRY_FORK_SAME_CPU";

/// At fork, on the parent's thread, when [`FORK_SAME_CPU_ENV`] is `1`:
/// the child runs its first stay in the guest on the parent's CPU (its
/// worker is pinned there by [`follow`] until its first trap, unless the
/// child has an affinity of its own). The parent of the common fork +
/// `_exit` + wait sequence blocks in wait while the child runs, and the
/// child's exit wakes it: on one CPU that wake-up is not a cross-CPU one.
/// Off by default: it paid on an Intel host shared with five other
/// sessions (0.89 ms instead of 1.59 ms per fork + `_exit` + waitpid on
/// KVM, medians of 10 alternating runs at load 12-16), but on the AMD
/// host of the seccomp issue, with the other CPU free, its two
/// `sched_setaffinity` calls per fork (each a migration; on the seccomp
/// platform the stub thread follows with two more) cost more than the
/// wake-up they save: medians of the per-round ratios to native over 11
/// interleaved rounds, KVM 3.02x with it against 2.66x without, seccomp
/// 2.32x against 1.57x (benches/RESULTS.md).
pub fn fork_hint(child: &Task) {
    static ON: OnceLock<bool> = OnceLock::new();
    if !*ON.get_or_init(|| std::env::var_os(FORK_SAME_CPU_ENV).is_some_and(|v| v == "1")) {
        return;
    }
    if let Some(cpu) = current() {
        child.sched.start_cpu.store(cpu + 1, Ordering::Relaxed);
    }
}

/// On the task's worker thread, before it enters the guest: pins the
/// thread to the host CPUs of the task's allowed CPUs, or unpins it when
/// every CPU is allowed (a pooled worker that ran a pinned task before).
/// A host call only when the mask changed.
pub fn follow(task: &Task) {
    let all = if count() >= 64 {
        u64::MAX
    } else {
        (1u64 << count()) - 1
    };
    let mut want = match task.sched.affinity() & all {
        m if m == all => 0,
        m => m,
    };
    // A new process's first stay runs where its parent forked it.
    let hint = task.sched.start_cpu.swap(0, Ordering::Relaxed);
    if hint != 0 && want == 0 && hint <= 64 {
        want = 1 << (hint - 1);
    }
    if PINNED.with(Cell::get) == want {
        return;
    }
    let mut set = rustix::thread::CpuSet::new();
    for (i, &h) in host_cpus().iter().enumerate() {
        if want == 0 || (i < 64 && want & (1 << i) != 0) {
            set.set(h);
        }
    }
    match rustix::thread::sched_setaffinity(None, &set) {
        Ok(()) => {
            // Guest code this worker drives elsewhere (a seccomp stub
            // thread) follows it: the host CPUs as a mask, 0 for every CPU
            // (also when one is past what the mask holds).
            let mut mask = 0u64;
            for (i, &h) in host_cpus().iter().enumerate().take(64) {
                if want & (1 << i) != 0 {
                    if h >= 64 {
                        mask = 0;
                        break;
                    }
                    mask |= 1 << h;
                }
            }
            platform::host::note_thread_affinity(mask);
        }
        Err(e) => tracing::debug!("task {}: cannot pin its worker: {e}", task.tid),
    }
    // Not retried after a failure: one host call per change.
    PINNED.with(|p| p.set(want));
    note(task);
}

/// Records the CPU the task's worker is on now as the task's last CPU.
pub fn note(task: &Task) {
    if let Some(cpu) = current() {
        task.sched
            .last_cpu
            .store(cpu, std::sync::atomic::Ordering::Relaxed);
    }
}

//! The out-of-memory killer: when a guest page fault cannot get a frame
//! under the memory cap, pick a victim as Linux's OOM killer does (the
//! process holding the most memory, resident frames plus page tables;
//! never the sandbox's init while another process can go) and kill it with
//! SIGKILL.
//!
//! `oom_score_adj` is not taken into account: the sandbox has no writable
//! `/proc/<pid>/oom_score_adj` yet, so every process has the default 0 and
//! the choice is by resident size alone (Linux's badness with adj 0).
//!
//! While a victim is dying (until its process is a zombie) no second
//! victim is chosen: the faulting task waits a little and retries, as
//! Linux's OOM killer backs off while an earlier victim is exiting. If the
//! victim has not let go after [`VICTIM_GRACE`], another is chosen.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::Kernel;
use super::exit::GroupState;
use super::process::send_to_group;
use super::signal::{SigInfo, Signal};
use super::task::{Task, ThreadGroup};
use crate::mm::AddressSpace;

/// How long a victim may take to release its memory before another one is
/// chosen.
const VICTIM_GRACE: Duration = Duration::from_secs(2);

/// The last victim and when it was killed.
#[derive(Default)]
pub struct OomState {
    last: Mutex<Option<(Arc<ThreadGroup>, Instant)>>,
}

/// What the faulting task should do.
#[derive(Debug, PartialEq, Eq)]
pub enum OomOutcome {
    /// Another process was killed (or is still dying): retry the fault
    /// after a short pause.
    Retry,
    /// The faulting process itself is the victim (it was sent SIGKILL).
    KilledSelf,
}

/// A live process and its address space.
struct Candidate {
    tg: Arc<ThreadGroup>,
    mm: Arc<AddressSpace>,
}

fn live_mm(tg: &ThreadGroup) -> Option<Arc<AddressSpace>> {
    tg.threads
        .lock()
        .iter()
        .find_map(|t: &Arc<Task>| t.mm.lock().clone())
}

/// Handles an out-of-memory fault of `task`.
pub fn out_of_memory(task: &Arc<Task>) -> OomOutcome {
    let kernel: &Arc<Kernel> = &task.kernel;
    let mut last = kernel.oom.last.lock();
    // The victim is still dying until its group is a zombie: its last
    // thread leaves the thread list before it releases its address space,
    // so an empty thread list does not yet mean the memory is back.
    if let Some((tg, when)) = last.as_ref()
        && when.elapsed() < VICTIM_GRACE
        && !matches!(
            tg.exit_state(),
            GroupState::Zombie { .. } | GroupState::Reaped { .. }
        )
    {
        return if Arc::ptr_eq(tg, &task.tg) {
            OomOutcome::KilledSelf
        } else {
            OomOutcome::Retry
        };
    }
    let candidates: Vec<Candidate> = {
        let table = kernel.table.lock();
        table
            .procs
            .values()
            .filter(|p| !p.tg.is_exiting())
            .map(|p| Arc::clone(&p.tg))
            .collect::<Vec<_>>()
    }
    .into_iter()
    .filter_map(|tg| live_mm(&tg).map(|mm| Candidate { tg, mm }))
    .collect();
    // Processes sharing an address space (vfork) count it once each, as
    // Linux's per-process RSS does; init is spared while anything else can
    // go (Linux never picks the global init).
    let victim = candidates
        .iter()
        .filter(|c| c.tg.tgid != 1)
        .map(|c| (c.mm.resident_pages(), c.mm.table_frames(), c))
        .max_by_key(|(rss, tables, c)| (*rss + *tables, std::cmp::Reverse(c.tg.tgid)))
        .map(|(rss, _, c)| (rss, Arc::clone(&c.tg), Arc::clone(&c.mm)));
    let (rss, tg, mm) = match victim {
        Some(v) => v,
        None => {
            let mm = task.mm();
            (mm.resident_pages(), Arc::clone(&task.tg), mm)
        }
    };
    let comm = comm_of(&mm.exe());
    tracing::warn!(
        "out of guest memory: killed process {} ({comm:?}), resident {} KiB",
        tg.tgid,
        rss * (platform::PAGE_SIZE as usize) / 1024
    );
    send_to_group(kernel, &tg, SigInfo::kernel(Signal::SIGKILL));
    *last = Some((Arc::clone(&tg), Instant::now()));
    if Arc::ptr_eq(&tg, &task.tg) {
        OomOutcome::KilledSelf
    } else {
        OomOutcome::Retry
    }
}

/// Linux's `comm`: the program's base name, at most 15 bytes.
fn comm_of(exe: &[u8]) -> String {
    let base = exe.rsplit(|b| *b == b'/').next().unwrap_or(exe);
    String::from_utf8_lossy(&base[..base.len().min(15)]).into_owned()
}

#[cfg(test)]
mod tests {
    use super::comm_of;

    #[test]
    fn comm_is_the_short_base_name() {
        assert_eq!(
            comm_of(b"/usr/bin/a-very-long-program-name"),
            "a-very-long-pro"
        );
        assert_eq!(comm_of(b"hello"), "hello");
    }
}

//! signalfd, as Linux's fs/signalfd.c: reading takes the reader's pending
//! signals that are in the file's mask (its own first, then its
//! process's), each as a 128-byte `struct signalfd_siginfo`.
//!
//! Readiness is that of the thread that polls (Linux's signalfd_poll
//! looks at `current`): [`FileOps::poll`] has no caller argument, so the
//! task a worker thread runs is kept in a thread-local ([`running`]). A
//! queued signal wakes the threads of its target, so a poll or epoll_wait
//! in the receiving thread notices it.

use std::cell::RefCell;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::{FileOps, poll};
use crate::errno::Errno;
use crate::kernel::signal::{SigInfo, SigSet, code, sig};
use crate::kernel::task::{Task, dequeue_masked};
use crate::kernel::wait::{Blocker, WaitQueue};

/// Size of `struct signalfd_siginfo`.
pub const SIGINFO_SIZE: usize = 128;

thread_local! {
    /// The task this host thread runs (a worker runs one at a time).
    static CURRENT: RefCell<Weak<Task>> = const { RefCell::new(Weak::new()) };
}

/// Notes that this host thread now runs `task`: a signalfd it polls shows
/// that task's pending signals.
pub fn running(task: &Arc<Task>) {
    CURRENT.with(|c| *c.borrow_mut() = Arc::downgrade(task));
}

/// The task this host thread runs, if any.
pub fn current_task() -> Option<Arc<Task>> {
    CURRENT.with(|c| c.borrow().upgrade())
}

/// A signalfd.
pub struct SignalFd {
    mask: Mutex<SigSet>,
    creator: Weak<Task>,
}

/// Linux's `siginfo_layout`, as far as signalfd_copyinfo tells them apart.
enum Layout {
    Kill,
    Timer,
    Poll,
    Fault,
    Chld,
    Rt,
    Sys,
}

fn layout(signo: i32, c: i32) -> Layout {
    const SI_TIMER: i32 = -2;
    const SI_SIGIO: i32 = -5;
    const NSIGPOLL: i32 = 6;
    if c > code::SI_USER && c < code::SI_KERNEL {
        match signo {
            sig::SIGILL | sig::SIGFPE | sig::SIGSEGV | sig::SIGBUS | sig::SIGTRAP => Layout::Fault,
            sig::SIGCHLD if c <= 6 => Layout::Chld,
            sig::SIGSYS if c <= 1 => Layout::Sys,
            _ if c <= NSIGPOLL => Layout::Poll,
            _ => Layout::Kill,
        }
    } else if c == SI_TIMER {
        Layout::Timer
    } else if c == SI_SIGIO {
        Layout::Poll
    } else if c < 0 {
        Layout::Rt
    } else {
        Layout::Kill
    }
}

/// Encodes `info` as a `struct signalfd_siginfo` (signalfd_copyinfo).
pub fn encode(info: &SigInfo) -> [u8; SIGINFO_SIZE] {
    let mut b = [0u8; SIGINFO_SIZE];
    let lo = |w: u64| (w as u32).to_le_bytes();
    let hi = |w: u64| ((w >> 32) as u32).to_le_bytes();
    let d = &info.data;
    b[0..4].copy_from_slice(&info.signo.to_le_bytes());
    b[4..8].copy_from_slice(&info.errno.to_le_bytes());
    b[8..12].copy_from_slice(&info.code.to_le_bytes());
    let mut put = |off: usize, v: &[u8]| b[off..off + v.len()].copy_from_slice(v);
    match layout(info.signo, info.code) {
        Layout::Kill => {
            put(12, &lo(d[0]));
            put(16, &hi(d[0]));
        }
        Layout::Timer => {
            put(24, &lo(d[0])); // ssi_tid: the timer id
            put(32, &hi(d[0])); // ssi_overrun
            put(48, &d[1].to_le_bytes()); // ssi_ptr
            put(44, &lo(d[1])); // ssi_int
        }
        Layout::Poll => {
            put(28, &lo(d[0])); // ssi_band
            put(20, &lo(d[1])); // ssi_fd
        }
        Layout::Fault => {
            put(72, &d[0].to_le_bytes());
        }
        Layout::Chld => {
            put(12, &lo(d[0]));
            put(16, &hi(d[0]));
            put(40, &lo(d[1])); // ssi_status
            put(56, &d[2].to_le_bytes()); // ssi_utime
            put(64, &d[3].to_le_bytes()); // ssi_stime
        }
        Layout::Rt => {
            put(12, &lo(d[0]));
            put(16, &hi(d[0]));
            put(48, &d[1].to_le_bytes());
            put(44, &lo(d[1]));
        }
        Layout::Sys => {
            put(88, &d[0].to_le_bytes()); // ssi_call_addr
            put(84, &lo(d[1])); // ssi_syscall
            put(96, &hi(d[1])); // ssi_arch
        }
    }
    b
}

impl SignalFd {
    /// A signalfd for `mask` (SIGKILL and SIGSTOP are dropped), created
    /// by `creator`.
    pub fn new(mask: SigSet, creator: Weak<Task>) -> Self {
        Self {
            mask: Mutex::new(mask.unblockable_removed()),
            creator,
        }
    }

    /// signalfd on an existing descriptor: replaces the mask.
    pub fn set_mask(&self, mask: SigSet) {
        *self.mask.lock() = mask.unblockable_removed();
    }

    fn take(&self, task: &Task) -> Option<SigInfo> {
        let mask = *self.mask.lock();
        dequeue_masked(task, SigSet(!mask.0))
    }
}

impl FileOps for SignalFd {
    /// signalfd_read: EINVAL below 128 bytes; as many signals as fit,
    /// waiting (unless `nonblock`) only for the first.
    fn read(&self, buf: &mut [u8], nonblock: bool, blocker: &dyn Blocker) -> Result<usize, Errno> {
        let n = buf.len() / SIGINFO_SIZE;
        if n == 0 {
            return Err(Errno::EINVAL);
        }
        let creator = self.creator.upgrade();
        let Some(task) = blocker.task().or(creator.as_deref()) else {
            return Err(Errno::EAGAIN);
        };
        let mut done = 0;
        // A queued signal notifies the target threads' waiters, which is
        // what this queue's guard sleeps on.
        let idle = WaitQueue::default();
        loop {
            let guard = idle.prepare(blocker);
            while done < n {
                let Some(info) = self.take(task) else { break };
                buf[done * SIGINFO_SIZE..(done + 1) * SIGINFO_SIZE].copy_from_slice(&encode(&info));
                done += 1;
            }
            if done > 0 {
                return Ok(done * SIGINFO_SIZE);
            }
            if nonblock {
                return Err(Errno::EAGAIN);
            }
            guard.sleep(None)?;
        }
    }

    /// signalfd_poll: POLLIN while the polling thread (or its process)
    /// has a signal of the mask pending; outside a task's thread, the
    /// creator's.
    fn poll(&self) -> u16 {
        let current = CURRENT.with(|c| c.borrow().upgrade());
        let Some(task) = current.or_else(|| self.creator.upgrade()) else {
            return 0;
        };
        let mask = self.mask.lock().0;
        let pending = task.sig.lock().pending.set().0 | task.tg.shared_pending.lock().set().0;
        if pending & mask != 0 { poll::POLLIN } else { 0 }
    }

    /// Signals queued for the polling thread and its process (Linux
    /// wakes a signalfd's waiters each time one is queued).
    fn events(&self) -> Option<(u64, u64)> {
        let current = CURRENT.with(|c| c.borrow().upgrade());
        let task = current.or_else(|| self.creator.upgrade())?;
        let own = task.sig.lock().pending.pushed();
        let shared = task.tg.shared_pending.lock().pushed();
        Some((own.wrapping_add(shared), 0))
    }

    fn describe(&self) -> String {
        "anon_inode:[signalfd]".into()
    }

    fn fdinfo(&self) -> String {
        format!("sigmask:\t{:016x}\n", self.mask.lock().0)
    }

    fn as_signalfd(&self) -> Option<&SignalFd> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_queued_signal_fills_pid_uid_int_and_ptr() {
        let mut info = SigInfo {
            signo: 10,
            code: code::SI_QUEUE,
            ..Default::default()
        };
        info.data[0] = 7 | (1000 << 32);
        info.data[1] = 0x1234_5678_9abc;
        let b = encode(&info);
        assert_eq!(&b[0..4], &10i32.to_le_bytes());
        assert_eq!(&b[12..16], &7u32.to_le_bytes());
        assert_eq!(&b[16..20], &1000u32.to_le_bytes());
        assert_eq!(&b[44..48], &0x5678_9abcu32.to_le_bytes());
        assert_eq!(&b[48..56], &0x1234_5678_9abcu64.to_le_bytes());
    }
}

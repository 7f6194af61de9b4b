//! pidfds: a descriptor that names a process (or, with PIDFD_THREAD, a
//! thread). It polls readable once the process has exited, and hung up
//! once it has been reaped.

use std::sync::{Arc, Weak};

use super::{FdTable, FileOps, O_NONBLOCK, OpenFile, poll};
use crate::errno::Errno;
use crate::kernel::{Kernel, ThreadGroup};

/// PIDFD_THREAD (O_EXCL).
pub const PIDFD_THREAD: u32 = 0o200;

/// A pidfd.
pub struct PidFd {
    kernel: Weak<Kernel>,
    /// The pid (or tid) it names.
    pub pid: i32,
    /// The process, to tell it from a later process with a reused pid.
    tg: Weak<ThreadGroup>,
    /// Whether it names a thread (PIDFD_THREAD).
    pub thread: bool,
}

/// What became of the process a pidfd names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PidState {
    /// Still running.
    Running,
    /// Exited, not reaped.
    Zombie,
    /// Gone.
    Reaped,
}

impl PidFd {
    /// A pidfd for `pid` of `tg`.
    pub fn new(kernel: &Arc<Kernel>, pid: i32, tg: &Arc<ThreadGroup>, thread: bool) -> Self {
        Self {
            kernel: Arc::downgrade(kernel),
            pid,
            tg: Arc::downgrade(tg),
            thread,
        }
    }

    /// The process, if it has not been reaped.
    pub fn thread_group(&self) -> Option<Arc<ThreadGroup>> {
        self.tg.upgrade()
    }

    /// The state of what it names.
    pub fn state(&self) -> PidState {
        let Some(kernel) = self.kernel.upgrade() else {
            return PidState::Reaped;
        };
        let Some(tg) = self.tg.upgrade() else {
            return PidState::Reaped;
        };
        let table = kernel.table.lock();
        if self.thread {
            if table
                .tasks
                .get(&self.pid)
                .is_some_and(|t| Arc::ptr_eq(&t.tg, &tg))
            {
                return PidState::Running;
            }
            return match table.procs.get(&tg.tgid) {
                Some(_) => PidState::Zombie,
                None => PidState::Reaped,
            };
        }
        match table.procs.get(&self.pid) {
            Some(p) if Arc::ptr_eq(&p.tg, &tg) => {
                if p.tg.zombie_status().is_some() {
                    PidState::Zombie
                } else {
                    PidState::Running
                }
            }
            _ => PidState::Reaped,
        }
    }
}

/// Opens a pidfd for `pid` of `tg` in `files` (always close-on-exec), for
/// pidfd_open and CLONE_PIDFD; `flags` may hold O_NONBLOCK and
/// PIDFD_THREAD.
pub fn install(
    files: &FdTable,
    kernel: &Arc<Kernel>,
    pid: i32,
    tg: &Arc<ThreadGroup>,
    flags: u32,
) -> Result<i32, Errno> {
    let f = PidFd::new(kernel, pid, tg, flags & PIDFD_THREAD != 0);
    let status = 2 | (flags & (O_NONBLOCK | PIDFD_THREAD));
    files.insert(OpenFile::new(Box::new(f), status), true, 0)
}

impl FileOps for PidFd {
    fn poll(&self) -> u16 {
        match self.state() {
            PidState::Running => 0,
            PidState::Zombie => poll::POLLIN,
            PidState::Reaped => poll::POLLIN | poll::POLLHUP,
        }
    }

    fn describe(&self) -> String {
        format!("anon_inode:[pidfd] pid {}", self.pid)
    }

    fn as_pidfd(&self) -> Option<&PidFd> {
        Some(self)
    }

    fn link_target(&self) -> String {
        "anon_inode:[pidfd]".into()
    }

    fn fdinfo(&self) -> String {
        // Linux's pidfd_show_fdinfo: the pid while a task is attached to it
        // (a zombie process still has its leader; an exited thread has
        // none), -1 after.
        let nr = match (self.state(), self.thread) {
            (PidState::Running, _) | (PidState::Zombie, false) => self.pid,
            _ => -1,
        };
        format!("Pid:\t{nr}\nNSpid:\t{nr}\n")
    }
}

//! Named pipes: a FIFO found in the root filesystem is never opened on the
//! host. Opening it gives an end of a sandbox-internal pipe
//! ([`super::pipe`]), found in the kernel's [`FifoTable`] by the host
//! inode's (device, inode), so every guest path to the same FIFO (a
//! symbolic link, `..`) meets the same pipe.
//!
//! The rules are Linux's `fifo_open` (fs/pipe.c):
//!
//! * `O_RDONLY` waits until a writer has opened (the write counter moves),
//!   unless one has it open already; with `O_NONBLOCK` it succeeds at once
//!   and hides POLLHUP until a writer has come;
//! * `O_WRONLY` waits likewise for a reader; with `O_NONBLOCK` and no
//!   reader it fails with ENXIO;
//! * `O_RDWR` never waits; access mode 3 is EINVAL;
//! * an opener counts as a reader or writer while it waits (so the partner
//!   it waits for, even a non-blocking one, finds it), and a signal
//!   interrupts the wait (ERESTARTSYS: restarted under SA_RESTART, else
//!   EINTR), as does a kill;
//! * the pipe and its data live while any end is open: the last close
//!   drops the entry and frees its buffers (their pages were charged to
//!   `--memory`), as Linux frees a FIFO's `pipe_inode_info`.
//!
//! Two sandboxes never share a FIFO, and nothing reaches the host's pipe.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::{Mutex, MutexGuard};
use platform::Platform;

use super::Stat;
use super::pipe::{Pipe, PipeEnd};
use crate::errno::Errno;
use crate::kernel::wait::{Blocker, WaitQueue};

/// A host FIFO's identity: (device, inode).
pub type FifoKey = (u64, u64);

type Map = HashMap<FifoKey, Arc<Pipe>>;

/// The FIFOs some end of which is open (or being opened), by host inode.
#[derive(Default)]
pub struct FifoTable {
    map: Mutex<Map>,
}

/// What an end of a FIFO knows of it: its registry entry, and what fstat
/// and traces show.
pub(super) struct FifoLink {
    table: Arc<FifoTable>,
    key: FifoKey,
    /// The host inode's stat when it was looked up (S_IFIFO, its mode,
    /// owner, device and inode).
    stat: Stat,
    /// The guest path it was opened by.
    name: Vec<u8>,
}

impl FifoLink {
    /// Locks the registry (before the pipe's state: see `fs`'s lock order).
    pub(super) fn lock(&self) -> MutexGuard<'_, Map> {
        self.table.map.lock()
    }

    /// Drops the entry of `pipe` (its last end is closing).
    pub(super) fn forget(&self, map: &mut Map, pipe: &Arc<Pipe>) {
        if map.get(&self.key).is_some_and(|p| Arc::ptr_eq(p, pipe)) {
            map.remove(&self.key);
        }
    }

    /// What fstat shows.
    pub(super) fn stat(&self) -> Stat {
        self.stat
    }

    /// The name for traces.
    pub(super) fn describe(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// The partner an opener waits for.
enum Partner {
    /// A writer: the write counter must move past this.
    Writer(u64),
    /// A reader: the read counter must move past this.
    Reader(u64),
}

impl FifoTable {
    /// An empty table.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// How many FIFOs have an open end (or an opener waiting).
    pub fn len(&self) -> usize {
        self.map.lock().len()
    }

    /// Whether no FIFO is open.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// fifo_open: opens the FIFO `key` (whose host stat is `stat`, reached
    /// by the guest path `name`) with access mode `accmode` (0, 1 or 2),
    /// sleeping through `blocker` until the partner comes unless
    /// `nonblock`. New pipes charge their pages to `machine` and wake
    /// `readiness` (the kernel's poll and epoll sleepers).
    #[allow(clippy::too_many_arguments)]
    pub fn open(
        self: &Arc<Self>,
        key: FifoKey,
        stat: Stat,
        name: Vec<u8>,
        accmode: u32,
        nonblock: bool,
        machine: &Arc<dyn Platform>,
        readiness: &Arc<WaitQueue>,
        blocker: &dyn Blocker,
    ) -> Result<PipeEnd, Errno> {
        let (read, write) = match accmode {
            0 => (true, false),
            1 => (false, true),
            2 => (true, true),
            _ => return Err(Errno::EINVAL),
        };
        let mut map = self.map.lock();
        let pipe = match map.get(&key) {
            Some(p) => Arc::clone(p),
            None if write && !read && nonblock => return Err(Errno::ENXIO),
            None => {
                let p = Pipe::new(0, Arc::clone(machine), Arc::clone(readiness));
                map.insert(key, Arc::clone(&p));
                p
            }
        };
        let mut hup_hidden_at = None;
        let wait = {
            let mut st = pipe.state.lock();
            if write && !read && nonblock && st.readers == 0 {
                // Only writers have it open: nothing was counted.
                return Err(Errno::ENXIO);
            }
            if read {
                st.r_counter += 1;
                st.readers += 1;
            }
            if write {
                st.w_counter += 1;
                st.writers += 1;
            }
            match (read, write) {
                (true, false) if st.writers == 0 => {
                    if nonblock {
                        // Suppress POLLHUP until a writer has been seen.
                        hup_hidden_at = Some(st.w_counter);
                        None
                    } else {
                        Some(Partner::Writer(st.w_counter))
                    }
                }
                (false, true) if st.readers == 0 => Some(Partner::Reader(st.r_counter)),
                _ => None,
            }
        };
        drop(map);
        // Wake openers waiting for this one, and pollers whose readiness
        // changed (a writer's POLLERR, a reader's POLLHUP).
        pipe.readable.notify_all();
        pipe.writable.notify_all();
        pipe.readiness.notify_all();
        let link = FifoLink {
            table: Arc::clone(self),
            key,
            stat,
            name,
        };
        // From here on, dropping `end` undoes the count (an interrupted
        // wait: Linux's err_rd / err_wr).
        let end = PipeEnd::counted(pipe, read, write, hup_hidden_at, link);
        if let Some(partner) = wait {
            let pipe = Arc::clone(end.pipe());
            loop {
                let queue = match partner {
                    Partner::Writer(_) => &pipe.readable,
                    Partner::Reader(_) => &pipe.writable,
                };
                let guard = queue.prepare(blocker);
                let came = || {
                    let st = pipe.state.lock();
                    match partner {
                        Partner::Writer(at) => st.w_counter != at,
                        Partner::Reader(at) => st.r_counter != at,
                    }
                };
                if came() {
                    break;
                }
                // A partner that came together with a signal wins, as in
                // Linux's wait_for_partner: the open succeeds.
                if let Err(e) = guard.sleep(None) {
                    if came() {
                        break;
                    }
                    return Err(e);
                }
            }
        }
        Ok(end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::FileOps;
    use crate::kernel::wait::Waiter;
    use platform::PlatformConfig;

    /// A sleeper that a signal is pending for whenever it would sleep.
    struct Interrupted(Arc<Waiter>);

    impl Blocker for Interrupted {
        fn waiter(&self) -> &Arc<Waiter> {
            &self.0
        }
        fn check_interrupt(&self) -> Result<(), Errno> {
            Err(Errno::ERESTARTSYS)
        }
    }

    fn fifo_stat(ino: u64) -> Stat {
        Stat {
            mode: 0o010640,
            ino,
            ..Default::default()
        }
    }

    /// Every way out of an open (last close, a failed or interrupted open)
    /// leaves no entry and no charged page behind.
    #[test]
    fn entries_and_pages_go_with_the_last_end() {
        let machine: Arc<dyn Platform> = Arc::new(
            platform::fake::Fake::new(PlatformConfig {
                memory_limit: 16 << 20,
            })
            .expect("a fake platform"),
        );
        let used = || machine.frames().data_bytes_in_use();
        let base = used();
        let table = FifoTable::new();
        let readiness = Arc::new(WaitQueue::default());
        let b = Interrupted(Arc::default());
        let open = |ino, mode, nonblock| {
            table.open(
                (1, ino),
                fifo_stat(ino),
                b"/f".to_vec(),
                mode,
                nonblock,
                &machine,
                &readiness,
                &b,
            )
        };
        // Nothing is created by a failing open.
        assert_eq!(open(1, 1, true).err(), Some(Errno::ENXIO));
        assert_eq!(open(1, 3, true).err(), Some(Errno::EINVAL));
        // An interrupted blocking open undoes its count and its entry.
        assert_eq!(open(1, 0, false).err(), Some(Errno::ERESTARTSYS));
        assert_eq!(open(1, 1, false).err(), Some(Errno::ERESTARTSYS));
        assert!(table.is_empty());
        // Two opens of one inode meet; another inode is another pipe.
        let rw = open(1, 2, false).expect("O_RDWR never waits");
        let r = open(1, 0, true).expect("O_RDONLY|O_NONBLOCK");
        let other = open(2, 0, true).expect("another FIFO");
        assert_eq!(table.len(), 2);
        assert_eq!(rw.write(&[7; 65536], true, &b), Ok(65536));
        assert_eq!(used(), base + 65536);
        assert_eq!(rw.stat().mode, 0o010640);
        drop(rw);
        // A reader is still open: the data stays, then EOF.
        let mut buf = [0u8; 4096];
        assert_eq!(r.read(&mut buf, true, &b), Ok(4096));
        assert_eq!(buf[0], 7);
        drop(r);
        assert_eq!(table.len(), 1);
        assert_eq!(used(), base);
        drop(other);
        assert!(table.is_empty());
    }
}

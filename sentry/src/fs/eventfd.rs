//! eventfd, as Linux's fs/eventfd.c: a 64-bit counter that reads take
//! (all of it, or one with `EFD_SEMAPHORE`) and writes add to, blocking a
//! reader while it is zero and a writer while the sum would pass
//! `u64::MAX - 1`. Every change wakes the kernel's readiness queue, so
//! poll, select and epoll see it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use parking_lot::Mutex;

use super::{FileOps, Stat, poll};
use crate::errno::Errno;
use crate::kernel::wait::{Blocker, WaitQueue};

/// `EFD_SEMAPHORE`: a read takes 1, not the whole count.
pub const EFD_SEMAPHORE: u32 = 1;

/// Largest count an eventfd holds (`ULLONG_MAX - 1`).
const MAX: u64 = u64::MAX - 1;

/// Linux's `eventfd_ida`: the id shown in fdinfo.
static NEXT_ID: AtomicU32 = AtomicU32::new(0);

/// An eventfd.
pub struct EventFd {
    count: Mutex<u64>,
    semaphore: bool,
    id: u32,
    /// Woken when the count changes (readers and writers both wait here).
    changed: WaitQueue,
    /// The kernel's readiness queue (poll and epoll sleepers).
    readiness: Arc<WaitQueue>,
    /// Edges for EPOLLET: writes (input) and reads (output).
    edges: [AtomicU64; 2],
}

impl EventFd {
    /// A new eventfd holding `initval`, whose changes wake `readiness`.
    pub fn new(initval: u32, semaphore: bool, readiness: Arc<WaitQueue>) -> Self {
        Self {
            count: Mutex::new(u64::from(initval)),
            semaphore,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            changed: WaitQueue::default(),
            readiness,
            edges: Default::default(),
        }
    }

    /// Wakes sleepers after a read (`dir` 1: room) or a write (0: data).
    fn wake(&self, dir: usize) {
        self.edges[dir].fetch_add(1, Ordering::SeqCst);
        self.changed.notify_all();
        self.readiness.notify_all();
    }
}

impl FileOps for EventFd {
    /// eventfd_read: EINVAL for fewer than 8 bytes; takes the count (or
    /// 1), waiting while it is zero.
    fn read(&self, buf: &mut [u8], nonblock: bool, blocker: &dyn Blocker) -> Result<usize, Errno> {
        if buf.len() < 8 {
            return Err(Errno::EINVAL);
        }
        loop {
            let guard = self.changed.prepare(blocker);
            {
                let mut count = self.count.lock();
                if *count > 0 {
                    let took = if self.semaphore { 1 } else { *count };
                    *count -= took;
                    drop(count);
                    buf[..8].copy_from_slice(&took.to_ne_bytes());
                    self.wake(1);
                    return Ok(8);
                }
            }
            if nonblock {
                return Err(Errno::EAGAIN);
            }
            guard.sleep(None)?;
        }
    }

    /// eventfd_write: EINVAL for fewer than 8 bytes or `u64::MAX`; adds,
    /// waiting while the sum would pass `u64::MAX - 1`.
    fn write(&self, buf: &[u8], nonblock: bool, blocker: &dyn Blocker) -> Result<usize, Errno> {
        if buf.len() < 8 {
            return Err(Errno::EINVAL);
        }
        let add = u64::from_ne_bytes(buf[..8].try_into().expect("8 bytes"));
        if add == u64::MAX {
            return Err(Errno::EINVAL);
        }
        loop {
            let guard = self.changed.prepare(blocker);
            {
                let mut count = self.count.lock();
                if MAX - *count >= add {
                    *count += add;
                    drop(count);
                    if add > 0 {
                        self.wake(0);
                    }
                    return Ok(8);
                }
            }
            if nonblock {
                return Err(Errno::EAGAIN);
            }
            guard.sleep(None)?;
        }
    }

    /// eventfd_poll: POLLIN with a count, POLLOUT while 1 more fits.
    fn poll(&self) -> u16 {
        let count = *self.count.lock();
        let mut m = 0;
        if count > 0 {
            m |= poll::POLLIN;
        }
        if count < MAX {
            m |= poll::POLLOUT;
        }
        m
    }

    fn events(&self) -> Option<(u64, u64)> {
        Some((
            self.edges[0].load(Ordering::SeqCst),
            self.edges[1].load(Ordering::SeqCst),
        ))
    }

    fn stat(&self) -> Stat {
        Stat {
            mode: 0o600,
            nlink: 1,
            blksize: 4096,
            ..Default::default()
        }
    }

    fn describe(&self) -> String {
        "anon_inode:[eventfd]".into()
    }

    fn fdinfo(&self) -> String {
        format!(
            "eventfd-count: {:16x}\neventfd-id: {}\neventfd-semaphore: {}\n",
            *self.count.lock(),
            self.id,
            u8::from(self.semaphore)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_bits_follow_the_count() {
        let e = EventFd::new(0, false, Arc::default());
        assert_eq!(e.poll(), poll::POLLOUT);
        *e.count.lock() = MAX;
        assert_eq!(e.poll(), poll::POLLIN);
        assert!(e.fdinfo().starts_with("eventfd-count: fffffffffffffffe\n"));
    }
}

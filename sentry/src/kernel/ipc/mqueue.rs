//! POSIX message queues, as Linux's ipc/mqueue.c: named queues of
//! prioritized messages (highest priority first, oldest first within one),
//! opened as descriptors that poll (POLLIN with a message, POLLOUT with
//! room) and read as the one status line Linux shows (`QSIZE:...`).
//!
//! Limits are Linux's defaults, shown in /proc/sys/fs/mqueue: a queue holds
//! at most `msg_max` messages of `msgsize_max` bytes unless the creator has
//! CAP_SYS_RESOURCE (then up to the hard limits); `queues_max` queues
//! (again unless CAP_SYS_RESOURCE); and every queue's worst-case size counts
//! against the creator's RLIMIT_MSGQUEUE, as Linux's `mq_bytes` (EMFILE).
//! That bound is what limits the sentry memory messages use: like SysV
//! message queues, they are not charged to `--memory`.
//!
//! The queues live in one namespace per sandbox.

use std::collections::{BTreeMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use crate::errno::Errno;
use crate::fs::{FileOps, Stat, poll};
use crate::kernel::task::ThreadGroup;
use crate::kernel::wait::{Blocker, WaitQueue};

/// `/proc/sys/fs/mqueue/msg_max` (Linux's default).
pub const MSG_MAX: i64 = 10;
/// `/proc/sys/fs/mqueue/msgsize_max`.
pub const MSGSIZE_MAX: i64 = 8192;
/// `/proc/sys/fs/mqueue/msg_default`.
pub const MSG_DEFAULT: i64 = 10;
/// `/proc/sys/fs/mqueue/msgsize_default`.
pub const MSGSIZE_DEFAULT: i64 = 8192;
/// `/proc/sys/fs/mqueue/queues_max`.
pub const QUEUES_MAX: usize = 256;
/// HARD_MSGMAX: the most messages even with CAP_SYS_RESOURCE.
pub const HARD_MSGMAX: i64 = 65536;
/// HARD_MSGSIZEMAX: the largest message even with CAP_SYS_RESOURCE.
pub const HARD_MSGSIZEMAX: i64 = 16 * 1024 * 1024;
/// Priorities are below this.
pub const MQ_PRIO_MAX: u32 = 32768;
/// Longest name (NAME_MAX).
pub const NAME_MAX: usize = 255;

/// `sigev_notify` values.
pub const SIGEV_SIGNAL: i32 = 0;
/// No notification (but the registration is taken).
pub const SIGEV_NONE: i32 = 1;
/// A thread (glibc: through a netlink socket).
pub const SIGEV_THREAD: i32 = 2;
/// `si_code` of a message-queue notification.
pub const SI_MESGQ: i32 = -3;

/// The text of `/proc/sys/fs/mqueue/NAME`.
pub fn sysctl(name: &[u8]) -> Option<String> {
    let v = match name {
        b"msg_max" => MSG_MAX,
        b"msgsize_max" => MSGSIZE_MAX,
        b"msg_default" => MSG_DEFAULT,
        b"msgsize_default" => MSGSIZE_DEFAULT,
        b"queues_max" => QUEUES_MAX as i64,
        _ => return None,
    };
    Some(format!("{v}\n"))
}

/// Linux's accounting of a queue against RLIMIT_MSGQUEUE: the messages at
/// their largest plus the kernel's per-message (`struct msg_msg`, 48
/// bytes) and per-priority (`struct posix_msg_tree_node`, 48 bytes) costs.
pub fn charge(maxmsg: i64, msgsize: i64) -> Option<u64> {
    let (maxmsg, msgsize) = (maxmsg as u64, msgsize as u64);
    let tree = maxmsg * 48 + maxmsg.min(u64::from(MQ_PRIO_MAX)) * 48;
    maxmsg.checked_mul(msgsize)?.checked_add(tree)
}

/// A registered notification (mq_notify).
pub struct Notify {
    /// The process to signal.
    pub tg: Weak<ThreadGroup>,
    /// Its pid (NOTIFY_PID).
    pub pid: i32,
    /// SIGEV_SIGNAL or SIGEV_NONE.
    pub how: i32,
    /// The signal (SIGEV_SIGNAL).
    pub signo: i32,
    /// `sigev_value`.
    pub value: u64,
    /// SIGEV_THREAD: the netlink socket the notification goes to and the
    /// cookie sent (Linux's notify_sock and notify_cookie).
    pub thread: Option<(Arc<crate::fs::OpenFile>, [u8; NOTIFY_COOKIE_LEN])>,
}

/// The length of a SIGEV_THREAD cookie.
pub const NOTIFY_COOKIE_LEN: usize = 32;
/// The cookie's last byte: a message arrived.
pub const NOTIFY_WOKENUP: u8 = 1;
/// The cookie's last byte: the registration was removed.
pub const NOTIFY_REMOVED: u8 = 2;

impl Notify {
    /// SIGEV_THREAD: sends the cookie, its last byte set to `code`, as a
    /// datagram to the registered netlink socket (netlink_sendskb).
    pub fn send_cookie(&self, code: u8) {
        if let Some((sock, cookie)) = &self.thread
            && let Some(nl) = sock.ops.as_netlink_socket()
        {
            let mut c = *cookie;
            c[NOTIFY_COOKIE_LEN - 1] = code;
            nl.deliver(c.to_vec());
        }
    }
}

/// Linux's mqueue_flush_file: a close of any descriptor of a queue by the
/// process that registered its notification removes the registration.
pub fn flush(file: &crate::fs::OpenFile) {
    let Some(mq) = file.ops.as_mqueue() else {
        return;
    };
    let Some(task) = crate::fs::signalfd::current_task() else {
        return;
    };
    let removed = {
        let mut st = mq.queue.state.lock();
        let mine = st
            .notify
            .as_ref()
            .is_some_and(|n| std::ptr::eq(n.tg.as_ptr(), Arc::as_ptr(&task.tg)));
        if mine { st.notify.take() } else { None }
    };
    if let Some(n) = removed {
        n.send_cookie(NOTIFY_REMOVED);
    }
}

/// A queue's contents.
#[derive(Default)]
pub struct MqState {
    /// Messages by priority (highest last), oldest first.
    msgs: BTreeMap<u32, VecDeque<Vec<u8>>>,
    /// Messages queued.
    pub curmsgs: i64,
    /// Bytes of the queued messages (QSIZE).
    pub qsize: u64,
    /// The registered notification.
    pub notify: Option<Notify>,
}

/// A message queue.
pub struct MsgQueue {
    /// Most messages.
    pub maxmsg: i64,
    /// Largest message.
    pub msgsize: i64,
    /// Permission bits (fstat).
    pub mode: u32,
    /// Its contents.
    pub state: Mutex<MqState>,
    /// Senders and receivers sleep here.
    changed: WaitQueue,
    /// The kernel's readiness queue (poll, select, epoll).
    readiness: Arc<WaitQueue>,
    /// Wake-ups of `readiness` (EPOLLET's edges: Linux wakes the queue's
    /// waiters, with no key, at every send and receive).
    wakes: AtomicU64,
    /// Its charge, given back to `bytes` when the queue goes.
    charged: u64,
    bytes: Arc<AtomicU64>,
}

impl Drop for MsgQueue {
    fn drop(&mut self) {
        self.bytes.fetch_sub(self.charged, Ordering::Relaxed);
    }
}

impl MsgQueue {
    fn wake(&self) {
        self.wakes.fetch_add(1, Ordering::SeqCst);
        self.changed.notify_all();
        self.readiness.notify_all();
    }

    /// Adds a message if there is room: `Ok(None)` when full; else the
    /// notification to send (a message reached an empty queue that has one
    /// registered; it is taken).
    pub fn try_send(&self, msg: &[u8], prio: u32) -> Option<Option<Notify>> {
        let notify = {
            let mut st = self.state.lock();
            if st.curmsgs >= self.maxmsg {
                return None;
            }
            st.msgs.entry(prio).or_default().push_back(msg.to_vec());
            st.curmsgs += 1;
            st.qsize += msg.len() as u64;
            if st.curmsgs == 1 {
                st.notify.take()
            } else {
                None
            }
        };
        self.wake();
        Some(notify)
    }

    /// Takes the oldest message of the highest priority, if any.
    pub fn try_receive(&self) -> Option<(Vec<u8>, u32)> {
        let taken = {
            let mut st = self.state.lock();
            let mut entry = st.msgs.last_entry()?;
            let prio = *entry.key();
            let msg = entry
                .get_mut()
                .pop_front()
                .expect("no empty priority lists");
            if entry.get().is_empty() {
                entry.remove();
            }
            st.curmsgs -= 1;
            st.qsize -= msg.len() as u64;
            (msg, prio)
        };
        self.wake();
        Some(taken)
    }

    /// Registers for sleeping on the queue before checking it.
    pub fn prepare<'a>(&self, b: &'a dyn Blocker) -> crate::kernel::wait::WaitGuard<'a> {
        self.changed.prepare(b)
    }
}

/// The sandbox's queues, by name.
#[derive(Default)]
pub struct Namespace {
    /// Queues that have a name.
    pub names: Mutex<BTreeMap<Vec<u8>, Arc<MsgQueue>>>,
    /// The charges of all queues (Linux's per-user `mq_bytes`: the
    /// sandbox's guests are one user as far as this limit goes).
    bytes: Arc<AtomicU64>,
}

impl Namespace {
    /// A new queue of `maxmsg` messages of `msgsize` bytes: EMFILE past
    /// `rlimit` bytes of queues.
    pub fn new_queue(
        &self,
        maxmsg: i64,
        msgsize: i64,
        mode: u32,
        rlimit: u64,
        readiness: Arc<WaitQueue>,
    ) -> Result<Arc<MsgQueue>, Errno> {
        let cost = charge(maxmsg, msgsize).ok_or(Errno::EMFILE)?;
        self.bytes
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |b| {
                b.checked_add(cost).filter(|n| *n <= rlimit)
            })
            .map_err(|_| Errno::EMFILE)?;
        Ok(Arc::new(MsgQueue {
            maxmsg,
            msgsize,
            mode,
            state: Mutex::default(),
            changed: WaitQueue::default(),
            readiness,
            wakes: AtomicU64::new(0),
            charged: cost,
            bytes: Arc::clone(&self.bytes),
        }))
    }
}

/// An open message queue descriptor.
pub struct MqFile {
    /// The queue.
    pub queue: Arc<MsgQueue>,
    /// The read position in the status line.
    pos: Mutex<usize>,
}

impl MqFile {
    /// A descriptor of `queue`.
    pub fn new(queue: Arc<MsgQueue>) -> Self {
        Self {
            queue,
            pos: Mutex::new(0),
        }
    }

    /// Linux's mqueue_read_file line.
    fn status(&self) -> String {
        self.queue.status()
    }
}

impl MsgQueue {
    /// Linux's mqueue_read_file line (what reading a descriptor of the
    /// queue, or its file in /dev/mqueue, shows).
    pub fn status(&self) -> String {
        let st = self.state.lock();
        let (how, signo, pid) = match &st.notify {
            Some(n) => (
                n.how,
                if n.how == SIGEV_SIGNAL { n.signo } else { 0 },
                n.pid,
            ),
            None => (0, 0, 0),
        };
        format!(
            "QSIZE:{:<10} NOTIFY:{:<5} SIGNO:{:<5} NOTIFY_PID:{:<6}\n",
            st.qsize, how, signo, pid
        )
    }
}

impl FileOps for MqFile {
    /// Reads the status line from the descriptor's position.
    fn read(&self, buf: &mut [u8], _nonblock: bool, _b: &dyn Blocker) -> Result<usize, Errno> {
        let text = self.status();
        let mut pos = self.pos.lock();
        let rest = text.as_bytes().get(*pos..).unwrap_or_default();
        let n = rest.len().min(buf.len());
        buf[..n].copy_from_slice(&rest[..n]);
        *pos += n;
        Ok(n)
    }

    /// default_llseek over the file's size (80, FILENT_SIZE).
    fn seek(&self, offset: i64, whence: u32) -> Result<u64, Errno> {
        let mut pos = self.pos.lock();
        let base = match whence {
            0 => 0,
            1 => *pos as i64,
            2 => 80,
            _ => return Err(Errno::EINVAL),
        };
        let new = base.checked_add(offset).ok_or(Errno::EINVAL)?;
        if new < 0 {
            return Err(Errno::EINVAL);
        }
        *pos = new as usize;
        Ok(new as u64)
    }

    fn poll(&self) -> u16 {
        let cur = self.queue.state.lock().curmsgs;
        let mut m = 0;
        if cur > 0 {
            m |= poll::POLLIN | 0x40; // POLLRDNORM
        }
        if cur < self.queue.maxmsg {
            m |= poll::POLLOUT | 0x100; // POLLWRNORM
        }
        m
    }

    fn events(&self) -> Option<(u64, u64)> {
        let n = self.queue.wakes.load(Ordering::SeqCst);
        Some((n, n))
    }

    fn stat(&self) -> Stat {
        Stat {
            mode: 0o100000 | self.queue.mode,
            nlink: 1,
            size: 80,
            blksize: 4096,
            ..Default::default()
        }
    }

    fn describe(&self) -> String {
        "mqueue".into()
    }

    fn as_mqueue(&self) -> Option<&MqFile> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn highest_priority_first_then_oldest() {
        let ns = Namespace::default();
        let q = ns
            .new_queue(4, 16, 0o600, 819_200, Arc::default())
            .expect("queue");
        for (m, p) in [(&b"a"[..], 1), (b"b", 5), (b"c", 1), (b"d", 5)] {
            assert!(matches!(q.try_send(m, p), Some(None)));
        }
        assert!(q.try_send(b"e", 9).is_none(), "full");
        let order: Vec<(Vec<u8>, u32)> = std::iter::from_fn(|| q.try_receive()).collect();
        assert_eq!(
            order,
            vec![
                (b"b".to_vec(), 5),
                (b"d".to_vec(), 5),
                (b"a".to_vec(), 1),
                (b"c".to_vec(), 1)
            ]
        );
    }

    #[test]
    fn queues_are_charged_to_the_limit_and_given_back() {
        let ns = Namespace::default();
        let one = charge(MSG_DEFAULT, MSGSIZE_DEFAULT).expect("fits");
        assert_eq!(one, 10 * 8192 + 10 * 48 + 10 * 48);
        let qs: Vec<_> = (0..9)
            .map(|_| ns.new_queue(10, 8192, 0o600, 819_200, Arc::default()))
            .collect::<Result<_, _>>()
            .expect("nine fit");
        assert_eq!(
            ns.new_queue(10, 8192, 0o600, 819_200, Arc::default()).err(),
            Some(Errno::EMFILE)
        );
        drop(qs);
        assert_eq!(ns.bytes.load(Ordering::Relaxed), 0);
    }
}

//! Unix domain sockets made by socketpair(2): a connected pair of stream,
//! datagram or seqpacket sockets, as Linux's net/unix/af_unix.c.
//!
//! Each side receives into its own queue of messages; a stream reader
//! merges them (but stops after one that carried descriptors, as Linux
//! never glues an skb with SCM_RIGHTS to the next), a datagram or
//! seqpacket reader takes one whole message (the rest of it is lost,
//! MSG_TRUNC). Messages may carry open files (SCM_RIGHTS): the queue holds
//! references to them until they are received or the socket is gone.
//!
//! Buffers are bounded: a side's queue holds at most its peer's send
//! buffer (SO_SNDBUF, [`SNDBUF_DEFAULT`] by default, as Linux's
//! wmem_default), each message counted with [`MSG_OVERHEAD`] bytes on top
//! of its data (Linux counts an skb's truesize); a writer that finds no
//! room waits or gets EAGAIN.
//!
//! Shutdown follows Linux: SHUT_WR on one side is SHUT_RD on the other
//! (EOF after the queued data), SHUT_RD on one side makes the other's
//! sends fail with EPIPE; closing a stream or seqpacket side shuts the
//! other side both ways.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;

use super::{FileOps, OpenFile, Stat, poll};
use crate::errno::Errno;
use crate::kernel::wait::{Blocker, WaitQueue};

/// SOCK_STREAM.
pub const SOCK_STREAM: u32 = 1;
/// SOCK_DGRAM.
pub const SOCK_DGRAM: u32 = 2;
/// SOCK_SEQPACKET.
pub const SOCK_SEQPACKET: u32 = 5;

/// Linux's wmem_default and rmem_default (and wmem_max, rmem_max).
pub const SNDBUF_DEFAULT: u32 = 212_992;
/// Bytes a queued message costs on top of its data.
pub const MSG_OVERHEAD: usize = 768;
/// Largest datagram (Linux: the send buffer less some headroom; a larger
/// one gets EMSGSIZE).
const DGRAM_MAX: usize = SNDBUF_DEFAULT as usize - 32;

/// Hang-up of the reading side (poll's POLLRDHUP).
pub const POLLRDHUP: u16 = 0x2000;

/// The receive side is shut.
const RCV_SHUTDOWN: u8 = 1;
/// The send side is shut.
const SEND_SHUTDOWN: u8 = 2;

/// Credentials of a sender (struct ucred).
#[derive(Clone, Copy, Debug, Default)]
pub struct Ucred {
    /// Thread-group id.
    pub pid: i32,
    /// Effective user id.
    pub uid: u32,
    /// Effective group id.
    pub gid: u32,
}

/// One queued message.
pub struct Msg {
    data: Vec<u8>,
    off: usize,
    /// Open files passed with it (SCM_RIGHTS), until received.
    rights: Vec<Arc<OpenFile>>,
    /// Who sent it.
    creds: Ucred,
}

impl Msg {
    fn cost(&self) -> usize {
        self.data.len() + MSG_OVERHEAD
    }
}

#[derive(Default)]
struct Side {
    queue: VecDeque<Msg>,
    /// Sum of the queued messages' [`Msg::cost`].
    queued: usize,
    /// RCV_SHUTDOWN | SEND_SHUTDOWN.
    shut: u8,
    open: bool,
    sndbuf: u32,
    rcvbuf: u32,
    passcred: bool,
}

/// The shared part of a socket pair.
struct Pair {
    kind: u32,
    sides: Mutex<[Side; 2]>,
    /// Woken on every change (data, room, shutdown, close).
    wait: WaitQueue,
    readiness: Arc<WaitQueue>,
    /// The creator's credentials (SO_PEERCRED of both sides).
    peercred: Ucred,
    ino: [u64; 2],
}

impl Pair {
    fn changed(&self) {
        self.wait.notify_all();
        self.readiness.notify_all();
    }
}

/// What a receive hands back.
pub struct Received {
    /// The bytes copied (at most the buffer's size).
    pub data: Vec<u8>,
    /// The message's whole length (a datagram's, for MSG_TRUNC).
    pub full_len: usize,
    /// Files passed with it.
    pub rights: Vec<Arc<OpenFile>>,
    /// The sender's credentials (for SCM_CREDENTIALS).
    pub creds: Option<Ucred>,
}

/// One side of a socket pair.
pub struct UnixSocket {
    pair: Arc<Pair>,
    side: usize,
}

/// Creates a connected pair of `kind` (SOCK_STREAM, SOCK_DGRAM or
/// SOCK_SEQPACKET), whose changes wake `readiness`.
pub fn new_pair(
    kind: u32,
    ino: [u64; 2],
    creds: Ucred,
    readiness: Arc<WaitQueue>,
) -> (UnixSocket, UnixSocket) {
    let side = || Side {
        open: true,
        sndbuf: SNDBUF_DEFAULT,
        rcvbuf: SNDBUF_DEFAULT,
        ..Default::default()
    };
    let pair = Arc::new(Pair {
        kind,
        sides: Mutex::new([side(), side()]),
        wait: WaitQueue::default(),
        readiness,
        peercred: creds,
        ino,
    });
    (
        UnixSocket {
            pair: Arc::clone(&pair),
            side: 0,
        },
        UnixSocket { pair, side: 1 },
    )
}

impl UnixSocket {
    /// SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET.
    pub fn kind(&self) -> u32 {
        self.pair.kind
    }

    /// The credentials of the peer (SO_PEERCRED).
    pub fn peercred(&self) -> Ucred {
        self.pair.peercred
    }

    /// SO_SNDBUF and SO_RCVBUF as stored.
    pub fn bufs(&self) -> (u32, u32) {
        let s = self.pair.sides.lock();
        (s[self.side].sndbuf, s[self.side].rcvbuf)
    }

    /// setsockopt SO_SNDBUF (`snd`) or SO_RCVBUF: Linux doubles the value,
    /// capped at the maximum and raised to its minimum.
    pub fn set_buf(&self, snd: bool, val: i32) {
        let v = (val.max(0) as u32).min(SNDBUF_DEFAULT) * 2;
        let mut s = self.pair.sides.lock();
        if snd {
            s[self.side].sndbuf = v.max(4608);
        } else {
            s[self.side].rcvbuf = v.max(2304);
        }
        drop(s);
        self.pair.changed();
    }

    /// SO_PASSCRED.
    pub fn passcred(&self) -> bool {
        self.pair.sides.lock()[self.side].passcred
    }

    /// setsockopt SO_PASSCRED.
    pub fn set_passcred(&self, on: bool) {
        self.pair.sides.lock()[self.side].passcred = on;
    }

    /// shutdown(how): SHUT_RD (0), SHUT_WR (1) or SHUT_RDWR (2).
    pub fn shutdown(&self, how: i32) -> Result<(), Errno> {
        let mode = match how {
            0 => RCV_SHUTDOWN,
            1 => SEND_SHUTDOWN,
            2 => RCV_SHUTDOWN | SEND_SHUTDOWN,
            _ => return Err(Errno::EINVAL),
        };
        let mut s = self.pair.sides.lock();
        s[self.side].shut |= mode;
        if self.pair.kind != SOCK_DGRAM {
            let mut peer = 0;
            if mode & RCV_SHUTDOWN != 0 {
                peer |= SEND_SHUTDOWN;
            }
            if mode & SEND_SHUTDOWN != 0 {
                peer |= RCV_SHUTDOWN;
            }
            s[1 - self.side].shut |= peer;
        }
        drop(s);
        self.pair.changed();
        Ok(())
    }

    /// Sends `data` (with `rights` and the sender's `creds`). A stream
    /// send goes in pieces and waits for room until all is sent (or
    /// returns what it sent when `nonblock` or interrupted); a datagram
    /// or seqpacket goes whole. EPIPE when the way is shut (the caller
    /// raises SIGPIPE).
    pub fn send(
        &self,
        data: &[u8],
        mut rights: Vec<Arc<OpenFile>>,
        creds: Ucred,
        nonblock: bool,
        blocker: &dyn Blocker,
    ) -> Result<usize, Errno> {
        let me = self.side;
        let peer = 1 - me;
        let stream = self.pair.kind == SOCK_STREAM;
        if !stream && data.len() > DGRAM_MAX {
            return Err(Errno::EMSGSIZE);
        }
        if stream && data.is_empty() {
            // unix_stream_sendmsg sends nothing (and drops any rights).
            return Ok(0);
        }
        let mut done = 0;
        loop {
            let guard = self.pair.wait.prepare(blocker);
            {
                let mut s = self.pair.sides.lock();
                if s[me].shut & SEND_SHUTDOWN != 0
                    || s[peer].open && s[peer].shut & RCV_SHUTDOWN != 0
                {
                    return if done > 0 {
                        Ok(done)
                    } else {
                        Err(Errno::EPIPE)
                    };
                }
                if !s[peer].open {
                    // A datagram peer that is gone: the pair is no more.
                    return if done > 0 {
                        Ok(done)
                    } else if stream || self.pair.kind == SOCK_SEQPACKET {
                        Err(Errno::EPIPE)
                    } else {
                        Err(Errno::ECONNREFUSED)
                    };
                }
                let limit = s[me].sndbuf as usize;
                let room = limit.saturating_sub(s[peer].queued);
                let mut sent = false;
                if stream {
                    if room > MSG_OVERHEAD {
                        let n = (room - MSG_OVERHEAD).min(data.len() - done).min(64 * 1024);
                        let msg = Msg {
                            data: data[done..done + n].to_vec(),
                            off: 0,
                            rights: std::mem::take(&mut rights),
                            creds,
                        };
                        s[peer].queued += msg.cost();
                        s[peer].queue.push_back(msg);
                        done += n;
                        sent = true;
                    }
                } else if s[peer].queued == 0 || room >= data.len() + MSG_OVERHEAD {
                    let msg = Msg {
                        data: data.to_vec(),
                        off: 0,
                        rights: std::mem::take(&mut rights),
                        creds,
                    };
                    s[peer].queued += msg.cost();
                    s[peer].queue.push_back(msg);
                    done = data.len();
                    sent = true;
                }
                drop(s);
                if sent {
                    self.pair.changed();
                    if done == data.len() {
                        return Ok(done);
                    }
                    continue;
                }
            }
            if nonblock {
                return if done > 0 {
                    Ok(done)
                } else {
                    Err(Errno::EAGAIN)
                };
            }
            match guard.sleep(None) {
                Ok(_) => {}
                Err(_) if done > 0 => return Ok(done),
                Err(e) => return Err(e),
            }
        }
    }

    /// Receives up to `len` bytes: MSG_PEEK (`peek`) leaves them queued,
    /// `waitall` (MSG_WAITALL, streams) waits for all `len`. Ok with empty
    /// data at EOF.
    pub fn recv(
        &self,
        len: usize,
        peek: bool,
        waitall: bool,
        nonblock: bool,
        blocker: &dyn Blocker,
    ) -> Result<Received, Errno> {
        let me = self.side;
        let stream = self.pair.kind == SOCK_STREAM;
        let mut out = Received {
            data: Vec::new(),
            full_len: 0,
            rights: Vec::new(),
            creds: None,
        };
        loop {
            let guard = self.pair.wait.prepare(blocker);
            {
                let mut s = self.pair.sides.lock();
                let passcred = s[me].passcred;
                let side = &mut s[me];
                if stream {
                    let mut freed = false;
                    let mut idx = 0;
                    while out.data.len() < len && idx < side.queue.len() {
                        let m = &mut side.queue[idx];
                        let n = (m.data.len() - m.off).min(len - out.data.len());
                        out.data.extend_from_slice(&m.data[m.off..m.off + n]);
                        if out.creds.is_none() && passcred {
                            out.creds = Some(m.creds);
                        }
                        let had_rights = !m.rights.is_empty();
                        if peek {
                            if had_rights {
                                out.rights = m.rights.clone();
                                break;
                            }
                            idx += 1;
                            continue;
                        }
                        m.off += n;
                        if had_rights {
                            out.rights = std::mem::take(&mut m.rights);
                        }
                        if m.off == m.data.len() {
                            let m = side.queue.pop_front().expect("front");
                            side.queued -= m.cost();
                            freed = true;
                        }
                        if had_rights {
                            break;
                        }
                    }
                    out.full_len = out.data.len();
                    let eof = side.shut & RCV_SHUTDOWN != 0;
                    drop(s);
                    if freed {
                        self.pair.changed();
                    }
                    let enough = if waitall && !peek {
                        out.data.len() >= len || !out.rights.is_empty()
                    } else {
                        !out.data.is_empty() || len == 0
                    };
                    if enough || eof {
                        return Ok(out);
                    }
                    if peek {
                        out.data.clear();
                    }
                } else if let Some(m) = side.queue.front_mut() {
                    let n = m.data.len().min(len);
                    out.data = m.data[..n].to_vec();
                    out.full_len = m.data.len();
                    if passcred {
                        out.creds = Some(m.creds);
                    }
                    if peek {
                        out.rights = m.rights.clone();
                    } else {
                        let m = side.queue.pop_front().expect("front");
                        side.queued -= m.cost();
                        out.rights = m.rights;
                        drop(s);
                        self.pair.changed();
                    }
                    return Ok(out);
                } else if side.shut & RCV_SHUTDOWN != 0 {
                    return Ok(out);
                }
            }
            if nonblock {
                return if !out.data.is_empty() {
                    Ok(out)
                } else {
                    Err(Errno::EAGAIN)
                };
            }
            match guard.sleep(None) {
                Ok(_) => {}
                Err(_) if !out.data.is_empty() => return Ok(out),
                Err(e) => return Err(e),
            }
        }
    }
}

impl FileOps for UnixSocket {
    fn read(&self, buf: &mut [u8], nonblock: bool, blocker: &dyn Blocker) -> Result<usize, Errno> {
        let r = self.recv(buf.len(), false, false, nonblock, blocker)?;
        buf[..r.data.len()].copy_from_slice(&r.data);
        Ok(r.data.len())
    }

    fn write(&self, buf: &[u8], nonblock: bool, blocker: &dyn Blocker) -> Result<usize, Errno> {
        // The caller fills in no credentials here; SO_PASSCRED readers of
        // plain writes see the pair's creator.
        self.send(buf, Vec::new(), self.pair.peercred, nonblock, blocker)
    }

    /// unix_poll / unix_dgram_poll.
    fn poll(&self) -> u16 {
        let s = self.pair.sides.lock();
        let me = &s[self.side];
        let peer = &s[1 - self.side];
        let mut m = 0;
        if !me.queue.is_empty() {
            m |= poll::POLLIN;
        }
        if me.shut & RCV_SHUTDOWN != 0 {
            m |= POLLRDHUP | poll::POLLIN;
        }
        if me.shut == RCV_SHUTDOWN | SEND_SHUTDOWN {
            m |= poll::POLLHUP;
        }
        let writable = if self.pair.kind == SOCK_DGRAM && !peer.open {
            true
        } else {
            me.sndbuf as usize > peer.queued + MSG_OVERHEAD
        };
        if writable || me.shut & SEND_SHUTDOWN != 0 {
            m |= poll::POLLOUT;
        }
        m
    }

    fn stat(&self) -> Stat {
        Stat {
            mode: 0o140777, // S_IFSOCK | rwxrwxrwx
            ino: self.pair.ino[self.side],
            dev: 0x8,
            nlink: 1,
            blksize: 4096,
            ..Default::default()
        }
    }

    fn describe(&self) -> String {
        format!("socket:[{}]", self.pair.ino[self.side])
    }

    fn link_target(&self) -> String {
        self.describe()
    }

    fn notifies(&self) -> bool {
        true
    }

    fn as_unix_socket(&self) -> Option<&UnixSocket> {
        Some(self)
    }
}

impl Drop for UnixSocket {
    fn drop(&mut self) {
        let dropped;
        {
            let mut s = self.pair.sides.lock();
            s[self.side].open = false;
            s[self.side].shut = RCV_SHUTDOWN | SEND_SHUTDOWN;
            if self.pair.kind != SOCK_DGRAM {
                s[1 - self.side].shut = RCV_SHUTDOWN | SEND_SHUTDOWN;
            }
            // What was queued for this side is dropped (outside the lock:
            // it may hold the last reference to another socket).
            let me = &mut s[self.side];
            me.queued = 0;
            dropped = std::mem::take(&mut me.queue);
        }
        drop(dropped);
        self.pair.changed();
    }
}

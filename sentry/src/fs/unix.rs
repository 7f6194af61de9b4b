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
}

/// The shared part of a socket pair.
struct Pair {
    kind: u32,
    sides: Mutex<[Side; 2]>,
    /// Woken on every change (data, room, shutdown, close).
    wait: WaitQueue,
    readiness: Arc<WaitQueue>,
    /// SO_PEERCRED of each side: its peer's credentials.
    peercred: [Ucred; 2],
    /// The address of each side (`sun_path` bytes; empty when unnamed).
    names: [Vec<u8>; 2],
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

/// Socket options of one socket.
struct Opts {
    sndbuf: u32,
    rcvbuf: u32,
    passcred: bool,
}

/// A Unix socket: one side of a connected pair, or (made by socket(2))
/// not connected yet, perhaps bound and listening.
pub struct UnixSocket {
    kind: u32,
    ino: u64,
    /// The pair and side, once connected.
    conn: std::sync::OnceLock<(Arc<Pair>, usize)>,
    opts: Mutex<Opts>,
    /// Bound or listening state of a socket that is not connected.
    pub(crate) local: Mutex<Local>,
    readiness: Arc<WaitQueue>,
}

/// What a not-yet-connected socket has: its bound name and its listener.
#[derive(Default)]
pub(crate) struct Local {
    /// The bound address (`sun_path` bytes, a leading NUL for the
    /// abstract namespace).
    pub(crate) name: Option<Vec<u8>>,
    /// Its queue of connections once listening.
    pub(crate) listener: Option<Arc<Listener>>,
}

/// The queue of a listening socket.
pub struct Listener {
    kind: u32,
    name: Vec<u8>,
    /// Connections not yet accepted.
    queue: Mutex<VecDeque<UnixSocket>>,
    backlog: Mutex<usize>,
    /// The listener's credentials when it listened (the client's
    /// SO_PEERCRED).
    creds: Ucred,
    wait: WaitQueue,
    readiness: Arc<WaitQueue>,
    closed: std::sync::atomic::AtomicBool,
}

/// Creates a connected pair of `kind` (SOCK_STREAM, SOCK_DGRAM or
/// SOCK_SEQPACKET), whose changes wake `readiness`.
pub fn new_pair(
    kind: u32,
    ino: [u64; 2],
    creds: Ucred,
    readiness: Arc<WaitQueue>,
) -> (UnixSocket, UnixSocket) {
    let a = UnixSocket::new(kind, ino[0], Arc::clone(&readiness));
    let b = UnixSocket::new(kind, ino[1], Arc::clone(&readiness));
    let pair = make_pair(kind, [creds, creds], [Vec::new(), Vec::new()], readiness);
    let _ = a.conn.set((Arc::clone(&pair), 0));
    let _ = b.conn.set((pair, 1));
    (a, b)
}

fn make_pair(
    kind: u32,
    peercred: [Ucred; 2],
    names: [Vec<u8>; 2],
    readiness: Arc<WaitQueue>,
) -> Arc<Pair> {
    let side = || Side {
        open: true,
        ..Default::default()
    };
    Arc::new(Pair {
        kind,
        sides: Mutex::new([side(), side()]),
        wait: WaitQueue::default(),
        readiness,
        peercred,
        names,
    })
}

impl UnixSocket {
    /// A socket that is not connected.
    pub fn new(kind: u32, ino: u64, readiness: Arc<WaitQueue>) -> Self {
        Self {
            kind,
            ino,
            conn: std::sync::OnceLock::new(),
            opts: Mutex::new(Opts {
                sndbuf: SNDBUF_DEFAULT,
                rcvbuf: SNDBUF_DEFAULT,
                passcred: false,
            }),
            local: Mutex::new(Local::default()),
            readiness,
        }
    }

    /// The pair and side; ENOTCONN before a connection.
    fn conn(&self) -> Result<(&Arc<Pair>, usize), Errno> {
        self.conn.get().map(|(p, s)| (p, *s)).ok_or(Errno::ENOTCONN)
    }

    /// Whether it is connected.
    pub fn connected(&self) -> bool {
        self.conn.get().is_some()
    }

    /// SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET.
    pub fn kind(&self) -> u32 {
        self.kind
    }

    /// The credentials of the peer (SO_PEERCRED); None unconnected.
    pub fn peercred(&self) -> Option<Ucred> {
        let (pair, side) = self.conn().ok()?;
        Some(pair.peercred[side])
    }

    /// Its own address (getsockname): the bound name, or its side's
    /// name once connected.
    pub fn name(&self) -> Vec<u8> {
        if let Ok((pair, side)) = self.conn() {
            return pair.names[side].clone();
        }
        self.local.lock().name.clone().unwrap_or_default()
    }

    /// Its peer's address (getpeername); ENOTCONN unconnected.
    pub fn peer_name(&self) -> Result<Vec<u8>, Errno> {
        let (pair, side) = self.conn()?;
        Ok(pair.names[1 - side].clone())
    }

    /// SO_SNDBUF and SO_RCVBUF as stored.
    pub fn bufs(&self) -> (u32, u32) {
        let o = self.opts.lock();
        (o.sndbuf, o.rcvbuf)
    }

    /// setsockopt SO_SNDBUF (`snd`) or SO_RCVBUF: Linux doubles the value,
    /// capped at the maximum and raised to its minimum.
    pub fn set_buf(&self, snd: bool, val: i32) {
        let v = (val.max(0) as u32).min(SNDBUF_DEFAULT) * 2;
        let mut o = self.opts.lock();
        if snd {
            o.sndbuf = v.max(4608);
        } else {
            o.rcvbuf = v.max(2304);
        }
        drop(o);
        if let Ok((pair, _)) = self.conn() {
            pair.changed();
        }
    }

    /// SO_PASSCRED.
    pub fn passcred(&self) -> bool {
        self.opts.lock().passcred
    }

    /// setsockopt SO_PASSCRED.
    pub fn set_passcred(&self, on: bool) {
        self.opts.lock().passcred = on;
    }

    /// shutdown(how): SHUT_RD (0), SHUT_WR (1) or SHUT_RDWR (2).
    pub fn shutdown(&self, how: i32) -> Result<(), Errno> {
        let mode = match how {
            0 => RCV_SHUTDOWN,
            1 => SEND_SHUTDOWN,
            2 => RCV_SHUTDOWN | SEND_SHUTDOWN,
            _ => return Err(Errno::EINVAL),
        };
        let (pair, side) = self.conn()?;
        let mut s = pair.sides.lock();
        s[side].shut |= mode;
        if pair.kind != SOCK_DGRAM {
            let mut peer = 0;
            if mode & RCV_SHUTDOWN != 0 {
                peer |= SEND_SHUTDOWN;
            }
            if mode & SEND_SHUTDOWN != 0 {
                peer |= RCV_SHUTDOWN;
            }
            s[1 - side].shut |= peer;
        }
        drop(s);
        pair.changed();
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
        let (pair, me) = self.conn()?;
        let peer = 1 - me;
        let stream = pair.kind == SOCK_STREAM;
        let sndbuf = self.opts.lock().sndbuf as usize;
        if !stream && data.len() > DGRAM_MAX {
            return Err(Errno::EMSGSIZE);
        }
        if stream && data.is_empty() {
            // unix_stream_sendmsg sends nothing (and drops any rights).
            return Ok(0);
        }
        let mut done = 0;
        loop {
            let guard = pair.wait.prepare(blocker);
            {
                let mut s = pair.sides.lock();
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
                    } else if stream || pair.kind == SOCK_SEQPACKET {
                        Err(Errno::EPIPE)
                    } else {
                        Err(Errno::ECONNREFUSED)
                    };
                }
                let limit = sndbuf;
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
                    pair.changed();
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
        let (pair, me) = self.conn().map_err(|_| {
            if self.kind == SOCK_STREAM {
                Errno::EINVAL
            } else {
                Errno::ENOTCONN
            }
        })?;
        let stream = pair.kind == SOCK_STREAM;
        let passcred = self.opts.lock().passcred;
        let mut out = Received {
            data: Vec::new(),
            full_len: 0,
            rights: Vec::new(),
            creds: None,
        };
        loop {
            let guard = pair.wait.prepare(blocker);
            {
                let mut s = pair.sides.lock();
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
                        pair.changed();
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
                        pair.changed();
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
        let creds = self.conn().map(|(p, side)| p.peercred[1 - side]);
        self.send(
            buf,
            Vec::new(),
            creds.unwrap_or_default(),
            nonblock,
            blocker,
        )
    }

    /// unix_poll / unix_dgram_poll.
    fn poll(&self) -> u16 {
        let Ok((pair, side)) = self.conn() else {
            if let Some(l) = &self.local.lock().listener {
                return if l.queue.lock().is_empty() {
                    0
                } else {
                    poll::POLLIN
                };
            }
            // Not connected: a stream or seqpacket socket is hung up.
            return if self.kind == SOCK_DGRAM {
                poll::POLLOUT
            } else {
                poll::POLLOUT | poll::POLLHUP
            };
        };
        let sndbuf = self.opts.lock().sndbuf as usize;
        let s = pair.sides.lock();
        let me = &s[side];
        let peer = &s[1 - side];
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
        let writable = if pair.kind == SOCK_DGRAM && !peer.open {
            true
        } else {
            sndbuf > peer.queued + MSG_OVERHEAD
        };
        if writable || me.shut & SEND_SHUTDOWN != 0 {
            m |= poll::POLLOUT;
        }
        m
    }

    fn stat(&self) -> Stat {
        Stat {
            mode: 0o140777, // S_IFSOCK | rwxrwxrwx
            ino: self.ino,
            dev: 0x8,
            nlink: 1,
            blksize: 4096,
            ..Default::default()
        }
    }

    fn describe(&self) -> String {
        format!("socket:[{}]", self.ino)
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
        let local = std::mem::take(&mut *self.local.lock());
        if let Some(l) = local.listener {
            l.close();
        }
        if let Some(name) = local.name {
            unbind(&name, self);
        }
        let Ok((pair, side)) = self.conn() else {
            return;
        };
        let dropped;
        {
            let mut s = pair.sides.lock();
            s[side].open = false;
            s[side].shut = RCV_SHUTDOWN | SEND_SHUTDOWN;
            if pair.kind != SOCK_DGRAM {
                s[1 - side].shut = RCV_SHUTDOWN | SEND_SHUTDOWN;
            }
            // What was queued for this side is dropped (outside the lock:
            // it may hold the last reference to another socket).
            let me = &mut s[side];
            me.queued = 0;
            dropped = std::mem::take(&mut me.queue);
        }
        drop(dropped);
        pair.changed();
    }
}

/// Bound names of the abstract namespace: who holds each, and its
/// listener once it listens. One sandbox per sentry process, so this is
/// the sandbox's namespace.
struct Binding {
    owner: u64,
    listener: Option<std::sync::Weak<Listener>>,
}

static NAMES: std::sync::LazyLock<Mutex<std::collections::HashMap<Vec<u8>, Binding>>> =
    std::sync::LazyLock::new(Default::default);

static AUTOBIND: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn unbind(name: &[u8], sock: &UnixSocket) {
    let mut names = NAMES.lock();
    if names.get(name).is_some_and(|b| b.owner == sock.ino) {
        names.remove(name);
    }
}

/// Linux's somaxconn default: the largest backlog.
const SOMAXCONN: usize = 4096;

impl Listener {
    fn close(&self) {
        self.closed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let q = std::mem::take(&mut *self.queue.lock());
        drop(q);
        self.wait.notify_all();
        self.readiness.notify_all();
    }
}

impl UnixSocket {
    /// bind: `name` is the address's `sun_path` bytes (a leading NUL for
    /// the abstract namespace; empty to autobind one). EINVAL when bound
    /// or connected already, EADDRINUSE when the name is taken.
    pub fn bind(&self, name: &[u8]) -> Result<(), Errno> {
        if self.connected() {
            return Err(Errno::EINVAL);
        }
        let mut local = self.local.lock();
        if local.name.is_some() {
            return Err(Errno::EINVAL);
        }
        let mut names = NAMES.lock();
        let name = if name.is_empty() {
            loop {
                let n = AUTOBIND.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let cand = format!("\0{:05x}", n & 0xfffff).into_bytes();
                if !names.contains_key(&cand) {
                    break cand;
                }
            }
        } else {
            name.to_vec()
        };
        if names.contains_key(&name) {
            return Err(Errno::EADDRINUSE);
        }
        names.insert(
            name.clone(),
            Binding {
                owner: self.ino,
                listener: None,
            },
        );
        local.name = Some(name);
        Ok(())
    }

    /// listen(backlog): EOPNOTSUPP for datagrams, EINVAL unbound or
    /// connected.
    pub fn listen(&self, backlog: i32, creds: Ucred) -> Result<(), Errno> {
        if self.kind == SOCK_DGRAM {
            return Err(Errno::EOPNOTSUPP);
        }
        if self.connected() {
            return Err(Errno::EINVAL);
        }
        let backlog = if backlog < 0 || backlog as usize > SOMAXCONN {
            SOMAXCONN
        } else {
            backlog as usize
        };
        let mut local = self.local.lock();
        let Some(name) = local.name.clone() else {
            return Err(Errno::EINVAL);
        };
        if let Some(l) = &local.listener {
            *l.backlog.lock() = backlog;
            l.wait.notify_all();
            return Ok(());
        }
        let l = Arc::new(Listener {
            kind: self.kind,
            name: name.clone(),
            queue: Mutex::new(VecDeque::new()),
            backlog: Mutex::new(backlog),
            creds,
            wait: WaitQueue::default(),
            readiness: Arc::clone(&self.readiness),
            closed: std::sync::atomic::AtomicBool::new(false),
        });
        if let Some(b) = NAMES.lock().get_mut(&name) {
            b.listener = Some(Arc::downgrade(&l));
        }
        local.listener = Some(l);
        Ok(())
    }

    /// Whether it listens (SO_ACCEPTCONN).
    pub fn listening(&self) -> bool {
        self.local.lock().listener.is_some()
    }

    /// connect to the listener bound at `name`: ECONNREFUSED with none
    /// (or one of another socket type), EISCONN when connected; waits
    /// while its backlog is full (EAGAIN when `nonblock`). `ino` numbers
    /// the listener's new socket.
    pub fn connect(
        &self,
        name: &[u8],
        creds: Ucred,
        ino: u64,
        nonblock: bool,
        blocker: &dyn Blocker,
    ) -> Result<(), Errno> {
        if self.connected() {
            return Err(Errno::EISCONN);
        }
        if self.listening() {
            return Err(Errno::EINVAL);
        }
        let l = NAMES
            .lock()
            .get(name)
            .and_then(|b| b.listener.as_ref()?.upgrade())
            .ok_or(Errno::ECONNREFUSED)?;
        if l.kind != self.kind {
            // The abstract namespace is looked up by name and type.
            return Err(Errno::ECONNREFUSED);
        }
        let my_name = self.local.lock().name.clone().unwrap_or_default();
        loop {
            let guard = l.wait.prepare(blocker);
            {
                let mut q = l.queue.lock();
                if l.closed.load(std::sync::atomic::Ordering::Relaxed) {
                    return Err(Errno::ECONNREFUSED);
                }
                // unix_recvq_full: the queue may hold one past the backlog.
                if q.len() <= *l.backlog.lock() {
                    let server = UnixSocket::new(self.kind, ino, Arc::clone(&self.readiness));
                    let pair = make_pair(
                        self.kind,
                        [l.creds, creds],
                        [my_name, l.name.clone()],
                        Arc::clone(&self.readiness),
                    );
                    let _ = server.conn.set((Arc::clone(&pair), 1));
                    if self.conn.set((pair, 0)).is_err() {
                        return Err(Errno::EISCONN);
                    }
                    q.push_back(server);
                    drop(q);
                    l.wait.notify_all();
                    l.readiness.notify_all();
                    return Ok(());
                }
            }
            if nonblock {
                return Err(Errno::EAGAIN);
            }
            guard.sleep(None)?;
        }
    }

    /// accept: the next connection (EINVAL when not listening; waits, or
    /// EAGAIN when `nonblock`).
    pub fn accept(&self, nonblock: bool, blocker: &dyn Blocker) -> Result<UnixSocket, Errno> {
        let l = self.local.lock().listener.clone().ok_or(Errno::EINVAL)?;
        loop {
            let guard = l.wait.prepare(blocker);
            if let Some(s) = l.queue.lock().pop_front() {
                l.wait.notify_all();
                l.readiness.notify_all();
                return Ok(s);
            }
            if nonblock {
                return Err(Errno::EAGAIN);
            }
            guard.sleep(None)?;
        }
    }
}

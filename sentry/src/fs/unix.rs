//! Unix domain sockets, as Linux's net/unix/af_unix.c: connected pairs
//! (socketpair, or a connect to a listener) of stream, datagram or
//! seqpacket sockets; datagram sockets made by socket(2), each with its own
//! queue that any datagram socket may send to by address; and the names
//! they are found by: the abstract namespace (a leading NUL), or a socket
//! file that bind made in the sandbox's tree, found by its (device, inode)
//! ([`BindKey`]), so that a rename or a hard link still leads to the
//! socket and an unlink hides it.
//!
//! Each side of a pair receives into its own queue of messages; a stream
//! reader merges them (but stops after one that carried descriptors, as
//! Linux never glues an skb with SCM_RIGHTS to the next), a datagram or
//! seqpacket reader takes one whole message (the rest of it is lost,
//! MSG_TRUNC). Messages may carry open files (SCM_RIGHTS): the queue holds
//! references to them until they are received or the socket is gone;
//! sockets that only hold each other that way are collected ([`gc`]).
//!
//! Buffers are bounded: a side's queue holds at most its peer's send
//! buffer (SO_SNDBUF, [`SNDBUF_DEFAULT`] by default, as Linux's
//! wmem_default), each message counted with [`MSG_OVERHEAD`] bytes on top
//! of its data (Linux counts an skb's truesize); a writer that finds no
//! room waits (up to SO_SNDTIMEO) or gets EAGAIN. A datagram socket's own
//! queue is full past net.unix.max_dgram_qlen (10) datagrams or its
//! sender's SO_SNDBUF bytes. Every queued byte is also charged to the
//! guest's memory cap ([`mem`]).
//!
//! Shutdown follows Linux: SHUT_WR on one side is SHUT_RD on the other
//! (EOF after the queued data), SHUT_RD on one side makes the other's
//! sends fail with EPIPE; closing a stream or seqpacket side shuts the
//! other side both ways.
//!
//! # Lock order
//!
//! A socket's `local` → `NAMES` → a [`DgramEnd`]'s state; a pair's
//! `sides` and a listener's queue are leaves. A datagram send locks the
//! destination's state, releases it, then may lock its own; poll clones
//! its peer before locking it; the collector locks one queue at a time.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use super::{FileOps, OpenFile, Stat, poll};
use crate::errno::Errno;
use crate::kernel::wait::{Blocker, WaitGuard, WaitQueue};

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
    /// The sender's address (`sun_path` bytes; empty when unnamed).
    from: Vec<u8>,
}

impl Msg {
    fn cost(&self) -> usize {
        self.data.len() + MSG_OVERHEAD
    }

    /// Takes the files it carries (they are no longer in flight).
    fn take_rights(&mut self) -> Vec<Arc<OpenFile>> {
        let r = std::mem::take(&mut self.rights);
        gc::landed(&r);
        r
    }
}

impl Drop for Msg {
    fn drop(&mut self) {
        gc::landed(&self.rights);
        mem::uncharge(self.cost());
    }
}

/// Queued messages are charged to the guest's memory cap (`--memory`), as
/// Linux charges socket buffers to the sender's memory cgroup: their bytes
/// and [`MSG_OVERHEAD`] each, in whole pages over all sockets; a send that
/// cannot be charged fails with ENOBUFS (or returns what it sent). The
/// inet sockets of [`super::inet`] charge their queues here too.
pub mod mem {
    use std::sync::{Arc, OnceLock};

    use parking_lot::Mutex;
    use platform::Platform;

    static MACHINE: OnceLock<Arc<dyn Platform>> = OnceLock::new();
    /// (bytes charged, pages taken from the cap for them).
    static USED: Mutex<(usize, u64)> = Mutex::new((0, 0));

    /// Where messages are charged (set once, at the first socket: one
    /// sandbox per sentry process).
    pub fn set_machine(m: &Arc<dyn Platform>) {
        let _ = MACHINE.get_or_init(|| Arc::clone(m));
    }

    /// Charges `n` bytes; false when the cap is reached.
    pub(crate) fn charge(n: usize) -> bool {
        let Some(m) = MACHINE.get() else {
            return true;
        };
        let mut u = USED.lock();
        let need = (u.0 + n).div_ceil(4096) as u64;
        if need > u.1 {
            if !m.frames().charge(need - u.1) {
                return false;
            }
            u.1 = need;
        }
        u.0 += n;
        true
    }

    /// Returns `n` charged bytes.
    pub(crate) fn uncharge(n: usize) {
        let Some(m) = MACHINE.get() else {
            return;
        };
        let mut u = USED.lock();
        u.0 = u.0.saturating_sub(n);
        let need = u.0.div_ceil(4096) as u64;
        if need < u.1 {
            m.frames().uncharge(u.1 - need);
            u.1 = need;
        }
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
    /// The address of each side (`sun_path` bytes; empty when unnamed;
    /// a side may bind one while connected, as Linux allows).
    names: Mutex<[Vec<u8>; 2]>,
    /// Edges for EPOLLET, by side: input (data or a shutdown arrived)
    /// and output (room appeared).
    edges: super::epoll::PairEdges,
}

impl Pair {
    /// A change of every side and direction (shutdown, close, options).
    fn changed(&self) {
        self.edges.bump_all();
        self.notify();
    }

    /// A change in one direction (0: input, 1: output) of one side.
    fn changed_one(&self, side: usize, dir: usize) {
        self.edges.bump(side, dir);
        self.notify();
    }

    fn notify(&self) {
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
    /// The sender's address (`sun_path` bytes; empty when unnamed).
    pub from: Vec<u8>,
}

/// Socket options of one socket.
struct Opts {
    sndbuf: u32,
    rcvbuf: u32,
    passcred: bool,
    /// SO_RCVTIMEO and SO_SNDTIMEO in jiffies (None: wait for ever).
    rcvtimeo: Option<u64>,
    sndtimeo: Option<u64>,
    /// SO_LINGER: on, and the time in seconds.
    linger: (bool, i32),
    /// Boolean options stored and read back (SO_REUSEADDR...), by number.
    flags: u64,
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
    /// A datagram socket made by socket(2): its own queue, which any
    /// socket may send to by address.
    dgram: Option<Arc<DgramEnd>>,
    /// In how many queued messages it is in flight (SCM_RIGHTS).
    inflight: std::sync::atomic::AtomicUsize,
    /// SO_PEERCRED of a datagram socket made by socketpair.
    paircred: std::sync::OnceLock<Ucred>,
}

/// What a not-yet-connected socket has: its bound name and its listener.
#[derive(Default)]
pub(crate) struct Local {
    /// The bound address (`sun_path` bytes, a leading NUL for the
    /// abstract namespace).
    pub(crate) name: Option<Vec<u8>>,
    /// Where the name is registered.
    key: Option<BindKey>,
    /// Its queue of connections once listening.
    pub(crate) listener: Option<Arc<Listener>>,
}

/// The queue of a listening socket.
pub struct Listener {
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
    if kind == SOCK_DGRAM {
        // As Linux's unix_socketpair: two datagram sockets, each the
        // other's peer, which may still bind a name and send elsewhere.
        let a = UnixSocket::new(kind, ino[0], Arc::clone(&readiness));
        let b = UnixSocket::new(kind, ino[1], readiness);
        let (Some(da), Some(db)) = (&a.dgram, &b.dgram) else {
            unreachable!("datagram sockets have their own queues");
        };
        da.st.lock().peer = Some(Arc::clone(db));
        db.st.lock().peer = Some(Arc::clone(da));
        let _ = a.paircred.set(creds);
        let _ = b.paircred.set(creds);
        return (a, b);
    }
    let a = UnixSocket::with_end(kind, ino[0], Arc::clone(&readiness), false);
    let b = UnixSocket::with_end(kind, ino[1], Arc::clone(&readiness), false);
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
        names: Mutex::new(names),
        edges: Default::default(),
    })
}

impl UnixSocket {
    /// A socket that is not connected.
    pub fn new(kind: u32, ino: u64, readiness: Arc<WaitQueue>) -> Self {
        Self::with_end(kind, ino, readiness, true)
    }

    /// A socket; `end`: a datagram socket gets its own queue (not one of
    /// a pair).
    fn with_end(kind: u32, ino: u64, readiness: Arc<WaitQueue>, end: bool) -> Self {
        gc::collect();
        let dgram = (end && kind == SOCK_DGRAM).then(|| {
            Arc::new(DgramEnd {
                st: Mutex::new(DgramState {
                    open: true,
                    ..Default::default()
                }),
                wait: WaitQueue::default(),
                readiness: Arc::clone(&readiness),
            })
        });
        Self {
            kind,
            ino,
            conn: std::sync::OnceLock::new(),
            opts: Mutex::new(Opts {
                sndbuf: SNDBUF_DEFAULT,
                rcvbuf: SNDBUF_DEFAULT,
                passcred: false,
                rcvtimeo: None,
                sndtimeo: None,
                linger: (false, 0),
                flags: 0,
            }),
            local: Mutex::new(Local::default()),
            readiness,
            dgram,
            inflight: std::sync::atomic::AtomicUsize::new(0),
            paircred: std::sync::OnceLock::new(),
        }
    }

    /// When a blocking receive gives up (SO_RCVTIMEO).
    fn rcv_deadline(&self) -> Option<Instant> {
        jiffies_deadline(self.opts.lock().rcvtimeo)
    }

    /// When a blocking send gives up (SO_SNDTIMEO).
    fn snd_deadline(&self) -> Option<Instant> {
        jiffies_deadline(self.opts.lock().sndtimeo)
    }

    /// SO_RCVTIMEO (`rcv`) or SO_SNDTIMEO as (seconds, microseconds).
    pub fn timeout(&self, rcv: bool) -> (i64, i64) {
        let o = self.opts.lock();
        match if rcv { o.rcvtimeo } else { o.sndtimeo } {
            None => (0, 0),
            Some(j) => ((j / HZ) as i64, ((j % HZ) * (1_000_000 / HZ)) as i64),
        }
    }

    /// setsockopt SO_RCVTIMEO (`rcv`) or SO_SNDTIMEO, as sock_set_timeout:
    /// EDOM for microseconds out of range; a negative time means do not
    /// wait at all, zero wait for ever; rounded up to jiffies.
    pub fn set_timeout(&self, rcv: bool, sec: i64, usec: i64) -> Result<(), Errno> {
        if !(0..1_000_000).contains(&usec) {
            return Err(Errno::EDOM);
        }
        let val = if sec < 0 {
            Some(0)
        } else if (sec != 0 || usec != 0) && sec < (i64::MAX / HZ as i64 - 1) {
            Some(sec as u64 * HZ + (usec as u64).div_ceil(1_000_000 / HZ))
        } else {
            None
        };
        let mut o = self.opts.lock();
        if rcv {
            o.rcvtimeo = val;
        } else {
            o.sndtimeo = val;
        }
        Ok(())
    }

    /// SO_LINGER as (on, seconds).
    pub fn linger(&self) -> (bool, i32) {
        self.opts.lock().linger
    }

    /// setsockopt SO_LINGER: off keeps the time (as Linux).
    pub fn set_linger(&self, on: bool, secs: i32) {
        let mut o = self.opts.lock();
        o.linger.0 = on;
        if on {
            o.linger.1 = secs;
        }
    }

    /// A boolean option (SO_REUSEADDR, SO_KEEPALIVE...) by number.
    pub fn flag(&self, opt: i32) -> bool {
        self.opts.lock().flags & (1 << (opt & 63)) != 0
    }

    /// Sets a boolean option.
    pub fn set_flag(&self, opt: i32, on: bool) {
        let mut o = self.opts.lock();
        if on {
            o.flags |= 1 << (opt & 63);
        } else {
            o.flags &= !(1 << (opt & 63));
        }
    }

    /// Whether it is a datagram socket with its own queue (made by
    /// socket(2), not socketpair).
    pub fn is_dgram_end(&self) -> bool {
        self.dgram.is_some()
    }

    /// The pair and side; ENOTCONN before a connection.
    fn conn(&self) -> Result<(&Arc<Pair>, usize), Errno> {
        self.conn.get().map(|(p, s)| (p, *s)).ok_or(Errno::ENOTCONN)
    }

    /// Whether it is connected.
    pub fn connected(&self) -> bool {
        self.conn.get().is_some()
            || self
                .dgram
                .as_ref()
                .is_some_and(|d| d.st.lock().peer.is_some())
    }

    /// SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET.
    pub fn kind(&self) -> u32 {
        self.kind
    }

    /// The credentials of the peer (SO_PEERCRED); None unconnected.
    pub fn peercred(&self) -> Option<Ucred> {
        if let Some(l) = &self.local.lock().listener {
            // init_peercred at listen: the listener's own.
            return Some(l.creds);
        }
        if let Some(c) = self.paircred.get() {
            return Some(*c);
        }
        let (pair, side) = self.conn().ok()?;
        Some(pair.peercred[side])
    }

    /// Its own address (getsockname): the bound name, or its side's
    /// name once connected.
    pub fn name(&self) -> Vec<u8> {
        if let Ok((pair, side)) = self.conn() {
            return pair.names.lock()[side].clone();
        }
        self.local.lock().name.clone().unwrap_or_default()
    }

    /// Its peer's address (getpeername); ENOTCONN unconnected.
    pub fn peer_name(&self) -> Result<Vec<u8>, Errno> {
        if let Some(d) = &self.dgram {
            let peer = d.st.lock().peer.clone().ok_or(Errno::ENOTCONN)?;
            return Ok(peer.st.lock().name.clone());
        }
        let (pair, side) = self.conn()?;
        Ok(pair.names.lock()[1 - side].clone())
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
        if let Some(d) = &self.dgram {
            d.st.lock().shut |= mode;
            d.changed();
            return Ok(());
        }
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
        if let Some(d) = &self.dgram {
            let to = d.st.lock().peer.clone().ok_or(Errno::ENOTCONN)?;
            return self.send_to(&to, data, rights, creds, nonblock, blocker);
        }
        let (pair, me) = self.conn()?;
        let peer = 1 - me;
        let deadline = self.snd_deadline();
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
                        if !mem::charge(n + MSG_OVERHEAD) {
                            return if done > 0 {
                                Ok(done)
                            } else {
                                Err(Errno::ENOBUFS)
                            };
                        }
                        let msg = Msg {
                            data: data[done..done + n].to_vec(),
                            off: 0,
                            rights: gc::inflight(std::mem::take(&mut rights)),
                            creds,
                            from: Vec::new(),
                        };
                        s[peer].queued += msg.cost();
                        s[peer].queue.push_back(msg);
                        done += n;
                        sent = true;
                    }
                } else if s[peer].queued == 0 || room >= data.len() + MSG_OVERHEAD {
                    if !mem::charge(data.len() + MSG_OVERHEAD) {
                        return Err(Errno::ENOBUFS);
                    }
                    let msg = Msg {
                        data: data.to_vec(),
                        off: 0,
                        rights: gc::inflight(std::mem::take(&mut rights)),
                        creds,
                        from: Vec::new(),
                    };
                    s[peer].queued += msg.cost();
                    s[peer].queue.push_back(msg);
                    done = data.len();
                    sent = true;
                }
                drop(s);
                if sent {
                    pair.changed_one(peer, 0);
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
            match wait(guard, deadline) {
                Ok(()) => {}
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
        if let Some(d) = &self.dgram {
            let passcred = self.opts.lock().passcred;
            return d.recv(len, peek, passcred, nonblock, self.rcv_deadline(), blocker);
        }
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
            from: pair.names.lock()[1 - me].clone(),
        };
        let deadline = self.rcv_deadline();
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
                            out.rights = m.take_rights();
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
                        pair.changed_one(1 - me, 1);
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
                        let mut m = side.queue.pop_front().expect("front");
                        side.queued -= m.cost();
                        out.rights = m.take_rights();
                        drop(s);
                        drop(m);
                        pair.changed_one(1 - me, 1);
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
            match wait(guard, deadline) {
                Ok(()) => {}
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
        if let Some(d) = &self.dgram {
            return d.poll(self.opts.lock().sndbuf as usize);
        }
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

    fn events(&self) -> Option<(u64, u64)> {
        if self.dgram.is_some() {
            return None;
        }
        let (pair, side) = self.conn().ok()?;
        Some(pair.edges.get(side))
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
        if let Some(key) = local.key {
            unbind(&key, self);
        }
        if let Some(d) = &self.dgram {
            d.close();
        }
        let Ok((pair, side)) = self.conn() else {
            gc::collect();
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
        gc::collect();
    }
}

/// Bound names of the abstract namespace: who holds each, and its
/// listener once it listens. One sandbox per sentry process, so this is
/// the sandbox's namespace.
struct Binding {
    owner: u64,
    kind: u32,
    listener: Option<std::sync::Weak<Listener>>,
    dgram: Option<std::sync::Weak<DgramEnd>>,
}

/// Where a bound socket is found: by name in the abstract namespace, or
/// by the (device, inode) of the socket file bind made (so a rename or a
/// hard link still leads to it, and an unlink hides it).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum BindKey {
    /// `sun_path` bytes with their leading NUL.
    Abstract(Vec<u8>),
    /// The socket file's device and inode numbers.
    Inode(u64, u64),
}

static NAMES: std::sync::LazyLock<Mutex<std::collections::HashMap<BindKey, Binding>>> =
    std::sync::LazyLock::new(Default::default);

static AUTOBIND: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

fn unbind(key: &BindKey, sock: &UnixSocket) {
    let mut names = NAMES.lock();
    if names.get(key).is_some_and(|b| b.owner == sock.ino) {
        names.remove(key);
    }
}

/// What a name leads to.
enum Found {
    Listener(Arc<Listener>),
    Dgram(Arc<DgramEnd>),
}

/// The socket bound at `key` for a socket of type `kind`: ECONNREFUSED
/// when none is (or one of another type in the abstract namespace),
/// EPROTOTYPE for a socket file of another type (unix_find_other).
fn find(key: &BindKey, kind: u32) -> Result<Option<Found>, Errno> {
    let names = NAMES.lock();
    let b = names.get(key).ok_or(Errno::ECONNREFUSED)?;
    if b.kind != kind {
        return Err(match key {
            BindKey::Abstract(_) => Errno::ECONNREFUSED,
            BindKey::Inode(..) => Errno::EPROTOTYPE,
        });
    }
    if let Some(l) = b.listener.as_ref().and_then(|l| l.upgrade()) {
        return Ok(Some(Found::Listener(l)));
    }
    Ok(b.dgram.as_ref().and_then(|d| d.upgrade()).map(Found::Dgram))
}

/// Linux's HZ on x86-64 distributions (jiffies: socket timeouts are kept
/// in them, which rounds what getsockopt reads back).
const HZ: u64 = 250;

fn jiffies_deadline(j: Option<u64>) -> Option<Instant> {
    j.map(|j| Instant::now() + std::time::Duration::from_micros(j * (1_000_000 / HZ)))
}

/// Sleeps on `guard` until a change or `deadline` (SO_RCVTIMEO,
/// SO_SNDTIMEO): EAGAIN once it has passed, and EINTR rather than a
/// restart for a signal when there is one (sock_intr_errno).
fn wait(guard: WaitGuard<'_>, deadline: Option<Instant>) -> Result<(), Errno> {
    if deadline.is_some_and(|d| Instant::now() >= d) {
        return Err(Errno::EAGAIN);
    }
    match guard.sleep(deadline) {
        Ok(_) if deadline.is_some_and(|d| Instant::now() >= d) => Err(Errno::EAGAIN),
        Ok(_) => Ok(()),
        Err(e) if e == Errno::ERESTARTSYS && deadline.is_some() => Err(Errno::EINTR),
        Err(e) => Err(e),
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
    ///
    /// A path's socket file is made by the caller first; `file` is its
    /// (device, inode), and `name` the path with its NUL.
    pub fn bind(&self, name: &[u8], file: Option<(u64, u64)>) -> Result<(), Errno> {
        // A connected socket may bind too (a socketpair's end, a client
        // that connected unnamed), unless its side has a name (accepted).
        if let Ok((pair, side)) = self.conn()
            && !pair.names.lock()[side].is_empty()
        {
            return Err(Errno::EINVAL);
        }
        let mut local = self.local.lock();
        if local.name.is_some() {
            return Err(Errno::EINVAL);
        }
        let mut names = NAMES.lock();
        let (name, key) = if let Some((dev, ino)) = file {
            (name.to_vec(), BindKey::Inode(dev, ino))
        } else if name.is_empty() {
            loop {
                let n = AUTOBIND.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let cand = format!("\0{:05x}", n & 0xfffff).into_bytes();
                let key = BindKey::Abstract(cand.clone());
                if !names.contains_key(&key) {
                    break (cand, key);
                }
            }
        } else {
            (name.to_vec(), BindKey::Abstract(name.to_vec()))
        };
        if names.contains_key(&key) {
            return Err(Errno::EADDRINUSE);
        }
        names.insert(
            key.clone(),
            Binding {
                owner: self.ino,
                kind: self.kind,
                listener: None,
                dgram: self.dgram.as_ref().map(Arc::downgrade),
            },
        );
        if let Some(d) = &self.dgram {
            d.st.lock().name = name.clone();
        }
        if let Ok((pair, side)) = self.conn() {
            pair.names.lock()[side] = name.clone();
        }
        local.name = Some(name);
        local.key = Some(key);
        Ok(())
    }

    /// Whether it has a name (bound or autobound).
    pub fn bound(&self) -> bool {
        self.local.lock().name.is_some()
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
        let (Some(name), Some(key)) = (local.name.clone(), local.key.clone()) else {
            return Err(Errno::EINVAL);
        };
        if let Some(l) = &local.listener {
            *l.backlog.lock() = backlog;
            l.wait.notify_all();
            return Ok(());
        }
        let l = Arc::new(Listener {
            name: name.clone(),
            queue: Mutex::new(VecDeque::new()),
            backlog: Mutex::new(backlog),
            creds,
            wait: WaitQueue::default(),
            readiness: Arc::clone(&self.readiness),
            closed: std::sync::atomic::AtomicBool::new(false),
        });
        if let Some(b) = NAMES.lock().get_mut(&key) {
            b.listener = Some(Arc::downgrade(&l));
        }
        local.listener = Some(l);
        Ok(())
    }

    /// Whether it listens (SO_ACCEPTCONN).
    pub fn listening(&self) -> bool {
        self.local.lock().listener.is_some()
    }

    /// connect to the listener bound at `key`: ECONNREFUSED with none
    /// (or one of another socket type), EISCONN when connected; waits
    /// while its backlog is full (EAGAIN when `nonblock`). `ino` numbers
    /// the listener's new socket. A datagram socket takes the socket
    /// bound there as its default destination (None: forgets it).
    pub fn connect(
        &self,
        key: Option<&BindKey>,
        creds: Ucred,
        ino: u64,
        nonblock: bool,
        blocker: &dyn Blocker,
    ) -> Result<(), Errno> {
        if let Some(d) = &self.dgram {
            let to = match key {
                None => None,
                Some(key) => match find(key, self.kind)? {
                    Some(Found::Dgram(to)) => Some(to),
                    _ => return Err(Errno::ECONNREFUSED),
                },
            };
            if let Some(to) = &to
                && !to.st.lock().open
            {
                return Err(Errno::ECONNREFUSED);
            }
            d.st.lock().peer = to;
            d.changed();
            return Ok(());
        }
        if self.conn.get().is_some() {
            return Err(Errno::EISCONN);
        }
        if self.listening() {
            return Err(Errno::EINVAL);
        }
        let Some(key) = key else {
            return Err(Errno::EINVAL);
        };
        let Some(Found::Listener(l)) = find(key, self.kind)? else {
            return Err(Errno::ECONNREFUSED);
        };
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
            wait(guard, self.snd_deadline())?;
        }
    }

    /// Sends a datagram to `to` (sendto with an address, or the default
    /// destination), as unix_dgram_sendmsg: ECONNREFUSED when it is closed
    /// (forgetting it as the default destination), EPERM when it is
    /// connected to another socket, EPIPE when its receiving side is shut;
    /// waits while its queue is full (more than net.unix.max_dgram_qlen
    /// datagrams from others, or its bytes past this socket's SO_SNDBUF).
    pub fn send_to(
        &self,
        to: &Arc<DgramEnd>,
        data: &[u8],
        rights: Vec<Arc<OpenFile>>,
        creds: Ucred,
        nonblock: bool,
        blocker: &dyn Blocker,
    ) -> Result<usize, Errno> {
        let Some(me) = &self.dgram else {
            return Err(Errno::EISCONN);
        };
        if data.len() > DGRAM_MAX {
            return Err(Errno::EMSGSIZE);
        }
        let sndbuf = self.opts.lock().sndbuf as usize;
        let deadline = self.snd_deadline();
        let from = me.st.lock().name.clone();
        let mut rights = Some(rights);
        loop {
            let guard = to.wait.prepare(blocker);
            {
                let mut o = to.st.lock();
                if !o.open {
                    drop(o);
                    let mut m = me.st.lock();
                    if m.peer.as_ref().is_some_and(|p| Arc::ptr_eq(p, to)) {
                        m.peer = None;
                    }
                    return Err(Errno::ECONNREFUSED);
                }
                let peer_is_me = match &o.peer {
                    Some(p) if Arc::ptr_eq(p, me) => true,
                    Some(_) => return Err(Errno::EPERM),
                    None => false,
                };
                if o.shut & RCV_SHUTDOWN != 0 {
                    return Err(Errno::EPIPE);
                }
                let full = (!peer_is_me && o.queue.len() > MAX_DGRAM_QLEN)
                    || (!o.queue.is_empty() && o.queued + data.len() + MSG_OVERHEAD > sndbuf);
                if !full {
                    if !mem::charge(data.len() + MSG_OVERHEAD) {
                        return Err(Errno::ENOBUFS);
                    }
                    let msg = Msg {
                        data: data.to_vec(),
                        off: 0,
                        rights: gc::inflight(rights.take().unwrap_or_default()),
                        creds,
                        from,
                    };
                    o.queued += msg.cost();
                    o.queue.push_back(msg);
                    drop(o);
                    to.changed();
                    return Ok(data.len());
                }
            }
            if nonblock {
                return Err(Errno::EAGAIN);
            }
            wait(guard, deadline)?;
        }
    }

    /// The datagram socket bound at `key`, for sendto: ECONNREFUSED when
    /// none is, EPROTOTYPE for a socket file of another type.
    pub fn find_dgram(&self, key: &BindKey) -> Result<Arc<DgramEnd>, Errno> {
        match find(key, self.kind)? {
            Some(Found::Dgram(d)) => Ok(d),
            _ => Err(Errno::ECONNREFUSED),
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
            wait(guard, self.rcv_deadline())?;
        }
    }
}

/// net.unix.max_dgram_qlen: a datagram socket's queue is full past this
/// many datagrams (except for those from the socket it is connected to).
const MAX_DGRAM_QLEN: usize = 10;

/// The receiving side of a datagram socket made by socket(2): its own
/// queue, which any socket of its type may send to by address, and its
/// default destination once connected.
pub struct DgramEnd {
    st: Mutex<DgramState>,
    /// Woken on every change (data, room, shutdown, close).
    wait: WaitQueue,
    readiness: Arc<WaitQueue>,
}

#[derive(Default)]
struct DgramState {
    queue: VecDeque<Msg>,
    /// Sum of the queued messages' [`Msg::cost`].
    queued: usize,
    open: bool,
    /// RCV_SHUTDOWN | SEND_SHUTDOWN.
    shut: u8,
    /// The default destination (connect).
    peer: Option<Arc<DgramEnd>>,
    /// Its bound name (what receivers see as the sender).
    name: Vec<u8>,
}

impl DgramEnd {
    fn changed(&self) {
        self.wait.notify_all();
        self.readiness.notify_all();
    }

    /// Receives one datagram (unix_dgram_recvmsg): waits for one unless
    /// `nonblock`; Ok with nothing when the receiving side is shut.
    fn recv(
        &self,
        len: usize,
        peek: bool,
        passcred: bool,
        nonblock: bool,
        deadline: Option<Instant>,
        blocker: &dyn Blocker,
    ) -> Result<Received, Errno> {
        loop {
            let guard = self.wait.prepare(blocker);
            {
                let mut st = self.st.lock();
                if let Some(m) = st.queue.front_mut() {
                    let n = m.data.len().min(len);
                    let mut out = Received {
                        data: m.data[..n].to_vec(),
                        full_len: m.data.len(),
                        rights: Vec::new(),
                        creds: passcred.then_some(m.creds),
                        from: m.from.clone(),
                    };
                    if peek {
                        out.rights = m.rights.clone();
                    } else {
                        let mut m = st.queue.pop_front().expect("front");
                        st.queued -= m.cost();
                        out.rights = m.take_rights();
                        drop(st);
                        drop(m);
                        self.changed();
                    }
                    return Ok(out);
                }
                if st.shut & RCV_SHUTDOWN != 0 {
                    return Ok(Received {
                        data: Vec::new(),
                        full_len: 0,
                        rights: Vec::new(),
                        creds: None,
                        from: Vec::new(),
                    });
                }
            }
            if nonblock {
                return Err(Errno::EAGAIN);
            }
            wait(guard, deadline)?;
        }
    }

    /// unix_dgram_poll: readable with a datagram queued or the receiving
    /// side shut; writable unless the destination's queue is full.
    fn poll(&self, sndbuf: usize) -> u16 {
        let (mut m, peer) = {
            let st = self.st.lock();
            let mut m = 0;
            if !st.queue.is_empty() {
                m |= poll::POLLIN;
            }
            if st.shut & RCV_SHUTDOWN != 0 {
                m |= POLLRDHUP | poll::POLLIN;
            }
            if st.shut == RCV_SHUTDOWN | SEND_SHUTDOWN {
                m |= poll::POLLHUP;
            }
            (m, st.peer.clone())
        };
        let writable = match peer {
            None => true,
            Some(p) => {
                let o = p.st.lock();
                let back = o.peer.as_ref().is_some_and(|x| std::ptr::eq(&**x, self));
                !o.open
                    || (back || o.queue.len() <= MAX_DGRAM_QLEN) && o.queued + MSG_OVERHEAD < sndbuf
            }
        };
        if writable {
            m |= poll::POLLOUT;
        }
        m
    }

    /// The socket is closed: what was queued for it goes, and senders
    /// that wait for room here wake (to ECONNREFUSED).
    fn close(&self) {
        let (dropped, peer) = {
            let mut st = self.st.lock();
            st.open = false;
            st.queued = 0;
            (std::mem::take(&mut st.queue), st.peer.take())
        };
        drop(dropped);
        drop(peer);
        self.changed();
    }
}

/// Garbage collection of sockets in flight, as Linux's net/unix/garbage.c.
///
/// A Unix socket sent with SCM_RIGHTS is held by the queue it waits in.
/// Sockets that hold each other that way (a socket sent over itself, two
/// sent over each other) stay alive after every descriptor to them is
/// closed. When a Unix socket is made or released, this looks at every
/// socket in flight: one that only queues hold (no descriptor, no receiver
/// holding it) and that no such socket reachable from outside holds, is
/// garbage, and its queue is emptied, which frees the cycle.
///
/// The files in flight are bounded (ETOOMANYREFS past the sender's
/// RLIMIT_NOFILE in all, as Linux's too_many_unix_fds counts per user).
pub(crate) mod gc {
    use std::collections::{HashMap, HashSet};
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
    use std::sync::{Arc, Weak};

    use parking_lot::Mutex;

    use super::{Msg, OpenFile};

    /// Unix sockets that have been sent (and may still be in flight).
    static SENT: Mutex<Vec<Weak<OpenFile>>> = Mutex::new(Vec::new());
    /// Files of every kind in flight now.
    static INFLIGHT: AtomicUsize = AtomicUsize::new(0);
    /// One collection at a time (and none from inside one).
    static RUNNING: AtomicBool = AtomicBool::new(false);

    /// Files in flight in the sandbox now.
    pub(crate) fn in_flight() -> usize {
        INFLIGHT.load(Ordering::Relaxed)
    }

    /// `rights` go into a queue: counted, and the sockets among them
    /// remembered.
    pub(super) fn inflight(rights: Vec<Arc<OpenFile>>) -> Vec<Arc<OpenFile>> {
        if rights.is_empty() {
            return rights;
        }
        INFLIGHT.fetch_add(rights.len(), Ordering::Relaxed);
        let socks: Vec<_> = rights
            .iter()
            .filter(|f| {
                f.ops
                    .as_unix_socket()
                    .map(|s| s.inflight.fetch_add(1, Ordering::Relaxed))
                    .is_some()
            })
            .map(Arc::downgrade)
            .collect();
        if !socks.is_empty() {
            SENT.lock().extend(socks);
        }
        rights
    }

    /// `rights` left their queue.
    pub(super) fn landed(rights: &[Arc<OpenFile>]) {
        if rights.is_empty() {
            return;
        }
        INFLIGHT.fetch_sub(rights.len(), Ordering::Relaxed);
        for f in rights {
            if let Some(s) = f.ops.as_unix_socket() {
                s.inflight.fetch_sub(1, Ordering::Relaxed);
            }
        }
    }

    /// Whether `f` is a socket in flight now.
    fn flying(f: &OpenFile) -> bool {
        f.ops
            .as_unix_socket()
            .is_some_and(|s| s.inflight.load(Ordering::Relaxed) > 0)
    }

    /// The addresses of the files queued in `sock`'s receive queue.
    fn queued_in(f: &OpenFile, out: &mut Vec<usize>) {
        let Some(s) = f.ops.as_unix_socket() else {
            return;
        };
        let add = |q: &std::collections::VecDeque<Msg>, out: &mut Vec<usize>| {
            for m in q {
                out.extend(m.rights.iter().map(|r| Arc::as_ptr(r) as usize));
            }
        };
        if let Some(d) = &s.dgram {
            add(&d.st.lock().queue, out);
        }
        if let Some((pair, side)) = s.conn.get() {
            add(&pair.sides.lock()[*side].queue, out);
        }
    }

    /// Empties `f`'s receive queue; returns what was queued (to drop
    /// outside every lock).
    fn purge(f: &OpenFile) -> Vec<Msg> {
        let mut out = Vec::new();
        let Some(s) = f.ops.as_unix_socket() else {
            return out;
        };
        if let Some(d) = &s.dgram {
            let mut st = d.st.lock();
            st.queued = 0;
            out.extend(std::mem::take(&mut st.queue));
        }
        if let Some((pair, side)) = s.conn.get() {
            let mut sides = pair.sides.lock();
            sides[*side].queued = 0;
            out.extend(std::mem::take(&mut sides[*side].queue));
        }
        out
    }

    /// Collects the cycles of sockets that nothing outside holds.
    pub(super) fn collect() {
        if SENT.lock().is_empty() || RUNNING.swap(true, Ordering::Acquire) {
            return;
        }
        loop {
            let garbage = find_garbage();
            let found = !garbage.is_empty();
            // Dropping the messages may release more sockets; their
            // collection is this loop's next round.
            drop(garbage);
            if !found {
                break;
            }
        }
        RUNNING.store(false, Ordering::Release);
    }

    fn find_garbage() -> Vec<Msg> {
        // Only sockets in flight now can be garbage or hold garbage (one
        // that lands is remembered again if it is sent again).
        let live: Vec<Arc<OpenFile>> = {
            let mut sent = SENT.lock();
            let mut seen = HashSet::new();
            let mut live = Vec::new();
            sent.retain(|w| {
                let Some(f) = w.upgrade() else {
                    return false;
                };
                if !flying(&f) || !seen.insert(Arc::as_ptr(&f) as usize) {
                    return false;
                }
                live.push(f);
                true
            });
            live
        };
        let index: HashMap<usize, usize> = live
            .iter()
            .enumerate()
            .map(|(i, f)| (Arc::as_ptr(f) as usize, i))
            .collect();
        // What each queue holds, and how many references to each sent
        // socket the queues of sent sockets hold.
        let mut holds: Vec<Vec<usize>> = Vec::with_capacity(live.len());
        let mut internal = vec![0usize; live.len()];
        for f in &live {
            let mut q = Vec::new();
            queued_in(f, &mut q);
            let q: Vec<usize> = q
                .into_iter()
                .filter_map(|p| index.get(&p).copied())
                .collect();
            for &i in &q {
                internal[i] += 1;
            }
            holds.push(q);
        }
        // Held from outside: a descriptor, a receiver, a queue of a socket
        // never sent (`live` holds one reference itself).
        let mut alive: Vec<bool> = live
            .iter()
            .zip(&internal)
            .map(|(f, &n)| Arc::strong_count(f) > n + 1)
            .collect();
        let mut stack: Vec<usize> = (0..live.len()).filter(|&i| alive[i]).collect();
        while let Some(i) = stack.pop() {
            for &j in &holds[i] {
                if !alive[j] {
                    alive[j] = true;
                    stack.push(j);
                }
            }
        }
        // Check again under no lock that the candidates did not change
        // meanwhile: a queue's content only moves under its lock, and a
        // socket that only queues hold cannot be reached to send or
        // receive, so a candidate stays one.
        let mut garbage = Vec::new();
        for (i, f) in live.iter().enumerate() {
            if !alive[i] {
                garbage.extend(purge(f));
            }
        }
        drop(live);
        garbage
    }
}

//! AF_INET and AF_INET6 sockets on the sandbox's loopback: TCP
//! (SOCK_STREAM) and UDP (SOCK_DGRAM) between the sandbox's own processes.
//!
//! # Why no TCP/IP stack
//!
//! Nothing leaves the sandbox: the only interface is `lo` (127.0.0.0/8 and
//! ::1), and every other destination gets ENETUNREACH. On loopback a TCP
//! connection is, as far as a program can see, a reliable ordered byte
//! stream between two sockets with inet addresses, and a UDP datagram is
//! delivered whole or dropped. So the sentry pairs the two ends of a
//! connection directly, as [`super::unix`] pairs Unix sockets: `connect`
//! looks the listener up in the sandbox's port table and queues a new
//! connection on it, and a connected pair is two bounded byte queues. This
//! is simpler than running segments through a user-space TCP/IP stack, has
//! no timers, windows or retransmissions that could differ from Linux on a
//! loopback where none of them show, and costs one copy per transfer. What
//! a real stack would add (MSS, congestion windows, TIME_WAIT) is
//! invisible or irrelevant on loopback, except TIME_WAIT: the side that
//! closes first keeps its port for a minute (its binding stays in the
//! port table, marked, and conflicts as Linux's TIME_WAIT socket does,
//! SO_REUSEADDR on both sides letting a new bind through). Urgent data
//! (MSG_OOB) is kept as Linux's receiver keeps it: one urgent byte per
//! half, with its sequence number (see `Half::urg`).
//!
//! A later real network interface would add a user-space stack (for
//! example smoltcp) beside this: a route lookup sends loopback
//! destinations here and everything else to the stack's interface, and
//! the port table below would be shared by both.
//!
//! # Model
//!
//! * The port table ([`TABLE`], one per sentry process, so one per
//!   sandbox) holds every bound socket by protocol and port, with the
//!   rules of Linux's `inet_csk_bind_conflict` and `udp_lib_lportinuse`
//!   for SO_REUSEADDR and SO_REUSEPORT, wildcard addresses and
//!   IPV6_V6ONLY. Ephemeral ports come from Linux's default range
//!   32768–60999.
//! * Addresses are kept normalized: an IPv4 address, or an IPv4-mapped
//!   IPv6 one seen by an IPv6 socket, is an [`IpAddr::V4`]; an IPv6 socket
//!   shows it back as `::ffff:a.b.c.d`.
//! * A TCP connection ([`Conn`]) is two halves, each with the bytes
//!   waiting for its side (bounded by the receiver's SO_RCVBUF plus the
//!   sender's SO_SNDBUF), FIN (shutdown or close: EOF after the data) and
//!   RST (close with unread data, SO_LINGER 0, or data sent to a closed
//!   peer: ECONNRESET, or EPIPE after a FIN, as Linux's `tcp_reset`).
//! * A UDP socket receives into its own bounded queue (SO_RCVBUF, each
//!   datagram counted with [`DGRAM_OVERHEAD`]); a full queue drops, as
//!   Linux does. A connected UDP socket whose datagram finds no receiver
//!   gets ECONNREFUSED on its next call (the ICMP port unreachable).
//!
//! Buffers are bounded per socket as above (Linux's default sizes). Like
//! Unix sockets' (see [`super::unix`]), they are not charged to
//! `--memory`; descriptors are limited by RLIMIT_NOFILE.
//!
//! # Lock order
//!
//! A socket's `inner` → [`TABLE`] → a listener's queue → a connection's
//! halves or a UDP queue. Nothing is held while sleeping.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, LazyLock, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::unix::mem;
use super::{FileOps, IoctlReply, Stat, poll};
use crate::errno::Errno;
use crate::kernel::wait::{Blocker, WaitQueue};

/// AF_INET.
pub const AF_INET: u16 = 2;
/// AF_INET6.
pub const AF_INET6: u16 = 10;
/// SOCK_STREAM.
pub const SOCK_STREAM: u32 = 1;
/// SOCK_DGRAM.
pub const SOCK_DGRAM: u32 = 2;
/// IPPROTO_TCP.
pub const IPPROTO_TCP: i32 = 6;
/// IPPROTO_UDP.
pub const IPPROTO_UDP: i32 = 17;
const IPPROTO_IP: i32 = 0;
const IPPROTO_IPV6: i32 = 41;
const SOL_SOCKET: i32 = 1;

/// Linux's default ephemeral range (net.ipv4.ip_local_port_range).
pub const EPHEMERAL: (u16, u16) = (32768, 60999);
/// TCP's default SO_SNDBUF (tcp_wmem[1]).
const TCP_SNDBUF: u32 = 16384;
/// TCP's default SO_RCVBUF (tcp_rmem[1]).
const TCP_RCVBUF: u32 = 131_072;
/// UDP's SO_SNDBUF and SO_RCVBUF (wmem_default, rmem_default).
const UDP_BUF: u32 = 212_992;
/// wmem_max and rmem_max: setsockopt caps a size there, then doubles it.
const BUF_MAX: u32 = 212_992;
/// What a queued datagram costs on top of its data (an skb's truesize).
pub const DGRAM_OVERHEAD: usize = 768;
/// Linux's somaxconn: the largest backlog.
const SOMAXCONN: usize = 4096;

/// POLLRDHUP.
const POLLRDHUP: u16 = 0x2000;
/// POLLPRI: urgent data to read.
const POLLPRI: u16 = 0x2;

/// Transport protocol of a socket.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub enum Proto {
    /// TCP (SOCK_STREAM).
    Tcp,
    /// UDP (SOCK_DGRAM).
    Udp,
}

/// An endpoint: a normalized address (IPv4 for IPv4 and IPv4-mapped) and
/// a port.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub struct Ep {
    /// The address.
    pub ip: IpAddr,
    /// The port.
    pub port: u16,
}

fn normalize(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => ip,
        },
        v4 => v4,
    }
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.octets()[0] == 127,
        IpAddr::V6(v6) => v6 == Ipv6Addr::LOCALHOST,
    }
}

/// Encodes `ep` as a `struct sockaddr_in` (or `sockaddr_in6` when `v6`).
pub fn encode_addr(ep: Ep, v6: bool) -> Vec<u8> {
    if v6 {
        let ip = match ep.ip {
            IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            IpAddr::V6(v6) => v6,
        };
        let mut b = vec![0u8; 28];
        b[0..2].copy_from_slice(&AF_INET6.to_le_bytes());
        b[2..4].copy_from_slice(&ep.port.to_be_bytes());
        b[8..24].copy_from_slice(&ip.octets());
        b
    } else {
        let ip = match ep.ip {
            IpAddr::V4(v4) => v4,
            IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
        };
        let mut b = vec![0u8; 16];
        b[0..2].copy_from_slice(&AF_INET.to_le_bytes());
        b[2..4].copy_from_slice(&ep.port.to_be_bytes());
        b[4..8].copy_from_slice(&ip.octets());
        b
    }
}

/// A guest's socket address as given to bind, connect or sendto.
pub enum Dest {
    /// AF_UNSPEC: connect's "dissolve the association".
    Unspec,
    /// An address and port.
    Ep(Ep),
}

/// Decodes a guest `struct sockaddr_in`/`sockaddr_in6` for a socket of
/// family `v6` (EINVAL for a short one, EAFNOSUPPORT for another family).
pub fn decode_addr(b: &[u8], v6: bool) -> Result<Dest, Errno> {
    if b.len() < 2 {
        return Err(Errno::EINVAL);
    }
    let family = u16::from_le_bytes([b[0], b[1]]);
    if family == 0 {
        return Ok(Dest::Unspec);
    }
    if v6 {
        // SIN6_LEN_RFC2133: the scope id may be left out.
        if b.len() < 24 {
            return Err(Errno::EINVAL);
        }
        if family != AF_INET6 {
            return Err(Errno::EAFNOSUPPORT);
        }
        let port = u16::from_be_bytes([b[2], b[3]]);
        let o: [u8; 16] = b[8..24].try_into().expect("16");
        Ok(Dest::Ep(Ep {
            ip: normalize(IpAddr::V6(Ipv6Addr::from(o))),
            port,
        }))
    } else {
        if b.len() < 16 {
            return Err(Errno::EINVAL);
        }
        if family != AF_INET {
            return Err(Errno::EAFNOSUPPORT);
        }
        let port = u16::from_be_bytes([b[2], b[3]]);
        let o: [u8; 4] = b[4..8].try_into().expect("4");
        Ok(Dest::Ep(Ep {
            ip: IpAddr::V4(Ipv4Addr::from(o)),
            port,
        }))
    }
}

// ---------------------------------------------------------------------
// The port table.

/// One bound socket in the port table.
struct Binding {
    /// The socket's inode number (its identity).
    id: u64,
    /// The bound address (unspecified: a wildcard).
    ip: IpAddr,
    /// IPV6_V6ONLY of an IPv6 socket (an IPv6 wildcard then takes no IPv4).
    v6only: bool,
    reuseaddr: bool,
    reuseport: bool,
    uid: u32,
    /// A TCP listener.
    listener: Option<Weak<Listener>>,
    /// A UDP socket's queue.
    udp: Option<Weak<UdpQueue>>,
    /// A connected UDP socket takes datagrams from this peer only.
    udp_peer: Option<Ep>,
    /// An AF_INET6 socket's (for /proc/net/tcp6 and udp6).
    v6: bool,
    /// A TCP connection's peer (for /proc/net/tcp).
    peer: Option<Ep>,
    /// A closed TCP socket in TIME_WAIT: its port is held until then.
    tw_until: Option<Instant>,
}

/// How long the side that closes first keeps its port (TCP_TIMEWAIT_LEN).
const TIME_WAIT: Duration = Duration::from_secs(60);

impl Binding {
    /// How well the binding matches destination `ip` (0: not at all):
    /// an exact address beats an IPv4 wildcard, which beats an IPv6 one.
    fn score(&self, ip: IpAddr) -> u8 {
        if self.ip == ip {
            return 4;
        }
        match self.ip {
            IpAddr::V4(a) if a.is_unspecified() && ip.is_ipv4() => 2,
            IpAddr::V6(a) if a.is_unspecified() => match ip {
                IpAddr::V6(_) => 2,
                IpAddr::V4(_) if !self.v6only => 1,
                IpAddr::V4(_) => 0,
            },
            _ => 0,
        }
    }

    /// Whether some destination would match both.
    fn overlaps(&self, ip: IpAddr, v6only: bool) -> bool {
        let other = Binding {
            id: 0,
            ip,
            v6only,
            reuseaddr: false,
            reuseport: false,
            uid: 0,
            listener: None,
            udp: None,
            udp_peer: None,
            v6: false,
            peer: None,
            tw_until: None,
        };
        if !ip.is_unspecified() {
            return self.score(ip) > 0;
        }
        if !self.ip.is_unspecified() {
            return other.score(self.ip) > 0;
        }
        match (self.ip, ip) {
            (IpAddr::V4(_), IpAddr::V4(_)) | (IpAddr::V6(_), IpAddr::V6(_)) => true,
            (IpAddr::V4(_), IpAddr::V6(_)) => !v6only,
            (IpAddr::V6(_), IpAddr::V4(_)) => !self.v6only,
        }
    }

    fn listening(&self) -> bool {
        self.listener.as_ref().is_some_and(|l| l.strong_count() > 0)
    }
}

/// Every bound socket of the sandbox, by protocol and port.
#[derive(Default)]
struct Table {
    ports: HashMap<(Proto, u16), Vec<Binding>>,
    /// Where the next ephemeral port search starts.
    next: u16,
}

/// The sandbox's port table (one sandbox per sentry process).
static TABLE: LazyLock<Mutex<Table>> = LazyLock::new(|| {
    Mutex::new(Table {
        ports: HashMap::new(),
        // Start somewhere in the range, as Linux's randomized offset.
        next: EPHEMERAL.0 + (std::process::id() % 1000) as u16 * 7,
    })
});

/// What a socket asks of the table when it binds.
struct BindReq {
    id: u64,
    v6: bool,
    ip: IpAddr,
    v6only: bool,
    reuseaddr: bool,
    reuseport: bool,
    uid: u32,
}

impl Table {
    /// Whether `req` may take `port` (Linux's bind conflict rules).
    fn conflicts(&self, proto: Proto, port: u16, req: &BindReq) -> bool {
        let Some(list) = self.ports.get(&(proto, port)) else {
            return false;
        };
        list.iter().any(|b| {
            if b.id == req.id || !b.overlaps(req.ip, req.v6only) {
                return false;
            }
            let reuseport = req.reuseport && b.reuseport && req.uid == b.uid;
            let reuseaddr = req.reuseaddr && b.reuseaddr && (proto == Proto::Udp || !b.listening());
            !(reuseport || reuseaddr)
        })
    }

    /// Binds `req` to `port` (0: an ephemeral port); the port taken.
    fn bind(
        &mut self,
        proto: Proto,
        port: u16,
        req: BindReq,
        udp: Option<Weak<UdpQueue>>,
    ) -> Result<u16, Errno> {
        self.expire();
        let port = if port == 0 {
            let span = u32::from(EPHEMERAL.1 - EPHEMERAL.0) + 1;
            let mut found = None;
            for i in 0..span {
                let off = (u32::from(self.next - EPHEMERAL.0) + i) % span;
                let p = EPHEMERAL.0 + off as u16;
                if !self.ports.contains_key(&(proto, p)) {
                    found = Some(p);
                    break;
                }
            }
            let p = found.ok_or(Errno::EADDRINUSE)?;
            // Step by an odd stride so consecutive binds spread out.
            self.next = EPHEMERAL.0 + ((u32::from(p - EPHEMERAL.0) + 7) % span) as u16;
            p
        } else {
            if self.conflicts(proto, port, &req) {
                return Err(Errno::EADDRINUSE);
            }
            port
        };
        self.ports.entry((proto, port)).or_default().push(Binding {
            id: req.id,
            ip: req.ip,
            v6only: req.v6only,
            reuseaddr: req.reuseaddr,
            reuseport: req.reuseport,
            uid: req.uid,
            listener: None,
            udp,
            udp_peer: None,
            v6: req.v6,
            peer: None,
            tw_until: None,
        });
        Ok(port)
    }

    /// Forgets the TIME_WAIT bindings whose time is over.
    fn expire(&mut self) {
        let now = Instant::now();
        self.ports.retain(|_, list| {
            list.retain(|b| b.tw_until.is_none_or(|t| t > now));
            !list.is_empty()
        });
    }

    /// The closed socket `id` enters TIME_WAIT: its binding stays, with
    /// no listener or queue, for [`TIME_WAIT`].
    fn time_wait(&mut self, port: u16, id: u64) {
        if let Some(b) = self.get_mut(Proto::Tcp, port, id) {
            b.listener = None;
            b.udp = None;
            b.tw_until = Some(Instant::now() + TIME_WAIT);
        }
    }

    fn get_mut(&mut self, proto: Proto, port: u16, id: u64) -> Option<&mut Binding> {
        self.ports
            .get_mut(&(proto, port))?
            .iter_mut()
            .find(|b| b.id == id)
    }

    fn unbind(&mut self, proto: Proto, port: u16, id: u64) {
        if let Some(list) = self.ports.get_mut(&(proto, port)) {
            list.retain(|b| b.id != id);
            if list.is_empty() {
                self.ports.remove(&(proto, port));
            }
        }
    }

    /// The listener for a TCP connection to `dst` (the best match; among
    /// SO_REUSEPORT equals, one chosen by the source port).
    fn listener(&self, dst: Ep, src_port: u16) -> Option<Arc<Listener>> {
        let list = self.ports.get(&(Proto::Tcp, dst.port))?;
        let live: Vec<(u8, Arc<Listener>)> = list
            .iter()
            .filter_map(|b| {
                let l = b.listener.as_ref()?.upgrade()?;
                let s = b.score(dst.ip);
                (s > 0).then_some((s, l))
            })
            .collect();
        let best = live.iter().map(|x| x.0).max()?;
        let top: Vec<&Arc<Listener>> = live.iter().filter(|x| x.0 == best).map(|x| &x.1).collect();
        Some(Arc::clone(top[usize::from(src_port) % top.len()]))
    }

    /// The UDP queue a datagram from `src` to `dst` goes to.
    fn udp_receiver(&self, dst: Ep, src: Ep) -> Option<Arc<UdpQueue>> {
        let list = self.ports.get(&(Proto::Udp, dst.port))?;
        list.iter()
            .filter_map(|b| {
                if b.udp_peer.is_some_and(|p| p != src) {
                    return None;
                }
                let q = b.udp.as_ref()?.upgrade()?;
                let s = b.score(dst.ip) + u8::from(b.udp_peer.is_some());
                (b.score(dst.ip) > 0).then_some((s, q))
            })
            // The last bound of the best matches, as Linux's SO_REUSEADDR.
            .fold(None, |acc: Option<(u8, Arc<UdpQueue>)>, x| match acc {
                Some(a) if a.0 > x.0 => Some(a),
                _ => Some(x),
            })
            .map(|x| x.1)
    }
}

// ---------------------------------------------------------------------
// TCP connections.

/// One direction's receiving half of a connection.
#[derive(Default)]
struct Half {
    /// Bytes waiting for this side.
    rx: VecDeque<u8>,
    /// Most bytes `rx` may hold.
    cap: usize,
    /// The peer sent FIN: EOF after `rx`.
    fin: bool,
    /// This side shut its reading (SHUT_RD).
    rd_shut: bool,
    /// This side shut its writing (SHUT_WR, FIN sent).
    wr_shut: bool,
    /// The connection was reset or closed under this side (state CLOSE).
    reset: bool,
    /// A pending error (sk_err), reported once.
    err: Option<Errno>,
    /// The side's socket is still open.
    open: bool,
    /// Bytes ever queued to `rx` (rcv_nxt) and taken from it, read or
    /// skipped (copied_seq): `rx` holds the bytes in between.
    rcv_nxt: u64,
    copied: u64,
    /// Linux's urg_data and urg_seq: the urgent byte (the last byte of
    /// the latest MSG_OOB send), its sequence number, and whether it was
    /// read out of band. Without SO_OOBINLINE a normal read stops before
    /// it and then steps over it; reading past it forgets it.
    urg: Urg,
    urg_seq: u64,
    /// The receiving socket's SO_OOBINLINE.
    inline: bool,
    /// This side sent its FIN before it got the peer's (the active
    /// closer, which ends in TIME_WAIT).
    fin_first: bool,
}

/// A half's urgent data (Linux's `tp->urg_data`).
#[derive(Clone, Copy, Default, PartialEq, Eq)]
enum Urg {
    /// None (or read past).
    #[default]
    None,
    /// The urgent byte, not read out of band yet (TCP_URG_VALID).
    Valid(u8),
    /// Read with MSG_OOB (TCP_URG_READ).
    Read,
}

impl Half {
    /// Queues `data`; `oob`: its last byte is urgent (tcp_check_urg and
    /// tcp_urg on the receiving side).
    fn queue(&mut self, data: &[u8], oob: bool) {
        if oob && !data.is_empty() {
            let ptr = self.rcv_nxt + data.len() as u64 - 1;
            let newer = self.urg == Urg::None || ptr > self.urg_seq;
            if self.copied <= ptr && newer {
                // The old urgent byte is next to read and still queued:
                // it is dropped from the stream.
                if self.urg != Urg::None
                    && self.urg_seq == self.copied
                    && !self.inline
                    && self.copied != self.rcv_nxt
                {
                    self.rx.pop_front();
                    self.copied += 1;
                    mem::uncharge(1);
                }
                self.urg_seq = ptr;
                self.urg = Urg::Valid(data[data.len() - 1]);
            }
        }
        self.rx.extend(data);
        self.rcv_nxt += data.len() as u64;
    }

    /// Whether the next byte to read is the urgent mark (SIOCATMARK).
    fn at_mark(&self) -> bool {
        self.urg != Urg::None && self.urg_seq == self.copied
    }
}

/// A TCP connection: side 0 is the connecting socket, side 1 the
/// accepted one.
pub struct Conn {
    halves: Mutex<[Half; 2]>,
    wait: WaitQueue,
    readiness: Arc<WaitQueue>,
    /// Edges for EPOLLET, by side: input (data, FIN, reset arrived) and
    /// output (room appeared).
    edges: super::epoll::PairEdges,
    /// False while the connecting side waits in SYN_SENT: a non-blocking
    /// connect past a full backlog, whose SYN Linux drops and sends
    /// again; here it waits in the listener's SYN queue until an accept
    /// makes room.
    established: std::sync::atomic::AtomicBool,
}

impl Conn {
    fn new(caps: [usize; 2], readiness: Arc<WaitQueue>) -> Arc<Self> {
        let half = |cap| Half {
            cap,
            open: true,
            ..Default::default()
        };
        Arc::new(Self {
            halves: Mutex::new([half(caps[0]), half(caps[1])]),
            wait: WaitQueue::default(),
            readiness,
            edges: Default::default(),
            established: std::sync::atomic::AtomicBool::new(true),
        })
    }

    /// Whether the handshake is done (not in SYN_SENT).
    fn established(&self) -> bool {
        self.established.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The SYN got in: the connection is established.
    fn establish(&self) {
        self.established
            .store(true, std::sync::atomic::Ordering::SeqCst);
        self.changed();
    }

    /// The listener went away before the SYN got in: its next SYN finds
    /// no listener (RST: ECONNREFUSED).
    fn refuse(&self) {
        {
            let mut h = self.halves.lock();
            h[0].err = Some(Errno::ECONNREFUSED);
            h[0].reset = true;
            h[1].open = false;
        }
        self.establish();
    }

    /// A change of every side and direction (close, reset, shutdown).
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

    /// The EPOLLET edges of `side`: (input, output).
    fn edges(&self, side: usize) -> (u64, u64) {
        self.edges.get(side)
    }

    /// `side` is closed: FIN to the peer, or RST when `rst` or data was
    /// left unread (tcp_close).
    fn close_side(&self, side: usize, rst: bool) {
        let dropped;
        {
            let mut h = self.halves.lock();
            let rst = rst || !h[side].rx.is_empty();
            dropped = std::mem::take(&mut h[side].rx);
            if !rst && !h[side].wr_shut && !h[side].fin {
                h[side].fin_first = true;
            }
            h[side].open = false;
            h[side].wr_shut = true;
            h[side].rd_shut = true;
            let peer = &mut h[1 - side];
            if rst {
                if !peer.reset {
                    peer.err = Some(if peer.fin {
                        Errno::EPIPE
                    } else {
                        Errno::ECONNRESET
                    });
                }
                peer.reset = true;
            } else {
                peer.fin = true;
            }
        }
        mem::uncharge(dropped.len());
        drop(dropped);
        self.changed();
    }

    /// Sends from `side`: stream semantics, waits for room unless
    /// `nonblock`; EPIPE (or the pending error) when the way is shut.
    #[allow(clippy::too_many_arguments)]
    fn send(
        &self,
        side: usize,
        data: &[u8],
        oob: bool,
        nonblock: bool,
        deadline: Option<Instant>,
        blocker: &dyn Blocker,
    ) -> Result<usize, Errno> {
        let mut done = 0;
        loop {
            let guard = self.wait.prepare(blocker);
            if !self.established() {
                // sk_stream_wait_connect.
                if nonblock {
                    return Err(Errno::EAGAIN);
                }
                match guard.sleep(deadline) {
                    Ok(true) => continue,
                    Ok(false) => return Err(Errno::EAGAIN),
                    Err(e) => return Err(timeo_intr(e, deadline)),
                }
            }
            {
                let mut h = self.halves.lock();
                let (a, b) = h.split_at_mut(1);
                let (me, peer) = if side == 0 {
                    (&mut a[0], &mut b[0])
                } else {
                    (&mut b[0], &mut a[0])
                };
                if let Some(e) = me.err.take() {
                    return if done > 0 { Ok(done) } else { Err(e) };
                }
                if me.wr_shut || me.reset {
                    return if done > 0 {
                        Ok(done)
                    } else {
                        Err(Errno::EPIPE)
                    };
                }
                if !peer.open {
                    // The peer is gone: it answers with RST (tcp_reset).
                    me.err = Some(if me.fin {
                        Errno::EPIPE
                    } else {
                        Errno::ECONNRESET
                    });
                    me.reset = true;
                    drop(h);
                    self.changed();
                    return Ok(data.len());
                }
                let room = peer.cap.saturating_sub(peer.rx.len());
                if room > 0 && done < data.len() {
                    let n = room.min(data.len() - done);
                    if !mem::charge(n) {
                        return if done > 0 {
                            Ok(done)
                        } else {
                            Err(Errno::ENOBUFS)
                        };
                    }
                    peer.queue(&data[done..done + n], oob);
                    done += n;
                    drop(h);
                    self.changed_one(1 - side, 0);
                    if done == data.len() {
                        return Ok(done);
                    }
                    continue;
                }
                if data.is_empty() {
                    return Ok(0);
                }
            }
            if nonblock {
                return if done > 0 {
                    Ok(done)
                } else {
                    Err(Errno::EAGAIN)
                };
            }
            match guard.sleep(deadline) {
                Ok(true) => {}
                Ok(false) if done > 0 => return Ok(done),
                Ok(false) => return Err(Errno::EAGAIN),
                Err(_) if done > 0 => return Ok(done),
                Err(e) => return Err(timeo_intr(e, deadline)),
            }
        }
    }

    /// Receives up to `len` bytes at `side` (`Ok` empty at EOF).
    #[allow(clippy::too_many_arguments)]
    fn recv(
        &self,
        side: usize,
        len: usize,
        peek: bool,
        waitall: bool,
        nonblock: bool,
        deadline: Option<Instant>,
        blocker: &dyn Blocker,
    ) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        loop {
            let guard = self.wait.prepare(blocker);
            if !self.established() {
                if nonblock {
                    return Err(Errno::EAGAIN);
                }
                match guard.sleep(deadline) {
                    Ok(true) => continue,
                    Ok(false) => return Err(Errno::EAGAIN),
                    Err(e) => return Err(timeo_intr(e, deadline)),
                }
            }
            {
                let mut h = self.halves.lock();
                let me = &mut h[side];
                // tcp_recvmsg's walk: stop before the urgent mark once
                // something was read; at the mark, step over the urgent
                // byte unless it is inline.
                let mut n = 0;
                let mut at_mark_stop = false;
                while out.len() < len {
                    let seq = me.copied + n as u64;
                    if me.urg != Urg::None && me.urg_seq == seq {
                        if !out.is_empty() {
                            at_mark_stop = true;
                            break;
                        }
                        if !me.inline && n < me.rx.len() {
                            n += 1;
                            continue;
                        }
                    }
                    let mut avail = me.rx.len() - n;
                    if me.urg != Urg::None && me.urg_seq > seq && me.urg_seq - seq < avail as u64 {
                        avail = (me.urg_seq - seq) as usize;
                    }
                    let take = avail.min(len - out.len());
                    if take == 0 {
                        break;
                    }
                    out.extend(me.rx.range(n..n + take));
                    n += take;
                }
                if n > 0 && !peek {
                    me.rx.drain(..n);
                    mem::uncharge(n);
                    me.copied += n as u64;
                    if me.urg != Urg::None && me.copied > me.urg_seq {
                        me.urg = Urg::None;
                    }
                }
                let eof = me.fin || me.rd_shut || me.reset;
                let err = if out.is_empty() && !me.fin {
                    me.err.take()
                } else {
                    None
                };
                drop(h);
                if n > 0 && !peek {
                    self.changed_one(1 - side, 1);
                }
                if let Some(e) = err {
                    return Err(e);
                }
                let enough = if waitall && !peek {
                    out.len() >= len || at_mark_stop
                } else {
                    !out.is_empty() || len == 0
                };
                if enough || eof {
                    return Ok(out);
                }
                if peek {
                    out.clear();
                }
            }
            if nonblock {
                return if out.is_empty() {
                    Err(Errno::EAGAIN)
                } else {
                    Ok(out)
                };
            }
            match guard.sleep(deadline) {
                Ok(true) => {}
                Ok(false) if !out.is_empty() => return Ok(out),
                Ok(false) => return Err(Errno::EAGAIN),
                Err(_) if !out.is_empty() => return Ok(out),
                Err(e) => return Err(timeo_intr(e, deadline)),
            }
        }
    }

    /// recv with MSG_OOB (tcp_recv_urg): the urgent byte, once; EINVAL
    /// with none, after it was read, or with SO_OOBINLINE; never waits.
    fn recv_oob(&self, side: usize, len: usize, peek: bool) -> Result<Vec<u8>, Errno> {
        let mut h = self.halves.lock();
        let me = &mut h[side];
        match me.urg {
            Urg::Valid(b) if !me.inline => {
                if !peek {
                    me.urg = Urg::Read;
                }
                Ok(if len > 0 { vec![b] } else { Vec::new() })
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// SIOCATMARK for `side`.
    fn at_mark(&self, side: usize) -> bool {
        self.halves.lock()[side].at_mark()
    }

    /// Notes the receiving socket's SO_OOBINLINE.
    fn set_inline(&self, side: usize, on: bool) {
        self.halves.lock()[side].inline = on;
    }

    /// tcp_poll for `side`.
    fn poll(&self, side: usize) -> u16 {
        if !self.established() {
            return 0;
        }
        let h = self.halves.lock();
        let me = &h[side];
        let peer = &h[1 - side];
        let rcv = me.fin || me.rd_shut || me.reset;
        let snd = me.wr_shut || me.reset;
        let mut m = 0;
        if rcv && snd {
            m |= poll::POLLHUP;
        }
        if rcv {
            m |= poll::POLLIN | POLLRDHUP;
        }
        // At the mark of an urgent byte that is not inline, that byte
        // does not count (tcp_poll's target).
        let target = if me.at_mark() && !me.inline { 2 } else { 1 };
        if me.rx.len() >= target {
            m |= poll::POLLIN;
        }
        if matches!(me.urg, Urg::Valid(_)) {
            m |= POLLPRI;
        }
        if snd || !peer.open || peer.rx.len() < peer.cap {
            m |= poll::POLLOUT;
        }
        if me.err.is_some() {
            m |= poll::POLLERR;
        }
        m
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        let h = self.halves.get_mut();
        mem::uncharge(h[0].rx.len() + h[1].rx.len());
    }
}

/// A sleep that was interrupted: a socket with a timeout says EINTR,
/// one without restarts (sock_intr_errno).
fn timeo_intr(e: Errno, deadline: Option<Instant>) -> Errno {
    if deadline.is_some() && e == Errno::ERESTARTSYS {
        Errno::EINTR
    } else {
        e
    }
}

/// A connection waiting in a listener's queue.
struct Pending {
    conn: Arc<Conn>,
    /// The address the client connected to (the new socket's name).
    local: Ep,
    /// The client's address.
    peer: Ep,
}

/// The accept queue of a listening TCP socket.
pub struct Listener {
    q: Mutex<ListenQ>,
    wait: WaitQueue,
    readiness: Arc<WaitQueue>,
    /// SO_RCVBUF of the listener (the accepted sockets inherit it).
    rcvbuf: usize,
}

struct ListenQ {
    ready: VecDeque<Pending>,
    /// Non-blocking connects that found the queue full (SYN_SENT), in
    /// order: one moves to `ready` whenever there is room.
    syn: VecDeque<Pending>,
    backlog: usize,
    closed: bool,
}

impl ListenQ {
    /// Lets waiting SYNs in while the queue has room.
    fn admit(&mut self) {
        while self.ready.len() <= self.backlog {
            let Some(p) = self.syn.pop_front() else { break };
            p.conn.establish();
            self.ready.push_back(p);
        }
    }
}

impl Listener {
    fn close(&self) {
        let (dropped, syn) = {
            let mut q = self.q.lock();
            q.closed = true;
            (std::mem::take(&mut q.ready), std::mem::take(&mut q.syn))
        };
        for p in syn {
            p.conn.refuse();
        }
        // Connections never accepted are reset.
        for p in dropped {
            p.conn.close_side(1, true);
        }
        self.wait.notify_all();
        self.readiness.notify_all();
    }
}

// ---------------------------------------------------------------------
// UDP.

/// A UDP socket's receive queue.
pub struct UdpQueue {
    q: Mutex<UdpRx>,
    wait: WaitQueue,
    readiness: Arc<WaitQueue>,
}

#[derive(Default)]
struct UdpRx {
    dgrams: VecDeque<(Ep, Vec<u8>)>,
    /// Sum of the queued datagrams' sizes plus [`DGRAM_OVERHEAD`] each.
    bytes: usize,
    rcvbuf: usize,
}

impl Drop for UdpRx {
    fn drop(&mut self) {
        mem::uncharge(self.bytes);
    }
}

impl UdpQueue {
    fn deliver(&self, from: Ep, data: &[u8]) {
        {
            let mut q = self.q.lock();
            // __udp_enqueue_schedule_skb: drop when already over the limit.
            if q.bytes > q.rcvbuf || !mem::charge(data.len() + DGRAM_OVERHEAD) {
                return;
            }
            q.bytes += data.len() + DGRAM_OVERHEAD;
            q.dgrams.push_back((from, data.to_vec()));
        }
        self.wait.notify_all();
        self.readiness.notify_all();
    }
}

// ---------------------------------------------------------------------
// The socket.

/// Options of one socket.
struct Opts {
    reuseaddr: bool,
    reuseport: bool,
    v6only: bool,
    sndbuf: u32,
    rcvbuf: u32,
    /// SO_LINGER (on, seconds).
    linger: (i32, i32),
    rcvtimeo: Option<Duration>,
    sndtimeo: Option<Duration>,
    /// Other integer options, by (level, name).
    ints: HashMap<(i32, i32), i32>,
}

enum Tcp {
    /// Not connected (fresh, bound, refused or shut).
    Idle,
    Listening(Arc<Listener>),
    Connected {
        conn: Arc<Conn>,
        side: usize,
        peer: Ep,
    },
}

struct Inner {
    /// The bound address (after bind, listen, connect or a send).
    local: Option<Ep>,
    opts: Opts,
    /// A pending error outside a connection (sk_err: a refused
    /// non-blocking connect, ICMP port unreachable for UDP).
    err: Option<Errno>,
    tcp: Tcp,
    /// A non-blocking connect said EINPROGRESS: the next connect reports
    /// how it ended.
    connecting: bool,
    /// A connected UDP socket's peer.
    udp_peer: Option<Ep>,
    /// shutdown flags of a UDP or unconnected TCP socket (1: read, 2:
    /// write).
    shut: u8,
}

/// An AF_INET or AF_INET6 socket.
pub struct InetSocket {
    proto: Proto,
    v6: bool,
    ino: u64,
    uid: u32,
    readiness: Arc<WaitQueue>,
    inner: Mutex<Inner>,
    /// A UDP socket's receive queue.
    udp: Option<Arc<UdpQueue>>,
    /// Woken when a non-connected TCP socket's state changes (shutdown
    /// of a listener, for accept).
    wait: WaitQueue,
}

/// What a receive hands back.
pub struct Received {
    /// The bytes (at most the length asked for).
    pub data: Vec<u8>,
    /// A datagram's whole length (for MSG_TRUNC).
    pub full_len: usize,
    /// The sender (UDP).
    pub from: Option<Ep>,
}

/// Flags of send and receive calls that matter here.
#[derive(Clone, Copy, Default)]
pub struct MsgFlags {
    /// MSG_PEEK.
    pub peek: bool,
    /// MSG_WAITALL.
    pub waitall: bool,
    /// O_NONBLOCK or MSG_DONTWAIT.
    pub nonblock: bool,
}

impl InetSocket {
    /// A new socket: `v6` for AF_INET6, created by a task of effective
    /// user `uid`.
    pub fn new(proto: Proto, v6: bool, ino: u64, uid: u32, readiness: Arc<WaitQueue>) -> Self {
        let (sndbuf, rcvbuf) = match proto {
            Proto::Tcp => (TCP_SNDBUF, TCP_RCVBUF),
            Proto::Udp => (UDP_BUF, UDP_BUF),
        };
        let udp = (proto == Proto::Udp).then(|| {
            Arc::new(UdpQueue {
                q: Mutex::new(UdpRx {
                    dgrams: VecDeque::new(),
                    bytes: 0,
                    rcvbuf: rcvbuf as usize,
                }),
                wait: WaitQueue::default(),
                readiness: Arc::clone(&readiness),
            })
        });
        Self {
            proto,
            v6,
            ino,
            uid,
            readiness,
            inner: Mutex::new(Inner {
                local: None,
                opts: Opts {
                    reuseaddr: false,
                    reuseport: false,
                    v6only: false,
                    sndbuf,
                    rcvbuf,
                    linger: (0, 0),
                    rcvtimeo: None,
                    sndtimeo: None,
                    ints: HashMap::new(),
                },
                err: None,
                tcp: Tcp::Idle,
                connecting: false,
                udp_peer: None,
                shut: 0,
            }),
            udp,
            wait: WaitQueue::default(),
        }
    }

    /// TCP or UDP.
    pub fn proto(&self) -> Proto {
        self.proto
    }

    /// Whether it is an AF_INET6 socket.
    pub fn is_v6(&self) -> bool {
        self.v6
    }

    fn unspecified(&self) -> IpAddr {
        if self.v6 {
            IpAddr::V6(Ipv6Addr::UNSPECIFIED)
        } else {
            IpAddr::V4(Ipv4Addr::UNSPECIFIED)
        }
    }

    fn req(&self, inner: &Inner, ip: IpAddr) -> BindReq {
        BindReq {
            id: self.ino,
            v6: self.v6,
            ip,
            v6only: inner.opts.v6only,
            reuseaddr: inner.opts.reuseaddr,
            reuseport: inner.opts.reuseport,
            uid: self.uid,
        }
    }

    fn udp_weak(&self) -> Option<Weak<UdpQueue>> {
        self.udp.as_ref().map(Arc::downgrade)
    }

    /// bind(addr): the address must be the sandbox's (loopback or a
    /// wildcard; EADDRNOTAVAIL otherwise), the port free (EADDRINUSE) and
    /// below 1024 only for root (EACCES).
    pub fn bind(&self, addr: &[u8], euid: u32) -> Result<(), Errno> {
        let ep = match decode_addr(addr, self.v6)? {
            Dest::Ep(ep) => ep,
            // inet_bind takes AF_UNSPEC as INADDR_ANY (IPv4 only).
            Dest::Unspec if !self.v6 && addr.len() >= 16 && addr[4..8] == [0; 4] => Ep {
                ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                port: u16::from_be_bytes([addr[2], addr[3]]),
            },
            Dest::Unspec => return Err(Errno::EAFNOSUPPORT),
        };
        let mut inner = self.inner.lock();
        if self.v6 && ep.ip.is_ipv4() && inner.opts.v6only {
            return Err(Errno::EINVAL);
        }
        if !ep.ip.is_unspecified() && !is_loopback(ep.ip) {
            return Err(Errno::EADDRNOTAVAIL);
        }
        if ep.port != 0 && ep.port < 1024 && euid != 0 {
            return Err(Errno::EACCES);
        }
        if inner.local.is_some() || !matches!(inner.tcp, Tcp::Idle) {
            return Err(Errno::EINVAL);
        }
        let req = self.req(&inner, ep.ip);
        let port = TABLE
            .lock()
            .bind(self.proto, ep.port, req, self.udp_weak())?;
        inner.local = Some(Ep { ip: ep.ip, port });
        Ok(())
    }

    /// Binds to an ephemeral port on `ip` if not bound yet (connect,
    /// listen and a first send do this).
    fn autobind(&self, inner: &mut Inner, ip: IpAddr) -> Result<Ep, Errno> {
        if let Some(l) = inner.local {
            return Ok(l);
        }
        let req = self.req(inner, ip);
        let port = TABLE.lock().bind(self.proto, 0, req, self.udp_weak())?;
        let ep = Ep { ip, port };
        inner.local = Some(ep);
        Ok(ep)
    }

    /// listen(backlog): TCP only (EOPNOTSUPP), not connected (EINVAL);
    /// binds an ephemeral port first if needed.
    pub fn listen(&self, backlog: i32) -> Result<(), Errno> {
        if self.proto != Proto::Tcp {
            return Err(Errno::EOPNOTSUPP);
        }
        let backlog = if backlog < 0 || backlog as usize > SOMAXCONN {
            SOMAXCONN
        } else {
            backlog as usize
        };
        let mut inner = self.inner.lock();
        match &inner.tcp {
            Tcp::Listening(l) => {
                let mut q = l.q.lock();
                q.backlog = backlog;
                q.admit();
                drop(q);
                l.wait.notify_all();
                l.readiness.notify_all();
                return Ok(());
            }
            Tcp::Connected { .. } => return Err(Errno::EINVAL),
            Tcp::Idle if inner.connecting => return Err(Errno::EINVAL),
            Tcp::Idle => {}
        }
        let un = self.unspecified();
        let local = self.autobind(&mut inner, un)?;
        let mut table = TABLE.lock();
        // inet_csk_get_port again, now as a listener: another listener on
        // an overlapping address is a conflict unless both reuse the port.
        let clash = table
            .ports
            .get(&(Proto::Tcp, local.port))
            .is_some_and(|list| {
                list.iter().any(|b| {
                    b.id != self.ino
                        && b.listening()
                        && b.overlaps(local.ip, inner.opts.v6only)
                        && !(b.reuseport && inner.opts.reuseport && b.uid == self.uid)
                })
            });
        if clash {
            return Err(Errno::EADDRINUSE);
        }
        let l = Arc::new(Listener {
            q: Mutex::new(ListenQ {
                ready: VecDeque::new(),
                syn: VecDeque::new(),
                backlog,
                closed: false,
            }),
            wait: WaitQueue::default(),
            readiness: Arc::clone(&self.readiness),
            rcvbuf: inner.opts.rcvbuf as usize,
        });
        if let Some(b) = table.get_mut(Proto::Tcp, local.port, self.ino) {
            b.listener = Some(Arc::downgrade(&l));
        }
        drop(table);
        inner.shut = 0;
        inner.tcp = Tcp::Listening(l);
        Ok(())
    }

    /// Whether it listens (SO_ACCEPTCONN).
    pub fn listening(&self) -> bool {
        matches!(self.inner.lock().tcp, Tcp::Listening(_))
    }

    /// Where a connection to `ep` goes: the loopback address it reaches,
    /// or ENETUNREACH (a wildcard destination means loopback, as Linux).
    fn route(&self, inner: &Inner, mut ep: Ep) -> Result<Ep, Errno> {
        if ep.ip.is_unspecified() {
            ep.ip = if ep.ip.is_ipv4() {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                IpAddr::V6(Ipv6Addr::LOCALHOST)
            };
        }
        if self.v6 && ep.ip.is_ipv4() && inner.opts.v6only {
            return Err(Errno::ENETUNREACH);
        }
        if !is_loopback(ep.ip) {
            return Err(Errno::ENETUNREACH);
        }
        // A socket bound to one family's address cannot reach the other.
        if let Some(l) = inner.local
            && !l.ip.is_unspecified()
            && l.ip.is_ipv4() != ep.ip.is_ipv4()
        {
            return Err(Errno::ENETUNREACH);
        }
        Ok(ep)
    }

    /// The source address for a destination: the bound one, or the
    /// loopback address of its family.
    fn source_ip(inner: &Inner, dst: IpAddr) -> IpAddr {
        match inner.local {
            Some(l) if !l.ip.is_unspecified() => l.ip,
            _ => match dst {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            },
        }
    }

    /// connect(addr). TCP: to a listener (ECONNREFUSED with none; a
    /// non-blocking connect says EINPROGRESS and reports the outcome in
    /// SO_ERROR and the next connect, as Linux on loopback). UDP: sets
    /// (or, with AF_UNSPEC, clears) the default peer.
    pub fn connect(&self, addr: &[u8], nonblock: bool, blocker: &dyn Blocker) -> Result<(), Errno> {
        let dest = decode_addr(addr, self.v6)?;
        match self.proto {
            Proto::Udp => self.udp_connect(dest),
            Proto::Tcp => self.tcp_connect(dest, nonblock, blocker),
        }
    }

    fn udp_connect(&self, dest: Dest) -> Result<(), Errno> {
        let mut inner = self.inner.lock();
        let ep = match dest {
            Dest::Unspec => {
                inner.udp_peer = None;
                if let Some(l) = inner.local {
                    let mut t = TABLE.lock();
                    if let Some(b) = t.get_mut(Proto::Udp, l.port, self.ino) {
                        b.udp_peer = None;
                    }
                }
                return Ok(());
            }
            Dest::Ep(ep) => ep,
        };
        let ep = self.route(&inner, ep)?;
        let src = Self::source_ip(&inner, ep.ip);
        let un = self.unspecified();
        let local = self.autobind(&mut inner, un)?;
        // Like Linux, a wildcard-bound socket gets the route's source.
        if local.ip.is_unspecified() {
            inner.local = Some(Ep {
                ip: src,
                port: local.port,
            });
        }
        let mut t = TABLE.lock();
        if let Some(b) = t.get_mut(Proto::Udp, local.port, self.ino) {
            b.udp_peer = Some(ep);
            if b.ip.is_unspecified() {
                b.ip = src;
            }
        }
        drop(t);
        inner.udp_peer = Some(ep);
        inner.err = None;
        Ok(())
    }

    fn tcp_connect(&self, dest: Dest, nonblock: bool, blocker: &dyn Blocker) -> Result<(), Errno> {
        let deadline;
        let listener;
        let dst;
        let src;
        {
            let mut inner = self.inner.lock();
            match &inner.tcp {
                Tcp::Connected { conn, .. } if inner.connecting => {
                    if !conn.established() {
                        return Err(Errno::EALREADY);
                    }
                    let refused = conn.halves.lock()[0]
                        .err
                        .take_if(|e| *e == Errno::ECONNREFUSED);
                    inner.connecting = false;
                    if let Some(e) = refused {
                        inner.tcp = Tcp::Idle;
                        inner.shut = 3;
                        return Err(e);
                    }
                    return Ok(());
                }
                Tcp::Connected { .. } => return Err(Errno::EISCONN),
                Tcp::Listening(_) => return Err(Errno::EINVAL),
                Tcp::Idle if inner.connecting => {
                    // The non-blocking connect ended in an error.
                    inner.connecting = false;
                    return Err(inner.err.take().unwrap_or(Errno::ECONNABORTED));
                }
                Tcp::Idle => {}
            }
            let Dest::Ep(ep) = dest else {
                // AF_UNSPEC on an unconnected socket: nothing to dissolve.
                return Ok(());
            };
            dst = self.route(&inner, ep)?;
            let sip = Self::source_ip(&inner, dst.ip);
            let local = self.autobind(&mut inner, sip)?;
            src = Ep {
                ip: sip,
                port: local.port,
            };
            listener = TABLE.lock().listener(dst, src.port);
            deadline = inner.opts.sndtimeo.map(crate::kernel::wait::deadline_after);
            if listener.is_none() {
                // The RST closes it both ways (tcp_done).
                inner.shut = 3;
                if nonblock {
                    inner.err = Some(Errno::ECONNREFUSED);
                    inner.connecting = true;
                    drop(inner);
                    self.readiness.notify_all();
                    return Err(Errno::EINPROGRESS);
                }
                return Err(Errno::ECONNREFUSED);
            }
        }
        let l = listener.expect("checked");
        let my_rcvbuf = self.inner.lock().opts.rcvbuf as usize;
        let my_sndbuf = self.inner.lock().opts.sndbuf as usize;
        loop {
            let guard = l.wait.prepare(blocker);
            {
                let mut q = l.q.lock();
                if q.closed {
                    return Err(Errno::ECONNREFUSED);
                }
                // sk_acceptq_is_full: the queue holds one past the
                // backlog. Past it Linux drops the SYN and the client
                // sends it again later: a non-blocking connect waits in
                // SYN_SENT (in the SYN queue) until an accept makes room.
                let room = q.ready.len() <= q.backlog && q.syn.is_empty();
                let syn_sent = !room && nonblock && q.syn.len() < SOMAXCONN;
                if room || syn_sent {
                    let conn = Conn::new(
                        [my_rcvbuf + TCP_SNDBUF as usize, l.rcvbuf + my_sndbuf],
                        Arc::clone(&self.readiness),
                    );
                    let p = Pending {
                        conn: Arc::clone(&conn),
                        local: dst,
                        peer: src,
                    };
                    if room {
                        q.ready.push_back(p);
                    } else {
                        conn.established
                            .store(false, std::sync::atomic::Ordering::SeqCst);
                        q.syn.push_back(p);
                    }
                    drop(q);
                    let mut inner = self.inner.lock();
                    if !matches!(inner.tcp, Tcp::Idle) {
                        drop(inner);
                        conn.close_side(0, true);
                        return Err(Errno::EISCONN);
                    }
                    inner.local = Some(src);
                    let mut t = TABLE.lock();
                    if let Some(b) = t.get_mut(Proto::Tcp, src.port, self.ino) {
                        b.ip = src.ip;
                        b.peer = Some(dst);
                    }
                    drop(t);
                    inner.tcp = Tcp::Connected {
                        conn,
                        side: 0,
                        peer: dst,
                    };
                    inner.shut = 0;
                    if nonblock {
                        inner.connecting = true;
                    }
                    drop(inner);
                    l.wait.notify_all();
                    l.readiness.notify_all();
                    return if nonblock {
                        Err(Errno::EINPROGRESS)
                    } else {
                        Ok(())
                    };
                }
            }
            match guard.sleep(deadline) {
                Ok(true) => {}
                Ok(false) => return Err(Errno::EINPROGRESS),
                Err(e) => return Err(timeo_intr(e, deadline)),
            }
        }
    }

    /// accept: the next connection as a new socket numbered `ino` (EINVAL
    /// when not listening; waits unless `nonblock`).
    pub fn accept(
        &self,
        nonblock: bool,
        ino: u64,
        blocker: &dyn Blocker,
    ) -> Result<InetSocket, Errno> {
        let (l, deadline, opts) = {
            let inner = self.inner.lock();
            let Tcp::Listening(l) = &inner.tcp else {
                return Err(Errno::EINVAL);
            };
            let o = &inner.opts;
            (
                Arc::clone(l),
                o.rcvtimeo.map(crate::kernel::wait::deadline_after),
                (o.reuseaddr, o.sndbuf, o.rcvbuf, o.ints.clone(), o.linger),
            )
        };
        loop {
            let guard = l.wait.prepare(blocker);
            let _g2 = self.wait.prepare(blocker);
            {
                let mut q = l.q.lock();
                if q.closed {
                    return Err(Errno::EINVAL);
                }
                if let Some(p) = q.ready.pop_front() {
                    q.admit();
                    drop(q);
                    l.wait.notify_all();
                    l.readiness.notify_all();
                    let s = InetSocket::new(
                        Proto::Tcp,
                        self.v6,
                        ino,
                        self.uid,
                        Arc::clone(&self.readiness),
                    );
                    {
                        let mut inner = s.inner.lock();
                        inner.opts.reuseaddr = opts.0;
                        inner.opts.sndbuf = opts.1;
                        inner.opts.rcvbuf = opts.2;
                        inner.opts.ints = opts.3;
                        inner.opts.linger = opts.4;
                        let req = s.req(&inner, p.local.ip);
                        // The accepted socket shares the listener's port.
                        let mut t = TABLE.lock();
                        t.ports
                            .entry((Proto::Tcp, p.local.port))
                            .or_default()
                            .push(Binding {
                                id: ino,
                                ip: req.ip,
                                v6only: false,
                                reuseaddr: req.reuseaddr,
                                reuseport: false,
                                uid: req.uid,
                                listener: None,
                                udp: None,
                                udp_peer: None,
                                v6: self.v6,
                                peer: Some(p.peer),
                                tw_until: None,
                            });
                        drop(t);
                        inner.local = Some(p.local);
                        inner.tcp = Tcp::Connected {
                            conn: p.conn,
                            side: 1,
                            peer: p.peer,
                        };
                    }
                    return Ok(s);
                }
            }
            if nonblock {
                return Err(Errno::EAGAIN);
            }
            match guard.sleep(deadline) {
                Ok(true) => {}
                Ok(false) => return Err(Errno::EAGAIN),
                Err(e) => return Err(timeo_intr(e, deadline)),
            }
        }
    }

    /// Its own address (getsockname): the family's wildcard with port 0
    /// before a bind.
    pub fn name(&self) -> Vec<u8> {
        let inner = self.inner.lock();
        let ep = inner.local.unwrap_or(Ep {
            ip: self.unspecified(),
            port: 0,
        });
        encode_addr(ep, self.v6)
    }

    /// Its peer's address (getpeername); ENOTCONN unconnected.
    pub fn peer_name(&self) -> Result<Vec<u8>, Errno> {
        let inner = self.inner.lock();
        let ep = match &inner.tcp {
            Tcp::Connected { peer, conn, side } => {
                // A connection reset under it (or still in SYN_SENT) is
                // not connected.
                if !conn.established() || conn.halves.lock()[*side].reset {
                    return Err(Errno::ENOTCONN);
                }
                *peer
            }
            _ => inner.udp_peer.ok_or(Errno::ENOTCONN)?,
        };
        Ok(encode_addr(ep, self.v6))
    }

    fn conn(&self) -> Option<(Arc<Conn>, usize)> {
        let inner = self.inner.lock();
        match &inner.tcp {
            Tcp::Connected { conn, side, .. } => {
                // SO_OOBINLINE, which the sending side looks at too.
                let inline = inner.opts.ints.get(&(SOL_SOCKET, SO_OOBINLINE)) == Some(&1);
                conn.set_inline(*side, inline);
                Some((Arc::clone(conn), *side))
            }
            _ => None,
        }
    }

    /// recv with MSG_OOB: the urgent byte (TCP); EINVAL otherwise, as
    /// for a TCP socket without urgent data; ENOTCONN when listening.
    pub fn recv_oob(&self, len: usize, peek: bool) -> Result<Vec<u8>, Errno> {
        if self.listening() {
            return Err(Errno::ENOTCONN);
        }
        match self.conn() {
            Some((conn, side)) => conn.recv_oob(side, len, peek),
            None => Err(Errno::EINVAL),
        }
    }

    /// Sends `data` (to `dest` if given: UDP's sendto). EPIPE when a TCP
    /// stream is shut or reset (the caller raises SIGPIPE).
    pub fn send(
        &self,
        data: &[u8],
        dest: Option<&[u8]>,
        nonblock: bool,
        blocker: &dyn Blocker,
    ) -> Result<usize, Errno> {
        self.send_oob(data, dest, false, nonblock, blocker)
    }

    /// [`Self::send`], with MSG_OOB (`oob`: TCP's last byte sent is
    /// urgent; EOPNOTSUPP for UDP).
    pub fn send_oob(
        &self,
        data: &[u8],
        dest: Option<&[u8]>,
        oob: bool,
        nonblock: bool,
        blocker: &dyn Blocker,
    ) -> Result<usize, Errno> {
        if oob && self.proto == Proto::Udp {
            return Err(Errno::EOPNOTSUPP);
        }
        match self.proto {
            Proto::Tcp => {
                let Some((conn, side)) = self.conn() else {
                    let inner = self.inner.lock();
                    if let Some(e) = inner.err {
                        drop(inner);
                        return Err(self.inner.lock().err.take().unwrap_or(e));
                    }
                    // tcp_sendmsg on a socket that is not connected
                    // (sk_stream_wait_connect in TCP_CLOSE).
                    return Err(Errno::EPIPE);
                };
                let deadline = self
                    .inner
                    .lock()
                    .opts
                    .sndtimeo
                    .map(crate::kernel::wait::deadline_after);
                conn.send(side, data, oob, nonblock, deadline, blocker)
            }
            Proto::Udp => self.udp_send(data, dest),
        }
    }

    fn udp_send(&self, data: &[u8], dest: Option<&[u8]>) -> Result<usize, Errno> {
        let max = if self.v6 { 65527 } else { 65507 };
        let mut inner = self.inner.lock();
        let dst = match dest {
            Some(a) => match decode_addr(a, self.v6)? {
                Dest::Ep(ep) => ep,
                Dest::Unspec => inner.udp_peer.ok_or(Errno::EDESTADDRREQ)?,
            },
            None => {
                if let Some(e) = inner.err.take() {
                    return Err(e);
                }
                inner.udp_peer.ok_or(Errno::EDESTADDRREQ)?
            }
        };
        if dst.port == 0 {
            return Err(Errno::EINVAL);
        }
        if data.len() > max {
            return Err(Errno::EMSGSIZE);
        }
        let dst = self.route(&inner, dst)?;
        let sip = Self::source_ip(&inner, dst.ip);
        let un = self.unspecified();
        let local = self.autobind(&mut inner, un)?;
        let src = Ep {
            ip: sip,
            port: local.port,
        };
        let connected = inner.udp_peer == Some(dst);
        let rx = TABLE.lock().udp_receiver(dst, src);
        match rx {
            Some(q) => q.deliver(src, data),
            None if connected => {
                // ICMP port unreachable: reported on the next call.
                inner.err = Some(Errno::ECONNREFUSED);
                drop(inner);
                self.readiness.notify_all();
            }
            None => {}
        }
        Ok(data.len())
    }

    /// Receives up to `len` bytes: MSG_PEEK leaves them, MSG_WAITALL
    /// (TCP) waits for all. Ok with empty data at EOF.
    pub fn recv(&self, len: usize, f: MsgFlags, blocker: &dyn Blocker) -> Result<Received, Errno> {
        let deadline = self
            .inner
            .lock()
            .opts
            .rcvtimeo
            .map(crate::kernel::wait::deadline_after);
        match self.proto {
            Proto::Tcp => {
                let Some((conn, side)) = self.conn() else {
                    let mut inner = self.inner.lock();
                    if let Some(e) = inner.err.take() {
                        return Err(e);
                    }
                    if inner.shut & 1 != 0 {
                        return Ok(Received {
                            data: Vec::new(),
                            full_len: 0,
                            from: None,
                        });
                    }
                    return Err(Errno::ENOTCONN);
                };
                let data =
                    conn.recv(side, len, f.peek, f.waitall, f.nonblock, deadline, blocker)?;
                Ok(Received {
                    full_len: data.len(),
                    data,
                    from: None,
                })
            }
            Proto::Udp => self.udp_recv(len, f, deadline, blocker),
        }
    }

    fn udp_recv(
        &self,
        len: usize,
        f: MsgFlags,
        deadline: Option<Instant>,
        blocker: &dyn Blocker,
    ) -> Result<Received, Errno> {
        let q = self.udp.as_ref().expect("a UDP socket has a queue");
        loop {
            let guard = q.wait.prepare(blocker);
            {
                if let Some(e) = self.inner.lock().err.take() {
                    return Err(e);
                }
                let mut rx = q.q.lock();
                if let Some((from, d)) = rx.dgrams.front() {
                    let from = *from;
                    let full_len = d.len();
                    let data = d[..len.min(full_len)].to_vec();
                    if !f.peek {
                        rx.dgrams.pop_front();
                        rx.bytes -= full_len + DGRAM_OVERHEAD;
                        mem::uncharge(full_len + DGRAM_OVERHEAD);
                    }
                    return Ok(Received {
                        data,
                        full_len,
                        from: Some(from),
                    });
                }
                drop(rx);
                if self.inner.lock().shut & 1 != 0 {
                    return Ok(Received {
                        data: Vec::new(),
                        full_len: 0,
                        from: None,
                    });
                }
            }
            if f.nonblock {
                return Err(Errno::EAGAIN);
            }
            match guard.sleep(deadline) {
                Ok(true) => {}
                Ok(false) => return Err(Errno::EAGAIN),
                Err(e) => return Err(timeo_intr(e, deadline)),
            }
        }
    }

    /// shutdown(how): SHUT_RD (0), SHUT_WR (1) or SHUT_RDWR (2), as
    /// inet_shutdown: ENOTCONN unconnected (yet the flags are set, which
    /// wakes a blocked UDP reader), a listener shut for reading stops.
    pub fn shutdown(&self, how: i32) -> Result<(), Errno> {
        if !(0..=2).contains(&how) {
            return Err(Errno::EINVAL);
        }
        let mode = (how + 1) as u8; // 1: read, 2: write, 3: both
        let mut inner = self.inner.lock();
        match &inner.tcp {
            Tcp::Connected { conn, side, .. } => {
                let conn = Arc::clone(conn);
                let side = *side;
                drop(inner);
                {
                    let mut h = conn.halves.lock();
                    if mode & 1 != 0 {
                        h[side].rd_shut = true;
                    }
                    if mode & 2 != 0 && !h[side].wr_shut {
                        h[side].fin_first = !h[side].fin;
                        h[side].wr_shut = true;
                        h[1 - side].fin = true;
                    }
                }
                conn.changed();
                Ok(())
            }
            Tcp::Listening(l) => {
                if mode & 1 != 0 {
                    let l = Arc::clone(l);
                    inner.tcp = Tcp::Idle;
                    drop(inner);
                    l.close();
                    self.wait.notify_all();
                }
                Ok(())
            }
            Tcp::Idle => {
                let connected = self.proto == Proto::Udp && inner.udp_peer.is_some();
                inner.shut |= mode;
                drop(inner);
                if let Some(q) = &self.udp {
                    q.wait.notify_all();
                }
                self.wait.notify_all();
                self.readiness.notify_all();
                if connected {
                    Ok(())
                } else {
                    Err(Errno::ENOTCONN)
                }
            }
        }
    }

    /// SO_ERROR: the pending error, cleared.
    pub fn take_error(&self) -> i32 {
        let mut inner = self.inner.lock();
        if let Some(e) = inner.err.take() {
            return e.0;
        }
        if let Tcp::Connected { conn, side, .. } = &inner.tcp
            && let Some(e) = conn.halves.lock()[*side].err.take()
        {
            return e.0;
        }
        0
    }

    /// Bytes ready to read (FIONREAD): a stream's queued bytes, the next
    /// datagram's length.
    fn readable(&self) -> usize {
        if let Some(q) = &self.udp {
            return q.q.lock().dgrams.front().map_or(0, |d| d.1.len());
        }
        match self.conn() {
            Some((conn, side)) => conn.halves.lock()[side].rx.len(),
            None => 0,
        }
    }
}

// ---------------------------------------------------------------------
// Socket options.

/// The value of an option as getsockopt returns it.
pub enum OptVal {
    /// An int.
    Int(i32),
    /// Raw bytes (struct linger, struct timeval, strings).
    Bytes(Vec<u8>),
}

const SO_REUSEADDR: i32 = 2;
const SO_TYPE: i32 = 3;
const SO_ERROR: i32 = 4;
const SO_SNDBUF: i32 = 7;
const SO_RCVBUF: i32 = 8;
const SO_KEEPALIVE: i32 = 9;
const SO_OOBINLINE: i32 = 10;
const SO_LINGER: i32 = 13;
const SO_REUSEPORT: i32 = 15;
const SO_RCVLOWAT: i32 = 18;
const SO_SNDLOWAT: i32 = 19;
const SO_RCVTIMEO: i32 = 20;
const SO_SNDTIMEO: i32 = 21;
const SO_ACCEPTCONN: i32 = 30;
const SO_SNDBUFFORCE: i32 = 32;
const SO_RCVBUFFORCE: i32 = 33;
const SO_PROTOCOL: i32 = 38;
const SO_DOMAIN: i32 = 39;
const IPV6_V6ONLY: i32 = 26;
const TCP_MAXSEG: i32 = 2;
const TCP_KEEPIDLE: i32 = 4;
const TCP_KEEPINTVL: i32 = 5;
const TCP_KEEPCNT: i32 = 6;
const TCP_SYNCNT: i32 = 7;
const TCP_INFO: i32 = 11;
const TCP_CONGESTION: i32 = 13;

/// Integer options kept as given, with Linux's defaults and whether the
/// value reads back as a boolean (0 or 1).
fn int_default(proto: Proto, v6: bool, level: i32, name: i32) -> Option<(i32, bool)> {
    Some(match (level, name) {
        // SO_DEBUG, SO_DONTROUTE, SO_BROADCAST, SO_KEEPALIVE,
        // SO_OOBINLINE, SO_NO_CHECK.
        (SOL_SOCKET, 1 | 5 | 6 | 9 | 10 | 11) => (0, true),
        // SO_PRIORITY, SO_MARK, SO_BUSY_POLL.
        (SOL_SOCKET, 12 | 36 | 46) => (0, false),
        (SOL_SOCKET, SO_RCVLOWAT) => (1, false),
        // SO_TIMESTAMP, SO_TIMESTAMPNS, SO_RXQ_OVFL, SO_WIFI_STATUS,
        // SO_ZEROCOPY.
        (SOL_SOCKET, 29 | 35 | 40 | 41 | 60) => (0, true),
        (SOL_SOCKET, 49) => (-1, false), // SO_INCOMING_CPU
        // TCP_NODELAY, TCP_CORK, TCP_QUICKACK(1), TCP_THIN_*.
        (IPPROTO_TCP, 1 | 3) if proto == Proto::Tcp => (0, true),
        (IPPROTO_TCP, 12) if proto == Proto::Tcp => (1, true),
        (IPPROTO_TCP, TCP_MAXSEG) if proto == Proto::Tcp => (536, false),
        (IPPROTO_TCP, TCP_KEEPIDLE) if proto == Proto::Tcp => (7200, false),
        (IPPROTO_TCP, TCP_KEEPINTVL) if proto == Proto::Tcp => (75, false),
        (IPPROTO_TCP, TCP_KEEPCNT) if proto == Proto::Tcp => (9, false),
        (IPPROTO_TCP, TCP_SYNCNT) if proto == Proto::Tcp => (6, false),
        (IPPROTO_TCP, 8) if proto == Proto::Tcp => (60, false), // TCP_LINGER2
        // TCP_DEFER_ACCEPT, TCP_WINDOW_CLAMP, TCP_USER_TIMEOUT,
        // TCP_FASTOPEN, TCP_NOTSENT_LOWAT (unset: 0 reads as UINT_MAX's
        // sysctl, 0 here), TCP_FASTOPEN_CONNECT.
        (IPPROTO_TCP, 9 | 10 | 18 | 23 | 25 | 30) if proto == Proto::Tcp => (0, false),
        // UDP_CORK, UDP_SEGMENT, UDP_GRO.
        (IPPROTO_UDP, 1 | 103 | 104) if proto == Proto::Udp => (0, false),
        // IP_TOS, IP_HDRINCL(never), IP_RECVOPTS, IP_PKTINFO, IP_RECVERR,
        // IP_RECVTTL, IP_RECVTOS, IP_FREEBIND, IP_TRANSPARENT,
        // IP_BIND_ADDRESS_NO_PORT.
        (IPPROTO_IP, 1) => (0, false),
        (IPPROTO_IP, 6 | 8 | 11 | 12 | 13 | 15 | 19 | 24) => (0, true),
        (IPPROTO_IP, 2) => (64, false), // IP_TTL
        (IPPROTO_IP, 10) => (1, false), // IP_MTU_DISCOVER: WANT
        (IPPROTO_IP, 33) => (1, false), // IP_MULTICAST_TTL
        (IPPROTO_IP, 34) => (1, true),  // IP_MULTICAST_LOOP
        // IPV6_UNICAST_HOPS, IPV6_MULTICAST_HOPS, IPV6_MULTICAST_LOOP,
        // IPV6_RECVERR, IPV6_RECVPKTINFO, IPV6_TCLASS, IPV6_RECVTCLASS,
        // IPV6_MTU_DISCOVER, IPV6_RECVHOPLIMIT, IPV6_FREEBIND.
        (IPPROTO_IPV6, 16) if v6 => (64, false),
        (IPPROTO_IPV6, 18) if v6 => (1, false),
        (IPPROTO_IPV6, 19) if v6 => (1, true),
        (IPPROTO_IPV6, 25 | 49 | 51 | 66 | 78) if v6 => (0, true),
        (IPPROTO_IPV6, 67) if v6 => (0, false),
        (IPPROTO_IPV6, 23) if v6 => (1, false),
        _ => return None,
    })
}

fn timeval(d: Option<Duration>) -> Vec<u8> {
    let d = d.unwrap_or_default();
    let mut v = (d.as_secs() as i64).to_le_bytes().to_vec();
    v.extend_from_slice(&i64::from(d.subsec_micros()).to_le_bytes());
    v
}

impl InetSocket {
    /// getsockopt(level, name).
    pub fn getsockopt(&self, level: i32, name: i32) -> Result<OptVal, Errno> {
        if level == SOL_SOCKET && name == SO_ERROR {
            return Ok(OptVal::Int(self.take_error()));
        }
        let proto_level = match self.proto {
            Proto::Tcp => IPPROTO_TCP,
            Proto::Udp => IPPROTO_UDP,
        };
        let known = level == SOL_SOCKET
            || level == IPPROTO_IP
            || level == proto_level
            || (self.v6 && level == IPPROTO_IPV6);
        if !known {
            // ip_getsockopt for a level it does not know.
            return Err(Errno::EOPNOTSUPP);
        }
        let inner = self.inner.lock();
        let o = &inner.opts;
        let b = |v: bool| OptVal::Int(i32::from(v));
        Ok(match (level, name) {
            (SOL_SOCKET, SO_TYPE) => OptVal::Int(match self.proto {
                Proto::Tcp => SOCK_STREAM as i32,
                Proto::Udp => SOCK_DGRAM as i32,
            }),
            (SOL_SOCKET, SO_REUSEADDR) => b(o.reuseaddr),
            (SOL_SOCKET, SO_REUSEPORT) => b(o.reuseport),
            (SOL_SOCKET, SO_SNDBUF) => OptVal::Int(o.sndbuf as i32),
            (SOL_SOCKET, SO_RCVBUF) => OptVal::Int(o.rcvbuf as i32),
            (SOL_SOCKET, SO_SNDLOWAT) => OptVal::Int(1),
            (SOL_SOCKET, SO_ACCEPTCONN) => b(matches!(inner.tcp, Tcp::Listening(_))),
            (SOL_SOCKET, SO_PROTOCOL) => OptVal::Int(match self.proto {
                Proto::Tcp => IPPROTO_TCP,
                Proto::Udp => IPPROTO_UDP,
            }),
            (SOL_SOCKET, SO_DOMAIN) => OptVal::Int(if self.v6 {
                i32::from(AF_INET6)
            } else {
                i32::from(AF_INET)
            }),
            (SOL_SOCKET, SO_LINGER) => {
                let mut v = o.linger.0.to_le_bytes().to_vec();
                v.extend_from_slice(&o.linger.1.to_le_bytes());
                OptVal::Bytes(v)
            }
            (SOL_SOCKET, SO_RCVTIMEO) => OptVal::Bytes(timeval(o.rcvtimeo)),
            (SOL_SOCKET, SO_SNDTIMEO) => OptVal::Bytes(timeval(o.sndtimeo)),
            (IPPROTO_IPV6, IPV6_V6ONLY) if self.v6 => b(o.v6only),
            (IPPROTO_TCP, TCP_MAXSEG) if self.proto == Proto::Tcp => {
                // Unconnected: the default MSS; connected on loopback: the
                // MTU's less the headers and timestamps (65483 on v4).
                let conn = matches!(inner.tcp, Tcp::Connected { .. });
                OptVal::Int(match (o.ints.get(&(level, name)), conn) {
                    (Some(v), false) => *v,
                    (_, true) => {
                        if self.v6 {
                            65464
                        } else {
                            65483
                        }
                    }
                    (None, false) => 536,
                })
            }
            (IPPROTO_TCP, TCP_CONGESTION) if self.proto == Proto::Tcp => {
                OptVal::Bytes(b"cubic\0\0\0\0\0\0\0\0\0\0\0".to_vec())
            }
            (IPPROTO_TCP, TCP_INFO) if self.proto == Proto::Tcp => {
                // struct tcp_info: the state; connected, what Linux shows
                // on lo (an MSS of lo's MTU less 52 bytes of headers,
                // window scaling and timestamps, the initial congestion
                // window, no ssthresh yet, and a round trip of tens of
                // microseconds, the 200 ms minimum RTO above it).
                let mut v = vec![0u8; 232];
                let mut put =
                    |off: usize, x: u32| v[off..off + 4].copy_from_slice(&x.to_le_bytes());
                if matches!(inner.tcp, Tcp::Connected { .. }) {
                    let mss = if self.v6 { 65464 } else { 65483 };
                    put(8, 204_000); // rto
                    put(12, 40_000); // ato
                    put(16, 32_768); // snd_mss
                    put(20, 536); // rcv_mss
                    put(60, 65_535); // pmtu
                    put(64, mss); // rcv_ssthresh
                    put(68, 50); // rtt
                    put(72, 25); // rttvar
                    put(76, 0x7fff_ffff); // snd_ssthresh: TCP_INFINITE_SSTHRESH
                    put(80, 10); // snd_cwnd
                    put(84, mss); // advmss
                    put(88, 3); // reordering
                    put(96, mss); // rcv_space
                    put(148, 50); // min_rtt
                    put(228, mss); // snd_wnd
                    // TCPI_OPT_TIMESTAMPS | SACK | WSCALE; wscale 7 both ways.
                    v[5] = 7;
                    v[6] = 0x77;
                }
                v[0] = match &inner.tcp {
                    Tcp::Connected { conn, .. } if !conn.established() => 2, // TCP_SYN_SENT
                    Tcp::Connected { .. } => 1,                              // TCP_ESTABLISHED
                    Tcp::Listening(_) => 10,                                 // TCP_LISTEN
                    Tcp::Idle => 7,                                          // TCP_CLOSE
                };
                OptVal::Bytes(v)
            }
            (IPPROTO_IP, 14) | (IPPROTO_IPV6, 24) => {
                // IP_MTU / IPV6_MTU: lo's, once connected.
                let conn = matches!(inner.tcp, Tcp::Connected { .. }) || inner.udp_peer.is_some();
                if !conn {
                    return Err(Errno::ENOTCONN);
                }
                OptVal::Int(65536)
            }
            _ => {
                let (def, _) =
                    int_default(self.proto, self.v6, level, name).ok_or(Errno::ENOPROTOOPT)?;
                OptVal::Int(*o.ints.get(&(level, name)).unwrap_or(&def))
            }
        })
    }

    /// setsockopt(level, name, value bytes).
    pub fn setsockopt(&self, level: i32, name: i32, val: &[u8]) -> Result<(), Errno> {
        let int = || -> Result<i32, Errno> {
            if val.len() < 4 {
                return Err(Errno::EINVAL);
            }
            Ok(i32::from_le_bytes(val[..4].try_into().expect("4")))
        };
        let mut inner = self.inner.lock();
        let is_tcp = self.proto == Proto::Tcp;
        match (level, name) {
            (SOL_SOCKET, SO_REUSEADDR) => inner.opts.reuseaddr = int()? != 0,
            (SOL_SOCKET, SO_REUSEPORT) => inner.opts.reuseport = int()? != 0,
            (SOL_SOCKET, SO_SNDBUF | SO_SNDBUFFORCE) => {
                let v = (int()?.max(0) as u32).min(BUF_MAX) * 2;
                inner.opts.sndbuf = v.max(4608);
            }
            (SOL_SOCKET, SO_RCVBUF | SO_RCVBUFFORCE) => {
                let v = (int()?.max(0) as u32).min(BUF_MAX) * 2;
                inner.opts.rcvbuf = v.max(2304);
                if let Some(q) = &self.udp {
                    q.q.lock().rcvbuf = inner.opts.rcvbuf as usize;
                }
            }
            (SOL_SOCKET, SO_LINGER) => {
                if val.len() < 8 {
                    return Err(Errno::EINVAL);
                }
                let on = i32::from_le_bytes(val[0..4].try_into().expect("4"));
                let secs = i32::from_le_bytes(val[4..8].try_into().expect("4"));
                inner.opts.linger = (i32::from(on != 0), secs);
            }
            (SOL_SOCKET, SO_RCVTIMEO | SO_SNDTIMEO) => {
                if val.len() < 16 {
                    return Err(Errno::EINVAL);
                }
                let s = i64::from_le_bytes(val[0..8].try_into().expect("8"));
                let us = i64::from_le_bytes(val[8..16].try_into().expect("8"));
                if !(0..1_000_000).contains(&us) {
                    return Err(Errno::EDOM);
                }
                let d = if s < 0 || (s == 0 && us == 0) {
                    None
                } else {
                    Some(Duration::from_secs(s as u64) + Duration::from_micros(us as u64))
                };
                if name == SO_RCVTIMEO {
                    inner.opts.rcvtimeo = d;
                } else {
                    inner.opts.sndtimeo = d;
                }
            }
            (
                SOL_SOCKET,
                SO_TYPE | SO_PROTOCOL | SO_DOMAIN | SO_ERROR | SO_ACCEPTCONN | SO_SNDLOWAT,
            ) => {
                return Err(Errno::ENOPROTOOPT);
            }
            (IPPROTO_IPV6, IPV6_V6ONLY) if self.v6 => {
                let v = int()?;
                if inner.local.is_some() {
                    return Err(Errno::EINVAL);
                }
                inner.opts.v6only = v != 0;
            }
            (IPPROTO_TCP, TCP_KEEPIDLE | TCP_KEEPINTVL) if is_tcp => {
                let v = int()?;
                if !(1..=32767).contains(&v) {
                    return Err(Errno::EINVAL);
                }
                inner.opts.ints.insert((level, name), v);
            }
            (IPPROTO_TCP, TCP_KEEPCNT | TCP_SYNCNT) if is_tcp => {
                let v = int()?;
                if !(1..=127).contains(&v) {
                    return Err(Errno::EINVAL);
                }
                inner.opts.ints.insert((level, name), v);
            }
            (IPPROTO_TCP, TCP_MAXSEG) if is_tcp => {
                let v = int()?;
                if !(88..=65535).contains(&v) {
                    return Err(Errno::EINVAL);
                }
                inner.opts.ints.insert((level, name), v);
            }
            (IPPROTO_TCP, TCP_CONGESTION) if is_tcp => {
                let name = val.split(|&c| c == 0).next().unwrap_or_default();
                if name != b"cubic" && name != b"reno" {
                    return Err(Errno::ENOENT);
                }
            }
            (IPPROTO_IP, 2) => {
                // IP_TTL: 1..=255, or -1 for the default.
                let v = int()?;
                if v != -1 && !(1..=255).contains(&v) {
                    return Err(Errno::EINVAL);
                }
                inner
                    .opts
                    .ints
                    .insert((level, name), if v == -1 { 64 } else { v });
            }
            (IPPROTO_IPV6, 16 | 18) if self.v6 => {
                let v = int()?;
                if !(-1..=255).contains(&v) {
                    return Err(Errno::EINVAL);
                }
                inner.opts.ints.insert(
                    (level, name),
                    if v == -1 {
                        if name == 16 { 64 } else { 1 }
                    } else {
                        v
                    },
                );
            }
            // IP_ADD_MEMBERSHIP and friends: nothing to join on lo.
            (IPPROTO_IP, 35..=40) | (IPPROTO_IPV6, 20 | 21) => {}
            _ => {
                let (_, boolean) =
                    int_default(self.proto, self.v6, level, name).ok_or(Errno::ENOPROTOOPT)?;
                // Only IP-level options take a single byte (ip_setsockopt).
                let v = if val.is_empty() || (val.len() < 4 && level != IPPROTO_IP) {
                    return Err(Errno::EINVAL);
                } else if val.len() < 4 {
                    i32::from(val[0])
                } else {
                    int()?
                };
                inner
                    .opts
                    .ints
                    .insert((level, name), if boolean { i32::from(v != 0) } else { v });
            }
        }
        let _ = SO_KEEPALIVE;
        if (level, name) == (SOL_SOCKET, SO_OOBINLINE) {
            // The connection learns it at once (urgent data arriving
            // next depends on it).
            drop(inner);
            let _ = self.conn();
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------
// /proc/net.

/// An address as /proc/net/tcp shows it: the raw network-order words in
/// hex, each read as a little-endian integer.
fn proc_addr(ip: IpAddr, v6: bool) -> String {
    let words: Vec<u8> = match (ip, v6) {
        (IpAddr::V4(a), false) => a.octets().to_vec(),
        (IpAddr::V4(a), true) => a.to_ipv6_mapped().octets().to_vec(),
        (IpAddr::V6(a), _) => a.octets().to_vec(),
    };
    words
        .chunks(4)
        .map(|w| format!("{:08X}", u32::from_le_bytes(w.try_into().expect("4"))))
        .collect()
}

/// The text of `/proc/net/<name>`: `dev` (lo), `tcp`, `tcp6`, `udp` and
/// `udp6` (the sandbox's sockets, with empty queues and timers); None for
/// another name.
pub fn proc_net(name: &[u8]) -> Option<String> {
    let (proto, v6) = match name {
        b"dev" => {
            return Some(
                "Inter-|   Receive                                                |  Transmit\n \
                 face |bytes    packets errs drop fifo frame compressed multicast|bytes    \
                 packets errs drop fifo colls carrier compressed\n    lo:       0       0    0    \
                 0    0     0          0         0        0       0    0    0    0     0       \
                 0          0\n"
                    .to_owned(),
            );
        }
        b"tcp" => (Proto::Tcp, false),
        b"tcp6" => (Proto::Tcp, true),
        b"udp" => (Proto::Udp, false),
        b"udp6" => (Proto::Udp, true),
        _ => return None,
    };
    let mut out = String::from(match proto {
        Proto::Tcp => {
            "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
        }
        Proto::Udp => {
            "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops\n"
        }
    });
    let table = TABLE.lock();
    let mut rows: Vec<(u16, &Binding)> = table
        .ports
        .iter()
        .filter(|((p, _), _)| *p == proto)
        .flat_map(|((_, port), list)| list.iter().map(move |b| (*port, b)))
        .filter(|(_, b)| b.v6 == v6)
        .collect();
    rows.sort_by_key(|(port, b)| (*port, b.id));
    let zero = if v6 {
        IpAddr::V6(Ipv6Addr::UNSPECIFIED)
    } else {
        IpAddr::V4(Ipv4Addr::UNSPECIFIED)
    };
    for (sl, (port, b)) in rows.iter().enumerate() {
        let peer = b.peer.or(b.udp_peer).unwrap_or(Ep { ip: zero, port: 0 });
        let state = if b.tw_until.is_some() {
            0x06 // TCP_TIME_WAIT
        } else if b.listening() {
            0x0a // TCP_LISTEN
        } else if b.peer.is_some() || b.udp_peer.is_some() {
            0x01 // TCP_ESTABLISHED
        } else {
            0x07 // TCP_CLOSE
        };
        let tail = if proto == Proto::Udp {
            " 0"
        } else {
            " 100 0 0 10 0"
        };
        out.push_str(&format!(
            "{sl:4}: {}:{port:04X} {}:{:04X} {state:02X} 00000000:00000000 00:00000000 \
             00000000 {:5}        0 {} 2 0000000000000000{tail}\n",
            proc_addr(b.ip, v6),
            proc_addr(peer.ip, v6),
            peer.port,
            b.uid,
            b.id,
        ));
    }
    Some(out)
}

impl FileOps for InetSocket {
    fn read(&self, buf: &mut [u8], nonblock: bool, blocker: &dyn Blocker) -> Result<usize, Errno> {
        let f = MsgFlags {
            nonblock,
            ..Default::default()
        };
        let r = self.recv(buf.len(), f, blocker)?;
        buf[..r.data.len()].copy_from_slice(&r.data);
        Ok(r.data.len())
    }

    fn write(&self, buf: &[u8], nonblock: bool, blocker: &dyn Blocker) -> Result<usize, Errno> {
        self.send(buf, None, nonblock, blocker)
    }

    /// A connected TCP socket's edges; other states have none.
    fn events(&self) -> Option<(u64, u64)> {
        match &self.inner.lock().tcp {
            Tcp::Connected { conn, side, .. } => Some(conn.edges(*side)),
            _ => None,
        }
    }

    /// tcp_poll, inet_csk_listen_poll and udp_poll.
    fn poll(&self) -> u16 {
        let inner = self.inner.lock();
        let err = if inner.err.is_some() {
            poll::POLLERR
        } else {
            0
        };
        match &inner.tcp {
            Tcp::Listening(l) => {
                if l.q.lock().ready.is_empty() {
                    0
                } else {
                    poll::POLLIN
                }
            }
            Tcp::Connected { conn, side, .. } => conn.poll(*side) | err,
            Tcp::Idle if self.proto == Proto::Tcp => {
                // TCP_CLOSE: hung up and "writable".
                let mut m = poll::POLLOUT | poll::POLLHUP | err;
                if inner.shut & 1 != 0 {
                    m |= poll::POLLIN | POLLRDHUP;
                }
                m
            }
            Tcp::Idle => {
                let mut m = poll::POLLOUT | err;
                if inner.shut & 1 != 0 {
                    m |= poll::POLLIN | POLLRDHUP;
                }
                if inner.shut == 3 {
                    m |= poll::POLLHUP;
                }
                if let Some(q) = &self.udp
                    && !q.q.lock().dgrams.is_empty()
                {
                    m |= poll::POLLIN;
                }
                m
            }
        }
    }

    fn ioctl(&self, request: u64) -> Result<IoctlReply, Errno> {
        const FIONREAD: u64 = 0x541b;
        const SIOCOUTQ: u64 = 0x5411;
        const SIOCATMARK: u64 = 0x8905;
        match request {
            SIOCATMARK if self.proto == Proto::Tcp => {
                let m = self.conn().is_some_and(|(c, side)| c.at_mark(side));
                Ok(IoctlReply::Bytes(i32::from(m).to_le_bytes().to_vec(), 0))
            }
            FIONREAD => {
                if self.listening() {
                    return Err(Errno::EINVAL);
                }
                let n = self.readable() as i32;
                Ok(IoctlReply::Bytes(n.to_le_bytes().to_vec(), 0))
            }
            // Everything sent was delivered at once.
            SIOCOUTQ => Ok(IoctlReply::Bytes(0i32.to_le_bytes().to_vec(), 0)),
            _ => Err(Errno::ENOTTY),
        }
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

    fn as_inet_socket(&self) -> Option<&InetSocket> {
        Some(self)
    }
}

impl Drop for InetSocket {
    fn drop(&mut self) {
        let inner = self.inner.get_mut();
        let tcp = std::mem::replace(&mut inner.tcp, Tcp::Idle);
        // SO_LINGER with a zero timeout aborts with RST.
        let rst = inner.opts.linger == (1, 0);
        if let Tcp::Connected { conn, side, .. } = &tcp {
            conn.close_side(*side, rst);
        }
        // The side that sent its FIN first (and did not reset) keeps its
        // port in TIME_WAIT.
        let time_wait = match &tcp {
            Tcp::Connected { conn, side, .. } => {
                let h = conn.halves.lock();
                h[*side].fin_first && !h[*side].reset && !h[1 - *side].reset && conn.established()
            }
            _ => false,
        };
        if let Some(l) = inner.local {
            let mut t = TABLE.lock();
            if time_wait {
                t.time_wait(l.port, self.ino);
            } else {
                t.unbind(self.proto, l.port, self.ino);
            }
        }
        if let Tcp::Listening(l) = tcp {
            l.close();
        }
        self.readiness.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(ip: IpAddr, v6only: bool) -> Binding {
        Binding {
            id: 1,
            ip,
            v6only,
            reuseaddr: false,
            reuseport: false,
            uid: 0,
            listener: None,
            udp: None,
            udp_peer: None,
            v6: false,
            peer: None,
            tw_until: None,
        }
    }

    #[test]
    fn wildcard_matching_follows_v6only() {
        let lo4 = IpAddr::V4(Ipv4Addr::LOCALHOST);
        let any6 = IpAddr::V6(Ipv6Addr::UNSPECIFIED);
        let any4 = IpAddr::V4(Ipv4Addr::UNSPECIFIED);
        assert_eq!(b(any6, false).score(lo4), 1);
        assert_eq!(b(any6, true).score(lo4), 0);
        assert_eq!(b(any4, false).score(lo4), 2);
        assert_eq!(b(lo4, false).score(lo4), 4);
        assert!(b(any6, false).overlaps(any4, false));
        assert!(!b(any6, true).overlaps(any4, false));
        assert!(b(any4, false).overlaps(lo4, false));
        assert!(!b(IpAddr::V6(Ipv6Addr::LOCALHOST), false).overlaps(lo4, false));
    }

    #[test]
    fn addresses_round_trip_with_mapping() {
        let ep = Ep {
            ip: IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2)),
            port: 8080,
        };
        let v6 = encode_addr(ep, true);
        assert_eq!(v6.len(), 28);
        match decode_addr(&v6, true).unwrap() {
            Dest::Ep(e) => assert_eq!(e, ep),
            Dest::Unspec => panic!("unspec"),
        }
        let v4 = encode_addr(ep, false);
        assert!(matches!(decode_addr(&v4, true), Err(Errno::EINVAL)));
        assert!(matches!(decode_addr(&v4[..15], false), Err(Errno::EINVAL)));
    }
}

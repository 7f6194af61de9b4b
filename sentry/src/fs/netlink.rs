//! AF_NETLINK sockets of protocol NETLINK_ROUTE, answering just enough of
//! rtnetlink for programs to enumerate the sandbox's one interface: a
//! dump of links (RTM_GETLINK) or addresses (RTM_GETADDR) describes `lo`
//! (index 1, flags UP|LOOPBACK|RUNNING|LOWER_UP, MTU 65536, 127.0.0.1/8
//! and ::1/128), which is what glibc's and musl's getifaddrs() and Go's
//! net.Interfaces ask. Route, neighbour and rule dumps are empty; a
//! request to change anything gets EPERM (the sandbox's network cannot
//! be configured), anything else EOPNOTSUPP, in an NLMSG_ERROR reply.
//!
//! Replies are queued as datagrams when the request is sent (Linux builds
//! them as the reader asks, with the same contents): the dump's messages
//! in one datagram, then NLMSG_DONE in the next. The queue is bounded by
//! SO_RCVBUF; a reply that does not fit is dropped and the socket gets
//! ENOBUFS, as netlink_unicast to a full socket does.

use std::collections::{HashSet, VecDeque};
use std::sync::{Arc, LazyLock};

use parking_lot::Mutex;

use super::{FileOps, Stat, poll};
use crate::errno::Errno;
use crate::kernel::wait::{Blocker, WaitQueue};

/// AF_NETLINK.
pub const AF_NETLINK: u16 = 16;
/// NETLINK_ROUTE.
pub const NETLINK_ROUTE: i32 = 0;
const SOL_SOCKET: i32 = 1;
const SOL_NETLINK: i32 = 270;
/// rmem_default: the receive queue's bound.
const RCVBUF: usize = 212_992;

const NLMSG_ERROR: u16 = 2;
const NLMSG_DONE: u16 = 3;
const NLM_F_REQUEST: u16 = 1;
const NLM_F_MULTI: u16 = 2;
const NLM_F_ACK: u16 = 4;
const NLM_F_DUMP: u16 = 0x300;
const NLM_F_CAPPED: u16 = 0x100;
const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWADDR: u16 = 20;
const RTM_GETADDR: u16 = 22;
const RTM_GETROUTE: u16 = 26;
const RTM_GETNEIGH: u16 = 30;
const RTM_GETRULE: u16 = 34;
const AF_UNSPEC: u8 = 0;
const AF_INET: u8 = 2;
const AF_INET6: u8 = 10;
const AF_PACKET: u8 = 17;

/// The portids in use (Linux's netlink table for NETLINK_ROUTE).
static PORTIDS: LazyLock<Mutex<HashSet<i32>>> = LazyLock::new(Default::default);

/// A NETLINK_ROUTE socket.
pub struct NetlinkSocket {
    ino: u64,
    kind: u32,
    st: Mutex<State>,
    wait: WaitQueue,
    readiness: Arc<WaitQueue>,
}

#[derive(Default)]
struct State {
    /// The bound portid (0 until bound).
    portid: i32,
    groups: u32,
    queue: VecDeque<Vec<u8>>,
    queued: usize,
    err: Option<Errno>,
    /// SOL_NETLINK integer options.
    opts: std::collections::HashMap<i32, i32>,
}

/// An rtnetlink message under construction.
struct Msg(Vec<u8>);

impl Msg {
    fn new(ty: u16, flags: u16, seq: u32, pid: i32, body: &[u8]) -> Self {
        let mut v = vec![0u8; 16];
        v[4..6].copy_from_slice(&ty.to_le_bytes());
        v[6..8].copy_from_slice(&flags.to_le_bytes());
        v[8..12].copy_from_slice(&seq.to_le_bytes());
        v[12..16].copy_from_slice(&pid.to_le_bytes());
        v.extend_from_slice(body);
        Msg(v)
    }

    fn attr(mut self, ty: u16, data: &[u8]) -> Self {
        let len = 4 + data.len();
        self.0.extend_from_slice(&(len as u16).to_le_bytes());
        self.0.extend_from_slice(&ty.to_le_bytes());
        self.0.extend_from_slice(data);
        self.0.resize(self.0.len().next_multiple_of(4), 0);
        self
    }

    fn done(mut self) -> Vec<u8> {
        let len = self.0.len() as u32;
        self.0[0..4].copy_from_slice(&len.to_le_bytes());
        self.0
    }
}

/// RTM_NEWLINK for `lo`.
fn lo_link(flags: u16, seq: u32, pid: i32) -> Vec<u8> {
    const IFF_UP: u32 = 1;
    const IFF_LOOPBACK: u32 = 8;
    const IFF_RUNNING: u32 = 0x40;
    const IFF_LOWER_UP: u32 = 0x10000;
    const ARPHRD_LOOPBACK: u16 = 772;
    let mut ifi = vec![0u8; 16];
    ifi[2..4].copy_from_slice(&ARPHRD_LOOPBACK.to_le_bytes());
    ifi[4..8].copy_from_slice(&1i32.to_le_bytes());
    ifi[8..12].copy_from_slice(&(IFF_UP | IFF_LOOPBACK | IFF_RUNNING | IFF_LOWER_UP).to_le_bytes());
    Msg::new(RTM_NEWLINK, flags, seq, pid, &ifi)
        .attr(3, b"lo\0") // IFLA_IFNAME
        .attr(13, &1000u32.to_le_bytes()) // IFLA_TXQLEN
        .attr(16, &[0]) // IFLA_OPERSTATE: IF_OPER_UNKNOWN
        .attr(17, &[0]) // IFLA_LINKMODE
        .attr(4, &65536u32.to_le_bytes()) // IFLA_MTU
        .attr(50, &0u32.to_le_bytes()) // IFLA_MIN_MTU
        .attr(51, &0u32.to_le_bytes()) // IFLA_MAX_MTU
        .attr(27, &0u32.to_le_bytes()) // IFLA_GROUP
        .attr(30, &0u32.to_le_bytes()) // IFLA_PROMISCUITY
        .attr(31, &1u32.to_le_bytes()) // IFLA_NUM_TX_QUEUES
        .attr(32, &1u32.to_le_bytes()) // IFLA_NUM_RX_QUEUES
        .attr(33, &[1]) // IFLA_CARRIER
        .attr(6, b"noqueue\0") // IFLA_QDISC
        .attr(1, &[0; 6]) // IFLA_ADDRESS
        .attr(2, &[0; 6]) // IFLA_BROADCAST
        .attr(23, &[0; 200]) // IFLA_STATS64
        .attr(7, &[0; 96]) // IFLA_STATS
        .done()
}

/// RTM_NEWADDR messages for lo's addresses of `family` (AF_UNSPEC: all).
fn lo_addrs(family: u8, seq: u32, pid: i32) -> Vec<u8> {
    const IFA_F_PERMANENT: u8 = 0x80;
    const RT_SCOPE_HOST: u8 = 254;
    let cache = {
        let mut c = Vec::with_capacity(16);
        c.extend_from_slice(&u32::MAX.to_le_bytes()); // preferred
        c.extend_from_slice(&u32::MAX.to_le_bytes()); // valid
        c.extend_from_slice(&0u32.to_le_bytes());
        c.extend_from_slice(&0u32.to_le_bytes());
        c
    };
    let flags32 = u32::from(IFA_F_PERMANENT).to_le_bytes();
    let mut out = Vec::new();
    if family == AF_UNSPEC || family == AF_INET {
        let ifa = [AF_INET, 8, IFA_F_PERMANENT, RT_SCOPE_HOST, 1, 0, 0, 0];
        out.extend(
            Msg::new(RTM_NEWADDR, NLM_F_MULTI, seq, pid, &ifa)
                .attr(1, &[127, 0, 0, 1]) // IFA_ADDRESS
                .attr(2, &[127, 0, 0, 1]) // IFA_LOCAL
                .attr(3, b"lo\0") // IFA_LABEL
                .attr(8, &flags32) // IFA_FLAGS
                .attr(6, &cache) // IFA_CACHEINFO
                .done(),
        );
    }
    if family == AF_UNSPEC || family == AF_INET6 {
        let ifa = [AF_INET6, 128, IFA_F_PERMANENT, RT_SCOPE_HOST, 1, 0, 0, 0];
        let mut one = [0u8; 16];
        one[15] = 1;
        out.extend(
            Msg::new(RTM_NEWADDR, NLM_F_MULTI, seq, pid, &ifa)
                .attr(1, &one) // IFA_ADDRESS
                .attr(6, &cache) // IFA_CACHEINFO
                .attr(8, &flags32) // IFA_FLAGS
                .done(),
        );
    }
    out
}

/// The NLMSG_ERROR reply to the request `hdr` (`err` 0: an ack).
fn error_msg(hdr: &[u8], err: i32, seq: u32, pid: i32) -> Vec<u8> {
    let mut body = (-err).to_le_bytes().to_vec();
    body.extend_from_slice(&hdr[..16]);
    Msg::new(NLMSG_ERROR, NLM_F_CAPPED, seq, pid, &body).done()
}

fn done_msg(seq: u32, pid: i32) -> Vec<u8> {
    Msg::new(NLMSG_DONE, NLM_F_MULTI, seq, pid, &0i32.to_le_bytes()).done()
}

impl NetlinkSocket {
    /// A new NETLINK_ROUTE socket of `kind` (SOCK_RAW or SOCK_DGRAM).
    pub fn new(kind: u32, ino: u64, readiness: Arc<WaitQueue>) -> Self {
        Self {
            ino,
            kind,
            st: Mutex::new(State::default()),
            wait: WaitQueue::default(),
            readiness,
        }
    }

    /// SOCK_RAW or SOCK_DGRAM.
    pub fn kind(&self) -> u32 {
        self.kind
    }

    /// Takes `portid` (0: the caller's tgid if free, else a negative
    /// number, as netlink_autobind).
    fn bind_portid(st: &mut State, portid: i32, tgid: i32) -> Result<(), Errno> {
        let mut ids = PORTIDS.lock();
        if portid != 0 {
            if ids.contains(&portid) {
                return Err(Errno::EADDRINUSE);
            }
            ids.insert(portid);
            st.portid = portid;
            return Ok(());
        }
        let mut cand = tgid;
        let mut rover = -4096;
        while ids.contains(&cand) {
            cand = rover;
            rover -= 1;
        }
        ids.insert(cand);
        st.portid = cand;
        Ok(())
    }

    /// bind(struct sockaddr_nl).
    pub fn bind(&self, addr: &[u8], tgid: i32) -> Result<(), Errno> {
        if addr.len() < 12 || u16::from_le_bytes([addr[0], addr[1]]) != AF_NETLINK {
            return Err(Errno::EINVAL);
        }
        let pid = i32::from_le_bytes(addr[4..8].try_into().expect("4"));
        let groups = u32::from_le_bytes(addr[8..12].try_into().expect("4"));
        let mut st = self.st.lock();
        st.groups = groups;
        if st.portid != 0 {
            return if pid == 0 || pid == st.portid {
                Ok(())
            } else {
                Err(Errno::EINVAL)
            };
        }
        Self::bind_portid(&mut st, pid, tgid)
    }

    /// getsockname: family, the portid and the groups.
    pub fn name(&self) -> Vec<u8> {
        let st = self.st.lock();
        let mut v = AF_NETLINK.to_le_bytes().to_vec();
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&st.portid.to_le_bytes());
        v.extend_from_slice(&st.groups.to_le_bytes());
        v
    }

    /// The kernel's address (what a receive reports as the sender, and
    /// getpeername).
    pub fn kernel_addr() -> Vec<u8> {
        let mut v = AF_NETLINK.to_le_bytes().to_vec();
        v.resize(12, 0);
        v
    }

    /// Sends requests to the kernel (`dest`, if given, must be portid 0:
    /// ECONNREFUSED for another socket, which the sandbox never has).
    pub fn send(&self, data: &[u8], dest: Option<&[u8]>, tgid: i32) -> Result<usize, Errno> {
        if let Some(d) = dest {
            if d.len() < 12 || u16::from_le_bytes([d[0], d[1]]) != AF_NETLINK {
                return Err(Errno::EINVAL);
            }
            if d[4..8] != [0; 4] {
                return Err(Errno::ECONNREFUSED);
            }
        }
        let mut st = self.st.lock();
        if st.portid == 0 {
            Self::bind_portid(&mut st, 0, tgid)?;
        }
        let pid = st.portid;
        let mut replies: Vec<Vec<u8>> = Vec::new();
        let mut off = 0;
        while off + 16 <= data.len() {
            let h = &data[off..];
            let len = u32::from_le_bytes(h[0..4].try_into().expect("4")) as usize;
            if len < 16 || len > h.len() {
                break;
            }
            let ty = u16::from_le_bytes([h[4], h[5]]);
            let flags = u16::from_le_bytes([h[6], h[7]]);
            let seq = u32::from_le_bytes(h[8..12].try_into().expect("4"));
            let family = if len > 16 { h[16] } else { AF_UNSPEC };
            let mut err = 0;
            if flags & NLM_F_REQUEST == 0 {
                // Not a request: ignored (netlink_rcv_skb).
            } else if flags & NLM_F_DUMP == NLM_F_DUMP {
                match ty {
                    RTM_GETLINK => {
                        if family == AF_UNSPEC || family == AF_PACKET {
                            replies.push(lo_link(NLM_F_MULTI, seq, pid));
                        }
                        replies.push(done_msg(seq, pid));
                    }
                    RTM_GETADDR => {
                        let m = lo_addrs(family, seq, pid);
                        if !m.is_empty() {
                            replies.push(m);
                        }
                        replies.push(done_msg(seq, pid));
                    }
                    RTM_GETROUTE | RTM_GETNEIGH | RTM_GETRULE => replies.push(done_msg(seq, pid)),
                    _ => err = self.refusal(ty),
                }
            } else if ty == RTM_GETLINK {
                // By index (ifi_index) or name (IFLA_IFNAME).
                let index = if len >= 24 {
                    i32::from_le_bytes(h[20..24].try_into().expect("4"))
                } else {
                    0
                };
                let named_lo = h[..len].windows(3).any(|w| w == b"lo\0");
                if index == 1 || (index == 0 && named_lo) {
                    replies.push(lo_link(0, seq, pid));
                } else {
                    err = Errno::ENODEV.0;
                }
            } else {
                err = self.refusal(ty);
            }
            if err != 0 || flags & NLM_F_ACK != 0 {
                replies.push(error_msg(h, err, seq, pid));
            }
            off += len.next_multiple_of(4);
        }
        for r in replies {
            if st.queued + r.len() > RCVBUF {
                st.err = Some(Errno::ENOBUFS);
                break;
            }
            st.queued += r.len();
            st.queue.push_back(r);
        }
        drop(st);
        self.wait.notify_all();
        self.readiness.notify_all();
        Ok(data.len())
    }

    /// The error for a request this module does not answer: changes are
    /// not permitted, other reads are not supported.
    fn refusal(&self, ty: u16) -> i32 {
        // rtnetlink's message types come in fours: NEW, DEL, GET, SET.
        if ty >= RTM_NEWLINK && ty % 4 != 2 {
            Errno::EPERM.0
        } else {
            Errno::EOPNOTSUPP.0
        }
    }

    /// Queues a datagram from the kernel that is not an rtnetlink reply
    /// (an mq_notify SIGEV_THREAD cookie); dropped, with ENOBUFS, when it
    /// does not fit.
    pub fn deliver(&self, data: Vec<u8>) {
        {
            let mut st = self.st.lock();
            if st.queued + data.len() > RCVBUF {
                st.err = Some(Errno::ENOBUFS);
            } else {
                st.queued += data.len();
                st.queue.push_back(data);
            }
        }
        self.wait.notify_all();
        self.readiness.notify_all();
    }

    /// Receives the next reply datagram: (bytes copied, its whole length).
    pub fn recv(
        &self,
        len: usize,
        peek: bool,
        nonblock: bool,
        blocker: &dyn Blocker,
    ) -> Result<(Vec<u8>, usize), Errno> {
        loop {
            let guard = self.wait.prepare(blocker);
            {
                let mut st = self.st.lock();
                if let Some(e) = st.err.take() {
                    return Err(e);
                }
                if let Some(d) = st.queue.front() {
                    let full = d.len();
                    let data = d[..len.min(full)].to_vec();
                    if !peek {
                        st.queue.pop_front();
                        st.queued -= full;
                    }
                    return Ok((data, full));
                }
            }
            if nonblock {
                return Err(Errno::EAGAIN);
            }
            guard.sleep(None)?;
        }
    }

    /// getsockopt: SOL_SOCKET's basics and SOL_NETLINK flags.
    pub fn getsockopt(&self, level: i32, name: i32) -> Result<i32, Errno> {
        match (level, name) {
            (SOL_SOCKET, 3) => Ok(self.kind as i32), // SO_TYPE
            (SOL_SOCKET, 4) => Ok(self.st.lock().err.take().map_or(0, |e| e.0)), // SO_ERROR
            (SOL_SOCKET, 7 | 8) => Ok(RCVBUF as i32), // SO_SNDBUF, SO_RCVBUF
            (SOL_SOCKET, 38) => Ok(NETLINK_ROUTE),   // SO_PROTOCOL
            (SOL_SOCKET, 39) => Ok(i32::from(AF_NETLINK)), // SO_DOMAIN
            (SOL_SOCKET, 30) => Ok(0),               // SO_ACCEPTCONN
            (SOL_NETLINK, 3..=12) => Ok(*self.st.lock().opts.get(&name).unwrap_or(&0)),
            _ => Err(Errno::ENOPROTOOPT),
        }
    }

    /// setsockopt: buffer sizes are accepted (and kept at the default),
    /// SOL_NETLINK flags are kept.
    pub fn setsockopt(&self, level: i32, name: i32, val: i32) -> Result<(), Errno> {
        match (level, name) {
            // SO_SNDBUF, SO_RCVBUF, SO_SNDBUFFORCE, SO_RCVBUFFORCE,
            // SO_PASSCRED, SO_TIMESTAMP, SO_ATTACH_FILTER is not here.
            (SOL_SOCKET, 7 | 8 | 16 | 29 | 32 | 33) => Ok(()),
            // NETLINK_ADD_MEMBERSHIP, NETLINK_DROP_MEMBERSHIP: no events
            // ever come.
            (SOL_NETLINK, 1 | 2) => Ok(()),
            (SOL_NETLINK, 3..=12) => {
                self.st.lock().opts.insert(name, i32::from(val != 0));
                Ok(())
            }
            _ => Err(Errno::ENOPROTOOPT),
        }
    }
}

impl FileOps for NetlinkSocket {
    fn read(&self, buf: &mut [u8], nonblock: bool, blocker: &dyn Blocker) -> Result<usize, Errno> {
        let (d, _) = self.recv(buf.len(), false, nonblock, blocker)?;
        buf[..d.len()].copy_from_slice(&d);
        Ok(d.len())
    }

    fn write(&self, buf: &[u8], _nonblock: bool, blocker: &dyn Blocker) -> Result<usize, Errno> {
        let tgid = blocker.task().map_or(1, |t| t.tgid());
        self.send(buf, None, tgid)
    }

    fn poll(&self) -> u16 {
        let st = self.st.lock();
        let mut m = poll::POLLOUT;
        if !st.queue.is_empty() {
            m |= poll::POLLIN;
        }
        if st.err.is_some() {
            m |= poll::POLLERR;
        }
        m
    }

    fn stat(&self) -> Stat {
        Stat {
            mode: 0o140777,
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

    fn as_netlink_socket(&self) -> Option<&NetlinkSocket> {
        Some(self)
    }
}

impl Drop for NetlinkSocket {
    fn drop(&mut self) {
        let pid = self.st.get_mut().portid;
        if pid != 0 {
            PORTIDS.lock().remove(&pid);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_message_is_well_formed() {
        let m = lo_link(NLM_F_MULTI, 7, 42);
        let len = u32::from_le_bytes(m[0..4].try_into().unwrap()) as usize;
        assert_eq!(len, m.len());
        assert_eq!(u16::from_le_bytes([m[4], m[5]]), RTM_NEWLINK);
        // Walk the attributes: they must end exactly at the message's end.
        let mut off = 32;
        let mut names = Vec::new();
        while off < len {
            let alen = u16::from_le_bytes([m[off], m[off + 1]]) as usize;
            let ty = u16::from_le_bytes([m[off + 2], m[off + 3]]);
            assert!(alen >= 4);
            if ty == 3 {
                names.push(m[off + 4..off + alen].to_vec());
            }
            off += alen.next_multiple_of(4);
        }
        assert_eq!(off, len);
        assert_eq!(names, vec![b"lo\0".to_vec()]);
    }

    #[test]
    fn address_dump_filters_by_family() {
        assert_eq!(lo_addrs(AF_INET, 1, 1)[16], AF_INET);
        assert_eq!(lo_addrs(AF_INET6, 1, 1)[16], AF_INET6);
        assert!(lo_addrs(AF_PACKET, 1, 1).is_empty());
    }
}

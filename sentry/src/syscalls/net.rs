//! Socket calls on AF_INET, AF_INET6 ([`crate::fs::inet`]) and
//! AF_NETLINK ([`crate::fs::netlink`]) sockets. [`super::socket`] hands a
//! call here when the family or the descriptor is one of these; Unix
//! sockets stay there.

use std::sync::Arc;

use crate::abi::Fd;
use crate::errno::Errno;
use crate::fs::inet::{self, InetSocket, MsgFlags, Proto};
use crate::fs::netlink::{self, NetlinkSocket};
use crate::fs::{O_CLOEXEC, O_NONBLOCK, OpenFile};
use crate::kernel::task::{SysResult, TaskCtx};
use crate::syscalls::file::{epipe, iovecs};
use crate::syscalls::socket::{gather, scatter};

const AF_INET: i32 = 2;
const AF_INET6: i32 = 10;
const AF_NETLINK: i32 = 16;
const SOCK_STREAM: u32 = 1;
const SOCK_DGRAM: u32 = 2;
const SOCK_RAW: u32 = 3;
const SOCK_TYPE_MASK: u32 = 0xf;
const IPPROTO_ICMP: i32 = 1;
const IPPROTO_ICMPV6: i32 = 58;

const MSG_OOB: u32 = 1;
const MSG_PEEK: u32 = 2;
const MSG_TRUNC: u32 = 0x20;
const MSG_DONTWAIT: u32 = 0x40;
const MSG_WAITALL: u32 = 0x100;
const MSG_NOSIGNAL: u32 = 0x4000;
const MSG_ERRQUEUE: u32 = 0x2000;

/// Largest single transfer (as Linux's MAX_RW_COUNT).
const MAX_RW: u64 = 0x7fff_f000;
/// Largest address a guest may pass (sizeof(struct sockaddr_storage)).
const ADDR_MAX: u32 = 128;

/// Whether `domain` is served here.
pub fn handles(domain: i32) -> bool {
    matches!(domain, AF_INET | AF_INET6 | AF_NETLINK)
}

/// The inet or netlink socket behind `fd`, if it is one (EBADF for a
/// closed descriptor).
pub fn lookup(t: &TaskCtx, fd: Fd) -> Result<Option<Arc<OpenFile>>, Errno> {
    let f = t.task.files().get(i64::from(fd.0))?;
    Ok((f.ops.as_inet_socket().is_some() || f.ops.as_netlink_socket().is_some()).then_some(f))
}

fn euid(t: &TaskCtx) -> u32 {
    t.task.ident.creds().uid[crate::kernel::creds::EFFECTIVE]
}

/// socket(domain, type, protocol) for AF_INET, AF_INET6 and AF_NETLINK.
pub fn socket(t: &mut TaskCtx, domain: i32, ty: u32, proto: i32) -> SysResult {
    let flags = ty & !SOCK_TYPE_MASK;
    if flags & !(O_CLOEXEC | O_NONBLOCK) != 0 {
        return Err(Errno::EINVAL.into());
    }
    let kind = ty & SOCK_TYPE_MASK;
    let kernel = &t.task.kernel;
    // Queued bytes are charged to --memory with the Unix sockets'.
    crate::fs::unix::mem::set_machine(&kernel.machine);
    let ino = kernel.next_ino();
    let ops: Box<dyn crate::fs::FileOps> = if domain == AF_NETLINK {
        if kind != SOCK_RAW && kind != SOCK_DGRAM {
            return Err(Errno::ESOCKTNOSUPPORT.into());
        }
        if proto != netlink::NETLINK_ROUTE {
            return Err(Errno::EPROTONOSUPPORT.into());
        }
        Box::new(NetlinkSocket::new(kind, ino, Arc::clone(&kernel.readiness)))
    } else {
        let v6 = domain == AF_INET6;
        let p = match (kind, proto) {
            (SOCK_STREAM, 0 | inet::IPPROTO_TCP) => Proto::Tcp,
            (SOCK_DGRAM, 0 | inet::IPPROTO_UDP) => Proto::Udp,
            // Ping sockets: outside the default ping_group_range.
            (SOCK_DGRAM, IPPROTO_ICMP | IPPROTO_ICMPV6) => return Err(Errno::EACCES.into()),
            (SOCK_STREAM | SOCK_DGRAM, _) => return Err(Errno::EPROTONOSUPPORT.into()),
            // Raw sockets need CAP_NET_RAW, which the sandbox never gives.
            (SOCK_RAW, _) => return Err(Errno::EPERM.into()),
            _ => return Err(Errno::ESOCKTNOSUPPORT.into()),
        };
        Box::new(InetSocket::new(
            p,
            v6,
            ino,
            euid(t),
            Arc::clone(&kernel.readiness),
        ))
    };
    let fd = t.task.files().insert(
        OpenFile::new(ops, (flags & O_NONBLOCK) | 2),
        flags & O_CLOEXEC != 0,
        0,
    )?;
    Ok(fd as u64)
}

/// Reads a guest socket address of `len` bytes (EINVAL when too long).
fn read_addr(t: &TaskCtx, addr: u64, len: u32) -> Result<Vec<u8>, Errno> {
    if len > ADDR_MAX {
        return Err(Errno::EINVAL);
    }
    let mut b = vec![0u8; len as usize];
    t.mm().read(addr, &mut b)?;
    Ok(b)
}

/// Writes `name` to a guest address buffer whose length is at `lenp`
/// (cut to it), and the whole length to `lenp`.
fn put_addr(t: &TaskCtx, addr: u64, lenp: u64, name: &[u8]) -> Result<(), Errno> {
    let mm = t.mm();
    let len = mm.read_u32(lenp)? as i32;
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    let n = (len as usize).min(name.len());
    if n > 0 {
        mm.write(addr, &name[..n])?;
    }
    mm.write_u32(lenp, name.len() as u32)?;
    Ok(())
}

/// bind(fd, addr, addrlen).
pub fn bind(t: &mut TaskCtx, f: &OpenFile, addr: u64, len: u32) -> SysResult {
    let a = read_addr(t, addr, len)?;
    if let Some(s) = f.ops.as_inet_socket() {
        s.bind(&a, euid(t))?;
    } else if let Some(s) = f.ops.as_netlink_socket() {
        s.bind(&a, t.task.tgid())?;
    }
    Ok(0)
}

/// listen(fd, backlog).
pub fn listen(_t: &mut TaskCtx, f: &OpenFile, backlog: i32) -> SysResult {
    match f.ops.as_inet_socket() {
        Some(s) => s.listen(backlog)?,
        None => return Err(Errno::EOPNOTSUPP.into()),
    }
    Ok(0)
}

/// connect(fd, addr, addrlen).
pub fn connect(t: &mut TaskCtx, f: &OpenFile, addr: u64, len: u32) -> SysResult {
    let a = read_addr(t, addr, len)?;
    if let Some(s) = f.ops.as_inet_socket() {
        s.connect(&a, f.nonblocking(), &*t.task)?;
    } else if a.len() < 12 || u16::from_le_bytes([a[0], a[1]]) != netlink::AF_NETLINK {
        return Err(Errno::EINVAL.into());
    }
    Ok(0)
}

/// accept4(fd, addr, addrlen, flags).
pub fn accept4(t: &mut TaskCtx, f: &OpenFile, addr: u64, lenp: u64, flags: u32) -> SysResult {
    if flags & !(O_CLOEXEC | O_NONBLOCK) != 0 {
        return Err(Errno::EINVAL.into());
    }
    let Some(s) = f.ops.as_inet_socket() else {
        return Err(Errno::EOPNOTSUPP.into());
    };
    if s.proto() != Proto::Tcp {
        return Err(Errno::EOPNOTSUPP.into());
    }
    let ino = t.task.kernel.next_ino();
    let ns = s.accept(f.nonblocking(), ino, &*t.task)?;
    let peer = ns.peer_name().unwrap_or_default();
    let nf = OpenFile::new(Box::new(ns), 2 | (flags & O_NONBLOCK));
    let newfd = t.task.files().insert(nf, flags & O_CLOEXEC != 0, 0)?;
    if addr != 0
        && let Err(e) = put_addr(t, addr, lenp, &peer)
    {
        let _ = t.task.files().remove(i64::from(newfd));
        return Err(e.into());
    }
    Ok(newfd as u64)
}

fn do_send(t: &TaskCtx, f: &OpenFile, data: &[u8], dest: Option<&[u8]>, flags: u32) -> SysResult {
    if let Some(s) = f.ops.as_netlink_socket() {
        return Ok(s.send(data, dest, t.task.tgid())? as u64);
    }
    let s = f.ops.as_inet_socket().expect("checked by lookup()");
    let nonblock = f.nonblocking() || flags & MSG_DONTWAIT != 0;
    // A TCP socket ignores a destination (tcp_sendmsg).
    let dest = if s.proto() == Proto::Tcp { None } else { dest };
    match s.send_oob(data, dest, flags & MSG_OOB != 0, nonblock, &*t.task) {
        Ok(n) => Ok(n as u64),
        Err(e) if flags & MSG_NOSIGNAL != 0 || s.proto() != Proto::Tcp => Err(e.into()),
        Err(e) => Err(epipe(t, e).into()),
    }
}

/// sendto(fd, buf, len, flags, addr, addrlen) on an inet or netlink
/// socket, or on to [`super::socket::sendto`].
pub fn sendto(
    t: &mut TaskCtx,
    fd: Fd,
    buf: u64,
    len: u64,
    flags: u32,
    addr: u64,
    alen: u32,
) -> SysResult {
    let Some(f) = lookup(t, fd)? else {
        return super::socket::sendto(t, fd, buf, len, flags, addr, alen);
    };
    let data = gather(t, &[(buf, len)])?;
    let dest = if addr != 0 {
        Some(read_addr(t, addr, alen)?)
    } else {
        None
    };
    do_send(t, &f, &data, dest.as_deref(), flags)
}

/// struct msghdr's fields.
struct MsgHdr {
    name: u64,
    namelen: u32,
    iov: u64,
    iovlen: u64,
}

fn read_msghdr(t: &TaskCtx, at: u64) -> Result<MsgHdr, Errno> {
    let mut b = [0u8; 56];
    t.mm().read(at, &mut b)?;
    let q = |o: usize| u64::from_le_bytes(b[o..o + 8].try_into().expect("8"));
    Ok(MsgHdr {
        name: q(0),
        namelen: q(8) as u32,
        iov: q(16),
        iovlen: q(24),
    })
}

/// sendmsg(fd, msg, flags). Control messages (IP_PKTINFO and the like)
/// are ignored: there is one interface and one source.
pub fn sendmsg(t: &mut TaskCtx, f: &OpenFile, msg: u64, flags: u32) -> SysResult {
    let h = read_msghdr(t, msg)?;
    let iov = iovecs(t, h.iov, h.iovlen)?;
    let data = gather(t, &iov)?;
    let dest = if h.name != 0 && h.namelen != 0 {
        Some(read_addr(t, h.name, h.namelen)?)
    } else {
        None
    };
    do_send(t, f, &data, dest.as_deref(), flags)
}

/// What a receive got: the data, the whole datagram length, the sender's
/// address (empty for a stream).
struct Got {
    data: Vec<u8>,
    full_len: usize,
    from: Vec<u8>,
    stream: bool,
}

fn do_recv(t: &TaskCtx, f: &OpenFile, len: usize, flags: u32) -> Result<Got, Errno> {
    let nonblock = f.nonblocking() || flags & MSG_DONTWAIT != 0;
    if flags & MSG_ERRQUEUE != 0 {
        // Nothing ever lands on the error queue.
        return Err(Errno::EAGAIN);
    }
    if let Some(s) = f.ops.as_netlink_socket() {
        let (data, full_len) = s.recv(len, flags & MSG_PEEK != 0, nonblock, &*t.task)?;
        return Ok(Got {
            data,
            full_len,
            from: NetlinkSocket::kernel_addr(),
            stream: false,
        });
    }
    let s = f.ops.as_inet_socket().expect("checked by lookup()");
    // UDP ignores MSG_OOB on receive (udp_recvmsg).
    if flags & MSG_OOB != 0 && s.proto() == Proto::Tcp {
        let data = s.recv_oob(len, flags & MSG_PEEK != 0)?;
        return Ok(Got {
            full_len: data.len(),
            data,
            from: Vec::new(),
            stream: true,
        });
    }
    let mf = MsgFlags {
        peek: flags & MSG_PEEK != 0,
        waitall: flags & MSG_WAITALL != 0,
        nonblock,
    };
    let r = s.recv(len, mf, &*t.task)?;
    Ok(Got {
        from: r
            .from
            .map(|ep| inet::encode_addr(ep, s.is_v6()))
            .unwrap_or_default(),
        full_len: r.full_len,
        data: r.data,
        stream: s.proto() == Proto::Tcp,
    })
}

/// recvfrom(fd, buf, len, flags, addr, addrlen) on an inet or netlink
/// socket, or on to [`super::socket::recvfrom`].
pub fn recvfrom(
    t: &mut TaskCtx,
    fd: Fd,
    buf: u64,
    len: u64,
    flags: u32,
    addr: u64,
    lenp: u64,
) -> SysResult {
    let Some(f) = lookup(t, fd)? else {
        return super::socket::recvfrom(t, fd, buf, len, flags, addr, lenp);
    };
    let len = len.min(MAX_RW) as usize;
    let g = do_recv(t, &f, len, flags)?;
    // MSG_TRUNC on a stream discards what it received.
    if !(g.stream && flags & MSG_TRUNC != 0) {
        scatter(t, &[(buf, len as u64)], &g.data)?;
    }
    if addr != 0 && lenp != 0 {
        put_addr(t, addr, lenp, &g.from)?;
    }
    let n = if flags & MSG_TRUNC != 0 && !g.stream {
        g.full_len
    } else {
        g.data.len()
    };
    Ok(n as u64)
}

/// recvmsg(fd, msg, flags): no control messages.
pub fn recvmsg(t: &mut TaskCtx, f: &OpenFile, msg: u64, flags: u32) -> SysResult {
    let h = read_msghdr(t, msg)?;
    let iov = iovecs(t, h.iov, h.iovlen)?;
    let len = iov.iter().map(|v| v.1).sum::<u64>().min(MAX_RW) as usize;
    let g = do_recv(t, f, len, flags)?;
    if !(g.stream && flags & MSG_TRUNC != 0) {
        scatter(t, &iov, &g.data)?;
    }
    let mm = t.mm();
    if h.name != 0 {
        let n = (h.namelen as usize).min(g.from.len());
        if n > 0 {
            mm.write(h.name, &g.from[..n])?;
        }
        mm.write_u32(msg + 8, g.from.len() as u32)?;
    }
    mm.write_u64(msg + 40, 0)?;
    let mflags = if g.full_len > g.data.len() {
        MSG_TRUNC
    } else {
        0
    };
    mm.write_u32(msg + 48, mflags)?;
    let n = if flags & MSG_TRUNC != 0 && !g.stream {
        g.full_len
    } else {
        g.data.len()
    };
    Ok(n as u64)
}

/// shutdown(fd, how).
pub fn shutdown(_t: &mut TaskCtx, f: &OpenFile, how: i32) -> SysResult {
    match f.ops.as_inet_socket() {
        Some(s) => s.shutdown(how)?,
        None if (0..=2).contains(&how) => {}
        None => return Err(Errno::EINVAL.into()),
    }
    Ok(0)
}

/// getsockopt(fd, level, optname, optval, optlen).
pub fn getsockopt(
    t: &mut TaskCtx,
    f: &OpenFile,
    level: i32,
    name: i32,
    val: u64,
    lenp: u64,
) -> SysResult {
    let mm = t.mm();
    let len = mm.read_u32(lenp)? as i32;
    if len < 0 {
        return Err(Errno::EINVAL.into());
    }
    let bytes = if let Some(s) = f.ops.as_inet_socket() {
        match s.getsockopt(level, name)? {
            inet::OptVal::Int(v) => v.to_le_bytes().to_vec(),
            inet::OptVal::Bytes(b) => b,
        }
    } else {
        let s = f.ops.as_netlink_socket().expect("checked by lookup()");
        s.getsockopt(level, name)?.to_le_bytes().to_vec()
    };
    let n = (len as usize).min(bytes.len());
    mm.write(val, &bytes[..n])?;
    mm.write_u32(lenp, n as u32)?;
    Ok(0)
}

/// setsockopt(fd, level, optname, optval, optlen).
pub fn setsockopt(
    t: &mut TaskCtx,
    f: &OpenFile,
    level: i32,
    name: i32,
    val: u64,
    len: u32,
) -> SysResult {
    if (len as i32) < 0 {
        return Err(Errno::EINVAL.into());
    }
    let len = len.min(256);
    let mut b = vec![0u8; len as usize];
    t.mm().read(val, &mut b)?;
    if let Some(s) = f.ops.as_inet_socket() {
        s.setsockopt(level, name, &b)?;
    } else {
        let s = f.ops.as_netlink_socket().expect("checked by lookup()");
        if b.len() < 4 {
            return Err(Errno::EINVAL.into());
        }
        s.setsockopt(
            level,
            name,
            i32::from_le_bytes(b[..4].try_into().expect("4")),
        )?;
    }
    Ok(0)
}

/// getsockname (`peer` false) and getpeername.
pub fn socket_name(t: &mut TaskCtx, f: &OpenFile, addr: u64, lenp: u64, peer: bool) -> SysResult {
    let name = if let Some(s) = f.ops.as_inet_socket() {
        if peer { s.peer_name()? } else { s.name() }
    } else {
        let s = f.ops.as_netlink_socket().expect("checked by lookup()");
        if peer {
            NetlinkSocket::kernel_addr()
        } else {
            s.name()
        }
    };
    put_addr(t, addr, lenp, &name)?;
    Ok(0)
}

/// The interface ioctls (SIOCGIF*) on any socket, as glibc's and musl's
/// if_nametoindex and if_indextoname, ifconfig and the like use them:
/// `lo` is the only interface (ENODEV for another name or index), and
/// nothing can be changed (EPERM). None for another request.
pub fn ifreq_ioctl(t: &TaskCtx, request: u64, arg: u64) -> Option<SysResult> {
    const SIOCGIFNAME: u64 = 0x8910;
    const SIOCGIFCONF: u64 = 0x8912;
    const SIOCGIFFLAGS: u64 = 0x8913;
    const SIOCGIFADDR: u64 = 0x8915;
    const SIOCGIFNETMASK: u64 = 0x891b;
    const SIOCGIFMTU: u64 = 0x8921;
    const SIOCGIFHWADDR: u64 = 0x8927;
    const SIOCGIFINDEX: u64 = 0x8933;
    const SIOCGIFTXQLEN: u64 = 0x8942;
    if !(0x8910..=0x89ff).contains(&request) {
        return None;
    }
    let run = || -> SysResult {
        let mm = t.mm();
        if request == SIOCGIFCONF {
            let mut c = [0u8; 16];
            mm.read(arg, &mut c)?;
            let len = i32::from_le_bytes(c[0..4].try_into().expect("4"));
            let buf = u64::from_le_bytes(c[8..16].try_into().expect("8"));
            let mut req = vec![0u8; 40];
            req[..2].copy_from_slice(b"lo");
            req[16..32].copy_from_slice(&inet::encode_addr(
                inet::Ep {
                    ip: std::net::Ipv4Addr::LOCALHOST.into(),
                    port: 0,
                },
                false,
            ));
            let n = if buf == 0 {
                40
            } else if len >= 40 {
                mm.write(buf, &req)?;
                40
            } else {
                0
            };
            mm.write_u32(arg, n)?;
            return Ok(0);
        }
        let mut ifr = [0u8; 40];
        mm.read(arg, &mut ifr)?;
        if request == SIOCGIFNAME {
            let index = i32::from_le_bytes(ifr[16..20].try_into().expect("4"));
            if index != 1 {
                return Err(Errno::ENODEV.into());
            }
            mm.write(arg, b"lo\0")?;
            return Ok(0);
        }
        let name = ifr[..16].split(|&c| c == 0).next().unwrap_or_default();
        if name != b"lo" {
            return Err(Errno::ENODEV.into());
        }
        let v4 = |ip: [u8; 4]| {
            let mut a = vec![0u8; 16];
            a[..2].copy_from_slice(&2u16.to_le_bytes());
            a[4..8].copy_from_slice(&ip);
            a
        };
        let out: Vec<u8> = match request {
            SIOCGIFFLAGS => 0x49u16.to_le_bytes().to_vec(), // UP|LOOPBACK|RUNNING
            SIOCGIFADDR => v4([127, 0, 0, 1]),
            SIOCGIFNETMASK => v4([255, 0, 0, 0]),
            SIOCGIFMTU => 65536i32.to_le_bytes().to_vec(),
            SIOCGIFINDEX => 1i32.to_le_bytes().to_vec(),
            SIOCGIFTXQLEN => 1000i32.to_le_bytes().to_vec(),
            SIOCGIFHWADDR => {
                let mut a = vec![0u8; 16];
                a[..2].copy_from_slice(&772u16.to_le_bytes()); // ARPHRD_LOOPBACK
                a
            }
            // The SIOCS* requests change the interface.
            r if r & 0xf == 0x4 || r & 0xf == 0x6 || r & 0xf == 0x8 => {
                return Err(Errno::EPERM.into());
            }
            _ => return Err(Errno::EINVAL.into()),
        };
        mm.write(arg + 16, &out)?;
        Ok(0)
    };
    Some(run())
}

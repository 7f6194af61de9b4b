//! Socket calls. The sandbox has Unix domain socket pairs
//! ([`crate::fs::unix`]): socketpair, send/recv and their msg forms (with
//! SCM_RIGHTS and SCM_CREDENTIALS), shutdown, getsockopt/setsockopt,
//! getsockname/getpeername. Every other descriptor is not a socket:
//! ENOTSOCK (EBADF for a closed one), as Linux does for a file or a pipe.
//! Programs rely on it: bash sources `~/.bashrc` for `bash -c` when
//! getpeername on its standard input does not fail with ENOTSOCK (it
//! thinks rshd or sshd started it).

use std::sync::Arc;

use crate::abi::Fd;
use crate::errno::Errno;
use crate::fs::unix::{self, Ucred, UnixSocket};
use crate::fs::{O_CLOEXEC, O_NONBLOCK, OpenFile};
use crate::kernel::task::{SysResult, TaskCtx};
use crate::syscalls::file::{epipe, iovecs};

const AF_UNIX: i32 = 1;
const AF_INET: i32 = 2;
const AF_INET6: i32 = 10;
const AF_NETLINK: i32 = 16;
const AF_PACKET: i32 = 17;
const SOCK_RAW: u32 = 3;
const SOCK_TYPE_MASK: u32 = 0xf;
const SOCK_MAX: u32 = 11;

const MSG_OOB: u32 = 1;
const MSG_PEEK: u32 = 2;
const MSG_CTRUNC: u32 = 8;
const MSG_TRUNC: u32 = 0x20;
const MSG_DONTWAIT: u32 = 0x40;
const MSG_WAITALL: u32 = 0x100;
const MSG_NOSIGNAL: u32 = 0x4000;
const MSG_CMSG_CLOEXEC: u32 = 0x4000_0000;

const SOL_SOCKET: i32 = 1;
const SCM_RIGHTS: i32 = 1;
const SCM_CREDENTIALS: i32 = 2;
/// Linux's SCM_MAX_FD.
const SCM_MAX_FD: usize = 253;

const SO_TYPE: i32 = 3;
const SO_ERROR: i32 = 4;
const SO_SNDBUF: i32 = 7;
const SO_RCVBUF: i32 = 8;
const SO_PASSCRED: i32 = 16;
const SO_PEERCRED: i32 = 17;
const SO_ACCEPTCONN: i32 = 30;
const SO_PROTOCOL: i32 = 38;
const SO_DOMAIN: i32 = 39;

/// Largest single transfer (as Linux's MAX_RW_COUNT).
const MAX_RW: u64 = 0x7fff_f000;

/// The Unix socket behind `fd`: EBADF for a closed descriptor, ENOTSOCK
/// for anything else.
fn sock(t: &TaskCtx, fd: Fd) -> Result<Arc<OpenFile>, Errno> {
    let f = t.task.files().get(i64::from(fd.0))?;
    if f.ops.as_unix_socket().is_none() {
        return Err(Errno::ENOTSOCK);
    }
    Ok(f)
}

fn us(f: &OpenFile) -> &UnixSocket {
    f.ops.as_unix_socket().expect("checked by sock()")
}

fn my_creds(t: &TaskCtx) -> Ucred {
    let c = t.task.ident.creds();
    Ucred {
        pid: t.task.tgid(),
        uid: c.uid[crate::kernel::creds::EFFECTIVE],
        gid: c.gid[crate::kernel::creds::EFFECTIVE],
    }
}

/// The family check of socket and socketpair, then the type and its
/// flags: (type, status flags, cloexec).
fn check_type(domain: i32, ty: u32, proto: i32, pair: bool) -> Result<(u32, u32, bool), Errno> {
    let flags = ty & !SOCK_TYPE_MASK;
    if flags & !(O_CLOEXEC | O_NONBLOCK) != 0 {
        return Err(Errno::EINVAL);
    }
    let kind = ty & SOCK_TYPE_MASK;
    if kind >= SOCK_MAX {
        return Err(Errno::EINVAL);
    }
    match domain {
        AF_UNIX => {}
        AF_INET | AF_INET6 | AF_NETLINK | AF_PACKET if pair => return Err(Errno::EOPNOTSUPP),
        _ => return Err(Errno::EAFNOSUPPORT),
    }
    if proto != 0 && proto != AF_UNIX {
        return Err(Errno::EPROTONOSUPPORT);
    }
    let kind = match kind {
        unix::SOCK_STREAM | unix::SOCK_DGRAM | unix::SOCK_SEQPACKET => kind,
        // "Believe it or not BSD has AF_UNIX, SOCK_RAW" (af_unix.c).
        SOCK_RAW => unix::SOCK_DGRAM,
        _ => return Err(Errno::ESOCKTNOSUPPORT),
    };
    Ok((kind, flags & O_NONBLOCK, flags & O_CLOEXEC != 0))
}

/// socket(domain, type, protocol): AF_UNIX here, AF_INET, AF_INET6 and
/// AF_NETLINK in [`super::net`] (EAFNOSUPPORT for the other families).
pub fn socket(t: &mut TaskCtx, domain: i32, ty: u32, proto: i32) -> SysResult {
    if super::net::handles(domain) {
        return super::net::socket(t, domain, ty, proto);
    }
    let (kind, status, cloexec) = check_type(domain, ty, proto, false)?;
    let kernel = &t.task.kernel;
    let s = UnixSocket::new(kind, kernel.next_ino(), Arc::clone(&kernel.readiness));
    let fd = t
        .task
        .files()
        .insert(OpenFile::new(Box::new(s), status | 2), cloexec, 0)?;
    Ok(fd as u64)
}

/// The `sun_path` bytes of the guest's `struct sockaddr_un` (EINVAL for a
/// bad length or family); only the abstract namespace (a leading NUL) is
/// served: a file-system path gives `path_err`.
fn read_addr(t: &TaskCtx, addr: u64, len: u32, path_err: Errno) -> Result<Vec<u8>, Errno> {
    if !(2..=110).contains(&len) {
        return Err(Errno::EINVAL);
    }
    let mut b = vec![0u8; len as usize];
    t.mm().read(addr, &mut b)?;
    if u16::from_le_bytes([b[0], b[1]]) != AF_UNIX as u16 {
        return Err(Errno::EINVAL);
    }
    let name = b.split_off(2);
    if !name.is_empty() && name[0] != 0 {
        return Err(path_err);
    }
    Ok(name)
}

/// bind(fd, addr, addrlen).
pub fn bind(t: &mut TaskCtx, fd: Fd, addr: u64, len: u32) -> SysResult {
    if let Some(f) = super::net::lookup(t, fd)? {
        return super::net::bind(t, &f, addr, len);
    }
    let f = sock(t, fd)?;
    let name = read_addr(t, addr, len, Errno::EOPNOTSUPP)?;
    us(&f).bind(&name)?;
    Ok(0)
}

/// listen(fd, backlog).
pub fn listen(t: &mut TaskCtx, fd: Fd, backlog: i32) -> SysResult {
    if let Some(f) = super::net::lookup(t, fd)? {
        return super::net::listen(t, &f, backlog);
    }
    let f = sock(t, fd)?;
    us(&f).listen(backlog, my_creds(t))?;
    Ok(0)
}

/// connect(fd, addr, addrlen).
pub fn connect(t: &mut TaskCtx, fd: Fd, addr: u64, len: u32) -> SysResult {
    if let Some(f) = super::net::lookup(t, fd)? {
        return super::net::connect(t, &f, addr, len);
    }
    let f = sock(t, fd)?;
    let name = read_addr(t, addr, len, Errno::ENOENT)?;
    let ino = t.task.kernel.next_ino();
    us(&f).connect(&name, my_creds(t), ino, f.nonblocking(), &*t.task)?;
    Ok(0)
}

/// accept4(fd, addr, addrlen, flags) (and accept).
pub fn accept4(t: &mut TaskCtx, fd: Fd, addr: u64, lenp: u64, flags: u32) -> SysResult {
    if let Some(f) = super::net::lookup(t, fd)? {
        return super::net::accept4(t, &f, addr, lenp, flags);
    }
    if flags & !(O_CLOEXEC | O_NONBLOCK) != 0 {
        return Err(Errno::EINVAL.into());
    }
    let f = sock(t, fd)?;
    let s = us(&f).accept(f.nonblocking(), &*t.task)?;
    let peer = s.peer_name().unwrap_or_default();
    let nf = OpenFile::new(Box::new(s), 2 | (flags & O_NONBLOCK));
    let newfd = t.task.files().insert(nf, flags & O_CLOEXEC != 0, 0)?;
    if addr != 0
        && let Err(e) = put_addr(t, addr, lenp, &peer)
    {
        let _ = t.task.files().remove(i64::from(newfd));
        return Err(e.into());
    }
    Ok(newfd as u64)
}

/// Writes a `struct sockaddr_un` for `name`, cut to the guest's length,
/// and the whole length.
fn put_addr(t: &TaskCtx, addr: u64, lenp: u64, name: &[u8]) -> Result<(), Errno> {
    let mm = t.mm();
    let len = mm.read_u32(lenp)? as i32;
    if len < 0 {
        return Err(Errno::EINVAL);
    }
    let mut full = (AF_UNIX as u16).to_le_bytes().to_vec();
    full.extend_from_slice(name);
    let n = (len as usize).min(full.len());
    mm.write(addr, &full[..n])?;
    mm.write_u32(lenp, full.len() as u32)?;
    Ok(())
}

/// socketpair(domain, type, protocol, sv).
pub fn socketpair(
    t: &mut TaskCtx,
    domain: i32,
    ty: u32,
    proto: i32,
    sv: crate::abi::UserPtr<i32>,
) -> SysResult {
    let (kind, status, cloexec) = check_type(domain, ty, proto, true)?;
    let kernel = &t.task.kernel;
    let (a, b) = unix::new_pair(
        kind,
        [kernel.next_ino(), kernel.next_ino()],
        my_creds(t),
        Arc::clone(&kernel.readiness),
    );
    let files = t.task.files();
    let status = status | 2; // O_RDWR
    let afd = files.insert(OpenFile::new(Box::new(a), status), cloexec, 0)?;
    let bfd = match files.insert(OpenFile::new(Box::new(b), status), cloexec, 0) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = files.remove(afd as i64);
            return Err(e.into());
        }
    };
    if let Err(e) = sv.write_array(&t.mm(), &[afd, bfd]) {
        let _ = files.remove(afd as i64);
        let _ = files.remove(bfd as i64);
        return Err(e.into());
    }
    Ok(0)
}

/// Gathers the guest ranges `iov` into one buffer (at most MAX_RW bytes).
fn gather(t: &TaskCtx, iov: &[(u64, u64)]) -> Result<Vec<u8>, Errno> {
    let mm = t.mm();
    let mut out = Vec::new();
    for &(base, len) in iov {
        let n = len.min(MAX_RW - out.len() as u64) as usize;
        if n == 0 {
            continue;
        }
        let at = out.len();
        out.resize(at + n, 0);
        mm.read(base, &mut out[at..])?;
    }
    Ok(out)
}

/// Scatters `data` over the guest ranges `iov`.
fn scatter(t: &TaskCtx, iov: &[(u64, u64)], data: &[u8]) -> Result<(), Errno> {
    let mm = t.mm();
    let mut done = 0;
    for &(base, len) in iov {
        if done == data.len() {
            break;
        }
        let n = (len as usize).min(data.len() - done);
        mm.write(base, &data[done..done + n])?;
        done += n;
    }
    Ok(())
}

/// The common part of every send: the flags, the destination (none on a
/// connected pair), EPIPE with SIGPIPE unless MSG_NOSIGNAL.
fn do_send(
    t: &TaskCtx,
    f: &OpenFile,
    data: &[u8],
    rights: Vec<Arc<OpenFile>>,
    flags: u32,
    has_addr: bool,
) -> SysResult {
    let s = us(f);
    if flags & MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP.into());
    }
    if has_addr {
        // Every socket of the sandbox is one of a connected pair.
        return Err(Errno::EISCONN.into());
    }
    let nonblock = f.nonblocking() || flags & MSG_DONTWAIT != 0;
    match s.send(data, rights, my_creds(t), nonblock, &*t.task) {
        Ok(n) => Ok(n as u64),
        // Only a stream send raises SIGPIPE (unix_dgram_sendmsg, which
        // seqpacket shares, does not).
        Err(e) if flags & MSG_NOSIGNAL != 0 || s.kind() != unix::SOCK_STREAM => Err(e.into()),
        Err(e) => Err(epipe(t, e).into()),
    }
}

/// sendto(fd, buf, len, flags, addr, addrlen) (and send).
pub fn sendto(t: &mut TaskCtx, fd: Fd, buf: u64, len: u64, flags: u32, addr: u64) -> SysResult {
    let f = sock(t, fd)?;
    let data = gather(t, &[(buf, len)])?;
    do_send(t, &f, &data, Vec::new(), flags, addr != 0)
}

/// struct msghdr.
struct MsgHdr {
    name: u64,
    namelen: u32,
    iov: u64,
    iovlen: u64,
    control: u64,
    controllen: u64,
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
        control: q(32),
        controllen: q(40),
    })
}

/// The files of the SCM_RIGHTS messages in the control buffer (EINVAL
/// for a malformed or unknown message, EBADF for a closed descriptor).
fn parse_control(t: &TaskCtx, h: &MsgHdr) -> Result<Vec<Arc<OpenFile>>, Errno> {
    let mut rights = Vec::new();
    if h.controllen == 0 {
        return Ok(rights);
    }
    if h.controllen > 1 << 16 {
        return Err(Errno::ENOBUFS);
    }
    let mut buf = vec![0u8; h.controllen as usize];
    t.mm().read(h.control, &mut buf)?;
    let mut off = 0usize;
    while off + 16 <= buf.len() {
        let len = u64::from_le_bytes(buf[off..off + 8].try_into().expect("8")) as usize;
        let level = i32::from_le_bytes(buf[off + 8..off + 12].try_into().expect("4"));
        let ty = i32::from_le_bytes(buf[off + 12..off + 16].try_into().expect("4"));
        if len < 16 || len > buf.len() - off {
            return Err(Errno::EINVAL);
        }
        if level != SOL_SOCKET {
            return Err(Errno::EINVAL);
        }
        match ty {
            SCM_RIGHTS => {
                let n = (len - 16) / 4;
                if n == 0 || rights.len() + n > SCM_MAX_FD {
                    return Err(Errno::EINVAL);
                }
                for i in 0..n {
                    let p = off + 16 + 4 * i;
                    let fd = i32::from_le_bytes(buf[p..p + 4].try_into().expect("4"));
                    rights.push(t.task.files().get(i64::from(fd))?);
                }
            }
            SCM_CREDENTIALS => {
                if len != 16 + 12 {
                    return Err(Errno::EINVAL);
                }
                let p = off + 16;
                let pid = i32::from_le_bytes(buf[p..p + 4].try_into().expect("4"));
                let uid = u32::from_le_bytes(buf[p + 4..p + 8].try_into().expect("4"));
                let gid = u32::from_le_bytes(buf[p + 8..p + 12].try_into().expect("4"));
                let me = my_creds(t);
                if pid != me.pid || uid != me.uid || gid != me.gid {
                    return Err(Errno::EPERM);
                }
            }
            _ => return Err(Errno::EINVAL),
        }
        off += len.next_multiple_of(8);
    }
    Ok(rights)
}

/// sendmsg(fd, msg, flags).
pub fn sendmsg(t: &mut TaskCtx, fd: Fd, msg: u64, flags: u32) -> SysResult {
    if let Some(f) = super::net::lookup(t, fd)? {
        return super::net::sendmsg(t, &f, msg, flags);
    }
    let f = sock(t, fd)?;
    let h = read_msghdr(t, msg)?;
    let iov = iovecs(t, h.iov, h.iovlen)?;
    let rights = parse_control(t, &h)?;
    let data = gather(t, &iov)?;
    do_send(t, &f, &data, rights, flags, h.name != 0 && h.namelen != 0)
}

/// The common part of every receive: returns what was received and the
/// msg_flags to report.
fn do_recv(
    t: &TaskCtx,
    f: &OpenFile,
    len: usize,
    flags: u32,
) -> Result<(unix::Received, u32), Errno> {
    let s = us(f);
    if flags & MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let nonblock = f.nonblocking() || flags & MSG_DONTWAIT != 0;
    let r = s.recv(
        len,
        flags & MSG_PEEK != 0,
        flags & MSG_WAITALL != 0,
        nonblock,
        &*t.task,
    )?;
    let mut out = 0;
    if r.full_len > r.data.len() {
        out |= MSG_TRUNC;
    }
    Ok((r, out))
}

/// recvfrom(fd, buf, len, flags, addr, addrlen) (and recv).
pub fn recvfrom(
    t: &mut TaskCtx,
    fd: Fd,
    buf: u64,
    len: u64,
    flags: u32,
    addrlen: u64,
) -> SysResult {
    let f = sock(t, fd)?;
    let len = len.min(MAX_RW) as usize;
    let (r, _) = do_recv(t, &f, len, flags)?;
    scatter(t, &[(buf, len as u64)], &r.data)?;
    if addrlen != 0 {
        // The peer of a pair has no address.
        t.mm().write_u32(addrlen, 0)?;
    }
    let n = if flags & MSG_TRUNC != 0 && us(&f).kind() != unix::SOCK_STREAM {
        r.full_len
    } else {
        r.data.len()
    };
    Ok(n as u64)
}

/// recvmsg(fd, msg, flags).
pub fn recvmsg(t: &mut TaskCtx, fd: Fd, msg: u64, flags: u32) -> SysResult {
    if let Some(f) = super::net::lookup(t, fd)? {
        return super::net::recvmsg(t, &f, msg, flags);
    }
    let f = sock(t, fd)?;
    let h = read_msghdr(t, msg)?;
    let iov = iovecs(t, h.iov, h.iovlen)?;
    let len = iov.iter().map(|v| v.1).sum::<u64>().min(MAX_RW) as usize;
    let (r, mut mflags) = do_recv(t, &f, len, flags)?;
    mflags |= flags & MSG_CMSG_CLOEXEC;
    scatter(t, &iov, &r.data)?;
    // Control messages: credentials first, then descriptors (scm_recv).
    let mut control = Vec::new();
    let room = h.controllen as usize;
    if let Some(c) = r.creds {
        let mut m = Vec::with_capacity(32);
        m.extend_from_slice(&28u64.to_le_bytes());
        m.extend_from_slice(&SOL_SOCKET.to_le_bytes());
        m.extend_from_slice(&SCM_CREDENTIALS.to_le_bytes());
        m.extend_from_slice(&c.pid.to_le_bytes());
        m.extend_from_slice(&c.uid.to_le_bytes());
        m.extend_from_slice(&c.gid.to_le_bytes());
        m.resize(32, 0);
        if room >= 32 {
            control.extend_from_slice(&m);
        } else {
            mflags |= MSG_CTRUNC;
        }
    }
    if !r.rights.is_empty() {
        let left = room - control.len();
        let fit = if left >= 16 { (left - 16) / 4 } else { 0 };
        let n = fit.min(r.rights.len());
        if n < r.rights.len() {
            mflags |= MSG_CTRUNC;
        }
        if n > 0 {
            let cloexec = flags & MSG_CMSG_CLOEXEC != 0;
            let mut fds = Vec::with_capacity(n);
            for file in &r.rights[..n] {
                match t.task.files().insert(Arc::clone(file), cloexec, 0) {
                    Ok(fd) => fds.push(fd),
                    Err(_) => {
                        mflags |= MSG_CTRUNC;
                        break;
                    }
                }
            }
            let cmlen = 16 + 4 * fds.len();
            control.extend_from_slice(&(cmlen as u64).to_le_bytes());
            control.extend_from_slice(&SOL_SOCKET.to_le_bytes());
            control.extend_from_slice(&SCM_RIGHTS.to_le_bytes());
            for fd in fds {
                control.extend_from_slice(&fd.to_le_bytes());
            }
            let used = control.len().next_multiple_of(8).min(room);
            control.resize(used, 0);
        }
    }
    drop(r.rights);
    let mm = t.mm();
    if !control.is_empty() {
        mm.write(h.control, &control)?;
    }
    mm.write_u64(msg + 40, control.len() as u64)?;
    if h.name != 0 {
        mm.write_u32(msg + 8, 0)?;
    }
    if r.full_len > r.data.len() {
        mflags |= MSG_TRUNC;
    }
    mm.write_u32(msg + 48, mflags)?;
    let n = if flags & MSG_TRUNC != 0 && us(&f).kind() != unix::SOCK_STREAM {
        r.full_len
    } else {
        r.data.len()
    };
    Ok(n as u64)
}

/// shutdown(fd, how).
pub fn shutdown(t: &mut TaskCtx, fd: Fd, how: i32) -> SysResult {
    if let Some(f) = super::net::lookup(t, fd)? {
        return super::net::shutdown(t, &f, how);
    }
    let f = sock(t, fd)?;
    us(&f).shutdown(how)?;
    Ok(0)
}

/// getsockopt(fd, level, optname, optval, optlen).
pub fn getsockopt(
    t: &mut TaskCtx,
    fd: Fd,
    level: i32,
    name: i32,
    val: u64,
    lenp: u64,
) -> SysResult {
    if let Some(f) = super::net::lookup(t, fd)? {
        return super::net::getsockopt(t, &f, level, name, val, lenp);
    }
    let f = sock(t, fd)?;
    let s = us(&f);
    let mm = t.mm();
    let len = mm.read_u32(lenp)? as i32;
    if len < 0 {
        return Err(Errno::EINVAL.into());
    }
    if level != SOL_SOCKET {
        return Err(Errno::EOPNOTSUPP.into());
    }
    let int = |v: i32| v.to_le_bytes().to_vec();
    let bytes = match name {
        SO_TYPE => int(s.kind() as i32),
        SO_ERROR | SO_PROTOCOL => int(0),
        SO_ACCEPTCONN => int(i32::from(s.listening())),
        SO_DOMAIN => int(AF_UNIX),
        SO_SNDBUF => int(s.bufs().0 as i32),
        SO_RCVBUF => int(s.bufs().1 as i32),
        SO_PASSCRED => int(i32::from(s.passcred())),
        SO_PEERCRED => {
            // Unconnected: no pid, the overflow ids (as Linux).
            let c = s.peercred().unwrap_or(Ucred {
                pid: 0,
                uid: 65534,
                gid: 65534,
            });
            let mut v = c.pid.to_le_bytes().to_vec();
            v.extend_from_slice(&c.uid.to_le_bytes());
            v.extend_from_slice(&c.gid.to_le_bytes());
            v
        }
        _ => return Err(Errno::ENOPROTOOPT.into()),
    };
    let n = (len as usize).min(bytes.len());
    mm.write(val, &bytes[..n])?;
    mm.write_u32(lenp, n as u32)?;
    Ok(0)
}

/// setsockopt(fd, level, optname, optval, optlen).
pub fn setsockopt(t: &mut TaskCtx, fd: Fd, level: i32, name: i32, val: u64, len: u32) -> SysResult {
    if let Some(f) = super::net::lookup(t, fd)? {
        return super::net::setsockopt(t, &f, level, name, val, len);
    }
    let f = sock(t, fd)?;
    let s = us(&f);
    if level != SOL_SOCKET {
        return Err(Errno::EOPNOTSUPP.into());
    }
    if (len as i32) < 4 {
        return Err(Errno::EINVAL.into());
    }
    let v = t.mm().read_u32(val)? as i32;
    match name {
        SO_SNDBUF => s.set_buf(true, v),
        SO_RCVBUF => s.set_buf(false, v),
        SO_PASSCRED => s.set_passcred(v != 0),
        _ => return Err(Errno::ENOPROTOOPT.into()),
    }
    Ok(0)
}

/// getsockname(fd, addr, addrlen) (`peer` false) and getpeername: an
/// unnamed socket's address is just the family; getpeername of an
/// unconnected one is ENOTCONN.
pub fn socket_name(t: &mut TaskCtx, fd: Fd, addr: u64, lenp: u64, peer: bool) -> SysResult {
    if let Some(f) = super::net::lookup(t, fd)? {
        return super::net::socket_name(t, &f, addr, lenp, peer);
    }
    let f = sock(t, fd)?;
    let s = us(&f);
    let name = if peer { s.peer_name()? } else { s.name() };
    put_addr(t, addr, lenp, &name)?;
    Ok(0)
}

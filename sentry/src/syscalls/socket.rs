//! Socket calls. The sandbox has Unix domain sockets ([`crate::fs::unix`]):
//! socket, socketpair, bind (abstract names, autobind, and paths, where a
//! socket file is made in the sandbox's tree: in a `:rw` bind that is an
//! inert socket inode on the host, with no host socket behind it),
//! listen/accept/connect (by name or path, through the VFS), send/recv and
//! their msg and mmsg forms (SCM_RIGHTS and SCM_CREDENTIALS; unconnected
//! datagrams with addresses), shutdown, getsockopt/setsockopt,
//! getsockname/getpeername. Every other descriptor is not a socket:
//! ENOTSOCK (EBADF for a closed one), as Linux does for a file or a pipe.
//! Programs rely on it: bash sources `~/.bashrc` for `bash -c` when
//! getpeername on its standard input does not fail with ENOTSOCK (it
//! thinks rshd or sshd started it).
//!
//! sendmmsg and recvmmsg go through [`sendmsg`] and [`recvmsg`], so they
//! serve every socket family those do.

use std::sync::Arc;

use crate::abi::Fd;
use crate::errno::Errno;
use crate::fs::unix::{self, Ucred, UnixSocket};
use crate::fs::vfs::{FileType, Last, Resolve};
use crate::fs::{O_CLOEXEC, O_NONBLOCK, OpenFile};
use crate::kernel::task::{SysResult, TaskCtx};
use crate::syscalls::file::{epipe, iovecs};
use crate::syscalls::fs::{AT_FDCWD, caller, walk};

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

const SO_REUSEADDR: i32 = 2;
const SO_TYPE: i32 = 3;
const SO_DONTROUTE: i32 = 5;
const SO_BROADCAST: i32 = 6;
const SO_KEEPALIVE: i32 = 9;
const SO_OOBINLINE: i32 = 10;
const SO_LINGER: i32 = 13;
const SO_REUSEPORT: i32 = 15;
const SO_RCVLOWAT: i32 = 18;
const SO_SNDLOWAT: i32 = 19;
const SO_RCVTIMEO_OLD: i32 = 20;
const SO_SNDTIMEO_OLD: i32 = 21;
const SO_RCVTIMEO_NEW: i32 = 66;
const SO_SNDTIMEO_NEW: i32 = 67;
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
    unix::mem::set_machine(&kernel.machine);
    let s = UnixSocket::new(kind, kernel.next_ino(), Arc::clone(&kernel.readiness));
    let fd = t
        .task
        .files()
        .insert(OpenFile::new(Box::new(s), status | 2), cloexec, 0)?;
    Ok(fd as u64)
}

/// `sizeof(struct sockaddr_un)`.
const SUN_LEN: u32 = 110;
const AF_UNSPEC: u16 = 0;

/// A `struct sockaddr_un` as the guest gave it.
enum UnixAddr {
    /// Just the family (bind autobinds).
    Family,
    /// `sun_path` bytes with their leading NUL.
    Abstract(Vec<u8>),
    /// A file-system path: the bytes up to the first NUL (within the
    /// length given; a full 108 bytes need none), without it.
    Path(Vec<u8>),
}

/// Reads the guest's address (unix_validate_addr): EINVAL for a length
/// past `sizeof(struct sockaddr_un)` or below the family's, or another
/// family. A bare family is [`UnixAddr::Family`] (AF_UNSPEC too, for a
/// datagram connect to undo).
fn read_addr(t: &TaskCtx, addr: u64, len: u32) -> Result<(u16, UnixAddr), Errno> {
    if !(2..=SUN_LEN).contains(&len) {
        return Err(Errno::EINVAL);
    }
    let mut b = vec![0u8; len as usize];
    t.mm().read(addr, &mut b)?;
    let family = u16::from_le_bytes([b[0], b[1]]);
    if family != AF_UNIX as u16 {
        return Ok((family, UnixAddr::Family));
    }
    let name = b.split_off(2);
    Ok((
        family,
        match name.first() {
            None => UnixAddr::Family,
            Some(0) => UnixAddr::Abstract(name),
            Some(_) => {
                let end = name.iter().position(|&c| c == 0).unwrap_or(name.len());
                UnixAddr::Path(name[..end].to_vec())
            }
        },
    ))
}

/// Whether the caller may write to a file of mode `mode` owned by
/// `uid`:`gid` (connect and sendto need it on a socket file): root may,
/// others by the permission bits.
fn may_write(t: &TaskCtx, st: &crate::fs::Stat) -> bool {
    let c = t.task.ident.creds();
    let uid = c.uid[crate::kernel::creds::EFFECTIVE];
    if uid == 0 {
        return true;
    }
    let bits = if uid == st.uid {
        st.mode >> 6
    } else if c.gid[crate::kernel::creds::EFFECTIVE] == st.gid || c.groups.contains(&st.gid) {
        st.mode >> 3
    } else {
        st.mode
    };
    bits & 2 != 0
}

/// Where a destination address leads (unix_find_other): the abstract
/// name, or the socket file the path names, looked up through the
/// sandbox's VFS, following links (ENOENT, ENOTDIR... as a lookup;
/// EACCES without write permission; ECONNREFUSED for a file that is not
/// a socket).
fn find_addr(t: &TaskCtx, a: UnixAddr) -> Result<unix::BindKey, Errno> {
    match a {
        UnixAddr::Family => Err(Errno::EINVAL),
        UnixAddr::Abstract(name) => Ok(unix::BindKey::Abstract(name)),
        UnixAddr::Path(path) => {
            let p = walk(t, Fd(AT_FDCWD), &path, &Resolve::FOLLOW)?.existing()?;
            let st = p.stat();
            if !may_write(t, &st) {
                return Err(Errno::EACCES);
            }
            if p.inode().kind() != FileType::Socket {
                return Err(Errno::ECONNREFUSED);
            }
            Ok(unix::BindKey::Inode(st.dev, st.ino))
        }
    }
}

/// bind(fd, addr, addrlen): the abstract namespace, autobind (a bare
/// family), or a path, where bind makes a socket file in the sandbox's
/// tree (as mknod would: EADDRINUSE when the name exists, EROFS on a
/// read-only mount; in a `:rw` bind an inert socket inode on the host).
pub fn bind(t: &mut TaskCtx, fd: Fd, addr: u64, len: u32) -> SysResult {
    if let Some(f) = super::net::lookup(t, fd)? {
        return super::net::bind(t, &f, addr, len);
    }
    let f = sock(t, fd)?;
    let (family, a) = read_addr(t, addr, len)?;
    if family != AF_UNIX as u16 {
        return Err(Errno::EINVAL.into());
    }
    let s = us(&f);
    match a {
        UnixAddr::Family => s.bind(b"", None)?,
        UnixAddr::Abstract(name) => s.bind(&name, None)?,
        UnixAddr::Path(path) => {
            if s.bound() {
                return Err(Errno::EINVAL.into());
            }
            let w = walk(t, Fd(AT_FDCWD), &path, &Resolve::NOFOLLOW)?;
            if w.last != Last::Name || w.found.is_some() {
                return Err(Errno::EADDRINUSE.into());
            }
            if w.trailing_slash {
                return Err(Errno::ENOENT.into());
            }
            if w.parent.mount.read_only() {
                return Err(Errno::EROFS.into());
            }
            let perm = 0o777 & !t.task.fs.lock().umask;
            let inode = w
                .parent
                .inode()
                .create(&caller(t), &w.name, FileType::Socket, perm, 0)
                .map_err(|e| {
                    if e == Errno::EEXIST {
                        Errno::EADDRINUSE
                    } else {
                        e
                    }
                })?;
            let st = inode.stat();
            let mut name = path;
            name.push(0);
            if let Err(e) = s.bind(&name, Some((st.dev, st.ino))) {
                // Bound meanwhile by another thread: the file goes again.
                let _ = w.parent.inode().unlink(&caller(t), &w.name);
                return Err(e.into());
            }
        }
    }
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

/// connect(fd, addr, addrlen): by abstract name or path; a datagram
/// socket given AF_UNSPEC forgets its default destination.
pub fn connect(t: &mut TaskCtx, fd: Fd, addr: u64, len: u32) -> SysResult {
    if let Some(f) = super::net::lookup(t, fd)? {
        return super::net::connect(t, &f, addr, len);
    }
    let f = sock(t, fd)?;
    let s = us(&f);
    let (family, a) = read_addr(t, addr, len)?;
    if s.is_dgram_end() && family == AF_UNSPEC {
        s.connect(None, my_creds(t), 0, false, &*t.task)?;
        return Ok(0);
    }
    if family != AF_UNIX as u16 {
        return Err(Errno::EINVAL.into());
    }
    let key = find_addr(t, a)?;
    if s.is_dgram_end() && s.passcred() && !s.bound() {
        s.bind(b"", None)?;
    }
    let ino = t.task.kernel.next_ino();
    s.connect(Some(&key), my_creds(t), ino, f.nonblocking(), &*t.task)?;
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

/// The sender's address for recvfrom: none (length 0) when it is
/// unnamed.
fn put_from(t: &TaskCtx, addr: u64, lenp: u64, from: &[u8]) -> Result<(), Errno> {
    if from.is_empty() {
        return t.mm().write_u32(lenp, 0);
    }
    put_addr(t, addr, lenp, from)
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
    unix::mem::set_machine(&kernel.machine);
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
pub(super) fn gather(t: &TaskCtx, iov: &[(u64, u64)]) -> Result<Vec<u8>, Errno> {
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
pub(super) fn scatter(t: &TaskCtx, iov: &[(u64, u64)], data: &[u8]) -> Result<(), Errno> {
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
    to: Option<(u16, UnixAddr)>,
) -> SysResult {
    let s = us(f);
    if flags & MSG_OOB != 0 {
        return Err(Errno::EOPNOTSUPP.into());
    }
    let nonblock = f.nonblocking() || flags & MSG_DONTWAIT != 0;
    let sent = match to {
        // unix_seqpacket_sendmsg ignores an address.
        Some(_) if s.kind() == unix::SOCK_SEQPACKET => {
            s.send(data, rights, my_creds(t), nonblock, &*t.task)
        }
        Some(_) if s.kind() == unix::SOCK_STREAM => Err(if s.connected() {
            Errno::EISCONN
        } else {
            Errno::EOPNOTSUPP
        }),
        Some((family, a)) => {
            if family != AF_UNIX as u16 {
                return Err(Errno::EINVAL.into());
            }
            let key = find_addr(t, a)?;
            if s.passcred() && !s.bound() {
                s.bind(b"", None)?;
            }
            let dest = s.find_dgram(&key)?;
            s.send_to(&dest, data, rights, my_creds(t), nonblock, &*t.task)
        }
        None => s.send(data, rights, my_creds(t), nonblock, &*t.task),
    };
    match sent {
        Ok(n) => Ok(n as u64),
        // Only a stream send raises SIGPIPE (unix_dgram_sendmsg, which
        // seqpacket shares, does not).
        Err(e) if flags & MSG_NOSIGNAL != 0 || s.kind() != unix::SOCK_STREAM => Err(e.into()),
        Err(e) => Err(epipe(t, e).into()),
    }
}

/// sendto(fd, buf, len, flags, addr, addrlen) (and send).
pub fn sendto(
    t: &mut TaskCtx,
    fd: Fd,
    buf: u64,
    len: u64,
    flags: u32,
    addr: u64,
    addrlen: u32,
) -> SysResult {
    let f = sock(t, fd)?;
    let to = if addr != 0 && addrlen != 0 {
        Some(read_addr(t, addr, addrlen)?)
    } else {
        None
    };
    let data = gather(t, &[(buf, len)])?;
    do_send(t, &f, &data, Vec::new(), flags, to)
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
                // Files in flight are bounded by --max-files in all (Linux
                // bounds them by RLIMIT_NOFILE per user, but not for root).
                let max = t.task.kernel.config.sandbox_limits.max_files as usize;
                if unix::gc::in_flight() + rights.len() + n > max {
                    return Err(Errno::ETOOMANYREFS);
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
    let to = if h.name != 0 && h.namelen != 0 {
        Some(read_addr(t, h.name, h.namelen)?)
    } else {
        None
    };
    let rights = parse_control(t, &h)?;
    let data = gather(t, &iov)?;
    do_send(t, &f, &data, rights, flags, to)
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
    addr: u64,
    addrlen: u64,
) -> SysResult {
    let f = sock(t, fd)?;
    let len = len.min(MAX_RW) as usize;
    let (r, _) = do_recv(t, &f, len, flags)?;
    scatter(t, &[(buf, len as u64)], &r.data)?;
    if addr != 0 && addrlen != 0 {
        put_from(t, addr, addrlen, &r.from)?;
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
        if r.from.is_empty() {
            mm.write_u32(msg + 8, 0)?;
        } else {
            let mut full = (AF_UNIX as u16).to_le_bytes().to_vec();
            full.extend_from_slice(&r.from);
            let n = (h.namelen as usize).min(full.len());
            mm.write(h.name, &full[..n])?;
            mm.write_u32(msg + 8, full.len() as u32)?;
        }
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
        SO_REUSEADDR | SO_DONTROUTE | SO_BROADCAST | SO_KEEPALIVE | SO_OOBINLINE | SO_REUSEPORT => {
            int(i32::from(s.flag(name)))
        }
        SO_RCVLOWAT | SO_SNDLOWAT => int(1),
        SO_RCVTIMEO_OLD | SO_SNDTIMEO_OLD | SO_RCVTIMEO_NEW | SO_SNDTIMEO_NEW => {
            let (sec, usec) = s.timeout(matches!(name, SO_RCVTIMEO_OLD | SO_RCVTIMEO_NEW));
            let mut v = sec.to_le_bytes().to_vec();
            v.extend_from_slice(&usec.to_le_bytes());
            v
        }
        SO_LINGER => {
            let (on, secs) = s.linger();
            let mut v = i32::from(on).to_le_bytes().to_vec();
            v.extend_from_slice(&secs.to_le_bytes());
            v
        }
        SO_PEERCRED => {
            // Unconnected: no pid, no credentials (cred_to_ucred: -1).
            let c = s.peercred().unwrap_or(Ucred {
                pid: 0,
                uid: u32::MAX,
                gid: u32::MAX,
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
    let need = match name {
        SO_RCVTIMEO_OLD | SO_SNDTIMEO_OLD | SO_RCVTIMEO_NEW | SO_SNDTIMEO_NEW => 16,
        SO_LINGER => 8,
        _ => 4,
    };
    if (len as i32) < need {
        return Err(Errno::EINVAL.into());
    }
    let mm = t.mm();
    let v = mm.read_u32(val)? as i32;
    match name {
        SO_SNDBUF => s.set_buf(true, v),
        SO_RCVBUF => s.set_buf(false, v),
        SO_PASSCRED => s.set_passcred(v != 0),
        SO_REUSEADDR | SO_DONTROUTE | SO_BROADCAST | SO_KEEPALIVE | SO_OOBINLINE | SO_REUSEPORT => {
            s.set_flag(name, v != 0)
        }
        SO_RCVTIMEO_OLD | SO_SNDTIMEO_OLD | SO_RCVTIMEO_NEW | SO_SNDTIMEO_NEW => {
            let sec = mm.read_u64(val)? as i64;
            let usec = mm.read_u64(val + 8)? as i64;
            s.set_timeout(matches!(name, SO_RCVTIMEO_OLD | SO_RCVTIMEO_NEW), sec, usec)?;
        }
        SO_LINGER => {
            let secs = mm.read_u32(val + 4)? as i32;
            s.set_linger(v != 0, secs);
        }
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

/// Linux's UIO_MAXIOV: the most entries sendmmsg and recvmmsg take.
const UIO_MAXIOV: u32 = 1024;
/// `sizeof(struct mmsghdr)`: a msghdr and the `msg_len` after it.
const MMSGHDR: u64 = 64;
const MSG_WAITFORONE: u32 = 0x10000;

/// The descriptor of a *mmsg call: EBADF when closed, ENOTSOCK when not a
/// socket of any family (sockfd_lookup_light, before anything else).
fn check_socket_fd(t: &TaskCtx, fd: Fd) -> Result<(), Errno> {
    let f = t.task.files().get(i64::from(fd.0))?;
    if f.ops.stat().mode & 0o170000 != FileType::Socket.mode() {
        return Err(Errno::ENOTSOCK);
    }
    Ok(())
}

/// sendmmsg(fd, msgvec, vlen, flags): sendmsg for each entry (of any
/// socket family: it goes through [`sendmsg`]), each count in its
/// `msg_len`; an error after the first entry ends the batch with the
/// count so far (__sys_sendmmsg).
pub fn sendmmsg(t: &mut TaskCtx, fd: Fd, vec: u64, vlen: u32, flags: u32) -> SysResult {
    check_socket_fd(t, fd)?;
    let vlen = vlen.min(UIO_MAXIOV);
    let mut done = 0u32;
    while done < vlen {
        let entry = vec + u64::from(done) * MMSGHDR;
        let r = sendmsg(t, fd, entry, flags).and_then(|n| {
            t.mm().write_u32(entry + 56, n as u32)?;
            Ok(n)
        });
        match r {
            Ok(_) => done += 1,
            Err(e) if done == 0 => return Err(e),
            Err(_) => break,
        }
    }
    Ok(u64::from(done))
}

/// recvmmsg(fd, msgvec, vlen, flags, timeout): recvmsg for each entry
/// (any family, through [`recvmsg`]), as do_recvmmsg: MSG_WAITFORONE
/// stops waiting after the first; the timeout is checked after each
/// datagram (as Linux, it does not end a wait for the next one: SO_RCVTIMEO
/// does) and the time left is written back; an error after the first
/// entry ends the batch with the count so far.
pub fn recvmmsg(
    t: &mut TaskCtx,
    fd: Fd,
    vec: u64,
    vlen: u32,
    flags: u32,
    timeout: u64,
) -> SysResult {
    check_socket_fd(t, fd)?;
    let end = if timeout != 0 {
        let mm = t.mm();
        let sec = mm.read_u64(timeout)? as i64;
        let nsec = mm.read_u64(timeout + 8)? as i64;
        if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
            return Err(Errno::EINVAL.into());
        }
        Some(std::time::Instant::now() + std::time::Duration::new(sec as u64, nsec as u32))
    } else {
        None
    };
    let vlen = vlen.min(UIO_MAXIOV);
    let mut flags = flags;
    let mut done = 0u32;
    let mut err = None;
    while done < vlen {
        let entry = vec + u64::from(done) * MMSGHDR;
        let r = recvmsg(t, fd, entry, flags & !MSG_WAITFORONE).and_then(|n| {
            t.mm().write_u32(entry + 56, n as u32)?;
            Ok(n)
        });
        if let Err(e) = r {
            err = Some(e);
            break;
        }
        done += 1;
        if flags & MSG_WAITFORONE != 0 {
            flags |= MSG_DONTWAIT;
        }
        if end.is_some_and(|end| std::time::Instant::now() >= end) {
            break;
        }
    }
    if done == 0 {
        return match err {
            Some(e) => Err(e),
            None => Ok(0),
        };
    }
    if let Some(end) = end {
        let left = end.saturating_duration_since(std::time::Instant::now());
        let mm = t.mm();
        mm.write_u64(timeout, left.as_secs())?;
        mm.write_u64(timeout + 8, u64::from(left.subsec_nanos()))?;
    }
    Ok(u64::from(done))
}

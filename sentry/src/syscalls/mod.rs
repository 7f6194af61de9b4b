//! The syscall table: one entry per x86-64 syscall number ([`TABLE`]) with
//! its name, its handler, its support level and note, and how `--strace`
//! prints its arguments and result. [`dispatch`] (through `HANDLERS`, an
//! array of handlers built from the same list), [`support`] and so
//! `COVERAGE.md`, and [`trace`] all read it, so they cannot disagree. A
//! number without a handler gives ENOSYS, logged once. Handlers live in one
//! file per family.
//!
//! To add a syscall: one line in `IMPLEMENTED`, then
//! `SENTRY_UPDATE_COVERAGE=1 cargo test -p sentry coverage`.

pub(crate) mod args;
pub mod creds;
pub mod eventfd;
pub mod exec;
pub mod file;
pub mod fs;
pub mod futex;
pub mod info;
pub mod inotify;
pub mod ipc;
pub mod lock;
pub mod membarrier;
pub mod mm;
pub mod mqueue;
pub mod net;
pub mod numbers;
pub mod path;
pub mod pidfd;
pub mod poll;
pub mod process;
pub mod sched;
pub mod select;
pub mod signal;
pub mod signalfd;
pub mod socket;
pub mod splice;
pub mod time;
pub mod timer;
pub mod timerfd;
pub mod trace;
pub mod tty;
pub mod xattr;

use numbers::nr::*;

use crate::errno::Errno;
use crate::kernel::creds as kcreds;
use crate::kernel::task::{self, SysResult, TaskCtx};

/// How fully a syscall is implemented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// As Linux does it.
    Full,
    /// Works for what programs commonly do; the note says what is missing.
    Partial(&'static str),
    /// Returns ENOSYS.
    Unimplemented,
}

/// A syscall handler: the task and the six raw argument registers.
pub type Handler = fn(&mut TaskCtx, [u64; 6]) -> SysResult;

/// How `--strace` prints one argument.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// Decimal below 4096, hexadecimal above (nothing more is known).
    Raw,
    /// A signed 64-bit number.
    Int,
    /// A descriptor (`int`).
    Fd,
    /// A descriptor or `AT_FDCWD` (`int`).
    DirFd,
    /// A pid, tid, pgid or `idtype`'s id (`int`).
    Pid,
    /// A size or count (unsigned decimal).
    Len,
    /// An address, flags or a mask (hexadecimal).
    Hex,
    /// A NUL-terminated path, read from guest memory.
    Path,
    /// Bytes the call reads from guest memory (shown before it runs); their
    /// length is argument `n`.
    Buf(u8),
    /// A signal number, by name.
    Sig,
    /// clone's flags and exit signal, by name.
    CloneFlags,
}

/// How `--strace` prints the result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ret {
    /// A signed number.
    Int,
    /// An address.
    Hex,
    /// A byte count, then the bytes the call wrote at argument `n`.
    Filled(u8),
}

/// An implemented syscall: its handler, support level and trace format.
#[derive(Clone, Copy)]
pub struct Imp {
    /// The handler.
    pub handler: Handler,
    /// How fully it is implemented (never `Unimplemented`).
    pub support: Support,
    /// Its arguments, as `--strace` prints them (as many as it takes).
    pub args: &'static [Arg],
    /// Its result, as `--strace` prints it.
    pub ret: Ret,
}

impl Imp {
    const fn ret(mut self, ret: Ret) -> Self {
        self.ret = ret;
        self
    }
}

const fn full(handler: Handler, args: &'static [Arg]) -> Imp {
    Imp {
        handler,
        support: Support::Full,
        args,
        ret: Ret::Int,
    }
}

const fn partial(note: &'static str, handler: Handler, args: &'static [Arg]) -> Imp {
    Imp {
        handler,
        support: Support::Partial(note),
        args,
        ret: Ret::Int,
    }
}

/// One syscall number: its name (`None` for a hole in the x86-64 table)
/// and, if the sentry implements it, how.
#[derive(Clone, Copy)]
pub struct Entry {
    /// The name, from `numbers::NAMES`.
    pub name: Option<&'static str>,
    /// The implementation; `None` gives ENOSYS.
    pub imp: Option<Imp>,
}

impl Entry {
    /// The support level.
    pub const fn support(&self) -> Support {
        match &self.imp {
            Some(imp) => imp.support,
            None => Support::Unimplemented,
        }
    }
}

const NOTE_ROOT_READS: &str = "on the VFS (overlay root, tmpfs, binds); /proc, /dev and /sys are the sentry's own, made from the sandbox's state";
const NOTE_ACCESS: &str =
    "the guest is root: W_OK gives EROFS on read-only mounts only, X_OK needs an execute bit";
const NOTE_MKNOD: &str = "device nodes are made but inert (open gives EACCES)";
const NOTE_RLIMIT: &str = "per process, inherited and kept across execve; NOFILE, DATA, AS, STACK and FSIZE enforced, NPROC not for root (as Linux), the others stored";
const NOTE_POLL: &str = "every file wakes the sleeper when it becomes ready (the host's standard streams through a watcher thread that blocks in the host's poll)";
const NOTE_EPOLL_WAIT: &str = "EPOLLET reports an item again once its file changed in the \
    item's direction (pipes, Unix stream and seqpacket pairs, TCP connections, eventfd, timerfd, \
    inotify, signalfd, message queues); other files after any notification in the sandbox (an extra report, never \
    a lost one), the host's standard streams level-triggered; they wake it through a watcher \
    thread; EPOLLEXCLUSIVE items of one file in several instances report a wake-up in one";
const NOTE_SIGNALFD: &str = "poll, select and epoll see the signals pending for the polling thread \
    and its process, as Linux; epoll re-checks every item at each wait (Linux keeps only items \
    woken since)";
const NOTE_INOTIFY: &str = "the sandbox's own files (IN_DELETE_SELF when the last name is gone and \
    the last holder lets go, as Linux; in a `:rw` host bind at the last unlink); writes through \
    shared mappings report nothing";
const NOTE_MQ_NOTIFY: &str = "SIGEV_SIGNAL, SIGEV_NONE and SIGEV_THREAD (the cookie sent to the \
    netlink socket, as Linux); a close of the queue by the owner removes the registration";
const NOTE_CLONE: &str = "namespaces give EPERM, CLONE_INTO_CGROUP EBADF";
const NOTE_OPEN: &str = "devices other than the sentry's give EACCES, sockets ENXIO; a FIFO opens as a pipe of the sandbox's own (never the host's); O_EXCL with O_TMPFILE does not forbid linkat; openat2's RESOLVE_CACHED is ignored";
const NOTE_EXEC: &str = "static and dynamically linked ELF programs (the PT_INTERP interpreter from the guest's root) and #! scripts (five in a row at most, as Linux)";
const NO_XATTRS: &str = "files have no extended attributes: get and remove give ENODATA (EOPNOTSUPP outside the known namespaces), list is empty, set gives EOPNOTSUPP";
const NOTE_CREDS: &str = "per-thread ids with Linux's rules; file-permission checks ignore them (the guest's files act as root's)";

const NOTE_SCHED: &str =
    "stored and reported per thread as Linux does; the host scheduler does not see it";

/// AT_FDCWD as a typed descriptor.
const CWD: crate::abi::Fd = crate::abi::Fd(-100);
use xattr::On::{Fd as XFd, Link as XLink, Path as XPath};

/// Every implemented syscall, by number. Each number appears once (checked
/// when the table is built, at compile time); `dispatch`, `support` (and so
/// `COVERAGE.md`) and `--strace` all read [`TABLE`] built from this list.
#[rustfmt::skip]
const IMPLEMENTED: &[(u64, Imp)] = {
    use Arg::*;
    use args::*;
    &[
    // Descriptors and I/O.
    (READ, full(|t, a| file::read(t, fd(a[0]), buf(a[1], a[2])), &[Fd, Hex, Len])
        .ret(Ret::Filled(1))),
    (WRITE, full(|t, a| file::write(t, fd(a[0]), buf(a[1], a[2])), &[Fd, Buf(2), Len])),
    (READV, full(|t, a| file::readv(t, fd(a[0]), ptr(a[1]), a[2]), &[Fd, Hex, Len])),
    (WRITEV, full(|t, a| file::writev(t, fd(a[0]), ptr(a[1]), a[2]), &[Fd, Hex, Len])),
    (PWRITE64, full(|t, a| file::pwrite64(t, fd(a[0]), buf(a[1], a[2]), a[3] as i64),
        &[Fd, Buf(2), Len, Int])),
    (PWRITEV, full(|t, a| if (a[3] as i64) < 0 {
        Err(Errno::EINVAL.into())
    } else {
        file::pwritev2(t, fd(a[0]), ptr(a[1]), a[2], a[3] as i64, 0)
    }, &[Fd, Hex, Len, Int, Int])),
    (PWRITEV2, partial("RWF_* flags are accepted and ignored",
        |t, a| file::pwritev2(t, fd(a[0]), ptr(a[1]), a[2], a[3] as i64, uint(a[5])),
        &[Fd, Hex, Len, Int, Int, Hex])),
    (PREADV, full(|t, a| if (a[3] as i64) < 0 {
        Err(Errno::EINVAL.into())
    } else {
        file::preadv2(t, fd(a[0]), ptr(a[1]), a[2], a[3] as i64, 0)
    }, &[Fd, Hex, Len, Int, Int])),
    (PREADV2, partial("RWF_* flags are accepted and ignored",
        |t, a| file::preadv2(t, fd(a[0]), ptr(a[1]), a[2], a[3] as i64, uint(a[5])),
        &[Fd, Hex, Len, Int, Int, Hex])),
    (CLOSE, full(|t, a| file::close(t, fd(a[0])), &[Int])),
    (CLOSE_RANGE, full(|t, a| file::close_range(t, uint(a[0]), uint(a[1]), uint(a[2])),
        &[Int, Int, Hex])),
    (DUP, full(|t, a| file::dup(t, fd(a[0])), &[Int])),
    (DUP2, full(|t, a| file::dup2(t, fd(a[0]), fd(a[1])), &[Fd, Fd])),
    (DUP3, full(|t, a| file::dup3(t, fd(a[0]), fd(a[1]), uint(a[2])), &[Fd, Fd, Hex])),
    (FCNTL, partial("descriptor and status flags, pipe sizes, record locks, memfd seals; no leases or F_NOTIFY",
        |t, a| file::fcntl(t, fd(a[0]), uint(a[1]), a[2]), &[Fd, Raw, Raw])),
    (FLOCK, full(|t, a| lock::flock(t, fd(a[0]), uint(a[1])), &[Fd, Hex])),
    (PIPE, full(|t, a| file::pipe2(t, ptr(a[0]), 0), &[Hex])),
    (PIPE2, full(|t, a| file::pipe2(t, ptr(a[0]), uint(a[1])), &[Hex, Hex])),
    (IOCTL, partial("FIONBIO, FIOCLEX; a terminal: TCGETS, TCSETS*, TCSBRK, TCXONC, TCFLSH, \
        TIOCGWINSZ/TIOCSWINSZ, FIONREAD (passed to the host terminal), TIOCSCTTY, TIOCNOTTY, \
        TIOCGPGRP/TIOCSPGRP, TIOCGSID (the sentry's job control)",
        |t, a| file::ioctl(t, fd(a[0]), uint(a[1]), a[2]), &[Fd, Hex, Hex])),
    (FSTAT, partial(NOTE_ROOT_READS, |t, a| file::fstat(t, fd(a[0]), ptr(a[1])), &[Fd, Hex])),

    // Files and paths.
    (LSEEK, partial(NOTE_ROOT_READS, |t, a| fs::lseek(t, fd(a[0]), a[1] as i64, uint(a[2])),
        &[Fd, Int, Len])),
    (PREAD64, partial(NOTE_ROOT_READS, |t, a| fs::pread64(t, fd(a[0]), buf(a[1], a[2]),
        a[3] as i64), &[Fd, Hex, Len, Int]).ret(Ret::Filled(1))),
    (OPEN, partial(NOTE_OPEN, |t, a| fs::open(t, cstr(a[0]), open_flags(a[1]), uint(a[2])),
        &[Path, Hex, Hex])),
    (OPENAT, partial(NOTE_OPEN,
        |t, a| fs::openat(t, fd(a[0]), cstr(a[1]), open_flags(a[2]), uint(a[3])),
        &[DirFd, Path, Hex, Hex])),
    (OPENAT2, partial(NOTE_OPEN,
        |t, a| fs::openat2(t, fd(a[0]), cstr(a[1]), ptr(a[2]), a[3] as usize),
        &[DirFd, Path, Hex, Len])),
    (CREAT, full(|t, a| fs::creat(t, cstr(a[0]), uint(a[1])), &[Path, Hex])),
    (STAT, partial(NOTE_ROOT_READS, |t, a| fs::stat(t, cstr(a[0]), ptr(a[1])), &[Path, Hex])),
    (LSTAT, partial(NOTE_ROOT_READS, |t, a| fs::lstat(t, cstr(a[0]), ptr(a[1])), &[Path, Hex])),
    (NEWFSTATAT, partial(NOTE_ROOT_READS,
        |t, a| fs::newfstatat(t, fd(a[0]), cstr(a[1]), ptr(a[2]), uint(a[3])),
        &[DirFd, Path, Hex, Hex])),
    (STATX, partial(NOTE_ROOT_READS,
        |t, a| fs::statx(t, fd(a[0]), cstr(a[1]), uint(a[2]), uint(a[3]), ptr(a[4])),
        &[DirFd, Path, Hex, Hex, Hex])),
    (ACCESS, partial(NOTE_ACCESS, |t, a| fs::faccessat2(t, CWD, cstr(a[0]), uint(a[1]), 0),
        &[Path, Hex])),
    (FACCESSAT, partial(NOTE_ACCESS,
        |t, a| fs::faccessat2(t, fd(a[0]), cstr(a[1]), uint(a[2]), 0),
        &[DirFd, Path, Hex])),
    (FACCESSAT2, partial(NOTE_ACCESS,
        |t, a| fs::faccessat2(t, fd(a[0]), cstr(a[1]), uint(a[2]), uint(a[3])),
        &[DirFd, Path, Hex, Hex])),
    (GETDENTS64, partial(NOTE_ROOT_READS,
        |t, a| fs::getdents64(t, fd(a[0]), buf(a[1], u64::from(uint(a[2])))),
        &[Fd, Hex, Len])),
    (SENDFILE, partial("at most 1 MiB per call, through a copy",
        |t, a| fs::sendfile(t, fd(a[0]), fd(a[1]), opt(a[2]), a[3] as usize),
        &[Fd, Fd, Hex, Len])),
    (GETSOCKNAME, full(|t, a| socket::socket_name(t, fd(a[0]), a[1], a[2], false), &[Fd, Hex, Hex])),
    (GETPEERNAME, full(|t, a| socket::socket_name(t, fd(a[0]), a[1], a[2], true), &[Fd, Hex, Hex])),
    (SOCKET, partial("AF_UNIX; AF_INET/AF_INET6 TCP and UDP on the sandbox's loopback; AF_NETLINK NETLINK_ROUTE (lo's links and addresses); other families get EAFNOSUPPORT, raw sockets EPERM",
        |t, a| socket::socket(t, int(a[0]), uint(a[1]), int(a[2])), &[Int, Hex, Int])),
    (BIND, full(
        |t, a| socket::bind(t, fd(a[0]), a[1], uint(a[2])), &[Fd, Hex, Len])),
    (LISTEN, full(|t, a| socket::listen(t, fd(a[0]), int(a[1])), &[Fd, Int])),
    (CONNECT, partial("AF_INET/AF_INET6 to loopback only (ENETUNREACH elsewhere)",
        |t, a| socket::connect(t, fd(a[0]), a[1], uint(a[2])), &[Fd, Hex, Len])),
    (ACCEPT, full(|t, a| socket::accept4(t, fd(a[0]), a[1], a[2], 0), &[Fd, Hex, Hex])),
    (ACCEPT4, full(|t, a| socket::accept4(t, fd(a[0]), a[1], a[2], uint(a[3])), &[Fd, Hex, Hex, Hex])),
    (SOCKETPAIR, full(|t, a| socket::socketpair(t, int(a[0]), uint(a[1]), int(a[2]), ptr(a[3])),
        &[Int, Hex, Int, Hex])),
    (SENDTO, partial("AF_INET/AF_INET6: TCP, and UDP to loopback destinations",
        |t, a| net::sendto(t, fd(a[0]), a[1], a[2], uint(a[3]), a[4], uint(a[5])),
        &[Fd, Buf(2), Len, Hex, Hex, Len])),
    (RECVFROM, full(|t, a| net::recvfrom(t, fd(a[0]), a[1], a[2], uint(a[3]), a[4], a[5]),
        &[Fd, Hex, Len, Hex, Hex, Hex])),
    (SENDMSG, partial("Unix sockets: SCM_RIGHTS and SCM_CREDENTIALS control messages only; TCP, and UDP to loopback destinations (control messages ignored)",
        |t, a| socket::sendmsg(t, fd(a[0]), a[1], uint(a[2])), &[Fd, Hex, Hex])),
    (SENDMMSG, full(|t, a| socket::sendmmsg(t, fd(a[0]), a[1], uint(a[2]), uint(a[3])),
        &[Fd, Hex, Int, Hex])),
    (RECVMMSG, full(|t, a| socket::recvmmsg(t, fd(a[0]), a[1], uint(a[2]), uint(a[3]), a[4]),
        &[Fd, Hex, Int, Hex, Hex])),
    (RECVMSG, full(|t, a| socket::recvmsg(t, fd(a[0]), a[1], uint(a[2])), &[Fd, Hex, Hex])),
    (SHUTDOWN, full(|t, a| socket::shutdown(t, fd(a[0]), int(a[1])), &[Fd, Int])),
    (GETSOCKOPT, partial("Unix sockets, SOL_SOCKET: SO_TYPE, SO_ERROR, SO_SNDBUF, SO_RCVBUF, SO_PASSCRED, SO_PEERCRED, SO_ACCEPTCONN, SO_PROTOCOL, SO_DOMAIN, SO_RCVTIMEO, SO_SNDTIMEO, SO_LINGER, SO_REUSEADDR, SO_REUSEPORT, SO_KEEPALIVE, SO_BROADCAST, SO_DONTROUTE, SO_OOBINLINE, SO_RCVLOWAT, SO_SNDLOWAT; inet sockets: SOL_SOCKET, IPPROTO_TCP/UDP, IPPROTO_IP and IPPROTO_IPV6 options as stored (TCP_INFO: the state and lo's MSS, MTU, RTO, window and a plausible RTT)",
        |t, a| socket::getsockopt(t, fd(a[0]), int(a[1]), int(a[2]), a[3], a[4]),
        &[Fd, Int, Int, Hex, Hex])),
    (SETSOCKOPT, partial("Unix sockets, SOL_SOCKET: SO_SNDBUF, SO_RCVBUF, SO_PASSCRED, SO_RCVTIMEO, SO_SNDTIMEO (in jiffies of HZ=250), SO_LINGER (stored), SO_REUSEADDR, SO_REUSEPORT, SO_KEEPALIVE, SO_BROADCAST, SO_DONTROUTE, SO_OOBINLINE (stored); inet sockets: SOL_SOCKET, IPPROTO_TCP/UDP, IPPROTO_IP and IPPROTO_IPV6 options accepted, validated and kept (SO_RCVTIMEO/SNDTIMEO, SO_LINGER 0 and IPV6_V6ONLY act; the rest have nothing to tune on loopback)",
        |t, a| socket::setsockopt(t, fd(a[0]), int(a[1]), int(a[2]), a[3], uint(a[4])),
        &[Fd, Int, Int, Hex, Len])),
    (SPLICE, partial("through a sentry buffer (at most 1 MiB a call); SPLICE_F_MOVE and GIFT ignored",
        |t, a| splice::splice(t, fd(a[0]), a[1], fd(a[2]), a[3], a[4], uint(a[5])),
        &[Fd, Hex, Fd, Hex, Len, Hex])),
    (TEE, full(|t, a| splice::tee(t, fd(a[0]), fd(a[1]), a[2], uint(a[3])), &[Fd, Fd, Len, Hex])),
    (VMSPLICE, partial("copies (at most 1 MiB a call); the pages are never gifted",
        |t, a| splice::vmsplice(t, fd(a[0]), a[1], a[2], uint(a[3])), &[Fd, Hex, Len, Hex])),
    (COPY_FILE_RANGE, partial("a copy (at most 2 GiB a call); EXDEV between filesystems as tmpfs",
        |t, a| splice::copy_file_range(t, fd(a[0]), a[1], fd(a[2]), a[3], a[4], uint(a[5])),
        &[Fd, Hex, Fd, Hex, Len, Hex])),
    (READLINK, partial(NOTE_ROOT_READS,
        |t, a| fs::readlinkat(t, CWD, cstr(a[0]), buf(a[1], u64::from(uint(a[2])))),
        &[Path, Hex, Len]).ret(Ret::Filled(1))),
    (READLINKAT, partial(NOTE_ROOT_READS,
        |t, a| fs::readlinkat(t, fd(a[0]), cstr(a[1]), buf(a[2], u64::from(uint(a[3])))),
        &[DirFd, Path, Hex, Len]).ret(Ret::Filled(2))),
    (CHDIR, partial(NOTE_ROOT_READS, |t, a| fs::chdir(t, cstr(a[0])), &[Path])),
    (FCHDIR, partial(NOTE_ROOT_READS, |t, a| fs::fchdir(t, fd(a[0])), &[Fd])),
    (GETCWD, full(|t, a| fs::getcwd(t, buf(a[0], a[1])), &[Hex, Len]).ret(Ret::Filled(0))),
    (UMASK, full(|t, a| umask(t, uint(a[0])), &[Hex])),
    // Changing the tree (path.rs).
    (MKDIR, full(|t, a| path::mkdirat(t, CWD, cstr(a[0]), uint(a[1])), &[Path, Hex])),
    (MKDIRAT, full(|t, a| path::mkdirat(t, fd(a[0]), cstr(a[1]), uint(a[2])), &[DirFd, Path, Hex])),
    (MKNOD, partial(NOTE_MKNOD, |t, a| path::mknodat(t, CWD, cstr(a[0]), uint(a[1]), uint(a[2])),
        &[Path, Hex, Hex])),
    (MKNODAT, partial(NOTE_MKNOD,
        |t, a| path::mknodat(t, fd(a[0]), cstr(a[1]), uint(a[2]), uint(a[3])),
        &[DirFd, Path, Hex, Hex])),
    (RMDIR, full(|t, a| path::unlinkat(t, CWD, cstr(a[0]), 0x200), &[Path])),
    (UNLINK, full(|t, a| path::unlinkat(t, CWD, cstr(a[0]), 0), &[Path])),
    (UNLINKAT, full(|t, a| path::unlinkat(t, fd(a[0]), cstr(a[1]), uint(a[2])),
        &[DirFd, Path, Hex])),
    (RENAME, full(|t, a| path::renameat2(t, CWD, cstr(a[0]), CWD, cstr(a[1]), 0), &[Path, Path])),
    (RENAMEAT, full(|t, a| path::renameat2(t, fd(a[0]), cstr(a[1]), fd(a[2]), cstr(a[3]), 0),
        &[DirFd, Path, DirFd, Path])),
    (RENAMEAT2, partial("RENAME_WHITEOUT gives EINVAL",
        |t, a| path::renameat2(t, fd(a[0]), cstr(a[1]), fd(a[2]), cstr(a[3]),
            uint(a[4])),
        &[DirFd, Path, DirFd, Path, Hex])),
    (LINK, full(|t, a| path::linkat(t, CWD, cstr(a[0]), CWD, cstr(a[1]), 0), &[Path, Path])),
    (LINKAT, full(|t, a| path::linkat(t, fd(a[0]), cstr(a[1]), fd(a[2]), cstr(a[3]),
            uint(a[4])),
        &[DirFd, Path, DirFd, Path, Hex])),
    (SYMLINK, full(|t, a| path::symlinkat(t, cstr(a[0]), CWD, cstr(a[1])), &[Path, Path])),
    // symlinkat(target, newdirfd, linkpath).
    (SYMLINKAT, full(|t, a| path::symlinkat(t, cstr(a[0]), fd(a[1]), cstr(a[2])),
        &[Path, DirFd, Path])),
    (TRUNCATE, full(|t, a| path::truncate(t, cstr(a[0]), a[1] as i64), &[Path, Int])),
    (FTRUNCATE, full(|t, a| path::ftruncate(t, fd(a[0]), a[1] as i64), &[Fd, Int])),
    (FALLOCATE, partial("modes 0, KEEP_SIZE and PUNCH_HOLE|KEEP_SIZE; others EOPNOTSUPP",
        |t, a| path::fallocate(t, fd(a[0]), uint(a[1]), a[2] as i64, a[3] as i64),
        &[Fd, Hex, Int, Int])),
    (CHMOD, full(|t, a| path::fchmodat2(t, CWD, cstr(a[0]), uint(a[1]), 0), &[Path, Hex])),
    (FCHMOD, full(|t, a| path::fchmod(t, fd(a[0]), uint(a[1])), &[Fd, Hex])),
    (FCHMODAT, full(|t, a| path::fchmodat2(t, fd(a[0]), cstr(a[1]), uint(a[2]), 0),
        &[DirFd, Path, Hex])),
    (FCHMODAT2, full(|t, a| path::fchmodat2(t, fd(a[0]), cstr(a[1]), uint(a[2]),
            uint(a[3])),
        &[DirFd, Path, Hex, Hex])),
    (CHOWN, full(|t, a| path::fchownat(t, CWD, cstr(a[0]), uint(a[1]), uint(a[2]), 0),
        &[Path, Pid, Pid])),
    (LCHOWN, full(|t, a| path::fchownat(t, CWD, cstr(a[0]), uint(a[1]), uint(a[2]), 0x100),
        &[Path, Pid, Pid])),
    (FCHOWN, full(|t, a| path::fchown(t, fd(a[0]), uint(a[1]), uint(a[2])), &[Fd, Pid, Pid])),
    (FCHOWNAT, full(|t, a| path::fchownat(t, fd(a[0]), cstr(a[1]), uint(a[2]),
            uint(a[3]), uint(a[4])),
        &[DirFd, Path, Pid, Pid, Hex])),
    (UTIME, full(|t, a| path::utime(t, cstr(a[0]), opt(a[1])), &[Path, Hex])),
    (UTIMES, full(|t, a| path::futimesat(t, CWD, opt_cstr(a[0]), opt(a[1])), &[Path, Hex])),
    (FUTIMESAT, full(|t, a| path::futimesat(t, fd(a[0]), opt_cstr(a[1]), opt(a[2])),
        &[DirFd, Path, Hex])),
    (UTIMENSAT, full(|t, a| path::utimensat(t, fd(a[0]), opt_cstr(a[1]), opt(a[2]), uint(a[3])),
        &[DirFd, Path, Hex, Hex])),
    (STATFS, full(|t, a| path::statfs(t, cstr(a[0]), ptr(a[1])), &[Path, Hex])),
    (FSTATFS, full(|t, a| path::fstatfs(t, fd(a[0]), ptr(a[1])), &[Fd, Hex])),
    (GETXATTR, partial(NO_XATTRS, |t, a| xattr::getxattr(t, XPath(cstr(a[0])), cstr(a[1])),
        &[Path, Path, Hex, Len])),
    (LGETXATTR, partial(NO_XATTRS, |t, a| xattr::getxattr(t, XLink(cstr(a[0])), cstr(a[1])),
        &[Path, Path, Hex, Len])),
    (FGETXATTR, partial(NO_XATTRS, |t, a| xattr::getxattr(t, XFd(fd(a[0])), cstr(a[1])),
        &[Fd, Path, Hex, Len])),
    (LISTXATTR, partial(NO_XATTRS, |t, a| xattr::listxattr(t, XPath(cstr(a[0]))),
        &[Path, Hex, Len])),
    (LLISTXATTR, partial(NO_XATTRS, |t, a| xattr::listxattr(t, XLink(cstr(a[0]))),
        &[Path, Hex, Len])),
    (FLISTXATTR, partial(NO_XATTRS, |t, a| xattr::listxattr(t, XFd(fd(a[0]))),
        &[Fd, Hex, Len])),
    (SETXATTR, partial(NO_XATTRS, |t, a| xattr::setxattr(t, XPath(cstr(a[0])), cstr(a[1]),
            a[3], int(a[4])),
        &[Path, Path, Hex, Len, Hex])),
    (LSETXATTR, partial(NO_XATTRS, |t, a| xattr::setxattr(t, XLink(cstr(a[0])), cstr(a[1]),
            a[3], int(a[4])),
        &[Path, Path, Hex, Len, Hex])),
    (FSETXATTR, partial(NO_XATTRS, |t, a| xattr::setxattr(t, XFd(fd(a[0])), cstr(a[1]),
            a[3], int(a[4])),
        &[Fd, Path, Hex, Len, Hex])),
    (REMOVEXATTR, partial(NO_XATTRS, |t, a| xattr::removexattr(t, XPath(cstr(a[0])),
            cstr(a[1])),
        &[Path, Path])),
    (LREMOVEXATTR, partial(NO_XATTRS, |t, a| xattr::removexattr(t, XLink(cstr(a[0])),
            cstr(a[1])),
        &[Path, Path])),
    (FREMOVEXATTR, partial(NO_XATTRS, |t, a| xattr::removexattr(t, XFd(fd(a[0])), cstr(a[1])),
        &[Fd, Path])),
    (FADVISE64, full(|t, a| xattr::fadvise64(t, fd(a[0]), a[2] as i64, int(a[3])),
        &[Fd, Int, Int, Int])),
    (READAHEAD, full(|t, a| xattr::readahead(t, fd(a[0])), &[Fd, Int, Len])),
    (FSYNC, full(|t, a| path::fsync(t, fd(a[0])), &[Fd])),
    (FDATASYNC, full(|t, a| path::fsync(t, fd(a[0])), &[Fd])),
    (SYNCFS, full(|t, a| path::syncfs(t, fd(a[0])), &[Fd])),
    (SYNC, full(|_, _| Ok(0), &[])),

    // Waiting for descriptors.
    (POLL, partial(NOTE_POLL, |t, a| poll::poll(t, ptr(a[0]), uint(a[1]), int(a[2])),
        &[Hex, Len, Int])),
    (PPOLL, partial(NOTE_POLL, |t, a| poll::ppoll(t, ptr(a[0]), uint(a[1]), opt(a[2]), opt(a[3]),
        a[4]), &[Hex, Len, Hex, Hex, Len])),
    (SELECT, partial(NOTE_POLL, |t, a| select::select(t, int(a[0]), a[1], a[2], a[3], a[4]),
        &[Int, Hex, Hex, Hex, Hex])),
    (PSELECT6, partial(NOTE_POLL, |t, a| select::pselect6(t, int(a[0]), a[1], a[2], a[3],
        opt(a[4]), a[5]), &[Int, Hex, Hex, Hex, Hex, Hex])),
    (EPOLL_CREATE, full(|t, a| poll::epoll_create(t, int(a[0])), &[Int])),
    (EPOLL_CREATE1, full(|t, a| poll::epoll_create1(t, uint(a[0])), &[Hex])),
    (EPOLL_CTL, full(|t, a| poll::epoll_ctl(t, fd(a[0]), int(a[1]), fd(a[2]), ptr(a[3])),
        &[Fd, Raw, Fd, Hex])),
    (EPOLL_WAIT, partial(NOTE_EPOLL_WAIT, |t, a| poll::epoll_wait(t, fd(a[0]), ptr(a[1]),
        int(a[2]), int(a[3])), &[Fd, Hex, Int, Int])),
    (EPOLL_PWAIT, partial(NOTE_EPOLL_WAIT, |t, a| poll::epoll_pwait(t, fd(a[0]), ptr(a[1]),
        int(a[2]), int(a[3]), opt(a[4]), a[5]), &[Fd, Hex, Int, Int, Hex, Len])),
    (EPOLL_PWAIT2, partial(NOTE_EPOLL_WAIT, |t, a| poll::epoll_pwait2(t, fd(a[0]), ptr(a[1]),
        int(a[2]), opt(a[3]), opt(a[4]), a[5]), &[Fd, Hex, Int, Hex, Hex, Len])),

    // Event descriptors (syscalls/eventfd.rs).
    (EVENTFD, full(|t, a| eventfd::eventfd2(t, uint(a[0]), 0), &[Len])),
    (EVENTFD2, full(|t, a| eventfd::eventfd2(t, uint(a[0]), uint(a[1])), &[Len, Hex])),
    (TIMERFD_CREATE, full(|t, a| timerfd::timerfd_create(t, int(a[0]), uint(a[1])),
        &[Raw, Hex])),
    (TIMERFD_SETTIME, full(|t, a| timerfd::timerfd_settime(t, fd(a[0]), uint(a[1]), a[2], a[3]),
        &[Fd, Hex, Hex, Hex])),
    (TIMERFD_GETTIME, full(|t, a| timerfd::timerfd_gettime(t, fd(a[0]), a[1]), &[Fd, Hex])),
    (SIGNALFD, partial(NOTE_SIGNALFD, |t, a| signalfd::signalfd4(t, int(a[0]), ptr(a[1]), a[2], 0),
        &[Int, Hex, Len])),
    (SIGNALFD4, partial(NOTE_SIGNALFD, |t, a| signalfd::signalfd4(t, int(a[0]), ptr(a[1]), a[2],
        uint(a[3])), &[Int, Hex, Len, Hex])),
    (INOTIFY_INIT, full(|t, _| inotify::inotify_init1(t, 0), &[])),
    (INOTIFY_INIT1, full(|t, a| inotify::inotify_init1(t, uint(a[0])), &[Hex])),
    (INOTIFY_ADD_WATCH, partial(NOTE_INOTIFY, |t, a| inotify::inotify_add_watch(t, fd(a[0]),
        cstr(a[1]), uint(a[2])), &[Fd, Path, Hex])),
    (INOTIFY_RM_WATCH, full(|t, a| inotify::inotify_rm_watch(t, fd(a[0]), int(a[1])),
        &[Fd, Int])),

    // POSIX message queues (syscalls/mqueue.rs).
    (MQ_OPEN, full(|t, a| mqueue::mq_open(t, cstr(a[0]), uint(a[1]), uint(a[2]), a[3]),
        &[Path, Hex, Hex, Hex])),
    (MQ_UNLINK, full(|t, a| mqueue::mq_unlink(t, cstr(a[0])), &[Path])),
    (MQ_TIMEDSEND, full(|t, a| mqueue::mq_timedsend(t, fd(a[0]), a[1], a[2], uint(a[3]),
        opt(a[4])), &[Fd, Hex, Len, Raw, Hex])),
    (MQ_TIMEDRECEIVE, full(|t, a| mqueue::mq_timedreceive(t, fd(a[0]), a[1], a[2], opt(a[3]),
        opt(a[4])), &[Fd, Hex, Len, Hex, Hex])),
    (MQ_NOTIFY, partial(NOTE_MQ_NOTIFY, |t, a| mqueue::mq_notify(t, fd(a[0]), a[1]),
        &[Fd, Hex])),
    (MQ_GETSETATTR, full(|t, a| mqueue::mq_getsetattr(t, fd(a[0]), a[1], a[2]),
        &[Fd, Hex, Hex])),

    // pidfds.
    (PIDFD_OPEN, full(|t, a| pidfd::pidfd_open(t, pid(a[0]), uint(a[1])), &[Pid, Hex])),
    (PIDFD_SEND_SIGNAL, full(|t, a| pidfd::pidfd_send_signal(t, fd(a[0]), sig(a[1]), opt(a[2]),
        uint(a[3])), &[Fd, Sig, Hex, Hex])),
    (PIDFD_GETFD, full(|t, a| pidfd::pidfd_getfd(t, fd(a[0]), fd(a[1]), uint(a[2])),
        &[Fd, Fd, Hex])),

    // Programs.
    (EXECVE, partial(NOTE_EXEC, |t, a| exec::execve(t, a[0], opt(a[1]), opt(a[2])),
        &[Path, Hex, Hex])),
    (EXECVEAT, partial(NOTE_EXEC, |t, a| exec::execveat(t, fd(a[0]), a[1], opt(a[2]), opt(a[3]),
        int(a[4])), &[DirFd, Path, Hex, Hex, Hex])),

    // Memory.
    (BRK, full(|t, a| mm::brk(t, a[0]), &[Hex]).ret(Ret::Hex)),
    (MMAP, partial("files: tmpfs, memfd and /dev/shm files shared or private, other regular \
        files private (MAP_SHARED of them read-only, from a read-only descriptor); other \
        files ENODEV",
        |t, a| mm::mmap(t, a[0], a[1], mmap_prot(a[2]), mmap_flags(a[3]), fd(a[4]), a[5]),
        &[Hex, Len, Hex, Hex, Fd, Hex]).ret(Ret::Hex)),
    (MUNMAP, full(|t, a| mm::munmap(t, a[0], a[1]), &[Hex, Len])),
    (MPROTECT, full(|t, a| mm::mprotect(t, a[0], a[1], mmap_prot(a[2])), &[Hex, Len, Hex])),
    (MREMAP, full(|t, a| mm::mremap(t, a[0], a[1], a[2], a[3], a[4]),
        &[Hex, Len, Len, Hex, Hex]).ret(Ret::Hex)),
    (MADVISE, partial(
        "advice other than DONTNEED/FREE/REMOVE/[DO|DONT]FORK/[WIPE|KEEP]ONFORK is accepted and ignored",
        |t, a| mm::madvise(t, a[0], a[1], int(a[2])), &[Hex, Len, Raw])),
    (MSYNC, full(|t, a| mm::msync(t, a[0], a[1], int(a[2])), &[Hex, Len, Hex])),
    (MINCORE, partial("a host file's pages count as resident (as in the host's cache); anonymous \
        pages mapped around a fault (16-page blocks) count as resident",
        |t, a| mm::mincore(t, a[0], a[1], a[2]), &[Hex, Len, Hex])),
    (MEMFD_CREATE, partial("MFD_HUGETLB files are ordinary memfds",
        |t, a| mm::memfd_create(t, a[0], uint(a[1]) as u64), &[Path, Hex])),
    (SHMGET, partial("segments are the sandbox's own (one IPC namespace); SHM_HUGETLB and \
        SHM_NORESERVE are ignored",
        |t, a| ipc::shmget(t, int(a[0]), a[1], uint(a[2])), &[Hex, Len, Hex])),
    (SHMAT, full(|t, a| ipc::shmat(t, int(a[0]), a[1], uint(a[2])), &[Int, Hex, Hex])
        .ret(Ret::Hex)),
    (SHMDT, full(|t, a| ipc::shmdt(t, a[0]), &[Hex])),
    (MSGGET, full(|t, a| ipc::msgget(t, int(a[0]), uint(a[1])), &[Hex, Hex])),
    (MSGSND, full(|t, a| ipc::msgsnd(t, int(a[0]), a[1], a[2], uint(a[3])),
        &[Int, Hex, Len, Hex])),
    (MSGRCV, partial("MSG_COPY is refused (EINVAL)",
        |t, a| ipc::msgrcv(t, int(a[0]), a[1], a[2], a[3] as i64, uint(a[4])),
        &[Int, Hex, Len, Int, Hex])),
    (MSGCTL, full(|t, a| ipc::msgctl(t, int(a[0]), int(a[1]), a[2]), &[Int, Int, Hex])),
    (SEMGET, full(|t, a| ipc::semget(t, int(a[0]), int(a[1]), uint(a[2])), &[Hex, Int, Hex])),
    (SEMOP, full(|t, a| ipc::semop(t, int(a[0]), a[1], a[2]), &[Int, Hex, Int])),
    (SEMTIMEDOP, full(|t, a| ipc::semtimedop(t, int(a[0]), a[1], a[2], a[3]),
        &[Int, Hex, Int, Hex])),
    (SEMCTL, full(|t, a| ipc::semctl(t, int(a[0]), int(a[1]), int(a[2]), a[3]),
        &[Int, Int, Int, Hex])),
    (SHMCTL, partial("SHM_LOCK and SHM_UNLOCK only check ownership",
        |t, a| ipc::shmctl(t, int(a[0]), int(a[1]), a[2]), &[Int, Int, Hex])),

    // Processes.
    (EXIT, full(|t, a| process::exit(t, int(a[0])), &[Int])),
    (EXIT_GROUP, full(|t, a| process::exit_group(t, int(a[0])), &[Int])),
    (GETPID, full(|t, _| Ok(t.task.tgid() as u64), &[])),
    (GETTID, full(|t, _| Ok(t.task.tid as u64), &[])),
    (GETPPID, full(|t, _| process::getppid(t), &[])),
    (GETUID, full(|t, _| creds::get_id(t, false, kcreds::REAL), &[])),
    (GETEUID, full(|t, _| creds::get_id(t, false, kcreds::EFFECTIVE), &[])),
    (GETGID, full(|t, _| creds::get_id(t, true, kcreds::REAL), &[])),
    (GETEGID, full(|t, _| creds::get_id(t, true, kcreds::EFFECTIVE), &[])),
    // Identity (syscalls/creds.rs).
    (SETUID, partial(NOTE_CREDS, |t, a| creds::setuid(t, uint(a[0])), &[Int])),
    (SETGID, partial(NOTE_CREDS, |t, a| creds::setgid(t, uint(a[0])), &[Int])),
    (SETREUID, partial(NOTE_CREDS, |t, a| creds::setreuid(t, uint(a[0]), uint(a[1])),
        &[Int, Int])),
    (SETREGID, partial(NOTE_CREDS, |t, a| creds::setregid(t, uint(a[0]), uint(a[1])),
        &[Int, Int])),
    (SETRESUID, partial(NOTE_CREDS,
        |t, a| creds::setresuid(t, uint(a[0]), uint(a[1]), uint(a[2])), &[Int, Int, Int])),
    (SETRESGID, partial(NOTE_CREDS,
        |t, a| creds::setresgid(t, uint(a[0]), uint(a[1]), uint(a[2])), &[Int, Int, Int])),
    (GETRESUID, full(|t, a| creds::getres(t, false, [a[0], a[1], a[2]]), &[Hex, Hex, Hex])),
    (GETRESGID, full(|t, a| creds::getres(t, true, [a[0], a[1], a[2]]), &[Hex, Hex, Hex])),
    (SETFSUID, partial(NOTE_CREDS, |t, a| creds::setfsuid(t, uint(a[0])), &[Int])),
    (SETFSGID, partial(NOTE_CREDS, |t, a| creds::setfsgid(t, uint(a[0])), &[Int])),
    (SETGROUPS, full(|t, a| creds::setgroups(t, a[0], a[1]), &[Int, Hex])),
    (CAPGET, full(|t, a| creds::capget(t, a[0], a[1]), &[Hex, Hex])),
    (CAPSET, partial("capabilities are recorded; the sandbox's checks other than the id calls' \
        do not consult them", |t, a| creds::capset(t, a[0], a[1]), &[Hex, Hex])),
    (PERSONALITY, partial("stored; ADDR_NO_RANDOMIZE and the others change nothing",
        |t, a| creds::personality(t, uint(a[0])), &[Hex])),
    (UNSHARE, partial("namespaces give EPERM (as clone); CLONE_FS leaves a shared \
        filesystem context shared", |t, a| creds::unshare(t, a[0]), &[CloneFlags])),
    (SETNS, partial("no namespace files; a pidfd with namespace flags gives EPERM",
        |t, a| creds::setns(t, int(a[0]), int(a[1])), &[Int, Hex])),
    (GETPGID, full(|t, a| process::getpgid(t, pid(a[0])), &[Pid])),
    (GETPGRP, full(|t, _| process::getpgid(t, pid(0)), &[])),
    (SETPGID, full(|t, a| process::setpgid(t, pid(a[0]), pid(a[1])), &[Pid, Pid])),
    (SETSID, full(|t, _| process::setsid(t), &[])),
    (GETSID, full(|t, a| process::getsid(t, pid(a[0])), &[Pid])),
    (FORK, full(|t, _| process::fork(t), &[])),
    (VFORK, full(|t, _| process::vfork(t), &[])),
    (CLONE, partial(NOTE_CLONE, process::clone, &[CloneFlags, Hex, Hex, Hex, Hex])),
    (CLONE3, partial(NOTE_CLONE, |t, a| process::clone3(t, ptr(a[0]), a[1]), &[Hex, Len])),
    (WAIT4, full(|t, a| process::wait4(t, pid(a[0]), opt(a[1]), wait_options(a[2]), opt(a[3])),
        &[Pid, Hex, Hex, Hex])),
    (WAITID, full(|t, a| process::waitid(t, int(a[0]), pid(a[1]), opt(a[2]),
        wait_options(a[3]), opt(a[4])),
        &[Raw, Pid, Hex, Hex, Hex])),
    (SET_TID_ADDRESS, full(|t, a| process::set_tid_address(t, a[0]), &[Hex])),
    (SET_ROBUST_LIST, full(|t, a| process::set_robust_list(t, a[0], a[1]), &[Hex, Len])),
    (GET_ROBUST_LIST, full(|t, a| process::get_robust_list(t, pid(a[0]), ptr(a[1]), ptr(a[2])),
        &[Pid, Hex, Hex])),
    (PRCTL, partial("PDEATHSIG, CHILD_SUBREAPER, NAME, DUMPABLE, NO_NEW_PRIVS, KEEPCAPS, \
        CAPBSET_READ/DROP, SECUREBITS, CAP_AMBIENT, TIMERSLACK",
        creds::prctl, &[Raw, Raw, Raw, Raw, Raw])),
    (FUTEX, partial("PI futexes without priority boosting (the host schedules all alike)",
        futex::sys_futex,
        &[Hex, Raw, Raw, Hex, Hex, Raw])),
    (FUTEX_WAITV, full(|t, a| futex::sys_futex_waitv(t, ptr(a[0]), uint(a[1]), uint(a[2]),
        opt(a[3]), int(a[4])), &[Hex, Len, Hex, Hex, Raw])),
    (SCHED_YIELD, full(|_, _| {
        std::thread::yield_now();
        Ok(0)
    }, &[])),

    // Signals.
    (RT_SIGACTION, full(|t, a| signal::rt_sigaction(t, sig(a[0]), opt(a[1]), opt(a[2]), a[3]),
        &[Sig, Hex, Hex, Len])),
    (RT_SIGPROCMASK, full(|t, a| signal::rt_sigprocmask(t, int(a[0]), opt(a[1]), opt(a[2]),
        a[3]), &[Raw, Hex, Hex, Len])),
    (RT_SIGPENDING, full(|t, a| signal::rt_sigpending(t, buf(a[0], a[1])), &[Hex, Len])),
    (RT_SIGSUSPEND, full(|t, a| signal::rt_sigsuspend(t, ptr(a[0]), a[1]), &[Hex, Len])),
    (RT_SIGRETURN, full(|t, _| task::sigreturn(t), &[])),
    (SIGALTSTACK, full(|t, a| signal::sigaltstack(t, opt(a[0]), opt(a[1])), &[Hex, Hex])),
    (PAUSE, full(|t, _| signal::pause(t), &[])),
    (KILL, full(|t, a| signal::kill(t, pid(a[0]), sig(a[1])), &[Pid, Sig])),
    (TKILL, full(|t, a| signal::tkill(t, pid(a[0]), sig(a[1])), &[Pid, Sig])),
    (TGKILL, full(|t, a| signal::tgkill(t, pid(a[0]), pid(a[1]), sig(a[2])), &[Pid, Pid, Sig])),
    (RT_SIGQUEUEINFO, full(|t, a| signal::rt_sigqueueinfo(t, pid(a[0]), sig(a[1]), ptr(a[2])),
        &[Pid, Sig, Hex])),
    (RT_TGSIGQUEUEINFO, full(|t, a| signal::rt_tgsigqueueinfo(t, pid(a[0]), pid(a[1]),
        sig(a[2]), ptr(a[3])), &[Pid, Pid, Sig, Hex])),
    (RT_SIGTIMEDWAIT, full(|t, a| time::rt_sigtimedwait(t, ptr(a[0]), opt(a[1]), opt(a[2]),
        a[3]), &[Hex, Hex, Hex, Len])),

    // Time.
    (CLOCK_GETTIME, full(|t, a| time::clock_gettime(t, int(a[0]), ptr(a[1])), &[Raw, Hex])),
    (CLOCK_GETRES, full(|t, a| time::clock_getres(t, int(a[0]), opt(a[1])), &[Raw, Hex])),
    (GETTIMEOFDAY, full(|t, a| time::gettimeofday(t, opt(a[0]), opt(a[1])), &[Hex, Hex])),
    (TIME, full(|t, a| time::time(t, opt(a[0])), &[Hex])),
    (NANOSLEEP, full(|t, a| time::nanosleep(t, ptr(a[0]), opt(a[1])), &[Hex, Hex])),
    (CLOCK_NANOSLEEP, full(|t, a| time::clock_nanosleep(t, int(a[0]), int(a[1]), ptr(a[2]),
        opt(a[3])), &[Raw, Hex, Hex, Hex])),
    (ALARM, full(|t, a| time::alarm(t, uint(a[0])), &[Len])),
    (SETITIMER, full(|t, a| time::setitimer(t, int(a[0]), opt(a[1]), opt(a[2])),
        &[Raw, Hex, Hex])),
    (GETITIMER, full(|t, a| time::getitimer(t, int(a[0]), ptr(a[1])), &[Raw, Hex])),
    (SETTIMEOFDAY, partial("EPERM: the sandbox never sets the host's clock",
        |t, a| time::settimeofday(t, opt(a[0]), a[1]), &[Hex, Hex])),
    (CLOCK_SETTIME, partial("EPERM: the sandbox never sets the host's clock",
        |t, a| time::clock_settime(t, int(a[0]), ptr(a[1])), &[Raw, Hex])),
    (ADJTIMEX, partial("read-only: modes that set the clock give EPERM",
        |t, a| time::adjtimex(t, a[0]), &[Hex])),
    (CLOCK_ADJTIME, partial("read-only: modes that set the clock give EPERM",
        |t, a| time::clock_adjtime(t, int(a[0]), a[1]), &[Raw, Hex])),
    (RESTART_SYSCALL, full(|t, _| time::restart_syscall(t), &[])),
    (TIMER_CREATE, full(|t, a| timer::timer_create(t, int(a[0]), a[1], ptr(a[2])),
        &[Raw, Hex, Hex])),
    (TIMER_SETTIME, full(|t, a| timer::timer_settime(t, int(a[0]), int(a[1]), a[2], a[3]),
        &[Int, Hex, Hex, Hex])),
    (TIMER_GETTIME, full(|t, a| timer::timer_gettime(t, int(a[0]), a[1]), &[Int, Hex])),
    (TIMER_GETOVERRUN, full(|t, a| timer::timer_getoverrun(t, int(a[0])), &[Int])),
    (TIMER_DELETE, full(|t, a| timer::timer_delete(t, int(a[0])), &[Int])),

    // The system.
    (UNAME, full(|t, a| info::uname(t, ptr(a[0])), &[Hex])),
    (SYSINFO, partial("uptime of the sandbox, the memory cap as RAM, no load averages",
        |t, a| info::sysinfo(t, ptr(a[0])), &[Hex])),
    (GETRANDOM, full(|t, a| info::getrandom(t, buf(a[0], a[1]), uint(a[2])), &[Hex, Len, Hex])),
    (PRLIMIT64, partial(NOTE_RLIMIT,
        |t, a| info::prlimit64(t, pid(a[0]), uint(a[1]), opt(a[2]), opt(a[3])),
        &[Pid, Raw, Hex, Hex])),
    (GETRLIMIT, partial(NOTE_RLIMIT,
        |t, a| info::getrlimit(t, uint(a[0]), ptr(a[1])), &[Raw, Hex])),
    (SETRLIMIT, partial(NOTE_RLIMIT,
        |t, a| info::setrlimit(t, uint(a[0]), ptr(a[1])), &[Raw, Hex])),
    (ARCH_PRCTL, full(|t, a| info::arch_prctl(t, int(a[0]), a[1]), &[Hex, Hex])),
    // Scheduling and identity (syscalls/sched.rs), stored per thread.
    (GETPRIORITY, full(|t, a| sched::getpriority(t, a[0], a[1]), &[Int, Pid])),
    (SETPRIORITY, partial(NOTE_SCHED, |t, a| sched::setpriority(t, a[0], a[1], a[2]),
        &[Int, Pid, Int])),
    (SCHED_SETPARAM, partial(NOTE_SCHED, |t, a| sched::sched_setparam(t, a[0], a[1]),
        &[Pid, Hex])),
    (SCHED_GETPARAM, full(|t, a| sched::sched_getparam(t, a[0], a[1]), &[Pid, Hex])),
    (SCHED_SETSCHEDULER, partial(NOTE_SCHED,
        |t, a| sched::sched_setscheduler(t, a[0], a[1], a[2]), &[Pid, Int, Hex])),
    (SCHED_GETSCHEDULER, full(|t, a| sched::sched_getscheduler(t, a[0]), &[Pid])),
    (SCHED_GET_PRIORITY_MAX, full(|t, a| sched::sched_get_priority_max(t, a[0]), &[Int])),
    (SCHED_GET_PRIORITY_MIN, full(|t, a| sched::sched_get_priority_min(t, a[0]), &[Int])),
    (IOPRIO_SET, partial(NOTE_SCHED, |t, a| sched::ioprio_set(t, a[0], a[1], a[2]),
        &[Int, Pid, Hex])),
    (IOPRIO_GET, full(|t, a| sched::ioprio_get(t, a[0], a[1]), &[Int, Pid])),
    (GETRUSAGE, partial("user time is guest mode, system time the sentry's work and the crossings (estimated); maxrss, faults and context switches are 0",
        |t, a| sched::getrusage(t, a[0], a[1]), &[Int, Hex])),
    (TIMES, full(|t, a| sched::times(t, a[0]), &[Hex])),
    (GETGROUPS, full(|t, a| creds::getgroups(t, a[0], a[1]), &[Int, Hex])),
    (SCHED_SETAFFINITY, partial(NOTE_SCHED, |t, a| sched::sched_setaffinity(t, a[0], a[1], a[2]),
        &[Pid, Len, Hex])),
    (SCHED_GETAFFINITY, full(|t, a| sched::sched_getaffinity(t, a[0], a[1], a[2]),
        &[Pid, Len, Hex])),
    (GETCPU, full(|t, a| sched::getcpu(t, a[0], a[1]), &[Hex, Hex, Hex])),
    (SCHED_RR_GET_INTERVAL, full(|t, a| sched::sched_rr_get_interval(t, a[0], a[1]),
        &[Pid, Hex])),
    (SCHED_SETATTR, partial("as sched_setscheduler; SCHED_DEADLINE is EINVAL",
        |t, a| sched::sched_setattr(t, a[0], a[1], a[2]), &[Pid, Hex, Hex])),
    (SCHED_GETATTR, full(|t, a| sched::sched_getattr(t, a[0], a[1], a[2], a[3]),
        &[Pid, Hex, Len, Hex])),
    (MEMBARRIER, partial("a barrier makes the threads concerned leave the guest once (rseq being \
        ENOSYS, the RSEQ commands restart nothing); GLOBAL_EXPEDITED reaches every process, \
        registered or not", |t, a| membarrier::membarrier(t, a[0] as i32, a[1] as u32, a[2] as i32),
        &[Int, Hex, Int])),
    (RSEQ, partial("ENOSYS, which libc accepts", |_, _| Err(Errno::ENOSYS.into()),
        &[Hex, Len, Hex, Hex])),
    ]
};

/// umask(2): the mask's permission bits, the old mask back.
fn umask(t: &mut TaskCtx, mask: u32) -> SysResult {
    let mut fs = t.task.fs.lock();
    let old = fs.umask;
    fs.umask = mask & 0o777;
    Ok(old as u64)
}

/// Number of slots in the table: every number with a name.
pub const TABLE_LEN: usize = numbers::MAX_SYSCALL + 1;

/// The syscall table: one entry per number, indexed by number.
pub static TABLE: [Entry; TABLE_LEN] = build_table();

/// Just the handlers, indexed by number: what [`dispatch`] reads (one
/// 8-byte slot per call), built from the same list as [`TABLE`].
static HANDLERS: [Option<Handler>; TABLE_LEN] = {
    let mut h: [Option<Handler>; TABLE_LEN] = [None; TABLE_LEN];
    let mut nr = 0;
    while nr < TABLE_LEN {
        if let Some(imp) = &TABLE[nr].imp {
            h[nr] = Some(imp.handler);
        }
        nr += 1;
    }
    h
};

const fn build_table() -> [Entry; TABLE_LEN] {
    let mut t = [Entry {
        name: None,
        imp: None,
    }; TABLE_LEN];
    let mut nr = 0;
    while nr < TABLE_LEN {
        t[nr].name = numbers::NAMES[nr];
        nr += 1;
    }
    let mut i = 0;
    while i < IMPLEMENTED.len() {
        let (nr, imp) = IMPLEMENTED[i];
        let nr = nr as usize;
        assert!(nr < TABLE_LEN, "syscall number past the table");
        assert!(t[nr].name.is_some(), "implemented syscall without a name");
        assert!(t[nr].imp.is_none(), "syscall implemented twice");
        assert!(
            !matches!(imp.support, Support::Unimplemented),
            "an implemented syscall's level is Full or Partial"
        );
        t[nr].imp = Some(imp);
        i += 1;
    }
    t
}

/// The table's entry for `nr`, if the number is in the x86-64 table.
pub fn entry(nr: u64) -> Option<&'static Entry> {
    TABLE.get(usize::try_from(nr).ok()?)
}

/// The support level of syscall `nr`.
pub fn support(nr: u64) -> Support {
    entry(nr).map_or(Support::Unimplemented, Entry::support)
}

/// The handler [`dispatch`] runs for `nr` (`None`: ENOSYS).
#[inline]
pub fn handler(nr: u64) -> Option<Handler> {
    *HANDLERS.get(usize::try_from(nr).ok()?)?
}

/// Runs syscall `nr` for the task.
#[inline]
pub fn dispatch(t: &mut TaskCtx, nr: u64, a: [u64; 6]) -> SysResult {
    match handler(nr) {
        Some(h) => h(t, a),
        None => {
            t.task.kernel.log_once(nr, || {
                format!("unknown syscall {} ({nr}): returning ENOSYS", name(nr))
            });
            Err(Errno::ENOSYS.into())
        }
    }
}

/// The coverage table (`COVERAGE.md`): every x86-64 syscall number with
/// its support level.
pub fn coverage_markdown() -> String {
    let mut full = 0;
    let mut partial = 0;
    let mut rows = String::new();
    for nr in 0..=numbers::MAX_SYSCALL as u64 {
        let Some(n) = numbers::NAMES[nr as usize] else {
            continue;
        };
        let (level, note) = match TABLE[nr as usize].support() {
            Support::Full => {
                full += 1;
                ("full", "")
            }
            Support::Partial(note) => {
                partial += 1;
                ("partial", note)
            }
            Support::Unimplemented => ("ENOSYS", ""),
        };
        rows.push_str(&format!("| {nr} | `{n}` | {level} | {note} |\n"));
    }
    format!(
        "# Syscall coverage\n\n\
         Generated from the syscall table in `sentry/src/syscalls/mod.rs` (`TABLE`, which\n\
         `dispatch` and `--strace` also read); a test keeps it\n\
         current (`SENTRY_UPDATE_COVERAGE=1 cargo test -p sentry coverage` rewrites it).\n\n\
         {full} syscalls are implemented fully and {partial} partly; every other number\n\
         returns ENOSYS and is logged once.\n\n\
         | nr | name | support | notes |\n| --- | --- | --- | --- |\n{rows}"
    )
}

/// The syscall number Linux x86-64 acts on for a raw `rax`: the low 32
/// bits (`do_syscall_64` takes `int nr`, and `do_syscall_x64` compares it
/// as `unsigned int` with the table size). High bits are ignored
/// (`0x1_0000_0027` is getpid); negative numbers (-1 included) and x32
/// numbers (bit 30, this sandbox has no x32 ABI, like a kernel without
/// CONFIG_X86_X32_ABI) come out past the table and give ENOSYS. A restart
/// puts the raw value back in `rax`, as Linux restores `orig_ax`.
pub fn decode_nr(raw: u64) -> u64 {
    raw as u32 as u64
}

/// This layer as the kernel receives it ([`crate::kernel::Kernel::new`]).
pub static KERNEL_TABLE: crate::kernel::SyscallTable = crate::kernel::SyscallTable {
    decode_nr,
    dispatch,
    trace_enter: trace::enter,
    trace_exit: trace::exit,
};

/// The name of syscall `nr`.
pub fn name(nr: u64) -> &'static str {
    numbers::NAMES
        .get(nr as usize)
        .copied()
        .flatten()
        .unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_syscall_has_a_name() {
        for nr in 0..=numbers::MAX_SYSCALL as u64 + 100 {
            if support(nr) != Support::Unimplemented {
                assert_ne!(name(nr), "unknown", "syscall {nr} is supported but unnamed");
            }
        }
    }

    /// The rows of COVERAGE.md: number, name and level ("full", "partial"
    /// or "ENOSYS").
    fn coverage_rows(text: &str) -> Vec<(u64, String, String)> {
        text.lines()
            .filter_map(|l| {
                let cells: Vec<&str> = l.split('|').map(str::trim).collect();
                let nr = cells.get(1)?.parse().ok()?;
                Some((
                    nr,
                    cells[2].trim_matches('`').to_string(),
                    cells[3].to_string(),
                ))
            })
            .collect()
    }

    #[test]
    fn coverage_file_is_up_to_date() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../COVERAGE.md");
        let want = coverage_markdown();
        if std::env::var_os("SENTRY_UPDATE_COVERAGE").is_some() {
            // Through a rename: coverage_file_agrees_with_dispatch may be
            // reading the file meanwhile.
            let tmp = format!("{path}.new");
            std::fs::write(&tmp, &want).unwrap();
            std::fs::rename(&tmp, path).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "COVERAGE.md is stale: run SENTRY_UPDATE_COVERAGE=1 cargo test -p sentry coverage"
        );
    }

    /// COVERAGE.md against what `dispatch` runs: a number is ENOSYS in the
    /// file exactly when dispatch has no handler for it, and dispatch has
    /// no handler for a number the file does not list.
    #[test]
    fn coverage_file_agrees_with_dispatch() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../COVERAGE.md");
        let text = std::fs::read_to_string(path).expect("COVERAGE.md");
        let rows = coverage_rows(&text);
        assert_eq!(
            rows.len(),
            numbers::NAMES.iter().flatten().count(),
            "one row per named number"
        );
        let mut listed = std::collections::HashSet::new();
        for (nr, row_name, level) in &rows {
            listed.insert(*nr);
            assert_eq!(row_name, name(*nr), "row {nr}");
            match level.as_str() {
                "ENOSYS" => assert!(
                    handler(*nr).is_none(),
                    "COVERAGE.md says {row_name} ({nr}) is ENOSYS, but dispatch runs it"
                ),
                "full" | "partial" => assert!(
                    handler(*nr).is_some(),
                    "COVERAGE.md says {row_name} ({nr}) is {level}, but dispatch has no handler"
                ),
                other => panic!("row {nr}: unknown level {other:?}"),
            }
        }
        for nr in 0..=numbers::MAX_SYSCALL as u64 + 1000 {
            if !listed.contains(&nr) {
                assert!(
                    handler(nr).is_none(),
                    "{nr} is dispatched but not in COVERAGE.md"
                );
            }
        }
    }

    #[test]
    fn every_dispatched_number_has_one_full_entry() {
        let mut dispatched = 0;
        for nr in 0..=numbers::MAX_SYSCALL as u64 + 1000 {
            let Some(h) = handler(nr) else {
                assert_eq!(support(nr), Support::Unimplemented, "{nr}");
                continue;
            };
            dispatched += 1;
            let e = entry(nr).expect("a dispatched number is in the table");
            let imp = e.imp.expect("and implemented there");
            assert!(e.name.is_some(), "{nr} has no name");
            assert!(
                std::ptr::fn_addr_eq(h, imp.handler),
                "{nr}: the handler differs"
            );
            assert_ne!(imp.support, Support::Unimplemented, "{nr}");
            assert!(imp.args.len() <= 6, "{nr}: more than six arguments");
            for a in imp.args {
                if let Arg::Buf(n) = a {
                    assert!((*n as usize) < imp.args.len(), "{nr}: Buf({n})");
                }
            }
            if let Ret::Filled(n) = imp.ret {
                assert!((n as usize) < imp.args.len(), "{nr}: Filled({n})");
            }
        }
        assert_eq!(dispatched, IMPLEMENTED.len());
    }

    #[test]
    fn syscall_numbers_use_the_low_32_bits() {
        assert_eq!(decode_nr(39), 39);
        assert_eq!(decode_nr(0x1_0000_0027), 39);
        assert_eq!(decode_nr(0xffff_ffff_0000_0027), 39);
        for unknown in [u64::MAX, 0xffff_ffff, 0x8000_0027, 0x4000_0027, 0xffff_fffe] {
            assert_eq!(support(decode_nr(unknown)), Support::Unimplemented);
            assert!(handler(decode_nr(unknown)).is_none());
        }
    }

    #[test]
    fn the_table_knows_the_common_numbers() {
        assert_eq!(name(0), "read");
        assert_eq!(name(57), "fork");
        assert_eq!(name(435), "clone3");
        assert_eq!(name(100_000), "unknown");
        assert_eq!(
            support(435),
            Support::Partial("namespaces give EPERM, CLONE_INTO_CGROUP EBADF")
        );
        assert_eq!(support(1000), Support::Unimplemented);
    }

    /// The notes that had drifted from the code (issue 8): umask is
    /// implemented, CLONE_PIDFD (t_pidfd, t_clone3) and waitid(P_PIDFD)
    /// (t_pidfd) work.
    #[test]
    fn the_notes_say_what_dispatch_does() {
        assert_eq!(support(UMASK), Support::Full);
        assert_eq!(support(WAITID), Support::Full);
        for nr in [CLONE, CLONE3, WAITID] {
            if let Support::Partial(note) = support(nr) {
                assert!(!note.contains("PIDFD"), "{}: {note}", name(nr));
            }
        }
    }
}

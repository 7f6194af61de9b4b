//! POSIX message queues: mq_open, mq_unlink, mq_timedsend,
//! mq_timedreceive, mq_notify and mq_getsetattr (the queues are
//! kernel/ipc/mqueue.rs). Each checks in the order of Linux's
//! ipc/mqueue.c, so the guest gets Linux's errno.
//!
//! mq_notify's SIGEV_THREAD names a netlink socket (sigev_signo) and a
//! 32-byte cookie (sigev_value); the notification is that cookie, its
//! last byte NOTIFY_WOKENUP, sent as a datagram to the socket, and a
//! removed registration sends it with NOTIFY_REMOVED (glibc and musl run
//! the thread from a helper that reads the socket).

use std::sync::Arc;
use std::time::Instant;

use super::fs::read_path;
use crate::abi::time::Timespec;
use crate::abi::{Fd, UserCStr, UserPtr};
use crate::errno::Errno;
use crate::fs::{O_NONBLOCK, OpenFile};
use crate::kernel::ipc::mqueue::{
    HARD_MSGMAX, HARD_MSGSIZEMAX, MQ_PRIO_MAX, MSG_DEFAULT, MSG_MAX, MSGSIZE_DEFAULT, MSGSIZE_MAX,
    MqFile, MsgQueue, NAME_MAX, NOTIFY_COOKIE_LEN, NOTIFY_REMOVED, NOTIFY_WOKENUP, Notify,
    QUEUES_MAX, SI_MESGQ, SIGEV_NONE, SIGEV_SIGNAL, SIGEV_THREAD,
};
use crate::kernel::signal::SigInfo;
use crate::kernel::task::{SysResult, TaskCtx};

/// CAP_SYS_RESOURCE: past msg_max, msgsize_max and queues_max.
const CAP_SYS_RESOURCE: u32 = 24;
const O_CREAT: u32 = 0o100;
const O_EXCL: u32 = 0o200;
const O_ACCMODE: u32 = 3;

/// `struct mq_attr`: flags, maxmsg, msgsize, curmsgs (and 4 reserved).
fn read_attr(t: &TaskCtx, addr: u64) -> Result<[i64; 4], Errno> {
    let mut b = [0u8; 64];
    t.mm().read(addr, &mut b)?;
    let f = |i: usize| i64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    Ok([f(0), f(1), f(2), f(3)])
}

fn write_attr(t: &TaskCtx, addr: u64, v: [i64; 4]) -> Result<(), Errno> {
    let mut b = [0u8; 64];
    for (i, x) in v.iter().enumerate() {
        b[i * 8..i * 8 + 8].copy_from_slice(&x.to_le_bytes());
    }
    t.mm().write(addr, &b)
}

/// getname and lookup_one_len's rules for a queue name: ENOENT when
/// empty, EACCES for `.`, `..` or a name with `/`, ENAMETOOLONG past
/// NAME_MAX.
fn queue_name(t: &TaskCtx, name: UserCStr) -> Result<Vec<u8>, Errno> {
    let n = read_path(t, name)?;
    if n.is_empty() {
        return Err(Errno::ENOENT);
    }
    if n == b"." || n == b".." || n.contains(&b'/') {
        return Err(Errno::EACCES);
    }
    if n.len() > NAME_MAX {
        return Err(Errno::ENAMETOOLONG);
    }
    Ok(n)
}

/// mq_open(name, oflag, mode, attr).
pub fn mq_open(t: &mut TaskCtx, name: UserCStr, oflag: u32, mode: u32, attr: u64) -> SysResult {
    let attr = if attr != 0 {
        Some(read_attr(t, attr)?)
    } else {
        None
    };
    let name = queue_name(t, name)?;
    let ns = &t.task.kernel.ipc.mqueue;
    let mut names = ns.names.lock();
    let queue = match names.get(&name) {
        Some(q) => {
            if oflag & (O_CREAT | O_EXCL) == O_CREAT | O_EXCL {
                return Err(Errno::EEXIST.into());
            }
            if oflag & O_ACCMODE == O_ACCMODE {
                return Err(Errno::EINVAL.into());
            }
            Arc::clone(q)
        }
        None if oflag & O_CREAT == 0 => return Err(Errno::ENOENT.into()),
        None => {
            let creds = t.task.ident.creds();
            let capable = creds.capable(CAP_SYS_RESOURCE);
            if names.len() >= QUEUES_MAX && !capable {
                return Err(Errno::ENOSPC.into());
            }
            let (maxmsg, msgsize) = attr.map_or((MSG_DEFAULT, MSGSIZE_DEFAULT), |a| (a[1], a[2]));
            let (max_msg, max_size) = if capable {
                (HARD_MSGMAX, HARD_MSGSIZEMAX)
            } else {
                (MSG_MAX, MSGSIZE_MAX)
            };
            if maxmsg <= 0 || msgsize <= 0 || maxmsg > max_msg || msgsize > max_size {
                return Err(Errno::EINVAL.into());
            }
            let rlimit = t
                .task
                .tg
                .limits
                .lock()
                .soft(crate::kernel::limits::resource::MSGQUEUE);
            let umask = t.task.fs.lock().umask;
            let q = ns.new_queue(
                maxmsg,
                msgsize,
                mode & 0o777 & !umask,
                rlimit,
                Arc::clone(&t.task.kernel.readiness),
            )?;
            names.insert(name, Arc::clone(&q));
            q
        }
    };
    drop(names);
    let status = oflag & (O_ACCMODE | O_NONBLOCK);
    let f = OpenFile::new(Box::new(MqFile::new(queue)), status);
    // Linux installs the descriptor with O_CLOEXEC, whatever oflag says.
    Ok(t.task.files().insert(f, true, 0)? as u64)
}

/// mq_unlink(name): the queue lives on while it is open.
pub fn mq_unlink(t: &mut TaskCtx, name: UserCStr) -> SysResult {
    let name = queue_name(t, name)?;
    let removed = t.task.kernel.ipc.mqueue.names.lock().remove(&name);
    match removed {
        Some(_) => Ok(0),
        None => Err(Errno::ENOENT.into()),
    }
}

/// The queue behind `fd` (EBADF if it is not one).
fn queue_of(t: &TaskCtx, fd: Fd) -> Result<(Arc<OpenFile>, Arc<MsgQueue>), Errno> {
    let f = t.task.files().get(i64::from(fd.0))?;
    let q = Arc::clone(&f.ops.as_mqueue().ok_or(Errno::EBADF)?.queue);
    Ok((f, q))
}

/// An absolute CLOCK_REALTIME timeout as an instant (EINVAL if invalid).
fn deadline(t: &TaskCtx, ts: Option<UserPtr<Timespec>>) -> Result<Option<Instant>, Errno> {
    let Some(ts) = ts else {
        return Ok(None);
    };
    let abs = super::time::read_timespec(&t.mm(), ts)?;
    let now = super::time::clock_now(0, &t.task.kernel);
    Ok(Some(Instant::now() + abs.saturating_sub(now)))
}

/// mq_timedsend(fd, msg, len, prio, abs_timeout).
pub fn mq_timedsend(
    t: &mut TaskCtx,
    fd: Fd,
    msg: u64,
    len: u64,
    prio: u32,
    timeout: Option<UserPtr<Timespec>>,
) -> SysResult {
    if prio >= MQ_PRIO_MAX {
        return Err(Errno::EINVAL.into());
    }
    let until = deadline(t, timeout)?;
    let (f, q) = queue_of(t, fd)?;
    if f.status() & O_ACCMODE == 0 {
        return Err(Errno::EBADF.into());
    }
    if len > q.msgsize as u64 {
        return Err(Errno::EMSGSIZE.into());
    }
    let mut data = vec![0u8; len as usize];
    t.mm().read(msg, &mut data)?;
    let task = Arc::clone(&t.task);
    loop {
        let guard = q.prepare(&*task);
        if let Some(notify) = q.try_send(&data, prio) {
            if let Some(n) = notify {
                notify_owner(t, n);
            }
            return Ok(0);
        }
        if f.nonblocking() {
            return Err(Errno::EAGAIN.into());
        }
        if until.is_some_and(|d| Instant::now() >= d) {
            return Err(Errno::ETIMEDOUT.into());
        }
        guard.sleep(until)?;
    }
}

/// Sends a taken notification: SIGEV_SIGNAL queues its signal to the
/// registered process with si_code SI_MESGQ, the sender's pid and uid and
/// the registered value; SIGEV_NONE only drops the registration.
fn notify_owner(t: &TaskCtx, n: Notify) {
    if n.how == SIGEV_THREAD {
        n.send_cookie(NOTIFY_WOKENUP);
        return;
    }
    if n.how != SIGEV_SIGNAL || n.signo == 0 {
        return;
    }
    let Some(tg) = n.tg.upgrade() else {
        return;
    };
    let uid = t.task.ident.creds().uid[0];
    let mut info = SigInfo {
        signo: n.signo,
        code: SI_MESGQ,
        ..Default::default()
    };
    info.data[0] = u64::from(t.task.tgid() as u32) | (u64::from(uid) << 32);
    info.data[1] = n.value;
    crate::kernel::process::send_to_group(&t.task.kernel, &tg, info);
}

/// mq_timedreceive(fd, msg, len, prio, abs_timeout).
pub fn mq_timedreceive(
    t: &mut TaskCtx,
    fd: Fd,
    msg: u64,
    len: u64,
    prio: Option<UserPtr<u32>>,
    timeout: Option<UserPtr<Timespec>>,
) -> SysResult {
    let until = deadline(t, timeout)?;
    let (f, q) = queue_of(t, fd)?;
    if f.status() & O_ACCMODE == 1 {
        return Err(Errno::EBADF.into());
    }
    if len < q.msgsize as u64 {
        return Err(Errno::EMSGSIZE.into());
    }
    let task = Arc::clone(&t.task);
    loop {
        let guard = q.prepare(&*task);
        if let Some((data, p)) = q.try_receive() {
            let mm = t.mm();
            mm.write(msg, &data)?;
            if let Some(prio) = prio {
                prio.write(&mm, &p)?;
            }
            return Ok(data.len() as u64);
        }
        if f.nonblocking() {
            return Err(Errno::EAGAIN.into());
        }
        if until.is_some_and(|d| Instant::now() >= d) {
            return Err(Errno::ETIMEDOUT.into());
        }
        guard.sleep(until)?;
    }
}

/// mq_notify(fd, sevp): registers (or, with NULL, drops) the calling
/// process's notification; EBUSY if another process holds it.
pub fn mq_notify(t: &mut TaskCtx, fd: Fd, sevp: u64) -> SysResult {
    let mut thread = None;
    let sev = if sevp != 0 {
        let mut b = [0u8; 16];
        t.mm().read(sevp, &mut b)?;
        let value = u64::from_le_bytes(b[0..8].try_into().expect("8 bytes"));
        let signo = i32::from_le_bytes(b[8..12].try_into().expect("4 bytes"));
        let how = i32::from_le_bytes(b[12..16].try_into().expect("4 bytes"));
        match how {
            SIGEV_NONE => {}
            // valid_signal: 0 too (and then nothing is sent).
            SIGEV_SIGNAL if (0..=64).contains(&signo) => {}
            SIGEV_THREAD => {
                // The cookie, then the netlink socket in sigev_signo
                // (netlink_getsockbyfilp: ENOTSOCK, EINVAL for another
                // family).
                let mut cookie = [0u8; NOTIFY_COOKIE_LEN];
                t.mm().read(value, &mut cookie)?;
                let f = t.task.files().get(i64::from(signo))?;
                if f.ops.as_netlink_socket().is_none() {
                    return Err(if f.ops.stat().mode & 0o170000 == 0o140000 {
                        Errno::EINVAL
                    } else {
                        Errno::ENOTSOCK
                    }
                    .into());
                }
                thread = Some((f, cookie));
            }
            _ => return Err(Errno::EINVAL.into()),
        }
        Some((value, signo, how))
    } else {
        None
    };
    let (_, q) = queue_of(t, fd)?;
    let pid = t.task.tgid();
    let mut st = q.state.lock();
    let mine = |n: &Notify| n.pid == pid && n.tg.upgrade().is_some();
    match sev {
        None => {
            if st.notify.as_ref().is_some_and(mine) {
                let removed = st.notify.take();
                drop(st);
                if let Some(n) = removed {
                    n.send_cookie(NOTIFY_REMOVED);
                }
            }
        }
        Some((value, signo, how)) => {
            if st.notify.as_ref().is_some_and(|n| n.tg.upgrade().is_some()) {
                return Err(Errno::EBUSY.into());
            }
            st.notify = Some(Notify {
                tg: Arc::downgrade(&t.task.tg),
                pid,
                how,
                signo,
                value,
                thread,
            });
        }
    }
    Ok(0)
}

/// mq_getsetattr(fd, newattr, oldattr): only O_NONBLOCK can be set.
pub fn mq_getsetattr(t: &mut TaskCtx, fd: Fd, new: u64, old: u64) -> SysResult {
    let new = if new != 0 {
        let a = read_attr(t, new)?;
        if a[0] & !i64::from(O_NONBLOCK) != 0 {
            return Err(Errno::EINVAL.into());
        }
        Some(a)
    } else {
        None
    };
    let (f, q) = queue_of(t, fd)?;
    let cur = q.state.lock().curmsgs;
    let flags = i64::from(f.status() & O_NONBLOCK);
    if let Some(a) = new {
        let st = f.status() & !O_NONBLOCK;
        f.set_status(st | (a[0] as u32 & O_NONBLOCK));
    }
    if old != 0 {
        write_attr(t, old, [flags, q.maxmsg, q.msgsize, cur])?;
    }
    Ok(0)
}

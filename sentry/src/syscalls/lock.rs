//! Advisory locks: flock(2) and fcntl(2)'s record-lock commands
//! (F_GETLK, F_SETLK, F_SETLKW and the OFD variants), over the kernel's
//! [`crate::fs::lock::LockTable`].

use crate::abi::Fd;
use crate::errno::Errno;
use crate::fs::OpenFile;
use crate::fs::lock::{EOF, Kind, Owner, Record, Request};
use crate::kernel::task::{SysResult, TaskCtx};

const LOCK_SH: u32 = 1;
const LOCK_EX: u32 = 2;
const LOCK_NB: u32 = 4;
const LOCK_UN: u32 = 8;

const F_RDLCK: i16 = 0;
const F_WRLCK: i16 = 1;
const F_UNLCK: i16 = 2;

/// fcntl's lock commands.
pub const F_GETLK: u32 = 5;
/// Sets a lock, or EAGAIN.
pub const F_SETLK: u32 = 6;
/// Sets a lock, waiting.
pub const F_SETLKW: u32 = 7;
/// F_GETLK for OFD locks.
pub const F_OFD_GETLK: u32 = 36;
/// F_SETLK for OFD locks.
pub const F_OFD_SETLK: u32 = 37;
/// F_SETLKW for OFD locks.
pub const F_OFD_SETLKW: u32 = 38;

const O_PATH: u32 = 0o10000000;

/// flock(fd, operation).
pub fn flock(t: &mut TaskCtx, fd: Fd, op: u32) -> SysResult {
    let f = t.task.files().get(fd.0 as i64)?;
    if f.status() & O_PATH != 0 {
        return Err(Errno::EBADF.into());
    }
    let kind = match op & !LOCK_NB {
        LOCK_SH => Some(Kind::Read),
        LOCK_EX => Some(Kind::Write),
        LOCK_UN => None,
        _ => return Err(Errno::EINVAL.into()),
    };
    let table = &t.task.kernel.locks;
    let ofd = f.lock_owner(table);
    let blocker = (op & LOCK_NB == 0).then_some(&*t.task as &dyn crate::kernel::wait::Blocker);
    // EWOULDBLOCK is EAGAIN.
    table.flock(f.lock_key(), ofd, kind, blocker)?;
    Ok(0)
}

/// `struct flock` (32 bytes on x86-64).
struct Flock {
    l_type: i16,
    l_whence: i16,
    l_start: i64,
    l_len: i64,
    l_pid: i32,
}

impl Flock {
    fn from_bytes(b: &[u8; 32]) -> Self {
        Self {
            l_type: i16::from_le_bytes([b[0], b[1]]),
            l_whence: i16::from_le_bytes([b[2], b[3]]),
            l_start: i64::from_le_bytes(b[8..16].try_into().expect("8 bytes")),
            l_len: i64::from_le_bytes(b[16..24].try_into().expect("8 bytes")),
            l_pid: i32::from_le_bytes(b[24..28].try_into().expect("4 bytes")),
        }
    }

    fn to_bytes(&self) -> [u8; 32] {
        let mut b = [0u8; 32];
        b[0..2].copy_from_slice(&self.l_type.to_le_bytes());
        b[2..4].copy_from_slice(&self.l_whence.to_le_bytes());
        b[8..16].copy_from_slice(&self.l_start.to_le_bytes());
        b[16..24].copy_from_slice(&self.l_len.to_le_bytes());
        b[24..28].copy_from_slice(&self.l_pid.to_le_bytes());
        b
    }
}

/// The byte range `[start, end]` a `struct flock` names (Linux's
/// `flock_to_posix_lock`).
fn range(f: &OpenFile, l: &Flock) -> Result<(u64, u64), Errno> {
    let base: i64 = match l.l_whence {
        0 => 0,
        1 => f.ops.seek(0, 1).map_err(|_| Errno::EINVAL)? as i64,
        2 => f.ops.stat().size,
        _ => return Err(Errno::EINVAL),
    };
    let mut start = base.checked_add(l.l_start).ok_or(Errno::EOVERFLOW)?;
    if start < 0 {
        return Err(Errno::EINVAL);
    }
    let end = if l.l_len > 0 {
        start.checked_add(l.l_len - 1).ok_or(Errno::EOVERFLOW)? as u64
    } else if l.l_len < 0 {
        let end = start - 1;
        start = start.checked_add(l.l_len).ok_or(Errno::EINVAL)?;
        if start < 0 {
            return Err(Errno::EINVAL);
        }
        end as u64
    } else {
        EOF
    };
    Ok((start as u64, end))
}

/// fcntl(fd, F_GETLK | F_SETLK | F_SETLKW | F_OFD_*, struct flock *).
pub fn fcntl_lock(t: &mut TaskCtx, f: &std::sync::Arc<OpenFile>, cmd: u32, arg: u64) -> SysResult {
    if f.status() & O_PATH != 0 {
        return Err(Errno::EBADF.into());
    }
    let mut raw = [0u8; 32];
    t.mm().read(arg, &mut raw)?;
    let l = Flock::from_bytes(&raw);
    let ofd = matches!(cmd, F_OFD_GETLK | F_OFD_SETLK | F_OFD_SETLKW);
    // OFD requests must leave l_pid zero (Linux: EINVAL).
    if ofd && l.l_pid != 0 {
        return Err(Errno::EINVAL.into());
    }
    let kind = match l.l_type {
        F_RDLCK => Some(Kind::Read),
        F_WRLCK => Some(Kind::Write),
        F_UNLCK => None,
        _ => return Err(Errno::EINVAL.into()),
    };
    let (start, end) = range(f, &l)?;
    let table = std::sync::Arc::clone(&t.task.kernel.locks);
    let owner = if ofd {
        Owner::Ofd(f.lock_owner(&table))
    } else {
        t.task.files().lock_owner(&table)
    };
    let r = Request {
        owner,
        pid: if ofd { -1 } else { t.task.tgid() },
        kind,
        start,
        end,
    };
    let key = f.lock_key();
    if matches!(cmd, F_GETLK | F_OFD_GETLK) {
        if kind.is_none() {
            return Err(Errno::EINVAL.into());
        }
        let out = match table.test(key, &r) {
            None => Flock {
                l_type: F_UNLCK,
                ..l
            },
            Some(c) => describe(&c),
        };
        t.mm().write(arg, &out.to_bytes())?;
        return Ok(0);
    }
    // The access mode must allow the lock's type (Linux: EBADF).
    let acc = f.status() & 3;
    match kind {
        Some(Kind::Read) if acc == 1 => return Err(Errno::EBADF.into()),
        Some(Kind::Write) if acc == 0 => return Err(Errno::EBADF.into()),
        _ => {}
    }
    let wait = matches!(cmd, F_SETLKW | F_OFD_SETLKW);
    let blocker = wait.then_some(&*t.task as &dyn crate::kernel::wait::Blocker);
    table.set(key, &r, blocker)?;
    Ok(0)
}

/// The `struct flock` F_GETLK reports for a conflicting lock.
fn describe(c: &Record) -> Flock {
    Flock {
        l_type: match c.kind {
            Kind::Read => F_RDLCK,
            Kind::Write => F_WRLCK,
        },
        l_whence: 0,
        l_start: c.start as i64,
        l_len: if c.end == EOF {
            0
        } else {
            (c.end - c.start + 1) as i64
        },
        l_pid: c.pid,
    }
}

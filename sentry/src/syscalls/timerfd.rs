//! timerfd_create, timerfd_settime, timerfd_gettime (the file is
//! fs/timerfd.rs).

use std::sync::Arc;

use crate::abi::time::Timespec;
use crate::abi::{Fd, UserPtr};
use crate::errno::Errno;
use crate::fs::timerfd::TimerFd;
use crate::fs::{O_CLOEXEC, O_NONBLOCK, OpenFile};
use crate::kernel::task::{SysResult, TaskCtx};
use crate::kernel::timers::{Setting, id};

const TFD_TIMER_ABSTIME: u32 = 1;
const TFD_TIMER_CANCEL_ON_SET: u32 = 2;
/// CAP_WAKE_ALARM.
const CAP_WAKE_ALARM: u32 = 35;

/// timerfd_create(clockid, flags): REALTIME, MONOTONIC, BOOTTIME and the
/// two alarm clocks (CAP_WAKE_ALARM, else EPERM); EINVAL otherwise.
pub fn timerfd_create(t: &mut TaskCtx, clock: i32, flags: u32) -> SysResult {
    if flags & !(O_CLOEXEC | O_NONBLOCK) != 0 {
        return Err(Errno::EINVAL.into());
    }
    match clock {
        id::REALTIME | id::MONOTONIC | id::BOOTTIME => {}
        id::REALTIME_ALARM | id::BOOTTIME_ALARM => {
            if !t.task.ident.creds().capable(CAP_WAKE_ALARM) {
                return Err(Errno::EPERM.into());
            }
        }
        _ => return Err(Errno::EINVAL.into()),
    }
    let f = TimerFd::new(clock, Arc::clone(&t.task.kernel.readiness));
    let status = 2 | (flags & O_NONBLOCK); // O_RDWR
    let fd = t.task.files().insert(
        OpenFile::new(Box::new(f), status),
        flags & O_CLOEXEC != 0,
        0,
    )?;
    Ok(fd as u64)
}

/// The open timerfd behind `fd`: EBADF for no file, EINVAL for another
/// kind.
fn lookup(t: &TaskCtx, fd: Fd) -> Result<Arc<OpenFile>, Errno> {
    let f = t.task.files().get(i64::from(fd.0))?;
    if f.ops.as_timerfd().is_none() {
        return Err(Errno::EINVAL);
    }
    Ok(f)
}

fn write_itimerspec(t: &TaskCtx, addr: u64, s: Setting) -> Result<(), Errno> {
    let mut b = [0u8; 32];
    for (i, d) in [s.interval, s.value].into_iter().enumerate() {
        let ts = Timespec::from_duration(d);
        b[i * 16..i * 16 + 8].copy_from_slice(&ts.sec.to_le_bytes());
        b[i * 16 + 8..i * 16 + 16].copy_from_slice(&ts.nsec.to_le_bytes());
    }
    t.mm().write(addr, &b)
}

/// timerfd_settime(fd, flags, new, old).
pub fn timerfd_settime(t: &mut TaskCtx, fd: Fd, flags: u32, new: u64, old: u64) -> SysResult {
    if flags & !(TFD_TIMER_ABSTIME | TFD_TIMER_CANCEL_ON_SET) != 0 {
        return Err(Errno::EINVAL.into());
    }
    let (interval, value) = {
        let mm = t.mm();
        let interval = UserPtr::<Timespec>::new(new).read(&mm)?;
        let value = UserPtr::<Timespec>::new(new.wrapping_add(16)).read(&mm)?;
        (interval.to_duration()?, value.to_duration()?)
    };
    let f = lookup(t, fd)?;
    let tfd = f.ops.as_timerfd().ok_or(Errno::EINVAL)?;
    let abs_now = (flags & TFD_TIMER_ABSTIME != 0).then(|| {
        let base = match tfd.clock() {
            id::REALTIME_ALARM => id::REALTIME,
            id::BOOTTIME_ALARM => id::BOOTTIME,
            c => c,
        };
        super::time::clock_now(base, &t.task.kernel)
    });
    let prev = tfd.set(value, interval, abs_now);
    if old != 0 {
        write_itimerspec(t, old, prev)?;
    }
    Ok(0)
}

/// timerfd_gettime(fd, curr).
pub fn timerfd_gettime(t: &mut TaskCtx, fd: Fd, curr: u64) -> SysResult {
    let f = lookup(t, fd)?;
    let s = f.ops.as_timerfd().ok_or(Errno::EINVAL)?.get();
    write_itimerspec(t, curr, s)?;
    Ok(0)
}

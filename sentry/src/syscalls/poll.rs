//! Waiting for readiness: poll, ppoll, and epoll (create, ctl, wait,
//! pwait, pwait2). Readiness is sampled in short slices while the task
//! sleeps interruptibly (files do not yet all notify wait queues).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::errno::Errno;
use crate::fs::OpenFile;
use crate::fs::epoll::Epoll;
use crate::kernel::signal::SigSet;
use crate::kernel::task::{ERESTARTNOHAND, SysResult, TaskCtx};
use crate::kernel::wait;

/// How often the host's streams, which cannot wake a sleeper, are sampled.
const SLICE: Duration = Duration::from_millis(2);

/// Sleeps until a readiness change, `deadline`, or (when some polled file
/// cannot notify) the next sampling slice; Err on a signal.
fn nap(
    guard: wait::WaitGuard<'_>,
    deadline: Option<Instant>,
    all_notify: bool,
) -> Result<(), Errno> {
    let until = if all_notify {
        deadline
    } else {
        let slice = Instant::now() + SLICE;
        Some(deadline.map_or(slice, |d| d.min(slice)))
    };
    guard.sleep(until).map(|_| ())
}

/// Installs a temporary signal mask (ppoll, epoll_pwait); the old one comes
/// back when the call returns or after the handler of the signal that
/// interrupted it, as rt_sigsuspend does.
fn with_mask(t: &TaskCtx, sigmask: u64, size: u64) -> Result<Option<SigSet>, Errno> {
    if sigmask == 0 {
        return Ok(None);
    }
    if size != 8 {
        return Err(Errno::EINVAL);
    }
    let m = SigSet(t.mm().read_u64(sigmask)?).unblockable_removed();
    let mut s = t.task.sig.lock();
    let old = s.blocked;
    s.blocked = m;
    Ok(Some(old))
}

fn restore_mask(t: &TaskCtx, old: Option<SigSet>, interrupted: bool) {
    if let Some(old) = old {
        let mut s = t.task.sig.lock();
        if interrupted {
            // Restored after the handler runs (the frame saves `old`).
            s.saved_mask = Some(old);
        } else {
            s.blocked = old;
        }
    }
}

fn do_poll(t: &mut TaskCtx, fds: u64, nfds: u64, deadline: Option<Instant>) -> SysResult {
    if nfds > crate::fs::NOFILE as u64 {
        return Err(Errno::EINVAL.into());
    }
    let mm = t.mm();
    let mut raw = vec![0u8; nfds as usize * 8];
    mm.read(fds, &mut raw)?;
    loop {
        let guard = t.task.kernel.readiness.prepare(&*t.task);
        let mut ready = 0;
        let mut all_notify = true;
        let files = t.task.files();
        for c in raw.chunks_exact_mut(8) {
            let fd = i32::from_le_bytes(c[..4].try_into().expect("4 bytes"));
            let events = u16::from_le_bytes(c[4..6].try_into().expect("2 bytes"));
            let rev = if fd < 0 {
                0
            } else {
                match files.get(fd as i64) {
                    Ok(f) => {
                        all_notify &= f.ops.notifies();
                        f.ops.poll() & (events | 0x18)
                    }
                    Err(_) => 0x20, // POLLNVAL
                }
            };
            c[6..8].copy_from_slice(&rev.to_le_bytes());
            if rev != 0 {
                ready += 1;
            }
        }
        if ready > 0 || deadline.is_some_and(|d| Instant::now() >= d) {
            mm.write(fds, &raw)?;
            return Ok(ready);
        }
        if nap(guard, deadline, all_notify).is_err() {
            return Err(ERESTARTNOHAND.into());
        }
    }
}

/// poll(fds, nfds, timeout_ms).
pub fn poll(t: &mut TaskCtx, fds: u64, nfds: u64, timeout: u64) -> SysResult {
    let timeout = timeout as i32;
    let deadline = (timeout >= 0).then(|| Instant::now() + Duration::from_millis(timeout as u64));
    do_poll(t, fds, nfds, deadline)
}

fn read_timespec(t: &TaskCtx, addr: u64) -> Result<Duration, Errno> {
    super::time::read_timespec_at(&t.mm(), addr)
}

/// ppoll(fds, nfds, tmo_p, sigmask, sigsetsize).
pub fn ppoll(t: &mut TaskCtx, a: [u64; 6]) -> SysResult {
    let deadline = if a[2] == 0 {
        None
    } else {
        Some(crate::kernel::wait::deadline_after(read_timespec(t, a[2])?))
    };
    let old = with_mask(t, a[3], a[4])?;
    let r = do_poll(t, a[0], a[1], deadline);
    restore_mask(t, old, r.is_err());
    r
}

fn epoll_of(t: &TaskCtx, epfd: u64) -> Result<Arc<OpenFile>, Errno> {
    let f = t.task.files().get(epfd as i64)?;
    if f.ops.as_epoll().is_none() {
        return Err(Errno::EINVAL);
    }
    Ok(f)
}

/// epoll_create1(flags).
pub fn epoll_create1(t: &mut TaskCtx, flags: u64) -> SysResult {
    let flags = flags as u32;
    if flags & !crate::fs::O_CLOEXEC != 0 {
        return Err(Errno::EINVAL.into());
    }
    let f = OpenFile::new(Box::new(Epoll::default()), 2);
    Ok(t.task.files().insert(f, flags != 0, 0)? as u64)
}

/// epoll_create(size).
pub fn epoll_create(t: &mut TaskCtx, size: u64) -> SysResult {
    if size as i32 <= 0 {
        return Err(Errno::EINVAL.into());
    }
    epoll_create1(t, 0)
}

/// epoll_ctl(epfd, op, fd, event).
pub fn epoll_ctl(t: &mut TaskCtx, epfd: u64, op: u64, fd: u64, event: u64) -> SysResult {
    let files = t.task.files();
    let ep = files.get(epfd as i64)?;
    let target = files.get(fd as i64)?;
    let Some(epoll) = ep.ops.as_epoll() else {
        return Err(Errno::EINVAL.into());
    };
    if Arc::ptr_eq(&ep, &target) {
        return Err(Errno::EINVAL.into());
    }
    let op = op as u32;
    let (events, data) = if op == 2 {
        (0, 0)
    } else {
        let mut b = [0u8; 12];
        t.mm().read(event, &mut b)?;
        (
            u32::from_le_bytes(b[..4].try_into().expect("4 bytes")),
            u64::from_le_bytes(b[4..].try_into().expect("8 bytes")),
        )
    };
    epoll.ctl(op, fd as i32, &target, events, data)?;
    Ok(0)
}

fn do_epoll_wait(
    t: &mut TaskCtx,
    epfd: u64,
    events: u64,
    max: u64,
    deadline: Option<Instant>,
) -> SysResult {
    let max = max as i32;
    if max <= 0 || max as usize > (i32::MAX as usize / 12) {
        return Err(Errno::EINVAL.into());
    }
    let ep = epoll_of(t, epfd)?;
    let epoll = ep.ops.as_epoll().expect("checked by epoll_of");
    loop {
        let guard = t.task.kernel.readiness.prepare(&*t.task);
        let ready = epoll.ready(max as usize);
        if !ready.is_empty() {
            let mut b = Vec::with_capacity(ready.len() * 12);
            for (ev, data) in &ready {
                b.extend_from_slice(&ev.to_le_bytes());
                b.extend_from_slice(&data.to_le_bytes());
            }
            t.mm().write(events, &b)?;
            return Ok(ready.len() as u64);
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            return Ok(0);
        }
        if nap(guard, deadline, epoll.all_notify()).is_err() {
            return Err(Errno::EINTR.into());
        }
    }
}

fn ms_deadline(timeout: u64) -> Option<Instant> {
    let timeout = timeout as i32;
    (timeout >= 0).then(|| Instant::now() + Duration::from_millis(timeout as u64))
}

/// epoll_wait(epfd, events, maxevents, timeout).
pub fn epoll_wait(t: &mut TaskCtx, epfd: u64, events: u64, max: u64, timeout: u64) -> SysResult {
    do_epoll_wait(t, epfd, events, max, ms_deadline(timeout))
}

/// epoll_pwait(epfd, events, maxevents, timeout, sigmask, sigsetsize).
pub fn epoll_pwait(t: &mut TaskCtx, a: [u64; 6]) -> SysResult {
    let old = with_mask(t, a[4], a[5])?;
    let r = do_epoll_wait(t, a[0], a[1], a[2], ms_deadline(a[3]));
    restore_mask(t, old, r.is_err());
    r
}

/// epoll_pwait2(epfd, events, maxevents, timeout, sigmask, sigsetsize).
pub fn epoll_pwait2(t: &mut TaskCtx, a: [u64; 6]) -> SysResult {
    let deadline = if a[3] == 0 {
        None
    } else {
        Some(crate::kernel::wait::deadline_after(read_timespec(t, a[3])?))
    };
    let old = with_mask(t, a[4], a[5])?;
    let r = do_epoll_wait(t, a[0], a[1], a[2], deadline);
    restore_mask(t, old, r.is_err());
    r
}

//! Waiting for readiness: poll, ppoll, and epoll (create, ctl, wait,
//! pwait, pwait2). Readiness is sampled in short slices while the task
//! sleeps interruptibly (files do not yet all notify wait queues).

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::abi::fs::{EpollEvent, PollFd};
use crate::abi::time::Timespec;
use crate::abi::{Abi, Fd, UserPtr};
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
pub(super) fn with_mask(
    t: &TaskCtx,
    sigmask: Option<UserPtr<SigSet>>,
    size: u64,
) -> Result<Option<SigSet>, Errno> {
    let Some(sigmask) = sigmask else {
        return Ok(None);
    };
    if size != 8 {
        return Err(Errno::EINVAL);
    }
    let m = sigmask.read(&t.mm())?.unblockable_removed();
    let mut s = t.task.sig.lock();
    let old = s.blocked;
    s.blocked = m;
    Ok(Some(old))
}

pub(super) fn restore_mask(t: &TaskCtx, old: Option<SigSet>, interrupted: bool) {
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

fn do_poll(
    t: &mut TaskCtx,
    fds: UserPtr<PollFd>,
    nfds: u32,
    deadline: Option<Instant>,
) -> SysResult {
    if u64::from(nfds) > t.task.files().nofile() {
        return Err(Errno::EINVAL.into());
    }
    let mm = t.mm();
    let mut pollfds = fds.read_array(&mm, nfds as usize)?;
    loop {
        let guard = t.task.kernel.readiness.prepare(&*t.task);
        let mut ready = 0;
        let mut all_notify = true;
        let files = t.task.files();
        for p in pollfds.iter_mut() {
            p.revents = if p.fd < 0 {
                0
            } else {
                match files.get(i64::from(p.fd)) {
                    Ok(f) => {
                        all_notify &= f.ops.notifies();
                        f.ops.poll() & (p.events | 0x18)
                    }
                    Err(_) => 0x20, // POLLNVAL
                }
            };
            if p.revents != 0 {
                ready += 1;
            }
        }
        if ready > 0 || deadline.is_some_and(|d| Instant::now() >= d) {
            fds.write_array(&mm, &pollfds)?;
            return Ok(ready);
        }
        if nap(guard, deadline, all_notify).is_err() {
            return Err(ERESTARTNOHAND.into());
        }
    }
}

/// poll(fds, nfds, timeout_ms): `nfds` is an `unsigned int`, the
/// timeout an `int` (negative: no timeout).
pub fn poll(t: &mut TaskCtx, fds: UserPtr<PollFd>, nfds: u32, timeout: i32) -> SysResult {
    do_poll(t, fds, nfds, ms_deadline(timeout))
}

/// A relative timeout as a deadline (`None`: wait forever).
fn timespec_deadline(t: &TaskCtx, ts: Option<UserPtr<Timespec>>) -> Result<Option<Instant>, Errno> {
    match ts {
        None => Ok(None),
        Some(ts) => Ok(Some(wait::deadline_after(super::time::read_timespec(
            &t.mm(),
            ts,
        )?))),
    }
}

/// ppoll(fds, nfds, tmo_p, sigmask, sigsetsize).
pub fn ppoll(
    t: &mut TaskCtx,
    fds: UserPtr<PollFd>,
    nfds: u32,
    tmo: Option<UserPtr<Timespec>>,
    sigmask: Option<UserPtr<SigSet>>,
    size: u64,
) -> SysResult {
    let deadline = timespec_deadline(t, tmo)?;
    let old = with_mask(t, sigmask, size)?;
    let r = do_poll(t, fds, nfds, deadline);
    restore_mask(t, old, r.is_err());
    r
}

fn epoll_of(t: &TaskCtx, epfd: Fd) -> Result<Arc<OpenFile>, Errno> {
    let f = t.task.files().get(i64::from(epfd.0))?;
    if f.ops.as_epoll().is_none() {
        return Err(Errno::EINVAL);
    }
    Ok(f)
}

/// epoll_create1(flags).
pub fn epoll_create1(t: &mut TaskCtx, flags: u32) -> SysResult {
    if flags & !crate::fs::O_CLOEXEC != 0 {
        return Err(Errno::EINVAL.into());
    }
    let f = OpenFile::new(Box::new(Epoll::default()), 2);
    Ok(t.task.files().insert(f, flags != 0, 0)? as u64)
}

/// epoll_create(size).
pub fn epoll_create(t: &mut TaskCtx, size: i32) -> SysResult {
    if size <= 0 {
        return Err(Errno::EINVAL.into());
    }
    epoll_create1(t, 0)
}

/// epoll_ctl(epfd, op, fd, event).
pub fn epoll_ctl(
    t: &mut TaskCtx,
    epfd: Fd,
    op: i32,
    fd: Fd,
    event: UserPtr<EpollEvent>,
) -> SysResult {
    const EPOLL_CTL_DEL: i32 = 2;
    let files = t.task.files();
    let ep = files.get(i64::from(epfd.0))?;
    let target = files.get(i64::from(fd.0))?;
    let Some(epoll) = ep.ops.as_epoll() else {
        return Err(Errno::EINVAL.into());
    };
    if Arc::ptr_eq(&ep, &target) {
        return Err(Errno::EINVAL.into());
    }
    let ev = if op == EPOLL_CTL_DEL {
        EpollEvent::default()
    } else {
        event.read(&t.mm())?
    };
    epoll.ctl(op as u32, fd.0, &target, ev.events, ev.data)?;
    if op != EPOLL_CTL_DEL {
        // An item added (or re-armed) while ready wakes the threads already
        // waiting on this epoll, as ep_insert and ep_modify do: a Go
        // runtime adds a socket whose non-blocking connect has completed
        // while another thread sleeps in epoll_pwait without a timeout.
        t.task.kernel.readiness.notify_all();
    }
    Ok(0)
}

fn do_epoll_wait(
    t: &mut TaskCtx,
    epfd: Fd,
    events: UserPtr<EpollEvent>,
    max: i32,
    deadline: Option<Instant>,
) -> SysResult {
    if max <= 0 || max as usize > (i32::MAX as usize / EpollEvent::SIZE) {
        return Err(Errno::EINVAL.into());
    }
    let ep = epoll_of(t, epfd)?;
    let epoll = ep.ops.as_epoll().expect("checked by epoll_of");
    loop {
        let guard = t.task.kernel.readiness.prepare(&*t.task);
        let ready = epoll.ready(max as usize);
        if !ready.is_empty() {
            let out: Vec<EpollEvent> = ready
                .iter()
                .map(|&(events, data)| EpollEvent { events, data })
                .collect();
            events.write_array(&t.mm(), &out)?;
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

/// A timeout in milliseconds (an `int`; negative: none) as a deadline.
fn ms_deadline(timeout: i32) -> Option<Instant> {
    (timeout >= 0).then(|| Instant::now() + Duration::from_millis(timeout as u64))
}

/// epoll_wait(epfd, events, maxevents, timeout).
pub fn epoll_wait(
    t: &mut TaskCtx,
    epfd: Fd,
    events: UserPtr<EpollEvent>,
    max: i32,
    timeout: i32,
) -> SysResult {
    do_epoll_wait(t, epfd, events, max, ms_deadline(timeout))
}

/// epoll_pwait(epfd, events, maxevents, timeout, sigmask, sigsetsize).
pub fn epoll_pwait(
    t: &mut TaskCtx,
    epfd: Fd,
    events: UserPtr<EpollEvent>,
    max: i32,
    timeout: i32,
    sigmask: Option<UserPtr<SigSet>>,
    size: u64,
) -> SysResult {
    let old = with_mask(t, sigmask, size)?;
    let r = do_epoll_wait(t, epfd, events, max, ms_deadline(timeout));
    restore_mask(t, old, r.is_err());
    r
}

/// epoll_pwait2(epfd, events, maxevents, timeout, sigmask, sigsetsize).
pub fn epoll_pwait2(
    t: &mut TaskCtx,
    epfd: Fd,
    events: UserPtr<EpollEvent>,
    max: i32,
    timeout: Option<UserPtr<Timespec>>,
    sigmask: Option<UserPtr<SigSet>>,
    size: u64,
) -> SysResult {
    let deadline = timespec_deadline(t, timeout)?;
    let old = with_mask(t, sigmask, size)?;
    let r = do_epoll_wait(t, epfd, events, max, deadline);
    restore_mask(t, old, r.is_err());
    r
}

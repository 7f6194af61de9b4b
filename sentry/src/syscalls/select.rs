//! select and pselect6 (Linux's fs/select.c core_sys_select): descriptor
//! bitmaps turned into the same readiness checks as poll, sampled while
//! the task sleeps interruptibly; the remaining time is written back, as
//! Linux does.

use std::time::{Duration, Instant};

use crate::abi::UserPtr;
use crate::abi::time::Timespec;
use crate::errno::Errno;
use crate::fs::poll::{POLLERR, POLLHUP, POLLIN, POLLOUT};
use crate::kernel::signal::SigSet;
use crate::kernel::task::{ERESTARTNOHAND, SysError, SysResult, TaskCtx};
use crate::kernel::wait;

/// What makes a descriptor ready in each set (Linux's POLLIN_SET,
/// POLLOUT_SET, POLLEX_SET).
const IN_SET: u16 = POLLIN | 0x40 | 0x80 | POLLHUP | POLLERR; // RDNORM, RDBAND
const OUT_SET: u16 = POLLOUT | 0x100 | 0x200 | POLLERR; // WRNORM, WRBAND
const EX_SET: u16 = 0x2; // POLLPRI

/// How often files that cannot wake a sleeper are sampled.
const SLICE: Duration = Duration::from_millis(2);

/// The three sets, `words` 64-bit words each (`None`: a NULL set).
type Sets = [Option<Vec<u64>>; 3];

fn read_set(t: &TaskCtx, addr: u64, words: usize) -> Result<Option<Vec<u64>>, Errno> {
    if addr == 0 {
        return Ok(None);
    }
    let mm = t.mm();
    let mut bytes = vec![0u8; words * 8];
    mm.read(addr, &mut bytes)?;
    Ok(Some(
        bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8 bytes")))
            .collect(),
    ))
}

fn write_set(t: &TaskCtx, addr: u64, set: &Option<Vec<u64>>) -> Result<(), Errno> {
    if let Some(words) = set {
        let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
        t.mm().write(addr, &bytes)?;
    }
    Ok(())
}

/// core_sys_select: waits until a descriptor of `sets` is ready or
/// `deadline`; the sets are replaced by the ready ones.
fn do_select(t: &mut TaskCtx, nfds: i32, addrs: [u64; 3], deadline: Option<Instant>) -> SysResult {
    if nfds < 0 {
        return Err(Errno::EINVAL.into());
    }
    let n = nfds.min(crate::fs::NOFILE) as usize;
    let words = n.div_ceil(64);
    let mut sets: Sets = [None, None, None];
    for (i, a) in addrs.iter().enumerate() {
        sets[i] = read_set(t, *a, words)?;
    }
    // Bits past `n` in the last word are not looked at, and come back 0.
    let wanted = |fd: usize, set: &Option<Vec<u64>>| {
        set.as_ref()
            .is_some_and(|w| w[fd / 64] & (1 << (fd % 64)) != 0)
    };
    let files = t.task.files();
    for fd in 0..n {
        if sets.iter().any(|s| wanted(fd, s)) {
            files.get(fd as i64)?;
        }
    }
    loop {
        let guard = t.task.kernel.readiness.prepare(&*t.task);
        let mut out: Sets = sets
            .iter()
            .map(|s| s.as_ref().map(|w| vec![0u64; w.len()]))
            .collect::<Vec<_>>()
            .try_into()
            .expect("three sets");
        let mut ready = 0u64;
        let mut all_notify = true;
        for fd in 0..n {
            if !sets.iter().any(|s| wanted(fd, s)) {
                continue;
            }
            let f = files.get(fd as i64)?;
            all_notify &= f.ops.notifies();
            let mask = f.ops.poll();
            for (i, bits) in [IN_SET, OUT_SET, EX_SET].into_iter().enumerate() {
                if wanted(fd, &sets[i])
                    && mask & bits != 0
                    && let Some(w) = out[i].as_mut()
                {
                    w[fd / 64] |= 1 << (fd % 64);
                    ready += 1;
                }
            }
        }
        if ready > 0 || deadline.is_some_and(|d| Instant::now() >= d) {
            for (i, a) in addrs.iter().enumerate() {
                write_set(t, *a, &out[i])?;
            }
            return Ok(ready);
        }
        let until = if all_notify {
            deadline
        } else {
            let slice = Instant::now() + SLICE;
            Some(deadline.map_or(slice, |d| d.min(slice)))
        };
        if guard.sleep(until).is_err() {
            return Err(ERESTARTNOHAND.into());
        }
    }
}

/// The time left until `deadline` (zero once past).
fn left(deadline: Instant) -> Duration {
    deadline.saturating_duration_since(Instant::now())
}

/// select(nfds, readfds, writefds, exceptfds, timeout): the timeout is a
/// `struct timeval`, updated with the time left.
pub fn select(t: &mut TaskCtx, nfds: i32, r: u64, w: u64, e: u64, tv: u64) -> SysResult {
    let deadline = if tv == 0 {
        None
    } else {
        let mm = t.mm();
        let sec = mm.read_u64(tv)? as i64;
        let usec = mm.read_u64(tv + 8)? as i64;
        // Linux's kern_select folds whole seconds of tv_usec into tv_sec;
        // what is negative after that is EINVAL.
        let sec = sec.saturating_add(usec / 1_000_000);
        let usec = usec % 1_000_000;
        if sec < 0 || usec < 0 {
            return Err(Errno::EINVAL.into());
        }
        Some(wait::deadline_after(
            Duration::from_secs(sec as u64) + Duration::from_micros(usec as u64),
        ))
    };
    let res = do_select(t, nfds, [r, w, e], deadline);
    if let Some(d) = deadline {
        let l = left(d);
        let mm = t.mm();
        // Linux ignores a failure to write the time back.
        let _ = mm.write_u64(tv, l.as_secs());
        let _ = mm.write_u64(tv + 8, u64::from(l.subsec_micros()));
    }
    res
}

/// pselect6(nfds, readfds, writefds, exceptfds, timeout, sig): the
/// timeout is a `struct timespec`, updated with the time left; `sig`
/// points to `{ const sigset_t *ss; size_t ss_len; }`, a mask installed
/// for the wait as ppoll's.
pub fn pselect6(
    t: &mut TaskCtx,
    nfds: i32,
    r: u64,
    w: u64,
    e: u64,
    ts: Option<UserPtr<Timespec>>,
    sig: u64,
) -> SysResult {
    let deadline = match ts {
        None => None,
        Some(p) => Some(wait::deadline_after(super::time::read_timespec(
            &t.mm(),
            p,
        )?)),
    };
    let (mask, size) = if sig == 0 {
        (0, 0)
    } else {
        let mm = t.mm();
        (mm.read_u64(sig)?, mm.read_u64(sig + 8)?)
    };
    let old = super::poll::with_mask(t, UserPtr::<SigSet>::nullable(mask), size)?;
    let res = do_select(t, nfds, [r, w, e], deadline);
    let interrupted = matches!(res, Err(SysError::Errno(ERESTARTNOHAND)));
    super::poll::restore_mask(t, old, interrupted);
    if let (Some(d), Some(p)) = (deadline, ts) {
        let _ = p.write(&t.mm(), &Timespec::from_duration(left(d)));
    }
    res
}

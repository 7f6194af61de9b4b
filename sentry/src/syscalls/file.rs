//! Descriptor syscalls: read, write, readv, writev, pread/pwrite (ESPIPE),
//! lseek, close, dup, dup2, dup3, fcntl, pipe, pipe2, ioctl, fstat,
//! and the descriptor-only stat.

use std::sync::Arc;

use crate::abi::fs::{Iovec, Stat as AbiStat};
use crate::abi::{Fd, UserPtr, UserSlice};
use crate::errno::Errno;
use crate::fs::pipe::new_pipe;
use crate::fs::{IoctlReply, O_CLOEXEC, O_NONBLOCK, OpenFile};
use crate::kernel::signal::{SigInfo, Signal, code};
use crate::kernel::task::{SysResult, TaskCtx};

/// Largest single transfer (as Linux's MAX_RW_COUNT).
const MAX_RW: u64 = 0x7fff_f000;
const IOV_MAX: u64 = 1024;
const O_ACCMODE: u32 = 3;
const O_WRONLY: u32 = 1;
const O_RDWR: u32 = 2;

fn readable(f: &OpenFile) -> bool {
    f.status() & O_ACCMODE != O_WRONLY
}

fn writable(f: &OpenFile) -> bool {
    matches!(f.status() & O_ACCMODE, O_WRONLY | O_RDWR)
}

/// EPIPE also sends SIGPIPE to the writer, as Linux's pipe_write.
pub(crate) fn epipe(t: &TaskCtx, e: Errno) -> Errno {
    if e == Errno::EPIPE {
        t.task.send_signal(SigInfo::from_process(
            Signal::SIGPIPE,
            code::SI_USER,
            t.task.tgid(),
            0,
        ));
    }
    e
}

/// [`epipe`] for a write to `file`: when it is one of the sentry's own
/// standard streams, init's SIGPIPE is not dropped
/// ([`crate::kernel::hostsig::host_output_broken`]).
pub(crate) fn epipe_to(t: &TaskCtx, file: &OpenFile, e: Errno) -> Errno {
    if e == Errno::EPIPE && file.ops.is_host_stream() {
        crate::kernel::hostsig::host_output_broken(&t.task);
    }
    epipe(t, e)
}

/// RLIMIT_FSIZE for a write of `len` bytes to `file` at `pos` (None: at
/// its position, or its end under O_APPEND), as Linux's
/// generic_write_check_limits: on a regular file, a write that starts at
/// or past the limit sends SIGXFSZ and fails with EFBIG; one that starts
/// below it is cut short at the limit.
pub(crate) fn fsize_room(
    t: &TaskCtx,
    file: &OpenFile,
    pos: Option<u64>,
    len: usize,
) -> Result<usize, Errno> {
    let limit = t
        .task
        .tg
        .limits
        .lock()
        .soft(crate::kernel::limits::resource::FSIZE);
    if limit == crate::kernel::limits::RLIM_INFINITY {
        return Ok(len);
    }
    let st = file.ops.stat();
    if st.mode & 0o170000 != 0o100000 {
        return Ok(len);
    }
    let pos = match pos {
        Some(p) => p,
        None if file.status() & crate::fs::O_APPEND != 0 => st.size.max(0) as u64,
        None => file.ops.seek(0, 1)?,
    };
    fsize_check(t, pos, limit)?;
    Ok(len.min(usize::try_from(limit - pos).unwrap_or(usize::MAX)))
}

/// SIGXFSZ and EFBIG when `pos` is at or past the RLIMIT_FSIZE `limit`.
pub(crate) fn fsize_check(t: &TaskCtx, pos: u64, limit: u64) -> Result<(), Errno> {
    if pos >= limit {
        t.task.send_signal(SigInfo::from_process(
            Signal::SIGXFSZ,
            code::SI_USER,
            t.task.tgid(),
            0,
        ));
        return Err(Errno::EFBIG);
    }
    Ok(())
}

/// read(fd, buf, count).
///
/// The file is asked for no more than the guest buffer can take, so a
/// buffer that turns bad part-way gets the bytes before the bad page and
/// the rest stays in the file (Linux copies page by page and stops at the
/// fault); EFAULT only when nothing could be copied.
pub fn read(t: &mut TaskCtx, fd: Fd, buf: UserSlice) -> SysResult {
    let file = t.task.files().get(i64::from(fd.0))?;
    if !readable(&file) {
        return Err(Errno::EBADF.into());
    }
    let count = (buf.len() as u64).min(MAX_RW) as usize;
    let buf = buf.addr();
    let mm = t.mm();
    // Check the buffer before blocking, as Linux's access_ok.
    if buf
        .checked_add(count as u64)
        .is_none_or(|e| e > crate::mm::TASK_SIZE)
    {
        return Err(Errno::EFAULT.into());
    }
    let room = mm.writable_prefix(buf, count as u64) as usize;
    let mut data = vec![0u8; room.min(CHUNK)];
    let (result, filled) = read_file(t, &file, &mut data, count);
    crate::fs::inotify::accessed(&file, *result.as_ref().unwrap_or(&0) as u64);
    let written = mm.write_prefix(buf, &data[..filled]);
    let n = result?;
    copied_out(written.min(n), n)
}

/// Reads from `file` into `data`, which holds what the guest buffer can
/// take of the `want` bytes asked for. Returns the result and how many
/// bytes of `data` to copy out (more than the result when a pipe buffer
/// was cut by the bad page: Linux copied that part before failing).
fn read_file(
    t: &TaskCtx,
    file: &OpenFile,
    data: &mut [u8],
    want: usize,
) -> (Result<usize, Errno>, usize) {
    let nonblock = file.nonblocking();
    if data.len() < want && data.len() < CHUNK {
        match file.ops.read_short(data, want, nonblock, &*t.task) {
            Some(r) => return r,
            None if data.is_empty() => return (read_nothing_fits(t, file), 0),
            None => {}
        }
    }
    match file.ops.read(data, nonblock, &*t.task) {
        Ok(n) => (Ok(n), n),
        Err(e) => (Err(e), 0),
    }
}

/// The result of copying `n` bytes out of which `written` reached the
/// guest: the count, or EFAULT if none did.
pub(crate) fn copied_out(written: usize, n: usize) -> SysResult {
    if written == 0 && n > 0 {
        Err(Errno::EFAULT.into())
    } else {
        Ok(written as u64)
    }
}

/// A read whose buffer cannot take a single byte. Linux still goes through
/// the read: it fails on a file that cannot be read, waits for data (or
/// returns 0 at end of file), and only then fails the copy with EFAULT,
/// leaving the data unread.
fn read_nothing_fits(t: &TaskCtx, file: &OpenFile) -> Result<usize, Errno> {
    use crate::fs::poll::{POLLERR, POLLHUP, POLLIN};
    // A zero-length read reports what comes before any copy (EISDIR,
    // EINVAL...) without consuming anything.
    file.ops.read(&mut [], true, &*t.task)?;
    // A seekable file: at its end the read returns 0 before any copy.
    if let Ok(off) = file.ops.seek(0, 1) {
        let mut probe = [0u8; 1];
        return match file.ops.pread(&mut probe, off) {
            Ok(0) => Ok(0),
            Ok(_) => Err(Errno::EFAULT),
            Err(e) => Err(e),
        };
    }
    loop {
        let guard = t.task.kernel.readiness.prepare(&*t.task);
        let ready = file.ops.poll();
        if ready & (POLLIN | POLLERR) != 0 {
            return Err(Errno::EFAULT);
        }
        if ready & POLLHUP != 0 {
            return Ok(0);
        }
        if file.nonblocking() {
            return Err(Errno::EAGAIN);
        }
        // Host streams do not wake the readiness queue: sample them.
        let deadline = (!file.ops.notifies())
            .then(|| crate::kernel::wait::deadline_after(std::time::Duration::from_millis(50)));
        guard.sleep(deadline)?;
    }
}

/// Guest data is moved in chunks of this size, so a huge count never
/// makes the sentry allocate more than this.
const CHUNK: usize = 1 << 20;

/// Writes the guest ranges `iov` to `file`, gathered into chunks (so a
/// small writev stays one atomic write, as Linux's pipe_write); returns the
/// bytes written. A fault or an error after some progress ends it short,
/// as in Linux.
fn write_ranges(t: &TaskCtx, file: &OpenFile, iov: &[(u64, u64)]) -> SysResult {
    let mm = t.mm();
    let mut pieces = iov.iter().copied().filter(|(_, l)| *l > 0);
    let mut current = pieces.next();
    let mut done: u64 = 0;
    let mut buf = Vec::with_capacity(CHUNK.min(iov.iter().map(|v| v.1 as usize).sum()));
    loop {
        // Gather up to CHUNK bytes.
        buf.clear();
        let mut fault = None;
        while let Some((base, len)) = current {
            let room = CHUNK - buf.len();
            if room == 0 || done + buf.len() as u64 >= MAX_RW {
                break;
            }
            let n = (len as usize).min(room);
            let start = buf.len();
            buf.resize(start + n, 0);
            let got = mm.read_prefix(base, &mut buf[start..]);
            if got < n {
                buf.truncate(start + got);
                fault = Some(Errno::EFAULT);
                break;
            }
            current = if n as u64 == len {
                pieces.next()
            } else {
                Some((base + n as u64, len - n as u64))
            };
        }
        if buf.is_empty() {
            return match fault {
                Some(e) if done == 0 => Err(e.into()),
                _ => Ok(done),
            };
        }
        match write_to(t, file, &buf) {
            Ok(w) => {
                done += w as u64;
                if w < buf.len() || fault.is_some() {
                    return Ok(done);
                }
            }
            Err(_) if done > 0 => return Ok(done),
            Err(e) => return Err(epipe_to(t, file, e).into()),
        }
    }
}

/// One write to `file` at its position, or at its end under O_APPEND.
pub(crate) fn write_to(t: &TaskCtx, file: &OpenFile, buf: &[u8]) -> Result<usize, Errno> {
    let buf = &buf[..fsize_room(t, file, None, buf.len())?];
    let r = if file.status() & crate::fs::O_APPEND != 0 {
        file.ops.append(buf, file.nonblocking(), &*t.task)
    } else {
        file.ops.write(buf, file.nonblocking(), &*t.task)
    };
    crate::fs::inotify::modified(file, *r.as_ref().unwrap_or(&0) as u64);
    r
}

/// write(fd, buf, count).
pub fn write(t: &mut TaskCtx, fd: Fd, buf: UserSlice) -> SysResult {
    let file = t.task.files().get(i64::from(fd.0))?;
    if !writable(&file) {
        return Err(Errno::EBADF.into());
    }
    if buf.is_empty() {
        return Ok(0);
    }
    write_ranges(t, &file, &[(buf.addr(), (buf.len() as u64).min(MAX_RW))])
}

/// The `(base, len)` ranges of the guest's `struct iovec` array at `iov`
/// (`cnt` is readv's `unsigned long vlen`): EINVAL for more than IOV_MAX
/// vectors or a total past `ssize_t`, EFAULT if the array is unreadable.
pub(crate) fn iovecs(t: &TaskCtx, iov: u64, cnt: u64) -> Result<Vec<(u64, u64)>, Errno> {
    if cnt > IOV_MAX {
        return Err(Errno::EINVAL);
    }
    let raw = UserPtr::<Iovec>::new(iov).read_array(&t.mm(), cnt as usize)?;
    let mut total: u64 = 0;
    let mut v = Vec::with_capacity(cnt as usize);
    for Iovec { base, len } in raw {
        if len > i64::MAX as u64 {
            return Err(Errno::EINVAL);
        }
        total = total.checked_add(len).ok_or(Errno::EINVAL)?;
        if total > i64::MAX as u64 {
            return Err(Errno::EINVAL);
        }
        v.push((base, len));
    }
    Ok(v)
}

/// readv(fd, iov, iovcnt): like [`read`], the file gives no more than the
/// vectors can take up to the first bad page.
pub fn readv(t: &mut TaskCtx, fd: Fd, iov: UserPtr<Iovec>, cnt: u64) -> SysResult {
    let file = t.task.files().get(i64::from(fd.0))?;
    if !readable(&file) {
        return Err(Errno::EBADF.into());
    }
    let v = iovecs(t, iov.addr(), cnt)?;
    let mm = t.mm();
    // What the guest asked for, and what its vectors take up to the first
    // bad page.
    let wanted: u64 = v.iter().map(|(_, l)| *l).sum::<u64>().min(MAX_RW);
    let mut total: u64 = 0;
    for &(base, len) in &v {
        let len = len.min(MAX_RW - total);
        let ok = mm.writable_prefix(base, len);
        total += ok;
        if ok < len || total >= MAX_RW {
            break;
        }
    }
    let mut data = vec![0u8; total.min(CHUNK as u64) as usize];
    let (result, filled) = read_file(t, &file, &mut data, wanted as usize);
    // Linux's vfs_readv reports an access even for 0 bytes.
    if result.is_ok() {
        crate::fs::inotify::accessed(&file, 1);
    }
    let mut off = 0;
    for (base, len) in v {
        if off >= filled {
            break;
        }
        let k = (len as usize).min(filled - off);
        let w = mm.write_prefix(base, &data[off..off + k]);
        off += w;
        if w < k {
            break;
        }
    }
    let n = result?;
    copied_out(off.min(n), n)
}

/// writev(fd, iov, iovcnt).
pub fn writev(t: &mut TaskCtx, fd: Fd, iov: UserPtr<Iovec>, cnt: u64) -> SysResult {
    let file = t.task.files().get(i64::from(fd.0))?;
    if !writable(&file) {
        return Err(Errno::EBADF.into());
    }
    let v = iovecs(t, iov.addr(), cnt)?;
    write_ranges(t, &file, &v)
}

/// Writes the guest ranges `iov` at `offset` (pwrite64, pwritev): in
/// chunks, stopping short at a fault or an error after some progress.
fn pwrite_ranges(t: &TaskCtx, file: &OpenFile, iov: &[(u64, u64)], offset: u64) -> SysResult {
    let mm = t.mm();
    let mut done: u64 = 0;
    let mut buf = Vec::new();
    for &(base, len) in iov.iter().filter(|v| v.1 > 0) {
        let mut at = 0u64;
        while at < len {
            let n = ((len - at) as usize)
                .min(CHUNK)
                .min((MAX_RW - done) as usize);
            if n == 0 {
                return Ok(done);
            }
            buf.resize(n, 0);
            let got = mm.read_prefix(base + at, &mut buf);
            if got == 0 {
                return if done == 0 {
                    Err(Errno::EFAULT.into())
                } else {
                    Ok(done)
                };
            }
            let pos = offset.checked_add(done).ok_or(Errno::EFBIG)?;
            let w = if file.status() & crate::fs::O_APPEND != 0 {
                // Linux's pwrite on an O_APPEND file appends.
                fsize_room(t, file, None, got)
                    .and_then(|room| file.ops.append(&buf[..room], file.nonblocking(), &*t.task))
            } else {
                fsize_room(t, file, Some(pos), got)
                    .and_then(|room| file.ops.pwrite(&buf[..room], pos))
            };
            match w {
                Ok(w) => {
                    done += w as u64;
                    at += w as u64;
                    if w < got || got < n {
                        return Ok(done);
                    }
                }
                Err(_) if done > 0 => return Ok(done),
                Err(e) => return Err(e.into()),
            }
        }
    }
    Ok(done)
}

/// The descriptor for pwrite/pwritev: open for writing (EBADF), with a
/// valid offset (EINVAL); pipes give ESPIPE.
fn pwrite_file(t: &TaskCtx, fd: Fd, offset: i64) -> Result<Arc<OpenFile>, Errno> {
    let file = t.task.files().get(i64::from(fd.0))?;
    if !writable(&file) || file.status() & 0o10000000 != 0 {
        return Err(Errno::EBADF);
    }
    if offset < 0 {
        return Err(Errno::EINVAL);
    }
    if file.ops.as_pipe().is_some() {
        return Err(Errno::ESPIPE);
    }
    Ok(file)
}

/// pwrite64(fd, buf, count, offset).
pub fn pwrite64(t: &mut TaskCtx, fd: Fd, buf: UserSlice, offset: i64) -> SysResult {
    let file = pwrite_file(t, fd, offset)?;
    if buf.is_empty() {
        return Ok(0);
    }
    let range = (buf.addr(), (buf.len() as u64).min(MAX_RW));
    let r = pwrite_ranges(t, &file, &[range], offset as u64);
    crate::fs::inotify::modified(&file, *r.as_ref().unwrap_or(&0));
    r
}

/// pwritev(fd, iov, iovcnt, pos_l, pos_h) and pwritev2(..., flags): an
/// offset of -1 (pwritev2) writes at the file's position, as writev.
pub fn pwritev2(
    t: &mut TaskCtx,
    fd: Fd,
    iov: UserPtr<Iovec>,
    cnt: u64,
    pos: i64,
    flags: u32,
) -> SysResult {
    // RWF_HIPRI, RWF_DSYNC, RWF_SYNC, RWF_NOWAIT, RWF_APPEND.
    if flags & !0x1f != 0 {
        return Err(Errno::EOPNOTSUPP.into());
    }
    if pos == -1 {
        return writev(t, fd, iov, cnt);
    }
    let file = pwrite_file(t, fd, pos)?;
    let v = iovecs(t, iov.addr(), cnt)?;
    let r = pwrite_ranges(t, &file, &v, pos as u64);
    crate::fs::inotify::modified(&file, *r.as_ref().unwrap_or(&0));
    r
}

/// preadv(fd, iov, iovcnt, pos_l, pos_h) and preadv2(..., flags).
pub fn preadv2(
    t: &mut TaskCtx,
    fd: Fd,
    iov: UserPtr<Iovec>,
    cnt: u64,
    pos: i64,
    flags: u32,
) -> SysResult {
    if flags & !0x1f != 0 {
        return Err(Errno::EOPNOTSUPP.into());
    }
    if pos == -1 {
        return readv(t, fd, iov, cnt);
    }
    let file = t.task.files().get(i64::from(fd.0))?;
    if !readable(&file) || file.status() & 0o10000000 != 0 {
        return Err(Errno::EBADF.into());
    }
    if pos < 0 {
        return Err(Errno::EINVAL.into());
    }
    let pos = pos as u64;
    let v = iovecs(t, iov.addr(), cnt)?;
    let r = preadv_ranges(t, &file, &v, pos);
    // As readv: an access even for 0 bytes.
    if r.is_ok() {
        crate::fs::inotify::accessed(&file, 1);
    }
    r
}

/// Reads at `pos` into the guest ranges `v` (preadv2 with an offset).
fn preadv_ranges(t: &TaskCtx, file: &OpenFile, v: &[(u64, u64)], pos: u64) -> SysResult {
    let mm = t.mm();
    let mut done: u64 = 0;
    for &(base, len) in v {
        let mut data = vec![0u8; (len as usize).min(CHUNK)];
        let mut at = 0u64;
        while at < len {
            let k = ((len - at) as usize).min(data.len());
            let n = match file.ops.pread(&mut data[..k], pos + done) {
                Ok(n) => n,
                Err(_) if done > 0 => return Ok(done),
                Err(e) => return Err(e.into()),
            };
            let w = mm.write_prefix(base + at, &data[..n]);
            done += w as u64;
            at += w as u64;
            if w < n {
                return if done == 0 {
                    Err(Errno::EFAULT.into())
                } else {
                    Ok(done)
                };
            }
            if n < k {
                return Ok(done);
            }
        }
    }
    Ok(done)
}

/// close(fd).
pub fn close(t: &mut TaskCtx, fd: Fd) -> SysResult {
    let f = t.task.files().remove(i64::from(fd.0))?;
    drop(f);
    Ok(0)
}

/// close_range(first, last, flags): closes (or, with
/// CLOSE_RANGE_CLOEXEC, marks close-on-exec) every open descriptor in
/// `[first, last]`; CLOSE_RANGE_UNSHARE first gives the caller a private
/// table when it shares one. EINVAL for unknown flags or `first > last`.
pub fn close_range(t: &mut TaskCtx, first: u32, last: u32, flags: u32) -> SysResult {
    const CLOSE_RANGE_UNSHARE: u32 = 1 << 1;
    const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;
    if flags & !(CLOSE_RANGE_UNSHARE | CLOSE_RANGE_CLOEXEC) != 0 || first > last {
        return Err(Errno::EINVAL.into());
    }
    if flags & CLOSE_RANGE_UNSHARE != 0 {
        let mut files = t.task.files.lock();
        if Arc::strong_count(&files) > 1 {
            *files = files.fork()?;
        }
    }
    let files = t.task.files();
    let (first, last) = (i64::from(first), i64::from(last));
    let fds: Vec<i64> = files
        .entries()
        .into_iter()
        .map(|(fd, _, _)| i64::from(fd))
        .filter(|fd| (first..=last).contains(fd))
        .collect();
    for fd in fds {
        if flags & CLOSE_RANGE_CLOEXEC != 0 {
            let _ = files.set_cloexec(fd, true);
        } else if let Ok(f) = files.remove(fd) {
            drop(f);
        }
    }
    Ok(0)
}

/// dup(fd).
pub fn dup(t: &mut TaskCtx, fd: Fd) -> SysResult {
    let files = t.task.files();
    let f = files.get(i64::from(fd.0))?;
    Ok(files.insert(f, false, 0)? as u64)
}

/// dup2(old, new).
pub fn dup2(t: &mut TaskCtx, old: Fd, new: Fd) -> SysResult {
    let files = t.task.files();
    let f = files.get(i64::from(old.0))?;
    let new = new.0;
    if old.0 == new {
        return Ok(new as u64);
    }
    let prev = files.insert_at(new, f, false)?;
    drop(prev);
    Ok(new as u64)
}

/// dup3(old, new, flags).
pub fn dup3(t: &mut TaskCtx, old: Fd, new: Fd, flags: u32) -> SysResult {
    let flags = u64::from(flags);
    if flags & !(O_CLOEXEC as u64) != 0 || old == new {
        return Err(Errno::EINVAL.into());
    }
    let files = t.task.files();
    let f = files.get(i64::from(old.0))?;
    let new = new.0;
    let prev = files.insert_at(new, f, flags != 0)?;
    drop(prev);
    Ok(new as u64)
}

/// fcntl(fd, cmd, arg).
pub fn fcntl(t: &mut TaskCtx, fd: Fd, cmd: u32, arg: u64) -> SysResult {
    let cmd = u64::from(cmd);
    const F_DUPFD: u64 = 0;
    const F_GETFD: u64 = 1;
    const F_SETFD: u64 = 2;
    const F_GETFL: u64 = 3;
    const F_SETFL: u64 = 4;
    const F_DUPFD_CLOEXEC: u64 = 1030;
    const F_SETPIPE_SZ: u64 = 1031;
    const F_GETPIPE_SZ: u64 = 1032;
    let files = t.task.files();
    let f = files.get(i64::from(fd.0))?;
    match cmd as u32 as u64 {
        F_DUPFD | F_DUPFD_CLOEXEC => {
            let min = i32::try_from(arg as i64).map_err(|_| Errno::EINVAL)?;
            // f_dupfd: EINVAL at or past RLIMIT_NOFILE.
            if min < 0 || min as u64 >= files.nofile() {
                return Err(Errno::EINVAL.into());
            }
            Ok(files.insert(f, cmd == F_DUPFD_CLOEXEC, min)? as u64)
        }
        F_GETFD => Ok(files.cloexec(i64::from(fd.0))? as u64),
        F_SETFD => {
            files.set_cloexec(i64::from(fd.0), arg & 1 != 0)?;
            Ok(0)
        }
        F_GETFL => Ok(f.status() as u64),
        F_SETFL => {
            f.set_status(arg as u32);
            Ok(0)
        }
        F_GETPIPE_SZ => Ok(f.ops.as_pipe().ok_or(Errno::EBADF)?.size() as u64),
        F_SETPIPE_SZ => {
            let p = f.ops.as_pipe().ok_or(Errno::EBADF)?;
            Ok(p.set_size(arg as u32 as u64)? as u64)
        }
        c @ (5..=7 | 36..=38) => super::lock::fcntl_lock(t, &f, c as u32, arg),
        crate::fs::memfd::F_ADD_SEALS | crate::fs::memfd::F_GET_SEALS => Ok(
            crate::fs::memfd::fcntl(&f, cmd as u32 as u64, arg as u32 as u64)?,
        ),
        _ => Err(Errno::EINVAL.into()),
    }
}

/// pipe2(fds, flags).
pub fn pipe2(t: &mut TaskCtx, fds: UserPtr<i32>, flags: u32) -> SysResult {
    const O_DIRECT: u64 = 0o40000;
    let flags = u64::from(flags);
    if flags & !(O_CLOEXEC | O_NONBLOCK) as u64 & !O_DIRECT != 0 {
        return Err(Errno::EINVAL.into());
    }
    let (r, w) = new_pipe(
        t.task.kernel.next_ino(),
        std::sync::Arc::clone(&t.task.kernel.machine),
        std::sync::Arc::clone(&t.task.kernel.readiness),
    );
    let status = (flags as u32) & O_NONBLOCK;
    let cloexec = flags & O_CLOEXEC as u64 != 0;
    let files = t.task.files();
    let rfd = files.insert(OpenFile::new(Box::new(r), status), cloexec, 0)?;
    let wfd = match files.insert(OpenFile::new(Box::new(w), status | O_WRONLY), cloexec, 0) {
        Ok(fd) => fd,
        Err(e) => {
            let _ = files.remove(rfd as i64);
            return Err(e.into());
        }
    };
    if let Err(e) = fds.write_array(&t.mm(), &[rfd, wfd]) {
        let _ = files.remove(rfd as i64);
        let _ = files.remove(wfd as i64);
        return Err(e.into());
    }
    Ok(0)
}

/// ioctl(fd, request, arg).
pub fn ioctl(t: &mut TaskCtx, fd: Fd, request: u32, arg: u64) -> SysResult {
    let request = u64::from(request);
    const FIONBIO: u64 = 0x5421;
    const FIOCLEX: u64 = 0x5451;
    const FIONCLEX: u64 = 0x5450;
    let files = t.task.files();
    let f = files.get(i64::from(fd.0))?;
    match request & 0xffff_ffff {
        FIOCLEX => {
            return files
                .set_cloexec(i64::from(fd.0), true)
                .map(|_| 0)
                .map_err(Into::into);
        }
        FIONCLEX => {
            return files
                .set_cloexec(i64::from(fd.0), false)
                .map(|_| 0)
                .map_err(Into::into);
        }
        FIONBIO => {
            let on = t.mm().read_u32(arg)? != 0;
            let st = f.status();
            f.set_status(if on {
                st | O_NONBLOCK
            } else {
                st & !O_NONBLOCK
            });
            return Ok(0);
        }
        _ => {}
    }
    if let Some(tf) = f.ops.as_terminal() {
        let term = Arc::clone(tf.terminal());
        return super::tty::ioctl(t, &term, request & 0xffff_ffff, arg);
    }
    if (f.ops.as_unix_socket().is_some()
        || f.ops.as_inet_socket().is_some()
        || f.ops.as_netlink_socket().is_some())
        && let Some(r) = super::net::ifreq_ioctl(t, request & 0xffff_ffff, arg)
    {
        return r;
    }
    match f.ops.ioctl(request & 0xffff_ffff)? {
        IoctlReply::Bytes(bytes, ret) => {
            t.mm().write(arg, &bytes)?;
            Ok(ret)
        }
    }
}

fn stat_out(t: &TaskCtx, file: &Arc<OpenFile>, buf: UserPtr<AbiStat>) -> SysResult {
    let st = file.ops.stat();
    buf.write(&t.mm(), &st.to_abi())?;
    Ok(0)
}

/// fstat(fd, statbuf).
pub fn fstat(t: &mut TaskCtx, fd: Fd, buf: UserPtr<AbiStat>) -> SysResult {
    let f = t.task.files().get(i64::from(fd.0))?;
    stat_out(t, &f, buf)
}

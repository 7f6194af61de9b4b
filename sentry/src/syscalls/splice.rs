//! Moving data between descriptors without the guest's memory: splice,
//! tee, vmsplice and copy_file_range, with Linux's order of checks
//! (fs/splice.c, fs/read_write.c). The sentry copies through its own
//! buffers (at most [`CHUNK`] at a time), never through guest memory.

use std::sync::Arc;

use crate::abi::Fd;
use crate::errno::Errno;
use crate::fs::pipe::PipeEnd;
use crate::fs::{FileOps, OpenFile};
use crate::kernel::task::{SysResult, TaskCtx};

/// `SPLICE_F_NONBLOCK`.
const SPLICE_F_NONBLOCK: u32 = 2;
/// Every splice flag (MOVE, NONBLOCK, MORE, GIFT).
const SPLICE_F_ALL: u32 = 0xf;
/// Largest piece moved at once.
const CHUNK: usize = 1 << 20;
/// Largest single transfer (Linux's MAX_RW_COUNT).
const MAX_RW: u64 = 0x7fff_f000;
const O_PATH: u32 = 0o10000000;
const S_IFMT: u32 = 0o170000;
const S_IFREG: u32 = 0o100000;
const S_IFDIR: u32 = 0o040000;

/// The file behind `fd` (EBADF for O_PATH descriptors, as Linux's fdget).
fn file(t: &TaskCtx, fd: Fd) -> Result<Arc<OpenFile>, Errno> {
    let f = t.task.files().get(fd.0 as i64)?;
    if f.status() & O_PATH != 0 {
        return Err(Errno::EBADF);
    }
    Ok(f)
}

fn can_read(f: &OpenFile) -> bool {
    f.status() & 3 != 1
}

fn can_write(f: &OpenFile) -> bool {
    matches!(f.status() & 3, 1 | 2)
}

/// Reads a guest `loff_t` (None for a null pointer).
fn read_off(t: &TaskCtx, p: u64) -> Result<Option<i64>, Errno> {
    if p == 0 {
        return Ok(None);
    }
    Ok(Some(t.mm().read_u64(p)? as i64))
}

/// Reads up to `buf.len()` bytes of a file at `offset`, or at its
/// position (advanced by what was read) when `offset` is None; files
/// without a position are read as a stream.
fn file_read(
    t: &TaskCtx,
    f: &OpenFile,
    buf: &mut [u8],
    offset: Option<u64>,
) -> Result<usize, Errno> {
    match offset {
        Some(o) => f.ops.pread(buf, o),
        None => match f.ops.seek(0, 1) {
            Ok(pos) => match f.ops.pread(buf, pos) {
                Ok(n) => {
                    f.ops.seek((pos + n as u64) as i64, 0)?;
                    Ok(n)
                }
                // A device with a position but no pread (/dev/zero).
                Err(Errno::ESPIPE) => f.ops.read(buf, f.nonblocking(), &*t.task),
                Err(e) => Err(e),
            },
            Err(_) => f.ops.read(buf, f.nonblocking(), &*t.task),
        },
    }
}

/// Writes `buf` to a file at `offset`, or at its position.
fn file_write(t: &TaskCtx, f: &OpenFile, buf: &[u8], offset: Option<u64>) -> Result<usize, Errno> {
    match offset {
        Some(o) => super::file::fsize_room(t, f, Some(o), buf.len())
            .and_then(|room| f.ops.pwrite(&buf[..room], o)),
        None => super::file::write_to(t, f, buf),
    }
}

/// splice(fd_in, off_in, fd_out, off_out, len, flags).
pub fn splice(
    t: &mut TaskCtx,
    fd_in: Fd,
    off_in: u64,
    fd_out: Fd,
    off_out: u64,
    len: u64,
    flags: u32,
) -> SysResult {
    if len == 0 {
        return Ok(0);
    }
    if flags & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL.into());
    }
    let input = file(t, fd_in)?;
    let output = file(t, fd_out)?;
    let ipipe = input.ops.as_pipe();
    let opipe = output.ops.as_pipe();
    if (ipipe.is_some() && off_in != 0) || (opipe.is_some() && off_out != 0) {
        return Err(Errno::ESPIPE.into());
    }
    let oin = read_off(t, off_in)?;
    let oout = read_off(t, off_out)?;
    if !can_read(&input) || !can_write(&output) {
        return Err(Errno::EBADF.into());
    }
    let len = len.min(MAX_RW) as usize;
    let mut nonblock = flags & SPLICE_F_NONBLOCK != 0;
    match (ipipe, opipe) {
        (Some(ip), Some(op)) => {
            if ip.same_pipe(op) {
                return Err(Errno::EINVAL.into());
            }
            nonblock |= input.nonblocking() || output.nonblocking();
            pipe_to_pipe(t, ip, op, len, nonblock, false)
        }
        (Some(ip), None) => {
            if output.status() & crate::fs::O_APPEND != 0 {
                return Err(Errno::EINVAL.into());
            }
            if oout.is_some_and(|o| o < 0) {
                return Err(Errno::EINVAL.into());
            }
            nonblock |= input.nonblocking();
            if !ip.wait_data(nonblock, &*t.task)? {
                return Ok(0);
            }
            let mut buf = vec![0u8; len.min(CHUNK)];
            let n = ip.read(&mut buf, true, &*t.task)?;
            let w = file_write(t, &output, &buf[..n], oout.map(|o| o as u64))?;
            if let Some(o) = oout {
                t.mm().write_u64(off_out, (o as u64) + w as u64)?;
            }
            Ok(w as u64)
        }
        (None, Some(op)) => {
            if oin.is_some_and(|o| o < 0) {
                return Err(Errno::EINVAL.into());
            }
            nonblock |= output.nonblocking();
            let room = op
                .wait_room(nonblock, &*t.task)
                .map_err(|e| super::file::epipe(t, e))?;
            let mut buf = vec![0u8; len.min(room).min(CHUNK)];
            let n = file_read(t, &input, &mut buf, oin.map(|o| o as u64))?;
            if n == 0 {
                return Ok(0);
            }
            let w = op
                .write(&buf[..n], true, &*t.task)
                .map_err(|e| super::file::epipe(t, e))?;
            if let Some(o) = oin {
                t.mm().write_u64(off_in, (o as u64) + w as u64)?;
            }
            Ok(w as u64)
        }
        (None, None) => Err(Errno::EINVAL.into()),
    }
}

/// Moves (or, for tee, copies) up to `len` bytes from `ip` to `op`:
/// waits for data (0 when no writer is left), then for room.
fn pipe_to_pipe(
    t: &TaskCtx,
    ip: &PipeEnd,
    op: &PipeEnd,
    len: usize,
    nonblock: bool,
    copy: bool,
) -> SysResult {
    if !ip.wait_data(nonblock, &*t.task)? {
        return Ok(0);
    }
    let room = op
        .wait_room(nonblock, &*t.task)
        .map_err(|e| super::file::epipe(t, e))?;
    let mut buf = vec![0u8; len.min(room).min(CHUNK)];
    let n = if copy {
        ip.peek(&mut buf)
    } else {
        ip.read(&mut buf, true, &*t.task)?
    };
    let w = op
        .write(&buf[..n], true, &*t.task)
        .map_err(|e| super::file::epipe(t, e))?;
    Ok(w as u64)
}

/// tee(fd_in, fd_out, len, flags).
pub fn tee(t: &mut TaskCtx, fd_in: Fd, fd_out: Fd, len: u64, flags: u32) -> SysResult {
    if flags & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL.into());
    }
    if len == 0 {
        return Ok(0);
    }
    let input = file(t, fd_in)?;
    let output = file(t, fd_out)?;
    if !can_read(&input) || !can_write(&output) {
        return Err(Errno::EBADF.into());
    }
    match (input.ops.as_pipe(), output.ops.as_pipe()) {
        (Some(ip), Some(op)) if !ip.same_pipe(op) => {
            let nonblock =
                flags & SPLICE_F_NONBLOCK != 0 || input.nonblocking() || output.nonblocking();
            pipe_to_pipe(t, ip, op, len.min(MAX_RW) as usize, nonblock, true)
        }
        _ => Err(Errno::EINVAL.into()),
    }
}

/// vmsplice(fd, iov, nr_segs, flags): guest memory into a pipe's writing
/// end, or out of its reading end into guest memory.
pub fn vmsplice(t: &mut TaskCtx, fd: Fd, iov: u64, nr_segs: u64, flags: u32) -> SysResult {
    if flags & !SPLICE_F_ALL != 0 {
        return Err(Errno::EINVAL.into());
    }
    let f = file(t, fd)?;
    let to_pipe = match f.status() & 3 {
        1 | 2 => true,
        0 => false,
        _ => return Err(Errno::EBADF.into()),
    };
    let v = super::file::iovecs(t, iov, nr_segs)?;
    let total: u64 = v.iter().map(|(_, l)| *l).sum::<u64>().min(MAX_RW);
    if total == 0 {
        return Ok(0);
    }
    let pipe = f.ops.as_pipe().ok_or(Errno::EBADF)?;
    let nonblock = flags & SPLICE_F_NONBLOCK != 0 || f.nonblocking();
    let mm = t.mm();
    let want = (total as usize).min(CHUNK);
    if to_pipe {
        let mut buf = Vec::with_capacity(want);
        for &(base, len) in &v {
            let n = (len as usize).min(want - buf.len());
            let start = buf.len();
            buf.resize(start + n, 0);
            let got = mm.read_prefix(base, &mut buf[start..]);
            if got < n {
                buf.truncate(start + got);
                break;
            }
            if buf.len() == want {
                break;
            }
        }
        if buf.is_empty() {
            return Err(Errno::EFAULT.into());
        }
        let w = pipe
            .write(&buf, nonblock, &*t.task)
            .map_err(|e| super::file::epipe(t, e))?;
        Ok(w as u64)
    } else {
        let mut buf = vec![0u8; want];
        let n = pipe.read(&mut buf, nonblock, &*t.task)?;
        let mut off = 0;
        for (base, len) in v {
            if off >= n {
                break;
            }
            let k = (len as usize).min(n - off);
            let w = mm.write_prefix(base, &buf[off..off + k]);
            off += w;
            if w < k {
                break;
            }
        }
        super::file::copied_out(off, n)
    }
}

/// copy_file_range(fd_in, off_in, fd_out, off_out, len, flags): regular
/// files only; between filesystems EXDEV (Linux's rule for filesystems
/// without their own copy_file_range, such as tmpfs).
pub fn copy_file_range(
    t: &mut TaskCtx,
    fd_in: Fd,
    off_in: u64,
    fd_out: Fd,
    off_out: u64,
    len: u64,
    flags: u32,
) -> SysResult {
    let input = file(t, fd_in)?;
    let output = file(t, fd_out)?;
    let oin = read_off(t, off_in)?;
    let oout = read_off(t, off_out)?;
    if flags != 0 {
        return Err(Errno::EINVAL.into());
    }
    let sin = input.ops.stat();
    let sout = output.ops.stat();
    if sin.mode & S_IFMT == S_IFDIR || sout.mode & S_IFMT == S_IFDIR {
        return Err(Errno::EISDIR.into());
    }
    if sin.mode & S_IFMT != S_IFREG || sout.mode & S_IFMT != S_IFREG {
        return Err(Errno::EINVAL.into());
    }
    if !can_read(&input) || !can_write(&output) || output.status() & crate::fs::O_APPEND != 0 {
        return Err(Errno::EBADF.into());
    }
    // The file positions. A file of another file system whose position
    // the sentry cannot read (a host standard stream that is a file) is
    // EXDEV at once, as Linux ends such a copy (and `cat > file` then
    // falls back to read and write).
    let position = |f: &OpenFile| match f.ops.seek(0, 1) {
        Ok(p) => Ok(p as i64),
        Err(_) if sin.dev != sout.dev => Err(Errno::EXDEV),
        Err(e) => Err(e),
    };
    let pos_in = match oin {
        Some(o) => o,
        None => position(&input)?,
    };
    let pos_out = match oout {
        Some(o) => o,
        None => position(&output)?,
    };
    // Offsets must not wrap (compared unsigned, so a negative one with a
    // length does: EOVERFLOW, as Linux 6.x).
    if (pos_in as u64).checked_add(len).is_none() || (pos_out as u64).checked_add(len).is_none() {
        return Err(Errno::EOVERFLOW.into());
    }
    // Shorten the copy to the end of the input.
    let mut count = if pos_in >= sin.size {
        0
    } else {
        len.min((sin.size - pos_in) as u64)
    };
    let same = (sin.dev, sin.ino) == (sout.dev, sout.ino);
    if same
        && (pos_out as u64).saturating_add(count) > pos_in as u64
        && (pos_out as u64) < (pos_in as u64).saturating_add(count)
    {
        return Err(Errno::EINVAL.into());
    }
    if pos_in < 0 || pos_out < 0 {
        return Err(Errno::EINVAL.into());
    }
    count = count.min(MAX_RW);
    // Between filesystems EXDEV, even for nothing to copy (Linux 6.x).
    if sin.dev != sout.dev {
        return Err(Errno::EXDEV.into());
    }
    if count == 0 {
        return Ok(0);
    }
    let mut done = 0u64;
    let mut buf = vec![0u8; (count as usize).min(CHUNK)];
    while done < count {
        let k = ((count - done) as usize).min(buf.len());
        let n = match input.ops.pread(&mut buf[..k], pos_in as u64 + done) {
            Ok(n) => n,
            Err(_) if done > 0 => break,
            Err(e) => return Err(e.into()),
        };
        if n == 0 {
            break;
        }
        let at = pos_out as u64 + done;
        let w = match super::file::fsize_room(t, &output, Some(at), n)
            .and_then(|room| output.ops.pwrite(&buf[..room], at))
        {
            Ok(w) => w,
            Err(_) if done > 0 => break,
            Err(e) => return Err(e.into()),
        };
        done += w as u64;
        if w < n {
            break;
        }
    }
    match oin {
        Some(o) => t.mm().write_u64(off_in, o as u64 + done)?,
        None => {
            input.ops.seek(pos_in + done as i64, 0)?;
        }
    }
    match oout {
        Some(o) => t.mm().write_u64(off_out, o as u64 + done)?,
        None => {
            output.ops.seek(pos_out + done as i64, 0)?;
        }
    }
    // vfs_copy_file_range's fsnotify_access and fsnotify_modify.
    crate::fs::inotify::accessed(&input, done);
    crate::fs::inotify::modified(&output, done);
    Ok(done)
}

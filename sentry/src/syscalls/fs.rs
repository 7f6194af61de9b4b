//! Path syscalls on the read-only root filesystem: open, openat, stat,
//! lstat, newfstatat, access, faccessat(2), readlink(at), getdents64,
//! lseek, pread64, getcwd, chdir, fchdir. Anything that would write gets
//! EROFS; a FIFO of the root opens as a pipe of the sandbox's own
//! (`fs::fifo`).

use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use crate::errno::Errno;
use std::sync::Arc;

use crate::fs::rootfs::{HostDir, HostFile, Lookup, PathFile};
use crate::fs::synthetic::{self, Found, Fs, Node, Walked};
use crate::fs::{FileOps, O_CLOEXEC, O_NONBLOCK, OpenFile};
use crate::kernel::task::{SysResult, TaskCtx};

const AT_FDCWD: i32 = -100;
const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
const AT_EMPTY_PATH: u64 = 0x1000;
const AT_NO_AUTOMOUNT: u64 = 0x800;
const AT_EACCESS: u64 = 0x200;
const O_ACCMODE: u64 = 3;
const O_CREAT: u64 = 0o100;
const O_EXCL: u64 = 0o200;
const O_TRUNC: u64 = 0o1000;
const O_APPEND: u64 = 0o2000;
const O_DIRECTORY: u64 = 0o200000;
const O_NOFOLLOW: u64 = 0o400000;
const O_PATH: u64 = 0o10000000;
const O_TMPFILE: u64 = 0o20000000 | O_DIRECTORY;

/// The guest directory relative paths start from: the cwd, or `dirfd`.
fn base_dir(t: &TaskCtx, dirfd: u64, path: &[u8]) -> Result<Vec<u8>, Errno> {
    if path.starts_with(b"/") || dirfd as i32 == AT_FDCWD {
        return Ok(t.task.fs.lock().cwd.clone());
    }
    let f = t.task.files().get(dirfd as i32 as i64)?;
    f.ops.dir_path().ok_or(Errno::ENOTDIR)
}

/// Where `path` (relative to `dirfd`) leads: a host object inside the
/// root, or a path of the sentry's own /proc, /sys and /dev.
fn resolve(t: &TaskCtx, dirfd: u64, path: &[u8], follow: bool) -> Result<Lookup, Errno> {
    let base = base_dir(t, dirfd, path)?;
    t.task.kernel.root().resolve(&base, path, follow)
}

/// Whether the sentry path `p` (relative, normalized) names the calling
/// process in /proc: `self`, `thread-self`, its pid or one of its tids.
fn proc_is_mine(t: &TaskCtx, who: &str) -> bool {
    let task = &t.task;
    who == "self"
        || who == "thread-self"
        || who
            .parse::<i32>()
            .is_ok_and(|n| n == task.tgid() || task.tg.threads.lock().iter().any(|th| th.tid == n))
}

/// Whether the sentry path `p` is the calling process's `/proc/.../exe`.
pub(crate) fn is_proc_exe(t: &TaskCtx, p: &Path) -> bool {
    let parts: Vec<String> = p.iter().map(|c| c.to_string_lossy().into_owned()).collect();
    parts.len() == 3 && parts[0] == "proc" && parts[2] == "exe" && proc_is_mine(t, &parts[1])
}

/// Where a guest path leads once the links of the sentry's own trees
/// (/proc, /dev, /sys) are followed.
enum Target {
    /// A host object inside the root.
    Host(Box<crate::fs::rootfs::Resolved>),
    /// A node of /proc, /dev or /sys.
    Synth(Found),
    /// A followed `/proc/<pid>/fd/<n>` link of a pipe or anonymous file:
    /// that open file.
    File(Arc<OpenFile>),
}

/// Resolves `path` (relative to `dirfd`) through the root and the
/// sentry's trees; with `follow`, a final link is followed.
fn lookup(t: &TaskCtx, dirfd: u64, path: &[u8], follow: bool) -> Result<Target, Errno> {
    let mut at = resolve(t, dirfd, path, follow)?;
    // A link of the trees may lead to the root and a link of the root
    // back into the trees: bounded as one walk's links are.
    for _ in 0..40 {
        match at {
            Lookup::Host(r) => return Ok(Target::Host(r)),
            Lookup::Sentry(sp) => match synthetic::walk(&t.task, &sp, follow)? {
                Walked::Node(f) => return Ok(Target::Synth(f)),
                Walked::File(f) => return Ok(Target::File(f)),
                Walked::Outside(p) => at = t.task.kernel.root().resolve(b"/", &p, follow)?,
            },
        }
    }
    Err(Errno::ELOOP)
}

/// Opens a node of the sentry's trees with open(2)'s `flags`.
fn open_synthetic(t: &TaskCtx, f: Found, flags: u64) -> Result<(Box<dyn FileOps>, u32), Errno> {
    let mut status = (flags as u32) & (O_ACCMODE as u32 | O_NONBLOCK | O_APPEND as u32);
    let is_dir = matches!(f.node, Node::Dir(_));
    let is_link = matches!(f.node, Node::Link(_) | Node::FdLink { .. });
    if flags & O_DIRECTORY != 0 && !is_dir {
        return Err(if is_link && flags & O_PATH == 0 {
            Errno::ELOOP
        } else {
            Errno::ENOTDIR
        });
    }
    if flags & O_PATH != 0 {
        let st = f.stat();
        return Ok((
            Box::new(PathFile::synthetic(st, f.path, is_dir)),
            O_PATH as u32,
        ));
    }
    if is_link {
        // O_NOFOLLOW on a link.
        return Err(Errno::ELOOP);
    }
    let writes = flags & O_ACCMODE != 0 || flags & O_TRUNC != 0;
    if writes {
        match f.node {
            Node::Dir(_) => return Err(Errno::EISDIR),
            // /proc/sys and /sys cannot be changed from inside the sandbox.
            Node::File(_) if f.fs == Fs::Sys || f.path.starts_with(b"/proc/sys/") => {
                return Err(Errno::EACCES);
            }
            _ => {}
        }
    }
    if flags & O_CREAT != 0 && flags & O_EXCL != 0 {
        return Err(Errno::EEXIST);
    }
    if flags & O_ACCMODE == O_ACCMODE {
        status &= !(O_ACCMODE as u32);
        status |= 2;
    }
    Ok((f.open(&t.task)?, status))
}

/// openat(dirfd, path, flags, mode).
pub fn openat(t: &mut TaskCtx, dirfd: u64, path: u64, flags: u64, _mode: u64) -> SysResult {
    let flags = flags as u32 as u64;
    let p = t.mm().read_cstring(path, 4096)?;
    let cloexec = flags & O_CLOEXEC as u64 != 0;
    let mut status = (flags as u32) & (O_ACCMODE as u32 | O_NONBLOCK | O_APPEND as u32);
    if flags & O_TMPFILE == O_TMPFILE && flags & O_PATH == 0 {
        return Err(Errno::EROFS.into());
    }
    let follow = flags & O_NOFOLLOW == 0;
    let r = match lookup(t, dirfd, &p, follow) {
        Ok(Target::Host(r)) => r,
        Ok(Target::Synth(f)) => {
            let (file, status) = open_synthetic(t, f, flags)?;
            let f = OpenFile::new(file, status);
            return Ok(t.task.files().insert(f, cloexec, 0)? as u64);
        }
        Ok(Target::File(f)) => {
            // A pipe or anonymous file reached through its fd link: the
            // same file, if it can be used as asked.
            if flags & O_PATH != 0 {
                let st = f.ops.stat();
                let path = f.ops.link_target().into_bytes();
                let file = OpenFile::new(
                    Box::new(PathFile::synthetic(st, path, false)),
                    O_PATH as u32,
                );
                return Ok(t.task.files().insert(file, cloexec, 0)? as u64);
            }
            if flags & O_DIRECTORY != 0 {
                return Err(Errno::ENOTDIR.into());
            }
            let has = f.status() & 3;
            let ok = match flags & O_ACCMODE {
                0 => has != 1,
                1 => has != 0,
                _ => has == 2,
            };
            if !ok {
                return Err(Errno::EACCES.into());
            }
            return Ok(t.task.files().insert(f, cloexec, 0)? as u64);
        }
        Err(Errno::ENOENT) if flags & O_CREAT != 0 && flags & O_PATH == 0 => {
            return Err(Errno::EROFS.into());
        }
        Err(e) => return Err(e.into()),
    };
    let ft = r.meta.file_type();
    let file: Box<dyn FileOps> = if flags & O_PATH != 0 {
        // Only O_CLOEXEC, O_DIRECTORY and O_NOFOLLOW count with O_PATH;
        // the descriptor can be neither read nor written.
        if flags & O_DIRECTORY != 0 && !ft.is_dir() {
            return Err(Errno::ENOTDIR.into());
        }
        status = O_PATH as u32;
        Box::new(PathFile::new(&r))
    } else {
        if flags & O_CREAT != 0 && flags & O_EXCL != 0 {
            return Err(Errno::EEXIST.into());
        }
        if ft.is_symlink() {
            return Err(Errno::ELOOP.into());
        }
        let writes = flags & O_ACCMODE != 0 || flags & O_TRUNC != 0;
        if ft.is_fifo() && flags & O_DIRECTORY == 0 {
            // A pipe of the sandbox's own, never the host's FIFO; writing
            // it is no write to the read-only root (and O_TRUNC is
            // ignored), as on Linux.
            use std::os::unix::fs::MetadataExt;
            let kernel = &t.task.kernel;
            let end = kernel.fifos.open(
                (r.meta.dev(), r.meta.ino()),
                r.stat(),
                r.guest.clone(),
                (flags & O_ACCMODE) as u32,
                flags & O_NONBLOCK as u64 != 0,
                &kernel.machine,
                &kernel.readiness,
                &*t.task,
            )?;
            Box::new(end)
        } else if ft.is_dir() {
            if writes {
                return Err(Errno::EISDIR.into());
            }
            Box::new(HostDir::open(&r)?)
        } else if flags & O_DIRECTORY != 0 {
            return Err(Errno::ENOTDIR.into());
        } else if ft.is_socket() {
            // Linux cannot open a socket inode either.
            return Err(Errno::ENXIO.into());
        } else if !ft.is_file() {
            // Host devices are inert here, as on a nodev mount.
            return Err(Errno::EACCES.into());
        } else if writes {
            return Err(Errno::EROFS.into());
        } else {
            Box::new(HostFile::open(&r)?)
        }
    };
    let f = OpenFile::new(file, status);
    Ok(t.task.files().insert(f, cloexec, 0)? as u64)
}

/// open(path, flags, mode).
pub fn open(t: &mut TaskCtx, path: u64, flags: u64, mode: u64) -> SysResult {
    openat(t, AT_FDCWD as u64, path, flags, mode)
}

fn write_stat(t: &TaskCtx, buf: u64, st: &crate::fs::Stat) -> SysResult {
    t.mm().write(buf, &st.to_bytes())?;
    Ok(0)
}

/// What `*stat*at(dirfd, path, flags)` finds (flags already checked).
fn stat_at(t: &TaskCtx, dirfd: u64, path: u64, flags: u64) -> Result<crate::fs::Stat, Errno> {
    let p = t.mm().read_cstring(path, 4096)?;
    if p.is_empty() {
        if flags & AT_EMPTY_PATH == 0 {
            return Err(Errno::ENOENT);
        }
        let f = t.task.files().get(dirfd as i32 as i64)?;
        return Ok(f.ops.stat());
    }
    match lookup(t, dirfd, &p, flags & AT_SYMLINK_NOFOLLOW == 0)? {
        Target::Host(r) => Ok(r.stat()),
        Target::Synth(f) => Ok(f.stat()),
        Target::File(f) => Ok(f.ops.stat()),
    }
}

/// newfstatat(dirfd, path, statbuf, flags).
pub fn newfstatat(t: &mut TaskCtx, dirfd: u64, path: u64, buf: u64, flags: u64) -> SysResult {
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT) != 0 {
        return Err(Errno::EINVAL.into());
    }
    let st = stat_at(t, dirfd, path, flags)?;
    write_stat(t, buf, &st)
}

/// statx(dirfd, path, flags, mask, statxbuf): the basic fields.
pub fn statx(t: &mut TaskCtx, dirfd: u64, path: u64, flags: u64, mask: u64, buf: u64) -> SysResult {
    const AT_STATX_SYNC_TYPE: u64 = 0x6000;
    const STATX_RESERVED: u64 = 0x8000_0000;
    const STATX_BASIC_STATS: u32 = 0x7ff;
    let flags = flags as u32 as u64;
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE) != 0
        || flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE
        || mask & STATX_RESERVED != 0
    {
        return Err(Errno::EINVAL.into());
    }
    let st = stat_at(t, dirfd, path, flags)?;
    let (dev_major, dev_minor) = split_dev(st.dev);
    let (rdev_major, rdev_minor) = split_dev(st.rdev);
    let mut b = [0u8; 256];
    let mut put = |off: usize, bytes: &[u8]| b[off..off + bytes.len()].copy_from_slice(bytes);
    put(0, &STATX_BASIC_STATS.to_le_bytes());
    put(4, &(st.blksize as u32).to_le_bytes());
    put(16, &(st.nlink as u32).to_le_bytes());
    put(20, &st.uid.to_le_bytes());
    put(24, &st.gid.to_le_bytes());
    put(28, &(st.mode as u16).to_le_bytes());
    put(32, &st.ino.to_le_bytes());
    put(40, &(st.size as u64).to_le_bytes());
    put(48, &(st.blocks as u64).to_le_bytes());
    // atime, (btime unknown: left zero and out of the mask), ctime, mtime.
    for (off, (sec, nsec)) in [(64, st.times[0]), (96, st.times[2]), (112, st.times[1])] {
        put(off, &sec.to_le_bytes());
        put(off + 8, &(nsec as u32).to_le_bytes());
    }
    put(128, &rdev_major.to_le_bytes());
    put(132, &rdev_minor.to_le_bytes());
    put(136, &dev_major.to_le_bytes());
    put(140, &dev_minor.to_le_bytes());
    t.mm().write(buf, &b)?;
    Ok(0)
}

/// Linux's dev_t encoding split into (major, minor).
fn split_dev(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
}

/// stat(path, statbuf).
pub fn stat(t: &mut TaskCtx, path: u64, buf: u64) -> SysResult {
    newfstatat(t, AT_FDCWD as u64, path, buf, 0)
}

/// lstat(path, statbuf).
pub fn lstat(t: &mut TaskCtx, path: u64, buf: u64) -> SysResult {
    newfstatat(t, AT_FDCWD as u64, path, buf, AT_SYMLINK_NOFOLLOW)
}

/// faccessat2(dirfd, path, mode, flags).
pub fn faccessat2(t: &mut TaskCtx, dirfd: u64, path: u64, mode: u64, flags: u64) -> SysResult {
    use std::os::unix::fs::PermissionsExt;
    const W_OK: u64 = 2;
    const X_OK: u64 = 1;
    if mode & !7 != 0 || flags & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL.into());
    }
    let p = t.mm().read_cstring(path, 4096)?;
    let meta = match lookup(t, dirfd, &p, flags & AT_SYMLINK_NOFOLLOW == 0)? {
        Target::Host(r) => r.meta,
        Target::Synth(f) => {
            // The guest is root: only X_OK needs an execute bit (or a
            // directory); writing /proc/sys and /sys is refused at open.
            let st = f.stat();
            let dir = st.mode & 0o170000 == 0o040000;
            if mode & X_OK != 0 && !dir && st.mode & 0o111 == 0 {
                return Err(Errno::EACCES.into());
            }
            return Ok(0);
        }
        Target::File(f) => {
            if mode & X_OK != 0 && f.ops.stat().mode & 0o111 == 0 {
                return Err(Errno::EACCES.into());
            }
            return Ok(0);
        }
    };
    // A read-only mount refuses writes to regular files, directories and
    // links only (Linux's sb_permission): a FIFO (a pipe of the sandbox's
    // own) or an inert device or socket passes, as on a nodev mount.
    let ft = meta.file_type();
    if mode & W_OK != 0 && (ft.is_file() || ft.is_dir() || ft.is_symlink()) {
        return Err(Errno::EROFS.into());
    }
    // The guest is root: X_OK needs some execute bit (or a directory).
    if mode & X_OK != 0 && !meta.is_dir() && meta.permissions().mode() & 0o111 == 0 {
        return Err(Errno::EACCES.into());
    }
    Ok(0)
}

/// readlinkat(dirfd, path, buf, size).
pub fn readlinkat(t: &mut TaskCtx, dirfd: u64, path: u64, buf: u64, size: u64) -> SysResult {
    if (size as i32) <= 0 {
        return Err(Errno::EINVAL.into());
    }
    let p = t.mm().read_cstring(path, 4096)?;
    let target = match lookup(t, dirfd, &p, false)? {
        Target::Host(r) => r.read_link()?,
        Target::Synth(Found {
            node: Node::Link(target) | Node::FdLink { target, .. },
            ..
        }) => target,
        Target::Synth(_) | Target::File(_) => return Err(Errno::EINVAL.into()),
    };
    let n = target.len().min(size as usize);
    t.mm().write(buf, &target[..n])?;
    Ok(n as u64)
}

/// getdents64(fd, dirp, count).
pub fn getdents64(t: &mut TaskCtx, fd: u64, dirp: u64, count: u64) -> SysResult {
    let f = t.task.files().get(fd as i64)?;
    // Ask for no more entries than the buffer can take up to its first bad
    // page (Linux stops at the entry whose copy faults; EFAULT if none fit).
    let count = (count as u32 as usize).min(1 << 20);
    let room = t.mm().writable_prefix(dirp, count as u64) as usize;
    let data = match f.ops.getdents(room) {
        Err(Errno::EINVAL) if room < count => return Err(Errno::EFAULT.into()),
        r => r?,
    };
    let w = t.mm().write_prefix(dirp, &data);
    if w < data.len() {
        return Err(Errno::EFAULT.into());
    }
    Ok(data.len() as u64)
}

/// lseek(fd, offset, whence).
pub fn lseek(t: &mut TaskCtx, fd: u64, offset: u64, whence: u64) -> SysResult {
    let f = t.task.files().get(fd as i64)?;
    Ok(f.ops.seek(offset as i64, whence as u32)?)
}

/// pread64(fd, buf, count, offset).
pub fn pread64(t: &mut TaskCtx, fd: u64, buf: u64, count: u64, offset: u64) -> SysResult {
    let f = t.task.files().get(fd as i64)?;
    if (offset as i64) < 0 {
        return Err(Errno::EINVAL.into());
    }
    // pread consumes nothing: copy what the buffer takes up to its first
    // bad page (EFAULT if nothing), as Linux does.
    let mut data = vec![0u8; (count as usize).min(1 << 20)];
    let n = f.ops.pread(&mut data, offset)?;
    super::file::copied_out(t.mm().write_prefix(buf, &data[..n]), n)
}

/// sendfile(out_fd, in_fd, offset, count): at most 1 MiB per call.
pub fn sendfile(t: &mut TaskCtx, out_fd: u64, in_fd: u64, offset: u64, count: u64) -> SysResult {
    let files = t.task.files();
    let input = files.get(in_fd as i64)?;
    let output = files.get(out_fd as i64)?;
    if input.status() & 3 == 1 || output.status() & 3 == 0 {
        return Err(Errno::EBADF.into());
    }
    let mut data = vec![0u8; (count as usize).min(1 << 20)];
    let n = if offset != 0 {
        let off = t.mm().read_u64(offset)?;
        if (off as i64) < 0 {
            return Err(Errno::EINVAL.into());
        }
        let n = input.ops.pread(&mut data, off)?;
        t.mm().write_u64(offset, off + n as u64)?;
        n
    } else {
        input.ops.read(&mut data, input.nonblocking(), &*t.task)?
    };
    if n == 0 {
        return Ok(0);
    }
    let w = output
        .ops
        .write(&data[..n], output.nonblocking(), &*t.task)
        .map_err(|e| super::file::epipe(t, e))?;
    Ok(w as u64)
}

/// getcwd(buf, size).
pub fn getcwd(t: &mut TaskCtx, buf: u64, size: u64) -> SysResult {
    let mut cwd = t.task.fs.lock().cwd.clone();
    cwd.push(0);
    if (size as usize) < cwd.len() {
        return Err(Errno::ERANGE.into());
    }
    t.mm().write(buf, &cwd)?;
    Ok(cwd.len() as u64)
}

/// chdir(path).
pub fn chdir(t: &mut TaskCtx, path: u64) -> SysResult {
    let p = t.mm().read_cstring(path, 4096)?;
    let r = match lookup(t, AT_FDCWD as u64, &p, true)? {
        Target::Host(r) => r,
        Target::Synth(f) if matches!(f.node, Node::Dir(_)) => {
            t.task.fs.lock().cwd = f.path;
            return Ok(0);
        }
        Target::Synth(_) | Target::File(_) => return Err(Errno::ENOTDIR.into()),
    };
    if !r.meta.is_dir() {
        return Err(Errno::ENOTDIR.into());
    }
    t.task.fs.lock().cwd = r.guest;
    Ok(0)
}

/// fchdir(fd).
pub fn fchdir(t: &mut TaskCtx, fd: u64) -> SysResult {
    let f = t.task.files().get(fd as i64)?;
    let dir = f.ops.dir_path().ok_or(Errno::ENOTDIR)?;
    t.task.fs.lock().cwd = dir;
    Ok(0)
}

/// The calls that would change the read-only root: EROFS once the path
/// is checked (mkdir, unlink, rename, chmod, ...).
pub fn read_only(t: &mut TaskCtx, path: u64) -> SysResult {
    t.mm().read_cstring(path, 4096)?;
    Err(Errno::EROFS.into())
}

/// What statfs reports for a file system of the sandbox.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FsKind {
    /// The root (backed by the sandbox's memory as far as the guest can
    /// tell: its size is the memory cap).
    Root,
    /// /proc, /dev or /sys.
    Synthetic(Fs),
    /// Pipes.
    Pipe,
    /// Anonymous inodes (pidfds, epoll).
    Anon,
}

/// The file system a file is on, from its fstat.
fn fs_kind(st: &crate::fs::Stat) -> FsKind {
    match (st.dev, st.mode & 0o170000) {
        (0x5, _) => FsKind::Synthetic(Fs::Dev),
        (0x15, _) => FsKind::Synthetic(Fs::Proc),
        (0x16, _) => FsKind::Synthetic(Fs::Sys),
        (_, 0o010000) if st.dev == 0xc || st.dev == 0 => FsKind::Pipe,
        (0, 0) => FsKind::Anon,
        _ => FsKind::Root,
    }
}

/// Writes `struct statfs` for `kind`.
fn write_statfs(t: &TaskCtx, buf: u64, kind: FsKind) -> SysResult {
    const ST_RDONLY: u64 = 1;
    const ST_NOSUID: u64 = 2;
    const ST_NODEV: u64 = 4;
    const ST_NOEXEC: u64 = 8;
    const ST_VALID: u64 = 0x20;
    const ST_RELATIME: u64 = 0x1000;
    let frames = t.task.kernel.machine.frames();
    let (f_type, blocks, free, flags) = match kind {
        FsKind::Root => {
            let total = frames.data_limit_bytes() / 4096;
            let used = frames.data_bytes_in_use() / 4096;
            let ro = if t.task.kernel.root().has_root() {
                ST_RDONLY
            } else {
                0
            };
            (0x8584_58f6u64, total, total.saturating_sub(used), ro)
        }
        FsKind::Synthetic(Fs::Proc) => (0x9fa0, 0, 0, ST_NOSUID | ST_NODEV | ST_NOEXEC),
        FsKind::Synthetic(Fs::Sys) => (
            0x6265_6572,
            0,
            0,
            ST_RDONLY | ST_NOSUID | ST_NODEV | ST_NOEXEC,
        ),
        FsKind::Synthetic(Fs::Dev) => (0x0102_1994, 0, 0, ST_NOSUID),
        FsKind::Pipe => (0x5049_5045, 0, 0, 0),
        FsKind::Anon => (0x0904_1934, 0, 0, 0),
    };
    let mut b = [0u8; 120];
    let mut put = |off: usize, v: u64| b[off..off + 8].copy_from_slice(&v.to_le_bytes());
    put(0, f_type);
    put(8, 4096);
    put(16, blocks);
    put(24, free);
    put(32, free);
    put(64, 255);
    put(72, 4096);
    put(80, flags | ST_VALID | ST_RELATIME);
    t.mm().write(buf, &b)?;
    Ok(0)
}

/// statfs(path, buf).
pub fn statfs(t: &mut TaskCtx, path: u64, buf: u64) -> SysResult {
    let p = t.mm().read_cstring(path, 4096)?;
    let kind = match lookup(t, AT_FDCWD as u64, &p, true)? {
        Target::Host(_) => FsKind::Root,
        Target::Synth(f) => FsKind::Synthetic(f.fs),
        Target::File(f) => fs_kind(&f.ops.stat()),
    };
    write_statfs(t, buf, kind)
}

/// fstatfs(fd, buf).
pub fn fstatfs(t: &mut TaskCtx, fd: u64, buf: u64) -> SysResult {
    let f = t.task.files().get(fd as i64)?;
    let kind = fs_kind(&f.ops.stat());
    write_statfs(t, buf, kind)
}

//! Path syscalls on the VFS (`fs::vfs`): open, openat, openat2, creat,
//! stat, lstat, newfstatat, statx, access, faccessat(2), readlink(at),
//! getdents64, lseek, pread64, sendfile, getcwd, chdir, fchdir. The calls
//! that change the tree are in `path.rs`. A FIFO opens as a pipe of the
//! sandbox's own (`fs::fifo`).

use std::sync::Arc;

use crate::abi::fs::OpenHow;
use crate::abi::{Fd, UserPtr, read_extensible};
use crate::errno::Errno;
use crate::fs::vfs::{Caller, DirFile, FileType, Last, Path, PathOnly, Resolve, VfsFile, Walked};
use crate::fs::{FileOps, O_CLOEXEC, O_NONBLOCK, OpenFile, Stat};
use crate::kernel::task::{SysResult, TaskCtx};

pub(crate) const AT_FDCWD: i32 = -100;
pub(crate) const AT_SYMLINK_NOFOLLOW: u64 = 0x100;
pub(crate) const AT_REMOVEDIR: u64 = 0x200;
pub(crate) const AT_SYMLINK_FOLLOW: u64 = 0x400;
pub(crate) const AT_EMPTY_PATH: u64 = 0x1000;
const AT_NO_AUTOMOUNT: u64 = 0x800;
const AT_EACCESS: u64 = 0x200;
const O_ACCMODE: u64 = 3;
pub(crate) const O_WRONLY: u64 = 1;
pub(crate) const O_CREAT: u64 = 0o100;
const O_EXCL: u64 = 0o200;
const O_NOCTTY: u64 = 0o400;
pub(crate) const O_TRUNC: u64 = 0o1000;
const O_APPEND: u64 = 0o2000;
const O_DSYNC: u64 = 0o10000;
const O_ASYNC: u64 = 0o20000;
const O_DIRECT: u64 = 0o40000;
const O_LARGEFILE: u64 = 0o100000;
const O_DIRECTORY: u64 = 0o200000;
const O_NOFOLLOW: u64 = 0o400000;
const O_NOATIME: u64 = 0o1000000;
const O_SYNC: u64 = 0o4010000;
const O_PATH: u64 = 0o10000000;
const O_TMPFILE: u64 = 0o20000000 | O_DIRECTORY;
/// Every flag open(2) knows (others are ignored by open and openat;
/// openat2 refuses them).
const VALID_OPEN: u64 = O_ACCMODE
    | O_CREAT
    | O_EXCL
    | O_NOCTTY
    | O_TRUNC
    | O_APPEND
    | O_NONBLOCK as u64
    | O_DSYNC
    | O_ASYNC
    | O_DIRECT
    | O_LARGEFILE
    | O_DIRECTORY
    | O_NOFOLLOW
    | O_NOATIME
    | O_CLOEXEC as u64
    | O_SYNC
    | O_PATH
    | O_TMPFILE;

/// The calling task as the VFS sees it.
pub(crate) fn caller(t: &TaskCtx) -> Caller<'_> {
    Caller::task(&t.task)
}

/// The root of the caller's tree.
pub(crate) fn root(t: &TaskCtx) -> Path {
    t.task.kernel.vfs.root()
}

/// The caller's working directory.
pub(crate) fn cwd(t: &TaskCtx) -> Path {
    t.task.fs.lock().cwd.clone().unwrap_or_else(|| root(t))
}

/// Whether `f` is an `O_PATH` descriptor (most fd calls refuse it: EBADF).
pub(crate) fn is_opath(f: &OpenFile) -> bool {
    f.status() & O_PATH as u32 != 0
}

/// Where a relative `path` starts: the cwd, or the directory `dirfd`
/// (EBADF, ENOTDIR). An absolute path ignores `dirfd`.
pub(crate) fn start(t: &TaskCtx, dirfd: Fd, path: &[u8]) -> Result<Path, Errno> {
    if path.starts_with(b"/") {
        return Ok(root(t));
    }
    dir_of(t, dirfd)
}

/// The directory `dirfd` names: the cwd for AT_FDCWD (EBADF, ENOTDIR).
fn dir_of(t: &TaskCtx, dirfd: Fd) -> Result<Path, Errno> {
    if dirfd.0 == AT_FDCWD {
        return Ok(cwd(t));
    }
    let f = t.task.files().get(dirfd.0 as i64)?;
    let p = f.ops.vfs_path().ok_or(Errno::ENOTDIR)?;
    if !p.is_dir() {
        return Err(Errno::ENOTDIR);
    }
    Ok(p)
}

/// Walks `path` from `dirfd`.
pub(crate) fn walk(t: &TaskCtx, dirfd: Fd, path: &[u8], how: &Resolve) -> Result<Walked, Errno> {
    // RESOLVE_BENEATH and RESOLVE_IN_ROOT scope even an absolute path to
    // the directory `dirfd`.
    let start = if how.beneath || how.in_root {
        dir_of(t, dirfd)?
    } else {
        start(t, dirfd, path)?
    };
    t.task
        .kernel
        .vfs
        .resolve(&caller(t), &root(t), &start, path, how)
}

/// Reads a path argument (EFAULT, ENAMETOOLONG).
pub(crate) fn read_path(t: &TaskCtx, addr: u64) -> Result<Vec<u8>, Errno> {
    t.mm().read_cstring(addr, 4095)
}

/// The guest name of `p` (traces, getcwd, directory descriptors).
pub(crate) fn name_of(t: &TaskCtx, p: &Path) -> Vec<u8> {
    t.task.kernel.vfs.path_name(p, &root(t))
}

/// What a `*at(dirfd, path, flags)` call acts on: a place, or (for
/// AT_EMPTY_PATH on a descriptor outside the tree: a pipe...) the file.
pub(crate) enum Target {
    /// A place in the tree.
    Path(Path),
    /// An open file outside the tree.
    File(Arc<OpenFile>),
}

/// Resolves `*at(dirfd, path, flags)` with AT_EMPTY_PATH and
/// AT_SYMLINK_NOFOLLOW (`follow` is the default without the latter).
pub(crate) fn target(
    t: &TaskCtx,
    dirfd: Fd,
    path: &[u8],
    flags: u64,
    follow: bool,
) -> Result<Target, Errno> {
    if path.is_empty() {
        if flags & AT_EMPTY_PATH == 0 {
            return Err(Errno::ENOENT);
        }
        if dirfd.0 == AT_FDCWD {
            return Ok(Target::Path(cwd(t)));
        }
        let f = t.task.files().get(dirfd.0 as i64)?;
        return Ok(match f.ops.vfs_path() {
            Some(p) => Target::Path(p),
            None => Target::File(f),
        });
    }
    let how = if follow && flags & AT_SYMLINK_NOFOLLOW == 0 {
        Resolve::FOLLOW
    } else {
        Resolve::NOFOLLOW
    };
    Ok(Target::Path(walk(t, dirfd, path, &how)?.existing()?))
}

/// Opens the inode at `p` as open(2) would with `flags` (already
/// resolved; O_CREAT's creation done), and returns the file.
fn open_path(t: &TaskCtx, p: Path, flags: u64) -> Result<Box<dyn FileOps>, Errno> {
    let kind = p.inode().kind();
    let name = name_of(t, &p);
    if flags & O_PATH != 0 {
        if flags & O_DIRECTORY != 0 && kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        return Ok(Box::new(PathOnly::new(p, name)));
    }
    let writes = flags & O_ACCMODE != 0 || flags & O_TRUNC != 0;
    match kind {
        FileType::Symlink => return Err(Errno::ELOOP),
        FileType::Directory if writes || flags & O_CREAT != 0 => return Err(Errno::EISDIR),
        FileType::Directory => {}
        _ if flags & O_DIRECTORY != 0 => return Err(Errno::ENOTDIR),
        _ => {}
    }
    if writes && p.mount.read_only() && matches!(kind, FileType::Regular | FileType::Directory) {
        return Err(Errno::EROFS);
    }
    let c = caller(t);
    match kind {
        FileType::Directory => {
            let vfs = &t.task.kernel.vfs;
            let parent = vfs
                .lookup(&c, &root(t), &p, b"..", &Resolve::NOFOLLOW)
                .map_or(p.inode().ino(), |pp| pp.inode().ino());
            Ok(Box::new(DirFile::new(&c, p, parent, name)))
        }
        FileType::Fifo => {
            let key = p.inode().fifo_key().ok_or(Errno::ENXIO)?;
            let kernel = &t.task.kernel;
            let end = kernel.fifos.open(
                key,
                p.stat(),
                name.clone(),
                (flags & O_ACCMODE) as u32,
                flags & O_NONBLOCK as u64 != 0,
                &kernel.machine,
                &kernel.readiness,
                &*t.task,
            )?;
            Ok(Box::new(VfsFile::new(p, name, Box::new(end))))
        }
        FileType::Socket => Err(Errno::ENXIO),
        _ => {
            if flags & O_TRUNC != 0 && kind == FileType::Regular {
                // The overlay copies up here; a tmpfs frees the pages.
                p.inode().setattr(
                    &c,
                    &crate::fs::vfs::SetAttr {
                        size: Some(0),
                        ..Default::default()
                    },
                )?;
            }
            let inner = p.inode().open(&c, flags as u32)?;
            Ok(Box::new(VfsFile::new(p, name, inner)))
        }
    }
}

/// How openat2 scopes a walk (RESOLVE_*).
fn resolve_flags(resolve: u64, follow: bool) -> Resolve {
    Resolve {
        follow,
        no_xdev: resolve & 0x01 != 0,
        no_magiclinks: resolve & 0x02 != 0 || resolve & 0x04 != 0,
        no_symlinks: resolve & 0x04 != 0,
        beneath: resolve & 0x08 != 0,
        in_root: resolve & 0x10 != 0,
    }
}

/// open with resolved arguments: the core of open, openat, openat2 and
/// creat.
fn do_open(t: &TaskCtx, dirfd: Fd, p: &[u8], flags: u64, mode: u64, resolve: u64) -> SysResult {
    let cloexec = flags & O_CLOEXEC as u64 != 0;
    let umask = t.task.fs.lock().umask;
    let perm = (mode as u32) & 0o7777 & !umask;
    let (status, file): (u32, Box<dyn FileOps>) = if flags & O_PATH != 0 {
        let follow = flags & O_NOFOLLOW == 0;
        let w = walk(t, dirfd, p, &resolve_flags(resolve, follow))?;
        let path = w.existing()?;
        (
            O_PATH as u32,
            open_path(t, path, flags & (O_PATH | O_DIRECTORY))?,
        )
    } else if flags & O_TMPFILE == O_TMPFILE {
        if flags & O_ACCMODE == 0 {
            return Err(Errno::EINVAL.into());
        }
        let dir = walk(t, dirfd, p, &resolve_flags(resolve, true))?.existing()?;
        if !dir.is_dir() {
            return Err(Errno::ENOTDIR.into());
        }
        if dir.mount.read_only() {
            return Err(Errno::EROFS.into());
        }
        let inode = dir.inode().tmpfile(&caller(t), perm)?;
        if flags & O_EXCL != 0 {
            inode.forbid_link();
        }
        let mut name = name_of(t, &dir);
        name.extend_from_slice(b"/#tmpfile");
        let file = Path {
            mount: Arc::clone(&dir.mount),
            dentry: Arc::new(crate::fs::vfs::Dentry {
                inode,
                name: b"#tmpfile".to_vec(),
                parent: Some(Arc::clone(&dir.dentry)),
            }),
        };
        let inner = file.inode().open(&caller(t), flags as u32)?;
        (
            flags as u32 & (O_ACCMODE as u32 | O_NONBLOCK | O_APPEND as u32),
            Box::new(VfsFile::new(file, name, inner)),
        )
    } else {
        let creat = flags & O_CREAT != 0;
        if creat && flags & O_DIRECTORY != 0 {
            // Linux 6.4 and later: O_CREAT | O_DIRECTORY is EINVAL.
            return Err(Errno::EINVAL.into());
        }
        let excl = creat && flags & O_EXCL != 0;
        let follow = flags & O_NOFOLLOW == 0 && !excl;
        let w = walk(t, dirfd, p, &resolve_flags(resolve, follow))?;
        let path = match (w.found, creat) {
            (Some(_), true) if excl => return Err(Errno::EEXIST.into()),
            (Some(found), true) if found.is_dir() => return Err(Errno::EISDIR.into()),
            (Some(found), _) => found,
            (None, false) => return Err(Errno::ENOENT.into()),
            (None, true) => {
                if w.trailing_slash || w.last != Last::Name {
                    return Err(Errno::EISDIR.into());
                }
                if w.parent.mount.read_only() {
                    return Err(Errno::EROFS.into());
                }
                let inode =
                    w.parent
                        .inode()
                        .create(&caller(t), &w.name, FileType::Regular, perm, 0)?;
                let dentry = Arc::new(crate::fs::vfs::Dentry {
                    inode,
                    name: w.name.clone(),
                    parent: Some(Arc::clone(&w.parent.dentry)),
                });
                let created = Path {
                    mount: Arc::clone(&w.parent.mount),
                    dentry,
                };
                // Nothing to truncate in a new file.
                let file = open_path(t, created, flags & !O_TRUNC & !O_CREAT)?;
                let status = flags as u32 & (O_ACCMODE as u32 | O_NONBLOCK | O_APPEND as u32);
                let f = OpenFile::new(file, status);
                return Ok(t.task.files().insert(f, cloexec, 0)? as u64);
            }
        };
        let status = flags as u32 & (O_ACCMODE as u32 | O_NONBLOCK | O_APPEND as u32);
        (status, open_path(t, path, flags)?)
    };
    let f = OpenFile::new(file, status);
    Ok(t.task.files().insert(f, cloexec, 0)? as u64)
}

/// openat(dirfd, path, flags, mode).
pub fn openat(t: &mut TaskCtx, dirfd: u64, path: u64, flags: u64, mode: u64) -> SysResult {
    let flags = flags as u32 as u64 & VALID_OPEN;
    let p = read_path(t, path)?;
    // Linux ignores the mode without O_CREAT or O_TMPFILE.
    do_open(t, Fd::from_arg(dirfd), &p, flags, mode, 0)
}

/// open(path, flags, mode).
pub fn open(t: &mut TaskCtx, path: u64, flags: u64, mode: u64) -> SysResult {
    openat(t, AT_FDCWD as u64, path, flags, mode)
}

/// creat(path, mode): open(path, O_CREAT | O_WRONLY | O_TRUNC, mode).
pub fn creat(t: &mut TaskCtx, path: u64, mode: u64) -> SysResult {
    openat(t, AT_FDCWD as u64, path, O_CREAT | O_WRONLY | O_TRUNC, mode)
}

/// openat2(dirfd, path, how, size).
pub fn openat2(
    t: &mut TaskCtx,
    dirfd: Fd,
    path: u64,
    how: UserPtr<OpenHow>,
    size: usize,
) -> SysResult {
    const RESOLVE_ALL: u64 = 0x3f;
    const RESOLVE_CACHED: u64 = 0x20;
    if size < OpenHow::SIZE_VER0 {
        return Err(Errno::EINVAL.into());
    }
    if size > 4096 {
        return Err(Errno::E2BIG.into());
    }
    let OpenHow {
        flags,
        mode,
        resolve,
    } = read_extensible(&t.mm(), how, size)?;
    // build_open_how's checks: unknown bits, a mode without a creation,
    // contradictory scoping.
    if flags & !VALID_OPEN != 0 || flags > u32::MAX as u64 {
        return Err(Errno::EINVAL.into());
    }
    if resolve & !RESOLVE_ALL != 0 {
        return Err(Errno::EINVAL.into());
    }
    if flags & (O_CREAT | O_TMPFILE) == 0 && mode != 0 || mode & !0o7777 != 0 {
        return Err(Errno::EINVAL.into());
    }
    if resolve & 0x18 == 0x18 {
        return Err(Errno::EINVAL.into());
    }
    if flags & O_PATH != 0 && flags & !(O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC as u64) != 0 {
        return Err(Errno::EINVAL.into());
    }
    if flags & O_TMPFILE == O_TMPFILE && flags & O_ACCMODE == 0 {
        return Err(Errno::EINVAL.into());
    }
    if resolve & RESOLVE_CACHED != 0 && flags & (O_TRUNC | O_CREAT | O_TMPFILE) != 0 {
        return Err(Errno::EAGAIN.into());
    }
    let p = read_path(t, path)?;
    do_open(t, dirfd, &p, flags, mode, resolve)
}

fn write_stat(t: &TaskCtx, buf: u64, st: &Stat) -> SysResult {
    t.mm().write(buf, &st.to_bytes())?;
    Ok(0)
}

/// What `*stat*at(dirfd, path, flags)` finds (flags already checked).
fn stat_at(t: &TaskCtx, dirfd: u64, path: u64, flags: u64) -> Result<Stat, Errno> {
    let p = read_path(t, path)?;
    match target(t, Fd::from_arg(dirfd), &p, flags, true)? {
        Target::Path(p) => Ok(p.stat()),
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
    const W_OK: u64 = 2;
    const X_OK: u64 = 1;
    if mode & !7 != 0 || flags & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL.into());
    }
    let p = read_path(t, path)?;
    let (st, read_only) = match target(t, Fd::from_arg(dirfd), &p, flags, true)? {
        Target::Path(p) => (p.stat(), p.mount.read_only()),
        Target::File(f) => (f.ops.stat(), false),
    };
    // A read-only mount refuses writes to regular files, directories and
    // links only (Linux's sb_permission): a FIFO, device or socket passes.
    let kind = FileType::from_mode(st.mode);
    if mode & W_OK != 0
        && read_only
        && matches!(
            kind,
            Some(FileType::Regular | FileType::Directory | FileType::Symlink)
        )
    {
        return Err(Errno::EROFS.into());
    }
    // The guest is root: X_OK needs some execute bit (or a directory).
    if mode & X_OK != 0 && kind != Some(FileType::Directory) && st.mode & 0o111 == 0 {
        return Err(Errno::EACCES.into());
    }
    Ok(0)
}

/// readlinkat(dirfd, path, buf, size).
pub fn readlinkat(t: &mut TaskCtx, dirfd: u64, path: u64, buf: u64, size: u64) -> SysResult {
    let p = read_path(t, path)?;
    if (size as i32) <= 0 {
        return Err(Errno::EINVAL.into());
    }
    // An empty path reads the link an O_PATH descriptor names.
    let place = match target(t, Fd::from_arg(dirfd), &p, AT_EMPTY_PATH, false)? {
        Target::Path(p) => p,
        Target::File(_) => return Err(Errno::EINVAL.into()),
    };
    if p.is_empty() && place.inode().kind() != FileType::Symlink {
        return Err(Errno::ENOENT.into());
    }
    let target = place.inode().readlink(&caller(t))?;
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
    if f.status() & O_ACCMODE as u32 == O_WRONLY as u32 {
        return Err(Errno::EBADF.into());
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
    let w = super::file::write_to(t, &output, &data[..n]).map_err(|e| super::file::epipe(t, e))?;
    Ok(w as u64)
}

/// getcwd(buf, size).
pub fn getcwd(t: &mut TaskCtx, buf: u64, size: u64) -> SysResult {
    let dir = cwd(t);
    if dir.inode().stat().nlink == 0 {
        return Err(Errno::ENOENT.into());
    }
    let mut name = name_of(t, &dir);
    name.push(0);
    if (size as usize) < name.len() {
        return Err(Errno::ERANGE.into());
    }
    t.mm().write(buf, &name)?;
    Ok(name.len() as u64)
}

/// chdir(path).
pub fn chdir(t: &mut TaskCtx, path: u64) -> SysResult {
    let p = read_path(t, path)?;
    let dir = walk(t, Fd(AT_FDCWD), &p, &Resolve::FOLLOW)?.existing()?;
    if !dir.is_dir() {
        return Err(Errno::ENOTDIR.into());
    }
    t.task.fs.lock().cwd = Some(dir);
    Ok(0)
}

/// fchdir(fd).
pub fn fchdir(t: &mut TaskCtx, fd: u64) -> SysResult {
    let f = t.task.files().get(fd as i64)?;
    let dir = f.ops.vfs_path().ok_or(Errno::ENOTDIR)?;
    if !dir.is_dir() {
        return Err(Errno::ENOTDIR.into());
    }
    t.task.fs.lock().cwd = Some(dir);
    Ok(0)
}

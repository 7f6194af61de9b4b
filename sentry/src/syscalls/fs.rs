//! Path syscalls on the VFS (`fs::vfs`): open, openat, openat2, creat,
//! stat, lstat, newfstatat, statx, access, faccessat(2), readlink(at),
//! getdents64, lseek, pread64, sendfile, getcwd, chdir, fchdir. The calls
//! that change the tree are in `path.rs`. A FIFO opens as a pipe of the
//! sandbox's own (`fs::fifo`).

use std::sync::Arc;

use crate::abi::fs::{OpenFlags, OpenHow, Stat as AbiStat, Statx, StatxTimestamp};
use crate::abi::{Fd, UserCStr, UserPtr, UserSlice, read_extensible};
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
pub(crate) fn read_path(t: &TaskCtx, path: UserCStr) -> Result<Vec<u8>, Errno> {
    path.read(&t.mm(), 4095)
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
                crate::fs::inotify::created(&w.parent, &w.name, false);
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
                crate::fs::inotify::opened(&f, false);
                return Ok(t.task.files().insert(f, cloexec, 0)? as u64);
            }
        };
        let status = flags as u32 & (O_ACCMODE as u32 | O_NONBLOCK | O_APPEND as u32);
        (status, open_path(t, path, flags)?)
    };
    let f = OpenFile::new(file, status);
    crate::fs::inotify::opened(&f, flags & O_TRUNC != 0 && flags & O_PATH == 0);
    Ok(t.task.files().insert(f, cloexec, 0)? as u64)
}

/// openat(dirfd, path, flags, mode).
pub fn openat(
    t: &mut TaskCtx,
    dirfd: Fd,
    path: UserCStr,
    flags: OpenFlags,
    mode: u32,
) -> SysResult {
    let flags = u64::from(flags.bits()) & VALID_OPEN;
    let p = read_path(t, path)?;
    // Linux ignores the mode without O_CREAT or O_TMPFILE.
    do_open(t, dirfd, &p, flags, u64::from(mode), 0)
}

/// open(path, flags, mode).
pub fn open(t: &mut TaskCtx, path: UserCStr, flags: OpenFlags, mode: u32) -> SysResult {
    openat(t, Fd(AT_FDCWD), path, flags, mode)
}

/// creat(path, mode): open(path, O_CREAT | O_WRONLY | O_TRUNC, mode).
pub fn creat(t: &mut TaskCtx, path: UserCStr, mode: u32) -> SysResult {
    let flags = OpenFlags::CREAT | OpenFlags::WRONLY | OpenFlags::TRUNC;
    openat(t, Fd(AT_FDCWD), path, flags, mode)
}

/// openat2(dirfd, path, how, size).
pub fn openat2(
    t: &mut TaskCtx,
    dirfd: Fd,
    path: UserCStr,
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

fn write_stat(t: &TaskCtx, buf: UserPtr<AbiStat>, st: &Stat) -> SysResult {
    buf.write(&t.mm(), &st.to_abi())?;
    Ok(0)
}

/// What `*stat*at(dirfd, path, flags)` finds (flags already checked).
fn stat_at(t: &TaskCtx, dirfd: Fd, path: UserCStr, flags: u64) -> Result<Stat, Errno> {
    let p = read_path(t, path)?;
    match target(t, dirfd, &p, flags, true)? {
        Target::Path(p) => Ok(p.stat()),
        Target::File(f) => Ok(f.ops.stat()),
    }
}

/// newfstatat(dirfd, path, statbuf, flags).
pub fn newfstatat(
    t: &mut TaskCtx,
    dirfd: Fd,
    path: UserCStr,
    buf: UserPtr<AbiStat>,
    flags: u32,
) -> SysResult {
    let flags = u64::from(flags);
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT) != 0 {
        return Err(Errno::EINVAL.into());
    }
    let st = stat_at(t, dirfd, path, flags)?;
    write_stat(t, buf, &st)
}

/// statx(dirfd, path, flags, mask, statxbuf): the basic fields.
pub fn statx(
    t: &mut TaskCtx,
    dirfd: Fd,
    path: UserCStr,
    flags: u32,
    mask: u32,
    buf: UserPtr<Statx>,
) -> SysResult {
    const AT_STATX_SYNC_TYPE: u64 = 0x6000;
    const STATX_RESERVED: u32 = 0x8000_0000;
    let flags = u64::from(flags);
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT | AT_STATX_SYNC_TYPE) != 0
        || flags & AT_STATX_SYNC_TYPE == AT_STATX_SYNC_TYPE
        || mask & STATX_RESERVED != 0
    {
        return Err(Errno::EINVAL.into());
    }
    let st = stat_at(t, dirfd, path, flags)?;
    let (dev_major, dev_minor) = split_dev(st.dev);
    let (rdev_major, rdev_minor) = split_dev(st.rdev);
    let time = |(sec, nsec): (i64, i64)| StatxTimestamp {
        sec,
        nsec: nsec as u32,
    };
    let x = Statx {
        mask: Statx::BASIC_STATS,
        blksize: st.blksize as u32,
        nlink: st.nlink as u32,
        uid: st.uid,
        gid: st.gid,
        mode: st.mode as u16,
        ino: st.ino,
        size: st.size as u64,
        blocks: st.blocks as u64,
        // btime is unknown: zero and out of the mask.
        atime: time(st.times[0]),
        ctime: time(st.times[2]),
        mtime: time(st.times[1]),
        rdev_major,
        rdev_minor,
        dev_major,
        dev_minor,
        ..Default::default()
    };
    buf.write(&t.mm(), &x)?;
    Ok(0)
}

/// Linux's dev_t encoding split into (major, minor).
fn split_dev(dev: u64) -> (u32, u32) {
    let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
    let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
    (major as u32, minor as u32)
}

/// stat(path, statbuf).
pub fn stat(t: &mut TaskCtx, path: UserCStr, buf: UserPtr<AbiStat>) -> SysResult {
    newfstatat(t, Fd(AT_FDCWD), path, buf, 0)
}

/// lstat(path, statbuf).
pub fn lstat(t: &mut TaskCtx, path: UserCStr, buf: UserPtr<AbiStat>) -> SysResult {
    newfstatat(t, Fd(AT_FDCWD), path, buf, AT_SYMLINK_NOFOLLOW as u32)
}

/// faccessat2(dirfd, path, mode, flags).
pub fn faccessat2(t: &mut TaskCtx, dirfd: Fd, path: UserCStr, mode: u32, flags: u32) -> SysResult {
    const W_OK: u32 = 2;
    const X_OK: u32 = 1;
    let flags = u64::from(flags);
    if mode & !7 != 0 || flags & !(AT_EACCESS | AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL.into());
    }
    let p = read_path(t, path)?;
    let (st, read_only) = match target(t, dirfd, &p, flags, true)? {
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
///
/// `buf`'s length is the `int bufsiz` as unsigned (the table's
/// `buf(a, uint(n))`): 0 or past `i32::MAX` is a size of at most 0, EINVAL.
pub fn readlinkat(t: &mut TaskCtx, dirfd: Fd, path: UserCStr, buf: UserSlice) -> SysResult {
    let p = read_path(t, path)?;
    if buf.is_empty() || buf.len() > i32::MAX as usize {
        return Err(Errno::EINVAL.into());
    }
    // An empty path reads the link an O_PATH descriptor names.
    let place = match target(t, dirfd, &p, AT_EMPTY_PATH, false)? {
        Target::Path(p) => p,
        Target::File(_) => return Err(Errno::EINVAL.into()),
    };
    if p.is_empty() && place.inode().kind() != FileType::Symlink {
        return Err(Errno::ENOENT.into());
    }
    let target = place.inode().readlink(&caller(t))?;
    let n = target.len().min(buf.len());
    buf.write(&t.mm(), &target[..n])?;
    Ok(n as u64)
}

/// getdents64(fd, dirp, count).
///
/// `dirp`'s length is the `unsigned int count`.
pub fn getdents64(t: &mut TaskCtx, fd: Fd, dirp: UserSlice) -> SysResult {
    let f = t.task.files().get(i64::from(fd.0))?;
    // Ask for no more entries than the buffer can take up to its first bad
    // page (Linux stops at the entry whose copy faults; EFAULT if none fit).
    let count = dirp.len().min(1 << 20);
    let dirp = dirp.addr();
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
pub fn lseek(t: &mut TaskCtx, fd: Fd, offset: i64, whence: u32) -> SysResult {
    let f = t.task.files().get(i64::from(fd.0))?;
    Ok(f.ops.seek(offset, whence)?)
}

/// pread64(fd, buf, count, offset).
pub fn pread64(t: &mut TaskCtx, fd: Fd, buf: UserSlice, offset: i64) -> SysResult {
    let f = t.task.files().get(i64::from(fd.0))?;
    if offset < 0 {
        return Err(Errno::EINVAL.into());
    }
    if f.status() & O_ACCMODE as u32 == O_WRONLY as u32 {
        return Err(Errno::EBADF.into());
    }
    // pread consumes nothing: copy what the buffer takes up to its first
    // bad page (EFAULT if nothing), as Linux does.
    let mut data = vec![0u8; buf.len().min(1 << 20)];
    let n = f.ops.pread(&mut data, offset as u64)?;
    crate::fs::inotify::accessed(&f, n as u64);
    super::file::copied_out(t.mm().write_prefix(buf.addr(), &data[..n]), n)
}

/// sendfile(out_fd, in_fd, offset, count): at most 1 MiB per call.
pub fn sendfile(
    t: &mut TaskCtx,
    out_fd: Fd,
    in_fd: Fd,
    offset: Option<UserPtr<i64>>,
    count: usize,
) -> SysResult {
    let files = t.task.files();
    let input = files.get(i64::from(in_fd.0))?;
    let output = files.get(i64::from(out_fd.0))?;
    if input.status() & 3 == 1 || output.status() & 3 == 0 {
        return Err(Errno::EBADF.into());
    }
    let mut data = vec![0u8; count.min(1 << 20)];
    let n = if let Some(offset) = offset {
        let off = offset.read(&t.mm())?;
        if off < 0 {
            return Err(Errno::EINVAL.into());
        }
        let n = input.ops.pread(&mut data, off as u64)?;
        offset.write(&t.mm(), &off.wrapping_add(n as i64))?;
        n
    } else {
        input.ops.read(&mut data, input.nonblocking(), &*t.task)?
    };
    if n == 0 {
        return Ok(0);
    }
    // do_sendfile's fsnotify_access (the write reports IN_MODIFY).
    crate::fs::inotify::accessed(&input, n as u64);
    let w = super::file::write_to(t, &output, &data[..n])
        .map_err(|e| super::file::epipe_to(t, &output, e))?;
    Ok(w as u64)
}

/// getcwd(buf, size).
pub fn getcwd(t: &mut TaskCtx, buf: UserSlice) -> SysResult {
    let dir = cwd(t);
    if dir.inode().stat().nlink == 0 {
        return Err(Errno::ENOENT.into());
    }
    let mut name = name_of(t, &dir);
    name.push(0);
    if buf.len() < name.len() {
        return Err(Errno::ERANGE.into());
    }
    buf.write(&t.mm(), &name)?;
    Ok(name.len() as u64)
}

/// chdir(path).
pub fn chdir(t: &mut TaskCtx, path: UserCStr) -> SysResult {
    let p = read_path(t, path)?;
    let dir = walk(t, Fd(AT_FDCWD), &p, &Resolve::FOLLOW)?.existing()?;
    if !dir.is_dir() {
        return Err(Errno::ENOTDIR.into());
    }
    t.task.fs.lock().cwd = Some(dir);
    Ok(0)
}

/// fchdir(fd).
pub fn fchdir(t: &mut TaskCtx, fd: Fd) -> SysResult {
    let f = t.task.files().get(i64::from(fd.0))?;
    let dir = f.ops.vfs_path().ok_or(Errno::ENOTDIR)?;
    if !dir.is_dir() {
        return Err(Errno::ENOTDIR.into());
    }
    t.task.fs.lock().cwd = Some(dir);
    Ok(0)
}

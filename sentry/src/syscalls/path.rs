//! The calls that change the tree or a file's attributes: mkdir(at),
//! mknod(at), unlink(at), rmdir, rename(at)(2), link(at), symlink(at),
//! (f)truncate, fallocate, chmod/fchmod(at), chown/fchown(at)/lchown,
//! utimensat/futimesat/utimes/utime, statfs/fstatfs, fsync/fdatasync/
//! syncfs/sync. Each checks in Linux's order (namei.c, open.c, utimes.c)
//! so the guest gets Linux's errno.

use std::sync::Arc;

use super::fs::{
    AT_EMPTY_PATH, AT_FDCWD, AT_REMOVEDIR, AT_SYMLINK_FOLLOW, AT_SYMLINK_NOFOLLOW, Target, caller,
    is_opath, read_path, target, walk,
};
use crate::abi::time::{Timespec, Timeval};
use crate::abi::{Fd, UserCStr, UserPtr};
use crate::errno::Errno;
use crate::fs::OpenFile;
use crate::fs::vfs::{
    FileType, Last, Path, RENAME_EXCHANGE, RENAME_NOREPLACE, RENAME_WHITEOUT, Resolve, SetAttr,
    StatFs, TimeSet, Walked,
};
use crate::kernel::task::{SysResult, TaskCtx};

const FDCWD: Fd = Fd(AT_FDCWD);

/// The place a new name goes (filename_create): EEXIST if it is taken
/// (or is `.`, `..`, `/`), ENOENT for a trailing slash on a non-directory,
/// EROFS on a read-only mount.
fn new_name(t: &TaskCtx, dirfd: Fd, path: &[u8], dir: bool) -> Result<Walked, Errno> {
    let w = walk(t, dirfd, path, &Resolve::NOFOLLOW)?;
    if w.last != Last::Name || w.found.is_some() {
        return Err(Errno::EEXIST);
    }
    if w.trailing_slash && !dir {
        return Err(Errno::ENOENT);
    }
    if w.parent.mount.read_only() {
        return Err(Errno::EROFS);
    }
    Ok(w)
}

fn umask(t: &TaskCtx) -> u32 {
    t.task.fs.lock().umask
}

/// mkdirat(dirfd, path, mode).
pub fn mkdirat(t: &mut TaskCtx, dirfd: Fd, path: UserCStr, mode: u32) -> SysResult {
    let p = read_path(t, path)?;
    let w = new_name(t, dirfd, &p, true)?;
    let perm = mode & 0o1777 & !umask(t);
    w.parent
        .inode()
        .create(&caller(t), &w.name, FileType::Directory, perm, 0)?;
    crate::fs::inotify::created(&w.parent, &w.name, true);
    Ok(0)
}

/// mknodat(dirfd, path, mode, dev): regular files, FIFOs, sockets and
/// (inert) device nodes.
pub fn mknodat(t: &mut TaskCtx, dirfd: Fd, path: UserCStr, mode: u32, dev: u32) -> SysResult {
    let kind = match mode & 0o170000 {
        0 => FileType::Regular,
        0o040000 => return Err(Errno::EPERM.into()),
        m => FileType::from_mode(m).ok_or(Errno::EINVAL)?,
    };
    let p = read_path(t, path)?;
    let w = new_name(t, dirfd, &p, false)?;
    let perm = mode & 0o7777 & !umask(t);
    let rdev = if matches!(kind, FileType::CharDevice | FileType::BlockDevice) {
        // new_decode_dev of the 32-bit dev_t.
        let dev = u64::from(dev);
        let (major, minor) = ((dev & 0xfff00) >> 8, (dev & 0xff) | ((dev >> 12) & 0xfff00));
        (minor & 0xff) | (major << 8) | ((minor & !0xff) << 12)
    } else {
        0
    };
    w.parent
        .inode()
        .create(&caller(t), &w.name, kind, perm, rdev)?;
    crate::fs::inotify::created(&w.parent, &w.name, false);
    Ok(0)
}

/// symlinkat(target, newdirfd, linkpath).
pub fn symlinkat(t: &mut TaskCtx, target_addr: UserCStr, dirfd: Fd, path: UserCStr) -> SysResult {
    let target = read_path(t, target_addr)?;
    let p = read_path(t, path)?;
    if target.is_empty() {
        return Err(Errno::ENOENT.into());
    }
    let w = new_name(t, dirfd, &p, false)?;
    w.parent.inode().symlink(&caller(t), &w.name, &target)?;
    crate::fs::inotify::created(&w.parent, &w.name, false);
    Ok(0)
}

/// linkat(olddirfd, oldpath, newdirfd, newpath, flags).
pub fn linkat(
    t: &mut TaskCtx,
    olddirfd: Fd,
    oldpath: UserCStr,
    newdirfd: Fd,
    newpath: UserCStr,
    flags: u32,
) -> SysResult {
    let flags = u64::from(flags);
    if flags & !(AT_SYMLINK_FOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL.into());
    }
    let old = read_path(t, oldpath)?;
    let new = read_path(t, newpath)?;
    let follow = flags & AT_SYMLINK_FOLLOW != 0;
    let src = match target(
        t,
        olddirfd,
        &old,
        (flags & AT_EMPTY_PATH) | if follow { 0 } else { AT_SYMLINK_NOFOLLOW },
        follow,
    )? {
        Target::Path(p) => p,
        Target::File(_) => return Err(Errno::ENOENT.into()),
    };
    let w = new_name(t, newdirfd, &new, false)?;
    if !Arc::ptr_eq(&src.mount, &w.parent.mount) {
        return Err(Errno::EXDEV.into());
    }
    if src.is_dir() {
        return Err(Errno::EPERM.into());
    }
    w.parent.inode().link(&caller(t), &w.name, src.inode())?;
    crate::fs::inotify::linked(&w.parent, &w.name, &src);
    Ok(0)
}

/// unlinkat(dirfd, path, flags).
pub fn unlinkat(t: &mut TaskCtx, dirfd: Fd, path: UserCStr, flags: u32) -> SysResult {
    let flags = u64::from(flags);
    if flags & !AT_REMOVEDIR != 0 {
        return Err(Errno::EINVAL.into());
    }
    let p = read_path(t, path)?;
    let w = walk(t, dirfd, &p, &Resolve::NOFOLLOW)?;
    let rmdir = flags & AT_REMOVEDIR != 0;
    match (w.last, rmdir) {
        (Last::Name, _) => {}
        (Last::DotDot, true) => return Err(Errno::ENOTEMPTY.into()),
        (Last::Dot, true) => return Err(Errno::EINVAL.into()),
        (Last::Root, true) => return Err(Errno::EBUSY.into()),
        (_, false) => return Err(Errno::EISDIR.into()),
    }
    if w.parent.mount.read_only() {
        return Err(Errno::EROFS.into());
    }
    let found = w.found.ok_or(Errno::ENOENT)?;
    if !Arc::ptr_eq(&found.mount, &w.parent.mount) {
        // A mount point.
        return Err(Errno::EBUSY.into());
    }
    let c = caller(t);
    if rmdir {
        w.parent.inode().rmdir(&c, &w.name)?;
    } else {
        if w.trailing_slash {
            return Err(if found.is_dir() {
                Errno::EISDIR
            } else {
                Errno::ENOTDIR
            }
            .into());
        }
        w.parent.inode().unlink(&c, &w.name)?;
    }
    crate::fs::inotify::unlinked(&w.parent, &w.name, &found);
    drop(found);
    drop(w.parent);
    crate::fs::inotify::sweep();
    Ok(0)
}

/// renameat2(olddirfd, oldpath, newdirfd, newpath, flags).
pub fn renameat2(
    t: &mut TaskCtx,
    olddirfd: Fd,
    oldpath: UserCStr,
    newdirfd: Fd,
    newpath: UserCStr,
    flags: u32,
) -> SysResult {
    if flags & !(RENAME_NOREPLACE | RENAME_EXCHANGE | RENAME_WHITEOUT) != 0
        || flags & RENAME_NOREPLACE != 0 && flags & RENAME_EXCHANGE != 0
        || flags & RENAME_WHITEOUT != 0 && flags & RENAME_EXCHANGE != 0
    {
        return Err(Errno::EINVAL.into());
    }
    if flags & RENAME_WHITEOUT != 0 {
        // Whiteouts are the overlay's own business.
        return Err(Errno::EINVAL.into());
    }
    let old = read_path(t, oldpath)?;
    let new = read_path(t, newpath)?;
    let from = walk(t, olddirfd, &old, &Resolve::NOFOLLOW)?;
    let to = walk(t, newdirfd, &new, &Resolve::NOFOLLOW)?;
    if from.last != Last::Name {
        return Err(Errno::EBUSY.into());
    }
    if to.last != Last::Name {
        return Err(if flags & RENAME_NOREPLACE != 0 {
            Errno::EEXIST
        } else {
            Errno::EBUSY
        }
        .into());
    }
    if !Arc::ptr_eq(&from.parent.mount, &to.parent.mount) {
        return Err(Errno::EXDEV.into());
    }
    if from.parent.mount.read_only() {
        return Err(Errno::EROFS.into());
    }
    let src = from.found.as_ref().ok_or(Errno::ENOENT)?;
    if (from.trailing_slash || to.trailing_slash) && !src.is_dir() {
        return Err(Errno::ENOTDIR.into());
    }
    if flags & RENAME_NOREPLACE != 0 && to.found.is_some() {
        return Err(Errno::EEXIST.into());
    }
    if flags & RENAME_EXCHANGE != 0 && to.found.is_none() {
        return Err(Errno::ENOENT.into());
    }
    let busy = |p: &Path, parent: &Path| !Arc::ptr_eq(&p.mount, &parent.mount);
    if busy(src, &from.parent) || to.found.as_ref().is_some_and(|d| busy(d, &to.parent)) {
        return Err(Errno::EBUSY.into());
    }
    from.parent
        .inode()
        .rename(&caller(t), &from.name, to.parent.inode(), &to.name, flags)?;
    let exchange = flags & RENAME_EXCHANGE != 0;
    crate::fs::inotify::renamed(
        &from.parent,
        &from.name,
        &to.parent,
        &to.name,
        src,
        to.found.as_ref(),
        exchange,
    );
    drop(from);
    drop(to);
    crate::fs::inotify::sweep();
    Ok(0)
}

/// Sets attributes of `p` after the read-only check.
fn set(t: &TaskCtx, p: &Path, attr: &SetAttr) -> SysResult {
    if p.mount.read_only() {
        return Err(Errno::EROFS.into());
    }
    p.inode().setattr(&caller(t), attr)?;
    crate::fs::inotify::attr_changed(p, attr);
    Ok(0)
}

/// The place behind a descriptor for f*() calls (EBADF for O_PATH ones
/// and files outside the tree give `outside`).
fn fd_path(t: &TaskCtx, fd: Fd, outside: Errno) -> Result<(Arc<OpenFile>, Path), Errno> {
    let f = t.task.files().get(fd.0 as i64)?;
    if is_opath(&f) {
        return Err(Errno::EBADF);
    }
    let p = f.ops.vfs_path().ok_or(outside)?;
    Ok((f, p))
}

/// The inode behind an open file: its place in the VFS, or the tmpfs
/// inode of a file that has none (a memfd).
fn file_inode(f: &OpenFile) -> Option<Arc<dyn crate::fs::vfs::Inode>> {
    match f.ops.vfs_path() {
        Some(p) => Some(Arc::clone(p.inode())),
        None => f
            .ops
            .tmpfs_inode()
            .map(|i| i as Arc<dyn crate::fs::vfs::Inode>),
    }
}

/// [`fd_path`]'s checks, for the inode ([`file_inode`]).
fn fd_inode(
    t: &TaskCtx,
    fd: Fd,
    outside: Errno,
) -> Result<(Arc<OpenFile>, Arc<dyn crate::fs::vfs::Inode>), Errno> {
    let f = t.task.files().get(fd.0 as i64)?;
    if is_opath(&f) {
        return Err(Errno::EBADF);
    }
    let inode = file_inode(&f).ok_or(outside)?;
    Ok((f, inode))
}

/// RLIMIT_FSIZE for growing `inode` to `len` (inode_newsize_ok): SIGXFSZ
/// and EFBIG past the limit.
fn fsize_grow(t: &TaskCtx, inode: &dyn crate::fs::vfs::Inode, len: u64) -> Result<(), Errno> {
    let limit = t
        .task
        .tg
        .limits
        .lock()
        .soft(crate::kernel::limits::resource::FSIZE);
    if limit != crate::kernel::limits::RLIM_INFINITY
        && len > limit
        && (inode.stat().size.max(0) as u64) < len
    {
        // fsize_check signals for a position at or past the limit.
        return super::file::fsize_check(t, len, limit);
    }
    Ok(())
}

fn truncate_to(t: &TaskCtx, p: &Path, len: u64) -> SysResult {
    match p.inode().kind() {
        FileType::Directory => return Err(Errno::EISDIR.into()),
        FileType::Regular => {}
        _ => return Err(Errno::EINVAL.into()),
    }
    fsize_grow(t, &**p.inode(), len)?;
    set(
        t,
        p,
        &SetAttr {
            size: Some(len),
            ..Default::default()
        },
    )
}

/// truncate(path, length).
pub fn truncate(t: &mut TaskCtx, path: UserCStr, len: i64) -> SysResult {
    let p = read_path(t, path)?;
    if len < 0 {
        return Err(Errno::EINVAL.into());
    }
    let place = walk(t, FDCWD, &p, &Resolve::FOLLOW)?.existing()?;
    truncate_to(t, &place, len as u64)
}

/// ftruncate(fd, length).
pub fn ftruncate(t: &mut TaskCtx, fd: Fd, len: i64) -> SysResult {
    if len < 0 {
        return Err(Errno::EINVAL.into());
    }
    let (f, inode) = fd_inode(t, fd, Errno::EINVAL)?;
    if f.status() & 3 == 0 || inode.kind() != FileType::Regular {
        return Err(Errno::EINVAL.into());
    }
    fsize_grow(t, &*inode, len as u64)?;
    inode.setattr(
        &caller(t),
        &SetAttr {
            size: Some(len as u64),
            ..Default::default()
        },
    )?;
    crate::fs::inotify::truncated(&f);
    Ok(0)
}

/// fallocate(fd, mode, offset, len): mode 0, KEEP_SIZE and
/// PUNCH_HOLE|KEEP_SIZE.
pub fn fallocate(t: &mut TaskCtx, fd: Fd, mode: u32, offset: i64, len: i64) -> SysResult {
    const KEEP_SIZE: u32 = 1;
    const PUNCH_HOLE: u32 = 2;
    if offset < 0 || len <= 0 {
        return Err(Errno::EINVAL.into());
    }
    if mode & !(KEEP_SIZE | PUNCH_HOLE) != 0 {
        return Err(Errno::EOPNOTSUPP.into());
    }
    if mode & PUNCH_HOLE != 0 && mode & KEEP_SIZE == 0 {
        return Err(Errno::EOPNOTSUPP.into());
    }
    let f = t.task.files().get(fd.0 as i64)?;
    if is_opath(&f) || f.status() & 3 == 0 {
        return Err(Errno::EBADF.into());
    }
    if f.ops.as_pipe().is_some() {
        return Err(Errno::ESPIPE.into());
    }
    let inode = file_inode(&f).ok_or(Errno::ENODEV)?;
    match inode.kind() {
        FileType::Directory => return Err(Errno::EISDIR.into()),
        FileType::Regular => {}
        _ => return Err(Errno::ENODEV.into()),
    }
    if offset.checked_add(len).is_none() {
        return Err(Errno::EFBIG.into());
    }
    inode.allocate(mode, offset as u64, len as u64)?;
    Ok(0)
}

fn chmod_attr(mode: u32) -> SetAttr {
    SetAttr {
        mode: Some(mode & 0o7777),
        ..Default::default()
    }
}

/// fchmodat(dirfd, path, mode) and fchmodat2(..., flags).
pub fn fchmodat2(t: &mut TaskCtx, dirfd: Fd, path: UserCStr, mode: u32, flags: u32) -> SysResult {
    let flags = u64::from(flags);
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL.into());
    }
    let p = read_path(t, path)?;
    match target(t, dirfd, &p, flags, true)? {
        Target::Path(p) => {
            if p.inode().kind() == FileType::Symlink {
                return Err(Errno::EOPNOTSUPP.into());
            }
            set(t, &p, &chmod_attr(mode))
        }
        Target::File(_) => Ok(0),
    }
}

/// fchmod(fd, mode).
pub fn fchmod(t: &mut TaskCtx, fd: Fd, mode: u32) -> SysResult {
    match fd_path(t, fd, Errno::EBADF) {
        Ok((_, p)) => set(t, &p, &chmod_attr(mode)),
        // A memfd: its inode keeps the mode (and its F_SEAL_EXEC rule).
        Err(Errno::EBADF)
            if let Some(inode) = t
                .task
                .files()
                .get(fd.0 as i64)
                .ok()
                .filter(|f| !is_opath(f))
                .and_then(|f| f.ops.tmpfs_inode()) =>
        {
            crate::fs::vfs::Inode::setattr(&*inode, &caller(t), &chmod_attr(mode))?;
            Ok(0)
        }
        // Pipes and the like: nothing to keep.
        Err(Errno::EBADF) if t.task.files().get(fd.0 as i64).is_ok_and(|f| !is_opath(&f)) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

/// chown's attributes: -1 keeps a field; a non-directory loses set-user-ID,
/// and set-group-ID when group-executable (Linux's ATTR_KILL_S*ID).
fn chown_attr(p: &Path, uid: u32, gid: u32) -> SetAttr {
    let uid = (uid != u32::MAX).then_some(uid);
    let gid = (gid != u32::MAX).then_some(gid);
    let mut attr = SetAttr {
        uid,
        gid,
        ..Default::default()
    };
    let mode = p.stat().mode;
    if !p.is_dir() && p.inode().kind() != FileType::Symlink {
        let mut m = mode & 0o7777 & !0o4000;
        if mode & 0o010 != 0 {
            m &= !0o2000;
        }
        if m != mode & 0o7777 {
            attr.mode = Some(m);
        }
    }
    attr
}

/// fchownat(dirfd, path, uid, gid, flags).
pub fn fchownat(
    t: &mut TaskCtx,
    dirfd: Fd,
    path: UserCStr,
    uid: u32,
    gid: u32,
    flags: u32,
) -> SysResult {
    let flags = u64::from(flags);
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL.into());
    }
    let p = read_path(t, path)?;
    match target(t, dirfd, &p, flags, true)? {
        Target::Path(p) => set(t, &p, &chown_attr(&p, uid, gid)),
        Target::File(_) => Ok(0),
    }
}

/// fchown(fd, uid, gid).
pub fn fchown(t: &mut TaskCtx, fd: Fd, uid: u32, gid: u32) -> SysResult {
    match fd_path(t, fd, Errno::EBADF) {
        Ok((_, p)) => set(t, &p, &chown_attr(&p, uid, gid)),
        Err(Errno::EBADF) if t.task.files().get(fd.0 as i64).is_ok_and(|f| !is_opath(&f)) => Ok(0),
        Err(e) => Err(e.into()),
    }
}

const UTIME_NOW: i64 = (1 << 30) - 1;
const UTIME_OMIT: i64 = (1 << 30) - 2;

/// Sets the times of `(dirfd, path)` (path None: the descriptor itself).
fn set_times(
    t: &TaskCtx,
    dirfd: Fd,
    path: Option<Vec<u8>>,
    times: [Option<TimeSet>; 2],
    flags: u64,
) -> SysResult {
    let place = match path {
        Some(p) => match target(t, dirfd, &p, flags, true)? {
            Target::Path(p) => p,
            Target::File(_) => return Ok(0),
        },
        None => {
            if dirfd.0 == AT_FDCWD {
                return Err(Errno::EFAULT.into());
            }
            let f = t.task.files().get(dirfd.0 as i64)?;
            match f.ops.vfs_path() {
                Some(p) => p,
                None => return Ok(0),
            }
        }
    };
    if times == [None, None] {
        return Ok(0);
    }
    set(
        t,
        &place,
        &SetAttr {
            atime: times[0],
            mtime: times[1],
            ..Default::default()
        },
    )
}

/// utimensat(dirfd, path, times, flags).
pub fn utimensat(
    t: &mut TaskCtx,
    dirfd: Fd,
    path: Option<UserCStr>,
    times: Option<UserPtr<Timespec>>,
    flags: u32,
) -> SysResult {
    let ts = match times {
        None => [Some(TimeSet::Now); 2],
        Some(p) => {
            let v = p.read_array(&t.mm(), 2)?;
            let mut out = [None; 2];
            for (o, ts) in out.iter_mut().zip(v) {
                *o = match ts.nsec {
                    UTIME_NOW => Some(TimeSet::Now),
                    UTIME_OMIT => None,
                    0..=999_999_999 => Some(TimeSet::At(ts.sec, ts.nsec)),
                    _ => return Err(Errno::EINVAL.into()),
                };
            }
            out
        }
    };
    let flags = u64::from(flags);
    if flags & !(AT_SYMLINK_NOFOLLOW | AT_EMPTY_PATH) != 0 {
        return Err(Errno::EINVAL.into());
    }
    let p = match path {
        None => None,
        Some(path) => Some(read_path(t, path)?),
    };
    set_times(t, dirfd, p, ts, flags)
}

/// futimesat(dirfd, path, timeval[2]) and utimes(path, timeval[2]).
pub fn futimesat(
    t: &mut TaskCtx,
    dirfd: Fd,
    path: Option<UserCStr>,
    times: Option<UserPtr<Timeval>>,
) -> SysResult {
    let ts = match times {
        None => [Some(TimeSet::Now); 2],
        Some(p) => {
            let v = p.read_array(&t.mm(), 2)?;
            let mut out = [None; 2];
            for (o, tv) in out.iter_mut().zip(v) {
                if !(0..1_000_000).contains(&tv.usec) {
                    return Err(Errno::EINVAL.into());
                }
                *o = Some(TimeSet::At(tv.sec, tv.usec * 1000));
            }
            out
        }
    };
    let p = match path {
        None => None,
        Some(path) => Some(read_path(t, path)?),
    };
    set_times(t, dirfd, p, ts, 0)
}

/// utime(path, struct utimbuf { actime, modtime }).
pub fn utime(t: &mut TaskCtx, path: UserCStr, times: Option<UserPtr<i64>>) -> SysResult {
    let ts = match times {
        None => [Some(TimeSet::Now); 2],
        Some(p) => {
            let v = p.read_array(&t.mm(), 2)?;
            [Some(TimeSet::At(v[0], 0)), Some(TimeSet::At(v[1], 0))]
        }
    };
    let p = read_path(t, path)?;
    set_times(t, FDCWD, Some(p), ts, 0)
}

/// statfs(path, buf).
pub fn statfs(t: &mut TaskCtx, path: UserCStr, buf: UserPtr<StatFs>) -> SysResult {
    let p = read_path(t, path)?;
    let place = walk(t, FDCWD, &p, &Resolve::FOLLOW)?.existing()?;
    buf.write(&t.mm(), &place.mount.statfs())?;
    Ok(0)
}

/// fstatfs(fd, buf) (also on O_PATH descriptors, as Linux).
pub fn fstatfs(t: &mut TaskCtx, fd: Fd, buf: UserPtr<StatFs>) -> SysResult {
    const PIPEFS_MAGIC: i64 = 0x5049_5045;
    const ANON_INODE_FS_MAGIC: i64 = 0x0904_1934;
    let f = t.task.files().get(fd.0 as i64)?;
    let s = match f.ops.vfs_path() {
        Some(p) => p.mount.statfs(),
        None => StatFs {
            fs_type: if f.ops.as_pipe().is_some() {
                PIPEFS_MAGIC
            } else {
                ANON_INODE_FS_MAGIC
            },
            bsize: 4096,
            namelen: 255,
            frsize: 4096,
            ..Default::default()
        },
    };
    buf.write(&t.mm(), &s)?;
    Ok(0)
}

/// fsync(fd) and fdatasync(fd): EINVAL for pipes and other files that
/// cannot be synced, 0 for the tree's files (they live in memory).
pub fn fsync(t: &mut TaskCtx, fd: Fd) -> SysResult {
    let f = t.task.files().get(fd.0 as i64)?;
    if is_opath(&f) {
        return Err(Errno::EBADF.into());
    }
    match f.ops.vfs_path() {
        Some(p) if p.inode().kind() != FileType::Fifo => {
            p.inode().sync()?;
            Ok(0)
        }
        _ => Err(Errno::EINVAL.into()),
    }
}

/// syncfs(fd).
pub fn syncfs(t: &mut TaskCtx, fd: Fd) -> SysResult {
    let f = t.task.files().get(fd.0 as i64)?;
    if is_opath(&f) {
        return Err(Errno::EBADF.into());
    }
    Ok(0)
}

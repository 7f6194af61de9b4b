//! inotify_init, inotify_init1, inotify_add_watch and inotify_rm_watch
//! (the instances and the event hooks are fs/inotify.rs).

use std::sync::Arc;

use super::fs::{read_path, walk};
use crate::abi::{Fd, UserCStr};
use crate::errno::Errno;
use crate::fs::inotify::{IN_DONT_FOLLOW, IN_ONLYDIR, Inotify};
use crate::fs::vfs::Resolve;
use crate::fs::{O_CLOEXEC, O_NONBLOCK, OpenFile};
use crate::kernel::task::{SysResult, TaskCtx};

/// inotify_init1(flags); inotify_init() is flags 0.
pub fn inotify_init1(t: &mut TaskCtx, flags: u32) -> SysResult {
    if flags & !(O_CLOEXEC | O_NONBLOCK) != 0 {
        return Err(Errno::EINVAL.into());
    }
    let f = Inotify::new(Arc::clone(&t.task.kernel.readiness))?;
    let status = flags & O_NONBLOCK; // O_RDONLY
    let fd = t.task.files().insert(
        OpenFile::new(Box::new(f), status),
        flags & O_CLOEXEC != 0,
        0,
    )?;
    Ok(fd as u64)
}

/// inotify_add_watch(fd, pathname, mask), checked in Linux's order: the
/// mask (EINVAL), the descriptor (EBADF, EINVAL if not inotify), the path
/// (IN_DONT_FOLLOW, IN_ONLYDIR: ENOTDIR).
pub fn inotify_add_watch(t: &mut TaskCtx, fd: Fd, path: UserCStr, mask: u32) -> SysResult {
    if !Inotify::valid_mask(mask) {
        return Err(Errno::EINVAL.into());
    }
    let f = t.task.files().get(i64::from(fd.0))?;
    let Some(inotify) = f.ops.as_inotify() else {
        return Err(Errno::EINVAL.into());
    };
    let p = read_path(t, path)?;
    let how = if mask & IN_DONT_FOLLOW != 0 {
        Resolve::NOFOLLOW
    } else {
        Resolve::FOLLOW
    };
    let w = walk(t, Fd(super::fs::AT_FDCWD), &p, &how)?;
    let place = w.existing()?;
    if mask & IN_ONLYDIR != 0 && !place.is_dir() {
        return Err(Errno::ENOTDIR.into());
    }
    Ok(inotify.add_watch(&place, mask)? as u64)
}

/// inotify_rm_watch(fd, wd).
pub fn inotify_rm_watch(t: &mut TaskCtx, fd: Fd, wd: i32) -> SysResult {
    let f = t.task.files().get(i64::from(fd.0))?;
    let Some(inotify) = f.ops.as_inotify() else {
        return Err(Errno::EINVAL.into());
    };
    inotify.rm_watch(wd)?;
    Ok(0)
}

//! Extended attributes (getxattr, listxattr, setxattr, removexattr and
//! their `l` and `f` forms) and the file-access hints fadvise64 and
//! readahead.
//!
//! The sandbox's files have no extended attributes: the host tree's are
//! not shown (they are host metadata such as security labels), and the
//! in-memory layers keep none. So, after Linux's checks of the name
//! (ERANGE for an empty one or one longer than 255 bytes), of the path or
//! descriptor and of the flags, a get or remove of a name in a namespace
//! Linux knows (`user.`, `trusted.`, `security.`, `system.`) gives
//! ENODATA, any other name EOPNOTSUPP (as `xattr_resolve_name`), a list
//! is empty, and a set gives EOPNOTSUPP, as on a file system without
//! xattr support. That is what `ls -l` (POSIX ACLs), `cp -a` and `tar`
//! expect of such a file system.

use crate::abi::{Fd, UserCStr};
use crate::errno::Errno;
use crate::fs::vfs::Resolve;
use crate::kernel::task::{SysResult, TaskCtx};

use super::fs::{read_path, walk};

/// Linux's `XATTR_NAME_MAX`.
const XATTR_NAME_MAX: usize = 255;
/// Linux's `XATTR_SIZE_MAX`.
const XATTR_SIZE_MAX: u64 = 65536;
/// setxattr flags.
const XATTR_CREATE: i32 = 1;
const XATTR_REPLACE: i32 = 2;

/// Where an xattr call looks: a path (followed or not) or a descriptor.
#[derive(Clone, Copy)]
pub enum On {
    /// `getxattr(path, ...)`: links followed.
    Path(UserCStr),
    /// `lgetxattr(path, ...)`: the link itself.
    Link(UserCStr),
    /// `fgetxattr(fd, ...)`.
    Fd(Fd),
}

/// Reads an attribute name as Linux's `strncpy_from_user` into
/// `XATTR_NAME_MAX + 1` bytes: ERANGE when empty or too long.
fn read_name(t: &TaskCtx, name: UserCStr) -> Result<Vec<u8>, Errno> {
    match name.read(&t.mm(), XATTR_NAME_MAX + 1) {
        Ok(n) if n.is_empty() || n.len() > XATTR_NAME_MAX => Err(Errno::ERANGE),
        Ok(n) => Ok(n),
        Err(Errno::ENAMETOOLONG) => Err(Errno::ERANGE),
        Err(e) => Err(e),
    }
}

/// Checks that the file exists: the path resolves (ENOENT, ENOTDIR,
/// ELOOP...), or the descriptor is open (EBADF; O_PATH ones too, as for
/// fgetxattr Linux refuses them: EBADF).
fn target(t: &TaskCtx, on: On) -> Result<(), Errno> {
    match on {
        On::Path(p) | On::Link(p) => {
            let path = read_path(t, p)?;
            let how = if matches!(on, On::Path(_)) {
                Resolve::FOLLOW
            } else {
                Resolve::NOFOLLOW
            };
            walk(t, Fd(super::fs::AT_FDCWD), &path, &how)?.existing()?;
        }
        On::Fd(fd) => {
            let f = t.task.files().get(i64::from(fd.0))?;
            if f.status() & 0o10000000 != 0 {
                return Err(Errno::EBADF);
            }
        }
    }
    Ok(())
}

/// The error for a name that is not there: ENODATA in a namespace Linux
/// knows, EOPNOTSUPP in any other.
fn absent(name: &[u8]) -> Errno {
    const KNOWN: [&[u8]; 4] = [b"user.", b"trusted.", b"security.", b"system."];
    if KNOWN
        .iter()
        .any(|p| name.starts_with(p) && name.len() > p.len())
    {
        Errno::ENODATA
    } else {
        Errno::EOPNOTSUPP
    }
}

/// getxattr, lgetxattr, fgetxattr(on, name, value, size).
pub fn getxattr(t: &mut TaskCtx, on: On, name: UserCStr) -> SysResult {
    let name = read_name(t, name)?;
    target(t, on)?;
    Err(absent(&name).into())
}

/// listxattr, llistxattr, flistxattr(on, list, size): an empty list.
pub fn listxattr(t: &mut TaskCtx, on: On) -> SysResult {
    target(t, on)?;
    Ok(0)
}

/// setxattr, lsetxattr, fsetxattr(on, name, value, size, flags): EINVAL
/// for unknown flags, ERANGE for a bad name, E2BIG for a value over 64
/// KiB, then the file's errors, then EOPNOTSUPP (XATTR_REPLACE of an
/// absent name in a known namespace: ENODATA).
pub fn setxattr(t: &mut TaskCtx, on: On, name: UserCStr, size: u64, flags: i32) -> SysResult {
    if flags & !(XATTR_CREATE | XATTR_REPLACE) != 0 {
        return Err(Errno::EINVAL.into());
    }
    let name = read_name(t, name)?;
    if size > XATTR_SIZE_MAX {
        return Err(Errno::E2BIG.into());
    }
    target(t, on)?;
    if flags & XATTR_REPLACE != 0 && absent(&name) == Errno::ENODATA {
        return Err(Errno::ENODATA.into());
    }
    Err(Errno::EOPNOTSUPP.into())
}

/// removexattr, lremovexattr, fremovexattr(on, name).
pub fn removexattr(t: &mut TaskCtx, on: On, name: UserCStr) -> SysResult {
    let name = read_name(t, name)?;
    target(t, on)?;
    Err(absent(&name).into())
}

/// posix_fadvise's advice values (0 NORMAL to 5 NOREUSE).
const POSIX_FADV_NOREUSE: i32 = 5;

/// fadvise64(fd, offset, len, advice): EBADF, ESPIPE for a pipe or FIFO,
/// EINVAL for an unknown advice or a negative length; otherwise a hint
/// that changes nothing here (the files live in memory or are read on
/// demand), 0.
pub fn fadvise64(t: &mut TaskCtx, fd: Fd, len: i64, advice: i32) -> SysResult {
    let f = t.task.files().get(i64::from(fd.0))?;
    if f.status() & 0o10000000 != 0 {
        return Err(Errno::EBADF.into());
    }
    if f.ops.as_pipe().is_some() {
        return Err(Errno::ESPIPE.into());
    }
    if !(0..=POSIX_FADV_NOREUSE).contains(&advice) || len < 0 {
        return Err(Errno::EINVAL.into());
    }
    Ok(0)
}

/// readahead(fd, offset, count): EBADF unless open for reading, EINVAL
/// for anything but a regular file; otherwise 0 (a hint).
pub fn readahead(t: &mut TaskCtx, fd: Fd) -> SysResult {
    let f = t.task.files().get(i64::from(fd.0))?;
    if f.status() & 0o10000000 != 0 || f.status() & 3 == 1 {
        return Err(Errno::EBADF.into());
    }
    if f.ops.stat().mode & 0o170000 != 0o100000 {
        return Err(Errno::EINVAL.into());
    }
    Ok(0)
}

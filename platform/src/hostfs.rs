//! The host file calls the sentry's root filesystem needs and std does not
//! offer: lookups relative to a directory descriptor (`openat`,
//! `readlinkat`), the filesystem type under a descriptor (`fstatfs`) and
//! the entries of an open directory (`getdents64`). With them the sentry
//! walks a host tree one component at a time, never letting the host
//! kernel follow a symbolic link or open a device on its behalf.

use std::ffi::CString;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};

fn component(name: &[u8]) -> io::Result<CString> {
    if name.is_empty() || name.contains(&b'/') {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    CString::new(name).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))
}

/// `openat(dir, name, flags | O_CLOEXEC)` for one path component `name`
/// (no `/`, not empty; `.` and `..` are allowed).
pub fn openat(dir: BorrowedFd<'_>, name: &[u8], flags: i32) -> io::Result<OwnedFd> {
    let name = component(name)?;
    // SAFETY: `name` is a valid NUL-terminated string that outlives the
    // call; `dir` is an open descriptor for the duration of the borrow.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openat just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `readlinkat(dir, name)`: the target of the symbolic link `name` (at
/// most 4095 bytes, as PATH_MAX allows).
pub fn readlinkat(dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<Vec<u8>> {
    let name = component(name)?;
    let mut buf = vec![0u8; 4096];
    // SAFETY: `name` is NUL-terminated and `buf` is valid for writes of
    // buf.len() bytes; `dir` is open for the duration of the borrow.
    let n = unsafe {
        libc::readlinkat(
            dir.as_raw_fd(),
            name.as_ptr(),
            buf.as_mut_ptr().cast(),
            buf.len(),
        )
    };
    if n < 0 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    if n >= buf.len() {
        return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
    }
    buf.truncate(n);
    Ok(buf)
}

/// The `f_type` (filesystem magic number) of the filesystem under `fd`.
pub fn fstatfs_type(fd: BorrowedFd<'_>) -> io::Result<i64> {
    // SAFETY: statfs is plain old data; all-zero bytes are a valid value.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `st` is a valid, writable statfs; `fd` is open for the
    // duration of the borrow.
    let r = unsafe { libc::fstatfs(fd.as_raw_fd(), &mut st) };
    if r < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_type as i64)
}

/// One entry of a host directory: name, inode number, `d_type`.
pub type DirEntry = (Vec<u8>, u64, u8);

/// Every entry of the directory open (for reading) at `fd`, `.` and `..`
/// excluded, at most `max` of them.
pub fn read_dir(fd: BorrowedFd<'_>, max: usize) -> io::Result<Vec<DirEntry>> {
    let mut out = Vec::new();
    let mut buf = vec![0u8; 32 * 1024];
    loop {
        // SAFETY: `buf` is valid for writes of buf.len() bytes; `fd` is
        // open for the duration of the borrow.
        let n = unsafe {
            libc::syscall(
                libc::SYS_getdents64,
                fd.as_raw_fd(),
                buf.as_mut_ptr(),
                buf.len(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        if n == 0 {
            return Ok(out);
        }
        let data = &buf[..n as usize];
        let mut off = 0;
        // struct linux_dirent64: u64 ino, i64 off, u16 reclen, u8 type, name.
        while off + 19 <= data.len() {
            let ino = u64::from_le_bytes(data[off..off + 8].try_into().expect("8 bytes"));
            let reclen =
                u16::from_le_bytes(data[off + 16..off + 18].try_into().expect("2 bytes")) as usize;
            let d_type = data[off + 18];
            if reclen < 19 || off + reclen > data.len() {
                break;
            }
            let raw = &data[off + 19..off + reclen];
            let name = raw.split(|&b| b == 0).next().unwrap_or_default();
            if name != b"." && name != b".." {
                if out.len() >= max {
                    return Ok(out);
                }
                out.push((name.to_vec(), ino, d_type));
            }
            off += reclen;
        }
    }
}

/// Turns a -1 result into the current errno.
fn check(r: libc::c_int) -> io::Result<()> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Creates the regular file `name` in `dir` (`O_CREAT | O_EXCL |
/// O_NOFOLLOW`, opened read-write, never blocking or taking a terminal).
pub fn create_file(dir: BorrowedFd<'_>, name: &[u8], mode: u32) -> io::Result<OwnedFd> {
    let name = component(name)?;
    let flags = libc::O_CREAT
        | libc::O_EXCL
        | libc::O_RDWR
        | libc::O_NOFOLLOW
        | libc::O_NONBLOCK
        | libc::O_NOCTTY
        | libc::O_CLOEXEC;
    // SAFETY: `name` is NUL-terminated and outlives the call; `dir` is open
    // for the duration of the borrow; the mode argument is given for
    // O_CREAT.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), name.as_ptr(), flags, mode & 0o7777) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: openat just returned this descriptor and nothing else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// `mkdirat(dir, name, mode)` for one component `name`.
pub fn mkdirat(dir: BorrowedFd<'_>, name: &[u8], mode: u32) -> io::Result<()> {
    let name = component(name)?;
    // SAFETY: `name` is NUL-terminated and outlives the call; `dir` is open
    // for the duration of the borrow.
    check(unsafe { libc::mkdirat(dir.as_raw_fd(), name.as_ptr(), mode) })
}

/// `mknodat(dir, name, S_IFIFO | mode, 0)`: only FIFOs (the sentry never
/// makes a host device node).
pub fn mkfifoat(dir: BorrowedFd<'_>, name: &[u8], mode: u32) -> io::Result<()> {
    let name = component(name)?;
    // SAFETY: as for mkdirat; the type is forced to S_IFIFO.
    check(unsafe {
        libc::mknodat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::S_IFIFO | (mode & 0o7777),
            0,
        )
    })
}

/// `mknodat(dir, name, S_IFSOCK | mode, 0)`: a socket file with no
/// socket behind it on the host (the sandbox's own Unix socket bound to
/// the path is found by the file's inode; a host process connecting to it
/// gets ECONNREFUSED).
pub fn mksockat(dir: BorrowedFd<'_>, name: &[u8], mode: u32) -> io::Result<()> {
    let name = component(name)?;
    // SAFETY: as for mkdirat; the type is forced to S_IFSOCK.
    check(unsafe {
        libc::mknodat(
            dir.as_raw_fd(),
            name.as_ptr(),
            libc::S_IFSOCK | (mode & 0o7777),
            0,
        )
    })
}

/// `symlinkat(target, dir, name)`.
pub fn symlinkat(target: &[u8], dir: BorrowedFd<'_>, name: &[u8]) -> io::Result<()> {
    let name = component(name)?;
    let target = CString::new(target).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    // SAFETY: both strings are NUL-terminated and outlive the call; `dir`
    // is open for the duration of the borrow.
    check(unsafe { libc::symlinkat(target.as_ptr(), dir.as_raw_fd(), name.as_ptr()) })
}

/// `linkat(old_dir, old, new_dir, new, 0)`: never follows a link.
pub fn linkat(
    old_dir: BorrowedFd<'_>,
    old: &[u8],
    new_dir: BorrowedFd<'_>,
    new: &[u8],
) -> io::Result<()> {
    let old = component(old)?;
    let new = component(new)?;
    // SAFETY: both names are NUL-terminated and outlive the call; both
    // descriptors are open for the duration of their borrows.
    check(unsafe {
        libc::linkat(
            old_dir.as_raw_fd(),
            old.as_ptr(),
            new_dir.as_raw_fd(),
            new.as_ptr(),
            0,
        )
    })
}

/// `unlinkat(dir, name, flags)` (flags: 0 or AT_REMOVEDIR).
pub fn unlinkat(dir: BorrowedFd<'_>, name: &[u8], flags: i32) -> io::Result<()> {
    let name = component(name)?;
    // SAFETY: `name` is NUL-terminated and outlives the call; `dir` is open.
    check(unsafe { libc::unlinkat(dir.as_raw_fd(), name.as_ptr(), flags) })
}

/// `renameat2(old_dir, old, new_dir, new, flags)`.
pub fn renameat2(
    old_dir: BorrowedFd<'_>,
    old: &[u8],
    new_dir: BorrowedFd<'_>,
    new: &[u8],
    flags: u32,
) -> io::Result<()> {
    let old = component(old)?;
    let new = component(new)?;
    // SAFETY: both names are NUL-terminated and outlive the call; both
    // descriptors are open for the duration of their borrows.
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            old_dir.as_raw_fd(),
            old.as_ptr(),
            new_dir.as_raw_fd(),
            new.as_ptr(),
            flags,
        )
    };
    check(r as libc::c_int)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    #[test]
    fn walks_a_directory_without_following_links() {
        let dir = std::env::temp_dir().join(format!("hostfs-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("sub")).unwrap();
        std::fs::write(dir.join("sub/f"), b"x").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.join("link")).unwrap();
        let root = std::fs::File::open(&dir).unwrap();
        let sub = openat(root.as_fd(), b"sub", libc::O_PATH | libc::O_NOFOLLOW).unwrap();
        assert!(openat(sub.as_fd(), b"f", libc::O_PATH).is_ok());
        assert!(openat(root.as_fd(), b"sub/f", libc::O_PATH).is_err());
        let link = openat(root.as_fd(), b"link", libc::O_PATH | libc::O_NOFOLLOW).unwrap();
        let meta = std::fs::File::from(link).metadata().unwrap();
        assert!(meta.file_type().is_symlink());
        assert_eq!(readlinkat(root.as_fd(), b"link").unwrap(), b"/etc/passwd");
        let mut names: Vec<Vec<u8>> = read_dir(root.as_fd(), 100)
            .unwrap()
            .into_iter()
            .map(|e| e.0)
            .collect();
        names.sort();
        assert_eq!(names, vec![b"link".to_vec(), b"sub".to_vec()]);
        assert!(fstatfs_type(root.as_fd()).is_ok());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

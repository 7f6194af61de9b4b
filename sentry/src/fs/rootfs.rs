//! What the sentry keeps away from the guest when it shows a host
//! directory ([`super::hostdir`]: the `--root` tree and `--mount` binds),
//! and the plain files it opens there:
//!
//! * [`Hidden`]: the host's `/proc`, `/sys` and `/dev` (found by device
//!   and inode, so bind mounts are caught too), whatever lies on one of
//!   the host's `/dev`-like mounts, and any kernel pseudo filesystem
//!   (procfs, sysfs, devpts, cgroup, debugfs, securityfs..., by `statfs`
//!   type) are ENOENT wherever they appear in a host tree;
//! * [`HostFile`]: a host regular file opened read-only;
//! * [`DevNull`]: the sentry's own `/dev/null`.
//!
//! Paths are resolved by the VFS ([`super::vfs`]), one component at a
//! time with `openat(O_PATH | O_NOFOLLOW)`; the host kernel never follows
//! a symbolic link for the sentry.

use std::fs::{File, Metadata};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileExt, MetadataExt};

use parking_lot::Mutex;
use platform::hostfs;

use super::{FileOps, Stat, poll};
use crate::errno::Errno;
use crate::kernel::wait::Blocker;

/// Guest trees that belong to the sentry, never to the host directory.
pub const HIDDEN: [&str; 3] = ["proc", "sys", "dev"];

/// Kernel pseudo filesystems (statfs `f_type`) the guest never reaches,
/// wherever they are mounted: procfs, sysfs, devpts, cgroup, cgroup2,
/// debugfs, tracefs, securityfs, selinuxfs, smackfs, bpf, pstore,
/// efivarfs, configfs, fusectl, binfmt_misc, mqueue, nsfs.
const PSEUDO_FS: [i64; 18] = [
    0x9fa0,
    0x6265_6572,
    0x1cd1,
    0x0027_e0eb,
    0x6367_7270,
    0x6462_6720,
    0x7472_6163,
    0x7363_6673,
    0xf97c_ff8c,
    0x4341_5d53,
    0xcafe_4a11,
    0x6165_676c,
    0xde5e_81e4,
    0x6265_6570,
    0x6573_5543,
    0x4249_4e4d,
    0x1980_0202,
    0x6e73_6673,
];

/// Host mount points whose whole filesystem is hidden when they are
/// mounts of their own (their device differs from that of the host's `/`).
const HIDDEN_MOUNTS: [&str; 8] = [
    "/proc",
    "/sys",
    "/dev",
    "/dev/shm",
    "/dev/pts",
    "/dev/mqueue",
    "/dev/hugepages",
    "/run/shm",
];

/// The errno of a host I/O error (ENOENT when it has none).
pub fn io_errno(e: &std::io::Error) -> Errno {
    Errno(e.raw_os_error().unwrap_or(libc::ENOENT))
}

/// What of the host is never shown, wherever it appears.
pub(crate) struct Hidden {
    /// (device, inode) of the host's /proc, /sys and /dev.
    inodes: Vec<(u64, u64)>,
    /// Devices of the host's own mounts at [`HIDDEN_MOUNTS`].
    devices: Vec<u64>,
}

impl Hidden {
    pub(crate) fn of_host() -> Self {
        let slash = std::fs::metadata("/").map_or(u64::MAX, |m| m.dev());
        let mut inodes = Vec::new();
        let mut devices = Vec::new();
        for p in HIDDEN_MOUNTS {
            let Ok(m) = std::fs::metadata(p) else {
                continue;
            };
            if HIDDEN.iter().any(|h| p[1..] == **h) {
                inodes.push((m.dev(), m.ino()));
            }
            if m.dev() != slash && !devices.contains(&m.dev()) {
                devices.push(m.dev());
            }
        }
        Self { inodes, devices }
    }

    /// Whether the host object open at `file` (with `meta`) is hidden.
    pub(crate) fn hides(&self, file: &File, meta: &Metadata) -> bool {
        self.inodes.contains(&(meta.dev(), meta.ino()))
            || self.devices.contains(&meta.dev())
            || hostfs::fstatfs_type(file.as_fd()).is_ok_and(|t| PSEUDO_FS.contains(&t))
    }
}

/// A host regular file, opened read-only (or for writing in a `:rw`
/// bind).
pub struct HostFile {
    file: File,
    pos: Mutex<u64>,
    name: Vec<u8>,
    writable: bool,
}

impl HostFile {
    /// A regular file opened read-only, named `name` in traces.
    pub fn from_file(file: File, name: Vec<u8>) -> Self {
        Self {
            file,
            pos: Mutex::new(0),
            name,
            writable: false,
        }
    }

    /// A regular file opened for writing (a `:rw` bind).
    pub fn from_file_rw(file: File, name: Vec<u8>) -> Self {
        Self {
            writable: true,
            ..Self::from_file(file, name)
        }
    }
}

impl FileOps for HostFile {
    fn read(&self, buf: &mut [u8], _: bool, _: &dyn Blocker) -> Result<usize, Errno> {
        let mut pos = self.pos.lock();
        let n = self.file.read_at(buf, *pos).map_err(|e| io_errno(&e))?;
        *pos += n as u64;
        Ok(n)
    }

    fn write(&self, buf: &[u8], _: bool, _: &dyn Blocker) -> Result<usize, Errno> {
        if !self.writable {
            return Err(Errno::EBADF);
        }
        let mut pos = self.pos.lock();
        let n = self.file.write_at(buf, *pos).map_err(|e| io_errno(&e))?;
        *pos += n as u64;
        Ok(n)
    }

    fn append(&self, buf: &[u8], _: bool, _: &dyn Blocker) -> Result<usize, Errno> {
        if !self.writable {
            return Err(Errno::EBADF);
        }
        let mut pos = self.pos.lock();
        let end = self.file.metadata().map_err(|e| io_errno(&e))?.len();
        let n = self.file.write_at(buf, end).map_err(|e| io_errno(&e))?;
        *pos = end + n as u64;
        Ok(n)
    }

    fn pwrite(&self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        if !self.writable {
            return Err(Errno::EBADF);
        }
        self.file.write_at(buf, offset).map_err(|e| io_errno(&e))
    }

    fn poll(&self) -> u16 {
        poll::POLLIN | poll::POLLOUT
    }

    fn stat(&self) -> Stat {
        self.file
            .metadata()
            .map(|m| Stat::from_metadata(&m))
            .unwrap_or_default()
    }

    fn seek(&self, offset: i64, whence: u32) -> Result<u64, Errno> {
        let mut pos = self.pos.lock();
        let base = match whence {
            0 => 0,
            1 => *pos as i64,
            2 => self.stat().size,
            // SEEK_DATA / SEEK_HOLE: the whole file is data.
            3 | 4 => {
                let size = self.stat().size;
                if offset < 0 || offset >= size {
                    return Err(Errno::ENXIO);
                }
                let at = if whence == 3 { offset } else { size };
                *pos = at as u64;
                return Ok(*pos);
            }
            _ => return Err(Errno::EINVAL),
        };
        let new = base.checked_add(offset).ok_or(Errno::EOVERFLOW)?;
        if new < 0 {
            return Err(Errno::EINVAL);
        }
        *pos = new as u64;
        Ok(*pos)
    }

    fn pread(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        self.file.read_at(buf, offset).map_err(|e| io_errno(&e))
    }

    fn describe(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// The sentry's own `/dev/null`.
pub struct DevNull;

impl FileOps for DevNull {
    fn read(&self, _: &mut [u8], _: bool, _: &dyn Blocker) -> Result<usize, Errno> {
        Ok(0)
    }

    fn write(&self, buf: &[u8], _: bool, _: &dyn Blocker) -> Result<usize, Errno> {
        Ok(buf.len())
    }

    fn poll(&self) -> u16 {
        poll::POLLIN | poll::POLLOUT
    }

    fn stat(&self) -> Stat {
        Stat {
            mode: 0o020666,
            rdev: 0x103,
            dev: 0x5,
            ino: 4,
            nlink: 1,
            blksize: 4096,
            ..Default::default()
        }
    }

    fn seek(&self, _: i64, _: u32) -> Result<u64, Errno> {
        Ok(0)
    }

    fn describe(&self) -> String {
        "/dev/null".into()
    }
}

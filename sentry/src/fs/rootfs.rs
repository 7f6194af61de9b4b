//! The root filesystem: a host directory shown to the guest read-only, or,
//! by default, nothing at all (then only the sentry's `/dev/null` and
//! `/proc/self/exe` exist).
//! The sentry resolves every path itself: `..` stops at the root (as in a
//! chroot), a symbolic link may not lead out of it, and `/proc`, `/sys` and
//! `/dev` of the host are never shown (only the sentry's own `/dev/null`
//! and `/proc/self/{exe,maps,cmdline,status}`). Files are opened read-only; anything that would
//! write gets EROFS. Only regular files and directories are reachable.

use std::fs::File;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::FileExt;
use std::path::{Component, Path, PathBuf};

use parking_lot::Mutex;

use super::{FileOps, Stat, poll};
use crate::errno::Errno;
use crate::kernel::wait::Blocker;

/// The root filesystem.
pub struct RootFs {
    root: Option<PathBuf>,
}

/// A resolved path.
pub struct Resolved {
    /// The absolute guest path (normalized).
    pub guest: Vec<u8>,
    /// Where it is on the host (inside the root).
    pub host: PathBuf,
}

/// The errno of a host I/O error (ENOENT when it has none).
pub fn io_errno(e: &std::io::Error) -> Errno {
    Errno(e.raw_os_error().unwrap_or(libc::ENOENT))
}

/// Lexically normalizes an absolute guest path, `..` stopping at `/`.
pub fn normalize(path: &[u8]) -> PathBuf {
    let mut out = PathBuf::new();
    for c in Path::new(std::ffi::OsStr::from_bytes(path)).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::ParentDir => {
                out.pop();
            }
            _ => {}
        }
    }
    out
}

/// Host trees the guest never sees through the root.
const HIDDEN: [&str; 3] = ["proc", "sys", "dev"];

impl RootFs {
    /// The root at host directory `root` (canonicalized once), or no
    /// filesystem at all.
    pub fn new(root: Option<&Path>) -> Self {
        Self {
            root: root.map(|r| std::fs::canonicalize(r).unwrap_or_else(|_| r.to_path_buf())),
        }
    }

    /// The host directory, if there is a filesystem.
    pub fn host_root(&self) -> Option<&Path> {
        self.root.as_deref()
    }

    /// Resolves `path` (absolute, or relative to the guest directory
    /// `base`). With `follow`, a final symbolic link is followed.
    pub fn resolve(&self, base: &[u8], path: &[u8], follow: bool) -> Result<Resolved, Errno> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        if path.len() >= 4096 {
            return Err(Errno::ENAMETOOLONG);
        }
        let Some(root) = &self.root else {
            return Err(Errno::ENOENT);
        };
        let mut full = Vec::new();
        if !path.starts_with(b"/") {
            full.extend_from_slice(base);
            full.push(b'/');
        }
        full.extend_from_slice(path);
        let rel = normalize(&full);
        if rel
            .components()
            .next()
            .is_some_and(|c| HIDDEN.iter().any(|h| c.as_os_str() == *h))
        {
            return Err(Errno::ENOENT);
        }
        let host = root.join(&rel);
        let real = if follow {
            std::fs::canonicalize(&host).map_err(|e| io_errno(&e))?
        } else {
            // Resolve the directory part; keep the last component as is.
            let parent = host.parent().unwrap_or(root);
            let dir = std::fs::canonicalize(parent).map_err(|e| io_errno(&e))?;
            match host.file_name() {
                Some(name) if rel.as_os_str() != "" => dir.join(name),
                _ => dir,
            }
        };
        if !real.starts_with(root) {
            return Err(Errno::ENOENT);
        }
        let mut guest = b"/".to_vec();
        guest.extend_from_slice(rel.as_os_str().as_bytes());
        Ok(Resolved { guest, host: real })
    }
}

/// A regular file of the root, opened read-only.
pub struct HostFile {
    file: File,
    pos: Mutex<u64>,
    name: Vec<u8>,
}

impl HostFile {
    /// Opens the host file at `host` read-only.
    pub fn open(host: &Path, guest: Vec<u8>) -> Result<Self, Errno> {
        let file = File::open(host).map_err(|e| io_errno(&e))?;
        Ok(Self {
            file,
            pos: Mutex::new(0),
            name: guest,
        })
    }
}

impl FileOps for HostFile {
    fn read(&self, buf: &mut [u8], _: bool, _: &dyn Blocker) -> Result<usize, Errno> {
        let mut pos = self.pos.lock();
        let n = self.file.read_at(buf, *pos).map_err(|e| io_errno(&e))?;
        *pos += n as u64;
        Ok(n)
    }

    fn write(&self, _: &[u8], _: bool, _: &dyn Blocker) -> Result<usize, Errno> {
        Err(Errno::EBADF)
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

/// A directory entry: name, inode, d_type.
type DirEntry = (Vec<u8>, u64, u8);

/// A directory of the root, for getdents64 and *at() calls.
pub struct HostDir {
    host: PathBuf,
    guest: Vec<u8>,
    /// Entries (name, inode, d_type), read at the first getdents.
    entries: Mutex<Option<Vec<DirEntry>>>,
    pos: Mutex<usize>,
}

impl HostDir {
    /// A directory at `host`, shown as `guest`.
    pub fn new(host: PathBuf, guest: Vec<u8>) -> Self {
        Self {
            host,
            guest,
            entries: Mutex::new(None),
            pos: Mutex::new(0),
        }
    }

    fn load(&self) -> Result<Vec<DirEntry>, Errno> {
        use std::os::unix::fs::{FileTypeExt, MetadataExt};
        let meta = std::fs::metadata(&self.host).map_err(|e| io_errno(&e))?;
        let parent = self
            .host
            .parent()
            .and_then(|p| std::fs::metadata(p).ok())
            .map_or(meta.ino(), |m| m.ino());
        let mut v = vec![(b".".to_vec(), meta.ino(), 4), (b"..".to_vec(), parent, 4)];
        let top = self.guest == b"/";
        for e in std::fs::read_dir(&self.host).map_err(|e| io_errno(&e))? {
            let Ok(e) = e else { continue };
            let name = e.file_name().as_bytes().to_vec();
            if top && HIDDEN.iter().any(|h| name == h.as_bytes()) {
                continue;
            }
            let ft = e.file_type().ok();
            let d_type = match ft {
                Some(t) if t.is_dir() => 4,
                Some(t) if t.is_file() => 8,
                Some(t) if t.is_symlink() => 10,
                Some(t) if t.is_fifo() => 1,
                Some(t) if t.is_char_device() => 2,
                Some(t) if t.is_block_device() => 6,
                Some(t) if t.is_socket() => 12,
                _ => 0,
            };
            let ino = e.metadata().map_or(0, |m| m.ino());
            v.push((name, ino, d_type));
        }
        Ok(v)
    }
}

impl FileOps for HostDir {
    fn read(&self, _: &mut [u8], _: bool, _: &dyn Blocker) -> Result<usize, Errno> {
        Err(Errno::EISDIR)
    }

    fn poll(&self) -> u16 {
        poll::POLLIN | poll::POLLOUT
    }

    fn stat(&self) -> Stat {
        std::fs::metadata(&self.host)
            .map(|m| Stat::from_metadata(&m))
            .unwrap_or_default()
    }

    fn seek(&self, offset: i64, whence: u32) -> Result<u64, Errno> {
        if whence != 0 || offset < 0 {
            return Err(Errno::EINVAL);
        }
        *self.pos.lock() = offset as usize;
        Ok(offset as u64)
    }

    fn getdents(&self, max: usize) -> Result<Vec<u8>, Errno> {
        let mut entries = self.entries.lock();
        if entries.is_none() {
            *entries = Some(self.load()?);
        }
        let list = entries.as_ref().expect("loaded above");
        let mut pos = self.pos.lock();
        let mut out = Vec::new();
        while let Some((name, ino, d_type)) = list.get(*pos) {
            // struct linux_dirent64: ino, off, reclen, type, name, NUL, pad.
            let reclen = (19 + name.len() + 1).div_ceil(8) * 8;
            if out.len() + reclen > max {
                if out.is_empty() {
                    return Err(Errno::EINVAL);
                }
                break;
            }
            let start = out.len();
            out.extend_from_slice(&ino.to_le_bytes());
            out.extend_from_slice(&((*pos + 1) as i64).to_le_bytes());
            out.extend_from_slice(&(reclen as u16).to_le_bytes());
            out.push(*d_type);
            out.extend_from_slice(name);
            out.resize(start + reclen, 0);
            *pos += 1;
        }
        Ok(out)
    }

    fn dir_path(&self) -> Option<Vec<u8>> {
        Some(self.guest.clone())
    }

    fn describe(&self) -> String {
        String::from_utf8_lossy(&self.guest).into_owned()
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

/// A file of the sentry's own /proc: its text, made when it is opened.
pub struct ProcFile {
    text: Vec<u8>,
    pos: Mutex<u64>,
    name: String,
}

impl ProcFile {
    /// A /proc file named `name` with `text`.
    pub fn new(name: String, text: Vec<u8>) -> Self {
        Self {
            text,
            pos: Mutex::new(0),
            name,
        }
    }
}

impl FileOps for ProcFile {
    fn read(&self, buf: &mut [u8], _: bool, _: &dyn Blocker) -> Result<usize, Errno> {
        let mut pos = self.pos.lock();
        let n = self.pread(buf, *pos)?;
        *pos += n as u64;
        Ok(n)
    }

    fn poll(&self) -> u16 {
        poll::POLLIN
    }

    fn stat(&self) -> Stat {
        Stat {
            mode: 0o100444,
            nlink: 1,
            blksize: 1024,
            ..Default::default()
        }
    }

    fn seek(&self, offset: i64, whence: u32) -> Result<u64, Errno> {
        let mut pos = self.pos.lock();
        let base = match whence {
            0 => 0,
            1 => *pos as i64,
            _ => return Err(Errno::EINVAL),
        };
        let new = base
            .checked_add(offset)
            .filter(|n| *n >= 0)
            .ok_or(Errno::EINVAL)?;
        *pos = new as u64;
        Ok(*pos)
    }

    fn pread(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        let start = (offset as usize).min(self.text.len());
        let n = buf.len().min(self.text.len() - start);
        buf[..n].copy_from_slice(&self.text[start..start + n]);
        Ok(n)
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_stay_inside_the_root() {
        assert_eq!(normalize(b"/../../etc/passwd"), PathBuf::from("etc/passwd"));
        assert_eq!(normalize(b"/a/./b/../c"), PathBuf::from("a/c"));
        let dir = std::env::temp_dir().join(format!("rootfs-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::write(dir.join("etc/motd"), b"hi").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.join("out")).unwrap();
        let fs = RootFs::new(Some(&dir));
        let r = fs.resolve(b"/", b"../../etc/motd", true).unwrap();
        assert_eq!(r.guest, b"/etc/motd");
        assert!(r.host.starts_with(fs.host_root().unwrap()));
        assert_eq!(fs.resolve(b"/", b"out", true).err(), Some(Errno::ENOENT));
        assert!(
            fs.resolve(b"/", b"out", false).is_ok(),
            "the link itself is inside"
        );
        assert_eq!(
            fs.resolve(b"/", b"/proc/self/status", true).err(),
            Some(Errno::ENOENT)
        );
        assert_eq!(
            fs.resolve(b"/etc", b"nope", true).err(),
            Some(Errno::ENOENT)
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

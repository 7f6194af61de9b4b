//! A host directory as a read-only filesystem: the overlay root's lower
//! layer (`--root DIR`) and read-only `--mount` binds.
//!
//! Every lookup is one `openat(O_PATH | O_NOFOLLOW)` relative to the
//! directory reached so far, so the host kernel never follows a link for
//! the sentry; the VFS resolves links itself, inside the sandbox's tree.
//! What [`super::rootfs::Hidden`] names (the host's /proc, /sys, /dev,
//! /dev-like mounts and kernel pseudo filesystems) is ENOENT here and left
//! out of listings. Only regular files and directories are ever opened on
//! the host (read-only, `O_NOFOLLOW | O_NONBLOCK | O_NOCTTY`, checked to be
//! the inode looked up); devices and sockets are inert (EACCES, ENXIO) and
//! FIFOs are pipes of the sandbox's own (opened by the syscall layer).

use std::any::Any;
use std::fs::{File, Metadata};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::sync::Arc;

use platform::hostfs;

use super::rootfs::{Hidden, HostFile, io_errno};
use super::vfs::{Caller, DirEntry, FileType, Filesystem, Inode, SetAttr, StatFs, new_anon_dev};
use super::{FileOps, Stat};
use crate::errno::Errno;

/// Most entries one host directory shows (bounds the sentry's memory).
const MAX_DIR_ENTRIES: usize = 1 << 20;

struct Shared {
    hidden: Hidden,
    dev: u64,
}

/// A host directory tree, read-only.
pub struct HostFs {
    root: Arc<HostInode>,
    shared: Arc<Shared>,
}

/// A host object: held by an `O_PATH` descriptor (which cannot read,
/// write or trigger a device's open).
pub struct HostInode {
    shared: Arc<Shared>,
    fd: Arc<File>,
    meta: Metadata,
    /// The directory holding it (None for the tree's root) and its name.
    parent: Option<Arc<File>>,
    name: Vec<u8>,
}

fn kind_of(meta: &Metadata) -> FileType {
    let ft = meta.file_type();
    if ft.is_dir() {
        FileType::Directory
    } else if ft.is_symlink() {
        FileType::Symlink
    } else if ft.is_fifo() {
        FileType::Fifo
    } else if ft.is_char_device() {
        FileType::CharDevice
    } else if ft.is_block_device() {
        FileType::BlockDevice
    } else if ft.is_socket() {
        FileType::Socket
    } else {
        FileType::Regular
    }
}

impl HostFs {
    /// The host directory `dir` (opened `O_PATH | O_DIRECTORY`).
    pub fn open(dir: &std::path::Path) -> std::io::Result<Arc<Self>> {
        use std::os::unix::fs::OpenOptionsExt;
        let fd = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(dir)?;
        let meta = fd.metadata()?;
        let shared = Arc::new(Shared {
            hidden: Hidden::of_host(),
            dev: new_anon_dev(),
        });
        let root = Arc::new(HostInode {
            shared: Arc::clone(&shared),
            fd: Arc::new(fd),
            meta,
            parent: None,
            name: Vec::new(),
        });
        Ok(Arc::new(Self { root, shared }))
    }
}

impl Filesystem for HostFs {
    fn name(&self) -> &str {
        "hostdir"
    }

    fn root(&self) -> Arc<dyn Inode> {
        Arc::clone(&self.root) as Arc<dyn Inode>
    }

    fn statfs(&self) -> StatFs {
        // What the host says of the filesystem under the root, read-only.
        let _ = &self.shared;
        StatFs {
            fs_type: hostfs::fstatfs_type(self.root.fd.as_fd()).unwrap_or(0),
            bsize: 4096,
            namelen: 255,
            frsize: 4096,
            flags: StatFs::ST_RDONLY,
            ..Default::default()
        }
    }
}

impl HostInode {
    /// Opens a regular file or directory for reading, checking that the
    /// open found the inode that was looked up.
    fn open_host(&self) -> Result<File, Errno> {
        let kind = kind_of(&self.meta);
        if !matches!(kind, FileType::Regular | FileType::Directory) {
            return Err(Errno::EACCES);
        }
        let mut flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY;
        if kind == FileType::Directory {
            flags |= libc::O_DIRECTORY;
        }
        let fd = match &self.parent {
            Some(p) => hostfs::openat(p.as_fd(), &self.name, flags),
            None => hostfs::openat(self.fd.as_fd(), b".", flags),
        }
        .map_err(|e| io_errno(&e))?;
        let file = File::from(fd);
        let meta = file.metadata().map_err(|e| io_errno(&e))?;
        if (meta.dev(), meta.ino()) != (self.meta.dev(), self.meta.ino()) {
            return Err(Errno::ENOENT);
        }
        Ok(file)
    }

    fn child(&self, name: &[u8]) -> Result<HostInode, Errno> {
        let fd = hostfs::openat(self.fd.as_fd(), name, libc::O_PATH | libc::O_NOFOLLOW)
            .map_err(|e| io_errno(&e))?;
        let file = File::from(fd);
        let meta = file.metadata().map_err(|e| io_errno(&e))?;
        if !meta.file_type().is_symlink() && self.shared.hidden.hides(&file, &meta) {
            return Err(Errno::ENOENT);
        }
        Ok(HostInode {
            shared: Arc::clone(&self.shared),
            fd: Arc::new(file),
            meta,
            parent: Some(Arc::clone(&self.fd)),
            name: name.to_vec(),
        })
    }
}

impl Inode for HostInode {
    fn ino(&self) -> u64 {
        self.meta.ino()
    }

    fn kind(&self) -> FileType {
        kind_of(&self.meta)
    }

    fn stat(&self) -> Stat {
        let mut st = Stat::from_metadata(&self.meta);
        st.dev = self.shared.dev;
        st
    }

    fn lookup(&self, _: &Caller, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        if self.kind() != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        Ok(Arc::new(self.child(name)?))
    }

    fn readdir(&self, _: &Caller) -> Result<Vec<DirEntry>, Errno> {
        if self.kind() != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        let dir = self.open_host()?;
        let list = hostfs::read_dir(dir.as_fd(), MAX_DIR_ENTRIES).map_err(|e| io_errno(&e))?;
        let mut out = Vec::with_capacity(list.len());
        for (name, ino, d_type) in list {
            let kind = match d_type {
                8 => FileType::Regular,
                10 => FileType::Symlink,
                1 => FileType::Fifo,
                2 => FileType::CharDevice,
                6 => FileType::BlockDevice,
                12 => FileType::Socket,
                _ => {
                    // A directory (or unknown) may be a hidden mount.
                    match self.child(&name) {
                        Ok(c) => c.kind(),
                        Err(_) => continue,
                    }
                }
            };
            out.push(DirEntry { name, ino, kind });
        }
        Ok(out)
    }

    fn create(
        &self,
        _: &Caller,
        _: &[u8],
        _: FileType,
        _: u32,
        _: u64,
    ) -> Result<Arc<dyn Inode>, Errno> {
        Err(self.not_dir_or(Errno::EROFS))
    }

    fn symlink(&self, _: &Caller, _: &[u8], _: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        Err(self.not_dir_or(Errno::EROFS))
    }

    fn link(&self, _: &Caller, _: &[u8], _: &Arc<dyn Inode>) -> Result<(), Errno> {
        Err(self.not_dir_or(Errno::EROFS))
    }

    fn unlink(&self, _: &Caller, _: &[u8]) -> Result<(), Errno> {
        Err(self.not_dir_or(Errno::EROFS))
    }

    fn rmdir(&self, _: &Caller, _: &[u8]) -> Result<(), Errno> {
        Err(self.not_dir_or(Errno::EROFS))
    }

    fn rename(
        &self,
        _: &Caller,
        _: &[u8],
        _: &Arc<dyn Inode>,
        _: &[u8],
        _: u32,
    ) -> Result<(), Errno> {
        Err(self.not_dir_or(Errno::EROFS))
    }

    fn readlink(&self, _: &Caller) -> Result<Vec<u8>, Errno> {
        match &self.parent {
            Some(p) if self.kind() == FileType::Symlink => {
                hostfs::readlinkat(p.as_fd(), &self.name).map_err(|e| io_errno(&e))
            }
            _ => Err(Errno::EINVAL),
        }
    }

    fn setattr(&self, _: &Caller, _: &SetAttr) -> Result<(), Errno> {
        Err(Errno::EROFS)
    }

    fn open(&self, _: &Caller, flags: u32) -> Result<Box<dyn FileOps>, Errno> {
        match self.kind() {
            FileType::Regular => {
                if flags & 3 != 0 {
                    return Err(Errno::EROFS);
                }
                Ok(Box::new(HostFile::from_file(
                    self.open_host()?,
                    self.name.clone(),
                )))
            }
            FileType::Socket => Err(Errno::ENXIO),
            FileType::Directory => Err(Errno::EISDIR),
            _ => Err(Errno::EACCES),
        }
    }

    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_tree_reads_and_refuses_writes() {
        let dir = std::env::temp_dir().join(format!("hostdir-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::write(dir.join("etc/motd"), b"hi").unwrap();
        std::os::unix::fs::symlink("/etc/motd", dir.join("link")).unwrap();
        let fs = HostFs::open(&dir).unwrap();
        let c = Caller::NONE;
        let root = fs.root();
        let etc = root.lookup(&c, b"etc").unwrap();
        assert_eq!(etc.kind(), FileType::Directory);
        let motd = etc.lookup(&c, b"motd").unwrap();
        let mut buf = [0u8; 8];
        let f = motd.open(&c, 0).unwrap();
        assert_eq!(f.pread(&mut buf, 0), Ok(2));
        assert_eq!(motd.open(&c, 1).err(), Some(Errno::EROFS));
        assert_eq!(
            root.lookup(&c, b"link").unwrap().readlink(&c).unwrap(),
            b"/etc/motd"
        );
        assert_eq!(root.lookup(&c, b"nope").err(), Some(Errno::ENOENT));
        assert_eq!(
            root.create(&c, b"x", FileType::Regular, 0o644, 0).err(),
            Some(Errno::EROFS)
        );
        let mut names: Vec<_> = root
            .readdir(&c)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        names.sort();
        assert_eq!(names, vec![b"etc".to_vec(), b"link".to_vec()]);
        let _ = std::fs::remove_dir_all(&dir);
    }
}

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
    /// A `:rw` bind: the guest's changes go to the host.
    writable: bool,
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
    /// The host directory `dir` (opened `O_PATH | O_DIRECTORY`), read-only.
    pub fn open(dir: &std::path::Path) -> std::io::Result<Arc<Self>> {
        Self::open_with(dir, false)
    }

    /// The host directory `dir`; with `writable`, the guest's changes are
    /// made on the host (a `:rw` bind), still one component at a time
    /// relative to descriptors the sentry resolved.
    pub fn open_with(dir: &std::path::Path, writable: bool) -> std::io::Result<Arc<Self>> {
        use std::os::unix::fs::OpenOptionsExt;
        let fd = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
            .open(dir)?;
        let meta = fd.metadata()?;
        let shared = Arc::new(Shared {
            hidden: Hidden::of_host(),
            dev: new_anon_dev(),
            writable,
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
            flags: if self.shared.writable {
                0
            } else {
                StatFs::ST_RDONLY
            },
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

    /// EROFS unless this is a directory of a `:rw` bind.
    fn writable_dir(&self) -> Result<(), Errno> {
        if self.kind() != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        if !self.shared.writable {
            return Err(Errno::EROFS);
        }
        Ok(())
    }

    /// `inode` as a host inode of this same tree (EXDEV otherwise).
    fn same_fs(&self, inode: &Arc<dyn Inode>) -> Result<Arc<HostInode>, Errno> {
        let h = Arc::clone(inode)
            .as_any()
            .downcast::<HostInode>()
            .map_err(|_| Errno::EXDEV)?;
        if !Arc::ptr_eq(&h.shared, &self.shared) {
            return Err(Errno::EXDEV);
        }
        Ok(h)
    }

    /// Opens this regular file for writing (`access`: O_WRONLY or O_RDWR),
    /// never following a link, blocking or taking a terminal, and checks
    /// it is the inode that was looked up.
    fn open_write(&self, access: i32) -> Result<File, Errno> {
        let parent = self.parent.as_ref().ok_or(Errno::EISDIR)?;
        let flags = access | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY;
        let fd = hostfs::openat(parent.as_fd(), &self.name, flags).map_err(|e| io_errno(&e))?;
        let file = File::from(fd);
        let meta = file.metadata().map_err(|e| io_errno(&e))?;
        if (meta.dev(), meta.ino()) != (self.meta.dev(), self.meta.ino()) || !meta.is_file() {
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
        // A writable tree changes under the lookup: ask again.
        let fresh = if self.shared.writable {
            self.fd.metadata().ok()
        } else {
            None
        };
        let mut st = Stat::from_metadata(fresh.as_ref().unwrap_or(&self.meta));
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
        name: &[u8],
        kind: FileType,
        mode: u32,
        _: u64,
    ) -> Result<Arc<dyn Inode>, Errno> {
        self.writable_dir()?;
        let io = |e: std::io::Error| io_errno(&e);
        match kind {
            FileType::Regular => {
                drop(hostfs::create_file(self.fd.as_fd(), name, mode).map_err(io)?)
            }
            FileType::Directory => hostfs::mkdirat(self.fd.as_fd(), name, mode).map_err(io)?,
            FileType::Fifo => hostfs::mkfifoat(self.fd.as_fd(), name, mode).map_err(io)?,
            // A socket file (bind, mknod): an inode only, no host socket.
            FileType::Socket => hostfs::mksockat(self.fd.as_fd(), name, mode).map_err(io)?,
            // No host device node is ever made.
            _ => return Err(Errno::EPERM),
        }
        Ok(Arc::new(self.child(name)?))
    }

    fn symlink(&self, _: &Caller, name: &[u8], target: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        self.writable_dir()?;
        hostfs::symlinkat(target, self.fd.as_fd(), name).map_err(|e| io_errno(&e))?;
        Ok(Arc::new(self.child(name)?))
    }

    fn link(&self, _: &Caller, name: &[u8], target: &Arc<dyn Inode>) -> Result<(), Errno> {
        self.writable_dir()?;
        let t = self.same_fs(target)?;
        let parent = t.parent.as_ref().ok_or(Errno::EPERM)?;
        hostfs::linkat(parent.as_fd(), &t.name, self.fd.as_fd(), name).map_err(|e| io_errno(&e))
    }

    fn unlink(&self, _: &Caller, name: &[u8]) -> Result<(), Errno> {
        self.writable_dir()?;
        if self.child(name)?.kind() == FileType::Directory {
            return Err(Errno::EISDIR);
        }
        hostfs::unlinkat(self.fd.as_fd(), name, 0).map_err(|e| io_errno(&e))
    }

    fn rmdir(&self, _: &Caller, name: &[u8]) -> Result<(), Errno> {
        self.writable_dir()?;
        hostfs::unlinkat(self.fd.as_fd(), name, libc::AT_REMOVEDIR).map_err(|e| io_errno(&e))
    }

    fn rename(
        &self,
        _: &Caller,
        old: &[u8],
        new_dir: &Arc<dyn Inode>,
        new: &[u8],
        flags: u32,
    ) -> Result<(), Errno> {
        self.writable_dir()?;
        let to = self.same_fs(new_dir)?;
        hostfs::renameat2(self.fd.as_fd(), old, to.fd.as_fd(), new, flags).map_err(|e| io_errno(&e))
    }

    fn readlink(&self, _: &Caller) -> Result<Vec<u8>, Errno> {
        match &self.parent {
            Some(p) if self.kind() == FileType::Symlink => {
                hostfs::readlinkat(p.as_fd(), &self.name).map_err(|e| io_errno(&e))
            }
            _ => Err(Errno::EINVAL),
        }
    }

    fn setattr(&self, _: &Caller, attr: &SetAttr) -> Result<(), Errno> {
        if !self.shared.writable {
            return Err(Errno::EROFS);
        }
        // Landlock does not govern chmod, chown or utimes, so the sentry's
        // seccomp filter never allows them on the host: only the size of a
        // file in a `:rw` bind can change.
        if attr.mode.is_some()
            || attr.uid.is_some()
            || attr.gid.is_some()
            || attr.atime.is_some()
            || attr.mtime.is_some()
        {
            return Err(Errno::EPERM);
        }
        if let Some(size) = attr.size {
            self.open_write(libc::O_WRONLY)?
                .set_len(size)
                .map_err(|e| io_errno(&e))?;
        }
        Ok(())
    }

    fn open(&self, _: &Caller, flags: u32) -> Result<Box<dyn FileOps>, Errno> {
        match self.kind() {
            FileType::Regular => {
                if flags & 3 != 0 {
                    if !self.shared.writable {
                        return Err(Errno::EROFS);
                    }
                    let access = if flags & 3 == 1 {
                        libc::O_WRONLY
                    } else {
                        libc::O_RDWR
                    };
                    let file = self.open_write(access)?;
                    return Ok(Box::new(HostFile::from_file_rw(file, self.name.clone())));
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

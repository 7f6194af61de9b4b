//! Synthetic filesystems: trees generated on demand from kernel state
//! (/proc, /dev, /sys). A directory is a [`SynthDir`] that lists and looks
//! up its entries when asked (with the [`Caller`], so `/proc/self` can
//! depend on who asks); a file is its text, made at open; a symbolic link
//! its target, or a place ([`SynthNode::MagicLink`]); a device opens to the
//! [`FileOps`] it builds.
//!
//! ```ignore
//! struct Root;
//! impl SynthDir for Root {
//!     fn entries(&self, caller: &Caller) -> Vec<(Vec<u8>, SynthNode)> {
//!         vec![(b"version".to_vec(), SynthNode::file(0o444, |_| Ok(b"Linux\n".to_vec())))]
//!     }
//! }
//! vfs.mount_at(b"/proc", SynthFs::new("proc", 0x9fa0, Arc::new(Root)), "proc", MountFlags::default())?;
//! ```
//!
//! Inode numbers are stable: each node gets one from a hash of its path in
//! the filesystem (or [`SynthNode`]'s explicit one), so two lookups of one
//! path agree.

use std::any::Any;
use std::sync::Arc;

use parking_lot::Mutex;

use super::vfs::{Caller, DirEntry, FileType, Filesystem, Inode, Path, SetAttr, StatFs, now};
use super::{FileOps, Stat, poll};
use crate::errno::Errno;
use crate::kernel::wait::Blocker;

/// Text of a file, made for the caller when the file is opened.
pub type TextFn = Arc<dyn Fn(&Caller) -> Result<Vec<u8>, Errno> + Send + Sync>;
/// What a write to a file does with the bytes (EACCES when absent).
pub type WriteFn = Arc<dyn Fn(&Caller, &[u8]) -> Result<(), Errno> + Send + Sync>;
/// A magic link's place for the caller.
pub type PlaceFn = Arc<dyn Fn(&Caller) -> Result<Path, Errno> + Send + Sync>;
/// A device's open.
pub type DeviceFn = Arc<dyn Fn(&Caller, u32) -> Result<Box<dyn FileOps>, Errno> + Send + Sync>;

/// A directory generated on demand.
pub trait SynthDir: Send + Sync {
    /// Its entries for `caller`.
    fn entries(&self, caller: &Caller) -> Vec<(Vec<u8>, SynthNode)>;
    /// The entry `name` (by default: searched in [`SynthDir::entries`];
    /// override it for entries not listed, such as any /proc/<pid>).
    fn lookup(&self, caller: &Caller, name: &[u8]) -> Option<SynthNode> {
        self.entries(caller)
            .into_iter()
            .find(|(n, _)| n == name)
            .map(|(_, node)| node)
    }
}

/// A node of a synthetic tree.
#[derive(Clone)]
pub enum SynthNode {
    /// A directory.
    Dir {
        /// Permission bits.
        mode: u32,
        /// Its contents.
        dir: Arc<dyn SynthDir>,
    },
    /// A regular file whose text is made at open.
    File {
        /// Permission bits.
        mode: u32,
        /// The text.
        text: TextFn,
        /// What a write does (None: EACCES).
        write: Option<WriteFn>,
    },
    /// A symbolic link with a text target.
    Symlink(TextFn),
    /// A magic link: it leads to a place (readlink shows `text`).
    MagicLink {
        /// Permission bits (an fd link's show its access mode).
        mode: u32,
        /// What stat shows as its size (64 for fd links, as Linux).
        size: u64,
        /// What readlink shows.
        text: TextFn,
        /// Where it leads.
        place: PlaceFn,
    },
    /// A character device.
    Device {
        /// Permission bits.
        mode: u32,
        /// Device number.
        rdev: u64,
        /// Its open.
        open: DeviceFn,
    },
}

impl SynthNode {
    /// A read-only file with the text `f` makes.
    pub fn file(
        mode: u32,
        f: impl Fn(&Caller) -> Result<Vec<u8>, Errno> + Send + Sync + 'static,
    ) -> Self {
        Self::File {
            mode,
            text: Arc::new(f),
            write: None,
        }
    }

    /// A directory.
    pub fn dir(mode: u32, dir: impl SynthDir + 'static) -> Self {
        Self::Dir {
            mode,
            dir: Arc::new(dir),
        }
    }

    /// A symbolic link whose target `f` makes.
    pub fn symlink(f: impl Fn(&Caller) -> Result<Vec<u8>, Errno> + Send + Sync + 'static) -> Self {
        Self::Symlink(Arc::new(f))
    }

    fn kind(&self) -> FileType {
        match self {
            Self::Dir { .. } => FileType::Directory,
            Self::File { .. } => FileType::Regular,
            Self::Symlink(_) | Self::MagicLink { .. } => FileType::Symlink,
            Self::Device { .. } => FileType::CharDevice,
        }
    }
}

/// A fixed directory: a list of entries.
pub struct StaticDir(pub Vec<(Vec<u8>, SynthNode)>);

impl SynthDir for StaticDir {
    fn entries(&self, _: &Caller) -> Vec<(Vec<u8>, SynthNode)> {
        self.0.clone()
    }
}

/// A synthetic filesystem.
pub struct SynthFs {
    name: String,
    magic: i64,
    root: Arc<dyn SynthDir>,
    /// When it was made (every inode's times).
    born: (i64, i64),
    /// Its device number (0: the mount picks a fresh one).
    dev: u64,
}

impl SynthFs {
    /// A filesystem named `name` (its statfs type `magic`) over `root`.
    pub fn new(name: &str, magic: i64, root: Arc<dyn SynthDir>) -> Arc<Self> {
        Self::with_dev(name, magic, root, 0)
    }

    /// [`SynthFs::new`] with a fixed device number, for files that must
    /// stat the same through the tree and through a descriptor made
    /// elsewhere (the terminal under /dev/pts).
    pub fn with_dev(name: &str, magic: i64, root: Arc<dyn SynthDir>, dev: u64) -> Arc<Self> {
        Arc::new(Self {
            name: name.to_string(),
            magic,
            root,
            born: now(),
            dev,
        })
    }
}

impl Filesystem for SynthFs {
    fn name(&self) -> &str {
        &self.name
    }

    fn root(&self) -> Arc<dyn Inode> {
        Arc::new(SynthInode {
            ino: 1,
            node: SynthNode::Dir {
                mode: 0o555,
                dir: Arc::clone(&self.root),
            },
            born: self.born,
            dev: self.dev,
        })
    }

    fn statfs(&self) -> StatFs {
        StatFs {
            fs_type: self.magic,
            bsize: 4096,
            namelen: 255,
            frsize: 4096,
            ..Default::default()
        }
    }
}

/// An inode of a synthetic tree.
pub struct SynthInode {
    ino: u64,
    node: SynthNode,
    born: (i64, i64),
    /// The filesystem's fixed device number, or 0.
    dev: u64,
}

/// A stable inode number for the child `name` of inode `parent`.
pub fn child_ino(parent: u64, name: &[u8]) -> u64 {
    // FNV-1a over the parent's number and the name.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in parent.to_le_bytes().iter().chain(name) {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    (h >> 1) | 2
}

impl SynthInode {
    fn dir(&self) -> Result<&Arc<dyn SynthDir>, Errno> {
        match &self.node {
            SynthNode::Dir { dir, .. } => Ok(dir),
            _ => Err(Errno::ENOTDIR),
        }
    }
}

impl Inode for SynthInode {
    fn ino(&self) -> u64 {
        self.ino
    }

    fn kind(&self) -> FileType {
        self.node.kind()
    }

    fn stat(&self) -> Stat {
        let (mode, rdev, nlink) = match &self.node {
            SynthNode::Dir { mode, .. } => (*mode, 0, 2),
            SynthNode::File { mode, .. } => (*mode, 0, 1),
            SynthNode::Symlink(_) => (0o777, 0, 1),
            SynthNode::MagicLink { mode, .. } => (*mode, 0, 1),
            SynthNode::Device { mode, rdev, .. } => (*mode, *rdev, 1),
        };
        let size = match &self.node {
            SynthNode::MagicLink { size, .. } => *size as i64,
            _ => 0,
        };
        Stat {
            mode: self.kind().mode() | mode,
            size,
            ino: self.ino,
            dev: self.dev,
            rdev,
            nlink,
            blksize: 4096,
            times: [self.born; 3],
            ..Default::default()
        }
    }

    fn lookup(&self, caller: &Caller, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        let node = self.dir()?.lookup(caller, name).ok_or(Errno::ENOENT)?;
        Ok(Arc::new(SynthInode {
            ino: child_ino(self.ino, name),
            node,
            born: self.born,
            dev: self.dev,
        }))
    }

    fn readdir(&self, caller: &Caller) -> Result<Vec<DirEntry>, Errno> {
        Ok(self
            .dir()?
            .entries(caller)
            .into_iter()
            .map(|(name, node)| DirEntry {
                ino: child_ino(self.ino, &name),
                kind: node.kind(),
                name,
            })
            .collect())
    }

    fn readlink(&self, caller: &Caller) -> Result<Vec<u8>, Errno> {
        match &self.node {
            SynthNode::Symlink(f) | SynthNode::MagicLink { text: f, .. } => f(caller),
            _ => Err(Errno::EINVAL),
        }
    }

    fn follow_link(&self, caller: &Caller) -> Option<Result<Path, Errno>> {
        match &self.node {
            SynthNode::MagicLink { place, .. } => Some(place(caller)),
            _ => None,
        }
    }

    fn setattr(&self, _: &Caller, _: &SetAttr) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }

    fn open(&self, caller: &Caller, flags: u32) -> Result<Box<dyn FileOps>, Errno> {
        match &self.node {
            SynthNode::File { text, write, .. } => {
                let writes = flags & 3 != 0;
                if writes && write.is_none() {
                    return Err(Errno::EACCES);
                }
                let data = if flags & 3 == 1 {
                    Vec::new()
                } else {
                    text(caller)?
                };
                Ok(Box::new(SynthFile {
                    text: data,
                    pos: Mutex::new(0),
                    write: write.clone(),
                    stat: self.stat(),
                    task: caller.task.map(Arc::downgrade).unwrap_or_default(),
                }))
            }
            SynthNode::Device { open, .. } => open(caller, flags),
            _ => Err(Errno::EINVAL),
        }
    }

    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

/// An open synthetic file: its text as it was at open.
pub struct SynthFile {
    text: Vec<u8>,
    pos: Mutex<u64>,
    write: Option<WriteFn>,
    stat: Stat,
    /// Who opened it (a write acts for that task).
    task: std::sync::Weak<crate::kernel::Task>,
}

impl SynthFile {
    /// A read-only file holding `text`, with stat `stat`.
    pub fn new(text: Vec<u8>, stat: Stat) -> Self {
        Self {
            text,
            pos: Mutex::new(0),
            write: None,
            stat,
            task: std::sync::Weak::new(),
        }
    }
}

impl FileOps for SynthFile {
    fn read(&self, buf: &mut [u8], _: bool, _: &dyn Blocker) -> Result<usize, Errno> {
        let mut pos = self.pos.lock();
        let n = self.pread(buf, *pos)?;
        *pos += n as u64;
        Ok(n)
    }

    fn write(&self, buf: &[u8], _: bool, _: &dyn Blocker) -> Result<usize, Errno> {
        let w = self.write.as_ref().ok_or(Errno::EBADF)?;
        let task = self.task.upgrade();
        let caller = Caller {
            task: task.as_ref(),
        };
        w(&caller, buf)?;
        Ok(buf.len())
    }

    fn poll(&self) -> u16 {
        poll::POLLIN | poll::POLLOUT
    }

    fn stat(&self) -> Stat {
        self.stat
    }

    fn seek(&self, offset: i64, whence: u32) -> Result<u64, Errno> {
        let mut pos = self.pos.lock();
        let base = match whence {
            0 => 0,
            1 => *pos as i64,
            2 => self.text.len() as i64,
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
        let start = (offset.min(self.text.len() as u64)) as usize;
        let n = buf.len().min(self.text.len() - start);
        buf[..n].copy_from_slice(&self.text[start..start + n]);
        Ok(n)
    }

    fn describe(&self) -> String {
        "synthetic file".into()
    }
}

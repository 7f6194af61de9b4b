//! The virtual file system: filesystems, inodes, dentries, the mount
//! table and path resolution, in the spirit of gVisor's VFS2 (written
//! anew for this sandbox).
//!
//! # The pieces
//!
//! * A [`Filesystem`] is one mounted tree (tmpfs, the overlay root, a
//!   host bind, /proc...): it has a root [`Inode`], a device number and
//!   `statfs` figures.
//! * An [`Inode`] is a file of any type. Directories answer `lookup`,
//!   `readdir`, `create`, `symlink`, `link`, `unlink`, `rmdir` and
//!   `rename`; every inode answers `stat` and `setattr`; symbolic links
//!   answer `readlink` (or `follow_link` for magic links such as
//!   `/proc/self/fd/N`, which lead to a [`Path`] rather than text); regular
//!   files and devices answer `open`, which gives the [`FileOps`] of an open
//!   file. Directories are opened by the VFS itself ([`DirFile`], built on
//!   `readdir`); FIFOs by the syscall layer (a pipe of the sandbox's own,
//!   found in the kernel's FIFO table by [`Inode::fifo_key`]).
//! * A [`Dentry`] is an inode reached by a name from a parent dentry (no
//!   cache: a walk makes fresh ones), so `..` and `getcwd` follow the way
//!   a path came. A [`Path`] is a dentry in a [`Mount`].
//! * The [`Vfs`] holds the mount table: a mount covers a directory (by
//!   mount and inode number) of its parent mount. [`Vfs::resolve`] walks
//!   paths: symbolic links (at most [`MAX_LINKS`], then ELOOP), `..` that
//!   stops at the root and climbs out of mounts, ENAMETOOLONG, ENOTDIR,
//!   trailing slashes, and openat2's RESOLVE_* scoping.
//!
//! # Adding a synthetic filesystem (/proc, /dev, /sys)
//!
//! Implement [`super::synthetic::SynthDir`] (entries made on demand from
//! kernel state, with [`Caller`] naming the asking task) and mount it:
//!
//! ```ignore
//! let fs = SynthFs::new("proc", Arc::new(ProcRoot::new(kernel)));
//! vfs.mount_at(b"/proc", fs, "proc", MountFlags::default())?;
//! ```
//!
//! or implement [`Filesystem`] and [`Inode`] directly for full control.
//!
//! # Lock order
//!
//! `Vfs::table` is taken alone (mount crossing reads it between lookups);
//! each filesystem's own locks come after any of `fs`'s.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::{Mutex, RwLock};

use super::{FileOps, Stat, poll};
use crate::errno::Errno;
use crate::kernel::task::Task;
use crate::kernel::wait::Blocker;

/// Longest path, NUL included (PATH_MAX).
pub const PATH_MAX: usize = 4096;
/// Longest file name (NAME_MAX).
pub const NAME_MAX: usize = 255;
/// Symbolic links followed in one lookup at most (Linux's MAXSYMLINKS).
pub const MAX_LINKS: u32 = 40;

/// `renameat2` flags.
pub const RENAME_NOREPLACE: u32 = 1;
/// Exchange the two names.
pub const RENAME_EXCHANGE: u32 = 2;
/// Leave a whiteout (overlayfs internals; refused here).
pub const RENAME_WHITEOUT: u32 = 4;

/// The type of a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileType {
    /// A regular file.
    Regular,
    /// A directory.
    Directory,
    /// A symbolic link.
    Symlink,
    /// A named pipe.
    Fifo,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A socket.
    Socket,
}

impl FileType {
    /// The `S_IFMT` bits.
    pub const fn mode(self) -> u32 {
        match self {
            Self::Regular => 0o100000,
            Self::Directory => 0o040000,
            Self::Symlink => 0o120000,
            Self::Fifo => 0o010000,
            Self::CharDevice => 0o020000,
            Self::BlockDevice => 0o060000,
            Self::Socket => 0o140000,
        }
    }

    /// The type in a mode's `S_IFMT` bits.
    pub const fn from_mode(mode: u32) -> Option<Self> {
        Some(match mode & 0o170000 {
            0o100000 => Self::Regular,
            0o040000 => Self::Directory,
            0o120000 => Self::Symlink,
            0o010000 => Self::Fifo,
            0o020000 => Self::CharDevice,
            0o060000 => Self::BlockDevice,
            0o140000 => Self::Socket,
            _ => return None,
        })
    }

    /// `d_type` in a `linux_dirent64`.
    pub const fn dirent_type(self) -> u8 {
        match self {
            Self::Regular => 8,
            Self::Directory => 4,
            Self::Symlink => 10,
            Self::Fifo => 1,
            Self::CharDevice => 2,
            Self::BlockDevice => 6,
            Self::Socket => 12,
        }
    }
}

/// One directory entry (`.` and `..` are added by the VFS).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DirEntry {
    /// Its name.
    pub name: Vec<u8>,
    /// Its inode number.
    pub ino: u64,
    /// Its type.
    pub kind: FileType,
}

/// A time to set (utimensat).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TimeSet {
    /// The current time (UTIME_NOW).
    Now,
    /// (seconds, nanoseconds).
    At(i64, i64),
}

/// What setattr changes; `None` leaves a field as it is. Any change also
/// sets ctime to now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SetAttr {
    /// Permission bits (07777).
    pub mode: Option<u32>,
    /// Owner.
    pub uid: Option<u32>,
    /// Group.
    pub gid: Option<u32>,
    /// Size (truncate; regular files only).
    pub size: Option<u64>,
    /// Access time.
    pub atime: Option<TimeSet>,
    /// Modification time.
    pub mtime: Option<TimeSet>,
}

/// What statfs reports.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatFs {
    /// `f_type` (the filesystem's magic number).
    pub fs_type: i64,
    /// Block size.
    pub bsize: i64,
    /// Blocks in all.
    pub blocks: u64,
    /// Free blocks.
    pub bfree: u64,
    /// Free blocks for unprivileged users.
    pub bavail: u64,
    /// Inodes in all.
    pub files: u64,
    /// Free inodes.
    pub ffree: u64,
    /// Filesystem id.
    pub fsid: u64,
    /// Longest name.
    pub namelen: i64,
    /// Fragment size.
    pub frsize: i64,
    /// Mount flags (ST_RDONLY...).
    pub flags: i64,
}

impl StatFs {
    /// `ST_RDONLY`.
    pub const ST_RDONLY: i64 = 1;
}

/// Who is asking: the calling task (None in unit tests and at start-up).
/// Synthetic filesystems read kernel state through it (/proc/self).
#[derive(Clone, Copy, Default)]
pub struct Caller<'a> {
    /// The calling task.
    pub task: Option<&'a Arc<Task>>,
}

impl<'a> Caller<'a> {
    /// No task (unit tests, the sentry's own set-up).
    pub const NONE: Caller<'static> = Caller { task: None };

    /// The task `task`.
    pub fn task(task: &'a Arc<Task>) -> Self {
        Self { task: Some(task) }
    }

    /// Where a blocking operation sleeps (FIFO opens).
    pub fn blocker(&self) -> Option<&'a dyn Blocker> {
        self.task.map(|t| &**t as &dyn Blocker)
    }
}

/// The current time as (seconds, nanoseconds) since the epoch.
pub fn now() -> (i64, i64) {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    (d.as_secs() as i64, d.subsec_nanos() as i64)
}

/// Device numbers for the sandbox's own filesystems: major 0 (anonymous,
/// as Linux's tmpfs and procfs), minors from 40 up.
pub fn new_anon_dev() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(40);
    let minor = NEXT.fetch_add(1, Ordering::Relaxed);
    (minor & 0xff) | ((minor & !0xff) << 12)
}

/// A mounted tree.
pub trait Filesystem: Send + Sync {
    /// Its type, as /proc/mounts shows it ("tmpfs", "overlay", "proc").
    fn name(&self) -> &str;
    /// Its root directory.
    fn root(&self) -> Arc<dyn Inode>;
    /// What statfs shows (`flags` is filled in by the VFS).
    fn statfs(&self) -> StatFs;
}

/// A file of a filesystem. Operations a type does not support keep the
/// default, which gives Linux's errno for it (ENOTDIR for directory
/// operations on a non-directory, EINVAL for readlink of a non-link...).
///
/// Names handed to directory operations are single components: not empty,
/// no `/`, never `.` or `..` (the VFS deals with those).
pub trait Inode: Send + Sync + 'static {
    /// Its inode number (unique and stable within its filesystem).
    fn ino(&self) -> u64;
    /// Its type (it never changes).
    fn kind(&self) -> FileType;
    /// What stat shows.
    fn stat(&self) -> Stat;
    /// The child `name` of a directory (ENOENT when missing).
    fn lookup(&self, _caller: &Caller, _name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        Err(Errno::ENOTDIR)
    }
    /// The entries of a directory, without `.` and `..`.
    fn readdir(&self, _caller: &Caller) -> Result<Vec<DirEntry>, Errno> {
        Err(Errno::ENOTDIR)
    }
    /// Makes `name` in this directory: a regular file, directory, FIFO,
    /// device or socket with permission bits `mode` (umask applied) and
    /// device number `rdev`. EEXIST if the name is taken.
    fn create(
        &self,
        _caller: &Caller,
        _name: &[u8],
        _kind: FileType,
        _mode: u32,
        _rdev: u64,
    ) -> Result<Arc<dyn Inode>, Errno> {
        Err(self.not_dir_or(Errno::EPERM))
    }
    /// Makes an unnamed regular file in this directory's filesystem
    /// (O_TMPFILE): link count 0 until linkat names it.
    fn tmpfile(&self, _caller: &Caller, _mode: u32) -> Result<Arc<dyn Inode>, Errno> {
        Err(self.not_dir_or(Errno::EOPNOTSUPP))
    }
    /// Makes the symbolic link `name` → `target`.
    fn symlink(
        &self,
        _caller: &Caller,
        _name: &[u8],
        _target: &[u8],
    ) -> Result<Arc<dyn Inode>, Errno> {
        Err(self.not_dir_or(Errno::EPERM))
    }
    /// Makes `name` a new hard link to `target` (an inode of the same
    /// filesystem, never a directory).
    fn link(&self, _caller: &Caller, _name: &[u8], _target: &Arc<dyn Inode>) -> Result<(), Errno> {
        Err(self.not_dir_or(Errno::EPERM))
    }
    /// Removes the non-directory `name` (EISDIR for a directory).
    fn unlink(&self, _caller: &Caller, _name: &[u8]) -> Result<(), Errno> {
        Err(self.not_dir_or(Errno::EPERM))
    }
    /// Removes the empty directory `name` (ENOTDIR, ENOTEMPTY).
    fn rmdir(&self, _caller: &Caller, _name: &[u8]) -> Result<(), Errno> {
        Err(self.not_dir_or(Errno::EPERM))
    }
    /// Moves `old` of this directory to `new` of `new_dir` (a directory of
    /// the same filesystem) with renameat2's `flags` (RENAME_NOREPLACE,
    /// RENAME_EXCHANGE). Linux's rules: a directory only replaces an empty
    /// directory (ENOTEMPTY, else EISDIR/ENOTDIR), a directory cannot move
    /// under itself (EINVAL), renaming a file onto a link to itself does
    /// nothing.
    fn rename(
        &self,
        _caller: &Caller,
        _old: &[u8],
        _new_dir: &Arc<dyn Inode>,
        _new: &[u8],
        _flags: u32,
    ) -> Result<(), Errno> {
        Err(self.not_dir_or(Errno::EPERM))
    }
    /// The target of a symbolic link.
    fn readlink(&self, _caller: &Caller) -> Result<Vec<u8>, Errno> {
        Err(Errno::EINVAL)
    }
    /// For a directory whose filesystem tracks it: the directory holding
    /// it now and its name there (both follow renames), so that getcwd
    /// and /proc/self/cwd show where it is rather than the way it was
    /// reached. None for a filesystem's root, a removed directory, other
    /// files and filesystems that do not know.
    fn location(&self) -> Option<(Arc<dyn Inode>, Vec<u8>)> {
        None
    }
    /// For an O_TMPFILE file opened with O_EXCL: it may never get a name
    /// (linkat gives ENOENT, as Linux without I_LINKABLE).
    fn forbid_link(&self) {}
    /// A magic link (`/proc/self/fd/N`, `/proc/self/exe`...) leads to a
    /// place rather than a text: `Some` for those.
    fn follow_link(&self, _caller: &Caller) -> Option<Result<Path, Errno>> {
        None
    }
    /// Changes attributes (chmod, chown, truncate, utimensat).
    fn setattr(&self, _caller: &Caller, _attr: &SetAttr) -> Result<(), Errno> {
        Err(Errno::EPERM)
    }
    /// Opens a regular file or a device with open(2)'s `flags` (access
    /// mode, O_TRUNC already applied by the VFS through setattr).
    /// Directories and FIFOs never come here.
    fn open(&self, _caller: &Caller, _flags: u32) -> Result<Box<dyn FileOps>, Errno> {
        Err(Errno::EACCES)
    }
    /// For a FIFO: the key of its pipe in the kernel's FIFO table (unique
    /// in the sandbox).
    fn fifo_key(&self) -> Option<(u64, u64)> {
        let st = self.stat();
        (self.kind() == FileType::Fifo).then_some((st.dev | (1 << 63), st.ino))
    }
    /// For a regular file: flushes it (fsync); nothing to do in memory.
    fn sync(&self) -> Result<(), Errno> {
        Ok(())
    }
    /// Preallocates or punches (fallocate); EOPNOTSUPP by default.
    fn allocate(&self, _mode: u32, _offset: u64, _len: u64) -> Result<(), Errno> {
        Err(Errno::EOPNOTSUPP)
    }
    /// The inode as `Any`, so a filesystem can recognize its own inodes
    /// (link, rename).
    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync>;
    /// The errno a directory operation on this inode gives when it is not
    /// a directory (ENOTDIR), else `e`.
    fn not_dir_or(&self, e: Errno) -> Errno {
        if self.kind() == FileType::Directory {
            e
        } else {
            Errno::ENOTDIR
        }
    }
}

/// An inode reached by a name (no cache: walks make them as they go).
pub struct Dentry {
    /// The inode.
    pub inode: Arc<dyn Inode>,
    /// The name it was reached by (empty for a filesystem's root).
    pub name: Vec<u8>,
    /// The directory it was reached from (None for a filesystem's root).
    pub parent: Option<Arc<Dentry>>,
}

impl Drop for Dentry {
    /// Drops the chain of parents iteratively: a guest can make it as long
    /// as it likes (`mkdir d; cd d` again and again), and a recursive drop
    /// would overflow the sentry's stack.
    fn drop(&mut self) {
        let mut next = self.parent.take();
        while let Some(p) = next {
            next = match Arc::try_unwrap(p) {
                Ok(mut d) => d.parent.take(),
                Err(_) => None,
            };
        }
    }
}

impl Dentry {
    /// A filesystem's root.
    pub fn root(inode: Arc<dyn Inode>) -> Arc<Self> {
        Arc::new(Self {
            inode,
            name: Vec::new(),
            parent: None,
        })
    }
}

/// Mount options.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MountFlags {
    /// Nothing on it may be changed (EROFS).
    pub read_only: bool,
}

/// A filesystem mounted somewhere.
pub struct Mount {
    /// Its id (unique in the sandbox).
    pub id: u64,
    /// The filesystem.
    pub fs: Arc<dyn Filesystem>,
    /// Its root dentry.
    pub root: Arc<Dentry>,
    /// Where it is mounted (None for the root mount).
    pub parent: Option<Path>,
    /// Options.
    pub flags: MountFlags,
    /// What /proc/mounts shows as its source.
    pub source: String,
    /// The device number stat shows for its files.
    pub dev: u64,
}

impl Mount {
    /// Whether it is read-only.
    pub fn read_only(&self) -> bool {
        self.flags.read_only
    }

    /// statfs of the filesystem, with the mount's flags.
    pub fn statfs(&self) -> StatFs {
        let mut s = self.fs.statfs();
        if self.read_only() {
            s.flags |= StatFs::ST_RDONLY;
        }
        s
    }
}

/// A place in the tree: a dentry in a mount.
#[derive(Clone)]
pub struct Path {
    /// The mount.
    pub mount: Arc<Mount>,
    /// The dentry.
    pub dentry: Arc<Dentry>,
}

impl std::fmt::Debug for Path {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Path(mount {}, ino {}, {:?})",
            self.mount.id,
            self.dentry.inode.ino(),
            String::from_utf8_lossy(&self.dentry.name)
        )
    }
}

impl Path {
    /// The inode.
    pub fn inode(&self) -> &Arc<dyn Inode> {
        &self.dentry.inode
    }

    /// Whether both are the same inode in the same mount.
    pub fn same(&self, other: &Path) -> bool {
        Arc::ptr_eq(&self.mount, &other.mount) && self.inode().ino() == other.inode().ino()
    }

    /// The child `name` reached from here.
    fn child(&self, name: Vec<u8>, inode: Arc<dyn Inode>) -> Path {
        Path {
            mount: Arc::clone(&self.mount),
            dentry: Arc::new(Dentry {
                inode,
                name,
                parent: Some(Arc::clone(&self.dentry)),
            }),
        }
    }

    /// What stat shows, with the mount's device number where the file
    /// has none of its own (a descriptor's file reached through
    /// /proc/PID/fd keeps its own, as the terminal's devpts number).
    pub fn stat(&self) -> Stat {
        let mut st = self.inode().stat();
        if st.dev == 0 {
            st.dev = self.mount.dev;
        }
        st
    }

    /// Whether it is a directory.
    pub fn is_dir(&self) -> bool {
        self.inode().kind() == FileType::Directory
    }
}

/// How a path is resolved (openat2's `RESOLVE_*` and the AT_* flags).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Resolve {
    /// Follow a symbolic link in the last component.
    pub follow: bool,
    /// RESOLVE_BENEATH: never leave the starting directory (EXDEV).
    pub beneath: bool,
    /// RESOLVE_IN_ROOT: the starting directory is the root.
    pub in_root: bool,
    /// RESOLVE_NO_SYMLINKS: any symbolic link is ELOOP.
    pub no_symlinks: bool,
    /// RESOLVE_NO_MAGICLINKS: any magic link is ELOOP.
    pub no_magiclinks: bool,
    /// RESOLVE_NO_XDEV: crossing a mount is EXDEV.
    pub no_xdev: bool,
}

impl Resolve {
    /// Follow a final link (stat, open).
    pub const FOLLOW: Resolve = Resolve {
        follow: true,
        beneath: false,
        in_root: false,
        no_symlinks: false,
        no_magiclinks: false,
        no_xdev: false,
    };
    /// Do not follow a final link (lstat, unlink, O_NOFOLLOW).
    pub const NOFOLLOW: Resolve = Resolve {
        follow: false,
        ..Resolve::FOLLOW
    };
}

/// What the last component of a path was.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Last {
    /// A name.
    Name,
    /// `.`.
    Dot,
    /// `..`.
    DotDot,
    /// Nothing: the path was `/` (or only slashes).
    Root,
}

/// Where a path led.
#[derive(Clone, Debug)]
pub struct Walked {
    /// The directory holding the last component (for `.`, `..` and `/`:
    /// the directory reached itself).
    pub parent: Path,
    /// The last component (after following a final link: the target's).
    pub name: Vec<u8>,
    /// What the last component is, if it exists.
    pub found: Option<Path>,
    /// The path ended in `/` (or a final link's target did): the result
    /// must be a directory.
    pub trailing_slash: bool,
    /// The kind of the last component.
    pub last: Last,
}

impl Walked {
    /// The object itself (ENOENT when it does not exist).
    pub fn existing(self) -> Result<Path, Errno> {
        self.found.ok_or(Errno::ENOENT)
    }
}

/// A mounted filesystem as /proc/mounts lists it.
#[derive(Clone, Debug)]
pub struct MountInfo {
    /// Mount id.
    pub id: u64,
    /// Parent mount id (its own for the root).
    pub parent_id: u64,
    /// Source.
    pub source: String,
    /// Where it is mounted (absolute guest path).
    pub target: Vec<u8>,
    /// Filesystem type.
    pub fs_type: String,
    /// Read-only.
    pub read_only: bool,
    /// Device number of its files.
    pub dev: u64,
}

#[derive(Default)]
struct MountTable {
    /// Mounts by (parent mount id, inode number of the covered directory).
    covering: HashMap<(u64, u64), Arc<Mount>>,
    /// Every mount, in mount order.
    all: Vec<Arc<Mount>>,
}

/// The mount tree and path resolution.
pub struct Vfs {
    table: RwLock<MountTable>,
    root: Path,
    next_id: AtomicU64,
}

/// Splits a path into its components (empty ones dropped; `.` and `..`
/// kept).
fn components(path: &[u8]) -> VecDeque<Vec<u8>> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty())
        .map(<[u8]>::to_vec)
        .collect()
}

impl Vfs {
    /// A tree whose root is `fs` (mounted from `source`).
    pub fn new(fs: Arc<dyn Filesystem>, source: &str, flags: MountFlags) -> Self {
        let mount = Arc::new(Mount {
            id: 1,
            root: Dentry::root(fs.root()),
            fs,
            parent: None,
            flags,
            source: source.to_string(),
            dev: 0,
        });
        let mount = Self::with_dev(mount);
        let root = Path {
            dentry: Arc::clone(&mount.root),
            mount: Arc::clone(&mount),
        };
        let table = MountTable {
            covering: HashMap::new(),
            all: vec![mount],
        };
        Self {
            table: RwLock::new(table),
            root,
            next_id: AtomicU64::new(2),
        }
    }

    /// Gives a new mount the device number of its filesystem's files (a
    /// fresh one if they have none).
    fn with_dev(mount: Arc<Mount>) -> Arc<Mount> {
        let mut m = Arc::into_inner(mount).expect("a new mount is not shared");
        m.dev = match m.root.inode.stat().dev {
            0 => new_anon_dev(),
            d => d,
        };
        Arc::new(m)
    }

    /// The root of the tree.
    pub fn root(&self) -> Path {
        self.root.clone()
    }

    /// Mounts `fs` on the directory `at` (ENOTDIR for anything else).
    pub fn mount(
        &self,
        at: &Path,
        fs: Arc<dyn Filesystem>,
        source: &str,
        flags: MountFlags,
    ) -> Result<Arc<Mount>, Errno> {
        if !at.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let mut table = self.table.write();
        // Mount on top of whatever is mounted there already.
        let mut at = at.clone();
        while let Some(m) = table.covering.get(&(at.mount.id, at.inode().ino())) {
            at = Path {
                mount: Arc::clone(m),
                dentry: Arc::clone(&m.root),
            };
        }
        let mount = Arc::new(Mount {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            root: Dentry::root(fs.root()),
            fs,
            parent: Some(at.clone()),
            flags,
            source: source.to_string(),
            dev: 0,
        });
        let mount = Self::with_dev(mount);
        table
            .covering
            .insert((at.mount.id, at.inode().ino()), Arc::clone(&mount));
        table.all.push(Arc::clone(&mount));
        Ok(mount)
    }

    /// Mounts `fs` at the absolute guest path `at`, making the directories
    /// on the way (with mode 0755) where they are missing.
    pub fn mount_at(
        &self,
        at: &[u8],
        fs: Arc<dyn Filesystem>,
        source: &str,
        flags: MountFlags,
    ) -> Result<Arc<Mount>, Errno> {
        let dir = self.make_dirs(at)?;
        self.mount(&dir, fs, source, flags)
    }

    /// Makes the directory `path` and its missing parents (mkdir -p).
    pub fn make_dirs(&self, path: &[u8]) -> Result<Path, Errno> {
        let caller = Caller::NONE;
        let mut cur = self.root();
        for c in components(path) {
            if c == b"." {
                continue;
            }
            if c == b".." {
                cur = self.dotdot(cur, &self.root, &Resolve::FOLLOW)?;
                continue;
            }
            let w = self.resolve(&caller, &self.root, &cur, &c, &Resolve::FOLLOW)?;
            cur = match w.found {
                Some(p) => p,
                None => {
                    let inode = cur
                        .inode()
                        .create(&caller, &c, FileType::Directory, 0o755, 0)?;
                    self.cross_down(cur.child(c, inode))
                }
            };
            if !cur.is_dir() {
                return Err(Errno::ENOTDIR);
            }
        }
        Ok(cur)
    }

    /// Every mount, in mount order.
    pub fn mounts(&self) -> Vec<MountInfo> {
        let table = self.table.read();
        table
            .all
            .iter()
            .map(|m| MountInfo {
                id: m.id,
                parent_id: m.parent.as_ref().map_or(m.id, |p| p.mount.id),
                source: m.source.clone(),
                target: match &m.parent {
                    Some(p) => self.path_name(p, &self.root),
                    None => b"/".to_vec(),
                },
                fs_type: m.fs.name().to_string(),
                read_only: m.read_only(),
                dev: m.dev,
            })
            .collect()
    }

    /// The mount on top of `p`'s directory, if any, followed down.
    fn cross_down(&self, p: Path) -> Path {
        let table = self.table.read();
        let mut p = p;
        while let Some(m) = table.covering.get(&(p.mount.id, p.inode().ino())) {
            p = Path {
                mount: Arc::clone(m),
                dentry: Arc::clone(&m.root),
            };
        }
        p
    }

    /// `..` of `cur`: stays at `root`, climbs out of mounts.
    fn dotdot(&self, cur: Path, root: &Path, how: &Resolve) -> Result<Path, Errno> {
        let mut cur = cur;
        loop {
            if cur.same(root) {
                return if how.beneath {
                    Err(Errno::EXDEV)
                } else {
                    Ok(cur)
                };
            }
            if let Some(parent) = &cur.dentry.parent {
                return Ok(Path {
                    mount: Arc::clone(&cur.mount),
                    dentry: Arc::clone(parent),
                });
            }
            match cur.mount.parent.clone() {
                // The top of the whole tree.
                None => return Ok(cur),
                Some(mp) => {
                    if how.no_xdev {
                        return Err(Errno::EXDEV);
                    }
                    cur = mp;
                }
            }
        }
    }

    /// The absolute name of `p` as seen from `root` (getcwd,
    /// /proc/self/cwd); `/` for the root itself.
    pub fn path_name(&self, p: &Path, root: &Path) -> Vec<u8> {
        let mut names: Vec<Vec<u8>> = Vec::new();
        let mut cur = p.clone();
        loop {
            if cur.same(root) {
                break;
            }
            // Dentries made below from `location` have no name: they are
            // the mount's root when their inode is.
            let made = cur.dentry.name.is_empty();
            let mount_root = cur.dentry.parent.is_none()
                || (made && cur.inode().ino() == cur.mount.root.inode.ino());
            // Where the directory is now (an ancestor may have been renamed
            // since the dentry was made); the dentry's way otherwise.
            if !mount_root && let Some((dir, name)) = cur.inode().location() {
                names.push(name);
                cur = Path {
                    mount: Arc::clone(&cur.mount),
                    dentry: Arc::new(Dentry {
                        inode: dir,
                        name: Vec::new(),
                        parent: Some(Arc::clone(&cur.mount.root)),
                    }),
                };
                continue;
            }
            if !mount_root && let Some(parent) = &cur.dentry.parent {
                if !made {
                    names.push(cur.dentry.name.clone());
                }
                cur = Path {
                    mount: Arc::clone(&cur.mount),
                    dentry: Arc::clone(parent),
                };
                continue;
            }
            match cur.mount.parent.clone() {
                Some(mp) => cur = mp,
                None => break,
            }
        }
        let mut out = Vec::new();
        for n in names.iter().rev() {
            out.push(b'/');
            out.extend_from_slice(n);
        }
        if out.is_empty() {
            out.push(b'/');
        }
        out
    }

    /// Resolves `path` from `start` (for relative paths) with `root` as
    /// the caller's `/`. Only the last component may be missing: then
    /// [`Walked::found`] is None and `parent`/`name` say where it would be.
    pub fn resolve(
        &self,
        caller: &Caller,
        root: &Path,
        start: &Path,
        path: &[u8],
        how: &Resolve,
    ) -> Result<Walked, Errno> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        if path.len() >= PATH_MAX {
            return Err(Errno::ENAMETOOLONG);
        }
        let root = if how.beneath || how.in_root {
            start.clone()
        } else {
            root.clone()
        };
        let mut cur = if path.starts_with(b"/") {
            if how.beneath {
                return Err(Errno::EXDEV);
            }
            root.clone()
        } else {
            start.clone()
        };
        let mut must_dir = path.ends_with(b"/");
        let mut queue = components(path);
        let mut links = 0u32;
        let mut last = Last::Root;
        let mut last_name = Vec::new();
        while let Some(c) = queue.pop_front() {
            let is_last = queue.is_empty();
            if c.len() > NAME_MAX {
                return Err(Errno::ENAMETOOLONG);
            }
            if !cur.is_dir() {
                return Err(Errno::ENOTDIR);
            }
            if c == b"." {
                last = Last::Dot;
                last_name = c;
                continue;
            }
            if c == b".." {
                cur = self.dotdot(cur, &root, how)?;
                last = Last::DotDot;
                last_name = c;
                continue;
            }
            let inode = match cur.inode().lookup(caller, &c) {
                Ok(i) => i,
                Err(Errno::ENOENT) if is_last => {
                    return Ok(Walked {
                        parent: cur,
                        name: c,
                        found: None,
                        trailing_slash: must_dir,
                        last: Last::Name,
                    });
                }
                Err(e) => return Err(e),
            };
            if inode.kind() == FileType::Symlink && (!is_last || how.follow || must_dir) {
                if how.no_symlinks {
                    return Err(Errno::ELOOP);
                }
                links += 1;
                if links > MAX_LINKS {
                    return Err(Errno::ELOOP);
                }
                if let Some(target) = inode.follow_link(caller) {
                    if how.no_magiclinks || how.beneath || how.in_root {
                        return Err(Errno::ELOOP);
                    }
                    let target = target?;
                    if is_last {
                        if must_dir && !target.is_dir() {
                            return Err(Errno::ENOTDIR);
                        }
                        return Ok(Walked {
                            parent: cur,
                            name: c,
                            found: Some(target),
                            trailing_slash: must_dir,
                            last: Last::Name,
                        });
                    }
                    cur = target;
                    continue;
                }
                let target = inode.readlink(caller)?;
                if target.is_empty() {
                    return Err(Errno::ENOENT);
                }
                if target.starts_with(b"/") {
                    if how.beneath {
                        return Err(Errno::EXDEV);
                    }
                    cur = root.clone();
                }
                if is_last && target.ends_with(b"/") {
                    must_dir = true;
                }
                let mut t = components(&target);
                if t.is_empty() {
                    // A link to "/": the root itself.
                    t.push_back(b".".to_vec());
                }
                for part in t.into_iter().rev() {
                    queue.push_front(part);
                }
                continue;
            }
            let child = cur.child(c.clone(), inode);
            let child = if how.no_xdev {
                let down = self.cross_down(child.clone());
                if !Arc::ptr_eq(&down.mount, &child.mount) {
                    return Err(Errno::EXDEV);
                }
                down
            } else {
                self.cross_down(child)
            };
            if is_last {
                if must_dir && !child.is_dir() {
                    return Err(Errno::ENOTDIR);
                }
                return Ok(Walked {
                    parent: cur,
                    name: c,
                    found: Some(child),
                    trailing_slash: must_dir,
                    last: Last::Name,
                });
            }
            cur = child;
        }
        // The path ended at `/`, `.` or `..`: the directory reached.
        Ok(Walked {
            parent: cur.clone(),
            name: last_name,
            found: Some(cur),
            trailing_slash: must_dir,
            last,
        })
    }

    /// Resolves a path that must exist.
    pub fn lookup(
        &self,
        caller: &Caller,
        root: &Path,
        start: &Path,
        path: &[u8],
        how: &Resolve,
    ) -> Result<Path, Errno> {
        self.resolve(caller, root, start, path, how)?.existing()
    }
}

/// An open directory: getdents64 over [`Inode::readdir`], with `.` and
/// `..` first. The entries are read at the first getdents and again after
/// a seek to 0 (rewinddir).
pub struct DirFile {
    path: Path,
    parent_ino: u64,
    name: Vec<u8>,
    /// Who opened it: synthetic directories list what that task sees.
    opener: std::sync::Weak<Task>,
    state: Mutex<DirState>,
}

#[derive(Default)]
struct DirState {
    entries: Option<Vec<DirEntry>>,
    pos: usize,
}

impl DirFile {
    /// Opens the directory at `path`, whose `..` has inode `parent_ino`;
    /// `name` is its guest path (for traces).
    pub fn new(caller: &Caller, path: Path, parent_ino: u64, name: Vec<u8>) -> Self {
        Self {
            path,
            parent_ino,
            name,
            opener: caller.task.map(Arc::downgrade).unwrap_or_default(),
            state: Mutex::new(DirState::default()),
        }
    }
}

/// Encodes `entries` as `linux_dirent64` records from index `pos` up, at
/// most `max` bytes; returns the bytes and the next index. EINVAL if not
/// even the first fits.
pub fn encode_dirents(entries: &[DirEntry], pos: &mut usize, max: usize) -> Result<Vec<u8>, Errno> {
    use crate::abi::fs::Dirent64;
    let mut out = Vec::new();
    while let Some(e) = entries.get(*pos) {
        let d = Dirent64 {
            ino: e.ino,
            off: (*pos + 1) as i64,
            kind: e.kind.dirent_type(),
            name: &e.name,
        };
        if out.len() + d.reclen() > max {
            if out.is_empty() {
                return Err(Errno::EINVAL);
            }
            break;
        }
        d.encode_to(&mut out);
        *pos += 1;
    }
    Ok(out)
}

impl FileOps for DirFile {
    fn read(&self, _: &mut [u8], _: bool, _: &dyn Blocker) -> Result<usize, Errno> {
        Err(Errno::EISDIR)
    }

    fn write(&self, _: &[u8], _: bool, _: &dyn Blocker) -> Result<usize, Errno> {
        Err(Errno::EBADF)
    }

    fn poll(&self) -> u16 {
        poll::POLLIN | poll::POLLOUT
    }

    fn stat(&self) -> Stat {
        self.path.stat()
    }

    fn seek(&self, offset: i64, whence: u32) -> Result<u64, Errno> {
        let mut st = self.state.lock();
        let new = match whence {
            0 => offset,
            1 => (st.pos as i64).checked_add(offset).ok_or(Errno::EINVAL)?,
            _ => return Err(Errno::EINVAL),
        };
        if new < 0 {
            return Err(Errno::EINVAL);
        }
        if new == 0 {
            st.entries = None;
        }
        st.pos = new as usize;
        Ok(new as u64)
    }

    fn getdents(&self, max: usize) -> Result<Vec<u8>, Errno> {
        let mut st = self.state.lock();
        if st.entries.is_none() {
            // Linux's readdir on a removed directory finds nothing.
            let alive = self.path.inode().stat().nlink > 0;
            let mut v = Vec::new();
            if alive {
                v.push(DirEntry {
                    name: b".".to_vec(),
                    ino: self.path.inode().ino(),
                    kind: FileType::Directory,
                });
                v.push(DirEntry {
                    name: b"..".to_vec(),
                    ino: self.parent_ino,
                    kind: FileType::Directory,
                });
                let task = self.opener.upgrade();
                let caller = Caller {
                    task: task.as_ref(),
                };
                v.extend(self.path.inode().readdir(&caller)?);
            }
            st.entries = Some(v);
        }
        let DirState { entries, pos } = &mut *st;
        encode_dirents(entries.as_deref().unwrap_or_default(), pos, max)
    }

    fn dir_path(&self) -> Option<Vec<u8>> {
        Some(self.name.clone())
    }

    fn vfs_path(&self) -> Option<Path> {
        Some(self.path.clone())
    }

    fn describe(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

/// An open file of the VFS: the filesystem's [`FileOps`] with the place
/// it was opened at (for fstat's device, fchmod, fchdir, *at() calls).
pub struct VfsFile {
    path: Path,
    name: Vec<u8>,
    inner: Box<dyn FileOps>,
}

impl VfsFile {
    /// Wraps `inner`, opened at `path` (guest name `name`).
    pub fn new(path: Path, name: Vec<u8>, inner: Box<dyn FileOps>) -> Self {
        Self { path, name, inner }
    }
}

impl FileOps for VfsFile {
    fn read(&self, buf: &mut [u8], nonblock: bool, b: &dyn Blocker) -> Result<usize, Errno> {
        self.inner.read(buf, nonblock, b)
    }
    fn read_short(
        &self,
        buf: &mut [u8],
        want: usize,
        nonblock: bool,
        b: &dyn Blocker,
    ) -> Option<(Result<usize, Errno>, usize)> {
        self.inner.read_short(buf, want, nonblock, b)
    }
    fn write(&self, buf: &[u8], nonblock: bool, b: &dyn Blocker) -> Result<usize, Errno> {
        self.inner.write(buf, nonblock, b)
    }
    fn append(&self, buf: &[u8], nonblock: bool, b: &dyn Blocker) -> Result<usize, Errno> {
        self.inner.append(buf, nonblock, b)
    }
    fn poll(&self) -> u16 {
        self.inner.poll()
    }
    fn stat(&self) -> Stat {
        // What stat of the place shows (the overlay's inode number, not
        // its upper layer's; the current size after a copy-up), so fstat
        // and stat agree as tar and cp expect.
        self.path.stat()
    }
    fn ioctl(&self, request: u64) -> Result<super::IoctlReply, Errno> {
        self.inner.ioctl(request)
    }
    fn seek(&self, offset: i64, whence: u32) -> Result<u64, Errno> {
        self.inner.seek(offset, whence)
    }
    fn pread(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        self.inner.pread(buf, offset)
    }
    fn pwrite(&self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        self.inner.pwrite(buf, offset)
    }
    fn getdents(&self, max: usize) -> Result<Vec<u8>, Errno> {
        self.inner.getdents(max)
    }
    fn notifies(&self) -> bool {
        self.inner.notifies()
    }
    fn vfs_path(&self) -> Option<Path> {
        Some(self.path.clone())
    }
    fn describe(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
    fn as_pipe(&self) -> Option<&super::pipe::PipeEnd> {
        self.inner.as_pipe()
    }
    fn is_terminal(&self) -> bool {
        self.inner.is_terminal()
    }
    fn as_terminal(&self) -> Option<&super::tty::TerminalFile> {
        self.inner.as_terminal()
    }
    fn maps_as_anonymous(&self) -> bool {
        self.inner.maps_as_anonymous()
    }
    fn tmpfs_inode(&self) -> Option<Arc<super::tmpfs::TmpInode>> {
        self.inner.tmpfs_inode()
    }
}

/// An `O_PATH` descriptor: it names a place for fstat, fchdir, fstatfs
/// and *at() calls, and can be neither read nor written (EBADF).
pub struct PathOnly {
    path: Path,
    name: Vec<u8>,
}

impl PathOnly {
    /// An `O_PATH` descriptor for `path` (guest name `name`).
    pub fn new(path: Path, name: Vec<u8>) -> Self {
        Self { path, name }
    }
}

impl FileOps for PathOnly {
    fn read(&self, _: &mut [u8], _: bool, _: &dyn Blocker) -> Result<usize, Errno> {
        Err(Errno::EBADF)
    }
    fn write(&self, _: &[u8], _: bool, _: &dyn Blocker) -> Result<usize, Errno> {
        Err(Errno::EBADF)
    }
    fn poll(&self) -> u16 {
        // POLLNVAL, as Linux reports for an O_PATH descriptor.
        0x20
    }
    fn stat(&self) -> Stat {
        self.path.stat()
    }
    fn ioctl(&self, _: u64) -> Result<super::IoctlReply, Errno> {
        Err(Errno::EBADF)
    }
    fn seek(&self, _: i64, _: u32) -> Result<u64, Errno> {
        Err(Errno::EBADF)
    }
    fn pread(&self, _: &mut [u8], _: u64) -> Result<usize, Errno> {
        Err(Errno::EBADF)
    }
    fn pwrite(&self, _: &[u8], _: u64) -> Result<usize, Errno> {
        Err(Errno::EBADF)
    }
    fn getdents(&self, _: usize) -> Result<Vec<u8>, Errno> {
        Err(Errno::EBADF)
    }
    fn dir_path(&self) -> Option<Vec<u8>> {
        self.path.is_dir().then(|| self.name.clone())
    }
    fn vfs_path(&self) -> Option<Path> {
        Some(self.path.clone())
    }
    fn describe(&self) -> String {
        String::from_utf8_lossy(&self.name).into_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::tmpfs::{CountedCharge, TmpFs};

    const C: Caller<'static> = Caller::NONE;

    fn tmpfs() -> Arc<TmpFs> {
        TmpFs::new("tmpfs", 0o755, CountedCharge::new(1024))
    }

    /// A tree: /a/b/f, /a/link -> b, /abs -> /a/b, /loop -> loop,
    /// /m (a second tmpfs mounted, holding /m/inner).
    fn tree() -> Vfs {
        let vfs = Vfs::new(tmpfs(), "root", MountFlags::default());
        let r = vfs.root();
        let a = r
            .inode()
            .create(&C, b"a", FileType::Directory, 0o755, 0)
            .unwrap();
        let b = a.create(&C, b"b", FileType::Directory, 0o755, 0).unwrap();
        b.create(&C, b"f", FileType::Regular, 0o644, 0).unwrap();
        a.symlink(&C, b"link", b"b").unwrap();
        r.inode().symlink(&C, b"abs", b"/a/b").unwrap();
        r.inode().symlink(&C, b"loop", b"loop").unwrap();
        r.inode().symlink(&C, b"up", b"../../../a").unwrap();
        let m = tmpfs();
        m.root_inode()
            .create(&C, b"inner", FileType::Directory, 0o755, 0)
            .unwrap();
        vfs.mount_at(b"/m", m, "m", MountFlags::default()).unwrap();
        vfs
    }

    fn look(vfs: &Vfs, start: &Path, p: &[u8], how: Resolve) -> Result<Path, Errno> {
        vfs.lookup(&C, &vfs.root(), start, p, &how)
    }

    fn name(vfs: &Vfs, p: &Path) -> String {
        String::from_utf8(vfs.path_name(p, &vfs.root())).unwrap()
    }

    #[test]
    fn walks_names_links_and_dotdot() {
        let vfs = tree();
        let root = vfs.root();
        let f = look(&vfs, &root, b"/a/b/f", Resolve::FOLLOW).unwrap();
        assert_eq!(f.inode().kind(), FileType::Regular);
        assert_eq!(name(&vfs, &f), "/a/b/f");
        // A relative link resolves from its directory; `..` follows the
        // way the path came (through the link).
        let via = look(&vfs, &root, b"a/link/f", Resolve::FOLLOW).unwrap();
        assert_eq!(via.inode().ino(), f.inode().ino());
        // `..` at the root stays there, also through a link.
        let up = look(&vfs, &root, b"/../../a/./b/..", Resolve::FOLLOW).unwrap();
        assert_eq!(name(&vfs, &up), "/a");
        let up = look(&vfs, &root, b"up", Resolve::FOLLOW).unwrap();
        assert_eq!(name(&vfs, &up), "/a");
        // An absolute link starts again at the root.
        let b = look(&vfs, &root, b"/abs", Resolve::FOLLOW).unwrap();
        assert_eq!(name(&vfs, &b), "/a/b");
        // Without following, the link itself.
        let l = look(&vfs, &root, b"/abs", Resolve::NOFOLLOW).unwrap();
        assert_eq!(l.inode().kind(), FileType::Symlink);
        // ... but a trailing slash follows it.
        let l = look(&vfs, &root, b"/abs/", Resolve::NOFOLLOW).unwrap();
        assert!(l.is_dir());
        // Relative to another start.
        let a = look(&vfs, &root, b"a", Resolve::FOLLOW).unwrap();
        let f2 = look(&vfs, &a, b"b/f", Resolve::FOLLOW).unwrap();
        assert_eq!(f2.inode().ino(), f.inode().ino());
    }

    #[test]
    fn errors_are_linuxs() {
        let vfs = tree();
        let root = vfs.root();
        let e = |p: &[u8], how| look(&vfs, &root, p, how).err();
        assert_eq!(e(b"/nope", Resolve::FOLLOW), Some(Errno::ENOENT));
        assert_eq!(e(b"/nope/x", Resolve::FOLLOW), Some(Errno::ENOENT));
        assert_eq!(e(b"", Resolve::FOLLOW), Some(Errno::ENOENT));
        assert_eq!(e(b"/a/b/f/x", Resolve::FOLLOW), Some(Errno::ENOTDIR));
        assert_eq!(e(b"/a/b/f/", Resolve::FOLLOW), Some(Errno::ENOTDIR));
        assert_eq!(e(b"/a/b/f/.", Resolve::FOLLOW), Some(Errno::ENOTDIR));
        assert_eq!(e(b"/loop", Resolve::FOLLOW), Some(Errno::ELOOP));
        assert_eq!(e(b"/loop/x", Resolve::NOFOLLOW), Some(Errno::ELOOP));
        assert!(e(b"/loop", Resolve::NOFOLLOW).is_none());
        let long = vec![b'x'; 256];
        assert_eq!(e(&long, Resolve::FOLLOW), Some(Errno::ENAMETOOLONG));
        let mut path = Vec::new();
        while path.len() < PATH_MAX {
            path.extend_from_slice(b"./");
        }
        assert_eq!(e(&path, Resolve::FOLLOW), Some(Errno::ENAMETOOLONG));
    }

    #[test]
    fn forty_links_and_no_more() {
        let vfs = Vfs::new(tmpfs(), "root", MountFlags::default());
        let r = vfs.root();
        r.inode()
            .create(&C, b"l0", FileType::Regular, 0o644, 0)
            .unwrap();
        for i in 1..=41 {
            let target = format!("l{}", i - 1);
            r.inode()
                .symlink(&C, format!("l{i}").as_bytes(), target.as_bytes())
                .unwrap();
        }
        assert!(look(&vfs, &r, b"l40", Resolve::FOLLOW).is_ok());
        assert_eq!(
            look(&vfs, &r, b"l41", Resolve::FOLLOW).err(),
            Some(Errno::ELOOP)
        );
    }

    #[test]
    fn mounts_are_crossed_both_ways() {
        let vfs = tree();
        let root = vfs.root();
        let m = look(&vfs, &root, b"/m", Resolve::FOLLOW).unwrap();
        assert_ne!(
            m.mount.id, root.mount.id,
            "the mount's root, not the directory under it"
        );
        let inner = look(&vfs, &root, b"/m/inner", Resolve::FOLLOW).unwrap();
        assert_eq!(name(&vfs, &inner), "/m/inner");
        let back = look(&vfs, &inner, b"../..", Resolve::FOLLOW).unwrap();
        assert!(
            back.same(&root),
            "`..` of a mount's root is the mount point's parent"
        );
        let back = look(&vfs, &m, b"../a", Resolve::FOLLOW).unwrap();
        assert_eq!(name(&vfs, &back), "/a");
        let x = Resolve {
            no_xdev: true,
            ..Resolve::FOLLOW
        };
        assert_eq!(look(&vfs, &root, b"/m/inner", x).err(), Some(Errno::EXDEV));
        assert_eq!(look(&vfs, &inner, b"../..", x).err(), Some(Errno::EXDEV));
        let infos = vfs.mounts();
        assert_eq!(infos.len(), 2);
        assert_eq!(infos[1].target, b"/m");
        assert_eq!(infos[1].parent_id, infos[0].id);
    }

    #[test]
    fn scoped_resolution() {
        let vfs = tree();
        let root = vfs.root();
        let a = look(&vfs, &root, b"/a", Resolve::FOLLOW).unwrap();
        let beneath = Resolve {
            beneath: true,
            ..Resolve::FOLLOW
        };
        assert!(look(&vfs, &a, b"b/f", beneath).is_ok());
        assert!(look(&vfs, &a, b"link/../b", beneath).is_ok());
        assert_eq!(look(&vfs, &a, b"..", beneath).err(), Some(Errno::EXDEV));
        assert_eq!(look(&vfs, &a, b"/a", beneath).err(), Some(Errno::EXDEV));
        let in_root = Resolve {
            in_root: true,
            ..Resolve::FOLLOW
        };
        // `..` and absolute paths stop at the starting directory.
        let b = look(&vfs, &a, b"/../../b", in_root).unwrap();
        assert_eq!(name(&vfs, &b), "/a/b");
        let no_links = Resolve {
            no_symlinks: true,
            ..Resolve::FOLLOW
        };
        assert_eq!(
            look(&vfs, &a, b"link/f", no_links).err(),
            Some(Errno::ELOOP)
        );
        // A final link not followed is the link itself (O_PATH|O_NOFOLLOW).
        assert!(
            look(
                &vfs,
                &a,
                b"link",
                Resolve {
                    follow: false,
                    ..no_links
                }
            )
            .is_ok()
        );
    }

    #[test]
    fn missing_last_component_says_where() {
        let vfs = tree();
        let root = vfs.root();
        let w = vfs
            .resolve(&C, &root, &root, b"/a/b/new/", &Resolve::FOLLOW)
            .unwrap();
        assert!(w.found.is_none());
        assert_eq!(w.name, b"new");
        assert!(w.trailing_slash);
        assert_eq!(name(&vfs, &w.parent), "/a/b");
        // A dangling link leads to where its target would be.
        root.inode().symlink(&C, b"dangling", b"a/b/made").unwrap();
        let w = vfs
            .resolve(&C, &root, &root, b"dangling", &Resolve::FOLLOW)
            .unwrap();
        assert!(w.found.is_none());
        assert_eq!(w.name, b"made");
        assert_eq!(name(&vfs, &w.parent), "/a/b");
        let w = vfs
            .resolve(&C, &root, &root, b"/", &Resolve::FOLLOW)
            .unwrap();
        assert_eq!(w.last, Last::Root);
        let w = vfs
            .resolve(&C, &root, &root, b"a/..", &Resolve::FOLLOW)
            .unwrap();
        assert_eq!(w.last, Last::DotDot);
        assert!(w.found.unwrap().same(&root));
    }
}

#[cfg(test)]
mod deep_tests {
    use super::*;
    use crate::fs::tmpfs::{CountedCharge, TmpFs};

    /// A guest can walk arbitrarily deep (`mkdir d; cd d` again and again):
    /// the dentry chain of its cwd, and the tmpfs tree under it, must be
    /// dropped without recursion (a worker thread has a 1 MiB stack).
    #[test]
    fn deep_chains_drop_without_recursion() {
        let c = Caller::NONE;
        let fs = TmpFs::new("tmpfs", 0o755, CountedCharge::new(1 << 20));
        let vfs = Vfs::new(fs, "tmpfs", MountFlags::default());
        let root = vfs.root();
        let deep = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || {
                let mut cur = root.clone();
                for _ in 0..200_000 {
                    let i = cur
                        .inode()
                        .create(&c, b"d", FileType::Directory, 0o755, 0)
                        .unwrap();
                    cur = cur.child(b"d".to_vec(), i);
                }
                drop(cur);
                drop(root);
                drop(vfs);
            })
            .unwrap();
        deep.join().expect("no stack overflow");
        // The overlay's inodes keep their parents too.
        let lower = TmpFs::new("lower", 0o755, CountedCharge::new(1 << 20));
        let upper = TmpFs::new("upper", 0o755, CountedCharge::new(1 << 20));
        let ov = crate::fs::overlay::OverlayFs::new(lower.root(), upper);
        let vfs = Vfs::new(ov, "overlay", MountFlags::default());
        let deep = std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || {
                let mut cur = vfs.root();
                for _ in 0..100_000 {
                    let i = cur
                        .inode()
                        .create(&c, b"d", FileType::Directory, 0o755, 0)
                        .unwrap();
                    cur = cur.child(b"d".to_vec(), i);
                }
                drop(cur);
                drop(vfs);
            })
            .unwrap();
        deep.join().expect("no stack overflow in the overlay");
    }
}

//! tmpfs: files in the sentry's memory (/tmp, /dev/shm, the root without
//! `--root`, and the overlay's upper layer).
//!
//! Regular files hold their data in a [`SharedMemory`] of platform
//! frames, each charged to the guest's memory cap (`--memory`, the
//! platform of [`MemoryCharge`]) while it exists: a write that needs a
//! page past the cap gets ENOSPC (Linux's tmpfs answer when it is full).
//! Holes cost nothing. Those frames are what a mapping of the file maps
//! (`crate::mm`), so MAP_SHARED is coherent with read and write.
//! Directories, symbolic links, FIFOs, devices (inert) and sockets are
//! inodes too; hard links count in `st_nlink`; inode numbers are stable.
//!
//! # Lock order
//!
//! `TmpFs::tree` (every change to the namespace) → one directory's
//! `entries` at a time → an inode's `meta` → its `data` → the memory
//! locks of its `SharedMemory` (a shrink takes the mappers' address
//! spaces, see `crate::mm`'s lock order).

use std::any::Any;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::vfs::{
    Caller, DirEntry, FileType, Filesystem, Inode, RENAME_EXCHANGE, RENAME_NOREPLACE, SetAttr,
    StatFs, TimeSet, now,
};
use super::{FileOps, Stat, poll};
use crate::errno::Errno;
use crate::kernel::wait::Blocker;
use crate::mm::SharedMemory;

/// Page size of file data.
pub const PAGE: usize = 4096;
/// Largest file (Linux's MAX_LFS_FILESIZE on 64-bit).
const MAX_FILE: u64 = i64::MAX as u64;
/// TMPFS_MAGIC.
const TMPFS_MAGIC: i64 = 0x0102_1994;

/// Where file pages are charged (the guest's memory cap).
pub trait MemoryCharge: Send + Sync {
    /// Takes `pages` pages from the cap; false if they do not fit.
    fn charge(&self, pages: u64) -> bool;
    /// Gives `pages` pages back.
    fn uncharge(&self, pages: u64);
    /// The cap in pages (for statfs).
    fn limit_pages(&self) -> u64;
    /// Pages in use under the cap (for statfs).
    fn used_pages(&self) -> u64;
    /// The platform whose frames hold file data (and whose cap they are
    /// charged to).
    fn platform(&self) -> Arc<dyn platform::Platform>;
}

/// The platform's memory cap (`--memory`), shared with guest memory.
pub struct PlatformCharge(pub std::sync::Arc<dyn platform::Platform>);

impl MemoryCharge for PlatformCharge {
    fn charge(&self, pages: u64) -> bool {
        self.0.frames().charge(pages)
    }
    fn uncharge(&self, pages: u64) {
        self.0.frames().uncharge(pages);
    }
    fn limit_pages(&self) -> u64 {
        self.0.frames().data_limit_bytes() / PAGE as u64
    }
    fn used_pages(&self) -> u64 {
        self.0.frames().data_bytes_in_use() / PAGE as u64
    }
    fn platform(&self) -> Arc<dyn platform::Platform> {
        Arc::clone(&self.0)
    }
}

/// A cap of its own (unit tests): a fake platform whose frames hold the
/// data, capped at `limit` pages.
pub struct CountedCharge {
    platform: PlatformCharge,
}

impl CountedCharge {
    /// A cap of `limit` pages.
    pub fn new(limit: u64) -> Arc<Self> {
        let fake = platform::fake::Fake::new(platform::PlatformConfig {
            memory_limit: limit * PAGE as u64,
        })
        .expect("a memfd-backed pool for the fake platform");
        Arc::new(Self {
            platform: PlatformCharge(Arc::new(fake)),
        })
    }
}

impl MemoryCharge for CountedCharge {
    fn charge(&self, pages: u64) -> bool {
        self.platform.charge(pages)
    }
    fn uncharge(&self, pages: u64) {
        self.platform.uncharge(pages);
    }
    fn limit_pages(&self) -> u64 {
        self.platform.limit_pages()
    }
    fn used_pages(&self) -> u64 {
        self.platform.used_pages()
    }
    fn platform(&self) -> Arc<dyn platform::Platform> {
        self.platform.platform()
    }
}

/// An in-memory filesystem.
pub struct TmpFs {
    name: String,
    dev: u64,
    next_ino: AtomicU64,
    charge: Arc<dyn MemoryCharge>,
    /// Serializes every change of the namespace (create, unlink, rename).
    tree: Mutex<()>,
    root: Mutex<Option<Arc<TmpInode>>>,
    inodes: AtomicU64,
    /// Directory entries (names): hard links count too, as in Linux's
    /// tmpfs, so names are bounded like inodes.
    names: AtomicU64,
}

struct Meta {
    mode: u32,
    uid: u32,
    gid: u32,
    nlink: u64,
    rdev: u64,
    atime: (i64, i64),
    mtime: (i64, i64),
    ctime: (i64, i64),
}

enum Data {
    File(FileData),
    Dir(DirData),
    Symlink(Vec<u8>),
    Other,
}

struct DirData {
    entries: BTreeMap<Vec<u8>, Arc<TmpInode>>,
    /// The directory holding this one (itself for the root).
    parent: Weak<TmpInode>,
}

/// The data of a regular file: a shared memory object of platform
/// frames (each charged to the memory cap while it exists), so that a
/// mapping of the file maps the very pages read(2) and write(2) use.
struct FileData {
    store: Arc<SharedMemory>,
}

impl FileData {
    fn size(&self) -> u64 {
        self.store.size()
    }

    fn read(&self, buf: &mut [u8], offset: u64) -> usize {
        self.store.read(buf, offset)
    }

    /// Writes `buf` at `offset`; short (or ENOSPC if nothing) when a page
    /// cannot be charged.
    fn write(&mut self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        let end = offset.checked_add(buf.len() as u64).ok_or(Errno::EFBIG)?;
        if end > MAX_FILE {
            return Err(Errno::EFBIG);
        }
        self.store.write(buf, offset)
    }

    /// Zeroes `[start, end)` within the file, freeing whole pages.
    fn zero_range(&mut self, start: u64, end: u64) {
        self.store.zero_range(start, end);
    }

    /// Sets the size; a shrink frees the pages past the end (and takes
    /// them from every mapping of the file).
    fn truncate(&mut self, size: u64) {
        self.store.truncate(size);
    }

    /// Charges the pages of `[start, end)` that are holes (fallocate).
    fn allocate(&mut self, start: u64, end: u64) -> Result<(), Errno> {
        self.store.allocate(start, end)
    }
}

/// A tmpfs inode.
pub struct TmpInode {
    ino: u64,
    dev: u64,
    me: Weak<TmpInode>,
    /// An O_TMPFILE file not yet linked anywhere (linkat may name it).
    anonymous: std::sync::atomic::AtomicBool,
    /// File seals (`F_SEAL_*`, fcntl F_ADD_SEALS); F_SEAL_SEAL but for
    /// memfds made with MFD_ALLOW_SEALING, as Linux's shmem.
    seals: std::sync::atomic::AtomicU32,
    kind: FileType,
    fs: Weak<TmpFs>,
    meta: Mutex<Meta>,
    data: Mutex<Data>,
}

impl Drop for TmpInode {
    fn drop(&mut self) {
        if let Some(fs) = self.fs.upgrade() {
            fs.inodes.fetch_sub(1, Ordering::Relaxed);
        }
        // A directory tree is dropped iteratively: the guest decides how
        // deep it is, and a recursive drop would overflow the stack.
        let mut work: Vec<Arc<TmpInode>> = match &mut *self.data.lock() {
            Data::Dir(d) => std::mem::take(&mut d.entries).into_values().collect(),
            _ => Vec::new(),
        };
        while let Some(i) = work.pop() {
            if let Ok(inode) = Arc::try_unwrap(i)
                && let Data::Dir(d) = &mut *inode.data.lock()
            {
                work.extend(std::mem::take(&mut d.entries).into_values());
            }
        }
    }
}

impl TmpFs {
    /// An empty tmpfs named `name` (/proc/mounts' type) whose root has
    /// permission bits `mode`, charging its pages to `charge`.
    pub fn new(name: &str, mode: u32, charge: Arc<dyn MemoryCharge>) -> Arc<Self> {
        let fs = Arc::new(Self {
            name: name.to_string(),
            dev: super::vfs::new_anon_dev(),
            next_ino: AtomicU64::new(1),
            charge,
            tree: Mutex::new(()),
            root: Mutex::new(None),
            inodes: AtomicU64::new(0),
            names: AtomicU64::new(0),
        });
        let root = fs.new_inode(FileType::Directory, mode, 0);
        if let Data::Dir(d) = &mut *root.data.lock() {
            d.parent = Arc::downgrade(&root);
        }
        root.meta.lock().nlink = 2;
        *fs.root.lock() = Some(root);
        fs
    }

    /// A new inode, or ENOSPC past the inode limit (as Linux's tmpfs
    /// nr_inodes: one per page of the memory cap), which bounds what the
    /// guest's files cost the sentry's own heap.
    fn alloc_inode(
        self: &Arc<Self>,
        kind: FileType,
        mode: u32,
        rdev: u64,
    ) -> Result<Arc<TmpInode>, Errno> {
        if self.inodes.load(Ordering::Relaxed) >= self.max_inodes() {
            return Err(Errno::ENOSPC);
        }
        Ok(self.new_inode(kind, mode, rdev))
    }

    /// The inode (and name) limit.
    fn max_inodes(&self) -> u64 {
        self.charge.limit_pages().max(1024)
    }

    /// Takes a name slot (ENOSPC when full).
    fn add_name(&self) -> Result<(), Errno> {
        if self.names.load(Ordering::Relaxed) >= self.max_inodes() {
            return Err(Errno::ENOSPC);
        }
        self.names.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }

    fn drop_name(&self) {
        self.names.fetch_sub(1, Ordering::Relaxed);
    }

    fn new_inode(self: &Arc<Self>, kind: FileType, mode: u32, rdev: u64) -> Arc<TmpInode> {
        let t = now();
        let data = match kind {
            FileType::Regular => Data::File(FileData {
                store: Arc::new(SharedMemory::new_file(self.charge.platform())),
            }),
            FileType::Directory => Data::Dir(DirData {
                entries: BTreeMap::new(),
                parent: Weak::new(),
            }),
            FileType::Symlink => Data::Symlink(Vec::new()),
            _ => Data::Other,
        };
        self.inodes.fetch_add(1, Ordering::Relaxed);
        Arc::new_cyclic(|me| TmpInode {
            ino: self.next_ino.fetch_add(1, Ordering::Relaxed),
            dev: self.dev,
            me: Weak::clone(me),
            anonymous: std::sync::atomic::AtomicBool::new(false),
            seals: std::sync::atomic::AtomicU32::new(super::memfd::F_SEAL_SEAL),
            kind,
            fs: Arc::downgrade(self),
            meta: Mutex::new(Meta {
                mode: kind.mode() | (mode & 0o7777),
                uid: 0,
                gid: 0,
                nlink: 1,
                rdev,
                atime: t,
                mtime: t,
                ctime: t,
            }),
            data: Mutex::new(data),
        })
    }

    /// The root directory.
    pub fn root_inode(&self) -> Arc<TmpInode> {
        Arc::clone(self.root.lock().as_ref().expect("made in new"))
    }
}

impl Filesystem for TmpFs {
    fn name(&self) -> &str {
        &self.name
    }

    fn root(&self) -> Arc<dyn Inode> {
        self.root_inode()
    }

    fn statfs(&self) -> StatFs {
        let limit = self.charge.limit_pages();
        let free = limit.saturating_sub(self.charge.used_pages());
        StatFs {
            fs_type: TMPFS_MAGIC,
            bsize: PAGE as i64,
            blocks: limit,
            bfree: free,
            bavail: free,
            files: limit,
            ffree: limit.saturating_sub(self.inodes.load(Ordering::Relaxed)),
            fsid: 0,
            namelen: 255,
            frsize: PAGE as i64,
            flags: 0,
        }
    }
}

fn set_time(t: TimeSet) -> (i64, i64) {
    match t {
        TimeSet::Now => now(),
        TimeSet::At(s, n) => (s, n),
    }
}

impl TmpInode {
    fn fs(&self) -> Result<Arc<TmpFs>, Errno> {
        self.fs.upgrade().ok_or(Errno::ENOENT)
    }

    fn touch_dir(&self) {
        let t = now();
        let mut m = self.meta.lock();
        m.mtime = t;
        m.ctime = t;
    }

    fn with_dir<R>(&self, f: impl FnOnce(&mut DirData) -> R) -> Result<R, Errno> {
        match &mut *self.data.lock() {
            Data::Dir(d) => Ok(f(d)),
            _ => Err(Errno::ENOTDIR),
        }
    }

    fn get(&self, name: &[u8]) -> Result<Option<Arc<TmpInode>>, Errno> {
        self.with_dir(|d| d.entries.get(name).cloned())
    }

    fn is_empty_dir(&self) -> bool {
        matches!(&*self.data.lock(), Data::Dir(d) if d.entries.is_empty())
    }

    fn inc_link(&self, by: i64) {
        let mut m = self.meta.lock();
        m.nlink = (m.nlink as i64 + by).max(0) as u64;
        m.ctime = now();
    }

    /// Reads file data at `offset` (regular files).
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        let n = match &*self.data.lock() {
            Data::File(f) => f.read(buf, offset),
            Data::Dir(_) => return Err(Errno::EISDIR),
            _ => return Err(Errno::EINVAL),
        };
        // relatime, Linux's default: only when atime is not newer than
        // mtime or ctime, or a day old.
        let t = now();
        let mut m = self.meta.lock();
        if m.atime <= m.mtime || m.atime <= m.ctime || t.0 - m.atime.0 >= 86400 {
            m.atime = t;
        }
        Ok(n)
    }

    /// Writes file data at `offset`, or at the end with `append`; returns
    /// the count and the offset after it.
    pub fn write_at(&self, buf: &[u8], offset: u64, append: bool) -> Result<(usize, u64), Errno> {
        let seals = self.seals();
        let (n, end) = match &mut *self.data.lock() {
            Data::File(f) => {
                let at = if append { f.size() } else { offset };
                super::memfd::check_write(seals, f.size(), at, buf.len() as u64)?;
                let n = f.write(buf, at)?;
                (n, at + n as u64)
            }
            Data::Dir(_) => return Err(Errno::EISDIR),
            _ => return Err(Errno::EINVAL),
        };
        if n > 0 {
            let t = now();
            let mut m = self.meta.lock();
            m.mtime = t;
            m.ctime = t;
            // A write by anyone but root clears set-user-ID; the guest is root.
        }
        Ok((n, end))
    }

    /// The size of a regular file (0 for others).
    pub fn size(&self) -> u64 {
        match &*self.data.lock() {
            Data::File(f) => f.size(),
            Data::Symlink(t) => t.len() as u64,
            _ => 0,
        }
    }

    /// Whether the page holding `offset` has data (SEEK_DATA/SEEK_HOLE).
    fn has_page(&self, page: u64) -> bool {
        matches!(&*self.data.lock(), Data::File(f) if f.store.has_page(page))
    }
}

/// Downcasts an inode to a tmpfs inode of the filesystem `fs`.
fn own(fs: &Arc<TmpFs>, inode: &Arc<dyn Inode>) -> Option<Arc<TmpInode>> {
    let t = Arc::clone(inode).as_any().downcast::<TmpInode>().ok()?;
    t.fs.upgrade()
        .is_some_and(|f| Arc::ptr_eq(&f, fs))
        .then_some(t)
}

impl Inode for TmpInode {
    fn ino(&self) -> u64 {
        self.ino
    }

    fn kind(&self) -> FileType {
        self.kind
    }

    fn stat(&self) -> Stat {
        let size = self.size();
        let pages = match &*self.data.lock() {
            Data::File(f) => f.store.page_count() as i64,
            _ => 0,
        };
        let m = self.meta.lock();
        Stat {
            mode: m.mode,
            ino: self.ino,
            dev: self.dev,
            rdev: m.rdev,
            size: if self.kind == FileType::Directory {
                // tmpfs shows a directory's size as entries × 20 (+ 40).
                match &*self.data.lock() {
                    Data::Dir(d) => 40 + 20 * d.entries.len() as i64,
                    _ => 0,
                }
            } else {
                size as i64
            },
            blksize: PAGE as i64,
            nlink: m.nlink,
            uid: m.uid,
            gid: m.gid,
            blocks: pages * (PAGE as i64 / 512),
            times: [m.atime, m.mtime, m.ctime],
        }
    }

    fn lookup(&self, _: &Caller, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        match self.get(name)? {
            Some(i) => Ok(i),
            None => Err(Errno::ENOENT),
        }
    }

    fn readdir(&self, _: &Caller) -> Result<Vec<DirEntry>, Errno> {
        self.with_dir(|d| {
            d.entries
                .iter()
                .map(|(name, i)| DirEntry {
                    name: name.clone(),
                    ino: i.ino,
                    kind: i.kind,
                })
                .collect()
        })
    }

    fn create(
        &self,
        _: &Caller,
        name: &[u8],
        kind: FileType,
        mode: u32,
        rdev: u64,
    ) -> Result<Arc<dyn Inode>, Errno> {
        let fs = self.fs()?;
        let _tree = fs.tree.lock();
        if self.get(name)?.is_some() {
            return Err(Errno::EEXIST);
        }
        if self.meta.lock().nlink == 0 {
            // A removed directory takes no new entries.
            return Err(Errno::ENOENT);
        }
        fs.add_name()?;
        let inode = match fs.alloc_inode(kind, mode, rdev) {
            Ok(i) => i,
            Err(e) => {
                fs.drop_name();
                return Err(e);
            }
        };
        if kind == FileType::Directory {
            inode.meta.lock().nlink = 2;
            if let Data::Dir(d) = &mut *inode.data.lock() {
                d.parent = Weak::clone(&self.me);
            }
            self.inc_link(1);
        }
        self.with_dir(|d| d.entries.insert(name.to_vec(), Arc::clone(&inode)))?;
        self.touch_dir();
        Ok(inode)
    }

    fn tmpfile(&self, _: &Caller, mode: u32) -> Result<Arc<dyn Inode>, Errno> {
        let fs = self.fs()?;
        if self.kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        let inode = fs.alloc_inode(FileType::Regular, mode, 0)?;
        inode.meta.lock().nlink = 0;
        inode.set_anonymous(true);
        Ok(inode)
    }

    fn symlink(&self, c: &Caller, name: &[u8], target: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        let inode = self.create(c, name, FileType::Symlink, 0o777, 0)?;
        let t = Arc::clone(&inode).as_any().downcast::<TmpInode>().ok();
        if let Some(t) = t {
            *t.data.lock() = Data::Symlink(target.to_vec());
        }
        Ok(inode)
    }

    fn link(&self, _: &Caller, name: &[u8], target: &Arc<dyn Inode>) -> Result<(), Errno> {
        let fs = self.fs()?;
        let target = own(&fs, target).ok_or(Errno::EXDEV)?;
        if target.kind == FileType::Directory {
            return Err(Errno::EPERM);
        }
        let _tree = fs.tree.lock();
        if self.get(name)?.is_some() {
            return Err(Errno::EEXIST);
        }
        fs.add_name()?;
        if target.meta.lock().nlink == 0 {
            // Linux refuses to link an unlinked file (unless O_TMPFILE
            // without O_EXCL: linkat of an anonymous file).
            if !target.anonymous() {
                fs.drop_name();
                return Err(Errno::ENOENT);
            }
            target.set_anonymous(false);
        }
        target.inc_link(1);
        self.with_dir(|d| d.entries.insert(name.to_vec(), target))?;
        self.touch_dir();
        Ok(())
    }

    fn unlink(&self, _: &Caller, name: &[u8]) -> Result<(), Errno> {
        let fs = self.fs()?;
        let _tree = fs.tree.lock();
        let child = self.get(name)?.ok_or(Errno::ENOENT)?;
        if child.kind == FileType::Directory {
            return Err(Errno::EISDIR);
        }
        self.with_dir(|d| d.entries.remove(name))?;
        fs.drop_name();
        child.inc_link(-1);
        self.touch_dir();
        Ok(())
    }

    fn rmdir(&self, _: &Caller, name: &[u8]) -> Result<(), Errno> {
        let fs = self.fs()?;
        let _tree = fs.tree.lock();
        let child = self.get(name)?.ok_or(Errno::ENOENT)?;
        if child.kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        if !child.is_empty_dir() {
            return Err(Errno::ENOTEMPTY);
        }
        self.with_dir(|d| d.entries.remove(name))?;
        fs.drop_name();
        child.meta.lock().nlink = 0;
        self.inc_link(-1);
        self.touch_dir();
        Ok(())
    }

    fn rename(
        &self,
        _: &Caller,
        old: &[u8],
        new_dir: &Arc<dyn Inode>,
        new: &[u8],
        flags: u32,
    ) -> Result<(), Errno> {
        let fs = self.fs()?;
        let new_dir = own(&fs, new_dir).ok_or(Errno::EXDEV)?;
        let _tree = fs.tree.lock();
        let src = self.get(old)?.ok_or(Errno::ENOENT)?;
        let dst = new_dir.get(new)?;
        if new_dir.meta.lock().nlink == 0 {
            return Err(Errno::ENOENT);
        }
        let exchange = flags & RENAME_EXCHANGE != 0;
        if exchange && dst.is_none() {
            return Err(Errno::ENOENT);
        }
        if flags & RENAME_NOREPLACE != 0 && dst.is_some() {
            return Err(Errno::EEXIST);
        }
        // A directory cannot move into itself or below itself.
        let below = |dir: &Arc<TmpInode>, moved: &Arc<TmpInode>| {
            let mut cur = Some(Arc::clone(dir));
            while let Some(c) = cur {
                if Arc::ptr_eq(&c, moved) {
                    return true;
                }
                let up = match &*c.data.lock() {
                    Data::Dir(d) => d.parent.upgrade(),
                    _ => None,
                };
                cur = up.filter(|u| !Arc::ptr_eq(u, &c));
            }
            false
        };
        if src.kind == FileType::Directory && below(&new_dir, &src) {
            return Err(Errno::EINVAL);
        }
        if let Some(d) = &dst {
            if Arc::ptr_eq(d, &src) {
                // The same inode under both names: nothing happens.
                return Ok(());
            }
            if exchange {
                if d.kind == FileType::Directory && below(&self.self_arc()?, d) {
                    return Err(Errno::EINVAL);
                }
            } else {
                match (
                    src.kind == FileType::Directory,
                    d.kind == FileType::Directory,
                ) {
                    (true, false) => return Err(Errno::ENOTDIR),
                    (false, true) => return Err(Errno::EISDIR),
                    (true, true) if !d.is_empty_dir() => return Err(Errno::ENOTEMPTY),
                    _ => {}
                }
            }
        }
        let me = self.self_arc()?;
        let same_dir = Arc::ptr_eq(&me, &new_dir);
        if exchange {
            let d = dst.expect("checked above");
            self.with_dir(|m| m.entries.insert(old.to_vec(), Arc::clone(&d)))?;
            new_dir.with_dir(|m| m.entries.insert(new.to_vec(), Arc::clone(&src)))?;
            if !same_dir {
                for (moved, to, from) in [(&src, &new_dir, &me), (&d, &me, &new_dir)] {
                    if moved.kind == FileType::Directory {
                        if let Data::Dir(dd) = &mut *moved.data.lock() {
                            dd.parent = Arc::downgrade(to);
                        }
                        to.inc_link(1);
                        from.inc_link(-1);
                    }
                }
            }
        } else {
            self.with_dir(|m| m.entries.remove(old))?;
            let replaced =
                new_dir.with_dir(|m| m.entries.insert(new.to_vec(), Arc::clone(&src)))?;
            if let Some(r) = replaced {
                fs.drop_name();
                if r.kind == FileType::Directory {
                    r.meta.lock().nlink = 0;
                    new_dir.inc_link(-1);
                } else {
                    r.inc_link(-1);
                }
            }
            if src.kind == FileType::Directory && !same_dir {
                if let Data::Dir(dd) = &mut *src.data.lock() {
                    dd.parent = Arc::downgrade(&new_dir);
                }
                new_dir.inc_link(1);
                me.inc_link(-1);
            }
        }
        src.meta.lock().ctime = now();
        self.touch_dir();
        new_dir.touch_dir();
        Ok(())
    }

    fn readlink(&self, _: &Caller) -> Result<Vec<u8>, Errno> {
        match &*self.data.lock() {
            Data::Symlink(t) => Ok(t.clone()),
            _ => Err(Errno::EINVAL),
        }
    }

    fn setattr(&self, _: &Caller, attr: &SetAttr) -> Result<(), Errno> {
        if let Some(size) = attr.size {
            let seals = self.seals();
            match &mut *self.data.lock() {
                Data::File(f) => {
                    super::memfd::check_resize(seals, f.size(), size)?;
                    if size > MAX_FILE {
                        return Err(Errno::EFBIG);
                    }
                    f.truncate(size);
                }
                Data::Dir(_) => return Err(Errno::EISDIR),
                _ => return Err(Errno::EINVAL),
            }
        }
        let t = now();
        let mut m = self.meta.lock();
        // F_SEAL_EXEC: the execute bits stay as they are (shmem_setattr).
        if let Some(mode) = attr.mode
            && self.seals() & super::memfd::F_SEAL_EXEC != 0
            && (m.mode ^ mode) & 0o111 != 0
        {
            return Err(Errno::EPERM);
        }
        if let Some(mode) = attr.mode {
            m.mode = (m.mode & 0o170000) | (mode & 0o7777);
        }
        if let Some(uid) = attr.uid {
            m.uid = uid;
        }
        if let Some(gid) = attr.gid {
            m.gid = gid;
        }
        if let Some(a) = attr.atime {
            m.atime = set_time(a);
        }
        if let Some(mt) = attr.mtime {
            m.mtime = set_time(mt);
        }
        if attr.size.is_some() && attr.mtime.is_none() {
            m.mtime = t;
        }
        m.ctime = t;
        Ok(())
    }

    fn open(&self, _: &Caller, _flags: u32) -> Result<Box<dyn FileOps>, Errno> {
        match self.kind {
            FileType::Regular => Ok(Box::new(TmpFile {
                inode: self.self_arc()?,
                pos: Mutex::new(0),
            })),
            // Device nodes made by the guest are inert, as on a nodev mount.
            FileType::CharDevice | FileType::BlockDevice => Err(Errno::EACCES),
            FileType::Socket => Err(Errno::ENXIO),
            _ => Err(Errno::EINVAL),
        }
    }

    fn allocate(&self, mode: u32, offset: u64, len: u64) -> Result<(), Errno> {
        const KEEP_SIZE: u32 = 1;
        const PUNCH_HOLE: u32 = 2;
        let end = offset.checked_add(len).ok_or(Errno::EFBIG)?;
        if end > MAX_FILE {
            return Err(Errno::EFBIG);
        }
        let seals = self.seals();
        let mut data = self.data.lock();
        let Data::File(f) = &mut *data else {
            return Err(Errno::ENODEV);
        };
        super::memfd::check_allocate(seals, f.size(), mode & PUNCH_HOLE != 0, end)?;
        if mode & PUNCH_HOLE != 0 {
            f.zero_range(offset, end.min(f.size()));
        } else {
            f.allocate(offset, end)?;
            if mode & KEEP_SIZE == 0 && end > f.size() {
                f.store.set_size(end);
            }
        }
        drop(data);
        let t = now();
        let mut m = self.meta.lock();
        m.mtime = t;
        m.ctime = t;
        Ok(())
    }

    fn forbid_link(&self) {
        self.set_anonymous(false);
    }

    fn location(&self) -> Option<(Arc<dyn Inode>, Vec<u8>)> {
        let parent = match &*self.data.lock() {
            Data::Dir(d) => d.parent.upgrade()?,
            _ => return None,
        };
        if std::ptr::eq(Arc::as_ptr(&parent), self) {
            return None;
        }
        let name = match &*parent.data.lock() {
            Data::Dir(d) => d
                .entries
                .iter()
                .find(|(_, i)| std::ptr::eq(Arc::as_ptr(i), self))
                .map(|(n, _)| n.clone())?,
            _ => return None,
        };
        Some((parent as Arc<dyn Inode>, name))
    }

    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

impl TmpInode {
    /// The `Arc` this inode lives in.
    fn self_arc(&self) -> Result<Arc<TmpInode>, Errno> {
        self.me.upgrade().ok_or(Errno::ENOENT)
    }

    /// The file seals (`F_SEAL_*`).
    pub fn seals(&self) -> u32 {
        self.seals.load(Ordering::SeqCst)
    }

    /// Replaces the file seals (the caller checked the rules).
    pub fn set_seals(&self, seals: u32) {
        self.seals.store(seals, Ordering::SeqCst);
    }

    /// The frames of a regular file's data (what a mapping of it maps).
    pub fn store(&self) -> Option<Arc<SharedMemory>> {
        match &*self.data.lock() {
            Data::File(f) => Some(Arc::clone(&f.store)),
            _ => None,
        }
    }

    /// The inode number.
    pub fn ino(&self) -> u64 {
        self.ino
    }

    fn anonymous(&self) -> bool {
        self.anonymous.load(Ordering::Relaxed)
    }

    fn set_anonymous(&self, on: bool) {
        self.anonymous.store(on, Ordering::Relaxed);
    }
}

/// An open regular file of a tmpfs.
pub struct TmpFile {
    inode: Arc<TmpInode>,
    pos: Mutex<u64>,
}

impl FileOps for TmpFile {
    fn read(&self, buf: &mut [u8], _: bool, _: &dyn Blocker) -> Result<usize, Errno> {
        let mut pos = self.pos.lock();
        let n = self.inode.read_at(buf, *pos)?;
        *pos += n as u64;
        Ok(n)
    }

    fn write(&self, buf: &[u8], _: bool, _: &dyn Blocker) -> Result<usize, Errno> {
        let mut pos = self.pos.lock();
        let (n, end) = self.inode.write_at(buf, *pos, false)?;
        *pos = end;
        Ok(n)
    }

    fn append(&self, buf: &[u8], _: bool, _: &dyn Blocker) -> Result<usize, Errno> {
        let mut pos = self.pos.lock();
        let (n, end) = self.inode.write_at(buf, 0, true)?;
        *pos = end;
        Ok(n)
    }

    fn pwrite(&self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        Ok(self.inode.write_at(buf, offset, false)?.0)
    }

    fn pread(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        self.inode.read_at(buf, offset)
    }

    fn poll(&self) -> u16 {
        poll::POLLIN | poll::POLLOUT
    }

    fn stat(&self) -> Stat {
        self.inode.stat()
    }

    fn seek(&self, offset: i64, whence: u32) -> Result<u64, Errno> {
        let mut pos = self.pos.lock();
        let size = self.inode.size() as i64;
        let new = match whence {
            0 => offset,
            1 => (*pos as i64).checked_add(offset).ok_or(Errno::EOVERFLOW)?,
            2 => size.checked_add(offset).ok_or(Errno::EOVERFLOW)?,
            3 | 4 => {
                if offset < 0 || offset >= size {
                    return Err(Errno::ENXIO);
                }
                // SEEK_DATA / SEEK_HOLE by pages.
                let want_data = whence == 3;
                let mut at = offset;
                loop {
                    if at >= size {
                        break if want_data {
                            return Err(Errno::ENXIO);
                        } else {
                            size
                        };
                    }
                    let page = at as u64 / PAGE as u64;
                    if self.inode.has_page(page) == want_data {
                        break at;
                    }
                    at = ((page + 1) * PAGE as u64) as i64;
                }
            }
            _ => return Err(Errno::EINVAL),
        };
        if new < 0 {
            return Err(Errno::EINVAL);
        }
        *pos = new as u64;
        Ok(*pos)
    }

    fn describe(&self) -> String {
        format!("tmpfs inode {}", self.inode.ino)
    }

    fn tmpfs_inode(&self) -> Option<Arc<TmpInode>> {
        Some(Arc::clone(&self.inode))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::vfs::{RENAME_EXCHANGE, RENAME_NOREPLACE};

    const C: Caller<'static> = Caller::NONE;

    fn file(dir: &Arc<dyn Inode>, name: &[u8]) -> Arc<dyn Inode> {
        dir.create(&C, name, FileType::Regular, 0o644, 0).unwrap()
    }

    fn write(i: &Arc<dyn Inode>, data: &[u8], at: u64) -> Result<usize, Errno> {
        i.open(&C, 2)?.pwrite(data, at)
    }

    fn read(i: &Arc<dyn Inode>, at: u64, n: usize) -> Vec<u8> {
        let mut buf = vec![0u8; n];
        let k = i.open(&C, 0).unwrap().pread(&mut buf, at).unwrap();
        buf.truncate(k);
        buf
    }

    #[test]
    fn file_pages_are_charged_and_given_back() {
        let charge = CountedCharge::new(4);
        let fs = TmpFs::new("tmpfs", 0o1777, charge.clone());
        let root: Arc<dyn Inode> = fs.root_inode();
        let f = file(&root, b"f");
        assert_eq!(write(&f, b"hello", 0), Ok(5));
        assert_eq!(charge.used_pages(), 1);
        // A hole costs nothing and reads as zeros.
        assert_eq!(write(&f, b"!", 3 * PAGE as u64), Ok(1));
        assert_eq!(charge.used_pages(), 2);
        assert_eq!(f.stat().size, 3 * PAGE as i64 + 1);
        assert_eq!(read(&f, PAGE as u64, 4), vec![0; 4]);
        assert_eq!(read(&f, 0, 5), b"hello");
        // Past the cap: a short write, then ENOSPC.
        let big = vec![7u8; 4 * PAGE];
        assert_eq!(write(&f, &big, 4 * PAGE as u64), Ok(2 * PAGE));
        assert_eq!(write(&f, &big, 8 * PAGE as u64), Err(Errno::ENOSPC));
        // Truncate frees the pages past the end and zeroes the tail.
        f.setattr(
            &C,
            &SetAttr {
                size: Some(2),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(charge.used_pages(), 1);
        f.setattr(
            &C,
            &SetAttr {
                size: Some(5),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(read(&f, 0, 10), b"he\0\0\0");
        // Unlinking the last name of a closed file frees it.
        root.unlink(&C, b"f").unwrap();
        drop(f);
        assert_eq!(charge.used_pages(), 0);
    }

    #[test]
    fn links_count_and_directories_nest() {
        let fs = TmpFs::new("tmpfs", 0o755, CountedCharge::new(64));
        let root: Arc<dyn Inode> = fs.root_inode();
        let f = file(&root, b"f");
        root.link(&C, b"g", &f).unwrap();
        assert_eq!(f.stat().nlink, 2);
        assert_eq!(root.link(&C, b"g", &f), Err(Errno::EEXIST));
        let d = root
            .create(&C, b"d", FileType::Directory, 0o755, 0)
            .unwrap();
        assert_eq!(root.stat().nlink, 3);
        assert_eq!(d.stat().nlink, 2);
        assert_eq!(root.link(&C, b"d2", &d), Err(Errno::EPERM));
        assert_eq!(root.unlink(&C, b"d"), Err(Errno::EISDIR));
        assert_eq!(root.rmdir(&C, b"f"), Err(Errno::ENOTDIR));
        file(&d, b"x");
        assert_eq!(root.rmdir(&C, b"d"), Err(Errno::ENOTEMPTY));
        root.unlink(&C, b"f").unwrap();
        assert_eq!(f.stat().nlink, 1);
        assert_eq!(
            f.create(&C, b"x", FileType::Regular, 0, 0).err(),
            Some(Errno::ENOTDIR)
        );
        let names: Vec<_> = root
            .readdir(&C)
            .unwrap()
            .into_iter()
            .map(|e| e.name)
            .collect();
        assert_eq!(names, vec![b"d".to_vec(), b"g".to_vec()]);
    }

    #[test]
    fn rename_follows_linux_rules() {
        let fs = TmpFs::new("tmpfs", 0o755, CountedCharge::new(64));
        let root: Arc<dyn Inode> = fs.root_inode();
        let d = root
            .create(&C, b"d", FileType::Directory, 0o755, 0)
            .unwrap();
        let e = root
            .create(&C, b"e", FileType::Directory, 0o755, 0)
            .unwrap();
        let sub = d.create(&C, b"sub", FileType::Directory, 0o755, 0).unwrap();
        let f = file(&root, b"f");
        file(&e, b"inside");
        assert_eq!(root.rename(&C, b"d", &sub, b"x", 0), Err(Errno::EINVAL));
        assert_eq!(root.rename(&C, b"d", &root, b"f", 0), Err(Errno::ENOTDIR));
        assert_eq!(root.rename(&C, b"f", &root, b"d", 0), Err(Errno::EISDIR));
        assert_eq!(root.rename(&C, b"d", &root, b"e", 0), Err(Errno::ENOTEMPTY));
        assert_eq!(
            root.rename(&C, b"f", &root, b"e", RENAME_NOREPLACE),
            Err(Errno::EEXIST)
        );
        assert_eq!(
            root.rename(&C, b"f", &root, b"zz", RENAME_EXCHANGE),
            Err(Errno::ENOENT)
        );
        // A directory moving to another parent moves its `..` link.
        root.rename(&C, b"d", &e, b"d", 0).unwrap();
        assert_eq!(root.stat().nlink, 3);
        assert_eq!(e.stat().nlink, 3);
        // Exchange swaps the two entries.
        root.rename(&C, b"f", &root, b"e", RENAME_EXCHANGE).unwrap();
        assert_eq!(root.lookup(&C, b"e").unwrap().ino(), f.ino());
        // Replacing a file drops the old one's link.
        let g = file(&root, b"g");
        root.rename(&C, b"e", &root, b"g", 0).unwrap();
        assert_eq!(g.stat().nlink, 0);
        assert_eq!(root.lookup(&C, b"e").err(), Some(Errno::ENOENT));
    }

    /// Names and inodes are bounded (Linux's nr_inodes), so files the guest
    /// makes cannot grow the sentry's heap without limit; removing names
    /// gives the room back.
    #[test]
    fn names_are_bounded() {
        let fs = TmpFs::new("tmpfs", 0o755, CountedCharge::new(1024));
        let root: Arc<dyn Inode> = fs.root_inode();
        let f = file(&root, b"f");
        for i in 1..1024 {
            root.link(&C, format!("l{i}").as_bytes(), &f).unwrap();
        }
        assert_eq!(root.link(&C, b"more", &f), Err(Errno::ENOSPC));
        assert_eq!(
            root.create(&C, b"new", FileType::Regular, 0o644, 0).err(),
            Some(Errno::ENOSPC)
        );
        root.unlink(&C, b"l1").unwrap();
        assert!(root.create(&C, b"new", FileType::Regular, 0o644, 0).is_ok());
    }

    #[test]
    fn tmpfile_and_fallocate() {
        let charge = CountedCharge::new(64);
        let fs = TmpFs::new("tmpfs", 0o755, charge.clone());
        let root: Arc<dyn Inode> = fs.root_inode();
        let t = root.tmpfile(&C, 0o600).unwrap();
        assert_eq!(t.stat().nlink, 0);
        root.link(&C, b"named", &t).unwrap();
        assert_eq!(t.stat().nlink, 1);
        t.allocate(0, 0, 3 * PAGE as u64).unwrap();
        assert_eq!(charge.used_pages(), 3);
        assert_eq!(t.stat().size, 3 * PAGE as i64);
        t.allocate(2 | 1, 0, PAGE as u64).unwrap();
        assert_eq!(charge.used_pages(), 2);
        assert_eq!(t.stat().size, 3 * PAGE as i64);
    }
}

//! The writable root: an overlay of a read-only lower tree (the `--root`
//! host directory) and an upper [`TmpFs`] in the sentry's memory, in the
//! manner of Linux's overlayfs. Nothing is ever written to the lower tree.
//!
//! * A name is looked up in the upper directory first; a *whiteout*
//!   (recorded in the overlay's tables, by upper directory and name) hides
//!   the lower one; else the lower directory answers.
//! * The first change to a lower object (a write, chmod, chown, utimens,
//!   truncate, a new link or a rename) *copies it up*: its directories
//!   first, then the object (a regular file's data, a link's target, a
//!   node), keeping mode, owner, times and inode number.
//! * A copied-up directory keeps its lower directory (recorded by upper
//!   inode: the "redirect"), so its lower entries stay visible after it is
//!   renamed: renaming a directory works across layers, with no EXDEV and
//!   no recursive copy. A directory made where a whiteout was has no lower
//!   part (it is *opaque*).
//! * Removing a name that the lower directory has leaves a whiteout;
//!   getdents64 lists the upper entries, then the lower ones not shadowed
//!   or whited out, each name once.
//! * Inode numbers are stable: an object with a lower part keeps the lower
//!   inode number (also after copy-up); an upper-only one gets the upper's,
//!   offset into a separate range. One overlay inode object stands for each
//!   object while anyone holds it, so copy-up is seen by every holder.
//!
//! # Lock order
//!
//! `OverlayFs::ns` (every change: creations, removals, renames, copy-up)
//! → `OverlayFs::tables` → an inode's `state` → the layers' own locks.

use std::any::Any;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::tmpfs::TmpFs;
use super::vfs::{
    Caller, DirEntry, FileType, Filesystem, Inode, RENAME_EXCHANGE, RENAME_NOREPLACE, SetAttr,
    StatFs, TimeSet, new_anon_dev,
};
use super::{FileOps, Stat};
use crate::errno::Errno;

/// Upper-only inode numbers start here (lower ones are the host's).
const UPPER_INO_BASE: u64 = 1 << 48;
/// OVERLAYFS_SUPER_MAGIC.
const OVERLAY_MAGIC: i64 = 0x794c_7630;

/// An overlay inode's identity in the cache.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
enum Key {
    /// An object with a lower part: the lower (device, inode).
    Lower(u64, u64),
    /// An upper-only object: the upper inode.
    Upper(u64),
}

#[derive(Default)]
struct Tables {
    /// (upper directory inode, name) hidden from the lower directory.
    whiteouts: HashSet<(u64, Vec<u8>)>,
    /// Upper directory inode → the lower directory it was copied up from.
    lower_of: HashMap<u64, Arc<dyn Inode>>,
    /// Upper inode → the key (and inode number) it had before copy-up.
    origin: HashMap<u64, Key>,
    /// Live overlay inodes by key.
    live: HashMap<Key, Weak<OvInode>>,
    /// Names of a lower inode removed (whited out) while it has no upper
    /// copy: its link count shows that many fewer.
    unlinked: HashMap<Key, u64>,
}

/// The overlay filesystem.
pub struct OverlayFs {
    dev: u64,
    upper: Arc<TmpFs>,
    /// Serializes every change to the namespace and every copy-up.
    ns: Mutex<()>,
    tables: Mutex<Tables>,
    root: Mutex<Option<Arc<OvInode>>>,
}

struct State {
    upper: Option<Arc<dyn Inode>>,
    lower: Option<Arc<dyn Inode>>,
    /// The directory it was found in (None for the root) and its name.
    parent: Option<Arc<OvInode>>,
    name: Vec<u8>,
}

/// An overlay inode.
pub struct OvInode {
    fs: Weak<OverlayFs>,
    me: Weak<OvInode>,
    kind: FileType,
    key: Key,
    state: Mutex<State>,
}

impl Drop for OvInode {
    /// Drops the chain of parents iteratively (it is as deep as the tree
    /// the guest made).
    fn drop(&mut self) {
        let mut next = self.state.get_mut().parent.take();
        while let Some(p) = next {
            next = match Arc::try_unwrap(p) {
                Ok(mut i) => i.state.get_mut().parent.take(),
                Err(_) => None,
            };
        }
    }
}

fn lower_key(l: &Arc<dyn Inode>) -> Key {
    let st = l.stat();
    Key::Lower(st.dev, st.ino)
}

impl OverlayFs {
    /// An overlay of `lower` (a directory, read-only) under a fresh upper
    /// tmpfs `upper`.
    pub fn new(lower: Arc<dyn Inode>, upper: Arc<TmpFs>) -> Arc<Self> {
        let fs = Arc::new(Self {
            dev: new_anon_dev(),
            upper,
            ns: Mutex::new(()),
            tables: Mutex::new(Tables::default()),
            root: Mutex::new(None),
        });
        let up: Arc<dyn Inode> = fs.upper.root_inode();
        // The root's upper directory takes the lower root's attributes.
        let st = lower.stat();
        let _ = up.setattr(
            &Caller::NONE,
            &SetAttr {
                mode: Some(st.mode & 0o7777),
                uid: Some(st.uid),
                gid: Some(st.gid),
                atime: Some(TimeSet::At(st.times[0].0, st.times[0].1)),
                mtime: Some(TimeSet::At(st.times[1].0, st.times[1].1)),
                ..Default::default()
            },
        );
        let key = lower_key(&lower);
        {
            let mut t = fs.tables.lock();
            t.lower_of.insert(up.ino(), Arc::clone(&lower));
            t.origin.insert(up.ino(), key);
        }
        let root = fs.make(
            key,
            FileType::Directory,
            Some(up),
            Some(lower),
            None,
            Vec::new(),
        );
        *fs.root.lock() = Some(root);
        fs
    }

    /// The overlay inode for `key`, made if nobody holds one.
    fn make(
        self: &Arc<Self>,
        key: Key,
        kind: FileType,
        upper: Option<Arc<dyn Inode>>,
        lower: Option<Arc<dyn Inode>>,
        parent: Option<Arc<OvInode>>,
        name: Vec<u8>,
    ) -> Arc<OvInode> {
        let mut t = self.tables.lock();
        if let Some(i) = t.live.get(&key).and_then(Weak::upgrade)
            && i.kind == kind
        {
            return i;
        }
        if t.live.len() > 4096 && t.live.len().is_power_of_two() {
            t.live.retain(|_, w| w.strong_count() > 0);
        }
        let i = Arc::new_cyclic(|me| OvInode {
            fs: Arc::downgrade(self),
            me: Weak::clone(me),
            kind,
            key,
            state: Mutex::new(State {
                upper,
                lower,
                parent,
                name,
            }),
        });
        t.live.insert(key, Arc::downgrade(&i));
        i
    }

    fn whited_out(&self, upper_dir: &Arc<dyn Inode>, name: &[u8]) -> bool {
        self.tables
            .lock()
            .whiteouts
            .contains(&(upper_dir.ino(), name.to_vec()))
    }
}

impl Filesystem for OverlayFs {
    fn name(&self) -> &str {
        "overlay"
    }

    fn root(&self) -> Arc<dyn Inode> {
        Arc::clone(self.root.lock().as_ref().expect("made in new")) as Arc<dyn Inode>
    }

    fn statfs(&self) -> StatFs {
        let mut s = self.upper.statfs();
        s.fs_type = OVERLAY_MAGIC;
        s
    }
}

impl OvInode {
    fn fs(&self) -> Result<Arc<OverlayFs>, Errno> {
        self.fs.upgrade().ok_or(Errno::ENOENT)
    }

    fn me(&self) -> Arc<OvInode> {
        self.me.upgrade().expect("a live inode")
    }

    fn upper(&self) -> Option<Arc<dyn Inode>> {
        self.state.lock().upper.clone()
    }

    fn lower(&self) -> Option<Arc<dyn Inode>> {
        self.state.lock().lower.clone()
    }

    /// The layer that shows it: the upper if there is one.
    fn top(&self) -> Arc<dyn Inode> {
        let s = self.state.lock();
        s.upper
            .clone()
            .or_else(|| s.lower.clone())
            .expect("an overlay inode has a layer")
    }

    /// The child `name` in the merged view (`fs.ns` may or may not be held).
    fn find(&self, fs: &Arc<OverlayFs>, c: &Caller, name: &[u8]) -> Result<Arc<OvInode>, Errno> {
        if self.kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        let (upper, lower) = {
            let s = self.state.lock();
            (s.upper.clone(), s.lower.clone())
        };
        if let Some(u) = &upper {
            match u.lookup(c, name) {
                Ok(child) => {
                    let (key, lower) = {
                        let t = fs.tables.lock();
                        let key = t
                            .origin
                            .get(&child.ino())
                            .copied()
                            .unwrap_or(Key::Upper(child.ino()));
                        (key, t.lower_of.get(&child.ino()).cloned())
                    };
                    return Ok(fs.make(
                        key,
                        child.kind(),
                        Some(child),
                        lower,
                        Some(self.me()),
                        name.to_vec(),
                    ));
                }
                Err(Errno::ENOENT) => {}
                Err(e) => return Err(e),
            }
            if fs.whited_out(u, name) {
                return Err(Errno::ENOENT);
            }
        }
        let Some(l) = lower else {
            return Err(Errno::ENOENT);
        };
        let child = l.lookup(c, name)?;
        let key = lower_key(&child);
        Ok(fs.make(
            key,
            child.kind(),
            None,
            Some(child),
            Some(self.me()),
            name.to_vec(),
        ))
    }

    /// Copies this object up (its directories first); `fs.ns` is held.
    fn copy_up(&self, fs: &Arc<OverlayFs>, c: &Caller) -> Result<Arc<dyn Inode>, Errno> {
        if let Some(u) = self.upper() {
            return Ok(u);
        }
        let (parent, name, lower) = {
            let s = self.state.lock();
            (
                // Removed (whited out) while someone held it.
                s.parent.clone().ok_or(Errno::ENOENT)?,
                s.name.clone(),
                s.lower.clone().ok_or(Errno::EIO)?,
            )
        };
        let pu = parent.copy_up(fs, c)?;
        // Someone else's copy (an earlier holder of this object's name).
        if let Ok(existing) = pu.lookup(c, &name) {
            let same = fs.tables.lock().origin.get(&existing.ino()) == Some(&self.key);
            if same {
                self.state.lock().upper = Some(Arc::clone(&existing));
                return Ok(existing);
            }
            return Err(Errno::ESTALE);
        }
        let st = lower.stat();
        let up = match self.kind {
            FileType::Symlink => pu.symlink(c, &name, &lower.readlink(c)?)?,
            FileType::Regular => {
                let up = pu.create(c, &name, FileType::Regular, st.mode & 0o7777, 0)?;
                if let Err(e) = copy_data(&lower, &up, st.size as u64) {
                    let _ = pu.unlink(c, &name);
                    return Err(e);
                }
                up
            }
            kind => pu.create(c, &name, kind, st.mode & 0o7777, st.rdev)?,
        };
        let _ = up.setattr(
            c,
            &SetAttr {
                mode: Some(st.mode & 0o7777),
                uid: Some(st.uid),
                gid: Some(st.gid),
                atime: Some(TimeSet::At(st.times[0].0, st.times[0].1)),
                mtime: Some(TimeSet::At(st.times[1].0, st.times[1].1)),
                ..Default::default()
            },
        );
        {
            let mut t = fs.tables.lock();
            t.origin.insert(up.ino(), self.key);
            if self.kind == FileType::Directory {
                t.lower_of.insert(up.ino(), Arc::clone(&lower));
            }
        }
        self.state.lock().upper = Some(Arc::clone(&up));
        Ok(up)
    }

    /// Whether the lower directory of this directory has `name` (so its
    /// removal needs a whiteout).
    fn lower_has(&self, c: &Caller, name: &[u8]) -> bool {
        self.lower().is_some_and(|l| l.lookup(c, name).is_ok())
    }

    /// The merged entries of a directory.
    fn merged(&self, fs: &Arc<OverlayFs>, c: &Caller) -> Result<Vec<DirEntry>, Errno> {
        if self.kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        let (upper, lower) = {
            let s = self.state.lock();
            (s.upper.clone(), s.lower.clone())
        };
        let mut out = Vec::new();
        let mut seen = HashSet::new();
        if let Some(u) = &upper {
            let t = fs.tables.lock();
            for mut e in u.readdir(c)? {
                e.ino = match t.origin.get(&e.ino) {
                    Some(Key::Lower(_, ino)) => *ino,
                    _ => e.ino + UPPER_INO_BASE,
                };
                seen.insert(e.name.clone());
                out.push(e);
            }
        }
        if let Some(l) = &lower {
            let hidden: HashSet<Vec<u8>> = match &upper {
                Some(u) => {
                    let t = fs.tables.lock();
                    t.whiteouts
                        .iter()
                        .filter(|(d, _)| *d == u.ino())
                        .map(|(_, n)| n.clone())
                        .collect()
                }
                None => HashSet::new(),
            };
            for e in l.readdir(c)? {
                if !seen.contains(&e.name) && !hidden.contains(&e.name) {
                    out.push(e);
                }
            }
        }
        Ok(out)
    }

    /// Removes `name` (a directory when `dir`), leaving a whiteout when
    /// the lower directory has it.
    fn remove(&self, c: &Caller, name: &[u8], dir: bool) -> Result<(), Errno> {
        let fs = self.fs()?;
        let _ns = fs.ns.lock();
        let child = self.find(&fs, c, name)?;
        match (dir, child.kind == FileType::Directory) {
            (false, true) => return Err(Errno::EISDIR),
            (true, false) => return Err(Errno::ENOTDIR),
            (true, true) if !child.merged(&fs, c)?.is_empty() => return Err(Errno::ENOTEMPTY),
            _ => {}
        }
        let pu = self.copy_up(&fs, c)?;
        if child.upper().is_some() {
            if dir {
                pu.rmdir(c, name)?;
            } else {
                pu.unlink(c, name)?;
            }
        }
        if self.lower_has(c, name) {
            let mut t = fs.tables.lock();
            t.whiteouts.insert((pu.ino(), name.to_vec()));
            if child.upper().is_none() {
                *t.unlinked.entry(child.key).or_default() += 1;
            }
        }
        // Whoever holds it sees a removed object.
        child.state.lock().parent = None;
        Ok(())
    }

    /// Prepares `name` in this directory for a new entry: the directory
    /// copied up, EEXIST if the merged view has it, any whiteout dropped.
    fn prepare_new(
        &self,
        fs: &Arc<OverlayFs>,
        c: &Caller,
        name: &[u8],
    ) -> Result<Arc<dyn Inode>, Errno> {
        match self.find(fs, c, name) {
            Ok(_) => return Err(Errno::EEXIST),
            Err(Errno::ENOENT) => {}
            Err(e) => return Err(e),
        }
        let pu = self.copy_up(fs, c)?;
        fs.tables
            .lock()
            .whiteouts
            .remove(&(pu.ino(), name.to_vec()));
        Ok(pu)
    }

    fn adopt(&self, fs: &Arc<OverlayFs>, up: Arc<dyn Inode>, name: &[u8]) -> Arc<dyn Inode> {
        fs.make(
            Key::Upper(up.ino()),
            up.kind(),
            Some(up),
            None,
            Some(self.me()),
            name.to_vec(),
        )
    }
}

/// Copies a lower regular file's data into its new upper copy.
fn copy_data(lower: &Arc<dyn Inode>, upper: &Arc<dyn Inode>, size: u64) -> Result<(), Errno> {
    if size == 0 {
        return Ok(());
    }
    let src = lower.open(&Caller::NONE, 0)?;
    let dst = upper.open(&Caller::NONE, 2)?;
    let mut buf = vec![0u8; 1 << 16];
    let mut at = 0u64;
    loop {
        let n = src.pread(&mut buf, at)?;
        if n == 0 {
            break;
        }
        // Pages of zeros stay holes.
        let mut off = 0;
        while off < n {
            let k = (n - off).min(4096);
            let chunk = &buf[off..off + k];
            if chunk.iter().any(|b| *b != 0) {
                let w = dst.pwrite(chunk, at + off as u64)?;
                if w < k {
                    return Err(Errno::ENOSPC);
                }
            }
            off += k;
        }
        at += n as u64;
    }
    // The size, also when the file ends in a hole.
    upper.setattr(
        &Caller::NONE,
        &SetAttr {
            size: Some(at),
            ..Default::default()
        },
    )
}

impl Inode for OvInode {
    fn ino(&self) -> u64 {
        match self.key {
            Key::Lower(_, ino) => ino,
            Key::Upper(ino) => ino + UPPER_INO_BASE,
        }
    }

    fn kind(&self) -> FileType {
        self.kind
    }

    fn stat(&self) -> Stat {
        let mut st = self.top().stat();
        st.ino = self.ino();
        if let Some(fs) = self.fs.upgrade() {
            st.dev = fs.dev;
            if self.upper().is_none() && self.kind != FileType::Directory {
                let gone = fs.tables.lock().unlinked.get(&self.key).copied();
                st.nlink = st.nlink.saturating_sub(gone.unwrap_or(0));
            }
        }
        st
    }

    fn lookup(&self, c: &Caller, name: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        let fs = self.fs()?;
        Ok(self.find(&fs, c, name)?)
    }

    fn readdir(&self, c: &Caller) -> Result<Vec<DirEntry>, Errno> {
        let fs = self.fs()?;
        self.merged(&fs, c)
    }

    fn create(
        &self,
        c: &Caller,
        name: &[u8],
        kind: FileType,
        mode: u32,
        rdev: u64,
    ) -> Result<Arc<dyn Inode>, Errno> {
        if self.kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        let fs = self.fs()?;
        let _ns = fs.ns.lock();
        let pu = self.prepare_new(&fs, c, name)?;
        let up = pu.create(c, name, kind, mode, rdev)?;
        Ok(self.adopt(&fs, up, name))
    }

    fn tmpfile(&self, c: &Caller, mode: u32) -> Result<Arc<dyn Inode>, Errno> {
        if self.kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        let fs = self.fs()?;
        let _ns = fs.ns.lock();
        let pu = self.copy_up(&fs, c)?;
        let up = pu.tmpfile(c, mode)?;
        Ok(fs.make(
            Key::Upper(up.ino()),
            FileType::Regular,
            Some(up),
            None,
            None,
            Vec::new(),
        ))
    }

    fn symlink(&self, c: &Caller, name: &[u8], target: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        if self.kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        let fs = self.fs()?;
        let _ns = fs.ns.lock();
        let pu = self.prepare_new(&fs, c, name)?;
        let up = pu.symlink(c, name, target)?;
        Ok(self.adopt(&fs, up, name))
    }

    fn link(&self, c: &Caller, name: &[u8], target: &Arc<dyn Inode>) -> Result<(), Errno> {
        if self.kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        let fs = self.fs()?;
        let target = Arc::clone(target)
            .as_any()
            .downcast::<OvInode>()
            .map_err(|_| Errno::EXDEV)?;
        if target.kind == FileType::Directory {
            return Err(Errno::EPERM);
        }
        let _ns = fs.ns.lock();
        let pu = self.prepare_new(&fs, c, name)?;
        let tu = target.copy_up(&fs, c)?;
        pu.link(c, name, &tu)?;
        if target.state.lock().parent.is_none() && target.key == Key::Upper(tu.ino()) {
            // An O_TMPFILE file gets its first name.
            target.state.lock().parent = Some(self.me());
            target.state.lock().name = name.to_vec();
        }
        Ok(())
    }

    fn unlink(&self, c: &Caller, name: &[u8]) -> Result<(), Errno> {
        if self.kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        self.remove(c, name, false)
    }

    fn rmdir(&self, c: &Caller, name: &[u8]) -> Result<(), Errno> {
        if self.kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        self.remove(c, name, true)
    }

    fn rename(
        &self,
        c: &Caller,
        old: &[u8],
        new_dir: &Arc<dyn Inode>,
        new: &[u8],
        flags: u32,
    ) -> Result<(), Errno> {
        if self.kind != FileType::Directory {
            return Err(Errno::ENOTDIR);
        }
        let fs = self.fs()?;
        let new_dir = Arc::clone(new_dir)
            .as_any()
            .downcast::<OvInode>()
            .map_err(|_| Errno::EXDEV)?;
        let _ns = fs.ns.lock();
        let src = self.find(&fs, c, old)?;
        let dst = match new_dir.find(&fs, c, new) {
            Ok(d) => Some(d),
            Err(Errno::ENOENT) => None,
            Err(e) => return Err(e),
        };
        let exchange = flags & RENAME_EXCHANGE != 0;
        if exchange && dst.is_none() {
            return Err(Errno::ENOENT);
        }
        if flags & RENAME_NOREPLACE != 0 && dst.is_some() {
            return Err(Errno::EEXIST);
        }
        if let Some(d) = &dst {
            if Arc::ptr_eq(d, &src) {
                return Ok(());
            }
            if !exchange {
                match (
                    src.kind == FileType::Directory,
                    d.kind == FileType::Directory,
                ) {
                    (true, false) => return Err(Errno::ENOTDIR),
                    (false, true) => return Err(Errno::EISDIR),
                    (true, true) if !d.merged(&fs, c)?.is_empty() => {
                        return Err(Errno::ENOTEMPTY);
                    }
                    _ => {}
                }
            }
        }
        // A directory cannot move below itself.
        let below = |dir: &Arc<OvInode>, moved: &Arc<OvInode>| {
            let mut cur = Some(Arc::clone(dir));
            while let Some(x) = cur {
                if Arc::ptr_eq(&x, moved) {
                    return true;
                }
                cur = x.state.lock().parent.clone();
            }
            false
        };
        if src.kind == FileType::Directory && below(&new_dir, &src) {
            return Err(Errno::EINVAL);
        }
        if exchange
            && let Some(d) = &dst
            && d.kind == FileType::Directory
            && below(&self.me(), d)
        {
            return Err(Errno::EINVAL);
        }
        let pu_old = self.copy_up(&fs, c)?;
        let pu_new = new_dir.copy_up(&fs, c)?;
        src.copy_up(&fs, c)?;
        if exchange && let Some(d) = &dst {
            d.copy_up(&fs, c)?;
        }
        // A lower-only target needs nothing: the new upper entry shadows it.
        pu_old.rename(c, old, &(Arc::clone(&pu_new) as Arc<dyn Inode>), new, flags)?;
        {
            let mut t = fs.tables.lock();
            t.whiteouts.remove(&(pu_new.ino(), new.to_vec()));
        }
        if !exchange && self.lower_has(c, old) {
            fs.tables
                .lock()
                .whiteouts
                .insert((pu_old.ino(), old.to_vec()));
        }
        {
            let mut s = src.state.lock();
            s.parent = Some(Arc::clone(&new_dir));
            s.name = new.to_vec();
        }
        if let Some(d) = &dst {
            let mut s = d.state.lock();
            if exchange {
                s.parent = Some(self.me());
                s.name = old.to_vec();
            } else {
                s.parent = None;
            }
        }
        Ok(())
    }

    fn readlink(&self, c: &Caller) -> Result<Vec<u8>, Errno> {
        self.top().readlink(c)
    }

    fn setattr(&self, c: &Caller, attr: &SetAttr) -> Result<(), Errno> {
        let fs = self.fs()?;
        let up = {
            let _ns = fs.ns.lock();
            self.copy_up(&fs, c)?
        };
        up.setattr(c, attr)
    }

    fn open(&self, c: &Caller, flags: u32) -> Result<Box<dyn FileOps>, Errno> {
        const O_TRUNC: u32 = 0o1000;
        if flags & 3 != 0 || flags & O_TRUNC != 0 {
            let fs = self.fs()?;
            let up = {
                let _ns = fs.ns.lock();
                self.copy_up(&fs, c)?
            };
            return up.open(c, flags);
        }
        self.top().open(c, flags)
    }

    fn fifo_key(&self) -> Option<(u64, u64)> {
        let dev = self.fs.upgrade().map_or(0, |f| f.dev);
        (self.kind == FileType::Fifo).then_some((dev | (1 << 63), self.ino()))
    }

    fn allocate(&self, mode: u32, offset: u64, len: u64) -> Result<(), Errno> {
        let fs = self.fs()?;
        let up = {
            let _ns = fs.ns.lock();
            self.copy_up(&fs, &Caller::NONE)?
        };
        up.allocate(mode, offset, len)
    }

    fn forbid_link(&self) {
        if let Some(u) = self.upper() {
            u.forbid_link();
        }
    }

    fn location(&self) -> Option<(Arc<dyn Inode>, Vec<u8>)> {
        if self.kind != FileType::Directory {
            return None;
        }
        let s = self.state.lock();
        let parent = s.parent.clone()?;
        Some((parent as Arc<dyn Inode>, s.name.clone()))
    }

    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::tmpfs::CountedCharge;
    use crate::fs::vfs::{MountFlags, Resolve, Vfs};

    const C: Caller<'static> = Caller::NONE;

    /// A lower tree (itself a tmpfs, read-only by convention):
    /// /etc/passwd, /etc/motd, /usr/bin/tool, /usr/share/doc/readme,
    /// /link -> etc/passwd.
    fn lower() -> (Arc<TmpFs>, Arc<dyn Inode>) {
        let fs = TmpFs::new("lower", 0o755, CountedCharge::new(1024));
        let root: Arc<dyn Inode> = fs.root_inode();
        let etc = root
            .create(&C, b"etc", FileType::Directory, 0o755, 0)
            .unwrap();
        let p = etc
            .create(&C, b"passwd", FileType::Regular, 0o644, 0)
            .unwrap();
        p.open(&C, 2).unwrap().pwrite(b"root:x:0:0\n", 0).unwrap();
        etc.create(&C, b"motd", FileType::Regular, 0o644, 0)
            .unwrap();
        let usr = root
            .create(&C, b"usr", FileType::Directory, 0o755, 0)
            .unwrap();
        let bin = usr
            .create(&C, b"bin", FileType::Directory, 0o755, 0)
            .unwrap();
        bin.create(&C, b"tool", FileType::Regular, 0o755, 0)
            .unwrap();
        let share = usr
            .create(&C, b"share", FileType::Directory, 0o755, 0)
            .unwrap();
        let doc = share
            .create(&C, b"doc", FileType::Directory, 0o755, 0)
            .unwrap();
        doc.create(&C, b"readme", FileType::Regular, 0o644, 0)
            .unwrap();
        root.symlink(&C, b"link", b"etc/passwd").unwrap();
        (fs, root)
    }

    fn overlay() -> (Vfs, Arc<dyn Inode>, Arc<CountedCharge>) {
        let (_lfs, lroot) = lower();
        let charge = CountedCharge::new(1024);
        let upper = TmpFs::new("tmpfs", 0o755, charge.clone());
        let ov = OverlayFs::new(Arc::clone(&lroot), upper);
        (
            Vfs::new(ov, "overlay", MountFlags::default()),
            lroot,
            charge,
        )
    }

    fn get(vfs: &Vfs, p: &[u8]) -> Result<Arc<dyn Inode>, Errno> {
        let r = vfs.root();
        Ok(Arc::clone(
            vfs.lookup(&C, &r, &r, p, &Resolve::NOFOLLOW)?.inode(),
        ))
    }

    fn names(i: &Arc<dyn Inode>) -> Vec<String> {
        let mut v: Vec<_> = i
            .readdir(&C)
            .unwrap()
            .into_iter()
            .map(|e| String::from_utf8(e.name).unwrap())
            .collect();
        v.sort();
        v
    }

    fn read_all(i: &Arc<dyn Inode>) -> Vec<u8> {
        let mut buf = vec![0u8; 256];
        let n = i.open(&C, 0).unwrap().pread(&mut buf, 0).unwrap();
        buf.truncate(n);
        buf
    }

    #[test]
    fn copy_up_on_write_leaves_the_lower_alone() {
        let (vfs, lroot, _) = overlay();
        let passwd = get(&vfs, b"/etc/passwd").unwrap();
        let ino = passwd.ino();
        let f = passwd.open(&C, 2).unwrap();
        f.pwrite(b"ROOT", 0).unwrap();
        assert_eq!(read_all(&passwd), b"ROOT:x:0:0\n");
        // Seen by a fresh lookup, with the same inode number.
        let again = get(&vfs, b"/etc/passwd").unwrap();
        assert_eq!(read_all(&again), b"ROOT:x:0:0\n");
        assert_eq!(again.ino(), ino);
        // The lower file is untouched.
        let l = lroot
            .lookup(&C, b"etc")
            .unwrap()
            .lookup(&C, b"passwd")
            .unwrap();
        assert_eq!(read_all(&l), b"root:x:0:0\n");
        // chmod copies up a file never written.
        let motd = get(&vfs, b"/etc/motd").unwrap();
        motd.setattr(
            &C,
            &SetAttr {
                mode: Some(0o600),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(get(&vfs, b"/etc/motd").unwrap().stat().mode, 0o100600);
        let lm = lroot
            .lookup(&C, b"etc")
            .unwrap()
            .lookup(&C, b"motd")
            .unwrap();
        assert_eq!(lm.stat().mode, 0o100644);
        // The root directory shows the lower entries once.
        assert_eq!(names(&get(&vfs, b"/").unwrap()), ["etc", "link", "usr"]);
        assert_eq!(names(&get(&vfs, b"/etc").unwrap()), ["motd", "passwd"]);
    }

    #[test]
    fn whiteouts_hide_lower_names() {
        let (vfs, lroot, _) = overlay();
        let etc = get(&vfs, b"/etc").unwrap();
        etc.unlink(&C, b"passwd").unwrap();
        assert_eq!(get(&vfs, b"/etc/passwd").err(), Some(Errno::ENOENT));
        assert_eq!(names(&etc), ["motd"]);
        assert_eq!(etc.unlink(&C, b"passwd"), Err(Errno::ENOENT));
        // A new file where the whiteout was is a new, empty file.
        let n = etc
            .create(&C, b"passwd", FileType::Regular, 0o644, 0)
            .unwrap();
        assert_eq!(n.stat().size, 0);
        assert_eq!(names(&etc), ["motd", "passwd"]);
        // rmdir of a non-empty merged directory, then of an emptied one.
        let root = get(&vfs, b"/").unwrap();
        assert_eq!(root.rmdir(&C, b"usr"), Err(Errno::ENOTEMPTY));
        let doc = get(&vfs, b"/usr/share/doc").unwrap();
        doc.unlink(&C, b"readme").unwrap();
        get(&vfs, b"/usr/share").unwrap().rmdir(&C, b"doc").unwrap();
        assert_eq!(get(&vfs, b"/usr/share/doc").err(), Some(Errno::ENOENT));
        // A directory made where a whiteout is shows nothing of the lower.
        let share = get(&vfs, b"/usr/share").unwrap();
        let d = share
            .create(&C, b"doc", FileType::Directory, 0o755, 0)
            .unwrap();
        assert!(names(&d).is_empty());
        assert!(
            lroot
                .lookup(&C, b"usr")
                .unwrap()
                .lookup(&C, b"share")
                .unwrap()
                .lookup(&C, b"doc")
                .is_ok()
        );
        assert_eq!(root.unlink(&C, b"etc"), Err(Errno::EISDIR));
        assert_eq!(root.rmdir(&C, b"link"), Err(Errno::ENOTDIR));
    }

    #[test]
    fn renames_across_layers() {
        let (vfs, lroot, _) = overlay();
        let root = get(&vfs, b"/").unwrap();
        // A lower directory moves whole: its lower entries follow it.
        let usr = get(&vfs, b"/usr").unwrap();
        let ino = usr.ino();
        root.rename(&C, b"usr", &root, b"opt", 0).unwrap();
        assert_eq!(get(&vfs, b"/usr").err(), Some(Errno::ENOENT));
        assert_eq!(get(&vfs, b"/opt").unwrap().ino(), ino);
        assert!(get(&vfs, b"/opt/share/doc/readme").is_ok());
        assert_eq!(names(&get(&vfs, b"/opt").unwrap()), ["bin", "share"]);
        assert_eq!(names(&root), ["etc", "link", "opt"]);
        // A lower file moves into another directory.
        let etc = get(&vfs, b"/etc").unwrap();
        let bin = get(&vfs, b"/opt/bin").unwrap();
        etc.rename(&C, b"passwd", &bin, b"pw", 0).unwrap();
        assert_eq!(
            read_all(&get(&vfs, b"/opt/bin/pw").unwrap()),
            b"root:x:0:0\n"
        );
        assert_eq!(names(&etc), ["motd"]);
        // Replacing a lower file, and exchanging two names.
        bin.rename(&C, b"pw", &bin, b"tool", 0).unwrap();
        assert_eq!(names(&bin), ["tool"]);
        etc.rename(&C, b"motd", &root, b"link", RENAME_EXCHANGE)
            .unwrap();
        assert_eq!(get(&vfs, b"/etc/motd").unwrap().kind(), FileType::Symlink);
        assert_eq!(get(&vfs, b"/link").unwrap().kind(), FileType::Regular);
        assert_eq!(
            root.rename(&C, b"opt", &bin, b"x", 0),
            Err(Errno::EINVAL),
            "a directory cannot move below itself"
        );
        // The lower tree never changed.
        assert_eq!(names(&lroot), ["etc", "link", "usr"]);
    }

    #[test]
    fn links_and_symlinks_in_the_overlay() {
        let (vfs, _, _) = overlay();
        let etc = get(&vfs, b"/etc").unwrap();
        let passwd = get(&vfs, b"/etc/passwd").unwrap();
        etc.link(&C, b"pw2", &passwd).unwrap();
        assert_eq!(get(&vfs, b"/etc/pw2").unwrap().stat().nlink, 2);
        assert_eq!(get(&vfs, b"/etc/passwd").unwrap().stat().nlink, 2);
        let s = etc.symlink(&C, b"s", b"passwd").unwrap();
        assert_eq!(s.readlink(&C).unwrap(), b"passwd");
        assert_eq!(etc.symlink(&C, b"s", b"x").err(), Some(Errno::EEXIST));
        assert_eq!(
            etc.create(&C, b"motd", FileType::Regular, 0o644, 0).err(),
            Some(Errno::EEXIST)
        );
        let link = get(&vfs, b"/link").unwrap();
        assert_eq!(link.readlink(&C).unwrap(), b"etc/passwd");
    }
}

#[cfg(test)]
mod host_tests {
    use super::*;
    use crate::fs::hostdir::HostFs;
    use crate::fs::tmpfs::CountedCharge;
    use crate::fs::vfs::{MountFlags, Resolve, Vfs};

    /// Over a host directory: absolute links resolve inside the root, `..`
    /// stops at its top, ELOOP, ENOTDIR, and writes never reach the host.
    #[test]
    fn host_lower_stays_inside_and_unchanged() {
        let c = Caller::NONE;
        let dir = std::env::temp_dir().join(format!("overlay-host-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("etc/passwd"), b"guest").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.join("out")).unwrap();
        std::os::unix::fs::symlink("../../../../../../etc/passwd", dir.join("a/b/up")).unwrap();
        std::os::unix::fs::symlink("loop", dir.join("loop")).unwrap();
        let lower = HostFs::open(&dir).unwrap();
        let upper = TmpFs::new("tmpfs", 0o755, CountedCharge::new(64));
        let vfs = Vfs::new(
            OverlayFs::new(lower.root(), upper),
            "overlay",
            MountFlags::default(),
        );
        let r = vfs.root();
        let get = |p: &[u8], how| vfs.lookup(&c, &r, &r, p, &how);
        let read = |p: &Path| {
            let mut buf = [0u8; 64];
            let n = p.inode().open(&c, 0).unwrap().pread(&mut buf, 0).unwrap();
            buf[..n].to_vec()
        };
        use crate::fs::vfs::Path;
        assert_eq!(read(&get(b"/out", Resolve::FOLLOW).unwrap()), b"guest");
        assert_eq!(read(&get(b"/a/b/up", Resolve::FOLLOW).unwrap()), b"guest");
        assert_eq!(
            read(&get(b"/../../etc/passwd", Resolve::FOLLOW).unwrap()),
            b"guest"
        );
        assert_eq!(get(b"/loop", Resolve::FOLLOW).err(), Some(Errno::ELOOP));
        assert_eq!(
            get(b"/etc/passwd/x", Resolve::FOLLOW).err(),
            Some(Errno::ENOTDIR)
        );
        // Changes stay in memory.
        let pw = get(b"/etc/passwd", Resolve::FOLLOW).unwrap();
        pw.inode().open(&c, 2).unwrap().pwrite(b"GUEST", 0).unwrap();
        get(b"/etc", Resolve::FOLLOW)
            .unwrap()
            .inode()
            .unlink(&c, b"passwd")
            .unwrap();
        r.inode()
            .create(&c, b"new", FileType::Directory, 0o755, 0)
            .unwrap();
        r.inode().rename(&c, b"a", r.inode(), b"z", 0).unwrap();
        assert!(get(b"/z/b/up", Resolve::NOFOLLOW).is_ok());
        assert_eq!(std::fs::read(dir.join("etc/passwd")).unwrap(), b"guest");
        assert!(!dir.join("new").exists());
        assert!(dir.join("a/b").exists());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

#[cfg(test)]
mod removed_tests {
    use super::*;
    use crate::fs::tmpfs::CountedCharge;

    /// A lower directory removed while held (a process's cwd) takes no new
    /// names: ENOENT, as on Linux (it was EIO).
    #[test]
    fn creating_in_a_removed_lower_directory_is_enoent() {
        let c = Caller::NONE;
        let lower = TmpFs::new("lower", 0o755, CountedCharge::new(64));
        let lroot: Arc<dyn Inode> = lower.root_inode();
        lroot
            .create(&c, b"d", FileType::Directory, 0o755, 0)
            .unwrap();
        let ov = OverlayFs::new(lroot, TmpFs::new("upper", 0o755, CountedCharge::new(64)));
        let root = ov.root();
        let d = root.lookup(&c, b"d").unwrap();
        root.rmdir(&c, b"d").unwrap();
        assert_eq!(
            d.create(&c, b"x", FileType::Regular, 0o644, 0).err(),
            Some(Errno::ENOENT)
        );
    }
}

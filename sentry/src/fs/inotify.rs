//! inotify, as Linux's fs/notify/inotify: instances (the descriptors
//! inotify_init1 makes) hold watches on inodes of the sandbox's own file
//! systems and a queue of `struct inotify_event` records.
//!
//! Inodes are known by `(mount device, inode number)`, so a watch sees the
//! same file however it is reached (the overlay keeps a file's number
//! across a copy-up). The VFS operations call the small hooks at the end of
//! this module ([`opened`], [`accessed`], [`modified`], [`closed`],
//! [`attr_changed`], [`created`], [`linked`], [`unlinked`], [`renamed`])
//! once they have succeeded; each returns at once while no watch exists
//! anywhere. Events on a child are also reported, with its name, to a watch
//! on the directory it was reached through (Linux's fsnotify_parent).
//!
//! The watch registry is process-wide (a static), so the hooks need no
//! kernel: an open file's last close, in `OpenFile`'s drop, reports
//! IN_CLOSE_*. Device numbers are unique in the process, so sandboxes in
//! one process cannot see each other's files.
//!
//! IN_DELETE_SELF (and the IN_IGNORED after it) comes, as in Linux, when
//! a file with no name left is let go by its last holder (an open file, a
//! mapping, a working directory): the hooks that may let one go (unlink
//! and rename once their paths are dropped, an open file's last close)
//! call [`sweep`], which looks at the files waiting for it. (A file of a
//! `:rw` host bind is reached through a new inode object each time, so
//! there it comes at the unlink.)
//!
//! Differences from Linux: IN_UNMOUNT is never sent (nothing is
//! unmounted); an open file's events name the place it was opened at, even
//! after a rename of it or of its directory.
//!
//! # Lock order
//!
//! The registry (`Registry::watches`) → an instance's `state`. An instance
//! never takes the registry while holding its state.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Weak};

use parking_lot::Mutex;

use super::vfs::{Path, SetAttr};
use super::{FileOps, IoctlReply, OpenFile, Stat, poll};
use crate::errno::Errno;
use crate::kernel::wait::{Blocker, WaitQueue};

/// File was accessed (read).
pub const IN_ACCESS: u32 = 0x1;
/// File was modified.
pub const IN_MODIFY: u32 = 0x2;
/// Metadata changed.
pub const IN_ATTRIB: u32 = 0x4;
/// A file opened for writing was closed.
pub const IN_CLOSE_WRITE: u32 = 0x8;
/// A file not opened for writing was closed.
pub const IN_CLOSE_NOWRITE: u32 = 0x10;
/// File was opened.
pub const IN_OPEN: u32 = 0x20;
/// A name moved out of a watched directory.
pub const IN_MOVED_FROM: u32 = 0x40;
/// A name moved into a watched directory.
pub const IN_MOVED_TO: u32 = 0x80;
/// A name was created in a watched directory.
pub const IN_CREATE: u32 = 0x100;
/// A name was deleted from a watched directory.
pub const IN_DELETE: u32 = 0x200;
/// The watched inode was deleted.
pub const IN_DELETE_SELF: u32 = 0x400;
/// The watched inode was moved.
pub const IN_MOVE_SELF: u32 = 0x800;
/// Every event a watch can ask for.
pub const IN_ALL_EVENTS: u32 = 0xfff;
/// The file system was unmounted.
pub const IN_UNMOUNT: u32 = 0x2000;
/// The queue overflowed.
pub const IN_Q_OVERFLOW: u32 = 0x4000;
/// The watch was removed.
pub const IN_IGNORED: u32 = 0x8000;
/// Only watch the path if it is a directory.
pub const IN_ONLYDIR: u32 = 0x0100_0000;
/// Do not follow a final symlink.
pub const IN_DONT_FOLLOW: u32 = 0x0200_0000;
/// No events for children after they are unlinked.
pub const IN_EXCL_UNLINK: u32 = 0x0400_0000;
/// Only create a watch: EEXIST if there is one.
pub const IN_MASK_CREATE: u32 = 0x1000_0000;
/// Add to an existing watch's mask rather than replace it.
pub const IN_MASK_ADD: u32 = 0x2000_0000;
/// The subject of the event is a directory.
pub const IN_ISDIR: u32 = 0x4000_0000;
/// Remove the watch after its first event.
pub const IN_ONESHOT: u32 = 0x8000_0000;

/// Linux's ALL_INOTIFY_BITS: a mask with none of these is EINVAL.
const ALL_BITS: u32 = IN_ALL_EVENTS
    | IN_UNMOUNT
    | IN_Q_OVERFLOW
    | IN_IGNORED
    | IN_ONLYDIR
    | IN_DONT_FOLLOW
    | IN_EXCL_UNLINK
    | IN_MASK_CREATE
    | IN_MASK_ADD
    | IN_ISDIR
    | IN_ONESHOT;

/// `/proc/sys/fs/inotify/max_queued_events` (Linux's default).
pub const MAX_QUEUED_EVENTS: usize = 16384;
/// `/proc/sys/fs/inotify/max_user_instances` (Linux's default).
pub const MAX_USER_INSTANCES: usize = 128;
/// `/proc/sys/fs/inotify/max_user_watches` (Linux sizes it by memory; the
/// sandbox's is fixed).
pub const MAX_USER_WATCHES: usize = 8192;

/// `O_PATH`: such descriptors report nothing.
const O_PATH: u32 = 0o10000000;

/// An inode: (mount device, inode number).
type Key = (u64, u64);

/// The watches on one inode: (instance, watch descriptor).
type Watchers = Vec<(Weak<Instance>, i32)>;

/// The watches of every instance, by inode.
#[derive(Default)]
struct Registry {
    watches: Mutex<HashMap<Key, Watchers>>,
    /// Watches in the registry (0: the hooks return at once).
    count: AtomicUsize,
    /// Instances alive.
    instances: AtomicUsize,
    /// The last rename cookie handed out.
    cookie: AtomicU32,
    /// Watched files with no name left that something still holds: their
    /// IN_DELETE_SELF waits for the last holder.
    unlinked: Mutex<Vec<(Key, Weak<dyn super::vfs::Inode>)>>,
    /// Entries in `unlinked` (0: [`sweep`] returns at once).
    unlinked_count: AtomicUsize,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(Registry::default);

impl Registry {
    fn remove(&self, key: Key, inst: &Instance, wd: i32) {
        let mut w = self.watches.lock();
        if let Some(list) = w.get_mut(&key) {
            let before = list.len();
            list.retain(|(i, d)| !(std::ptr::eq(i.as_ptr(), inst) && *d == wd));
            self.count.fetch_sub(before - list.len(), Ordering::Relaxed);
            if list.is_empty() {
                w.remove(&key);
            }
        }
    }

    fn targets(&self, key: Key) -> Vec<(Arc<Instance>, i32)> {
        self.watches.lock().get(&key).map_or_else(Vec::new, |v| {
            v.iter()
                .filter_map(|(i, wd)| i.upgrade().map(|i| (i, *wd)))
                .collect()
        })
    }

    fn idle(&self) -> bool {
        self.count.load(Ordering::Relaxed) == 0
    }
}

/// One queued event.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Event {
    wd: i32,
    mask: u32,
    cookie: u32,
    name: Vec<u8>,
}

impl Event {
    /// Its size in a read: the header and the name, NUL-padded to a
    /// multiple of the header's 16 bytes.
    fn size(&self) -> usize {
        16 + self.name_len()
    }

    fn name_len(&self) -> usize {
        if self.name.is_empty() {
            0
        } else {
            (self.name.len() + 1).next_multiple_of(16)
        }
    }

    fn encode(&self, out: &mut [u8]) {
        out[0..4].copy_from_slice(&self.wd.to_ne_bytes());
        out[4..8].copy_from_slice(&self.mask.to_ne_bytes());
        out[8..12].copy_from_slice(&self.cookie.to_ne_bytes());
        out[12..16].copy_from_slice(&(self.name_len() as u32).to_ne_bytes());
        let name = &mut out[16..self.size()];
        name.fill(0);
        name[..self.name.len()].copy_from_slice(&self.name);
    }
}

struct Watch {
    key: Key,
    mask: u32,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Event>,
    /// Bytes of the queued events (FIONREAD).
    bytes: usize,
    /// Whether the overflow event is queued.
    overflowed: bool,
    watches: BTreeMap<i32, Watch>,
    last_wd: i32,
}

impl State {
    /// Linux's fsnotify_add_event with inotify_merge: an event equal to
    /// the last one queued is dropped; past the limit one IN_Q_OVERFLOW
    /// stands for all that are lost.
    fn push(&mut self, ev: Event) -> bool {
        if self.queue.back() == Some(&ev) {
            return false;
        }
        let ev = if self.queue.len() >= MAX_QUEUED_EVENTS {
            if self.overflowed {
                return false;
            }
            self.overflowed = true;
            Event {
                wd: -1,
                mask: IN_Q_OVERFLOW,
                cookie: 0,
                name: Vec::new(),
            }
        } else {
            ev
        };
        self.bytes += ev.size();
        self.queue.push_back(ev);
        true
    }
}

/// An inotify instance's shared part (the registry points here).
pub struct Instance {
    state: Mutex<State>,
    /// Woken when an event is queued (blocked readers).
    changed: WaitQueue,
    /// The kernel's readiness queue (poll, select, epoll).
    readiness: Arc<WaitQueue>,
}

impl Instance {
    fn wake(&self) {
        self.changed.notify_all();
        self.readiness.notify_all();
    }

    /// Queues an event for watch `wd` if its mask asks for it; a one-shot
    /// watch then goes, with IN_IGNORED.
    fn event(&self, wd: i32, mask: u32, cookie: u32, name: &[u8]) {
        let gone = {
            let mut s = self.state.lock();
            let Some(w) = s.watches.get(&wd) else {
                return;
            };
            if w.mask & mask & IN_ALL_EVENTS == 0 {
                return;
            }
            let oneshot = (w.mask & IN_ONESHOT != 0).then_some(w.key);
            let mut queued = s.push(Event {
                wd,
                mask,
                cookie,
                name: name.to_vec(),
            });
            if oneshot.is_some() {
                s.watches.remove(&wd);
                queued |= s.push(ignored(wd));
            }
            (oneshot, queued)
        };
        let (gone, queued) = gone;
        // As Linux, a merged (or lost) event wakes no one: an EPOLLET
        // item is not reported again for it.
        if queued {
            self.wake();
        }
        if let Some(key) = gone {
            REGISTRY.remove(key, self, wd);
        }
    }

    /// Drops watch `wd` (its inode is gone) with IN_IGNORED.
    fn forget(&self, wd: i32) {
        let had = {
            let mut s = self.state.lock();
            s.watches.remove(&wd).is_some() && {
                s.push(ignored(wd));
                true
            }
        };
        if had {
            self.wake();
        }
    }
}

fn ignored(wd: i32) -> Event {
    Event {
        wd,
        mask: IN_IGNORED,
        cookie: 0,
        name: Vec::new(),
    }
}

/// An inotify descriptor.
pub struct Inotify {
    inst: Arc<Instance>,
}

impl Inotify {
    /// A new instance (inotify_init1): EMFILE past
    /// [`MAX_USER_INSTANCES`].
    pub fn new(readiness: Arc<WaitQueue>) -> Result<Self, Errno> {
        REGISTRY
            .instances
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < MAX_USER_INSTANCES).then_some(n + 1)
            })
            .map_err(|_| Errno::EMFILE)?;
        Ok(Self {
            inst: Arc::new(Instance {
                state: Mutex::default(),
                changed: WaitQueue::default(),
                readiness,
            }),
        })
    }

    /// inotify_add_watch on the inode at `p` (already resolved with
    /// IN_DONT_FOLLOW and checked for IN_ONLYDIR): the watch's descriptor.
    pub fn add_watch(&self, p: &Path, mask: u32) -> Result<i32, Errno> {
        let key = key(p);
        let bits = mask & (IN_ALL_EVENTS | IN_ONESHOT | IN_EXCL_UNLINK);
        // The registry first (lock order), then this instance.
        let mut reg = REGISTRY.watches.lock();
        let mut s = self.inst.state.lock();
        if let Some((&wd, w)) = s.watches.iter_mut().find(|(_, w)| w.key == key) {
            if mask & IN_MASK_CREATE != 0 {
                return Err(Errno::EEXIST);
            }
            w.mask = if mask & IN_MASK_ADD != 0 {
                w.mask | bits
            } else {
                bits
            };
            return Ok(wd);
        }
        if REGISTRY.count.load(Ordering::Relaxed) >= MAX_USER_WATCHES {
            return Err(Errno::ENOSPC);
        }
        s.last_wd = s.last_wd.checked_add(1).ok_or(Errno::ENOSPC)?;
        let wd = s.last_wd;
        s.watches.insert(wd, Watch { key, mask: bits });
        reg.entry(key)
            .or_default()
            .push((Arc::downgrade(&self.inst), wd));
        REGISTRY.count.fetch_add(1, Ordering::Relaxed);
        Ok(wd)
    }

    /// inotify_rm_watch: EINVAL for an unknown descriptor; IN_IGNORED.
    pub fn rm_watch(&self, wd: i32) -> Result<(), Errno> {
        let key = {
            let mut s = self.inst.state.lock();
            let w = s.watches.remove(&wd).ok_or(Errno::EINVAL)?;
            s.push(ignored(wd));
            w.key
        };
        REGISTRY.remove(key, &self.inst, wd);
        self.inst.wake();
        Ok(())
    }

    /// Whether a mask passes inotify_add_watch's first checks (EINVAL).
    pub fn valid_mask(mask: u32) -> bool {
        mask & ALL_BITS != 0 && !(mask & IN_MASK_ADD != 0 && mask & IN_MASK_CREATE != 0)
    }
}

impl Drop for Inotify {
    fn drop(&mut self) {
        let keys: Vec<(i32, Key)> = self
            .inst
            .state
            .lock()
            .watches
            .iter()
            .map(|(wd, w)| (*wd, w.key))
            .collect();
        for (wd, key) in keys {
            REGISTRY.remove(key, &self.inst, wd);
        }
        REGISTRY.instances.fetch_sub(1, Ordering::Relaxed);
    }
}

impl FileOps for Inotify {
    /// inotify_read: whole events while they fit; EINVAL if the first does
    /// not; waits while the queue is empty.
    fn read(&self, buf: &mut [u8], nonblock: bool, blocker: &dyn Blocker) -> Result<usize, Errno> {
        loop {
            let guard = self.inst.changed.prepare(blocker);
            {
                let mut s = self.inst.state.lock();
                let mut done = 0;
                while let Some(ev) = s.queue.front() {
                    let n = ev.size();
                    if done + n > buf.len() {
                        if done == 0 {
                            return Err(Errno::EINVAL);
                        }
                        break;
                    }
                    ev.encode(&mut buf[done..done + n]);
                    done += n;
                    if ev.mask == IN_Q_OVERFLOW && ev.wd == -1 {
                        s.overflowed = false;
                    }
                    s.bytes -= n;
                    s.queue.pop_front();
                }
                if done > 0 {
                    return Ok(done);
                }
            }
            if nonblock {
                return Err(Errno::EAGAIN);
            }
            guard.sleep(None)?;
        }
    }

    fn poll(&self) -> u16 {
        if self.inst.state.lock().queue.is_empty() {
            0
        } else {
            poll::POLLIN | 0x40 // POLLRDNORM
        }
    }

    fn events(&self) -> Option<(u64, u64)> {
        Some((self.inst.changed.seq(), 0))
    }

    /// FIONREAD: the bytes a read would return if its buffer took all.
    fn ioctl(&self, request: u64) -> Result<IoctlReply, Errno> {
        const FIONREAD: u64 = 0x541b;
        if request != FIONREAD {
            return Err(Errno::ENOTTY);
        }
        let n = self.inst.state.lock().bytes as i32;
        Ok(IoctlReply::Bytes(n.to_ne_bytes().to_vec(), 0))
    }

    fn stat(&self) -> Stat {
        Stat {
            mode: 0o600,
            nlink: 1,
            blksize: 4096,
            ..Default::default()
        }
    }

    fn describe(&self) -> String {
        "anon_inode:inotify".into()
    }

    fn fdinfo(&self) -> String {
        let s = self.inst.state.lock();
        s.watches
            .iter()
            .map(|(wd, w)| {
                format!(
                    "inotify wd:{wd:x} ino:{:x} sdev:{:x} mask:{:x} ignored_mask:0\n",
                    w.key.1, w.key.0, w.mask
                )
            })
            .collect()
    }

    fn as_inotify(&self) -> Option<&Inotify> {
        Some(self)
    }
}

/// The inode key of a place.
fn key(p: &Path) -> Key {
    (p.mount.dev, p.inode().ino())
}

/// Sends `mask` (with `cookie` and `name`) to every watch on `key`.
fn deliver(key: Key, mask: u32, cookie: u32, name: &[u8]) {
    for (inst, wd) in REGISTRY.targets(key) {
        inst.event(wd, mask, cookie, name);
    }
}

/// The inode at `key` is gone: its watches go, with IN_IGNORED.
fn gone(key: Key) {
    let list = REGISTRY.watches.lock().remove(&key).unwrap_or_default();
    REGISTRY.count.fetch_sub(list.len(), Ordering::Relaxed);
    for (inst, wd) in list {
        if let Some(inst) = inst.upgrade() {
            inst.forget(wd);
        }
    }
}

fn isdir(p: &Path) -> u32 {
    if p.is_dir() { IN_ISDIR } else { 0 }
}

/// An event on the inode at `p`, reported to its directory (with its name)
/// and to itself (fsnotify_parent, then the inode's own marks).
fn on_path(p: &Path, mask: u32) {
    if REGISTRY.idle() {
        return;
    }
    let mask = mask | isdir(p);
    if let Some(parent) = &p.dentry.parent
        && !p.dentry.name.is_empty()
    {
        deliver((p.mount.dev, parent.inode.ino()), mask, 0, &p.dentry.name);
    }
    deliver(key(p), mask, 0, &[]);
}

/// An event on the inode at `p` alone (fsnotify_inode: no parent).
/// inotify never shows IN_ISDIR with IN_MOVE_SELF or IN_DELETE_SELF.
fn on_inode(p: &Path, mask: u32) {
    let dir = if mask & (IN_MOVE_SELF | IN_DELETE_SELF) == 0 {
        isdir(p)
    } else {
        0
    };
    deliver(key(p), mask | dir, 0, &[]);
}

fn on_file(f: &OpenFile, mask: u32) {
    if REGISTRY.idle() || f.status() & O_PATH != 0 {
        return;
    }
    if let Some(p) = f.ops.vfs_path() {
        on_path(&p, mask);
    }
}

/// Hook: `f` was opened (IN_OPEN), and truncated by O_TRUNC if
/// `truncated` (IN_MODIFY after it, as Linux's handle_truncate).
pub fn opened(f: &OpenFile, truncated: bool) {
    on_file(f, IN_OPEN);
    let regular = |p: Path| p.inode().kind() == super::vfs::FileType::Regular;
    if truncated && f.ops.vfs_path().is_some_and(regular) {
        on_file(f, IN_MODIFY);
    }
}

/// Hook: `n` bytes were read from `f` (IN_ACCESS when `n > 0`).
pub fn accessed(f: &OpenFile, n: u64) {
    if n > 0 {
        on_file(f, IN_ACCESS);
    }
}

/// Hook: `n` bytes were written to `f` (IN_MODIFY when `n > 0`).
pub fn modified(f: &OpenFile, n: u64) {
    if n > 0 {
        on_file(f, IN_MODIFY);
    }
}

/// Hook: the last reference to `f` is going (IN_CLOSE_WRITE or
/// IN_CLOSE_NOWRITE, by its access mode).
pub fn closed(f: &OpenFile) {
    let mask = if f.status() & 3 != 0 {
        IN_CLOSE_WRITE
    } else {
        IN_CLOSE_NOWRITE
    };
    on_file(f, mask);
}

/// Hook: the attributes of `p` were set (fsnotify_change: a size is
/// IN_MODIFY; owner, mode and both times IN_ATTRIB; the access time alone
/// IN_ACCESS, the modification time alone IN_MODIFY).
pub fn attr_changed(p: &Path, attr: &SetAttr) {
    if REGISTRY.idle() {
        return;
    }
    let mut mask = 0;
    if attr.uid.is_some() || attr.gid.is_some() || attr.mode.is_some() {
        mask |= IN_ATTRIB;
    }
    if attr.size.is_some() {
        mask |= IN_MODIFY;
    }
    match (attr.atime, attr.mtime) {
        (Some(_), Some(_)) => mask |= IN_ATTRIB,
        (Some(_), None) => mask |= IN_ACCESS,
        (None, Some(_)) => mask |= IN_MODIFY,
        (None, None) => {}
    }
    if mask != 0 {
        on_path(p, mask);
    }
}

/// Hook: ftruncate of `f` (IN_MODIFY).
pub fn truncated(f: &OpenFile) {
    on_file(f, IN_MODIFY);
}

/// Hook: `name` was made in the directory at `dir` (IN_CREATE).
pub fn created(dir: &Path, name: &[u8], is_dir: bool) {
    if REGISTRY.idle() {
        return;
    }
    let mask = IN_CREATE | if is_dir { IN_ISDIR } else { 0 };
    deliver(key(dir), mask, 0, name);
}

/// Hook: `name` in `dir` is a new link to `target` (fsnotify_link:
/// IN_ATTRIB on the inode, then IN_CREATE).
pub fn linked(dir: &Path, name: &[u8], target: &Path) {
    if REGISTRY.idle() {
        return;
    }
    on_inode(target, IN_ATTRIB);
    created(dir, name, false);
}

/// Hook: `name` (the inode at `victim`) was removed from `dir` by unlink
/// or rmdir: IN_ATTRIB on a file (its link count), IN_DELETE in the
/// directory, and IN_DELETE_SELF with IN_IGNORED once no name is left.
pub fn unlinked(dir: &Path, name: &[u8], victim: &Path) {
    if REGISTRY.idle() {
        return;
    }
    let is_dir = victim.is_dir();
    if !is_dir {
        on_inode(victim, IN_ATTRIB);
    }
    // d_delete_notify: the inode goes (d_delete) before IN_DELETE.
    dropped(victim);
    deliver(key(dir), IN_DELETE | isdir(victim), 0, name);
}

/// The inode at `p` lost a name: if it was its last (a directory always),
/// IN_DELETE_SELF and its watches go, once nothing holds it any more
/// (see [`sweep`]).
fn dropped(p: &Path) {
    // Held by `p` alone (the caller's walk): it goes now, in d_delete,
    // before the directory's IN_DELETE.
    if p.is_dir() || (p.inode().stat().nlink == 0 && Arc::strong_count(p.inode()) == 1) {
        on_inode(p, IN_DELETE_SELF);
        gone(key(p));
    } else if p.inode().stat().nlink == 0 && REGISTRY.watches.lock().contains_key(&key(p)) {
        REGISTRY
            .unlinked
            .lock()
            .push((key(p), Arc::downgrade(p.inode())));
        REGISTRY.unlinked_count.fetch_add(1, Ordering::Relaxed);
    }
}

/// Hook: something that may have held a file with no name left was let
/// go (an unlink or rename's paths, an open file): IN_DELETE_SELF and
/// IN_IGNORED for each such file nothing holds any more (the inode's
/// eviction in Linux).
pub fn sweep() {
    if REGISTRY.unlinked_count.load(Ordering::Relaxed) == 0 {
        return;
    }
    let done: Vec<Key> = {
        let mut list = REGISTRY.unlinked.lock();
        let mut done = Vec::new();
        list.retain(|(k, w)| {
            let alive = w.strong_count() > 0;
            if !alive {
                done.push(*k);
            }
            alive
        });
        REGISTRY.unlinked_count.store(list.len(), Ordering::Relaxed);
        done
    };
    for k in done {
        deliver(k, IN_DELETE_SELF, 0, &[]);
        gone(k);
    }
}

/// Whether a file with no name left may be let go by `f`'s close (its
/// owner then calls [`sweep`] once `f` is gone).
pub fn holds_unlinked(f: &OpenFile) -> bool {
    REGISTRY.unlinked_count.load(Ordering::Relaxed) > 0 && f.ops.vfs_path().is_some()
}

/// The file operations left in an open file while its own are dropped.
pub struct Released;

impl FileOps for Released {
    fn poll(&self) -> u16 {
        0
    }

    fn describe(&self) -> String {
        String::new()
    }
}

/// Hook: rename(2) moved `src` from `old_name` in `old_dir` to `new_name`
/// in `new_dir`, replacing `target` (or, with RENAME_EXCHANGE, swapping
/// with it): fsnotify_move for each moved inode.
pub fn renamed(
    old_dir: &Path,
    old_name: &[u8],
    new_dir: &Path,
    new_name: &[u8],
    src: &Path,
    target: Option<&Path>,
    exchange: bool,
) {
    if REGISTRY.idle() {
        return;
    }
    let moved = |from: &Path, from_name: &[u8], to: &Path, to_name: &[u8], what: &Path| {
        let cookie = REGISTRY
            .cookie
            .fetch_add(1, Ordering::Relaxed)
            .wrapping_add(1);
        deliver(key(from), IN_MOVED_FROM | isdir(what), cookie, from_name);
        deliver(key(to), IN_MOVED_TO | isdir(what), cookie, to_name);
    };
    moved(old_dir, old_name, new_dir, new_name, src);
    if let Some(t) = target
        && !exchange
    {
        on_inode(t, IN_ATTRIB);
    }
    on_inode(src, IN_MOVE_SELF);
    match target {
        Some(t) if exchange => {
            moved(new_dir, new_name, old_dir, old_name, t);
            on_inode(t, IN_MOVE_SELF);
        }
        Some(t) => dropped(t),
        None => {}
    }
}

/// The limits shown in /proc/sys/fs/inotify, by file name.
pub fn sysctl(name: &[u8]) -> Option<String> {
    let v = match name {
        b"max_queued_events" => MAX_QUEUED_EVENTS,
        b"max_user_instances" => MAX_USER_INSTANCES,
        b"max_user_watches" => MAX_USER_WATCHES,
        _ => return None,
    };
    Some(format!("{v}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(wd: i32, mask: u32, name: &[u8]) -> Event {
        Event {
            wd,
            mask,
            cookie: 0,
            name: name.to_vec(),
        }
    }

    #[test]
    fn identical_consecutive_events_merge() {
        let mut s = State::default();
        assert!(s.push(ev(1, IN_MODIFY, b"a")));
        assert!(!s.push(ev(1, IN_MODIFY, b"a")));
        assert!(s.push(ev(1, IN_MODIFY, b"b")));
        assert!(s.push(ev(1, IN_MODIFY, b"a")));
        assert_eq!(s.queue.len(), 3);
        assert_eq!(s.bytes, 3 * 32);
    }

    #[test]
    fn one_overflow_event_past_the_limit() {
        let mut s = State::default();
        for i in 0..MAX_QUEUED_EVENTS + 10 {
            s.push(ev(1, IN_MODIFY, if i % 2 == 0 { b"a" } else { b"b" }));
        }
        assert_eq!(s.queue.len(), MAX_QUEUED_EVENTS + 1);
        assert_eq!(s.queue.back().map(|e| e.mask), Some(IN_Q_OVERFLOW));
    }

    #[test]
    fn names_pad_to_sixteen() {
        let e = ev(3, IN_CREATE, b"hello");
        assert_eq!(e.size(), 32);
        let mut out = [0xffu8; 32];
        e.encode(&mut out);
        assert_eq!(&out[12..16], &16u32.to_ne_bytes());
        assert_eq!(&out[16..22], b"hello\0");
        assert!(out[22..].iter().all(|b| *b == 0));
        assert_eq!(ev(1, IN_IGNORED, b"").size(), 16);
        assert_eq!(ev(1, IN_CREATE, &[b'x'; 15]).size(), 32);
        assert_eq!(ev(1, IN_CREATE, &[b'x'; 16]).size(), 48);
    }
}

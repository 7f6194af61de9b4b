//! Files as the guest sees them: open file descriptions behind a common
//! trait, per-process descriptor tables (shareable with CLONE_FILES), the
//! standard streams, pipes and the sandbox's own FIFOs, and the file
//! system tree:
//!
//! * [`vfs`]: filesystems, inodes, dentries, mounts and path resolution;
//! * [`tmpfs`]: files in memory (charged to `--memory`);
//! * [`overlay`]: the writable root over the read-only `--root` tree;
//! * [`hostdir`]: a host directory as a read-only filesystem (with what
//!   [`rootfs`] hides of the host);
//! * [`synthetic`]: the VFS's interface for trees generated from kernel
//!   state; [`nodes`] mounts the sentry's /proc ([`proc`]), /dev and /sys
//!   ([`dev`]) on it, and [`sentryfs`] says where `/proc/<pid>/exe` leads;
//! * [`setup`]: the mount tree built at start-up;
//! * [`lock`]: flock and fcntl record locks (owned by open file
//!   descriptions and by descriptor tables).
//!
//! # Lock order
//!
//! `FdTable::inner` → `OpenFile::status` → the FIFO registry
//! (`FifoTable`) → a file's own lock (for example `Pipe::state`). The
//! lock table (`LockTable::state`) is a leaf: a close releases record
//! locks after `FdTable::inner` is dropped. Wait
//! queues are only notified, never held while sleeping. Path resolution
//! takes the mount table (`Vfs::table`) alone; each filesystem's locks
//! (see `overlay` and `tmpfs`) are taken only inside its own operations.
//! Listing or looking up /proc takes the kernel's locks (the task table,
//! then a process's), which come before every lock here: /proc is never
//! read holding a file lock other than an open directory's own state.

pub mod dev;
pub mod epoll;
pub mod eventfd;
pub mod fifo;
pub mod hostdir;
pub mod inet;
pub mod inotify;
pub mod lock;
pub mod memfd;
pub mod netlink;
pub mod nodes;
pub mod overlay;
pub mod pidfd;
pub mod pipe;
pub mod proc;
pub mod rootfs;
pub mod sentryfs;
pub mod setup;
pub mod signalfd;
pub mod stdio;
pub mod synthetic;
pub mod timerfd;
pub mod tmpfs;
pub mod tty;
pub mod unix;
pub mod vfs;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use parking_lot::Mutex;

use crate::errno::Errno;
use crate::kernel::wait::Blocker;

/// `O_NONBLOCK`.
pub const O_NONBLOCK: u32 = 0o4000;
/// `O_CLOEXEC`.
pub const O_CLOEXEC: u32 = 0o2000000;
/// `O_APPEND`.
pub const O_APPEND: u32 = 0o2000;
/// The default RLIMIT_NOFILE soft limit (the highest descriptor plus one).
pub const NOFILE: i32 = 1024;

/// The default of `--max-files`: descriptors open at once across the
/// whole sandbox.
pub const DEFAULT_MAX_FILES: u64 = 1 << 18;

/// The sandbox-wide budget of descriptors (`--max-files`): every table
/// slot in use, in every process, counts once. It bounds the sentry's
/// memory whatever the guests' RLIMIT_NOFILE (which a root guest may raise
/// up to `fs.nr_open`).
#[derive(Debug)]
pub struct FileBudget {
    max: u64,
    used: std::sync::atomic::AtomicU64,
}

impl FileBudget {
    /// A budget of `max` descriptors.
    pub fn new(max: u64) -> Arc<Self> {
        Arc::new(Self {
            max,
            used: std::sync::atomic::AtomicU64::new(0),
        })
    }

    /// Takes `n` descriptors: ENFILE (the system-wide table is full) past
    /// the budget.
    fn take(&self, n: u64) -> Result<(), Errno> {
        self.used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                u.checked_add(n).filter(|&v| v <= self.max)
            })
            .map(|_| ())
            .map_err(|_| Errno::ENFILE)
    }

    /// Gives `n` descriptors back.
    fn give(&self, n: u64) {
        self.used.fetch_sub(n, Ordering::Relaxed);
    }

    /// Descriptors in use across the sandbox.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }
}

impl Default for FileBudget {
    fn default() -> Self {
        Self {
            max: DEFAULT_MAX_FILES,
            used: std::sync::atomic::AtomicU64::new(0),
        }
    }
}

/// Readiness bits, as poll(2) reports them.
pub mod poll {
    /// Data to read.
    pub const POLLIN: u16 = 0x1;
    /// Room to write.
    pub const POLLOUT: u16 = 0x4;
    /// Error.
    pub const POLLERR: u16 = 0x8;
    /// Hang-up.
    pub const POLLHUP: u16 = 0x10;
}

/// What fstat reports.
#[derive(Clone, Copy, Debug, Default)]
pub struct Stat {
    /// st_mode.
    pub mode: u32,
    /// st_ino.
    pub ino: u64,
    /// st_dev.
    pub dev: u64,
    /// st_rdev.
    pub rdev: u64,
    /// st_size.
    pub size: i64,
    /// st_blksize.
    pub blksize: i64,
    /// st_nlink.
    pub nlink: u64,
    /// st_uid.
    pub uid: u32,
    /// st_gid.
    pub gid: u32,
    /// st_blocks.
    pub blocks: i64,
    /// st_atime, st_mtime, st_ctime as (seconds, nanoseconds).
    pub times: [(i64, i64); 3],
}

impl Stat {
    /// The x86-64 `struct stat` that stat, fstat, lstat and newfstatat
    /// fill ([`crate::abi::fs::Stat`] is its one encoder).
    pub fn to_abi(&self) -> crate::abi::fs::Stat {
        use crate::abi::time::Timespec;
        let ts = |(sec, nsec): (i64, i64)| Timespec { sec, nsec };
        crate::abi::fs::Stat {
            dev: self.dev,
            ino: self.ino,
            nlink: self.nlink,
            mode: self.mode,
            uid: self.uid,
            gid: self.gid,
            rdev: self.rdev,
            size: self.size,
            blksize: self.blksize,
            blocks: self.blocks,
            atime: ts(self.times[0]),
            mtime: ts(self.times[1]),
            ctime: ts(self.times[2]),
        }
    }

    /// From a host file's metadata (the root filesystem's files).
    pub fn from_metadata(m: &std::fs::Metadata) -> Self {
        use std::os::unix::fs::MetadataExt;
        Stat {
            mode: m.mode(),
            ino: m.ino(),
            dev: m.dev(),
            rdev: m.rdev(),
            size: m.size() as i64,
            blksize: m.blksize() as i64,
            nlink: m.nlink(),
            uid: m.uid(),
            gid: m.gid(),
            blocks: m.blocks() as i64,
            times: [
                (m.atime(), m.atime_nsec()),
                (m.mtime(), m.mtime_nsec()),
                (m.ctime(), m.ctime_nsec()),
            ],
        }
    }
}

/// Operations of an open file.
pub trait FileOps: Send + Sync {
    /// Reads into `buf`; may block through `blocker` unless `nonblock`.
    /// EINVAL for files that cannot be read (pidfds, epoll).
    fn read(
        &self,
        _buf: &mut [u8],
        _nonblock: bool,
        _blocker: &dyn Blocker,
    ) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }
    /// A read whose guest buffer can take only `buf.len()` of the `want`
    /// bytes asked for (the page after it is bad). `Some((result, filled))`
    /// when the file has its own rule for that: a Linux pipe leaves a
    /// buffer it could not copy whole in the pipe (yet the bytes before the
    /// fault did land in the guest's buffer: `filled` says how many of
    /// `buf` to copy out) and says EFAULT if nothing counted. `None` to read
    /// what fits, as a regular file's page-by-page copy does.
    fn read_short(
        &self,
        _buf: &mut [u8],
        _want: usize,
        _nonblock: bool,
        _blocker: &dyn Blocker,
    ) -> Option<(Result<usize, Errno>, usize)> {
        None
    }
    /// Writes `buf`; may block through `blocker` unless `nonblock`.
    fn write(&self, _buf: &[u8], _nonblock: bool, _blocker: &dyn Blocker) -> Result<usize, Errno> {
        Err(Errno::EINVAL)
    }
    /// Writes `buf` at the end of the file (O_APPEND); files without an
    /// end write as usual.
    fn append(&self, buf: &[u8], nonblock: bool, blocker: &dyn Blocker) -> Result<usize, Errno> {
        self.write(buf, nonblock, blocker)
    }
    /// pwrite; ESPIPE for unseekable files.
    fn pwrite(&self, _buf: &[u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::ESPIPE)
    }
    /// Current readiness (`poll::*` bits).
    fn poll(&self) -> u16;
    /// fstat; by default an anonymous inode.
    fn stat(&self) -> Stat {
        Stat {
            mode: 0o600,
            nlink: 1,
            blksize: 4096,
            ..Default::default()
        }
    }
    /// ioctl on the file; ENOTTY by default.
    fn ioctl(&self, _request: u64) -> Result<IoctlReply, Errno> {
        Err(Errno::ENOTTY)
    }
    /// lseek; ESPIPE for unseekable files.
    fn seek(&self, _offset: i64, _whence: u32) -> Result<u64, Errno> {
        Err(Errno::ESPIPE)
    }
    /// pread; ESPIPE for unseekable files.
    fn pread(&self, _buf: &mut [u8], _offset: u64) -> Result<usize, Errno> {
        Err(Errno::ESPIPE)
    }
    /// The next directory entries, encoded as `linux_dirent64`, at most
    /// `max` bytes; ENOTDIR for anything but a directory.
    fn getdents(&self, _max: usize) -> Result<Vec<u8>, Errno> {
        Err(Errno::ENOTDIR)
    }
    /// Whether every change of this file's readiness wakes
    /// [`Kernel::readiness`](crate::kernel::Kernel::readiness)
    /// (the host's streams cannot tell; poll samples them).
    fn notifies(&self) -> bool {
        true
    }
    /// Event counters for edge-triggered epoll: (input, output), each
    /// moving whenever the file notifies a change in that direction (data,
    /// EOF or an error arriving; room appearing), before it wakes anyone.
    /// None: the file keeps none, and EPOLLET falls back to
    /// [`generation`](crate::kernel::wait::generation).
    fn events(&self) -> Option<(u64, u64)> {
        None
    }
    /// For a directory: its guest path (for *at() calls and fchdir).
    fn dir_path(&self) -> Option<Vec<u8>> {
        None
    }
    /// The place in the VFS this file was opened at (fchmod, fchdir,
    /// fstatfs, *at() calls), if it is a file of the VFS.
    fn vfs_path(&self) -> Option<vfs::Path> {
        None
    }
    /// Short description for traces.
    fn describe(&self) -> String;
    /// The pidfd behind this file, if it is one.
    fn as_pidfd(&self) -> Option<&pidfd::PidFd> {
        None
    }
    /// The pipe end behind this file, if it is one (F_GETPIPE_SZ...).
    fn as_pipe(&self) -> Option<&pipe::PipeEnd> {
        None
    }
    /// The Unix domain socket behind this file, if it is one.
    fn as_unix_socket(&self) -> Option<&unix::UnixSocket> {
        None
    }
    /// The AF_INET or AF_INET6 socket behind this file, if it is one.
    fn as_inet_socket(&self) -> Option<&inet::InetSocket> {
        None
    }
    /// The AF_NETLINK socket behind this file, if it is one.
    fn as_netlink_socket(&self) -> Option<&netlink::NetlinkSocket> {
        None
    }
    /// The epoll instance behind this file, if it is one.
    fn as_epoll(&self) -> Option<&epoll::Epoll> {
        None
    }
    /// What readlink of `/proc/<pid>/fd/<n>` shows for it (`pipe:[ino]`,
    /// `anon_inode:[pidfd]`, a guest path).
    fn link_target(&self) -> String {
        self.describe()
    }
    /// The type-specific lines of `/proc/<pid>/fdinfo/<n>` (a pidfd's
    /// `Pid:` and `NSpid:`), each ending with a newline.
    fn fdinfo(&self) -> String {
        String::new()
    }
    /// Whether the file is a terminal (isatty; the guest's terminal, see
    /// [`FileOps::as_terminal`]).
    fn is_terminal(&self) -> bool {
        false
    }
    /// The guest's terminal behind this file, if it is one (its ioctls
    /// and job control are the terminal's).
    fn as_terminal(&self) -> Option<&tty::TerminalFile> {
        None
    }
    /// Whether the file is one of the sentry's own standard streams (a
    /// host descriptor: a broken pipe there is the sandbox's output gone,
    /// see `kernel::hostsig::host_output_broken`).
    fn is_host_stream(&self) -> bool {
        false
    }
    /// Whether mmap of the file gives anonymous memory (/dev/zero, as
    /// Linux's mmap_zero: private or shared anonymous pages).
    fn maps_as_anonymous(&self) -> bool {
        false
    }
    /// The tmpfs inode behind this file, if it is a tmpfs (or memfd)
    /// regular file: its frames are what a mapping maps, and it has seals.
    fn tmpfs_inode(&self) -> Option<Arc<tmpfs::TmpInode>> {
        None
    }
    /// The timerfd behind this file, if it is one.
    fn as_timerfd(&self) -> Option<&timerfd::TimerFd> {
        None
    }
    /// The signalfd behind this file, if it is one.
    fn as_signalfd(&self) -> Option<&signalfd::SignalFd> {
        None
    }
    /// The inotify instance behind this file, if it is one.
    fn as_inotify(&self) -> Option<&inotify::Inotify> {
        None
    }
    /// The POSIX message queue behind this file, if it is one.
    fn as_mqueue(&self) -> Option<&crate::kernel::ipc::mqueue::MqFile> {
        None
    }
}

/// Data an ioctl hands back to the guest.
pub enum IoctlReply {
    /// Bytes to copy to the argument pointer, and the return value.
    Bytes(Vec<u8>, u64),
}

/// An open file description, shared by dup'ed descriptors and across fork.
pub struct OpenFile {
    /// The file.
    pub ops: Box<dyn FileOps>,
    /// Status flags (O_NONBLOCK, O_APPEND, access mode).
    status: AtomicU32,
    /// Its id as the owner of flock and OFD locks.
    lock_id: u64,
    /// The lock table it has taken locks in, if any (released on its last
    /// close).
    locks: std::sync::OnceLock<Arc<lock::LockTable>>,
}

impl Drop for OpenFile {
    fn drop(&mut self) {
        inotify::closed(self);
        if let Some(t) = self.locks.get() {
            t.release_owner(lock::Owner::Ofd(self.lock_id));
        }
        if inotify::holds_unlinked(self) {
            // Its file may have no name left: IN_DELETE_SELF once this
            // reference to it is gone.
            drop(std::mem::replace(
                &mut self.ops,
                Box::new(inotify::Released),
            ));
            inotify::sweep();
        }
    }
}

impl OpenFile {
    /// Wraps a file with its initial status flags.
    pub fn new(ops: Box<dyn FileOps>, status: u32) -> Arc<Self> {
        Arc::new(Self {
            ops,
            status: AtomicU32::new(status),
            lock_id: lock::new_owner_id(),
            locks: std::sync::OnceLock::new(),
        })
    }

    /// Its owner id for flock and OFD locks, noting that it takes locks
    /// in `table` (so its last close releases them).
    pub fn lock_owner(&self, table: &Arc<lock::LockTable>) -> u64 {
        let _ = self.locks.get_or_init(|| Arc::clone(table));
        self.lock_id
    }

    /// The file's key in the lock table: its device and inode number.
    pub fn lock_key(&self) -> lock::FileKey {
        let st = self.ops.stat();
        (st.dev, st.ino)
    }

    /// Status flags.
    pub fn status(&self) -> u32 {
        self.status.load(Ordering::Relaxed)
    }

    /// Sets the changeable status flags (F_SETFL: O_APPEND, O_NONBLOCK...).
    pub fn set_status(&self, flags: u32) {
        const CHANGEABLE: u32 = O_APPEND | O_NONBLOCK | 0o20000 | 0o40000 | 0o1000000;
        let old = self.status();
        self.status.store(
            (old & !CHANGEABLE) | (flags & CHANGEABLE),
            Ordering::Relaxed,
        );
    }

    /// Whether O_NONBLOCK is set.
    pub fn nonblocking(&self) -> bool {
        self.status() & O_NONBLOCK != 0
    }
}

#[derive(Clone)]
struct FdEntry {
    file: Arc<OpenFile>,
    cloexec: bool,
}

/// A descriptor table. It owns the traditional POSIX record locks its
/// process takes (Linux's `fl_owner = current->files`): closing any
/// descriptor of a file releases them on that file.
pub struct FdTable {
    inner: Mutex<BTreeMap<i32, FdEntry>>,
    /// The RLIMIT_NOFILE soft limit of the process(es) using it: no
    /// descriptor at or above it can be allocated. Kept in step with the
    /// owning process's limits (`kernel::limits::apply`); two processes
    /// sharing a table through CLONE_FILES share this value too (the last
    /// setrlimit wins), where Linux would read each caller's own limit.
    nofile: std::sync::atomic::AtomicU64,
    /// The sandbox's `--max-files` budget this table's slots are charged to.
    budget: Arc<FileBudget>,
    /// Its id as the owner of record locks.
    lock_id: u64,
    /// The lock table it has taken record locks in, if any.
    locks: std::sync::OnceLock<Arc<lock::LockTable>>,
}

impl Default for FdTable {
    fn default() -> Self {
        Self::empty(Arc::default(), NOFILE as u64)
    }
}

impl Drop for FdTable {
    fn drop(&mut self) {
        self.budget.give(self.inner.get_mut().len() as u64);
        for e in self.inner.get_mut().values() {
            crate::kernel::ipc::mqueue::flush(&e.file);
        }
        if let Some(t) = self.locks.get() {
            t.release_owner(lock::Owner::Posix(self.lock_id));
        }
    }
}

impl FdTable {
    fn empty(budget: Arc<FileBudget>, nofile: u64) -> Self {
        Self {
            inner: Mutex::default(),
            nofile: std::sync::atomic::AtomicU64::new(nofile),
            budget,
            lock_id: lock::new_owner_id(),
            locks: std::sync::OnceLock::new(),
        }
    }

    /// An empty table.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// An empty table charged to `budget` (the sandbox's first; the
    /// others are forks of it and share its budget).
    pub fn with_budget(budget: Arc<FileBudget>) -> Arc<Self> {
        Arc::new(Self::empty(budget, NOFILE as u64))
    }

    /// The RLIMIT_NOFILE soft limit it enforces.
    pub fn nofile(&self) -> u64 {
        self.nofile.load(Ordering::Relaxed)
    }

    /// Sets the RLIMIT_NOFILE soft limit it enforces.
    pub fn set_nofile(&self, limit: u64) {
        self.nofile.store(limit, Ordering::Relaxed);
    }

    /// The sandbox-wide budget it is charged to.
    pub fn budget(&self) -> &Arc<FileBudget> {
        &self.budget
    }

    /// The limit as a descriptor number: descriptors are C ints.
    fn fd_limit(&self) -> i64 {
        self.nofile().min(i32::MAX as u64) as i64
    }

    /// Its owner for record locks, noting that it takes locks in `table`.
    pub fn lock_owner(&self, table: &Arc<lock::LockTable>) -> lock::Owner {
        let _ = self.locks.get_or_init(|| Arc::clone(table));
        lock::Owner::Posix(self.lock_id)
    }

    /// Releases this table's record locks on the file of a closed
    /// descriptor (POSIX: any close of the file drops them all).
    fn closed(&self, file: &OpenFile) {
        crate::kernel::ipc::mqueue::flush(file);
        if let Some(t) = self.locks.get() {
            let owner = lock::Owner::Posix(self.lock_id);
            if t.holds_records(owner) {
                t.release_records(file.lock_key(), owner);
            }
        }
    }

    /// The file behind `fd`.
    pub fn get(&self, fd: i64) -> Result<Arc<OpenFile>, Errno> {
        // Descriptors are C ints: only the low 32 bits count.
        let fd = fd as i32;
        self.inner
            .lock()
            .get(&fd)
            .map(|e| Arc::clone(&e.file))
            .ok_or(Errno::EBADF)
    }

    /// Installs `file` at the lowest free descriptor `>= min`: EMFILE when
    /// none is below RLIMIT_NOFILE, ENFILE past the sandbox's budget.
    pub fn insert(&self, file: Arc<OpenFile>, cloexec: bool, min: i32) -> Result<i32, Errno> {
        let mut inner = self.inner.lock();
        let mut fd = min;
        for (&k, _) in inner.range(min..) {
            if k != fd {
                break;
            }
            fd += 1;
        }
        if i64::from(fd) >= self.fd_limit() {
            return Err(Errno::EMFILE);
        }
        self.budget.take(1)?;
        inner.insert(fd, FdEntry { file, cloexec });
        Ok(fd)
    }

    /// Installs `file` at exactly `fd`, closing what was there. The old file
    /// is returned so it is dropped outside the table lock.
    pub fn insert_at(
        &self,
        fd: i32,
        file: Arc<OpenFile>,
        cloexec: bool,
    ) -> Result<Option<Arc<OpenFile>>, Errno> {
        if fd < 0 || i64::from(fd) >= self.fd_limit() {
            return Err(Errno::EBADF);
        }
        let mut inner = self.inner.lock();
        if !inner.contains_key(&fd) {
            self.budget.take(1)?;
        }
        let prev = inner.insert(fd, FdEntry { file, cloexec }).map(|e| e.file);
        drop(inner);
        if let Some(f) = &prev {
            self.closed(f);
        }
        Ok(prev)
    }

    /// Closes `fd`.
    pub fn remove(&self, fd: i64) -> Result<Arc<OpenFile>, Errno> {
        let fd = fd as i32;
        let file = self
            .inner
            .lock()
            .remove(&fd)
            .map(|e| e.file)
            .ok_or(Errno::EBADF)?;
        self.budget.give(1);
        self.closed(&file);
        Ok(file)
    }

    /// The close-on-exec flag of `fd`.
    pub fn cloexec(&self, fd: i64) -> Result<bool, Errno> {
        let fd = fd as i32;
        self.inner
            .lock()
            .get(&fd)
            .map(|e| e.cloexec)
            .ok_or(Errno::EBADF)
    }

    /// Sets the close-on-exec flag of `fd`.
    pub fn set_cloexec(&self, fd: i64, on: bool) -> Result<(), Errno> {
        let fd = fd as i32;
        let mut inner = self.inner.lock();
        let e = inner.get_mut(&fd).ok_or(Errno::EBADF)?;
        e.cloexec = on;
        Ok(())
    }

    /// Every descriptor with its file and close-on-exec flag, in order
    /// (`/proc/<pid>/fd` and `fdinfo`).
    pub fn entries(&self) -> Vec<(i32, Arc<OpenFile>, bool)> {
        self.inner
            .lock()
            .iter()
            .map(|(&fd, e)| (fd, Arc::clone(&e.file), e.cloexec))
            .collect()
    }

    /// A copy for fork (same open file descriptions, same limit and
    /// budget): ENOMEM when the copy's slots would pass the sandbox's
    /// budget (as Linux's dup_fd fails when it cannot allocate the copy).
    pub fn fork(&self) -> Result<Arc<Self>, Errno> {
        let table = Self::empty(Arc::clone(&self.budget), self.nofile());
        let copy = self.inner.lock().clone();
        self.budget
            .take(copy.len() as u64)
            .map_err(|_| Errno::ENOMEM)?;
        *table.inner.lock() = copy;
        Ok(Arc::new(table))
    }

    /// Closes the close-on-exec descriptors (execve); files are dropped
    /// outside the lock.
    pub fn close_on_exec(&self) {
        let mut inner = self.inner.lock();
        let gone: Vec<FdEntry> = inner
            .extract_if(.., |_, e| e.cloexec)
            .map(|(_, e)| e)
            .collect();
        drop(inner);
        self.budget.give(gone.len() as u64);
        for e in &gone {
            self.closed(&e.file);
        }
        drop(gone);
    }

    /// Closes every descriptor (process exit); files are dropped outside
    /// the lock.
    pub fn close_all(&self) {
        let files = std::mem::take(&mut *self.inner.lock());
        self.budget.give(files.len() as u64);
        for e in files.values() {
            crate::kernel::ipc::mqueue::flush(&e.file);
        }
        if let Some(t) = self.locks.get() {
            t.release_owner(lock::Owner::Posix(self.lock_id));
        }
        drop(files);
    }
}

#[cfg(test)]
mod stat_tests {
    use super::Stat;
    use crate::abi::Abi;

    /// fstat's bytes are abi::fs::Stat's: the fields at Linux's offsets,
    /// the times as (atime, mtime, ctime) timespecs, padding zero.
    #[test]
    fn stat_reaches_the_guest_through_the_abi_encoder() {
        let st = Stat {
            mode: 0o100644,
            ino: 42,
            dev: 0x803,
            rdev: 0,
            size: 1234,
            blksize: 4096,
            nlink: 2,
            uid: 1000,
            gid: 100,
            blocks: 8,
            times: [(1, 2), (3, 4), (5, 6)],
        };
        let b = st.to_abi().to_bytes();
        let at = |off: usize| i64::from_le_bytes(b[off..off + 8].try_into().unwrap());
        assert_eq!(b.len(), 144);
        assert_eq!((at(0), at(8), at(16)), (0x803, 42, 2));
        assert_eq!(u32::from_le_bytes(b[24..28].try_into().unwrap()), 0o100644);
        assert_eq!(u32::from_le_bytes(b[28..32].try_into().unwrap()), 1000);
        assert_eq!(u32::from_le_bytes(b[32..36].try_into().unwrap()), 100);
        assert_eq!(&b[36..40], &[0; 4]);
        assert_eq!((at(48), at(56), at(64)), (1234, 4096, 8));
        assert_eq!(
            (at(72), at(80), at(88), at(96), at(104), at(112)),
            (1, 2, 3, 4, 5, 6)
        );
        assert!(b[120..].iter().all(|&c| c == 0));
    }
}

#[cfg(test)]
mod limit_tests {
    use super::*;

    fn null() -> Arc<OpenFile> {
        OpenFile::new(Box::new(rootfs::DevNull), 0)
    }

    /// RLIMIT_NOFILE: EMFILE at the limit, dup2 past it EBADF; a raised
    /// limit makes room at once.
    #[test]
    fn nofile_bounds_new_descriptors() {
        let t = FdTable::new();
        t.set_nofile(3);
        assert_eq!(t.insert(null(), false, 0), Ok(0));
        assert_eq!(t.insert(null(), false, 0), Ok(1));
        assert_eq!(t.insert(null(), false, 0), Ok(2));
        assert_eq!(t.insert(null(), false, 0), Err(Errno::EMFILE));
        assert_eq!(t.insert_at(3, null(), false).err(), Some(Errno::EBADF));
        assert!(
            t.insert_at(2, null(), false).is_ok(),
            "replacing below the limit"
        );
        t.set_nofile(5);
        assert_eq!(t.insert(null(), false, 0), Ok(3));
        assert!(t.insert_at(4, null(), false).is_ok());
    }

    /// `--max-files`: slots count across tables (forks included), ENFILE
    /// past the budget, a fork's copy ENOMEM; closing and dropping give
    /// slots back.
    #[test]
    fn the_budget_is_shared_by_forked_tables() {
        let budget = FileBudget::new(5);
        let a = FdTable::with_budget(Arc::clone(&budget));
        for _ in 0..2 {
            a.insert(null(), false, 0).unwrap();
        }
        let b = a.fork().expect("2 + 2 fit in 5");
        assert_eq!(budget.used(), 4);
        assert_eq!(b.insert(null(), false, 0), Ok(2));
        assert_eq!(a.insert(null(), false, 0), Err(Errno::ENFILE));
        assert_eq!(a.insert_at(9, null(), false).err(), Some(Errno::ENFILE));
        assert!(
            a.insert_at(1, null(), false).is_ok(),
            "replacing takes no slot"
        );
        assert_eq!(a.fork().err(), Some(Errno::ENOMEM));
        b.remove(0).unwrap();
        assert_eq!(budget.used(), 4);
        b.close_all();
        assert_eq!(budget.used(), 2);
        drop(a);
        assert_eq!(budget.used(), 0);
    }
}

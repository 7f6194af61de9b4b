//! The root filesystem: a host directory shown to the guest read-only, or,
//! by default, nothing at all (then only the sentry's own /proc, /dev and
//! /sys exist, [`super::synthetic`]).
//!
//! The sentry resolves every path itself, one component at a time, with
//! `openat(O_PATH | O_NOFOLLOW)` relative to the directory reached so far
//! (the host kernel never follows a symbolic link for it):
//!
//! * `..` stops at the root, and a symbolic link is resolved inside the
//!   root (an absolute target starts again from the guest's `/`), as in a
//!   chroot;
//! * `/proc`, `/sys` and `/dev` of the guest are the sentry's own
//!   ([`super::synthetic`], generated from the sandbox's state): a path
//!   that reaches them, typed or through links and `..`, is a
//!   [`Lookup::Sentry`] path, never a host one;
//! * whatever a component resolves to on the host is refused (ENOENT) when
//!   it is the host's `/proc`, `/sys` or `/dev` (found by device and inode,
//!   so bind mounts are caught too), lies on one of the host's
//!   `/dev`-like mounts, or lies on a kernel pseudo filesystem (procfs,
//!   sysfs, devpts, cgroup, debugfs, securityfs..., by `statfs` type);
//! * host device nodes, FIFOs and sockets are inert inodes: stat, lstat and
//!   getdents show them as they are, open gives EACCES for a device (ENXIO
//!   for a socket, as Linux), and only an `O_PATH` descriptor (which can be
//!   neither read nor written) refers to the host object. Opening a FIFO
//!   gives a pipe of the sandbox's own ([`super::fifo`]), keyed by the host
//!   inode, never the host's FIFO. The sentry itself opens for reading only
//!   regular files and directories, with `O_NOFOLLOW | O_NONBLOCK |
//!   O_NOCTTY`, and checks that it got the inode it looked up.
//!
//! Files are opened read-only; anything that would write gets EROFS.

use std::collections::VecDeque;
use std::fs::{File, Metadata};
use std::os::fd::AsFd;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

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

/// Symbolic links followed in one lookup at most (Linux's MAXSYMLINKS).
const MAX_LINKS: u32 = 40;

/// Most entries one host directory shows (bounds the sentry's memory).
const MAX_DIR_ENTRIES: usize = 1 << 20;

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

/// Whether the first component of `rel` names one of the sentry's trees.
fn in_sentry_tree(rel: &Path) -> bool {
    rel.components()
        .next()
        .is_some_and(|c| HIDDEN.iter().any(|h| c.as_os_str() == *h))
}

/// The components of `path` other than empty ones and `.`.
fn components(path: &[u8]) -> VecDeque<Vec<u8>> {
    path.split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(<[u8]>::to_vec)
        .collect()
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

/// The host directory behind the guest's `/`.
struct Root {
    /// `O_PATH` descriptor of the directory.
    fd: Arc<File>,
    hidden: Arc<Hidden>,
}

/// The root filesystem.
pub struct RootFs {
    root: Option<Root>,
}

/// Where a guest path leads.
pub enum Lookup {
    /// A host object inside the root.
    Host(Box<Resolved>),
    /// A path in the sentry's own `/proc`, `/sys` or `/dev`, normalized
    /// and relative (for example `dev/null`); what exists there is the
    /// sentry's to say.
    Sentry(PathBuf),
}

/// A host object found inside the root: held by an `O_PATH` descriptor
/// (which cannot read, write or trigger a device's open).
pub struct Resolved {
    /// The absolute guest path, with links and `..` resolved.
    pub guest: Vec<u8>,
    /// lstat of the object.
    pub meta: Metadata,
    fd: Arc<File>,
    /// The directory holding it (None for the root itself) and its name there.
    parent: Option<Arc<File>>,
    name: Vec<u8>,
    /// Inode number of the parent directory (the root's own for the root).
    parent_ino: u64,
    hidden: Arc<Hidden>,
}

struct Node {
    name: Vec<u8>,
    fd: Arc<File>,
    meta: Metadata,
}

impl RootFs {
    /// The root at host directory `root`, or no filesystem at all (also
    /// when `root` cannot be opened as a directory: the caller checks it).
    pub fn new(root: Option<&Path>) -> Self {
        use std::os::unix::fs::OpenOptionsExt;
        let root = root.and_then(|r| {
            std::fs::OpenOptions::new()
                .read(true)
                .custom_flags(libc::O_PATH | libc::O_DIRECTORY | libc::O_CLOEXEC)
                .open(r)
                .map_err(|e| tracing::warn!("cannot open the root {}: {e}", r.display()))
                .ok()
        });
        Self {
            root: root.map(|fd| Root {
                fd: Arc::new(fd),
                hidden: Arc::new(Hidden::of_host()),
            }),
        }
    }

    /// Whether there is a host directory behind `/`.
    pub fn has_root(&self) -> bool {
        self.root.is_some()
    }

    /// Resolves `path` (absolute, or relative to the guest directory
    /// `base`). With `follow`, a final symbolic link is followed.
    pub fn resolve(&self, base: &[u8], path: &[u8], follow: bool) -> Result<Lookup, Errno> {
        if path.is_empty() {
            return Err(Errno::ENOENT);
        }
        if path.len() >= 4096 {
            return Err(Errno::ENAMETOOLONG);
        }
        let mut full = Vec::new();
        if !path.starts_with(b"/") {
            full.extend_from_slice(base);
            full.push(b'/');
        }
        full.extend_from_slice(path);
        let Some(root) = &self.root else {
            let rel = normalize(&full);
            return if in_sentry_tree(&rel) {
                Ok(Lookup::Sentry(rel))
            } else {
                Err(Errno::ENOENT)
            };
        };
        root.walk(&full, follow)
    }
}

impl Root {
    /// Path walk from the root, one component at a time.
    fn walk(&self, full: &[u8], follow: bool) -> Result<Lookup, Errno> {
        let io = |e: std::io::Error| io_errno(&e);
        // A trailing slash, `.` or `..` asks for a directory (and follows
        // a final link).
        let must_dir = full.ends_with(b"/") || full.ends_with(b"/.") || full.ends_with(b"/..");
        let follow = follow || must_dir;
        let mut queue = components(full);
        let mut stack = vec![Node {
            name: Vec::new(),
            fd: Arc::clone(&self.fd),
            meta: self.fd.metadata().map_err(io)?,
        }];
        let mut links = 0;
        while let Some(c) = queue.pop_front() {
            if c == b".." {
                if stack.len() > 1 {
                    stack.pop();
                }
                continue;
            }
            if stack.len() == 1 && HIDDEN.iter().any(|h| c == h.as_bytes()) {
                // The sentry's own tree: what is left is looked up there.
                let mut rest = c.clone();
                for q in &queue {
                    rest.push(b'/');
                    rest.extend_from_slice(q);
                }
                let rel = normalize(&rest);
                if in_sentry_tree(&rel) {
                    return Ok(Lookup::Sentry(rel));
                }
                queue = components(rel.as_os_str().as_bytes());
                continue;
            }
            let last = queue.is_empty();
            let dir = Arc::clone(&stack.last().expect("the root stays").fd);
            let fd =
                hostfs::openat(dir.as_fd(), &c, libc::O_PATH | libc::O_NOFOLLOW).map_err(io)?;
            let file = File::from(fd);
            let meta = file.metadata().map_err(io)?;
            if meta.file_type().is_symlink() {
                if !last || follow {
                    links += 1;
                    if links > MAX_LINKS {
                        return Err(Errno::ELOOP);
                    }
                    let target = hostfs::readlinkat(dir.as_fd(), &c).map_err(io)?;
                    if target.is_empty() {
                        return Err(Errno::ENOENT);
                    }
                    if target.starts_with(b"/") {
                        stack.truncate(1);
                    }
                    for t in components(&target).into_iter().rev() {
                        queue.push_front(t);
                    }
                    continue;
                }
            } else if self.hidden.hides(&file, &meta) {
                return Err(Errno::ENOENT);
            }
            if !last && !meta.is_dir() {
                return Err(Errno::ENOTDIR);
            }
            stack.push(Node {
                name: c,
                fd: Arc::new(file),
                meta,
            });
        }
        let node = stack.pop().expect("the root stays");
        if must_dir && !node.meta.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        let mut guest = Vec::new();
        for n in stack.iter().skip(1).chain(std::iter::once(&node)) {
            guest.push(b'/');
            guest.extend_from_slice(&n.name);
        }
        if guest.is_empty() {
            guest.push(b'/');
        }
        let (parent, parent_ino) = match stack.last() {
            Some(p) => (Some(Arc::clone(&p.fd)), p.meta.ino()),
            None => (None, node.meta.ino()),
        };
        Ok(Lookup::Host(Box::new(Resolved {
            guest,
            meta: node.meta,
            fd: node.fd,
            parent,
            name: node.name,
            parent_ino,
            hidden: Arc::clone(&self.hidden),
        })))
    }
}

impl Resolved {
    /// Opens a regular file or a directory for reading (EACCES for
    /// anything else: the sentry never opens a host device, FIFO or
    /// socket). The open cannot follow a link, block or take a terminal,
    /// and must find the very inode that was looked up.
    pub fn open(&self) -> Result<File, Errno> {
        let ft = self.meta.file_type();
        if !(ft.is_file() || ft.is_dir()) {
            return Err(Errno::EACCES);
        }
        let mut flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_NOCTTY;
        if ft.is_dir() {
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
            // Replaced on the host between the lookup and the open.
            return Err(Errno::ENOENT);
        }
        Ok(file)
    }

    /// The target of a symbolic link (EINVAL for anything else).
    pub fn read_link(&self) -> Result<Vec<u8>, Errno> {
        match &self.parent {
            Some(p) if self.meta.file_type().is_symlink() => {
                hostfs::readlinkat(p.as_fd(), &self.name).map_err(|e| io_errno(&e))
            }
            _ => Err(Errno::EINVAL),
        }
    }

    /// What stat (or lstat, without following) shows.
    pub fn stat(&self) -> Stat {
        Stat::from_metadata(&self.meta)
    }
}

/// A regular file of the root, opened read-only.
pub struct HostFile {
    file: File,
    pos: Mutex<u64>,
    name: Vec<u8>,
}

impl HostFile {
    /// A regular file opened read-only, named `name` in traces.
    pub fn from_file(file: File, name: Vec<u8>) -> Self {
        Self {
            file,
            pos: Mutex::new(0),
            name,
        }
    }

    /// Opens the regular file `r` read-only.
    pub fn open(r: &Resolved) -> Result<Self, Errno> {
        if !r.meta.is_file() {
            return Err(Errno::EACCES);
        }
        Ok(Self {
            file: r.open()?,
            pos: Mutex::new(0),
            name: r.guest.clone(),
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
    file: File,
    guest: Vec<u8>,
    parent_ino: u64,
    hidden: Arc<Hidden>,
    /// Entries (name, inode, d_type), read at the first getdents.
    entries: Mutex<Option<Vec<DirEntry>>>,
    pos: Mutex<usize>,
}

impl HostDir {
    /// Opens the directory `r`.
    pub fn open(r: &Resolved) -> Result<Self, Errno> {
        if !r.meta.is_dir() {
            return Err(Errno::ENOTDIR);
        }
        Ok(Self {
            file: r.open()?,
            guest: r.guest.clone(),
            parent_ino: r.parent_ino,
            hidden: Arc::clone(&r.hidden),
            entries: Mutex::new(None),
            pos: Mutex::new(0),
        })
    }

    fn load(&self) -> Result<Vec<DirEntry>, Errno> {
        let meta = self.file.metadata().map_err(|e| io_errno(&e))?;
        let mut v = vec![
            (b".".to_vec(), meta.ino(), 4),
            (b"..".to_vec(), self.parent_ino, 4),
        ];
        let top = self.guest == b"/";
        let list =
            hostfs::read_dir(self.file.as_fd(), MAX_DIR_ENTRIES).map_err(|e| io_errno(&e))?;
        for (name, ino, d_type) in list {
            if top && HIDDEN.iter().any(|h| name == h.as_bytes()) {
                continue;
            }
            // A directory may be a mount of a hidden filesystem.
            if matches!(d_type, 0 | 4) {
                let hidden =
                    hostfs::openat(self.file.as_fd(), &name, libc::O_PATH | libc::O_NOFOLLOW)
                        .ok()
                        .map(File::from)
                        .and_then(|f| f.metadata().ok().map(|m| self.hidden.hides(&f, &m)));
                if hidden != Some(false) {
                    continue;
                }
            }
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
        self.file
            .metadata()
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

/// An `O_PATH` descriptor: it names an object (a host one of any type, or
/// one of the sentry's own files) for fstat, fchdir and *at() calls, and
/// can be neither read nor written.
pub struct PathFile {
    target: PathTarget,
    guest: Vec<u8>,
    is_dir: bool,
}

enum PathTarget {
    /// The host object, held by its `O_PATH` descriptor.
    Host(Arc<File>),
    /// One of the sentry's files: what fstat shows.
    Sentry(Stat),
}

impl PathFile {
    /// An `O_PATH` descriptor for `r`.
    pub fn new(r: &Resolved) -> Self {
        Self {
            target: PathTarget::Host(Arc::clone(&r.fd)),
            guest: r.guest.clone(),
            is_dir: r.meta.is_dir(),
        }
    }

    /// An `O_PATH` descriptor for a node of the sentry's own trees (or
    /// a file reached through an fd link), at guest path `guest`.
    pub fn synthetic(stat: Stat, guest: Vec<u8>, is_dir: bool) -> Self {
        Self {
            target: PathTarget::Sentry(stat),
            guest,
            is_dir,
        }
    }
}

impl FileOps for PathFile {
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
        match &self.target {
            PathTarget::Host(fd) => fd
                .metadata()
                .map(|m| Stat::from_metadata(&m))
                .unwrap_or_default(),
            PathTarget::Sentry(st) => *st,
        }
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

    fn getdents(&self, _: usize) -> Result<Vec<u8>, Errno> {
        Err(Errno::EBADF)
    }

    fn dir_path(&self) -> Option<Vec<u8>> {
        self.is_dir.then(|| self.guest.clone())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn host(l: Result<Lookup, Errno>) -> Result<Resolved, Errno> {
        match l? {
            Lookup::Host(r) => Ok(*r),
            Lookup::Sentry(p) => panic!("unexpected sentry path {p:?}"),
        }
    }

    #[test]
    fn paths_stay_inside_the_root() {
        assert_eq!(normalize(b"/../../etc/passwd"), PathBuf::from("etc/passwd"));
        assert_eq!(normalize(b"/a/./b/../c"), PathBuf::from("a/c"));
        let dir = std::env::temp_dir().join(format!("rootfs-test-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("etc")).unwrap();
        std::fs::create_dir_all(dir.join("a/b")).unwrap();
        std::fs::write(dir.join("etc/motd"), b"hi").unwrap();
        std::fs::write(dir.join("etc/passwd"), b"guest").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.join("out")).unwrap();
        std::os::unix::fs::symlink("../../../../../../etc/motd", dir.join("a/b/up")).unwrap();
        std::os::unix::fs::symlink("/proc/mounts", dir.join("etc/mtab")).unwrap();
        std::os::unix::fs::symlink("loop", dir.join("loop")).unwrap();
        let fs = RootFs::new(Some(&dir));
        let r = host(fs.resolve(b"/", b"../../etc/motd", true)).unwrap();
        assert_eq!(r.guest, b"/etc/motd");
        // An absolute link target starts from the guest's root (chroot).
        let r = host(fs.resolve(b"/", b"out", true)).unwrap();
        assert_eq!(r.guest, b"/etc/passwd");
        let mut text = String::new();
        std::io::Read::read_to_string(&mut r.open().unwrap(), &mut text).unwrap();
        assert_eq!(text, "guest");
        let r = host(fs.resolve(b"/", b"out", false)).unwrap();
        assert!(r.meta.file_type().is_symlink(), "the link itself");
        assert_eq!(r.read_link().unwrap(), b"/etc/passwd");
        let r = host(fs.resolve(b"/a", b"b/up", true)).unwrap();
        assert_eq!(r.guest, b"/etc/motd");
        match fs.resolve(b"/", b"/etc/mtab", true) {
            Ok(Lookup::Sentry(p)) => assert_eq!(p, PathBuf::from("proc/mounts")),
            _ => panic!("/etc/mtab must lead to the sentry's /proc"),
        }
        assert!(matches!(
            fs.resolve(b"/", b"/proc/self/status", true),
            Ok(Lookup::Sentry(_))
        ));
        assert_eq!(
            fs.resolve(b"/etc", b"nope", true).err(),
            Some(Errno::ENOENT)
        );
        assert_eq!(
            fs.resolve(b"/", b"etc/motd/x", true).err(),
            Some(Errno::ENOTDIR)
        );
        assert_eq!(fs.resolve(b"/", b"loop", true).err(), Some(Errno::ELOOP));
        assert_eq!(
            fs.resolve(b"/", b"etc/motd/", true).err(),
            Some(Errno::ENOTDIR)
        );
        assert_eq!(
            fs.resolve(b"/", b"etc/motd/.", true).err(),
            Some(Errno::ENOTDIR)
        );
        // `..` of the root is the root.
        let root = host(fs.resolve(b"/", b"/..", true)).unwrap();
        assert_eq!(root.guest, b"/");
        assert_eq!(root.parent_ino, root.meta.ino());
        let _ = std::fs::remove_dir_all(&dir);
    }
}

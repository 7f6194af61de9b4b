//! The sentry's synthetic file systems, /proc, /dev and /sys: nodes made
//! from the sandbox's own state when they are looked up (directories,
//! generated text, symbolic links, magic links to open files, devices),
//! the path walk through them, and the open files they give.
//!
//! A walk starts with a path relative to the guest's `/` whose first
//! component is `proc`, `dev` or `sys` ([`super::rootfs::Lookup::Sentry`]).
//! Links are followed inside these trees; one that leads out of them
//! (`/proc/self/cwd`, `/proc/self/exe`, `/proc/<pid>/fd/<n>` of a file of
//! the root) ends the walk with the guest path to resolve in the root,
//! and the fd links of pipes and anonymous files end it with the open
//! file itself, as Linux's magic links do.

use std::path::Path;
use std::sync::Arc;

use parking_lot::Mutex;

use super::{FileOps, OpenFile, Stat, poll};
use crate::errno::Errno;
use crate::kernel::task::Task;
use crate::kernel::wait::Blocker;

/// `d_type` of a directory.
pub const DT_DIR: u8 = 4;
/// `d_type` of a regular file.
pub const DT_REG: u8 = 8;
/// `d_type` of a symbolic link.
pub const DT_LNK: u8 = 10;
/// `d_type` of a character device.
pub const DT_CHR: u8 = 2;

/// Symbolic links followed in one walk at most (Linux's MAXSYMLINKS).
const MAX_LINKS: u32 = 40;

/// Which synthetic file system a node is on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fs {
    /// /proc.
    Proc,
    /// /dev.
    Dev,
    /// /sys.
    Sys,
}

impl Fs {
    /// st_dev of the file system (an anonymous block device, 0:N).
    pub fn dev(self) -> u64 {
        match self {
            Fs::Dev => 0x5,
            Fs::Proc => 0x15,
            Fs::Sys => 0x16,
        }
    }
}

/// A directory entry: name and `d_type`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Entry {
    /// Name.
    pub name: Vec<u8>,
    /// `d_type`.
    pub kind: u8,
}

impl Entry {
    /// An entry.
    pub fn new(name: impl Into<Vec<u8>>, kind: u8) -> Self {
        Self {
            name: name.into(),
            kind,
        }
    }
}

/// What a write to a writable generated file does.
pub type WriteHook = Box<dyn Fn(&[u8]) -> Result<usize, Errno> + Send + Sync>;

/// A character device of /dev.
pub type DeviceOpen = fn(&Task) -> Result<Box<dyn FileOps>, Errno>;

/// What a path of the synthetic trees is.
pub enum Node {
    /// A directory and its entries (without `.` and `..`).
    Dir(Vec<Entry>),
    /// A regular file: its text, made now.
    File(Vec<u8>),
    /// A regular file whose writes go to `hook` (`/proc/<pid>/comm`).
    Writable(Vec<u8>, WriteHook),
    /// A symbolic link: its target (absolute, or relative to the link's
    /// directory).
    Link(Vec<u8>),
    /// `/proc/<pid>/fd/<n>`: readlink shows `target`; following it
    /// reopens the file's path, or gives the open file itself.
    FdLink {
        /// What readlink shows.
        target: Vec<u8>,
        /// The file.
        file: Arc<OpenFile>,
    },
    /// A character device: (major, minor) and how to open it.
    Device((u32, u32), DeviceOpen),
}

/// A node with its place: what lookup finds.
pub struct Found {
    /// The node.
    pub node: Node,
    /// Its absolute guest path (links before it resolved).
    pub path: Vec<u8>,
    /// The file system.
    pub fs: Fs,
    /// Permission bits.
    pub perm: u32,
}

/// An inode number for a synthetic path (stable for the path).
pub fn ino_of(path: &[u8]) -> u64 {
    // FNV-1a, kept clear of the small numbers Linux gives roots.
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in path {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    (h & 0xffff_ffff) | 0x100
}

impl Found {
    /// What stat (or lstat) shows.
    pub fn stat(&self) -> Stat {
        let (kind, nlink, rdev, size) = match &self.node {
            Node::Dir(e) => (
                0o040000,
                2 + e.iter().filter(|x| x.kind == DT_DIR).count() as u64,
                0,
                0,
            ),
            Node::File(_) | Node::Writable(..) => (0o100000, 1, 0, 0),
            Node::Link(t) => (0o120000, 1, 0, t.len() as i64),
            Node::FdLink { .. } => (0o120000, 1, 0, 64),
            Node::Device((ma, mi), _) => (0o020000, 1, (u64::from(*ma) << 8) | u64::from(*mi), 0),
        };
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let t = (now.as_secs() as i64, i64::from(now.subsec_nanos()));
        Stat {
            mode: kind | self.perm,
            ino: ino_of(&self.path),
            dev: self.fs.dev(),
            rdev,
            size,
            blksize: 1024,
            nlink,
            times: [t; 3],
            ..Default::default()
        }
    }

    /// Opens the node (a link must have been followed already).
    pub fn open(self, task: &Arc<Task>) -> Result<Box<dyn FileOps>, Errno> {
        let stat = self.stat();
        let name = String::from_utf8_lossy(&self.path).into_owned();
        match self.node {
            Node::Dir(_) => Ok(Box::new(SynthDir::new(self.path, stat, task))),
            Node::File(text) => Ok(Box::new(TextFile::new(name, stat, text))),
            Node::Writable(text, hook) => {
                let mut f = TextFile::new(name, stat, text);
                f.hook = Some(hook);
                Ok(Box::new(f))
            }
            Node::Device(_, open) => open(task),
            Node::Link(_) | Node::FdLink { .. } => Err(Errno::ELOOP),
        }
    }
}

/// Where a walk through the synthetic trees ends.
pub enum Walked {
    /// A node of the trees.
    Node(Found),
    /// A link led out of the trees: this absolute guest path is resolved
    /// from the root (with `follow` for its last component).
    Outside(Vec<u8>),
    /// A followed fd link of a pipe or anonymous file: the file itself.
    File(Arc<OpenFile>),
}

/// Looks up one path (no link followed): `comps` starts with `proc`,
/// `dev` or `sys`.
fn lookup(task: &Arc<Task>, comps: &[Vec<u8>]) -> Result<Found, Errno> {
    let mut path = Vec::new();
    for c in comps {
        path.push(b'/');
        path.extend_from_slice(c);
    }
    let rest = &comps[1..];
    match comps[0].as_slice() {
        b"proc" => super::proc::lookup(task, rest, path),
        b"dev" => super::dev::lookup_dev(task, rest, path),
        b"sys" => super::dev::lookup_sys(rest, path),
        _ => Err(Errno::ENOENT),
    }
}

/// Whether an absolute guest path lies in the synthetic trees.
fn in_trees(comps: &[Vec<u8>]) -> bool {
    comps
        .first()
        .is_some_and(|c| matches!(c.as_slice(), b"proc" | b"dev" | b"sys"))
}

/// Pushes the components of `path` (already absolute or relative to what
/// `out` holds) onto `out`, `..` popping.
fn push_path(out: &mut Vec<Vec<u8>>, path: &[u8]) {
    if path.starts_with(b"/") {
        out.clear();
    }
    for c in path.split(|&b| b == b'/') {
        match c {
            b"" | b"." => {}
            b".." => {
                out.pop();
            }
            c => out.push(c.to_vec()),
        }
    }
}

/// Walks `rel` (a normalized path in the trees, `proc/self/fd/3`),
/// following links inside the trees; with `follow`, a final link too.
/// `must_dir`: a trailing slash asks for a directory.
pub fn walk(task: &Arc<Task>, rel: &Path, follow: bool) -> Result<Walked, Errno> {
    use std::os::unix::ffi::OsStrExt;
    let mut todo: std::collections::VecDeque<Vec<u8>> = rel
        .iter()
        .map(|c| c.as_bytes().to_vec())
        .filter(|c| !c.is_empty())
        .collect();
    let mut done: Vec<Vec<u8>> = Vec::new();
    let mut links = 0;
    while let Some(c) = todo.pop_front() {
        if c == b".." {
            done.pop();
            continue;
        }
        if c == b"." {
            continue;
        }
        done.push(c);
        if !in_trees(&done) {
            // `..` led out of the trees: the rest is the root's.
            let mut out = Vec::new();
            for c in done.iter().chain(todo.iter()) {
                out.push(b'/');
                out.extend_from_slice(c);
            }
            return Ok(Walked::Outside(if out.is_empty() {
                b"/".to_vec()
            } else {
                out
            }));
        }
        let last = todo.is_empty();
        let found = lookup(task, &done)?;
        let target = match &found.node {
            Node::Link(t) if !last || follow => t.clone(),
            Node::FdLink { file, .. } if !last || follow => match file.ops.reopen_path() {
                Some(p) => p,
                None if last => return Ok(Walked::File(Arc::clone(file))),
                None => return Err(Errno::ENOTDIR),
            },
            _ => {
                if !last && !matches!(found.node, Node::Dir(_)) {
                    return Err(Errno::ENOTDIR);
                }
                if last {
                    return Ok(Walked::Node(found));
                }
                continue;
            }
        };
        links += 1;
        if links > MAX_LINKS {
            return Err(Errno::ELOOP);
        }
        done.pop();
        if target.is_empty() {
            return Err(Errno::ENOENT);
        }
        let mut next = done.clone();
        push_path(&mut next, &target);
        if !in_trees(&next) {
            let mut out = Vec::new();
            for c in next.iter().chain(todo.iter()) {
                out.push(b'/');
                out.extend_from_slice(c);
            }
            if out.is_empty() {
                out.push(b'/');
            }
            return Ok(Walked::Outside(out));
        }
        for c in next.into_iter().rev() {
            todo.push_front(c);
        }
        done.clear();
    }
    // Only reached for an empty path.
    Err(Errno::ENOENT)
}

/// Encodes directory entries as `linux_dirent64` from index `*pos`, at
/// most `max` bytes; EINVAL if not even one fits.
pub fn encode_dirents(
    list: &[(Vec<u8>, u64, u8)],
    pos: &mut usize,
    max: usize,
) -> Result<Vec<u8>, Errno> {
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

/// An open directory of the synthetic trees. Its entries are listed at
/// the first getdents (and again after a rewind), as Linux's readdir of
/// /proc lists what exists then (an `ls /proc/self/fd` shows the
/// directory's own descriptor).
pub struct SynthDir {
    path: Vec<u8>,
    stat: Stat,
    /// Who looks (for `self`); weak, so an open directory does not keep
    /// its opener alive.
    viewer: std::sync::Weak<Task>,
    entries: Mutex<Option<Vec<(Vec<u8>, u64, u8)>>>,
    pos: Mutex<usize>,
}

impl SynthDir {
    /// The directory at `path`, opened by `viewer`.
    pub fn new(path: Vec<u8>, stat: Stat, viewer: &Arc<Task>) -> Self {
        Self {
            path,
            stat,
            viewer: Arc::downgrade(viewer),
            entries: Mutex::new(None),
            pos: Mutex::new(0),
        }
    }

    /// The entries now, `.` and `..` first (none once the directory is
    /// gone: a process reaped since).
    fn list(&self) -> Vec<(Vec<u8>, u64, u8)> {
        let parent = match self.path.iter().rposition(|&b| b == b'/') {
            Some(0) | None => b"/".to_vec(),
            Some(i) => self.path[..i].to_vec(),
        };
        let mut list = vec![
            (b".".to_vec(), self.stat.ino, DT_DIR),
            (b"..".to_vec(), ino_of(&parent), DT_DIR),
        ];
        let comps: Vec<Vec<u8>> = self
            .path
            .split(|&b| b == b'/')
            .filter(|c| !c.is_empty())
            .map(<[u8]>::to_vec)
            .collect();
        let entries = match self.viewer.upgrade().map(|t| lookup(&t, &comps)) {
            Some(Ok(Found {
                node: Node::Dir(e), ..
            })) => e,
            _ => Vec::new(),
        };
        for e in entries {
            let mut p = self.path.clone();
            p.push(b'/');
            p.extend_from_slice(&e.name);
            list.push((e.name, ino_of(&p), e.kind));
        }
        list
    }
}

impl FileOps for SynthDir {
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
        self.stat
    }

    fn seek(&self, offset: i64, whence: u32) -> Result<u64, Errno> {
        if whence != 0 || offset < 0 {
            return Err(Errno::EINVAL);
        }
        if offset == 0 {
            // rewinddir: list again.
            *self.entries.lock() = None;
        }
        *self.pos.lock() = offset as usize;
        Ok(offset as u64)
    }

    fn getdents(&self, max: usize) -> Result<Vec<u8>, Errno> {
        // Listed with no lock of this file held (listing takes the
        // kernel's locks, which come first).
        if self.entries.lock().is_none() {
            let list = self.list();
            self.entries.lock().get_or_insert(list);
        }
        let entries = self.entries.lock();
        let list = entries.as_deref().unwrap_or_default();
        encode_dirents(list, &mut self.pos.lock(), max)
    }

    fn dir_path(&self) -> Option<Vec<u8>> {
        Some(self.path.clone())
    }

    fn reopen_path(&self) -> Option<Vec<u8>> {
        Some(self.path.clone())
    }

    fn describe(&self) -> String {
        String::from_utf8_lossy(&self.path).into_owned()
    }
}

/// A generated file of /proc or /sys: its text, made when it was opened
/// (as Linux's seq_file makes it at the first read).
pub struct TextFile {
    name: String,
    stat: Stat,
    text: Vec<u8>,
    pos: Mutex<u64>,
    hook: Option<WriteHook>,
}

impl TextFile {
    /// A file named `name` holding `text`.
    pub fn new(name: String, stat: Stat, text: Vec<u8>) -> Self {
        Self {
            name,
            stat,
            text,
            pos: Mutex::new(0),
            hook: None,
        }
    }
}

impl FileOps for TextFile {
    fn read(&self, buf: &mut [u8], _: bool, _: &dyn Blocker) -> Result<usize, Errno> {
        let mut pos = self.pos.lock();
        let n = self.pread(buf, *pos)?;
        *pos += n as u64;
        Ok(n)
    }

    fn write(&self, buf: &[u8], _: bool, _: &dyn Blocker) -> Result<usize, Errno> {
        match &self.hook {
            Some(hook) => hook(buf),
            // A seq_file without a write operation (root may open it for
            // writing; the write itself fails).
            None => Err(Errno::EINVAL),
        }
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
            // SEEK_END of a seq_file: EINVAL, as Linux.
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

    fn reopen_path(&self) -> Option<Vec<u8>> {
        Some(self.name.clone().into_bytes())
    }

    fn describe(&self) -> String {
        self.name.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_push_and_pop() {
        let mut v = vec![b"proc".to_vec(), b"self".to_vec()];
        push_path(&mut v, b"../1/task");
        assert_eq!(v, [b"proc".to_vec(), b"1".to_vec(), b"task".to_vec()]);
        push_path(&mut v, b"/proc/self/fd");
        assert_eq!(v.len(), 3);
        assert_eq!(v[2], b"fd");
    }

    #[test]
    fn dirents_stop_at_the_buffer() {
        let list = vec![(b".".to_vec(), 1, DT_DIR), (b"status".to_vec(), 2, DT_REG)];
        let mut pos = 0;
        assert_eq!(encode_dirents(&list, &mut pos, 10), Err(Errno::EINVAL));
        let one = encode_dirents(&list, &mut pos, 30).unwrap();
        assert_eq!((one.len(), pos), (24, 1));
        let two = encode_dirents(&list, &mut pos, 4096).unwrap();
        assert_eq!((two.len(), pos), (32, 2));
        assert_eq!(&two[19..25], b"status");
    }

    #[test]
    fn inode_numbers_are_stable_and_distinct() {
        assert_eq!(ino_of(b"/proc/1"), ino_of(b"/proc/1"));
        assert_ne!(ino_of(b"/proc/1"), ino_of(b"/proc/2"));
    }
}

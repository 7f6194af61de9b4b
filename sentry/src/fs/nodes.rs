//! The sentry's /proc, /dev and /sys as plain trees of [`Node`]s made
//! from the sandbox's own state when a path is looked up
//! ([`super::proc`], [`super::dev`]), and their mounts on the VFS's
//! synthetic interface ([`super::synthetic`]): [`procfs`], [`devfs`] and
//! [`sysfs`].
//!
//! A node is what one path is now: a directory and its entries, a file
//! and its text, a symbolic link, a magic link to a place (`exe`, `cwd`,
//! `root`, `fd/<n>`), or a device. `/proc/<pid>/fd/<n>` leads to the
//! file's place in the tree when it has one (a file of the root,
//! /dev/null), and otherwise (a pipe, a pidfd) to the open file itself,
//! as Linux's magic links do: opening it reaches the same pipe.

use std::any::Any;
use std::sync::{Arc, Weak};

use super::synthetic::{SynthDir, SynthFs, SynthNode};
use super::vfs::{Caller, Dentry, FileType, Inode, Path};
use super::{FileOps, IoctlReply, OpenFile, Stat};
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

/// PROC_SUPER_MAGIC.
const PROC_MAGIC: i64 = 0x9fa0;
/// TMPFS_MAGIC (devtmpfs).
const DEVFS_MAGIC: i64 = 0x0102_1994;
/// devpts's statfs type (DEVPTS_SUPER_MAGIC).
const DEVPTS_MAGIC: i64 = 0x1cd1;
/// SYSFS_MAGIC.
const SYSFS_MAGIC: i64 = 0x6265_6572;

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

/// Where a magic link leads, for the task that follows it.
pub type PlaceHook = Arc<dyn Fn(&Caller) -> Result<Path, Errno> + Send + Sync>;

/// How a device of /dev opens, for the task that opens it.
pub type DeviceOpen = fn(&Task) -> Result<Box<dyn FileOps>, Errno>;

/// What a path of the synthetic trees is.
pub enum Node {
    /// A directory and its entries (without `.` and `..`).
    Dir(Vec<Entry>),
    /// A regular file: its text, made now.
    File(Vec<u8>),
    /// A regular file whose writes go to the hook (`/proc/<pid>/comm`).
    Writable(Vec<u8>, WriteHook),
    /// A symbolic link: its target (absolute, or relative to the link's
    /// directory).
    Link(Vec<u8>),
    /// A magic link: readlink shows `text`; following it reaches `place`.
    Magic {
        /// What readlink shows.
        text: Vec<u8>,
        /// Where it leads.
        place: PlaceHook,
        /// What stat shows as its size (64 for fd links, 0 for others).
        size: u64,
    },
    /// A character device: (major, minor) and how to open it.
    Device((u32, u32), DeviceOpen),
}

/// A node with its permission bits: what a lookup finds.
pub struct Found {
    /// The node.
    pub node: Node,
    /// Permission bits.
    pub perm: u32,
}

impl Found {
    /// A node with permission bits `perm`.
    pub fn new(node: Node, perm: u32) -> Self {
        Self { node, perm }
    }
}

/// Looks up the path `comps` (its first component is `proc`, `dev` or
/// `sys`) for `task` (None: the sentry itself, at set-up).
pub fn lookup(task: Option<&Arc<Task>>, comps: &[Vec<u8>]) -> Result<Found, Errno> {
    let Some((first, rest)) = comps.split_first() else {
        return Err(Errno::ENOENT);
    };
    match first.as_slice() {
        b"proc" => super::proc::lookup(task.ok_or(Errno::ENOENT)?, rest),
        b"dev" => super::dev::lookup_dev(task, rest),
        b"sys" => super::dev::lookup_sys(rest),
        _ => Err(Errno::ENOENT),
    }
}

/// Where the fd link of `file` leads: its place in the tree, or (a pipe,
/// an anonymous file) the open file itself.
pub fn place_of(task: &Task, file: &Arc<OpenFile>) -> Path {
    if let Some(p) = file.ops.vfs_path() {
        return p;
    }
    let root = task.kernel.vfs.root();
    Path {
        mount: Arc::clone(&root.mount),
        dentry: Arc::new(Dentry {
            inode: Arc::new(OpenFileInode {
                file: Arc::clone(file),
            }),
            name: file.ops.link_target().into_bytes(),
            parent: None,
        }),
    }
}

/// A magic link's place hook for the fd link of `file` (held weakly by
/// the task, so a link kept open does not keep its process alive).
pub fn fd_place(file: Arc<OpenFile>, owner: Weak<Task>) -> PlaceHook {
    Arc::new(move |_| {
        let t = owner.upgrade().ok_or(Errno::ENOENT)?;
        Ok(place_of(&t, &file))
    })
}

/// A directory of the trees, by its path (`["proc", "1", "fd"]`).
struct TreeDir {
    comps: Vec<Vec<u8>>,
}

impl TreeDir {
    fn child(&self, name: &[u8]) -> Vec<Vec<u8>> {
        let mut c = self.comps.clone();
        c.push(name.to_vec());
        c
    }
}

/// A node as the VFS's synthetic filesystem takes it.
fn synth(comps: Vec<Vec<u8>>, found: Found) -> SynthNode {
    let mode = found.perm;
    match found.node {
        Node::Dir(_) => SynthNode::Dir {
            mode,
            dir: Arc::new(TreeDir { comps }),
        },
        Node::File(text) => SynthNode::File {
            mode,
            text: Arc::new(move |_| Ok(text.clone())),
            write: None,
        },
        Node::Writable(text, hook) => SynthNode::File {
            mode,
            text: Arc::new(move |_| Ok(text.clone())),
            write: Some(Arc::new(move |_, buf| hook(buf).map(|_| ()))),
        },
        Node::Link(target) => SynthNode::Symlink(Arc::new(move |_| Ok(target.clone()))),
        Node::Magic { text, place, size } => SynthNode::MagicLink {
            mode,
            size,
            text: Arc::new(move |_| Ok(text.clone())),
            place: Arc::new(move |c| place(c)),
        },
        Node::Device((major, minor), open) => SynthNode::Device {
            mode,
            rdev: (u64::from(major) << 8) | u64::from(minor),
            open: Arc::new(move |c, _| open(c.task.ok_or(Errno::ENXIO)?)),
        },
    }
}

/// A stand-in for a listed entry (only its type is read: a lookup makes
/// the real node).
fn listed(kind: u8) -> SynthNode {
    let nothing = |_: &Caller| Err(Errno::ENOENT);
    match kind {
        DT_DIR => SynthNode::Dir {
            mode: 0o555,
            dir: Arc::new(TreeDir { comps: Vec::new() }),
        },
        DT_LNK => SynthNode::symlink(nothing),
        DT_CHR => SynthNode::Device {
            mode: 0o666,
            rdev: 0,
            open: Arc::new(|_, _| Err(Errno::ENOENT)),
        },
        _ => SynthNode::file(0o444, nothing),
    }
}

impl SynthDir for TreeDir {
    fn entries(&self, caller: &Caller) -> Vec<(Vec<u8>, SynthNode)> {
        match lookup(caller.task, &self.comps) {
            Ok(Found {
                node: Node::Dir(entries),
                ..
            }) => entries
                .into_iter()
                .map(|e| (e.name, listed(e.kind)))
                .collect(),
            _ => Vec::new(),
        }
    }

    fn lookup(&self, caller: &Caller, name: &[u8]) -> Option<SynthNode> {
        let comps = self.child(name);
        let found = lookup(caller.task, &comps).ok()?;
        Some(synth(comps, found))
    }
}

/// `/proc`.
pub fn procfs() -> Arc<SynthFs> {
    SynthFs::new(
        "proc",
        PROC_MAGIC,
        Arc::new(TreeDir {
            comps: vec![b"proc".to_vec()],
        }),
    )
}

/// `/dev` (a tmpfs is mounted on its `shm`).
pub fn devfs() -> Arc<SynthFs> {
    SynthFs::new(
        "devtmpfs",
        DEVFS_MAGIC,
        Arc::new(TreeDir {
            comps: vec![b"dev".to_vec()],
        }),
    )
}

/// `/dev/pts`: the sandbox's terminal, with the device number its
/// descriptors show.
pub fn devptsfs() -> Arc<SynthFs> {
    SynthFs::with_dev(
        "devpts",
        DEVPTS_MAGIC,
        Arc::new(TreeDir {
            comps: vec![b"dev".to_vec(), b"pts".to_vec()],
        }),
        super::dev::DEVPTS_DEV,
    )
}

/// `/sys`.
pub fn sysfs() -> Arc<SynthFs> {
    SynthFs::new(
        "sysfs",
        SYSFS_MAGIC,
        Arc::new(TreeDir {
            comps: vec![b"sys".to_vec()],
        }),
    )
}

/// An open file reached through its fd link when it has no place in the
/// tree (a pipe, a pidfd): opening it gives that same file.
struct OpenFileInode {
    file: Arc<OpenFile>,
}

impl Inode for OpenFileInode {
    fn ino(&self) -> u64 {
        self.file.ops.stat().ino
    }

    fn kind(&self) -> FileType {
        // Not a FIFO of the tree (those open through the FIFO table): the
        // open below reaches the pipe itself. stat shows the real type.
        FileType::CharDevice
    }

    fn stat(&self) -> Stat {
        self.file.ops.stat()
    }

    fn open(&self, _: &Caller, flags: u32) -> Result<Box<dyn FileOps>, Errno> {
        // As opening a pipe's inode again: an end it has (a read end
        // cannot be opened for writing here).
        let has = self.file.status() & 3;
        let ok = match flags & 3 {
            0 => has != 1,
            1 => has != 0,
            _ => has == 2,
        };
        if !ok {
            return Err(Errno::EACCES);
        }
        Ok(Box::new(SharedFile(Arc::clone(&self.file))))
    }

    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

/// A second open of a pipe or anonymous file: everything goes to the
/// file it was opened from.
struct SharedFile(Arc<OpenFile>);

impl FileOps for SharedFile {
    fn read(&self, buf: &mut [u8], nonblock: bool, b: &dyn Blocker) -> Result<usize, Errno> {
        self.0.ops.read(buf, nonblock, b)
    }
    fn read_short(
        &self,
        buf: &mut [u8],
        want: usize,
        nonblock: bool,
        b: &dyn Blocker,
    ) -> Option<(Result<usize, Errno>, usize)> {
        self.0.ops.read_short(buf, want, nonblock, b)
    }
    fn write(&self, buf: &[u8], nonblock: bool, b: &dyn Blocker) -> Result<usize, Errno> {
        self.0.ops.write(buf, nonblock, b)
    }
    fn append(&self, buf: &[u8], nonblock: bool, b: &dyn Blocker) -> Result<usize, Errno> {
        self.0.ops.append(buf, nonblock, b)
    }
    fn poll(&self) -> u16 {
        self.0.ops.poll()
    }
    fn stat(&self) -> Stat {
        self.0.ops.stat()
    }
    fn ioctl(&self, request: u64) -> Result<IoctlReply, Errno> {
        self.0.ops.ioctl(request)
    }
    fn seek(&self, offset: i64, whence: u32) -> Result<u64, Errno> {
        self.0.ops.seek(offset, whence)
    }
    fn pread(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        self.0.ops.pread(buf, offset)
    }
    fn pwrite(&self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        self.0.ops.pwrite(buf, offset)
    }
    fn notifies(&self) -> bool {
        self.0.ops.notifies()
    }
    fn describe(&self) -> String {
        self.0.ops.describe()
    }
    fn link_target(&self) -> String {
        self.0.ops.link_target()
    }
    fn fdinfo(&self) -> String {
        self.0.ops.fdinfo()
    }
    fn is_terminal(&self) -> bool {
        self.0.ops.is_terminal()
    }
    fn as_terminal(&self) -> Option<&super::tty::TerminalFile> {
        self.0.ops.as_terminal()
    }
    fn maps_as_anonymous(&self) -> bool {
        self.0.ops.maps_as_anonymous()
    }
    fn tmpfs_inode(&self) -> Option<Arc<super::tmpfs::TmpInode>> {
        self.0.ops.tmpfs_inode()
    }
    fn as_pidfd(&self) -> Option<&super::pidfd::PidFd> {
        self.0.ops.as_pidfd()
    }
    fn as_pipe(&self) -> Option<&super::pipe::PipeEnd> {
        self.0.ops.as_pipe()
    }
    fn as_epoll(&self) -> Option<&super::epoll::Epoll> {
        self.0.ops.as_epoll()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comps(p: &str) -> Vec<Vec<u8>> {
        p.split('/').map(|c| c.as_bytes().to_vec()).collect()
    }

    #[test]
    fn dev_and_sys_without_a_task() {
        // At set-up (no task) /dev lists its devices, tty included (as on
        // Linux; opening it needs a controlling terminal), and the shm
        // mount point; /proc needs a task.
        let Ok(Found {
            node: Node::Dir(e), ..
        }) = lookup(None, &comps("dev"))
        else {
            panic!("/dev is a directory")
        };
        let names: Vec<&[u8]> = e.iter().map(|e| e.name.as_slice()).collect();
        assert!(names.contains(&&b"shm"[..]) && names.contains(&&b"zero"[..]));
        assert!(names.contains(&&b"tty"[..]));
        assert!(matches!(
            lookup(None, &comps("dev/tty")).map(|f| f.node),
            Ok(Node::Device((5, 0), _))
        ));
        assert!(lookup(None, &comps("proc")).is_err());
        let online = lookup(None, &comps("sys/devices/system/cpu/online")).unwrap();
        assert!(matches!(online.node, Node::File(_)));
        assert_eq!(online.perm, 0o444);
    }

    #[test]
    fn nodes_become_synthetic_nodes() {
        let zero = lookup(None, &comps("dev/zero")).unwrap();
        match synth(comps("dev/zero"), zero) {
            SynthNode::Device { mode, rdev, .. } => assert_eq!((mode, rdev), (0o666, 0x105)),
            _ => panic!("/dev/zero is a device"),
        }
        let fd = lookup(None, &comps("dev/fd")).unwrap();
        match synth(comps("dev/fd"), fd) {
            SynthNode::Symlink(target) => {
                assert_eq!(target(&Caller::NONE).unwrap(), b"/proc/self/fd");
            }
            _ => panic!("/dev/fd is a link"),
        }
        let cpu = lookup(None, &comps("sys/devices/system/cpu")).unwrap();
        let SynthNode::Dir { dir, .. } = synth(comps("sys/devices/system/cpu"), cpu) else {
            panic!("a directory")
        };
        let names: Vec<Vec<u8>> = dir
            .entries(&Caller::NONE)
            .into_iter()
            .map(|e| e.0)
            .collect();
        assert!(names.contains(&b"possible".to_vec()) && names.contains(&b"cpu0".to_vec()));
        assert!(dir.lookup(&Caller::NONE, b"online").is_some());
        assert!(dir.lookup(&Caller::NONE, b"nope").is_none());
    }
}

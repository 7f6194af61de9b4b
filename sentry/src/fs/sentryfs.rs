//! The sentry's own /proc, /dev and /sys as they were before the
//! synthetic filesystems of a later change: `/dev/null`, an empty
//! `/dev/shm` (a tmpfs is mounted there), `/proc/self/{exe, maps, cmdline,
//! status}` (also as `/proc/thread-self`, `/proc/<own pid>` and
//! `/proc/<own tid>`), and an empty `/sys`. Built on
//! [`super::synthetic`]; they are meant to be replaced whole.

use std::any::Any;
use std::sync::Arc;

use super::rootfs::{DevNull, HostFile};
use super::synthetic::{StaticDir, SynthDir, SynthFs, SynthNode};
use super::vfs::{Caller, Dentry, FileType, Inode, Path};
use super::{FileOps, Stat};
use crate::errno::Errno;
use crate::kernel::Task;

/// PROC_SUPER_MAGIC.
const PROC_MAGIC: i64 = 0x9fa0;
/// TMPFS_MAGIC (devtmpfs).
const DEVFS_MAGIC: i64 = 0x0102_1994;
/// SYSFS_MAGIC.
const SYSFS_MAGIC: i64 = 0x6265_6572;

/// `/dev`: null and the shm mount point.
pub fn devfs() -> Arc<SynthFs> {
    let null = SynthNode::Device {
        mode: 0o666,
        rdev: 0x103,
        open: Arc::new(|_, _| Ok(Box::new(DevNull) as Box<dyn FileOps>)),
    };
    let shm = SynthNode::dir(0o1777, StaticDir(Vec::new()));
    SynthFs::new(
        "devtmpfs",
        DEVFS_MAGIC,
        Arc::new(StaticDir(vec![
            (b"null".to_vec(), null),
            (b"shm".to_vec(), shm),
        ])),
    )
}

/// `/sys`: empty.
pub fn sysfs() -> Arc<SynthFs> {
    SynthFs::new("sysfs", SYSFS_MAGIC, Arc::new(StaticDir(Vec::new())))
}

/// `/proc`: the caller's own process only.
pub fn procfs() -> Arc<SynthFs> {
    SynthFs::new("proc", PROC_MAGIC, Arc::new(ProcRoot))
}

struct ProcRoot;

/// Whether `who` names the caller's process: `self`, `thread-self`, its
/// pid or one of its tids.
fn is_mine(task: &Arc<Task>, who: &[u8]) -> bool {
    who == b"self"
        || who == b"thread-self"
        || std::str::from_utf8(who)
            .ok()
            .and_then(|s| s.parse::<i32>().ok())
            .is_some_and(|n| n == task.tgid() || task.tg.threads.lock().iter().any(|t| t.tid == n))
}

impl SynthDir for ProcRoot {
    fn entries(&self, caller: &Caller) -> Vec<(Vec<u8>, SynthNode)> {
        match caller.task {
            Some(_) => vec![(b"self".to_vec(), SynthNode::dir(0o555, ProcSelf))],
            None => Vec::new(),
        }
    }

    fn lookup(&self, caller: &Caller, name: &[u8]) -> Option<SynthNode> {
        let task = caller.task?;
        is_mine(task, name).then(|| SynthNode::dir(0o555, ProcSelf))
    }
}

struct ProcSelf;

fn with_task(caller: &Caller, f: impl FnOnce(&Arc<Task>) -> Vec<u8>) -> Result<Vec<u8>, Errno> {
    caller.task.map(f).ok_or(Errno::ENOENT)
}

fn status(task: &Arc<Task>) -> Vec<u8> {
    let mm = task.mm();
    let exe = mm.exe();
    let base = exe.rsplit(|c| *c == b'/').next().unwrap_or(&exe);
    let name = String::from_utf8_lossy(&base[..base.len().min(15)]).into_owned();
    let ppid = task
        .kernel
        .table
        .lock()
        .procs
        .get(&task.tgid())
        .map_or(0, |p| p.parent);
    let threads = task.tg.threads.lock().len();
    let umask = task.fs.lock().umask;
    format!(
        "Name:\t{name}\nUmask:\t{umask:04o}\nState:\tR (running)\nTgid:\t{}\nNgid:\t0\nPid:\t{}\nPPid:\t{ppid}\nTracerPid:\t0\nUid:\t0\t0\t0\t0\nGid:\t0\t0\t0\t0\nThreads:\t{threads}\n",
        task.tgid(),
        task.tid
    )
    .into_bytes()
}

impl SynthDir for ProcSelf {
    fn entries(&self, _: &Caller) -> Vec<(Vec<u8>, SynthNode)> {
        vec![
            (
                b"exe".to_vec(),
                SynthNode::MagicLink {
                    text: Arc::new(|c: &Caller| with_task(c, |t| t.mm().exe())),
                    place: Arc::new(|c: &Caller| exe_place(c.task.ok_or(Errno::ENOENT)?)),
                },
            ),
            (
                b"maps".to_vec(),
                SynthNode::file(0o444, |c| with_task(c, |t| t.mm().maps().into_bytes())),
            ),
            (
                b"cmdline".to_vec(),
                SynthNode::file(0o444, |c| with_task(c, |t| t.mm().cmdline())),
            ),
            (
                b"status".to_vec(),
                SynthNode::file(0o444, |c| with_task(c, status)),
            ),
        ]
    }
}

/// Where `/proc/self/exe` leads for `task`: the program's file in the
/// guest's tree, or, for a program the user named on the host (without
/// `--root`), that host file, reachable by no other path.
pub fn exe_place(task: &Arc<Task>) -> Result<Path, Errno> {
    let mm = task.mm();
    let vfs = &task.kernel.vfs;
    let root = vfs.root();
    match mm.exe_host() {
        Some(host) => {
            let prog = crate::exec::ProgramFile::open_host(&host)
                .map_err(|e| super::rootfs::io_errno(&e))?;
            let file = prog
                .file()
                .try_clone()
                .map_err(|e| super::rootfs::io_errno(&e))?;
            let meta = file.metadata().map_err(|e| super::rootfs::io_errno(&e))?;
            let name = mm.exe();
            let base = name.rsplit(|c| *c == b'/').next().unwrap_or(&name).to_vec();
            Ok(Path {
                mount: Arc::clone(&root.mount),
                dentry: Arc::new(Dentry {
                    inode: Arc::new(HostProgram {
                        file: Arc::new(file),
                        meta,
                        name: name.clone(),
                    }),
                    name: base,
                    parent: Some(Arc::clone(&root.dentry)),
                }),
            })
        }
        None => vfs.lookup(
            &Caller::task(task),
            &root,
            &root,
            &mm.exe(),
            &super::vfs::Resolve::FOLLOW,
        ),
    }
}

/// Whether `inode` is the host program `/proc/self/exe` leads to.
pub fn is_host_program(inode: &Arc<dyn Inode>) -> bool {
    Arc::clone(inode).as_any().downcast::<HostProgram>().is_ok()
}

/// The host program file the sandbox was started with, as a read-only
/// regular file outside the tree.
struct HostProgram {
    file: Arc<std::fs::File>,
    meta: std::fs::Metadata,
    name: Vec<u8>,
}

impl Inode for HostProgram {
    fn ino(&self) -> u64 {
        use std::os::unix::fs::MetadataExt;
        self.meta.ino()
    }

    fn kind(&self) -> FileType {
        FileType::Regular
    }

    fn stat(&self) -> Stat {
        Stat::from_metadata(&self.meta)
    }

    fn open(&self, _: &Caller, flags: u32) -> Result<Box<dyn FileOps>, Errno> {
        if flags & 3 != 0 {
            return Err(Errno::EACCES);
        }
        let f = self
            .file
            .try_clone()
            .map_err(|e| super::rootfs::io_errno(&e))?;
        Ok(Box::new(HostFile::from_file(f, self.name.clone())))
    }

    fn as_any(self: Arc<Self>) -> Arc<dyn Any + Send + Sync> {
        self
    }
}

//! Where `/proc/<pid>/exe` leads: the program's file in the guest's
//! tree, or the host program the sandbox was started with (the trees
//! themselves are in [`super::nodes`], [`super::proc`], [`super::dev`]).

use std::any::Any;
use std::sync::Arc;

use super::rootfs::HostFile;
use super::vfs::{Caller, Dentry, FileType, Inode, Path};
use super::{FileOps, Stat};
use crate::errno::Errno;
use crate::kernel::Task;

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

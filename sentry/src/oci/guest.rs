//! What an OCI bundle's config.json adds to a sandbox run
//! ([`crate::RunOptions::guest`]): the init process's credentials and
//! resource limits (the guest's own, never the host's), tmpfs mounts at
//! more places, and host files copied into the guest's tree (the
//! single-file bind mounts engines make for /etc/hosts, /etc/resolv.conf,
//! /etc/hostname, /run/.containerenv: a copy taken when the container
//! starts; later changes on either side are not seen by the other).

use std::sync::Arc;

use crate::errno::Errno;
use crate::fs::setup::SetupError;
use crate::fs::tmpfs::{MemoryCharge, TmpFs};
use crate::fs::vfs::{Caller, FileType, MountFlags, Resolve, Vfs};
use crate::kernel::creds::Creds;

/// The additions (default: none).
#[derive(Clone, Debug, Default)]
pub struct GuestSetup {
    /// The init process's credentials (None: root with [`crate::kernel::creds::CAP_INIT`]).
    pub creds: Option<Creds>,
    /// (resource, soft, hard) limits of the init process, over the
    /// sandbox's defaults.
    pub rlimits: Vec<(u32, u64, u64)>,
    /// Guest paths where a fresh tmpfs is mounted (mode 0755, or 1777
    /// with `sticky`): (path, mode, read-only).
    pub tmpfs: Vec<(Vec<u8>, u32, bool)>,
    /// Host files copied to guest paths (guest path, contents, mode).
    pub files: Vec<(Vec<u8>, Vec<u8>, u32)>,
    /// Directories made (mkdir -p) before the guest starts: its working
    /// directory.
    pub dirs: Vec<Vec<u8>>,
    /// The init process's umask.
    pub umask: Option<u32>,
    /// `root.readonly`: the root mount is read-only.
    pub read_only_root: bool,
    /// The control socket `exec` requests arrive on (OCI containers).
    pub control: Option<ControlSocket>,
}

/// A bound Unix datagram socket in the container's state directory
/// ([`super::exec`]).
#[derive(Clone)]
pub struct ControlSocket(pub Arc<std::os::unix::net::UnixDatagram>);

impl std::fmt::Debug for ControlSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ControlSocket")
    }
}

/// What runs once the guest's init has started (serving `exec`).
pub type Started = Box<dyn FnOnce(&Arc<crate::kernel::Kernel>) + Send>;

/// A blocker for set-up writes, which never block (tmpfs and overlay
/// files).
struct NoBlock;

impl crate::kernel::wait::Blocker for NoBlock {
    fn waiter(&self) -> &Arc<crate::kernel::wait::Waiter> {
        static W: std::sync::OnceLock<Arc<crate::kernel::wait::Waiter>> =
            std::sync::OnceLock::new();
        W.get_or_init(Arc::default)
    }

    fn check_interrupt(&self) -> Result<(), Errno> {
        Ok(())
    }
}

impl GuestSetup {
    /// Adds the tmpfs mounts and the copied files to `vfs` (before the
    /// guest starts).
    pub fn prepare_vfs(&self, vfs: &Vfs, charge: Arc<dyn MemoryCharge>) -> Result<(), SetupError> {
        let failed = |path: &[u8], errno| SetupError::Mount {
            path: String::from_utf8_lossy(path).into_owned(),
            errno,
        };
        for (path, mode, read_only) in &self.tmpfs {
            let fs = TmpFs::new("tmpfs", *mode, Arc::clone(&charge));
            vfs.mount_at(
                path,
                fs,
                "tmpfs",
                MountFlags {
                    read_only: *read_only,
                },
            )
            .map_err(|e| failed(path, e))?;
        }
        for d in &self.dirs {
            vfs.make_dirs(d).map_err(|e| failed(d, e))?;
        }
        for (path, data, mode) in &self.files {
            write_file(vfs, path, data, *mode).map_err(|e| failed(path, e))?;
        }
        Ok(())
    }

    /// Gives the init task its credentials and limits; returns what to
    /// run once it has started (the `exec` server, with a control socket).
    pub fn prepare_init(&self, init: &crate::kernel::Task) -> Option<Started> {
        self.prepare_task(init);
        let socket = self.control.clone()?;
        let budget = Arc::clone(init.files.lock().budget());
        Some(Box::new(move |kernel: &Arc<crate::kernel::Kernel>| {
            super::exec::serve(kernel, socket, budget);
        }))
    }

    /// Gives `init` (a process's first task) its credentials and limits.
    pub fn prepare_task(&self, init: &crate::kernel::Task) {
        if let Some(c) = &self.creds {
            *init.ident.creds.lock() = c.clone();
        }
        if let Some(u) = self.umask {
            init.fs.lock().umask = u;
        }
        if !self.rlimits.is_empty() {
            let mut l = init.tg.limits.lock();
            for &(res, soft, hard) in &self.rlimits {
                // Set as the sandbox's own setup (privileged): the config
                // decides; values were checked when it was read.
                let _ = l.set(res, soft, hard, true);
            }
        }
        crate::kernel::limits::apply(init);
    }
}

/// Writes `data` to the guest file `path` (its directories made, an
/// existing file replaced).
fn write_file(vfs: &Vfs, path: &[u8], data: &[u8], mode: u32) -> Result<(), Errno> {
    let (dir, name) = match path.iter().rposition(|c| *c == b'/') {
        Some(i) => (&path[..i.max(1)], &path[i + 1..]),
        None => return Err(Errno::EINVAL),
    };
    if name.is_empty() || name == b"." || name == b".." {
        return Err(Errno::EINVAL);
    }
    let dir = vfs.make_dirs(dir)?;
    let caller = Caller::NONE;
    let root = vfs.root();
    match vfs.lookup(&caller, &root, &dir, name, &Resolve::NOFOLLOW) {
        Ok(p) if p.is_dir() => return Err(Errno::EISDIR),
        Ok(_) => dir.inode().unlink(&caller, name)?,
        Err(Errno::ENOENT) => {}
        Err(e) => return Err(e),
    }
    let inode = dir
        .inode()
        .create(&caller, name, FileType::Regular, mode, 0)?;
    let file = inode.open(&caller, libc::O_WRONLY as u32)?;
    let mut done = 0;
    while done < data.len() {
        let n = file.write(&data[done..], false, &NoBlock)?;
        if n == 0 {
            return Err(Errno::EIO);
        }
        done += n;
    }
    Ok(())
}

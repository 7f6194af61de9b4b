//! The sandbox's mount tree, built once at start-up:
//!
//! | guest path | filesystem |
//! | --- | --- |
//! | `/` | with `--root DIR`: an overlay of DIR (read-only) under a tmpfs; without: an empty tmpfs |
//! | `/proc` | the sentry's procfs ([`super::nodes::procfs`]) |
//! | `/dev` | the sentry's devfs ([`super::nodes::devfs`]) |
//! | `/dev/shm`, `/tmp` | tmpfs (mode 1777) |
//! | `/sys` | the sentry's sysfs ([`super::nodes::sysfs`]) |
//! | `--mount HOST:GUEST[:ro\|:rw]` | HOST, read-only unless `:rw` |
//!
//! Every tmpfs (the overlay's upper layer too) charges its pages to the
//! guest's memory cap. To put another synthetic filesystem in place,
//! change the mount here.

use std::sync::Arc;

use super::hostdir::HostFs;
use super::overlay::OverlayFs;
use super::tmpfs::{MemoryCharge, TmpFs};
use super::vfs::{Filesystem, MountFlags, Vfs};

/// A `--mount HOST:GUEST[:ro|:rw]` bind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BindMount {
    /// The host directory.
    pub host: std::path::PathBuf,
    /// Where the guest sees it (absolute).
    pub guest: Vec<u8>,
    /// `:rw`: the guest may change it (on the host).
    pub writable: bool,
}

impl BindMount {
    /// Parses `HOST:GUEST[:ro|:rw]`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let mut parts: Vec<&str> = s.split(':').collect();
        let writable = match parts.last() {
            Some(&"rw") if parts.len() == 3 => {
                parts.pop();
                true
            }
            Some(&"ro") if parts.len() == 3 => {
                parts.pop();
                false
            }
            _ => false,
        };
        let [host, guest] = parts[..] else {
            return Err(format!("--mount wants HOST:GUEST[:ro|:rw], got {s:?}"));
        };
        if host.is_empty() || !guest.starts_with('/') {
            return Err(format!(
                "--mount {s:?}: HOST must be given and GUEST must be an absolute path"
            ));
        }
        Ok(Self {
            host: host.into(),
            guest: guest.as_bytes().to_vec(),
            writable,
        })
    }
}

/// Why the tree could not be built.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    /// A host directory could not be opened.
    #[error("cannot open {path}: {err}")]
    Host {
        /// The host path.
        path: String,
        /// What went wrong.
        err: std::io::Error,
    },
    /// A mount point could not be made.
    #[error("cannot mount at {path}: {errno:?}")]
    Mount {
        /// The guest path.
        path: String,
        /// The errno.
        errno: crate::errno::Errno,
    },
}

/// Builds the tree (see the module docs).
pub fn build(
    root: Option<&std::path::Path>,
    binds: &[BindMount],
    charge: Arc<dyn MemoryCharge>,
) -> Result<Vfs, SetupError> {
    build_with(root, false, binds, charge)
}

/// Builds the tree, its root mount read-only when `read_only_root` (an
/// OCI config's `root.readonly`: writes under `/` outside the other
/// mounts fail with EROFS).
pub fn build_with(
    root: Option<&std::path::Path>,
    read_only_root: bool,
    binds: &[BindMount],
    charge: Arc<dyn MemoryCharge>,
) -> Result<Vfs, SetupError> {
    let root_flags = MountFlags {
        read_only: read_only_root,
    };
    let host = |p: &std::path::Path| {
        HostFs::open(p).map_err(|err| SetupError::Host {
            path: p.display().to_string(),
            err,
        })
    };
    let upper = TmpFs::new("tmpfs", 0o755, Arc::clone(&charge));
    let vfs = match root {
        Some(dir) => {
            let lower = host(dir)?;
            let ov: Arc<dyn Filesystem> = OverlayFs::new(lower.root(), upper);
            Vfs::new(ov, "overlay", root_flags)
        }
        None => Vfs::new(upper, "tmpfs", root_flags),
    };
    let mount = |at: &[u8], fs: Arc<dyn Filesystem>, source: &str, flags| {
        vfs.mount_at(at, fs, source, flags)
            .map(|_| ())
            .map_err(|errno| SetupError::Mount {
                path: String::from_utf8_lossy(at).into_owned(),
                errno,
            })
    };
    let tmp = |mode| TmpFs::new("tmpfs", mode, Arc::clone(&charge)) as Arc<dyn Filesystem>;
    mount(
        b"/proc",
        super::nodes::procfs(),
        "proc",
        MountFlags::default(),
    )?;
    mount(
        b"/dev",
        super::nodes::devfs(),
        "devtmpfs",
        MountFlags::default(),
    )?;
    mount(b"/dev/shm", tmp(0o1777), "shm", MountFlags::default())?;
    mount(
        b"/dev/pts",
        super::nodes::devptsfs(),
        "devpts",
        MountFlags::default(),
    )?;
    mount(
        b"/sys",
        super::nodes::sysfs(),
        "sysfs",
        MountFlags::default(),
    )?;
    mount(b"/tmp", tmp(0o1777), "tmpfs", MountFlags::default())?;
    for b in binds {
        let fs = HostFs::open_with(&b.host, b.writable).map_err(|err| SetupError::Host {
            path: b.host.display().to_string(),
            err,
        })?;
        let flags = MountFlags {
            read_only: !b.writable,
        };
        mount(&b.guest, fs, &b.host.display().to_string(), flags)?;
    }
    Ok(vfs)
}

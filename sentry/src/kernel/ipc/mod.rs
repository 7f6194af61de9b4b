//! SysV IPC: the sandbox-wide IPC namespace (one per sandbox, as the
//! initial namespace of a Linux host) and what its objects share: keys,
//! ids, permissions.
//!
//! Shared memory ([`shm`]), semaphores ([`sem`]) and message queues
//! ([`msg`]); POSIX message queues ([`mqueue`]) share the namespace.

pub mod mqueue;
pub mod msg;
pub mod proc;
pub mod sem;
pub mod shm;

use crate::kernel::creds::Creds;

/// The private key: always a new object.
pub const IPC_PRIVATE: i32 = 0;
/// Create if the key does not exist.
pub const IPC_CREAT: u32 = 0o1000;
/// With IPC_CREAT: fail if the key exists.
pub const IPC_EXCL: u32 = 0o2000;
/// Don't wait.
pub const IPC_NOWAIT: u32 = 0o4000;
/// ctl commands.
pub const IPC_RMID: i32 = 0;
/// Set uid, gid and mode.
pub const IPC_SET: i32 = 1;
/// Get the object's state.
pub const IPC_STAT: i32 = 2;
/// The namespace's limits.
pub const IPC_INFO: i32 = 3;
/// The "new layout" bit some libcs add to a ctl command (ignored on x86-64).
pub const IPC_64: i32 = 0x100;

/// Ids are `seq * IPCMNI + index`, as Linux makes them.
pub const IPCMNI: i32 = 32768;

/// CAP_IPC_OWNER: bypass the permission bits.
const CAP_IPC_OWNER: u32 = 15;
/// CAP_SYS_ADMIN: change or remove an object one doesn't own.
const CAP_SYS_ADMIN: u32 = 21;

/// The ownership and mode of an object (Linux's `kern_ipc_perm`).
#[derive(Clone, Copy, Debug)]
pub struct Perm {
    /// Its key (IPC_PRIVATE once removed).
    pub key: i32,
    /// Owner.
    pub uid: u32,
    /// Owner group.
    pub gid: u32,
    /// Creator.
    pub cuid: u32,
    /// Creator group.
    pub cgid: u32,
    /// Mode: the permission bits and flags such as SHM_DEST.
    pub mode: u32,
    /// The sequence number in its id.
    pub seq: u16,
}

impl Perm {
    /// A new object's: owned by the caller's effective ids.
    pub fn new(key: i32, creds: &Creds, mode: u32, seq: u16) -> Self {
        Self {
            key,
            uid: creds.uid[1],
            gid: creds.gid[1],
            cuid: creds.uid[1],
            cgid: creds.gid[1],
            mode: mode & 0o777,
            seq,
        }
    }

    /// Linux's ipcperms: whether `creds` may access with the `flag`
    /// permission bits (any of the owner/group/other triplets).
    pub fn permits(&self, creds: &Creds, flag: u32) -> bool {
        let requested = (flag >> 6) | (flag >> 3) | flag;
        let mut granted = self.mode;
        let euid = creds.uid[1];
        let in_group = |g: u32| creds.gid[1] == g || creds.groups.binary_search(&g).is_ok();
        if euid == self.cuid || euid == self.uid {
            granted >>= 6;
        } else if in_group(self.cgid) || in_group(self.gid) {
            granted >>= 3;
        }
        requested & !granted & 0o7 == 0 || creds.capable(CAP_IPC_OWNER)
    }

    /// Whether `creds` may change or remove the object (its owner, its
    /// creator or CAP_SYS_ADMIN).
    pub fn owned_by(&self, creds: &Creds) -> bool {
        let euid = creds.uid[1];
        euid == self.uid || euid == self.cuid || creds.capable(CAP_SYS_ADMIN)
    }

    /// IPC_SET: the new owner and permission bits.
    pub fn set(&mut self, uid: u32, gid: u32, mode: u32) {
        self.uid = uid;
        self.gid = gid;
        self.mode = (self.mode & !0o777) | (mode & 0o777);
    }

    /// `struct ipc64_perm` (48 bytes).
    pub fn encode(&self) -> [u8; 48] {
        let mut b = [0u8; 48];
        b[0..4].copy_from_slice(&self.key.to_le_bytes());
        b[4..8].copy_from_slice(&self.uid.to_le_bytes());
        b[8..12].copy_from_slice(&self.gid.to_le_bytes());
        b[12..16].copy_from_slice(&self.cuid.to_le_bytes());
        b[16..20].copy_from_slice(&self.cgid.to_le_bytes());
        b[20..24].copy_from_slice(&self.mode.to_le_bytes());
        b[24..26].copy_from_slice(&self.seq.to_le_bytes());
        b
    }
}

/// Seconds since the epoch (the times IPC_STAT shows).
pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// The sandbox's IPC namespace.
#[derive(Default)]
pub struct Ipc {
    /// Shared memory segments.
    pub shm: shm::ShmTable,
    /// Semaphore sets.
    pub sem: sem::SemTable,
    /// Message queues.
    pub msg: msg::MsgTable,
    /// POSIX message queues.
    pub mqueue: mqueue::Namespace,
}

/// The text of `/proc/sys/kernel/NAME` for the SysV IPC limits (Linux's
/// defaults, which the sandbox does not let the guest change).
pub fn sysctl(name: &[u8]) -> String {
    match name {
        b"sem" => format!(
            "{}\t{}\t{}\t{}\n",
            sem::SEMMSL,
            sem::SEMMNS,
            sem::SEMOPM,
            sem::SEMMNI
        ),
        b"shmall" => format!("{}\n", shm::SHMALL),
        b"shmmax" => format!("{}\n", shm::SHMMAX),
        b"shmmni" => format!("{}\n", shm::SHMMNI),
        b"msgmax" => format!("{}\n", msg::MSGMAX),
        b"msgmnb" => format!("{}\n", msg::MSGMNB),
        b"msgmni" => format!("{}\n", msg::MSGMNI),
        _ => String::new(),
    }
}

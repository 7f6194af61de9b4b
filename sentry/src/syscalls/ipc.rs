//! SysV IPC syscalls: shmget, shmat, shmdt, shmctl (the segments live in
//! `kernel::ipc`).

use std::sync::Arc;

use platform::PAGE_SIZE;

use crate::errno::Errno;
use crate::kernel::ipc::shm::{SHMALL, SHMMAX, SHMMIN, SHMMNI};
use crate::kernel::ipc::{IPC_64, IPC_INFO, IPC_RMID, IPC_SET, IPC_STAT, IPCMNI};
use crate::kernel::task::{SysResult, TaskCtx};
use crate::mm::{FileBacking, FileMap, MapRequest, Placement, Prot, page_up};

/// shmat flags.
const SHM_RDONLY: u32 = 0o10000;
const SHM_RND: u32 = 0o20000;
const SHM_REMAP: u32 = 0o40000;
const SHM_EXEC: u32 = 0o100000;
/// shmctl commands.
const SHM_LOCK: i32 = 11;
const SHM_UNLOCK: i32 = 12;
const SHM_STAT: i32 = 13;
const SHM_INFO: i32 = 14;
const SHM_STAT_ANY: i32 = 15;
/// SHMLBA on x86-64.
const SHMLBA: u64 = PAGE_SIZE;

/// shmget(key, size, flags).
pub fn shmget(t: &mut TaskCtx, key: i32, size: u64, flags: u32) -> SysResult {
    let kernel = Arc::clone(&t.task.kernel);
    let creds = t.task.ident.creds();
    let id = kernel
        .ipc
        .shm
        .get(&kernel.machine, &creds, t.task.tgid(), key, size, flags)?;
    Ok(id as u64)
}

/// shmat(id, addr, flags): maps the segment shared, at `addr` (rounded
/// down to SHMLBA with SHM_RND) or where the kernel chooses.
pub fn shmat(t: &mut TaskCtx, id: i32, addr: u64, flags: u32) -> SysResult {
    let mut addr = addr;
    if addr != 0 && !addr.is_multiple_of(SHMLBA) {
        if flags & SHM_RND == 0 {
            return Err(Errno::EINVAL.into());
        }
        addr &= !(SHMLBA - 1);
    }
    let placement = match addr {
        0 if flags & SHM_REMAP != 0 => return Err(Errno::EINVAL.into()),
        0 => Placement::Hint(0),
        a if flags & SHM_REMAP != 0 => Placement::Fixed(a),
        a => Placement::FixedNoReplace(a),
    };
    let rdonly = flags & SHM_RDONLY != 0;
    let prot = Prot {
        read: true,
        write: !rdonly,
        exec: flags & SHM_EXEC != 0,
    };
    let kernel = Arc::clone(&t.task.kernel);
    let creds = t.task.ident.creds();
    let (store, size, key) = {
        let mut segs = kernel.ipc.shm.segs.lock();
        segs.prune();
        let s = segs.get_mut(id)?;
        let want = if rdonly { 0o444 } else { 0o666 };
        if !s.perm.permits(&creds, want) {
            return Err(Errno::EACCES.into());
        }
        (Arc::clone(&s.store), s.size, s.perm.key)
    };
    let len = page_up(size).ok_or(Errno::ENOMEM)?;
    let req = MapRequest {
        placement,
        len,
        prot,
        shared: true,
        grows_down: false,
        noreserve: false,
    };
    let fm = FileMap {
        backing: FileBacking::Store(store),
        name: format!("/SYSV{key:08x} (deleted)").into(),
        dev: 0,
        ino: id as u64,
        shared: true,
        may_write: !rdonly,
    };
    let start = t
        .mm()
        .map_file(&req, fm, 0)
        .map_err(|e| if e == Errno::EEXIST { Errno::EINVAL } else { e })?;
    let mut segs = kernel.ipc.shm.segs.lock();
    if let Ok(s) = segs.get_mut(id) {
        s.lpid = t.task.tgid();
        s.atime = crate::kernel::ipc::now();
    }
    Ok(start)
}

/// shmdt(addr): removes the attachment that starts at `addr`.
pub fn shmdt(t: &mut TaskCtx, addr: u64) -> SysResult {
    if !addr.is_multiple_of(PAGE_SIZE) {
        return Err(Errno::EINVAL.into());
    }
    let kernel = Arc::clone(&t.task.kernel);
    let mm = t.mm();
    let store = {
        let segs = kernel.ipc.shm.segs.lock();
        let is_segment = |o: &Arc<crate::mm::SharedMemory>| {
            segs.by_index.values().any(|s| Arc::ptr_eq(&s.store, o))
        };
        mm.shared_at(addr, &is_segment).ok_or(Errno::EINVAL)?
    };
    let end = addr.saturating_add(store.size());
    mm.unmap_object(&store, addr, end);
    let mut segs = kernel.ipc.shm.segs.lock();
    if let Some(s) = segs.by_store(&store) {
        s.lpid = t.task.tgid();
        s.dtime = crate::kernel::ipc::now();
    }
    segs.prune();
    Ok(0)
}

/// shmctl(id, cmd, buf).
pub fn shmctl(t: &mut TaskCtx, id: i32, cmd: i32, buf: u64) -> SysResult {
    let cmd = cmd & !IPC_64;
    let kernel = Arc::clone(&t.task.kernel);
    let creds = t.task.ident.creds();
    let mm = t.mm();
    match cmd {
        IPC_INFO => {
            let mut b = [0u8; 72];
            for (i, v) in [SHMMAX, SHMMIN, SHMMNI as u64, SHMMNI as u64, SHMALL]
                .into_iter()
                .enumerate()
            {
                b[i * 8..i * 8 + 8].copy_from_slice(&v.to_le_bytes());
            }
            mm.write(buf, &b)?;
            let mut segs = kernel.ipc.shm.segs.lock();
            segs.prune();
            Ok(segs.by_index.keys().next_back().map_or(0, |i| *i as u64))
        }
        SHM_INFO => {
            let mut segs = kernel.ipc.shm.segs.lock();
            segs.prune();
            let used = segs.by_index.len() as i32;
            let tot = segs.total_pages();
            let rss: u64 = segs
                .by_index
                .values()
                .map(|s| s.store.page_count() as u64)
                .sum();
            let max = segs.by_index.keys().next_back().map_or(0, |i| *i as u64);
            drop(segs);
            let mut b = [0u8; 48];
            b[0..4].copy_from_slice(&used.to_le_bytes());
            b[8..16].copy_from_slice(&tot.to_le_bytes());
            b[16..24].copy_from_slice(&rss.to_le_bytes());
            mm.write(buf, &b)?;
            Ok(max)
        }
        IPC_STAT | SHM_STAT | SHM_STAT_ANY => {
            let (data, ret) = {
                let mut segs = kernel.ipc.shm.segs.lock();
                segs.prune();
                let (s, ret) = if cmd == IPC_STAT {
                    (segs.get_mut(id)?, 0)
                } else {
                    let index = id;
                    let full = segs.id_of(index);
                    let s = segs.by_index.get_mut(&index).ok_or(Errno::EINVAL)?;
                    (s, full as u64)
                };
                if cmd != SHM_STAT_ANY && !s.perm.permits(&creds, 0o444) {
                    return Err(Errno::EACCES.into());
                }
                (s.encode(), ret)
            };
            mm.write(buf, &data)?;
            Ok(ret)
        }
        IPC_SET => {
            let mut b = [0u8; 48];
            mm.read(buf, &mut b)?;
            let uid = u32::from_le_bytes(b[4..8].try_into().unwrap_or_default());
            let gid = u32::from_le_bytes(b[8..12].try_into().unwrap_or_default());
            let mode = u32::from_le_bytes(b[20..24].try_into().unwrap_or_default());
            let mut segs = kernel.ipc.shm.segs.lock();
            let s = segs.get_mut(id)?;
            if !s.perm.owned_by(&creds) {
                return Err(Errno::EPERM.into());
            }
            s.perm.set(uid, gid, mode);
            s.ctime = crate::kernel::ipc::now();
            Ok(0)
        }
        IPC_RMID => {
            let mut segs = kernel.ipc.shm.segs.lock();
            let s = segs.get_mut(id)?;
            if !s.perm.owned_by(&creds) {
                return Err(Errno::EPERM.into());
            }
            segs.remove(id % IPCMNI);
            Ok(0)
        }
        SHM_LOCK | SHM_UNLOCK => {
            let mut segs = kernel.ipc.shm.segs.lock();
            let s = segs.get_mut(id)?;
            if !s.perm.owned_by(&creds) {
                return Err(Errno::EPERM.into());
            }
            Ok(0)
        }
        _ => Err(Errno::EINVAL.into()),
    }
}

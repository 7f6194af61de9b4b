//! SysV IPC syscalls: shared memory, semaphores and message queues (the
//! objects live in `kernel::ipc`).

use std::sync::Arc;

use platform::PAGE_SIZE;

use crate::errno::Errno;
use crate::kernel::ipc::msg::{MSG_EXCEPT, MSG_NOERROR, MSGMAX, MSGMNB, MSGMNI, MsgQueue};
use crate::kernel::ipc::sem::{
    Attempt, SEMAEM, SEMMNI, SEMMNS, SEMMSL, SEMOPM, SEMVMX, SemOp, SemSet,
};
use crate::kernel::ipc::shm::{SHMALL, SHMMAX, SHMMIN, SHMMNI};
use crate::kernel::ipc::{IPC_64, IPC_INFO, IPC_RMID, IPC_SET, IPC_STAT, IPCMNI};
use crate::kernel::ipc::{IPC_NOWAIT, now};
use crate::kernel::task::{SysResult, TaskCtx};
use crate::kernel::wait;
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

/// semctl commands.
const GETPID: i32 = 11;
const GETVAL: i32 = 12;
const GETALL: i32 = 13;
const GETNCNT: i32 = 14;
const GETZCNT: i32 = 15;
const SETVAL: i32 = 16;
const SETALL: i32 = 17;
const SEM_STAT: i32 = 18;
const SEM_INFO: i32 = 19;
const SEM_STAT_ANY: i32 = 20;

/// semget(key, nsems, flags).
pub fn semget(t: &mut TaskCtx, key: i32, nsems: i32, flags: u32) -> SysResult {
    let creds = t.task.ident.creds();
    Ok(t.task.kernel.ipc.sem.get(&creds, key, nsems, flags)? as u64)
}

/// semop(id, sops, nsops).
pub fn semop(t: &mut TaskCtx, id: i32, sops: u64, nsops: u64) -> SysResult {
    semtimedop(t, id, sops, nsops, 0)
}

/// semtimedop(id, sops, nsops, timeout): applies every operation at once
/// or sleeps until it can (EAGAIN with IPC_NOWAIT or at the timeout,
/// EINTR on a signal, EIDRM when the set is removed meanwhile).
pub fn semtimedop(t: &mut TaskCtx, id: i32, sops: u64, nsops: u64, timeout: u64) -> SysResult {
    if nsops < 1 || id < 0 {
        return Err(Errno::EINVAL.into());
    }
    if nsops as usize > SEMOPM {
        return Err(Errno::E2BIG.into());
    }
    let mm = t.mm();
    let mut raw = vec![0u8; nsops as usize * 6];
    mm.read(sops, &mut raw)?;
    let ops: Vec<SemOp> = raw
        .chunks_exact(6)
        .map(|c| SemOp {
            num: u16::from_le_bytes([c[0], c[1]]),
            op: i16::from_le_bytes([c[2], c[3]]),
            flg: i16::from_le_bytes([c[4], c[5]]),
        })
        .collect();
    let deadline = if timeout != 0 {
        let d = super::time::read_timespec(&mm, crate::abi::UserPtr::new(timeout))?;
        Some(wait::deadline_after(d))
    } else {
        None
    };
    let kernel = Arc::clone(&t.task.kernel);
    let creds = t.task.ident.creds();
    let set: Arc<SemSet> = kernel.ipc.sem.sets.lock().get(id)?;
    {
        let st = set.state.lock();
        if ops.iter().any(|o| usize::from(o.num) >= st.sems.len()) {
            return Err(Errno::EFBIG.into());
        }
        let alter = ops.iter().any(|o| o.op != 0);
        if !st.perm.permits(&creds, if alter { 0o222 } else { 0o444 }) {
            return Err(Errno::EACCES.into());
        }
    }
    let pid = t.task.tgid();
    let task = Arc::clone(&t.task);
    loop {
        let guard = set.queue.prepare(&*task);
        let (num, zero) = match kernel.ipc.sem.attempt(&set, id, pid, &ops)? {
            Attempt::Done => return Ok(0),
            Attempt::Wait(num, zero) => (usize::from(num), zero),
        };
        let nowait = ops
            .iter()
            .find(|o| usize::from(o.num) == num && (o.op == 0) == zero)
            .is_some_and(|o| o.flg as u32 & IPC_NOWAIT != 0);
        if nowait {
            return Err(Errno::EAGAIN.into());
        }
        let count = |st: &mut crate::kernel::ipc::sem::SemState, d: i32| {
            let s = &mut st.sems[num];
            let c = if zero { &mut s.zcnt } else { &mut s.ncnt };
            *c = c.saturating_add_signed(d);
        };
        {
            let mut st = set.state.lock();
            if st.removed {
                return Err(Errno::EIDRM.into());
            }
            count(&mut st, 1);
        }
        let slept = guard.sleep(deadline);
        count(&mut set.state.lock(), -1);
        match slept {
            Err(_) => return Err(Errno::EINTR.into()),
            Ok(false) if deadline.is_some_and(|d| std::time::Instant::now() >= d) => {
                return Err(Errno::EAGAIN.into());
            }
            Ok(_) => {}
        }
    }
}

/// semctl(id, num, cmd, arg).
pub fn semctl(t: &mut TaskCtx, id: i32, num: i32, cmd: i32, arg: u64) -> SysResult {
    let cmd = cmd & !IPC_64;
    let kernel = Arc::clone(&t.task.kernel);
    let creds = t.task.ident.creds();
    let mm = t.mm();
    let table = &kernel.ipc.sem;
    match cmd {
        IPC_INFO | SEM_INFO => {
            let sets = table.sets.lock();
            let (usz, aem) = if cmd == SEM_INFO {
                let total: usize = sets
                    .by_index
                    .values()
                    .map(|s| s.state.lock().sems.len())
                    .sum();
                (sets.by_index.len() as i32, total as i32)
            } else {
                (20, SEMAEM)
            };
            let max = sets.by_index.keys().next_back().map_or(0, |i| *i as u64);
            drop(sets);
            let vals = [
                SEMMNS,
                SEMMNI as i32,
                SEMMNS,
                SEMMNS,
                SEMMSL,
                SEMOPM as i32,
                SEMOPM as i32,
                usz,
                SEMVMX,
                aem,
            ];
            let b: Vec<u8> = vals.iter().flat_map(|v| v.to_le_bytes()).collect();
            mm.write(arg, &b)?;
            return Ok(max);
        }
        SEM_STAT | SEM_STAT_ANY => {
            let sets = table.sets.lock();
            let set = sets.by_index.get(&id).ok_or(Errno::EINVAL)?;
            let st = set.state.lock();
            if cmd == SEM_STAT && !st.perm.permits(&creds, 0o444) {
                return Err(Errno::EACCES.into());
            }
            let full = i32::from(st.perm.seq) * IPCMNI + id;
            let data = st.encode();
            drop(st);
            drop(sets);
            mm.write(arg, &data)?;
            return Ok(full as u64);
        }
        _ => {}
    }
    let mut sets = table.sets.lock();
    let set = sets.get(id)?;
    let mut st = set.state.lock();
    let n = st.sems.len();
    let one = |num: i32| -> Result<usize, Errno> {
        usize::try_from(num)
            .ok()
            .filter(|i| *i < n)
            .ok_or(Errno::EINVAL)
    };
    let read_ok = |st: &crate::kernel::ipc::sem::SemState| {
        if st.perm.permits(&creds, 0o444) {
            Ok(())
        } else {
            Err(Errno::EACCES)
        }
    };
    let write_ok = |st: &crate::kernel::ipc::sem::SemState| {
        if st.perm.permits(&creds, 0o222) {
            Ok(())
        } else {
            Err(Errno::EACCES)
        }
    };
    match cmd {
        IPC_STAT => {
            read_ok(&st)?;
            let data = st.encode();
            drop(st);
            drop(sets);
            mm.write(arg, &data)?;
            Ok(0)
        }
        GETVAL | GETPID | GETNCNT | GETZCNT => {
            read_ok(&st)?;
            let s = st.sems[one(num)?];
            Ok(match cmd {
                GETVAL => s.val as u64,
                GETPID => s.pid as u64,
                GETNCNT => u64::from(s.ncnt),
                _ => u64::from(s.zcnt),
            })
        }
        GETALL => {
            read_ok(&st)?;
            let b: Vec<u8> = st
                .sems
                .iter()
                .flat_map(|s| (s.val as u16).to_le_bytes())
                .collect();
            drop(st);
            drop(sets);
            mm.write(arg, &b)?;
            Ok(0)
        }
        SETVAL => {
            let i = one(num)?;
            let val = arg as u32 as i32;
            if !(0..=SEMVMX).contains(&val) {
                return Err(Errno::ERANGE.into());
            }
            write_ok(&st)?;
            st.sems[i].val = val;
            st.sems[i].pid = t.task.tgid();
            st.ctime = now();
            drop(st);
            sets.clear_undo(id, Some(i));
            drop(sets);
            set.queue.notify_all();
            Ok(0)
        }
        SETALL => {
            write_ok(&st)?;
            let mut b = vec![0u8; n * 2];
            mm.read(arg, &mut b)?;
            let vals: Vec<i32> = b
                .chunks_exact(2)
                .map(|c| i32::from(u16::from_le_bytes([c[0], c[1]])))
                .collect();
            if vals.iter().any(|v| *v > SEMVMX) {
                return Err(Errno::ERANGE.into());
            }
            let pid = t.task.tgid();
            for (s, v) in st.sems.iter_mut().zip(vals) {
                s.val = v;
                s.pid = pid;
            }
            st.ctime = now();
            drop(st);
            sets.clear_undo(id, None);
            drop(sets);
            set.queue.notify_all();
            Ok(0)
        }
        IPC_SET => {
            let mut b = [0u8; 48];
            mm.read(arg, &mut b)?;
            if !st.perm.owned_by(&creds) {
                return Err(Errno::EPERM.into());
            }
            let uid = u32::from_le_bytes(b[4..8].try_into().unwrap_or_default());
            let gid = u32::from_le_bytes(b[8..12].try_into().unwrap_or_default());
            let mode = u32::from_le_bytes(b[20..24].try_into().unwrap_or_default());
            st.perm.set(uid, gid, mode);
            st.ctime = now();
            Ok(0)
        }
        IPC_RMID => {
            if !st.perm.owned_by(&creds) {
                return Err(Errno::EPERM.into());
            }
            drop(st);
            sets.remove(id);
            Ok(0)
        }
        _ => Err(Errno::EINVAL.into()),
    }
}

/// msgctl's MSG_STAT, MSG_INFO and MSG_STAT_ANY.
const MSG_STAT: i32 = 11;
const MSG_INFO: i32 = 12;
const MSG_STAT_ANY: i32 = 13;
/// msgrcv's MSG_COPY (checkpoint/restore).
const MSG_COPY: u32 = 0o40000;
/// CAP_SYS_RESOURCE: raise msg_qbytes above MSGMNB.
const CAP_SYS_RESOURCE: u32 = 24;

/// msgget(key, flags).
pub fn msgget(t: &mut TaskCtx, key: i32, flags: u32) -> SysResult {
    let creds = t.task.ident.creds();
    Ok(t.task.kernel.ipc.msg.get(&creds, key, flags)? as u64)
}

fn msg_queue(t: &TaskCtx, id: i32, perm: u32) -> Result<Arc<MsgQueue>, Errno> {
    let q = t.task.kernel.ipc.msg.queues.lock().get(id)?;
    let creds = t.task.ident.creds();
    if !q.state.lock().perm.permits(&creds, perm) {
        return Err(Errno::EACCES);
    }
    Ok(q)
}

/// msgsnd(id, msgp, msgsz, flags): sleeps while the queue is full
/// (EAGAIN with IPC_NOWAIT, EINTR on a signal, EIDRM on removal).
pub fn msgsnd(t: &mut TaskCtx, id: i32, msgp: u64, msgsz: u64, flags: u32) -> SysResult {
    if msgsz > MSGMAX as u64 || id < 0 {
        return Err(Errno::EINVAL.into());
    }
    let q = msg_queue(t, id, 0o222)?;
    let mm = t.mm();
    let mut ty = [0u8; 8];
    mm.read(msgp, &mut ty)?;
    let ty = i64::from_le_bytes(ty);
    if ty < 1 {
        return Err(Errno::EINVAL.into());
    }
    let mut text = vec![0u8; msgsz as usize];
    mm.read(msgp + 8, &mut text)?;
    let task = Arc::clone(&t.task);
    loop {
        let guard = q.queue.prepare(&*task);
        {
            let mut st = q.state.lock();
            if st.removed {
                return Err(Errno::EIDRM.into());
            }
            if st.cbytes + msgsz <= st.qbytes && (st.msgs.len() as u64) < st.qbytes {
                st.cbytes += msgsz;
                st.msgs.push_back((ty, std::mem::take(&mut text)));
                st.lspid = task.tgid();
                st.stime = now();
                drop(st);
                q.queue.notify_all();
                return Ok(0);
            }
        }
        if flags & IPC_NOWAIT != 0 {
            return Err(Errno::EAGAIN.into());
        }
        if guard.sleep(None).is_err() {
            return Err(Errno::EINTR.into());
        }
    }
}

/// msgrcv(id, msgp, msgsz, msgtyp, flags): takes the first message that
/// `msgtyp` selects (0: any; > 0: that type, or any other with
/// MSG_EXCEPT; < 0: the lowest type up to |msgtyp|), truncated with
/// MSG_NOERROR (E2BIG without); sleeps while none matches (ENOMSG with
/// IPC_NOWAIT).
pub fn msgrcv(
    t: &mut TaskCtx,
    id: i32,
    msgp: u64,
    msgsz: u64,
    msgtyp: i64,
    flags: u32,
) -> SysResult {
    if (msgsz as i64) < 0 || id < 0 || flags & MSG_COPY != 0 {
        return Err(Errno::EINVAL.into());
    }
    let q = msg_queue(t, id, 0o444)?;
    let mm = t.mm();
    let task = Arc::clone(&t.task);
    loop {
        let guard = q.queue.prepare(&*task);
        {
            let mut st = q.state.lock();
            if st.removed {
                return Err(Errno::EIDRM.into());
            }
            if let Some(i) = st.find(msgtyp, flags & MSG_EXCEPT != 0) {
                let len = st.msgs[i].1.len() as u64;
                if len > msgsz && flags & MSG_NOERROR == 0 {
                    return Err(Errno::E2BIG.into());
                }
                let n = len.min(msgsz) as usize;
                let (ty, text) = &st.msgs[i];
                let mut out = ty.to_le_bytes().to_vec();
                out.extend_from_slice(&text[..n]);
                // Linux copies out after unlinking; a fault loses the message.
                let (_, text) = st.msgs.remove(i).unwrap_or_default();
                st.cbytes -= text.len() as u64;
                st.lrpid = task.tgid();
                st.rtime = now();
                drop(st);
                q.queue.notify_all();
                mm.write(msgp, &out)?;
                return Ok(n as u64);
            }
        }
        if flags & IPC_NOWAIT != 0 {
            return Err(Errno::ENOMSG.into());
        }
        if guard.sleep(None).is_err() {
            return Err(Errno::EINTR.into());
        }
    }
}

/// msgctl(id, cmd, buf).
pub fn msgctl(t: &mut TaskCtx, id: i32, cmd: i32, buf: u64) -> SysResult {
    let cmd = cmd & !IPC_64;
    let kernel = Arc::clone(&t.task.kernel);
    let creds = t.task.ident.creds();
    let mm = t.mm();
    let table = &kernel.ipc.msg;
    match cmd {
        IPC_INFO | MSG_INFO => {
            let qs = table.queues.lock();
            let (pool, map, tql) = if cmd == MSG_INFO {
                let (mut n, mut bytes) = (0i32, 0i32);
                for q in qs.by_index.values() {
                    let st = q.state.lock();
                    n += st.msgs.len() as i32;
                    bytes += st.cbytes as i32;
                }
                (qs.by_index.len() as i32, n, bytes)
            } else {
                (
                    (MSGMNI as i32 * MSGMNB as i32) / 1024,
                    MSGMNB as i32,
                    MSGMNB as i32,
                )
            };
            let max = qs.by_index.keys().next_back().map_or(0, |i| *i as u64);
            drop(qs);
            let mut b: Vec<u8> = [
                pool,
                map,
                MSGMAX as i32,
                MSGMNB as i32,
                MSGMNI as i32,
                16,
                tql,
            ]
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
            b.extend_from_slice(&0xffffu16.to_le_bytes());
            b.extend_from_slice(&[0, 0]);
            mm.write(buf, &b)?;
            return Ok(max);
        }
        MSG_STAT | MSG_STAT_ANY => {
            let qs = table.queues.lock();
            let q = qs.by_index.get(&id).ok_or(Errno::EINVAL)?;
            let st = q.state.lock();
            if cmd == MSG_STAT && !st.perm.permits(&creds, 0o444) {
                return Err(Errno::EACCES.into());
            }
            let full = i32::from(st.perm.seq) * IPCMNI + id;
            let data = st.encode();
            drop(st);
            drop(qs);
            mm.write(buf, &data)?;
            return Ok(full as u64);
        }
        _ => {}
    }
    let mut qs = table.queues.lock();
    let q = qs.get(id)?;
    let mut st = q.state.lock();
    match cmd {
        IPC_STAT => {
            if !st.perm.permits(&creds, 0o444) {
                return Err(Errno::EACCES.into());
            }
            let data = st.encode();
            drop(st);
            drop(qs);
            mm.write(buf, &data)?;
            Ok(0)
        }
        IPC_SET => {
            let mut b = [0u8; 120];
            mm.read(buf, &mut b)?;
            if !st.perm.owned_by(&creds) {
                return Err(Errno::EPERM.into());
            }
            let qbytes = u64::from_le_bytes(b[88..96].try_into().unwrap_or_default());
            if qbytes > MSGMNB && qbytes > st.qbytes && !creds.capable(CAP_SYS_RESOURCE) {
                return Err(Errno::EPERM.into());
            }
            let uid = u32::from_le_bytes(b[4..8].try_into().unwrap_or_default());
            let gid = u32::from_le_bytes(b[8..12].try_into().unwrap_or_default());
            let mode = u32::from_le_bytes(b[20..24].try_into().unwrap_or_default());
            st.qbytes = qbytes;
            st.perm.set(uid, gid, mode);
            st.ctime = now();
            drop(st);
            q.queue.notify_all();
            Ok(0)
        }
        IPC_RMID => {
            if !st.perm.owned_by(&creds) {
                return Err(Errno::EPERM.into());
            }
            drop(st);
            qs.remove(id);
            Ok(0)
        }
        _ => Err(Errno::EINVAL.into()),
    }
}

//! SysV semaphore sets (semget, semop/semtimedop, semctl) and SEM_UNDO.
//!
//! A set's operations apply atomically (all or none) under its lock;
//! a caller that cannot proceed sleeps on the set's queue, counted in
//! `semncnt`/`semzcnt` of the semaphore it waits for, and retries on every
//! change. Removal (IPC_RMID) wakes every sleeper with EIDRM. SEM_UNDO
//! adjustments are kept per process and applied (clamped to
//! `0..=SEMVMX`, as Linux) when the process exits.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;

use super::{IPC_CREAT, IPC_EXCL, IPC_PRIVATE, IPCMNI, Perm, now};
use crate::errno::Errno;
use crate::kernel::creds::Creds;
use crate::kernel::wait::WaitQueue;

/// Most semaphores in a set (Linux's default SEMMSL).
pub const SEMMSL: i32 = 32000;
/// Most semaphores in all sets (SEMMNS).
pub const SEMMNS: i32 = 1_024_000_000;
/// Most operations in one semop (SEMOPM).
pub const SEMOPM: usize = 500;
/// Most sets (SEMMNI).
pub const SEMMNI: usize = 32000;
/// Largest semaphore value.
pub const SEMVMX: i32 = 32767;
/// Largest undo adjustment.
pub const SEMAEM: i32 = SEMVMX;
/// semop flag: undo at exit.
pub const SEM_UNDO: i16 = 0x1000;

/// One semaphore.
#[derive(Clone, Copy, Default)]
pub struct Sem {
    /// Its value.
    pub val: i32,
    /// Pid of the last operation.
    pub pid: i32,
    /// Tasks waiting for it to grow.
    pub ncnt: u32,
    /// Tasks waiting for it to be zero.
    pub zcnt: u32,
}

/// A set's state.
pub struct SemState {
    /// Owner, mode, key.
    pub perm: Perm,
    /// The semaphores.
    pub sems: Vec<Sem>,
    /// Last semop.
    pub otime: i64,
    /// Creation or last change by semctl.
    pub ctime: i64,
    /// Removed (sleepers get EIDRM).
    pub removed: bool,
}

/// One set.
pub struct SemSet {
    /// Its state.
    pub state: Mutex<SemState>,
    /// Sleepers in semop.
    pub queue: WaitQueue,
}

impl SemState {
    /// `struct semid64_ds` (104 bytes).
    pub fn encode(&self) -> [u8; 104] {
        let mut b = [0u8; 104];
        b[0..48].copy_from_slice(&self.perm.encode());
        b[48..56].copy_from_slice(&self.otime.to_le_bytes());
        b[64..72].copy_from_slice(&self.ctime.to_le_bytes());
        b[80..88].copy_from_slice(&(self.sems.len() as u64).to_le_bytes());
        b
    }
}

/// One operation of a semop.
#[derive(Clone, Copy, Debug)]
pub struct SemOp {
    /// Semaphore index.
    pub num: u16,
    /// The change (0: wait for zero).
    pub op: i16,
    /// IPC_NOWAIT, SEM_UNDO.
    pub flg: i16,
}

/// What a semop attempt came to.
pub enum Attempt {
    /// Applied.
    Done,
    /// Must wait on semaphore `num`: for zero (`true`) or to grow.
    Wait(u16, bool),
}

/// The namespace's sets.
#[derive(Default)]
pub struct SemTable {
    /// By index, with the id's sequence number.
    pub sets: Mutex<Sets>,
}

/// The sets and the undo lists.
#[derive(Default)]
pub struct Sets {
    /// By index.
    pub by_index: BTreeMap<i32, Arc<SemSet>>,
    seq: u16,
    /// SEM_UNDO adjustments: (process, set id) → one per semaphore.
    pub undo: BTreeMap<(i32, i32), Vec<i32>>,
}

impl Sets {
    /// The set `id` names (EINVAL when none does).
    pub fn get(&self, id: i32) -> Result<Arc<SemSet>, Errno> {
        if id < 0 {
            return Err(Errno::EINVAL);
        }
        match self.by_index.get(&(id % IPCMNI)) {
            Some(s) if i32::from(s.state.lock().perm.seq) == id / IPCMNI => Ok(Arc::clone(s)),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Removes set `id`: sleepers wake with EIDRM, undo entries go.
    pub fn remove(&mut self, id: i32) {
        if let Some(s) = self.by_index.remove(&(id % IPCMNI)) {
            s.state.lock().removed = true;
            s.queue.notify_all();
        }
        self.undo.retain(|(_, sid), _| *sid != id);
    }

    /// Clears the undo adjustments of semaphore `num` of set `id`
    /// (SETVAL) or of every semaphore (SETALL: `None`).
    pub fn clear_undo(&mut self, id: i32, num: Option<usize>) {
        for ((_, sid), adj) in self.undo.iter_mut() {
            if *sid == id {
                match num {
                    Some(n) => adj[n] = 0,
                    None => adj.iter_mut().for_each(|a| *a = 0),
                }
            }
        }
    }
}

impl SemTable {
    /// semget(key, nsems, flags).
    pub fn get(&self, creds: &Creds, key: i32, nsems: i32, flags: u32) -> Result<i32, Errno> {
        if !(0..=SEMMSL).contains(&nsems) {
            return Err(Errno::EINVAL);
        }
        let mut sets = self.sets.lock();
        if key != IPC_PRIVATE {
            let found = sets.by_index.iter().find_map(|(i, s)| {
                let st = s.state.lock();
                (st.perm.key == key).then(|| (*i, st.perm, st.sems.len()))
            });
            match found {
                Some((i, perm, n)) => {
                    if flags & IPC_CREAT != 0 && flags & IPC_EXCL != 0 {
                        return Err(Errno::EEXIST);
                    }
                    if !perm.permits(creds, flags & 0o777) {
                        return Err(Errno::EACCES);
                    }
                    if nsems as usize > n {
                        return Err(Errno::EINVAL);
                    }
                    return Ok(i32::from(perm.seq) * IPCMNI + i);
                }
                None if flags & IPC_CREAT == 0 => return Err(Errno::ENOENT),
                None => {}
            }
        }
        if nsems == 0 {
            return Err(Errno::EINVAL);
        }
        let total: usize = sets
            .by_index
            .values()
            .map(|s| s.state.lock().sems.len())
            .sum();
        if sets.by_index.len() >= SEMMNI || total + nsems as usize > SEMMNS as usize {
            return Err(Errno::ENOSPC);
        }
        let index = (0..IPCMNI)
            .find(|i| !sets.by_index.contains_key(i))
            .ok_or(Errno::ENOSPC)?;
        let seq = sets.seq;
        sets.seq = if i32::from(seq) + 1 >= i32::MAX / IPCMNI {
            0
        } else {
            seq + 1
        };
        sets.by_index.insert(
            index,
            Arc::new(SemSet {
                state: Mutex::new(SemState {
                    perm: Perm::new(key, creds, flags, seq),
                    sems: vec![Sem::default(); nsems as usize],
                    otime: 0,
                    ctime: now(),
                    removed: false,
                }),
                queue: WaitQueue::default(),
            }),
        );
        Ok(i32::from(seq) * IPCMNI + index)
    }

    /// Tries `ops` on set `id` for process `pid` atomically.
    pub fn attempt(
        &self,
        set: &SemSet,
        id: i32,
        pid: i32,
        ops: &[SemOp],
    ) -> Result<Attempt, Errno> {
        let mut sets = self.sets.lock();
        let mut st = set.state.lock();
        if st.removed {
            return Err(Errno::EIDRM);
        }
        let mut vals: Vec<i32> = st.sems.iter().map(|s| s.val).collect();
        for o in ops {
            let v = &mut vals[usize::from(o.num)];
            match o.op {
                0 if *v != 0 => return Ok(Attempt::Wait(o.num, true)),
                0 => {}
                op if op > 0 => {
                    if *v + i32::from(op) > SEMVMX {
                        return Err(Errno::ERANGE);
                    }
                    *v += i32::from(op);
                }
                op => {
                    if *v + i32::from(op) < 0 {
                        return Ok(Attempt::Wait(o.num, false));
                    }
                    *v += i32::from(op);
                }
            }
        }
        // Undo adjustments must stay in range too.
        let n = st.sems.len();
        let undo_ops: Vec<&SemOp> = ops.iter().filter(|o| o.flg & SEM_UNDO != 0).collect();
        if !undo_ops.is_empty() {
            let adj = sets.undo.entry((pid, id)).or_insert_with(|| vec![0; n]);
            let mut new = adj.clone();
            for o in &undo_ops {
                let a = &mut new[usize::from(o.num)];
                *a -= i32::from(o.op);
                if !(-SEMAEM - 1..=SEMAEM).contains(a) {
                    return Err(Errno::ERANGE);
                }
            }
            *adj = new;
        }
        let changed = st.sems.iter().zip(&vals).any(|(s, v)| s.val != *v);
        for o in ops {
            st.sems[usize::from(o.num)].pid = pid;
        }
        for (s, v) in st.sems.iter_mut().zip(vals) {
            s.val = v;
        }
        st.otime = now();
        drop(st);
        drop(sets);
        if changed {
            set.queue.notify_all();
        }
        Ok(Attempt::Done)
    }

    /// Applies the SEM_UNDO adjustments of process `pid` (its exit).
    pub fn exit(&self, pid: i32) {
        let mut sets = self.sets.lock();
        let mine: Vec<(i32, Vec<i32>)> = sets
            .undo
            .range((pid, i32::MIN)..=(pid, i32::MAX))
            .map(|((_, id), adj)| (*id, adj.clone()))
            .collect();
        if mine.is_empty() {
            return;
        }
        sets.undo.retain(|(p, _), _| *p != pid);
        for (id, adj) in mine {
            let Ok(set) = sets.get(id) else { continue };
            let mut st = set.state.lock();
            for (s, a) in st.sems.iter_mut().zip(adj) {
                if a != 0 {
                    s.val = (s.val + a).clamp(0, SEMVMX);
                    s.pid = pid;
                }
            }
            st.otime = now();
            drop(st);
            set.queue.notify_all();
        }
    }
}

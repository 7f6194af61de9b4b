//! SysV message queues (msgget, msgsnd, msgrcv, msgctl).
//!
//! A queue holds typed messages up to `msg_qbytes` bytes (MSGMNB by
//! default); senders sleep while it is full, receivers while no message
//! matches, both on the queue's wait queue, and removal wakes them with
//! EIDRM.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{IPC_CREAT, IPC_EXCL, IPC_PRIVATE, IPCMNI, Perm, now};
use crate::errno::Errno;
use crate::kernel::creds::Creds;
use crate::kernel::wait::WaitQueue;

/// Largest message (Linux's default MSGMAX).
pub const MSGMAX: usize = 8192;
/// Default bytes per queue (MSGMNB).
pub const MSGMNB: u64 = 16384;
/// Most queues (MSGMNI).
pub const MSGMNI: usize = 32000;
/// msgrcv: truncate a long message instead of E2BIG.
pub const MSG_NOERROR: u32 = 0o10000;
/// msgrcv: any type but the one given.
pub const MSG_EXCEPT: u32 = 0o20000;

/// A queue's state.
pub struct MsgState {
    /// Owner, mode, key.
    pub perm: Perm,
    /// The messages: type and text.
    pub msgs: VecDeque<(i64, Vec<u8>)>,
    /// Bytes of text queued.
    pub cbytes: u64,
    /// Most bytes (IPC_SET may change it).
    pub qbytes: u64,
    /// Last sender and receiver.
    pub lspid: i32,
    /// Last receiver.
    pub lrpid: i32,
    /// Last send.
    pub stime: i64,
    /// Last receive.
    pub rtime: i64,
    /// Creation or last IPC_SET.
    pub ctime: i64,
    /// Removed (sleepers get EIDRM).
    pub removed: bool,
}

impl MsgState {
    /// `struct msqid64_ds` (120 bytes).
    pub fn encode(&self) -> [u8; 120] {
        let mut b = [0u8; 120];
        b[0..48].copy_from_slice(&self.perm.encode());
        b[48..56].copy_from_slice(&self.stime.to_le_bytes());
        b[56..64].copy_from_slice(&self.rtime.to_le_bytes());
        b[64..72].copy_from_slice(&self.ctime.to_le_bytes());
        b[72..80].copy_from_slice(&self.cbytes.to_le_bytes());
        b[80..88].copy_from_slice(&(self.msgs.len() as u64).to_le_bytes());
        b[88..96].copy_from_slice(&self.qbytes.to_le_bytes());
        b[96..100].copy_from_slice(&self.lspid.to_le_bytes());
        b[100..104].copy_from_slice(&self.lrpid.to_le_bytes());
        b
    }

    /// The index of the message msgrcv takes for `typ` (and MSG_EXCEPT).
    pub fn find(&self, typ: i64, except: bool) -> Option<usize> {
        if typ == 0 {
            return (!self.msgs.is_empty()).then_some(0);
        }
        if typ > 0 {
            return self
                .msgs
                .iter()
                .position(|(t, _)| if except { *t != typ } else { *t == typ });
        }
        let bound = typ.unsigned_abs();
        let mut best: Option<(usize, i64)> = None;
        for (i, (t, _)) in self.msgs.iter().enumerate() {
            if t.unsigned_abs() <= bound && best.is_none_or(|(_, b)| *t < b) {
                best = Some((i, *t));
            }
        }
        best.map(|(i, _)| i)
    }
}

/// One queue.
pub struct MsgQueue {
    /// Its state.
    pub state: Mutex<MsgState>,
    /// Senders waiting for room and receivers waiting for a message.
    pub queue: WaitQueue,
}

/// The namespace's queues.
#[derive(Default)]
pub struct MsgTable {
    /// By index.
    pub queues: Mutex<Queues>,
}

/// The queues, by index.
#[derive(Default)]
pub struct Queues {
    /// By index.
    pub by_index: BTreeMap<i32, Arc<MsgQueue>>,
    seq: u16,
}

impl Queues {
    /// The queue `id` names (EINVAL when none does).
    pub fn get(&self, id: i32) -> Result<Arc<MsgQueue>, Errno> {
        if id < 0 {
            return Err(Errno::EINVAL);
        }
        match self.by_index.get(&(id % IPCMNI)) {
            Some(q) if i32::from(q.state.lock().perm.seq) == id / IPCMNI => Ok(Arc::clone(q)),
            _ => Err(Errno::EINVAL),
        }
    }

    /// Removes queue `id`, waking its sleepers (EIDRM).
    pub fn remove(&mut self, id: i32) {
        if let Some(q) = self.by_index.remove(&(id % IPCMNI)) {
            q.state.lock().removed = true;
            q.queue.notify_all();
        }
    }
}

impl MsgTable {
    /// msgget(key, flags).
    pub fn get(&self, creds: &Creds, key: i32, flags: u32) -> Result<i32, Errno> {
        let mut qs = self.queues.lock();
        if key != IPC_PRIVATE {
            let found = qs.by_index.iter().find_map(|(i, q)| {
                let st = q.state.lock();
                (st.perm.key == key).then_some((*i, st.perm))
            });
            match found {
                Some((i, perm)) => {
                    if flags & IPC_CREAT != 0 && flags & IPC_EXCL != 0 {
                        return Err(Errno::EEXIST);
                    }
                    if !perm.permits(creds, flags & 0o777) {
                        return Err(Errno::EACCES);
                    }
                    return Ok(i32::from(perm.seq) * IPCMNI + i);
                }
                None if flags & IPC_CREAT == 0 => return Err(Errno::ENOENT),
                None => {}
            }
        }
        if qs.by_index.len() >= MSGMNI {
            return Err(Errno::ENOSPC);
        }
        let index = (0..IPCMNI)
            .find(|i| !qs.by_index.contains_key(i))
            .ok_or(Errno::ENOSPC)?;
        let seq = qs.seq;
        qs.seq = if i32::from(seq) + 1 >= i32::MAX / IPCMNI {
            0
        } else {
            seq + 1
        };
        qs.by_index.insert(
            index,
            Arc::new(MsgQueue {
                state: Mutex::new(MsgState {
                    perm: Perm::new(key, creds, flags, seq),
                    msgs: VecDeque::new(),
                    cbytes: 0,
                    qbytes: MSGMNB,
                    lspid: 0,
                    lrpid: 0,
                    stime: 0,
                    rtime: 0,
                    ctime: now(),
                    removed: false,
                }),
                queue: WaitQueue::default(),
            }),
        );
        Ok(i32::from(seq) * IPCMNI + index)
    }
}

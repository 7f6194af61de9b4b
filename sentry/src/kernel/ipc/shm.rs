//! SysV shared memory segments (shmget, shmat, shmdt, shmctl).
//!
//! A segment's pages are a [`SharedMemory`] object, as a memfd's: every
//! attachment maps those very frames MAP_SHARED, so they are shared by
//! every process that attaches the segment and inherited across fork.
//! Pages are allocated (and charged to `--memory`) when first touched.
//!
//! `shm_nattch` is counted as Linux counts it: the mappings of the
//! segment in every live address space, so fork adds one per attachment
//! and exec or exit drops them without any bookkeeping here. A segment
//! removed with IPC_RMID while attached keeps living (SHM_DEST, key
//! IPC_PRIVATE) until its last mapping goes; the table lets it go at the
//! next SysV call after that, and the frames go with the last reference.

use std::collections::BTreeMap;
use std::sync::Arc;

use parking_lot::Mutex;
use platform::{PAGE_SIZE, Platform};

use super::{IPC_CREAT, IPC_EXCL, IPC_PRIVATE, IPCMNI, Perm, now};
use crate::errno::Errno;
use crate::kernel::creds::Creds;
use crate::mm::SharedMemory;

/// Smallest segment.
pub const SHMMIN: u64 = 1;
/// Largest segment (Linux's default `kernel.shmmax`).
pub const SHMMAX: u64 = u64::MAX - (1 << 24);
/// Most pages of all segments (Linux's default `kernel.shmall`).
pub const SHMALL: u64 = u64::MAX - (1 << 24);
/// Most segments (Linux's default `kernel.shmmni`).
pub const SHMMNI: usize = 4096;
/// The mode bit of a segment removed while attached.
pub const SHM_DEST: u32 = 0o1000;

/// One segment.
pub struct Segment {
    /// Owner, mode, key.
    pub perm: Perm,
    /// Size asked for, in bytes.
    pub size: u64,
    /// Its pages.
    pub store: Arc<SharedMemory>,
    /// Creator's pid.
    pub cpid: i32,
    /// Pid of the last shmat or shmdt.
    pub lpid: i32,
    /// Last shmat.
    pub atime: i64,
    /// Last shmdt.
    pub dtime: i64,
    /// Creation or last IPC_SET.
    pub ctime: i64,
}

impl Segment {
    /// Number of mappings of it.
    pub fn nattch(&self) -> u64 {
        self.store.attach_count()
    }

    /// `struct shmid64_ds` (112 bytes).
    pub fn encode(&self) -> [u8; 112] {
        let mut b = [0u8; 112];
        b[0..48].copy_from_slice(&self.perm.encode());
        b[48..56].copy_from_slice(&self.size.to_le_bytes());
        b[56..64].copy_from_slice(&self.atime.to_le_bytes());
        b[64..72].copy_from_slice(&self.dtime.to_le_bytes());
        b[72..80].copy_from_slice(&self.ctime.to_le_bytes());
        b[80..84].copy_from_slice(&self.cpid.to_le_bytes());
        b[84..88].copy_from_slice(&self.lpid.to_le_bytes());
        b[88..96].copy_from_slice(&self.nattch().to_le_bytes());
        b
    }
}

/// The segments, by index.
#[derive(Default)]
pub struct Segments {
    /// By index (the id modulo IPCMNI).
    pub by_index: BTreeMap<i32, Segment>,
    seq: u16,
}

impl Segments {
    /// The segment `id` names (EINVAL when none does).
    pub fn get_mut(&mut self, id: i32) -> Result<&mut Segment, Errno> {
        if id < 0 {
            return Err(Errno::EINVAL);
        }
        match self.by_index.get_mut(&(id % IPCMNI)) {
            Some(s) if i32::from(s.perm.seq) == id / IPCMNI => Ok(s),
            _ => Err(Errno::EINVAL),
        }
    }

    /// The segment that owns `store`.
    pub fn by_store(&mut self, store: &Arc<SharedMemory>) -> Option<&mut Segment> {
        self.by_index
            .values_mut()
            .find(|s| Arc::ptr_eq(&s.store, store))
    }

    /// Pages of every segment.
    pub fn total_pages(&self) -> u64 {
        self.by_index
            .values()
            .map(|s| s.size.div_ceil(PAGE_SIZE))
            .sum()
    }

    /// Drops the segments removed with IPC_RMID that nobody maps any more.
    pub fn prune(&mut self) {
        self.by_index
            .retain(|_, s| s.perm.mode & SHM_DEST == 0 || s.nattch() > 0);
    }

    /// Removes segment `index` now if nobody maps it, else marks it for
    /// removal at its last detach (IPC_RMID).
    pub fn remove(&mut self, index: i32) {
        if let Some(s) = self.by_index.get_mut(&index) {
            s.perm.mode |= SHM_DEST;
            s.perm.key = IPC_PRIVATE;
            if s.nattch() == 0 {
                self.by_index.remove(&index);
            }
        }
    }

    /// The id of segment `index`.
    pub fn id_of(&self, index: i32) -> i32 {
        self.by_index
            .get(&index)
            .map_or(-1, |s| i32::from(s.perm.seq) * IPCMNI + index)
    }
}

/// The namespace's segments.
#[derive(Default)]
pub struct ShmTable {
    /// The segments (a kernel lock: taken before any memory lock).
    pub segs: Mutex<Segments>,
}

impl ShmTable {
    /// shmget(key, size, flags) for a caller with `creds` in process
    /// `pid`: the segment's id.
    pub fn get(
        &self,
        machine: &Arc<dyn Platform>,
        creds: &Creds,
        pid: i32,
        key: i32,
        size: u64,
        flags: u32,
    ) -> Result<i32, Errno> {
        let mut segs = self.segs.lock();
        segs.prune();
        if key != IPC_PRIVATE {
            let found = segs
                .by_index
                .iter()
                .find(|(_, s)| s.perm.key == key)
                .map(|(i, _)| *i);
            match found {
                Some(i) => {
                    if flags & IPC_CREAT != 0 && flags & IPC_EXCL != 0 {
                        return Err(Errno::EEXIST);
                    }
                    let s = &segs.by_index[&i];
                    if !s.perm.permits(creds, flags & 0o777) {
                        return Err(Errno::EACCES);
                    }
                    if s.size < size {
                        return Err(Errno::EINVAL);
                    }
                    return Ok(segs.id_of(i));
                }
                None if flags & IPC_CREAT == 0 => return Err(Errno::ENOENT),
                None => {}
            }
        }
        if !(SHMMIN..=SHMMAX).contains(&size) {
            return Err(Errno::EINVAL);
        }
        let pages = size.div_ceil(PAGE_SIZE);
        if segs.total_pages().saturating_add(pages) > SHMALL {
            return Err(Errno::ENOSPC);
        }
        if segs.by_index.len() >= SHMMNI {
            return Err(Errno::ENOSPC);
        }
        let index = (0..IPCMNI)
            .find(|i| !segs.by_index.contains_key(i))
            .ok_or(Errno::ENOSPC)?;
        let seq = segs.seq;
        segs.seq = if i32::from(seq) + 1 >= i32::MAX / IPCMNI {
            0
        } else {
            seq + 1
        };
        let store = Arc::new(SharedMemory::new_file(Arc::clone(machine)));
        store.set_size(pages * PAGE_SIZE);
        segs.by_index.insert(
            index,
            Segment {
                perm: Perm::new(key, creds, flags, seq),
                size,
                store,
                cpid: pid,
                lpid: 0,
                atime: 0,
                dtime: 0,
                ctime: now(),
            },
        );
        Ok(segs.id_of(index))
    }
}

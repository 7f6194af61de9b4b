//! Advisory file locks: `flock(2)` and `fcntl(2)` record locks (the
//! traditional process-owned ones and open-file-description ones), in the
//! spirit of Linux's `fs/locks.c`.
//!
//! * A file is named by a [`FileKey`] (device and inode number of the
//!   opened file), so every descriptor of one file, whatever way it was
//!   opened, sees the same locks.
//! * flock locks belong to an open file description ([`Owner::Ofd`]) and
//!   cover the whole file; they never interact with record locks (Linux).
//! * Record locks cover byte ranges `[start, end]` (inclusive; `end` is
//!   [`EOF`] for "to the end, however far it grows"). A traditional lock
//!   belongs to a descriptor table ([`Owner::Posix`], Linux's
//!   `fl_owner = current->files`) and is released when that table closes
//!   any descriptor of the file; an OFD lock belongs to the open file
//!   description and goes with its last close. Both kinds conflict with
//!   each other. Setting a range splits and merges the owner's locks as
//!   POSIX says: after any call an owner's locks never overlap, and
//!   touching locks of one type are merged.
//! * Blocking requests sleep on the table's [`WaitQueue`] through a
//!   [`Blocker`], so signals interrupt them (ERESTARTSYS). A blocked
//!   traditional request records what it waits for, and a new one that
//!   would close a cycle of waiting owners fails with EDEADLK (Linux's
//!   `posix_locks_deadlock`; OFD locks are not checked, as in Linux).
//!
//! # Lock order
//!
//! `LockTable::state` is a leaf: nothing else is taken while it is held,
//! and it is never held while sleeping.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;

use crate::errno::Errno;
use crate::kernel::wait::{Blocker, WaitQueue};

/// A file: (device, inode number).
pub type FileKey = (u64, u64);

/// The last byte of a lock that runs to the end of the file.
pub const EOF: u64 = u64::MAX;

/// Record locks the whole sandbox may hold at once: each costs sentry
/// memory the guest does not pay for, so past this a request that could
/// add one fails with ENOLCK (Linux's answer when it cannot allocate a
/// lock).
pub const MAX_RECORDS: usize = 1 << 16;

/// Who owns a lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Owner {
    /// A descriptor table (traditional POSIX record locks).
    Posix(u64),
    /// An open file description (flock and OFD record locks).
    Ofd(u64),
}

/// Shared (read) or exclusive (write).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Shared: F_RDLCK, LOCK_SH.
    Read,
    /// Exclusive: F_WRLCK, LOCK_EX.
    Write,
}

/// One record lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record {
    /// Its owner.
    pub owner: Owner,
    /// The process that set it (F_GETLK's `l_pid`; -1 for OFD locks).
    pub pid: i32,
    /// Its type.
    pub kind: Kind,
    /// First byte.
    pub start: u64,
    /// Last byte ([`EOF`]: to the end of the file).
    pub end: u64,
}

impl Record {
    fn overlaps(&self, start: u64, end: u64) -> bool {
        self.start <= end && start <= self.end
    }

    fn conflicts(&self, owner: Owner, kind: Kind, start: u64, end: u64) -> bool {
        self.owner != owner
            && self.overlaps(start, end)
            && (self.kind == Kind::Write || kind == Kind::Write)
    }
}

/// A request for a record lock.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// Who asks.
    pub owner: Owner,
    /// The asking process (stored for F_GETLK).
    pub pid: i32,
    /// The type, or None to unlock.
    pub kind: Option<Kind>,
    /// First byte.
    pub start: u64,
    /// Last byte.
    pub end: u64,
}

#[derive(Default)]
struct FileLocks {
    /// flock locks: (open file description id, type).
    flocks: Vec<(u64, Kind)>,
    /// Record locks, of every owner.
    records: Vec<Record>,
}

impl FileLocks {
    fn is_empty(&self) -> bool {
        self.flocks.is_empty() && self.records.is_empty()
    }

    fn first_conflict(&self, r: &Request, kind: Kind) -> Option<Record> {
        self.records
            .iter()
            .filter(|l| l.conflicts(r.owner, kind, r.start, r.end))
            .min_by_key(|l| l.start)
            .copied()
    }

    /// Applies `r` (no conflict left) to the owner's locks: splits what
    /// the range cuts, merges touching locks of the same type.
    fn apply(&mut self, r: &Request) {
        let (mut start, mut end) = (r.start, r.end);
        let mut kept = Vec::with_capacity(self.records.len() + 1);
        let mut split = Vec::new();
        for l in self.records.drain(..) {
            if l.owner != r.owner {
                kept.push(l);
                continue;
            }
            let touches = l.overlaps(start.saturating_sub(1), end.saturating_add(1));
            if Some(l.kind) == r.kind && touches {
                // Same type, overlapping or adjacent: one lock.
                start = start.min(l.start);
                end = end.max(l.end);
                continue;
            }
            if !l.overlaps(r.start, r.end) {
                kept.push(l);
                continue;
            }
            // Another type (or an unlock) over part of it: keep the parts
            // outside the range.
            if l.start < r.start {
                split.push(Record {
                    end: r.start - 1,
                    ..l
                });
            }
            if l.end > r.end {
                split.push(Record {
                    start: r.end + 1,
                    ..l
                });
            }
        }
        kept.extend(split);
        if let Some(kind) = r.kind {
            kept.push(Record {
                owner: r.owner,
                pid: r.pid,
                kind,
                start,
                end,
            });
        }
        kept.sort_by_key(|l| (l.start, l.end));
        self.records = kept;
    }
}

#[derive(Default)]
struct State {
    files: HashMap<FileKey, FileLocks>,
    /// What each blocked traditional owner waits for (deadlock detection).
    blocked: HashMap<Owner, (FileKey, Request, Kind)>,
    /// Record locks held per owner (so a close checks cheaply).
    held: HashMap<Owner, usize>,
    /// Record locks held in all.
    total: usize,
}

impl State {
    fn recount(&mut self, key: FileKey, before: &[Record]) {
        self.total -= before.len();
        self.total += self.files.get(&key).map_or(0, |f| f.records.len());
        for l in before {
            if let Some(n) = self.held.get_mut(&l.owner) {
                *n -= 1;
                if *n == 0 {
                    self.held.remove(&l.owner);
                }
            }
        }
        if let Some(f) = self.files.get(&key) {
            for l in &f.records {
                *self.held.entry(l.owner).or_default() += 1;
            }
        }
    }

    fn modify(&mut self, key: FileKey, edit: impl FnOnce(&mut FileLocks)) {
        let f = self.files.entry(key).or_default();
        let before = f.records.clone();
        edit(f);
        if f.is_empty() {
            self.files.remove(&key);
        }
        self.recount(key, &before);
    }

    /// Whether `me` waiting for the holders of locks conflicting with `r`
    /// would close a cycle of waiting traditional owners.
    fn would_deadlock(&self, me: Owner, key: FileKey, r: &Request, kind: Kind) -> bool {
        let mut stack: Vec<Owner> = self.holders(key, r, kind);
        let mut seen = Vec::new();
        while let Some(o) = stack.pop() {
            if o == me {
                return true;
            }
            if seen.contains(&o) || seen.len() > 1024 {
                continue;
            }
            seen.push(o);
            if let Some((k, req, kd)) = self.blocked.get(&o) {
                stack.extend(self.holders(*k, req, *kd));
            }
        }
        false
    }

    fn holders(&self, key: FileKey, r: &Request, kind: Kind) -> Vec<Owner> {
        self.files
            .get(&key)
            .map(|f| {
                f.records
                    .iter()
                    .filter(|l| l.conflicts(r.owner, kind, r.start, r.end))
                    .map(|l| l.owner)
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// The sandbox's locks.
pub struct LockTable {
    state: Mutex<State>,
    queue: WaitQueue,
    /// At most this many record locks at once ([`MAX_RECORDS`]).
    max_records: usize,
}

impl Default for LockTable {
    fn default() -> Self {
        Self::with_limit(MAX_RECORDS)
    }
}

/// Unique ids for descriptor tables and open file descriptions.
pub fn new_owner_id() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

impl LockTable {
    /// An empty table.
    pub fn new() -> Arc<Self> {
        Arc::default()
    }

    /// An empty table holding at most `max_records` record locks.
    pub fn with_limit(max_records: usize) -> Self {
        Self {
            state: Mutex::default(),
            queue: WaitQueue::default(),
            max_records,
        }
    }

    /// flock: `kind` None unlocks. The open file description `ofd` first
    /// drops a lock of another type (Linux converts that way: not
    /// atomically), then waits for the conflicting ones to go unless
    /// `blocker` is None (LOCK_NB: EWOULDBLOCK).
    pub fn flock(
        &self,
        key: FileKey,
        ofd: u64,
        kind: Option<Kind>,
        blocker: Option<&dyn Blocker>,
    ) -> Result<(), Errno> {
        {
            let mut st = self.state.lock();
            let f = st.files.get(&key);
            let mine = f.and_then(|f| f.flocks.iter().find(|(o, _)| *o == ofd).map(|l| l.1));
            if mine.is_some() && mine == kind {
                return Ok(());
            }
            if mine.is_some() {
                st.modify(key, |f| f.flocks.retain(|(o, _)| *o != ofd));
                drop(st);
                self.queue.notify_all();
            }
        }
        let Some(kind) = kind else {
            return Ok(());
        };
        loop {
            let guard = blocker.map(|b| self.queue.prepare(b));
            {
                let mut st = self.state.lock();
                let busy = st.files.get(&key).is_some_and(|f| {
                    f.flocks
                        .iter()
                        .any(|&(o, k)| o != ofd && (k == Kind::Write || kind == Kind::Write))
                });
                if !busy {
                    st.modify(key, |f| f.flocks.push((ofd, kind)));
                    return Ok(());
                }
            }
            match guard {
                None => return Err(Errno::EAGAIN),
                Some(g) => {
                    g.sleep(None)?;
                }
            }
        }
    }

    /// F_GETLK: the first lock that would conflict with `r`, if any.
    pub fn test(&self, key: FileKey, r: &Request) -> Option<Record> {
        let kind = r.kind?;
        self.state.lock().files.get(&key)?.first_conflict(r, kind)
    }

    /// F_SETLK / F_SETLKW: sets or clears a range. Conflicts give EAGAIN
    /// when `blocker` is None, else the caller sleeps until they go (or a
    /// signal: ERESTARTSYS; or a cycle of waiting owners: EDEADLK).
    pub fn set(
        &self,
        key: FileKey,
        r: &Request,
        blocker: Option<&dyn Blocker>,
    ) -> Result<(), Errno> {
        // A request adds at most two records (the new one and the far
        // part of one it splits).
        if self.state.lock().total + 2 > self.max_records {
            return Err(Errno::ENOLCK);
        }
        let Some(kind) = r.kind else {
            self.state.lock().modify(key, |f| f.apply(r));
            self.queue.notify_all();
            return Ok(());
        };
        loop {
            let guard = blocker.map(|b| self.queue.prepare(b));
            {
                let mut st = self.state.lock();
                let conflict = st.files.get(&key).and_then(|f| f.first_conflict(r, kind));
                if conflict.is_none() {
                    st.blocked.remove(&r.owner);
                    // A downgrade or a split may let others in.
                    st.modify(key, |f| f.apply(r));
                    drop(st);
                    self.queue.notify_all();
                    return Ok(());
                }
                if guard.is_none() {
                    return Err(Errno::EAGAIN);
                }
                if matches!(r.owner, Owner::Posix(_)) {
                    if st.would_deadlock(r.owner, key, r, kind) {
                        st.blocked.remove(&r.owner);
                        return Err(Errno::EDEADLOCK);
                    }
                    st.blocked.insert(r.owner, (key, *r, kind));
                }
            }
            let slept = guard.map(|g| g.sleep(None));
            if let Some(Err(e)) = slept {
                self.state.lock().blocked.remove(&r.owner);
                return Err(e);
            }
        }
    }

    /// Whether `owner` holds any record lock (a cheap test before a close
    /// looks up the file's key).
    pub fn holds_records(&self, owner: Owner) -> bool {
        self.state.lock().held.contains_key(&owner)
    }

    /// Drops every record lock of `owner` on `key` (a traditional owner
    /// closing a descriptor of the file).
    pub fn release_records(&self, key: FileKey, owner: Owner) {
        let mut st = self.state.lock();
        let has = st
            .files
            .get(&key)
            .is_some_and(|f| f.records.iter().any(|l| l.owner == owner));
        if has {
            st.modify(key, |f| f.records.retain(|l| l.owner != owner));
            drop(st);
            self.queue.notify_all();
        }
    }

    /// Drops every lock of `owner` on every file (the last close of an
    /// open file description, the end of a descriptor table).
    pub fn release_owner(&self, owner: Owner) {
        let mut st = self.state.lock();
        let keys: Vec<FileKey> = st
            .files
            .iter()
            .filter(|(_, f)| {
                f.records.iter().any(|l| l.owner == owner)
                    || matches!(owner, Owner::Ofd(id) if f.flocks.iter().any(|l| l.0 == id))
            })
            .map(|(k, _)| *k)
            .collect();
        st.blocked.remove(&owner);
        if keys.is_empty() {
            return;
        }
        for key in keys {
            st.modify(key, |f| {
                f.records.retain(|l| l.owner != owner);
                if let Owner::Ofd(id) = owner {
                    f.flocks.retain(|l| l.0 != id);
                }
            });
        }
        drop(st);
        self.queue.notify_all();
    }

    /// The record locks on `key`, in order (tests, /proc/locks).
    pub fn records(&self, key: FileKey) -> Vec<Record> {
        self.state
            .lock()
            .files
            .get(&key)
            .map(|f| f.records.clone())
            .unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::kernel::wait::Waiter;

    const K: FileKey = (1, 2);
    const A: Owner = Owner::Posix(1);
    const B: Owner = Owner::Posix(2);

    fn req(owner: Owner, kind: Option<Kind>, start: u64, end: u64) -> Request {
        Request {
            owner,
            pid: 10,
            kind,
            start,
            end,
        }
    }

    fn ranges(t: &LockTable) -> Vec<(Owner, Kind, u64, u64)> {
        t.records(K)
            .iter()
            .map(|l| (l.owner, l.kind, l.start, l.end))
            .collect()
    }

    struct Sleeper {
        waiter: Arc<Waiter>,
        interrupted: std::sync::atomic::AtomicBool,
    }

    impl Blocker for Sleeper {
        fn waiter(&self) -> &Arc<Waiter> {
            &self.waiter
        }
        fn check_interrupt(&self) -> Result<(), Errno> {
            if self.interrupted.load(std::sync::atomic::Ordering::SeqCst) {
                Err(Errno::ERESTARTSYS)
            } else {
                Ok(())
            }
        }
    }

    fn sleeper() -> Arc<Sleeper> {
        Arc::new(Sleeper {
            waiter: Arc::default(),
            interrupted: Default::default(),
        })
    }

    #[test]
    fn unlock_in_the_middle_splits_a_lock() {
        let t = LockTable::new();
        t.set(K, &req(A, Some(Kind::Write), 0, 99), None).unwrap();
        t.set(K, &req(A, None, 40, 59), None).unwrap();
        assert_eq!(
            ranges(&t),
            vec![(A, Kind::Write, 0, 39), (A, Kind::Write, 60, 99)]
        );
    }

    #[test]
    fn touching_locks_of_one_type_merge_and_other_types_split() {
        let t = LockTable::new();
        t.set(K, &req(A, Some(Kind::Read), 0, 9), None).unwrap();
        t.set(K, &req(A, Some(Kind::Read), 10, 19), None).unwrap();
        assert_eq!(ranges(&t), vec![(A, Kind::Read, 0, 19)]);
        t.set(K, &req(A, Some(Kind::Write), 5, 7), None).unwrap();
        assert_eq!(
            ranges(&t),
            vec![
                (A, Kind::Read, 0, 4),
                (A, Kind::Write, 5, 7),
                (A, Kind::Read, 8, 19)
            ]
        );
        t.set(K, &req(A, Some(Kind::Read), 0, EOF), None).unwrap();
        assert_eq!(ranges(&t), vec![(A, Kind::Read, 0, EOF)]);
    }

    #[test]
    fn conflicts_need_another_owner_and_a_writer() {
        let t = LockTable::new();
        t.set(K, &req(A, Some(Kind::Read), 0, 9), None).unwrap();
        t.set(K, &req(B, Some(Kind::Read), 5, 15), None).unwrap();
        assert_eq!(
            t.set(K, &req(B, Some(Kind::Write), 0, 0), None),
            Err(Errno::EAGAIN)
        );
        let c = t.test(K, &req(B, Some(Kind::Write), 0, 100)).unwrap();
        assert_eq!((c.owner, c.start, c.end), (A, 0, 9));
        // Beyond A's range B may write-lock.
        t.set(K, &req(B, Some(Kind::Write), 10, 20), None).unwrap();
        assert!(t.test(K, &req(A, Some(Kind::Read), 10, 10)).is_some());
    }

    #[test]
    fn releasing_an_owner_frees_its_ranges_only() {
        let t = LockTable::new();
        t.set(K, &req(A, Some(Kind::Write), 0, 9), None).unwrap();
        t.set(K, &req(B, Some(Kind::Write), 20, 29), None).unwrap();
        assert!(t.holds_records(A));
        t.release_records(K, A);
        assert!(!t.holds_records(A));
        assert_eq!(ranges(&t), vec![(B, Kind::Write, 20, 29)]);
        t.release_owner(B);
        assert!(ranges(&t).is_empty());
    }

    #[test]
    fn flock_is_per_description_and_converts() {
        let t = LockTable::new();
        t.flock(K, 1, Some(Kind::Read), None).unwrap();
        t.flock(K, 2, Some(Kind::Read), None).unwrap();
        assert_eq!(t.flock(K, 2, Some(Kind::Write), None), Err(Errno::EAGAIN));
        t.flock(K, 1, None, None).unwrap();
        t.flock(K, 2, Some(Kind::Write), None).unwrap();
        assert_eq!(t.flock(K, 1, Some(Kind::Read), None), Err(Errno::EAGAIN));
        // flock and record locks do not interact.
        t.set(K, &req(A, Some(Kind::Write), 0, EOF), None).unwrap();
        t.release_owner(Owner::Ofd(2));
        t.flock(K, 1, Some(Kind::Write), None).unwrap();
    }

    #[test]
    fn the_number_of_records_is_capped() {
        let t = LockTable::with_limit(100);
        let mut n = 0;
        let err = loop {
            // Every other byte: none merge.
            match t.set(K, &req(A, Some(Kind::Read), 2 * n, 2 * n), None) {
                Ok(()) => n += 1,
                Err(e) => break e,
            }
        };
        assert_eq!(err, Errno::ENOLCK);
        assert_eq!(n, 99);
        // Releasing makes room again.
        t.release_owner(A);
        t.set(K, &req(A, Some(Kind::Read), 0, 0), None).unwrap();
    }

    #[test]
    fn a_blocked_request_wakes_when_the_conflict_goes() {
        let t = LockTable::new();
        t.set(K, &req(A, Some(Kind::Write), 0, 9), None).unwrap();
        let t2 = Arc::clone(&t);
        let s = sleeper();
        let s2 = Arc::clone(&s);
        let h = std::thread::spawn(move || t2.set(K, &req(B, Some(Kind::Read), 5, 5), Some(&*s2)));
        std::thread::sleep(std::time::Duration::from_millis(50));
        assert!(!h.is_finished());
        t.set(K, &req(A, None, 0, EOF), None).unwrap();
        assert_eq!(h.join().unwrap(), Ok(()));
        assert_eq!(ranges(&t), vec![(B, Kind::Read, 5, 5)]);
    }

    #[test]
    fn a_signal_interrupts_a_blocked_request() {
        let t = LockTable::new();
        t.flock(K, 1, Some(Kind::Write), None).unwrap();
        let t2 = Arc::clone(&t);
        let s = sleeper();
        let s2 = Arc::clone(&s);
        let h = std::thread::spawn(move || t2.flock(K, 2, Some(Kind::Write), Some(&*s2)));
        std::thread::sleep(std::time::Duration::from_millis(50));
        s.interrupted
            .store(true, std::sync::atomic::Ordering::SeqCst);
        s.waiter.notify();
        assert_eq!(h.join().unwrap(), Err(Errno::ERESTARTSYS));
    }

    #[test]
    fn a_cycle_of_waiting_owners_is_a_deadlock() {
        let t = LockTable::new();
        t.set(K, &req(A, Some(Kind::Write), 0, 0), None).unwrap();
        t.set(K, &req(B, Some(Kind::Write), 1, 1), None).unwrap();
        let t2 = Arc::clone(&t);
        let s = sleeper();
        let s2 = Arc::clone(&s);
        // A waits for B's byte 1.
        let h = std::thread::spawn(move || t2.set(K, &req(A, Some(Kind::Write), 1, 1), Some(&*s2)));
        std::thread::sleep(std::time::Duration::from_millis(50));
        // B asking for A's byte 0 would wait for A, which waits for B.
        let sb = sleeper();
        assert_eq!(
            t.set(K, &req(B, Some(Kind::Write), 0, 0), Some(&*sb)),
            Err(Errno::EDEADLOCK)
        );
        // OFD requests are not checked; B gives up its byte 1 instead.
        t.release_owner(B);
        assert_eq!(h.join().unwrap(), Ok(()));
    }
}

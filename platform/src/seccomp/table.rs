//! The software page table of a seccomp address space, and what its
//! stub process's host mappings still lack.
//!
//! Translations are kept in *chunks* of 512 entries (2 MiB of address
//! space, a word per page), each behind an [`Arc`]. A fork that may share
//! ([`AddressSpace::fork_ranges`](crate::AddressSpace::fork_ranges) with
//! `share_tables`) gives the child the parent's chunks themselves when
//! every present page of a chunk is copy-on-write: one reference count per
//! 2 MiB, no walk over the pages beyond write-protecting the parent's
//! writable entries once, as the KVM platform shares leaf page tables
//! ([`crate::x86_64::ptshare`]). The rules are the same:
//!
//! * A shared chunk (more than one holder) is read-only throughout and
//!   never changes: every change copies it first ([`Tables::own`]); the
//!   copy takes a frame reference per present entry. The frames of a shared
//!   chunk hold one reference for all its holders, so the sentry calls
//!   [`AddressSpace::unshare`](crate::AddressSpace::unshare) before it
//!   decides a copy-on-write break from a reference count.
//! * The last holder of a chunk that was shared uses it in place and, when
//!   the sentry unshares it for a write, gets write access back in the
//!   writable range for frames nobody else holds.
//! * Dropping a chunk: the last holder drops its frames' references.
//!
//! No stale translation can survive on the host here: the host kernel
//! owns the real page tables, and every downgrade reaches the stub as an
//! `mprotect`/`mmap`/`munmap` before [`AddressSpace::commit`] returns.
//!
//! Host side: a page whose host mapping may differ from the table is
//! *dirty*; a *lazy* chunk (a forked child's, before it is touched) is not
//! mapped on the host at all except for pages flushed as dirty. The
//! child's first run maps its own chunks (the eager copies: stack, data)
//! and, when they are small, the shared ones; a fault in a lazy chunk the
//! table allows maps the whole chunk (fault-around) and retries. The
//! parent's write-protection at a fork becomes `mprotect` runs.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use crate::interface::{ForkAction, Frame, Mapping, PageFlags};
use crate::memory::{FrameAllocator, GuestMemory, PAGE_SIZE};
use crate::{Error, Result};

/// Pages per chunk.
const CHUNK_PAGES: usize = 512;
/// Bytes a chunk covers.
pub(super) const CHUNK_SPAN: u64 = CHUNK_PAGES as u64 * PAGE_SIZE;
/// A forked child maps the chunks it shares with its parent at its first
/// run when they hold at most this many present pages; past it they are
/// mapped a chunk at a time when the child first touches them.
const EAGER_MAP_PAGES: u64 = 4096;

/// Entry bits (the frame is page aligned).
const E_PRESENT: u64 = 1;
const E_WRITE: u64 = 2;
const E_EXEC: u64 = 4;
const E_FLAGS: u64 = E_PRESENT | E_WRITE | E_EXEC;

/// A host call for a stub thread: number and arguments.
pub(super) type Op = (i64, [u64; 6]);

fn enc(m: Option<Mapping>) -> u64 {
    match m {
        None => 0,
        Some(m) => {
            m.frame
                | E_PRESENT
                | if m.flags.write { E_WRITE } else { 0 }
                | if m.flags.exec { E_EXEC } else { 0 }
        }
    }
}

fn dec(e: u64) -> Option<Mapping> {
    (e & E_PRESENT != 0).then_some(Mapping {
        frame: e & !(PAGE_SIZE - 1),
        flags: PageFlags {
            write: e & E_WRITE != 0,
            exec: e & E_EXEC != 0,
        },
    })
}

fn base_of(va: u64) -> u64 {
    va & !(CHUNK_SPAN - 1)
}

fn index(va: u64) -> usize {
    ((va % CHUNK_SPAN) / PAGE_SIZE) as usize
}

/// 512 translations.
#[derive(Clone)]
struct Chunk {
    e: [u64; CHUNK_PAGES],
    /// Present entries.
    n: u32,
    /// Shared at a fork (its entries were made read-only): the last
    /// holder may give write access back ([`Tables::unshare`]).
    cow: bool,
}

impl Chunk {
    fn new() -> Arc<Chunk> {
        Arc::new(Chunk {
            e: [0; CHUNK_PAGES],
            n: 0,
            cow: false,
        })
    }
}

/// How a table entry is mapped on the host.
pub(super) struct HostMap {
    /// The pool descriptor (in the stub).
    pub fd: u64,
    /// The zero frame, and the pool offset of the zero run standing in
    /// for it.
    pub zero: Frame,
    pub zero_off: u64,
    pub zero_size: u64,
}

impl HostMap {
    /// Pool offset and protection of `m` at `va`.
    fn host(&self, va: u64, m: Mapping) -> (u64, u64) {
        let mut prot = libc::PROT_READ as u64;
        if m.flags.write {
            prot |= libc::PROT_WRITE as u64;
        }
        if m.flags.exec {
            prot |= libc::PROT_EXEC as u64;
        }
        let off = if m.frame == self.zero && !m.flags.write {
            self.zero_off + va % self.zero_size
        } else {
            m.frame
        };
        (off, prot)
    }
}

/// A run being coalesced: start, pages, and the pool offset and
/// protection of its first page (None: unmapped).
type Run = (u64, u64, Option<(u64, u64)>);

/// Coalesces pages into host calls: consecutive pages on consecutive pool
/// offsets with equal protection are one `mmap`, consecutive absent pages
/// one `munmap`.
struct Runs<'a> {
    host: &'a HostMap,
    ops: Vec<Op>,
    cur: Option<Run>,
}

impl Runs<'_> {
    fn emit(&mut self) {
        if let Some((start, n, m)) = self.cur.take() {
            let len = n * PAGE_SIZE;
            self.ops.push(match m {
                None => (libc::SYS_munmap, [start, len, 0, 0, 0, 0]),
                Some((off, prot)) => (
                    libc::SYS_mmap,
                    [
                        start,
                        len,
                        prot,
                        (libc::MAP_SHARED | libc::MAP_FIXED) as u64,
                        self.host.fd,
                        off,
                    ],
                ),
            });
        }
    }

    fn page(&mut self, va: u64, m: Option<Mapping>) {
        let m = m.map(|m| self.host.host(va, m));
        self.host_page(va, m);
    }

    /// [`Runs::page`] with the pool offset and protection given.
    fn host_page(&mut self, va: u64, m: Option<(u64, u64)>) {
        if let Some((start, n, first)) = self.cur.as_mut() {
            let contiguous = *start + *n * PAGE_SIZE == va;
            let fits = match (*first, m) {
                (None, None) => true,
                (Some(f), Some(m)) => f.1 == m.1 && f.0 + *n * PAGE_SIZE == m.0,
                _ => false,
            };
            if contiguous && fits {
                *n += 1;
                return;
            }
            self.emit();
        }
        self.cur = Some((va, 1, m));
    }
}

/// `mprotect` runs of the write-protection a fork applies to host-mapped
/// pages.
#[derive(Default)]
struct Protect {
    ops: Vec<Op>,
    cur: Option<(u64, u64, u64)>,
}

impl Protect {
    fn page(&mut self, va: u64, exec: bool) {
        let prot = (libc::PROT_READ | if exec { libc::PROT_EXEC } else { 0 }) as u64;
        if let Some((start, len, p)) = self.cur.as_mut()
            && *start + *len == va
            && *p == prot
        {
            *len += PAGE_SIZE;
            return;
        }
        self.finish();
        self.cur = Some((va, PAGE_SIZE, prot));
    }

    fn finish(&mut self) {
        if let Some((start, len, prot)) = self.cur.take() {
            self.ops
                .push((libc::SYS_mprotect, [start, len, prot, 0, 0, 0]));
        }
    }
}

/// The software page table and the host mappings' lag behind it.
#[derive(Default)]
pub(super) struct Tables {
    chunks: BTreeMap<u64, Arc<Chunk>>,
    /// Pages whose host mapping may differ from the table.
    dirty: BTreeSet<u64>,
    /// A change since the last flush took access away.
    pub stale: bool,
    /// Chunks the host maps only where dirty pages were flushed.
    lazy: BTreeSet<u64>,
    /// Chunks to map whole at the next flush.
    materialize: BTreeSet<u64>,
    /// `mprotect` calls to make first at the next flush.
    protect: Vec<Op>,
    /// A forked child that has not run yet: its first flush decides which
    /// lazy chunks to map at once.
    fresh: bool,
}

impl Tables {
    /// The mapping of the page at `va`.
    pub fn get(&self, va: u64) -> Option<Mapping> {
        self.chunks
            .get(&base_of(va))
            .and_then(|c| dec(c.e[index(va)]))
    }

    /// Whether a flush has anything to do.
    pub fn pending(&self) -> bool {
        !self.dirty.is_empty()
            || !self.materialize.is_empty()
            || !self.protect.is_empty()
            || self.fresh
    }

    /// A fault at `va`, which the table allows: if its chunk is lazy, the
    /// next flush maps the whole chunk (true).
    pub fn lazy_fault(&mut self, va: u64) -> bool {
        let base = base_of(va);
        if self.lazy.remove(&base) {
            self.materialize.insert(base);
            true
        } else {
            false
        }
    }

    /// The chunk of `base`, this table's own (a shared one is copied, the
    /// copy taking a frame reference per entry; an absent one is created).
    fn own(&mut self, base: u64, frames: &FrameAllocator) -> &mut Chunk {
        let slot = self.chunks.entry(base).or_insert_with(Chunk::new);
        if Arc::get_mut(slot).is_none() {
            let mut copy = Chunk::clone(slot);
            copy.cow = false;
            for &e in copy.e.iter().filter(|&&e| e & E_PRESENT != 0) {
                frames.get(e & !(PAGE_SIZE - 1));
            }
            let old = std::mem::replace(slot, Arc::new(copy));
            // The other holders may all have let go meanwhile: then the
            // shared chunk's references are ours to drop.
            release(old, frames);
        }
        Arc::get_mut(slot).expect("a chunk of our own")
    }

    /// Sets the raw entry of `va`; returns the old one.
    fn set_raw(&mut self, va: u64, e: u64, frames: &FrameAllocator) -> u64 {
        let base = base_of(va);
        if e == 0 && !self.chunks.contains_key(&base) {
            return 0;
        }
        let c = self.own(base, frames);
        let old = std::mem::replace(&mut c.e[index(va)], e);
        match (old & E_PRESENT != 0, e & E_PRESENT != 0) {
            (false, true) => c.n += 1,
            (true, false) => c.n -= 1,
            _ => {}
        }
        if c.n == 0 {
            self.chunks.remove(&base);
        }
        old
    }

    fn mark(&mut self, va: u64, old: Option<Mapping>, new: Option<Mapping>) {
        if old != new {
            self.dirty.insert(va);
            if old.is_some_and(|o| o.downgraded_by(new)) {
                self.stale = true;
            }
        }
    }

    /// Sets (or clears) the mapping of `va`; returns the old one.
    pub fn set(&mut self, va: u64, m: Option<Mapping>, frames: &FrameAllocator) -> Option<Mapping> {
        let old = dec(self.set_raw(va, enc(m), frames));
        self.mark(va, old, m);
        old
    }

    /// Makes `va` writable on `frame`; returns whether anything changed.
    pub fn break_cow(
        &mut self,
        va: u64,
        frame: Frame,
        exec: bool,
        frames: &FrameAllocator,
    ) -> Result<bool> {
        let old = self.get(va).ok_or(Error::BadAddress(va))?;
        let new = Mapping {
            frame,
            flags: PageFlags { write: true, exec },
        };
        if old == new {
            return Ok(false);
        }
        self.set_raw(va, enc(Some(new)), frames);
        self.dirty.insert(va);
        Ok(true)
    }

    /// Calls `f` for every present page of `[start, end)` in order and
    /// applies the mappings it returns.
    pub fn update_range(
        &mut self,
        start: u64,
        end: u64,
        f: &mut dyn FnMut(u64, Mapping) -> Option<Mapping>,
        frames: &FrameAllocator,
    ) {
        let bases: Vec<u64> = self
            .chunks
            .range(base_of(start)..end)
            .map(|(b, _)| *b)
            .collect();
        for base in bases {
            let lo = start.max(base);
            let hi = end.min(base + CHUNK_SPAN);
            let mut changes = Vec::new();
            {
                let c = &self.chunks[&base];
                let mut va = lo;
                while va < hi {
                    if let Some(m) = dec(c.e[index(va)]) {
                        let new = f(va, m);
                        if new != Some(m) {
                            changes.push((va, m, new));
                        }
                    }
                    va += PAGE_SIZE;
                }
            }
            for (va, old, new) in changes {
                self.set_raw(va, enc(new), frames);
                self.mark(va, Some(old), new);
            }
        }
    }

    /// See [`crate::AddressSpace::unshare`].
    pub fn unshare(&mut self, va: u64, writable: (u64, u64), frames: &FrameAllocator) {
        let base = base_of(va);
        let Some(c) = self.chunks.get_mut(&base) else {
            return;
        };
        if !c.cow {
            return;
        }
        let Some(c) = Arc::get_mut(c) else {
            // Shared: a copy of our own (read-only entries, own references).
            self.own(base, frames);
            return;
        };
        // The last holder: write access back where nobody else holds the
        // frame.
        c.cow = false;
        let mut upgraded = Vec::new();
        for (i, e) in c.e.iter_mut().enumerate() {
            let pva = base + i as u64 * PAGE_SIZE;
            if *e & E_PRESENT == 0 || *e & E_WRITE != 0 || pva < writable.0 || pva >= writable.1 {
                continue;
            }
            if frames.refcount(*e & !(PAGE_SIZE - 1)) == 1 {
                *e |= E_WRITE;
                upgraded.push(pva);
            }
        }
        self.dirty.extend(upgraded);
    }

    /// Number of present pages in `[start, end)`, or any number above
    /// `limit` once past it.
    pub fn count_present(&self, start: u64, end: u64, limit: usize) -> usize {
        let mut n = 0;
        for (&base, c) in self.chunks.range(base_of(start)..end.max(start)) {
            if base >= start && base + CHUNK_SPAN <= end {
                n += c.n as usize;
            } else {
                let (lo, hi) = (start.max(base), end.min(base + CHUNK_SPAN));
                n += (index(lo)..=index(hi - 1))
                    .filter(|&i| c.e[i] & E_PRESENT != 0)
                    .count();
            }
            if n > limit {
                break;
            }
        }
        n
    }

    /// Chunks (for the OOM killer's accounting: a table's worth each).
    pub fn chunk_count(&self) -> usize {
        self.chunks.len()
    }

    /// Chunks shared with another address space.
    pub fn shared_chunks(&self) -> usize {
        self.chunks
            .values()
            .filter(|c| Arc::strong_count(c) > 1)
            .count()
    }

    /// Drops every translation and the frame references it holds, except
    /// the last references, which it returns: those frames would be freed,
    /// and must not be while the stub may still map them.
    pub fn put_all(&mut self, frames: &FrameAllocator) -> Vec<Frame> {
        let mut last = Vec::new();
        for (_, c) in std::mem::take(&mut self.chunks) {
            if let Some(c) = Arc::into_inner(c) {
                for &e in c.e.iter().filter(|&&e| e & E_PRESENT != 0) {
                    let f = e & !(PAGE_SIZE - 1);
                    if !frames.put_unless_last(f) {
                        last.push(f);
                    }
                }
            }
        }
        self.dirty.clear();
        self.lazy.clear();
        self.materialize.clear();
        self.protect.clear();
        self.stale = false;
        self.fresh = false;
        last
    }

    /// Forks `ranges` (sorted, disjoint, each with its action) into
    /// `child`, taking a frame reference for each page the child gets;
    /// with `share`, chunks whose present pages are all copy-on-write are
    /// shared instead. `child_fresh`: the child has not run (its host maps
    /// nothing) and held nothing before this fork.
    #[allow(clippy::too_many_arguments)]
    pub fn fork_into(
        &mut self,
        child: &mut Tables,
        child_fresh: bool,
        ranges: &[(u64, u64, ForkAction)],
        share: bool,
        frames: &FrameAllocator,
        alloc: &dyn Fn() -> Result<Frame>,
        warm: &mut dyn FnMut(u64) -> Option<Frame>,
        memory: &GuestMemory,
    ) -> Result<()> {
        let Some((lo, hi, cow)) = crate::interface::fork_span_and_cow_runs(ranges) else {
            return Ok(());
        };
        if lo >= hi {
            return Ok(());
        }
        let bases: Vec<u64> = self
            .chunks
            .range(base_of(lo)..hi)
            .map(|(b, _)| *b)
            .collect();
        let mut protect = Protect::default();
        let mut to_dirty: Vec<u64> = Vec::new();
        let mut downgraded = false;
        for base in bases {
            let end = base + CHUNK_SPAN;
            if share
                && !child.chunks.contains_key(&base)
                && cow_holds_all(&cow, base, &self.chunks[&base])
            {
                // Host-mapped pages get an mprotect run; the others (dirty
                // ones, a lazy chunk's) are mapped anew at the next flush.
                let lazy = self.lazy.contains(&base);
                let dirty: BTreeSet<u64> = self.dirty.range(base..end).copied().collect();
                let slot = self.chunks.get_mut(&base).expect("listed");
                // A chunk shared already is read-only throughout.
                if let Some(c) = Arc::get_mut(slot) {
                    c.cow = true;
                    for (i, e) in c.e.iter_mut().enumerate() {
                        if *e & E_WRITE == 0 {
                            continue;
                        }
                        *e &= !E_WRITE;
                        downgraded = true;
                        let va = base + i as u64 * PAGE_SIZE;
                        if lazy || dirty.contains(&va) {
                            protect.finish();
                            to_dirty.push(va);
                        } else {
                            protect.page(va, *e & E_EXEC != 0);
                        }
                    }
                }
                let shared = Arc::clone(slot);
                if !child_fresh {
                    child.dirty.extend(
                        (0..CHUNK_PAGES)
                            .filter(|&i| shared.e[i] & E_PRESENT != 0)
                            .map(|i| base + i as u64 * PAGE_SIZE),
                    );
                } else {
                    child.lazy.insert(base);
                }
                child.chunks.insert(base, shared);
                continue;
            }
            let first = ranges.partition_point(|r| r.1 <= base);
            for &(s, en, action) in ranges[first..].iter().take_while(|r| r.0 < end) {
                if action == ForkAction::Skip || s >= en {
                    continue;
                }
                let mut va = s.max(base);
                let stop = en.min(end);
                // Copies get frames in address order, so that consecutive
                // pages land on consecutive frames where the free list
                // allows (one host mapping for a run, not one per page).
                let mut fresh_frames: Vec<Frame> = Vec::new();
                // Copies a page gets on the frame `warm` gives for its
                // address (see `Tables::fork_into`'s callers), if any.
                let mut warm_frames: BTreeMap<u64, Frame> = BTreeMap::new();
                if action == ForkAction::Copy {
                    let c = &self.chunks[&base];
                    let pages: Vec<u64> = (index(va)..=index(stop - 1))
                        .filter(|&i| c.e[i] & E_PRESENT != 0)
                        .map(|i| base + i as u64 * PAGE_SIZE)
                        .collect();
                    for &p in &pages {
                        if let Some(f) = warm(p) {
                            warm_frames.insert(p, f);
                        }
                    }
                    for _ in 0..pages.len() - warm_frames.len() {
                        match alloc() {
                            Ok(f) => fresh_frames.push(f),
                            Err(e) => {
                                for f in fresh_frames.into_iter().chain(warm_frames.into_values()) {
                                    frames.put_data(f);
                                }
                                return Err(e);
                            }
                        }
                    }
                    fresh_frames.sort_unstable_by(|a, b| b.cmp(a));
                }
                while va < stop {
                    let e = self.chunks[&base].e[index(va)];
                    if e & E_PRESENT == 0 {
                        va += PAGE_SIZE;
                        continue;
                    }
                    let frame = e & !(PAGE_SIZE - 1);
                    let given = match action {
                        ForkAction::Skip => unreachable!("skipped above"),
                        ForkAction::Share => {
                            frames.get(frame);
                            e
                        }
                        ForkAction::Cow => {
                            frames.get(frame);
                            if e & E_WRITE != 0 {
                                let c = self.own(base, frames);
                                c.e[index(va)] &= !E_WRITE;
                                downgraded = true;
                                // Rarely a whole run: mapped anew.
                                protect.finish();
                                to_dirty.push(va);
                            }
                            e & !E_WRITE
                        }
                        ForkAction::Copy => {
                            let f = warm_frames
                                .remove(&va)
                                .or_else(|| fresh_frames.pop())
                                .expect("one per present page");
                            if let Err(err) = memory.copy_frame(f, frame) {
                                frames.put_data(f);
                                for f in fresh_frames.into_iter().chain(warm_frames.into_values()) {
                                    frames.put_data(f);
                                }
                                return Err(err);
                            }
                            f | (e & E_FLAGS)
                        }
                    };
                    let old = child.set_raw(va, given, frames);
                    if old & E_PRESENT != 0 {
                        // The child held something here: keep the counts right.
                        frames.put_data(old & !(PAGE_SIZE - 1));
                    }
                    if child_fresh {
                        child.lazy.insert(base);
                    } else {
                        child.dirty.insert(va);
                    }
                    va += PAGE_SIZE;
                }
            }
        }
        protect.finish();
        self.protect.extend(protect.ops);
        self.dirty.extend(to_dirty);
        if downgraded {
            self.stale = true;
        }
        if child_fresh {
            child.fresh = true;
        }
        Ok(())
    }

    /// Whether this table may take a fork as a fresh child (it holds
    /// nothing, or only what an earlier range of the same fork gave it).
    pub fn fresh_or_empty(&self) -> bool {
        self.fresh || self.chunks.is_empty()
    }

    /// The host calls that bring the host mappings up to date (the
    /// table's state is left as it is until [`Tables::flushed`]).
    pub fn flush_ops(&mut self, host: &HostMap) -> Vec<Op> {
        if self.fresh {
            // The child's first run: its own chunks (eager copies: the
            // stack, data, small mappings) now, and the shared ones too
            // if they are small; the rest when touched.
            self.fresh = false;
            let shared: u64 = self
                .lazy
                .iter()
                .filter_map(|b| self.chunks.get(b))
                .filter(|c| Arc::strong_count(c) > 1)
                .map(|c| u64::from(c.n))
                .sum();
            let now: Vec<u64> = self
                .lazy
                .iter()
                .copied()
                .filter(|b| {
                    shared <= EAGER_MAP_PAGES
                        || self.chunks.get(b).is_none_or(|c| Arc::strong_count(c) == 1)
                })
                .collect();
            for b in now {
                self.lazy.remove(&b);
                self.materialize.insert(b);
            }
        }
        let mut runs = Runs {
            host,
            ops: self.protect.clone(),
            cur: None,
        };
        let mut bases: Vec<u64> = self.materialize.iter().copied().collect();
        let mut last = None;
        for &d in &self.dirty {
            let b = base_of(d);
            if last != Some(b) && !self.materialize.contains(&b) {
                bases.push(b);
            }
            last = Some(b);
        }
        bases.sort_unstable();
        bases.dedup();
        for base in bases {
            let c = self.chunks.get(&base);
            if self.materialize.contains(&base) {
                for i in 0..CHUNK_PAGES {
                    let va = base + i as u64 * PAGE_SIZE;
                    let e = c.map_or(0, |c| c.e[i]);
                    if e & E_PRESENT != 0 || self.dirty.contains(&va) {
                        runs.page(va, dec(e));
                    }
                }
            } else {
                for &va in self.dirty.range(base..base + CHUNK_SPAN) {
                    runs.page(va, dec(c.map_or(0, |c| c.e[index(va)])));
                }
            }
        }
        runs.emit();
        runs.ops
    }

    /// The ops of [`Tables::flush_ops`] ran.
    pub fn flushed(&mut self) {
        self.dirty.clear();
        self.materialize.clear();
        self.protect.clear();
        self.stale = false;
    }
}

/// What a stub process maps in the guest range, as the host calls it ran
/// made it: runs `start -> (end, pool offset, protection)`, disjoint.
/// Exact only while nothing but the sentry's ops changes the mappings
/// (guest threads' marker filter refuses mmap, munmap and mprotect; see
/// the module docs of `seccomp`, *Recycling*).
#[derive(Clone, Debug, Default, PartialEq)]
pub(super) struct HostRuns {
    runs: BTreeMap<u64, (u64, u64, u64)>,
    pages: u64,
}

impl HostRuns {
    /// Pages mapped.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// Splits the run across `at`, if one does.
    fn split(&mut self, at: u64) {
        if let Some((&s, &(e, off, prot))) = self.runs.range(..at).next_back()
            && e > at
        {
            self.runs.insert(s, (at, off, prot));
            self.runs.insert(at, (e, off + (at - s), prot));
        }
    }

    /// Drops whatever lies in `[start, end)`.
    fn cut(&mut self, start: u64, end: u64) {
        self.split(start);
        self.split(end);
        let inside: Vec<u64> = self.runs.range(start..end).map(|(s, _)| *s).collect();
        for s in inside {
            let (e, _, _) = self.runs.remove(&s).expect("listed");
            self.pages -= (e - s) / PAGE_SIZE;
        }
    }

    /// Records a host call the process ran (calls that map nothing are
    /// ignored).
    pub fn apply(&mut self, op: &Op) {
        let (nr, a) = *op;
        let (start, end) = (a[0], a[0].saturating_add(a[1]));
        match nr {
            libc::SYS_mmap => {
                self.cut(start, end);
                self.runs.insert(start, (end, a[5], a[2]));
                self.pages += (end - start) / PAGE_SIZE;
            }
            libc::SYS_munmap => self.cut(start, end),
            libc::SYS_mprotect => {
                self.split(start);
                self.split(end);
                for (_, r) in self.runs.range_mut(start..end) {
                    r.2 = a[2];
                }
            }
            _ => {}
        }
    }

    /// Drops the writable runs and returns the `munmap` calls that unmap
    /// them (adjacent runs as one), unless there are more than `max`.
    /// Pages a process wrote are mostly its own (copies, broken
    /// copy-on-write), which the next address space does not map alike;
    /// unmapping them when the process is emptied, off any guest's path,
    /// spares the next one's first flush the TLB shootdown.
    /// The pages at the addresses `keep` gives stay (frames the next
    /// address space's copies get again, see `Pool::warm`).
    pub fn take_writable(&mut self, max: usize, keep: &BTreeSet<u64>) -> Option<Vec<Op>> {
        let mut spans: Vec<(u64, u64)> = Vec::new();
        for (&s, &(e, _, prot)) in &self.runs {
            if prot & libc::PROT_WRITE as u64 == 0 {
                continue;
            }
            for va in (s..e).step_by(PAGE_SIZE as usize) {
                if keep.contains(&va) {
                    continue;
                }
                match spans.last_mut() {
                    Some(last) if last.1 == va => last.1 = va + PAGE_SIZE,
                    _ => spans.push((va, va + PAGE_SIZE)),
                }
            }
        }
        if spans.len() > max {
            return None;
        }
        for &(s, e) in &spans {
            self.cut(s, e);
        }
        Some(
            spans
                .into_iter()
                .map(|(s, e)| (libc::SYS_munmap, [s, e - s, 0, 0, 0, 0]))
                .collect(),
        )
    }

    /// Pool offset and protection of the page at `va`, if mapped.
    fn lookup(&self, va: u64) -> Option<(u64, u64)> {
        let (&s, &(e, off, prot)) = self.runs.range(..=va).next_back()?;
        (va < e).then_some((off + (va - s), prot))
    }

    /// Every page mapped writable: address and pool offset.
    pub fn writable_pages(&self) -> impl Iterator<Item = (u64, u64)> + '_ {
        self.each_page()
            .filter(|p| p.2 & libc::PROT_WRITE as u64 != 0)
            .map(|p| (p.0, p.1))
    }

    /// Every mapped page: address, pool offset, protection.
    fn each_page(&self) -> impl Iterator<Item = (u64, u64, u64)> + '_ {
        self.runs.iter().flat_map(|(&s, &(e, off, prot))| {
            (s..e)
                .step_by(PAGE_SIZE as usize)
                .map(move |va| (va, off + (va - s), prot))
        })
    }
}

/// Most pages [`reconcile`] compares (what an ended address space left
/// mapped plus what the next one maps first); past it the old mappings
/// are all unmapped instead.
pub(super) const RECONCILE_MAX_PAGES: u64 = 16384;

/// The host calls that take a stub process from `old` (what the address
/// space it served before left mapped) to what `ops` (a flush computed
/// for an empty process) would map, keeping the pages both map alike (same
/// address, pool offset and protection): those neither unmapped nor
/// mapped again, nor faulted in again. Every other old page is unmapped
/// or mapped over. Returns the calls, the mappings after them and the
/// pages kept; None past [`RECONCILE_MAX_PAGES`].
pub(super) fn reconcile(
    old: &HostRuns,
    ops: &[Op],
    host: &HostMap,
) -> Option<(Vec<Op>, HostRuns, u64)> {
    let mut new = HostRuns::default();
    for op in ops {
        new.apply(op);
    }
    if old.pages() + new.pages() > RECONCILE_MAX_PAGES {
        return None;
    }
    let mut runs = Runs {
        host,
        ops: Vec::new(),
        cur: None,
    };
    let mut kept = 0;
    // Old pages the new mappings neither keep nor map over: unmapped, in
    // runs (a kept or mapped-over page ends one).
    for (va, off, prot) in old.each_page() {
        match new.lookup(va) {
            Some(m) if m == (off, prot) => kept += 1,
            Some(_) => {}
            None => {
                runs.host_page(va, None);
                continue;
            }
        }
        runs.emit();
    }
    runs.emit();
    // New pages not kept: mapped, in runs of consecutive offsets.
    for (va, off, prot) in new.each_page() {
        if old.lookup(va) == Some((off, prot)) {
            runs.emit();
        } else {
            runs.host_page(va, Some((off, prot)));
        }
    }
    runs.emit();
    Some((runs.ops, new, kept))
}

/// Drops one holder of `c`; the last one drops its frames' references.
fn release(c: Arc<Chunk>, frames: &FrameAllocator) {
    if let Some(c) = Arc::into_inner(c) {
        for &e in c.e.iter().filter(|&&e| e & E_PRESENT != 0) {
            frames.put_data(e & !(PAGE_SIZE - 1));
        }
    }
}

/// Whether every present entry of the chunk at `base` lies in one of the
/// sorted, merged ranges `cow`.
fn cow_holds_all(cow: &[(u64, u64)], base: u64, c: &Chunk) -> bool {
    let end = base + CHUNK_SPAN;
    let i = cow.partition_point(|r| r.1 <= base);
    if cow.get(i).is_some_and(|r| r.0 <= base && r.1 >= end) {
        return true;
    }
    let mut j = i;
    for (k, &e) in c.e.iter().enumerate() {
        if e & E_PRESENT == 0 {
            continue;
        }
        let va = base + k as u64 * PAGE_SIZE;
        while cow.get(j).is_some_and(|r| r.1 <= va) {
            j += 1;
        }
        if cow.get(j).is_none_or(|r| r.0 > va) {
            return false;
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memory::FrameKind;

    fn frames() -> FrameAllocator {
        FrameAllocator::new(PAGE_SIZE, PAGE_SIZE + (64 << 20), 64 << 20)
    }

    fn rw(frame: Frame) -> Option<Mapping> {
        Some(Mapping {
            frame,
            flags: PageFlags::RW,
        })
    }

    #[test]
    fn entries_round_trip() {
        for flags in [PageFlags::RW, PageFlags::RX, PageFlags::RO] {
            let m = Some(Mapping {
                frame: 0x1234_5000,
                flags,
            });
            assert_eq!(dec(enc(m)), m);
        }
        assert_eq!(dec(enc(None)), None);
    }

    #[test]
    fn a_shared_chunk_is_copied_on_change_and_released_once() {
        let fr = frames();
        let mut parent = Tables::default();
        let f1 = fr.alloc(FrameKind::Data).unwrap();
        let f2 = fr.alloc(FrameKind::Data).unwrap();
        parent.set(0x20_0000, rw(f1), &fr);
        parent.set(0x20_1000, rw(f2), &fr);
        let mut child = Tables::default();
        parent
            .fork_into(
                &mut child,
                true,
                &[(0x20_0000, 0x40_0000, ForkAction::Cow)],
                true,
                &fr,
                &|| fr.alloc(FrameKind::Data),
                &mut |_| None,
                &GuestMemory::new(PAGE_SIZE).unwrap(),
            )
            .unwrap();
        assert_eq!(parent.shared_chunks(), 1);
        assert_eq!(child.shared_chunks(), 1);
        // One reference for the shared chunk; both read-only.
        assert_eq!(fr.refcount(f1), 1);
        assert!(!parent.get(0x20_0000).unwrap().flags.write);
        assert!(!child.get(0x20_0000).unwrap().flags.write);
        // The child unshares for a write: its own copy, its own references.
        child.unshare(0x20_0000, (0x20_0000, 0x40_0000), &fr);
        assert_eq!(child.shared_chunks(), 0);
        assert_eq!(parent.shared_chunks(), 0);
        assert_eq!(fr.refcount(f1), 2);
        assert!(!child.get(0x20_0000).unwrap().flags.write, "still CoW");
        // A change in the child does not show in the parent.
        let f3 = fr.alloc(FrameKind::Data).unwrap();
        assert!(child.break_cow(0x20_0000, f3, false, &fr).unwrap());
        fr.put_data(f1);
        assert_eq!(parent.get(0x20_0000).unwrap().frame, f1);
        assert_eq!(child.get(0x20_0000).unwrap().frame, f3);
        // The parent, last holder, gets write access back for f1 (only it
        // holds it) but not for f2 (the child holds it too).
        parent.unshare(0x20_0000, (0x20_0000, 0x40_0000), &fr);
        assert!(parent.get(0x20_0000).unwrap().flags.write);
        assert!(!parent.get(0x20_1000).unwrap().flags.write);
        for f in child.put_all(&fr).into_iter().chain(parent.put_all(&fr)) {
            fr.put_data(f);
        }
        assert_eq!(fr.data_bytes_in_use(), 0);
    }

    #[test]
    fn chunks_with_shared_memory_are_copied_entry_by_entry() {
        let fr = frames();
        let mut parent = Tables::default();
        let f1 = fr.alloc(FrameKind::Data).unwrap();
        let f2 = fr.alloc(FrameKind::Data).unwrap();
        parent.set(0x20_0000, rw(f1), &fr);
        parent.set(0x30_0000, rw(f2), &fr);
        let mut child = Tables::default();
        parent
            .fork_into(
                &mut child,
                true,
                &[
                    (0x20_0000, 0x30_0000, ForkAction::Cow),
                    (0x30_0000, 0x40_0000, ForkAction::Share),
                ],
                true,
                &fr,
                &|| fr.alloc(FrameKind::Data),
                &mut |_| None,
                &GuestMemory::new(PAGE_SIZE).unwrap(),
            )
            .unwrap();
        assert_eq!(parent.shared_chunks(), 0);
        assert!(
            parent.get(0x30_0000).unwrap().flags.write,
            "shared stays writable"
        );
        assert!(!parent.get(0x20_0000).unwrap().flags.write);
        assert_eq!(fr.refcount(f1), 2);
        assert_eq!(fr.refcount(f2), 2);
        for f in child.put_all(&fr).into_iter().chain(parent.put_all(&fr)) {
            fr.put_data(f);
        }
        assert_eq!(fr.data_bytes_in_use(), 0);
    }

    fn mmap(start: u64, pages: u64, off: u64, prot: u64) -> Op {
        (
            libc::SYS_mmap,
            [start, pages * PAGE_SIZE, prot, 0x11, 7, off],
        )
    }

    /// Pool descriptor 7; no zero frame in these tests.
    const HOST: HostMap = HostMap {
        fd: 7,
        zero: u64::MAX,
        zero_off: 0,
        zero_size: 2 << 20,
    };

    fn pages_of(h: &HostRuns) -> Vec<(u64, u64, u64)> {
        h.each_page().collect()
    }

    #[test]
    fn host_runs_follow_mmap_munmap_and_mprotect() {
        let p = PAGE_SIZE;
        let mut h = HostRuns::default();
        h.apply(&mmap(0x40_0000, 4, 0x10_0000, 3));
        h.apply(&(libc::SYS_munmap, [0x40_0000 + p, p, 0, 0, 0, 0]));
        h.apply(&(libc::SYS_mprotect, [0x40_0000 + 2 * p, p, 1, 0, 0, 0]));
        // A mapping over part of a run replaces that part only.
        h.apply(&mmap(0x40_0000 + 3 * p, 1, 0x20_0000, 5));
        h.apply(&(libc::SYS_sched_setaffinity, [0, 8, 0, 0, 0, 0]));
        assert_eq!(h.pages(), 3);
        assert_eq!(
            pages_of(&h),
            vec![
                (0x40_0000, 0x10_0000, 3),
                (0x40_0000 + 2 * p, 0x10_0000 + 2 * p, 1),
                (0x40_0000 + 3 * p, 0x20_0000, 5),
            ]
        );
        let mut w = h.clone();
        let none = BTreeSet::new();
        assert_eq!(w.take_writable(0, &none), None);
        // Kept where asked.
        let mut k = h.clone();
        assert_eq!(
            k.take_writable(1, &BTreeSet::from([0x40_0000])),
            Some(vec![])
        );
        assert_eq!(pages_of(&k), pages_of(&h));
        assert_eq!(
            w.take_writable(1, &none),
            Some(vec![(libc::SYS_munmap, [0x40_0000, p, 0, 0, 0, 0])])
        );
        assert_eq!(w.pages(), 2);
        assert_eq!(pages_of(&w), pages_of(&h)[1..].to_vec());
        h.apply(&(libc::SYS_munmap, [0, 0x7fff_0000_0000, 0, 0, 0, 0]));
        assert_eq!(h.pages(), 0);
        assert!(pages_of(&h).is_empty());
    }

    #[test]
    fn reconcile_keeps_only_what_both_map_alike() {
        let p = PAGE_SIZE;
        let mut old = HostRuns::default();
        // Code, kept; data read-write before, read-only now; a page the
        // next address space does not map; a page it maps elsewhere.
        old.apply(&mmap(0x40_0000, 3, 0x10_0000, 5));
        old.apply(&mmap(0x60_0000, 2, 0x30_0000, 3));
        old.apply(&mmap(0x80_0000, 1, 0x40_0000, 1));
        old.apply(&mmap(0x90_0000, 1, 0x50_0000, 1));
        let ops = vec![
            mmap(0x40_0000, 3, 0x10_0000, 5),
            mmap(0x60_0000, 2, 0x30_0000, 1),
            mmap(0x90_0000, 1, 0x60_0000, 1),
            mmap(0xa0_0000, 1, 0x50_0000, 3),
        ];
        let (out, new, kept) = reconcile(&old, &ops, &HOST).unwrap();
        assert_eq!(kept, 3);
        let mut want = HostRuns::default();
        for op in &ops {
            want.apply(op);
        }
        assert_eq!(pages_of(&new), pages_of(&want));
        // The calls take the old mappings exactly to the new ones.
        let mut after = old.clone();
        for op in &out {
            after.apply(op);
        }
        assert_eq!(pages_of(&after), pages_of(&want));
        assert_eq!(
            out,
            vec![
                (libc::SYS_munmap, [0x80_0000, p, 0, 0, 0, 0]),
                mmap(0x60_0000, 2, 0x30_0000, 1),
                mmap(0x90_0000, 1, 0x60_0000, 1),
                mmap(0xa0_0000, 1, 0x50_0000, 3),
            ]
        );
        // Too much to compare: none.
        let big = vec![mmap(0, RECONCILE_MAX_PAGES + 1, 0x10_0000, 1)];
        assert!(reconcile(&HostRuns::default(), &big, &HOST).is_none());
    }
}

//! 4-level x86-64 page tables for one guest address space, kept in frames
//! of the guest-physical pool.
//!
//! # Why edits go through [`PageTables::commit`]
//!
//! On this host KVM shadows the guest's page tables and never sees the
//! host's edits to a present entry (KVM-NOTES.md, fact 4). What is seen:
//! not-present → present (KVM walks the guest tables again on the fault),
//! read-only → writable in place, and a frame change together with
//! read-only → writable when the guest faulted writing that page: all of
//! these reach KVM through a fault, whose walk reads guest memory afresh.
//! A downgrade (present → not present, writable → read-only, a frame swap)
//! raises no fault, so it must reach the guest through tables KVM holds no
//! shadow of: leaf entries are edited in place, the leaf table is marked
//! stale, and [`PageTables::commit`] copies every upper-level table of the
//! lower half *and every stale leaf table* into fresh frames and gives a new
//! root for CR3. Measured here: KVM does not re-read a leaf table it already
//! shadows when a fresh parent links it (the regression test
//! `unmapped_frame_reused_as_table_is_not_visible` fails without the leaf
//! copy). Retired table frames are quarantined until the machine drops all
//! shadows ([`Machine::zap`]), so a "fresh" frame is never one KVM shadows.
//!
//! The caller must make sure no vCPU still runs on the old root when it
//! commits (threads sharing the address space are kicked out first).
//!
//! A fork may share whole leaf tables between address spaces, linked
//! read-only at the PD level ([`PageTables::fork_share`], rules and
//! measurements in `ptshare.rs`): every method here that changes an entry
//! of such a table first gives this address space its own copy, and
//! [`PageTables::lookup`] reports its pages read-only.

use std::collections::BTreeSet;
use std::sync::Arc;

use crate::interface::{Mapping, PageFlags};
use crate::memory::PAGE_SIZE;
use crate::x86_64::layout::USER_VA_END;
use crate::{Error, Machine, Result};

/// Present.
pub const PTE_P: u64 = 1;
/// Writable.
pub const PTE_W: u64 = 2;
/// User-accessible.
pub const PTE_U: u64 = 4;
/// Large page.
pub const PTE_PS: u64 = 0x80;
/// No-execute.
pub const PTE_NX: u64 = 1 << 63;
pub(super) const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
pub(super) const UPPER: u64 = PTE_P | PTE_W | PTE_U;
pub(super) const ENTRIES: usize = 512;

pub use crate::interface::ForkAction;
/// A present leaf translation (the platform interface's [`Mapping`]).
pub type Pte = Mapping;
/// Permissions of a user page (the platform interface's [`PageFlags`]).
pub type PteFlags = PageFlags;

impl Mapping {
    pub(super) fn encode(self) -> u64 {
        let mut v = (self.frame & ADDR_MASK) | PTE_P | PTE_U;
        if self.flags.write {
            v |= PTE_W;
        }
        if !self.flags.exec {
            v |= PTE_NX;
        }
        v
    }

    pub(super) fn decode(v: u64) -> Option<Self> {
        (v & PTE_P != 0).then_some(Pte {
            frame: v & ADDR_MASK,
            flags: PteFlags {
                write: v & PTE_W != 0,
                exec: v & PTE_NX == 0,
            },
        })
    }
}

pub(super) fn index(va: u64, level: u32) -> usize {
    ((va >> (12 + 9 * level)) & 511) as usize
}

/// The page tables of one address space.
pub struct PageTables {
    pub(super) machine: Arc<Machine>,
    pub(super) root: u64,
    /// Leaf tables with a downgraded entry since the last commit.
    pub(super) stale_pts: BTreeSet<u64>,
    /// A PD entry was changed in place (a leaf table shared at fork, or
    /// unshared): the next commit copies the upper levels even if no leaf
    /// table is stale.
    pub(super) relink: bool,
    /// Shared leaf tables this address space moved away from as their
    /// last sharer: quarantined once the next commit's old root is
    /// released.
    pub(super) moved_pts: Vec<u64>,
    /// Shared leaf tables this address space stopped linking while others
    /// still did: their reference is dropped once the next commit's old
    /// root is released ([`super::ptshare::release_shared`]).
    pub(super) left_pts: Vec<u64>,
}

/// One leaf table met by a walk.
#[derive(Clone, Copy, Debug)]
pub(super) struct Leaf {
    /// Its frame.
    pub pt: u64,
    /// The virtual address it starts at.
    pub base: u64,
    /// The PD entry that links it, and where that entry is.
    pub pde: u64,
    pub pde_slot: u64,
}

impl Leaf {
    /// Linked read-only at the PD level: shared copy-on-write with other
    /// address spaces (possibly no longer, but still to be moved before
    /// it may become writable).
    pub fn shared(&self) -> bool {
        self.pde & PTE_W == 0
    }
}

impl PageTables {
    /// Empty lower half; the upper half maps the supervisor area.
    pub fn new(machine: Arc<Machine>) -> Result<Self> {
        let root = machine.alloc_table()?;
        let (slot, entry) = machine.supervisor_pml4_entry();
        machine.memory().write_u64(root + 8 * slot as u64, entry)?;
        Ok(Self {
            machine,
            root,
            stale_pts: BTreeSet::new(),
            relink: false,
            moved_pts: Vec::new(),
            left_pts: Vec::new(),
        })
    }

    /// The machine these tables belong to.
    pub fn machine(&self) -> &Arc<Machine> {
        &self.machine
    }

    /// The current root (for CR3). Call [`PageTables::commit`] first.
    pub fn root(&self) -> u64 {
        self.root
    }

    /// Whether a downgrade is waiting for [`PageTables::commit`].
    pub fn is_stale(&self) -> bool {
        !self.stale_pts.is_empty() || self.relink
    }

    fn check_va(va: u64) -> Result<()> {
        if va >= USER_VA_END || !va.is_multiple_of(PAGE_SIZE) {
            return Err(Error::BadAddress(va));
        }
        Ok(())
    }

    pub(super) fn read_table(&self, gpa: u64) -> Result<Box<[u64; ENTRIES]>> {
        let mut bytes = vec![0u8; PAGE_SIZE as usize];
        self.machine.memory().read(gpa, &mut bytes)?;
        let mut t = Box::new([0u64; ENTRIES]);
        for (i, c) in bytes.chunks_exact(8).enumerate() {
            t[i] = u64::from_le_bytes(c.try_into().expect("8-byte chunk"));
        }
        Ok(t)
    }

    pub(super) fn write_table(&self, gpa: u64, t: &[u64; ENTRIES]) -> Result<()> {
        let bytes: Vec<u8> = t.iter().flat_map(|e| e.to_le_bytes()).collect();
        self.machine.memory().write(gpa, &bytes)
    }

    /// GPA of the PD entry for `va`, creating a missing PDPT and PD if
    /// `create`.
    pub(super) fn pde_slot(&self, va: u64, create: bool) -> Result<Option<u64>> {
        let mem = self.machine.memory();
        let mut table = self.root;
        for level in (2..=3).rev() {
            let slot = table + 8 * index(va, level) as u64;
            let e = mem.read_u64(slot)?;
            table = if e & PTE_P != 0 {
                e & ADDR_MASK
            } else if create {
                let t = self.machine.alloc_table()?;
                mem.write_u64(slot, t | UPPER)?;
                t
            } else {
                return Ok(None);
            };
        }
        Ok(Some(table + 8 * index(va, 1) as u64))
    }

    /// The leaf table for `va` (creating missing tables if `create`) and
    /// the GPA of `va`'s entry in it.
    fn leaf(&self, va: u64, create: bool) -> Result<Option<(Leaf, u64)>> {
        let Some(pde_slot) = self.pde_slot(va, create)? else {
            return Ok(None);
        };
        let mem = self.machine.memory();
        let mut pde = mem.read_u64(pde_slot)?;
        if pde & PTE_P == 0 {
            if !create {
                return Ok(None);
            }
            pde = self.machine.alloc_table()? | UPPER;
            mem.write_u64(pde_slot, pde)?;
        }
        let pt = pde & ADDR_MASK;
        let leaf = Leaf {
            pt,
            base: va & !((1 << 21) - 1),
            pde,
            pde_slot,
        };
        Ok(Some((leaf, pt + 8 * index(va, 0) as u64)))
    }

    /// GPA of the leaf entry for `va` in a table this address space owns
    /// alone, creating missing tables if `create`.
    fn leaf_slot(&self, va: u64, create: bool) -> Result<Option<u64>> {
        match self.leaf(va, create)? {
            Some((leaf, _)) if leaf.shared() => {
                tracing::error!("page tables: edit of a shared leaf table at {va:#x}");
                Err(Error::BadAddress(va))
            }
            Some((_, slot)) => Ok(Some(slot)),
            None => Ok(None),
        }
    }

    /// The translation of the page at `va`, if present. Under a shared
    /// leaf table a page is read-only whatever its entry says.
    pub fn lookup(&self, va: u64) -> Result<Option<Pte>> {
        Self::check_va(va)?;
        Ok(match self.leaf(va, false)? {
            Some((leaf, slot)) => {
                let pte = Pte::decode(self.machine.memory().read_u64(slot)?);
                if leaf.shared() {
                    pte.map(read_only)
                } else {
                    pte
                }
            }
            None => None,
        })
    }

    /// Sets (or clears, with `None`) the translation of the page at `va` and
    /// returns the old one. Frame reference counts are the caller's. In a
    /// leaf table shared with other address spaces, a change first gives
    /// this one its own copy of the table ([`PageTables::unshare`]).
    pub fn set(&mut self, va: u64, pte: Option<Pte>) -> Result<Option<Pte>> {
        Self::check_va(va)?;
        let Some((leaf, mut slot)) = self.leaf(va, pte.is_some())? else {
            return Ok(None);
        };
        let mem = self.machine.memory();
        let mut old = Pte::decode(mem.read_u64(slot)?);
        if leaf.shared() {
            old = old.map(read_only);
            if old == pte {
                return Ok(old);
            }
            let fresh = self.unshare_leaf(leaf, None)?;
            slot = fresh + 8 * index(va, 0) as u64;
            if let (Some(o), Some(n)) = (old, pte)
                && n.flags.write
                && n.frame == o.frame
                && self.machine.frames().refcount(n.frame) > 1
            {
                // The caller decided on a reference count taken while the
                // table was shared: the frame is someone else's too.
                tracing::error!("page tables: write access to a shared frame at {va:#x}");
                return Err(Error::BadAddress(va));
            }
        }
        let mem = self.machine.memory();
        if old.is_some_and(|o| o.downgraded_by(pte)) {
            self.stale_pts.insert(slot & !(PAGE_SIZE - 1));
        }
        mem.write_u64(slot, pte.map_or(0, Pte::encode))?;
        Ok(old)
    }

    /// Makes the page at `va` writable on `frame`, in place and without a
    /// commit. Only valid while handling a guest write fault on a present
    /// read-only page at `va` (a copy-on-write break): KVM re-walks the entry
    /// when the faulting write is retried.
    pub fn break_cow(&mut self, va: u64, frame: u64, exec: bool) -> Result<()> {
        Self::check_va(va)?;
        let slot = self.leaf_slot(va, false)?.ok_or(Error::BadAddress(va))?;
        let pte = Pte {
            frame,
            flags: PteFlags { write: true, exec },
        };
        self.machine.memory().write_u64(slot, pte.encode())
    }

    /// Calls `f(va, pte)` for every present page in `[start, end)`, in
    /// address order. `f` returns the new entry (the same one to keep it).
    pub fn update_range(
        &mut self,
        start: u64,
        end: u64,
        mut f: impl FnMut(u64, Pte) -> Option<Pte>,
    ) -> Result<()> {
        let end = end.min(USER_VA_END);
        self.walk_leaf_tables(start, end, &mut |this, leaf| {
            let mut stale = false;
            let base = leaf.base;
            let mut pt_gpa = leaf.pt;
            let (lo, hi) = Self::leaf_span(base, start, end);
            let mut t = this.read_entries(pt_gpa, lo, hi)?;
            let mut changed = false;
            for (i, e) in (lo..).zip(t.iter_mut()) {
                let va = base + i as u64 * PAGE_SIZE;
                if let Some(mut old) = Pte::decode(*e) {
                    if leaf.shared() {
                        // What this address space sees of a shared table.
                        old = read_only(old);
                        *e &= !PTE_W;
                    }
                    let new = f(va, old);
                    if new != Some(old) {
                        stale |= old.downgraded_by(new);
                        *e = new.map_or(0, Pte::encode);
                        changed = true;
                    }
                }
            }
            if changed && leaf.shared() {
                // The walk only looked; to change anything this address
                // space needs its own copy (a fresh frame: no downgrade
                // in it can be stale).
                pt_gpa = this.unshare_leaf(leaf, None)?;
                stale = false;
            }
            if changed {
                this.write_entries(pt_gpa, lo, &t)?;
            }
            if stale {
                this.stale_pts.insert(pt_gpa);
            }
            Ok(())
        })
    }

    /// Drops the data-frame reference of every present user page (the
    /// tables are being torn down). The closure is generic, so the walk
    /// inlines the reference drop: no call per page.
    pub fn put_all_frames(&mut self) -> Result<()> {
        let machine = Arc::clone(&self.machine);
        let frames = machine.frames();
        self.walk_leaf_tables(0, USER_VA_END, &mut |this, leaf| {
            if leaf.shared() {
                // The table holds the references: the last sharer drops
                // them. Unlinked here, so the drop does not release it
                // twice.
                this.machine.memory().write_u64(leaf.pde_slot, 0)?;
                super::ptshare::release_shared(&this.machine, leaf.pt);
                return Ok(());
            }
            for e in this.read_entries(leaf.pt, 0, ENTRIES - 1)? {
                if let Some(pte) = Pte::decode(e) {
                    frames.put_data(pte.frame);
                }
            }
            Ok(())
        })
    }

    /// Copies the translations of `[start, end)` into `child` (a fresh
    /// address space) as `f` decides, adding a frame reference for each page
    /// the child gets. Pages decided [`ForkAction::Cow`] become read-only in
    /// both; the parent then needs a commit.
    pub fn fork_range(
        &mut self,
        child: &mut PageTables,
        start: u64,
        end: u64,
        mut f: impl FnMut(u64) -> ForkAction,
    ) -> Result<()> {
        self.walk_leaf_tables(start, end, &mut |this, leaf| {
            let pt_gpa = if leaf.shared() {
                this.unshare_leaf(leaf, None)?
            } else {
                leaf.pt
            };
            this.fork_leaf(child, pt_gpa, leaf.base, start, end, &mut f)
        })
    }

    /// [`PageTables::fork_range`] for the part of `[start, end)` in the
    /// leaf table `pt_gpa` (this address space's own) based at `base`.
    pub(super) fn fork_leaf(
        &mut self,
        child: &mut PageTables,
        pt_gpa: u64,
        base: u64,
        start: u64,
        end: u64,
        f: &mut dyn FnMut(u64) -> ForkAction,
    ) -> Result<()> {
        let machine = Arc::clone(&self.machine);
        let frames = machine.frames();
        let this = self;
        {
            let mut stale = false;
            let mut parent = this.read_table(pt_gpa)?;
            let mut copy = Box::new([0u64; ENTRIES]);
            let (mut changed, mut any) = (false, false);
            for (i, e) in parent.iter_mut().enumerate() {
                let va = base + i as u64 * PAGE_SIZE;
                if va < start || va >= end {
                    continue;
                }
                let Some(pte) = Pte::decode(*e) else { continue };
                match f(va) {
                    ForkAction::Skip => {}
                    ForkAction::Copy => {
                        let frame = frames.alloc(crate::FrameKind::Data)?;
                        this.machine.memory().copy_frame(frame, pte.frame)?;
                        copy[i] = Pte {
                            frame,
                            flags: pte.flags,
                        }
                        .encode();
                        any = true;
                    }
                    ForkAction::Share => {
                        frames.get(pte.frame);
                        copy[i] = *e;
                        any = true;
                    }
                    ForkAction::Cow => {
                        frames.get(pte.frame);
                        if pte.flags.write {
                            *e &= !PTE_W;
                            changed = true;
                            stale = true;
                        }
                        copy[i] = *e;
                        any = true;
                    }
                }
            }
            if changed {
                this.write_table(pt_gpa, &parent)?;
            }
            if stale {
                this.stale_pts.insert(pt_gpa);
            }
            if any {
                let slot = child
                    .leaf_slot(base, true)?
                    .ok_or(Error::BadAddress(base))?;
                let child_pt = slot - 8 * index(base, 0) as u64;
                let mut existing = child.read_table(child_pt)?;
                for (i, e) in copy.iter().enumerate() {
                    if *e != 0 {
                        existing[i] = *e;
                    }
                }
                child.write_table(child_pt, &existing)?;
            }
            Ok(())
        }
    }

    /// Number of table frames of the lower half (the root included): what
    /// the address space costs in page tables, for the OOM killer.
    pub fn table_frames(&mut self) -> Result<usize> {
        let mut n = 1;
        // A leaf table shared by k address spaces counts 1/k in each, so
        // that it counts once in all (in 1/512ths, rounded up).
        let mut shared = 0u64;
        let frames = self.machine.frames();
        let pml4 = self.read_entries(self.root, 0, ENTRIES / 2 - 1)?;
        for pdpt in pml4.into_iter().filter_map(table_of) {
            n += 1;
            for pd in self
                .read_entries(pdpt, 0, ENTRIES - 1)?
                .into_iter()
                .filter_map(table_of)
            {
                n += 1;
                for e2 in self.read_entries(pd, 0, ENTRIES - 1)? {
                    match table_of(e2) {
                        Some(pt) if e2 & PTE_W == 0 => {
                            shared += 512 / u64::from(frames.refcount(pt).max(1));
                        }
                        Some(_) => n += 1,
                        None => {}
                    }
                }
            }
        }
        Ok(n + shared.div_ceil(512) as usize)
    }

    /// Counts the present pages in `[start, end)`.
    pub fn count_present(&mut self, start: u64, end: u64) -> Result<usize> {
        self.count_present_upto(start, end, usize::MAX)
    }

    /// Counts the present pages in `[start, end)`, but stops reading
    /// tables once the count passes `limit` (a fork deciding whether a
    /// process is small need not read every table of a large one).
    pub fn count_present_upto(&mut self, start: u64, end: u64, limit: usize) -> Result<usize> {
        let mut n = 0;
        let end = end.min(USER_VA_END);
        self.walk_leaf_tables(start, end, &mut |this, leaf| {
            if n > limit {
                return Ok(());
            }
            let (lo, hi) = Self::leaf_span(leaf.base, start, end);
            let t = this.read_entries(leaf.pt, lo, hi)?;
            n += t.iter().filter(|e| **e & PTE_P != 0).count();
            Ok(())
        })?;
        Ok(n)
    }

    /// Calls `f(self, leaf)` for each leaf table overlapping `[start, end)`.
    pub(super) fn walk_leaf_tables(
        &mut self,
        start: u64,
        end: u64,
        f: &mut dyn FnMut(&mut Self, Leaf) -> Result<()>,
    ) -> Result<()> {
        let end = end.min(USER_VA_END);
        if start >= end {
            return Ok(());
        }
        let last = end - 1;
        // Only the entries that cover [start, end) are read at each level:
        // a small range (one page of an mprotect) costs a few words, not
        // three whole tables.
        let (lo4, hi4) = (index(start, 3), index(last, 3));
        for (i4, e4) in (lo4..).zip(self.read_entries(self.root, lo4, hi4)?) {
            let Some(pdpt_gpa) = table_of(e4) else {
                continue;
            };
            let base4 = (i4 as u64) << 39;
            let lo3 = if i4 == lo4 { index(start, 2) } else { 0 };
            let hi3 = if i4 == hi4 {
                index(last, 2)
            } else {
                ENTRIES - 1
            };
            for (i3, e3) in (lo3..).zip(self.read_entries(pdpt_gpa, lo3, hi3)?) {
                let Some(pd_gpa) = table_of(e3) else {
                    continue;
                };
                let base3 = base4 | ((i3 as u64) << 30);
                let lo2 = if base3 <= start { index(start, 1) } else { 0 };
                let hi2 = if base3 + (1 << 30) > last {
                    index(last, 1)
                } else {
                    ENTRIES - 1
                };
                for (i2, e2) in (lo2..).zip(self.read_entries(pd_gpa, lo2, hi2)?) {
                    let Some(pt_gpa) = table_of(e2) else {
                        continue;
                    };
                    let leaf = Leaf {
                        pt: pt_gpa,
                        base: base3 | ((i2 as u64) << 21),
                        pde: e2,
                        pde_slot: pd_gpa + 8 * i2 as u64,
                    };
                    f(self, leaf)?;
                }
            }
        }
        Ok(())
    }

    /// Entries `lo..=hi` of the table at `gpa`.
    pub(super) fn read_entries(&self, gpa: u64, lo: usize, hi: usize) -> Result<Vec<u64>> {
        let mut bytes = vec![0u8; (hi + 1 - lo) * 8];
        self.machine
            .memory()
            .read(gpa + 8 * lo as u64, &mut bytes)?;
        Ok(bytes
            .chunks_exact(8)
            .map(|c| u64::from_le_bytes(c.try_into().expect("8-byte chunk")))
            .collect())
    }

    /// Writes `entries` as entries `lo..` of the table at `gpa`.
    fn write_entries(&self, gpa: u64, lo: usize, entries: &[u64]) -> Result<()> {
        let bytes: Vec<u8> = entries.iter().flat_map(|e| e.to_le_bytes()).collect();
        self.machine.memory().write(gpa + 8 * lo as u64, &bytes)
    }

    /// The entries of the leaf table based at `base` that lie in
    /// `[start, end)`, as an index range.
    pub(super) fn leaf_span(base: u64, start: u64, end: u64) -> (usize, usize) {
        let lo = if start > base {
            ((start - base) / PAGE_SIZE) as usize
        } else {
            0
        };
        let hi = if end < base + (1 << 21) {
            ((end - 1 - base) / PAGE_SIZE) as usize
        } else {
            ENTRIES - 1
        };
        (lo, hi)
    }

    /// Makes every earlier downgrade visible to the guest: copies the lower
    /// half's PML4, PDPTs and PDs, and every leaf table with a downgraded
    /// entry, into fresh frames, and switches to the new root. Returns
    /// whether the root changed.
    ///
    /// A fresh frame here is one KVM holds no shadow of: the allocator only
    /// hands out table frames that never served as a table since the last
    /// shadow drop (retired tables wait in quarantine). KVM does not re-read
    /// a leaf table it already shadows when a new parent links it, so an
    /// edited leaf table must move too.
    pub fn commit(&mut self) -> Result<bool> {
        match self.commit_deferred()? {
            Some(retired) => {
                retired.release();
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// [`PageTables::commit`], but the old tables are handed back instead of
    /// retired, for a caller that must first make every vCPU leave the old
    /// root (a TLB shootdown). `None` when nothing was stale.
    pub fn commit_deferred(&mut self) -> Result<Option<Retired>> {
        if self.stale_pts.is_empty() && !self.relink {
            return Ok(None);
        }
        let machine = Arc::clone(&self.machine);
        let old_root = self.root;
        let mut pml4 = self.read_table(old_root)?;
        let mut retired = vec![old_root];
        for e4 in pml4.iter_mut().take(ENTRIES / 2) {
            let Some(pdpt_gpa) = table_of(*e4) else {
                continue;
            };
            let mut pdpt = self.read_table(pdpt_gpa)?;
            for e3 in pdpt.iter_mut() {
                let Some(pd_gpa) = table_of(*e3) else {
                    continue;
                };
                let mut pd = self.read_table(pd_gpa)?;
                for e2 in pd.iter_mut() {
                    let Some(pt_gpa) = table_of(*e2) else {
                        continue;
                    };
                    if self.stale_pts.contains(&pt_gpa) {
                        let pt = self.read_table(pt_gpa)?;
                        let fresh = machine.alloc_table()?;
                        self.write_table(fresh, &pt)?;
                        *e2 = fresh | UPPER;
                        retired.push(pt_gpa);
                    }
                }
                let fresh = machine.alloc_table()?;
                self.write_table(fresh, &pd)?;
                *e3 = fresh | UPPER;
                retired.push(pd_gpa);
            }
            let fresh = machine.alloc_table()?;
            self.write_table(fresh, &pdpt)?;
            *e4 = fresh | UPPER;
            retired.push(pdpt_gpa);
        }
        let root = machine.alloc_table()?;
        self.write_table(root, &pml4)?;
        self.root = root;
        self.stale_pts.clear();
        self.relink = false;
        retired.append(&mut self.moved_pts);
        Ok(Some(Retired {
            machine,
            old_root,
            frames: retired,
            left: std::mem::take(&mut self.left_pts),
        }))
    }
}

/// Table frames replaced by a commit, still possibly in use by a vCPU that
/// has not left the old root.
#[must_use = "retired tables must be released once no vCPU uses the old root"]
pub struct Retired {
    machine: Arc<Machine>,
    old_root: u64,
    frames: Vec<u64>,
    /// Shared leaf tables the old root still linked: one reference each.
    left: Vec<u64>,
}

impl Retired {
    /// The root that was replaced.
    pub fn old_root(&self) -> u64 {
        self.old_root
    }

    /// Quarantines the old tables (call once no vCPU runs on the old root).
    pub fn release(self) {
        for gpa in &self.frames {
            self.machine.frames().quarantine(*gpa);
        }
        for pt in &self.left {
            super::ptshare::release_shared(&self.machine, *pt);
        }
        if let Err(e) = self.machine.maybe_zap() {
            tracing::error!("shadow drop failed: {e}");
        }
    }
}

pub(super) fn table_of(e: u64) -> Option<u64> {
    (e & PTE_P != 0 && e & PTE_PS == 0).then_some(e & ADDR_MASK)
}

/// `pte` without write access.
pub(super) fn read_only(pte: Pte) -> Pte {
    Pte {
        flags: PteFlags {
            write: false,
            ..pte.flags
        },
        ..pte
    }
}

impl Drop for PageTables {
    fn drop(&mut self) {
        // Every table frame may be shadowed by KVM: all go to quarantine.
        let frames = self.machine.frames();
        let Ok(pml4) = self.read_table(self.root) else {
            return;
        };
        for e4 in pml4.iter().take(ENTRIES / 2) {
            let Some(pdpt_gpa) = table_of(*e4) else {
                continue;
            };
            if let Ok(pdpt) = self.read_table(pdpt_gpa) {
                for e3 in pdpt.iter() {
                    let Some(pd_gpa) = table_of(*e3) else {
                        continue;
                    };
                    if let Ok(pd) = self.read_table(pd_gpa) {
                        for e2 in pd.iter() {
                            match table_of(*e2) {
                                Some(pt) if *e2 & PTE_W == 0 => {
                                    super::ptshare::release_shared(&self.machine, pt);
                                }
                                Some(pt) => frames.quarantine(pt),
                                None => {}
                            }
                        }
                    }
                    frames.quarantine(pd_gpa);
                }
            }
            frames.quarantine(pdpt_gpa);
        }
        frames.quarantine(self.root);
        for pt in std::mem::take(&mut self.moved_pts) {
            frames.quarantine(pt);
        }
        for pt in std::mem::take(&mut self.left_pts) {
            super::ptshare::release_shared(&self.machine, pt);
        }
        // An address space that never committed (a short-lived process
        // forked without write-protecting its parent) reaches no other
        // place that drops shadows: without this its tables would wait in
        // quarantine forever, one process after another, until the pool
        // ran dry.
        if let Err(e) = self.machine.after_address_space_drop() {
            tracing::error!("shadow drop failed: {e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pte_round_trips() {
        let p = Pte {
            frame: 0x1234_5000,
            flags: PteFlags {
                write: true,
                exec: false,
            },
        };
        assert_eq!(Pte::decode(p.encode()), Some(p));
        assert_eq!(Pte::decode(0), None);
        assert_ne!(p.encode() & PTE_NX, 0);
    }

    #[test]
    fn downgrades_are_recognised() {
        let rw = Pte {
            frame: 0x1000,
            flags: PteFlags {
                write: true,
                exec: true,
            },
        };
        let ro = Pte {
            flags: PteFlags {
                write: false,
                exec: true,
            },
            ..rw
        };
        assert!(rw.downgraded_by(None));
        assert!(rw.downgraded_by(Some(ro)));
        assert!(!ro.downgraded_by(Some(rw)));
        assert!(rw.downgraded_by(Some(Pte {
            frame: 0x2000,
            ..rw
        })));
        assert!(!rw.downgraded_by(Some(rw)));
    }

    #[test]
    fn indices_split_the_address() {
        let va = 0x7fff_ffff_e123;
        assert_eq!(index(va, 3), 255);
        assert_eq!(index(va, 0), 510);
    }
}

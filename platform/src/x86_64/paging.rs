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
const ADDR_MASK: u64 = 0x000f_ffff_ffff_f000;
const UPPER: u64 = PTE_P | PTE_W | PTE_U;
const ENTRIES: usize = 512;

pub use crate::interface::ForkAction;
/// A present leaf translation (the platform interface's [`Mapping`]).
pub type Pte = Mapping;
/// Permissions of a user page (the platform interface's [`PageFlags`]).
pub type PteFlags = PageFlags;

impl Mapping {
    fn encode(self) -> u64 {
        let mut v = (self.frame & ADDR_MASK) | PTE_P | PTE_U;
        if self.flags.write {
            v |= PTE_W;
        }
        if !self.flags.exec {
            v |= PTE_NX;
        }
        v
    }

    fn decode(v: u64) -> Option<Self> {
        (v & PTE_P != 0).then_some(Pte {
            frame: v & ADDR_MASK,
            flags: PteFlags {
                write: v & PTE_W != 0,
                exec: v & PTE_NX == 0,
            },
        })
    }
}

fn index(va: u64, level: u32) -> usize {
    ((va >> (12 + 9 * level)) & 511) as usize
}

/// The page tables of one address space.
pub struct PageTables {
    machine: Arc<Machine>,
    root: u64,
    /// Leaf tables with a downgraded entry since the last commit.
    stale_pts: BTreeSet<u64>,
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
        !self.stale_pts.is_empty()
    }

    fn check_va(va: u64) -> Result<()> {
        if va >= USER_VA_END || !va.is_multiple_of(PAGE_SIZE) {
            return Err(Error::BadAddress(va));
        }
        Ok(())
    }

    fn read_table(&self, gpa: u64) -> Result<Box<[u64; ENTRIES]>> {
        let mut bytes = vec![0u8; PAGE_SIZE as usize];
        self.machine.memory().read(gpa, &mut bytes)?;
        let mut t = Box::new([0u64; ENTRIES]);
        for (i, c) in bytes.chunks_exact(8).enumerate() {
            t[i] = u64::from_le_bytes(c.try_into().expect("8-byte chunk"));
        }
        Ok(t)
    }

    fn write_table(&self, gpa: u64, t: &[u64; ENTRIES]) -> Result<()> {
        let bytes: Vec<u8> = t.iter().flat_map(|e| e.to_le_bytes()).collect();
        self.machine.memory().write(gpa, &bytes)
    }

    /// GPA of the leaf entry for `va`, creating missing tables if `create`.
    fn leaf_slot(&self, va: u64, create: bool) -> Result<Option<u64>> {
        let mem = self.machine.memory();
        let mut table = self.root;
        for level in (1..=3).rev() {
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
        Ok(Some(table + 8 * index(va, 0) as u64))
    }

    /// The translation of the page at `va`, if present.
    pub fn lookup(&self, va: u64) -> Result<Option<Pte>> {
        Self::check_va(va)?;
        Ok(match self.leaf_slot(va, false)? {
            Some(slot) => Pte::decode(self.machine.memory().read_u64(slot)?),
            None => None,
        })
    }

    /// Sets (or clears, with `None`) the translation of the page at `va` and
    /// returns the old one. Frame reference counts are the caller's.
    pub fn set(&mut self, va: u64, pte: Option<Pte>) -> Result<Option<Pte>> {
        Self::check_va(va)?;
        let Some(slot) = self.leaf_slot(va, pte.is_some())? else {
            return Ok(None);
        };
        let mem = self.machine.memory();
        let old = Pte::decode(mem.read_u64(slot)?);
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
        self.walk_leaf_tables(start, end, &mut |this, pt_gpa, base| {
            let mut stale = false;
            let (lo, hi) = Self::leaf_span(base, start, end);
            let mut t = this.read_entries(pt_gpa, lo, hi)?;
            let mut changed = false;
            for (i, e) in (lo..).zip(t.iter_mut()) {
                let va = base + i as u64 * PAGE_SIZE;
                if let Some(old) = Pte::decode(*e) {
                    let new = f(va, old);
                    if new != Some(old) {
                        stale |= old.downgraded_by(new);
                        *e = new.map_or(0, Pte::encode);
                        changed = true;
                    }
                }
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
        self.update_range(0, USER_VA_END, |_, pte| {
            frames.put_data(pte.frame);
            Some(pte)
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
        let machine = Arc::clone(&self.machine);
        let frames = machine.frames();
        self.walk_leaf_tables(start, end, &mut |this, pt_gpa, base| {
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
        })
    }

    /// Number of table frames of the lower half (the root included): what
    /// the address space costs in page tables, for the OOM killer.
    pub fn table_frames(&mut self) -> Result<usize> {
        let mut n = 1;
        let pml4 = self.read_entries(self.root, 0, ENTRIES / 2 - 1)?;
        for pdpt in pml4.into_iter().filter_map(table_of) {
            n += 1;
            for pd in self
                .read_entries(pdpt, 0, ENTRIES - 1)?
                .into_iter()
                .filter_map(table_of)
            {
                n += 1 + self
                    .read_entries(pd, 0, ENTRIES - 1)?
                    .into_iter()
                    .filter_map(table_of)
                    .count();
            }
        }
        Ok(n)
    }

    /// Counts the present pages in `[start, end)`.
    pub fn count_present(&mut self, start: u64, end: u64) -> Result<usize> {
        let mut n = 0;
        let end = end.min(USER_VA_END);
        self.walk_leaf_tables(start, end, &mut |this, pt_gpa, base| {
            let (lo, hi) = Self::leaf_span(base, start, end);
            let t = this.read_entries(pt_gpa, lo, hi)?;
            n += t.iter().filter(|e| **e & PTE_P != 0).count();
            Ok(())
        })?;
        Ok(n)
    }

    /// Calls `f(self, pt_gpa, pt_base_va)` for each leaf table overlapping
    /// `[start, end)`.
    fn walk_leaf_tables(
        &mut self,
        start: u64,
        end: u64,
        f: &mut dyn FnMut(&mut Self, u64, u64) -> Result<()>,
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
                    f(self, pt_gpa, base3 | ((i2 as u64) << 21))?;
                }
            }
        }
        Ok(())
    }

    /// Entries `lo..=hi` of the table at `gpa`.
    fn read_entries(&self, gpa: u64, lo: usize, hi: usize) -> Result<Vec<u64>> {
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
    fn leaf_span(base: u64, start: u64, end: u64) -> (usize, usize) {
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
        if self.stale_pts.is_empty() {
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
        Ok(Some(Retired {
            machine,
            old_root,
            frames: retired,
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
        if let Err(e) = self.machine.maybe_zap() {
            tracing::error!("shadow drop failed: {e}");
        }
    }
}

fn table_of(e: u64) -> Option<u64> {
    (e & PTE_P != 0 && e & PTE_PS == 0).then_some(e & ADDR_MASK)
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
                            if let Some(pt) = table_of(*e2) {
                                frames.quarantine(pt);
                            }
                        }
                    }
                    frames.quarantine(pd_gpa);
                }
            }
            frames.quarantine(pdpt_gpa);
        }
        frames.quarantine(self.root);
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

//! Leaf page tables shared copy-on-write between address spaces at fork
//! (the on-demand-fork design), so that a fork costs a few words per
//! 2 MiB instead of a word per page.
//!
//! # The rules, as measured on this host (`shared/kvmlab/RESULTS-ptshare.md`)
//!
//! * **Fork.** Parent and child link the parent's leaf table (PT) from
//!   their own PDs with the PD entry's RW bit clear; the parent's PD entry
//!   is cleared in place and its upper levels are copied at the next commit
//!   (fresh PML4/PDPT/PD and a CR3 switch, as for any downgrade). KVM keys
//!   its shadow of a leaf table by the write permission of the upper
//!   entries, so the read-only link gets a shadow of its own and every
//!   write under it faults (error code 7), although the parent held
//!   writable translations before. The PT's frame reference count is the
//!   number of address spaces linking it; the data frames keep one
//!   reference for the table, whoever links it (no walk over the pages).
//! * **Unshare.** Before anything in a shared PT changes (a write fault, a
//!   page mapped, unmapped or protected, a fork that cannot share it), the
//!   address space gets its own copy in a **fresh** frame, with every
//!   present entry read-only and a data-frame reference per entry, linked
//!   writable, and the next commit copies the upper levels. The last
//!   sharer also moves to a fresh frame, never making the shared one
//!   writable in place: KVM's writable shadow of the old table survives,
//!   and writes would land in the other process's pages. The last sharer
//!   takes the table's references over and keeps write access where the
//!   caller says the memory is writable and nobody else holds the frame.
//! * **Retire.** The frame given up is released when the old root is
//!   ([`crate::x86_64::paging::Retired`], after a TLB shootdown): the last
//!   reference drops the table's data-frame references and quarantines the
//!   frame until a shadow drop, like every retired table frame.
//!
//! The in-place PD-entry rewrite the probe also found working (no CR3
//! switch) depends on a KVM change and is not used.

use std::sync::Arc;

use crate::interface::ForkAction;
use crate::x86_64::paging::{ENTRIES, Leaf, PTE_P, PTE_U, PTE_W, UPPER, table_of};
use crate::{Error, Machine, PAGE_SIZE, PageTables, Result};

/// Bytes a leaf table covers.
const LEAF_SPAN: u64 = 1 << 21;

/// Leaf tables a write fault in a shared one unshares at once: its own and
/// the shared ones after it in the writable range. Each unshare costs a
/// commit (fresh upper levels and a CR3 switch, whose first run is slow
/// here); a process writing through its memory after a fork then pays it
/// once per 16 MiB instead of once per 2 MiB, for a 4 KiB copy per table
/// it may not write.
const UNSHARE_AROUND: u64 = 8;

/// Drops one address space's reference to the shared leaf table `pt`; the
/// last one drops the table's data-frame references and quarantines it.
pub(super) fn release_shared(machine: &Arc<Machine>, pt: u64) {
    let frames = machine.frames();
    if frames.unref(pt) != 1 {
        return;
    }
    let mut bytes = vec![0u8; PAGE_SIZE as usize];
    match machine.memory().read(pt, &mut bytes) {
        Ok(()) => {
            for c in bytes.chunks_exact(8) {
                let e = u64::from_le_bytes(c.try_into().expect("8-byte chunk"));
                if e & PTE_P != 0 {
                    frames.put_data(e & crate::x86_64::paging::ADDR_MASK);
                }
            }
        }
        Err(e) => tracing::error!("page tables: releasing a shared table: {e}"),
    }
    frames.quarantine(pt);
}

impl PageTables {
    /// Gives this address space its own copy of the shared leaf table of
    /// `leaf` in a fresh frame, linked writable (the next commit makes the
    /// link visible), and returns the copy. Its present entries are
    /// read-only, except, when this address space was the last sharer, in
    /// `writable` (a range of memory the caller may let this address space
    /// write), for frames nobody else holds.
    pub(super) fn unshare_leaf(&mut self, leaf: Leaf, writable: Option<(u64, u64)>) -> Result<u64> {
        debug_assert!(leaf.shared());
        let machine = Arc::clone(&self.machine);
        let frames = machine.frames();
        let fresh = machine.alloc_table()?;
        let mut t = self.read_table(leaf.pt)?;
        // Nobody else links the table, and nobody can start to: only a
        // fork of this address space would, and its caller holds it.
        let last = frames.refcount(leaf.pt) == 1;
        let (wlo, whi) = writable.unwrap_or((0, 0));
        for (i, e) in t.iter_mut().enumerate() {
            if *e & PTE_P == 0 {
                continue;
            }
            let frame = *e & crate::x86_64::paging::ADDR_MASK;
            *e &= !PTE_W;
            if last {
                let va = leaf.base + i as u64 * PAGE_SIZE;
                if va >= wlo && va < whi && frames.refcount(frame) == 1 {
                    *e |= PTE_W;
                }
            } else {
                frames.get(frame);
            }
        }
        self.write_table(fresh, &t)?;
        machine.memory().write_u64(leaf.pde_slot, fresh | UPPER)?;
        if last {
            self.moved_pts.push(leaf.pt);
        } else {
            self.left_pts.push(leaf.pt);
        }
        self.relink = true;
        Ok(fresh)
    }

    /// Makes the leaf table that maps `va` this address space's own if it
    /// is shared ([`PageTables::fork_share`]), keeping write access in
    /// `writable` for frames nobody else holds. Call it before deciding
    /// anything from a frame's reference count (a copy-on-write break):
    /// the pages of a shared table hold one reference for all sharers.
    /// When it unshares, the shared tables of up to `UNSHARE_AROUND` - 1
    /// following 2 MiB blocks inside `writable` go too (one commit for
    /// all). Returns whether the table of `va` was unshared.
    pub fn unshare(&mut self, va: u64, writable: (u64, u64)) -> Result<bool> {
        if !self.unshare_one(va, writable)? {
            return Ok(false);
        }
        let mut at = (va & !(LEAF_SPAN - 1)) + LEAF_SPAN;
        for _ in 1..UNSHARE_AROUND {
            if at >= writable.1 || at >= crate::x86_64::layout::USER_VA_END {
                break;
            }
            self.unshare_one(at, writable)?;
            at += LEAF_SPAN;
        }
        Ok(true)
    }

    fn unshare_one(&mut self, va: u64, writable: (u64, u64)) -> Result<bool> {
        let Some(slot) = self.pde_slot(va, false)? else {
            return Ok(false);
        };
        let pde = self.machine.memory().read_u64(slot)?;
        let Some(pt) = table_of(pde) else {
            return Ok(false);
        };
        let leaf = Leaf {
            pt,
            base: va & !(LEAF_SPAN - 1),
            pde,
            pde_slot: slot,
        };
        if !leaf.shared() {
            return Ok(false);
        }
        self.unshare_leaf(leaf, Some(writable))?;
        Ok(true)
    }

    /// Forks `ranges` (sorted, disjoint `(start, end, action)`) into
    /// `child` (a fresh address space), sharing every leaf table whose
    /// present entries all lie in [`ForkAction::Cow`] ranges (and copying
    /// the others entry by entry, as [`PageTables::fork_range`]). The
    /// parent needs a commit afterwards.
    pub fn fork_share(
        &mut self,
        child: &mut PageTables,
        ranges: &[(u64, u64, ForkAction)],
    ) -> Result<()> {
        let Some((lo, hi, cow)) = crate::interface::fork_span_and_cow_runs(ranges) else {
            return Ok(());
        };
        let machine = Arc::clone(&self.machine);
        let frames = machine.frames();
        let mem = machine.memory();
        let (mut shared, mut copied) = (0usize, 0usize);
        let walked = self.walk_leaf_tables(lo, hi, &mut |this, leaf| {
            let (b, e) = (leaf.base, leaf.base + LEAF_SPAN);
            if !this.stale_pts.contains(&leaf.pt) && this.cow_holds_all(&cow, leaf)? {
                shared += 1;
                let slot = child.pde_slot(b, true)?.ok_or(Error::BadAddress(b))?;
                if mem.read_u64(slot)? != 0 {
                    return Err(Error::BadAddress(b));
                }
                frames.get(leaf.pt);
                if !leaf.shared() {
                    mem.write_u64(leaf.pde_slot, leaf.pde & !PTE_W)?;
                    this.relink = true;
                }
                mem.write_u64(slot, leaf.pt | PTE_P | PTE_U)?;
                return Ok(());
            }
            copied += 1;
            let pt = if leaf.shared() {
                this.unshare_leaf(leaf, None)?
            } else {
                leaf.pt
            };
            let first = ranges.partition_point(|r| r.1 <= b);
            for &(s, en, action) in ranges[first..].iter().take_while(|r| r.0 < e) {
                this.fork_leaf(child, pt, b, s.max(b), en.min(e), &mut |_| action)?;
            }
            Ok(())
        });
        tracing::debug!("fork: {shared} leaf tables shared, {copied} copied entry by entry");
        walked
    }

    /// Whether every present entry of `leaf` lies in one of the sorted,
    /// merged ranges `cow`.
    fn cow_holds_all(&self, cow: &[(u64, u64)], leaf: Leaf) -> Result<bool> {
        let (b, e) = (leaf.base, leaf.base + LEAF_SPAN);
        let i = cow.partition_point(|r| r.1 <= b);
        if cow.get(i).is_some_and(|r| r.0 <= b && r.1 >= e) {
            return Ok(true);
        }
        let entries = self.read_entries(leaf.pt, 0, ENTRIES - 1)?;
        let mut j = i;
        for (k, entry) in entries.iter().enumerate() {
            if entry & PTE_P == 0 {
                continue;
            }
            let va = b + k as u64 * PAGE_SIZE;
            while cow.get(j).is_some_and(|r| r.1 <= va) {
                j += 1;
            }
            if cow.get(j).is_none_or(|r| r.0 > va) {
                return Ok(false);
            }
        }
        Ok(true)
    }

    /// Number of leaf tables this address space links read-only (shared
    /// at a fork and not yet unshared), for tests and statistics.
    pub fn shared_leaf_tables(&mut self) -> Result<usize> {
        let mut n = 0;
        self.walk_leaf_tables(0, crate::x86_64::layout::USER_VA_END, &mut |_, leaf| {
            n += usize::from(leaf.shared());
            Ok(())
        })?;
        Ok(n)
    }
}

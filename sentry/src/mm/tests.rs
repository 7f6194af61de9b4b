//! Unit tests of address spaces on the fake platform (no `/dev/kvm`):
//! VMA arithmetic as mmap/munmap/mprotect/mremap/brk see it, the user-copy
//! API, demand faults, copy-on-write reference counts, fork, MAP_SHARED
//! coherence, commits and the TLB shootdown.

use std::sync::Arc;

use platform::fake::Fake;
use platform::{Mapping, PAGE_SIZE, Platform, PlatformConfig, Trap, UserContext};

use super::*;
use crate::errno::Errno;

const P: u64 = PAGE_SIZE;
const RO: Prot = Prot {
    read: true,
    write: false,
    exec: false,
};
const NONE: Prot = Prot {
    read: false,
    write: false,
    exec: false,
};
const BASE: u64 = 0x1000_0000;

/// A fake platform with a 16 MiB cap, and an empty address space on it.
fn setup() -> (Arc<Fake>, Arc<AddressSpace>) {
    setup_with(16 << 20)
}

fn setup_with(limit: u64) -> (Arc<Fake>, Arc<AddressSpace>) {
    let fake = Arc::new(
        Fake::new(PlatformConfig {
            memory_limit: limit,
        })
        .expect("fake platform"),
    );
    let mm = AddressSpace::new(Arc::clone(&fake) as Arc<dyn Platform>).expect("address space");
    (fake, mm)
}

fn req(placement: Placement, len: u64, prot: Prot) -> MapRequest {
    MapRequest {
        placement,
        len,
        prot,
        shared: false,
        grows_down: false,
        noreserve: false,
    }
}

/// Maps `len` bytes of private anonymous memory at `addr` (MAP_FIXED).
fn map_at(mm: &AddressSpace, addr: u64, len: u64, prot: Prot) -> u64 {
    mm.map_anon(&req(Placement::Fixed(addr), len, prot))
        .expect("mmap")
}

fn map_shared_at(mm: &AddressSpace, addr: u64, len: u64) -> u64 {
    let mut r = req(Placement::Fixed(addr), len, Prot::RW);
    r.shared = true;
    mm.map_anon(&r).expect("mmap shared")
}

/// The VMAs as /proc/self/maps shows them: (start, end, "rwxp").
fn vmas(mm: &AddressSpace) -> Vec<(u64, u64, String)> {
    mm.maps()
        .lines()
        .map(|l| {
            let mut f = l.split_whitespace();
            let range = f.next().unwrap();
            let perms = f.next().unwrap().to_owned();
            let (a, b) = range.split_once('-').unwrap();
            (
                u64::from_str_radix(a, 16).unwrap(),
                u64::from_str_radix(b, 16).unwrap(),
                perms,
            )
        })
        .collect()
}

impl AddressSpace {
    /// The mapping of the page at `va` (tests only).
    fn mapping(&self, va: u64) -> Option<Mapping> {
        self.inner.lock().pt.lookup(va).unwrap()
    }

    /// The frame behind `va`, which must be present.
    fn frame_at(&self, va: u64) -> u64 {
        self.mapping(va).expect("a present page").frame
    }
}

fn data_bytes(fake: &Fake) -> u64 {
    fake.frames().data_bytes_in_use()
}

/// Enters and leaves the address space as a task's loop does, so pending
/// downgrades are committed and unmapped frames freed.
fn enter_once(fake: &Fake, mm: &AddressSpace) -> u64 {
    let ctx = fake.new_context().unwrap();
    let runner = Runner::new(1, ctx.kicker());
    mm.attach(&runner);
    let root = mm.enter(&runner).unwrap();
    mm.leave(&runner);
    mm.detach(&runner);
    root
}

// ---- VMA arithmetic through the mapping calls ----

#[test]
fn mmap_without_a_hint_lands_page_aligned_below_mmap_base() {
    let (_f, mm) = setup();
    let a = mm
        .map_anon(&req(Placement::Hint(0), 3 * P, Prot::RW))
        .unwrap();
    assert!(a.is_multiple_of(P));
    assert!(a >= MMAP_MIN_ADDR && a + 3 * P <= MMAP_BASE);
    assert_eq!(vmas(&mm), vec![(a, a + 3 * P, "rw-p".to_owned())]);
}

#[test]
fn a_free_hint_is_taken_as_is() {
    let (_f, mm) = setup();
    let a = mm
        .map_anon(&req(Placement::Hint(BASE + 123), P, Prot::RW))
        .unwrap();
    assert_eq!(a, BASE);
}

#[test]
fn adjacent_mappings_with_equal_protections_merge() {
    let (_f, mm) = setup();
    map_at(&mm, BASE, 2 * P, Prot::RW);
    map_at(&mm, BASE + 2 * P, 2 * P, Prot::RW);
    assert_eq!(vmas(&mm), vec![(BASE, BASE + 4 * P, "rw-p".to_owned())]);
    map_at(&mm, BASE + 4 * P, P, RO);
    assert_eq!(vmas(&mm).len(), 2, "different protections do not merge");
}

#[test]
fn munmap_in_the_middle_splits_a_mapping() {
    let (_f, mm) = setup();
    map_at(&mm, BASE, 4 * P, Prot::RW);
    mm.unmap(BASE + P, BASE + 2 * P).unwrap();
    assert_eq!(
        vmas(&mm),
        vec![
            (BASE, BASE + P, "rw-p".to_owned()),
            (BASE + 2 * P, BASE + 4 * P, "rw-p".to_owned())
        ]
    );
    let mut b = [0u8; 1];
    assert_eq!(mm.read(BASE + P, &mut b), Err(Errno::EFAULT));
    assert!(mm.read(BASE + 2 * P, &mut b).is_ok());
}

#[test]
fn mprotect_in_the_middle_splits_in_three_and_back_merges() {
    let (_f, mm) = setup();
    map_at(&mm, BASE, 3 * P, Prot::RW);
    mm.protect(BASE + P, BASE + 2 * P, RO).unwrap();
    assert_eq!(
        vmas(&mm),
        vec![
            (BASE, BASE + P, "rw-p".to_owned()),
            (BASE + P, BASE + 2 * P, "r--p".to_owned()),
            (BASE + 2 * P, BASE + 3 * P, "rw-p".to_owned())
        ]
    );
    mm.protect(BASE + P, BASE + 2 * P, Prot::RW).unwrap();
    assert_eq!(vmas(&mm), vec![(BASE, BASE + 3 * P, "rw-p".to_owned())]);
}

#[test]
fn mprotect_over_a_hole_is_enomem_and_changes_nothing() {
    let (_f, mm) = setup();
    map_at(&mm, BASE, P, Prot::RW);
    map_at(&mm, BASE + 2 * P, P, Prot::RW);
    assert_eq!(mm.protect(BASE, BASE + 3 * P, RO), Err(Errno::ENOMEM));
    assert!(vmas(&mm).iter().all(|v| v.2 == "rw-p"));
}

#[test]
fn fixed_mappings_check_alignment_range_and_mmap_min_addr() {
    let (_f, mm) = setup();
    let fixed = |addr| mm.map_anon(&req(Placement::Fixed(addr), P, Prot::RW));
    assert_eq!(fixed(BASE + 1), Err(Errno::EINVAL));
    assert_eq!(fixed(MMAP_MIN_ADDR - P), Err(Errno::EPERM));
    assert_eq!(fixed(TASK_SIZE), Err(Errno::ENOMEM));
    assert_eq!(fixed(BASE), Ok(BASE));
}

#[test]
fn map_fixed_noreplace_over_a_mapping_is_eexist() {
    let (_f, mm) = setup();
    map_at(&mm, BASE, 2 * P, Prot::RW);
    let r = req(Placement::FixedNoReplace(BASE + P), P, Prot::RW);
    assert_eq!(mm.map_anon(&r), Err(Errno::EEXIST));
}

#[test]
fn map_fixed_replaces_a_mapping_and_its_data() {
    let (_f, mm) = setup();
    map_at(&mm, BASE, P, Prot::RW);
    mm.write_u64(BASE, 0xfeed).unwrap();
    map_at(&mm, BASE, P, Prot::RW);
    assert_eq!(
        mm.read_u64(BASE).unwrap(),
        0,
        "the new mapping starts zeroed"
    );
}

#[test]
fn writable_mappings_beyond_the_memory_cap_are_enomem_unless_noreserve() {
    let (_f, mm) = setup_with(1 << 20);
    let mut r = req(Placement::Hint(0), 2 << 20, Prot::RW);
    assert_eq!(mm.map_anon(&r), Err(Errno::ENOMEM));
    r.noreserve = true;
    assert!(mm.map_anon(&r).is_ok());
    // Read-only memory costs no frame: not counted either.
    assert!(mm.map_anon(&req(Placement::Hint(0), 2 << 20, RO)).is_ok());
}

// ---- the user-copy API ----

#[test]
fn written_bytes_read_back_across_pages() {
    let (_f, mm) = setup();
    map_at(&mm, BASE, 3 * P, Prot::RW);
    let data: Vec<u8> = (0..2 * P as usize).map(|i| (i % 251) as u8).collect();
    mm.write(BASE + 100, &data).unwrap();
    let mut back = vec![0u8; data.len()];
    mm.read(BASE + 100, &mut back).unwrap();
    assert_eq!(back, data);
}

#[test]
fn copies_touching_unmapped_memory_are_efault() {
    let (_f, mm) = setup();
    map_at(&mm, BASE, P, Prot::RW);
    let mut b = [0u8; 16];
    assert_eq!(mm.read(BASE - 8, &mut b), Err(Errno::EFAULT));
    assert_eq!(mm.read(BASE + P - 8, &mut b), Err(Errno::EFAULT));
    assert_eq!(mm.write(BASE + P - 8, &b), Err(Errno::EFAULT));
    assert_eq!(mm.read(TASK_SIZE - 8, &mut b), Err(Errno::EFAULT));
    assert_eq!(mm.read(u64::MAX - 4, &mut b), Err(Errno::EFAULT));
}

#[test]
fn protections_are_enforced_on_copies() {
    let (_f, mm) = setup();
    map_at(&mm, BASE, P, RO);
    map_at(&mm, BASE + P, P, NONE);
    let mut b = [0u8; 8];
    assert!(mm.read(BASE, &mut b).is_ok());
    assert_eq!(mm.write(BASE, &b), Err(Errno::EFAULT));
    assert_eq!(mm.read(BASE + P, &mut b), Err(Errno::EFAULT));
}

#[test]
fn prefixes_stop_at_the_first_bad_page() {
    let (_f, mm) = setup();
    map_at(&mm, BASE, P, Prot::RW);
    let data = vec![7u8; 100];
    assert_eq!(mm.write_prefix(BASE + P - 40, &data), 40);
    let mut back = vec![0u8; 100];
    assert_eq!(mm.read_prefix(BASE + P - 40, &mut back), 40);
    assert_eq!(&back[..40], &data[..40]);
    assert_eq!(mm.writable_prefix(BASE + P - 40, 100), 40);
}

#[test]
fn cstrings_end_at_nul_and_respect_the_limit() {
    let (_f, mm) = setup();
    map_at(&mm, BASE, 2 * P, Prot::RW);
    // A string that crosses a page boundary.
    mm.write(BASE + P - 3, b"hello\0").unwrap();
    assert_eq!(mm.read_cstring(BASE + P - 3, 100).unwrap(), b"hello");
    assert_eq!(mm.read_cstring(BASE + P - 3, 4), Err(Errno::ENAMETOOLONG));
    // No NUL before the end of the mapping: EFAULT.
    mm.write(BASE + 2 * P - 4, b"abcd").unwrap();
    assert_eq!(mm.read_cstring(BASE + 2 * P - 4, 100), Err(Errno::EFAULT));
}

#[test]
fn cmpxchg_replaces_only_the_expected_value() {
    let (_f, mm) = setup();
    map_at(&mm, BASE, P, Prot::RW);
    mm.write_u32(BASE + 8, 5).unwrap();
    assert_eq!(mm.cmpxchg_u32(BASE + 8, 4, 9).unwrap(), 5);
    assert_eq!(mm.read_u32(BASE + 8).unwrap(), 5);
    assert_eq!(mm.cmpxchg_u32(BASE + 8, 5, 9).unwrap(), 5);
    assert_eq!(mm.read_u32(BASE + 8).unwrap(), 9);
    assert_eq!(mm.cmpxchg_u32(BASE + 9, 9, 1), Err(Errno::EINVAL));
    assert_eq!(mm.cmpxchg_u32(BASE + P, 0, 1), Err(Errno::EFAULT));
}

#[test]
fn poke_writes_read_only_memory_for_the_loader() {
    let (_f, mm) = setup();
    mm.map_image_region(BASE, BASE + P, RO, "").unwrap();
    mm.poke(BASE + 16, b"code").unwrap();
    let mut b = [0u8; 4];
    mm.read(BASE + 16, &mut b).unwrap();
    assert_eq!(&b, b"code");
    assert_eq!(mm.write(BASE + 16, b"x"), Err(Errno::EFAULT));
}

// ---- demand faults ----

#[test]
fn a_demand_fault_maps_its_aligned_block_clipped_to_the_vma() {
    let (fake, mm) = setup();
    map_at(&mm, BASE, 64 * P, Prot::RW);
    mm.handle_fault(BASE + 20 * P + 5, Access::Write, true)
        .unwrap();
    // Pages 16..32 of the mapping: one block of 16.
    assert_eq!(mm.resident_pages(), 16);
    assert!(mm.mapping(BASE + 16 * P).is_some());
    assert!(mm.mapping(BASE + 31 * P).is_some());
    assert!(mm.mapping(BASE + 32 * P).is_none());
    assert_eq!(data_bytes(&fake), 16 * P);
    // A 3-page mapping gets only its 3 pages.
    map_at(&mm, BASE + 100 * P, 3 * P, Prot::RW);
    mm.handle_fault(BASE + 100 * P, Access::Read, true).unwrap();
    assert_eq!(mm.resident_pages(), 19);
}

#[test]
fn reading_read_only_private_memory_costs_no_frame() {
    let (fake, mm) = setup();
    map_at(&mm, BASE, 32 * P, RO);
    let before = data_bytes(&fake);
    let mut b = [1u8; 64];
    mm.read(BASE + 3 * P, &mut b).unwrap();
    assert_eq!(b, [0u8; 64]);
    assert_eq!(data_bytes(&fake), before);
    assert_eq!(mm.frame_at(BASE + 3 * P), fake.zero_frame());
    assert_eq!(mm.resident_pages(), 0, "the zero frame is not resident");
}

#[test]
fn faults_are_classified_as_linux_does() {
    let (_f, mm) = setup();
    map_at(&mm, BASE, P, RO);
    assert_eq!(
        mm.handle_fault(BASE + P, Access::Read, true),
        Err(FaultError::MapErr)
    );
    assert_eq!(
        mm.handle_fault(BASE, Access::Write, true),
        Err(FaultError::AccErr)
    );
    assert_eq!(
        mm.handle_fault(BASE, Access::Exec, true),
        Err(FaultError::AccErr)
    );
    assert_eq!(
        mm.handle_fault(TASK_SIZE, Access::Read, true),
        Err(FaultError::MapErr)
    );
    assert_eq!(mm.handle_fault(BASE, Access::Read, true), Ok(()));
}

#[test]
fn faults_past_the_memory_cap_are_the_oom_killers_case() {
    let (_f, mm) = setup_with(64 * P);
    let mut r = req(Placement::Fixed(BASE), 256 * P, Prot::RW);
    r.noreserve = true;
    mm.map_anon(&r).unwrap();
    let mut result = Ok(());
    for i in 0..16 {
        result = mm.handle_fault(BASE + i * 16 * P, Access::Write, true);
        if result.is_err() {
            break;
        }
    }
    assert_eq!(result, Err(FaultError::Oom));
}

#[test]
fn the_stack_grows_down_on_a_fault_below_it() {
    let (_f, mm) = setup();
    mm.map_stack(4 * P, false).unwrap();
    let below = STACK_TOP - 10 * P;
    mm.handle_fault(below, Access::Write, true).unwrap();
    let stack = vmas(&mm).into_iter().find(|v| v.1 == STACK_TOP).unwrap();
    assert_eq!(stack.0, below);
    // Not past the stack limit.
    assert_eq!(
        mm.handle_fault(STACK_TOP - STACK_LIMIT - P, Access::Write, true),
        Err(FaultError::MapErr)
    );
}

#[test]
fn populate_maps_writable_memory_and_stops_when_interrupted() {
    let (_f, mm) = setup();
    map_at(&mm, BASE, 64 * P, Prot::RW);
    mm.populate(BASE, 64 * P, &|| false);
    assert_eq!(mm.resident_pages(), 64);
    map_at(&mm, BASE + 128 * P, 64 * P, Prot::RW);
    mm.populate(BASE + 128 * P, 64 * P, &|| true);
    assert_eq!(
        mm.resident_pages(),
        64,
        "an interrupted populate maps nothing"
    );
}

// ---- protections, commits and frames ----

#[test]
fn write_protecting_present_pages_needs_a_commit() {
    let (fake, mm) = setup();
    map_at(&mm, BASE, P, Prot::RW);
    mm.write_u64(BASE, 1).unwrap();
    let root = enter_once(&fake, &mm);
    assert_eq!(enter_once(&fake, &mm), root, "nothing to commit");
    mm.protect(BASE, BASE + P, RO).unwrap();
    assert!(!mm.mapping(BASE).unwrap().flags.write);
    let commits = fake.commits();
    assert_ne!(enter_once(&fake, &mm), root, "a downgrade moves the root");
    assert_eq!(fake.commits(), commits + 1);
}

#[test]
fn unmapped_frames_are_freed_only_after_the_commit() {
    let (fake, mm) = setup();
    map_at(&mm, BASE, 16 * P, Prot::RW);
    mm.write_u64(BASE, 1).unwrap();
    assert_eq!(data_bytes(&fake), 16 * P);
    mm.unmap(BASE, BASE + 16 * P).unwrap();
    assert_eq!(
        data_bytes(&fake),
        16 * P,
        "another vCPU may still reach them through the old root"
    );
    enter_once(&fake, &mm);
    assert_eq!(data_bytes(&fake), 0);
}

#[test]
fn prot_none_keeps_the_data_for_later() {
    let (fake, mm) = setup();
    map_at(&mm, BASE, P, Prot::RW);
    mm.write_u64(BASE, 0xabcd).unwrap();
    mm.protect(BASE, BASE + P, NONE).unwrap();
    assert!(mm.mapping(BASE).is_none(), "no translation while PROT_NONE");
    assert_eq!(data_bytes(&fake), P, "but the frame is kept");
    mm.protect(BASE, BASE + P, Prot::RW).unwrap();
    assert_eq!(mm.read_u64(BASE).unwrap(), 0xabcd);
}

#[test]
fn mprotect_to_read_only_then_back_asks_write_access_through_a_fault() {
    let (_f, mm) = setup();
    map_at(&mm, BASE, P, Prot::RW);
    mm.write_u64(BASE, 3).unwrap();
    mm.protect(BASE, BASE + P, RO).unwrap();
    assert_eq!(mm.write_u64(BASE, 4), Err(Errno::EFAULT));
    mm.protect(BASE, BASE + P, Prot::RW).unwrap();
    assert!(!mm.mapping(BASE).unwrap().flags.write);
    mm.write_u64(BASE, 4).unwrap();
    assert!(mm.mapping(BASE).unwrap().flags.write);
    assert_eq!(mm.read_u64(BASE).unwrap(), 4);
}

#[test]
fn madvise_dontneed_zeroes_private_pages_but_not_shared_ones() {
    let (_f, mm) = setup();
    map_at(&mm, BASE, P, Prot::RW);
    map_shared_at(&mm, BASE + 4 * P, P);
    mm.write_u64(BASE, 1).unwrap();
    mm.write_u64(BASE + 4 * P, 2).unwrap();
    mm.advise(BASE, BASE + P, Advice::DontNeed).unwrap();
    mm.advise(BASE + 4 * P, BASE + 5 * P, Advice::DontNeed)
        .unwrap();
    assert_eq!(mm.read_u64(BASE).unwrap(), 0);
    assert_eq!(mm.read_u64(BASE + 4 * P).unwrap(), 2);
    assert_eq!(
        mm.advise(BASE + 4 * P, BASE + 5 * P, Advice::WipeOnFork),
        Err(Errno::EINVAL)
    );
    assert_eq!(
        mm.advise(BASE + P, BASE + 2 * P, Advice::DontNeed),
        Err(Errno::ENOMEM)
    );
}

#[test]
fn brk_grows_and_shrinks_the_heap() {
    let (_f, mm) = setup();
    mm.set_brk_start(BASE);
    assert_eq!(mm.brk(0), BASE, "a query returns the break");
    assert_eq!(mm.brk(BASE + 3 * P + 1), BASE + 3 * P + 1);
    mm.write_u64(BASE + 3 * P, 9).unwrap();
    assert_eq!(mm.brk(BASE + P), BASE + P);
    assert_eq!(mm.read_u64(BASE + 3 * P), Err(Errno::EFAULT));
    assert_eq!(mm.brk(BASE - P), BASE + P, "below the start: unchanged");
    // Blocked by a mapping: unchanged.
    map_at(&mm, BASE + 8 * P, P, Prot::RW);
    assert_eq!(mm.brk(BASE + 9 * P), BASE + P);
}

#[test]
fn mremap_grows_in_place_or_moves_with_the_data() {
    let (_f, mm) = setup();
    map_at(&mm, BASE, 2 * P, Prot::RW);
    mm.write_u64(BASE + P, 42).unwrap();
    let grow = |old_len, new_len, may_move| RemapRequest {
        old: BASE,
        old_len,
        new_len,
        may_move,
        fixed: None,
        dont_unmap: false,
    };
    assert_eq!(mm.remap(&grow(2 * P, 4 * P, false)), Ok(BASE));
    // Something in the way: moves only with MREMAP_MAYMOVE.
    map_at(&mm, BASE + 4 * P, P, RO);
    assert_eq!(mm.remap(&grow(4 * P, 8 * P, false)), Err(Errno::ENOMEM));
    let moved = mm.remap(&grow(4 * P, 8 * P, true)).unwrap();
    assert_ne!(moved, BASE);
    assert_eq!(mm.read_u64(moved + P).unwrap(), 42);
    assert_eq!(mm.read_u64(BASE + P), Err(Errno::EFAULT));
}

#[test]
fn mremap_fixed_onto_itself_is_einval_and_dontunmap_leaves_an_empty_range() {
    let (_f, mm) = setup();
    map_at(&mm, BASE, 2 * P, Prot::RW);
    mm.write_u64(BASE, 5).unwrap();
    let mut r = RemapRequest {
        old: BASE,
        old_len: 2 * P,
        new_len: 2 * P,
        may_move: true,
        fixed: Some(BASE + P),
        dont_unmap: false,
    };
    assert_eq!(mm.remap(&r), Err(Errno::EINVAL));
    r.fixed = None;
    r.dont_unmap = true;
    let to = mm.remap(&r).unwrap();
    assert_eq!(mm.read_u64(to).unwrap(), 5);
    assert_eq!(mm.read_u64(BASE).unwrap(), 0, "the old range stays, empty");
}

// ---- fork and copy-on-write ----

#[test]
fn after_a_small_fork_each_side_sees_its_own_writes() {
    let (fake, mm) = setup();
    map_at(&mm, BASE, 4 * P, Prot::RW);
    mm.write_u64(BASE, 1).unwrap();
    let child = mm.fork().unwrap();
    // Small: copied at once, so no frame is shared.
    assert_ne!(mm.frame_at(BASE), child.frame_at(BASE));
    assert_eq!(fake.frames().refcount(mm.frame_at(BASE)), 1);
    child.write_u64(BASE, 2).unwrap();
    mm.write_u64(BASE, 3).unwrap();
    assert_eq!(child.read_u64(BASE).unwrap(), 2);
    assert_eq!(mm.read_u64(BASE).unwrap(), 3);
}

/// Pages above `EAGER_FORK_PAGES` make a fork copy-on-write.
const BIG: u64 = 600 * P;

fn big_forked() -> (Arc<Fake>, Arc<AddressSpace>, Arc<AddressSpace>) {
    let (fake, mm) = setup();
    map_at(&mm, BASE, BIG, Prot::RW);
    mm.populate(BASE, BIG, &|| false);
    mm.write_u64(BASE, 11).unwrap();
    let child = mm.fork().unwrap();
    (fake, mm, child)
}

#[test]
fn a_large_fork_shares_frames_read_only_with_two_references() {
    let (fake, mm, child) = big_forked();
    let f = mm.frame_at(BASE);
    assert_eq!(child.frame_at(BASE), f);
    assert_eq!(fake.frames().refcount(f), 2);
    assert!(!mm.mapping(BASE).unwrap().flags.write);
    assert!(!child.mapping(BASE).unwrap().flags.write);
    assert_eq!(data_bytes(&fake), BIG, "no page was copied");
    assert_eq!(child.read_u64(BASE).unwrap(), 11);
}

#[test]
fn the_first_write_after_a_cow_fork_copies_and_the_last_owner_takes_over() {
    let (fake, mm, child) = big_forked();
    let f = mm.frame_at(BASE);
    child.write_u64(BASE, 22).unwrap();
    let g = child.frame_at(BASE);
    assert_ne!(g, f, "the child's write copied the page");
    assert_eq!(fake.frames().refcount(g), 1);
    assert_eq!(data_bytes(&fake), BIG + P);
    // The parent is now the frame's only user once the child's commit
    // released the reference: it writes in place.
    enter_once(&fake, &child);
    assert_eq!(fake.frames().refcount(f), 1);
    mm.write_u64(BASE, 33).unwrap();
    assert_eq!(mm.frame_at(BASE), f, "no copy for the last owner");
    assert_eq!(mm.read_u64(BASE).unwrap(), 33);
    assert_eq!(child.read_u64(BASE).unwrap(), 22);
}

#[test]
fn a_guest_cow_fault_swaps_the_frame_in_place() {
    let (fake, mm, child) = big_forked();
    let commits = fake.commits();
    child.handle_fault(BASE + P, Access::Write, true).unwrap();
    let m = child.mapping(BASE + P).unwrap();
    assert!(m.flags.write);
    assert_ne!(m.frame, mm.frame_at(BASE + P));
    enter_once(&fake, &child);
    // The break was made in place (the retried write sees it): the child
    // had no downgrade to commit.
    assert_eq!(fake.commits(), commits);
}

#[test]
fn dropping_a_forked_child_gives_its_references_back() {
    let (fake, mm, child) = big_forked();
    child.write_u64(BASE, 1).unwrap();
    drop(child);
    assert_eq!(fake.frames().refcount(mm.frame_at(BASE)), 1);
    assert_eq!(data_bytes(&fake), BIG);
    drop(mm);
    assert_eq!(data_bytes(&fake), 0, "no frame leaks");
}

#[test]
fn shared_mappings_stay_coherent_across_fork() {
    let (fake, mm) = setup();
    map_shared_at(&mm, BASE, 32 * P);
    mm.write_u64(BASE, 1).unwrap();
    let child = mm.fork().unwrap();
    assert_eq!(child.frame_at(BASE), mm.frame_at(BASE));
    child.write_u64(BASE, 2).unwrap();
    assert_eq!(mm.read_u64(BASE).unwrap(), 2);
    // A page first touched after the fork (another fault-around block).
    assert!(mm.mapping(BASE + 20 * P).is_none());
    mm.write_u64(BASE + 20 * P, 3).unwrap();
    assert_eq!(child.read_u64(BASE + 20 * P).unwrap(), 3);
    assert_eq!(mm.shared_key(BASE), child.shared_key(BASE));
    drop(child);
    drop(mm);
    assert_eq!(data_bytes(&fake), 0);
}

#[test]
fn a_shared_mapping_moved_by_mremap_keeps_its_pages() {
    let (_f, mm) = setup();
    map_shared_at(&mm, BASE, P);
    mm.write_u64(BASE, 77).unwrap();
    let child = mm.fork().unwrap();
    let to = mm
        .remap(&RemapRequest {
            old: BASE,
            old_len: P,
            new_len: P,
            may_move: true,
            fixed: Some(BASE + 16 * P),
            dont_unmap: false,
        })
        .unwrap();
    mm.write_u64(to, 78).unwrap();
    assert_eq!(child.read_u64(BASE).unwrap(), 78);
}

#[test]
fn dontfork_ranges_are_left_out_and_wipeonfork_ranges_start_empty() {
    let (_f, mm) = setup();
    map_at(&mm, BASE, P, Prot::RW);
    map_at(&mm, BASE + 2 * P, P, Prot::RW);
    mm.write_u64(BASE, 1).unwrap();
    mm.write_u64(BASE + 2 * P, 2).unwrap();
    mm.advise(BASE, BASE + P, Advice::DontFork).unwrap();
    mm.advise(BASE + 2 * P, BASE + 3 * P, Advice::WipeOnFork)
        .unwrap();
    let child = mm.fork().unwrap();
    assert_eq!(child.read_u64(BASE), Err(Errno::EFAULT));
    assert_eq!(child.read_u64(BASE + 2 * P).unwrap(), 0);
    assert_eq!(mm.read_u64(BASE + 2 * P).unwrap(), 2);
}

#[test]
fn prot_none_pages_are_forked_too() {
    let (_f, mm) = setup();
    map_at(&mm, BASE, P, Prot::RW);
    mm.write_u64(BASE, 5).unwrap();
    mm.protect(BASE, BASE + P, NONE).unwrap();
    let child = mm.fork().unwrap();
    child.protect(BASE, BASE + P, Prot::RW).unwrap();
    assert_eq!(child.read_u64(BASE).unwrap(), 5);
    child.write_u64(BASE, 6).unwrap();
    mm.protect(BASE, BASE + P, Prot::RW).unwrap();
    assert_eq!(mm.read_u64(BASE).unwrap(), 5);
}

#[test]
fn fork_keeps_brk_exe_and_cmdline() {
    let (_f, mm) = setup();
    mm.set_brk_start(BASE);
    mm.brk(BASE + P);
    mm.set_exe(b"/bin/x", None);
    mm.set_cmdline(&[b"x".to_vec(), b"-v".to_vec()]);
    let child = mm.fork().unwrap();
    assert_eq!(child.brk(0), BASE + P);
    assert_eq!(child.exe(), b"/bin/x");
    assert_eq!(child.cmdline(), b"x\0-v\0");
}

// ---- runners and the TLB shootdown ----

#[test]
fn a_commit_kicks_a_runner_on_the_old_root_and_waits_for_it() {
    let (fake, mm) = setup();
    map_at(&mm, BASE, P, Prot::RW);
    mm.write_u64(BASE, 1).unwrap();
    let mut other_ctx = fake.new_context().unwrap();
    let other = Runner::new(2, other_ctx.kicker());
    let me_ctx = fake.new_context().unwrap();
    let me = Runner::new(1, me_ctx.kicker());
    mm.attach(&other);
    mm.attach(&me);
    let old = mm.enter(&other).unwrap();
    // `other` is "in the guest" on `old` until its context is kicked.
    let runner = {
        let mm = Arc::clone(&mm);
        let other = Arc::clone(&other);
        std::thread::spawn(move || {
            let mut ctx = UserContext::default();
            loop {
                match other_ctx.run(&mut ctx, old) {
                    Ok(Trap::Interrupted) => break,
                    _ => std::thread::sleep(std::time::Duration::from_millis(1)),
                }
            }
            mm.leave(&other);
        })
    };
    mm.protect(BASE, BASE + P, RO).unwrap();
    let new = mm.enter(&me).unwrap();
    assert_ne!(new, old);
    runner.join().unwrap();
    mm.leave(&me);
    // Both run on the new root from now on.
    assert_eq!(mm.enter(&other).unwrap(), new);
}

#[test]
fn detached_runners_are_not_waited_for() {
    let (fake, mm) = setup();
    map_at(&mm, BASE, P, Prot::RW);
    mm.write_u64(BASE, 1).unwrap();
    let ctx = fake.new_context().unwrap();
    let gone = Runner::new(3, ctx.kicker());
    mm.attach(&gone);
    mm.enter(&gone).unwrap();
    mm.detach(&gone);
    mm.unmap(BASE, BASE + P).unwrap();
    // Returns at once: nobody attached is on the old root.
    let root = enter_once(&fake, &mm);
    assert_ne!(root, 0);
}

// ---- File-backed mappings ----

/// A file of the platform's frames (as a tmpfs file's data) holding
/// `data`.
fn store_file(fake: &Arc<Fake>, data: &[u8]) -> Arc<SharedMemory> {
    let s = Arc::new(SharedMemory::new_file(Arc::clone(fake) as Arc<dyn Platform>));
    assert_eq!(s.write(data, 0), Ok(data.len()));
    s
}

fn file_map(backing: FileBacking, shared: bool, may_write: bool) -> FileMap {
    FileMap {
        backing,
        name: "/tmp/f".into(),
        dev: 0x1f,
        ino: 42,
        shared,
        may_write,
    }
}

fn map_file_at(mm: &AddressSpace, addr: u64, len: u64, prot: Prot, fm: FileMap, off: u64) -> u64 {
    let mut r = req(Placement::Fixed(addr), len, prot);
    r.shared = fm.shared;
    mm.map_file(&r, fm, off).expect("map file")
}

/// A host-like file read through `read_at`.
struct Bytes(Vec<u8>);

impl PageSource for Bytes {
    fn size(&self) -> u64 {
        self.0.len() as u64
    }
    fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        let off = (offset as usize).min(self.0.len());
        let n = buf.len().min(self.0.len() - off);
        buf[..n].copy_from_slice(&self.0[off..off + n]);
        Ok(n)
    }
}

fn read_byte(mm: &AddressSpace, va: u64) -> u8 {
    let mut b = [0u8; 1];
    mm.read(va, &mut b).unwrap();
    b[0]
}

#[test]
fn a_shared_file_mapping_maps_the_files_own_frames() {
    let (fake, mm) = setup();
    let file = store_file(&fake, &[7u8; 2 * P as usize]);
    map_file_at(
        &mm,
        BASE,
        2 * P,
        Prot::RW,
        file_map(FileBacking::Store(Arc::clone(&file)), true, true),
        0,
    );
    mm.handle_fault(BASE, Access::Write, true).unwrap();
    mm.write(BASE + 5, b"xy").unwrap();
    let mut got = [0u8; 2];
    file.read(&mut got, 5);
    assert_eq!(
        &got, b"xy",
        "a store through the mapping is the file's data"
    );
    file.write(b"Q", P).unwrap();
    assert_eq!(
        read_byte(&mm, BASE + P),
        b'Q',
        "a file write is seen by the mapping"
    );
    let frame_in_file = {
        let f = file.frame(0).unwrap();
        fake.frames().put_data(f);
        f
    };
    assert_eq!(mm.frame_at(BASE), frame_in_file);
    assert!(mm.mapping(BASE).unwrap().flags.write);
}

#[test]
fn a_private_file_mapping_copies_on_the_first_write() {
    let (fake, mm) = setup();
    let file = store_file(&fake, b"hello");
    map_file_at(
        &mm,
        BASE,
        P,
        Prot::RW,
        file_map(FileBacking::Store(Arc::clone(&file)), false, false),
        0,
    );
    // A read maps the file's frame read-only.
    assert_eq!(read_byte(&mm, BASE), b'h');
    let m = mm.mapping(BASE).unwrap();
    assert!(!m.flags.write);
    assert_eq!(fake.frames().refcount(m.frame), 2, "file + mapping");
    // The guest's write copies; the file keeps its bytes.
    mm.handle_fault(BASE, Access::Write, true).unwrap();
    let m2 = mm.mapping(BASE).unwrap();
    assert!(m2.flags.write);
    assert_ne!(m2.frame, m.frame);
    mm.write(BASE, b"J").unwrap();
    let mut got = [0u8; 5];
    file.read(&mut got, 0);
    assert_eq!(&got, b"hello");
    assert_eq!(read_byte(&mm, BASE), b'J');
    // A sentry write into an untouched private page copies at once too.
    let (fake2, mm2) = setup();
    let file2 = store_file(&fake2, b"abc");
    map_file_at(
        &mm2,
        BASE,
        P,
        Prot::RW,
        file_map(FileBacking::Store(Arc::clone(&file2)), false, false),
        0,
    );
    mm2.write(BASE, b"Z").unwrap();
    let mut got = [0u8; 1];
    file2.read(&mut got, 0);
    assert_eq!(&got, b"a", "a write copy never reaches the file");
}

#[test]
fn a_page_wholly_past_the_end_of_the_file_is_a_bus_error() {
    let (_fake, mm) = setup();
    let src: Arc<dyn PageSource> = Arc::new(Bytes(vec![b'x'; 5000]));
    map_file_at(
        &mm,
        BASE,
        3 * P,
        Prot::RW,
        file_map(FileBacking::Source(src), false, false),
        0,
    );
    assert_eq!(read_byte(&mm, BASE + 4999), b'x');
    assert_eq!(
        read_byte(&mm, BASE + 5000),
        0,
        "the last page's tail is zeros"
    );
    assert_eq!(
        mm.handle_fault(BASE + 2 * P, Access::Read, true),
        Err(FaultError::Bus)
    );
    assert_eq!(
        mm.handle_fault(BASE + 2 * P, Access::Write, true),
        Err(FaultError::Bus)
    );
    let mut b = [0u8; 1];
    assert_eq!(
        mm.read(BASE + 2 * P, &mut b),
        Err(Errno::EFAULT),
        "a copy gets EFAULT"
    );
    // At an offset: page 0 of the VMA is file page 1.
    let src: Arc<dyn PageSource> = Arc::new(Bytes((0..2 * P).map(|i| (i / P) as u8 + 1).collect()));
    map_file_at(
        &mm,
        BASE + 8 * P,
        P,
        RO,
        file_map(FileBacking::Source(src), false, false),
        P,
    );
    assert_eq!(read_byte(&mm, BASE + 8 * P), 2);
}

#[test]
fn shrinking_a_file_takes_its_pages_from_every_mapping() {
    let (fake, mm) = setup();
    let file = store_file(&fake, &[1u8; 4 * P as usize]);
    map_file_at(
        &mm,
        BASE,
        4 * P,
        Prot::RW,
        file_map(FileBacking::Store(Arc::clone(&file)), true, true),
        0,
    );
    let child_mm = {
        for i in 0..4 {
            mm.handle_fault(BASE + i * P, Access::Read, true).unwrap();
        }
        mm.fork().unwrap()
    };
    assert!(
        child_mm.mapping(BASE + 3 * P).is_some(),
        "the child shares the pages"
    );
    let before = data_bytes(&fake);
    file.truncate(P + 10);
    for m in [&mm, &child_mm] {
        assert!(m.mapping(BASE + 2 * P).is_none());
        assert!(m.mapping(BASE + 3 * P).is_none());
        assert!(m.mapping(BASE).is_some(), "pages before the end stay");
        assert_eq!(
            m.handle_fault(BASE + 2 * P, Access::Read, true),
            Err(FaultError::Bus)
        );
    }
    assert_eq!(
        read_byte(&mm, BASE + P + 10),
        0,
        "the last page's tail is zeroed"
    );
    enter_once(&fake, &mm);
    enter_once(&fake, &child_mm);
    assert_eq!(data_bytes(&fake), before - 2 * P, "the two pages are freed");
}

#[test]
fn shared_mappings_of_a_read_only_file_stay_read_only() {
    let (_fake, mm) = setup();
    let src: Arc<dyn PageSource> = Arc::new(Bytes(vec![3; 100]));
    let fm = file_map(FileBacking::Source(src), true, false);
    let mut r = req(Placement::Fixed(BASE), P, Prot::RW);
    r.shared = true;
    assert_eq!(mm.map_file(&r, fm.clone(), 0), Err(Errno::EACCES));
    map_file_at(&mm, BASE, P, RO, fm, 0);
    assert_eq!(mm.protect(BASE, BASE + P, Prot::RW), Err(Errno::EACCES));
    assert_eq!(read_byte(&mm, BASE), 3);
    assert!(mm.maps().contains(" r--s 00000000 00:1f 42 "));
}

#[test]
fn maps_shows_the_file_offset_device_inode_and_path() {
    let (fake, mm) = setup();
    let file = store_file(&fake, &[0; 3 * P as usize]);
    map_file_at(
        &mm,
        BASE,
        2 * P,
        Prot::RW,
        file_map(FileBacking::Store(file), false, false),
        P,
    );
    // Splitting keeps the offsets in step.
    mm.protect(BASE + P, BASE + 2 * P, RO).unwrap();
    let maps = mm.maps();
    let lines: Vec<&str> = maps.lines().collect();
    assert_eq!(lines.len(), 2, "{maps}");
    assert!(
        lines[0].starts_with("10000000-10001000 rw-p 00001000 00:1f 42 "),
        "{maps}"
    );
    assert!(lines[0].ends_with(" /tmp/f"), "{maps}");
    assert!(
        lines[1].starts_with("10001000-10002000 r--p 00002000 00:1f 42 "),
        "{maps}"
    );
    assert_eq!(lines[0].find("/tmp/f"), Some(73));
}

#[test]
fn mincore_reports_present_pages_and_the_files_pages() {
    let (fake, mm) = setup();
    let file = Arc::new(SharedMemory::new_file(
        Arc::clone(&fake) as Arc<dyn Platform>
    ));
    file.truncate(4 * P);
    file.write(b"a", 2 * P).unwrap();
    map_file_at(
        &mm,
        BASE,
        4 * P,
        Prot::RW,
        file_map(FileBacking::Store(Arc::clone(&file)), true, true),
        0,
    );
    assert_eq!(mm.mincore(BASE, BASE + 4 * P), Ok(vec![0, 0, 1, 0]));
    // A fault maps page 0 (allocating it) but no hole around it.
    mm.handle_fault(BASE, Access::Read, true).unwrap();
    assert_eq!(mm.mincore(BASE, BASE + 4 * P), Ok(vec![1, 0, 1, 0]));
    assert_eq!(file.page_count(), 2, "fault-around allocated nothing");
    assert_eq!(mm.mincore(BASE, BASE + 5 * P), Err(Errno::ENOMEM));
    assert_eq!(mm.msync(BASE, BASE + 4 * P), Ok(()));
    assert_eq!(mm.msync(BASE, BASE + 5 * P), Err(Errno::ENOMEM));
    // MAP_POPULATE fills a file mapping page by page.
    mm.populate(BASE, 4 * P, &|| false);
    assert_eq!(mm.mincore(BASE, BASE + 4 * P), Ok(vec![1, 1, 1, 1]));
}

#[test]
fn a_writable_shared_mapping_is_seen_by_f_seal_write() {
    let (fake, mm) = setup();
    let file = store_file(&fake, b"x");
    map_file_at(
        &mm,
        BASE,
        P,
        RO,
        file_map(FileBacking::Store(Arc::clone(&file)), false, false),
        0,
    );
    assert!(!file.writably_mapped(), "private mappings do not count");
    map_file_at(
        &mm,
        BASE + P,
        P,
        RO,
        file_map(FileBacking::Store(Arc::clone(&file)), true, true),
        0,
    );
    assert!(
        file.writably_mapped(),
        "a shared one from a writable file does"
    );
    mm.unmap(BASE + P, BASE + 2 * P).unwrap();
    assert!(!file.writably_mapped());
}

#[test]
fn the_vdso_and_vvar_are_shared_read_only_and_a_write_to_the_vdso_stays_private() {
    let (fake, mm) = setup();
    let machine = Arc::clone(&fake) as Arc<dyn Platform>;
    let vvar = SpecialPages::new(&machine, &[7u8; 16]).unwrap();
    let vdso = SpecialPages::new(&machine, b"\x7fELF image").unwrap();
    let base = mm.map_vdso(&vvar, &vdso).unwrap();
    let vvar_at = base - P;
    // Below the mmap base, [vvar] right below [vdso], both present at once.
    assert!(base + P <= MMAP_BASE);
    let maps = mm.maps();
    assert!(maps.contains(&format!("{vvar_at:08x}-{base:08x} r--p 00000000 00:00 0")));
    assert!(maps.contains(&format!(
        "{base:08x}-{:08x} r-xp 00000000 00:00 0",
        base + P
    )));
    assert!(maps.contains("[vvar]") && maps.contains("[vdso]"));
    let vdso_frame = vdso.frame(0).unwrap();
    let pte = |mm: &AddressSpace, va| mm.inner.lock().pt.lookup(va).unwrap().unwrap();
    assert_eq!(pte(&mm, base).frame, vdso_frame);
    assert!(!pte(&mm, base).flags.write && pte(&mm, base).flags.exec);
    assert_eq!(pte(&mm, vvar_at).frame, vvar.frame(0).unwrap());
    assert!(!pte(&mm, vvar_at).flags.write && !pte(&mm, vvar_at).flags.exec);

    // [vvar] may not gain write or exec; PROT_NONE and back is fine.
    let rw = Prot::RW;
    let rx = Prot { exec: true, ..RO };
    assert_eq!(mm.protect(vvar_at, base, rw), Err(Errno::EACCES));
    assert_eq!(mm.protect(vvar_at, base, rx), Err(Errno::EACCES));
    assert_eq!(mm.write(vvar_at, b"x"), Err(Errno::EFAULT));
    mm.protect(vvar_at, base, NONE).unwrap();
    mm.protect(vvar_at, base, RO).unwrap();
    let mut byte = [0u8; 1];
    mm.read(vvar_at, &mut byte).unwrap();
    assert_eq!(byte, [7]);

    // A fork shares both frames.
    let child = mm.fork().unwrap();
    assert_eq!(pte(&child, base).frame, vdso_frame);
    assert_eq!(pte(&child, vvar_at).frame, vvar.frame(0).unwrap());

    // [vdso] may be made writable; a write then copies the page.
    mm.protect(base, base + P, Prot { exec: true, ..rw })
        .unwrap();
    mm.write(base + 1, b"X").unwrap();
    assert_ne!(pte(&mm, base).frame, vdso_frame);
    let mut b = [0u8; 4];
    mm.read(base, &mut b).unwrap();
    assert_eq!(&b, b"\x7fXLF");
    child.read(base, &mut b).unwrap();
    assert_eq!(&b, b"\x7fELF", "the child keeps the original");
    let mut shared = [0u8; 4];
    fake.memory().read(vdso_frame, &mut shared).unwrap();
    assert_eq!(&shared, b"\x7fELF", "the shared frame is untouched");
}

//! Guest memory management: address spaces made of VMAs over the
//! platform's page tables, demand paging with fault-around, copy-on-write
//! fork, and the copies between guest and sentry that every syscall uses.
//!
//! # Lock order
//!
//! `AddressSpace::inner` → `SharedMemory::pages` → the frame allocator's
//! internal locks. Nothing here takes a kernel or task lock.
//!
//! # Invariants
//!
//! * Every present page-table entry is inside a VMA that allows at least
//!   what the entry allows.
//! * A private page whose frame has a reference count above one is mapped
//!   read-only; the first write copies it (or takes it over when the count
//!   has dropped to one).
//! * A frame swap on a present entry made outside a guest write fault
//!   (the sentry writing into a copy-on-write page) goes through
//!   [`PageTables::set`], so it is committed before the guest runs again.

pub mod vma;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;
use platform::x86_64::paging::ForkAction;
use platform::{FrameKind, Kicker, Machine, PAGE_SIZE, PageTables, Pte, PteFlags};

use crate::errno::Errno;
pub use vma::{Prot, Vma, VmaMap};

/// Lowest address a mapping may use (Linux's default `mmap_min_addr`).
pub const MMAP_MIN_ADDR: u64 = 0x1_0000;
/// Exclusive end of user space.
pub const TASK_SIZE: u64 = 0x7fff_ffff_f000;
/// Top of the initial stack.
pub const STACK_TOP: u64 = 0x7fff_ffff_e000;
/// Maximum size of the main stack (RLIMIT_STACK default).
pub const STACK_LIMIT: u64 = 8 << 20;
/// Top of the area where mmap places mappings without a hint.
pub const MMAP_BASE: u64 = 0x7fff_f7ff_f000;
/// Free space a MAP_GROWSDOWN mapping keeps above the mapping below it
/// (Linux's default stack_guard_gap: 256 pages).
const STACK_GUARD_GAP: u64 = 256 * PAGE_SIZE;
/// Most VMAs an address space may have (Linux's default
/// `vm.max_map_count`); operations that would need more fail with ENOMEM.
pub const MAX_MAP_COUNT: usize = 65_530;
/// Fault-around blocks a MAP_POPULATE handles under one hold of the lock
/// before it checks for a fatal signal (16 MiB of pages).
const POPULATE_BATCH: usize = 256;
/// Pages mapped around a demand fault (one crossing costs ~83 µs here).
const FAULT_AROUND_PAGES: u64 = 16;
/// A fork copies private pages at once, instead of sharing them
/// copy-on-write, when the parent has at most this many present (a 4 KiB
/// copy costs about a microsecond; write-protecting the parent costs a
/// commit and a shadow re-fault, about 23 µs, for every page it touches
/// afterwards, and each copy-on-write fault about 83 µs).
const EAGER_FORK_PAGES: usize = 512;

/// Rounds up to a page.
pub fn page_up(x: u64) -> Option<u64> {
    x.checked_add(PAGE_SIZE - 1).map(|v| v & !(PAGE_SIZE - 1))
}

/// Rounds down to a page.
pub fn page_down(x: u64) -> u64 {
    x & !(PAGE_SIZE - 1)
}

/// A MAP_SHARED memory object: its pages, by page index, each holding a
/// frame reference.
#[derive(Default)]
pub struct SharedMemory {
    machine: Option<Arc<Machine>>,
    pages: Mutex<BTreeMap<u64, u64>>,
}

impl std::fmt::Debug for SharedMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SharedMemory({} pages)", self.pages.lock().len())
    }
}

impl SharedMemory {
    fn new(machine: Arc<Machine>) -> Self {
        Self {
            machine: Some(machine),
            pages: Mutex::default(),
        }
    }

    /// The frame for page `index`, allocated on first use. The returned
    /// frame carries a new reference for the caller.
    fn frame(&self, index: u64) -> Result<u64, FaultError> {
        let machine = self.machine.as_ref().ok_or(FaultError::Oom)?;
        let mut pages = self.pages.lock();
        let frame = match pages.get(&index) {
            Some(f) => *f,
            None => {
                let f = machine.alloc_data().map_err(|_| FaultError::Oom)?;
                pages.insert(index, f);
                f
            }
        };
        machine.frames().get(frame);
        Ok(frame)
    }
}

impl Drop for SharedMemory {
    fn drop(&mut self) {
        if let Some(m) = &self.machine {
            for f in self.pages.get_mut().values() {
                m.frames().put(*f, FrameKind::Data);
            }
        }
    }
}

/// Why a guest access cannot be satisfied.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultError {
    /// No mapping (SIGSEGV, SEGV_MAPERR).
    MapErr,
    /// The mapping forbids the access (SIGSEGV, SEGV_ACCERR).
    AccErr,
    /// No memory left under the cap (the OOM killer's case).
    Oom,
}

/// Kind of access.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// Load.
    Read,
    /// Store.
    Write,
    /// Instruction fetch.
    Exec,
}

struct Inner {
    pt: PageTables,
    /// Frames unmapped since the last commit: freed only once no vCPU can
    /// still reach them through an old root (after the shootdown).
    deferred_puts: Vec<u64>,
    vmas: VmaMap,
    /// Pages of PROT_NONE ranges: their frames, kept while unmapped.
    parked: BTreeMap<u64, u64>,
    brk_start: u64,
    brk: u64,
}

/// A task that may run on an address space: what a TLB shootdown kicks.
pub struct Runner {
    /// The task's thread id.
    pub tid: i32,
    kicker: Kicker,
    /// The root the task's vCPU is running on, 0 when not in the guest.
    root: AtomicU64,
}

impl Runner {
    /// A runner for the vCPU behind `kicker`.
    pub fn new(tid: i32, kicker: Kicker) -> Arc<Self> {
        Arc::new(Self {
            tid,
            kicker,
            root: AtomicU64::new(0),
        })
    }
}

/// A guest address space.
pub struct AddressSpace {
    machine: Arc<Machine>,
    inner: Mutex<Inner>,
    /// Tasks that run on this address space (threads, vfork children).
    runners: Mutex<Vec<Arc<Runner>>>,
    /// The program it was loaded from (/proc/self/exe), as Linux's
    /// mm->exe_file: the path the guest sees and the host file.
    exe: Mutex<(Vec<u8>, Option<std::path::PathBuf>)>,
    /// The arguments, NUL-terminated (/proc/self/cmdline).
    cmdline: Mutex<Vec<u8>>,
}

impl std::fmt::Debug for AddressSpace {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AddressSpace")
    }
}

// mmap flags.
const MAP_SHARED: u64 = 0x1;
const MAP_PRIVATE: u64 = 0x2;
const MAP_SHARED_VALIDATE: u64 = 0x3;
const MAP_TYPE: u64 = 0xf;
const MAP_FIXED: u64 = 0x10;
const MAP_ANONYMOUS: u64 = 0x20;
const MAP_GROWSDOWN: u64 = 0x100;
const MAP_NORESERVE: u64 = 0x4000;
const MAP_POPULATE: u64 = 0x8000;
const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;
const MAP_HUGETLB: u64 = 0x4_0000;
/// Flags MAP_SHARED_VALIDATE knows.
const MAP_KNOWN: u64 = 0x1ff_ffff & !MAP_TYPE;

impl AddressSpace {
    /// An empty address space.
    pub fn new(machine: Arc<Machine>) -> Result<Arc<Self>, Errno> {
        let pt = PageTables::new(Arc::clone(&machine)).map_err(|_| Errno::ENOMEM)?;
        Ok(Arc::new(Self {
            machine,
            runners: Mutex::new(Vec::new()),
            exe: Mutex::new((Vec::new(), None)),
            cmdline: Mutex::new(Vec::new()),
            inner: Mutex::new(Inner {
                deferred_puts: Vec::new(),
                pt,
                vmas: VmaMap::default(),
                parked: BTreeMap::new(),
                brk_start: 0,
                brk: 0,
            }),
        }))
    }

    /// Frames this address space holds (its resident set, for the OOM
    /// killer): present pages other than the zero frame, and parked ones.
    pub fn resident_pages(&self) -> usize {
        let mut inner = self.inner.lock();
        let zero = self.machine.zero_frame();
        let mut n = inner.parked.len();
        let _ = inner.pt.update_range(0, TASK_SIZE, |_, pte| {
            if pte.frame != zero {
                n += 1;
            }
            Some(pte)
        });
        n
    }

    /// Frames spent on this address space's page tables. They are not
    /// charged to `--memory` (the pool keeps headroom for them, so the host
    /// stays bounded), but the OOM killer counts them, as Linux's badness
    /// does: mapping the zero frame sparsely over a huge read-only range
    /// costs tables, not data.
    pub fn table_frames(&self) -> usize {
        self.inner.lock().pt.table_frames().unwrap_or(0)
    }

    /// The machine.
    pub fn machine(&self) -> &Arc<Machine> {
        &self.machine
    }

    /// /proc/self/cmdline: the arguments, each NUL-terminated.
    pub fn cmdline(&self) -> Vec<u8> {
        self.cmdline.lock().clone()
    }

    /// Records the arguments the program was started with.
    pub fn set_cmdline(&self, argv: &[Vec<u8>]) {
        let mut c = Vec::new();
        for a in argv {
            c.extend_from_slice(a);
            c.push(0);
        }
        *self.cmdline.lock() = c;
    }

    /// The path /proc/self/exe shows.
    pub fn exe(&self) -> Vec<u8> {
        self.exe.lock().0.clone()
    }

    /// /proc/self/maps: one line per VMA, as Linux formats them.
    pub fn maps(&self) -> String {
        let inner = self.inner.lock();
        let mut out = String::new();
        for (start, v) in inner.vmas.iter() {
            let line = format!(
                "{:08x}-{:08x} {}{}{}{} 00000000 00:00 0",
                start,
                v.end,
                if v.prot.read { 'r' } else { '-' },
                if v.prot.write { 'w' } else { '-' },
                if v.prot.exec { 'x' } else { '-' },
                if v.shared.is_some() { 's' } else { 'p' },
            );
            if v.name.is_empty() {
                out.push_str(&line);
            } else {
                out.push_str(&format!("{line:<73}{}", v.name));
            }
            out.push('\n');
        }
        out
    }

    /// The host file of the program (to exec /proc/self/exe again).
    pub fn exe_host(&self) -> Option<std::path::PathBuf> {
        self.exe.lock().1.clone()
    }

    /// Sets the program: the path /proc/self/exe shows and its host file.
    pub fn set_exe(&self, path: &[u8], host: Option<std::path::PathBuf>) {
        *self.exe.lock() = (path.to_vec(), host);
    }

    /// Registers a task that runs on this address space.
    pub fn attach(&self, runner: &Arc<Runner>) {
        self.runners.lock().push(Arc::clone(runner));
    }

    /// Unregisters a task.
    pub fn detach(&self, runner: &Arc<Runner>) {
        self.runners.lock().retain(|r| !Arc::ptr_eq(r, runner));
    }

    fn shared_by_runners(&self) -> bool {
        self.runners.lock().len() > 1
    }

    /// Called right before `runner` enters the guest: commits pending
    /// downgrades, makes every other vCPU leave the old root (a TLB
    /// shootdown: kick, then wait until it is out of the guest), frees what
    /// the downgrades released, and returns the root to run on.
    pub fn enter(&self, runner: &Arc<Runner>) -> Result<u64, platform::Error> {
        let mut inner = self.inner.lock();
        if let Some(retired) = inner.pt.commit_deferred()? {
            let old = retired.old_root();
            let others: Vec<Arc<Runner>> = self
                .runners
                .lock()
                .iter()
                .filter(|r| !Arc::ptr_eq(r, runner))
                .cloned()
                .collect();
            for r in &others {
                if r.root.load(Ordering::SeqCst) == old {
                    r.kicker.kick();
                }
            }
            for r in &others {
                while r.root.load(Ordering::SeqCst) == old {
                    std::thread::yield_now();
                }
            }
            retired.release();
        }
        let frames = self.machine.frames();
        for f in inner.deferred_puts.drain(..) {
            frames.put(f, FrameKind::Data);
        }
        let root = inner.pt.root();
        runner.root.store(root, Ordering::SeqCst);
        Ok(root)
    }

    /// Called when `runner` has left the guest.
    pub fn leave(&self, runner: &Runner) {
        runner.root.store(0, Ordering::SeqCst);
    }

    /// Maps `[start, end)` as an anonymous private VMA with `prot` and
    /// copies `data` to `data_addr` (for loading ELF segments).
    pub fn map_image_region(
        &self,
        start: u64,
        end: u64,
        prot: Prot,
        name: &'static str,
    ) -> Result<(), Errno> {
        let mut inner = self.inner.lock();
        if inner.vmas.overlaps(start, end) {
            return Err(Errno::EINVAL);
        }
        let mut vma = Vma::anon(end, prot);
        vma.name = name;
        inner.vmas.insert(start, vma);
        Ok(())
    }

    /// Copies bytes into the guest regardless of page protections (for the
    /// loader); pages are faulted in as needed.
    pub fn poke(&self, addr: u64, data: &[u8]) -> Result<(), Errno> {
        self.copy(addr, data.len(), true, true, |frame_off, range| {
            self.machine
                .memory()
                .write(frame_off, &data[range])
                .map_err(|_| Errno::EFAULT)
        })
    }

    /// Sets up the main stack VMA `[STACK_TOP - size, STACK_TOP)`,
    /// executable when the ELF asked for it (PT_GNU_STACK with PF_X).
    pub fn map_stack(&self, size: u64, exec: bool) -> Result<(), Errno> {
        let mut inner = self.inner.lock();
        let start = STACK_TOP - size;
        if inner.vmas.overlaps(start, STACK_TOP) {
            return Err(Errno::ENOMEM);
        }
        let mut vma = Vma::anon(STACK_TOP, Prot { exec, ..Prot::RW });
        vma.grows_down = true;
        vma.name = "[stack]";
        inner.vmas.insert(start, vma);
        Ok(())
    }

    /// Sets the initial program break (end of the loaded image).
    pub fn set_brk_start(&self, brk: u64) {
        let mut inner = self.inner.lock();
        inner.brk_start = brk;
        inner.brk = brk;
    }

    /// Resolves a fault at `addr`. `guest_fault` says the guest itself
    /// faulted there (so a copy-on-write break may swap the frame in place).
    pub fn handle_fault(
        &self,
        addr: u64,
        access: Access,
        guest_fault: bool,
    ) -> Result<(), FaultError> {
        let mut inner = self.inner.lock();
        self.fault_locked(&mut inner, addr, access, guest_fault)
    }

    fn fault_locked(
        &self,
        inner: &mut Inner,
        addr: u64,
        access: Access,
        guest_fault: bool,
    ) -> Result<(), FaultError> {
        if addr >= TASK_SIZE {
            return Err(FaultError::MapErr);
        }
        let page = page_down(addr);
        let (start, vma) = match inner.vmas.find(addr) {
            Some((s, v)) => (s, v.clone()),
            None => self.grow_stack(inner, addr)?,
        };
        let allowed = match access {
            Access::Read => vma.prot.read || vma.prot.write || vma.prot.exec,
            Access::Write => vma.prot.write,
            Access::Exec => vma.prot.exec,
        };
        if !allowed {
            return Err(FaultError::AccErr);
        }
        let frames = self.machine.frames();
        if let Some(pte) = inner.pt.lookup(page).map_err(|_| FaultError::MapErr)? {
            if access != Access::Write || pte.flags.write {
                return Ok(()); // Already resolved (or a spurious fault).
            }
            // Write to a read-only page of a writable VMA: copy-on-write.
            let frame = if vma.shared.is_some() || frames.refcount(pte.frame) == 1 {
                pte.frame
            } else {
                let copy = self.machine.alloc_data().map_err(|_| FaultError::Oom)?;
                self.machine
                    .memory()
                    .copy_frame(copy, pte.frame)
                    .map_err(|_| FaultError::Oom)?;
                inner.deferred_puts.push(pte.frame);
                copy
            };
            // In place only when no other vCPU can hold the old translation
            // (another thread would keep reading the old frame).
            let in_place = frame == pte.frame || (guest_fault && !self.shared_by_runners());
            let result = if in_place {
                inner.pt.break_cow(page, frame, vma.prot.exec)
            } else {
                inner
                    .pt
                    .set(page, Some(pte_for(frame, &vma, true)))
                    .map(|_| ())
            };
            return result.map_err(|_| FaultError::Oom);
        }
        // Not present: map this page and its neighbours in the VMA.
        let block = page_down(page) & !(FAULT_AROUND_PAGES * PAGE_SIZE - 1);
        let lo = block.max(start);
        let hi = (block + FAULT_AROUND_PAGES * PAGE_SIZE).min(vma.end);
        let mut va = lo;
        while va < hi {
            let must = va == page;
            match self.populate_page(inner, va, start, &vma, true) {
                Ok(()) => {}
                Err(e) if must => return Err(e),
                Err(_) => break,
            }
            va += PAGE_SIZE;
        }
        Ok(())
    }

    /// Maps one not-yet-present page of `vma` (which starts at `start`).
    /// With `zero_ok`, a private page that cannot be written gets the
    /// shared zero frame, read-only, as Linux maps its zero page: reading
    /// (or populating) read-only memory costs no frame.
    fn populate_page(
        &self,
        inner: &mut Inner,
        va: u64,
        start: u64,
        vma: &Vma,
        zero_ok: bool,
    ) -> Result<(), FaultError> {
        if inner
            .pt
            .lookup(va)
            .map_err(|_| FaultError::MapErr)?
            .is_some()
        {
            return Ok(());
        }
        let frames = self.machine.frames();
        let (frame, writable) = if let Some(frame) = inner.parked.remove(&va) {
            (frame, vma.shared.is_some() || frames.refcount(frame) == 1)
        } else if let Some((obj, off)) = &vma.shared {
            (obj.frame((off + (va - start)) / PAGE_SIZE)?, true)
        } else if zero_ok && !vma.prot.write {
            let zero = self.machine.zero_frame();
            frames.get(zero);
            (zero, false)
        } else {
            (
                self.machine.alloc_data().map_err(|_| FaultError::Oom)?,
                true,
            )
        };
        let pte = pte_for(frame, vma, writable);
        inner.pt.set(va, Some(pte)).map_err(|_| FaultError::Oom)?;
        Ok(())
    }

    /// Grows the stack VMA down to cover `addr`, as Linux does for a
    /// MAP_GROWSDOWN mapping.
    fn grow_stack(&self, inner: &mut Inner, addr: u64) -> Result<(u64, Vma), FaultError> {
        let (start, vma) = inner
            .vmas
            .next_after(addr)
            .map(|(s, v)| (s, v.clone()))
            .ok_or(FaultError::MapErr)?;
        if !vma.grows_down || vma.end - page_down(addr) > STACK_LIMIT {
            return Err(FaultError::MapErr);
        }
        let new_start = page_down(addr);
        // Linux's expand_downwards: never below mmap_min_addr, and never
        // within stack_guard_gap of an accessible mapping below.
        if new_start < MMAP_MIN_ADDR || inner.vmas.overlaps(new_start, start) {
            return Err(FaultError::MapErr);
        }
        if let Some((_, prev)) = inner.vmas.prev_before(new_start)
            && !prev.grows_down
            && (prev.prot.read || prev.prot.write || prev.prot.exec)
            && new_start - prev.end < STACK_GUARD_GAP
        {
            return Err(FaultError::MapErr);
        }
        let mut grown = vma.clone();
        grown.end = start;
        inner.vmas.insert(new_start, grown);
        let (s, v) = inner.vmas.find(addr).ok_or(FaultError::MapErr)?;
        Ok((s, v.clone()))
    }

    /// Walks `[addr, addr+len)` page by page, faulting pages in as needed,
    /// and calls `f(gpa, byte range)` for each piece.
    fn copy(
        &self,
        addr: u64,
        len: usize,
        write: bool,
        force: bool,
        mut f: impl FnMut(u64, std::ops::Range<usize>) -> Result<(), Errno>,
    ) -> Result<(), Errno> {
        if len == 0 {
            return Ok(());
        }
        let end = addr.checked_add(len as u64).ok_or(Errno::EFAULT)?;
        if end > TASK_SIZE {
            return Err(Errno::EFAULT);
        }
        let mut inner = self.inner.lock();
        let mut at = addr;
        while at < end {
            let page = page_down(at);
            let pte = match inner.pt.lookup(page).map_err(|_| Errno::EFAULT)? {
                Some(p)
                    if p.flags.write
                        || !write
                        || (force && p.frame != self.machine.zero_frame()) =>
                {
                    p
                }
                _ => {
                    let access = if write { Access::Write } else { Access::Read };
                    let r = if force {
                        self.force_page(&mut inner, page)
                    } else {
                        self.fault_locked(&mut inner, at, access, false)
                    };
                    r.map_err(|_| Errno::EFAULT)?;
                    match inner.pt.lookup(page).map_err(|_| Errno::EFAULT)? {
                        Some(p) => p,
                        None => return Err(Errno::EFAULT),
                    }
                }
            };
            let chunk_end = (page + PAGE_SIZE).min(end);
            let range = (at - addr) as usize..(chunk_end - addr) as usize;
            f(pte.frame + (at - page), range)?;
            at = chunk_end;
        }
        Ok(())
    }

    /// For the loader: makes `page` present whatever the VMA's protections
    /// (nothing is shared yet at load time, so writing its frame is safe).
    fn force_page(&self, inner: &mut Inner, page: u64) -> Result<(), FaultError> {
        let (start, vma) = inner
            .vmas
            .find(page)
            .map(|(s, v)| (s, v.clone()))
            .ok_or(FaultError::MapErr)?;
        let zero = self.machine.zero_frame();
        if let Some(pte) = inner.pt.lookup(page).map_err(|_| FaultError::MapErr)?
            && pte.frame == zero
        {
            // Never write the zero frame: give the page its own.
            let frame = self.machine.alloc_data().map_err(|_| FaultError::Oom)?;
            inner
                .pt
                .set(page, Some(Pte { frame, ..pte }))
                .map_err(|_| FaultError::Oom)?;
            inner.deferred_puts.push(zero);
            return Ok(());
        }
        self.populate_page(inner, page, start, &vma, false)
    }

    /// Copies guest memory at `addr` into `buf` (EFAULT on a bad pointer).
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let mem = self.machine.memory();
        self.copy(addr, buf.len(), false, false, |gpa, range| {
            mem.read(gpa, &mut buf[range]).map_err(|_| Errno::EFAULT)
        })
    }

    /// Copies as much of `[addr, addr+buf.len())` as is readable, up to the
    /// first fault, and returns how many bytes that was.
    pub fn read_prefix(&self, addr: u64, buf: &mut [u8]) -> usize {
        let mut done = 0;
        while done < buf.len() {
            let at = addr + done as u64;
            let n = ((PAGE_SIZE - at % PAGE_SIZE) as usize).min(buf.len() - done);
            if self.read(at, &mut buf[done..done + n]).is_err() {
                break;
            }
            done += n;
        }
        done
    }

    /// Copies as much of `data` to `addr` as the guest memory takes, page
    /// by page, and returns how many bytes were written (stops at the first
    /// bad page, like Linux's copy_to_user).
    pub fn write_prefix(&self, addr: u64, data: &[u8]) -> usize {
        let mut done = 0;
        while done < data.len() {
            let at = addr.wrapping_add(done as u64);
            let n = ((PAGE_SIZE - at % PAGE_SIZE) as usize).min(data.len() - done);
            if self.write(at, &data[done..done + n]).is_err() {
                break;
            }
            done += n;
        }
        done
    }

    /// How many bytes from `addr` (at most `len`) lie in writable mappings
    /// (or in the gap a growing stack would fill), without faulting
    /// anything in. A read asks its file for no more than this, so that
    /// data the guest buffer cannot take stays unread, as on Linux where
    /// the copy stops at the first bad page.
    pub fn writable_prefix(&self, addr: u64, len: u64) -> u64 {
        let end = addr.saturating_add(len).min(TASK_SIZE);
        let inner = self.inner.lock();
        let mut at = addr;
        while at < end {
            match inner.vmas.find(at) {
                Some((_, v)) if v.prot.write => at = v.end,
                Some(_) => break,
                None => match inner.vmas.next_after(at) {
                    Some((s, v))
                        if v.grows_down && v.prot.write && v.end - page_down(at) <= STACK_LIMIT =>
                    {
                        at = s
                    }
                    _ => break,
                },
            }
        }
        at.min(end).saturating_sub(addr)
    }

    /// Copies `data` to guest memory at `addr` (EFAULT on a bad pointer).
    pub fn write(&self, addr: u64, data: &[u8]) -> Result<(), Errno> {
        let mem = self.machine.memory();
        self.copy(addr, data.len(), true, false, |gpa, range| {
            mem.write(gpa, &data[range]).map_err(|_| Errno::EFAULT)
        })
    }

    /// Reads a NUL-terminated string of at most `max` bytes (without NUL).
    pub fn read_cstring(&self, addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        let mut at = addr;
        loop {
            let chunk = (PAGE_SIZE - (at % PAGE_SIZE)) as usize;
            let mut buf = vec![0u8; chunk];
            self.read(at, &mut buf)?;
            if let Some(n) = buf.iter().position(|b| *b == 0) {
                out.extend_from_slice(&buf[..n]);
                // The NUL may be in a later page than `max`: the limit
                // holds for the whole string, not only the pages before.
                if out.len() > max {
                    return Err(Errno::ENAMETOOLONG);
                }
                return Ok(out);
            }
            out.extend_from_slice(&buf);
            if out.len() > max {
                return Err(Errno::ENAMETOOLONG);
            }
            at += chunk as u64;
        }
    }

    /// Reads a little-endian u64.
    pub fn read_u64(&self, addr: u64) -> Result<u64, Errno> {
        let mut b = [0u8; 8];
        self.read(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Writes a little-endian u64.
    pub fn write_u64(&self, addr: u64, v: u64) -> Result<(), Errno> {
        self.write(addr, &v.to_le_bytes())
    }

    /// Atomic compare-and-exchange on a guest u32 (futexes): returns the
    /// value found; stored `new` if it equalled `old`.
    pub fn cmpxchg_u32(&self, addr: u64, old: u32, new: u32) -> Result<u32, Errno> {
        if !addr.is_multiple_of(4) {
            return Err(Errno::EINVAL);
        }
        let mut found = 0;
        let mem = self.machine.memory();
        self.copy(addr, 4, true, false, |gpa, _| {
            found = mem.cmpxchg_u32(gpa, old, new).map_err(|_| Errno::EFAULT)?;
            Ok(())
        })?;
        Ok(found)
    }

    /// The futex key of a shared mapping's word: its memory object and
    /// offset, so processes mapping it at different addresses meet.
    pub fn shared_key(&self, addr: u64) -> Option<(usize, u64)> {
        let inner = self.inner.lock();
        let (start, vma) = inner.vmas.find(addr)?;
        let (obj, off) = vma.shared.as_ref()?;
        Some((Arc::as_ptr(obj) as usize, off + (addr - start)))
    }

    /// Reads a little-endian u32.
    pub fn read_u32(&self, addr: u64) -> Result<u32, Errno> {
        let mut b = [0u8; 4];
        self.read(addr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Writes a little-endian u32.
    pub fn write_u32(&self, addr: u64, v: u32) -> Result<(), Errno> {
        self.write(addr, &v.to_le_bytes())
    }

    /// Bytes of guest memory still free under the cap.
    fn memory_left(&self) -> u64 {
        let f = self.machine.frames();
        f.data_limit_bytes().saturating_sub(f.data_bytes_in_use())
    }

    /// mmap(2) for anonymous memory.
    pub fn mmap(&self, addr: u64, len: u64, prot: u64, flags: u64, fd: i64) -> Result<u64, Errno> {
        let map_type = flags & MAP_TYPE;
        if !matches!(map_type, MAP_SHARED | MAP_PRIVATE | MAP_SHARED_VALIDATE) {
            return Err(Errno::EINVAL);
        }
        if map_type == MAP_SHARED_VALIDATE && flags & !MAP_KNOWN & !MAP_TYPE != 0 {
            return Err(Errno::EOPNOTSUPP);
        }
        if prot & !0x7 & !0x0300_0000 != 0 {
            return Err(Errno::EINVAL);
        }
        if len == 0 {
            return Err(Errno::EINVAL);
        }
        if flags & MAP_ANONYMOUS == 0 {
            // Only anonymous memory exists so far; files cannot be mapped.
            return Err(if fd < 0 { Errno::EBADF } else { Errno::ENODEV });
        }
        if flags & MAP_HUGETLB != 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len).ok_or(Errno::ENOMEM)?;
        if len > TASK_SIZE - MMAP_MIN_ADDR {
            return Err(Errno::ENOMEM);
        }
        let prot = Prot::from_bits(prot);
        let shared = map_type != MAP_PRIVATE;
        if (shared || prot.write) && flags & MAP_NORESERVE == 0 && len > self.memory_left() {
            return Err(Errno::ENOMEM);
        }
        let fixed = flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) != 0;
        let mut inner = self.inner.lock();
        // Linux's do_mmap: `map_count > sysctl_max_map_count`.
        if inner.vmas.len() > MAX_MAP_COUNT {
            return Err(Errno::ENOMEM);
        }
        let start = if fixed {
            if !addr.is_multiple_of(PAGE_SIZE) {
                return Err(Errno::EINVAL);
            }
            let end = addr.checked_add(len).ok_or(Errno::ENOMEM)?;
            if end > TASK_SIZE {
                return Err(Errno::ENOMEM);
            }
            if addr < MMAP_MIN_ADDR {
                return Err(Errno::EPERM);
            }
            if flags & MAP_FIXED_NOREPLACE != 0 && flags & MAP_FIXED == 0 {
                if inner.vmas.overlaps(addr, end) {
                    return Err(Errno::EEXIST);
                }
            } else {
                Self::check_hole_room(&inner, addr, end)?;
                self.unmap_locked(&mut inner, addr, end);
            }
            addr
        } else {
            let hint = page_down(addr);
            if hint >= MMAP_MIN_ADDR
                && hint.checked_add(len).is_some_and(|e| e <= TASK_SIZE)
                && !inner.vmas.overlaps(hint, hint + len)
            {
                hint
            } else {
                inner
                    .vmas
                    .find_gap(len, MMAP_MIN_ADDR, MMAP_BASE)
                    .ok_or(Errno::ENOMEM)?
            }
        };
        let mut vma = Vma::anon(start + len, prot);
        if shared {
            vma.shared = Some((Arc::new(SharedMemory::new(Arc::clone(&self.machine))), 0));
        }
        vma.grows_down = flags & MAP_GROWSDOWN != 0;
        inner.vmas.insert(start, vma);
        Ok(start)
    }

    /// MAP_POPULATE after a successful mmap of `[start, start+len)` with
    /// `flags`: faults the pages in, as Linux's mm_populate does, best
    /// effort (errors are ignored, as Linux ignores them). Memory that
    /// cannot be written is left alone: Linux would map its zero page
    /// there, which reads exactly like a page not present yet, so walking
    /// it (possibly terabytes) would buy nothing. The walk stops at the
    /// first failure (the memory cap) and whenever `interrupted` says a
    /// fatal signal arrived, checked every [`POPULATE_BATCH`] blocks with
    /// the lock released.
    pub fn populate(&self, start: u64, len: u64, flags: u64, interrupted: &dyn Fn() -> bool) {
        if flags & MAP_POPULATE == 0 {
            return;
        }
        let end = start.saturating_add(len).min(TASK_SIZE);
        let mut va = start;
        while va < end {
            if interrupted() {
                return;
            }
            let mut inner = self.inner.lock();
            for _ in 0..POPULATE_BATCH {
                if va >= end {
                    return;
                }
                let Some((_, vma)) = inner.vmas.find(va) else {
                    return;
                };
                if !vma.prot.write {
                    return;
                }
                if self
                    .fault_locked(&mut inner, va, Access::Write, false)
                    .is_err()
                {
                    return;
                }
                va = (page_down(va) & !(FAULT_AROUND_PAGES * PAGE_SIZE - 1))
                    + FAULT_AROUND_PAGES * PAGE_SIZE;
            }
        }
    }

    /// Splits the VMAs at `start` and `end` before changing what lies
    /// between, one split at a time as Linux's vma_modify does: each split
    /// fails with ENOMEM at `vm.max_map_count`, and a first split made
    /// before the second fails stays (as on Linux).
    fn split_for_update(inner: &mut Inner, start: u64, end: u64) -> Result<(), Errno> {
        for at in [start, end] {
            if inner.vmas.splits_at(at) {
                if inner.vmas.len() >= MAX_MAP_COUNT {
                    return Err(Errno::ENOMEM);
                }
                inner.vmas.split_at(at);
            }
        }
        Ok(())
    }

    /// Linux refuses to punch a hole in the middle of one VMA (a split that
    /// adds one) when the address space is at `vm.max_map_count`.
    fn check_hole_room(inner: &Inner, start: u64, end: u64) -> Result<(), Errno> {
        if let Some((s, v)) = inner.vmas.find(start)
            && s < start
            && end < v.end
            && inner.vmas.len() >= MAX_MAP_COUNT
        {
            return Err(Errno::ENOMEM);
        }
        Ok(())
    }

    /// Removes mappings and drops their pages.
    fn unmap_locked(&self, inner: &mut Inner, start: u64, end: u64) {
        let removed = inner.vmas.remove(start, end);
        if removed.is_empty() {
            return;
        }
        self.drop_pages(inner, start, end);
    }

    /// Clears the translations of `[start, end)` and drops their frames.
    fn drop_pages(&self, inner: &mut Inner, start: u64, end: u64) {
        let frames = self.machine.frames();
        let mut dropped = Vec::new();
        let _ = inner.pt.update_range(start, end, |_, pte| {
            dropped.push(pte.frame);
            None
        });
        inner.deferred_puts.extend(dropped);
        let parked: Vec<u64> = inner.parked.range(start..end).map(|(k, _)| *k).collect();
        for va in parked {
            if let Some(f) = inner.parked.remove(&va) {
                frames.put(f, FrameKind::Data);
            }
        }
    }

    /// munmap(2).
    pub fn munmap(&self, addr: u64, len: u64) -> Result<(), Errno> {
        if !addr.is_multiple_of(PAGE_SIZE) || len == 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len).ok_or(Errno::EINVAL)?;
        let end = addr.checked_add(len).ok_or(Errno::EINVAL)?;
        if end > TASK_SIZE {
            return Err(Errno::EINVAL);
        }
        let mut inner = self.inner.lock();
        Self::check_hole_room(&inner, addr, end)?;
        self.unmap_locked(&mut inner, addr, end);
        Ok(())
    }

    /// mprotect(2).
    pub fn mprotect(&self, addr: u64, len: u64, prot: u64) -> Result<(), Errno> {
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        // PROT_GROWSDOWN/PROT_GROWSUP are accepted and ignored.
        if prot & !0x7 & !0x0300_0000 != 0 {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len).ok_or(Errno::ENOMEM)?;
        let end = addr.checked_add(len).ok_or(Errno::ENOMEM)?;
        if len == 0 {
            return Ok(());
        }
        let prot = Prot::from_bits(prot);
        let mut inner = self.inner.lock();
        if !inner.vmas.fully_mapped(addr, end) {
            return Err(Errno::ENOMEM);
        }
        Self::split_for_update(&mut inner, addr, end)?;
        inner.vmas.update(addr, end, |v| v.prot = prot);
        let none = !prot.read && !prot.write && !prot.exec;
        let mut parked = Vec::new();
        inner
            .pt
            .update_range(addr, end, |va, pte| {
                if none {
                    parked.push((va, pte.frame));
                    return None;
                }
                Some(Pte {
                    frame: pte.frame,
                    flags: PteFlags {
                        // Write access comes back through a fault (which checks
                        // for sharing); exec is granted at once.
                        write: pte.flags.write && prot.write,
                        exec: prot.exec,
                    },
                })
            })
            .map_err(|_| Errno::ENOMEM)?;
        inner.parked.extend(parked);
        Ok(())
    }

    /// madvise(2).
    pub fn madvise(&self, addr: u64, len: u64, advice: u64) -> Result<(), Errno> {
        const DONTNEED: u64 = 4;
        const FREE: u64 = 8;
        const REMOVE: u64 = 9;
        const DONTFORK: u64 = 10;
        const DOFORK: u64 = 11;
        const WIPEONFORK: u64 = 18;
        const KEEPONFORK: u64 = 19;
        if !addr.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        let known = matches!(advice, 0..=4 | 8..=19 | 20..=23 | 25);
        if !known {
            return Err(Errno::EINVAL);
        }
        let len = page_up(len).ok_or(Errno::EINVAL)?;
        let end = addr.checked_add(len).ok_or(Errno::EINVAL)?;
        if len == 0 {
            return Ok(());
        }
        let mut inner = self.inner.lock();
        if !inner.vmas.fully_mapped(addr, end) {
            return Err(Errno::ENOMEM);
        }
        if matches!(advice, DONTFORK | DOFORK | WIPEONFORK | KEEPONFORK) {
            Self::split_for_update(&mut inner, addr, end)?;
        }
        match advice {
            DONTNEED | FREE | REMOVE => {
                let shared = inner
                    .vmas
                    .find(addr)
                    .is_some_and(|(_, v)| v.shared.is_some());
                if shared && advice != REMOVE {
                    // Shared pages stay in their object; just unmap them.
                    let mut dropped = Vec::new();
                    let _ = inner.pt.update_range(addr, end, |_, pte| {
                        dropped.push(pte.frame);
                        None
                    });
                    inner.deferred_puts.extend(dropped);
                } else {
                    self.drop_pages(&mut inner, addr, end);
                }
            }
            DONTFORK => inner.vmas.update(addr, end, |v| v.dont_fork = true),
            DOFORK => inner.vmas.update(addr, end, |v| v.dont_fork = false),
            WIPEONFORK => {
                let shared = inner
                    .vmas
                    .iter()
                    .any(|(s, v)| s < end && v.end > addr && v.shared.is_some());
                if shared {
                    return Err(Errno::EINVAL);
                }
                inner.vmas.update(addr, end, |v| v.wipe_on_fork = true)
            }
            KEEPONFORK => inner.vmas.update(addr, end, |v| v.wipe_on_fork = false),
            _ => {}
        }
        Ok(())
    }

    /// brk(2): returns the new (or unchanged) break.
    pub fn brk(&self, new: u64) -> u64 {
        let mut inner = self.inner.lock();
        let old = inner.brk;
        if new < inner.brk_start || new >= TASK_SIZE {
            return old;
        }
        let Some(old_end) = page_up(old) else {
            return old;
        };
        let Some(new_end) = page_up(new) else {
            return old;
        };
        if new_end > old_end {
            if old_end < MMAP_MIN_ADDR
                || inner.vmas.len() > MAX_MAP_COUNT
                || inner.vmas.overlaps(old_end, new_end)
                || new_end - old_end > self.memory_left()
            {
                return old;
            }
            let mut vma = Vma::anon(new_end, Prot::RW);
            vma.name = "[heap]";
            inner.vmas.insert(old_end, vma);
        } else if new_end < old_end {
            if Self::check_hole_room(&inner, new_end, old_end).is_err() {
                return old;
            }
            self.unmap_locked(&mut inner, new_end, old_end);
        }
        inner.brk = new;
        new
    }

    /// mremap(2).
    pub fn mremap(
        &self,
        old: u64,
        old_len: u64,
        new_len: u64,
        flags: u64,
        new_addr: u64,
    ) -> Result<u64, Errno> {
        const MAYMOVE: u64 = 1;
        const FIXED: u64 = 2;
        const DONTUNMAP: u64 = 4;
        if flags & !(MAYMOVE | FIXED | DONTUNMAP) != 0 || !old.is_multiple_of(PAGE_SIZE) {
            return Err(Errno::EINVAL);
        }
        if flags & FIXED != 0 && flags & MAYMOVE == 0 {
            return Err(Errno::EINVAL);
        }
        let dont_unmap = flags & DONTUNMAP != 0;
        if dont_unmap && (flags & MAYMOVE == 0 || old_len != new_len) {
            return Err(Errno::EINVAL);
        }
        let old_len = page_up(old_len).ok_or(Errno::EINVAL)?;
        let new_len = page_up(new_len).ok_or(Errno::EINVAL)?;
        if new_len == 0 {
            return Err(Errno::EINVAL);
        }
        let mut inner = self.inner.lock();
        let (vstart, vma) = inner
            .vmas
            .find(old)
            .map(|(s, v)| (s, v.clone()))
            .ok_or(Errno::EFAULT)?;
        let old_end = old.checked_add(old_len).ok_or(Errno::EINVAL)?;
        if old_end > vma.end {
            return Err(Errno::EFAULT);
        }
        if flags & FIXED != 0 {
            if !new_addr.is_multiple_of(PAGE_SIZE) {
                return Err(Errno::EINVAL);
            }
            let dst_end = new_addr.checked_add(new_len).ok_or(Errno::EINVAL)?;
            if dst_end > TASK_SIZE || (new_addr < old_end && old < dst_end) {
                return Err(Errno::EINVAL);
            }
            // get_unmapped_area's security_mmap_addr: as for mmap(MAP_FIXED).
            if new_addr < MMAP_MIN_ADDR {
                return Err(Errno::EPERM);
            }
            Self::check_move_room(&inner)?;
            self.unmap_locked(&mut inner, new_addr, dst_end);
            return self.move_locked(
                &mut inner, old, old_len, new_len, new_addr, vstart, &vma, dont_unmap,
            );
        }
        if dont_unmap {
            Self::check_move_room(&inner)?;
            let dst = inner
                .vmas
                .find_gap(new_len, MMAP_MIN_ADDR, MMAP_BASE)
                .ok_or(Errno::ENOMEM)?;
            return self.move_locked(&mut inner, old, old_len, new_len, dst, vstart, &vma, true);
        }
        if new_len <= old_len {
            Self::check_hole_room(&inner, old + new_len, old_end)?;
            self.unmap_locked(&mut inner, old + new_len, old_end);
            return Ok(old);
        }
        let grow_end = old.checked_add(new_len).ok_or(Errno::ENOMEM)?;
        if old_end == vma.end && grow_end <= TASK_SIZE && !inner.vmas.overlaps(old_end, grow_end) {
            let mut ext = vma.clone();
            ext.end = grow_end;
            if let Some((obj, off)) = &vma.shared {
                ext.shared = Some((Arc::clone(obj), off + (old_end - vstart)));
            }
            inner.vmas.insert(old_end, ext);
            return Ok(old);
        }
        if flags & MAYMOVE == 0 {
            return Err(Errno::ENOMEM);
        }
        Self::check_move_room(&inner)?;
        let dst = inner
            .vmas
            .find_gap(new_len, MMAP_MIN_ADDR, MMAP_BASE)
            .ok_or(Errno::ENOMEM)?;
        self.move_locked(&mut inner, old, old_len, new_len, dst, vstart, &vma, false)
    }

    /// Linux's move_vma: `map_count >= sysctl_max_map_count - 3` is ENOMEM.
    fn check_move_room(inner: &Inner) -> Result<(), Errno> {
        if inner.vmas.len() >= MAX_MAP_COUNT - 3 {
            return Err(Errno::ENOMEM);
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn move_locked(
        &self,
        inner: &mut Inner,
        old: u64,
        old_len: u64,
        new_len: u64,
        dst: u64,
        vstart: u64,
        vma: &Vma,
        dont_unmap: bool,
    ) -> Result<u64, Errno> {
        let keep = old_len.min(new_len);
        let mut moved = Vec::new();
        inner
            .pt
            .update_range(old, old + keep, |va, pte| {
                moved.push((va - old, pte));
                None
            })
            .map_err(|_| Errno::ENOMEM)?;
        let parked: Vec<(u64, u64)> = inner
            .parked
            .range(old..old + keep)
            .map(|(k, v)| (*k, *v))
            .collect();
        for (va, _) in &parked {
            inner.parked.remove(va);
        }
        // The moved pages were cleared above, so removing the old range only
        // drops what lies beyond `keep`. MREMAP_DONTUNMAP keeps the old
        // range mapped, empty (old_len == new_len, so nothing lies beyond).
        if !dont_unmap {
            self.unmap_locked(inner, old, old + old_len);
        }
        let mut nv = vma.clone();
        nv.end = dst + new_len;
        if let Some((obj, off)) = &vma.shared {
            nv.shared = Some((Arc::clone(obj), off + (old - vstart)));
        }
        inner.vmas.insert(dst, nv);
        for (off, pte) in moved {
            inner
                .pt
                .set(dst + off, Some(pte))
                .map_err(|_| Errno::ENOMEM)?;
        }
        for (va, f) in parked {
            inner.parked.insert(dst + (va - old), f);
        }
        Ok(dst)
    }

    /// A copy-on-write copy for fork: private pages become read-only in both,
    /// shared ones stay shared, MADV_DONTFORK ranges are left out and
    /// MADV_WIPEONFORK ranges start empty in the child.
    pub fn fork(&self) -> Result<Arc<AddressSpace>, Errno> {
        let child = AddressSpace::new(Arc::clone(&self.machine))?;
        let mut inner = self.inner.lock();
        let mut cinner = child.inner.lock();
        let frames = self.machine.frames();
        let vmas: Vec<(u64, Vma)> = inner.vmas.iter().map(|(s, v)| (s, v.clone())).collect();
        let mut private_pages = 0;
        for (start, vma) in &vmas {
            if vma.shared.is_none() && vma.prot.write && !vma.dont_fork && !vma.wipe_on_fork {
                private_pages += inner
                    .pt
                    .count_present(*start, vma.end)
                    .map_err(|_| Errno::ENOMEM)?;
            }
        }
        let eager = private_pages <= EAGER_FORK_PAGES;
        for (start, vma) in vmas {
            if vma.dont_fork {
                continue;
            }
            cinner.vmas.insert(start, vma.clone());
            if vma.wipe_on_fork {
                continue;
            }
            let action = if vma.shared.is_some() {
                ForkAction::Share
            } else if eager && vma.prot.write {
                ForkAction::Copy
            } else {
                ForkAction::Cow
            };
            let Inner { pt, parked, .. } = &mut *inner;
            pt.fork_range(&mut cinner.pt, start, vma.end, |_| action)
                .map_err(|_| Errno::ENOMEM)?;
            for (va, f) in parked.range(start..vma.end) {
                frames.get(*f);
                cinner.parked.insert(*va, *f);
            }
        }
        cinner.brk_start = inner.brk_start;
        cinner.brk = inner.brk;
        drop(cinner);
        {
            let (path, host) = self.exe.lock().clone();
            child.set_exe(&path, host);
            *child.cmdline.lock() = self.cmdline();
        }
        Ok(child)
    }
}

fn pte_for(frame: u64, vma: &Vma, writable: bool) -> Pte {
    Pte {
        frame,
        flags: PteFlags {
            write: vma.prot.write && writable,
            exec: vma.prot.exec,
        },
    }
}

impl Drop for AddressSpace {
    fn drop(&mut self) {
        let inner = self.inner.get_mut();
        let frames = self.machine.frames();
        for f in inner.deferred_puts.drain(..) {
            frames.put(f, FrameKind::Data);
        }
        let _ = inner.pt.update_range(0, TASK_SIZE, |_, pte| {
            frames.put(pte.frame, FrameKind::Data);
            Some(pte)
        });
        for f in inner.parked.values() {
            frames.put(*f, FrameKind::Data);
        }
    }
}

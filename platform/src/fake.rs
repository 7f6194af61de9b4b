//! A platform without a hypervisor, for unit tests of the sentry's memory
//! and kernel logic on hosts (and in test runs) without `/dev/kvm`.
//!
//! Frames live in the same kind of memory pool as on KVM (a sparse memfd
//! mapped into the process, with the same [`FrameAllocator`]), so
//! reference counts, the memory cap and the data the sentry copies in and
//! out behave exactly as they do on the real platform. An address space is
//! a map from page address to [`Mapping`]; a commit only gives it a new
//! root when a downgrade was made, as the KVM platform does, and counts
//! commits so tests can check the sentry asked for one.
//!
//! No guest code runs: [`Context::run`] returns a kick as
//! [`Trap::Interrupted`], else the next trap a test scripted with
//! [`Fake::script`], else what the test's [`Program`] says (both may edit
//! the registers first, as the guest would), and otherwise
//! [`Error::Unsupported`].

use std::any::Any;
use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::interface::{
    AddressSpace, Context, ForkAction, FpuState, Frame, Kick, Kicker, Mapping, Platform,
    PlatformConfig, Retired, Trap,
};
use crate::memory::{FrameAllocator, FrameKind, GuestMemory, PAGE_SIZE};
use crate::x86_64::layout::USER_VA_END;
use crate::{Error, Result, UserContext};

/// One scripted step of a fake context: edits the registers as the guest
/// would have, and says how it trapped.
pub type Step = Box<dyn FnOnce(&mut UserContext) -> Result<Trap> + Send>;

/// A guest program for every context of a fake platform: called on each
/// run with the registers (typically dispatching on `rip` as a program
/// counter), it moves them on as the guest would and says how it trapped.
/// Forked children and threads run the same program from the registers
/// they were given, as real ones run the same code.
pub type Program = Arc<dyn Fn(&mut UserContext) -> Result<Trap> + Send + Sync>;

struct Pool {
    memory: GuestMemory,
    frames: FrameAllocator,
    zero: Frame,
}

/// The fake platform.
pub struct Fake {
    pool: Arc<Pool>,
    script: Arc<Mutex<VecDeque<Step>>>,
    program: Arc<Mutex<Option<Program>>>,
    commits: Arc<AtomicUsize>,
}

/// Pool headroom beyond the data cap (table frames are never used here,
/// but the zero frame is, and the allocator needs its slack).
const SLACK: u64 = 1 << 20;

impl Fake {
    /// A fake platform whose data frames are capped at
    /// `config.memory_limit` bytes.
    pub fn new(config: PlatformConfig) -> Result<Self> {
        let limit = config.memory_limit.div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let size = PAGE_SIZE + limit + SLACK;
        let memory = GuestMemory::new(size)?;
        // Frame 0 is left out, so no frame is ever 0.
        let frames = FrameAllocator::new(PAGE_SIZE, size, limit);
        let zero = frames.alloc(FrameKind::Table)?;
        memory.zero_frame(zero)?;
        Ok(Self {
            pool: Arc::new(Pool {
                memory,
                frames,
                zero,
            }),
            script: Arc::default(),
            program: Arc::default(),
            commits: Arc::default(),
        })
    }

    /// A fake platform with a small memory cap (64 MiB), as an
    /// `Arc<dyn Platform>`.
    pub fn shared() -> Arc<dyn Platform> {
        Arc::new(
            Self::new(PlatformConfig {
                memory_limit: 64 << 20,
            })
            .expect("a memfd-backed pool for the fake platform"),
        )
    }

    /// Queues a step for the next [`Context::run`] of any context of this
    /// platform.
    pub fn script(&self, step: Step) {
        self.script.lock().push_back(step);
    }

    /// Sets the program every context runs once nothing is scripted.
    pub fn program(&self, program: Program) {
        *self.program.lock() = Some(program);
    }

    /// How many commits gave an address space a new root so far.
    pub fn commits(&self) -> usize {
        self.commits.load(Ordering::SeqCst)
    }
}

impl Platform for Fake {
    fn memory(&self) -> &GuestMemory {
        &self.pool.memory
    }

    fn frames(&self) -> &FrameAllocator {
        &self.pool.frames
    }

    fn zero_frame(&self) -> Frame {
        self.pool.zero
    }

    fn alloc_data(&self) -> Result<Frame> {
        let f = self.pool.frames.alloc(FrameKind::Data)?;
        self.pool.memory.zero_frame(f)?;
        Ok(f)
    }

    fn new_address_space(&self) -> Result<Box<dyn AddressSpace>> {
        Ok(Box::new(FakeAddressSpace {
            pool: Arc::clone(&self.pool),
            pages: BTreeMap::new(),
            root: next_root(),
            stale: false,
            commits: Arc::clone(&self.commits),
        }))
    }

    fn new_context(&self) -> Result<Box<dyn Context>> {
        Ok(Box::new(FakeContext {
            script: Arc::clone(&self.script),
            program: Arc::clone(&self.program),
            kick: Arc::new(FakeKick::default()),
            fpu: Mutex::new(FpuState::from_bytes(&[])),
        }))
    }
}

fn next_root() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// An address space of the fake platform: page address → mapping.
pub struct FakeAddressSpace {
    pool: Arc<Pool>,
    pages: BTreeMap<u64, Mapping>,
    root: u64,
    /// A downgrade waits for a commit.
    stale: bool,
    commits: Arc<AtomicUsize>,
}

fn check_va(va: u64) -> Result<()> {
    if va >= USER_VA_END || !va.is_multiple_of(PAGE_SIZE) {
        return Err(Error::BadAddress(va));
    }
    Ok(())
}

impl AddressSpace for FakeAddressSpace {
    fn root(&self) -> u64 {
        self.root
    }

    fn lookup(&self, va: u64) -> Result<Option<Mapping>> {
        check_va(va)?;
        Ok(self.pages.get(&va).copied())
    }

    fn set(&mut self, va: u64, mapping: Option<Mapping>) -> Result<Option<Mapping>> {
        check_va(va)?;
        let old = match mapping {
            Some(m) => self.pages.insert(va, m),
            None => self.pages.remove(&va),
        };
        if old.is_some_and(|o| o.downgraded_by(mapping)) {
            self.stale = true;
        }
        Ok(old)
    }

    fn break_cow(&mut self, va: u64, frame: Frame, exec: bool) -> Result<()> {
        check_va(va)?;
        let m = self.pages.get_mut(&va).ok_or(Error::BadAddress(va))?;
        m.frame = frame;
        m.flags.write = true;
        m.flags.exec = exec;
        Ok(())
    }

    fn update_range(
        &mut self,
        start: u64,
        end: u64,
        f: &mut dyn FnMut(u64, Mapping) -> Option<Mapping>,
    ) -> Result<()> {
        let end = end.min(USER_VA_END);
        if start >= end {
            return Ok(());
        }
        let mut removed = Vec::new();
        for (va, m) in self.pages.range_mut(start..end) {
            let new = f(*va, *m);
            if new != Some(*m) {
                self.stale |= m.downgraded_by(new);
                match new {
                    Some(n) => *m = n,
                    None => removed.push(*va),
                }
            }
        }
        for va in removed {
            self.pages.remove(&va);
        }
        Ok(())
    }

    fn fork_range(
        &mut self,
        child: &mut dyn AddressSpace,
        start: u64,
        end: u64,
        action: ForkAction,
    ) -> Result<()> {
        let child = child
            .as_any_mut()
            .downcast_mut::<FakeAddressSpace>()
            .ok_or(Error::ForeignAddressSpace)?;
        let end = end.min(USER_VA_END);
        if start >= end {
            return Ok(());
        }
        let frames = &self.pool.frames;
        for (va, m) in self.pages.range_mut(start..end) {
            let given = match action {
                ForkAction::Skip => continue,
                ForkAction::Copy => {
                    let frame = frames.alloc(FrameKind::Data)?;
                    self.pool.memory.copy_frame(frame, m.frame)?;
                    Mapping { frame, ..*m }
                }
                ForkAction::Share => {
                    frames.get(m.frame);
                    *m
                }
                ForkAction::Cow => {
                    frames.get(m.frame);
                    if m.flags.write {
                        m.flags.write = false;
                        self.stale = true;
                    }
                    *m
                }
            };
            child.pages.insert(*va, given);
        }
        Ok(())
    }

    fn count_present(&mut self, start: u64, end: u64) -> Result<usize> {
        let end = end.min(USER_VA_END);
        if start >= end {
            return Ok(0);
        }
        Ok(self.pages.range(start..end).count())
    }

    fn table_frames(&mut self) -> Result<usize> {
        Ok(0)
    }

    fn put_all_frames(&mut self) -> Result<()> {
        for m in self.pages.values() {
            self.pool.frames.put_data(m.frame);
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<Option<Retired>> {
        if !self.stale {
            return Ok(None);
        }
        self.stale = false;
        let old = self.root;
        self.root = next_root();
        self.commits.fetch_add(1, Ordering::SeqCst);
        Ok(Some(Retired::new(old, Box::new(|| {}))))
    }

    fn as_any_mut(&mut self) -> &mut dyn Any {
        self
    }
}

#[derive(Default)]
struct FakeKick {
    kicked: AtomicBool,
    count: AtomicUsize,
}

impl Kick for FakeKick {
    fn kick(&self) {
        self.count.fetch_add(1, Ordering::SeqCst);
        self.kicked.store(true, Ordering::SeqCst);
    }
}

/// A context of the fake platform: replays scripted traps.
pub struct FakeContext {
    script: Arc<Mutex<VecDeque<Step>>>,
    program: Arc<Mutex<Option<Program>>>,
    kick: Arc<FakeKick>,
    fpu: Mutex<FpuState>,
}

impl Context for FakeContext {
    fn run(&mut self, ctx: &mut UserContext, root: u64) -> Result<Trap> {
        if root == 0 {
            return Err(Error::BadAddress(0));
        }
        if self.kick.kicked.swap(false, Ordering::SeqCst) {
            return Ok(Trap::Interrupted);
        }
        let step = self.script.lock().pop_front();
        if let Some(step) = step {
            return step(ctx);
        }
        let program = self.program.lock().clone();
        match program {
            Some(program) => program(ctx),
            None => Err(Error::Unsupported(
                "the fake platform runs no guest code (nothing scripted)",
            )),
        }
    }

    fn kicker(&self) -> Kicker {
        Kicker::new(Arc::clone(&self.kick) as Arc<dyn Kick>)
    }

    fn clear_kick(&self) {
        self.kick.kicked.store(false, Ordering::SeqCst);
    }

    fn reset(&mut self) -> Result<()> {
        self.kick.kicked.store(false, Ordering::SeqCst);
        Ok(())
    }

    fn save_fpu(&self) -> Result<FpuState> {
        Ok(self.fpu.lock().clone())
    }

    fn restore_fpu(&self, state: &FpuState) -> Result<()> {
        *self.fpu.lock() = state.clone();
        Ok(())
    }

    fn reset_fpu(&self) -> Result<()> {
        *self.fpu.lock() = FpuState::from_bytes(&[]);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::PageFlags;

    fn fake() -> Fake {
        Fake::new(PlatformConfig {
            memory_limit: 1 << 20,
        })
        .unwrap()
    }

    #[test]
    fn downgrades_need_a_commit_and_upgrades_do_not() {
        let p = fake();
        let mut a = p.new_address_space().unwrap();
        let f = p.alloc_data().unwrap();
        let root = a.root();
        a.set(
            0x1000,
            Some(Mapping {
                frame: f,
                flags: PageFlags::RO,
            }),
        )
        .unwrap();
        a.set(
            0x1000,
            Some(Mapping {
                frame: f,
                flags: PageFlags::RW,
            }),
        )
        .unwrap();
        assert!(a.commit().unwrap().is_none(), "an upgrade needs no commit");
        a.set(
            0x1000,
            Some(Mapping {
                frame: f,
                flags: PageFlags::RO,
            }),
        )
        .unwrap();
        let retired = a.commit().unwrap().expect("a write-protect needs a commit");
        assert_eq!(retired.old_root(), root);
        assert_ne!(a.root(), root);
        retired.release();
        assert_eq!(p.commits(), 1);
    }

    #[test]
    fn cow_fork_write_protects_both_and_takes_references() {
        let p = fake();
        let mut parent = p.new_address_space().unwrap();
        let mut child = p.new_address_space().unwrap();
        let f = p.alloc_data().unwrap();
        parent
            .set(
                0x2000,
                Some(Mapping {
                    frame: f,
                    flags: PageFlags::RW,
                }),
            )
            .unwrap();
        parent
            .fork_range(&mut *child, 0, 0x10000, ForkAction::Cow)
            .unwrap();
        assert_eq!(p.frames().refcount(f), 2);
        let ro = Some(Mapping {
            frame: f,
            flags: PageFlags::RO,
        });
        assert_eq!(parent.lookup(0x2000).unwrap(), ro);
        assert_eq!(child.lookup(0x2000).unwrap(), ro);
        assert!(parent.commit().unwrap().is_some());
    }

    #[test]
    fn scripted_traps_and_kicks() {
        let p = fake();
        let mut c = p.new_context().unwrap();
        let mut ctx = UserContext::default();
        assert!(matches!(c.run(&mut ctx, 1), Err(Error::Unsupported(_))));
        p.script(Box::new(|ctx| {
            ctx.regs.rax = 39;
            Ok(Trap::Syscall {
                nr: 39,
                args: [0; 6],
            })
        }));
        c.kicker().kick();
        assert_eq!(c.run(&mut ctx, 1).unwrap(), Trap::Interrupted);
        assert_eq!(
            c.run(&mut ctx, 1).unwrap(),
            Trap::Syscall {
                nr: 39,
                args: [0; 6]
            }
        );
        assert_eq!(ctx.regs.rax, 39);
    }
}

//! epoll: an interest list of descriptors, level-triggered or
//! edge-triggered (EPOLLET), with EPOLLONESHOT.
//!
//! Linux reports an EPOLLET item once per wake-up of the file's wait queue
//! whose key matches the interest. Here a file's [`FileOps::events`]
//! counters stand for those wake-ups: an EPOLLET item is reported when it
//! is ready and a counter of its direction (input for EPOLLIN, EPOLLRDHUP
//! and EPOLLPRI; output for EPOLLOUT; either when ERR or HUP is reported)
//! moved since the item was last reported, or when EPOLL_CTL_ADD or
//! EPOLL_CTL_MOD armed it. Files keeping no counters use the kernel-wide
//! notification [`generation`] instead (an extra report, never a lost one),
//! and files that do not notify at all (the host's streams) stay
//! level-triggered.
//!
//! EPOLLEXCLUSIVE items of one file in several epoll instances share a
//! claim: a wake-up of the file (a move of the same counters) puts the
//! item on the ready list of the first instance that looks at it after
//! the change and of no other, so one waiter wakes, as Linux's exclusive
//! wait-queue entries. An item on its instance's ready list stays there
//! while the file is ready (unless EPOLLET).

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::{FileOps, OpenFile};
use crate::errno::Errno;
use crate::kernel::wait::generation;

/// The [`FileOps::events`] counters of a connected pair's two sides (a
/// Unix socket pair, a TCP connection), per direction: 0 input (data or
/// EOF arrived), 1 output (room appeared).
#[derive(Default)]
pub struct PairEdges([[AtomicU64; 2]; 2]);

impl PairEdges {
    /// A change of every side and direction (close, reset, shutdown,
    /// options).
    pub fn bump_all(&self) {
        for e in self.0.iter().flatten() {
            e.fetch_add(1, Ordering::SeqCst);
        }
    }

    /// A change in direction `dir` of `side`.
    pub fn bump(&self, side: usize, dir: usize) {
        self.0[side][dir].fetch_add(1, Ordering::SeqCst);
    }

    /// The counters of `side`: (input, output).
    pub fn get(&self, side: usize) -> (u64, u64) {
        let e = &self.0[side];
        (e[0].load(Ordering::SeqCst), e[1].load(Ordering::SeqCst))
    }
}

/// EPOLLEXCLUSIVE.
pub const EPOLLEXCLUSIVE: u32 = 1 << 28;
/// The bits EPOLLEXCLUSIVE may come with: EPOLLIN, EPOLLOUT, EPOLLERR,
/// EPOLLHUP, EPOLLWAKEUP, EPOLLET (Linux's EPOLLEXCLUSIVE_OK_BITS).
const EXCLUSIVE_OK: u32 = 0x1 | 0x4 | ERR_HUP | 1 << 29 | EPOLLET | EPOLLEXCLUSIVE;

/// The last wake-up (counters) of each file with EPOLLEXCLUSIVE items
/// that an item claimed, by the file's address (the Weak tells a reused
/// address apart).
static CLAIMS: Mutex<Option<HashMap<usize, Claim>>> = Mutex::new(None);

/// A file (to tell a reused address apart) and the wake-up claimed.
type Claim = (Weak<OpenFile>, (u64, u64));

/// A file's wake-up counters: its own, or the kernel-wide generation.
fn counters(f: &OpenFile) -> (u64, u64) {
    f.ops.events().unwrap_or_else(|| {
        // Marked, so it never equals a file's own counters (a socket
        // that starts or stops keeping them).
        let g = generation() | 1 << 63;
        (g, g)
    })
}

/// Whether the wake-up `now` of `f` is not claimed yet; with `take`,
/// claims it.
fn claim(f: &Arc<OpenFile>, now: (u64, u64), take: bool) -> bool {
    let mut claims = CLAIMS.lock();
    let map = claims.get_or_insert_with(HashMap::new);
    let key = Arc::as_ptr(f) as usize;
    let free = match map.get(&key) {
        Some((w, last)) => {
            !std::ptr::eq(w.as_ptr(), Arc::as_ptr(f)) || w.strong_count() == 0 || *last != now
        }
        None => true,
    };
    if free && take {
        map.retain(|_, (w, _)| w.strong_count() > 0);
        map.insert(key, (Arc::downgrade(f), now));
    }
    free
}

/// EPOLLONESHOT.
pub const EPOLLONESHOT: u32 = 1 << 30;
/// EPOLLET.
pub const EPOLLET: u32 = 1 << 31;
/// EPOLLERR | EPOLLHUP: always reported.
const ERR_HUP: u32 = 0x18;
/// Input interests: EPOLLIN, EPOLLPRI, EPOLLRDNORM, EPOLLRDBAND,
/// EPOLLMSG, EPOLLRDHUP.
const IN_BITS: u32 = 0x1 | 0x2 | 0x40 | 0x80 | 0x400 | 0x2000;
/// Output interests: EPOLLOUT, EPOLLWRNORM, EPOLLWRBAND.
const OUT_BITS: u32 = 0x4 | 0x100 | 0x200;

/// One registered descriptor.
pub struct Interest {
    /// The file (gone once every descriptor for it is closed).
    pub file: Weak<OpenFile>,
    /// Requested events.
    pub events: u32,
    /// User data returned with events.
    pub data: u64,
    /// Disabled by EPOLLONESHOT after a report.
    pub disabled: bool,
    /// EPOLLET: the file's event counters when it was last reported
    /// (None: armed by ADD or MOD, reported when ready).
    pub seen: Option<(u64, u64)>,
    /// EPOLLEXCLUSIVE: the file's counters when this item last looked,
    /// and whether it is on its instance's ready list.
    pub exclusive: Option<((u64, u64), bool)>,
}

impl Interest {
    /// Events to report now for `f`, and the counters to remember
    /// (read before the readiness, so a change after the check moves them).
    fn check(&self, f: &OpenFile) -> (u32, (u64, u64)) {
        let edges = if self.events & EPOLLET != 0 && f.ops.notifies() {
            counters(f)
        } else {
            (0, 0)
        };
        let rev = f.ops.poll() as u32 & (self.events | ERR_HUP);
        if rev == 0 || self.events & EPOLLET == 0 || !f.ops.notifies() {
            return (rev, edges);
        }
        let Some((seen_in, seen_out)) = self.seen else {
            return (rev, edges);
        };
        let errhup = rev & ERR_HUP != 0;
        let moved_in = edges.0 != seen_in && (errhup || self.events & IN_BITS != 0);
        let moved_out = edges.1 != seen_out && (errhup || self.events & OUT_BITS != 0);
        (if moved_in || moved_out { rev } else { 0 }, edges)
    }
}

/// An epoll instance.
#[derive(Default)]
pub struct Epoll {
    /// Interest list by descriptor number.
    pub interest: Mutex<BTreeMap<i32, Interest>>,
}

impl Epoll {
    /// Ready events, up to `max`: (events, data). Reporting them ends
    /// EPOLLET edges and disables EPOLLONESHOT items.
    pub fn ready(&self, max: usize) -> Vec<(u32, u64)> {
        let mut out = Vec::new();
        let mut list = self.interest.lock();
        list.retain(|_, i| i.file.strong_count() > 0);
        for i in list.values_mut() {
            if out.len() >= max || i.disabled {
                continue;
            }
            let Some(f) = i.file.upgrade() else { continue };
            if let Some((seen, member)) = i.exclusive {
                let now = counters(&f);
                let member = member || (now != seen && claim(&f, now, true));
                i.exclusive = Some((now, member));
                if !member {
                    continue;
                }
            }
            let (rev, edges) = i.check(&f);
            if let Some((now, _)) = i.exclusive {
                // Off the ready list once reported edge-triggered or no
                // longer ready.
                let stays = rev != 0 && i.events & EPOLLET == 0;
                i.exclusive = Some((now, stays));
            }
            if rev != 0 {
                out.push((rev, i.data));
                if i.events & EPOLLET != 0 {
                    i.seen = Some(edges);
                }
                if i.events & EPOLLONESHOT != 0 {
                    i.disabled = true;
                }
            }
        }
        out
    }

    /// Whether an epoll_wait would report something now (poll of the
    /// epoll file itself), consuming nothing.
    pub fn any_ready(&self) -> bool {
        let list = self.interest.lock();
        list.values().filter(|i| !i.disabled).any(|i| {
            i.file.upgrade().is_some_and(|f| {
                let listed = i.exclusive.is_none_or(|(seen, member)| {
                    let now = counters(&f);
                    member || (now != seen && claim(&f, now, false))
                });
                listed && i.check(&f).0 != 0
            })
        })
    }

    /// Whether every registered file notifies readiness changes.
    pub fn all_notify(&self) -> bool {
        self.interest
            .lock()
            .values()
            .filter_map(|i| i.file.upgrade())
            .all(|f| f.ops.notifies())
    }

    /// Registers, changes or removes an interest (EPOLL_CTL_ADD/MOD/DEL).
    pub fn ctl(
        &self,
        op: u32,
        fd: i32,
        file: &Arc<OpenFile>,
        events: u32,
        data: u64,
    ) -> Result<(), Errno> {
        if events & EPOLLEXCLUSIVE != 0
            && (op == 3 || file.ops.as_epoll().is_some() || events & !EXCLUSIVE_OK != 0)
        {
            return Err(Errno::EINVAL);
        }
        let mut list = self.interest.lock();
        list.retain(|_, i| i.file.strong_count() > 0);
        match op {
            1 => {
                if list.contains_key(&fd) {
                    return Err(Errno::EEXIST);
                }
                // Linux's ep_insert puts a ready file on the ready list.
                let exclusive = (events & EPOLLEXCLUSIVE != 0).then(|| {
                    let ready = file.ops.poll() as u32 & (events | ERR_HUP) != 0;
                    (counters(file), ready)
                });
                list.insert(
                    fd,
                    Interest {
                        file: Arc::downgrade(file),
                        events,
                        data,
                        disabled: false,
                        seen: None,
                        exclusive,
                    },
                );
            }
            2 => {
                list.remove(&fd).ok_or(Errno::ENOENT)?;
            }
            3 => {
                let i = list.get_mut(&fd).ok_or(Errno::ENOENT)?;
                if i.exclusive.is_some() {
                    return Err(Errno::EINVAL);
                }
                i.events = events;
                i.data = data;
                i.disabled = false;
                i.seen = None;
            }
            _ => return Err(Errno::EINVAL),
        }
        Ok(())
    }
}

impl FileOps for Epoll {
    fn poll(&self) -> u16 {
        if !self.any_ready() {
            0
        } else {
            super::poll::POLLIN
        }
    }

    fn notifies(&self) -> bool {
        self.all_notify()
    }

    fn describe(&self) -> String {
        "anon_inode:[eventpoll]".into()
    }

    fn as_epoll(&self) -> Option<&Epoll> {
        Some(self)
    }
}

//! epoll: an interest list of descriptors, level-triggered (EPOLLET is
//! treated as level-triggered), with EPOLLONESHOT.

use std::collections::BTreeMap;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::{FileOps, OpenFile};
use crate::errno::Errno;

/// EPOLLONESHOT.
pub const EPOLLONESHOT: u32 = 1 << 30;

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
}

/// An epoll instance.
#[derive(Default)]
pub struct Epoll {
    /// Interest list by descriptor number.
    pub interest: Mutex<BTreeMap<i32, Interest>>,
}

impl Epoll {
    /// Ready events, up to `max`: (events, data).
    pub fn ready(&self, max: usize) -> Vec<(u32, u64)> {
        let mut out = Vec::new();
        let mut list = self.interest.lock();
        list.retain(|_, i| i.file.strong_count() > 0);
        for i in list.values_mut() {
            if out.len() >= max || i.disabled {
                continue;
            }
            let Some(f) = i.file.upgrade() else { continue };
            let mask = i.events | 0x18; // EPOLLERR | EPOLLHUP always
            let rev = f.ops.poll() as u32 & mask;
            if rev != 0 {
                out.push((rev, i.data));
                if i.events & EPOLLONESHOT != 0 {
                    i.disabled = true;
                }
            }
        }
        out
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
        let mut list = self.interest.lock();
        list.retain(|_, i| i.file.strong_count() > 0);
        match op {
            1 => {
                if list.contains_key(&fd) {
                    return Err(Errno::EEXIST);
                }
                list.insert(
                    fd,
                    Interest {
                        file: Arc::downgrade(file),
                        events,
                        data,
                        disabled: false,
                    },
                );
            }
            2 => {
                list.remove(&fd).ok_or(Errno::ENOENT)?;
            }
            3 => {
                let i = list.get_mut(&fd).ok_or(Errno::ENOENT)?;
                i.events = events;
                i.data = data;
                i.disabled = false;
            }
            _ => return Err(Errno::EINVAL),
        }
        Ok(())
    }
}

impl FileOps for Epoll {
    fn poll(&self) -> u16 {
        if self.ready(1).is_empty() {
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

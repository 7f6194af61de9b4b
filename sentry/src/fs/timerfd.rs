//! timerfd, as Linux's fs/timerfd.c: a timer on a wall clock whose
//! expirations a read collects as a u64 count. Expiries are counted when
//! the file is looked at (read, poll, timerfd_gettime) from the armed
//! deadline and interval; the kernel's timer thread
//! ([`crate::kernel::timers::queue`]) only wakes readers and pollers at
//! each deadline.

use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::{FileOps, poll};
use crate::errno::Errno;
use crate::kernel::timers::{self, Fire, Setting};
use crate::kernel::wait::{Blocker, WaitQueue};

#[derive(Default)]
struct State {
    expires: Option<Instant>,
    interval: Duration,
    /// Expirations not yet read.
    ticks: u64,
    generation: u64,
}

impl State {
    /// Counts the expirations up to `now`.
    fn update(&mut self, now: Instant) {
        let Some(e) = self.expires else { return };
        if now >= e {
            self.expired(now, now - e);
        }
    }

    /// Counts the expirations of a timer whose first expiry was `late`
    /// before `now` (possibly before the host's monotonic clock began: an
    /// absolute time far in the past), and sets the next one.
    fn expired(&mut self, now: Instant, late: Duration) {
        if self.interval.is_zero() {
            self.ticks = self.ticks.saturating_add(1);
            self.expires = None;
        } else {
            let iv = u64::try_from(self.interval.as_nanos())
                .unwrap_or(u64::MAX)
                .max(1);
            let late = u64::try_from(late.as_nanos()).unwrap_or(u64::MAX);
            let k = late / iv;
            self.ticks = self.ticks.saturating_add(k + 1);
            let ahead = iv.saturating_mul(k + 1).saturating_sub(late);
            self.expires = Some(now + Duration::from_nanos(ahead));
        }
    }
}

struct Inner {
    /// The clock id (for traces and fdinfo).
    clock: i32,
    state: Mutex<State>,
    changed: WaitQueue,
    readiness: Arc<WaitQueue>,
    me: Weak<Inner>,
}

impl Fire for Inner {
    fn fire(&self, generation: u64) {
        let mut st = self.state.lock();
        if st.generation != generation {
            return;
        }
        st.update(Instant::now());
        let next = st.expires;
        drop(st);
        if let (Some(at), Some(q)) = (next, timers::queue()) {
            let me: Weak<dyn Fire> = self.me.clone();
            q.schedule(at, me, generation);
        }
        self.changed.notify_all();
        self.readiness.notify_all();
    }
}

/// A timerfd.
pub struct TimerFd {
    inner: Arc<Inner>,
}

impl TimerFd {
    /// A disarmed timerfd on wall clock `clock`, whose expiries wake
    /// `readiness`.
    pub fn new(clock: i32, readiness: Arc<WaitQueue>) -> Self {
        Self {
            inner: Arc::new_cyclic(|me| Inner {
                clock,
                state: Mutex::new(State::default()),
                changed: WaitQueue::default(),
                readiness,
                me: me.clone(),
            }),
        }
    }

    /// The clock id it was created on.
    pub fn clock(&self) -> i32 {
        self.inner.clock
    }

    fn setting(st: &State, now: Instant) -> Setting {
        Setting {
            value: st
                .expires
                .map_or(Duration::ZERO, |e| e.saturating_duration_since(now)),
            interval: st.interval,
        }
    }

    /// timerfd_gettime.
    pub fn get(&self) -> Setting {
        let now = Instant::now();
        let mut st = self.inner.state.lock();
        st.update(now);
        Self::setting(&st, now)
    }

    /// timerfd_settime: arms the timer `value` from now (or, when
    /// `abs_now` gives the clock's current value, at `value` on the clock)
    /// with `interval`, or disarms it when `value` is zero; unread
    /// expirations are dropped. Returns the old setting.
    pub fn set(&self, value: Duration, interval: Duration, abs_now: Option<Duration>) -> Setting {
        let now = Instant::now();
        let mut st = self.inner.state.lock();
        st.update(now);
        let old = Self::setting(&st, now);
        st.generation += 1;
        st.ticks = 0;
        st.interval = interval;
        if value.is_zero() {
            st.expires = None;
            st.interval = Duration::ZERO;
        } else {
            match abs_now {
                None => st.expires = Some(crate::kernel::wait::deadline_after(value)),
                Some(c) if value > c => {
                    st.expires = Some(crate::kernel::wait::deadline_after(value - c));
                }
                Some(c) => st.expired(now, c - value),
            }
        }
        let (generation, next, ready) = (st.generation, st.expires, st.ticks > 0);
        drop(st);
        if let (Some(at), Some(q)) = (next, timers::queue()) {
            let me: Weak<dyn Fire> = Arc::downgrade(&self.inner) as Weak<dyn Fire>;
            q.schedule(at, me, generation);
        }
        if ready {
            self.inner.changed.notify_all();
            self.inner.readiness.notify_all();
        }
        old
    }
}

impl FileOps for TimerFd {
    /// timerfd_read: EINVAL for fewer than 8 bytes; takes the expiration
    /// count, waiting while it is zero.
    fn read(&self, buf: &mut [u8], nonblock: bool, blocker: &dyn Blocker) -> Result<usize, Errno> {
        if buf.len() < 8 {
            return Err(Errno::EINVAL);
        }
        loop {
            let guard = self.inner.changed.prepare(blocker);
            {
                let mut st = self.inner.state.lock();
                st.update(Instant::now());
                if st.ticks > 0 {
                    let n = std::mem::take(&mut st.ticks);
                    buf[..8].copy_from_slice(&n.to_ne_bytes());
                    return Ok(8);
                }
            }
            if nonblock {
                return Err(Errno::EAGAIN);
            }
            guard.sleep(None)?;
        }
    }

    fn poll(&self) -> u16 {
        let mut st = self.inner.state.lock();
        st.update(Instant::now());
        if st.ticks > 0 { poll::POLLIN } else { 0 }
    }

    fn events(&self) -> Option<(u64, u64)> {
        Some((self.inner.changed.seq(), 0))
    }

    fn describe(&self) -> String {
        "anon_inode:[timerfd]".into()
    }

    fn fdinfo(&self) -> String {
        let now = Instant::now();
        let mut st = self.inner.state.lock();
        st.update(now);
        let s = Self::setting(&st, now);
        format!(
            "clockid: {}\nticks: {}\nsettime flags: 00\nit_value: ({}, {})\nit_interval: ({}, {})\n",
            self.inner.clock,
            st.ticks,
            s.value.as_secs(),
            s.value.subsec_nanos(),
            s.interval.as_secs(),
            s.interval.subsec_nanos()
        )
    }

    fn as_timerfd(&self) -> Option<&TimerFd> {
        Some(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intervals_count_every_expiry_passed() {
        let t0 = Instant::now();
        let mut st = State {
            expires: Some(t0),
            interval: Duration::from_millis(10),
            ..Default::default()
        };
        st.update(t0 + Duration::from_millis(35));
        assert_eq!(st.ticks, 4);
        assert_eq!(st.expires, Some(t0 + Duration::from_millis(40)));
        st.interval = Duration::ZERO;
        st.update(t0 + Duration::from_millis(40));
        assert_eq!(st.ticks, 5);
        assert_eq!(st.expires, None);
    }
}

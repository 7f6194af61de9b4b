//! Time ABI: `struct timespec`, `struct timeval`, `struct itimerval`,
//! `struct tms`.

use std::time::Duration;

use super::{Abi, Dec, Enc};
use crate::errno::Errno;

/// `struct timespec` (`__kernel_timespec` on x86-64): seconds and
/// nanoseconds, both 64-bit signed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timespec {
    /// tv_sec.
    pub sec: i64,
    /// tv_nsec.
    pub nsec: i64,
}

impl Timespec {
    /// A non-negative duration (seconds saturate at `i64::MAX`).
    pub fn from_duration(d: Duration) -> Self {
        Self {
            sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            nsec: i64::from(d.subsec_nanos()),
        }
    }

    /// The duration, EINVAL unless it is a valid time (Linux's
    /// `timespec64_valid`: seconds not negative, nanoseconds below 1e9).
    pub fn to_duration(self) -> Result<Duration, Errno> {
        if self.sec < 0 || !(0..1_000_000_000).contains(&self.nsec) {
            return Err(Errno::EINVAL);
        }
        Ok(Duration::new(self.sec as u64, self.nsec as u32))
    }
}

impl Abi for Timespec {
    const SIZE: usize = 16;
    fn decode(b: &[u8]) -> Self {
        let d = Dec(b);
        Self {
            sec: d.i64(0),
            nsec: d.i64(8),
        }
    }
    fn encode(&self, b: &mut [u8]) {
        let mut e = Enc(b);
        e.i64(0, self.sec);
        e.i64(8, self.nsec);
    }
}

/// `struct timeval`: seconds and microseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Timeval {
    /// tv_sec.
    pub sec: i64,
    /// tv_usec.
    pub usec: i64,
}

impl Timeval {
    /// A non-negative duration, truncated to microseconds.
    pub fn from_duration(d: Duration) -> Self {
        Self {
            sec: i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
            usec: i64::from(d.subsec_micros()),
        }
    }

    /// The duration, EINVAL unless seconds are not negative and
    /// microseconds are below 1e6 (Linux's `timeval_valid`).
    pub fn to_duration(self) -> Result<Duration, Errno> {
        if self.sec < 0 || !(0..1_000_000).contains(&self.usec) {
            return Err(Errno::EINVAL);
        }
        Ok(Duration::new(self.sec as u64, self.usec as u32 * 1000))
    }
}

impl Abi for Timeval {
    const SIZE: usize = 16;
    fn decode(b: &[u8]) -> Self {
        let d = Dec(b);
        Self {
            sec: d.i64(0),
            usec: d.i64(8),
        }
    }
    fn encode(&self, b: &mut [u8]) {
        let mut e = Enc(b);
        e.i64(0, self.sec);
        e.i64(8, self.usec);
    }
}

/// `struct itimerval`: the reload interval, then the time left.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Itimerval {
    /// it_interval.
    pub interval: Timeval,
    /// it_value.
    pub value: Timeval,
}

impl Abi for Itimerval {
    const SIZE: usize = 32;
    fn decode(b: &[u8]) -> Self {
        let d = Dec(b);
        Self {
            interval: d.get(0),
            value: d.get(16),
        }
    }
    fn encode(&self, b: &mut [u8]) {
        let mut e = Enc(b);
        e.put(0, &self.interval);
        e.put(16, &self.value);
    }
}

/// `struct tms` (times(2)): clock ticks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tms {
    /// tms_utime.
    pub utime: i64,
    /// tms_stime.
    pub stime: i64,
    /// tms_cutime.
    pub cutime: i64,
    /// tms_cstime.
    pub cstime: i64,
}

impl Abi for Tms {
    const SIZE: usize = 32;
    fn decode(b: &[u8]) -> Self {
        let d = Dec(b);
        Self {
            utime: d.i64(0),
            stime: d.i64(8),
            cutime: d.i64(16),
            cstime: d.i64(24),
        }
    }
    fn encode(&self, b: &mut [u8]) {
        let mut e = Enc(b);
        e.i64(0, self.utime);
        e.i64(8, self.stime);
        e.i64(16, self.cutime);
        e.i64(24, self.cstime);
    }
}

#[cfg(test)]
mod tests {
    use std::mem::{offset_of, size_of};

    use super::*;

    #[test]
    fn layouts_are_linuxs() {
        assert_eq!(Timespec::SIZE, size_of::<libc::timespec>());
        assert_eq!(offset_of!(libc::timespec, tv_nsec), 8);
        assert_eq!(Timeval::SIZE, size_of::<libc::timeval>());
        assert_eq!(offset_of!(libc::timeval, tv_usec), 8);
        assert_eq!(Itimerval::SIZE, size_of::<libc::itimerval>());
        assert_eq!(offset_of!(libc::itimerval, it_value), 16);
        assert_eq!(Tms::SIZE, size_of::<libc::tms>());
        assert_eq!(offset_of!(libc::tms, tms_cstime), 24);
    }

    #[test]
    fn timespec_round_trips_and_validates() {
        let t = Timespec::from_duration(Duration::new(5, 123));
        assert_eq!(Timespec::decode(&t.to_bytes()), t);
        assert_eq!(t.to_duration(), Ok(Duration::new(5, 123)));
        let bad = |sec, nsec| Timespec { sec, nsec }.to_duration();
        assert_eq!(bad(-1, 0), Err(Errno::EINVAL));
        assert_eq!(bad(0, 1_000_000_000), Err(Errno::EINVAL));
        assert_eq!(bad(0, -1), Err(Errno::EINVAL));
        assert_eq!(bad(0, 999_999_999), Ok(Duration::new(0, 999_999_999)));
    }

    #[test]
    fn itimerval_round_trips_with_interval_first() {
        let it = Itimerval {
            interval: Timeval::from_duration(Duration::from_micros(1_500_000)),
            value: Timeval { sec: 7, usec: 9 },
        };
        let b = it.to_bytes();
        assert_eq!(i64::decode(&b[0..8]), 1);
        assert_eq!(i64::decode(&b[8..16]), 500_000);
        assert_eq!(i64::decode(&b[16..24]), 7);
        assert_eq!(Itimerval::decode(&b), it);
        assert_eq!(
            Timeval {
                sec: 0,
                usec: 1_000_000
            }
            .to_duration(),
            Err(Errno::EINVAL)
        );
    }
}

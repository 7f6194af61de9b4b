//! The few host resources the sentry hands through to the guest, behind
//! safe, narrow wrappers (through `rustix`): its standard streams (read,
//! write, readiness, file type, the terminal queries programs make at
//! start-up), the host's clocks, randomness and CPU capabilities.
//!
//! None of this is hypervisor code, so it lives here rather than in the
//! platform. Three pieces need `unsafe` and stay in `platform::host` (the
//! only crate allowed `unsafe`): knowing which standard descriptors were
//! closed before Rust's runtime started (an `.init_array` hook), a read
//! into a buffer followed by a page the host kernel must fail to fill
//! ([`HostFd::read_then_fault`]), and TCGETS (rustix asks TCGETS2, which
//! the sentry's own seccomp filter does not allow).

use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::time::Duration;

use rustix::event::{PollFd, PollFlags};
use rustix::time::{ClockId, Timespec};

/// A duplicated host descriptor.
pub struct HostFd(OwnedFd);

/// Readiness of a host descriptor.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Ready {
    /// Readable.
    pub read: bool,
    /// Writable.
    pub write: bool,
    /// Hung up.
    pub hup: bool,
    /// Error.
    pub err: bool,
}

fn errno(e: rustix::io::Errno) -> i32 {
    e.raw_os_error()
}

impl HostFd {
    /// Whether standard descriptor `fd` (0, 1, 2) was closed when the
    /// process started (before Rust's runtime put /dev/null there).
    pub fn std_closed_at_start(fd: i32) -> bool {
        platform::host::std_closed_at_start(fd)
    }

    /// A descriptor received from elsewhere (an OCI `exec` caller's
    /// standard streams, passed over the sandbox's control socket).
    pub fn from_owned(fd: std::os::fd::OwnedFd) -> Self {
        Self(fd)
    }

    /// Duplicates one of the process's standard descriptors (0, 1, 2).
    pub fn dup_std(fd: i32) -> std::io::Result<Self> {
        let owned = match fd {
            0 => std::io::stdin().as_fd().try_clone_to_owned(),
            1 => std::io::stdout().as_fd().try_clone_to_owned(),
            2 => std::io::stderr().as_fd().try_clone_to_owned(),
            _ => return Err(std::io::Error::from_raw_os_error(libc::EBADF)),
        };
        owned.map(Self)
    }

    /// read(2); the error is the host errno.
    pub fn read(&self, buf: &mut [u8]) -> Result<usize, i32> {
        rustix::io::read(&self.0, buf).map_err(errno)
    }

    /// A read into `buf` followed by `bad` bytes (at most a page) that
    /// cannot be written: the host kernel applies its own rules to a buffer
    /// that turns bad part-way (see `platform::host::read_then_fault`).
    pub fn read_then_fault(&self, buf: &mut [u8], bad: usize) -> Result<usize, i32> {
        platform::host::read_then_fault(self.0.as_fd(), buf, bad)
    }

    /// write(2); the error is the host errno.
    pub fn write(&self, buf: &[u8]) -> Result<usize, i32> {
        rustix::io::write(&self.0, buf).map_err(errno)
    }

    /// Waits up to `timeout_ms` for readiness (`want_read`/`want_write`).
    pub fn poll(&self, want_read: bool, want_write: bool, timeout_ms: i32) -> Ready {
        let mut events = PollFlags::empty();
        if want_read {
            events |= PollFlags::IN;
        }
        if want_write {
            events |= PollFlags::OUT;
        }
        let mut fds = [PollFd::new(&self.0, events)];
        let ms = i64::from(timeout_ms.max(0));
        let timeout = Timespec {
            tv_sec: ms / 1000,
            tv_nsec: (ms % 1000) * 1_000_000,
        };
        match rustix::event::poll(&mut fds, Some(&timeout)) {
            Ok(n) if n > 0 => {}
            _ => return Ready::default(),
        }
        let r = fds[0].revents();
        Ready {
            read: r.contains(PollFlags::IN),
            write: r.contains(PollFlags::OUT),
            hup: r.contains(PollFlags::HUP),
            err: r.contains(PollFlags::ERR),
        }
    }

    /// Waits, with no timeout, until the descriptor is ready
    /// (`want_read`/`want_write`, and always hang-up or error) or `wake`
    /// is woken; a wake-up gives no readiness.
    pub fn poll_or_wake(&self, want_read: bool, want_write: bool, wake: &Wake) -> Ready {
        let mut events = PollFlags::empty();
        if want_read {
            events |= PollFlags::IN;
        }
        if want_write {
            events |= PollFlags::OUT;
        }
        let mut fds = [
            PollFd::new(&self.0, events),
            PollFd::new(&wake.0, PollFlags::IN),
        ];
        match rustix::event::poll(&mut fds, None) {
            Ok(n) if n > 0 => {}
            _ => return Ready::default(),
        }
        if !fds[1].revents().is_empty() {
            let mut b = [0u8; 8];
            let _ = rustix::io::read(&wake.0, &mut b);
        }
        let r = fds[0].revents();
        Ready {
            read: r.contains(PollFlags::IN),
            write: r.contains(PollFlags::OUT),
            hup: r.contains(PollFlags::HUP),
            err: r.contains(PollFlags::ERR),
        }
    }

    /// The file type and permission bits (`st_mode`).
    pub fn mode(&self) -> Option<u32> {
        rustix::fs::fstat(&self.0).ok().map(|st| st.st_mode)
    }

    /// TCGETS: the kernel `struct termios` (36 bytes).
    pub fn termios(&self) -> Result<[u8; 36], i32> {
        platform::host::termios(self.0.as_fd())
    }

    /// TIOCGWINSZ: `struct winsize` (8 bytes).
    pub fn winsize(&self) -> Result<[u8; 8], i32> {
        let w = rustix::termios::tcgetwinsize(&self.0).map_err(errno)?;
        let mut out = [0u8; 8];
        for (i, v) in [w.ws_row, w.ws_col, w.ws_xpixel, w.ws_ypixel]
            .into_iter()
            .enumerate()
        {
            out[2 * i..2 * i + 2].copy_from_slice(&v.to_le_bytes());
        }
        Ok(out)
    }

    /// TCSETS, TCSETSW, TCSETSF (a kernel `struct termios`, 36 bytes) or
    /// TIOCSWINSZ (a `struct winsize`, 8 bytes): settings the guest makes
    /// on its controlling terminal, passed to the host terminal.
    pub fn tty_set(&self, request: u64, data: &[u8]) -> Result<(), i32> {
        platform::host::tty_set(self.0.as_fd(), request, data)
    }

    /// TCSBRK, TCXONC or TCFLSH with an integer argument.
    pub fn tty_control(&self, request: u64, arg: i32) -> Result<(), i32> {
        platform::host::tty_control(self.0.as_fd(), request, arg)
    }

    /// FIONREAD: bytes waiting to be read.
    pub fn input_pending(&self) -> Result<i32, i32> {
        platform::host::input_pending(self.0.as_fd())
    }

    /// The device number (`st_rdev`), which tells two terminals apart.
    pub fn rdev(&self) -> Option<u64> {
        rustix::fs::fstat(&self.0).ok().map(|st| st.st_rdev)
    }

    /// The descriptor's status flags (F_GETFL), e.g. its access mode.
    pub fn status_flags(&self) -> Option<u32> {
        rustix::fs::fcntl_getfl(&self.0).ok().map(|f| f.bits())
    }

    /// The raw descriptor number (for descriptions only).
    pub fn raw(&self) -> i32 {
        self.0.as_raw_fd()
    }
}

/// An in-process wake-up (an eventfd) that ends a
/// [`HostFd::poll_or_wake`] in another thread.
pub struct Wake(OwnedFd);

impl Wake {
    /// A new wake-up.
    pub fn new() -> std::io::Result<Self> {
        use rustix::event::{EventfdFlags, eventfd};
        eventfd(0, EventfdFlags::CLOEXEC | EventfdFlags::NONBLOCK)
            .map(Self)
            .map_err(Into::into)
    }

    /// Wakes the thread polling on it (or its next poll).
    pub fn wake(&self) {
        let _ = rustix::io::write(&self.0, &1u64.to_ne_bytes());
    }
}

/// The host's clock `id` (CLOCK_MONOTONIC, CLOCK_BOOTTIME...), or `None`
/// for a clock the host does not have.
pub fn clock(id: i32) -> Option<Duration> {
    let id = match id {
        libc::CLOCK_REALTIME => ClockId::Realtime,
        libc::CLOCK_MONOTONIC => ClockId::Monotonic,
        libc::CLOCK_PROCESS_CPUTIME_ID => ClockId::ProcessCPUTime,
        libc::CLOCK_THREAD_CPUTIME_ID => ClockId::ThreadCPUTime,
        libc::CLOCK_MONOTONIC_RAW => ClockId::MonotonicRaw,
        libc::CLOCK_REALTIME_COARSE => ClockId::RealtimeCoarse,
        libc::CLOCK_MONOTONIC_COARSE => ClockId::MonotonicCoarse,
        libc::CLOCK_BOOTTIME => ClockId::Boottime,
        _ => return None,
    };
    let ts = rustix::time::clock_gettime(id);
    Some(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// Fills `buf` with random bytes from the host (getrandom); false if the
/// host could not.
pub fn random(buf: &mut [u8]) -> bool {
    let mut done = 0;
    while done < buf.len() {
        match rustix::rand::getrandom(&mut buf[done..], rustix::rand::GetRandomFlags::empty()) {
            Ok(0) | Err(_) => return false,
            Ok(n) => done += n,
        }
    }
    true
}

/// The host's AT_HWCAP and AT_HWCAP2 (the guest runs on the same CPU).
pub fn hwcaps() -> (u64, u64) {
    let (a, b) = rustix::param::linux_hwcap();
    (a as u64, b as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clocks_tick_and_unknown_ones_are_none() {
        let a = clock(libc::CLOCK_MONOTONIC).unwrap();
        let b = clock(libc::CLOCK_MONOTONIC).unwrap();
        assert!(b >= a);
        assert!(clock(libc::CLOCK_BOOTTIME).unwrap() >= a / 2);
        assert_eq!(clock(8), None);
        assert_eq!(clock(-1), None);
    }

    #[test]
    fn randomness_fills_the_buffer() {
        let mut a = [0u8; 64];
        let mut b = [0u8; 64];
        assert!(random(&mut a) && random(&mut b));
        assert_ne!(a, b);
    }

    #[test]
    fn a_pipe_reads_writes_and_polls_as_the_host_says() {
        let (r, w) = std::io::pipe().unwrap();
        let (r, w) = (HostFd(OwnedFd::from(r)), HostFd(OwnedFd::from(w)));
        assert_eq!(r.poll(true, false, 0), Ready::default());
        assert_eq!(w.write(b"hi").unwrap(), 2);
        assert!(r.poll(true, false, 0).read);
        let mut buf = [0u8; 8];
        assert_eq!(r.read(&mut buf).unwrap(), 2);
        assert_eq!(&buf[..2], b"hi");
        assert_eq!(r.mode().unwrap() & 0o170000, 0o010000, "a FIFO");
        assert_eq!(w.status_flags().unwrap() & 3, 1, "O_WRONLY");
        assert_eq!(r.termios(), Err(libc::ENOTTY));
        assert_eq!(r.winsize(), Err(libc::ENOTTY));
        drop(w);
        assert!(r.poll(true, false, 0).hup);
        assert_eq!(
            HostFd::dup_std(3).err().unwrap().raw_os_error(),
            Some(libc::EBADF)
        );
    }
}

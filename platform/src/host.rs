//! The few host descriptors the sentry hands through to the guest (its
//! standard streams), behind safe, narrow wrappers: read, write, readiness,
//! file type, and the two terminal queries programs make at start-up.

use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd};

/// A duplicated host descriptor.
pub struct HostFd(OwnedFd);

fn last_errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

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

const GUARD_SIZE: usize = 4096;

/// The address of a page of the sentry with no access (mapped once), for
/// [`HostFd::read_then_fault`]; `None` if it could not be mapped.
fn guard_page() -> Option<usize> {
    static GUARD: std::sync::OnceLock<Option<usize>> = std::sync::OnceLock::new();
    *GUARD.get_or_init(|| {
        // SAFETY: a fresh anonymous PROT_NONE mapping at an address the
        // kernel picks; it overlaps nothing and is never unmapped or
        // dereferenced by this process.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                GUARD_SIZE,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        (p != libc::MAP_FAILED).then_some(p as usize)
    })
}

/// Bit `fd` set: standard descriptor `fd` (0, 1, 2) was closed when the
/// process started. Rust's runtime opens /dev/null over a closed standard
/// descriptor before `main`, so this is recorded earlier, from
/// `.init_array` (which the C library runs before `main`).
static STD_CLOSED_AT_START: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

extern "C" fn record_closed_std() {
    let mut closed = 0u8;
    for fd in 0..3 {
        // SAFETY: F_GETFD only queries the descriptor table; no memory is
        // passed.
        if unsafe { libc::fcntl(fd, libc::F_GETFD) } < 0 {
            closed |= 1 << fd;
        }
    }
    STD_CLOSED_AT_START.store(closed, std::sync::atomic::Ordering::Relaxed);
}

// SAFETY: a function pointer with the signature .init_array entries have
// (extra arguments are ignored by the C ABI); it only calls fcntl and
// stores to an atomic, which is sound before Rust's runtime is set up.
#[used]
#[unsafe(link_section = ".init_array")]
static RECORD_CLOSED_STD: extern "C" fn() = record_closed_std;

impl HostFd {
    /// Whether standard descriptor `fd` (0, 1, 2) was closed when the
    /// process started (before Rust's runtime put /dev/null there).
    pub fn std_closed_at_start(fd: i32) -> bool {
        (0..=2).contains(&fd)
            && STD_CLOSED_AT_START.load(std::sync::atomic::Ordering::Relaxed) & (1 << fd) != 0
    }

    /// Duplicates one of the process's standard descriptors (0, 1, 2).
    pub fn dup_std(fd: i32) -> std::io::Result<Self> {
        if !(0..=2).contains(&fd) {
            return Err(std::io::Error::from_raw_os_error(libc::EBADF));
        }
        // SAFETY: 0, 1 and 2 stay open for the life of the process; we only
        // borrow the descriptor long enough to duplicate it.
        let borrowed = unsafe { BorrowedFd::borrow_raw(fd) };
        borrowed.try_clone_to_owned().map(Self)
    }

    /// read(2); the error is the host errno.
    pub fn read(&self, buf: &mut [u8]) -> Result<usize, i32> {
        // SAFETY: buf is valid for writes of buf.len() bytes.
        let r = unsafe { libc::read(self.0.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if r < 0 {
            Err(last_errno())
        } else {
            Ok(r as usize)
        }
    }

    /// readv(2) into `buf` followed by `bad` bytes (at most a page) that
    /// cannot be written: the host kernel then applies its own rules to a
    /// buffer that turns bad part-way (a pipe keeps a buffer it could not
    /// copy whole and says EFAULT; a file gives what fit), so a guest whose
    /// buffer ends in a bad page sees what Linux does.
    pub fn read_then_fault(&self, buf: &mut [u8], bad: usize) -> Result<usize, i32> {
        let Some(guard) = guard_page() else {
            return self.read(buf);
        };
        let iov = [
            libc::iovec {
                iov_base: buf.as_mut_ptr().cast(),
                iov_len: buf.len(),
            },
            libc::iovec {
                iov_base: guard as *mut libc::c_void,
                iov_len: bad.min(GUARD_SIZE),
            },
        ];
        // SAFETY: the first vector is `buf`, valid for writes of its length;
        // the second is the guard mapping, which has no access at all, so
        // the kernel writes nothing there and fails the copy with EFAULT
        // (the host's own uaccess check, never a fault in this process).
        let r = unsafe { libc::readv(self.0.as_raw_fd(), iov.as_ptr(), 2) };
        if r < 0 {
            Err(last_errno())
        } else {
            Ok((r as usize).min(buf.len()))
        }
    }

    /// write(2); the error is the host errno.
    pub fn write(&self, buf: &[u8]) -> Result<usize, i32> {
        // SAFETY: buf is valid for reads of buf.len() bytes.
        let r = unsafe { libc::write(self.0.as_raw_fd(), buf.as_ptr().cast(), buf.len()) };
        if r < 0 {
            Err(last_errno())
        } else {
            Ok(r as usize)
        }
    }

    /// Waits up to `timeout_ms` for readiness (`want_read`/`want_write`).
    pub fn poll(&self, want_read: bool, want_write: bool, timeout_ms: i32) -> Ready {
        let mut events = 0;
        if want_read {
            events |= libc::POLLIN;
        }
        if want_write {
            events |= libc::POLLOUT;
        }
        let mut pfd = libc::pollfd {
            fd: self.0.as_raw_fd(),
            events,
            revents: 0,
        };
        // SAFETY: one valid pollfd and a count of one.
        let r = unsafe { libc::poll(&mut pfd, 1, timeout_ms) };
        if r <= 0 {
            return Ready::default();
        }
        Ready {
            read: pfd.revents & libc::POLLIN != 0,
            write: pfd.revents & libc::POLLOUT != 0,
            hup: pfd.revents & libc::POLLHUP != 0,
            err: pfd.revents & libc::POLLERR != 0,
        }
    }

    /// The file type and permission bits (`st_mode`).
    pub fn mode(&self) -> Option<u32> {
        // SAFETY: an all-zero stat is valid output space.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: a valid descriptor and a valid stat buffer.
        let r = unsafe { libc::fstat(self.0.as_raw_fd(), &mut st) };
        (r == 0).then_some(st.st_mode)
    }

    /// TCGETS: the kernel `struct termios` (36 bytes).
    pub fn termios(&self) -> Result<[u8; 36], i32> {
        let mut t = [0u8; 64];
        // SAFETY: TCGETS writes a kernel struct termios (36 bytes), well
        // inside the 64-byte buffer.
        let r = unsafe { libc::ioctl(self.0.as_raw_fd(), libc::TCGETS, t.as_mut_ptr()) };
        if r < 0 {
            return Err(last_errno());
        }
        let mut out = [0u8; 36];
        out.copy_from_slice(&t[..36]);
        Ok(out)
    }

    /// TIOCGWINSZ: `struct winsize` (8 bytes).
    pub fn winsize(&self) -> Result<[u8; 8], i32> {
        let mut w = [0u8; 8];
        // SAFETY: TIOCGWINSZ writes a struct winsize (8 bytes).
        let r = unsafe { libc::ioctl(self.0.as_raw_fd(), libc::TIOCGWINSZ, w.as_mut_ptr()) };
        if r < 0 { Err(last_errno()) } else { Ok(w) }
    }

    /// The raw descriptor number (for descriptions only).
    pub fn raw(&self) -> i32 {
        self.0.as_raw_fd()
    }
}

/// The host's clock `id` (CLOCK_MONOTONIC, CLOCK_BOOTTIME...), or `None`
/// for an unknown clock.
pub fn clock(id: i32) -> Option<std::time::Duration> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to write into; bad ids fail with EINVAL.
    let r = unsafe { libc::clock_gettime(id, &mut ts) };
    (r == 0).then(|| std::time::Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
}

/// Fills `buf` with random bytes from the host (getrandom).
pub fn random(buf: &mut [u8]) -> bool {
    let mut done = 0;
    while done < buf.len() {
        // SAFETY: the pointer and length describe the unfilled tail of buf.
        let r = unsafe { libc::getrandom(buf[done..].as_mut_ptr().cast(), buf.len() - done, 0) };
        if r <= 0 {
            return false;
        }
        done += r as usize;
    }
    true
}

impl HostFd {
    /// The descriptor's status flags (F_GETFL), e.g. its access mode.
    pub fn status_flags(&self) -> Option<u32> {
        // SAFETY: F_GETFL on a valid descriptor takes no argument.
        let r = unsafe { libc::fcntl(self.0.as_raw_fd(), libc::F_GETFL) };
        (r >= 0).then_some(r as u32)
    }
}

/// The host's AT_HWCAP and AT_HWCAP2 (the guest runs on the same CPU).
pub fn hwcaps() -> (u64, u64) {
    // SAFETY: getauxval has no preconditions; unknown types return 0.
    unsafe {
        (
            libc::getauxval(libc::AT_HWCAP),
            libc::getauxval(libc::AT_HWCAP2),
        )
    }
}

/// CPU time the calling host thread has used: (user, system). Guest code
/// a vCPU runs counts as the user time of the thread that runs it.
pub fn thread_cpu_time() -> (std::time::Duration, std::time::Duration) {
    // SAFETY: rusage is plain data; all-zero is a valid value.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: RUSAGE_THREAD with a valid rusage to write into.
    if unsafe { libc::getrusage(libc::RUSAGE_THREAD, &mut ru) } != 0 {
        return Default::default();
    }
    let d = |tv: libc::timeval| {
        std::time::Duration::new(
            tv.tv_sec.max(0) as u64,
            (tv.tv_usec.clamp(0, 999_999) * 1000) as u32,
        )
    };
    (d(ru.ru_utime), d(ru.ru_stime))
}

//! The host standard streams' pieces that need `unsafe` (this crate is the
//! only one allowed it). This is not hypervisor code: the sentry's safe
//! wrapper of its standard streams, clocks and randomness is
//! `sentry::host`, which calls these three for what a safe crate cannot
//! do:
//!
//! * [`std_closed_at_start`]: which of descriptors 0, 1, 2 were closed when
//!   the process started, recorded from an `.init_array` hook before Rust's
//!   runtime opens /dev/null over them;
//! * [`read_then_fault`]: a `readv` into a buffer followed by a page the
//!   host kernel cannot write (a `PROT_NONE` mapping), so that a guest
//!   buffer that turns bad part-way gets the host kernel's own answer;
//! * [`termios`]: `TCGETS` as raw bytes (safe wrappers ask `TCGETS2`, which
//!   the sentry's seccomp filter does not allow);
//! * [`tty_set`] and [`tty_control`]: the terminal ioctls a guest's
//!   controlling terminal passes through to the host terminal (TCSETS*,
//!   TIOCSWINSZ; TCSBRK, TCFLSH, TCXONC), each request with the exact
//!   argument size it reads, and [`input_pending`] (FIONREAD).

use std::os::fd::{AsRawFd, BorrowedFd};

fn last_errno() -> i32 {
    std::io::Error::last_os_error()
        .raw_os_error()
        .unwrap_or(libc::EIO)
}

const GUARD_SIZE: usize = 4096;

/// The address of a page of the sentry with no access (mapped once), for
/// [`read_then_fault`]; `None` if it could not be mapped.
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

/// Whether standard descriptor `fd` (0, 1, 2) was closed when the process
/// started (before Rust's runtime put /dev/null there).
pub fn std_closed_at_start(fd: i32) -> bool {
    (0..=2).contains(&fd)
        && STD_CLOSED_AT_START.load(std::sync::atomic::Ordering::Relaxed) & (1 << fd) != 0
}

/// readv(2) on `fd` into `buf` followed by `bad` bytes (at most a page)
/// that cannot be written: the host kernel then applies its own rules to a
/// buffer that turns bad part-way (a pipe keeps a buffer it could not copy
/// whole and says EFAULT; a file gives what fit), so a guest whose buffer
/// ends in a bad page sees what Linux does. The error is the host errno.
pub fn read_then_fault(fd: BorrowedFd<'_>, buf: &mut [u8], bad: usize) -> Result<usize, i32> {
    let guard = guard_page();
    let iov = [
        libc::iovec {
            iov_base: buf.as_mut_ptr().cast(),
            iov_len: buf.len(),
        },
        libc::iovec {
            iov_base: guard.unwrap_or(0) as *mut libc::c_void,
            iov_len: if guard.is_some() {
                bad.min(GUARD_SIZE)
            } else {
                0
            },
        },
    ];
    // SAFETY: the first vector is `buf`, valid for writes of its length;
    // the second is the guard mapping, which has no access at all, so the
    // kernel writes nothing there and fails the copy with EFAULT (the
    // host's own uaccess check, never a fault in this process), or empty
    // when the guard could not be mapped.
    let r = unsafe { libc::readv(fd.as_raw_fd(), iov.as_ptr(), 2) };
    if r < 0 {
        Err(last_errno())
    } else {
        Ok((r as usize).min(buf.len()))
    }
}

/// TCGETS on `fd`: the kernel `struct termios` (36 bytes); the error is
/// the host errno.
pub fn termios(fd: BorrowedFd<'_>) -> Result<[u8; 36], i32> {
    let mut t = [0u8; 64];
    // SAFETY: TCGETS writes a kernel struct termios (36 bytes), well inside
    // the 64-byte buffer.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TCGETS, t.as_mut_ptr()) };
    if r < 0 {
        return Err(last_errno());
    }
    let mut out = [0u8; 36];
    out.copy_from_slice(&t[..36]);
    Ok(out)
}

/// Terminal ioctls that read a structure from their argument, with its size.
const TTY_SET_REQUESTS: [(u64, usize); 4] = [
    (0x5402, 36), // TCSETS: struct termios
    (0x5403, 36), // TCSETSW
    (0x5404, 36), // TCSETSF
    (0x5414, 8),  // TIOCSWINSZ: struct winsize
];

/// Terminal ioctls whose argument is an integer.
const TTY_INT_REQUESTS: [u64; 3] = [
    0x5409, // TCSBRK
    0x540a, // TCXONC
    0x540b, // TCFLSH
];

/// A terminal ioctl that reads `data` (TCSETS, TCSETSW, TCSETSF: a kernel
/// `struct termios`; TIOCSWINSZ: a `struct winsize`) on `fd`; EINVAL for
/// any other request or a `data` of another size. The error is the host
/// errno.
pub fn tty_set(fd: BorrowedFd<'_>, request: u64, data: &[u8]) -> Result<(), i32> {
    if !TTY_SET_REQUESTS.contains(&(request, data.len())) {
        return Err(libc::EINVAL);
    }
    // SAFETY: `request` is one of TTY_SET_REQUESTS, each of which only
    // reads a structure of exactly `data.len()` bytes from its argument,
    // and `data` is valid for reads of that length.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, data.as_ptr()) };
    if r < 0 { Err(last_errno()) } else { Ok(()) }
}

/// A terminal ioctl whose argument is an integer (TCSBRK, TCXONC,
/// TCFLSH) on `fd`; EINVAL for any other request. The error is the host
/// errno.
pub fn tty_control(fd: BorrowedFd<'_>, request: u64, arg: i32) -> Result<(), i32> {
    if !TTY_INT_REQUESTS.contains(&request) {
        return Err(libc::EINVAL);
    }
    // SAFETY: `request` is one of TTY_INT_REQUESTS, whose argument is an
    // integer passed by value: no memory is read or written.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), request as _, arg as libc::c_ulong) };
    if r < 0 { Err(last_errno()) } else { Ok(()) }
}

/// FIONREAD (TIOCINQ) on `fd`: how many bytes are waiting to be read; the
/// error is the host errno.
pub fn input_pending(fd: BorrowedFd<'_>) -> Result<i32, i32> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through its argument, which points
    // to `n`.
    let r = unsafe { libc::ioctl(fd.as_raw_fd(), libc::FIONREAD, &mut n) };
    if r < 0 { Err(last_errno()) } else { Ok(n) }
}

thread_local! {
    /// Guest CPU time this thread's context spent in another host thread
    /// (the seccomp platform's stub threads), in ns.
    static GUEST_ELSEWHERE_NS: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
    /// Whether [`GUEST_ELSEWHERE_NS`] was ever added to.
    static GUEST_MEASURED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
    /// The host CPUs the calling thread was last pinned to, as
    /// [`note_thread_affinity`] recorded them (0: every CPU).
    static AFFINITY: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Records the host CPUs the caller just pinned its own thread to, one
/// bit per CPU number (0: every CPU, or some CPU is 64 or above), so that
/// guest code this thread drives in another host thread (the seccomp
/// platform's stub threads) runs on the same CPUs: the guest then reads
/// the CPU its affinity allows, as on Linux.
pub fn note_thread_affinity(host_cpus: u64) {
    AFFINITY.with(|a| a.set(host_cpus));
}

/// What [`note_thread_affinity`] last recorded on this thread.
pub(crate) fn thread_affinity() -> u64 {
    AFFINITY.with(std::cell::Cell::get)
}

/// Charges `ns` of guest CPU time, spent by a host thread this thread
/// drives (a seccomp stub thread), to the calling thread.
pub(crate) fn add_guest_cpu_ns(ns: u64) {
    GUEST_ELSEWHERE_NS.with(|c| c.set(c.get().saturating_add(ns)));
    GUEST_MEASURED.with(|m| m.set(true));
}

/// The guest-mode time (ns, since the thread started) of the guest code
/// this thread's contexts ran, where the platform times it itself (the
/// seccomp platform: guest code runs in a stub thread, whose runs it
/// times); `None` where nothing was timed, and the caller estimates guest
/// mode from its stays (KVM).
pub fn measured_guest_ns() -> Option<u64> {
    GUEST_MEASURED
        .with(std::cell::Cell::get)
        .then(|| GUEST_ELSEWHERE_NS.with(std::cell::Cell::get))
}

/// CPU time the calling host thread has used: (user, system). Guest code
/// a vCPU runs counts as the user time of the thread that runs it (on the
/// seccomp platform, guest code runs in a stub thread: its CPU time there
/// counts as this thread's user time).
pub fn thread_cpu_time() -> (std::time::Duration, std::time::Duration) {
    let (u, s) = own_thread_cpu_time();
    let elsewhere = std::time::Duration::from_nanos(GUEST_ELSEWHERE_NS.with(|c| c.get()));
    (u + elsewhere, s)
}

fn own_thread_cpu_time() -> (std::time::Duration, std::time::Duration) {
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

/// A host signal set of the signals `signals` (invalid numbers are left
/// out).
fn sigset_of(signals: &[i32]) -> libc::sigset_t {
    // SAFETY: sigset_t is plain data; sigemptyset initialises it fully.
    let mut set: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: `set` is a valid, writable sigset_t.
    unsafe { libc::sigemptyset(&mut set) };
    for &s in signals {
        // SAFETY: as above; an invalid number only makes sigaddset fail.
        unsafe { libc::sigaddset(&mut set, s) };
    }
    set
}

/// Blocks `signals` in the calling thread (and so in every thread it
/// starts afterwards, which inherit its mask), so that they stay pending
/// for [`wait_signal`] instead of taking their action on the process. The
/// error is the host errno.
pub fn block_signals(signals: &[i32]) -> Result<(), i32> {
    let set = sigset_of(signals);
    // SAFETY: a valid, initialised set; the old mask is not asked for.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
    if r != 0 { Err(r) } else { Ok(()) }
}

/// Whether every one of `signals` is blocked in the calling thread.
pub fn signals_blocked(signals: &[i32]) -> bool {
    // SAFETY: sigset_t is plain data; pthread_sigmask fills it.
    let mut old: libc::sigset_t = unsafe { std::mem::zeroed() };
    // SAFETY: a null new set only reads the mask into `old`.
    let r = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, std::ptr::null(), &mut old) };
    // SAFETY: `old` was filled by pthread_sigmask.
    r == 0
        && signals
            .iter()
            .all(|&s| unsafe { libc::sigismember(&old, s) } == 1)
}

/// Takes one of `signals` (which the caller blocked, see
/// [`block_signals`]) pending for the process or the calling thread,
/// waiting up to `timeout` (None: for ever): `Some(signal)`, or `None`
/// when the time ran out or the wait was interrupted (the caller checks
/// its clock and waits again).
pub fn wait_signal(signals: &[i32], timeout: Option<std::time::Duration>) -> Option<i32> {
    let set = sigset_of(signals);
    let ts = timeout.map(|t| libc::timespec {
        tv_sec: t.as_secs().min(i64::MAX as u64) as libc::time_t,
        tv_nsec: libc::c_long::from(t.subsec_nanos() as i32),
    });
    let tsp = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: a valid set; a null siginfo is allowed; `tsp` is null or
    // points to `ts`, alive for the call.
    let r = unsafe { libc::sigtimedwait(&set, std::ptr::null_mut(), tsp) };
    (r > 0).then_some(r)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blocked_signal_waits_for_wait_signal() {
        // On a thread of its own, with a thread-directed signal: the test
        // harness's other threads do not block SIGUSR2.
        std::thread::spawn(|| {
            assert!(!signals_blocked(&[libc::SIGUSR2]));
            block_signals(&[libc::SIGUSR2]).expect("block SIGUSR2");
            assert!(signals_blocked(&[libc::SIGUSR2]));
            let short = Some(std::time::Duration::from_millis(10));
            assert_eq!(
                wait_signal(&[libc::SIGUSR2], short),
                None,
                "nothing pending"
            );
            // SAFETY: tgkill to this very thread with a signal it blocks:
            // it stays pending, no handler runs.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_tgkill,
                    libc::getpid(),
                    libc::gettid(),
                    libc::SIGUSR2,
                )
            };
            assert_eq!(r, 0);
            assert_eq!(wait_signal(&[libc::SIGUSR2], None), Some(libc::SIGUSR2));
            assert_eq!(wait_signal(&[libc::SIGUSR2], short), None, "taken once");
        })
        .join()
        .expect("the test thread");
    }
}

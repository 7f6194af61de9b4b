//! The guest's standard streams: the sentry's own descriptors 0, 1 and 2,
//! reached only through [`crate::host::HostFd`] (read, write, readiness,
//! two terminal queries, and a synthetic fstat). Nothing else of the host is
//! reachable through them.
//!
//! The host cannot notify the sandbox's wait queues, so each stream has a
//! watcher: a sentry thread, started the first time a guest waits on the
//! stream, that blocks in the host's poll for what the guest waits for and
//! wakes the kernel's readiness queue when it comes. It polls only while
//! armed (a guest found the stream not ready), so a stream that stays
//! ready without a reader costs nothing, and a file or /dev/null (always
//! ready) never arms it. Should the thread fail to start, the stream says
//! it cannot notify and poll falls back to sampling it.

use std::sync::Arc;

use parking_lot::{Condvar, Mutex};

use crate::host::{HostFd, Wake};

use super::{FileOps, IoctlReply, Stat, poll};
use crate::errno::Errno;
use crate::kernel::wait::{Blocker, WaitQueue};

/// One of the host's standard streams.
pub struct HostStream {
    fd: Arc<HostFd>,
    name: &'static str,
    watcher: Arc<Watcher>,
}

/// What the watcher thread of a stream waits for.
#[derive(Default)]
struct Armed {
    /// `poll::POLLIN` / `POLLOUT` bits a guest waits for (0: idle).
    want: u16,
    /// Whether the thread runs.
    running: bool,
    /// Whether it could not be started (the stream then samples).
    failed: bool,
    /// The stream is gone: the thread ends.
    closed: bool,
}

/// A stream's watcher: the armed bits, and what wakes the thread.
struct Watcher {
    armed: Mutex<Armed>,
    cv: Condvar,
    /// Ends the thread's host poll when the bits change.
    wake: Option<Wake>,
    /// The kernel's readiness queue.
    readiness: Arc<WaitQueue>,
}

impl Watcher {
    /// A guest waits for `bits` on the stream: have the thread poll for
    /// them. False if no thread can (the caller samples instead).
    fn arm(self: &Arc<Self>, fd: &Arc<HostFd>, bits: u16) -> bool {
        let mut a = self.armed.lock();
        if a.failed || self.wake.is_none() {
            return false;
        }
        if a.want & bits == bits && a.running {
            return true;
        }
        let polling = a.want != 0;
        a.want |= bits;
        if !a.running {
            let (me, fd) = (Arc::clone(self), Arc::clone(fd));
            let spawned = std::thread::Builder::new()
                .name("sentry-stdio".into())
                .spawn(move || me.run(&fd));
            if spawned.is_err() {
                a.failed = true;
                a.want = 0;
                return false;
            }
            a.running = true;
        } else if polling {
            // In the host's poll with fewer bits: start it again.
            if let Some(w) = &self.wake {
                w.wake();
            }
        } else {
            self.cv.notify_one();
        }
        true
    }

    /// The thread: waits to be armed, polls the host for the armed bits,
    /// and on readiness disarms and wakes the readiness queue.
    fn run(&self, fd: &HostFd) {
        let wake = self.wake.as_ref().expect("armed only with a wake-up");
        loop {
            let want = {
                let mut a = self.armed.lock();
                while a.want == 0 && !a.closed {
                    self.cv.wait(&mut a);
                }
                if a.closed {
                    return;
                }
                a.want
            };
            let r = fd.poll_or_wake(want & poll::POLLIN != 0, want & poll::POLLOUT != 0, wake);
            if r.read || r.write || r.hup || r.err {
                self.armed.lock().want = 0;
                self.readiness.notify_all();
            }
        }
    }

    fn failed(&self) -> bool {
        self.wake.is_none() || self.armed.lock().failed
    }
}

impl Drop for HostStream {
    fn drop(&mut self) {
        self.watcher.armed.lock().closed = true;
        self.watcher.cv.notify_one();
        if let Some(w) = &self.watcher.wake {
            w.wake();
        }
    }
}

impl HostStream {
    /// Duplicates host descriptor `fd` (0, 1 or 2); its readiness changes
    /// wake `readiness`.
    pub fn new(fd: i32, readiness: Arc<WaitQueue>) -> std::io::Result<Self> {
        Ok(Self::from_host(
            HostFd::dup_std(fd)?,
            ["stdin", "stdout", "stderr"][fd as usize % 3],
            readiness,
        ))
    }

    /// A stream over host descriptor `fd` (a standard stream of an OCI
    /// `exec` caller), shown as `name`.
    pub fn from_host(fd: HostFd, name: &'static str, readiness: Arc<WaitQueue>) -> Self {
        Self {
            fd: Arc::new(fd),
            name,
            watcher: Arc::new(Watcher {
                armed: Mutex::default(),
                cv: Condvar::new(),
                wake: Wake::new().ok(),
                readiness,
            }),
        }
    }

    /// The host descriptor (a terminal's settings and queries).
    pub fn host(&self) -> &HostFd {
        &self.fd
    }

    /// The access mode of the host descriptor (O_RDONLY, O_WRONLY, O_RDWR).
    pub fn access_mode(&self) -> u32 {
        self.fd.status_flags().map_or(2, |f| f & 3)
    }

    /// Waits until the host descriptor is ready for reading (or writing):
    /// asleep on the readiness queue, which the watcher wakes; without a
    /// watcher, in slices of the host's poll so a signal for the guest can
    /// interrupt the wait.
    fn wait_ready(&self, read: bool, blocker: &dyn Blocker) -> Result<(), Errno> {
        let bits = if read { poll::POLLIN } else { poll::POLLOUT };
        loop {
            let guard = self.watcher.readiness.prepare(blocker);
            let r = self.fd.poll(read, !read, 0);
            if r.read || r.write || r.hup || r.err {
                return Ok(());
            }
            if !self.watcher.arm(&self.fd, bits) {
                return self.sample_ready(read, blocker);
            }
            guard.sleep(None)?;
        }
    }

    /// [`HostStream::wait_ready`] without a watcher.
    fn sample_ready(&self, read: bool, blocker: &dyn Blocker) -> Result<(), Errno> {
        let waiter = std::sync::Arc::clone(blocker.waiter());
        let mut asleep = None;
        loop {
            let r = self.fd.poll(read, !read, 50);
            if r.read || r.write || r.hup || r.err {
                return Ok(());
            }
            blocker.check_interrupt()?;
            // Not ready at once: /proc shows the task asleep (S).
            asleep.get_or_insert_with(|| waiter.asleep());
        }
    }
}

impl FileOps for HostStream {
    fn read(&self, buf: &mut [u8], nonblock: bool, blocker: &dyn Blocker) -> Result<usize, Errno> {
        if !nonblock {
            self.wait_ready(true, blocker)?;
        }
        self.fd.read(buf).map_err(Errno)
    }

    fn read_short(
        &self,
        buf: &mut [u8],
        want: usize,
        nonblock: bool,
        blocker: &dyn Blocker,
    ) -> Option<(Result<usize, Errno>, usize)> {
        // The host kernel knows what its pipe, terminal or file does with a
        // buffer that turns bad: let it fault on a guard page there. When
        // it says EFAULT it had copied up to the fault, so the whole of
        // `buf` holds data; otherwise what it returned (a further partial
        // copy it may have made into `buf` is not known, nor shown).
        if !nonblock && let Err(e) = self.wait_ready(true, blocker) {
            return Some((Err(e), 0));
        }
        Some(match self.fd.read_then_fault(buf, want - buf.len()) {
            Ok(n) => (Ok(n), n),
            Err(libc::EFAULT) => (Err(Errno::EFAULT), buf.len()),
            Err(e) => (Err(Errno(e)), 0),
        })
    }

    fn write(&self, buf: &[u8], nonblock: bool, blocker: &dyn Blocker) -> Result<usize, Errno> {
        if !nonblock {
            self.wait_ready(false, blocker)?;
        }
        self.fd.write(buf).map_err(Errno)
    }

    /// The host's readiness now; what is not ready is armed, since the
    /// caller may sleep on it (poll, select and epoll sleep on the
    /// readiness queue after asking).
    fn poll(&self) -> u16 {
        let r = self.fd.poll(true, true, 0);
        if !(r.hup || r.err || r.read && r.write) {
            let mut bits = 0;
            if !r.read {
                bits |= poll::POLLIN;
            }
            if !r.write {
                bits |= poll::POLLOUT;
            }
            self.watcher.arm(&self.fd, bits);
        }
        let mut m = 0;
        if r.read {
            m |= poll::POLLIN;
        }
        if r.write {
            m |= poll::POLLOUT;
        }
        if r.hup {
            m |= poll::POLLHUP;
        }
        if r.err {
            m |= poll::POLLERR;
        }
        m
    }

    fn stat(&self) -> Stat {
        // Only the file type and permission bits come from the host.
        let mode = self.fd.mode().unwrap_or(0o020620);
        let is_chr = mode & 0o170000 == 0o020000;
        if is_chr && self.is_terminal() {
            // The sandbox's terminal, /dev/pts/0, whatever the host calls it.
            let (dev, ino, rdev) = super::dev::terminal_identity();
            return Stat {
                mode,
                ino,
                dev,
                rdev,
                nlink: 1,
                blksize: 1024,
                ..Default::default()
            };
        }
        Stat {
            mode,
            ino: 3 + self.fd.raw() as u64,
            dev: if is_chr { 0x16 } else { 0xc },
            rdev: if is_chr { 0x8800 } else { 0 },
            nlink: 1,
            blksize: if is_chr { 1024 } else { 4096 },
            size: 0,
            ..Default::default()
        }
    }

    fn ioctl(&self, request: u64) -> Result<IoctlReply, Errno> {
        const TCGETS: u64 = 0x5401;
        const TIOCGWINSZ: u64 = 0x5413;
        match request {
            TCGETS => self
                .fd
                .termios()
                .map(|t| IoctlReply::Bytes(t.to_vec(), 0))
                .map_err(Errno),
            TIOCGWINSZ => self
                .fd
                .winsize()
                .map(|w| IoctlReply::Bytes(w.to_vec(), 0))
                .map_err(Errno),
            _ => Err(Errno::ENOTTY),
        }
    }

    fn notifies(&self) -> bool {
        !self.watcher.failed()
    }

    fn describe(&self) -> String {
        self.name.to_string()
    }

    fn is_terminal(&self) -> bool {
        self.fd.termios().is_ok()
    }

    fn is_host_stream(&self) -> bool {
        true
    }

    fn link_target(&self) -> String {
        // What the stream is, never the host's name for it.
        let st = self.stat();
        match st.mode & 0o170000 {
            0o010000 => format!("pipe:[{}]", st.ino),
            0o140000 => format!("socket:[{}]", st.ino),
            0o020000 if self.is_terminal() => "/dev/pts/0".into(),
            0o020000 => "/dev/null".into(),
            _ => format!("/dev/{}", self.name),
        }
    }
}

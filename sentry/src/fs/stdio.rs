//! The guest's standard streams: the sentry's own descriptors 0, 1 and 2,
//! reached only through [`crate::host::HostFd`] (read, write, readiness,
//! two terminal queries, and a synthetic fstat). Nothing else of the host is
//! reachable through them.

use crate::host::HostFd;

use super::{FileOps, IoctlReply, Stat, poll};
use crate::errno::Errno;
use crate::kernel::wait::Blocker;

/// One of the host's standard streams.
pub struct HostStream {
    fd: HostFd,
    name: &'static str,
}

impl HostStream {
    /// Duplicates host descriptor `fd` (0, 1 or 2).
    pub fn new(fd: i32) -> std::io::Result<Self> {
        Ok(Self {
            fd: HostFd::dup_std(fd)?,
            name: ["stdin", "stdout", "stderr"][fd as usize % 3],
        })
    }

    /// The host descriptor (a terminal's settings and queries).
    pub fn host(&self) -> &HostFd {
        &self.fd
    }

    /// The access mode of the host descriptor (O_RDONLY, O_WRONLY, O_RDWR).
    pub fn access_mode(&self) -> u32 {
        self.fd.status_flags().map_or(2, |f| f & 3)
    }

    /// Waits until the host descriptor is ready, in slices so a signal for
    /// the guest can interrupt the wait.
    fn wait_ready(&self, read: bool, blocker: &dyn Blocker) -> Result<(), Errno> {
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

    fn poll(&self) -> u16 {
        let r = self.fd.poll(true, true, 0);
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
        false
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

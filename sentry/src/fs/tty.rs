//! The guest's terminal as a file: a standard stream that is the host
//! terminal, or `/dev/tty`. Reads and writes go to the host terminal after
//! the job-control checks of Linux's n_tty (a background process group
//! reading gets SIGTTIN, writing with TOSTOP set gets SIGTTOU); the ioctls
//! are the syscall layer's, on the [`Terminal`] this file names.

use std::sync::Arc;

use super::stdio::HostStream;
use super::{FileOps, IoctlReply, Stat};
use crate::errno::Errno;
use crate::kernel::Kernel;
use crate::kernel::signal::Signal;
use crate::kernel::tty::{self, Terminal};
use crate::kernel::wait::Blocker;

/// `c_lflag`'s TOSTOP: background writers get SIGTTOU.
const TOSTOP: u32 = 0o400;

/// A file that is the guest's terminal.
pub struct TerminalFile {
    stream: Arc<HostStream>,
    term: Arc<Terminal>,
    /// Opened as `/dev/tty` (it stats as that device).
    dev_tty: bool,
}

impl TerminalFile {
    /// The terminal.
    pub fn terminal(&self) -> &Arc<Terminal> {
        &self.term
    }

    /// `/dev/pts/0`: the terminal itself, opened by its name.
    pub fn pts(term: Arc<Terminal>) -> Self {
        Self {
            stream: Arc::clone(&term.stream),
            term,
            dev_tty: false,
        }
    }

    /// `/dev/tty` opened on `term`.
    pub fn dev_tty(term: Arc<Terminal>) -> Self {
        Self {
            stream: Arc::clone(&term.stream),
            term,
            dev_tty: true,
        }
    }

    fn tostop(&self) -> bool {
        self.term
            .stream
            .host()
            .termios()
            .is_ok_and(|t| u32::from_le_bytes([t[12], t[13], t[14], t[15]]) & TOSTOP != 0)
    }
}

/// The guest's file for standard stream `fd` of the sentry: the sandbox's
/// terminal when the stream is a host terminal (the first such stream
/// makes it; another terminal device stays a plain stream), else the
/// stream itself.
pub fn std_stream(kernel: &Kernel, stream: HostStream) -> Box<dyn FileOps> {
    if !stream.is_terminal() {
        return Box::new(stream);
    }
    if let Some(term) = kernel.terminal.get()
        && term.rdev != stream.host().rdev()
    {
        return Box::new(stream);
    }
    let stream = Arc::new(stream);
    let term = kernel
        .terminal
        .get_or_init(|| Terminal::new(Arc::clone(&stream)));
    Box::new(TerminalFile {
        stream,
        term: Arc::clone(term),
        dev_tty: false,
    })
}

impl FileOps for TerminalFile {
    fn read(&self, buf: &mut [u8], nonblock: bool, blocker: &dyn Blocker) -> Result<usize, Errno> {
        if let Some(task) = blocker.task() {
            tty::check_change(task, &self.term, Signal::SIGTTIN)?;
        }
        self.stream.read(buf, nonblock, blocker)
    }

    fn read_short(
        &self,
        buf: &mut [u8],
        want: usize,
        nonblock: bool,
        blocker: &dyn Blocker,
    ) -> Option<(Result<usize, Errno>, usize)> {
        if let Some(task) = blocker.task()
            && let Err(e) = tty::check_change(task, &self.term, Signal::SIGTTIN)
        {
            return Some((Err(e), 0));
        }
        self.stream.read_short(buf, want, nonblock, blocker)
    }

    fn write(&self, buf: &[u8], nonblock: bool, blocker: &dyn Blocker) -> Result<usize, Errno> {
        if let Some(task) = blocker.task()
            && self.tostop()
        {
            tty::check_change(task, &self.term, Signal::SIGTTOU)?;
        }
        self.stream.write(buf, nonblock, blocker)
    }

    fn poll(&self) -> u16 {
        self.stream.poll()
    }

    fn stat(&self) -> Stat {
        if self.dev_tty {
            return Stat {
                mode: 0o020666,
                rdev: 5 << 8,
                ino: 11,
                nlink: 1,
                blksize: 4096,
                ..Default::default()
            };
        }
        self.stream.stat()
    }

    fn ioctl(&self, request: u64) -> Result<IoctlReply, Errno> {
        self.stream.ioctl(request)
    }

    fn notifies(&self) -> bool {
        self.stream.notifies()
    }

    fn describe(&self) -> String {
        if self.dev_tty {
            "/dev/tty".into()
        } else {
            self.stream.describe()
        }
    }

    fn is_terminal(&self) -> bool {
        true
    }

    fn link_target(&self) -> String {
        if self.dev_tty {
            "/dev/tty".into()
        } else {
            self.stream.link_target()
        }
    }

    fn as_terminal(&self) -> Option<&TerminalFile> {
        Some(self)
    }

    fn is_host_stream(&self) -> bool {
        true
    }
}

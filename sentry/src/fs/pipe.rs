//! Pipes, as Linux's fs/pipe.c: a ring of page-sized buffers (16 by
//! default, F_SETPIPE_SZ changes it), blocking readers and writers that run
//! on different vCPUs, EOF when every writer is gone, EPIPE when every
//! reader is gone, and atomic writes of up to PIPE_BUF bytes.
//!
//! Memory: every buffer page a pipe holds is charged to the guest's memory
//! cap (`--memory`) while it holds it, as Linux charges pipe pages to the
//! writer's memory cgroup; a write that cannot get a page fails with ENOMEM
//! (or returns what it wrote). A pipe holds at most [`PIPE_MAX_SIZE`]
//! (pipe-max-size, 1 MiB) unless it is shrunk.
//!
//! The same pipe is the buffer of a FIFO (see [`super::fifo`]): an end
//! may then read and write at once (`O_RDWR`), and the end knows the FIFO
//! it belongs to so the last close can drop the pipe, as Linux frees a
//! FIFO's `pipe_inode_info` when its last opener closes.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;
use platform::Platform;

use super::{FileOps, Stat, poll};
use crate::errno::Errno;
use crate::kernel::wait::{Blocker, WaitQueue};

/// Size of a pipe buffer (a page).
const PAGE: usize = 4096;
/// Default capacity of a pipe (Linux's, 16 pages).
pub const PIPE_CAPACITY: usize = 16 * PAGE;
/// Largest size F_SETPIPE_SZ accepts (Linux's /proc/sys/fs/pipe-max-size
/// default; the guest is treated as lacking CAP_SYS_RESOURCE, so it gets
/// EPERM beyond it).
pub const PIPE_MAX_SIZE: usize = 1 << 20;
/// Writes up to this size are atomic.
pub const PIPE_BUF: usize = 4096;

/// One pipe buffer: a page whose bytes `[off, data.len())` are unread.
struct Buffer {
    data: Vec<u8>,
    off: usize,
}

impl Buffer {
    fn len(&self) -> usize {
        self.data.len() - self.off
    }
}

pub(super) struct State {
    bufs: VecDeque<Buffer>,
    /// Capacity in buffers (pages).
    slots: usize,
    /// Ends open for reading and for writing (a FIFO's `O_RDWR` end, and
    /// an opener blocked waiting for its partner, count in both or one).
    pub(super) readers: usize,
    pub(super) writers: usize,
    /// How many times the pipe was opened for reading and for writing
    /// (Linux's `r_counter` and `w_counter`): a FIFO opener blocked until
    /// its partner comes waits for the other counter to move.
    pub(super) r_counter: u64,
    pub(super) w_counter: u64,
}

impl State {
    fn full(&self) -> bool {
        self.bufs.len() >= self.slots
    }
}

/// The shared part of a pipe.
pub struct Pipe {
    pub(super) state: Mutex<State>,
    /// Woken when data arrives, the last writer leaves or (FIFO) a writer
    /// opens.
    pub(super) readable: WaitQueue,
    /// Woken when room appears, the last reader leaves or (FIFO) a reader
    /// opens.
    pub(super) writable: WaitQueue,
    ino: u64,
    /// Where buffer pages are charged.
    machine: Arc<dyn Platform>,
    /// The kernel's readiness queue (poll and epoll sleepers).
    pub(super) readiness: Arc<WaitQueue>,
}

impl Pipe {
    /// An empty pipe with no ends yet; its buffers are charged to
    /// `machine`'s memory cap, and its changes wake `readiness`.
    pub(super) fn new(
        ino: u64,
        machine: Arc<dyn Platform>,
        readiness: Arc<WaitQueue>,
    ) -> Arc<Self> {
        Arc::new(Pipe {
            state: Mutex::new(State {
                bufs: VecDeque::new(),
                slots: PIPE_CAPACITY / PAGE,
                readers: 0,
                writers: 0,
                r_counter: 0,
                w_counter: 0,
            }),
            readable: WaitQueue::default(),
            writable: WaitQueue::default(),
            ino,
            machine,
            readiness,
        })
    }

    /// A new buffer page, charged to the memory cap.
    fn new_buffer(&self) -> Option<Buffer> {
        self.machine.frames().charge(1).then(|| Buffer {
            data: Vec::with_capacity(PAGE),
            off: 0,
        })
    }

    fn release(&self, n: usize) {
        if n > 0 {
            self.machine.frames().uncharge(n as u64);
        }
    }
}

impl Drop for Pipe {
    fn drop(&mut self) {
        let n = self.state.get_mut().bufs.len();
        self.release(n);
    }
}

/// One end of a pipe: a reading one, a writing one, or (a FIFO opened
/// `O_RDWR`) both.
pub struct PipeEnd {
    pipe: Arc<Pipe>,
    read: bool,
    write: bool,
    /// Linux's `f_pipe`: a FIFO reader opened `O_NONBLOCK` while no writer
    /// had it open sees no POLLHUP until a writer has opened since (the
    /// write counter moved past this value).
    hup_hidden_at: Option<u64>,
    /// The FIFO this end belongs to (None for an anonymous pipe).
    fifo: Option<super::fifo::FifoLink>,
}

/// Creates a pipe and returns its (read, write) ends; its buffers are
/// charged to `machine`'s memory cap, and its changes wake `readiness`.
pub fn new_pipe(
    ino: u64,
    machine: Arc<dyn Platform>,
    readiness: Arc<WaitQueue>,
) -> (PipeEnd, PipeEnd) {
    let pipe = Pipe::new(ino, machine, readiness);
    {
        let mut st = pipe.state.lock();
        st.readers = 1;
        st.writers = 1;
        st.r_counter = 1;
        st.w_counter = 1;
    }
    (
        PipeEnd {
            pipe: Arc::clone(&pipe),
            read: true,
            write: false,
            hup_hidden_at: None,
            fifo: None,
        },
        PipeEnd {
            pipe,
            read: false,
            write: true,
            hup_hidden_at: None,
            fifo: None,
        },
    )
}

impl PipeEnd {
    /// An end of `pipe` that has already been counted among its readers
    /// and writers (the FIFO registry counts it when it opens).
    pub(super) fn counted(
        pipe: Arc<Pipe>,
        read: bool,
        write: bool,
        hup_hidden_at: Option<u64>,
        fifo: super::fifo::FifoLink,
    ) -> Self {
        Self {
            pipe,
            read,
            write,
            hup_hidden_at,
            fifo: Some(fifo),
        }
    }

    /// The pipe behind this end.
    pub(super) fn pipe(&self) -> &Arc<Pipe> {
        &self.pipe
    }

    /// pipe_read: `buf.len()` of the `want` bytes asked for fit in the
    /// guest's buffer. A buffer is consumed only when its whole share was
    /// copied: one whose copy would run past the end of `buf` stays in the
    /// pipe, and the read returns what came before it, or EFAULT if nothing
    /// did. Returns the result and how many bytes of `buf` were filled
    /// (with the part of the cut buffer that was copied before the fault).
    fn read_into(
        &self,
        buf: &mut [u8],
        want: usize,
        nonblock: bool,
        blocker: &dyn Blocker,
    ) -> (Result<usize, Errno>, usize) {
        if !self.read {
            return (Err(Errno::EBADF), 0);
        }
        if want == 0 {
            return (Ok(0), 0);
        }
        loop {
            let guard = self.pipe.readable.prepare(blocker);
            {
                let mut st = self.pipe.state.lock();
                let mut done = 0;
                let mut fault = false;
                let mut freed = 0;
                // pipe_read wakes writers only when the pipe was full (none
                // sleeps otherwise; an EPOLLOUT | EPOLLET item is not
                // reported again for room it already had).
                let was_full = st.full();
                while done < want
                    && let Some(b) = st.bufs.front_mut()
                {
                    let chars = b.len().min(want - done);
                    if done + chars > buf.len() {
                        let part = buf.len() - done;
                        buf[done..].copy_from_slice(&b.data[b.off..b.off + part]);
                        fault = true;
                        break;
                    }
                    buf[done..done + chars].copy_from_slice(&b.data[b.off..b.off + chars]);
                    b.off += chars;
                    done += chars;
                    if b.len() == 0 {
                        st.bufs.pop_front();
                        freed += 1;
                    }
                }
                if done > 0 || fault || st.writers == 0 {
                    drop(st);
                    self.pipe.release(freed);
                    if freed > 0 {
                        if was_full {
                            self.pipe.writable.notify_all();
                        }
                        self.pipe.readiness.notify_all();
                    }
                    let filled = if fault { buf.len() } else { done };
                    return if done == 0 && fault {
                        (Err(Errno::EFAULT), filled)
                    } else {
                        (Ok(done), filled)
                    };
                }
            }
            if nonblock {
                return (Err(Errno::EAGAIN), 0);
            }
            if let Err(e) = guard.sleep(None) {
                return (Err(e), 0);
            }
        }
    }

    /// Whether `other` is an end of the same pipe.
    pub fn same_pipe(&self, other: &PipeEnd) -> bool {
        Arc::ptr_eq(&self.pipe, &other.pipe)
    }

    /// For splice and tee: waits until the pipe holds data (`Ok(true)`)
    /// or has no writer left (`Ok(false)`); EAGAIN instead of waiting when
    /// `nonblock`; EBADF on an end that cannot read.
    pub fn wait_data(&self, nonblock: bool, blocker: &dyn Blocker) -> Result<bool, Errno> {
        if !self.read {
            return Err(Errno::EBADF);
        }
        loop {
            let guard = self.pipe.readable.prepare(blocker);
            {
                let st = self.pipe.state.lock();
                if !st.bufs.is_empty() {
                    return Ok(true);
                }
                if st.writers == 0 {
                    return Ok(false);
                }
            }
            if nonblock {
                return Err(Errno::EAGAIN);
            }
            guard.sleep(None)?;
        }
    }

    /// For splice and tee: waits until the pipe has room, and returns how
    /// many bytes fit in its free buffers; EPIPE with no reader, EAGAIN
    /// instead of waiting when `nonblock`, EBADF on an end that cannot
    /// write.
    pub fn wait_room(&self, nonblock: bool, blocker: &dyn Blocker) -> Result<usize, Errno> {
        if !self.write {
            return Err(Errno::EBADF);
        }
        loop {
            let guard = self.pipe.writable.prepare(blocker);
            {
                let st = self.pipe.state.lock();
                if st.readers == 0 {
                    return Err(Errno::EPIPE);
                }
                if !st.full() {
                    return Ok((st.slots - st.bufs.len()) * PAGE);
                }
            }
            if nonblock {
                return Err(Errno::EAGAIN);
            }
            guard.sleep(None)?;
        }
    }

    /// For tee: copies up to `buf.len()` bytes from the front of the pipe
    /// without consuming them.
    pub fn peek(&self, buf: &mut [u8]) -> usize {
        let st = self.pipe.state.lock();
        let mut done = 0;
        for b in &st.bufs {
            if done == buf.len() {
                break;
            }
            let n = b.len().min(buf.len() - done);
            buf[done..done + n].copy_from_slice(&b.data[b.off..b.off + n]);
            done += n;
        }
        done
    }

    /// F_GETPIPE_SZ.
    pub fn size(&self) -> usize {
        self.pipe.state.lock().slots * PAGE
    }

    /// F_SETPIPE_SZ: rounds up to a power-of-two number of pages; EPERM
    /// past [`PIPE_MAX_SIZE`], EBUSY if the data held would not fit.
    pub fn set_size(&self, size: u64) -> Result<usize, Errno> {
        if size > 1 << 31 {
            return Err(Errno::EINVAL);
        }
        let pages = (size as usize).div_ceil(PAGE).max(1).next_power_of_two();
        let mut st = self.pipe.state.lock();
        if pages > st.slots && pages * PAGE > PIPE_MAX_SIZE {
            return Err(Errno::EPERM);
        }
        if pages < st.bufs.len() {
            return Err(Errno::EBUSY);
        }
        st.slots = pages;
        drop(st);
        self.pipe.writable.notify_all();
        self.pipe.readiness.notify_all();
        Ok(pages * PAGE)
    }
}

impl FileOps for PipeEnd {
    fn read(&self, buf: &mut [u8], nonblock: bool, blocker: &dyn Blocker) -> Result<usize, Errno> {
        let want = buf.len();
        self.read_into(buf, want, nonblock, blocker).0
    }

    fn read_short(
        &self,
        buf: &mut [u8],
        want: usize,
        nonblock: bool,
        blocker: &dyn Blocker,
    ) -> Option<(Result<usize, Errno>, usize)> {
        Some(self.read_into(buf, want, nonblock, blocker))
    }

    /// pipe_write: a write whose length is not a whole number of pages
    /// first tops up the last buffer when it has room (never into an empty
    /// pipe), then fills fresh pages while slots are free. A write of up to
    /// PIPE_BUF bytes therefore goes in whole or waits.
    fn write(&self, buf: &[u8], nonblock: bool, blocker: &dyn Blocker) -> Result<usize, Errno> {
        if !self.write {
            return Err(Errno::EBADF);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let mut done = 0;
        {
            let mut st = self.pipe.state.lock();
            if st.readers == 0 {
                return Err(Errno::EPIPE);
            }
            let chars = buf.len() % PAGE;
            if chars > 0
                && let Some(last) = st.bufs.back_mut()
                && last.data.len() + chars <= PAGE
            {
                last.data.extend_from_slice(&buf[..chars]);
                done = chars;
            }
        }
        if done > 0 {
            self.pipe.readable.notify_all();
            self.pipe.readiness.notify_all();
            if done == buf.len() {
                return Ok(done);
            }
        }
        loop {
            let guard = self.pipe.writable.prepare(blocker);
            let mut wrote = false;
            {
                let mut st = self.pipe.state.lock();
                if st.readers == 0 {
                    return if done > 0 {
                        Ok(done)
                    } else {
                        Err(Errno::EPIPE)
                    };
                }
                while !st.full() && done < buf.len() {
                    let Some(mut b) = self.pipe.new_buffer() else {
                        drop(st);
                        if wrote {
                            self.pipe.readable.notify_all();
                            self.pipe.readiness.notify_all();
                        }
                        return if done > 0 {
                            Ok(done)
                        } else {
                            Err(Errno::ENOMEM)
                        };
                    };
                    let n = (buf.len() - done).min(PAGE);
                    b.data.extend_from_slice(&buf[done..done + n]);
                    st.bufs.push_back(b);
                    done += n;
                    wrote = true;
                }
            }
            if wrote {
                self.pipe.readable.notify_all();
                self.pipe.readiness.notify_all();
            }
            if done == buf.len() {
                return Ok(done);
            }
            if nonblock {
                return if done > 0 {
                    Ok(done)
                } else {
                    Err(Errno::EAGAIN)
                };
            }
            match guard.sleep(None) {
                Ok(_) => {}
                Err(_) if done > 0 => return Ok(done),
                Err(e) => return Err(e),
            }
        }
    }

    /// pipe_poll: a reading end has POLLIN with data and POLLHUP with no
    /// writer (unless hidden, see `hup_hidden_at`); a writing end has
    /// POLLOUT with room and POLLERR with no reader; an `O_RDWR` FIFO end
    /// has both sets.
    fn poll(&self) -> u16 {
        let st = self.pipe.state.lock();
        let mut m = 0;
        if self.read {
            if !st.bufs.is_empty() {
                m |= poll::POLLIN;
            }
            if st.writers == 0 && self.hup_hidden_at != Some(st.w_counter) {
                m |= poll::POLLHUP;
            }
        }
        if self.write {
            if !st.full() {
                m |= poll::POLLOUT;
            }
            if st.readers == 0 {
                m |= poll::POLLERR;
            }
        }
        m
    }

    fn events(&self) -> Option<(u64, u64)> {
        Some((self.pipe.readable.seq(), self.pipe.writable.seq()))
    }

    fn stat(&self) -> Stat {
        if let Some(f) = &self.fifo {
            return f.stat();
        }
        Stat {
            mode: 0o010600, // S_IFIFO | rw-------
            ino: self.pipe.ino,
            dev: 0xc,
            nlink: 1,
            blksize: 4096,
            ..Default::default()
        }
    }

    fn describe(&self) -> String {
        match &self.fifo {
            Some(f) => f.describe(),
            None => format!("pipe:[{}]", self.pipe.ino),
        }
    }

    fn as_pipe(&self) -> Option<&PipeEnd> {
        Some(self)
    }
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        // A FIFO's registry is locked first, so no opener finds the pipe
        // between the last close and its removal.
        let registry = self.fifo.as_ref().map(super::fifo::FifoLink::lock);
        let mut st = self.pipe.state.lock();
        if self.write {
            st.writers -= 1;
        }
        if self.read {
            st.readers -= 1;
        }
        let last = st.readers == 0 && st.writers == 0;
        drop(st);
        if let (Some(mut registry), Some(f)) = (registry, &self.fifo)
            && last
        {
            f.forget(&mut registry, &self.pipe);
        }
        self.pipe.readable.notify_all();
        self.pipe.writable.notify_all();
        self.pipe.readiness.notify_all();
    }
}

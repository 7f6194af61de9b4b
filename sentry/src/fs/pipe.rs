//! Pipes: a bounded byte queue with blocking readers and writers that run
//! on different vCPUs, EOF when every writer is gone, EPIPE when every
//! reader is gone, and atomic writes of up to PIPE_BUF bytes.

use std::collections::VecDeque;
use std::sync::Arc;

use parking_lot::Mutex;

use super::{FileOps, Stat, poll};
use crate::errno::Errno;
use crate::kernel::wait::{Blocker, WaitQueue};

/// Capacity of a pipe (Linux's default, 16 pages).
pub const PIPE_CAPACITY: usize = 65536;
/// Writes up to this size are atomic.
pub const PIPE_BUF: usize = 4096;

struct State {
    buf: VecDeque<u8>,
    readers: usize,
    writers: usize,
}

/// The shared part of a pipe.
pub struct Pipe {
    state: Mutex<State>,
    /// Woken when data arrives or the last writer leaves.
    readable: WaitQueue,
    /// Woken when room appears or the last reader leaves.
    writable: WaitQueue,
    ino: u64,
}

/// One end of a pipe.
pub struct PipeEnd {
    pipe: Arc<Pipe>,
    write: bool,
}

/// Creates a pipe and returns its (read, write) ends.
pub fn new_pipe(ino: u64) -> (PipeEnd, PipeEnd) {
    let pipe = Arc::new(Pipe {
        state: Mutex::new(State {
            buf: VecDeque::new(),
            readers: 1,
            writers: 1,
        }),
        readable: WaitQueue::default(),
        writable: WaitQueue::default(),
        ino,
    });
    (
        PipeEnd {
            pipe: Arc::clone(&pipe),
            write: false,
        },
        PipeEnd { pipe, write: true },
    )
}

impl FileOps for PipeEnd {
    fn read(&self, buf: &mut [u8], nonblock: bool, blocker: &dyn Blocker) -> Result<usize, Errno> {
        if self.write {
            return Err(Errno::EBADF);
        }
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            let guard = self.pipe.readable.prepare(blocker);
            {
                let mut st = self.pipe.state.lock();
                if !st.buf.is_empty() {
                    let n = buf.len().min(st.buf.len());
                    for (dst, src) in buf.iter_mut().zip(st.buf.drain(..n)) {
                        *dst = src;
                    }
                    drop(st);
                    self.pipe.writable.notify_all();
                    super::readiness().notify_all();
                    return Ok(n);
                }
                if st.writers == 0 {
                    return Ok(0);
                }
            }
            if nonblock {
                return Err(Errno::EAGAIN);
            }
            guard.sleep(None)?;
        }
    }

    fn write(&self, buf: &[u8], nonblock: bool, blocker: &dyn Blocker) -> Result<usize, Errno> {
        if !self.write {
            return Err(Errno::EBADF);
        }
        let mut done = 0;
        loop {
            let guard = self.pipe.writable.prepare(blocker);
            {
                let mut st = self.pipe.state.lock();
                if st.readers == 0 {
                    return if done > 0 {
                        Ok(done)
                    } else {
                        Err(Errno::EPIPE)
                    };
                }
                let room = PIPE_CAPACITY - st.buf.len();
                let left = buf.len() - done;
                // Small writes go in whole or not at all.
                let atomic = buf.len() <= PIPE_BUF;
                if room > 0 && (!atomic || room >= left) {
                    let n = room.min(left);
                    st.buf.extend(&buf[done..done + n]);
                    done += n;
                    drop(st);
                    self.pipe.readable.notify_all();
                    super::readiness().notify_all();
                    if done == buf.len() {
                        return Ok(done);
                    }
                    continue;
                }
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
                Err(e) if done > 0 => {
                    let _ = e;
                    return Ok(done);
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn poll(&self) -> u16 {
        let st = self.pipe.state.lock();
        if self.write {
            if st.readers == 0 {
                poll::POLLERR
            } else if st.buf.len() < PIPE_CAPACITY {
                poll::POLLOUT
            } else {
                0
            }
        } else {
            let mut m = 0;
            if !st.buf.is_empty() {
                m |= poll::POLLIN;
            }
            if st.writers == 0 {
                m |= poll::POLLHUP;
            }
            m
        }
    }

    fn stat(&self) -> Stat {
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
        format!("pipe:[{}]", self.pipe.ino)
    }
}

impl Drop for PipeEnd {
    fn drop(&mut self) {
        let mut st = self.pipe.state.lock();
        if self.write {
            st.writers -= 1;
        } else {
            st.readers -= 1;
        }
        drop(st);
        self.pipe.readable.notify_all();
        self.pipe.writable.notify_all();
        super::readiness().notify_all();
    }
}

//! Copies between guest memory and the sentry, the path every syscall's
//! pointer arguments take: each page is faulted in as the guest's own
//! access would be, and a bad page is EFAULT.

use std::sync::Arc;

use platform::PAGE_SIZE;

use super::{Access, AddressSpace, FaultError, TASK_SIZE, page_down, platform_errno};
use crate::errno::Errno;

impl AddressSpace {
    /// Walks `[addr, addr+len)` page by page, faulting pages in as needed,
    /// and calls `f(gpa, byte range)` for each piece.
    pub(super) fn copy(
        &self,
        addr: u64,
        len: usize,
        write: bool,
        force: bool,
        mut f: impl FnMut(u64, std::ops::Range<usize>) -> Result<(), Errno>,
    ) -> Result<(), Errno> {
        if len == 0 {
            return Ok(());
        }
        let end = addr.checked_add(len as u64).ok_or(Errno::EFAULT)?;
        if end > TASK_SIZE {
            return Err(Errno::EFAULT);
        }
        let mut inner = self.inner.lock();
        let mut at = addr;
        while at < end {
            let page = page_down(at);
            let pte = match inner
                .pt
                .lookup(page)
                .map_err(|e| platform_errno(e, Errno::EFAULT))?
            {
                Some(p)
                    if p.flags.write
                        || !write
                        || (force && p.frame != self.machine.zero_frame()) =>
                {
                    p
                }
                _ => {
                    let access = if write { Access::Write } else { Access::Read };
                    let r = if force {
                        self.force_page(&mut inner, page)
                    } else {
                        self.fault_locked(&mut inner, at, access, false)
                    };
                    r.map_err(FaultError::copy_errno)?;
                    match inner
                        .pt
                        .lookup(page)
                        .map_err(|e| platform_errno(e, Errno::EFAULT))?
                    {
                        Some(p) => p,
                        None => return Err(Errno::EFAULT),
                    }
                }
            };
            let chunk_end = (page + PAGE_SIZE).min(end);
            let range = (at - addr) as usize..(chunk_end - addr) as usize;
            f(pte.frame + (at - page), range)?;
            at = chunk_end;
        }
        Ok(())
    }

    /// Copies guest memory at `addr` into `buf` (EFAULT on a bad pointer).
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Errno> {
        let mem = self.machine.memory();
        self.copy(addr, buf.len(), false, false, |gpa, range| {
            mem.read(gpa, &mut buf[range])
                .map_err(|e| platform_errno(e, Errno::EFAULT))
        })
    }

    /// Copies as much of `[addr, addr+buf.len())` as is readable, up to the
    /// first fault, and returns how many bytes that was.
    pub fn read_prefix(&self, addr: u64, buf: &mut [u8]) -> usize {
        let mut done = 0;
        while done < buf.len() {
            let at = addr + done as u64;
            let n = ((PAGE_SIZE - at % PAGE_SIZE) as usize).min(buf.len() - done);
            if self.read(at, &mut buf[done..done + n]).is_err() {
                break;
            }
            done += n;
        }
        done
    }

    /// Copies as much of `data` to `addr` as the guest memory takes, page
    /// by page, and returns how many bytes were written (stops at the first
    /// bad page, like Linux's copy_to_user).
    pub fn write_prefix(&self, addr: u64, data: &[u8]) -> usize {
        let mut done = 0;
        while done < data.len() {
            let at = addr.wrapping_add(done as u64);
            let n = ((PAGE_SIZE - at % PAGE_SIZE) as usize).min(data.len() - done);
            if self.write(at, &data[done..done + n]).is_err() {
                break;
            }
            done += n;
        }
        done
    }

    /// How many bytes from `addr` (at most `len`) lie in writable mappings
    /// (or in the gap a growing stack would fill), without faulting
    /// anything in. A read asks its file for no more than this, so that
    /// data the guest buffer cannot take stays unread, as on Linux where
    /// the copy stops at the first bad page.
    pub fn writable_prefix(&self, addr: u64, len: u64) -> u64 {
        self.inner
            .lock()
            .vmas
            .writable_prefix(addr, len, self.limits.stack())
    }

    /// Copies `data` to guest memory at `addr` (EFAULT on a bad pointer).
    pub fn write(&self, addr: u64, data: &[u8]) -> Result<(), Errno> {
        let mem = self.machine.memory();
        self.copy(addr, data.len(), true, false, |gpa, range| {
            mem.write(gpa, &data[range])
                .map_err(|e| platform_errno(e, Errno::EFAULT))
        })
    }

    /// Reads a NUL-terminated string of at most `max` bytes (without NUL).
    pub fn read_cstring(&self, addr: u64, max: usize) -> Result<Vec<u8>, Errno> {
        let mut out = Vec::new();
        let mut at = addr;
        loop {
            let chunk = (PAGE_SIZE - (at % PAGE_SIZE)) as usize;
            let mut buf = vec![0u8; chunk];
            self.read(at, &mut buf)?;
            if let Some(n) = buf.iter().position(|b| *b == 0) {
                out.extend_from_slice(&buf[..n]);
                // The NUL may be in a later page than `max`: the limit
                // holds for the whole string, not only the pages before.
                if out.len() > max {
                    return Err(Errno::ENAMETOOLONG);
                }
                return Ok(out);
            }
            out.extend_from_slice(&buf);
            if out.len() > max {
                return Err(Errno::ENAMETOOLONG);
            }
            at += chunk as u64;
        }
    }

    /// Reads a little-endian u64.
    pub fn read_u64(&self, addr: u64) -> Result<u64, Errno> {
        let mut b = [0u8; 8];
        self.read(addr, &mut b)?;
        Ok(u64::from_le_bytes(b))
    }

    /// Writes a little-endian u64.
    pub fn write_u64(&self, addr: u64, v: u64) -> Result<(), Errno> {
        self.write(addr, &v.to_le_bytes())
    }

    /// Reads a little-endian u32.
    pub fn read_u32(&self, addr: u64) -> Result<u32, Errno> {
        let mut b = [0u8; 4];
        self.read(addr, &mut b)?;
        Ok(u32::from_le_bytes(b))
    }

    /// Writes a little-endian u32.
    pub fn write_u32(&self, addr: u64, v: u32) -> Result<(), Errno> {
        self.write(addr, &v.to_le_bytes())
    }

    /// Atomic compare-and-exchange on a guest u32 (futexes): returns the
    /// value found; stored `new` if it equalled `old`.
    pub fn cmpxchg_u32(&self, addr: u64, old: u32, new: u32) -> Result<u32, Errno> {
        if !addr.is_multiple_of(4) {
            return Err(Errno::EINVAL);
        }
        let mut found = 0;
        let mem = self.machine.memory();
        self.copy(addr, 4, true, false, |gpa, _| {
            found = mem
                .cmpxchg_u32(gpa, old, new)
                .map_err(|e| platform_errno(e, Errno::EFAULT))?;
            Ok(())
        })?;
        Ok(found)
    }

    /// The futex key of a shared mapping's word: its memory object and
    /// offset, so processes mapping it at different addresses meet.
    pub fn shared_key(&self, addr: u64) -> Option<(usize, u64)> {
        let inner = self.inner.lock();
        let (start, vma) = inner.vmas.find(addr)?;
        let (obj, off) = vma.shared.as_ref()?;
        Some((Arc::as_ptr(obj) as usize, off + (addr - start)))
    }
}

//! Memory syscalls: brk, mmap, munmap, mprotect, mremap, madvise.

use crate::errno::Errno;
use crate::kernel::task::{SysResult, TaskCtx};

/// brk(addr).
pub fn brk(t: &mut TaskCtx, addr: u64) -> SysResult {
    Ok(t.mm().brk(addr))
}

/// mmap(addr, len, prot, flags, fd, off).
pub fn mmap(t: &mut TaskCtx, args: [u64; 6]) -> SysResult {
    let [addr, len, prot, flags, fd, off] = args;
    if off % platform::PAGE_SIZE != 0 {
        return Err(Errno::EINVAL.into());
    }
    let mm = t.mm();
    let start = mm.mmap(addr, len, prot, flags, fd as i32 as i64)?;
    let task = &t.task;
    mm.populate(start, len, flags, &|| {
        task.tg.is_exiting() || task.is_zapped()
    });
    Ok(start)
}

/// munmap(addr, len).
pub fn munmap(t: &mut TaskCtx, addr: u64, len: u64) -> SysResult {
    t.mm().munmap(addr, len)?;
    Ok(0)
}

/// mprotect(addr, len, prot).
pub fn mprotect(t: &mut TaskCtx, addr: u64, len: u64, prot: u64) -> SysResult {
    t.mm().mprotect(addr, len, prot)?;
    Ok(0)
}

/// mremap(old, old_len, new_len, flags, new_addr).
pub fn mremap(t: &mut TaskCtx, args: [u64; 6]) -> SysResult {
    Ok(t.mm().mremap(args[0], args[1], args[2], args[3], args[4])?)
}

/// madvise(addr, len, advice).
pub fn madvise(t: &mut TaskCtx, addr: u64, len: u64, advice: u64) -> SysResult {
    t.mm().madvise(addr, len, advice)?;
    Ok(0)
}

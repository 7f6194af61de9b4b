//! eventfd and eventfd2 (the file is fs/eventfd.rs).

use std::sync::Arc;

use crate::errno::Errno;
use crate::fs::eventfd::{EFD_SEMAPHORE, EventFd};
use crate::fs::{O_CLOEXEC, O_NONBLOCK, OpenFile};
use crate::kernel::task::{SysResult, TaskCtx};

/// eventfd2(initval, flags); eventfd(initval) is flags 0.
pub fn eventfd2(t: &mut TaskCtx, initval: u32, flags: u32) -> SysResult {
    if flags & !(EFD_SEMAPHORE | O_CLOEXEC | O_NONBLOCK) != 0 {
        return Err(Errno::EINVAL.into());
    }
    let f = EventFd::new(
        initval,
        flags & EFD_SEMAPHORE != 0,
        Arc::clone(&t.task.kernel.readiness),
    );
    let status = 2 | (flags & O_NONBLOCK); // O_RDWR
    let fd = t.task.files().insert(
        OpenFile::new(Box::new(f), status),
        flags & O_CLOEXEC != 0,
        0,
    )?;
    Ok(fd as u64)
}

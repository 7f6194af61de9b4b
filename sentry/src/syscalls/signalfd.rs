//! signalfd and signalfd4 (the file is fs/signalfd.rs).

use std::sync::Arc;

use crate::abi::UserPtr;
use crate::errno::Errno;
use crate::fs::signalfd::SignalFd;
use crate::fs::{O_CLOEXEC, O_NONBLOCK, OpenFile};
use crate::kernel::signal::SigSet;
use crate::kernel::task::{SysResult, TaskCtx};

/// signalfd4(fd, mask, sizemask, flags); signalfd is flags 0. `fd` -1
/// creates a descriptor; a signalfd's descriptor gets the new mask;
/// anything else is EINVAL.
pub fn signalfd4(
    t: &mut TaskCtx,
    fd: i32,
    mask: UserPtr<SigSet>,
    size: u64,
    flags: u32,
) -> SysResult {
    if flags & !(O_CLOEXEC | O_NONBLOCK) != 0 || size != 8 {
        return Err(Errno::EINVAL.into());
    }
    let mask = mask.read(&t.mm())?;
    if fd != -1 {
        let f = t.task.files().get(i64::from(fd))?;
        let sfd = f.ops.as_signalfd().ok_or(Errno::EINVAL)?;
        sfd.set_mask(mask);
        return Ok(fd as u64);
    }
    let f = SignalFd::new(mask, Arc::downgrade(&t.task));
    let status = 2 | (flags & O_NONBLOCK); // O_RDWR
    let fd = t.task.files().insert(
        OpenFile::new(Box::new(f), status),
        flags & O_CLOEXEC != 0,
        0,
    )?;
    Ok(fd as u64)
}

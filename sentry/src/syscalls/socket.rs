//! Socket calls on descriptors. The sandbox has no sockets yet, so every
//! open descriptor is not a socket: getsockname and getpeername give
//! ENOTSOCK (EBADF for a closed one), as Linux does for a file or a pipe.
//! Programs rely on it: bash sources `~/.bashrc` for `bash -c` when
//! getpeername on its standard input does not fail with ENOTSOCK (it
//! thinks rshd or sshd started it).

use crate::abi::Fd;
use crate::errno::Errno;
use crate::kernel::task::{SysResult, TaskCtx};

/// getsockname(fd, addr, addrlen) and getpeername(fd, addr, addrlen).
pub fn socket_name(t: &mut TaskCtx, fd: Fd) -> SysResult {
    t.task.files().get(fd.0 as i64)?;
    Err(Errno::ENOTSOCK.into())
}

//! Short decoders for the syscall table: each raw argument register
//! becomes its typed value once, where the table calls the handler
//! (`|t, a| signal::kill(t, pid(a[0]), sig(a[1]))`). The types and their
//! rules live in [`crate::abi`].

use crate::abi::fs::OpenFlags;
use crate::abi::mm::{MmapFlags, MmapProt};
use crate::abi::process::WaitOptions;
use crate::abi::signal::SigArg;
use crate::abi::{Abi, Fd, Pid, UserCStr, UserPtr, UserSlice};

/// An `int fd`.
pub const fn fd(raw: u64) -> Fd {
    Fd::from_arg(raw)
}

/// A `pid_t`.
pub const fn pid(raw: u64) -> Pid {
    Pid::from_arg(raw)
}

/// An `int sig`, not yet validated.
pub const fn sig(raw: u64) -> SigArg {
    SigArg::from_arg(raw)
}

/// An `int`: the low 32 bits.
pub const fn int(raw: u64) -> i32 {
    raw as i32
}

/// An `unsigned int`: the low 32 bits.
pub const fn uint(raw: u64) -> u32 {
    raw as u32
}

/// A `(buf, count)` pair: the count is a `size_t`. A count beyond the
/// address space is kept as `usize::MAX` (the copy then faults: EFAULT).
pub fn buf(addr: u64, len: u64) -> UserSlice {
    UserSlice::new(addr, usize::try_from(len).unwrap_or(usize::MAX))
}

/// wait4 and waitid's `int options`, unknown bits kept (the call rejects
/// them).
pub const fn wait_options(raw: u64) -> WaitOptions {
    WaitOptions::from_bits_retain(raw as u32)
}

/// mmap and mprotect's `unsigned long prot`: all 64 bits.
pub const fn mmap_prot(raw: u64) -> MmapProt {
    MmapProt::from_arg(raw)
}

/// mmap's `unsigned long flags`: all 64 bits.
pub const fn mmap_flags(raw: u64) -> MmapFlags {
    MmapFlags::from_arg(raw)
}

/// A pointer the call always dereferences.
pub const fn ptr<T: Abi>(raw: u64) -> UserPtr<T> {
    UserPtr::new(raw)
}

/// A pointer where NULL means "none".
pub const fn opt<T: Abi>(raw: u64) -> Option<UserPtr<T>> {
    UserPtr::nullable(raw)
}

/// A NUL-terminated string (a path) the call always reads.
pub const fn cstr(raw: u64) -> UserCStr {
    UserCStr::new(raw)
}

/// A string where NULL means "none" (utimensat's path).
pub const fn opt_cstr(raw: u64) -> Option<UserCStr> {
    UserCStr::nullable(raw)
}

/// open's `int flags`: the low 32 bits, unknown bits kept.
pub const fn open_flags(raw: u64) -> OpenFlags {
    OpenFlags::from_arg(raw)
}

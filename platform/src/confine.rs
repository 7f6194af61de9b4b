//! Confining the sentry process itself, once its setup is done.
//!
//! The guest never reaches the host kernel directly; this module limits what
//! the *sentry* could do if a bug let a guest take it over. It is the last
//! layer (see `docs/SECURITY.md`):
//!
//! 1. [`close_inherited_fds`]: every descriptor above 2 that the sentry
//!    inherited is closed at the very start of `main`, before anything is
//!    opened, so nothing the caller leaked (a socket, a directory, a
//!    terminal) is reachable from the sentry.
//! 2. [`confine`], right before the first guest instruction, while the
//!    process still has a single thread:
//!    * fresh network, IPC and UTS namespaces when the caller may create
//!      them ([`unshare_namespaces`]; skipped without CAP_SYS_ADMIN);
//!    * `PR_SET_NO_NEW_PRIVS` (no set-uid or file-capability gain, ever);
//!    * every capability dropped: bounding, ambient, inheritable, permitted
//!      and effective sets (the sentry needs none after setup);
//!    * Landlock ([`restrict_filesystem`]): no host path may be written,
//!      created, removed or executed, and only the `--root` tree may be
//!      read (nothing at all without `--root`), plus the program file; TCP
//!      bind/connect, abstract
//!      Unix sockets and signals to other processes are refused too;
//!    * a seccomp-BPF filter ([`SeccompPolicy`]) that allows only the host
//!      syscalls the sentry makes after setup, with argument checks where
//!      they are cheap. Anything else raises `SIGSYS`; the handler writes
//!      `sentry: seccomp: host syscall N not allowed` on stderr and exits
//!      with status 159 (128 + SIGSYS), without running the syscall.
//!
//! The allow-list is [`SeccompPolicy::sentry`]: one table, one line per
//! syscall, each with the reason it is needed. Other host syscalls added to
//! the sentry later must be added there (the test suite runs with the filter
//! on and fails with the message above if one is missing).

use std::io;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;

/// Why the sentry could not confine itself.
#[derive(Debug, thiserror::Error)]
pub enum ConfineError {
    /// Capabilities are per thread: dropping them after a second thread
    /// started would leave that thread privileged.
    #[error("the sentry must confine itself while it has one thread (it has {0})")]
    Threads(usize),
    /// prctl(PR_SET_NO_NEW_PRIVS) failed.
    #[error("cannot set no_new_privs: {0}")]
    NoNewPrivs(io::Error),
    /// Dropping capabilities failed.
    #[error("cannot drop capabilities: {0}")]
    Capabilities(io::Error),
    /// Landlock is available but could not be applied.
    #[error("cannot restrict the file system (Landlock): {0}")]
    Landlock(io::Error),
    /// The filter could not be built (a jump too long: a bug here).
    #[error("cannot build the seccomp filter: {0}")]
    Build(&'static str),
    /// seccomp(SECCOMP_SET_MODE_FILTER) or the SIGSYS handler failed.
    #[error("cannot install the seccomp filter: {0}")]
    Seccomp(io::Error),
    /// The platform's preparation before the filter failed.
    #[error("cannot prepare the platform for confinement: {0}")]
    Platform(io::Error),
}

/// Closes every descriptor from 3 up. Call it first thing in `main`, before
/// anything opens a file: the sentry then holds only what it opens itself.
pub fn close_inherited_fds() -> io::Result<()> {
    // SAFETY: close_range only closes descriptors; at the start of main no
    // Rust object owns a descriptor above 2, so none is closed under an
    // owner's feet.
    let r = unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) };
    if r == 0 {
        return Ok(());
    }
    let err = io::Error::last_os_error();
    if err.raw_os_error() != Some(libc::ENOSYS) {
        return Err(err);
    }
    // Kernels before 5.9: close them one by one up to the descriptor limit.
    // SAFETY: sysconf has no preconditions.
    let max = unsafe { libc::sysconf(libc::_SC_OPEN_MAX) }.clamp(1024, 1 << 20) as i32;
    for fd in 3..max {
        // SAFETY: as above; EBADF for descriptors that are not open.
        unsafe { libc::close(fd) };
    }
    Ok(())
}

/// Kernel-side helper threads (`PF_IO_WORKER`, `PF_USER_WORKER`) that show
/// up in /proc/self/task but never run user code: KVM starts one per VM on
/// recent kernels (`kvm-nx-lpage-recovery`).
const PF_KERNEL_WORKER: u64 = 0x10 | 0x4000;

/// Number of threads of this process that run user code (from
/// /proc/self/task, leaving out kernel workers).
fn thread_count() -> usize {
    let Ok(dir) = std::fs::read_dir("/proc/self/task") else {
        return 1;
    };
    dir.filter_map(Result::ok)
        .filter(|e| {
            let stat = std::fs::read_to_string(e.path().join("stat")).unwrap_or_default();
            // Field 9 (flags) comes after the ")" that ends the name.
            let flags = stat
                .rsplit_once(')')
                .and_then(|(_, rest)| rest.split_whitespace().nth(6))
                .and_then(|f| f.parse::<u64>().ok())
                .unwrap_or(0);
            flags & PF_KERNEL_WORKER == 0
        })
        .count()
}

/// Sets no_new_privs, drops every capability, limits the file system to
/// reading the files and trees in `readable` (Landlock, where the kernel
/// has it) and
/// installs the sentry's seccomp filter. Must be called while the process
/// has one thread; threads started afterwards inherit all of it.
pub fn confine(policy: &SeccompPolicy, readable: &[&Path]) -> Result<(), ConfineError> {
    confine_with_writes(policy, readable, &[])
}

/// [`confine`], and Landlock also grants changing the trees in `writable`
/// (writing, creating, truncating, removing, renaming and linking files,
/// directories, FIFOs and symbolic links beneath them: `:rw` binds). The
/// policy must allow the syscalls ([`SeccompPolicy::with_host_writes`]).
pub fn confine_with_writes(
    policy: &SeccompPolicy,
    readable: &[&Path],
    writable: &[&Path],
) -> Result<(), ConfineError> {
    confine_with_writes_then(policy, readable, writable, &mut || Ok(()))
}

/// [`confine_with_writes`], calling `before_filter` once no_new_privs and
/// Landlock are in place, right before the capabilities are dropped and
/// the seccomp filter installed: processes it forks share the sentry's
/// Landlock domain (so the sentry may signal them) and no_new_privs,
/// without its filter, and must drop their capabilities themselves (the
/// seccomp platform's stub template, [`crate::Platform::prepare_confinement`],
/// first trades root's uid for an unprivileged one, which takes
/// CAP_SETUID).
pub fn confine_with_writes_then(
    policy: &SeccompPolicy,
    readable: &[&Path],
    writable: &[&Path],
    before_filter: &mut dyn FnMut() -> io::Result<()>,
) -> Result<(), ConfineError> {
    let threads = thread_count();
    if threads != 1 {
        return Err(ConfineError::Threads(threads));
    }
    let program = policy.build().map_err(ConfineError::Build)?;
    // Best effort: needs CAP_SYS_ADMIN, which an unprivileged caller lacks.
    if let Err(e) = unshare_namespaces() {
        tracing::debug!("the sentry stays in the caller's network/IPC/UTS namespaces: {e}");
    }
    set_no_new_privs().map_err(ConfineError::NoNewPrivs)?;
    match restrict_filesystem_with_writes(readable, writable) {
        Ok(Some(abi)) => tracing::debug!("Landlock (ABI {abi}) restricts the host file system"),
        Ok(None) => tracing::debug!("this kernel has no Landlock: host paths are not restricted"),
        Err(e) => return Err(ConfineError::Landlock(e)),
    }
    // Before the capabilities go: a helper forked here may still give up
    // root's uid (the seccomp platform's stub template does, so that
    // RLIMIT_NPROC binds its stubs), and drops its capabilities itself.
    before_filter().map_err(ConfineError::Platform)?;
    drop_capabilities().map_err(ConfineError::Capabilities)?;
    install_sigsys_handler().map_err(ConfineError::Seccomp)?;
    install_filter(&program).map_err(ConfineError::Seccomp)
}

/// Moves the calling thread (and the threads it starts later) into fresh,
/// empty network, System V IPC and UTS namespaces: no interface but a down
/// loopback, no shared memory segment or message queue of the host, its own
/// host name. Needs CAP_SYS_ADMIN (fails with EPERM without it).
pub fn unshare_namespaces() -> io::Result<()> {
    // SAFETY: unshare with namespace flags only; it changes no memory.
    let r = unsafe { libc::unshare(libc::CLONE_NEWNET | libc::CLONE_NEWIPC | libc::CLONE_NEWUTS) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// prctl(PR_SET_NO_NEW_PRIVS, 1).
pub fn set_no_new_privs() -> io::Result<()> {
    // SAFETY: a plain prctl with integer arguments.
    let r = unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;
const CAP_SETPCAP: u32 = 8;

fn capget() -> io::Result<[CapData; 2]> {
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: a version-3 header and room for its two data words.
    let r = unsafe { libc::syscall(libc::SYS_capget, &mut header, data.as_mut_ptr()) };
    if r == 0 {
        Ok(data)
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Drops every capability of the calling thread: the bounding set (when the
/// thread may, i.e. holds CAP_SETPCAP), the ambient set, then inheritable,
/// permitted and effective. Fails if any effective or permitted bit is left.
pub fn drop_capabilities() -> io::Result<()> {
    let before = capget()?;
    if before[0].effective & (1 << CAP_SETPCAP) != 0 {
        for cap in 0..64 {
            // SAFETY: a plain prctl with integer arguments.
            let r = unsafe { libc::prctl(libc::PR_CAPBSET_DROP, cap, 0, 0, 0) };
            if r != 0 {
                // EINVAL: past the kernel's last capability.
                break;
            }
        }
    }
    // SAFETY: a plain prctl with integer arguments. Kernels before 4.3 have
    // no ambient set (EINVAL), which is just as empty.
    unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL,
            0,
            0,
            0,
        )
    };
    let mut header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let data = [CapData::default(); 2];
    // SAFETY: a version-3 header and its two (all-zero) data words.
    let r = unsafe { libc::syscall(libc::SYS_capset, &mut header, data.as_ptr()) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    let after = capget()?;
    if after
        .iter()
        .any(|d| d.effective | d.permitted | d.inheritable != 0)
    {
        return Err(io::Error::other("capabilities are still held after capset"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Landlock.

#[repr(C)]
struct LandlockRulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

#[repr(C, packed)]
struct LandlockPathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

const LANDLOCK_CREATE_RULESET_VERSION: u32 = 1;
const LANDLOCK_RULE_PATH_BENEATH: u32 = 1;
const LANDLOCK_ACCESS_FS_READ_FILE: u64 = 1 << 2;
const LANDLOCK_ACCESS_FS_READ_DIR: u64 = 1 << 3;

/// The file-system rights Landlock ABI `abi` knows (all of them are
/// handled, that is denied unless a rule grants them).
fn landlock_fs_rights(abi: i64) -> u64 {
    match abi {
        1 => (1 << 13) - 1,     // EXECUTE ..= MAKE_SYM
        2 => (1 << 14) - 1,     // + REFER
        3 | 4 => (1 << 15) - 1, // + TRUNCATE
        _ => (1 << 16) - 1,     // + IOCTL_DEV
    }
}

/// Restricts the calling thread (and the threads it starts later) with
/// Landlock: every file-system right is handled, and only reading the
/// files in `readable`, and the files and directories beneath the
/// directories in it, is granted. Descriptors that
/// are already open (the standard streams, the VM, the memory pool) keep
/// working. Returns the Landlock ABI used, or `None` when the kernel has
/// no Landlock (then nothing is restricted). Needs no_new_privs.
pub fn restrict_filesystem(readable: &[&Path]) -> io::Result<Option<i64>> {
    restrict_filesystem_with_writes(readable, &[])
}

/// Landlock rights to change a tree (ABI 1): write files, remove files and
/// directories, make directories, regular files, socket files (the inert
/// inode a Unix socket's bind makes), FIFOs and symbolic links (never
/// devices).
const LANDLOCK_WRITE_TREE: u64 =
    (1 << 1) | (1 << 4) | (1 << 5) | (1 << 7) | (1 << 8) | (1 << 9) | (1 << 10) | (1 << 12);

/// [`restrict_filesystem`], granting also the rights to change the trees
/// in `writable` (with REFER and TRUNCATE where the ABI has them).
pub fn restrict_filesystem_with_writes(
    readable: &[&Path],
    writable: &[&Path],
) -> io::Result<Option<i64>> {
    // SAFETY: the version query takes a null attribute and size 0.
    let abi = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<LandlockRulesetAttr>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    if abi < 1 {
        return Ok(None);
    }
    let attr = LandlockRulesetAttr {
        handled_access_fs: landlock_fs_rights(abi),
        // ABI 4: TCP bind and connect.
        handled_access_net: if abi >= 4 { 0b11 } else { 0 },
        // ABI 6: abstract Unix sockets and signals outside the domain.
        scoped: if abi >= 6 { 0b11 } else { 0 },
    };
    let size = match abi {
        1..=3 => 8usize,
        4 | 5 => 16,
        _ => std::mem::size_of::<LandlockRulesetAttr>(),
    };
    // SAFETY: attr is valid for `size` bytes (a prefix of the struct).
    let fd = unsafe { libc::syscall(libc::SYS_landlock_create_ruleset, &attr, size, 0u32) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: the kernel just returned this new descriptor; we own it.
    let ruleset = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(fd as i32) };
    // A path that cannot be opened grants nothing (a missing --root: the
    // guest sees no files, as the root filesystem itself does).
    let extra = match abi {
        1 => 0,
        2 => 1 << 13,
        _ => (1 << 13) | (1 << 14),
    };
    let trees = readable
        .iter()
        .map(|p| (p, false))
        .chain(writable.iter().map(|p| (p, true)));
    for (tree, write) in trees.filter_map(|(p, w)| std::fs::File::open(p).ok().map(|f| (f, w))) {
        let is_dir = tree.metadata().is_ok_and(|m| m.is_dir());
        let mut allowed_access = if is_dir {
            LANDLOCK_ACCESS_FS_READ_FILE | LANDLOCK_ACCESS_FS_READ_DIR
        } else {
            LANDLOCK_ACCESS_FS_READ_FILE
        };
        if write && is_dir {
            allowed_access |= LANDLOCK_WRITE_TREE | extra;
        }
        let rule = LandlockPathBeneathAttr {
            allowed_access,
            parent_fd: tree.as_raw_fd(),
        };
        // SAFETY: a valid ruleset descriptor and a valid packed rule.
        let r = unsafe {
            libc::syscall(
                libc::SYS_landlock_add_rule,
                ruleset.as_raw_fd(),
                LANDLOCK_RULE_PATH_BENEATH,
                &rule,
                0u32,
            )
        };
        if r != 0 {
            return Err(io::Error::last_os_error());
        }
    }
    // SAFETY: a valid ruleset descriptor; no flags.
    let r = unsafe { libc::syscall(libc::SYS_landlock_restrict_self, ruleset.as_raw_fd(), 0u32) };
    if r != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Some(abi))
}

// ---------------------------------------------------------------------------
// The seccomp filter.

/// One BPF instruction (`struct sock_filter`).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SockFilter {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

#[repr(C)]
struct SockFprog {
    len: u16,
    filter: *const SockFilter,
}

const BPF_LD_W_ABS: u16 = 0x20;
const BPF_ALU_AND_K: u16 = 0x54;
const BPF_JEQ_K: u16 = 0x15;
const BPF_JSET_K: u16 = 0x45;
const BPF_RET_K: u16 = 0x06;

const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
const SECCOMP_RET_TRAP: u32 = 0x0003_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const SECCOMP_SET_MODE_FILTER: u32 = 1;
const SECCOMP_FILTER_FLAG_TSYNC: u32 = 1;

/// Offsets in `struct seccomp_data`.
const DATA_NR: u32 = 0;
const DATA_ARCH: u32 = 4;
fn arg_lo(i: u8) -> u32 {
    16 + 8 * u32::from(i)
}
fn arg_hi(i: u8) -> u32 {
    arg_lo(i) + 4
}

const fn stmt(code: u16, k: u32) -> SockFilter {
    SockFilter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

/// A condition on one argument (on its low 32 bits unless said otherwise;
/// the kernel itself reads `int`/`unsigned int` arguments that way).
#[derive(Clone, Debug)]
pub enum Check {
    /// None of `mask`'s bits set.
    NoBits {
        /// Argument index.
        arg: u8,
        /// Bits that must be clear.
        mask: u32,
    },
    /// Every bit of `mask` set.
    AllBits {
        /// Argument index.
        arg: u8,
        /// Bits that must be set.
        mask: u32,
    },
    /// Equal to one of `values`.
    OneOf {
        /// Argument index.
        arg: u8,
        /// Accepted values.
        values: Vec<u32>,
    },
    /// All 64 bits equal `value`.
    Eq64 {
        /// Argument index.
        arg: u8,
        /// The value.
        value: u64,
    },
}

impl Check {
    fn len(&self) -> usize {
        match self {
            Check::NoBits { .. } => 2,
            Check::AllBits { .. } => 3,
            Check::OneOf { values, .. } => 1 + values.len(),
            Check::Eq64 { .. } => 4,
        }
    }
}

/// What the filter does with one syscall number.
#[derive(Clone, Debug)]
pub enum Action {
    /// Allowed with any arguments.
    Allow,
    /// Allowed when every check holds; otherwise SIGSYS.
    AllowIf(Vec<Check>),
    /// Fails with this errno without running (the caller has a fallback).
    Errno(u32),
}

/// A syscall, what the filter does with it, and why the sentry needs it.
#[derive(Clone, Debug)]
pub struct Rule {
    /// x86-64 syscall number.
    pub nr: i64,
    /// What to do.
    pub action: Action,
    /// Why (documentation; shown by `docs/SECURITY.md`).
    pub why: &'static str,
}

/// The sentry's seccomp policy: an allow-list, everything else traps.
#[derive(Clone, Debug)]
pub struct SeccompPolicy {
    rules: Vec<Rule>,
}

/// KVM ioctl numbers (`_IO`/`_IOR`/`_IOW`/`_IOWR` with type 0xAE).
pub mod kvm_ioctl {
    use kvm_bindings::*;
    use std::mem::size_of;

    const KVMIO: u32 = 0xAE;
    const fn ioc(dir: u32, nr: u32, size: usize) -> u32 {
        (dir << 30) | ((size as u32) << 16) | (KVMIO << 8) | nr
    }
    const fn io(nr: u32) -> u32 {
        ioc(0, nr, 0)
    }
    const fn iow(nr: u32, size: usize) -> u32 {
        ioc(1, nr, size)
    }
    const fn ior(nr: u32, size: usize) -> u32 {
        ioc(2, nr, size)
    }
    const fn iowr(nr: u32, size: usize) -> u32 {
        ioc(3, nr, size)
    }

    /// KVM_RUN.
    pub const RUN: u32 = io(0x80);
    /// KVM_CHECK_EXTENSION.
    pub const CHECK_EXTENSION: u32 = io(0x03);
    /// KVM_GET_VCPU_MMAP_SIZE.
    pub const GET_VCPU_MMAP_SIZE: u32 = io(0x04);
    /// KVM_GET_SUPPORTED_CPUID.
    pub const GET_SUPPORTED_CPUID: u32 = iowr(0x05, size_of::<kvm_cpuid2>());
    /// KVM_CREATE_VCPU.
    pub const CREATE_VCPU: u32 = io(0x41);
    /// KVM_SET_USER_MEMORY_REGION.
    pub const SET_USER_MEMORY_REGION: u32 = iow(0x46, size_of::<kvm_userspace_memory_region>());
    /// KVM_GET_REGS.
    pub const GET_REGS: u32 = ior(0x81, size_of::<kvm_regs>());
    /// KVM_SET_REGS.
    pub const SET_REGS: u32 = iow(0x82, size_of::<kvm_regs>());
    /// KVM_GET_SREGS.
    pub const GET_SREGS: u32 = ior(0x83, size_of::<kvm_sregs>());
    /// KVM_SET_SREGS.
    pub const SET_SREGS: u32 = iow(0x84, size_of::<kvm_sregs>());
    /// KVM_GET_MSRS.
    pub const GET_MSRS: u32 = iowr(0x88, size_of::<kvm_msrs>());
    /// KVM_SET_MSRS.
    pub const SET_MSRS: u32 = iow(0x89, size_of::<kvm_msrs>());
    /// KVM_GET_FPU.
    pub const GET_FPU: u32 = ior(0x8c, size_of::<kvm_fpu>());
    /// KVM_SET_FPU.
    pub const SET_FPU: u32 = iow(0x8d, size_of::<kvm_fpu>());
    /// KVM_SET_CPUID2.
    pub const SET_CPUID2: u32 = iow(0x90, size_of::<kvm_cpuid2>());
    /// KVM_GET_CPUID2.
    pub const GET_CPUID2: u32 = iowr(0x91, size_of::<kvm_cpuid2>());
    /// KVM_SET_GUEST_DEBUG.
    pub const SET_GUEST_DEBUG: u32 = iow(0x9b, size_of::<kvm_guest_debug>());
    /// KVM_GET_VCPU_EVENTS.
    pub const GET_VCPU_EVENTS: u32 = ior(0x9f, size_of::<kvm_vcpu_events>());
    /// KVM_SET_VCPU_EVENTS.
    pub const SET_VCPU_EVENTS: u32 = iow(0xa0, size_of::<kvm_vcpu_events>());
    /// KVM_GET_XSAVE.
    pub const GET_XSAVE: u32 = ior(0xa4, size_of::<kvm_xsave>());
    /// KVM_SET_XSAVE.
    pub const SET_XSAVE: u32 = iow(0xa5, size_of::<kvm_xsave>());
    /// KVM_GET_XCRS.
    pub const GET_XCRS: u32 = ior(0xa6, size_of::<kvm_xcrs>());
    /// KVM_SET_XCRS.
    pub const SET_XCRS: u32 = iow(0xa7, size_of::<kvm_xcrs>());
    /// KVM_GET_XSAVE2.
    pub const GET_XSAVE2: u32 = ior(0xcf, size_of::<kvm_xsave>());
}

/// Terminal and descriptor ioctls the sentry makes on its standard streams.
/// The guest's controlling terminal passes its settings through to the
/// host terminal (TCSETS*, TIOCSWINSZ, TCSBRK, TCXONC, TCFLSH), so the
/// host's line discipline echoes and edits once. Not TIOCSTI (pushes input
/// into the terminal), not TIOCSPGRP or TIOCSCTTY (the guest's job control
/// is the sentry's own state).
const TCGETS: u32 = 0x5401;
const TCSETS: u32 = 0x5402;
const TCSETSW: u32 = 0x5403;
const TCSETSF: u32 = 0x5404;
const TCSBRK: u32 = 0x5409;
const TCXONC: u32 = 0x540a;
const TCFLSH: u32 = 0x540b;
const TIOCGWINSZ: u32 = 0x5413;
const TIOCSWINSZ: u32 = 0x5414;
const FIONREAD: u32 = 0x541b;
const FIONBIO: u32 = 0x5421;
const FIONCLEX: u32 = 0x5450;
const FIOCLEX: u32 = 0x5451;

const PR_SET_NAME: u32 = 15;
const PR_GET_NAME: u32 = 16;
const PR_SET_VMA: u32 = 0x5356_4d41;

const CLONE_THREAD: u32 = 0x0001_0000;
const CLONE_VM: u32 = 0x0000_0100;

/// open(2) flags that could create or change a host file.
const OPEN_WRITE_FLAGS: u32 =
    (libc::O_WRONLY | libc::O_RDWR | libc::O_CREAT | libc::O_TRUNC) as u32;

impl SeccompPolicy {
    /// The sentry's policy for a process whose pid is `pid` (kicks may only
    /// signal threads of this process).
    pub fn sentry(pid: i32) -> Self {
        use kvm_ioctl as k;
        use libc::*;
        let allow = |nr: c_long, why| Rule {
            nr,
            action: Action::Allow,
            why,
        };
        let allow_if = |nr: c_long, checks: Vec<Check>, why| Rule {
            nr,
            action: Action::AllowIf(checks),
            why,
        };
        let errno = |nr: c_long, e: c_int, why| Rule {
            nr,
            action: Action::Errno(e as u32),
            why,
        };
        let ioctls = vec![
            // Hot path first: one KVM_RUN per guest trap.
            k::RUN,
            k::GET_XSAVE,
            k::SET_XSAVE,
            k::GET_XSAVE2,
            k::CREATE_VCPU,
            k::GET_VCPU_MMAP_SIZE,
            k::SET_USER_MEMORY_REGION,
            k::GET_REGS,
            k::SET_REGS,
            k::GET_SREGS,
            k::SET_SREGS,
            k::GET_MSRS,
            k::SET_MSRS,
            k::GET_FPU,
            k::SET_FPU,
            k::SET_CPUID2,
            k::GET_CPUID2,
            k::GET_SUPPORTED_CPUID,
            k::CHECK_EXTENSION,
            k::SET_GUEST_DEBUG,
            k::GET_VCPU_EVENTS,
            k::SET_VCPU_EVENTS,
            k::GET_XCRS,
            k::SET_XCRS,
            self::TCGETS,
            self::TIOCGWINSZ,
            self::TCSETS,
            self::TCSETSW,
            self::TCSETSF,
            self::TCSBRK,
            self::TCXONC,
            self::TCFLSH,
            self::TIOCSWINSZ,
            self::FIONREAD,
            self::FIONBIO,
            self::FIOCLEX,
            self::FIONCLEX,
        ];
        let no_exec = |arg| Check::NoBits {
            arg,
            mask: PROT_EXEC as u32,
        };
        let read_only_open = |arg| Check::NoBits {
            arg,
            mask: OPEN_WRITE_FLAGS,
        };
        let rules = vec![
            // Ordered roughly by frequency: the filter tests them in order.
            allow_if(
                SYS_ioctl,
                vec![Check::OneOf {
                    arg: 1,
                    values: ioctls,
                }],
                "KVM vCPU/VM ioctls (KVM_RUN, XSAVE, vCPU creation, memslots) and \
                 terminal queries and settings on the standard streams",
            ),
            allow(SYS_futex, "locks, condition variables, thread join"),
            allow(SYS_sched_yield, "spin loops in mm and syscalls"),
            allow(SYS_write, "standard streams, log, memfd"),
            allow(SYS_read, "standard streams, root filesystem files"),
            allow(SYS_poll, "readiness of the standard streams"),
            allow(SYS_ppoll, "readiness of the standard streams"),
            allow(SYS_rt_sigprocmask, "thread start, kick signal"),
            allow(
                SYS_rt_sigtimedwait,
                "the host-signal thread takes the signals it forwards to the guest",
            ),
            allow_if(
                SYS_mmap,
                vec![no_exec(2)],
                "heap, thread stacks, kvm_run; never executable",
            ),
            allow_if(
                SYS_mprotect,
                vec![no_exec(2)],
                "guard pages; never executable",
            ),
            allow(SYS_munmap, "heap, thread stacks"),
            allow(
                SYS_madvise,
                "returning guest frames (MADV_REMOVE), freeing stacks",
            ),
            allow(SYS_mremap, "growing large heap blocks"),
            allow(SYS_brk, "heap"),
            allow(SYS_gettid, "kick bookkeeping"),
            allow(SYS_getpid, "kick bookkeeping, abort"),
            allow_if(
                SYS_tgkill,
                vec![Check::OneOf {
                    arg: 0,
                    values: vec![pid as u32],
                }],
                "kicking a vCPU thread out of KVM_RUN; only threads of this process",
            ),
            allow(SYS_rt_sigreturn, "return from the kick and SIGSYS handlers"),
            allow(SYS_rt_sigaction, "installing the kick handler"),
            allow(
                SYS_sigaltstack,
                "thread start and exit (stack-overflow handler)",
            ),
            allow(SYS_clock_gettime, "clocks (when the vDSO falls back)"),
            allow(SYS_clock_getres, "clock_getres for the guest"),
            allow(SYS_gettimeofday, "clocks (when the vDSO falls back)"),
            allow(SYS_time, "clocks (when the vDSO falls back)"),
            allow(SYS_nanosleep, "sleeps, itimers"),
            allow(SYS_clock_nanosleep, "sleeps, itimers"),
            allow(
                SYS_restart_syscall,
                "an interrupted sleep restarted after a kick",
            ),
            // Threads (vCPU workers, itimers). clone3 keeps its flags in
            // memory the filter cannot read, so it fails with ENOSYS and
            // glibc falls back to clone, whose flags are checked: threads
            // only, never a new process.
            allow_if(
                SYS_clone,
                vec![Check::AllBits {
                    arg: 0,
                    mask: self::CLONE_THREAD | self::CLONE_VM,
                }],
                "new threads only (CLONE_THREAD|CLONE_VM)",
            ),
            errno(
                SYS_clone3,
                ENOSYS,
                "flags unreadable by the filter: glibc falls back to clone",
            ),
            allow(SYS_set_robust_list, "thread start"),
            allow(SYS_rseq, "thread start"),
            allow(SYS_set_tid_address, "thread start"),
            allow_if(
                SYS_prctl,
                vec![Check::OneOf {
                    arg: 0,
                    values: vec![self::PR_SET_NAME, self::PR_GET_NAME, self::PR_SET_VMA],
                }],
                "naming threads and mappings only",
            ),
            allow(SYS_exit, "thread exit"),
            allow(SYS_exit_group, "sentry exit"),
            allow(
                SYS_sched_getaffinity,
                "available_parallelism (sched_getaffinity, nproc)",
            ),
            allow_if(
                SYS_sched_setaffinity,
                vec![Check::OneOf {
                    arg: 0,
                    values: vec![0],
                }],
                "a worker pins itself to the CPUs its guest task may use; the calling thread only",
            ),
            allow(
                SYS_getcpu,
                "the guest's getcpu and /proc stat: the worker's CPU",
            ),
            allow(
                SYS_getrandom,
                "hash seeds, the guest's getrandom and AT_RANDOM",
            ),
            // The root filesystem, read-only: opening for writing, creating
            // or truncating a host file is refused by flag, and no
            // syscall that changes the host tree (unlink, rename, mkdir,
            // chmod, link...) is allowed. openat2 keeps its flags in memory:
            // ENOSYS, use openat.
            allow_if(
                SYS_openat,
                vec![read_only_open(2)],
                "root filesystem; read-only flags only",
            ),
            allow_if(
                SYS_open,
                vec![read_only_open(1)],
                "root filesystem; read-only flags only",
            ),
            errno(
                SYS_openat2,
                ENOSYS,
                "flags unreadable by the filter: use openat",
            ),
            allow(SYS_close, "descriptors"),
            allow(SYS_close_range, "descriptors"),
            allow(SYS_fcntl, "descriptor flags, F_DUPFD_CLOEXEC"),
            allow(SYS_dup, "descriptors"),
            allow(SYS_dup3, "descriptors"),
            allow(SYS_lseek, "root filesystem files"),
            allow(SYS_pread64, "root filesystem files, ELF loading"),
            allow(SYS_readv, "standard streams, files"),
            allow(SYS_writev, "standard streams"),
            allow(SYS_preadv, "files"),
            allow(SYS_preadv2, "files"),
            allow(SYS_pwrite64, "memfd"),
            allow(SYS_fstat, "root filesystem, standard streams"),
            allow(SYS_stat, "root filesystem"),
            allow(SYS_lstat, "root filesystem"),
            allow(SYS_newfstatat, "root filesystem"),
            allow(SYS_statx, "root filesystem"),
            allow(SYS_statfs, "root filesystem (statfs for the guest)"),
            allow(SYS_fstatfs, "root filesystem (statfs for the guest)"),
            allow(SYS_access, "root filesystem"),
            allow(SYS_faccessat, "root filesystem"),
            allow(SYS_faccessat2, "root filesystem"),
            allow(SYS_readlink, "root filesystem (canonicalize)"),
            allow(SYS_readlinkat, "root filesystem"),
            allow(SYS_getdents64, "root filesystem directories"),
            allow(SYS_getdents, "root filesystem directories"),
            allow(SYS_getcwd, "relative host paths (canonicalize)"),
            allow(
                SYS_memfd_create,
                "anonymous memory files (guest memory, buffers)",
            ),
            allow(SYS_ftruncate, "sizing memfds"),
            allow(SYS_fallocate, "punching holes in memfds"),
            allow(SYS_msync, "memfd mappings"),
            allow(SYS_pipe2, "in-process wake-ups"),
            allow(SYS_eventfd2, "in-process wake-ups"),
            allow_if(
                SYS_prlimit64,
                vec![Check::Eq64 { arg: 2, value: 0 }],
                "reading limits (thread stacks); never setting them",
            ),
            allow(SYS_getrlimit, "reading limits"),
            allow(SYS_getuid, "identity (read only)"),
            allow(SYS_geteuid, "identity (read only)"),
            allow(SYS_getgid, "identity (read only)"),
            allow(SYS_getegid, "identity (read only)"),
            allow(SYS_uname, "host facts (read only)"),
            allow(SYS_sysinfo, "host facts (read only)"),
            allow(SYS_getrusage, "own resource use"),
            allow(SYS_times, "own resource use"),
        ];
        Self { rules }
    }

    /// This policy with host writes allowed, for `:rw` binds (Landlock
    /// confines them to those trees): openat with any flags, mkdirat,
    /// mknodat (FIFOs and socket files: without CAP_MKNOD and Landlock's
    /// MAKE_CHAR/BLOCK a device fails), symlinkat, linkat, unlinkat, renameat2. Never chmod,
    /// chown or utimes, which Landlock does not govern.
    pub fn with_host_writes(mut self) -> Self {
        use libc::*;
        self.rules.retain(|r| r.nr != SYS_openat);
        let allow = |nr: c_long, why| Rule {
            nr,
            action: Action::Allow,
            why,
        };
        self.rules.extend([
            allow(
                SYS_openat,
                ":rw binds: any flags (Landlock confines writes to their trees)",
            ),
            allow(SYS_mkdirat, ":rw binds: mkdir"),
            allow(SYS_mknodat, ":rw binds: FIFOs, socket files"),
            allow(SYS_symlinkat, ":rw binds: symlink"),
            allow(SYS_linkat, ":rw binds: link"),
            allow(SYS_unlinkat, ":rw binds: unlink, rmdir"),
            allow(SYS_renameat2, ":rw binds: rename"),
        ]);
        self
    }

    /// This policy with recvmsg(2) allowed, for the control socket of an
    /// OCI container's sentry, opened before confinement: `exec` requests
    /// arrive on it with the caller's standard streams (SCM_RIGHTS).
    pub fn with_control_socket(mut self) -> Self {
        self.rules.push(Rule {
            nr: libc::SYS_recvmsg,
            action: Action::Allow,
            why: "OCI exec requests on the container's control socket",
        });
        self
    }

    /// This policy with what the seccomp platform (`crate::seccomp`) does
    /// in the sentry: kick its stub threads with the stub kick signal
    /// (`rt_tgsigqueueinfo`, that signal only: `tgkill` stays limited to
    /// the sentry's own threads), kill a stub process (`kill`, SIGKILL
    /// only), and see whether a stub has died and reap it (`waitid`,
    /// `wait4`: the sentry's only children are its stubs). Everything else
    /// it needs (futex on the shared pool, sched_getcpu, yields) the base
    /// policy already allows. The stubs themselves were forked before the
    /// sentry confined itself, from a template that carries their own
    /// filter, not this one.
    pub fn with_stub_processes(mut self) -> Self {
        use libc::*;
        let allow_if = |nr: c_long, checks: Vec<Check>, why| Rule {
            nr,
            action: Action::AllowIf(checks),
            why,
        };
        let allow = |nr: c_long, why| Rule {
            nr,
            action: Action::Allow,
            why,
        };
        self.rules.extend([
            allow_if(
                SYS_rt_tgsigqueueinfo,
                vec![Check::OneOf {
                    arg: 2,
                    values: vec![crate::seccomp::stub::KICK_SIGNAL as u32],
                }],
                "seccomp platform: kicking a stub thread out of guest code; the stub kick signal only",
            ),
            allow_if(
                SYS_kill,
                vec![Check::OneOf {
                    arg: 1,
                    values: vec![SIGKILL as u32],
                }],
                "seccomp platform: ending a stub process; SIGKILL only",
            ),
            allow(SYS_waitid, "seccomp platform: has a stub process died (WNOWAIT)"),
            allow(SYS_wait4, "seccomp platform: reaping a killed stub process"),
        ]);
        self
    }

    /// The rules, in the order the filter tests them.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// A copy with `nr` removed (for tests of a denied call).
    pub fn without(mut self, nr: i64) -> Self {
        self.rules.retain(|r| r.nr != nr);
        self
    }

    /// Compiles the policy to classic BPF.
    pub fn build(&self) -> Result<Vec<SockFilter>, &'static str> {
        let mut p = vec![
            stmt(BPF_LD_W_ABS, DATA_ARCH),
            SockFilter {
                code: BPF_JEQ_K,
                jt: 1,
                jf: 0,
                k: AUDIT_ARCH_X86_64,
            },
            stmt(BPF_RET_K, SECCOMP_RET_KILL_PROCESS),
            // Only x86-64 numbers below match (the x32 ones have bit 30 set
            // and fall through to the trap).
            stmt(BPF_LD_W_ABS, DATA_NR),
        ];
        for rule in &self.rules {
            let block = compile_action(&rule.action)?;
            let skip = u8::try_from(block.len()).map_err(|_| "rule too long")?;
            p.push(SockFilter {
                code: BPF_JEQ_K,
                jt: 0,
                jf: skip,
                k: rule.nr as u32,
            });
            p.extend(block);
        }
        p.push(stmt(BPF_RET_K, SECCOMP_RET_TRAP));
        if p.len() > 4096 {
            return Err("program longer than 4096 instructions");
        }
        Ok(p)
    }
}

/// One rule's block: it always ends in a return, so the accumulator it
/// clobbers is never seen by the next rule.
fn compile_action(action: &Action) -> Result<Vec<SockFilter>, &'static str> {
    let checks = match action {
        Action::Allow => return Ok(vec![stmt(BPF_RET_K, SECCOMP_RET_ALLOW)]),
        Action::Errno(e) => return Ok(vec![stmt(BPF_RET_K, SECCOMP_RET_ERRNO | (e & 0xffff))]),
        Action::AllowIf(checks) => checks,
    };
    let body: usize = checks.iter().map(Check::len).sum();
    // Layout: checks..., ret ALLOW, ret TRAP (at index `fail`).
    let fail = body + 1;
    let mut out = Vec::with_capacity(body + 2);
    let to =
        |from: usize, target: usize| u8::try_from(target - (from + 1)).map_err(|_| "jump too long");
    for check in checks {
        match check {
            Check::NoBits { arg, mask } => {
                out.push(stmt(BPF_LD_W_ABS, arg_lo(*arg)));
                let pc = out.len();
                out.push(SockFilter {
                    code: BPF_JSET_K,
                    jt: to(pc, fail)?,
                    jf: 0,
                    k: *mask,
                });
            }
            Check::AllBits { arg, mask } => {
                out.push(stmt(BPF_LD_W_ABS, arg_lo(*arg)));
                out.push(stmt(BPF_ALU_AND_K, *mask));
                let pc = out.len();
                out.push(SockFilter {
                    code: BPF_JEQ_K,
                    jt: 0,
                    jf: to(pc, fail)?,
                    k: *mask,
                });
            }
            Check::OneOf { arg, values } => {
                out.push(stmt(BPF_LD_W_ABS, arg_lo(*arg)));
                let next = out.len() + values.len();
                for (i, v) in values.iter().enumerate() {
                    let pc = out.len();
                    let last = i + 1 == values.len();
                    out.push(SockFilter {
                        code: BPF_JEQ_K,
                        jt: to(pc, next)?,
                        jf: if last { to(pc, fail)? } else { 0 },
                        k: *v,
                    });
                }
            }
            Check::Eq64 { arg, value } => {
                out.push(stmt(BPF_LD_W_ABS, arg_lo(*arg)));
                let pc = out.len();
                out.push(SockFilter {
                    code: BPF_JEQ_K,
                    jt: 0,
                    jf: to(pc, fail)?,
                    k: *value as u32,
                });
                out.push(stmt(BPF_LD_W_ABS, arg_hi(*arg)));
                let pc = out.len();
                out.push(SockFilter {
                    code: BPF_JEQ_K,
                    jt: 0,
                    jf: to(pc, fail)?,
                    k: (*value >> 32) as u32,
                });
            }
        }
    }
    debug_assert_eq!(out.len(), body);
    out.push(stmt(BPF_RET_K, SECCOMP_RET_ALLOW));
    out.push(stmt(BPF_RET_K, SECCOMP_RET_TRAP));
    Ok(out)
}

/// Installs `program` on every thread of the process (TSYNC). The caller
/// must have set no_new_privs (or hold CAP_SYS_ADMIN).
pub fn install_filter(program: &[SockFilter]) -> io::Result<()> {
    let prog = SockFprog {
        len: u16::try_from(program.len()).map_err(|_| io::Error::from_raw_os_error(libc::E2BIG))?,
        filter: program.as_ptr(),
    };
    // SAFETY: prog points at `program`, alive for the call; the kernel
    // copies the program.
    let r = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            SECCOMP_FILTER_FLAG_TSYNC,
            &prog as *const SockFprog,
        )
    };
    match r {
        0 => Ok(()),
        r if r > 0 => Err(io::Error::other(format!(
            "thread {r} could not be synchronised"
        ))),
        _ => Err(io::Error::last_os_error()),
    }
}

/// The SIGSYS handler: says which host syscall was refused and exits with
/// 159 (128 + SIGSYS). Only async-signal-safe work: formatting into a stack
/// buffer, write(2), _exit(2).
extern "C" fn on_sigsys(_sig: libc::c_int, info: *mut libc::siginfo_t, _ctx: *mut libc::c_void) {
    // `struct siginfo` for SIGSYS: _call_addr at 16, _syscall at 24.
    // SAFETY: the kernel passes a valid siginfo (SA_SIGINFO); SIGSYS from
    // seccomp fills the _sigsys member, whose _syscall int is at offset 24
    // of the 128-byte structure.
    let nr = unsafe { info.cast::<u8>().add(24).cast::<i32>().read_unaligned() };
    let mut buf = [0u8; 96];
    let mut n = 0;
    for b in b"sentry: seccomp: host syscall " {
        buf[n] = *b;
        n += 1;
    }
    let mut digits = [0u8; 12];
    let mut d = 0;
    let mut v = i64::from(nr).unsigned_abs();
    loop {
        digits[d] = b'0' + (v % 10) as u8;
        d += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if nr < 0 {
        buf[n] = b'-';
        n += 1;
    }
    while d > 0 {
        d -= 1;
        buf[n] = digits[d];
        n += 1;
    }
    for b in b" not allowed\n" {
        buf[n] = *b;
        n += 1;
    }
    // SAFETY: write and _exit are async-signal-safe; buf holds n bytes.
    unsafe {
        libc::write(2, buf.as_ptr().cast(), n);
        libc::_exit(159);
    }
}

/// Installs the SIGSYS handler that reports a refused syscall.
pub fn install_sigsys_handler() -> io::Result<()> {
    // SAFETY: a zeroed sigaction with a valid SA_SIGINFO handler and an
    // empty mask is a valid argument; the handler is async-signal-safe.
    let r = unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigsys as *const () as usize;
        sa.sa_flags = libc::SA_SIGINFO;
        libc::sigemptyset(&mut sa.sa_mask);
        libc::sigaction(libc::SIGSYS, &sa, std::ptr::null_mut())
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kvm_ioctl_numbers_match_the_kernel_headers() {
        // Values from <linux/kvm.h> on x86-64.
        assert_eq!(kvm_ioctl::RUN, 0xae80);
        assert_eq!(kvm_ioctl::CREATE_VCPU, 0xae41);
        assert_eq!(kvm_ioctl::SET_USER_MEMORY_REGION, 0x4020_ae46);
        assert_eq!(kvm_ioctl::GET_SREGS, 0x8138_ae83);
        assert_eq!(kvm_ioctl::SET_SREGS, 0x4138_ae84);
        assert_eq!(kvm_ioctl::GET_XSAVE, 0x9000_aea4);
        assert_eq!(kvm_ioctl::SET_XSAVE, 0x5000_aea5);
        assert_eq!(kvm_ioctl::SET_MSRS, 0x4008_ae89);
        assert_eq!(kvm_ioctl::SET_CPUID2, 0x4008_ae90);
    }

    #[test]
    fn host_writes_only_where_landlock_can_confine_them() {
        use libc::*;
        let base = SeccompPolicy::sentry(1);
        let rw = SeccompPolicy::sentry(1).with_host_writes();
        let has = |p: &SeccompPolicy, nr| p.rules().iter().any(|r| r.nr == nr);
        for nr in [
            SYS_mkdirat,
            SYS_unlinkat,
            SYS_renameat2,
            SYS_linkat,
            SYS_symlinkat,
        ] {
            assert!(!has(&base, nr), "{nr} without :rw");
            assert!(has(&rw, nr), "{nr} with :rw");
        }
        // Landlock does not govern these: never allowed.
        for nr in [
            SYS_chmod,
            SYS_fchmod,
            SYS_fchmodat,
            SYS_chown,
            SYS_fchown,
            SYS_fchownat,
            SYS_lchown,
            SYS_utimensat,
            SYS_utimes,
        ] {
            assert!(!has(&rw, nr), "{nr} must stay forbidden");
        }
        assert_eq!(rw.rules().iter().filter(|r| r.nr == SYS_openat).count(), 1);
        assert!(rw.build().is_ok());
    }

    #[test]
    fn every_rule_compiles_and_fits() {
        let p = SeccompPolicy::sentry(1).build().unwrap();
        assert!(p.len() < 4096);
        assert_eq!(p.last().unwrap().k, SECCOMP_RET_TRAP);
    }
}

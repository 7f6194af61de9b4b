//! The syscall table: one dispatcher from number to handler, a support
//! level for every number (what `COVERAGE.md` is generated from), and
//! ENOSYS, logged once, for everything else. One file per family.

pub mod exec;
pub mod file;
pub mod fs;
pub mod futex;
pub mod info;
pub mod mm;
pub mod numbers;
pub mod pidfd;
pub mod poll;
pub mod process;
pub mod signal;
pub mod time;
pub mod trace;

use numbers::nr::*;

use crate::errno::Errno;
use crate::kernel::task::{self, SysResult, TaskCtx};

/// How fully a syscall is implemented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// As Linux does it.
    Full,
    /// Works for what programs commonly do; the note says what is missing.
    Partial(&'static str),
    /// Returns ENOSYS.
    Unimplemented,
}

/// The support level of syscall `nr`.
pub fn support(nr: u64) -> Support {
    use Support::*;
    match nr {
        READ | WRITE | READV | WRITEV | CLOSE | DUP | DUP2 | DUP3 | PIPE | PIPE2 | EXIT
        | EXIT_GROUP | BRK | MUNMAP | MPROTECT | GETPID | GETTID | GETPPID | GETUID | GETEUID
        | GETGID | GETEGID | SET_TID_ADDRESS | UNAME | GETRANDOM | CLOCK_GETTIME | GETTIMEOFDAY
        | TIME | CLOCK_GETRES | NANOSLEEP | KILL | TKILL | TGKILL | RT_SIGPROCMASK
        | RT_SIGPENDING | RT_SIGSUSPEND | RT_SIGRETURN | SIGALTSTACK | PAUSE | ALARM | FORK
        | VFORK | WAIT4 | GETPGID | SETPGID | GETPGRP | SETSID | GETSID | SCHED_YIELD
        | ARCH_PRCTL | RT_SIGACTION | CLOCK_NANOSLEEP => Full,
        MMAP => Partial("anonymous memory only; file mappings return ENODEV"),
        MREMAP => Partial("no MREMAP_DONTUNMAP"),
        MADVISE => Partial(
            "advice other than DONTNEED/FREE/REMOVE/[DO|DONT]FORK/[WIPE|KEEP]ONFORK is accepted and ignored",
        ),
        CLONE | CLONE3 => {
            Partial("no CLONE_PIDFD yet; namespaces give EPERM, CLONE_INTO_CGROUP EBADF")
        }
        WAITID => Partial("no P_PIDFD yet"),
        FCNTL => Partial("descriptor and status flags, pipe sizes; no locks"),
        IOCTL => Partial("TCGETS/TIOCGWINSZ on the standard streams, FIONBIO, FIOCLEX"),
        FSTAT | NEWFSTATAT | STAT | LSTAT | STATX | GETDENTS64 | LSEEK | PREAD64 | READLINK
        | READLINKAT | CHDIR | FCHDIR => Partial(
            "on the read-only root (--root); the sentry's own /proc/self has exe, maps, cmdline and status",
        ),
        OPEN | OPENAT => Partial(
            "read-only root: writing, creating or truncating gives EROFS; host devices give EACCES, sockets ENXIO; a FIFO opens as a pipe of the sandbox's own (never the host's); /dev/null is the sentry's",
        ),
        ACCESS | FACCESSAT | FACCESSAT2 => {
            Partial("W_OK gives EROFS for regular files, directories and links")
        }
        SENDFILE => Partial("at most 1 MiB per call, through a copy"),
        PWRITE64 => Partial("nothing is writable and seekable: ESPIPE or EBADF"),
        MKDIR | RMDIR | UNLINK | CREAT | CHMOD | CHOWN | LCHOWN | TRUNCATE | UTIME | UTIMES
        | MKNOD | MKDIRAT | UNLINKAT | FCHMODAT | FCHOWNAT | MKNODAT | UTIMENSAT | FUTIMESAT
        | RENAME | LINK | SYMLINK | RENAMEAT | RENAMEAT2 | LINKAT | SYMLINKAT => {
            Partial("the root is read-only: EROFS")
        }
        POLL | PPOLL => Partial(
            "the host's standard streams are sampled every 2 ms; pipes and pidfds wake at once",
        ),
        EPOLL_CREATE | EPOLL_CREATE1 | EPOLL_CTL => Full,
        EPOLL_WAIT | EPOLL_PWAIT | EPOLL_PWAIT2 => Partial(
            "level-triggered only (EPOLLET acts as level); the host's standard streams are sampled every 2 ms",
        ),
        PIDFD_OPEN | PIDFD_SEND_SIGNAL | PIDFD_GETFD => Full,
        FUTEX => Partial("no PI futexes (LOCK_PI, WAIT_REQUEUE_PI...): ENOSYS"),
        SET_ROBUST_LIST | GET_ROBUST_LIST | FUTEX_WAITV => Full,
        RT_SIGQUEUEINFO | RT_TGSIGQUEUEINFO | RT_SIGTIMEDWAIT => Full,
        SETITIMER | GETITIMER => Partial("ITIMER_REAL only"),
        PRCTL => Partial("PDEATHSIG, CHILD_SUBREAPER, NAME, DUMPABLE, NO_NEW_PRIVS"),
        PRLIMIT64 | GETRLIMIT => Partial("limits are reported, not enforced (except memory)"),
        SCHED_GETAFFINITY => Full,
        SYSINFO => Partial("uptime of the sandbox, the memory cap as RAM, no load averages"),
        GETCWD => Full,
        RSEQ => Partial("ENOSYS, which libc accepts"),
        EXECVE | EXECVEAT => Partial(
            "static ELF programs from the read-only root (--root); no #! scripts; exec from a non-leader thread keeps its tid",
        ),
        _ => Unimplemented,
    }
}

/// Runs syscall `nr` for the task.
pub fn dispatch(t: &mut TaskCtx, nr: u64, a: [u64; 6]) -> SysResult {
    match nr {
        READ => file::read(t, a[0], a[1], a[2]),
        WRITE => file::write(t, a[0], a[1], a[2]),
        READV => file::readv(t, a[0], a[1], a[2]),
        WRITEV => file::writev(t, a[0], a[1], a[2]),
        PWRITE64 => file::espipe(t, a[0]),
        LSEEK => fs::lseek(t, a[0], a[1], a[2]),
        PREAD64 => fs::pread64(t, a[0], a[1], a[2], a[3]),
        OPEN => fs::open(t, a[0], a[1], a[2]),
        OPENAT => fs::openat(t, a[0], a[1], a[2], a[3]),
        STAT => fs::stat(t, a[0], a[1]),
        STATX => fs::statx(t, a[0], a[1], a[2], a[3], a[4]),
        LSTAT => fs::lstat(t, a[0], a[1]),
        ACCESS => fs::faccessat2(t, -100i64 as u64, a[0], a[1], 0),
        FACCESSAT => fs::faccessat2(t, a[0], a[1], a[2], 0),
        FACCESSAT2 => fs::faccessat2(t, a[0], a[1], a[2], a[3]),
        GETDENTS64 => fs::getdents64(t, a[0], a[1], a[2]),
        SENDFILE => fs::sendfile(t, a[0], a[1], a[2], a[3]),
        CHDIR => fs::chdir(t, a[0]),
        FCHDIR => fs::fchdir(t, a[0]),
        MKDIR | RMDIR | UNLINK | CREAT | CHMOD | CHOWN | LCHOWN | TRUNCATE | UTIME | UTIMES
        | MKNOD => fs::read_only(t, a[0]),
        MKDIRAT | UNLINKAT | FCHMODAT | FCHOWNAT | MKNODAT | UTIMENSAT | FUTIMESAT => {
            fs::read_only(t, a[1])
        }
        RENAME | LINK | SYMLINK => fs::read_only(t, a[1]),
        RENAMEAT | RENAMEAT2 | LINKAT | SYMLINKAT => fs::read_only(t, a[1]),
        CLOSE => file::close(t, a[0]),
        DUP => file::dup(t, a[0]),
        DUP2 => file::dup2(t, a[0], a[1]),
        DUP3 => file::dup3(t, a[0], a[1], a[2]),
        FCNTL => file::fcntl(t, a[0], a[1], a[2]),
        PIPE => file::pipe2(t, a[0], 0),
        PIPE2 => file::pipe2(t, a[0], a[1]),
        IOCTL => file::ioctl(t, a[0], a[1], a[2]),
        FSTAT => file::fstat(t, a[0], a[1]),
        NEWFSTATAT => fs::newfstatat(t, a[0], a[1], a[2], a[3]),
        READLINK => fs::readlinkat(t, -100i64 as u64, a[0], a[1], a[2]),
        READLINKAT => fs::readlinkat(t, a[0], a[1], a[2], a[3]),
        POLL => poll::poll(t, a[0], a[1], a[2]),
        PPOLL => poll::ppoll(t, a),
        EPOLL_CREATE => poll::epoll_create(t, a[0]),
        EPOLL_CREATE1 => poll::epoll_create1(t, a[0]),
        EPOLL_CTL => poll::epoll_ctl(t, a[0], a[1], a[2], a[3]),
        EPOLL_WAIT => poll::epoll_wait(t, a[0], a[1], a[2], a[3]),
        EPOLL_PWAIT => poll::epoll_pwait(t, a),
        EPOLL_PWAIT2 => poll::epoll_pwait2(t, a),
        PIDFD_OPEN => pidfd::pidfd_open(t, a[0], a[1]),
        PIDFD_SEND_SIGNAL => pidfd::pidfd_send_signal(t, a[0], a[1], a[2], a[3]),
        PIDFD_GETFD => pidfd::pidfd_getfd(t, a[0], a[1], a[2]),

        EXECVE => exec::execve(t, a[0], a[1], a[2]),
        EXECVEAT => exec::execveat(t, a[0], a[1], a[2], a[3], a[4]),

        BRK => mm::brk(t, a[0]),
        MMAP => mm::mmap(t, a),
        MUNMAP => mm::munmap(t, a[0], a[1]),
        MPROTECT => mm::mprotect(t, a[0], a[1], a[2]),
        MREMAP => mm::mremap(t, a),
        MADVISE => mm::madvise(t, a[0], a[1], a[2]),

        EXIT => process::exit(t, a[0]),
        EXIT_GROUP => process::exit_group(t, a[0]),
        GETPID => Ok(t.task.tgid() as u64),
        GETTID => Ok(t.task.tid as u64),
        GETPPID => process::getppid(t),
        GETUID | GETEUID | GETGID | GETEGID => Ok(0),
        GETPGID => process::getpgid(t, a[0]),
        GETPGRP => process::getpgid(t, 0),
        SETPGID => process::setpgid(t, a[0], a[1]),
        SETSID => process::setsid(t),
        GETSID => process::getsid(t, a[0]),
        FORK => process::fork(t),
        VFORK => process::vfork(t),
        CLONE => process::clone(t, a),
        CLONE3 => process::clone3(t, a[0], a[1]),
        WAIT4 => process::wait4(t, a[0], a[1], a[2], a[3]),
        WAITID => process::waitid(t, a[0], a[1], a[2], a[3], a[4]),
        SET_TID_ADDRESS => process::set_tid_address(t, a[0]),
        SET_ROBUST_LIST => process::set_robust_list(t, a[0], a[1]),
        GET_ROBUST_LIST => process::get_robust_list(t, a[0], a[1], a[2]),
        PRCTL => process::prctl(t, a[0], a[1]),
        FUTEX => futex::sys_futex(t, a),
        FUTEX_WAITV => futex::sys_futex_waitv(t, a),
        SCHED_YIELD => {
            std::thread::yield_now();
            Ok(0)
        }

        RT_SIGACTION => signal::rt_sigaction(t, a[0], a[1], a[2], a[3]),
        RT_SIGPROCMASK => signal::rt_sigprocmask(t, a[0], a[1], a[2], a[3]),
        RT_SIGPENDING => signal::rt_sigpending(t, a[0], a[1]),
        RT_SIGSUSPEND => signal::rt_sigsuspend(t, a[0], a[1]),
        RT_SIGRETURN => task::sigreturn(t),
        SIGALTSTACK => signal::sigaltstack(t, a[0], a[1]),
        PAUSE => signal::pause(t),
        KILL => signal::kill(t, a[0], a[1]),
        TKILL => signal::tkill(t, a[0], a[1]),
        TGKILL => signal::tgkill(t, a[0], a[1], a[2]),
        RT_SIGQUEUEINFO => signal::rt_sigqueueinfo(t, a[0], a[1], a[2]),
        RT_TGSIGQUEUEINFO => signal::rt_tgsigqueueinfo(t, a[0], a[1], a[2], a[3]),

        CLOCK_GETTIME => time::clock_gettime(t, a[0], a[1]),
        CLOCK_GETRES => time::clock_getres(t, a[0], a[1]),
        GETTIMEOFDAY => time::gettimeofday(t, a[0], a[1]),
        TIME => time::time(t, a[0]),
        NANOSLEEP => time::nanosleep(t, a[0], a[1]),
        CLOCK_NANOSLEEP => time::clock_nanosleep(t, a[0], a[1], a[2], a[3]),
        ALARM => time::alarm(t, a[0]),
        SETITIMER => time::setitimer(t, a[0], a[1], a[2]),
        GETITIMER => time::getitimer(t, a[0], a[1]),
        RT_SIGTIMEDWAIT => time::rt_sigtimedwait(t, a[0], a[1], a[2], a[3]),

        UNAME => info::uname(t, a[0]),
        SYSINFO => info::sysinfo(t, a[0]),
        GETRANDOM => info::getrandom(t, a[0], a[1], a[2]),
        PRLIMIT64 => info::prlimit64(t, a[0], a[1], a[2], a[3]),
        GETRLIMIT => info::getrlimit(t, a[0], a[1]),
        SCHED_GETAFFINITY => info::sched_getaffinity(t, a[0], a[1], a[2]),
        ARCH_PRCTL => info::arch_prctl(t, a[0], a[1]),
        GETCWD => fs::getcwd(t, a[0], a[1]),
        UMASK => {
            let mut fs = t.task.fs.lock();
            let old = fs.umask;
            fs.umask = a[0] as u32 & 0o777;
            Ok(old as u64)
        }
        RSEQ => Err(Errno::ENOSYS.into()),

        _ => {
            t.task.kernel.log_once(nr, || {
                format!("unknown syscall {} ({nr}): returning ENOSYS", name(nr))
            });
            Err(Errno::ENOSYS.into())
        }
    }
}

/// The coverage table (`COVERAGE.md`): every x86-64 syscall number with
/// its support level.
pub fn coverage_markdown() -> String {
    let mut full = 0;
    let mut partial = 0;
    let mut rows = String::new();
    for nr in 0..=numbers::MAX_SYSCALL as u64 {
        let Some(n) = numbers::NAMES[nr as usize] else {
            continue;
        };
        let (level, note) = match support(nr) {
            Support::Full => {
                full += 1;
                ("full", "")
            }
            Support::Partial(note) => {
                partial += 1;
                ("partial", note)
            }
            Support::Unimplemented => ("ENOSYS", ""),
        };
        rows.push_str(&format!("| {nr} | `{n}` | {level} | {note} |\n"));
    }
    format!(
        "# Syscall coverage\n\n\
         Generated from `sentry/src/syscalls/mod.rs` (`support()`); a test keeps it\n\
         current (`SENTRY_UPDATE_COVERAGE=1 cargo test -p sentry coverage` rewrites it).\n\n\
         {full} syscalls are implemented fully and {partial} partly; every other number\n\
         returns ENOSYS and is logged once.\n\n\
         | nr | name | support | notes |\n| --- | --- | --- | --- |\n{rows}"
    )
}

/// The syscall number Linux x86-64 acts on for a raw `rax`: the low 32
/// bits (`do_syscall_64` takes `int nr`, and `do_syscall_x64` compares it
/// as `unsigned int` with the table size). High bits are ignored
/// (`0x1_0000_0027` is getpid); negative numbers (-1 included) and x32
/// numbers (bit 30, this sandbox has no x32 ABI, like a kernel without
/// CONFIG_X86_X32_ABI) come out past the table and give ENOSYS. A restart
/// puts the raw value back in `rax`, as Linux restores `orig_ax`.
pub fn decode_nr(raw: u64) -> u64 {
    raw as u32 as u64
}

/// This layer as the kernel receives it ([`crate::kernel::Kernel::new`]).
pub static TABLE: crate::kernel::SyscallTable = crate::kernel::SyscallTable {
    decode_nr,
    dispatch,
    trace_enter: trace::enter,
    trace_exit: trace::exit,
};

/// The name of syscall `nr`.
pub fn name(nr: u64) -> &'static str {
    numbers::NAMES
        .get(nr as usize)
        .copied()
        .flatten()
        .unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_syscall_has_a_name() {
        for nr in 0..=numbers::MAX_SYSCALL as u64 + 100 {
            if support(nr) != Support::Unimplemented {
                assert_ne!(name(nr), "unknown", "syscall {nr} is supported but unnamed");
            }
        }
    }

    #[test]
    fn coverage_file_is_up_to_date() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../COVERAGE.md");
        let want = coverage_markdown();
        if std::env::var_os("SENTRY_UPDATE_COVERAGE").is_some() {
            std::fs::write(path, &want).unwrap();
        }
        let have = std::fs::read_to_string(path).unwrap_or_default();
        assert!(
            have == want,
            "COVERAGE.md is stale: run SENTRY_UPDATE_COVERAGE=1 cargo test -p sentry coverage"
        );
    }

    #[test]
    fn syscall_numbers_use_the_low_32_bits() {
        assert_eq!(decode_nr(39), 39);
        assert_eq!(decode_nr(0x1_0000_0027), 39);
        assert_eq!(decode_nr(0xffff_ffff_0000_0027), 39);
        for unknown in [u64::MAX, 0xffff_ffff, 0x8000_0027, 0x4000_0027, 0xffff_fffe] {
            assert_eq!(support(decode_nr(unknown)), Support::Unimplemented);
        }
    }

    #[test]
    fn the_table_knows_the_common_numbers() {
        assert_eq!(name(0), "read");
        assert_eq!(name(57), "fork");
        assert_eq!(name(435), "clone3");
        assert_eq!(name(100_000), "unknown");
        assert_eq!(
            support(435),
            Support::Partial("no CLONE_PIDFD yet; namespaces give EPERM, CLONE_INTO_CGROUP EBADF")
        );
        assert_eq!(support(1000), Support::Unimplemented);
    }
}

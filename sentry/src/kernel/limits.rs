//! Resource limits (getrlimit, setrlimit, prlimit64, `/proc/<pid>/limits`)
//! and the sandbox's identity (host name, kernel release).
//!
//! Each process (thread group) owns one [`Rlimits`]: a child starts with a
//! copy of its parent's (fork, clone) and execve keeps it. The rules of
//! Linux's `do_prlimit` (kernel/sys.c) apply: an unknown resource is
//! EINVAL, soft above hard is EINVAL, RLIMIT_NOFILE's hard limit above
//! `fs.nr_open` is EPERM, and raising a hard limit needs CAP_SYS_RESOURCE.
//!
//! The guest is root, but a container's root without CAP_SYS_RESOURCE (as
//! Docker's default capability set and the hosts this project is tested
//! on; the pipe size limit makes the same choice): it may lower any limit
//! and move a soft limit up to its hard one, never raise a hard limit. The
//! sandbox as a whole stays bounded by `--memory`, `--max-tasks` and
//! `--max-files` whatever the guest's limits.
//!
//! Where each limit is enforced:
//!
//! | limit | where |
//! |---|---|
//! | NOFILE | the descriptor table (`fs::FdTable`): EMFILE, dup2 EBADF, F_DUPFD EINVAL |
//! | DATA, AS, STACK | the address space (`mm::AddressSpace`): ENOMEM, stack growth |
//! | FSIZE | regular-file writes and truncation: SIGXFSZ, then EFBIG |
//! | NPROC | clone, for a non-root real uid only (copy_process exempts root) |
//! | CPU | stored (CPU-time accounting raises SIGXCPU) |
//! | CORE, MEMLOCK, RSS, LOCKS, SIGPENDING, MSGQUEUE, NICE, RTPRIO, RTTIME | stored |

use crate::errno::Errno;

/// RLIM_INFINITY.
pub const RLIM_INFINITY: u64 = u64::MAX;

/// Resources Linux knows (RLIMIT_CPU = 0 ... RLIMIT_RTTIME = 15).
pub const RLIM_NLIMITS: u64 = 16;

/// Linux's default `fs.nr_open`: the highest RLIMIT_NOFILE hard limit.
pub const NR_OPEN: u64 = 1 << 20;

/// The node name the guest sees (uname, /proc/sys/kernel/hostname) unless
/// [`set_hostname`] chose another.
pub const HOSTNAME: &str = "sandbox";

/// The node name set by [`set_hostname`] (one sandbox per sentry process).
static HOSTNAME_SET: std::sync::OnceLock<String> = std::sync::OnceLock::new();

/// Sets the node name the guest sees (an OCI config's `hostname`), once,
/// before the guest starts; false if it was already set.
pub fn set_hostname(name: &str) -> bool {
    HOSTNAME_SET.set(name.to_string()).is_ok()
}

/// The node name the guest sees.
pub fn hostname() -> &'static str {
    HOSTNAME_SET.get().map_or(HOSTNAME, String::as_str)
}

/// The kernel release the guest sees (uname, /proc/version,
/// /proc/sys/kernel/osrelease).
pub const RELEASE: &str = "6.18.0-sentry";

/// The kernel version string (uname's `version`).
pub const VERSION: &str = "#1 SMP";

/// Resource numbers (`RLIMIT_*`).
#[allow(missing_docs)]
pub mod resource {
    pub const CPU: u32 = 0;
    pub const FSIZE: u32 = 1;
    pub const DATA: u32 = 2;
    pub const STACK: u32 = 3;
    pub const CORE: u32 = 4;
    pub const RSS: u32 = 5;
    pub const NPROC: u32 = 6;
    pub const NOFILE: u32 = 7;
    pub const MEMLOCK: u32 = 8;
    pub const AS: u32 = 9;
    pub const LOCKS: u32 = 10;
    pub const SIGPENDING: u32 = 11;
    pub const MSGQUEUE: u32 = 12;
    pub const NICE: u32 = 13;
    pub const RTPRIO: u32 = 14;
    pub const RTTIME: u32 = 15;
}

/// One process's limits, (soft, hard) by resource.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rlimits([(u64, u64); RLIM_NLIMITS as usize]);

impl Default for Rlimits {
    /// The limits of the sandbox's init: Linux's defaults for a root
    /// process (INIT_RLIMITS, with RLIMIT_NOFILE at 1024 as systemd and
    /// most container runtimes start programs, and 524288 hard as systemd
    /// gives services: `--max-files` bounds the sandbox's total).
    fn default() -> Self {
        const INF: (u64, u64) = (RLIM_INFINITY, RLIM_INFINITY);
        Self([
            INF,                                 // CPU
            INF,                                 // FSIZE
            INF,                                 // DATA
            (8 << 20, RLIM_INFINITY),            // STACK
            (0, RLIM_INFINITY),                  // CORE
            INF,                                 // RSS
            (63_704, 63_704),                    // NPROC
            (crate::fs::NOFILE as u64, 524_288), // NOFILE
            (8 << 20, 8 << 20),                  // MEMLOCK
            INF,                                 // AS
            INF,                                 // LOCKS
            (63_704, 63_704),                    // SIGPENDING
            (819_200, 819_200),                  // MSGQUEUE
            (0, 0),                              // NICE
            (0, 0),                              // RTPRIO
            INF,                                 // RTTIME
        ])
    }
}

impl Rlimits {
    /// The (soft, hard) limit of `resource`, or None for an unknown one.
    pub fn get(&self, resource: u32) -> Option<(u64, u64)> {
        self.0.get(resource as usize).copied()
    }

    /// The soft limit of `resource` (a known one).
    pub fn soft(&self, resource: u32) -> u64 {
        self.0[resource as usize].0
    }

    /// Sets `resource` to (`cur`, `max`) as Linux's do_prlimit does, in its
    /// order: EINVAL for an unknown resource or `cur > max`, EPERM for an
    /// RLIMIT_NOFILE hard limit above `fs.nr_open` or, without
    /// CAP_SYS_RESOURCE (`privileged`), for raising a hard limit.
    pub fn set(
        &mut self,
        resource: u32,
        cur: u64,
        max: u64,
        privileged: bool,
    ) -> Result<(), Errno> {
        let slot = self.0.get_mut(resource as usize).ok_or(Errno::EINVAL)?;
        if cur > max {
            return Err(Errno::EINVAL);
        }
        if resource == resource::NOFILE && max > NR_OPEN {
            return Err(Errno::EPERM);
        }
        if max > slot.1 && !privileged {
            return Err(Errno::EPERM);
        }
        *slot = (cur, max);
        Ok(())
    }

    /// The limits as `/proc/<pid>/limits` shows them (None: unlimited).
    pub fn for_proc(&self) -> [(Option<u64>, Option<u64>); 16] {
        let v = |x: u64| (x != RLIM_INFINITY).then_some(x);
        self.0.map(|(s, h)| (v(s), v(h)))
    }
}

/// The default of `--max-tasks`: live tasks (threads) in the sandbox.
pub const DEFAULT_MAX_TASKS: u64 = 4096;

/// Limits of the sandbox as a whole, set on the command line; no guest
/// call can raise them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SandboxLimits {
    /// `--max-tasks`: live tasks (threads, processes' leaders included);
    /// fork, vfork, clone and clone3 fail with EAGAIN past it, as Linux's
    /// copy_process at `kernel.threads-max`.
    pub max_tasks: u64,
    /// `--max-files`: descriptors open at once across all processes
    /// (`fs::FileBudget`); allocating one past it fails with ENFILE.
    pub max_files: u64,
}

impl Default for SandboxLimits {
    fn default() -> Self {
        Self {
            max_tasks: DEFAULT_MAX_TASKS,
            max_files: crate::fs::DEFAULT_MAX_FILES,
        }
    }
}

/// Makes `task`'s address space and descriptor table enforce its
/// process's limits (after setrlimit, clone and execve: they keep a copy
/// so their hot paths take no kernel lock).
pub fn apply(task: &crate::kernel::Task) {
    let l = *task.tg.limits.lock();
    if let Some(mm) = task.mm.lock().as_ref() {
        apply_mm(&l, mm);
    }
    task.files.lock().set_nofile(l.soft(resource::NOFILE));
}

/// Makes `mm` enforce the memory limits of `l` (also a new image's, at
/// execve, before it is built: the stack's size depends on RLIMIT_STACK).
pub fn apply_mm(l: &Rlimits, mm: &crate::mm::AddressSpace) {
    mm.limits().set(
        l.soft(resource::AS),
        l.get(resource::DATA).unwrap_or_default(),
        l.soft(resource::STACK),
    );
}

/// Whether creating a task is refused by RLIMIT_NPROC, as Linux's
/// copy_process decides: the real uid's task count (threads included) has
/// reached the soft limit, and the user is neither root (INIT_USER) nor
/// holding CAP_SYS_RESOURCE or CAP_SYS_ADMIN. The sandbox's guest runs as
/// root (uid 0), so for it the limit is stored, not applied.
pub fn nproc_refuses(real_uid: u32, privileged: bool, user_tasks: u64, limit: u64) -> bool {
    user_tasks >= limit && real_uid != 0 && !privileged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_follows_do_prlimit() {
        let mut l = Rlimits::default();
        assert_eq!(l.set(16, 1, 1, true), Err(Errno::EINVAL));
        assert_eq!(l.set(resource::NOFILE, 2, 1, true), Err(Errno::EINVAL));
        assert_eq!(
            l.set(resource::NOFILE, 1, NR_OPEN + 1, true),
            Err(Errno::EPERM)
        );
        assert_eq!(l.set(resource::NOFILE, 100, 200, false), Ok(()));
        assert_eq!(l.get(resource::NOFILE), Some((100, 200)));
        // Lowering is always allowed; raising the hard limit needs the
        // capability.
        assert_eq!(l.set(resource::NOFILE, 50, 300, false), Err(Errno::EPERM));
        assert_eq!(l.set(resource::NOFILE, 200, 200, false), Ok(()));
        assert_eq!(l.set(resource::NOFILE, 10, NR_OPEN, true), Ok(()));
        assert_eq!(l.get(resource::NOFILE), Some((10, NR_OPEN)));
    }

    #[test]
    fn nproc_exempts_root_and_the_capable() {
        assert!(!nproc_refuses(0, false, 10, 5));
        assert!(!nproc_refuses(1000, true, 10, 5));
        assert!(nproc_refuses(1000, false, 5, 5));
        assert!(!nproc_refuses(1000, false, 4, 5));
    }

    #[test]
    fn proc_view_shows_unlimited_as_none() {
        let l = Rlimits::default().for_proc();
        assert_eq!(l[resource::CPU as usize], (None, None));
        assert_eq!(l[resource::STACK as usize], (Some(8 << 20), None));
    }
}

//! The resource limits the sandbox reports (getrlimit, prlimit64,
//! `/proc/<pid>/limits`), and its identity (host name, kernel release).

/// RLIM_INFINITY.
pub const RLIM_INFINITY: u64 = u64::MAX;

/// Resources Linux knows (RLIMIT_CPU = 0 ... RLIMIT_RTTIME = 15).
pub const RLIM_NLIMITS: u64 = 16;

/// The node name the guest sees (uname, /proc/sys/kernel/hostname).
pub const HOSTNAME: &str = "sandbox";

/// The kernel release the guest sees (uname, /proc/version,
/// /proc/sys/kernel/osrelease).
pub const RELEASE: &str = "6.18.0-sentry";

/// The kernel version string (uname's `version`).
pub const VERSION: &str = "#1 SMP";

/// The limits of `resource` (soft, hard).
pub fn limit(resource: u64) -> Option<(u64, u64)> {
    Some(match resource {
        0 | 1 | 4 | 5 | 9 | 10 => (RLIM_INFINITY, RLIM_INFINITY), // CPU FSIZE CORE RSS AS LOCKS
        2 => (RLIM_INFINITY, RLIM_INFINITY),                      // DATA
        3 => (8 << 20, RLIM_INFINITY),                            // STACK
        6 => (63_704, 63_704),                                    // NPROC
        7 => (crate::fs::NOFILE as u64, crate::fs::NOFILE as u64), // NOFILE
        8 => (8 << 20, 8 << 20),                                  // MEMLOCK
        11 => (63_704, 63_704),                                   // SIGPENDING
        12 => (819_200, 819_200),                                 // MSGQUEUE
        13..=15 => (0, 0),                                        // NICE RTPRIO RTTIME
        _ => return None,
    })
}

//! The sentry's /proc, /dev and /sys (issue 9): generated from the
//! sandbox's own state. `t_procfs` compares formats and semantics with
//! the host's kernel; the other tests check what must differ from the
//! host (nothing of the host's /proc leaks) and run busybox's process and
//! memory applets on them.

#[macro_use]
mod common;

differential! {
    t_procfs: [], 0;
}

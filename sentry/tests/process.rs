//! Process-creation (issue B) tests: each guest runs natively and inside the
//! sentry, with glibc and with musl; stdout and exit status must be
//! identical, and every guest must pass its own checks natively (status 0).

#[macro_use]
mod common;

differential! {
    fork_cow: [], 0;
    fork_8mib: [], 0;
    madv_fork: [], 0;
    vfork: [], 0;
    wait_opts: [], 0;
    exitcodes: [], 0;
    exit_signal: [], 0;
    reparent: [], 0;
    many_forks: [], 0;
    pipes: [], 0;
    sleep_alarm: [], 0;
    pgrp: [], 0;
}

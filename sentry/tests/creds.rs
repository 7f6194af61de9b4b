//! Identity calls (issue 10): user and group ids, groups, capabilities,
//! the prctl options about them, personality, unshare and setns. Each guest
//! runs natively (as root) and inside the sentry, with glibc and with musl;
//! stdout and exit status must be identical.

#[macro_use]
mod common;

differential! {
    t_creds: [], 0;
}

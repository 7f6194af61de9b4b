//! Identity calls (issue 10): user and group ids, groups, capabilities,
//! the prctl options about them, personality, unshare and setns. Each guest
//! runs natively (as root) and inside the sentry, with glibc and with musl;
//! stdout and exit status must be identical.

#[macro_use]
mod common;

differential! {
    t_creds: [], 0;
}

/// unshare and setns refuse new namespaces with the errno clone gives for
/// them in the sandbox (one set of namespaces: EPERM, as a container
/// runtime without CAP_SYS_ADMIN). Sandbox only: natively root may create
/// them.
#[test]
fn namespaces_are_refused_alike() {
    for libc in [common::Libc::Glibc, common::Libc::Musl] {
        let out = common::run_sandbox(&testdata::guest("t_creds", libc), &["ns"], b"");
        assert_eq!(
            out.stdout_str(),
            "clone EPERM, unshare EPERM, setns on a pidfd EPERM, with no flags EINVAL\n",
            "{}",
            out.stderr_str()
        );
        assert_eq!(out.status, 0);
    }
}

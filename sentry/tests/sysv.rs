//! SysV IPC (issue 13): shared memory segments, compared with the host
//! kernel.

#[macro_use]
mod common;

differential! {
    t_sysv: [], 0;
}

/// A segment's pages are charged to `--memory`: a child that touches
/// 96 MiB of one under a 32M cap is killed (SIGKILL, as by the OOM
/// killer) and the parent goes on.
#[test]
fn segment_pages_are_charged_to_the_memory_cap() {
    for libc in common::Libc::ALL {
        let prog = testdata::guest("t_sysv", libc);
        let r = common::run_sentry(
            &[
                std::ffi::OsString::from("run"),
                "--memory".into(),
                "32M".into(),
                "--".into(),
                prog.into(),
                "memcap".into(),
            ],
            b"",
        );
        assert_eq!(
            r.stdout_str(),
            "toucher: killed by SIGKILL\n",
            "{libc:?}: {}",
            r.stderr_str()
        );
        assert_eq!(r.status, 0, "{libc:?}");
    }
}

// /proc/sysvipc/{shm,sem,msg}: headers and the lines of the test's own
// objects, in Linux's format.
differential! {
    t_sysvipc_proc: [], 0;
}

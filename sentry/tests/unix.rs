//! Unix domain socket pairs (socketpair, send/recv and their msg forms,
//! shutdown, readiness, socket options, SCM_RIGHTS and SCM_CREDENTIALS),
//! compared with the host kernel.

#[macro_use]
mod common;

differential! {
    t_unix: [], 0;
}

differential! {
    t_unix_listen: [], 0;
}

differential! {
    t_unix_path: [], 0;
    t_unix_dgram: [], 0;
    t_unix_mmsg: [], 0;
    t_unix_opts: [], 0;
}

differential! {
    t_unix_gc: [], 0;
}

/// Runs `t_unix_path PATH` (bind one socket to PATH, then lstat it) in a
/// sandbox with `flags`.
fn bind_in_sandbox(flags: &[&str], path: &str) -> String {
    let guest = testdata::guest("t_unix_path", common::Libc::Musl);
    let mut argv = vec!["run", "--root", "/"];
    argv.extend_from_slice(flags);
    let g = guest.to_str().expect("utf-8 path");
    argv.extend_from_slice(&["--", g, path]);
    let out = common::run_sentry(&argv, b"");
    assert_eq!(out.status, 0, "{}", out.stderr_str());
    out.stdout_str()
}

/// bind to a path in a read-only bind fails with EROFS (as Linux on a
/// read-only mount); in a `:rw` bind it makes a socket file on the host,
/// an inode only: the sandbox's socket is found through it, a host
/// process connecting to it is refused. On the root overlay the socket
/// file lives only in the sandbox's upper layer.
#[test]
fn bind_makes_only_an_inert_host_socket_file() {
    let dir = common::scratch_dir("unix_bind_host");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let ro = format!("{}:/mnt", dir.display());
    let out = bind_in_sandbox(&["--mount", &ro], "/mnt/sock");
    // errno 30 is EROFS (the guest prints the number).
    assert_eq!(out, "bind: -1 errno30\nlstat: -1 ENOENT\n");
    assert_eq!(
        std::fs::read_dir(&dir).expect("readdir").count(),
        0,
        "a host file was made through a read-only bind"
    );
    let rw = format!("{}:/mnt:rw", dir.display());
    let out = bind_in_sandbox(&["--mount", &rw], "/mnt/sock");
    assert_eq!(out, "bind: 0\nlstat: 0\n");
    let host = dir.join("sock");
    let meta = std::fs::symlink_metadata(&host).expect("the socket file is on the host");
    use std::os::unix::fs::FileTypeExt;
    assert!(meta.file_type().is_socket(), "{meta:?}");
    let err = std::os::unix::net::UnixStream::connect(&host).expect_err("no host socket");
    assert_eq!(err.raw_os_error(), Some(111), "{err}");
    // The root is the host's / under an in-memory upper layer.
    let inside = dir.join("overlay-sock");
    let out = bind_in_sandbox(&[], inside.to_str().expect("utf-8"));
    assert_eq!(out, "bind: 0\nlstat: 0\n");
    assert!(!inside.exists(), "bind on the overlay made a host file");
}

/// Stream and datagram sockets bound to paths in a `:rw` bind work as
/// natively in a directory of the host: listen, connect and sendto by
/// path, EADDRINUSE, ECONNREFUSED after close, ENOENT after unlink.
#[test]
fn sockets_in_a_rw_bind_match_native() {
    for libc in [common::Libc::Glibc, common::Libc::Musl] {
        let guest = testdata::guest("t_unix_rwbind", libc);
        let native_dir = common::scratch_dir(&format!("unix_rwbind_native_{libc:?}"));
        let sandbox_dir = common::scratch_dir(&format!("unix_rwbind_sandbox_{libc:?}"));
        for d in [&native_dir, &sandbox_dir] {
            let _ = std::fs::remove_dir_all(d);
            std::fs::create_dir_all(d).expect("mkdir");
        }
        let native = common::run_native(&guest, &[native_dir.to_str().expect("utf-8")], b"");
        let rw = format!("{}:/mnt:rw", sandbox_dir.display());
        let g = guest.to_str().expect("utf-8 path");
        let sandbox = common::run_sentry(&["run", "--mount", &rw, "--", g, "/mnt"], b"");
        common::assert_outcomes_match(&format!("t_unix_rwbind ({libc:?})"), &native, &sandbox);
        assert_eq!(native.status, 0, "{}", native.stdout_str());
    }
}

/// Queued socket data is charged to `--memory`: filling 200 socket pairs
/// (44 MiB natively) in a sandbox capped at 24 MiB stops with ENOBUFS
/// (errno 105) instead of taking host memory past the cap, and the memory
/// comes back when the sockets close.
#[test]
fn socket_buffers_are_charged_to_memory() {
    let guest = testdata::guest("t_unix_mem", common::Libc::Musl);
    let g = guest.to_str().expect("utf-8 path");
    let out = common::run_sentry(&["run", "--root", "/", "--memory", "24M", "--", g], b"");
    assert_eq!(out.status, 0, "{}", out.stderr_str());
    let text = out.stdout_str();
    assert!(text.starts_with("stopped by errno105 after "), "{text}");
    assert!(text.ends_with("after freeing: write 60000\n"), "{text}");
}

differential! {
    t_unix_pair_bind: [], 0;
}

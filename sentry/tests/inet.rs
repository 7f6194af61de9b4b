//! AF_INET/AF_INET6 TCP and UDP on the sandbox's loopback, and
//! NETLINK_ROUTE through getifaddrs, compared with the host kernel; and
//! what only the sandbox promises (nothing leaves it).

#[macro_use]
mod common;

differential! {
    t_inet: [], 0;
}

// Urgent data (MSG_OOB, SIOCATMARK, SO_OOBINLINE) and TCP_INFO's fields.
differential! {
    t_tcp_oob: [], 0;
}

// Non-blocking connects past a full backlog wait in SYN_SENT.
differential! {
    t_tcp_backlog: [], 0;
}

// TIME_WAIT holds the port of the side that closed first.
differential! {
    t_tcp_timewait: [], 0;
}

/// Nothing leaves the sandbox, other families are refused, and `lo` is
/// the only interface: checked against fixed expectations, since the host
/// has a network. (Before this module, every one of these socket calls
/// failed with EAFNOSUPPORT and getifaddrs failed.)
#[test]
fn sandbox_has_only_loopback() {
    for libc in [common::Libc::Glibc, common::Libc::Musl] {
        let out = common::run_sandbox(&testdata::guest("t_inet", libc), &["sandbox"], b"");
        let expect = "-- sandbox
AF_PACKET errno97
AF_INET SOCK_RAW EPERM
AF_BLUETOOTH errno97
AF_INET socketpair EOPNOTSUPP
connect out errno101
connect out v6 errno101
udp out errno101
-- interfaces
lo packet packet/- up 1 loopback 1 running 1
lo inet 127.0.0.1/255.0.0.0 up 1 loopback 1 running 1
lo inet6 ::1/ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff up 1 loopback 1 running 1
other interfaces 0
if_nametoindex(lo) 1
/proc/net/tcp: listening on 127.0.0.1 1, established 2
/proc/net/dev has lo 1
";
        assert_eq!(out.stdout_str(), expect, "{libc:?}: {}", out.stderr_str());
        assert_eq!(out.status, 0);
    }
}

differential! {
    t_inet_echo: [], 0;
}

/// Bytes queued on loopback TCP connections are charged to `--memory`:
/// filling 300 connections (144 KiB each) under a 24 MiB cap stops with
/// ENOBUFS (errno 105) instead of taking host memory past the cap, and the
/// memory comes back when the connections close. (Without the charge every
/// connection fills up and the writes stop only with EAGAIN.)
#[test]
fn tcp_buffers_are_charged_to_memory() {
    let guest = testdata::guest("t_inet_mem", common::Libc::Musl);
    let g = guest.to_str().expect("utf-8 path");
    let out = common::run_sentry(&["run", "--root", "/", "--memory", "24M", "--", g], b"");
    assert_eq!(out.status, 0, "{}", out.stderr_str());
    let text = out.stdout_str();
    assert!(text.starts_with("stopped by errno105 after "), "{text}");
    assert!(text.ends_with("after freeing: write 60000\n"), "{text}");
}

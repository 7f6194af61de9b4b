//! AF_INET/AF_INET6 TCP and UDP on the sandbox's loopback, and
//! NETLINK_ROUTE through getifaddrs, compared with the host kernel; and
//! what only the sandbox promises (nothing leaves it).

#[macro_use]
mod common;

differential! {
    t_inet: [], 0;
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

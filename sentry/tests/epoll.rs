//! epoll's edge-triggered items (EPOLLET) on pipes, Unix sockets and
//! eventfds, with EPOLL_CTL_MOD re-arming, EPOLLONESHOT, nested epoll and a
//! level-triggered item beside an edge-triggered one, compared with the
//! host kernel.

#[macro_use]
mod common;

differential! {
    t_epoll_et: [], 0;
    t_epoll_wake: [], 0;
}

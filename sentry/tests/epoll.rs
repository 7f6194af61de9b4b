//! epoll's edge-triggered items (EPOLLET) on pipes, Unix sockets and
//! eventfds, with EPOLL_CTL_MOD re-arming, EPOLLONESHOT, nested epoll and a
//! level-triggered item beside an edge-triggered one, compared with the
//! host kernel; EPOLLET on timerfd, signalfd, inotify and message queues,
//! EPOLLOUT after the peer reads, and EPOLLEXCLUSIVE (`t_epoll_more`).

#[macro_use]
mod common;

differential! {
    t_epoll_et: [], 0;
    t_epoll_wake: [], 0;
}

differential! {
    t_epoll_more: [], 0;
}

//! timerfd_create, timerfd_settime and timerfd_gettime: clocks, one-shot
//! and interval timers, absolute times, expiration counts, and readiness
//! in poll, select and epoll, compared with the host kernel.

#[macro_use]
mod common;

differential! {
    t_timerfd: [], 0;
}

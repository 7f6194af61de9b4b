//! eventfd and eventfd2: counting, semaphores, the top of the counter,
//! blocking readers and writers, and readiness in poll, select and epoll,
//! compared with the host kernel.

#[macro_use]
mod common;

differential! {
    t_eventfd: [], 0;
}

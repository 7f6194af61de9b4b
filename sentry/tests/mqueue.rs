//! POSIX message queues: mq_open's rules, priorities, limits and
//! timeouts, mq_getsetattr, mq_notify, readiness and wake-ups, compared
//! with the host kernel.

#[macro_use]
mod common;

differential! {
    t_mqueue: [], 0;
}

// mq_notify's registration dropped by the owner's close or exit, and
// SIGEV_THREAD (the libc's, and its netlink cookie by hand).
differential! {
    t_mqueue_notify: [], 0;
}

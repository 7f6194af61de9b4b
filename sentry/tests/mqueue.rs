//! POSIX message queues: mq_open's rules, priorities, limits and
//! timeouts, mq_getsetattr, mq_notify, readiness and wake-ups, compared
//! with the host kernel.

#[macro_use]
mod common;

differential! {
    t_mqueue: [], 0;
}

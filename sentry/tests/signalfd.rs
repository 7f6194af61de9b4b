//! signalfd and signalfd4: the signalfd_siginfo records of SIGCHLD,
//! kill, tgkill and sigqueue, mask updates, and wake-ups of blocking reads
//! and epoll, compared with the host kernel.

#[macro_use]
mod common;

differential! {
    t_signalfd: [], 0;
}

// Readiness follows the polling thread (poll, select, epoll_wait), as
// Linux's signalfd_poll.
differential! {
    t_signalfd_thread: [], 0;
}

//! Advisory locks (issue 9): flock and fcntl record locks, compared with
//! the host kernel on files under /tmp (the sandbox's /tmp is its own
//! tmpfs, the native run uses the host's).

#[macro_use]
mod common;

differential! {
    t_locks: [], 0;
}

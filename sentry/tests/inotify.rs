//! inotify: instances, watches and the events of the sandbox's own files
//! (tmpfs, the writable overlay, read-only files of the root), readiness
//! and the queue limit, compared with the host kernel.

#[macro_use]
mod common;

differential! {
    t_inotify: [], 0;
}

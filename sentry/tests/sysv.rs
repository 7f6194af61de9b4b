//! SysV IPC (issue 13): shared memory segments, compared with the host
//! kernel.

#[macro_use]
mod common;

differential! {
    t_sysv: [], 0;
}

//! Unix domain socket pairs (socketpair, send/recv and their msg forms,
//! shutdown, readiness, socket options, SCM_RIGHTS and SCM_CREDENTIALS),
//! compared with the host kernel.

#[macro_use]
mod common;

differential! {
    t_unix: [], 0;
}

differential! {
    t_unix_listen: [], 0;
}

differential! {
    t_unix_path: [], 0;
    t_unix_dgram: [], 0;
    t_unix_mmsg: [], 0;
    t_unix_opts: [], 0;
}

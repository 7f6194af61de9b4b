//! Scheduling and identity calls (issue 10): `t_sched` runs natively and in
//! the sandbox, with glibc and musl; stdout and status must match. It
//! covers getgroups, getpriority/setpriority, the sched_* policy and
//! parameter calls with SCHED_RESET_ON_FORK, ioprio_get/set, getrusage's
//! checks and PR_SET_NAME/PR_GET_NAME (see testdata/guests/t_sched.c).

#[macro_use]
mod common;

differential! {
    t_sched: [], 0;
    t_sched2: [], 0;
    t_membarrier: [], 0;
}

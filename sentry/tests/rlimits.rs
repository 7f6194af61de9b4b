//! Resource limits (issue 10): getrlimit, setrlimit and prlimit64 per
//! process, inherited across fork and execve, enforced (NOFILE, DATA, AS,
//! STACK, FSIZE), differentially against the host; and the sandbox-wide
//! `--max-tasks` and `--max-files`, which only the sandbox has.

#[macro_use]
mod common;

differential! {
    t_rlimits: [], 0;
}

//! Threads, clone3 and pidfd tests: each guest runs natively and inside the
//! sentry, with glibc and with musl; stdout and exit status must be
//! identical, and every guest must pass its own checks natively (status 0).
//!
//! * `t_pthreads`: pthreads (mutex counter, join values, tids, TLS, condvar);
//! * `t_rawclone`: raw clone threads with SETTLS/PARENT_SETTID/
//!   CHILD_CLEARTID, futex wait/wake;
//! * `t_threadgroup`: exit_group and fatal signals from non-leader threads,
//!   the leader exiting first, fork from a thread, killing spinning threads;
//! * `t_clone3`: clone3 struct sizes, argument validation and flags;
//! * `t_pidfd`: CLONE_PIDFD, pidfd_open, poll/epoll, waitid(P_PIDFD),
//!   pidfd_send_signal, pidfd_getfd;
//! * `t_sigforge`: the one rule for a caller-made siginfo (rt_sigqueueinfo,
//!   rt_tgsigqueueinfo, pidfd_send_signal): si_code >= 0 or SI_TKILL only
//!   towards the calling thread itself, never a process group;
//! * `t_signals`: siginfo, SA_RESETHAND/NODEFER/ONSTACK/RESTART, stop and
//!   continue, signals to spinning threads;
//! * `t2_timeouts`: no timed wait (futex, futex_waitv, nanosleep,
//!   clock_nanosleep, poll, ppoll, epoll, rt_sigtimedwait) ends before its
//!   timeout on the guest's own clock, checked to the nanosecond.

#[macro_use]
mod common;

differential! {
    t_pthreads: [], 0;
    t_rawclone: [], 0;
    t_threadgroup: [], 0;
    t_clone3: [], 0;
    t_pidfd: [], 0;
    t_signals: [], 0;
    t_waitv: [], 0;
    t_pidfd_thread: [], 0;
    t_sigforge: [], 0;
    t2_futex: [], 0;
    t2_sharing: [], 0;
    t2_tlb: [], 0;
    t2_fpu: [], 0;
    t2_timeouts: [], 0;
}

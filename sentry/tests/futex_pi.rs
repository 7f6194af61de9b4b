//! PI futexes (issue 10): `t_futex_pi` runs natively and in the sandbox,
//! with glibc and musl; stdout and status must match. It covers
//! PTHREAD_PRIO_INHERIT mutexes (contention, trylock, errorcheck,
//! timedlock, condition variables), raw FUTEX_LOCK_PI/LOCK_PI2/TRYLOCK_PI/
//! UNLOCK_PI with the word's owner, FUTEX_WAITERS and FUTEX_OWNER_DIED
//! bits and their errnos and timeouts, owner death (robust or not), and
//! FUTEX_WAIT_REQUEUE_PI/FUTEX_CMP_REQUEUE_PI (see
//! testdata/guests/t_futex_pi.c).

#[macro_use]
mod common;

differential! {
    t_futex_pi: [], 0;
}

//! The exit states of thread groups and tasks, with their transitions
//! checked in one place.
//!
//! A thread group goes `Running → Exiting → Zombie → Reaped` (a process
//! whose last thread calls exit(2) goes from `Running` straight to
//! `Zombie`); a task goes `Running → Zapped/Exiting → Dead` (a zapped task,
//! ended by another thread's execve, then exits too). An invalid
//! transition is a sentry bug, never something the guest can cause: it is
//! refused, logged, and trips a `debug_assert!` in debug builds; it never
//! panics a release sentry.

use std::sync::atomic::{AtomicU8, Ordering};

/// The life of a thread group (a process).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GroupState {
    /// Threads run.
    Running,
    /// A group exit started (exit_group or a fatal signal) with this wait
    /// status; the threads are leaving.
    Exiting {
        /// The wait status.
        status: i32,
    },
    /// Every thread is gone; the parent has not reaped it yet.
    Zombie {
        /// The wait status.
        status: i32,
    },
    /// Reaped: gone from the process tree.
    Reaped {
        /// The wait status.
        status: i32,
    },
}

impl GroupState {
    /// Whether `self → next` is a valid transition.
    pub fn can_become(self, next: GroupState) -> bool {
        use GroupState::*;
        matches!(
            (self, next),
            (Running, Exiting { .. })
                | (Running, Zombie { .. })
                | (Exiting { .. }, Zombie { .. })
                | (Zombie { .. }, Reaped { .. })
        )
    }

    /// Moves to `next` if the transition is valid; otherwise logs the bug
    /// (and asserts in debug builds) and stays put. Returns whether it
    /// moved.
    pub fn advance(&mut self, next: GroupState) -> bool {
        if self.can_become(next) {
            *self = next;
            return true;
        }
        invalid("thread group", &*self, &next);
        false
    }

    /// Whether the group is exiting or gone (no thread may keep running).
    pub fn is_exiting(self) -> bool {
        self != GroupState::Running
    }

    /// The status of a group exit in progress or done.
    pub fn status(self) -> Option<i32> {
        match self {
            GroupState::Running => None,
            GroupState::Exiting { status }
            | GroupState::Zombie { status }
            | GroupState::Reaped { status } => Some(status),
        }
    }

    /// The wait status of a zombie.
    pub fn zombie(self) -> Option<i32> {
        match self {
            GroupState::Zombie { status } => Some(status),
            _ => None,
        }
    }
}

/// The life of a task (a thread).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TaskState {
    /// Runs.
    Running = 0,
    /// Another thread's execve is ending it (de_thread).
    Zapped = 1,
    /// In exit: releasing its resources.
    Exiting = 2,
    /// Gone from the tables, resources released.
    Dead = 3,
}

impl TaskState {
    /// Whether `self → next` is a valid transition.
    pub fn can_become(self, next: TaskState) -> bool {
        use TaskState::*;
        matches!(
            (self, next),
            (Running, Zapped) | (Running, Exiting) | (Zapped, Exiting) | (Exiting, Dead)
        )
    }

    fn from_u8(v: u8) -> Self {
        match v {
            0 => TaskState::Running,
            1 => TaskState::Zapped,
            2 => TaskState::Exiting,
            _ => TaskState::Dead,
        }
    }
}

/// A [`TaskState`] that threads read and advance without a lock.
#[derive(Debug)]
pub struct AtomicTaskState(AtomicU8);

impl Default for AtomicTaskState {
    fn default() -> Self {
        Self(AtomicU8::new(TaskState::Running as u8))
    }
}

impl AtomicTaskState {
    /// The current state.
    pub fn get(&self) -> TaskState {
        TaskState::from_u8(self.0.load(Ordering::SeqCst))
    }

    /// Moves to `next` if the current state may become it. Returns the
    /// state it was in on success, or the current state if the transition
    /// is not valid (which the caller judges: losing a race is not a bug).
    pub fn try_advance(&self, next: TaskState) -> Result<TaskState, TaskState> {
        let mut cur = self.get();
        loop {
            if !cur.can_become(next) {
                return Err(cur);
            }
            match self
                .0
                .compare_exchange(cur as u8, next as u8, Ordering::SeqCst, Ordering::SeqCst)
            {
                Ok(_) => return Ok(cur),
                Err(v) => cur = TaskState::from_u8(v),
            }
        }
    }

    /// Moves to `next`, which must be valid: an invalid transition is
    /// logged (and asserts in debug builds) and leaves the state as it is.
    pub fn advance(&self, next: TaskState) -> bool {
        match self.try_advance(next) {
            Ok(_) => true,
            Err(cur) => {
                invalid("task", &cur, &next);
                false
            }
        }
    }
}

fn invalid(what: &str, from: &dyn std::fmt::Debug, to: &dyn std::fmt::Debug) {
    tracing::error!("invalid {what} exit transition {from:?} -> {to:?}");
    debug_assert!(false, "invalid {what} exit transition {from:?} -> {to:?}");
}

#[cfg(test)]
mod tests {
    use super::*;

    const E: GroupState = GroupState::Exiting { status: 9 };
    const Z: GroupState = GroupState::Zombie { status: 9 };
    const R: GroupState = GroupState::Reaped { status: 9 };

    #[test]
    fn group_goes_forward_only() {
        use GroupState::Running;
        assert!(Running.can_become(E));
        assert!(Running.can_become(Z));
        assert!(E.can_become(Z));
        assert!(Z.can_become(R));
        for (a, b) in [
            (E, Running),
            (E, E),
            (Z, Running),
            (Z, E),
            (Z, Z),
            (R, Running),
            (R, Z),
            (R, R),
            (Running, R),
            (E, R),
            (Running, Running),
        ] {
            assert!(!a.can_become(b), "{a:?} -> {b:?}");
        }
    }

    #[test]
    fn group_status_and_predicates() {
        assert_eq!(GroupState::Running.status(), None);
        assert!(!GroupState::Running.is_exiting());
        assert_eq!(E.status(), Some(9));
        assert!(E.is_exiting() && Z.is_exiting() && R.is_exiting());
        assert_eq!(E.zombie(), None);
        assert_eq!(Z.zombie(), Some(9));
        assert_eq!(R.zombie(), None);
        let mut s = GroupState::Running;
        assert!(s.advance(E));
        assert!(s.advance(Z));
        assert!(s.advance(R));
        assert_eq!(s, R);
    }

    #[test]
    #[cfg(not(debug_assertions))]
    fn invalid_group_transition_is_refused() {
        let mut s = Z;
        assert!(!s.advance(GroupState::Running));
        assert_eq!(s, Z);
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "invalid thread group exit transition")]
    fn invalid_group_transition_asserts_in_debug() {
        let mut s = R;
        s.advance(GroupState::Running);
    }

    #[test]
    fn task_transitions() {
        use TaskState::*;
        let s = AtomicTaskState::default();
        assert_eq!(s.get(), Running);
        assert_eq!(s.try_advance(Zapped), Ok(Running));
        // A second zap (or a zap of an exiting task) loses the race
        // without being a bug.
        assert_eq!(s.try_advance(Zapped), Err(Zapped));
        assert_eq!(s.try_advance(Exiting), Ok(Zapped));
        assert_eq!(s.try_advance(Zapped), Err(Exiting));
        assert!(s.advance(Dead));
        assert_eq!(s.get(), Dead);
        for next in [Running, Zapped, Exiting, Dead] {
            assert!(!Dead.can_become(next));
        }
        assert!(!Running.can_become(Dead));
        assert!(!Exiting.can_become(Running));
    }

    #[test]
    #[cfg(debug_assertions)]
    #[should_panic(expected = "invalid task exit transition")]
    fn exiting_twice_asserts_in_debug() {
        let s = AtomicTaskState::default();
        assert!(s.advance(TaskState::Exiting));
        s.advance(TaskState::Exiting);
    }
}

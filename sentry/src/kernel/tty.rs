//! The guest's controlling terminal (Linux's drivers/tty/tty_jobctrl.c):
//! which session owns the terminal and which process group is in its
//! foreground, and the job-control checks made on it.
//!
//! When one of the sentry's standard streams is a host terminal, the
//! sandbox has one [`Terminal`]: settings (termios, window size) pass
//! through to the host terminal, so the host's line discipline echoes and
//! edits typed input exactly once, while the session and foreground
//! process group are the sentry's own state, kept here in guest pids (the
//! host terminal's foreground group stays the sentry). Characters that
//! make the host line discipline signal (Ctrl-C, Ctrl-Z, Ctrl-\) reach the
//! sentry as host signals; the host-signal forwarding asks
//! [`Kernel::host_terminal_foreground`] where to send them.
//!
//! A process has this terminal as its controlling terminal when its
//! session is the terminal's session (sessions are named by their
//! leader's pid and there is one terminal), unless it gave the terminal up
//! with TIOCNOTTY without being the session leader. Not modelled: a child
//! forked after such a TIOCNOTTY has the terminal again (Linux's child
//! inherits having none).
//!
//! Lock order: `Kernel::table` before `Terminal::ctrl`, which is a leaf
//! (no other lock is taken while it is held).

use std::sync::{Arc, Weak};

use parking_lot::Mutex;

use super::signal::{self, SigInfo, Signal};
use super::task::{Task, ThreadGroup};
use super::{Kernel, TaskTable};
use crate::errno::Errno;
use crate::fs::stdio::HostStream;

/// The sandbox's terminal: a host terminal behind one of the sentry's
/// standard streams, with the guest-side job-control state.
pub struct Terminal {
    /// The host terminal, for settings, queries and /dev/tty.
    pub stream: Arc<HostStream>,
    /// Its device number on the host, to tell whether another standard
    /// stream is the same terminal.
    pub rdev: Option<u64>,
    ctrl: Mutex<Ctrl>,
}

#[derive(Default)]
struct Ctrl {
    /// The session whose controlling terminal this is (its leader's pid).
    session: Option<i32>,
    /// The foreground process group.
    pgrp: Option<i32>,
    /// Processes of the session that gave the terminal up (TIOCNOTTY by a
    /// process that is not the session leader).
    detached: Vec<Weak<ThreadGroup>>,
}

impl Terminal {
    /// A terminal over `stream`, controlling no session yet.
    pub fn new(stream: Arc<HostStream>) -> Arc<Self> {
        let rdev = stream.host().rdev();
        Arc::new(Self {
            stream,
            rdev,
            ctrl: Mutex::new(Ctrl::default()),
        })
    }

    /// The foreground process group, if the terminal has one.
    pub fn foreground(&self) -> Option<i32> {
        let c = self.ctrl.lock();
        c.session.and(c.pgrp)
    }

    /// The session the terminal controls, if any.
    pub fn session(&self) -> Option<i32> {
        self.ctrl.lock().session
    }

    /// Makes the terminal the controlling terminal of session `sid`, with
    /// `pgrp` in the foreground (Linux's proc_set_tty).
    pub fn set_controlling(&self, sid: i32, pgrp: i32) {
        let mut c = self.ctrl.lock();
        c.session = Some(sid);
        c.pgrp = Some(pgrp);
        c.detached.clear();
    }

    /// Sets the foreground process group (TIOCSPGRP, checked by the caller).
    pub fn set_foreground(&self, pgrp: i32) {
        self.ctrl.lock().pgrp = Some(pgrp);
    }

    /// Detaches the terminal from its session; returns the foreground group
    /// it had.
    pub fn clear(&self) -> Option<i32> {
        let mut c = self.ctrl.lock();
        c.session = None;
        c.detached.clear();
        c.pgrp.take()
    }

    /// Notes that process `tg` gave the terminal up (TIOCNOTTY by a
    /// process other than the session leader).
    pub fn detach(&self, tg: &Arc<ThreadGroup>) {
        let mut c = self.ctrl.lock();
        c.detached.retain(|w| w.strong_count() > 0);
        c.detached.push(Arc::downgrade(tg));
    }

    /// Whether process `tgid` (in `table`) has this terminal as its
    /// controlling terminal.
    pub fn controls(&self, table: &TaskTable, tgid: i32) -> bool {
        let Some(p) = table.procs.get(&tgid) else {
            return false;
        };
        let c = self.ctrl.lock();
        c.session == Some(p.sid)
            && !c
                .detached
                .iter()
                .any(|w| w.upgrade().is_some_and(|tg| Arc::ptr_eq(&tg, &p.tg)))
    }
}

/// Whether process group `pgid` is orphaned: no member has a parent in
/// another group of the same session (Linux's will_become_orphaned_pgrp;
/// the sandbox's init counts as a parent like any other, as the init of a
/// pid namespace does).
pub fn pgrp_orphaned(table: &TaskTable, pgid: i32) -> bool {
    !table.procs.values().any(|p| {
        p.pgid == pgid
            && p.tg.zombie_status().is_none()
            && table
                .procs
                .get(&p.parent)
                .is_some_and(|parent| parent.pgid != pgid && parent.sid == p.sid)
    })
}

/// Sends `signal` from the kernel (SI_KERNEL, as the tty layer's
/// kill_pgrp with priv) to every process of group `pgid`; false if the
/// group has no process.
pub fn signal_pgrp(kernel: &Arc<Kernel>, pgid: i32, signal: Signal) -> bool {
    let targets: Vec<Arc<ThreadGroup>> = kernel
        .table
        .lock()
        .procs
        .values()
        .filter(|p| p.pgid == pgid && p.tg.zombie_status().is_none())
        .map(|p| Arc::clone(&p.tg))
        .collect();
    for tg in &targets {
        super::process::send_to_group(kernel, tg, SigInfo::kernel(signal));
    }
    !targets.is_empty()
}

/// Linux's __tty_check_change: a process of the terminal's session that
/// is not in its foreground group gets `sig` (SIGTTIN for a read, SIGTTOU
/// for a write with TOSTOP or a change of the settings) sent to its whole
/// group, and the call restarts once the group is continued. Blocked or
/// ignored, SIGTTOU lets the call through and SIGTTIN makes it EIO; an
/// orphaned group gets EIO. Processes the terminal does not control pass.
pub fn check_change(task: &Task, term: &Terminal, sig: Signal) -> Result<(), Errno> {
    let kernel = &task.kernel;
    let pgid = {
        let table = kernel.table.lock();
        if !term.controls(&table, task.tgid()) {
            return Ok(());
        }
        let Some(fg) = term.foreground() else {
            return Ok(());
        };
        let pgid = table.procs.get(&task.tgid()).map_or(0, |p| p.pgid);
        if pgid == fg {
            return Ok(());
        }
        let act = task.action(sig);
        let ignored = task.sig.lock().blocked.has(sig)
            || act.handler == signal::SIG_IGN
            // The sandbox's init drops a kernel signal whose action is the
            // default (SIGNAL_UNKILLABLE): sending it would restart the
            // call for ever, so it counts as ignored.
            || (task.tg.is_unkillable() && act.handler == signal::SIG_DFL);
        if ignored {
            return if sig == Signal::SIGTTIN {
                Err(Errno::EIO)
            } else {
                Ok(())
            };
        }
        if pgrp_orphaned(&table, pgid) {
            return Err(Errno::EIO);
        }
        pgid
    };
    signal_pgrp(kernel, pgid, sig);
    Err(Errno::ERESTARTSYS)
}

/// The terminal controlled by `task`'s session, if any.
pub fn controlling(task: &Task) -> Option<Arc<Terminal>> {
    let term = task.kernel.terminal.get()?;
    let table = task.kernel.table.lock();
    term.controls(&table, task.tgid()).then(|| Arc::clone(term))
}

/// Gives the sandbox's terminal, when there is one and the guest's stdin
/// is it, to init's session (pid `init`), as a container runtime with a
/// terminal makes it the controlling terminal of its first process.
pub fn attach_init(kernel: &Kernel, init: i32, stdin_is_terminal: bool) {
    if let Some(term) = kernel.terminal.get()
        && stdin_is_terminal
    {
        term.set_controlling(init, init);
    }
}

/// A process exited: if it led the terminal's session, the terminal's
/// foreground group gets SIGHUP and the terminal belongs to no session
/// any more (Linux's disassociate_ctty on exit, for a pseudo-terminal).
pub fn process_exited(kernel: &Arc<Kernel>, tgid: i32) {
    let Some(term) = kernel.terminal.get() else {
        return;
    };
    if term.session() != Some(tgid) {
        return;
    }
    if let Some(fg) = term.clear() {
        signal_pgrp(kernel, fg, Signal::SIGHUP);
    }
}

impl Kernel {
    /// The foreground process group of the guest's terminal, where
    /// terminal signals from the host (Ctrl-C, Ctrl-Z, Ctrl-\, a window
    /// change) go: `None` when the standard streams are no terminal, the
    /// terminal controls no session, or its foreground group has no
    /// living process.
    pub fn host_terminal_foreground(&self) -> Option<i32> {
        let fg = self.terminal.get()?.foreground()?;
        self.table
            .lock()
            .procs
            .values()
            .any(|p| p.pgid == fg && p.tg.zombie_status().is_none())
            .then_some(fg)
    }
}

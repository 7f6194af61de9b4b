//! Signals the host sends to the sentry process, and the sandbox's end of
//! its host output.
//!
//! `kill -TERM <sentry>`, Ctrl-C on the sentry's terminal, a supervisor's
//! graceful stop: such a signal is meant for the program in the sandbox,
//! not for the sentry. The sentry blocks the signals of
//! [`FORWARDED`] in every one of its threads ([`block_forwarded`], called
//! before any thread starts) and one host thread ([`spawn_forwarder`])
//! takes them with `sigtimedwait` and hands each to
//! [`Kernel::forward_host_signal`], the one entry point:
//!
//! * when the guest has a controlling terminal with a foreground process
//!   group ([`Kernel::host_terminal_foreground`]), the signal goes to that
//!   group, as a terminal's driver sends it (si_code SI_KERNEL);
//! * otherwise it goes to the sandbox's init (pid 1) with si_code SI_USER
//!   and si_pid 0, as a signal from an ancestor pid namespace arrives at a
//!   container's init. Init keeps Linux's SIGNAL_UNKILLABLE rule
//!   ([`super::process::ignored_at_generation`]): a signal whose action is
//!   the default is dropped, so an init without a SIGTERM handler survives
//!   `kill -TERM` as in `docker stop`; only the sentry's own SIGKILL (as
//!   Linux forces SIGKILL/SIGSTOP from an ancestor namespace) ends it.
//!
//! `--kill-after SECS` ([`spawn_forwarder`]'s `kill_after`): once a
//! terminating signal (SIGTERM, SIGINT, SIGHUP, SIGQUIT) has been
//! forwarded, a guest still alive SECS later is killed whole
//! ([`Kernel::kill_sandbox`]): the sentry exits with 128+SIGKILL. Further
//! terminating signals (a second Ctrl-C) are forwarded like the first and
//! neither restart nor shorten that delay.
//!
//! The sentry's own output: its messages are best-effort (`crate::log`), so
//! a closed stderr loses them and never panics or hangs it. A guest write
//! to one of the sentry's standard streams whose reader is gone gets EPIPE
//! and SIGPIPE as on Linux; when the writer is init and SIGPIPE has its
//! default action, init dies of it ([`host_output_broken`]) rather than
//! having it dropped as a pid-1 signal, so `sentry run yes | head -1` ends
//! with status 141 as the producer of a native pipeline does.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::signal::{self, SigInfo, Signal, code, sig};
use super::task::{Task, ThreadGroup};
use super::{ExitReport, Kernel, process};

/// The host signals forwarded to the guest.
pub const FORWARDED: [i32; 9] = [
    sig::SIGINT,
    sig::SIGTERM,
    sig::SIGHUP,
    sig::SIGQUIT,
    sig::SIGUSR1,
    sig::SIGUSR2,
    sig::SIGWINCH,
    sig::SIGCONT,
    sig::SIGTSTP,
];

/// Whether host signal `s` asks the guest to end (it arms `--kill-after`).
pub fn is_terminating(s: i32) -> bool {
    matches!(s, sig::SIGTERM | sig::SIGINT | sig::SIGHUP | sig::SIGQUIT)
}

/// How long the sentry waits for the guest to end after its own SIGKILL
/// before it reports the kill anyway (a task stuck in the sentry must not
/// keep the sandbox alive).
const KILL_GRACE: Duration = Duration::from_secs(2);

/// Blocks the [`FORWARDED`] signals in the calling thread. Call it from
/// `main` before any thread exists: threads inherit the mask, so no
/// sentry thread ever takes one of them (a worker in `KVM_RUN` included)
/// and they wait for the forwarder. The error is the host errno.
pub fn block_forwarded() -> Result<(), i32> {
    platform::host::block_signals(&FORWARDED)
}

/// Where a forwarded signal went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Forwarded {
    /// To the foreground process group of the guest's terminal.
    ForegroundGroup(i32),
    /// To the sandbox's init.
    Init,
    /// Nowhere: the sandbox has ended (or has no such group any more).
    Nobody,
}

impl Kernel {
    /// Forwards host signal `s` to the guest (see the module doc): to the
    /// foreground process group of its terminal if there is one, else to
    /// init with pid-1 semantics.
    pub fn forward_host_signal(self: &Arc<Self>, s: Signal) -> Forwarded {
        // Asked before the table is locked: terminal state may need it.
        let foreground = self.host_terminal_foreground();
        let (targets, info, went): (Vec<Arc<ThreadGroup>>, SigInfo, Forwarded) = {
            let table = self.table.lock();
            match foreground {
                Some(pgrp) => (
                    table
                        .procs
                        .values()
                        .filter(|p| p.pgid == pgrp)
                        .map(|p| Arc::clone(&p.tg))
                        .collect(),
                    // What a terminal's driver sends (kill_pgrp with
                    // SEND_SIG_PRIV): si_code SI_KERNEL, no sender.
                    SigInfo::kernel(s),
                    Forwarded::ForegroundGroup(pgrp),
                ),
                None => (
                    table
                        .procs
                        .get(&1)
                        .map(|p| Arc::clone(&p.tg))
                        .into_iter()
                        .collect(),
                    // From outside the sandbox's pid namespace: SI_USER
                    // with si_pid 0 (the sender has no pid inside).
                    SigInfo::from_process(s, code::SI_USER, 0, 0),
                    Forwarded::Init,
                ),
            }
        };
        if targets.is_empty() || self.is_finished() {
            return Forwarded::Nobody;
        }
        tracing::debug!(
            "host signal {} forwarded to {went:?}",
            signal::name(s.number())
        );
        for tg in &targets {
            process::send_to_group(self, tg, info);
        }
        went
    }

    /// Kills the whole sandbox: SIGKILL from the sentry (si_code SI_KERNEL,
    /// which init cannot ignore) to every process, then waits up to
    /// [`KILL_GRACE`] for init to end and, failing that, reports the
    /// sandbox ended by SIGKILL anyway.
    pub fn kill_sandbox(self: &Arc<Self>) {
        let all: Vec<Arc<ThreadGroup>> = self
            .table
            .lock()
            .procs
            .values()
            .map(|p| Arc::clone(&p.tg))
            .collect();
        for tg in &all {
            process::send_to_group(self, tg, SigInfo::kernel(Signal::SIGKILL));
        }
        let deadline = Instant::now() + KILL_GRACE;
        let mut f = self.finished.lock();
        while f.is_none() {
            if self.finished_cv.wait_until(&mut f, deadline).timed_out() {
                break;
            }
        }
        drop(f);
        self.finish(ExitReport::Signaled(sig::SIGKILL));
    }
}

/// Starts the host thread that takes the [`FORWARDED`] signals (blocked
/// by [`block_forwarded`]) and forwards them to `kernel`'s guest; with
/// `kill_after`, a guest still alive that long after the first
/// terminating signal is killed ([`Kernel::kill_sandbox`]). The thread
/// ends with the sandbox.
pub fn spawn_forwarder(kernel: &Arc<Kernel>, kill_after: Option<Duration>) -> std::io::Result<()> {
    let kernel = Arc::clone(kernel);
    std::thread::Builder::new()
        .name("host-signals".into())
        .stack_size(256 << 10)
        .spawn(move || forward_loop(&kernel, kill_after))
        .map(|_| ())
}

fn forward_loop(kernel: &Arc<Kernel>, kill_after: Option<Duration>) {
    let mut deadline: Option<Instant> = None;
    while !kernel.is_finished() {
        let timeout = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if timeout == Some(Duration::ZERO) {
            tracing::warn!(
                "the guest did not exit within --kill-after {}s: killing the sandbox",
                kill_after.unwrap_or_default().as_secs_f64()
            );
            kernel.kill_sandbox();
            return;
        }
        let Some(s) = platform::host::wait_signal(&FORWARDED, timeout) else {
            continue;
        };
        let Some(signal) = Signal::new(s) else {
            continue;
        };
        kernel.forward_host_signal(signal);
        if is_terminating(s) && deadline.is_none() {
            deadline = kill_after.map(|k| Instant::now() + k);
        }
    }
}

/// Called when a write by `task` to one of the sentry's own standard
/// streams failed with EPIPE (the host reader is gone), before the writer
/// is sent SIGPIPE as for any pipe. A native writer would die of that
/// SIGPIPE; the sandbox's init would have it dropped (pid-1 rule), so the
/// sandbox would go on writing to nobody. When `task` is init and SIGPIPE
/// is neither handled, ignored nor blocked, init loses that protection,
/// as for a fault ([`Task`]'s forced signals), and dies of the SIGPIPE:
/// the sentry exits 128+SIGPIPE like the producer of a native pipeline.
pub fn host_output_broken(task: &Task) {
    if !task.tg.is_unkillable() {
        return;
    }
    if task.sig.lock().blocked.has(Signal::SIGPIPE) {
        return;
    }
    if task.action(Signal::SIGPIPE).handler == signal::SIG_DFL {
        task.tg
            .unkillable
            .store(false, std::sync::atomic::Ordering::Relaxed);
    }
}

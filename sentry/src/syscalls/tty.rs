//! ioctl on the guest's terminal (Linux's tty_ioctl, tty_jobctrl.c and
//! n_tty_ioctl_helper): settings and the window size pass through to the
//! host terminal, after the job-control check a change needs; the
//! session and foreground-group requests work on the sentry's own state
//! ([`crate::kernel::tty`]).

use std::sync::Arc;

use crate::errno::Errno;
use crate::kernel::signal::Signal;
use crate::kernel::task::{SysResult, TaskCtx};
use crate::kernel::tty::{self, Terminal};

const TCGETS: u64 = 0x5401;
const TCSETS: u64 = 0x5402;
const TCSETSW: u64 = 0x5403;
const TCSETSF: u64 = 0x5404;
const TCSBRK: u64 = 0x5409;
const TCXONC: u64 = 0x540a;
const TCFLSH: u64 = 0x540b;
const TIOCSCTTY: u64 = 0x540e;
const TIOCGPGRP: u64 = 0x540f;
const TIOCSPGRP: u64 = 0x5410;
const TIOCGWINSZ: u64 = 0x5413;
const TIOCSWINSZ: u64 = 0x5414;
const FIONREAD: u64 = 0x541b;
const TIOCNOTTY: u64 = 0x5422;
const TIOCGSID: u64 = 0x5429;

/// The termios size (struct termios of the kernel's TCGETS/TCSETS).
const TERMIOS_SIZE: usize = 36;

fn host(e: i32) -> Errno {
    Errno(e)
}

/// ioctl(fd, request, arg) on a file that is the guest's terminal.
pub fn ioctl(t: &mut TaskCtx, term: &Arc<Terminal>, request: u64, arg: u64) -> SysResult {
    let hostfd = term.stream.host();
    match request {
        TCGETS => {
            let termios = hostfd.termios().map_err(host)?;
            t.mm().write(arg, &termios)?;
            Ok(0)
        }
        TCSETS | TCSETSW | TCSETSF => {
            tty::check_change(&t.task, term, Signal::SIGTTOU)?;
            let mut termios = [0u8; TERMIOS_SIZE];
            t.mm().read(arg, &mut termios)?;
            hostfd.tty_set(request, &termios).map_err(host)?;
            Ok(0)
        }
        TCSBRK | TCXONC | TCFLSH => {
            tty::check_change(&t.task, term, Signal::SIGTTOU)?;
            hostfd.tty_control(request, arg as i32).map_err(host)?;
            Ok(0)
        }
        TIOCGWINSZ => {
            let ws = hostfd.winsize().map_err(host)?;
            t.mm().write(arg, &ws)?;
            Ok(0)
        }
        TIOCSWINSZ => {
            // The host terminal signals a change of size (Linux's
            // tty_do_resize) to its foreground group, the sentry, whose
            // host-signal forwarding hands SIGWINCH to the guest
            // terminal's foreground group (kernel::hostsig): sending it
            // here as well would deliver it twice.
            let mut ws = [0u8; 8];
            t.mm().read(arg, &mut ws)?;
            hostfd.tty_set(request, &ws).map_err(host)?;
            Ok(0)
        }
        FIONREAD => {
            let n = hostfd.input_pending().map_err(host)?;
            t.mm().write_u32(arg, n as u32)?;
            Ok(0)
        }
        TIOCGPGRP => {
            if !controls(t, term) {
                return Err(Errno::ENOTTY.into());
            }
            let pgrp = term.foreground().unwrap_or(0);
            t.mm().write_u32(arg, pgrp as u32)?;
            Ok(0)
        }
        TIOCGSID => {
            if !controls(t, term) {
                return Err(Errno::ENOTTY.into());
            }
            let sid = term.session().ok_or(Errno::ENOTTY)?;
            t.mm().write_u32(arg, sid as u32)?;
            Ok(0)
        }
        TIOCSPGRP => set_pgrp(t, term, arg),
        TIOCSCTTY => set_ctty(t, term, arg),
        TIOCNOTTY => give_up(t, term),
        _ => Err(Errno::ENOTTY.into()),
    }
}

fn controls(t: &TaskCtx, term: &Terminal) -> bool {
    term.controls(&t.task.kernel.table.lock(), t.task.tgid())
}

/// TIOCSPGRP (Linux's tiocspgrp): a background caller is stopped first;
/// the group must be of the caller's session (a pid that names a process
/// but no group counts through that process's session, as in Linux).
fn set_pgrp(t: &mut TaskCtx, term: &Terminal, arg: u64) -> SysResult {
    match tty::check_change(&t.task, term, Signal::SIGTTOU) {
        Err(Errno::EIO) => return Err(Errno::ENOTTY.into()),
        r => r?,
    }
    let pgrp = t.mm().read_u32(arg)? as i32;
    if pgrp < 0 {
        return Err(Errno::EINVAL.into());
    }
    let table = t.task.kernel.table.lock();
    let me = t.task.tgid();
    let my_sid = table.procs.get(&me).map_or(0, |p| p.sid);
    if !term.controls(&table, me) || term.session() != Some(my_sid) {
        return Err(Errno::ENOTTY.into());
    }
    let session = table
        .procs
        .values()
        .find(|p| p.pgid == pgrp)
        .or_else(|| {
            table
                .tasks
                .get(&pgrp)
                .and_then(|x| table.procs.get(&x.tgid()))
        })
        .map(|p| p.sid);
    let in_use = session.is_some() || table.procs.values().any(|p| p.sid == pgrp);
    if !in_use {
        return Err(Errno::ESRCH.into());
    }
    if session != Some(my_sid) {
        return Err(Errno::EPERM.into());
    }
    term.set_foreground(pgrp);
    Ok(0)
}

/// TIOCSCTTY (Linux's tiocsctty): a session leader without a controlling
/// terminal takes this one; one that is another session's needs `arg` 1
/// (and CAP_SYS_ADMIN, which the guest's root has) to steal it.
fn set_ctty(t: &mut TaskCtx, term: &Terminal, arg: u64) -> SysResult {
    let table = t.task.kernel.table.lock();
    let me = t.task.tgid();
    let Some(p) = table.procs.get(&me) else {
        return Err(Errno::EPERM.into());
    };
    let leader = p.sid == me;
    if leader && term.session() == Some(p.sid) {
        return Ok(0);
    }
    if !leader {
        return Err(Errno::EPERM.into());
    }
    if term.session().is_some() && arg != 1 {
        return Err(Errno::EPERM.into());
    }
    term.set_controlling(p.sid, p.pgid);
    Ok(0)
}

/// TIOCNOTTY (Linux's no_tty): the session leader detaches the terminal
/// from the whole session, its foreground group getting SIGHUP and
/// SIGCONT; another process only gives it up for itself.
fn give_up(t: &mut TaskCtx, term: &Terminal) -> SysResult {
    let leader = {
        let table = t.task.kernel.table.lock();
        let me = t.task.tgid();
        if !term.controls(&table, me) {
            return Err(Errno::ENOTTY.into());
        }
        table.procs.get(&me).is_some_and(|p| p.sid == me)
    };
    if !leader {
        term.detach(&t.task.tg);
        return Ok(0);
    }
    if let Some(fg) = term.clear() {
        let kernel = &t.task.kernel;
        tty::signal_pgrp(kernel, fg, Signal::SIGHUP);
        tty::signal_pgrp(kernel, fg, Signal::SIGCONT);
    }
    Ok(0)
}

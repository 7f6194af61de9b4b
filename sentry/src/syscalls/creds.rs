//! Identity calls: user and group ids, supplementary groups, capabilities
//! (capget/capset and the prctl options about them), securebits,
//! no_new_privs, dumpable, timer slack, personality, unshare and setns.
//! The rules live in [`crate::kernel::creds`]; here the guest's arguments
//! are read and the results written.

use std::sync::atomic::Ordering;

use crate::errno::Errno;
use crate::kernel::clone::flags::*;
use crate::kernel::creds::{
    CAP_FULL, CAP_LAST_CAP, CredError, Creds, EFFECTIVE, NGROUPS_MAX, REAL, SAVED, cap, secbit,
};
use crate::kernel::task::{SysResult, TaskCtx};

impl From<CredError> for Errno {
    fn from(e: CredError) -> Errno {
        match e {
            CredError::Perm => Errno::EPERM,
            CredError::Inval => Errno::EINVAL,
        }
    }
}

/// Runs `f` on the calling thread's credentials and applies what
/// commit_creds does after a change that touched the effective or fs ids
/// or raised capabilities: the process stops being dumpable and the
/// parent-death signal is cleared.
fn change<R>(
    t: &TaskCtx,
    f: impl FnOnce(&mut Creds) -> Result<(R, crate::kernel::creds::Committed), CredError>,
) -> Result<R, Errno> {
    let (r, done) = f(&mut t.task.ident.creds.lock())?;
    if done.lose_dumpable {
        t.task
            .tg
            .dumpable
            .store(crate::kernel::creds::SUID_DUMPABLE, Ordering::Relaxed);
        t.task.pdeath_signal.store(0, Ordering::Relaxed);
    }
    Ok(r)
}

fn creds(t: &TaskCtx) -> Creds {
    t.task.ident.creds()
}

/// getuid, geteuid, getgid, getegid: `which` of the ids.
pub fn get_id(t: &mut TaskCtx, gid: bool, which: usize) -> SysResult {
    let c = creds(t);
    Ok(u64::from(if gid { c.gid[which] } else { c.uid[which] }))
}

/// setuid(uid).
pub fn setuid(t: &mut TaskCtx, uid: u32) -> SysResult {
    change(t, |c| c.setuid(uid).map(|d| ((), d)))?;
    Ok(0)
}

/// setgid(gid).
pub fn setgid(t: &mut TaskCtx, gid: u32) -> SysResult {
    change(t, |c| c.setgid(gid).map(|d| ((), d)))?;
    Ok(0)
}

/// setreuid(ruid, euid).
pub fn setreuid(t: &mut TaskCtx, r: u32, e: u32) -> SysResult {
    change(t, |c| c.setreuid(r, e).map(|d| ((), d)))?;
    Ok(0)
}

/// setregid(rgid, egid).
pub fn setregid(t: &mut TaskCtx, r: u32, e: u32) -> SysResult {
    change(t, |c| c.setregid(r, e).map(|d| ((), d)))?;
    Ok(0)
}

/// setresuid(ruid, euid, suid).
pub fn setresuid(t: &mut TaskCtx, r: u32, e: u32, s: u32) -> SysResult {
    change(t, |c| c.setresuid(r, e, s).map(|d| ((), d)))?;
    Ok(0)
}

/// setresgid(rgid, egid, sgid).
pub fn setresgid(t: &mut TaskCtx, r: u32, e: u32, s: u32) -> SysResult {
    change(t, |c| c.setresgid(r, e, s).map(|d| ((), d)))?;
    Ok(0)
}

/// getresuid(ruid*, euid*, suid*) and getresgid: each id written in turn
/// (EFAULT at the first bad pointer, the earlier ones written).
pub fn getres(t: &mut TaskCtx, gid: bool, ptrs: [u64; 3]) -> SysResult {
    let c = creds(t);
    let ids = if gid { c.gid } else { c.uid };
    let mm = t.mm();
    for (i, p) in ptrs.iter().enumerate() {
        mm.write_u32(*p, [ids[REAL], ids[EFFECTIVE], ids[SAVED]][i])?;
    }
    Ok(0)
}

/// setfsuid(uid): the previous fs uid, whether or not it changed.
pub fn setfsuid(t: &mut TaskCtx, uid: u32) -> SysResult {
    let old = change(t, |c| Ok(c.setfsuid(uid)))?;
    Ok(u64::from(old))
}

/// setfsgid(gid): the previous fs gid.
pub fn setfsgid(t: &mut TaskCtx, gid: u32) -> SysResult {
    let old = change(t, |c| Ok(c.setfsgid(gid)))?;
    Ok(u64::from(old))
}

/// getgroups(size, list): the count with size 0; EINVAL if it does not
/// fit.
pub fn getgroups(t: &mut TaskCtx, size: u64, list: u64) -> SysResult {
    let size = size as i32;
    if size < 0 {
        return Err(Errno::EINVAL.into());
    }
    let groups = creds(t).groups;
    if size == 0 {
        return Ok(groups.len() as u64);
    }
    if (size as usize) < groups.len() {
        return Err(Errno::EINVAL.into());
    }
    let bytes: Vec<u8> = groups.iter().flat_map(|g| g.to_ne_bytes()).collect();
    t.mm().write(list, &bytes)?;
    Ok(groups.len() as u64)
}

/// setgroups(size, list): CAP_SETGID first, then the size, then the list
/// (EFAULT; EINVAL for the invalid id -1).
pub fn setgroups(t: &mut TaskCtx, size: u64, list: u64) -> SysResult {
    if !creds(t).capable(cap::SETGID) {
        return Err(Errno::EPERM.into());
    }
    let size = size as u32;
    if size as usize > NGROUPS_MAX {
        return Err(Errno::EINVAL.into());
    }
    let mut bytes = vec![0u8; size as usize * 4];
    t.mm().read(list, &mut bytes)?;
    let groups: Vec<u32> = bytes
        .chunks_exact(4)
        .map(|b| u32::from_ne_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    if groups.contains(&crate::kernel::creds::UNCHANGED) {
        return Err(Errno::EINVAL.into());
    }
    t.task
        .ident
        .creds
        .lock()
        .setgroups(groups)
        .map_err(Errno::from)?;
    Ok(0)
}

const CAP_V1: u32 = 0x1998_0330;
const CAP_V2: u32 = 0x2007_1026;
const CAP_V3: u32 = 0x2008_0522;

/// cap_validate_magic: how many 32-bit words each set has, or the
/// preferred version written back and EINVAL.
fn cap_words(t: &TaskCtx, hdr: u64) -> Result<usize, Errno> {
    let mm = t.mm();
    match mm.read_u32(hdr)? {
        CAP_V1 => Ok(1),
        CAP_V2 | CAP_V3 => Ok(2),
        _ => {
            mm.write_u32(hdr, CAP_V3)?;
            Err(Errno::EINVAL)
        }
    }
}

/// capget(hdr, data).
pub fn capget(t: &mut TaskCtx, hdr: u64, data: u64) -> SysResult {
    let words = match cap_words(t, hdr) {
        // A version probe with no data pointer succeeds.
        Err(Errno::EINVAL) if data == 0 => return Ok(0),
        Err(e) => return Err(e.into()),
        Ok(_) if data == 0 => return Ok(0),
        Ok(w) => w,
    };
    let pid = t.mm().read_u32(hdr + 4)? as i32;
    if pid < 0 {
        return Err(Errno::EINVAL.into());
    }
    let c = if pid == 0 || pid == t.task.tid {
        creds(t)
    } else {
        let target = t.task.kernel.table.lock().tasks.get(&pid).cloned();
        target.ok_or(Errno::ESRCH)?.ident.creds()
    };
    let mut bytes = Vec::with_capacity(words * 12);
    for w in 0..words {
        for set in [c.effective, c.permitted, c.inheritable] {
            bytes.extend_from_slice(&((set >> (32 * w)) as u32).to_ne_bytes());
        }
    }
    t.mm().write(data, &bytes)?;
    Ok(0)
}

/// capset(hdr, data): only the caller's own sets (another pid is EPERM).
pub fn capset(t: &mut TaskCtx, hdr: u64, data: u64) -> SysResult {
    let words = cap_words(t, hdr)?;
    let pid = t.mm().read_u32(hdr + 4)? as i32;
    if pid != 0 && pid != t.task.tid {
        return Err(Errno::EPERM.into());
    }
    let mut bytes = vec![0u8; words * 12];
    t.mm().read(data, &mut bytes)?;
    let word = |i: usize| {
        u64::from(u32::from_ne_bytes(
            bytes[i * 4..i * 4 + 4].try_into().unwrap(),
        ))
    };
    let mut sets = [0u64; 3];
    for w in 0..words {
        for (k, s) in sets.iter_mut().enumerate() {
            *s |= word(w * 3 + k) << (32 * w);
        }
    }
    let [e, p, i] = sets.map(|s| s & CAP_FULL);
    change(t, |c| c.capset(e, p, i).map(|d| ((), d)))?;
    Ok(0)
}

/// personality(persona): the old one; 0xffffffff only asks.
pub fn personality(t: &mut TaskCtx, persona: u32) -> SysResult {
    let p = &t.task.ident.personality;
    let old = if persona == u32::MAX {
        p.load(Ordering::Relaxed)
    } else {
        p.swap(persona, Ordering::Relaxed)
    };
    Ok(u64::from(old))
}

/// Every flag unshare(2) knows (check_unshare_flags).
const UNSHARE_FLAGS: u64 = CLONE_THREAD
    | CLONE_FS
    | CLONE_NEWNS
    | CLONE_SIGHAND
    | CLONE_VM
    | CLONE_FILES
    | CLONE_SYSVSEM
    | NAMESPACES;

/// unshare(flags). Namespace flags give the errno clone gives for them in
/// this sandbox (EPERM: it is one set of namespaces). CLONE_FILES gives
/// the caller a private descriptor table; CLONE_THREAD, CLONE_SIGHAND and
/// CLONE_VM are accepted only when there is nothing to unshare (a single
/// thread); CLONE_SYSVSEM has no undo list to drop; CLONE_FS is a no-op
/// (a filesystem context shared by CLONE_FS stays shared).
pub fn unshare(t: &mut TaskCtx, flags: u64) -> SysResult {
    let mut f = flags;
    if f & CLONE_NEWUSER != 0 {
        f |= CLONE_THREAD | CLONE_FS;
    }
    if f & CLONE_VM != 0 {
        f |= CLONE_SIGHAND;
    }
    if f & CLONE_SIGHAND != 0 {
        f |= CLONE_THREAD;
    }
    if f & CLONE_NEWNS != 0 {
        f |= CLONE_FS;
    }
    if f & !UNSHARE_FLAGS != 0 {
        return Err(Errno::EINVAL.into());
    }
    if f & (CLONE_THREAD | CLONE_SIGHAND | CLONE_VM) != 0 && t.task.tg.threads.lock().len() > 1 {
        return Err(Errno::EINVAL.into());
    }
    if f & NAMESPACES != 0 {
        return Err(Errno::EPERM.into());
    }
    if f & CLONE_FILES != 0 {
        let mut files = t.task.files.lock();
        if std::sync::Arc::strong_count(&files) > 1 {
            *files = files.fork()?;
        }
    }
    Ok(0)
}

/// setns(fd, nstype): no descriptor names a namespace here. A pidfd
/// with valid flags asks to join namespaces, refused as clone refuses new
/// ones (EPERM); anything else is EINVAL, as for a file that is not a
/// namespace.
pub fn setns(t: &mut TaskCtx, fd: i32, nstype: i32) -> SysResult {
    let file = t.task.files().get(i64::from(fd))?;
    let nstype = nstype as u32 as u64;
    if file.ops.as_pidfd().is_some() {
        if nstype == 0 || nstype & !NAMESPACES != 0 {
            return Err(Errno::EINVAL.into());
        }
        return Err(Errno::EPERM.into());
    }
    Err(Errno::EINVAL.into())
}

/// prctl: the options about credentials, capabilities and the task's
/// security state here; every other one in [`super::sched::prctl`].
pub fn prctl(t: &mut TaskCtx, a: [u64; 6]) -> SysResult {
    const PR_GET_DUMPABLE: i32 = 3;
    const PR_SET_DUMPABLE: i32 = 4;
    const PR_GET_KEEPCAPS: i32 = 7;
    const PR_SET_KEEPCAPS: i32 = 8;
    const PR_CAPBSET_READ: i32 = 23;
    const PR_CAPBSET_DROP: i32 = 24;
    const PR_GET_SECUREBITS: i32 = 27;
    const PR_SET_SECUREBITS: i32 = 28;
    const PR_SET_TIMERSLACK: i32 = 29;
    const PR_GET_TIMERSLACK: i32 = 30;
    const PR_SET_NO_NEW_PRIVS: i32 = 38;
    const PR_GET_NO_NEW_PRIVS: i32 = 39;
    const PR_CAP_AMBIENT: i32 = 47;
    const SECURE_ALL_LOCKS: u32 = 0xaa;
    const KEEP_CAPS_LOCKED: u32 = 1 << 5;
    let valid_cap = |c: u64| c <= u64::from(CAP_LAST_CAP);
    let ident = &t.task.ident;
    match a[0] as i32 {
        PR_GET_DUMPABLE => Ok(u64::from(t.task.tg.dumpable.load(Ordering::Relaxed))),
        PR_SET_DUMPABLE => {
            if a[1] > 1 {
                return Err(Errno::EINVAL.into());
            }
            t.task.tg.dumpable.store(a[1] as u8, Ordering::Relaxed);
            Ok(0)
        }
        PR_GET_KEEPCAPS => Ok(u64::from(
            ident.creds.lock().securebits & secbit::KEEP_CAPS != 0,
        )),
        PR_SET_KEEPCAPS => {
            if a[1] > 1 {
                return Err(Errno::EINVAL.into());
            }
            let mut c = ident.creds.lock();
            if c.securebits & KEEP_CAPS_LOCKED != 0 {
                return Err(Errno::EPERM.into());
            }
            if a[1] == 1 {
                c.securebits |= secbit::KEEP_CAPS;
            } else {
                c.securebits &= !secbit::KEEP_CAPS;
            }
            Ok(0)
        }
        PR_CAPBSET_READ => {
            if !valid_cap(a[1]) {
                return Err(Errno::EINVAL.into());
            }
            Ok((ident.creds.lock().bounding >> a[1]) & 1)
        }
        PR_CAPBSET_DROP => {
            ident.creds.lock().capbset_drop(a[1]).map_err(Errno::from)?;
            Ok(0)
        }
        PR_GET_SECUREBITS => Ok(u64::from(ident.creds.lock().securebits)),
        PR_SET_SECUREBITS => {
            let mut c = ident.creds.lock();
            let old = c.securebits;
            let new = a[1];
            if u64::from(((old & SECURE_ALL_LOCKS) >> 1) & (old ^ new as u32)) != 0
                || u64::from(old & SECURE_ALL_LOCKS) & !new != 0
                || new & !u64::from(secbit::ALL) != 0
                || !c.capable(cap::SETPCAP)
            {
                return Err(Errno::EPERM.into());
            }
            c.securebits = new as u32;
            Ok(0)
        }
        PR_SET_TIMERSLACK => {
            let slack = if a[1] == 0 {
                ident.default_timer_slack.load(Ordering::Relaxed)
            } else {
                a[1]
            };
            ident.timer_slack.store(slack, Ordering::Relaxed);
            Ok(0)
        }
        PR_GET_TIMERSLACK => Ok(ident.timer_slack.load(Ordering::Relaxed)),
        PR_SET_NO_NEW_PRIVS => {
            if a[1] != 1 || a[2] | a[3] | a[4] != 0 {
                return Err(Errno::EINVAL.into());
            }
            ident.creds.lock().no_new_privs = true;
            Ok(0)
        }
        PR_GET_NO_NEW_PRIVS => {
            if a[1] | a[2] | a[3] | a[4] != 0 {
                return Err(Errno::EINVAL.into());
            }
            Ok(u64::from(ident.creds.lock().no_new_privs))
        }
        PR_CAP_AMBIENT => cap_ambient(t, a),
        _ => super::sched::prctl(t, a),
    }
}

/// prctl(PR_CAP_AMBIENT, op, cap, 0, 0).
fn cap_ambient(t: &mut TaskCtx, a: [u64; 6]) -> SysResult {
    const IS_SET: u64 = 1;
    const RAISE: u64 = 2;
    const LOWER: u64 = 3;
    const CLEAR_ALL: u64 = 4;
    let mut c = t.task.ident.creds.lock();
    if a[1] == CLEAR_ALL {
        if a[2] | a[3] | a[4] != 0 {
            return Err(Errno::EINVAL.into());
        }
        c.ambient = 0;
        return Ok(0);
    }
    if a[2] > u64::from(CAP_LAST_CAP) || a[3] | a[4] != 0 {
        return Err(Errno::EINVAL.into());
    }
    let bit = 1u64 << a[2];
    match a[1] {
        IS_SET => Ok(u64::from(c.ambient & bit != 0)),
        RAISE => {
            if c.permitted & bit == 0
                || c.inheritable & bit == 0
                || c.securebits & secbit::NO_CAP_AMBIENT_RAISE != 0
            {
                return Err(Errno::EPERM.into());
            }
            c.ambient |= bit;
            Ok(0)
        }
        LOWER => {
            c.ambient &= !bit;
            Ok(0)
        }
        _ => Err(Errno::EINVAL.into()),
    }
}

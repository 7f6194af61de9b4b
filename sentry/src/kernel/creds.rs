//! Task credentials: user and group ids (real, effective, saved, fs),
//! supplementary groups, capabilities, securebits and no_new_privs, with
//! Linux's rules for changing them (kernel/sys.c, kernel/capability.c,
//! security/commoncap.c) as seen by root inside a container: the sandbox's
//! init starts as uid 0 with every capability up to [`CAP_LAST_CAP`] but
//! CAP_SYS_RESOURCE ([`CAP_INIT`]): like Docker's default set and the test
//! hosts' root, the guest may lower its resource limits, never raise a
//! hard one (`kernel::limits`).
//!
//! Credentials are per thread (a libc broadcasts setuid to every thread),
//! copied on clone and kept on execve, where the capability sets are
//! recomputed as for a file without file capabilities.
//!
//! Limit: file-permission checks do not consult these ids; the sandbox's
//! files behave as they do for root whatever the guest's uid.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};

use parking_lot::Mutex;

/// The highest capability number (CAP_CHECKPOINT_RESTORE, Linux 5.9+),
/// /proc/sys/kernel/cap_last_cap.
pub const CAP_LAST_CAP: u32 = 40;

/// Every valid capability (Linux's CAP_VALID_MASK).
pub const CAP_FULL: u64 = (1u64 << (CAP_LAST_CAP + 1)) - 1;

/// The capabilities init starts with: every one but CAP_SYS_RESOURCE,
/// which would let the guest raise its hard resource limits.
pub const CAP_INIT: u64 = CAP_FULL & !(1 << cap::SYS_RESOURCE);

/// Capabilities the rules below name.
pub mod cap {
    /// CAP_SYS_ADMIN.
    pub const SYS_ADMIN: u32 = 21;
    /// CAP_SYS_RESOURCE.
    pub const SYS_RESOURCE: u32 = 24;
    /// CAP_SETGID.
    pub const SETGID: u32 = 6;
    /// CAP_SETUID.
    pub const SETUID: u32 = 7;
    /// CAP_SETPCAP.
    pub const SETPCAP: u32 = 8;
}

/// The capabilities tied to the fs uid (Linux's CAP_FS_SET): CHOWN,
/// DAC_OVERRIDE, DAC_READ_SEARCH, FOWNER, FSETID, LINUX_IMMUTABLE, MKNOD,
/// MAC_OVERRIDE.
pub const CAP_FS_SET: u64 =
    (1 << 0) | (1 << 1) | (1 << 2) | (1 << 3) | (1 << 4) | (1 << 9) | (1 << 27) | (1 << 32);

/// Securebits (prctl PR_SET_SECUREBITS): the ones the rules read.
pub mod secbit {
    /// SECURE_NOROOT.
    pub const NOROOT: u32 = 1 << 0;
    /// SECURE_NO_SETUID_FIXUP.
    pub const NO_SETUID_FIXUP: u32 = 1 << 2;
    /// SECURE_KEEP_CAPS.
    pub const KEEP_CAPS: u32 = 1 << 4;
    /// SECURE_NO_CAP_AMBIENT_RAISE.
    pub const NO_CAP_AMBIENT_RAISE: u32 = 1 << 6;
    /// Every defined bit and its lock bit.
    pub const ALL: u32 = 0xff;
}

/// The largest supplementary group list (NGROUPS_MAX).
pub const NGROUPS_MAX: usize = 65536;

/// An id argument that means "leave it as it is" ((uid_t)-1).
pub const UNCHANGED: u32 = u32::MAX;

/// The Linux "dumpable" default after an id change (suid_dumpable 0).
pub const SUID_DUMPABLE: u8 = 0;

/// One thread's credentials.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Creds {
    /// Real, effective, saved and fs user ids.
    pub uid: [u32; 4],
    /// Real, effective, saved and fs group ids.
    pub gid: [u32; 4],
    /// Supplementary groups, sorted (as Linux's groups_sort keeps them).
    pub groups: Vec<u32>,
    /// Effective capabilities.
    pub effective: u64,
    /// Permitted capabilities.
    pub permitted: u64,
    /// Inheritable capabilities.
    pub inheritable: u64,
    /// The bounding set.
    pub bounding: u64,
    /// Ambient capabilities.
    pub ambient: u64,
    /// Securebits.
    pub securebits: u32,
    /// PR_SET_NO_NEW_PRIVS (sticky).
    pub no_new_privs: bool,
}

/// Index of the real id in [`Creds::uid`] and [`Creds::gid`].
pub const REAL: usize = 0;
/// Index of the effective id.
pub const EFFECTIVE: usize = 1;
/// Index of the saved id.
pub const SAVED: usize = 2;
/// Index of the fs id.
pub const FS: usize = 3;

impl Default for Creds {
    fn default() -> Self {
        Self::root()
    }
}

/// What an id change did, for the caller to apply to the task (Linux's
/// commit_creds side effects).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Committed {
    /// The effective or fs ids changed, or capabilities were gained: the
    /// process stops being dumpable and the parent-death signal is
    /// cleared.
    pub lose_dumpable: bool,
}

/// Why an id or capability change was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CredError {
    /// Not allowed (EPERM).
    Perm,
    /// An invalid argument (EINVAL).
    Inval,
}

impl Creds {
    /// Root in a container: uid and gid 0, no supplementary groups, every
    /// capability of [`CAP_INIT`] permitted, effective and bounding.
    pub fn root() -> Self {
        Self {
            uid: [0; 4],
            gid: [0; 4],
            groups: Vec::new(),
            effective: CAP_INIT,
            permitted: CAP_INIT,
            inheritable: 0,
            bounding: CAP_INIT,
            ambient: 0,
            securebits: 0,
            no_new_privs: false,
        }
    }

    /// Whether capability `c` is in the effective set.
    pub fn capable(&self, c: u32) -> bool {
        self.effective & (1 << c) != 0
    }

    fn has_root_uid(&self) -> bool {
        self.uid[REAL] == 0 || self.uid[EFFECTIVE] == 0 || self.uid[SAVED] == 0
    }

    /// Applies `next` in place of `self` with commit_creds' side effects
    /// and cap_task_fix_setuid's capability fix-ups (`uid_change`: a
    /// set*uid call; `fs_change`: setfsuid).
    fn commit(&mut self, mut next: Creds, uid_change: bool, fs_change: bool) -> Committed {
        let fixup = self.securebits & secbit::NO_SETUID_FIXUP == 0;
        if fixup && uid_change {
            // cap_emulate_setxuid.
            if self.has_root_uid() && !next.has_root_uid() {
                if self.securebits & secbit::KEEP_CAPS == 0 {
                    next.permitted = 0;
                    next.effective = 0;
                }
                next.ambient = 0;
            }
            if self.uid[EFFECTIVE] == 0 && next.uid[EFFECTIVE] != 0 {
                next.effective = 0;
            }
            if self.uid[EFFECTIVE] != 0 && next.uid[EFFECTIVE] == 0 {
                next.effective = next.permitted;
            }
        }
        if fixup && fs_change {
            if self.uid[FS] == 0 && next.uid[FS] != 0 {
                next.effective &= !CAP_FS_SET;
            }
            if self.uid[FS] != 0 && next.uid[FS] == 0 {
                next.effective |= next.permitted & CAP_FS_SET;
            }
        }
        let lose_dumpable = self.uid[EFFECTIVE] != next.uid[EFFECTIVE]
            || self.gid[EFFECTIVE] != next.gid[EFFECTIVE]
            || self.uid[FS] != next.uid[FS]
            || self.gid[FS] != next.gid[FS]
            || next.permitted & !self.permitted != 0;
        *self = next;
        Committed { lose_dumpable }
    }

    /// setuid(2).
    pub fn setuid(&mut self, uid: u32) -> Result<Committed, CredError> {
        let cap = cap::SETUID;
        let ids = set_id(&self.uid, uid, self.capable(cap))?;
        let mut next = self.clone();
        next.uid = ids;
        Ok(self.commit(next, true, false))
    }

    /// setgid(2).
    pub fn setgid(&mut self, gid: u32) -> Result<Committed, CredError> {
        let ids = set_id(&self.gid, gid, self.capable(cap::SETGID))?;
        let mut next = self.clone();
        next.gid = ids;
        Ok(self.commit(next, false, false))
    }

    /// setreuid(2).
    pub fn setreuid(&mut self, r: u32, e: u32) -> Result<Committed, CredError> {
        let ids = set_re_id(&self.uid, r, e, self.capable(cap::SETUID))?;
        let mut next = self.clone();
        next.uid = ids;
        Ok(self.commit(next, true, false))
    }

    /// setregid(2).
    pub fn setregid(&mut self, r: u32, e: u32) -> Result<Committed, CredError> {
        let ids = set_re_id(&self.gid, r, e, self.capable(cap::SETGID))?;
        let mut next = self.clone();
        next.gid = ids;
        Ok(self.commit(next, false, false))
    }

    /// setresuid(2).
    pub fn setresuid(&mut self, r: u32, e: u32, s: u32) -> Result<Committed, CredError> {
        let ids = set_res_id(&self.uid, [r, e, s], self.capable(cap::SETUID))?;
        if ids == self.uid {
            return Ok(Committed::default());
        }
        let mut next = self.clone();
        next.uid = ids;
        Ok(self.commit(next, true, false))
    }

    /// setresgid(2).
    pub fn setresgid(&mut self, r: u32, e: u32, s: u32) -> Result<Committed, CredError> {
        let ids = set_res_id(&self.gid, [r, e, s], self.capable(cap::SETGID))?;
        if ids == self.gid {
            return Ok(Committed::default());
        }
        let mut next = self.clone();
        next.gid = ids;
        Ok(self.commit(next, false, false))
    }

    /// setfsuid(2): returns the old fs uid whatever happens (Linux's
    /// interface gives no error).
    pub fn setfsuid(&mut self, uid: u32) -> (u32, Committed) {
        let old = self.uid[FS];
        match set_fs_id(&self.uid, uid, self.capable(cap::SETUID)) {
            Some(ids) if ids != self.uid => {
                let mut next = self.clone();
                next.uid = ids;
                (old, self.commit(next, false, true))
            }
            _ => (old, Committed::default()),
        }
    }

    /// setfsgid(2): returns the old fs gid.
    pub fn setfsgid(&mut self, gid: u32) -> (u32, Committed) {
        let old = self.gid[FS];
        match set_fs_id(&self.gid, gid, self.capable(cap::SETGID)) {
            Some(ids) if ids != self.gid => {
                let mut next = self.clone();
                next.gid = ids;
                (old, self.commit(next, false, false))
            }
            _ => (old, Committed::default()),
        }
    }

    /// setgroups(2) with the list already read (may_setgroups: CAP_SETGID).
    pub fn setgroups(&mut self, mut groups: Vec<u32>) -> Result<(), CredError> {
        if !self.capable(cap::SETGID) {
            return Err(CredError::Perm);
        }
        groups.sort_unstable();
        self.groups = groups;
        Ok(())
    }

    /// capset(2)'s rules (cap_capset) for new sets already masked to the
    /// valid capabilities.
    pub fn capset(
        &mut self,
        effective: u64,
        permitted: u64,
        inheritable: u64,
    ) -> Result<Committed, CredError> {
        let inh_capped = !self.capable(cap::SETPCAP);
        if inh_capped && inheritable & !(self.inheritable | self.permitted) != 0 {
            return Err(CredError::Perm);
        }
        if inheritable & !(self.inheritable | self.bounding) != 0 {
            return Err(CredError::Perm);
        }
        if permitted & !self.permitted != 0 || effective & !permitted != 0 {
            return Err(CredError::Perm);
        }
        let mut next = self.clone();
        next.effective = effective;
        next.permitted = permitted;
        next.inheritable = inheritable;
        next.ambient &= permitted & inheritable;
        Ok(self.commit(next, false, false))
    }

    /// PR_CAPBSET_DROP: needs CAP_SETPCAP.
    pub fn capbset_drop(&mut self, c: u64) -> Result<(), CredError> {
        if c > u64::from(CAP_LAST_CAP) {
            return Err(CredError::Inval);
        }
        if !self.capable(cap::SETPCAP) {
            return Err(CredError::Perm);
        }
        self.bounding &= !(1 << c);
        Ok(())
    }

    /// The credentials execve gives a program without set-id bits or
    /// file capabilities (cap_bprm_creds_from_file): root (real or
    /// effective uid 0, without SECURE_NOROOT) gets its bounding set (and
    /// inheritable ones) permitted, effective if its euid is 0; others keep
    /// only their ambient set. The saved and fs ids become the effective
    /// ones; SECURE_KEEP_CAPS is cleared.
    pub fn exec(&mut self) {
        let root = self.securebits & secbit::NOROOT == 0
            && (self.uid[REAL] == 0 || self.uid[EFFECTIVE] == 0);
        if root {
            self.permitted = self.bounding | self.inheritable;
            self.effective = if self.uid[EFFECTIVE] == 0 {
                self.permitted
            } else {
                self.ambient
            };
        } else {
            self.permitted = self.ambient;
            self.effective = self.ambient;
        }
        self.uid[SAVED] = self.uid[EFFECTIVE];
        self.uid[FS] = self.uid[EFFECTIVE];
        self.gid[SAVED] = self.gid[EFFECTIVE];
        self.gid[FS] = self.gid[EFFECTIVE];
        self.securebits &= !secbit::KEEP_CAPS;
    }
}

/// Whether `id` names an id ((uid_t)-1 never does).
fn valid(id: u32) -> bool {
    id != UNCHANGED
}

/// setuid/setgid: with the capability every id becomes `id`; otherwise
/// the effective and fs ids may become the real or saved one.
fn set_id(cur: &[u32; 4], id: u32, capable: bool) -> Result<[u32; 4], CredError> {
    if !valid(id) {
        return Err(CredError::Inval);
    }
    if capable {
        Ok([id; 4])
    } else if id == cur[REAL] || id == cur[SAVED] {
        Ok([cur[REAL], id, cur[SAVED], id])
    } else {
        Err(CredError::Perm)
    }
}

/// setreuid/setregid (sys.c's __sys_setreuid).
fn set_re_id(cur: &[u32; 4], r: u32, e: u32, capable: bool) -> Result<[u32; 4], CredError> {
    let mut next = *cur;
    if r != UNCHANGED {
        next[REAL] = r;
        if !capable && r != cur[REAL] && r != cur[EFFECTIVE] {
            return Err(CredError::Perm);
        }
    }
    if e != UNCHANGED {
        next[EFFECTIVE] = e;
        if !capable && e != cur[REAL] && e != cur[EFFECTIVE] && e != cur[SAVED] {
            return Err(CredError::Perm);
        }
    }
    if r != UNCHANGED || (e != UNCHANGED && e != cur[REAL]) {
        next[SAVED] = next[EFFECTIVE];
    }
    next[FS] = next[EFFECTIVE];
    Ok(next)
}

/// setresuid/setresgid.
fn set_res_id(cur: &[u32; 4], res: [u32; 3], capable: bool) -> Result<[u32; 4], CredError> {
    let allowed = |id: u32| id == cur[REAL] || id == cur[EFFECTIVE] || id == cur[SAVED];
    if !capable && res.iter().any(|&id| id != UNCHANGED && !allowed(id)) {
        return Err(CredError::Perm);
    }
    let mut next = *cur;
    for (i, &id) in res.iter().enumerate() {
        if id != UNCHANGED {
            next[i] = id;
        }
    }
    next[FS] = next[EFFECTIVE];
    Ok(next)
}

/// setfsuid/setfsgid: the new ids, or None when refused.
fn set_fs_id(cur: &[u32; 4], id: u32, capable: bool) -> Option<[u32; 4]> {
    if !valid(id) {
        return None;
    }
    if capable || cur.contains(&id) {
        let mut next = *cur;
        next[FS] = id;
        Some(next)
    } else {
        None
    }
}

/// The Linux default timer slack, in nanoseconds.
pub const DEFAULT_TIMER_SLACK_NS: u64 = 50_000;

/// A task's identity: its credentials, personality and timer slack.
#[derive(Debug)]
pub struct Identity {
    /// The credentials (a leaf lock).
    pub creds: Mutex<Creds>,
    /// personality(2).
    pub personality: AtomicU32,
    /// PR_SET_TIMERSLACK, in nanoseconds.
    pub timer_slack: AtomicU64,
    /// What PR_SET_TIMERSLACK 0 restores: the creator's slack.
    pub default_timer_slack: AtomicU64,
}

impl Default for Identity {
    fn default() -> Self {
        Self {
            creds: Mutex::new(Creds::root()),
            personality: AtomicU32::new(0),
            timer_slack: AtomicU64::new(DEFAULT_TIMER_SLACK_NS),
            default_timer_slack: AtomicU64::new(DEFAULT_TIMER_SLACK_NS),
        }
    }
}

impl Identity {
    /// A copy of the credentials.
    pub fn creds(&self) -> Creds {
        self.creds.lock().clone()
    }

    /// A new task inherits from its creator `parent` (copy_process: the
    /// same credentials and personality; the creator's current slack as
    /// both its slack and its default).
    pub fn inherit(&self, parent: &Identity) {
        *self.creds.lock() = parent.creds();
        self.personality.store(
            parent.personality.load(Ordering::Relaxed),
            Ordering::Relaxed,
        );
        let slack = parent.timer_slack.load(Ordering::Relaxed);
        self.timer_slack.store(slack, Ordering::Relaxed);
        self.default_timer_slack.store(slack, Ordering::Relaxed);
    }

    /// The same identity under a new task (execve's tid change).
    pub fn moved(&self) -> Identity {
        Identity {
            creds: Mutex::new(self.creds()),
            personality: AtomicU32::new(self.personality.load(Ordering::Relaxed)),
            timer_slack: AtomicU64::new(self.timer_slack.load(Ordering::Relaxed)),
            default_timer_slack: AtomicU64::new(self.default_timer_slack.load(Ordering::Relaxed)),
        }
    }

    /// execve: credentials as [`Creds::exec`]; the personality loses
    /// READ_IMPLIES_EXEC (x86-64's set_personality_64bit).
    pub fn exec(&self) {
        const READ_IMPLIES_EXEC: u32 = 0x0040_0000;
        self.creds.lock().exec();
        self.personality
            .fetch_and(!READ_IMPLIES_EXEC, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn root_drops_to_a_user_and_loses_its_capabilities() {
        let mut c = Creds::root();
        c.setuid(1000).unwrap();
        assert_eq!(c.uid, [1000; 4]);
        assert_eq!((c.effective, c.permitted), (0, 0));
        assert_eq!(c.setuid(0), Err(CredError::Perm));
        assert_eq!(c.setgroups(vec![1]), Err(CredError::Perm));
    }

    #[test]
    fn keep_caps_keeps_permitted_but_clears_effective() {
        let mut c = Creds::root();
        c.securebits |= secbit::KEEP_CAPS;
        c.setresuid(1000, 1000, 1000).unwrap();
        assert_eq!(c.permitted, CAP_INIT);
        assert_eq!(c.effective, 0);
    }

    #[test]
    fn saved_root_may_come_back() {
        let mut c = Creds::root();
        c.setresuid(1000, 1000, 0).unwrap();
        assert_eq!(c.effective, 0);
        assert_eq!(c.permitted, CAP_INIT);
        c.setuid(0).unwrap();
        assert_eq!(c.uid, [1000, 0, 0, 0]);
        assert_eq!(c.effective, CAP_INIT);
    }

    #[test]
    fn fsuid_drops_the_fs_capabilities() {
        let mut c = Creds::root();
        assert_eq!(c.setfsuid(5).0, 0);
        assert_eq!(c.effective, CAP_INIT & !CAP_FS_SET);
        assert_eq!(c.setfsuid(0).0, 5);
        assert_eq!(c.effective, CAP_INIT);
        assert_eq!(c.setfsuid(UNCHANGED).0, 0);
    }

    #[test]
    fn capset_may_only_drop() {
        let mut c = Creds::root();
        c.capset(0, 1 << 3, 0).unwrap();
        assert_eq!(c.capset(1 << 3, 1 << 4, 0), Err(CredError::Perm));
        assert_eq!(c.capset(1 << 4, 1 << 3, 0), Err(CredError::Perm));
        c.capset(1 << 3, 1 << 3, 0).unwrap();
        assert_eq!(c.effective, 1 << 3);
    }
}

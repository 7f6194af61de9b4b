//! Process ABI: clone flags and `struct clone_args`, wait options,
//! `struct rusage`, `struct rlimit`, `struct sysinfo`, `struct utsname`.

use super::{Abi, Dec, Enc};
use crate::abi::time::Timeval;

bitflags::bitflags! {
    /// clone's flags (clone(2)'s low 32 bits minus CSIGNAL, clone3's 64).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct CloneFlags: u64 {
        const NEWTIME = 0x80;
        const VM = 0x100;
        const FS = 0x200;
        const FILES = 0x400;
        const SIGHAND = 0x800;
        const PIDFD = 0x1000;
        const PTRACE = 0x2000;
        const VFORK = 0x4000;
        const PARENT = 0x8000;
        const THREAD = 0x10000;
        const NEWNS = 0x20000;
        const SYSVSEM = 0x40000;
        const SETTLS = 0x80000;
        const PARENT_SETTID = 0x10_0000;
        const CHILD_CLEARTID = 0x20_0000;
        const DETACHED = 0x40_0000;
        const UNTRACED = 0x80_0000;
        const CHILD_SETTID = 0x100_0000;
        const NEWCGROUP = 0x200_0000;
        const NEWUTS = 0x400_0000;
        const NEWIPC = 0x800_0000;
        const NEWUSER = 0x1000_0000;
        const NEWPID = 0x2000_0000;
        const NEWNET = 0x4000_0000;
        const IO = 0x8000_0000;
        const CLEAR_SIGHAND = 0x1_0000_0000;
        const INTO_CGROUP = 0x2_0000_0000;
    }
}

impl CloneFlags {
    /// The exit-signal byte of clone(2)'s flags.
    pub const CSIGNAL: u64 = 0xff;
    /// The namespace flags (EPERM in the sandbox).
    pub const NAMESPACES: CloneFlags = CloneFlags::NEWNS
        .union(CloneFlags::NEWCGROUP)
        .union(CloneFlags::NEWUTS)
        .union(CloneFlags::NEWIPC)
        .union(CloneFlags::NEWUSER)
        .union(CloneFlags::NEWPID)
        .union(CloneFlags::NEWNET)
        .union(CloneFlags::NEWTIME);
}

/// `struct clone_args` of clone3(2), version 2 (88 bytes): every field a
/// 64-bit word. Shorter versions are read through
/// [`read_extensible`](super::read_extensible) (zero-extended).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CloneArgsAbi {
    /// flags (no signal byte: exit_signal is separate).
    pub flags: u64,
    /// pidfd: where CLONE_PIDFD stores the descriptor.
    pub pidfd: u64,
    /// child_tid.
    pub child_tid: u64,
    /// parent_tid.
    pub parent_tid: u64,
    /// exit_signal.
    pub exit_signal: u64,
    /// stack (lowest address).
    pub stack: u64,
    /// stack_size.
    pub stack_size: u64,
    /// tls.
    pub tls: u64,
    /// set_tid: an array of pid_t.
    pub set_tid: u64,
    /// set_tid_size.
    pub set_tid_size: u64,
    /// cgroup (a descriptor).
    pub cgroup: u64,
}

impl CloneArgsAbi {
    /// Size of version 0 (first published).
    pub const SIZE_VER0: usize = 64;
    /// Size of version 1 (set_tid).
    pub const SIZE_VER1: usize = 80;
    /// Size of version 2 (cgroup), the largest this kernel knows.
    pub const SIZE_VER2: usize = 88;
}

impl Abi for CloneArgsAbi {
    const SIZE: usize = 88;
    fn decode(b: &[u8]) -> Self {
        let d = Dec(b);
        Self {
            flags: d.u64(0),
            pidfd: d.u64(8),
            child_tid: d.u64(16),
            parent_tid: d.u64(24),
            exit_signal: d.u64(32),
            stack: d.u64(40),
            stack_size: d.u64(48),
            tls: d.u64(56),
            set_tid: d.u64(64),
            set_tid_size: d.u64(72),
            cgroup: d.u64(80),
        }
    }
    fn encode(&self, b: &mut [u8]) {
        let mut e = Enc(b);
        for (i, w) in [
            self.flags,
            self.pidfd,
            self.child_tid,
            self.parent_tid,
            self.exit_signal,
            self.stack,
            self.stack_size,
            self.tls,
            self.set_tid,
            self.set_tid_size,
            self.cgroup,
        ]
        .into_iter()
        .enumerate()
        {
            e.u64(i * 8, w);
        }
    }
}

bitflags::bitflags! {
    /// wait4 and waitid options (an `int`; the `__W*` bits are the high
    /// ones).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct WaitOptions: u32 {
        const NOHANG = 1;
        /// WUNTRACED for wait4.
        const STOPPED = 2;
        const EXITED = 4;
        const CONTINUED = 8;
        const NOWAIT = 0x0100_0000;
        const NOTHREAD = 0x2000_0000;
        const ALL = 0x4000_0000;
        const CLONE = 0x8000_0000;
    }
}

/// `struct rusage` (144 bytes): two timevals, then 14 longs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rusage {
    /// ru_utime.
    pub utime: Timeval,
    /// ru_stime.
    pub stime: Timeval,
    /// ru_maxrss .. ru_nivcsw, in order.
    pub counters: [i64; 14],
}

impl Abi for Rusage {
    const SIZE: usize = 144;
    fn decode(b: &[u8]) -> Self {
        let d = Dec(b);
        let mut counters = [0i64; 14];
        for (i, c) in counters.iter_mut().enumerate() {
            *c = d.i64(32 + i * 8);
        }
        Self {
            utime: d.get(0),
            stime: d.get(16),
            counters,
        }
    }
    fn encode(&self, b: &mut [u8]) {
        let mut e = Enc(b);
        e.put(0, &self.utime);
        e.put(16, &self.stime);
        for (i, c) in self.counters.iter().enumerate() {
            e.i64(32 + i * 8, *c);
        }
    }
}

/// `struct rlimit` (`rlimit64` alike on x86-64): soft, then hard limit.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rlimit {
    /// rlim_cur.
    pub cur: u64,
    /// rlim_max.
    pub max: u64,
}

impl Rlimit {
    /// RLIM_INFINITY.
    pub const INFINITY: u64 = u64::MAX;
}

impl Abi for Rlimit {
    const SIZE: usize = 16;
    fn decode(b: &[u8]) -> Self {
        let d = Dec(b);
        Self {
            cur: d.u64(0),
            max: d.u64(8),
        }
    }
    fn encode(&self, b: &mut [u8]) {
        let mut e = Enc(b);
        e.u64(0, self.cur);
        e.u64(8, self.max);
    }
}

/// `struct sysinfo` (112 bytes).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Sysinfo {
    /// uptime, seconds.
    pub uptime: i64,
    /// 1, 5 and 15 minute load averages (fixed point, << 16).
    pub loads: [u64; 3],
    /// totalram, in mem_unit.
    pub totalram: u64,
    /// freeram.
    pub freeram: u64,
    /// sharedram.
    pub sharedram: u64,
    /// bufferram.
    pub bufferram: u64,
    /// totalswap.
    pub totalswap: u64,
    /// freeswap.
    pub freeswap: u64,
    /// procs: the number of tasks.
    pub procs: u16,
    /// totalhigh.
    pub totalhigh: u64,
    /// freehigh.
    pub freehigh: u64,
    /// mem_unit, bytes.
    pub mem_unit: u32,
}

impl Abi for Sysinfo {
    const SIZE: usize = 112;
    fn decode(b: &[u8]) -> Self {
        let d = Dec(b);
        Self {
            uptime: d.i64(0),
            loads: [d.u64(8), d.u64(16), d.u64(24)],
            totalram: d.u64(32),
            freeram: d.u64(40),
            sharedram: d.u64(48),
            bufferram: d.u64(56),
            totalswap: d.u64(64),
            freeswap: d.u64(72),
            procs: d.u16(80),
            totalhigh: d.u64(88),
            freehigh: d.u64(96),
            mem_unit: d.u32(104),
        }
    }
    fn encode(&self, b: &mut [u8]) {
        let mut e = Enc(b);
        e.i64(0, self.uptime);
        for (i, l) in self.loads.iter().enumerate() {
            e.u64(8 + i * 8, *l);
        }
        e.u64(32, self.totalram);
        e.u64(40, self.freeram);
        e.u64(48, self.sharedram);
        e.u64(56, self.bufferram);
        e.u64(64, self.totalswap);
        e.u64(72, self.freeswap);
        e.u16(80, self.procs);
        e.u64(88, self.totalhigh);
        e.u64(96, self.freehigh);
        e.u32(104, self.mem_unit);
    }
}

/// `struct utsname`: six NUL-padded 65-byte strings.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Utsname {
    /// sysname, nodename, release, version, machine, domainname.
    pub fields: [Vec<u8>; 6],
}

impl Utsname {
    /// The length of each field, its NUL included.
    pub const FIELD: usize = 65;
}

impl Abi for Utsname {
    const SIZE: usize = 6 * 65;
    fn decode(b: &[u8]) -> Self {
        let fields = std::array::from_fn(|i| {
            let f = &b[i * Self::FIELD..(i + 1) * Self::FIELD];
            let n = f.iter().position(|&c| c == 0).unwrap_or(f.len());
            f[..n].to_vec()
        });
        Self { fields }
    }
    fn encode(&self, b: &mut [u8]) {
        for (i, f) in self.fields.iter().enumerate() {
            // At most 64 bytes: the last one of each field stays NUL.
            let n = f.len().min(Self::FIELD - 1);
            let slot = &mut b[i * Self::FIELD..(i + 1) * Self::FIELD];
            slot.fill(0);
            slot[..n].copy_from_slice(&f[..n]);
        }
    }
}

/// `struct futex_waitv` (futex_waitv(2)): the expected value, the address,
/// flags, a reserved word.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FutexWaitv {
    /// val.
    pub val: u64,
    /// uaddr.
    pub uaddr: u64,
    /// flags (FUTEX2_*).
    pub flags: u32,
    /// __reserved (must be 0).
    pub reserved: u32,
}

impl Abi for FutexWaitv {
    const SIZE: usize = 24;
    fn decode(b: &[u8]) -> Self {
        let d = Dec(b);
        Self {
            val: d.u64(0),
            uaddr: d.u64(8),
            flags: d.u32(16),
            reserved: d.u32(20),
        }
    }
    fn encode(&self, b: &mut [u8]) {
        let mut e = Enc(b);
        e.u64(0, self.val);
        e.u64(8, self.uaddr);
        e.u32(16, self.flags);
        e.u32(20, self.reserved);
    }
}

#[cfg(test)]
mod tests {
    use std::mem::{offset_of, size_of};

    use super::*;

    #[test]
    fn clone_args_layout_is_linuxs() {
        assert_eq!(CloneArgsAbi::SIZE, CloneArgsAbi::SIZE_VER2);
        let a = CloneArgsAbi {
            flags: CloneFlags::PIDFD.bits(),
            pidfd: 1,
            child_tid: 2,
            parent_tid: 3,
            exit_signal: 17,
            stack: 5,
            stack_size: 6,
            tls: 7,
            set_tid: 8,
            set_tid_size: 9,
            cgroup: 10,
        };
        let b = a.to_bytes();
        // exit_signal at 32, tls at 56, set_tid at 64 and cgroup at 80,
        // as in include/uapi/linux/sched.h.
        assert_eq!(u64::decode(&b[32..40]), 17);
        assert_eq!(u64::decode(&b[56..64]), 7);
        assert_eq!(u64::decode(&b[64..72]), 8);
        assert_eq!(u64::decode(&b[80..88]), 10);
        assert_eq!(CloneArgsAbi::decode(&b), a);
    }

    #[test]
    fn futex_waitv_round_trips() {
        let w = FutexWaitv {
            val: 1,
            uaddr: 0x1000,
            flags: 2,
            reserved: 0,
        };
        let b = w.to_bytes();
        assert_eq!(u32::decode(&b[16..20]), 2);
        assert_eq!(FutexWaitv::decode(&b), w);
    }

    #[test]
    fn clone_flags_match_linux() {
        assert_eq!(CloneFlags::VM.bits(), libc::CLONE_VM as u64);
        assert_eq!(CloneFlags::THREAD.bits(), libc::CLONE_THREAD as u64);
        assert_eq!(CloneFlags::SETTLS.bits(), libc::CLONE_SETTLS as u64);
        assert_eq!(CloneFlags::PIDFD.bits(), libc::CLONE_PIDFD as u64);
        assert_eq!(
            CloneFlags::CHILD_CLEARTID.bits(),
            libc::CLONE_CHILD_CLEARTID as u64
        );
        assert_eq!(CloneFlags::IO.bits(), libc::CLONE_IO as u32 as u64);
        assert!(CloneFlags::NAMESPACES.contains(CloneFlags::NEWUSER));
        assert!(!CloneFlags::NAMESPACES.contains(CloneFlags::VM));
    }

    #[test]
    fn wait_options_match_linux() {
        assert_eq!(WaitOptions::NOHANG.bits(), libc::WNOHANG as u32);
        assert_eq!(WaitOptions::STOPPED.bits(), libc::WUNTRACED as u32);
        assert_eq!(WaitOptions::EXITED.bits(), libc::WEXITED as u32);
        assert_eq!(WaitOptions::CONTINUED.bits(), libc::WCONTINUED as u32);
        assert_eq!(WaitOptions::NOWAIT.bits(), libc::WNOWAIT as u32);
        assert_eq!(WaitOptions::ALL.bits(), libc::__WALL as u32);
        assert_eq!(WaitOptions::CLONE.bits(), libc::__WCLONE as u32);
    }

    #[test]
    fn rusage_rlimit_sysinfo_layouts_are_linuxs() {
        assert_eq!(Rusage::SIZE, size_of::<libc::rusage>());
        assert_eq!(offset_of!(libc::rusage, ru_stime), 16);
        assert_eq!(offset_of!(libc::rusage, ru_maxrss), 32);
        assert_eq!(offset_of!(libc::rusage, ru_nivcsw), 32 + 13 * 8);
        assert_eq!(Rlimit::SIZE, size_of::<libc::rlimit64>());
        assert_eq!(offset_of!(libc::rlimit64, rlim_max), 8);
        assert_eq!(Sysinfo::SIZE, size_of::<libc::sysinfo>());
        assert_eq!(offset_of!(libc::sysinfo, totalram), 32);
        assert_eq!(offset_of!(libc::sysinfo, freeram), 40);
        assert_eq!(offset_of!(libc::sysinfo, procs), 80);
        assert_eq!(offset_of!(libc::sysinfo, totalhigh), 88);
        assert_eq!(offset_of!(libc::sysinfo, mem_unit), 104);
    }

    #[test]
    fn sysinfo_and_rusage_round_trip() {
        let s = Sysinfo {
            uptime: 3,
            loads: [1, 2, 3],
            totalram: 1 << 30,
            freeram: 1 << 29,
            procs: 4,
            mem_unit: 1,
            ..Default::default()
        };
        assert_eq!(Sysinfo::decode(&s.to_bytes()), s);
        let mut r = Rusage::default();
        r.utime.usec = 5;
        r.counters[13] = 99;
        assert_eq!(Rusage::decode(&r.to_bytes()), r);
    }

    #[test]
    fn utsname_fields_are_65_bytes_nul_terminated() {
        assert_eq!(Utsname::SIZE, size_of::<libc::utsname>());
        assert_eq!(offset_of!(libc::utsname, nodename), 65);
        assert_eq!(offset_of!(libc::utsname, machine), 4 * 65);
        let mut u = Utsname::default();
        u.fields[0] = b"Linux".to_vec();
        u.fields[4] = b"x86_64".to_vec();
        u.fields[5] = vec![b'x'; 100];
        let b = u.to_bytes();
        assert_eq!(&b[4 * 65..4 * 65 + 7], b"x86_64\0");
        assert_eq!(b[6 * 65 - 1], 0);
        let back = Utsname::decode(&b);
        assert_eq!(back.fields[0], b"Linux");
        assert_eq!(back.fields[5].len(), 64);
    }
}

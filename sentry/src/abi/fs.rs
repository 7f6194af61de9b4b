//! File ABI: open flags, `struct stat`, `struct statx`, `struct pollfd`,
//! `struct epoll_event`, `struct iovec`, `struct statfs`, `struct
//! linux_dirent64`.

use super::time::Timespec;
use super::{Abi, Dec, Enc};

bitflags::bitflags! {
    /// open's flags (an `int`). O_RDONLY is 0: the access mode is
    /// [`OpenFlags::access_mode`], not a flag.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct OpenFlags: u32 {
        const WRONLY = 0o1;
        const RDWR = 0o2;
        const CREAT = 0o100;
        const EXCL = 0o200;
        const NOCTTY = 0o400;
        const TRUNC = 0o1000;
        const APPEND = 0o2000;
        const NONBLOCK = 0o4000;
        const DSYNC = 0o10000;
        const ASYNC = 0o20000;
        const DIRECT = 0o40000;
        const LARGEFILE = 0o100000;
        const DIRECTORY = 0o200000;
        const NOFOLLOW = 0o400000;
        const NOATIME = 0o1000000;
        const CLOEXEC = 0o2000000;
        /// O_SYNC is `__O_SYNC | O_DSYNC`.
        const SYNC = 0o4010000;
        const PATH = 0o10000000;
        /// O_TMPFILE is `__O_TMPFILE | O_DIRECTORY`.
        const TMPFILE = 0o20000000 | 0o200000;
    }
}

impl OpenFlags {
    /// O_ACCMODE.
    pub const ACCMODE: u32 = 0o3;

    /// The flags of an `int flags` argument (unknown bits kept: open
    /// ignores them, openat2 rejects them).
    pub const fn from_arg(raw: u64) -> Self {
        Self::from_bits_retain(raw as u32)
    }

    /// The access mode: 0 (read), 1 (write), 2 (read-write) or 3.
    pub const fn access_mode(self) -> u32 {
        self.bits() & Self::ACCMODE
    }
}

/// The x86-64 `struct stat` (144 bytes) that stat, fstat, lstat and
/// newfstatat fill.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stat {
    /// st_dev.
    pub dev: u64,
    /// st_ino.
    pub ino: u64,
    /// st_nlink.
    pub nlink: u64,
    /// st_mode.
    pub mode: u32,
    /// st_uid.
    pub uid: u32,
    /// st_gid.
    pub gid: u32,
    /// st_rdev.
    pub rdev: u64,
    /// st_size.
    pub size: i64,
    /// st_blksize.
    pub blksize: i64,
    /// st_blocks.
    pub blocks: i64,
    /// st_atim.
    pub atime: Timespec,
    /// st_mtim.
    pub mtime: Timespec,
    /// st_ctim.
    pub ctime: Timespec,
}

impl Abi for Stat {
    const SIZE: usize = 144;
    fn decode(b: &[u8]) -> Self {
        let d = Dec(b);
        Self {
            dev: d.u64(0),
            ino: d.u64(8),
            nlink: d.u64(16),
            mode: d.u32(24),
            uid: d.u32(28),
            gid: d.u32(32),
            rdev: d.u64(40),
            size: d.i64(48),
            blksize: d.i64(56),
            blocks: d.i64(64),
            atime: d.get(72),
            mtime: d.get(88),
            ctime: d.get(104),
        }
    }
    fn encode(&self, b: &mut [u8]) {
        let mut e = Enc(b);
        e.u64(0, self.dev);
        e.u64(8, self.ino);
        e.u64(16, self.nlink);
        e.u32(24, self.mode);
        e.u32(28, self.uid);
        e.u32(32, self.gid);
        e.u64(40, self.rdev);
        e.i64(48, self.size);
        e.i64(56, self.blksize);
        e.i64(64, self.blocks);
        e.put(72, &self.atime);
        e.put(88, &self.mtime);
        e.put(104, &self.ctime);
    }
}

/// `struct statx_timestamp`: seconds, nanoseconds (u32), 4 reserved bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StatxTimestamp {
    /// tv_sec.
    pub sec: i64,
    /// tv_nsec.
    pub nsec: u32,
}

impl Abi for StatxTimestamp {
    const SIZE: usize = 16;
    fn decode(b: &[u8]) -> Self {
        let d = Dec(b);
        Self {
            sec: d.i64(0),
            nsec: d.u32(8),
        }
    }
    fn encode(&self, b: &mut [u8]) {
        let mut e = Enc(b);
        e.i64(0, self.sec);
        e.u32(8, self.nsec);
    }
}

/// `struct statx` (256 bytes); the fields after `dev_minor` (mount id,
/// DIO alignment...) are written as zero.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Statx {
    /// stx_mask: which fields are filled.
    pub mask: u32,
    /// stx_blksize.
    pub blksize: u32,
    /// stx_attributes.
    pub attributes: u64,
    /// stx_nlink.
    pub nlink: u32,
    /// stx_uid.
    pub uid: u32,
    /// stx_gid.
    pub gid: u32,
    /// stx_mode.
    pub mode: u16,
    /// stx_ino.
    pub ino: u64,
    /// stx_size.
    pub size: u64,
    /// stx_blocks.
    pub blocks: u64,
    /// stx_attributes_mask.
    pub attributes_mask: u64,
    /// stx_atime.
    pub atime: StatxTimestamp,
    /// stx_btime.
    pub btime: StatxTimestamp,
    /// stx_ctime.
    pub ctime: StatxTimestamp,
    /// stx_mtime.
    pub mtime: StatxTimestamp,
    /// stx_rdev_major.
    pub rdev_major: u32,
    /// stx_rdev_minor.
    pub rdev_minor: u32,
    /// stx_dev_major.
    pub dev_major: u32,
    /// stx_dev_minor.
    pub dev_minor: u32,
}

impl Statx {
    /// STATX_BASIC_STATS: type, mode, nlink, uid, gid, atime, mtime, ctime,
    /// ino, size, blocks.
    pub const BASIC_STATS: u32 = 0x7ff;
}

impl Abi for Statx {
    const SIZE: usize = 256;
    fn decode(b: &[u8]) -> Self {
        let d = Dec(b);
        Self {
            mask: d.u32(0),
            blksize: d.u32(4),
            attributes: d.u64(8),
            nlink: d.u32(16),
            uid: d.u32(20),
            gid: d.u32(24),
            mode: d.u16(28),
            ino: d.u64(32),
            size: d.u64(40),
            blocks: d.u64(48),
            attributes_mask: d.u64(56),
            atime: d.get(64),
            btime: d.get(80),
            ctime: d.get(96),
            mtime: d.get(112),
            rdev_major: d.u32(128),
            rdev_minor: d.u32(132),
            dev_major: d.u32(136),
            dev_minor: d.u32(140),
        }
    }
    fn encode(&self, b: &mut [u8]) {
        let mut e = Enc(b);
        e.u32(0, self.mask);
        e.u32(4, self.blksize);
        e.u64(8, self.attributes);
        e.u32(16, self.nlink);
        e.u32(20, self.uid);
        e.u32(24, self.gid);
        e.u16(28, self.mode);
        e.u64(32, self.ino);
        e.u64(40, self.size);
        e.u64(48, self.blocks);
        e.u64(56, self.attributes_mask);
        e.put(64, &self.atime);
        e.put(80, &self.btime);
        e.put(96, &self.ctime);
        e.put(112, &self.mtime);
        e.u32(128, self.rdev_major);
        e.u32(132, self.rdev_minor);
        e.u32(136, self.dev_major);
        e.u32(140, self.dev_minor);
    }
}

/// `struct pollfd`: fd, events, revents.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PollFd {
    /// fd (negative: ignored).
    pub fd: i32,
    /// events asked for.
    pub events: u16,
    /// events returned.
    pub revents: u16,
}

impl Abi for PollFd {
    const SIZE: usize = 8;
    fn decode(b: &[u8]) -> Self {
        let d = Dec(b);
        Self {
            fd: d.i32(0),
            events: d.u16(4),
            revents: d.u16(6),
        }
    }
    fn encode(&self, b: &mut [u8]) {
        let mut e = Enc(b);
        e.i32(0, self.fd);
        e.u16(4, self.events);
        e.u16(6, self.revents);
    }
}

/// `struct epoll_event`: packed on x86-64 (12 bytes: events, then data
/// at offset 4).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct EpollEvent {
    /// events.
    pub events: u32,
    /// data (the caller's cookie).
    pub data: u64,
}

impl Abi for EpollEvent {
    const SIZE: usize = 12;
    fn decode(b: &[u8]) -> Self {
        let d = Dec(b);
        Self {
            events: d.u32(0),
            data: d.u64(4),
        }
    }
    fn encode(&self, b: &mut [u8]) {
        let mut e = Enc(b);
        e.u32(0, self.events);
        e.u64(4, self.data);
    }
}

/// `struct iovec`: base, length.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Iovec {
    /// iov_base.
    pub base: u64,
    /// iov_len.
    pub len: u64,
}

impl Abi for Iovec {
    const SIZE: usize = 16;
    fn decode(b: &[u8]) -> Self {
        let d = Dec(b);
        Self {
            base: d.u64(0),
            len: d.u64(8),
        }
    }
    fn encode(&self, b: &mut [u8]) {
        let mut e = Enc(b);
        e.u64(0, self.base);
        e.u64(8, self.len);
    }
}

#[cfg(test)]
mod tests {
    use std::mem::{offset_of, size_of};

    use super::*;

    #[test]
    fn stat_layout_is_linuxs() {
        assert_eq!(Stat::SIZE, size_of::<libc::stat>());
        assert_eq!(offset_of!(libc::stat, st_nlink), 16);
        assert_eq!(offset_of!(libc::stat, st_mode), 24);
        assert_eq!(offset_of!(libc::stat, st_gid), 32);
        assert_eq!(offset_of!(libc::stat, st_rdev), 40);
        assert_eq!(offset_of!(libc::stat, st_size), 48);
        assert_eq!(offset_of!(libc::stat, st_blocks), 64);
        assert_eq!(offset_of!(libc::stat, st_atime), 72);
        assert_eq!(offset_of!(libc::stat, st_mtime), 88);
        assert_eq!(offset_of!(libc::stat, st_ctime), 104);
        let s = Stat {
            dev: 1,
            ino: 2,
            nlink: 3,
            mode: 0o100644,
            uid: 5,
            gid: 6,
            rdev: 7,
            size: 8,
            blksize: 4096,
            blocks: 10,
            atime: Timespec { sec: 11, nsec: 12 },
            mtime: Timespec { sec: 13, nsec: 14 },
            ctime: Timespec { sec: 15, nsec: 16 },
        };
        let b = s.to_bytes();
        assert_eq!(i64::decode(&b[96..104]), 14); // st_mtim.tv_nsec
        assert_eq!(Stat::decode(&b), s);
    }

    #[test]
    fn statx_layout_is_linuxs() {
        assert_eq!(Statx::SIZE, size_of::<libc::statx>());
        assert_eq!(offset_of!(libc::statx, stx_mode), 28);
        assert_eq!(offset_of!(libc::statx, stx_ino), 32);
        assert_eq!(offset_of!(libc::statx, stx_atime), 64);
        assert_eq!(offset_of!(libc::statx, stx_btime), 80);
        assert_eq!(offset_of!(libc::statx, stx_ctime), 96);
        assert_eq!(offset_of!(libc::statx, stx_mtime), 112);
        assert_eq!(offset_of!(libc::statx, stx_rdev_major), 128);
        assert_eq!(offset_of!(libc::statx, stx_dev_minor), 140);
        assert_eq!(StatxTimestamp::SIZE, size_of::<libc::statx_timestamp>());
        let x = Statx {
            mask: Statx::BASIC_STATS,
            mode: 0o40755,
            mtime: StatxTimestamp { sec: 9, nsec: 8 },
            dev_minor: 3,
            ..Default::default()
        };
        let b = x.to_bytes();
        assert_eq!(u32::decode(&b[120..124]), 8);
        assert!(b[144..].iter().all(|&c| c == 0));
        assert_eq!(Statx::decode(&b), x);
    }

    #[test]
    fn poll_epoll_iovec_layouts_are_linuxs() {
        assert_eq!(PollFd::SIZE, size_of::<libc::pollfd>());
        assert_eq!(offset_of!(libc::pollfd, revents), 6);
        assert_eq!(EpollEvent::SIZE, size_of::<libc::epoll_event>());
        let e = EpollEvent {
            events: 1,
            data: 0x1122_3344_5566_7788,
        };
        let b = e.to_bytes();
        assert_eq!(u64::decode(&b[4..12]), 0x1122_3344_5566_7788);
        assert_eq!(EpollEvent::decode(&b), e);
        assert_eq!(Iovec::SIZE, size_of::<libc::iovec>());
        let p = PollFd {
            fd: -1,
            events: 4,
            revents: 0x20,
        };
        assert_eq!(PollFd::decode(&p.to_bytes()), p);
    }

    #[test]
    fn open_flags_match_linux() {
        assert_eq!(OpenFlags::CREAT.bits(), libc::O_CREAT as u32);
        assert_eq!(OpenFlags::CLOEXEC.bits(), libc::O_CLOEXEC as u32);
        assert_eq!(OpenFlags::DIRECTORY.bits(), libc::O_DIRECTORY as u32);
        assert_eq!(OpenFlags::PATH.bits(), libc::O_PATH as u32);
        assert_eq!(OpenFlags::SYNC.bits(), libc::O_SYNC as u32);
        assert_eq!(OpenFlags::TMPFILE.bits(), libc::O_TMPFILE as u32);
        assert_eq!(OpenFlags::NONBLOCK.bits(), libc::O_NONBLOCK as u32);
        let f = OpenFlags::from_arg(0xffff_ffff_0000_0042);
        assert_eq!(f.access_mode(), 2);
        assert!(f.contains(OpenFlags::CREAT));
    }
}

/// openat2's `struct open_how` (24 bytes in its first version; later
/// versions are read with [`super::read_extensible`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenHow {
    /// O_* flags.
    pub flags: u64,
    /// The mode for O_CREAT / O_TMPFILE.
    pub mode: u64,
    /// RESOLVE_* flags.
    pub resolve: u64,
}

impl OpenHow {
    /// OPEN_HOW_SIZE_VER0.
    pub const SIZE_VER0: usize = 24;
}

impl Abi for OpenHow {
    const SIZE: usize = 24;
    fn decode(b: &[u8]) -> Self {
        let d = Dec(b);
        Self {
            flags: d.u64(0),
            mode: d.u64(8),
            resolve: d.u64(16),
        }
    }
    fn encode(&self, b: &mut [u8]) {
        let mut e = Enc(b);
        e.u64(0, self.flags);
        e.u64(8, self.mode);
        e.u64(16, self.resolve);
    }
}

/// The x86-64 `struct statfs` (120 bytes).
impl Abi for crate::fs::vfs::StatFs {
    const SIZE: usize = 120;
    fn decode(b: &[u8]) -> Self {
        let d = Dec(b);
        Self {
            fs_type: d.i64(0),
            bsize: d.i64(8),
            blocks: d.u64(16),
            bfree: d.u64(24),
            bavail: d.u64(32),
            files: d.u64(40),
            ffree: d.u64(48),
            fsid: d.u64(56),
            namelen: d.i64(64),
            frsize: d.i64(72),
            flags: d.i64(80),
        }
    }
    fn encode(&self, b: &mut [u8]) {
        let mut e = Enc(b);
        e.i64(0, self.fs_type);
        e.i64(8, self.bsize);
        e.u64(16, self.blocks);
        e.u64(24, self.bfree);
        e.u64(32, self.bavail);
        e.u64(40, self.files);
        e.u64(48, self.ffree);
        e.u64(56, self.fsid);
        e.i64(64, self.namelen);
        e.i64(72, self.frsize);
        e.i64(80, self.flags);
    }
}

/// One `struct linux_dirent64` record of getdents64: a 19-byte header
/// (`d_ino`, `d_off`, `d_reclen`, `d_type`), the name, a NUL, and zero
/// padding to a multiple of 8 bytes. Variable-sized, so not an [`Abi`]
/// struct: [`Dirent64::encode_to`] appends the whole record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Dirent64<'a> {
    /// d_ino.
    pub ino: u64,
    /// d_off: the position of the next entry.
    pub off: i64,
    /// d_type (DT_*).
    pub kind: u8,
    /// d_name, without its NUL.
    pub name: &'a [u8],
}

impl Dirent64<'_> {
    /// `offsetof(struct linux_dirent64, d_name)`.
    pub const NAME_OFFSET: usize = 19;

    /// d_reclen: the header, the name and its NUL, rounded up to 8.
    pub const fn reclen(&self) -> usize {
        (Self::NAME_OFFSET + self.name.len() + 1).div_ceil(8) * 8
    }

    /// Appends the record (`reclen` bytes) to `out`.
    pub fn encode_to(&self, out: &mut Vec<u8>) {
        let start = out.len();
        let reclen = self.reclen();
        out.resize(start + reclen, 0);
        let mut e = Enc(&mut out[start..]);
        e.u64(0, self.ino);
        e.i64(8, self.off);
        e.u16(16, reclen as u16);
        e.u8(18, self.kind);
        e.bytes(Self::NAME_OFFSET, self.name);
    }
}

#[cfg(test)]
mod statfs_dirent_tests {
    use std::mem::{offset_of, size_of};

    use super::*;
    use crate::fs::vfs::StatFs;

    #[test]
    fn statfs_layout_is_linuxs() {
        assert_eq!(StatFs::SIZE, size_of::<libc::statfs>());
        assert_eq!(offset_of!(libc::statfs, f_bsize), 8);
        assert_eq!(offset_of!(libc::statfs, f_blocks), 16);
        assert_eq!(offset_of!(libc::statfs, f_ffree), 48);
        assert_eq!(offset_of!(libc::statfs, f_fsid), 56);
        assert_eq!(offset_of!(libc::statfs, f_namelen), 64);
        assert_eq!(offset_of!(libc::statfs, f_frsize), 72);
        // f_flags (80) is the first word of the libc crate's f_spare.
        let s = StatFs {
            fs_type: 0x0102_1994,
            bsize: 4096,
            blocks: 3,
            bfree: 4,
            bavail: 5,
            files: 6,
            ffree: 7,
            fsid: 8,
            namelen: 255,
            frsize: 4096,
            flags: StatFs::ST_RDONLY,
        };
        let b = s.to_bytes();
        assert_eq!(i64::decode(&b[64..72]), 255);
        assert!(b[88..].iter().all(|&c| c == 0), "f_spare is zero");
        let back = StatFs::decode(&b);
        assert_eq!((back.fs_type, back.ffree, back.flags), (0x0102_1994, 7, 1));
    }

    #[test]
    fn dirent64_layout_is_linuxs() {
        assert_eq!(offset_of!(libc::dirent64, d_off), 8);
        assert_eq!(offset_of!(libc::dirent64, d_reclen), 16);
        assert_eq!(offset_of!(libc::dirent64, d_type), 18);
        assert_eq!(offset_of!(libc::dirent64, d_name), Dirent64::NAME_OFFSET);
        let d = Dirent64 {
            ino: 0x1122_3344,
            off: 2,
            kind: libc::DT_DIR,
            name: b"abcde",
        };
        // 19 + 5 + NUL = 25, rounded to 32.
        assert_eq!(d.reclen(), 32);
        let mut out = vec![0xaa];
        d.encode_to(&mut out);
        let r = &out[1..];
        assert_eq!(r.len(), 32);
        assert_eq!(u64::decode(&r[0..8]), 0x1122_3344);
        assert_eq!(i64::decode(&r[8..16]), 2);
        assert_eq!(u16::decode(&r[16..18]), 32);
        assert_eq!(r[18], libc::DT_DIR);
        assert_eq!(&r[19..24], b"abcde");
        assert!(r[24..].iter().all(|&c| c == 0), "NUL and padding");
        // A name that fills the record exactly still gets its NUL.
        let full = Dirent64 { name: b"abcd", ..d };
        assert_eq!(full.reclen(), 24);
    }
}

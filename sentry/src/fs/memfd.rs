//! memfd_create(2) files and file seals (fcntl F_ADD_SEALS, F_GET_SEALS).
//!
//! A memfd is an unlinked regular file of an internal tmpfs (one per
//! sandbox, as Linux's shm mount), so its data is a shared memory object
//! of platform frames: mappings of it, read(2) and write(2) see the same
//! pages. /proc shows it as `/memfd:NAME (deleted)`.
//!
//! Seals live on every tmpfs inode (F_SEAL_SEAL but for memfds made with
//! MFD_ALLOW_SEALING, as Linux's shmem); the checks a sealed file makes
//! on write, truncate and fallocate are [`check_write`],
//! [`check_resize`] and [`check_allocate`], called by the tmpfs.

use std::sync::{Arc, OnceLock};

use super::tmpfs::{PlatformCharge, TmpFs, TmpInode};
use super::vfs::{Caller, Inode};
use super::{Blocker, FileOps, OpenFile, Stat};
use crate::errno::Errno;

/// Prevents further seals.
pub const F_SEAL_SEAL: u32 = 0x1;
/// Prevents shrinking.
pub const F_SEAL_SHRINK: u32 = 0x2;
/// Prevents growing.
pub const F_SEAL_GROW: u32 = 0x4;
/// Prevents writes (refused while a writable shared mapping exists).
pub const F_SEAL_WRITE: u32 = 0x8;
/// Prevents future writes; existing mappings stay writable.
pub const F_SEAL_FUTURE_WRITE: u32 = 0x10;
/// Prevents chmod of the execute bits.
pub const F_SEAL_EXEC: u32 = 0x20;
const F_ALL_SEALS: u32 =
    F_SEAL_SEAL | F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE | F_SEAL_EXEC;

/// fcntl commands.
pub const F_ADD_SEALS: u64 = 1033;
/// fcntl F_GET_SEALS.
pub const F_GET_SEALS: u64 = 1034;

/// memfd_create flags.
pub const MFD_CLOEXEC: u64 = 0x1;
/// MFD_ALLOW_SEALING.
pub const MFD_ALLOW_SEALING: u64 = 0x2;
/// MFD_HUGETLB.
pub const MFD_HUGETLB: u64 = 0x4;
/// MFD_NOEXEC_SEAL.
pub const MFD_NOEXEC_SEAL: u64 = 0x8;
/// MFD_EXEC.
pub const MFD_EXEC: u64 = 0x10;
const MFD_ALL_FLAGS: u64 =
    MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB | MFD_NOEXEC_SEAL | MFD_EXEC;
/// The huge page size bits MFD_HUGETLB may carry (`MFD_HUGE_MASK <<
/// MFD_HUGE_SHIFT`).
const MFD_HUGE_BITS: u64 = 0x3f << 26;
/// Longest name, without its NUL (Linux's MFD_NAME_MAX_LEN, NAME_MAX -
/// strlen("memfd:"), bounds the string with its NUL at one more).
pub const MFD_NAME_MAX_LEN: usize = 249;

const O_RDWR: u32 = 2;
const O_LARGEFILE: u32 = 0o100000;

/// A write of `len` bytes at `at` to a file of `size` bytes with `seals`
/// (Linux's shmem_write_begin): EPERM when sealed against writes, or
/// against growth and it would grow the file.
pub fn check_write(seals: u32, size: u64, at: u64, len: u64) -> Result<(), Errno> {
    if len == 0 {
        return Ok(());
    }
    if seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0 {
        return Err(Errno::EPERM);
    }
    if seals & F_SEAL_GROW != 0 && at.saturating_add(len) > size {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// A truncate from `old` to `new` bytes (shmem_setattr): EPERM when
/// sealed against shrinking or growing as it would.
pub fn check_resize(seals: u32, old: u64, new: u64) -> Result<(), Errno> {
    if (new < old && seals & F_SEAL_SHRINK != 0) || (new > old && seals & F_SEAL_GROW != 0) {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// fallocate (shmem_fallocate): punching a hole is a write; allocating
/// past the end grows.
pub fn check_allocate(seals: u32, size: u64, punch: bool, end: u64) -> Result<(), Errno> {
    if punch {
        if seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) != 0 {
            return Err(Errno::EPERM);
        }
    } else if seals & F_SEAL_GROW != 0 && end > size {
        return Err(Errno::EPERM);
    }
    Ok(())
}

/// Whether a shared mapping of a file with `seals` may be writable: not
/// once F_SEAL_WRITE or F_SEAL_FUTURE_WRITE is set (EPERM for a writable
/// one, and a read-only one may not become writable).
pub fn seals_allow_shared_write(seals: u32) -> bool {
    seals & (F_SEAL_WRITE | F_SEAL_FUTURE_WRITE) == 0
}

/// The internal tmpfs memfds live in (one per sandbox).
#[derive(Default)]
pub struct MemfdFs {
    fs: OnceLock<Arc<TmpFs>>,
}

impl MemfdFs {
    fn get(&self, machine: &Arc<dyn platform::Platform>) -> Arc<TmpFs> {
        Arc::clone(self.fs.get_or_init(|| {
            TmpFs::new(
                "tmpfs",
                0o1777,
                Arc::new(PlatformCharge(Arc::clone(machine))),
            )
        }))
    }
}

/// Checks memfd_create's flags in Linux's order: an unknown flag (huge
/// page size bits only with MFD_HUGETLB), then MFD_EXEC with
/// MFD_NOEXEC_SEAL: EINVAL.
pub fn check_flags(flags: u64) -> Result<(), Errno> {
    let allowed = if flags & MFD_HUGETLB != 0 {
        MFD_ALL_FLAGS | MFD_HUGE_BITS
    } else {
        MFD_ALL_FLAGS
    };
    if flags & !allowed != 0 || (flags & MFD_EXEC != 0 && flags & MFD_NOEXEC_SEAL != 0) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// Makes the open file of a new memfd named `name` (flags checked by
/// [`check_flags`]). MFD_HUGETLB files are ordinary memfds here.
pub fn create(
    fs: &MemfdFs,
    machine: &Arc<dyn platform::Platform>,
    name: &[u8],
    flags: u64,
) -> Result<Arc<OpenFile>, Errno> {
    let fs = fs.get(machine);
    let noexec = flags & MFD_NOEXEC_SEAL != 0;
    let mode = if noexec { 0o666 } else { 0o777 };
    let root: Arc<dyn Inode> = fs.root_inode();
    let inode = root.tmpfile(&Caller::NONE, mode)?;
    let tmp: Arc<TmpInode> = Arc::clone(&inode)
        .as_any()
        .downcast::<TmpInode>()
        .map_err(|_| Errno::EINVAL)?;
    if noexec {
        tmp.set_seals(F_SEAL_EXEC);
    } else if flags & MFD_ALLOW_SEALING != 0 {
        tmp.set_seals(0);
    }
    let inner = inode.open(&Caller::NONE, O_RDWR)?;
    let mut shown = b"/memfd:".to_vec();
    shown.extend_from_slice(name);
    shown.extend_from_slice(b" (deleted)");
    let file = MemfdFile {
        inner,
        inode: tmp,
        name: String::from_utf8_lossy(&shown).into_owned(),
    };
    Ok(OpenFile::new(Box::new(file), O_RDWR | O_LARGEFILE))
}

/// fcntl F_ADD_SEALS / F_GET_SEALS on `file` (memfd_fcntl): EINVAL for a
/// file that has no seals (not a tmpfs file), EPERM to add seals through
/// a descriptor not open for writing or once F_SEAL_SEAL is set, EINVAL
/// for an unknown seal, EBUSY for F_SEAL_WRITE while a writable shared
/// mapping of the file exists.
pub fn fcntl(file: &OpenFile, cmd: u64, arg: u64) -> Result<u64, Errno> {
    let inode = file.ops.tmpfs_inode().ok_or(Errno::EINVAL)?;
    if cmd == F_GET_SEALS {
        return Ok(u64::from(inode.seals()));
    }
    let seals = arg as u32;
    if file.status() & 3 == 0 {
        return Err(Errno::EPERM);
    }
    if seals & !F_ALL_SEALS != 0 {
        return Err(Errno::EINVAL);
    }
    let mut seals = seals;
    let old = inode.seals();
    if old & F_SEAL_SEAL != 0 {
        return Err(Errno::EPERM);
    }
    if seals & F_SEAL_WRITE != 0
        && old & F_SEAL_WRITE == 0
        && inode.store().is_some_and(|s| s.writably_mapped())
    {
        return Err(Errno::EBUSY);
    }
    // F_SEAL_EXEC on an executable file implies W^X from the start.
    if seals & F_SEAL_EXEC != 0 && inode.stat().mode & 0o111 != 0 {
        seals |= F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_WRITE | F_SEAL_FUTURE_WRITE;
    }
    inode.set_seals(old | seals);
    Ok(0)
}

/// An open memfd: a tmpfs file shown under its memfd name.
struct MemfdFile {
    inner: Box<dyn FileOps>,
    inode: Arc<TmpInode>,
    name: String,
}

impl FileOps for MemfdFile {
    fn read(&self, buf: &mut [u8], nonblock: bool, b: &dyn Blocker) -> Result<usize, Errno> {
        self.inner.read(buf, nonblock, b)
    }
    fn write(&self, buf: &[u8], nonblock: bool, b: &dyn Blocker) -> Result<usize, Errno> {
        self.inner.write(buf, nonblock, b)
    }
    fn append(&self, buf: &[u8], nonblock: bool, b: &dyn Blocker) -> Result<usize, Errno> {
        self.inner.append(buf, nonblock, b)
    }
    fn pwrite(&self, buf: &[u8], offset: u64) -> Result<usize, Errno> {
        self.inner.pwrite(buf, offset)
    }
    fn pread(&self, buf: &mut [u8], offset: u64) -> Result<usize, Errno> {
        self.inner.pread(buf, offset)
    }
    fn poll(&self) -> u16 {
        self.inner.poll()
    }
    fn stat(&self) -> Stat {
        self.inner.stat()
    }
    fn seek(&self, offset: i64, whence: u32) -> Result<u64, Errno> {
        self.inner.seek(offset, whence)
    }
    fn describe(&self) -> String {
        self.name.clone()
    }
    fn tmpfs_inode(&self) -> Option<Arc<TmpInode>> {
        Some(Arc::clone(&self.inode))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seal_checks_follow_shmem() {
        assert_eq!(check_write(F_SEAL_WRITE, 10, 0, 1), Err(Errno::EPERM));
        assert_eq!(
            check_write(F_SEAL_FUTURE_WRITE, 10, 0, 1),
            Err(Errno::EPERM)
        );
        assert_eq!(check_write(F_SEAL_GROW, 10, 5, 5), Ok(()));
        assert_eq!(check_write(F_SEAL_GROW, 10, 5, 6), Err(Errno::EPERM));
        assert_eq!(check_write(F_SEAL_WRITE, 10, 0, 0), Ok(()));
        assert_eq!(check_resize(F_SEAL_SHRINK, 10, 5), Err(Errno::EPERM));
        assert_eq!(check_resize(F_SEAL_SHRINK, 10, 20), Ok(()));
        assert_eq!(check_resize(F_SEAL_GROW, 10, 20), Err(Errno::EPERM));
        assert_eq!(check_allocate(F_SEAL_WRITE, 10, true, 5), Err(Errno::EPERM));
        assert_eq!(
            check_allocate(F_SEAL_GROW, 10, false, 11),
            Err(Errno::EPERM)
        );
        assert_eq!(check_allocate(F_SEAL_GROW, 10, false, 10), Ok(()));
    }

    #[test]
    fn memfd_flags_are_checked() {
        assert_eq!(check_flags(MFD_CLOEXEC | MFD_ALLOW_SEALING), Ok(()));
        assert_eq!(check_flags(0x40), Err(Errno::EINVAL));
        assert_eq!(check_flags(MFD_EXEC | MFD_NOEXEC_SEAL), Err(Errno::EINVAL));
        assert_eq!(check_flags(21 << 26), Err(Errno::EINVAL));
        assert_eq!(check_flags(MFD_HUGETLB | (21 << 26)), Ok(()));
    }

    #[test]
    fn a_memfd_seals_and_shows_its_name() {
        let machine = platform::fake::Fake::shared();
        let fs = MemfdFs::default();
        let f = create(&fs, &machine, b"x", MFD_ALLOW_SEALING).unwrap();
        assert_eq!(f.ops.link_target(), "/memfd:x (deleted)");
        assert_eq!(fcntl(&f, F_GET_SEALS, 0), Ok(0));
        assert_eq!(f.ops.pwrite(b"hello", 0), Ok(5));
        fcntl(&f, F_ADD_SEALS, u64::from(F_SEAL_GROW)).unwrap();
        assert_eq!(f.ops.pwrite(b"hello!", 0), Err(Errno::EPERM));
        assert_eq!(f.ops.pwrite(b"HELLO", 0), Ok(5));
        fcntl(&f, F_ADD_SEALS, u64::from(F_SEAL_WRITE | F_SEAL_SEAL)).unwrap();
        assert_eq!(f.ops.pwrite(b"h", 0), Err(Errno::EPERM));
        assert_eq!(fcntl(&f, F_ADD_SEALS, 0), Err(Errno::EPERM));
        let plain = create(&fs, &machine, b"y", 0).unwrap();
        assert_eq!(fcntl(&plain, F_GET_SEALS, 0), Ok(u64::from(F_SEAL_SEAL)));
        assert_eq!(
            fcntl(&plain, F_ADD_SEALS, u64::from(F_SEAL_GROW)),
            Err(Errno::EPERM)
        );
    }
}

//! Memory ABI: mmap and mprotect's protection and mapping flags.

bitflags::bitflags! {
    /// `PROT_*` (mmap's and mprotect's `int prot`).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct MmapProt: u32 {
        const READ = 1;
        const WRITE = 2;
        const EXEC = 4;
        const SEM = 8;
        const GROWSDOWN = 0x0100_0000;
        const GROWSUP = 0x0200_0000;
    }
}

impl MmapProt {
    /// The `int prot` of a syscall argument, unknown bits kept (the
    /// caller decides: EINVAL for mmap and mprotect).
    pub const fn from_arg(raw: u64) -> Self {
        Self::from_bits_retain(raw as u32)
    }
}

bitflags::bitflags! {
    /// `MAP_*` (mmap's `int flags`). The mapping type is
    /// [`MmapFlags::map_type`]: MAP_SHARED, MAP_PRIVATE or
    /// MAP_SHARED_VALIDATE.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct MmapFlags: u32 {
        const SHARED = 0x01;
        const PRIVATE = 0x02;
        const FIXED = 0x10;
        const ANONYMOUS = 0x20;
        const BIT32 = 0x40;
        const GROWSDOWN = 0x100;
        const DENYWRITE = 0x800;
        const EXECUTABLE = 0x1000;
        const LOCKED = 0x2000;
        const NORESERVE = 0x4000;
        const POPULATE = 0x8000;
        const NONBLOCK = 0x10000;
        const STACK = 0x20000;
        const HUGETLB = 0x40000;
        const SYNC = 0x80000;
        const FIXED_NOREPLACE = 0x10_0000;
        const UNINITIALIZED = 0x400_0000;
    }
}

impl MmapFlags {
    /// MAP_TYPE: the bits that say shared or private.
    pub const TYPE: u32 = 0x0f;
    /// MAP_SHARED_VALIDATE (a type, not a flag).
    pub const SHARED_VALIDATE: u32 = 0x03;

    /// The `int flags` of a syscall argument, unknown bits kept.
    pub const fn from_arg(raw: u64) -> Self {
        Self::from_bits_retain(raw as u32)
    }

    /// The mapping type (`flags & MAP_TYPE`).
    pub const fn map_type(self) -> u32 {
        self.bits() & Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mmap_bits_match_linux() {
        assert_eq!(MmapProt::READ.bits(), libc::PROT_READ as u32);
        assert_eq!(MmapProt::EXEC.bits(), libc::PROT_EXEC as u32);
        assert_eq!(MmapProt::GROWSDOWN.bits(), libc::PROT_GROWSDOWN as u32);
        assert_eq!(MmapFlags::ANONYMOUS.bits(), libc::MAP_ANONYMOUS as u32);
        assert_eq!(
            MmapFlags::FIXED_NOREPLACE.bits(),
            libc::MAP_FIXED_NOREPLACE as u32
        );
        assert_eq!(MmapFlags::STACK.bits(), libc::MAP_STACK as u32);
        assert_eq!(MmapFlags::SHARED_VALIDATE, libc::MAP_SHARED_VALIDATE as u32);
        let f = MmapFlags::from_arg(0x1_0000_0022);
        assert_eq!(f.map_type(), 2);
        assert!(f.contains(MmapFlags::ANONYMOUS));
        assert_eq!(MmapProt::from_arg(0x10).bits(), 0x10);
    }
}

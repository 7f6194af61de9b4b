//! Memory ABI: mmap and mprotect's protection and mapping flags.

bitflags::bitflags! {
    /// `PROT_*`. mmap and mprotect take `unsigned long prot`: all 64 bits
    /// count (an unknown high bit is EINVAL, not ignored).
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct MmapProt: u64 {
        const READ = 1;
        const WRITE = 2;
        const EXEC = 4;
        const SEM = 8;
        const GROWSDOWN = 0x0100_0000;
        const GROWSUP = 0x0200_0000;
    }
}

impl MmapProt {
    /// PROT_GROWSDOWN | PROT_GROWSUP.
    pub const GROWS: MmapProt = MmapProt::GROWSDOWN.union(MmapProt::GROWSUP);

    /// The `unsigned long prot` of a syscall argument, unknown bits kept
    /// (the caller decides: EINVAL for mmap and mprotect).
    pub const fn from_arg(raw: u64) -> Self {
        Self::from_bits_retain(raw)
    }
}

bitflags::bitflags! {
    /// `MAP_*` (mmap's `unsigned long flags`). The mapping type is
    /// [`MmapFlags::map_type`]: MAP_SHARED, MAP_PRIVATE or
    /// MAP_SHARED_VALIDATE.
    #[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
    pub struct MmapFlags: u64 {
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
    pub const TYPE: u64 = 0x0f;
    /// MAP_SHARED_VALIDATE (a type, not a flag).
    pub const SHARED_VALIDATE: u64 = 0x03;
    /// The flags MAP_SHARED_VALIDATE knows (Linux's LEGACY_MAP_MASK and
    /// the newer ones), the type bits excluded.
    pub const KNOWN: u64 = 0x1ff_ffff & !Self::TYPE;

    /// The `unsigned long flags` of a syscall argument, unknown bits kept.
    pub const fn from_arg(raw: u64) -> Self {
        Self::from_bits_retain(raw)
    }

    /// The mapping type (`flags & MAP_TYPE`).
    pub const fn map_type(self) -> u64 {
        self.bits() & Self::TYPE
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mmap_bits_match_linux() {
        assert_eq!(MmapProt::READ.bits(), libc::PROT_READ as u64);
        assert_eq!(MmapProt::EXEC.bits(), libc::PROT_EXEC as u64);
        assert_eq!(MmapProt::GROWSDOWN.bits(), libc::PROT_GROWSDOWN as u64);
        assert_eq!(MmapFlags::ANONYMOUS.bits(), libc::MAP_ANONYMOUS as u64);
        assert_eq!(
            MmapFlags::FIXED_NOREPLACE.bits(),
            libc::MAP_FIXED_NOREPLACE as u64
        );
        assert_eq!(MmapFlags::STACK.bits(), libc::MAP_STACK as u64);
        assert_eq!(MmapFlags::SHARED_VALIDATE, libc::MAP_SHARED_VALIDATE as u64);
        let f = MmapFlags::from_arg(0x1_0000_0022);
        assert_eq!(f.map_type(), 2);
        assert!(f.contains(MmapFlags::ANONYMOUS));
        // All 64 bits are kept: Linux's prot and flags are unsigned long.
        assert_eq!(f.bits() >> 32, 1);
        assert_eq!(MmapProt::from_arg(1 << 40).bits(), 1 << 40);
    }
}

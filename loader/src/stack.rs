//! Initial process stack, laid out like Linux (`fs/exec.c` and `create_elf_tables` in
//! `fs/binfmt_elf.c`).
//!
//! From `stack_top` downwards:
//!
//! ```text
//! stack_top - 8   8 zero bytes (Linux's NULL pointer slot)
//!                 execfn string (AT_EXECFN)
//!                 envp strings, envp[0] lowest
//!                 argv strings, argv[0] lowest          <- lowest string
//!                 (align down to 16)
//!                 platform string "x86_64" (AT_PLATFORM)
//!                 16 AT_RANDOM bytes
//!                 (zero gap, so that rsp ends 16-byte aligned)
//!                 auxv pairs ... AT_NULL, 0
//!                 NULL, envp pointers
//!                 NULL, argv pointers
//! rsp ->          argc
//! ```

use crate::elf::{ElfImage, PAGE_SIZE};

/// End of the auxiliary vector.
pub const AT_NULL: u64 = 0;
/// Entry to ignore.
pub const AT_IGNORE: u64 = 1;
/// File descriptor of the program (`binfmt_misc` only).
pub const AT_EXECFD: u64 = 2;
/// Address of the program headers.
pub const AT_PHDR: u64 = 3;
/// Size of one program header.
pub const AT_PHENT: u64 = 4;
/// Number of program headers.
pub const AT_PHNUM: u64 = 5;
/// System page size.
pub const AT_PAGESZ: u64 = 6;
/// Base address of the interpreter (0 for static programs).
pub const AT_BASE: u64 = 7;
/// Flags (always 0 here).
pub const AT_FLAGS: u64 = 8;
/// Program entry point.
pub const AT_ENTRY: u64 = 9;
/// Program is not ELF.
pub const AT_NOTELF: u64 = 10;
/// Real user id.
pub const AT_UID: u64 = 11;
/// Effective user id.
pub const AT_EUID: u64 = 12;
/// Real group id.
pub const AT_GID: u64 = 13;
/// Effective group id.
pub const AT_EGID: u64 = 14;
/// Address of the platform string.
pub const AT_PLATFORM: u64 = 15;
/// CPU capability bits (CPUID 1 EDX on x86).
pub const AT_HWCAP: u64 = 16;
/// Frequency of `times()`.
pub const AT_CLKTCK: u64 = 17;
/// Secure mode (setuid); always 0 here.
pub const AT_SECURE: u64 = 23;
/// Address of the base platform string.
pub const AT_BASE_PLATFORM: u64 = 24;
/// Address of 16 random bytes.
pub const AT_RANDOM: u64 = 25;
/// More CPU capability bits.
pub const AT_HWCAP2: u64 = 26;
/// rseq feature size (Linux 6.3+; not emitted).
pub const AT_RSEQ_FEATURE_SIZE: u64 = 27;
/// rseq alignment (Linux 6.3+; not emitted).
pub const AT_RSEQ_ALIGN: u64 = 28;
/// Address of the executable's file name.
pub const AT_EXECFN: u64 = 31;
/// Address of the vDSO's ELF header.
pub const AT_SYSINFO_EHDR: u64 = 33;
/// Minimal signal stack size the kernel needs.
pub const AT_MINSIGSTKSZ: u64 = 51;

/// Upper bound on the bytes taken by argument and environment strings plus their pointers
/// (Linux allows a quarter of the stack rlimit: 2 MiB for the default 8 MiB).
pub const MAX_ARG_BYTES: usize = 2 << 20;

/// Longest single argument or environment string, including its NUL (Linux
/// `MAX_ARG_STRLEN`, 32 pages).
pub const MAX_ARG_STRLEN: usize = 32 * PAGE_SIZE as usize;

/// Error while building the initial stack.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum StackError {
    /// Guest memory at this address could not be written.
    #[error("guest memory fault at {0:#x} while writing the initial stack")]
    Fault(u64),
    /// Arguments and environment exceed the limits (see [`MAX_ARG_BYTES`],
    /// [`MAX_ARG_STRLEN`]), or do not fit below `stack_top`.
    #[error("argument list and environment too long")]
    TooBig,
    /// An argument, environment or file name string contains a NUL byte.
    #[error("argument, environment or file name string contains a NUL byte")]
    InteriorNul,
}

/// Writes into guest memory (implemented by the sentry).
pub trait GuestWriter {
    /// Copies `data` to guest address `addr`; fails with [`StackError::Fault`] if any byte
    /// of the range is not writable.
    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), StackError>;
}

/// Everything needed to build the initial stack.
#[derive(Clone, Debug)]
pub struct StackInfo<'a> {
    /// Highest address (exclusive) of the stack mapping.
    pub stack_top: u64,
    /// Argument strings, without NUL terminators (the loader appends them).
    pub argv: &'a [Vec<u8>],
    /// Environment strings (`KEY=value`), without NUL terminators.
    pub envp: &'a [Vec<u8>],
    /// `AT_EXECFN` string: the program path as given to exec.
    pub execfn: &'a [u8],
    /// `AT_RANDOM` bytes.
    pub random: [u8; 16],
    /// The loaded program.
    pub image: &'a ElfImage,
    /// `AT_BASE`: the load bias of the program's interpreter (`PT_INTERP`),
    /// 0 for a program without one.
    pub interp_base: u64,
    /// `AT_HWCAP` value.
    pub hwcap: u64,
    /// `AT_HWCAP2` value.
    pub hwcap2: u64,
    /// `AT_MINSIGSTKSZ` value.
    pub minsigstksz: u64,
    /// `AT_UID` value.
    pub uid: u32,
    /// `AT_EUID` value.
    pub euid: u32,
    /// `AT_GID` value.
    pub gid: u32,
    /// `AT_EGID` value.
    pub egid: u32,
    /// `AT_PLATFORM` string, normally `x86_64`; empty omits the string and the entry.
    pub platform: &'a [u8],
    /// `AT_CLKTCK` value, normally 100.
    pub clktck: u64,
    /// `AT_SYSINFO_EHDR`: where the vDSO is mapped (`None`: no vDSO, no
    /// entry).
    pub sysinfo_ehdr: Option<u64>,
}

/// Where [`build_stack_layout`] put things, for `/proc/self/{cmdline,environ,auxv}` and
/// `prctl(PR_SET_MM)`-like bookkeeping.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StackLayout {
    /// Initial stack pointer; points at `argc` and is 16-byte aligned.
    pub rsp: u64,
    /// Start of the argv strings (`mm->arg_start`).
    pub arg_start: u64,
    /// End of the argv strings, after the last NUL (`mm->arg_end`).
    pub arg_end: u64,
    /// Start of the environment strings (`mm->env_start`).
    pub env_start: u64,
    /// End of the environment strings (`mm->env_end`).
    pub env_end: u64,
    /// Address of the `AT_EXECFN` string.
    pub execfn_addr: u64,
    /// Address of the `AT_PLATFORM` string, if any.
    pub platform_addr: Option<u64>,
    /// Address of the 16 `AT_RANDOM` bytes.
    pub random_addr: u64,
    /// The auxiliary vector as written, ending with `(AT_NULL, 0)`.
    pub auxv: Vec<(u64, u64)>,
}

/// Builds the initial stack and returns the initial `rsp` (pointing at `argc`).
///
/// # Errors
///
/// [`StackError::TooBig`] or [`StackError::InteriorNul`] for unusable arguments, and the
/// writer's [`StackError::Fault`] if the stack memory cannot be written.
pub fn build_stack(w: &mut dyn GuestWriter, info: &StackInfo) -> Result<u64, StackError> {
    build_stack_layout(w, info).map(|layout| layout.rsp)
}

/// Downward bump allocator over guest addresses.
struct Cursor(u64);

impl Cursor {
    fn alloc(&mut self, len: usize) -> Result<u64, StackError> {
        let len = u64::try_from(len).map_err(|_| StackError::TooBig)?;
        self.0 = self.0.checked_sub(len).ok_or(StackError::TooBig)?;
        Ok(self.0)
    }
}

/// Checks Linux's argument limits and the absence of interior NULs.
fn check_strings(info: &StackInfo) -> Result<(), StackError> {
    let strings = info
        .argv
        .iter()
        .chain(info.envp)
        .map(Vec::as_slice)
        .chain([info.execfn, info.platform]);
    let mut total = (info.argv.len() + info.envp.len()).saturating_mul(8);
    for s in strings {
        if s.contains(&0) {
            return Err(StackError::InteriorNul);
        }
        if s.len() >= MAX_ARG_STRLEN {
            return Err(StackError::TooBig);
        }
        total = total.saturating_add(s.len() + 1);
    }
    if total > MAX_ARG_BYTES {
        return Err(StackError::TooBig);
    }
    Ok(())
}

/// Builds the initial stack like [`build_stack`] and reports where everything went.
///
/// The whole image `[rsp, stack_top)` is assembled in host memory and written with a single
/// [`GuestWriter::write`] call.
///
/// # Errors
///
/// As [`build_stack`].
pub fn build_stack_layout(
    w: &mut dyn GuestWriter,
    info: &StackInfo,
) -> Result<StackLayout, StackError> {
    check_strings(info)?;
    let top = info.stack_top;
    let mut cur = Cursor(top);

    // Strings, as fs/exec.c copies them: NULL slot, file name, envp, argv.
    cur.alloc(8)?;
    let execfn_addr = cur.alloc(info.execfn.len() + 1)?;
    let env_end = cur.0;
    let mut env_addrs = Vec::with_capacity(info.envp.len());
    for s in info.envp.iter().rev() {
        env_addrs.push(cur.alloc(s.len() + 1)?);
    }
    env_addrs.reverse();
    let env_start = cur.0;
    let mut arg_addrs = Vec::with_capacity(info.argv.len());
    for s in info.argv.iter().rev() {
        arg_addrs.push(cur.alloc(s.len() + 1)?);
    }
    arg_addrs.reverse();
    let arg_start = cur.0;

    // create_elf_tables: align, platform string, random bytes.
    cur.0 &= !15;
    let platform_addr = if info.platform.is_empty() {
        None
    } else {
        Some(cur.alloc(info.platform.len() + 1)?)
    };
    let random_addr = cur.alloc(info.random.len())?;

    let image = info.image;
    // x86-64's ARCH_DLINFO comes first: the vDSO, then AT_MINSIGSTKSZ.
    let mut auxv: Vec<(u64, u64)> = info
        .sysinfo_ehdr
        .map(|a| (AT_SYSINFO_EHDR, a))
        .into_iter()
        .collect();
    auxv.extend([
        (AT_MINSIGSTKSZ, info.minsigstksz),
        (AT_HWCAP, info.hwcap),
        (AT_PAGESZ, PAGE_SIZE),
        (AT_CLKTCK, info.clktck),
        (AT_PHDR, image.phdr_addr),
        (AT_PHENT, image.phent),
        (AT_PHNUM, image.phnum),
        (AT_BASE, info.interp_base),
        (AT_FLAGS, 0),
        (AT_ENTRY, image.entry),
        (AT_UID, info.uid.into()),
        (AT_EUID, info.euid.into()),
        (AT_GID, info.gid.into()),
        (AT_EGID, info.egid.into()),
        (AT_SECURE, 0),
        (AT_RANDOM, random_addr),
        (AT_HWCAP2, info.hwcap2),
        (AT_EXECFN, execfn_addr),
    ]);
    if let Some(addr) = platform_addr {
        auxv.push((AT_PLATFORM, addr));
    }
    auxv.push((AT_NULL, 0));

    // argc + argv pointers + NULL + envp pointers + NULL + auxv pairs.
    let words = 1 + (info.argv.len() + 1) + (info.envp.len() + 1) + 2 * auxv.len();
    cur.alloc(words.checked_mul(8).ok_or(StackError::TooBig)?)?;
    let rsp = cur.0 & !15;

    // Assemble [rsp, top) in host memory; every offset below is < len by construction.
    let len = usize::try_from(top - rsp).map_err(|_| StackError::TooBig)?;
    let mut buf = vec![0u8; len];
    let off = |addr: u64| (addr - rsp) as usize;
    let mut put = |addr: u64, bytes: &[u8]| {
        buf[off(addr)..off(addr) + bytes.len()].copy_from_slice(bytes);
    };
    put(execfn_addr, info.execfn);
    for (s, &addr) in info.envp.iter().zip(&env_addrs) {
        put(addr, s);
    }
    for (s, &addr) in info.argv.iter().zip(&arg_addrs) {
        put(addr, s);
    }
    if let Some(addr) = platform_addr {
        put(addr, info.platform);
    }
    put(random_addr, &info.random);

    let table = [info.argv.len() as u64]
        .into_iter()
        .chain(arg_addrs.iter().copied())
        .chain([0])
        .chain(env_addrs.iter().copied())
        .chain([0])
        .chain(auxv.iter().flat_map(|&(k, v)| [k, v]));
    for (i, word) in table.enumerate() {
        put(rsp + 8 * i as u64, &word.to_le_bytes());
    }

    w.write(rsp, &buf)?;
    Ok(StackLayout {
        rsp,
        arg_start,
        arg_end: env_start,
        env_start,
        env_end,
        execfn_addr,
        platform_addr,
        random_addr,
        auxv,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elf::Segment;

    const TOP: u64 = 0x7fff_ffff_f000;
    const MEM_SIZE: usize = 4 << 20;
    const BASE: u64 = TOP - MEM_SIZE as u64;

    /// A flat, Vec-backed piece of guest memory ending at `TOP`.
    struct FakeMem {
        base: u64,
        data: Vec<u8>,
        writes: usize,
    }

    impl FakeMem {
        fn new() -> Self {
            Self {
                base: BASE,
                data: vec![0xaa; MEM_SIZE],
                writes: 0,
            }
        }

        fn slice(&self, addr: u64, len: usize) -> &[u8] {
            let off = (addr - self.base) as usize;
            &self.data[off..off + len]
        }

        fn u64(&self, addr: u64) -> u64 {
            u64::from_le_bytes(self.slice(addr, 8).try_into().unwrap())
        }

        fn cstr(&self, addr: u64) -> Vec<u8> {
            let off = (addr - self.base) as usize;
            let len = self.data[off..].iter().position(|&b| b == 0).unwrap();
            self.data[off..off + len].to_vec()
        }
    }

    impl GuestWriter for FakeMem {
        fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), StackError> {
            self.writes += 1;
            let end = addr
                .checked_add(data.len() as u64)
                .ok_or(StackError::Fault(addr))?;
            if addr < self.base || end > self.base + self.data.len() as u64 {
                return Err(StackError::Fault(addr));
            }
            let off = (addr - self.base) as usize;
            self.data[off..off + data.len()].copy_from_slice(data);
            Ok(())
        }
    }

    fn image() -> ElfImage {
        ElfImage {
            entry: 0x40_1510,
            bias: 0,
            segments: vec![Segment {
                start: 0x40_0000,
                end: 0x40_2000,
                prot: Default::default(),
                data_addr: 0x40_0000,
                file_range: 0..0x1234,
            }],
            phdr_addr: 0x40_0040,
            phent: 56,
            phnum: 10,
            stack_executable: false,
            brk_start: 0x40_2000,
            interpreter: None,
            align: 4096,
        }
    }

    fn strings(list: &[&str]) -> Vec<Vec<u8>> {
        list.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    fn info<'a>(image: &'a ElfImage, argv: &'a [Vec<u8>], envp: &'a [Vec<u8>]) -> StackInfo<'a> {
        StackInfo {
            stack_top: TOP,
            argv,
            envp,
            execfn: b"/bin/prog",
            random: core::array::from_fn(|i| i as u8 + 0x10),
            image,
            interp_base: 0,
            hwcap: 0x178b_fbff,
            hwcap2: 2,
            minsigstksz: 3376,
            uid: 1000,
            euid: 1001,
            gid: 100,
            egid: 101,
            platform: b"x86_64",
            clktck: 100,
            sysinfo_ehdr: Some(0x7fff_f7ff_c000),
        }
    }

    #[test]
    fn layout_reads_back_like_linux() {
        let image = image();
        let argv = strings(&["/bin/prog", "-x", "hello world"]);
        let envp = strings(&["HOME=/root", "PATH=/bin"]);
        let info = info(&image, &argv, &envp);
        let mut mem = FakeMem::new();
        let rsp = build_stack(&mut mem, &info).unwrap();
        assert_eq!(rsp % 16, 0);
        assert_eq!(mem.writes, 1, "one write for the whole image");

        // argc, argv, envp.
        assert_eq!(mem.u64(rsp), 3);
        let mut p = rsp + 8;
        let mut arg_ptrs = Vec::new();
        for expected in &argv {
            let ptr = mem.u64(p);
            assert_eq!(&mem.cstr(ptr), expected);
            arg_ptrs.push(ptr);
            p += 8;
        }
        assert_eq!(mem.u64(p), 0, "argv NULL terminator");
        p += 8;
        let mut env_ptrs = Vec::new();
        for expected in &envp {
            let ptr = mem.u64(p);
            assert_eq!(&mem.cstr(ptr), expected);
            env_ptrs.push(ptr);
            p += 8;
        }
        assert_eq!(mem.u64(p), 0, "envp NULL terminator");
        p += 8;

        // auxv, in Linux's order.
        let mut auxv = Vec::new();
        loop {
            let (k, v) = (mem.u64(p), mem.u64(p + 8));
            auxv.push((k, v));
            p += 16;
            if k == AT_NULL {
                break;
            }
        }
        let lookup = |tag: u64| auxv.iter().find(|(k, _)| *k == tag).unwrap().1;
        let random_addr = lookup(AT_RANDOM);
        let execfn_addr = lookup(AT_EXECFN);
        let platform_addr = lookup(AT_PLATFORM);
        assert_eq!(
            auxv,
            vec![
                (AT_SYSINFO_EHDR, 0x7fff_f7ff_c000),
                (AT_MINSIGSTKSZ, 3376),
                (AT_HWCAP, 0x178b_fbff),
                (AT_PAGESZ, 4096),
                (AT_CLKTCK, 100),
                (AT_PHDR, 0x40_0040),
                (AT_PHENT, 56),
                (AT_PHNUM, 10),
                (AT_BASE, 0),
                (AT_FLAGS, 0),
                (AT_ENTRY, 0x40_1510),
                (AT_UID, 1000),
                (AT_EUID, 1001),
                (AT_GID, 100),
                (AT_EGID, 101),
                (AT_SECURE, 0),
                (AT_RANDOM, random_addr),
                (AT_HWCAP2, 2),
                (AT_EXECFN, execfn_addr),
                (AT_PLATFORM, platform_addr),
                (AT_NULL, 0),
            ]
        );
        assert!(p <= random_addr, "tables end below the random bytes");
        assert!(
            random_addr - p < 16 + 8,
            "only the alignment gap in between"
        );

        // Strings and blobs, from the top down.
        assert_eq!(mem.slice(TOP - 8, 8), &[0; 8], "NULL slot at the very top");
        assert_eq!(execfn_addr, TOP - 8 - b"/bin/prog\0".len() as u64);
        assert_eq!(mem.cstr(execfn_addr), b"/bin/prog");
        assert_eq!(env_ptrs[1] + b"PATH=/bin\0".len() as u64, execfn_addr);
        assert_eq!(env_ptrs[0] + b"HOME=/root\0".len() as u64, env_ptrs[1]);
        assert_eq!(arg_ptrs[2] + b"hello world\0".len() as u64, env_ptrs[0]);
        assert_eq!(arg_ptrs[1] + 3, arg_ptrs[2]);
        assert_eq!(arg_ptrs[0] + 10, arg_ptrs[1]);
        let aligned = arg_ptrs[0] & !15;
        assert_eq!(platform_addr, aligned - 7);
        assert_eq!(mem.cstr(platform_addr), b"x86_64");
        assert_eq!(random_addr, platform_addr - 16);
        assert_eq!(mem.slice(random_addr, 16), &info.random);
        // Linux: rsp = (random - 8 * (auxv words + argc + pointers)) & !15.
        let words = 2 * auxv.len() as u64 + 1 + 4 + 3;
        assert_eq!(rsp, (random_addr - 8 * words) & !15);
    }

    #[test]
    fn layout_report_matches_memory() {
        let image = image();
        let argv = strings(&["a", "bb"]);
        let envp = strings(&["X=1"]);
        let info = info(&image, &argv, &envp);
        let mut mem = FakeMem::new();
        let layout = build_stack_layout(&mut mem, &info).unwrap();
        assert_eq!(mem.slice(layout.arg_start, 5), b"a\0bb\0");
        assert_eq!(layout.arg_end, layout.arg_start + 5);
        assert_eq!(layout.env_start, layout.arg_end);
        assert_eq!(mem.slice(layout.env_start, 4), b"X=1\0");
        assert_eq!(layout.env_end, layout.env_start + 4);
        assert_eq!(layout.execfn_addr, layout.env_end);
        assert_eq!(mem.cstr(layout.platform_addr.unwrap()), b"x86_64");
        assert_eq!(mem.slice(layout.random_addr, 16), &info.random);
        assert_eq!(layout.auxv.last(), Some(&(AT_NULL, 0)));
        // The auxv report is what the process sees after argv and envp.
        let auxv_addr = layout.rsp + 8 * (1 + 3 + 2);
        for (i, &(k, v)) in layout.auxv.iter().enumerate() {
            assert_eq!(mem.u64(auxv_addr + 16 * i as u64), k);
            assert_eq!(mem.u64(auxv_addr + 16 * i as u64 + 8), v);
        }
    }

    #[test]
    fn rsp_is_always_16_byte_aligned() {
        let image = image();
        for argc in 0..4 {
            for len in 0..40 {
                for envc in 0..3 {
                    let argv: Vec<Vec<u8>> = (0..argc).map(|_| vec![b'a'; len]).collect();
                    let envp: Vec<Vec<u8>> = (0..envc).map(|_| vec![b'e'; len + 1]).collect();
                    let mut mem = FakeMem::new();
                    let rsp = build_stack(&mut mem, &info(&image, &argv, &envp)).unwrap();
                    assert_eq!(rsp % 16, 0);
                    assert_eq!(mem.u64(rsp), argc as u64);
                }
            }
        }
    }

    #[test]
    fn empty_platform_omits_entry() {
        let image = image();
        let argv = strings(&["p"]);
        let mut info = info(&image, &argv, &[]);
        info.platform = b"";
        let layout = build_stack_layout(&mut FakeMem::new(), &info).unwrap();
        assert_eq!(layout.platform_addr, None);
        assert!(layout.auxv.iter().all(|&(k, _)| k != AT_PLATFORM));
    }

    #[test]
    fn writer_fault_is_reported() {
        struct Faulty;
        impl GuestWriter for Faulty {
            fn write(&mut self, addr: u64, _data: &[u8]) -> Result<(), StackError> {
                Err(StackError::Fault(addr))
            }
        }
        let image = image();
        let argv = strings(&["p"]);
        let info = info(&image, &argv, &[]);
        let rsp = build_stack(&mut FakeMem::new(), &info).unwrap();
        assert_eq!(build_stack(&mut Faulty, &info), Err(StackError::Fault(rsp)));

        // A stack top outside the fake memory faults too.
        let mut info = info;
        info.stack_top = 0x1000_0000;
        assert!(matches!(
            build_stack(&mut FakeMem::new(), &info),
            Err(StackError::Fault(_))
        ));
    }

    #[test]
    fn too_big() {
        let image = image();
        let argv = strings(&["p"]);
        // 20 strings of 120 KiB: each below MAX_ARG_STRLEN, together above 2 MiB.
        let envp: Vec<Vec<u8>> = (0..20).map(|_| vec![b'x'; 120 << 10]).collect();
        let info_big = info(&image, &argv, &envp);
        assert_eq!(
            build_stack(&mut FakeMem::new(), &info_big),
            Err(StackError::TooBig)
        );
        // A single string of MAX_ARG_STRLEN bytes (plus NUL) is too long.
        let long = vec![vec![b'y'; MAX_ARG_STRLEN]];
        assert_eq!(
            build_stack(&mut FakeMem::new(), &info(&image, &long, &[])),
            Err(StackError::TooBig)
        );
        let ok = vec![vec![b'y'; MAX_ARG_STRLEN - 1]];
        assert!(build_stack(&mut FakeMem::new(), &info(&image, &ok, &[])).is_ok());
        // A stack top too low to hold anything.
        let mut info_low = info(&image, &argv, &[]);
        info_low.stack_top = 0x20;
        assert_eq!(
            build_stack(&mut FakeMem::new(), &info_low),
            Err(StackError::TooBig)
        );
    }

    #[test]
    fn interior_nul_is_rejected() {
        let image = image();
        let argv = vec![b"a\0b".to_vec()];
        assert_eq!(
            build_stack(&mut FakeMem::new(), &info(&image, &argv, &[])),
            Err(StackError::InteriorNul)
        );
        let argv = strings(&["p"]);
        let mut info = info(&image, &argv, &[]);
        info.execfn = b"/bin\0/x";
        assert_eq!(
            build_stack(&mut FakeMem::new(), &info),
            Err(StackError::InteriorNul)
        );
    }

    #[test]
    fn no_arguments_at_all() {
        let image = image();
        let info = info(&image, &[], &[]);
        let mut mem = FakeMem::new();
        let rsp = build_stack(&mut mem, &info).unwrap();
        assert_eq!(mem.u64(rsp), 0);
        assert_eq!(mem.u64(rsp + 8), 0);
        assert_eq!(mem.u64(rsp + 16), 0);
        assert_eq!(mem.u64(rsp + 24), AT_SYSINFO_EHDR);
        assert_eq!(mem.u64(rsp + 40), AT_MINSIGSTKSZ);
    }

    #[test]
    fn without_a_vdso_there_is_no_sysinfo_entry() {
        let image = image();
        let mut info = info(&image, &[], &[]);
        info.sysinfo_ehdr = None;
        let mut mem = FakeMem::new();
        let rsp = build_stack(&mut mem, &info).unwrap();
        assert_eq!(mem.u64(rsp + 24), AT_MINSIGSTKSZ);
    }
}

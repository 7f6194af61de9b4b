//! Loading a program into a fresh address space: map the ELF's segments,
//! copy their bytes, set up the stack (argv, envp, auxv) and the break,
//! and return the initial user context.
//!
//! A program file is checked as Linux's execve does before a byte of it is
//! read (a regular file with some execute bit, else EACCES), and then read
//! piecewise: the headers, and each segment in chunks of [`CHUNK`] bytes
//! copied straight into guest memory (charged to `--memory`), so loading
//! costs the sentry's own heap a bounded amount whatever the file's size.

use std::fs::File;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::sync::Arc;

use loader::{ElfSource, GuestWriter, LoadError, LoadOptions, StackError, StackInfo};
use platform::UserContext;

use crate::mm::{AddressSpace, Prot, STACK_TOP};

/// Why a program could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    /// The ELF is unusable.
    #[error("{0}")]
    Elf(#[from] loader::LoadError),
    /// The arguments or environment do not fit.
    #[error("cannot build the initial stack: {0}")]
    Stack(#[from] StackError),
    /// Guest memory ran out while loading.
    #[error("out of guest memory while loading the program")]
    NoMemory,
    /// The interpreter (`PT_INTERP`) could not be opened.
    #[error(
        "cannot open the program's interpreter {}: {}",
        crate::quote(.name),
        std::io::Error::from_raw_os_error(.errno.0)
    )]
    Interp {
        /// Its name, as `PT_INTERP` gives it.
        name: Vec<u8>,
        /// Why (ENOENT: not found).
        errno: crate::errno::Errno,
    },
    /// The interpreter is unusable.
    #[error("bad interpreter: {0}")]
    BadInterp(loader::LoadError),
}

impl ExecError {
    /// What execve gives for it, as Linux's `load_elf_binary`: the
    /// interpreter's open error (ENOENT, EACCES...); for an interpreter
    /// shorter than an ELF header EIO; without the ELF magic, for another
    /// machine or with an unusable program header table ELIBBAD. `None`
    /// when Linux fails past the point of no return (an interpreter of
    /// the wrong type or with bad segments): the process then dies of
    /// SIGSEGV.
    pub fn errno(&self) -> Option<crate::errno::Errno> {
        use crate::errno::Errno;
        Some(match self {
            ExecError::Elf(LoadError::Read(_)) => Errno::EIO,
            ExecError::Elf(_) => Errno::ENOEXEC,
            ExecError::Stack(_) => Errno::E2BIG,
            ExecError::NoMemory => Errno::ENOMEM,
            ExecError::Interp { errno, .. } => *errno,
            ExecError::BadInterp(e) => match e {
                LoadError::Read(_)
                | LoadError::Truncated {
                    what: "ELF header", ..
                } => Errno::EIO,
                LoadError::NotElf
                | LoadError::WrongClass(_)
                | LoadError::WrongEndian(_)
                | LoadError::WrongMachine(_)
                | LoadError::BadHeader(_)
                | LoadError::Truncated {
                    what: "program headers",
                    ..
                } => Errno::ELIBBAD,
                _ => return None,
            },
        })
    }
}

/// Segment bytes are copied through a buffer of this size.
pub const CHUNK: usize = 1 << 20;

/// A program file opened for loading.
#[derive(Debug)]
pub struct ProgramFile {
    file: File,
    len: u64,
}

impl ProgramFile {
    /// Checks `file` as execve does: a regular file (EACCES for a
    /// directory, device, FIFO or socket) with at least one execute bit
    /// (EACCES; the guest is root, which needs one of them).
    pub fn new(file: File) -> Result<Self, crate::errno::Errno> {
        use crate::errno::Errno;
        let meta = file
            .metadata()
            .map_err(|e| crate::fs::rootfs::io_errno(&e))?;
        if !meta.is_file() || meta.mode() & 0o111 == 0 {
            return Err(Errno::EACCES);
        }
        Ok(Self {
            file,
            len: meta.len(),
        })
    }
}

impl ProgramFile {
    /// The open file.
    pub fn file(&self) -> &File {
        &self.file
    }

    /// Opens a program at a host path the user named (the command line's
    /// PROGRAM, and /proc/self/exe of a process running it). The type and
    /// mode are checked before the file is opened, so a FIFO or a device
    /// is never opened; the open cannot block or take a terminal, and must
    /// find the inode that was checked.
    pub fn open_host(path: &std::path::Path) -> std::io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let eacces = || std::io::Error::from_raw_os_error(libc::EACCES);
        let meta = std::fs::metadata(path)?;
        if !meta.is_file() || meta.mode() & 0o111 == 0 {
            return Err(eacces());
        }
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC)
            .open(path)?;
        let now = file.metadata()?;
        if (now.dev(), now.ino()) != (meta.dev(), meta.ino()) {
            return Err(eacces());
        }
        Self::new(file).map_err(|_| eacces())
    }
}

impl ProgramFile {
    /// The file's first [`loader::BINPRM_BUF_SIZE`] bytes (fewer if it is
    /// shorter), where Linux looks for `#!`.
    pub fn head(&self) -> Result<Vec<u8>, crate::errno::Errno> {
        read_head(|buf, off| {
            loop {
                match self.file.read_at(buf, off) {
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Ok(k) => return Ok(k),
                    Err(_) => return Err(crate::errno::Errno::EIO),
                }
            }
        })
    }
}

/// The first [`loader::BINPRM_BUF_SIZE`] bytes a program file gives
/// `read_at(buf, offset)` (fewer if it ends sooner): what a `head` of a
/// host or a guest program reads for `#!`.
pub fn read_head(
    mut read_at: impl FnMut(&mut [u8], u64) -> Result<usize, crate::errno::Errno>,
) -> Result<Vec<u8>, crate::errno::Errno> {
    let mut buf = vec![0; loader::BINPRM_BUF_SIZE];
    let mut n = 0;
    while n < buf.len() {
        match read_at(&mut buf[n..], n as u64)? {
            0 => break,
            k => n += k,
        }
    }
    buf.truncate(n);
    Ok(buf)
}

/// Follows `#!` scripts from `first` (the file executed as `path`) as
/// Linux's `binfmt_script` does, rewriting `argv` at each level, and
/// returns what `open` gave for the program to load (an ELF, or anything
/// that is not a script: the ELF loader judges it).
///
/// `open` opens an interpreter by the name its `#!` line gives (relative
/// names resolve against the cwd, as Linux's `open_exec` does); `head`
/// reads the first [`loader::BINPRM_BUF_SIZE`] bytes of what `open`
/// returns. Errors are Linux's:
/// ENOEXEC for a `#!` line without a usable name, the interpreter's open
/// error (ENOENT, EACCES...), ELOOP past [`loader::MAX_INTERPRETER_DEPTH`]
/// scripts in a row.
pub fn follow_scripts<T>(
    first: T,
    path: &[u8],
    argv: &mut Vec<Vec<u8>>,
    head: impl Fn(&T) -> Result<Vec<u8>, crate::errno::Errno>,
    mut open: impl FnMut(&[u8]) -> Result<T, crate::errno::Errno>,
) -> Result<T, crate::errno::Errno> {
    use crate::errno::Errno;
    let mut current = first;
    let mut script = path.to_vec();
    for depth in 0.. {
        if depth > loader::MAX_INTERPRETER_DEPTH {
            return Err(Errno::ELOOP);
        }
        let head = head(&current)?;
        let Some(sb) = loader::parse_shebang(&head).map_err(|_| Errno::ENOEXEC)? else {
            break;
        };
        // The size limits are checked when the stack is built.
        *argv = loader::interpreter_argv(&sb, &script, argv);
        // An empty name opens the cwd (a directory) in Linux's open_exec.
        if sb.interpreter.is_empty() {
            return Err(Errno::EACCES);
        }
        current = open(&sb.interpreter)?;
        script = sb.interpreter;
    }
    Ok(current)
}

impl ElfSource for ProgramFile {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<(), LoadError> {
        self.file
            .read_exact_at(buf, offset)
            .map_err(|e| LoadError::Read(e.to_string()))
    }
}

struct Writer<'a>(&'a AddressSpace);

impl GuestWriter for Writer<'_> {
    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), StackError> {
        self.0.poke(addr, data).map_err(|_| StackError::Fault(addr))
    }
}

/// Opens an interpreter by its `PT_INTERP` name.
pub type OpenInterp<'a> = dyn FnMut(&[u8]) -> Result<Box<dyn ElfSource>, crate::errno::Errno> + 'a;

/// What a load needs besides the program: the vDSO, whether to randomise
/// the layout, and how to open an interpreter.
pub struct LoadEnv<'a> {
    /// The vDSO to map (and name in AT_SYSINFO_EHDR), if there is one.
    pub vdso: Option<&'a crate::kernel::vdso::Vdso>,
    /// Randomise the load addresses (ASLR): off with `--no-aslr` or a
    /// personality with ADDR_NO_RANDOMIZE.
    pub randomize: bool,
    /// Opens the interpreter a `PT_INTERP` names, as Linux's `open_exec`:
    /// a path in the guest's root, a regular file with an execute bit.
    pub open_interp: &'a mut OpenInterp<'a>,
}

/// Linux's `personality` flag that turns ASLR off for a process.
pub const ADDR_NO_RANDOMIZE: u32 = 0x0004_0000;

/// Random pages of ASLR offsets: x86-64's default `mmap_rnd_bits` (28),
/// in pages, as Linux's `arch_mmap_rnd`.
const MMAP_RND_PAGES: u64 = 1 << 28;

/// Random pages of the stack top's offset: x86-64's `STACK_RND_MASK`
/// (22 bits of pages, 16 GiB).
const STACK_RND_PAGES: u64 = 1 << 22;

/// A random page-aligned offset below `pages` pages (0 without ASLR).
fn random_pages(randomize: bool, pages: u64) -> u64 {
    if !randomize {
        return 0;
    }
    let mut b = [0u8; 8];
    crate::host::random(&mut b);
    (u64::from_le_bytes(b) % pages) * loader::PAGE_SIZE
}

/// An interpreter file read as Linux reads one: as a 64-bit
/// little-endian ELF whatever its `EI_CLASS` and `EI_DATA` say
/// (`load_elf_binary` checks only the magic and `e_machine` of an
/// interpreter; a file with class 1 or data 2 but x86-64 headers loads).
struct AsElf64<'a>(&'a dyn ElfSource);

impl ElfSource for AsElf64<'_> {
    fn len(&self) -> u64 {
        self.0.len()
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<(), LoadError> {
        self.0.read_exact_at(buf, offset)?;
        for (at, value) in [(4u64, 2u8), (5, 1)] {
            if let Some(i) = at.checked_sub(offset)
                && let Some(b) = usize::try_from(i).ok().and_then(|i| buf.get_mut(i))
            {
                *b = value;
            }
        }
        Ok(())
    }
}

/// Maps `image`'s segments into `mm` and copies their bytes from `elf`.
fn map_image(
    mm: &Arc<AddressSpace>,
    elf: &dyn ElfSource,
    image: &loader::ElfImage,
) -> Result<(), ExecError> {
    for r in image.regions() {
        let prot = Prot {
            read: r.prot.read,
            write: r.prot.write,
            exec: r.prot.exec,
        };
        mm.map_image_region(r.start, r.end, prot, "")
            .map_err(|_| ExecError::NoMemory)?;
    }
    let mut buf = Vec::new();
    for s in &image.segments {
        let (mut off, end) = (s.file_range.start as u64, s.file_range.end as u64);
        let mut addr = s.data_addr;
        while off < end {
            let n = (end - off).min(CHUNK as u64) as usize;
            buf.resize(n, 0);
            elf.read_exact_at(&mut buf, off)?;
            mm.poke(addr, &buf).map_err(|_| ExecError::NoMemory)?;
            off += n as u64;
            addr += n as u64;
        }
    }
    Ok(())
}

/// Re-plans the position-independent `first` (parsed from `src` at the
/// default base) in the mmap area of `mm`: the highest free range below
/// its top that fits the image at its alignment, as Linux maps an
/// interpreter, or a static-pie or `ld.so` run as the program, with a
/// NULL hint. An `ET_EXEC` image stays where it is linked.
fn place_in_mmap_area(
    mm: &AddressSpace,
    src: &dyn ElfSource,
    first: loader::ElfImage,
) -> Result<loader::ElfImage, ExecError> {
    if first.bias == 0 {
        return Ok(first);
    }
    let lowest = first.segments.first().map_or(0, |s| s.start) - first.bias;
    let span = first.brk_start - first.bias - lowest;
    let align = first.align;
    let gap = mm
        .image_gap(span + align - loader::PAGE_SIZE, mm.mmap_base())
        .ok_or(ExecError::NoMemory)?;
    let opts = LoadOptions {
        pie_bias: gap.next_multiple_of(align) - lowest,
    };
    Ok(loader::parse_dynamic(src, &opts)?)
}

/// The checks Linux's `load_elf_binary` makes of an interpreter before
/// the point of no return (ELIBBAD): the ELF magic, `e_machine`, and a
/// program header table it can read (`load_elf_phdrs`: entries of 56
/// bytes, 1 to 64 KiB of them, inside the file). Its type and segments
/// are checked later, when a failure kills the process instead.
fn check_interp_header(interp: &dyn ElfSource) -> Result<(), ExecError> {
    let mut h = [0u8; 64];
    interp
        .read_exact_at(&mut h, 0)
        .map_err(ExecError::BadInterp)?;
    let u16_at = |o: usize| u64::from(u16::from_le_bytes([h[o], h[o + 1]]));
    let phoff = u64::from_le_bytes(h[32..40].try_into().unwrap_or_default());
    if &h[..4] != b"\x7fELF" {
        return Err(ExecError::BadInterp(LoadError::NotElf));
    }
    if u16_at(18) != 62 {
        return Err(ExecError::BadInterp(LoadError::WrongMachine(
            u16_at(18) as u16
        )));
    }
    let (phentsize, phnum) = (u16_at(54), u16_at(56));
    let table = phnum * 56;
    if phentsize != 56 || phnum == 0 || table > 65536 {
        return Err(ExecError::BadInterp(LoadError::BadHeader(format!(
            "program header table of {phnum} entries of {phentsize} bytes"
        ))));
    }
    if phoff
        .checked_add(table)
        .is_none_or(|end| end > interp.len())
    {
        return Err(ExecError::BadInterp(LoadError::Truncated {
            what: "program headers",
            end: phoff.saturating_add(table),
            len: interp.len(),
        }));
    }
    Ok(())
}

/// Parses the interpreter `interp` and plans it in the mmap area.
fn plan_interpreter(
    mm: &AddressSpace,
    interp: &dyn ElfSource,
) -> Result<loader::ElfImage, ExecError> {
    if interp.len() < 64 {
        // Linux reads a whole ELF header first: EIO when it is short.
        return Err(ExecError::BadInterp(LoadError::Truncated {
            what: "ELF header",
            end: 64,
            len: interp.len(),
        }));
    }
    check_interp_header(interp)?;
    let interp = AsElf64(interp);
    let bad = |e: ExecError| match e {
        ExecError::Elf(e) => ExecError::BadInterp(e),
        e => e,
    };
    let first =
        loader::parse_dynamic(&interp, &LoadOptions::default()).map_err(ExecError::BadInterp)?;
    place_in_mmap_area(mm, &interp, first).map_err(bad)
}

/// Loads `elf` into `mm` (and, for a dynamically linked program, the
/// interpreter its `PT_INTERP` names), with the vDSO mapped when there is
/// one, and returns the registers to start it with.
///
/// The layout follows Linux's `load_elf_binary` on x86-64: a position-
/// independent program at `ELF_ET_DYN_BASE` (0x555555554000 without
/// ASLR, plus up to 2^28 random pages with it), its interpreter in the
/// mmap area, `AT_BASE` the interpreter's load address and `AT_ENTRY` the
/// program's entry, while execution starts at the interpreter's.
pub fn load(
    mm: &Arc<AddressSpace>,
    elf: &dyn ElfSource,
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    execfn: &[u8],
    env: &mut LoadEnv<'_>,
) -> Result<UserContext, ExecError> {
    let randomize = env.randomize;
    // With ASLR the stack top moves down by up to 16 GiB (x86-64's
    // STACK_RND_MASK) and the mmap area keeps its distance below it, lowered
    // by up to 2^28 pages more (Linux's mmap_base).
    // A platform may keep the top of the user range for itself (the
    // seccomp platform's stub window): the stack goes below it.
    let top = STACK_TOP.min(mm.machine().max_user_address() - loader::PAGE_SIZE);
    let stack_top = top - random_pages(randomize, STACK_RND_PAGES);
    if randomize {
        mm.set_mmap_base(
            crate::mm::MMAP_BASE - (STACK_TOP - stack_top) - random_pages(true, MMAP_RND_PAGES),
        );
    }
    let opts = LoadOptions {
        pie_bias: loader::DEFAULT_PIE_BIAS + random_pages(randomize, MMAP_RND_PAGES),
    };
    let image = loader::parse_dynamic(elf, &opts)?;
    // A position-independent program without an interpreter (static-pie,
    // or ld.so run as the program) goes in the mmap area, as Linux loads
    // it with a load bias of 0 (its heap then starts at ELF_ET_DYN_BASE
    // with ASLR, as `load_elf_binary` moves it out of the mmap area).
    let pie_alone = image.bias != 0 && image.interpreter.is_none();
    let image = if pie_alone {
        place_in_mmap_area(mm, elf, image)?
    } else {
        image
    };
    let interp = match &image.interpreter {
        Some(name) => Some((env.open_interp)(name).map_err(|errno| ExecError::Interp {
            name: name.clone(),
            errno,
        })?),
        None => None,
    };
    map_image(mm, elf, &image)?;
    let interp_image = match &interp {
        Some(file) => {
            let planned = plan_interpreter(mm, file.as_ref())?;
            map_image(mm, &AsElf64(file.as_ref()), &planned).map_err(|e| match e {
                ExecError::Elf(e) => ExecError::BadInterp(e),
                e => e,
            })?;
            Some(planned)
        }
        None => None,
    };
    drop(interp);
    // The heap: right after the image; with ASLR, for a position-
    // independent program without an interpreter, at ELF_ET_DYN_BASE, out
    // of the mmap area (as `load_elf_binary`). Linux also moves the heap
    // start by up to 32 MiB (`arch_randomize_brk`); not done here yet.
    let brk = if randomize && pie_alone {
        loader::DEFAULT_PIE_BIAS
    } else {
        image.brk_start
    };
    mm.set_brk_start(brk);
    // The arguments' area (strings, pointers, auxv and a page of slack
    // for the rest) plus the initial stack, as Linux's setup_arg_pages.
    let strings: usize = argv
        .iter()
        .chain(envp)
        .map(|s| s.len() + 1 + 8)
        .sum::<usize>()
        + execfn.len()
        + 1;
    let args = (strings as u64 + 4096).next_multiple_of(4096);
    mm.map_stack_at(
        stack_top,
        mm.limits().initial_stack() + args,
        image.stack_executable,
    )
    .map_err(|_| ExecError::NoMemory)?;
    let sysinfo_ehdr = match env.vdso {
        Some(v) => Some(v.map(mm).map_err(|_| ExecError::NoMemory)?),
        None => None,
    };
    let mut random = [0u8; 16];
    crate::host::random(&mut random);
    let (hwcap, hwcap2) = crate::host::hwcaps();
    let info = StackInfo {
        stack_top,
        argv,
        envp,
        execfn,
        random,
        image: &image,
        interp_base: interp_image.as_ref().map_or(0, |i| i.bias),
        hwcap,
        hwcap2,
        minsigstksz: 2048,
        uid: 0,
        euid: 0,
        gid: 0,
        egid: 0,
        platform: b"x86_64",
        clktck: 100,
        sysinfo_ehdr,
    };
    let rsp = loader::build_stack(&mut Writer(mm), &info)?;
    let mut ctx = UserContext::default();
    ctx.regs.rip = interp_image.as_ref().map_or(image.entry, |i| i.entry);
    ctx.regs.rsp = rsp;
    ctx.regs.rflags = 0x202;
    Ok(ctx)
}

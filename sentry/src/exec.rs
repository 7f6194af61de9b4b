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

/// Loads `elf` into `mm`, with `vdso` mapped (and named in
/// AT_SYSINFO_EHDR) when there is one, and returns the registers to start
/// it with.
pub fn load(
    mm: &Arc<AddressSpace>,
    elf: &dyn ElfSource,
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    execfn: &[u8],
    vdso: Option<&crate::kernel::vdso::Vdso>,
) -> Result<UserContext, ExecError> {
    let image = loader::parse_from(elf, &LoadOptions::default())?;
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
    drop(buf);
    mm.set_brk_start(image.brk_start);
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
    mm.map_stack(mm.limits().initial_stack() + args, image.stack_executable)
        .map_err(|_| ExecError::NoMemory)?;
    let sysinfo_ehdr = match vdso {
        Some(v) => Some(v.map(mm).map_err(|_| ExecError::NoMemory)?),
        None => None,
    };
    let mut random = [0u8; 16];
    crate::host::random(&mut random);
    let (hwcap, hwcap2) = crate::host::hwcaps();
    let info = StackInfo {
        stack_top: STACK_TOP,
        argv,
        envp,
        execfn,
        random,
        image: &image,
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
    ctx.regs.rip = image.entry;
    ctx.regs.rsp = rsp;
    ctx.regs.rflags = 0x202;
    Ok(ctx)
}

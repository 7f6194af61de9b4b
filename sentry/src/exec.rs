//! Loading a program into a fresh address space: map the ELF's segments,
//! copy their bytes, set up the stack (argv, envp, auxv) and the break,
//! and return the initial user context.

use std::sync::Arc;

use loader::{GuestWriter, LoadOptions, StackError, StackInfo};
use platform::UserContext;

use crate::mm::{AddressSpace, Prot, STACK_LIMIT, STACK_TOP};

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

struct Writer<'a>(&'a AddressSpace);

impl GuestWriter for Writer<'_> {
    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), StackError> {
        self.0.poke(addr, data).map_err(|_| StackError::Fault(addr))
    }
}

/// Loads `elf` into `mm` and returns the registers to start it with.
pub fn load(
    mm: &Arc<AddressSpace>,
    elf: &[u8],
    argv: &[Vec<u8>],
    envp: &[Vec<u8>],
    execfn: &[u8],
) -> Result<UserContext, ExecError> {
    let image = loader::parse(elf, &LoadOptions::default())?;
    for r in image.regions() {
        let prot = Prot {
            read: r.prot.read,
            write: r.prot.write,
            exec: r.prot.exec,
        };
        mm.map_image_region(r.start, r.end, prot, "")
            .map_err(|_| ExecError::NoMemory)?;
    }
    for s in &image.segments {
        mm.poke(s.data_addr, &elf[s.file_range.clone()])
            .map_err(|_| ExecError::NoMemory)?;
    }
    mm.set_brk_start(image.brk_start);
    mm.map_stack(STACK_LIMIT, image.stack_executable)
        .map_err(|_| ExecError::NoMemory)?;
    let mut random = [0u8; 16];
    platform::host::random(&mut random);
    let (hwcap, hwcap2) = platform::host::hwcaps();
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
    };
    let rsp = loader::build_stack(&mut Writer(mm), &info)?;
    let mut ctx = UserContext::default();
    ctx.regs.rip = image.entry;
    ctx.regs.rsp = rsp;
    ctx.regs.rflags = 0x202;
    Ok(ctx)
}

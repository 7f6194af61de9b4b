//! ELF parsing, validation and segment planning.

use core::ops::Range;

use goblin::container::{Container, Ctx, Endian};
use goblin::elf::header::{
    EI_CLASS, EI_DATA, ELFCLASS64, ELFDATA2LSB, ELFMAG, EM_X86_64, ET_CORE, ET_DYN, ET_EXEC,
    ET_NONE, ET_REL, SELFMAG, header64,
};
use goblin::elf::program_header::{
    PF_R, PF_W, PF_X, PT_GNU_STACK, PT_INTERP, PT_LOAD, PT_PHDR, ProgramHeader, program_header64,
};
use goblin::elf::{Elf, Header};

/// Guest page size (x86-64 `ELF_EXEC_PAGESIZE`).
pub const PAGE_SIZE: u64 = 4096;

/// Lowest address a segment may occupy (Linux's default `vm.mmap_min_addr`).
pub const MIN_ADDR: u64 = 0x1_0000;

/// End (exclusive) of the user address range (x86-64 `TASK_SIZE` with 4-level paging).
pub const USER_ADDR_END: u64 = 0x7fff_ffff_f000;

/// Load bias Linux uses for position-independent executables (x86-64 `ELF_ET_DYN_BASE`
/// without randomisation).
pub const DEFAULT_PIE_BIAS: u64 = 0x5555_5555_4000;

/// Size of one ELF64 program header (`sizeof(Elf64_Phdr)`).
const PHDR_SIZE: usize = program_header64::SIZEOF_PHDR;

/// Linux refuses program header tables larger than this many bytes.
const MAX_PHDR_TABLE: usize = 65536;

/// Page protections of a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct Prot {
    /// Readable (`PF_R`).
    pub read: bool,
    /// Writable (`PF_W`).
    pub write: bool,
    /// Executable (`PF_X`).
    pub exec: bool,
}

impl Prot {
    /// Protections from ELF `p_flags` (x86-64 never adds implied exec for 64-bit programs).
    #[must_use]
    pub fn from_flags(flags: u32) -> Self {
        Self {
            read: flags & PF_R != 0,
            write: flags & PF_W != 0,
            exec: flags & PF_X != 0,
        }
    }

    /// Union of two protections, used for a page shared by two segments.
    #[must_use]
    pub fn union(self, other: Self) -> Self {
        Self {
            read: self.read || other.read,
            write: self.write || other.write,
            exec: self.exec || other.exec,
        }
    }
}

/// One `PT_LOAD` segment, planned for mapping.
///
/// `[start, end)` is page-aligned; inside it, the bytes `file[file_range]` appear at
/// `data_addr` and everything else reads as zero (bss and page slack).
///
/// Two consecutive segments may share a boundary page: the page holding the end of one
/// segment can also hold the start of the next (their byte ranges never overlap, only their
/// page-rounded ranges). A mapper must therefore not zero-fill one segment after copying the
/// other: back the pages with zeroed memory once, copy every segment's file bytes, and give a
/// shared page the union of both protections ([`ElfImage::regions`] computes exactly that).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    /// Page-aligned guest start address (load bias applied).
    pub start: u64,
    /// Page-aligned end (exclusive) of the whole mapping (file part + bss).
    pub end: u64,
    /// Protections from `p_flags`.
    pub prot: Prot,
    /// Guest address where the file bytes go (`p_vaddr + bias`, not aligned).
    pub data_addr: u64,
    /// Range inside the file bytes: `p_offset .. p_offset + p_filesz` (validated in bounds).
    pub file_range: Range<usize>,
}

/// A page-aligned, non-overlapping run of guest memory with one protection.
///
/// Produced by [`ElfImage::regions`]; pages shared by two segments get the union of their
/// protections.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Page-aligned start address.
    pub start: u64,
    /// Page-aligned end address (exclusive).
    pub end: u64,
    /// Protection of every page in the region.
    pub prot: Prot,
}

/// A validated static executable, ready to be mapped.
#[derive(Clone, Debug)]
pub struct ElfImage {
    /// Entry point (`e_entry + bias`); always inside a segment.
    pub entry: u64,
    /// Load bias: 0 for `ET_EXEC`, derived from [`LoadOptions::pie_bias`] for static-pie.
    pub bias: u64,
    /// `PT_LOAD` segments with non-zero size, sorted by address.
    pub segments: Vec<Segment>,
    /// Guest address of the program header table (`AT_PHDR`), found like Linux through the
    /// `PT_LOAD` whose file bytes contain `e_phoff`, else from `PT_PHDR`; 0 if neither.
    pub phdr_addr: u64,
    /// Size of one program header (`AT_PHENT`), always 56.
    pub phent: u64,
    /// Number of program headers (`AT_PHNUM`).
    pub phnum: u64,
    /// Whether the stack must be executable: true only if `PT_GNU_STACK` has `PF_X`.
    /// Like Linux on x86-64 (since 5.8), a missing `PT_GNU_STACK` means non-executable.
    pub stack_executable: bool,
    /// Page-aligned end of the highest segment: where the heap (`brk`) starts.
    pub brk_start: u64,
    /// The `PT_INTERP` path (up to its first NUL) of a dynamically linked
    /// program parsed with [`parse_dynamic`]; `None` for a static one.
    pub interpreter: Option<Vec<u8>>,
    /// The largest power-of-two `p_align` of the `PT_LOAD` headers, at
    /// least a page: what the bias of an `ET_DYN` file is rounded to.
    pub align: u64,
}

impl ElfImage {
    /// Page-granular protection map of all segments, sorted and non-overlapping.
    ///
    /// Adjacent pages keep separate regions per segment; a page shared by two segments
    /// becomes its own region with the union of both protections.
    #[must_use]
    pub fn regions(&self) -> Vec<Region> {
        let mut out: Vec<Region> = Vec::with_capacity(self.segments.len());
        for seg in &self.segments {
            let mut start = seg.start;
            if let Some(last) = out.last_mut()
                && last.end > start
            {
                // Segments are sorted and their byte ranges are disjoint, so at most the
                // boundary page is shared. Split it off with the merged protection.
                let shared_start = start;
                let shared_end = last.end;
                last.end = shared_start;
                let merged = last.prot.union(seg.prot);
                if last.start == last.end {
                    out.pop();
                }
                out.push(Region {
                    start: shared_start,
                    end: shared_end,
                    prot: merged,
                });
                start = shared_end;
            }
            if start < seg.end {
                out.push(Region {
                    start,
                    end: seg.end,
                    prot: seg.prot,
                });
            }
        }
        out
    }
}

/// Options for [`parse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LoadOptions {
    /// Load bias for static-pie (`ET_DYN`) programs. Like Linux, it is rounded down to the
    /// largest power-of-two `p_align` of the `PT_LOAD` segments (at least a page).
    pub pie_bias: u64,
}

impl Default for LoadOptions {
    fn default() -> Self {
        Self {
            pie_bias: DEFAULT_PIE_BIAS,
        }
    }
}

/// Why an ELF file cannot be loaded.
#[derive(Clone, Debug, thiserror::Error, PartialEq, Eq)]
pub enum LoadError {
    /// The file does not start with the ELF magic.
    #[error("not an ELF file (bad magic)")]
    NotElf,
    /// `EI_CLASS` is not `ELFCLASS64`.
    #[error("unsupported ELF class {0} (only 64-bit ELF programs can run)")]
    WrongClass(u8),
    /// `EI_DATA` is not little-endian.
    #[error("unsupported ELF data encoding {0} (only little-endian programs can run)")]
    WrongEndian(u8),
    /// `e_machine` is not `EM_X86_64`.
    #[error("ELF file is for machine {0}, not x86-64 (62)")]
    WrongMachine(u16),
    /// `e_type` is neither `ET_EXEC` nor `ET_DYN`.
    #[error("ELF file of type {0} ({name}) is not an executable", name = type_name(*.0))]
    WrongType(u16),
    /// The program has a `PT_INTERP` and thus needs a dynamic linker.
    #[error(
        "dynamically linked program (interpreter {}): only static binaries run in the sandbox",
        crate::quote(.interpreter.as_bytes())
    )]
    Dynamic {
        /// The requested interpreter path, as the file has it (up to its
        /// first NUL; invalid UTF-8 replaced): print it only through the
        /// error's Display, which quotes it.
        interpreter: String,
    },
    /// Some part of the file lies beyond its end.
    #[error("truncated ELF file: {what} ends at byte {end} but the file has {len} bytes")]
    Truncated {
        /// What was being read.
        what: &'static str,
        /// End offset it needs (saturated at `u64::MAX`).
        end: u64,
        /// File length.
        len: u64,
    },
    /// The ELF header itself is unusable (program header size or count).
    #[error("bad ELF header: {0}")]
    BadHeader(String),
    /// The file has no loadable segment.
    #[error("ELF file has no loadable (PT_LOAD) segment")]
    NoLoadSegments,
    /// A `PT_LOAD` program header is invalid.
    #[error("bad PT_LOAD segment (program header {index}): {reason}")]
    BadSegment {
        /// Index of the program header.
        index: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// The memory ranges of two `PT_LOAD` segments overlap.
    #[error("PT_LOAD segments (program headers {first} and {second}) overlap in memory")]
    Overlapping {
        /// Index of the lower program header.
        first: usize,
        /// Index of the program header that overlaps it.
        second: usize,
    },
    /// The entry point is not inside any loaded segment.
    #[error("entry point {0:#x} is outside every loaded segment")]
    BadEntry(u64),
    /// goblin could not parse a structure.
    #[error("malformed ELF file: {0}")]
    Malformed(String),
    /// Reading the file failed.
    #[error("cannot read the ELF file: {0}")]
    Read(String),
}

/// Where [`parse_from`] reads an ELF file: its length and bytes at an
/// offset, so a loader can read only the headers it needs and then copy
/// each segment in bounded chunks, never the whole file at once.
pub trait ElfSource {
    /// Length of the file in bytes.
    fn len(&self) -> u64;
    /// Whether the file is empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Fills `buf` with the bytes at `offset` (which the parser has checked
    /// lie inside the file).
    ///
    /// # Errors
    ///
    /// [`LoadError::Read`] (or any other error) when the bytes cannot be read.
    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<(), LoadError>;
}

impl ElfSource for &[u8] {
    fn len(&self) -> u64 {
        <[u8]>::len(self) as u64
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<(), LoadError> {
        let start = usize::try_from(offset).map_err(|_| LoadError::Read("offset".into()))?;
        let bytes = start
            .checked_add(buf.len())
            .and_then(|end| self.get(start..end))
            .ok_or_else(|| LoadError::Read("read past the end".into()))?;
        buf.copy_from_slice(bytes);
        Ok(())
    }
}

/// Longest `PT_INTERP` name read (Linux refuses one longer than PATH_MAX).
const MAX_INTERP: u64 = 4096;

fn type_name(e_type: u16) -> &'static str {
    match e_type {
        ET_NONE => "ET_NONE",
        ET_REL => "ET_REL, a relocatable object",
        ET_CORE => "ET_CORE, a core dump",
        _ => "unknown",
    }
}

fn malformed(e: goblin::error::Error) -> LoadError {
    LoadError::Malformed(e.to_string())
}

/// Checks that `offset + size` lies within a file of `len` bytes and returns the range.
fn file_range(
    what: &'static str,
    offset: u64,
    size: u64,
    len: usize,
) -> Result<Range<usize>, LoadError> {
    let truncated = LoadError::Truncated {
        what,
        end: offset.saturating_add(size),
        len: len as u64,
    };
    let end = offset.checked_add(size).ok_or_else(|| truncated.clone())?;
    match (usize::try_from(offset), usize::try_from(end)) {
        (Ok(start), Ok(end)) if end <= len => Ok(start..end),
        _ => Err(truncated),
    }
}

const fn page_down(addr: u64) -> u64 {
    addr & !(PAGE_SIZE - 1)
}

fn page_up(addr: u64) -> Option<u64> {
    addr.checked_add(PAGE_SIZE - 1).map(page_down)
}

/// Reads and checks the ELF header.
fn parse_header(bytes: &[u8]) -> Result<Header, LoadError> {
    if bytes.len() < SELFMAG || &bytes[..SELFMAG] != ELFMAG {
        return Err(LoadError::NotElf);
    }
    if bytes.len() < header64::SIZEOF_EHDR {
        // Class and encoding are checked first when present so that a short 32-bit file
        // is still reported as such.
        if let Some(&class) = bytes.get(EI_CLASS)
            && class != ELFCLASS64
        {
            return Err(LoadError::WrongClass(class));
        }
        return Err(LoadError::Truncated {
            what: "ELF header",
            end: header64::SIZEOF_EHDR as u64,
            len: bytes.len() as u64,
        });
    }
    match bytes[EI_CLASS] {
        ELFCLASS64 => {}
        class => return Err(LoadError::WrongClass(class)),
    }
    match bytes[EI_DATA] {
        ELFDATA2LSB => {}
        data => return Err(LoadError::WrongEndian(data)),
    }
    let header = Elf::parse_header(bytes).map_err(malformed)?;
    if header.e_type != ET_EXEC && header.e_type != ET_DYN {
        return Err(LoadError::WrongType(header.e_type));
    }
    if header.e_machine != EM_X86_64 {
        return Err(LoadError::WrongMachine(header.e_machine));
    }
    if usize::from(header.e_phentsize) != PHDR_SIZE {
        return Err(LoadError::BadHeader(format!(
            "program header size is {} bytes, expected {PHDR_SIZE}",
            header.e_phentsize
        )));
    }
    if header.e_phnum == 0 {
        return Err(LoadError::BadHeader("no program headers".into()));
    }
    if usize::from(header.e_phnum) * PHDR_SIZE > MAX_PHDR_TABLE {
        return Err(LoadError::BadHeader(format!(
            "too many program headers ({})",
            header.e_phnum
        )));
    }
    Ok(header)
}

/// Returns the interpreter path named by a `PT_INTERP` header (up to its
/// first NUL).
fn interpreter(src: &dyn ElfSource, ph: &ProgramHeader) -> Result<Vec<u8>, LoadError> {
    let range = file_range("PT_INTERP path", ph.p_offset, ph.p_filesz, src_len(src))?;
    let mut raw = vec![0u8; (range.len() as u64).min(MAX_INTERP) as usize];
    src.read_exact_at(&mut raw, range.start as u64)?;
    let name = raw.split(|&b| b == 0).next().unwrap_or_default();
    Ok(name.to_vec())
}

/// The file length as a usize (saturated: bounds checks then fail).
fn src_len(src: &dyn ElfSource) -> usize {
    usize::try_from(src.len()).unwrap_or(usize::MAX)
}

/// Largest power-of-two `p_align` among the `PT_LOAD` headers, at least a page.
fn max_alignment(phdrs: &[ProgramHeader]) -> u64 {
    phdrs
        .iter()
        .filter(|ph| ph.p_type == PT_LOAD && ph.p_align.is_power_of_two())
        .map(|ph| ph.p_align)
        .fold(PAGE_SIZE, u64::max)
}

/// A planned segment plus what validation needs to remember about it.
struct Planned {
    index: usize,
    /// Exact byte range `[p_vaddr, p_vaddr + p_memsz) + bias`.
    mem: Range<u64>,
    segment: Segment,
}

fn plan_segment(
    index: usize,
    ph: &ProgramHeader,
    bias: u64,
    len: usize,
) -> Result<Planned, LoadError> {
    let bad = |reason: String| LoadError::BadSegment { index, reason };
    if ph.p_filesz > ph.p_memsz {
        return Err(bad(format!(
            "file size {:#x} exceeds memory size {:#x}",
            ph.p_filesz, ph.p_memsz
        )));
    }
    let file = if ph.p_filesz == 0 {
        0..0
    } else {
        if ph.p_vaddr % PAGE_SIZE != ph.p_offset % PAGE_SIZE {
            return Err(bad(format!(
                "address {:#x} and file offset {:#x} are not congruent modulo the page size",
                ph.p_vaddr, ph.p_offset
            )));
        }
        file_range("PT_LOAD segment data", ph.p_offset, ph.p_filesz, len)?
    };
    let overflow = || bad("address range overflows".into());
    let start = ph.p_vaddr.checked_add(bias).ok_or_else(overflow)?;
    let end = start.checked_add(ph.p_memsz).ok_or_else(overflow)?;
    let page_start = page_down(start);
    let page_end = page_up(end).ok_or_else(overflow)?;
    if page_start < MIN_ADDR {
        return Err(bad(format!(
            "address {start:#x} is below the minimum mappable address {MIN_ADDR:#x}"
        )));
    }
    if page_end > USER_ADDR_END {
        return Err(bad(format!(
            "end address {end:#x} is beyond the user address space ({USER_ADDR_END:#x})"
        )));
    }
    Ok(Planned {
        index,
        mem: start..end,
        segment: Segment {
            start: page_start,
            end: page_end,
            prot: Prot::from_flags(ph.p_flags),
            data_addr: start,
            file_range: file,
        },
    })
}

/// Guest address of the program header table, as Linux computes `AT_PHDR`: through the
/// `PT_LOAD` whose file part contains `e_phoff`, else through `PT_PHDR`, else 0.
fn phdr_address(header: &Header, phdrs: &[ProgramHeader], bias: u64) -> u64 {
    let phoff = header.e_phoff;
    let from_load = phdrs.iter().find_map(|ph| {
        if ph.p_type != PT_LOAD {
            return None;
        }
        let delta = phoff.checked_sub(ph.p_offset)?;
        (delta < ph.p_filesz)
            .then_some(delta)?
            .checked_add(ph.p_vaddr)
    });
    let from_phdr = || {
        phdrs
            .iter()
            .find(|ph| ph.p_type == PT_PHDR)
            .map(|ph| ph.p_vaddr)
    };
    from_load
        .or_else(from_phdr)
        .and_then(|addr| addr.checked_add(bias))
        .filter(|&addr| addr < USER_ADDR_END)
        .unwrap_or(0)
}

/// Parses and validates a static x86-64 ELF executable and plans its segments.
///
/// Never panics; every malformed input yields a [`LoadError`]. `ET_EXEC` and static-pie
/// (`ET_DYN` without `PT_INTERP`) are accepted; anything with `PT_INTERP` is
/// [`LoadError::Dynamic`].
///
/// # Errors
///
/// Returns the first problem found, in roughly the order Linux checks: ELF identification,
/// type and machine, program header table, `PT_INTERP`, then each `PT_LOAD` segment, overlaps
/// and the entry point.
pub fn parse(bytes: &[u8], opts: &LoadOptions) -> Result<ElfImage, LoadError> {
    parse_from(&bytes, opts)
}

/// [`parse`] for a file read through an [`ElfSource`]: only the ELF header,
/// the program header table (at most 64 KiB) and the `PT_INTERP` name (at
/// most 4 KiB) are read, so a huge or endless file costs no memory here.
///
/// # Errors
///
/// As [`parse`], plus [`LoadError::Read`] when the source fails.
pub fn parse_from(src: &dyn ElfSource, opts: &LoadOptions) -> Result<ElfImage, LoadError> {
    parse_inner(src, opts, false)
}

/// [`parse_from`] that also accepts a dynamically linked program: its
/// `PT_INTERP` path is returned in [`ElfImage::interpreter`] (the first
/// `PT_INTERP` header, as Linux reads it), for the caller to load the
/// interpreter beside it. An interpreter's own `PT_INTERP` is ignored by
/// Linux, so a caller loading one simply does not look at the field.
///
/// # Errors
///
/// As [`parse_from`], without [`LoadError::Dynamic`].
pub fn parse_dynamic(src: &dyn ElfSource, opts: &LoadOptions) -> Result<ElfImage, LoadError> {
    parse_inner(src, opts, true)
}

fn parse_inner(
    src: &dyn ElfSource,
    opts: &LoadOptions,
    dynamic: bool,
) -> Result<ElfImage, LoadError> {
    let len = src_len(src);
    let mut head = vec![0u8; len.min(header64::SIZEOF_EHDR)];
    src.read_exact_at(&mut head, 0)?;
    let header = parse_header(&head)?;
    let table_len = u64::from(header.e_phnum) * PHDR_SIZE as u64;
    let table = file_range("program headers", header.e_phoff, table_len, len)?;
    let mut table_bytes = vec![0u8; table.len()];
    src.read_exact_at(&mut table_bytes, table.start as u64)?;
    let ctx = Ctx::new(Container::Big, Endian::Little);
    let phdrs = ProgramHeader::parse(&table_bytes, 0, usize::from(header.e_phnum), ctx)
        .map_err(malformed)?;

    let interpreter = match phdrs.iter().find(|ph| ph.p_type == PT_INTERP) {
        Some(ph) if !dynamic => {
            return Err(LoadError::Dynamic {
                interpreter: String::from_utf8_lossy(&interpreter(src, ph)?).into_owned(),
            });
        }
        Some(ph) => Some(interpreter(src, ph)?),
        None => None,
    };

    let bias = if header.e_type == ET_DYN {
        page_down(opts.pie_bias) & !(max_alignment(&phdrs) - 1)
    } else {
        0
    };

    let mut planned = Vec::new();
    for (index, ph) in phdrs.iter().enumerate() {
        if ph.p_type == PT_LOAD && ph.p_memsz != 0 {
            planned.push(plan_segment(index, ph, bias, len)?);
        }
    }
    if planned.is_empty() {
        return Err(LoadError::NoLoadSegments);
    }
    planned.sort_by_key(|p| p.mem.start);
    for pair in planned.windows(2) {
        if pair[1].mem.start < pair[0].mem.end {
            let (a, b) = (pair[0].index, pair[1].index);
            return Err(LoadError::Overlapping {
                first: a.min(b),
                second: a.max(b),
            });
        }
    }

    let entry = header
        .e_entry
        .checked_add(bias)
        .filter(|entry| planned.iter().any(|p| p.mem.contains(entry)))
        .ok_or(LoadError::BadEntry(header.e_entry.wrapping_add(bias)))?;

    let stack_executable = phdrs
        .iter()
        .rev()
        .find(|ph| ph.p_type == PT_GNU_STACK)
        .is_some_and(|ph| ph.p_flags & PF_X != 0);

    let phdr_addr = phdr_address(&header, &phdrs, bias);
    let segments: Vec<Segment> = planned.into_iter().map(|p| p.segment).collect();
    let brk_start = segments.iter().map(|s| s.end).max().unwrap_or(0);

    Ok(ElfImage {
        entry,
        bias,
        segments,
        phdr_addr,
        phent: PHDR_SIZE as u64,
        phnum: u64::from(header.e_phnum),
        stack_executable,
        brk_start,
        interpreter,
        align: max_alignment(&phdrs),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use goblin::elf::header::{ELFCLASS32, ELFDATA2MSB};

    const EM_AARCH64: u16 = 183;
    const INTERP: &[u8] = b"/lib64/ld-linux-x86-64.so.2\0";

    /// One program header for the builder.
    #[derive(Clone, Copy, Debug)]
    struct Ph {
        p_type: u32,
        flags: u32,
        offset: u64,
        vaddr: u64,
        filesz: u64,
        memsz: u64,
        align: u64,
    }

    impl Ph {
        fn load(flags: u32, offset: u64, vaddr: u64, filesz: u64, memsz: u64) -> Self {
            Self {
                p_type: PT_LOAD,
                flags,
                offset,
                vaddr,
                filesz,
                memsz,
                align: PAGE_SIZE,
            }
        }

        fn other(p_type: u32, flags: u32) -> Self {
            Self {
                p_type,
                flags,
                offset: 0,
                vaddr: 0,
                filesz: 0,
                memsz: 0,
                align: 16,
            }
        }
    }

    /// Hand-rolled ELF64 writer: header, program headers at `phoff`, and a byte pattern
    /// everywhere else so that file ranges can be checked.
    #[derive(Clone, Debug)]
    struct Builder {
        class: u8,
        data: u8,
        e_type: u16,
        machine: u16,
        entry: u64,
        phoff: u64,
        phentsize: u16,
        phnum: Option<u16>,
        phdrs: Vec<Ph>,
        len: usize,
        patches: Vec<(usize, Vec<u8>)>,
    }

    impl Builder {
        /// A typical static executable: R+X text holding the headers, RW data with bss.
        fn exec() -> Self {
            Self {
                class: ELFCLASS64,
                data: ELFDATA2LSB,
                e_type: ET_EXEC,
                machine: EM_X86_64,
                entry: 0x40_0100,
                phoff: 64,
                phentsize: PHDR_SIZE as u16,
                phnum: None,
                phdrs: vec![
                    Ph::load(PF_R | PF_X, 0, 0x40_0000, 0x1234, 0x1234),
                    Ph::load(PF_R | PF_W, 0x2010, 0x40_3010, 0x100, 0x2000),
                    Ph::other(PT_GNU_STACK, PF_R | PF_W),
                ],
                len: 0x3000,
                patches: Vec::new(),
            }
        }

        /// A static-pie: same layout linked at 0.
        fn pie() -> Self {
            let mut b = Self::exec();
            b.e_type = ET_DYN;
            b.entry = 0x100;
            b.phdrs[0].vaddr = 0;
            b.phdrs[1].vaddr = 0x3010;
            b
        }

        fn with_interp(mut self) -> Self {
            let mut interp = Ph::other(PT_INTERP, PF_R);
            interp.offset = 0x400;
            interp.filesz = INTERP.len() as u64;
            self.phdrs.insert(0, interp);
            self.patches.push((0x400, INTERP.to_vec()));
            self
        }

        fn build(&self) -> Vec<u8> {
            let mut b: Vec<u8> = (0..self.len).map(|i| (i % 251) as u8).collect();
            let mut put = |off: usize, bytes: &[u8]| {
                if off + bytes.len() > b.len() {
                    b.resize(off + bytes.len(), 0);
                }
                b[off..off + bytes.len()].copy_from_slice(bytes);
            };
            let mut ident = [0u8; 16];
            ident[..4].copy_from_slice(ELFMAG);
            ident[EI_CLASS] = self.class;
            ident[EI_DATA] = self.data;
            ident[6] = 1; // EI_VERSION
            put(0, &ident);
            put(16, &self.e_type.to_le_bytes());
            put(18, &self.machine.to_le_bytes());
            put(20, &1u32.to_le_bytes());
            put(24, &self.entry.to_le_bytes());
            put(32, &self.phoff.to_le_bytes());
            put(40, &0u64.to_le_bytes()); // e_shoff
            put(48, &0u32.to_le_bytes()); // e_flags
            put(52, &64u16.to_le_bytes()); // e_ehsize
            put(54, &self.phentsize.to_le_bytes());
            let phnum = self.phnum.unwrap_or(self.phdrs.len() as u16);
            put(56, &phnum.to_le_bytes());
            put(58, &64u16.to_le_bytes()); // e_shentsize
            put(60, &0u32.to_le_bytes()); // e_shnum, e_shstrndx
            // An out-of-file `phoff` only goes into the header.
            let phdrs = if self.phoff < self.len as u64 {
                &self.phdrs[..]
            } else {
                &[]
            };
            for (i, ph) in phdrs.iter().enumerate() {
                let mut raw = Vec::with_capacity(PHDR_SIZE);
                raw.extend_from_slice(&ph.p_type.to_le_bytes());
                raw.extend_from_slice(&ph.flags.to_le_bytes());
                raw.extend_from_slice(&ph.offset.to_le_bytes());
                raw.extend_from_slice(&ph.vaddr.to_le_bytes());
                raw.extend_from_slice(&ph.vaddr.to_le_bytes()); // p_paddr
                raw.extend_from_slice(&ph.filesz.to_le_bytes());
                raw.extend_from_slice(&ph.memsz.to_le_bytes());
                raw.extend_from_slice(&ph.align.to_le_bytes());
                put(self.phoff as usize + i * PHDR_SIZE, &raw);
            }
            for (off, bytes) in &self.patches {
                put(*off, bytes);
            }
            b
        }

        fn parse(&self) -> Result<ElfImage, LoadError> {
            parse(&self.build(), &LoadOptions::default())
        }
    }

    fn bad_segment_index(err: LoadError) -> usize {
        match err {
            LoadError::BadSegment { index, .. } => index,
            other => panic!("expected BadSegment, got {other:?}"),
        }
    }

    const RX: Prot = Prot {
        read: true,
        write: false,
        exec: true,
    };
    const RW: Prot = Prot {
        read: true,
        write: true,
        exec: false,
    };

    #[test]
    fn exec_layout() {
        let bytes = Builder::exec().build();
        let img = parse(&bytes, &LoadOptions::default()).unwrap();
        assert_eq!(img.bias, 0);
        assert_eq!(img.entry, 0x40_0100);
        assert_eq!(img.phdr_addr, 0x40_0040);
        assert_eq!(img.phent, 56);
        assert_eq!(img.phnum, 3);
        assert!(!img.stack_executable);
        assert_eq!(
            img.segments,
            vec![
                Segment {
                    start: 0x40_0000,
                    end: 0x40_2000,
                    prot: RX,
                    data_addr: 0x40_0000,
                    file_range: 0..0x1234,
                },
                Segment {
                    start: 0x40_3000,
                    end: 0x40_6000,
                    prot: RW,
                    data_addr: 0x40_3010,
                    file_range: 0x2010..0x2110,
                },
            ]
        );
        assert_eq!(img.brk_start, 0x40_6000);
        // The file range really selects the segment bytes (pattern i % 251).
        let data = &bytes[img.segments[1].file_range.clone()];
        assert_eq!(data[0], (0x2010 % 251) as u8);
        assert_eq!(data.len(), 0x100);
    }

    #[test]
    fn bss_range_and_brk() {
        let mut b = Builder::exec();
        // Data ends mid-page in the file; bss extends over two more pages.
        b.phdrs[1] = Ph::load(PF_R | PF_W, 0x2f00, 0x40_4f00, 0x80, 0x2200);
        let img = b.parse().unwrap();
        let data = &img.segments[1];
        assert_eq!(data.start, 0x40_4000);
        assert_eq!(data.data_addr, 0x40_4f00);
        assert_eq!(data.file_range, 0x2f00..0x2f80);
        // [0x404f80, 0x407100) is bss; the mapping ends on the next page boundary.
        assert_eq!(data.end, 0x40_8000);
        assert_eq!(img.brk_start, 0x40_8000);
    }

    #[test]
    fn brk_start_is_end_of_highest_segment_even_if_listed_first() {
        let mut b = Builder::exec();
        b.phdrs.swap(0, 1);
        let img = b.parse().unwrap();
        assert_eq!(img.brk_start, 0x40_6000);
        // Segments come out sorted by address.
        assert_eq!(img.segments[0].start, 0x40_0000);
        assert_eq!(img.segments[1].start, 0x40_3000);
    }

    #[test]
    fn static_pie_uses_bias() {
        let img = Builder::pie().parse().unwrap();
        let bias = DEFAULT_PIE_BIAS;
        assert_eq!(img.bias, bias);
        assert_eq!(img.entry, bias + 0x100);
        assert_eq!(img.phdr_addr, bias + 0x40);
        assert_eq!(img.segments[0].start, bias);
        assert_eq!(img.segments[0].data_addr, bias);
        assert_eq!(img.segments[1].start, bias + 0x3000);
        assert_eq!(img.segments[1].data_addr, bias + 0x3010);
        assert_eq!(img.brk_start, bias + 0x6000);
    }

    #[test]
    fn static_pie_bias_follows_options_and_alignment() {
        let bytes = Builder::pie().build();
        let img = parse(
            &bytes,
            &LoadOptions {
                pie_bias: 0x1234_5678_9abc,
            },
        )
        .unwrap();
        assert_eq!(img.bias, 0x1234_5678_9000, "rounded down to a page");

        let mut b = Builder::pie();
        b.phdrs[0].align = 0x20_0000;
        b.phdrs[1].align = 0x20_0000;
        let img = b.parse().unwrap();
        assert_eq!(img.bias, 0x5555_5540_0000, "rounded down to p_align");
        assert_eq!(img.bias % 0x20_0000, 0);
    }

    #[test]
    fn exec_ignores_pie_bias() {
        let bytes = Builder::exec().build();
        let img = parse(
            &bytes,
            &LoadOptions {
                pie_bias: 0x7000_0000_0000,
            },
        )
        .unwrap();
        assert_eq!(img.bias, 0);
        assert_eq!(img.entry, 0x40_0100);
    }

    #[test]
    fn pie_with_zero_bias_is_below_min_addr() {
        let bytes = Builder::pie().build();
        let err = parse(&bytes, &LoadOptions { pie_bias: 0 }).unwrap_err();
        assert_eq!(bad_segment_index(err), 0);
    }

    #[test]
    fn stack_executable_follows_gnu_stack() {
        let mut b = Builder::exec();
        assert!(!b.parse().unwrap().stack_executable);
        b.phdrs[2].flags = PF_R | PF_W | PF_X;
        assert!(b.parse().unwrap().stack_executable);
        // Linux x86-64 (since 5.8): no PT_GNU_STACK means a non-executable stack.
        b.phdrs.pop();
        assert!(!b.parse().unwrap().stack_executable);
    }

    #[test]
    fn phdr_addr_falls_back_to_pt_phdr() {
        let mut b = Builder::exec();
        // Program headers live in a part of the file that no PT_LOAD covers.
        b.phoff = 0x2800;
        let mut phdr = Ph::other(PT_PHDR, PF_R);
        phdr.vaddr = 0x40_5800;
        b.phdrs.push(phdr);
        assert_eq!(b.parse().unwrap().phdr_addr, 0x40_5800);
        b.phdrs.pop();
        assert_eq!(
            b.parse().unwrap().phdr_addr,
            0,
            "Linux passes 0 when not found"
        );
    }

    #[test]
    fn shared_boundary_page_is_accepted_and_merged() {
        let mut b = Builder::exec();
        // Text ends at 0x401234; data starts later on that same page.
        b.phdrs[1] = Ph::load(PF_R | PF_W, 0x1300, 0x40_1300, 0x100, 0x1000);
        let img = b.parse().unwrap();
        assert_eq!(img.segments[0].end, 0x40_2000);
        assert_eq!(img.segments[1].start, 0x40_1000);
        assert_eq!(img.segments[1].end, 0x40_3000);
        let rwx = Prot {
            read: true,
            write: true,
            exec: true,
        };
        assert_eq!(
            img.regions(),
            vec![
                Region {
                    start: 0x40_0000,
                    end: 0x40_1000,
                    prot: RX
                },
                Region {
                    start: 0x40_1000,
                    end: 0x40_2000,
                    prot: rwx
                },
                Region {
                    start: 0x40_2000,
                    end: 0x40_3000,
                    prot: RW
                },
            ]
        );
    }

    #[test]
    fn regions_without_sharing_mirror_segments() {
        let img = Builder::exec().parse().unwrap();
        let regions: Vec<_> = img
            .segments
            .iter()
            .map(|s| Region {
                start: s.start,
                end: s.end,
                prot: s.prot,
            })
            .collect();
        assert_eq!(img.regions(), regions);
    }

    #[test]
    fn zero_sized_load_is_skipped() {
        let mut b = Builder::exec();
        b.phdrs.push(Ph::load(PF_R, 0, 0x40_0000, 0, 0));
        assert_eq!(b.parse().unwrap().segments.len(), 2);
    }

    #[test]
    fn empty_and_bad_magic() {
        let opts = LoadOptions::default();
        assert_eq!(parse(&[], &opts).unwrap_err(), LoadError::NotElf);
        assert_eq!(parse(b"\x7fEL", &opts).unwrap_err(), LoadError::NotElf);
        let mut bytes = Builder::exec().build();
        bytes[1] = b'X';
        assert_eq!(parse(&bytes, &opts).unwrap_err(), LoadError::NotElf);
        assert_eq!(
            parse(b"#!/bin/sh\necho hi\n", &opts)
                .unwrap_err()
                .to_string(),
            "not an ELF file (bad magic)"
        );
    }

    #[test]
    fn truncated_header() {
        let bytes = Builder::exec().build();
        let err = parse(&bytes[..40], &LoadOptions::default()).unwrap_err();
        assert_eq!(
            err,
            LoadError::Truncated {
                what: "ELF header",
                end: 64,
                len: 40
            }
        );
    }

    #[test]
    fn wrong_class() {
        let mut b = Builder::exec();
        b.class = ELFCLASS32;
        assert_eq!(b.parse().unwrap_err(), LoadError::WrongClass(1));
        // Also when the file is too short for a 64-bit header.
        let bytes = b.build();
        assert_eq!(
            parse(&bytes[..52], &LoadOptions::default()).unwrap_err(),
            LoadError::WrongClass(1)
        );
        b.class = 7;
        assert_eq!(b.parse().unwrap_err(), LoadError::WrongClass(7));
    }

    #[test]
    fn big_endian() {
        let mut b = Builder::exec();
        b.data = ELFDATA2MSB;
        assert_eq!(b.parse().unwrap_err(), LoadError::WrongEndian(2));
    }

    #[test]
    fn wrong_machine() {
        let mut b = Builder::exec();
        b.machine = EM_AARCH64;
        let err = b.parse().unwrap_err();
        assert_eq!(err, LoadError::WrongMachine(EM_AARCH64));
        assert!(err.to_string().contains("183"));
    }

    #[test]
    fn wrong_type() {
        let mut b = Builder::exec();
        b.e_type = ET_REL;
        let err = b.parse().unwrap_err();
        assert_eq!(err, LoadError::WrongType(ET_REL));
        assert!(err.to_string().contains("relocatable"), "{err}");
        b.e_type = ET_CORE;
        assert_eq!(b.parse().unwrap_err(), LoadError::WrongType(ET_CORE));
    }

    /// A hostile PT_INTERP (escape sequences, a newline and a forged
    /// second error line) is printed quoted, on one line, with no control
    /// byte reaching the terminal.
    #[test]
    fn hostile_interpreter_name_is_quoted() {
        let mut b = Builder::exec().with_interp();
        let evil = b"/lib\x1b[2J\nsentry: all good\0".to_vec();
        b.phdrs[0].filesz = evil.len() as u64;
        b.patches.retain(|(off, _)| *off != 0x400);
        b.patches.push((0x400, evil));
        let msg = b.parse().unwrap_err().to_string();
        assert!(!msg.contains('\n') && !msg.contains('\x1b'), "{msg:?}");
        assert!(
            msg.contains("(interpreter \"/lib\\x1b[2J\\x0asentry: all good\")"),
            "{msg}"
        );
    }

    #[test]
    fn dynamic_names_interpreter() {
        for b in [Builder::exec(), Builder::pie()] {
            let err = b.with_interp().parse().unwrap_err();
            assert_eq!(
                err,
                LoadError::Dynamic {
                    interpreter: "/lib64/ld-linux-x86-64.so.2".into()
                }
            );
            assert_eq!(
                err.to_string(),
                "dynamically linked program (interpreter \"/lib64/ld-linux-x86-64.so.2\"): \
                 only static binaries run in the sandbox"
            );
        }
    }

    #[test]
    fn interpreter_beyond_file() {
        let mut b = Builder::exec().with_interp();
        b.phdrs[0].offset = 0x10_0000;
        assert!(matches!(
            b.parse().unwrap_err(),
            LoadError::Truncated {
                what: "PT_INTERP path",
                ..
            }
        ));
    }

    #[test]
    fn truncated_program_headers() {
        let bytes = Builder::exec().build();
        // Header intact, program header table cut in the middle.
        let err = parse(&bytes[..64 + 100], &LoadOptions::default()).unwrap_err();
        assert_eq!(
            err,
            LoadError::Truncated {
                what: "program headers",
                end: 64 + 3 * 56,
                len: 164
            }
        );
        let mut b = Builder::exec();
        b.phoff = u64::MAX - 8;
        assert!(matches!(
            b.parse().unwrap_err(),
            LoadError::Truncated {
                what: "program headers",
                end: u64::MAX,
                ..
            }
        ));
    }

    #[test]
    fn bad_program_header_table() {
        let mut b = Builder::exec();
        b.phentsize = 32;
        assert!(matches!(b.parse().unwrap_err(), LoadError::BadHeader(_)));
        let mut b = Builder::exec();
        b.phnum = Some(0);
        assert!(matches!(b.parse().unwrap_err(), LoadError::BadHeader(_)));
        let mut b = Builder::exec();
        b.phnum = Some(2000);
        b.len = 2000 * 56 + 64;
        assert!(matches!(b.parse().unwrap_err(), LoadError::BadHeader(_)));
    }

    #[test]
    fn segment_beyond_file() {
        let mut b = Builder::exec();
        b.phdrs[1].filesz = 0x1000; // 0x2010 + 0x1000 > 0x3000
        assert_eq!(
            b.parse().unwrap_err(),
            LoadError::Truncated {
                what: "PT_LOAD segment data",
                end: 0x3010,
                len: 0x3000
            }
        );
        b.phdrs[1].offset = u64::MAX - 0xfef; // congruent with the address, overflows
        b.phdrs[1].vaddr = 0x40_3010;
        assert!(matches!(
            b.parse().unwrap_err(),
            LoadError::Truncated {
                what: "PT_LOAD segment data",
                ..
            }
        ));
    }

    #[test]
    fn filesz_greater_than_memsz() {
        let mut b = Builder::exec();
        b.phdrs[1].memsz = 0x80;
        let err = b.parse().unwrap_err();
        assert!(err.to_string().contains("exceeds memory size"), "{err}");
        assert_eq!(bad_segment_index(err), 1);
    }

    #[test]
    fn overlapping_segments() {
        let mut b = Builder::exec();
        // Data starts inside text's bytes (0x400000..0x401234).
        b.phdrs[1] = Ph::load(PF_R | PF_W, 0x2200, 0x40_1200, 0x10, 0x10);
        assert_eq!(
            b.parse().unwrap_err(),
            LoadError::Overlapping {
                first: 0,
                second: 1
            }
        );
        // A segment entirely inside another, listed first.
        let mut b = Builder::exec();
        b.phdrs
            .insert(0, Ph::load(PF_R, 0x1000, 0x40_1000, 0x10, 0x10));
        assert_eq!(
            b.parse().unwrap_err(),
            LoadError::Overlapping {
                first: 0,
                second: 1
            }
        );
    }

    #[test]
    fn adjacent_segments_do_not_overlap() {
        let mut b = Builder::exec();
        b.phdrs[1] = Ph::load(PF_R | PF_W, 0x1234, 0x40_1234, 0x10, 0x10);
        assert!(b.parse().is_ok());
    }

    #[test]
    fn address_too_high() {
        let mut b = Builder::exec();
        b.phdrs[1].vaddr = USER_ADDR_END - 0x1000 + 0x10;
        let err = b.parse().unwrap_err();
        assert!(err.to_string().contains("user address space"), "{err}");
        assert_eq!(bad_segment_index(err), 1);
        // Exactly up to the end of user space is fine.
        let mut b = Builder::exec();
        b.phdrs[1] = Ph::load(PF_R | PF_W, 0x2010, USER_ADDR_END - 0x1ff0, 0x100, 0x1ff0);
        assert_eq!(b.parse().unwrap().brk_start, USER_ADDR_END);
    }

    #[test]
    fn address_overflow() {
        let mut b = Builder::exec();
        b.phdrs[1].vaddr = u64::MAX - 0xfef;
        assert!(b.parse().unwrap_err().to_string().contains("overflow"));
        let mut b = Builder::exec();
        b.phdrs[1].memsz = u64::MAX;
        assert_eq!(bad_segment_index(b.parse().unwrap_err()), 1);
        let mut b = Builder::pie();
        b.phdrs[1].vaddr = u64::MAX - 0x1fef;
        assert_eq!(bad_segment_index(b.parse().unwrap_err()), 1);
    }

    #[test]
    fn address_too_low() {
        let mut b = Builder::exec();
        b.phdrs[0].vaddr = 0x1000;
        b.entry = 0x1100;
        let err = b.parse().unwrap_err();
        assert!(err.to_string().contains("below the minimum"), "{err}");
        assert_eq!(bad_segment_index(err), 0);
    }

    #[test]
    fn misaligned_offset() {
        let mut b = Builder::exec();
        b.phdrs[1].offset = 0x2020; // vaddr 0x403010
        let err = b.parse().unwrap_err();
        assert!(err.to_string().contains("congruent"), "{err}");
        assert_eq!(bad_segment_index(err), 1);
        // Pure bss needs no congruence.
        b.phdrs[1].filesz = 0;
        assert!(b.parse().is_ok());
    }

    #[test]
    fn no_load_segments() {
        let mut b = Builder::exec();
        b.phdrs.drain(..2);
        assert_eq!(b.parse().unwrap_err(), LoadError::NoLoadSegments);
    }

    #[test]
    fn entry_outside_segments() {
        let mut b = Builder::exec();
        b.entry = 0x40_2000; // between text and data
        assert_eq!(b.parse().unwrap_err(), LoadError::BadEntry(0x40_2000));
    }

    #[test]
    fn error_messages_are_single_lines() {
        let errors = [
            LoadError::NotElf,
            Builder::exec().with_interp().parse().unwrap_err(),
            LoadError::WrongType(ET_CORE),
            LoadError::Overlapping {
                first: 1,
                second: 2,
            },
        ];
        for e in errors {
            assert!(!e.to_string().contains('\n'), "{e}");
        }
    }

    /// No input may panic: every prefix and single-byte corruption of a valid file.
    #[test]
    fn never_panics_on_corrupt_input() {
        for builder in [Builder::exec(), Builder::pie().with_interp()] {
            let good = builder.build();
            let opts = LoadOptions::default();
            for len in 0..good.len().min(64 + 4 * 56 + 64) {
                let _ = parse(&good[..len], &opts);
            }
            for pos in 0..64 + builder.phdrs.len() * 56 {
                for value in [0x00, 0x01, 0x7f, 0x80, 0xff] {
                    let mut bytes = good.clone();
                    bytes[pos] = value;
                    let _ = parse(&bytes, &opts);
                }
            }
        }
    }
}

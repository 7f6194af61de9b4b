//! The loader's fuzz harness, shared by the stable fuzz test
//! (`loader/tests/fuzz_loader.rs`, a seeded mutation loop run by
//! `cargo test`) and the cargo-fuzz targets in `fuzz/` (nightly, libFuzzer).
//! It depends on nothing but `loader` so both can include it by path.
//!
//! [`check_elf`] parses an input and checks real properties, not only "did
//! not crash":
//!
//! * every input gives `Ok` or a clean `LoadError` (no panic) whose message
//!   is one non-empty line;
//! * acceptance agrees with an independent reference checker
//!   ([`reference`]) written from Linux's `binfmt_elf` rules and reading the
//!   raw bytes itself (not through goblin), and so does the error kind;
//! * an accepted image is exactly what the reference plans: one segment per
//!   non-empty `PT_LOAD`, page-aligned, inside `[MIN_ADDR, USER_ADDR_END)`,
//!   file bytes in bounds and not overlapping in memory, entry inside a
//!   segment, `brk_start` at the highest end; `regions()` is sorted,
//!   disjoint, and gives each page exactly the union of the protections of
//!   the segments that touch it.
//!
//! [`check_stack`] builds the initial stack for an accepted image from
//! fuzzed argv/envp/top, with an in-memory guest writer that may inject a
//! fault, and decodes what was written: argc, argv, envp, auxv, AT_RANDOM,
//! AT_EXECFN and AT_PLATFORM must read back as given, rsp 16-byte aligned,
//! every write inside `[rsp, stack_top)`.

#![allow(dead_code)]

use loader::{
    ElfImage, GuestWriter, LoadError, LoadOptions, MIN_ADDR, PAGE_SIZE, Prot, StackError,
    StackInfo, USER_ADDR_END,
};

const PT_LOAD: u32 = 1;
const PT_INTERP: u32 = 3;
const PT_PHDR: u32 = 6;
const PT_GNU_STACK: u32 = 0x6474_e551;

/// What the reference checker expects of a valid file.
#[derive(Debug)]
pub struct Expected {
    pub bias: u64,
    pub entry: u64,
    pub phnum: u64,
    /// (page start, page end, data addr, file range, p_flags, exact mem end)
    pub segments: Vec<(u64, u64, u64, core::ops::Range<usize>, u32, u64)>,
    pub stack_executable: bool,
}

/// The error kinds the reference distinguishes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    NotElf,
    WrongClass,
    WrongEndian,
    WrongMachine,
    WrongType,
    Dynamic,
    Truncated,
    BadHeader,
    NoLoadSegments,
    BadSegment,
    Overlapping,
    BadEntry,
}

/// The kind of a loader error (`None` for `Malformed`: goblin's own
/// refusals, which the reference never predicts).
pub fn kind(e: &LoadError) -> Option<Kind> {
    Some(match e {
        LoadError::NotElf => Kind::NotElf,
        LoadError::WrongClass(_) => Kind::WrongClass,
        LoadError::WrongEndian(_) => Kind::WrongEndian,
        LoadError::WrongMachine(_) => Kind::WrongMachine,
        LoadError::WrongType(_) => Kind::WrongType,
        LoadError::Dynamic { .. } => Kind::Dynamic,
        LoadError::Truncated { .. } => Kind::Truncated,
        LoadError::BadHeader(_) => Kind::BadHeader,
        LoadError::NoLoadSegments => Kind::NoLoadSegments,
        LoadError::BadSegment { .. } => Kind::BadSegment,
        LoadError::Overlapping { .. } => Kind::Overlapping,
        LoadError::BadEntry(_) => Kind::BadEntry,
        LoadError::Malformed(_) => return None,
        // The fuzzer parses in-memory bytes, which cannot fail to read.
        LoadError::Read(e) => panic!("reading an in-memory ELF failed: {e}"),
    })
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}
fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes(b[off..off + 4].try_into().unwrap())
}
fn u64_at(b: &[u8], off: usize) -> u64 {
    u64::from_le_bytes(b[off..off + 8].try_into().unwrap())
}

/// One raw program header.
#[derive(Clone, Copy, Debug)]
pub struct RawPh {
    pub p_type: u32,
    pub flags: u32,
    pub offset: u64,
    pub vaddr: u64,
    pub filesz: u64,
    pub memsz: u64,
    pub align: u64,
}

/// The raw program headers, if the table is in the file.
pub fn raw_phdrs(b: &[u8]) -> Option<Vec<RawPh>> {
    if b.len() < 64 {
        return None;
    }
    let phoff = u64_at(b, 32);
    let phnum = u64::from(u16_at(b, 56));
    let end = phoff.checked_add(phnum * 56)?;
    if end > b.len() as u64 {
        return None;
    }
    Some(
        (0..phnum as usize)
            .map(|i| {
                let p = phoff as usize + i * 56;
                RawPh {
                    p_type: u32_at(b, p),
                    flags: u32_at(b, p + 4),
                    offset: u64_at(b, p + 8),
                    vaddr: u64_at(b, p + 16),
                    filesz: u64_at(b, p + 32),
                    memsz: u64_at(b, p + 40),
                    align: u64_at(b, p + 48),
                }
            })
            .collect(),
    )
}

/// An independent statement of which static ELF files load (Linux's
/// `binfmt_elf` rules as the loader documents them), on the raw bytes.
pub fn reference(b: &[u8], pie_bias: u64) -> Result<Expected, Kind> {
    if b.len() < 4 || &b[..4] != b"\x7fELF" {
        return Err(Kind::NotElf);
    }
    if b.len() < 64 {
        return Err(match b.get(4) {
            Some(&c) if c != 2 => Kind::WrongClass,
            _ => Kind::Truncated,
        });
    }
    if b[4] != 2 {
        return Err(Kind::WrongClass);
    }
    if b[5] != 1 {
        return Err(Kind::WrongEndian);
    }
    let e_type = u16_at(b, 16);
    if e_type != 2 && e_type != 3 {
        return Err(Kind::WrongType);
    }
    if u16_at(b, 18) != 62 {
        return Err(Kind::WrongMachine);
    }
    let phnum = u16_at(b, 56);
    if u16_at(b, 54) != 56 || phnum == 0 || usize::from(phnum) * 56 > 65536 {
        return Err(Kind::BadHeader);
    }
    let phdrs = raw_phdrs(b).ok_or(Kind::Truncated)?;
    if let Some(interp) = phdrs.iter().find(|p| p.p_type == PT_INTERP) {
        let in_file = interp
            .offset
            .checked_add(interp.filesz)
            .is_some_and(|end| end <= b.len() as u64);
        return Err(if in_file {
            Kind::Dynamic
        } else {
            Kind::Truncated
        });
    }
    let bias = if e_type == 3 {
        let align = phdrs
            .iter()
            .filter(|p| p.p_type == PT_LOAD && p.align.is_power_of_two())
            .map(|p| p.align)
            .fold(PAGE_SIZE, u64::max);
        pie_bias & !(PAGE_SIZE - 1) & !(align - 1)
    } else {
        0
    };
    let mut segs = Vec::new();
    for p in phdrs.iter().filter(|p| p.p_type == PT_LOAD && p.memsz != 0) {
        if p.filesz > p.memsz {
            return Err(Kind::BadSegment);
        }
        let file = if p.filesz == 0 {
            0..0
        } else {
            if p.vaddr % PAGE_SIZE != p.offset % PAGE_SIZE {
                return Err(Kind::BadSegment);
            }
            match p.offset.checked_add(p.filesz) {
                Some(end) if end <= b.len() as u64 => p.offset as usize..end as usize,
                _ => return Err(Kind::Truncated),
            }
        };
        let start = p.vaddr.checked_add(bias).ok_or(Kind::BadSegment)?;
        let end = start.checked_add(p.memsz).ok_or(Kind::BadSegment)?;
        let page_end = end.checked_add(PAGE_SIZE - 1).ok_or(Kind::BadSegment)? & !(PAGE_SIZE - 1);
        let page_start = start & !(PAGE_SIZE - 1);
        if page_start < MIN_ADDR || page_end > USER_ADDR_END {
            return Err(Kind::BadSegment);
        }
        segs.push((page_start, page_end, start, file, p.flags, end));
    }
    if segs.is_empty() {
        return Err(Kind::NoLoadSegments);
    }
    segs.sort_by_key(|s| s.2);
    if segs.windows(2).any(|w| w[1].2 < w[0].5) {
        return Err(Kind::Overlapping);
    }
    let entry = u64_at(b, 24)
        .checked_add(bias)
        .filter(|e| segs.iter().any(|s| (s.2..s.5).contains(e)))
        .ok_or(Kind::BadEntry)?;
    let stack_executable = phdrs
        .iter()
        .rev()
        .find(|p| p.p_type == PT_GNU_STACK)
        .is_some_and(|p| p.flags & 1 != 0);
    Ok(Expected {
        bias,
        entry,
        phnum: u64::from(phnum),
        segments: segs,
        stack_executable,
    })
}

/// Parses `bytes` with `pie_bias` and checks every property listed in the
/// module documentation. Returns the image if it was accepted.
pub fn check_elf(bytes: &[u8], pie_bias: u64) -> Option<ElfImage> {
    let opts = LoadOptions { pie_bias };
    let got = loader::parse(bytes, &opts);
    let again = loader::parse(bytes, &opts);
    assert_eq!(
        format!("{got:?}"),
        format!("{again:?}"),
        "parse is not deterministic"
    );
    let want = reference(bytes, pie_bias);
    match (&got, &want) {
        (Err(e), _) => {
            let msg = e.to_string();
            assert!(!msg.is_empty(), "empty error message for {e:?}");
            // A PT_INTERP path is the guest's: the loader reports it as is
            // (the CLI must quote it), so only other messages must be one
            // line here.
            if !matches!(e, LoadError::Dynamic { .. }) {
                assert!(!msg.contains('\n'), "multi-line error message: {msg:?}");
            }
            match (kind(e), &want) {
                (Some(k), Err(w)) => assert_eq!(k, *w, "loader says {e}, reference {w:?}"),
                (Some(_), Ok(w)) => {
                    panic!("loader rejected ({e}) what the reference accepts: {w:?}")
                }
                // goblin refused something: the reference must refuse too.
                (None, Ok(w)) => panic!("goblin rejected ({e}) a valid file: {w:?}"),
                (None, Err(_)) => {}
            }
            None
        }
        (Ok(img), Err(w)) => panic!("loader accepted what the reference rejects ({w:?}): {img:?}"),
        (Ok(img), Ok(want)) => {
            check_image(bytes, img, want);
            Some(img.clone())
        }
    }
}

fn check_image(bytes: &[u8], img: &ElfImage, want: &Expected) {
    assert_eq!(img.bias, want.bias, "bias");
    assert_eq!(img.bias % PAGE_SIZE, 0, "bias not page-aligned");
    assert_eq!(img.entry, want.entry, "entry");
    assert_eq!(img.phent, 56);
    assert_eq!(img.phnum, want.phnum);
    assert_eq!(img.stack_executable, want.stack_executable);
    assert!(
        img.phdr_addr == 0 || img.phdr_addr < USER_ADDR_END,
        "phdr_addr {:#x}",
        img.phdr_addr
    );
    assert_eq!(img.segments.len(), want.segments.len(), "segment count");
    for (i, (seg, w)) in img.segments.iter().zip(&want.segments).enumerate() {
        let (start, end, data, ref file, flags, mem_end) = *w;
        assert_eq!(
            (seg.start, seg.end, seg.data_addr, seg.file_range.clone()),
            (start, end, data, file.clone()),
            "segment {i}"
        );
        assert_eq!(seg.prot, Prot::from_flags(flags), "segment {i} prot");
        assert!(seg.start % PAGE_SIZE == 0 && seg.end % PAGE_SIZE == 0);
        assert!(seg.start < seg.end, "empty segment {i}");
        assert!(seg.start >= MIN_ADDR && seg.end <= USER_ADDR_END);
        assert!(
            seg.file_range.end <= bytes.len(),
            "file range out of the file"
        );
        assert!(seg.data_addr >= seg.start);
        assert!(seg.data_addr + seg.file_range.len() as u64 <= mem_end);
        assert!(mem_end <= seg.end);
        if i > 0 {
            let prev = &want.segments[i - 1];
            assert!(prev.5 <= data, "segments {} and {i} overlap", i - 1);
            assert!(
                img.segments[i - 1].end <= seg.start + PAGE_SIZE,
                "segments share more than one page"
            );
        }
    }
    assert!(
        img.segments
            .iter()
            .zip(&want.segments)
            .any(|(s, w)| (s.data_addr..w.5).contains(&img.entry)),
        "entry outside every segment"
    );
    let top = img.segments.iter().map(|s| s.end).max().unwrap_or(0);
    assert_eq!(img.brk_start, top, "brk_start");

    // regions(): sorted, disjoint, non-empty, page-aligned, covering exactly
    // the segments' pages, each page with the union of its segments' prots.
    let regions = img.regions();
    for r in &regions {
        assert!(r.start < r.end && r.start % PAGE_SIZE == 0 && r.end % PAGE_SIZE == 0);
    }
    for w in regions.windows(2) {
        assert!(w[0].end <= w[1].start, "regions overlap: {w:?}");
    }
    let mut pages: Vec<u64> = img
        .segments
        .iter()
        .flat_map(|s| [s.start, s.end - PAGE_SIZE])
        .chain(regions.iter().flat_map(|r| [r.start, r.end - PAGE_SIZE]))
        .collect();
    pages.sort_unstable();
    pages.dedup();
    for page in pages {
        let want = img
            .segments
            .iter()
            .filter(|s| (s.start..s.end).contains(&page))
            .fold(None, |acc: Option<Prot>, s| {
                Some(acc.map_or(s.prot, |p| p.union(s.prot)))
            });
        let got = regions
            .iter()
            .find(|r| (r.start..r.end).contains(&page))
            .map(|r| r.prot);
        assert_eq!(got, want, "protection of page {page:#x}");
    }
    let covered: u64 = regions.iter().map(|r| r.end - r.start).sum();
    let mut spans: Vec<(u64, u64)> = img.segments.iter().map(|s| (s.start, s.end)).collect();
    spans.sort_unstable();
    let mut union = 0;
    let mut cur: Option<(u64, u64)> = None;
    for (s, e) in spans {
        cur = match cur {
            Some((cs, ce)) if s <= ce => Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                union += ce - cs;
                Some((s, e))
            }
            None => Some((s, e)),
        };
    }
    if let Some((cs, ce)) = cur {
        union += ce - cs;
    }
    assert_eq!(covered, union, "regions do not cover exactly the segments");
}

/// Reads fuzz bytes as a stream of small decisions.
pub struct Bytes<'a>(pub &'a [u8]);

impl Bytes<'_> {
    pub fn u8(&mut self) -> u8 {
        match self.0.split_first() {
            Some((&b, rest)) => {
                self.0 = rest;
                b
            }
            None => 0,
        }
    }
    pub fn u64(&mut self) -> u64 {
        (0..8).fold(0, |acc, i| acc | (u64::from(self.u8()) << (8 * i)))
    }
    pub fn string(&mut self, max: usize) -> Vec<u8> {
        let len = usize::from(self.u8()) % (max + 1);
        let nul_ok = self.u8() == 0;
        (0..len)
            .map(|_| match self.u8() {
                0 if nul_ok => 0,
                0 => b'x',
                b => b,
            })
            .collect()
    }
}

/// A flat piece of guest memory ending at `top`, that may fail one write.
struct Memory {
    base: u64,
    data: Vec<u8>,
    fail: bool,
    writes: usize,
}

impl GuestWriter for Memory {
    fn write(&mut self, addr: u64, data: &[u8]) -> Result<(), StackError> {
        self.writes += 1;
        if self.fail {
            return Err(StackError::Fault(addr));
        }
        let end = addr.checked_add(data.len() as u64).expect("write wraps");
        assert!(
            addr >= self.base && end <= self.base + self.data.len() as u64,
            "write [{addr:#x}, {end:#x}) outside the stack [{:#x}, top)",
            self.base
        );
        let off = (addr - self.base) as usize;
        self.data[off..off + data.len()].copy_from_slice(data);
        Ok(())
    }
}

impl Memory {
    fn u64(&self, addr: u64) -> u64 {
        let off = usize::try_from(addr - self.base).unwrap();
        u64::from_le_bytes(self.data[off..off + 8].try_into().unwrap())
    }
    fn cstr(&self, addr: u64) -> &[u8] {
        let off = usize::try_from(addr - self.base).unwrap();
        let len = self.data[off..]
            .iter()
            .position(|&b| b == 0)
            .expect("unterminated string");
        &self.data[off..off + len]
    }
}

/// Builds and decodes an initial stack for `image` from fuzz bytes.
pub fn check_stack(image: &ElfImage, data: &[u8]) {
    const STACK: u64 = 256 << 10;
    let mut d = Bytes(data);
    let top = match d.u8() % 4 {
        0 => 0x7fff_ffff_f000,
        1 => 0x7fff_ffff_e000 - u64::from(d.u8()),
        2 => STACK + (d.u64() % (1 << 47)),
        _ => d.u64() % (STACK * 2), // may be too low for anything
    };
    let argv: Vec<Vec<u8>> = (0..d.u8() % 8).map(|_| d.string(40)).collect();
    let envp: Vec<Vec<u8>> = (0..d.u8() % 8).map(|_| d.string(40)).collect();
    let execfn = d.string(30);
    let platform = if d.u8() % 4 == 0 {
        Vec::new()
    } else {
        b"x86_64".to_vec()
    };
    let mut random = [0u8; 16];
    random.iter_mut().for_each(|r| *r = d.u8());
    let fail = d.u8() % 16 == 0;
    let info = StackInfo {
        stack_top: top,
        argv: &argv,
        envp: &envp,
        execfn: &execfn,
        random,
        image,
        interp_base: 0,
        hwcap: d.u64(),
        hwcap2: d.u64(),
        minsigstksz: 2048,
        uid: 0,
        euid: 0,
        gid: 0,
        egid: 0,
        platform: &platform,
        clktck: 100,
        sysinfo_ehdr: (d.u8() % 2 == 0).then_some(0x7fff_f7ff_c000),
    };
    let base = top.saturating_sub(STACK);
    let mut mem = Memory {
        base,
        data: vec![0xa5; (top - base) as usize],
        fail,
        writes: 0,
    };
    let has_nul = argv
        .iter()
        .chain(&envp)
        .chain([&execfn])
        .any(|s| s.contains(&0));
    let need: u64 = argv
        .iter()
        .chain(&envp)
        .map(|s| s.len() as u64 + 9)
        .sum::<u64>()
        + execfn.len() as u64
        + 1024;
    match loader::build_stack_layout(&mut mem, &info) {
        Err(StackError::InteriorNul) => assert!(has_nul, "InteriorNul without a NUL"),
        Err(StackError::Fault(_)) => assert!(fail, "fault without a failing writer"),
        Err(StackError::TooBig) => assert!(
            !has_nul && top < need,
            "TooBig for {need} bytes below {top:#x}"
        ),
        Ok(layout) => {
            assert!(!has_nul && !fail, "accepted a NUL or ignored a fault");
            assert!(mem.writes > 0);
            let rsp = layout.rsp;
            assert_eq!(rsp % 16, 0, "rsp {rsp:#x} not 16-byte aligned");
            assert!(rsp < top && rsp >= base, "rsp {rsp:#x} outside the stack");
            assert_eq!(mem.u64(rsp), argv.len() as u64, "argc");
            let mut at = rsp + 8;
            for (i, a) in argv.iter().enumerate() {
                let p = mem.u64(at);
                assert!((layout.arg_start..layout.arg_end).contains(&p));
                assert_eq!(mem.cstr(p), &a[..], "argv[{i}]");
                at += 8;
            }
            assert_eq!(mem.u64(at), 0, "argv NULL");
            at += 8;
            for (i, e) in envp.iter().enumerate() {
                let p = mem.u64(at);
                assert!((layout.env_start..layout.env_end).contains(&p));
                assert_eq!(mem.cstr(p), &e[..], "envp[{i}]");
                at += 8;
            }
            assert_eq!(mem.u64(at), 0, "envp NULL");
            at += 8;
            let mut auxv = Vec::new();
            loop {
                let (k, v) = (mem.u64(at), mem.u64(at + 8));
                auxv.push((k, v));
                at += 16;
                if k == loader::AT_NULL {
                    break;
                }
                assert!(auxv.len() < 64, "auxv does not end");
            }
            assert_eq!(auxv, layout.auxv, "auxv as written vs as reported");
            let get = |key| auxv.iter().find(|(k, _)| *k == key).map(|(_, v)| *v);
            assert_eq!(get(loader::AT_ENTRY), Some(image.entry));
            assert_eq!(get(loader::AT_PHDR), Some(image.phdr_addr));
            assert_eq!(get(loader::AT_PHNUM), Some(image.phnum));
            assert_eq!(get(loader::AT_PAGESZ), Some(PAGE_SIZE));
            let r = get(loader::AT_RANDOM).expect("AT_RANDOM");
            let off = (r - base) as usize;
            assert_eq!(mem.data[off..off + 16], random, "AT_RANDOM bytes");
            assert_eq!(
                mem.cstr(get(loader::AT_EXECFN).expect("AT_EXECFN")),
                &execfn[..]
            );
            match get(loader::AT_PLATFORM) {
                Some(p) => assert_eq!(mem.cstr(p), &platform[..]),
                None => assert!(platform.is_empty(), "AT_PLATFORM missing"),
            }
        }
    }
}

/// Bytes of a case that drive the stack builder (see [`fuzz_one`]).
pub const STACK_BYTES: usize = 256;

/// One case, as both the stable loop and libFuzzer feed it (and as a saved
/// failure is replayed): byte 0 picks the PIE bias, the next
/// [`STACK_BYTES`] drive the stack builder, the rest is the ELF file.
pub fn fuzz_one(data: &[u8]) {
    let Some((&sel, rest)) = data.split_first() else {
        return;
    };
    let bias = match sel % 8 {
        0 => 0,
        1 => 0x7fff_ffff_0000,
        2 => u64::from(sel) << 40,
        3 => u64::MAX,
        _ => loader::DEFAULT_PIE_BIAS,
    };
    let (stack, elf) = rest.split_at(rest.len().min(STACK_BYTES));
    if let Some(img) = check_elf(elf, bias) {
        check_stack(&img, stack);
    }
}

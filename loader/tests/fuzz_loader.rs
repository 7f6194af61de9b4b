//! Fuzzing the loader on the stable toolchain: a seeded, structure-aware
//! mutation loop over the seed corpus in `loader/fuzz-corpus/` and the
//! built test guests, checking the properties of `fuzzing/harness.rs` on
//! every case (ELF parsing against an independent reference, segment
//! planning, regions, initial stack).
//!
//! Runs for a few seconds in `cargo test`; `FUZZ_SECONDS=600 cargo test
//! --release -p loader --test fuzz_loader` runs longer (see
//! `docs/FUZZING.md`, also for `FUZZ_SEED`, `FUZZ_ITERS` and replaying a
//! saved failure with `FUZZ_REPLAY`).

#[path = "fuzzing/harness.rs"]
mod harness;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use harness::{Kind, check_elf, check_stack, kind, reference};
use testdata::fuzz::{Budget, INTERESTING, Rng, mutate_bytes, run_case};

/// Default time budget in CI, seconds.
const CI_SECONDS: f64 = 6.0;
/// Inputs never grow past this.
const MAX_LEN: usize = 64 << 10;

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz-corpus")
}

// ---- hand-made seeds ----------------------------------------------------

const PF_X: u32 = 1;
const PF_W: u32 = 2;
const PF_R: u32 = 4;

#[derive(Clone, Copy)]
struct Ph(u32, u32, u64, u64, u64, u64, u64); // type flags offset vaddr filesz memsz align

/// A little-endian ELF64: header, program headers at 64, `code` at 0x100
/// (the file is 0x100 + code long, or `len` if larger).
fn elf(
    class: u8,
    data: u8,
    e_type: u16,
    machine: u16,
    entry: u64,
    phdrs: &[Ph],
    len: usize,
) -> Vec<u8> {
    let mut b = vec![0u8; len.max(0x100 + EXIT0.len())];
    b[..4].copy_from_slice(b"\x7fELF");
    b[4] = class;
    b[5] = data;
    b[6] = 1;
    b[16..18].copy_from_slice(&e_type.to_le_bytes());
    b[18..20].copy_from_slice(&machine.to_le_bytes());
    b[20..24].copy_from_slice(&1u32.to_le_bytes());
    b[24..32].copy_from_slice(&entry.to_le_bytes());
    b[32..40].copy_from_slice(&64u64.to_le_bytes());
    b[52..54].copy_from_slice(&64u16.to_le_bytes());
    b[54..56].copy_from_slice(&56u16.to_le_bytes());
    b[56..58].copy_from_slice(&(phdrs.len() as u16).to_le_bytes());
    for (i, p) in phdrs.iter().enumerate() {
        let o = 64 + 56 * i;
        b[o..o + 4].copy_from_slice(&p.0.to_le_bytes());
        b[o + 4..o + 8].copy_from_slice(&p.1.to_le_bytes());
        for (j, v) in [p.2, p.3, p.3, p.4, p.5, p.6].iter().enumerate() {
            b[o + 8 + 8 * j..o + 16 + 8 * j].copy_from_slice(&v.to_le_bytes());
        }
    }
    b[0x100..0x100 + EXIT0.len()].copy_from_slice(EXIT0);
    b
}

/// `mov edi, 0; mov eax, 231 (exit_group); syscall`.
const EXIT0: &[u8] = &[0xbf, 0, 0, 0, 0, 0xb8, 0xe7, 0, 0, 0, 0x0f, 0x05];

fn exec(phdrs: &[Ph]) -> Vec<u8> {
    elf(2, 1, 2, 62, 0x40_0100, phdrs, 0)
}

/// The hand-made seeds, by name. The name's prefix says what the loader
/// must do with it: `ok-` accepts, `err-<kind>-` rejects with that kind.
fn seeds() -> Vec<(&'static str, Vec<u8>)> {
    const LOAD: u32 = 1;
    const INTERP: u32 = 3;
    const PHDR: u32 = 6;
    const STACK: u32 = 0x6474_e551;
    let text = Ph(LOAD, PF_R | PF_X, 0, 0x40_0000, 0x10c, 0x10c, 0x1000);
    let stack = Ph(STACK, PF_R | PF_W, 0, 0, 0, 0, 16);
    let mut out = vec![
        ("ok-exec-minimal", exec(&[text])),
        ("ok-exec-gnu-stack", exec(&[text, stack])),
        (
            "ok-exec-bss",
            exec(&[
                text,
                Ph(LOAD, PF_R | PF_W, 0x100, 0x60_1100, 0xc, 0x3000, 0x1000),
                stack,
            ]),
        ),
        (
            "ok-exec-shared-page",
            exec(&[
                Ph(LOAD, PF_R | PF_X, 0, 0x40_0000, 0x100, 0x100, 0x1000),
                Ph(LOAD, PF_R | PF_W, 0x100, 0x40_0100, 0xc, 0x20, 0x1000),
            ]),
        ),
        (
            "ok-exec-exec-stack",
            exec(&[text, Ph(STACK, PF_R | PF_W | PF_X, 0, 0, 0, 0, 16)]),
        ),
        (
            "ok-pie",
            elf(
                2,
                1,
                3,
                62,
                0x100,
                &[
                    Ph(PHDR, PF_R, 64, 64, 3 * 56, 3 * 56, 8),
                    Ph(LOAD, PF_R | PF_X, 0, 0, 0x10c, 0x10c, 0x20_0000),
                    stack,
                ],
                0,
            ),
        ),
        (
            "err-dynamic-interp",
            elf(
                2,
                1,
                2,
                62,
                0x40_0100,
                &[Ph(INTERP, PF_R, 0x100, 0, 8, 8, 1), text],
                0,
            ),
        ),
        (
            "err-overlapping",
            exec(&[text, Ph(LOAD, PF_R, 0x80, 0x40_0080, 0x10, 0x10, 0x1000)]),
        ),
        (
            "err-badsegment-low-address",
            exec(&[Ph(LOAD, PF_R | PF_X, 0, 0, 0x10c, 0x10c, 0x1000)]),
        ),
        (
            "err-badsegment-too-high",
            exec(&[text, Ph(LOAD, PF_R, 0, 0x7fff_ffff_e000, 0, 0x2000, 0x1000)]),
        ),
        (
            "err-badsegment-filesz",
            exec(&[Ph(LOAD, PF_R | PF_X, 0, 0x40_0000, 0x10c, 0x10, 0x1000)]),
        ),
        (
            "err-badsegment-congruence",
            exec(&[Ph(LOAD, PF_R | PF_X, 0x10, 0x40_0000, 0xfc, 0xfc, 0x1000)]),
        ),
        (
            "err-badsegment-wraps",
            exec(&[
                text,
                Ph(LOAD, PF_R, 0, 0x50_0000, 0, u64::MAX - 0x1000, 0x1000),
            ]),
        ),
        (
            "err-truncated-segment",
            exec(&[Ph(LOAD, PF_R | PF_X, 0, 0x40_0000, 0x5000, 0x5000, 0x1000)]),
        ),
        ("err-badentry", elf(2, 1, 2, 62, 0x50_0000, &[text], 0)),
        (
            "err-noloadsegments",
            exec(&[stack, Ph(LOAD, PF_R, 0, 0x40_0000, 0, 0, 0x1000)]),
        ),
        ("err-badheader-no-phdrs", exec(&[])),
        (
            "err-wrongclass-32bit",
            elf(1, 1, 2, 62, 0x40_0100, &[text], 0),
        ),
        ("err-wrongendian", elf(2, 2, 2, 62, 0x40_0100, &[text], 0)),
        (
            "err-wrongmachine-aarch64",
            elf(2, 1, 2, 183, 0x40_0100, &[text], 0),
        ),
        ("err-wrongtype-rel", elf(2, 1, 1, 62, 0x40_0100, &[text], 0)),
        (
            "err-wrongtype-core",
            elf(2, 1, 4, 62, 0x40_0100, &[text], 0),
        ),
        ("err-notelf", b"#!/bin/sh\necho not an ELF\n".to_vec()),
    ];
    let mut truncated = exec(&[text, stack]);
    truncated.truncate(64 + 56);
    out.push(("err-truncated-phdrs", truncated));
    let mut short = exec(&[text]);
    short.truncate(40);
    out.push(("err-truncated-header", short));
    let mut phentsize = exec(&[text]);
    phentsize[54] = 32;
    out.push(("err-badheader-phentsize", phentsize));
    out
}

fn expected_kind(name: &str) -> Option<Kind> {
    let rest = name.strip_prefix("err-")?;
    let word = rest.split('-').next().unwrap_or_default();
    Some(match word {
        "notelf" => Kind::NotElf,
        "wrongclass" => Kind::WrongClass,
        "wrongendian" => Kind::WrongEndian,
        "wrongmachine" => Kind::WrongMachine,
        "wrongtype" => Kind::WrongType,
        "dynamic" => Kind::Dynamic,
        "truncated" => Kind::Truncated,
        "badheader" => Kind::BadHeader,
        "noloadsegments" => Kind::NoLoadSegments,
        "badsegment" => Kind::BadSegment,
        "overlapping" => Kind::Overlapping,
        "badentry" => Kind::BadEntry,
        other => panic!("corpus name {name}: unknown kind {other}"),
    })
}

/// The corpus: the files in `loader/fuzz-corpus/` plus small built guests.
fn corpus() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    let mut names: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .expect("loader/fuzz-corpus/ exists")
        .map(|e| e.expect("dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "elf"))
        .collect();
    names.sort();
    for path in names {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        out.push((name, std::fs::read(&path).expect("read corpus file")));
    }
    for name in testdata::all_asm_guests() {
        out.push((
            format!("ok-guest-asm-{name}"),
            std::fs::read(testdata::asm_guest(name)).expect("asm guest"),
        ));
    }
    for (name, libc) in [
        ("hello", testdata::Libc::Glibc),
        ("hello", testdata::Libc::Musl),
        ("hello-pie", testdata::Libc::Glibc),
    ] {
        out.push((
            format!("ok-guest-{libc}-{name}"),
            std::fs::read(testdata::guest(name, libc)).expect("guest"),
        ));
    }
    out
}

/// Every corpus file does what its name says (a regression test of its
/// own) and passes the harness.
#[test]
fn corpus_files_load_as_named() {
    let files = corpus();
    assert!(files.len() >= 20, "corpus has only {} files", files.len());
    for (name, bytes) in &files {
        let result = loader::parse(bytes, &loader::LoadOptions::default());
        match expected_kind(name) {
            None => assert!(result.is_ok(), "{name}: {result:?}"),
            Some(k) => {
                let e = result.expect_err(name);
                assert_eq!(kind(&e), Some(k), "{name}: {e}");
            }
        }
        run_case(name, 0, 0, bytes, || {
            if let Some(img) = check_elf(bytes, loader::DEFAULT_PIE_BIAS) {
                check_stack(&img, bytes);
            }
        });
    }
}

/// The committed corpus matches the seeds generated here (regenerate with
/// `FUZZ_WRITE_CORPUS=1`).
#[test]
fn corpus_is_up_to_date() {
    let write = std::env::var_os("FUZZ_WRITE_CORPUS").is_some();
    for (name, bytes) in seeds() {
        assert!(bytes.len() <= 4096, "{name} is too big for the corpus");
        let path = corpus_dir().join(format!("{name}.elf"));
        if write {
            std::fs::create_dir_all(corpus_dir()).unwrap();
            std::fs::write(&path, &bytes).unwrap();
        }
        let on_disk = std::fs::read(&path)
            .unwrap_or_else(|e| panic!("{}: {e} (FUZZ_WRITE_CORPUS=1 writes it)", path.display()));
        assert_eq!(on_disk, bytes, "{name} differs from its seed");
    }
}

// ---- the mutation loop ----------------------------------------------------

/// Structure-aware mutation: edits ELF header and program header fields
/// with boundary values or values derived from other fields.
fn mutate_fields(rng: &mut Rng, d: &mut [u8]) {
    if d.len() < 64 {
        return;
    }
    let phoff = u64::from_le_bytes(d[32..40].try_into().unwrap());
    let phnum = u16::from_le_bytes([d[56], d[57]]) as usize;
    let in_file = |i: usize| {
        usize::try_from(phoff)
            .ok()
            .and_then(|p| p.checked_add(56 * (i + 1)))
            .is_some_and(|end| end <= d.len())
    };
    let phdrs: Vec<usize> = (0..phnum.min(64))
        .filter(|&i| in_file(i))
        .map(|i| phoff as usize + 56 * i)
        .collect();
    let read = |d: &[u8], off: usize| u64::from_le_bytes(d[off..off + 8].try_into().unwrap());
    for _ in 0..1 + rng.below(4) {
        if !phdrs.is_empty() && rng.chance(1, 5) {
            // Move a segment to a boundary page, keeping p_vaddr congruent
            // to p_offset, and often the entry point with it.
            let base = *rng.pick(&phdrs);
            let page = *rng.pick(&[
                0,
                0xf000,
                0x1_0000,
                0x40_0000,
                0x7fff_ffff_e000,
                0x7fff_ffff_f000,
                0x8000_0000_0000,
                0xffff_ffff_ffff_f000,
            ]);
            let vaddr = page | (read(d, base + 8) & 0xfff);
            d[base + 16..base + 24].copy_from_slice(&vaddr.to_le_bytes());
            if rng.chance(1, 2) {
                let entry = vaddr.wrapping_add(rng.below(0x20));
                d[24..32].copy_from_slice(&entry.to_le_bytes());
            }
            continue;
        }
        let (off, width): (usize, usize) = if phdrs.is_empty() || rng.chance(1, 4) {
            *rng.pick(&[
                (4, 1),
                (5, 1),
                (16, 2),
                (18, 2),
                (24, 8),
                (32, 8),
                (54, 2),
                (56, 2),
            ])
        } else {
            let base = *rng.pick(&phdrs);
            let (field, width) = *rng.pick(&[
                (0usize, 4usize),
                (4, 4),
                (8, 8),
                (16, 8),
                (32, 8),
                (40, 8),
                (48, 8),
            ]);
            (base + field, width)
        };
        let value: u64 = match (off, rng.below(6)) {
            // p_type: the interesting types.
            (o, 0..=2) if width == 4 && phdrs.contains(&o) => {
                *rng.pick(&[1, 1, 1, 3, 6, 0x6474_e551, 0, 7, 0x7000_0000])
            }
            (o, 0..=2) if width == 4 && phdrs.iter().any(|&b| b + 4 == o) => rng.below(8),
            (56, 0) => rng.below(8),
            (16, 0) => *rng.pick(&[2, 3]),
            // Relative to another program header: its address, end or
            // offset, nudged by a page or a byte.
            (_, 3) if !phdrs.is_empty() => {
                let other = *rng.pick(&phdrs);
                let v = read(d, other + *rng.pick(&[8usize, 16, 32, 40]));
                let end = v.wrapping_add(read(d, other + 40));
                let base = if rng.chance(1, 2) { v } else { end };
                base.wrapping_add(*rng.pick(&[0u64, 1, 0xfff, 0x1000, 0x2000]))
                    .wrapping_sub(*rng.pick(&[0u64, 1, 0x1000]))
            }
            (_, 4) => rng.edgy_u64(),
            _ => *rng.pick(INTERESTING),
        };
        let bytes = value.to_le_bytes();
        d[off..off + width].copy_from_slice(&bytes[..width]);
    }
}

fn outcome_name(r: &Result<loader::ElfImage, loader::LoadError>) -> String {
    match r {
        Ok(_) => "accepted".into(),
        Err(e) => kind(e).map_or("Malformed".into(), |k| format!("{k:?}")),
    }
}

#[test]
fn fuzz_loader() {
    if let Some(path) = std::env::var_os("FUZZ_REPLAY") {
        let data = std::fs::read(&path).expect("FUZZ_REPLAY file (absolute path)");
        eprintln!(
            "replaying {} ({} bytes)",
            path.to_string_lossy(),
            data.len()
        );
        harness::fuzz_one(&data);
        return;
    }
    let budget = Budget::from_env(CI_SECONDS, 0x0010_ade4);
    let mut rng = Rng::new(budget.seed);
    let files = corpus();
    // Big guests are costly to copy: mutate them less often.
    let mut pool: Vec<Vec<u8>> = files.iter().map(|(_, b)| b.clone()).collect();
    let seed_count = pool.len();
    let mut outcomes: BTreeMap<String, u64> = BTreeMap::new();
    let mut iter = 0;
    while budget.more(iter, 2000) {
        let base_idx = rng.index(pool.len());
        if pool[base_idx].len() > MAX_LEN && !rng.chance(1, 20) {
            continue;
        }
        let mut data = pool[base_idx].clone();
        let other = pool[rng.index(pool.len())].clone();
        let cap = MAX_LEN.max(data.len());
        match rng.below(10) {
            0..=4 => mutate_fields(&mut rng, &mut data),
            5..=7 => mutate_bytes(&mut rng, &mut data, &other, cap),
            _ => {
                mutate_fields(&mut rng, &mut data);
                mutate_bytes(&mut rng, &mut data, &other, cap);
            }
        }
        let mut input = vec![rng.next_u64() as u8];
        input.extend_from_slice(&rng.bytes(harness::STACK_BYTES));
        input.extend_from_slice(&data);
        run_case("loader", budget.seed, iter, &input, || {
            harness::fuzz_one(&input)
        });
        let result = loader::parse(&data, &loader::LoadOptions::default());
        let name = outcome_name(&result);
        let accepted = result.is_ok();
        *outcomes.entry(name).or_default() += 1;
        // Cheap feedback: keep accepted mutants (rare and deep) as new seeds.
        if accepted && data.len() <= MAX_LEN && pool.len() < seed_count + 512 {
            pool.push(data);
        }
        iter += 1;
    }
    eprintln!(
        "fuzz_loader: seed {:#x}, {iter} cases in {:?} budget, {} pool entries; outcomes {outcomes:?}",
        budget.seed,
        budget.time,
        pool.len()
    );
    // The loop must reach deep: acceptance and most rejection kinds.
    assert!(outcomes.get("accepted").copied().unwrap_or(0) > iter / 50);
    assert!(
        outcomes.len() >= 9,
        "too few distinct outcomes: {outcomes:?}"
    );
    // Sanity of the reference itself on the seeds.
    for (name, bytes) in &files {
        assert_eq!(
            reference(bytes, loader::DEFAULT_PIE_BIAS).err(),
            expected_kind(name),
            "reference on {name}"
        );
    }
}

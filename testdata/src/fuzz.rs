//! A small, dependency-free fuzzing kit for the stable-toolchain fuzz tests
//! (`loader/tests/fuzz_loader.rs`, `sentry/tests/fuzz_decoders.rs`).
//!
//! It is a seeded mutation loop, not a coverage-guided fuzzer: a
//! deterministic [`Rng`], byte-level "havoc" mutations in the style of AFL
//! ([`mutate_bytes`]), a table of [`INTERESTING`] values for structure-aware
//! field mutation, and a time/iteration [`Budget`] read from the environment:
//!
//! * `FUZZ_SECONDS` (float): how long each fuzz test runs (default: the
//!   short CI budget the test passes to [`Budget::from_env`]);
//! * `FUZZ_ITERS`: stop after this many cases even if time is left;
//! * `FUZZ_SEED`: the seed (default fixed, so CI is reproducible; every
//!   test prints the seed it used).
//!
//! [`run_case`] runs one case under `catch_unwind` and, when it panics,
//! saves the input under `target/fuzz-failures/` and names the file in the
//! panic message, so a failure can be replayed (see `docs/FUZZING.md`).

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// splitmix64: tiny, fast and good enough to drive mutations.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded with `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed ^ 0x9e37_79b9_7f4a_7c15)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 if `n` is 0).
    pub fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next_u64() % n }
    }

    /// Uniform index into a collection of `len` elements (`len` > 0).
    pub fn index(&mut self, len: usize) -> usize {
        self.below(len as u64) as usize
    }

    /// True with probability `num/den`.
    pub fn chance(&mut self, num: u64, den: u64) -> bool {
        self.below(den) < num
    }

    /// A random element of `items` (non-empty).
    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.index(items.len())]
    }

    /// A value that tends to hit edge cases: an [`INTERESTING`] value, one
    /// of them plus or minus a little, a random power of two, or random.
    pub fn edgy_u64(&mut self) -> u64 {
        match self.below(8) {
            0..=2 => *self.pick(INTERESTING),
            3 => self
                .pick(INTERESTING)
                .wrapping_add(self.below(17))
                .wrapping_sub(8),
            4 => 1u64 << self.below(64),
            5 => self.below(0x1_0000),
            6 => self.next_u64() & !0xfff,
            _ => self.next_u64(),
        }
    }

    /// Random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// Values that sit on boundaries the code under test cares about: zero,
/// sign bits, page and address-space limits of x86-64 Linux.
pub const INTERESTING: &[u64] = &[
    0,
    1,
    2,
    7,
    8,
    16,
    0x38,
    0x40,
    0x7f,
    0x80,
    0xff,
    0x100,
    0x3ff,
    0x400,
    0xfff,
    0x1000,
    0x1001,
    0x2000,
    0xffff,
    0x1_0000,
    0x1_0001,
    0x40_0000,
    0x7fff_ffff,
    0x8000_0000,
    0xffff_ffff,
    0x1_0000_0000,
    0x5555_5555_4000,
    0x7fff_ffff_e000,
    0x7fff_ffff_efff,
    0x7fff_ffff_f000,
    0x7fff_ffff_ffff,
    0x8000_0000_0000,
    0xffff_8000_0000_0000,
    0x7fff_ffff_ffff_ffff,
    0x8000_0000_0000_0000,
    0xffff_ffff_ffff_f000,
    0xffff_ffff_ffff_fffe,
    u64::MAX,
];

/// Applies 1 to 8 random byte-level mutations to `data` (bit flips,
/// interesting bytes and words at random offsets, block insertion,
/// deletion, duplication, truncation, splicing with `other`), keeping it at
/// most `max_len` bytes long.
pub fn mutate_bytes(rng: &mut Rng, data: &mut Vec<u8>, other: &[u8], max_len: usize) {
    let rounds = 1 + rng.below(8);
    for _ in 0..rounds {
        let len = data.len();
        match rng.below(11) {
            0 if len > 0 => {
                let i = rng.index(len);
                data[i] ^= 1 << rng.below(8);
            }
            1 if len > 0 => {
                let i = rng.index(len);
                data[i] = *rng.pick(&[0u8, 1, 0x7f, 0x80, 0xff, 0x10, 0x40]);
            }
            2 if len > 0 => {
                let i = rng.index(len);
                data[i] = rng.next_u64() as u8;
            }
            3 | 4 if len >= 8 => {
                // An interesting word, 2, 4 or 8 bytes, often aligned.
                let width = *rng.pick(&[2usize, 4, 8, 8]);
                let mut i = rng.index(len - width + 1);
                if rng.chance(3, 4) {
                    i &= !(width - 1);
                }
                let v = rng.edgy_u64().to_le_bytes();
                data[i..i + width].copy_from_slice(&v[..width]);
            }
            5 if len > 0 => {
                // Add or subtract a small amount to a word.
                let width = *rng.pick(&[1usize, 2, 4, 8]);
                if len >= width {
                    let i = rng.index(len - width + 1);
                    let mut w = [0u8; 8];
                    w[..width].copy_from_slice(&data[i..i + width]);
                    let v = u64::from_le_bytes(w)
                        .wrapping_add(rng.below(33))
                        .wrapping_sub(16);
                    data[i..i + width].copy_from_slice(&v.to_le_bytes()[..width]);
                }
            }
            6 if len > 0 => {
                let new_len = rng.index(len);
                data.truncate(new_len);
            }
            7 if len > 0 => {
                let start = rng.index(len);
                let n = rng.index((len - start).min(256)) + 1;
                data.drain(start..start + n);
            }
            8 => {
                let at = rng.index(len + 1);
                let n = rng.index(64) + 1;
                let fill: Vec<u8> = if rng.chance(1, 2) {
                    rng.bytes(n)
                } else {
                    vec![*rng.pick(&[0u8, 0xff]); n]
                };
                data.splice(at..at, fill);
            }
            9 if len > 0 => {
                // Copy a block of the input over another place.
                let from = rng.index(len);
                let n = rng.index((len - from).min(128)) + 1;
                let to = rng.index(len);
                let block = data[from..from + n].to_vec();
                let end = (to + n).min(len);
                data[to..end].copy_from_slice(&block[..end - to]);
            }
            10 if !other.is_empty() => {
                // Splice: our prefix, their suffix.
                let cut = rng.index(len + 1).min(other.len());
                data.truncate(cut);
                data.extend_from_slice(&other[cut..]);
            }
            _ => {}
        }
        data.truncate(max_len);
    }
}

/// How long a fuzz test may run.
#[derive(Clone, Debug)]
pub struct Budget {
    deadline: Instant,
    max_iters: u64,
    /// The seed the test should use.
    pub seed: u64,
    /// The time budget.
    pub time: Duration,
}

impl Budget {
    /// The budget from `FUZZ_SECONDS`, `FUZZ_ITERS` and `FUZZ_SEED`, with
    /// `default_secs` and a fixed `default_seed` when they are unset.
    pub fn from_env(default_secs: f64, default_seed: u64) -> Self {
        let secs = std::env::var("FUZZ_SECONDS")
            .ok()
            .and_then(|s| s.parse::<f64>().ok())
            .filter(|s| s.is_finite() && *s >= 0.0)
            .unwrap_or(default_secs);
        let max_iters = std::env::var("FUZZ_ITERS")
            .ok()
            .and_then(|s| s.parse::<u64>().ok())
            .unwrap_or(u64::MAX);
        let seed = std::env::var("FUZZ_SEED")
            .ok()
            .and_then(|s| parse_seed(&s))
            .unwrap_or(default_seed);
        let time = Duration::from_secs_f64(secs);
        Budget {
            deadline: Instant::now() + time,
            max_iters,
            seed,
            time,
        }
    }

    /// Whether iteration `iter` (0-based) may still run. At least
    /// `min_iters` always run, so a slow machine still fuzzes something.
    pub fn more(&self, iter: u64, min_iters: u64) -> bool {
        if iter >= self.max_iters {
            return false;
        }
        iter < min_iters || Instant::now() < self.deadline
    }
}

fn parse_seed(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Where failing inputs are saved: `$CARGO_TARGET_DIR` or the workspace's
/// `target/`, then `fuzz-failures/`.
pub fn failure_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
            manifest.parent().unwrap_or(&manifest).join("target")
        });
    target.join("fuzz-failures")
}

/// Runs `case` on `input`; if it panics, saves `input` as
/// `target/fuzz-failures/<name>-<hash>.bin` and panics again with the file
/// name, the seed and the iteration, so the failure can be replayed.
pub fn run_case<F: FnOnce()>(name: &str, seed: u64, iter: u64, input: &[u8], case: F) {
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(case));
    if let Err(payload) = result {
        let msg = payload
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "non-string panic".to_owned());
        let hash = input.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
        });
        let dir = failure_dir();
        let path = dir.join(format!("{name}-{hash:016x}.bin"));
        let saved = std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&path, input))
            .map(|()| path.display().to_string())
            .unwrap_or_else(|e| format!("(could not save it: {e})"));
        panic!(
            "fuzz case failed: {name}, seed {seed:#x}, iteration {iter}: {msg}\n\
             input ({} bytes) saved as {saved}",
            input.len()
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rng_is_deterministic_and_spreads() {
        let mut a = Rng::new(1);
        let mut b = Rng::new(1);
        let xs: Vec<u64> = (0..100).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..100).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        let mut c = Rng::new(2);
        assert_ne!(xs[0], c.next_u64());
        let mut seen = [false; 10];
        for _ in 0..1000 {
            seen[a.below(10) as usize] = true;
        }
        assert!(seen.iter().all(|s| *s));
    }

    #[test]
    fn mutations_change_inputs_and_respect_the_length_cap() {
        let mut rng = Rng::new(7);
        let base: Vec<u8> = (0..200).map(|i| i as u8).collect();
        let mut changed = 0;
        for _ in 0..500 {
            let mut d = base.clone();
            mutate_bytes(&mut rng, &mut d, &base[..50], 220);
            assert!(d.len() <= 220);
            changed += usize::from(d != base);
        }
        assert!(
            changed > 400,
            "only {changed} of 500 mutations changed the input"
        );
    }

    #[test]
    fn a_panicking_case_is_saved_and_reported() {
        let r = std::panic::catch_unwind(|| {
            run_case("selftest", 3, 4, b"boom", || panic!("inner"));
        });
        let msg = *r
            .expect_err("must panic")
            .downcast::<String>()
            .expect("String");
        assert!(msg.contains("inner") && msg.contains("seed 0x3"), "{msg}");
        let path = msg.rsplit("saved as ").next().expect("path");
        assert_eq!(std::fs::read(path.trim()).expect("saved input"), b"boom");
        let _ = std::fs::remove_file(path.trim());
    }
}

//! Static x86-64 Linux guest programs for the sentry's tests.
//!
//! `build.rs` compiles every `guests/*.c` with glibc (`gcc -static`) and with
//! musl (`musl-gcc -static`), `guests/hello.c` additionally as a glibc
//! static-pie (`hello-pie`), and every `guests/*.S` without libc. This crate
//! only hands out the paths of the resulting binaries.
//!
//! The guests print deterministic text (results of checks, never pids,
//! addresses or times) so that a native run and a sandboxed run can be compared
//! byte for byte.
//!
//! Adding a guest: drop `guests/<name>.c` (include `guest.h` first and follow
//! its output rules) or `guests/<name>.S` in place; `build.rs` picks it up.
//! Then list it in `CASES` in `sentry/tests/guests_native.rs` (which checks
//! that every guest is deterministic natively) and add a differential test in
//! `sentry/tests/` (e.g. a line in a `differential!` block).

#![forbid(unsafe_code)]

use std::fmt;
use std::path::PathBuf;

pub mod fuzz;

include!(concat!(env!("OUT_DIR"), "/guests.rs"));

/// Guests built with glibc only: the static-pie `hello`, and
/// `sqlite_locks` (from `real/`, linked against the system's static SQLite,
/// which musl cannot link).
pub const GLIBC_ONLY: &[&str] = &["hello-pie", "sqlite_locks"];

/// Directory holding the built guests (`glibc/`, `musl/`, `asm/`).
const OUT_DIR: &str = env!("OUT_DIR");

/// Which C library a C guest is linked against.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Libc {
    /// GNU libc, `gcc -static`.
    Glibc,
    /// musl, `musl-gcc -static`.
    Musl,
}

impl Libc {
    /// Both C libraries.
    pub const ALL: [Libc; 2] = [Libc::Glibc, Libc::Musl];

    /// Lower-case name, also the output subdirectory: `"glibc"` or `"musl"`.
    pub fn name(self) -> &'static str {
        match self {
            Libc::Glibc => "glibc",
            Libc::Musl => "musl",
        }
    }
}

impl fmt::Display for Libc {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Path of a dynamically linked guest or shared library built from
/// `dynamic/` (`dyn_tls`, `libdyntls.so`, `musl/dyn_tls`, `bad/missing`...;
/// see `build.rs`).
///
/// # Panics
///
/// If no such file was built.
pub fn dynamic(name: &str) -> PathBuf {
    let path = PathBuf::from(OUT_DIR).join("dynamic").join(name);
    assert!(
        path.is_file(),
        "no dynamic guest named {name:?} at {}",
        path.display()
    );
    path
}

/// Path of the C guest `name` built against `libc`.
///
/// `guest("hello-pie", Libc::Glibc)` is the static-pie build of `hello.c`
/// (there is no musl static-pie build).
///
/// # Panics
///
/// If no such guest was built.
pub fn guest(name: &str, libc: Libc) -> PathBuf {
    let known = C_GUESTS.contains(&name) || (GLIBC_ONLY.contains(&name) && libc == Libc::Glibc);
    let path = PathBuf::from(OUT_DIR).join(libc.name()).join(name);
    assert!(
        known && path.is_file(),
        "no {libc} guest named {name:?} at {} (known C guests: {C_GUESTS:?})",
        path.display()
    );
    path
}

/// Path of the assembly (no libc) guest `name`.
///
/// # Panics
///
/// If no such guest was built.
pub fn asm_guest(name: &str) -> PathBuf {
    let path = PathBuf::from(OUT_DIR).join("asm").join(name);
    assert!(
        ASM_GUESTS.contains(&name) && path.is_file(),
        "no assembly guest named {name:?} at {} (known: {ASM_GUESTS:?})",
        path.display()
    );
    path
}

/// Names of all C guests (sorted), each available for both [`Libc`]s.
pub fn all_c_guests() -> &'static [&'static str] {
    C_GUESTS
}

/// Names of all assembly guests (sorted).
pub fn all_asm_guests() -> &'static [&'static str] {
    ASM_GUESTS
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_guest_exists() {
        assert!(all_c_guests().contains(&"hello"));
        for name in all_c_guests() {
            for libc in Libc::ALL {
                assert!(guest(name, libc).is_file());
            }
        }
        for name in all_asm_guests() {
            assert!(asm_guest(name).is_file());
        }
        assert!(guest("hello-pie", Libc::Glibc).is_file());
    }
}

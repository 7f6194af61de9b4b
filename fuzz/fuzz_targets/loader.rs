//! libFuzzer target for the loader: the same harness as the stable test
//! `loader/tests/fuzz_loader.rs` (byte 0: PIE bias, then 256 bytes for
//! the stack builder, then the ELF file).
#![no_main]

#[path = "../../loader/tests/fuzzing/harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::fuzz_one(data));

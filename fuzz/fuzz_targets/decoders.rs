//! libFuzzer target for the sentry's syscall argument decoders: the same
//! harness as the stable test `sentry/tests/fuzz_decoders.rs` (byte 0
//! picks the decoder, the rest is its input).
#![no_main]

#[path = "../../sentry/tests/fuzzing/decoders.rs"]
mod decoders;

libfuzzer_sys::fuzz_target!(|data: &[u8]| decoders::fuzz_one(data));

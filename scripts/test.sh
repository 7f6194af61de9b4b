#!/bin/sh
# The whole test suite, as CI runs it on a clean clone:
#   1. install what the build needs (gcc, static glibc, musl-gcc);
#   2. formatting and lints (cargo fmt, clippy with -D warnings);
#   3. every unit, platform (real KVM) and differential test.
set -eu
cd "$(dirname "$0")/.."
sh scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace

#!/bin/sh
# The whole test suite, as CI runs it on a clean clone:
#   1. install what the build needs (gcc, static glibc, musl-gcc);
#   2. formatting and lints (cargo fmt, clippy with -D warnings);
#   3. every unit, platform (real KVM and seccomp) and differential test;
#   4. the sandbox's tests again on the seccomp platform (a matrix of the
#      two platforms: `--platform seccomp`, here through SENTRY_PLATFORM).
set -eu
cd "$(dirname "$0")/.."
# The differential tests run guests built under target/ with `--root /`, and
# the sandbox mounts its own tmpfs on /tmp, /dev/shm, /proc, /sys and /dev:
# a checkout under one of those would be hidden from its own guests.
case "$(pwd -P)/" in
/tmp/* | /dev/* | /proc/* | /sys/*)
    echo "scripts/test.sh: the checkout $(pwd -P) is under a directory the sandbox mounts its own file system on (/tmp, /dev, /proc or /sys), so guests run with --root / could not see it; clone it elsewhere (e.g. under \$HOME)" >&2
    exit 2
    ;;
esac
sh scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo test --workspace
# Every integration test of the sentry (the differential suite, busybox,
# the real programs, OCI) on the second platform. `crossings` is left out:
# it counts the KVM platform's VM exits per operation, which the seccomp
# platform does not make (its figures are in benches/RESULTS.md).
tests=$(cd sentry/tests && ls *.rs | sed 's/\.rs$//' | grep -vx crossings | sed 's/^/--test /')
# shellcheck disable=SC2086
SENTRY_PLATFORM=seccomp cargo test -p sentry $tests

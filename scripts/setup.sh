#!/bin/sh
# Installs what building and testing this workspace needs on a fresh Debian
# (or Ubuntu) machine, and nothing that is already there:
#   - gcc and the static glibc (libc6-dev) for the glibc test guests,
#   - musl-gcc (package musl-tools) for the musl test guests,
#   - a static busybox (package busybox-static) for the busybox tests,
#   - a static bash (package bash-static) and the static SQLite library
#     (package libsqlite3-dev) for the real-program tests,
#   - Go (package golang-go) for the Go test programs,
#   - Debian's own dynamically linked programs that sentry/tests/dynamic.rs
#     runs natively and in the sandbox: python3, git, perl, an awk (mawk),
#     diff (diffutils), setarch (util-linux), tar and gzip,
#   - podman (with conmon) and containerd (with ctr and its runc shim) for
#     the OCI-runtime tests (sentry/tests/podman.rs, containerd.rs).
# Idempotent: safe to run again; runs `apt-get update` at most once, and only
# when something has to be installed. Needs root (or sudo).
set -eu

need=""
command -v gcc >/dev/null 2>&1 || need="$need gcc"
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || need="$need libc6-dev"
command -v musl-gcc >/dev/null 2>&1 || need="$need musl-tools"
# Go (package golang-go) builds the static Go test programs of
# sentry/tests/golang.rs.
command -v go >/dev/null 2>&1 || need="$need golang-go"
# A real, unmodified static program for the busybox tests.
[ -x /bin/busybox ] || need="$need busybox-static"
# Real programs: bash's process substitution, SQLite's file locks.
[ -x /bin/bash-static ] || need="$need bash-static"
[ -e /usr/lib/x86_64-linux-gnu/libsqlite3.a ] || need="$need libsqlite3-dev"
# Dynamically linked programs (sentry/tests/dynamic.rs).
command -v python3 >/dev/null 2>&1 || need="$need python3"
command -v git >/dev/null 2>&1 || need="$need git"
command -v perl >/dev/null 2>&1 || need="$need perl"
command -v awk >/dev/null 2>&1 || need="$need mawk"
command -v diff >/dev/null 2>&1 || need="$need diffutils"
command -v setarch >/dev/null 2>&1 || need="$need util-linux"
command -v tar >/dev/null 2>&1 || need="$need tar"
command -v gzip >/dev/null 2>&1 || need="$need gzip"
# A container engine that drives sentry as its OCI runtime.
command -v podman >/dev/null 2>&1 || need="$need podman"
command -v containerd >/dev/null 2>&1 || need="$need containerd"

if [ -z "$need" ]; then
    echo "setup.sh: gcc, static glibc, musl-gcc, busybox, bash-static, libsqlite3-dev, go, podman, containerd and the dynamic test programs are already installed"
else
    if [ "$(id -u)" -eq 0 ]; then
        sudo=""
    elif command -v sudo >/dev/null 2>&1; then
        sudo="sudo"
    else
        echo "setup.sh: need root (or sudo) to install:$need" >&2
        exit 1
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "setup.sh: no apt-get; install these by hand:$need" >&2
        exit 1
    fi
    echo "setup.sh: installing$need"
    export DEBIAN_FRONTEND=noninteractive
    # Wait (up to 10 minutes) for another apt/dpkg run to release its lock,
    # e.g. a provisioning step that is installing the same packages.
    lock="-o DPkg::Lock::Timeout=600"
    # shellcheck disable=SC2086
    $sudo apt-get $lock update
    # shellcheck disable=SC2086
    $sudo apt-get $lock install -y --no-install-recommends $need
fi

# Another installer may still be finishing: wait a little for musl-gcc.
i=0
while ! command -v musl-gcc >/dev/null 2>&1; do
    i=$((i + 1))
    if [ "$i" -gt 120 ]; then
        echo "setup.sh: musl-gcc is still missing" >&2
        exit 1
    fi
    sleep 1
done

if [ ! -e /dev/kvm ]; then
    echo "setup.sh: warning: /dev/kvm does not exist; the sandbox tests need KVM" >&2
elif [ ! -r /dev/kvm ] || [ ! -w /dev/kvm ]; then
    echo "setup.sh: warning: /dev/kvm is not readable and writable by $(id -un)" >&2
fi
echo "setup.sh: ok"

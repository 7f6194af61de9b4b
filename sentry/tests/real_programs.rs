//! Real, unmodified programs on the sandbox's writable files (issue 9):
//! Debian's bash-static (process substitution through /dev/fd, here-docs,
//! redirections into files under /tmp) and SQLite (Debian's static
//! libsqlite3, linked into `testdata/real/sqlite_locks.c`) with two
//! processes locking one database file. Each runs natively and in the
//! sandbox (`--root /`, whose /tmp is the sandbox's own tmpfs); stdout and
//! exit status must match.

mod common;

use std::path::Path;

use common::{Libc, assert_outcomes_match, run_native, run_sandbox};

const BASH: &str = "/bin/bash-static";

/// Runs `bash-static -c script` natively and in the sandbox; returns the
/// (matching) stdout.
fn bash_same(label: &str, script: &str) -> String {
    assert!(
        Path::new(BASH).exists(),
        "{BASH} is missing: run scripts/setup.sh (it installs bash-static)"
    );
    let args = ["-c", script];
    let native = run_native(Path::new(BASH), &args, b"");
    assert_eq!(
        native.status,
        0,
        "{label}: the NATIVE run failed:\n{}\n{}",
        native.stdout_str(),
        native.stderr_str()
    );
    let sandbox = run_sandbox(Path::new(BASH), &args, b"");
    assert_outcomes_match(label, &native, &sandbox);
    native.stdout_str()
}

/// Process substitution: bash hands `/dev/fd/N` names of pipes to
/// programs (busybox here: the host's diff and cat are dynamic).
#[test]
fn bash_process_substitution() {
    let out = bash_same(
        "bash process substitution",
        r#"
B=/bin/busybox
$B diff <(echo a) <(echo a) && echo same
$B diff -q <(echo a) <(echo b) >/dev/null; echo "diff status $?"
$B cat <(printf 'x\n')
while read -r l; do echo "got $l"; done < <(printf '1\n2\n')
count() { for i in 1 2 3 4; do echo $i; done; }
$B wc -l < <(count)
$B paste <(printf 'a\nb\n') <(printf '1\n2\n')
echo done
"#,
    );
    assert!(out.contains("same\n") && out.ends_with("done\n"), "{out}");
}

/// Here-documents, here-strings and redirections into files under /tmp.
#[test]
fn bash_heredocs_and_redirections() {
    let out = bash_same(
        "bash here-docs and redirections",
        r#"
set -e
B=/bin/busybox
d=/tmp/bash_redir.$$
$B mkdir -p "$d"
v=expanded
cat_() { $B cat "$@"; }
cat_ <<EOF > "$d/doc"
line one $v
	tabbed
EOF
cat_ "$d/doc"
cat_ <<-EOF
	stripped $v
	EOF
cat_ <<'EOF'
quoted $v
EOF
cat_ <<< "here-string $v"
echo one > "$d/f"
echo two >> "$d/f"
exec 3< "$d/f"
read -r -u 3 first
read -r -u 3 second
exec 3<&-
echo "read: $first, $second"
exec 4<> "$d/rw"
echo data >&4
exec 4>&-
cat_ "$d/rw"
{ echo out; echo err >&2; } > "$d/both" 2>&1
cat_ "$d/both"
set -C
if ( echo clobber > "$d/f" ) 2>/dev/null; then echo clobbered; else echo "clobber refused"; fi
set +C
echo replaced >| "$d/f"
mapfile -t lines < "$d/doc"
echo "${#lines[@]} lines, first: ${lines[0]}"
echo "$(< "$d/f")"
$B wc -c < "$d/both"
$B ls "$d" | $B sort
$B rm -r "$d"
[ ! -e "$d" ] && echo removed
"#,
    );
    assert!(out.ends_with("removed\n"), "{out}");
}

/// SQLite: one process holds a write transaction, the other gets
/// SQLITE_BUSY (fcntl record locks), then succeeds after the commit, and
/// later waits in its busy handler until the first commits.
#[test]
fn sqlite_two_processes_lock_one_database() {
    let path = testdata::guest("sqlite_locks", Libc::Glibc);
    let out = common::assert_same_expect_path("sqlite_locks", &path, &[], b"", 0);
    let s = out.stdout_str();
    assert!(
        s.contains("child: [INSERT INTO t VALUES (100, 'from the child')] -> BUSY"),
        "{s}"
    );
    assert!(s.contains("parent: 102|after waiting"), "{s}");
}

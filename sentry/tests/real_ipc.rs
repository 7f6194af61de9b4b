//! Real programs that talk through sockets and IPC (issue 13, "Tests and
//! benchmarks"): a Rust program using std::process::Command (a relative
//! program name, environment options, uid and gid, failing execs, which
//! std reports through a CLOEXEC socket pair), bash's `read -t` with data
//! waiting and without, and a C program whose two processes share a SysV
//! segment guarded by a SysV semaphore. Each runs natively and in the
//! sandbox (`--root /`); stdout and exit status must match.
//!
//! The Rust program (`testdata/rust/command.rs`, standard library only) is
//! built here with `rustc` (`$RUSTC` if set), statically (crt-static on
//! the host's target), into Cargo's target directory.

#[macro_use]
mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use common::{assert_outcomes_match, run_native, run_sandbox};

const BASH: &str = "/bin/bash-static";

/// Builds `testdata/rust/<name>.rs` once and returns the binary's path.
fn rust_program(name: &str) -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    assert_eq!(name, "command", "one program for now");
    BUILT
        .get_or_init(|| {
            let src = Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../testdata/rust")
                .join(format!("{name}.rs"));
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("rust");
            std::fs::create_dir_all(&dir).expect("mkdir");
            let out = dir.join(name);
            let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
            let o = Command::new(&rustc)
                .args([
                    "--edition",
                    "2021",
                    "-O",
                    "-C",
                    "target-feature=+crt-static",
                    "-o",
                ])
                .arg(&out)
                .arg(&src)
                .output()
                .unwrap_or_else(|e| panic!("cannot run rustc ({rustc:?}): {e}"));
            assert!(
                o.status.success(),
                "rustc {} failed:\n{}",
                src.display(),
                String::from_utf8_lossy(&o.stderr)
            );
            out
        })
        .clone()
}

/// Runs `path args` natively and in the sandbox; they must exit 0 and
/// print the same. Returns the stdout.
fn same(label: &str, path: &Path, args: &[&str]) -> String {
    let native = run_native(path, args, b"");
    assert_eq!(
        native.status,
        0,
        "{label}: the NATIVE run failed:\n{}\n{}",
        native.stdout_str(),
        native.stderr_str()
    );
    let sandbox = run_sandbox(path, args, b"");
    assert_outcomes_match(label, &native, &sandbox);
    native.stdout_str()
}

/// std::process::Command: PATH lookup of a relative name, env_clear/env/
/// env_remove, uid and gid, current_dir, exit codes and signals, failing
/// execs through posix_spawn and through fork and exec, a pipeline.
#[test]
fn rust_process_command() {
    let out = same("rust Command", &rust_program("command"), &[]);
    assert!(
        out.contains("uid: status Some(0) signal None stdout \"65534 65534\\n\""),
        "{out}"
    );
    assert!(
        out.contains("missing, forked: error NotFound os Some(2)"),
        "{out}"
    );
    assert!(
        out.contains("not executable, forked: error PermissionDenied os Some(13)"),
        "{out}"
    );
}

fn bash(label: &str, script: &str) -> String {
    assert!(
        Path::new(BASH).exists(),
        "{BASH} is missing: run scripts/setup.sh (it installs bash-static)"
    );
    same(label, Path::new(BASH), &["-c", script])
}

/// `read -t` with data waiting (it returns at once) and with none (it
/// times out with a status above 128 after about the timeout), `read -t 0`
/// as a poll, and a fractional timeout.
#[test]
fn bash_read_timeout() {
    let out = bash(
        "bash read -t",
        r#"
B=/bin/busybox
echo hello | { read -t 1 x; echo "waiting data: $? $x"; }
{ read -t 0 x; echo "poll with data: $?"; } <<< "now"
start=${EPOCHREALTIME/./}
{ read -t 1 x; s=$?; echo "no data: $((s > 128)) '$x'"; } < <($B sleep 3)
end=${EPOCHREALTIME/./}
ms=$(( (end - start) / 1000 ))
echo "waited about a second: $(( ms >= 900 && ms < 2900 ))"
{ read -t 0.3 x; echo "fraction: $(( $? > 128 ))"; } < <($B sleep 2)
{ read -t 0 x; echo "poll without data: $?"; } < <($B sleep 1)
printf 'a b\nc\n' | { read -t 2 x y; read -t 2 z; echo "fields: $x $y $z"; }
echo done
"#,
    );
    assert!(
        out.contains("waiting data: 0 hello") && out.ends_with("done\n"),
        "{out}"
    );
}

differential! {
    t_sysv_counter: [], 0;
}

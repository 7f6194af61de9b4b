//! Building the Go programs of `testdata/go/<name>/` (standard library
//! only) with the Go toolchain that scripts/setup.sh installs
//! (`golang-go`), with `CGO_ENABLED=0` so they are static. A missing `go`
//! fails the tests: it is part of the set-up, not optional. The build
//! cache, GOPATH and binaries stay under Cargo's target directory, so the
//! build works without `HOME` and never touches the network.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

/// The Go command: `$GO` if set, else `go` from `PATH`.
pub fn go_command() -> OsString {
    std::env::var_os("GO").unwrap_or_else(|| "go".into())
}

/// Where the Go build cache, GOPATH and binaries go.
pub fn go_work_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("go")
}

/// The source directory of `testdata/go/<name>`.
pub fn go_source(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata/go")
        .join(name)
}

/// Runs `go args...` in `testdata/go/<name>` with a static, offline,
/// HOME-independent configuration and returns its stdout; panics with a
/// clear message when `go` is missing or fails.
pub fn go_run(name: &str, args: &[&OsStr]) -> Vec<u8> {
    let work = go_work_dir();
    let go = go_command();
    let mut cmd = Command::new(&go);
    cmd.current_dir(go_source(name))
        .args(args)
        .env("CGO_ENABLED", "0")
        .env("GOCACHE", work.join("cache"))
        .env("GOPATH", work.join("path"))
        .env("GOMODCACHE", work.join("path/pkg/mod"))
        .env("GOENV", "off")
        .env("GOFLAGS", "")
        .env("GOPROXY", "off")
        .env("GO111MODULE", "on")
        .env("GOOS", "linux")
        .env("GOARCH", "amd64");
    let output = match cmd.output() {
        Ok(output) => output,
        Err(e) => panic!(
            "cannot run the Go toolchain ({}): {e}. The Go tests need it: run \
             scripts/setup.sh (it installs the Debian package golang-go), or set GO \
             to the go binary",
            go.to_string_lossy()
        ),
    };
    assert!(
        output.status.success(),
        "go {args:?} in {} failed ({}):\n{}{}",
        go_source(name).display(),
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

/// Builds `testdata/go/<name>` (once per test process) and returns the path
/// of the static binary.
pub fn go_program(name: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let built = BUILT.get_or_init(Default::default);
    // Held across the build: tests of the same program wait for one build.
    let mut built = built.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(path) = built.get(name) {
        return path.clone();
    }
    let out = go_work_dir().join("bin").join(name);
    std::fs::create_dir_all(go_work_dir().join("bin")).expect("create the Go output directory");
    go_run(
        name,
        &[
            "build".as_ref(),
            "-trimpath".as_ref(),
            "-o".as_ref(),
            out.as_os_str(),
            ".".as_ref(),
        ],
    );
    built.insert(name.to_owned(), out.clone());
    out
}

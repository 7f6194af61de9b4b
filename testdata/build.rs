//! Builds the guest programs in `guests/`:
//!
//! * every `*.c` twice: `gcc -static -O2` into `$OUT_DIR/glibc/<name>` and
//!   `musl-gcc -static -O2` into `$OUT_DIR/musl/<name>`;
//! * `hello.c` once more with `gcc -static-pie` into `$OUT_DIR/glibc/hello-pie`;
//! * every `*.S` with `gcc -nostdlib -static` into `$OUT_DIR/asm/<name>`;
//! * `real/sqlite_locks.c` with glibc only, against the system's static
//!   SQLite (`-lsqlite3 -lm`), into `$OUT_DIR/glibc/sqlite_locks`;
//! * `dynamic/`: dynamically linked guests and shared libraries into
//!   `$OUT_DIR/dynamic/` (see [`build_dynamic`]).
//!
//! All compilations use `-Wall -Werror` so a broken guest fails the build
//! loudly. A missing `musl-gcc` is a hard error pointing at `scripts/setup.sh`.
//! It also writes `$OUT_DIR/guests.rs`, the list of guest names for `lib.rs`.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;
use std::{env, fs, io, thread};

const C_FLAGS: &[&str] = &["-O2", "-Wall", "-Werror"];
/// Where Debian's libsqlite3-dev puts the static library.
const SQLITE_LIB: &str = "/usr/lib/x86_64-linux-gnu/libsqlite3.a";

struct Job {
    compiler: &'static str,
    args: Vec<String>,
    output: PathBuf,
}

fn main() {
    let manifest_dir =
        PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let guests_dir = manifest_dir.join("guests");
    let out_dir = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR"));

    println!("cargo:rerun-if-changed={}", guests_dir.display());

    require_tool("gcc", "gcc (with static glibc: libc6-dev)");
    require_tool("musl-gcc", "musl-gcc (Debian package musl-tools)");

    let mut c_names = Vec::new();
    let mut asm_names = Vec::new();
    let mut entries: Vec<PathBuf> = fs::read_dir(&guests_dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", guests_dir.display()))
        .map(|e| e.expect("read_dir entry").path())
        .collect();
    entries.sort();
    for path in &entries {
        println!("cargo:rerun-if-changed={}", path.display());
        let Some(stem) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        match path.extension().and_then(|s| s.to_str()) {
            Some("c") => c_names.push(stem.to_owned()),
            Some("S") => asm_names.push(stem.to_owned()),
            _ => {}
        }
    }

    for sub in ["glibc", "musl", "asm"] {
        fs::create_dir_all(out_dir.join(sub)).expect("create output directory");
    }

    let mut jobs = Vec::new();
    for name in &c_names {
        let src = guests_dir.join(format!("{name}.c"));
        for (compiler, sub) in [("gcc", "glibc"), ("musl-gcc", "musl")] {
            let output = out_dir.join(sub).join(name);
            jobs.push(c_job(compiler, "-static", &src, output));
        }
        if name == "hello" {
            let output = out_dir.join("glibc").join("hello-pie");
            jobs.push(c_job("gcc", "-static-pie", &src, output));
        }
    }
    for name in &asm_names {
        let src = guests_dir.join(format!("{name}.S"));
        let output = out_dir.join("asm").join(name);
        let args = vec![
            "-nostdlib".to_owned(),
            "-static".to_owned(),
            "-Wall".to_owned(),
            "-Werror".to_owned(),
            "-o".to_owned(),
            output.display().to_string(),
            src.display().to_string(),
        ];
        jobs.push(Job {
            compiler: "gcc",
            args,
            output,
        });
    }

    // Real programs linked against a system library, glibc only (musl
    // cannot link Debian's glibc-built libsqlite3.a: it needs fcntl64 and
    // the _chk functions).
    let real_dir = manifest_dir.join("real");
    println!("cargo:rerun-if-changed={}", real_dir.display());
    let sqlite_src = real_dir.join("sqlite_locks.c");
    println!("cargo:rerun-if-changed={}", sqlite_src.display());
    require_file(
        Path::new(SQLITE_LIB),
        "the static SQLite library (Debian package libsqlite3-dev)",
    );
    let mut sqlite = c_job(
        "gcc",
        "-static",
        &sqlite_src,
        out_dir.join("glibc").join("sqlite_locks"),
    );
    sqlite
        .args
        .extend(["-lsqlite3".to_owned(), "-lm".to_owned()]);
    jobs.push(sqlite);

    run_jobs(jobs);
    build_dynamic(&manifest_dir.join("dynamic"), &out_dir.join("dynamic"));

    let mut list = String::new();
    writeln!(
        list,
        "/// Names of the C guests (each built for glibc and musl)."
    )
    .unwrap();
    writeln!(list, "const C_GUESTS: &[&str] = &{c_names:?};").unwrap();
    writeln!(list, "/// Names of the assembly guests.").unwrap();
    writeln!(list, "const ASM_GUESTS: &[&str] = &{asm_names:?};").unwrap();
    write_if_changed(&out_dir.join("guests.rs"), &list).expect("write guests.rs");
}

/// Builds the dynamically linked guests of `src` into `out`:
///
/// * `libdyntls.so` and `libpreload.so` (`gcc -shared -fPIC`), and
///   `musl/libdyntls.so` with musl-gcc;
/// * `dyn_tls`, `dyn_exec` (gcc, dynamic PIE) and `musl/dyn_tls`
///   (musl-gcc, interpreter /lib/ld-musl-x86_64.so.1);
/// * `dyn_linked`, linked against `libdyntls.so` without a run path;
/// * `hello_dyn` with broken interpreters: `bad/missing` (a path that does
///   not exist), `bad/empty` (an empty executable file), `bad/rel` (an
///   ET_REL object), `bad/script` (the shell script `/usr/bin/ldd`) and
///   `bad/noexec` (a file without an execute bit).
fn build_dynamic(src: &Path, out: &Path) {
    println!("cargo:rerun-if-changed={}", src.display());
    let interp = out.join("interp");
    for dir in [
        out.to_path_buf(),
        out.join("musl"),
        out.join("bad"),
        interp.clone(),
    ] {
        fs::create_dir_all(&dir).expect("create output directory");
    }
    let job = |compiler: &'static str, args: &[&str], source: &str, output: PathBuf| {
        let mut a: Vec<String> = C_FLAGS.iter().map(|s| (*s).to_owned()).collect();
        a.extend(args.iter().map(|s| (*s).to_owned()));
        a.push("-o".to_owned());
        a.push(output.display().to_string());
        a.push(src.join(source).display().to_string());
        Job {
            compiler,
            args: a,
            output,
        }
    };
    let shared = ["-shared", "-fPIC"];
    run_jobs(vec![
        job("gcc", &shared, "libdyntls.c", out.join("libdyntls.so")),
        job("gcc", &shared, "libpreload.c", out.join("libpreload.so")),
        job(
            "musl-gcc",
            &shared,
            "libdyntls.c",
            out.join("musl/libdyntls.so"),
        ),
        job("gcc", &["-c"], "libpreload.c", interp.join("rel")),
    ]);
    fs::write(interp.join("empty"), b"").expect("write interp/empty");
    fs::write(interp.join("noexec"), vec![b'#'; 200]).expect("write interp/noexec");
    {
        use std::os::unix::fs::PermissionsExt;
        for (name, mode) in [("empty", 0o755), ("rel", 0o755), ("noexec", 0o644)] {
            fs::set_permissions(interp.join(name), fs::Permissions::from_mode(mode))
                .expect("chmod interpreter");
        }
    }
    let libdir = format!("-L{}", out.display());
    let linker = |path: &Path| format!("-Wl,--dynamic-linker={}", path.display());
    let bad = [
        (
            "missing",
            PathBuf::from("/nonexistent/ld-linux-x86-64.so.2"),
        ),
        ("empty", interp.join("empty")),
        ("rel", interp.join("rel")),
        ("script", PathBuf::from("/usr/bin/ldd")),
        ("noexec", interp.join("noexec")),
    ];
    let mut jobs = vec![
        job("gcc", &["-pthread"], "dyn_tls.c", out.join("dyn_tls")),
        job("musl-gcc", &[], "dyn_tls.c", out.join("musl/dyn_tls")),
        job("gcc", &[], "dyn_exec.c", out.join("dyn_exec")),
        job("gcc", &[], "hello_dyn.c", out.join("hello_dyn")),
    ];
    let mut linked = job("gcc", &[], "dyn_linked.c", out.join("dyn_linked"));
    linked.args.extend([libdir, "-ldyntls".to_owned()]);
    jobs.push(linked);
    let linkers: Vec<String> = bad.iter().map(|(_, p)| linker(p)).collect();
    for ((name, _), flag) in bad.iter().zip(&linkers) {
        jobs.push(job(
            "gcc",
            &[flag.as_str()],
            "hello_dyn.c",
            out.join("bad").join(name),
        ));
    }
    run_jobs(jobs);
}

fn c_job(compiler: &'static str, link_mode: &str, src: &Path, output: PathBuf) -> Job {
    let mut args = vec![link_mode.to_owned()];
    args.extend(C_FLAGS.iter().map(|s| (*s).to_owned()));
    args.push("-o".to_owned());
    args.push(output.display().to_string());
    args.push(src.display().to_string());
    Job {
        compiler,
        args,
        output,
    }
}

fn require_file(path: &Path, what: &str) {
    assert!(
        path.is_file(),
        "{} is missing: the testdata guests need {what}. Run `scripts/setup.sh` (as root) to install it.",
        path.display()
    );
}

fn require_tool(tool: &str, what: &str) {
    match Command::new(tool).arg("--version").output() {
        Ok(out) if out.status.success() => {}
        Ok(out) => panic!(
            "`{tool} --version` failed ({}): {}\n\
             The testdata guests need {what}. Run `scripts/setup.sh` (as root) to install it.",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ),
        Err(e) => panic!(
            "cannot run `{tool}`: {e}\n\
             The testdata guests need {what}. Run `scripts/setup.sh` (as root) to install it."
        ),
    }
}

/// Runs the compilations on a few threads; panics listing every failure.
fn run_jobs(jobs: Vec<Job>) {
    let parallelism = env::var("NUM_JOBS")
        .ok()
        .and_then(|s| s.parse::<usize>().ok())
        .or_else(|| thread::available_parallelism().ok().map(|n| n.get()))
        .unwrap_or(1)
        .clamp(1, 8);
    let queue = Mutex::new(jobs.into_iter());
    let errors = Mutex::new(Vec::<String>::new());
    thread::scope(|s| {
        for _ in 0..parallelism {
            s.spawn(|| {
                loop {
                    let Some(job) = queue.lock().unwrap().next() else {
                        break;
                    };
                    if let Err(e) = run_job(&job) {
                        errors.lock().unwrap().push(e);
                    }
                }
            });
        }
    });
    let errors = errors.into_inner().unwrap();
    if !errors.is_empty() {
        panic!(
            "{} guest compilation(s) failed:\n\n{}",
            errors.len(),
            errors.join("\n\n")
        );
    }
}

fn run_job(job: &Job) -> Result<(), String> {
    let cmdline = format!("{} {}", job.compiler, job.args.join(" "));
    let out = Command::new(job.compiler)
        .args(&job.args)
        .output()
        .map_err(|e| format!("$ {cmdline}\ncannot run {}: {e}", job.compiler))?;
    if !out.status.success() {
        return Err(format!(
            "$ {cmdline}\n{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    if !job.output.is_file() {
        return Err(format!("$ {cmdline}\nno output file produced"));
    }
    Ok(())
}

fn write_if_changed(path: &Path, contents: &str) -> io::Result<()> {
    if fs::read_to_string(path).is_ok_and(|old| old == contents) {
        return Ok(());
    }
    fs::write(path, contents)
}

//! Shared machinery of the benchmarks: guest programs kept running as
//! "servers" (natively or in the sandbox) that time batches of work on
//! request, the bookkeeping behind criterion's `iter_custom`, and the
//! summary lines with the ratios.
//!
//! A guest started with `serve` reads one iteration count per line on stdin,
//! does that many iterations, and answers with a line holding `total_ns=T`,
//! timed by the guest itself with `clock_gettime(CLOCK_MONOTONIC)`. One
//! process therefore serves all of a benchmark's samples; its start-up and
//! set-up (the sandbox's VM creation, dirtying memory) are never timed.
//!
//! Every request has a timeout. A guest that fails, dies or times out is
//! killed and its benchmark is marked FAILED: the error is printed at once
//! and again in the summary, and from then on criterion is fed a
//! placeholder of 1 ms per iteration (no work is done) so that the other
//! benchmarks still run. Criterion's figures for a FAILED benchmark mean
//! nothing.

// Each bench target compiles this module on its own and uses part of it.
#![allow(dead_code)]

pub mod crossings;
pub mod floor;
pub mod modes;

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant, SystemTime};

use criterion::measurement::WallTime;
use criterion::{BenchmarkGroup, Criterion};

/// Criterion settings shared by all benchmarks: the machine has two cores
/// shared with other work, so samples are few and short.
pub fn criterion_config() -> Criterion {
    Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .nresamples(10_000)
}

/// Seconds allowed for one request or for a guest's set-up:
/// `BENCH_TIMEOUT` (default 120).
fn timeout() -> Duration {
    let secs = std::env::var("BENCH_TIMEOUT")
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .unwrap_or(120);
    Duration::from_secs(secs)
}

/// The C library of the guests: `BENCH_LIBC=musl`, else glibc.
pub fn libc() -> testdata::Libc {
    match std::env::var("BENCH_LIBC").as_deref() {
        Ok("musl") => testdata::Libc::Musl,
        _ => testdata::Libc::Glibc,
    }
}

/// Path of a benchmark guest built against [`libc`].
pub fn guest(name: &str) -> PathBuf {
    testdata::guest(name, libc())
}

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ has a parent")
        .to_path_buf()
}

/// The release sentry binary: `$SENTRY_BIN`, else `sentry` in the
/// directory above this bench executable (`target/release/deps/..`), else
/// `target/release/sentry` in the workspace. Exits the process with a
/// clear message if there is none, and warns if it is older than the
/// sources it is built from.
pub fn sentry_binary() -> PathBuf {
    let mut candidates = Vec::new();
    if let Some(p) = std::env::var_os("SENTRY_BIN") {
        candidates.push(PathBuf::from(p));
    } else {
        if let Ok(exe) = std::env::current_exe()
            && let Some(profile_dir) = exe.parent().and_then(Path::parent)
        {
            candidates.push(profile_dir.join("sentry"));
        }
        candidates.push(workspace_root().join("target/release/sentry"));
    }
    let Some(found) = candidates.iter().find(|p| p.is_file()) else {
        eprintln!(
            "error: the release sentry binary is missing (looked at {}).\n\
             Build it first:  cargo build --release -p sentry\n\
             (or point SENTRY_BIN at a sentry binary)",
            candidates
                .iter()
                .map(|p| p.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        );
        std::process::exit(2);
    };
    // A binary named by SENTRY_BIN is taken as it is (an older build
    // measured on purpose); the one found here must not be older than the
    // sources (`cargo build --benches` does not rebuild it).
    if std::env::var_os("SENTRY_BIN").is_none() {
        refuse_if_stale(found);
    }
    found.clone()
}

fn newest_mtime(dir: &Path, newest: &mut Option<(SystemTime, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(meta) = entry.metadata() else { continue };
        if meta.is_dir() {
            newest_mtime(&path, newest);
        } else if let Ok(t) = meta.modified()
            && newest.as_ref().is_none_or(|(n, _)| t > *n)
        {
            *newest = Some((t, path));
        }
    }
}

fn refuse_if_stale(binary: &Path) {
    let Ok(built) = std::fs::metadata(binary).and_then(|m| m.modified()) else {
        return;
    };
    let root = workspace_root();
    let mut newest = None;
    for krate in ["sentry", "platform", "loader"] {
        newest_mtime(&root.join(krate).join("src"), &mut newest);
    }
    if let Some((t, path)) = newest
        && t > built
    {
        eprintln!(
            "error: {} is older than {}: the sandbox figures would be stale. \
             Rebuild with: cargo build --release -p sentry \
             (or name a binary to measure as it is with SENTRY_BIN)",
            binary.display(),
            path.display()
        );
        std::process::exit(2);
    }
}

/// Something that does `iters` iterations of the measured work and returns
/// the time they took (excluding any set-up).
pub trait Runner {
    /// Runs `iters` iterations.
    fn run(&mut self, iters: u64) -> Result<Duration, String>;
}

type Start = Box<dyn FnMut() -> Result<Box<dyn Runner>, String>>;

/// One measured subject (the native guest, the sandboxed guest, a platform
/// floor). It is started only when criterion runs its benchmark (so one
/// filtered out on the command line costs nothing), outside the timed
/// closure, and stopped after its benchmark to free its memory.
pub struct Subject {
    label: String,
    start: Start,
    runner: Option<Box<dyn Runner>>,
    total: Duration,
    iters: u64,
    failure: Option<String>,
}

/// What criterion gets per iteration after a failure.
const PLACEHOLDER_PER_ITER: Duration = Duration::from_millis(1);

impl Subject {
    /// A subject that `start` sets up.
    pub fn new(
        label: impl Into<String>,
        start: impl FnMut() -> Result<Box<dyn Runner>, String> + 'static,
    ) -> Self {
        Self {
            label: label.into(),
            start: Box::new(start),
            runner: None,
            total: Duration::ZERO,
            iters: 0,
            failure: None,
        }
    }

    /// Label used in messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Starts the runner if it is not running (and has not failed).
    /// Called outside `iter_custom`'s timed closure: criterion's warm-up
    /// plans with the wall time of that closure, which must not include a
    /// guest's start-up and set-up.
    pub fn ensure_started(&mut self) {
        if self.runner.is_some() || self.failure.is_some() {
            return;
        }
        match (self.start)() {
            Ok(r) => self.runner = Some(r),
            Err(e) => self.record_failure(e),
        }
    }

    fn record_failure(&mut self, e: String) {
        eprintln!(
            "\nFAILED {}: {e}\n(criterion's figures for it are placeholders)",
            self.label
        );
        self.failure = Some(e);
        self.runner = None;
    }

    /// For criterion's `iter_custom`: the measured time of `iters`
    /// iterations, or a placeholder after a failure.
    pub fn iter(&mut self, iters: u64) -> Duration {
        self.ensure_started();
        if let Some(runner) = self.runner.as_mut() {
            match runner.run(iters) {
                Ok(d) => {
                    self.total += d;
                    self.iters += iters;
                    return d;
                }
                Err(e) => self.record_failure(e),
            }
        }
        PLACEHOLDER_PER_ITER.saturating_mul(u32::try_from(iters).unwrap_or(u32::MAX))
    }

    /// Stops the runner (ends the guest process, frees the VM).
    pub fn stop(&mut self) {
        self.runner = None;
    }

    /// Runs this subject as benchmark `id` of `group`, then stops it.
    pub fn bench(&mut self, group: &mut BenchmarkGroup<'_, WallTime>, id: &str) {
        group.bench_function(id, |b| {
            self.ensure_started();
            b.iter_custom(|iters| self.iter(iters));
        });
        self.stop();
    }

    /// Whether criterion ran this subject (successfully or not).
    pub fn ran(&self) -> bool {
        self.iters > 0 || self.failure.is_some()
    }

    /// Mean time per iteration over everything measured (warm-up included),
    /// in nanoseconds; `Err` says why there is none.
    pub fn per_iter_ns(&self) -> Result<f64, String> {
        if let Some(e) = &self.failure {
            return Err(format!("FAILED: {e}"));
        }
        if self.iters == 0 {
            return Err("not run (filtered out?)".to_owned());
        }
        Ok(self.total.as_nanos() as f64 / self.iters as f64)
    }
}

/// `1234.5` ns as "1.23 µs" and so on.
pub fn fmt_ns(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.3} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.3} ms", ns / 1e6)
    } else if ns >= 1e3 {
        format!("{:.2} µs", ns / 1e3)
    } else {
        format!("{ns:.1} ns")
    }
}

/// Prints `   label   figure` for a subject, if it ran.
pub fn print_figure(name: &str, s: &Subject) {
    if !s.ran() {
        return;
    }
    match s.per_iter_ns() {
        Ok(ns) => println!("  {name:<28} {:>12}  per iteration", fmt_ns(ns)),
        Err(e) => println!("  {name:<28} {e}"),
    }
}

/// Prints `ratio NAME A/B = X.Xx`, or why there is no ratio; nothing if
/// either side was filtered out.
pub fn print_ratio(name: &str, what: &str, a: &Subject, b: &Subject) {
    if !a.ran() || !b.ran() {
        return;
    }
    match (a.per_iter_ns(), b.per_iter_ns()) {
        (Ok(x), Ok(y)) if y > 0.0 => println!("ratio {name} {what} = {:.1}x", x / y),
        (Err(e), _) => println!("ratio {name} {what} = n/a ({}: {e})", a.label),
        (_, Err(e)) => println!("ratio {name} {what} = n/a ({}: {e})", b.label),
        _ => println!("ratio {name} {what} = n/a (zero denominator)"),
    }
}

/// Where a guest runs.
#[derive(Clone, Debug)]
pub enum Side {
    /// Directly on the host.
    Native,
    /// In the sandbox: `sentry run [--memory M] -- guest ...`.
    Sandbox {
        /// The sentry binary.
        sentry: PathBuf,
        /// `--memory` value, if not the default (1G).
        memory: Option<&'static str>,
        /// The platform (`SENTRY_PLATFORM`), if not the default (KVM).
        platform: Option<&'static str>,
    },
}

/// A guest process in `serve` mode.
pub struct Server {
    what: String,
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
}

impl Server {
    /// Starts `guest args...` on `side`. With `ready`, waits (at most the
    /// timeout) for a line starting with it: the guest's set-up is done.
    pub fn start(
        side: &Side,
        guest: &Path,
        args: &[&str],
        ready: Option<&str>,
    ) -> Result<Self, String> {
        let path_env = std::env::var("PATH").unwrap_or_else(|_| "/usr/bin:/bin".to_owned());
        let mut cmd = match side {
            Side::Native => {
                let mut c = Command::new(guest);
                c.args(args).env_clear().env("PATH", &path_env);
                c
            }
            Side::Sandbox {
                sentry,
                memory,
                platform,
            } => {
                let mut argv: Vec<OsString> = vec!["run".into()];
                if let Some(m) = memory {
                    argv.push("--memory".into());
                    argv.push((*m).into());
                }
                argv.push("--env".into());
                argv.push(format!("PATH={path_env}").into());
                argv.push("--".into());
                argv.push(guest.into());
                argv.extend(args.iter().map(OsString::from));
                let mut c = Command::new(sentry);
                c.args(argv);
                if let Some(p) = platform {
                    c.env("SENTRY_PLATFORM", p);
                }
                c
            }
        };
        let what = format!(
            "{} {} {}",
            match side {
                Side::Native => "native",
                Side::Sandbox { .. } => "sandboxed",
            },
            guest.file_name().unwrap_or_default().to_string_lossy(),
            args.join(" ")
        );
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("cannot start {what}: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("piped stdout");
        let mut stderr_pipe = child.stderr.take().expect("piped stderr");
        let (tx, lines) = std::sync::mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&stderr);
        thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n) = stderr_pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock()
                    .expect("stderr buffer")
                    .extend_from_slice(&buf[..n]);
            }
        });
        let mut server = Self {
            what,
            child,
            stdin,
            lines,
            stderr,
        };
        if let Some(prefix) = ready {
            server.expect_line(|l| l.starts_with(prefix).then_some(()), "set-up")?;
        }
        Ok(server)
    }

    /// Waits for a line that `accept` takes; fails on an `error`/`FATAL`
    /// line, on exit and on timeout (killing the guest).
    fn expect_line<T>(
        &mut self,
        mut accept: impl FnMut(&str) -> Option<T>,
        doing: &str,
    ) -> Result<T, String> {
        let limit = timeout();
        let deadline = Instant::now() + limit;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    if let Some(v) = accept(&line) {
                        return Ok(v);
                    }
                    if line.starts_with("error") || line.starts_with("FATAL") {
                        return Err(self.fail(&format!("{doing}: the guest said {line:?}")));
                    }
                }
                Err(RecvTimeoutError::Timeout) => {
                    return Err(self.fail(&format!(
                        "TIMEOUT: no answer within {limit:?} during {doing} \
                         (raise BENCH_TIMEOUT=seconds); killed it"
                    )));
                }
                Err(RecvTimeoutError::Disconnected) => {
                    return Err(self.fail(&format!("{doing}: the guest closed its stdout")));
                }
            }
        }
    }

    /// Kills the process and describes what happened.
    fn fail(&mut self, why: &str) -> String {
        let status = match self.child.try_wait() {
            Ok(Some(st)) => format!("it exited with {st}"),
            _ => {
                let _ = self.child.kill();
                match self.child.wait() {
                    Ok(st) => format!("it was running; killed ({st})"),
                    Err(e) => format!("it was running; kill/wait failed: {e}"),
                }
            }
        };
        // Give the stderr reader a moment to collect the last words.
        thread::sleep(Duration::from_millis(100));
        let err = self.stderr.lock().expect("stderr buffer");
        let tail = &err[err.len().saturating_sub(2000)..];
        format!(
            "{}: {why}; {status}; stderr: {:?}",
            self.what,
            String::from_utf8_lossy(tail).trim_end()
        )
    }

    /// Asks for `iters` iterations and returns the guest-measured time.
    pub fn request(&mut self, iters: u64) -> Result<Duration, String> {
        let stdin = self.stdin.as_mut().expect("stdin open while running");
        if let Err(e) = writeln!(stdin, "{iters}").and_then(|()| stdin.flush()) {
            return Err(self.fail(&format!("writing a request: {e}")));
        }
        let ns = self.expect_line(
            |line| {
                line.split_whitespace()
                    .find_map(|w| w.strip_prefix("total_ns="))
                    .and_then(|v| v.parse::<u64>().ok())
            },
            &format!("a request for {iters} iterations"),
        )?;
        Ok(Duration::from_nanos(ns))
    }
}

impl Runner for Server {
    fn run(&mut self, iters: u64) -> Result<Duration, String> {
        self.request(iters)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        // EOF on stdin ends a serving guest; kill it if it lingers.
        drop(self.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            match self.child.try_wait() {
                Ok(Some(_)) | Err(_) => return,
                Ok(None) => thread::sleep(Duration::from_millis(5)),
            }
        }
        eprintln!("warning: {} did not exit at EOF; killing it", self.what);
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A subject that runs `guest args...` as a server on `side`.
pub fn guest_subject(
    label: &str,
    side: Side,
    guest: PathBuf,
    args: Vec<String>,
    ready: Option<&'static str>,
) -> Subject {
    Subject::new(label, move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        Server::start(&side, &guest, &args, ready).map(|s| Box::new(s) as Box<dyn Runner>)
    })
}

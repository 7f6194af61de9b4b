//! Crossings per operation, from the sandbox's `--stats` (counts, not
//! times): a guest run with a small and with a large count, the
//! difference of the `crossings:` totals divided by the extra operations,
//! so that start-up and exit cancel out.

use std::path::Path;
use std::process::{Command, Stdio};

/// The kinds `--stats` counts, in its order.
const KINDS: [&str; 7] = [
    "syscall",
    "page_fault",
    "exception",
    "interrupt",
    "error",
    "vcpu_start",
    "wakeup",
];

/// One run's totals by kind.
fn totals(sentry: &Path, guest: &Path, args: &[String]) -> Result<[u64; 7], String> {
    let out = Command::new(sentry)
        .arg("run")
        .arg("--stats")
        .arg("--memory")
        .arg("2G")
        .arg("--")
        .arg(guest)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", sentry.display()))?;
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!(
            "{} {args:?} failed ({}): {}",
            guest.display(),
            out.status,
            err.trim_end()
        ));
    }
    let line = err
        .lines()
        .find(|l| l.starts_with("crossings: syscall="))
        .ok_or_else(|| format!("no crossings line in: {}", err.trim_end()))?;
    let mut t = [0; 7];
    for word in line.split_whitespace() {
        if let Some((k, v)) = word.split_once('=')
            && let Some(i) = KINDS.iter().position(|n| *n == k)
        {
            t[i] = v.parse().map_err(|_| format!("bad count in {line:?}"))?;
        }
    }
    Ok(t)
}

/// Crossings per operation of `guest args...`, where `{}` in `args` is the
/// count: `base` and `base + n` operations. Returns the summary line.
pub fn per_op(
    sentry: &Path,
    guest: &Path,
    args: &[&str],
    base: u64,
    n: u64,
) -> Result<String, String> {
    let with = |count: u64| -> Vec<String> {
        args.iter()
            .map(|a| a.replace("{}", &count.to_string()))
            .collect()
    };
    let small = totals(sentry, guest, &with(base))?;
    let large = totals(sentry, guest, &with(base + n))?;
    let per = |i: usize| large[i].saturating_sub(small[i]) as f64 / n as f64;
    let mut line = String::new();
    for (i, k) in KINDS.iter().enumerate() {
        let v = per(i);
        if v != 0.0 {
            line.push_str(&format!("{k}={v:.2} "));
        }
    }
    let exits: f64 = (0..5).map(per).sum();
    let all: f64 = (0..7).map(per).sum();
    line.push_str(&format!("exits={exits:.2} trap_equivalents={all:.2}"));
    Ok(line)
}

/// Prints `crossings NAME per op: ...` (or why there is none).
pub fn print_per_op(name: &str, sentry: &Path, guest: &Path, args: &[&str], base: u64, n: u64) {
    match per_op(sentry, guest, args, base, n) {
        Ok(line) => println!("crossings {name} per op: {line}"),
        Err(e) => println!("crossings {name} per op: n/a ({e})"),
    }
}

//! `sentry compare`: the differential conformance check as a command. The
//! same static program runs natively and in the sandbox, with the same
//! arguments, environment and stdin; stdout and exit status must match.
//! The host kernel is the reference.
//!
//! Running natively executes the program on the host, outside any sandbox:
//! use it for trusted test programs only.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How one run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Outcome {
    /// Everything written to stdout.
    pub stdout: Vec<u8>,
    /// Exit code, or 128+signal (as a shell reports it).
    pub status: i32,
    /// Whether the run was killed for taking too long.
    pub timed_out: bool,
}

/// Runs `cmd` with `stdin`, killing it after `timeout`.
pub fn run(mut cmd: Command, stdin: &[u8], timeout: Duration) -> std::io::Result<Outcome> {
    use std::os::unix::process::ExitStatusExt;
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = cmd.spawn()?;
    let mut input = child.stdin.take().expect("piped stdin");
    let data = stdin.to_vec();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(&data);
    });
    let mut out = child.stdout.take().expect("piped stdout");
    let reader = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let start = Instant::now();
    let mut timed_out = false;
    let status = loop {
        if let Some(s) = child.try_wait()? {
            break s;
        }
        if start.elapsed() > timeout {
            timed_out = true;
            let _ = child.kill();
            break child.wait()?;
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let _ = feeder.join();
    let stdout = reader.join().unwrap_or_default();
    let status = match (status.code(), status.signal()) {
        (Some(c), _) => c,
        (None, Some(s)) => 128 + s,
        _ => -1,
    };
    Ok(Outcome {
        stdout,
        status,
        timed_out,
    })
}

/// Where two outputs first differ: (byte offset, line number from 1).
pub fn first_difference(a: &[u8], b: &[u8]) -> Option<(usize, usize)> {
    let at = a
        .iter()
        .zip(b)
        .position(|(x, y)| x != y)
        .or_else(|| (a.len() != b.len()).then(|| a.len().min(b.len())))?;
    let line = 1 + a[..at].iter().filter(|c| **c == b'\n').count();
    Some((at, line))
}

fn line_at(s: &[u8], at: usize) -> String {
    let start = s[..at.min(s.len())]
        .iter()
        .rposition(|c| *c == b'\n')
        .map_or(0, |p| p + 1);
    let end = s[start..]
        .iter()
        .position(|c| *c == b'\n')
        .map_or(s.len(), |p| start + p);
    format!("{:?}", String::from_utf8_lossy(&s[start..end]))
}

/// Compares a native and a sandboxed run; returns the report and whether
/// they agree.
pub fn report(native: &Outcome, sandbox: &Outcome) -> (String, bool) {
    let mut r = String::new();
    let mut same = true;
    if native.timed_out || sandbox.timed_out {
        same = false;
        r.push_str(&format!(
            "timed out: native {}, sandbox {}\n",
            native.timed_out, sandbox.timed_out
        ));
    }
    if native.status != sandbox.status {
        same = false;
        r.push_str(&format!(
            "exit status differs: native {}, sandbox {}\n",
            native.status, sandbox.status
        ));
    }
    if let Some((at, line)) = first_difference(&native.stdout, &sandbox.stdout) {
        same = false;
        r.push_str(&format!(
            "stdout differs at byte {at} (line {line}; {} vs {} bytes):\n  native:  {}\n  sandbox: {}\n",
            native.stdout.len(),
            sandbox.stdout.len(),
            line_at(&native.stdout, at),
            line_at(&sandbox.stdout, at)
        ));
    }
    if same {
        r.push_str(&format!(
            "same: exit status {}, {} bytes of stdout\n",
            native.status,
            native.stdout.len()
        ));
    }
    (r, same)
}

/// Builds the native and the sandboxed command for `program`.
pub fn commands(
    sentry: &Path,
    program: &Path,
    args: &[OsString],
    envp: &[(String, String)],
    sentry_flags: &[OsString],
) -> (Command, Command) {
    let mut native = Command::new(program);
    native.args(args).env_clear();
    for (k, v) in envp {
        native.env(k, v);
    }
    let mut sandbox = Command::new(sentry);
    sandbox.arg("run").args(sentry_flags);
    for (k, v) in envp {
        sandbox.arg("--env").arg(format!("{k}={v}"));
    }
    sandbox.arg("--").arg(program).args(args);
    (native, sandbox)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn differences_are_located() {
        assert_eq!(first_difference(b"abc", b"abc"), None);
        assert_eq!(first_difference(b"a\nbc", b"a\nbd"), Some((3, 2)));
        assert_eq!(first_difference(b"ab", b"abc"), Some((2, 1)));
    }

    #[test]
    fn reports_say_what_differs() {
        let a = Outcome {
            stdout: b"x\ny\n".to_vec(),
            status: 0,
            timed_out: false,
        };
        let mut b = a.clone();
        assert!(report(&a, &b).1);
        b.status = 139;
        b.stdout = b"x\nz\n".to_vec();
        let (text, same) = report(&a, &b);
        assert!(!same);
        assert!(text.contains("native 0, sandbox 139"), "{text}");
        assert!(text.contains("line 2"), "{text}");
        assert!(text.contains("\"z\""), "{text}");
    }
}

//! The sentry's own log: `tracing` events on stderr, rate-limited per
//! message site so that a guest that makes the sentry warn in a loop (a fork
//! bomb hitting the vCPU limit) cannot flood the user's terminal or the
//! sentry's time.
//!
//! Each call site may write [`BURST`] lines per [`WINDOW`]; later events of
//! that site in the same window are dropped and counted, and the first line
//! the site writes in a later window is preceded by one "suppressed K
//! similar messages" line ([`flush`] writes the counts still pending at the
//! end). Writes to stderr never fail the sentry: if stderr is closed (say
//! `sentry run ... 2>&1 | head`), log lines are lost, not a panic.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use tracing::Metadata;
use tracing::callsite::Identifier;
use tracing_subscriber::fmt::MakeWriter;

/// Lines one call site may write per window.
pub const BURST: u32 = 10;
/// The rate-limit window.
pub const WINDOW: Duration = Duration::from_secs(1);

/// What to do with one event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Write it.
    Write,
    /// Write a note that `n` similar messages were suppressed, then it.
    NoteThenWrite(u64),
    /// Drop it (counted).
    Drop,
}

struct Site {
    window_start: Instant,
    written: u32,
    suppressed: u64,
    name: String,
}

/// Per-site fixed-window limiter (the clock is passed in, for tests).
pub struct Limiter<K> {
    sites: HashMap<K, Site>,
}

impl<K> Default for Limiter<K> {
    fn default() -> Self {
        Self {
            sites: HashMap::new(),
        }
    }
}

impl<K: std::hash::Hash + Eq> Limiter<K> {
    /// Decides about an event from site `key` (named `name` in notes) at
    /// time `now`.
    pub fn check(&mut self, key: K, name: impl FnOnce() -> String, now: Instant) -> Decision {
        let site = self.sites.entry(key).or_insert_with(|| Site {
            window_start: now,
            written: 0,
            suppressed: 0,
            name: name(),
        });
        if now.duration_since(site.window_start) >= WINDOW {
            site.window_start = now;
            site.written = 0;
        }
        if site.written >= BURST {
            site.suppressed += 1;
            return Decision::Drop;
        }
        site.written += 1;
        match std::mem::take(&mut site.suppressed) {
            0 => Decision::Write,
            n => Decision::NoteThenWrite(n),
        }
    }

    /// Takes the counts of messages suppressed and not reported yet, with
    /// the names of their sites.
    pub fn take_pending(&mut self) -> Vec<(String, u64)> {
        let mut v: Vec<(String, u64)> = self
            .sites
            .values_mut()
            .filter(|s| s.suppressed > 0)
            .map(|s| (s.name.clone(), std::mem::take(&mut s.suppressed)))
            .collect();
        v.sort();
        v
    }
}

fn limiter() -> &'static Mutex<Limiter<Identifier>> {
    static L: OnceLock<Mutex<Limiter<Identifier>>> = OnceLock::new();
    L.get_or_init(Default::default)
}

fn note(name: &str, n: u64) -> String {
    format!("sentry: suppressed {n} similar log messages ({name})\n")
}

/// Writes to stderr, ignoring errors (a closed stderr must not end the
/// sentry), after an optional note.
pub struct LogLine {
    note: Option<String>,
    drop: bool,
}

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.drop {
            return Ok(buf.len());
        }
        let mut err = std::io::stderr().lock();
        if let Some(n) = self.note.take() {
            let _ = err.write_all(n.as_bytes());
        }
        let _ = err.write_all(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// Writes one line on stderr, ignoring errors, for output that is not a
/// log event and must not be rate-limited (`--strace`, `--stats`): a closed
/// stderr loses the line, it does not panic the sentry as `eprintln!`
/// would. The line is written with one `write_all` on the locked stream, so
/// lines from different vCPU threads do not interleave.
pub fn stderr_line(line: std::fmt::Arguments<'_>) {
    let mut s = line.to_string();
    s.push('\n');
    let _ = std::io::stderr().lock().write_all(s.as_bytes());
}

/// The `tracing_subscriber` writer: stderr behind the per-site limiter.
pub struct RateLimitedStderr;

impl<'a> MakeWriter<'a> for RateLimitedStderr {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine {
            note: None,
            drop: false,
        }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> LogLine {
        let name = || {
            format!(
                "{}:{}",
                meta.file().unwrap_or(meta.target()),
                meta.line().unwrap_or(0)
            )
        };
        let decision = match limiter().lock() {
            Ok(mut l) => l.check(meta.callsite(), name, Instant::now()),
            Err(_) => Decision::Write,
        };
        match decision {
            Decision::Write => LogLine {
                note: None,
                drop: false,
            },
            Decision::NoteThenWrite(n) => LogLine {
                note: Some(note(&name(), n)),
                drop: false,
            },
            Decision::Drop => LogLine {
                note: None,
                drop: true,
            },
        }
    }
}

/// Installs the subscriber: events at `level` and above, on stderr,
/// rate-limited.
pub fn init(level: tracing::Level) {
    let _ = tracing_subscriber::fmt()
        .with_max_level(level)
        .with_writer(RateLimitedStderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .without_time()
        .try_init();
}

/// Writes the "suppressed" notes still pending (call at exit).
pub fn flush() {
    let pending = match limiter().lock() {
        Ok(mut l) => l.take_pending(),
        Err(_) => return,
    };
    let mut err = std::io::stderr().lock();
    for (name, n) in pending {
        let _ = err.write_all(note(&name, n).as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_site_writes_a_burst_per_window_then_notes_what_it_dropped() {
        let mut l = Limiter::default();
        let t0 = Instant::now();
        let name = || "site.rs:1".to_string();
        for i in 0..BURST {
            assert_eq!(
                l.check(1, name, t0 + Duration::from_millis(i as u64)),
                Decision::Write
            );
        }
        for _ in 0..500 {
            assert_eq!(
                l.check(1, name, t0 + Duration::from_millis(500)),
                Decision::Drop
            );
        }
        // Another site is not affected.
        assert_eq!(l.check(2, || "other.rs:2".into(), t0), Decision::Write);
        // Next window: the note comes with the first line, then a new burst.
        let t1 = t0 + WINDOW + Duration::from_millis(1);
        assert_eq!(l.check(1, name, t1), Decision::NoteThenWrite(500));
        for _ in 1..BURST {
            assert_eq!(l.check(1, name, t1), Decision::Write);
        }
        assert_eq!(l.check(1, name, t1), Decision::Drop);
        assert_eq!(l.check(1, name, t1), Decision::Drop);
        assert_eq!(l.take_pending(), vec![("site.rs:1".to_string(), 2)]);
        assert!(l.take_pending().is_empty());
    }

    #[test]
    fn a_flood_stays_within_burst_per_second() {
        // 50,000 events over 10 s from one site: at most BURST lines and
        // one note per second get through.
        let mut l = Limiter::default();
        let t0 = Instant::now();
        let mut lines = 0;
        for i in 0..50_000u64 {
            let now = t0 + Duration::from_micros(i * 200);
            match l.check((), || "x".into(), now) {
                Decision::Write => lines += 1,
                Decision::NoteThenWrite(_) => lines += 2,
                Decision::Drop => {}
            }
        }
        assert!(lines <= 10 * (BURST as usize + 1), "{lines} lines");
        assert!(lines >= 10 * BURST as usize, "{lines} lines");
    }
}

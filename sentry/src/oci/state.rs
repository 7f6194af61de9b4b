//! A container's state under the runtime root: `<root>/<id>/state.json`
//! (what `create` recorded), `exec.fifo` (the sandbox process waits on it
//! until `start`), `started` (present once started); the directory itself
//! is the lock (flock) that serialises commands on one container.

use std::io::Write;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What `create` records.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Record {
    /// The runtime-spec version.
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    /// The container id.
    pub id: String,
    /// The sandbox process's pid (the container's pid).
    pub pid: i32,
    /// Its start time in clock ticks since boot (field 22 of
    /// /proc/PID/stat), so a reused pid is not taken for it.
    pub starttime: u64,
    /// The bundle's absolute path.
    pub bundle: String,
    /// The root filesystem's absolute path.
    pub rootfs: String,
    /// When it was created (RFC 3339, UTC).
    pub created: String,
    /// config.json's annotations.
    pub annotations: Map<String, Value>,
}

/// A container's status (runtime-spec).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Being created.
    Creating,
    /// Created, waiting for `start`.
    Created,
    /// Its process runs.
    Running,
    /// Its process has exited.
    Stopped,
}

impl Status {
    /// The spec's name.
    pub fn name(self) -> &'static str {
        match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Stopped => "stopped",
        }
    }
}

/// One container's state directory.
pub struct Container {
    /// `<root>/<id>`.
    pub dir: PathBuf,
    /// The id.
    pub id: String,
}

/// Checks an id as runc does: letters, digits, `_`, `+`, `-`, `.`, not
/// starting with `.`.
pub fn check_id(id: &str) -> Result<(), String> {
    let ok = !id.is_empty()
        && id.len() <= 1024
        && !id.starts_with('.')
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_+-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!("invalid container id {id:?}"))
    }
}

/// The lock on one container (released when dropped).
pub struct Lock(#[allow(dead_code)] std::fs::File);

impl Container {
    /// The container `id` under `root`.
    pub fn new(root: &Path, id: &str) -> Result<Self, String> {
        check_id(id)?;
        Ok(Self {
            dir: root.join(id),
            id: id.to_string(),
        })
    }

    /// Whether it exists.
    pub fn exists(&self) -> bool {
        self.dir.join("state.json").is_file()
    }

    /// Takes its lock (waits for another command on it to finish).
    pub fn lock(&self) -> Result<Lock, String> {
        let f = std::fs::File::open(&self.dir).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!("container {:?} does not exist", self.id)
            } else {
                format!("cannot open {}: {e}", self.dir.display())
            }
        })?;
        rustix::fs::flock(f.as_fd(), rustix::fs::FlockOperation::LockExclusive)
            .map_err(|e| format!("cannot lock {}: {e}", self.dir.display()))?;
        Ok(Lock(f))
    }

    /// The fifo the sandbox process waits on until `start`.
    pub fn fifo(&self) -> PathBuf {
        self.dir.join("exec.fifo")
    }

    /// The marker `start` leaves.
    pub fn started_marker(&self) -> PathBuf {
        self.dir.join("started")
    }

    /// Reads state.json.
    pub fn record(&self) -> Result<Record, String> {
        let text = std::fs::read(self.dir.join("state.json")).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                format!("container {:?} does not exist", self.id)
            } else {
                format!("cannot read the state of {:?}: {e}", self.id)
            }
        })?;
        serde_json::from_slice(&text).map_err(|e| format!("corrupt state of {:?}: {e}", self.id))
    }

    /// Writes state.json (atomically).
    pub fn save(&self, r: &Record) -> Result<(), String> {
        let tmp = self.dir.join("state.json.tmp");
        let text = serde_json::to_vec(r).map_err(|e| e.to_string())?;
        let mut f = std::fs::File::create(&tmp).map_err(|e| e.to_string())?;
        f.write_all(&text).map_err(|e| e.to_string())?;
        std::fs::rename(&tmp, self.dir.join("state.json")).map_err(|e| e.to_string())
    }

    /// Its status now.
    pub fn status(&self, r: &Record) -> Status {
        if !alive(r.pid, r.starttime) {
            Status::Stopped
        } else if self.started_marker().exists() {
            Status::Running
        } else {
            Status::Created
        }
    }

    /// The state JSON `state` prints.
    pub fn state_json(&self, r: &Record) -> Value {
        let status = self.status(r);
        serde_json::json!({
            "ociVersion": r.oci_version,
            "id": r.id,
            "status": status.name(),
            "pid": if status == Status::Stopped { 0 } else { r.pid },
            "bundle": r.bundle,
            "rootfs": r.rootfs,
            "created": r.created,
            "owner": "",
            "annotations": r.annotations,
        })
    }
}

/// Field 22 (starttime) and field 3 (state) of /proc/PID/stat.
pub fn proc_stat(pid: i32) -> Option<(char, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: the
    // fields after it start after its last `)`.
    let rest = &text[text.rfind(')')? + 1..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    // Fields 4.. are next: starttime is field 22, the 19th after state.
    let start = f.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// Whether `pid` is still the sandbox process (not exited, not a zombie,
/// not a reused pid).
pub fn alive(pid: i32, starttime: u64) -> bool {
    match proc_stat(pid) {
        Some((state, start)) => start == starttime && state != 'Z' && state != 'X',
        None => false,
    }
}

/// Now in RFC 3339 (UTC, nanoseconds).
pub fn now_rfc3339() -> String {
    let d = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    let secs = d.as_secs();
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = if month <= 2 { y + 1 } else { y };
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        d.subsec_nanos()
    )
}

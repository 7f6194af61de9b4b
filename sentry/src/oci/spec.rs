//! An OCI bundle's config.json (runtime-spec 1.x), read into what the
//! sandbox runs ([`Plan`]). Every field is either applied, mapped to the
//! sandbox's own equivalent, ignored for a documented reason (see
//! [`IGNORED`]), or refused with an error naming it: nothing unknown is
//! skipped silently.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value};

use crate::fs::setup::BindMount;
use crate::kernel::creds::{CAP_FULL, CAP_INIT, Creds};
use crate::oci::guest::GuestSetup;

/// The runtime-spec version this runtime implements.
pub const OCI_VERSION: &str = "1.2.0";

/// Fields accepted and not applied, with why: the sandbox has its own
/// kernel, so host-kernel isolation and accounting settings have nothing
/// to act on.
pub const IGNORED: &[(&str, &str)] = &[
    (
        "linux.namespaces",
        "the guest always gets its own pid, mount, uts, ipc, network and user view: the sentry is its kernel",
    ),
    (
        "linux.resources",
        "host cgroup limits do not apply (run with --cgroups=disabled); only memory.limit is used, as the guest's memory cap",
    ),
    ("linux.cgroupsPath", "the sandbox uses no host cgroup"),
    (
        "linux.seccomp",
        "the guest's syscalls never reach the host kernel: the sentry implements them (and confines itself with its own filter)",
    ),
    (
        "linux.maskedPaths",
        "the guest's /proc and /sys are the sentry's own and show nothing of the host",
    ),
    (
        "linux.readonlyPaths",
        "the guest's /proc and /sys are the sentry's own and show nothing of the host",
    ),
    (
        "linux.devices",
        "the guest's /dev is the sentry's own devfs",
    ),
    (
        "linux.sysctl",
        "the sandbox has its own kernel settings; host sysctls are never changed",
    ),
    ("linux.mountLabel", "no SELinux in the sandbox"),
    (
        "linux.rootfsPropagation",
        "no mount propagation with the host",
    ),
    ("linux.intelRdt", "no host resource control"),
    ("process.apparmorProfile", "no AppArmor in the sandbox"),
    ("process.selinuxLabel", "no SELinux in the sandbox"),
    (
        "process.oomScoreAdj",
        "the sandbox's memory cap applies instead",
    ),
    ("process.ioPriority", "no host I/O scheduling"),
    (
        "process.scheduler",
        "the sentry schedules guest threads on its own",
    ),
    ("process.execCPUAffinity", "no host CPU affinity"),
    (
        "mounts type cgroup/cgroup2",
        "the sandbox has no cgroup filesystem",
    ),
    (
        "mounts type proc, sysfs, devpts, mqueue at /proc, /sys, /dev/pts, /dev/mqueue, tmpfs at /dev, /dev/shm",
        "the sandbox's own filesystems are always there",
    ),
];

/// What config.json asks for.
#[derive(Clone, Debug)]
pub struct Plan {
    /// process.args.
    pub args: Vec<String>,
    /// process.env.
    pub env: Vec<String>,
    /// process.cwd.
    pub cwd: String,
    /// process.terminal.
    pub terminal: bool,
    /// process.consoleSize (rows, columns).
    pub console_size: Option<(u16, u16)>,
    /// root.path, made absolute.
    pub root: PathBuf,
    /// Directory bind mounts.
    pub binds: Vec<BindMount>,
    /// Credentials, limits, tmpfs mounts, copied files.
    pub guest: GuestSetup,
    /// hostname.
    pub hostname: Option<String>,
    /// annotations.
    pub annotations: Map<String, Value>,
    /// linux.resources.memory.limit, when set.
    pub memory_limit: Option<u64>,
}

/// A config.json error: names the field.
#[derive(Debug)]
pub struct SpecError(pub String);

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

fn err<T>(msg: impl Into<String>) -> Result<T, SpecError> {
    Err(SpecError(msg.into()))
}

fn unsupported<T>(field: &str, why: &str) -> Result<T, SpecError> {
    err(format!("config.json: unsupported field {field:?}: {why}"))
}

/// Checks that `obj` (at `at`) has only keys among `known`.
fn only(obj: &Map<String, Value>, at: &str, known: &[&str]) -> Result<(), SpecError> {
    for k in obj.keys() {
        if !known.contains(&k.as_str()) {
            let name = if at.is_empty() {
                k.clone()
            } else {
                format!("{at}.{k}")
            };
            return unsupported(&name, "this runtime does not implement it");
        }
    }
    Ok(())
}

fn object<'a>(v: &'a Value, at: &str) -> Result<&'a Map<String, Value>, SpecError> {
    v.as_object()
        .ok_or_else(|| SpecError(format!("config.json: {at} must be an object")))
}

fn string(v: &Value, at: &str) -> Result<String, SpecError> {
    v.as_str()
        .map(str::to_string)
        .ok_or_else(|| SpecError(format!("config.json: {at} must be a string")))
}

fn strings(v: &Value, at: &str) -> Result<Vec<String>, SpecError> {
    let a = v
        .as_array()
        .ok_or_else(|| SpecError(format!("config.json: {at} must be an array of strings")))?;
    a.iter()
        .enumerate()
        .map(|(i, s)| string(s, &format!("{at}[{i}]")))
        .collect()
}

fn number(v: &Value, at: &str) -> Result<u64, SpecError> {
    v.as_u64()
        .ok_or_else(|| SpecError(format!("config.json: {at} must be a non-negative integer")))
}

/// The capability names of Linux, by number.
pub const CAP_NAMES: [&str; 41] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

fn cap_set(v: &Value, at: &str) -> Result<u64, SpecError> {
    let mut set = 0u64;
    for (i, name) in strings(v, at)?.iter().enumerate() {
        let n = CAP_NAMES
            .iter()
            .position(|c| c.eq_ignore_ascii_case(name))
            .ok_or_else(|| {
                SpecError(format!(
                    "config.json: {at}[{i}]: unknown capability {name:?}"
                ))
            })?;
        set |= 1 << n;
    }
    Ok(set & CAP_FULL)
}

/// The RLIMIT_* names by resource number.
pub const RLIMIT_NAMES: [&str; 16] = [
    "RLIMIT_CPU",
    "RLIMIT_FSIZE",
    "RLIMIT_DATA",
    "RLIMIT_STACK",
    "RLIMIT_CORE",
    "RLIMIT_RSS",
    "RLIMIT_NPROC",
    "RLIMIT_NOFILE",
    "RLIMIT_MEMLOCK",
    "RLIMIT_AS",
    "RLIMIT_LOCKS",
    "RLIMIT_SIGPENDING",
    "RLIMIT_MSGQUEUE",
    "RLIMIT_NICE",
    "RLIMIT_RTPRIO",
    "RLIMIT_RTTIME",
];

/// Resolves `p` against `bundle` when relative.
fn in_bundle(bundle: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        bundle.join(p)
    }
}

/// The largest file a single-file bind mount copies into the guest.
const MAX_FILE_COPY: u64 = 1 << 20;

/// Reads `bundle`/config.json.
pub fn load(bundle: &Path) -> Result<Plan, SpecError> {
    let path = bundle.join("config.json");
    let text = std::fs::read(&path)
        .map_err(|e| SpecError(format!("cannot read {}: {e}", path.display())))?;
    let v: Value = serde_json::from_slice(&text)
        .map_err(|e| SpecError(format!("{}: not valid JSON: {e}", path.display())))?;
    parse(bundle, &v)
}

/// Reads a config already parsed as JSON.
pub fn parse(bundle: &Path, v: &Value) -> Result<Plan, SpecError> {
    let top = object(v, "the config")?;
    for k in top.keys() {
        match k.as_str() {
            "ociVersion" | "process" | "root" | "mounts" | "hostname" | "domainname"
            | "annotations" | "hooks" | "linux" => {}
            "solaris" | "windows" | "vm" | "zos" | "freebsd" => {
                return unsupported(k, "only Linux containers run in this sandbox");
            }
            _ => return unsupported(k, "this runtime does not implement it"),
        }
    }
    let version = string(
        top.get("ociVersion")
            .ok_or_else(|| SpecError("config.json: ociVersion is missing".into()))?,
        "ociVersion",
    )?;
    if !version.starts_with("1.") {
        return err(format!(
            "config.json: ociVersion {version:?}: only 1.x is supported"
        ));
    }
    if let Some(d) = top.get("domainname")
        && !string(d, "domainname")?.is_empty()
    {
        return unsupported("domainname", "the guest's domain name is always \"(none)\"");
    }
    if let Some(h) = top.get("hooks") {
        for (k, list) in object(h, "hooks")? {
            if list.as_array().is_some_and(|a| !a.is_empty()) {
                return unsupported(
                    &format!("hooks.{k}"),
                    "hooks would run host programs in the container's namespaces, which the sandbox does not have",
                );
            }
        }
    }
    let mut guest = GuestSetup::default();
    let mut memory_limit = None;
    if let Some(l) = top.get("linux") {
        let l = object(l, "linux")?;
        only(
            l,
            "linux",
            &[
                "namespaces",
                "resources",
                "cgroupsPath",
                "seccomp",
                "maskedPaths",
                "readonlyPaths",
                "devices",
                "sysctl",
                "mountLabel",
                "rootfsPropagation",
                "intelRdt",
                "uidMappings",
                "gidMappings",
                "personality",
                "timeOffsets",
            ],
        )?;
        for k in ["uidMappings", "gidMappings"] {
            if l.get(k)
                .and_then(Value::as_array)
                .is_some_and(|a| !a.is_empty())
            {
                return unsupported(
                    &format!("linux.{k}"),
                    "user-namespace id mappings are not implemented (the guest's ids are its own already)",
                );
            }
        }
        if l.get("timeOffsets").is_some_and(|t| !t.is_null()) {
            return unsupported("linux.timeOffsets", "time namespaces are not implemented");
        }
        if let Some(p) = l.get("personality") {
            let p = object(p, "linux.personality")?;
            if p.get("domain")
                .and_then(Value::as_str)
                .is_some_and(|d| d != "LINUX")
            {
                return unsupported("linux.personality.domain", "only LINUX is supported");
            }
        }
        if let Some(ns) = l.get("namespaces").and_then(Value::as_array) {
            for (i, n) in ns.iter().enumerate() {
                if n.get("path")
                    .and_then(Value::as_str)
                    .is_some_and(|p| !p.is_empty())
                {
                    return unsupported(
                        &format!("linux.namespaces[{i}].path"),
                        "the sandbox cannot join a host namespace",
                    );
                }
            }
        }
        if let Some(limit) = l
            .get("resources")
            .and_then(|r| r.get("memory"))
            .and_then(|m| m.get("limit"))
            .and_then(Value::as_i64)
            && limit > 0
        {
            memory_limit = Some((limit as u64).max(16 << 20));
        }
    }
    // process
    let p = object(
        top.get("process")
            .ok_or_else(|| SpecError("config.json: process is missing".into()))?,
        "process",
    )?;
    let Process {
        args,
        env,
        cwd,
        terminal,
        console_size,
        guest: pg,
    } = process(p)?;
    guest.creds = pg.creds;
    guest.rlimits = pg.rlimits;
    guest.umask = pg.umask;
    // root
    let r = object(
        top.get("root")
            .ok_or_else(|| SpecError("config.json: root is missing".into()))?,
        "root",
    )?;
    only(r, "root", &["path", "readonly"])?;
    let root = in_bundle(
        bundle,
        &string(
            r.get("path")
                .ok_or_else(|| SpecError("config.json: root.path is missing".into()))?,
            "root.path",
        )?,
    );
    if !root.is_dir() {
        return err(format!(
            "config.json: root.path {}: not a directory",
            root.display()
        ));
    }
    guest.read_only_root = r.get("readonly").and_then(Value::as_bool) == Some(true);
    // mounts
    let mut binds = Vec::new();
    if let Some(m) = top.get("mounts") {
        let a = m
            .as_array()
            .ok_or_else(|| SpecError("config.json: mounts must be an array".into()))?;
        for (i, m) in a.iter().enumerate() {
            let at = format!("mounts[{i}]");
            let m = object(m, &at)?;
            only(
                m,
                &at,
                &[
                    "destination",
                    "type",
                    "source",
                    "options",
                    "uidMappings",
                    "gidMappings",
                ],
            )?;
            if m.contains_key("uidMappings") || m.contains_key("gidMappings") {
                return unsupported(
                    &format!("{at}.uidMappings"),
                    "id-mapped mounts are not implemented",
                );
            }
            let dest = string(
                m.get("destination").ok_or_else(|| {
                    SpecError(format!("config.json: {at}.destination is missing"))
                })?,
                &format!("{at}.destination"),
            )?;
            if !dest.starts_with('/') {
                return err(format!(
                    "config.json: {at}.destination {dest:?} must be an absolute path"
                ));
            }
            let kind = match m.get("type") {
                Some(t) => string(t, &format!("{at}.type"))?,
                None => String::new(),
            };
            let options = match m.get("options") {
                Some(o) => strings(o, &format!("{at}.options"))?,
                None => Vec::new(),
            };
            let source = match m.get("source") {
                Some(s) => string(s, &format!("{at}.source"))?,
                None => String::new(),
            };
            let read_only = options.iter().any(|o| o == "ro");
            let is_bind = kind == "bind" || options.iter().any(|o| o == "bind" || o == "rbind");
            let dest_trim = dest.trim_end_matches('/');
            if is_bind {
                let host = in_bundle(bundle, &source);
                let meta = std::fs::metadata(&host).map_err(|e| {
                    SpecError(format!("config.json: {at}.source {}: {e}", host.display()))
                })?;
                if meta.is_dir() {
                    binds.push(BindMount {
                        host,
                        guest: dest.as_bytes().to_vec(),
                        writable: !read_only,
                    });
                } else if meta.is_file() {
                    if meta.len() > MAX_FILE_COPY {
                        return unsupported(
                            &format!("{at}.source"),
                            "a single-file bind mount is copied into the guest, and this file is larger than 1 MiB",
                        );
                    }
                    let data = std::fs::read(&host).map_err(|e| {
                        SpecError(format!("config.json: {at}.source {}: {e}", host.display()))
                    })?;
                    use std::os::unix::fs::PermissionsExt;
                    let mode = meta.permissions().mode() & 0o7777;
                    guest.files.push((dest.as_bytes().to_vec(), data, mode));
                } else {
                    return unsupported(
                        &format!("{at}.source"),
                        "only directories and regular files can be bind mounted into the sandbox",
                    );
                }
                continue;
            }
            match (kind.as_str(), dest_trim) {
                ("proc", "/proc")
                | ("sysfs", "/sys")
                | ("devpts", "/dev/pts")
                | ("mqueue", "/dev/mqueue")
                | ("tmpfs", "/dev" | "/dev/shm" | "/tmp") => {}
                ("cgroup" | "cgroup2", _) => {}
                ("tmpfs", _) => {
                    let mode = options
                        .iter()
                        .find_map(|o| o.strip_prefix("mode="))
                        .and_then(|m| u32::from_str_radix(m, 8).ok())
                        .unwrap_or(0o1777);
                    guest
                        .tmpfs
                        .push((dest.as_bytes().to_vec(), mode & 0o7777, read_only));
                }
                ("proc" | "sysfs" | "devpts" | "mqueue", _) => {
                    return unsupported(
                        &format!("{at}.destination"),
                        &format!(
                            "a {kind} mount is only possible at its usual place (the sandbox's own)"
                        ),
                    );
                }
                _ => {
                    return unsupported(
                        &format!("{at}.type"),
                        &format!(
                            "mount type {kind:?} is not implemented (bind, tmpfs, proc, sysfs, devpts, mqueue and cgroup are)"
                        ),
                    );
                }
            }
        }
    }
    let hostname = match top.get("hostname") {
        Some(h) => Some(string(h, "hostname")?).filter(|h| !h.is_empty()),
        None => None,
    };
    if let Some(h) = &hostname
        && h.len() > 64
    {
        return err("config.json: hostname is longer than 64 bytes");
    }
    let annotations = match top.get("annotations") {
        Some(a) => object(a, "annotations")?.clone(),
        None => Map::new(),
    };
    guest.dirs.push(cwd.as_bytes().to_vec());
    Ok(Plan {
        args,
        env,
        cwd,
        terminal,
        console_size,
        root,
        binds,
        guest,
        hostname,
        annotations,
        memory_limit,
    })
}

/// A `process` object (config.json's, or exec's `--process` file).
#[derive(Clone, Debug)]
pub struct Process {
    /// args.
    pub args: Vec<String>,
    /// env.
    pub env: Vec<String>,
    /// cwd.
    pub cwd: String,
    /// terminal.
    pub terminal: bool,
    /// consoleSize (rows, columns).
    pub console_size: Option<(u16, u16)>,
    /// The credentials, limits and umask (in a [`GuestSetup`]).
    pub guest: GuestSetup,
}

/// Reads a `process` object.
pub fn process(p: &Map<String, Value>) -> Result<Process, SpecError> {
    let mut guest = GuestSetup::default();
    only(
        p,
        "process",
        &[
            "terminal",
            "consoleSize",
            "cwd",
            "env",
            "args",
            "rlimits",
            "apparmorProfile",
            "capabilities",
            "noNewPrivileges",
            "oomScoreAdj",
            "selinuxLabel",
            "user",
            "ioPriority",
            "scheduler",
            "execCPUAffinity",
        ],
    )?;
    let args = strings(
        p.get("args")
            .ok_or_else(|| SpecError("config.json: process.args is missing".into()))?,
        "process.args",
    )?;
    if args.is_empty() {
        return err("config.json: process.args is empty");
    }
    let env = match p.get("env") {
        Some(e) => strings(e, "process.env")?,
        None => Vec::new(),
    };
    let cwd = string(
        p.get("cwd")
            .ok_or_else(|| SpecError("config.json: process.cwd is missing".into()))?,
        "process.cwd",
    )?;
    if !cwd.starts_with('/') {
        return err(format!(
            "config.json: process.cwd {cwd:?} must be an absolute path"
        ));
    }
    let terminal = p.get("terminal").and_then(Value::as_bool).unwrap_or(false);
    let console_size = match p.get("consoleSize") {
        Some(c) => {
            let c = object(c, "process.consoleSize")?;
            let h = number(
                c.get("height").unwrap_or(&Value::from(0)),
                "process.consoleSize.height",
            )?;
            let w = number(
                c.get("width").unwrap_or(&Value::from(0)),
                "process.consoleSize.width",
            )?;
            Some((h.min(u16::MAX as u64) as u16, w.min(u16::MAX as u64) as u16))
        }
        None => None,
    };
    let mut creds = Creds::root();
    let mut uid = 0;
    if let Some(u) = p.get("user") {
        let u = object(u, "process.user")?;
        only(
            u,
            "process.user",
            &["uid", "gid", "umask", "additionalGids"],
        )?;
        uid = number(u.get("uid").unwrap_or(&Value::from(0)), "process.user.uid")? as u32;
        let gid = number(u.get("gid").unwrap_or(&Value::from(0)), "process.user.gid")? as u32;
        creds.uid = [uid; 4];
        creds.gid = [gid; 4];
        if let Some(g) = u.get("additionalGids") {
            let a = g.as_array().ok_or_else(|| {
                SpecError("config.json: process.user.additionalGids must be an array".into())
            })?;
            let mut groups = Vec::new();
            for (i, x) in a.iter().enumerate() {
                groups.push(number(x, &format!("process.user.additionalGids[{i}]"))? as u32);
            }
            groups.sort_unstable();
            groups.dedup();
            creds.groups = groups;
        }
        if let Some(m) = u.get("umask") {
            guest.umask = Some(number(m, "process.user.umask")? as u32 & 0o777);
        }
    }
    match p.get("capabilities") {
        Some(c) => {
            let c = object(c, "process.capabilities")?;
            only(
                c,
                "process.capabilities",
                &[
                    "bounding",
                    "effective",
                    "inheritable",
                    "permitted",
                    "ambient",
                ],
            )?;
            let get = |k: &str| match c.get(k) {
                Some(v) => cap_set(v, &format!("process.capabilities.{k}")),
                None => Ok(0),
            };
            creds.bounding = get("bounding")?;
            creds.effective = get("effective")?;
            creds.inheritable = get("inheritable")?;
            creds.permitted = get("permitted")?;
            creds.ambient = get("ambient")?;
        }
        None if uid != 0 => {
            creds.effective = 0;
            creds.permitted = 0;
        }
        None => {
            creds.effective = CAP_INIT;
            creds.permitted = CAP_INIT;
        }
    }
    creds.no_new_privs = p
        .get("noNewPrivileges")
        .and_then(Value::as_bool)
        .unwrap_or(false);
    guest.creds = Some(creds);
    if let Some(r) = p.get("rlimits") {
        let a = r
            .as_array()
            .ok_or_else(|| SpecError("config.json: process.rlimits must be an array".into()))?;
        for (i, l) in a.iter().enumerate() {
            let at = format!("process.rlimits[{i}]");
            let l = object(l, &at)?;
            only(l, &at, &["type", "soft", "hard"])?;
            let kind = string(
                l.get("type")
                    .ok_or_else(|| SpecError(format!("config.json: {at}.type is missing")))?,
                &format!("{at}.type"),
            )?;
            let res = RLIMIT_NAMES
                .iter()
                .position(|n| *n == kind)
                .ok_or_else(|| {
                    SpecError(format!("config.json: {at}.type: unknown limit {kind:?}"))
                })?;
            let soft = number(l.get("soft").unwrap_or(&Value::Null), &format!("{at}.soft"))?;
            let hard = number(l.get("hard").unwrap_or(&Value::Null), &format!("{at}.hard"))?;
            if soft > hard {
                return err(format!(
                    "config.json: {at}: soft limit {soft} is above the hard limit {hard}"
                ));
            }
            if res as u32 == crate::kernel::limits::resource::NOFILE
                && hard > crate::kernel::limits::NR_OPEN
            {
                return err(format!(
                    "config.json: {at}: RLIMIT_NOFILE hard limit {hard} is above {}",
                    crate::kernel::limits::NR_OPEN
                ));
            }
            guest.rlimits.push((res as u32, soft, hard));
        }
    }
    Ok(Process {
        args,
        env,
        cwd,
        terminal,
        console_size,
        guest,
    })
}

/// The default config.json of `sentry spec` (as runc's, with a busybox
/// shell): a root-owned `sh` on a terminal in `rootfs`.
pub fn default_config() -> Value {
    serde_json::json!({
        "ociVersion": OCI_VERSION,
        "process": {
            "terminal": true,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": [
                "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                "TERM=xterm"
            ],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "sentry",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
            {"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
             "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}
        ],
        "linux": {
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"},
                {"type": "uts"}, {"type": "mount"}, {"type": "cgroup"}
            ],
            "maskedPaths": ["/proc/acpi", "/proc/kcore", "/proc/keys", "/sys/firmware"],
            "readonlyPaths": ["/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"]
        }
    })
}

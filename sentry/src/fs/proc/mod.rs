//! The sentry's /proc, generated from its own kernel state, never the
//! host's: `/proc/<pid>` for every process of the sandbox (and
//! `task/<tid>` for its threads), `self`, `thread-self`, the system files
//! (meminfo, cpuinfo, stat, uptime, loadavg, version, filesystems,
//! mounts) and the few `/proc/sys` values programs read.
//!
//! * `view.rs`: snapshots of processes and of the sandbox ([`view::TaskView`],
//!   [`view::SystemView`]);
//! * `text.rs`: the text of each file as a pure function of those, in
//!   Linux's formats;
//! * this file: the tree, from a path to a [`Node`].

pub mod text;
pub mod view;

use std::sync::{Arc, OnceLock};

use super::nodes::{DT_DIR, DT_LNK, DT_REG, Entry, Found, Node};
use crate::errno::Errno;
use crate::kernel::Kernel;
use crate::kernel::limits;
use crate::kernel::task::Task;
use text::MountView;

/// Files of /proc itself (besides the pid directories).
const ROOT_FILES: [&str; 7] = [
    "cpuinfo",
    "filesystems",
    "loadavg",
    "meminfo",
    "stat",
    "uptime",
    "version",
];

/// Files of a process (and thread) directory.
const PID_FILES: [&str; 12] = [
    "cmdline",
    "comm",
    "environ",
    "limits",
    "maps",
    "mountinfo",
    "mounts",
    "oom_score",
    "oom_score_adj",
    "stat",
    "statm",
    "status",
];

/// Links of a process (and thread) directory.
const PID_LINKS: [&str; 3] = ["cwd", "exe", "root"];

/// The sandbox's boot id: random, fixed for the sandbox's life.
fn boot_id() -> &'static str {
    static ID: OnceLock<String> = OnceLock::new();
    ID.get_or_init(random_uuid)
}

/// A random (version 4) UUID, as /proc/sys/kernel/random/uuid gives.
pub fn random_uuid() -> String {
    let mut b = [0u8; 16];
    crate::host::random(&mut b);
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// The sandbox's mounts as `/proc/<pid>/mounts` and `mountinfo` show them
/// (the VFS's mount table).
pub fn mount_table(kernel: &Kernel) -> Vec<MountView> {
    kernel
        .vfs
        .mounts()
        .into_iter()
        .map(|m| MountView {
            id: m.id as u32,
            parent: m.parent_id as u32,
            dev: (
                ((m.dev >> 8) & 0xfff) as u32,
                ((m.dev & 0xff) | ((m.dev >> 12) & 0xfff00)) as u32,
            ),
            point: String::from_utf8_lossy(&m.target).into_owned(),
            fstype: m.fs_type,
            // A bind's source is a host path: not the guest's to see.
            source: if m.source.starts_with('/') {
                "none".into()
            } else {
                m.source
            },
            read_only: m.read_only,
            options: String::new(),
        })
        .collect()
}

fn num(s: &[u8]) -> Option<i32> {
    let s = std::str::from_utf8(s).ok()?;
    if s.is_empty() || s.starts_with('+') || (s.len() > 1 && s.starts_with('0')) {
        return None;
    }
    s.parse().ok().filter(|n| *n > 0)
}

/// Looks up `rest` (the components after `proc`) for `task`.
pub fn lookup(task: &Arc<Task>, rest: &[Vec<u8>]) -> Result<Found, Errno> {
    let kernel = &task.kernel;
    let found = |node, perm| Ok(Found::new(node, perm));
    let text = |s: String| found(Node::File(s.into_bytes()), 0o444);
    let Some(first) = rest.first() else {
        let mut e = vec![
            Entry::new("self", DT_LNK),
            Entry::new("thread-self", DT_LNK),
            Entry::new("mounts", DT_LNK),
            Entry::new("sys", DT_DIR),
            Entry::new("sysvipc", DT_DIR),
            Entry::new("net", DT_DIR),
        ];
        e.extend(ROOT_FILES.iter().map(|f| Entry::new(*f, DT_REG)));
        let mut pids: Vec<i32> = kernel.table.lock().procs.keys().copied().collect();
        pids.sort_unstable();
        e.extend(pids.iter().map(|p| Entry::new(p.to_string(), DT_DIR)));
        return found(Node::Dir(e), 0o555);
    };
    if rest.len() == 1 {
        let sys = || view::SystemView::of(kernel, false);
        match first.as_slice() {
            b"self" => return found(Node::Link(task.tgid().to_string().into_bytes()), 0o777),
            b"thread-self" => {
                let t = format!("{}/task/{}", task.tgid(), task.tid);
                return found(Node::Link(t.into_bytes()), 0o777);
            }
            b"mounts" => return found(Node::Link(b"self/mounts".to_vec()), 0o777),
            b"cpuinfo" => return text(text::cpuinfo(&view::SystemView::of(kernel, true))),
            b"filesystems" => return text(text::filesystems()),
            b"loadavg" => return text(text::loadavg(&sys())),
            b"meminfo" => return text(text::meminfo(&sys())),
            b"stat" => return text(text::system_stat(&sys())),
            b"uptime" => return text(text::uptime(&sys())),
            b"version" => return text(text::version()),
            _ => {}
        }
    }
    if first == b"sys" {
        return lookup_sys(&rest[1..]);
    }
    if first == b"sysvipc" {
        let ipc = &kernel.ipc;
        return match rest.get(1).map(Vec::as_slice) {
            None => found(
                Node::Dir(vec![
                    Entry::new("msg", DT_REG),
                    Entry::new("sem", DT_REG),
                    Entry::new("shm", DT_REG),
                ]),
                0o555,
            ),
            Some(_) if rest.len() > 2 => Err(Errno::ENOTDIR),
            Some(b"msg") => text(crate::kernel::ipc::proc::msg(ipc)),
            Some(b"sem") => text(crate::kernel::ipc::proc::sem(ipc)),
            Some(b"shm") => text(crate::kernel::ipc::proc::shm(ipc)),
            Some(_) => Err(Errno::ENOENT),
        };
    }
    if first == b"net" {
        // The sandbox's one network namespace, whatever the process.
        return match rest.get(1) {
            None => found(
                Node::Dir(
                    ["dev", "tcp", "tcp6", "udp", "udp6"]
                        .iter()
                        .map(|n| Entry::new(*n, DT_REG))
                        .collect(),
                ),
                0o555,
            ),
            Some(name) if rest.len() == 2 => {
                text(crate::fs::inet::proc_net(name).ok_or(Errno::ENOENT)?)
            }
            Some(_) => Err(Errno::ENOENT),
        };
    }
    let pid = num(first).ok_or(Errno::ENOENT)?;
    let f = view::find(kernel, pid, None).ok_or(Errno::ENOENT)?;
    process(kernel, task.tgid(), f, &rest[1..], false)
}

/// /proc/sys.
fn lookup_sys(rest: &[Vec<u8>]) -> Result<Found, Errno> {
    let names: Vec<&[u8]> = rest.iter().map(Vec::as_slice).collect();
    let dir = |e: &[(&str, u8)]| Node::Dir(e.iter().map(|(n, k)| Entry::new(*n, *k)).collect());
    let file = |s: String| Node::File(s.into_bytes());
    let node = match names.as_slice() {
        [] => dir(&[("fs", DT_DIR), ("kernel", DT_DIR), ("vm", DT_DIR)]),
        [b"fs"] => dir(&[("inotify", DT_DIR), ("mqueue", DT_DIR)]),
        [b"fs", b"mqueue"] => dir(&[
            ("msg_default", DT_REG),
            ("msg_max", DT_REG),
            ("msgsize_default", DT_REG),
            ("msgsize_max", DT_REG),
            ("queues_max", DT_REG),
        ]),
        [b"fs", b"mqueue", name] => {
            file(crate::kernel::ipc::mqueue::sysctl(name).ok_or(Errno::ENOENT)?)
        }
        [b"fs", b"inotify"] => dir(&[
            ("max_queued_events", DT_REG),
            ("max_user_instances", DT_REG),
            ("max_user_watches", DT_REG),
        ]),
        [b"fs", b"inotify", name] => file(crate::fs::inotify::sysctl(name).ok_or(Errno::ENOENT)?),
        [b"kernel"] => dir(&[
            ("cap_last_cap", DT_REG),
            ("hostname", DT_REG),
            ("msgmax", DT_REG),
            ("msgmnb", DT_REG),
            ("msgmni", DT_REG),
            ("ngroups_max", DT_REG),
            ("osrelease", DT_REG),
            ("ostype", DT_REG),
            ("pid_max", DT_REG),
            ("random", DT_DIR),
            ("sem", DT_REG),
            ("shmall", DT_REG),
            ("shmmax", DT_REG),
            ("shmmni", DT_REG),
            ("version", DT_REG),
        ]),
        [b"kernel", b"cap_last_cap"] => file(format!("{}\n", crate::kernel::creds::CAP_LAST_CAP)),
        [b"kernel", b"hostname"] => file(format!("{}\n", limits::hostname())),
        [b"kernel", b"ngroups_max"] => file("65536\n".into()),
        [b"kernel", b"osrelease"] => file(format!("{}\n", limits::RELEASE)),
        [b"kernel", b"ostype"] => file("Linux\n".into()),
        [b"kernel", b"pid_max"] => file(format!("{}\n", crate::kernel::PID_MAX)),
        [b"kernel", b"version"] => file(format!("{}\n", limits::VERSION)),
        [
            b"kernel",
            b"sem" | b"shmall" | b"shmmax" | b"shmmni" | b"msgmax" | b"msgmnb" | b"msgmni",
        ] => file(crate::kernel::ipc::sysctl(names[1])),
        [b"kernel", b"random"] => dir(&[("boot_id", DT_REG), ("uuid", DT_REG)]),
        [b"kernel", b"random", b"boot_id"] => file(format!("{}\n", boot_id())),
        [b"kernel", b"random", b"uuid"] => file(format!("{}\n", random_uuid())),
        [b"vm"] => dir(&[("max_map_count", DT_REG), ("overcommit_memory", DT_REG)]),
        [b"vm", b"max_map_count"] => file(format!("{}\n", crate::mm::MAX_MAP_COUNT)),
        [b"vm", b"overcommit_memory"] => file("0\n".into()),
        _ => return Err(Errno::ENOENT),
    };
    let perm = if matches!(node, Node::Dir(_)) {
        0o555
    } else {
        0o444
    };
    Ok(Found::new(node, perm))
}

/// A process directory (`thread`: a `task/<tid>` directory) and what is
/// below it.
fn process(
    kernel: &Arc<Kernel>,
    viewer: i32,
    f: view::Found,
    rest: &[Vec<u8>],
    thread: bool,
) -> Result<Found, Errno> {
    let found = |node, perm| Ok(Found::new(node, perm));
    let text = |s: String| found(Node::File(s.into_bytes()), 0o444);
    let mm = f.task.as_ref().and_then(|t| t.mm.lock().clone());
    let files = f.task.as_ref().map(|t| t.files.lock().clone());
    let names: Vec<&[u8]> = rest.iter().map(Vec::as_slice).collect();
    match names.as_slice() {
        [] => {
            let mut e: Vec<Entry> = vec![Entry::new("fd", DT_DIR), Entry::new("fdinfo", DT_DIR)];
            if !thread {
                e.push(Entry::new("task", DT_DIR));
            }
            e.extend(PID_FILES.iter().map(|n| Entry::new(*n, DT_REG)));
            e.extend(PID_LINKS.iter().map(|n| Entry::new(*n, DT_LNK)));
            found(Node::Dir(e), 0o555)
        }
        [b"task"] if !thread => {
            let mut tids = f.view.threads.clone();
            if tids.is_empty() {
                tids.push(f.view.tgid);
            }
            tids.sort_unstable();
            let e = tids
                .iter()
                .map(|t| Entry::new(t.to_string(), DT_DIR))
                .collect();
            found(Node::Dir(e), 0o555)
        }
        [b"task", tid, tail @ ..] if !thread => {
            let tid = num(tid).ok_or(Errno::ENOENT)?;
            let t = view::find(kernel, f.view.tgid, Some(tid)).ok_or(Errno::ENOENT)?;
            let depth = rest.len() - tail.len();
            process(kernel, viewer, t, &rest[depth..], true)
        }
        [b"fd"] | [b"fdinfo"] => {
            let kind = if names[0] == b"fd" { DT_LNK } else { DT_REG };
            let e = files
                .map(|t| t.entries())
                .unwrap_or_default()
                .iter()
                .map(|(fd, _, _)| Entry::new(fd.to_string(), kind))
                .collect();
            found(Node::Dir(e), 0o500)
        }
        [b"fd", n] | [b"fdinfo", n] => {
            let fd = std::str::from_utf8(n)
                .ok()
                .and_then(|s| s.parse::<i32>().ok())
                .filter(|n| *n >= 0)
                .ok_or(Errno::ENOENT)?;
            let table = files.ok_or(Errno::ENOENT)?;
            let (_, file, cloexec) = table
                .entries()
                .into_iter()
                .find(|e| e.0 == fd)
                .ok_or(Errno::ENOENT)?;
            if names[0] == b"fd" {
                let text = file.ops.link_target().into_bytes();
                // Linux: r-x for reading, -wx for writing, nothing for
                // O_PATH (neither).
                let perm = match file.status() & (3 | 0o10000000) {
                    0 => 0o500,
                    1 => 0o300,
                    2 => 0o700,
                    _ => 0,
                };
                let owner = f.task.as_ref().map(Arc::downgrade).unwrap_or_default();
                let place = super::nodes::fd_place(file, owner);
                found(
                    Node::Magic {
                        text,
                        place,
                        size: 64,
                    },
                    perm,
                )
            } else {
                text(fdinfo(&file, cloexec))
            }
        }
        [b"stat"] => text(text::stat(&f.view, mm.map(|m| m.vm_info()).as_ref())),
        [b"statm"] => text(text::statm(mm.map(|m| m.vm_info()).as_ref())),
        [b"status"] => text(text::status(
            &f.view,
            mm.map(|m| m.vm_info()).as_ref(),
            view::vcpus(),
        )),
        [b"cmdline"] => found(
            Node::File(mm.map(|m| m.cmdline()).unwrap_or_default()),
            0o444,
        ),
        [b"environ"] => found(
            Node::File(mm.map(|m| m.environ()).unwrap_or_default()),
            0o400,
        ),
        [b"comm"] => {
            // Writable by the process itself (comm_write): sets the name
            // of the thread the directory shows.
            let text = format!("{}\n", f.view.comm).into_bytes();
            let target = f.task.as_ref().map(Arc::downgrade);
            let same_process = viewer == f.view.tgid;
            let hook: super::nodes::WriteHook = Box::new(move |buf: &[u8]| {
                let t = target
                    .as_ref()
                    .and_then(std::sync::Weak::upgrade)
                    .ok_or(Errno::ESRCH)?;
                if !same_process {
                    return Err(Errno::EINVAL);
                }
                t.set_comm(&buf[..buf.len().min(15)]);
                Ok(buf.len())
            });
            found(Node::Writable(text, hook), 0o644)
        }
        [b"maps"] => text(mm.map(|m| m.maps()).unwrap_or_default()),
        [b"limits"] => text(text::limits(&f.tg.limits.lock().for_proc())),
        [b"mounts"] => text(text::mounts(&mount_table(kernel))),
        [b"mountinfo"] => text(text::mountinfo(&mount_table(kernel))),
        [b"oom_score_adj"] => text("0\n".into()),
        [b"oom_score"] => {
            // Linux's badness: resident and page-table pages, in
            // thousandths of the memory there is.
            let total = (kernel.machine.frames().data_limit_bytes() / 4096).max(1);
            let points = mm.map_or(0, |m| {
                let v = m.vm_info();
                (v.rss_pages + v.table_pages) * 1000 / total
            });
            text(format!("{}\n", points.min(1000)))
        }
        [b"exe"] => {
            let (Some(m), Some(t)) = (mm, &f.task) else {
                return Err(Errno::ENOENT);
            };
            let owner = Arc::downgrade(t);
            let place: super::nodes::PlaceHook = Arc::new(move |_| {
                let t = owner.upgrade().ok_or(Errno::ENOENT)?;
                super::sentryfs::exe_place(&t)
            });
            found(
                Node::Magic {
                    text: m.exe(),
                    place,
                    size: 0,
                },
                0o777,
            )
        }
        [b"cwd"] => {
            let t = f.task.as_ref().ok_or(Errno::ENOENT)?;
            let vfs = &kernel.vfs;
            let cwd = t.fs.lock().cwd.clone().unwrap_or_else(|| vfs.root());
            let text = vfs.path_name(&cwd, &vfs.root());
            let place: super::nodes::PlaceHook = Arc::new(move |_| Ok(cwd.clone()));
            found(
                Node::Magic {
                    text,
                    place,
                    size: 0,
                },
                0o777,
            )
        }
        [b"root"] => {
            f.task.as_ref().ok_or(Errno::ENOENT)?;
            let root = kernel.vfs.root();
            let place: super::nodes::PlaceHook = Arc::new(move |_| Ok(root.clone()));
            found(
                Node::Magic {
                    text: b"/".to_vec(),
                    place,
                    size: 0,
                },
                0o777,
            )
        }
        _ => Err(Errno::ENOENT),
    }
}

/// `/proc/<pid>/fdinfo/<n>`: position, flags (with O_CLOEXEC as the
/// descriptor has it), mount id and inode, then the file's own lines.
fn fdinfo(file: &crate::fs::OpenFile, cloexec: bool) -> String {
    const O_LARGEFILE: u32 = 0o100000;
    let pos = file.ops.seek(0, 1).unwrap_or(0);
    let mut flags = file.status();
    if cloexec {
        flags |= crate::fs::O_CLOEXEC;
    }
    let place = file.ops.vfs_path();
    if place.is_some() {
        // Files opened by path get O_LARGEFILE on x86-64 (pipes and
        // anonymous files do not).
        flags |= O_LARGEFILE;
    }
    let st = file.ops.stat();
    // Pipes and anonymous files are on no mount of the tree (Linux's
    // pipefs and anon_inodefs are internal mounts).
    let mnt = place.map_or(0, |p| p.mount.id);
    format!(
        "pos:\t{pos}\nflags:\t0{flags:o}\nmnt_id:\t{mnt}\nino:\t{}\n{}",
        st.ino,
        file.ops.fdinfo()
    )
}

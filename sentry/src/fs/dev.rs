//! The sentry's /dev and /sys: devices made by the sentry (null, zero,
//! full, random, urandom, and tty: the caller's controlling terminal), the standard links (`fd`, `stdin`,
//! `stdout`, `stderr`), `shm`, `mqueue` (the sandbox's POSIX message
//! queues, each a file that reads as Linux's status line; made and removed
//! with mq_open and mq_unlink only), `pts` (a mount of its own holding `0`,
//! the sandbox's terminal, when it has one), and /sys's CPU lists. No host
//! device is ever opened.

use std::sync::Arc;

use super::nodes::{DT_CHR, DT_DIR, DT_LNK, DT_REG, Entry, Found, Node};
use super::rootfs::DevNull;
use super::{FileOps, Stat, poll};
use crate::errno::Errno;
use crate::kernel::task::Task;
use crate::kernel::wait::Blocker;

/// A device's stat: character device `(major, minor)`, mode 0666.
fn dev_stat(major: u32, minor: u32, ino: u64) -> Stat {
    Stat {
        mode: 0o020666,
        rdev: (u64::from(major) << 8) | u64::from(minor),
        ino,
        nlink: 1,
        blksize: 4096,
        ..Default::default()
    }
}

/// What a memory device does (Linux's drivers/char/mem.c).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemDevice {
    /// /dev/zero: reads zeros, swallows writes.
    Zero,
    /// /dev/full: reads zeros, writes fail with ENOSPC.
    Full,
    /// /dev/random: the sentry's randomness (never blocks, as Linux ≥ 5.6
    /// once seeded).
    Random,
    /// /dev/urandom.
    Urandom,
}

impl MemDevice {
    fn numbers(self) -> (u32, u32, u64) {
        match self {
            MemDevice::Zero => (1, 5, 5),
            MemDevice::Full => (1, 7, 7),
            MemDevice::Random => (1, 8, 8),
            MemDevice::Urandom => (1, 9, 9),
        }
    }

    fn name(self) -> &'static str {
        match self {
            MemDevice::Zero => "/dev/zero",
            MemDevice::Full => "/dev/full",
            MemDevice::Random => "/dev/random",
            MemDevice::Urandom => "/dev/urandom",
        }
    }
}

impl FileOps for MemDevice {
    fn read(&self, buf: &mut [u8], _: bool, _: &dyn Blocker) -> Result<usize, Errno> {
        match self {
            MemDevice::Zero | MemDevice::Full => buf.fill(0),
            MemDevice::Random | MemDevice::Urandom => {
                if !crate::host::random(buf) {
                    return Err(Errno::EIO);
                }
            }
        }
        Ok(buf.len())
    }

    fn write(&self, buf: &[u8], _: bool, _: &dyn Blocker) -> Result<usize, Errno> {
        match self {
            MemDevice::Full => Err(Errno::ENOSPC),
            // Writes to the random devices mix into the pool on Linux;
            // the sentry's randomness comes from the host, so they are
            // accepted and dropped.
            _ => Ok(buf.len()),
        }
    }

    fn poll(&self) -> u16 {
        poll::POLLIN | poll::POLLOUT
    }

    fn stat(&self) -> Stat {
        let (major, minor, ino) = self.numbers();
        dev_stat(major, minor, ino)
    }

    fn seek(&self, _: i64, _: u32) -> Result<u64, Errno> {
        // Linux's memory devices accept any seek and stay at 0.
        Ok(0)
    }

    fn pread(&self, buf: &mut [u8], _: u64) -> Result<usize, Errno> {
        self.read(buf, false, &NoBlock)
    }

    fn maps_as_anonymous(&self) -> bool {
        *self == MemDevice::Zero
    }

    fn describe(&self) -> String {
        self.name().into()
    }
}

/// A blocker for reads that never block.
struct NoBlock;

impl Blocker for NoBlock {
    fn waiter(&self) -> &Arc<crate::kernel::wait::Waiter> {
        static W: std::sync::OnceLock<Arc<crate::kernel::wait::Waiter>> =
            std::sync::OnceLock::new();
        W.get_or_init(Arc::default)
    }

    fn check_interrupt(&self) -> Result<(), Errno> {
        Ok(())
    }
}

fn open_null(_: &Task) -> Result<Box<dyn FileOps>, Errno> {
    Ok(Box::new(DevNull))
}
fn open_zero(_: &Task) -> Result<Box<dyn FileOps>, Errno> {
    Ok(Box::new(MemDevice::Zero))
}
fn open_full(_: &Task) -> Result<Box<dyn FileOps>, Errno> {
    Ok(Box::new(MemDevice::Full))
}
fn open_random(_: &Task) -> Result<Box<dyn FileOps>, Errno> {
    Ok(Box::new(MemDevice::Random))
}
fn open_urandom(_: &Task) -> Result<Box<dyn FileOps>, Errno> {
    Ok(Box::new(MemDevice::Urandom))
}

/// /dev/tty: the caller's controlling terminal (Linux's
/// tty_open_current_tty), ENXIO without one.
fn open_tty(task: &Task) -> Result<Box<dyn FileOps>, Errno> {
    let term = crate::kernel::tty::controlling(task).ok_or(Errno::ENXIO)?;
    Ok(Box::new(super::tty::TerminalFile::dev_tty(term)))
}

/// The device number of /dev/pts (a mount of its own, as devpts).
pub const DEVPTS_DEV: u64 = 0x19;
/// The pts number of the sandbox's terminal: there is at most one.
const TERMINAL_PTS: &[u8] = b"0";
/// `/dev/pts/N`'s major (UNIX98_PTY_SLAVE_MAJOR).
const PTS_MAJOR: u32 = 136;

/// What stat shows for the sandbox's terminal, through any descriptor of
/// it and at `/dev/pts/0` alike (ttyname compares the two): device,
/// inode and device number.
pub fn terminal_identity() -> (u64, u64, u64) {
    (
        DEVPTS_DEV,
        super::synthetic::child_ino(1, TERMINAL_PTS),
        u64::from(PTS_MAJOR) << 8,
    )
}

/// `/dev/pts/0`: the sandbox's terminal (ENXIO when it has none).
fn open_pts(task: &Task) -> Result<Box<dyn FileOps>, Errno> {
    let term = task.kernel.terminal.get().ok_or(Errno::ENXIO)?;
    Ok(Box::new(super::tty::TerminalFile::pts(Arc::clone(term))))
}

/// Looks up `rest` (the components after `dev`) for `task` (None: the
/// sentry, at set-up).
pub fn lookup_dev(task: Option<&Arc<Task>>, rest: &[Vec<u8>]) -> Result<Found, Errno> {
    let names: Vec<&[u8]> = rest.iter().map(Vec::as_slice).collect();
    let has_terminal = task.is_some_and(|t| t.kernel.terminal.get().is_some());
    let (node, perm) = match names.as_slice() {
        [b"pts"] => {
            let mut e = Vec::new();
            if has_terminal {
                e.push(Entry::new("0", DT_CHR));
            }
            (Node::Dir(e), 0o755)
        }
        [b"pts", n] if *n == TERMINAL_PTS && has_terminal => {
            (Node::Device((PTS_MAJOR, 0), open_pts), 0o620)
        }
        [] => {
            let e = vec![
                Entry::new("fd", DT_LNK),
                Entry::new("full", DT_CHR),
                Entry::new("mqueue", DT_DIR),
                Entry::new("null", DT_CHR),
                Entry::new("pts", DT_DIR),
                Entry::new("random", DT_CHR),
                Entry::new("shm", DT_DIR),
                Entry::new("stderr", DT_LNK),
                Entry::new("stdin", DT_LNK),
                Entry::new("stdout", DT_LNK),
                Entry::new("tty", DT_CHR),
                Entry::new("urandom", DT_CHR),
                Entry::new("zero", DT_CHR),
            ];
            (Node::Dir(e), 0o755)
        }
        [b"null"] => (Node::Device((1, 3), open_null), 0o666),
        [b"zero"] => (Node::Device((1, 5), open_zero), 0o666),
        [b"full"] => (Node::Device((1, 7), open_full), 0o666),
        [b"random"] => (Node::Device((1, 8), open_random), 0o666),
        [b"urandom"] => (Node::Device((1, 9), open_urandom), 0o666),
        [b"tty"] => (Node::Device((5, 0), open_tty), 0o666),
        [b"fd"] => (Node::Link(b"/proc/self/fd".to_vec()), 0o777),
        [b"stdin"] => (Node::Link(b"/proc/self/fd/0".to_vec()), 0o777),
        [b"stdout"] => (Node::Link(b"/proc/self/fd/1".to_vec()), 0o777),
        [b"stderr"] => (Node::Link(b"/proc/self/fd/2".to_vec()), 0o777),
        // Where the tmpfs of /dev/shm is mounted.
        [b"shm"] => (Node::Dir(Vec::new()), 0o1777),
        // The mqueue file system: a file per queue.
        [b"mqueue"] => {
            let names: Vec<Entry> = task
                .map(|t| {
                    let names = t.kernel.ipc.mqueue.names.lock();
                    names
                        .keys()
                        .map(|n| Entry::new(n.clone(), DT_REG))
                        .collect()
                })
                .unwrap_or_default();
            (Node::Dir(names), 0o1777)
        }
        [b"mqueue", name] => {
            let t = task.ok_or(Errno::ENOENT)?;
            let q = t
                .kernel
                .ipc
                .mqueue
                .names
                .lock()
                .get(*name)
                .cloned()
                .ok_or(Errno::ENOENT)?;
            (Node::File(q.status().into_bytes()), q.mode & 0o7777)
        }
        _ => return Err(Errno::ENOENT),
    };
    Ok(Found::new(node, perm))
}

/// Looks up `rest` (the components after `sys`): only the CPU lists.
pub fn lookup_sys(rest: &[Vec<u8>]) -> Result<Found, Errno> {
    let ncpu = super::proc::view::vcpus();
    let list = format!("{}\n", super::proc::text::cpu_list(ncpu));
    let names: Vec<&[u8]> = rest.iter().map(Vec::as_slice).collect();
    let dir = |e: Vec<Entry>| (Node::Dir(e), 0o755);
    let cpu_dir = |name: &[u8]| {
        name.strip_prefix(b"cpu")
            .and_then(|n| std::str::from_utf8(n).ok())
            .and_then(|n| n.parse::<usize>().ok())
            .is_some_and(|n| n < ncpu && name.len() > 3 && (name[3] != b'0' || name.len() == 4))
    };
    let (node, perm) = match names.as_slice() {
        [] => dir(vec![Entry::new("devices", DT_DIR)]),
        [b"devices"] => dir(vec![Entry::new("system", DT_DIR)]),
        [b"devices", b"system"] => dir(vec![Entry::new("cpu", DT_DIR)]),
        [b"devices", b"system", b"cpu"] => {
            let mut e = vec![
                Entry::new("online", DT_REG),
                Entry::new("possible", DT_REG),
                Entry::new("present", DT_REG),
            ];
            e.extend((0..ncpu).map(|i| Entry::new(format!("cpu{i}"), DT_DIR)));
            dir(e)
        }
        [
            b"devices",
            b"system",
            b"cpu",
            b"online" | b"possible" | b"present",
        ] => (Node::File(list.into_bytes()), 0o444),
        [b"devices", b"system", b"cpu", c] if cpu_dir(c) => dir(Vec::new()),
        _ => return Err(Errno::ENOENT),
    };
    Ok(Found::new(node, perm))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_devices_behave_as_linux() {
        let mut buf = [7u8; 64];
        assert_eq!(MemDevice::Zero.read(&mut buf, false, &NoBlock), Ok(64));
        assert!(buf.iter().all(|b| *b == 0));
        assert_eq!(MemDevice::Zero.write(b"abc", false, &NoBlock), Ok(3));
        assert_eq!(MemDevice::Full.read(&mut buf, false, &NoBlock), Ok(64));
        assert_eq!(
            MemDevice::Full.write(b"abc", false, &NoBlock),
            Err(Errno::ENOSPC)
        );
        let mut a = [0u8; 32];
        let mut b = [0u8; 32];
        MemDevice::Urandom.read(&mut a, false, &NoBlock).unwrap();
        MemDevice::Random.read(&mut b, false, &NoBlock).unwrap();
        assert_ne!(a, b);
        assert_ne!(a, [0u8; 32]);
        let st = MemDevice::Zero.stat();
        assert_eq!((st.mode, st.rdev), (0o020666, 0x105));
        assert_eq!(MemDevice::Full.stat().rdev, 0x107);
    }

    #[test]
    fn sys_cpu_lists_match_the_vcpus() {
        let f = lookup_sys(&[
            b"devices".to_vec(),
            b"system".to_vec(),
            b"cpu".to_vec(),
            b"online".to_vec(),
        ])
        .unwrap();
        let Node::File(t) = f.node else {
            panic!("a file")
        };
        let n = super::super::proc::view::vcpus();
        let want = if n == 1 {
            "0\n".to_string()
        } else {
            format!("0-{}\n", n - 1)
        };
        assert_eq!(String::from_utf8(t).unwrap(), want);
        let cpu = |c: &str| {
            lookup_sys(&[
                b"devices".to_vec(),
                b"system".to_vec(),
                b"cpu".to_vec(),
                c.as_bytes().to_vec(),
            ])
            .is_ok()
        };
        assert!(cpu("cpu0"));
        assert!(!cpu(&format!("cpu{n}")));
        assert!(!cpu("cpu00"));
    }
}

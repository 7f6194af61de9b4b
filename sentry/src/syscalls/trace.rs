//! `--strace`: one line per syscall on stderr, strace-like: the pid, the
//! name, decoded arguments, and the result or the errno's name.

use crate::errno::Errno;
use crate::kernel::task::{SysError, SysResult, TaskCtx};

use super::{Arg, Ret};

fn quoted(t: &TaskCtx, addr: u64, len: u64) -> String {
    let n = len.min(32) as usize;
    let mut buf = vec![0u8; n];
    if t.mm().read(addr, &mut buf).is_err() {
        return format!("{addr:#x}");
    }
    let mut s = String::from("\"");
    for b in &buf {
        match b {
            b'\n' => s.push_str("\\n"),
            b'\t' => s.push_str("\\t"),
            b'"' => s.push_str("\\\""),
            b'\\' => s.push_str("\\\\"),
            0x20..=0x7e => s.push(*b as char),
            _ => s.push_str(&format!("\\{b:o}")),
        }
    }
    s.push('"');
    if len as usize > n {
        s.push_str("...");
    }
    s
}

fn cstring(t: &TaskCtx, addr: u64) -> String {
    match t.mm().read_cstring(addr, 256) {
        Ok(b) => format!("{:?}", String::from_utf8_lossy(&b)),
        Err(_) => format!("{addr:#x}"),
    }
}

/// clone's flags as strace shows them: `CLONE_VM|CLONE_FS|...|SIGCHLD`.
fn clone_flags(f: u64) -> String {
    use crate::kernel::clone::flags::*;
    const NAMES: [(u64, &str); 22] = [
        (CLONE_VM, "CLONE_VM"),
        (CLONE_FS, "CLONE_FS"),
        (CLONE_FILES, "CLONE_FILES"),
        (CLONE_SIGHAND, "CLONE_SIGHAND"),
        (CLONE_PIDFD, "CLONE_PIDFD"),
        (CLONE_PTRACE, "CLONE_PTRACE"),
        (CLONE_VFORK, "CLONE_VFORK"),
        (CLONE_PARENT, "CLONE_PARENT"),
        (CLONE_THREAD, "CLONE_THREAD"),
        (CLONE_NEWNS, "CLONE_NEWNS"),
        (CLONE_SYSVSEM, "CLONE_SYSVSEM"),
        (CLONE_SETTLS, "CLONE_SETTLS"),
        (CLONE_PARENT_SETTID, "CLONE_PARENT_SETTID"),
        (CLONE_CHILD_CLEARTID, "CLONE_CHILD_CLEARTID"),
        (CLONE_DETACHED, "CLONE_DETACHED"),
        (CLONE_UNTRACED, "CLONE_UNTRACED"),
        (CLONE_CHILD_SETTID, "CLONE_CHILD_SETTID"),
        (CLONE_NEWCGROUP, "CLONE_NEWCGROUP"),
        (CLONE_NEWUTS, "CLONE_NEWUTS"),
        (CLONE_NEWIPC, "CLONE_NEWIPC"),
        (CLONE_NEWUSER, "CLONE_NEWUSER"),
        (CLONE_NEWPID, "CLONE_NEWPID"),
    ];
    let mut parts: Vec<String> = NAMES
        .iter()
        .filter(|(bit, _)| f & bit != 0)
        .map(|(_, n)| (*n).to_string())
        .collect();
    let known: u64 = NAMES.iter().map(|(b, _)| b).fold(CSIGNAL, |acc, b| acc | b);
    if f & !known & 0xffff_ffff != 0 {
        parts.push(format!("{:#x}", f & !known & 0xffff_ffff));
    }
    let sig = (f & CSIGNAL) as i32;
    if sig != 0 {
        parts.push(crate::kernel::signal::name(sig));
    }
    if parts.is_empty() {
        "0".into()
    } else {
        parts.join("|")
    }
}

/// The argument formats of a number the table does not implement: six
/// raw registers.
const UNKNOWN: &[Arg] = &[Arg::Raw; 6];

fn arg(t: &TaskCtx, kind: Arg, a: &[u64; 6], i: usize) -> String {
    let v = a[i];
    match kind {
        Arg::Raw if v < 4096 => format!("{v}"),
        Arg::Raw | Arg::Hex => format!("{v:#x}"),
        Arg::Int => format!("{}", v as i64),
        Arg::Fd | Arg::Pid => format!("{}", v as i32),
        Arg::DirFd => match v as i32 {
            -100 => "AT_FDCWD".to_string(),
            fd => fd.to_string(),
        },
        Arg::Len => format!("{v}"),
        Arg::Path => cstring(t, v),
        Arg::Buf(len) => quoted(t, v, a[len as usize]),
        Arg::Sig => crate::kernel::signal::name(v as i32),
        Arg::CloneFlags => clone_flags(v),
    }
}

/// Formats the call before it runs (the buffer of a write is shown then),
/// each argument as the syscall table says.
pub fn enter(t: &TaskCtx, nr: u64, a: [u64; 6]) -> String {
    let name = super::name(nr);
    let kinds = super::entry(nr)
        .and_then(|e| e.imp.as_ref())
        .map_or(UNKNOWN, |imp| imp.args);
    let args = kinds
        .iter()
        .enumerate()
        .map(|(i, &k)| arg(t, k, &a, i))
        .collect::<Vec<_>>()
        .join(", ");
    format!("[pid {}] {name}({args})", t.task.tid)
}

/// Prints the line with the result.
pub fn exit(t: &TaskCtx, nr: u64, a: [u64; 6], line: String, r: &SysResult) {
    let ret = super::entry(nr)
        .and_then(|e| e.imp.as_ref())
        .map_or(Ret::Int, |imp| imp.ret);
    let res = match r {
        Ok(v) => match ret {
            Ret::Filled(buf) if (*v as i64) > 0 => {
                format!("{v} {}", quoted(t, a[buf as usize], *v))
            }
            Ret::Hex => format!("{v:#x}"),
            Ret::Int | Ret::Filled(_) => format!("{}", *v as i64),
        },
        Err(SysError::Errno(e)) => {
            let e = if matches!(e.0, 512..=516) {
                Errno::EINTR
            } else {
                *e
            };
            format!(
                "-1 {} ({})",
                e.name(),
                std::io::Error::from_raw_os_error(e.0)
            )
            .replace(&format!(" (os error {})", e.0), "")
        }
        Err(SysError::KeepRegs) => "?".into(),
        Err(SysError::Exited) => "?".into(),
    };
    crate::log::stderr_line(format_args!("{line} = {res}"));
}

#[cfg(test)]
mod tests {
    #[test]
    fn clone_flags_read_like_strace() {
        assert_eq!(
            super::clone_flags(0x01200011),
            "CLONE_CHILD_CLEARTID|CLONE_CHILD_SETTID|SIGCHLD"
        );
        assert_eq!(super::clone_flags(0), "0");
        assert_eq!(super::clone_flags(0x4111), "CLONE_VM|CLONE_VFORK|SIGCHLD");
    }
}

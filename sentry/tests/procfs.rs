//! The sentry's /proc, /dev and /sys (issue 9): generated from the
//! sandbox's own state. `t_procfs` compares formats and semantics with
//! the host's kernel; the other tests check what must differ from the
//! host (nothing of the host's /proc leaks) and run busybox's process and
//! memory applets on them.

#[macro_use]
mod common;

differential! {
    t_procfs: [], 0;
}

use std::path::Path;

const BUSYBOX: &str = "/bin/busybox";

/// Runs `busybox sh -c script` in the sandbox with `--root /` and the
/// given extra flags; returns (stdout, status), with stderr in failures.
fn sandbox_sh(flags: &[&str], script: &str) -> (String, i32) {
    assert!(
        Path::new(BUSYBOX).exists(),
        "{BUSYBOX} is missing: run scripts/setup.sh (it installs busybox-static)"
    );
    let mut argv: Vec<&str> = vec!["run", "--root", "/"];
    argv.extend_from_slice(flags);
    argv.extend_from_slice(&["--", BUSYBOX, "sh", "-c", script]);
    let out = common::run_sentry(&argv, b"");
    assert!(
        out.killed_by.is_none(),
        "the sentry died: {}",
        out.stderr_str()
    );
    if out.status != 0 {
        eprintln!("--- sandbox stderr ---\n{}", out.stderr_str());
    }
    (out.stdout_str(), out.status)
}

/// /proc lists the sandbox's processes only, with the sandbox's pids:
/// pid 1 is the sandbox's init (its command line is the one the sentry
/// was given), and no host process (this test's own pid) shows.
#[test]
fn proc_lists_only_the_sandbox() {
    let (out, status) = sandbox_sh(
        &[],
        "sleep 2 & sleep 0.2; ls /proc | grep -E '^[0-9]+$' | tr '\\n' ' '; echo; \
         tr '\\0' ' ' < /proc/1/cmdline; echo; cat /proc/2/comm; \
         kill %1; wait",
    );
    assert_eq!(status, 0, "{out}");
    let mut lines = out.lines();
    let pids: Vec<i32> = lines
        .next()
        .unwrap_or_default()
        .split_whitespace()
        .map(|p| p.parse().unwrap())
        .collect();
    assert!(pids.starts_with(&[1, 2]), "pids {pids:?}");
    assert!(pids.iter().all(|p| *p < 300), "pids {pids:?}");
    assert!(!pids.contains(&(std::process::id() as i32)));
    assert_eq!(
        lines.next(),
        Some(
            "/bin/busybox sh -c sleep 2 & sleep 0.2; ls /proc | grep -E '^[0-9]+$' | tr '\\n' ' '; echo; tr '\\0' ' ' < /proc/1/cmdline; echo; cat /proc/2/comm; kill %1; wait "
        ),
        "{out}"
    );
    assert_eq!(lines.next(), Some("sleep"), "{out}");
}

/// MemTotal is the memory cap (`--memory`), and what the sandbox uses is
/// charged against it; cpuinfo and /sys show the sandbox's vCPUs.
#[test]
fn meminfo_and_cpus_are_the_sandboxes() {
    let (out, status) = sandbox_sh(
        &["--memory", "256M"],
        "head -3 /proc/meminfo; grep -c ^processor /proc/cpuinfo; nproc; \
         cat /sys/devices/system/cpu/online; cat /proc/sys/kernel/hostname /proc/sys/kernel/ostype",
    );
    assert_eq!(status, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "MemTotal:         262144 kB", "{out}");
    let free: u64 = lines[1]
        .strip_prefix("MemFree:")
        .and_then(|v| v.trim().strip_suffix(" kB"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(free > 200_000 && free < 262_144, "{out}");
    assert!(lines[2].starts_with("MemAvailable:"), "{out}");
    let ncpu: usize = lines[3].parse().unwrap();
    assert_eq!(lines[4], ncpu.to_string(), "cpuinfo blocks = nproc");
    let list = if ncpu == 1 {
        "0".to_string()
    } else {
        format!("0-{}", ncpu - 1)
    };
    assert_eq!(lines[5], list);
    assert_eq!(&lines[6..8], ["sandbox", "Linux"]);
}

/// busybox's process and memory applets read the sandbox's /proc: ps
/// lists its processes with their pids, parents, states and commands,
/// pidof and killall find a background job by name, free and df report
/// the memory cap, uptime and top run, mount lists /proc.
#[test]
fn busybox_ps_free_uptime_df_pidof_killall() {
    let (out, status) = sandbox_sh(
        &["--memory", "256M"],
        "sleep 5 & sleep 0.3; \
         ps -o pid,ppid,stat,comm,args | sed 's/ \\+/ /g'; \
         echo pidof $(pidof sleep); \
         free | sed -n 2p | awk '{print \"free\", $1, $2}'; \
         df / | sed -n 2p | awk '{print \"df\", $2, $6}'; \
         uptime | grep -o 'load average: .*'; \
         top -b -n 1 | grep -c '^ *1 *0 root'; \
         mount | grep ' on /proc '; \
         killall sleep; echo killall $?; wait; echo done",
    );
    assert_eq!(status, 0, "{out}");
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "PID PPID STAT COMMAND COMMAND", "{out}");
    let init = lines[1].trim();
    // Init is asleep in wait, or still starting the pipeline.
    assert!(
        init.starts_with("1 0 S busybox /bin/busybox sh -c sleep 5")
            || init.starts_with("1 0 R busybox /bin/busybox sh -c sleep 5"),
        "{out}"
    );
    let sleep = lines[2].trim();
    assert!(sleep.starts_with("2 1 S sleep "), "{out}");
    let at = lines
        .iter()
        .position(|l| l.starts_with("pidof"))
        .unwrap_or_else(|| panic!("{out}"));
    // The rest of the table: ps itself (running, its name set by busybox
    // as it runs the applet without exec), and the pipeline's sed.
    assert!(
        lines[3..at].iter().any(|l| l.contains(" 1 R ps {ps} ")),
        "ps sees itself running: {out}"
    );
    let rest = &lines[at..];
    assert_eq!(rest[0], "pidof 2", "{out}");
    assert_eq!(rest[1], "free Mem: 262144", "{out}");
    assert_eq!(rest[2], "df 262144 /", "{out}");
    assert_eq!(rest[3], "load average: 0.00, 0.00, 0.00", "{out}");
    assert_eq!(rest[4], "1", "top lists init: {out}");
    assert_eq!(rest[5], "proc on /proc type proc (rw,relatime)", "{out}");
    assert_eq!(rest[6], "killall 0", "{out}");
    assert_eq!(rest[7], "done", "{out}");
}

/// /dev/tty exists, as on Linux, but opening it without a controlling
/// terminal (here the standard streams are pipes) gives ENXIO;
/// /dev/shm is a directory.
#[test]
fn dev_tty_without_a_terminal() {
    let (out, status) = sandbox_sh(
        &[],
        "test -c /dev/tty && echo tty; (exec 3</dev/tty) 2>&1 | grep -c 'No such device or address'; \
         test -d /dev/shm && echo shm; ls /dev | tr '\\n' ' '",
    );
    assert_eq!(status, 0, "{out}");
    assert_eq!(
        out,
        "tty\n1\nshm\nfd full mqueue null pts random shm stderr stdin stdout tty urandom zero "
    );
}

/// Without `--root` the guest has no files, but /proc, /dev and /sys
/// are there.
#[test]
fn proc_without_a_root() {
    let out = common::run_sentry(
        &[
            "run",
            "--",
            BUSYBOX,
            "sh",
            "-c",
            "cat /proc/self/stat | cut -d' ' -f1-5; head -c 4 /dev/zero | od -An -tx1; \
             grep ' / ' /proc/mounts; ls /etc 2>&1 | head -1",
        ],
        b"",
    );
    assert_eq!(out.status, 0, "{}", out.stderr_str());
    let s = out.stdout_str();
    let lines: Vec<&str> = s.lines().collect();
    assert_eq!(lines[0], "2 (cat) R 1 1", "{s}");
    assert_eq!(lines[1].trim(), "00 00 00 00", "{s}");
    assert_eq!(lines[2], "tmpfs / tmpfs rw,relatime 0 0", "{s}");
    assert!(lines[3].contains("No such file or directory"), "{s}");
}

/// /proc/mounts lists the sandbox's mounts; a `--mount` bind shows where
/// it is in the guest, never its host path.
#[test]
fn mounts_hide_bind_sources() {
    let dir = common::scratch_dir("procfs-bind");
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let bind = format!("{}:/data", dir.display());
    let (out, status) = sandbox_sh(&["--mount", &bind], "cat /proc/mounts");
    assert_eq!(status, 0, "{out}");
    assert!(!out.contains(&dir.display().to_string()), "{out}");
    let points: Vec<&str> = out
        .lines()
        .map(|l| l.split(' ').nth(1).unwrap_or_default())
        .collect();
    assert_eq!(
        points,
        [
            "/", "/proc", "/dev", "/dev/shm", "/dev/pts", "/sys", "/tmp", "/data"
        ],
        "{out}"
    );
    assert!(out.contains("none /data "), "{out}");
    assert!(out.contains("proc /proc proc rw,relatime 0 0"), "{out}");
}

/// A process blocked reading the sandbox's stdin (a host pipe, polled by
/// the sentry) shows as asleep (S) in ps, not running.
#[test]
fn a_reader_of_the_host_stdin_sleeps() {
    use std::process::{Command, Stdio};
    let mut child = Command::new(common::SENTRY)
        .args([
            "run",
            "--root",
            "/",
            "--",
            BUSYBOX,
            "sh",
            "-c",
            "exec 3<&0; cat <&3 & sleep 0.5; ps -o pid,stat,comm | grep cat; kill %1; wait",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn the sentry");
    // Keep stdin open while the guest looks, and close it after a while
    // whatever happens, so the test cannot hang.
    let stdin = child.stdin.take();
    let closer = std::thread::spawn(move || {
        std::thread::sleep(std::time::Duration::from_secs(20));
        drop(stdin);
    });
    let out = child.wait_with_output().expect("wait for the sentry");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        text.split_whitespace().collect::<Vec<_>>(),
        ["2", "S", "cat"],
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(closer);
}

/// bash's process substitution: `<(...)` and `>(...)` hand the command a
/// `/dev/fd/N` path of a pipe, which must open that pipe (Debian's
/// bash-static, installed by scripts/setup.sh; busybox applets for the
/// commands, as the host's are dynamic). Same output natively and in the
/// sandbox.
#[test]
fn bash_process_substitution() {
    const BASH: &str = "/bin/bash-static";
    assert!(
        Path::new(BASH).exists(),
        "{BASH} is missing: run scripts/setup.sh (it installs bash-static)"
    );
    let script = "B=/bin/busybox; $B cat <(echo from-subst) <($B seq 3); \
                  $B diff <(echo a) <(echo a) && echo same; \
                  read x < <(echo line); echo $x; echo out > >($B cat); wait; \
                  while read l; do echo \"got $l\"; done < <(printf '1\\n2\\n')";
    let args = ["--norc", "--noprofile", "-c", script];
    let native = common::run_native(Path::new(BASH), &args, b"");
    let sandbox = common::run_sandbox(Path::new(BASH), &args, b"");
    assert_eq!(native.stdout_str().lines().next(), Some("from-subst"));
    assert_eq!(
        (native.stdout_str(), native.status),
        (sandbox.stdout_str(), sandbox.status),
        "--- sandbox stderr ---\n{}",
        sandbox.stderr_str()
    );
}

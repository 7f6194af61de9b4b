//! A Rust program that starts others with std::process::Command, built
//! static by sentry/tests/real_ipc.rs: a relative program name found
//! through PATH, environment options, uid and gid (which make std fork
//! and exec itself, reporting an exec failure through a CLOEXEC socket
//! pair or pipe, rather than use posix_spawn), exit codes and signals,
//! and failing execs on both paths. It prints only deterministic text.

use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, Stdio};

fn show(what: &str, r: std::io::Result<std::process::Output>) {
    match r {
        Ok(o) => println!(
            "{what}: status {:?} signal {:?} stdout {:?} stderr {:?}",
            o.status.code(),
            o.status.signal(),
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        ),
        Err(e) => println!("{what}: error {:?} os {:?}", e.kind(), e.raw_os_error()),
    }
}

fn main() {
    // A relative name, found through PATH.
    show("echo", Command::new("busybox").args(["echo", "hello"]).output());
    // Environment options.
    show(
        "env",
        Command::new("busybox")
            .args(["sh", "-c", "echo \"$FOO ${BAR:-unset} $PATH\""])
            .env_clear()
            .env("PATH", "/bin:/usr/bin")
            .env("FOO", "foo")
            .output(),
    );
    show(
        "env_remove",
        Command::new("busybox")
            .args(["sh", "-c", "echo ${HOME:-nohome} $KEEP"])
            .env("KEEP", "kept")
            .env_remove("HOME")
            .output(),
    );
    // uid and gid: the fork-and-exec path.
    show(
        "uid",
        Command::new("busybox")
            .args(["sh", "-c", "echo $(busybox id -u) $(busybox id -g)"])
            .uid(65534)
            .gid(65534)
            .output(),
    );
    show(
        "cwd",
        Command::new("busybox").arg("pwd").current_dir("/").output(),
    );
    // Exit codes and signals.
    show("false", Command::new("busybox").arg("false").output());
    show(
        "signal",
        Command::new("busybox")
            .args(["sh", "-c", "kill -9 $$"])
            .output(),
    );
    // Failing execs: through posix_spawn, and through fork and exec (uid
    // set), where the child reports the errno through a CLOEXEC socket.
    show("missing", Command::new("no-such-program-here").output());
    show(
        "missing, forked",
        Command::new("/no/such/program").uid(0).output(),
    );
    show(
        "not executable, forked",
        Command::new("/etc/passwd").uid(0).output(),
    );
    show(
        "missing cwd",
        Command::new("busybox").arg("true").current_dir("/no/such/dir").output(),
    );
    // A pipeline: one child's stdout into another's stdin.
    let mut a = Command::new("busybox")
        .args(["printf", "b\\na\\nc\\n"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn printf");
    let out = a.stdout.take().expect("stdout");
    show(
        "pipeline",
        Command::new("busybox").arg("sort").stdin(out).output(),
    );
    println!("printf: {:?}", a.wait().map(|s| s.code()));
    // status() with inherited stdio, and spawn + wait.
    let st = Command::new("busybox").args(["sh", "-c", "exit 7"]).status();
    println!("status: {:?}", st.map(|s| s.code()));
}

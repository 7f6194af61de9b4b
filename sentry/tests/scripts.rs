//! `#!` scripts (issue 9, "Scripts"), in execve and as the PROGRAM of
//! `sentry run`: the interpreter gets the argv Linux's `binfmt_script`
//! builds (interpreter, optional argument, script path, argv[1..]), the
//! line is read from the first 256 bytes as Linux reads it, five scripts in
//! a row run and a sixth is ELOOP, and the errors (ENOEXEC, ENOENT, EACCES)
//! are Linux's.
//!
//! The root is read-only in the sandbox, so the test writes every script
//! into a scratch directory first; both runs (native and `--root /`) then
//! execute the same files. The interpreters are the test guest itself
//! (`t_script`, which prints its argv, AT_EXECFN and /proc/self/exe) and
//! busybox's shell.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::Libc;

/// What the native run must do (checked first, so that a host that
/// behaves otherwise is reported as such).
#[derive(Clone, Copy, Debug)]
enum Expect {
    /// The interpreter (or program) runs and exits with this status.
    Exits(i32),
    /// execve fails with this errno name: status 1.
    Fails(&'static str),
}

struct Dir {
    dir: PathBuf,
    guest: PathBuf,
}

impl Dir {
    fn path(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    fn write(&self, name: &str, data: &[u8], mode: u32) {
        let p = self.dir.join(name);
        let _ = std::fs::remove_file(&p);
        std::fs::write(&p, data).unwrap();
        std::fs::set_permissions(&p, PermissionsExt::from_mode(mode)).unwrap();
    }

    fn script(&self, name: &str, line: &[u8]) {
        self.write(name, line, 0o755);
    }
}

/// A path to `dir/interp` (a copy of the guest) exactly `len` bytes long,
/// padded with `./` components.
fn padded_interp(dir: &Path, len: usize) -> Vec<u8> {
    let mut p = dir.display().to_string();
    let tail = "/interp";
    let pad = len - p.len() - tail.len();
    if pad % 2 == 1 {
        p.push('/');
    }
    p.push_str(&"/.".repeat(pad / 2));
    p.push_str(tail);
    assert_eq!(p.len(), len);
    p.into_bytes()
}

fn cat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Writes every script the cases below use into a fresh directory.
fn setup(libc: Libc) -> Dir {
    let dir = common::scratch_dir(&format!("scripts-{libc}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let guest = testdata::guest("t_script", libc);
    let d = Dir { dir, guest };
    let g = d.guest.display().to_string();
    let g = g.as_bytes();
    std::fs::copy(&d.guest, d.dir.join("interp")).unwrap();
    d.script("arg", &cat(&[b"#!", g, b"  a1  b1  \n"]));
    d.script("noline", &cat(&[b"#!", g]));
    d.script("blanks_at_eof", &cat(&[b"#!", g, b"   "]));
    d.script("tabs", &cat(&[b"#!", g, b"\t\ta\tb \t\n"]));
    d.script("nul_in_arg", &cat(&[b"#! \t", g, b" a\0b c\n"]));
    d.script("nul_after_name", &cat(&[b"#!", g, b"\0a b\n"]));
    d.script("crlf", &cat(&[b"#!", g, b"\r\n"]));
    d.script("empty", b"#!\n");
    d.script("blank", b"#!   \n");
    d.script("nul_name", b"#!\0\n");
    d.script("bare", b"#!");
    d.script("missing", b"#!/nonexistent/interpreter\n");
    d.script(
        "dir_interp",
        &cat(&[b"#!", d.dir.display().to_string().as_bytes(), b"\n"]),
    );
    d.write("noexec", &cat(&[b"#!", g, b"\n"]), 0o644);
    d.script(
        "noexec_interp",
        &cat(&[b"#!", d.path("noexec").as_bytes(), b"\n"]),
    );
    d.script("garbage", b"not a program\n");
    d.script(
        "garbage_interp",
        &cat(&[b"#!", d.path("garbage").as_bytes(), b"\n"]),
    );
    d.script(
        "busybox",
        b"#!/bin/busybox sh\necho \"sh: $0 $*\"; exit 3\n",
    );
    d.script("relative", b"#!interp rel\n");
    // A chain: n1 -> arg -> guest; n5 is five scripts deep, n6 six.
    let mut prev = d.path("arg");
    for i in 1..=6 {
        let arg: &[u8] = if i == 1 { b" x y" } else { b"" };
        d.script(
            &format!("n{i}"),
            &cat(&[b"#!", prev.as_bytes(), arg, b"\n"]),
        );
        prev = d.path(&format!("n{i}"));
    }
    d.script("chain_missing", b"#!/nonexistent/n\n");
    std::os::unix::fs::symlink(d.path("arg"), d.dir.join("link")).unwrap();
    // The 256-byte buffer (indices of the bytes after "#!" name...).
    let long_arg = cat(&[b"#!", g, b" ", &[b'x'; 300], b"\n"]);
    d.script("long_arg", &long_arg);
    d.script("long_name", &cat(&[b"#!/", &[b'a'; 300], b"\n"]));
    let p = |n| padded_interp(&d.dir, n);
    d.script("nl_at_255", &cat(&[b"#!", &p(253), b"\n"]));
    d.script("nl_at_257", &cat(&[b"#!", &p(255), b"\n"]));
    d.script("blank_at_255", &cat(&[b"#!", &p(253), b" arg\n"]));
    d.script("blanks_at_end", &cat(&[b"#!", &p(251), b"  arg\n"]));
    d.script("tab_eof_255", &cat(&[b"#!", &p(253), b"\t"]));
    d.script("eof_255", &cat(&[b"#!", &p(253)]));
    d.script("name_past_256", &cat(&[b"#!", &p(255), b" x\n"]));
    d
}

/// (guest arguments, what Linux does); `{}` in an argument is the
/// scratch directory.
const CASES: &[(&[&str], Expect)] = &[
    (&["exec", "{}/arg", "A0", "r1", "r2"], Expect::Exits(0)),
    (&["exec", "{}/noline", "A0", "r1"], Expect::Exits(0)),
    (&["exec", "{}/blanks_at_eof", "A0"], Expect::Exits(0)),
    (&["exec", "{}/tabs", "A0"], Expect::Exits(0)),
    (&["exec", "{}/nul_in_arg", "A0"], Expect::Exits(0)),
    (&["exec", "{}/nul_after_name", "A0"], Expect::Exits(0)),
    (&["exec", "{}/crlf", "A0"], Expect::Fails("ENOENT")),
    (&["exec", "{}/empty", "A0"], Expect::Fails("ENOEXEC")),
    (&["exec", "{}/blank", "A0"], Expect::Fails("ENOEXEC")),
    (&["exec", "{}/nul_name", "A0"], Expect::Fails("EACCES")),
    (&["exec", "{}/bare", "A0"], Expect::Fails("EACCES")),
    (&["exec", "{}/missing", "A0"], Expect::Fails("ENOENT")),
    (&["exec", "{}/dir_interp", "A0"], Expect::Fails("EACCES")),
    (&["exec", "{}/noexec", "A0"], Expect::Fails("EACCES")),
    (&["exec", "{}/noexec_interp", "A0"], Expect::Fails("EACCES")),
    (
        &["exec", "{}/garbage_interp", "A0"],
        Expect::Fails("ENOEXEC"),
    ),
    (&["exec", "{}/busybox", "A0", "b1", "b2"], Expect::Exits(3)),
    (
        &["cd", "{}", "exec", "relative", "A0", "r1"],
        Expect::Exits(0),
    ),
    (
        &["cd", "/", "exec", "{}/relative", "A0"],
        Expect::Fails("ENOENT"),
    ),
    (&["exec", "{}/n4", "A0", "r1"], Expect::Exits(0)),
    (&["exec", "{}/n5", "A0", "r1"], Expect::Fails("ELOOP")),
    (&["exec", "{}/n6", "A0"], Expect::Fails("ELOOP")),
    (&["exec", "{}/chain_missing", "A0"], Expect::Fails("ENOENT")),
    (&["exec", "{}/link", "A0"], Expect::Exits(0)),
    (&["exec", "{}/long_arg", "A0"], Expect::Exits(0)),
    (&["exec", "{}/long_name", "A0"], Expect::Fails("ENOEXEC")),
    (&["exec", "{}/nl_at_255", "A0"], Expect::Exits(0)),
    (&["exec", "{}/nl_at_257", "A0"], Expect::Fails("ENOEXEC")),
    (&["exec", "{}/blank_at_255", "A0"], Expect::Exits(0)),
    (&["exec", "{}/blanks_at_end", "A0"], Expect::Exits(0)),
    (&["exec", "{}/tab_eof_255", "A0"], Expect::Exits(0)),
    (&["exec", "{}/eof_255", "A0"], Expect::Exits(0)),
    (
        &["exec", "{}/name_past_256", "A0"],
        Expect::Fails("ENOEXEC"),
    ),
    // An empty argv: Linux's {""} is replaced like any argv[0].
    (&["exec", "{}/arg"], Expect::Exits(0)),
    (&["execat", "{}", "arg", "A0", "r1"], Expect::Exits(0)),
    (&["execat", "{}", "arg"], Expect::Exits(0)),
    (&["execatcx", "{}", "arg", "A0"], Expect::Fails("ENOENT")),
];

fn run_cases(libc: Libc) {
    let d = setup(libc);
    let dir = d.dir.display().to_string();
    for (args, expect) in CASES {
        let args: Vec<String> = args.iter().map(|a| a.replace("{}", &dir)).collect();
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let label = format!("t_script ({libc}) {args:?}");
        let native = common::run_native(&d.guest, &args, b"");
        let stdout = native.stdout_str();
        match expect {
            Expect::Exits(status) => {
                assert_eq!(native.status, *status, "{label}: natively: {stdout}")
            }
            Expect::Fails(e) => assert_eq!(
                (native.status, stdout.as_str()),
                (
                    1,
                    format!(
                        "execve{}: {e}\n",
                        if args[0].starts_with("execat") {
                            "at"
                        } else {
                            ""
                        }
                    )
                    .as_str()
                ),
                "{label}: natively"
            ),
        }
        let sandbox = common::run_sandbox(&d.guest, &args, b"");
        common::assert_outcomes_match(&label, &native, &sandbox);
    }
}

#[test]
fn execve_of_scripts_musl() {
    run_cases(Libc::Musl);
}

#[test]
fn execve_of_scripts_glibc() {
    run_cases(Libc::Glibc);
}

/// A plain program run with an empty argv gets argc 1 and argv[0] ""
/// (Linux since 5.18).
#[test]
fn empty_argv_gives_one_empty_argument() {
    let g = testdata::guest("t_script", Libc::Musl);
    let g = g.display().to_string();
    let out = common::assert_same_path("empty argv", Path::new(&g), &["exec", &g], b"");
    assert!(
        out.stdout_str().starts_with("argc=1\nargv[0]=<>\n"),
        "{}",
        out.stdout_str()
    );
}

/// PROGRAM itself may be a script: `sentry run SCRIPT ARGS` runs as
/// `SCRIPT ARGS` does natively.
#[test]
fn program_may_be_a_script() {
    let d = setup(Libc::Musl);
    for (name, args) in [
        ("arg", &["r1", "r2"][..]),
        ("n4", &["r1"][..]),
        ("busybox", &["b1"][..]),
        ("tabs", &[][..]),
    ] {
        let script = d.dir.join(name);
        let native = common::run_native(&script, args, b"");
        assert!(
            native.stdout_str().contains("argv[0]=") || native.stdout_str().starts_with("sh: "),
            "{name}: natively: {}",
            native.stdout_str()
        );
        let sandbox = common::run_sandbox(&script, args, b"");
        common::assert_outcomes_match(&format!("sentry run {name} {args:?}"), &native, &sandbox);
    }
}

/// A PROGRAM whose interpreter cannot run fails as a shell reports it:
/// 127 for a missing interpreter, 126 otherwise (ELOOP, ENOEXEC, EACCES).
#[test]
fn program_script_errors() {
    let d = setup(Libc::Musl);
    for (name, status, msg) in [
        ("missing", 127, "No such file or directory"),
        ("n6", 126, "Too many levels of symbolic links"),
        ("empty", 126, "Exec format error"),
        ("noexec_interp", 126, "Permission denied"),
    ] {
        let out = common::run_sentry(&["run", "--root", "/", "--", &d.path(name)], b"");
        assert_eq!(out.status, status, "{name}: {}", out.stderr_str());
        assert!(out.stdout.is_empty());
        assert!(
            out.stderr_str().contains("cannot execute") && out.stderr_str().contains(msg),
            "{name}: {}",
            out.stderr_str()
        );
    }
}

/// With `--root R`, a script's interpreter is looked up inside R, as in a
/// chroot: `..` stops at R's top, a relative name resolves against the
/// cwd inside R, and an interpreter that exists on the host but not in R
/// (`/bin/busybox`) is ENOENT. Compared with `chroot R` (the tests run as
/// root); the `exe=` line is left out (a chroot has no /proc).
#[test]
fn interpreters_resolve_inside_the_root() {
    let root = common::scratch_dir("scripts-root");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy(testdata::guest("t_script", Libc::Musl), root.join("bin/t")).unwrap();
    let d = Dir {
        dir: root.clone(),
        guest: root.join("bin/t"),
    };
    d.script("s_abs", b"#!/bin/t a b\n");
    d.script("s_dotdot", b"#!/../../../../bin/t up\n");
    d.script("s_host_only", b"#!/bin/busybox sh\necho escaped\n");
    d.script("bin/s_rel", b"#!t rel\n");
    d.script("s_nested", b"#!/s_abs n\n");
    assert!(
        Path::new("/bin/busybox").exists(),
        "the host needs /bin/busybox"
    );
    let cases: &[&[&str]] = &[
        &["exec", "/s_abs", "A0", "r1"],
        &["exec", "/s_dotdot", "A0"],
        &["exec", "/s_host_only", "A0"],
        &["cd", "/bin", "exec", "s_rel", "A0"],
        &["cd", "/", "exec", "/bin/s_rel", "A0"],
        &["exec", "/s_nested", "A0", "r1"],
    ];
    let keep = |o: &common::Outcome| -> Vec<String> {
        o.stdout_str()
            .lines()
            .filter(|l| !l.starts_with("exe="))
            .map(str::to_owned)
            .collect()
    };
    for args in cases {
        let mut cmd = std::process::Command::new("chroot");
        cmd.arg(&root).arg("/bin/t").args(*args);
        let native = common::run_command(cmd, b"", "chroot t_script");
        let mut argv: Vec<std::ffi::OsString> = vec![
            "run".into(),
            "--root".into(),
            root.clone().into(),
            "--".into(),
            // PROGRAM is a guest path under --root.
            "/bin/t".into(),
        ];
        argv.extend(args.iter().map(std::ffi::OsString::from));
        let sandbox = common::run_sentry(&argv, b"");
        assert_eq!(
            (keep(&native), native.status),
            (keep(&sandbox), sandbox.status),
            "{args:?}\n--- sandbox stderr ---\n{}",
            sandbox.stderr_str()
        );
    }
    // The host-only interpreter is not found inside the root.
    let mut cmd = std::process::Command::new("chroot");
    cmd.arg(&root)
        .args(["/bin/t", "exec", "/s_host_only", "A0"]);
    assert_eq!(
        common::run_command(cmd, b"", "chroot").stdout_str(),
        "execve: ENOENT\n"
    );
}

/// A PROGRAM script inside `--root R` gets its interpreter from R, as
/// `chroot R SCRIPT` does: the `#!` line is the guest's data, so a name
/// that exists only on the host (`/bin/busybox` here) is not found
/// (status 127) rather than loaded from the host. The interpreter gets the
/// script's guest path (one it can open), and /proc/self/exe shows its own
/// guest path.
#[test]
fn program_script_interpreter_comes_from_the_root() {
    let root = common::scratch_dir("scripts-program-root");
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("bin")).unwrap();
    std::fs::copy(testdata::guest("t_script", Libc::Musl), root.join("bin/t")).unwrap();
    let d = Dir {
        dir: root.clone(),
        guest: root.join("bin/t"),
    };
    d.script("s_abs", b"#!/bin/t a b\n");
    d.script("s_nested", b"#!/s_abs n\n");
    d.script("s_host_only", b"#!/bin/busybox sh\necho escaped\n");
    let sandbox = |name: &str| {
        common::run_sentry(
            &[
                "run",
                "--root",
                root.to_str().unwrap(),
                "--",
                // PROGRAM is a guest path under --root.
                &format!("/{name}"),
                "r1",
            ],
            b"",
        )
    };
    for name in ["s_abs", "s_nested"] {
        let mut cmd = std::process::Command::new("chroot");
        cmd.arg(&root).arg(format!("/{name}")).arg("r1");
        let native = common::run_command(cmd, b"", "chroot script");
        let s = sandbox(name);
        let strip = |o: &common::Outcome| -> String {
            o.stdout_str()
                .lines()
                .filter(|l| !l.starts_with("exe="))
                .map(|l| format!("{l}\n"))
                .collect()
        };
        assert_eq!(native.status, 0, "{}", native.stderr_str());
        assert_eq!(
            (strip(&native), native.status),
            (strip(&s), s.status),
            "{name}: {}",
            s.stderr_str()
        );
        assert!(s.stdout_str().contains("\nexe=t\n"), "{}", s.stdout_str());
    }
    // /proc/self/exe (the interpreter) runs again from inside the root.
    std::fs::copy(
        testdata::guest("fsprobe", Libc::Musl),
        root.join("bin/probe"),
    )
    .unwrap();
    d.script("s_reexec", b"#!/bin/probe exec:/proc/self/exe\n");
    let out = sandbox("s_reexec");
    assert_eq!(
        out.stdout_str().lines().next(),
        Some("exec /proc/self/exe: ran, status 0"),
        "{}",
        out.stderr_str()
    );
    let out = sandbox("s_host_only");
    assert_eq!(out.status, 127, "{}", out.stderr_str());
    assert!(out.stdout.is_empty(), "{}", out.stdout_str());
    assert!(
        out.stderr_str().contains("No such file or directory"),
        "{}",
        out.stderr_str()
    );
}

//! Builds the vDSO (`vdso/vdso.c` with `vdso/vdso.lds`) into
//! `$OUT_DIR/vdso.so`, which `src/kernel/vdso.rs` embeds: a shared object
//! with no relocations, linked the way Linux links its
//! arch/x86/entry/vdso (soname linux-vdso.so.1, both hash styles, the
//! LINUX_2.6 version node, unwind tables, a build id). gcc is required
//! (`scripts/setup.sh` installs it).

use std::path::PathBuf;
use std::process::Command;
use std::{env, fs};

fn main() {
    let dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let vdso = dir.join("vdso");
    let out = PathBuf::from(env::var_os("OUT_DIR").expect("OUT_DIR")).join("vdso.so");
    for f in ["vdso.c", "vdso.lds", "vvar.h"] {
        println!("cargo:rerun-if-changed={}", vdso.join(f).display());
    }
    let lds = vdso.join("vdso.lds");
    let status = Command::new("gcc")
        .args([
            "-shared",
            "-nostdlib",
            "-fPIC",
            "-O2",
            "-Wall",
            "-Werror",
            "-ffreestanding",
            "-fno-builtin",
            "-fno-stack-protector",
            "-fno-omit-frame-pointer",
            "-fasynchronous-unwind-tables",
            "-mcmodel=small",
            "-mno-red-zone",
            "-Wl,--hash-style=both",
            "-Wl,-soname=linux-vdso.so.1",
            "-Wl,--no-undefined",
            "-Wl,--build-id=sha1",
            "-Wl,--eh-frame-hdr",
            "-Wl,-z,max-page-size=4096",
            "-Wl,-z,noexecstack",
        ])
        .arg(format!("-Wl,-T,{}", lds.display()))
        .arg("-o")
        .arg(&out)
        .arg(vdso.join("vdso.c"))
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("building the vDSO with gcc failed ({s}); see the errors above"),
        Err(e) => panic!(
            "cannot run gcc to build the vDSO ({e}): install it, e.g. with `sh scripts/setup.sh`"
        ),
    }
    let len = fs::metadata(&out).map(|m| m.len()).unwrap_or(0);
    assert!(
        len > 0 && len <= 8192,
        "the vDSO image is {len} bytes; the sentry maps at most two pages"
    );
}

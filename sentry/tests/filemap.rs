//! File-backed memory and memfds (issue 9): MAP_PRIVATE and MAP_SHARED of
//! files, SIGBUS past the end of a file, msync, mincore, MAP_POPULATE,
//! /proc/self/maps lines of file mappings, memfd_create and file seals,
//! compared with the host kernel.

#[macro_use]
mod common;

differential! {
    filemap: [], 0;
}

/// Sandbox only (natively it would write to the host's /etc/passwd): a
/// file of the read-only lower root opened for writing is copied up into
/// memory, and a MAP_SHARED mapping of the copy is coherent with read and
/// write. The host file is left as it was.
#[test]
fn a_copied_up_root_file_maps_shared() {
    let before = std::fs::read("/etc/passwd").expect("the host has /etc/passwd");
    for libc in [common::Libc::Glibc, common::Libc::Musl] {
        let r = common::run_sandbox(
            &testdata::guest("filemap", libc),
            &["copyup", "/etc/passwd"],
            b"",
        );
        assert_eq!(
            r.stdout_str(),
            "copyup: mapping starts with the file: yes\n\
             copyup: store seen by read: yes, write seen by the mapping: yes\n",
            "{libc:?}: {}",
            r.stderr_str()
        );
        assert_eq!(r.status, 0, "{libc:?}");
    }
    assert_eq!(std::fs::read("/etc/passwd").unwrap(), before);
}

//! inotify: instances, watches and the events of the sandbox's own files
//! (tmpfs, the writable overlay, read-only files of the root), readiness
//! and the queue limit, compared with the host kernel.

#[macro_use]
mod common;

differential! {
    t_inotify: [], 0;
}

// IN_DELETE_SELF at the last close of an unlinked file; IN_MODIFY for
// sendfile, splice and copy_file_range.
differential! {
    t_inotify_deleted: [], 0;
}

/// The sandbox's limits (sandbox only: natively the counts depend on the
/// host user's other instances and watches): 128 instances, then EMFILE;
/// 8192 watches across the sandbox, then ENOSPC; a closed instance or a
/// removed watch gives its place back.
#[test]
fn instance_and_watch_limits() {
    let guest = testdata::guest("inotify_limits", common::Libc::Glibc);
    let out = common::run_sandbox(&guest, &[], b"");
    assert_eq!(
        out.stdout_str(),
        "max_user_instances 128 max_user_watches 8192\n\
         instances: 128, then EMFILE\n\
         after closing: ok\n\
         watches: 8192, then errno28\n\
         same file again: ok\n\
         after rm_watch: ok\n",
        "stderr: {}",
        out.stderr_str()
    );
    assert_eq!(out.status, 0);
}

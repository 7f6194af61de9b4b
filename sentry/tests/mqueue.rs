//! POSIX message queues: mq_open's rules, priorities, limits and
//! timeouts, mq_getsetattr, mq_notify, readiness and wake-ups, compared
//! with the host kernel.

#[macro_use]
mod common;

differential! {
    t_mqueue: [], 0;
}

// mq_notify's registration dropped by the owner's close or exit, and
// SIGEV_THREAD (the libc's, and its netlink cookie by hand).
differential! {
    t_mqueue_notify: [], 0;
}

/// /dev/mqueue lists the sandbox's queues, each a regular file of the
/// queue's mode reading as Linux's mqueue_read_file line (sandbox only:
/// the test hosts mount no mqueue file system; before it, /dev/mqueue did
/// not exist).
#[test]
fn dev_mqueue_shows_the_queues() {
    for libc in [common::Libc::Glibc, common::Libc::Musl] {
        let out = common::run_sandbox(&testdata::guest("t_mqueue_dev", libc), &[], b"");
        let pad = |s: &str, w: usize| format!("{s:<w$}");
        let line = |qsize: &str, signo: &str, pid: &str| {
            format!(
                "QSIZE:{} NOTIFY:{} SIGNO:{} NOTIFY_PID:{}\n",
                pad(qsize, 10),
                pad("0", 5),
                pad(signo, 5),
                // The guest writes its own pid (1) as PID.
                if pid == "PID" {
                    "PID     ".to_owned()
                } else {
                    pad(pid, 6)
                }
            )
        };
        let expect = format!(
            "stat /dev/mqueue: 0 dir 1 mode 1777\n\
             /dev/mqueue:\n\
             /dev/mqueue: t_mqueue_dev t_mqueue_dev.2\n\
             stat queue: 0 regular 1 mode 640\n\
             /dev/mqueue/t_mqueue_dev (60 bytes): {}\
             /dev/mqueue/t_mqueue_dev (60 bytes): {}\
             /dev/mqueue/t_mqueue_dev.2 (60 bytes): {}\
             after mq_unlink: -1 ENOENT\n\
             /dev/mqueue: t_mqueue_dev.2\n\
             /dev/mqueue:\n",
            line("0", "0", "0"),
            line("5", "0", "0"),
            line("0", "12", "PID"),
        );
        assert_eq!(out.stdout_str(), expect, "{libc:?}: {}", out.stderr_str());
        assert_eq!(out.status, 0);
    }
}

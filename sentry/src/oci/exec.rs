//! `exec`: a new process in a running container's sandbox (same kernel,
//! same files, same pid namespace), as runc's `exec`.
//!
//! The container's sentry binds a Unix datagram socket, `ctl.sock` in its
//! state directory, before it confines itself. A request is one datagram:
//! a `process` object (JSON, as config.json's) with four descriptors
//! (SCM_RIGHTS): the new process's stdin, stdout and stderr, and the write
//! end of a pipe on which the sentry answers once, when the process has
//! ended: `{"status": N}` (N: its exit code, 128+signal when killed) or
//! `{"error": "..."}`. The new process has no parent in the sandbox (as an
//! exec'd process's parent is outside the container) and its own session.

use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;

use serde_json::Value;

use super::guest::ControlSocket;
use crate::errno::Errno;
use crate::fs::stdio::HostStream;
use crate::fs::{FdTable, FileBudget, OpenFile};
use crate::kernel::Kernel;
use crate::kernel::signal::SigSet;
use crate::kernel::task::{self, Task, ThreadGroup};
use crate::mm::AddressSpace;

/// The largest request.
pub const MAX_REQUEST: usize = 1 << 20;

/// The control socket's name in the state directory.
pub const SOCKET: &str = "ctl.sock";

/// Serves `exec` requests on `socket` from a thread of its own, until the
/// sandbox ends.
pub fn serve(kernel: &Arc<Kernel>, socket: ControlSocket, budget: Arc<FileBudget>) {
    let kernel = Arc::clone(kernel);
    let spawned = std::thread::Builder::new()
        .name("oci-exec".into())
        .stack_size(256 << 10)
        .spawn(move || serve_loop(&kernel, &socket, &budget));
    if let Err(e) = spawned {
        tracing::warn!("exec will not work: cannot start its thread: {e}");
    }
}

fn serve_loop(kernel: &Arc<Kernel>, socket: &ControlSocket, budget: &Arc<FileBudget>) {
    use rustix::net::{RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags};
    let mut buf = vec![0u8; MAX_REQUEST];
    while !kernel.is_finished() {
        let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
        let mut anc = RecvAncillaryBuffer::new(&mut space);
        let got = rustix::net::recvmsg(
            socket.0.as_fd(),
            &mut [std::io::IoSliceMut::new(&mut buf)],
            &mut anc,
            RecvFlags::CMSG_CLOEXEC,
        );
        let n = match got {
            Ok(r) => r.bytes,
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => {
                tracing::warn!("exec: the control socket failed: {e}");
                return;
            }
        };
        let mut fds: Vec<OwnedFd> = Vec::new();
        for m in anc.drain() {
            if let RecvAncillaryMessage::ScmRights(r) = m {
                fds.extend(r);
            }
        }
        if fds.len() != 4 {
            continue;
        }
        let Some(reply) = fds.pop() else { continue };
        let answer = |v: Value| {
            let _ = rustix::io::write(&reply, v.to_string().as_bytes());
        };
        let request: Value = match serde_json::from_slice(&buf[..n]) {
            Ok(v) => v,
            Err(e) => {
                answer(serde_json::json!({"error": format!("bad request: {e}")}));
                continue;
            }
        };
        match spawn(kernel, budget, &request, fds) {
            Ok(tg) => {
                let kernel = Arc::clone(kernel);
                let waiter = std::thread::Builder::new()
                    .name("oci-exec-wait".into())
                    .stack_size(128 << 10)
                    .spawn(move || {
                        let status = wait(&kernel, &tg);
                        let _ = rustix::io::write(
                            &reply,
                            serde_json::json!({ "status": status })
                                .to_string()
                                .as_bytes(),
                        );
                    });
                if let Err(e) = waiter {
                    tracing::warn!("exec: cannot wait for the process: {e}");
                }
            }
            Err(e) => {
                // As a shell: 127 for a program not found, 126 for one
                // that cannot run.
                let code = if !e.starts_with("cannot execute") {
                    125
                } else if e.ends_with(&std::io::Error::from_raw_os_error(libc::ENOENT).to_string())
                {
                    127
                } else {
                    126
                };
                answer(serde_json::json!({ "error": e, "code": code }))
            }
        }
    }
}

/// Waits for the process to end and reaps it: its exit code, 128+N after
/// signal N (137 when the sandbox ended first).
fn wait(kernel: &Arc<Kernel>, tg: &Arc<ThreadGroup>) -> i32 {
    loop {
        if let Some(st) = tg.zombie_status() {
            crate::kernel::process::reap_parentless(kernel, tg.tgid);
            return match crate::kernel::ExitReport::from_status(st) {
                crate::kernel::ExitReport::Exited(c) => c,
                crate::kernel::ExitReport::Signaled(s) => 128 + s,
            };
        }
        if kernel.is_finished() {
            return 137;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
}

/// Starts the process `request` (a `process` object) with `stdio` as its
/// descriptors 0, 1, 2.
fn spawn(
    kernel: &Arc<Kernel>,
    budget: &Arc<FileBudget>,
    request: &Value,
    stdio: Vec<OwnedFd>,
) -> Result<Arc<ThreadGroup>, String> {
    let p = request
        .as_object()
        .ok_or_else(|| "the process must be an object".to_string())?;
    let proc = super::spec::process(p).map_err(|e| e.to_string())?;
    let mm = AddressSpace::new(Arc::clone(&kernel.machine))
        .map_err(|_| "cannot create the address space".to_string())?;
    let mut argv: Vec<Vec<u8>> = proc.args.iter().map(|a| a.as_bytes().to_vec()).collect();
    let envp: Vec<Vec<u8>> = proc.env.iter().map(|e| e.as_bytes().to_vec()).collect();
    let workdir = proc.cwd.as_bytes().to_vec();
    let vfs = &kernel.vfs;
    let root = vfs.root();
    let fail = |what: &[u8], e: Errno| {
        format!(
            "cannot execute {}: {}",
            crate::quote(what),
            std::io::Error::from_raw_os_error(e.0)
        )
    };
    let name = argv[0].clone();
    let (place, file, execfn) =
        crate::guest_program_with_scripts(vfs, &name, &envp, Some(&workdir), &mut argv)
            .map_err(|e| fail(&name, e))?;
    let exe_path = vfs.path_name(&place, &root);
    let mut open_interp = |name: &[u8]| crate::open_interpreter(vfs, name, Some(&workdir));
    let mut how = crate::exec::LoadEnv {
        vdso: kernel.vdso.as_ref(),
        randomize: kernel.config.aslr,
        open_interp: &mut open_interp,
    };
    let ctx = crate::exec::load(&mm, &file, &argv, &envp, &execfn, &mut how)
        .map_err(|e| e.to_string())?;
    mm.set_exe(&exe_path, None);
    mm.set_cmdline(&argv);
    mm.set_environ(&envp);
    let cwd = vfs
        .lookup(
            &crate::fs::vfs::Caller::NONE,
            &root,
            &root,
            &workdir,
            &crate::fs::vfs::Resolve::FOLLOW,
        )
        .and_then(|p| {
            if p.is_dir() {
                Ok(p)
            } else {
                Err(Errno::ENOTDIR)
            }
        })
        .map_err(|e| fail(&workdir, e))?;
    let files = FdTable::with_budget(Arc::clone(budget));
    for (fd, host) in stdio.into_iter().enumerate() {
        let name = ["stdin", "stdout", "stderr"][fd];
        let stream = HostStream::from_host(
            crate::host::HostFd::from_owned(host),
            name,
            Arc::clone(&kernel.readiness),
        );
        let access = stream.access_mode();
        let stream = crate::fs::tty::std_stream(kernel, stream);
        files
            .insert_at(fd as i32, OpenFile::new(stream, access), false)
            .map_err(|_| "cannot install the standard streams".to_string())?;
    }
    let pid = kernel
        .table
        .lock()
        .alloc_pid(None)
        .map_err(|_| "no free pid".to_string())?;
    let handlers = Arc::new(parking_lot::Mutex::new(
        crate::kernel::signal::SigActions::default(),
    ));
    let tg = ThreadGroup::new(pid, handlers);
    let task = Task::new(
        pid,
        Arc::clone(&tg),
        Arc::clone(kernel),
        mm,
        files,
        Arc::new(parking_lot::Mutex::new(task::FsContext {
            cwd: Some(cwd),
            ..Default::default()
        })),
        SigSet::default(),
    );
    task.set_comm_from_path(&execfn);
    proc.guest.prepare_task(&task);
    let stdin_is_terminal = task
        .files()
        .get(0)
        .is_ok_and(|f| f.ops.as_terminal().is_some());
    kernel
        .table
        .lock()
        .insert_process(&task, 0, pid, pid, crate::kernel::signal::sig::SIGCHLD);
    if proc.terminal {
        crate::kernel::tty::attach_init(kernel, pid, stdin_is_terminal);
    }
    kernel
        .start(task::Job {
            task,
            ctx,
            fpu: None,
        })
        .map_err(|e| e.to_string())?;
    Ok(tg)
}

/// Sends `request` with `stdio` to the container's control socket at
/// `path` and waits for the process to end: its status.
pub fn request(
    path: &std::path::Path,
    request: &Value,
    stdio: [std::os::fd::BorrowedFd<'_>; 3],
) -> Result<i32, String> {
    use rustix::net::{SendAncillaryBuffer, SendAncillaryMessage, SendFlags};
    let sock =
        std::os::unix::net::UnixDatagram::unbound().map_err(|e| format!("control socket: {e}"))?;
    sock.connect(path)
        .map_err(|e| format!("the container does not answer on {}: {e}", path.display()))?;
    let (reader, writer) = std::io::pipe().map_err(|e| format!("pipe: {e}"))?;
    let text = request.to_string();
    if text.len() > MAX_REQUEST {
        return Err("the process description is too large".into());
    }
    {
        let fds = [stdio[0], stdio[1], stdio[2], writer.as_fd()];
        let mut space = [std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(4))];
        let mut anc = SendAncillaryBuffer::new(&mut space);
        anc.push(SendAncillaryMessage::ScmRights(&fds));
        rustix::net::sendmsg(
            &sock,
            &[std::io::IoSlice::new(text.as_bytes())],
            &mut anc,
            SendFlags::empty(),
        )
        .map_err(|e| format!("cannot send the request: {e}"))?;
    }
    drop(writer);
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match rustix::io::read(&reader, &mut buf) {
            Ok(0) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
            Err(rustix::io::Errno::INTR) => continue,
            Err(e) => return Err(format!("cannot read the answer: {e}")),
        }
    }
    if answer.is_empty() {
        // The sandbox ended (its sentry exited) before the process did.
        return Ok(137);
    }
    let v: Value = serde_json::from_slice(&answer).map_err(|e| format!("bad answer: {e}"))?;
    if let Some(e) = v.get("error").and_then(Value::as_str) {
        if let Some(code) = v.get("code").and_then(Value::as_i64) {
            // The process could not start: said, with its status.
            crate::log::stderr_line(format_args!("sentry: error: {e}"));
            return Ok(code as i32);
        }
        return Err(e.to_string());
    }
    v.get("status")
        .and_then(Value::as_i64)
        .map(|s| s as i32)
        .ok_or_else(|| "bad answer".to_string())
}

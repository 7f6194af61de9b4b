//! execve and execveat: replace the process image with a static ELF read
//! from the sandbox's root (a host directory shown read-only; paths resolve
//! inside it and `..` stops at its top). What survives an exec follows
//! Linux: pid, parent, process group, descriptors without close-on-exec,
//! ignored signals, the signal mask and pending signals; what does not:
//! the address space, other threads, handlers (back to SIG_DFL), the
//! alternate stack, FPU state, TLS. A vfork parent wakes up.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::abi::UserPtr;
use crate::errno::Errno;
use crate::exec::ExecError;
use crate::kernel::signal::{self, AltStack, SigAction};
use crate::kernel::task::{SysError, SysResult, TaskCtx};
use crate::mm::AddressSpace;

use crate::exec::ProgramFile;
use crate::fs::rootfs::{Lookup, io_errno};
use loader::{LoadError, MAX_ARG_BYTES, MAX_ARG_STRLEN};

const AT_FDCWD: i32 = -100;
const AT_EMPTY_PATH: u64 = 0x1000;
const AT_SYMLINK_NOFOLLOW: u64 = 0x100;

/// Reads a NULL-terminated array of string pointers.
fn read_strings(mm: &AddressSpace, array: u64, total: &mut usize) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    if array == 0 {
        return Ok(out);
    }
    let array = UserPtr::<u64>::new(array);
    for i in 0.. {
        let p = array.at(i)?.read(mm)?;
        if p == 0 {
            break;
        }
        let s = mm.read_cstring(p, MAX_ARG_STRLEN).map_err(|e| {
            if e == Errno::ENAMETOOLONG {
                Errno::E2BIG
            } else {
                e
            }
        })?;
        *total += s.len() + 1 + 8;
        if *total > MAX_ARG_BYTES || s.len() >= MAX_ARG_STRLEN {
            return Err(Errno::E2BIG);
        }
        out.push(s);
    }
    Ok(out)
}

/// Opens the program at guest path `path` (relative to guest directory
/// `base`; resolved inside the root, or
/// the running program for `/proc/self/exe`) and checks it as Linux's
/// execve does: EACCES unless it is a regular file with an execute bit.
/// Returns (guest path, host path if it is outside the root, file).
fn open_program(
    t: &TaskCtx,
    base: &[u8],
    path: &[u8],
) -> Result<(Vec<u8>, Option<std::path::PathBuf>, ProgramFile), Errno> {
    if path.is_empty() {
        return Err(Errno::ENOENT);
    }
    match t.task.kernel.root().resolve(base, path, true)? {
        Lookup::Host(r) => {
            if !r.meta.is_file() {
                return Err(Errno::EACCES);
            }
            let file = ProgramFile::new(r.open()?)?;
            Ok((r.guest, None, file))
        }
        Lookup::Sentry(sp) if super::fs::is_proc_exe(t, &sp) => {
            // The program this process runs.
            let mm = t.mm();
            let exe = mm.exe();
            match mm.exe_host() {
                // The program the user named on the command line.
                Some(host) => {
                    let file = ProgramFile::open_host(&host).map_err(|e| io_errno(&e))?;
                    Ok((exe, Some(host), file))
                }
                None => open_program(t, b"/", &exe),
            }
        }
        // The sentry's /dev/null is no program.
        Lookup::Sentry(sp) if sp == std::path::Path::new("dev/null") => Err(Errno::EACCES),
        Lookup::Sentry(_) => Err(Errno::ENOENT),
    }
}

/// execve(path, argv, envp).
pub fn execve(t: &mut TaskCtx, path: u64, argv: u64, envp: u64) -> SysResult {
    let path = t.mm().read_cstring(path, 4096)?;
    exec_at(t, None, &path, argv, envp)
}

/// execveat(dirfd, path, argv, envp, flags).
pub fn execveat(
    t: &mut TaskCtx,
    dirfd: u64,
    path: u64,
    argv: u64,
    envp: u64,
    flags: u64,
) -> SysResult {
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0 {
        return Err(Errno::EINVAL.into());
    }
    let p = t.mm().read_cstring(path, 4096)?;
    let mut base = None;
    if !p.starts_with(b"/") && dirfd as i32 != AT_FDCWD {
        let f = t.task.files().get(dirfd as i32 as i64)?;
        if p.is_empty() {
            // AT_EMPTY_PATH (executing the descriptor itself) is not
            // supported: no descriptor here is an executable file.
            return Err(Errno::EACCES.into());
        }
        base = Some(f.ops.dir_path().ok_or(Errno::ENOTDIR)?);
    }
    if flags & AT_SYMLINK_NOFOLLOW != 0 {
        let base = base.clone().unwrap_or_else(|| t.task.fs.lock().cwd.clone());
        if let Lookup::Host(r) = t.task.kernel.root().resolve(&base, &p, false)?
            && r.meta.file_type().is_symlink()
        {
            return Err(Errno::ELOOP.into());
        }
    }
    exec_at(t, base, &p, argv, envp)
}

/// exec of `path`, relative to guest directory `base` (default: the cwd).
fn exec_at(t: &mut TaskCtx, base: Option<Vec<u8>>, path: &[u8], argv: u64, envp: u64) -> SysResult {
    let mm = t.mm();
    let mut total = 0;
    let args = read_strings(&mm, argv, &mut total)?;
    let env = read_strings(&mm, envp, &mut total)?;
    let base = base.unwrap_or_else(|| t.task.fs.lock().cwd.clone());
    let (exe, host, elf) = open_program(t, &base, path)?;
    // Build the new image completely before the point of no return.
    let new_mm = AddressSpace::new(Arc::clone(mm.machine()))?;
    let ctx = match crate::exec::load(&new_mm, &elf, &args, &env, &exe) {
        Ok(c) => c,
        Err(ExecError::Elf(LoadError::Read(e))) => {
            tracing::info!("execve {}: {e}", crate::quote(path));
            return Err(Errno::EIO.into());
        }
        Err(ExecError::Elf(e)) => {
            tracing::info!("execve {}: {e}", crate::quote(path));
            return Err(Errno::ENOEXEC.into());
        }
        Err(ExecError::Stack(_)) => return Err(Errno::E2BIG.into()),
        Err(ExecError::NoMemory) => return Err(Errno::ENOMEM.into()),
    };
    drop(elf);
    new_mm.set_exe(&exe, host);
    new_mm.set_cmdline(&args);

    // Point of no return. Other threads go first (de_thread).
    let task = Arc::clone(&t.task);
    let others: Vec<_> = task
        .tg
        .threads
        .lock()
        .iter()
        .filter(|o| o.tid != task.tid)
        .cloned()
        .collect();
    for o in &others {
        o.zap();
    }
    while task.tg.threads.lock().len() > 1 {
        if task.tg.is_exiting() {
            return Err(SysError::Exited);
        }
        task.waiter.wait(Some(
            std::time::Instant::now() + std::time::Duration::from_millis(1),
        ));
    }
    // The old address space is released as at exit (mm_release).
    let old_mm = task
        .mm
        .lock()
        .replace(Arc::clone(&new_mm))
        .expect("a running task has an mm");
    let ctid = task.clear_child_tid.swap(0, Ordering::Relaxed);
    if ctid != 0 && old_mm.write_u32(ctid, 0).is_ok() {
        task.kernel.futex.wake_addr(&old_mm, ctid, 1);
    }
    let robust = task.robust_list.swap(0, Ordering::Relaxed);
    if robust != 0 {
        task.kernel
            .futex
            .exit_robust_list(&old_mm, task.tid, robust);
    }
    if let Some(r) = task.runner.lock().as_ref() {
        old_mm.detach(r);
        new_mm.attach(r);
    }
    drop(old_mm);
    if let Some(done) = task.vfork_done.lock().take() {
        done.complete();
    }
    // Descriptors: a table shared with another process is unshared first.
    {
        let mut files = task.files.lock();
        if Arc::strong_count(&files) > 1 {
            *files = files.fork();
        }
        files.close_on_exec();
    }
    // Handled signals go back to SIG_DFL; ignored ones stay ignored. A
    // table shared with another process (CLONE_SIGHAND) is unshared first.
    for a in task.tg.unshare_handlers().lock().iter_mut() {
        if a.handler != signal::SIG_IGN {
            *a = SigAction::default();
        }
    }
    {
        let mut s = task.sig.lock();
        s.alt = AltStack::default();
        s.saved_mask = None;
    }
    // A fresh FPU for the new program. KVM refusing it is a host failure
    // (Linux cannot fail here): the exec fails as one that ran out of
    // resources (ENOMEM), and the cause is logged.
    t.vcpu.reset_fpu().map_err(|e| {
        tracing::error!("KVM_SET_XSAVE failed in execve: {e}");
        Errno::ENOMEM
    })?;
    t.ctx = ctx;
    Err(SysError::KeepRegs)
}

//! execve and execveat: replace the process image with a static ELF read
//! from the sandbox's root (a host directory shown read-only; paths resolve
//! inside it and `..` stops at its top). What survives an exec follows
//! Linux: pid, parent, process group, descriptors without close-on-exec,
//! ignored signals, the signal mask and pending signals; what does not:
//! the address space, other threads, handlers (back to SIG_DFL), the
//! alternate stack, FPU state, TLS. A vfork parent wakes up.
//!
//! A `#!` script runs its interpreter as Linux's `binfmt_script` does
//! ([`crate::exec::follow_scripts`]): `argv[0]` is replaced by the
//! interpreter, its optional argument and the script's path as given to
//! execve (`/dev/fd/N/PATH` for execveat relative to a descriptor), up to
//! five scripts in a row (then ELOOP). An empty argv becomes `{""}`, as
//! since Linux 5.18.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use crate::abi::{Fd, UserPtr};
use crate::errno::Errno;
use crate::kernel::signal::{self, AltStack, SigAction};
use crate::kernel::task::{SysError, SysResult, TaskCtx};
use crate::mm::AddressSpace;

use loader::{LoadError, MAX_ARG_BYTES, MAX_ARG_STRLEN};

const AT_FDCWD: i32 = -100;
const AT_EMPTY_PATH: i32 = 0x1000;
const AT_SYMLINK_NOFOLLOW: i32 = 0x100;

/// The most bytes argv and envp may take together (strings, NULs and
/// pointers), as Linux's bprm_stack_limits: a quarter of RLIMIT_STACK, at
/// least ARG_MAX (32 pages), at most what the loader places
/// ([`MAX_ARG_BYTES`], the default stack's quarter).
fn arg_limit(stack: u64) -> usize {
    usize::try_from((stack / 4).max(32 * 4096)).map_or(MAX_ARG_BYTES, |l| l.min(MAX_ARG_BYTES))
}

/// Reads a NULL-terminated array of string pointers (argv, envp; NULL
/// itself is an empty array, as Linux accepts): E2BIG when `total` would
/// pass `limit`.
fn read_strings(
    mm: &AddressSpace,
    array: Option<UserPtr<u64>>,
    total: &mut usize,
    limit: usize,
) -> Result<Vec<Vec<u8>>, Errno> {
    let mut out = Vec::new();
    let Some(array) = array else {
        return Ok(out);
    };
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
        if *total > limit || s.len() >= MAX_ARG_STRLEN {
            return Err(Errno::E2BIG);
        }
        out.push(s);
    }
    Ok(out)
}

/// A program file of the VFS, read through its open file.
pub struct VfsProgram {
    file: Box<dyn crate::fs::FileOps>,
    len: u64,
}

impl VfsProgram {
    /// The file's first [`loader::BINPRM_BUF_SIZE`] bytes (fewer if it is
    /// shorter), where Linux looks for `#!`.
    pub fn head(&self) -> Result<Vec<u8>, Errno> {
        crate::exec::read_head(|buf, off| self.file.pread(buf, off))
    }
}

impl loader::ElfSource for VfsProgram {
    fn len(&self) -> u64 {
        self.len
    }

    fn read_exact_at(&self, buf: &mut [u8], offset: u64) -> Result<(), LoadError> {
        let mut done = 0;
        while done < buf.len() {
            match self.file.pread(&mut buf[done..], offset + done as u64) {
                Ok(0) => return Err(LoadError::Read("unexpected end of file".into())),
                Ok(n) => done += n,
                Err(e) => return Err(LoadError::Read(format!("{e:?}"))),
            }
        }
        Ok(())
    }
}

/// Opens the program at `place` and checks it as Linux's execve does:
/// EACCES unless it is a regular file with an execute bit (the guest is
/// root, which needs one of them).
pub fn open_place(
    caller: &crate::fs::vfs::Caller,
    place: &crate::fs::vfs::Path,
) -> Result<VfsProgram, Errno> {
    let st = place.inode().stat();
    if place.inode().kind() != crate::fs::vfs::FileType::Regular || st.mode & 0o111 == 0 {
        return Err(Errno::EACCES);
    }
    let file = place.inode().open(caller, 0)?;
    Ok(VfsProgram {
        file,
        len: st.size as u64,
    })
}

/// Opens the program at guest path `path` (relative to `dirfd`),
/// following links (`/proc/self/exe` leads to the running program, even
/// one loaded from the host). Returns its guest path and file.
fn open_program(
    t: &TaskCtx,
    dirfd: Fd,
    path: &[u8],
    follow: bool,
) -> Result<(Vec<u8>, VfsProgram), Errno> {
    use crate::fs::vfs::Resolve;
    let how = if follow {
        Resolve::FOLLOW
    } else {
        Resolve::NOFOLLOW
    };
    let place = super::fs::walk(t, dirfd, path, &how)?.existing()?;
    if place.inode().kind() == crate::fs::vfs::FileType::Symlink {
        return Err(Errno::ELOOP);
    }
    let file = open_place(&super::fs::caller(t), &place)?;
    let name = if place.dentry.parent.is_some() || place.mount.parent.is_some() {
        super::fs::name_of(t, &place)
    } else {
        path.to_vec()
    };
    Ok((name, file))
}

/// execve(path, argv, envp).
pub fn execve(
    t: &mut TaskCtx,
    path: u64,
    argv: Option<UserPtr<u64>>,
    envp: Option<UserPtr<u64>>,
) -> SysResult {
    let path = t.mm().read_cstring(path, 4095)?;
    exec_at(
        t,
        Fd(AT_FDCWD),
        &path,
        (path.clone(), false),
        argv,
        envp,
        true,
    )
}

/// execveat(dirfd, path, argv, envp, flags).
pub fn execveat(
    t: &mut TaskCtx,
    dirfd: Fd,
    path: u64,
    argv: Option<UserPtr<u64>>,
    envp: Option<UserPtr<u64>>,
    flags: i32,
) -> SysResult {
    if flags & !(AT_EMPTY_PATH | AT_SYMLINK_NOFOLLOW) != 0 {
        return Err(Errno::EINVAL.into());
    }
    let p = t.mm().read_cstring(path, 4095)?;
    if p.is_empty() {
        // AT_EMPTY_PATH (executing the descriptor itself) is not
        // supported: EACCES, or ENOENT without the flag.
        t.task.files().get(i64::from(dirfd.0))?;
        return Err(if flags & AT_EMPTY_PATH != 0 {
            Errno::EACCES
        } else {
            Errno::ENOENT
        }
        .into());
    }
    // The name a script's interpreter gets for the script (Linux's
    // bprm->filename): the path, or /dev/fd/N/PATH relative to a descriptor.
    let mut shown = p.clone();
    let mut inaccessible = false;
    if !p.starts_with(b"/") && dirfd.0 != AT_FDCWD {
        shown = format!("/dev/fd/{}/", dirfd.0).into_bytes();
        shown.extend_from_slice(&p);
        // The interpreter could not open that path after the exec: Linux
        // refuses a script then (BINPRM_FLAGS_PATH_INACCESSIBLE).
        inaccessible = t.task.files().cloexec(i64::from(dirfd.0))?;
    }
    exec_at(
        t,
        dirfd,
        &p,
        (shown, inaccessible),
        argv,
        envp,
        flags & AT_SYMLINK_NOFOLLOW == 0,
    )
}

/// exec of `path`, relative to `dirfd`. `filename` is Linux's
/// bprm->filename (AT_EXECFN, and the script path an interpreter gets) and
/// whether it is unusable after the exec (then a script is ENOENT).
fn exec_at(
    t: &mut TaskCtx,
    dirfd: Fd,
    path: &[u8],
    filename: (Vec<u8>, bool),
    argv: Option<UserPtr<u64>>,
    envp: Option<UserPtr<u64>>,
    follow: bool,
) -> SysResult {
    let mm = t.mm();
    let mut total = 0;
    let limit = arg_limit(
        t.task
            .tg
            .limits
            .lock()
            .soft(crate::kernel::limits::resource::STACK),
    );
    let mut args = read_strings(&mm, argv, &mut total, limit)?;
    let env = read_strings(&mm, envp, &mut total, limit)?;
    if args.is_empty() {
        // Linux (since 5.18) gives a program run with an empty argv {""}.
        args.push(Vec::new());
    }
    if path.is_empty() {
        return Err(Errno::ENOENT.into());
    }
    let (execfn, inaccessible) = filename;
    // A program reached through /proc/self/exe that the user named on the
    // host stays that host file (for a later /proc/self/exe).
    let host = super::fs::walk(t, dirfd, path, &crate::fs::vfs::Resolve::FOLLOW)
        .ok()
        .and_then(|w| w.found)
        .filter(|p| crate::fs::sentryfs::is_host_program(p.inode()))
        .and(mm.exe_host());
    let first = open_program(t, dirfd, path, follow)?;
    let first_name = first.0.clone();
    let (exe, elf) = if inaccessible {
        match loader::parse_shebang(&first.1.head()?) {
            Ok(None) => first,
            Ok(Some(_)) => return Err(Errno::ENOENT.into()),
            Err(_) => return Err(Errno::ENOEXEC.into()),
        }
    } else {
        crate::exec::follow_scripts(
            first,
            &execfn,
            &mut args,
            |f| f.1.head(),
            |name| open_program(t, Fd(AT_FDCWD), name, true),
        )?
    };
    // (Not when a script was followed to its interpreter.)
    let host = host.filter(|_| exe == first_name);
    let exe = if host.is_some() { mm.exe() } else { exe };
    // Build the new image completely before the point of no return.
    let new_mm = AddressSpace::new(Arc::clone(mm.machine()))?;
    crate::kernel::limits::apply_mm(&t.task.tg.limits.lock(), &new_mm);
    let randomize = t.task.kernel.config.aslr
        && t.task.ident.personality.load(Ordering::Relaxed) & crate::exec::ADDR_NO_RANDOMIZE == 0;
    let loaded = {
        let t: &TaskCtx = t;
        let mut open_interp = |name: &[u8]| {
            open_program(t, Fd(AT_FDCWD), name, true)
                .map(|(_, f)| Box::new(f) as Box<dyn loader::ElfSource>)
        };
        let mut how = crate::exec::LoadEnv {
            vdso: t.task.kernel.vdso.as_ref(),
            randomize,
            open_interp: &mut open_interp,
        };
        crate::exec::load(&new_mm, &elf, &args, &env, &execfn, &mut how)
    };
    let ctx = match loaded {
        Ok(c) => c,
        Err(e) => {
            tracing::info!("execve {}: {e}", crate::quote(path));
            match e.errno() {
                Some(errno) => return Err(errno.into()),
                None => {
                    // Linux fails past the point of no return: the
                    // process dies of SIGSEGV.
                    t.task.tg.start_exit(signal::sig::SIGSEGV);
                    return Err(SysError::Exited);
                }
            }
        }
    };
    drop(elf);
    new_mm.set_exe(&exe, host);
    new_mm.set_cmdline(&args);
    new_mm.set_environ(&env);

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
    // A non-leader thread takes over the leader's tid (de_thread's
    // exchange_tids): getpid() == gettid() in the new program.
    let task = if task.tid == task.tgid() {
        task
    } else {
        let new = task.become_leader();
        t.task = Arc::clone(&new);
        new
    };
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
    task.kernel.futex.exit_pi_state(task.tid);
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
            // Past the point of no return a failure kills the process,
            // as Linux's begin_new_exec does (SIGSEGV).
            match files.fork() {
                Ok(copy) => *files = copy,
                Err(_) => {
                    task.tg.start_exit(signal::sig::SIGSEGV);
                    return Err(SysError::Exited);
                }
            }
        }
        files.close_on_exec();
    }
    // POSIX timers are deleted (Linux's exit_itimers); itimers stay.
    task.tg.timers.exec();
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
    task.set_comm_from_path(&execfn);
    // Credentials as for a file without set-id bits or file capabilities;
    // the new mm is dumpable.
    task.ident.exec();
    task.tg
        .dumpable
        .store(1, std::sync::atomic::Ordering::Relaxed);
    // A fresh FPU for the new program. KVM refusing it is a host failure
    // (Linux cannot fail here): the exec fails as one that ran out of
    // resources (ENOMEM, as Linux's exec does when it cannot set up the new
    // image), and the cause is logged.
    t.vcpu.reset_fpu().map_err(|e| {
        tracing::error!("resetting the FPU failed in execve: {e}");
        Errno::ENOMEM
    })?;
    t.ctx = ctx;
    Err(SysError::KeepRegs)
}

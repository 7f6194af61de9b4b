//! What /proc shows of an address space: `maps`, `cmdline`, `environ`,
//! the program behind `exe`, and the sizes of `status`, `stat` and
//! `statm` ([`VmInfo`]).

use super::AddressSpace;

/// Sizes and addresses of an address space, as Linux's `mm_struct`
/// counters show them in `/proc/<pid>/status`, `stat` and `statm`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct VmInfo {
    /// Bytes mapped (VmSize, stat's vsize).
    pub total: u64,
    /// Private writable bytes other than the stack (VmData).
    pub data: u64,
    /// Bytes of the stack (VmStk).
    pub stack: u64,
    /// Executable, non-writable bytes (VmExe).
    pub exec: u64,
    /// Shared bytes mapped (statm's shared).
    pub shared: u64,
    /// Resident pages (VmRSS, stat's rss).
    pub rss_pages: u64,
    /// Pages of page tables (VmPTE).
    pub table_pages: u64,
    /// The first executable mapping (start_code, end_code).
    pub code: (u64, u64),
    /// The program break's start and current value.
    pub brk: (u64, u64),
    /// The top of the main stack (start_stack: the end of its VMA).
    pub stack_top: u64,
}

impl AddressSpace {
    /// /proc/self/cmdline: the arguments, each NUL-terminated.
    pub fn cmdline(&self) -> Vec<u8> {
        self.cmdline.lock().clone()
    }

    /// Records the arguments the program was started with.
    pub fn set_cmdline(&self, argv: &[Vec<u8>]) {
        let mut c = Vec::new();
        for a in argv {
            c.extend_from_slice(a);
            c.push(0);
        }
        *self.cmdline.lock() = c;
    }

    /// /proc/self/environ: the initial environment, each NUL-terminated.
    pub fn environ(&self) -> Vec<u8> {
        self.environ.lock().clone()
    }

    /// Records the environment the program was started with.
    pub fn set_environ(&self, envp: &[Vec<u8>]) {
        let mut c = Vec::new();
        for a in envp {
            c.extend_from_slice(a);
            c.push(0);
        }
        *self.environ.lock() = c;
    }

    /// Sizes for `/proc/<pid>/status`, `stat` and `statm`.
    pub fn vm_info(&self) -> VmInfo {
        let mut info = VmInfo::default();
        {
            let inner = self.inner.lock();
            for (start, v) in inner.vmas.iter() {
                let len = v.end - start;
                info.total += len;
                if v.grows_down || v.name == "[stack]" {
                    info.stack += len;
                    info.stack_top = info.stack_top.max(v.end);
                } else if v.shared.is_some() || v.file.as_ref().is_some_and(|(f, _)| f.shared) {
                    info.shared += len;
                } else if v.prot.write {
                    info.data += len;
                }
                if v.prot.exec && !v.prot.write {
                    info.exec += len;
                    if info.code == (0, 0) {
                        info.code = (start, v.end);
                    }
                }
            }
            info.brk = (inner.brk_start, inner.brk);
        }
        info.rss_pages = self.resident_pages() as u64;
        info.table_pages = self.table_frames() as u64;
        info
    }

    pub fn exe(&self) -> Vec<u8> {
        self.exe.lock().0.clone()
    }

    /// /proc/self/maps: one line per VMA, as Linux formats them.
    pub fn maps(&self) -> String {
        let inner = self.inner.lock();
        let mut out = String::new();
        for (start, v) in inner.vmas.iter() {
            let (offset, dev, ino, name, shared) = match &v.file {
                Some((f, off)) => (*off, f.dev, f.ino, &*f.name, f.shared),
                None => (0, 0, 0, v.name, v.shared.is_some()),
            };
            // Linux's new_encode_dev split into major and minor.
            let major = ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff);
            let minor = (dev & 0xff) | ((dev >> 12) & !0xff);
            let line = format!(
                "{:08x}-{:08x} {}{}{}{} {:08x} {:02x}:{:02x} {} ",
                start,
                v.end,
                if v.prot.read { 'r' } else { '-' },
                if v.prot.write { 'w' } else { '-' },
                if v.prot.exec { 'x' } else { '-' },
                if shared { 's' } else { 'p' },
                offset,
                major,
                minor,
                ino,
            );
            if name.is_empty() {
                out.push_str(line.trim_end());
            } else {
                out.push_str(&format!("{line:<73}{name}"));
            }
            out.push('\n');
        }
        out
    }

    /// Where `addr` lies, as Linux's print_vma_addr: the mapping's name
    /// (a file's last component), start and length (`libc.so.6[7f..+1d000]`).
    pub fn describe_addr(&self, addr: u64) -> Option<String> {
        let inner = self.inner.lock();
        let (start, v) = inner.vmas.find(addr)?;
        let name = match &v.file {
            Some((f, _)) => f.name.rsplit('/').next().unwrap_or_default().to_owned(),
            None if v.name.is_empty() => "anon".to_owned(),
            None => v.name.to_owned(),
        };
        Some(format!("{name}[{start:x}+{:x}]", v.end - start))
    }

    /// The host file of the program (to exec /proc/self/exe again).
    pub fn exe_host(&self) -> Option<std::path::PathBuf> {
        self.exe.lock().1.clone()
    }

    /// Sets the program: the path /proc/self/exe shows and its host file.
    pub fn set_exe(&self, path: &[u8], host: Option<std::path::PathBuf>) {
        *self.exe.lock() = (path.to_vec(), host);
    }
}

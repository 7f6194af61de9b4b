//! What /proc/self shows of an address space: `maps`, `cmdline` and the
//! program behind `exe`.

use super::AddressSpace;

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

    /// The path /proc/self/exe shows.
    pub fn exe(&self) -> Vec<u8> {
        self.exe.lock().0.clone()
    }

    /// /proc/self/maps: one line per VMA, as Linux formats them.
    pub fn maps(&self) -> String {
        let inner = self.inner.lock();
        let mut out = String::new();
        for (start, v) in inner.vmas.iter() {
            let line = format!(
                "{:08x}-{:08x} {}{}{}{} 00000000 00:00 0",
                start,
                v.end,
                if v.prot.read { 'r' } else { '-' },
                if v.prot.write { 'w' } else { '-' },
                if v.prot.exec { 'x' } else { '-' },
                if v.shared.is_some() { 's' } else { 'p' },
            );
            if v.name.is_empty() {
                out.push_str(&line);
            } else {
                out.push_str(&format!("{line:<73}{}", v.name));
            }
            out.push('\n');
        }
        out
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

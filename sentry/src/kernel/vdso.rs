//! The vDSO every process gets: the image built from `sentry/vdso/` by
//! `build.rs` (embedded here), its frames, and the sandbox's [vvar] page,
//! which the clock source ([`super::vclock`]) keeps current.
//!
//! exec maps both into the new address space ([`Vdso::map`]) and passes
//! the image's address in AT_SYSINFO_EHDR; glibc, musl and Go find
//! `__vdso_clock_gettime` and friends (version LINUX_2.6) there and read
//! the clocks without a crossing.

use std::sync::Arc;

use platform::Platform;

use super::vclock::{self, VvarPage};
use crate::errno::Errno;
use crate::mm::{AddressSpace, SpecialPages};

/// The vDSO image (an ELF shared object, `linux-vdso.so.1`).
pub static IMAGE: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/vdso.so"));

/// One sandbox's vDSO: the image's frames and the [vvar] page.
pub struct Vdso {
    image: SpecialPages,
    vvar: SpecialPages,
    /// Keeps the page registered with the clock source.
    _page: Arc<VvarPage>,
}

impl Vdso {
    /// Puts the image and a [vvar] page into frames of `machine` and
    /// lets the clock source publish into the page.
    pub fn new(machine: &Arc<dyn Platform>) -> Result<Self, Errno> {
        let image = SpecialPages::new(machine, IMAGE)?;
        let vvar = SpecialPages::new(machine, &[0u8; vclock::VVAR_SIZE])?;
        let page = Arc::new(VvarPage::new(
            Arc::clone(machine),
            Arc::clone(vvar.object()),
            vvar.frame(0)?,
        ));
        vclock::global().attach(&page);
        Ok(Self {
            image,
            vvar,
            _page: page,
        })
    }

    /// Maps [vvar] and [vdso] into `mm`; returns AT_SYSINFO_EHDR.
    pub fn map(&self, mm: &AddressSpace) -> Result<u64, Errno> {
        mm.map_vdso(&self.vvar, &self.image)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u16_at(b: &[u8], o: usize) -> u16 {
        u16::from_le_bytes(b[o..o + 2].try_into().unwrap())
    }
    fn u32_at(b: &[u8], o: usize) -> u32 {
        u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
    }
    fn u64_at(b: &[u8], o: usize) -> u64 {
        u64::from_le_bytes(b[o..o + 8].try_into().unwrap())
    }

    /// The image is a relocation-free ET_DYN whose one PT_LOAD starts at
    /// 0 and covers the file, with PT_DYNAMIC, PT_NOTE and
    /// PT_GNU_EH_FRAME, as Linux's.
    #[test]
    fn the_image_has_linuxs_program_headers() {
        let b = IMAGE;
        assert_eq!(&b[..4], b"\x7fELF");
        assert_eq!(b[4], 2, "ELFCLASS64");
        assert_eq!(u16_at(b, 16), 3, "ET_DYN");
        assert_eq!(u16_at(b, 18), 62, "EM_X86_64");
        let (phoff, phnum) = (u64_at(b, 32) as usize, u16_at(b, 56) as usize);
        let types: Vec<u32> = (0..phnum).map(|i| u32_at(b, phoff + 56 * i)).collect();
        assert_eq!(
            types,
            vec![1, 2, 4, 0x6474_e550],
            "LOAD DYNAMIC NOTE GNU_EH_FRAME"
        );
        let load = phoff;
        assert_eq!(u32_at(b, load + 4), 5, "PF_R|PF_X");
        assert_eq!(u64_at(b, load + 16), 0, "loaded at its own start");
        assert!(u64_at(b, load + 32) as usize <= b.len());
        // No relocations: no DT_RELA/DT_REL/DT_JMPREL in PT_DYNAMIC.
        let dynamic = u64_at(b, phoff + 56 + 8) as usize;
        let mut tags = Vec::new();
        for i in 0.. {
            let tag = u64_at(b, dynamic + 16 * i);
            if tag == 0 {
                break;
            }
            tags.push(tag);
        }
        for (tag, what) in [(7, "DT_RELA"), (17, "DT_REL"), (23, "DT_JMPREL")] {
            assert!(!tags.contains(&tag), "{what} present");
        }
        for (tag, what) in [
            (4, "DT_HASH"),
            (0x6fff_fef5, "DT_GNU_HASH"),
            (0x6fff_fff0, "DT_VERSYM"),
            (0x6fff_fffc, "DT_VERDEF"),
            (14, "DT_SONAME"),
        ] {
            assert!(tags.contains(&tag), "{what} missing");
        }
    }
}

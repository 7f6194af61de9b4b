//! Builds the supervisor area: IDT, exception stubs, trampoline, the area's
//! page tables, and each vCPU's GDT, TSS and kernel stack.

use super::layout::*;
use super::paging::{PTE_NX, PTE_P, PTE_U, PTE_W};
use crate::{GuestMemory, Result};

/// Vectors for which the CPU pushes an error code.
const HAS_ERROR_CODE: [u8; 10] = [8, 10, 11, 12, 13, 14, 17, 21, 29, 30];

/// Whether the CPU pushes an error code for `vector`.
pub(crate) fn has_error_code(vector: u8) -> bool {
    HAS_ERROR_CODE.contains(&vector)
}

/// One stub: `[push $0]; push $v; out %al,$0x11; add $16,%rsp; iretq`.
/// The host normally resumes user mode directly; the `add`/`iretq` tail is
/// there so a stub that is resumed as is returns correctly too.
fn stub(vector: u8) -> Vec<u8> {
    let mut code = Vec::with_capacity(16);
    if !has_error_code(vector) {
        code.extend_from_slice(&[0x6a, 0x00]);
    }
    code.extend_from_slice(&[0x6a, vector, 0xe6, EXCEPTION_PORT as u8]);
    code.extend_from_slice(&[0x48, 0x83, 0xc4, 0x10, 0x48, 0xcf]);
    code
}

/// The stub `CSTAR` and `SYSENTER_EIP` point at: `out %al,$RING0_TRAP_PORT`
/// then `jmp` back to it. The host treats its exit as a compromise attempt
/// and never resumes the vCPU there.
pub(crate) fn ring0_trap() -> Vec<u8> {
    vec![0xe6, RING0_TRAP_PORT as u8, 0xeb, 0xfc]
}

/// The trampoline: `movabs %al, MMIO_VA; ud2`.
pub(crate) fn trampoline() -> Vec<u8> {
    let mut code = vec![0xa2];
    code.extend_from_slice(&MMIO_VA.to_le_bytes());
    code.extend_from_slice(&[0x0f, 0x0b]);
    code
}

/// Length of the trampoline's store instruction.
pub(crate) const TRAMPOLINE_LEN: u64 = 11;

/// The interrupt-stack-table slot every gate uses (see [`build_vcpu`]).
pub(crate) const IST_INDEX: u64 = 1;

/// An interrupt gate to `handler` in the kernel code segment that always
/// switches to IST slot [`IST_INDEX`], whatever the privilege level it
/// interrupts.
fn gate(handler: u64, dpl: u64) -> [u64; 2] {
    let type_attr = 0x8e | (dpl << 5);
    [
        (handler & 0xffff)
            | ((KERNEL_CS as u64) << 16)
            | (IST_INDEX << 32)
            | (type_attr << 40)
            | (((handler >> 16) & 0xffff) << 48),
        handler >> 32,
    ]
}

/// Writes the IDT, stubs, trampoline and the area's page tables. Returns the
/// PML4 entry that maps the area (copied into every root).
pub(crate) fn build(mem: &GuestMemory) -> Result<(usize, u64)> {
    for v in 0..32u8 {
        let handler = STUBS_VA + 16 * v as u64;
        // int3 and into are allowed from ring 3, as on Linux.
        let dpl = if v == 3 || v == 4 { 3 } else { 0 };
        let g = gate(handler, dpl);
        mem.write_u64(IDT_GPA + 16 * v as u64, g[0])?;
        mem.write_u64(IDT_GPA + 16 * v as u64 + 8, g[1])?;
        mem.write(STUBS_GPA + 16 * v as u64, &stub(v))?;
    }
    mem.write(STUBS_GPA + RING0_TRAP_OFFSET, &ring0_trap())?;
    mem.write(TRAMPOLINE_GPA, &trampoline())?;

    let up = PTE_P | PTE_W | PTE_U;
    let pml4_index = ((KBASE >> 39) & 511) as usize;
    mem.write_u64(KPDPT_GPA + 8 * ((KBASE >> 30) & 511), KPD_GPA | up)?;
    let tables = KAREA_SIZE / 0x20_0000;
    for i in 0..tables {
        let pt = KPT_GPA + i * 0x1000;
        mem.write_u64(KPD_GPA + 8 * (((KBASE >> 21) & 511) + i), pt | up)?;
    }
    for page in 0..KAREA_SIZE / 0x1000 {
        let gpa = page * 0x1000;
        let pte = match gpa {
            TRAMPOLINE_GPA => TRAMPOLINE_GPA | PTE_P | PTE_U,
            _ if gpa == MMIO_PAGE_OFFSET => MMIO_GPA | PTE_P | PTE_W | PTE_U | PTE_NX,
            STUBS_GPA => STUBS_GPA | PTE_P,
            _ => gpa | PTE_P | PTE_W | PTE_NX,
        };
        // The PTs are consecutive frames: page n's entry is the n-th u64.
        mem.write_u64(KPT_GPA + 8 * page, pte)?;
    }
    Ok((pml4_index, KPDPT_GPA | up))
}

/// vCPU `n`'s GDT: Linux's selector layout without any 32-bit code
/// segment (slots 0x08 and 0x23 are null), so ring 3 can never switch to
/// compatibility mode (see [`USER32_CS`]).
pub(crate) fn gdt(n: usize) -> [u64; 10] {
    let tss = KBASE + vcpu_gdt_gpa(n) + TSS_OFFSET;
    [
        0,
        0,                     // 0x08: no 32-bit kernel code segment
        0x00af_9b00_0000_ffff, // 0x10 kernel code
        0x00cf_9300_0000_ffff, // 0x18 kernel data
        0,                     // 0x23: no 32-bit user code segment
        0x00cf_f300_0000_ffff, // 0x2b user data
        0x00af_fb00_0000_ffff, // 0x33 user code
        0,
        0x67 | ((tss & 0xff_ffff) << 16) | (0x8b << 40) | (((tss >> 24) & 0xff) << 56),
        tss >> 32,
    ]
}

/// Writes vCPU `n`'s GDT and TSS.
///
/// The TSS gives the vCPU's kernel stack both as `RSP0` and as IST slot
/// [`IST_INDEX`], which every IDT gate names: an exception is always
/// delivered on the kernel stack, also when it interrupts ring 0. Ring 0
/// can be entered with a stack the guest chose: this host's KVM emulates
/// instructions while the user state cannot be entered natively (a
/// non-canonical RSP or FS base), and an emulated `syscall` enters ring 0
/// at `LSTAR` with the user's RSP, where SMEP faults on the trampoline (a
/// user page). Without IST that #PF was pushed onto the user stack: #SS
/// for a non-canonical RSP (SMAP's #PF for a user page), then #DF, then a
/// triple fault that shut the VM down. Linux puts its #DF, NMI and #MC
/// gates on IST stacks for the same reason (a `syscall` leaves the user
/// RSP live in ring 0).
pub(crate) fn build_vcpu(mem: &GuestMemory, n: usize) -> Result<()> {
    let page = vcpu_gdt_gpa(n);
    for (i, d) in gdt(n).iter().enumerate() {
        mem.write_u64(page + 8 * i as u64, *d)?;
    }
    let mut t = [0u8; 104];
    let top = vcpu_stack_top(n).to_le_bytes();
    t[4..12].copy_from_slice(&top);
    let ist = 36 + 8 * (IST_INDEX as usize - 1);
    t[ist..ist + 8].copy_from_slice(&top);
    t[102..104].copy_from_slice(&104u16.to_le_bytes());
    mem.write(page + TSS_OFFSET, &t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stubs_fit_their_slots() {
        for v in 0..32 {
            assert!(stub(v).len() <= 16, "stub {v} too long");
        }
        assert_eq!(stub(14)[..2], [0x6a, 14]);
        assert_eq!(stub(0)[..4], [0x6a, 0, 0x6a, 0]);
    }

    #[test]
    fn gdt_has_no_32_bit_code_segment() {
        let g = gdt(3);
        for (i, d) in g.iter().enumerate().take(7) {
            // A code descriptor has S=1 and bit 43 (executable) set; a
            // 32-bit one has L=0.
            let code = d & (1 << 44) != 0 && d & (1 << 43) != 0;
            if code {
                assert_ne!(d & (1 << 53), 0, "slot {i:#x} is 32-bit code");
            }
        }
        assert_eq!(g[(USER32_CS >> 3) as usize], 0);
        assert_eq!(g[1], 0);
        assert!(ring0_trap().len() as u64 <= 0x1000 - RING0_TRAP_OFFSET);
        const { assert!(RING0_TRAP_OFFSET >= 32 * 16) };
    }

    #[test]
    fn trampoline_stores_to_the_mmio_page() {
        let t = trampoline();
        assert_eq!(t[0], 0xa2);
        assert_eq!(u64::from_le_bytes(t[1..9].try_into().unwrap()), MMIO_VA);
        assert!(t.len() as u64 >= TRAMPOLINE_LEN);
    }

    #[test]
    fn gate_encodes_handler_and_selector() {
        let g = gate(0xffff_c900_0000_1230, 3);
        assert_eq!(g[0] & 0xffff, 0x1230);
        assert_eq!((g[0] >> 16) & 0xffff, KERNEL_CS as u64);
        assert_eq!((g[0] >> 40) & 0xff, 0xee);
        assert_eq!((g[0] >> 32) & 7, IST_INDEX);
        assert_eq!(g[1], 0xffff_c900);
    }
}

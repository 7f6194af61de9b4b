//! Where things live, in guest-physical and guest-virtual addresses.
//!
//! The supervisor area is the first 2 MiB of guest-physical memory, mapped
//! with 4 KiB pages at [`KBASE`] in the upper half of every address space
//! (one PML4 slot shared by all roots and never edited after start-up):
//!
//! | GPA | page | who may touch it |
//! | --- | --- | --- |
//! | `0x0000` | IDT (256 gates) | ring 0 |
//! | `0x1000` | exception stubs, 16 bytes per vector, then the `CSTAR`/`SYSENTER` trap stub at [`RING0_TRAP_OFFSET`] | ring 0 |
//! | `0x2000` | syscall trampoline (`LSTAR`) | ring 3, read/execute |
//! | `0x3000` | (VA only) MMIO page → [`MMIO_GPA`], no memslot | ring 3, write |
//! | `0x4000`–`0x9000` | the area's own PDPT, PD and four PTs | – |
//! | `0x10000 + 0x2000·n` | vCPU n: GDT + TSS page, then a kernel stack page | ring 0 |
//!
//! Frames for guest pages and page tables start at [`POOL_START`].

/// Guest-virtual base of the supervisor area (PML4 slot 402; slot 256 is
/// unusable from ring 3 on this host).
pub const KBASE: u64 = 0xffff_c900_0000_0000;
/// Size of the supervisor area (guest-physical `[0, KAREA_SIZE)`): room for
/// about a thousand vCPUs (KVM's limit here is 1024).
pub const KAREA_SIZE: u64 = 0x80_0000;
/// First frame handed to the frame allocator.
pub const POOL_START: u64 = KAREA_SIZE;

/// GPA of the IDT.
pub const IDT_GPA: u64 = 0x0000;
/// GPA of the exception stubs.
pub const STUBS_GPA: u64 = 0x1000;
/// GPA of the syscall trampoline page.
pub const TRAMPOLINE_GPA: u64 = 0x2000;
/// VA offset (from KBASE) of the MMIO page the trampoline stores to.
pub const MMIO_PAGE_OFFSET: u64 = 0x3000;
/// GPA of the supervisor area's PDPT, PD and first PT (one PT per 2 MiB).
pub const KPDPT_GPA: u64 = 0x4000;
/// See [`KPDPT_GPA`].
pub const KPD_GPA: u64 = 0x5000;
/// See [`KPDPT_GPA`].
pub const KPT_GPA: u64 = 0x6000;
/// GPA of the first vCPU's GDT/TSS page.
pub const VCPU_AREA_GPA: u64 = 0x10000;
/// Bytes per vCPU in the supervisor area (GDT/TSS page + stack page).
pub const VCPU_AREA_STRIDE: u64 = 0x2000;
/// Offset of the TSS inside a vCPU's GDT/TSS page.
pub const TSS_OFFSET: u64 = 0x100;
/// How many vCPUs fit in the supervisor area.
pub const MAX_VCPUS: usize = ((KAREA_SIZE - VCPU_AREA_GPA) / VCPU_AREA_STRIDE) as usize;

/// Guest-physical address with no memslot that the trampoline stores to.
pub const MMIO_GPA: u64 = 0x3f00_0000_0000;
/// Guest-physical address of the tiny memslot used to drop every shadow.
pub const ZAP_GPA: u64 = 0x3e00_0000_0000;

/// Guest-virtual address of the syscall trampoline (`LSTAR`).
pub const TRAMPOLINE_VA: u64 = KBASE + TRAMPOLINE_GPA;
/// Guest-virtual address of the MMIO page.
pub const MMIO_VA: u64 = KBASE + MMIO_PAGE_OFFSET;
/// Guest-virtual address of the exception stubs.
pub const STUBS_VA: u64 = KBASE + STUBS_GPA;

/// I/O port the exception stubs write to.
pub const EXCEPTION_PORT: u16 = 0x11;
/// I/O port of the stub that `CSTAR` and `SYSENTER_EIP` point at. Reaching
/// it means the guest made a 32-bit (compatibility-mode) `syscall` or a
/// `sysenter` that entered ring 0; the host never resumes it.
pub const RING0_TRAP_PORT: u16 = 0x12;
/// Offset of that stub inside the stubs page (after the 32 vector stubs).
pub const RING0_TRAP_OFFSET: u64 = 0x200;
/// Guest-virtual address of that stub (`CSTAR`, `SYSENTER_EIP`).
pub const RING0_TRAP_VA: u64 = STUBS_VA + RING0_TRAP_OFFSET;

/// Segment selectors (Linux's layout). The GDT has no 32-bit code segment
/// (Linux's 0x08 and 0x23 slots are null descriptors): ring 3 cannot enter
/// compatibility mode, where `syscall` would go through `CSTAR` into ring 0
/// on this host (KVM-NOTES fact 1). A far jump, call or return to 0x23
/// takes a #GP, which the guest sees as SIGSEGV.
pub const KERNEL_CS: u16 = 0x10;
/// Kernel data segment.
pub const KERNEL_DS: u16 = 0x18;
/// 64-bit user code segment.
pub const USER_CS: u16 = 0x33;
/// User data segment.
pub const USER_DS: u16 = 0x2b;
/// `STAR[63:48]`, the base `SYSRET` derives user selectors from (CS is
/// base plus 16, [`USER_CS`]; SS is base plus 8, [`USER_DS`]). `SYSRET` is never
/// executed (it is a ring-0 instruction and the host resumes user mode by
/// writing the segments itself), and the GDT slot 0x23 itself is null.
pub const USER32_CS: u16 = 0x23;
/// Task state segment.
pub const TSS_SEL: u16 = 0x40;

/// Exclusive upper bound of user virtual addresses (as Linux's TASK_SIZE).
pub const USER_VA_END: u64 = 0x7fff_ffff_f000;

/// GPA of vCPU `n`'s GDT/TSS page.
pub const fn vcpu_gdt_gpa(n: usize) -> u64 {
    VCPU_AREA_GPA + n as u64 * VCPU_AREA_STRIDE
}

/// GVA of the top of vCPU `n`'s kernel stack.
pub const fn vcpu_stack_top(n: usize) -> u64 {
    KBASE + vcpu_gdt_gpa(n) + 2 * 0x1000
}

//! What Linux does when 64-bit user code runs an instruction that UMIP
//! makes fault (arch/x86/kernel/umip.c): `sgdt`, `sidt`, `smsw`, `sldt`
//! and `str` are emulated with fixed dummy values and the program goes on
//! (measured on the host kernel, 6.18: `sldt` gives 0, `str` 0x40). The
//! platform sets CR4.UMIP, so these arrive here as a #GP; [`emulate`]
//! decodes the instruction, stores what Linux would store and steps over
//! it.

use platform::UserRegs;

use crate::mm::AddressSpace;

/// Linux's UMIP_DUMMY_GDT_BASE.
const DUMMY_GDT_BASE: u64 = 0xffff_ffff_fffe_0000;
/// Linux's UMIP_DUMMY_IDT_BASE.
const DUMMY_IDT_BASE: u64 = 0xffff_ffff_ffff_0000;
/// Linux's CR0_STATE: PE MP ET NE WP AM PG.
const DUMMY_CR0: u64 = 0x8005_0033;
/// What `str` shows: Linux's TSS selector (GDT_ENTRY_TSS << 3).
const DUMMY_TR: u64 = 0x40;
/// What `sldt` shows: no LDT (the sandbox has no modify_ldt).
const DUMMY_LDTR: u64 = 0;

/// The outcome of a #GP that may be a UMIP instruction.
#[derive(Debug, PartialEq, Eq)]
pub enum Umip {
    /// Not an emulated instruction: the #GP stands (SIGSEGV, SI_KERNEL).
    NotEmulated,
    /// Emulated: the registers are updated and `rip` steps over it.
    Done,
    /// The store to memory at this address failed: SIGSEGV, SEGV_MAPERR,
    /// with `rip` still at the instruction (as Linux's
    /// force_sig_info_umip_fault).
    Fault(u64),
}

/// Emulates the instruction at `regs.rip` if it is `sgdt`, `sidt`, `smsw`,
/// `sldt` or `str`.
pub fn emulate(mm: &AddressSpace, regs: &mut UserRegs, fs_base: u64, gs_base: u64) -> Umip {
    let mut insn = [0u8; 15];
    let n = mm.read_prefix(regs.rip, &mut insn);
    let Some(d) = decode(&insn[..n]) else {
        return Umip::NotEmulated;
    };
    let next = regs.rip + d.len as u64;
    let value = match d.op {
        Op::Sgdt => DUMMY_GDT_BASE,
        Op::Sidt => DUMMY_IDT_BASE,
        Op::Smsw => DUMMY_CR0,
        Op::Sldt => DUMMY_LDTR,
        Op::Str => DUMMY_TR,
    };
    match d.operand {
        Operand::Reg(r) => {
            // Linux copies operand-size bytes into the register, leaving
            // the rest of it as it was (no zero-extension).
            let reg = reg_mut(regs, r);
            let mask = match d.op_bytes {
                8 => u64::MAX,
                4 => 0xffff_ffff,
                _ => 0xffff,
            };
            *reg = (*reg & !mask) | (value & mask);
        }
        Operand::Mem(m) => {
            let mut ea = m.disp as u64;
            if let Some(b) = m.base {
                ea = ea.wrapping_add(reg_value(regs, b));
            }
            if let Some((i, scale)) = m.index {
                ea = ea.wrapping_add(reg_value(regs, i) << scale);
            }
            if m.rip_relative {
                ea = ea.wrapping_add(next);
            }
            if d.addr32 {
                ea &= 0xffff_ffff;
            }
            ea = ea.wrapping_add(match d.segment {
                Some(Seg::Fs) => fs_base,
                Some(Seg::Gs) => gs_base,
                None => 0,
            });
            let mut data = [0u8; 10];
            let len = match d.op {
                // A zero limit, then the 64-bit dummy base.
                Op::Sgdt | Op::Sidt => {
                    data[2..].copy_from_slice(&value.to_le_bytes());
                    10
                }
                // To memory these store two bytes whatever the operand size.
                Op::Smsw | Op::Sldt | Op::Str => {
                    data[..2].copy_from_slice(&(value as u16).to_le_bytes());
                    2
                }
            };
            if mm.write(ea, &data[..len]).is_err() {
                return Umip::Fault(ea);
            }
        }
    }
    regs.rip = next;
    Umip::Done
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Sgdt,
    Sidt,
    Smsw,
    Sldt,
    Str,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Seg {
    Fs,
    Gs,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Mem {
    base: Option<u8>,
    index: Option<(u8, u32)>,
    disp: i64,
    rip_relative: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Operand {
    Reg(u8),
    Mem(Mem),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Decoded {
    op: Op,
    operand: Operand,
    op_bytes: u8,
    addr32: bool,
    segment: Option<Seg>,
    len: usize,
}

/// Decodes `0f 01 /0` (sgdt), `0f 01 /1` (sidt), `0f 01 /4` (smsw),
/// `0f 00 /0` (sldt) and `0f 00 /1` (str) in 64-bit mode, with their
/// prefixes; None for anything else.
fn decode(b: &[u8]) -> Option<Decoded> {
    let mut i = 0;
    let mut rex = 0u8;
    let mut op16 = false;
    let mut addr32 = false;
    let mut segment = None;
    loop {
        let byte = *b.get(i)?;
        match byte {
            0x66 => op16 = true,
            0x67 => addr32 = true,
            0x64 => segment = Some(Seg::Fs),
            0x65 => segment = Some(Seg::Gs),
            // es/cs/ss/ds overrides are ignored in 64-bit mode.
            0x26 | 0x2e | 0x36 | 0x3e | 0xf2 | 0xf3 => {}
            0x40..=0x4f => {
                rex = byte;
                i += 1;
                continue;
            }
            _ => break,
        }
        // A legacy prefix after a REX prefix cancels the REX.
        rex = 0;
        i += 1;
    }
    if *b.get(i)? != 0x0f {
        return None;
    }
    let opcode = *b.get(i + 1)?;
    let modrm = *b.get(i + 2)?;
    let md = modrm >> 6;
    let op = match (opcode, (modrm >> 3) & 7) {
        (0x01, 0) if md != 3 => Op::Sgdt,
        (0x01, 1) if md != 3 => Op::Sidt,
        (0x01, 4) => Op::Smsw,
        (0x00, 0) => Op::Sldt,
        (0x00, 1) => Op::Str,
        _ => return None,
    };
    let rex_w = rex & 8 != 0;
    let rex_r_b = |x: u8, bit: u8| x | if rex & bit != 0 { 8 } else { 0 };
    let op_bytes = if rex_w {
        8
    } else if op16 {
        2
    } else {
        4
    };
    let rm = modrm & 7;
    let mut j = i + 3;
    let operand = if md == 3 {
        Operand::Reg(rex_r_b(rm, 1))
    } else {
        let mut m = Mem {
            base: None,
            index: None,
            disp: 0,
            rip_relative: false,
        };
        let mut disp32 = md == 2;
        if rm == 4 {
            let sib = *b.get(j)?;
            j += 1;
            let index = rex_r_b((sib >> 3) & 7, 2);
            if index != 4 {
                m.index = Some((index, u32::from(sib >> 6)));
            }
            if sib & 7 == 5 && md == 0 {
                disp32 = true;
            } else {
                m.base = Some(rex_r_b(sib & 7, 1));
            }
        } else if rm == 5 && md == 0 {
            m.rip_relative = true;
            disp32 = true;
        } else {
            m.base = Some(rex_r_b(rm, 1));
        }
        if md == 1 {
            m.disp = i64::from(*b.get(j)? as i8);
            j += 1;
        } else if disp32 {
            let d: [u8; 4] = b.get(j..j + 4)?.try_into().ok()?;
            m.disp = i64::from(i32::from_le_bytes(d));
            j += 4;
        }
        Operand::Mem(m)
    };
    Some(Decoded {
        op,
        operand,
        op_bytes,
        addr32,
        segment,
        len: j,
    })
}

fn reg_mut(r: &mut UserRegs, n: u8) -> &mut u64 {
    match n {
        0 => &mut r.rax,
        1 => &mut r.rcx,
        2 => &mut r.rdx,
        3 => &mut r.rbx,
        4 => &mut r.rsp,
        5 => &mut r.rbp,
        6 => &mut r.rsi,
        7 => &mut r.rdi,
        8 => &mut r.r8,
        9 => &mut r.r9,
        10 => &mut r.r10,
        11 => &mut r.r11,
        12 => &mut r.r12,
        13 => &mut r.r13,
        14 => &mut r.r14,
        _ => &mut r.r15,
    }
}

fn reg_value(r: &UserRegs, n: u8) -> u64 {
    let mut copy = *r;
    *reg_mut(&mut copy, n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mem(base: Option<u8>, index: Option<(u8, u32)>, disp: i64, rip: bool) -> Operand {
        Operand::Mem(Mem {
            base,
            index,
            disp,
            rip_relative: rip,
        })
    }

    #[test]
    fn decodes_the_forms_compilers_emit() {
        // sgdt (%rax)
        let d = decode(&[0x0f, 0x01, 0x00]).unwrap();
        assert_eq!(
            (d.op, d.operand, d.len),
            (Op::Sgdt, mem(Some(0), None, 0, false), 3)
        );
        // sidt 0x10(%rsp)
        let d = decode(&[0x0f, 0x01, 0x4c, 0x24, 0x10]).unwrap();
        assert_eq!(
            (d.op, d.operand, d.len),
            (Op::Sidt, mem(Some(4), None, 16, false), 5)
        );
        // sgdt 0x600000 (SIB, no base, no index)
        let d = decode(&[0x0f, 0x01, 0x04, 0x25, 0x00, 0x00, 0x60, 0x00]).unwrap();
        assert_eq!(d.operand, mem(None, None, 0x60_0000, false));
        assert_eq!(d.len, 8);
        // sgdt -8(%rip)
        let d = decode(&[0x0f, 0x01, 0x05, 0xf8, 0xff, 0xff, 0xff]).unwrap();
        assert_eq!(d.operand, mem(None, None, -8, true));
        // smsw %r9 (REX.W + REX.B)
        let d = decode(&[0x49, 0x0f, 0x01, 0xe1]).unwrap();
        assert_eq!(
            (d.op, d.operand, d.op_bytes),
            (Op::Smsw, Operand::Reg(9), 8)
        );
        // smsw %ax
        let d = decode(&[0x66, 0x0f, 0x01, 0xe0]).unwrap();
        assert_eq!((d.operand, d.op_bytes), (Operand::Reg(0), 2));
        // %gs:sgdt (%r12,%r13,4) with a 32-bit address size
        let d = decode(&[0x65, 0x67, 0x43, 0x0f, 0x01, 0x04, 0xac]).unwrap();
        assert_eq!(d.operand, mem(Some(12), Some((13, 2)), 0, false));
        assert!(d.addr32);
        assert_eq!(d.segment, Some(Seg::Gs));
        // sldt %esi, str %r8w, str 0x10(%rip)
        let d = decode(&[0x0f, 0x00, 0xc6]).unwrap();
        assert_eq!(
            (d.op, d.operand, d.op_bytes),
            (Op::Sldt, Operand::Reg(6), 4)
        );
        let d = decode(&[0x66, 0x41, 0x0f, 0x00, 0xc8]).unwrap();
        assert_eq!((d.op, d.operand, d.op_bytes), (Op::Str, Operand::Reg(8), 2));
        let d = decode(&[0x0f, 0x00, 0x0d, 0x10, 0, 0, 0]).unwrap();
        assert_eq!(
            (d.op, d.operand, d.len),
            (Op::Str, mem(None, None, 16, true), 7)
        );
        // A legacy prefix after REX cancels it: smsw %eax, not %r8.
        let d = decode(&[0x41, 0x66, 0x0f, 0x01, 0xe0]).unwrap();
        assert_eq!(d.operand, Operand::Reg(0));
    }

    #[test]
    fn leaves_other_instructions_alone() {
        for insn in [
            &[0x0f, 0x00, 0x10][..],   // lldt (%rax)
            &[0x0f, 0x00, 0x18],       // ltr (%rax)
            &[0x0f, 0x01, 0xc1],       // vmcall (sgdt with a register)
            &[0x0f, 0x01, 0x10],       // lgdt (%rax)
            &[0xf4],                   // hlt
            &[0x0f, 0x01],             // cut short
            &[0x0f, 0x01, 0x04],       // SIB byte missing
            &[0x0f, 0x01, 0x80, 0, 0], // disp32 cut short
        ] {
            assert_eq!(decode(insn), None, "{insn:02x?}");
        }
    }
}

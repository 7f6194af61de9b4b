//! The Linux x86-64 ABI as typed values: the one place where guest bytes
//! become structs and register values become validated arguments.
//!
//! * [`Abi`]: a `#[repr(C)]`-style struct of the kernel ABI, decoded from
//!   and encoded to its exact Linux byte layout in one `impl` (each layout
//!   is unit-tested against Linux's sizes and field offsets).
//! * [`UserPtr<T>`], [`UserSlice`] and [`UserCStr`]: guest addresses,
//!   read and written only through [`AddressSpace`]'s checked copy path
//!   (EFAULT on any fault, never a partial struct).
//! * Argument newtypes: [`Fd`], [`Pid`], [`Signal`](signal::Signal), and
//!   `bitflags` types for the flag words ([`process::CloneFlags`],
//!   [`fs::OpenFlags`], [`mm::MmapProt`], [`mm::MmapFlags`],
//!   [`process::WaitOptions`], [`signal::SaFlags`]).
//!
//! This module imports nothing from the kernel or the syscall layer: both
//! build on it.

pub mod fs;
pub mod mm;
pub mod process;
pub mod signal;
pub mod time;

use std::marker::PhantomData;

use crate::errno::Errno;
use crate::mm::AddressSpace;

/// A struct of the kernel ABI with a fixed little-endian layout.
///
/// `decode` and `encode` are given exactly `SIZE` bytes. Bytes `encode`
/// does not write (padding, reserved fields) are left as given: callers
/// start from zeroes, so padding reaches the guest as zero, as Linux's
/// `copy_to_user` of a zero-initialised struct does.
pub trait Abi: Sized {
    /// `sizeof` of the C struct.
    const SIZE: usize;
    /// Decodes the struct from its `SIZE` bytes.
    fn decode(b: &[u8]) -> Self;
    /// Encodes the struct into its `SIZE` bytes.
    fn encode(&self, b: &mut [u8]);

    /// The encoded bytes.
    fn to_bytes(&self) -> Vec<u8> {
        let mut b = vec![0u8; Self::SIZE];
        self.encode(&mut b);
        b
    }
}

/// Reads little-endian fields at byte offsets of one struct's bytes.
pub struct Dec<'a>(pub &'a [u8]);

impl Dec<'_> {
    /// `N` bytes at `off`.
    pub fn bytes<const N: usize>(&self, off: usize) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&self.0[off..off + N]);
        a
    }
    /// A `u8` at `off`.
    pub fn u8(&self, off: usize) -> u8 {
        self.0[off]
    }
    /// A `u16` at `off`.
    pub fn u16(&self, off: usize) -> u16 {
        u16::from_le_bytes(self.bytes(off))
    }
    /// A `u32` at `off`.
    pub fn u32(&self, off: usize) -> u32 {
        u32::from_le_bytes(self.bytes(off))
    }
    /// An `i32` at `off`.
    pub fn i32(&self, off: usize) -> i32 {
        i32::from_le_bytes(self.bytes(off))
    }
    /// A `u64` at `off`.
    pub fn u64(&self, off: usize) -> u64 {
        u64::from_le_bytes(self.bytes(off))
    }
    /// An `i64` at `off`.
    pub fn i64(&self, off: usize) -> i64 {
        i64::from_le_bytes(self.bytes(off))
    }
    /// A nested struct at `off`.
    pub fn get<T: Abi>(&self, off: usize) -> T {
        T::decode(&self.0[off..off + T::SIZE])
    }
}

/// Writes little-endian fields at byte offsets of one struct's bytes.
pub struct Enc<'a>(pub &'a mut [u8]);

impl Enc<'_> {
    /// Bytes at `off`.
    pub fn bytes(&mut self, off: usize, v: &[u8]) {
        self.0[off..off + v.len()].copy_from_slice(v);
    }
    /// A `u8` at `off`.
    pub fn u8(&mut self, off: usize, v: u8) {
        self.0[off] = v;
    }
    /// A `u16` at `off`.
    pub fn u16(&mut self, off: usize, v: u16) {
        self.bytes(off, &v.to_le_bytes());
    }
    /// A `u32` at `off`.
    pub fn u32(&mut self, off: usize, v: u32) {
        self.bytes(off, &v.to_le_bytes());
    }
    /// An `i32` at `off`.
    pub fn i32(&mut self, off: usize, v: i32) {
        self.bytes(off, &v.to_le_bytes());
    }
    /// A `u64` at `off`.
    pub fn u64(&mut self, off: usize, v: u64) {
        self.bytes(off, &v.to_le_bytes());
    }
    /// An `i64` at `off`.
    pub fn i64(&mut self, off: usize, v: i64) {
        self.bytes(off, &v.to_le_bytes());
    }
    /// A nested struct at `off`.
    pub fn put<T: Abi>(&mut self, off: usize, v: &T) {
        v.encode(&mut self.0[off..off + T::SIZE]);
    }
}

macro_rules! abi_int {
    ($($t:ty),*) => {$(
        impl Abi for $t {
            const SIZE: usize = size_of::<$t>();
            fn decode(b: &[u8]) -> Self {
                <$t>::from_le_bytes(b.try_into().expect("exactly SIZE bytes"))
            }
            fn encode(&self, b: &mut [u8]) {
                b.copy_from_slice(&self.to_le_bytes());
            }
        }
    )*};
}
abi_int!(u16, i16, u32, i32, u64, i64);

/// Structs up to this size are copied through a stack buffer.
const INLINE: usize = 512;

/// A guest pointer to one `T` (or the first of an array of them).
pub struct UserPtr<T> {
    addr: u64,
    _t: PhantomData<fn() -> T>,
}

impl<T> Clone for UserPtr<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for UserPtr<T> {}

impl<T> std::fmt::Debug for UserPtr<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UserPtr({:#x})", self.addr)
    }
}

impl<T> PartialEq for UserPtr<T> {
    fn eq(&self, o: &Self) -> bool {
        self.addr == o.addr
    }
}
impl<T> Eq for UserPtr<T> {}

impl<T: Abi> UserPtr<T> {
    /// The pointer in a syscall argument (not checked until used).
    pub const fn new(addr: u64) -> Self {
        Self {
            addr,
            _t: PhantomData,
        }
    }

    /// `None` for NULL: the many arguments where NULL means "none".
    pub const fn nullable(addr: u64) -> Option<Self> {
        if addr == 0 {
            None
        } else {
            Some(Self::new(addr))
        }
    }

    /// The guest address.
    pub const fn addr(self) -> u64 {
        self.addr
    }

    /// Whether it is NULL.
    pub const fn is_null(self) -> bool {
        self.addr == 0
    }

    /// The `i`th element of the array starting here (EFAULT if the address
    /// overflows).
    pub fn at(self, i: usize) -> Result<Self, Errno> {
        (i as u64)
            .checked_mul(T::SIZE as u64)
            .and_then(|o| self.addr.checked_add(o))
            .map(Self::new)
            .ok_or(Errno::EFAULT)
    }

    /// A pointer to a `U` `off` bytes into this struct (a field read on its
    /// own, as Linux's `get_user(&p->field)`).
    pub fn field<U: Abi>(self, off: usize) -> Result<UserPtr<U>, Errno> {
        debug_assert!(off + U::SIZE <= T::SIZE);
        self.addr
            .checked_add(off as u64)
            .map(UserPtr::new)
            .ok_or(Errno::EFAULT)
    }

    /// Reads the struct: EFAULT if any byte of it is not readable.
    pub fn read(self, mm: &AddressSpace) -> Result<T, Errno> {
        if T::SIZE <= INLINE {
            let mut buf = [0u8; INLINE];
            let b = &mut buf[..T::SIZE];
            mm.read(self.addr, b)?;
            Ok(T::decode(b))
        } else {
            let mut b = vec![0u8; T::SIZE];
            mm.read(self.addr, &mut b)?;
            Ok(T::decode(&b))
        }
    }

    /// Writes the struct (padding as zero): EFAULT if any byte of it is
    /// not writable.
    pub fn write(self, mm: &AddressSpace, v: &T) -> Result<(), Errno> {
        if T::SIZE <= INLINE {
            let mut buf = [0u8; INLINE];
            let b = &mut buf[..T::SIZE];
            v.encode(b);
            mm.write(self.addr, b)
        } else {
            mm.write(self.addr, &v.to_bytes())
        }
    }

    /// Reads `n` consecutive structs (one copy).
    pub fn read_array(self, mm: &AddressSpace, n: usize) -> Result<Vec<T>, Errno> {
        let len = n.checked_mul(T::SIZE).ok_or(Errno::EFAULT)?;
        let b = UserSlice::new(self.addr, len).read(mm)?;
        Ok(b.chunks_exact(T::SIZE).map(T::decode).collect())
    }

    /// Writes consecutive structs (one copy).
    pub fn write_array(self, mm: &AddressSpace, v: &[T]) -> Result<(), Errno> {
        let mut b = vec![0u8; v.len() * T::SIZE];
        for (x, c) in v.iter().zip(b.chunks_exact_mut(T::SIZE)) {
            x.encode(c);
        }
        mm.write(self.addr, &b)
    }
}

/// A guest buffer: an address and a length, as the `(buf, count)` pairs of
/// read, write, getrandom...
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserSlice {
    addr: u64,
    len: usize,
}

impl UserSlice {
    /// The buffer in two syscall arguments (not checked until used).
    pub const fn new(addr: u64, len: usize) -> Self {
        Self { addr, len }
    }

    /// The guest address.
    pub const fn addr(self) -> u64 {
        self.addr
    }

    /// Its length in bytes.
    pub const fn len(self) -> usize {
        self.len
    }

    /// Whether it is empty.
    pub const fn is_empty(self) -> bool {
        self.len == 0
    }

    /// Its first `n` bytes (all of it if shorter).
    pub const fn prefix(self, n: usize) -> Self {
        Self {
            addr: self.addr,
            len: if n < self.len { n } else { self.len },
        }
    }

    /// Reads the whole buffer: EFAULT if any byte is not readable.
    pub fn read(self, mm: &AddressSpace) -> Result<Vec<u8>, Errno> {
        let mut b = vec![0u8; self.len];
        mm.read(self.addr, &mut b)?;
        Ok(b)
    }

    /// Writes `data` at the start of the buffer: EFAULT if any byte is not
    /// writable, EINVAL-free: `data` longer than the buffer is a sentry bug
    /// and is cut to the buffer.
    pub fn write(self, mm: &AddressSpace, data: &[u8]) -> Result<(), Errno> {
        debug_assert!(data.len() <= self.len);
        mm.write(self.addr, &data[..data.len().min(self.len)])
    }
}

/// A guest pointer to a NUL-terminated string (a path): read only through
/// [`AddressSpace::read_cstring`] (EFAULT on a fault, ENAMETOOLONG past the
/// limit).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UserCStr {
    addr: u64,
}

impl UserCStr {
    /// The string in a syscall argument (not checked until read).
    pub const fn new(addr: u64) -> Self {
        Self { addr }
    }

    /// `None` for NULL (utimensat's "the descriptor itself").
    pub const fn nullable(addr: u64) -> Option<Self> {
        if addr == 0 {
            None
        } else {
            Some(Self::new(addr))
        }
    }

    /// The guest address.
    pub const fn addr(self) -> u64 {
        self.addr
    }

    /// Reads the string (without its NUL) of at most `max` bytes.
    pub fn read(self, mm: &AddressSpace, max: usize) -> Result<Vec<u8>, Errno> {
        mm.read_cstring(self.addr, max)
    }
}

/// Linux's `copy_struct_from_user`: reads an extensible struct (clone3's
/// `clone_args`, openat2's `open_how`...) of which the guest passed `size`
/// bytes. Fewer bytes than `T::SIZE` are zero-extended; more are E2BIG
/// unless every byte past `T::SIZE` is zero. The caller checks `size`
/// against the struct's first published version (EINVAL) and its own
/// upper bound first.
pub fn read_extensible<T: Abi>(
    mm: &AddressSpace,
    ptr: UserPtr<T>,
    size: usize,
) -> Result<T, Errno> {
    if size > T::SIZE {
        let tail = ptr
            .addr()
            .checked_add(T::SIZE as u64)
            .ok_or(Errno::EFAULT)?;
        let rest = UserSlice::new(tail, size - T::SIZE).read(mm)?;
        if rest.iter().any(|&b| b != 0) {
            return Err(Errno::E2BIG);
        }
    }
    let mut b = vec![0u8; T::SIZE];
    mm.read(ptr.addr(), &mut b[..size.min(T::SIZE)])?;
    Ok(T::decode(&b))
}

/// A descriptor argument (`int fd`): Linux reads the low 32 bits of the
/// register. Not validated here: the descriptor table says EBADF.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fd(pub i32);

impl Fd {
    /// The `int` in a syscall argument.
    pub const fn from_arg(raw: u64) -> Self {
        Fd(raw as i32)
    }
    /// The descriptor number, if it is not negative.
    pub const fn index(self) -> Option<usize> {
        if self.0 >= 0 {
            Some(self.0 as usize)
        } else {
            None
        }
    }
}

/// A pid, tid or process group argument (`pid_t`, an `int`): Linux reads the
/// low 32 bits of the register. Its meaning (0, -1, negative) is the call's.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid(pub i32);

impl Pid {
    /// The `pid_t` in a syscall argument.
    pub const fn from_arg(raw: u64) -> Self {
        Pid(raw as i32)
    }
    /// The number.
    pub const fn get(self) -> i32 {
        self.0
    }
}

/// An `int` argument as Linux reads it: the low 32 bits of the register.
pub const fn int_arg(raw: u64) -> i32 {
    raw as i32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_round_trip_little_endian() {
        let mut b = [0u8; 8];
        0x0102_0304_0506_0708u64.encode(&mut b);
        assert_eq!(b, [8, 7, 6, 5, 4, 3, 2, 1]);
        assert_eq!(u64::decode(&b), 0x0102_0304_0506_0708);
        assert_eq!(i32::decode(&[0xff, 0xff, 0xff, 0xff]), -1);
    }

    #[test]
    fn user_ptr_element_address_and_overflow() {
        let p = UserPtr::<u64>::new(0x1000);
        assert_eq!(p.at(3).unwrap().addr(), 0x1018);
        assert_eq!(UserPtr::<u64>::new(u64::MAX - 4).at(1), Err(Errno::EFAULT));
        assert_eq!(UserPtr::<u64>::new(0x10).at(usize::MAX), Err(Errno::EFAULT));
        assert!(UserPtr::<u32>::nullable(0).is_none());
        assert_eq!(UserPtr::<u32>::nullable(4).unwrap().addr(), 4);
    }

    #[test]
    fn int_arguments_take_the_low_32_bits() {
        assert_eq!(Fd::from_arg(0x1_0000_0003), Fd(3));
        assert_eq!(Fd::from_arg(u64::MAX).index(), None);
        assert_eq!(Pid::from_arg(0xffff_ffff), Pid(-1));
        assert_eq!(int_arg(0x7_8000_0000), i32::MIN);
    }

    #[test]
    fn user_slice_prefix_never_grows() {
        let s = UserSlice::new(0x2000, 10);
        assert_eq!(s.prefix(4).len(), 4);
        assert_eq!(s.prefix(40).len(), 10);
        assert!(UserSlice::new(1, 0).is_empty());
    }

    #[test]
    fn user_cstr_null_is_none() {
        assert!(UserCStr::nullable(0).is_none());
        assert_eq!(UserCStr::nullable(0x1000), Some(UserCStr::new(0x1000)));
        assert_eq!(UserCStr::new(0x1234).addr(), 0x1234);
    }
}

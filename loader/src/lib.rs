//! Loader for static x86-64 Linux ELF programs.
//!
//! This crate owns everything between the bytes of an executable and a process that is ready
//! to run, short of touching the virtual machine:
//!
//! * [`parse`] reads the ELF header and program headers with goblin, validates them the way
//!   Linux's `binfmt_elf` does (and never panics on hostile input), rejects dynamically linked
//!   programs, and plans the `PT_LOAD` [`Segment`]s with the load bias applied;
//!   [`parse_dynamic`] accepts them and names their interpreter (`PT_INTERP`), which the
//!   caller loads beside the program as a second image.
//! * [`build_stack`] lays out the initial stack (argc, argv, envp, auxv and the strings they
//!   point to) byte-for-byte as Linux does, writing guest memory through [`GuestWriter`].
//!
//! * [`parse_shebang`] reads a `#!` line as Linux's `binfmt_script` does.
//!
//! It knows nothing of KVM: mapping segments and backing the stack is the sentry's job.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod elf;
mod quote;
mod script;
mod stack;

pub use elf::{
    DEFAULT_PIE_BIAS, ElfImage, ElfSource, LoadError, LoadOptions, MIN_ADDR, PAGE_SIZE, Prot,
    Region, Segment, USER_ADDR_END, parse, parse_dynamic, parse_from,
};
pub use quote::quote;
pub use script::{
    BINPRM_BUF_SIZE, BadShebang, MAX_INTERPRETER_DEPTH, Shebang, interpreter_argv, parse_shebang,
};
pub use stack::*;

//! x86-64 specifics: the supervisor area's layout, descriptor tables, the
//! exception stubs and syscall trampoline, and 4-level page tables.

pub mod layout;
pub mod paging;
mod ptshare;
pub(crate) mod supervisor;

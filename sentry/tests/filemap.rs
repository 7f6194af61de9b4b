//! File-backed memory and memfds (issue 9): MAP_PRIVATE and MAP_SHARED of
//! files, SIGBUS past the end of a file, msync, mincore, MAP_POPULATE,
//! /proc/self/maps lines of file mappings, memfd_create and file seals,
//! compared with the host kernel.

#[macro_use]
mod common;

differential! {
    filemap: [], 0;
}

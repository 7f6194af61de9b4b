//! splice, tee, vmsplice, copy_file_range and sendfile (issue 9),
//! compared with the host kernel between pipes and files under /tmp.

#[macro_use]
mod common;

differential! {
    t_splice: [], 0;
}

//! select and pselect6 (what an interactive bash's readline waits with),
//! compared with the host kernel on pipes.

#[macro_use]
mod common;

differential! {
    t_select: [], 0;
}

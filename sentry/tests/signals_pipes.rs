//! Issue 7, signals and pipes: the signal frame field by field, short reads
//! into partly bad buffers, pipe memory under the cap, init's immunity to
//! signals from inside the sandbox, and the sentry's own log under a flood.

#[macro_use]
mod common;

differential! {
    t_sigframe: [], 0;
}

//! Quoting names that come from the guest or from a program file (paths,
//! argv, a `PT_INTERP` string) before the sentry prints them: a hostile
//! name must not put escape sequences or a forged second line on the
//! user's terminal. One function, shared with the loader's error messages.

pub use loader::quote;

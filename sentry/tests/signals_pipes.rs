//! Issue 7, signals and pipes: the signal frame field by field, short reads
//! into partly bad buffers, pipe memory under the cap, init's immunity to
//! signals from inside the sandbox, and the sentry's own log under a flood.

#[macro_use]
mod common;

differential! {
    t_sigframe: [], 0;
}

/// 200 bytes on stdin, in one write.
const SHORTREAD_STDIN: &[u8] = b"01234567890123456789012345678901234567890123456789\
01234567890123456789012345678901234567890123456789\
01234567890123456789012345678901234567890123456789\
01234567890123456789012345678901234567890123456789";

/// Reads into a buffer whose second page is PROT_NONE: pipes keep what
/// could not be copied whole, files give what fit, stdin follows the host.
mod t_shortread {
    use super::common::{Libc, assert_same_expect};

    #[test]
    fn glibc() {
        assert_same_expect("t_shortread", Libc::Glibc, &[], super::SHORTREAD_STDIN, 0);
    }

    #[test]
    fn musl() {
        assert_same_expect("t_shortread", Libc::Musl, &[], super::SHORTREAD_STDIN, 0);
    }
}

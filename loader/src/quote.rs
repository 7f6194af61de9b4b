//! Quoting names that come from a program file or a guest (paths, argv, a
//! `PT_INTERP` string) before they are printed: a hostile name must not put
//! escape sequences or a forged second line on the user's terminal. The
//! sentry prints every such name through this one function.

/// `bytes` in double quotes, printable ASCII as is except `"` and `\`
/// (escaped with a backslash), every other byte as `\xNN`.
pub fn quote(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for &b in bytes {
        match b {
            b'"' | b'\\' => {
                out.push('\\');
                out.push(b as char);
            }
            0x20..=0x7e => out.push(b as char),
            _ => out.push_str(&format!("\\x{b:02x}")),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::quote;

    #[test]
    fn control_bytes_and_quotes_are_escaped() {
        assert_eq!(quote(b"/bin/sh"), "\"/bin/sh\"");
        assert_eq!(
            quote(b"a\nsentry: error: \x1b[2J\"\\\xff"),
            "\"a\\x0asentry: error: \\x1b[2J\\\"\\\\\\xff\""
        );
    }
}

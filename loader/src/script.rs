//! `#!` scripts, parsed exactly as Linux's `fs/binfmt_script.c` does.
//!
//! Linux reads the first [`BINPRM_BUF_SIZE`] bytes of the file (zero-padded
//! when the file is shorter) and, if they start with `#!`:
//! * the line ends at the first newline in those bytes; with none, the
//!   interpreter's name must be followed by a space, tab or NUL somewhere in
//!   the buffer (else ENOEXEC: a truncated name is never executed), and the
//!   line ends at the buffer's last byte (which is dropped);
//! * trailing spaces and tabs are stripped; the name starts after the
//!   leading ones (no name: ENOEXEC) and ends at the first space, tab or
//!   NUL;
//! * the optional argument is everything after the following run of spaces
//!   and tabs up to the end of the line, as one string, cut at a NUL.
//!
//! The caller then replaces `argv[0]` by `[interpreter, argument?, path of
//! the script]` and executes the interpreter; Linux follows at most
//! [`MAX_INTERPRETER_DEPTH`] scripts in a row and then fails with ELOOP.

/// Bytes of a file Linux looks at to recognise its format (and the longest
/// `#!` line it reads).
pub const BINPRM_BUF_SIZE: usize = 256;

/// Scripts Linux follows in a row (`exec_binprm`'s `depth > 5`): a chain
/// of five scripts ending in an ELF runs, a sixth script is ELOOP.
pub const MAX_INTERPRETER_DEPTH: usize = 5;

/// A parsed `#!` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shebang {
    /// The interpreter's path, as written.
    pub interpreter: Vec<u8>,
    /// The optional argument (the rest of the line, one string).
    pub arg: Option<Vec<u8>>,
}

/// A file that starts with `#!` but whose line Linux refuses (ENOEXEC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad #! line")]
pub struct BadShebang;

/// Parses the first bytes of a file (`head`, at most [`BINPRM_BUF_SIZE`]
/// of them are looked at; fewer means the file is that short). `Ok(None)`:
/// not a script.
pub fn parse_shebang(head: &[u8]) -> Result<Option<Shebang>, BadShebang> {
    let mut buf = [0u8; BINPRM_BUF_SIZE];
    let n = head.len().min(BINPRM_BUF_SIZE);
    buf[..n].copy_from_slice(&head[..n]);
    if buf[0] != b'#' || buf[1] != b'!' {
        return Ok(None);
    }
    let spacetab = |c: u8| c == b' ' || c == b'\t';
    // Both searches are inclusive of `last`, as in Linux.
    let next_non_spacetab = |first: usize, last: usize| (first..=last).find(|&i| !spacetab(buf[i]));
    let next_terminator =
        |first: usize, last: usize| (first..=last).find(|&i| spacetab(buf[i]) || buf[i] == 0);
    let buf_end = BINPRM_BUF_SIZE - 1;
    let mut i_end = match buf.iter().position(|&c| c == b'\n') {
        Some(i) => i,
        None => {
            let start = next_non_spacetab(2, buf_end).ok_or(BadShebang)?;
            // No space, tab or NUL after the name: it may be truncated.
            next_terminator(start, buf_end).ok_or(BadShebang)?;
            buf_end
        }
    };
    // buf[1] is '!', so this stops at 2 at the latest.
    while spacetab(buf[i_end - 1]) {
        i_end -= 1;
    }
    let i_name = match next_non_spacetab(2, i_end) {
        Some(i) if i != i_end => i,
        _ => return Err(BadShebang),
    };
    let i_sep = next_terminator(i_name, i_end);
    let i_arg = match i_sep {
        Some(s) if buf[s] != 0 => next_non_spacetab(s, i_end),
        _ => None,
    };
    // Linux writes NULs at i_end and, with an argument, at i_sep, then
    // takes both as C strings.
    buf[i_end] = 0;
    if let (Some(s), Some(_)) = (i_sep, i_arg) {
        buf[s] = 0;
    }
    let cstr = |from: usize| {
        let len = buf[from..].iter().position(|&c| c == 0).unwrap_or(0);
        buf[from..from + len].to_vec()
    };
    Ok(Some(Shebang {
        interpreter: cstr(i_name),
        arg: i_arg.map(cstr),
    }))
}

/// The argv Linux gives the interpreter: `argv` with its first element
/// replaced by the interpreter, its argument if any, and `script` (the
/// path the script was executed by).
pub fn interpreter_argv(sb: &Shebang, script: &[u8], argv: &[Vec<u8>]) -> Vec<Vec<u8>> {
    let mut out = Vec::with_capacity(argv.len() + 2);
    out.push(sb.interpreter.clone());
    out.extend(sb.arg.clone());
    out.push(script.to_vec());
    out.extend(argv.iter().skip(1).cloned());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sb(i: &str, a: Option<&str>) -> Option<Shebang> {
        Some(Shebang {
            interpreter: i.as_bytes().to_vec(),
            arg: a.map(|a| a.as_bytes().to_vec()),
        })
    }

    #[test]
    fn not_a_script() {
        assert_eq!(parse_shebang(b""), Ok(None));
        assert_eq!(parse_shebang(b"#"), Ok(None));
        assert_eq!(parse_shebang(b"\x7fELF"), Ok(None));
        assert_eq!(parse_shebang(b" #!/bin/sh\n"), Ok(None));
    }

    #[test]
    fn name_and_argument() {
        assert_eq!(parse_shebang(b"#!/bin/sh\n"), Ok(sb("/bin/sh", None)));
        assert_eq!(parse_shebang(b"#!/bin/sh"), Ok(sb("/bin/sh", None)));
        assert_eq!(parse_shebang(b"#! \t/bin/sh \t\n"), Ok(sb("/bin/sh", None)));
        assert_eq!(
            parse_shebang(b"#!/x  a1  b1  \nrest"),
            Ok(sb("/x", Some("a1  b1")))
        );
        assert_eq!(
            parse_shebang(b"#!/x\t\ta\tb \t\n"),
            Ok(sb("/x", Some("a\tb")))
        );
        // A NUL ends the name (no argument after it) or the argument.
        assert_eq!(parse_shebang(b"#!/x\0a b\n"), Ok(sb("/x", None)));
        assert_eq!(parse_shebang(b"#!/x a\0b c\n"), Ok(sb("/x", Some("a"))));
        // CR is part of the name.
        assert_eq!(parse_shebang(b"#!/x\r\n"), Ok(sb("/x\r", None)));
    }

    #[test]
    fn trailing_blanks_at_end_of_a_short_file_give_an_empty_argument() {
        // The zero padding is not a blank, so nothing is stripped and the
        // argument starts at the first NUL: "" (as measured on Linux 6.18).
        assert_eq!(parse_shebang(b"#!/x   "), Ok(sb("/x", Some(""))));
    }

    #[test]
    fn no_name_is_enoexec() {
        assert_eq!(parse_shebang(b"#!\n"), Err(BadShebang));
        assert_eq!(parse_shebang(b"#!   \n"), Err(BadShebang));
        assert_eq!(parse_shebang(&[b' '; 300]).ok(), Some(None));
        let mut blanks = b"#!".to_vec();
        blanks.resize(300, b' ');
        assert_eq!(parse_shebang(&blanks), Err(BadShebang));
    }

    #[test]
    fn a_nul_where_the_name_should_be_is_an_empty_name() {
        // Linux then opens "" (the cwd, a directory: EACCES).
        assert_eq!(parse_shebang(b"#!"), Ok(sb("", None)));
        assert_eq!(parse_shebang(b"#!  "), Ok(sb("", None)));
        assert_eq!(parse_shebang(b"#!\0\n"), Ok(sb("", None)));
    }

    #[test]
    fn the_256_byte_buffer() {
        let line = |name_len: usize, tail: &[u8]| {
            let mut v = b"#!/".to_vec();
            v.resize(2 + name_len, b'a');
            v.extend_from_slice(tail);
            v
        };
        let name = |n: usize| {
            let mut s = "/".to_string();
            s.push_str(&"a".repeat(n - 1));
            s
        };
        // Newline at index 255: the whole name.
        assert_eq!(parse_shebang(&line(253, b"\n")), Ok(sb(&name(253), None)));
        // Newline past the buffer and no blank in it: truncated, ENOEXEC.
        assert_eq!(parse_shebang(&line(254, b"\n")), Err(BadShebang));
        assert_eq!(parse_shebang(&line(300, b" x\n")), Err(BadShebang));
        // A blank at index 255 ends the name; the argument is cut off.
        assert_eq!(
            parse_shebang(&line(253, b" arg\n")),
            Ok(sb(&name(253), None))
        );
        // The buffer's last byte is dropped from a long argument.
        let long = line(10, &[&b" "[..], &[b'x'; 300]].concat());
        let got = parse_shebang(&long).unwrap().unwrap();
        assert_eq!(got.interpreter, name(10).as_bytes());
        assert_eq!(got.arg.unwrap(), vec![b'x'; 255 - 13]);
        // Blanks at the end of a full buffer are stripped.
        assert_eq!(
            parse_shebang(&line(251, b"  arg\n")),
            Ok(sb(&name(251), None))
        );
    }

    #[test]
    fn argv_is_spliced_as_linux_does() {
        let s = Shebang {
            interpreter: b"/bin/i".to_vec(),
            arg: Some(b"-x y".to_vec()),
        };
        let argv = vec![b"zero".to_vec(), b"one".to_vec()];
        assert_eq!(
            interpreter_argv(&s, b"./s", &argv),
            vec![
                b"/bin/i".to_vec(),
                b"-x y".to_vec(),
                b"./s".to_vec(),
                b"one".to_vec()
            ]
        );
        let s = Shebang { arg: None, ..s };
        assert_eq!(
            interpreter_argv(&s, b"./s", &[]),
            vec![b"/bin/i".to_vec(), b"./s".to_vec()]
        );
    }
}

//! MONITOR's quoting (`sdscatrepr`): the check that a body is well quoted, its split into
//! arguments as printed, and their lengths once the escapes are resolved.

/// Quoted arguments separated by single spaces, `"` and `\` escaped inside.
pub fn well_quoted(body: &[u8]) -> bool {
    quoted(body).is_some()
}

/// What the quoting check learns on its way through a well-quoted body.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Quoted {
    /// Some argument holds a backslash (an escape).
    pub backslash: bool,
    /// The index of the closing quote of the first two arguments (`usize::MAX`: none).
    pub closes: [usize; 2],
}

/// `Some` when `body` is well quoted (`well_quoted`), with what the check saw.
pub fn quoted(body: &[u8]) -> Option<Quoted> {
    let n = body.len();
    if body.first() != Some(&b'"') {
        return None;
    }
    let mut q = Quoted {
        backslash: false,
        closes: [usize::MAX; 2],
    };
    let mut args = 0;
    let mut i = 1;
    loop {
        // Arguments are short: a plain loop beats a search call per argument.
        while i < n && body[i] != b'"' && body[i] != b'\\' {
            i += 1;
        }
        if i >= n {
            return None;
        }
        if body[i] == b'\\' {
            if i + 1 >= n {
                return None;
            }
            q.backslash = true;
            i += 2;
            continue;
        }
        if args < 2 {
            q.closes[args] = i;
        }
        args += 1;
        if i + 1 == n {
            return Some(q);
        }
        if body[i + 1] != b' ' || body.get(i + 2) != Some(&b'"') {
            return None;
        }
        i += 3;
    }
}

/// The arguments of a well-quoted body (`well_quoted`), each as printed (escapes unresolved,
/// without its quotes), and the request's size as a RESP2 array of the decoded arguments
/// (`*N\r\n`, then `$len\r\n` + bytes + `\r\n` each: `\xHH` and `\c` are one byte each).
pub fn split_body(body: &[u8]) -> (Vec<&[u8]>, i64) {
    let mut args = Vec::new();
    split_into(body, false, &mut args);
    let size = args.iter().map(|a| bulk(a.1)).sum::<i64>();
    let count = args.len() as i64;
    (
        args.into_iter().map(|a| a.0).collect(),
        size + digits(count) + 3,
    )
}

/// The arguments of `body` with their decoded lengths, appended to `args`; `opened`: its
/// first opening quote is already cut off.
pub(crate) fn split_into<'a>(body: &'a [u8], opened: bool, args: &mut Vec<(&'a [u8], i64)>) {
    let mut i = 0;
    let n = body.len();
    let mut skip = !opened;
    while i < n {
        if skip {
            i += 1; // the opening quote
        }
        skip = true;
        let start = i;
        let mut decoded = 0i64;
        loop {
            let Some(p) = memchr::memchr2(b'"', b'\\', &body[i..]) else {
                i = n;
                break;
            };
            decoded += p as i64;
            i += p;
            if body[i] == b'"' {
                break;
            }
            decoded += 1;
            let next = body.get(i + 1).copied().unwrap_or(0);
            let hex = |b: Option<&u8>| b.is_some_and(u8::is_ascii_hexdigit);
            i += if next == b'x' && hex(body.get(i + 2)) && hex(body.get(i + 3)) {
                4
            } else {
                1 + utf8_len(next)
            };
        }
        args.push((&body[start..i.min(n)], decoded));
        i += 2; // the closing quote and the space
    }
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xf0.. => 4,
        0xe0.. => 3,
        0xc0.. => 2,
        _ => 1,
    }
}

pub(crate) fn digits(n: i64) -> i64 {
    let mut d = 1;
    let mut p = 10;
    while n >= p && d < 19 {
        d += 1;
        p = p.saturating_mul(10);
    }
    d
}

pub(crate) fn bulk(len: i64) -> i64 {
    len + digits(len) + 5
}

/// The length of an argument as printed once its escapes are resolved (`\xhh` or `\` and one
/// character: one byte each).
pub fn decoded_len(arg: &[u8]) -> i64 {
    let (mut i, mut len) = (0, 0i64);
    while i < arg.len() {
        if arg[i] == b'\\' && i + 1 < arg.len() {
            let hex = |b: Option<&u8>| b.is_some_and(u8::is_ascii_hexdigit);
            i += if arg[i + 1] == b'x' && hex(arg.get(i + 2)) && hex(arg.get(i + 3)) {
                4
            } else {
                1 + utf8_len(arg[i + 1])
            };
        } else {
            i += 1;
        }
        len += 1;
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quoting_is_checked_escape_by_escape() {
        assert!(well_quoted(br#""a" "b\"c" "\\""#));
        assert!(well_quoted(br#""""#));
        assert!(!well_quoted(br#""a"  "b""#));
        assert!(!well_quoted(br#""a\""#));
        assert!(!well_quoted(br#""a"b""#));
        assert!(!well_quoted(b""));
    }
}

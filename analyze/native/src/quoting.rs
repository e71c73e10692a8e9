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
    // Quotes and backslashes before `next` are escaped characters or opening quotes.
    let mut next = 1;
    let mut base = 0;
    while base < n {
        let mut bits = specials(body, base);
        while bits != 0 {
            let e = base + bits.trailing_zeros() as usize;
            bits &= bits - 1;
            if e < next {
                continue;
            }
            if body[e] == b'\\' {
                if e + 1 >= n {
                    return None;
                }
                q.backslash = true;
                next = e + 2;
                continue;
            }
            if args < 2 {
                q.closes[args] = e;
            }
            args += 1;
            if e + 1 == n {
                return Some(q);
            }
            if body[e + 1] != b' ' || body.get(e + 2) != Some(&b'"') {
                return None;
            }
            next = e + 3;
        }
        base += BLOCK;
    }
    None
}

/// Bytes looked at together by `specials`.
const BLOCK: usize = 16;

/// The `BLOCK` bytes from `at`, zeros past the end of `body`.
fn block(body: &[u8], at: usize) -> [u8; BLOCK] {
    let mut block = [0u8; BLOCK];
    match body.get(at..at + BLOCK) {
        Some(b) => block.copy_from_slice(b),
        None => block[..body.len() - at].copy_from_slice(&body[at..]),
    }
    block
}

/// Which of the `BLOCK` bytes from `at` are a quote or a backslash, as bits (lowest first;
/// none past the end), compared all at once (SSE2: every x86-64 has it).
#[cfg(target_arch = "x86_64")]
fn specials(body: &[u8], at: usize) -> u32 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_loadu_si128, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8,
    };
    let block = block(body, at);
    // SAFETY: SSE2 is part of x86-64; an unaligned load of the 16 bytes of `block`.
    unsafe {
        let v = _mm_loadu_si128(block.as_ptr().cast());
        let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
        let backslash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
        _mm_movemask_epi8(_mm_or_si128(quote, backslash)) as u32
    }
}

/// Which of the `BLOCK` bytes from `at` are a quote or a backslash, as bits (lowest first;
/// none past the end).
#[cfg(not(target_arch = "x86_64"))]
fn specials(body: &[u8], at: usize) -> u32 {
    block(body, at).iter().enumerate().fold(0, |m, (k, &b)| {
        m | (u32::from(b == b'"' || b == b'\\') << k)
    })
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
    let mut specials = Specials {
        body,
        base: usize::MAX,
        bits: 0,
    };
    while i < n {
        if skip {
            i += 1; // the opening quote
        }
        skip = true;
        let start = i;
        let mut decoded = 0i64;
        loop {
            let Some(e) = specials.next(i) else {
                i = n;
                break;
            };
            decoded += (e - i) as i64;
            i = e;
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

/// The quotes and backslashes of a body, found a block at a time (`specials`).
struct Specials<'a> {
    body: &'a [u8],
    /// Where the block of `bits` starts (`usize::MAX`: none yet).
    base: usize,
    bits: u32,
}

impl Specials<'_> {
    /// The first quote or backslash at or after `from` (never less than the last `from`).
    fn next(&mut self, mut from: usize) -> Option<usize> {
        loop {
            if from >= self.body.len() {
                return None;
            }
            if self.base == usize::MAX || from >= self.base + BLOCK {
                self.base = from;
                self.bits = specials(self.body, from);
            }
            let bits = self.bits & (u32::MAX << (from - self.base));
            if bits != 0 {
                return Some(self.base + bits.trailing_zeros() as usize);
            }
            from = self.base + BLOCK;
        }
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
        // Across blocks: escapes and separators on either side of a block's edge.
        for pad in 0..40 {
            let a = "a".repeat(pad);
            assert!(
                well_quoted(format!(r#""{a}" "\\" "x\"""#).as_bytes()),
                "{pad}"
            );
            assert!(well_quoted(format!(r#""{a}\"" "b""#).as_bytes()), "{pad}");
            assert!(!well_quoted(format!(r#""{a}" "b\"#).as_bytes()), "{pad}");
            assert!(!well_quoted(format!(r#""{a}"" "b""#).as_bytes()), "{pad}");
            let q = quoted(format!(r#""{a}" "b" "c""#).as_bytes()).expect("well quoted");
            assert_eq!(q.closes, [pad + 1, pad + 5]);
            let body = format!(r#""{a}\"" "\x41\\" "{a}" "é\é""#);
            let (args, _) = split_body(body.as_bytes());
            let args: Vec<_> = args.iter().map(|a| String::from_utf8_lossy(a)).collect();
            assert_eq!(
                args,
                [format!(r#"{a}\""#), r"\x41\\".into(), a, r"é\é".into()]
            );
        }
    }
}

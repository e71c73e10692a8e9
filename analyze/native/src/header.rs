//! A line's header: `ts [db addr] body`, split on the first three spaces; an address holding a
//! space (a unix socket path) is taken by a regex instead.

use memchr::memchr;
use regex::Regex;

/// A command line's header typed: ts, db, address, body.
pub type Header<'a> = (f64, i32, &'a [u8], &'a [u8]);

/// The header of a line that is not skipped; `None` when malformed.
pub fn header(line: &[u8]) -> Option<Header<'_>> {
    quick(line).or_else(|| split(line))
}

/// The common header (`+digits.digits [db addr] `, the address without a space) in one pass
/// over its bytes, typed as `split` types it; `None` for anything else, which `split` reads.
fn quick(line: &[u8]) -> Option<Header<'_>> {
    let mut i = usize::from(line.first() == Some(&b'+'));
    let (start, mut m, mut dot) = (i, 0u64, None);
    loop {
        let b = *line.get(i)?;
        let d = b.wrapping_sub(b'0');
        if d < 10 {
            m = m * 10 + u64::from(d);
        } else if b == b'.' && dot.is_none() {
            dot = Some(i);
        } else if b == b' ' {
            break;
        } else {
            return None;
        }
        i += 1;
        if i - start > 18 {
            return None;
        }
    }
    let digits = i - start - usize::from(dot.is_some());
    if digits == 0 || digits > 17 || m > 1 << 53 {
        return None;
    }
    let ts = m as f64 / POW10[dot.map_or(0, |d| i - d - 1)];
    if !(0.0..=MAX_TS).contains(&ts) || line.get(i + 1) != Some(&b'[') {
        return None;
    }
    i += 2;
    let (db_start, mut db) = (i, 0i32);
    while let Some(d) = line
        .get(i)
        .map(|b| b.wrapping_sub(b'0'))
        .filter(|&d| d < 10)
    {
        db = db * 10 + i32::from(d);
        i += 1;
        if i - db_start > 4 {
            return None;
        }
    }
    if i == db_start || line.get(i) != Some(&b' ') {
        return None;
    }
    let rest = &line[i + 1..];
    let end = memchr(b' ', rest)?;
    let addr = rest[..end].strip_suffix(b"]")?;
    Some((ts, db, addr, &rest[end + 1..]))
}

/// The header split on its first three spaces (and `wide_header` for a spaced address).
fn split(line: &[u8]) -> Option<Header<'_>> {
    let mut fields: [Option<&[u8]>; 4] = [None; 4];
    let mut rest = line;
    for (i, field) in fields.iter_mut().enumerate() {
        if i == 3 {
            *field = Some(rest);
            break;
        }
        match memchr(b' ', rest) {
            Some(p) => {
                *field = Some(&rest[..p]);
                rest = &rest[p + 1..];
            }
            None => {
                *field = Some(rest);
                break;
            }
        }
    }
    let [f0, f1, f2, f3] = fields;
    let f0 = f0.expect("always a first field");
    let ts = f0.strip_prefix(b"+").unwrap_or(f0);
    if let Some(addr) = f2 {
        if !addr.ends_with(b"]") {
            if let Some(wide) = wide_header(line) {
                return typed(wide.0, Some(wide.1), Some(wide.2), Some(wide.3), true);
            }
        }
    }
    typed(ts, f1, f2, f3, false)
}

/// Epoch seconds past which a stamp is garbage (year 5138).
const MAX_TS: f64 = 1e11;

/// Powers of ten up to 10^17, each exact in an f64 (as `10f64.powi` gives them).
const POW10: [f64; 18] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16,
    1e17,
];

/// `digits.digits` exactly as a correctly rounded parse gives it: one division of two exact
/// numbers below 2^53 is correctly rounded. Anything else goes to the full parser.
fn parse_ts(ts: &[u8]) -> Option<f64> {
    let slow = || std::str::from_utf8(ts).ok()?.parse().ok();
    let mut m: u64 = 0;
    let mut dot = None;
    for (i, &b) in ts.iter().enumerate() {
        let d = b.wrapping_sub(b'0');
        if d < 10 {
            // Past 17 digits it may wrap: such a stamp goes to the full parser below.
            m = m.wrapping_mul(10).wrapping_add(u64::from(d));
        } else if b == b'.' && dot.is_none() {
            dot = Some(i);
        } else {
            return slow();
        }
    }
    let digits = ts.len() - usize::from(dot.is_some());
    if digits == 0 || digits > 17 || m > 1 << 53 {
        return slow();
    }
    Some(m as f64 / POW10[dot.map_or(0, |d| ts.len() - d - 1)])
}

/// A database number: a few digits (anything else as `i32::from_str` takes it).
fn parse_db(db: &[u8]) -> Option<i32> {
    if !db.is_empty() && db.len() <= 4 && db.iter().all(u8::is_ascii_digit) {
        return Some(db.iter().fold(0, |n, &b| n * 10 + i32::from(b - b'0')));
    }
    std::str::from_utf8(db).ok()?.parse().ok()
}

/// The fields typed; `wide`: `db` and `addr` come without their `[` and `]`.
fn typed<'a>(
    ts: &[u8],
    db: Option<&[u8]>,
    addr: Option<&'a [u8]>,
    body: Option<&'a [u8]>,
    wide: bool,
) -> Option<Header<'a>> {
    // A stamp no clock gives (negative, NaN, past year 5138) is a garbled line, never a time
    // that would size the window (analyze/read/parse.py MAX_TS).
    let ts = parse_ts(ts).filter(|t| (0.0..=MAX_TS).contains(t))?;
    let db = db?;
    let db = if wide { db } else { db.strip_prefix(b"[")? };
    let db = parse_db(db)?;
    let addr = addr?;
    let addr = if wide { addr } else { addr.strip_suffix(b"]")? };
    Some((ts, db, addr, body?))
}

/// The four fields of a header taken by regex: ts, db, address, body.
type Wide<'a> = (&'a [u8], &'a [u8], &'a [u8], &'a [u8]);

fn wide_header(line: &[u8]) -> Option<Wide<'_>> {
    static WIDE: std::sync::OnceLock<Regex> = std::sync::OnceLock::new();
    let re = WIDE
        .get_or_init(|| Regex::new(r#"^\+?(\S+) \[(\S+) (.*?)\] (".*)$"#).expect("a valid regex"));
    let text = std::str::from_utf8(line).ok()?;
    let c = re.captures(text)?;
    let g = |i: usize| c.get(i).map(|m| &line[m.start()..m.end()]);
    Some((g(1)?, g(2)?, g(3)?, g(4)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_parse_as_the_full_parser_does() {
        for ts in [
            "1697549123.123456",
            "1697549123.000001",
            "0.1",
            "1e5",
            "inf",
            "123456789012345678.5",
            "1.",
            ".5",
            "1764950000.999999",
            "12345678901234567",
            "1234567890123456.7",
            "9007199254740993",
            "9007199254740992",
            "0.00000000000000001",
            "18446744073709551617",
        ] {
            assert_eq!(parse_ts(ts.as_bytes()), ts.parse().ok(), "{ts}");
        }
        assert_eq!(parse_ts(b"1.2.3"), None);
        assert_eq!(parse_ts(b""), None);
        assert_eq!(parse_ts(b"."), None);
    }

    #[test]
    fn the_quick_header_reads_as_the_split_one() {
        for line in [
            "+1.5 [0 10.0.0.1:5] \"GET\" \"k\"",
            "1.5 [12 [::1]:5] \"GET\"",
            "+1.5 [12345 a:1] \"GET\"",
            "++1.5 [0 a:1] \"GET\"",
            "1.5.5 [0 a:1] \"GET\"",
            "123456789012345678 [0 a:1] \"GET\"",
            "99999999999.5 [0 a:1] \"GET\"",
            "1 [0 unix:/a b] \"GET\"",
            "1 [0 ] \"GET\"",
            "1 [0 a:1]",
            "1 [0 a:1] ",
            "1 [x a:1] \"GET\"",
            "1 0 a:1] \"GET\"",
            "1  [0 a:1] \"GET\"",
            " [0 a:1] \"GET\"",
        ] {
            let line = line.as_bytes();
            if let Some(q) = quick(line) {
                assert_eq!(Some(q), split(line), "{line:?}");
            }
        }
        assert!(quick(b"+1764950000.999999 [0 10.0.0.1:5] \"GET\"").is_some());
    }
}

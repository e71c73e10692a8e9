//! A line's header: `ts [db addr] body`, split on the first three spaces; an address holding a
//! space (a unix socket path) is taken by a regex instead.

use memchr::memchr;
use regex::Regex;

/// A command line's header typed: ts, db, address, body.
pub type Header<'a> = (f64, i32, &'a [u8], &'a [u8]);

/// The header of a line that is not skipped; `None` when malformed.
pub fn header(line: &[u8]) -> Option<Header<'_>> {
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

/// `digits.digits` exactly as a correctly rounded parse gives it: one division of two exact
/// integers below 2^53 is correctly rounded. Anything else goes to the full parser.
fn parse_ts(ts: &[u8]) -> Option<f64> {
    let mut m: u64 = 0;
    let mut scale: Option<u32> = None;
    let mut digits = 0;
    for &b in ts {
        match b {
            b'0'..=b'9' => {
                m = m * 10 + u64::from(b - b'0');
                digits += 1;
                if let Some(k) = scale.as_mut() {
                    *k += 1;
                }
            }
            b'.' if scale.is_none() => scale = Some(0),
            _ => return std::str::from_utf8(ts).ok()?.parse().ok(),
        }
        if digits > 17 || m > 1 << 53 {
            return std::str::from_utf8(ts).ok()?.parse().ok();
        }
    }
    if digits == 0 {
        return std::str::from_utf8(ts).ok()?.parse().ok();
    }
    Some(m as f64 / 10f64.powi(scale.unwrap_or(0) as i32))
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
        ] {
            assert_eq!(parse_ts(ts.as_bytes()), ts.parse().ok(), "{ts}");
        }
        assert_eq!(parse_ts(b"1.2.3"), None);
        assert_eq!(parse_ts(b""), None);
        assert_eq!(parse_ts(b"."), None);
    }
}

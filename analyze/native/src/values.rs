//! What a string write stores, per tail (`Values`).

use crate::columns::Nullable;

/// Per tail, the value a SET / GETSET / SETEX / PSETEX stores unconditionally and when it
/// expires, for sizing GETs by the writes before them. The same as
/// `analyze/estimate/through_time.py` `value_columns` (a test compares them): `value_len` the
/// decoded length of the value; `exp_abs` the expiry in epoch seconds (SET's EXAT, PXAT);
/// `exp_rel` in seconds after the line (SET's EX, PX; SETEX, PSETEX).
#[derive(Default)]
pub struct Values {
    pub value_len: Nullable<i64>,
    pub exp_abs: Nullable<f64>,
    pub exp_rel: Nullable<f64>,
}

impl Values {
    /// Room for `rows` tails.
    pub(crate) fn with_capacity(rows: usize) -> Self {
        Values {
            value_len: Nullable::with_capacity(rows),
            exp_abs: Nullable::with_capacity(rows),
            exp_rel: Nullable::with_capacity(rows),
        }
    }

    /// `command` in lower case, `args` after it (the key first) as printed, each with its
    /// decoded length.
    pub(crate) fn push(&mut self, command: &[u8], args: &[(&[u8], i64)]) {
        if !matches!(command, b"set" | b"getset" | b"setex" | b"psetex") {
            self.value_len.push(None);
            self.exp_abs.push(None);
            self.exp_rel.push(None);
            return;
        }
        let n = args.len();
        let opts = args.get(2..).unwrap_or_default();
        // The value may not be stored: SET's NX, XX, IFEQ.
        let conditional = opts.iter().map(|a| a.0).any(|o| {
            [&b"NX"[..], b"XX", b"IFEQ"]
                .iter()
                .any(|c| o.eq_ignore_ascii_case(c))
        });
        let setting = command == b"set" && n >= 2 && !conditional;
        // The number after the first option `name` (any case), as seconds.
        let after = |name: &[u8]| {
            let at = opts.iter().position(|o| o.0.eq_ignore_ascii_case(name))?;
            number(opts.get(at + 1)?.0)
        };
        let value = if setting || (command == b"getset" && n == 2) {
            args.get(1)
        } else if (command == b"setex" || command == b"psetex") && n == 3 {
            args.get(2)
        } else {
            None
        };
        self.value_len.push(value.map(|v| v.1));
        self.exp_abs.push(
            setting
                .then(|| after(b"EXAT").or_else(|| after(b"PXAT").map(|ms| ms / 1000.0)))
                .flatten(),
        );
        let third = || args.get(1).and_then(|a| number(a.0));
        self.exp_rel.push(match command {
            b"setex" => third(),
            b"psetex" => third().map(|ms| ms / 1000.0),
            _ if setting => after(b"EX").or_else(|| after(b"PX").map(|ms| ms / 1000.0)),
            _ => None,
        });
    }
}

/// An argument as a number, as Polars casts a string to a float (null when it is not one).
fn number(arg: &[u8]) -> Option<f64> {
    // Nearly every expiry is up to 15 digits (a unix time in ms has 13): an integer below
    // 2^53, exact as a float, read without the general parse.
    if (1..=15).contains(&arg.len()) && arg.iter().all(u8::is_ascii_digit) {
        return Some(arg.iter().fold(0u64, |n, &d| n * 10 + u64::from(d - b'0')) as f64);
    }
    std::str::from_utf8(arg).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quoting::decoded_len;

    #[test]
    fn string_writes_give_their_value_and_expiry() {
        let mut v = Values::default();
        let args = |a: &[&'static str]| {
            a.iter()
                .map(|s| (s.as_bytes(), decoded_len(s.as_bytes())))
                .collect::<Vec<_>>()
        };
        v.push(b"set", &args(&["k", r"a\x41\\", "ex", "60"]));
        v.push(b"set", &args(&["k", "v", "NX", "PXAT", "5000"]));
        v.push(b"set", &args(&["k", "v", "PXAT", "5000"]));
        v.push(b"psetex", &args(&["k", "1500", "v"]));
        assert_eq!(v.value_len.values[0], 3);
        assert_eq!(v.exp_rel.values[0], 60.0);
        assert!(!v.value_len.valid.get(1) && !v.exp_abs.valid.get(1));
        assert_eq!(v.exp_abs.values[2], 5.0);
        assert_eq!((v.value_len.values[3], v.exp_rel.values[3]), (1, 1.5));
    }

    #[test]
    fn digits_read_as_the_general_parse_reads_them() {
        let parse = |s: &str| s.parse::<f64>().ok();
        let mut cases: Vec<String> = ["0", "007", "1760703600000", "999999999999999"]
            .map(String::from)
            .to_vec();
        cases.extend((1..=17).map(|n| "9".repeat(n)));
        cases.extend((0..64).map(|k| (1u64 << k).to_string()));
        cases.extend(["", "1e3", "+5", "-5", "1.5", "inf", "NaN", "1_0"].map(String::from));
        for s in cases {
            let bits = |n: Option<f64>| n.map(f64::to_bits);
            assert_eq!(bits(number(s.as_bytes())), bits(parse(&s)), "{s}");
        }
    }
}

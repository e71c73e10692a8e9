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
}

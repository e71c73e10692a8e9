//! The distinct tails of a chunk, parsed once each: arguments, request size, keys by key spec,
//! argument shape, what a string write stores; long arguments that are no key as `LONG`.

use crate::columns::{Bits, Nullable, Strings};
use crate::keyspecs::{Found, KeySpecs};
use crate::quoting::{bulk, decoded_len, digits, split_into};
use crate::values::Values;

/// What a long argument that is no key is handed on as (`Options::long_arg`). Control
/// characters never appear raw in MONITOR output: it cannot clash with an argument as printed,
/// and it masks to `?` in arg_shape as the argument itself would (no keyword, special or short
/// integer).
pub const LONG: &[u8] = b"\x03";

/// Past this an argument that is not a key is `LONG`: only its length counts downstream (the
/// request size, a string write's value, an APPEND's: worked out here). 64 KiB: far above any
/// keyword or number, far below a line that costs memory (docs/BENCHMARKS.md "A long line").
pub const LONG_ARG: usize = 64 * 1024;

/// Vectors reused from one tail to the next (a chunk's tails are parsed one after another).
#[derive(Default)]
pub(crate) struct Scratch<'a> {
    args: Vec<(&'a [u8], i64)>,
    after: Vec<&'a [u8]>,
    lower: Vec<u8>,
    found: Found,
}

/// The distinct tails of a chunk parsed: command (lower case), argument count, request size,
/// every argument after the command as printed (a list: `offsets` into `args`; a long one that
/// is no key as `LONG`), what a string write stores (`Values`), and the keys by key spec: the
/// first as quoted (`key_raw`, whole bodies only), all of them when more than one (`keys`: a
/// nullable list, `key_offsets` into `key_list`), their count and the argument shape.
pub struct Tails {
    pub command: Strings,
    pub arg_count: Vec<i32>,
    pub request_bytes: Vec<i64>,
    pub offsets: Vec<i64>,
    pub args: Strings,
    pub values: Values,
    pub key_raw: Strings,
    pub key_offsets: Vec<i64>,
    pub key_valid: Bits,
    pub key_list: Strings,
    pub key_count: Vec<i32>,
    pub arg_shape: Strings,
    /// The decoded length of an APPEND's, SETRANGE's, PING's or ECHO's value handed on as
    /// `LONG` (null otherwise: the reply model measures the value itself).
    pub long_value: Nullable<i64>,
}

impl Tails {
    /// Room for `rows` tails whose arguments take `bytes` bytes: sized once, the columns of a
    /// chunk with many distinct tails are not copied as they grow (a copy that also touches
    /// every page twice).
    pub(crate) fn with_capacity(rows: usize, bytes: usize) -> Self {
        let offsets = |rows: usize| {
            let mut v = Vec::with_capacity(rows + 1);
            v.push(0);
            v
        };
        Tails {
            command: Strings::with_capacity(false, rows, 8 * rows),
            arg_count: Vec::with_capacity(rows),
            request_bytes: Vec::with_capacity(rows),
            offsets: offsets(rows),
            args: Strings::with_capacity(false, 3 * rows, bytes),
            values: Values::with_capacity(rows),
            key_raw: Strings::with_capacity(true, rows, 16 * rows),
            key_offsets: offsets(rows),
            key_valid: Bits::with_capacity(rows),
            key_list: Strings::with_capacity(false, rows, 16 * rows),
            key_count: Vec::with_capacity(rows),
            arg_shape: Strings::with_capacity(false, rows, 8 * rows),
            long_value: Nullable::with_capacity(rows),
        }
    }

    /// A whole body.
    pub(crate) fn push<'a>(
        &mut self,
        body: &'a [u8],
        specs: &KeySpecs,
        long: usize,
        scratch: &mut Scratch<'a>,
    ) {
        scratch.args.clear();
        split_into(body, false, &mut scratch.args);
        self.push_args(specs, false, long, scratch);
    }

    /// A fast line's command (with its opening quote) and rest (after the key's closing quote
    /// and the space), parsed as a body whose key is the placeholder `K`.
    pub(crate) fn push_fast<'a>(
        &mut self,
        cmd: &'a [u8],
        rest: Option<&'a [u8]>,
        specs: &KeySpecs,
        long: usize,
        scratch: &mut Scratch<'a>,
    ) {
        let name = cmd.get(1..).unwrap_or_default();
        scratch.args.clear();
        scratch.args.push((name, decoded_len(name)));
        scratch.args.push((&b"K"[..], 1));
        if let Some(rest) = rest {
            split_into(rest, true, &mut scratch.args);
        }
        self.push_args(specs, true, long, scratch);
    }

    /// `scratch.args` with the command first; `fast`: its one key is argv 1 (a fast line's
    /// tail); arguments over `long` bytes that are no key are handed on as `LONG`, never copied.
    fn push_args(&mut self, specs: &KeySpecs, fast: bool, long: usize, scratch: &mut Scratch) {
        let args = &scratch.args;
        let request_bytes =
            args.iter().map(|a| bulk(a.1)).sum::<i64>() + digits(args.len() as i64) + 3;
        let command = args.first().map(|a| a.0).unwrap_or_default();
        let lower = &mut scratch.lower;
        lower.clear();
        if command.is_ascii() {
            lower.extend(command.iter().map(u8::to_ascii_lowercase));
        } else {
            lower.extend(String::from_utf8_lossy(command).to_lowercase().bytes());
        }
        let lower = lower.as_slice();
        self.command.push(lower);
        self.arg_count.push(args.len().saturating_sub(1) as i32);
        self.request_bytes.push(request_bytes);
        let after = &mut scratch.after;
        after.clear();
        after.extend(args.iter().skip(1).map(|a| a.0));
        let found = &mut scratch.found;
        specs.find_into(lower, after, fast, found);
        self.push_keys(after, &found.keys, fast);
        self.key_count.push(found.keys.len() as i32);
        self.arg_shape.push(&found.shape);
        // Which arguments are keys, looked at only when some argument is long (rare).
        let mut key = Vec::new();
        if after.iter().any(|a| a.len() > long) {
            key = vec![false; after.len()];
            for &i in &found.keys {
                key[i] = true;
            }
        }
        let is_long = |i: usize| after[i].len() > long && !key[i];
        for (i, arg) in after.iter().enumerate() {
            self.args.push(if arg.len() > long && is_long(i) {
                LONG
            } else {
                arg
            });
        }
        self.offsets.push(self.args.len() as i64);
        let value_at = match lower {
            b"ping" | b"echo" => Some(0),
            b"append" => Some(1),
            b"setrange" => Some(2),
            _ => None,
        };
        let long_value = value_at.filter(|&i| i < after.len() && is_long(i));
        self.long_value.push(long_value.map(|i| args[i + 1].1));
        self.values.push(lower, args.get(1..).unwrap_or_default());
    }

    /// The first key as quoted (whole bodies: a fast tail's is the line's) and every key when
    /// there are several.
    fn push_keys(&mut self, args: &[&[u8]], keys: &[usize], fast: bool) {
        match keys.first() {
            Some(&i) if !fast => self.key_raw.push(args[i]),
            _ => self.key_raw.push_null(),
        }
        let several = !fast && keys.len() > 1;
        if several {
            for &i in keys {
                self.key_list.push(args[i]);
            }
        }
        self.key_valid.push(several);
        self.key_offsets.push(self.key_list.len() as i64);
    }
}

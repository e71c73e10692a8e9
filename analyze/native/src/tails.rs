//! The distinct tails of a chunk, parsed once each: arguments, request size, keys by key spec,
//! argument shape, what a string write stores; long arguments that are no key as `LONG`.

use crate::columns::{Bits, Nullable, Strings};
use crate::keyspecs::KeySpecs;
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
    pub(crate) fn new() -> Self {
        Tails {
            command: Strings::new(false),
            arg_count: Vec::new(),
            request_bytes: Vec::new(),
            offsets: vec![0],
            args: Strings::new(false),
            values: Values::default(),
            key_raw: Strings::new(true),
            key_offsets: vec![0],
            key_valid: Bits::default(),
            key_list: Strings::new(false),
            key_count: Vec::new(),
            arg_shape: Strings::new(false),
            long_value: Nullable::default(),
        }
    }

    /// A whole body.
    pub(crate) fn push(&mut self, body: &[u8], specs: &KeySpecs, long: usize) {
        let mut args = Vec::new();
        split_into(body, false, &mut args);
        self.push_args(&args, specs, false, long);
    }

    /// A fast line's command (with its opening quote) and rest (after the key's closing quote
    /// and the space), parsed as a body whose key is the placeholder `K`.
    pub(crate) fn push_fast(
        &mut self,
        cmd: &[u8],
        rest: Option<&[u8]>,
        specs: &KeySpecs,
        long: usize,
    ) {
        let name = cmd.get(1..).unwrap_or_default();
        let mut args = vec![(name, decoded_len(name)), (&b"K"[..], 1)];
        if let Some(rest) = rest {
            split_into(rest, true, &mut args);
        }
        self.push_args(&args, specs, true, long);
    }

    /// `args` with the command first; `fast`: its one key is argv 1 (a fast line's tail);
    /// arguments over `long` bytes that are no key are handed on as `LONG`, never copied.
    fn push_args(&mut self, args: &[(&[u8], i64)], specs: &KeySpecs, fast: bool, long: usize) {
        let request_bytes =
            args.iter().map(|a| bulk(a.1)).sum::<i64>() + digits(args.len() as i64) + 3;
        let command = args.first().map(|a| a.0).unwrap_or_default();
        if command.is_ascii() {
            self.command.push(&command.to_ascii_lowercase());
        } else {
            let text = String::from_utf8_lossy(command).to_lowercase();
            self.command.push(text.as_bytes());
        }
        self.arg_count.push(args.len().saturating_sub(1) as i32);
        self.request_bytes.push(request_bytes);
        let lower = self.command.get(self.command.len() - 1).unwrap_or_default();
        let lower = lower.to_vec();
        let lower = lower.as_slice();
        let after: Vec<&[u8]> = args.iter().skip(1).map(|a| a.0).collect();
        let found = specs.find(lower, &after, fast);
        self.push_keys(&after, &found.keys, fast);
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

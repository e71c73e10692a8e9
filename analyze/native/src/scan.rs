//! One chunk of MONITOR text (whole lines) parsed in one pass: the line split, the header
//! (`ts`, `db`, `client`), the quoting check, the capture's health counts, and the first cut of
//! the body into command, first argument and the rest (the "tail").
//!
//! It mirrors what the analyzer's Polars expressions did line by line (docs/MONITOR.md):
//! - lines split on `\n`, one trailing `\r` dropped, invalid UTF-8 replaced (lossy);
//! - `OK`, `+OK` and blank lines are skipped;
//! - the header is `ts [db addr] body`, split on the first three spaces; an address holding a
//!   space (a unix socket path) is taken by a regex instead;
//! - the body is well formed when it is quoted arguments separated by single spaces, every quote
//!   or backslash inside an argument escaped.

use std::collections::HashMap;

use memchr::{memchr, memmem};
use regex::Regex;

use crate::keyspecs::KeySpecs;

/// What a long argument that is no key is handed on as (`Options::long_arg`). Control
/// characters never appear raw in MONITOR output: it cannot clash with an argument as printed,
/// and it masks to `?` in arg_shape as the argument itself would (no keyword, special or short
/// integer).
pub const LONG: &[u8] = b"\x03";

/// Past this an argument that is not a key is `LONG`: only its length counts downstream (the
/// request size, a string write's value, an APPEND's: worked out here). 64 KiB: far above any
/// keyword or number, far below a line that costs memory (docs/BENCHMARKS.md "A long line").
pub const LONG_ARG: usize = 64 * 1024;

/// A string column as Arrow's large string layout: `offsets` (one more than rows) into `data`,
/// and a validity bit per row when it can hold nulls.
#[derive(Default)]
pub struct Strings {
    pub offsets: Vec<i64>,
    pub data: Vec<u8>,
    pub valid: Option<Bits>,
}

impl Strings {
    pub fn new(nullable: bool) -> Self {
        Strings {
            offsets: vec![0],
            data: Vec::new(),
            valid: nullable.then(Bits::default),
        }
    }

    pub fn push(&mut self, value: &[u8]) {
        self.data.extend_from_slice(value);
        self.offsets.push(self.data.len() as i64);
        if let Some(v) = self.valid.as_mut() {
            v.push(true);
        }
    }

    pub fn push_null(&mut self) {
        self.offsets.push(self.data.len() as i64);
        self.valid.as_mut().expect("a nullable column").push(false);
    }

    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, i: usize) -> Option<&[u8]> {
        if let Some(v) = &self.valid {
            if !v.get(i) {
                return None;
            }
        }
        Some(&self.data[self.offsets[i] as usize..self.offsets[i + 1] as usize])
    }
}

/// A bitmap, least significant bit first (Arrow's validity and boolean layout).
#[derive(Default)]
pub struct Bits {
    pub bytes: Vec<u8>,
    pub len: usize,
    pub unset: usize,
}

impl Bits {
    pub fn push(&mut self, bit: bool) {
        if self.len.is_multiple_of(8) {
            self.bytes.push(0);
        }
        if bit {
            *self.bytes.last_mut().expect("pushed above") |= 1 << (self.len % 8);
        } else {
            self.unset += 1;
        }
        self.len += 1;
    }

    pub fn get(&self, i: usize) -> bool {
        self.bytes[i / 8] & (1 << (i % 8)) != 0
    }
}

/// What one chunk gives: the health counts of every line, and per command line its columns.
pub struct Scan {
    pub rows: u64,
    pub parsed: u64,
    pub skipped: u64,
    pub first_ts: Option<f64>,
    pub last_ts: Option<f64>,
    /// The first bad lines (neither skipped nor parsed), lossy text.
    pub bad: Vec<String>,
    pub ts: Vec<f64>,
    pub db: Vec<i32>,
    pub client: Strings,
    /// The quoted fields as printed (only when asked for).
    pub body: Option<Strings>,
    /// The command's one key is argv 1 (`Options::fast`) and `key_raw` holds it as quoted.
    pub fast: Bits,
    pub key_raw: Strings,
    /// Per row the code of its tail (codes in order of first appearance).
    pub tail: Vec<u32>,
    /// Per tail: a whole body (else a fast line's command and rest, with the key apart).
    pub whole: Bits,
    /// Per tail, parsed (a fast tail as a body whose key is the placeholder `K`).
    pub parsed_tails: Tails,
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

/// Numbers that may be missing, as Arrow lays them out: values and a validity bitmap.
#[derive(Default)]
pub struct Nullable<T> {
    pub values: Vec<T>,
    pub valid: Bits,
}

impl<T: Default> Nullable<T> {
    pub fn push(&mut self, value: Option<T>) {
        self.valid.push(value.is_some());
        self.values.push(value.unwrap_or_default());
    }
}

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
    /// `command` in lower case, `args` after it (the key first) as printed, each with its
    /// decoded length.
    fn push(&mut self, command: &[u8], args: &[(&[u8], i64)]) {
        if !matches!(command, b"set" | b"getset" | b"setex" | b"psetex") {
            self.value_len.push(None);
            self.exp_abs.push(None);
            self.exp_rel.push(None);
            return;
        }
        let n = args.len();
        let opts = args.get(2..).unwrap_or_default();
        let opts: Vec<&[u8]> = opts.iter().map(|a| a.0).collect();
        // The value may not be stored: SET's NX, XX, IFEQ.
        let conditional = opts.iter().any(|o| {
            [&b"NX"[..], b"XX", b"IFEQ"]
                .iter()
                .any(|c| o.eq_ignore_ascii_case(c))
        });
        let setting = command == b"set" && n >= 2 && !conditional;
        // The number after the first option `name` (any case), as seconds.
        let after = |name: &[u8]| {
            let at = opts.iter().position(|o| o.eq_ignore_ascii_case(name))?;
            number(opts.get(at + 1)?)
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

impl Tails {
    fn new() -> Self {
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
    fn push(&mut self, body: &[u8], specs: &KeySpecs, long: usize) {
        let mut args = Vec::new();
        split_into(body, false, &mut args);
        self.push_args(&args, specs, false, long);
    }

    /// A fast line's command (with its opening quote) and rest (after the key's closing quote
    /// and the space), parsed as a body whose key is the placeholder `K`.
    fn push_fast(&mut self, cmd: &[u8], rest: Option<&[u8]>, specs: &KeySpecs, long: usize) {
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
        let is_long = |i: usize| after[i].len() > long && !found.keys.contains(&i);
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

/// Spellings of commands, hashed cheaply (lines ask once each).
pub type Spellings = std::collections::HashSet<Vec<u8>, Fast>;

pub struct Options<'a> {
    /// Commands whose one key is argv 1, quoted as MONITOR prints them (`"GET`, `"get`).
    pub fast: &'a Spellings,
    /// Where each command's keys are.
    pub specs: &'a KeySpecs,
    pub with_body: bool,
    pub examples: usize,
    /// Arguments that are no key longer than this are handed on as `LONG`.
    pub long_arg: usize,
}

/// A fast hash for chunk-local maps (tails, spellings): nothing here is chosen by an attacker
/// who could not just as well send more lines.
type Fast = foldhash::fast::FixedState;
type FxMap<K, V> = HashMap<K, V, Fast>;

#[derive(Hash, PartialEq, Eq)]
enum Tail<'a> {
    Fast(&'a [u8], Option<&'a [u8]>),
    Whole(&'a [u8]),
}

/// The header of a line that is not skipped: ts, db, address, body; `None` when malformed.
/// A command line's header typed: ts, db, address, body.
pub type Header<'a> = (f64, i32, &'a [u8], &'a [u8]);

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

/// The fields typed; `wide`: `db` and `addr` come without their `[` and `]`.
/// `digits.digits` exactly as a correctly rounded parse gives it: one division of two exact
/// integers below 2^53 is correctly rounded. Anything else goes to the full parser.
/// Epoch seconds past which a stamp is garbage (year 5138).
const MAX_TS: f64 = 1e11;

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

/// Quoted arguments separated by single spaces, `"` and `\` escaped inside.
pub fn well_quoted(body: &[u8]) -> bool {
    let mut i = 0;
    let n = body.len();
    loop {
        if i >= n || body[i] != b'"' {
            return false;
        }
        i += 1;
        loop {
            // Jump to the next quote or backslash: arguments are mostly plain text.
            match memchr::memchr2(b'"', b'\\', &body[i..]) {
                None => return false,
                Some(p) => i += p,
            }
            if body[i] == b'\\' {
                if i + 1 >= n {
                    return false;
                }
                i += 2;
            } else {
                i += 1;
                break;
            }
        }
        if i == n {
            return true;
        }
        if body[i] != b' ' {
            return false;
        }
        i += 1;
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
fn split_into<'a>(body: &'a [u8], opened: bool, args: &mut Vec<(&'a [u8], i64)>) {
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

fn digits(n: i64) -> i64 {
    let mut d = 1;
    let mut p = 10;
    while n >= p && d < 19 {
        d += 1;
        p = p.saturating_mul(10);
    }
    d
}

fn bulk(len: i64) -> i64 {
    len + digits(len) + 5
}

/// `body` split like `str.splitn("\" \"", 3)`: command (with its opening quote), first
/// argument, the rest (with the closing quote).
fn cut3<'a>(
    body: &'a [u8],
    sep: &memmem::Finder,
) -> (&'a [u8], Option<&'a [u8]>, Option<&'a [u8]>) {
    match sep.find(body) {
        None => (body, None, None),
        Some(p) => {
            let cmd = &body[..p];
            let after = &body[p + 3..];
            match sep.find(after) {
                None => (cmd, Some(after), None),
                Some(q) => (cmd, Some(&after[..q]), Some(&after[q + 3..])),
            }
        }
    }
}

pub fn scan(data: &[u8], opts: &Options) -> Scan {
    // Valid UTF-8 (nearly always: MONITOR escapes every byte that is not printable ASCII) is
    // used as it is; anything else is read lossily, like any text reader would.
    let lossy;
    let text = match std::str::from_utf8(data) {
        Ok(_) => data,
        Err(_) => {
            lossy = String::from_utf8_lossy(data);
            lossy.as_bytes()
        }
    };
    let mut out = Scan {
        rows: 0,
        parsed: 0,
        skipped: 0,
        first_ts: None,
        last_ts: None,
        bad: Vec::new(),
        ts: Vec::new(),
        db: Vec::new(),
        client: Strings::new(false),
        body: opts.with_body.then(|| Strings::new(false)),
        fast: Bits::default(),
        key_raw: Strings::new(true),
        tail: Vec::new(),
        whole: Bits::default(),
        parsed_tails: Tails::new(),
    };
    let mut tails: FxMap<Tail, u32> = FxMap::default();
    let misplit = memmem::Finder::new(b"\\\" \"");
    let sep = memmem::Finder::new(b"\" \"");
    let mut start = 0;
    while start < text.len() {
        let end = memchr(b'\n', &text[start..]).map_or(text.len(), |p| start + p);
        let mut line = &text[start..end];
        start = end + 1;
        if let Some(l) = line.strip_suffix(b"\r") {
            line = l;
        }
        out.rows += 1;
        if line.is_empty() || line == b"OK" || line == b"+OK" {
            out.skipped += 1;
            continue;
        }
        let parsed = header(line).filter(|h| well_quoted(h.3));
        let Some((ts, db, addr, body)) = parsed else {
            if out.bad.len() < opts.examples {
                out.bad.push(String::from_utf8_lossy(line).into_owned());
            }
            continue;
        };
        out.parsed += 1;
        out.first_ts = Some(out.first_ts.map_or(ts, |t| t.min(ts)));
        out.last_ts = Some(out.last_ts.map_or(ts, |t| t.max(ts)));
        out.ts.push(ts);
        out.db.push(db);
        out.client.push(addr);
        if let Some(b) = out.body.as_mut() {
            b.push(body);
        }
        let (cmd, first, rest) = cut3(body, &sep);
        let fast = first.is_some() && opts.fast.contains(cmd) && misplit.find(body).is_none();
        out.fast.push(fast);
        let tail = if fast {
            let first = first.expect("checked");
            match rest {
                None => out.key_raw.push(first.strip_suffix(b"\"").unwrap_or(first)),
                Some(_) => out.key_raw.push(first),
            }
            Tail::Fast(cmd, rest)
        } else {
            out.key_raw.push_null();
            Tail::Whole(body)
        };
        let next = tails.len() as u32;
        let code = *tails.entry(tail).or_insert_with_key(|t| {
            match t {
                Tail::Fast(cmd, rest) => {
                    out.whole.push(false);
                    out.parsed_tails
                        .push_fast(cmd, *rest, opts.specs, opts.long_arg);
                }
                Tail::Whole(body) => {
                    out.whole.push(true);
                    out.parsed_tails.push(body, opts.specs, opts.long_arg);
                }
            }
            next
        });
        out.tail.push(code);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(text: &str) -> Scan {
        let fast: Spellings = [b"\"GET".to_vec(), b"\"get".to_vec(), b"\"SET".to_vec()]
            .into_iter()
            .collect();
        let mut specs = KeySpecs::default();
        let mget = crate::keyspecs::Command {
            fast: false,
            simple: Some((1, -1, 1)),
            slots: vec![],
            drop_empty: false,
        };
        specs.commands.insert(b"mget".to_vec(), mget);
        let opts = Options {
            fast: &fast,
            specs: &specs,
            with_body: true,
            examples: 5,
            long_arg: LONG_ARG,
        };
        scan(text.as_bytes(), &opts)
    }

    fn s(b: Option<&[u8]>) -> Option<String> {
        b.map(|b| String::from_utf8_lossy(b).into_owned())
    }

    #[test]
    fn headers_in_every_address_form() {
        let out = run(concat!(
            "1.5 [0 10.0.0.1:5] \"GET\" \"k\"\r\n",
            "+2.25 [3 [::1]:6000] \"get\" \"k\" \"x\"\n",
            "3 [0 unix:/tmp/a b.sock] \"GET\" \"k\"\n",
            "4 [0 lua] \"SET\" \"k\" \"v\"\n",
            "5 [0 ] \"PING\"\n",
        ));
        assert_eq!(out.parsed, 5);
        assert_eq!(out.ts, vec![1.5, 2.25, 3.0, 4.0, 5.0]);
        let clients: Vec<_> = (0..5).map(|i| s(out.client.get(i)).unwrap()).collect();
        assert_eq!(
            clients,
            ["10.0.0.1:5", "[::1]:6000", "unix:/tmp/a b.sock", "lua", ""]
        );
        assert_eq!(out.first_ts, Some(1.5));
        assert_eq!(out.last_ts, Some(5.0));
    }

    #[test]
    fn skipped_and_bad_lines_are_counted() {
        let out =
            run("OK\n+OK\n\nnot monitor\n1 [0 a:1] \"GET\" \"unterminated\n1 [x a:1] \"GET\"\n");
        assert_eq!((out.rows, out.skipped, out.parsed), (6, 3, 0));
        assert_eq!(out.bad.len(), 3);
        assert_eq!(out.bad[0], "not monitor");
    }

    #[test]
    fn stamps_no_clock_gives_are_bad_lines() {
        let out = run(concat!(
            "-1 [0 a:1] \"GET\" \"k\"\n",
            "32503680000 [0 a:1] \"GET\" \"k\"\n",
            "1e300 [0 a:1] \"GET\" \"k\"\n",
            "NaN [0 a:1] \"GET\" \"k\"\n",
            "1733412345.5 [0 a:1] \"GET\" \"k\"\n",
        ));
        assert_eq!((out.rows, out.parsed), (5, 2));
        assert_eq!(out.ts, vec![32503680000.0, 1733412345.5]);
        assert_eq!(out.bad.len(), 3);
    }

    #[test]
    fn quoting_is_checked_escape_by_escape() {
        assert!(well_quoted(br#""a" "b\"c" "\\""#));
        assert!(well_quoted(br#""""#));
        assert!(!well_quoted(br#""a"  "b""#));
        assert!(!well_quoted(br#""a\""#));
        assert!(!well_quoted(br#""a"b""#));
        assert!(!well_quoted(b""));
    }

    #[test]
    fn fast_lines_share_a_tail_without_their_key() {
        let out = run(concat!(
            "1 [0 a:1] \"GET\" \"k1\"\n",
            "1 [0 a:1] \"GET\" \"k2\"\n",
            "1 [0 a:1] \"SET\" \"k3\" \"v\"\n",
            "1 [0 a:1] \"MGET\" \"a\" \"b\"\n",
            "1 [0 a:1] \"SET\" \"k\\\" \" \"v\"\n",
        ));
        assert_eq!(out.tail, vec![0, 0, 1, 2, 3]);
        let keys: Vec<_> = (0..5).map(|i| s(out.key_raw.get(i))).collect();
        assert_eq!(
            keys,
            [
                Some("k1".into()),
                Some("k2".into()),
                Some("k3".into()),
                None,
                None
            ]
        );
        let whole: Vec<_> = (0..4).map(|i| out.whole.get(i)).collect();
        assert_eq!(whole, [false, false, true, true]);
    }

    #[test]
    fn bodies_split_into_arguments_as_printed_and_sized_decoded() {
        let (args, size) = split_body(br#""SET" "k\" \"" "\x00\n" """#);
        let args: Vec<_> = args.iter().map(|a| String::from_utf8_lossy(a)).collect();
        assert_eq!(args, ["SET", r#"k\" \""#, r"\x00\n", ""]);
        // *4\r\n, $3 SET, $4 k" ", $2 \0\n, $0
        assert_eq!(size, 4 + (4 + 3 + 2) + (4 + 4 + 2) + (4 + 2 + 2) + (4 + 2));
        let out = run("1 [0 a:1] \"Get\" \"k\"\n1 [0 a:1] \"GET\" \"k\"\n");
        assert_eq!(out.parsed_tails.command.get(0).unwrap(), b"get");
        assert_eq!(out.parsed_tails.offsets, [0, 1, 2]);
        assert_eq!(out.parsed_tails.args.get(0).unwrap(), b"k");
        assert_eq!(out.parsed_tails.args.get(1).unwrap(), b"K"); // fast: the placeholder key
        assert_eq!(out.parsed_tails.request_bytes, [4 + 9 + 7, 4 + 9 + 7]);
    }

    #[test]
    fn long_arguments_that_are_no_key_are_placeholders_counted_whole() {
        let value = "\\\"a".repeat(LONG_ARG / 3 + 1); // just over the limit
        let out = run(&format!(
            "1 [0 a:1] \"SET\" \"k\" \"{value}\" \"EX\" \"9\"\n1 [0 a:1] \"MGET\" \"{value}\"\n\
             1 [0 a:1] \"APPEND\" \"k\" \"{value}\"\n"
        ));
        let t = &out.parsed_tails;
        assert_eq!(t.args.get(1).unwrap(), LONG);
        assert_eq!(t.args.get(2).unwrap(), b"EX");
        let decoded = (LONG_ARG / 3 + 1) as i64 * 2; // `\"` and `a` (one byte each)
        assert_eq!(t.values.value_len.values[0], decoded);
        assert_eq!(t.request_bytes[0], 4 + 9 + 7 + bulk(decoded) + 8 + 7);
        assert_eq!(t.args.get(4).unwrap().len(), value.len()); // a key is kept whole
        assert_eq!(t.key_count[1], 1);
        assert_eq!(t.args.get(6).unwrap(), LONG); // no key spec: APPEND's value is no key
        assert!(!t.long_value.valid.get(0) && !t.long_value.valid.get(1));
        assert_eq!(t.long_value.values[2], decoded);
    }

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

    #[test]
    fn invalid_utf8_is_replaced() {
        let out = scan(
            b"1 [0 a:1] \"GET\" \"\xff\"\n",
            &Options {
                fast: &Spellings::default(),
                specs: &KeySpecs::default(),
                with_body: true,
                examples: 5,
                long_arg: LONG_ARG,
            },
        );
        assert_eq!(out.parsed, 1);
        assert_eq!(
            out.body.unwrap().get(0).unwrap(),
            "\"GET\" \"\u{fffd}\"".as_bytes()
        );
    }

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

//! One chunk of MONITOR text (whole lines) parsed in one pass: the line split, the header
//! (`ts`, `db`, `client`: `header`), the quoting check (`quoting`), the capture's health counts,
//! and the first cut of the body into command, first argument and the rest (the "tail"), each
//! distinct tail parsed once (`tails`).
//!
//! It mirrors what the analyzer's Polars expressions did line by line (docs/MONITOR.md):
//! - lines split on `\n`, one trailing `\r` dropped, invalid UTF-8 replaced (lossy);
//! - `OK`, `+OK` and blank lines are skipped;
//! - the body is well formed when it is quoted arguments separated by single spaces, every quote
//!   or backslash inside an argument escaped.

use std::borrow::Cow;
use std::hash::BuildHasher;

use hashbrown::HashTable;
use memchr::memchr;

use crate::columns::{Bits, Strings};
use crate::cut::{cut, misplit, Finders};
use crate::header::header;
use crate::keyspecs::KeySpecs;
use crate::quoting::quoted;
use crate::tails::{Scratch, Tails};

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

#[derive(Clone, Copy, Hash, PartialEq, Eq)]
enum Tail<'a> {
    Fast(&'a [u8], Option<&'a [u8]>),
    Whole(&'a [u8]),
}

/// A guess at the lines of a chunk, to size its columns once (MONITOR lines are rarely shorter).
const SHORT_LINE: usize = 64;
/// A guess at the share of lines with a tail of their own (a quarter in a capture where every
/// SET stores a new value), to size the tails' columns once; more only grow them.
const TAIL_SHARE: usize = 4;

/// Valid UTF-8 (nearly always: MONITOR escapes every byte that is not printable ASCII) as it
/// is; anything else read lossily, like any text reader would. Checked with `from_utf8` first:
/// it reads ASCII a word at a time, the lossy reader byte by byte (19% of a chunk's scan).
pub fn utf8_or_lossy(data: &[u8]) -> Cow<'_, [u8]> {
    if std::str::from_utf8(data).is_ok() {
        return Cow::Borrowed(data);
    }
    Cow::Owned(String::from_utf8_lossy(data).into_owned().into_bytes())
}

pub fn scan(data: &[u8], opts: &Options) -> Scan {
    let text = utf8_or_lossy(data);
    let text: &[u8] = &text;
    let guess = text.len() / SHORT_LINE + 1;
    let mut out = Scan {
        rows: 0,
        parsed: 0,
        skipped: 0,
        first_ts: None,
        last_ts: None,
        bad: Vec::new(),
        ts: Vec::with_capacity(guess),
        db: Vec::with_capacity(guess),
        client: Strings::with_capacity(false, guess, 24 * guess),
        body: opts.with_body.then(|| Strings::new(false)),
        fast: Bits::default(),
        key_raw: Strings::with_capacity(true, guess, 48 * guess),
        tail: Vec::with_capacity(guess),
        whole: Bits::with_capacity(guess / TAIL_SHARE),
        parsed_tails: Tails::with_capacity(guess / TAIL_SHARE, text.len() / TAIL_SHARE),
    };
    // The distinct tails by code, their hashes, and a table of codes (with the high half of
    // their hash, compared first: a tail compared is often one first seen long before, cold).
    let hasher = Fast::default();
    let mut seen: Vec<Tail> = Vec::new();
    let mut hashes: Vec<u64> = Vec::new();
    let mut table: HashTable<(u32, u32)> = HashTable::with_capacity(guess / 16);
    let finders = Finders::new();
    let mut scratch = Scratch::default();
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
        let parsed = header(line).and_then(|h| Some((h, quoted(h.3)?)));
        let Some(((ts, db, addr, body), q)) = parsed else {
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
        // Where a cut could fall inside an argument the line is no fast one, whatever the cut.
        let (cmd, first, rest) = cut(body, &q, &finders);
        let fast = first.is_some() && opts.fast.contains(cmd) && !misplit(body, &q, &finders);
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
        let hash = hasher.hash_one(tail);
        let high = (hash >> 32) as u32;
        let code = match table.find(hash, |&(c, h)| h == high && seen[c as usize] == tail) {
            Some(&(c, _)) => {
                // The same text, now from this line: the next comparison reads it warm.
                seen[c as usize] = tail;
                c
            }
            None => {
                let c = seen.len() as u32;
                seen.push(tail);
                hashes.push(hash);
                table.insert_unique(hash, (c, high), |&(c, _)| hashes[c as usize]);
                match tail {
                    Tail::Fast(cmd, rest) => {
                        out.whole.push(false);
                        let (specs, long) = (opts.specs, opts.long_arg);
                        out.parsed_tails
                            .push_fast(cmd, rest, specs, long, &mut scratch);
                    }
                    Tail::Whole(body) => {
                        out.whole.push(true);
                        let (specs, long) = (opts.specs, opts.long_arg);
                        out.parsed_tails.push(body, specs, long, &mut scratch);
                    }
                }
                c
            }
        };
        out.tail.push(code);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quoting::{bulk, split_body};
    use crate::tails::{LONG, LONG_ARG};

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
}

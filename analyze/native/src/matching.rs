//! The command lines of a chunk whose body holds one of a set of needles (ASCII case
//! insensitive): what the analyzer's pre-pass of a source reads (the writes of some keys, every
//! flush), without a row for each of the other lines.
//!
//! A line is kept exactly when `scan` would give it a row (the same line split, lossy UTF-8,
//! skipped lines, header and quoting checks: `scan.rs`) and its body, the quoted fields as
//! printed, holds a needle: what Polars' `str.contains_any(needles,
//! ascii_case_insensitive=True)` says of the `body` column of `scan` (the same crate).

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, Input};
use memchr::{memchr, memrchr};

use crate::columns::Strings;
use crate::header::header;
use crate::quoting::well_quoted;
use crate::scan::utf8_or_lossy;

/// The kept lines of a chunk, in file order.
pub struct Matching {
    pub ts: Vec<f64>,
    pub db: Vec<i32>,
    pub client: Strings,
    /// The quoted fields as printed.
    pub body: Strings,
    /// The command as printed: the body's first field up to its first quote (without quotes).
    pub command: Strings,
    /// The first argument as printed, when the command holds no escape (null when it does, or
    /// when there is none): the regex `^"[^"]*" "((?:[^"\\]|\\.)*)"` of the Polars path.
    pub first: Strings,
}

/// The needles as one automaton.
pub fn needles<I, P>(patterns: I) -> AhoCorasick
where
    I: IntoIterator<Item = P>,
    P: AsRef<[u8]>,
{
    AhoCorasickBuilder::new()
        .ascii_case_insensitive(true)
        .build(patterns)
        .expect("needles a few MiB at most")
}

pub fn matching(data: &[u8], needles: &AhoCorasick) -> Matching {
    let text = utf8_or_lossy(data); // as `scan` reads it
    let text: &[u8] = &text;
    let mut out = Matching {
        ts: Vec::new(),
        db: Vec::new(),
        client: Strings::new(false),
        body: Strings::new(false),
        command: Strings::new(false),
        first: Strings::new(true),
    };
    // One search over the whole text finds the next line holding a needle anywhere (`from` is
    // always a line's start); that line is then checked as `scan` checks it, and its body alone
    // searched again (a needle in the header, or across lines, keeps nothing).
    let mut from = 0;
    while from < text.len() {
        let Some(m) = needles.find(Input::new(text).span(from..text.len())) else {
            break;
        };
        let start = memrchr(b'\n', &text[from..m.start()]).map_or(from, |p| from + p + 1);
        let end = memchr(b'\n', &text[m.start()..]).map_or(text.len(), |p| m.start() + p);
        from = end + 1;
        let mut line = &text[start..end];
        if let Some(l) = line.strip_suffix(b"\r") {
            line = l;
        }
        if line.is_empty() || line == b"OK" || line == b"+OK" {
            continue;
        }
        let Some((ts, db, addr, body)) = header(line).filter(|h| well_quoted(h.3)) else {
            continue;
        };
        // The needle found is in the body (nearly always), else the body is searched alone.
        let at = body.as_ptr() as usize - text.as_ptr() as usize;
        let inside = m.start() >= at && m.end() <= at + body.len();
        if !inside && !needles.is_match(body) {
            continue;
        }
        out.ts.push(ts);
        out.db.push(db);
        out.client.push(addr);
        out.body.push(body);
        let (command, first) = command_and_first(body);
        out.command.push(command);
        match first {
            Some(f) => out.first.push(f),
            None => out.first.push_null(),
        }
    }
    out
}

/// A well-quoted body's command up to its first quote, and its first argument as printed when
/// the command's field closes at that quote.
fn command_and_first(body: &[u8]) -> (&[u8], Option<&[u8]>) {
    let inner = &body[1..];
    let close = memchr(b'"', inner).expect("a well-quoted body closes its first field");
    let command = &inner[..close];
    let rest = &inner[close + 1..];
    let Some(arg) = rest.strip_prefix(b" \"") else {
        return (command, None);
    };
    let mut i = 0;
    while i < arg.len() {
        match arg[i] {
            b'"' => return (command, Some(&arg[..i])),
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    (command, None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keyspecs::KeySpecs;
    use crate::scan::{scan, Options, Spellings};
    use crate::tails::LONG_ARG;

    /// The rows `scan` gives whose body holds a needle: (ts, db, client, body).
    fn reference(text: &[u8], patterns: &[&str]) -> Vec<(f64, i32, Vec<u8>, Vec<u8>)> {
        let opts = Options {
            fast: &Spellings::default(),
            specs: &KeySpecs::default(),
            with_body: true,
            examples: 0,
            long_arg: LONG_ARG,
        };
        let out = scan(text, &opts);
        let ac = needles(patterns);
        let body = out.body.expect("asked for");
        (0..out.ts.len())
            .filter(|&i| ac.is_match(body.get(i).unwrap()))
            .map(|i| {
                let b = body.get(i).unwrap().to_vec();
                (out.ts[i], out.db[i], out.client.get(i).unwrap().to_vec(), b)
            })
            .collect()
    }

    fn kept(text: &[u8], patterns: &[&str]) -> Vec<(f64, i32, Vec<u8>, Vec<u8>)> {
        let out = matching(text, &needles(patterns));
        (0..out.ts.len())
            .map(|i| {
                let b = out.body.get(i).unwrap().to_vec();
                (out.ts[i], out.db[i], out.client.get(i).unwrap().to_vec(), b)
            })
            .collect()
    }

    /// Line 10 holds a byte that is not UTF-8 (the whole chunk is then read lossily).
    fn text() -> Vec<u8> {
        let text = concat!(
            "1 [0 10.0.0.1:5] \"SET\" \"k\" \"v\"\r\n",
            "OK\n+OK\n\n",
            "2 [0 10.0.0.1:5] \"get\" \"k\"\n",
            "3 [1 10.0.0.1:5] \"Set\" \"a\\\"k\\\"\" \"\\\"k\\\"\"\n", // "k" only inside escapes
            "4 [0 unix:/tmp/\"k\" s.sock] \"GET\" \"x\"\n",            // the needle in the header
            "5 [0 lua] \"DEL\" \"K\"\n",                               // other case
            "not monitor \"k\" \n",
            "6 [0 a:1] \"GET\" \"k\" \"unterminated\n",
            "7 [x a:1] \"DEL\" \"k\"\n",
            "8 [0 a:1] \"RPUSH\" \"l\" \"\\xff\" \"k\"\n",
            "9 [0 a:1] \"FLUSHALL\"\n",
            "10 [0 a:1] \"GET\" \"k\u{1}\"\n",
            "11 [0 [::1]:6] \"MSET\" \"x\" \"\\\\\" \"k\" \"\"",
        );
        text.bytes()
            .map(|b| if b == 1 { 0xff } else { b })
            .collect()
    }

    #[test]
    fn keeps_what_scan_and_contains_any_keep() {
        let text = text();
        for patterns in [
            &["\"k\""][..],
            &["\"set\" ", "\"del\" ", "\"flushall\""],
            &["\"k", "l\" \"\\xff"],
            &["\\\"k\\\""],
            &["\u{fffd}"],
            &["\"\""],
            &[""],
            &["nothing"],
            &["\"v\"\r\nok", "\"k\"\n2 ["], // across two lines: in no body
        ] {
            let want = reference(&text, patterns);
            assert_eq!(kept(&text, patterns), want, "{patterns:?}");
        }
        assert!(kept(&text, &["\"v\"\r\nok"]).is_empty());
        let ts: Vec<f64> = kept(&text, &["\"k\""]).iter().map(|r| r.0).collect();
        assert_eq!(ts, [1.0, 2.0, 5.0, 8.0, 11.0]); // 10: `"k\u{fffd}"`
    }

    #[test]
    fn command_and_first_argument_as_the_regexes_give_them() {
        assert_eq!(
            command_and_first(br#""SET" "k" "v""#),
            (&b"SET"[..], Some(&b"k"[..]))
        );
        assert_eq!(command_and_first(br#""DEL""#), (&b"DEL"[..], None));
        assert_eq!(
            command_and_first(br#""SET" "a\"b\\" "v""#),
            (&b"SET"[..], Some(&br#"a\"b\\"#[..]))
        );
        assert_eq!(command_and_first(br#""SE\"T" "k""#), (&b"SE\\"[..], None));
        assert_eq!(command_and_first(br#""" """#), (&b""[..], Some(&b""[..])));
    }
}

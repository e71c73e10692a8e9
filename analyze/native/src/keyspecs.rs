//! The keys of a command by the server's key specs, handed in once per analysis
//! (`analyze/keys/find.py` `KeyPlan.core_table`), and its argument shape (the arguments that
//! are not keys, values masked). The rules are Redis' `getKeysUsingKeySpecs` as
//! `analyze/keys/keyspecs.py` describes them; `key_positions` there is the plain reference.

use std::collections::{HashMap, HashSet};

/// A fast hash: the tables are built once from the server's reply, looked up per tail.
type Fast = foldhash::fast::FixedState;

/// arg_shape keeps this many non-key arguments, then " …" (`find.SHAPE_TOKENS`).
pub const SHAPE_TOKENS: usize = 8;
/// Range bounds and ids kept as they are in arg_shape.
const SPECIALS: &[&[u8]] = &[
    b"-inf", b"+inf", b"inf", b"-", b"+", b"*", b"$", b">", b"~", b"=", b"#",
];

/// One key spec of a command that is not a single run of positions: a begin (an argv index,
/// or a keyword searched from `startfrom`) and a find (a range, or a count of keys).
#[derive(Clone, Debug)]
pub struct Slot {
    pub index: Option<i64>,
    /// The keyword in upper case and where its search starts (negative: from the end).
    pub keyword: Option<(Vec<u8>, i64)>,
    pub range: bool,
    pub lastkey: i64,
    pub limit: i64,
    pub keynumidx: i64,
    pub firstkey: i64,
    pub step: i64,
}

/// Where one command's keys are.
#[derive(Clone, Debug)]
pub struct Command {
    /// One key, at argv 1 (GET, SET, HGET...).
    pub fast: bool,
    /// Keys in one run: argv `first` to `lastkey` (negative: from the end), `step` apart.
    pub simple: Option<(i64, i64, i64)>,
    /// Otherwise the specs one by one (at most three).
    pub slots: Vec<Slot>,
    /// An empty key is no key (MIGRATE's `""` before KEYS).
    pub drop_empty: bool,
}

/// The key specs of one analysis, and the words arg_shape keeps.
#[derive(Default)]
pub struct KeySpecs {
    /// By name in lower case, `container|sub` for subcommands.
    pub commands: HashMap<Vec<u8>, Command, Fast>,
    /// Commands whose argv 1 names a subcommand (OBJECT, XINFO...).
    pub containers: HashSet<Vec<u8>, Fast>,
    /// Keywords in every spelling arg_shape keeps (upper-cased there).
    pub keywords: HashSet<Vec<u8>, Fast>,
    /// Commands whose short integers arg_shape keeps (ranges, counts).
    pub ranged: HashSet<Vec<u8>, Fast>,
}

/// The keys of one command line (indexes into its arguments after the command, in order) and
/// its shape.
#[derive(Debug, Default, PartialEq)]
pub struct Found {
    pub keys: Vec<usize>,
    /// The non-key arguments, masked and joined (`find.SHAPE_TOKENS`).
    pub shape: Vec<u8>,
}

impl KeySpecs {
    /// `command` in lower case, `args` after it as printed. `fast`: the caller knows the
    /// command's one key is `args[0]`.
    pub fn find(&self, command: &[u8], args: &[&[u8]], fast: bool) -> Found {
        let mut found = Found::default();
        self.find_into(command, args, fast, &mut found);
        found
    }

    /// `find` into `found`, whose vectors are reused (one per tail of a chunk).
    pub fn find_into(&self, command: &[u8], args: &[&[u8]], fast: bool, found: &mut Found) {
        found.keys.clear();
        found.shape.clear();
        let spec = if fast {
            None
        } else {
            self.lookup(command, args)
        };
        let out = &mut found.shape;
        match spec {
            _ if fast || spec.is_some_and(|c| c.fast) => {
                found.keys.extend((!args.is_empty()).then_some(0));
                self.shape(command, args, 1..args.len().min(SHAPE_TOKENS + 2), out);
            }
            Some(c) => {
                let (keys, tokens) = keys_by_spec(c, args);
                found.keys = keys;
                self.shape(command, args, tokens.into_iter(), out);
            }
            None => self.shape(command, args, 0..args.len().min(SHAPE_TOKENS + 1), out),
        }
    }

    fn lookup(&self, command: &[u8], args: &[&[u8]]) -> Option<&Command> {
        if self.containers.contains(command) {
            let mut name = command.to_vec();
            name.push(b'|');
            name.extend(args.first()?.to_ascii_lowercase());
            return self.commands.get(&name);
        }
        self.commands.get(command)
    }

    /// The tokens masked: a keyword upper case, a special or (ranged commands) a short integer
    /// as it is, anything else `?`.
    fn shape(
        &self,
        command: &[u8],
        args: &[&[u8]],
        tokens: impl ExactSizeIterator<Item = usize>,
        out: &mut Vec<u8>,
    ) {
        let ranged = self.ranged.contains(command);
        let many = tokens.len() > SHAPE_TOKENS;
        for (n, i) in tokens.take(SHAPE_TOKENS).enumerate() {
            if n > 0 {
                out.push(b' ');
            }
            let arg = args[i];
            if self.keywords.contains(arg) {
                out.extend(arg.to_ascii_uppercase());
            } else if SPECIALS.contains(&arg) || (ranged && short_int(arg)) {
                out.extend_from_slice(arg);
            } else {
                out.push(b'?');
            }
        }
        if many {
            out.extend_from_slice(" …".as_bytes());
        }
    }
}

/// `^-?[0-9]{1,9}$`
fn short_int(arg: &[u8]) -> bool {
    let digits = arg.strip_prefix(b"-").unwrap_or(arg);
    (1..=9).contains(&digits.len()) && digits.iter().all(u8::is_ascii_digit)
}

/// An argument as an integer, as Polars casts a string (null when it is not one).
fn integer(arg: &[u8]) -> Option<i64> {
    std::str::from_utf8(arg).ok()?.parse().ok()
}

/// argv positions `from..to` (to exclusive) `step` apart, as argument indexes (argv - 1).
fn run(from: i64, to: i64, step: i64) -> Vec<i64> {
    if step <= 0 {
        return Vec::new();
    }
    (from..to).step_by(step as usize).collect()
}

/// The argv range of one spec slot's keys, when it finds any inside argv.
fn slot_range(slot: &Slot, args: &[&[u8]]) -> Option<(i64, i64)> {
    let argc = args.len() as i64 + 1;
    let first = match (&slot.index, &slot.keyword) {
        (Some(i), _) => *i,
        (None, Some((word, from))) => keyword_first(args, argc, word, *from)?,
        (None, None) => return None,
    };
    let (start, last) = if slot.range {
        let last = if slot.lastkey >= 0 {
            first + slot.lastkey
        } else if slot.limit <= 1 {
            argc + slot.lastkey
        } else {
            first + (argc - first).div_euclid(slot.limit) + slot.lastkey
        };
        (first, last)
    } else {
        // Negative indexes count from the end, as `list.get` does.
        let at = first + slot.keynumidx - 1;
        let at = if at < 0 { args.len() as i64 + at } else { at };
        let numkeys = args
            .get(usize::try_from(at).ok()?)
            .and_then(|a| integer(a))?;
        let start = first + slot.firstkey;
        let step = slot.step;
        (
            start,
            start.wrapping_add(numkeys.wrapping_sub(1).wrapping_mul(step)),
        )
    };
    (start >= 1 && last < argc && last >= start).then_some((start, last))
}

/// argv position just after the keyword (any case), searched forward from `from` (> 0) or
/// backward from `argc + from`.
fn keyword_first(args: &[&[u8]], argc: i64, word: &[u8], from: i64) -> Option<i64> {
    let hit = |a: &&[u8]| a.eq_ignore_ascii_case(word);
    if from > 0 {
        let rest = args
            .get(usize::try_from(from - 1).ok()?..)
            .unwrap_or_default();
        return rest.iter().position(hit).map(|h| h as i64 + from + 1);
    }
    let end = argc + from;
    let window = &args[..(end.max(0) as usize).min(args.len())];
    let h = window.iter().rev().position(hit)?;
    Some(end - h as i64 + 1)
}

/// The keys (argument indexes) and the tokens arg_shape shows (argument indexes, at most
/// SHAPE_TOKENS + 1) of a command that is not fast.
fn keys_by_spec(c: &Command, args: &[&[u8]]) -> (Vec<usize>, Vec<usize>) {
    let n = args.len() as i64;
    let argc = n + 1;
    let (first, last, step, extra) = match (c.simple, c.slots.first()) {
        (Some((first, lastkey, step)), _) => {
            let last = if lastkey >= 0 {
                first + lastkey
            } else {
                argc + lastkey
            };
            (
                Some(first),
                Some(last.min(argc - 1)),
                Some(step),
                Vec::new(),
            )
        }
        (None, Some(slot)) => {
            let main = slot_range(slot, args);
            let extra: Vec<_> = c.slots[1..]
                .iter()
                .filter_map(|s| slot_range(s, args).map(|r| (r, s.step)))
                .collect();
            (main.map(|r| r.0), main.map(|r| r.1), Some(slot.step), extra)
        }
        (None, None) => (None, None, None, Vec::new()),
    };
    let main = match (first, last, step) {
        (Some(f), Some(l), Some(s)) if l >= f => run(f - 1, l, s),
        _ => Vec::new(),
    };
    let multi = !extra.is_empty();
    let mut idx = main;
    for ((a, b), s) in &extra {
        idx.extend(run(a - 1, *b, *s));
    }
    let mut keys: Vec<usize> = idx
        .iter()
        .filter_map(|&i| usize::try_from(i).ok())
        .filter(|&i| i < args.len())
        .collect();
    if c.drop_empty {
        keys.retain(|&i| !args[i].is_empty());
    }
    // The non-key arguments arg_shape shows: the complement of the keys when they are in
    // several runs; between the keys of a stepped run (MSET's values); else those around the
    // one run (OBJECT ENCODING k, BITOP op dest k...).
    let cap = SHAPE_TOKENS + 1;
    let keyless = match (first, last) {
        (Some(f), Some(l)) => Some(l < f),
        _ => None,
    };
    let head = match (keyless, first) {
        (Some(true), _) | (_, None) => 0,
        (_, Some(f)) => (f - 1).max(0),
    };
    let after = match (keyless, last) {
        (Some(true), _) | (_, None) => 0,
        (_, Some(l)) => l.max(0),
    };
    let tokens: Vec<i64> = if multi {
        let mut t: Vec<i64> = (0..n.min(64)).filter(|i| !idx.contains(i)).collect();
        t.truncate(cap);
        t
    } else if keyless == Some(false) && step.is_some_and(|s| s > 1) {
        run(first.unwrap_or(0), n, step.unwrap_or(1))
            .into_iter()
            .take(cap)
            .collect()
    } else if head > 0 {
        (0..head).chain(after..n).take(cap).collect()
    } else {
        (after..n).take(cap).collect()
    };
    let tokens = tokens
        .into_iter()
        .filter_map(|i| usize::try_from(i).ok())
        .filter(|&i| i < args.len())
        .collect();
    (keys, tokens)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn specs() -> KeySpecs {
        let simple = |first, lastkey, step| Command {
            fast: false,
            simple: Some((first, lastkey, step)),
            slots: vec![],
            drop_empty: false,
        };
        let keynum = |index, keyword: Option<&str>, firstkey| Slot {
            index,
            keyword: keyword.map(|k| (k.as_bytes().to_vec(), 1)),
            range: false,
            lastkey: 0,
            limit: 0,
            keynumidx: 0,
            firstkey,
            step: 1,
        };
        let mut s = KeySpecs::default();
        let mut get = simple(1, 0, 1);
        get.fast = true;
        s.commands.insert(b"get".to_vec(), get);
        s.commands.insert(b"mset".to_vec(), simple(1, -1, 2));
        s.commands.insert(b"mget".to_vec(), simple(1, -1, 1));
        s.commands
            .insert(b"object|encoding".to_vec(), simple(2, 0, 1));
        s.containers.insert(b"object".to_vec());
        let eval = Command {
            fast: false,
            simple: None,
            slots: vec![keynum(Some(2), None, 1)],
            drop_empty: false,
        };
        s.commands.insert(b"eval".to_vec(), eval);
        let mut streams = keynum(None, Some("STREAMS"), 0);
        streams.range = true;
        streams.lastkey = -1;
        streams.limit = 2;
        let xread = Command {
            fast: false,
            simple: None,
            slots: vec![streams],
            drop_empty: false,
        };
        s.commands.insert(b"xread".to_vec(), xread);
        s.keywords
            .extend([b"EX".to_vec(), b"ex".to_vec(), b"ENCODING".to_vec()]);
        s.ranged.insert(b"lrange".to_vec());
        s
    }

    fn find(line: &[&str]) -> (Vec<String>, String) {
        let args: Vec<&[u8]> = line[1..].iter().map(|a| a.as_bytes()).collect();
        let found = specs().find(line[0].as_bytes(), &args, false);
        let keys = found
            .keys
            .iter()
            .map(|&i| line[i + 1].to_string())
            .collect();
        (keys, String::from_utf8(found.shape).unwrap())
    }

    #[test]
    fn keys_by_spec_and_shape() {
        assert_eq!(find(&["get", "k"]), (vec!["k".into()], "".into()));
        assert_eq!(find(&["get"]), (vec![], "".into()));
        assert_eq!(
            find(&["mset", "a", "1", "b", "22"]),
            (vec!["a".into(), "b".into()], "? ?".into())
        );
        assert_eq!(
            find(&["eval", "s", "2", "k1", "k2", "x"]),
            (vec!["k1".into(), "k2".into()], "? ? ?".into())
        );
        assert_eq!(find(&["eval", "s", "x", "k1"]), (vec![], "? ? ?".into()));
        assert_eq!(
            find(&["xread", "COUNT", "2", "streams", "a", "b", "0", "$"]),
            (vec!["a".into(), "b".into()], "? ? ? ? $".into())
        );
        assert_eq!(
            find(&["object", "ENCODING", "k"]),
            (vec!["k".into()], "ENCODING".into())
        );
        assert_eq!(find(&["ping"]), (vec![], "".into()));
        let many: Vec<String> = (0..10).map(|i| format!("v{i}")).collect();
        let mut line = vec!["nosuch"];
        line.extend(many.iter().map(String::as_str));
        assert_eq!(find(&line), (vec![], "? ? ? ? ? ? ? ? …".into()));
    }

    #[test]
    fn short_integers() {
        assert!(short_int(b"-123456789") && short_int(b"0"));
        assert!(!short_int(b"1234567890") && !short_int(b"-") && !short_int(b"+1"));
    }
}

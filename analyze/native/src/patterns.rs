//! Key patterns: the rules of `analyze/keys/patterns.py` applied to one key at a time, exactly as
//! Polars' `str.replace_all` applies them to a column, and every distinct pattern given an id in
//! order of first appearance.

use std::borrow::Cow;
use std::collections::HashMap;

use regex::Regex;
use regex_syntax::hir::{Class, Hir, HirKind, Look};

/// One rule as Polars runs it (`str.replace_all(match, replace)`, after `str.contains(needs)`).
struct Rule {
    how: How,
    /// A regex every match holds: keys without it skip the rule.
    needs: Option<Regex>,
    /// The shortest match, in bytes: a shorter key skips the rule.
    shortest: usize,
}

enum How {
    /// Runs of one class of ASCII bytes (`Runs`), replaced by text without groups.
    Run { runs: Runs, replace: String },
    /// Every other pattern: a regex, `$1` / `${name}` in the replacement expanded.
    Regex { regex: Regex, replace: String },
}

/// The rules in the order they apply, each to the result of the one before.
pub struct Rules(Vec<Rule>);

impl Rules {
    /// `(match, replace, needs)` per rule; an error names the regex that does not compile.
    pub fn new(rules: &[(String, String, Option<String>)]) -> Result<Self, String> {
        let compile = |r: &str| Regex::new(r).map_err(|e| format!("{r:?}: {e}"));
        let mut out = Vec::with_capacity(rules.len());
        for (find, replace, needs) in rules {
            let regex = compile(find)?;
            // Parsed as `Regex::new` parses it (Unicode, UTF-8): it compiled, so it parses.
            let hir = regex_syntax::parse(find).map_err(|e| format!("{find:?}: {e}"))?;
            let how = match Runs::of(&hir) {
                Some(runs) if !replace.contains('$') => How::Run {
                    runs,
                    replace: replace.clone(),
                },
                _ => How::Regex {
                    regex,
                    replace: replace.clone(),
                },
            };
            let needs = needs.as_deref().map(compile).transpose()?;
            // None: it matches nothing, so it changes nothing.
            let shortest = hir.properties().minimum_len().unwrap_or(usize::MAX);
            out.push(Rule {
                how,
                needs,
                shortest,
            });
        }
        Ok(Rules(out))
    }

    /// The pattern of `key`: every rule applied in turn.
    pub fn apply<'a>(&self, key: &'a str) -> Cow<'a, str> {
        let mut current = Cow::Borrowed(key);
        for rule in &self.0 {
            if current.len() < rule.shortest {
                continue;
            }
            if let Some(needs) = &rule.needs {
                if !needs.is_match(&current) {
                    continue;
                }
            }
            let replaced = match &rule.how {
                How::Regex { regex, replace } => match regex.replace_all(&current, replace) {
                    Cow::Owned(s) => Some(s),
                    Cow::Borrowed(_) => None,
                },
                How::Run { runs, replace } => runs.replace(&current, replace),
            };
            if let Some(s) = replaced {
                current = Cow::Owned(s);
            }
        }
        current
    }
}

/// A regex made of runs of one class of ASCII bytes: `C{n,}` (greedy, n >= 1), or
/// alternatives of such runs each between optional ASCII word boundaries (`[0-9]{6,}|\b[0-9]+\b`,
/// the class then all word bytes). Leftmost-first, such a regex can only start a match where a
/// maximal run of the class starts (inside a run, a longer match started earlier, and there is
/// no boundary between two word bytes) and greedily takes the whole run; so its matches are the
/// maximal runs that some alternative accepts: long enough, with the boundaries it asks for.
struct Runs {
    class: Box<[bool; 256]>,
    /// Per alternative: the shortest run, a boundary before it, a boundary after it.
    alternatives: Vec<(usize, bool, bool)>,
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

impl Runs {
    fn of(hir: &Hir) -> Option<Runs> {
        let branches: &[Hir] = match hir.kind() {
            HirKind::Alternation(subs) => subs,
            _ => std::slice::from_ref(hir),
        };
        let mut class: Option<Box<[bool; 256]>> = None;
        let mut alternatives = Vec::new();
        for branch in branches {
            let parts: &[Hir] = match branch.kind() {
                HirKind::Concat(subs) => subs,
                _ => std::slice::from_ref(branch),
            };
            let boundary = |h: &Hir| matches!(h.kind(), HirKind::Look(Look::WordAscii));
            let before = parts.first().is_some_and(boundary);
            let after = parts.len() > 1 && parts.last().is_some_and(boundary);
            let middle = &parts[usize::from(before)..parts.len() - usize::from(after)];
            let [run] = middle else {
                return None;
            };
            let (bytes, min) = repeated_class(run)?;
            if class.as_ref().is_some_and(|c| c != &bytes) {
                return None;
            }
            if (before || after) && (0..=255u8).any(|b| bytes[b as usize] && !is_word(b)) {
                return None;
            }
            class = Some(bytes);
            alternatives.push((min, before, after));
        }
        Some(Runs {
            class: class?,
            alternatives,
        })
    }

    /// `key` with every run that matches replaced (None: none does).
    fn replace(&self, key: &str, replace: &str) -> Option<String> {
        let bytes = key.as_bytes();
        let mut out: Option<String> = None;
        let (mut copied, mut i) = (0, 0);
        while i < bytes.len() {
            if !self.class[bytes[i] as usize] {
                i += 1;
                continue;
            }
            let start = i;
            while i < bytes.len() && self.class[bytes[i] as usize] {
                i += 1;
            }
            let before = start == 0 || !is_word(bytes[start - 1]);
            let after = i == bytes.len() || !is_word(bytes[i]);
            let matched = self
                .alternatives
                .iter()
                .any(|&(min, b, a)| i - start >= min && (!b || before) && (!a || after));
            if matched {
                let s = out.get_or_insert_with(|| String::with_capacity(key.len()));
                // ASCII bytes bound the run: these are character boundaries.
                s.push_str(&key[copied..start]);
                s.push_str(replace);
                copied = i;
            }
        }
        if let Some(s) = out.as_mut() {
            s.push_str(&key[copied..]);
        }
        out
    }
}

/// `hir` as one class of ASCII bytes repeated greedily, at least `min` (>= 1) times.
fn repeated_class(hir: &Hir) -> Option<(Box<[bool; 256]>, usize)> {
    let HirKind::Repetition(rep) = hir.kind() else {
        return None;
    };
    if !rep.greedy || rep.max.is_some() || rep.min == 0 {
        return None;
    }
    let HirKind::Class(class) = rep.sub.kind() else {
        return None;
    };
    let mut bytes = Box::new([false; 256]);
    let ranges: Vec<(u32, u32)> = match class {
        Class::Unicode(c) => c
            .ranges()
            .iter()
            .map(|r| (r.start() as u32, r.end() as u32))
            .collect(),
        Class::Bytes(c) => c
            .ranges()
            .iter()
            .map(|r| (u32::from(r.start()), u32::from(r.end())))
            .collect(),
    };
    for (start, end) in ranges {
        if end > 0x7f {
            return None;
        }
        for b in start..=end {
            bytes[b as usize] = true;
        }
    }
    Some((bytes, rep.min as usize))
}

/// Patterns -> id, in order of first appearance.
#[derive(Default)]
pub struct PatternIds {
    ids: HashMap<String, u32>,
    /// The patterns by id.
    pub names: Vec<String>,
}

impl PatternIds {
    pub fn id(&mut self, pattern: Cow<'_, str>) -> u32 {
        if let Some(&id) = self.ids.get(pattern.as_ref()) {
            return id;
        }
        let id = self.names.len() as u32;
        let name = pattern.into_owned();
        self.ids.insert(name.clone(), id);
        self.names.push(name);
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(rules: &[(&str, &str, Option<&str>)]) -> Rules {
        let owned: Vec<_> = rules
            .iter()
            .map(|(m, r, n)| (m.to_string(), r.to_string(), n.map(str::to_string)))
            .collect();
        Rules::new(&owned).expect("valid rules")
    }

    #[test]
    fn rules_apply_in_order_each_to_the_result_before() {
        let r = rules(&[
            ("[0-9]{4}-[0-9]{2}", "{D}", Some("-")),
            ("[0-9]+", "{N}", None),
        ]);
        assert_eq!(r.apply("a:2025-10:7"), "a:{D}:{N}");
        assert_eq!(r.apply("plain"), "plain");
        // The precheck skips the rule even where its regex would match.
        let r = rules(&[("[0-9]", "#", Some("x"))]);
        assert_eq!(r.apply("a1"), "a1");
        assert_eq!(r.apply("x1"), "x#");
    }

    #[test]
    fn groups_expand_in_every_rule() {
        let r = rules(&[("(t)enant-([a-z]+)", "$1-${2}$$", None)]);
        assert_eq!(r.apply("tenant-acme"), "t-acme$");
        // Without punctuation too (Polars 2 expands groups whatever the pattern).
        let r = rules(&[("ten", "x$0", None), ("", "^", None)]);
        assert_eq!(r.apply("tenant"), "^x^t^e^n^a^n^t^");
    }

    #[test]
    fn runs_of_a_class_as_the_regex_finds_them() {
        let cases = [
            r"[0-9]{3,}",
            r"[0-9]{6,}|(?-u:\b)[0-9]+(?-u:\b)",
            r"(?-u:\b)[0-9a-f]{2,}",
            r"[a-z_]+(?-u:\b)",
            r"[.:]{2,}",
        ];
        let keys = [
            "a1:22:333:4444",
            "x12345y",
            "_1_",
            "1",
            "",
            "ab.cd::ef...",
            "é12:ß345",
            "12ab 3f_",
        ];
        for case in cases {
            let hir = regex_syntax::parse(case).expect("parses");
            assert!(Runs::of(&hir).is_some(), "{case}");
            let fast = rules(&[(case, "#", None)]);
            let regex = Regex::new(case).expect("compiles");
            for key in keys {
                assert_eq!(
                    fast.apply(key),
                    regex.replace_all(key, "#"),
                    "{case} on {key}"
                );
            }
        }
        // Not runs: a lazy or bounded repetition, two classes, a boundary beside non-word bytes.
        for case in [
            r"[0-9]+?",
            r"[0-9]{2,5}",
            r"[0-9]+|[a-z]+",
            r"(?-u:\b)[.]+",
            r"\b[0-9]+",
        ] {
            let hir = regex_syntax::parse(case).expect("parses");
            assert!(Runs::of(&hir).is_none(), "{case}");
        }
    }

    #[test]
    fn pattern_ids_in_order_of_first_appearance() {
        let mut ids = PatternIds::default();
        let got: Vec<u32> = ["b", "a", "b", "c"]
            .iter()
            .map(|p| ids.id(Cow::Borrowed(p)))
            .collect();
        assert_eq!(got, [0, 1, 0, 2]);
        assert_eq!(ids.names, ["b", "a", "c"]);
    }

    #[test]
    fn a_bad_regex_is_an_error() {
        let bad = [("(".to_string(), "x".to_string(), None)];
        assert!(Rules::new(&bad).is_err());
    }
}

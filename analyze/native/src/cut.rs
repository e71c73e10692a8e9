//! The first cut of a well-quoted body (`quoting::quoted`) into command (with its opening
//! quote), first argument and the rest, as `str.splitn("\" \"", 3)` cuts it, and whether such a
//! cut could fall inside an argument (an escaped quote before a separator: `misplit`).

use memchr::memmem;

use crate::quoting::Quoted;

/// Command, first argument, the rest.
pub type Cut3<'a> = (&'a [u8], Option<&'a [u8]>, Option<&'a [u8]>);

/// `body` split like `str.splitn("\" \"", 3)`: command (with its opening quote), first
/// argument, the rest (with the closing quote).
fn cut3<'a>(body: &'a [u8], sep: &memmem::Finder) -> Cut3<'a> {
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

/// The cut of a well-quoted body: as `cut3` gives it whenever `misplit` is false (then no
/// separator is inside an argument, so the cuts are the first two closing quotes the quoting
/// check saw, unless the command is one space: `" "` opens and closes).
pub fn cut<'a>(body: &'a [u8], q: &Quoted, finders: &Finders) -> Cut3<'a> {
    if body.starts_with(b"\" \"") {
        return cut3(body, &finders.sep);
    }
    let [c0, c1] = q.closes;
    if c1 == usize::MAX {
        return (body, None, None);
    }
    let cmd = &body[..c0];
    if c1 + 1 == body.len() {
        return (cmd, Some(&body[c0 + 3..]), None);
    }
    (cmd, Some(&body[c0 + 3..c1]), Some(&body[c1 + 3..]))
}

/// Whether a `" "` cut could fall inside an argument: an escaped quote before a separator,
/// searched only in bodies that hold an escape.
pub fn misplit(body: &[u8], q: &Quoted, finders: &Finders) -> bool {
    q.backslash && finders.misplit.find(body).is_some()
}

/// The searches `cut` falls back to.
pub struct Finders {
    sep: memmem::Finder<'static>,
    misplit: memmem::Finder<'static>,
}

impl Finders {
    pub fn new() -> Self {
        Finders {
            sep: memmem::Finder::new(b"\" \"").into_owned(),
            misplit: memmem::Finder::new(b"\\\" \"").into_owned(),
        }
    }
}

impl Default for Finders {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quoting::quoted;

    #[test]
    fn the_cut_from_the_quoting_check_is_the_cut_by_search() {
        let finders = Finders::new();
        // Every body of up to 10 bytes over the characters that matter.
        let alphabet = b"\"\\ a";
        let mut checked = 0;
        for len in 1..=10u32 {
            for mut n in 0..4usize.pow(len) {
                let body: Vec<u8> = (0..len)
                    .map(|_| {
                        let c = alphabet[n % 4];
                        n /= 4;
                        c
                    })
                    .collect();
                let Some(q) = quoted(&body) else { continue };
                let searched = finders.misplit.find(&body).is_some();
                assert_eq!(misplit(&body, &q, &finders), searched);
                if !searched {
                    assert_eq!(cut(&body, &q, &finders), cut3(&body, &finders.sep));
                    checked += 1;
                }
            }
        }
        assert!(checked > 1000, "{checked}");
    }
}

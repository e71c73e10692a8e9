//! The key dictionary of one analysis, for Python (`analyze/read/scanner.py` `KeyIds`): every
//! distinct key as quoted gets an id in order of first appearance, and each new key is worked
//! out once here: exact bytes, text, slot, pattern (and its id) and its rows among the sampled
//! keys and patterns. What the rows need of a key is kept here, about 20 bytes a key, and handed
//! per row (`attributes`); the keys table is built once, at the end (`table`).

use std::collections::HashMap;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::buffer::{give_nullable, give_strings, Buffer};
use crate::columns::{Bits, Nullable, Strings};
use crate::keys::{Exact, KeyDictionary};
use crate::patterns::{PatternIds, Rules};

/// The distinct first keys of one analysis, by id in order of first appearance.
#[pyclass(module = "hotshard_native")]
pub struct Keys {
    keys: KeyDictionary,
    /// The pattern rules (`analyze/keys/patterns.py`); none: no patterns.
    rules: Option<Rules>,
    patterns: PatternIds,
    /// The keys and the patterns whose sizes were sampled -> their row (`replies.Lookup`:
    /// `key_enum`, `pattern_enum`).
    sampled: HashMap<String, u32>,
    sampled_patterns: HashMap<String, u32>,
    /// Per pattern id, its row among the sampled patterns (`NONE`: not sampled).
    pattern_rows: Vec<u32>,
    /// Per key id, what its rows need.
    attrs: Vec<Attr>,
}

/// What the rows of a key need of it (`_PER_ROW` in analyze/rows/ids.py), and its slot.
#[derive(Clone, Copy)]
struct Attr {
    len: u32,
    pattern: u32,
    /// The row of the sampled sizes its reply is sized from: its own sample, else its
    /// pattern's (after the sampled keys), else `NONE`.
    size: u32,
    /// Its pattern's row among the sampled patterns, or `NONE`.
    pattern_row: u32,
    slot: u16,
    flags: u8,
}

const NONE: u32 = u32::MAX;
const OWN: u8 = 1; // sampled itself
const ESCAPED: u8 = 2; // UTF-8 text that differs from the key as quoted
const BINARY: u8 = 4; // not UTF-8

fn some(v: u32) -> Option<u32> {
    (v != NONE).then_some(v)
}

/// A string column handed over as an Arrow string view array's parts (Polars' own layout,
/// so no copy): addresses of its buffers, which the caller keeps alive for the call.
struct Column {
    n: usize,
    offset: usize,
    valid: usize, // 0: no nulls
    views: usize,
    data: Vec<usize>,
}

impl Column {
    /// # Safety
    /// The addresses are those of a live Arrow string view array of `offset + n` rows.
    unsafe fn get(&self, i: usize) -> Option<&[u8]> {
        let i = i + self.offset;
        if self.valid != 0 {
            let bits = self.valid as *const u8;
            if *bits.add(i / 8) & (1 << (i % 8)) == 0 {
                return None;
            }
        }
        // A view: length, then the bytes inline (12 at most) or a prefix, the index of the
        // data buffer and the offset in it.
        let view = (self.views as *const u8).add(16 * i);
        let word = |at: usize| u32::from_le_bytes(*(view.add(at) as *const [u8; 4])) as usize;
        let len = word(0);
        let start = if len <= 12 {
            view.add(4)
        } else {
            (self.data[word(8)] as *const u8).add(word(12))
        };
        Some(std::slice::from_raw_parts(start, len))
    }
}

type RuleRow = (String, String, Option<String>);

#[pymethods]
impl Keys {
    /// `rules`: (match, replace, needs) per pattern rule, in order (none: no patterns);
    /// `sampled`, `sampled_patterns`: the names of the sampled keys and patterns, by row.
    #[new]
    #[pyo3(signature = (rules=None, sampled=vec![], sampled_patterns=vec![]))]
    fn new(
        rules: Option<Vec<RuleRow>>,
        sampled: Vec<String>,
        sampled_patterns: Vec<String>,
    ) -> PyResult<Self> {
        let rules = rules
            .map(|r| Rules::new(&r))
            .transpose()
            .map_err(PyValueError::new_err)?;
        let rows = |names: Vec<String>| -> HashMap<String, u32> {
            (0..).zip(names).map(|(i, k)| (k, i)).collect()
        };
        Ok(Keys {
            keys: KeyDictionary::default(),
            rules,
            patterns: PatternIds::default(),
            sampled: rows(sampled),
            sampled_patterns: rows(sampled_patterns),
            pattern_rows: Vec::new(),
            attrs: Vec::new(),
        })
    }

    fn __len__(&self) -> usize {
        self.keys.len()
    }

    /// The id of each key of a string view column (`n` rows from `offset`; null: no key),
    /// the keys seen for the first time worked out, and the patterns seen for the first time,
    /// by id.
    fn ids<'py>(
        &mut self,
        py: Python<'py>,
        n: usize,
        offset: usize,
        valid: usize,
        views: usize,
        data: Vec<usize>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let column = Column {
            n,
            offset,
            valid,
            views,
            data,
        };
        let first_new = self.keys.len() as u32;
        let first_pattern = self.patterns.names.len();
        let (ids, id_valid) = py.allow_threads(|| {
            let mut ids = Vec::with_capacity(column.n);
            let mut id_valid = Bits::default();
            for i in 0..column.n {
                // SAFETY: the caller hands a live array (`analyze/read/scanner.py`).
                match unsafe { column.get(i) } {
                    Some(key) => {
                        ids.push(self.keys.id(key).0 as i32);
                        id_valid.push(true);
                    }
                    None => {
                        ids.push(0);
                        id_valid.push(false);
                    }
                }
            }
            self.describe(first_new);
            (ids, id_valid)
        });
        let d = PyDict::new(py);
        d.set_item("ids", Buffer::of(py, ids)?)?;
        d.set_item("ids.valid", Buffer::of(py, id_valid.bytes)?)?;
        d.set_item("ids.nulls", id_valid.unset)?;
        d.set_item("patterns", &self.patterns.names[first_pattern..])?;
        Ok(d)
    }

    /// Per row, what it needs of its key (`n` ids of an Arrow int32 array from `offset`: the
    /// addresses of its validity, 0 when it has no nulls, and values): `text` (where it is not
    /// the key as quoted), `len`, `pattern`, `size`, `own`, `pattern_row`; null without a key.
    fn attributes<'py>(
        &self,
        py: Python<'py>,
        n: usize,
        offset: usize,
        valid: usize,
        values: usize,
    ) -> PyResult<Bound<'py, PyDict>> {
        let mut text = Strings::new(true);
        let (mut len, mut pattern) = (Nullable::<i64>::default(), Nullable::<u32>::default());
        let (mut size, mut pattern_row) = (Nullable::<u32>::default(), Nullable::<u32>::default());
        let (mut own, mut own_valid) = (Bits::default(), Bits::default());
        for i in offset..offset + n {
            // SAFETY: the caller hands a live array of `offset + n` int32 (`scanner.KeyIds`).
            let id = unsafe {
                let present = valid == 0 || *(valid as *const u8).add(i / 8) & (1 << (i % 8)) != 0;
                present.then(|| *(values as *const i32).add(i))
            };
            let Some(id) = id else {
                text.push_null();
                len.push(None);
                pattern.push(None);
                size.push(None);
                pattern_row.push(None);
                own.push(false);
                own_valid.push(false);
                continue;
            };
            // An id this dictionary did not give is a bug: it panics (an error in Python).
            let a = self.attrs[usize::try_from(id).unwrap_or(usize::MAX)];
            if a.flags & ESCAPED != 0 {
                let quoted = self.keys.get(id as u32);
                text.push(&Exact::of(quoted).bytes);
            } else {
                text.push_null();
            }
            len.push(Some(i64::from(a.len)));
            pattern.push(some(a.pattern));
            size.push(some(a.size));
            pattern_row.push(some(a.pattern_row));
            own.push(a.flags & OWN != 0);
            own_valid.push(true);
        }
        let d = PyDict::new(py);
        give_strings(py, &d, "text", text)?;
        give_nullable(py, &d, "len", len)?;
        give_nullable(py, &d, "pattern", pattern)?;
        give_nullable(py, &d, "size", size)?;
        give_nullable(py, &d, "pattern_row", pattern_row)?;
        d.set_item("own", Buffer::of(py, own.bytes)?)?;
        d.set_item("own.valid", Buffer::of(py, own_valid.bytes)?)?;
        d.set_item("own.nulls", own_valid.unset)?;
        Ok(d)
    }

    /// Every key so far, by id: `name` (its text), `binary`, `bytes` (exact, when they are
    /// not the text's), `slot`, `pattern` (id).
    fn table<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let (n, text_bytes) = (self.attrs.len(), self.keys.bytes());
        let strings = || {
            let mut s = Strings::new(false);
            s.offsets.reserve(n);
            s.data.reserve(text_bytes);
            s
        };
        let (mut name, mut bytes) = (strings(), Strings::new(true));
        let mut binary = Bits::default();
        let (mut slot, mut pattern) = (Vec::with_capacity(n), Nullable::<u32>::default());
        for (id, a) in self.attrs.iter().enumerate() {
            let quoted = self.keys.get(id as u32);
            let exact = Exact::unslotted(quoted);
            name.push(exact.text(quoted).as_bytes());
            if exact.utf8 {
                bytes.push_null();
            } else {
                bytes.push(&exact.bytes);
            }
            binary.push(a.flags & BINARY != 0);
            slot.push(i32::from(a.slot));
            pattern.push(some(a.pattern));
        }
        let d = PyDict::new(py);
        d.set_item("n", self.attrs.len())?;
        give_strings(py, &d, "name", name)?;
        give_strings(py, &d, "bytes", bytes)?;
        d.set_item("binary", Buffer::of(py, binary.bytes)?)?;
        d.set_item("slot", Buffer::of(py, slot)?)?;
        give_nullable(py, &d, "pattern", pattern)?;
        Ok(d)
    }
}

impl Keys {
    /// The keys from id `first` on, worked out once.
    fn describe(&mut self, first: u32) {
        for id in first..self.keys.len() as u32 {
            let quoted = self.keys.get(id);
            let exact = Exact::of(quoted);
            let text = exact.text(quoted);
            let mut flags = 0;
            if !exact.utf8 {
                flags |= BINARY;
            } else if exact.bytes != quoted {
                flags |= ESCAPED;
            }
            let pattern = match &self.rules {
                Some(rules) => {
                    let pattern = self.patterns.id(rules.apply(text));
                    if pattern as usize == self.pattern_rows.len() {
                        let name = &self.patterns.names[pattern as usize];
                        let row = self.sampled_patterns.get(name).copied();
                        self.pattern_rows.push(row.unwrap_or(NONE));
                    }
                    pattern
                }
                None => NONE,
            };
            let pattern_row = some(pattern).map_or(NONE, |p| self.pattern_rows[p as usize]);
            let own = self.sampled.get(text).copied();
            if own.is_some() {
                flags |= OWN;
            }
            let size = match (own, some(pattern_row)) {
                (Some(row), _) => row,
                (None, Some(p)) => p + self.sampled.len() as u32,
                (None, None) => NONE,
            };
            self.attrs.push(Attr {
                len: exact.bytes.len() as u32,
                pattern,
                size,
                pattern_row,
                slot: exact.slot,
                flags,
            });
        }
    }
}

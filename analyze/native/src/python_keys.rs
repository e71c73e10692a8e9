//! The key dictionary of one analysis, for Python (`analyze/read/scanner.py` `KeyIds`): every
//! distinct key as quoted gets an id in order of first appearance, and each new key is worked
//! out once here: exact bytes, text, slot, pattern (and its id) and its row among the sampled
//! keys.

use std::collections::HashMap;

use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use crate::columns::{Bits, Nullable, Strings};
use crate::keys::{Exact, KeyDictionary};
use crate::patterns::{PatternIds, Rules};
use crate::python::{put_strings, raw};

/// The distinct first keys of one analysis, by id in order of first appearance.
#[pyclass(module = "hotshard_native")]
pub struct Keys {
    keys: KeyDictionary,
    /// The pattern rules (`analyze/keys/patterns.py`), when patterns are worked out here.
    rules: Option<Rules>,
    patterns: PatternIds,
    /// The keys whose size was sampled -> their row (`replies.Lookup.key_enum`).
    sampled: HashMap<String, u32>,
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

/// The new keys of one call, by id, as Arrow columns.
#[derive(Default)]
struct New {
    text: Strings,
    bytes: Strings,
    binary: Bits,
    slot: Vec<i32>,
    len: Vec<i64>,
    pattern: Vec<u32>,
    sampled: Nullable<u32>,
}

type RuleRow = (String, String, Option<String>);

#[pymethods]
impl Keys {
    /// `rules`: (match, replace, needs) per pattern rule, in order (none: no patterns here);
    /// `sampled`: the sampled keys' names, by row.
    #[new]
    #[pyo3(signature = (rules=None, sampled=vec![]))]
    fn new(rules: Option<Vec<RuleRow>>, sampled: Vec<String>) -> PyResult<Self> {
        let rules = rules
            .map(|r| Rules::new(&r))
            .transpose()
            .map_err(PyValueError::new_err)?;
        let sampled = sampled
            .into_iter()
            .enumerate()
            .map(|(i, k)| (k, i as u32))
            .collect();
        Ok(Keys {
            keys: KeyDictionary::default(),
            rules,
            patterns: PatternIds::default(),
            sampled,
        })
    }

    fn __len__(&self) -> usize {
        self.keys.len()
    }

    /// The id of each key of a string view column (`n` rows from `offset`; null: no key),
    /// and the keys seen for the first time, by id: text (where it is not the key as quoted),
    /// exact bytes (binary keys), slot, length, pattern id and sampled row; and the patterns
    /// seen for the first time, by id.
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
        let (ids, id_valid, new) = py.allow_threads(|| {
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
            (ids, id_valid, self.describe(first_new))
        });
        let d = PyDict::new(py);
        d.set_item("ids", PyBytes::new(py, raw(&ids)))?;
        d.set_item("ids.valid", PyBytes::new(py, &id_valid.bytes))?;
        d.set_item("ids.nulls", id_valid.unset)?;
        d.set_item("new.n", new.slot.len())?;
        d.set_item("new.first", first_new)?;
        put_strings(py, &d, "new.text", &new.text)?;
        put_strings(py, &d, "new.bytes", &new.bytes)?;
        d.set_item("new.binary", PyBytes::new(py, &new.binary.bytes))?;
        d.set_item("new.slot", PyBytes::new(py, raw(&new.slot)))?;
        d.set_item("new.len", PyBytes::new(py, raw(&new.len)))?;
        if self.rules.is_some() {
            d.set_item("new.pattern", PyBytes::new(py, raw(&new.pattern)))?;
            d.set_item("patterns", &self.patterns.names[first_pattern..])?;
        }
        d.set_item("new.sampled", PyBytes::new(py, raw(&new.sampled.values)))?;
        d.set_item(
            "new.sampled.valid",
            PyBytes::new(py, &new.sampled.valid.bytes),
        )?;
        d.set_item("new.sampled.nulls", new.sampled.valid.unset)?;
        Ok(d)
    }

    /// Every key so far as quoted, by id (a large string array's parts).
    fn values<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyDict>> {
        let mut all = Strings::new(false);
        for id in 0..self.keys.len() {
            all.push(self.keys.get(id as u32));
        }
        let d = PyDict::new(py);
        d.set_item("n", self.keys.len())?;
        put_strings(py, &d, "values", &all)?;
        Ok(d)
    }
}

impl Keys {
    /// The keys from id `first` on, worked out.
    fn describe(&mut self, first: u32) -> New {
        let mut new = New {
            text: Strings::new(true),
            bytes: Strings::new(true),
            ..New::default()
        };
        for id in first..self.keys.len() as u32 {
            let quoted = self.keys.get(id);
            let exact = Exact::of(quoted);
            let text = exact.text(quoted);
            if exact.utf8 && exact.bytes != quoted {
                new.text.push(text.as_bytes());
            } else {
                new.text.push_null();
            }
            if exact.utf8 {
                new.bytes.push_null();
            } else {
                new.bytes.push(&exact.bytes);
            }
            new.binary.push(!exact.utf8);
            new.slot.push(i32::from(exact.slot));
            new.len.push(exact.bytes.len() as i64);
            if let Some(rules) = &self.rules {
                new.pattern.push(self.patterns.id(rules.apply(text)));
            }
            let row = (!self.sampled.is_empty())
                .then(|| self.sampled.get(text).copied())
                .flatten();
            new.sampled.push(row);
        }
        new
    }
}

//! hotshard's row path in Rust: a chunk of MONITOR text parsed in one pass (`scan`), the
//! columns handed to Python as Arrow buffers (`analyze/read/scanner.py` wraps them).

#[cfg(feature = "python")]
mod buffer;
pub mod columns;
pub mod cut;
pub mod header;
pub mod keys;
pub mod keyspecs;
pub mod matching;
#[cfg(feature = "python")]
mod memory;
pub mod patterns;
#[cfg(feature = "python")]
mod python_keys;
pub mod quoting;
pub mod scan;
pub mod tails;
pub mod values;

#[cfg(feature = "python")]
mod python {
    use pyo3::prelude::*;
    use pyo3::types::{PyBytes, PyDict};

    use crate::buffer::{give_nullable, give_strings, Buffer};
    use crate::columns::Strings;
    use crate::keyspecs::{Command, KeySpecs, Slot};
    use crate::matching;
    use crate::scan;
    use crate::tails::LONG_ARG;

    fn raw<T: Copy>(values: &[T]) -> &[u8] {
        // SAFETY: plain numbers (f64, i32, u32, i64), read as their bytes.
        unsafe { std::slice::from_raw_parts(values.as_ptr().cast(), std::mem::size_of_val(values)) }
    }

    /// The parser of one analysis: the spellings of the commands whose one key is argv 1, where
    /// every command's keys are (`keyspecs`), and the length past which an argument that is no
    /// key is handed on as a placeholder (`scan::LONG`).
    #[pyclass(frozen, module = "hotshard_native")]
    struct Parser {
        fast: scan::Spellings,
        long_arg: usize,
        specs: KeySpecs,
    }

    /// A spec slot as Python hands it (`analyze/keys/find.py` `core_table`): index, keyword,
    /// startfrom, range, lastkey, limit, keynumidx, firstkey, step.
    type SlotRow = (
        Option<i64>,
        Option<String>,
        i64,
        bool,
        i64,
        i64,
        i64,
        i64,
        i64,
    );
    /// name, fast, (first, lastkey, step) of one run, slots, drop empty keys.
    type CommandRow = (String, bool, Option<(i64, i64, i64)>, Vec<SlotRow>, bool);

    fn command(row: CommandRow) -> (Vec<u8>, Command) {
        let (name, fast, simple, slots, drop_empty) = row;
        let slots = slots
            .into_iter()
            .map(|s| Slot {
                index: s.0,
                keyword: s.1.map(|k| (k.into_bytes(), s.2)),
                range: s.3,
                lastkey: s.4,
                limit: s.5,
                keynumidx: s.6,
                firstkey: s.7,
                step: s.8,
            })
            .collect();
        let c = Command {
            fast,
            simple,
            slots,
            drop_empty,
        };
        (name.into_bytes(), c)
    }

    fn put_strings(py: Python<'_>, d: &Bound<'_, PyDict>, name: &str, s: &Strings) -> PyResult<()> {
        d.set_item(format!("{name}.offsets"), PyBytes::new(py, raw(&s.offsets)))?;
        d.set_item(format!("{name}.data"), PyBytes::new(py, &s.data))?;
        if let Some(v) = &s.valid {
            d.set_item(format!("{name}.valid"), PyBytes::new(py, &v.bytes))?;
            d.set_item(format!("{name}.nulls"), v.unset)?;
        }
        Ok(())
    }

    #[pymethods]
    impl Parser {
        #[new]
        #[pyo3(signature = (
            fast, long_arg=LONG_ARG, commands=vec![], containers=vec![], keywords=vec![],
            ranged=vec![]
        ))]
        fn new(
            fast: Vec<Vec<u8>>,
            long_arg: usize,
            commands: Vec<CommandRow>,
            containers: Vec<Vec<u8>>,
            keywords: Vec<Vec<u8>>,
            ranged: Vec<Vec<u8>>,
        ) -> Self {
            let specs = KeySpecs {
                commands: commands.into_iter().map(command).collect(),
                containers: containers.into_iter().collect(),
                keywords: keywords.into_iter().collect(),
                ranged: ranged.into_iter().collect(),
            };
            Parser {
                fast: fast.into_iter().collect(),
                long_arg,
                specs,
            }
        }

        /// Parse `data` (whole lines); the GIL is released while it runs.
        #[pyo3(signature = (data, with_body=false, examples=5))]
        fn scan<'py>(
            &self,
            py: Python<'py>,
            data: &Bound<'py, PyBytes>,
            with_body: bool,
            examples: usize,
        ) -> PyResult<Bound<'py, PyDict>> {
            let bytes = data.as_bytes();
            let opts = scan::Options {
                fast: &self.fast,
                specs: &self.specs,
                with_body,
                examples,
                long_arg: self.long_arg,
            };
            let out = py.allow_threads(|| scan::scan(bytes, &opts));
            let d = PyDict::new(py);
            d.set_item("rows", out.rows)?;
            d.set_item("parsed", out.parsed)?;
            d.set_item("skipped", out.skipped)?;
            d.set_item("first_ts", out.first_ts)?;
            d.set_item("last_ts", out.last_ts)?;
            d.set_item("bad", out.bad)?;
            d.set_item("n", out.ts.len())?;
            d.set_item("ts", Buffer::of(py, out.ts)?)?;
            d.set_item("db", Buffer::of(py, out.db)?)?;
            give_strings(py, &d, "client", out.client)?;
            if let Some(body) = out.body {
                give_strings(py, &d, "body", body)?;
            }
            d.set_item("fast", Buffer::of(py, out.fast.bytes)?)?;
            give_strings(py, &d, "key_raw", out.key_raw)?;
            d.set_item("tail", Buffer::of(py, out.tail)?)?;
            d.set_item("tails.n", out.whole.len)?;
            d.set_item("tails.whole", Buffer::of(py, out.whole.bytes)?)?;
            let parsed = out.parsed_tails;
            give_strings(py, &d, "tails.command", parsed.command)?;
            d.set_item("tails.arg_count", Buffer::of(py, parsed.arg_count)?)?;
            d.set_item("tails.request_bytes", Buffer::of(py, parsed.request_bytes)?)?;
            d.set_item("tails.arg_offsets", Buffer::of(py, parsed.offsets)?)?;
            let values = parsed.values;
            give_nullable(py, &d, "tails.value_len", values.value_len)?;
            give_nullable(py, &d, "tails.exp_abs", values.exp_abs)?;
            give_nullable(py, &d, "tails.exp_rel", values.exp_rel)?;
            d.set_item("tails.args.n", parsed.args.len())?;
            give_strings(py, &d, "tails.key_raw", parsed.key_raw)?;
            d.set_item("tails.keys.offsets", Buffer::of(py, parsed.key_offsets)?)?;
            d.set_item("tails.keys.nulls", parsed.key_valid.unset)?;
            d.set_item("tails.keys.valid", Buffer::of(py, parsed.key_valid.bytes)?)?;
            d.set_item("tails.keys.n", parsed.key_list.len())?;
            give_strings(py, &d, "tails.key_list", parsed.key_list)?;
            d.set_item("tails.key_count", Buffer::of(py, parsed.key_count)?)?;
            give_strings(py, &d, "tails.arg_shape", parsed.arg_shape)?;
            give_nullable(py, &d, "tails.long_value", parsed.long_value)?;
            give_strings(py, &d, "tails.args", parsed.args)?;
            Ok(d)
        }
    }

    /// Needles (ASCII case insensitive) and the command lines of a chunk whose body holds one
    /// (`matching`).
    #[pyclass(frozen, module = "hotshard_native")]
    struct Needles {
        automaton: aho_corasick::AhoCorasick,
    }

    #[pymethods]
    impl Needles {
        #[new]
        fn new(needles: Vec<Vec<u8>>) -> Self {
            Needles {
                automaton: matching::needles(needles),
            }
        }

        /// The lines of `data` (whole lines) whose body holds a needle; the GIL is released
        /// while it runs.
        fn lines<'py>(
            &self,
            py: Python<'py>,
            data: &Bound<'py, PyBytes>,
        ) -> PyResult<Bound<'py, PyDict>> {
            let bytes = data.as_bytes();
            let out = py.allow_threads(|| matching::matching(bytes, &self.automaton));
            let d = PyDict::new(py);
            d.set_item("n", out.ts.len())?;
            d.set_item("ts", PyBytes::new(py, raw(&out.ts)))?;
            d.set_item("db", PyBytes::new(py, raw(&out.db)))?;
            put_strings(py, &d, "client", &out.client)?;
            put_strings(py, &d, "body", &out.body)?;
            put_strings(py, &d, "command", &out.command)?;
            put_strings(py, &d, "first", &out.first)?;
            Ok(d)
        }
    }

    #[pymodule]
    fn hotshard_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
        crate::memory::return_large_blocks();
        m.add_class::<Parser>()?;
        m.add_class::<Buffer>()?;
        m.add_class::<crate::python_keys::Keys>()?;
        m.add_class::<Needles>()?;
        Ok(())
    }
}

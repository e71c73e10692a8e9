//! hotshard's row path in Rust: a chunk of MONITOR text parsed in one pass (`scan`), the
//! columns handed to Python as Arrow buffers (`analyze/native.py` wraps them).

pub mod scan;

#[cfg(feature = "python")]
mod python {
    use std::collections::HashSet;

    use pyo3::prelude::*;
    use pyo3::types::{PyBytes, PyDict};

    use crate::scan::{self, Strings};

    fn raw<T: Copy>(values: &[T]) -> &[u8] {
        // SAFETY: plain numbers (f64, i32, u32, i64), read as their bytes.
        unsafe { std::slice::from_raw_parts(values.as_ptr().cast(), std::mem::size_of_val(values)) }
    }

    /// The parser of one analysis: the spellings of the commands whose one key is argv 1.
    #[pyclass(frozen, module = "hotshard_native")]
    struct Parser {
        fast: HashSet<Vec<u8>>,
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
        fn new(fast: Vec<Vec<u8>>) -> Self {
            Parser {
                fast: fast.into_iter().collect(),
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
                with_body,
                examples,
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
            d.set_item("ts", PyBytes::new(py, raw(&out.ts)))?;
            d.set_item("db", PyBytes::new(py, raw(&out.db)))?;
            put_strings(py, &d, "client", &out.client)?;
            if let Some(body) = &out.body {
                put_strings(py, &d, "body", body)?;
            }
            d.set_item("fast", PyBytes::new(py, &out.fast.bytes))?;
            put_strings(py, &d, "key_raw", &out.key_raw)?;
            d.set_item("tail", PyBytes::new(py, raw(&out.tail)))?;
            d.set_item("tails.n", out.tails.len())?;
            put_strings(py, &d, "tails", &out.tails)?;
            Ok(d)
        }
    }

    #[pymodule]
    fn hotshard_native(m: &Bound<'_, PyModule>) -> PyResult<()> {
        m.add_class::<Parser>()?;
        Ok(())
    }
}

//! Columns made in Rust handed to Python without a copy: each vector moves into a read-only
//! buffer object (the buffer protocol) that `analyze/read/scanner.py` wraps as Arrow buffers.

use pyo3::prelude::*;
use pyo3::types::PyDict;

use crate::columns::{Nullable, Strings};

/// Numbers or bytes made here, handed to Python without a copy: a read-only buffer
/// (`pa.py_buffer` wraps it) that owns them.
#[pyclass(frozen, module = "hotshard_native")]
pub struct Buffer {
    owned: Box<dyn AsBytes>,
}

trait AsBytes: Send + Sync {
    fn as_bytes(&self) -> &[u8];
}

impl<T: Copy + Send + Sync> AsBytes for Vec<T> {
    fn as_bytes(&self) -> &[u8] {
        // SAFETY: plain numbers (f64, i32, u32, i64) or bytes, read as their bytes.
        unsafe {
            std::slice::from_raw_parts(self.as_ptr().cast(), std::mem::size_of_val(&self[..]))
        }
    }
}

impl Buffer {
    pub fn of<T: Copy + Send + Sync + 'static>(
        py: Python<'_>,
        mut values: Vec<T>,
    ) -> PyResult<Bound<'_, Buffer>> {
        values.shrink_to_fit(); // columns are sized for a guess at the rows
        Bound::new(
            py,
            Buffer {
                owned: Box::new(values),
            },
        )
    }
}

#[pymethods]
impl Buffer {
    fn __len__(&self) -> usize {
        self.owned.as_bytes().len()
    }

    /// # Safety
    /// `view` is a buffer view Python asks to be filled.
    unsafe fn __getbuffer__(
        slf: Bound<'_, Self>,
        view: *mut pyo3::ffi::Py_buffer,
        flags: std::os::raw::c_int,
    ) -> PyResult<()> {
        let bytes = slf.get().owned.as_bytes();
        // SAFETY: the view keeps a reference to `slf` (taken here), which owns the bytes
        // and never changes them (frozen); Python only reads them (read-only).
        let filled = pyo3::ffi::PyBuffer_FillInfo(
            view,
            slf.as_ptr(),
            bytes.as_ptr() as *mut std::os::raw::c_void,
            bytes.len() as pyo3::ffi::Py_ssize_t,
            1,
            flags,
        );
        if filled == -1 {
            return Err(PyErr::fetch(slf.py()));
        }
        Ok(())
    }
}

pub fn give_strings(py: Python<'_>, d: &Bound<'_, PyDict>, name: &str, s: Strings) -> PyResult<()> {
    d.set_item(format!("{name}.offsets"), Buffer::of(py, s.offsets)?)?;
    d.set_item(format!("{name}.data"), Buffer::of(py, s.data)?)?;
    if let Some(v) = s.valid {
        d.set_item(format!("{name}.nulls"), v.unset)?;
        d.set_item(format!("{name}.valid"), Buffer::of(py, v.bytes)?)?;
    }
    Ok(())
}

pub fn give_nullable<T: Copy + Send + Sync + 'static>(
    py: Python<'_>,
    d: &Bound<'_, PyDict>,
    name: &str,
    n: Nullable<T>,
) -> PyResult<()> {
    d.set_item(name, Buffer::of(py, n.values)?)?;
    d.set_item(format!("{name}.nulls"), n.valid.unset)?;
    d.set_item(format!("{name}.valid"), Buffer::of(py, n.valid.bytes)?)?;
    Ok(())
}

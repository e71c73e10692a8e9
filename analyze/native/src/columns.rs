//! Columns as Arrow lays them out, built row by row and handed to Python as buffers
//! (`analyze/read/scanner.py` wraps them without a copy).

/// A string column as Arrow's large string layout: `offsets` (one more than rows) into `data`,
/// and a validity bit per row when it can hold nulls.
#[derive(Default)]
pub struct Strings {
    pub offsets: Vec<i64>,
    pub data: Vec<u8>,
    pub valid: Option<Bits>,
}

impl Strings {
    pub fn new(nullable: bool) -> Self {
        Strings {
            offsets: vec![0],
            data: Vec::new(),
            valid: nullable.then(Bits::default),
        }
    }

    /// Room for `rows` rows of `bytes` bytes in all.
    pub fn with_capacity(nullable: bool, rows: usize, bytes: usize) -> Self {
        let mut offsets = Vec::with_capacity(rows + 1);
        offsets.push(0);
        Strings {
            offsets,
            data: Vec::with_capacity(bytes),
            valid: nullable.then(|| Bits::with_capacity(rows)),
        }
    }

    pub fn push(&mut self, value: &[u8]) {
        self.data.extend_from_slice(value);
        self.offsets.push(self.data.len() as i64);
        if let Some(v) = self.valid.as_mut() {
            v.push(true);
        }
    }

    pub fn push_null(&mut self) {
        self.offsets.push(self.data.len() as i64);
        self.valid.as_mut().expect("a nullable column").push(false);
    }

    pub fn len(&self) -> usize {
        self.offsets.len() - 1
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub fn get(&self, i: usize) -> Option<&[u8]> {
        if let Some(v) = &self.valid {
            if !v.get(i) {
                return None;
            }
        }
        Some(&self.data[self.offsets[i] as usize..self.offsets[i + 1] as usize])
    }
}

/// A bitmap, least significant bit first (Arrow's validity and boolean layout).
#[derive(Default)]
pub struct Bits {
    pub bytes: Vec<u8>,
    pub len: usize,
    pub unset: usize,
}

impl Bits {
    /// Room for `bits` bits.
    pub fn with_capacity(bits: usize) -> Self {
        Bits {
            bytes: Vec::with_capacity(bits / 8 + 1),
            ..Bits::default()
        }
    }

    pub fn push(&mut self, bit: bool) {
        if self.len.is_multiple_of(8) {
            self.bytes.push(0);
        }
        if bit {
            *self.bytes.last_mut().expect("pushed above") |= 1 << (self.len % 8);
        } else {
            self.unset += 1;
        }
        self.len += 1;
    }

    pub fn get(&self, i: usize) -> bool {
        self.bytes[i / 8] & (1 << (i % 8)) != 0
    }
}

/// Numbers that may be missing, as Arrow lays them out: values and a validity bitmap.
#[derive(Default)]
pub struct Nullable<T> {
    pub values: Vec<T>,
    pub valid: Bits,
}

impl<T: Default> Nullable<T> {
    /// Room for `rows` rows.
    pub fn with_capacity(rows: usize) -> Self {
        Nullable {
            values: Vec::with_capacity(rows),
            valid: Bits::with_capacity(rows),
        }
    }

    pub fn push(&mut self, value: Option<T>) {
        self.valid.push(value.is_some());
        self.values.push(value.unwrap_or_default());
    }
}

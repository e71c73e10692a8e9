//! What the timing examples share: this thread's CPU clock, the file in the analyzer's chunks,
//! and the parser's options with the usual fast commands (no key specs).
use hotshard_native::keyspecs::KeySpecs;
use hotshard_native::scan::{Options, Spellings};

/// CPU seconds of this thread (the machine may be shared).
pub fn cpu() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// The text in chunks of whole lines of about 32 MiB, as the analyzer reads a file.
pub fn chunks(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= data.len() {
            return None;
        }
        let end = (start + (32 << 20)).min(data.len());
        let end = memchr::memrchr(b'\n', &data[start..end]).map_or(end, |p| start + p + 1);
        let chunk = &data[start..end];
        start = end;
        Some(chunk)
    })
}

/// The commands the bench captures take the fast path with, in both cases.
pub fn fast() -> Spellings {
    [
        "GET",
        "SET",
        "HGET",
        "INCR",
        "EXPIRE",
        "ZREVRANGE",
        "ZADD",
        "HSET",
    ]
    .iter()
    .flat_map(|c| [format!("\"{c}"), format!("\"{}", c.to_lowercase())])
    .map(String::into_bytes)
    .collect()
}

/// The parser's options without bodies (`specs`: none, `KeySpecs::default()`, in the examples).
pub fn options<'a>(fast: &'a Spellings, specs: &'a KeySpecs) -> Options<'a> {
    Options {
        fast,
        specs,
        with_body: false,
        examples: 5,
        long_arg: hotshard_native::tails::LONG_ARG,
    }
}

//! `cargo run --release --example scan_file FILE`: the parse alone, lines/s on one thread.
use hotshard_native::scan::{scan, Options, Spellings};

/// CPU seconds of this thread (the machine may be shared).
fn cpu() -> f64 {
    let mut t = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut t) };
    t.tv_sec as f64 + t.tv_nsec as f64 * 1e-9
}

/// The text in chunks of whole lines of about 32 MiB, as the analyzer reads a file.
fn chunks(data: &[u8]) -> impl Iterator<Item = &[u8]> {
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

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("a decompressed MONITOR file");
    let data = std::fs::read(path).expect("readable");
    let fast: Spellings = [
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
    .collect();
    let opts = Options {
        fast: &fast,
        specs: &Default::default(),
        with_body: false,
        examples: 5,
        long_arg: hotshard_native::tails::LONG_ARG,
    };
    let mut best = f64::MAX;
    let mut lines = 0;
    for _ in 0..5 {
        let t = cpu();
        lines = chunks(&data).map(|c| scan(c, &opts).rows).sum();
        best = best.min(cpu() - t);
    }
    println!(
        "{lines} lines, {:.3} CPU s, {:.2}M lines/s, {:.0} MB/s",
        best,
        lines as f64 / best / 1e6,
        data.len() as f64 / best / 1e6
    );
}

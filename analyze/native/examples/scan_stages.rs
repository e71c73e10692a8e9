//! `cargo run --release --example scan_stages FILE`: what each stage of the parse costs, each
//! loop doing one more stage than the one before (CPU seconds of this thread, best of 5); the
//! whole scan in chunks of 32 MiB, as the analyzer reads a file.
use hotshard_native::cut::{cut, misplit, Finders};
use hotshard_native::header::header;
use hotshard_native::quoting::quoted;
use hotshard_native::scan::scan;
use memchr::memchr;
use std::hash::BuildHasher;

mod common;
use common::{chunks, cpu};

fn best(name: &str, lines: f64, mut f: impl FnMut() -> u64) {
    let mut best = f64::MAX;
    let mut sink = 0;
    for _ in 0..5 {
        let t = cpu();
        sink += f();
        best = best.min(cpu() - t);
    }
    println!(
        "{name:<28} {:.3}s {:>6.2}M lines/s  ({sink})",
        best,
        lines / best / 1e6
    );
}

fn lines(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut start = 0;
    std::iter::from_fn(move || {
        if start >= data.len() {
            return None;
        }
        let end = memchr(b'\n', &data[start..]).map_or(data.len(), |p| start + p);
        let line = &data[start..end];
        start = end + 1;
        Some(line.strip_suffix(b"\r").unwrap_or(line))
    })
}

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("a decompressed MONITOR file");
    let data = std::fs::read(path).expect("readable");
    let n = memchr::memchr_iter(b'\n', &data).count() as f64;
    best("utf8 check", n, || {
        u64::from(std::str::from_utf8(&data).is_ok())
    });
    best("line split", n, || lines(&data).count() as u64);
    best("+ header", n, || {
        lines(&data).filter_map(header).map(|h| h.1 as u64).sum()
    });
    let fast = common::fast();
    best("+ quoting check", n, || {
        lines(&data)
            .filter_map(header)
            .filter_map(|h| quoted(h.3))
            .count() as u64
    });
    let finders = Finders::new();
    best("+ cut, fast command?", n, || {
        lines(&data)
            .filter_map(header)
            .filter_map(|h| Some((h.3, quoted(h.3)?)))
            .map(|(body, q)| {
                let (cmd, first, _) = cut(body, &q, &finders);
                u64::from(first.is_some() && fast.contains(cmd) && !misplit(body, &q, &finders))
            })
            .sum()
    });
    best("+ hash the tail", n, || {
        let hasher = foldhash::fast::FixedState::default();
        lines(&data)
            .filter_map(header)
            .filter_map(|h| Some((h.3, quoted(h.3)?)))
            .map(|(body, q)| {
                let (cmd, first, rest) = cut(body, &q, &finders);
                if first.is_some() && fast.contains(cmd) && !misplit(body, &q, &finders) {
                    hasher.hash_one((cmd, rest))
                } else {
                    hasher.hash_one(body)
                }
            })
            .fold(0, u64::wrapping_add)
    });
    let specs = Default::default();
    let opts = common::options(&fast, &specs);
    best("whole scan (no key specs)", n, || {
        chunks(&data).map(|c| scan(c, &opts).rows).sum()
    });
}

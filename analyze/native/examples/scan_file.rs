//! `cargo run --release --example scan_file FILE`: the parse alone, lines/s on one thread.
use hotshard_native::scan::{scan, Options, Spellings};
use std::time::Instant;

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
        let t = Instant::now();
        let out = scan(&data, &opts);
        best = best.min(t.elapsed().as_secs_f64());
        lines = out.rows;
    }
    println!(
        "{lines} lines, {:.2}M lines/s, {:.0} MB/s",
        lines as f64 / best / 1e6,
        data.len() as f64 / best / 1e6
    );
}

//! `cargo run --release --example scan_file FILE`: the parse alone, lines/s on one thread.
use hotshard_native::scan::scan;

mod common;
use common::{chunks, cpu};

fn main() {
    let path = std::env::args()
        .nth(1)
        .expect("a decompressed MONITOR file");
    let data = std::fs::read(path).expect("readable");
    let fast = common::fast();
    let specs = Default::default();
    let opts = common::options(&fast, &specs);
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

//! `cargo run --release --example patterns_file KEYS RULES [EXPECTED]`: pattern rules (three
//! lines each: match, replace, needs or an empty line) over keys separated by NUL bytes (one per
//! distinct key), keys/s on one thread; with EXPECTED (the patterns Polars gave, NUL-separated),
//! every pattern checked against it.
use hotshard_native::patterns::{PatternIds, Rules};
use std::time::Instant;

fn main() {
    let mut args = std::env::args().skip(1);
    let keys = std::fs::read(args.next().expect("a file of keys")).expect("readable");
    let rules_file = std::fs::read_to_string(args.next().expect("a file of rules")).expect("rules");
    // One rule per three lines: match, replace, needs (empty: none).
    let lines: Vec<&str> = rules_file.split('\n').collect();
    let rules: Vec<_> = lines
        .chunks_exact(3)
        .map(|r| {
            let needs = (!r[2].is_empty()).then(|| r[2].to_string());
            (r[0].to_string(), r[1].to_string(), needs)
        })
        .collect();
    let rules = Rules::new(&rules).expect("valid rules");
    let keys: Vec<&str> = keys
        .split(|&b| b == 0)
        .map(|k| std::str::from_utf8(k).expect("utf-8"))
        .collect();
    if let Some(expected) = args.next() {
        let expected = std::fs::read(expected).expect("readable");
        let expected: Vec<&[u8]> = expected.split(|&b| b == 0).collect();
        assert_eq!(expected.len(), keys.len());
        for (k, e) in keys.iter().zip(expected) {
            assert_eq!(rules.apply(k).as_bytes(), e, "{k}");
        }
        println!("all {} patterns as expected", keys.len());
    }
    for _ in 0..3 {
        let start = Instant::now();
        let mut ids = PatternIds::default();
        let mut sum = 0u64;
        for k in &keys {
            sum += u64::from(ids.id(rules.apply(k)));
        }
        let s = start.elapsed().as_secs_f64();
        println!(
            "{} keys, {} patterns, {:.3} s, {:.0} ns/key ({sum})",
            keys.len(),
            ids.names.len(),
            s,
            s * 1e9 / keys.len() as f64
        );
    }
}

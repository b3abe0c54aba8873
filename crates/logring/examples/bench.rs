//! Log write cost per line: `cargo run --release -p logring --example bench [DIR]`.
//! Writes 1 000 000 lines of about 100 bytes through a 64 MiB ring (rotating several
//! times) in batches of 512 as init's writer does, then 100 000 lines one write each, and
//! prints ns/line and MB/s. DIR (default: a directory under /tmp) should be on the disk
//! to measure.

use logring::{Entry, Level, Ring, DEFAULT_CAP};
use std::time::Instant;

fn main() {
    let dir = std::env::args().nth(1).map_or_else(
        || std::env::temp_dir().join(format!("logring-bench-{}", std::process::id())),
        Into::into,
    );
    let _ = std::fs::remove_dir_all(&dir);
    let mut ring = Ring::open(&dir, DEFAULT_CAP, "bench").expect("open the ring");
    let messages: Vec<String> = (0..512)
        .map(|i| format!("2026-12-07T23:00:00.{i:06}Z  INFO request served: GET /api/v1/status 200 in 1.2 ms (#{i})"))
        .collect();
    let entries: Vec<Entry<'_>> = messages
        .iter()
        .enumerate()
        .map(|(i, m)| Entry {
            time_us: 1_765_000_000_000_000 + i as u64,
            uptime_ms: 1000 + i as u64,
            level: Level::Info,
            service: "appliance-daemon",
            message: m,
        })
        .collect();
    let batches = 1_000_000 / entries.len();
    let t = Instant::now();
    let mut stored = 0;
    for _ in 0..batches {
        stored += ring.append_all(&entries);
    }
    let el = t.elapsed();
    let lines = batches * entries.len();
    let bytes = lines as f64 * (messages[0].len() + 60) as f64;
    println!(
        "batched (512 a write): {lines} lines in {:.2} s: {:.0} ns/line, {:.0} MB/s; stored {stored}, ring {} bytes (cap {DEFAULT_CAP})",
        el.as_secs_f64(),
        el.as_nanos() as f64 / lines as f64,
        bytes / el.as_secs_f64() / 1e6,
        ring.size()
    );
    let t = Instant::now();
    let single = 100_000;
    for i in 0..single {
        ring.append(&entries[i % entries.len()]);
    }
    let el = t.elapsed();
    println!(
        "one write per line: {single} lines: {:.0} ns/line",
        el.as_nanos() as f64 / single as f64
    );
    assert!(ring.size() <= DEFAULT_CAP);
    let _ = std::fs::remove_dir_all(&dir);
}

//! What a service's line costs init's loop: `cargo run --release -p init --example
//! log_bench 2>/dev/null` (the console copy goes to stderr). Hands 200 000 lines to the
//! journal as the output pipes do (the console queue and the ring's queue, never
//! waiting), at full speed then paced, and prints ns/line on init's side, and how many
//! lines the writer thread stored or dropped.

use std::sync::Arc;
use std::time::{Duration, Instant};

fn count_lines(dir: &std::path::Path) -> usize {
    logring::read(dir, &logring::Query::default()).map_or(0, |p| p.lines.len())
}

fn run(label: &str, lines: usize, pause_every: usize) {
    let dir = std::env::temp_dir().join(format!("init-log-bench-{}-{label}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut journal = init::stage2::journal::start(Some(dir.clone()), logring::DEFAULT_CAP);
    let service: Arc<str> = Arc::from("appliance-daemon");
    let text = "2026-12-07T23:00:00.000000Z  INFO request served: GET /api/v1/status 200 in 1.2 ms";
    let t = Instant::now();
    let mut paused = Duration::ZERO;
    for i in 0..lines {
        journal.handle.service_line(&service, text);
        if pause_every > 0 && i % pause_every == pause_every - 1 {
            let p = Instant::now();
            std::thread::sleep(Duration::from_millis(1));
            paused += p.elapsed();
        }
    }
    let el = t.elapsed() - paused;
    journal.close(Duration::from_secs(30));
    let stored = count_lines(&dir);
    println!(
        "{label}: {lines} lines, {:.0} ns/line in init's loop; the writer stored {stored} ({} dropped: queue full)",
        el.as_nanos() as f64 / lines as f64,
        lines.saturating_sub(stored)
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    run("burst", 200_000, 0);
    run("paced (1 ms pause every 100 lines)", 200_000, 100);
}

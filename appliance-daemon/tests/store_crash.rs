//! Nothing acknowledged is lost when the writer dies. A child process (this test binary
//! again, running `crash_writer`) makes numbered changes to the settings store and prints
//! `acked N` once each `change()` has returned; the parent SIGKILLs it after a random delay,
//! reopens the store and checks it. Repeated on the same file, so later rounds also recover
//! from the earlier kills, some of which land during the open itself.
//!
//! `cargo test -p appliance-daemon --test store_crash -- --nocapture` shows the summary.

use appliance_daemon::store::{Audit, Record, Store, AUDIT_KEEP};
use serde::{Deserialize, Serialize};
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// Set (to the database path) only in the writer process.
const WRITER_ENV: &str = "APPLIANCE_STORE_CRASH_WRITER";
const ACTION: &str = "test.count";
const ROUNDS: u32 = 40;
const MIN_ROUNDS: u32 = 30;
const BUDGET: Duration = Duration::from_secs(25);

#[derive(Default, Serialize, Deserialize)]
struct Counter {
    n: u64,
}

impl Record for Counter {
    const KEY: &'static str = "test.counter";
}

/// The writer: counts up forever, one change (counter + audit entry "count N") per number.
#[test]
#[ignore = "the writer process of store_survives_writer_kills, which starts it"]
fn crash_writer() {
    let Some(path) = std::env::var_os(WRITER_ENV) else {
        return;
    };
    let store = Store::open(Path::new(&path)).expect("the writer opens the store");
    let mut n = store
        .get::<Counter>()
        .expect("the writer reads the counter")
        .n;
    loop {
        n += 1;
        store
            .change(Audit::system(ACTION, format!("count {n}")), |tx| {
                let mut counter = tx.get::<Counter>()?;
                assert_eq!(counter.n + 1, n, "another writer?");
                counter.n = n;
                tx.put(&counter)
            })
            .expect("the writer's change commits");
        println!("acked {n}");
    }
}

struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

#[test]
fn store_survives_writer_kills() {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("store-crash-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("settings.redb");
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        ^ u64::from(std::process::id()) << 32
        | 1;
    let mut rng = XorShift(seed);
    let exe = std::env::current_exe().unwrap();
    let started = Instant::now();

    let mut counter = 0u64; // committed so far, as last verified
    let (mut rounds, mut acked_total, mut in_flight_committed, mut before_first_ack) = (0, 0, 0, 0);
    while rounds < ROUNDS && (rounds < MIN_ROUNDS || started.elapsed() < BUDGET) {
        // One kill in four within the first 20 ms (process start, open, repair), the rest
        // while the writer is busy committing.
        let delay = match rng.next() % 4 {
            0 => rng.next() % 20,
            _ => 20 + rng.next() % 280,
        };
        let mut child = Command::new(&exe)
            .args(["crash_writer", "--exact", "--ignored", "--nocapture"])
            .args(["--test-threads=1", "--quiet"])
            .env(WRITER_ENV, &path)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut stdout = child.stdout.take().unwrap();
        let reader = std::thread::spawn(move || {
            let mut text = String::new();
            stdout.read_to_string(&mut text).map(|_| text)
        });
        std::thread::sleep(Duration::from_millis(delay));
        child.kill().unwrap();
        let status = child.wait().unwrap();
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        let stdout = reader.join().unwrap().unwrap();
        assert_eq!(
            status.signal(),
            Some(9),
            "the writer ended before it was killed ({status}):\n{stderr}"
        );

        // Only complete lines: a line is written with one write(2), but be strict anyway.
        let acked: Vec<u64> = stdout
            .split_inclusive('\n')
            .filter_map(|line| {
                line.strip_suffix('\n')?
                    .strip_prefix("acked ")?
                    .parse()
                    .ok()
            })
            .collect();
        let expected: Vec<u64> = (counter + 1..=counter + acked.len() as u64).collect();
        assert_eq!(acked, expected, "acks out of sequence (seed {seed:#x})");

        let store = Store::open(&path).unwrap_or_else(|err| {
            panic!("round {rounds}: the store does not open after a kill (seed {seed:#x}): {err}")
        });
        let now = store.get::<Counter>().unwrap().n;
        let last_acked = acked.last().copied().unwrap_or(counter);
        assert!(
            now >= last_acked,
            "round {rounds}: counter {now} lost acknowledged change {last_acked} (seed {seed:#x})"
        );
        assert!(
            now <= last_acked + 1,
            "round {rounds}: counter {now}, but only {last_acked} acknowledged and one in flight"
        );
        // One audit entry per committed change, newest first, the oldest pruned beyond the bound.
        let counts: Vec<String> = store
            .audit_log(AUDIT_KEEP)
            .unwrap()
            .into_iter()
            .filter(|e| e.action == ACTION)
            .map(|e| e.detail)
            .collect();
        let expected: Vec<String> = (1..=now)
            .rev()
            .take(AUDIT_KEEP)
            .map(|k| format!("count {k}"))
            .collect();
        assert!(
            counts == expected,
            "round {rounds}: audit entries do not match counter {now}: {} entries, newest {:?}",
            counts.len(),
            counts.first()
        );
        drop(store);

        acked_total += acked.len();
        in_flight_committed += now - last_acked;
        before_first_ack += u32::from(acked.is_empty());
        counter = now;
        rounds += 1;
    }
    println!(
        "store crash test: {rounds} kills in {:.1} s (seed {seed:#x}): {acked_total} changes \
         acknowledged, all present; {in_flight_committed} committed without an ack yet; \
         {before_first_ack} kills before the first ack; counter {counter}",
        started.elapsed().as_secs_f64()
    );
    assert!(rounds >= MIN_ROUNDS);
    let _ = std::fs::remove_dir_all(&dir);
}

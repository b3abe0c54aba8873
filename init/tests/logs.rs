//! The persistent log written by init as PID 1 of a PID namespace: services' lines and
//! init's own kept in the ring with their boot, service and level, across a restart; a
//! flooding service keeps the ring under its cap and never holds init. Needs root.

// The harness has helpers the other test file uses.
#[allow(dead_code)]
mod ns;

use control::{Request, Response};
use logring::{read, BootSel, Level, Query};
use ns::{end_signal, Ns};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const T: Duration = Duration::from_secs(20);

fn ring_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("init-log-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn boot_once(ring: &Path, said: &str) {
    let script = format!("echo {said}\necho 'ERROR {said} on stderr' >&2\nexec sleep 1000");
    let mut ns = Ns::start_with(
        &[("talker.sh", script.as_str())],
        "talker @DIR@/talker.sh\n",
        &["--log-dir", ring.to_str().unwrap(), "--log-cap", "1048576"],
    );
    // The console still shows the service's lines.
    assert!(ns.wait_for(said, T), "{}", ns.output());
    ns.signal(libc::SIGTERM);
    assert_eq!(end_signal(ns.wait_end(T)), Some(libc::SIGHUP));
    assert!(
        ns.output().contains("shutdown: log ring closed"),
        "{}",
        ns.output()
    );
}

#[test]
fn lines_of_a_boot_are_in_the_ring_after_the_next_one() {
    need_root!();
    let ring = ring_dir("restart");
    boot_once(&ring, "first-boot-line");
    boot_once(&ring, "second-boot-line");

    let all = read(&ring, &Query::default()).unwrap();
    let find = |msg: &str| {
        all.lines
            .iter()
            .find(|l| l.1.message == msg)
            .unwrap_or_else(|| panic!("{msg:?} not in the ring"))
            .1
            .clone()
    };
    let first = find("first-boot-line");
    assert_eq!((first.boot, first.service.as_str()), (1, "talker"));
    assert_eq!(first.level, Level::Info);
    let err = find("ERROR first-boot-line on stderr");
    assert_eq!((err.boot, err.level), (1, Level::Error));
    assert_eq!(find("second-boot-line").boot, 2);
    assert_ne!(first.boot_id, "");
    // init's own lines, shutdown included, with their boot.
    let init_lines: Vec<_> = all.lines.iter().filter(|l| l.1.service == "init").collect();
    assert!(init_lines
        .iter()
        .any(|l| l.1.message == "stage2 start" && l.1.boot == 1));
    assert!(init_lines
        .iter()
        .any(|l| l.1.message.starts_with("shutdown requested by SIGTERM") && l.1.boot == 1));
    assert!(init_lines
        .iter()
        .any(|l| l.1.message.starts_with("service talker started") && l.1.boot == 2));
    // Newest first, and the previous boot by counting back.
    assert_eq!(all.lines[0].1.boot, 2);
    let prev = read(
        &ring,
        &Query {
            boot: Some(BootSel::Back(1)),
            service: Some("talker".into()),
            ..Query::default()
        },
    )
    .unwrap();
    let msgs: Vec<&str> = prev.lines.iter().map(|l| l.1.message.as_str()).collect();
    // stdout and stderr share one pipe: their order is kept.
    assert_eq!(msgs, ["ERROR first-boot-line on stderr", "first-boot-line"]);
    let _ = std::fs::remove_dir_all(&ring);
}

#[test]
fn a_flooding_service_keeps_the_ring_under_its_cap_and_init_answers() {
    need_root!();
    let ring = ring_dir("flood");
    let cap: u64 = 256 << 10;
    let mut ns = Ns::start_with(
        &[(
            "flood.sh",
            "exec yes 'flooding the log with a line of about sixty bytes ......'",
        )],
        "flood @DIR@/flood.sh\n",
        &[
            "--log-dir",
            ring.to_str().unwrap(),
            "--log-cap",
            &cap.to_string(),
        ],
    );
    let up = Instant::now() + T;
    while !ns.socket.exists() && Instant::now() < up {
        std::thread::sleep(Duration::from_millis(10));
    }
    let end = Instant::now() + Duration::from_secs(3);
    let mut slowest = Duration::ZERO;
    let mut max_size = 0;
    while Instant::now() < end {
        let t = Instant::now();
        match control::call(ns.socket.to_str().unwrap(), &Request::ServiceStatus).unwrap() {
            Response::Services(s) => assert_eq!(s.len(), 1),
            other => panic!("unexpected {other:?}"),
        }
        slowest = slowest.max(t.elapsed());
        max_size = max_size.max(segments_size(&ring));
        std::thread::sleep(Duration::from_millis(50));
    }
    ns.signal(libc::SIGTERM);
    assert_eq!(end_signal(ns.wait_end(T)), Some(libc::SIGHUP));
    max_size = max_size.max(segments_size(&ring));
    let lines = read(&ring, &Query::default()).unwrap().lines;
    println!(
        "flood: cap {cap} bytes, at most {max_size} bytes on disk, {} lines kept, slowest control answer {slowest:?}",
        lines.len()
    );
    assert!(max_size <= cap, "{max_size} > {cap}");
    // The ring was filled several times over: it rotated, and still holds a full ring.
    assert!(max_size > cap / 2, "{max_size}");
    assert!(lines.iter().any(|l| l.1.service == "flood"));
    assert!(slowest < Duration::from_secs(1), "{slowest:?}");
    let _ = std::fs::remove_dir_all(&ring);
}

fn segments_size(dir: &Path) -> u64 {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return 0;
    };
    rd.flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .filter_map(|e| e.metadata().ok())
        .map(|m| m.len())
        .sum()
}

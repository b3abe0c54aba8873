//! The ring on a real directory: its cap under a flood, lines kept across a restart,
//! filters and pages, a disk that refuses writes.

use logring::{boots, read, BootSel, Cursor, Entry, Level, Query, Ring};
use std::path::{Path, PathBuf};

fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("logring-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    d
}

fn entry<'a>(service: &'a str, level: Level, message: &'a str, t: u64) -> Entry<'a> {
    Entry {
        time_us: t,
        uptime_ms: t / 1000,
        level,
        service,
        message,
    }
}

fn bytes_on_disk(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .map(|e| e.metadata().unwrap().len())
        .sum()
}

#[test]
fn a_flood_of_lines_keeps_the_ring_under_its_cap() {
    let dir = scratch("flood");
    let cap = 1 << 20;
    let mut ring = Ring::open(&dir, cap, "b1").unwrap();
    let filler = "x".repeat(150);
    let mut max_seen = 0;
    // 100 000 lines of about 220 bytes: 22 MiB through a 1 MiB ring.
    for i in 0..100_000u64 {
        let msg = format!("line {i} {filler}");
        assert!(ring.append(&entry("flood", Level::Info, &msg, 1_000_000 + i)));
        if i % 1000 == 0 {
            max_seen = max_seen.max(bytes_on_disk(&dir));
        }
    }
    let on_disk = bytes_on_disk(&dir);
    max_seen = max_seen.max(on_disk);
    println!("cap {cap} bytes: at most {max_seen} bytes of segments on disk after 22 MiB written");
    assert!(max_seen <= cap, "{max_seen} > {cap}");
    assert_eq!(ring.size(), on_disk);
    assert_eq!(ring.dropped(), 0);
    // The newest line is there, the oldest went.
    let page = read(
        &dir,
        &Query {
            limit: 1,
            ..Query::default()
        },
    )
    .unwrap();
    assert!(page.lines[0].1.message.starts_with("line 99999 "));
    let all = read(&dir, &Query::default()).unwrap();
    assert!(all.lines.len() > 3000, "{}", all.lines.len());
    assert!(!all.lines.iter().any(|l| l.1.message.starts_with("line 0 ")));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn lines_from_before_a_restart_are_read_after_it() {
    let dir = scratch("restart");
    {
        let mut ring = Ring::open(&dir, 1 << 20, "aaaa").unwrap();
        assert_eq!(ring.boot(), 1);
        ring.append(&entry(
            "appliance-daemon",
            Level::Info,
            "before the restart",
            10,
        ));
    }
    // A torn tail, as a power cut leaves it.
    let seg = dir.join("00000001.log");
    let mut text = std::fs::read(&seg).unwrap();
    text.extend_from_slice(b"1 aaaa 11 0 inf");
    std::fs::write(&seg, text).unwrap();
    let mut ring = Ring::open(&dir, 1 << 20, "bbbb").unwrap();
    assert_eq!(ring.boot(), 2);
    ring.append(&entry("init", Level::Notice, "after the restart", 20));
    let all = read(&dir, &Query::default()).unwrap();
    let msgs: Vec<(u64, &str)> = all
        .lines
        .iter()
        .map(|l| (l.1.boot, l.1.message.as_str()))
        .collect();
    assert_eq!(msgs, [(2, "after the restart"), (1, "before the restart")]);
    let b = boots(&dir);
    assert_eq!(b.iter().map(|b| b.number).collect::<Vec<_>>(), [1, 2]);
    assert_eq!(b[0].boot_id, "aaaa");
    let prev = read(
        &dir,
        &Query {
            boot: Some(BootSel::Back(1)),
            ..Query::default()
        },
    )
    .unwrap();
    assert_eq!(prev.boot, Some(1));
    assert_eq!(prev.lines.len(), 1);
    assert_eq!(prev.lines[0].1.boot_id, "aaaa");
    // Without its boot index the ring still counts on from its newest line.
    drop(ring);
    std::fs::remove_file(dir.join("boots")).unwrap();
    assert_eq!(Ring::open(&dir, 1 << 20, "cccc").unwrap().boot(), 3);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn filters_pages_and_following() {
    let dir = scratch("filters");
    let mut ring = Ring::open(&dir, 1 << 20, "c").unwrap();
    for i in 0..30u64 {
        let (svc, lvl) = match i % 3 {
            0 => ("init", Level::Info),
            1 => ("appliance-daemon", Level::Warn),
            _ => ("ntpd", Level::Error),
        };
        ring.append(&entry(svc, lvl, &format!("m{i}"), 1000 + i));
    }
    let q = |f: &dyn Fn(&mut Query)| {
        let mut q = Query::default();
        f(&mut q);
        read(&dir, &q).unwrap()
    };
    let ntpd = q(&|q| q.service = Some("ntpd".into()));
    assert_eq!(ntpd.lines.len(), 10);
    assert!(ntpd.lines.iter().all(|l| l.1.service == "ntpd"));
    assert_eq!(ntpd.lines[0].1.message, "m29");
    let warn = q(&|q| q.level = Some(Level::Warn));
    assert_eq!(warn.lines.len(), 20);
    assert!(warn.lines.iter().all(|l| l.1.level <= Level::Warn));
    let since = q(&|q| q.since_us = Some(1025));
    assert_eq!(since.lines.len(), 5);
    assert_eq!(q(&|q| q.boot = Some(BootSel::Number(9))).lines.len(), 0);
    assert_eq!(q(&|q| q.boot = Some(BootSel::Back(0))).lines.len(), 30);
    // Pages of 8, newest first, no line twice, none missed.
    let mut seen = Vec::new();
    let mut before: Option<Cursor> = None;
    loop {
        let p = q(&|q| {
            q.limit = 8;
            q.before = before;
        });
        seen.extend(p.lines.iter().map(|l| l.1.message.clone()));
        match p.next {
            Some(c) => before = Some(c),
            None => break,
        }
    }
    let want: Vec<String> = (0..30).rev().map(|i| format!("m{i}")).collect();
    assert_eq!(seen, want);
    // Following: only what came after the head.
    let head = q(&|_| {}).head;
    ring.append(&entry("init", Level::Info, "new one", 5000));
    let newer = q(&|q| q.after = Some(head));
    assert_eq!(newer.lines.len(), 1);
    assert_eq!(newer.lines[0].1.message, "new one");
    assert!(newer.head > head);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_disk_that_refuses_writes_drops_and_counts() {
    let dir = scratch("full");
    std::fs::create_dir_all(&dir).unwrap();
    // /dev/full answers every write with ENOSPC, as a full data partition does.
    std::os::unix::fs::symlink("/dev/full", dir.join("00000001.log")).unwrap();
    let mut ring = Ring::open(&dir, 1 << 20, "d").unwrap();
    for i in 0..5 {
        assert!(!ring.append(&entry("init", Level::Info, &format!("lost {i}"), 1)));
    }
    assert_eq!(ring.dropped(), 5);
    std::fs::remove_file(dir.join("00000001.log")).unwrap();
    assert!(ring.append(&entry("init", Level::Info, "kept", 2)));
    let all = read(&dir, &Query::default()).unwrap();
    let msgs: Vec<&str> = all.lines.iter().map(|l| l.1.message.as_str()).collect();
    assert_eq!(
        msgs,
        [
            "kept",
            "5 log lines were lost (queue full or the disk refused them)"
        ]
    );
    assert_eq!(all.lines[1].1.service, "log");
    let _ = std::fs::remove_dir_all(&dir);
}

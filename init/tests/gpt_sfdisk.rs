//! The GPT grow plan applied to a disk image made by sfdisk, then enlarged the way a
//! customer's bigger disk is: sfdisk itself must find the result valid.

use init::gpt::{plan_grow, SECTOR};
use std::fs::OpenOptions;
use std::os::unix::fs::FileExt;
use std::process::{Command, Stdio};

fn sfdisk(args: &[&str], input: Option<&str>) -> Option<String> {
    use std::io::Write;
    let mut child = Command::new("sfdisk")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .ok()?;
    if let Some(i) = input {
        child.stdin.take()?.write_all(i.as_bytes()).ok()?;
    }
    let out = child.wait_with_output().ok()?;
    assert!(
        out.status.success(),
        "sfdisk {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[test]
fn sfdisk_accepts_the_grown_table() {
    if Command::new("sfdisk").arg("--version").output().is_err() {
        eprintln!("SKIPPED: sfdisk (fdisk package) is not installed");
        return;
    }
    let dir = std::env::temp_dir().join(format!("init-gpt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let img = dir.join("disk.img");
    let path = img.to_str().unwrap();
    let f = OpenOptions::new()
        .create(true)
        .truncate(true)
        .read(true)
        .write(true)
        .open(&img)
        .unwrap();
    f.set_len(64 << 20).unwrap();
    sfdisk(
        &["-q", path],
        Some("label: gpt\nstart=2048, size=8M, type=L, name=root-a\ntype=L, name=data\n"),
    )
    .unwrap();
    let before = sfdisk(&["-J", path], None).unwrap();
    assert!(before.contains("\"name\":\"data\"") || before.contains("\"name\": \"data\""));

    // The image lands on a disk three times its size.
    let sectors = (192u64 << 20) / SECTOR;
    f.set_len(sectors * SECTOR).unwrap();
    let mut head = vec![0u8; 34 * SECTOR as usize];
    f.read_exact_at(&mut head, 0).unwrap();
    let s = SECTOR as usize;
    let plan = plan_grow(&head[..s], &head[s..2 * s], &head[2 * s..], sectors, 2)
        .unwrap()
        .expect("the data partition stops short");
    assert_eq!(plan.new.last_lba, sectors - 34);
    for (off, bytes) in &plan.writes {
        f.write_all_at(bytes, *off).unwrap();
    }
    f.sync_all().unwrap();

    let verify = sfdisk(&["--verify", path], None).unwrap();
    assert!(verify.contains("No errors detected"), "{verify}");
    let dump = sfdisk(&["-d", path], None).unwrap();
    let data = dump.lines().find(|l| l.contains("name=\"data\"")).unwrap();
    let size: u64 = data
        .split("size=")
        .nth(1)
        .and_then(|r| r.split(',').next())
        .and_then(|n| n.trim().parse().ok())
        .unwrap();
    assert_eq!(size, plan.new.last_lba - plan.new.first_lba + 1, "{dump}");
    assert!(
        dump.contains(&format!("last-lba: {}", sectors - 34)),
        "{dump}"
    );
    // A second plan finds nothing to do.
    f.read_exact_at(&mut head, 0).unwrap();
    assert_eq!(
        plan_grow(&head[..s], &head[s..2 * s], &head[2 * s..], sectors, 2).unwrap(),
        None
    );
    let _ = std::fs::remove_dir_all(&dir);
}

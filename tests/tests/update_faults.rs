//! Faults around an update, on the box (UEFI): the power is cut while a package streams
//! in (early, half-way, and 64 KiB before the end of the payload): each time the old system
//! boots and nothing of the install is left pending; then 1.0.1 installs by upload and
//! starts from slot B; then a 1.0.2 whose daemon cannot start is installed: init's health
//! deadline restarts the machine, GRUB falls back to slot B, and `GET /api/v1/updates`
//! names 1.0.2 as rolled back, with the reason.
//!
//! The packages are made here from the built box slot and signed with the development
//! key, which the built images trust.

use appliance_tests::devices::{Firmware, Profile};
use appliance_tests::https::{self, Trust};
use appliance_tests::workdir::WorkDir;
use appliance_tests::Api;
use appliance_tests::{disk, Machine, MachineSpec};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const BOOT_TIMEOUT: Duration = Duration::from_secs(300);
const PASSWORD: &str = "update-faults-1";
/// Seconds a slot gets to pass its health check in this test (default 300).
const HEALTH_TIMEOUT: u64 = 150;

/// A base package of `slot` for the box, signed with the development key.
fn package(slot: &Path, version: &str, out: &Path) -> Vec<u8> {
    let key = package::Signer::load(&disk::workspace_root().join("keys/dev/dev.key")).unwrap();
    package::build_base(
        slot,
        &package::Metadata {
            version: version.parse().unwrap(),
            profiles: vec!["box".into()],
            requires: vec![],
            floor: None,
            created: 1_700_000_000,
        },
        out,
        &[key],
    )
    .unwrap();
    std::fs::read(out).unwrap()
}

fn updates(m: &Machine, token: &str) -> serde_json::Value {
    let r = m.call("GET", "/api/v1/updates", Some(token), None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    r.value()
}

/// Send the first `sent` bytes of `pkg` as an upload, wait until the daemon is writing the
/// slot, then cut the power.
fn cut_during_upload(m: &mut Machine, token: &str, pkg: &[u8], sent: usize) {
    let auth = format!("Bearer {token}");
    let mut stream = https::start_request(
        m.https,
        "POST",
        "/api/v1/updates/upload",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/octet-stream"),
        ],
        pkg.len() as u64,
        &Trust::Any,
        Duration::from_secs(60),
    )
    .unwrap();
    stream.write_all(&pkg[..sent]).unwrap();
    stream.flush().unwrap();
    let start = Instant::now();
    loop {
        let u = updates(m, token);
        if u["installing"] == true {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the install never started: {u}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Let the bytes sent so far reach the slot.
    std::thread::sleep(Duration::from_secs(2));
    m.cut_power().unwrap();
    drop(stream);
}

#[test]
fn power_cuts_during_an_install_and_a_slot_that_never_gets_healthy() {
    let work = WorkDir::new("update-faults").unwrap();
    let built = disk::built_image("box").unwrap();
    let slot = built.with_file_name("slot.sqfs");
    let slot_101 = work.path().join("slot-1.0.1.sqfs");
    disk::restamp_slot(&slot, "1.0.1", &slot_101).unwrap();
    let pkg_101 = package(&slot_101, "1.0.1", &work.path().join("1.0.1.pkg"));
    // 1.0.2 boots, but its daemon is not a program: it never serves, never gets healthy.
    let slot_102 = work.path().join("slot-1.0.2.sqfs");
    disk::remake_slot(&slot, "1.0.2", &slot_102, |tree| {
        std::fs::write(tree.join("usr/sbin/appliance-daemon"), b"not a program\n")?;
        Ok(())
    })
    .unwrap();
    let pkg_102 = package(&slot_102, "1.0.2", &work.path().join("1.0.2.pkg"));

    // mtools edits raw images only: a raw copy carries the kernel argument; every boot
    // below shares one overlay on it.
    let raw: PathBuf = work.path().join("disk.img");
    disk::raw_copy(&built, &raw).unwrap();
    disk::set_extra_cmdline(&raw, &format!("appliance.health_timeout={HEALTH_TIMEOUT}")).unwrap();
    let overlay = work.path().join("disk.qcow2");
    disk::create_overlay(&raw, &overlay).unwrap();
    let spec = MachineSpec {
        overlay: Some(overlay),
        no_reboot: false,
        ..MachineSpec::image(Profile::Box, Firmware::Uefi).unwrap()
    };

    let mut m = Machine::start(&spec).unwrap();
    let (_, t) = m.wait_for_health(BOOT_TIMEOUT).unwrap();
    m.report("boot to health", format!("{:.1}s", t.as_secs_f64()));
    assert_eq!(m.health().running(), ("1.0.0", "A"));
    let mut token = m.first_login(PASSWORD);

    // Power cuts while the package streams in: the old system boots, nothing pending.
    let len = pkg_101.len();
    for (what, sent) in [
        ("early", len / 10),
        ("half-way", len / 2),
        // The package ends with the tar trailer: stop inside the payload's last bytes.
        ("64 KiB before the end", len - (64 << 10)),
    ] {
        cut_during_upload(&mut m, &token, &pkg_101, sent);
        m = Machine::start(&spec).unwrap();
        let (_, t) = m.wait_for_health(BOOT_TIMEOUT).unwrap();
        m.report(
            &format!("power cut {what} ({sent} of {len} bytes) -> health"),
            format!("{:.1}s", t.as_secs_f64()),
        );
        assert_eq!(m.health().running(), ("1.0.0", "A"), "after the cut {what}");
        token = m.token(PASSWORD);
        let u = updates(&m, &token);
        assert!(u["pending"].is_null(), "after the cut {what}: {u}");
        assert_eq!(u["installing"], false);
    }

    // The real install, then the restart into it.
    let r = m.upload(&token, &pkg_101);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = m.call("POST", "/api/v1/system/reboot", Some(&token), None);
    assert_eq!(r.status, 202);
    m.wait_for_console_count("init: stage2 start", 2, BOOT_TIMEOUT)
        .unwrap();
    m.wait_for_health(BOOT_TIMEOUT).unwrap();
    assert_eq!(m.health().running(), ("1.0.1", "B"));
    token = m.token(PASSWORD);

    // 1.0.2 never gets healthy: init restarts at the deadline, GRUB falls back to B.
    let r = m.upload(&token, &pkg_102);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let r = m.call("POST", "/api/v1/system/reboot", Some(&token), None);
    assert_eq!(r.status, 202);
    let asked = Instant::now();
    m.wait_for_console(
        "health deadline: the slot did not pass its health check",
        BOOT_TIMEOUT + Duration::from_secs(HEALTH_TIMEOUT),
    )
    .unwrap();
    m.report(
        "restart into 1.0.2 -> health deadline",
        format!("{:.1}s", asked.elapsed().as_secs_f64()),
    );
    // The third system of this machine: 1.0.1, 1.0.2, then 1.0.1 again.
    m.wait_for_console_count("init: stage2 start", 4, BOOT_TIMEOUT)
        .unwrap();
    m.wait_for_health(BOOT_TIMEOUT).unwrap();
    assert_eq!(m.health().running(), ("1.0.1", "B"));
    m.report(
        "restart into 1.0.2 -> back on 1.0.1",
        format!("{:.1}s", asked.elapsed().as_secs_f64()),
    );
    token = m.token(PASSWORD);
    let u = updates(&m, &token);
    let last = &u["rollback"];
    assert_eq!(last["version"], "1.0.2", "{u}");
    assert!(
        last["detail"]
            .as_str()
            .is_some_and(|d| d.contains("never passed the health check")),
        "{u}"
    );
    m.report("rollback", last["detail"].as_str().unwrap_or(""));
    assert_eq!(
        m.call("POST", "/api/v1/system/shutdown", Some(&token), None)
            .status,
        202
    );
    assert!(m.wait_exit(Duration::from_secs(120)).unwrap().success());
}

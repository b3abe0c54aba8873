//! Updates on the booted virtual appliance (the acceptance): 1.0.0 boots on slot A;
//! 1.0.1's update.pkg with one byte flipped is refused and health still says 1.0.0/A; the
//! real one is accepted and after a restart health says 1.0.1/B; then 1.0.2 is uploaded,
//! the power is cut, the first 4 MiB of `root-a` are zeroed, and the next boot comes up
//! 1.0.1/B with `GET /api/v1/updates` naming 1.0.2 and the rollback.
//!
//! Needs out/vm (1.0.0), out/vm-1.0.1 and out/vm-1.0.2 (tests/run builds them).

use appliance_tests::devices::{Firmware, Profile};
use appliance_tests::workdir::WorkDir;
use appliance_tests::Api;
use appliance_tests::{disk, Machine, MachineSpec};
use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

const BOOT_TIMEOUT: Duration = Duration::from_secs(300);

fn package(version: &str) -> PathBuf {
    let image = disk::built_image(&format!("vm-{version}")).unwrap();
    image.parent().unwrap().join("update.pkg")
}

#[test]
fn update_restart_then_rollback_from_a_wrecked_slot() {
    let pkg_101 = std::fs::read(package("1.0.1")).unwrap();
    let pkg_102 = std::fs::read(package("1.0.2")).unwrap();
    let base = disk::built_image("vm").unwrap();
    let work = WorkDir::new("update").unwrap();
    let overlay = work.path().join("disk.qcow2");
    disk::create_overlay(&base, &overlay).unwrap();
    let spec = MachineSpec {
        overlay: Some(overlay.clone()),
        no_reboot: false,
        ..MachineSpec::image(Profile::Vm, Firmware::Bios).unwrap()
    };
    let mut m = Machine::start(&spec).unwrap();
    m.wait_for_health(BOOT_TIMEOUT).unwrap();
    assert_eq!(m.health().running(), ("1.0.0", "A"));

    let token = m.first_login("update-secret-1");

    // One byte flipped in the middle of the package (inside the slot image): refused.
    let mut flipped = pkg_101.clone();
    let middle = flipped.len() / 2;
    flipped[middle] ^= 0x01;
    let r = m.upload(&token, &flipped);
    assert!((400..500).contains(&r.status), "status {}", r.status);
    m.report("flipped byte", r.value()["error"].clone());
    assert_eq!(m.health().running(), ("1.0.0", "A"));

    let started = std::time::Instant::now();
    let r = m.upload(&token, &pkg_101);
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.value()["slot"], "B");
    m.report(
        "upload + install of 1.0.1",
        format!(
            "{:.1}s for {} bytes",
            started.elapsed().as_secs_f64(),
            pkg_101.len()
        ),
    );
    assert_eq!(
        m.call("POST", "/api/v1/system/reboot", Some(&token), None)
            .status,
        202
    );
    m.wait_for_console_count("init: stage2 start", 2, BOOT_TIMEOUT)
        .unwrap();
    m.wait_for_health(BOOT_TIMEOUT).unwrap();
    assert_eq!(m.health().running(), ("1.0.1", "B"));
    let token = m.token("update-secret-1");
    let u = m.call("GET", "/api/v1/updates", Some(&token), None).value();
    assert_eq!(u["history"][0]["kind"], "activated", "{u}");

    // 1.0.2 into slot A, then the power is cut and slot A is wrecked on disk.
    let r = m.upload(&token, &pkg_102);
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.value()["slot"], "A");
    m.cut_power().unwrap();
    drop(m);
    let root_a = disk::partition(&base, "root-a").unwrap();
    let status = Command::new("qemu-io")
        .args(["-f", "qcow2", "-c"])
        .arg(format!("write -z {} 4M", root_a.offset))
        .arg(&overlay)
        .status()
        .unwrap();
    assert!(status.success(), "qemu-io could not zero root-a");

    let mut m = Machine::start(&spec).unwrap();
    m.wait_for_health(BOOT_TIMEOUT).unwrap();
    assert_eq!(m.health().running(), ("1.0.1", "B"));
    let token = m.token("update-secret-1");
    let u = m.call("GET", "/api/v1/updates", Some(&token), None).value();
    assert_eq!(u["rollback"]["version"], "1.0.2", "{u}");
    assert_eq!(u["rollback"]["kind"], "rolled_back");
    let why = u["rollback"]["detail"].as_str().unwrap();
    assert!(why.contains("could not be loaded"), "{why}");
    m.report("rollback reason", why);
    m.cut_power().unwrap();
}

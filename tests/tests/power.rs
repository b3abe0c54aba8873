//! A clean power-off leaves the data filesystem cleanly unmounted, and the next boot of the
//! same disk finds its settings (here: the HTTPS certificate's key) where it left them,
//! and the random seed the first boot saved ready in stage 1.

use appliance_tests::devices::{Firmware, Profile};
use appliance_tests::workdir::WorkDir;
use appliance_tests::{disk, Machine, MachineSpec};
use std::time::Duration;

const BOOT_TIMEOUT: Duration = Duration::from_secs(300);
const POWEROFF_TIMEOUT: Duration = Duration::from_secs(60);

/// Lines the kernel prints when ext4 had to recover an uncleanly unmounted filesystem.
const RECOVERY_SIGNS: [&str; 3] = ["recovery complete", "orphan", "was not cleanly unmounted"];
/// What the kernel prints when it mounts a FAT volume marked dirty.
const FAT_DIRTY: &str = "Volume was not properly unmounted";

#[test]
fn power_button_leaves_data_clean_and_state_survives() {
    let work = WorkDir::new("power").unwrap();
    let overlay = work.path().join("disk.qcow2");
    disk::create_overlay(&disk::built_image("box").unwrap(), &overlay).unwrap();
    let spec = MachineSpec {
        overlay: Some(overlay.clone()),
        ..MachineSpec::image(Profile::Box, Firmware::Uefi).unwrap()
    };

    // First boot: data is created, the certificate made; then the power button.
    let mut m = Machine::start(&spec).unwrap();
    let (_, t) = m.wait_for_health(BOOT_TIMEOUT).unwrap();
    m.report("first boot to health", format!("{:.1}s", t.as_secs_f64()));
    // Before mke2fs, stage 1 blocked for the kernel's generator (no seed yet, no RDRAND):
    // mke2fs's UUIDs then come at once, instead of after libuuid's 125 ms retries, 4 s
    // in all (init/src/stage1/data.rs).
    let console = m.console().text();
    let order = [
        "making ext4 (first boot)",
        "init: stage1: the kernel's random number generator is ready after",
        "mounted on /newroot/data",
    ]
    .map(|line| {
        console
            .find(line)
            .unwrap_or_else(|| panic!("{line:?}:\n{console}"))
    });
    assert!(order.is_sorted(), "{order:?}:\n{console}");
    let first_cert = m.get("/api/v1/health").unwrap().peer_cert;
    m.power_button().unwrap();
    assert!(m.wait_exit(POWEROFF_TIMEOUT).unwrap().success());
    drop(m);

    let raw = work.path().join("after.img");
    disk::raw_copy(&overlay, &raw).unwrap();
    let header = disk::ext4_header(&raw, "data").unwrap();
    // Saved once the kernel's generator was ready, for the next boot (init/src/seed.rs).
    let seed = disk::ext4_file(&raw, "data", "/random-seed").unwrap();
    assert_eq!(seed.len(), 32, "the random seed on data");
    // The NICs the settings keep up, for stage 1's early links (docs/boot.md): the
    // factory settings have the one NIC (QEMU's first MAC) up.
    let nics_up = disk::ext4_file(&raw, "data", "/etc/nics-up").unwrap();
    assert_eq!(String::from_utf8_lossy(&nics_up), "52:54:00:12:34:56\n");
    // The daemon mounts the ESP for grubenv around the time health answers; whatever it
    // was doing when the button came, the volume is left clean (docs/boot.md).
    assert!(!disk::fat_dirty(&raw, "ESP").unwrap(), "ESP left dirty");
    std::fs::remove_file(&raw).unwrap();
    let state = disk::filesystem_state(&header);
    eprintln!("[power] data filesystem state after power-off: {state:?}");
    assert_eq!(state, Some("clean"), "dumpe2fs -h of data:\n{header}");

    // Second boot of the same disk: no recovery, same certificate.
    let mut m = Machine::start(&spec).unwrap();
    let (_, t) = m.wait_for_health(BOOT_TIMEOUT).unwrap();
    m.report("second boot to health", format!("{:.1}s", t.as_secs_f64()));
    let console = m.console().text();
    // The seed made the kernel's generator ready in stage 1 (the emulated CPU has no
    // RDRAND: without it the generator is ready only seconds into stage 2).
    let stage2 = console.find("init: stage2 start").expect("stage 2 started");
    assert!(
        console[..stage2].contains("init: stage1: random seed from the last boot credited"),
        "no seed credited in stage 1:\n{console}"
    );
    assert!(
        console[..stage2].contains("random: crng init done"),
        "the generator was not ready before stage 2:\n{console}"
    );
    // A clean filesystem is mounted without e2fsck; the link listed in nics-up stays up.
    assert!(
        !console.contains("checking the data filesystem"),
        "{console}"
    );
    assert!(
        console[..stage2].contains("init: stage1: links up early: eth0"),
        "{console}"
    );
    for sign in RECOVERY_SIGNS.iter().chain(&[FAT_DIRTY]) {
        assert!(
            !console.contains(sign),
            "console of the second boot shows {sign:?}"
        );
    }
    // Same key (the certificate itself is re-issued when the DHCP address arrives).
    let pin = |c: Option<rustls::pki_types::CertificateDer<'static>>| {
        appliancectl::tls::fingerprint(c.expect("a certificate").as_ref())
    };
    assert_eq!(
        pin(m.get("/api/v1/health").unwrap().peer_cert),
        pin(first_cert)
    );
    m.power_button().unwrap();
    assert!(m.wait_exit(POWEROFF_TIMEOUT).unwrap().success());
    drop(m);

    // Third boot, with no NIC listed in nics-up (as if the settings kept every NIC down):
    // stage 1 takes the link it raised early down again; the daemon, whose settings here
    // are the factory ones, brings it up and writes the list anew.
    let raw = work.path().join("edited.img");
    disk::raw_copy(&overlay, &raw).unwrap();
    assert!(!disk::fat_dirty(&raw, "ESP").unwrap(), "ESP left dirty");
    disk::ext4_put(&raw, "data", "/etc/nics-up", b"").unwrap();
    let edited = work.path().join("edited.qcow2");
    disk::create_overlay(&raw, &edited).unwrap();
    let mut m = Machine::start(&MachineSpec {
        overlay: Some(edited.clone()),
        ..spec.clone()
    })
    .unwrap();
    m.wait_for_health(BOOT_TIMEOUT).unwrap();
    let console = m.console().text();
    assert!(
        console.contains(
            "init: stage1: links up early: none; taken down again, the settings keep them down: eth0"
        ),
        "{console}"
    );
    m.power_button().unwrap();
    assert!(m.wait_exit(POWEROFF_TIMEOUT).unwrap().success());
    drop(m);
    let after = work.path().join("edited-after.img");
    disk::raw_copy(&edited, &after).unwrap();
    let nics_up = disk::ext4_file(&after, "data", "/etc/nics-up").unwrap();
    assert_eq!(String::from_utf8_lossy(&nics_up), "52:54:00:12:34:56\n");
}

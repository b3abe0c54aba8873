//! The box's hardware watchdog (i6300esb) resets a hung system: the kernel is made to panic
//! without rebooting by itself (`panic=0`), and the machine must come back on its own.

use appliance_tests::devices::{Firmware, Profile};
use appliance_tests::workdir::WorkDir;
use appliance_tests::{disk, Machine, MachineSpec};
use std::time::{Duration, Instant};

#[test]
fn watchdog_resets_a_hung_box() {
    // mtools edits raw images only: a raw copy carries the extra kernel arguments.
    let work = WorkDir::new("watchdog").unwrap();
    let raw = work.path().join("disk.img");
    disk::raw_copy(&disk::built_image("box").unwrap(), &raw).unwrap();
    disk::set_extra_cmdline(&raw, "panic=0 sysrq_always_enabled").unwrap();
    assert_eq!(
        disk::read_grubenv(&raw).unwrap().get("EXTRA_CMDLINE"),
        Some("panic=0 sysrq_always_enabled")
    );

    let spec = MachineSpec {
        base_image: Some(raw),
        // A reset must restart the machine, not end QEMU.
        no_reboot: false,
        ..MachineSpec::image(Profile::Box, Firmware::Uefi).unwrap()
    };
    let mut m = Machine::start(&spec).unwrap();
    let (_, t) = m.wait_for_health(Duration::from_secs(300)).unwrap();
    m.report("boot to health", format!("{:.1}s", t.as_secs_f64()));
    let boots = m.console().count("Linux version");
    assert_eq!(boots, 1);
    assert!(
        m.console().text().contains("panic=0"),
        "EXTRA_CMDLINE reached the kernel"
    );

    m.qmp().send_keys(&["alt", "sysrq", "c"]).unwrap();
    m.wait_for_console("Kernel panic", Duration::from_secs(30))
        .unwrap();
    let hung = Instant::now();

    let ev = m
        .qmp()
        .wait_event("WATCHDOG", Duration::from_secs(180))
        .unwrap();
    m.report(
        "panic to watchdog",
        format!("{:.1}s", hung.elapsed().as_secs_f64()),
    );
    assert_eq!(ev.data["action"], "reset", "{ev:?}");
    m.qmp()
        .wait_event("RESET", Duration::from_secs(10))
        .unwrap();
    m.wait_for_console_count("Linux version", 2, Duration::from_secs(180))
        .unwrap();
    m.report(
        "panic to second kernel start",
        format!("{:.1}s", hung.elapsed().as_secs_f64()),
    );
    m.cut_power().unwrap();
}

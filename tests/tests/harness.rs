//! The harness itself, against QEMU with no disk: QMP handshake and commands, events,
//! serial capture of the firmware's output, power cut. Needs no built image.

use appliance_tests::devices::{Firmware, Profile};
use appliance_tests::{Machine, MachineSpec};
use std::time::Duration;

#[test]
fn qmp_and_serial_capture_work_with_seabios() {
    let mut m = Machine::start(&MachineSpec::diskless(Profile::Vm, Firmware::Bios)).unwrap();
    let greeting = m.qmp().greeting.clone();
    let major = greeting["version"]["qemu"]["major"].as_u64();
    assert!(major.is_some_and(|m| m >= 7), "{greeting}");
    assert_eq!(m.qmp().status().unwrap(), "running");

    let t = m
        .wait_for_console("SeaBIOS", Duration::from_secs(60))
        .unwrap();
    m.report("SeaBIOS banner after", format!("{t:.1?}"));

    // Unknown commands are errors carrying QEMU's class, not hangs.
    let err = m.qmp().execute("no-such-command", None).unwrap_err();
    assert!(err.to_string().contains("CommandNotFound"), "{err}");

    // The power button with no OS to answer it: QEMU reports the press as an event.
    m.power_button().unwrap();
    let ev = m
        .qmp()
        .wait_event("POWERDOWN", Duration::from_secs(10))
        .unwrap();
    assert_eq!(ev.name, "POWERDOWN");

    let status = m.cut_power().unwrap();
    assert!(status.success(), "QEMU exit status after quit: {status}");
    assert!(m.check_running().is_err());
}

#[test]
fn ovmf_boots_on_the_box_hardware_without_a_disk() {
    let mut m = Machine::start(&MachineSpec::diskless(Profile::Box, Firmware::Uefi)).unwrap();
    // With no disk OVMF ends in its boot manager; reaching it proves the pflash setup.
    let t = m
        .wait_for_console("BdsDxe", Duration::from_secs(120))
        .unwrap();
    m.report("OVMF boot manager after", format!("{t:.1?}"));
    m.cut_power().unwrap();
}

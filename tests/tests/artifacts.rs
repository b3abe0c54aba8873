//! The virtual appliance as customers receive it: the qcow2 a KVM host imports, and the
//! disk inside the OVA that VMware imports, each booted on its hypervisor's hardware to a
//! serving API.

use appliance_tests::devices::{Firmware, Profile};
use appliance_tests::{disk, Machine, MachineSpec};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const BOOT_TIMEOUT: Duration = Duration::from_secs(300);

fn artifact(dir: &Path, ext: &str) -> PathBuf {
    let found: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == ext))
        .collect();
    assert_eq!(found.len(), 1, "one .{ext} in {}: {found:?}", dir.display());
    found.into_iter().next().unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("appliance-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn boots_to_health(spec: &MachineSpec, what: &str) {
    let mut m = Machine::start(spec).unwrap();
    let (health, t) = m.wait_for_health(BOOT_TIMEOUT).unwrap();
    m.report(what, format!("health after {:.1}s", t.as_secs_f64()));
    assert_eq!(health.status, "ok");
    assert_eq!(health.profile, "vm");
    assert_eq!(health.slot, "A");
}

#[test]
fn qcow2_and_ova_disk_boot_to_health() {
    let out = disk::built_image("vm").unwrap();
    let out = out.parent().unwrap();
    let work = scratch("artifacts");

    // The qcow2 itself is the disk (a copy: the guest writes to it), on virtio hardware.
    let qcow2 = work.join("appliance.qcow2");
    std::fs::copy(artifact(out, "qcow2"), &qcow2).unwrap();
    boots_to_health(
        &MachineSpec {
            base_image: None,
            overlay: Some(qcow2),
            ..MachineSpec::diskless(Profile::Virtio, Firmware::Bios)
        },
        "qcow2 on virtio",
    );

    // The VMDK out of the OVA, converted back to raw, on VMware hardware.
    let status = Command::new("tar")
        .arg("-C")
        .arg(&work)
        .arg("-xf")
        .arg(artifact(out, "ova"))
        .status()
        .unwrap();
    assert!(status.success(), "tar could not unpack the OVA");
    let raw = work.join("from-ova.img");
    disk::raw_copy(&artifact(&work, "vmdk"), &raw).unwrap();
    boots_to_health(
        &MachineSpec {
            base_image: Some(raw),
            ..MachineSpec::diskless(Profile::Vm, Firmware::Bios)
        },
        "OVA disk as VMware",
    );
    std::fs::remove_dir_all(&work).unwrap();
}

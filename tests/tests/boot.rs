//! Each machine profile boots the built image to a serving API, marks its slot good, and
//! powers off by itself when the power button is pressed: what an operator sees when they
//! install the appliance on that hardware and shut it down.

use appliance_tests::devices::{Firmware, Profile};
use appliance_tests::{disk, https, Machine, MachineSpec};
use std::time::{Duration, Instant};

/// Under TCG with two QEMUs sharing two cores; the figures printed show the real times.
const BOOT_TIMEOUT: Duration = Duration::from_secs(300);
const POWEROFF_TIMEOUT: Duration = Duration::from_secs(60);

/// PCI classes in init's "disk controllers left without a driver" line.
const IDE: &str = "bc01sc01";
const AHCI: &str = "bc01sc06";

/// `unused`: the chipset disk controller the machine has beside its disk's, which stage 1
/// leaves without a driver (docs/boot.md), if any.
fn boots_serves_and_powers_off(profile: Profile, firmware: Firmware, unused: Option<&str>) {
    let spec = MachineSpec {
        serial_input: true,
        ..MachineSpec::image(profile, firmware).unwrap()
    };
    let mut m = Machine::start(&spec).unwrap();

    let (health, t) = m.wait_for_health(BOOT_TIMEOUT).unwrap();
    m.report("boot to health", format!("{:.1}s", t.as_secs_f64()));
    assert_eq!(health.status, "ok");
    assert_eq!(health.profile, profile.image_profile());
    assert_eq!(health.slot, "A");
    assert_eq!(health.version, env!("CARGO_PKG_VERSION"));

    let r = m.get("/api/v1/no-such-thing").unwrap();
    assert_eq!(r.status, 404);
    assert_eq!(r.json().unwrap()["error"], "not_found");

    // Port 80 sends browsers to HTTPS, same host, same path.
    let r = https::get_plain(m.http, "/appliance?tab=network", Duration::from_secs(10)).unwrap();
    assert_eq!(r.status, 301);
    assert_eq!(
        r.header("location"),
        Some("https://127.0.0.1/appliance?tab=network")
    );

    // The console tells an administrator where the admin interface is (QEMU's user network
    // leases 10.0.2.15).
    m.wait_for_console(
        "Admin interface: https://10.0.2.15/appliance",
        Duration::from_secs(30),
    )
    .unwrap();
    if firmware == Firmware::Bios {
        // The same lines on the screen (VMware's console window, the box's monitor), which
        // shows the kernel's messages but is not /dev/console (crate `screen`); init's
        // routine lines stay off it.
        let screen = m.vga_text().unwrap();
        for line in [
            "Admin interface: https://10.0.2.15/appliance",
            "HTTPS certificate public key SHA-256: ",
        ] {
            assert!(
                screen.contains(line),
                "{line:?} not on the screen: {screen}"
            );
        }
        assert!(!screen.contains("init: stage1 start"), "{screen}");
    }
    // Stage 1 left the initramfs's deletion to a child at the lowest priority
    // (init/src/stage1/switch_root.rs); it ends once the CPU has time for it.
    m.wait_for_console(
        "stage1: initramfs freed (in the background)",
        Duration::from_secs(60),
    )
    .unwrap();

    // Stage 1 raised the NIC's link as soon as its driver was loaded, and gave no driver
    // to a chipset disk controller the disk is not on.
    let console = m.console().text();
    let says = |line: &str, said: bool| {
        assert_eq!(
            console.contains(line),
            said,
            "{line:?}\n{}",
            m.console().tail(60)
        );
    };
    says("stage1: links up early: eth0", true);
    // Every driver probed in the background while others loaded; evdev, loaded last
    // without async_probe, waited for them, so the i6300esb of every test machine had
    // its device when stage 1 looked for a watchdog: no softdog (docs/boot.md).
    says(
        "stage1: evdev loaded once every driver's probing had ended",
        true,
    );
    says("using softdog", false);
    // Modules for CPU features the machine lacks (QEMU's default CPU has no SSE4.2 for
    // crc32c_intel) are left out instead of failing after a whole load (docs/boot.md).
    says(
        "stage1: module crc32c_intel left out: the CPU lacks the features it is for",
        true,
    );
    says("did not load: ENODEV", false);
    // init's lines reach dmesg too: the kernel's limit of 10 lines per 5 s for a writer
    // of /dev/kmsg is off (init/src/log.rs).
    says("output lines suppressed due to ratelimiting", false);
    says("init: watchdog: /dev/watchdog0 armed", true);
    if firmware == Firmware::Uefi {
        // GRUB asked for a 32-bit framebuffer, which the kernel's console draws on its
        // fast path (OVMF hands over 24 bits; grub.cfg, docs/boot.md).
        says("efifb: mode is 800x600x32", true);
    }
    if profile == Profile::Box {
        // The kernel command line's module option reached the driver (docs/boot.md):
        // e1000e on MSI, so the emulated 82574 reports its link at once.
        says(
            "stage1: module e1000e with options from the kernel command line: IntMode=1",
            true,
        );
        says("Interrupt Mode set to 1", true);
    }
    let held = console
        .lines()
        .find(|l| l.contains("disk controllers left without a driver"));
    match unused {
        Some(class) => {
            let line = held.unwrap_or_else(|| panic!("no controller left without a driver"));
            assert!(line.contains(class), "{line}");
            // The disk's own controller has its driver.
            if class == IDE {
                assert!(!line.contains(AHCI), "{line}");
            }
        }
        None => assert_eq!(held, None),
    }

    // The daemon marks the slot good right after it serves; give it a moment to finish.
    m.wait_for_console("slot A marked good", Duration::from_secs(60))
        .unwrap();

    // Ctrl-S (XOFF) on the serial console, from an administrator's terminal or a console
    // server, must not stop it: init turned the port's XON/XOFF flow control off, so the
    // character is echoed like any other, and so is what is typed after it (with it on,
    // the port would stay silent, and once 4 KiB of lines had waited there, init and the
    // daemon would block on their next line: no power-off below).
    m.type_on_serial(b"\x13").unwrap();
    std::thread::sleep(Duration::from_millis(300));
    let line = |i: usize| format!("typed on the serial console after Ctrl-S, line {i:02} of 40");
    for i in 1..=40 {
        m.type_on_serial(format!("{}\r", line(i)).as_bytes())
            .unwrap();
    }
    m.wait_for_console(&line(40), Duration::from_secs(30))
        .unwrap();
    assert!(m.console().text().contains("^S"), "{}", m.console().tail(5));

    // Scroll Lock stops the screen's output (the kernel's keyboard handler); init and the
    // daemon write some lines there, and must not wait for it to start again.
    m.qmp().send_keys(&["scroll_lock"]).unwrap();
    std::thread::sleep(Duration::from_millis(500));
    let pressed = Instant::now();
    m.power_button().unwrap();
    let status = m.wait_exit(POWEROFF_TIMEOUT).unwrap();
    m.report(
        "power button to QEMU exit",
        format!("{:.1}s", pressed.elapsed().as_secs_f64()),
    );
    assert!(status.success(), "QEMU exit status {status}");
    let console = m.console().text();
    for line in [
        "init: shutdown requested by power button: power off",
        "init: power off now",
    ] {
        assert!(console.contains(line), "{line:?}\n{}", m.console().tail(40));
    }
    let shutdown = m
        .qmp()
        .events()
        .iter()
        .find(|e| e.name == "SHUTDOWN")
        .cloned();
    let shutdown = shutdown.expect("QEMU reported a SHUTDOWN event");
    assert_eq!(shutdown.data["guest"], true, "{shutdown:?}");

    // GRUB set A_TRY=1 for this boot; the daemon's health gate set it back to 0.
    let raw = m.dir().join("after.img");
    disk::raw_copy(m.overlay.as_ref().unwrap(), &raw).unwrap();
    let env = disk::read_grubenv(&raw).unwrap();
    assert_eq!(env.get("A_OK"), Some("1"));
    assert_eq!(
        env.get("A_TRY"),
        Some("0"),
        "slot A still on trial: {env:?}"
    );
}

#[test]
fn box_under_ovmf() {
    // q35: the disk is on the chipset's AHCI.
    boots_serves_and_powers_off(Profile::Box, Firmware::Uefi, None);
}

#[test]
fn vm_as_vmware_under_seabios() {
    // pc: PVSCSI disk, PIIX IDE unused.
    boots_serves_and_powers_off(Profile::Vm, Firmware::Bios, Some(IDE));
}

#[test]
fn vm_as_vmware_under_ovmf() {
    // pc with a SATA controller for the disk (qemu/profiles/vm.sh), PIIX IDE unused.
    boots_serves_and_powers_off(Profile::Vm, Firmware::Uefi, Some(IDE));
}

#[test]
fn vm_on_virtio() {
    // q35 with a virtio disk: the chipset's AHCI unused.
    boots_serves_and_powers_off(Profile::Virtio, Firmware::Bios, Some(AHCI));
}

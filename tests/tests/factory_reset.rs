//! Factory reset on the booted virtual appliance, as an administrator shipping a box back
//! would do it: the appliance in use (password changed, settings with canary values, 1.0.1
//! installed by upload and running from slot B), the reset requested through the API with
//! power off, QEMU ending by itself, no canary left anywhere on the raw disk, and the
//! factory 1.0.0 on slot A answering admin/password with a new identity and the
//! sanitization record.
//! A second scenario cuts the power at several points of the reset and checks that each
//! next boot resumes it until it completes.

use appliance_tests::devices::{Firmware, Profile};
use appliance_tests::https::Response;
use appliance_tests::workdir::WorkDir;
use appliance_tests::Api;
use appliance_tests::{disk, scan, Machine, MachineSpec};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use std::path::Path;
use std::time::{Duration, Instant};

const BOOT_TIMEOUT: Duration = Duration::from_secs(300);
const RESET_TIMEOUT: Duration = Duration::from_secs(900);
/// 9 GiB disk: the data partition grows to a little over 8 GiB at the first boot.
const DISK_BYTES: u64 = 9 << 30;
const PASSWORD: &str = "shipped-back-1";
/// Security policy values unlikely anywhere else on a disk.
const POLICY: &str = r#"{"max_failed_logins":7,"lockout_seconds":86371,"session_idle_seconds":86353,"session_max_seconds":604777}"#;
const NTP_CANARY: &str = "ntp-canary-5c2e91d7.example.net";

/// The reset request, with the admin password given again (every machine here has
/// [`PASSWORD`]).
fn reset(m: &Machine, token: &str, body: &str) -> Response {
    m.confirmed(
        "POST",
        "/api/v1/system/factory-reset",
        token,
        PASSWORD,
        Some(body),
    )
}

/// What the raw disk holds of each canary.
fn scan_canaries(work: &WorkDir, overlay: &Path, canaries: &[(&str, Vec<u8>)]) -> Vec<scan::Hit> {
    let raw = work.path().join("scan.img");
    disk::raw_copy(overlay, &raw).unwrap();
    let needles: Vec<(&str, &[u8])> = canaries.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    let start = Instant::now();
    let hits = scan::find(&raw, &needles, 4).unwrap();
    eprintln!(
        "[factory-reset] scanned {} ({} GiB) in {:.1} s: {} hit(s)",
        raw.display(),
        std::fs::metadata(&raw).unwrap().len() >> 30,
        start.elapsed().as_secs_f64(),
        hits.len()
    );
    std::fs::remove_file(&raw).unwrap();
    hits
}

/// Seconds in init's `factory reset: done in X s` line.
fn reset_seconds(console: &str) -> Option<f64> {
    let line = console
        .lines()
        .find(|l| l.contains("factory reset: done in "))?;
    let rest = line.split("done in ").nth(1)?;
    rest.split(' ').next()?.parse().ok()
}

/// init's wipe summary lines (`... MiB wiped in S s (R MiB/s) with M`).
fn wipe_lines(console: &str) -> Vec<String> {
    console
        .lines()
        .filter(|l| l.contains("init: factory reset:") && l.contains(" wiped in "))
        .map(|l| l.trim().to_string())
        .collect()
}

#[test]
fn factory_reset_with_power_off_leaves_no_canary_and_the_factory_system() {
    let work = WorkDir::new("factory-reset").unwrap();
    let overlay = work.path().join("disk.qcow2");
    disk::create_overlay(&disk::built_image("vm").unwrap(), &overlay).unwrap();
    disk::resize(&overlay, DISK_BYTES).unwrap();
    let package_101 = std::fs::read(
        disk::built_image("vm-1.0.1")
            .unwrap()
            .with_file_name("update.pkg"),
    )
    .unwrap();
    let spec = MachineSpec {
        overlay: Some(overlay.clone()),
        no_reboot: false,
        ..MachineSpec::image(Profile::Vm, Firmware::Bios).unwrap()
    };

    // The appliance in use: password changed, settings, NTP server, and 1.0.1 installed
    // through the updater (it starts from slot B at the next boot).
    let mut m = Machine::start(&spec).unwrap();
    let (health, t) = m.wait_for_health(BOOT_TIMEOUT).unwrap();
    m.report("first boot to health", format!("{:.1}s", t.as_secs_f64()));
    assert_eq!(
        (health.slot.as_str(), health.version.as_str()),
        ("A", "1.0.0")
    );
    let token = m.first_login(PASSWORD);
    let r = m.upload(&token, &package_101);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let status = m.call("GET", "/api/v1/status", Some(&token), None).value();
    let old_id = status["appliance_id"].as_str().unwrap().to_string();
    let old_cert = m.get("/api/v1/health").unwrap().peer_cert.unwrap().to_vec();
    let r = m.call("PUT", "/api/v1/security/policy", Some(&token), Some(POLICY));
    assert_eq!(r.status, 200);
    let body = format!(r#"{{"servers":["{NTP_CANARY}"]}}"#);
    let ntp = m.call("PUT", "/api/v1/time", Some(&token), Some(&body));
    assert_eq!(ntp.status, 200, "{}", String::from_utf8_lossy(&ntp.body));

    // Bad input: refused, and nothing is started.
    for body in [
        "{}",
        r#"{"confirm":"yes"}"#,
        r#"{"confirm":"factory-reset","then":"halt"}"#,
    ] {
        let r = reset(&m, &token, body);
        assert_eq!(r.status, 422, "{body}");
    }
    let r = reset(&m, &token, r#"{"then":"poweroff"}"#);
    assert_eq!(r.value()["error"], "confirmation_required");
    assert_eq!(
        m.get("/api/v1/health").unwrap().status,
        200,
        "still running"
    );

    // A clean power-off puts everything on the disk: every canary must be found there.
    let canaries: Vec<(&str, Vec<u8>)> = vec![
        ("appliance id", old_id.clone().into_bytes()),
        ("security policy", br#""lockout_seconds":86371"#.to_vec()),
        (
            "audit detail",
            b"for 86371 s; sessions 86353 s idle".to_vec(),
        ),
        ("password hash", b"$argon2id$".to_vec()),
        ("TLS private key", b"-----BEGIN PRIVATE KEY-----".to_vec()),
        // A line of the PEM file's base64 body.
        (
            "TLS certificate",
            BASE64.encode(&old_cert[..48]).into_bytes(),
        ),
        ("NTP server", NTP_CANARY.as_bytes().to_vec()),
    ];
    assert_eq!(
        m.call("POST", "/api/v1/system/shutdown", Some(&token), None)
            .status,
        202
    );
    assert!(m.wait_exit(Duration::from_secs(120)).unwrap().success());
    drop(m);
    let before = scan_canaries(&work, &overlay, &canaries);
    for (name, _) in &canaries {
        assert!(
            before.iter().any(|h| h.needle == *name),
            "the canary {name:?} is not on the disk before the reset: the scan proves nothing"
        );
    }

    // 1.0.1 starts from slot B; then the reset, with power off: QEMU ends by itself.
    let mut m = Machine::start(&spec).unwrap();
    let (health, _) = m.wait_for_health(BOOT_TIMEOUT).unwrap();
    assert_eq!(
        (health.slot.as_str(), health.version.as_str()),
        ("B", "1.0.1")
    );
    let token = m.token(PASSWORD);
    let asked = Instant::now();
    let r = reset(&m, &token, r#"{"confirm":"factory-reset"}"#);
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.value()["then"], "poweroff");
    m.wait_for_console("init: factory reset: wiping data", BOOT_TIMEOUT)
        .unwrap();
    let exit = m.wait_exit(RESET_TIMEOUT).unwrap();
    assert!(exit.success(), "{exit:?}");
    let console = m.console().text();
    let done = console
        .find("init: factory reset: done")
        .expect("reset done");
    let off = console.rfind("init: power off now").expect("powered off");
    assert!(off > done, "powered off after the reset");
    m.report(
        "reset requested -> QEMU off",
        format!("{:.1}s", asked.elapsed().as_secs_f64()),
    );
    m.report(
        "reset in stage 1 (8 GiB data)",
        format!("{:.1}s", reset_seconds(&console).unwrap_or(f64::NAN)),
    );
    for l in wipe_lines(&console) {
        m.report("wipe", l);
    }
    drop(m);

    // The disk: not one canary; a new disk's boot state; slot B empty, slot A factory.
    let after = scan_canaries(&work, &overlay, &canaries);
    assert!(
        after.is_empty(),
        "customer data left on the disk: {after:?}"
    );
    // For the record, not the guest's business: what the host's qcow2 file still holds
    // (freed clusters are not reclaimed without discard=unmap).
    let needles: Vec<(&str, &[u8])> = canaries.iter().map(|(n, b)| (*n, b.as_slice())).collect();
    let in_file = scan::find(&overlay, &needles, 4).unwrap();
    eprintln!(
        "[factory-reset] the host's qcow2 file still holds {} canary hit(s) the guest can no longer read: {:?}",
        in_file.len(),
        in_file.iter().map(|h| h.needle.as_str()).collect::<Vec<_>>()
    );
    let raw = work.path().join("after.img");
    disk::raw_copy(&overlay, &raw).unwrap();
    let env = disk::read_grubenv(&raw).unwrap();
    for (k, v) in [
        ("ORDER", "A B"),
        ("A_OK", "1"),
        ("A_TRY", "0"),
        ("B_OK", "0"),
    ] {
        assert_eq!(env.get(k), Some(v), "{k}");
    }
    for k in ["FACTORY_RESET", "RESET_STAGE", "RESET_WIPED", "TRY_RESET"] {
        assert_eq!(env.get(k), None, "{k} left in grubenv");
    }
    let slot_b = disk::read_partition(&raw, "root-b", None).unwrap();
    assert!(slot_b.iter().all(|&b| b == 0), "slot B is not empty");
    let record: serde_json::Value =
        serde_json::from_slice(&disk::ext4_file(&raw, "data", "/sanitization.json").unwrap())
            .unwrap();
    let factory_bytes = record["factory_bytes"].as_u64().unwrap();
    assert!(factory_bytes > 0);
    assert_eq!(
        disk::read_partition(&raw, "root-a", Some(factory_bytes)).unwrap(),
        disk::read_partition(&raw, "factory", Some(factory_bytes)).unwrap(),
        "slot A is the factory image"
    );
    let data = disk::partition(&raw, "data").unwrap();
    assert_eq!(record["bytes"].as_u64(), Some(data.size));
    assert!(data.size > 8 << 30, "data was {} bytes", data.size);
    assert_eq!(record["interruptions"], 0);
    assert_eq!(record["factory_version"], "1.0.0");
    assert_eq!(record["then"], "poweroff");
    assert!(record["started"].as_str() <= record["finished"].as_str());
    std::fs::remove_file(&raw).unwrap();

    // The factory system: 1.0.0 on slot A, admin/password, a new identity and certificate.
    let mut m = Machine::start(&spec).unwrap();
    let (health, t) = m.wait_for_health(BOOT_TIMEOUT).unwrap();
    m.report("boot after the reset", format!("{:.1}s", t.as_secs_f64()));
    assert_eq!(
        (health.slot.as_str(), health.version.as_str()),
        ("A", "1.0.0")
    );
    assert_eq!(m.login(PASSWORD).status, 401, "the old password is gone");
    let token = m.first_login(PASSWORD);
    let status = m.call("GET", "/api/v1/status", Some(&token), None).value();
    assert_ne!(status["appliance_id"].as_str(), Some(old_id.as_str()));
    let s = &status["sanitization"];
    assert_eq!(s["bytes"].as_u64(), Some(data.size));
    assert_eq!(s["method"], record["method"]);
    assert_eq!(s["device"], record["device"]);
    assert_eq!(s["started"], record["started"]);
    let cert = m.get("/api/v1/health").unwrap().peer_cert.unwrap().to_vec();
    assert_ne!(cert, old_cert, "a new self-signed certificate");
    let policy = m
        .call("GET", "/api/v1/security/policy", Some(&token), None)
        .value();
    assert_eq!(policy["lockout_seconds"], 900, "factory policy");
    m.report("sanitization record", s);
    assert_eq!(
        m.call("POST", "/api/v1/system/shutdown", Some(&token), None)
            .status,
        202
    );
    assert!(m.wait_exit(Duration::from_secs(120)).unwrap().success());
}

#[test]
fn power_cuts_during_the_reset_resume_it_to_the_end() {
    let work = WorkDir::new("reset-power-cut").unwrap();
    let overlay = work.path().join("disk.qcow2");
    disk::create_overlay(&disk::built_image("vm").unwrap(), &overlay).unwrap();
    disk::resize(&overlay, DISK_BYTES).unwrap();
    // Under OVMF the VMware VM has a SATA disk: no write-zeroes command, so the kernel
    // writes every zero and the wipe takes long enough to be cut.
    let spec = MachineSpec {
        overlay: Some(overlay.clone()),
        no_reboot: false,
        ..MachineSpec::image(Profile::Vm, Firmware::Uefi).unwrap()
    };
    let mut m = Machine::start(&spec).unwrap();
    m.wait_for_health(BOOT_TIMEOUT).unwrap();
    let token = m.first_login(PASSWORD);
    let r = reset(&m, &token, r#"{"confirm":"factory-reset","then":"reboot"}"#);
    assert_eq!(r.status, 202);

    // Power cuts in the wipe, in the slots and in the data filesystem; each next boot
    // resumes where grubenv says.
    let cut = |m: &mut Machine, at: &str| {
        m.wait_for_console(at, BOOT_TIMEOUT).unwrap();
        m.cut_power().unwrap();
        m.report("power cut", format!("at {at:?}"));
    };
    let resume = |stage: &str| {
        let mut m = Machine::start(&spec).unwrap();
        m.wait_for_console(&format!("resuming at the {stage} stage"), BOOT_TIMEOUT)
            .unwrap();
        m
    };
    cut(&mut m, "init: factory reset: data: wiped 30%");
    let mut m = resume("wipe");
    cut(&mut m, "init: factory reset: data: wiped 70%");
    let mut m = resume("wipe");
    cut(&mut m, "init: factory reset: clearing slot B");
    // No slot is bootable while the slots are rewritten: GRUB boots the factory image,
    // whose stage 1 carries on.
    let mut m = resume("slots");
    assert!(m.console().text().contains("booting the factory image"));
    cut(&mut m, "init: factory reset: making the data filesystem");
    drop(m);

    // The last boot completes the reset, restarts, and the factory system comes up.
    // (The last cut may land after the record was written: then this boot is already a
    // normal one.)
    let mut m = Machine::start(&spec).unwrap();
    let (health, _) = m.wait_for_health(RESET_TIMEOUT).unwrap();
    let console = m.console().text();
    m.report(
        "last boot resumed the reset",
        console.contains("init: factory reset: done"),
    );
    assert_eq!(
        (health.slot.as_str(), health.version.as_str()),
        ("A", "1.0.0")
    );
    let token = m.first_login(PASSWORD);
    let status = m.call("GET", "/api/v1/status", Some(&token), None).value();
    let s = &status["sanitization"];
    m.report("sanitization record", s);
    assert!(
        s["interruptions"].as_u64().unwrap() >= 3,
        "the record counts the interrupted attempts: {s}"
    );
    assert_eq!(s["then"], "reboot");
    m.power_button().unwrap();
    assert!(m.wait_exit(Duration::from_secs(120)).unwrap().success());
}

/// Press or release a key through QMP (a PS/2 keyboard event).
fn key(m: &mut Machine, qcode: &str, down: bool) {
    let event = serde_json::json!({"events": [
        {"type": "key", "data": {"down": down, "key": {"type": "qcode", "data": qcode}}}
    ]});
    m.qmp().execute("input-send-event", Some(event)).unwrap();
}

/// Type `text` and Enter, a key at a time: the keyboard's queue is short.
fn type_text(m: &mut Machine, text: &str) {
    for c in text.chars() {
        let qcode = match c {
            '-' => "minus".to_string(),
            c => c.to_string(),
        };
        m.qmp().send_keys(&[&qcode]).unwrap();
        std::thread::sleep(Duration::from_millis(150));
    }
    m.qmp().send_keys(&["ret"]).unwrap();
}

#[test]
fn grub_menu_entry_resets_from_the_console_bios() {
    grub_menu_entry_resets_from_the_console(Firmware::Bios);
}

#[test]
fn grub_menu_entry_resets_from_the_console_uefi() {
    grub_menu_entry_resets_from_the_console(Firmware::Uefi);
}

/// The console path for an appliance whose password is lost: Shift held (BIOS) or Esc
/// pressed (UEFI) as the appliance starts shows GRUB's menu; its factory reset entry asks
/// for the word (a wrong one changes nothing), then the reset runs and the appliance
/// powers off.
fn grub_menu_entry_resets_from_the_console(firmware: Firmware) {
    let spec = MachineSpec {
        no_reboot: false,
        ..MachineSpec::image(Profile::Vm, firmware).unwrap()
    };
    let mut m = Machine::start(&spec).unwrap();
    // BIOS: Shift held from power-on. UEFI (GRUB sees no modifier alone there): Esc
    // pressed repeatedly once the firmware starts the boot loader.
    let (hold, handed_over) = match firmware {
        Firmware::Bios => ("shift", "SeaBIOS"),
        Firmware::Uefi => ("esc", "BdsDxe: starting"),
    };
    m.wait_for_console(handed_over, BOOT_TIMEOUT).unwrap();
    let entry = "Factory reset (erases all settings and data)";
    let start = Instant::now();
    while !m.console().text().contains(entry) {
        assert!(
            start.elapsed() < Duration::from_secs(120),
            "GRUB's menu did not appear with {hold}; console:\n{}",
            m.console().tail(20)
        );
        key(&mut m, hold, true);
        if hold == "esc" {
            key(&mut m, hold, false);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    key(&mut m, hold, false);
    let choose_entry = |m: &mut Machine| {
        for key in ["down", "down", "down", "ret"] {
            m.qmp().send_keys(&[key]).unwrap();
            std::thread::sleep(Duration::from_millis(150));
        }
    };
    choose_entry(&mut m);
    m.wait_for_console(
        "Type factory-reset and press Enter",
        Duration::from_secs(30),
    )
    .unwrap();
    type_text(&mut m, "factory");
    m.wait_for_console("Cancelled: nothing was changed.", Duration::from_secs(30))
        .unwrap();
    // Back at the menu after a few seconds; this time with the word.
    std::thread::sleep(Duration::from_secs(5));
    choose_entry(&mut m);
    m.wait_for_console_count(
        "Type factory-reset and press Enter",
        2,
        Duration::from_secs(30),
    )
    .unwrap();
    type_text(&mut m, "factory-reset");
    m.wait_for_console(
        "init: factory reset: starting (then poweroff)",
        BOOT_TIMEOUT,
    )
    .unwrap();
    assert!(m.wait_exit(RESET_TIMEOUT).unwrap().success());
    let console = m.console().text();
    assert!(console.contains("init: factory reset: done"));
    assert!(
        !console.contains("init: stage2 start"),
        "the cancelled attempt must not have booted on"
    );
}

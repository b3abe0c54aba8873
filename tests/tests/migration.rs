//! Moving to new hardware, as the upgrade guide describes it, on the real images: a **box**
//! in use (admin password changed, security policy, time server, an imported certificate,
//! network settings naming its NIC) downloads a backup; a fresh **vm** (another NIC, another
//! MAC) restores it. The power is cut at a random moment of a first restore: the next boot
//! has either all of the vm's settings or all of the box's, never a mix. The restore done
//! whole, the admin logs in with the box's password, the box's certificate is served and
//! the network settings, whose NIC is not on this machine, give way to the factory defaults
//! with a note saying so. And back: the vm's backup restored on a fresh box with the first
//! box's NIC puts the same settings, certificate and network settings in force there.

use appliance_tests::devices::{Firmware, Profile};
use appliance_tests::https::{self, Trust};
use appliance_tests::workdir::WorkDir;
use appliance_tests::{Api, Machine, MachineSpec};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

const BOOT_TIMEOUT: Duration = Duration::from_secs(300);
const BOX_PASSWORD: &str = "box-admin-pass-1";
const VM_PASSWORD: &str = "vm-admin-pass-1";
const BACKUP_PASSWORD: &str = "moving day 2026";
const BOX_POLICY: &str = r#"{"max_failed_logins":6,"lockout_seconds":600,"session_idle_seconds":1200,"session_max_seconds":7200}"#;
const VM_POLICY: &str = r#"{"max_failed_logins":9,"lockout_seconds":300,"session_idle_seconds":900,"session_max_seconds":3600}"#;
/// The vm's NIC: not the box's (QEMU's first MAC).
const VM_MAC: &str = "52:54:00:0a:0b:0c";

/// A certificate and key made with openssl, as an administrator brings them.
fn certificate(dir: &Path) -> (String, String) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt"])
        .args(["ec_paramgen_curve:P-256", "-nodes", "-days", "30"])
        .args(["-subj", "/CN=support.example.com"])
        .args(["-addext", "subjectAltName=DNS:support.example.com"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl (Debian's openssl package) makes the certificate");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (
        std::fs::read_to_string(cert).unwrap(),
        std::fs::read_to_string(key).unwrap(),
    )
}

fn ok(r: &https::Response) -> Value {
    assert!(
        (200..300).contains(&r.status),
        "{}: {}",
        r.status,
        String::from_utf8_lossy(&r.body)
    );
    r.value()
}

fn restore_request(https: SocketAddr, token: &str, file: &[u8]) -> anyhow::Result<https::Response> {
    let auth = format!("Bearer {token}");
    https::request(
        https,
        "POST",
        "/api/v1/backup/restore",
        &[("Authorization", &auth), ("X-Password", BACKUP_PASSWORD)],
        file,
        &Trust::Any,
        Duration::from_secs(300),
    )
}

/// The settings a restore replaces, as one value to compare.
fn service_settings(m: &Machine, token: &str) -> Value {
    json!({
        "policy": ok(&m.call("GET", "/api/v1/security/policy", Some(token), None)),
        "time servers": ok(&m.call("GET", "/api/v1/time", Some(token), None))["servers"],
        "certificate": ok(&m.call("GET", "/api/v1/tls", Some(token), None))["certificate_sha256"],
    })
}

/// A pseudo-random delay below `max` (the moment of the power cut), printed so that a
/// failure can be replayed.
fn random_delay(max: Duration) -> Duration {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    max.mul_f64(f64::from(nanos % 1000) / 1000.0)
}

#[test]
fn a_box_backup_restored_on_a_vm_brings_its_password_and_certificate() {
    let work = WorkDir::new("migration").unwrap();
    let (cert_pem, key_pem) = certificate(work.path());

    // The box in use.
    let mut boxm =
        Machine::start(&MachineSpec::image(Profile::Box, Firmware::Uefi).unwrap()).unwrap();
    boxm.wait_for_health(BOOT_TIMEOUT).unwrap();
    let token = boxm.first_login(BOX_PASSWORD);
    ok(&boxm.call(
        "PUT",
        "/api/v1/security/policy",
        Some(&token),
        Some(BOX_POLICY),
    ));
    ok(&boxm.call(
        "PUT",
        "/api/v1/time",
        Some(&token),
        Some(r#"{"servers":["ntp.box.example.net"]}"#),
    ));
    let install = json!({"certificate": cert_pem, "key": key_pem}).to_string();
    let tls = ok(&boxm.confirmed(
        "PUT",
        "/api/v1/tls/certificate",
        &token,
        BOX_PASSWORD,
        Some(&install),
    ));
    assert_ne!(tls["certificate_sha256"], Value::Null, "{tls}");
    // Network settings of its own NIC, kept once confirmed.
    let net = ok(&boxm.call("GET", "/api/v1/network", Some(&token), None));
    let mut config = net["config"].clone();
    config["dns"]["servers"] = json!(["10.0.2.3"]);
    let changed = ok(&boxm.call(
        "PUT",
        "/api/v1/network",
        Some(&token),
        Some(&config.to_string()),
    ));
    // A change that could cut the caller off waits for a confirmation.
    if !changed["pending"].is_null() {
        ok(&boxm.call("POST", "/api/v1/network/confirm", Some(&token), None));
    }
    let box_mac = config["interfaces"][0]["mac"].as_str().unwrap().to_string();
    assert_ne!(box_mac, VM_MAC);

    let started = Instant::now();
    let r = boxm.call(
        "POST",
        "/api/v1/backup",
        Some(&token),
        Some(&json!({"password": BACKUP_PASSWORD}).to_string()),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let file = r.body.clone();
    boxm.report(
        "backup downloaded",
        format!(
            "{} bytes in {:.1}s",
            file.len(),
            started.elapsed().as_secs_f64()
        ),
    );
    let box_settings = service_settings(&boxm, &token);
    drop(boxm);

    // A fresh vm on other hardware: its own password and policy first.
    let overlay = work.path().join("vm.qcow2");
    appliance_tests::disk::create_overlay(
        &appliance_tests::disk::built_image("vm").unwrap(),
        &overlay,
    )
    .unwrap();
    let spec = MachineSpec {
        overlay: Some(overlay),
        mac: Some(VM_MAC.to_string()),
        ..MachineSpec::image(Profile::Vm, Firmware::Bios).unwrap()
    };
    let mut vm = Machine::start(&spec).unwrap();
    vm.wait_for_health(BOOT_TIMEOUT).unwrap();
    let token = vm.first_login(VM_PASSWORD);
    ok(&vm.call(
        "PUT",
        "/api/v1/security/policy",
        Some(&token),
        Some(VM_POLICY),
    ));
    let vm_settings = service_settings(&vm, &token);
    assert_ne!(vm_settings, box_settings);

    // A restore cut by a power failure at a random moment.
    let delay = random_delay(Duration::from_millis(1200));
    vm.report("power cut during the restore after", format!("{delay:?}"));
    let (addr, cut_token, cut_file) = (vm.https, token.clone(), file.clone());
    let upload = std::thread::spawn(move || restore_request(addr, &cut_token, &cut_file));
    std::thread::sleep(delay);
    vm.cut_power().unwrap();
    let finished = upload.join().unwrap();
    vm.report(
        "restore answer before the cut",
        finished
            .as_ref()
            .map_or_else(|e| format!("none ({e:#})"), |r| r.status.to_string()),
    );
    drop(vm);

    // The next boot: all of one side or all of the other.
    let mut vm = Machine::start(&spec).unwrap();
    vm.wait_for_health(BOOT_TIMEOUT).unwrap();
    let console = vm.console().text();
    let restored = vm.login(BOX_PASSWORD).status == 200;
    let token = vm.token(if restored { BOX_PASSWORD } else { VM_PASSWORD });
    let after_cut = service_settings(&vm, &token);
    let expected = if restored {
        &box_settings
    } else {
        &vm_settings
    };
    assert_eq!(
        &after_cut, expected,
        "after the cut (restored: {restored}), console:\n{console}"
    );
    vm.report(
        "after the power cut",
        if restored {
            "the restored settings"
        } else {
            "the settings it had"
        },
    );

    // The restore, whole.
    let started = Instant::now();
    let r = restore_request(vm.https, &token, &file).unwrap();
    let answer = ok(&r);
    vm.report(
        "restore",
        format!("{:.1}s", started.elapsed().as_secs_f64()),
    );
    assert_eq!(answer["restored_from"]["profile"], "box", "{answer}");
    assert_eq!(answer["session"], "kept", "{answer}");
    let token = vm.token(BOX_PASSWORD);
    assert_eq!(vm.login(VM_PASSWORD).status, 401);
    assert_eq!(service_settings(&vm, &token), box_settings);
    // The box's certificate is what the vm serves now.
    let served = vm.get("/api/v1/health").unwrap().peer_cert.unwrap();
    let imported = CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap();
    assert_eq!(served, imported);
    // The box's NIC is not here: the factory defaults, and a note that says why.
    let net = ok(&vm.call("GET", "/api/v1/network", Some(&token), None));
    assert_eq!(net["factory_default"], true, "{net}");
    let notes = net["notes"].to_string();
    assert!(notes.contains("factory defaults"), "{notes}");
    assert_eq!(net["interfaces"][0]["mac"], VM_MAC, "{net}");
    assert!(notes.contains(&box_mac), "the note names the NIC: {notes}");

    // And back: the vm's backup restored on a box with the first box's NIC. The network
    // settings travelled untouched through the vm (kept, not in force there) and are in
    // force again here.
    let r = vm.call(
        "POST",
        "/api/v1/backup",
        Some(&token),
        Some(&json!({"password": BACKUP_PASSWORD}).to_string()),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let from_vm = r.body.clone();
    drop(vm);
    let mut boxm =
        Machine::start(&MachineSpec::image(Profile::Box, Firmware::Uefi).unwrap()).unwrap();
    boxm.wait_for_health(BOOT_TIMEOUT).unwrap();
    let token = boxm.first_login("another-box-pass-1");
    let answer = ok(&restore_request(boxm.https, &token, &from_vm).unwrap());
    assert_eq!(answer["restored_from"]["profile"], "vm", "{answer}");
    assert_eq!(answer["network"]["state"], "restored", "{answer}");
    let token = boxm.token(BOX_PASSWORD);
    assert_eq!(service_settings(&boxm, &token), box_settings);
    let net = ok(&boxm.call("GET", "/api/v1/network", Some(&token), None));
    assert_eq!(net["factory_default"], false, "{net}");
    assert_eq!(
        net["config"]["dns"]["servers"],
        json!(["10.0.2.3"]),
        "{net}"
    );
    assert_eq!(net["interfaces"][0]["mac"], box_mac.as_str(), "{net}");
    let served = boxm.get("/api/v1/health").unwrap().peer_cert.unwrap();
    assert_eq!(served, imported);
    boxm.report(
        "vm -> box",
        "password, settings, certificate and network in force",
    );
}

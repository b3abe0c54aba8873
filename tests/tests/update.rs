//! Updates on the booted virtual appliance (the issue's acceptance): 1.0.0 boots on slot A;
//! 1.0.1's update.pkg with one byte flipped is refused and health still says 1.0.0/A; the
//! real one is accepted and after a restart health says 1.0.1/B; then 1.0.2 is uploaded,
//! the power is cut, the first 4 MiB of `root-a` are zeroed, and the next boot comes up
//! 1.0.1/B with `GET /api/v1/updates` naming 1.0.2 and the rollback. A certificate
//! imported (PKCS#12 made with openssl) and assigned to the vm's address on 1.0.0 is still
//! served after the restart into 1.0.1 on the other slot.
//!
//! Needs out/vm (1.0.0), out/vm-1.0.1 and out/vm-1.0.2 (tests/run builds them).

use appliance_tests::devices::{Firmware, Profile};
use appliance_tests::https::{self, Trust};
use appliance_tests::workdir::WorkDir;
use appliance_tests::Api;
use appliance_tests::{disk, Machine, MachineSpec};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

const BOOT_TIMEOUT: Duration = Duration::from_secs(300);

/// A self-signed certificate for the vm's address made with openssl (`site.crt`), with
/// its key in `site.p12` (password `site-p12-pass`); the PKCS#12's bytes.
fn site_certificate(dir: &Path) -> Vec<u8> {
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("the openssl command (image/deps installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        "site.key",
        "-out",
        "site.crt",
        "-days",
        "90",
        "-subj",
        "/CN=appliance.example.test",
        "-addext",
        "subjectAltName=DNS:appliance.example.test,IP:10.0.2.15",
    ]);
    openssl(&[
        "pkcs12",
        "-export",
        "-inkey",
        "site.key",
        "-in",
        "site.crt",
        "-out",
        "site.p12",
        "-passout",
        "pass:site-p12-pass",
    ]);
    std::fs::read(dir.join("site.p12")).unwrap()
}

/// The DER of the first certificate in a PEM text.
fn der_of(pem_text: &[u8]) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_slice(pem_text)
        .expect("a PEM certificate")
        .to_vec()
}

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

    // A certificate made with openssl, imported as PKCS#12 and assigned to the vm's
    // address (where the host's forwarded connections arrive): served at once, and still
    // after the restart into the other slot below.
    let p12 = site_certificate(work.path());
    let served = |m: &Machine| {
        https::get(
            m.https,
            "/api/v1/health",
            &Trust::Any,
            Duration::from_secs(30),
        )
        .expect("health over TLS")
        .peer_cert
        .expect("a certificate")
        .to_vec()
    };
    let auth = format!("Bearer {token}");
    let r = https::request(
        m.https,
        "POST",
        "/api/v1/certificates/import?name=Site",
        &[
            ("Authorization", &auth),
            ("X-Password", "site-p12-pass"),
            // Import and assign ask for the account's password again.
            (appliancectl::CURRENT_PASSWORD_HEADER, "update-secret-1"),
        ],
        &p12,
        &Trust::Any,
        Duration::from_secs(60),
    )
    .unwrap();
    assert_eq!(r.status, 201, "{}", String::from_utf8_lossy(&r.body));
    let id = r.value()["certificate"]["id"].as_str().unwrap().to_string();
    let r = m.confirmed(
        "PUT",
        &format!("/api/v1/certificates/{id}/assign"),
        &token,
        "update-secret-1",
        Some(r#"{"addresses": ["10.0.2.15"]}"#),
    );
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let site_der = der_of(&std::fs::read(work.path().join("site.crt")).unwrap());
    assert_eq!(served(&m), site_der, "the assigned certificate is served");

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
    assert_eq!(
        served(&m),
        site_der,
        "the assigned certificate survives the restart into the other slot"
    );
    let list = m
        .call("GET", "/api/v1/certificates", Some(&token), None)
        .value();
    let site = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id.as_str())
        .unwrap_or_else(|| panic!("the certificate is still listed: {list}"));
    assert_eq!(site["assigned"], serde_json::json!(["10.0.2.15"]), "{site}");

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

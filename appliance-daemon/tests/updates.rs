//! Package upload against the daemon in dev mode, where the slots and grubenv are files in
//! the state directory: a real signed package is verified, written to slot B while hashed
//! and committed; every kind of bad package is refused with its own code and changes
//! neither the boot order nor the running system.

mod update_server;

use appliance_tests::dev::{state_dir, DevDaemon};
use appliance_tests::Api;
use package::{Metadata, Requirement, Signer, Version};
use std::path::{Path, PathBuf};
use update_server::{needs, upload, upload_to};

fn signer() -> Signer {
    Signer::generate().unwrap()
}

fn package(
    dir: &Path,
    name: &str,
    version: &str,
    profile: &str,
    requires: Vec<Requirement>,
    signers: &[Signer],
) -> PathBuf {
    let slot = dir.join(format!("{name}.sqfs"));
    let payload: Vec<u8> = (0..(3 << 20)).map(|i| (i % 251) as u8).collect();
    std::fs::write(&slot, &payload).unwrap();
    let out = dir.join(format!("{name}.pkg"));
    package::build_base(
        &slot,
        &Metadata {
            version: version.parse::<Version>().unwrap(),
            profiles: vec![profile.into()],
            requires,
            floor: Some(version.parse().unwrap()),
            created: 1_700_000_000,
        },
        &out,
        signers,
    )
    .unwrap();
    out
}

/// The same package with its signatures taken out.
fn unsigned(signed: &[u8]) -> Vec<u8> {
    let mut out = tar::Builder::new(Vec::new());
    for entry in tar::Archive::new(signed).entries().unwrap() {
        let mut entry = entry.unwrap();
        let mut header = entry.header().clone();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
        if entry.path().unwrap().to_str() == Some("manifest.sig") {
            data = br#"{"signatures":[]}"#.to_vec();
            header.set_size(data.len() as u64);
            header.set_cksum();
        }
        out.append(&header, data.as_slice()).unwrap();
    }
    out.into_inner().unwrap()
}

#[test]
fn upload_installs_a_signed_package_and_refuses_bad_ones() {
    let state = state_dir("updates");
    let trusted = signer();
    std::fs::create_dir_all(state.join("keys")).unwrap();
    std::fs::write(state.join("keys/vendor.pub"), trusted.public().to_text()).unwrap();
    let d = DevDaemon::start(
        Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
        &state,
        false,
        &[("APPLIANCE_SLOT", "A"), ("APPLIANCE_PROFILE", "vm")],
    );
    let token = d.first_login("update-secret");
    let work = state.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let good = package(
        &work,
        "good",
        "1.0.1",
        "vm",
        vec![],
        std::slice::from_ref(&trusted),
    );
    let bytes = std::fs::read(&good).unwrap();
    let grubenv = || std::fs::read(state.join("grubenv")).ok();
    let before = grubenv();

    let refused = |body: &[u8], code: &str| {
        let r = upload(&d, &token, body);
        assert!(
            (400..500).contains(&r.status),
            "{code}: status {}",
            r.status
        );
        assert_eq!(
            r.value()["error"],
            code,
            "{:?}",
            String::from_utf8_lossy(&r.body)
        );
        assert_eq!(grubenv(), before, "{code}: boot order untouched");
    };
    // One flipped byte in the payload (the last one, after the manifest and signature).
    let mut flipped = bytes.clone();
    let start: Vec<u8> = (0..64).collect();
    let payload_at = bytes
        .windows(64)
        .position(|w| w == start.as_slice())
        .expect("the payload inside the package");
    flipped[payload_at + 1_000_000] ^= 0x01;
    refused(&flipped, "hash_mismatch");
    // A valid package followed by 1 MiB of random-looking bytes (docs/packages.md).
    let mut trailing = bytes.clone();
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    trailing.extend((0..(1 << 20)).map(|_| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x as u8
    }));
    refused(&trailing, "malformed");
    refused(&unsigned(&bytes), "unsigned");
    refused(
        &std::fs::read(package(
            &work,
            "other-key",
            "1.0.1",
            "vm",
            vec![],
            &[signer()],
        ))
        .unwrap(),
        "unknown_key",
    );
    refused(
        &std::fs::read(package(
            &work,
            "box",
            "1.0.1",
            "box",
            vec![],
            std::slice::from_ref(&trusted),
        ))
        .unwrap(),
        "wrong_profile",
    );
    let needs = needs("base", "1.0.1");
    refused(
        &std::fs::read(package(
            &work,
            "needs",
            "1.0.2",
            "vm",
            needs,
            std::slice::from_ref(&trusted),
        ))
        .unwrap(),
        "missing_requirement",
    );
    refused(&bytes[..bytes.len() / 2], "truncated");
    let r = d.call("GET", "/api/v1/updates", Some(&token), None);
    let v = r.value();
    assert_eq!(v["pending"], serde_json::Value::Null);
    assert!(v["history"].as_array().unwrap().len() >= 5, "{v}");

    // Older than the running 1.0.0: refused unless asked for; then installed, audited as
    // a downgrade.
    let older = std::fs::read(package(
        &work,
        "older",
        "0.9.0",
        "vm",
        vec![],
        std::slice::from_ref(&trusted),
    ))
    .unwrap();
    refused(&older, "older_version");
    let r = upload_to(&d, &token, "/api/v1/updates/upload?downgrad=true", b"x");
    assert_eq!(r.status, 400, "a misspelt consent is no consent");
    assert_eq!(grubenv(), before);
    let r = upload_to(&d, &token, "/api/v1/updates/upload?downgrade=true", &older);
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let audit = d
        .call("GET", "/api/v1/audit?limit=5", Some(&token), None)
        .value();
    let entry = &audit["entries"][0];
    assert_eq!(entry["action"], "update.downgrade", "{audit}");
    assert!(
        entry["detail"]
            .as_str()
            .unwrap()
            .contains("(a downgrade, asked for)"),
        "{audit}"
    );

    let r = upload(&d, &token, &bytes);
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.value()["slot"], "B");
    let slot_b = std::fs::read(state.join("slot-b.img")).unwrap();
    assert_eq!(slot_b, std::fs::read(work.join("good.sqfs")).unwrap());
    let env = String::from_utf8(grubenv().unwrap()).unwrap();
    assert!(env.contains("ORDER=B A") && env.contains("B_OK=1"), "{env}");
    let v = d.call("GET", "/api/v1/updates", Some(&token), None).value();
    assert_eq!(v["pending"]["version"], "1.0.1");
    assert_eq!(v["floor"], "1.0.1");
    assert_eq!(v["history"][0]["kind"], "installed");
    // The floor is on the ESP too, which a factory reset keeps.
    assert!(env.contains("FLOOR=1.0.1"), "{env}");

    // Below the floor it has just raised.
    let committed = grubenv();
    let r = upload(
        &d,
        &token,
        &std::fs::read(package(&work, "old", "1.0.0", "vm", vec![], &[trusted])).unwrap(),
    );
    assert_eq!(r.status, 422);
    assert_eq!(r.value()["error"], "below_floor");
    assert_eq!(grubenv(), committed);
    // A downgrade asked for does not go below the floor either.
    let r = upload_to(&d, &token, "/api/v1/updates/upload?downgrade=true", &older);
    assert_eq!(r.status, 422);
    assert_eq!(r.value()["error"], "below_floor");
    assert_eq!(grubenv(), committed);
}

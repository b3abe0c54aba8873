//! "Check for updates" and "Install this update" against the daemon in dev mode and a real
//! update server in this process (HTTPS, its certificate issued by a test CA that the
//! daemon is given): the signed catalog is fetched and verified, each package is listed as
//! installable or blocked with its reason, a package is installed by id through the
//! upload's installer, and a tampered catalog, an expired one, an older one (replayed) and a
//! package whose bytes do
//! not match the catalog are refused with their codes, changing nothing. The download key
//! the appliance issues is read the way the vendor's `image download-key verify` reads it.

mod update_server;

use appliance_tests::Api;

use appliance_tests::https::Response;
use package::availability;
use package::catalog::{self, Catalog};
use serde_json::{json, Value};
use update_server::{
    base_package, certificates, daemon_trusting_dev_key, dev_key, needs, update_server,
};

const DAY: u64 = 86_400;

fn now() -> u64 {
    units::now()
}

/// (id, installable, blocked_code) of each listed package, in the order listed.
fn verdicts(v: &Value) -> Vec<(String, bool, Option<String>)> {
    v["available"]
        .as_array()
        .unwrap_or_else(|| panic!("no available list in {v}"))
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().to_string(),
                p["installable"].as_bool().unwrap(),
                p["blocked_code"].as_str().map(String::from),
            )
        })
        .collect()
}

fn refused(r: &Response, status: u16, code: &str) -> Value {
    let v = r.value();
    assert_eq!(r.status, status, "{code}: {v}");
    assert_eq!(v["error"], code, "{v}");
    v
}

#[test]
fn check_lists_installs_by_id_and_refuses_what_does_not_verify() {
    let (d, state) = daemon_trusting_dev_key("catalog");
    let token = d.first_login("catalog-secret");
    let t = Some(token.as_str());

    // The vendor's side: three packages and their signed catalog.
    let work = state.join("work");
    let site = state.join("server");
    let stable = site.join("stable");
    std::fs::create_dir_all(&work).unwrap();
    std::fs::create_dir_all(&stable).unwrap();
    base_package(&work, &stable, "1.0.1", vec![]);
    let needs_101 = needs("base", "1.0.1");
    base_package(&work, &stable, "1.0.2", needs_101);
    base_package(&work, &stable, "1.0.3", vec![]);
    let built = catalog::build_dir(&stable, &[dev_key()], now(), now() + 7 * DAY).unwrap();
    let good_json = std::fs::read(&built.json).unwrap();
    let good_sig = std::fs::read(&built.sig).unwrap();
    // 1.0.3 is altered on the server after the catalog was signed.
    let altered = stable.join("base-1.0.3-vm.pkg");
    let mut bytes = std::fs::read(&altered).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x40;
    std::fs::write(&altered, bytes).unwrap();

    let (ca_pem, tls) = certificates();
    let server = update_server(site.clone(), tls);

    // Nothing to check before a server is configured.
    let r = d.call("POST", "/api/v1/updates/check", t, None);
    refused(&r, 409, "no_update_server");
    let setting = json!({"url": format!("https://{server}/stable"), "ca_certificate": ca_pem});
    // Changing the update server asks for the password again: without it, or with a wrong
    // one, nothing is stored.
    let r = d.call(
        "PUT",
        "/api/v1/updates/server",
        t,
        Some(&setting.to_string()),
    );
    refused(&r, 403, "password_required");
    let r = d.confirmed(
        "PUT",
        "/api/v1/updates/server",
        &token,
        "not-the-catalog-secret",
        Some(&setting.to_string()),
    );
    refused(&r, 403, "wrong_password");
    let r = d.call("GET", "/api/v1/updates/server", t, None);
    assert_eq!(r.value()["url"], serde_json::Value::Null, "{}", r.value());
    let r = d.confirmed(
        "PUT",
        "/api/v1/updates/server",
        &token,
        "catalog-secret",
        Some(&setting.to_string()),
    );
    assert_eq!(r.status, 200, "{}", r.value());
    assert_eq!(r.value()["url"], format!("https://{server}/stable/"));
    let r = d.confirmed(
        "PUT",
        "/api/v1/updates/server",
        &token,
        "catalog-secret",
        Some(r#"{"url":"http://example.com/"}"#),
    );
    refused(&r, 422, "invalid_update_server");

    // Check: one installable, one blocked by its requirement, with the reason.
    let r = d.call("POST", "/api/v1/updates/check", t, None);
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    let listed = verdicts(&r.value());
    let expected = vec![
        ("base-1.0.1-vm".to_string(), true, None),
        (
            "base-1.0.2-vm".to_string(),
            false,
            Some("missing_requirement".to_string()),
        ),
        ("base-1.0.3-vm".to_string(), true, None),
    ];
    assert_eq!(listed, expected);
    let updates = d.call("GET", "/api/v1/updates", t, None).value();
    assert_eq!(verdicts(&updates), expected);
    assert_eq!(
        updates["available"][1]["blocked"],
        "base 1.0.2 needs base 1.0.1 or later first; this appliance has 1.0.0"
    );
    assert!(updates["catalog"]["expires"].as_u64().unwrap() > now());

    // The download key, read as the vendor's tool reads it.
    let r = d.call("GET", "/api/v1/updates/download-key", t, None);
    assert_eq!(r.status, 200);
    let text = String::from_utf8(r.body.clone()).unwrap();
    assert!(
        text.starts_with("-----BEGIN APPLIANCE DOWNLOAD KEY-----\n"),
        "{text}"
    );
    let key = package::download_key::verify(&text, now()).unwrap();
    let status = d.call("GET", "/api/v1/status", t, None).value();
    assert_eq!(
        key.body.appliance_id,
        status["appliance_id"].as_str().unwrap()
    );
    assert_eq!(key.body.installed.base.to_string(), "1.0.0");
    assert_eq!(key.body.installed.profile, "vm");
    assert_eq!(key.body.expires - key.body.issued, 2400 * 60);
    let vendor = Catalog::from_json(&good_json).unwrap();
    let installable: Vec<&str> = availability::assess_all(&vendor, &key.body.installed)
        .iter()
        .filter(|a| a.blocked.is_none())
        .map(|a| a.entry.id.as_str())
        .collect();
    assert_eq!(installable, ["base-1.0.1-vm", "base-1.0.3-vm"]);
    // The same key pair each time: the appliance's identity.
    let again = d.call("GET", "/api/v1/updates/download-key", t, None);
    let again = package::download_key::verify(std::str::from_utf8(&again.body).unwrap(), now());
    assert_eq!(again.unwrap().key_id, key.key_id);

    // A tampered catalog: a later expiry written in, the old signature kept.
    let tampered = String::from_utf8(good_json.clone()).unwrap().replace(
        &format!("\"expires\": {}", vendor.expires),
        &format!("\"expires\": {}", vendor.expires + 365 * DAY),
    );
    assert_ne!(tampered.as_bytes(), good_json.as_slice());
    std::fs::write(&built.json, &tampered).unwrap();
    let r = d.call("POST", "/api/v1/updates/check", t, None);
    refused(&r, 502, "bad_signature");
    let updates = d.call("GET", "/api/v1/updates", t, None).value();
    assert_eq!(verdicts(&updates), expected, "the last good catalog stays");
    assert_eq!(updates["last_check_failure"]["code"], "bad_signature");

    // An expired catalog, properly signed.
    let expired = Catalog {
        issued: now() - 10 * DAY,
        expires: now() - DAY,
        ..vendor.clone()
    };
    let (json, sig) = catalog::sign(&expired, &[dev_key()]).unwrap();
    std::fs::write(&built.json, json).unwrap();
    std::fs::write(&built.sig, sig).unwrap();
    let r = d.call("POST", "/api/v1/updates/check", t, None);
    let v = refused(&r, 502, "catalog_expired");
    assert!(v["message"].as_str().unwrap().contains("NTP"), "{v}");
    assert_eq!(
        verdicts(&d.call("GET", "/api/v1/updates", t, None).value()),
        expected
    );

    // An older catalog, properly signed and still valid (a replay hiding newer releases).
    let older = Catalog {
        issued: vendor.issued - DAY,
        ..vendor.clone()
    };
    let (json, sig) = catalog::sign(&older, &[dev_key()]).unwrap();
    std::fs::write(&built.json, json).unwrap();
    std::fs::write(&built.sig, sig).unwrap();
    let r = d.call("POST", "/api/v1/updates/check", t, None);
    let v = refused(&r, 502, "stale_catalog");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .contains("older than one this appliance"),
        "{v}"
    );
    let updates = d.call("GET", "/api/v1/updates", t, None).value();
    assert_eq!(verdicts(&updates), expected, "the last good catalog stays");
    assert_eq!(updates["catalog"]["issued"], vendor.issued);

    std::fs::write(&built.json, &good_json).unwrap();
    std::fs::write(&built.sig, &good_sig).unwrap();
    let r = d.call("POST", "/api/v1/updates/check", t, None);
    assert_eq!(r.status, 200);
    assert!(r.value()["last_check_failure"].is_null());

    // Install by id: refusals first, each changing nothing.
    let grubenv = || std::fs::read(state.join("grubenv")).ok();
    let before = grubenv();
    let install = |id: &str| {
        d.call(
            "POST",
            "/api/v1/updates/install",
            t,
            Some(&json!({ "id": id }).to_string()),
        )
    };
    refused(&install("base-9.9.9-vm"), 404, "unknown_package");
    refused(&install("base-1.0.2-vm"), 422, "missing_requirement");
    let v = refused(&install("base-1.0.3-vm"), 502, "catalog_mismatch");
    assert!(v["message"].as_str().unwrap().contains("sha256"), "{v}");
    assert_eq!(grubenv(), before, "boot order untouched");
    assert!(!state.join("slot-b.img").exists(), "slot B never written");
    let cache = state.join("update-cache");
    let leftovers = std::fs::read_dir(&cache).map_or(0, std::iter::Iterator::count);
    assert_eq!(leftovers, 0, "nothing left in the download cache");
    let updates = d.call("GET", "/api/v1/updates", t, None).value();
    assert!(updates["pending"].is_null());
    assert_eq!(updates["history"][0]["kind"], "failed");

    let r = install("base-1.0.1-vm");
    assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.value()["slot"], "B");
    assert_eq!(
        std::fs::read(state.join("slot-b.img")).unwrap(),
        std::fs::read(work.join("slot-1.0.1.sqfs")).unwrap()
    );
    let env = String::from_utf8(grubenv().unwrap()).unwrap();
    assert!(env.contains("ORDER=B A") && env.contains("B_OK=1"), "{env}");
    let updates = d.call("GET", "/api/v1/updates", t, None).value();
    assert_eq!(updates["pending"]["version"], "1.0.1");
    assert_eq!(updates["history"][0]["kind"], "installed");
    let after = verdicts(&updates);
    assert_eq!(
        after[0].2.as_deref(),
        Some("already_installed"),
        "{after:?}"
    );
    assert_eq!(
        std::fs::read_dir(&cache).unwrap().count(),
        0,
        "the download is removed once installed"
    );
}

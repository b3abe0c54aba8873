//! Site packages through the real upload endpoint of the daemon in dev mode, where `data`
//! is the state directory: packages built and signed with the development key (as
//! `image package site` does) are installed under `site/<name>/<version>`, `current`
//! switches to each new version and back on rollback, and a damaged package changes
//! nothing.

use appliance_tests::dev::{state_dir, DevDaemon};
use appliance_tests::https::{self, Response};
use package::{Metadata, Requirement, Signer};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn json(r: &Response) -> serde_json::Value {
    r.json()
        .unwrap_or_else(|e| panic!("status {}: {e:#}", r.status))
}

/// A site package `crm` of `version` whose `index.html` names the version.
fn site_package(work: &Path, version: &str, requires: Vec<Requirement>) -> Vec<u8> {
    let tree = work.join(format!("tree-{version}"));
    std::fs::create_dir_all(tree.join("static")).unwrap();
    std::fs::write(tree.join("index.html"), format!("crm {version}")).unwrap();
    // Enough incompressible bytes that a flipped byte lands in the middle of the data.
    let noise: Vec<u8> = (0u32..(256 << 10))
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect();
    std::fs::write(tree.join("static/app.bin"), noise).unwrap();
    let out = work.join(format!("crm-{version}.pkg"));
    let dev_key = Signer::load(&repo().join("keys/dev/dev.key")).unwrap();
    package::build_site(
        &tree,
        "crm",
        &Metadata {
            version: version.parse().unwrap(),
            profiles: vec!["vm".into()],
            requires,
            floor: None,
            created: 1_700_000_000,
        },
        &out,
        &[dev_key],
    )
    .unwrap();
    std::fs::read(out).unwrap()
}

fn upload(d: &DevDaemon, token: &str, body: &[u8]) -> Response {
    let auth = format!("Bearer {token}");
    https::request(
        d.https,
        "POST",
        "/api/v1/updates/upload",
        &[
            ("Authorization", &auth),
            ("Content-Type", "application/octet-stream"),
        ],
        body,
        &d.trust(),
        Duration::from_secs(60),
    )
    .unwrap()
}

#[test]
fn site_packages_install_switch_roll_back_and_refuse_damage() {
    let state = state_dir("site-updates");
    std::fs::create_dir_all(state.join("keys")).unwrap();
    std::fs::copy(repo().join("keys/dev/dev.pub"), state.join("keys/dev.pub")).unwrap();
    let d = DevDaemon::start(
        Path::new(env!("CARGO_BIN_EXE_appliance-daemon")),
        &state,
        false,
        &[("APPLIANCE_SLOT", "A"), ("APPLIANCE_PROFILE", "vm")],
    );
    let token = {
        let r = d.call(
            "POST",
            "/api/v1/session",
            None,
            Some(r#"{"username":"admin","password":"password"}"#),
        );
        let t = json(&r)["token"].as_str().unwrap().to_string();
        let r = d.call(
            "PUT",
            "/api/v1/account/password",
            Some(&t),
            Some(r#"{"current":"password","new":"site-secret"}"#),
        );
        assert_eq!(r.status, 204);
        t
    };
    let work = state.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let crm = state.join("site/crm");
    let in_use = || std::fs::read_to_string(crm.join("current/index.html")).unwrap();
    let link = || std::fs::read_link(crm.join("current")).unwrap();

    // Install: in use at once, listed.
    let r = upload(&d, &token, &site_package(&work, "1.0.0", vec![]));
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let done = json(&r);
    assert_eq!(
        (&done["kind"], &done["name"], &done["version"]),
        (&"site".into(), &"crm".into(), &"1.0.0".into())
    );
    assert_eq!(done["slot"], serde_json::Value::Null);
    assert_eq!(done["restart_required"], false);
    assert_eq!(in_use(), "crm 1.0.0");
    let v = json(&d.call("GET", "/api/v1/updates", Some(&token), None));
    assert_eq!(v["sites"]["crm"]["version"], "1.0.0", "{v}");
    assert_eq!(v["history"][0]["kind"], "installed");
    assert_eq!(v["history"][0]["package"], "crm");
    assert_eq!(
        v["pending"],
        serde_json::Value::Null,
        "the slots are untouched"
    );

    // A second version switches; the first is kept.
    let r = upload(&d, &token, &site_package(&work, "1.1.0", vec![]));
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(json(&r)["previous"], "1.0.0");
    assert_eq!(in_use(), "crm 1.1.0");
    assert!(crm.join("1.0.0/index.html").is_file());
    let v = json(&d.call("GET", "/api/v1/updates", Some(&token), None));
    assert_eq!(v["sites"]["crm"]["version"], "1.1.0");
    assert_eq!(v["sites"]["crm"]["previous"], "1.0.0");

    // Rollback returns to the first.
    let rollback = "/api/v1/updates/site/crm/rollback";
    assert_eq!(d.call("POST", rollback, None, None).status, 401);
    let r = d.call("POST", rollback, Some(&token), None);
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(json(&r)["version"], "1.0.0");
    assert_eq!(json(&r)["previous"], "1.1.0");
    assert_eq!(in_use(), "crm 1.0.0");
    let v = json(&d.call("GET", "/api/v1/updates", Some(&token), None));
    assert_eq!(v["sites"]["crm"]["version"], "1.0.0");
    assert_eq!(v["history"][0]["kind"], "rolled_back");
    assert_eq!(
        v["rollback"],
        serde_json::Value::Null,
        "no base rollback warning"
    );
    let r = d.call(
        "POST",
        "/api/v1/updates/site/nope/rollback",
        Some(&token),
        None,
    );
    assert_eq!(
        (r.status, json(&r)["error"].as_str()),
        (404, Some("not_installed"))
    );

    // One flipped byte in the payload: refused, `current` unchanged, nothing left.
    let mut damaged = site_package(&work, "1.2.0", vec![]);
    let (at, size) = {
        let mut archive = tar::Archive::new(&damaged[..]);
        let entry = archive.entries().unwrap().nth(2).unwrap().unwrap();
        (entry.raw_file_position() as usize, entry.size() as usize)
    };
    damaged[at + size / 2] ^= 0x01;
    let r = upload(&d, &token, &damaged);
    assert_eq!(r.status, 422);
    assert_eq!(json(&r)["error"], "hash_mismatch");
    assert_eq!(link(), Path::new("1.0.0"));
    assert_eq!(in_use(), "crm 1.0.0");
    assert!(!crm.join("1.2.0").exists() && !crm.join("1.2.0.partial").exists());

    // A requirement the running system does not meet.
    let needs_base = vec![Requirement {
        name: "base".into(),
        min_version: "1.0.1".parse().unwrap(),
    }];
    let r = upload(&d, &token, &site_package(&work, "1.3.0", needs_base));
    assert_eq!(r.status, 422);
    assert_eq!(json(&r)["error"], "missing_requirement");
    assert_eq!(link(), Path::new("1.0.0"));
    let v = json(&d.call("GET", "/api/v1/updates", Some(&token), None));
    assert_eq!(v["sites"]["crm"]["version"], "1.0.0");
}

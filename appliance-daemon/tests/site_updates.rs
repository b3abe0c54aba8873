//! Site packages through the real upload endpoint of the daemon in dev mode, where `data`
//! is the state directory: packages built and signed with the development key (as
//! `image package site` does) are installed under `site/<name>/<version>`, `current`
//! switches to each new version and back on rollback, and a damaged package changes
//! nothing.

mod update_server;

use appliance_tests::Api;
use package::{Metadata, Requirement};
use std::path::Path;
use update_server::{daemon_trusting_dev_key, dev_key, needs, upload};

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
        &[dev_key()],
    )
    .unwrap();
    std::fs::read(out).unwrap()
}

#[test]
fn site_packages_install_switch_roll_back_and_refuse_damage() {
    let (d, state) = daemon_trusting_dev_key("site-updates");
    let token = d.first_login("site-secret");
    let work = state.join("work");
    std::fs::create_dir_all(&work).unwrap();
    let crm = state.join("site/crm");
    let in_use = || std::fs::read_to_string(crm.join("current/index.html")).unwrap();
    let link = || std::fs::read_link(crm.join("current")).unwrap();

    // Install: in use at once, listed.
    let r = upload(&d, &token, &site_package(&work, "1.0.0", vec![]));
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    let done = r.value();
    assert_eq!(
        (&done["kind"], &done["name"], &done["version"]),
        (&"site".into(), &"crm".into(), &"1.0.0".into())
    );
    assert_eq!(done["slot"], serde_json::Value::Null);
    assert_eq!(done["restart_required"], false);
    assert_eq!(in_use(), "crm 1.0.0");
    let v = d.call("GET", "/api/v1/updates", Some(&token), None).value();
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
    assert_eq!(r.value()["previous"], "1.0.0");
    assert_eq!(in_use(), "crm 1.1.0");
    assert!(crm.join("1.0.0/index.html").is_file());
    let v = d.call("GET", "/api/v1/updates", Some(&token), None).value();
    assert_eq!(v["sites"]["crm"]["version"], "1.1.0");
    assert_eq!(v["sites"]["crm"]["previous"], "1.0.0");

    // Rollback returns to the first.
    let rollback = "/api/v1/updates/site/crm/rollback";
    assert_eq!(d.call("POST", rollback, None, None).status, 401);
    let r = d.call("POST", rollback, Some(&token), None);
    assert_eq!(r.status, 200, "{:?}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.value()["version"], "1.0.0");
    assert_eq!(r.value()["previous"], "1.1.0");
    assert_eq!(in_use(), "crm 1.0.0");
    let v = d.call("GET", "/api/v1/updates", Some(&token), None).value();
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
        (r.status, r.value()["error"].as_str()),
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
    assert_eq!(r.value()["error"], "hash_mismatch");
    assert_eq!(link(), Path::new("1.0.0"));
    assert_eq!(in_use(), "crm 1.0.0");
    assert!(!crm.join("1.2.0").exists() && !crm.join("1.2.0.partial").exists());

    // A requirement the running system does not meet.
    let needs_base = needs("base", "1.0.1");
    let r = upload(&d, &token, &site_package(&work, "1.3.0", needs_base));
    assert_eq!(r.status, 422);
    assert_eq!(r.value()["error"], "missing_requirement");
    assert_eq!(link(), Path::new("1.0.0"));
    let v = d.call("GET", "/api/v1/updates", Some(&token), None).value();
    assert_eq!(v["sites"]["crm"]["version"], "1.0.0");
}

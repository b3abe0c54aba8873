//! Site installs through the real entry point (`install_package`) with real signed
//! packages, on a dev-mode state directory.

use super::*;
use crate::store::Store;
use crate::system::BootSlot;
use crate::testdir::TestDir;
use package::{fuzzing, Metadata, Requirement};
use std::os::unix::fs::PermissionsExt;

fn updater(dir: &Path) -> Updater {
    let store = Store::open(&dir.join("settings.redb")).unwrap();
    let keys = dir.join("keys");
    fs::create_dir_all(&keys).unwrap();
    fs::write(keys.join("test.pub"), fuzzing::signer().public().to_text()).unwrap();
    Updater::new(
        Platform::Dev {
            dir: dir.to_path_buf(),
        },
        store,
        BootSlot::Slot(grubenv::Slot::A),
        "1.0.0",
        "vm",
    )
}

/// A site package of `name` `version` holding `index.html` (saying the version), an
/// executable `bin/run` and an empty directory, signed by the trusted test key.
fn site_package(dir: &Path, name: &str, version: &str, requires: &[(&str, &str)]) -> Vec<u8> {
    let tree = dir.join(format!("tree-{name}-{version}"));
    fs::create_dir_all(tree.join("bin")).unwrap();
    fs::create_dir_all(tree.join("empty")).unwrap();
    fs::write(tree.join("index.html"), format!("{name} {version}")).unwrap();
    fs::write(tree.join("bin/run"), "#!/bin/sh\n").unwrap();
    fs::set_permissions(tree.join("bin/run"), fs::Permissions::from_mode(0o755)).unwrap();
    let out = dir.join(format!("{name}-{version}.pkg"));
    package::build_site(
        &tree,
        name,
        &Metadata {
            version: version.parse().unwrap(),
            profiles: vec!["vm".into()],
            requires: requires
                .iter()
                .map(|(n, v)| Requirement {
                    name: n.to_string(),
                    min_version: v.parse().unwrap(),
                })
                .collect(),
            floor: None,
            created: 1_700_000_000,
        },
        &out,
        &[fuzzing::signer()],
    )
    .unwrap();
    fs::read(out).unwrap()
}

/// Where the payload starts in a package, and its size.
fn payload_range(pkg: &[u8]) -> (usize, usize) {
    let mut archive = tar::Archive::new(pkg);
    let entry = archive.entries().unwrap().nth(2).unwrap().unwrap();
    (
        entry.raw_file_position() as usize,
        entry.header().size().unwrap() as usize,
    )
}

/// A package signed by the trusted key whose payload is `payload` (any zstd tar).
fn package_with_payload(good: &[u8], payload: &[u8], installed_size: u64) -> Vec<u8> {
    let (manifest, _) = package::inspect_reader(good).unwrap();
    let mut manifest = manifest;
    let p = &mut manifest.payloads[0];
    p.size = payload.len() as u64;
    p.sha256 = hex::encode(ring::digest::digest(&ring::digest::SHA256, payload));
    p.installed_size = installed_size;
    let json = manifest.to_json();
    let sig = fuzzing::sign(&json);
    let mut out = tar::Builder::new(Vec::new());
    for (name, data) in [
        ("manifest.json", &json[..]),
        ("manifest.sig", &sig[..]),
        ("site.tar.zst", payload),
    ] {
        let mut h = tar::Header::new_gnu();
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_mtime(manifest.created);
        out.append_data(&mut h, name, data).unwrap();
    }
    out.into_inner().unwrap()
}

fn install(u: &Updater, pkg: &[u8]) -> Result<Installed, InstallError> {
    u.install_package(pkg, "admin", None, false)
}

fn site(dir: &Path, name: &str) -> PathBuf {
    dir.join("site").join(name)
}

fn listing(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = fs::read_dir(dir)
        .map(|d| {
            d.map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn a_good_package_is_unpacked_and_made_current() {
    let dir = TestDir::new("site-ok");
    let u = updater(dir.path());
    let done = install(&u, &site_package(dir.path(), "crm", "1.0.0", &[])).unwrap();
    assert_eq!((done.kind, done.slot.as_deref()), ("site", None));
    assert!(!done.restart_required);
    let crm = site(dir.path(), "crm");
    assert_eq!(listing(&crm), ["1.0.0", "current"]);
    assert_eq!(
        fs::read_to_string(crm.join("current/index.html")).unwrap(),
        "crm 1.0.0"
    );
    let run = fs::metadata(crm.join("current/bin/run")).unwrap();
    assert_eq!(run.permissions().mode() & 0o777, 0o755);
    assert!(crm.join("current/empty").is_dir());
    assert_eq!(
        fs::read_link(crm.join("current")).unwrap(),
        Path::new("1.0.0")
    );
    let state = u.updates().unwrap();
    assert_eq!(state.sites["crm"].version, "1.0.0");
    assert_eq!(state.sites["crm"].previous, None);
    let last = state.history.last().unwrap();
    assert_eq!(
        (last.kind.as_str(), last.package.as_deref()),
        ("installed", Some("crm"))
    );
    assert_eq!(
        state.slots.len(),
        0,
        "a site package leaves the slots alone"
    );
    assert!(!dir.path().join("slot-b.img").exists());
    assert_eq!(u.progress.current().phase, "done");
    // The same version again.
    let again = install(&u, &site_package(dir.path(), "crm", "1.0.0", &[])).unwrap_err();
    assert_eq!(again.code(), "already_installed");
}

#[test]
fn a_hash_mismatch_leaves_nothing_and_current_unchanged() {
    let dir = TestDir::new("site-hash");
    let u = updater(dir.path());
    let bad = |version: &str| {
        let mut pkg = site_package(dir.path(), "crm", version, &[]);
        let (at, size) = payload_range(&pkg);
        pkg[at + size / 2] ^= 0x01;
        pkg
    };
    let err = install(&u, &bad("1.0.0")).unwrap_err();
    assert_eq!(err.code(), "hash_mismatch", "{err}");
    assert_eq!(listing(&site(dir.path(), "crm")), Vec::<String>::new());
    assert!(u.updates().unwrap().sites.is_empty());
    assert_eq!(u.updates().unwrap().history.last().unwrap().kind, "failed");

    install(&u, &site_package(dir.path(), "crm", "1.0.0", &[])).unwrap();
    let err = install(&u, &bad("1.1.0")).unwrap_err();
    assert_eq!(err.code(), "hash_mismatch", "{err}");
    let crm = site(dir.path(), "crm");
    assert_eq!(listing(&crm), ["1.0.0", "current"]);
    assert_eq!(u.updates().unwrap().sites["crm"].version, "1.0.0");
    assert!(!u.installing());
}

#[test]
fn a_path_out_of_the_directory_is_refused() {
    let dir = TestDir::new("site-traversal");
    let u = updater(dir.path());
    let good = site_package(dir.path(), "crm", "1.0.0", &[]);
    for path in ["../../escape", "/tmp/escape", "a/../../../escape"] {
        let mut tar = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Regular);
        h.set_mode(0o644);
        h.set_size(2);
        let name = &mut h.as_old_mut().name;
        name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
        tar.append(&h, &b"no"[..]).unwrap();
        let tar = tar.into_inner().unwrap();
        let payload = zstd::encode_all(&tar[..], 3).unwrap();
        let pkg = package_with_payload(&good, &payload, tar.len() as u64);
        let err = install(&u, &pkg).unwrap_err();
        assert_eq!(err.code(), "malformed", "{path}: {err}");
        assert!(
            err.to_string().contains("out of its directory")
                || err.to_string().contains("absolute"),
            "{err}"
        );
        assert!(!dir.path().join("site/escape").exists());
        assert!(!dir.path().join("escape").exists());
        assert_eq!(listing(&site(dir.path(), "crm")), Vec::<String>::new());
    }
    assert!(!Path::new("/tmp/escape").exists());
    // A stream larger than the signed installed_size is cut short.
    let mut tar = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_mode(0o644);
    h.set_size(1 << 20);
    tar.append_data(&mut h, "big", &vec![0u8; 1 << 20][..])
        .unwrap();
    let tar = tar.into_inner().unwrap();
    let payload = zstd::encode_all(&tar[..], 3).unwrap();
    let err = install(&u, &package_with_payload(&good, &payload, 4096)).unwrap_err();
    assert_eq!(err.code(), "size_mismatch", "{err}");
    assert_eq!(listing(&site(dir.path(), "crm")), Vec::<String>::new());
}

#[test]
fn a_second_version_switches_and_rollback_goes_back() {
    let dir = TestDir::new("site-switch");
    let u = updater(dir.path());
    let crm = site(dir.path(), "crm");
    let index = || fs::read_to_string(crm.join("current/index.html")).unwrap();
    install(&u, &site_package(dir.path(), "crm", "1.0.0", &[])).unwrap();
    let done = install(&u, &site_package(dir.path(), "crm", "1.1.0", &[])).unwrap();
    assert_eq!(done.previous.as_deref(), Some("1.0.0"));
    assert_eq!(index(), "crm 1.1.0");
    assert_eq!(listing(&crm), ["1.0.0", "1.1.0", "current"]);
    // The kept version cannot be installed again: it is rolled back to.
    let err = install(&u, &site_package(dir.path(), "crm", "1.0.0", &[])).unwrap_err();
    assert_eq!(err.code(), "already_installed");

    let info = u.rollback_site("crm", "admin", None).unwrap();
    assert_eq!(
        (info.version.as_str(), info.previous.as_deref()),
        ("1.0.0", Some("1.1.0"))
    );
    assert_eq!(index(), "crm 1.0.0");
    let state = u.updates().unwrap();
    assert_eq!(state.sites["crm"], info);
    let last = state.history.last().unwrap();
    assert_eq!(
        (last.kind.as_str(), last.package.as_deref()),
        ("rolled_back", Some("crm"))
    );
    assert!(
        state.last_rollback().is_none(),
        "a site rollback is no base rollback warning"
    );
    // And forward again; a third version keeps only the one it replaced.
    u.rollback_site("crm", "admin", None).unwrap();
    assert_eq!(index(), "crm 1.1.0");
    install(&u, &site_package(dir.path(), "crm", "1.2.0", &[])).unwrap();
    assert_eq!(listing(&crm), ["1.1.0", "1.2.0", "current"]);

    assert_eq!(
        u.rollback_site("nope", "admin", None).unwrap_err().code(),
        "not_installed"
    );
    assert_eq!(
        u.rollback_site("../crm", "admin", None).unwrap_err().code(),
        "not_installed"
    );
    install(&u, &site_package(dir.path(), "web", "1.0.0", &[])).unwrap();
    assert_eq!(
        u.rollback_site("web", "admin", None).unwrap_err().code(),
        "no_previous_version"
    );
}

#[test]
fn leftovers_of_an_interrupted_install_are_cleared_at_start() {
    let dir = TestDir::new("site-start");
    let u = updater(dir.path());
    install(&u, &site_package(dir.path(), "crm", "1.0.0", &[])).unwrap();
    let crm = site(dir.path(), "crm");
    // A power cut while 1.1.0 was unpacked, and while a new link was made.
    fs::create_dir_all(crm.join("1.1.0.partial/bin")).unwrap();
    fs::write(crm.join("1.1.0.partial/bin/half"), "ha").unwrap();
    std::os::unix::fs::symlink("1.1.0", crm.join("current.new")).unwrap();
    // A first install of another package cut after its rename, before its switch.
    fs::create_dir_all(site(dir.path(), "web").join("2.0.0")).unwrap();
    u.sites_at_start();
    assert_eq!(listing(&crm), ["1.0.0", "current"]);
    assert!(!site(dir.path(), "web").exists());
    assert_eq!(u.updates().unwrap().sites["crm"].version, "1.0.0");

    // A cut between the switch and the record: `current` is the truth.
    install(&u, &site_package(dir.path(), "crm", "1.1.0", &[])).unwrap();
    u.store
        .change(Audit::system("test", "forget"), |tx| {
            let mut s: Updates = tx.get()?;
            s.sites.insert(
                "crm".into(),
                SiteInfo {
                    version: "1.0.0".into(),
                    previous: None,
                    installed_at: 0,
                },
            );
            tx.put(&s)
        })
        .unwrap();
    u.sites_at_start();
    let state = u.updates().unwrap();
    assert_eq!(state.sites["crm"].version, "1.1.0");
    assert_eq!(state.sites["crm"].previous.as_deref(), Some("1.0.0"));
    assert_eq!(listing(&crm), ["1.0.0", "1.1.0", "current"]);
    // Nothing to do: nothing written.
    let audit = u.store.audit_log(100).unwrap().len();
    u.sites_at_start();
    assert_eq!(u.store.audit_log(100).unwrap().len(), audit);
}

#[test]
fn a_missing_requirement_is_refused_before_anything_is_written() {
    let dir = TestDir::new("site-requires");
    let u = updater(dir.path());
    let err = install(
        &u,
        &site_package(dir.path(), "crm", "1.0.0", &[("base", "1.0.1")]),
    )
    .unwrap_err();
    assert_eq!(err.code(), "missing_requirement");
    assert!(
        err.to_string()
            .contains("crm 1.0.0 needs base 1.0.1 or later first; this appliance has 1.0.0"),
        "{err}"
    );
    assert!(!site(dir.path(), "crm").exists());
    assert_eq!(u.updates().unwrap().history.last().unwrap().kind, "refused");

    // A requirement on another site package is met once that one is installed.
    let addon = site_package(dir.path(), "addon", "1.0.0", &[("crm", "1.0.0")]);
    assert_eq!(
        install(&u, &addon).unwrap_err().code(),
        "missing_requirement"
    );
    install(
        &u,
        &site_package(dir.path(), "crm", "1.0.0", &[("base", "1.0.0")]),
    )
    .unwrap();
    install(&u, &addon).unwrap();
    assert_eq!(u.updates().unwrap().sites["addon"].version, "1.0.0");
}

#[test]
fn the_pure_checks() {
    let update = Update {
        kind: package::Kind::Site,
        name: "crm".into(),
        version: "1.0.0".parse().unwrap(),
        profiles: vec!["box".into()],
        requires: vec![],
        floor: None,
        payload_size: 1,
        installed_size: 1,
        downgrade: false,
        signed: package::Signed::default(),
    };
    let none = Updates::default();
    let on = |profile| checks::installed(profile, "1.0.0", &none).unwrap();
    assert_eq!(
        checks::check_site(update.candidate(), &on("vm"), false, None)
            .unwrap_err()
            .code(),
        "wrong_profile"
    );
    assert_eq!(
        checks::check_site(update.candidate(), &on("box"), false, None),
        Ok(())
    );
    assert_eq!(check_space(1 << 20, 1 << 30), Ok(()));
    let err = check_space(1 << 30, 1 << 30).unwrap_err();
    assert_eq!(err.code(), "no_space");
    assert!(err.to_string().contains("data partition"), "{err}");
}

/// The backup of a pair after a sync: the tree is the primary's (its current version and
/// the one it keeps for a rollback, an install of its still running). The record follows
/// the tree and nothing is removed: what was removed the next comparison would send again.
#[test]
fn after_a_sync_the_record_follows_the_primarys_tree_and_nothing_is_removed() {
    let dir = TestDir::new("site-synced");
    let u = updater(dir.path());
    let crm = site(dir.path(), "crm");
    for version in ["1.0.0", "2.0.0", "2.1.0.partial"] {
        fs::create_dir_all(crm.join(version)).unwrap();
    }
    std::os::unix::fs::symlink("2.0.0", crm.join("current")).unwrap();
    fs::create_dir_all(site(dir.path(), "web").join("1.0.0")).unwrap();

    u.sites_after_sync();
    assert_eq!(
        listing(&crm),
        ["1.0.0", "2.0.0", "2.1.0.partial", "current"]
    );
    assert_eq!(listing(&site(dir.path(), "web")), ["1.0.0"]);
    let state = u.updates().unwrap();
    assert_eq!(state.sites["crm"].version, "2.0.0");
    assert_eq!(state.sites["crm"].previous.as_deref(), Some("1.0.0"));
    assert!(!state.sites.contains_key("web"));
    let audit = u.store.audit_log(100).unwrap().len();
    u.sites_after_sync();
    assert_eq!(
        u.store.audit_log(100).unwrap().len(),
        audit,
        "in line: nothing written"
    );

    // The primary rolled back: its tree says so, the record follows.
    fs::remove_file(crm.join("current")).unwrap();
    std::os::unix::fs::symlink("1.0.0", crm.join("current")).unwrap();
    u.sites_after_sync();
    let state = u.updates().unwrap();
    assert_eq!(state.sites["crm"].version, "1.0.0");
    assert_eq!(state.sites["crm"].previous.as_deref(), Some("2.0.0"));

    // A start keeps the version the record names for a rollback.
    u.sites_at_start();
    assert_eq!(listing(&crm), ["1.0.0", "2.0.0", "current"]);
}

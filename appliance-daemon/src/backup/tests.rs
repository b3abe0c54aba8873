//! A backup as the guide uses it: made on one appliance with a password, restored on
//! another; the wrong password, a damaged or cut file, a newer version's and a weak
//! password change nothing; the network settings and the history travel in it, and
//! network settings naming NICs the new machine lacks give way to its factory defaults.

use std::path::Path;

use super::*;
use crate::net::config::InterfaceConfig;
use crate::net::NetworkConfig;
use crate::store::{AuditEntry, SecurityPolicy, Store, AUDIT_KEEP};
use crate::testdir::TestDir;

/// The version the target appliances run.
const RUNNING: &str = "1.0.0";

fn restore_on(store: &Store, dir: &Path, bytes: &[u8]) -> Result<Restored, BackupError> {
    restore(
        store,
        dir,
        bytes,
        PASSWORD,
        RUNNING,
        Audit::system("test.restore", "x"),
    )
}

/// Everything a restore could change: the records, the audit log, the certificate
/// files, and what an apply leaves on data.
type Everything = (Vec<(String, Vec<u8>)>, Vec<AuditEntry>, Vec<String>);

fn everything(store: &Store, dir: &Path) -> Everything {
    let mut files: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    files.push(std::fs::read_to_string(dir.join("tls/key.pem")).unwrap_or_default());
    (
        store.raw_records().unwrap(),
        store.audit_log(AUDIT_KEEP).unwrap(),
        files,
    )
}

fn set_network(store: &Store, mac: &str) -> NetworkConfig {
    let config = NetworkConfig {
        hostname: "moved.example.com".into(),
        interfaces: vec![InterfaceConfig {
            mac: mac.into(),
            addresses: vec!["192.168.1.10/24".into()],
            ..InterfaceConfig::default()
        }],
        ..NetworkConfig::default()
    };
    store
        .change(Audit::system("test", "network"), |tx| tx.put(&config))
        .unwrap();
    config
}

fn appliance(tag: &str) -> (TestDir, Store) {
    let dir = TestDir::new(tag);
    let store = Store::open(&dir.path().join("settings.redb")).unwrap();
    (dir, store)
}

fn set_policy(store: &Store, attempts: u32) {
    store
        .change(Audit::system("test", "policy"), |tx| {
            let mut policy: SecurityPolicy = tx.get()?;
            policy.max_failed_logins = attempts;
            tx.put(&policy)
        })
        .unwrap();
}

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

const PASSWORD: &str = "correct horse battery";

#[test]
fn a_backup_restores_on_another_appliance_and_names_its_origin_in_clear() {
    let (a_dir, a) = appliance("backup-origin");
    set_policy(&a, 7);
    set_network(&a, "52:54:00:12:34:56");
    write(a_dir.path(), "tls/key.pem", "ORIGIN PRIVATE KEY");
    let made = make(&a, a_dir.path(), "box", "1.0.0", PASSWORD).unwrap();
    assert!(made.size > 0);
    assert!(made.file_name().starts_with("appliance-"));
    assert!(made.file_name().contains("-box-1.0.0-"));
    let bytes = std::fs::read(&made.path).unwrap();
    // The key never appears in clear; the origin does.
    assert!(!bytes
        .windows(b"ORIGIN PRIVATE KEY".len())
        .any(|w| w == b"ORIGIN PRIVATE KEY"));
    let text = String::from_utf8_lossy(&bytes);
    assert!(text.contains(&a.identity().unwrap().appliance_id));
    assert!(text.contains("age-encryption.org/v1"));

    let (b_dir, b) = appliance("backup-target");
    write(b_dir.path(), "tls/key.pem", "TARGET KEY");
    let restored = restore_on(&b, b_dir.path(), &bytes).unwrap();
    assert_eq!(restored.from.profile, "box");
    let policy: SecurityPolicy = b.get().unwrap();
    assert_eq!(policy.max_failed_logins, 7);
    // Record by record: the service's and the network's as A has them, the rest B's.
    let carried =
        |key: &str| key == "network" || snapshot::class_of(key) == Some(snapshot::Class::Service);
    let b_records = b.raw_records().unwrap();
    for (key, json) in a.raw_records().unwrap() {
        let on_b = b_records.iter().find(|(k, _)| *k == key).map(|(_, j)| j);
        if carried(&key) {
            assert_eq!(on_b, Some(&json), "record {key}");
        } else {
            assert_ne!(on_b, Some(&json), "record {key} is B's own");
        }
    }
    assert_eq!(
        std::fs::read_to_string(b_dir.path().join("tls/key.pem")).unwrap(),
        "ORIGIN PRIVATE KEY"
    );
    drop(made);
    assert!(!a_dir
        .path()
        .join(WORK_DIR)
        .read_dir()
        .unwrap()
        .any(|_| true));
    // What a stop before sending leaves goes at the next start.
    std::fs::write(a_dir.path().join(WORK_DIR).join("stale.backup"), b"x").unwrap();
    clear_leftovers(a_dir.path());
    assert!(!a_dir.path().join(WORK_DIR).exists());
}

#[test]
fn wrong_password_damage_and_weak_passwords_change_nothing() {
    let (a_dir, a) = appliance("backup-bad-origin");
    set_policy(&a, 7);
    let made = make(&a, a_dir.path(), "vm", "1.0.0", PASSWORD).unwrap();
    let bytes = std::fs::read(&made.path).unwrap();

    let (b_dir, b) = appliance("backup-bad-target");
    let before = b.raw_records().unwrap();
    let attempt = |input: &[u8], password: &str| {
        restore(
            &b,
            b_dir.path(),
            input,
            password,
            RUNNING,
            Audit::system("test", "x"),
        )
    };
    assert!(matches!(
        attempt(&bytes, "not the password"),
        Err(BackupError::WrongPassword)
    ));
    // The last 1024 bytes are the end-of-archive zeros and up to 511 more pad the entry.
    for cut in [10, 600, bytes.len() / 2, bytes.len() - 1600] {
        let err = attempt(&bytes[..cut], PASSWORD).unwrap_err();
        assert!(
            !matches!(err, BackupError::WrongPassword),
            "cut at {cut}: {err}"
        );
    }
    let mut flipped = bytes.clone();
    let at = flipped.len() - 1500;
    flipped[at] ^= 1;
    assert!(attempt(&flipped, PASSWORD).is_err());
    assert!(matches!(
        attempt(b"anything else", PASSWORD),
        Err(BackupError::NotABackup(_))
    ));
    assert_eq!(b.raw_records().unwrap(), before);

    assert!(matches!(
        make(&a, a_dir.path(), "vm", "1.0.0", "short"),
        Err(BackupError::WeakPassword)
    ));
}

#[test]
fn a_backup_cut_at_any_4_kib_boundary_is_refused_and_changes_nothing() {
    let (a_dir, a) = appliance("backup-cut-origin");
    set_policy(&a, 7);
    write(a_dir.path(), "tls/key.pem", "ORIGIN KEY");
    write(
        a_dir.path(),
        "site/current/index.html",
        &"site page ".repeat(2000),
    );
    let made = make_with(&a, a_dir.path(), "box", "1.0.0", PASSWORD, true).unwrap();
    let bytes = std::fs::read(&made.path).unwrap();
    // Where the sealed settings end: after that come only the tar's padding and its
    // end-of-archive blocks, whose loss loses nothing (age authenticated every byte).
    let sealed_end = {
        let mut archive = tar::Archive::new(&bytes[..]);
        let entry = archive.entries().unwrap().nth(1).unwrap().unwrap();
        entry.raw_file_position() + entry.size()
    };
    assert!(bytes.len() > 3 * 4096, "{} bytes", bytes.len());

    let (b_dir, b) = appliance("backup-cut-target");
    write(b_dir.path(), "tls/key.pem", "TARGET KEY");
    let before = everything(&b, b_dir.path());
    let mut refused = 0;
    for cut in (0..bytes.len()).step_by(4096) {
        let result = restore_on(&b, b_dir.path(), &bytes[..cut]);
        if (cut as u64) < sealed_end {
            let err = result.expect_err("a cut backup is refused");
            assert!(
                matches!(
                    err,
                    BackupError::NotABackup(_)
                        | BackupError::Damaged(_)
                        | BackupError::Snapshot(SnapshotError::Damaged(_))
                ),
                "cut at {cut}: {err}"
            );
            assert_eq!(everything(&b, b_dir.path()), before, "cut at {cut}");
            refused += 1;
        } else {
            result.unwrap();
        }
    }
    assert!(refused >= 3);
}

/// The backup with its snapshot rewritten by `f` and sealed again with the password, with
/// scrypt work factor 2^`log_n`.
fn reseal(backup: &[u8], log_n: u8, f: impl Fn(&mut snapshot::Header)) -> Vec<u8> {
    use std::io::{Read, Write};
    let (info, sealed) = split(backup);
    let identity = age::scrypt::Identity::new(SecretString::from(PASSWORD.to_owned()));
    let mut snapshot = Vec::new();
    age::Decryptor::new(&sealed[..])
        .unwrap()
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .unwrap()
        .read_to_end(&mut snapshot)
        .unwrap();

    let mut inner = tar::Builder::new(Vec::new());
    for entry in tar::Archive::new(&snapshot[..]).entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        if name == "snapshot.json" {
            let mut header: snapshot::Header = serde_json::from_slice(&bytes).unwrap();
            f(&mut header);
            bytes = serde_json::to_vec(&header).unwrap();
        }
        let mut h = entry.header().clone();
        h.set_size(bytes.len() as u64);
        inner.append_data(&mut h, name, &bytes[..]).unwrap();
    }
    let snapshot = inner.into_inner().unwrap();
    let mut recipient = age::scrypt::Recipient::new(SecretString::from(PASSWORD.to_owned()));
    recipient.set_work_factor(log_n);
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as _)).unwrap();
    let mut sealed = Vec::new();
    let mut w = encryptor.wrap_output(&mut sealed).unwrap();
    w.write_all(&snapshot).unwrap();
    w.finish().unwrap();
    outer(&info, &sealed)
}

/// A backup's two entries: `backup.json` and `settings.tar.age`.
fn split(backup: &[u8]) -> (Vec<u8>, Vec<u8>) {
    use std::io::Read;
    let mut archive = tar::Archive::new(backup);
    let mut entries = archive.entries().unwrap();
    let mut read = || {
        let mut bytes = Vec::new();
        entries
            .next()
            .unwrap()
            .unwrap()
            .read_to_end(&mut bytes)
            .unwrap();
        bytes
    };
    let info = read();
    (info, read())
}

fn outer(info: &[u8], sealed: &[u8]) -> Vec<u8> {
    let mut tar = tar::Builder::new(Vec::new());
    for (name, bytes) in [(INFO_ENTRY, info), (SETTINGS_ENTRY, sealed)] {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        tar.append_data(&mut h, name, bytes).unwrap();
    }
    tar.into_inner().unwrap()
}

/// The backup with its clear `backup.json` rewritten by `f`.
fn relabel(backup: &[u8], f: impl Fn(&mut BackupInfo)) -> Vec<u8> {
    let (info, sealed) = split(backup);
    let mut parsed: BackupInfo = serde_json::from_slice(&info).unwrap();
    f(&mut parsed);
    outer(&serde_json::to_vec(&parsed).unwrap(), &sealed)
}

#[test]
fn a_backup_from_a_newer_version_is_refused_before_anything_changes() {
    let (a_dir, a) = appliance("backup-newer-origin");
    set_policy(&a, 7);
    let made = make(&a, a_dir.path(), "vm", "1.0.0", PASSWORD).unwrap();
    let bytes = std::fs::read(&made.path).unwrap();
    let (b_dir, b) = appliance("backup-newer-target");
    let before = everything(&b, b_dir.path());

    let newer = relabel(&bytes, |i| i.version = "1.2.0".into());
    match restore_on(&b, b_dir.path(), &newer) {
        Err(BackupError::TooNew { found, running }) => {
            assert_eq!((found.as_str(), running.as_str()), ("1.2.0", RUNNING));
        }
        other => panic!("{other:?}"),
    }
    let later_format = relabel(&bytes, |i| i.format = FORMAT + 1);
    assert!(matches!(
        restore_on(&b, b_dir.path(), &later_format),
        Err(BackupError::Format(_))
    ));
    // The settings inside follow a newer schema (the clear label could lie; the sealed
    // snapshot cannot).
    let newer_schema = reseal(&bytes, WORK_FACTOR, |h| h.schema_version = 99);
    assert!(matches!(
        restore_on(&b, b_dir.path(), &newer_schema),
        Err(BackupError::Snapshot(SnapshotError::TooNew {
            found: 99,
            ..
        }))
    ));
    // A password work factor beyond what the appliance grants (memory): refused before
    // scrypt runs.
    let costly = reseal(&bytes, MAX_WORK_FACTOR + 1, |_| {});
    match restore_on(&b, b_dir.path(), &costly) {
        Err(BackupError::Damaged(why)) => assert!(why.contains("work factor"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(everything(&b, b_dir.path()), before);
    // The same backup from this version restores.
    restore_on(&b, b_dir.path(), &bytes).unwrap();
    assert_eq!(b.get::<SecurityPolicy>().unwrap().max_failed_logins, 7);
}

#[test]
fn the_network_settings_travel_in_a_backup_never_in_the_pairs_snapshot() {
    let (a_dir, a) = appliance("backup-net-origin");
    let config = set_network(&a, "52:54:00:12:34:56");
    let made = make(&a, a_dir.path(), "box", "1.0.0", PASSWORD).unwrap();
    assert_eq!(made.info.extras, vec!["network".to_string()]);
    let bytes = std::fs::read(&made.path).unwrap();

    let (b_dir, b) = appliance("backup-net-target");
    let restored = restore_on(&b, b_dir.path(), &bytes).unwrap();
    assert!(restored.applied.network);
    assert_eq!(restored.applied.history, None);
    assert_eq!(b.get::<NetworkConfig>().unwrap(), config);
    let raw = |s: &Store| {
        s.raw_records()
            .unwrap()
            .into_iter()
            .find(|(k, _)| k == "network")
    };
    assert_eq!(raw(&b), raw(&a), "the record as stored");
    assert_ne!(
        b.identity().unwrap().appliance_id,
        a.identity().unwrap().appliance_id
    );

    // The pair's snapshot never carries them, and its apply refuses one that does.
    let mut pair = Vec::new();
    snapshot::export(&a, a_dir.path(), "box", "1.0.0", Extras::NONE, &mut pair).unwrap();
    let (c_dir, c) = appliance("backup-net-pair");
    snapshot::apply(
        &c,
        c_dir.path(),
        &pair[..],
        Audit::system("t", "x"),
        Extras::NONE,
    )
    .unwrap();
    assert_eq!(c.get::<NetworkConfig>().unwrap(), NetworkConfig::default());
    let mut carrying = Vec::new();
    let extras = Extras {
        network: true,
        history: false,
    };
    snapshot::export(&a, a_dir.path(), "box", "1.0.0", extras, &mut carrying).unwrap();
    let before = everything(&c, c_dir.path());
    assert!(matches!(
        snapshot::apply(
            &c,
            c_dir.path(),
            &carrying[..],
            Audit::system("t", "x"),
            Extras::NONE
        ),
        Err(SnapshotError::ExtraRefused(_))
    ));
    assert_eq!(everything(&c, c_dir.path()), before);
}

/// The network manager of a dev-mode appliance (its NICs 52:54:00:12:34:56 and :57) on
/// `store`.
async fn manager(store: &Store) -> crate::net::Handle {
    crate::net::start(crate::net::Options {
        kernel: None,
        store: Some(store.clone()),
        profile: "vm".into(),
        config: None,
        init_dir: None,
        confirm_after: crate::net::CONFIRM_AFTER,
        unapplied: None,
        shared_role: crate::net::SharedIps::Operator,
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn restored_network_settings_naming_absent_nics_give_way_to_the_factory_defaults() {
    // A box whose NIC this machine lacks.
    let (a_dir, a) = appliance("backup-migrate-box");
    set_network(&a, "00:1b:21:aa:bb:cc");
    let from_box = std::fs::read(
        &make(&a, a_dir.path(), "box", "1.0.0", PASSWORD)
            .unwrap()
            .path,
    )
    .unwrap();
    // An appliance whose NIC this machine has.
    let (c_dir, c) = appliance("backup-migrate-same");
    set_network(&c, "52:54:00:12:34:56");
    let same_nics = std::fs::read(
        &make(&c, c_dir.path(), "vm", "1.0.0", PASSWORD)
            .unwrap()
            .path,
    )
    .unwrap();

    let (b_dir, b) = appliance("backup-migrate-vm");
    let net = manager(&b).await;
    let view = net.view().await.unwrap();
    assert!(view.factory_default);

    restore_on(&b, b_dir.path(), &from_box).unwrap();
    let r = net.reload().await.unwrap();
    assert!(!r.in_force);
    let note = r.note.unwrap();
    assert!(note.contains("cannot be used here"), "{note}");
    assert!(note.contains("factory defaults"), "{note}");
    let view = net.view().await.unwrap();
    assert!(view.factory_default);
    assert!(view.notes.contains(&note), "{:?}", view.notes);
    // The restored settings stay stored: a box with that NIC back takes them.
    assert_eq!(
        b.get::<NetworkConfig>().unwrap().interfaces[0].mac,
        "00:1b:21:aa:bb:cc"
    );

    restore_on(&b, b_dir.path(), &same_nics).unwrap();
    let r = net.reload().await.unwrap();
    assert!(r.in_force, "{:?}", r.note);
    assert_eq!(r.note, None);
    assert_eq!(r.hostname, "moved.example.com");
    let view = net.view().await.unwrap();
    assert!(!view.factory_default);
    assert_eq!(view.config.interfaces[0].addresses, vec!["192.168.1.10/24"]);
}

#[test]
fn the_history_travels_when_asked_once_however_often_it_is_restored() {
    let (a_dir, a) = appliance("backup-history-origin");
    set_policy(&a, 7);
    set_policy(&a, 8);
    let a_id = a.identity().unwrap().appliance_id;
    let a_log = a.audit_log(AUDIT_KEEP).unwrap();
    assert!(a_log.len() >= 3);
    let without = make(&a, a_dir.path(), "box", "1.0.0", PASSWORD).unwrap();
    let without = std::fs::read(&without.path).unwrap();
    let made = make_with(&a, a_dir.path(), "box", "1.0.0", PASSWORD, true).unwrap();
    assert_eq!(made.info.extras, vec!["network", "history"]);
    let with = std::fs::read(&made.path).unwrap();

    let (b_dir, b) = appliance("backup-history-target");
    let own = b.audit_log(AUDIT_KEEP).unwrap();
    let restored = restore_on(&b, b_dir.path(), &without).unwrap();
    assert_eq!(restored.applied.history, None);
    assert_eq!(b.audit_log(AUDIT_KEEP).unwrap().len(), own.len() + 1);

    let restored = restore_on(&b, b_dir.path(), &with).unwrap();
    let history = restored.applied.history.unwrap();
    assert_eq!(history.added, a_log.len() as u64);
    assert_eq!(history.already_present, 0);
    let log = b.audit_log(AUDIT_KEEP).unwrap();
    for original in &a_log {
        let copy = log
            .iter()
            .find(|e| {
                e.restored_from
                    .as_ref()
                    .is_some_and(|o| o.appliance_id == a_id && o.id == original.id)
            })
            .unwrap_or_else(|| panic!("entry {} of A missing", original.id));
        assert_eq!(
            (&copy.at, &copy.actor, &copy.action, &copy.detail),
            (
                &original.at,
                &original.actor,
                &original.action,
                &original.detail
            ),
            "the original time and words are kept"
        );
    }
    // B's own entries are kept, unmarked.
    for e in &own {
        assert!(log.iter().any(|l| l == e));
    }
    // The same backup again adds nothing twice; restored on A itself, nothing either.
    let again = restore_on(&b, b_dir.path(), &with).unwrap();
    let history = again.applied.history.unwrap();
    assert_eq!(
        (history.added, history.already_present),
        (0, a_log.len() as u64)
    );
    let on_a = restore_on(&a, a_dir.path(), &with).unwrap();
    assert_eq!(on_a.applied.history.unwrap().added, 0);
    // Ids keep increasing: restored entries come after those present.
    let ids: Vec<u64> = b
        .audit_log(AUDIT_KEEP)
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert!(ids.windows(2).all(|w| w[0] > w[1]));
}

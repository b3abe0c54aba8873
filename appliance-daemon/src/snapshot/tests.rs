//! The snapshot as the pair, a backup and a migration use it: classes complete, export
//! then apply on another appliance, refusals that change nothing, and power cuts.

use std::path::Path;

use super::*;
use crate::store::{Accounts, Audit, SecurityPolicy, Store, User};
use crate::testdir::TestDir;

/// Every `const KEY` of a `Record` in the daemon's sources is classed: a new record fails
/// here until it is added to [`RECORDS`].
#[test]
fn every_record_is_classed() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut keys = Vec::new();
    collect_keys(&src, &mut keys);
    assert!(keys.len() >= 9, "found only {keys:?}");
    for (file, key) in keys {
        if key.starts_with("test.") {
            continue;
        }
        assert!(
            class_of(&key).is_some(),
            "record {key:?} ({file}) is not classed in snapshot::RECORDS"
        );
    }
}

fn collect_keys(dir: &Path, out: &mut Vec<(String, String)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect_keys(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap();
            for line in text.lines() {
                if let Some(rest) = line.trim().strip_prefix("const KEY: &'static str = \"") {
                    let key = rest.split('"').next().unwrap().to_string();
                    out.push((path.display().to_string(), key));
                }
            }
        }
    }
}

/// An appliance's data directory and store, for the snapshot's tests (by difference too).
pub(super) struct Appliance {
    pub(super) dir: TestDir,
    pub(super) store: Store,
}

impl Appliance {
    pub(super) fn new(tag: &str) -> Self {
        let dir = TestDir::new(tag);
        let store = Store::open(&dir.path().join("settings.redb")).unwrap();
        Appliance { dir, store }
    }

    pub(super) fn path(&self) -> &Path {
        self.dir.path()
    }

    pub(super) fn write(&self, rel: &str, text: &str) {
        let path = self.path().join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    pub(super) fn read(&self, rel: &str) -> Option<String> {
        std::fs::read_to_string(self.path().join(rel)).ok()
    }

    fn export(&self) -> Vec<u8> {
        let mut out = Vec::new();
        export(
            &self.store,
            self.path(),
            "box",
            "1.0.0",
            Extras::NONE,
            &mut out,
        )
        .unwrap();
        out
    }

    fn apply(&self, snapshot: &[u8]) -> Result<Applied, SnapshotError> {
        apply(
            &self.store,
            self.path(),
            snapshot,
            Audit::system("test.snapshot", "applied"),
            Extras::NONE,
        )
    }
}

/// A primary with a changed policy, an extra account, a certificate and a site package.
fn primary() -> Appliance {
    let a = Appliance::new("snapshot-primary");
    a.store
        .change(Audit::system("test", "setup"), |tx| {
            let mut policy: SecurityPolicy = tx.get()?;
            policy.max_failed_logins = 9;
            tx.put(&policy)?;
            let mut accounts: Accounts = tx.get()?;
            accounts.users.push(User {
                name: "operator".into(),
                password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
                must_change_password: false,
                failed_logins: 0,
                locked_until: None,
                password_changed_at: Some(1_700_000_000),
                enabled: true,
                created_at: Some(1_700_000_000),
                // Carried with the account, as its password hash is.
                totp: Some(crate::store::Totp {
                    secret: "JBSWY3DPEHPK3PXP".into(),
                    enrolled_at: 1_700_000_000,
                    recovery: vec!["0".repeat(64)],
                }),
            });
            tx.put(&accounts)
        })
        .unwrap();
    a.write("tls/cert.pem", "PRIMARY CERT");
    a.write("tls/key.pem", "PRIMARY KEY");
    a.write("site/1.2.0/index.html", "site 1.2.0");
    std::os::unix::fs::symlink("1.2.0", a.path().join("site/current")).unwrap();
    a.write("etc/hostname", "primary");
    a
}

#[test]
fn the_service_part_moves_and_the_machine_part_stays() {
    let p = primary();
    let b = Appliance::new("snapshot-backup");
    b.write("tls/cert.pem", "BACKUP CERT");
    b.write("site/0.9.0/old.html", "old site");
    b.write("etc/hostname", "backup");
    let backup_id = b.store.identity().unwrap().appliance_id;

    let snapshot = p.export();
    let applied = b.apply(&snapshot).unwrap();
    assert_eq!(
        applied.header.appliance_id,
        p.store.identity().unwrap().appliance_id
    );
    assert!(applied.records.contains(&"accounts".to_string()));

    let policy: SecurityPolicy = b.store.get().unwrap();
    assert_eq!(policy.max_failed_logins, 9);
    let accounts: Accounts = b.store.get().unwrap();
    assert!(accounts.users.iter().any(|u| u.name == "operator"));
    let operator = accounts.user("operator").unwrap();
    assert_eq!(
        operator.totp.as_ref().map(|t| t.secret.as_str()),
        Some("JBSWY3DPEHPK3PXP"),
        "the TOTP secret travels with its account"
    );
    assert_eq!(b.read("tls/cert.pem").as_deref(), Some("PRIMARY CERT"));
    assert_eq!(
        b.read("site/current/index.html").as_deref(),
        Some("site 1.2.0")
    );
    assert_eq!(
        b.read("site/0.9.0/old.html"),
        None,
        "the site part is replaced whole"
    );
    // The machine's own.
    assert_eq!(b.read("etc/hostname").as_deref(), Some("backup"));
    assert_eq!(b.store.identity().unwrap().appliance_id, backup_id);
    assert!(!b.path().join(apply::STAGING).exists());
    assert!(!b.path().join(apply::JOURNAL).exists());
    // The audit entry of the apply.
    assert!(b
        .store
        .audit_log(5)
        .unwrap()
        .iter()
        .any(|e| e.action == "test.snapshot"));
}

#[test]
fn a_directory_the_snapshot_lacks_is_removed() {
    let p = Appliance::new("snapshot-bare");
    let b = Appliance::new("snapshot-full");
    b.write("site/1.0.0/x", "x");
    b.apply(&p.export()).unwrap();
    assert!(!b.path().join("site").exists());
}

/// Nothing changes on a refused snapshot: the settings, the files, and no staging left.
fn assert_untouched(b: &Appliance, before: &[(String, Vec<u8>)]) {
    assert_eq!(b.store.raw_records().unwrap(), before);
    assert_eq!(b.read("tls/cert.pem").as_deref(), Some("BACKUP CERT"));
    assert!(!b.path().join(apply::STAGING).exists());
    assert!(!b.path().join(apply::JOURNAL).exists());
}

#[test]
fn damaged_truncated_or_foreign_snapshots_change_nothing() {
    let p = primary();
    let b = Appliance::new("snapshot-refuse");
    b.write("tls/cert.pem", "BACKUP CERT");
    let before = b.store.raw_records().unwrap();
    let snapshot = p.export();

    // The last 1024 bytes are the end-of-archive zeros: cut just before them and after.
    for cut in [
        0,
        100,
        1024,
        snapshot.len() / 2,
        snapshot.len() - 1025,
        snapshot.len() - 1536,
    ] {
        let err = b.apply(&snapshot[..cut]).unwrap_err();
        assert!(
            matches!(err, SnapshotError::Damaged(_)),
            "cut at {cut}: {err}"
        );
        assert_untouched(&b, &before);
    }
    let err = b.apply(b"not a snapshot at all").unwrap_err();
    assert!(matches!(err, SnapshotError::Damaged(_)), "{err}");
    assert_untouched(&b, &before);

    // A newer schema, and a machine record smuggled in.
    let newer = rewrite(&snapshot, |name, bytes| {
        if name == HEADER_ENTRY {
            let mut h: Header = serde_json::from_slice(bytes).unwrap();
            h.schema_version = 99;
            Some(serde_json::to_vec(&h).unwrap())
        } else {
            None
        }
    });
    assert!(matches!(
        b.apply(&newer),
        Err(SnapshotError::TooNew { found: 99, .. })
    ));
    assert_untouched(&b, &before);
    let foreign = rename_entry(
        &snapshot,
        "records/security_policy.json",
        "records/network.json",
    );
    assert!(matches!(
        b.apply(&foreign),
        Err(SnapshotError::NotService(k)) if k == "network"
    ));
    assert_untouched(&b, &before);
}

#[test]
fn an_unclassed_record_is_not_exported() {
    let a = Appliance::new("snapshot-unclassed");
    a.store
        .change(Audit::system("test", "x"), |tx| {
            tx.put_raw("mystery", b"{}")
        })
        .unwrap();
    let mut out = Vec::new();
    let err = export(&a.store, a.path(), "vm", "1.0.0", Extras::NONE, &mut out).unwrap_err();
    assert!(matches!(err, SnapshotError::Unclassed(k) if k == "mystery"));
    assert!(out.is_empty());
}

/// A power cut after the journal, before the store commit: the next start discards it.
#[test]
fn a_cut_before_the_commit_leaves_the_old_settings() {
    let p = primary();
    let b = Appliance::new("snapshot-cut-early");
    b.write("tls/cert.pem", "BACKUP CERT");
    let before = b.store.raw_records().unwrap();
    // What an apply leaves just before its store transaction.
    let (header, _) = apply::tests_support::stage(&b.path().join(apply::STAGING), &p.export());
    apply::tests_support::journal(b.path(), &header);
    recover(&b.store, b.path()).unwrap();
    assert_untouched(&b, &before);
}

/// A power cut after the store commit, in the middle of the swaps: the next start finishes.
#[test]
fn a_cut_after_the_commit_is_finished_at_the_next_start() {
    let p = primary();
    let b = Appliance::new("snapshot-cut-late");
    b.write("tls/cert.pem", "BACKUP CERT");
    b.write("site/0.9.0/old.html", "old");
    let (header, records) =
        apply::tests_support::stage(&b.path().join(apply::STAGING), &p.export());
    apply::tests_support::journal(b.path(), &header);
    apply::tests_support::commit(&b.store, &header, &records);
    // One of the two swaps done, the other not.
    let old = b.path().join(apply::STAGING).join("old");
    std::fs::create_dir_all(&old).unwrap();
    std::fs::rename(b.path().join("tls"), old.join("tls")).unwrap();
    std::fs::rename(
        b.path().join(apply::STAGING).join(FILES_DIR).join("tls"),
        b.path().join("tls"),
    )
    .unwrap();
    recover(&b.store, b.path()).unwrap();
    assert_eq!(b.read("tls/cert.pem").as_deref(), Some("PRIMARY CERT"));
    assert_eq!(
        b.read("site/current/index.html").as_deref(),
        Some("site 1.2.0")
    );
    assert_eq!(b.read("site/0.9.0/old.html"), None);
    let policy: SecurityPolicy = b.store.get().unwrap();
    assert_eq!(policy.max_failed_logins, 9);
    assert!(!b.path().join(apply::JOURNAL).exists());
    assert!(!b.path().join(apply::STAGING).exists());
}

/// The same tar with some entries' contents replaced.
fn rewrite(tar: &[u8], f: impl Fn(&str, &[u8]) -> Option<Vec<u8>>) -> Vec<u8> {
    map_entries(tar, |name, bytes| (name.to_string(), f(name, bytes)))
}

fn rename_entry(tar: &[u8], from: &str, to: &str) -> Vec<u8> {
    map_entries(tar, |name, _| {
        (if name == from { to } else { name }.to_string(), None)
    })
}

pub(super) fn map_entries(
    tar: &[u8],
    f: impl Fn(&str, &[u8]) -> (String, Option<Vec<u8>>),
) -> Vec<u8> {
    use std::io::Read;
    let mut archive = tar::Archive::new(tar);
    let mut out = tar::Builder::new(Vec::new());
    out.follow_symlinks(false);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        let name = entry.path().unwrap().to_string_lossy().into_owned();
        let mut bytes = Vec::new();
        entry.read_to_end(&mut bytes).unwrap();
        let (name, replaced) = f(&name, &bytes);
        let bytes = replaced.unwrap_or(bytes);
        let mut header = entry.header().clone();
        header.set_size(bytes.len() as u64);
        out.append_data(&mut header, name, &bytes[..]).unwrap();
    }
    out.into_inner().unwrap()
}

/// Two applies at once (a restore and the pair's sync) take turns: each succeeds, and the
/// appliance ends on one snapshot whole, never on a mix, with no staging left.
#[test]
fn applies_at_the_same_time_take_turns() {
    let p = primary();
    let q = Appliance::new("snapshot-other");
    q.write("tls/cert.pem", "OTHER CERT");
    q.write("tls/key.pem", "OTHER KEY");
    let (from_p, from_q) = (p.export(), q.export());
    let b = std::sync::Arc::new(Appliance::new("snapshot-turns"));
    let threads: Vec<_> = [from_p, from_q]
        .into_iter()
        .map(|snapshot| {
            let b = std::sync::Arc::clone(&b);
            std::thread::spawn(move || {
                for _ in 0..3 {
                    b.apply(&snapshot).unwrap();
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    let cert = b.read("tls/cert.pem").unwrap();
    let key = b.read("tls/key.pem").unwrap();
    let policy: SecurityPolicy = b.store.get().unwrap();
    match cert.as_str() {
        "PRIMARY CERT" => {
            assert_eq!(key, "PRIMARY KEY");
            assert_eq!(policy.max_failed_logins, 9);
        }
        "OTHER CERT" => {
            assert_eq!(key, "OTHER KEY");
            assert_eq!(policy, SecurityPolicy::default());
        }
        other => panic!("{other}"),
    }
    assert!(!b.path().join(apply::STAGING).exists());
    assert!(!b.path().join(apply::JOURNAL).exists());
}

//! The snapshot by difference: only changed files travel, the apply is still one step,
//! a kept file that is not what the sender thinks is refused, a cut stream and a failed
//! commit hook change nothing.

use std::collections::BTreeSet;
use std::path::Path;

use super::super::*;
use super::kept_path;
use crate::failover::PairRecord;
use crate::store::{Audit, SecurityPolicy};

use super::super::tests::{map_entries, Appliance as Side};

impl Side {
    fn export_for(&self, base: &Manifest) -> Vec<u8> {
        let mut out = Vec::new();
        export_with(
            &self.store,
            self.path(),
            "box",
            "1.0.0",
            Extras::NONE,
            Some(base),
            &mut out,
        )
        .unwrap();
        out
    }
    fn apply_kept(
        &self,
        snapshot: &[u8],
        also: impl FnOnce(&mut crate::store::Tx<'_>) -> Result<(), crate::store::Error>,
    ) -> Result<Applied, SnapshotError> {
        apply_with(
            &self.store,
            self.path(),
            snapshot,
            Audit::system("test.sync", "applied"),
            ApplyOptions {
                accept: Extras::NONE,
                kept: true,
            },
            also,
        )
    }
    fn generation(&self) -> u64 {
        self.store.get::<PairRecord>().unwrap().generation
    }
}

fn entries(tar: &[u8]) -> BTreeSet<String> {
    tar::Archive::new(tar)
        .entries()
        .unwrap()
        .map(|e| e.unwrap().path().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// P and B share `site/a.bin` and the certificate; `site/b.bin` differs, `site/c.bin`
/// is new on P, `site/d.bin` only on B.
fn pair() -> (Side, Side) {
    let p = Side::new("diff-primary");
    let b = Side::new("diff-backup");
    let big = "x".repeat(300_000);
    for side in [&p, &b] {
        side.write("site/a.bin", &big);
        side.write("tls/cert.pem", "CERT");
    }
    p.write("site/b.bin", "new b");
    b.write("site/b.bin", "old b");
    p.write("site/sub/c.bin", "c");
    b.write("site/d.bin", "d");
    std::os::unix::fs::symlink("sub", p.path().join("site/current")).unwrap();
    p.store
        .change(Audit::system("test", "policy"), |tx| {
            let mut policy: SecurityPolicy = tx.get()?;
            policy.max_failed_logins = 7;
            tx.put(&policy)
        })
        .unwrap();
    (p, b)
}

#[test]
fn only_changed_files_travel_and_the_backup_ends_exactly_as_the_primary() {
    let (p, b) = pair();
    let base = manifest(&b.store, b.path()).unwrap();
    assert_ne!(base, manifest(&p.store, p.path()).unwrap());
    let snapshot = p.export_for(&base);
    let names = entries(&snapshot);
    assert!(names.contains("kept/site/a.bin"), "{names:?}");
    assert!(names.contains("kept/tls/cert.pem"), "{names:?}");
    assert!(!names.contains("files/site/a.bin"), "{names:?}");
    assert!(names.contains("files/site/b.bin"), "{names:?}");
    assert!(names.contains("files/site/sub/c.bin"), "{names:?}");
    assert!(names.contains("files/site/current"), "{names:?}");
    assert!(!names.iter().any(|n| n.contains("d.bin")), "{names:?}");
    // The unchanged 300 kB did not travel.
    assert!(snapshot.len() < 100_000, "{} bytes", snapshot.len());

    b.apply_kept(&snapshot, |_| Ok(())).unwrap();
    assert_eq!(b.read("site/a.bin").unwrap().len(), 300_000);
    assert_eq!(b.read("site/b.bin").as_deref(), Some("new b"));
    assert_eq!(b.read("site/sub/c.bin").as_deref(), Some("c"));
    assert_eq!(b.read("site/d.bin"), None);
    assert_eq!(
        std::fs::read_link(b.path().join("site/current")).unwrap(),
        Path::new("sub")
    );
    assert_eq!(
        b.store.get::<SecurityPolicy>().unwrap().max_failed_logins,
        7
    );
    // Both hold the same service part now: a comparison finds nothing to send.
    assert_eq!(
        manifest(&b.store, b.path()).unwrap(),
        manifest(&p.store, p.path()).unwrap()
    );
}

#[test]
fn a_snapshot_by_difference_is_refused_by_a_plain_apply() {
    let (p, b) = pair();
    let snapshot = p.export_for(&manifest(&b.store, b.path()).unwrap());
    let err = apply(
        &b.store,
        b.path(),
        &snapshot[..],
        Audit::system("test", "restore"),
        Extras::NONE,
    )
    .unwrap_err();
    assert!(matches!(err, SnapshotError::Damaged(_)), "{err}");
    assert_eq!(b.read("site/b.bin").as_deref(), Some("old b"));
}

#[test]
fn a_kept_file_that_changed_since_the_manifest_is_refused_and_nothing_changes() {
    let (p, b) = pair();
    let snapshot = p.export_for(&manifest(&b.store, b.path()).unwrap());
    b.write("site/a.bin", "changed underneath");
    let err = b.apply_kept(&snapshot, |_| Ok(())).unwrap_err();
    assert!(err.to_string().contains("site/a.bin"), "{err}");
    assert_eq!(b.read("site/b.bin").as_deref(), Some("old b"));
    assert_eq!(b.read("site/d.bin").as_deref(), Some("d"));
    assert!(!b.path().join(apply::STAGING).exists());
}

#[test]
fn generations_are_recorded_with_the_apply_or_not_at_all() {
    let (p, b) = pair();
    let put_generation = |n: u64| {
        move |tx: &mut crate::store::Tx<'_>| {
            let mut record: PairRecord = tx.get()?;
            if record.generation >= n {
                return Err(crate::store::Error::Cancelled);
            }
            record.generation = n;
            tx.put(&record)
        }
    };
    let snapshot = p.export_for(&manifest(&b.store, b.path()).unwrap());
    b.apply_kept(&snapshot, put_generation(1)).unwrap();
    assert_eq!(b.generation(), 1);
    let after_one = manifest(&b.store, b.path()).unwrap();

    // The same generation again: refused by the hook inside the transaction, nothing
    // changes (not the files either).
    p.write("site/b.bin", "newer b");
    let again = p.export_for(&after_one);
    let err = b.apply_kept(&again, put_generation(1)).unwrap_err();
    assert!(matches!(
        err,
        SnapshotError::Store(crate::store::Error::Cancelled)
    ));
    assert_eq!(b.generation(), 1);
    assert_eq!(b.read("site/b.bin").as_deref(), Some("new b"));
    assert_eq!(manifest(&b.store, b.path()).unwrap(), after_one);

    // A stream cut anywhere leaves generation 1 whole.
    for cut in [10, again.len() / 3, again.len() - 600] {
        let err = b.apply_kept(&again[..cut], put_generation(2)).unwrap_err();
        assert!(matches!(err, SnapshotError::Damaged(_)), "cut {cut}: {err}");
        assert_eq!(b.generation(), 1);
        assert_eq!(manifest(&b.store, b.path()).unwrap(), after_one);
    }
    b.apply_kept(&again, put_generation(2)).unwrap();
    assert_eq!(b.generation(), 2);
    assert_eq!(b.read("site/b.bin").as_deref(), Some("newer b"));
}

#[test]
fn kept_paths_stay_inside_the_service_directories() {
    assert!(kept_path("kept/site/a/b").is_some());
    assert!(kept_path("kept/site/../settings.redb").is_none());
    assert!(kept_path("kept/etc/hostname").is_none());
    assert!(kept_path("kept//etc").is_none());
    assert!(kept_path("files/site/a").is_none());
}

/// A snapshot carrying a link, then a kept file named through it: the file is never
/// staged where the link points (outside the staging), and the apply is refused.
#[test]
fn a_kept_file_is_never_staged_through_a_link_the_snapshot_carries() {
    let p = Side::new("diff-link-primary");
    let b = Side::new("diff-link-backup");
    for side in [&p, &b] {
        side.write("site/sub/c.bin", "c");
    }
    b.write("site/current/c.bin", "c");
    // From the staging's `files/site/`, up to the data directory.
    std::os::unix::fs::symlink("../../../escaped", p.path().join("site/current")).unwrap();
    let escaped = b.path().join("escaped");
    std::fs::create_dir(&escaped).unwrap();
    let snapshot = p.export_for(&manifest(&b.store, b.path()).unwrap());
    let names = entries(&snapshot);
    assert!(names.contains("files/site/current"), "{names:?}");
    assert!(names.contains("kept/site/sub/c.bin"), "{names:?}");
    let snapshot = map_entries(&snapshot, |name, _| {
        (name.replace("kept/site/sub/", "kept/site/current/"), None)
    });

    let err = b.apply_kept(&snapshot, |_| Ok(())).unwrap_err();
    assert!(matches!(err, SnapshotError::Damaged(_)), "{err}");
    assert_eq!(std::fs::read_dir(&escaped).unwrap().count(), 0);
    assert_eq!(b.read("site/current/c.bin").as_deref(), Some("c"));
    assert!(!b.path().join(apply::STAGING).exists());
}

/// A file removed and another of the same size and modification time made in its place
/// (the filesystem hands out the freed inode again): its sum is its own, never the
/// removed file's remembered one.
#[test]
fn a_reused_inode_is_not_taken_for_the_file_it_held() {
    let side = Side::new("diff-inode-reuse");
    let time = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
    let sha256 =
        |text: &str| hex::encode(ring::digest::digest(&ring::digest::SHA256, text.as_bytes()));
    let mut reused = 0;
    for round in 0..20 {
        let path = side.path().join(format!("site/f{round}"));
        let write = |text: &str| {
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(&path, text).unwrap();
            let file = std::fs::File::options().write(true).open(&path).unwrap();
            file.set_modified(time).unwrap();
        };
        write("old");
        let inode = std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).unwrap());
        assert_eq!(super::sum_of(&path).unwrap().sha256, sha256("old"));
        std::fs::remove_file(&path).unwrap();
        write("new");
        if std::os::unix::fs::MetadataExt::ino(&std::fs::metadata(&path).unwrap()) == inode {
            reused += 1;
        }
        assert_eq!(
            super::sum_of(&path).unwrap().sha256,
            sha256("new"),
            "round {round}"
        );
    }
    eprintln!("inode reused in {reused} of 20 rounds");
}

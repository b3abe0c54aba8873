//! A backup as the guide uses it: made on one appliance with a password, restored on
//! another; the wrong password, a damaged file and a weak password change nothing.

use std::path::Path;

use super::*;
use crate::store::{SecurityPolicy, Store};
use crate::testdir::TestDir;

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
    let restored = restore(
        &b,
        b_dir.path(),
        &bytes[..],
        PASSWORD,
        Audit::system("test.restore", "x"),
    )
    .unwrap();
    assert_eq!(restored.from.profile, "box");
    let policy: SecurityPolicy = b.get().unwrap();
    assert_eq!(policy.max_failed_logins, 7);
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

use redb::WriteTransaction;
use serde::{Deserialize, Serialize};
use std::net::IpAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};

use super::*;
use crate::testdir::TestDir;

fn db_path(dir: &TestDir) -> PathBuf {
    dir.path().join("settings.redb")
}

fn alice() -> User {
    User {
        name: "alice".into(),
        password_hash: "$argon2id$v=19$m=19456,t=2,p=1$c2FsdA$aGFzaA".into(),
        must_change_password: true,
        failed_logins: 0,
        locked_until: None,
        password_changed_at: Some(1_700_000_000),
        enabled: true,
        created_at: None,
        totp: None,
    }
}

fn add_user(store: &Store, user: User) -> Result<(), Error> {
    let audit = Audit::user(
        "admin",
        Some("192.0.2.7".parse().unwrap()),
        "account.create",
        format!("account {} created", user.name),
    );
    store.change(audit, |tx| {
        let mut accounts = tx.get::<Accounts>()?;
        accounts.users.push(user);
        tx.put(&accounts)
    })
}

fn bump(store: &Store, n: u32) {
    for i in 0..n {
        store
            .change(Audit::system("test.bump", format!("bump {i}")), |_| {
                Ok::<_, Error>(())
            })
            .unwrap();
    }
}

#[test]
fn get_returns_default_when_absent() {
    let dir = TestDir::new("store");
    let store = Store::open(&db_path(&dir)).unwrap();
    assert_eq!(store.get::<Accounts>().unwrap(), Accounts::default());
    let policy = store.get::<SecurityPolicy>().unwrap();
    assert_eq!(policy.max_failed_logins, 5);
    assert_eq!(policy.lockout_seconds, 900);
    assert_eq!(policy.session_idle_seconds, 1800);
    assert_eq!(policy.session_max_seconds, 43200);
}

#[test]
fn put_then_get_roundtrips_and_survives_reopen() {
    let dir = TestDir::new("store");
    let store = Store::open(&db_path(&dir)).unwrap();
    add_user(&store, alice()).unwrap();
    let expected = Accounts {
        users: vec![alice()],
    };
    assert_eq!(store.get::<Accounts>().unwrap(), expected);
    drop(store);
    let store = Store::open(&db_path(&dir)).unwrap();
    assert_eq!(store.get::<Accounts>().unwrap(), expected);
    assert_eq!(
        store.get::<Accounts>().unwrap().user("alice"),
        Some(&alice())
    );
}

#[test]
fn change_commits_record_and_audit_together() {
    let dir = TestDir::new("store");
    let store = Store::open(&db_path(&dir)).unwrap();
    let before = store.audit_log(100).unwrap().len();
    let audit = Audit::user(
        "admin",
        Some("2001:db8::1".parse().unwrap()),
        "policy.change",
        "lockout after 3 failures",
    );
    store
        .change(audit, |tx| {
            let mut policy = tx.get::<SecurityPolicy>()?;
            policy.max_failed_logins = 3;
            tx.put(&policy)?;
            // The transaction sees its own put; nobody else does yet, nor the audit entry.
            assert_eq!(tx.get::<SecurityPolicy>()?.max_failed_logins, 3);
            assert_eq!(store.get::<SecurityPolicy>()?.max_failed_logins, 5);
            assert_eq!(store.audit_log(100)?.len(), before);
            Ok::<_, Error>(())
        })
        .unwrap();
    assert_eq!(store.get::<SecurityPolicy>().unwrap().max_failed_logins, 3);
    let log = store.audit_log(100).unwrap();
    assert_eq!(log.len(), before + 1);
    let entry = &log[0];
    assert_eq!(entry.actor, "admin");
    assert_eq!(entry.action, "policy.change");
    assert_eq!(entry.detail, "lockout after 3 failures");
    assert_eq!(
        entry.address,
        Some("2001:db8::1".parse::<IpAddr>().unwrap())
    );
    let now = units::now();
    assert!(entry.at <= now && entry.at + 60 > now);
}

#[derive(Debug, thiserror::Error)]
enum Refused {
    #[error("refused")]
    Refused,
    #[error(transparent)]
    Store(#[from] Error),
}

#[test]
fn failed_change_writes_nothing() {
    let dir = TestDir::new("store");
    let store = Store::open(&db_path(&dir)).unwrap();
    let log_before = store.audit_log(100).unwrap();
    let result = store.change(
        Audit::system("account.create", "account alice created"),
        |tx| {
            tx.put(&Accounts {
                users: vec![alice()],
            })?;
            Err::<(), _>(Refused::Refused)
        },
    );
    assert!(matches!(result, Err(Refused::Refused)));
    assert_eq!(store.get::<Accounts>().unwrap(), Accounts::default());
    assert_eq!(store.audit_log(100).unwrap(), log_before);
    // The store is still usable afterwards.
    add_user(&store, alice()).unwrap();
    assert_eq!(store.get::<Accounts>().unwrap().users.len(), 1);
}

#[test]
fn audit_log_is_newest_first_and_limited() {
    let dir = TestDir::new("store");
    let store = Store::open(&db_path(&dir)).unwrap();
    bump(&store, 5);
    let log = store.audit_log(3).unwrap();
    assert_eq!(log.len(), 3);
    assert_eq!(
        log.iter().map(|e| e.detail.as_str()).collect::<Vec<_>>(),
        ["bump 4", "bump 3", "bump 2"]
    );
    assert!(log.windows(2).all(|w| w[0].id == w[1].id + 1));
    // 5 bumps and the creation entry.
    let all = store.audit_log(100).unwrap();
    assert_eq!(all.len(), 6);
    assert_eq!(all.last().unwrap().action, "store.create");
    assert!(store.audit_log(0).unwrap().is_empty());
}

#[test]
fn audit_log_is_pruned_to_its_bound() {
    let dir = TestDir::new("store");
    let mut store = Store::open(&db_path(&dir)).unwrap();
    store.audit_keep = 4;
    bump(&store, 10);
    let log = store.audit_log(100).unwrap();
    assert_eq!(
        log.iter().map(|e| e.id).collect::<Vec<_>>(),
        [11, 10, 9, 8],
        "ids keep increasing past the pruned ones"
    );
    assert_eq!(log[0].detail, "bump 9");
}

#[test]
fn long_details_are_cut() {
    let dir = TestDir::new("store");
    let store = Store::open(&db_path(&dir)).unwrap();
    store
        .change(Audit::system("test.long", "é".repeat(400)), |_| {
            Ok::<_, Error>(())
        })
        .unwrap();
    let detail = &store.audit_log(1).unwrap()[0].detail;
    assert!(detail.len() <= 500 && detail.ends_with('…'), "{detail}");
}

#[test]
fn new_database_is_created_at_the_current_schema() {
    let dir = TestDir::new("store");
    let store = Store::open(&db_path(&dir)).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert_eq!(SCHEMA_VERSION, 1);
    let log = store.audit_log(10).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].id, 1);
    assert_eq!(log[0].actor, "system");
    assert_eq!(log[0].action, "store.create");
    // Made beside and renamed into place; owner-only, it holds password hashes.
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["settings.redb"]);
    let mode = std::fs::metadata(db_path(&dir))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    // Reopening changes nothing.
    drop(store);
    let store = Store::open(&db_path(&dir)).unwrap();
    assert_eq!(store.audit_log(10).unwrap(), log);
}

#[test]
fn corrupt_record_is_reported_with_its_key() {
    let dir = TestDir::new("store");
    let store = Store::open(&db_path(&dir)).unwrap();
    let txn = store.db.begin_write().unwrap();
    txn.open_table(schema::SETTINGS)
        .unwrap()
        .insert("security_policy", b"{not json".as_slice())
        .unwrap();
    txn.commit().unwrap();
    let err = store.get::<SecurityPolicy>().unwrap_err();
    assert!(
        err.to_string()
            .starts_with("corrupt record security_policy: "),
        "{err}"
    );
}

#[test]
fn identity_is_created_once() {
    let dir = TestDir::new("store");
    let store = Store::open(&db_path(&dir)).unwrap();
    let first = store.identity().unwrap();
    assert_eq!(first.appliance_id.len(), 32);
    assert!(first
        .appliance_id
        .bytes()
        .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
    assert!(first.created_at > 0);
    assert_eq!(store.identity().unwrap(), first);
    drop(store);
    let store = Store::open(&db_path(&dir)).unwrap();
    assert_eq!(store.identity().unwrap(), first);
    let creations: Vec<_> = store
        .audit_log(100)
        .unwrap()
        .into_iter()
        .filter(|e| e.action == "identity.create")
        .collect();
    assert_eq!(creations.len(), 1);
    assert_eq!(creations[0].actor, "system");
    // Two stores never share an id.
    let other = TestDir::new("store");
    let other = Store::open(&db_path(&other)).unwrap();
    assert_ne!(other.identity().unwrap().appliance_id, first.appliance_id);
}

#[tokio::test]
async fn change_async_commits() {
    let dir = TestDir::new("store");
    let store = Store::open(&db_path(&dir)).unwrap();
    store
        .change_async(Audit::system("account.create", "alice"), |tx| {
            tx.put(&Accounts {
                users: vec![alice()],
            })
        })
        .await
        .unwrap();
    assert_eq!(store.get::<Accounts>().unwrap().users.len(), 1);
}

// Schema 1 stored this record with a `msg` field; the test schema 2 renames it `text`.
#[derive(Default, Serialize, Deserialize)]
struct GreetingV1 {
    msg: String,
}
impl Record for GreetingV1 {
    const KEY: &'static str = "test.greeting";
}

#[derive(Default, Serialize, Deserialize)]
struct Greeting {
    text: String,
}
impl Record for Greeting {
    const KEY: &'static str = "test.greeting";
}

static RENAMES: AtomicU32 = AtomicU32::new(0);

fn rename_msg_to_text(txn: &WriteTransaction) -> Result<(), Error> {
    RENAMES.fetch_add(1, Ordering::SeqCst);
    let table = txn.open_table(schema::SETTINGS)?;
    let old: Option<serde_json::Value> = schema::decode(&table, Greeting::KEY)?;
    drop(table);
    if let Some(mut value) = old {
        if let Some(object) = value.as_object_mut() {
            if let Some(msg) = object.remove("msg") {
                object.insert("text".into(), msg);
            }
        }
        schema::encode(txn, Greeting::KEY, &value)?;
    }
    Ok(())
}

fn fail_migration(_: &WriteTransaction) -> Result<(), Error> {
    Err(Error::Random)
}

#[test]
fn migration_runs_once_and_newer_schema_is_refused() {
    let dir = TestDir::new("store");
    let path = db_path(&dir);
    let store = Store::open(&path).unwrap();
    store
        .change(Audit::system("test.greet", "hello"), |tx| {
            tx.put(&GreetingV1 {
                msg: "hello".into(),
            })
        })
        .unwrap();
    drop(store);

    // A migration that fails leaves schema 1 and its data as they were.
    let err = Store::open_with(&path, &[fail_migration]).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("cannot migrate the settings database from schema 1 to 2: "),
        "{err}"
    );
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), 1);
    assert_eq!(store.get::<GreetingV1>().unwrap().msg, "hello");
    drop(store);

    let store = Store::open_with(&path, &[rename_msg_to_text]).unwrap();
    assert_eq!(RENAMES.load(Ordering::SeqCst), 1);
    // The schema 1 file was kept as it was.
    let copy = Store::open(&dir.path().join("settings.redb.schema-1")).unwrap();
    assert_eq!(copy.schema_version().unwrap(), 1);
    assert_eq!(copy.get::<GreetingV1>().unwrap().msg, "hello");
    drop(copy);
    assert_eq!(store.schema_version().unwrap(), 2);
    assert_eq!(store.get::<Greeting>().unwrap().text, "hello");
    let last = &store.audit_log(1).unwrap()[0];
    assert_eq!(
        (last.action.as_str(), last.detail.as_str()),
        ("store.migrate", "settings schema migrated from 1 to 2")
    );
    drop(store);

    let store = Store::open_with(&path, &[rename_msg_to_text]).unwrap();
    assert_eq!(RENAMES.load(Ordering::SeqCst), 1, "ran again at reopen");
    drop(store);

    // Firmware that knows only schema 1 refuses the file and leaves it alone.
    let err = Store::open(&path).unwrap_err();
    assert!(
        matches!(
            err,
            Error::SchemaTooNew {
                found: 2,
                known: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err
        .to_string()
        .contains("has schema 2, newer than this firmware knows (1)"));
    let store = Store::open_with(&path, &[rename_msg_to_text]).unwrap();
    assert_eq!(store.schema_version().unwrap(), 2);
    assert_eq!(store.get::<Greeting>().unwrap().text, "hello");
}

#[test]
fn leftover_of_an_interrupted_creation_is_replaced() {
    let dir = TestDir::new("store");
    std::fs::write(dir.path().join("settings.redb.new"), vec![0u8; 8192]).unwrap();
    let store = Store::open(&db_path(&dir)).unwrap();
    assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
    assert!(!dir.path().join("settings.redb.new").exists());
}

#[test]
fn open_names_the_path_on_failure() {
    let dir = TestDir::new("store");
    let path = dir.path().join("missing-dir/settings.redb");
    let err = Store::open(&path).unwrap_err();
    assert!(
        err.to_string().starts_with(&format!(
            "cannot open the settings database at {}: ",
            path.display()
        )),
        "{err}"
    );
}

/// The pair's sync hears a commit that changed a service record, not one that wrote it
/// again as it was (a login's account update), nor one of a machine record.
#[test]
fn only_a_changed_service_record_signals_the_service_part() {
    let dir = TestDir::new("store-signal");
    let store = Store::open(&db_path(&dir)).unwrap();
    let changes = store.service_changes();
    let count = || *changes.borrow();
    let put_policy = |n: u32| {
        store
            .change(Audit::system("test", "policy"), |tx| {
                let mut policy: SecurityPolicy = tx.get()?;
                policy.max_failed_logins = n;
                tx.put(&policy)
            })
            .unwrap();
    };
    put_policy(7);
    assert_eq!(count(), 1);
    put_policy(7);
    assert_eq!(count(), 1, "the same bytes again");
    put_policy(8);
    assert_eq!(count(), 2);
    store
        .change(Audit::system("test", "identity"), |tx| {
            let mut identity: Identity = tx.get()?;
            identity.appliance_id = "machine".into();
            tx.put(&identity)
        })
        .unwrap();
    assert_eq!(count(), 2, "a machine record");
    store
        .change(Audit::system("test", "remove"), |tx| {
            tx.remove("security_policy")
        })
        .unwrap();
    assert_eq!(count(), 3);
    store
        .change(Audit::system("test", "remove"), |tx| {
            tx.remove("security_policy")
        })
        .unwrap();
    assert_eq!(count(), 3, "nothing to remove");
}

#[test]
fn an_account_of_older_firmware_is_enabled_without_totp() {
    let user: User = serde_json::from_str(
        r#"{"name": "admin", "password_hash": "$argon2id$x", "must_change_password": false,
            "failed_logins": 0, "locked_until": null, "password_changed_at": null}"#,
    )
    .unwrap();
    assert!(user.enabled);
    assert_eq!(user.created_at, None);
    assert!(user.totp.is_none());
    let policy: super::SecurityPolicy =
        serde_json::from_str(r#"{"max_failed_logins": 3}"#).unwrap();
    assert!(!policy.require_totp);
}

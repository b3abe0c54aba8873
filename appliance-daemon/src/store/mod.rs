//! The settings store: one redb database (`<state>/settings.redb`) holding typed records,
//! the schema version and the audit log. Every change is one write transaction that also
//! appends its audit entry, committed with an fsync: a change that returned `Ok` survives a
//! crash or a power cut, and a change that failed left nothing behind, audit entry included.
//!
//! Calls block. Reads are memory-speed and may be made from async code directly; a change
//! waits for an fsync, so async code uses [`Store::change_async`] (a `spawn_blocking`).
//! See docs/store.md for the file layout, encoding and how to add a migration.

mod audit;
mod create;
mod records;
mod schema;
#[cfg(test)]
mod tests;

use redb::{Database, ReadableDatabase, WriteTransaction};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) use audit::read_line as read_audit_line;
pub use audit::{Audit, AuditEntry, AuditExport, AuditOrigin, Imported, AUDIT_KEEP};
pub use records::{Accounts, Identity, LoginRecord, Logins, SecurityPolicy, Totp, User};
pub use schema::SCHEMA_VERSION;

/// Page cache of the database; the file holds a few MB at most.
const CACHE_BYTES: usize = 4 * 1024 * 1024;

/// A typed value stored under one key of the `settings` table, JSON-encoded.
///
/// `Default` is what [`Store::get`] returns while the record was never written. A field added
/// later takes `#[serde(default)]` and needs no migration; a renamed or reshaped one does.
pub trait Record: Serialize + DeserializeOwned + Default {
    /// The record's key. Part of the file format: changing it needs a migration.
    const KEY: &'static str;
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot open the settings database at {path}: {source}")]
    Open { path: PathBuf, source: redb::Error },
    #[error(
        "the settings database at {path} has schema {found}, newer than this firmware knows \
         ({known}): it was written by a newer firmware and is left untouched"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: u64,
        known: u64,
    },
    #[error("the settings database at {path} has no valid schema version ({detail})")]
    InvalidSchema { path: PathBuf, detail: String },
    #[error("cannot migrate the settings database from schema {from} to {}: {source}", from + 1)]
    Migration { from: u64, source: Box<Error> },
    #[error("corrupt record {key}: {source}")]
    Corrupt {
        key: String,
        source: serde_json::Error,
    },
    #[error("cannot encode record {key}: {source}")]
    Encode {
        key: String,
        source: serde_json::Error,
    },
    #[error("settings database error: {0}")]
    Database(#[from] redb::Error),
    #[error("cannot keep a copy of the settings database as {path}: {source}")]
    Copy {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("the system random number generator failed")]
    Random,
    #[error("the settings change was cancelled because the daemon is stopping")]
    Cancelled,
    #[error("cannot import the audit history: {0}")]
    Import(String),
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for Error {
            fn from(err: $t) -> Self {
                Error::Database(err.into())
            }
        }
    )*};
}
from_redb!(
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

/// The open settings database. Cloning is cheap (shared handle); it is `Send + Sync`.
#[derive(Clone)]
pub struct Store {
    db: Arc<Database>,
    path: Arc<Path>,
    audit_keep: u64,
    /// Counts the commits that changed a service record, and the service directories'
    /// changes the services report ([`Store::service_changed`]): the pair's sync watches it.
    service_changes: Arc<tokio::sync::watch::Sender<u64>>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

impl Store {
    /// Opens the database at `path`, creating it at the current schema if absent. An older
    /// schema is first copied to `<path>.schema-<N>`, then migrated. A database from a newer
    /// firmware is refused and left untouched.
    pub fn open(path: &Path) -> Result<Store, Error> {
        Self::open_with(path, schema::MIGRATIONS)
    }

    fn open_with(path: &Path, migrations: &[schema::Migration]) -> Result<Store, Error> {
        create::if_absent(path, migrations)?;
        let mut store = Self::open_file(path)?;
        let known = 1 + migrations.len() as u64;
        if let Some(found @ 1..) = store.stored_version()?.filter(|v| *v < known) {
            // The file as the older firmware left it: for support, and for going back to
            // that firmware, which cannot read the migrated one.
            drop(store);
            create::keep_copy(path, found)?;
            store = Self::open_file(path)?;
        }
        store.prepare(migrations)?;
        Ok(store)
    }

    fn open_file(path: &Path) -> Result<Store, Error> {
        // The integrity check reads the whole (small) file at each open, so a file damaged
        // outside redb is reported as an error instead of trusted.
        let db = Database::builder()
            .set_cache_size(CACHE_BYTES)
            .set_check_integrity_on_open(true)
            .create(path)
            .map_err(|err| Error::Open {
                path: path.to_owned(),
                source: err.into(),
            })?;
        Ok(Store {
            db: Arc::new(db),
            path: Arc::from(path),
            audit_keep: AUDIT_KEEP as u64,
            service_changes: Arc::new(tokio::sync::watch::Sender::new(0)),
        })
    }

    fn stored_version(&self) -> Result<Option<u64>, Error> {
        let txn = self.db.begin_read()?;
        match txn.open_table(schema::META) {
            Ok(table) => schema::version(&table),
            Err(redb::TableError::TableDoesNotExist(_)) => Ok(None),
            Err(err) => Err(err.into()),
        }
    }

    /// Creates or migrates the schema in one transaction: a crash midway leaves the old one.
    fn prepare(&self, migrations: &[schema::Migration]) -> Result<(), Error> {
        let txn = self.db.begin_write()?;
        let audit = match schema::prepare(&txn, &self.path, migrations)? {
            schema::Prepared::Current => return Ok(txn.abort()?),
            schema::Prepared::Created(version) => Audit::system(
                "store.create",
                format!("settings database created at schema {version}"),
            ),
            schema::Prepared::Migrated { from, to } => Audit::system(
                "store.migrate",
                format!("settings schema migrated from {from} to {to}"),
            ),
        };
        audit::append(&txn, &audit, self.audit_keep)?;
        txn.commit()?;
        Ok(())
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The schema version stored in the database.
    pub fn schema_version(&self) -> Result<u64, Error> {
        self.stored_version()?.ok_or_else(|| Error::InvalidSchema {
            path: self.path.to_path_buf(),
            detail: "version missing".into(),
        })
    }

    /// The record of type `T`, or `T::default()` if it was never written.
    pub fn get<T: Record>(&self) -> Result<T, Error> {
        let txn = self.db.begin_read()?;
        let table = txn.open_table(schema::SETTINGS)?;
        Ok(schema::decode(&table, T::KEY)?.unwrap_or_default())
    }

    /// Runs `f` in a write transaction and commits what it put together with `audit`. If `f`
    /// fails, nothing is written, not even the audit entry. Blocks until the commit is on
    /// disk (one fsync); from async code use [`Store::change_async`].
    pub fn change<R, E>(
        &self,
        audit: Audit,
        f: impl FnOnce(&mut Tx<'_>) -> Result<R, E>,
    ) -> Result<R, E>
    where
        E: From<Error>,
    {
        let txn = self.db.begin_write().map_err(Error::from)?;
        let mut tx = Tx {
            txn: &txn,
            audit_keep: self.audit_keep,
            service: false,
        };
        let out = match f(&mut tx) {
            Ok(out) => out,
            Err(err) => {
                // Dropping would abort too; aborting here frees the pages at once. Its own
                // failure matters less than the caller's error.
                if let Err(abort) = txn.abort() {
                    tracing::warn!("cannot abort a failed settings change: {abort}");
                }
                return Err(err);
            }
        };
        let service = tx.service;
        audit::append(&txn, &audit, self.audit_keep)?;
        txn.commit().map_err(Error::from)?;
        if service {
            self.service_changed();
        }
        Ok(out)
    }

    /// Part of the service part changed (a service record committed, or a service
    /// directory written: a certificate installed, a site package installed or rolled
    /// back): whoever watches [`Store::service_changes`] hears it.
    pub(crate) fn service_changed(&self) {
        self.service_changes.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// A receiver that wakes at each [`Store::service_changed`].
    pub(crate) fn service_changes(&self) -> tokio::sync::watch::Receiver<u64> {
        self.service_changes.subscribe()
    }

    /// [`Store::change`] on tokio's blocking pool, for async callers.
    pub async fn change_async<R, E, F>(&self, audit: Audit, f: F) -> Result<R, E>
    where
        F: FnOnce(&mut Tx<'_>) -> Result<R, E> + Send + 'static,
        R: Send + 'static,
        E: From<Error> + Send + 'static,
    {
        let store = self.clone();
        blocking(move || store.change(audit, f)).await
    }

    /// Every record as stored (key, JSON), in key order: what a snapshot exports.
    pub(crate) fn raw_records(&self) -> Result<Vec<(String, Vec<u8>)>, Error> {
        use redb::ReadableTable;
        let txn = self.db.begin_read()?;
        let table = txn.open_table(schema::SETTINGS)?;
        let mut out = Vec::new();
        for entry in table.iter()? {
            let (key, value) = entry?;
            out.push((key.value().to_string(), value.value().to_vec()));
        }
        Ok(out)
    }

    /// The whole audit log as JSON lines, oldest first (a backup's history).
    pub(crate) fn audit_export(&self) -> Result<AuditExport, Error> {
        let txn = self.db.begin_read()?;
        audit::export(&txn.open_table(schema::AUDIT)?)
    }

    /// Up to `limit` audit entries with an id above `after`, oldest first, and the newest
    /// id in the log (0 when it is empty).
    pub(crate) fn audit_after(
        &self,
        after: u64,
        limit: usize,
    ) -> Result<(Vec<AuditEntry>, u64), Error> {
        let txn = self.db.begin_read()?;
        audit::after(&txn.open_table(schema::AUDIT)?, after, limit)
    }

    /// The latest `limit` audit entries, newest first.
    pub fn audit_log(&self, limit: usize) -> Result<Vec<AuditEntry>, Error> {
        let txn = self.db.begin_read()?;
        audit::latest(&txn.open_table(schema::AUDIT)?, limit)
    }
}

/// The open write transaction of one [`Store::change`].
pub struct Tx<'a> {
    txn: &'a WriteTransaction,
    audit_keep: u64,
    /// A service record was changed or removed.
    service: bool,
}

impl Tx<'_> {
    /// Record `key` was written: when its stored bytes `changed` and it is a service
    /// record, the commit signals a change of the service part (a record rewritten as it
    /// was, as a login's account update often is, does not).
    fn touch(&mut self, key: &str, changed: bool) {
        if changed && crate::snapshot::class_of(key) == Some(crate::snapshot::Class::Service) {
            self.service = true;
        }
    }
}

impl Tx<'_> {
    /// The record as this transaction sees it (including its own puts), or its default.
    pub fn get<T: Record>(&self) -> Result<T, Error> {
        let table = self.txn.open_table(schema::SETTINGS)?;
        Ok(schema::decode(&table, T::KEY)?.unwrap_or_default())
    }

    /// Replaces the record; written when the change commits.
    pub fn put<T: Record>(&mut self, value: &T) -> Result<(), Error> {
        let changed = schema::encode(self.txn, T::KEY, value)?;
        self.touch(T::KEY, changed);
        Ok(())
    }

    /// Every key of the settings table as this transaction sees it.
    pub(crate) fn keys(&self) -> Result<Vec<String>, Error> {
        use redb::ReadableTable;
        let table = self.txn.open_table(schema::SETTINGS)?;
        let mut keys = Vec::new();
        for entry in table.iter()? {
            keys.push(entry?.0.value().to_string());
        }
        Ok(keys)
    }

    /// Replaces record `key` with `json` as it is (a snapshot's record, checked to be JSON
    /// by the caller).
    pub(crate) fn put_raw(&mut self, key: &str, json: &[u8]) -> Result<(), Error> {
        let changed = schema::insert(self.txn, key, json)?;
        self.touch(key, changed);
        Ok(())
    }

    /// Add an audit export made on appliance `from` to this log (`here`'s), without
    /// duplicates: [`audit::import`].
    pub(crate) fn import_audit(
        &mut self,
        input: &mut impl std::io::BufRead,
        from: &str,
        here: &str,
    ) -> Result<Imported, Error> {
        audit::import(self.txn, input, from, here, self.audit_keep)
    }

    /// Removes record `key`: [`Store::get`] returns its default again.
    pub(crate) fn remove(&mut self, key: &str) -> Result<(), Error> {
        let removed = self
            .txn
            .open_table(schema::SETTINGS)?
            .remove(key)?
            .is_some();
        self.touch(key, removed);
        Ok(())
    }
}

/// Run `f` on tokio's blocking pool, for async callers of store work; a panic there is the
/// caller's, a runtime shutting down is [`Error::Cancelled`].
pub(crate) async fn blocking<R, E>(
    f: impl FnOnce() -> Result<R, E> + Send + 'static,
) -> Result<R, E>
where
    R: Send + 'static,
    E: From<Error> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(result) => result,
        Err(err) if err.is_panic() => std::panic::resume_unwind(err.into_panic()),
        Err(_) => Err(Error::Cancelled.into()),
    }
}

//! Tables, record encoding, the schema version and its forward migrations.
//!
//! To add schema 2: write `fn v1_to_v2(txn: &WriteTransaction) -> Result<(), Error>` below and
//! append it to [`MIGRATIONS`]; [`SCHEMA_VERSION`] follows from the list's length.

use redb::{ReadableTable, ReadableTableMetadata, TableDefinition, WriteTransaction};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;

use super::Error;

/// `"schema_version"` -> the schema the data follows.
pub(super) const META: TableDefinition<&str, u64> = TableDefinition::new("meta");
/// [`super::Record::KEY`] -> the record as JSON.
pub(super) const SETTINGS: TableDefinition<&str, &[u8]> = TableDefinition::new("settings");
/// Audit id -> the entry as JSON.
pub(super) const AUDIT: TableDefinition<u64, &[u8]> = TableDefinition::new("audit");

const VERSION_KEY: &str = "schema_version";

/// One step, from schema N to N+1, run inside the write transaction that opens the store.
pub(super) type Migration = fn(&WriteTransaction) -> Result<(), Error>;

/// `MIGRATIONS[i]` takes schema `i + 1` to `i + 2`. Append only; never edit a released step.
pub(super) const MIGRATIONS: &[Migration] = &[];

/// The schema this firmware writes. Schema 1 is the initial layout.
pub const SCHEMA_VERSION: u64 = 1 + MIGRATIONS.len() as u64;

/// What opening did to the schema.
pub(super) enum Prepared {
    Current,
    Created(u64),
    Migrated { from: u64, to: u64 },
}

/// Creates the tables and version of a new database, or brings an older one forward with
/// `migrations`. Commits nothing: the caller commits (or drops) `txn`.
pub(super) fn prepare(
    txn: &WriteTransaction,
    path: &Path,
    migrations: &[Migration],
) -> Result<Prepared, Error> {
    let known = 1 + migrations.len() as u64;
    let invalid = |detail: String| Error::InvalidSchema {
        path: path.to_owned(),
        detail,
    };
    let Some(found) = version(&txn.open_table(META)?)? else {
        // Opening the tables in a write transaction creates them.
        if !txn.open_table(SETTINGS)?.is_empty()? || !txn.open_table(AUDIT)?.is_empty()? {
            return Err(invalid("records present, version missing".into()));
        }
        set_version(txn, known)?;
        return Ok(Prepared::Created(known));
    };
    if found == 0 {
        return Err(invalid("version 0".into()));
    }
    if found > known {
        return Err(Error::SchemaTooNew {
            path: path.to_owned(),
            found,
            known,
        });
    }
    if found == known {
        return Ok(Prepared::Current);
    }
    for from in found..known {
        migrations[(from - 1) as usize](txn).map_err(|err| Error::Migration {
            from,
            source: Box::new(err),
        })?;
    }
    set_version(txn, known)?;
    Ok(Prepared::Migrated {
        from: found,
        to: known,
    })
}

pub(super) fn version(table: &impl ReadableTable<&'static str, u64>) -> Result<Option<u64>, Error> {
    Ok(table.get(VERSION_KEY)?.map(|v| v.value()))
}

fn set_version(txn: &WriteTransaction, version: u64) -> Result<(), Error> {
    txn.open_table(META)?.insert(VERSION_KEY, version)?;
    Ok(())
}

/// The record under `key`, decoded as `T` (a migration may use `serde_json::Value`).
pub(super) fn decode<T: DeserializeOwned>(
    table: &impl ReadableTable<&'static str, &'static [u8]>,
    key: &str,
) -> Result<Option<T>, Error> {
    let Some(bytes) = table.get(key)? else {
        return Ok(None);
    };
    serde_json::from_slice(bytes.value())
        .map(Some)
        .map_err(|source| Error::Corrupt {
            key: key.to_owned(),
            source,
        })
}

/// Stores `value` as the record under `key`; whether the stored bytes changed.
pub(super) fn encode<T: Serialize + ?Sized>(
    txn: &WriteTransaction,
    key: &str,
    value: &T,
) -> Result<bool, Error> {
    let bytes = serde_json::to_vec(value).map_err(|source| Error::Encode {
        key: key.to_owned(),
        source,
    })?;
    insert(txn, key, &bytes)
}

/// Stores `bytes` under `key`; whether they differ from what was stored.
pub(super) fn insert(txn: &WriteTransaction, key: &str, bytes: &[u8]) -> Result<bool, Error> {
    let mut table = txn.open_table(SETTINGS)?;
    let changed = table
        .insert(key, bytes)?
        .is_none_or(|old| old.value() != bytes);
    Ok(changed)
}

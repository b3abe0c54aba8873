//! Applying a snapshot as one step. The whole stream is read and checked first: records
//! kept in memory (small), directories unpacked into a staging directory on `data`;
//! nothing of the running appliance changes until the end marker has been read. Then:
//! 1. the staged files are flushed to the disk (syncfs), then a journal
//!    (`snapshot-apply.json`) names the snapshot and its directories (fsynced);
//! 2. one store transaction replaces the service records and records the snapshot's id;
//! 3. each service directory is swapped for its staged copy (renames);
//! 4. the journal and the staging directory are removed.
//!
//! A power cut before 2 commits leaves the previous settings ([`recover`] discards the
//! staging at the next start); after it, [`recover`] finishes the swaps: the appliance
//! ends on the old service part or the new one, never a mix.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

use super::diff::{kept_path, take_kept, KEPT_DIR};
use super::{
    class_of, io_error, service_directories, Class, End, Extras, Header, SnapshotError, END_ENTRY,
    FILES_DIR, FORMAT, HEADER_ENTRY, HISTORY_ENTRY, HISTORY_LIMIT, NETWORK_ENTRY, NETWORK_RECORD,
    RECORDS_DIR, RECORD_LIMIT,
};
use crate::store::{Audit, Imported, Store, SCHEMA_VERSION};

/// The store record holding the id of the last snapshot applied.
pub(super) const APPLIED_KEY: &str = "snapshot_applied";
/// The journal of an apply under way, in the data directory.
pub(super) const JOURNAL: &str = "snapshot-apply.json";
/// Where an apply stages the directories, in the data directory.
pub(super) const STAGING: &str = "snapshot-staging";
/// The history extra, staged (checked and rewritten one entry a line).
const STAGED_HISTORY: &str = "history.jsonl";

/// What an apply replaced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Applied {
    pub(crate) header: Header,
    /// The service records now in force (those the snapshot did not carry were removed:
    /// they read as their defaults).
    pub(crate) records: Vec<String>,
    /// The network extra replaced this appliance's network settings.
    pub(crate) network: bool,
    /// What the history extra added to the audit log.
    pub(crate) history: Option<Imported>,
}

/// What [`read_into`] took from a snapshot.
struct Taken {
    header: Header,
    records: BTreeMap<String, Vec<u8>>,
    network: Option<Vec<u8>>,
    /// The history was staged.
    history: bool,
}

#[derive(Debug, Serialize, Deserialize)]
struct Journal {
    id: String,
    directories: Vec<String>,
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct AppliedRecord {
    id: String,
}

/// Replace this appliance's service part with the snapshot read from `input`, with the
/// extras in `accept` (none for the pair's sync; a restore's) in the same store
/// transaction as the service records; a snapshot carrying others is refused.
pub(crate) fn apply(
    store: &Store,
    state_dir: &Path,
    input: impl std::io::Read,
    audit: Audit,
    accept: Extras,
) -> Result<Applied, SnapshotError> {
    let options = ApplyOptions {
        accept,
        kept: false,
    };
    apply_with(store, state_dir, input, audit, options, |_| Ok(()))
}

/// How an apply reads its snapshot.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct ApplyOptions {
    /// The extras taken (others are refused).
    pub(crate) accept: Extras,
    /// `kept/` entries are taken from this appliance's current tree (a snapshot by
    /// difference, the pair's sync); refused otherwise.
    pub(crate) kept: bool,
}

/// [`apply`] with `options`, and `also` run in the same store transaction as the service
/// records (the pair's sync records its generation there: it is in force exactly when
/// the snapshot is). When `also` fails, nothing changes.
pub(crate) fn apply_with(
    store: &Store,
    state_dir: &Path,
    input: impl std::io::Read,
    audit: Audit,
    options: ApplyOptions,
    also: impl FnOnce(&mut crate::store::Tx<'_>) -> Result<(), crate::store::Error>,
) -> Result<Applied, SnapshotError> {
    let _alone = super::SERVICE_PART
        .write()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    // An apply cut short earlier is settled first: its staging is this one's.
    recover(store, state_dir)?;
    let staging = state_dir.join(STAGING);
    let kept_from = options.kept.then_some(state_dir);
    let read = match read_into(&staging, input, options.accept, kept_from) {
        Ok(v) => v,
        Err(e) => {
            remove_all(&staging);
            return Err(e);
        }
    };
    let Taken {
        header,
        records,
        network,
        history,
    } = read;
    // Whose log the history joins (read before the transaction: made at first start).
    let here = if history {
        match store.identity() {
            Ok(identity) => identity.appliance_id,
            Err(e) => {
                remove_all(&staging);
                return Err(e.into());
            }
        }
    } else {
        String::new()
    };
    // The staged files on the disk before anything refers to them: renamed into place
    // after a commit, a file whose data was still in memory would be empty after a power
    // cut (ext4 writes data late). One syncfs flushes them all, however many.
    if let Err(e) = sync_filesystem(state_dir) {
        remove_all(&staging);
        return Err(e);
    }
    let journal = Journal {
        id: header.id.clone(),
        directories: header.directories.clone(),
    };
    let journal_path = state_dir.join(JOURNAL);
    if let Err(e) = write_synced(&journal_path, &journal) {
        remove_all(&staging);
        return Err(e);
    }
    let keys: Vec<String> = records.keys().cloned().collect();
    let committed = store.change(audit, |tx| {
        for key in tx.keys()? {
            if class_of(&key) == Some(Class::Service) && !records.contains_key(&key) {
                tx.remove(&key)?;
            }
        }
        for (key, json) in &records {
            tx.put_raw(key, json)?;
        }
        if let Some(json) = &network {
            tx.put_raw(NETWORK_RECORD, json)?;
        }
        let imported = if history {
            let path = staging.join(STAGED_HISTORY);
            let file = std::fs::File::open(&path)
                .map_err(|e| crate::store::Error::Import(format!("{}: {e}", path.display())))?;
            let mut input = std::io::BufReader::new(file);
            Some(tx.import_audit(&mut input, &header.appliance_id, &here)?)
        } else {
            None
        };
        let applied = serde_json::to_vec(&AppliedRecord {
            id: header.id.clone(),
        })
        .unwrap_or_default();
        tx.put_raw(APPLIED_KEY, &applied)?;
        also(tx)?;
        Ok::<_, crate::store::Error>(imported)
    });
    let imported = match committed {
        Ok(imported) => imported,
        Err(e) => {
            discard(state_dir);
            return Err(e.into());
        }
    };
    finish(state_dir, &journal)?;
    Ok(Applied {
        header,
        records: keys,
        network: network.is_some(),
        history: imported,
    })
}

/// Settle an apply a power cut interrupted (at start, before the store is used): finish it
/// if its records were committed, else discard what it staged.
pub(crate) fn recover(store: &Store, state_dir: &Path) -> Result<(), SnapshotError> {
    let journal_path = state_dir.join(JOURNAL);
    let text = match std::fs::read(&journal_path) {
        Ok(text) => text,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            remove_all(&state_dir.join(STAGING));
            return Ok(());
        }
        Err(e) => return Err(io_error(&journal_path)(e)),
    };
    let Ok(journal) = serde_json::from_slice::<Journal>(&text) else {
        // Written with a temporary file and a rename: a journal that does not read was not
        // ours to finish; nothing was committed after it.
        tracing::warn!(
            "snapshot: unreadable journal {}; discarded",
            journal_path.display()
        );
        discard(state_dir);
        return Ok(());
    };
    let applied = store
        .raw_records()?
        .into_iter()
        .find(|(key, _)| key == APPLIED_KEY)
        .and_then(|(_, json)| serde_json::from_slice::<AppliedRecord>(&json).ok());
    if applied.is_some_and(|a| a.id == journal.id) {
        tracing::warn!(id = %journal.id, "snapshot: finishing an apply a restart interrupted");
        finish(state_dir, &journal)
    } else {
        tracing::warn!(id = %journal.id, "snapshot: discarding an apply a restart interrupted before it took effect");
        discard(state_dir);
        Ok(())
    }
}

/// Read the whole snapshot: header, records, extras, staged directories, end marker.
fn read_into(
    staging: &Path,
    input: impl std::io::Read,
    accept: Extras,
    kept_from: Option<&Path>,
) -> Result<Taken, SnapshotError> {
    let damaged = |what: String| SnapshotError::Damaged(what);
    remove_all(staging);
    std::fs::create_dir_all(staging.join(FILES_DIR)).map_err(io_error(staging))?;
    let mut archive = tar::Archive::new(input);
    archive.set_preserve_permissions(true);
    archive.set_overwrite(false);
    let mut entries = archive
        .entries()
        .map_err(|e| damaged(format!("not a tar stream: {e}")))?;
    let header: Header = match entries.next() {
        Some(Ok(mut entry)) if entry.path().is_ok_and(|p| p == Path::new(HEADER_ENTRY)) => {
            let json = read_small(&mut entry, HEADER_ENTRY)?;
            serde_json::from_slice(&json)
                .map_err(|e| damaged(format!("{HEADER_ENTRY} does not read: {e}")))?
        }
        Some(Err(e)) => return Err(damaged(format!("not a tar stream: {e}"))),
        _ => return Err(damaged(format!("{HEADER_ENTRY} is not its first entry"))),
    };
    if header.format != FORMAT {
        return Err(SnapshotError::Format {
            found: header.format,
        });
    }
    if header.schema_version > SCHEMA_VERSION {
        return Err(SnapshotError::TooNew {
            found: header.schema_version,
            known: SCHEMA_VERSION,
        });
    }
    if header.schema_version < SCHEMA_VERSION {
        // Records are migrated with the store's steps once a schema 2 exists; until then
        // an older schema cannot occur.
        return Err(damaged(format!(
            "schema {} is older than any this firmware migrates",
            header.schema_version
        )));
    }
    if let Some(d) = header
        .directories
        .iter()
        .find(|d| !service_directories().any(|s| s == d.as_str()))
    {
        return Err(SnapshotError::NotService(d.clone()));
    }
    let extras = Extras::from_names(&header.extras)?;
    if extras.network && !accept.network {
        return Err(SnapshotError::ExtraRefused("the network settings".into()));
    }
    if extras.history && !accept.history {
        return Err(SnapshotError::ExtraRefused("the logged history".into()));
    }
    for dir in &header.directories {
        let path = staging.join(FILES_DIR).join(dir);
        std::fs::create_dir_all(&path).map_err(io_error(&path))?;
    }

    let mut records = BTreeMap::new();
    let mut network = None;
    let mut history = false;
    let mut files = 0u64;
    let mut end = None;
    for entry in entries {
        let mut entry = entry.map_err(|e| damaged(e.to_string()))?;
        if end.is_some() {
            return Err(damaged(format!("entries after {END_ENTRY}")));
        }
        let path = entry
            .path()
            .map_err(|e| damaged(e.to_string()))?
            .into_owned();
        let name = path.to_string_lossy().into_owned();
        if name == END_ENTRY {
            let json = read_small(&mut entry, END_ENTRY)?;
            end = Some(
                serde_json::from_slice::<End>(&json)
                    .map_err(|e| damaged(format!("{END_ENTRY} does not read: {e}")))?,
            );
        } else if name == NETWORK_ENTRY && extras.network && network.is_none() {
            let json = read_small(&mut entry, &name)?;
            serde_json::from_slice::<crate::net::NetworkConfig>(&json)
                .map_err(|e| damaged(format!("{name} does not read: {e}")))?;
            network = Some(json);
        } else if name == HISTORY_ENTRY && extras.history && !history {
            stage_history(&mut entry, &staging.join(STAGED_HISTORY))?;
            history = true;
        } else if let Some(file) = name.strip_prefix(RECORDS_DIR) {
            let key = file
                .strip_suffix(".json")
                .ok_or_else(|| damaged(format!("{name} is not a record")))?;
            if class_of(key) != Some(Class::Service) {
                return Err(SnapshotError::NotService(key.to_string()));
            }
            let json = read_small(&mut entry, &name)?;
            serde_json::from_slice::<serde_json::Value>(&json)
                .map_err(|e| damaged(format!("record {key} is not JSON: {e}")))?;
            records.insert(key.to_string(), json);
        } else if let Some(state_dir) = kept_from.filter(|_| name.starts_with(KEPT_DIR)) {
            let (dir, rel) = kept_path(&name)
                .ok_or_else(|| damaged(format!("{name} is outside the carried directories")))?;
            if !header.directories.contains(&dir) {
                return Err(SnapshotError::NotService(dir));
            }
            let sha256 = read_small(&mut entry, &name)?;
            let sha256 = String::from_utf8_lossy(&sha256).into_owned();
            take_kept(state_dir, &dir, &rel, &sha256, &staging.join(FILES_DIR))?;
            files += 1;
        } else if name.starts_with(FILES_DIR) {
            let dir = top_directory(&path)
                .ok_or_else(|| damaged(format!("{name} is outside the carried directories")))?;
            if !header.directories.contains(&dir) {
                return Err(SnapshotError::NotService(dir));
            }
            let kind = entry.header().entry_type();
            if !(kind.is_file() || kind.is_dir() || kind.is_symlink()) {
                return Err(damaged(format!("{name}: not a file, directory or link")));
            }
            if !kind.is_dir() {
                files += 1;
            }
            entry
                .unpack_in(staging)
                .map_err(|e| damaged(format!("{name} cannot be unpacked: {e}")))?;
        } else {
            return Err(damaged(format!("unexpected entry {name}")));
        }
    }
    if extras.network != network.is_some() || extras.history != history {
        return Err(damaged(format!(
            "it names the extras {:?} but does not carry them all",
            header.extras
        )));
    }
    let expected = End {
        records: records.len() as u64,
        files,
        extras: u64::from(network.is_some()) + u64::from(history),
    };
    match end {
        Some(end) if end == expected => Ok(Taken {
            header,
            records,
            network,
            history,
        }),
        Some(end) => Err(damaged(format!(
            "it says {} records, {} files and {} extras but carries {}, {} and {}",
            end.records, end.files, end.extras, expected.records, expected.files, expected.extras
        ))),
        None => Err(damaged(format!("it ends before {END_ENTRY}: cut short"))),
    }
}

/// Check the history extra entry by entry while writing it to `path`, one entry a line.
fn stage_history(entry: &mut impl std::io::Read, path: &Path) -> Result<(), SnapshotError> {
    use std::io::Write;
    let file = std::fs::File::create(path).map_err(io_error(path))?;
    let mut out = std::io::BufWriter::new(file);
    let mut input = std::io::BufReader::new(entry.take(HISTORY_LIMIT + 1));
    let mut bytes = 0u64;
    while let Some(line) = crate::store::read_audit_line(&mut input)
        .map_err(|e| SnapshotError::Damaged(format!("{HISTORY_ENTRY}: {e}")))?
    {
        let mut json = serde_json::to_vec(&line)
            .map_err(std::io::Error::other)
            .map_err(io_error(path))?;
        json.push(b'\n');
        bytes += json.len() as u64;
        out.write_all(&json).map_err(io_error(path))?;
    }
    if bytes > HISTORY_LIMIT {
        return Err(SnapshotError::Damaged(format!(
            "{HISTORY_ENTRY} is larger than {HISTORY_LIMIT} bytes"
        )));
    }
    out.flush().map_err(io_error(path))
}

/// `files/<dir>/...` -> `<dir>`, for a plain relative path.
fn top_directory(path: &Path) -> Option<String> {
    let mut parts = path.components();
    if parts.next() != Some(Component::Normal("files".as_ref())) {
        return None;
    }
    match parts.next() {
        Some(Component::Normal(dir)) => Some(dir.to_string_lossy().into_owned()),
        _ => None,
    }
}

fn read_small(entry: &mut impl Read, name: &str) -> Result<Vec<u8>, SnapshotError> {
    let mut bytes = Vec::new();
    entry
        .take(RECORD_LIMIT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| SnapshotError::Damaged(format!("{name}: {e}")))?;
    if bytes.len() as u64 > RECORD_LIMIT {
        return Err(SnapshotError::Damaged(format!(
            "{name} is larger than {RECORD_LIMIT} bytes"
        )));
    }
    Ok(bytes)
}

/// Swap each service directory for its staged copy (or remove it when the snapshot does
/// not carry it), then drop the journal and the staging. Safe to run again after a power
/// cut at any point: a swap already done is not redone.
fn finish(state_dir: &Path, journal: &Journal) -> Result<(), SnapshotError> {
    let staging = state_dir.join(STAGING);
    let old = staging.join("old");
    std::fs::create_dir_all(&old).map_err(io_error(&old))?;
    for dir in service_directories() {
        let target = state_dir.join(dir);
        let staged = staging.join(FILES_DIR).join(dir);
        let carried = journal.directories.iter().any(|d| d == dir);
        let swap_due = if carried {
            staged.exists()
        } else {
            target.exists()
        };
        if !swap_due {
            continue;
        }
        if target.exists() {
            rename(&target, &old.join(dir))?;
        }
        if carried {
            rename(&staged, &target)?;
        }
    }
    sync_dir(state_dir)?;
    let journal_path = state_dir.join(JOURNAL);
    std::fs::remove_file(&journal_path).map_err(io_error(&journal_path))?;
    sync_dir(state_dir)?;
    remove_all(&staging);
    Ok(())
}

/// Drop an apply that did not take effect.
fn discard(state_dir: &Path) {
    remove_all(&state_dir.join(STAGING));
    let journal = state_dir.join(JOURNAL);
    if let Err(e) = std::fs::remove_file(&journal) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::error!("snapshot: cannot remove {}: {e}", journal.display());
        }
    }
}

fn rename(from: &Path, to: &Path) -> Result<(), SnapshotError> {
    if to.exists() {
        std::fs::remove_dir_all(to).map_err(io_error(to))?;
    }
    std::fs::rename(from, to).map_err(io_error(from))
}

fn remove_all(path: &Path) {
    if let Err(e) = std::fs::remove_dir_all(path) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("snapshot: cannot remove {}: {e}", path.display());
        }
    }
}

/// Write `value` as JSON to `path` through a temporary file, fsynced, then renamed.
fn write_synced(path: &Path, value: &impl Serialize) -> Result<(), SnapshotError> {
    let json = serde_json::to_vec_pretty(value).map_err(std::io::Error::other);
    let tmp: PathBuf = path.with_extension("tmp");
    json.and_then(|json| {
        use std::io::Write;
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&json)?;
        file.sync_all()
    })
    .map_err(io_error(&tmp))?;
    std::fs::rename(&tmp, path).map_err(io_error(path))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Flush every file of the filesystem holding `dir` to the disk.
fn sync_filesystem(dir: &Path) -> Result<(), SnapshotError> {
    use std::os::fd::AsRawFd;
    let handle = std::fs::File::open(dir).map_err(io_error(dir))?;
    nix::unistd::syncfs(handle.as_raw_fd()).map_err(|e| io_error(dir)(e.into()))
}

fn sync_dir(dir: &Path) -> Result<(), SnapshotError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(io_error(dir))
}

/// The steps of [`apply`] one at a time, for the power-cut tests.
#[cfg(test)]
pub(super) mod tests_support {
    use super::*;

    pub(in crate::snapshot) fn stage(
        staging: &Path,
        snapshot: &[u8],
    ) -> (Header, BTreeMap<String, Vec<u8>>) {
        let read = read_into(staging, snapshot, Extras::NONE, None).unwrap();
        (read.header, read.records)
    }

    pub(in crate::snapshot) fn journal(state_dir: &Path, header: &Header) {
        let journal = Journal {
            id: header.id.clone(),
            directories: header.directories.clone(),
        };
        write_synced(&state_dir.join(JOURNAL), &journal).unwrap();
    }

    pub(in crate::snapshot) fn commit(
        store: &Store,
        header: &Header,
        records: &BTreeMap<String, Vec<u8>>,
    ) {
        store
            .change(Audit::system("test", "commit"), |tx| {
                for (key, json) in records {
                    tx.put_raw(key, json)?;
                }
                let applied = serde_json::to_vec(&AppliedRecord {
                    id: header.id.clone(),
                })
                .unwrap();
                tx.put_raw(APPLIED_KEY, &applied)
            })
            .unwrap();
    }
}

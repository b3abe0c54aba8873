//! Writing a snapshot: the header, the service records, the service directories, then the
//! end marker, streamed into any writer (memory stays bounded whatever the size of the
//! site data: files are copied through, never held whole).

use std::io::Write;
use std::path::Path;

use super::diff::{self, Kind, Manifest, KEPT_DIR};
use super::{
    class_of, io_error, service_directories, Class, End, Extras, Header, SnapshotError, END_ENTRY,
    FILES_DIR, FORMAT, HEADER_ENTRY, HISTORY_ENTRY, NETWORK_ENTRY, NETWORK_RECORD, RECORDS_DIR,
};
use crate::store::Store;

/// What an export wrote.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Exported {
    pub(crate) header: Header,
    pub(crate) end: End,
}

/// Write this appliance's service part to `out`, with `extras` after the service records
/// (none for the pair's sync; a settings backup's). Refused, before a byte is written, when
/// the store holds a record that is not classed.
pub(crate) fn export(
    store: &Store,
    state_dir: &Path,
    profile: &str,
    version: &str,
    extras: Extras,
    out: impl Write,
) -> Result<Exported, SnapshotError> {
    export_with(store, state_dir, profile, version, extras, None, out)
}

/// [`export`] by difference (docs/snapshot.md "By difference"): each file `base`
/// describes identical is written as a `kept/` entry, not its content. Only an apply told
/// to take kept files from its own tree ([`super::apply_with`]) reads such a snapshot.
pub(crate) fn export_with(
    store: &Store,
    state_dir: &Path,
    profile: &str,
    version: &str,
    extras: Extras,
    base: Option<&Manifest>,
    out: impl Write,
) -> Result<Exported, SnapshotError> {
    let _shared = super::SERVICE_PART
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let records = store.raw_records()?;
    if let Some((key, _)) = records.iter().find(|(key, _)| class_of(key).is_none()) {
        return Err(SnapshotError::Unclassed(key.clone()));
    }
    let directories: Vec<String> = service_directories()
        .filter(|d| state_dir.join(d).is_dir())
        .map(str::to_string)
        .collect();
    let header = Header {
        format: FORMAT,
        schema_version: store.schema_version()?,
        id: crate::auth::random_hex(16),
        created: units::now(),
        appliance_id: store.identity()?.appliance_id,
        profile: profile.to_string(),
        version: version.to_string(),
        directories,
        extras: extras.names(),
    };

    let mut tar = tar::Builder::new(out);
    // Site packages keep `current` as a link to the version in use: carried as a link.
    tar.follow_symlinks(false);
    let write_err = |e: std::io::Error| SnapshotError::Io {
        path: "the snapshot being written".into(),
        source: e,
    };
    append_json(&mut tar, HEADER_ENTRY, &header).map_err(write_err)?;
    let mut end = End::default();
    for (key, json) in records
        .iter()
        .filter(|(key, _)| class_of(key) == Some(Class::Service))
    {
        append_bytes(&mut tar, &format!("{RECORDS_DIR}{key}.json"), json).map_err(write_err)?;
        end.records += 1;
    }
    if extras.network {
        // Never written: the factory defaults are in force, and carried as such.
        let json = match records.iter().find(|(key, _)| key == NETWORK_RECORD) {
            Some((_, json)) => json.clone(),
            None => b"{}".to_vec(),
        };
        append_bytes(&mut tar, NETWORK_ENTRY, &json).map_err(write_err)?;
        end.extras += 1;
    }
    if extras.history {
        let history = store.audit_export()?;
        let mut header = entry_header(history.len);
        tar.append_data(&mut header, HISTORY_ENTRY, history)
            .map_err(write_err)?;
        end.extras += 1;
    }
    for dir in &header.directories {
        let source = state_dir.join(dir);
        if let Some(base) = base {
            end.files += append_by_difference(&mut tar, &source, dir, base)?;
            continue;
        }
        end.files += count_files(&source)?;
        tar.append_dir_all(format!("{FILES_DIR}{dir}"), &source)
            .map_err(io_error(&source))?;
    }
    append_json(&mut tar, END_ENTRY, &end).map_err(write_err)?;
    tar.into_inner()
        .and_then(|mut out| out.flush())
        .map_err(write_err)?;
    Ok(Exported { header, end })
}

fn append_json<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    value: &impl serde::Serialize,
) -> std::io::Result<()> {
    let json = serde_json::to_vec_pretty(value).map_err(std::io::Error::other)?;
    append_bytes(tar, name, &json)
}

fn append_bytes<W: Write>(
    tar: &mut tar::Builder<W>,
    name: &str,
    bytes: &[u8],
) -> std::io::Result<()> {
    let mut header = entry_header(bytes.len() as u64);
    tar.append_data(&mut header, name, bytes)
}

fn entry_header(size: u64) -> tar::Header {
    let mut header = tar::Header::new_gnu();
    header.set_size(size);
    header.set_mode(0o600);
    header.set_mtime(units::now());
    header.set_entry_type(tar::EntryType::Regular);
    header
}

/// Regular files and links under `dir`, for the end marker.
fn count_files(dir: &Path) -> Result<u64, SnapshotError> {
    let mut n = 0;
    for entry in std::fs::read_dir(dir).map_err(io_error(dir))? {
        let entry = entry.map_err(io_error(dir))?;
        let kind = entry.file_type().map_err(io_error(entry.path()))?;
        if kind.is_dir() {
            n += count_files(&entry.path())?;
        } else {
            n += 1;
        }
    }
    Ok(n)
}

/// The directory `dir` (at `source`), each file `base` holds identical written as a
/// `kept/` entry; the number of files and links written.
fn append_by_difference<W: Write>(
    tar: &mut tar::Builder<W>,
    source: &Path,
    dir: &str,
    base: &Manifest,
) -> Result<u64, SnapshotError> {
    tar.append_dir(format!("{FILES_DIR}{dir}"), source)
        .map_err(io_error(source))?;
    let mut files = 0u64;
    diff::walk_all(source, dir, &mut |path, name, kind| {
        match kind {
            Kind::Dir => tar.append_dir(format!("{FILES_DIR}{name}"), path),
            Kind::Link => tar.append_path_with_name(path, format!("{FILES_DIR}{name}")),
            Kind::File => {
                let sum = diff::sum_of(path)?;
                if base.holds(name, &sum) {
                    append_bytes(tar, &format!("{KEPT_DIR}{name}"), sum.sha256.as_bytes())
                } else {
                    tar.append_path_with_name(path, format!("{FILES_DIR}{name}"))
                }
            }
        }
        .map_err(io_error(path))?;
        if kind != Kind::Dir {
            files += 1;
        }
        Ok(())
    })?;
    Ok(files)
}

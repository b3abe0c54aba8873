//! A snapshot by difference, for the pair's sync: the receiving appliance describes the
//! service part it holds ([`manifest`]: its service records' digest, and path → size and
//! SHA-256 of every file under the service directories); the sender's export then writes
//! each file the receiver already holds, identical, as a `kept/<path>` entry (the SHA-256,
//! 64 bytes) instead of its content, and the apply takes that file from the receiver's
//! current tree into the staging (a hard link, a copy when linking fails), after checking
//! it is still the one described. The apply stays one step; only changed files travel.
//!
//! Hashing reads each file in 64 KiB pieces (memory stays bounded whatever the size); the
//! sums are kept per file (device and inode, with its size, modification and birth times)
//! so a file left untouched is not read again by the next comparison.

use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use super::{io_error, service_directories, Class, SnapshotError};
use crate::store::Store;

/// Where kept files are named inside the tar.
pub(super) const KEPT_DIR: &str = "kept/";

/// What one appliance holds of the service part.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Manifest {
    /// SHA-256 (hex) over the service records as stored, in key order.
    pub(crate) records_sha256: String,
    /// Each file and link under the service directories, by its path in the data
    /// directory (`site/portal/3.1.0/index.html`).
    pub(crate) files: BTreeMap<String, FileSum>,
}

/// A file (size, SHA-256) or a link (its target).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct FileSum {
    pub(crate) size: u64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) sha256: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) link: Option<String>,
}

impl Manifest {
    /// Whether a file of this sum at `path` is held identical by this manifest's owner.
    pub(crate) fn holds(&self, path: &str, sum: &FileSum) -> bool {
        sum.link.is_none() && self.files.get(path) == Some(sum)
    }
}

/// The service part `store` and `state_dir` hold, described (never one an apply is
/// swapping: it waits for the apply, as an export does).
pub(crate) fn manifest(store: &Store, state_dir: &Path) -> Result<Manifest, SnapshotError> {
    let _shared = super::SERVICE_PART
        .read()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut records = ring::digest::Context::new(&ring::digest::SHA256);
    for (key, json) in store.raw_records()? {
        if super::class_of(&key) == Some(Class::Service) {
            records.update(&(key.len() as u64).to_le_bytes());
            records.update(key.as_bytes());
            records.update(&(json.len() as u64).to_le_bytes());
            records.update(&json);
        }
    }
    let mut files = BTreeMap::new();
    for dir in service_directories() {
        let root = state_dir.join(dir);
        if root.is_dir() {
            walk_all(&root, dir, &mut |path, name, kind| {
                let sum = match kind {
                    Kind::Dir => return Ok(()),
                    Kind::Link => {
                        let target = std::fs::read_link(path).map_err(io_error(path))?;
                        FileSum {
                            link: Some(target.to_string_lossy().into_owned()),
                            ..FileSum::default()
                        }
                    }
                    Kind::File => sum_of(path)?,
                };
                files.insert(name.to_string(), sum);
                Ok(())
            })?;
        }
    }
    Ok(Manifest {
        records_sha256: hex::encode(records.finish()),
        files,
    })
}

/// What a walk visits: directories first, then what they hold, in name order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    Dir,
    File,
    Link,
}

/// Visit every directory, file and link under `root` (named `prefix/...`), never
/// following links; a directory before what it holds.
pub(super) fn walk_all(
    root: &Path,
    prefix: &str,
    visit: &mut dyn FnMut(&Path, &str, Kind) -> Result<(), SnapshotError>,
) -> Result<(), SnapshotError> {
    let mut entries: Vec<_> = std::fs::read_dir(root)
        .map_err(io_error(root))?
        .collect::<Result<_, _>>()
        .map_err(io_error(root))?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for entry in entries {
        let path = entry.path();
        let name = format!("{prefix}/{}", entry.file_name().to_string_lossy());
        let kind = entry.file_type().map_err(io_error(&path))?;
        if kind.is_dir() {
            visit(&path, &name, Kind::Dir)?;
            walk_all(&path, &name, visit)?;
        } else if kind.is_symlink() {
            visit(&path, &name, Kind::Link)?;
        } else if kind.is_file() {
            visit(&path, &name, Kind::File)?;
        }
    }
    Ok(())
}

/// What a sum was computed from: the file (device, inode) and its size and modification
/// time, as rsync's quick check, and the inode's birth time where the filesystem keeps one
/// (ext4, tmpfs): a freed inode handed to a new file of the same size and modification
/// time (unpacked from a tar, both to the second) is not taken for the file it held. Kept
/// by inode, not by path: the apply hard-links kept files into the new tree and renames it
/// into place, and the next comparison must not read them again. The change time is left
/// out for the same reason (linking and unlinking change it); a file rewritten in place
/// with its size and modification time restored on purpose is not noticed until either
/// changes.
type Stamp = (u64, i64, i64, Option<std::time::SystemTime>);

fn stamp(meta: &std::fs::Metadata) -> ((u64, u64), Stamp) {
    (
        (meta.dev(), meta.ino()),
        (
            meta.size(),
            meta.mtime(),
            meta.mtime_nsec(),
            meta.created().ok(),
        ),
    )
}

type Sums = HashMap<(u64, u64), (Stamp, String)>;
static SUMS: Mutex<Option<Sums>> = Mutex::new(None);
/// The most sums remembered (each ~100 bytes); beyond, the memory is started afresh.
const SUMS_MAX: usize = 200_000;

/// A regular file's size and SHA-256, read in pieces (or remembered).
pub(crate) fn sum_of(path: &Path) -> Result<FileSum, SnapshotError> {
    let meta = std::fs::symlink_metadata(path).map_err(io_error(path))?;
    let (inode, key) = stamp(&meta);
    {
        let sums = SUMS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some((stamp, sha256)) = sums.as_ref().and_then(|m| m.get(&inode)) {
            if *stamp == key {
                return Ok(FileSum {
                    size: meta.size(),
                    sha256: sha256.clone(),
                    link: None,
                });
            }
        }
    }
    let mut file = std::fs::File::open(path).map_err(io_error(path))?;
    let mut hash = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 64 * 1024];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf).map_err(io_error(path))?;
        if n == 0 {
            break;
        }
        size += n as u64;
        hash.update(&buf[..n]);
    }
    let sha256 = hex::encode(hash.finish());
    // Changed while read: not remembered (the next comparison reads it again).
    let after = std::fs::symlink_metadata(path).map_err(io_error(path))?;
    if stamp(&after) == (inode, key) {
        let mut sums = SUMS
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let map = sums.get_or_insert_with(HashMap::new);
        if map.len() >= SUMS_MAX {
            map.clear();
        }
        map.insert(inode, (key, sha256.clone()));
    }
    Ok(FileSum {
        size,
        sha256,
        link: None,
    })
}

/// `kept/<dir>/<path>`: the file's path in the data directory, plain (no `..`, no root),
/// under a service directory.
pub(super) fn kept_path(name: &str) -> Option<(String, PathBuf)> {
    let rel = name.strip_prefix(KEPT_DIR)?;
    let path = Path::new(rel);
    if !path.components().all(|c| matches!(c, Component::Normal(_))) {
        return None;
    }
    let dir = match path.components().next()? {
        Component::Normal(dir) => dir.to_string_lossy().into_owned(),
        _ => return None,
    };
    service_directories()
        .any(|d| d == dir)
        .then(|| (dir, path.to_path_buf()))
}

/// Put the file `rel` this appliance holds (in `state_dir`) into the staging, at
/// `staged_files/<rel>`, after checking it is a regular file, not reached through a link,
/// and that what was staged has the SHA-256 `sha256`.
pub(super) fn take_kept(
    state_dir: &Path,
    dir: &str,
    rel: &Path,
    sha256: &str,
    staged_files: &Path,
) -> Result<(), SnapshotError> {
    let damaged = |why: &str| {
        SnapshotError::Damaged(format!(
            "{} was to be kept from this appliance's copy, but {why}",
            rel.display()
        ))
    };
    let source = state_dir.join(rel);
    let root = state_dir
        .join(dir)
        .canonicalize()
        .map_err(|_| damaged("it has no such directory"))?;
    let parent = source
        .parent()
        .and_then(|p| p.canonicalize().ok())
        .ok_or_else(|| damaged("it is not there"))?;
    if !parent.starts_with(&root) {
        return Err(damaged("it is reached through a link"));
    }
    let meta = std::fs::symlink_metadata(&source).map_err(|_| damaged("it is not there"))?;
    if !meta.file_type().is_file() {
        return Err(damaged("it is not a file"));
    }
    // The staging holds what the sender wrote so far: the kept file goes to a new name
    // there, never through a link it unpacked (which may point anywhere).
    let staged = staged_files.join(rel);
    if let Some(parent) = rel.parent() {
        dirs_within(staged_files, parent).map_err(|why| damaged(&why))?;
    }
    if std::fs::symlink_metadata(&staged).is_ok() {
        return Err(damaged("the snapshot carries it twice"));
    }
    if std::fs::hard_link(&source, &staged).is_err() {
        // No hard link (another filesystem, one without links): a copy.
        std::fs::copy(&source, &staged).map_err(io_error(&staged))?;
    }
    // What was staged is checked, not the source before it: a copy of a file that changed
    // meanwhile is refused (a link is the same file, its sum remembered).
    if sum_of(&staged)?.sha256 != sha256 {
        return Err(damaged("it differs"));
    }
    Ok(())
}

/// Make the directories `rel` names under `root`, each a real directory: one that
/// exists as a link or a file is refused.
fn dirs_within(root: &Path, rel: &Path) -> Result<(), String> {
    let mut path = root.to_path_buf();
    for part in rel.components() {
        path.push(part);
        match std::fs::symlink_metadata(&path) {
            Ok(meta) if meta.file_type().is_dir() => {}
            Ok(_) => return Err(format!("{} is not a directory", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            }
            Err(e) => return Err(format!("{}: {e}", path.display())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;

//! Making a new database file so that a crash at any point leaves either no file or a
//! complete one at the current schema: redb sizes a new file before it writes its header,
//! and a file cut off in between would never open again.

use std::fs::{File, OpenOptions};
use std::io::ErrorKind;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use super::{schema, Error, Store};

/// Creates the database at `path` unless a file is there already. The file is readable by
/// its owner only: it holds password hashes.
pub(super) fn if_absent(path: &Path, migrations: &[schema::Migration]) -> Result<(), Error> {
    let open_err = |source: std::io::Error| Error::Open {
        path: path.to_owned(),
        source: source.into(),
    };
    match std::fs::symlink_metadata(path) {
        Ok(_) => return Ok(()),
        Err(err) if err.kind() == ErrorKind::NotFound => {}
        Err(err) => return Err(open_err(err)),
    }
    let tmp = with_suffix(path, ".new");
    // A leftover of a crash during an earlier creation.
    match std::fs::remove_file(&tmp) {
        Err(err) if err.kind() != ErrorKind::NotFound => return Err(open_err(err)),
        _ => {}
    }
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .map_err(open_err)?;
    // Closed (dropped) before it is moved into place.
    Store::open_file(&tmp)?.prepare(migrations)?;
    publish(&tmp, path).map_err(open_err)
}

/// Copies the closed database at `path` to `<path>.schema-<version>`, replacing an older copy.
pub(super) fn keep_copy(path: &Path, version: u64) -> Result<(), Error> {
    let copy = with_suffix(path, &format!(".schema-{version}"));
    let tmp = with_suffix(&copy, ".new");
    std::fs::copy(path, &tmp)
        .and_then(|_| publish(&tmp, &copy))
        .map_err(|source| Error::Copy {
            path: copy.clone(),
            source,
        })
}

/// Makes `tmp` durable, renames it to `path` and makes the rename durable.
fn publish(tmp: &Path, path: &Path) -> std::io::Result<()> {
    File::open(tmp)?.sync_all()?;
    std::fs::rename(tmp, path)?;
    let dir = match path.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir,
        _ => Path::new("."),
    };
    File::open(dir)?.sync_all()
}

fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(suffix);
    path.with_file_name(name)
}

//! The backups kept on data (`<data>/backups/`, the machine's: a snapshot never carries
//! them): a finished backup moved in whole, then the oldest beyond the retention count
//! removed. A backup that failed never got here, so it never costs a good one.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use super::Made;

/// The directory on data, classed in crate::snapshot::DIRECTORIES.
pub(crate) const DIR: &str = "backups";
const SUFFIX: &str = ".backup";

/// One kept backup.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub(crate) struct Stored {
    pub(crate) name: String,
    pub(crate) size: u64,
    /// Unix seconds, when it was kept.
    pub(crate) created: u64,
    /// When it was kept, in nanoseconds: the order of two kept in one second.
    #[serde(skip)]
    order: u128,
}

/// Move `made` into the kept backups, then remove the oldest beyond `retention`.
/// Returns the kept one and the names removed.
pub(crate) fn keep(
    made: Made,
    state_dir: &Path,
    retention: usize,
) -> std::io::Result<(Stored, Vec<String>)> {
    let dir = state_dir.join(DIR);
    std::fs::create_dir_all(&dir)?;
    let base = made.file_name();
    let stem = base.strip_suffix(SUFFIX).unwrap_or(&base).to_string();
    // Two backups in one second share a name: the later one gets a number.
    let mut name = base.clone();
    let mut n = 1;
    while dir.join(&name).exists() {
        n += 1;
        name = format!("{stem}-{n}{SUFFIX}");
    }
    let size = made.size;
    made.persist(&dir.join(&name))?;
    std::fs::File::open(&dir)?.sync_all()?;
    let kept = Stored {
        name: name.clone(),
        size,
        created: units::now(),
        order: 0,
    };
    let removed = prune(&dir, retention.max(1), &name);
    Ok((kept, removed))
}

/// Remove the oldest backups beyond `retention`, never `newest`.
fn prune(dir: &Path, retention: usize, newest: &str) -> Vec<String> {
    let Ok(mut all) = list_dir(dir) else {
        return Vec::new();
    };
    // Oldest first; the one just kept is the newest whatever the clock says.
    all.sort_by_key(|s| (s.name == newest, s.order, s.name.clone()));
    let excess = all.len().saturating_sub(retention);
    let mut removed = Vec::new();
    for old in all.into_iter().take(excess) {
        match std::fs::remove_file(dir.join(&old.name)) {
            Ok(()) => removed.push(old.name),
            Err(e) => tracing::warn!("backup: cannot remove the old backup {}: {e}", old.name),
        }
    }
    removed
}

/// The kept backups, newest first.
pub(crate) fn list(state_dir: &Path) -> std::io::Result<Vec<Stored>> {
    let mut all = match list_dir(&state_dir.join(DIR)) {
        Err(e) if e.kind() == ErrorKind::NotFound => Vec::new(),
        other => other?,
    };
    all.sort_by_key(|s| std::cmp::Reverse((s.order, s.name.clone())));
    Ok(all)
}

fn list_dir(dir: &Path) -> std::io::Result<Vec<Stored>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let meta = entry.metadata()?;
        if !meta.is_file() || !valid_name(&name) {
            continue;
        }
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .unwrap_or_default();
        out.push(Stored {
            name,
            size: meta.len(),
            created: modified.as_secs(),
            order: modified.as_nanos(),
        });
    }
    Ok(out)
}

/// The path of the kept backup `name`, if `name` is one (no path, no hidden file).
pub(crate) fn path_of(state_dir: &Path, name: &str) -> Option<PathBuf> {
    if !valid_name(name) {
        return None;
    }
    let path = state_dir.join(DIR).join(name);
    path.is_file().then_some(path)
}

fn valid_name(name: &str) -> bool {
    name.len() <= 255
        && name.ends_with(SUFFIX)
        && !name.starts_with('.')
        && name.chars().all(name_char)
}

/// A character a kept backup's name may hold.
pub(super) fn name_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')
}

/// A write that failed because data is full, said so.
pub(crate) fn is_disk_full(e: &std::io::Error) -> bool {
    e.kind() == ErrorKind::StorageFull || e.raw_os_error() == Some(libc::ENOSPC)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backup::BackupInfo;
    use crate::testdir::TestDir;

    fn made(dir: &Path, token: &str, created: &str) -> Made {
        let work = dir.join("backup-work");
        std::fs::create_dir_all(&work).unwrap();
        let path = work.join(format!("{token}.backup"));
        std::fs::write(&path, token).unwrap();
        Made {
            info: BackupInfo {
                format: 1,
                appliance_id: "0123456789abcdef".into(),
                profile: "box".into(),
                version: "1.0.0".into(),
                created: created.into(),
                created_unix: 0,
                encryption: String::new(),
                snapshot_format: 1,
                extras: Vec::new(),
            },
            path,
            size: token.len() as u64,
        }
    }

    #[test]
    fn the_oldest_go_once_the_new_one_is_kept() {
        let dir = TestDir::new("stored-retention");
        let mut names = Vec::new();
        for (i, created) in [
            "2026-12-01T02:00:00Z",
            "2026-12-02T02:00:00Z",
            "2026-12-03T02:00:00Z",
            "2026-12-03T02:00:00Z",
        ]
        .into_iter()
        .enumerate()
        {
            let (kept, removed) =
                keep(made(dir.path(), &format!("t{i}"), created), dir.path(), 2).unwrap();
            names.push(kept.name.clone());
            assert_eq!(
                std::fs::read_to_string(dir.path().join(DIR).join(&kept.name)).unwrap(),
                format!("t{i}")
            );
            match i {
                0 | 1 => assert!(removed.is_empty(), "{removed:?}"),
                _ => assert_eq!(removed, vec![names[i - 2].clone()]),
            }
            // Modification times one second apart at least in order.
            let t = std::time::SystemTime::UNIX_EPOCH
                + std::time::Duration::from_secs(1_000 + i as u64);
            std::fs::File::options()
                .write(true)
                .open(dir.path().join(DIR).join(&kept.name))
                .unwrap()
                .set_modified(t)
                .unwrap();
        }
        // Same second: a numbered name, not an overwrite.
        assert!(names[3].ends_with("-2.backup"), "{names:?}");
        let left: Vec<String> = list(dir.path())
            .unwrap()
            .into_iter()
            .map(|s| s.name)
            .collect();
        assert_eq!(left, vec![names[3].clone(), names[2].clone()]);
        // The work file moved, nothing left behind.
        assert_eq!(
            std::fs::read_dir(dir.path().join("backup-work"))
                .unwrap()
                .count(),
            0
        );
    }

    #[test]
    fn a_full_disk_is_told_apart() {
        assert!(is_disk_full(&std::io::Error::from_raw_os_error(
            libc::ENOSPC
        )));
        assert!(!is_disk_full(&std::io::Error::from_raw_os_error(
            libc::EACCES
        )));
    }

    #[test]
    fn a_release_with_any_version_text_keeps_a_listed_backup() {
        let dir = TestDir::new("stored-odd-version");
        let mut odd = made(dir.path(), "odd", "2026-12-01T02:00:00Z");
        odd.info.version = "1.0.0+dev \"x\"/../y".into();
        odd.info.profile = "b\r\nox".into();
        let name = odd.file_name();
        assert!(valid_name(&name), "{name}");
        let (kept, _) = keep(odd, dir.path(), 3).unwrap();
        assert_eq!(kept.name, name);
        assert_eq!(list(dir.path()).unwrap()[0].name, name);
        assert!(path_of(dir.path(), &name).is_some());
    }

    #[test]
    fn only_kept_backups_are_named() {
        let dir = TestDir::new("stored-names");
        keep(made(dir.path(), "a", "2026-12-01T02:00:00Z"), dir.path(), 3).unwrap();
        let name = list(dir.path()).unwrap()[0].name.clone();
        assert!(path_of(dir.path(), &name).is_some());
        for bad in [
            "../settings.redb",
            ".x.backup",
            "a/b.backup",
            "settings.redb",
            "none.backup",
        ] {
            assert!(path_of(dir.path(), bad).is_none(), "{bad}");
        }
    }
}

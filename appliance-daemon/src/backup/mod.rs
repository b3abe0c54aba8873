//! Settings backups (docs/backup.md): the service snapshot (crate::snapshot) encrypted and
//! authenticated with the operator's password in the age format (scrypt passphrase
//! recipient), inside a plain tar whose first entry, `backup.json`, names the appliance,
//! its profile, its version and the date without the password. `tar -xf` then
//! `age -d settings.tar.age | tar -t` opens one without this code.
//!
//! A backup is written to a file on `data` and streamed from there (memory stays bounded
//! whatever the site data holds); a restore reads the upload as it arrives, checks the
//! password before the first byte of settings is read and applies the snapshot all or
//! nothing.

use age::secrecy::SecretString;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

pub(crate) mod push;
pub(crate) mod runner;
pub(crate) mod schedule;
pub(crate) mod stored;

use crate::snapshot::{self, Extras, SnapshotError};
use crate::store::{Audit, Store};

mod service;
pub(crate) use api_types::BackupInfo;
pub(crate) use service::{BackupService, Who};

/// The outer file's format.
pub(crate) const FORMAT: u32 = 1;
/// The outer tar's entries.
const INFO_ENTRY: &str = "backup.json";
const SETTINGS_ENTRY: &str = "settings.tar.age";
/// Shortest password accepted for a backup (it protects the appliance's private keys).
pub(crate) const MIN_PASSWORD: usize = 8;
/// Where backups are made before they are sent, on `data`.
pub(crate) const WORK_DIR: &str = "backup-work";

#[derive(Debug, thiserror::Error)]
pub(crate) enum BackupError {
    #[error("a backup holds the appliance's private keys: give a password of at least {MIN_PASSWORD} characters")]
    WeakPassword,
    #[error("the password does not open this backup")]
    WrongPassword,
    #[error("this is not a backup of this appliance's kind: {0}")]
    NotABackup(String),
    #[error("the backup has format {0}; this firmware reads format {FORMAT}")]
    Format(u32),
    #[error("the backup was made by version {found}, newer than this appliance's {running}: update this appliance first")]
    TooNew { found: String, running: String },
    #[error("the backup is damaged or incomplete: {0}")]
    Damaged(String),
    #[error(transparent)]
    Snapshot(#[from] SnapshotError),
    #[error("cannot write the backup in {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

/// A backup written to a file on `data`, removed when dropped (once it has been sent).
#[derive(Debug)]
pub(crate) struct Made {
    pub(crate) info: BackupInfo,
    pub(crate) path: PathBuf,
    pub(crate) size: u64,
}

impl Made {
    /// The name an operator's browser saves it under:
    /// `appliance-<id>-<profile>-<version>-<date>.backup`.
    pub(crate) fn file_name(&self) -> String {
        let date: String = self
            .info
            .created
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .collect();
        let id: String = self.info.appliance_id.chars().take(8).collect();
        format!(
            "appliance-{id}-{}-{}-{date}.backup",
            self.info.profile, self.info.version
        )
    }
}

impl Made {
    /// Keep the file as `to` (on data too) instead of removing it.
    pub(crate) fn persist(mut self, to: &Path) -> std::io::Result<()> {
        std::fs::rename(&self.path, to)?;
        self.path = PathBuf::new();
        Ok(())
    }
}

impl Drop for Made {
    fn drop(&mut self) {
        if self.path.as_os_str().is_empty() {
            return;
        }
        if let Err(e) = std::fs::remove_file(&self.path) {
            tracing::warn!("backup: cannot remove {}: {e}", self.path.display());
        }
    }
}

/// Remove what a backup left when the daemon stopped before sending it (at start).
pub(crate) fn clear_leftovers(state_dir: &Path) {
    let work = state_dir.join(WORK_DIR);
    if let Err(e) = std::fs::remove_dir_all(&work) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("backup: cannot remove {}: {e}", work.display());
        }
    }
}

/// What a backup carries besides the service part: the network settings always, the
/// logged history when asked.
fn extras(include_history: bool) -> Extras {
    Extras {
        network: true,
        history: include_history,
    }
}

/// What a restore takes from a backup: the service part and every extra a backup carries.
const RESTORE_EXTRAS: Extras = Extras {
    network: true,
    history: true,
};

/// Make a backup of the service part and the network settings, without the history
/// (blocking: scrypt and the writes). Scheduled backups call it.
#[allow(dead_code, reason = "the scheduled backups' entry point")]
pub(crate) fn make(
    store: &Store,
    state_dir: &Path,
    profile: &str,
    version: &str,
    password: &str,
) -> Result<Made, BackupError> {
    make_with(store, state_dir, profile, version, password, false)
}

/// [`make`], with the logged history when `include_history`.
pub(crate) fn make_with(
    store: &Store,
    state_dir: &Path,
    profile: &str,
    version: &str,
    password: &str,
    include_history: bool,
) -> Result<Made, BackupError> {
    if password.chars().count() < MIN_PASSWORD {
        return Err(BackupError::WeakPassword);
    }
    let work = state_dir.join(WORK_DIR);
    std::fs::create_dir_all(&work).map_err(io_error(&work))?;
    let token = crate::auth::random_hex(8);
    let sealed = work.join(format!("{token}.age"));
    let result = seal_and_wrap(
        store,
        state_dir,
        &work,
        &token,
        &sealed,
        (profile, version),
        password,
        extras(include_history),
    );
    if let Err(e) = std::fs::remove_file(&sealed) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!("backup: cannot remove {}: {e}", sealed.display());
        }
    }
    result
}

#[allow(clippy::too_many_arguments)]
fn seal_and_wrap(
    store: &Store,
    state_dir: &Path,
    work: &Path,
    token: &str,
    sealed: &Path,
    (profile, version): (&str, &str),
    password: &str,
    extras: Extras,
) -> Result<Made, BackupError> {
    // 1. The snapshot, encrypted as it is written.
    let file = std::fs::File::create(sealed).map_err(io_error(sealed))?;
    let encryptor = age::Encryptor::with_user_passphrase(SecretString::from(password.to_owned()));
    let mut writer = encryptor
        .wrap_output(std::io::BufWriter::new(file))
        .map_err(io_error(sealed))?;
    let exported = snapshot::export(store, state_dir, profile, version, extras, &mut writer)?;
    writer
        .finish()
        .and_then(|mut out| out.flush())
        .map_err(io_error(sealed))?;

    // 2. The outer tar: what it is in clear, then the sealed snapshot.
    let info = BackupInfo {
        format: FORMAT,
        appliance_id: exported.header.appliance_id.clone(),
        profile: profile.to_string(),
        version: version.to_string(),
        created: units::rfc3339(exported.header.created),
        created_unix: exported.header.created,
        encryption: "age v1, scrypt passphrase recipient (the backup's password)".into(),
        snapshot_format: exported.header.format,
        extras: exported.header.extras.clone(),
    };
    let path = work.join(format!("{token}.backup"));
    let out = std::fs::File::create(&path).map_err(io_error(&path))?;
    // Removes the file on every path out of here but success's.
    let mut made = Made {
        info,
        path: path.clone(),
        size: 0,
    };
    let mut tar = tar::Builder::new(std::io::BufWriter::new(out));
    let json = serde_json::to_vec_pretty(&made.info).map_err(|e| io_error(&path)(e.into()))?;
    let mut header = tar::Header::new_gnu();
    header.set_size(json.len() as u64);
    header.set_mode(0o644);
    header.set_mtime(made.info.created_unix);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, INFO_ENTRY, &json[..])
        .map_err(io_error(&path))?;
    let mut sealed_file = std::fs::File::open(sealed).map_err(io_error(sealed))?;
    tar.append_file(SETTINGS_ENTRY, &mut sealed_file)
        .map_err(io_error(sealed))?;
    let out = tar.into_inner().map_err(io_error(&path))?;
    let file = out
        .into_inner()
        .map_err(|e| io_error(&path)(e.into_error()))?;
    file.sync_all().map_err(io_error(&path))?;
    made.size = file.metadata().map_err(io_error(&path))?.len();
    Ok(made)
}

/// What a restore applied.
#[derive(Debug, Clone)]
pub(crate) struct Restored {
    pub(crate) from: BackupInfo,
    pub(crate) applied: snapshot::Applied,
}

/// Restore the backup read from `input` with `password` on an appliance running `version`
/// (blocking). Nothing changes unless the whole backup opens and checks; a backup made by
/// a newer version is refused before its password is even tried.
pub(crate) fn restore(
    store: &Store,
    state_dir: &Path,
    input: impl Read,
    password: &str,
    version: &str,
    audit: Audit,
) -> Result<Restored, BackupError> {
    let mut archive = tar::Archive::new(input);
    let mut entries = archive
        .entries()
        .map_err(|e| BackupError::NotABackup(e.to_string()))?;
    let info: BackupInfo = match entries.next() {
        Some(Ok(mut entry)) if entry.path().is_ok_and(|p| p == Path::new(INFO_ENTRY)) => {
            let mut json = Vec::new();
            (&mut entry)
                .take(64 * 1024)
                .read_to_end(&mut json)
                .map_err(|e| BackupError::Damaged(e.to_string()))?;
            serde_json::from_slice(&json)
                .map_err(|e| BackupError::NotABackup(format!("{INFO_ENTRY} does not read: {e}")))?
        }
        _ => {
            return Err(BackupError::NotABackup(format!(
                "it does not start with {INFO_ENTRY}"
            )))
        }
    };
    if info.format != FORMAT {
        return Err(BackupError::Format(info.format));
    }
    if let (Ok(found), Ok(running)) = (
        info.version.parse::<package::Version>(),
        version.parse::<package::Version>(),
    ) {
        if found > running {
            return Err(BackupError::TooNew {
                found: info.version,
                running: version.to_string(),
            });
        }
    }
    let sealed = match entries.next() {
        Some(Ok(entry)) if entry.path().is_ok_and(|p| p == Path::new(SETTINGS_ENTRY)) => entry,
        Some(Err(e)) => return Err(BackupError::Damaged(e.to_string())),
        _ => return Err(BackupError::Damaged(format!("{SETTINGS_ENTRY} is missing"))),
    };
    let decryptor = age::Decryptor::new(std::io::BufReader::new(sealed))
        .map_err(|e| BackupError::Damaged(format!("{SETTINGS_ENTRY}: {e}")))?;
    let identity = age::scrypt::Identity::new(SecretString::from(password.to_owned()));
    let settings = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys | age::DecryptError::DecryptionFailed => {
                BackupError::WrongPassword
            }
            other => BackupError::Damaged(format!("{SETTINGS_ENTRY}: {other}")),
        })?;
    let applied = snapshot::apply(store, state_dir, settings, audit, RESTORE_EXTRAS)?;
    Ok(Restored {
        from: info,
        applied,
    })
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> BackupError + '_ {
    move |source| BackupError::Io {
        path: path.to_path_buf(),
        source,
    }
}

#[cfg(test)]
mod tests;

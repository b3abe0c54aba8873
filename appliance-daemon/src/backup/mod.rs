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
/// The scrypt work factor of a backup's password: N = 2^14, r = 8, which takes
/// 128 * r * N = 16 MiB of memory to make or open (age's own choice, about a second of
/// work, would take up to 1 GiB on a fast machine: more than an appliance can spare).
pub(crate) const WORK_FACTOR: u8 = 14;
/// The highest work factor a restore accepts (32 MiB): a backup asking for more, made by
/// hand or crafted, is refused before the memory is taken.
pub(crate) const MAX_WORK_FACTOR: u8 = 15;
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
    /// The name an operator's browser saves it under and the kept backups keep it by:
    /// `appliance-<id>-<profile>-<version>-<date>.backup`, each part cut to a plain name
    /// (a release file's version such as `1.0.0+dev` or a quote would otherwise give a
    /// kept backup the list does not show, or a broken `Content-Disposition`).
    pub(crate) fn file_name(&self) -> String {
        let plain = |text: &str, most: usize| -> String {
            text.chars()
                .take(most)
                .map(|c| if stored::name_char(c) { c } else { '_' })
                .collect()
        };
        let date: String = self
            .info
            .created
            .chars()
            .filter(char::is_ascii_alphanumeric)
            .take(16)
            .collect();
        format!(
            "appliance-{}-{}-{}-{date}.backup",
            plain(&self.info.appliance_id, 8),
            plain(&self.info.profile, 32),
            plain(&self.info.version, 64),
        )
    }

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
    let path = work.join(format!("{}.backup", crate::auth::random_hex(8)));
    let created_unix = units::now();
    let info = BackupInfo {
        format: FORMAT,
        appliance_id: store.identity()?.appliance_id,
        profile: profile.to_string(),
        version: version.to_string(),
        created: units::rfc3339(created_unix),
        created_unix,
        encryption: format!(
            "age v1, scrypt passphrase recipient (the backup's password), work factor 2^{WORK_FACTOR}"
        ),
        snapshot_format: snapshot::FORMAT,
        extras: extras(include_history).names(),
    };
    // Removes the file on every path out of here but success's.
    let mut made = Made {
        info,
        path,
        size: 0,
    };
    made.size =
        write_backup(store, state_dir, &made, password, extras(include_history)).map_err(|e| {
            match e {
                Written::Snapshot(e) => e.into(),
                Written::Io(e) => io_error(&made.path)(e),
            }
        })?;
    Ok(made)
}

/// Why writing a backup file failed.
enum Written {
    Snapshot(SnapshotError),
    Io(std::io::Error),
}

impl From<std::io::Error> for Written {
    fn from(e: std::io::Error) -> Self {
        Written::Io(e)
    }
}

/// Write the backup file in one pass: `backup.json`, then the snapshot encrypted as it is
/// exported straight into the tar's second entry, whose header (its size) is written last,
/// in place. The data is written once; memory stays bounded. Its size comes back.
fn write_backup(
    store: &Store,
    state_dir: &Path,
    made: &Made,
    password: &str,
    extras: Extras,
) -> Result<u64, Written> {
    use std::io::{Seek, SeekFrom};
    let mut out = std::io::BufWriter::new(std::fs::File::create(&made.path)?);
    let json = serde_json::to_vec_pretty(&made.info).map_err(std::io::Error::other)?;
    let mtime = made.info.created_unix;
    out.write_all(entry_header(INFO_ENTRY, json.len() as u64, mtime)?.as_bytes())?;
    out.write_all(&json)?;
    pad(&mut out, json.len() as u64)?;
    let sealed_at = out.stream_position()?;
    out.write_all(entry_header(SETTINGS_ENTRY, 0, mtime)?.as_bytes())?;

    let mut recipient = age::scrypt::Recipient::new(SecretString::from(password.to_owned()));
    recipient.set_work_factor(WORK_FACTOR);
    let encryptor = age::Encryptor::with_recipients(std::iter::once(&recipient as _))
        .map_err(std::io::Error::other)?;
    let mut counted = Counted {
        inner: &mut out,
        bytes: 0,
    };
    let mut writer = encryptor.wrap_output(&mut counted)?;
    let (profile, version) = (made.info.profile.as_str(), made.info.version.as_str());
    snapshot::export(store, state_dir, profile, version, extras, &mut writer)
        .map_err(Written::Snapshot)?;
    writer.finish()?;
    let sealed = counted.bytes;
    pad(&mut out, sealed)?;
    // The end of the archive: two zero blocks.
    out.write_all(&[0; 1024])?;
    let mut file = out
        .into_inner()
        .map_err(std::io::IntoInnerError::into_error)?;
    file.seek(SeekFrom::Start(sealed_at))?;
    file.write_all(entry_header(SETTINGS_ENTRY, sealed, mtime)?.as_bytes())?;
    file.sync_all()?;
    Ok(file.metadata()?.len())
}

/// A plain file's tar header (GNU).
fn entry_header(name: &str, size: u64, mtime: u64) -> std::io::Result<tar::Header> {
    let mut header = tar::Header::new_gnu();
    header.set_path(name)?;
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(mtime);
    header.set_entry_type(tar::EntryType::Regular);
    header.set_cksum();
    Ok(header)
}

/// Zeros up to the next 512-byte block after an entry of `size` bytes.
fn pad(out: &mut impl Write, size: u64) -> std::io::Result<()> {
    let rest = (512 - size % 512) % 512;
    out.write_all(&[0; 512][..rest as usize])
}

/// Counts what goes through.
struct Counted<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
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
    let mut identity = age::scrypt::Identity::new(SecretString::from(password.to_owned()));
    identity.set_max_work_factor(MAX_WORK_FACTOR);
    let settings = decryptor
        .decrypt(std::iter::once(&identity as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::NoMatchingKeys | age::DecryptError::DecryptionFailed => {
                BackupError::WrongPassword
            }
            age::DecryptError::ExcessiveWork { required, .. } => BackupError::Damaged(format!(
                "{SETTINGS_ENTRY} asks for a password work factor of 2^{required}, more than the \
                 2^{MAX_WORK_FACTOR} this appliance grants (it was not made by an appliance)"
            )),
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

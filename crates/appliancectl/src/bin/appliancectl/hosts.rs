//! What appliancectl remembers per appliance: the pinned certificate (or CA file) and the
//! session token, in `$XDG_CONFIG_HOME/appliancectl/hosts/<host>_<port>.json` (default
//! `~/.config`). The directory is 0700 and the files 0600: a token is as good as a password
//! until it expires. Each file is replaced atomically.

use appliancectl::Endpoint;
use serde::{Deserialize, Serialize};
use std::fs::{self, DirBuilder, OpenOptions};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct HostRecord {
    /// `HOST:PORT`, for a person reading the file.
    pub endpoint: String,
    /// The pinned SHA-256 of the appliance's certificate, `AB:CD:…`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<String>,
    /// CA certificates to verify the appliance against, instead of a pin.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
}

#[derive(Debug, Clone)]
pub(crate) struct HostStore {
    dir: PathBuf,
}

impl HostStore {
    /// The store under `$XDG_CONFIG_HOME` (if absolute, as the XDG spec asks) or `~/.config`.
    pub(crate) fn from_env() -> Result<Self, String> {
        let config = match std::env::var_os("XDG_CONFIG_HOME").map(PathBuf::from) {
            Some(dir) if dir.is_absolute() => dir,
            _ => match std::env::var_os("HOME") {
                Some(home) if !home.is_empty() => PathBuf::from(home).join(".config"),
                _ => {
                    return Err(
                        "neither XDG_CONFIG_HOME nor HOME is set: nowhere to keep sessions"
                            .to_string(),
                    )
                }
            },
        };
        Ok(HostStore::new(config.join("appliancectl").join("hosts")))
    }

    pub(crate) fn new(dir: PathBuf) -> Self {
        HostStore { dir }
    }

    pub(crate) fn path(&self, endpoint: &Endpoint) -> PathBuf {
        self.dir.join(format!("{}.json", endpoint.file_stem()))
    }

    /// The record for `endpoint`; an empty one when there is none yet.
    pub(crate) fn load(&self, endpoint: &Endpoint) -> Result<HostRecord, String> {
        let path = self.path(endpoint);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
                format!(
                    "{} is damaged ({e}); delete it and log in again",
                    path.display()
                )
            }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HostRecord {
                endpoint: endpoint.to_string(),
                ..HostRecord::default()
            }),
            Err(e) => Err(format!("cannot read {}: {e}", path.display())),
        }
    }

    pub(crate) fn save(&self, endpoint: &Endpoint, record: &HostRecord) -> Result<(), String> {
        let mut record = record.clone();
        record.endpoint = endpoint.to_string();
        self.make_dir()?;
        let path = self.path(endpoint);
        let mut bytes = serde_json::to_vec_pretty(&record)
            .map_err(|e| format!("cannot encode the record for {endpoint}: {e}"))?;
        bytes.push(b'\n');
        write_private(&path, &bytes).map_err(|e| format!("cannot write {}: {e}", path.display()))
    }

    fn make_dir(&self) -> Result<(), String> {
        let fail = |e: std::io::Error| format!("cannot create {}: {e}", self.dir.display());
        DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&self.dir)
            .map_err(fail)?;
        // An existing directory may have been made wider by hand; ours stay private.
        for dir in [Some(self.dir.as_path()), self.dir.parent()]
            .into_iter()
            .flatten()
        {
            fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(fail)?;
        }
        Ok(())
    }
}

/// Write `bytes` to `path` through a 0600 temporary file renamed over it.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut temp = path.as_os_str().to_owned();
    temp.push(format!(".tmp{}", std::process::id()));
    let temp = PathBuf::from(temp);
    let result = (|| {
        let mut file = OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&temp);
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_round_trip_privately() {
        let root = std::env::temp_dir().join(format!("appliancectl-hosts-{}", std::process::id()));
        let store = HostStore::new(root.join("appliancectl").join("hosts"));
        let endpoint = Endpoint::new("box.example", 8443);
        let empty = store.load(&endpoint).unwrap();
        assert_eq!(empty.token, None);
        let record = HostRecord {
            fingerprint: Some("AB".into()),
            token: Some("t0k".into()),
            ..empty
        };
        store.save(&endpoint, &record).unwrap();
        assert_eq!(store.load(&endpoint).unwrap(), record);
        let path = store.path(&endpoint);
        assert!(path.ends_with("hosts/box.example_8443.json"));
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&path), 0o600);
        assert_eq!(mode(path.parent().unwrap()), 0o700);
        fs::remove_dir_all(&root).unwrap();
    }
}

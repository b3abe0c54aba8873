//! Backups as a domain service, for the API, the Backup page, appliancectl (through the
//! API) and scheduled backups: make one (audited `backup.made`), restore one (audited
//! `backup.restored`) and say what the restore did in a [`RestoreReport`]. The blocking
//! parts (scrypt, the writes, the apply) run on tokio's blocking pool; nothing here knows
//! about HTTP.

use std::io::Read;
use std::net::IpAddr;
use std::path::PathBuf;

use api_types::{HistoryOutcome, LeftOut, NetworkOutcome, RestoreReport};

use super::{BackupError, Made};
use crate::snapshot::Reload;
use crate::store::{blocking, Accounts, Audit, Store};

/// Who asks: recorded in the audit log; a restore says whether their account survived.
#[derive(Debug, Clone)]
pub(crate) struct Who {
    pub(crate) user: String,
    pub(crate) address: Option<IpAddr>,
}

impl Who {
    fn audit(&self, action: &'static str, detail: impl Into<String>) -> Audit {
        Audit::user(&self.user, self.address, action, detail)
    }
}

#[derive(Debug)]
pub(crate) struct BackupService {
    store: Store,
    state_dir: PathBuf,
    profile: String,
    version: String,
    reload: Reload,
}

/// The service records in operator words, for the report.
const RECORD_WORDS: &[(&str, &str)] = &[
    ("accounts", "accounts and passwords"),
    ("security_policy", "security policy"),
    ("time", "time servers"),
    ("update_server", "update server"),
    ("update_catalog", "update catalog"),
];

/// The service directories in operator words.
const DIRECTORY_WORDS: &[(&str, &str)] = &[
    ("tls", "certificates and their private keys"),
    ("site", "site packages, their configuration and data"),
];

/// What a restore never takes from a backup, and why.
const ALWAYS_LEFT_OUT: &[(&str, &str)] = &[
    (
        "appliance id",
        "it names this machine; two appliances never share one",
    ),
    (
        "boot slots and update history",
        "they describe this machine's disk and what it installed",
    ),
    ("download key", "it is bound to this appliance's id"),
    ("system logs", "they record what happened on this machine"),
];

fn words(table: &[(&str, &'static str)], key: &str) -> String {
    table
        .iter()
        .find(|(k, _)| *k == key)
        .map_or_else(|| key.replace('_', " "), |(_, w)| (*w).to_string())
}

impl BackupService {
    pub(crate) fn new(
        store: Store,
        state_dir: PathBuf,
        profile: &str,
        version: &str,
        reload: Reload,
    ) -> Self {
        BackupService {
            store,
            state_dir,
            profile: profile.to_string(),
            version: version.to_string(),
            reload,
        }
    }

    /// Make a backup with `password`, written on `data` (the returned [`Made`] removes it
    /// when dropped, once sent). Audited.
    pub(crate) async fn make(
        &self,
        password: String,
        include_history: bool,
        who: &Who,
    ) -> Result<Made, BackupError> {
        let store = self.store.clone();
        let state_dir = self.state_dir.clone();
        let (profile, version) = (self.profile.clone(), self.version.clone());
        let detail = if include_history {
            "settings backup made, with the logged history"
        } else {
            "settings backup made"
        };
        let audit = who.audit("backup.made", detail);
        blocking(move || {
            let made = super::make_with(
                &store,
                &state_dir,
                &profile,
                &version,
                &password,
                include_history,
            )?;
            store.change(audit, |_| Ok::<_, crate::store::Error>(()))?;
            Ok(made)
        })
        .await
    }

    /// Restore the backup read from `input` with `password`: nothing changes unless the
    /// whole backup opens and checks; then the services take the restored settings.
    /// Audited. A refused upload is read to its end ([`Upload::refused`]).
    pub(crate) async fn restore(
        &self,
        mut input: impl Upload,
        password: String,
        who: &Who,
    ) -> Result<RestoreReport, BackupError> {
        let store = self.store.clone();
        let state_dir = self.state_dir.clone();
        let version = self.version.clone();
        let audit = who.audit("backup.restored", "settings restored from a backup");
        let restored = blocking(move || {
            let result = super::restore(&store, &state_dir, &mut input, &password, &version, audit);
            if result.is_err() {
                input.refused();
            }
            result
        })
        .await?;
        let reloaded = self.reload.run(restored.applied.network).await;
        let accounts: Accounts = self.store.get().unwrap_or_default();
        let session = if accounts.user(&who.user).is_some() {
            "kept"
        } else {
            "ended"
        };
        tracing::warn!(
            from = %restored.from.appliance_id,
            version = %restored.from.version,
            "settings restored from a backup"
        );
        let mut restored_words: Vec<String> = restored
            .applied
            .records
            .iter()
            .map(|k| words(RECORD_WORDS, k))
            .collect();
        restored_words.extend(
            restored
                .applied
                .header
                .directories
                .iter()
                .map(|d| words(DIRECTORY_WORDS, d)),
        );
        let mut left_out: Vec<LeftOut> = ALWAYS_LEFT_OUT
            .iter()
            .map(|(what, why)| LeftOut {
                what: (*what).into(),
                why: (*why).into(),
            })
            .collect();
        let network = match reloaded.network {
            Some(network) => {
                restored_words.push("network settings and host name".into());
                network
            }
            None => {
                left_out.insert(
                    1,
                    LeftOut {
                        what: "network settings and host name".into(),
                        why: "this backup does not carry them".into(),
                    },
                );
                NetworkOutcome {
                    state: "kept".into(),
                    ..NetworkOutcome::default()
                }
            }
        };
        if let Some(note) = &network.note {
            left_out.insert(
                1,
                LeftOut {
                    what: "network settings and host name".into(),
                    why: note.clone(),
                },
            );
        }
        let history = restored.applied.history.map(|h| HistoryOutcome {
            added: h.added,
            already_present: h.already_present,
        });
        if history.is_some() {
            restored_words.push("logged history".into());
        } else {
            left_out.push(LeftOut {
                what: "logged history".into(),
                why: "the backup was made without it".into(),
            });
        }
        Ok(RestoreReport {
            kept: left_out.iter().map(|l| l.what.clone()).collect(),
            restored_from: restored.from,
            records: restored.applied.records,
            directories: restored.applied.header.directories,
            restored: restored_words,
            left_out,
            network,
            certificate: reloaded.certificate,
            certificate_assignments: reloaded.certificate_assignments,
            history,
            session: session.into(),
            not_reloaded: reloaded.not_reloaded,
        })
    }
}

/// Where a restore reads a backup from.
pub(crate) trait Upload: Read + Send + 'static {
    /// The restore was refused: an upload still arriving is read to its end, so that its
    /// sender receives the answer rather than a reset connection.
    fn refused(&mut self) {}
}

impl Upload for crate::update::body::BodyReader {
    fn refused(&mut self) {
        self.drain();
    }
}

impl Upload for std::fs::File {}
impl Upload for std::io::Cursor<Vec<u8>> {}

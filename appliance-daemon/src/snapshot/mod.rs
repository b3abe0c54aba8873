//! The service snapshot: what belongs to the service an appliance runs (accounts, the
//! security policy, certificates and keys, time servers, the update server and its
//! catalog, site packages and their data) as opposed to what belongs to the machine (its
//! identity, NICs and addresses, slots, grubenv, logs). Failover sync, a settings backup,
//! a restore and a hardware migration all carry the service part, through this module
//! only: [`export`] streams it as a tar, [`apply`] replaces this appliance's service part
//! with one as a single step, and [`recover`] finishes or undoes an apply that a power cut
//! interrupted. docs/snapshot.md is the format and the guarantees.
//!
//! Every record of the settings store and every entry of the data directory is classed
//! here ([`RECORDS`], [`DIRECTORIES`]): a record that is not refuses to be exported, and a
//! unit test fails on a record type whose key is not in the list.

mod apply;
mod diff;
mod export;
mod reload;

pub(crate) use apply::{apply, apply_with, recover, Applied, ApplyOptions};
pub(crate) use diff::{manifest, Manifest};
pub(crate) use export::{export, export_with};
pub(crate) use reload::Reload;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// Held by an export and a manifest (shared) and an apply (alone) for their whole run: two
/// applies never share the staging directory, and an export or a manifest never reads a
/// service part half swapped.
static SERVICE_PART: std::sync::RwLock<()> = std::sync::RwLock::new(());

/// Whose a record or a directory is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Class {
    /// The service's: carried by a snapshot, replaced by an apply.
    Service,
    /// This machine's: never leaves it, never replaced.
    Machine,
}

/// Every record key of the settings store and whose it is.
pub(crate) const RECORDS: &[(&str, Class)] = &[
    ("accounts", Class::Service),
    ("security_policy", Class::Service),
    ("time", Class::Service),
    ("update_server", Class::Service),
    ("update_catalog", Class::Service),
    // When and where backups are made, and their password: the operator's setting, which a
    // restored or synced appliance takes over.
    ("backup_schedule", Class::Service),
    // The SSH key SFTP destinations admit: the service's, so that the appliance taking the
    // settings over (restore on new hardware, the pair's backup) is still let in by the
    // servers that trusted it.
    ("backup_client_key", Class::Service),
    // Each account's last sign-in here and the latest TOTP step accepted here (a code is
    // refused once its step was used): written at every sign-in, which must not make the
    // pair sync the accounts.
    ("account_logins", Class::Machine),
    // The syslog servers and their CAs (docs/logs.md "Syslog forwarding"): the operator's
    // setting; the appliance taking over the service logs to the same servers.
    ("log_forwarding", Class::Service),
    // The appliance id, made at first boot: each appliance of a pair keeps its own.
    ("identity", Class::Machine),
    ("network", Class::Machine),
    // Slots, the pending install, the anti-rollback floor, the install history.
    ("updates", Class::Machine),
    // Signs this appliance's download keys, bound to its appliance id.
    ("download_key", Class::Machine),
    // The failover pair: the inter-appliance key, role, epoch, the peer and its pinned
    // identity. Each appliance of a pair keeps its own; never synced nor backed up.
    ("failover", Class::Machine),
    // Which snapshot this appliance last applied (written by [`apply`]).
    (apply::APPLIED_KEY, Class::Machine),
    // What this machine's scheduled backups did (Status).
    ("backup_runs", Class::Machine),
    // Which certificate expiry warnings this machine already logged (each logs its own).
    (crate::tls::expiry::KEY, Class::Machine),
];

/// Every entry of the data directory (`/data`) and whose it is. Only directories are
/// carried; the machine's entries are listed so that a reader sees the whole partition.
pub(crate) const DIRECTORIES: &[(&str, Class)] = &[
    // The self-signed certificate and the certificate store (`tls/store/`: imported and
    // requested certificates, their keys, pending requests' keys, the address assignments
    // in `index.json`): all the service's, carried by the pair's sync and by backups. An
    // assignment to an address the other machine lacks simply serves nothing there.
    ("tls", Class::Service),
    ("site", Class::Service),
    ("settings.redb", Class::Machine),
    // The pair identity: each appliance's own key pair for the pair channel.
    (crate::failover::PAIR_DIR, Class::Machine),
    ("etc", Class::Machine),
    ("clock", Class::Machine),
    ("sanitization.json", Class::Machine),
    ("update-cache", Class::Machine),
    // The persistent log init writes (docs/logs.md): this machine's history.
    (crate::logs::DIR, Class::Machine),
    // A backup on its way to the operator (removed once sent, and at start).
    (crate::backup::WORK_DIR, Class::Machine),
    // Scheduled backups kept on data: a snapshot carrying them would nest backups.
    (crate::backup::stored::DIR, Class::Machine),
    (apply::JOURNAL, Class::Machine),
    (apply::STAGING, Class::Machine),
];

/// What a snapshot may carry besides the service part. The pair's sync never carries
/// any (they are the machine's); a settings backup carries the network settings and, when
/// asked, the logged history, for a restore on this machine or on its replacement. An
/// apply takes only the extras its caller accepts, in the same store transaction as the
/// service records (docs/snapshot.md "Extras").
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Extras {
    /// The `network` record: NICs by MAC, addresses, gateways, DNS, shared IPs, host name.
    pub(crate) network: bool,
    /// The audit log, as JSON lines.
    pub(crate) history: bool,
}

impl Extras {
    /// The service part only: the pair's sync.
    pub(crate) const NONE: Extras = Extras {
        network: false,
        history: false,
    };

    /// Their names, as the header lists them.
    pub(crate) fn names(self) -> Vec<String> {
        let mut names = Vec::new();
        if self.network {
            names.push(EXTRA_NETWORK.to_string());
        }
        if self.history {
            names.push(EXTRA_HISTORY.to_string());
        }
        names
    }

    /// From a header's list; an unknown name is refused.
    fn from_names(names: &[String]) -> Result<Extras, SnapshotError> {
        let mut extras = Extras::NONE;
        for name in names {
            match name.as_str() {
                EXTRA_NETWORK => extras.network = true,
                EXTRA_HISTORY => extras.history = true,
                other => return Err(SnapshotError::NotService(format!("extra {other}"))),
            }
        }
        Ok(extras)
    }
}

const EXTRA_NETWORK: &str = "network";
const EXTRA_HISTORY: &str = "history";
/// The machine record the network extra carries.
const NETWORK_RECORD: &str = "network";
/// Where extras sit inside the tar.
const NETWORK_ENTRY: &str = "extras/network.json";
const HISTORY_ENTRY: &str = "extras/history.jsonl";
/// The largest history accepted (the log keeps 10 000 entries of at most a few hundred
/// bytes).
const HISTORY_LIMIT: u64 = 64 << 20;

/// Whose record `key` is, if it is classed.
pub(crate) fn class_of(key: &str) -> Option<Class> {
    RECORDS.iter().find(|(k, _)| *k == key).map(|(_, c)| *c)
}

/// The service's directories of the data directory.
fn service_directories() -> impl Iterator<Item = &'static str> {
    DIRECTORIES
        .iter()
        .filter(|(_, c)| *c == Class::Service)
        .map(|(name, _)| *name)
}

/// The version of the snapshot format this firmware writes and reads.
pub(crate) const FORMAT: u32 = 1;
/// The first entry of a snapshot.
const HEADER_ENTRY: &str = "snapshot.json";
/// The last entry of a snapshot.
const END_ENTRY: &str = "end.json";
/// Where records and files sit inside the tar.
const RECORDS_DIR: &str = "records/";
const FILES_DIR: &str = "files/";
/// The largest record accepted (the biggest today, `accounts`, is a few KiB).
const RECORD_LIMIT: u64 = 1 << 20;

/// The snapshot's first entry: what it is and where it comes from, readable before
/// anything else of it is used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Header {
    pub(crate) format: u32,
    /// The settings store's schema the records follow.
    pub(crate) schema_version: u64,
    /// A unique id (random hex), so that an apply can tell it apart from the last one.
    pub(crate) id: String,
    /// Unix seconds.
    pub(crate) created: u64,
    pub(crate) appliance_id: String,
    pub(crate) profile: String,
    pub(crate) version: String,
    /// The service directories the snapshot carries; one it does not carry is removed by
    /// an apply (the service part becomes exactly the snapshot's).
    pub(crate) directories: Vec<String>,
    /// The extras it carries ([`Extras`]): `network`, `history`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) extras: Vec<String>,
}

/// The last entry: what came before it, so that a snapshot cut short is never taken for a
/// whole one.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct End {
    pub(crate) records: u64,
    /// Files and links under the directories.
    pub(crate) files: u64,
    /// Extra entries.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub(crate) extras: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SnapshotError {
    #[error("record {0:?} is not classed as service or machine data; nothing was exported")]
    Unclassed(String),
    #[error("the snapshot has format {found}; this firmware reads format {FORMAT}")]
    Format { found: u32 },
    #[error(
        "the snapshot's settings have schema {found}, newer than this firmware's {known}: \
         it comes from a newer version; update this appliance first"
    )]
    TooNew { found: u64, known: u64 },
    #[error("the snapshot is damaged or incomplete: {0}")]
    Damaged(String),
    #[error("the snapshot carries {0:?}, which is not service data; it was refused")]
    NotService(String),
    #[error("the snapshot carries {0}, which this kind of apply never takes; it was refused")]
    ExtraRefused(String),
    #[error("cannot read or write {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

fn io_error(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> SnapshotError {
    let path = path.into();
    move |source| SnapshotError::Io { path, source }
}

#[cfg(test)]
mod tests;

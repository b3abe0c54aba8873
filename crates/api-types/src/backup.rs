//! Settings backups: `POST /api/v1/backup` (the request; the answer is the file) and
//! `POST /api/v1/backup/restore` (the report of what a restore did). docs/backup.md.

use serde::{Deserialize, Serialize};

/// `POST /api/v1/backup` request; unknown fields are refused.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupRequest {
    /// Encrypts the backup (never logged, never returned).
    pub password: String,
    /// Add the logged history (the audit log).
    #[serde(default)]
    pub include_history: bool,
}

/// Without the password: these bodies end up in logs and test output.
impl std::fmt::Debug for BackupRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BackupRequest")
            .field("password", &"<redacted>")
            .field("include_history", &self.include_history)
            .finish()
    }
}

/// `backup.json`, the backup file's first entry, readable without the password; also
/// where a restore says a backup came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackupInfo {
    pub format: u32,
    pub appliance_id: String,
    pub profile: String,
    pub version: String,
    /// RFC 3339, UTC.
    pub created: String,
    pub created_unix: u64,
    /// How `settings.tar.age` is protected, for a person reading the file.
    pub encryption: String,
    /// The service snapshot's format inside (docs/snapshot.md).
    pub snapshot_format: u32,
    /// What the backup carries besides the service part: `network`, `history`.
    pub extras: Vec<String>,
}

/// `POST /api/v1/backup/restore` answer: what the restore did, in operator words too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RestoreReport {
    /// The backup's origin, from its `backup.json`.
    pub restored_from: BackupInfo,
    /// The settings records now in force (store keys).
    pub records: Vec<String>,
    /// The data directories now in force (`tls`, `site`).
    pub directories: Vec<String>,
    /// What was restored, as an operator says it ("accounts and passwords", …).
    pub restored: Vec<String>,
    /// What stayed this appliance's own, and why.
    pub left_out: Vec<LeftOut>,
    /// The same things, without the reasons (older clients read this).
    pub kept: Vec<String>,
    /// The network settings and host name.
    pub network: NetworkOutcome,
    /// The served certificate.
    pub certificate: CertificateOutcome,
    /// Per-address certificate assignments: which kept theirs and which lost them (empty
    /// until certificates are assigned to addresses).
    pub certificate_assignments: Vec<AssignmentOutcome>,
    /// The logged history, when the backup carries it.
    pub history: Option<HistoryOutcome>,
    /// `kept` when the caller's account is in the backup (the session stays), else
    /// `ended`.
    pub session: String,
    /// Services that could not take the restored settings at once (they do at the next
    /// restart); empty when all did.
    pub not_reloaded: Vec<String>,
}

/// Something a restore left as this appliance had it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LeftOut {
    pub what: String,
    pub why: String,
}

/// What became of the network settings and the host name.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkOutcome {
    /// `restored` (the backup's settings are in force), `factory_defaults` (the backup's
    /// settings name NICs this machine lacks: the factory defaults are in force, `note`
    /// says why), `kept` (the backup carries none: this appliance's stay), `not_applied`
    /// (the network manager did not answer; they are taken at the next start).
    pub state: String,
    /// The host name now in force (empty: the factory's).
    pub hostname: String,
    /// Why the restored settings are not in force, in the network page's words.
    pub note: Option<String>,
}

/// What became of the served certificate.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CertificateOutcome {
    /// `restored`: the backup's certificate is served; `made`: the backup held none (or a
    /// broken one) and a self-signed one was made; `not_reloaded`: it is served from the
    /// next start.
    pub state: String,
    /// True when an administrator installed it; false when self-signed.
    pub installed: bool,
    /// The certificate's subject, when it can be read.
    pub subject: Option<String>,
    /// SHA-256 of its public key, `AB:CD:…` (the pin appliancectl checks).
    pub certificate_sha256: String,
}

/// One certificate's assignment to an address after a restore.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AssignmentOutcome {
    pub certificate: String,
    pub address: String,
    /// False when the address does not exist on this machine (the assignment was dropped).
    pub kept: bool,
}

/// What became of the logged history a backup carried.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HistoryOutcome {
    /// Entries added to this appliance's audit log.
    pub added: u64,
    /// Entries already there from an earlier restore of the same backup.
    pub already_present: u64,
}

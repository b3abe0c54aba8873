//! The audit log: who changed what, when and from where, one entry per committed change,
//! written in the change's own transaction. Ids increase; the oldest entries beyond
//! [`AUDIT_KEEP`] are dropped in the same transaction.

use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

use super::schema::AUDIT;
use super::Error;

/// How many audit entries the log keeps (a few MB at most).
pub const AUDIT_KEEP: usize = 10_000;

/// Longest detail kept, in bytes; longer ones are cut.
const DETAIL_MAX: usize = 500;

/// Who makes a change and what it is, recorded with it. `detail` is for people reading
/// the log and must never hold a secret (no passwords, tokens or keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Audit {
    /// A username, or `"system"` for the appliance's own changes.
    pub actor: String,
    /// A stable code such as `"account.password"`.
    pub action: &'static str,
    /// A short sentence, e.g. `"password changed for admin"`.
    pub detail: String,
    /// The client's address, if the change came over the network.
    pub address: Option<IpAddr>,
}

impl Audit {
    /// A change made by the appliance itself (actor `"system"`, no address).
    pub fn system(action: &'static str, detail: impl Into<String>) -> Audit {
        Audit {
            actor: "system".into(),
            action,
            detail: detail.into(),
            address: None,
        }
    }

    /// A change made by a signed-in user.
    pub fn user(
        actor: impl Into<String>,
        address: Option<IpAddr>,
        action: &'static str,
        detail: impl Into<String>,
    ) -> Audit {
        Audit {
            actor: actor.into(),
            action,
            detail: detail.into(),
            address,
        }
    }
}

/// One committed entry of the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub id: u64,
    /// Unix seconds, UTC, when the change committed (as the appliance's clock said).
    pub at: u64,
    pub actor: String,
    pub action: String,
    pub detail: String,
    pub address: Option<IpAddr>,
}

/// Appends `audit` and drops the oldest entries beyond `keep`; returns the new id.
pub(super) fn append(txn: &WriteTransaction, audit: &Audit, keep: u64) -> Result<u64, Error> {
    debug_assert!(keep >= 1, "the newest entry gives the next id");
    let mut table = txn.open_table(AUDIT)?;
    let id = match table.last()? {
        Some((last, _)) => last.value() + 1,
        None => 1,
    };
    let entry = AuditEntry {
        id,
        at: units::now(),
        actor: audit.actor.clone(),
        action: audit.action.to_owned(),
        detail: clip(&audit.detail),
        address: audit.address,
    };
    let bytes = serde_json::to_vec(&entry).map_err(|source| Error::Encode {
        key: format!("audit entry {id}"),
        source,
    })?;
    table.insert(id, bytes.as_slice())?;
    while table.len()? > keep {
        table.pop_first()?;
    }
    Ok(id)
}

/// The newest `limit` entries, newest first.
pub(super) fn latest(
    table: &impl ReadableTable<u64, &'static [u8]>,
    limit: usize,
) -> Result<Vec<AuditEntry>, Error> {
    let mut entries = Vec::with_capacity(limit.min(AUDIT_KEEP));
    for item in table.iter()?.rev().take(limit) {
        let (id, bytes) = item?;
        let entry: AuditEntry =
            serde_json::from_slice(bytes.value()).map_err(|source| Error::Corrupt {
                key: format!("audit entry {}", id.value()),
                source,
            })?;
        entries.push(entry);
    }
    Ok(entries)
}

fn clip(detail: &str) -> String {
    if detail.len() <= DETAIL_MAX {
        return detail.to_owned();
    }
    let mut end = DETAIL_MAX - '…'.len_utf8();
    while !detail.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &detail[..end])
}

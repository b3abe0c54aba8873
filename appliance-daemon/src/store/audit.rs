//! The audit log: who changed what, when and from where, one entry per committed change,
//! written in the change's own transaction. Ids increase; the oldest entries beyond
//! [`AUDIT_KEEP`] are dropped in the same transaction.

use redb::{ReadableTable, ReadableTableMetadata, WriteTransaction};
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::io::{BufRead, Read};
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
    /// Set on an entry a restore brought from a backup: where it was first recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restored_from: Option<AuditOrigin>,
}

/// Where a restored audit entry was first recorded.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AuditOrigin {
    pub appliance_id: String,
    /// Its id in that appliance's log.
    pub id: u64,
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
        restored_from: None,
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

/// Up to `limit` entries with an id above `after`, oldest first (the syslog forwarding
/// follows the log so), and the newest id in the log (0 when empty).
pub(super) fn after(
    table: &impl ReadableTable<u64, &'static [u8]>,
    after: u64,
    limit: usize,
) -> Result<(Vec<AuditEntry>, u64), Error> {
    let last = table.last()?.map_or(0, |(id, _)| id.value());
    let mut entries = Vec::new();
    for item in table.range(after.saturating_add(1)..)?.take(limit) {
        let (id, bytes) = item?;
        let entry: AuditEntry =
            serde_json::from_slice(bytes.value()).map_err(|source| Error::Corrupt {
                key: format!("audit entry {}", id.value()),
                source,
            })?;
        entries.push(entry);
    }
    Ok((entries, last))
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

/// The whole audit log as JSON lines, oldest first, from one consistent view of it: what
/// a backup with the history carries. Read without holding it in memory.
pub struct AuditExport {
    /// Bytes the reader yields.
    pub len: u64,
    pub entries: u64,
    range: redb::Range<'static, u64, &'static [u8]>,
    line: Vec<u8>,
    at: usize,
}

pub(super) fn export(
    table: &redb::ReadOnlyTable<u64, &'static [u8]>,
) -> Result<AuditExport, Error> {
    let (mut len, mut entries) = (0u64, 0u64);
    for item in table.range::<u64>(..)? {
        len += item?.1.value().len() as u64 + 1;
        entries += 1;
    }
    Ok(AuditExport {
        len,
        entries,
        range: table.range::<u64>(..)?,
        line: Vec::new(),
        at: 0,
    })
}

impl Read for AuditExport {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.line.len() {
            match self.range.next() {
                None => return Ok(0),
                Some(item) => {
                    let (_, value) = item.map_err(std::io::Error::other)?;
                    self.line.clear();
                    self.line.extend_from_slice(value.value());
                    self.line.push(b'\n');
                    self.at = 0;
                }
            }
        }
        let n = buf.len().min(self.line.len() - self.at);
        buf[..n].copy_from_slice(&self.line[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

/// What [`import`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Imported {
    pub added: u64,
    pub already_present: u64,
}

/// Longest line of an audit export accepted.
const LINE_MAX: usize = 64 * 1024;

/// Read one line of an audit export (`None` at the end).
pub(crate) fn read_line(input: &mut impl BufRead) -> Result<Option<AuditEntry>, String> {
    let mut line = Vec::new();
    let n = input
        .take(LINE_MAX as u64 + 1)
        .read_until(b'\n', &mut line)
        .map_err(|e| e.to_string())?;
    if n == 0 {
        return Ok(None);
    }
    if line.pop() != Some(b'\n') {
        return Err("an entry of the history is cut short or too long".into());
    }
    serde_json::from_slice(&line)
        .map(Some)
        .map_err(|e| format!("an entry of the history does not read: {e}"))
}

/// Add the entries of an audit export made on appliance `from` to this log (whose
/// appliance is `here`), after the entries present, each keeping its time and marked with
/// where it was first recorded. An entry already in the log (restored earlier, or this
/// appliance's own when the backup is of this appliance) is not added again.
pub(super) fn import(
    txn: &WriteTransaction,
    input: &mut impl BufRead,
    from: &str,
    here: &str,
    keep: u64,
) -> Result<Imported, Error> {
    let mut table = txn.open_table(AUDIT)?;
    let mut present = HashSet::new();
    for item in table.iter()? {
        let (id, bytes) = item?;
        let entry: AuditEntry =
            serde_json::from_slice(bytes.value()).map_err(|source| Error::Corrupt {
                key: format!("audit entry {}", id.value()),
                source,
            })?;
        present.insert(origin(&entry, here));
    }
    let mut next = match table.last()? {
        Some((last, _)) => last.value() + 1,
        None => 1,
    };
    let mut done = Imported::default();
    while let Some(mut entry) = read_line(input).map_err(Error::Import)? {
        let from_here = origin(&entry, from);
        if !present.insert(from_here.clone()) {
            done.already_present += 1;
            continue;
        }
        entry.id = next;
        entry.restored_from = Some(from_here);
        let bytes = serde_json::to_vec(&entry).map_err(|source| Error::Encode {
            key: format!("audit entry {next}"),
            source,
        })?;
        table.insert(next, bytes.as_slice())?;
        next += 1;
        done.added += 1;
    }
    while table.len()? > keep {
        table.pop_first()?;
    }
    Ok(done)
}

/// Where `entry` was first recorded, `appliance` being the log's own.
fn origin(entry: &AuditEntry, appliance: &str) -> AuditOrigin {
    entry.restored_from.clone().unwrap_or_else(|| AuditOrigin {
        appliance_id: appliance.to_string(),
        id: entry.id,
    })
}

//! What `GET /api/v1/network` answers. The types are `netconfig::view`'s, shared with
//! clients; here they take the daemon's fixed words (`&'static str`), and the shared IP's
//! history is read from the store's audit log.

use crate::store::{AuditEntry, Store};

pub(crate) use netconfig::view::{ConflictView, DnsView, HistoryEntry, LeaseView, PendingView};

pub(crate) type NetworkView = netconfig::view::NetworkView<&'static str>;
pub(crate) type InterfaceView = netconfig::view::InterfaceView<&'static str>;
pub(crate) type AddressView = netconfig::view::AddressView<&'static str>;
pub(crate) type RouteView = netconfig::view::RouteView<&'static str>;
pub(crate) type DhcpView = netconfig::view::DhcpView<&'static str>;
pub(crate) type SharedIpView = netconfig::view::SharedIpView<&'static str>;

/// Shared IP events kept in the view.
const HISTORY: usize = 50;
/// Audit entries searched for them.
const HISTORY_SCAN: usize = 2000;

/// The shared IP's enables, disables and refusals, newest first, from the audit log.
pub(crate) fn shared_ip_history(store: &Store) -> Result<Vec<HistoryEntry>, crate::store::Error> {
    Ok(store
        .audit_log(HISTORY_SCAN)?
        .into_iter()
        // This machine's events only, not those a restore brought from a backup.
        .filter(|e| e.restored_from.is_none() && e.action.starts_with("network.shared_ip."))
        .take(HISTORY)
        .map(history_entry)
        .collect())
}

fn history_entry(e: AuditEntry) -> HistoryEntry {
    HistoryEntry {
        id: e.id,
        at: e.at,
        actor: e.actor,
        action: e.action,
        detail: e.detail,
        address: e.address,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_history_entry_is_written_as_the_audit_log_writes_it() {
        let entry = AuditEntry {
            id: 7,
            at: 1_700_000_000,
            actor: "admin".into(),
            action: "network.shared_ip.enable".into(),
            detail: "192.168.1.50/24 on 52:54:00:12:34:56".into(),
            address: Some("192.0.2.7".parse().unwrap()),
            restored_from: None,
        };
        let audit = serde_json::to_string(&entry).unwrap();
        assert_eq!(serde_json::to_string(&history_entry(entry)).unwrap(), audit);
    }
}

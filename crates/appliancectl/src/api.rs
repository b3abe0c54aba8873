//! The API's request and answer bodies: the appliance's own ([`api_types`]), read
//! leniently (fields this client does not know are ignored and missing ones take defaults,
//! so a newer appliance still works), plus the factory reset's choice as the command line
//! names it.

mod system;

pub use api_types::{Account, AccountChange, AccountList, NewAccount};
pub use api_types::{
    Address, Available, CatalogFailure, CatalogInfo, Certificate, CertificateInstall, ClockState,
    Conflict, Cpu, Credentials, Dhcp, Disk, Dmi, Dns, DnsConfig, ErrorBody, FactoryReset, Health,
    HistoryEntry, Installed, Interface, InterfaceConfig, Lease, LogBoot, LogLine, Logs, Memory,
    NetworkConfig, NetworkView, Nic, Partition, PasswordChange, PendingChange, PendingInstall,
    PowerAction, Problem, Progress, Requirement, ResetAccepted, Route, RouteConfig, Running,
    SanitizationRecord, Session, SharedIp, SharedIpConfig, SiteInfo, SlotInfo, Specs, Status, Time,
    TimeRequest, TimeSource, UpdateEvent, Updates, Versions,
};
pub use api_types::{
    AssignmentOutcome, AutoFailoverRequest, BackupInfo, BackupRequest, BecomePrimaryAnswer,
    BecomePrimaryRequest, BreakAnswer, CertificateOutcome, EstablishRequest, Failover, FailoverKey,
    FailoverKeyRequest, HistoryOutcome, LeftOut, NetworkOutcome, PeerAddress, RestoreReport,
    SharedIpAnswered,
};
pub use api_types::{
    CertificateAssign, CertificateExport, CertificateImported, CertificateRequest,
    CertificateRequested, CertificateWarning, StoredCertificate,
};
pub use api_types::{FailoverSync, SyncAnswer};
pub use api_types::{Forwarding, ForwardingRequest, SyslogServer, SyslogServerStatus};
pub use system::ResetThen;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_tolerates_unknown_and_missing_fields() {
        let status: Status = serde_json::from_value(serde_json::json!({
            "model": "RS-1000",
            "serial": null,
            "uptime_seconds": 7380,
            "future_field": {"x": 1},
            "specs": {
                "cpu": {"model": null, "logical_cores": 4},
                "disks": [{"name": "sda", "size_bytes": 1, "rotational": false, "wwn": "x"}],
                "nics": [{"name": "eth0", "carrier": true}],
                "sensors": []
            }
        }))
        .unwrap();
        assert_eq!(status.model, "RS-1000");
        assert_eq!(status.serial, None);
        assert_eq!(status.uptime_seconds, 7380);
        assert_eq!(status.specs.cpu.unwrap().logical_cores, 4);
        assert_eq!(status.specs.memory, None);
        assert_eq!(status.specs.disks[0].name, "sda");
        assert!(status.specs.nics[0].ipv4.is_empty());
    }
}

//! The request and answer bodies of the appliance's HTTPS API (`/api/v1`), in one place for
//! the management daemon (which writes the answers and reads the requests), `appliancectl`
//! and the test harness (which do the opposite).
//!
//! Answers are read leniently (missing fields take defaults, unknown ones are ignored) so
//! an older client works with a newer appliance; requests the daemon parses strictly stay
//! strict. The JSON the daemon emits is the API's (`openapi.json`): field order and the
//! fields left out when empty are part of it.
#![forbid(unsafe_code)]

mod backup;
mod error;
mod failover;
mod health;
mod logs;
mod network;
mod roles;
mod session;
mod status;
mod system;
mod time;
mod tls;
mod updates;

pub use backup::{
    AssignmentOutcome, BackupInfo, BackupRequest, CertificateOutcome, HistoryOutcome, LeftOut,
    NetworkOutcome, RestoreReport,
};
pub use error::{ErrorBody, Problem};
pub use failover::{
    AutoFailover, BreakAnswer, EstablishRequest, Failover, FailoverEvent, FailoverKey,
    FailoverKeyRequest, FailoverPeer, PeerAddress, PeerEstablish, PeerFacts, PeerHello,
    PeerHelloAnswer, PeerIdentity, PeerState, Role,
};
pub use failover::{FailoverSync, SyncAnswer};
pub use health::Health;
pub use logs::{
    Forwarding, ForwardingRequest, LogBoot, LogLine, Logs, SyslogServer, SyslogServerStatus,
};
pub use network::{
    Address, Conflict, Dhcp, Dns, DnsConfig, HistoryEntry, Interface, InterfaceConfig, Lease,
    NetworkConfig, NetworkView, PendingChange, Route, RouteConfig, SharedIp, SharedIpConfig,
};
pub use roles::{AutoFailoverRequest, BecomePrimaryAnswer, BecomePrimaryRequest, SharedIpAnswered};
pub use session::{
    Account, AccountChange, AccountList, Credentials, NewAccount, PasswordChange, RecoveryCodes,
    Session, TotpConfirm, TotpEnrolment, Unlocked, LOCAL_SOCKET,
};
pub use status::{
    BackupRun, ClockState, Cpu, Disk, Dmi, ExpiringCertificate, Memory, Nic, PairStatus, Partition,
    SanitizationRecord, ScheduledBackup, Specs, Status, UpdateKeys, Versions,
};
pub use system::{FactoryReset, PowerAction, ResetAccepted};
pub use time::{Time, TimeRequest, TimeSource};
pub use tls::{
    Certificate, CertificateAssign, CertificateExport, CertificateImported, CertificateInstall,
    CertificateRequest, CertificateRequested, CertificateSettings, CertificateWarning,
    StoredCertificate,
};
pub use updates::{
    Available, CatalogFailure, CatalogInfo, Installed, PendingInstall, Progress, Requirement,
    Running, SiteInfo, SlotInfo, UpdateEvent, Updates,
};

#[cfg(test)]
mod tests;

//! `GET|PUT /api/v1/network` and `POST /api/v1/network/confirm` (docs/network.md). The
//! bodies are `netconfig`'s, the types the appliance itself writes and reads, under the
//! names this client gives them; they read with missing fields defaulted and unknown
//! fields ignored, and the view's words (`origin`, `state`) as `String`.

pub use netconfig::config::{
    DnsConfig, InterfaceConfig, NetworkConfig, RouteConfig, SharedIpConfig,
};
pub use netconfig::view::{
    AddressView as Address, ConflictView as Conflict, DhcpView as Dhcp, DnsView as Dns,
    HistoryEntry, InterfaceView as Interface, LeaseView as Lease, NetworkView,
    PendingView as PendingChange, RouteView as Route, SharedIpView as SharedIp,
};

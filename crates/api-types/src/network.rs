//! `GET|PUT /api/v1/network` and `POST /api/v1/network/confirm` (docs/network.md). The
//! bodies are the network core's (`netconfig`), which the daemon writes and reads, under
//! the names the API's clients give them; they read with missing fields defaulted and
//! unknown fields ignored, and the view's words (`origin`, `state`) as `String`.

pub use netconfig::config::{
    DnsConfig, InterfaceConfig, NetworkConfig, RouteConfig, SharedIpConfig,
};
pub use netconfig::view::{
    AddressView as Address, ConflictView as Conflict, DhcpView as Dhcp, DnsView as Dns,
    HistoryEntry, InterfaceView as Interface, LeaseView as Lease, NetworkView,
    PendingView as PendingChange, RouteView as Route, SharedIpView as SharedIp,
};

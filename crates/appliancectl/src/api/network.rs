//! `GET|PUT /api/v1/network` and `POST /api/v1/network/confirm` (docs/network.md).

use serde::{Deserialize, Serialize};

/// The settings as the operator writes them: interfaces named by MAC, gateways, routes,
/// DNS, shared IPs. Missing fields take the appliance's defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkConfig {
    /// Empty: the hostname is left as it is.
    pub hostname: String,
    pub interfaces: Vec<InterfaceConfig>,
    pub gateways: Vec<String>,
    pub routes: Vec<RouteConfig>,
    pub dns: Dns,
    pub shared_ips: Vec<SharedIpConfig>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InterfaceConfig {
    pub mac: String,
    pub up: bool,
    /// `None`: the driver's or the DHCP server's.
    pub mtu: Option<u32>,
    pub dhcp: bool,
    pub addresses: Vec<String>,
}

impl Default for InterfaceConfig {
    fn default() -> Self {
        InterfaceConfig {
            mac: String::new(),
            up: true,
            mtu: None,
            dhcp: false,
            addresses: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RouteConfig {
    pub destination: String,
    pub gateway: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Dns {
    pub servers: Vec<String>,
    pub search: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SharedIpConfig {
    pub address: String,
    /// The MAC of the NIC that carries it.
    pub interface: String,
    pub enabled: bool,
}

/// What `GET /api/v1/network` answers: the settings in force, a change waiting for
/// confirmation, and what the kernel has.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkView {
    pub config: NetworkConfig,
    /// Nothing was ever saved: `config` is the factory defaults.
    pub factory_default: bool,
    /// False in dev mode, where nothing is applied to the machine.
    pub applied: bool,
    pub notes: Vec<String>,
    pub pending: Option<PendingChange>,
    pub interfaces: Vec<Interface>,
    pub shared_ips: Vec<SharedIp>,
    /// What the resolver uses now (settings first, then DHCP's).
    pub dns: Dns,
    pub hostname: String,
}

/// A change applied over the network that reverts at `deadline` unless confirmed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PendingChange {
    pub seconds_left: u64,
    /// Unix seconds.
    pub deadline: u64,
    pub by: String,
    pub from: Option<String>,
    /// What it reverts to.
    pub previous: NetworkConfig,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Interface {
    pub name: String,
    pub mac: String,
    /// The settings name this NIC (an unnamed NIC is kept down).
    pub configured: bool,
    pub up: bool,
    pub carrier: bool,
    pub mtu: Option<u32>,
    pub addresses: Vec<Address>,
    pub routes: Vec<Route>,
    pub dhcp: Option<Dhcp>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Address {
    pub address: String,
    /// `static`, `dhcp`, `shared`, `link-local` or `other`.
    pub origin: String,
    /// `None`: forever.
    pub valid_seconds: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Route {
    /// `default` or a network.
    pub destination: String,
    pub gateway: Option<String>,
    /// `static` or `dhcp`.
    pub origin: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Dhcp {
    /// `waiting`, `bound`, `renewing`, `rebinding`, `failed` or `off`.
    pub state: String,
    pub since: Option<u64>,
    pub message: String,
    pub lease: Option<Lease>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Lease {
    pub address: String,
    pub gateway: Option<String>,
    pub dns: Vec<String>,
    pub search: Vec<String>,
    pub server: Option<String>,
    pub lease_seconds: Option<u64>,
    pub obtained_at: Option<u64>,
    /// Seconds until it ends unless renewed; `None`: never.
    pub expires_in: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SharedIp {
    pub address: String,
    pub interface: String,
    pub interface_name: Option<String>,
    pub enabled: bool,
    /// This appliance has the address and announces it.
    pub held: bool,
    /// `held`, `disabled`, `conflict`, `interface_missing` or `simulated` (dev mode).
    pub state: String,
    pub message: String,
    pub since: Option<u64>,
    pub conflict: Option<Conflict>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Conflict {
    pub mac: String,
    pub at: u64,
}

//! What `GET /api/v1/network` answers: the settings in force, a change waiting for
//! confirmation, and per NIC what the kernel actually has (addresses, routes, DHCP lease
//! state), the shared IPs and whether this appliance holds them. Times are Unix seconds.

use serde::Serialize;
use std::net::IpAddr;

use super::config::NetworkConfig;
use crate::store::{AuditEntry, Store};

/// Shared IP events kept in the view.
const HISTORY: usize = 50;
/// Audit entries searched for them.
const HISTORY_SCAN: usize = 2000;

/// The shared IP's enables, disables and refusals, newest first, from the audit log.
pub fn shared_ip_history(store: &Store) -> Result<Vec<AuditEntry>, crate::store::Error> {
    Ok(store
        .audit_log(HISTORY_SCAN)?
        .into_iter()
        .filter(|e| e.action.starts_with("network.shared_ip."))
        .take(HISTORY)
        .collect())
}

#[derive(Debug, Clone, Serialize)]
pub struct NetworkView {
    /// The settings in force (after a change: the new ones, confirmed or not).
    pub config: NetworkConfig,
    /// No settings were ever saved: `config` is the factory defaults for these NICs.
    pub factory_default: bool,
    /// False in dev mode: nothing is applied to the machine.
    pub applied: bool,
    /// Things an operator should know: dev mode, stored settings that could not be used.
    pub notes: Vec<String>,
    pub pending: Option<PendingView>,
    pub interfaces: Vec<InterfaceView>,
    pub shared_ips: Vec<SharedIpView>,
    /// What the resolver file holds now (settings first, then DHCP's).
    pub dns: DnsView,
    pub hostname: String,
    /// Shared IP enables, disables and refusals, newest first (from the audit log).
    pub shared_ip_history: Vec<AuditEntry>,
}

/// A change applied over the network that reverts unless confirmed.
#[derive(Debug, Clone, Serialize)]
pub struct PendingView {
    pub seconds_left: u64,
    /// When it reverts.
    pub deadline: u64,
    pub by: String,
    pub from: Option<IpAddr>,
    /// What it reverts to.
    pub previous: NetworkConfig,
}

#[derive(Debug, Clone, Serialize)]
pub struct InterfaceView {
    /// The kernel's name: `eth0`, `enp1s0`.
    pub name: String,
    pub mac: String,
    /// The settings name this NIC; an unnamed NIC is kept down.
    pub configured: bool,
    /// Administratively up.
    pub up: bool,
    /// A cable is connected (the link has carrier).
    pub carrier: bool,
    pub mtu: u32,
    /// Every address the kernel has on it.
    pub addresses: Vec<AddressView>,
    /// The routes out of it that the appliance manages.
    pub routes: Vec<RouteView>,
    /// `None` when the settings do not ask for DHCP on it.
    pub dhcp: Option<DhcpView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AddressView {
    /// `192.168.1.10/24`.
    pub address: String,
    /// `static`, `dhcp`, `shared`, `link-local` or `other` (e.g. from a router
    /// advertisement).
    pub origin: &'static str,
    /// Seconds the kernel keeps it; `None`: forever.
    pub valid_seconds: Option<u32>,
}

#[derive(Debug, Clone, Serialize)]
pub struct RouteView {
    /// `default` or a network.
    pub destination: String,
    pub gateway: Option<String>,
    /// `static` or `dhcp`.
    pub origin: &'static str,
}

#[derive(Debug, Clone, Serialize)]
pub struct DhcpView {
    /// `waiting` (no lease, asking), `bound`, `renewing` (T1 passed), `rebinding` (T2
    /// passed), `failed` (the client starts over), `off` (dev mode: no client runs).
    pub state: &'static str,
    /// When it entered that state.
    pub since: u64,
    /// For people: `waiting for a DHCP offer since 2025-01-31T10:00:00Z`.
    pub message: String,
    pub lease: Option<LeaseView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LeaseView {
    pub address: String,
    pub gateway: Option<String>,
    pub dns: Vec<String>,
    pub search: Vec<String>,
    pub server: Option<String>,
    /// `None`: infinite.
    pub lease_seconds: Option<u32>,
    pub obtained_at: u64,
    /// Seconds until it ends unless renewed; `None`: never.
    pub expires_in: Option<u64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SharedIpView {
    pub address: String,
    /// The MAC of the NIC that carries it.
    pub interface: String,
    /// That NIC's kernel name, when present.
    pub interface_name: Option<String>,
    pub enabled: bool,
    /// This appliance has the address and announces it.
    pub held: bool,
    /// `held`, `disabled`, `conflict` (enabled, but another host holds it: not taken),
    /// `interface_missing`, `simulated` (dev mode).
    pub state: &'static str,
    pub message: String,
    /// Held since.
    pub since: Option<u64>,
    pub announcements: u64,
    pub last_announced: Option<u64>,
    /// Another host seen holding or claiming the address, and when.
    pub conflict: Option<ConflictView>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ConflictView {
    pub mac: String,
    pub at: u64,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct DnsView {
    pub servers: Vec<String>,
    pub search: Vec<String>,
}

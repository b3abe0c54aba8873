//! What `GET /api/v1/network` answers: the settings in force, a change waiting for
//! confirmation, and per NIC what the kernel actually has (addresses, routes, DHCP lease
//! state), the shared IPs and whether this appliance holds them. Times are Unix seconds.
//!
//! Plain data only, written by the daemon (which fills it from the kernel, its DHCP
//! clients and the store) and read by clients (`appliancectl`): one set of types, so
//! the two cannot drift apart. For the clients, every struct reads with missing fields
//! defaulted, and unknown fields are ignored, so that a newer appliance still parses.
//!
//! The view's fixed words (`static`, `bound`, `held`, ...) are the type parameter `W`:
//! `&'static str` in the daemon, which writes them and matches on them, and `String`
//! (the default) in a client, which must also take a word a newer appliance adds. The
//! JSON is the same either way.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

use crate::config::NetworkConfig;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, bound(deserialize = "W: Deserialize<'de> + Default"))]
pub struct NetworkView<W = String> {
    /// The settings in force (after a change: the new ones, confirmed or not).
    pub config: NetworkConfig,
    /// No settings were ever saved: `config` is the factory defaults for these NICs.
    pub factory_default: bool,
    /// False in dev mode: nothing is applied to the machine.
    pub applied: bool,
    /// Things an operator should know: dev mode, stored settings that could not be used.
    pub notes: Vec<String>,
    pub pending: Option<PendingView>,
    pub interfaces: Vec<InterfaceView<W>>,
    pub shared_ips: Vec<SharedIpView<W>>,
    /// What the resolver file holds now (settings first, then DHCP's).
    pub dns: DnsView,
    pub hostname: String,
    /// Shared IP enables, disables and refusals, newest first (from the audit log).
    pub shared_ip_history: Vec<HistoryEntry>,
}

/// A change applied over the network that reverts unless confirmed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PendingView {
    pub seconds_left: u64,
    /// When it reverts.
    pub deadline: u64,
    pub by: String,
    pub from: Option<IpAddr>,
    /// What it reverts to.
    pub previous: NetworkConfig,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, bound(deserialize = "W: Deserialize<'de> + Default"))]
pub struct InterfaceView<W = String> {
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
    pub addresses: Vec<AddressView<W>>,
    /// The routes out of it that the appliance manages.
    pub routes: Vec<RouteView<W>>,
    /// `None` when the settings do not ask for DHCP on it.
    pub dhcp: Option<DhcpView<W>>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, bound(deserialize = "W: Deserialize<'de> + Default"))]
pub struct AddressView<W = String> {
    /// `192.168.1.10/24`.
    pub address: String,
    /// `static`, `dhcp`, `shared`, `link-local` or `other` (e.g. from a router
    /// advertisement).
    pub origin: W,
    /// Seconds the kernel keeps it; `None`: forever.
    pub valid_seconds: Option<u32>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, bound(deserialize = "W: Deserialize<'de> + Default"))]
pub struct RouteView<W = String> {
    /// `default` or a network.
    pub destination: String,
    pub gateway: Option<String>,
    /// `static` or `dhcp`.
    pub origin: W,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, bound(deserialize = "W: Deserialize<'de> + Default"))]
pub struct DhcpView<W = String> {
    /// `waiting` (no lease, asking), `bound`, `renewing` (T1 passed), `rebinding` (T2
    /// passed), `failed` (the client starts over), `off` (dev mode: no client runs).
    pub state: W,
    /// When it entered that state.
    pub since: u64,
    /// For people: `waiting for a DHCP offer since 2025-01-31T10:00:00Z`.
    pub message: String,
    pub lease: Option<LeaseView>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
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

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, bound(deserialize = "W: Deserialize<'de> + Default"))]
pub struct SharedIpView<W = String> {
    pub address: String,
    /// The MAC of the NIC that carries it.
    pub interface: String,
    /// That NIC's kernel name, when present.
    pub interface_name: Option<String>,
    pub enabled: bool,
    /// This appliance has the address and announces it.
    pub held: bool,
    /// `held`, `disabled`, `conflict` (enabled, but another host holds it: not taken),
    /// `interface_missing`, `simulated` (dev mode), `standby` (the failover backup's).
    pub state: W,
    pub message: String,
    /// Held since.
    pub since: Option<u64>,
    pub announcements: u64,
    pub last_announced: Option<u64>,
    /// Another host seen holding or claiming the address, and when.
    pub conflict: Option<ConflictView>,
    /// In a failover pair the role decides whether it is held, not `enabled`: `primary`
    /// (held) or `backup` (not held; state `standby`). `None` out of a pair.
    pub role: Option<W>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ConflictView {
    pub mac: String,
    pub at: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DnsView {
    pub servers: Vec<String>,
    pub search: Vec<String>,
}

/// One entry of the appliance's audit log, as the view lists it: the same fields, in the
/// same order, as the log's own entries (the daemon's store), so that the JSON is the one
/// `GET /api/v1/audit` gives for the same event.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct HistoryEntry {
    pub id: u64,
    /// When the change committed.
    pub at: u64,
    pub actor: String,
    /// `network.shared_ip.enable`, `.disable` or `.conflict`.
    pub action: String,
    pub detail: String,
    /// Where the request came from.
    pub address: Option<IpAddr>,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A view as the daemon writes it, every part filled.
    fn daemon_view() -> NetworkView<&'static str> {
        let config: NetworkConfig = serde_json::from_str(
            r#"{"hostname":"a1","interfaces":[{"mac":"52:54:00:12:34:56","dhcp":true}]}"#,
        )
        .unwrap();
        NetworkView {
            config: config.clone(),
            factory_default: false,
            applied: true,
            notes: vec!["note".into()],
            pending: Some(PendingView {
                seconds_left: 95,
                deadline: 1_700_000_000,
                by: "admin".into(),
                from: Some("192.0.2.7".parse().unwrap()),
                previous: NetworkConfig::default(),
            }),
            interfaces: vec![InterfaceView {
                name: "eth0".into(),
                mac: "52:54:00:12:34:56".into(),
                configured: true,
                up: true,
                carrier: false,
                mtu: 1500,
                addresses: vec![AddressView {
                    address: "10.0.2.15/24".into(),
                    origin: "dhcp",
                    valid_seconds: Some(3500),
                }],
                routes: vec![RouteView {
                    destination: "default".into(),
                    gateway: Some("10.0.2.2".into()),
                    origin: "dhcp",
                }],
                dhcp: Some(DhcpView {
                    state: "bound",
                    since: 1_699_999_000,
                    message: "bound".into(),
                    lease: Some(LeaseView {
                        address: "10.0.2.15/24".into(),
                        gateway: Some("10.0.2.2".into()),
                        dns: vec!["10.0.2.3".into()],
                        search: Vec::new(),
                        server: None,
                        lease_seconds: Some(3600),
                        obtained_at: 1_699_999_000,
                        expires_in: None,
                    }),
                }),
            }],
            shared_ips: vec![SharedIpView {
                address: "192.168.1.50/24".into(),
                interface: "52:54:00:12:34:56".into(),
                interface_name: Some("eth0".into()),
                enabled: true,
                held: false,
                state: "conflict",
                message: "in use".into(),
                since: None,
                announcements: 3,
                last_announced: Some(1_699_999_600),
                conflict: Some(ConflictView {
                    mac: "52:54:00:ab:cd:ef".into(),
                    at: 1_699_999_700,
                }),
                role: None,
            }],
            dns: DnsView {
                servers: vec!["10.0.2.3".into()],
                search: vec!["example.com".into()],
            },
            hostname: "a1".into(),
            shared_ip_history: vec![HistoryEntry {
                id: 4,
                at: 1_699_999_800,
                actor: "admin".into(),
                action: "network.shared_ip.enable".into(),
                detail: "192.168.1.50/24".into(),
                address: None,
            }],
        }
    }

    #[test]
    fn the_answer_keeps_its_fields_in_their_order() {
        let json = serde_json::to_string(&daemon_view()).unwrap();
        let config = r#"{"hostname":"a1","interfaces":[{"mac":"52:54:00:12:34:56","up":true,"mtu":null,"dhcp":true,"addresses":[]}],"gateways":[],"routes":[],"dns":{"servers":[],"search":[]},"shared_ips":[]}"#;
        let empty = r#"{"hostname":"","interfaces":[],"gateways":[],"routes":[],"dns":{"servers":[],"search":[]},"shared_ips":[]}"#;
        let expected = format!(
            concat!(
                r#"{{"config":{config},"factory_default":false,"applied":true,"notes":["note"],"#,
                r#""pending":{{"seconds_left":95,"deadline":1700000000,"by":"admin","from":"192.0.2.7","previous":{empty}}},"#,
                r#""interfaces":[{{"name":"eth0","mac":"52:54:00:12:34:56","configured":true,"up":true,"carrier":false,"mtu":1500,"#,
                r#""addresses":[{{"address":"10.0.2.15/24","origin":"dhcp","valid_seconds":3500}}],"#,
                r#""routes":[{{"destination":"default","gateway":"10.0.2.2","origin":"dhcp"}}],"#,
                r#""dhcp":{{"state":"bound","since":1699999000,"message":"bound","lease":{{"address":"10.0.2.15/24","gateway":"10.0.2.2","dns":["10.0.2.3"],"search":[],"server":null,"lease_seconds":3600,"obtained_at":1699999000,"expires_in":null}}}}}}],"#,
                r#""shared_ips":[{{"address":"192.168.1.50/24","interface":"52:54:00:12:34:56","interface_name":"eth0","enabled":true,"held":false,"state":"conflict","message":"in use","since":null,"announcements":3,"last_announced":1699999600,"conflict":{{"mac":"52:54:00:ab:cd:ef","at":1699999700}},"role":null}}],"#,
                r#""dns":{{"servers":["10.0.2.3"],"search":["example.com"]}},"hostname":"a1","#,
                r#""shared_ip_history":[{{"id":4,"at":1699999800,"actor":"admin","action":"network.shared_ip.enable","detail":"192.168.1.50/24","address":null}}]}}"#
            ),
            config = config,
            empty = empty,
        );
        assert_eq!(json, expected);
    }

    #[test]
    fn a_client_reads_back_exactly_what_the_daemon_wrote() {
        let json = serde_json::to_string(&daemon_view()).unwrap();
        let read: NetworkView = serde_json::from_str(&json).unwrap();
        assert_eq!(serde_json::to_string(&read).unwrap(), json);
        assert_eq!(read.interfaces[0].addresses[0].origin, "dhcp");
    }

    #[test]
    fn a_client_takes_missing_fields_as_defaults_and_ignores_new_ones() {
        let read: NetworkView = serde_json::from_str(
            r#"{"interfaces":[{"name":"eth0","dhcp":{"state":"rebooting","later":1}}],"more":true}"#,
        )
        .unwrap();
        let nic = &read.interfaces[0];
        assert_eq!((nic.name.as_str(), nic.mtu), ("eth0", 0));
        assert_eq!(
            nic.dhcp.as_ref().map(|d| d.state.as_str()),
            Some("rebooting")
        );
        assert!(read.pending.is_none() && read.shared_ip_history.is_empty());
    }
}

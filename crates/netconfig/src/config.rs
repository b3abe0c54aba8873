//! The network settings as the operator writes them (API body and stored record
//! `network`), and the factory defaults. Addresses are kept as text so that a wrong one can
//! be reported with its place (`interfaces[0].addresses[1]`) instead of failing the whole
//! body; [`crate::validate`] checks and types them before anything is applied.
//!
//! Interfaces are named by MAC address: kernel names can change when hardware is added,
//! a MAC does not. An empty `interfaces` list is never valid, so the record's default
//! (never written) stands for "factory defaults" ([`NetworkConfig::factory`]).

use serde::{Deserialize, Serialize};

/// The hostname of a new appliance (init uses the same when `/data/etc/hostname` is absent).
pub(crate) const FACTORY_HOSTNAME: &str = "appliance";

/// The fixed address the box's first NIC always answers on, beside DHCP, so that a box
/// plugged into a network without a DHCP server (or straight into a laptop) can be reached.
pub(crate) const BOX_FACTORY_ADDRESS: &str = "169.254.1.1/16";

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct NetworkConfig {
    /// Empty: keep the current one (init's, from `/data/etc/hostname`).
    pub hostname: String,
    pub interfaces: Vec<InterfaceConfig>,
    /// Default gateways, IPv4 and/or IPv6; each goes out of the interface whose static
    /// subnet holds it.
    pub gateways: Vec<String>,
    pub routes: Vec<RouteConfig>,
    pub dns: DnsConfig,
    pub shared_ips: Vec<SharedIpConfig>,
}

/// One NIC. A present NIC that no entry names is kept down, without addresses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct InterfaceConfig {
    /// `52:54:00:12:34:56`.
    pub mac: String,
    /// Administratively up. A NIC set down carries no address, route or DHCP client.
    pub up: bool,
    /// `None`: the driver's (or the DHCP server's) value.
    pub mtu: Option<u32>,
    /// Run a DHCPv4 client.
    pub dhcp: bool,
    /// Static addresses, IPv4 and IPv6: `192.168.1.10/24`, `2001:db8::10/64`.
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
    /// A network: `10.20.0.0/16`.
    pub destination: String,
    /// A router on one of the static subnets.
    pub gateway: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct DnsConfig {
    /// Used before the name servers learnt by DHCP.
    pub servers: Vec<String>,
    pub search: Vec<String>,
}

/// An address two appliances in failover take in turn: only one holds it at a time.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SharedIpConfig {
    /// `192.168.1.50/24`.
    pub address: String,
    /// The MAC of the NIC that carries it.
    pub interface: String,
    pub enabled: bool,
}

/// A NIC present on the machine: its kernel name and MAC (lowercase, colon-separated).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PresentNic {
    pub name: String,
    pub mac: String,
}

impl NetworkConfig {
    /// True for the record as first read (never written): the factory defaults apply.
    pub fn is_factory(&self) -> bool {
        self.interfaces.is_empty()
    }

    /// The factory defaults for `profile` on these NICs (in kernel-name order): the
    /// virtual appliance runs DHCP on every NIC; the box does too, and its first NIC also
    /// answers on [`BOX_FACTORY_ADDRESS`] (docs/network.md).
    pub fn factory(profile: &str, nics: &[PresentNic]) -> NetworkConfig {
        let mut nics: Vec<&PresentNic> = nics.iter().collect();
        nics.sort_by(|a, b| a.name.cmp(&b.name));
        let interfaces = nics
            .iter()
            .enumerate()
            .map(|(i, nic)| InterfaceConfig {
                mac: nic.mac.clone(),
                up: true,
                mtu: None,
                dhcp: true,
                addresses: if profile == "box" && i == 0 {
                    vec![BOX_FACTORY_ADDRESS.to_string()]
                } else {
                    Vec::new()
                },
            })
            .collect();
        NetworkConfig {
            hostname: FACTORY_HOSTNAME.to_string(),
            interfaces,
            ..NetworkConfig::default()
        }
    }

    /// True when `other` has the same interfaces, gateways and routes: the parts whose
    /// change can cut an administrator off. Name servers, hostname and shared IPs are not
    /// among them (a shared IP is the failover address, not the one to administer an
    /// appliance by).
    pub fn same_connectivity(&self, other: &NetworkConfig) -> bool {
        self.interfaces == other.interfaces
            && self.gateways == other.gateways
            && self.routes == other.routes
    }
}

/// `aa:bb:cc:dd:ee:ff` from raw bytes.
pub fn mac_text(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// The 6 bytes of `aa:bb:cc:dd:ee:ff` (either case; `-` also separates).
pub fn parse_mac(text: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = text.trim().split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (byte, part) in mac.iter_mut().zip(parts) {
        // Two hex digits: `from_str_radix` alone would also take `+a`.
        if part.len() != 2 || !part.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        *byte = u8::from_str_radix(part, 16).ok()?;
    }
    Some(mac)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nics() -> Vec<PresentNic> {
        vec![
            PresentNic {
                name: "enp2s0".into(),
                mac: "52:54:00:00:00:02".into(),
            },
            PresentNic {
                name: "enp1s0".into(),
                mac: "52:54:00:00:00:01".into(),
            },
        ]
    }

    #[test]
    fn the_vm_runs_dhcp_everywhere() {
        let c = NetworkConfig::factory("vm", &nics());
        assert_eq!(c.hostname, "appliance");
        assert_eq!(c.interfaces.len(), 2);
        assert!(c
            .interfaces
            .iter()
            .all(|i| i.dhcp && i.up && i.addresses.is_empty()));
        assert_eq!(
            c.interfaces[0].mac, "52:54:00:00:00:01",
            "kernel-name order"
        );
        assert!(!c.is_factory(), "expanded, it is an ordinary configuration");
        assert!(NetworkConfig::default().is_factory());
    }

    #[test]
    fn the_box_also_answers_on_its_fixed_address_on_the_first_nic() {
        let c = NetworkConfig::factory("box", &nics());
        assert_eq!(c.interfaces[0].mac, "52:54:00:00:00:01");
        assert_eq!(c.interfaces[0].addresses, vec!["169.254.1.1/16"]);
        assert!(c.interfaces[0].dhcp);
        assert!(c.interfaces[1].addresses.is_empty() && c.interfaces[1].dhcp);
    }

    #[test]
    fn a_stored_record_missing_fields_takes_their_defaults() {
        let c: NetworkConfig =
            serde_json::from_str(r#"{"interfaces":[{"mac":"52:54:00:00:00:01","dhcp":true}]}"#)
                .unwrap();
        assert!(c.interfaces[0].up, "up unless said otherwise");
        assert_eq!(c.interfaces[0].mtu, None);
        assert!(c.shared_ips.is_empty() && c.dns.servers.is_empty());
    }

    #[test]
    fn macs() {
        assert_eq!(
            parse_mac("52:54:00:AB:cd:0f"),
            Some([0x52, 0x54, 0, 0xab, 0xcd, 0x0f])
        );
        assert_eq!(
            parse_mac("52-54-00-ab-cd-0f"),
            Some([0x52, 0x54, 0, 0xab, 0xcd, 0x0f])
        );
        assert_eq!(parse_mac("52:54:00:ab:cd"), None);
        assert_eq!(parse_mac("52:54:00:ab:cd:0g"), None);
        assert_eq!(parse_mac("525:4:00:ab:cd:0f"), None);
        assert_eq!(
            parse_mac("+2:54:00:ab:cd:0f"),
            None,
            "a sign is no hex digit"
        );
        assert_eq!(
            mac_text(&[0x52, 0x54, 0, 0xab, 0xcd, 0x0f]),
            "52:54:00:ab:cd:0f"
        );
    }
}

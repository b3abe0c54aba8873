//! The API's request and answer bodies, as this client reads them: fields it does not know
//! are ignored and optional ones may be missing, so a newer appliance still works.

use serde::{Deserialize, Serialize};

mod network;
mod system;
mod time;
mod updates;

pub use network::{
    Address, Conflict, Dhcp, Dns, DnsConfig, HistoryEntry, Interface, InterfaceConfig, Lease,
    NetworkConfig, NetworkView, PendingChange, Route, RouteConfig, SharedIp, SharedIpConfig,
};
pub use system::{Certificate, Problem, ResetAccepted, ResetThen};
pub use time::Time;
pub use updates::{Installed, PendingInstall, Progress, Running, SlotInfo, UpdateEvent, Updates};

/// `GET /api/v1/health` (no authentication).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Health {
    pub status: String,
    pub version: String,
    /// `A`, `B` or `factory`.
    pub slot: String,
    /// `box` or `vm`.
    pub profile: String,
}

/// `POST /api/v1/session` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Sent as `Authorization: Bearer <token>`.
    pub token: String,
    /// Until the password is changed, every other call answers `must_change_password`.
    #[serde(default)]
    pub must_change_password: bool,
}

/// `POST /api/v1/system/reboot` and `/shutdown` answer: `rebooting` or `powering_off`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PowerAction {
    pub status: String,
}

/// `GET /api/v1/status`: identity, versions, uptime and the hardware.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Status {
    pub model: Option<String>,
    /// `box` or `vm`.
    pub profile: Option<String>,
    pub serial: Option<String>,
    pub appliance_id: Option<String>,
    pub hostname: Option<String>,
    pub version: Option<String>,
    /// `A`, `B` or `factory`.
    pub slot: Option<String>,
    pub uptime_seconds: Option<u64>,
    /// RFC 3339, the appliance's clock.
    pub time: Option<String>,
    /// SHA-256 of the HTTPS certificate's public key, as the appliance reports it.
    pub certificate_sha256: Option<String>,
    pub specs: Specs,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Specs {
    pub cpu: Option<Cpu>,
    pub memory: Option<Memory>,
    pub disks: Vec<Disk>,
    pub nics: Vec<Nic>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cpu {
    pub model: Option<String>,
    /// Logical cores (`logical_cores` in the appliance's answer).
    #[serde(alias = "logical_cores")]
    pub cores: Option<u32>,
    pub mhz: Option<f64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Memory {
    pub total_bytes: Option<u64>,
    pub available_bytes: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Disk {
    pub name: String,
    pub size_bytes: Option<u64>,
    pub model: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Nic {
    pub name: String,
    pub mac: Option<String>,
    /// Carrier present (`carrier` in the appliance's answer).
    #[serde(alias = "carrier")]
    pub link_up: Option<bool>,
    pub speed_mbps: Option<u32>,
    pub addresses: Vec<String>,
    pub ipv4: Vec<String>,
    pub ipv6: Vec<String>,
}

impl Nic {
    /// Every address of the interface, IPv4 first.
    pub fn all_addresses(&self) -> Vec<String> {
        self.addresses
            .iter()
            .chain(&self.ipv4)
            .chain(&self.ipv6)
            .cloned()
            .collect()
    }
}

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
                "cpu": {"model": null, "cores": 4},
                "disks": [{"name": "sda", "size_bytes": 1, "rotational": false}],
                "nics": [{"name": "eth0", "link_up": true}],
                "sensors": []
            }
        }))
        .unwrap();
        assert_eq!(status.model.as_deref(), Some("RS-1000"));
        assert_eq!(status.serial, None);
        assert_eq!(status.uptime_seconds, Some(7380));
        assert_eq!(status.specs.cpu.unwrap().cores, Some(4));
        assert_eq!(status.specs.memory, None);
        assert_eq!(status.specs.disks[0].name, "sda");
        assert!(status.specs.nics[0].addresses.is_empty());
    }
}

//! Which interfaces are the appliance's Ethernet NICs, read from `/sys/class/net`.
//!
//! A NIC is an interface of ARP type 1 (Ethernet) backed by a device (`device` link) that
//! is neither wireless nor a bridge/bond master. That leaves out `lo`, and every virtual
//! interface (veth, bridge, bond, VLAN, tun/tap, dummy): those are made by configuration,
//! never found at boot.

use std::path::Path;

/// `/sys/class/net/X/type` for Ethernet (ARPHRD_ETHER).
const ARPHRD_ETHER: u32 = 1;

/// What sysfs says about one interface.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Facts {
    pub arp_type: Option<u32>,
    pub has_device: bool,
    pub is_wireless: bool,
    pub is_bridge: bool,
    pub is_bond: bool,
}

impl Facts {
    pub(crate) fn is_ethernet_nic(&self) -> bool {
        self.arp_type == Some(ARPHRD_ETHER)
            && self.has_device
            && !self.is_wireless
            && !self.is_bridge
            && !self.is_bond
    }

    pub(crate) fn read(iface_dir: &Path) -> Facts {
        let arp_type = std::fs::read_to_string(iface_dir.join("type"))
            .ok()
            .and_then(|s| s.trim().parse().ok());
        Facts {
            arp_type,
            has_device: iface_dir.join("device").exists(),
            is_wireless: iface_dir.join("wireless").exists() || iface_dir.join("phy80211").exists(),
            is_bridge: iface_dir.join("bridge").exists(),
            is_bond: iface_dir.join("bonding").exists(),
        }
    }
}

/// The Ethernet NICs under `sysfs_net`, sorted by name.
pub(crate) fn ethernet_nics(sysfs_net: &Path) -> std::io::Result<Vec<String>> {
    let mut nics = Vec::new();
    for entry in std::fs::read_dir(sysfs_net)? {
        let entry = entry?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if Facts::read(&entry.path()).is_ethernet_nic() {
            nics.push(name);
        }
    }
    nics.sort();
    Ok(nics)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iface(root: &Path, name: &str, arp_type: &str, extra: &[&str]) {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("type"), format!("{arp_type}\n")).unwrap();
        for e in extra {
            std::fs::create_dir_all(dir.join(e)).unwrap();
        }
    }

    #[test]
    fn only_device_backed_wired_ethernet_counts() {
        let dir = crate::testdir::TestDir::new("nics");
        let root = dir.path();
        iface(root, "lo", "772", &[]);
        iface(root, "eth1", "1", &["device"]);
        iface(root, "eth0", "1", &["device"]);
        iface(root, "veth0", "1", &[]);
        iface(root, "br0", "1", &["bridge"]);
        iface(root, "bond0", "1", &["bonding"]);
        iface(root, "wlan0", "1", &["device", "wireless"]);
        iface(root, "ib0", "32", &["device"]);
        assert_eq!(ethernet_nics(root).unwrap(), vec!["eth0", "eth1"]);
    }

    #[test]
    fn unreadable_type_is_not_a_nic() {
        let facts = Facts {
            arp_type: None,
            has_device: true,
            ..Facts::default()
        };
        assert!(!facts.is_ethernet_nic());
    }
}

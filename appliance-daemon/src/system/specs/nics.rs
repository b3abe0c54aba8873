//! Network interfaces under `/sys/class/net` (all but `lo`) and their addresses.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::Path;

pub(crate) use api_types::Nic;

/// The addresses of one interface, IPv4 and IPv6, in CIDR notation.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(super) struct Addresses {
    pub ipv4: Vec<String>,
    pub ipv6: Vec<String>,
}

/// The `speed` file: Mb/s, or -1 (newer kernels) / 4294967295 (older ones) when unknown.
pub(super) fn parse_speed(text: &str) -> Option<u32> {
    let speed: i64 = text.trim().parse().ok()?;
    u32::try_from(speed)
        .ok()
        .filter(|&s| s > 0 && s != u32::MAX)
}

/// `address/prefix`, the prefix counted from the netmask (all ones without one).
pub(super) fn cidr(address: IpAddr, netmask: Option<IpAddr>) -> String {
    let prefix = match (address, netmask) {
        (IpAddr::V4(_), Some(IpAddr::V4(mask))) => u32::from(mask).count_ones(),
        (IpAddr::V6(_), Some(IpAddr::V6(mask))) => u128::from(mask).count_ones(),
        (IpAddr::V4(_), _) => 32,
        (IpAddr::V6(_), _) => 128,
    };
    format!("{address}/{prefix}")
}

pub(super) fn read(root: &Path, addresses: &HashMap<String, Addresses>) -> Vec<Nic> {
    let net = root.join("sys/class/net");
    let mut nics: Vec<Nic> = super::dir_names(&net)
        .into_iter()
        .filter(|name| name != "lo")
        .map(|name| {
            let dir = net.join(&name);
            let addrs = addresses.get(&name).cloned().unwrap_or_default();
            Nic {
                mac: super::attr(&dir, "address"),
                operstate: super::attr(&dir, "operstate").unwrap_or_else(|| "unknown".into()),
                carrier: super::attr(&dir, "carrier").as_deref() == Some("1"),
                speed_mbps: super::attr(&dir, "speed").and_then(|s| parse_speed(&s)),
                mtu: super::attr(&dir, "mtu").and_then(|s| s.parse().ok()),
                driver: std::fs::read_link(dir.join("device/driver"))
                    .ok()
                    .and_then(|target| Some(target.file_name()?.to_str()?.to_string())),
                ipv4: addrs.ipv4,
                ipv6: addrs.ipv6,
                name,
            }
        })
        .collect();
    nics.sort_by(|a, b| a.name.cmp(&b.name));
    nics
}

/// The addresses the kernel has on each interface of this machine; empty, logged, when
/// they cannot be listed.
pub(super) fn local_addresses() -> HashMap<String, Addresses> {
    let mut by_name: HashMap<String, Addresses> = HashMap::new();
    let list = match nix::ifaddrs::getifaddrs() {
        Ok(list) => list,
        Err(err) => {
            tracing::debug!("interface addresses not shown in the specs: {err}");
            return by_name;
        }
    };
    for ifa in list {
        let Some(address) = ifa.address else { continue };
        let netmask = ifa.netmask;
        let entry = by_name.entry(ifa.interface_name).or_default();
        if let Some(v4) = address.as_sockaddr_in() {
            let mask = netmask.and_then(|m| m.as_sockaddr_in().map(|m| IpAddr::V4(m.ip())));
            entry.ipv4.push(cidr(IpAddr::V4(v4.ip()), mask));
        } else if let Some(v6) = address.as_sockaddr_in6() {
            let mask = netmask.and_then(|m| m.as_sockaddr_in6().map(|m| IpAddr::V6(m.ip())));
            entry.ipv6.push(cidr(IpAddr::V6(v6.ip()), mask));
        }
    }
    by_name
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdir::TestDir;

    #[test]
    fn speed_known_and_unknown() {
        assert_eq!(parse_speed("1000\n"), Some(1000));
        assert_eq!(parse_speed("-1\n"), None);
        assert_eq!(parse_speed("4294967295\n"), None);
        assert_eq!(parse_speed("0\n"), None);
        assert_eq!(parse_speed(""), None);
    }

    #[test]
    fn prefix_from_netmask() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            cidr(ip("192.168.1.20"), Some(ip("255.255.255.0"))),
            "192.168.1.20/24"
        );
        assert_eq!(
            cidr(
                ip("fe80::5054:ff:fe12:3456"),
                Some(ip("ffff:ffff:ffff:ffff::"))
            ),
            "fe80::5054:ff:fe12:3456/64"
        );
        assert_eq!(cidr(ip("10.0.0.1"), None), "10.0.0.1/32");
    }

    fn write(dir: &Path, rel: &str, text: &str) {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn reads_a_sys_class_net_tree() {
        let root = TestDir::new("specs-nics");
        let net = root.path().join("sys/class/net");
        for (rel, text) in [
            ("lo/address", "00:00:00:00:00:00\n"),
            ("lo/operstate", "unknown\n"),
            ("enp1s0/address", "0c:c4:7a:1e:22:40\n"),
            ("enp1s0/operstate", "up\n"),
            ("enp1s0/carrier", "1\n"),
            ("enp1s0/speed", "1000\n"),
            ("enp1s0/mtu", "1500\n"),
            // Down: the kernel refuses to read carrier and speed, so those files are
            // absent here.
            ("enp2s0/address", "0c:c4:7a:1e:22:41\n"),
            ("enp2s0/operstate", "down\n"),
            ("enp2s0/mtu", "1500\n"),
            ("ifb0/address", "de:0f:fd:8c:6c:0a\n"),
            ("ifb0/operstate", "down\n"),
        ] {
            write(&net, rel, text);
        }
        let drivers = root.path().join("sys/bus/pci/drivers/igb");
        std::fs::create_dir_all(&drivers).unwrap();
        for nic in ["enp1s0", "enp2s0"] {
            std::fs::create_dir_all(net.join(nic).join("device")).unwrap();
            std::os::unix::fs::symlink(&drivers, net.join(nic).join("device/driver")).unwrap();
        }
        let addresses = HashMap::from([(
            "enp1s0".to_string(),
            Addresses {
                ipv4: vec!["192.168.1.20/24".into()],
                ipv6: vec![],
            },
        )]);

        let nics = read(root.path(), &addresses);
        let names: Vec<_> = nics.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(names, ["enp1s0", "enp2s0", "ifb0"]);
        assert_eq!(
            nics[0],
            Nic {
                name: "enp1s0".into(),
                mac: Some("0c:c4:7a:1e:22:40".into()),
                operstate: "up".into(),
                carrier: true,
                speed_mbps: Some(1000),
                mtu: Some(1500),
                driver: Some("igb".into()),
                ipv4: vec!["192.168.1.20/24".into()],
                ipv6: vec![],
            }
        );
        let down = &nics[1];
        assert_eq!(down.operstate, "down");
        assert!(!down.carrier);
        assert_eq!(down.speed_mbps, None);
        assert_eq!(down.driver.as_deref(), Some("igb"));
        assert_eq!(nics[2].driver, None);
    }

    #[test]
    fn this_machine_has_loopback_addresses() {
        let addresses = local_addresses();
        if let Some(lo) = addresses.get("lo") {
            assert!(lo.ipv4.iter().any(|a| a == "127.0.0.1/8"), "{lo:?}");
        }
    }
}

//! The network settings checked as a whole before anything is applied: syntax, prefixes,
//! host addresses, duplicates and overlaps, gateways on a configured subnet, and at least
//! one way left to reach the appliance. No I/O: the NICs present are given.
//!
//! Every problem found is reported at once, each with the place it is at
//! (`interfaces[0].addresses[1]`), so that a form can mark every wrong field.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv6Addr};

use crate::config::{mac_text, parse_mac, NetworkConfig, PresentNic};
use crate::ipnet::IpNet;
use crate::route::{Origin, Route};

/// The resolver reads no more name servers than this (glibc and musl).
pub(crate) const MAX_DNS_SERVERS: usize = 3;
/// glibc's limit for search domains.
pub(crate) const MAX_SEARCH: usize = 6;
/// Below this an IPv4 host is not required to work (RFC 791); IPv6 needs 1280 (RFC 8200).
const MIN_MTU_V4: u32 = 576;
const MIN_MTU_V6: u32 = 1280;
/// Jumbo frames as NICs commonly accept them.
const MAX_MTU: u32 = 9216;
/// init refuses longer hostnames at boot (`/data/etc/hostname`).
const MAX_HOSTNAME: usize = 63;

pub use crate::problem::Problem;

/// Why settings are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    Invalid(Vec<Problem>),
    /// Valid, but nothing would be left to reach the appliance by.
    WouldDisconnect(String),
}

/// One interface's settings, typed. `routes` are the static gateways and routes that
/// leave through it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IfaceSpec {
    pub mac: String,
    pub up: bool,
    pub mtu: Option<u32>,
    pub dhcp: bool,
    pub addresses: Vec<IpNet>,
    pub routes: Vec<Route>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedSpec {
    pub address: IpNet,
    /// The interface's MAC.
    pub mac: String,
    pub enabled: bool,
}

/// Settings that passed: the same settings written canonically (lowercase MACs, addresses
/// as the standard library prints them), and typed for the planner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Validated {
    pub config: NetworkConfig,
    pub interfaces: Vec<IfaceSpec>,
    pub shared_ips: Vec<SharedSpec>,
    pub dns_servers: Vec<IpAddr>,
    pub dns_search: Vec<String>,
    /// `None`: leave the hostname as it is.
    pub hostname: Option<String>,
}

impl Validated {
    pub fn interface(&self, mac: &str) -> Option<&IfaceSpec> {
        self.interfaces.iter().find(|i| i.mac == mac)
    }
}

/// Check `config` against the NICs present: what a change must pass.
pub fn validate(config: &NetworkConfig, present: &[PresentNic]) -> Result<Validated, Refusal> {
    check(config, present, true)
}

/// Why stored settings may not fit this machine, in an operator's words: the NICs they name
/// that are not here, and the NICs that are (after a move to other hardware, or a NIC
/// removed). `None` when every NIC they name is present.
pub fn absent_nics(config: &NetworkConfig, present: &[PresentNic]) -> Option<String> {
    let absent: Vec<&str> = config
        .interfaces
        .iter()
        .map(|i| i.mac.as_str())
        .filter(|mac| !present.iter().any(|p| p.mac.eq_ignore_ascii_case(mac)))
        .collect();
    if absent.is_empty() {
        return None;
    }
    let here = if present.is_empty() {
        "none".to_string()
    } else {
        present
            .iter()
            .map(|p| format!("{} {}", p.name, p.mac))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let (them, word) = if absent.len() == 1 {
        ("it", "the NIC")
    } else {
        ("they", "the NICs")
    };
    Some(format!(
        "they name {word} {}, which this machine does not have ({them} may be another \
         machine's; this one has {here})",
        absent.join(", ")
    ))
}

/// Check stored settings at start: an interface they name may be absent (moved to other
/// hardware, or a NIC removed) and is then skipped, as long as a present one remains
/// reachable.
pub fn validate_stored(
    config: &NetworkConfig,
    present: &[PresentNic],
) -> Result<Validated, Refusal> {
    check(config, present, false)
}

fn check(
    config: &NetworkConfig,
    present: &[PresentNic],
    require_present: bool,
) -> Result<Validated, Refusal> {
    let mut v = Checker {
        problems: Vec::new(),
        require_present,
    };
    let out = v.check(config, present);
    if !v.problems.is_empty() {
        return Err(Refusal::Invalid(v.problems));
    }
    let reachable = out.interfaces.iter().any(|i| {
        i.up && (i.dhcp || !i.addresses.is_empty()) && present.iter().any(|p| p.mac == i.mac)
    });
    if !reachable {
        return Err(Refusal::WouldDisconnect(
            "No interface of this appliance would be up with DHCP or a static address: it \
             could not be reached any more. Keep at least one interface up with DHCP or an \
             address."
                .to_string(),
        ));
    }
    Ok(out)
}

/// Where an address was seen first, for duplicate and overlap messages.
struct Seen {
    field: String,
    net: IpNet,
    mac: String,
}

struct Checker {
    problems: Vec<Problem>,
    require_present: bool,
}

impl Checker {
    fn problem(&mut self, field: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            field: field.into(),
            message: message.into(),
        });
    }

    fn check(&mut self, config: &NetworkConfig, present: &[PresentNic]) -> Validated {
        let mut out = Validated {
            config: config.clone(),
            interfaces: Vec::new(),
            shared_ips: Vec::new(),
            dns_servers: Vec::new(),
            dns_search: Vec::new(),
            hostname: None,
        };
        let hostname = config.hostname.trim();
        if !hostname.is_empty() {
            if valid_hostname(hostname) {
                out.hostname = Some(hostname.to_string());
            } else {
                self.problem(
                    "hostname",
                    format!(
                        "{hostname:?} is not a valid hostname: up to {MAX_HOSTNAME} letters, \
                         digits and hyphens, in dot-separated labels that neither start nor \
                         end with a hyphen"
                    ),
                );
            }
        }
        out.config.hostname = hostname.to_string();

        let mut seen: Vec<Seen> = Vec::new();
        self.interfaces(config, present, &mut out, &mut seen);
        self.shared_ips(config, &mut out, &mut seen);
        self.gateways(config, &mut out);
        self.routes(config, &mut out);
        self.dns(config, &mut out);
        out
    }

    fn interfaces(
        &mut self,
        config: &NetworkConfig,
        present: &[PresentNic],
        out: &mut Validated,
        seen: &mut Vec<Seen>,
    ) {
        if config.interfaces.is_empty() {
            self.problem("interfaces", "At least one interface must be configured.");
        }
        let mut macs: BTreeMap<String, usize> = BTreeMap::new();
        for (i, iface) in config.interfaces.iter().enumerate() {
            let field = format!("interfaces[{i}]");
            let mac = match parse_mac(&iface.mac) {
                Some(m) => mac_text(&m),
                None => {
                    self.problem(
                        format!("{field}.mac"),
                        format!(
                            "{:?} is not a MAC address like 52:54:00:12:34:56",
                            iface.mac
                        ),
                    );
                    iface.mac.clone()
                }
            };
            if let Some(first) = macs.get(&mac) {
                self.problem(
                    format!("{field}.mac"),
                    format!("{mac} is already configured at interfaces[{first}]"),
                );
            } else {
                macs.insert(mac.clone(), i);
                if self.require_present
                    && parse_mac(&mac).is_some()
                    && !present.iter().any(|p| p.mac == mac)
                {
                    let list: Vec<String> = present
                        .iter()
                        .map(|p| format!("{} ({})", p.mac, p.name))
                        .collect();
                    self.problem(
                        format!("{field}.mac"),
                        format!(
                            "no network interface of this appliance has MAC {mac}; present: {}",
                            if list.is_empty() {
                                "none".to_string()
                            } else {
                                list.join(", ")
                            }
                        ),
                    );
                }
            }
            out.config.interfaces[i].mac = mac.clone();

            let mut addresses = Vec::new();
            for (j, text) in iface.addresses.iter().enumerate() {
                let field = format!("{field}.addresses[{j}]");
                let Some(net) = self.host_net(&field, text) else {
                    continue;
                };
                self.unique(&field, net, &mac, seen);
                out.config.interfaces[i].addresses[j] = net.to_string();
                addresses.push(net);
            }
            if let Some(mtu) = iface.mtu {
                let min = if addresses.iter().any(|a| !a.is_ipv4()) {
                    MIN_MTU_V6
                } else {
                    MIN_MTU_V4
                };
                if !(min..=MAX_MTU).contains(&mtu) {
                    self.problem(
                        format!("{field}.mtu"),
                        format!("MTU {mtu} is out of range: {min} to {MAX_MTU}"),
                    );
                }
            }
            out.interfaces.push(IfaceSpec {
                mac,
                up: iface.up,
                mtu: iface.mtu,
                dhcp: iface.dhcp,
                addresses,
                routes: Vec::new(),
            });
        }
    }

    fn shared_ips(&mut self, config: &NetworkConfig, out: &mut Validated, seen: &mut Vec<Seen>) {
        for (k, shared) in config.shared_ips.iter().enumerate() {
            let field = format!("shared_ips[{k}]");
            let mac = parse_mac(&shared.interface).map(|m| mac_text(&m));
            let iface = mac
                .as_ref()
                .and_then(|m| out.interfaces.iter().find(|i| &i.mac == m));
            match (&mac, iface) {
                (None, _) => self.problem(
                    format!("{field}.interface"),
                    format!(
                        "{:?} is not a MAC address like 52:54:00:12:34:56",
                        shared.interface
                    ),
                ),
                (Some(m), None) => self.problem(
                    format!("{field}.interface"),
                    format!("{m} is not one of the configured interfaces"),
                ),
                (Some(m), Some(i)) if shared.enabled && !i.up => self.problem(
                    format!("{field}.enabled"),
                    format!("the shared IP cannot be enabled on {m}: that interface is set down"),
                ),
                _ => {}
            }
            let Some(net) = self.host_net(&format!("{field}.address"), &shared.address) else {
                continue;
            };
            if let IpAddr::V6(v6) = net.addr {
                if let Some(why) = not_shareable_v6(v6) {
                    self.problem(
                        format!("{field}.address"),
                        format!("{v6} is {why}; a shared IPv6 address must be global or unique local (fc00::/7)"),
                    );
                    continue;
                }
                if let Some(mtu) = iface.and_then(|i| i.mtu).filter(|m| *m < MIN_MTU_V6) {
                    self.problem(
                        format!("{field}.address"),
                        format!("an IPv6 shared IP needs an MTU of at least {MIN_MTU_V6}; the interface has {mtu}"),
                    );
                    continue;
                }
            }
            let mac = mac.unwrap_or_default();
            self.unique(&format!("{field}.address"), net, &mac, seen);
            out.config.shared_ips[k].address = net.to_string();
            out.config.shared_ips[k].interface = mac.clone();
            out.shared_ips.push(SharedSpec {
                address: net,
                mac,
                enabled: shared.enabled,
            });
        }
    }

    fn gateways(&mut self, config: &NetworkConfig, out: &mut Validated) {
        let mut families: BTreeMap<(String, bool), usize> = BTreeMap::new();
        for (k, text) in config.gateways.iter().enumerate() {
            let field = format!("gateways[{k}]");
            let Some((gw, at)) = self.gateway(&field, text, out) else {
                continue;
            };
            out.config.gateways[k] = gw.to_string();
            let key = (out.interfaces[at].mac.clone(), gw.is_ipv4());
            if let Some(first) = families.get(&key) {
                self.problem(
                    field,
                    format!(
                        "interface {} already has an {} default gateway at gateways[{first}]",
                        key.0,
                        if gw.is_ipv4() { "IPv4" } else { "IPv6" }
                    ),
                );
                continue;
            }
            families.insert(key, k);
            out.interfaces[at]
                .routes
                .push(Route::default_via(gw, Origin::Static));
        }
    }

    fn routes(&mut self, config: &NetworkConfig, out: &mut Validated) {
        let mut destinations: BTreeMap<IpNet, usize> = BTreeMap::new();
        for (k, route) in config.routes.iter().enumerate() {
            let field = format!("routes[{k}]");
            let destination = match route.destination.parse::<IpNet>() {
                Err(e) => {
                    self.problem(
                        format!("{field}.destination"),
                        format!("{:?} {e}", route.destination),
                    );
                    None
                }
                Ok(d) if d.prefix_len == 0 => {
                    self.problem(
                        format!("{field}.destination"),
                        "a default route is set with `gateways`, not `routes`",
                    );
                    None
                }
                Ok(d) if !d.is_network() => {
                    self.problem(
                        format!("{field}.destination"),
                        format!("{d} has host bits set; the network is {}", d.network()),
                    );
                    None
                }
                Ok(d) => Some(d),
            };
            let gateway = self.gateway(&format!("{field}.gateway"), &route.gateway, out);
            let (Some(destination), Some((gw, at))) = (destination, gateway) else {
                continue;
            };
            if destination.is_ipv4() != gw.is_ipv4() {
                self.problem(
                    format!("{field}.gateway"),
                    format!("{gw} is not of the same IP version as {destination}"),
                );
                continue;
            }
            if let Some(first) = destinations.get(&destination) {
                self.problem(
                    format!("{field}.destination"),
                    format!("{destination} already has a route at routes[{first}]"),
                );
                continue;
            }
            destinations.insert(destination, k);
            out.config.routes[k].destination = destination.to_string();
            out.config.routes[k].gateway = gw.to_string();
            out.interfaces[at].routes.push(Route {
                destination,
                gateway: Some(gw),
                origin: Origin::Static,
            });
        }
    }

    fn dns(&mut self, config: &NetworkConfig, out: &mut Validated) {
        if config.dns.servers.len() > MAX_DNS_SERVERS {
            self.problem(
                "dns.servers",
                format!("at most {MAX_DNS_SERVERS} name servers: the resolver reads no more"),
            );
        }
        for (k, text) in config.dns.servers.iter().enumerate() {
            let field = format!("dns.servers[{k}]");
            match text.trim().parse::<IpAddr>() {
                Ok(ip) if ip.is_unspecified() || ip.is_multicast() => {
                    self.problem(field, format!("{ip} cannot be a name server"));
                }
                Ok(ip) if out.dns_servers.contains(&ip) => {
                    self.problem(field, format!("{ip} is listed twice"));
                }
                Ok(ip) => {
                    out.config.dns.servers[k] = ip.to_string();
                    out.dns_servers.push(ip);
                }
                Err(_) => self.problem(field, format!("{text:?} is not an IP address")),
            }
        }
        if config.dns.search.len() > MAX_SEARCH {
            self.problem(
                "dns.search",
                format!("at most {MAX_SEARCH} search domains: the resolver reads no more"),
            );
        }
        for (k, text) in config.dns.search.iter().enumerate() {
            let domain = text.trim().trim_end_matches('.').to_ascii_lowercase();
            let field = format!("dns.search[{k}]");
            if !valid_domain(&domain) {
                self.problem(
                    field,
                    format!("{text:?} is not a domain name like example.com"),
                );
            } else if out.dns_search.contains(&domain) {
                self.problem(field, format!("{domain} is listed twice"));
            } else {
                out.config.dns.search[k] = domain.clone();
                out.dns_search.push(domain);
            }
        }
    }

    /// An `address/prefix` that can be an interface's address.
    fn host_net(&mut self, field: &str, text: &str) -> Option<IpNet> {
        let net = match text.parse::<IpNet>() {
            Ok(n) => n,
            Err(e) => {
                self.problem(field, format!("{text:?} {e}"));
                return None;
            }
        };
        if net.prefix_len == 0 {
            self.problem(
                field,
                format!("{net}: a prefix length of 0 is not a subnet"),
            );
            return None;
        }
        if let Some(why) = not_a_host(net.addr) {
            self.problem(field, format!("{} is {why}", net.addr));
            return None;
        }
        if net.is_ipv4() && net.prefix_len < 31 {
            if net.is_network() {
                self.problem(
                    field,
                    format!("{net} is the network address of its subnet, not a host's"),
                );
                return None;
            }
            if net.broadcast() == Some(net.addr) {
                self.problem(
                    field,
                    format!("{net} is the broadcast address of its subnet"),
                );
                return None;
            }
        }
        Some(net)
    }

    /// Report `net` if its address is already used, or if its subnet overlaps a subnet of
    /// another interface (the kernel could not tell which one to send through).
    fn unique(&mut self, field: &str, net: IpNet, mac: &str, seen: &mut Vec<Seen>) {
        let duplicate = seen.iter().find(|s| s.net.addr == net.addr);
        let overlap = seen
            .iter()
            .find(|s| s.mac != mac && s.net.network().overlaps(&net.network()));
        if let Some(s) = duplicate {
            self.problem(
                field,
                format!("{} is already used at {}", net.addr, s.field),
            );
        } else if let Some(s) = overlap {
            self.problem(
                field,
                format!(
                    "subnet {} overlaps subnet {} of another interface ({})",
                    net.network(),
                    s.net.network(),
                    s.field
                ),
            );
        }
        seen.push(Seen {
            field: field.to_string(),
            net,
            mac: mac.to_string(),
        });
    }

    /// A router address and the index of the interface whose static subnet holds it.
    fn gateway(&mut self, field: &str, text: &str, out: &Validated) -> Option<(IpAddr, usize)> {
        let gw: IpAddr = match text.trim().parse() {
            Ok(ip) => ip,
            Err(_) => {
                self.problem(field, format!("{text:?} is not an IP address"));
                return None;
            }
        };
        if let Some(why) = not_a_host(gw) {
            self.problem(field, format!("{gw} is {why}"));
            return None;
        }
        if let IpAddr::V6(v6) = gw {
            if v6.is_unicast_link_local() {
                self.problem(
                    field,
                    format!(
                        "{gw} is link-local and could be on any interface; give the router's \
                         global address"
                    ),
                );
                return None;
            }
        }
        if out
            .interfaces
            .iter()
            .any(|i| i.addresses.iter().any(|a| a.addr == gw))
        {
            self.problem(
                field,
                format!("{gw} is one of this appliance's own addresses"),
            );
            return None;
        }
        let at = out
            .interfaces
            .iter()
            .position(|i| i.addresses.iter().any(|a| a.contains(gw)));
        match at {
            Some(at) => Some((gw, at)),
            None => {
                self.problem(
                    field,
                    format!(
                        "{gw} is not on any configured subnet; a gateway must be on the subnet \
                         of an interface's static address"
                    ),
                );
                None
            }
        }
    }
}

/// Why `ip` cannot be a host's address, if it cannot.
fn not_a_host(ip: IpAddr) -> Option<&'static str> {
    if ip.is_unspecified() {
        return Some("the unspecified address");
    }
    if ip.is_loopback() {
        return Some("a loopback address");
    }
    if ip.is_multicast() {
        return Some("a multicast address");
    }
    match ip {
        IpAddr::V4(v4) if v4.is_broadcast() => Some("the broadcast address"),
        IpAddr::V4(v4) if v4.octets()[0] >= 240 => Some("a reserved address (240.0.0.0/4)"),
        IpAddr::V4(v4) if v4.octets()[0] == 0 => Some("in 0.0.0.0/8, which is not for hosts"),
        _ => None,
    }
}

/// Why an IPv6 address cannot be a shared IP (besides [`not_a_host`]): it must reach
/// beyond the link, the way the failover pair is addressed.
fn not_shareable_v6(ip: Ipv6Addr) -> Option<&'static str> {
    let first = ip.segments()[0];
    if first & 0xffc0 == 0xfe80 {
        return Some("a link-local address (fe80::/10)");
    }
    if first & 0xffc0 == 0xfec0 {
        return Some("a site-local address (fec0::/10, deprecated by RFC 3879)");
    }
    if ip.to_ipv4_mapped().is_some() {
        return Some("an IPv4-mapped address");
    }
    None
}

/// RFC 1123 labels, up to the length init accepts.
pub fn valid_hostname(s: &str) -> bool {
    s.len() <= MAX_HOSTNAME && valid_domain(s)
}

/// Dot-separated labels of letters, digits and hyphens, none starting or ending with one.
pub fn valid_domain(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 253
        && s.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        })
}

#[cfg(test)]
mod tests;

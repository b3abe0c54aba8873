//! The Network page's forms as the administrator typed them, and their conversion into the
//! settings value `PUT /api/v1/network` takes. No I/O: the page fills a [`NetForm`] from
//! the settings in force, replaces one section with what was posted, converts it, and on a
//! refusal places each problem next to the field it is about.
//!
//! Each form changes one section and takes the others from the settings in force, so that
//! the shared IP's Enabled checkbox is one click and one Save, and never carries an
//! interface change with it (which would have to be confirmed). Interfaces, gateways and
//! routes are one section: moving an address to another subnet moves its gateway too.

use crate::net::config::{DnsConfig, InterfaceConfig, RouteConfig, SharedIpConfig};
use crate::net::ipnet::IpNet;
use crate::net::{NetworkConfig, NetworkView, Problem};

/// Which form was posted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Section {
    /// Per NIC up, DHCP, addresses, MTU; default gateways and static routes.
    Interfaces,
    /// Name servers, search domains, host name.
    Dns,
    /// Shared IPs and their Enabled flag.
    Shared,
}

impl Section {
    pub(crate) fn parse(text: &str) -> Option<Section> {
        match text {
            "interfaces" => Some(Section::Interfaces),
            "dns" => Some(Section::Dns),
            "shared" => Some(Section::Shared),
            _ => None,
        }
    }
}

/// One NIC's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NicRow {
    /// The kernel's name, for people and element ids.
    pub name: String,
    pub mac: String,
    /// The settings name this NIC (else it is kept down, without addresses).
    pub configured: bool,
    pub up: bool,
    pub dhcp: bool,
    /// Empty: automatic.
    pub mtu: String,
    /// One address per line.
    pub addresses: String,
    pub errors: Vec<String>,
}

/// One shared IP's fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SharedRow {
    pub address: String,
    /// The MAC of its NIC.
    pub interface: String,
    pub enabled: bool,
    pub errors: Vec<String>,
}

/// Fields the conversion could not read.
#[derive(Debug)]
pub(crate) struct Unreadable {
    pub problems: Vec<Problem>,
    /// The settings as far as they could be read.
    pub config: NetworkConfig,
}

/// Every field of the page's forms, as text.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct NetForm {
    pub nics: Vec<NicRow>,
    /// One per line.
    pub gateways: String,
    /// `10.20.0.0/16 via 192.168.1.254`, one per line.
    pub routes: String,
    pub dns_servers: String,
    pub dns_search: String,
    pub hostname: String,
    pub shared: Vec<SharedRow>,
    pub gateway_errors: Vec<String>,
    pub route_errors: Vec<String>,
    pub dns_server_errors: Vec<String>,
    pub dns_search_errors: Vec<String>,
    pub hostname_errors: Vec<String>,
    /// Problems with no field on the page.
    pub other_errors: Vec<String>,
}

fn lines(items: &[String]) -> String {
    items.join("\n")
}

/// The items of a list field: one per line, commas and spaces also separate.
fn items(text: &str) -> Vec<String> {
    text.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

fn route_line(r: &RouteConfig) -> String {
    format!("{} via {}", r.destination, r.gateway)
}

/// `DEST via GATEWAY` (or `DEST GATEWAY`).
fn parse_route(line: &str) -> Option<RouteConfig> {
    let words: Vec<&str> = line.split_whitespace().collect();
    let (destination, gateway) = match words.as_slice() {
        [d, via, g] if via.eq_ignore_ascii_case("via") => (d, g),
        [d, g] => (d, g),
        _ => return None,
    };
    Some(RouteConfig {
        destination: destination.to_string(),
        gateway: gateway.to_string(),
    })
}

impl NetForm {
    /// The fields filled from the settings in force, one NIC row per NIC present.
    pub(crate) fn new(view: &NetworkView) -> NetForm {
        let config = &view.config;
        let nics = view
            .interfaces
            .iter()
            .map(|nic| {
                let entry = config.interfaces.iter().find(|i| i.mac == nic.mac);
                NicRow {
                    name: nic.name.clone(),
                    mac: nic.mac.clone(),
                    configured: entry.is_some(),
                    up: entry.is_some_and(|e| e.up),
                    dhcp: entry.is_some_and(|e| e.dhcp),
                    mtu: entry
                        .and_then(|e| e.mtu)
                        .map(|m| m.to_string())
                        .unwrap_or_default(),
                    addresses: entry.map(|e| lines(&e.addresses)).unwrap_or_default(),
                    errors: Vec::new(),
                }
            })
            .collect();
        NetForm {
            nics,
            gateways: lines(&config.gateways),
            routes: config
                .routes
                .iter()
                .map(route_line)
                .collect::<Vec<_>>()
                .join("\n"),
            dns_servers: lines(&config.dns.servers),
            dns_search: lines(&config.dns.search),
            hostname: config.hostname.clone(),
            shared: config
                .shared_ips
                .iter()
                .map(|s| SharedRow {
                    address: s.address.clone(),
                    interface: s.interface.clone(),
                    enabled: s.enabled,
                    errors: Vec::new(),
                })
                .collect(),
            ..NetForm::default()
        }
    }

    /// Replace `section`'s fields with the posted ones (an unchecked checkbox is not
    /// posted at all). NIC rows are matched by MAC; a row for a NIC no longer present is
    /// ignored. A shared IP row left without an address is dropped (the empty row the
    /// page offers for adding one).
    pub(crate) fn take(&mut self, section: Section, posted: &[(String, String)]) {
        // The first value of each name, looked up once per field rather than searched for:
        // a post may carry many rows.
        let by_name: std::collections::HashMap<&str, &str> = posted
            .iter()
            .rev()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        let field = |name: &str| by_name.get(name).copied();
        let text = |name: &str| field(name).unwrap_or_default().to_string();
        let rows = |prefix: &str| {
            let mut n = 0;
            while field(&format!("{prefix}{n}.present")).is_some() {
                n += 1;
            }
            n
        };
        match section {
            Section::Interfaces => {
                for n in 0..rows("nic") {
                    let at = |what: &str| format!("nic{n}.{what}");
                    let mac = text(&at("mac"));
                    if let Some(row) = self.nics.iter_mut().find(|r| r.mac == mac) {
                        row.up = field(&at("up")).is_some();
                        row.dhcp = field(&at("dhcp")).is_some();
                        row.mtu = text(&at("mtu")).trim().to_string();
                        row.addresses = text(&at("addresses"));
                    }
                }
                self.gateways = text("gateways");
                self.routes = text("routes");
            }
            Section::Dns => {
                self.dns_servers = text("dns_servers");
                self.dns_search = text("dns_search");
                self.hostname = text("hostname").trim().to_string();
            }
            Section::Shared => {
                self.shared = (0..rows("shared"))
                    .map(|k| {
                        let at = |what: &str| format!("shared{k}.{what}");
                        SharedRow {
                            address: text(&at("address")).trim().to_string(),
                            interface: text(&at("interface")),
                            enabled: field(&at("enabled")).is_some(),
                            errors: Vec::new(),
                        }
                    })
                    .filter(|r| !r.address.is_empty())
                    .collect();
            }
        }
    }

    /// The settings to apply: `current` with `section` taken from the form. Interface
    /// entries keep their order; NICs present but never configured are added only when
    /// the form asks something of them; entries for NICs no longer present are dropped
    /// (a change naming one is refused). Problems the conversion itself finds (an MTU
    /// that is no number, a route line of the wrong shape) are named like validation's,
    /// and come with the settings they are about (which say which NIC `interfaces[i]` is).
    pub(crate) fn settings(
        &self,
        section: Section,
        current: &NetworkConfig,
    ) -> Result<NetworkConfig, Box<Unreadable>> {
        let mut config = current.clone();
        let mut problems = Vec::new();
        match section {
            Section::Interfaces => {
                let rows = current
                    .interfaces
                    .iter()
                    .filter_map(|e| self.nics.iter().find(|r| r.mac == e.mac))
                    .chain(self.nics.iter().filter(|r| {
                        !current.interfaces.iter().any(|e| e.mac == r.mac)
                            && (r.up
                                || r.dhcp
                                || !r.mtu.trim().is_empty()
                                || !items(&r.addresses).is_empty())
                    }));
                config.interfaces = rows
                    .enumerate()
                    .map(|(i, row)| {
                        let mtu = match row.mtu.trim() {
                            "" => None,
                            text => match text.parse::<u32>() {
                                Ok(m) => Some(m),
                                Err(_) => {
                                    problems.push(Problem {
                                        field: format!("interfaces[{i}].mtu"),
                                        message: format!(
                                            "MTU {text:?} is not a whole number of bytes"
                                        ),
                                    });
                                    None
                                }
                            },
                        };
                        InterfaceConfig {
                            mac: row.mac.clone(),
                            up: row.up,
                            mtu,
                            dhcp: row.dhcp,
                            addresses: items(&row.addresses),
                        }
                    })
                    .collect();
                config.gateways = items(&self.gateways);
                config.routes = self
                    .routes
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .enumerate()
                    .filter_map(|(k, line)| {
                        let route = parse_route(line);
                        if route.is_none() {
                            problems.push(Problem {
                                field: format!("routes[{k}]"),
                                message: format!(
                                    "{line:?}: write a route as \"10.20.0.0/16 via 192.168.1.254\""
                                ),
                            });
                        }
                        route
                    })
                    .collect();
            }
            Section::Dns => {
                config.dns = DnsConfig {
                    servers: items(&self.dns_servers),
                    search: items(&self.dns_search),
                };
                config.hostname = self.hostname.trim().to_string();
            }
            Section::Shared => {
                config.shared_ips = self
                    .shared
                    .iter()
                    .map(|r| SharedIpConfig {
                        address: r.address.trim().to_string(),
                        interface: r.interface.clone(),
                        enabled: r.enabled,
                    })
                    .collect();
            }
        }
        if problems.is_empty() {
            Ok(config)
        } else {
            Err(Box::new(Unreadable { problems, config }))
        }
    }

    /// Put each problem next to its field: `config` is the settings that were checked
    /// (it says which NIC `interfaces[i]` is).
    pub(crate) fn place(&mut self, problems: &[Problem], config: &NetworkConfig) {
        for p in problems {
            let field = p.field.as_str();
            let message = p.message.clone();
            let index = |prefix: &str| -> Option<usize> {
                field.strip_prefix(prefix)?.split(']').next()?.parse().ok()
            };
            if let Some(i) = index("interfaces[") {
                let row = config
                    .interfaces
                    .get(i)
                    .and_then(|e| self.nics.iter_mut().find(|r| r.mac == e.mac));
                match row {
                    Some(row) => row.errors.push(message),
                    None => self.other_errors.push(message),
                }
            } else if let Some(k) = index("shared_ips[") {
                match self.shared.get_mut(k) {
                    Some(row) => row.errors.push(message),
                    None => self.other_errors.push(message),
                }
            } else if field.starts_with("gateways") {
                self.gateway_errors.push(message);
            } else if field.starts_with("routes") {
                self.route_errors.push(message);
            } else if field.starts_with("dns.servers") {
                self.dns_server_errors.push(message);
            } else if field.starts_with("dns.search") {
                self.dns_search_errors.push(message);
            } else if field == "hostname" {
                self.hostname_errors.push(message);
            } else {
                self.other_errors.push(format!("{field}: {message}"));
            }
        }
    }

    /// Mark the shared IP row holding `address` (a conflict found by the probe). The
    /// daemon names it canonically; the row has it as typed (`2001:DB8::0050/64`).
    pub(crate) fn mark_shared(&mut self, address: &str, message: String) {
        let wanted = address.parse::<IpNet>().ok();
        let same = |typed: &str| {
            typed == address || (wanted.is_some() && typed.trim().parse::<IpNet>().ok() == wanted)
        };
        match self.shared.iter_mut().find(|r| same(&r.address)) {
            Some(row) => row.errors.push(message),
            None => self.other_errors.push(message),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::net::view::InterfaceView;

    const ETH0: &str = "52:54:00:12:34:56";
    const ETH1: &str = "52:54:00:12:34:57";
    const ETH2: &str = "52:54:00:12:34:58";

    fn nic(name: &str, mac: &str) -> InterfaceView {
        InterfaceView {
            name: name.into(),
            mac: mac.into(),
            configured: true,
            up: true,
            carrier: true,
            mtu: 1500,
            addresses: Vec::new(),
            routes: Vec::new(),
            dhcp: None,
        }
    }

    fn settings() -> NetworkConfig {
        serde_json::from_value(serde_json::json!({
            "hostname": "support.example.com",
            "interfaces": [
                {"mac": ETH1, "dhcp": true},
                {"mac": ETH0, "addresses": ["192.168.1.10/24", "2001:db8::10/64"], "mtu": 9000},
                {"mac": "52:54:00:00:00:99", "dhcp": true}
            ],
            "gateways": ["192.168.1.1"],
            "routes": [{"destination": "10.20.0.0/16", "gateway": "192.168.1.254"}],
            "dns": {"servers": ["192.168.1.53"], "search": ["example.com"]},
            "shared_ips": [{"address": "192.168.1.50/24", "interface": ETH0, "enabled": false}]
        }))
        .unwrap()
    }

    fn view(config: NetworkConfig) -> NetworkView {
        NetworkView {
            config,
            factory_default: false,
            applied: false,
            notes: Vec::new(),
            pending: None,
            interfaces: vec![nic("eth0", ETH0), nic("eth1", ETH1), nic("eth2", ETH2)],
            shared_ips: Vec::new(),
            dns: Default::default(),
            hostname: "support".into(),
            shared_ip_history: Vec::new(),
        }
    }

    fn posted(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// What the page posts for the interfaces form when nothing is touched.
    fn untouched(form: &NetForm) -> Vec<(String, String)> {
        let mut out = Vec::new();
        for (n, row) in form.nics.iter().enumerate() {
            let at = |what: &str| format!("nic{n}.{what}");
            out.push((at("present"), "1".into()));
            out.push((at("mac"), row.mac.clone()));
            if row.up {
                out.push((at("up"), "on".into()));
            }
            if row.dhcp {
                out.push((at("dhcp"), "on".into()));
            }
            out.push((at("mtu"), row.mtu.clone()));
            out.push((at("addresses"), row.addresses.clone()));
        }
        out.push(("gateways".into(), form.gateways.clone()));
        out.push(("routes".into(), form.routes.clone()));
        out
    }

    #[test]
    fn an_untouched_form_gives_the_same_settings_less_the_absent_nic() {
        let current = settings();
        let mut form = NetForm::new(&view(current.clone()));
        assert_eq!(form.nics[0].addresses, "192.168.1.10/24\n2001:db8::10/64");
        assert_eq!(form.nics[0].mtu, "9000");
        assert_eq!(form.routes, "10.20.0.0/16 via 192.168.1.254");
        assert!(!form.nics[2].configured && !form.nics[2].up);
        let post = untouched(&form);
        form.take(Section::Interfaces, &post);
        let out = form.settings(Section::Interfaces, &current).unwrap();
        let mut expected = current.clone();
        expected.interfaces.pop();
        assert_eq!(
            out, expected,
            "same order, eth2 not added, the absent one dropped"
        );
        assert!(out.same_connectivity(&expected));
    }

    #[test]
    fn the_interfaces_form_changes_addresses_gateways_and_routes_only() {
        let current = settings();
        let mut form = NetForm::new(&view(current.clone()));
        form.take(
            Section::Interfaces,
            &posted(&[
                ("csrf", "x"),
                ("section", "interfaces"),
                ("nic0.present", "1"),
                ("nic0.mac", ETH0),
                ("nic0.up", "on"),
                ("nic0.mtu", " "),
                (
                    "nic0.addresses",
                    "10.0.0.5/24\r\n\r\n 2001:db8::5/64, 10.0.1.5/24",
                ),
                ("nic1.present", "1"),
                ("nic1.mac", ETH1),
                ("nic1.up", "on"),
                ("nic1.dhcp", "on"),
                ("nic1.mtu", ""),
                ("nic1.addresses", ""),
                ("nic2.present", "1"),
                ("nic2.mac", ETH2),
                ("nic2.dhcp", "on"),
                ("nic2.mtu", "1400"),
                ("nic2.addresses", ""),
                ("gateways", "10.0.0.1\n2001:db8::1"),
                (
                    "routes",
                    "172.16.0.0/12 via 10.0.0.254\n\n192.168.50.0/24 10.0.1.1\n",
                ),
                // A field of another section is not taken.
                ("hostname", "other"),
            ]),
        );
        let out = form.settings(Section::Interfaces, &current).unwrap();
        assert_eq!(out.interfaces.len(), 3);
        assert_eq!(out.interfaces[0].mac, ETH1);
        assert!(out.interfaces[0].dhcp);
        assert_eq!(
            out.interfaces[1],
            InterfaceConfig {
                mac: ETH0.into(),
                up: true,
                mtu: None,
                dhcp: false,
                addresses: vec![
                    "10.0.0.5/24".into(),
                    "2001:db8::5/64".into(),
                    "10.0.1.5/24".into()
                ],
            }
        );
        assert_eq!(
            out.interfaces[2],
            InterfaceConfig {
                mac: ETH2.into(),
                up: false,
                mtu: Some(1400),
                dhcp: true,
                addresses: vec![],
            },
            "a NIC configured for the first time is added; Up unchecked is down"
        );
        assert_eq!(out.gateways, vec!["10.0.0.1", "2001:db8::1"]);
        assert_eq!(
            out.routes,
            vec![
                RouteConfig {
                    destination: "172.16.0.0/12".into(),
                    gateway: "10.0.0.254".into()
                },
                RouteConfig {
                    destination: "192.168.50.0/24".into(),
                    gateway: "10.0.1.1".into()
                }
            ]
        );
        assert_eq!(out.hostname, current.hostname);
        assert_eq!(out.dns, current.dns);
        assert_eq!(out.shared_ips, current.shared_ips);
    }

    #[test]
    fn the_shared_ip_form_is_one_checkbox_and_changes_nothing_else() {
        let current = settings();
        let mut form = NetForm::new(&view(current.clone()));
        form.take(
            Section::Shared,
            &posted(&[
                ("shared0.present", "1"),
                ("shared0.address", "192.168.1.50/24"),
                ("shared0.interface", ETH0),
                ("shared0.enabled", "on"),
                ("shared1.present", "1"),
                ("shared1.address", ""),
                ("shared1.interface", ETH0),
            ]),
        );
        let out = form.settings(Section::Shared, &current).unwrap();
        let mut expected = current.clone();
        expected.shared_ips[0].enabled = true;
        assert_eq!(out, expected, "the empty row adds nothing");
        assert!(out.same_connectivity(&current), "no confirmation needed");

        form.take(Section::Shared, &posted(&[]));
        assert!(form
            .settings(Section::Shared, &current)
            .unwrap()
            .shared_ips
            .is_empty());
    }

    #[test]
    fn the_dns_form_takes_servers_search_and_hostname() {
        let current = settings();
        let mut form = NetForm::new(&view(current.clone()));
        form.take(
            Section::Dns,
            &posted(&[
                ("dns_servers", "9.9.9.9, 1.1.1.1"),
                ("dns_search", "a.example\nb.example"),
                ("hostname", " box1 "),
            ]),
        );
        let out = form.settings(Section::Dns, &current).unwrap();
        assert_eq!(out.dns.servers, vec!["9.9.9.9", "1.1.1.1"]);
        assert_eq!(out.dns.search, vec!["a.example", "b.example"]);
        assert_eq!(out.hostname, "box1");
        assert_eq!(out.interfaces, current.interfaces);
    }

    #[test]
    fn what_the_conversion_cannot_read_is_named_and_placed() {
        let current = settings();
        let mut form = NetForm::new(&view(current.clone()));
        let mut post = untouched(&form);
        for (k, v) in &mut post {
            if k == "nic0.mtu" {
                *v = "big".into();
            }
            if k == "routes" {
                *v = "10.20.0.0/16 through 192.168.1.254".into();
            }
        }
        form.take(Section::Interfaces, &post);
        let Unreadable { problems, config } =
            *form.settings(Section::Interfaces, &current).unwrap_err();
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(fields, vec!["interfaces[1].mtu", "routes[0]"]);
        // interfaces[1] is eth0 (the settings' order), shown on eth0's row.
        assert_eq!(config.interfaces[1].mac, ETH0);
        form.place(&problems, &config);
        assert_eq!(form.nics[0].errors.len(), 1, "{:?}", form.nics);
        assert!(form.nics[0].errors[0].contains("\"big\""));
        assert!(form.nics[1].errors.is_empty());
        assert!(form.route_errors[0].contains("via"));
        assert_eq!(form.nics[0].mtu, "big", "the input is shown again as typed");
    }

    #[test]
    fn validation_problems_land_next_to_their_fields() {
        let current = settings();
        let mut form = NetForm::new(&view(current.clone()));
        let p = |field: &str| Problem {
            field: field.into(),
            message: format!("bad {field}"),
        };
        form.place(
            &[
                p("interfaces[0].addresses[0]"),
                p("gateways[0]"),
                p("routes[0].gateway"),
                p("dns.servers[1]"),
                p("dns.search[0]"),
                p("hostname"),
                p("shared_ips[0].address"),
                p("shared_ips[7].address"),
                p("gatway"),
            ],
            &current,
        );
        assert_eq!(form.nics[1].errors, vec!["bad interfaces[0].addresses[0]"]);
        assert_eq!(form.gateway_errors, vec!["bad gateways[0]"]);
        assert_eq!(form.route_errors, vec!["bad routes[0].gateway"]);
        assert_eq!(form.dns_server_errors.len(), 1);
        assert_eq!(form.dns_search_errors.len(), 1);
        assert_eq!(form.hostname_errors.len(), 1);
        assert_eq!(form.shared[0].errors, vec!["bad shared_ips[0].address"]);
        assert_eq!(form.other_errors.len(), 2);
        form.mark_shared("192.168.1.50/24", "in use".into());
        assert_eq!(form.shared[0].errors.len(), 2);
        // An IPv6 shared IP typed otherwise than the daemon writes it.
        form.shared[0].address = "2001:DB8::0050/64".into();
        form.mark_shared("2001:db8::50/64", "in use".into());
        assert_eq!(form.shared[0].errors.len(), 3);
        assert_eq!(form.other_errors.len(), 2);
    }
}

//! The manager's answer to `GET /api/v1/network`: the settings, and what the kernel has.

use rtnetlink::packet_route::address::AddressScope;
use std::time::SystemTime;
use tokio::time::Instant;

use super::{unix, DhcpClient, Manager, Phase};
use crate::net::config::mac_text;
use crate::net::ipnet::IpNet;
use crate::net::netlink::{KernelAddress, Link};
use crate::net::plan;
use crate::net::route::{Origin, Route};
use crate::net::view::{
    AddressView, ConflictView, DhcpView, DnsView, InterfaceView, LeaseView, NetworkView,
    PendingView, RouteView, SharedIpView,
};
use units::rfc3339;

impl Manager {
    pub(super) async fn view(&mut self) -> NetworkView {
        self.refresh_nics().await;
        let mut interfaces = Vec::new();
        for nic in self.nics.clone() {
            interfaces.push(self.interface_view(&nic).await);
        }
        let mut notes = self.notes.clone();
        if self.kernel.is_none() {
            notes.insert(0, self.unapplied.clone());
        }
        let (dns, hostname) = match &self.kernel {
            Some(kernel) => {
                let (servers, search) = kernel.resolv.current();
                let hostname = nix::unistd::gethostname()
                    .map(|h| h.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (
                    DnsView {
                        servers: servers
                            .iter()
                            .map(std::string::ToString::to_string)
                            .collect(),
                        search,
                    },
                    hostname,
                )
            }
            None => (
                DnsView {
                    servers: self.running.config.dns.servers.clone(),
                    search: self.running.config.dns.search.clone(),
                },
                self.running.config.hostname.clone(),
            ),
        };
        NetworkView {
            config: self.running.config.clone(),
            factory_default: self.factory,
            applied: self.kernel.is_some(),
            notes,
            pending: self.pending.as_ref().map(|p| PendingView {
                seconds_left: p
                    .deadline
                    .saturating_duration_since(Instant::now())
                    .as_secs(),
                deadline: p.deadline_unix,
                by: p.by.clone(),
                from: p.from,
                previous: p.previous.clone(),
            }),
            interfaces,
            shared_ips: self.shared_views(),
            dns,
            hostname,
            shared_ip_history: Vec::new(),
        }
    }

    async fn interface_view(&self, nic: &Link) -> InterfaceView {
        let mac = mac_text(&nic.mac);
        let spec = self.running.interface(&mac);
        let lease_address: Option<IpNet> = self
            .dhcp
            .get(&nic.name)
            .and_then(|c| c.lease.as_ref())
            .map(|l| l.lease.address.into());
        let shared: Vec<IpNet> = self
            .shared
            .iter()
            .filter(|(_, h)| h.mac == mac)
            .map(|(ip, _)| *ip)
            .collect();
        let origin = |a: &KernelAddress| -> &'static str {
            if shared.contains(&a.net) {
                "shared"
            } else if Some(a.net) == lease_address {
                "dhcp"
            } else if spec.is_some_and(|s| s.addresses.contains(&a.net)) {
                "static"
            } else if a.scope == AddressScope::Link {
                "link-local"
            } else {
                "other"
            }
        };
        let (addresses, routes, up, mtu) = match &self.kernel {
            Some(kernel) => {
                let addresses = match kernel.netlink.addresses(nic).await {
                    Ok(list) => list
                        .iter()
                        .map(|a| AddressView {
                            address: a.net.to_string(),
                            origin: origin(a),
                            valid_seconds: a.valid_secs,
                        })
                        .collect(),
                    Err(err) => {
                        tracing::warn!("network: {err}");
                        Vec::new()
                    }
                };
                let routes = match kernel.netlink.routes(nic).await {
                    Ok(routes) => routes,
                    Err(err) => {
                        tracing::warn!("network: {err}");
                        Vec::new()
                    }
                };
                (addresses, routes, nic.up, nic.mtu)
            }
            None => {
                // Dev mode: what would be applied.
                let desired = plan::wanted(spec, None, &shared);
                let addresses = desired
                    .addresses
                    .iter()
                    .map(|a| AddressView {
                        address: a.net.to_string(),
                        origin: if shared.contains(&a.net) {
                            "shared"
                        } else {
                            "static"
                        },
                        valid_seconds: None,
                    })
                    .collect();
                (
                    addresses,
                    desired.routes,
                    desired.up,
                    desired.mtu.unwrap_or(nic.mtu),
                )
            }
        };
        let dhcp = spec.filter(|s| s.up && s.dhcp).map(|_| {
            dhcp_view(
                self.dhcp.get(&nic.name),
                self.kernel.is_some(),
                self.started,
            )
        });
        InterfaceView {
            name: nic.name.clone(),
            mac,
            configured: spec.is_some(),
            up,
            carrier: nic.carrier,
            mtu,
            addresses,
            routes: routes.iter().map(route_view).collect(),
            dhcp,
        }
    }

    fn shared_views(&self) -> Vec<SharedIpView> {
        self.running
            .shared_ips
            .iter()
            .map(|s| {
                let nic = self.nic_by_mac(&s.mac);
                let held = self.shared.get(&s.address).filter(|h| h.mac == s.mac);
                let status = held.map(|h| {
                    h.status
                        .lock()
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .clone()
                });
                let refused = self.refused.get(&s.address);
                let (role, by_role) =
                    self.role_view(held.map(|h| h.iface.as_str()), refused.map(|r| &r.0));
                let (state, message) = by_role.unwrap_or_else(|| match (held, refused, nic) {
                    (Some(_), _, _) if self.kernel.is_none() => (
                        "simulated",
                        "dev mode: would be held and announced".to_string(),
                    ),
                    (Some(h), _, _) => ("held", format!("held on {} and announced", h.iface)),
                    (None, _, _) if !self.wants(s.enabled) => {
                        ("disabled", "not enabled".to_string())
                    }
                    (None, Some((mac, _)), _) => (
                        "conflict",
                        format!(
                            "enabled, but {} holds it: not taken; disable it there, then save \
                             here again",
                            mac_text(mac)
                        ),
                    ),
                    (None, None, None) => (
                        "interface_missing",
                        format!("no interface with MAC {} is present", s.mac),
                    ),
                    (None, None, Some(n)) => ("disabled", format!("{} is down", n.name)),
                });
                let conflict = status
                    .as_ref()
                    .and_then(|st| st.conflict)
                    .or(refused.copied())
                    .map(|(mac, at)| ConflictView {
                        mac: mac_text(&mac),
                        at: unix(at),
                    });
                SharedIpView {
                    address: s.address.to_string(),
                    interface: s.mac.clone(),
                    interface_name: nic.map(|n| n.name.clone()),
                    enabled: s.enabled,
                    held: held.is_some(),
                    state,
                    message,
                    since: status.as_ref().map(|st| unix(st.since)),
                    announcements: status.as_ref().map_or(0, |st| st.announcements),
                    last_announced: status.as_ref().and_then(|st| st.last_announced).map(unix),
                    conflict,
                    role,
                }
            })
            .collect()
    }
}

fn route_view(r: &Route) -> RouteView {
    RouteView {
        destination: if r.destination.prefix_len == 0 {
            "default".to_string()
        } else {
            r.destination.to_string()
        },
        gateway: r.gateway.map(|g| g.to_string()),
        origin: match r.origin {
            Origin::Dhcp => "dhcp",
            Origin::Static => "static",
        },
    }
}

fn dhcp_view(client: Option<&DhcpClient>, applied: bool, started: SystemTime) -> DhcpView {
    let Some(c) = client else {
        let now = unix(started);
        return if applied {
            DhcpView {
                state: "waiting",
                since: now,
                message: "the DHCP client is starting".to_string(),
                lease: None,
            }
        } else {
            DhcpView {
                state: "off",
                since: now,
                message: "dev mode: no DHCP client runs".to_string(),
                lease: None,
            }
        };
    };
    let since = unix(c.since);
    let at = rfc3339(since);
    let (state, message) = match c.phase {
        Phase::Waiting if c.lease.is_some() => (
            "waiting",
            format!("lease still held; asking for a new one since {at}"),
        ),
        Phase::Waiting => ("waiting", format!("waiting for a DHCP offer since {at}")),
        Phase::Bound => ("bound", format!("lease obtained at {at}")),
        Phase::Renewing => ("renewing", format!("renewing the lease since {at}")),
        Phase::Rebinding => (
            "rebinding",
            format!("the server did not renew; asking any server since {at}"),
        ),
        Phase::Failed => (
            "failed",
            format!(
                "{} (at {at})",
                c.message.as_deref().unwrap_or("the DHCP client failed")
            ),
        ),
    };
    DhcpView {
        state,
        since,
        message,
        lease: c.lease.as_ref().map(|l| LeaseView {
            address: l.lease.address.to_string(),
            gateway: l.lease.gateway().map(|g| g.to_string()),
            dns: l
                .lease
                .dns
                .iter()
                .map(std::string::ToString::to_string)
                .collect(),
            search: l.lease.search.clone(),
            server: l.lease.server.map(|s| s.to_string()),
            lease_seconds: (l.lease.lease_secs != u32::MAX).then_some(l.lease.lease_secs),
            obtained_at: unix(l.obtained),
            expires_in: l
                .expires
                .map(|e| e.saturating_duration_since(Instant::now()).as_secs()),
        }),
    }
}

//! The kernel side of the network: links, addresses and routes (IPv4 and IPv6) over
//! rtnetlink. Reads the kernel's state into [`plan::Current`] and carries out
//! [`plan::Changes`]; decides nothing itself.

use futures::TryStreamExt;
use nix::errno::Errno;
use rtnetlink::packet_route::address::{
    AddressAttribute, AddressFlags, AddressHeaderFlags, AddressMessage, AddressScope, CacheInfo,
};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::{Handle, LinkUnspec, RouteMessageBuilder};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use super::ipnet::IpNet;
use super::plan::{Changes, Current, CurrentAddress};
use super::route::{Origin, Route};

/// The kernel's main routing table (RT_TABLE_MAIN).
const MAIN_TABLE: u32 = 254;

/// Route metric of interface N is this plus N: each NIC's default route has its own
/// metric, so two NICs with gateways both keep one (the same metric would make the second
/// replace the first), and the first NIC is preferred.
const METRIC_BASE: u32 = 100;

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("cannot open a netlink socket: {0}")]
    Socket(std::io::Error),
    #[error("no network interface named {0}")]
    NoSuchLink(String),
    #[error("{what} on {iface}: {source}")]
    Request {
        what: String,
        iface: String,
        source: rtnetlink::Error,
    },
    #[error("route {route} on {iface} cannot be written as a netlink message: {detail}")]
    BadRoute {
        route: String,
        iface: String,
        detail: String,
    },
}

/// One interface as the kernel sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Link {
    pub name: String,
    pub index: u32,
    pub mac: Vec<u8>,
    pub mtu: u32,
    /// Administratively up.
    pub up: bool,
    /// A cable (or the virtual equivalent) is connected.
    pub carrier: bool,
}

/// An address on a link, as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct KernelAddress {
    pub net: IpNet,
    pub scope: AddressScope,
    /// No lifetime: added as static, not from a lease or a router advertisement.
    pub permanent: bool,
    /// Seconds left; `None` is forever.
    pub valid_secs: Option<u32>,
    /// IPv6 duplicate address detection found another holder.
    pub dad_failed: bool,
}

impl KernelAddress {
    /// The addresses this daemon manages (see [`Current`]).
    fn managed(&self) -> bool {
        self.scope == AddressScope::Universe && (self.net.is_ipv4() || self.permanent)
    }
}

/// A netlink connection; cheap to clone, shared by every task of the network module.
#[derive(Clone)]
pub(crate) struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// Open the socket and drive it on the current tokio runtime. The socket belongs to
    /// the network namespace of the calling thread.
    pub(crate) fn connect() -> Result<Self, Error> {
        let (connection, handle, _) = rtnetlink::new_connection().map_err(Error::Socket)?;
        tokio::spawn(connection);
        Ok(Netlink { handle })
    }

    /// Until the link named `name` has carrier, for at most `wait`, polling every 50 ms:
    /// whether it has. True at once when its state cannot be read (the caller goes on as
    /// it would without the wait).
    pub(crate) async fn wait_for_carrier(&self, name: &str, wait: Duration) -> bool {
        let until = tokio::time::Instant::now() + wait;
        loop {
            match self.link(name).await {
                Ok(link) if !link.carrier => {}
                _ => return true,
            }
            if tokio::time::Instant::now() >= until {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub(crate) async fn link(&self, name: &str) -> Result<Link, Error> {
        let found = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute()
            .try_next()
            .await;
        match found {
            Ok(Some(msg)) => Ok(link_of(&msg)),
            Ok(None) => Err(Error::NoSuchLink(name.into())),
            // The kernel answers ENODEV for a name it does not know.
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -(Errno::ENODEV as i32) => {
                Err(Error::NoSuchLink(name.into()))
            }
            Err(source) => Err(Error::Request {
                what: "reading the link".into(),
                iface: name.into(),
                source,
            }),
        }
    }

    pub(crate) async fn set_up(&self, link: &Link) -> Result<(), Error> {
        self.handle
            .link()
            .set(LinkUnspec::new_with_index(link.index).up().build())
            .execute()
            .await
            .map_err(|source| Error::Request {
                what: "setting the link up".into(),
                iface: link.name.clone(),
                source,
            })
    }

    /// Every address on the link, both families, every scope.
    pub(crate) async fn addresses(&self, link: &Link) -> Result<Vec<KernelAddress>, Error> {
        let msgs: Vec<AddressMessage> = self
            .handle
            .address()
            .get()
            .set_link_index_filter(link.index)
            .execute()
            .try_collect()
            .await
            .map_err(|source| Error::Request {
                what: "listing addresses".into(),
                iface: link.name.clone(),
                source,
            })?;
        Ok(msgs
            .iter()
            .filter(|m| m.header.index == link.index)
            .filter_map(address_of)
            .collect())
    }

    /// What this daemon manages on the link (see [`Current`]).
    pub(crate) async fn current(&self, link: &Link) -> Result<Current, Error> {
        let addresses = self
            .addresses(link)
            .await?
            .into_iter()
            .filter(KernelAddress::managed)
            .map(|a| CurrentAddress {
                net: a.net,
                forever: a.permanent,
            })
            .collect();
        Ok(Current {
            up: link.up,
            mtu: link.mtu,
            addresses,
            routes: self.routes(link).await?,
        })
    }

    /// The routes of the main table out of the link, both families, as [`Route`]s.
    pub(crate) async fn routes(&self, link: &Link) -> Result<Vec<Route>, Error> {
        let mut routes = Vec::new();
        for family in [
            RouteMessageBuilder::<Ipv4Addr>::new().build(),
            RouteMessageBuilder::<Ipv6Addr>::new().build(),
        ] {
            let msgs: Vec<RouteMessage> = self
                .handle
                .route()
                .get(family)
                .execute()
                .try_collect()
                .await
                .map_err(|source| Error::Request {
                    what: "listing routes".into(),
                    iface: link.name.clone(),
                    source,
                })?;
            routes.extend(
                msgs.iter()
                    .filter(|m| table_of(m) == MAIN_TABLE)
                    .filter(|m| {
                        m.attributes
                            .iter()
                            .any(|a| matches!(a, RouteAttribute::Oif(i) if *i == link.index))
                    })
                    .filter_map(route_of),
            );
        }
        Ok(routes)
    }

    /// Carry out `changes` in their order.
    pub(crate) async fn apply(&self, link: &Link, changes: &Changes) -> Result<(), Error> {
        let err = |what: String| {
            let iface = link.name.clone();
            move |source| Error::Request {
                what,
                iface,
                source,
            }
        };
        if changes.set_up {
            self.set_up(link).await?;
        }
        for route in &changes.remove_routes {
            // No metric: whatever metric it has (an older release's, another tool's).
            let result = self
                .handle
                .route()
                .del(route_message(link, route, None)?)
                .execute()
                .await;
            // Gone already (e.g. with its address or its link): that is what we wanted.
            if !already(&result, Errno::ESRCH) {
                result.map_err(err(format!("removing route {route}")))?;
            }
        }
        if let Some(mtu) = changes.set_mtu {
            self.handle
                .link()
                .set(LinkUnspec::new_with_index(link.index).mtu(mtu).build())
                .execute()
                .await
                .map_err(err(format!("setting MTU {mtu}")))?;
        }
        for address in &changes.put_addresses {
            let net = address.net;
            let mut request = self
                .handle
                .address()
                .add(link.index, net.addr, net.prefix_len)
                .replace();
            let secs = address.lifetime_secs.unwrap_or(u32::MAX);
            let mut lifetime = CacheInfo::default();
            lifetime.ifa_preferred = secs;
            lifetime.ifa_valid = secs;
            request
                .message_mut()
                .attributes
                .push(AddressAttribute::CacheInfo(lifetime));
            if address.nodad && !net.is_ipv4() {
                request
                    .message_mut()
                    .attributes
                    .push(AddressAttribute::Flags(AddressFlags::Nodad));
            }
            request
                .execute()
                .await
                .map_err(err(format!("adding address {net}")))?;
        }
        for net in &changes.remove_addresses {
            let mut msg = AddressMessage::default();
            msg.header.index = link.index;
            msg.header.prefix_len = net.prefix_len;
            match net.addr {
                IpAddr::V4(_) => {
                    msg.header.family = AddressFamily::Inet;
                    msg.attributes.push(AddressAttribute::Local(net.addr));
                }
                IpAddr::V6(_) => {
                    msg.header.family = AddressFamily::Inet6;
                    msg.attributes.push(AddressAttribute::Address(net.addr));
                }
            }
            let result = self.handle.address().del(msg).execute().await;
            // The kernel may have dropped it itself at the end of its lifetime.
            if !already(&result, Errno::EADDRNOTAVAIL) {
                result.map_err(err(format!("removing address {net}")))?;
            }
        }
        for route in &changes.add_routes {
            self.handle
                .route()
                .add(route_message(link, route, Some(METRIC_BASE + link.index))?)
                .replace()
                .execute()
                .await
                .map_err(err(format!("adding route {route}")))?;
        }
        if changes.set_down {
            self.handle
                .link()
                .set(LinkUnspec::new_with_index(link.index).down().build())
                .execute()
                .await
                .map_err(err("setting the link down".into()))?;
        }
        Ok(())
    }
}

fn link_of(msg: &LinkMessage) -> Link {
    let mut link = Link {
        name: String::new(),
        index: msg.header.index,
        mac: Vec::new(),
        mtu: 0,
        up: msg.header.flags.contains(LinkFlags::Up),
        carrier: msg.header.flags.contains(LinkFlags::LowerUp),
    };
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(name) => link.name = name.clone(),
            LinkAttribute::Address(mac) => link.mac = mac.clone(),
            LinkAttribute::Mtu(mtu) => link.mtu = *mtu,
            _ => {}
        }
    }
    link
}

fn address_of(m: &AddressMessage) -> Option<KernelAddress> {
    // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's on
    // point-to-point links (and the only one for IPv6).
    let local = m.attributes.iter().find_map(|a| match a {
        AddressAttribute::Local(ip) => Some(*ip),
        _ => None,
    });
    let address = m.attributes.iter().find_map(|a| match a {
        AddressAttribute::Address(ip) => Some(*ip),
        _ => None,
    });
    let ip = local.or(address)?;
    // The 32-bit IFA_FLAGS attribute supersedes the header's 8 bits when present.
    let flags = m
        .attributes
        .iter()
        .find_map(|a| match a {
            AddressAttribute::Flags(f) => Some(*f),
            _ => None,
        })
        .unwrap_or_else(|| AddressFlags::from_bits_retain(u32::from(m.header.flags.bits())));
    let valid_secs = m.attributes.iter().find_map(|a| match a {
        AddressAttribute::CacheInfo(c) => Some(c.ifa_valid),
        _ => None,
    });
    Some(KernelAddress {
        net: IpNet::new(ip, m.header.prefix_len),
        scope: m.header.scope,
        permanent: flags.contains(AddressFlags::Permanent)
            || m.header.flags.contains(AddressHeaderFlags::Permanent),
        valid_secs: valid_secs.filter(|s| *s != u32::MAX),
        dad_failed: flags.contains(AddressFlags::Dadfailed),
    })
}

fn table_of(msg: &RouteMessage) -> u32 {
    // The header's byte holds tables below 256; RTA_TABLE holds the full number.
    msg.attributes
        .iter()
        .find_map(|a| match a {
            RouteAttribute::Table(t) => Some(*t),
            _ => None,
        })
        .unwrap_or(u32::from(msg.header.table))
}

fn route_of(msg: &RouteMessage) -> Option<Route> {
    let origin = match msg.header.protocol {
        RouteProtocol::Dhcp => Origin::Dhcp,
        RouteProtocol::Static => Origin::Static,
        _ => return None,
    };
    if msg.header.kind != RouteType::Unicast {
        return None;
    }
    let v6 = msg.header.address_family == AddressFamily::Inet6;
    let mut destination: IpAddr = if v6 {
        Ipv6Addr::UNSPECIFIED.into()
    } else {
        Ipv4Addr::UNSPECIFIED.into()
    };
    let mut gateway = None;
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Destination(RouteAddress::Inet(ip)) => destination = (*ip).into(),
            RouteAttribute::Destination(RouteAddress::Inet6(ip)) => destination = (*ip).into(),
            RouteAttribute::Gateway(RouteAddress::Inet(ip)) => gateway = Some((*ip).into()),
            RouteAttribute::Gateway(RouteAddress::Inet6(ip)) => gateway = Some((*ip).into()),
            _ => {}
        }
    }
    Some(Route {
        destination: IpNet::new(destination, msg.header.destination_prefix_length),
        gateway,
        origin,
    })
}

/// True when `result` failed with `errno`: the change was already there.
fn already(result: &Result<(), rtnetlink::Error>, errno: Errno) -> bool {
    matches!(result, Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -(errno as i32))
}

/// `metric: None` leaves it out, which for a deletion matches any metric.
fn route_message(link: &Link, route: &Route, metric: Option<u32>) -> Result<RouteMessage, Error> {
    // The message type of these errors is not exported; only their text is kept.
    let bad = |detail: String| Error::BadRoute {
        route: route.to_string(),
        iface: link.name.clone(),
        detail,
    };
    let mut builder = RouteMessageBuilder::<IpAddr>::new()
        .destination_prefix(route.destination.addr, route.destination.prefix_len)
        .map_err(|e| bad(e.to_string()))?
        .output_interface(link.index)
        .protocol(match route.origin {
            Origin::Dhcp => RouteProtocol::Dhcp,
            Origin::Static => RouteProtocol::Static,
        });
    if let Some(metric) = metric {
        builder = builder.priority(metric);
    }
    builder = match route.gateway {
        Some(gw) => builder.gateway(gw).map_err(|e| bad(e.to_string()))?,
        // An IPv4 destination reached without a router is on this link.
        None if route.destination.is_ipv4() => builder.scope(RouteScope::Link),
        None => builder,
    };
    Ok(builder.build())
}

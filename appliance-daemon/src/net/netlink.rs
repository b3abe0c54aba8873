//! The kernel side of the network: links, IPv4 addresses and routes over rtnetlink. Reads
//! the kernel's state into [`plan::Current`] and carries out [`plan::Changes`]; decides
//! nothing itself.

use futures::TryStreamExt;
use nix::errno::Errno;
use rtnetlink::packet_route::address::{AddressAttribute, AddressMessage, AddressScope, CacheInfo};
use rtnetlink::packet_route::link::{LinkAttribute, LinkFlags, LinkMessage};
use rtnetlink::packet_route::route::{
    RouteAddress, RouteAttribute, RouteMessage, RouteProtocol, RouteScope, RouteType,
};
use rtnetlink::packet_route::AddressFamily;
use rtnetlink::{Handle, LinkUnspec, RouteMessageBuilder};
use std::net::{IpAddr, Ipv4Addr};

use super::plan::{Changes, Current, Ipv4Net, Route};

/// The kernel's main routing table (RT_TABLE_MAIN).
const MAIN_TABLE: u32 = 254;

/// Route metric of interface N is this plus N: each NIC's default route has its own
/// metric, so two NICs with leases both keep one (the same metric would make the second
/// replace the first), and the first NIC is preferred.
const METRIC_BASE: u32 = 100;

#[derive(Debug, thiserror::Error)]
pub enum Error {
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
}

/// One interface as the kernel sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub name: String,
    pub index: u32,
    pub mac: Vec<u8>,
    pub mtu: u32,
    pub up: bool,
}

/// A netlink connection; cheap to clone, shared by every task of the network module.
#[derive(Clone)]
pub struct Netlink {
    handle: Handle,
}

impl Netlink {
    /// Open the socket and drive it on the current tokio runtime.
    pub fn connect() -> Result<Self, Error> {
        let (connection, handle, _) = rtnetlink::new_connection().map_err(Error::Socket)?;
        tokio::spawn(connection);
        Ok(Netlink { handle })
    }

    pub async fn link(&self, name: &str) -> Result<Link, Error> {
        let request = |source| Error::Request {
            what: "reading the link".into(),
            iface: name.into(),
            source,
        };
        let found = self
            .handle
            .link()
            .get()
            .match_name(name.to_string())
            .execute()
            .try_next()
            .await;
        match found {
            Ok(Some(msg)) => Ok(link_of(name, &msg)),
            Ok(None) => Err(Error::NoSuchLink(name.into())),
            // The kernel answers ENODEV for a name it does not know.
            Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -(Errno::ENODEV as i32) => {
                Err(Error::NoSuchLink(name.into()))
            }
            Err(e) => Err(request(e)),
        }
    }

    pub async fn set_up(&self, link: &Link) -> Result<(), Error> {
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

    /// The IPv4 addresses on the link, with their scope.
    pub async fn ipv4_addresses(&self, link: &Link) -> Result<Vec<(Ipv4Net, AddressScope)>, Error> {
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
            .filter(|m| m.header.family == AddressFamily::Inet && m.header.index == link.index)
            .filter_map(|m| {
                // IFA_LOCAL is the interface's own address; IFA_ADDRESS is the peer's on
                // point-to-point links.
                let local = m.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Local(IpAddr::V4(ip)) => Some(*ip),
                    _ => None,
                });
                let address = m.attributes.iter().find_map(|a| match a {
                    AddressAttribute::Address(IpAddr::V4(ip)) => Some(*ip),
                    _ => None,
                });
                local
                    .or(address)
                    .map(|ip| (Ipv4Net::new(ip, m.header.prefix_len), m.header.scope))
            })
            .collect())
    }

    /// What this daemon manages on the link: global IPv4 addresses and the main table's
    /// routes out of it marked `proto dhcp`.
    pub async fn current(&self, link: &Link) -> Result<Current, Error> {
        let addresses = self
            .ipv4_addresses(link)
            .await?
            .into_iter()
            .filter(|(_, scope)| *scope == AddressScope::Universe)
            .map(|(net, _)| net)
            .collect();
        let msgs: Vec<RouteMessage> = self
            .handle
            .route()
            .get(RouteMessageBuilder::<Ipv4Addr>::new().build())
            .execute()
            .try_collect()
            .await
            .map_err(|source| Error::Request {
                what: "listing routes".into(),
                iface: link.name.clone(),
                source,
            })?;
        let routes = msgs
            .iter()
            .filter(|m| m.header.protocol == RouteProtocol::Dhcp)
            .filter(|m| table_of(m) == MAIN_TABLE)
            .filter(|m| {
                m.attributes
                    .iter()
                    .any(|a| matches!(a, RouteAttribute::Oif(i) if *i == link.index))
            })
            .filter_map(route_of)
            .collect();
        Ok(Current {
            addresses,
            routes,
            mtu: link.mtu,
        })
    }

    /// Carry out `changes` in their order. Addresses get `lifetime_secs` as their kernel
    /// lifetime so that the kernel drops them at the lease's end even if this daemon
    /// cannot (`u32::MAX` is forever).
    pub async fn apply(
        &self,
        link: &Link,
        changes: &Changes,
        lifetime_secs: u32,
    ) -> Result<(), Error> {
        let err = |what: String| {
            let iface = link.name.clone();
            move |source| Error::Request {
                what,
                iface,
                source,
            }
        };
        for route in &changes.remove_routes {
            // No metric: whatever metric it has (an older release's, another tool's).
            let result = self
                .handle
                .route()
                .del(route_message(link.index, route, None))
                .execute()
                .await;
            // Gone already (e.g. with its address): that is what we wanted.
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
        for net in &changes.put_addresses {
            let mut request = self
                .handle
                .address()
                .add(link.index, IpAddr::V4(net.addr), net.prefix_len)
                .replace();
            let mut lifetime = CacheInfo::default();
            lifetime.ifa_preferred = lifetime_secs;
            lifetime.ifa_valid = lifetime_secs;
            request
                .message_mut()
                .attributes
                .push(AddressAttribute::CacheInfo(lifetime));
            request
                .execute()
                .await
                .map_err(err(format!("adding address {net}")))?;
        }
        for net in &changes.remove_addresses {
            let mut msg = AddressMessage::default();
            msg.header.family = AddressFamily::Inet;
            msg.header.index = link.index;
            msg.header.prefix_len = net.prefix_len;
            msg.attributes
                .push(AddressAttribute::Local(IpAddr::V4(net.addr)));
            let result = self.handle.address().del(msg).execute().await;
            // The kernel may have dropped it itself at the end of its lifetime.
            if !already(&result, Errno::EADDRNOTAVAIL) {
                result.map_err(err(format!("removing address {net}")))?;
            }
        }
        for route in &changes.add_routes {
            self.handle
                .route()
                .add(route_message(
                    link.index,
                    route,
                    Some(METRIC_BASE + link.index),
                ))
                .replace()
                .execute()
                .await
                .map_err(err(format!("adding route {route}")))?;
        }
        Ok(())
    }
}

fn link_of(name: &str, msg: &LinkMessage) -> Link {
    let mut link = Link {
        name: name.to_string(),
        index: msg.header.index,
        mac: Vec::new(),
        mtu: 0,
        up: msg.header.flags.contains(LinkFlags::Up),
    };
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::Address(mac) => link.mac = mac.clone(),
            LinkAttribute::Mtu(mtu) => link.mtu = *mtu,
            _ => {}
        }
    }
    link
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
    if msg.header.kind != RouteType::Unicast {
        return None;
    }
    let mut destination = Ipv4Addr::UNSPECIFIED;
    let mut gateway = None;
    for attr in &msg.attributes {
        match attr {
            RouteAttribute::Destination(RouteAddress::Inet(ip)) => destination = *ip,
            RouteAttribute::Gateway(RouteAddress::Inet(ip)) => gateway = Some(*ip),
            _ => {}
        }
    }
    Some(Route {
        destination: Ipv4Net::new(destination, msg.header.destination_prefix_length),
        gateway,
    })
}

/// True when `result` failed with `errno`: the change was already there.
fn already(result: &Result<(), rtnetlink::Error>, errno: Errno) -> bool {
    matches!(result, Err(rtnetlink::Error::NetlinkError(e)) if e.raw_code() == -(errno as i32))
}

/// `metric: None` leaves it out, which for a deletion matches any metric.
fn route_message(index: u32, route: &Route, metric: Option<u32>) -> RouteMessage {
    let mut builder = RouteMessageBuilder::<Ipv4Addr>::new()
        .destination_prefix(route.destination.addr, route.destination.prefix_len)
        .output_interface(index)
        .protocol(RouteProtocol::Dhcp);
    if let Some(metric) = metric {
        builder = builder.priority(metric);
    }
    builder = match route.gateway {
        Some(gw) => builder.gateway(gw),
        // A destination reached without a router is on this link.
        None => builder.scope(RouteScope::Link),
    };
    builder.build()
}

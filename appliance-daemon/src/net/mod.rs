//! The appliance's network: the factory-default bring-up that makes the daemon reachable.
//!
//! [`start`] brings `lo` up (the kernel adds 127.0.0.1/8 as it does; the HTTPS self-check
//! needs it), then sets every Ethernet NIC up and runs a DHCPv4 client on it in the
//! background for the life of the daemon. Leases are applied over rtnetlink (never by
//! running `ip`), name servers go to `/run/resolv.conf`.
//!
//! Parts: [`plan`] (no I/O: lease to wanted state, diff against the kernel's), [`netlink`]
//! (reads and changes the kernel's state), [`dhcp`] (one client task per NIC), [`nics`]
//! (which interfaces are NICs), [`resolv`] (the resolver file), [`oneshot`] (the hidden
//! `--net-only` mode used by tests). Static configuration builds on `plan` and `netlink`.

pub mod dhcp;
pub mod netlink;
pub mod nics;
pub mod oneshot;
pub mod plan;
pub mod resolv;

use std::collections::BTreeMap;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::sync::Arc;
use tokio::sync::watch;

use netlink::Netlink;
use plan::{Ipv4Net, Lease};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Netlink(#[from] netlink::Error),
    #[error("cannot list the network interfaces in {path}: {source}")]
    Sysfs {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// What to bring up and where to write.
#[derive(Debug, Clone)]
pub struct Options {
    /// The interfaces to run DHCP on; `None`: every Ethernet NIC found in sysfs.
    pub interfaces: Option<Vec<String>>,
    pub resolv_conf: PathBuf,
    pub sysfs_net: PathBuf,
    /// Sent to the DHCP server (option 12) so that its lease list names the appliance.
    pub hostname: String,
}

impl Options {
    /// The appliance's defaults: every NIC, `/run/resolv.conf`.
    pub fn appliance(hostname: String) -> Self {
        Options {
            interfaces: None,
            resolv_conf: PathBuf::from(resolv::PATH),
            sysfs_net: PathBuf::from(nics::SYSFS_NET),
            hostname,
        }
    }
}

/// The lease each managed interface holds now (`None`: none yet, or it expired).
/// Watchable, so that callers can wait for a lease or show it.
#[derive(Debug)]
pub struct State {
    leases: watch::Sender<BTreeMap<String, Option<Lease>>>,
}

impl State {
    fn new(interfaces: &[String]) -> Self {
        let map = interfaces.iter().map(|i| (i.clone(), None)).collect();
        State {
            leases: watch::Sender::new(map),
        }
    }

    fn set(&self, iface: &str, lease: Option<Lease>) {
        self.leases.send_modify(|m| {
            m.insert(iface.to_string(), lease);
        });
    }

    pub fn subscribe(&self) -> watch::Receiver<BTreeMap<String, Option<Lease>>> {
        self.leases.subscribe()
    }
}

/// The running network bring-up; its tasks live as long as the tokio runtime.
pub struct Network {
    pub state: Arc<State>,
    pub interfaces: Vec<String>,
}

/// Bring `lo` up and wait for its address; start DHCP on the NICs and return without
/// waiting for any lease.
pub async fn start(options: Options) -> Result<Network, Error> {
    let netlink = Netlink::connect()?;
    loopback_up(&netlink).await?;

    let interfaces = match options.interfaces {
        Some(list) => list,
        None => nics::ethernet_nics(&options.sysfs_net).map_err(|source| Error::Sysfs {
            path: options.sysfs_net.clone(),
            source,
        })?,
    };
    if interfaces.is_empty() {
        tracing::warn!("net: no Ethernet NIC found; the appliance is reachable on loopback only");
    }
    let state = Arc::new(State::new(&interfaces));
    let resolv = Arc::new(resolv::ResolvConf::new(options.resolv_conf));
    for name in &interfaces {
        // One NIC failing (e.g. renamed meanwhile) must not keep the others down.
        let link = match netlink.link(name).await {
            Ok(l) => l,
            Err(err) => {
                tracing::error!("net: {err}");
                continue;
            }
        };
        promote_secondaries(name);
        if let Err(err) = netlink.set_up(&link).await {
            tracing::error!("net: {err}");
            continue;
        }
        tracing::info!("net: {name} up, starting DHCP");
        tokio::spawn(dhcp::run(
            netlink.clone(),
            link,
            options.hostname.clone(),
            resolv.clone(),
            state.clone(),
        ));
    }
    Ok(Network { state, interfaces })
}

/// Let a second address in a subnet become primary when the first is removed, instead of
/// the kernel removing it too: a lease that moves to another address of the same subnet
/// adds the new address before removing the old one (see [`plan::Changes`]).
fn promote_secondaries(iface: &str) {
    let path = format!("/proc/sys/net/ipv4/conf/{iface}/promote_secondaries");
    if let Err(err) = std::fs::write(&path, b"1") {
        tracing::warn!(
            "net: cannot write {path}: {err}; an address change may drop the link's routes"
        );
    }
}

/// Set `lo` up. The kernel gives it 127.0.0.1/8 as it comes up; should that be missing
/// (someone removed it), put it back, since the HTTPS self-check goes over it.
async fn loopback_up(netlink: &Netlink) -> Result<(), Error> {
    let lo = netlink.link("lo").await?;
    netlink.set_up(&lo).await?;
    let want = Ipv4Net::new(Ipv4Addr::LOCALHOST, 8);
    let has = netlink
        .ipv4_addresses(&lo)
        .await?
        .iter()
        .any(|(net, _)| *net == want);
    if !has {
        let changes = plan::Changes {
            put_addresses: vec![want],
            ..plan::Changes::default()
        };
        netlink.apply(&lo, &changes, u32::MAX).await?;
        tracing::warn!("net: lo had no {want} after coming up; added it");
    }
    tracing::info!(was_up = lo.up, "net: lo up with {want}");
    Ok(())
}

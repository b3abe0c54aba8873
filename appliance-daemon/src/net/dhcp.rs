//! One DHCPv4 client per interface: mozim negotiates the lease (discover, renew at T1,
//! rebind at T2), this task keeps its own clock on the lease's end, and reports each step
//! to the network manager, which puts the lease on the interface or takes it off.
//!
//! mozim keeps retrying in the background and never gives up: a server that never
//! answers leaves the interface in the `waiting` state, which the API shows with the time
//! it began. On stop (the settings no longer ask for DHCP) the lease is released.

use mozim::{DhcpV4Client, DhcpV4Config, DhcpV4Lease, DhcpV4State};
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

use super::ipnet::Ipv4Net;
use super::lease::{Lease, LeaseRoute};
use super::netlink::{Link, Netlink};

/// Pause before starting over after the client failed (socket error, bad packet).
const RETRY_AFTER: Duration = Duration::from_secs(5);
/// How long a client waits for its link's carrier before asking anyway. A DISCOVER sent
/// before the link is up is lost and the next one comes seconds later (an e1000e link
/// takes about three seconds to come up after the interface is set up).
const CARRIER_WAIT: Duration = Duration::from_secs(10);

/// Until the link named `name` has carrier, for at most [`CARRIER_WAIT`]; at once when its
/// state cannot be read.
async fn wait_for_carrier(name: &str) {
    if let Ok(netlink) = Netlink::connect() {
        netlink.wait_for_carrier(name, CARRIER_WAIT).await;
    }
}

/// A step of one interface's client.
#[derive(Debug)]
pub(crate) enum Step {
    /// Asking for a lease: at start, after an expiry, after a failure.
    Waiting,
    /// A lease was granted or renewed; answer whether it is on the interface.
    Bound(Lease, oneshot::Sender<bool>),
    /// T1 passed: asking the server that granted the lease to extend it.
    Renewing,
    /// T2 passed: asking any server.
    Rebinding,
    /// The lease ran out without being extended.
    Expired,
    /// The client failed and starts over.
    Failed(String),
}

/// A step, with the interface it happened on.
#[derive(Debug)]
pub(crate) struct Event {
    pub iface: String,
    pub step: Step,
}

/// The library's lease in our terms.
pub(crate) fn lease_of(l: &DhcpV4Lease) -> Lease {
    Lease {
        address: Ipv4Net::new(l.yiaddr, l.prefix_length()),
        routers: l.gateways.clone().unwrap_or_default(),
        classless_routes: l
            .classless_routes
            .iter()
            .flatten()
            .map(|r| LeaseRoute {
                destination: Ipv4Net::new(r.destination, r.prefix_length),
                gateway: Some(r.router),
            })
            .collect(),
        dns: l.dns_srvs.clone().unwrap_or_default(),
        search: l
            .domain_search
            .clone()
            .or_else(|| l.domain_name.clone().map(|d| vec![d]))
            .unwrap_or_default(),
        mtu: l.mtu,
        lease_secs: l.lease_time_sec,
        server: Some(l.srv_id).filter(|s| !s.is_unspecified()),
    }
}

/// Run DHCP on `link` until `stop` fires (or its sender is dropped). Failures are
/// reported and retried, never returned: a NIC without a lease must not stop the daemon.
pub(crate) async fn run(
    link: Link,
    hostname: String,
    events: mpsc::UnboundedSender<Event>,
    mut stop: oneshot::Receiver<()>,
) {
    let iface = link.name.clone();
    let report = |step: Step| {
        // The manager outlives its clients; if it is gone the daemon is stopping.
        let _ = events.send(Event {
            iface: iface.clone(),
            step,
        });
    };
    let mut config = DhcpV4Config::new(&iface);
    config.set_iface_index(link.index);
    if let Err(err) = config.set_iface_mac_raw(&link.mac) {
        report(Step::Failed(format!(
            "{iface} has no Ethernet MAC address ({err}); no DHCP on it"
        )));
        return;
    }
    config.use_mac_as_client_id();
    if !hostname.is_empty() && hostname != "localhost" && hostname != "(none)" {
        config.set_host_name(&hostname);
    }
    tokio::select! {
        () = wait_for_carrier(&iface) => {}
        _ = &mut stop => return,
    }
    let mut client = match DhcpV4Client::init(config, None).await {
        Ok(c) => c,
        Err(err) => {
            report(Step::Failed(format!(
                "cannot start the client on {iface}: {err}"
            )));
            return;
        }
    };
    report(Step::Waiting);
    // The lease on the interface and when it runs out (`None`: never).
    let mut held: Option<(DhcpV4Lease, Option<Instant>)> = None;
    loop {
        let expiry = held.as_ref().and_then(|(_, at)| *at);
        let result = tokio::select! {
            r = client.run() => Some(r),
            // Our own clock on the lease: the client may be stuck retrying after an error
            // while the lease runs out.
            () = sleep_until(expiry) => None,
            _ = &mut stop => {
                if let Some((lease, _)) = held.take() {
                    match client.release(&lease).await {
                        Ok(()) => tracing::info!("dhcp: {iface} released {}", lease.yiaddr),
                        Err(err) => tracing::warn!("dhcp: {iface} cannot release {}: {err}", lease.yiaddr),
                    }
                }
                return;
            }
        };
        match result {
            None => {
                held = None;
                report(Step::Expired);
                client.clean_up();
                report(Step::Waiting);
            }
            Some(Ok(DhcpV4State::Done(lease))) => {
                let (tx, rx) = oneshot::channel();
                report(Step::Bound(lease_of(&lease), tx));
                if rx.await.unwrap_or(false) {
                    let expiry = match lease.lease_time_sec {
                        u32::MAX => None,
                        s => Some(Instant::now() + Duration::from_secs(u64::from(s))),
                    };
                    held = Some((*lease, expiry));
                } else {
                    // The client believes it is bound but the interface lacks the
                    // address: renewing would fail. Ask again from scratch.
                    tokio::time::sleep(RETRY_AFTER).await;
                    client.clean_up();
                    report(Step::Waiting);
                }
            }
            Some(Ok(DhcpV4State::Renewing)) => report(Step::Renewing),
            Some(Ok(DhcpV4State::Rebinding)) => report(Step::Rebinding),
            // The client's own clock says the lease ended during rebinding.
            Some(Ok(DhcpV4State::InitReboot)) if held.is_some() => {
                held = None;
                report(Step::Expired);
                report(Step::Waiting);
            }
            Some(Ok(state)) => tracing::debug!("dhcp: {iface} state {state}"),
            Some(Err(err)) => {
                report(Step::Failed(format!(
                    "{err}; starting over in {} s",
                    RETRY_AFTER.as_secs()
                )));
                tokio::time::sleep(RETRY_AFTER).await;
                client.clean_up();
                report(Step::Waiting);
            }
        }
    }
}

/// Sleep until `at`; for ever without one.
pub(super) async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

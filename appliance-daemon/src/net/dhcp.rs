//! One DHCPv4 client per interface, for the life of the daemon: mozim negotiates the lease
//! (discover, renew at T1, rebind at T2), this task puts each lease on the interface
//! through [`plan`] and [`Netlink`], and takes it off when it expires.

use mozim::{DhcpV4Client, DhcpV4Config, DhcpV4Lease, DhcpV4State};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

use super::netlink::{Link, Netlink};
use super::plan::{self, Desired, Ipv4Net, Lease, Route};
use super::resolv::{ResolvConf, Source};
use super::State;

/// Pause before starting over after the client failed (socket error, bad packet).
const RETRY_AFTER: Duration = Duration::from_secs(5);

/// The library's lease in our terms.
pub fn lease_of(l: &DhcpV4Lease) -> Lease {
    Lease {
        address: Ipv4Net::new(l.yiaddr, l.prefix_length()),
        routers: l.gateways.clone().unwrap_or_default(),
        classless_routes: l
            .classless_routes
            .iter()
            .flatten()
            .map(|r| Route {
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
    }
}

/// Run DHCP on `link` forever. Failures are logged and retried, never returned: a NIC
/// without a lease must not stop the daemon.
pub async fn run(
    netlink: Netlink,
    link: Link,
    hostname: String,
    resolv: Arc<ResolvConf>,
    state: Arc<State>,
) {
    let iface = link.name.clone();
    let mut config = DhcpV4Config::new(&iface);
    config.set_iface_index(link.index);
    if let Err(err) = config.set_iface_mac_raw(&link.mac) {
        tracing::error!("dhcp: {iface} has no Ethernet MAC address ({err}); no DHCP on it");
        return;
    }
    config.use_mac_as_client_id();
    if !hostname.is_empty() && hostname != "localhost" && hostname != "(none)" {
        config.set_host_name(&hostname);
    }
    let mut client = match DhcpV4Client::init(config, None).await {
        Ok(c) => c,
        Err(err) => {
            tracing::error!("dhcp: cannot start the client on {iface}: {err}");
            return;
        }
    };
    let mut task = Task {
        netlink,
        link,
        resolv,
        state,
        held: None,
    };
    loop {
        let expiry = task.held.as_ref().and_then(|(_, at)| *at);
        let result = tokio::select! {
            r = client.run() => Some(r),
            // Our own clock on the lease: the client may be stuck retrying after an error
            // while the lease runs out.
            _ = sleep_until(expiry) => None,
        };
        match result {
            None => task.expire().await,
            Some(Ok(DhcpV4State::Done(lease))) => {
                if !task.bind(&lease_of(&lease)).await {
                    // The client believes it is bound but the interface lacks the
                    // address: renewing would fail. Ask again from scratch.
                    tokio::time::sleep(RETRY_AFTER).await;
                    client.clean_up();
                }
            }
            Some(Ok(DhcpV4State::InitReboot)) if task.held.is_some() => task.expire().await,
            Some(Ok(state)) => tracing::debug!("dhcp: {iface} state {state}"),
            Some(Err(err)) => {
                tracing::warn!("dhcp: {iface}: {err}; starting over in {RETRY_AFTER:?}");
                tokio::time::sleep(RETRY_AFTER).await;
                client.clean_up();
            }
        }
    }
}

async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

struct Task {
    netlink: Netlink,
    link: Link,
    resolv: Arc<ResolvConf>,
    state: Arc<State>,
    /// The lease on the interface and when it runs out (`None`: never).
    held: Option<(Lease, Option<Instant>)>,
}

impl Task {
    /// Put `lease` on the interface; false if that failed (logged).
    async fn bind(&mut self, lease: &Lease) -> bool {
        let iface = self.link.name.clone();
        let iface = iface.as_str();
        let renewal = self
            .held
            .as_ref()
            .is_some_and(|(l, _)| l.configures_like(lease));
        if let Err(err) = self
            .reconcile(&Desired::from_lease(lease), lease.lease_secs)
            .await
        {
            tracing::error!(
                "dhcp: {iface}: cannot apply the lease for {}: {err}",
                lease.address
            );
            return false;
        }
        let expiry = match lease.lease_secs {
            u32::MAX => None,
            s => Some(Instant::now() + Duration::from_secs(u64::from(s))),
        };
        self.held = Some((lease.clone(), expiry));
        let source = Source {
            servers: lease.dns.clone(),
            search: lease.search.clone(),
        };
        if let Err(err) = self.resolv.update(iface, Some(source)) {
            tracing::error!("dhcp: cannot write {}: {err}", self.resolv.path().display());
        }
        if renewal {
            tracing::info!(
                "dhcp: {iface} renewed {} for {} s",
                lease.address,
                lease.lease_secs
            );
        } else {
            tracing::info!("{}", plan::lease_line(iface, lease));
            // For whoever looks at the console of the box or the VM: where to point a browser.
            eprintln!(
                "\nAdmin interface: https://{}/appliance   ({iface})\n",
                lease.address.addr
            );
        }
        self.state.set(iface, Some(lease.clone()));
        true
    }

    async fn expire(&mut self) {
        let iface = self.link.name.clone();
        let iface = iface.as_str();
        let Some((lease, _)) = self.held.take() else {
            return;
        };
        tracing::warn!(
            "dhcp: {iface} lease on {} expired; address removed",
            lease.address
        );
        if let Err(err) = self.reconcile(&Desired::none(), 0).await {
            tracing::error!("dhcp: {iface}: cannot remove the expired lease: {err}");
        }
        if let Err(err) = self.resolv.update(iface, None) {
            tracing::error!("dhcp: cannot write {}: {err}", self.resolv.path().display());
        }
        self.state.set(iface, None);
    }

    async fn reconcile(
        &mut self,
        desired: &Desired,
        lifetime_secs: u32,
    ) -> Result<(), super::netlink::Error> {
        // Twice at most: the kernel reacts to some changes on its own (removing an address
        // takes routes with it), so look again after the first pass and fill the gaps.
        for pass in 1..=2 {
            // The MTU may have changed under us: read the link afresh.
            self.link = self.netlink.link(&self.link.name).await?;
            let current = self.netlink.current(&self.link).await?;
            let changes = plan::diff(&current, desired);
            if pass > 1 && changes.only_refresh(&current) {
                break;
            }
            if !changes.only_refresh(&current) {
                tracing::debug!(iface = %self.link.name, pass, ?changes, "applying");
            }
            self.netlink
                .apply(&self.link, &changes, lifetime_secs)
                .await?;
        }
        Ok(())
    }
}

//! The manager's effects: bring the NICs to the settings in force (addresses, routes, MTU,
//! up/down), run or stop the DHCP clients, take and release shared IPs, write the resolver
//! file and the hostname. In dev mode (no kernel side) only the bookkeeping happens.

use std::net::{IpAddr, Ipv4Addr};
use std::path::PathBuf;
use std::time::{Duration, SystemTime};
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::{DhcpClient, HeldIp, LeaseHeld, Manager, Phase, Taking};
use crate::net::config::{mac_text, parse_mac};
use crate::net::dhcp::{self, Step};
use crate::net::ipnet::Ipv4Net;
use crate::net::lease::lease_line;
use crate::net::netlink::{self, Link, Netlink};
use crate::net::plan::{self, HeldLease};
use crate::net::resolv::{ResolvConf, Source};
use crate::net::shared::{self, Held, Probe};
use crate::net::validate::Validated;
use crate::net::{nics, Actor, Kernel, PutError};
use crate::store::Audit;

/// How long a stopping DHCP client may take to release its lease.
const RELEASE_WAIT: Duration = Duration::from_secs(3);

/// The NICs dev mode shows: nothing is read from the machine.
const DEV_NICS: [(&str, [u8; 6]); 2] = [
    ("eth0", [0x52, 0x54, 0x00, 0x12, 0x34, 0x56]),
    ("eth1", [0x52, 0x54, 0x00, 0x12, 0x34, 0x57]),
];

/// How long a shared IP's probe waits for its link's carrier before giving up.
const CARRIER_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

pub(in crate::net) struct KernelSide {
    pub netlink: Netlink,
    interfaces: Option<Vec<String>>,
    sysfs_net: PathBuf,
    pub resolv: ResolvConf,
    set_hostname: bool,
    /// Appliance mode proper (not a test namespace): the console lines are printed.
    console: bool,
}

impl KernelSide {
    pub(super) fn connect(k: Kernel) -> Result<Self, netlink::Error> {
        Ok(KernelSide {
            netlink: Netlink::connect()?,
            console: k.netns.is_none(),
            interfaces: k.interfaces,
            sysfs_net: k.sysfs_net,
            resolv: ResolvConf::new(k.resolv_conf),
            set_hostname: k.set_hostname,
        })
    }

    /// The managed NICs as the kernel has them now.
    async fn links(&self) -> Result<Vec<Link>, String> {
        let names = match &self.interfaces {
            Some(list) => list.clone(),
            None => nics::ethernet_nics(&self.sysfs_net).map_err(|e| {
                format!(
                    "cannot list the network interfaces in {}: {e}",
                    self.sysfs_net.display()
                )
            })?,
        };
        let mut links = Vec::new();
        for name in names {
            match self.netlink.link(&name).await {
                Ok(link) => links.push(link),
                // Renamed or unplugged meanwhile: not present.
                Err(err) => tracing::debug!("network: {err}"),
            }
        }
        Ok(links)
    }
}

impl Manager {
    /// Loopback up, the NICs read, secondaries promoted.
    pub(super) async fn prepare(&mut self) {
        let Some(kernel) = &self.kernel else {
            self.refresh_nics().await;
            return;
        };
        if let Err(err) = loopback_up(&kernel.netlink).await {
            tracing::error!("network: cannot bring lo up: {err}");
        }
        self.refresh_nics().await;
        if self.nics.is_empty() {
            tracing::warn!(
                "network: no Ethernet NIC found; the appliance is reachable on loopback only"
            );
        }
        for nic in &self.nics {
            promote_secondaries(&nic.name);
        }
    }

    pub(super) async fn refresh_nics(&mut self) {
        match &self.kernel {
            None => {
                self.nics = DEV_NICS
                    .iter()
                    .enumerate()
                    .map(|(i, (name, mac))| Link {
                        name: name.to_string(),
                        index: 2 + i as u32,
                        mac: mac.to_vec(),
                        mtu: 1500,
                        up: true,
                        carrier: true,
                    })
                    .collect();
            }
            Some(kernel) => match kernel.links().await {
                Ok(links) => self.nics = links,
                Err(err) => tracing::warn!("network: {err}"),
            },
        }
    }

    /// Probe the enabled shared IPs not held yet; one held by another host is left out and
    /// recorded (at start and on revert nothing can be refused).
    pub(super) async fn probe_for_start(&mut self) -> Vec<Taking> {
        let mut taken = Vec::new();
        for s in self.running.shared_ips.clone() {
            match self.probe_one(&self.running, s.address, &s.mac).await {
                Ok(Some(Ok(t))) => taken.push(t),
                Ok(Some(Err(holder))) => {
                    tracing::error!(
                        "network: shared IP {} is held by {}; not taken",
                        s.address,
                        mac_text(&holder)
                    );
                    self.refused.insert(s.address, (holder, SystemTime::now()));
                }
                Ok(None) => {}
                Err(err) => tracing::error!("network: {err}"),
            }
        }
        taken
    }

    /// Probe the shared IPs `next` enables that are not held yet; refuse the change if
    /// another host holds one.
    pub(super) async fn probe_for_change(
        &mut self,
        next: &Validated,
        actor: &Actor,
    ) -> Result<Vec<Taking>, PutError> {
        let mut taken = Vec::new();
        for s in &next.shared_ips {
            match self.probe_one(next, s.address, &s.mac).await {
                Ok(Some(Ok(mut t))) => {
                    t.requested = actor.received;
                    taken.push(t);
                }
                Ok(Some(Err(holder))) => {
                    let iface = self
                        .nic_by_mac(&s.mac)
                        .map(|l| l.name.clone())
                        .unwrap_or_default();
                    let holder = mac_text(&holder);
                    tracing::warn!(
                        "network: shared IP {} refused on {iface}: {holder} answered the probe",
                        s.address
                    );
                    self.audit(Audit::user(
                        &actor.user,
                        actor.address,
                        "network.shared_ip.conflict",
                        format!(
                            "shared IP {} not enabled on {iface} ({}): in use by {holder}",
                            s.address, s.mac
                        ),
                    ))
                    .await;
                    return Err(PutError::AddressInUse {
                        address: s.address.to_string(),
                        mac: holder,
                    });
                }
                Ok(None) => {}
                Err(err) => return Err(PutError::ApplyFailed(err)),
            }
        }
        Ok(taken)
    }

    /// Probe `address` for settings `within` if they enable it on `mac` and it is not held
    /// there already. `Ok(None)`: nothing to take; `Ok(Some(Err(mac)))`: another holder.
    pub(super) async fn probe_one(
        &self,
        within: &Validated,
        address: crate::net::ipnet::IpNet,
        mac: &str,
    ) -> Result<Option<Result<Taking, [u8; 6]>>, String> {
        let enabled = within
            .shared_ips
            .iter()
            .any(|s| s.address == address && s.mac == mac && self.wants(s.enabled));
        let iface_up = within.interface(mac).is_some_and(|i| i.up);
        if !enabled || !iface_up {
            return Ok(None);
        }
        if self.shared.get(&address).is_some_and(|h| h.mac == mac) {
            return Ok(None);
        }
        let Some(link) = self.nic_by_mac(mac).cloned() else {
            return Ok(None);
        };
        let started = Instant::now();
        let socket = match (&self.kernel, address.addr, parse_mac(mac)) {
            (None, _, _) => None,
            // A probe sent before the link is up goes nowhere and hears nothing: it would
            // find the address free while the peer holds it (an e1000e link comes up
            // seconds after the interface at boot).
            (Some(kernel), _, _)
                if !kernel
                    .netlink
                    .wait_for_carrier(&link.name, CARRIER_WAIT)
                    .await =>
            {
                return Err(format!(
                    "cannot probe for {address} on {}: the link has no carrier (cable or \
                     switch port); the shared IP is not taken without a probe",
                    link.name
                ));
            }
            (Some(_), ip, Some(own)) => match shared::probe(link.index, own, ip).await {
                Ok(Probe::Free(socket)) => Some(socket),
                Ok(Probe::Taken(holder)) => return Ok(Some(Err(holder))),
                Err(err) => {
                    return Err(format!(
                        "cannot probe for {address} on {}: {err}",
                        link.name
                    ))
                }
            },
            (Some(_), _, None) => {
                return Err(format!("cannot probe for {address} on {}", link.name))
            }
        };
        Ok(Some(Ok(Taking {
            address,
            mac: mac.to_string(),
            link,
            socket,
            probe_started: started,
            probe_done: Instant::now(),
            requested: None,
        })))
    }

    /// Bring everything to the settings in force: release the shared IPs no longer
    /// enabled, put `taken` on their interfaces and announce them.
    pub(super) async fn apply_all(&mut self, taken: Vec<Taking>) -> Result<(), String> {
        let wanted: Vec<(crate::net::ipnet::IpNet, String)> = self
            .running
            .shared_ips
            .iter()
            .filter(|s| {
                self.wants(s.enabled) && self.running.interface(&s.mac).is_some_and(|i| i.up)
            })
            .map(|s| (s.address, s.mac.clone()))
            .collect();
        let released: Vec<_> = self
            .shared
            .iter()
            .filter(|(ip, h)| !wanted.contains(&(**ip, h.mac.clone())))
            .map(|(ip, _)| *ip)
            .collect();
        for ip in released {
            if let Some(held) = self.shared.remove(&ip) {
                tracing::info!("network: shared IP {ip} released on {}", held.iface);
            }
        }
        self.taking = taken.iter().map(|t| (t.address, t.mac.clone())).collect();
        let result = self.reconcile_all().await;
        self.taking.clear();
        result?;
        for t in taken {
            let held = match (t.socket, t.address.addr, parse_mac(&t.mac)) {
                (Some(socket), ip, Some(own)) => {
                    let (status, task) = shared::take(socket, t.link.name.clone(), own, ip).await;
                    let announced = Instant::now();
                    let since_request = t
                        .requested
                        .map(|at| format!(", {} ms after the request", at.elapsed().as_millis()))
                        .unwrap_or_default();
                    tracing::info!(
                        "network: shared IP {} enabled on {} ({}): probed free in {} ms, \
                         announced {} ms later{since_request}",
                        t.address,
                        t.link.name,
                        t.mac,
                        (t.probe_done - t.probe_started).as_millis(),
                        (announced - t.probe_done).as_millis()
                    );
                    HeldIp {
                        mac: t.mac,
                        iface: t.link.name,
                        status,
                        task: Some(task),
                    }
                }
                _ => HeldIp {
                    mac: t.mac,
                    iface: t.link.name,
                    status: Held::now(),
                    task: None,
                },
            };
            self.shared.insert(t.address, held);
        }
        Ok(())
    }

    /// Every NIC, the DHCP clients, the resolver file and the hostname, to the settings.
    pub(super) async fn reconcile_all(&mut self) -> Result<(), String> {
        if self.kernel.is_none() {
            return Ok(());
        }
        self.refresh_nics().await;
        self.sync_dhcp().await;
        let mut errors = Vec::new();
        for nic in self.nics.clone() {
            if let Err(err) = self.reconcile_link(&nic).await {
                errors.push(err.to_string());
            }
        }
        if let Some(kernel) = &self.kernel {
            let source = Source {
                servers: self.running.dns_servers.clone(),
                search: self.running.dns_search.clone(),
            };
            if let Err(err) = kernel.resolv.set_configured(source) {
                errors.push(format!(
                    "cannot write {}: {err}",
                    kernel.resolv.path().display()
                ));
            }
        }
        self.apply_hostname();
        self.write_nics_up();
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors.join("; "))
        }
    }

    /// Bring one NIC to what the settings, its lease and its shared IPs want.
    pub(super) async fn reconcile_link(&self, nic: &Link) -> Result<(), netlink::Error> {
        let Some(kernel) = &self.kernel else {
            return Ok(());
        };
        let mac = mac_text(&nic.mac);
        let spec = self.running.interface(&mac);
        let lease = self
            .dhcp
            .get(&nic.name)
            .and_then(|c| c.lease.as_ref())
            .map(|l| HeldLease {
                lease: &l.lease,
                remaining_secs: l
                    .expires
                    .map(|at| at.saturating_duration_since(Instant::now()).as_secs())
                    .map_or(u32::MAX, |s| u32::try_from(s).unwrap_or(u32::MAX).max(1)),
            });
        let shared: Vec<_> = self
            .shared
            .iter()
            .filter(|(_, h)| h.mac == mac)
            .map(|(ip, _)| *ip)
            .chain(
                self.taking
                    .iter()
                    .filter(|(_, m)| *m == mac)
                    .map(|(ip, _)| *ip),
            )
            .collect();
        let mut desired = plan::wanted(spec, lease, &shared);
        let keep = lease.is_none() && self.keep_until_lease.contains(&nic.name);
        // Twice at most: the kernel reacts to some changes on its own (removing an address
        // takes routes with it), so look again after the first pass and fill the gaps.
        for pass in 1..=2 {
            // The MTU and flags may have changed under us: read the link afresh.
            let link = kernel.netlink.link(&nic.name).await?;
            let current = kernel.netlink.current(&link).await?;
            if keep {
                desired.keep = current
                    .addresses
                    .iter()
                    .filter(|a| a.net.is_ipv4())
                    .map(|a| a.net)
                    .collect();
            }
            let changes = plan::diff(&current, &desired);
            let refresh_only = changes.only_refresh(&current);
            if pass > 1 && refresh_only {
                break;
            }
            if !refresh_only {
                tracing::debug!(iface = %link.name, pass, ?changes, "applying");
            }
            kernel.netlink.apply(&link, &changes).await?;
        }
        Ok(())
    }

    /// Start a DHCP client on each NIC the settings want one on, stop the others (their
    /// leases are released before the addresses go).
    async fn sync_dhcp(&mut self) {
        let hostname = nix::unistd::gethostname()
            .map(|h| h.to_string_lossy().into_owned())
            .unwrap_or_default();
        for nic in self.nics.clone() {
            let mac = mac_text(&nic.mac);
            let want = self.running.interface(&mac).is_some_and(|s| s.up && s.dhcp);
            let has = self.dhcp.get(&nic.name).is_some_and(|c| c.mac == mac);
            if want && !has {
                self.stop_dhcp(&nic.name).await;
                let (stop, stopped) = oneshot::channel();
                let task = tokio::spawn(dhcp::run(
                    nic.clone(),
                    hostname.clone(),
                    self.events_tx.clone(),
                    stopped,
                ));
                tracing::info!("net: {} up, starting DHCP", nic.name);
                self.dhcp.insert(
                    nic.name.clone(),
                    DhcpClient {
                        mac,
                        stop: Some(stop),
                        task,
                        phase: Phase::Waiting,
                        since: SystemTime::now(),
                        lease: None,
                        message: None,
                    },
                );
                self.state.set(&nic.name, None);
            } else if !want && has {
                self.stop_dhcp(&nic.name).await;
            }
        }
        let gone: Vec<String> = self
            .dhcp
            .keys()
            .filter(|name| !self.nics.iter().any(|n| &n.name == *name))
            .cloned()
            .collect();
        for name in gone {
            self.stop_dhcp(&name).await;
        }
    }

    async fn stop_dhcp(&mut self, iface: &str) {
        let Some(mut client) = self.dhcp.remove(iface) else {
            return;
        };
        if let Some(stop) = client.stop.take() {
            let _ = stop.send(());
        }
        if tokio::time::timeout(RELEASE_WAIT, &mut client.task)
            .await
            .is_err()
        {
            client.task.abort();
        }
        tracing::info!("dhcp: {iface} client stopped");
        self.state.forget(iface);
        if let Some(kernel) = &self.kernel {
            if let Err(err) = kernel.resolv.update(iface, None) {
                tracing::error!(
                    "dhcp: cannot write {}: {err}",
                    kernel.resolv.path().display()
                );
            }
        }
    }

    /// A step of a DHCP client.
    pub(super) async fn on_dhcp(&mut self, event: dhcp::Event) {
        let iface = event.iface;
        let Some(client) = self.dhcp.get_mut(&iface) else {
            // A client stopped meanwhile.
            if let Step::Bound(_, reply) = event.step {
                let _ = reply.send(false);
            }
            return;
        };
        let now = SystemTime::now();
        match event.step {
            Step::Waiting => {
                if client.phase != Phase::Waiting || client.lease.is_some() {
                    client.since = now;
                }
                client.phase = Phase::Waiting;
                client.message = None;
                tracing::info!("dhcp: {iface} waiting for a DHCP offer");
            }
            Step::Renewing => {
                client.phase = Phase::Renewing;
                client.since = now;
                tracing::debug!("dhcp: {iface} renewing");
            }
            Step::Rebinding => {
                client.phase = Phase::Rebinding;
                client.since = now;
                tracing::info!("dhcp: {iface} renewal unanswered; asking any server");
            }
            Step::Failed(message) => {
                tracing::warn!("dhcp: {iface}: {message}");
                client.phase = Phase::Failed;
                client.since = now;
                client.message = Some(message);
            }
            Step::Expired => {
                if let Some(held) = client.lease.take() {
                    tracing::warn!(
                        "dhcp: {iface} lease on {} expired; address removed",
                        held.lease.address
                    );
                }
                self.after_lease_lost(&iface).await;
            }
            Step::Bound(lease, reply) => {
                let renewal = client
                    .lease
                    .as_ref()
                    .is_some_and(|l| l.lease.configures_like(&lease));
                client.lease = Some(LeaseHeld {
                    lease: lease.clone(),
                    obtained: now,
                    expires: (lease.lease_secs != u32::MAX)
                        .then(|| Instant::now() + Duration::from_secs(u64::from(lease.lease_secs))),
                });
                client.phase = Phase::Bound;
                client.since = now;
                client.message = None;
                let applied = match self.nics.iter().find(|n| n.name == iface).cloned() {
                    Some(nic) => self.reconcile_link(&nic).await.map_err(|e| e.to_string()),
                    None => Err("the interface is gone".to_string()),
                };
                match applied {
                    Ok(()) => {
                        self.keep_until_lease.remove(&iface);
                        let _ = reply.send(true);
                        self.write_resolver(&iface, Some(&lease));
                        // Logged once the lease is on the interface and in the resolver
                        // file, and before it is published: whoever waits for the line
                        // finds both, and whoever waits for the lease (the one-shot
                        // bring-up exits then) finds the line written.
                        if renewal {
                            tracing::info!(
                                "dhcp: {iface} renewed {} for {} s",
                                lease.address,
                                lease.lease_secs
                            );
                        } else {
                            tracing::info!("{}", lease_line(&iface, &lease));
                            self.console(&iface, lease.address.addr.into(), "DHCP");
                        }
                        self.state.set(&iface, Some(lease));
                    }
                    Err(err) => {
                        tracing::error!(
                            "dhcp: {iface}: cannot apply the lease for {}: {err}",
                            lease.address
                        );
                        if let Some(c) = self.dhcp.get_mut(&iface) {
                            c.lease = None;
                        }
                        let _ = reply.send(false);
                    }
                }
            }
        }
    }

    /// After a lease went: the interface, the resolver file and the lease watch.
    async fn after_lease_lost(&mut self, iface: &str) {
        if let Some(nic) = self.nics.iter().find(|n| n.name == iface).cloned() {
            if let Err(err) = self.reconcile_link(&nic).await {
                tracing::error!("dhcp: {iface}: cannot remove the expired lease: {err}");
            }
        }
        self.write_resolver(iface, None);
        self.state.set(iface, None);
    }

    /// The resolver file with `iface`'s lease (or without it).
    fn write_resolver(&self, iface: &str, lease: Option<&crate::net::Lease>) {
        if let Some(kernel) = &self.kernel {
            let source = lease.map(|l| Source {
                servers: l.dns.iter().map(|d| IpAddr::V4(*d)).collect(),
                search: l.search.clone(),
            });
            if let Err(err) = kernel.resolv.update(iface, source) {
                tracing::error!(
                    "dhcp: cannot write {}: {err}",
                    kernel.resolv.path().display()
                );
            }
        }
    }

    /// Tell whoever looks at the console of the box or the VM where to point a browser: on
    /// the serial console and on the screen (crate `screen`).
    fn console(&self, iface: &str, addr: IpAddr, how: &str) {
        if self.kernel.as_ref().is_some_and(|k| k.console) {
            let host = match addr {
                IpAddr::V4(a) => a.to_string(),
                IpAddr::V6(a) => format!("[{a}]"),
            };
            let how = if how == "DHCP" {
                String::new()
            } else {
                format!(", {how}")
            };
            screen::show(&format!(
                "\nAdmin interface: https://{host}/appliance   ({iface}{how})\n\n"
            ));
        }
    }

    /// The console line for each static IPv4 address of an up NIC.
    pub(super) fn announce_static(&self) {
        for nic in &self.nics {
            let Some(spec) = self.running.interface(&mac_text(&nic.mac)) else {
                continue;
            };
            if !spec.up {
                continue;
            }
            for a in spec.addresses.iter().filter(|a| a.is_ipv4()) {
                self.console(&nic.name, a.addr, "static address");
            }
        }
    }

    /// sethostname(2) and init's file, when the settings name a hostname.
    fn apply_hostname(&self) {
        let Some(name) = &self.running.hostname else {
            return;
        };
        if self.kernel.as_ref().is_some_and(|k| k.set_hostname) {
            let current = nix::unistd::gethostname()
                .map(|h| h.to_string_lossy().into_owned())
                .unwrap_or_default();
            if &current != name {
                match crate::privileged::client::set_hostname(name) {
                    Ok(()) => tracing::info!("network: hostname set to {name}"),
                    Err(err) => tracing::error!("network: cannot set the hostname {name}: {err}"),
                }
            }
        }
        self.write_for_init("hostname", format!("{name}\n"));
    }

    /// The MACs of the NICs the settings keep up, for init's next boot: its stage 1 raises
    /// every Ethernet link as soon as the driver is loaded, so link negotiation runs while
    /// the rest of the system starts, and takes down again the ones not in this list
    /// (docs/boot.md).
    fn write_nics_up(&self) {
        let mut up: Vec<&str> = self
            .running
            .interfaces
            .iter()
            .filter(|i| i.up)
            .map(|i| i.mac.as_str())
            .collect();
        up.sort_unstable();
        self.write_for_init("nics-up", up.iter().flat_map(|m| [*m, "\n"]).collect());
    }

    /// Replace `name` in init's directory with `content` when it differs (temporary file
    /// and rename: a power cut leaves the old file or the new one).
    fn write_for_init(&self, name: &str, content: String) {
        let Some(dir) = &self.init_dir else {
            return;
        };
        let file = dir.join(name);
        if std::fs::read_to_string(&file).is_ok_and(|stored| stored == content) {
            return;
        }
        let tmp = dir.join(format!(".{name}.tmp"));
        let written = std::fs::create_dir_all(dir)
            .and_then(|()| std::fs::write(&tmp, &content))
            .and_then(|()| std::fs::File::open(&tmp)?.sync_all())
            .and_then(|()| std::fs::rename(&tmp, &file));
        if let Err(err) = written {
            tracing::error!("network: cannot write {}: {err}", file.display());
        }
    }
}

/// Let a second address in a subnet become primary when the first is removed, instead of
/// the kernel removing it too: a lease that moves to another address of the same subnet
/// adds the new address before removing the old one (see [`plan::Changes`]).
fn promote_secondaries(iface: &str) {
    // On the appliance the privileged part sets it for every interface at start.
    if std::fs::read_to_string(crate::paths::PROMOTE_SECONDARIES_ALL).is_ok_and(|v| v.trim() == "1")
    {
        return;
    }
    let path = format!("/proc/sys/net/ipv4/conf/{iface}/promote_secondaries");
    if let Err(err) = std::fs::write(&path, b"1") {
        tracing::warn!(
            "net: cannot write {path}: {err}; an address change may drop the link's routes"
        );
    }
}

/// Set `lo` up. The kernel gives it 127.0.0.1/8 as it comes up; should that be missing
/// (someone removed it), put it back, since the HTTPS self-check goes over it.
async fn loopback_up(netlink: &Netlink) -> Result<(), netlink::Error> {
    let lo = netlink.link("lo").await?;
    netlink.set_up(&lo).await?;
    let want = Ipv4Net::new(Ipv4Addr::LOCALHOST, 8);
    let has = netlink
        .addresses(&lo)
        .await?
        .iter()
        .any(|a| a.net == want.into());
    if !has {
        let changes = plan::Changes {
            put_addresses: vec![plan::Address {
                net: want.into(),
                lifetime_secs: None,
                nodad: false,
            }],
            ..plan::Changes::default()
        };
        netlink.apply(&lo, &changes).await?;
        tracing::warn!("net: lo had no {want} after coming up; added it");
    }
    tracing::info!(was_up = lo.up, "net: lo up with {want}");
    Ok(())
}

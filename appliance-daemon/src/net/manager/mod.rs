//! The network manager: the one task that owns the settings in force, the DHCP clients,
//! the held shared IPs and the change waiting for confirmation, and the only one that
//! changes the kernel's network state, so that no two changes ever interleave.
//!
//! A change (`put`) is checked as a whole, newly enabled shared IPs are probed, then it is
//! applied; if the kernel refuses part of it, the previous settings are applied again.
//! A change made over the network that touches interfaces, gateways or routes is kept in
//! memory only, with a deadline: `confirm` stores it, the deadline applies the previous
//! settings again. Since the store keeps the previous settings until then, a restart
//! during that time reverts too. [`apply`] holds the kernel side, [`status`] the view.
// Unsafe code: setpriority(2) on the manager's own thread (gettid).
#![allow(unsafe_code)]

mod apply;
mod role;
mod status;

pub(crate) use role::{Probed, RoleOutcome};

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::config::{mac_text, NetworkConfig, PresentNic};
use super::dhcp::{self, sleep_until};
use super::ipnet::IpNet;
use super::lease::Lease;
use super::netlink::Link;
use super::shared::HeldStatus;
use super::validate::{validate, validate_stored, Refusal, Validated};
use super::{Actor, Command, ConfirmError, Options, PutError, Reloaded, State};
use crate::store::{Audit, Store};

/// How often the kernel's state is compared with the settings again, to repair what
/// someone or something else changed and to notice NICs that came or went.
const RESYNC_EVERY: Duration = Duration::from_secs(60);

/// The niceness of the network manager's thread: ahead of request handling, so that
/// neither a busy API nor the daemon's own start delays what is timed on the network (the
/// DHCP exchange at boot, whose lease the first client waits for; renewals; probing and
/// defending a shared IP against the failover peer).
const NICE: i32 = -5;

fn raise_priority() {
    // SAFETY: setpriority on this thread's own id changes this thread only.
    let tid = unsafe { libc::gettid() };
    if unsafe { libc::setpriority(libc::PRIO_PROCESS, tid as libc::id_t, NICE) } != 0 {
        // Without CAP_SYS_NICE (dev mode): the same priority as the rest.
        tracing::debug!(
            "network: cannot raise the thread's priority: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// The thread's body: enter the namespace if asked, build a runtime, apply the settings
/// once, say so on `ready`, then serve commands until every handle is gone.
pub(super) fn run(
    options: Options,
    state: Arc<State>,
    inbox: mpsc::Receiver<Command>,
    ready: oneshot::Sender<Result<(), String>>,
) {
    if let Some(ns) = options.kernel.as_ref().and_then(|k| k.netns.clone()) {
        if let Err(err) = enter_netns(&ns) {
            let _ = ready.send(Err(format!("cannot enter network namespace {ns}: {err}")));
            return;
        }
    }
    raise_priority();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(err) => {
            let _ = ready.send(Err(format!("cannot start its runtime: {err}")));
            return;
        }
    };
    runtime.block_on(async move {
        let mut manager = match Manager::new(options, state) {
            Ok(m) => m,
            Err(err) => {
                let _ = ready.send(Err(err));
                return;
            }
        };
        manager.boot().await;
        let _ = ready.send(Ok(()));
        manager.serve(inbox).await;
    });
}

/// Move this thread (only) into `/run/netns/NAME`.
fn enter_netns(name: &str) -> Result<(), String> {
    let path = format!("/run/netns/{name}");
    let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
    nix::sched::setns(file, nix::sched::CloneFlags::CLONE_NEWNET).map_err(|e| e.to_string())
}

/// One interface's DHCP client and what it last reported.
struct DhcpClient {
    mac: String,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
    phase: Phase,
    since: SystemTime,
    lease: Option<LeaseHeld>,
    message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Waiting,
    Bound,
    Renewing,
    Rebinding,
    Failed,
}

struct LeaseHeld {
    lease: Lease,
    obtained: SystemTime,
    /// `None`: an infinite lease.
    expires: Option<Instant>,
}

/// A shared IP this appliance holds: on the interface and announced.
struct HeldIp {
    mac: String,
    iface: String,
    status: HeldStatus,
    /// The announcer; `None` in dev mode.
    task: Option<JoinHandle<()>>,
}

impl Drop for HeldIp {
    fn drop(&mut self) {
        if let Some(task) = &self.task {
            task.abort();
        }
    }
}

/// A shared IP a probe found free, about to be added and announced.
struct Taking {
    address: IpNet,
    mac: String,
    link: Link,
    /// `None` in dev mode.
    socket: Option<super::packet::PacketSocket>,
    probe_started: Instant,
    probe_done: Instant,
    /// When the request that enables it reached the daemon.
    requested: Option<std::time::Instant>,
}

/// The change waiting for confirmation.
struct Pending {
    previous: NetworkConfig,
    previous_factory: bool,
    deadline: Instant,
    deadline_unix: u64,
    by: String,
    from: Option<IpAddr>,
}

pub(super) struct Manager {
    kernel: Option<apply::KernelSide>,
    store: Option<Store>,
    profile: String,
    initial: Option<NetworkConfig>,
    init_dir: Option<PathBuf>,
    confirm_after: Duration,
    state: Arc<State>,
    events_tx: mpsc::UnboundedSender<dhcp::Event>,
    events_rx: Option<mpsc::UnboundedReceiver<dhcp::Event>>,
    running: Validated,
    /// `running` is the factory defaults (nothing stored, or the stored settings unusable).
    factory: bool,
    pending: Option<Pending>,
    notes: Vec<String>,
    /// The NICs present, as last read.
    nics: Vec<Link>,
    dhcp: BTreeMap<String, DhcpClient>,
    shared: BTreeMap<IpNet, HeldIp>,
    /// Shared IPs being taken, wanted on their interface while it is reconciled.
    taking: Vec<(IpNet, String)>,
    /// Enabled shared IPs not taken at start or revert because another host held them.
    refused: BTreeMap<IpNet, ([u8; 6], SystemTime)>,
    /// DHCP interfaces that keep the IPv4 addresses found at start until their first
    /// lease: most likely the same lease, still valid, from before a restart of the
    /// daemon; removing it would cut the connections over it for nothing (and with the
    /// last address the kernel drops every route of the interface, others' too).
    keep_until_lease: std::collections::BTreeSet<String>,
    started: SystemTime,
    /// Why nothing is applied, without a kernel side.
    unapplied: String,
    /// Who decides whether the shared IPs are held (`role.rs`).
    role: super::SharedIps,
    /// When the primary probes again for shared IPs another host held.
    retry_at: Option<Instant>,
}

fn empty(config: NetworkConfig) -> Validated {
    Validated {
        config,
        interfaces: Vec::new(),
        shared_ips: Vec::new(),
        dns_servers: Vec::new(),
        dns_search: Vec::new(),
        hostname: None,
    }
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

fn refusal_error(refusal: Refusal) -> PutError {
    match refusal {
        Refusal::Invalid(problems) => PutError::Invalid(problems),
        Refusal::WouldDisconnect(message) => PutError::WouldDisconnect(message),
    }
}

/// A short description of settings for the audit log.
fn summary(c: &NetworkConfig) -> String {
    let mut parts: Vec<String> = c
        .interfaces
        .iter()
        .map(|i| {
            let mut what = Vec::new();
            if !i.up {
                what.push("down".to_string());
            }
            if i.dhcp {
                what.push("dhcp".to_string());
            }
            what.extend(i.addresses.iter().cloned());
            if let Some(mtu) = i.mtu {
                what.push(format!("mtu {mtu}"));
            }
            format!("{} {}", i.mac, what.join(" "))
        })
        .collect();
    if !c.gateways.is_empty() {
        parts.push(format!("gateways {}", c.gateways.join(" ")));
    }
    for r in &c.routes {
        parts.push(format!("route {} via {}", r.destination, r.gateway));
    }
    if !c.dns.servers.is_empty() {
        parts.push(format!("dns {}", c.dns.servers.join(" ")));
    }
    if !c.hostname.is_empty() {
        parts.push(format!("hostname {}", c.hostname));
    }
    parts.join("; ")
}

impl Manager {
    fn new(options: Options, state: Arc<State>) -> Result<Manager, String> {
        let kernel = match options.kernel {
            Some(k) => Some(apply::KernelSide::connect(k).map_err(|e| e.to_string())?),
            None => None,
        };
        let (events_tx, events_rx) = mpsc::unbounded_channel();
        Ok(Manager {
            kernel,
            store: options.store,
            profile: options.profile,
            initial: options.config,
            init_dir: options.init_dir,
            confirm_after: options.confirm_after,
            state,
            events_tx,
            events_rx: Some(events_rx),
            running: empty(NetworkConfig::default()),
            factory: true,
            pending: None,
            notes: Vec::new(),
            nics: Vec::new(),
            dhcp: BTreeMap::new(),
            shared: BTreeMap::new(),
            taking: Vec::new(),
            refused: BTreeMap::new(),
            keep_until_lease: Default::default(),
            started: SystemTime::now(),
            unapplied: options.unapplied.unwrap_or_else(|| {
                "dev mode: not applied; the interfaces shown are examples".to_string()
            }),
            role: options.shared_role,
            retry_at: None,
        })
    }

    fn present(&self) -> Vec<PresentNic> {
        self.nics
            .iter()
            .map(|l| PresentNic {
                name: l.name.clone(),
                mac: mac_text(&l.mac),
            })
            .collect()
    }

    fn nic_by_mac(&self, mac: &str) -> Option<&Link> {
        self.nics.iter().find(|l| mac_text(&l.mac) == mac)
    }

    /// Apply the stored settings (or the factory defaults) once, at start.
    async fn boot(&mut self) {
        self.prepare().await;
        let stored = match self.initial.take() {
            Some(c) => c,
            None => match &self.store {
                Some(store) => store.get::<NetworkConfig>().unwrap_or_else(|err| {
                    tracing::error!("network: cannot read the stored settings: {err}");
                    NetworkConfig::default()
                }),
                None => NetworkConfig::default(),
            },
        };
        self.adopt(stored);
        self.keep_until_lease = self
            .nics
            .iter()
            .filter(|n| {
                self.running
                    .interface(&mac_text(&n.mac))
                    .is_some_and(|s| s.up && s.dhcp)
            })
            .map(|n| n.name.clone())
            .collect();
        let taken = self.probe_for_start().await;
        let held_before = self.held_set();
        if let Err(err) = self.apply_all(taken).await {
            tracing::error!("network: the settings were applied only in part: {err}");
        }
        self.audit_shared(&held_before, None, "at start").await;
        self.announce_static();
    }

    /// Make `config` the settings in force (not applied yet). Stored settings that no
    /// longer fit the hardware give way to the factory defaults, with a note, which is
    /// returned.
    fn adopt(&mut self, config: NetworkConfig) -> Option<String> {
        let present = self.present();
        self.notes.clear();
        self.refused.clear();
        self.factory = config.is_factory();
        let config = if self.factory {
            NetworkConfig::factory(&self.profile, &present)
        } else {
            config
        };
        match validate_stored(&config, &present) {
            Ok(v) => {
                self.running = v;
                None
            }
            Err(refusal) => {
                let why = match refusal {
                    Refusal::Invalid(problems) => problems
                        .iter()
                        .map(|p| format!("{}: {}", p.field, p.message))
                        .collect::<Vec<_>>()
                        .join("; "),
                    Refusal::WouldDisconnect(message) => message,
                };
                let note = if present.is_empty() {
                    Some("No network interface was found.".to_string())
                } else if !self.factory {
                    let why = match super::validate::absent_nics(&config, &present) {
                        Some(absent) => format!("{absent}: {why}"),
                        None => why,
                    };
                    let note = format!(
                        "The stored network settings cannot be used here ({why}); the factory \
                         defaults are applied until new settings are saved."
                    );
                    tracing::warn!("network: {note}");
                    Some(note)
                } else {
                    None
                };
                self.notes.extend(note.clone());
                self.factory = true;
                let factory = NetworkConfig::factory(&self.profile, &present);
                self.running =
                    validate_stored(&factory, &present).unwrap_or_else(|_| empty(factory));
                note
            }
        }
    }

    /// Make `config` the settings in force and apply it as at start: shared IPs probed,
    /// applied, their changes audited, static addresses announced. The note, if the
    /// settings gave way to the factory defaults.
    async fn take(&mut self, config: NetworkConfig, context: &str) -> Option<String> {
        let held_before = self.held_set();
        let note = self.adopt(config);
        self.keep_until_lease.clear();
        let taken = self.probe_for_start().await;
        if let Err(err) = self.apply_all(taken).await {
            tracing::error!("network: applying the settings ({context}) failed in part: {err}");
        }
        self.audit_shared(&held_before, None, context).await;
        self.announce_static();
        note
    }

    /// The stored settings were replaced underneath (a restore): take them as at start.
    /// A change waiting for confirmation is dropped (the restored settings are stored).
    async fn reload(&mut self) -> Reloaded {
        self.refresh_nics().await;
        let stored = match &self.store {
            Some(store) => store.get::<NetworkConfig>().unwrap_or_else(|err| {
                tracing::error!("network: cannot read the restored settings: {err}");
                NetworkConfig::default()
            }),
            None => self.running.config.clone(),
        };
        self.pending = None;
        let note = self.take(stored, "settings restored").await;
        tracing::info!(
            factory = self.factory,
            "network: the restored settings were taken"
        );
        Reloaded {
            in_force: note.is_none(),
            note,
            hostname: self.running.config.hostname.clone(),
        }
    }

    async fn serve(mut self, mut inbox: mpsc::Receiver<Command>) {
        let Some(mut events) = self.events_rx.take() else {
            return;
        };
        let mut resync = tokio::time::interval_at(Instant::now() + RESYNC_EVERY, RESYNC_EVERY);
        loop {
            let deadline = self.pending.as_ref().map(|p| p.deadline);
            tokio::select! {
                command = inbox.recv() => match command {
                    Some(c) => self.command(c).await,
                    None => return,
                },
                Some(event) = events.recv() => self.on_dhcp(event).await,
                () = sleep_until(deadline) => self.revert().await,
                () = sleep_until(self.retry_at) => self.retry_role().await,
                _ = resync.tick() => {
                    if let Err(err) = self.reconcile_all().await {
                        tracing::warn!("network: cannot repair the interfaces: {err}");
                    }
                }
            }
        }
    }

    async fn command(&mut self, command: Command) {
        match command {
            Command::View(reply) => {
                let _ = reply.send(self.view().await);
            }
            Command::Put(config, actor, reply) => {
                let result = match self.put(*config, &actor).await {
                    Ok(()) => Ok(self.view().await),
                    Err(err) => Err(err),
                };
                let _ = reply.send(result);
            }
            Command::Reload(reply) => {
                let _ = reply.send(self.reload().await);
            }
            Command::Role(role, why, reply) => {
                let _ = reply.send(self.set_role(role, &why).await);
            }
            Command::Probe(reply) => {
                let _ = reply.send(self.probe_shared().await);
            }
            Command::Confirm(actor, reply) => {
                let result = match self.confirm(&actor).await {
                    Ok(()) => Ok(self.view().await),
                    Err(err) => Err(err),
                };
                let _ = reply.send(result);
            }
        }
    }

    async fn put(&mut self, config: NetworkConfig, actor: &Actor) -> Result<(), PutError> {
        self.refresh_nics().await;
        let validated = validate(&config, &self.present()).map_err(refusal_error)?;
        let needs_confirmation = actor.remote
            && (self.pending.is_some()
                || !self.running.config.same_connectivity(&validated.config));
        let taken = self.probe_for_change(&validated, actor).await?;
        let before = std::mem::replace(&mut self.running, validated);
        let before_factory = std::mem::replace(&mut self.factory, false);
        let notes = std::mem::take(&mut self.notes);
        let held_before = self.held_set();
        self.refused.clear();
        self.keep_until_lease.clear();
        if let Err(err) = self.apply_all(taken).await {
            tracing::error!(
                "network: the change by {} failed: {err}; restoring",
                actor.user
            );
            self.running = before;
            self.factory = before_factory;
            self.notes = notes;
            let retaken = self.probe_for_start().await;
            if let Err(again) = self.apply_all(retaken).await {
                tracing::error!("network: restoring the previous settings failed too: {again}");
            }
            return Err(PutError::ApplyFailed(format!(
                "The kernel refused the change ({err}); the previous settings were restored."
            )));
        }
        self.audit_shared(&held_before, Some(actor), "").await;
        self.announce_static();
        let detail = summary(&self.running.config);
        if needs_confirmation {
            let (previous, previous_factory) = match self.pending.take() {
                Some(p) => (p.previous, p.previous_factory),
                None => (before.config, before_factory),
            };
            let deadline_unix = unix(SystemTime::now() + self.confirm_after);
            self.pending = Some(Pending {
                previous,
                previous_factory,
                deadline: Instant::now() + self.confirm_after,
                deadline_unix,
                by: actor.user.clone(),
                from: actor.address,
            });
            tracing::info!(
                "network: settings changed by {}; they revert in {} s unless confirmed",
                actor.user,
                self.confirm_after.as_secs()
            );
            self.audit(Audit::user(
                &actor.user,
                actor.address,
                "network.change",
                format!(
                    "applied, reverts in {} s unless confirmed: {detail}",
                    self.confirm_after.as_secs()
                ),
            ))
            .await;
        } else {
            self.pending = None;
            tracing::info!("network: settings changed by {}", actor.user);
            let audit = Audit::user(&actor.user, actor.address, "network.change", detail);
            self.save(audit).await.map_err(|err| {
                PutError::ApplyFailed(format!(
                    "The change is applied but could not be saved ({err}); it will not survive \
                     a restart."
                ))
            })?;
        }
        Ok(())
    }

    async fn confirm(&mut self, actor: &Actor) -> Result<(), ConfirmError> {
        if self.pending.is_none() {
            return Err(ConfirmError::NothingPending);
        }
        let audit = Audit::user(
            &actor.user,
            actor.address,
            "network.confirm",
            summary(&self.running.config),
        );
        self.save(audit).await.map_err(ConfirmError::Store)?;
        self.pending = None;
        tracing::info!("network: change confirmed by {}", actor.user);
        Ok(())
    }

    /// The deadline passed without confirmation: back to the previous settings.
    async fn revert(&mut self) {
        let Some(pending) = self.pending.take() else {
            return;
        };
        tracing::warn!(
            "network: the change by {} was not confirmed within {} s; restoring the previous \
             settings",
            pending.by,
            self.confirm_after.as_secs()
        );
        let previous = if pending.previous_factory {
            NetworkConfig::default()
        } else {
            pending.previous
        };
        self.take(previous, "revert").await;
        self.audit(Audit::system(
            "network.revert",
            format!(
                "the change by {} was not confirmed within {} s; previous settings restored",
                pending.by,
                self.confirm_after.as_secs()
            ),
        ))
        .await;
    }

    /// Record an audit entry (nothing else changes).
    async fn audit(&self, audit: Audit) {
        let Some(store) = &self.store else {
            return;
        };
        let result = store
            .change_async(audit, |_| Ok::<(), crate::store::Error>(()))
            .await;
        if let Err(err) = result {
            tracing::error!("network: cannot write the audit log: {err}");
        }
    }

    /// Store the settings in force, with `audit`.
    async fn save(&self, audit: Audit) -> Result<(), String> {
        let Some(store) = &self.store else {
            return Ok(());
        };
        let config = self.running.config.clone();
        store
            .change_async(audit, move |tx| tx.put(&config))
            .await
            .map_err(|e| e.to_string())
    }

    fn held_set(&self) -> Vec<(IpNet, String, String)> {
        self.shared
            .iter()
            .map(|(ip, h)| (*ip, h.mac.clone(), h.iface.clone()))
            .collect()
    }

    /// Audit the shared IPs taken and released since `before`.
    async fn audit_shared(
        &self,
        before: &[(IpNet, String, String)],
        actor: Option<&Actor>,
        context: &str,
    ) {
        let now = self.held_set();
        let suffix = if context.is_empty() {
            String::new()
        } else {
            format!(" ({context})")
        };
        let entry = |action: &'static str, detail: String| match actor {
            Some(a) => Audit::user(&a.user, a.address, action, detail),
            None => Audit::system(action, detail),
        };
        for (ip, mac, iface) in &now {
            if !before.iter().any(|(i, m, _)| i == ip && m == mac) {
                let detail = format!("shared IP {ip} enabled on {iface} ({mac}){suffix}");
                self.audit(entry("network.shared_ip.enable", detail)).await;
            }
        }
        for (ip, mac, iface) in before {
            if !now.iter().any(|(i, m, _)| i == ip && m == mac) {
                let detail = format!("shared IP {ip} disabled on {iface} ({mac}){suffix}");
                self.audit(entry("network.shared_ip.disable", detail)).await;
            }
        }
        for (ip, (holder, _)) in &self.refused {
            let detail = format!(
                "shared IP {ip} not enabled: in use by {}{suffix}",
                mac_text(holder)
            );
            self.audit(entry("network.shared_ip.conflict", detail))
                .await;
        }
    }
}

//! The appliance's network: the operator's settings (addresses, DHCP, gateways, routes,
//! name servers, hostname, shared IPs) checked as a whole, applied to the kernel by
//! difference over rtnetlink (never by running `ip`), with a revert after 120 s unless a
//! change made over the network is confirmed. docs/network.md is the operator's side.
//!
//! One task owns all of it, the [`manager`], on a thread of its own (so that tests can
//! put that thread, and every socket it opens, into a network namespace); the API talks
//! to it through a [`Handle`]. The pure part is the `netconfig` crate, re-exported here
//! under its module names: [`config`] (the stored settings, factory defaults), [`validate`]
//! (checks, typed settings), [`lease`], [`route`], [`plan`] (wanted state, diff against the
//! kernel's), [`arp`] / [`ndp`] (the shared IP's frames). Here, the I/O: [`netlink`]
//! (reads and changes the kernel's state), [`dhcp`] (one client per NIC), [`shared`] +
//! [`packet`] (probe and announce the shared IP), [`resolv`] (the resolver file), [`view`]
//! (what `GET /api/v1/network` shows, filled from the store), [`oneshot`] (the hidden
//! `--net-only` mode used by tests).

pub(crate) mod dhcp;
mod manager;
pub(crate) mod netlink;
pub(crate) mod nics;
pub mod oneshot;
pub(crate) mod packet;
pub(crate) mod resolv;
pub(crate) mod shared;
pub(crate) mod view;

pub(crate) use netconfig::{arp, config, ipnet, lease, ndp, plan, route, validate};

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot as reply, watch};

pub(crate) use config::NetworkConfig;
pub(crate) use lease::Lease;
pub(crate) use validate::Problem;
pub(crate) use view::NetworkView;

pub(crate) use manager::{Probed, RoleOutcome};
pub(crate) use pair::SharedIps;

use crate::store::{Record, Store};

/// The settings are kept as the store's record `network`.
impl Record for NetworkConfig {
    const KEY: &'static str = "network";
}

/// How long a change made over the network stays applied without confirmation.
pub(crate) const CONFIRM_AFTER: Duration = Duration::from_secs(120);

/// How the manager reaches the kernel; absent in dev mode, where nothing is applied.
#[derive(Debug, Clone)]
pub(crate) struct Kernel {
    /// Run in the named network namespace (`/run/netns/NAME`), for tests.
    pub netns: Option<String>,
    /// The interfaces to manage; `None`: every Ethernet NIC found in sysfs.
    pub interfaces: Option<Vec<String>>,
    pub resolv_conf: PathBuf,
    pub sysfs_net: PathBuf,
    /// Call sethostname(2). Off in a test namespace, which shares the host's hostname.
    pub set_hostname: bool,
}

impl Kernel {
    /// The appliance's own: every NIC, `/run/resolv.conf`, the real hostname.
    pub(crate) fn appliance() -> Self {
        Kernel {
            netns: None,
            interfaces: None,
            resolv_conf: PathBuf::from(crate::paths::RESOLV_CONF),
            sysfs_net: PathBuf::from(crate::paths::SYS_CLASS_NET),
            set_hostname: true,
        }
    }
}

/// What the manager starts from.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    pub kernel: Option<Kernel>,
    /// Where the settings are kept; `None`: [`Options::config`] only, never written.
    pub store: Option<Store>,
    /// `box`, `vm`, …: chooses the factory defaults.
    pub profile: String,
    /// Settings to apply instead of the stored ones.
    pub config: Option<NetworkConfig>,
    /// Where the files init reads at the next boot are written (`/data/etc`): `hostname`,
    /// and `nics-up`, the MACs of the NICs the settings keep up (docs/boot.md).
    pub init_dir: Option<PathBuf>,
    pub confirm_after: Duration,
    /// Without a kernel side: why nothing is applied, for the view's notes (default: dev
    /// mode).
    pub unapplied: Option<String>,
    /// Who decides whether the shared IPs are held, from the start: each one's Enabled
    /// flag ([`SharedIps::Operator`]), or a failover role ([`Handle::shared_role`]).
    pub shared_role: SharedIps,
}

/// Who asks for a change.
#[derive(Debug, Clone)]
pub(crate) struct Actor {
    pub user: String,
    pub address: Option<IpAddr>,
    /// The change came over the network: it reverts unless confirmed.
    pub remote: bool,
    /// When the request reached the daemon, for the shared IP's timing.
    pub received: Option<std::time::Instant>,
}

impl Actor {
    /// A change asked for by `user` from `address`. It counts as made over the network
    /// unless it comes from the appliance itself (loopback); in dev mode every caller
    /// counts, so that the confirmation can be developed against.
    pub(crate) fn new(user: &str, address: Option<IpAddr>, mode: crate::config::Mode) -> Actor {
        let remote = mode == crate::config::Mode::Dev
            || address.is_some_and(|a| !a.to_canonical().is_loopback());
        Actor {
            user: user.to_string(),
            address,
            remote,
            received: Some(std::time::Instant::now()),
        }
    }
}

/// Why a change was refused or failed; the previous settings stay in every case.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum PutError {
    #[error("the network settings have {} problem(s)", .0.len())]
    Invalid(Vec<Problem>),
    #[error("{0}")]
    WouldDisconnect(String),
    #[error("{address} is already in use by {mac}")]
    AddressInUse { address: String, mac: String },
    #[error("{0}")]
    ApplyFailed(String),
    #[error("the network manager has stopped")]
    Stopped,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ConfirmError {
    #[error("no network change is waiting for confirmation")]
    NothingPending,
    #[error("{0}")]
    Store(String),
    #[error("the network manager has stopped")]
    Stopped,
}

enum Command {
    View(reply::Sender<NetworkView>),
    Put(
        Box<NetworkConfig>,
        Actor,
        reply::Sender<Result<NetworkView, PutError>>,
    ),
    Confirm(Actor, reply::Sender<Result<NetworkView, ConfirmError>>),
    Reload(reply::Sender<Reloaded>),
    Role(SharedIps, String, reply::Sender<RoleOutcome>),
    Probe(reply::Sender<Probed>),
}

/// What the manager did with settings replaced underneath (a restore).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reloaded {
    /// The restored settings are in force (else the factory defaults, see `note`).
    pub in_force: bool,
    /// Why the restored settings gave way to the factory defaults.
    pub note: Option<String>,
    /// The host name now in force (empty: the factory's).
    pub hostname: String,
}

/// The lease each DHCP interface holds now, by kernel name (`None`: none yet, or it
/// expired). Watchable, so that callers can wait for a lease.
#[derive(Debug, Default)]
pub(crate) struct State {
    leases: watch::Sender<BTreeMap<String, Option<Lease>>>,
}

impl State {
    fn set(&self, iface: &str, lease: Option<Lease>) {
        self.leases.send_modify(|m| {
            m.insert(iface.to_string(), lease);
        });
    }

    fn forget(&self, iface: &str) {
        self.leases.send_modify(|m| {
            m.remove(iface);
        });
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<BTreeMap<String, Option<Lease>>> {
        self.leases.subscribe()
    }
}

/// The way to the network manager; cheap to clone.
#[derive(Clone)]
pub(crate) struct Handle {
    commands: mpsc::Sender<Command>,
    pub state: Arc<State>,
}

impl std::fmt::Debug for Handle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("net::Handle")
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    #[error("cannot start the network manager thread: {0}")]
    Thread(std::io::Error),
    #[error("the network manager stopped while starting: {0}")]
    Start(String),
}

/// Start the manager and wait until it has applied the settings once (loopback up,
/// addresses and routes set, DHCP clients started: it does not wait for any lease).
pub(crate) async fn start(options: Options) -> Result<Handle, Error> {
    let (commands, inbox) = mpsc::channel(16);
    let state = Arc::new(State::default());
    let (ready_tx, ready_rx) = reply::channel();
    let thread_state = state.clone();
    std::thread::Builder::new()
        .name("network".into())
        .spawn(move || manager::run(options, thread_state, inbox, ready_tx))
        .map_err(Error::Thread)?;
    match ready_rx.await {
        Ok(Ok(())) => Ok(Handle { commands, state }),
        Ok(Err(message)) => Err(Error::Start(message)),
        Err(_) => Err(Error::Start("it ended without a word".into())),
    }
}

impl Handle {
    /// Settings and state, as `GET /api/v1/network` shows them.
    pub(crate) async fn view(&self) -> Option<NetworkView> {
        let (tx, rx) = reply::channel();
        self.commands.send(Command::View(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Check and apply `config`; the state afterwards.
    pub(crate) async fn put(
        &self,
        config: NetworkConfig,
        actor: Actor,
    ) -> Result<NetworkView, PutError> {
        let (tx, rx) = reply::channel();
        self.commands
            .send(Command::Put(Box::new(config), actor, tx))
            .await
            .map_err(|_| PutError::Stopped)?;
        rx.await.map_err(|_| PutError::Stopped)?
    }

    /// The stored settings were replaced (a restore): take them as at start, where
    /// settings naming NICs that are not present give way to the factory defaults with a
    /// note. `None` if the manager has stopped.
    pub(crate) async fn reload(&self) -> Option<Reloaded> {
        let (tx, rx) = reply::channel();
        self.commands.send(Command::Reload(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Who holds the shared IPs from now on: in a failover pair the role decides (the
    /// primary holds every shared IP of the settings, after the ARP/NDP probe; the backup
    /// none), out of one each entry's stored Enabled flag. The stored settings do not
    /// change. `why` goes into the audit entries. `None` if the manager has stopped.
    pub(crate) async fn shared_role(&self, role: SharedIps, why: &str) -> Option<RoleOutcome> {
        let (tx, rx) = reply::channel();
        self.commands
            .send(Command::Role(role, why.to_string(), tx))
            .await
            .ok()?;
        rx.await.ok()
    }

    /// Probe every shared IP of the settings this appliance does not hold: which were
    /// probed, and those another host answers for, with its MAC (in dev mode nothing is
    /// probed). `None` if the manager has stopped.
    pub(crate) async fn probe_shared(&self) -> Option<Probed> {
        let (tx, rx) = reply::channel();
        self.commands.send(Command::Probe(tx)).await.ok()?;
        rx.await.ok()
    }

    /// Keep the change waiting for confirmation.
    pub(crate) async fn confirm(&self, actor: Actor) -> Result<NetworkView, ConfirmError> {
        let (tx, rx) = reply::channel();
        self.commands
            .send(Command::Confirm(actor, tx))
            .await
            .map_err(|_| ConfirmError::Stopped)?;
        rx.await.map_err(|_| ConfirmError::Stopped)?
    }
}

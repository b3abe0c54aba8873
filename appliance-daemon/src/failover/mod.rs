//! The failover pair, as a domain service: the inter-appliance key, establish and break,
//! the role and epoch (the rules are `crates/pair`'s), the peer's state over the pair
//! channel, and what `GET /api/v1/failover` shows. No HTTP here: the pair channel's
//! requests reach [`Failover`]'s `answer_*` methods through `api/peer.rs`, with the
//! public-key SHA-256 of the client certificate the TLS layer verified.
//!
//! docs/failover.md is the design, the protocol and the threat model. The shared IPs
//! following the role and Become primary are in `roles.rs`, automatic failover in
//! `auto.rs`; what the sync adds plugs in here (see its "Next parts").

mod auto;
mod channel;
mod peer;
mod record;
mod roles;
mod sync;

use std::net::IpAddr;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ring::rand::SecureRandom;

pub(crate) use api_types::{BreakAnswer, EstablishRequest, Failover as View, FailoverKey};
pub(crate) use record::PairRecord;
pub(crate) use roles::shared_role_at_start;
pub(crate) use sync::{
    ManagedBy, PeerManifest, PeerSynced, SyncError, SyncSetup, SyncTiming, GENERATION_HEADER,
};

use crate::store::{Audit, Store};
use crate::update::Updater;
use pair::{Action, Event};
use record::{FormerPeer, PeerRecord};

/// The pair identity's directory in the data directory (the machine's, never carried).
pub(crate) const PAIR_DIR: &str = "pair";

/// How often a paired appliance checks its peer (until the automatic failover sets its
/// own pace).
const WATCH_INTERVAL: Duration = Duration::from_secs(2);
/// How long a hello's challenge stays usable.
const CHALLENGE_TTL: Duration = Duration::from_secs(30);
/// The most challenges kept at once (a stranger's hellos cannot fill the memory).
const CHALLENGES_MAX: usize = 16;

#[derive(Debug, thiserror::Error)]
pub(crate) enum FailoverError {
    #[error(
        "no inter-appliance key is set on this appliance; set the same key on both appliances \
         first"
    )]
    NoKey,
    #[error("the inter-appliance key is refused: {0}")]
    Key(#[from] pair::KeyError),
    #[error("give either the key (\"key\") or \"generate\": true, not both and not neither")]
    KeyRequest,
    #[error("{0}")]
    Role(#[from] pair::Refusal),
    #[error("the {what} address is not usable: {reason}")]
    Address { what: &'static str, reason: String },
    #[error("{endpoint} cannot be reached: {detail}")]
    Unreachable { endpoint: String, detail: String },
    #[error(
        "{endpoint} does not answer as an appliance's pair channel (wrong port, or not an \
         appliance): {detail}"
    )]
    NotAnAppliance { endpoint: String, detail: String },
    #[error(
        "the appliance at {0} has no inter-appliance key set; set the same key on it (Failover \
         page) first"
    )]
    PeerNoKey(String),
    #[error(
        "the two appliances do not hold the same inter-appliance key; compare the key \
         fingerprints on both Failover pages and set the same key"
    )]
    KeysDiffer,
    #[error("{0} is this appliance itself; give the address of the other appliance")]
    SelfPair(String),
    #[error(
        "the appliance at {endpoint} is already in a failover pair{detail}; break that \
         relationship there first, or choose another appliance"
    )]
    PeerPaired { endpoint: String, detail: String },
    #[error(
        "the appliances run different versions ({detail}); both must run the same installed \
         package"
    )]
    Mismatch { detail: String },
    /// The backup could not call the primary back (its sentence names the address).
    #[error("{0}")]
    ReverseFailed(String),
    #[error("the peer refused: {0}")]
    PeerRefused(String),
    /// A pair-channel request from a client that is not this appliance's peer.
    #[error("this appliance is not in a failover pair with the caller")]
    NotYourPeer,
    /// A pair-channel request from the peer of a relationship broken since.
    #[error("the failover relationship was broken on this appliance at {at}")]
    PairBroken { at: u64 },
    /// An establish whose challenge is unknown, expired, already used, or asked by
    /// another client.
    #[error("the establish challenge is unknown, expired or already used; start again")]
    UnknownChallenge,
    #[error("the request is malformed: {0}")]
    BadRequest(String),
    /// Become primary without the peer: a shared IP still answers from another host.
    #[error(
        "the peer did not answer, but the shared IP {address} still answers from {by}: the old \
         primary (or another host) may still hold it; take it off the network or power it \
         off, then try again"
    )]
    SharedIpInUse { address: String, by: String },
    /// Become primary: the peer is primary at a higher epoch and stays so.
    #[error(
        "the peer is primary at epoch {epoch}, above this appliance's; it stays primary and \
         this appliance follows it as backup"
    )]
    PeerStaysPrimary { epoch: u64 },
    /// The stored pin of the peer is not a SHA-256: the record is damaged.
    #[error(
        "the stored identity of the peer {appliance_id} is damaged; break the failover \
         relationship and establish it again"
    )]
    BadPin { appliance_id: String },
    #[error("{0}")]
    Setting(String),
    #[error("the system random number generator failed")]
    Random,
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

impl FailoverError {
    /// The stable code the API answers with (and the peer maps back).
    pub(crate) fn code(&self) -> &'static str {
        match self {
            FailoverError::NoKey => "no_key",
            FailoverError::Key(_) | FailoverError::KeyRequest => "invalid_key",
            FailoverError::Role(pair::Refusal::AlreadyPaired(_)) => "already_paired",
            FailoverError::Role(pair::Refusal::NotPaired) => "not_paired",
            FailoverError::Role(_) => "wrong_role",
            FailoverError::Address { .. } => "invalid_address",
            FailoverError::Unreachable { .. } => "peer_unreachable",
            FailoverError::NotAnAppliance { .. } => "peer_not_appliance",
            FailoverError::PeerNoKey(_) => "peer_no_key",
            FailoverError::KeysDiffer => "key_mismatch",
            FailoverError::SelfPair(_) => "peer_is_self",
            FailoverError::PeerPaired { .. } => "peer_paired",
            FailoverError::Mismatch { .. } => "version_mismatch",
            FailoverError::ReverseFailed(_) => "reverse_unreachable",
            FailoverError::PeerRefused(_) => "peer_refused",
            FailoverError::NotYourPeer => "not_your_peer",
            FailoverError::PairBroken { .. } => "pair_broken",
            FailoverError::UnknownChallenge => "challenge_unknown",
            FailoverError::BadRequest(_) => "bad_request",
            FailoverError::SharedIpInUse { .. } => "shared_ip_in_use",
            FailoverError::PeerStaysPrimary { .. } => "peer_primary",
            FailoverError::Setting(_) => "invalid_setting",
            FailoverError::BadPin { .. } | FailoverError::Random | FailoverError::Store(_) => {
                "internal"
            }
        }
    }
}

/// What this appliance says of itself to a peer.
#[derive(Debug, Clone)]
struct Facts {
    appliance_id: String,
    version: String,
    profile: String,
}

/// A hello answered: the nonces and the client it was answered to, until the establish
/// that uses it (once).
#[derive(Debug, Clone)]
struct Challenge {
    backup_nonce: [u8; 32],
    primary_nonce: [u8; 32],
    client: [u8; 32],
    /// What the caller said of itself in its hello.
    facts: api_types::PeerFacts,
    made: Instant,
}

/// Whether the peer answered the last check: unknown, yes, no.
const REACH_UNKNOWN: u8 = 0;
const REACH_YES: u8 = 1;
const REACH_NO: u8 = 2;

#[derive(Debug)]
pub(crate) struct Failover {
    store: Store,
    facts: Facts,
    updater: Arc<Updater>,
    /// This appliance's pair identity (client certificate, and the server's on the pair
    /// channel).
    identity: appliancectl::ClientIdentity,
    identity_sha256: [u8; 32],
    /// One operator's change, or one establish asked by a peer, at a time.
    busy: tokio::sync::Mutex<()>,
    challenges: Mutex<Vec<Challenge>>,
    /// During an establish this appliance leads: the backup's identity, which may call
    /// `confirm` until the deadline.
    expecting: Mutex<Option<([u8; 32], Instant)>>,
    reachable: AtomicU8,
    random: ring::rand::SystemRandom,
    /// The sync primary → backup (`sync.rs`).
    sync: sync::SyncState,
    /// The shared IPs and the automatic failover's checks (`roles.rs`, `auto.rs`).
    roles: roles::Roles,
}

impl Failover {
    pub(crate) fn new(
        store: Store,
        updater: Arc<Updater>,
        identity: &crate::tls::Identity,
        version: &str,
        profile: &str,
    ) -> Result<Self, crate::store::Error> {
        let appliance_id = store.identity()?.appliance_id;
        Ok(Failover {
            store,
            facts: Facts {
                appliance_id,
                version: version.to_string(),
                profile: profile.to_string(),
            },
            updater,
            identity: identity.client_identity(),
            identity_sha256: identity.public_key_sha256(),
            busy: tokio::sync::Mutex::new(()),
            challenges: Mutex::new(Vec::new()),
            expecting: Mutex::new(None),
            reachable: AtomicU8::new(REACH_UNKNOWN),
            random: ring::rand::SystemRandom::new(),
            sync: sync::SyncState::default(),
            roles: roles::Roles::default(),
        })
    }

    fn record(&self) -> Result<PairRecord, FailoverError> {
        Ok(self.store.get::<PairRecord>()?)
    }

    /// `GET /api/v1/failover`.
    pub(crate) fn view(&self) -> Result<View, FailoverError> {
        let record = self.record()?;
        let reachable = self.reachable.load(Ordering::Relaxed) == REACH_YES;
        Ok(View {
            role: record.state.role,
            epoch: record.state.epoch,
            peer: record.peer.as_ref().map(|p| api_types::FailoverPeer {
                host: p.host.clone(),
                port: p.port,
                reachable,
                appliance_id: p.appliance_id.clone(),
                identity_sha256: p
                    .pin_bytes()
                    .map(|pin| appliancectl::format_fingerprint(&pin))
                    .unwrap_or_default(),
                since: p.since,
            }),
            last_sync: record.last_sync,
            generation: record.generation,
            auto: record.auto.clone(),
            key_fingerprint: record.key().map(|k| k.fingerprint()),
            last_event: record.last_event.clone(),
            sync: self.sync_view(&record),
        })
    }

    /// The pair's sync on Status (`failover` in `GET /api/v1/status`): `None` out of a
    /// pair.
    pub(crate) fn pair_status(&self) -> Result<Option<api_types::PairStatus>, FailoverError> {
        let view = self.view()?;
        Ok(view.peer.map(|peer| api_types::PairStatus {
            role: view.role,
            epoch: view.epoch,
            peer: if peer.host.contains(':') {
                format!("[{}]:{}", peer.host, peer.port)
            } else {
                format!("{}:{}", peer.host, peer.port)
            },
            peer_reachable: peer.reachable,
            last_sync: view.last_sync,
            generation: view.generation,
            lag_seconds: view.sync.lag_seconds,
            last_error: view.sync.last_error,
        }))
    }

    /// `PUT /api/v1/failover/key`: the operator's key, or a new one answered this once.
    pub(crate) async fn set_key(
        &self,
        key: Option<&str>,
        generate: bool,
        user: &str,
        address: Option<IpAddr>,
    ) -> Result<FailoverKey, FailoverError> {
        let key = match (key, generate) {
            (Some(text), false) => pair::Key::parse(text)?,
            (None, true) => {
                let mut random = [0u8; pair::key::GENERATED_SYMBOLS];
                self.random
                    .fill(&mut random)
                    .map_err(|_| FailoverError::Random)?;
                pair::Key::generate(&random)
            }
            _ => return Err(FailoverError::KeyRequest),
        };
        let _busy = self.busy.lock().await;
        let fingerprint = key.fingerprint();
        let stored = key.as_stored().to_string();
        let how = if generate { "generated" } else { "entered" };
        self.store
            .change_async(
                Audit::user(
                    user,
                    address,
                    "failover.key",
                    format!("inter-appliance key {how}; fingerprint {fingerprint}"),
                ),
                move |tx| {
                    let mut record: PairRecord = tx.get()?;
                    record.key = Some(stored);
                    tx.put(&record)
                },
            )
            .await?;
        tracing::info!(%fingerprint, "inter-appliance key {how}");
        Ok(FailoverKey {
            key_fingerprint: fingerprint,
            key: generate.then(|| key.display()),
        })
    }

    /// `POST /api/v1/failover/break`: forget the relationship here (nothing else), then
    /// tell the peer if it answers; it learns otherwise when it next calls.
    pub(crate) async fn break_pair(
        &self,
        user: &str,
        address: Option<IpAddr>,
    ) -> Result<BreakAnswer, FailoverError> {
        let busy = self.busy.lock().await;
        let record = self.record()?;
        let Some(peer) = record.peer.clone() else {
            return Err(pair::Refusal::NotPaired.into());
        };
        let transition = self.transition(&record, Event::BrokenByUs)?;
        let detail = format!(
            "failover relationship with {} ({}:{}) broken; this appliance was the {}",
            peer.appliance_id, peer.host, peer.port, record.state.role
        );
        self.commit(
            Audit::user(user, address, "failover.break", detail),
            transition,
            Some("The relationship was broken on this appliance.".to_string()),
        )
        .await?;
        // Not held while the peer is told: a break made on both sides at once must not
        // wait on each other.
        drop(busy);
        let peer_told = match self.tell_break(&peer).await {
            Ok(()) => true,
            Err(err) => {
                tracing::info!(
                    "the peer was not told of the break (it learns on its next call): {err}"
                );
                false
            }
        };
        Ok(BreakAnswer {
            peer_told,
            failover: self.view()?,
        })
    }

    /// The state machine's step from the stored state, with the ids of the pair.
    fn transition(
        &self,
        record: &PairRecord,
        event: Event,
    ) -> Result<pair::Transition, FailoverError> {
        let peer_id = record
            .peer
            .as_ref()
            .map(|p| p.appliance_id.as_str())
            .unwrap_or_default();
        Ok(pair::step(
            record.state,
            pair::Ids {
                ours: &self.facts.appliance_id,
                peer: peer_id,
            },
            event,
        )?)
    }

    /// Store a transition's state (and forget the peer if it says so) with `audit`, then
    /// carry out its actions on the shared IPs (what became of them, if it had any).
    /// Telling the peer is the caller's.
    async fn commit(
        &self,
        audit: Audit,
        transition: pair::Transition,
        message: Option<String>,
    ) -> Result<Option<crate::net::RoleOutcome>, FailoverError> {
        let forget = transition.actions.contains(&Action::ForgetPeer);
        let state = transition.state;
        let note = message.or_else(|| transition.note.map(describe));
        self.store
            .change_async(audit, move |tx| {
                let mut record: PairRecord = tx.get()?;
                record.state = state;
                if forget {
                    if let Some(peer) = record.peer.take() {
                        record.former = Some(FormerPeer {
                            appliance_id: peer.appliance_id,
                            pin: peer.pin,
                            broken_at: units::now(),
                        });
                    }
                }
                if let Some(note) = note {
                    record.note(note);
                }
                tx.put(&record)
            })
            .await?;
        if forget {
            self.reachable.store(REACH_UNKNOWN, Ordering::Relaxed);
        }
        self.roles.changed();
        let mut outcome = None;
        for action in &transition.actions {
            if let Action::SharedIps(ips) = action {
                outcome = self.shared_ips(*ips).await;
            }
        }
        Ok(outcome)
    }

    /// Whether the pair channel's client `client` is this appliance's peer; the record.
    fn peer_of(&self, client: [u8; 32]) -> Result<(PairRecord, PeerRecord), FailoverError> {
        let record = self.record()?;
        if let Some(peer) = record.peer.clone() {
            if peer.pin_bytes() == Some(client) {
                return Ok((record, peer));
            }
        }
        match &record.former {
            Some(former) if former.pin == hex::encode(client) => Err(FailoverError::PairBroken {
                at: former.broken_at,
            }),
            _ => Err(FailoverError::NotYourPeer),
        }
    }

    fn nonce(&self) -> Result<[u8; 32], FailoverError> {
        let mut nonce = [0u8; 32];
        self.random
            .fill(&mut nonce)
            .map_err(|_| FailoverError::Random)?;
        Ok(nonce)
    }

    /// The site packages in use: name -> version.
    fn sites(&self) -> Result<std::collections::BTreeMap<String, String>, FailoverError> {
        Ok(self
            .updater
            .updates()?
            .sites
            .into_iter()
            .map(|(name, site)| (name, site.version))
            .collect())
    }

    /// What this appliance says of itself.
    fn peer_facts(&self, record: &PairRecord) -> Result<api_types::PeerFacts, FailoverError> {
        Ok(api_types::PeerFacts {
            appliance_id: self.facts.appliance_id.clone(),
            version: self.facts.version.clone(),
            profile: self.facts.profile.clone(),
            sites: self.sites()?,
            role: record.state.role,
            epoch: record.state.epoch,
        })
    }

    /// At start: the stored role. The network manager started holding no shared IP in a
    /// pair ([`shared_role_at_start`]); the watch gives them to the role once the peer
    /// was asked ([`Failover::settle_at_start`]).
    pub(crate) fn at_start(&self) -> Result<(), FailoverError> {
        let record = self.record()?;
        if record.state.role != pair::Role::None {
            tracing::info!(role = %record.state.role, epoch = record.state.epoch, "failover pair");
        }
        Ok(())
    }

    /// Check the peer over the pair channel now and then, for as long as the daemon runs.
    pub(crate) async fn watch(self: Arc<Self>) {
        self.settle_at_start().await;
        tokio::spawn(Arc::clone(&self).auto_watch());
        loop {
            tokio::time::sleep(WATCH_INTERVAL).await;
            if self.roles.fast_checks() {
                // The automatic failover's checks (every 200 ms) do this meanwhile.
                continue;
            }
            if let Err(err) = self.check_peer().await {
                tracing::warn!("failover: checking the peer: {err}");
            }
        }
    }
}

/// The sentence the status shows for a note of the state machine.
fn describe(note: pair::Note) -> String {
    use pair::Note;
    match note {
        Note::SteppedDown { epoch } => {
            format!("This appliance became the backup: the peer is primary at epoch {epoch}.")
        }
        Note::Won { reason } => format!("Both appliances were primary; this one stayed ({reason})."),
        Note::Stale { theirs, ours } => {
            format!("A message of the peer at epoch {theirs} was ignored (this appliance is at {ours}).")
        }
        Note::BothBackups => {
            "Both appliances are backups: choose Become primary on one of them.".to_string()
        }
        Note::PeerSilent => {
            "Became primary without the peer answering; the shared IP probe guards against two holders."
                .to_string()
        }
        Note::PeerBroke => "The peer broke the failover relationship.".to_string(),
    }
}

/// Where a peer is reached, checked before anything is sent.
pub(super) fn endpoint(
    what: &'static str,
    address: &api_types::PeerAddress,
) -> Result<appliancectl::Endpoint, FailoverError> {
    let host = address.host.trim();
    let bad = |reason: &str| FailoverError::Address {
        what,
        reason: reason.to_string(),
    };
    if host.is_empty() {
        return Err(bad("the host name or address is empty"));
    }
    if address.port == 0 {
        return Err(bad("the TLS port must be between 1 and 65535"));
    }
    if host.len() > 253
        || host
            .chars()
            .any(|c| c.is_whitespace() || c == '/' || c == '@')
    {
        return Err(bad("not a host name or an IP address"));
    }
    Ok(appliancectl::Endpoint::new(
        host.trim_start_matches('[').trim_end_matches(']'),
        address.port,
    ))
}

#[cfg(test)]
mod tests;

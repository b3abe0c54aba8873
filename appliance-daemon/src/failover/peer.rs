//! This appliance answering its peer on the pair channel (`/api/v1/peer/…`, handlers in
//! `api/peer.rs`). Each call comes with `client`: the public-key SHA-256 of the
//! certificate the caller proved it holds in the TLS handshake. A hello and an establish
//! are open to any client (the key's proof decides); every other call only to the pinned
//! peer.

use std::net::IpAddr;
use std::time::Instant;

use api_types::{PeerEstablish, PeerHello, PeerHelloAnswer, PeerIdentity, PeerState};
use appliancectl::Method;
use pair::proof::{self, Direction, Transcript};
use pair::{Action, Event, Role};

use super::channel::{decode32, lock, same_installation, CallError};
use super::record::{PairRecord, PeerRecord};
use super::{
    endpoint, Challenge, Failover, FailoverError, CHALLENGES_MAX, CHALLENGE_TTL, REACH_YES,
};
use crate::store::Audit;

/// The backup's call back to the primary during an establish (inside the primary's own
/// establish call).
const REVERSE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(8);

impl Failover {
    /// `POST /api/v1/peer/hello`: a future primary asks; this appliance answers its facts,
    /// a fresh nonce and its proof of the key, and keeps the challenge for the establish.
    pub(crate) fn answer_hello(
        &self,
        client: [u8; 32],
        hello: &PeerHello,
    ) -> Result<PeerHelloAnswer, FailoverError> {
        let record = self.record()?;
        let key = record.key().ok_or(FailoverError::NoKey)?;
        if hello.facts.appliance_id == self.facts.appliance_id || client == self.identity_sha256 {
            return Err(FailoverError::SelfPair("the caller".into()));
        }
        if record.state.role != Role::None {
            return Err(pair::Refusal::AlreadyPaired(record.state.role).into());
        }
        // Versions and site packages are compared by the caller, which has both sides'
        // facts from this answer, and again here at its establish.
        let facts = self.peer_facts(&record)?;
        let primary_nonce = decode32(&hello.nonce)?;
        let backup_nonce = self.nonce()?;
        {
            let mut challenges = lock(&self.challenges);
            challenges.retain(|c| c.made.elapsed() < CHALLENGE_TTL);
            if challenges.len() >= CHALLENGES_MAX {
                challenges.remove(0);
            }
            challenges.push(Challenge {
                backup_nonce,
                primary_nonce,
                client,
                facts: hello.facts.clone(),
                made: Instant::now(),
            });
        }
        let transcript = Transcript {
            primary_nonce,
            backup_nonce,
            primary_key: client,
            backup_key: self.identity_sha256,
        };
        Ok(PeerHelloAnswer {
            facts,
            nonce: hex::encode(backup_nonce),
            proof: hex::encode(proof::prove(&key, Direction::BackupToPrimary, &transcript)),
        })
    }

    /// `POST /api/v1/peer/establish`: the future primary proves the key over this
    /// appliance's challenge (used once); this appliance calls it back at the reverse
    /// address, where it must present the same identity, then stores the relationship as
    /// the backup.
    pub(crate) async fn answer_establish(
        &self,
        client: [u8; 32],
        request: &PeerEstablish,
        address: Option<IpAddr>,
    ) -> Result<PeerIdentity, FailoverError> {
        let _busy = self.busy.lock().await;
        let backup_nonce = decode32(&request.nonce)?;
        let challenge = {
            let mut challenges = lock(&self.challenges);
            let found = challenges.iter().position(|c| {
                c.backup_nonce == backup_nonce
                    && c.client == client
                    && c.made.elapsed() < super::CHALLENGE_TTL
            });
            found.map(|i| challenges.remove(i))
        }
        .ok_or_else(|| {
            tracing::warn!(
                ?address,
                "failover: an establish with an unknown challenge was refused"
            );
            FailoverError::UnknownChallenge
        })?;
        let record = self.record()?;
        let key = record.key().ok_or(FailoverError::NoKey)?;
        if record.state.role != Role::None {
            return Err(pair::Refusal::AlreadyPaired(record.state.role).into());
        }
        let transcript = Transcript {
            primary_nonce: challenge.primary_nonce,
            backup_nonce,
            primary_key: client,
            backup_key: self.identity_sha256,
        };
        let their_proof = hex::decode(&request.proof)
            .map_err(|_| FailoverError::BadRequest("the proof is not hex".into()))?;
        if !proof::verify(&key, Direction::PrimaryToBackup, &transcript, &their_proof) {
            tracing::warn!(
                ?address,
                "failover: an establish with a wrong key proof was refused"
            );
            return Err(FailoverError::KeysDiffer);
        }
        same_installation(&self.peer_facts(&record)?, &challenge.facts)?;
        if request.primary_id == self.facts.appliance_id {
            return Err(FailoverError::SelfPair("the caller".into()));
        }
        let reverse = endpoint("reverse", &request.reverse)?;
        let name = reverse.to_string();
        let reverse_failed = |detail: String| {
            FailoverError::ReverseFailed(format!(
                "the backup cannot reach the primary back at {name}: {detail}"
            ))
        };
        let back = self.client(reverse.clone(), Some(client), REVERSE_TIMEOUT)?;
        let (confirmed, _) =
            Self::call::<PeerIdentity>(&back, Method::GET, "/api/v1/peer/confirm", None::<&()>)
                .await
                .map_err(|e| match e {
                    CallError::Transport(e) => reverse_failed(e.to_string()),
                    CallError::Refused { message, .. } => reverse_failed(message),
                })?;
        if confirmed.appliance_id != request.primary_id {
            return Err(reverse_failed("another appliance answers there".into()));
        }
        let peer = PeerRecord {
            appliance_id: request.primary_id.clone(),
            host: reverse.host.clone(),
            port: reverse.port,
            pin: hex::encode(client),
            since: units::now(),
        };
        let transition = self.transition(
            &record,
            Event::Established {
                role: Role::Backup,
                epoch: request.epoch,
            },
        )?;
        let epoch = transition.state.epoch;
        let detail = format!(
            "failover relationship established: this appliance is the backup of {} at {name}, epoch {epoch}",
            peer.appliance_id
        );
        self.commit_with_peer(
            Audit::user("peer", address, "failover.establish", detail),
            transition,
            peer.clone(),
        )
        .await?;
        self.reachable
            .store(REACH_YES, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(primary = %peer.appliance_id, %name, epoch, "failover: established as backup");
        Ok(PeerIdentity {
            appliance_id: self.facts.appliance_id.clone(),
            epoch,
        })
    }

    /// `GET /api/v1/peer/confirm`: the backup's call back during an establish this
    /// appliance leads; only the identity the hello found is answered.
    pub(crate) fn answer_confirm(&self, client: [u8; 32]) -> Result<PeerIdentity, FailoverError> {
        match *lock(&self.expecting) {
            Some((expected, deadline)) if expected == client && Instant::now() < deadline => {
                Ok(PeerIdentity {
                    appliance_id: self.facts.appliance_id.clone(),
                    epoch: self.record()?.state.epoch,
                })
            }
            _ => Err(FailoverError::NotYourPeer),
        }
    }

    /// `POST /api/v1/peer/state`: the peer's role and epoch, applied to ours; the answer
    /// is ours after that. (A peer that lost learns it from this answer, by the same rules
    /// on its side.)
    pub(crate) async fn answer_state(
        &self,
        client: [u8; 32],
        theirs: &PeerState,
    ) -> Result<PeerState, FailoverError> {
        let (_, peer) = self.peer_of(client)?;
        self.reachable
            .store(REACH_YES, std::sync::atomic::Ordering::Relaxed);
        let event = Event::PeerSeen {
            role: theirs.role,
            epoch: theirs.epoch,
        };
        let (state, _) = self
            .peer_event(&peer, event, "the peer's check", None)
            .await?;
        Ok(self.state_message(state))
    }

    /// `POST /api/v1/peer/primary`: the peer is primary at the epoch given and this
    /// appliance must be backup (if the epoch says so).
    pub(crate) async fn answer_primary(
        &self,
        client: [u8; 32],
        theirs: &PeerState,
        address: Option<IpAddr>,
    ) -> Result<PeerState, FailoverError> {
        let (_, peer) = self.peer_of(client)?;
        let event = Event::PeerIsPrimary {
            epoch: theirs.epoch,
        };
        let (state, _) = self
            .peer_event(&peer, event, "the peer said it is primary", address)
            .await?;
        Ok(self.state_message(state))
    }

    /// `POST /api/v1/peer/break`: the peer broke the relationship. Said again, it is
    /// answered the same.
    pub(crate) async fn answer_break(
        &self,
        client: [u8; 32],
        address: Option<IpAddr>,
    ) -> Result<PeerState, FailoverError> {
        let state = match self.peer_of(client) {
            Ok((_, peer)) => {
                self.peer_event(
                    &peer,
                    Event::BrokenByPeer,
                    "the peer broke the relationship",
                    address,
                )
                .await?
                .0
            }
            Err(FailoverError::PairBroken { .. }) => self.record()?.state,
            Err(e) => return Err(e),
        };
        Ok(self.state_message(state))
    }

    /// Apply `event` about `peer` (if it is still the peer); store and audit when the
    /// state changes. Returns this appliance's state after it, and what must still be
    /// said to the peer.
    pub(super) async fn peer_event(
        &self,
        peer: &PeerRecord,
        event: Event,
        why: &str,
        address: Option<IpAddr>,
    ) -> Result<(pair::State, Vec<Action>), FailoverError> {
        let _busy = self.busy.lock().await;
        let record = self.record()?;
        if record.peer.as_ref().map(|p| &p.pin) != Some(&peer.pin) {
            return Ok((record.state, Vec::new()));
        }
        let transition = self.transition(&record, event)?;
        let state = transition.state;
        let tell: Vec<Action> = transition
            .actions
            .iter()
            .filter(|a| matches!(a, Action::TellPeerPrimary { .. }))
            .copied()
            .collect();
        let acts = transition
            .actions
            .iter()
            .any(|a| !matches!(a, Action::TellPeerPrimary { .. }));
        if transition.state != record.state || acts {
            let detail = match transition.state.role {
                Role::None => format!(
                    "{why}: the failover relationship with {} is over",
                    peer.appliance_id
                ),
                role => format!(
                    "{why}: this appliance is now {role} at epoch {}",
                    transition.state.epoch
                ),
            };
            let message = super::roles::stepped_down(event, transition.note);
            let detail = match &message {
                Some(m) => format!("{why}: {m}"),
                None => detail,
            };
            let audit = Audit {
                address,
                ..Audit::system("failover.role", detail)
            };
            self.commit(audit, transition, message).await?;
        }
        Ok((state, tell))
    }

    /// [`Failover::commit`] of an establish: the new peer and the state in one change.
    pub(super) async fn commit_with_peer(
        &self,
        audit: Audit,
        transition: pair::Transition,
        peer: PeerRecord,
    ) -> Result<(), FailoverError> {
        let state = transition.state;
        self.store
            .change_async(audit, move |tx| {
                let mut record: PairRecord = tx.get()?;
                record.state = state;
                record.peer = Some(peer);
                record.former = None;
                record.note("The failover relationship was established.");
                tx.put(&record)
            })
            .await?;
        self.roles.changed();
        for action in &transition.actions {
            if let Action::SharedIps(ips) = action {
                self.shared_ips(*ips).await;
            }
        }
        Ok(())
    }
}

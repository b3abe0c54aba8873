//! This appliance calling its peer over the pair channel: establish as the future
//! primary, the periodic check, telling the peer of a break or that it lost. Every call
//! presents this appliance's pair identity and sends the pair channel's server name; once
//! paired, only the pinned identity is accepted from the peer.

use std::time::{Duration, Instant};

use appliancectl::{Client, Endpoint, Method, Trust};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::record::PeerRecord;
use super::{endpoint, Failover, FailoverError, REACH_NO, REACH_YES};
use crate::store::Audit;
use api_types::{EstablishRequest, PeerEstablish, PeerHello, PeerHelloAnswer, PeerIdentity};
use pair::proof::{self, Direction, Transcript};
use pair::{Action, Event, Role};

/// One establish call (the backup's reverse check included).
const ESTABLISH_TIMEOUT: Duration = Duration::from_secs(20);
/// One check or notice.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);
/// How long the backup may take to call back during an establish.
const CONFIRM_WINDOW: Duration = Duration::from_secs(30);

/// A call that did not give the answer hoped for.
#[derive(Debug)]
pub(super) enum CallError {
    /// No appliance's pair channel answered (unreachable, wrong port, not an appliance,
    /// another identity than the pinned one).
    Transport(FailoverError),
    /// The peer answered with an API error.
    Refused { code: String, message: String },
}

impl Failover {
    pub(super) fn client(
        &self,
        endpoint: Endpoint,
        pin: Option<[u8; 32]>,
        timeout: Duration,
    ) -> Result<Client, FailoverError> {
        let trust = match pin {
            Some(sha256) => Trust::Pinned { sha256 },
            // The hello: any identity, then proven by the key.
            None => Trust::InsecureAcceptAny,
        };
        let name = endpoint.to_string();
        let mut client = Client::with_identity(
            endpoint,
            &trust,
            self.identity.clone(),
            pair::PAIR_SERVER_NAME,
        )
        .map_err(|e| FailoverError::Unreachable {
            endpoint: name,
            detail: e.to_string(),
        })?;
        client.set_timeout(timeout);
        Ok(client)
    }

    /// A client for the peer of the relationship, pinned on the identity taken at
    /// establish. A stored pin that is not a SHA-256 (a damaged record) is an error, never
    /// a client that accepts any server.
    pub(super) fn peer_client(
        &self,
        peer: &PeerRecord,
        timeout: Duration,
    ) -> Result<Client, FailoverError> {
        let pin = peer.pin_bytes().ok_or_else(|| FailoverError::BadPin {
            appliance_id: peer.appliance_id.clone(),
        })?;
        self.client(
            Endpoint::new(peer.host.clone(), peer.port),
            Some(pin),
            timeout,
        )
    }

    /// One request; the answer and the public-key SHA-256 of the server's certificate.
    pub(super) async fn call<T: DeserializeOwned>(
        client: &Client,
        method: Method,
        path: &str,
        body: Option<&impl Serialize>,
    ) -> Result<(T, Option<[u8; 32]>), CallError> {
        let body = body.map(serde_json::to_value).transpose().map_err(|e| {
            CallError::Transport(FailoverError::BadRequest(format!(
                "the request cannot be written: {e}"
            )))
        })?;
        Self::answer(
            client.endpoint().to_string(),
            client.send(method, path, body.as_ref()).await,
        )
    }

    /// What a peer's `response` to a call is worth: its answer, or why not.
    pub(super) fn answer<T: DeserializeOwned>(
        name: String,
        response: Result<appliancectl::Response, appliancectl::Error>,
    ) -> Result<(T, Option<[u8; 32]>), CallError> {
        let not_appliance = |detail: String| {
            CallError::Transport(FailoverError::NotAnAppliance {
                endpoint: name.clone(),
                detail,
            })
        };
        let response = match response {
            Ok(response) => response,
            Err(
                e @ (appliancectl::Error::Connect { .. }
                | appliancectl::Error::Resolve { .. }
                | appliancectl::Error::Timeout { .. }),
            ) => {
                return Err(CallError::Transport(FailoverError::Unreachable {
                    endpoint: name,
                    detail: e.to_string(),
                }))
            }
            Err(appliancectl::Error::CertificateMismatch { .. }) => {
                return Err(not_appliance(
                    "it presents another pair identity than the one pinned at establish".into(),
                ))
            }
            Err(e) => return Err(not_appliance(e.to_string())),
        };
        let seen = response
            .peer_certificate
            .as_ref()
            .map(|c| appliancectl::tls::fingerprint(c.as_ref()));
        if response.status.is_success() {
            let answer = response
                .json::<T>()
                .map_err(|e| not_appliance(e.to_string()))?;
            return Ok((answer, seen));
        }
        match serde_json::from_slice::<api_types::ErrorBody>(&response.body) {
            Ok(e) if !e.error.is_empty() && e.error != "not_found" => Err(CallError::Refused {
                code: e.error,
                message: e.message,
            }),
            _ => Err(not_appliance(format!(
                "it answered HTTP {} to the pair channel",
                response.status
            ))),
        }
    }

    /// `POST /api/v1/failover/establish`, on the future primary. Nothing is stored on
    /// either side unless both checked everything.
    pub(crate) async fn establish(
        &self,
        request: &EstablishRequest,
        user: &str,
        address: Option<std::net::IpAddr>,
    ) -> Result<api_types::Failover, FailoverError> {
        let busy = self.busy.lock().await;
        let result = self.lead_establish(request, user, address).await;
        drop(busy);
        if let Err(err) = &result {
            tracing::warn!("failover: establish refused: {err}");
            let detail = format!(
                "establish with {}:{} refused: {err}",
                request.backup.host, request.backup.port
            );
            // The refusal is recorded; the relationship is not.
            if let Err(e) = self
                .store
                .change_async(
                    Audit::user(user, address, "failover.establish_refused", detail),
                    |_| Ok::<_, crate::store::Error>(()),
                )
                .await
            {
                tracing::error!("cannot record the refused establish: {e}");
            }
        }
        result?;
        self.view()
    }

    async fn lead_establish(
        &self,
        request: &EstablishRequest,
        user: &str,
        address: Option<std::net::IpAddr>,
    ) -> Result<(), FailoverError> {
        let record = self.record()?;
        if record.state.role != Role::None {
            return Err(pair::Refusal::AlreadyPaired(record.state.role).into());
        }
        let key = record.key().ok_or(FailoverError::NoKey)?;
        let backup = endpoint("backup", &request.backup)?;
        endpoint("reverse", &request.reverse)?;
        let name = backup.to_string();
        let refused = |e: CallError| match e {
            CallError::Transport(e) => e,
            CallError::Refused { code, message } => from_peer_code(&code, message, &name),
        };

        // 1. Hello: the backup's facts, its nonce and its proof of the key.
        let primary_nonce = self.nonce()?;
        let hello = PeerHello {
            facts: self.peer_facts(&record)?,
            nonce: hex::encode(primary_nonce),
        };
        let client = self.client(backup.clone(), None, ESTABLISH_TIMEOUT)?;
        let (answer, seen) = Self::call::<PeerHelloAnswer>(
            &client,
            Method::POST,
            "/api/v1/peer/hello",
            Some(&hello),
        )
        .await
        .map_err(refused)?;
        let backup_key = seen.ok_or_else(|| FailoverError::NotAnAppliance {
            endpoint: name.clone(),
            detail: "it presented no certificate".into(),
        })?;
        if answer.facts.appliance_id == self.facts.appliance_id
            || backup_key == self.identity_sha256
        {
            return Err(FailoverError::SelfPair(name));
        }
        same_installation(&hello.facts, &answer.facts)?;
        if answer.facts.role != Role::None {
            return Err(FailoverError::PeerPaired {
                endpoint: name,
                detail: format!(" (it is the {})", answer.facts.role),
            });
        }
        let transcript = Transcript {
            primary_nonce,
            backup_nonce: decode32(&answer.nonce)?,
            primary_key: self.identity_sha256,
            backup_key,
        };
        let their_proof = hex::decode(&answer.proof)
            .map_err(|_| FailoverError::BadRequest("the peer's proof is not hex".into()))?;
        if !proof::verify(&key, Direction::BackupToPrimary, &transcript, &their_proof) {
            return Err(FailoverError::KeysDiffer);
        }

        // 2. Establish: the backup checks this proof, calls back on the reverse address
        // (the pinned identity must answer), stores, answers.
        let epoch = pair::establish_epoch(record.state.epoch, answer.facts.epoch);
        *lock(&self.expecting) = Some((backup_key, Instant::now() + CONFIRM_WINDOW));
        let establish = PeerEstablish {
            nonce: answer.nonce.clone(),
            proof: hex::encode(proof::prove(&key, Direction::PrimaryToBackup, &transcript)),
            primary_id: self.facts.appliance_id.clone(),
            epoch,
            reverse: request.reverse.clone(),
        };
        let pinned = self.client(backup.clone(), Some(backup_key), ESTABLISH_TIMEOUT)?;
        let done = Self::call::<PeerIdentity>(
            &pinned,
            Method::POST,
            "/api/v1/peer/establish",
            Some(&establish),
        )
        .await;
        *lock(&self.expecting) = None;
        let (done, _) = done.map_err(refused)?;
        if done.appliance_id != answer.facts.appliance_id {
            return Err(FailoverError::PeerRefused(
                "another appliance answered the establish".into(),
            ));
        }

        // 3. Stored here; should that fail, the backup is told to forget it.
        let peer = PeerRecord {
            appliance_id: answer.facts.appliance_id.clone(),
            host: backup.host.clone(),
            port: backup.port,
            pin: hex::encode(backup_key),
            since: units::now(),
        };
        let transition = self.transition(
            &record,
            Event::Established {
                role: Role::Primary,
                epoch,
            },
        )?;
        let detail = format!(
            "failover relationship established: this appliance is primary, backup {} at {name}, epoch {}",
            peer.appliance_id, transition.state.epoch
        );
        if let Err(err) = self
            .commit_with_peer(
                Audit::user(user, address, "failover.establish", detail),
                transition,
                peer.clone(),
            )
            .await
        {
            let _ = self.tell_break(&peer).await;
            return Err(err);
        }
        self.reachable
            .store(REACH_YES, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(backup = %peer.appliance_id, %name, epoch, "failover: established as primary");
        Ok(())
    }

    /// Tell the peer the relationship is broken.
    pub(super) async fn tell_break(&self, peer: &PeerRecord) -> Result<(), FailoverError> {
        let client = self.peer_client(peer, CHECK_TIMEOUT)?;
        let body = self.state_message(self.record()?.state);
        Self::call::<api_types::PeerState>(&client, Method::POST, "/api/v1/peer/break", Some(&body))
            .await
            .map(|_| ())
            .map_err(|e| match e {
                CallError::Transport(e) => e,
                CallError::Refused { message, .. } => FailoverError::PeerRefused(clause(&message)),
            })
    }

    pub(super) fn state_message(&self, state: pair::State) -> api_types::PeerState {
        api_types::PeerState {
            appliance_id: self.facts.appliance_id.clone(),
            role: state.role,
            epoch: state.epoch,
        }
    }

    /// One check of the peer: its role and epoch, applied to ours; a peer that says the
    /// relationship is over ends it here too.
    pub(super) async fn check_peer(&self) -> Result<(), FailoverError> {
        let record = self.record()?;
        let Some(peer) = record.peer.clone() else {
            return Ok(());
        };
        let client = self.peer_client(&peer, CHECK_TIMEOUT)?;
        let message = self.state_message(record.state);
        let answer = Self::call::<api_types::PeerState>(
            &client,
            Method::POST,
            "/api/v1/peer/state",
            Some(&message),
        )
        .await;
        self.checked(&peer, answer).await
    }

    /// The peer's answer to a check, applied: its role and epoch, or the end of the
    /// relationship; whether it answered at all.
    pub(super) async fn checked(
        &self,
        peer: &PeerRecord,
        answer: Result<(api_types::PeerState, Option<[u8; 32]>), CallError>,
    ) -> Result<(), FailoverError> {
        let reach = |yes: bool| {
            self.reachable.store(
                if yes { REACH_YES } else { REACH_NO },
                std::sync::atomic::Ordering::Relaxed,
            );
        };
        match answer {
            Ok((theirs, _)) => {
                reach(true);
                let event = Event::PeerSeen {
                    role: theirs.role,
                    epoch: theirs.epoch,
                };
                let (_, tell) = self
                    .peer_event(peer, event, "the peer's check", None)
                    .await?;
                for action in tell {
                    if let Action::TellPeerPrimary { epoch, reason } = action {
                        self.tell_primary(peer, epoch, reason).await;
                    }
                }
                Ok(())
            }
            Err(CallError::Refused { code, .. })
                if code == "pair_broken" || code == "not_your_peer" =>
            {
                reach(true);
                self.peer_event(peer, Event::BrokenByPeer, "the peer's check", None)
                    .await
                    .map(|_| ())
            }
            Err(CallError::Refused { code, message }) => {
                reach(true);
                tracing::warn!("failover: the peer refused the check ({code}): {message}");
                Ok(())
            }
            Err(CallError::Transport(err)) => {
                reach(false);
                tracing::debug!("failover: the peer did not answer: {err}");
                Ok(())
            }
        }
    }

    /// Tell the peer this appliance is primary at `epoch` (it lost; it says why in its
    /// status). Best effort: it also learns on its next check.
    async fn tell_primary(&self, peer: &PeerRecord, epoch: u64, reason: pair::LostReason) {
        let client = match self.peer_client(peer, CHECK_TIMEOUT) {
            Ok(client) => client,
            Err(e) => {
                tracing::warn!("failover: the peer was not told it lost ({reason}): {e}");
                return;
            }
        };
        let body = api_types::PeerState {
            appliance_id: self.facts.appliance_id.clone(),
            role: Role::Primary,
            epoch,
        };
        let told = Self::call::<api_types::PeerState>(
            &client,
            Method::POST,
            "/api/v1/peer/primary",
            Some(&body),
        )
        .await;
        match told {
            Ok(_) => {}
            Err(CallError::Transport(e)) => {
                tracing::info!("failover: the peer was not told it lost ({reason}): {e}");
            }
            Err(CallError::Refused { message, .. }) => {
                tracing::info!("failover: the peer was not told it lost ({reason}): {message}");
            }
        }
    }
}

/// Both appliances must run the same base version and site packages (the profile may
/// differ: a box pairs with a vm).
pub(super) fn same_installation(
    ours: &api_types::PeerFacts,
    theirs: &api_types::PeerFacts,
) -> Result<(), FailoverError> {
    if ours.version != theirs.version {
        return Err(FailoverError::Mismatch {
            detail: format!(
                "this appliance runs {}, the other {}",
                ours.version, theirs.version
            ),
        });
    }
    if ours.sites != theirs.sites {
        let show = |sites: &std::collections::BTreeMap<String, String>| {
            if sites.is_empty() {
                "no site package".to_string()
            } else {
                sites
                    .iter()
                    .map(|(n, v)| format!("{n} {v}"))
                    .collect::<Vec<_>>()
                    .join(", ")
            }
        };
        return Err(FailoverError::Mismatch {
            detail: format!(
                "site packages: this appliance has {}, the other {}",
                show(&ours.sites),
                show(&theirs.sites)
            ),
        });
    }
    Ok(())
}

/// The peer's refusal, as this appliance's error.
fn from_peer_code(code: &str, message: String, endpoint: &str) -> FailoverError {
    match code {
        "no_key" => FailoverError::PeerNoKey(endpoint.to_string()),
        "already_paired" => FailoverError::PeerPaired {
            endpoint: endpoint.to_string(),
            detail: String::new(),
        },
        "peer_is_self" => FailoverError::SelfPair(endpoint.to_string()),
        "version_mismatch" => FailoverError::Mismatch {
            detail: clause(&message),
        },
        "key_mismatch" => FailoverError::KeysDiffer,
        "reverse_unreachable" => FailoverError::ReverseFailed(clause(&message)),
        "method_not_allowed" => FailoverError::NotAnAppliance {
            endpoint: endpoint.to_string(),
            detail: message,
        },
        _ => FailoverError::PeerRefused(clause(&message)),
    }
}

/// The peer's sentence as a clause of this appliance's: no capital, no closing
/// "nothing was changed" (this appliance's message says it).
pub(super) fn clause(message: &str) -> String {
    let text = message.trim().trim_end_matches('.');
    let text = text.strip_suffix("; nothing was changed").unwrap_or(text);
    let mut chars = text.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

pub(super) fn decode32(text: &str) -> Result<[u8; 32], FailoverError> {
    let mut out = [0u8; 32];
    hex::decode_to_slice(text, &mut out)
        .map_err(|_| FailoverError::BadRequest("a nonce is not 64 hexadecimal digits".into()))?;
    Ok(out)
}

pub(super) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

//! `/api/v1/failover…` (the operator's side of the pair) and `/api/v1/peer/…` (what two
//! appliances of a pair say to each other over the pair channel; docs/failover.md).

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

pub use pair::Role;

/// `GET /api/v1/failover`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Failover {
    pub role: Role,
    /// The role epoch (term): the higher wins when two primaries meet.
    pub epoch: u64,
    pub peer: Option<FailoverPeer>,
    /// Unix seconds of the last complete sync, on the backup.
    pub last_sync: Option<u64>,
    /// The generation of the service part last synced.
    pub generation: u64,
    pub auto: AutoFailover,
    /// The inter-appliance key's fingerprint; null while no key is set.
    pub key_fingerprint: Option<String>,
    /// The last thing that happened to the relationship, for the operator (the peer
    /// broke it, this appliance stepped down, …).
    pub last_event: Option<FailoverEvent>,
    /// The sync of the service part, primary → backup.
    pub sync: FailoverSync,
}

/// The sync's state (`sync` in `GET /api/v1/failover`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FailoverSync {
    /// A first complete sync with the current peer happened (on the primary: the backup
    /// applied one; on the backup: it applied one from this primary).
    pub initial_done: bool,
    /// Unix seconds when the initial sync is due (primary, before it happened).
    pub initial_due: Option<u64>,
    /// Seconds since the oldest change of the primary's service part that the backup has
    /// not applied yet; 0 when in step (primary only).
    pub lag_seconds: u64,
    /// Unix seconds of the last comparison that found both in step (primary).
    pub last_checked: Option<u64>,
    /// The last failed sync, until one succeeds.
    pub last_error: Option<FailoverEvent>,
}

/// `POST /api/v1/failover/sync`: the generation in force on the backup once applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncAnswer {
    pub generation: u64,
    /// False when the backup already held the primary's service part (nothing was sent).
    pub changed: bool,
    /// Bytes of the snapshot sent (files the backup already held travel as their SHA-256
    /// only).
    pub bytes_sent: u64,
    pub failover: Failover,
}

/// The other appliance of the pair.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FailoverPeer {
    pub host: String,
    pub port: u16,
    /// Whether it answered the last check over the pair channel.
    pub reachable: bool,
    pub appliance_id: String,
    /// SHA-256 of its pair identity's public key (`AB:CD:…`), pinned at establish.
    pub identity_sha256: String,
    /// Unix seconds of the establish.
    pub since: u64,
}

/// Automatic failover settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct AutoFailover {
    pub enabled: bool,
    pub missed_checks: u32,
}

impl Default for AutoFailover {
    fn default() -> Self {
        AutoFailover {
            enabled: false,
            missed_checks: 5,
        }
    }
}

/// Something that happened to the relationship.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FailoverEvent {
    /// Unix seconds.
    pub at: u64,
    pub message: String,
}

/// `PUT /api/v1/failover/key`: either the key an operator typed, or `generate`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FailoverKeyRequest {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub generate: bool,
}

/// The answer of `PUT /api/v1/failover/key`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FailoverKey {
    pub key_fingerprint: String,
    /// Only when the appliance generated the key: shown this once, to be typed on the
    /// other appliance.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Where an appliance is reached: host name or address, TLS port.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerAddress {
    pub host: String,
    pub port: u16,
}

/// `POST /api/v1/failover/establish`, on the future primary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EstablishRequest {
    /// How this appliance reaches the backup.
    pub backup: PeerAddress,
    /// How the backup reaches this appliance back.
    pub reverse: PeerAddress,
}

/// The answer of `POST /api/v1/failover/break`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BreakAnswer {
    /// Whether the peer was reached and told; if not, it learns when it next connects.
    pub peer_told: bool,
    pub failover: Failover,
}

/// What an appliance says of itself when a relationship is being set up: both sides
/// compare these before anything is stored.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PeerFacts {
    pub appliance_id: String,
    /// The base version it runs.
    pub version: String,
    pub profile: String,
    /// Site packages: name -> version in use.
    pub sites: BTreeMap<String, String>,
    pub role: Role,
    pub epoch: u64,
}

/// `POST /api/v1/peer/hello` (future primary -> future backup).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PeerHello {
    pub facts: PeerFacts,
    /// 32 random bytes, hex.
    pub nonce: String,
}

/// The answer of `POST /api/v1/peer/hello`: the backup's facts, its nonce and its proof
/// of the key over both nonces and both pair identities.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PeerHelloAnswer {
    pub facts: PeerFacts,
    pub nonce: String,
    pub proof: String,
}

/// `POST /api/v1/peer/establish` (future primary -> future backup).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PeerEstablish {
    /// The backup's nonce from its hello answer (used once).
    pub nonce: String,
    /// The primary's proof of the key.
    pub proof: String,
    pub primary_id: String,
    /// The epoch both take.
    pub epoch: u64,
    /// How the backup reaches the primary back.
    pub reverse: PeerAddress,
}

/// The answer of `POST /api/v1/peer/establish` and of `GET /api/v1/peer/confirm`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PeerIdentity {
    pub appliance_id: String,
    pub epoch: u64,
}

/// `POST /api/v1/peer/state` (either side, once paired): the caller's role and epoch; the
/// answer is the callee's.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PeerState {
    pub appliance_id: String,
    pub role: Role,
    pub epoch: u64,
}

//! What the failover service stores: one record, the machine's own (never in a snapshot,
//! a sync or a backup): the key, the role and epoch, the peer and its pinned identity.

use serde::{Deserialize, Serialize};

pub(crate) use api_types::{AutoFailover, FailoverEvent};

use crate::store::Record;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct PairRecord {
    /// The inter-appliance key, normalized ([`pair::Key::as_stored`]). Never answered,
    /// never logged.
    pub key: Option<String>,
    pub state: pair::State,
    pub peer: Option<PeerRecord>,
    /// The peer of the last relationship broken: when it calls again it is told the
    /// relationship is over instead of refused as a stranger.
    pub former: Option<FormerPeer>,
    pub last_event: Option<FailoverEvent>,
    pub auto: AutoFailover,
    /// Unix seconds of the last complete sync (the sync's part of the service).
    pub last_sync: Option<u64>,
    pub generation: u64,
}

impl Record for PairRecord {
    const KEY: &'static str = "failover";
}

/// The other appliance of the pair.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct PeerRecord {
    pub appliance_id: String,
    pub host: String,
    pub port: u16,
    /// SHA-256 of its pair identity's public key, hex: the only certificate accepted from
    /// it, as server or as client.
    pub pin: String,
    /// Unix seconds of the establish.
    pub since: u64,
}

impl PeerRecord {
    pub(crate) fn pin_bytes(&self) -> Option<[u8; 32]> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(&self.pin, &mut out).ok()?;
        Some(out)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct FormerPeer {
    pub appliance_id: String,
    pub pin: String,
    pub broken_at: u64,
}

impl PairRecord {
    pub(crate) fn key(&self) -> Option<pair::Key> {
        self.key.as_deref().and_then(|k| pair::Key::parse(k).ok())
    }

    pub(crate) fn note(&mut self, message: impl Into<String>) {
        self.last_event = Some(FailoverEvent {
            at: units::now(),
            message: message.into(),
        });
    }
}

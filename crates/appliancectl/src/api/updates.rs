//! `GET /api/v1/updates`: installed versions, the install waiting for a restart, rollbacks
//! and history.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Updates {
    pub running: Running,
    /// `A` / `B` -> what the slot holds.
    pub slots: BTreeMap<String, SlotInfo>,
    /// Installed, starts at the next restart.
    pub pending: Option<PendingInstall>,
    /// No base package below this version is accepted.
    pub floor: Option<String>,
    /// The last rollback since the last successful update.
    pub rollback: Option<UpdateEvent>,
    pub installing: bool,
    /// Newest first.
    pub history: Vec<UpdateEvent>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Running {
    pub version: String,
    pub slot: String,
    pub profile: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SlotInfo {
    pub version: String,
    /// Unix seconds.
    pub installed_at: Option<u64>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PendingInstall {
    pub slot: String,
    pub version: String,
    pub from_version: String,
    /// Unix seconds.
    pub installed_at: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateEvent {
    /// Unix seconds.
    pub at: u64,
    /// `installed`, `activated`, `rolled_back`, `refused` or `failed`.
    pub kind: String,
    pub version: String,
    pub slot: Option<String>,
    /// Why it was refused or rolled back.
    pub detail: String,
}

//! `GET /api/v1/health`: liveness and identity of the running system, without
//! authentication.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Health {
    /// `ok`.
    pub status: String,
    pub version: String,
    /// `A`, `B` or `factory`.
    pub slot: String,
    /// `box` or `vm`.
    pub profile: String,
}

impl Health {
    /// What runs and where: (version, slot).
    pub fn running(&self) -> (&str, &str) {
        (&self.version, &self.slot)
    }
}

//! The failover pair's roles: `POST /api/v1/failover/become-primary` and
//! `PUT /api/v1/failover/auto` (docs/failover.md "Become primary", "Automatic failover").

use serde::{Deserialize, Serialize};

use crate::Failover;

/// `POST /api/v1/failover/become-primary`, on the backup.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BecomePrimaryRequest {
    /// Pull a final sync from the old primary first, if it answers (the guide's
    /// checkbox).
    #[serde(default)]
    pub pull: bool,
}

/// A shared IP another host answered for.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SharedIpAnswered {
    /// `10.0.0.50/24`.
    pub address: String,
    /// The MAC that answered (or why it could not be probed).
    pub by: String,
}

/// The answer of `POST /api/v1/failover/become-primary`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BecomePrimaryAnswer {
    /// The old primary answered: it became backup and released the shared IPs before
    /// this appliance took them. False: it did not answer and the ARP/NDP probe found
    /// the shared IPs free.
    pub peer_answered: bool,
    /// What became of the final sync asked with `pull` (a sentence), or null when not
    /// asked.
    pub pull: Option<String>,
    /// The shared IPs this appliance holds now.
    pub held: Vec<String>,
    /// Shared IPs another host answers for: not taken (probed again every second).
    pub conflicts: Vec<SharedIpAnswered>,
    pub failover: Failover,
}

/// `PUT /api/v1/failover/auto`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AutoFailoverRequest {
    pub enabled: bool,
    /// Missed checks (every 200 ms) before the backup takes over, 2 to 50; absent: kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missed_checks: Option<u32>,
}

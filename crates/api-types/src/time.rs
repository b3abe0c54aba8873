//! `GET|PUT /api/v1/time`: the NTP servers, the clock's synchronization and the time
//! daemon's sources.

use serde::{Deserialize, Serialize};

/// `GET /api/v1/time` answer, and the answer of `PUT`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Time {
    pub servers: Vec<String>,
    pub synchronized: bool,
    pub stratum: Option<u8>,
    /// The source the clock follows.
    pub server: Option<String>,
    pub offset_seconds: Option<f64>,
    /// Unix seconds.
    pub last_sync: Option<u64>,
    /// The appliance's clock, UTC, RFC 3339.
    pub time: String,
    /// The kernel's own view (adjtimex).
    pub kernel_synchronized: bool,
    /// Why there is no state from the time daemon, if there is none.
    pub daemon_error: Option<String>,
    pub sources: Vec<TimeSource>,
}

/// One server the time daemon polls.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TimeSource {
    pub name: String,
    pub address: String,
    pub offset_seconds: Option<f64>,
    pub unanswered_polls: u32,
    /// Unix seconds of its last measurement.
    pub last_update: Option<u64>,
}

/// `PUT /api/v1/time` request; unknown fields are refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeRequest {
    pub servers: Vec<String>,
}

//! `GET|PUT /api/v1/time`: the NTP servers and the clock's synchronization.

use serde::{Deserialize, Serialize};

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
    /// The appliance's clock, RFC 3339.
    pub time: Option<String>,
    pub kernel_synchronized: bool,
    /// Why the time daemon gave no state, if it gave none.
    pub daemon_error: Option<String>,
}

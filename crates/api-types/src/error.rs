//! The body of every refused request: `{"error": "<code>", "message": "<sentence>"}`, and
//! for refused settings every wrong field in `problems`.

use serde::{Deserialize, Serialize};

/// What the API answers with any 4xx or 5xx status.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ErrorBody {
    /// A stable code a program can match: `not_found`, `invalid_network`, `internal`, …
    pub error: String,
    /// A sentence for a person.
    pub message: String,
    /// For refused settings: every wrong field. Left out when there is none.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<Problem>,
}

/// One wrong field of a refused request (`invalid_network`, `invalid_time`); the network
/// core's own type.
pub use netconfig::Problem;

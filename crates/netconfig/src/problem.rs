//! One thing wrong with a request, and where: what the validation of settings (network,
//! time) reports for each field, and what the API returns as `problems`, which clients
//! read back (missing fields defaulted).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Problem {
    /// A path into the JSON body: `interfaces[0].addresses[1]`, `servers[2]`, `hostname`.
    pub field: String,
    pub message: String,
}

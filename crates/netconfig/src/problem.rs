//! One thing wrong with a request, and where: what the validation of settings (network,
//! time) reports for each field, and what the API returns as `problems`.

use serde::Serialize;

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// A path into the JSON body: `interfaces[0].addresses[1]`, `servers[2]`, `hostname`.
    pub field: String,
    pub message: String,
}

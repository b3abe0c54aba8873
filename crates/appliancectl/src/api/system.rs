//! The HTTPS certificate (`/api/v1/tls`) and the factory reset request.

use serde::{Deserialize, Serialize};

/// `GET /api/v1/tls`: which certificate is served.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Certificate {
    /// True when an administrator installed it; false while self-signed.
    pub installed: bool,
    /// SHA-256 of the certificate's public key, `AB:CD:…`: the pin appliancectl checks.
    pub certificate_sha256: String,
}

/// What the appliance does once the factory reset has erased it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResetThen {
    #[default]
    Poweroff,
    Reboot,
}

impl ResetThen {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "poweroff" => Some(ResetThen::Poweroff),
            "reboot" => Some(ResetThen::Reboot),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ResetThen::Poweroff => "poweroff",
            ResetThen::Reboot => "reboot",
        }
    }
}

/// `POST /api/v1/system/factory-reset` answer: `resetting`, then `poweroff` or `reboot`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResetAccepted {
    pub status: String,
    pub then: String,
}

/// One wrong field of a refused request (`invalid_network`, `invalid_time`): the
/// appliance's own type.
pub use netconfig::Problem;

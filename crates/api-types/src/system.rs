//! Power and the factory reset: `POST /api/v1/system/reboot`, `/shutdown` and
//! `/factory-reset`.

use serde::{Deserialize, Serialize};

/// `POST /api/v1/system/reboot` and `/shutdown` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PowerAction {
    /// `rebooting` or `powering_off`.
    pub status: String,
}

/// `POST /api/v1/system/factory-reset` request. Both fields may be missing so that the
/// daemon can say which one is wrong rather than refuse the body as a whole.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct FactoryReset {
    /// Must be the word `factory-reset`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confirm: Option<String>,
    /// `poweroff` (the default) or `reboot`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub then: Option<String>,
}

/// `POST /api/v1/system/factory-reset` answer: the reset starts with the restart that
/// follows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ResetAccepted {
    /// `resetting`.
    pub status: String,
    /// `poweroff` or `reboot`.
    pub then: String,
}

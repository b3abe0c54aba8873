//! Logging in (`POST /api/v1/session`) and changing one's password
//! (`PUT /api/v1/account/password`).

use serde::{Deserialize, Serialize};

/// `POST /api/v1/session` request. Unknown fields are refused: a mistyped field must not
/// turn into a login attempt with an empty password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    pub username: String,
    pub password: String,
}

/// `POST /api/v1/session` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Sent as `Authorization: Bearer <token>`.
    pub token: String,
    /// Until the password is changed, every other call answers `must_change_password`.
    #[serde(default)]
    pub must_change_password: bool,
}

/// `PUT /api/v1/account/password` request; unknown fields are refused.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub current: String,
    pub new: String,
}

/// The daemon's local socket on the appliance (root only, mode 0600): `POST /unlock/{name}`
/// there ends the account's lockout without a password, being root on the console the proof.
pub const LOCAL_SOCKET: &str = "/run/appliance/daemon.sock";

/// `POST /api/v1/accounts/{name}/unlock` answer, and the local socket's (`appliancectl
/// unlock` on the console).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unlocked {
    /// Whether sign-in to the account was locked from some source until now.
    pub was_locked: bool,
}

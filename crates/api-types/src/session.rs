//! Logging in (`POST /api/v1/session`) and changing one's password
//! (`PUT /api/v1/account/password`).

use serde::{Deserialize, Serialize};

/// `POST /api/v1/session` request. Unknown fields are refused: a mistyped field must not
/// turn into a login attempt with an empty password.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Credentials {
    #[serde(alias = "user")]
    pub username: String,
    pub password: String,
    /// The TOTP code of the account's authenticator app, or one of its recovery codes:
    /// needed once the account enrolled a TOTP (without it: 401 `totp_required`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub totp: Option<String>,
}

/// `POST /api/v1/session` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    /// Sent as `Authorization: Bearer <token>`.
    pub token: String,
    /// Until the password is changed, every other call answers `must_change_password`.
    #[serde(default)]
    pub must_change_password: bool,
    /// The security policy requires a TOTP and the account has none: until one is
    /// enrolled (`POST /api/v1/account/totp`), every other call answers
    /// `totp_enrolment_required`.
    #[serde(default)]
    pub must_enrol_totp: bool,
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

/// One account of `GET /api/v1/accounts`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Account {
    pub name: String,
    #[serde(default)]
    pub enabled: bool,
    /// Whether the account signs in with a TOTP code.
    #[serde(default)]
    pub totp: bool,
    /// Unix seconds; absent for the first account of an appliance made before it was kept.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub created_at: Option<u64>,
    /// Unix seconds of the last sign-in on this appliance.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_login: Option<u64>,
}

/// `GET /api/v1/accounts` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccountList {
    #[serde(default)]
    pub accounts: Vec<Account>,
}

/// `POST /api/v1/accounts` request: the account's holder changes the password at first
/// sign-in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NewAccount {
    pub name: String,
    pub password: String,
}

/// `PUT /api/v1/accounts/{name}` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AccountChange {
    pub enabled: bool,
}

/// `POST /api/v1/account/totp` answer: what the authenticator app needs. Nothing is
/// enrolled until a code of this secret is confirmed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TotpEnrolment {
    /// RFC 4648 base32, for typing into the app.
    pub secret: String,
    /// The `otpauth://totp/...` URI the QR code holds.
    pub uri: String,
    /// The QR code, an SVG document.
    pub qr_svg: String,
}

/// `POST /api/v1/account/totp/confirm` request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TotpConfirm {
    pub code: String,
}

/// `POST /api/v1/account/totp/confirm` answer: the recovery codes, shown this once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryCodes {
    pub recovery_codes: Vec<String>,
}

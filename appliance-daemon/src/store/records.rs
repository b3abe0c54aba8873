//! The records the daemon keeps today. A field added later takes `#[serde(default)]`
//! (the containers below already default missing fields); renaming or reshaping one needs
//! a migration (docs/store.md).

use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use super::{Audit, Error, Record, Store};

/// The local accounts. Empty until the sign-in code seeds the default account.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Accounts {
    pub users: Vec<User>,
}

impl Record for Accounts {
    const KEY: &'static str = "accounts";
}

impl Accounts {
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    pub fn user_mut(&mut self, name: &str) -> Option<&mut User> {
        self.users.iter_mut().find(|u| u.name == name)
    }
}

/// One local account.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub name: String,
    /// PHC string (argon2id), made by the sign-in code; the store never sees a password.
    pub password_hash: String,
    pub must_change_password: bool,
    /// Failed sign-ins since the last successful one.
    pub failed_logins: u32,
    /// Unix seconds until which sign-in is refused.
    pub locked_until: Option<u64>,
    /// Unix seconds of the last password change.
    pub password_changed_at: Option<u64>,
    /// A disabled account cannot sign in; its sessions ended when it was disabled.
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// Unix seconds of the account's creation (None: the first account, made before this
    /// was recorded).
    #[serde(default)]
    pub created_at: Option<u64>,
    /// Two-factor sign-in, once enrolled (a secret: redacted from the support bundle by
    /// its name, carried by backups and the pair's sync with the account).
    #[serde(default)]
    pub totp: Option<Totp>,
}

fn enabled() -> bool {
    true
}

/// An account's enrolled TOTP (RFC 6238: HMAC-SHA1, 30 s steps, 6 digits).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Totp {
    /// The shared secret, RFC 4648 base32 without padding.
    pub secret: String,
    /// Unix seconds of the enrolment.
    pub enrolled_at: u64,
    /// SHA-256 (hex) of each recovery code not used yet; each works once.
    pub recovery: Vec<String>,
}

/// Keeps the secret out of logs.
impl std::fmt::Debug for Totp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Totp")
            .field("secret", &"<hidden>")
            .field("enrolled_at", &self.enrolled_at)
            .field("recovery", &self.recovery.len())
            .finish()
    }
}

/// Keeps password hashes out of logs.
impl std::fmt::Debug for User {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("password_hash", &"<hidden>")
            .field("must_change_password", &self.must_change_password)
            .field("failed_logins", &self.failed_logins)
            .field("locked_until", &self.locked_until)
            .field("password_changed_at", &self.password_changed_at)
            .field("enabled", &self.enabled)
            .field("created_at", &self.created_at)
            .field("totp", &self.totp.is_some())
            .finish()
    }
}

/// Sign-in and session limits.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SecurityPolicy {
    /// Failed sign-ins in a row that lock an account.
    pub max_failed_logins: u32,
    pub lockout_seconds: u64,
    /// A session unused this long ends.
    pub session_idle_seconds: u64,
    /// A session ends this long after sign-in, used or not.
    pub session_max_seconds: u64,
    /// Every account signs in with a TOTP code: one without an enrolled TOTP may, after
    /// its password, only enrol one (docs/admin-interface.md "Two-factor sign-in").
    pub require_totp: bool,
}

impl Default for SecurityPolicy {
    fn default() -> Self {
        SecurityPolicy {
            max_failed_logins: 5,
            lockout_seconds: 15 * 60,
            session_idle_seconds: 30 * 60,
            session_max_seconds: 12 * 60 * 60,
            require_totp: false,
        }
    }
}

impl Record for SecurityPolicy {
    const KEY: &'static str = "security_policy";
}

/// Per account, what this appliance alone records of its sign-ins (a machine record:
/// neither the pair's sync nor a restore carries it, and a sign-in does not make the
/// accounts record change).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Logins {
    pub users: std::collections::BTreeMap<String, LoginRecord>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LoginRecord {
    /// Unix seconds of the last successful sign-in here.
    pub last_login: Option<u64>,
    /// The latest TOTP time step accepted here: a code of this step or an earlier one is
    /// refused as reused.
    pub totp_step: u64,
}

impl Record for Logins {
    const KEY: &'static str = "account_logins";
}

/// What names this appliance, made once (see [`Store::identity`]). Empty until then.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Identity {
    /// 128 random bits, lowercase hex.
    pub appliance_id: String,
    /// Unix seconds.
    pub created_at: u64,
}

impl Record for Identity {
    const KEY: &'static str = "identity";
}

impl Store {
    /// The appliance's identity, created on the first call (audit action `identity.create`,
    /// actor `system`) and the same ever after. Blocks on a commit the first time.
    pub fn identity(&self) -> Result<Identity, Error> {
        let current = self.get::<Identity>()?;
        if !current.appliance_id.is_empty() {
            return Ok(current);
        }
        let fresh = Identity {
            appliance_id: random_id()?,
            created_at: units::now(),
        };
        let audit = Audit::system(
            "identity.create",
            format!("appliance id {} created", fresh.appliance_id),
        );
        // Another caller may have created it since the read: keep theirs, audit nothing.
        let made = self.change(audit, |tx| {
            let current = tx.get::<Identity>()?;
            if !current.appliance_id.is_empty() {
                return Err(Create::Exists(current));
            }
            tx.put(&fresh)?;
            Ok(fresh.clone())
        });
        match made {
            Ok(identity) | Err(Create::Exists(identity)) => Ok(identity),
            Err(Create::Failed(err)) => Err(err),
        }
    }
}

enum Create {
    Exists(Identity),
    Failed(Error),
}

impl From<Error> for Create {
    fn from(err: Error) -> Self {
        Create::Failed(err)
    }
}

/// 128 bits from the kernel's random source, as 32 lowercase hex digits.
fn random_id() -> Result<String, Error> {
    let mut bytes = [0u8; 16];
    SystemRandom::new()
        .fill(&mut bytes)
        .map_err(|_| Error::Random)?;
    Ok(hex::encode(bytes))
}

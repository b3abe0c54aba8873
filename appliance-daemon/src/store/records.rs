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
}

impl Default for SecurityPolicy {
    fn default() -> Self {
        SecurityPolicy {
            max_failed_logins: 5,
            lockout_seconds: 15 * 60,
            session_idle_seconds: 30 * 60,
            session_max_seconds: 12 * 60 * 60,
        }
    }
}

impl Record for SecurityPolicy {
    const KEY: &'static str = "security_policy";
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

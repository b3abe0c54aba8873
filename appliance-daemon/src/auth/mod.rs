//! Accounts, logins, lockout and sessions.
//!
//! Accounts live in the settings store (argon2id hashes, failure counts, lock times);
//! sessions live in memory ([`sessions`]). On a fresh store the `admin` account is created
//! with the factory password and must change it before anything else is allowed.

mod accounts;
pub(crate) mod checks;
pub(crate) mod lockout;
pub(crate) mod password;
pub(crate) mod second_step;
pub(crate) mod sessions;
pub(crate) mod totp;

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use checks::Source;
use lockout::Lockout;

use crate::store::{Accounts, Audit, Logins, SecurityPolicy, Store, User};
pub(crate) use sessions::{Kind, Session, Sessions};

/// The account an appliance ships with.
pub(crate) const DEFAULT_USER: &str = "admin";

#[derive(Debug, thiserror::Error)]
pub(crate) enum AuthError {
    #[error("the user name or password is wrong")]
    InvalidCredentials,
    #[error("too many failed logins: the account is locked for {remaining_seconds} more seconds")]
    Locked { remaining_seconds: u64 },
    #[error("the current password is wrong")]
    WrongPassword,
    #[error("this change needs the current password again; nothing was changed")]
    PasswordRequired,
    #[error("{0}")]
    Weak(#[from] password::Weak),
    #[error("the session has expired or is not valid; log in again")]
    NoSession,
    #[error(transparent)]
    Hash(#[from] password::HashError),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error("the password check did not finish: {0}")]
    Task(String),
    #[error("there is no account named {0:?}")]
    NoSuchUser(String),
    #[error("too many logins are waiting to be checked; try again in {retry_after_seconds} s")]
    Busy { retry_after_seconds: u64 },
    #[error("this account signs in with a two-factor code: give the code of the authenticator app or a recovery code")]
    TotpRequired,
    #[error("the two-factor code is wrong or was already used")]
    TotpInvalid,
    #[error(
        "no two-factor enrolment was started for this account, or it was replaced; start again"
    )]
    NotEnrolling,
    #[error("this account has no two-factor sign-in to turn off")]
    NoTotp,
    #[error("{0:?} is the last enabled account: enable or create another one first")]
    LastEnabled(String),
    #[error("an account named {0:?} exists already")]
    Exists(String),
    #[error("{0}")]
    InvalidName(String),
    /// The password of a web login was right and the account has a TOTP: the login page
    /// asks for the code with this ticket.
    #[error("this account signs in with a two-factor code")]
    SecondStep(String),
}

/// A successful login.
#[derive(Debug, Clone)]
pub(crate) struct Login {
    pub token: String,
    pub must_change_password: bool,
    /// The policy requires a TOTP and the account has none: the session may only enrol.
    pub must_enrol_totp: bool,
}

pub(crate) struct Auth {
    store: Store,
    sessions: Sessions,
    /// One password check at a time, a bounded queue of logins waiting for it: a burst of
    /// parallel guesses cannot overtake the lockout, and argon2's memory is needed once,
    /// not once per connection.
    checks: checks::Checks,
    /// Failed logins and locks per account and source (in memory, monotonic).
    lockout: Arc<Lockout>,
    /// The store's policy, read on every authenticated request: kept here, replaced by
    /// [`Auth::set_policy`].
    policy: std::sync::RwLock<SecurityPolicy>,
    /// Per account, the TOTP secret of an enrolment started and not confirmed yet (in
    /// memory: a restart drops it, and the enrolment starts again).
    enrolling: std::sync::Mutex<std::collections::HashMap<String, Vec<u8>>>,
    /// Web logins between their password and their TOTP code.
    second_steps: second_step::SecondSteps,
}

impl std::fmt::Debug for Auth {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Auth")
            .field("sessions", &self.sessions.count())
            .finish()
    }
}

impl Auth {
    /// Wrap the store; create `admin` with the factory password if there is no account.
    pub(crate) fn new(store: Store) -> Result<Self, AuthError> {
        let accounts: Accounts = store.get()?;
        if accounts.users.is_empty() {
            let hash = password::hash(password::FACTORY_PASSWORD)?;
            store.change(
                Audit::system("account.create", "admin account with the factory password"),
                |tx| {
                    let mut accounts: Accounts = tx.get()?;
                    if accounts.users.is_empty() {
                        accounts.users.push(User {
                            name: DEFAULT_USER.to_string(),
                            password_hash: hash,
                            must_change_password: true,
                            failed_logins: 0,
                            locked_until: None,
                            password_changed_at: None,
                            enabled: true,
                            created_at: Some(units::now()),
                            totp: None,
                        });
                        tx.put(&accounts)?;
                    }
                    Ok::<_, crate::store::Error>(())
                },
            )?;
        }
        let policy = store.get()?;
        password::prepare_dummy();
        password::release_memory_when_idle();
        Ok(Auth {
            policy: std::sync::RwLock::new(policy),
            store,
            sessions: Sessions::default(),
            checks: checks::Checks::default(),
            lockout: Arc::default(),
            enrolling: std::sync::Mutex::default(),
            second_steps: second_step::SecondSteps::default(),
        })
    }

    /// Store a new policy (audited) and apply it to the sessions at once.
    pub(crate) async fn set_policy(
        &self,
        policy: SecurityPolicy,
        audit: Audit,
    ) -> Result<(), AuthError> {
        let stored = policy.clone();
        self.store
            .change_async(audit, move |tx| tx.put(&stored))
            .await?;
        *self
            .policy
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = policy;
        Ok(())
    }

    /// The accounts and the policy were replaced underneath (a restore, the pair's sync):
    /// take the stored policy and end the sessions of accounts that are gone.
    pub(crate) fn settings_replaced(&self) -> Result<(), AuthError> {
        let accounts: Accounts = self.store.get()?;
        let policy: SecurityPolicy = self.store.get()?;
        *self
            .policy
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = policy;
        let exists = |user: &str| accounts.users.iter().any(|u| u.name == user);
        let enabled = |user: &str| accounts.user(user).is_some_and(|u| u.enabled);
        self.sessions.retain_users(enabled);
        self.lockout.retain_users(exists);
        Ok(())
    }

    /// Check a user name, password and, when the account has one, TOTP or recovery code,
    /// and open a session of `kind`.
    ///
    /// The check and the record of its outcome (failure count, lock, audit) run in one
    /// blocking task that holds the checks' turn ([`checks`]): a client that hangs up
    /// neither frees the turn early nor escapes the failure count. An unknown user name
    /// costs one argon2 verification and one audited store write, as a known one does.
    pub(crate) async fn login(
        &self,
        username: &str,
        password: &str,
        code: Option<&str>,
        kind: Kind,
        address: Option<IpAddr>,
    ) -> Result<Login, AuthError> {
        let waiter = self.checks.queue(address).map_err(|_| AuthError::Busy {
            retry_after_seconds: checks::RETRY_AFTER_SECONDS,
        })?;
        let turn = waiter.turn().await;
        let store = self.store.clone();
        let locks = Arc::clone(&self.lockout);
        let (username, password) = (username.to_string(), password.to_string());
        let code = code.map(str::to_string).filter(|c| !c.trim().is_empty());
        let name = username.clone();
        let user = blocking(move || {
            let outcome = check_login(
                &store,
                &locks,
                &username,
                &password,
                code.as_deref(),
                kind,
                address,
            );
            drop(turn);
            outcome
        })
        .await?;
        let user = match user {
            Err(AuthError::TotpRequired) if kind == Kind::Web => {
                return Err(AuthError::SecondStep(self.second_steps.begin(&name)));
            }
            other => other?,
        };
        Ok(self.open(user, kind))
    }

    /// The second step of a web login ([`AuthError::SecondStep`]): the TOTP or recovery
    /// code for the account whose password was right, within [`second_step::LIFETIME`].
    /// A wrong code counts toward the lockout and the step may be tried again.
    pub(crate) async fn login_second_step(
        &self,
        ticket: &str,
        code: &str,
        address: Option<IpAddr>,
    ) -> Result<Login, AuthError> {
        let name = self.second_steps.user(ticket).ok_or(AuthError::NoSession)?;
        let waiter = self.checks.queue(address).map_err(|_| AuthError::Busy {
            retry_after_seconds: checks::RETRY_AFTER_SECONDS,
        })?;
        let turn = waiter.turn().await;
        let store = self.store.clone();
        let locks = Arc::clone(&self.lockout);
        let code = code.to_string();
        let user = blocking(move || {
            let outcome = check_second_step(&store, &locks, &name, &code, address);
            drop(turn);
            outcome
        })
        .await??;
        self.second_steps.end(ticket);
        Ok(self.open(user, Kind::Web))
    }

    /// A session for `user`, who just signed in.
    fn open(&self, user: User, kind: Kind) -> Login {
        let token = self
            .sessions
            .create(&user.name, kind, user.must_change_password);
        let must_enrol_totp = user.totp.is_none() && self.policy().require_totp;
        if must_enrol_totp {
            self.sessions.require_enrolment(&token);
        }
        Login {
            token,
            must_change_password: user.must_change_password,
            must_enrol_totp,
        }
    }

    /// The live session behind a token, if any.
    pub(crate) fn session(&self, token: &str, kind: Kind) -> Option<Session> {
        self.sessions.get(token, kind, self.limits())
    }

    /// The current policy.
    pub(crate) fn policy(&self) -> SecurityPolicy {
        self.policy
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// The session limits of the current policy.
    fn limits(&self) -> sessions::Limits {
        let policy = self
            .policy
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        sessions::Limits {
            idle: Duration::from_secs(policy.session_idle_seconds.max(60)),
            max: Duration::from_secs(policy.session_max_seconds.max(60)),
        }
    }

    /// Whether `token` is still a live session of `kind`, without counting it as a use.
    pub(crate) fn alive(&self, token: &str, kind: Kind) -> bool {
        self.sessions.alive(token, kind, self.limits())
    }

    /// Changes each time sessions end: look again with [`Auth::alive`].
    pub(crate) fn sessions_ended(&self) -> tokio::sync::watch::Receiver<u64> {
        self.sessions.ended()
    }

    pub(crate) fn logout(&self, token: &str) {
        self.sessions.remove(token);
    }

    /// End the locks of account `name` (every source), as `audit` says who asked;
    /// true if it was locked.
    pub(crate) async fn unlock(&self, name: &str, audit: Audit) -> Result<bool, AuthError> {
        let accounts: Accounts = self.store.get()?;
        if accounts.user(name).is_none() {
            return Err(AuthError::NoSuchUser(name.to_string()));
        }
        let policy: SecurityPolicy = self.store.get()?;
        let was_locked = self.lockout.unlock(name, Instant::now(), &policy);
        self.store
            .change_async(audit, |_| Ok::<_, crate::store::Error>(()))
            .await?;
        tracing::info!(user = %name, was_locked, "account unlocked");
        Ok(was_locked)
    }

    /// Check the password of the session's user again before a sensitive act (a factory
    /// reset, a change of the served key, of the update server). Waits for a turn like a
    /// login; a wrong password is audited and counts toward the lockout of this account
    /// and source as a failed login does, and a locked source is refused unchecked.
    pub(crate) async fn confirm_password(
        &self,
        user: &str,
        password: Option<&str>,
        what: &str,
        address: Option<IpAddr>,
    ) -> Result<(), AuthError> {
        let Some(password) = password.filter(|p| !p.is_empty()) else {
            return Err(AuthError::PasswordRequired);
        };
        let waiter = self.checks.queue(address).map_err(|_| AuthError::Busy {
            retry_after_seconds: checks::RETRY_AFTER_SECONDS,
        })?;
        let turn = waiter.turn().await;
        let store = self.store.clone();
        let locks = Arc::clone(&self.lockout);
        let (user, password, what) = (user.to_string(), password.to_string(), what.to_string());
        blocking(move || {
            let outcome = check_confirm(&store, &locks, &user, &password, &what, address);
            drop(turn);
            outcome
        })
        .await?
    }

    /// Change the password of the session's user; other sessions of that user end.
    pub(crate) async fn change_password(
        &self,
        token: &str,
        session: &Session,
        current: &str,
        new: &str,
        address: Option<IpAddr>,
    ) -> Result<(), AuthError> {
        let waiter = self.checks.queue(address).map_err(|_| AuthError::Busy {
            retry_after_seconds: checks::RETRY_AFTER_SECONDS,
        })?;
        let turn = waiter.turn().await;
        let accounts: Accounts = self.store.get()?;
        let user = accounts
            .users
            .iter()
            .find(|u| *u.name == *session.user)
            .cloned()
            .ok_or(AuthError::NoSession)?;
        let (hash, given) = (user.password_hash.clone(), current.to_string());
        let verified = blocking(move || {
            let ok = password::verify(&hash, &given);
            drop(turn);
            ok
        })
        .await?;
        if !verified {
            self.store
                .change_async(
                    Audit::user(
                        &user.name,
                        address,
                        "account.password_failed",
                        "wrong current password",
                    ),
                    |_| Ok::<_, crate::store::Error>(()),
                )
                .await?;
            return Err(AuthError::WrongPassword);
        }
        password::check_new(current, new)?;
        let new = new.to_string();
        let hash = blocking(move || password::hash(&new)).await??;
        let name = user.name.clone();
        let now = units::now();
        let who = name.clone();
        self.store
            .change_async(
                Audit::user(&name, address, "account.password", "password changed"),
                move |tx| {
                    let mut accounts: Accounts = tx.get()?;
                    if let Some(u) = accounts.users.iter_mut().find(|u| u.name == who) {
                        u.password_hash = hash;
                        u.must_change_password = false;
                        u.password_changed_at = Some(now);
                    }
                    tx.put(&accounts)?;
                    Ok::<_, crate::store::Error>(())
                },
            )
            .await?;
        self.sessions.password_changed(&name, token);
        tracing::info!(user = %name, ?address, "password changed");
        Ok(())
    }
}

/// The longest user name kept in the audit log for a login under an unknown name.
const AUDITED_NAME_CHARS: usize = 64;

/// The check of one login and the record of its outcome, in the checks' turn.
fn check_login(
    store: &Store,
    locks: &Lockout,
    username: &str,
    password: &str,
    code: Option<&str>,
    kind: Kind,
    address: Option<IpAddr>,
) -> Result<User, AuthError> {
    let accounts: Accounts = store.get()?;
    let policy: SecurityPolicy = store.get()?;
    let source = Source::of(address);
    let Some(user) = accounts.user(username).cloned() else {
        password::verify_dummy(password);
        let shown: String = username
            .chars()
            .filter(|c| !c.is_control())
            .take(AUDITED_NAME_CHARS)
            .collect();
        store.change(
            Audit::user(shown, address, "session.failed", "unknown user name"),
            |_| Ok::<_, crate::store::Error>(()),
        )?;
        return Err(AuthError::InvalidCredentials);
    };
    let name = user.name.clone();
    if let lockout::Gate::Locked { remaining_seconds } =
        locks.gate(&name, source, Instant::now(), &policy)
    {
        return Err(AuthError::Locked { remaining_seconds });
    }
    if !password::verify(&user.password_hash, password) {
        store.change(
            Audit::user(&name, address, "session.failed", "wrong password"),
            |_| Ok::<_, crate::store::Error>(()),
        )?;
        if locks.failed(&name, source, Instant::now(), &policy) {
            tracing::warn!(user = %name, ?address, "sign-in from this source locked after repeated failed logins");
        }
        return Err(AuthError::InvalidCredentials);
    }
    if !user.enabled {
        // The same answer as a wrong password: the account's state is not told.
        store.change(
            Audit::user(&name, address, "session.failed", "account disabled"),
            |_| Ok::<_, crate::store::Error>(()),
        )?;
        return Err(AuthError::InvalidCredentials);
    }
    complete_login(store, locks, &policy, user, code, kind, address)
}

/// The rest of a login once the password was right (or, for the second step of the web
/// login, was right moments ago): the TOTP or recovery code if the account has one, then
/// the record of the sign-in.
fn complete_login(
    store: &Store,
    locks: &Lockout,
    policy: &SecurityPolicy,
    user: User,
    code: Option<&str>,
    kind: Kind,
    address: Option<IpAddr>,
) -> Result<User, AuthError> {
    let name = user.name.clone();
    let source = Source::of(address);
    let now = units::now();
    let logins: Logins = store.get()?;
    let mut used = Used::Nothing;
    if let Some(enrolled) = &user.totp {
        let Some(code) = code else {
            return Err(AuthError::TotpRequired);
        };
        used = second_factor(enrolled, code, now, &logins, &name);
        if let Used::Refused(why) = used {
            store.change(Audit::user(&name, address, "session.failed", why), |_| {
                Ok::<_, crate::store::Error>(())
            })?;
            if locks.failed(&name, source, Instant::now(), policy) {
                tracing::warn!(user = %name, ?address, "sign-in from this source locked after repeated wrong codes");
            }
            return Err(AuthError::TotpInvalid);
        }
    }
    let detail = match &used {
        Used::Recovery(_) => format!(
            "{} with a recovery code ({} left)",
            kind_name(kind),
            user.totp
                .as_ref()
                .map_or(0, |t| t.recovery.len().saturating_sub(1))
        ),
        Used::Step(_) => format!("{} with a two-factor code", kind_name(kind)),
        _ => kind_name(kind).to_string(),
    };
    store.change(
        Audit::user(&name, address, "session.create", detail),
        |tx| {
            let mut accounts: Accounts = tx.get()?;
            if let Some(u) = accounts.user_mut(&name) {
                // Left by firmware that kept the lockout in the store.
                u.failed_logins = 0;
                u.locked_until = None;
                if let (Used::Recovery(hash), Some(t)) = (&used, u.totp.as_mut()) {
                    t.recovery.retain(|h| h != hash);
                }
            }
            tx.put(&accounts)?;
            let mut logins: Logins = tx.get()?;
            let record = logins.users.entry(name.clone()).or_default();
            record.last_login = Some(now);
            if let Used::Step(step) = used {
                record.totp_step = record.totp_step.max(step);
            }
            tx.put(&logins)?;
            Ok::<_, crate::store::Error>(())
        },
    )?;
    locks.succeeded(&name, source);
    Ok(user)
}

/// The second step of a web login: the account still exists and is enabled, its source
/// is not locked, then [`complete_login`] with the code.
fn check_second_step(
    store: &Store,
    locks: &Lockout,
    name: &str,
    code: &str,
    address: Option<IpAddr>,
) -> Result<User, AuthError> {
    let accounts: Accounts = store.get()?;
    let policy: SecurityPolicy = store.get()?;
    let Some(user) = accounts.user(name).filter(|u| u.enabled).cloned() else {
        return Err(AuthError::InvalidCredentials);
    };
    if let lockout::Gate::Locked { remaining_seconds } =
        locks.gate(name, Source::of(address), Instant::now(), &policy)
    {
        return Err(AuthError::Locked { remaining_seconds });
    }
    if code.trim().is_empty() {
        return Err(AuthError::TotpRequired);
    }
    complete_login(store, locks, &policy, user, Some(code), Kind::Web, address)
}

/// Which second factor a sign-in used.
enum Used {
    Nothing,
    /// A TOTP code of this step.
    Step(u64),
    /// The recovery code of this hash (removed from the account).
    Recovery(String),
    /// Refused, and why (for the audit log).
    Refused(&'static str),
}

/// Check a TOTP or recovery code against an enrolled account.
fn second_factor(
    enrolled: &crate::store::Totp,
    code: &str,
    now: u64,
    logins: &Logins,
    name: &str,
) -> Used {
    if totp::is_totp_code(code) {
        let Some(key) = totp::decode(&enrolled.secret) else {
            return Used::Refused("unreadable two-factor secret");
        };
        let last = logins.users.get(name).map_or(0, |r| r.totp_step);
        return match totp::check(&key, code, now, last) {
            totp::Verdict::Valid(step) => Used::Step(step),
            totp::Verdict::Reused => Used::Refused("two-factor code already used"),
            totp::Verdict::Wrong => Used::Refused("wrong two-factor code"),
        };
    }
    let hash = totp::recovery_hash(code);
    if enrolled.recovery.iter().any(|h| same_secret(h, &hash)) {
        Used::Recovery(hash)
    } else {
        Used::Refused("wrong recovery code")
    }
}

/// The check of a password given again ([`Auth::confirm_password`]) and the record of a
/// failure, in the checks' turn.
fn check_confirm(
    store: &Store,
    locks: &Lockout,
    name: &str,
    password: &str,
    what: &str,
    address: Option<IpAddr>,
) -> Result<(), AuthError> {
    let accounts: Accounts = store.get()?;
    let policy: SecurityPolicy = store.get()?;
    let source = Source::of(address);
    let Some(user) = accounts.user(name) else {
        return Err(AuthError::NoSession);
    };
    if let lockout::Gate::Locked { remaining_seconds } =
        locks.gate(name, source, Instant::now(), &policy)
    {
        return Err(AuthError::Locked { remaining_seconds });
    }
    if !password::verify(&user.password_hash, password) {
        store.change(
            Audit::user(
                name,
                address,
                "account.confirm_failed",
                format!("wrong password given to confirm {what}"),
            ),
            |_| Ok::<_, crate::store::Error>(()),
        )?;
        if locks.failed(name, source, Instant::now(), &policy) {
            tracing::warn!(user = %name, ?address, "sign-in from this source locked after repeated wrong passwords");
        }
        return Err(AuthError::WrongPassword);
    }
    Ok(())
}

fn kind_name(kind: Kind) -> &'static str {
    match kind {
        Kind::Api => "API session",
        Kind::Web => "web session",
    }
}

/// Password hashing takes tens of milliseconds of CPU: keep it off the async workers.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> T + Send + 'static,
) -> Result<T, AuthError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| AuthError::Task(e.to_string()))
}

/// `n` random bytes from the kernel's generator, in lowercase hex.
pub(crate) fn random_hex(n: usize) -> String {
    use ring::rand::SecureRandom;
    let mut bytes = vec![0u8; n];
    // The system generator only fails if the kernel has none; the daemon cannot run then.
    ring::rand::SystemRandom::new()
        .fill(&mut bytes)
        .expect("the kernel's random generator failed");
    hex::encode(bytes)
}

/// Compare two secrets in time independent of where they differ.
pub(crate) fn same_secret(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.as_bytes().ct_eq(b.as_bytes()).into()
}

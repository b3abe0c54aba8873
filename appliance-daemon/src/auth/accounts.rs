//! Several administrators: accounts created, disabled, enabled and deleted by another
//! administrator (never the last enabled one), and each account's own TOTP enrolment.

use std::net::IpAddr;

use super::{blocking, password, totp, Auth, AuthError};
use crate::store::{Accounts, Audit, Logins, Totp, User};

/// One account as listed (no secret).
#[derive(Debug, Clone)]
pub(crate) struct AccountInfo {
    pub name: String,
    pub enabled: bool,
    pub totp: bool,
    pub created_at: Option<u64>,
    pub last_login: Option<u64>,
}

/// A TOTP enrolment started: what the authenticator app needs.
#[derive(Debug, Clone)]
pub(crate) struct Enrolment {
    /// Base32, for typing into the app.
    pub secret: String,
    pub uri: String,
    /// The URI's QR code, an SVG document.
    pub qr_svg: String,
}

/// The longest account name.
pub(crate) const NAME_MAX: usize = 32;

/// An account name: 1 to 32 characters, lowercase letters, digits, `.`, `_` and `-`,
/// starting with a letter or a digit (it appears in `otpauth://` URIs and audit lines as is).
pub(crate) fn check_name(name: &str) -> Result<(), AuthError> {
    let ok = !name.is_empty()
        && name.len() <= NAME_MAX
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
        && name
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
    if ok {
        Ok(())
    } else {
        Err(AuthError::InvalidName(format!(
            "an account name has 1 to {NAME_MAX} characters: lowercase letters, digits, '.', '_' \
             and '-', starting with a letter or a digit"
        )))
    }
}

/// Refuse to disable or delete `name` when it is the last enabled account.
fn keep_one_enabled(accounts: &Accounts, name: &str) -> Result<(), AuthError> {
    let others = accounts
        .users
        .iter()
        .filter(|u| u.enabled && u.name != name)
        .count();
    if others == 0 {
        return Err(AuthError::LastEnabled(name.to_string()));
    }
    Ok(())
}

impl Auth {
    /// Every account, in creation order.
    pub(crate) fn accounts(&self) -> Result<Vec<AccountInfo>, AuthError> {
        let accounts: Accounts = self.store.get()?;
        let logins: Logins = self.store.get()?;
        Ok(accounts
            .users
            .iter()
            .map(|u| AccountInfo {
                name: u.name.clone(),
                enabled: u.enabled,
                totp: u.totp.is_some(),
                created_at: u.created_at,
                last_login: logins.users.get(&u.name).and_then(|r| r.last_login),
            })
            .collect())
    }

    /// Create account `name` with `password` (the password rules of a change apply); its
    /// holder changes the password at first sign-in. `actor` is who asks (audited).
    pub(crate) async fn create_account(
        &self,
        name: &str,
        new_password: &str,
        actor: &str,
        address: Option<IpAddr>,
    ) -> Result<(), AuthError> {
        check_name(name)?;
        password::check_new("", new_password)?;
        if self.store.get::<Accounts>()?.user(name).is_some() {
            return Err(AuthError::Exists(name.to_string()));
        }
        let given = new_password.to_string();
        let hash = blocking(move || password::hash(&given)).await??;
        let user = User {
            name: name.to_string(),
            password_hash: hash,
            must_change_password: true,
            failed_logins: 0,
            locked_until: None,
            password_changed_at: None,
            enabled: true,
            created_at: Some(units::now()),
            totp: None,
        };
        let audit = Audit::user(
            actor,
            address,
            "account.create",
            format!("account {name:?} created"),
        );
        let who = name.to_string();
        self.store
            .change_async(audit, move |tx| {
                let mut accounts: Accounts = tx.get()?;
                if accounts.user(&who).is_some() {
                    return Err(AuthError::Exists(who));
                }
                accounts.users.push(user);
                tx.put(&accounts)?;
                Ok(())
            })
            .await?;
        tracing::info!(user = %name, by = %actor, "account created");
        Ok(())
    }

    /// Enable or disable account `name`; a disabled account's sessions end at once. The
    /// last enabled account cannot be disabled.
    pub(crate) async fn set_enabled(
        &self,
        name: &str,
        enabled: bool,
        actor: &str,
        address: Option<IpAddr>,
    ) -> Result<(), AuthError> {
        let (action, word) = if enabled {
            ("account.enable", "enabled")
        } else {
            ("account.disable", "disabled")
        };
        let audit = Audit::user(actor, address, action, format!("account {name:?} {word}"));
        let who = name.to_string();
        self.store
            .change_async(audit, move |tx| {
                let mut accounts: Accounts = tx.get()?;
                if !enabled {
                    if accounts.user(&who).is_none() {
                        return Err(AuthError::NoSuchUser(who));
                    }
                    keep_one_enabled(&accounts, &who)?;
                }
                let Some(user) = accounts.user_mut(&who) else {
                    return Err(AuthError::NoSuchUser(who));
                };
                user.enabled = enabled;
                tx.put(&accounts)?;
                Ok(())
            })
            .await?;
        if !enabled {
            self.sessions.end_user(name);
        }
        tracing::info!(user = %name, by = %actor, enabled, "account {word}");
        Ok(())
    }

    /// Delete account `name` and end its sessions. The last enabled account cannot be
    /// deleted.
    pub(crate) async fn delete_account(
        &self,
        name: &str,
        actor: &str,
        address: Option<IpAddr>,
    ) -> Result<(), AuthError> {
        let audit = Audit::user(
            actor,
            address,
            "account.delete",
            format!("account {name:?} deleted"),
        );
        let who = name.to_string();
        self.store
            .change_async(audit, move |tx| {
                let mut accounts: Accounts = tx.get()?;
                if accounts.user(&who).is_none() {
                    return Err(AuthError::NoSuchUser(who));
                }
                keep_one_enabled(&accounts, &who)?;
                accounts.users.retain(|u| u.name != who);
                tx.put(&accounts)?;
                let mut logins: Logins = tx.get()?;
                logins.users.remove(&who);
                tx.put(&logins)?;
                Ok(())
            })
            .await?;
        self.sessions.end_user(name);
        self.lockout.retain_users(|u| u != name);
        self.pending().remove(name);
        tracing::info!(user = %name, by = %actor, "account deleted");
        Ok(())
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Vec<u8>>> {
        self.enrolling
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Start (or start again) the TOTP enrolment of `user`'s own account: a new secret,
    /// kept until [`Auth::confirm_totp`] (an enrolled TOTP stays until then).
    pub(crate) fn start_totp(&self, user: &str) -> Result<Enrolment, AuthError> {
        let accounts: Accounts = self.store.get()?;
        if accounts.user(user).is_none() {
            return Err(AuthError::NoSession);
        }
        let key = totp::new_secret();
        let secret = totp::encode(&key);
        let uri = totp::uri(&secret, user);
        let qr_svg = totp::qr_svg(&uri);
        self.pending().insert(user.to_string(), key);
        Ok(Enrolment {
            secret,
            uri,
            qr_svg,
        })
    }

    /// The enrolment `user` started and has not confirmed yet, shown again.
    pub(crate) fn pending_totp(&self, user: &str) -> Option<Enrolment> {
        let key = self.pending().get(user).cloned()?;
        let secret = totp::encode(&key);
        let uri = totp::uri(&secret, user);
        let qr_svg = totp::qr_svg(&uri);
        Some(Enrolment {
            secret,
            uri,
            qr_svg,
        })
    }

    /// Confirm `user`'s enrolment with a code of the new secret: the TOTP is stored and
    /// the recovery codes returned, to be shown once.
    pub(crate) async fn confirm_totp(
        &self,
        user: &str,
        code: &str,
        address: Option<IpAddr>,
    ) -> Result<Vec<String>, AuthError> {
        let key = self
            .pending()
            .get(user)
            .cloned()
            .ok_or(AuthError::NotEnrolling)?;
        let now = units::now();
        let logins: Logins = self.store.get()?;
        let last = logins.users.get(user).map_or(0, |r| r.totp_step);
        let totp::Verdict::Valid(step) = totp::check(&key, code, now, last) else {
            return Err(AuthError::TotpInvalid);
        };
        let codes = totp::recovery_codes();
        let enrolled = Totp {
            secret: totp::encode(&key),
            enrolled_at: now,
            recovery: codes.iter().map(|c| totp::recovery_hash(c)).collect(),
        };
        let who = user.to_string();
        let audit = Audit::user(
            user,
            address,
            "account.totp_enrol",
            format!(
                "two-factor sign-in enrolled, {} recovery codes made",
                codes.len()
            ),
        );
        self.store
            .change_async(audit, move |tx| {
                let mut accounts: Accounts = tx.get()?;
                let Some(u) = accounts.user_mut(&who) else {
                    return Err(AuthError::NoSession);
                };
                u.totp = Some(enrolled);
                tx.put(&accounts)?;
                let mut logins: Logins = tx.get()?;
                logins.users.entry(who).or_default().totp_step = step;
                tx.put(&logins)?;
                Ok(())
            })
            .await?;
        self.pending().remove(user);
        self.sessions.enrolled(user);
        tracing::info!(user = %user, "two-factor sign-in enrolled");
        Ok(codes)
    }

    /// Turn `user`'s own TOTP off (the caller checked the password again).
    pub(crate) async fn disable_totp(
        &self,
        user: &str,
        address: Option<IpAddr>,
    ) -> Result<(), AuthError> {
        let who = user.to_string();
        let audit = Audit::user(
            user,
            address,
            "account.totp_disable",
            "two-factor sign-in turned off",
        );
        self.store
            .change_async(audit, move |tx| {
                let mut accounts: Accounts = tx.get()?;
                let Some(u) = accounts.user_mut(&who) else {
                    return Err(AuthError::NoSession);
                };
                if u.totp.take().is_none() {
                    return Err(AuthError::NoTotp);
                }
                tx.put(&accounts)?;
                Ok(())
            })
            .await?;
        tracing::info!(user = %user, "two-factor sign-in turned off");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn account_names() {
        for good in ["admin", "alice", "ops-2", "j.doe", "a_b", "0"] {
            assert!(check_name(good).is_ok(), "{good}");
        }
        for bad in ["", "Alice", "-x", ".x", "a b", "é", "a/b", &"a".repeat(33)] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    fn user(name: &str, enabled: bool) -> User {
        User {
            name: name.into(),
            password_hash: String::new(),
            must_change_password: false,
            failed_logins: 0,
            locked_until: None,
            password_changed_at: None,
            enabled,
            created_at: None,
            totp: None,
        }
    }

    #[test]
    fn the_last_enabled_account_stays() {
        let accounts = Accounts {
            users: vec![user("admin", true), user("bob", false)],
        };
        assert!(matches!(
            keep_one_enabled(&accounts, "admin"),
            Err(AuthError::LastEnabled(_))
        ));
        assert!(keep_one_enabled(&accounts, "bob").is_ok());
    }
}

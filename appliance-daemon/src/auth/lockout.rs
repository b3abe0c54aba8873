//! Failed-login lockout, as pure functions over an account and the clock.
//!
//! After `max_failed_logins` wrong passwords in a row the account is locked for
//! `lockout_seconds`; while locked every attempt is refused, the right password too,
//! and attempts during the lock neither extend it nor count.

use crate::store::{SecurityPolicy, User};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    Open,
    Locked { remaining_seconds: u64 },
}

/// May this account try a password now?
pub(crate) fn gate(user: &User, now: u64) -> Gate {
    match user.locked_until {
        Some(until) if until > now => Gate::Locked {
            remaining_seconds: until - now,
        },
        _ => Gate::Open,
    }
}

/// Record a wrong password; returns true if this failure locked the account.
pub(crate) fn failed(user: &mut User, now: u64, policy: &SecurityPolicy) -> bool {
    if user.locked_until.is_some_and(|until| until <= now) {
        // The previous lock ran out: start counting afresh.
        user.locked_until = None;
        user.failed_logins = 0;
    }
    user.failed_logins = user.failed_logins.saturating_add(1);
    if policy.max_failed_logins > 0 && user.failed_logins >= policy.max_failed_logins {
        user.locked_until = Some(now.saturating_add(policy.lockout_seconds));
        true
    } else {
        false
    }
}

/// Record a successful login.
pub(crate) fn succeeded(user: &mut User) {
    user.failed_logins = 0;
    user.locked_until = None;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> User {
        User {
            name: "admin".into(),
            password_hash: String::new(),
            must_change_password: false,
            failed_logins: 0,
            locked_until: None,
            password_changed_at: None,
        }
    }

    #[test]
    fn five_failures_lock_for_fifteen_minutes() {
        let policy = SecurityPolicy::default();
        let mut u = user();
        for i in 1..5 {
            assert!(!failed(&mut u, 1000, &policy), "failure {i}");
            assert_eq!(gate(&u, 1000), Gate::Open);
        }
        assert!(failed(&mut u, 1000, &policy));
        assert_eq!(
            gate(&u, 1000),
            Gate::Locked {
                remaining_seconds: 900
            }
        );
        assert_eq!(
            gate(&u, 1899),
            Gate::Locked {
                remaining_seconds: 1
            }
        );
        assert_eq!(gate(&u, 1900), Gate::Open);
    }

    #[test]
    fn counting_restarts_after_a_lock_expires() {
        let policy = SecurityPolicy::default();
        let mut u = user();
        for _ in 0..5 {
            failed(&mut u, 0, &policy);
        }
        assert!(!failed(&mut u, 2000, &policy));
        assert_eq!(u.failed_logins, 1);
        assert_eq!(gate(&u, 2000), Gate::Open);
    }

    #[test]
    fn success_clears_the_count() {
        let policy = SecurityPolicy::default();
        let mut u = user();
        failed(&mut u, 0, &policy);
        failed(&mut u, 0, &policy);
        succeeded(&mut u);
        assert_eq!(u.failed_logins, 0);
        for _ in 0..4 {
            assert!(!failed(&mut u, 0, &policy));
        }
    }

    #[test]
    fn zero_disables_lockout() {
        let policy = SecurityPolicy {
            max_failed_logins: 0,
            ..SecurityPolicy::default()
        };
        let mut u = user();
        for _ in 0..100 {
            assert!(!failed(&mut u, 0, &policy));
        }
        assert_eq!(gate(&u, 0), Gate::Open);
    }
}

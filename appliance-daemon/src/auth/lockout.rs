//! Failed-login lockout, per account and source, measured on the monotonic clock.
//!
//! After `max_failed_logins` wrong passwords in a row for one account from one source (an
//! IPv4 address, an IPv6 /64: [`Source`]) sign-in to that account from that source is
//! refused for `lockout_seconds`, the right password too; attempts during the lock neither
//! extend it nor count. Another source is not affected, so a flood of wrong passwords
//! cannot lock the administrator out from their own desk.
//!
//! The lock is the time since it began on the monotonic clock, compared with the policy's
//! duration *now*: moving the wall clock (a rogue NTP answer) neither prolongs nor ends
//! it, and lowering the policy shortens locks already running. Locks live in memory: a
//! restart of the daemon (a reboot, a local unlock) ends them. Another administrator or
//! root on the console ends them with an unlock ([`Lockout::unlock`]).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::checks::Source;
use crate::store::SecurityPolicy;

/// Above this many (account, source) entries the least recently used is forgotten.
const MAX_ENTRIES: usize = 4096;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Gate {
    Open,
    Locked { remaining_seconds: u64 },
}

#[derive(Debug, Clone, Copy)]
struct Entry {
    failures: u32,
    locked_at: Option<Instant>,
    last: Instant,
}

#[derive(Debug, Default)]
pub(crate) struct Lockout {
    entries: Mutex<HashMap<(String, Source), Entry>>,
}

fn duration(policy: &SecurityPolicy) -> Duration {
    Duration::from_secs(policy.lockout_seconds)
}

impl Lockout {
    /// May `user` try a password from `source` now?
    pub(crate) fn gate(
        &self,
        user: &str,
        source: Source,
        now: Instant,
        policy: &SecurityPolicy,
    ) -> Gate {
        let entries = self.lock();
        let Some(locked_at) = entries
            .get(&(user.to_string(), source))
            .and_then(|e| e.locked_at)
        else {
            return Gate::Open;
        };
        let elapsed = now.saturating_duration_since(locked_at);
        match duration(policy).checked_sub(elapsed) {
            Some(left) if !left.is_zero() => Gate::Locked {
                remaining_seconds: left.as_secs() + u64::from(left.subsec_nanos() > 0),
            },
            _ => Gate::Open,
        }
    }

    /// Record a wrong password; returns true if this failure locked `user` for `source`.
    pub(crate) fn failed(
        &self,
        user: &str,
        source: Source,
        now: Instant,
        policy: &SecurityPolicy,
    ) -> bool {
        let mut entries = self.lock();
        let key = (user.to_string(), source);
        if !entries.contains_key(&key) && entries.len() >= MAX_ENTRIES {
            if let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, e)| e.last)
                .map(|(k, _)| k.clone())
            {
                entries.remove(&oldest);
            }
        }
        let entry = entries.entry(key).or_insert(Entry {
            failures: 0,
            locked_at: None,
            last: now,
        });
        entry.last = now;
        if entry
            .locked_at
            .is_some_and(|at| now.saturating_duration_since(at) >= duration(policy))
        {
            // The previous lock ran out: start counting afresh.
            *entry = Entry {
                failures: 0,
                locked_at: None,
                last: now,
            };
        }
        entry.failures = entry.failures.saturating_add(1);
        if policy.max_failed_logins > 0 && entry.failures >= policy.max_failed_logins {
            entry.locked_at = Some(now);
            true
        } else {
            false
        }
    }

    /// Record a successful login of `user` from `source`.
    pub(crate) fn succeeded(&self, user: &str, source: Source) {
        self.lock().remove(&(user.to_string(), source));
    }

    /// End every lock and failure count of `user`; true if one was locked at `now`.
    pub(crate) fn unlock(&self, user: &str, now: Instant, policy: &SecurityPolicy) -> bool {
        let mut entries = self.lock();
        let mut was_locked = false;
        entries.retain(|(name, _), e| {
            if name != user {
                return true;
            }
            was_locked |= e
                .locked_at
                .is_some_and(|at| now.saturating_duration_since(at) < duration(policy));
            false
        });
        was_locked
    }

    /// Forget the entries of accounts that no longer exist.
    pub(crate) fn retain_users(&self, exists: impl Fn(&str) -> bool) {
        self.lock().retain(|(name, _), _| exists(name));
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, Source), Entry>> {
        // Counters only: a panic elsewhere cannot leave them half-updated.
        self.entries
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(s: &str) -> Source {
        Source::of(Some(s.parse().unwrap()))
    }

    fn at(start: Instant, secs: u64) -> Instant {
        start + Duration::from_secs(secs)
    }

    #[test]
    fn five_failures_lock_for_fifteen_minutes() {
        let policy = SecurityPolicy::default();
        let l = Lockout::default();
        let (s, t0) = (source("192.0.2.1"), Instant::now());
        for i in 1..5 {
            assert!(!l.failed("admin", s, t0, &policy), "failure {i}");
            assert_eq!(l.gate("admin", s, t0, &policy), Gate::Open);
        }
        assert!(l.failed("admin", s, t0, &policy));
        assert_eq!(
            l.gate("admin", s, t0, &policy),
            Gate::Locked {
                remaining_seconds: 900
            }
        );
        assert_eq!(
            l.gate("admin", s, at(t0, 899), &policy),
            Gate::Locked {
                remaining_seconds: 1
            }
        );
        assert_eq!(l.gate("admin", s, at(t0, 900), &policy), Gate::Open);
    }

    #[test]
    fn a_lock_holds_for_one_source_only() {
        let policy = SecurityPolicy::default();
        let l = Lockout::default();
        let t0 = Instant::now();
        for _ in 0..5 {
            l.failed("admin", source("192.0.2.1"), t0, &policy);
        }
        assert_ne!(
            l.gate("admin", source("192.0.2.1"), t0, &policy),
            Gate::Open
        );
        assert_eq!(
            l.gate("admin", source("192.0.2.2"), t0, &policy),
            Gate::Open
        );
        assert_eq!(
            l.gate("other", source("192.0.2.1"), t0, &policy),
            Gate::Open
        );
        // One IPv6 /64 is one source.
        for i in 0..5 {
            l.failed("admin", source(&format!("2001:db8::{i}")), t0, &policy);
        }
        assert_ne!(
            l.gate("admin", source("2001:db8::99"), t0, &policy),
            Gate::Open
        );
    }

    /// The wall clock plays no part: the lock is the monotonic time since it began, capped
    /// at the policy as it is now. (Before, a lock set while the clock was 10 years ahead
    /// lasted 10 years once the clock was put right.)
    #[test]
    fn the_lock_ends_after_the_policy_whatever_the_wall_clock_says() {
        let mut policy = SecurityPolicy::default();
        let l = Lockout::default();
        let (s, t0) = (source("192.0.2.1"), Instant::now());
        for _ in 0..5 {
            l.failed("admin", s, t0, &policy);
        }
        // Lowering the policy shortens a running lock.
        policy.lockout_seconds = 60;
        assert_eq!(
            l.gate("admin", s, at(t0, 30), &policy),
            Gate::Locked {
                remaining_seconds: 30
            }
        );
        assert_eq!(l.gate("admin", s, at(t0, 60), &policy), Gate::Open);
    }

    #[test]
    fn counting_restarts_after_a_lock_expires_and_after_success() {
        let policy = SecurityPolicy::default();
        let l = Lockout::default();
        let (s, t0) = (source("192.0.2.1"), Instant::now());
        for _ in 0..5 {
            l.failed("admin", s, t0, &policy);
        }
        assert!(!l.failed("admin", s, at(t0, 2000), &policy));
        assert_eq!(l.gate("admin", s, at(t0, 2000), &policy), Gate::Open);
        l.failed("admin", s, at(t0, 2000), &policy);
        l.succeeded("admin", s);
        for _ in 0..4 {
            assert!(!l.failed("admin", s, at(t0, 2001), &policy));
        }
    }

    #[test]
    fn an_unlock_ends_every_lock_of_the_account() {
        let policy = SecurityPolicy::default();
        let l = Lockout::default();
        let t0 = Instant::now();
        for _ in 0..5 {
            l.failed("admin", source("192.0.2.1"), t0, &policy);
            l.failed("admin", source("192.0.2.2"), t0, &policy);
            l.failed("other", source("192.0.2.1"), t0, &policy);
        }
        assert!(l.unlock("admin", t0, &policy));
        assert_eq!(
            l.gate("admin", source("192.0.2.1"), t0, &policy),
            Gate::Open
        );
        assert_eq!(
            l.gate("admin", source("192.0.2.2"), t0, &policy),
            Gate::Open
        );
        assert_ne!(
            l.gate("other", source("192.0.2.1"), t0, &policy),
            Gate::Open
        );
        assert!(!l.unlock("admin", t0, &policy), "nothing left to unlock");
    }

    #[test]
    fn zero_disables_lockout() {
        let policy = SecurityPolicy {
            max_failed_logins: 0,
            ..SecurityPolicy::default()
        };
        let l = Lockout::default();
        let (s, t0) = (source("192.0.2.1"), Instant::now());
        for _ in 0..100 {
            assert!(!l.failed("admin", s, t0, &policy));
        }
        assert_eq!(l.gate("admin", s, t0, &policy), Gate::Open);
    }

    #[test]
    fn the_table_is_bounded() {
        let policy = SecurityPolicy::default();
        let l = Lockout::default();
        let t0 = Instant::now();
        for i in 0..(MAX_ENTRIES + 10) {
            let s = Source::of(Some(std::net::IpAddr::from((i as u32).to_be_bytes())));
            l.failed("admin", s, at(t0, i as u64), &policy);
        }
        assert_eq!(l.lock().len(), MAX_ENTRIES);
    }
}

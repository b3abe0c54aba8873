//! Login sessions, kept in memory: a reboot or a daemon restart logs everyone out.
//!
//! A token is 32 random bytes in hex. Sessions expire after a time without use (idle) and
//! after a fixed lifetime (absolute), both from the security policy, measured on the
//! monotonic clock so that an NTP step neither ends nor prolongs them.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use super::random_hex;

/// How the session was opened: the API (Bearer token) or the web UI (cookie + CSRF token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Api,
    Web,
}

#[derive(Debug, Clone)]
pub(crate) struct Session {
    /// Shared, not copied: a session is looked up on every request.
    pub user: Arc<str>,
    pub kind: Kind,
    /// The token every form of the web UI must carry (unused by API sessions).
    pub csrf: Arc<str>,
    pub must_change_password: bool,
    /// The policy requires a TOTP and the account has none: only its enrolment (and a
    /// password change, a logout) is allowed.
    pub must_enrol_totp: bool,
    created: Instant,
    last_used: Instant,
}

/// Idle and absolute limits.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub idle: Duration,
    pub max: Duration,
}

#[derive(Debug)]
pub(crate) struct Sessions {
    map: Mutex<HashMap<String, Session>>,
    /// Counts the times sessions ended (logout, password change, removed account, expiry
    /// seen, eviction): what stays open for a session (the update progress stream) looks
    /// again when it moves.
    ended: tokio::sync::watch::Sender<u64>,
}

impl Default for Sessions {
    fn default() -> Self {
        Sessions {
            map: Mutex::default(),
            ended: tokio::sync::watch::Sender::new(0),
        }
    }
}

/// Above this many live sessions the oldest is dropped, so that scripted logins cannot grow
/// memory without bound.
const MAX_SESSIONS: usize = 256;

impl Sessions {
    /// Open a session; returns its token.
    pub(crate) fn create(&self, user: &str, kind: Kind, must_change_password: bool) -> String {
        let token = random_hex(32);
        let now = Instant::now();
        let session = Session {
            user: Arc::from(user),
            kind,
            csrf: Arc::from(random_hex(32)),
            must_change_password,
            must_enrol_totp: false,
            created: now,
            last_used: now,
        };
        let mut map = self.lock();
        if map.len() >= MAX_SESSIONS {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, s)| s.last_used)
                .map(|(t, _)| t.clone())
            {
                map.remove(&oldest);
                self.bump();
            }
        }
        map.insert(token.clone(), session);
        token
    }

    /// The live session of `token` of the given kind, refreshed; expired ones are removed.
    pub(crate) fn get(&self, token: &str, kind: Kind, limits: Limits) -> Option<Session> {
        self.get_at(token, kind, limits, Instant::now())
    }

    fn get_at(&self, token: &str, kind: Kind, limits: Limits, now: Instant) -> Option<Session> {
        let mut map = self.lock();
        let session = map.get_mut(token)?;
        let expired = now.duration_since(session.last_used) >= limits.idle
            || now.duration_since(session.created) >= limits.max;
        if expired {
            map.remove(token);
            self.bump();
            return None;
        }
        if session.kind != kind {
            return None;
        }
        session.last_used = now;
        Some(session.clone())
    }

    pub(crate) fn remove(&self, token: &str) {
        self.lock().remove(token);
        self.bump();
    }

    /// Whether `token` is a live session of `kind`, without counting this as a use (a
    /// stream left open must not keep its session from expiring).
    pub(crate) fn alive(&self, token: &str, kind: Kind, limits: Limits) -> bool {
        self.alive_at(token, kind, limits, Instant::now())
    }

    fn alive_at(&self, token: &str, kind: Kind, limits: Limits, now: Instant) -> bool {
        self.lock().get(token).is_some_and(|s| {
            s.kind == kind
                && now.duration_since(s.last_used) < limits.idle
                && now.duration_since(s.created) < limits.max
        })
    }

    /// Changes each time sessions end ([`Sessions::alive`] tells which).
    pub(crate) fn ended(&self) -> tokio::sync::watch::Receiver<u64> {
        self.ended.subscribe()
    }

    fn bump(&self) {
        self.ended.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// After a password change: end every other session of `user`, clear the flag on `keep`.
    pub(crate) fn password_changed(&self, user: &str, keep: &str) {
        let mut map = self.lock();
        map.retain(|t, s| &*s.user != user || t == keep);
        if let Some(s) = map.get_mut(keep) {
            s.must_change_password = false;
        }
        drop(map);
        self.bump();
    }

    /// Mark a new session as able only to enrol a TOTP.
    pub(crate) fn require_enrolment(&self, token: &str) {
        if let Some(s) = self.lock().get_mut(token) {
            s.must_enrol_totp = true;
        }
    }

    /// After `user` enrolled a TOTP: their sessions may do everything again.
    pub(crate) fn enrolled(&self, user: &str) {
        for s in self.lock().values_mut().filter(|s| &*s.user == user) {
            s.must_enrol_totp = false;
        }
    }

    /// End every session of `user` (the account was disabled or deleted).
    pub(crate) fn end_user(&self, user: &str) {
        self.lock().retain(|_, s| &*s.user != user);
        self.bump();
    }

    /// After the accounts were replaced (a restore, the pair's sync): end the sessions of
    /// users that no longer exist.
    pub(crate) fn retain_users(&self, exists: impl Fn(&str) -> bool) {
        self.lock().retain(|_, s| exists(&s.user));
        self.bump();
    }

    pub(crate) fn count(&self) -> usize {
        self.lock().len()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        // A panic while holding the lock cannot leave the map half-updated: recover it.
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: Limits = Limits {
        idle: Duration::from_secs(60),
        max: Duration::from_secs(600),
    };

    #[test]
    fn tokens_are_long_and_distinct() {
        let s = Sessions::default();
        let a = s.create("admin", Kind::Api, false);
        let b = s.create("admin", Kind::Api, false);
        assert_eq!(a.len(), 64);
        assert_ne!(a, b);
        assert_eq!(s.count(), 2);
    }

    #[test]
    fn idle_and_absolute_expiry() {
        let s = Sessions::default();
        let t = s.create("admin", Kind::Api, false);
        let start = Instant::now();
        // Used every 50 s: idle never reached, but the absolute limit is.
        let mut now = start;
        for _ in 0..11 {
            now += Duration::from_secs(50);
            assert!(s.get_at(&t, Kind::Api, LIMITS, now).is_some());
        }
        now += Duration::from_secs(50);
        assert!(s.get_at(&t, Kind::Api, LIMITS, now).is_none());
        assert_eq!(s.count(), 0, "expired session removed");

        let t = s.create("admin", Kind::Api, false);
        let later = Instant::now() + Duration::from_secs(61);
        assert!(s.get_at(&t, Kind::Api, LIMITS, later).is_none());
    }

    #[test]
    fn a_token_only_works_for_its_kind() {
        let s = Sessions::default();
        let t = s.create("admin", Kind::Web, false);
        assert!(s.get(&t, Kind::Api, LIMITS).is_none());
        assert!(s.get(&t, Kind::Web, LIMITS).is_some());
    }

    #[test]
    fn password_change_ends_other_sessions() {
        let s = Sessions::default();
        let keep = s.create("admin", Kind::Api, true);
        let other = s.create("admin", Kind::Web, true);
        let someone = s.create("operator", Kind::Api, false);
        s.password_changed("admin", &keep);
        assert!(
            !s.get(&keep, Kind::Api, LIMITS)
                .unwrap()
                .must_change_password
        );
        assert!(s.get(&other, Kind::Web, LIMITS).is_none());
        assert!(s.get(&someone, Kind::Api, LIMITS).is_some());
    }

    #[test]
    fn alive_neither_refreshes_nor_outlives_the_session() {
        let s = Sessions::default();
        let mut ended = s.ended();
        let t = s.create("admin", Kind::Api, false);
        let start = Instant::now();
        assert!(s.alive_at(&t, Kind::Api, LIMITS, start));
        assert!(!s.alive_at(&t, Kind::Web, LIMITS, start));
        // Looked at every 10 s, it still goes idle after 60 s without a use.
        for i in 1..6 {
            assert!(s.alive_at(&t, Kind::Api, LIMITS, start + Duration::from_secs(10 * i)));
        }
        assert!(!s.alive_at(&t, Kind::Api, LIMITS, start + Duration::from_secs(61)));
        assert!(!ended.has_changed().unwrap());
        s.remove(&t);
        assert!(ended.has_changed().unwrap(), "a logout is announced");
        ended.mark_unchanged();
        assert!(!s.alive(&t, Kind::Api, LIMITS));
        let u = s.create("admin", Kind::Api, false);
        s.password_changed("admin", "another");
        assert!(ended.has_changed().unwrap());
        assert!(!s.alive(&u, Kind::Api, LIMITS));
    }

    #[test]
    fn a_disabled_users_sessions_end_and_enrolment_lifts_its_limit() {
        let s = Sessions::default();
        let a = s.create("alice", Kind::Api, false);
        let b = s.create("bob", Kind::Web, false);
        s.require_enrolment(&b);
        assert!(s.get(&b, Kind::Web, LIMITS).unwrap().must_enrol_totp);
        s.enrolled("bob");
        assert!(!s.get(&b, Kind::Web, LIMITS).unwrap().must_enrol_totp);
        s.end_user("alice");
        assert!(s.get(&a, Kind::Api, LIMITS).is_none());
        assert!(s.get(&b, Kind::Web, LIMITS).is_some());
    }

    #[test]
    fn the_table_is_bounded() {
        let s = Sessions::default();
        for _ in 0..(MAX_SESSIONS + 10) {
            s.create("admin", Kind::Api, false);
        }
        assert_eq!(s.count(), MAX_SESSIONS);
    }
}

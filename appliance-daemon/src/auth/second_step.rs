//! Web logins between their two steps: the password was right, the account has a TOTP,
//! and the login page asks for the code. A ticket (random, in a hidden field of that
//! form) names the account for [`LIFETIME`]; the password is not kept.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::random_hex;

/// How long the code may be typed after the password.
pub(crate) const LIFETIME: Duration = Duration::from_secs(5 * 60);
/// Above this many open tickets the oldest is dropped.
const MAX_TICKETS: usize = 64;

#[derive(Debug, Default)]
pub(crate) struct SecondSteps {
    map: Mutex<HashMap<String, (String, Instant)>>,
}

impl SecondSteps {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (String, Instant)>> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A new ticket for `user`.
    pub(crate) fn begin(&self, user: &str) -> String {
        let ticket = random_hex(32);
        let now = Instant::now();
        let mut map = self.lock();
        map.retain(|_, (_, at)| now.duration_since(*at) < LIFETIME);
        if map.len() >= MAX_TICKETS {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, (_, at))| *at)
                .map(|(t, _)| t.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(ticket.clone(), (user.to_string(), now));
        ticket
    }

    /// The account of a live ticket.
    pub(crate) fn user(&self, ticket: &str) -> Option<String> {
        let map = self.lock();
        let (user, at) = map.get(ticket)?;
        (at.elapsed() < LIFETIME).then(|| user.clone())
    }

    pub(crate) fn end(&self, ticket: &str) {
        self.lock().remove(ticket);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ticket_names_its_account_until_ended() {
        let s = SecondSteps::default();
        let t = s.begin("alice");
        assert_eq!(s.user(&t).as_deref(), Some("alice"));
        assert_eq!(s.user("nope"), None);
        s.end(&t);
        assert_eq!(s.user(&t), None);
    }
}

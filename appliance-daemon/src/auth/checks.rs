//! The password checks' queue: one argon2 check at a time, a few logins waiting for it,
//! and the rest refused at once.
//!
//! A check holds its turn ([`Turn`]) until it has finished and its outcome is recorded,
//! even if the client hung up meanwhile: the turn moves into the blocking task that does
//! the work, so at most one check's memory (argon2: 19 MiB) is ever in use, however many
//! clients connect and leave. Logins that wait for their turn are counted: at most
//! [`MAX_WAITING`] in all and [`MAX_WAITING_PER_SOURCE`] from one source (an IPv4
//! address, an IPv6 /64); beyond that a login is answered "busy" at once, so a flood from
//! one source neither grows memory nor keeps a login from elsewhere waiting long.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Logins waiting for the check, from all sources.
pub(crate) const MAX_WAITING: usize = 16;
/// Logins waiting for the check from one source.
pub(crate) const MAX_WAITING_PER_SOURCE: usize = 4;
/// What a refused login is told to wait before trying again.
pub(crate) const RETRY_AFTER_SECONDS: u64 = 1;

/// The right to run one password check; held until the check's outcome is recorded.
#[derive(Debug)]
pub(crate) struct Turn(#[allow(dead_code, reason = "held for its drop")] OwnedSemaphorePermit);

/// Too many logins are waiting (in all or from this source).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Busy;

/// Where logins come from, for counting: an IPv4 address or an IPv6 /64 (one site).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum Source {
    V4(u32),
    V6(u64),
    Unknown,
}

impl Source {
    pub(crate) fn of(address: Option<IpAddr>) -> Source {
        match address.map(|a| a.to_canonical()) {
            Some(IpAddr::V4(a)) => Source::V4(a.into()),
            Some(IpAddr::V6(a)) => Source::V6((u128::from(a) >> 64) as u64),
            None => Source::Unknown,
        }
    }
}

#[derive(Debug, Default)]
struct Waiting {
    total: usize,
    by_source: HashMap<Source, usize>,
}

#[derive(Debug)]
pub(crate) struct Checks {
    running: Arc<Semaphore>,
    waiting: Arc<Mutex<Waiting>>,
}

impl Default for Checks {
    fn default() -> Self {
        Checks {
            running: Arc::new(Semaphore::new(1)),
            waiting: Arc::default(),
        }
    }
}

/// A place in the queue, given back when the login gets its turn or its client leaves.
struct Place {
    waiting: Arc<Mutex<Waiting>>,
    source: Source,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut w = lock(&self.waiting);
        w.total = w.total.saturating_sub(1);
        if let Some(n) = w.by_source.get_mut(&self.source) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                w.by_source.remove(&self.source);
            }
        }
    }
}

impl Checks {
    /// Take a place in the queue for a login from `address`; [`Busy`] at once when the
    /// queue (or this source's share of it) is full. The place is held from this call.
    pub(crate) fn queue(&self, address: Option<IpAddr>) -> Result<Waiter, Busy> {
        let source = Source::of(address);
        let mut w = lock(&self.waiting);
        let mine = w.by_source.get(&source).copied().unwrap_or(0);
        if w.total >= MAX_WAITING || mine >= MAX_WAITING_PER_SOURCE {
            return Err(Busy);
        }
        w.total += 1;
        *w.by_source.entry(source).or_insert(0) += 1;
        Ok(Waiter {
            place: Place {
                waiting: Arc::clone(&self.waiting),
                source,
            },
            running: Arc::clone(&self.running),
        })
    }
}

/// A login with a place in the queue.
pub(crate) struct Waiter {
    place: Place,
    running: Arc<Semaphore>,
}

impl std::fmt::Debug for Waiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiter").finish_non_exhaustive()
    }
}

impl Waiter {
    /// Wait for the turn (first come, first served); the place is given back then.
    pub(crate) async fn turn(self) -> Turn {
        let Waiter { place, running } = self;
        let permit = match running.acquire_owned().await {
            Ok(permit) => permit,
            // The semaphore lives as long as `Checks` and is never closed.
            Err(_) => unreachable!("the checks' semaphore is never closed"),
        };
        drop(place);
        Turn(permit)
    }
}

fn lock(w: &Mutex<Waiting>) -> std::sync::MutexGuard<'_, Waiting> {
    // Counters only: a panic elsewhere cannot leave them half-updated.
    w.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn addr(s: &str) -> Option<IpAddr> {
        Some(s.parse().unwrap())
    }

    async fn pending(w: &mut std::pin::Pin<Box<impl std::future::Future<Output = Turn>>>) -> bool {
        tokio::time::timeout(Duration::from_millis(5), w)
            .await
            .is_err()
    }

    #[tokio::test]
    async fn one_source_fills_only_its_share_of_the_queue() {
        let checks = Checks::default();
        let running = checks.queue(addr("192.0.2.1")).unwrap().turn().await;
        let mut waiting: Vec<_> = (0..MAX_WAITING_PER_SOURCE)
            .map(|_| Box::pin(checks.queue(addr("192.0.2.1")).unwrap().turn()))
            .collect();
        for w in &mut waiting {
            assert!(pending(w).await);
        }
        assert_eq!(checks.queue(addr("192.0.2.1")).err(), Some(Busy));
        // Another address still gets a place; one IPv6 /64 is one source.
        assert!(checks.queue(addr("192.0.2.2")).is_ok());
        let v6: Vec<_> = (0..MAX_WAITING_PER_SOURCE)
            .map(|i| checks.queue(addr(&format!("2001:db8::{i}"))).unwrap())
            .collect();
        assert_eq!(checks.queue(addr("2001:db8::ff")).err(), Some(Busy));
        assert!(checks.queue(addr("2001:db8:0:1::1")).is_ok());
        drop(v6);
        assert!(checks.queue(addr("2001:db8::ff")).is_ok());
        // A client that leaves gives its place back.
        waiting.pop();
        let mut again = Box::pin(checks.queue(addr("192.0.2.1")).unwrap().turn());
        assert!(pending(&mut again).await);
        // Turns are given in order: the first waiting one gets it, and only it.
        drop(running);
        let first = tokio::time::timeout(Duration::from_secs(1), &mut waiting[0])
            .await
            .expect("the first in the queue gets the turn");
        assert!(pending(&mut waiting[1]).await);
        drop(first);
        assert!(!pending(&mut waiting[1]).await);
    }

    #[tokio::test]
    async fn the_whole_queue_is_bounded() {
        let checks = Checks::default();
        let _running = checks.queue(None).unwrap().turn().await;
        let waiting: Vec<_> = (0..MAX_WAITING)
            .map(|i| checks.queue(addr(&format!("198.51.100.{i}"))).unwrap())
            .collect();
        assert_eq!(checks.queue(addr("203.0.113.9")).err(), Some(Busy));
        drop(waiting);
        assert!(checks.queue(addr("203.0.113.9")).is_ok());
    }
}

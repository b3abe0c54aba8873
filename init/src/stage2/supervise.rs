//! The life of one supervised service (pure state machine, time passed in): start,
//! exit, exponential restart backoff, giving up, stopping for shutdown.

use super::services::ServiceSpec;
use control::{ServiceInfo, ServiceState};
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    Running {
        pid: i32,
        since: Instant,
    },
    /// Waiting to be (re)started at `until`.
    BackingOff {
        until: Instant,
    },
    GaveUp,
    Stopped,
}

/// What happened when a service ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// It will be restarted after `delay`; `failure` of `limit` failures in a row.
    Restart {
        delay: Duration,
        failure: u32,
        limit: u32,
    },
    GaveUp {
        failures: u32,
    },
    /// It was stopped on purpose.
    Stopped,
}

#[derive(Debug, Clone)]
pub struct Service {
    pub spec: ServiceSpec,
    pub state: State,
    /// Failures in a row (reset once a run lasts `stable_after`).
    pub failures: u32,
    pub restarts: u32,
    started_before: bool,
    /// The missing `after` path was logged.
    pub said_waiting: bool,
}

/// Backoff before the restart following the `failure`-th failure in a row:
/// initial, doubled each time, capped at max.
pub fn backoff(initial: Duration, max: Duration, failure: u32) -> Duration {
    let shift = failure.saturating_sub(1).min(31);
    initial.saturating_mul(1u32 << shift).min(max)
}

impl Service {
    /// A service due to start at once.
    pub fn new(spec: ServiceSpec, now: Instant) -> Service {
        Service {
            spec,
            state: State::BackingOff { until: now },
            failures: 0,
            restarts: 0,
            started_before: false,
            said_waiting: false,
        }
    }

    /// A due service whose `after` path is missing waits `poll` more, without counting a
    /// failure. Returns the missing path.
    pub fn missing_after(
        &mut self,
        exists: impl Fn(&str) -> bool,
        now: Instant,
        poll: Duration,
    ) -> Option<&str> {
        let path = self.spec.after.as_deref().filter(|p| !exists(p))?;
        self.state = State::BackingOff { until: now + poll };
        Some(path)
    }

    pub fn due(&self, now: Instant) -> bool {
        matches!(self.state, State::BackingOff { until } if until <= now)
    }

    /// When the main loop must wake up for this service.
    pub fn deadline(&self) -> Option<Instant> {
        match self.state {
            State::BackingOff { until } => Some(until),
            _ => None,
        }
    }

    pub fn pid(&self) -> Option<i32> {
        match self.state {
            State::Running { pid, .. } => Some(pid),
            _ => None,
        }
    }

    pub fn started(&mut self, pid: i32, now: Instant) {
        if self.started_before {
            self.restarts += 1;
        }
        self.started_before = true;
        self.state = State::Running { pid, since: now };
    }

    /// The program could not even be started: a failure like a crash at once.
    pub fn start_failed(&mut self, now: Instant) -> Exit {
        self.state = State::Running { pid: 0, since: now };
        self.exited(now)
    }

    /// The service's process ended (any exit counts: services are meant to run forever).
    pub fn exited(&mut self, now: Instant) -> Exit {
        let since = match self.state {
            State::Running { since, .. } => since,
            State::Stopped => return Exit::Stopped,
            // Not running: nothing to account (a stray report).
            _ => return Exit::Stopped,
        };
        if now.duration_since(since) >= self.spec.stable_after {
            self.failures = 0;
        }
        self.failures += 1;
        if self.failures >= self.spec.give_up_after {
            self.state = State::GaveUp;
            return Exit::GaveUp {
                failures: self.failures,
            };
        }
        let delay = backoff(
            self.spec.restart_initial,
            self.spec.restart_max,
            self.failures,
        );
        self.state = State::BackingOff { until: now + delay };
        Exit::Restart {
            delay,
            failure: self.failures,
            limit: self.spec.give_up_after,
        }
    }

    /// Shutdown: no more restarts. Returns the pid still running, if any.
    pub fn stop(&mut self) -> Option<i32> {
        let pid = self.pid().filter(|&p| p > 0);
        self.state = State::Stopped;
        pid
    }

    pub fn info(&self) -> ServiceInfo {
        ServiceInfo {
            name: self.spec.name.clone(),
            state: match self.state {
                State::Running { .. } => ServiceState::Running,
                State::BackingOff { .. } => ServiceState::BackingOff,
                State::GaveUp => ServiceState::GaveUp,
                State::Stopped => ServiceState::Stopped,
            },
            pid: self.pid().and_then(|p| u32::try_from(p).ok()),
            restarts: self.restarts,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec() -> ServiceSpec {
        let mut s = ServiceSpec::new("svc", &["/bin/svc"]);
        s.give_up_after = 4;
        s
    }

    #[test]
    fn backoff_doubles_and_caps() {
        let s = Duration::from_secs;
        let d: Vec<_> = (1..=9).map(|f| backoff(s(1), s(60), f)).collect();
        assert_eq!(d, [1, 2, 4, 8, 16, 32, 60, 60, 60].map(s));
        assert_eq!(backoff(s(1), s(60), 200), s(60));
    }

    #[test]
    fn crashing_service_backs_off_then_gives_up() {
        let t0 = Instant::now();
        let mut svc = Service::new(spec(), t0);
        assert!(svc.due(t0));
        let mut now = t0;
        let mut delays = Vec::new();
        loop {
            svc.started(42, now);
            assert_eq!(svc.info().pid, Some(42));
            now += Duration::from_millis(10);
            match svc.exited(now) {
                Exit::Restart {
                    delay,
                    failure,
                    limit,
                } => {
                    assert_eq!(limit, 4);
                    assert_eq!(failure as usize, delays.len() + 1);
                    assert!(!svc.due(now));
                    now += delay;
                    assert!(svc.due(now));
                    delays.push(delay.as_secs());
                }
                Exit::GaveUp { failures } => {
                    assert_eq!(failures, 4);
                    break;
                }
                Exit::Stopped => panic!("not stopped"),
            }
        }
        assert_eq!(delays, [1, 2, 4]);
        assert_eq!(svc.info().state, ServiceState::GaveUp);
        assert_eq!(svc.info().restarts, 3);
        assert_eq!(svc.deadline(), None);
    }

    #[test]
    fn a_long_run_resets_the_failure_count() {
        let t0 = Instant::now();
        let mut svc = Service::new(spec(), t0);
        svc.started(1, t0);
        svc.exited(t0);
        svc.started(2, t0);
        svc.exited(t0);
        assert_eq!(svc.failures, 2);
        svc.started(3, t0);
        let later = t0 + Duration::from_secs(61);
        assert_eq!(
            svc.exited(later),
            Exit::Restart {
                delay: Duration::from_secs(1),
                failure: 1,
                limit: 4
            }
        );
    }

    #[test]
    fn a_service_waits_for_its_after_path_without_counting_failures() {
        let t0 = Instant::now();
        let mut s = Service::new(
            ServiceSpec {
                after: Some("/run/x.toml".into()),
                ..spec()
            },
            t0,
        );
        let poll = Duration::from_millis(200);
        assert_eq!(s.missing_after(|_| false, t0, poll), Some("/run/x.toml"));
        assert!(!s.due(t0));
        assert!(s.due(t0 + poll));
        assert_eq!(s.failures, 0);
        assert_eq!(
            s.missing_after(|p| p == "/run/x.toml", t0 + poll, poll),
            None
        );
        assert!(s.due(t0 + poll), "still due once the path exists");
    }

    #[test]
    fn stopped_services_are_not_restarted() {
        let t0 = Instant::now();
        let mut svc = Service::new(spec(), t0);
        svc.started(7, t0);
        assert_eq!(svc.stop(), Some(7));
        assert_eq!(svc.exited(t0), Exit::Stopped);
        assert!(!svc.due(t0 + Duration::from_secs(100)));
        assert_eq!(svc.info().state, ServiceState::Stopped);
        // A program that cannot be started counts as a failure.
        let mut bad = Service::new(spec(), t0);
        assert!(matches!(
            bad.start_failed(t0),
            Exit::Restart { failure: 1, .. }
        ));
    }
}

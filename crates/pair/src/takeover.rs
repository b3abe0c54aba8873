//! Automatic failover: when a backup takes over from a primary it no longer hears.
//!
//! A backup with automatic failover on checks the primary over the pair channel every
//! [`CHECK_INTERVAL`]. A check is *missed* when no answer comes within the interval. After
//! `missed_checks` in a row (default 5: one second) the backup probes the shared IPs with
//! ARP/NDP: a primary whose pair channel is down (its daemon hung, a firewall, a congested
//! link) but whose address still answers must not be doubled, so any answer from another
//! host vetoes the takeover. Nor does a backup that never completed a sync take over: it
//! would serve an empty service part. Otherwise it becomes primary alone
//! ([`crate::Event::BecomePrimary`] with `peer_answered: false`, one epoch up), the same
//! step an operator's Become primary takes when the peer is gone.
//!
//! [`decide`] is the rule, without I/O; the daemon counts, probes and acts.

use std::ops::RangeInclusive;
use std::time::Duration;

/// How often a backup with automatic failover checks the primary, and how long a check
/// may take before it counts as missed.
pub const CHECK_INTERVAL: Duration = Duration::from_millis(200);

/// The missed checks an operator may choose (0.4 s to 10 s at [`CHECK_INTERVAL`]): one
/// missed check alone is too easily a scheduling hiccup; beyond 10 s, keepalived-like
/// detection times are better served by the operator's own Become primary.
pub const MISSED_CHECKS: RangeInclusive<u32> = 2..=50;

/// The default: five missed checks, one second.
pub const DEFAULT_MISSED_CHECKS: u32 = 5;

/// Where the backup stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Check {
    /// Checks missed in a row.
    pub missed: u32,
    /// How many make the primary silent (the operator's setting).
    pub threshold: u32,
    /// A first complete sync happened: the backup holds a service part to serve.
    pub synced: bool,
}

/// What the probe of the shared IPs found, once made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Probe<'a> {
    /// Not probed yet.
    NotYet,
    /// No other host answered for any of them.
    Silent,
    /// Another host answered for `address` (`by`: its MAC).
    Answered { address: &'a str, by: &'a str },
}

/// Why the backup does not take over although the primary is silent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refrain<'a> {
    /// No complete sync yet.
    NoFirstSync,
    /// The shared IP still answers: the primary (or another host) holds it.
    StillAnswers { address: &'a str, by: &'a str },
}

/// What to do after a check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision<'a> {
    /// The primary answers, or has not missed enough checks: keep checking.
    Wait,
    /// The primary is silent: probe the shared IPs, then decide again.
    Probe,
    /// The primary is silent but taking over is not safe.
    Refrain(Refrain<'a>),
    /// Become primary.
    TakeOver,
}

/// The rule.
pub fn decide(check: Check, probe: Probe<'_>) -> Decision<'_> {
    if check.missed < check.threshold.max(1) {
        return Decision::Wait;
    }
    if !check.synced {
        return Decision::Refrain(Refrain::NoFirstSync);
    }
    match probe {
        Probe::NotYet => Decision::Probe,
        Probe::Answered { address, by } => Decision::Refrain(Refrain::StillAnswers { address, by }),
        Probe::Silent => Decision::TakeOver,
    }
}

/// Whether `missed_checks` is a setting an operator may choose; the sentence if not.
pub fn check_setting(missed_checks: u32) -> Result<(), String> {
    if MISSED_CHECKS.contains(&missed_checks) {
        Ok(())
    } else {
        Err(format!(
            "missed_checks must be between {} and {} (checks every {} ms, so {:.1} s to {:.1} s)",
            MISSED_CHECKS.start(),
            MISSED_CHECKS.end(),
            CHECK_INTERVAL.as_millis(),
            silence(*MISSED_CHECKS.start()).as_secs_f64(),
            silence(*MISSED_CHECKS.end()).as_secs_f64(),
        ))
    }
}

/// How long the primary has been silent after `missed` checks.
pub fn silence(missed: u32) -> Duration {
    CHECK_INTERVAL * missed
}

/// The reason logged and audited for a takeover: `primary missed 5 checks (1.0 s) and did
/// not answer ARP for 10.0.0.50`. `probed` are the shared IPs probed (address, protocol:
/// `ARP` or `NDP`).
pub fn takeover_reason(missed: u32, probed: &[(String, &str)]) -> String {
    let silent = format!(
        "primary missed {missed} checks ({:.1} s)",
        silence(missed).as_secs_f64()
    );
    if probed.is_empty() {
        return format!("{silent}; no shared IP to probe");
    }
    let mut by_protocol: Vec<(&str, Vec<&str>)> = Vec::new();
    for (address, protocol) in probed {
        let address = address.split('/').next().unwrap_or(address);
        match by_protocol.iter_mut().find(|(p, _)| p == protocol) {
            Some((_, list)) => list.push(address),
            None => by_protocol.push((protocol, vec![address])),
        }
    }
    let parts: Vec<String> = by_protocol
        .iter()
        .map(|(protocol, list)| format!("{protocol} for {}", list.join(", ")))
        .collect();
    format!("{silent} and did not answer {}", parts.join(" nor "))
}

/// The sentence for a refusal to take over.
pub fn refrain_reason(missed: u32, refrain: Refrain<'_>) -> String {
    let silent = format!(
        "primary missed {missed} checks ({:.1} s)",
        silence(missed).as_secs_f64()
    );
    match refrain {
        Refrain::NoFirstSync => format!(
            "{silent}, but this backup has not completed a first sync: it does not take over"
        ),
        Refrain::StillAnswers { address, by } => format!(
            "{silent}, but {} still answers from {by}: the primary may still serve it; no \
             takeover while it answers",
            address.split('/').next().unwrap_or(address)
        ),
    }
}

#[cfg(test)]
mod tests;

//! Expiry warnings (docs/certificates.md "Expiry warnings"): the stored certificates that
//! expire within 30 days are on Status; each one's crossing of 30, 7 and 1 days before
//! its end is logged and audited once (`certificates.expiry`). Which thresholds were
//! already logged is the `certificate_expiry` record of this machine, so a restart does
//! not repeat them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::store::Record;

/// Days before the end at which a warning is logged, largest first.
pub(crate) const THRESHOLDS: [i64; 3] = [30, 7, 1];
/// Status lists the certificates with at most this many days left.
pub(crate) const SHOWN_WITHIN_DAYS: i64 = 30;
/// How often the check runs (besides at start, after an import and after a restore or a
/// sync). Hourly rather than daily, so that a threshold is logged within the hour it is
/// crossed (the 1-day warning a day late would come after the end); a check that finds
/// nothing due reads one record and writes nothing.
pub(crate) const CHECK_EVERY: std::time::Duration = std::time::Duration::from_secs(3600);

const DAY: i64 = 86_400;

/// The thresholds already logged, by certificate id (this machine's; never synced).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct Warned {
    pub(crate) by_certificate: BTreeMap<String, Vec<i64>>,
}

/// The record's key.
pub(crate) const KEY: &str = "certificate_expiry";

impl Record for Warned {
    const KEY: &'static str = KEY;
}

/// Whole days left at `now` before `not_after` (rounded down; negative once expired).
pub(crate) fn days_left(not_after: i64, now: i64) -> i64 {
    (not_after - now).div_euclid(DAY)
}

/// The thresholds crossed at `now` that `warned` does not hold yet, largest first.
pub(crate) fn due(not_after: i64, now: i64, warned: &[i64]) -> Vec<i64> {
    let left = not_after - now;
    THRESHOLDS
        .into_iter()
        .filter(|t| left <= t * DAY && !warned.contains(t))
        .collect()
}

/// The sentence logged for `threshold` (what Status says too, in days left).
pub(crate) fn sentence(id: &str, name: &str, not_after: &str, days_left: i64) -> String {
    if days_left < 0 {
        format!("certificate {id} ({name}) expired on {not_after}")
    } else {
        let days = if days_left == 1 { "day" } else { "days" };
        format!("certificate {id} ({name}) expires in {days_left} {days}, on {not_after}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thresholds_are_due_once_each() {
        let now = 1_000_000_000;
        assert!(due(now + 31 * DAY, now, &[]).is_empty());
        assert_eq!(due(now + 30 * DAY, now, &[]), vec![30]);
        assert_eq!(due(now + 5 * DAY, now, &[]), vec![30, 7]);
        assert_eq!(due(now + 5 * DAY, now, &[30, 7]), Vec::<i64>::new());
        assert_eq!(due(now + DAY / 2, now, &[30, 7]), vec![1]);
        assert_eq!(due(now - DAY, now, &[]), vec![30, 7, 1]);
        assert_eq!(days_left(now + 5 * DAY - 1, now), 4);
        assert_eq!(days_left(now + 5 * DAY, now), 5);
        assert_eq!(days_left(now - 1, now), -1);
    }
}

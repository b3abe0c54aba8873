//! Dates of the signed documents that expire (catalog, download key): how far the
//! reader's clock may be behind the signer's, and how dates are written in messages.

/// How far in the future `issued` may be before the reader's clock is called wrong
/// (clocks set by NTP agree to well under a second; an unsynchronized one drifts).
pub const CLOCK_TOLERANCE_SECS: u64 = 5 * 60;

/// `YYYY-MM-DD HH:MM:SS UTC` of unix seconds (civil-from-days, proleptic Gregorian).
pub fn utc(secs: u64) -> String {
    let (days, rem) = (secs / 86400, secs % 86400);
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} UTC",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// The current unix time, 0 if the clock is before 1970.
pub fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::utc(1_704_067_200), "2024-01-01 00:00:00 UTC");
        assert_eq!(super::utc(951_782_400 + 3661), "2000-02-29 01:01:01 UTC");
    }
}

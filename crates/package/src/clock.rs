//! Dates of the signed documents that expire (catalog, download key): how far the
//! reader's clock may be behind the signer's, and how dates are written in messages.

/// How far in the future `issued` may be before the reader's clock is called wrong
/// (clocks set by NTP agree to well under a second; an unsynchronized one drifts).
pub const CLOCK_TOLERANCE_SECS: u64 = 5 * 60;

/// `YYYY-MM-DD HH:MM:SS UTC` of unix seconds, for messages.
pub fn utc(secs: u64) -> String {
    const UTC: &[time::format_description::BorrowedFormatItem<'_>] =
        time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    format(secs, UTC)
}

/// Unix seconds as RFC 3339, `2025-01-02T03:04:05Z`, for API fields and pages.
pub fn rfc3339(secs: u64) -> String {
    format(secs, &time::format_description::well_known::Rfc3339)
}

/// `secs` in UTC by `description`; a time past year 9999 (not a date anyone set on
/// purpose) as `N s after 1970`.
fn format(secs: u64, description: &(impl time::formatting::Formattable + ?Sized)) -> String {
    i64::try_from(secs)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .and_then(|t| t.format(description).ok())
        .unwrap_or_else(|| format!("{secs} s after 1970"))
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
        assert_eq!(super::rfc3339(951_782_400 + 3661), "2000-02-29T01:01:01Z");
        assert_eq!(
            super::rfc3339(u64::MAX),
            format!("{} s after 1970", u64::MAX)
        );
    }
}

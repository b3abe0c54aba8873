//! Unix seconds: the clock now, and how a date is written for people (`utc`) and in API
//! fields, records and pages (`rfc3339`).

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
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    #[test]
    fn utc_dates() {
        assert_eq!(super::utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(super::utc(1_704_067_200), "2024-01-01 00:00:00 UTC");
        assert_eq!(super::utc(951_782_400 + 3661), "2000-02-29 01:01:01 UTC");
        assert_eq!(super::rfc3339(951_782_400 + 3661), "2000-02-29T01:01:01Z");
        assert_eq!(super::rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(super::rfc3339(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(super::rfc3339(4_107_542_399), "2100-02-28T23:59:59Z");
        assert_eq!(
            super::rfc3339(u64::MAX),
            format!("{} s after 1970", u64::MAX)
        );
    }
}

//! The system clock and whether the kernel considers it synchronized (adjtimex(2), the
//! state an NTP client keeps up to date).
// Unsafe code: adjtimex(2) read-only (modes 0): no safe wrapper.
#![allow(unsafe_code)]

use nix::libc;
use units::rfc3339;

pub(crate) use api_types::ClockState;

pub(crate) fn now() -> ClockState {
    let unix = units::now();
    let kernel = kernel_clock();
    ClockState {
        utc: rfc3339(unix),
        unix,
        kernel_synchronized: kernel.is_some_and(|k| k.synchronized),
        max_error_us: kernel.map(|k| k.max_error_us),
        est_error_us: kernel.map(|k| k.est_error_us),
    }
}

#[derive(Debug, Clone, Copy)]
struct KernelClock {
    synchronized: bool,
    max_error_us: i64,
    est_error_us: i64,
}

/// Read, never set: `modes` 0 needs no privilege.
fn kernel_clock() -> Option<KernelClock> {
    // SAFETY: timex is plain data, all-zero is a valid value, and with modes == 0
    // adjtimex(2) only fills it in.
    let mut tx: libc::timex = unsafe { std::mem::zeroed() };
    let state = unsafe { libc::adjtimex(&mut tx) };
    if state == -1 {
        tracing::debug!(
            "clock synchronization not shown in the specs: adjtimex: {}",
            std::io::Error::last_os_error()
        );
        return None;
    }
    Some(KernelClock {
        synchronized: state != libc::TIME_ERROR && tx.status & libc::STA_UNSYNC == 0,
        // c_long: i32 on 32-bit targets.
        max_error_us: tx.maxerror as i64,
        est_error_us: tx.esterror as i64,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_at_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_709_251_199), "2024-02-29T23:59:59Z");
        assert_eq!(rfc3339(1_735_689_600), "2025-01-01T00:00:00Z");
        assert_eq!(rfc3339(4_107_542_400), "2100-03-01T00:00:00Z");
        assert_eq!(rfc3339(1_741_944_413), "2025-03-14T09:26:53Z");
    }

    #[test]
    fn civil_dates_round_a_whole_cycle() {
        // Every day from 1970 to 2400: consecutive, months and leap years right.
        let civil = |days: i64| {
            let text = rfc3339(days as u64 * 86_400);
            let n = |r: std::ops::Range<usize>| text[r].parse::<i64>().unwrap();
            (n(0..4), n(5..7), n(8..10))
        };
        let mut prev = civil(0);
        assert_eq!(prev, (1970, 1, 1));
        for days in 1..157_000 {
            let (y, m, d) = civil(days);
            let leap = (prev.0 % 4 == 0 && prev.0 % 100 != 0) || prev.0 % 400 == 0;
            let len = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            let next = if prev.2 < len[prev.1 as usize - 1] {
                (prev.0, prev.1, prev.2 + 1)
            } else if prev.1 < 12 {
                (prev.0, prev.1 + 1, 1)
            } else {
                (prev.0 + 1, 1, 1)
            };
            assert_eq!((y, m, d), next, "day {days}");
            prev = (y, m, d);
        }
        // Beyond the calendar: a clear text, not a panic.
        assert_eq!(rfc3339(u64::MAX), format!("{} s after 1970", u64::MAX));
    }

    #[test]
    fn reads_the_kernel_clock() {
        let clock = now();
        assert!(clock.unix > 1_700_000_000);
        assert!(
            clock.utc.ends_with('Z') && clock.utc.len() == 20,
            "{}",
            clock.utc
        );
        // adjtimex with modes 0 works unprivileged, in containers too.
        assert!(clock.max_error_us.is_some());
    }
}

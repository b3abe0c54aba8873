//! One line of the ring: its text form and the level read from a service's line (pure).
//!
//! `BOOT BOOT_ID TIME_US UPTIME_MS LEVEL SERVICE MESSAGE\n`: the boot's sequence number
//! (1 for the first boot this ring saw, one more each boot), the kernel's boot id (32 hex
//! digits), the wall clock in microseconds since 1970, milliseconds since boot
//! (CLOCK_BOOTTIME: right even before the clock is set), the level, the service's name and
//! the message with `\`, newlines and other control characters escaped.

use std::fmt::Write as _;

/// How severe a line is, most severe first (a subset of syslog's).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Error,
    Warn,
    Notice,
    Info,
    Debug,
}

impl Level {
    pub const ALL: [Level; 5] = [
        Level::Error,
        Level::Warn,
        Level::Notice,
        Level::Info,
        Level::Debug,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Notice => "notice",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }

    pub fn parse(s: &str) -> Option<Level> {
        Level::ALL.into_iter().find(|l| l.as_str() == s)
    }

    /// The level a service's line states and the message to keep: a line that starts
    /// with its own UTC time stamp and level word (`2026-12-07T23:00:00.123Z  INFO text`,
    /// as `tracing` prints) keeps only `text`, since the log stamps every line itself;
    /// any other line is kept whole, its level from [`Level::guess`].
    pub fn split(line: &str) -> (Level, &str) {
        let mut words = line.splitn(2, ' ');
        let (Some(stamp), Some(rest)) = (words.next(), words.next()) else {
            return (Level::guess(line), line);
        };
        let stamped = stamp.len() >= 20
            && stamp.as_bytes()[0].is_ascii_digit()
            && stamp.as_bytes().get(10) == Some(&b'T')
            && stamp.ends_with('Z');
        let rest = rest.trim_start();
        let (word, text) = rest.split_once(' ').unwrap_or((rest, ""));
        let level = match word {
            "ERROR" => Some(Level::Error),
            "WARN" => Some(Level::Warn),
            "INFO" => Some(Level::Info),
            "DEBUG" | "TRACE" => Some(Level::Debug),
            _ => None,
        };
        match (stamped, level) {
            (true, Some(level)) => (level, text),
            _ => (Level::guess(line), line),
        }
    }

    /// The level a service's line states: a syslog `<N>` prefix, or one of the first four
    /// words being `ERROR`, `WARN`, `INFO`, `DEBUG`, `TRACE` (as `tracing` and most
    /// daemons print them). Anything else is `info`.
    pub fn guess(line: &str) -> Level {
        let b = line.as_bytes();
        if b.len() >= 3 && b[0] == b'<' && b[2] == b'>' && b[1].is_ascii_digit() {
            return match b[1] - b'0' {
                0..=3 => Level::Error,
                4 => Level::Warn,
                5 => Level::Notice,
                6 => Level::Info,
                _ => Level::Debug,
            };
        }
        for word in line.split_whitespace().take(4) {
            let w = word.trim_matches(|c: char| !c.is_ascii_alphabetic());
            match w {
                "ERROR" | "FATAL" | "CRIT" | "CRITICAL" => return Level::Error,
                "WARN" | "WARNING" => return Level::Warn,
                "NOTICE" => return Level::Notice,
                "INFO" => return Level::Info,
                "DEBUG" | "TRACE" => return Level::Debug,
                _ => {}
            }
        }
        Level::Info
    }
}

/// One stored line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub boot: u64,
    pub boot_id: String,
    pub time_us: u64,
    pub uptime_ms: u64,
    pub level: Level,
    pub service: String,
    pub message: String,
}

impl Record {
    /// The line as stored, newline included.
    pub fn encode(&self) -> String {
        let mut out = String::with_capacity(80 + self.message.len());
        encode_into(
            &mut out,
            self.boot,
            &self.boot_id,
            self.time_us,
            self.uptime_ms,
            self.level,
            &self.service,
            &self.message,
        );
        out
    }

    /// A stored line (without its newline); `None` when it is not one (a torn write).
    pub fn parse(line: &str) -> Option<Record> {
        let mut it = line.splitn(7, ' ');
        let boot = it.next()?.parse().ok()?;
        let boot_id = it.next()?.to_string();
        let time_us = it.next()?.parse().ok()?;
        let uptime_ms = it.next()?.parse().ok()?;
        let level = Level::parse(it.next()?)?;
        let service = it.next()?.to_string();
        let message = unescape(it.next().unwrap_or(""));
        if service.is_empty() || boot_id.is_empty() {
            return None;
        }
        Some(Record {
            boot,
            boot_id,
            time_us,
            uptime_ms,
            level,
            service,
            message,
        })
    }
}

/// Append one stored line to `out` (the writer's path: no allocation beyond `out`).
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_into(
    out: &mut String,
    boot: u64,
    boot_id: &str,
    time_us: u64,
    uptime_ms: u64,
    level: Level,
    service: &str,
    message: &str,
) {
    let _ = write!(
        out,
        "{boot} {boot_id} {time_us} {uptime_ms} {} ",
        level.as_str()
    );
    if service.is_empty() {
        out.push('-');
    }
    for c in service.chars() {
        out.push(if c.is_whitespace() || c.is_control() {
            '_'
        } else {
            c
        });
    }
    out.push(' ');
    for c in message.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push('\t'),
            c if (c as u32) < 0x20 || c == '\u{7f}' => {
                let _ = write!(out, "\\x{:02x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('\n');
}

fn unescape(s: &str) -> String {
    if !s.contains('\\') {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match it.next() {
            Some('n') => out.push('\n'),
            Some('r') => out.push('\r'),
            Some('x') => {
                let hex: String = it.by_ref().take(2).collect();
                match u32::from_str_radix(&hex, 16).ok().and_then(char::from_u32) {
                    Some(c) => out.push(c),
                    None => out.push('\u{fffd}'),
                }
            }
            Some(other) => out.push(other),
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_survives_its_text_form() {
        let r = Record {
            boot: 7,
            boot_id: "0123456789abcdef0123456789abcdef".into(),
            time_us: 1_765_000_000_123_456,
            uptime_ms: 4_321,
            level: Level::Warn,
            service: "appliance-daemon".into(),
            message: "a\\b\nc\rd\te\u{1b}[0m end  ".into(),
        };
        let text = r.encode();
        assert!(text.ends_with('\n'));
        assert_eq!(text.matches('\n').count(), 1);
        assert_eq!(Record::parse(text.trim_end_matches('\n')), Some(r));
    }

    #[test]
    fn service_names_cannot_split_the_line() {
        let r = Record {
            boot: 1,
            boot_id: "x".into(),
            time_us: 1,
            uptime_ms: 1,
            level: Level::Info,
            service: "my svc".into(),
            message: String::new(),
        };
        let back = Record::parse(r.encode().trim_end_matches('\n')).unwrap();
        assert_eq!(back.service, "my_svc");
        assert_eq!(back.message, "");
    }

    #[test]
    fn torn_lines_are_not_records() {
        assert_eq!(Record::parse("12 abc 1765"), None);
        assert_eq!(Record::parse("12 abc 1 2 loud init x"), None);
        assert_eq!(Record::parse(""), None);
    }

    #[test]
    fn a_tracing_line_loses_its_own_stamp_and_level() {
        assert_eq!(
            Level::split("2026-12-08T00:11:49.583272Z  INFO serving HTTPS addr=127.0.0.1:1"),
            (Level::Info, "serving HTTPS addr=127.0.0.1:1")
        );
        assert_eq!(
            Level::split("2026-12-08T00:11:49Z  WARN slot B unreadable"),
            (Level::Warn, "slot B unreadable")
        );
        // Anything else stays whole.
        assert_eq!(
            Level::split("ERROR something broke"),
            (Level::Error, "ERROR something broke")
        );
        assert_eq!(
            Level::split("2026-12-08T00:11:49Z nothing"),
            (Level::Info, "2026-12-08T00:11:49Z nothing")
        );
        assert_eq!(Level::split(""), (Level::Info, ""));
    }

    #[test]
    fn levels_are_read_from_what_daemons_print() {
        assert_eq!(
            Level::guess("2026-12-07T23:00:00.123Z  WARN slot B is not readable"),
            Level::Warn
        );
        assert_eq!(
            Level::guess("2026-12-07T23:00:00Z ERROR boom"),
            Level::Error
        );
        assert_eq!(Level::guess("<3>kernel says"), Level::Error);
        assert_eq!(Level::guess("<5>note"), Level::Notice);
        assert_eq!(Level::guess("[DEBUG] x"), Level::Debug);
        assert_eq!(
            Level::guess("plain words with more words and ERROR later on"),
            Level::Info
        );
        assert_eq!(Level::guess(""), Level::Info);
    }
}

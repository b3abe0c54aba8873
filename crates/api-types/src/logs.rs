//! `GET /api/v1/logs`: the persistent log's lines, newest first, a page at a time
//! (docs/logs.md).

use serde::{Deserialize, Serialize};

/// One line of the log.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogLine {
    /// Where the line is in the ring: `before=` this for what is older.
    pub cursor: String,
    /// The boot's number (1 for the first boot the log kept, one more each boot).
    pub boot: u64,
    /// The kernel's id of that boot (32 hex digits).
    pub boot_id: String,
    /// UTC, RFC 3339 with microseconds, as the appliance's clock read when the line came.
    pub time: String,
    /// Microseconds since 1970.
    pub time_us: u64,
    /// Milliseconds since that boot started.
    pub uptime_ms: u64,
    /// `init`, `appliance-daemon`, `ntpd`, … (`log`: the log's own notes, lines lost).
    pub service: String,
    /// `error`, `warn`, `notice`, `info` or `debug`.
    pub level: String,
    pub message: String,
}

/// One boot the log knows.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LogBoot {
    pub boot: u64,
    pub boot_id: String,
    /// When its log started (UTC, RFC 3339; the clock as it was then).
    pub started: String,
    /// True for the boot running now.
    pub current: bool,
}

/// `GET /api/v1/logs` answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Logs {
    /// Newest first.
    pub lines: Vec<LogLine>,
    /// `before=` this for the next, older page; null when nothing older matches.
    pub next: Option<String>,
    /// The end of the log when it was read: `after=` this gives only newer lines
    /// (`appliancectl logs -f`).
    pub head: String,
    /// The boot the `boot` parameter meant, if one was given.
    pub boot: Option<u64>,
    /// Every boot the log knows, oldest first.
    pub boots: Vec<LogBoot>,
    /// Size of the log on data, and its cap, in bytes.
    pub size_bytes: u64,
    pub cap_bytes: u64,
}

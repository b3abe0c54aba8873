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

/// One syslog server the appliance forwards its log and audit events to
/// (`/api/v1/logs/forwarding`, docs/logs.md "Syslog forwarding").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyslogServer {
    /// A host name or an IP address; for `tls`, the name the server's certificate must
    /// carry.
    pub host: String,
    pub port: u16,
    /// `udp`, `tcp` or `tls`.
    pub transport: String,
    /// For `tls`: the CA (PEM) the server's certificate must chain to; the only one
    /// trusted. Null for `udp` and `tcp`.
    pub ca: Option<String>,
}

/// `PUT /api/v1/logs/forwarding` request; unknown fields are refused.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardingRequest {
    pub servers: Vec<SyslogServer>,
}

/// One server with what its link is doing.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyslogServerStatus {
    #[serde(flatten)]
    pub server: SyslogServer,
    /// A connection (TCP, TLS) is up, or the UDP socket sends without error.
    pub connected: bool,
    /// Lines waiting for the server, and their bytes.
    pub queued_lines: u64,
    pub queued_bytes: u64,
    /// Lines dropped because the queue was full, since the daemon started or this server
    /// was set.
    pub dropped: u64,
    /// Lines the server took since then.
    pub sent: u64,
    /// The last failure (connect, TLS, write), and when (UTC, RFC 3339).
    pub last_error: Option<String>,
    pub last_error_at: Option<String>,
}

/// `GET /api/v1/logs/forwarding` answer, and the answer of `PUT`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Forwarding {
    pub servers: Vec<SyslogServerStatus>,
    /// The bound of each server's queue, in bytes (the oldest lines go first).
    pub queue_cap_bytes: u64,
}

//! RFC 5424 messages made from the log's lines and the audit log's entries, and their
//! framing (docs/logs.md "Syslog forwarding").
//!
//! `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID [SD] MSG`:
//! - a log line: APP-NAME its service (`init`, `appliance-daemon`, `ntpd`, …), MSGID `-`,
//!   SD `[log@32473 boot="N"]`, facility daemon (3; the log's own notes syslog, 5),
//!   severity from its level;
//! - an audit entry: APP-NAME `appliance-daemon`, MSGID `audit`, SD
//!   `[audit@32473 id="…" action="…" actor="…" address="…"]` (address left out when the
//!   change did not come over the network), MSG its detail, facility log audit (13),
//!   severity notice (warning for `*.failed`).

use logring::{Level, Record};

use crate::store::AuditEntry;

/// The enterprise number in the SD-IDs: 32473 is the one RFC 5612 reserves for
/// documentation; a vendor with its own IANA Private Enterprise Number puts it here.
pub(crate) const ENTERPRISE: u32 = 32473;

const FACILITY_DAEMON: u8 = 3;
const FACILITY_SYSLOG: u8 = 5;
const FACILITY_LOG_AUDIT: u8 = 13;
const SEVERITY_WARNING: u8 = 4;
const SEVERITY_NOTICE: u8 = 5;

fn severity(level: Level) -> u8 {
    match level {
        Level::Error => 3,
        Level::Warn => SEVERITY_WARNING,
        Level::Notice => SEVERITY_NOTICE,
        Level::Info => 6,
        Level::Debug => 7,
    }
}

/// `2026-12-07T23:00:00.123456Z`.
fn timestamp(time_us: u64) -> String {
    super::super::time_text(time_us)
}

/// A header field: printable US-ASCII without spaces, at most `max` characters; `-` when
/// nothing is left.
fn field(s: &str, max: usize) -> String {
    let f: String = s.chars().filter(char::is_ascii_graphic).take(max).collect();
    if f.is_empty() {
        "-".into()
    } else {
        f
    }
}

/// An SD-PARAM value: `"`, `\` and `]` escaped (RFC 5424 6.3.3).
fn param(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn header(pri: u8, time_us: u64, hostname: &str, app: &str, msgid: &str) -> String {
    format!(
        "<{pri}>1 {} {} {} - {}",
        timestamp(time_us),
        field(hostname, 255),
        field(app, 48),
        field(msgid, 32)
    )
}

/// One log line as a message.
pub(crate) fn log_line(r: &Record, hostname: &str) -> String {
    let facility = if r.service == "log" {
        FACILITY_SYSLOG
    } else {
        FACILITY_DAEMON
    };
    format!(
        "{} [log@{ENTERPRISE} boot=\"{}\"] {}",
        header(
            facility * 8 + severity(r.level),
            r.time_us,
            hostname,
            &r.service,
            "-"
        ),
        r.boot,
        r.message
    )
}

/// One audit entry as a message.
pub(crate) fn audit(e: &AuditEntry, hostname: &str) -> String {
    let severity = if e.action.ends_with(".failed") {
        SEVERITY_WARNING
    } else {
        SEVERITY_NOTICE
    };
    let mut sd = format!(
        "[audit@{ENTERPRISE} id=\"{}\" action=\"{}\" actor=\"{}\"",
        e.id,
        param(&e.action),
        param(&e.actor)
    );
    if let Some(a) = e.address {
        sd.push_str(&format!(" address=\"{a}\""));
    }
    sd.push(']');
    format!(
        "{} {sd} {}",
        header(
            FACILITY_LOG_AUDIT * 8 + severity,
            e.at.saturating_mul(1_000_000),
            hostname,
            super::super::dev::SERVICE,
            "audit"
        ),
        e.detail
    )
}

/// The forwarding's own note: lines a server's full queue dropped.
pub(crate) fn dropped(n: u64, server: &str, hostname: &str, now_us: u64) -> String {
    format!(
        "{} [log@{ENTERPRISE}] {n} log lines were dropped for {server} (its queue was full while it could not be reached)",
        header(
            FACILITY_SYSLOG * 8 + SEVERITY_WARNING,
            now_us,
            hostname,
            super::super::dev::SERVICE,
            "dropped"
        )
    )
}

/// TCP and TLS: `LEN SP MSG` (octet counting, RFC 6587 3.4.1, RFC 5425 4.3).
pub(crate) fn frame_into(out: &mut Vec<u8>, msg: &[u8]) {
    out.extend_from_slice(msg.len().to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(msg);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_lines_and_audit_entries_as_rfc5424() {
        let r = Record {
            boot: 4,
            boot_id: "b".into(),
            time_us: 951_782_400_000_042,
            uptime_ms: 5,
            level: Level::Warn,
            service: "ntpd".into(),
            message: "no server answers".into(),
        };
        assert_eq!(
            log_line(&r, "box 1"),
            "<28>1 2000-02-29T00:00:00.000042Z box1 ntpd - - [log@32473 boot=\"4\"] no server answers"
        );
        let mut e = AuditEntry {
            id: 7,
            at: 951_782_400,
            actor: "ad\"m]in".into(),
            action: "session.failed".into(),
            detail: "wrong password".into(),
            address: Some("192.0.2.9".parse().unwrap()),
            restored_from: None,
        };
        assert_eq!(
            audit(&e, "appliance"),
            "<108>1 2000-02-29T00:00:00.000000Z appliance appliance-daemon - audit \
             [audit@32473 id=\"7\" action=\"session.failed\" actor=\"ad\\\"m\\]in\" \
             address=\"192.0.2.9\"] wrong password"
        );
        e.address = None;
        e.action = "time.servers".into();
        let m = audit(&e, "");
        assert!(
            m.starts_with("<109>1 2000-02-29T00:00:00.000000Z - appliance-daemon"),
            "{m}"
        );
        assert!(m.contains("actor=\"ad\\\"m\\]in\"] wrong"), "{m}");
        let mut framed = Vec::new();
        frame_into(&mut framed, "ab c".as_bytes());
        frame_into(&mut framed, "é".as_bytes());
        assert_eq!(framed, "4 ab c2 é".as_bytes());
    }
}

//! Readable output: aligned `Key: value` lines, binary sizes, short durations.

use appliancectl::api::{Certificate, Health, Nic, Status, Time, Updates};

pub(crate) use units::bytes;

/// `42 s`, `5 min`, `2 h 03 min`, `3 d 04 h 05 min`.
pub(crate) fn uptime(seconds: u64) -> String {
    let (days, hours, minutes) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
    );
    if seconds < 60 {
        format!("{seconds} s")
    } else if seconds < 3600 {
        format!("{minutes} min")
    } else if days == 0 {
        format!("{hours} h {minutes:02} min")
    } else {
        format!("{days} d {hours:02} h {minutes:02} min")
    }
}

/// Unix seconds as UTC, RFC 3339: `2025-01-02T03:04:05Z`.
pub(crate) use units::rfc3339 as utc;

/// `Key: value` lines with the values in one column.
pub(crate) fn aligned(rows: &[(String, String)]) -> String {
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (key, value) in rows {
        let pad = width - key.chars().count();
        out.push_str(&format!("{key}:{} {value}\n", " ".repeat(pad)));
    }
    out
}

pub(crate) fn push(
    rows: &mut Vec<(String, String)>,
    key: impl Into<String>,
    value: Option<String>,
) {
    if let Some(value) = value.filter(|v| !v.is_empty()) {
        rows.push((key.into(), value));
    }
}

pub(crate) fn health(health: &Health) -> String {
    let mut rows = Vec::new();
    push(&mut rows, "Status", Some(health.status.clone()));
    push(&mut rows, "Version", Some(health.version.clone()));
    push(&mut rows, "Slot", Some(health.slot.clone()));
    push(&mut rows, "Profile", Some(health.profile.clone()));
    aligned(&rows)
}

/// `Some` unless empty: what a lenient read left at its default is not shown.
fn known(text: &str) -> Option<String> {
    (!text.is_empty()).then(|| text.to_string())
}

pub(crate) fn status(status: &Status) -> String {
    let mut rows = Vec::new();
    push(&mut rows, "Model", known(&status.model));
    push(&mut rows, "Profile", known(&status.profile));
    push(
        &mut rows,
        "Serial",
        Some(status.serial.clone().unwrap_or_else(|| "none".to_string())),
    );
    push(&mut rows, "Appliance ID", known(&status.appliance_id));
    push(&mut rows, "Hostname", known(&status.hostname));
    let version = match (known(&status.version), known(&status.slot)) {
        (Some(v), Some(slot)) => Some(format!("{v} (slot {slot})")),
        (Some(v), None) => Some(v),
        (None, Some(slot)) => Some(format!("slot {slot}")),
        (None, None) => None,
    };
    push(&mut rows, "Version", version);
    push(
        &mut rows,
        "Uptime",
        (status.uptime_seconds > 0).then(|| uptime(status.uptime_seconds)),
    );
    push(&mut rows, "Time", known(&status.time));
    push(&mut rows, "Certificate", known(&status.certificate_sha256));
    if !status.certificates_expiring.is_empty() {
        let list = status
            .certificates_expiring
            .iter()
            .map(|c| {
                let left = match c.days_left {
                    n if n < 0 => "expired".to_string(),
                    0 => "expires today".to_string(),
                    1 => "1 day left".to_string(),
                    n => format!("{n} days left"),
                };
                format!("{} ({left}, until {})", c.name, c.not_after)
            })
            .collect::<Vec<_>>()
            .join("; ");
        push(&mut rows, "Expiring", Some(list));
    }
    if !status.update_keys.trusted.is_empty() {
        let mut keys = status.update_keys.trusted.join(", ");
        if status.update_keys.development {
            keys.push_str(
                " (DEVELOPMENT BUILD: accepts packages signed with the public development key)",
            );
        }
        push(&mut rows, "Update keys", Some(keys));
    }
    if let Some(pair) = &status.failover {
        let mut line = format!(
            "{} (epoch {}), peer {} {}, generation {}",
            pair.role,
            pair.epoch,
            pair.peer,
            if pair.peer_reachable {
                "answering"
            } else {
                "not answering"
            },
            pair.generation
        );
        if let Some(at) = pair.last_sync {
            line.push_str(&format!(", last sync {}", utc(at)));
        }
        if pair.lag_seconds > 0 {
            line.push_str(&format!(", {} s behind", pair.lag_seconds));
        }
        if let Some(error) = &pair.last_error {
            line.push_str(&format!("; last error: {}", error.message));
        }
        push(&mut rows, "Failover", Some(line));
    }
    let specs = &status.specs;
    if let Some(cpu) = &specs.cpu {
        let mut parts = Vec::new();
        parts.extend(cpu.model.clone());
        let cores = cpu.logical_cores;
        if cores > 0 {
            parts.push(format!(
                "{cores} {}",
                if cores == 1 { "core" } else { "cores" }
            ));
        }
        if let Some(mhz) = cpu.mhz {
            parts.push(format!("{mhz:.0} MHz"));
        }
        push(&mut rows, "CPU", Some(parts.join(", ")));
    }
    if let Some(memory) = &specs.memory {
        push(
            &mut rows,
            "Memory",
            Some(format!(
                "{} ({} available)",
                bytes(memory.total_bytes),
                bytes(memory.available_bytes)
            )),
        );
    }
    for disk in &specs.disks {
        let mut parts = vec![bytes(disk.size_bytes)];
        parts.extend(disk.model.clone());
        push(
            &mut rows,
            format!("Disk {}", disk.name),
            Some(parts.join(", ")),
        );
    }
    for nic in &specs.nics {
        push(&mut rows, format!("NIC {}", nic.name), Some(nic_line(nic)));
    }
    aligned(&rows)
}

fn nic_line(nic: &Nic) -> String {
    let mut parts = vec![if nic.carrier { "up" } else { "down" }.to_string()];
    if let Some(speed) = nic.speed_mbps {
        parts.push(format!("{speed} Mb/s"));
    }
    parts.extend(nic.mac.clone());
    let addresses: Vec<&str> = nic.all_addresses().collect();
    if !addresses.is_empty() {
        parts.push(addresses.join(" "));
    }
    parts.join(", ")
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_string()
}

pub(crate) fn time(time: &Time) -> String {
    let mut rows = Vec::new();
    let servers = if time.servers.is_empty() {
        "none (NTP is off)".to_string()
    } else {
        time.servers.join(", ")
    };
    push(&mut rows, "Servers", Some(servers));
    push(&mut rows, "Synchronized", Some(yes_no(time.synchronized)));
    push(&mut rows, "Server", time.server.clone());
    push(&mut rows, "Stratum", time.stratum.map(|s| s.to_string()));
    push(
        &mut rows,
        "Offset",
        time.offset_seconds.map(|o| format!("{o:+.6} s")),
    );
    push(&mut rows, "Last sync", time.last_sync.map(utc));
    push(
        &mut rows,
        "Time",
        (!time.time.is_empty()).then(|| time.time.clone()),
    );
    push(
        &mut rows,
        "Time daemon",
        time.daemon_error.clone().map(|e| format!("no state: {e}")),
    );
    aligned(&rows)
}

/// History events shown; `--json` has them all.
const HISTORY_SHOWN: usize = 10;

pub(crate) fn updates(updates: &Updates) -> String {
    let mut rows = Vec::new();
    let running = &updates.running;
    let mut where_ = Vec::new();
    if !running.slot.is_empty() {
        where_.push(format!("slot {}", running.slot));
    }
    if !running.profile.is_empty() {
        where_.push(format!("profile {}", running.profile));
    }
    let running_text = if where_.is_empty() {
        running.version.clone()
    } else {
        format!("{} ({})", running.version, where_.join(", "))
    };
    push(&mut rows, "Running", Some(running_text));
    for (slot, info) in &updates.slots {
        let text = match info.installed_at {
            Some(at) => format!("{}, installed {}", info.version, utc(at)),
            None => info.version.clone(),
        };
        push(&mut rows, format!("Slot {slot}"), Some(text));
    }
    if let Some(p) = &updates.pending {
        push(
            &mut rows,
            "Pending",
            Some(format!(
                "{} in slot {} (from {}), installed {}: starts at the next restart",
                p.version,
                p.slot,
                p.from_version,
                utc(p.installed_at)
            )),
        );
    }
    push(&mut rows, "Floor", updates.floor.clone());
    if updates.installing {
        push(&mut rows, "Installing", Some("yes, now".to_string()));
    }
    if let Some(r) = &updates.rollback {
        let slot = r
            .slot
            .as_deref()
            .map(|s| format!(" (slot {s})"))
            .unwrap_or_default();
        push(
            &mut rows,
            "Last rollback",
            Some(format!(
                "{}{slot} at {}: {}",
                r.version,
                utc(r.at),
                r.detail
            )),
        );
    }
    let mut text = aligned(&rows);
    if !updates.history.is_empty() {
        text.push_str("History (newest first):\n");
        for event in updates.history.iter().take(HISTORY_SHOWN) {
            let slot = event
                .slot
                .as_deref()
                .map(|s| format!(" slot {s}"))
                .unwrap_or_default();
            let detail = if event.detail.is_empty() {
                String::new()
            } else {
                format!(": {}", event.detail)
            };
            text.push_str(&format!(
                "  {}  {} {}{slot}{detail}\n",
                utc(event.at),
                event.kind,
                event.version
            ));
        }
        let more = updates.history.len().saturating_sub(HISTORY_SHOWN);
        if more > 0 {
            text.push_str(&format!(
                "  … {more} older event{} (appliancectl --json updates)\n",
                if more == 1 { "" } else { "s" }
            ));
        }
    }
    text
}

pub(crate) fn certificate(certificate: &Certificate) -> String {
    let kind = if certificate.installed {
        "installed by an administrator"
    } else {
        "self-signed by the appliance"
    };
    aligned(&[
        ("Certificate".to_string(), kind.to_string()),
        (
            "Public key SHA-256".to_string(),
            certificate.certificate_sha256.clone(),
        ),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_in_binary_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(1536), "1.5 KiB");
        assert_eq!(bytes(4 << 30), "4.0 GiB");
        assert_eq!(bytes((1 << 20) - 1), "1.0 MiB");
        assert_eq!(bytes(64_424_509_440), "60.0 GiB");
        assert_eq!(bytes(u64::MAX), "16.0 EiB");
    }

    #[test]
    fn uptimes_read_like_a_clock() {
        assert_eq!(uptime(0), "0 s");
        assert_eq!(uptime(59), "59 s");
        assert_eq!(uptime(60), "1 min");
        assert_eq!(uptime(3599), "59 min");
        assert_eq!(uptime(7380), "2 h 03 min");
        assert_eq!(
            uptime(3 * 86_400 + 4 * 3600 + 5 * 60 + 9),
            "3 d 04 h 05 min"
        );
    }

    #[test]
    fn values_line_up() {
        let rows = vec![
            ("Model".to_string(), "RS-1000".to_string()),
            ("Appliance ID".to_string(), "a1".to_string()),
        ];
        assert_eq!(aligned(&rows), "Model:        RS-1000\nAppliance ID: a1\n");
    }

    #[test]
    fn status_shows_what_is_known_and_skips_the_rest() {
        let parsed: Status = serde_json::from_value(serde_json::json!({
            "model": "RS-1000", "profile": "box", "serial": null, "appliance_id": "a1",
            "version": "1.2.0", "slot": "B", "uptime_seconds": 7380,
            "update_keys": {"trusted": ["0123456789abcdef"], "development": true},
            "certificates_expiring": [{"id": "ab", "name": "Portal", "days_left": 5,
                                       "not_after": "2027-01-05T00:00:00Z", "assigned": []}],
            "failover": {"role": "backup", "epoch": 2, "peer": "10.0.0.1:443",
                         "peer_reachable": true, "last_sync": 1_700_000_000u64,
                         "generation": 7, "lag_seconds": 0,
                         "last_error": {"at": 1, "message": "the sync did not finish"}},
            "specs": {
                "cpu": {"model": "Xeon", "logical_cores": 4, "mhz": 2400.0},
                "memory": {"total_bytes": 4294967296u64, "available_bytes": 1073741824},
                "disks": [{"name": "sda", "size_bytes": 68719476736u64, "model": null}],
                "nics": [{"name": "eth0", "mac": "52:54:00:12:34:56", "carrier": true,
                          "speed_mbps": 1000, "ipv4": ["10.0.2.15/24"]}]
            }
        }))
        .unwrap();
        let text = status(&parsed);
        let expected = "\
Model:        RS-1000
Profile:      box
Serial:       none
Appliance ID: a1
Version:      1.2.0 (slot B)
Uptime:       2 h 03 min
Expiring:     Portal (5 days left, until 2027-01-05T00:00:00Z)
Update keys:  0123456789abcdef (DEVELOPMENT BUILD: accepts packages signed with the public development key)
Failover:     backup (epoch 2), peer 10.0.0.1:443 answering, generation 7, last sync 2023-11-14T22:13:20Z; last error: the sync did not finish
CPU:          Xeon, 4 cores, 2400 MHz
Memory:       4.0 GiB (1.0 GiB available)
Disk sda:     64.0 GiB
NIC eth0:     up, 1000 Mb/s, 52:54:00:12:34:56, 10.0.2.15/24
";
        assert_eq!(text, expected);
    }

    #[test]
    fn unix_seconds_read_as_utc() {
        assert_eq!(utc(0), "1970-01-01T00:00:00Z");
        assert_eq!(utc(1_700_000_000), "2023-11-14T22:13:20Z");
        assert_eq!(utc(951_782_400), "2000-02-29T00:00:00Z");
        assert_eq!(utc(1_735_787_045), "2025-01-02T03:04:05Z");
    }

    #[test]
    fn time_shows_servers_and_sync_state() {
        let parsed: Time = serde_json::from_value(serde_json::json!({
            "servers": ["ntp1.example", "192.0.2.1"], "synchronized": true, "stratum": 2,
            "server": "192.0.2.1", "offset_seconds": -0.000_25, "last_sync": 1_700_000_000,
            "time": "2023-11-14T22:13:30Z", "kernel_synchronized": true,
            "daemon_error": null, "sources": []
        }))
        .unwrap();
        assert_eq!(
            time(&parsed),
            "\
Servers:      ntp1.example, 192.0.2.1
Synchronized: yes
Server:       192.0.2.1
Stratum:      2
Offset:       -0.000250 s
Last sync:    2023-11-14T22:13:20Z
Time:         2023-11-14T22:13:30Z
"
        );
        let off: Time = serde_json::from_value(serde_json::json!({
            "servers": [], "synchronized": false, "daemon_error": "not running"
        }))
        .unwrap();
        assert_eq!(
            time(&off),
            "Servers:      none (NTP is off)\nSynchronized: no\nTime daemon:  no state: not running\n"
        );
    }

    #[test]
    fn updates_show_slots_pending_rollback_and_history() {
        let parsed: Updates = serde_json::from_value(serde_json::json!({
            "running": {"version": "1.0.0", "slot": "A", "profile": "vm"},
            "slots": {"A": {"version": "1.0.0", "installed_at": null},
                      "B": {"version": "1.0.1", "installed_at": 1_700_000_000}},
            "pending": {"slot": "B", "version": "1.0.1", "from_version": "1.0.0",
                        "installed_at": 1_700_000_000},
            "floor": "1.0.1",
            "rollback": {"at": 1_600_000_000, "kind": "rolled_back", "version": "0.9.9",
                         "slot": "B", "detail": "slot B did not pass its health check"},
            "installing": false,
            "history": [
                {"at": 1_700_000_000, "kind": "installed", "version": "1.0.1", "slot": "B",
                 "detail": ""},
                {"at": 1_699_999_000, "kind": "refused", "version": "1.0.1", "slot": null,
                 "detail": "hash_mismatch: the payload's SHA-256 differs"}
            ]
        }))
        .unwrap();
        assert_eq!(
            updates(&parsed),
            "\
Running:       1.0.0 (slot A, profile vm)
Slot A:        1.0.0
Slot B:        1.0.1, installed 2023-11-14T22:13:20Z
Pending:       1.0.1 in slot B (from 1.0.0), installed 2023-11-14T22:13:20Z: starts at the next restart
Floor:         1.0.1
Last rollback: 0.9.9 (slot B) at 2020-09-13T12:26:40Z: slot B did not pass its health check
History (newest first):
  2023-11-14T22:13:20Z  installed 1.0.1 slot B
  2023-11-14T21:56:40Z  refused 1.0.1: hash_mismatch: the payload's SHA-256 differs
"
        );
    }

    #[test]
    fn certificate_says_whose_it_is() {
        let c = Certificate {
            installed: false,
            certificate_sha256: "AB:CD".into(),
        };
        assert_eq!(
            certificate(&c),
            "Certificate:        self-signed by the appliance\nPublic key SHA-256: AB:CD\n"
        );
    }
}

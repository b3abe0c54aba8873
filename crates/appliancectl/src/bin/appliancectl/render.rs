//! Readable output: aligned `Key: value` lines, binary sizes, short durations.

use appliancectl::api::{Health, Nic, Status};

/// `512 B`, `1.5 KiB`, `4.0 GiB`: powers of 1024, one decimal above bytes.
pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 6] = ["KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    if n < 1024 {
        return format!("{n} B");
    }
    let mut value = n as f64 / 1024.0;
    let mut unit = 0;
    // Round first, so that 1023.96 KiB shows as "1.0 MiB", not "1024.0 KiB".
    while (value * 10.0).round() / 10.0 >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// `42 s`, `5 min`, `2 h 03 min`, `3 d 04 h 05 min`.
pub fn uptime(seconds: u64) -> String {
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

/// `Key: value` lines with the values in one column.
pub fn aligned(rows: &[(String, String)]) -> String {
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    rows.iter()
        .map(|(key, value)| {
            let pad = width - key.chars().count();
            format!("{key}:{} {value}\n", " ".repeat(pad))
        })
        .collect()
}

fn push(rows: &mut Vec<(String, String)>, key: impl Into<String>, value: Option<String>) {
    if let Some(value) = value.filter(|v| !v.is_empty()) {
        rows.push((key.into(), value));
    }
}

pub fn health(health: &Health) -> String {
    let mut rows = Vec::new();
    push(&mut rows, "Status", Some(health.status.clone()));
    push(&mut rows, "Version", Some(health.version.clone()));
    push(&mut rows, "Slot", Some(health.slot.clone()));
    push(&mut rows, "Profile", Some(health.profile.clone()));
    aligned(&rows)
}

pub fn status(status: &Status) -> String {
    let mut rows = Vec::new();
    push(&mut rows, "Model", status.model.clone());
    push(&mut rows, "Profile", status.profile.clone());
    push(
        &mut rows,
        "Serial",
        Some(status.serial.clone().unwrap_or_else(|| "none".to_string())),
    );
    push(&mut rows, "Appliance ID", status.appliance_id.clone());
    push(&mut rows, "Hostname", status.hostname.clone());
    let version = match (&status.version, &status.slot) {
        (Some(v), Some(slot)) => Some(format!("{v} (slot {slot})")),
        (Some(v), None) => Some(v.clone()),
        (None, Some(slot)) => Some(format!("slot {slot}")),
        (None, None) => None,
    };
    push(&mut rows, "Version", version);
    push(&mut rows, "Uptime", status.uptime_seconds.map(uptime));
    push(&mut rows, "Time", status.time.clone());
    push(&mut rows, "Certificate", status.certificate_sha256.clone());
    let specs = &status.specs;
    if let Some(cpu) = &specs.cpu {
        let mut parts = Vec::new();
        parts.extend(cpu.model.clone());
        if let Some(cores) = cpu.cores {
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
        let text = match (memory.total_bytes, memory.available_bytes) {
            (Some(total), Some(free)) => {
                Some(format!("{} ({} available)", bytes(total), bytes(free)))
            }
            (Some(total), None) => Some(bytes(total)),
            (None, Some(free)) => Some(format!("{} available", bytes(free))),
            (None, None) => None,
        };
        push(&mut rows, "Memory", text);
    }
    for disk in &specs.disks {
        let mut parts = Vec::new();
        parts.extend(disk.size_bytes.map(bytes));
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
    let mut parts = Vec::new();
    match nic.link_up {
        Some(true) => parts.push("up".to_string()),
        Some(false) => parts.push("down".to_string()),
        None => {}
    }
    if let Some(speed) = nic.speed_mbps {
        parts.push(format!("{speed} Mb/s"));
    }
    parts.extend(nic.mac.clone());
    let addresses = nic.all_addresses();
    if !addresses.is_empty() {
        parts.push(addresses.join(" "));
    }
    parts.join(", ")
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
            "specs": {
                "cpu": {"model": "Xeon", "cores": 4, "mhz": 2400.0},
                "memory": {"total_bytes": 4294967296u64, "available_bytes": 1073741824},
                "disks": [{"name": "sda", "size_bytes": 68719476736u64, "model": null}],
                "nics": [{"name": "eth0", "mac": "52:54:00:12:34:56", "link_up": true,
                          "speed_mbps": 1000, "addresses": ["10.0.2.15/24"]}]
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
CPU:          Xeon, 4 cores, 2400 MHz
Memory:       4.0 GiB (1.0 GiB available)
Disk sda:     64.0 GiB
NIC eth0:     up, 1000 Mb/s, 52:54:00:12:34:56, 10.0.2.15/24
";
        assert_eq!(text, expected);
    }
}

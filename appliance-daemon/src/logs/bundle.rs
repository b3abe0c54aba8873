//! The support bundle (`GET /api/v1/support/bundle`, the Logs page's button,
//! `appliancectl support-bundle`): one tar.zst a support engineer can read with `tar`,
//! holding what they ask for first, and no secret (docs/logs.md "Support bundle").
//!
//! `README.txt`, `status.json` (Status > Basics and Specs), `settings.json` (every settings
//! record, secrets replaced by `"<redacted>"`), `audit.json` (the latest audit entries),
//! `boot/grubenv.txt` (the A/B state), `boot/cmdline.txt`, `boot/timings.txt` (init's
//! lines of this boot and the one before, with their time since boot), `dmesg.txt` (the
//! kernel's buffer, if readable), and `log/` (the persistent log's files as they are).

use serde_json::Value;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Audit entries included.
const AUDIT_ENTRIES: usize = 1000;
/// What replaces a secret.
pub(crate) const REDACTED: &str = "<redacted>";
/// zstd level: quick on the appliance's CPU, logs shrink about tenfold.
const ZSTD_LEVEL: i32 = 3;

/// What the bundle is made from (gathered by the async side).
pub(crate) struct Inputs {
    pub status: Vec<u8>,
    pub records: Vec<(String, Vec<u8>)>,
    pub audit: Vec<u8>,
    pub grubenv: String,
    pub log_dir: PathBuf,
    pub created: u64,
    pub version: String,
}

/// Does a field with this name hold a secret? Names, not values: a new record's secret
/// field is caught as long as it is named for what it is.
fn secret_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    const WORDS: &[&str] = &[
        "password",
        "passphrase",
        "hash",
        "secret",
        "seed",
        "token",
        "private",
        "psk",
        "totp",
        "recovery",
        "credential",
        "openssh",
        "authorization",
    ];
    WORDS.iter().any(|w| n.contains(w)) || n == "key" || n.ends_with("_key") || n == "keys"
}

/// Does this text look like a secret whatever its field is called?
fn secret_value(s: &str) -> bool {
    s.contains("PRIVATE KEY") || s.starts_with("$argon2") || s.contains("OPENSSH")
}

/// Replace every secret in `v`.
pub(crate) fn redact(v: &mut Value) {
    match v {
        Value::Object(map) => {
            for (k, child) in map.iter_mut() {
                if secret_name(k) && !child.is_null() {
                    *child = Value::String(REDACTED.to_string());
                } else {
                    redact(child);
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(redact),
        Value::String(s) if secret_value(s) => *s = REDACTED.to_string(),
        _ => {}
    }
}

/// The settings records as one JSON object, redacted.
fn settings(records: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut all = serde_json::Map::new();
    for (key, json) in records {
        let mut v: Value = serde_json::from_slice(json)
            .unwrap_or_else(|_| Value::String("<not JSON>".to_string()));
        redact(&mut v);
        all.insert(key.clone(), v);
    }
    serde_json::to_vec_pretty(&Value::Object(all)).unwrap_or_default()
}

/// `/dev/kmsg` opened by the service before it dropped its privileges: reading the
/// kernel's log is checked when it is opened (CAP_SYSLOG). Rewound for each bundle.
static KMSG: std::sync::OnceLock<std::sync::Mutex<std::fs::File>> = std::sync::OnceLock::new();

fn open_kmsg() -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open("/dev/kmsg")
}

/// Open `/dev/kmsg` for the bundles to come (before the service drops its privileges).
pub(crate) fn preload_kernel_log() {
    match open_kmsg() {
        Ok(f) => {
            let _ = KMSG.set(std::sync::Mutex::new(f));
        }
        Err(e) => tracing::warn!("/dev/kmsg cannot be opened; support bundles go without it: {e}"),
    }
}

/// The kernel's ring buffer, read from /dev/kmsg without waiting: one record per read.
fn dmesg() -> String {
    use std::io::{Seek, SeekFrom};
    if let Some(kept) = KMSG.get() {
        let mut f = kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        // SEEK_SET 0: back to the oldest record the kernel still holds.
        if let Err(e) = f.seek(SeekFrom::Start(0)) {
            return format!("/dev/kmsg cannot be rewound: {e}\n");
        }
        return records(&mut f);
    }
    match open_kmsg() {
        Ok(mut f) => records(&mut f),
        Err(e) => format!("/dev/kmsg cannot be read: {e}\n"),
    }
}

/// The records readable from `f` now, one per read.
fn records(f: &mut std::fs::File) -> String {
    use std::io::Read;
    let mut out = String::new();
    let mut buf = vec![0u8; 8192];
    // A bounded number of records: the kernel's buffer is at most a few MiB.
    for _ in 0..200_000 {
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                let rec = String::from_utf8_lossy(&buf[..n]);
                // `PRI,SEQ,USEC,FLAGS;TEXT`: keep the time since boot and the text.
                let (head, text) = rec.split_once(';').unwrap_or(("", &rec));
                let usec: u64 = head
                    .split(',')
                    .nth(2)
                    .and_then(|u| u.parse().ok())
                    .unwrap_or(0);
                let text = text.lines().next().unwrap_or("");
                out.push_str(&format!(
                    "[{:>5}.{:06}] {text}\n",
                    usec / 1_000_000,
                    usec % 1_000_000
                ));
            }
            // EPIPE: records were overwritten while reading; go on.
            Err(e) if e.raw_os_error() == Some(libc::EPIPE) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => {
                out.push_str(&format!("reading /dev/kmsg stopped: {e}\n"));
                break;
            }
        }
    }
    out
}

/// init's lines of the running boot and the one before, with the time since boot: where
/// each boot's time went (the figures docs/boot.md explains).
fn timings(log_dir: &Path) -> String {
    let mut out = String::new();
    for back in [0u64, 1] {
        let q = logring::Query {
            service: Some("init".into()),
            boot: Some(logring::BootSel::Back(back)),
            ..logring::Query::default()
        };
        let Ok(page) = logring::read(log_dir, &q) else {
            continue;
        };
        let Some(boot) = page.boot else { continue };
        out.push_str(&format!(
            "== boot {boot}{} ==\n",
            if back == 0 { " (running)" } else { "" }
        ));
        for (_, r) in page.lines.iter().rev() {
            out.push_str(&format!(
                "[{:>9.3}] {}\n",
                r.uptime_ms as f64 / 1000.0,
                r.message
            ));
        }
        out.push('\n');
    }
    if let Ok(up) = std::fs::read_to_string("/proc/uptime") {
        out.push_str(&format!("/proc/uptime: {up}"));
    }
    out
}

/// One line per process from `/proc/PID/status`: who runs what with which privileges
/// (docs/security.md).
pub(crate) fn processes() -> String {
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| e.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    pids.sort_unstable();
    let mut out = String::from("PID PPID UID CAPEFF NAME\n");
    for pid in pids {
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let field = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .map(|v| v.split_whitespace().next().unwrap_or("").to_string())
                .unwrap_or_default()
        };
        out.push_str(&format!(
            "{pid} {} {} {} {}\n",
            field("PPid:"),
            field("Uid:"),
            field("CapEff:"),
            field("Name:")
        ));
    }
    out
}

fn readme(i: &Inputs) -> String {
    format!(
        "Support bundle of the appliance, firmware {}, made {}.\n\n\
         status.json        Status > Basics and Specs (GET /api/v1/status)\n\
         settings.json      every settings record; passwords, hashes, keys and other\n                   secrets replaced by \"{REDACTED}\"\n\
         audit.json         the latest {AUDIT_ENTRIES} audit entries, newest first\n\
         boot/grubenv.txt   the A/B boot state (GRUB's environment block)\n\
         boot/cmdline.txt   the kernel command line of this boot\n\
         boot/timings.txt   init's lines of this boot and the one before, seconds since boot\n\
         dmesg.txt          the kernel's messages, if they could be read\n\
         processes.txt      every process: PID, parent, user, effective capabilities, name\n\
         log/               the persistent log as kept on data: NNNNNNNN.log segments\n                   (BOOT BOOT_ID TIME_US UPTIME_MS LEVEL SERVICE MESSAGE) and the boots index\n",
        i.version,
        units::rfc3339(i.created)
    )
}

fn add(
    tar: &mut tar::Builder<impl Write>,
    name: &str,
    data: &[u8],
    mtime: u64,
) -> std::io::Result<()> {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(mtime);
    h.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut h, name, data)
}

/// Build the bundle (blocking): the tar.zst bytes.
pub(crate) fn build(i: &Inputs) -> std::io::Result<Vec<u8>> {
    let enc = zstd::stream::write::Encoder::new(Vec::new(), ZSTD_LEVEL)?;
    let mut tar = tar::Builder::new(enc);
    let t = i.created;
    add(&mut tar, "README.txt", readme(i).as_bytes(), t)?;
    add(&mut tar, "status.json", &i.status, t)?;
    add(&mut tar, "settings.json", &settings(&i.records), t)?;
    add(&mut tar, "audit.json", &i.audit, t)?;
    add(&mut tar, "boot/grubenv.txt", i.grubenv.as_bytes(), t)?;
    let cmdline = std::fs::read_to_string(crate::paths::CMDLINE).unwrap_or_default();
    add(&mut tar, "boot/cmdline.txt", cmdline.as_bytes(), t)?;
    add(
        &mut tar,
        "boot/timings.txt",
        timings(&i.log_dir).as_bytes(),
        t,
    )?;
    add(&mut tar, "dmesg.txt", dmesg().as_bytes(), t)?;
    add(&mut tar, "processes.txt", processes().as_bytes(), t)?;
    let mut names: Vec<_> = std::fs::read_dir(&i.log_dir)
        .map(|rd| {
            rd.flatten()
                .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
                .map(|e| e.file_name())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    for name in names {
        // Read whole: init may append meanwhile, and a tar entry's size is fixed first.
        if let Ok(data) = std::fs::read(i.log_dir.join(&name)) {
            add(
                &mut tar,
                &format!("log/{}", name.to_string_lossy()),
                &data,
                t,
            )?;
        }
    }
    tar.into_inner()?.finish()
}

/// Audit entries as JSON.
pub(crate) fn audit_json(entries: &[crate::store::AuditEntry]) -> Vec<u8> {
    serde_json::to_vec_pretty(entries).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_redacted_by_name_and_by_look() {
        // As settings.json is made: each record redacted inside (a record's own name,
        // such as `download_key`, is not a field).
        let records: Vec<(String, Vec<u8>)> = [
            ("accounts", serde_json::json!({"users": [{"name": "admin", "password_hash": "$argon2id$v=19$x"}]})),
            ("failover", serde_json::json!({"key": "abcd-efgh", "state": {"role": "primary"}, "peer": {"pin": "00ff"}})),
            ("download_key", serde_json::json!({"appliance_id": "A1", "seed": "99"})),
            ("backup_client_key", serde_json::json!({"openssh": "-----BEGIN OPENSSH PRIVATE KEY-----"})),
            ("backup_schedule", serde_json::json!({"password": null, "destination": {"secret": "s3"}})),
            ("odd", serde_json::json!({"note": "-----BEGIN PRIVATE KEY-----\nMII"})),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), serde_json::to_vec(&v).unwrap()))
        .collect();
        let v: Value = serde_json::from_slice(&settings(&records)).unwrap();
        let text = v.to_string();
        for secret in ["$argon2id", "abcd-efgh", "\"99\"", "OPENSSH", "s3", "MII"] {
            assert!(!text.contains(secret), "{secret} left in {text}");
        }
        assert_eq!(v["accounts"]["users"][0]["name"], "admin");
        assert_eq!(v["failover"]["state"]["role"], "primary");
        assert_eq!(v["failover"]["peer"]["pin"], "00ff");
        assert_eq!(v["download_key"]["appliance_id"], "A1");
        // An unset secret stays null: the reader sees it is not set.
        assert!(v["backup_schedule"]["password"].is_null());
    }
}

//! `GET /api/v1/status`: identity, versions, uptime, the hardware (Status > Basics and
//! Status > Specs of the admin interface) and the record of the factory reset that made
//! the data partition.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Status {
    /// "Bomgar Box" or "Virtual Appliance".
    pub model: String,
    /// `box` or `vm`.
    pub profile: String,
    /// The hardware serial number (DMI), when the machine has one.
    pub serial: Option<String>,
    /// Random identity made at first boot and remade by a factory reset.
    pub appliance_id: String,
    pub hostname: String,
    /// Version of the running base system.
    pub version: String,
    /// Slot the system was booted from: `A`, `B` or `factory`.
    pub slot: String,
    pub versions: Versions,
    pub uptime_seconds: u64,
    /// UTC, RFC 3339.
    pub time: String,
    /// Resident memory of the management daemon.
    pub daemon_rss_bytes: Option<u64>,
    /// SHA-256 of the HTTPS certificate's public key, to check a first connection against.
    pub certificate_sha256: String,
    pub specs: Specs,
    /// What the factory reset that made this data partition erased, and how.
    pub sanitization: Option<SanitizationRecord>,
    /// Scheduled backups: whether they run, when next, and how the last run went.
    pub scheduled_backup: ScheduledBackup,
    /// The keys update packages must be signed with (the running slot's).
    pub update_keys: UpdateKeys,
    /// The failover pair's sync, while this appliance is in a pair; null otherwise
    /// (`GET /api/v1/failover` has the whole state).
    pub failover: Option<PairStatus>,
    /// Stored certificates that expire within 30 days (or have expired), soonest first.
    pub certificates_expiring: Vec<ExpiringCertificate>,
}

/// A stored certificate near its end, on Status (docs/certificates.md "Expiry warnings").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExpiringCertificate {
    /// Its id in `GET /api/v1/certificates`.
    pub id: String,
    /// Its friendly name.
    pub name: String,
    /// UTC, RFC 3339.
    pub not_after: String,
    /// Whole days left (rounded down); 0 on its last day, negative once expired.
    pub days_left: i64,
    /// The addresses it is served on (`*` for every address with no assignment of its own).
    pub assigned: Vec<String>,
}

/// The keys an update package must be signed with, read from the running slot at start.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateKeys {
    /// Their ids (the first 8 bytes of the SHA-256 of each public key, in hex).
    pub trusted: Vec<String>,
    /// The published development key is among them: a development build, which accepts
    /// packages anybody can sign with the development key from the source tree.
    pub development: bool,
}

/// The failover pair on Status (docs/failover.md "Status").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PairStatus {
    /// `primary` or `backup`.
    pub role: crate::failover::Role,
    pub epoch: u64,
    /// The other appliance, `host:port` as this one reaches it.
    pub peer: String,
    /// Whether the peer answered the last check.
    pub peer_reachable: bool,
    /// Unix seconds of the last complete sync (the last generation applied on the
    /// backup).
    pub last_sync: Option<u64>,
    /// The generation of the service part last synced.
    pub generation: u64,
    /// Seconds since the oldest change of the primary's service part the backup has not
    /// applied yet; 0 when in step (primary only).
    pub lag_seconds: u64,
    /// The last failed sync, until one succeeds.
    pub last_error: Option<crate::failover::FailoverEvent>,
}

/// Scheduled backups on Status (docs/backup.md "Scheduled backups").
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ScheduledBackup {
    pub enabled: bool,
    /// Unix seconds, UTC; `None` while disabled.
    pub next_run: Option<u64>,
    /// The last run, scheduled or asked for.
    pub last: Option<BackupRun>,
}

/// One backup run's result.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct BackupRun {
    /// Unix seconds, when it ended.
    pub at: u64,
    /// `scheduled` or `manual`.
    pub trigger: String,
    /// The backup kept on data (`GET /api/v1/backup/stored/{file}`), when one was made.
    pub file: Option<String>,
    pub size: Option<u64>,
    /// Why no backup was made; `None` when one was.
    pub error: Option<String>,
    /// Where it was pushed (no credentials), when a destination is set.
    pub destination: Option<String>,
    pub pushed: bool,
    /// Why the push failed; the copy on data stays.
    pub push_error: Option<String>,
    /// Older backups the retention count removed.
    pub removed: Vec<String>,
    /// Why a scheduled run made no backup on purpose (this appliance is the backup of a
    /// failover pair: its primary makes them); `None` when it ran.
    pub skipped: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Versions {
    pub base: String,
    /// The site package installed on data, if any.
    pub site: Option<String>,
}

/// A snapshot of the machine.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Specs {
    pub dmi: Dmi,
    pub cpu: Option<Cpu>,
    pub memory: Option<Memory>,
    pub uptime_seconds: Option<u64>,
    /// 1, 5 and 15 minute load averages.
    pub load_average: Option<[f64; 3]>,
    /// Whole disks, sorted by name; loop, RAM, zram and device-mapper devices are left out.
    pub disks: Vec<Disk>,
    /// Network interfaces except `lo`, sorted by name.
    pub nics: Vec<Nic>,
    pub clock: ClockState,
}

/// The firmware's idea of the machine (DMI).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Dmi {
    /// `sys_vendor`, e.g. "Supermicro" or "QEMU".
    pub vendor: Option<String>,
    /// `product_name`.
    pub product: Option<String>,
    /// `product_serial`; None when unreadable or a placeholder.
    pub serial: Option<String>,
    /// `board_name`.
    pub board: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Cpu {
    /// `model name` of the first processor, e.g. "Intel(R) Atom(TM) CPU C3558 @ 2.20GHz".
    pub model: Option<String>,
    /// Logical processors (threads) the kernel runs.
    pub logical_cores: u32,
    /// Current clock of the first processor, when the kernel reports one.
    pub mhz: Option<f64>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Memory {
    pub total_bytes: u64,
    /// What can be given to new programs without swapping (`MemAvailable`).
    pub available_bytes: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Disk {
    /// Kernel name: "sda", "nvme0n1", "vda".
    pub name: String,
    pub size_bytes: u64,
    /// `device/model`, e.g. "Samsung SSD 860 EVO 250GB"; virtio disks have none.
    pub model: Option<String>,
    /// Spinning disk (`queue/rotational`); false for SSDs and most virtual disks.
    pub rotational: bool,
    /// Removable medium, such as a USB stick.
    pub removable: bool,
    /// Sorted by partition number.
    pub partitions: Vec<Partition>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Partition {
    /// Kernel name: "sda1", "nvme0n1p1".
    pub name: String,
    pub number: u32,
    pub size_bytes: u64,
    /// GPT partition label (`PARTNAME`), e.g. "root-a"; None on MBR disks.
    pub label: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Nic {
    pub name: String,
    /// MAC address, lower-case with colons.
    pub mac: Option<String>,
    /// The kernel's `operstate`: "up", "down", "dormant", "lowerlayerdown", "unknown"...
    pub operstate: String,
    /// A cable is plugged in and the link partner answers. False when the interface is
    /// administratively down (the kernel cannot tell then).
    pub carrier: bool,
    /// Negotiated speed; None while there is no link or for virtual NICs.
    pub speed_mbps: Option<u32>,
    pub mtu: Option<u32>,
    /// Kernel driver, e.g. "igb", "e1000e", "virtio_net"; None for virtual interfaces.
    pub driver: Option<String>,
    /// Addresses with prefix length, e.g. "192.168.1.20/24".
    pub ipv4: Vec<String>,
    /// Addresses with prefix length, e.g. "fe80::5054:ff:fe12:3456/64".
    pub ipv6: Vec<String>,
}

impl Nic {
    /// Every address of the interface, IPv4 first.
    pub fn all_addresses(&self) -> impl Iterator<Item = &str> {
        self.ipv4.iter().chain(&self.ipv6).map(String::as_str)
    }
}

/// The system clock and whether the kernel considers it synchronized.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ClockState {
    /// Current time, RFC 3339 in UTC to the second: "2025-03-14T09:26:53Z".
    pub utc: String,
    /// The same instant in seconds since 1970-01-01 UTC.
    pub unix: u64,
    /// An NTP client has disciplined the clock and the kernel has not since flagged it
    /// unsynchronized (no `STA_UNSYNC`, state not `TIME_ERROR`).
    pub kernel_synchronized: bool,
    /// The kernel's maximum error bound, in microseconds; None when adjtimex(2) failed.
    pub max_error_us: Option<i64>,
    /// The kernel's estimated error, in microseconds; None when adjtimex(2) failed.
    pub est_error_us: Option<i64>,
}

/// What the factory reset erased and how (`sanitization.json`, written by init during the
/// reset; its format is in docs/factory-reset.md). Unknown fields are ignored, missing ones
/// take defaults.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SanitizationRecord {
    /// `secure-discard`, `discard-zeroes`, `zeroout` or `write-zeroes` (joined by `+`
    /// when a second method followed the first).
    pub method: String,
    pub method_detail: String,
    pub device: String,
    pub bytes: u64,
    pub verified_samples: u32,
    /// RFC 3339, UTC.
    pub started: String,
    pub finished: String,
    pub interruptions: u32,
    pub slot_b_cleared_bytes: u64,
    pub factory_bytes: u64,
    pub factory_version: Option<String>,
    pub then: String,
}

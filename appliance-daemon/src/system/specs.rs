//! What Status > Basics and Status > Specs show about the machine: DMI identity, CPU,
//! memory, uptime, load, disks, network interfaces and the clock.
//!
//! Everything is read from `proc/` and `sys/` under a root path, so tests can point it at a
//! fixture tree; the appliance passes `/`. Parsing is pure and tested on text. The thin I/O
//! around it never fails as a whole: a piece that cannot be read becomes None or empty and
//! is logged at debug level. No subprocesses: this runs on every status request.

mod clock;
mod disks;
pub(crate) mod dmi;
mod nics;
mod proc;

use std::path::Path;

pub(crate) use clock::now as clock_now;

/// A snapshot of the machine, serialized as is by the status API.
pub(crate) use api_types::Specs;

/// Read everything under `root` (`/` on the appliance). Interface addresses come from the
/// kernel only when `root` is `/`; under a fixture tree the address lists stay empty.
pub(crate) fn gather(root: &Path) -> Specs {
    let addresses = if root == Path::new("/") {
        nics::local_addresses()
    } else {
        Default::default()
    };
    Specs {
        dmi: dmi::read(root),
        cpu: read_parsed(root, "proc/cpuinfo", proc::parse_cpuinfo),
        memory: read_parsed(root, "proc/meminfo", proc::parse_meminfo),
        uptime_seconds: read_parsed(root, "proc/uptime", proc::parse_uptime),
        load_average: read_parsed(root, "proc/loadavg", proc::parse_loadavg),
        disks: disks::read(root),
        nics: nics::read(root, &addresses),
        clock: clock::now(),
    }
}

/// Read `root/rel` and parse it; None, logged, when either step fails.
fn read_parsed<T>(root: &Path, rel: &str, parse: fn(&str) -> Option<T>) -> Option<T> {
    let path = root.join(rel);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(err) => {
            tracing::debug!(path = %path.display(), "not shown in the specs: {err}");
            return None;
        }
    };
    let parsed = parse(&text);
    if parsed.is_none() {
        tracing::debug!(path = %path.display(), "not shown in the specs: unexpected content");
    }
    parsed
}

/// One sysfs attribute, trimmed; None when absent, unreadable or empty. Some attributes
/// (`carrier` and `speed` of an interface that is down) fail to read by design.
fn attr(dir: &Path, name: &str) -> Option<String> {
    let text = std::fs::read_to_string(dir.join(name)).ok()?;
    let text = text.trim();
    (!text.is_empty()).then(|| text.to_string())
}

/// The entries of a directory as names; empty, logged, when it cannot be listed.
fn dir_names(dir: &Path) -> Vec<String> {
    match std::fs::read_dir(dir) {
        Ok(entries) => entries
            .filter_map(std::result::Result::ok)
            .filter_map(|e| e.file_name().into_string().ok())
            .collect(),
        Err(err) => {
            tracing::debug!(path = %dir.display(), "not shown in the specs: {err}");
            Vec::new()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fixture() -> std::path::PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/sysroot-box")
    }

    #[test]
    fn gathers_a_box_from_its_fixture_tree() {
        let specs = gather(&fixture());
        assert_eq!(specs.dmi.vendor.as_deref(), Some("Bomgar Corporation"));
        assert_eq!(specs.dmi.product.as_deref(), Some("B300"));
        assert_eq!(specs.dmi.board.as_deref(), Some("A2SDi-4C-HLN4F"));
        assert_eq!(specs.dmi.serial.as_deref(), Some("BX3-2231-0457"));
        let cpu = specs.cpu.unwrap();
        assert_eq!(cpu.logical_cores, 4);
        assert_eq!(specs.memory.unwrap().total_bytes, 8_053_063_680);
        assert_eq!(specs.uptime_seconds, Some(351_942));
        assert_eq!(specs.load_average, Some([0.08, 0.03, 0.01]));
        let disks: Vec<_> = specs.disks.iter().map(|d| d.name.as_str()).collect();
        assert_eq!(disks, ["sda"]);
        let labels: Vec<_> = specs.disks[0]
            .partitions
            .iter()
            .map(|p| p.label.as_deref().unwrap_or("-"))
            .collect();
        assert_eq!(
            labels,
            ["bios", "ESP", "root-a", "root-b", "factory", "data"]
        );
        let nics: Vec<_> = specs.nics.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(nics, ["enp1s0", "enp2s0"]);
        let (up, down) = (&specs.nics[0], &specs.nics[1]);
        assert_eq!((up.carrier, up.speed_mbps), (true, Some(1000)));
        assert_eq!((down.carrier, down.speed_mbps), (false, None));
        assert_eq!(down.driver.as_deref(), Some("igb"));
        assert!(specs.nics.iter().all(|n| n.ipv4.is_empty()));
    }

    #[test]
    fn a_missing_tree_gives_empty_specs_not_an_error() {
        let specs = gather(Path::new("/nonexistent-root"));
        assert_eq!(specs.dmi, api_types::Dmi::default());
        assert!(specs.cpu.is_none() && specs.memory.is_none());
        assert!(specs.uptime_seconds.is_none() && specs.load_average.is_none());
        assert!(specs.disks.is_empty() && specs.nics.is_empty());
        assert!(specs.clock.unix > 1_700_000_000);
    }

    #[test]
    fn gathers_this_machine_quickly() {
        let start = std::time::Instant::now();
        let specs = gather(Path::new("/"));
        let took = start.elapsed();
        eprintln!("gather(\"/\") took {took:?}");
        assert!(specs.cpu.unwrap().logical_cores >= 1);
        assert!(specs.memory.unwrap().total_bytes > 0);
        // Round trip through the JSON the status API sends.
        let json = serde_json::to_string(&gather(Path::new("/"))).unwrap();
        let back: Specs = serde_json::from_str(&json).unwrap();
        assert!(back.cpu.is_some());
    }
}

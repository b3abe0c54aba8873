//! The firmware's idea of the machine (`/sys/class/dmi/id`): maker, product, serial number
//! and mainboard. Absent on machines without SMBIOS; the serial file is readable by root
//! only.

use std::path::Path;

pub(crate) use api_types::Dmi;

/// The serial number, read while the service was still root (the file is root's only).
static SERIAL: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

/// Read the root-only fields for later (before the service drops its privileges).
pub(crate) fn preload() {
    let dir = Path::new("/sys/class/dmi/id");
    let _ = SERIAL.set(super::attr(dir, "product_serial").and_then(|v| meaningful(&v)));
}

pub(super) fn read(root: &Path) -> Dmi {
    let dir = root.join("sys/class/dmi/id");
    if !dir.is_dir() {
        tracing::debug!(path = %dir.display(), "no DMI information on this machine");
        return Dmi::default();
    }
    let field = |name| super::attr(&dir, name).and_then(|v| meaningful(&v));
    Dmi {
        vendor: field("sys_vendor"),
        product: field("product_name"),
        serial: field("product_serial").or_else(|| SERIAL.get().cloned().flatten()),
        board: field("board_name"),
    }
}

/// The value, trimmed, unless it is one of the fillers board makers leave in SMBIOS.
pub(super) fn meaningful(value: &str) -> Option<String> {
    const FILLERS: &[&str] = &[
        "not specified",
        "not applicable",
        "not available",
        "to be filled by o.e.m.",
        "default string",
        "system product name",
        "system manufacturer",
        "system serial number",
        "none",
        "n/a",
        "oem",
        "o.e.m.",
        "0123456789",
        "123456789",
    ];
    let value = value.trim();
    let lower = value.to_ascii_lowercase();
    if FILLERS.contains(&lower.as_str()) {
        return None;
    }
    // Empty, all zeros ("00000000", "0000-0000") or only punctuation ("........").
    if value
        .chars()
        .filter(|c| c.is_alphanumeric())
        .all(|c| c == '0')
    {
        return None;
    }
    Some(value.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn real_values_are_kept_trimmed() {
        assert_eq!(meaningful(" Supermicro \n").as_deref(), Some("Supermicro"));
        assert_eq!(
            meaningful("Standard PC (Q35 + ICH9, 2009)").as_deref(),
            Some("Standard PC (Q35 + ICH9, 2009)")
        );
        assert_eq!(meaningful("S0N1234").as_deref(), Some("S0N1234"));
    }

    #[test]
    fn fillers_and_zeros_are_dropped() {
        for filler in [
            "",
            "   ",
            "Not Specified",
            "To Be Filled By O.E.M.",
            "Default string",
            "0",
            "00000000",
            "0000-0000-0000",
            "........",
            "System Serial Number",
        ] {
            assert_eq!(meaningful(filler), None, "{filler:?}");
        }
    }
}

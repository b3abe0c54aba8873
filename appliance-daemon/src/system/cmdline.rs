//! The booted slot, from the kernel command line's `appliance.slot=` (set by grub.cfg).

use std::fmt;

/// What GRUB booted: a root slot, or the factory image when every slot was bad.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BootSlot {
    Slot(grubenv::Slot),
    Factory,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum Error {
    #[error("the kernel command line has no appliance.slot= (GRUB sets it; was this booted by our grub.cfg?)")]
    Missing,
    #[error("appliance.slot={0:?} is not A, B or factory")]
    Unknown(String),
}

impl BootSlot {
    pub(crate) fn parse(value: &str) -> Result<Self, Error> {
        match value {
            "A" => Ok(BootSlot::Slot(grubenv::Slot::A)),
            "B" => Ok(BootSlot::Slot(grubenv::Slot::B)),
            "factory" => Ok(BootSlot::Factory),
            other => Err(Error::Unknown(other.to_string())),
        }
    }

    /// The last `appliance.slot=` wins, as the kernel does for repeated parameters
    /// (EXTRA_CMDLINE is appended after GRUB's own).
    pub(crate) fn from_cmdline(cmdline: &str) -> Result<Self, Error> {
        cmdline
            .split_ascii_whitespace()
            .filter_map(|word| word.strip_prefix("appliance.slot="))
            .next_back()
            .ok_or(Error::Missing)
            .and_then(Self::parse)
    }
}

impl fmt::Display for BootSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BootSlot::Slot(s) => s.fmt(f),
            BootSlot::Factory => f.write_str("factory"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_slot_among_other_parameters() {
        let line = "BOOT_IMAGE=/boot/vmlinuz appliance.slot=B console=tty0 console=ttyS0,115200 panic=10\n";
        assert_eq!(
            BootSlot::from_cmdline(line),
            Ok(BootSlot::Slot(grubenv::Slot::B))
        );
        assert_eq!(
            BootSlot::from_cmdline("appliance.slot=factory"),
            Ok(BootSlot::Factory)
        );
        assert_eq!(
            BootSlot::from_cmdline("appliance.slot=A quiet")
                .unwrap()
                .to_string(),
            "A"
        );
    }

    #[test]
    fn last_occurrence_wins() {
        assert_eq!(
            BootSlot::from_cmdline("appliance.slot=A appliance.slot=B"),
            Ok(BootSlot::Slot(grubenv::Slot::B))
        );
    }

    #[test]
    fn absent_or_unknown_slot_is_an_error() {
        assert_eq!(
            BootSlot::from_cmdline("quiet console=ttyS0"),
            Err(Error::Missing)
        );
        assert_eq!(
            BootSlot::from_cmdline("xappliance.slot=A"),
            Err(Error::Missing)
        );
        assert_eq!(
            BootSlot::from_cmdline("appliance.slot=C"),
            Err(Error::Unknown("C".into()))
        );
    }
}

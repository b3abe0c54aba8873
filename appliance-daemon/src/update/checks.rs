//! The checks a verified base package passes before a byte of it is written (pure): the
//! profile, the anti-rollback floor, requirements, the running slot being confirmed, room
//! in the target slot. Each has its own error code and sentence. Site packages share the
//! profile and requirement checks (update/site.rs).

use grubenv::{BootState, Slot};

use crate::system::BootSlot;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this package is for {wanted}; this appliance is a {ours}")]
    WrongProfile { wanted: String, ours: String },
    #[error("{version} is below the lowest version this appliance may run ({floor}): going back to it is not allowed")]
    BelowFloor { version: String, floor: String },
    #[error("{version} needs {name} {min} or later first; this appliance has {have}")]
    MissingRequirement {
        version: String,
        name: String,
        min: String,
        have: String,
    },
    #[error("the running system (slot {0}) has not passed its health check yet; restart it or wait before installing")]
    NotConfirmed(Slot),
    #[error("the payload needs {need} bytes but slot {slot} holds {have}")]
    NoSpace { slot: Slot, need: u64, have: u64 },
    #[error("{0} is already installed and running")]
    AlreadyRunning(String),
    #[error(
        "{name} {version} is installed and kept as the previous version: roll back to it instead"
    )]
    KeptForRollback { name: String, version: String },
    #[error("the site package needs {need} bytes free on the data partition, which has {free}")]
    NoDataSpace { need: u64, free: u64 },
    #[error("version {0:?} is not of the form X.Y.Z")]
    BadVersion(String),
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::WrongProfile { .. } => "wrong_profile",
            Refusal::BelowFloor { .. } => "below_floor",
            Refusal::MissingRequirement { .. } => "missing_requirement",
            Refusal::NotConfirmed(_) => "not_confirmed",
            Refusal::NoSpace { .. } => "no_space",
            Refusal::AlreadyRunning(_) | Refusal::KeptForRollback { .. } => "already_installed",
            Refusal::NoDataSpace { .. } => "no_space",
            Refusal::BadVersion(_) => "malformed",
        }
    }
}

/// `X.Y.Z` as numbers, for ordering.
pub fn version(v: &str) -> Result<(u64, u64, u64), Refusal> {
    let mut parts = v.trim().split('.').map(|p| p.parse::<u64>());
    match (parts.next(), parts.next(), parts.next(), parts.next()) {
        (Some(Ok(a)), Some(Ok(b)), Some(Ok(c)), None) => Ok((a, b, c)),
        _ => Err(Refusal::BadVersion(v.to_string())),
    }
}

/// What a base package asks for, reduced to what the checks need.
#[derive(Debug, Clone)]
pub struct Candidate<'a> {
    pub version: &'a str,
    pub profiles: &'a [String],
    /// (name, min_version)
    pub requires: &'a [(String, String)],
    pub payload_size: u64,
}

/// What the appliance is.
#[derive(Debug, Clone)]
pub struct Appliance<'a> {
    pub profile: &'a str,
    pub running_version: &'a str,
    pub booted: BootSlot,
    pub boot: &'a BootState,
    pub floor: Option<&'a str>,
    /// Installed site packages: (name, version).
    pub sites: &'a [(String, String)],
}

/// The slot a base package goes into: the one not running (A when running the factory image).
pub fn target_slot(booted: BootSlot) -> Slot {
    match booted {
        BootSlot::Slot(s) => s.other(),
        BootSlot::Factory => Slot::A,
    }
}

/// Every check but space, which needs the target's capacity: see [`check_space`].
pub fn check(c: &Candidate<'_>, a: &Appliance<'_>) -> Result<(), Refusal> {
    check_profile(c.profiles, a.profile)?;
    let v = version(c.version)?;
    if let Some(floor) = a.floor {
        if v < version(floor)? {
            return Err(Refusal::BelowFloor {
                version: c.version.to_string(),
                floor: floor.to_string(),
            });
        }
    }
    check_requires(c.version, c.requires, a.running_version, a.sites)?;
    if let BootSlot::Slot(s) = a.booted {
        if a.boot.is_trying(s) || !a.boot.is_ok(s) {
            return Err(Refusal::NotConfirmed(s));
        }
    }
    if c.version == a.running_version {
        return Err(Refusal::AlreadyRunning(c.version.to_string()));
    }
    Ok(())
}

/// The package names the appliance's profile.
pub fn check_profile(profiles: &[String], profile: &str) -> Result<(), Refusal> {
    if profiles.iter().any(|p| p == profile) {
        return Ok(());
    }
    Err(Refusal::WrongProfile {
        wanted: if profiles.is_empty() {
            "no appliance".to_string()
        } else {
            profiles.join(", ")
        },
        ours: profile.to_string(),
    })
}

/// Every `(name, min_version)` in `requires` is installed at `min_version` or later:
/// `base` is the running system, any other name an installed site package. `what` names
/// the package in the refusal.
pub fn check_requires(
    what: &str,
    requires: &[(String, String)],
    running_version: &str,
    sites: &[(String, String)],
) -> Result<(), Refusal> {
    for (name, min) in requires {
        let have = if name == "base" {
            Some(running_version.to_string())
        } else {
            sites
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let ok = match &have {
            Some(h) => version(h)? >= version(min)?,
            None => false,
        };
        if !ok {
            return Err(Refusal::MissingRequirement {
                version: what.to_string(),
                name: name.clone(),
                min: min.clone(),
                have: have.unwrap_or_else(|| "none".to_string()),
            });
        }
    }
    Ok(())
}

pub fn check_space(slot: Slot, need: u64, have: u64) -> Result<(), Refusal> {
    if need > have {
        Err(Refusal::NoSpace { slot, need, have })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn confirmed_a() -> BootState {
        let mut b = BootState::factory();
        b.grub_boot(|_| true);
        b.mark_successful_boot(Slot::A);
        b
    }

    fn candidate<'a>(
        version: &'a str,
        profiles: &'a [String],
        requires: &'a [(String, String)],
    ) -> Candidate<'a> {
        Candidate {
            version,
            profiles,
            requires,
            payload_size: 1,
        }
    }

    #[test]
    fn each_refusal_has_its_code() {
        let boot = confirmed_a();
        let vm = vec!["vm".to_string()];
        let a = Appliance {
            profile: "vm",
            running_version: "1.0.0",
            booted: BootSlot::Slot(Slot::A),
            boot: &boot,
            floor: Some("1.0.0"),
            sites: &[],
        };
        assert_eq!(check(&candidate("1.0.1", &vm, &[]), &a), Ok(()));
        let boxes = vec!["box".to_string()];
        assert_eq!(
            check(&candidate("1.0.1", &boxes, &[]), &a)
                .unwrap_err()
                .code(),
            "wrong_profile"
        );
        let a_floor = Appliance {
            floor: Some("1.0.5"),
            ..a.clone()
        };
        assert_eq!(
            check(&candidate("1.0.4", &vm, &[]), &a_floor)
                .unwrap_err()
                .code(),
            "below_floor"
        );
        let req = vec![("base".to_string(), "1.0.1".to_string())];
        let err = check(&candidate("1.0.2", &vm, &req), &a).unwrap_err();
        assert_eq!(err.code(), "missing_requirement");
        assert!(
            err.to_string().contains("needs base 1.0.1 or later first"),
            "{err}"
        );
        let site_req = vec![("crm".to_string(), "2.0.0".to_string())];
        assert_eq!(
            check(&candidate("1.0.2", &vm, &site_req), &a)
                .unwrap_err()
                .code(),
            "missing_requirement"
        );
        assert_eq!(
            check(&candidate("1.0.0", &vm, &[]), &a).unwrap_err().code(),
            "already_installed"
        );
        assert_eq!(
            check(&candidate("1.0", &vm, &[]), &a).unwrap_err().code(),
            "malformed"
        );

        let mut trial = BootState::factory();
        trial.grub_boot(|_| true);
        let on_trial = Appliance {
            boot: &trial,
            ..a.clone()
        };
        assert_eq!(
            check(&candidate("1.0.1", &vm, &[]), &on_trial)
                .unwrap_err()
                .code(),
            "not_confirmed"
        );

        assert_eq!(check_space(Slot::B, 10, 5).unwrap_err().code(), "no_space");
        assert_eq!(check_space(Slot::B, 5, 5), Ok(()));
    }

    #[test]
    fn versions_compare_as_numbers() {
        assert!(version("1.0.10").unwrap() > version("1.0.9").unwrap());
        assert!(version("2.0.0").unwrap() > version("1.99.99").unwrap());
        assert!(version("1.0").is_err());
        assert!(version("1.0.x").is_err());
    }

    #[test]
    fn target_is_the_other_slot() {
        assert_eq!(target_slot(BootSlot::Slot(Slot::A)), Slot::B);
        assert_eq!(target_slot(BootSlot::Slot(Slot::B)), Slot::A);
        assert_eq!(target_slot(BootSlot::Factory), Slot::A);
    }
}

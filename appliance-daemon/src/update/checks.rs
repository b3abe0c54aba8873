//! The checks a verified package passes before a byte of it is used (pure). The rules
//! the catalog's listing shares (profile, anti-rollback floor, requirements, already
//! installed) are `package::availability`'s, so both give the same answer; the
//! installer adds its own: the running slot confirmed and room in the target slot (base
//! packages), the version kept for a rollback (site packages, update/site.rs). Each has
//! its own error code and sentence.

use grubenv::{BootState, Slot};
use package::availability::{self, Blocked, Candidate, Installed, Site};
use package::Version;

use super::state::Updates;
use crate::system::BootSlot;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// A rule the catalog's listing shares (boxed: the other errors stay small).
    #[error(transparent)]
    Blocked(Box<Blocked>),
    #[error("the running system (slot {0}) has not passed its health check yet; restart it or wait before installing")]
    NotConfirmed(Slot),
    #[error("the payload needs {need} bytes but slot {slot} holds {have}")]
    NoSpace { slot: Slot, need: u64, have: u64 },
    #[error(
        "{name} {version} is installed and kept as the previous version: roll back to it instead"
    )]
    KeptForRollback { name: String, version: Version },
    #[error("the site package needs {need} bytes free on the data partition, which has {free}")]
    NoDataSpace { need: u64, free: u64 },
    #[error(
        "{name} {version} is older than the installed {installed}: going back is refused \
         unless asked for explicitly (upload with ?downgrade=true; audited)"
    )]
    Older {
        name: String,
        version: Version,
        installed: Version,
    },
}

impl From<Blocked> for Refusal {
    fn from(b: Blocked) -> Self {
        Refusal::Blocked(Box::new(b))
    }
}

impl Refusal {
    pub fn code(&self) -> &'static str {
        match self {
            Refusal::Blocked(b) => b.code(),
            Refusal::NotConfirmed(_) => "not_confirmed",
            Refusal::NoSpace { .. } | Refusal::NoDataSpace { .. } => "no_space",
            Refusal::KeptForRollback { .. } => "already_installed",
            Refusal::Older { .. } => "older_version",
        }
    }
}

/// What this appliance runs and has installed, as the install rules, the catalog's
/// verdicts and the download key describe it. `None` if the running version is not
/// `X.Y.Z` (a broken release file).
pub(crate) fn installed(profile: &str, running_version: &str, u: &Updates) -> Option<Installed> {
    Some(Installed {
        profile: profile.to_string(),
        base: running_version.parse().ok()?,
        floor: u.floor,
        pending_base: u.pending.as_ref().and_then(|p| p.version.parse().ok()),
        sites: u
            .sites
            .iter()
            .filter_map(|(name, info)| {
                Some(Site {
                    name: name.clone(),
                    version: info.version.parse().ok()?,
                })
            })
            .collect(),
    })
}

/// The slot a base package goes into: the one not running (A when running the factory image).
pub(crate) fn target_slot(booted: BootSlot) -> Slot {
    match booted {
        BootSlot::Slot(s) => s.other(),
        BootSlot::Factory => Slot::A,
    }
}

/// An older version than the installed one is refused unless the operator asked for a
/// downgrade (the floor still holds then: see `availability`).
fn check_not_older(
    package: Candidate<'_>,
    installed: &Installed,
    downgrade: bool,
) -> Result<(), Refusal> {
    match installed.version_of(package.name) {
        Some(have) if package.version < have && !downgrade => Err(Refusal::Older {
            name: package.name.to_string(),
            version: package.version,
            installed: have,
        }),
        _ => Ok(()),
    }
}

/// Whether `package` is older than what is installed under its name.
pub(crate) fn is_older(package: Candidate<'_>, installed: &Installed) -> bool {
    installed
        .version_of(package.name)
        .is_some_and(|have| package.version < have)
}

/// Every check of a base package but space, which needs the target's capacity: see
/// [`check_space`].
pub(crate) fn check_base(
    package: Candidate<'_>,
    installed: &Installed,
    downgrade: bool,
    booted: BootSlot,
    boot: &BootState,
) -> Result<(), Refusal> {
    availability::check_install(package, installed)?;
    check_not_older(package, installed, downgrade)?;
    if let BootSlot::Slot(s) = booted {
        if boot.is_trying(s) || !boot.is_ok(s) {
            return Err(Refusal::NotConfirmed(s));
        }
    }
    Ok(())
}

/// Every check of a site package but space: the shared rules, and not the version kept
/// for a rollback (`previous`).
pub(crate) fn check_site(
    package: Candidate<'_>,
    installed: &Installed,
    downgrade: bool,
    previous: Option<&str>,
) -> Result<(), Refusal> {
    availability::check_install(package, installed)?;
    if previous.and_then(|p| p.parse().ok()) == Some(package.version) {
        return Err(Refusal::KeptForRollback {
            name: package.name.to_string(),
            version: package.version,
        });
    }
    check_not_older(package, installed, downgrade)
}

pub(crate) fn check_space(slot: Slot, need: u64, have: u64) -> Result<(), Refusal> {
    if need > have {
        Err(Refusal::NoSpace { slot, need, have })
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use package::{Kind, Requirement};

    fn confirmed_a() -> BootState {
        let mut b = BootState::factory();
        b.grub_boot(|_| true);
        b.mark_successful_boot(Slot::A);
        b
    }

    fn base<'a>(
        version: &str,
        profiles: &'a [String],
        requires: &'a [Requirement],
    ) -> Candidate<'a> {
        Candidate {
            kind: Kind::Base,
            name: "base",
            version: version.parse().unwrap(),
            profiles,
            requires,
        }
    }

    fn requires(name: &str, min: &str) -> Vec<Requirement> {
        vec![Requirement {
            name: name.into(),
            min_version: min.parse().unwrap(),
        }]
    }

    #[test]
    fn each_refusal_has_its_code() {
        let boot = confirmed_a();
        let vm = vec!["vm".to_string()];
        let a = installed("vm", "1.0.0", &Updates::default()).unwrap();
        let booted = BootSlot::Slot(Slot::A);
        let check = |c: Candidate<'_>, a: &Installed| check_base(c, a, false, booted, &boot);
        assert_eq!(check(base("1.0.1", &vm, &[]), &a), Ok(()));
        let boxes = vec!["box".to_string()];
        assert_eq!(
            check(base("1.0.1", &boxes, &[]), &a).unwrap_err().code(),
            "wrong_profile"
        );
        let a_floor = Installed {
            floor: Some("1.0.5".parse().unwrap()),
            ..a.clone()
        };
        assert_eq!(
            check(base("1.0.4", &vm, &[]), &a_floor).unwrap_err().code(),
            "below_floor"
        );
        let req = requires("base", "1.0.1");
        let err = check(base("1.0.2", &vm, &req), &a).unwrap_err();
        assert_eq!(err.code(), "missing_requirement");
        assert!(
            err.to_string().contains("needs base 1.0.1 or later first"),
            "{err}"
        );
        let site_req = requires("crm", "2.0.0");
        assert_eq!(
            check(base("1.0.2", &vm, &site_req), &a).unwrap_err().code(),
            "missing_requirement"
        );
        assert_eq!(
            check(base("1.0.0", &vm, &[]), &a).unwrap_err().code(),
            "already_installed"
        );
        // Older than the running version: refused unless asked for; the floor still holds.
        let err = check(base("0.9.0", &vm, &[]), &a).unwrap_err();
        assert_eq!(err.code(), "older_version");
        assert!(err.to_string().contains("?downgrade=true"), "{err}");
        assert_eq!(
            check_base(base("0.9.0", &vm, &[]), &a, true, booted, &boot),
            Ok(())
        );
        assert_eq!(
            check_base(base("1.0.4", &vm, &[]), &a_floor, true, booted, &boot)
                .unwrap_err()
                .code(),
            "below_floor"
        );
        assert!(is_older(base("0.9.0", &vm, &[]), &a));
        assert!(!is_older(base("1.0.1", &vm, &[]), &a));
        // A version that is not X.Y.Z never reaches the checks: the manifest is refused.
        assert!("1.0".parse::<Version>().is_err());

        let mut trial = BootState::factory();
        trial.grub_boot(|_| true);
        assert_eq!(
            check_base(base("1.0.1", &vm, &[]), &a, false, booted, &trial)
                .unwrap_err()
                .code(),
            "not_confirmed"
        );

        assert_eq!(check_space(Slot::B, 10, 5).unwrap_err().code(), "no_space");
        assert_eq!(check_space(Slot::B, 5, 5), Ok(()));
    }

    #[test]
    fn target_is_the_other_slot() {
        assert_eq!(target_slot(BootSlot::Slot(Slot::A)), Slot::B);
        assert_eq!(target_slot(BootSlot::Slot(Slot::B)), Slot::A);
        assert_eq!(target_slot(BootSlot::Factory), Slot::A);
    }
}

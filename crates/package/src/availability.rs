//! Which catalog packages an appliance may install now, and why the others are blocked:
//! the same answer on the appliance (`GET /api/v1/updates`) and at the vendor (`image
//! download-key verify`, from what a download key says is installed). The rules are the
//! installer's ([`check_install`]: profile, anti-rollback floor, requirements, already
//! installed), plus two for listing: a package older than the installed one, or the base
//! version waiting for the restart, is not offered.

use serde::{Deserialize, Serialize};

use crate::catalog::{Catalog, Entry};
use crate::manifest::{Kind, Requirement, BASE_NAME};
use crate::version::Version;

/// What an appliance runs and has installed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Installed {
    /// `box` or `vm`.
    pub profile: String,
    /// The running base version.
    pub base: Version,
    /// The anti-rollback floor, if any base package set one.
    pub floor: Option<Version>,
    /// A base version installed in the other slot, starting at the next restart.
    pub pending_base: Option<Version>,
    /// Installed site packages.
    pub sites: Vec<Site>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Site {
    pub name: String,
    pub version: Version,
}

impl Installed {
    /// The installed version of package `name` (`base` is the running system).
    pub fn version_of(&self, name: &str) -> Option<Version> {
        if name == BASE_NAME {
            Some(self.base)
        } else {
            self.sites
                .iter()
                .find(|s| s.name == name)
                .map(|s| s.version)
        }
    }
}

/// Why a package cannot be installed now.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Blocked {
    #[error("this package is for {wanted}; this appliance is a {ours}")]
    WrongProfile { wanted: String, ours: String },
    #[error("{version} is below the lowest version this appliance may run ({floor}): going back to it is not allowed")]
    BelowFloor { version: Version, floor: Version },
    #[error("{name} {version} needs {needs} {min} or later first; this appliance has {have}")]
    MissingRequirement {
        name: String,
        version: Version,
        needs: String,
        min: Version,
        have: String,
    },
    #[error("{name} {version} is already installed")]
    AlreadyInstalled { name: String, version: Version },
    #[error("{name} {version} is installed and starts at the next restart")]
    PendingRestart { name: String, version: Version },
    #[error("{name} {version} is older than the installed {installed}")]
    Older {
        name: String,
        version: Version,
        installed: Version,
    },
}

impl Blocked {
    /// A stable short name; the installer's codes where it has the same check.
    pub fn code(&self) -> &'static str {
        match self {
            Blocked::WrongProfile { .. } => "wrong_profile",
            Blocked::BelowFloor { .. } => "below_floor",
            Blocked::MissingRequirement { .. } => "missing_requirement",
            Blocked::AlreadyInstalled { .. } | Blocked::PendingRestart { .. } => {
                "already_installed"
            }
            Blocked::Older { .. } => "older_version",
        }
    }
}

/// What the rules look at in a package: a catalog entry, or the installer's verified
/// update (`Update::candidate` in the daemon).
#[derive(Debug, Clone, Copy)]
pub struct Candidate<'a> {
    pub kind: Kind,
    pub name: &'a str,
    pub version: Version,
    pub profiles: &'a [String],
    pub requires: &'a [Requirement],
}

impl<'a> From<&'a Entry> for Candidate<'a> {
    fn from(e: &'a Entry) -> Self {
        Candidate {
            kind: e.kind,
            name: &e.name,
            version: e.version,
            profiles: &e.profiles,
            requires: &e.requires,
        }
    }
}

/// Whether `entry` can be installed on `installed` now: the installer's rules, and a
/// package older than the installed one, or the base version waiting for the restart,
/// is not offered.
pub fn assess(entry: &Entry, installed: &Installed) -> Result<(), Blocked> {
    rules(entry.into(), installed, true)
}

/// The installer's rules: the profile, the anti-rollback floor (base packages), not the
/// version installed, every requirement met. An install may go back to an older version
/// (above the floor) and may write the pending base version again.
pub fn check_install(package: Candidate<'_>, installed: &Installed) -> Result<(), Blocked> {
    rules(package, installed, false)
}

fn rules(c: Candidate<'_>, installed: &Installed, offer: bool) -> Result<(), Blocked> {
    if !c.profiles.contains(&installed.profile) {
        return Err(Blocked::WrongProfile {
            wanted: c.profiles.join(", "),
            ours: installed.profile.clone(),
        });
    }
    if c.kind == Kind::Base {
        if let Some(floor) = installed.floor {
            if c.version < floor {
                return Err(Blocked::BelowFloor {
                    version: c.version,
                    floor,
                });
            }
        }
    }
    if let Some(have) = installed.version_of(c.name) {
        if have == c.version {
            return Err(Blocked::AlreadyInstalled {
                name: c.name.to_string(),
                version: c.version,
            });
        }
        if offer && c.version < have {
            return Err(Blocked::Older {
                name: c.name.to_string(),
                version: c.version,
                installed: have,
            });
        }
    }
    if offer && c.kind == Kind::Base && installed.pending_base == Some(c.version) {
        return Err(Blocked::PendingRestart {
            name: c.name.to_string(),
            version: c.version,
        });
    }
    for r in c.requires {
        let have = installed.version_of(&r.name);
        if have.is_none_or(|h| h < r.min_version) {
            return Err(Blocked::MissingRequirement {
                name: c.name.to_string(),
                version: c.version,
                needs: r.name.clone(),
                min: r.min_version,
                have: have.map_or_else(|| "none".to_string(), |h| h.to_string()),
            });
        }
    }
    Ok(())
}

/// One catalog entry with its verdict.
#[derive(Debug, Clone)]
pub struct Assessed<'a> {
    pub entry: &'a Entry,
    pub blocked: Option<Blocked>,
}

/// Every entry of `catalog` with its verdict, in install order: base packages first
/// (oldest first), then site packages after the site packages they require, then by name
/// and version.
pub fn assess_all<'a>(catalog: &'a Catalog, installed: &Installed) -> Vec<Assessed<'a>> {
    let mut all: Vec<Assessed<'a>> = catalog
        .packages
        .iter()
        .map(|entry| Assessed {
            entry,
            blocked: assess(entry, installed).err(),
        })
        .collect();
    let depth = |e: &Entry| site_depth(catalog, &e.name, 0);
    all.sort_by(|a, b| {
        let key = |x: &Assessed<'_>| (x.entry.kind == Kind::Site, depth(x.entry));
        key(a)
            .cmp(&key(b))
            .then_with(|| a.entry.name.cmp(&b.entry.name))
            .then_with(|| a.entry.version.cmp(&b.entry.version))
            .then_with(|| a.entry.id.cmp(&b.entry.id))
    });
    all
}

/// How many site packages deep `name`'s requirements go within the catalog (0 for base
/// and for a site package that needs only base); a requirement loop stops counting.
fn site_depth(catalog: &Catalog, name: &str, seen: usize) -> usize {
    if name == BASE_NAME || seen > catalog.packages.len() {
        return 0;
    }
    catalog
        .packages
        .iter()
        .filter(|e| e.name == name)
        .flat_map(|e| e.requires.iter())
        .filter(|r| r.name != BASE_NAME)
        .map(|r| 1 + site_depth(catalog, &r.name, seen + 1))
        .max()
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    fn entry(id: &str, kind: Kind, name: &str, version: &str, requires: &[(&str, &str)]) -> Entry {
        Entry {
            id: id.into(),
            kind,
            name: name.into(),
            version: v(version),
            profiles: vec!["vm".into()],
            requires: requires
                .iter()
                .map(|(n, m)| Requirement {
                    name: n.to_string(),
                    min_version: v(m),
                })
                .collect(),
            floor: None,
            size: 1,
            sha256: "00".repeat(32),
            url: format!("{id}.pkg"),
        }
    }

    fn appliance() -> Installed {
        Installed {
            profile: "vm".into(),
            base: v("1.0.0"),
            floor: Some(v("1.0.0")),
            pending_base: None,
            sites: vec![Site {
                name: "crm".into(),
                version: v("2.0.0"),
            }],
        }
    }

    #[test]
    fn each_block_has_its_code_and_reason() {
        let a = appliance();
        let ok = entry("b101", Kind::Base, "base", "1.0.1", &[]);
        assert_eq!(assess(&ok, &a), Ok(()));
        let mut boxed = ok.clone();
        boxed.profiles = vec!["box".into()];
        assert_eq!(assess(&boxed, &a).unwrap_err().code(), "wrong_profile");
        let mut floored = a.clone();
        floored.floor = Some(v("1.0.5"));
        floored.base = v("1.0.5");
        let e = assess(&entry("b", Kind::Base, "base", "1.0.4", &[]), &floored).unwrap_err();
        assert_eq!(e.code(), "below_floor");
        let e = assess(&entry("b", Kind::Base, "base", "1.0.0", &[]), &a).unwrap_err();
        assert_eq!(e.code(), "already_installed");
        let e = assess(&entry("c", Kind::Site, "crm", "1.9.0", &[]), &a).unwrap_err();
        assert_eq!(e.code(), "older_version");
        let needs = entry("b102", Kind::Base, "base", "1.0.2", &[("base", "1.0.1")]);
        let e = assess(&needs, &a).unwrap_err();
        assert_eq!(e.code(), "missing_requirement");
        assert_eq!(
            e.to_string(),
            "base 1.0.2 needs base 1.0.1 or later first; this appliance has 1.0.0"
        );
        let e = assess(
            &entry("r", Kind::Site, "reports", "1.0.0", &[("ldap", "1.0.0")]),
            &a,
        )
        .unwrap_err();
        assert!(e.to_string().ends_with("has none"), "{e}");
        let site_ok = entry("c21", Kind::Site, "crm", "2.1.0", &[("base", "1.0.0")]);
        assert_eq!(assess(&site_ok, &a), Ok(()));
        let mut pending = a.clone();
        pending.pending_base = Some(v("1.0.1"));
        let e = assess(&ok, &pending).unwrap_err();
        assert_eq!(e.code(), "already_installed");
        assert!(e.to_string().contains("next restart"), "{e}");
    }

    #[test]
    fn an_install_may_go_back_and_rewrite_the_pending_version() {
        let mut a = appliance();
        a.pending_base = Some(v("1.0.1"));
        let pending = entry("b101", Kind::Base, "base", "1.0.1", &[]);
        assert_eq!(check_install((&pending).into(), &a), Ok(()));
        let older = entry("c", Kind::Site, "crm", "1.9.0", &[]);
        assert_eq!(check_install((&older).into(), &a), Ok(()));
        let running = entry("b", Kind::Base, "base", "1.0.0", &[]);
        let e = check_install((&running).into(), &a).unwrap_err();
        assert_eq!(e.code(), "already_installed");
    }

    #[test]
    fn install_order_is_base_then_sites_after_what_they_need() {
        let catalog = Catalog {
            format: 1,
            issued: 0,
            expires: 1,
            packages: vec![
                entry(
                    "reports",
                    Kind::Site,
                    "reports",
                    "1.0.0",
                    &[("crm", "2.0.0")],
                ),
                entry("crm", Kind::Site, "crm", "2.1.0", &[("base", "1.0.1")]),
                entry("b102", Kind::Base, "base", "1.0.2", &[("base", "1.0.1")]),
                entry(
                    "addon",
                    Kind::Site,
                    "addon",
                    "1.0.0",
                    &[("reports", "1.0.0")],
                ),
                entry("b101", Kind::Base, "base", "1.0.1", &[]),
            ],
        };
        let order: Vec<&str> = assess_all(&catalog, &appliance())
            .iter()
            .map(|a| a.entry.id.as_str())
            .collect();
        assert_eq!(order, ["b101", "b102", "crm", "reports", "addon"]);
        let verdicts: Vec<Option<&str>> = assess_all(&catalog, &appliance())
            .iter()
            .map(|a| a.blocked.as_ref().map(Blocked::code))
            .collect();
        assert_eq!(
            verdicts,
            [
                None,
                Some("missing_requirement"),
                Some("missing_requirement"),
                None,
                Some("missing_requirement")
            ]
        );
    }
}

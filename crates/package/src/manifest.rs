//! `manifest.json`: what a package is, what it may be installed on, and the size and
//! sha256 of each payload. The signatures cover its exact bytes (docs/packages.md).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::version::Version;

/// The manifest format this crate writes and reads.
pub const FORMAT: u64 = 1;
/// The name of every base package.
pub const BASE_NAME: &str = "base";
/// The one payload of a base package: the slot's squashfs image.
pub const BASE_PAYLOAD: &str = "rootfs.sqfs";
/// The one payload of a site package: a zstd-compressed tar of the site directory.
pub const SITE_PAYLOAD: &str = "site.tar.zst";

/// Longest package, profile or payload name (payload names must fit a tar header).
const MAX_NAME: usize = 64;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A root slot image, installed into the inactive slot.
    Base,
    /// Application files, installed on `data`.
    Site,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    None,
    Zstd,
}

impl Kind {
    /// The name used in the manifest.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Base => "base",
            Kind::Site => "site",
        }
    }
}

impl Compression {
    /// The name used in the manifest.
    pub fn name(self) -> &'static str {
        match self {
            Compression::None => "none",
            Compression::Zstd => "zstd",
        }
    }
}

/// "Package `name` must be installed at `min_version` or later."
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Requirement {
    pub name: String,
    pub min_version: Version,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Payload {
    /// The tar entry name, in manifest order after `manifest.sig`.
    pub name: String,
    /// Bytes in the package.
    pub size: u64,
    /// Lowercase hex sha256 of those bytes.
    pub sha256: String,
    pub compression: Compression,
    /// Bytes after decompression (equal to `size` when not compressed).
    pub installed_size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub format: u64,
    pub kind: Kind,
    /// `base`, or the site package's name.
    pub name: String,
    pub version: Version,
    /// The appliance profiles (`box`, `vm`) that may install it.
    pub profiles: Vec<String>,
    pub requires: Vec<Requirement>,
    /// Anti-rollback: once this base package is installed, no base package below this
    /// version is accepted any more. Base packages only.
    pub floor: Option<Version>,
    /// Unix seconds.
    pub created: u64,
    pub payloads: Vec<Payload>,
}

/// Only the format field, read first so that a later format is reported as such rather
/// than as unknown fields.
#[derive(Deserialize)]
struct FormatOnly {
    format: u64,
}

impl Manifest {
    /// Parses and validates `manifest.json`.
    pub fn from_json(bytes: &[u8]) -> Result<Manifest> {
        let invalid = |e: serde_json::Error| Error::InvalidManifest(e.to_string());
        let f: FormatOnly = serde_json::from_slice(bytes).map_err(invalid)?;
        if f.format != FORMAT {
            return Err(Error::UnsupportedFormat(f.format));
        }
        let m: Manifest = serde_json::from_slice(bytes).map_err(invalid)?;
        m.validate()?;
        Ok(m)
    }

    /// The exact bytes written as `manifest.json` (and signed).
    pub fn to_json(&self) -> Vec<u8> {
        // Plain structs of strings and numbers: serialization cannot fail.
        let mut out = serde_json::to_vec_pretty(self).expect("a manifest always serializes");
        out.push(b'\n');
        out
    }

    /// Whether an appliance of `profile` may install this package.
    pub fn supports_profile(&self, profile: &str) -> bool {
        self.profiles.iter().any(|p| p == profile)
    }

    /// Checks every rule of docs/packages.md that JSON types alone do not express.
    pub fn validate(&self) -> Result<()> {
        let bad = |s: String| Err(Error::InvalidManifest(s));
        if self.format != FORMAT {
            return Err(Error::UnsupportedFormat(self.format));
        }
        check_name("package name", &self.name)?;
        match self.kind {
            Kind::Base if self.name != BASE_NAME => {
                return bad(format!("a base package must be named {BASE_NAME:?}"));
            }
            Kind::Site if self.name == BASE_NAME => {
                return bad(format!("a site package cannot be named {BASE_NAME:?}"));
            }
            _ => {}
        }
        if self.profiles.is_empty() {
            return bad("the package names no profile".into());
        }
        let mut seen = BTreeSet::new();
        for p in &self.profiles {
            check_name("profile", p)?;
            if !seen.insert(p) {
                return bad(format!("profile {p:?} is listed twice"));
            }
        }
        let mut seen = BTreeSet::new();
        for r in &self.requires {
            check_name("required package", &r.name)?;
            // An update path is allowed (1.0.2 needs 1.0.1 installed first), a loop is not.
            if r.name == self.name && r.min_version >= self.version {
                return bad(format!(
                    "the package requires {:?} {} or later, its own version or above",
                    r.name, r.min_version
                ));
            }
            if !seen.insert(&r.name) {
                return bad(format!("package {:?} is required twice", r.name));
            }
        }
        match (self.kind, self.floor) {
            (Kind::Site, Some(_)) => return bad("only base packages carry a floor".into()),
            (Kind::Base, Some(floor)) if floor > self.version => {
                return bad(format!(
                    "the floor {floor} is above the package's version {}",
                    self.version
                ));
            }
            _ => {}
        }
        let (expected, compression) = match self.kind {
            Kind::Base => (BASE_PAYLOAD, Compression::None),
            Kind::Site => (SITE_PAYLOAD, Compression::Zstd),
        };
        let [p] = self.payloads.as_slice() else {
            return bad(format!(
                "a {} package has exactly one payload, {expected}; this one lists {}",
                self.kind.name(),
                self.payloads.len()
            ));
        };
        if p.name != expected {
            return bad(format!(
                "the payload of a {} package is {expected}, not {:?}",
                self.kind.name(),
                p.name
            ));
        }
        if p.compression != compression {
            return bad(format!(
                "payload {} must have compression {}",
                p.name,
                compression.name()
            ));
        }
        if p.compression == Compression::None && p.installed_size != p.size {
            return bad(format!(
                "payload {} is not compressed but its installed size differs from its size",
                p.name
            ));
        }
        if !(p.sha256.len() == 64
            && p.sha256
                .bytes()
                .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
        {
            return bad(format!(
                "the sha256 of payload {} is not 64 lowercase hex digits",
                p.name
            ));
        }
        Ok(())
    }
}

/// Names of packages and profiles: 1 to 64 of `a-z 0-9 . _ -`, starting with a letter
/// or digit (safe as a file name and in a URL).
pub fn check_name(what: &str, name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'.' | b'_' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidManifest(format!(
            "{what} {:?} is not 1 to {MAX_NAME} of a-z 0-9 . _ - starting with a letter or digit",
            name.chars().take(MAX_NAME + 1).collect::<String>()
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base() -> Manifest {
        Manifest {
            format: FORMAT,
            kind: Kind::Base,
            name: "base".into(),
            version: Version::new(1, 2, 3),
            profiles: vec!["box".into()],
            requires: vec![],
            floor: Some(Version::new(1, 0, 0)),
            created: 1_704_067_200,
            payloads: vec![Payload {
                name: BASE_PAYLOAD.into(),
                size: 10,
                sha256: "ab".repeat(32),
                compression: Compression::None,
                installed_size: 10,
            }],
        }
    }

    #[test]
    fn json_round_trip_keeps_field_order() {
        let m = base();
        let json = m.to_json();
        let text = String::from_utf8(json.clone()).unwrap();
        let order: Vec<usize> = [
            "\"format\"",
            "\"kind\"",
            "\"name\"",
            "\"version\"",
            "\"profiles\"",
            "\"requires\"",
            "\"floor\"",
            "\"created\"",
            "\"payloads\"",
        ]
        .iter()
        .map(|k| text.find(k).unwrap())
        .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{text}");
        assert_eq!(Manifest::from_json(&json).unwrap(), m);
    }

    #[test]
    fn later_format_is_reported_as_such() {
        let json = br#"{"format":2,"something_new":true}"#;
        assert_eq!(
            Manifest::from_json(json).unwrap_err().code(),
            "unsupported_format"
        );
    }

    #[test]
    fn unknown_fields_are_refused() {
        let mut v: serde_json::Value = serde_json::from_slice(&base().to_json()).unwrap();
        v["extra"] = true.into();
        let e = Manifest::from_json(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert_eq!(e.code(), "invalid_manifest");
    }

    #[test]
    fn rules_are_enforced() {
        type Change = Box<dyn Fn(&mut Manifest)>;
        let cases: Vec<(&str, Change)> = vec![
            ("base named otherwise", Box::new(|m| m.name = "x".into())),
            ("no profile", Box::new(|m| m.profiles.clear())),
            ("bad profile", Box::new(|m| m.profiles = vec!["Box".into()])),
            (
                "twice",
                Box::new(|m| m.profiles = vec!["vm".into(), "vm".into()]),
            ),
            (
                "floor above",
                Box::new(|m| m.floor = Some(Version::new(2, 0, 0))),
            ),
            (
                "two payloads",
                Box::new(|m| m.payloads.push(m.payloads[0].clone())),
            ),
            ("no payload", Box::new(|m| m.payloads.clear())),
            (
                "renamed",
                Box::new(|m| m.payloads[0].name = "x.sqfs".into()),
            ),
            (
                "compressed",
                Box::new(|m| m.payloads[0].compression = Compression::Zstd),
            ),
            (
                "installed size",
                Box::new(|m| m.payloads[0].installed_size = 11),
            ),
            (
                "uppercase hash",
                Box::new(|m| m.payloads[0].sha256 = "AB".repeat(32)),
            ),
            (
                "short hash",
                Box::new(|m| m.payloads[0].sha256 = "ab".into()),
            ),
            (
                "requires itself",
                Box::new(|m| {
                    m.requires = vec![Requirement {
                        name: "base".into(),
                        min_version: m.version,
                    }];
                }),
            ),
            (
                "site with floor",
                Box::new(|m| {
                    m.kind = Kind::Site;
                    m.name = "portal".into();
                    m.payloads[0].name = SITE_PAYLOAD.into();
                    m.payloads[0].compression = Compression::Zstd;
                }),
            ),
        ];
        assert!(base().validate().is_ok());
        for (what, change) in cases {
            let mut m = base();
            change(&mut m);
            assert!(m.validate().is_err(), "{what}: accepted");
        }
    }

    #[test]
    fn names() {
        for ok in ["base", "portal", "a", "site-2.x_y", &"a".repeat(64)] {
            assert!(check_name("n", ok).is_ok(), "{ok}");
        }
        for bad in ["", "-a", ".a", "A", "a/b", "a b", "é", &"a".repeat(65)] {
            assert!(check_name("n", bad).is_err(), "{bad}");
        }
    }
}

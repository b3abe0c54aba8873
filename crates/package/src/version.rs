//! Package versions: `X.Y.Z`, three numbers compared numerically (`1.10.0` > `1.9.3`).
//! No pre-release or build suffixes: an appliance only ever compares releases.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A release version. Ordering is numeric, major first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
}

/// A string that is not `X.Y.Z`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("version {0:?} is not X.Y.Z (three dot-separated numbers, no leading zeros)")]
pub struct VersionError(String);

impl Version {
    pub const fn new(major: u64, minor: u64, patch: u64) -> Self {
        Version {
            major,
            minor,
            patch,
        }
    }
}

impl FromStr for Version {
    type Err = VersionError;

    fn from_str(s: &str) -> Result<Self, VersionError> {
        // The input may come from an unverified file: keep the error message short.
        let err = || VersionError(s.chars().take(40).collect());
        let mut parts = s.split('.');
        let mut next = || -> Result<u64, VersionError> {
            let p = parts.next().ok_or_else(err)?;
            let canonical = !p.is_empty()
                && p.bytes().all(|b| b.is_ascii_digit())
                && (p == "0" || !p.starts_with('0'));
            if !canonical {
                return Err(err());
            }
            p.parse().map_err(|_| err())
        };
        let v = Version::new(next()?, next()?, next()?);
        if parts.next().is_some() {
            return Err(err());
        }
        Ok(v)
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.patch)
    }
}

impl Serialize for Version {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Version {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(s: &str) -> Version {
        s.parse().unwrap()
    }

    #[test]
    fn parses_and_prints() {
        assert_eq!(v("1.2.3"), Version::new(1, 2, 3));
        assert_eq!(v("0.0.0").to_string(), "0.0.0");
        assert_eq!(v("10.20.30").to_string(), "10.20.30");
    }

    #[test]
    fn compares_numerically() {
        assert!(v("1.10.0") > v("1.9.9"));
        assert!(v("1.0.10") > v("1.0.9"));
        assert!(v("2.0.0") > v("1.99.99"));
        assert!(v("1.0.1") > v("1.0.0"));
        assert_eq!(v("1.0.0").cmp(&v("1.0.0")), std::cmp::Ordering::Equal);
    }

    #[test]
    fn rejects_what_is_not_x_y_z() {
        for bad in [
            "",
            "1",
            "1.2",
            "1.0",
            "1.2.3.4",
            "1.2.x",
            "1.0.x",
            "01.2.3",
            "1.02.3",
            "1..3",
            "1.2.3-rc1",
            "+1.2.3",
            " 1.2.3",
            "1.2.99999999999999999999",
        ] {
            assert!(bad.parse::<Version>().is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn serde_is_a_string() {
        let json = serde_json::to_string(&v("1.2.3")).unwrap();
        assert_eq!(json, "\"1.2.3\"");
        assert_eq!(serde_json::from_str::<Version>(&json).unwrap(), v("1.2.3"));
        assert!(serde_json::from_str::<Version>("\"1.2\"").is_err());
        assert!(serde_json::from_str::<Version>("123").is_err());
    }
}

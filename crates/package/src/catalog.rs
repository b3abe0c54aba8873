//! The update catalog (docs/packages.md "Catalog"): the signed list of packages an update
//! server offers, fetched by "check for updates". `catalog.json` lists each package with
//! what its manifest says plus the size and sha256 of the whole package file, so a
//! download is checked before the installer reads it; `catalog.sig` signs its exact bytes
//! with the same scheme and keyring as `manifest.sig`. The catalog carries `issued` and
//! `expires`: an old catalog replayed by someone on the path stops being accepted.

use std::collections::BTreeSet;
use std::fs;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::Error;
use crate::keys::{self, KeyId, Keyring, Signer};
use crate::manifest::{check_name, Kind, Manifest, Requirement, BASE_NAME, FORMAT};
use crate::reader::Verified;
use crate::version::Version;
use crate::with_suffix;
use crate::CLOCK_TOLERANCE_SECS;
use units::utc;

/// The signed list, as served next to the packages.
pub const CATALOG_FILE: &str = "catalog.json";
/// Its signatures (the format of `manifest.sig`).
pub const CATALOG_SIG_FILE: &str = "catalog.sig";
/// Largest `catalog.json` accepted (thousands of entries).
pub const MAX_CATALOG_BYTES: u64 = 1024 * 1024;
/// Largest `catalog.sig` accepted.
pub const MAX_CATALOG_SIG_BYTES: u64 = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// Signature problems (`unsigned`, `unknown_key`, `bad_signature`, `malformed`),
    /// reading and building, with the package crate's own codes.
    #[error("update catalog: {0}")]
    Package(#[from] Error),
    /// `unsigned`, `unknown_key`, `bad_signature`, worded for a catalog.
    #[error("{message}")]
    Signature { code: &'static str, message: String },
    #[error("the update catalog is invalid: {0}")]
    Invalid(String),
    #[error("the update catalog has format {0}; this software reads format 1 only")]
    UnsupportedFormat(u64),
    #[error("the update catalog's {file} is {size} bytes, more than the {limit} allowed")]
    TooLarge { file: String, size: u64, limit: u64 },
    #[error(
        "the update catalog expired on {} and this appliance's clock says {}: if the clock is \
         wrong, check the appliance's NTP settings; otherwise the update server offers an \
         outdated catalog",
        utc(*expires),
        utc(*now)
    )]
    Expired { expires: u64, now: u64 },
    #[error(
        "the update catalog was issued on {}, later than this appliance's clock says it is \
         ({}): the clock is behind; check the appliance's NTP settings",
        utc(*issued),
        utc(*now)
    )]
    NotYetValid { issued: u64, now: u64 },
}

impl CatalogError {
    /// A stable short name, as [`Error::code`].
    pub fn code(&self) -> &'static str {
        match self {
            CatalogError::Package(e) => e.code(),
            CatalogError::Signature { code, .. } => code,
            CatalogError::Invalid(_) => "invalid_catalog",
            CatalogError::UnsupportedFormat(_) => "unsupported_format",
            CatalogError::TooLarge { .. } => "too_large",
            CatalogError::Expired { .. } => "catalog_expired",
            CatalogError::NotYetValid { .. } => "catalog_not_yet_valid",
        }
    }
}

/// `catalog.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Catalog {
    pub format: u64,
    /// Unix seconds: when it was signed.
    pub issued: u64,
    /// Unix seconds: not accepted from then on.
    pub expires: u64,
    pub packages: Vec<Entry>,
}

/// One package the server offers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Entry {
    /// Unique in the catalog; what `POST /api/v1/updates/install` names.
    pub id: String,
    pub kind: Kind,
    pub name: String,
    pub version: Version,
    pub profiles: Vec<String>,
    pub requires: Vec<Requirement>,
    pub floor: Option<Version>,
    /// Bytes of the whole package file.
    pub size: u64,
    /// Lowercase hex sha256 of the whole package file.
    pub sha256: String,
    /// Where the package file is, relative to the catalog's URL.
    pub url: String,
}

#[derive(Deserialize)]
struct FormatOnly {
    format: u64,
}

impl Catalog {
    /// Parses and validates `catalog.json` (its signature is [`verify`]'s business).
    pub fn from_json(bytes: &[u8]) -> Result<Catalog, CatalogError> {
        let invalid = |e: serde_json::Error| CatalogError::Invalid(e.to_string());
        let f: FormatOnly = serde_json::from_slice(bytes).map_err(invalid)?;
        if f.format != FORMAT {
            return Err(CatalogError::UnsupportedFormat(f.format));
        }
        let c: Catalog = serde_json::from_slice(bytes).map_err(invalid)?;
        c.validate()?;
        Ok(c)
    }

    /// The exact bytes written as `catalog.json` (and signed).
    pub fn to_json(&self) -> Vec<u8> {
        let mut out = serde_json::to_vec_pretty(self).expect("a catalog always serializes");
        out.push(b'\n');
        out
    }

    pub fn entry(&self, id: &str) -> Option<&Entry> {
        self.packages.iter().find(|e| e.id == id)
    }

    /// Every rule of docs/packages.md that the JSON types do not express.
    pub fn validate(&self) -> Result<(), CatalogError> {
        let bad = |s: String| Err(CatalogError::Invalid(s));
        if self.format != FORMAT {
            return Err(CatalogError::UnsupportedFormat(self.format));
        }
        if self.expires <= self.issued {
            return bad("it expires before it is issued".into());
        }
        let mut ids = BTreeSet::new();
        for e in &self.packages {
            let invalid = |err: Error| CatalogError::Invalid(format!("entry {:?}: {err}", e.id));
            check_name("package id", &e.id).map_err(invalid)?;
            if !ids.insert(&e.id) {
                return bad(format!("id {:?} is listed twice", e.id));
            }
            check_name("package name", &e.name).map_err(invalid)?;
            match e.kind {
                Kind::Base if e.name != BASE_NAME => {
                    return bad(format!("entry {:?}: a base package is named base", e.id))
                }
                Kind::Site if e.name == BASE_NAME => {
                    return bad(format!(
                        "entry {:?}: a site package is not named base",
                        e.id
                    ))
                }
                Kind::Site if e.floor.is_some() => {
                    return bad(format!(
                        "entry {:?}: only base packages carry a floor",
                        e.id
                    ))
                }
                _ => {}
            }
            if e.profiles.is_empty() {
                return bad(format!("entry {:?} names no profile", e.id));
            }
            for p in &e.profiles {
                check_name("profile", p).map_err(invalid)?;
            }
            for r in &e.requires {
                check_name("required package", &r.name).map_err(invalid)?;
            }
            if !(e.sha256.len() == 64
                && e.sha256
                    .bytes()
                    .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')))
            {
                return bad(format!(
                    "entry {:?}: sha256 is not 64 lowercase hex digits",
                    e.id
                ));
            }
            check_url(&e.url)
                .map_err(|r| CatalogError::Invalid(format!("entry {:?}: {r}", e.id)))?;
        }
        Ok(())
    }
}

/// A package's place relative to the catalog: path segments of `A-Z a-z 0-9 . _ - +`,
/// no `..`, no scheme, query or absolute path, so it can only name a file beside or
/// below the catalog on the same server.
fn check_url(url: &str) -> Result<(), String> {
    let ok_segment = |s: &str| {
        !s.is_empty()
            && s != "."
            && s != ".."
            && s.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'+'))
    };
    if url.len() <= 512 && url.split('/').all(ok_segment) {
        Ok(())
    } else {
        Err(format!(
            "url {:?} is not a relative path below the catalog",
            url.chars().take(80).collect::<String>()
        ))
    }
}

impl Entry {
    /// The entry for a package file whose manifest is `m`.
    pub fn for_package(id: &str, url: &str, m: &Manifest, size: u64, sha256: &str) -> Entry {
        Entry {
            id: id.to_string(),
            kind: m.kind,
            name: m.name.clone(),
            version: m.version,
            profiles: m.profiles.clone(),
            requires: m.requires.clone(),
            floor: m.floor,
            size,
            sha256: sha256.to_string(),
            url: url.to_string(),
        }
    }
}

/// `catalog.json` and `catalog.sig` of `catalog`, signed by every signer.
pub fn sign(catalog: &Catalog, signers: &[Signer]) -> Result<(Vec<u8>, Vec<u8>), CatalogError> {
    catalog.validate()?;
    let json = catalog.to_json();
    let sig = keys::sign_manifest(&json, signers)?;
    Ok((json, sig))
}

/// Checks `catalog.sig` against the keyring (the rules of `manifest.sig`), then the
/// catalog's rules, then its dates against `now` (unix seconds): it must be issued (with
/// [`CLOCK_TOLERANCE_SECS`] of slack for the reader's clock) and not expired.
pub fn verify(
    json: &[u8],
    sig: &[u8],
    keyring: &Keyring,
    now: u64,
) -> Result<Verified<Catalog>, CatalogError> {
    for (file, data, limit) in [
        (CATALOG_FILE, json, MAX_CATALOG_BYTES),
        (CATALOG_SIG_FILE, sig, MAX_CATALOG_SIG_BYTES),
    ] {
        if data.len() as u64 > limit {
            return Err(CatalogError::TooLarge {
                file: file.into(),
                size: data.len() as u64,
                limit,
            });
        }
    }
    let signed_by = keys::verify_manifest(json, sig, keyring).map_err(signature_error)?;
    let catalog = Catalog::from_json(json)?;
    if now >= catalog.expires {
        return Err(CatalogError::Expired {
            expires: catalog.expires,
            now,
        });
    }
    if catalog.issued > now.saturating_add(CLOCK_TOLERANCE_SECS) {
        return Err(CatalogError::NotYetValid {
            issued: catalog.issued,
            now,
        });
    }
    Ok(Verified::new(catalog, signed_by))
}

fn signature_error(e: Error) -> CatalogError {
    let message = match &e {
        Error::Malformed(m) => {
            return Error::Malformed(m.replace("manifest.sig", CATALOG_SIG_FILE)).into()
        }
        Error::Unsigned => "the update catalog carries no signature".to_string(),
        Error::UnknownKey { key_ids } => format!(
            "the update catalog is signed only by keys this appliance does not trust (key ids {})",
            key_ids.join(", ")
        ),
        Error::BadSignature { key_id } => format!(
            "the signature by key {key_id} does not match the update catalog: it was altered or damaged"
        ),
        _ => return e.into(),
    };
    CatalogError::Signature {
        code: e.code(),
        message,
    }
}

/// What [`build_dir`] wrote.
#[derive(Debug)]
pub struct Built {
    pub catalog: Catalog,
    pub json: PathBuf,
    pub sig: PathBuf,
    pub signed_by: Vec<KeyId>,
}

/// Writes `DIR/catalog.json` and `DIR/catalog.sig` listing every `*.pkg` file of `dir` (in
/// name order; the id is the file name without `.pkg`, the URL the file name), each read
/// through its manifest (signatures are not checked here: `image package verify` does
/// that) and hashed whole.
pub fn build_dir(
    dir: &Path,
    signers: &[Signer],
    issued: u64,
    expires: u64,
) -> Result<Built, CatalogError> {
    let io = |what: String| move |e| Error::io(what, e);
    let mut files = Vec::new();
    for e in fs::read_dir(dir).map_err(io(format!("cannot list {}", dir.display())))? {
        let path = e
            .map_err(io(format!("cannot list {}", dir.display())))?
            .path();
        if path.extension().is_some_and(|x| x == "pkg") && path.is_file() {
            files.push(path);
        }
    }
    files.sort();
    let mut packages = Vec::new();
    for path in &files {
        let file_name = path
            .file_name()
            .and_then(|n| n.to_str())
            .ok_or_else(|| Error::Build(format!("{}: not a UTF-8 name", path.display())))?;
        let id = file_name.trim_end_matches(".pkg");
        check_name("package id (the file name without .pkg)", id)
            .map_err(|e| Error::Build(format!("{}: {e}", path.display())))?;
        let (manifest, _) = crate::reader::inspect(path)
            .map_err(|e| Error::Build(format!("{}: {e}", path.display())))?;
        let (size, sha256) = hash_file(path)?;
        packages.push(Entry::for_package(id, file_name, &manifest, size, &sha256));
    }
    let catalog = Catalog {
        format: FORMAT,
        issued,
        expires,
        packages,
    };
    let (json, sig) = sign(&catalog, signers)?;
    let json_path = dir.join(CATALOG_FILE);
    let sig_path = dir.join(CATALOG_SIG_FILE);
    // The signature first: a reader never sees a new catalog with the old signature
    // for longer than between the two renames, and then refuses it as bad_signature.
    write_replace(&sig_path, &sig)?;
    write_replace(&json_path, &json)?;
    Ok(Built {
        catalog,
        json: json_path,
        sig: sig_path,
        signed_by: signers.iter().map(Signer::id).collect(),
    })
}

fn hash_file(path: &Path) -> Result<(u64, String), Error> {
    let mut f = fs::File::open(path)
        .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut n = 0u64;
    loop {
        let got = f
            .read(&mut buf)
            .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        if got == 0 {
            break;
        }
        hasher.update(&buf[..got]);
        n += got as u64;
    }
    Ok((n, hex::encode(hasher.finalize())))
}

fn write_replace(path: &Path, data: &[u8]) -> Result<(), Error> {
    let tmp = with_suffix(path, ".tmp");
    let err = |e| Error::io(format!("cannot write {}", path.display()), e);
    let mut f = fs::File::create(&tmp).map_err(err)?;
    f.write_all(data).map_err(err)?;
    f.sync_all().map_err(err)?;
    fs::rename(&tmp, path).map_err(err)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ISSUED: u64 = 1_704_067_200;
    const DAY: u64 = 86_400;

    fn signer(n: u8) -> Signer {
        Signer::from_seed(&[n; 32])
    }

    fn ring(s: &Signer) -> Keyring {
        let mut r = Keyring::new();
        r.add(s.public().clone());
        r
    }

    pub(crate) fn entry(id: &str, kind: Kind, name: &str, version: &str) -> Entry {
        Entry {
            id: id.into(),
            kind,
            name: name.into(),
            version: version.parse().unwrap(),
            profiles: vec!["vm".into()],
            requires: vec![],
            floor: None,
            size: 1000,
            sha256: "ab".repeat(32),
            url: format!("{id}.pkg"),
        }
    }

    fn catalog() -> Catalog {
        Catalog {
            format: FORMAT,
            issued: ISSUED,
            expires: ISSUED + 30 * DAY,
            packages: vec![
                entry("base-1.0.1", Kind::Base, "base", "1.0.1"),
                entry("crm-2.0.0", Kind::Site, "crm", "2.0.0"),
            ],
        }
    }

    #[test]
    fn a_signed_catalog_verifies_while_valid() {
        let s = signer(1);
        let (json, sig) = sign(&catalog(), std::slice::from_ref(&s)).unwrap();
        let v = verify(&json, &sig, &ring(&s), ISSUED + DAY).unwrap();
        assert_eq!(*v, catalog());
        assert_eq!(v.signed_by(), &[s.id()]);
        // A clock a little behind the signer's is tolerated.
        verify(&json, &sig, &ring(&s), ISSUED - 60).unwrap();
    }

    #[test]
    fn expired_and_not_yet_valid_point_at_the_clock() {
        let s = signer(1);
        let (json, sig) = sign(&catalog(), std::slice::from_ref(&s)).unwrap();
        let e = verify(&json, &sig, &ring(&s), ISSUED + 30 * DAY).unwrap_err();
        assert_eq!(e.code(), "catalog_expired");
        assert!(e.to_string().contains("NTP"), "{e}");
        assert!(e.to_string().contains("2024-01-31 00:00:00 UTC"), "{e}");
        let e = verify(&json, &sig, &ring(&s), ISSUED - DAY).unwrap_err();
        assert_eq!(e.code(), "catalog_not_yet_valid");
        assert!(e.to_string().contains("NTP"), "{e}");
    }

    #[test]
    fn signature_failures_keep_their_codes() {
        let s = signer(1);
        let (json, sig) = sign(&catalog(), std::slice::from_ref(&s)).unwrap();
        let now = ISSUED + DAY;
        // Signed by a key the reader does not hold.
        let e = verify(&json, &sig, &ring(&signer(2)), now).unwrap_err();
        assert_eq!(e.code(), "unknown_key");
        // One byte changed after signing: a later expiry, as a replay would want.
        let tampered = String::from_utf8(json.clone()).unwrap().replace(
            &(ISSUED + 30 * DAY).to_string(),
            &(ISSUED + 90 * DAY).to_string(),
        );
        let e = verify(tampered.as_bytes(), &sig, &ring(&s), now).unwrap_err();
        assert_eq!(e.code(), "bad_signature");
        assert!(e.to_string().contains("update catalog"), "{e}");
        // A signature that is not one.
        let mut bad: serde_json::Value = serde_json::from_slice(&sig).unwrap();
        bad["signatures"][0]["signature"] = "AAAA".into();
        let bad = serde_json::to_vec(&bad).unwrap();
        assert_eq!(
            verify(&json, &bad, &ring(&s), now).unwrap_err().code(),
            "bad_signature"
        );
        let e = verify(&json, b"{}", &ring(&s), now).unwrap_err();
        assert_eq!(e.code(), "malformed");
        assert!(e.to_string().contains("catalog.sig"), "{e}");
        let e = verify(&json, br#"{"signatures":[]}"#, &ring(&s), now).unwrap_err();
        assert_eq!(e.code(), "unsigned");
        let big = vec![b' '; MAX_CATALOG_BYTES as usize + 1];
        assert_eq!(
            verify(&big, &sig, &ring(&s), now).unwrap_err().code(),
            "too_large"
        );
    }

    #[test]
    fn rules_are_enforced() {
        type Change = Box<dyn Fn(&mut Catalog)>;
        let cases: Vec<(&str, Change)> = vec![
            (
                "dup id",
                Box::new(|c| c.packages[1].id = "base-1.0.1".into()),
            ),
            ("bad id", Box::new(|c| c.packages[0].id = "Base".into())),
            ("base name", Box::new(|c| c.packages[0].name = "x".into())),
            (
                "site named base",
                Box::new(|c| c.packages[1].name = "base".into()),
            ),
            (
                "site floor",
                Box::new(|c| c.packages[1].floor = Some(Version::new(1, 0, 0))),
            ),
            ("no profile", Box::new(|c| c.packages[0].profiles.clear())),
            ("hash", Box::new(|c| c.packages[0].sha256 = "AB".repeat(32))),
            (
                "absolute url",
                Box::new(|c| c.packages[0].url = "/x.pkg".into()),
            ),
            (
                "parent url",
                Box::new(|c| c.packages[0].url = "../x.pkg".into()),
            ),
            (
                "other server",
                Box::new(|c| c.packages[0].url = "https://evil/x.pkg".into()),
            ),
            ("dates", Box::new(|c| c.expires = c.issued)),
        ];
        for (what, change) in cases {
            let mut c = catalog();
            change(&mut c);
            assert_eq!(
                c.validate().unwrap_err().code(),
                "invalid_catalog",
                "{what}"
            );
            assert!(sign(&c, &[signer(1)]).is_err(), "{what} was signed");
        }
        let mut c = catalog();
        c.packages[0].url = "stable/base+vm-1.0.1.pkg".into();
        c.validate().unwrap();
        let mut v: serde_json::Value = serde_json::from_slice(&catalog().to_json()).unwrap();
        v["format"] = 2.into();
        let e = Catalog::from_json(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert_eq!(e.code(), "unsupported_format");
        v["format"] = 1.into();
        v["mirror"] = "x".into();
        let e = Catalog::from_json(&serde_json::to_vec(&v).unwrap()).unwrap_err();
        assert_eq!(e.code(), "invalid_catalog");
    }
}

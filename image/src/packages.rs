//! Update packages on the builder's side (docs/packages.md): the `image package`
//! commands, and the signing keys and trusted public keys of `build` and `assemble`,
//! which write `DIR/update.pkg` and install the trusted keys into the slot.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use package::{Keyring, Manifest, Metadata, PublicKey, Requirement, Signer, Version};
use units::utc;

use crate::{workspace, Profile};

/// The development key pair, relative to the workspace. Never for release builds.
const DEV_KEY: &str = "keys/dev/dev.key";
const DEV_PUB: &str = "keys/dev/dev.pub";

#[derive(Subcommand)]
pub(crate) enum Cmd {
    /// Build a base package from a slot image (the slot.sqfs of a build).
    Base(BaseArgs),
    /// Build a site package from a directory.
    Site(SiteArgs),
    /// Print a package's manifest and the key ids of its signatures, verifying nothing.
    Inspect {
        file: PathBuf,
        /// Print manifest.json as it is in the package.
        #[arg(long)]
        json: bool,
    },
    /// Verify a package: its signatures against the given public keys, then every
    /// payload's size and sha256.
    Verify {
        file: PathBuf,
        /// A public key file, or a directory of *.pub files (repeatable).
        #[arg(long = "pub", value_name = "FILE|DIR", required = true)]
        keys: Vec<PathBuf>,
    },
    /// Make a signing key pair: PREFIX.key (secret, mode 0600) and PREFIX.pub.
    Keygen {
        #[arg(long, value_name = "PREFIX")]
        out: PathBuf,
    },
}

#[derive(clap::Args)]
pub(crate) struct BaseArgs {
    /// The slot image (LZO squashfs).
    #[arg(long)]
    slot: PathBuf,
    #[command(flatten)]
    common: CommonArgs,
    /// Anti-rollback floor: once installed, no base package below this version is accepted.
    #[arg(long, value_name = "X.Y.Z")]
    floor: Option<Version>,
}

#[derive(clap::Args)]
pub(crate) struct SiteArgs {
    /// The site directory (regular files and directories only).
    #[arg(long)]
    dir: PathBuf,
    /// The site package's name (a-z 0-9 . _ -).
    #[arg(long)]
    name: String,
    #[command(flatten)]
    common: CommonArgs,
}

#[derive(clap::Args)]
struct CommonArgs {
    #[arg(long, value_name = "X.Y.Z")]
    version: Version,
    /// Appliance profile that may install the package (repeatable).
    #[arg(long = "profile", value_enum, required = true)]
    profiles: Vec<Profile>,
    /// A package that must be installed first, e.g. base:1.0.1 (repeatable).
    #[arg(long = "requires", value_name = "NAME:MIN_VERSION", value_parser = parse_requirement)]
    requires: Vec<Requirement>,
    /// Secret key file to sign with (repeatable: sign with old and new key to rotate).
    #[arg(long = "key", value_name = "FILE", required = true)]
    keys: Vec<PathBuf>,
    #[arg(long)]
    out: PathBuf,
}

fn parse_requirement(s: &str) -> Result<Requirement, String> {
    let (name, min) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?} is not NAME:MIN_VERSION"))?;
    package::check_name("package name", name).map_err(|e| e.to_string())?;
    Ok(Requirement {
        name: name.into(),
        min_version: min
            .parse()
            .map_err(|e: package::VersionError| e.to_string())?,
    })
}

/// For clap: a `--version` that a package can carry.
pub(crate) fn parse_version(s: &str) -> Result<String, String> {
    s.parse::<Version>().map_err(|e| e.to_string())?;
    Ok(s.into())
}

pub(crate) fn run(cmd: &Cmd) -> Result<()> {
    match cmd {
        Cmd::Base(a) => {
            let signers = load_signers(&a.common.keys)?;
            let meta = metadata(&a.common, a.floor, created()?);
            let m = package::build_base(&a.slot, &meta, &a.common.out, &signers)?;
            report_built(&a.common.out, &m, &signers);
        }
        Cmd::Site(a) => {
            let signers = load_signers(&a.common.keys)?;
            let meta = metadata(&a.common, None, created()?);
            let m = package::build_site(&a.dir, &a.name, &meta, &a.common.out, &signers)?;
            report_built(&a.common.out, &m, &signers);
        }
        Cmd::Inspect { file, json } => inspect(file, *json)?,
        Cmd::Verify { file, keys } => verify(file, keys)?,
        Cmd::Keygen { out } => {
            let signer = Signer::generate()?;
            let (secret, public) = signer.write_pair(out)?;
            println!(
                "image: key {}: secret {} (mode 0600, keep it offline), public {}",
                signer.id(),
                secret.display(),
                public.display()
            );
        }
    }
    Ok(())
}

fn metadata(c: &CommonArgs, floor: Option<Version>, created: u64) -> Metadata {
    Metadata {
        version: c.version,
        profiles: c.profiles.iter().map(|p| p.name().to_string()).collect(),
        requires: c.requires.clone(),
        floor,
        created,
    }
}

/// `SOURCE_DATE_EPOCH` when set (reproducible packages), else now.
fn created() -> Result<u64> {
    match std::env::var("SOURCE_DATE_EPOCH") {
        Ok(v) => v
            .trim()
            .parse()
            .with_context(|| format!("SOURCE_DATE_EPOCH={v:?} is not a number")),
        Err(_) => Ok(units::now()),
    }
}

fn load_signers(paths: &[PathBuf]) -> Result<Vec<Signer>> {
    let signers = paths
        .iter()
        .map(|p| Signer::load(p))
        .collect::<Result<Vec<_>, _>>()?;
    if signers
        .iter()
        .any(|s| s.id() == package::development_key_id())
    {
        eprintln!("image: note: signing with the DEVELOPMENT key ({DEV_KEY}); not for release");
    }
    Ok(signers)
}

fn report_built(out: &Path, m: &Manifest, signers: &[Signer]) {
    let p = &m.payloads[0];
    let ids: Vec<String> = signers.iter().map(|s| s.id().to_string()).collect();
    println!(
        "image: {} {} {} for {} -> {}: {} {:.1} MiB, sha256 {}…, signed by {}",
        m.kind.name(),
        m.name,
        m.version,
        m.profiles.join(", "),
        out.display(),
        p.name,
        p.size as f64 / 1048576.0,
        &p.sha256[..16],
        ids.join(", ")
    );
}

fn inspect(file: &Path, json: bool) -> Result<()> {
    let (m, ids) = package::inspect(file).map_err(|e| coded(file, &e))?;
    if json {
        print!("{}", String::from_utf8_lossy(&m.to_json()));
        return Ok(());
    }
    let none = || "none".to_string();
    let requires: Vec<String> = m
        .requires
        .iter()
        .map(|r| format!("{} >= {}", r.name, r.min_version))
        .collect();
    println!(
        "{}: {} package {} {} (format {})",
        file.display(),
        m.kind.name(),
        m.name,
        m.version,
        m.format
    );
    println!("  profiles:  {}", m.profiles.join(", "));
    println!(
        "  requires:  {}",
        if requires.is_empty() {
            none()
        } else {
            requires.join(", ")
        }
    );
    println!(
        "  floor:     {}",
        m.floor.map_or_else(none, |f| f.to_string())
    );
    println!("  created:   {} ({})", utc(m.created), m.created);
    for p in &m.payloads {
        println!(
            "  payload:   {} {} bytes, compression {}, installed {} bytes, sha256 {}",
            p.name,
            p.size,
            p.compression.name(),
            p.installed_size,
            p.sha256
        );
    }
    let ids: Vec<String> = ids.iter().map(ToString::to_string).collect();
    println!(
        "  signed by: {} (not verified: use `image package verify`)",
        ids.join(", ")
    );
    Ok(())
}

fn verify(file: &Path, keys: &[PathBuf]) -> Result<()> {
    let mut ring = Keyring::new();
    for k in keys {
        if k.is_dir() {
            for key in Keyring::from_dir(k)?.iter() {
                ring.add(key.clone());
            }
        } else {
            ring.add(PublicKey::load(k)?);
        }
    }
    let m = package::verify_file(file, &ring).map_err(|e| coded(file, &e))?;
    let ids: Vec<String> = m.signed_by().iter().map(ToString::to_string).collect();
    println!(
        "image: {}: valid {} package {} {} for {}, signed by {}",
        file.display(),
        m.kind.name(),
        m.name,
        m.version,
        m.profiles.join(", "),
        ids.join(", ")
    );
    Ok(())
}

fn coded(file: &Path, e: &package::Error) -> anyhow::Error {
    anyhow!("{}: {e} [{}]", file.display(), e.code())
}

/// `--key` and `--trust` of `build` and `assemble`.
#[derive(clap::Args)]
pub(crate) struct SigningArgs {
    /// Secret key that signs DIR/update.pkg (repeatable; default: the development key
    /// keys/dev/dev.key).
    #[arg(long = "key", value_name = "FILE")]
    keys: Vec<PathBuf>,
    /// Public key the slot trusts for updates, installed as /etc/appliance/keys/NAME.pub
    /// (repeatable; default: the development key keys/dev/dev.pub).
    #[arg(long = "trust", value_name = "FILE")]
    trust: Vec<PathBuf>,
    /// A release: --key, --trust and --grub-password-file are required, and the published
    /// development key and GRUB password are refused (an appliance that trusts the key
    /// accepts packages from anybody).
    #[arg(long)]
    release: bool,
    /// The password of GRUB's editor and command line (user `vendor`), on the first line of
    /// FILE; only its PBKDF2 hash goes into the image (default: the development password
    /// keys/dev/grub-password).
    #[arg(long, value_name = "FILE")]
    grub_password_file: Option<PathBuf>,
}

impl SigningArgs {
    /// A release signs with and trusts only keys given, none of them the development key.
    fn check_release(&self) -> Result<()> {
        let Some(grub) = &self.grub_password_file else {
            bail!(
                "a release build needs --grub-password-file (the password of GRUB's editor \
                 and command line): the development password is never the default of a release"
            );
        };
        let dev_password =
            crate::grub_password::read(&workspace().join(crate::grub_password::DEV_PASSWORD_FILE))?;
        if crate::grub_password::read(grub)? == dev_password {
            bail!(
                "--grub-password-file {}: the published development GRUB password; a release \
                 build refuses it",
                grub.display()
            );
        }
        if self.keys.is_empty() || self.trust.is_empty() {
            bail!(
                "a release build needs --key (the release signing key) and --trust (the \
                 public keys the appliance accepts updates from): the development key is \
                 never the default of a release"
            );
        }
        let dev = package::development_key_id();
        for path in &self.keys {
            if Signer::load(path)?.id() == dev {
                bail!(
                    "--key {}: the published development key; a release build refuses it",
                    path.display()
                );
            }
        }
        for path in &self.trust {
            if PublicKey::load(path)?.id() == dev {
                bail!(
                    "--trust {}: the published development key; an appliance trusting it \
                     would accept packages signed by anybody; a release build refuses it",
                    path.display()
                );
            }
        }
        Ok(())
    }
}

/// The loaded keys of a build.
pub(crate) struct Signing {
    pub signers: Vec<Signer>,
    /// File name in the slot's keys directory, and the file's bytes.
    pub trusted: Vec<(String, Vec<u8>)>,
    /// What the build should say about its keys.
    pub notes: Vec<String>,
    /// `grub.pbkdf2.sha512.…` of the GRUB password ([`crate::grub_password`]).
    pub grub_password_hash: String,
}

impl SigningArgs {
    /// Loads every key before anything is built, so a bad path fails at once.
    pub(crate) fn load(&self) -> Result<Signing> {
        if self.release {
            self.check_release()?;
        }
        let ws = workspace();
        let mut notes = Vec::new();
        let keys = if self.keys.is_empty() {
            notes.push(format!(
                "update.pkg is signed with the DEVELOPMENT key {DEV_KEY} (pass --key for a release)"
            ));
            vec![ws.join(DEV_KEY)]
        } else {
            self.keys.clone()
        };
        let trust = if self.trust.is_empty() {
            notes.push(format!(
                "the slot trusts the DEVELOPMENT key {DEV_PUB} (pass --trust for a release)"
            ));
            vec![ws.join(DEV_PUB)]
        } else {
            self.trust.clone()
        };
        let signers = keys
            .iter()
            .map(|p| Signer::load(p))
            .collect::<Result<Vec<_>, _>>()?;
        let mut trusted: Vec<(String, Vec<u8>)> = Vec::new();
        let mut trusted_ids = Vec::new();
        for path in &trust {
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .filter(|n| n.ends_with(".pub"))
                .ok_or_else(|| anyhow!("--trust {}: not a *.pub file", path.display()))?;
            let key = PublicKey::load(path)?;
            if trusted.iter().any(|(n, _)| n == name) {
                bail!("--trust: two keys named {name}");
            }
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            trusted.push((name.to_string(), bytes));
            trusted_ids.push(key.id());
        }
        if !signers.iter().any(|s| trusted_ids.contains(&s.id())) {
            notes.push(
                "no signing key is among the trusted keys: this slot will not accept a package signed like its own update.pkg".into(),
            );
        }
        let grub_file = match &self.grub_password_file {
            Some(file) => file.clone(),
            None => {
                notes.push(format!(
                    "GRUB's editor and command line take the DEVELOPMENT password of {} (pass --grub-password-file for a release)",
                    crate::grub_password::DEV_PASSWORD_FILE
                ));
                ws.join(crate::grub_password::DEV_PASSWORD_FILE)
            }
        };
        let grub_password_hash =
            crate::grub_password::hash(&crate::grub_password::read(&grub_file)?)?;
        Ok(Signing {
            signers,
            trusted,
            notes,
            grub_password_hash,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utc_dates() {
        assert_eq!(utc(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(utc(1_704_067_200), "2024-01-01 00:00:00 UTC");
        assert_eq!(utc(951_782_400 + 3661), "2000-02-29 01:01:01 UTC");
    }

    #[test]
    fn requirements() {
        let r = parse_requirement("base:1.0.1").unwrap();
        assert_eq!(
            (r.name.as_str(), r.min_version),
            ("base", Version::new(1, 0, 1))
        );
        assert!(parse_requirement("base").is_err());
        assert!(parse_requirement("Base:1.0.0").is_err());
        assert!(parse_requirement("base:1.0").is_err());
    }

    #[test]
    fn a_release_build_refuses_the_development_key() {
        let ws = workspace();
        let dir = std::env::temp_dir().join(format!("image-release-keys-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let (key, public) = Signer::generate()
            .unwrap()
            .write_pair(&dir.join("release"))
            .unwrap();
        let grub = dir.join("grub-password");
        std::fs::write(&grub, "a vendor's own GRUB password\n").unwrap();
        let args = |keys: Vec<PathBuf>, trust: Vec<PathBuf>| SigningArgs {
            keys,
            trust,
            release: true,
            grub_password_file: Some(grub.clone()),
        };
        let error = |a: SigningArgs| a.load().err().expect("refused").to_string();
        let no_grub = SigningArgs {
            grub_password_file: None,
            ..args(vec![key.clone()], vec![public.clone()])
        };
        assert!(error(no_grub).contains("needs --grub-password-file"));
        let dev_grub = SigningArgs {
            grub_password_file: Some(ws.join(crate::grub_password::DEV_PASSWORD_FILE)),
            ..args(vec![key.clone()], vec![public.clone()])
        };
        assert!(error(dev_grub).contains("development GRUB password"));
        assert!(error(args(vec![], vec![])).contains("needs --key"));
        assert!(error(args(vec![key.clone()], vec![])).contains("needs --key"));
        assert!(error(args(vec![ws.join(DEV_KEY)], vec![public.clone()]))
            .contains("the published development key"));
        assert!(error(args(
            vec![key.clone()],
            vec![public.clone(), ws.join(DEV_PUB)]
        ))
        .contains("would accept packages signed by anybody"));
        let signing = args(vec![key.clone()], vec![public.clone()])
            .load()
            .unwrap();
        assert_eq!(signing.trusted.len(), 1);
        assert!(signing.notes.is_empty(), "{:?}", signing.notes);
        // Not a release: the development default, said in the notes.
        assert!(signing
            .grub_password_hash
            .starts_with("grub.pbkdf2.sha512.10000."));
        let dev = SigningArgs {
            keys: vec![],
            trust: vec![],
            release: false,
            grub_password_file: None,
        }
        .load()
        .unwrap();
        assert_eq!(dev.notes.len(), 3, "{:?}", dev.notes);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn the_development_keys_are_a_pair() {
        let ws = workspace();
        let signer = Signer::load(&ws.join(DEV_KEY)).unwrap();
        let public = PublicKey::load(&ws.join(DEV_PUB)).unwrap();
        assert_eq!(signer.public(), &public);
    }
}

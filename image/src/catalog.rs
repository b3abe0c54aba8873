//! The vendor's side of "check for updates" and of the download key (docs/packages.md):
//! `image catalog` signs the list of the packages in a directory, `image download-key
//! verify` reads a key an appliance made and says what that appliance may install.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, bail, Context, Result};
use clap::Subcommand;
use package::availability::{self, Assessed};
use package::catalog::{self, Catalog};
use package::download_key;
use package::Signer;
use units::utc;

#[derive(clap::Args)]
pub(crate) struct CatalogArgs {
    /// The directory of *.pkg files; catalog.json and catalog.sig are written into it.
    dir: PathBuf,
    /// Secret key file to sign with (repeatable, to rotate keys).
    #[arg(long = "key", value_name = "FILE", required = true)]
    keys: Vec<PathBuf>,
    /// Days until appliances stop accepting the catalog; sign a new one before then.
    #[arg(long, value_name = "N", default_value_t = 30)]
    expires_days: u64,
}

#[derive(Subcommand)]
pub(crate) enum DownloadKeyCmd {
    /// Check a download key's signature and dates; with --catalog, list what that
    /// appliance may install and why the rest is blocked.
    Verify {
        /// The armored key, as the appliance shows it (other text around it is ignored).
        file: PathBuf,
        /// A directory holding catalog.json (as `image catalog` writes it).
        #[arg(long, value_name = "DIR")]
        catalog: Option<PathBuf>,
    },
}

pub(crate) fn run_catalog(a: &CatalogArgs) -> Result<()> {
    if a.expires_days == 0 || a.expires_days > 366 {
        bail!("--expires-days must be between 1 and 366");
    }
    let signers = a
        .keys
        .iter()
        .map(|p| Signer::load(p))
        .collect::<Result<Vec<_>, _>>()?;
    let issued = issued()?;
    let built = catalog::build_dir(&a.dir, &signers, issued, issued + a.expires_days * 86_400)
        .map_err(|e| anyhow!("{e} [{}]", e.code()))?;
    for e in &built.catalog.packages {
        println!(
            "  {:<32} {} {} {} for {}, {} bytes",
            e.id,
            e.kind.name(),
            e.name,
            e.version,
            e.profiles.join(", "),
            e.size
        );
    }
    let ids: Vec<String> = built
        .signed_by
        .iter()
        .map(std::string::ToString::to_string)
        .collect();
    println!(
        "image: {} ({} packages), signed by {} in {}; expires {}",
        built.json.display(),
        built.catalog.packages.len(),
        ids.join(", "),
        built.sig.display(),
        utc(built.catalog.expires)
    );
    Ok(())
}

/// `SOURCE_DATE_EPOCH` is for reproducible packages, not for a catalog that expires:
/// the catalog is always dated now.
fn issued() -> Result<u64> {
    let now = units::now();
    if now == 0 {
        bail!("the clock of this machine is before 1970: set it before signing a catalog");
    }
    Ok(now)
}

pub(crate) fn run_download_key(cmd: &DownloadKeyCmd) -> Result<()> {
    match cmd {
        DownloadKeyCmd::Verify { file, catalog } => {
            let text = std::fs::read_to_string(file)
                .with_context(|| format!("cannot read {}", file.display()))?;
            let catalog = catalog.as_deref().map(read_catalog).transpose()?;
            let report = verify(&text, catalog.as_ref(), units::now())?;
            print!("{report}");
            Ok(())
        }
    }
}

fn read_catalog(dir: &Path) -> Result<Catalog> {
    let path = dir.join(catalog::CATALOG_FILE);
    let bytes = std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
    Catalog::from_json(&bytes).map_err(|e| anyhow!("{}: {e} [{}]", path.display(), e.code()))
}

/// The report `image download-key verify` prints: who the appliance is, what it runs,
/// and, given a catalog, each package with `installable` or `blocked: <reason>`.
pub(crate) fn verify(text: &str, catalog: Option<&Catalog>, now: u64) -> Result<String> {
    let key = download_key::verify(text, now).map_err(|e| anyhow!("{e} [{}]", e.code()))?;
    let b = &key.body;
    let mut out = format!(
        "appliance {} ({}), key {}\nvalid until {} ({} minutes left)\nbase {}",
        b.appliance_id,
        b.installed.profile,
        key.key_id,
        utc(b.expires),
        (b.expires - now) / 60,
        b.installed.base
    );
    if let Some(f) = b.installed.floor {
        out += &format!(" (floor {f})");
    }
    if let Some(p) = b.installed.pending_base {
        out += &format!(", {p} starts at the next restart");
    }
    out.push('\n');
    for s in &b.installed.sites {
        out += &format!("site {} {}\n", s.name, s.version);
    }
    if let Some(catalog) = catalog {
        for Assessed { entry, blocked } in availability::assess_all(catalog, &b.installed) {
            match blocked {
                None => out += &format!("installable  {} ({})\n", entry.id, entry.url),
                Some(why) => out += &format!("blocked      {}: {why} [{}]\n", entry.id, why.code()),
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use package::availability::Installed;
    use package::catalog::Entry;
    use package::Kind;

    fn entry(id: &str, version: &str, requires: &[(&str, &str)]) -> Entry {
        Entry {
            id: id.into(),
            kind: Kind::Base,
            name: "base".into(),
            version: version.parse().unwrap(),
            profiles: vec!["vm".into()],
            requires: requires
                .iter()
                .map(|(n, m)| package::Requirement {
                    name: n.to_string(),
                    min_version: m.parse().unwrap(),
                })
                .collect(),
            floor: None,
            size: 1,
            sha256: "00".repeat(32),
            url: format!("{id}.pkg"),
        }
    }

    #[test]
    fn the_report_lists_what_the_appliance_may_install() {
        let now = 1_704_067_200;
        let signer = Signer::from_seed(&[5; 32]);
        let installed = Installed {
            profile: "vm".into(),
            base: "1.0.0".parse().unwrap(),
            floor: None,
            pending_base: None,
            sites: vec![],
        };
        let key =
            download_key::issue(&signer, "0123456789abcdef0123456789abcdef", installed, now).text;
        let catalog = Catalog {
            format: 1,
            issued: now,
            expires: now + 86_400,
            packages: vec![
                entry("base-1.0.2-vm", "1.0.2", &[("base", "1.0.1")]),
                entry("base-1.0.1-vm", "1.0.1", &[]),
            ],
        };
        let report = verify(&key, Some(&catalog), now + 60).unwrap();
        assert!(
            report.contains("appliance 0123456789abcdef0123456789abcdef (vm)"),
            "{report}"
        );
        assert!(report.contains("2399 minutes left"), "{report}");
        let lines: Vec<&str> = report.lines().skip(3).collect();
        assert_eq!(lines[0], "installable  base-1.0.1-vm (base-1.0.1-vm.pkg)");
        assert!(lines[1].starts_with("blocked      base-1.0.2-vm: base 1.0.2 needs base 1.0.1"));
        let expired = verify(&key, None, now + 2400 * 60).unwrap_err().to_string();
        assert!(
            expired.contains("NTP") && expired.contains("download_key_expired"),
            "{expired}"
        );
    }
}

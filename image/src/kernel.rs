//! The pinned Debian kernel: reading and moving `image/kernel.pin`, fetching the package
//! into the cache, checking its sha256 and unpacking it once.
//!
//! The cache holds `<package>_<version>_amd64.deb` and the unpacked tree
//! `kernel-<version>/` (with a full `depmod` already run and a `.complete` marker), so a
//! second build neither downloads nor unpacks anything.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{anyhow, bail, Context, Result};
use sha2::{Digest, Sha256};

use crate::tools;

/// The content of `kernel.pin`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pin {
    pub package: String,
    pub version: String,
    pub sha256: String,
}

impl Pin {
    pub(crate) fn parse(text: &str) -> Result<Self> {
        let get = |key: &str| -> Result<String> {
            text.lines()
                .filter_map(|l| l.split_once('='))
                .find(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim().to_string())
                .ok_or_else(|| anyhow!("kernel.pin has no `{key}=` line"))
        };
        let pin = Pin {
            package: get("package")?,
            version: get("version")?,
            sha256: get("sha256")?,
        };
        if pin.sha256.len() != 64 || !pin.sha256.chars().all(|c| c.is_ascii_hexdigit()) {
            bail!("kernel.pin: sha256 {:?} is not 64 hex digits", pin.sha256);
        }
        Ok(pin)
    }

    pub(crate) fn to_text(&self) -> String {
        format!(
            "# The Debian kernel package every image is built with.\n\
# Move the pin with: cargo run --release -p image -- pin-kernel   (see image/README.md)\n\
package={}\nversion={}\nsha256={}\n",
            self.package, self.version, self.sha256
        )
    }
}

/// An unpacked kernel package.
#[derive(Debug)]
pub(crate) struct Kernel {
    /// Root of the unpacked package (holds `boot/` and `lib/modules/`).
    pub tree: PathBuf,
    /// `uname -r` of the kernel, e.g. `6.1.0-56-amd64`.
    pub release: String,
}

impl Kernel {
    pub(crate) fn vmlinuz(&self) -> PathBuf {
        self.tree.join(format!("boot/vmlinuz-{}", self.release))
    }
    pub(crate) fn modules_dir(&self) -> PathBuf {
        self.tree.join("lib/modules").join(&self.release)
    }
}

/// Fetches (if needed), verifies and unpacks the pinned kernel under `cache`.
pub(crate) fn prepare(pin: &Pin, cache: &Path) -> Result<Kernel> {
    fs::create_dir_all(cache).with_context(|| format!("cannot create {}", cache.display()))?;
    let tree = cache.join(format!("kernel-{}", pin.version));
    let marker = tree.join(".complete");
    if !marker.exists() {
        let deb = fetch(pin, cache)?;
        if tree.exists() {
            fs::remove_dir_all(&tree)?;
        }
        tools::run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&tree))?;
        let release = release_of(&tree)?;
        // modules.dep of the full tree: the closure of the profile's list is read from it.
        tools::run(Command::new("depmod").arg("-b").arg(&tree).arg(&release))?;
        fs::write(&marker, &pin.sha256)?;
    }
    let release = release_of(&tree)?;
    Ok(Kernel { tree, release })
}

fn release_of(tree: &Path) -> Result<String> {
    let dir = tree.join("lib/modules");
    let mut names: Vec<String> = fs::read_dir(&dir)
        .with_context(|| format!("kernel package has no {}", dir.display()))?
        .filter_map(std::result::Result::ok)
        .map(|e| e.file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    match names.as_slice() {
        [one] => Ok(one.clone()),
        _ => bail!(
            "expected one kernel release in {}, found {names:?}",
            dir.display()
        ),
    }
}

/// The cached `.deb`, downloaded with `apt-get download` when absent or wrong.
fn fetch(pin: &Pin, cache: &Path) -> Result<PathBuf> {
    let deb = cache.join(format!(
        "{}_{}_amd64.deb",
        pin.package,
        pin.version.replace(':', "%3a")
    ));
    if deb.exists() && sha256_file(&deb)? == pin.sha256 {
        return Ok(deb);
    }
    let _ = fs::remove_file(&deb);
    let spec = format!("{}={}", pin.package, pin.version);
    eprintln!("image: downloading {spec}");
    let out = Command::new("apt-get")
        .args(["download", &spec])
        .current_dir(cache)
        .output()
        .context("cannot run apt-get")?;
    if !out.status.success() || !deb.exists() {
        bail!(
            "cannot download the pinned kernel package {spec}:\n{}\n\
If `apt-get update` does not help, Debian no longer carries this version: move the pin with\n  \
cargo run --release -p image -- pin-kernel",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let got = sha256_file(&deb)?;
    if got != pin.sha256 {
        bail!(
            "{} has sha256 {got}, but kernel.pin expects {}: refusing to build with it",
            deb.display(),
            pin.sha256
        );
    }
    Ok(deb)
}

/// The release (`uname -r`) of an x86 kernel image, read from its setup header: the
/// `kernel_version` field (offset 0x20e) points at "RELEASE (builder) #1 SMP ..." 0x200
/// bytes further on. Buildroot's kernel has no package name or module tree to ask.
pub(crate) fn bzimage_release(image: &[u8]) -> Result<String> {
    if image.get(0x202..0x206) != Some(b"HdrS") {
        bail!("not an x86 bzImage (no HdrS setup header)");
    }
    let pointer = u16::from_le_bytes([image[0x20e], image[0x20f]]) as usize;
    let text = image
        .get(pointer + 0x200..)
        .and_then(|t| t.split(|b| *b == 0).next())
        .map(String::from_utf8_lossy)
        .unwrap_or_default();
    match text.split_whitespace().next() {
        Some(release) if pointer != 0 => Ok(release.to_string()),
        _ => bail!("the bzImage names no kernel version"),
    }
}

pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    let mut f = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut h = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// The pin Debian's `linux-image-amd64` currently points at, read from apt's lists.
pub(crate) fn current_debian_pin() -> Result<Pin> {
    let meta = tools::run(Command::new("apt-cache").args([
        "show",
        "--no-all-versions",
        "linux-image-amd64",
    ]))?;
    let meta = String::from_utf8_lossy(&meta.stdout).to_string();
    let (package, version) = parse_meta_dependency(&meta).ok_or_else(|| {
        anyhow!("linux-image-amd64 has no `Depends: linux-image-X (= V)` line; run apt-get update")
    })?;
    let show =
        tools::run(Command::new("apt-cache").args(["show", &format!("{package}={version}")]))?;
    let show = String::from_utf8_lossy(&show.stdout).to_string();
    let sha256 = show
        .lines()
        .find_map(|l| l.strip_prefix("SHA256: "))
        .ok_or_else(|| anyhow!("apt-cache shows no SHA256 for {package}={version}"))?
        .trim()
        .to_string();
    Ok(Pin {
        package,
        version,
        sha256,
    })
}

/// `Depends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)` -> (package, version).
fn parse_meta_dependency(meta: &str) -> Option<(String, String)> {
    let deps = meta.lines().find_map(|l| l.strip_prefix("Depends: "))?;
    deps.split(',').map(str::trim).find_map(|d| {
        let (name, rest) = d.split_once(" (= ")?;
        let name = name.trim();
        (name.starts_with("linux-image-") && !name.ends_with("-unsigned"))
            .then(|| (name.to_string(), rest.trim_end_matches(')').to_string()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_round_trips_and_rejects_bad_hash() {
        let pin = Pin::parse(include_str!("../kernel.pin")).unwrap();
        assert_eq!(pin.package, "linux-image-6.1.0-56-amd64");
        assert_eq!(Pin::parse(&pin.to_text()).unwrap(), pin);
        let bad = pin.to_text().replace(&pin.sha256, "abc");
        assert!(Pin::parse(&bad).is_err());
        assert!(Pin::parse("package=x\n").is_err());
    }

    #[test]
    fn bzimage_release_is_read_from_the_setup_header() {
        let mut img = vec![0u8; 0x400];
        img[0x202..0x206].copy_from_slice(b"HdrS");
        img[0x20e..0x210].copy_from_slice(&0x100u16.to_le_bytes());
        img[0x300..0x31e].copy_from_slice(b"6.1.159 (br@host) #1 SMP\0.....");
        assert_eq!(bzimage_release(&img).unwrap(), "6.1.159");
        img[0x202] = b'X';
        assert!(bzimage_release(&img).is_err());
        assert!(bzimage_release(b"short").is_err());
    }

    #[test]
    fn metapackage_dependency_is_found() {
        let meta = "Package: linux-image-amd64\nVersion: 6.1.192-2\nDepends: linux-image-6.1.0-56-amd64 (= 6.1.192-2)\n";
        assert_eq!(
            parse_meta_dependency(meta),
            Some(("linux-image-6.1.0-56-amd64".into(), "6.1.192-2".into()))
        );
        assert_eq!(parse_meta_dependency("Depends: libc6\n"), None);
    }
}

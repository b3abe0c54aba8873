//! The programs in the image: our `init` and `appliance-daemon`, built static for musl,
//! and ntpd-rs's `ntp-daemon` (version pinned in `image/ntpd.pin`), built static for musl
//! once and cached under `out/cache/`.
//!
//! They are built by a nested `cargo build` of this workspace (same `CARGO_TARGET_DIR` as
//! the caller, so nothing is rebuilt twice) and carry no version: the version of an image
//! is the `/etc/appliance/release` file in its slot, which the programs read at run time.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Result};

use crate::tools;

pub(crate) const TARGET: &str = "x86_64-unknown-linux-musl";
/// The cargo profile of the shipped programs (Cargo.toml: size-optimized, LTO).
pub(crate) const PROFILE: &str = "appliance";

#[derive(Debug)]
pub(crate) struct Binaries {
    pub init: PathBuf,
    pub daemon: PathBuf,
    pub ntpd: PathBuf,
}

/// Builds both programs, or takes them from `prebuilt` (a directory holding `init` and
/// `appliance-daemon`, e.g. from another build system).
pub(crate) fn build(workspace: &Path, prebuilt: Option<&Path>) -> Result<Binaries> {
    let dir = match prebuilt {
        Some(dir) => dir.to_path_buf(),
        None => {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            tools::run_visible(
                Command::new(cargo)
                    .current_dir(workspace)
                    .args(["build", "--profile", PROFILE, "--target", TARGET])
                    .args(["-p", "init", "-p", "appliance-daemon"]),
            )?;
            target_dir(workspace).join(TARGET).join(PROFILE)
        }
    };
    let ntpd = match prebuilt {
        Some(dir) => dir.join("ntp-daemon"),
        None => ntp_daemon(workspace)?,
    };
    let bins = Binaries {
        init: dir.join("init"),
        daemon: dir.join("appliance-daemon"),
        ntpd,
    };
    for p in [&bins.init, &bins.daemon, &bins.ntpd] {
        if !p.is_file() {
            bail!("{} was not built", p.display());
        }
    }
    Ok(bins)
}

/// `ntp-daemon` of the pinned ntpd-rs, from the cache or built into it with
/// `cargo install --locked` (pure-Rust crypto, size-optimized, stripped).
fn ntp_daemon(workspace: &Path) -> Result<PathBuf> {
    let pin = std::fs::read_to_string(workspace.join("image/ntpd.pin"))?;
    let field = |key: &str| {
        pin.lines()
            .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
            .map(str::trim)
            .map(str::to_string)
    };
    let Some(version) = field("version") else {
        bail!("image/ntpd.pin has no version= line");
    };
    let features = field("features").unwrap_or_default();
    let root = workspace.join("out/cache").join(format!("ntpd-{version}"));
    let program = root.join("bin/ntp-daemon");
    if program.is_file() {
        return Ok(program);
    }
    eprintln!(
        "image: building ntp-daemon {version} (once; cached in {})",
        root.display()
    );
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut cmd = Command::new(cargo);
    cmd.current_dir(workspace)
        .env("CARGO_TARGET_DIR", target_dir(workspace).join("ntpd"))
        .args(["install", "ntpd", "--locked", "--version", &version])
        .args(["--no-default-features", "--target", TARGET, "--root"])
        .arg(&root)
        .args(["--config", "profile.release.opt-level=\"s\""])
        .args(["--config", "profile.release.lto=true"])
        .args(["--config", "profile.release.strip=true"]);
    if !features.is_empty() {
        cmd.args(["--features", &features]);
    }
    tools::run_visible(&mut cmd)?;
    if !program.is_file() {
        bail!("cargo install ntpd did not produce {}", program.display());
    }
    Ok(program)
}

fn target_dir(workspace: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if Path::new(&d).is_absolute() => d.into(),
        Some(d) => workspace.join(d),
        None => workspace.join("target"),
    }
}

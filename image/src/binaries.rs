//! Our own programs in the image: `init` and `appliance-daemon`, built static for musl.
//!
//! They are built by a nested `cargo build` of this workspace (same `CARGO_TARGET_DIR` as
//! the caller, so nothing is rebuilt twice) and carry no version: the version of an image
//! is the `/etc/appliance/release` file in its slot, which the programs read at run time.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Result};

use crate::tools;

pub const TARGET: &str = "x86_64-unknown-linux-musl";

#[derive(Debug)]
pub struct Binaries {
    pub init: PathBuf,
    pub daemon: PathBuf,
}

/// Builds both programs, or takes them from `prebuilt` (a directory holding `init` and
/// `appliance-daemon`, e.g. from another build system).
pub fn build(workspace: &Path, prebuilt: Option<&Path>) -> Result<Binaries> {
    let dir = match prebuilt {
        Some(dir) => dir.to_path_buf(),
        None => {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
            tools::run_visible(
                Command::new(cargo)
                    .current_dir(workspace)
                    .args(["build", "--release", "--target", TARGET])
                    .args(["-p", "init", "-p", "appliance-daemon"]),
            )?;
            target_dir(workspace).join(TARGET).join("release")
        }
    };
    let bins = Binaries {
        init: dir.join("init"),
        daemon: dir.join("appliance-daemon"),
    };
    for p in [&bins.init, &bins.daemon] {
        if !p.is_file() {
            bail!("{} was not built", p.display());
        }
    }
    Ok(bins)
}

fn target_dir(workspace: &Path) -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) if Path::new(&d).is_absolute() => d.into(),
        Some(d) => workspace.join(d),
        None => workspace.join("target"),
    }
}

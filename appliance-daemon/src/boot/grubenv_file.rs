//! Rewriting the grubenv file in place. GRUB reads the block through the FAT directory
//! entry made at build time, so the file must keep its clusters and size: open without
//! truncating, write the 1024 bytes at offset 0, fsync.

use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use grubenv::{BootState, Env, Slot};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Format {
        path: PathBuf,
        source: grubenv::Error,
    },
}

/// The new block for `slot` marked good, or None when it already is.
pub(super) fn updated_block(block: &[u8], slot: Slot) -> Result<Option<Vec<u8>>, grubenv::Error> {
    let mut state = BootState::from_env(Env::parse(block)?);
    if state.is_ok(slot) && !state.is_trying(slot) && state.env().get("TRY_RESET") != Some("1") {
        return Ok(None);
    }
    state.mark_successful_boot(slot);
    state.env().to_block().map(Some)
}

/// The A/B state in the grubenv file at `path`.
pub(super) fn read(path: &Path) -> Result<BootState, Error> {
    let block = std::fs::read(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    Env::parse(&block)
        .map(BootState::from_env)
        .map_err(|source| Error::Format {
            path: path.to_path_buf(),
            source,
        })
}

/// Rewrite the 1024 bytes of `path` in place (GRUB reads them on FAT) and fsync.
pub(super) fn write(path: &Path, state: &BootState) -> Result<(), Error> {
    let block = state.env().to_block().map_err(|source| Error::Format {
        path: path.to_path_buf(),
        source,
    })?;
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(io)?;
    file.write_all_at(&block, 0).map_err(io)?;
    file.sync_all().map_err(io)
}

/// Mark `slot` good in the grubenv file at `path`; true when the file was written.
pub(super) fn mark_successful_boot(path: &Path, slot: Slot) -> Result<bool, Error> {
    let io = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(io)?;
    let mut block = Vec::with_capacity(grubenv::BLOCK_SIZE);
    // Read one byte more than a block so an oversized file is reported, not truncated.
    (&mut file)
        .take(grubenv::BLOCK_SIZE as u64 + 1)
        .read_to_end(&mut block)
        .map_err(io)?;
    let format = |source| Error::Format {
        path: path.to_path_buf(),
        source,
    };
    let Some(new) = updated_block(&block, slot).map_err(format)? else {
        return Ok(false);
    };
    file.write_all_at(&new, 0).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdir::TestDir;

    fn block(text: &str) -> Vec<u8> {
        let mut b = format!("# GRUB Environment Block\n{text}").into_bytes();
        b.resize(grubenv::BLOCK_SIZE, b'#');
        b
    }

    #[test]
    fn a_slot_on_trial_is_marked_and_the_file_keeps_its_size() {
        let dir = TestDir::new("grubenv");
        let path = dir.path().join("grubenv");
        std::fs::write(
            &path,
            block("ORDER=B A\nA_OK=1\nA_TRY=0\nB_OK=1\nB_TRY=1\nEXTRA_CMDLINE=quiet\n"),
        )
        .unwrap();
        assert!(mark_successful_boot(&path, Slot::B).unwrap());
        let after = std::fs::read(&path).unwrap();
        assert_eq!(after.len(), grubenv::BLOCK_SIZE);
        let env = Env::parse(&after).unwrap();
        assert_eq!(env.get("B_TRY"), Some("0"));
        assert_eq!(env.get("B_OK"), Some("1"));
        assert_eq!(env.get("ORDER"), Some("B A"));
        assert_eq!(env.get("EXTRA_CMDLINE"), Some("quiet"));
        // Second time: already good, nothing written.
        assert!(!mark_successful_boot(&path, Slot::B).unwrap());
        assert_eq!(std::fs::read(&path).unwrap(), after);
    }

    #[test]
    fn a_damaged_file_is_reported_and_left_alone() {
        let dir = TestDir::new("grubenv-bad");
        let path = dir.path().join("grubenv");
        std::fs::write(&path, b"# GRUB Environment Block\nA_OK=1\n").unwrap();
        let err = mark_successful_boot(&path, Slot::A).unwrap_err();
        assert!(matches!(
            err,
            Error::Format {
                source: grubenv::Error::Size(_),
                ..
            }
        ));
        assert_eq!(
            std::fs::read(&path).unwrap(),
            b"# GRUB Environment Block\nA_OK=1\n"
        );
    }

    #[test]
    fn already_good_needs_no_write() {
        assert_eq!(
            updated_block(&block("A_OK=1\nA_TRY=0\n"), Slot::A),
            Ok(None)
        );
        assert!(updated_block(&block("A_OK=1\nA_TRY=1\n"), Slot::A)
            .unwrap()
            .is_some());
    }
}

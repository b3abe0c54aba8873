//! Finding the ESP by its GPT partition label in sysfs, and mounting it for a moment.

use nix::mount::{mount, umount, MsFlags};
use std::path::{Path, PathBuf};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot list {path}: {source}")]
    Sysfs {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "no partition labelled {0:?} was found in /sys/class/block (is the disk driver loaded?)"
    )]
    NotFound(String),
    #[error("cannot create the mount point {path}: {source}")]
    MountPoint {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot mount {device} (vfat) at {path}: {errno} (are the vfat, nls_cp437 and nls_ascii modules loaded?)")]
    Mount {
        device: PathBuf,
        path: PathBuf,
        errno: nix::errno::Errno,
    },
    #[error("cannot unmount {path}: {errno}")]
    Unmount {
        path: PathBuf,
        errno: nix::errno::Errno,
    },
}

/// The device node of the partition whose GPT label is `label`. With several (a second
/// disk carrying our image), the first by name is taken and the others logged.
pub(super) fn find(sys_class_block: &Path, label: &str) -> Result<PathBuf, Error> {
    let entries = std::fs::read_dir(sys_class_block).map_err(|source| Error::Sysfs {
        path: sys_class_block.to_path_buf(),
        source,
    })?;
    let mut found: Vec<String> = entries
        .flatten()
        .filter_map(|entry| std::fs::read_to_string(entry.path().join("uevent")).ok())
        .filter_map(|uevent| devname_if_labelled(&uevent, label))
        .collect();
    found.sort();
    if found.len() > 1 {
        tracing::warn!(candidates = ?found, "several partitions are labelled {label}; using the first");
    }
    found
        .first()
        .map(|name| Path::new("/dev").join(name))
        .ok_or_else(|| Error::NotFound(label.to_string()))
}

/// `DEVNAME` of a uevent file whose `PARTNAME` is `label`.
fn devname_if_labelled(uevent: &str, label: &str) -> Option<String> {
    let field = |key: &str| {
        uevent
            .lines()
            .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
    };
    (field("PARTNAME") == Some(label))
        .then(|| field("DEVNAME").map(str::to_string))
        .flatten()
}

/// A mounted ESP; unmounted by [`Mount::unmount`], or on drop as a last resort.
pub(super) struct Mount {
    path: PathBuf,
    mounted: bool,
}

impl Mount {
    /// Mount `device` at `path`, read-only unless `writable`: Linux marks a FAT volume
    /// dirty while it is mounted read-write, and a volume found dirty stays so for good
    /// (every later mount warns), so only a write mounts it read-write.
    pub(super) fn new(device: &Path, path: &Path, writable: bool) -> Result<Self, Error> {
        std::fs::create_dir_all(path).map_err(|source| Error::MountPoint {
            path: path.to_path_buf(),
            source,
        })?;
        // A daemon killed while the ESP was mounted leaves it mounted: start clean.
        if is_mount_point(path) {
            let _ = umount(path);
        }
        let mut flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
        if !writable {
            flags |= MsFlags::MS_RDONLY;
        }
        mount(Some(device), path, Some("vfat"), flags, None::<&str>).map_err(|errno| {
            Error::Mount {
                device: device.to_path_buf(),
                path: path.to_path_buf(),
                errno,
            }
        })?;
        Ok(Mount {
            path: path.to_path_buf(),
            mounted: true,
        })
    }

    pub(super) fn path(&self) -> &Path {
        &self.path
    }

    pub(super) fn unmount(mut self) -> Result<(), Error> {
        self.mounted = false;
        umount(&self.path).map_err(|errno| Error::Unmount {
            path: self.path.clone(),
            errno,
        })
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        if self.mounted {
            let _ = umount(&self.path);
        }
    }
}

fn is_mount_point(path: &Path) -> bool {
    let Ok(mounts) = std::fs::read_to_string("/proc/self/mounts") else {
        return false;
    };
    let target = path.to_string_lossy();
    mounts
        .lines()
        .any(|line| line.split(' ').nth(1) == Some(target.as_ref()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdir::TestDir;

    #[test]
    fn finds_the_partition_by_label() {
        let dir = TestDir::new("sysfs");
        for (name, label) in [
            ("sda", None),
            ("sda1", Some("bios")),
            ("sda2", Some("ESP")),
            ("sda3", Some("root-a")),
        ] {
            let d = dir.path().join(name);
            std::fs::create_dir(&d).unwrap();
            let mut uevent = format!("MAJOR=8\nMINOR=0\nDEVNAME={name}\nDEVTYPE=partition\n");
            if let Some(label) = label {
                uevent.push_str(&format!("PARTN=1\nPARTNAME={label}\n"));
            }
            std::fs::write(d.join("uevent"), uevent).unwrap();
        }
        assert_eq!(find(dir.path(), "ESP").unwrap(), PathBuf::from("/dev/sda2"));
        assert!(matches!(find(dir.path(), "data"), Err(Error::NotFound(_))));
    }

    #[test]
    fn label_must_match_exactly() {
        assert_eq!(
            devname_if_labelled("DEVNAME=vda2\nPARTNAME=ESP\n", "ESP"),
            Some("vda2".into())
        );
        assert_eq!(
            devname_if_labelled("DEVNAME=vda2\nPARTNAME=ESP2\n", "ESP"),
            None
        );
        assert_eq!(devname_if_labelled("DEVNAME=vda\n", "ESP"), None);
    }
}

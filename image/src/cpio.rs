//! A reproducible writer for the `newc` cpio format the kernel unpacks as initramfs.
//!
//! Entries are kept sorted by path, parents are added automatically, and every header
//! carries the same owner (root) and modification time, so the same inputs always give the
//! same bytes. Device nodes can be written without privileges: that is how `/dev/console`
//! exists before init mounts devtmpfs.

use std::collections::BTreeMap;

/// One archive member.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Entry {
    Dir { mode: u32 },
    File { mode: u32, data: Vec<u8> },
    CharDev { mode: u32, major: u32, minor: u32 },
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFCHR: u32 = 0o020000;

/// An initramfs being assembled in memory. Paths are relative (`init`, `lib/modules/...`).
#[derive(Debug, Default)]
pub(crate) struct Archive {
    entries: BTreeMap<String, Entry>,
}

impl Archive {
    pub(crate) fn new() -> Self {
        Self::default()
    }

    /// Adds `entry` at `path`, creating missing parent directories (mode 0755).
    /// A later insert at the same path replaces the earlier one.
    pub(crate) fn insert(&mut self, path: &str, entry: Entry) {
        let path = path.trim_matches('/');
        let mut parent = String::new();
        for comp in path
            .split('/')
            .rev()
            .skip(1)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
        {
            if !parent.is_empty() {
                parent.push('/');
            }
            parent.push_str(comp);
            self.entries
                .entry(parent.clone())
                .or_insert(Entry::Dir { mode: 0o755 });
        }
        self.entries.insert(path.to_string(), entry);
    }

    /// Serialises the archive with every mtime set to `mtime`.
    pub(crate) fn to_bytes(&self, mtime: u32) -> Vec<u8> {
        let mut out = Vec::new();
        for (ino, (path, entry)) in self.entries.iter().enumerate() {
            let (mode, data, rdev, nlink): (u32, &[u8], (u32, u32), u32) = match entry {
                Entry::Dir { mode } => (S_IFDIR | mode, &[], (0, 0), 2),
                Entry::File { mode, data } => (S_IFREG | mode, data, (0, 0), 1),
                Entry::CharDev { mode, major, minor } => (S_IFCHR | mode, &[], (*major, *minor), 1),
            };
            // Inode 0 is reserved to the trailer by convention.
            write_member(
                &mut out,
                ino as u32 + 1,
                mode,
                nlink,
                mtime,
                rdev,
                path,
                data,
            );
        }
        write_member(&mut out, 0, 0, 1, 0, (0, 0), "TRAILER!!!", &[]);
        out
    }
}

#[allow(clippy::too_many_arguments)]
fn write_member(
    out: &mut Vec<u8>,
    ino: u32,
    mode: u32,
    nlink: u32,
    mtime: u32,
    rdev: (u32, u32),
    name: &str,
    data: &[u8],
) {
    let fields = [
        ino,
        mode,
        0, // uid
        0, // gid
        nlink,
        mtime,
        data.len() as u32,
        0, // devmajor
        0, // devminor
        rdev.0,
        rdev.1,
        name.len() as u32 + 1,
        0, // check
    ];
    out.extend_from_slice(b"070701");
    for f in fields {
        out.extend_from_slice(format!("{f:08x}").as_bytes());
    }
    out.extend_from_slice(name.as_bytes());
    out.push(0);
    pad4(out);
    out.extend_from_slice(data);
    pad4(out);
}

fn pad4(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(4) {
        out.push(0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::process::Command;

    fn sample() -> Archive {
        let mut a = Archive::new();
        a.insert(
            "sbin/tool",
            Entry::File {
                mode: 0o755,
                data: b"#!x\n".to_vec(),
            },
        );
        a.insert(
            "dev/console",
            Entry::CharDev {
                mode: 0o600,
                major: 5,
                minor: 1,
            },
        );
        a.insert(
            "lib64/ld.so",
            Entry::File {
                mode: 0o755,
                data: vec![0x7f; 5],
            },
        );
        a.insert(
            "init",
            Entry::File {
                mode: 0o755,
                data: vec![1, 2, 3],
            },
        );
        a
    }

    #[test]
    fn parents_are_created_and_sorted_before_children() {
        let a = sample();
        let paths: Vec<_> = a.entries.keys().cloned().collect();
        assert_eq!(
            paths,
            [
                "dev",
                "dev/console",
                "init",
                "lib64",
                "lib64/ld.so",
                "sbin",
                "sbin/tool"
            ]
        );
    }

    #[test]
    fn output_is_aligned_deterministic_and_ends_with_trailer() {
        let a = sample();
        let b1 = a.to_bytes(42);
        assert_eq!(b1, sample().to_bytes(42));
        assert_ne!(b1, a.to_bytes(43));
        assert_eq!(b1.len() % 4, 0);
        assert!(b1.starts_with(b"070701"));
        let tail = String::from_utf8_lossy(&b1[b1.len() - 24..]).to_string();
        assert!(tail.contains("TRAILER!!!"), "{tail}");
    }

    /// The system's cpio must read back what we wrote, device node included.
    #[test]
    fn gnu_cpio_lists_the_archive() {
        let Ok(mut child) = Command::new("cpio")
            .args(["-t", "-v", "--quiet"])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
        else {
            eprintln!("cpio not installed; skipping");
            return;
        };
        use std::io::Write;
        let bytes = sample().to_bytes(0);
        if let Some(mut stdin) = child.stdin.take() {
            stdin.write_all(&bytes).unwrap();
        }
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.lines().any(|l| l.starts_with("crw-------")
                && l.contains("5,")
                && l.ends_with("dev/console")),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("-rwxr-xr-x") && l.ends_with("init")),
            "{text}"
        );
        assert!(
            text.lines()
                .any(|l| l.starts_with("drwxr-xr-x") && l.ends_with("lib64")),
            "{text}"
        );
    }
}

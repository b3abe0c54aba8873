//! Unpacking a site payload (a zstd-compressed tar, docs/packages.md) into a fresh
//! directory with fixed memory: directories and regular files at relative paths below
//! it, nothing else. The bytes are not trusted yet (their hash is known only at the end),
//! so every entry is checked as if hostile: no absolute path, no `..`, no link, no
//! device, no name longer than PATH_MAX, no more output than the manifest's
//! `installed_size`. Since no link is ever created inside the directory, joining a
//! checked relative path to it cannot lead outside.

use std::cell::Cell;
use std::ffi::OsStr;
use std::fs::{self, DirBuilder, OpenOptions, Permissions};
use std::io::{self, Read, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// Longest GNU long name accepted (Linux's PATH_MAX).
const LONG_NAME_MAX: u64 = 4096;
/// Largest zstd window accepted (16 MiB): level 19 uses 8 MiB; a larger window declared
/// by a damaged payload would only make the decoder allocate more.
const WINDOW_LOG_MAX: u32 = 24;
const BUF: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum UnpackError {
    /// Not an acceptable site tree: an entry's path or type, or the tar/zstd structure.
    #[error("{0}")]
    Refused(String),
    #[error("the site payload unpacks to more than the {0} bytes its manifest says")]
    TooLarge(u64),
    #[error("cannot write {}: {source}", path.display())]
    Write { path: PathBuf, source: io::Error },
}

impl UnpackError {
    pub fn code(&self) -> &'static str {
        match self {
            UnpackError::Refused(_) => "malformed",
            UnpackError::TooLarge(_) => "size_mismatch",
            UnpackError::Write { .. } => "write_failed",
        }
    }
}

/// Unpack the zstd tar read from `payload` into `dir` (which exists and is empty),
/// reading at most `limit` decompressed bytes. Returns the number of files written.
pub(crate) fn unpack(payload: impl Read, dir: &Path, limit: u64) -> Result<u64, UnpackError> {
    let exceeded = Cell::new(false);
    let read_err = |e: io::Error| {
        if exceeded.get() {
            UnpackError::TooLarge(limit)
        } else {
            UnpackError::Refused(format!("the site payload cannot be unpacked: {e}"))
        }
    };
    let mut decoder = zstd::Decoder::new(payload).map_err(read_err)?;
    decoder.window_log_max(WINDOW_LOG_MAX).map_err(read_err)?;
    let mut archive = tar::Archive::new(Limit {
        inner: decoder,
        left: limit,
        exceeded: &exceeded,
    });
    let mut files = 0;
    let mut buf = vec![0u8; BUF];
    {
        // Raw: GNU long names are read here, bounded, instead of whole by the tar crate.
        let entries = archive.entries().map_err(read_err)?.raw(true);
        let mut long_name: Option<Vec<u8>> = None;
        for entry in entries {
            let mut entry = entry.map_err(read_err)?;
            let kind = entry.header().entry_type();
            let size = entry.header().size().map_err(read_err)?;
            if kind.is_gnu_longname() {
                if size > LONG_NAME_MAX || long_name.is_some() {
                    return Err(UnpackError::Refused(
                        "the site payload holds an invalid long name".into(),
                    ));
                }
                let mut name = Vec::with_capacity(size as usize);
                entry.read_to_end(&mut name).map_err(read_err)?;
                while name.last() == Some(&0) {
                    name.pop();
                }
                long_name = Some(name);
                continue;
            }
            let raw = match long_name.take() {
                Some(name) => name,
                None => entry.path_bytes().into_owned(),
            };
            let rel = relative(&raw)?;
            let target = dir.join(&rel);
            match kind {
                tar::EntryType::Directory => make_dirs(&target)?,
                tar::EntryType::Regular if !rel.as_os_str().is_empty() => {
                    if let Some(parent) = target.parent() {
                        make_dirs(parent)?;
                    }
                    let mode = if entry.header().mode().map_err(read_err)? & 0o111 != 0 {
                        0o755
                    } else {
                        0o644
                    };
                    write_file(&mut entry, &target, mode, &mut buf, &read_err)?;
                    files += 1;
                }
                other => {
                    return Err(UnpackError::Refused(format!(
                        "{:?} in the site payload is a {}: a site package holds directories and regular files only",
                        rel.display().to_string(),
                        kind_name(other)
                    )))
                }
            }
        }
        if long_name.is_some() {
            return Err(UnpackError::Refused(
                "the site payload ends with a long name for no entry".into(),
            ));
        }
    }
    // The rest of the stream (the tar's end blocks), to the end of the zstd frame.
    let mut rest = archive.into_inner();
    io::copy(&mut rest, &mut io::sink()).map_err(read_err)?;
    Ok(files)
}

/// A tar path as a relative path of plain components (`./` ignored).
fn relative(raw: &[u8]) -> Result<PathBuf, UnpackError> {
    let shown = || {
        String::from_utf8_lossy(raw)
            .chars()
            .take(200)
            .collect::<String>()
    };
    let mut out = PathBuf::new();
    for c in Path::new(OsStr::from_bytes(raw)).components() {
        match c {
            Component::Normal(n) => out.push(n),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => {
                return Err(UnpackError::Refused(format!(
                    "{:?} in the site payload is an absolute path",
                    shown()
                )))
            }
            Component::ParentDir => {
                return Err(UnpackError::Refused(format!(
                    "{:?} in the site payload leads out of its directory (..)",
                    shown()
                )))
            }
        }
    }
    Ok(out)
}

fn make_dirs(path: &Path) -> Result<(), UnpackError> {
    let err = |source| UnpackError::Write {
        path: path.to_path_buf(),
        source,
    };
    DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(path)
        .map_err(err)?;
    // The umask may have taken bits away.
    fs::set_permissions(path, Permissions::from_mode(0o755)).map_err(err)
}

fn write_file(
    entry: &mut impl Read,
    path: &Path,
    mode: u32,
    buf: &mut [u8],
    read_err: &dyn Fn(io::Error) -> UnpackError,
) -> Result<(), UnpackError> {
    let err = |source| UnpackError::Write {
        path: path.to_path_buf(),
        source,
    };
    // create_new (O_CREAT|O_EXCL) never follows a link and refuses a second entry of
    // the same name.
    let mut file = match OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
    {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            return Err(UnpackError::Refused(format!(
                "{} is listed twice in the site payload",
                path.display()
            )))
        }
        Err(e) => return Err(err(e)),
    };
    loop {
        let n = match entry.read(buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(read_err(e)),
        };
        file.write_all(&buf[..n]).map_err(err)?;
    }
    file.set_permissions(Permissions::from_mode(mode))
        .map_err(err)
}

fn kind_name(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Symlink => "symbolic link",
        tar::EntryType::Link => "hard link",
        tar::EntryType::Char | tar::EntryType::Block => "device",
        tar::EntryType::Fifo => "FIFO",
        tar::EntryType::Regular => "file without a name",
        _ => "special entry",
    }
}

/// Counts decompressed bytes and fails past `left`: a payload cannot make the daemon
/// write more than its signed manifest announced, even before its hash is known.
struct Limit<'a, R> {
    inner: R,
    left: u64,
    exceeded: &'a Cell<bool>,
}

impl<R: Read> Read for Limit<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.left == 0 {
            // One byte more means the stream is larger than announced.
            let mut probe = [0u8; 1];
            return match self.inner.read(&mut probe)? {
                0 => Ok(0),
                _ => {
                    self.exceeded.set(true);
                    Err(io::Error::other(
                        "the site payload is larger than announced",
                    ))
                }
            };
        }
        let want = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..want])?;
        self.left -= n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdir::TestDir;

    fn zstd_tar(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> (Vec<u8>, u64) {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        let tar = b.into_inner().unwrap();
        (zstd::encode_all(&tar[..], 3).unwrap(), tar.len() as u64)
    }

    fn header(kind: tar::EntryType, size: u64) -> tar::Header {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_size(size);
        h
    }

    /// A raw path in a header, as a hostile tar would carry it (the builder refuses `..`).
    fn raw_path(h: &mut tar::Header, path: &str) {
        let name = &mut h.as_old_mut().name;
        name.fill(0);
        name[..path.len()].copy_from_slice(path.as_bytes());
        h.set_cksum();
    }

    #[test]
    fn a_tree_is_unpacked_with_normal_modes() {
        let dir = TestDir::new("unpack-ok");
        let (z, size) = zstd_tar(|b| {
            b.append_data(
                &mut header(tar::EntryType::Directory, 0),
                "bin",
                io::empty(),
            )
            .unwrap();
            let mut h = header(tar::EntryType::Regular, 3);
            h.set_mode(0o4777);
            b.append_data(&mut h, "bin/run", &b"#!x"[..]).unwrap();
            let long = format!("{}/file", "d".repeat(150));
            b.append_data(&mut header(tar::EntryType::Regular, 2), &long, &b"hi"[..])
                .unwrap();
        });
        assert_eq!(unpack(&z[..], dir.path(), size).unwrap(), 2);
        let run = dir.path().join("bin/run");
        assert_eq!(fs::read(&run).unwrap(), b"#!x");
        assert_eq!(
            fs::metadata(&run).unwrap().permissions().mode() & 0o7777,
            0o755
        );
        let long = dir.path().join("d".repeat(150)).join("file");
        assert_eq!(fs::read(long).unwrap(), b"hi");
    }

    #[test]
    fn hostile_entries_are_refused() {
        let cases: Vec<(&str, tar::EntryType, &str)> = vec![
            ("../escape", tar::EntryType::Regular, "leads out"),
            ("a/../../escape", tar::EntryType::Regular, "leads out"),
            ("/etc/escape", tar::EntryType::Regular, "absolute"),
            ("link", tar::EntryType::Symlink, "symbolic link"),
            ("hard", tar::EntryType::Link, "hard link"),
            ("dev", tar::EntryType::Char, "device"),
            ("dev", tar::EntryType::Block, "device"),
            ("fifo", tar::EntryType::Fifo, "FIFO"),
        ];
        let outer = TestDir::new("unpack-hostile");
        for (i, (path, kind, why)) in cases.into_iter().enumerate() {
            let dir = outer.path().join(format!("case{i}/inside"));
            fs::create_dir_all(&dir).unwrap();
            let (z, size) = zstd_tar(|b| {
                let body: &[u8] = if kind == tar::EntryType::Regular {
                    b"x"
                } else {
                    b""
                };
                let mut h = header(kind, body.len() as u64);
                raw_path(&mut h, path);
                if kind == tar::EntryType::Symlink {
                    h.set_link_name("/etc/passwd").unwrap();
                    h.set_cksum();
                }
                b.append(&h, body).unwrap();
            });
            let err = unpack(&z[..], &dir, size).unwrap_err();
            assert_eq!(err.code(), "malformed", "{path}: {err}");
            assert!(err.to_string().contains(why), "{path}: {err}");
            assert!(!outer.path().join(format!("case{i}/escape")).exists());
            assert!(fs::read_dir(&dir).unwrap().next().is_none(), "{path}");
        }
        assert!(!Path::new("/etc/escape").exists());
    }

    #[test]
    fn more_output_than_announced_is_refused() {
        let dir = TestDir::new("unpack-large");
        let (z, size) = zstd_tar(|b| {
            b.append_data(
                &mut header(tar::EntryType::Regular, 1 << 20),
                "zeros",
                &vec![0u8; 1 << 20][..],
            )
            .unwrap();
        });
        let err = unpack(&z[..], dir.path(), size - 4096).unwrap_err();
        assert_eq!(err.code(), "size_mismatch", "{err}");
    }

    #[test]
    fn a_name_twice_is_refused() {
        let dir = TestDir::new("unpack-twice");
        let (z, size) = zstd_tar(|b| {
            for _ in 0..2 {
                b.append_data(&mut header(tar::EntryType::Regular, 1), "f", &b"x"[..])
                    .unwrap();
            }
        });
        let err = unpack(&z[..], dir.path(), size).unwrap_err();
        assert!(err.to_string().contains("listed twice"), "{err}");
    }
}

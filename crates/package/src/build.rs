//! Writing packages: the manifest from the payloads' sizes and hashes, the signatures,
//! then the tar, written next to `out` and renamed over it only when complete. Every
//! byte depends on the inputs and `created` alone (entry times are `created`, owners
//! root, ed25519 signatures are deterministic), so a rebuild gives the same file.

use std::fs::{self, File};
use std::io::{self, BufWriter, Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::archive;
use crate::error::{Error, Result};
use crate::keys::{self, Signer};
use crate::manifest::{
    Compression, Kind, Manifest, Payload, Requirement, BASE_NAME, BASE_PAYLOAD, FORMAT,
    SITE_PAYLOAD,
};
use crate::reader::{MANIFEST_ENTRY, SIGNATURE_ENTRY};
use crate::version::Version;
use crate::with_suffix;

/// zstd level of site payloads: small trees, downloaded over slow links.
const SITE_ZSTD_LEVEL: i32 = 19;
const BUF: usize = 256 * 1024;

/// What a package says about itself besides its payloads.
#[derive(Debug, Clone)]
pub struct Metadata {
    pub version: Version,
    /// Appliance profiles that may install it (`box`, `vm`).
    pub profiles: Vec<String>,
    pub requires: Vec<Requirement>,
    /// Anti-rollback floor (base packages only).
    pub floor: Option<Version>,
    /// Unix seconds; also the time of every tar entry.
    pub created: u64,
}

/// Writes a base package to `out`: the slot image as `rootfs.sqfs`, uncompressed (the
/// squashfs is compressed inside).
pub fn build_base(
    slot_image: &Path,
    meta: &Metadata,
    out: &Path,
    signers: &[Signer],
) -> Result<Manifest> {
    let (size, sha256) = hash_file(slot_image)?;
    let manifest = manifest(
        Kind::Base,
        BASE_NAME,
        meta,
        Payload {
            name: BASE_PAYLOAD.into(),
            size,
            sha256,
            compression: Compression::None,
            installed_size: size,
        },
    )?;
    write_package(&manifest, &[slot_image], out, signers)?;
    Ok(manifest)
}

/// Writes a site package named `name` to `out`: the directory `dir` as a zstd-compressed
/// tar (`site.tar.zst`) of its directories and regular files, paths relative to `dir`,
/// owner root, modes 0755 (directories and executables) or 0644.
pub fn build_site(
    dir: &Path,
    name: &str,
    meta: &Metadata,
    out: &Path,
    signers: &[Signer],
) -> Result<Manifest> {
    if !dir.is_dir() {
        return Err(Error::Build(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let tmp = with_suffix(out, ".site.partial");
    let result =
        write_site_payload(dir, meta.created, &tmp).and_then(|(size, sha256, installed)| {
            let manifest = manifest(
                Kind::Site,
                name,
                meta,
                Payload {
                    name: SITE_PAYLOAD.into(),
                    size,
                    sha256,
                    compression: Compression::Zstd,
                    installed_size: installed,
                },
            )?;
            write_package(&manifest, &[&tmp], out, signers)?;
            Ok(manifest)
        });
    let _ = fs::remove_file(&tmp);
    result
}

fn manifest(kind: Kind, name: &str, meta: &Metadata, payload: Payload) -> Result<Manifest> {
    let m = Manifest {
        format: FORMAT,
        kind,
        name: name.into(),
        version: meta.version,
        profiles: meta.profiles.clone(),
        requires: meta.requires.clone(),
        floor: meta.floor,
        created: meta.created,
        payloads: vec![payload],
    };
    m.validate().map_err(|e| match e {
        Error::InvalidManifest(why) => Error::Build(why),
        other => other,
    })?;
    Ok(m)
}

/// The tar: manifest, signatures, then each payload from its file (in manifest order),
/// hashed again while copied so that a file changed meanwhile is noticed.
fn write_package(m: &Manifest, files: &[&Path], out: &Path, signers: &[Signer]) -> Result<()> {
    let json = m.to_json();
    let sig = keys::sign_manifest(&json, signers)?;
    let tmp = with_suffix(out, ".partial");
    let result = (|| {
        let file = File::create(&tmp)
            .map_err(|e| Error::io(format!("cannot create {}", tmp.display()), e))?;
        let mut tar = tar::Builder::new(BufWriter::with_capacity(BUF, file));
        let t = m.created;
        archive::append(
            &mut tar,
            MANIFEST_ENTRY,
            0o644,
            json.len() as u64,
            t,
            &json[..],
        )?;
        archive::append(
            &mut tar,
            SIGNATURE_ENTRY,
            0o644,
            sig.len() as u64,
            t,
            &sig[..],
        )?;
        for (p, path) in m.payloads.iter().zip(files) {
            let f = File::open(path)
                .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
            let mut hashed = Hashing::new(io::BufReader::with_capacity(BUF, f));
            archive::append(&mut tar, &p.name, 0o644, p.size, t, &mut hashed)?;
            if hashed.hex() != p.sha256 {
                return Err(Error::Build(format!(
                    "{} changed while the package was written",
                    path.display()
                )));
            }
        }
        let file = tar
            .into_inner()
            .and_then(|w| w.into_inner().map_err(std::io::IntoInnerError::into_error))
            .map_err(|e| Error::io(format!("cannot write {}", tmp.display()), e))?;
        file.sync_all()
            .map_err(|e| Error::io(format!("cannot write {}", tmp.display()), e))?;
        fs::rename(&tmp, out).map_err(|e| {
            Error::io(
                format!("cannot rename {} to {}", tmp.display(), out.display()),
                e,
            )
        })
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Writes the compressed site tar to `out`; returns its size, sha256 and the size of the
/// tar before compression.
fn write_site_payload(dir: &Path, mtime: u64, out: &Path) -> Result<(u64, String, u64)> {
    let write_err = |e| Error::io(format!("cannot write {}", out.display()), e);
    let file = File::create(out).map_err(write_err)?;
    let hashed = Hashing::new(BufWriter::with_capacity(BUF, file));
    let zstd = zstd::Encoder::new(hashed, SITE_ZSTD_LEVEL).map_err(write_err)?;
    let mut tar = tar::Builder::new(Hashing::new(zstd));
    add_tree(&mut tar, dir, Path::new(""), mtime)?;
    let counted = tar.into_inner().map_err(write_err)?;
    let installed = counted.n;
    let hashed = counted.inner.finish().map_err(write_err)?;
    let (size, sha256) = (hashed.n, hashed.hex());
    let file = hashed
        .inner
        .into_inner()
        .map_err(|e| write_err(e.into_error()))?;
    file.sync_all().map_err(write_err)?;
    Ok((size, sha256, installed))
}

fn add_tree<W: Write>(
    tar: &mut tar::Builder<W>,
    root: &Path,
    rel: &Path,
    mtime: u64,
) -> Result<()> {
    let dir = root.join(rel);
    let list_err = |e| Error::io(format!("cannot list {}", dir.display()), e);
    let mut entries = fs::read_dir(&dir)
        .map_err(list_err)?
        .collect::<io::Result<Vec<_>>>()
        .map_err(list_err)?;
    entries.sort_by_key(std::fs::DirEntry::file_name);
    for e in entries {
        let path = e.path();
        let name = rel.join(e.file_name());
        if name.to_str().is_none() {
            return Err(Error::Build(format!(
                "{} is not a UTF-8 name",
                path.display()
            )));
        }
        let meta = fs::symlink_metadata(&path)
            .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?;
        if meta.is_dir() {
            let mut h = archive::header(tar::EntryType::Directory, 0o755, 0, mtime);
            tar.append_data(&mut h, &name, io::empty())
                .map_err(|e| Error::io(format!("cannot add {}", path.display()), e))?;
            add_tree(tar, root, &name, mtime)?;
        } else if meta.is_file() {
            let mode = if meta.permissions().mode() & 0o111 != 0 {
                0o755
            } else {
                0o644
            };
            let f = File::open(&path)
                .map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
            archive::append(tar, &name, mode, meta.len(), mtime, io::BufReader::new(f))?;
        } else {
            return Err(Error::Build(format!(
                "{} is neither a regular file nor a directory (a site package carries no symlinks or special files)",
                path.display()
            )));
        }
    }
    Ok(())
}

/// Size and sha256 of a file, read with one fixed buffer.
fn hash_file(path: &Path) -> Result<(u64, String)> {
    let f =
        File::open(path).map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
    let mut hashed = Hashing::new(f);
    let mut buf = vec![0u8; BUF];
    while hashed
        .read(&mut buf)
        .map_err(|e| Error::io(format!("cannot read {}", path.display()), e))?
        > 0
    {}
    Ok((hashed.n, hashed.hex()))
}

/// Counts and hashes what passes through, read or written.
struct Hashing<T> {
    inner: T,
    hasher: Sha256,
    n: u64,
}

impl<T> Hashing<T> {
    fn new(inner: T) -> Self {
        Hashing {
            inner,
            hasher: Sha256::new(),
            n: 0,
        }
    }

    fn hex(&self) -> String {
        hex::encode(self.hasher.clone().finalize())
    }
}

impl<R: Read> Read for Hashing<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }
}

impl<W: Write> Write for Hashing<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.n += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

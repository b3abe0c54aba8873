//! Reading a package front to back, as an installer does: the manifest and its
//! signatures are read (64 KiB each at most) and verified before anything about the
//! payloads is returned; each payload is then handed out as a [`PayloadReader`] that
//! hashes while the caller copies it, and tells the verdict at its end. Memory stays
//! bounded whatever the payload size: one header block and the caller's buffer.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::ops::Deref;
use std::path::Path;

use sha2::{Digest, Sha256};

use crate::archive::{EntryHeader, Source};
use crate::error::{Error, Result};
use crate::keys::{self, KeyId, Keyring};
use crate::manifest::{Manifest, Payload};

pub const MANIFEST_ENTRY: &str = "manifest.json";
pub const SIGNATURE_ENTRY: &str = "manifest.sig";
/// Largest `manifest.json` accepted; checked before it is read.
pub const MAX_MANIFEST_BYTES: u64 = 64 * 1024;
/// Largest `manifest.sig` accepted; checked before it is read.
pub const MAX_SIGNATURE_BYTES: u64 = 64 * 1024;

/// The signed entries of a package, as they were in the file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signed {
    pub manifest: Vec<u8>,
    pub signature: Vec<u8>,
}

impl Signed {
    /// Verify the signatures against `keyring`, then parse and validate the manifest:
    /// what [`PackageReader::open`] does, for a verifier that gets the two entries only.
    pub fn verify(&self, keyring: &Keyring) -> Result<Verified<Manifest>> {
        if self.manifest.len() as u64 > MAX_MANIFEST_BYTES
            || self.signature.len() as u64 > MAX_SIGNATURE_BYTES
        {
            return Err(Error::Malformed(
                "the signed entries are larger than a package may hold".into(),
            ));
        }
        let signed_by = keys::verify_manifest(&self.manifest, &self.signature, keyring)?;
        let manifest = Manifest::from_json(&self.manifest)?;
        Ok(Verified::new(manifest, signed_by))
    }
}

/// A value whose signature verified against a keyring. Only this crate makes one.
#[derive(Debug, Clone)]
pub struct Verified<T> {
    value: T,
    signed_by: Vec<KeyId>,
}

impl<T> Verified<T> {
    pub(crate) fn new(value: T, signed_by: Vec<KeyId>) -> Self {
        Verified { value, signed_by }
    }

    /// The trusted keys whose signatures verified (at least one).
    pub fn signed_by(&self) -> &[KeyId] {
        &self.signed_by
    }

    pub fn into_inner(self) -> T {
        self.value
    }
}

impl<T> Deref for Verified<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.value
    }
}

/// The payloads of a package whose manifest verified, in manifest order.
///
/// ```no_run
/// # fn install(slot: &mut std::fs::File, ring: &package::Keyring) -> package::Result<()> {
/// let file = std::fs::File::open("update.pkg").map_err(package::Error::from)?;
/// let (manifest, mut payloads) = package::PackageReader::open(file, ring)?;
/// while let Some(mut payload) = payloads.next_payload()? {
///     // Only a read to the end gives the verdict: an error instead of the final Ok(0).
///     std::io::copy(&mut payload, slot)?;
/// }
/// // Here every payload matched its size and sha256, and nothing followed them.
/// # Ok(()) }
/// ```
pub struct PackageReader<R> {
    src: Source<R>,
    signed: Signed,
    payloads: Vec<Payload>,
    next: usize,
    ended: bool,
}

impl<R: Read> PackageReader<R> {
    /// Reads `manifest.json` and `manifest.sig`, verifies the signatures against
    /// `keyring`, then parses and validates the manifest. No payload byte is read.
    pub fn open(r: R, keyring: &Keyring) -> Result<(Verified<Manifest>, Self)> {
        let mut src = Source::new(r);
        let (manifest_bytes, sig) = read_signed_entries(&mut src)?;
        let signed_by = keys::verify_manifest(&manifest_bytes, &sig, keyring)?;
        let manifest = Manifest::from_json(&manifest_bytes)?;
        let reader = PackageReader {
            src,
            signed: Signed {
                manifest: manifest_bytes,
                signature: sig,
            },
            payloads: manifest.payloads.clone(),
            next: 0,
            ended: false,
        };
        Ok((
            Verified {
                value: manifest,
                signed_by,
            },
            reader,
        ))
    }

    /// `manifest.json` and `manifest.sig` exactly as read, for a second verifier (the
    /// appliance's privileged part checks them again before it lets a slot boot).
    pub fn signed(&self) -> &Signed {
        &self.signed
    }

    /// The next payload, or `None` once every payload was handed out and the archive
    /// ended properly. Unread bytes of the previous payload are skipped (unverified).
    /// Its tar entry must carry the manifest's name and size.
    pub fn next_payload(&mut self) -> Result<Option<PayloadReader<'_, R>>> {
        let Some(payload) = self.payloads.get(self.next) else {
            if !self.ended {
                if let Some(h) = self.src.next_header()? {
                    return Err(Error::Malformed(format!(
                        "unexpected entry {:?} after the last payload",
                        h.name
                    )));
                }
                self.src.finish()?;
                self.ended = true;
            }
            return Ok(None);
        };
        let Some(h) = self.src.next_header()? else {
            return Err(Error::Malformed(format!(
                "the archive ends after {} of its {} payloads",
                self.next,
                self.payloads.len()
            )));
        };
        if h.name != payload.name {
            return Err(Error::Malformed(format!(
                "entry {:?} where payload {:?} was expected",
                h.name, payload.name
            )));
        }
        if h.size != payload.size {
            return Err(Error::SizeMismatch {
                payload: payload.name.clone(),
                expected: payload.size,
                actual: h.size,
            });
        }
        self.next += 1;
        let last = self.next == self.payloads.len();
        Ok(Some(PayloadReader {
            src: &mut self.src,
            payload: payload.clone(),
            hasher: Sha256::new(),
            read: 0,
            verdict: None,
            archive_ended: last.then_some(&mut self.ended),
        }))
    }
}

/// One payload's bytes. Reads hash and count; at the end, instead of the final `Ok(0)`,
/// a mismatch is an `io::Error` of kind `InvalidData` (`UnexpectedEof` if the package is
/// cut short) carrying the [`Error`]; `Error::from` gives it back. The last payload's end
/// is also the package's: its final read checks that the archive ends properly there
/// (nothing but the end-of-archive marker and zero padding), so a reader of that payload
/// to its end has seen the whole package verified.
pub struct PayloadReader<'a, R> {
    src: &'a mut Source<R>,
    payload: Payload,
    hasher: Sha256,
    read: u64,
    /// Set at the end of the payload.
    verdict: Option<Verdict>,
    /// For the last payload: the package reader's flag, set once the archive's end checked.
    archive_ended: Option<&'a mut bool>,
}

enum Verdict {
    Matched,
    HashMismatch(String),
    SizeMismatch(u64),
    /// The payload matched, but the archive does not end properly after it.
    Malformed(String),
}

impl<R> PayloadReader<'_, R> {
    /// The manifest's entry for this payload.
    pub fn payload(&self) -> &Payload {
        &self.payload
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.read
    }

    fn error(&self, v: &Verdict) -> Option<Error> {
        let payload = self.payload.name.clone();
        match v {
            Verdict::Matched => None,
            Verdict::HashMismatch(actual) => Some(Error::HashMismatch {
                payload,
                expected: self.payload.sha256.clone(),
                actual: actual.clone(),
            }),
            Verdict::SizeMismatch(actual) => Some(Error::SizeMismatch {
                payload,
                expected: self.payload.size,
                actual: *actual,
            }),
            Verdict::Malformed(why) => Some(Error::Malformed(why.clone())),
        }
    }
}

impl<R: Read> PayloadReader<'_, R> {
    /// After the last payload: no other entry, then the end-of-archive marker and zeros.
    fn check_archive_end(&mut self) -> std::result::Result<(), Error> {
        let Some(ended) = self.archive_ended.as_deref_mut() else {
            return Ok(());
        };
        if let Some(h) = self.src.next_header()? {
            return Err(Error::Malformed(format!(
                "unexpected entry {:?} after the last payload",
                h.name
            )));
        }
        self.src.finish()?;
        *ended = true;
        Ok(())
    }
}

impl<R: Read> Read for PayloadReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(v) = &self.verdict {
            return match self.error(v) {
                None => Ok(0),
                Some(e) => Err(e.into_io()),
            };
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.src.read_entry(buf)?;
        if n > 0 {
            self.hasher.update(&buf[..n]);
            self.read += n as u64;
            return Ok(n);
        }
        // The tar header framed the entry with the manifest's size (checked when it was
        // opened), so the count can only differ if that invariant broke.
        let verdict = if self.read != self.payload.size {
            Verdict::SizeMismatch(self.read)
        } else {
            let actual = hex::encode(std::mem::take(&mut self.hasher).finalize());
            if actual != self.payload.sha256 {
                Verdict::HashMismatch(actual)
            } else {
                match self.check_archive_end() {
                    Ok(()) => Verdict::Matched,
                    Err(Error::Malformed(why)) => Verdict::Malformed(why),
                    Err(e) => return Err(e.into_io()),
                }
            }
        };
        let result = match self.error(&verdict) {
            None => Ok(0),
            Some(e) => Err(e.into_io()),
        };
        self.verdict = Some(verdict);
        result
    }
}

/// The manifest and the key ids of its signatures, verifying nothing: for a vendor's
/// tooling, never for deciding to install.
pub fn inspect(path: &Path) -> Result<(Manifest, Vec<KeyId>)> {
    let file =
        File::open(path).map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
    inspect_reader(BufReader::new(file))
}

/// [`inspect`] on any reader.
pub fn inspect_reader(r: impl Read) -> Result<(Manifest, Vec<KeyId>)> {
    let (manifest, sig) = read_signed_entries(&mut Source::new(r))?;
    let ids = keys::signature_key_ids(&sig)?;
    Ok((Manifest::from_json(&manifest)?, ids))
}

/// Verifies a whole package: signatures, every payload's size and sha256, nothing after.
pub fn verify_file(path: &Path, keyring: &Keyring) -> Result<Verified<Manifest>> {
    let file =
        File::open(path).map_err(|e| Error::io(format!("cannot open {}", path.display()), e))?;
    verify_reader(file, keyring)
}

/// [`verify_file`] on any reader.
pub fn verify_reader(r: impl Read, keyring: &Keyring) -> Result<Verified<Manifest>> {
    let (manifest, mut payloads) = PackageReader::open(r, keyring)?;
    let mut buf = vec![0u8; 256 * 1024];
    while let Some(mut p) = payloads.next_payload()? {
        while p.read(&mut buf)? > 0 {}
    }
    Ok(manifest)
}

fn read_signed_entries<R: Read>(src: &mut Source<R>) -> Result<(Vec<u8>, Vec<u8>)> {
    let manifest = expect_entry(src, MANIFEST_ENTRY, "first")?;
    let manifest = src.read_small(&manifest, MAX_MANIFEST_BYTES)?;
    let sig = expect_entry(src, SIGNATURE_ENTRY, "second")?;
    let sig = src.read_small(&sig, MAX_SIGNATURE_BYTES)?;
    Ok((manifest, sig))
}

fn expect_entry<R: Read>(src: &mut Source<R>, name: &str, which: &str) -> Result<EntryHeader> {
    match src.next_header()? {
        Some(h) if h.name == name => Ok(h),
        Some(h) => Err(Error::Malformed(format!(
            "the {which} entry is {:?}, expected {name}",
            h.name
        ))),
        None => Err(Error::Malformed(format!(
            "the archive ends where {name} was expected"
        ))),
    }
}

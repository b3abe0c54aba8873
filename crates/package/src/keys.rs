//! Signing keys, public keys, key ids, the keyring an appliance trusts, and
//! `manifest.sig` (one or more ed25519 signatures over the exact bytes of
//! `manifest.json`, so a vendor can rotate keys: sign with old and new, ship the new
//! public key, drop the old one later).
//!
//! Key files are text: one line of base64, the 32-byte public key in `*.pub`, the 32-byte
//! secret seed in `*.key`; lines starting with `#` are comments.

use std::fmt;
use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use ed25519_dalek::{Signature, Signer as _, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::error::{Error, Result};
use crate::with_suffix;

/// First 8 bytes of the sha256 of the 32-byte public key, shown as 16 hex digits.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct KeyId([u8; 8]);

impl KeyId {
    fn of(public: &[u8; 32]) -> Self {
        let digest = Sha256::digest(public);
        let mut id = [0; 8];
        id.copy_from_slice(&digest[..8]);
        KeyId(id)
    }

    /// Parses 16 lowercase hex digits.
    pub fn parse(s: &str) -> Option<Self> {
        if s.len() != 16 || !s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f')) {
            return None;
        }
        let mut id = [0; 8];
        hex::decode_to_slice(s, &mut id).ok()?;
        Some(KeyId(id))
    }
}

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

/// A public key that verifies package signatures.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    key: VerifyingKey,
    id: KeyId,
}

impl PublicKey {
    pub fn from_bytes(bytes: &[u8; 32]) -> Result<Self, String> {
        let key = VerifyingKey::from_bytes(bytes)
            .map_err(|_| "not a valid ed25519 public key".to_string())?;
        if key.is_weak() {
            return Err("a weak (small-order) ed25519 public key".into());
        }
        Ok(PublicKey {
            key,
            id: KeyId::of(bytes),
        })
    }

    /// Parses the text of a `*.pub` file.
    pub fn from_text(text: &str) -> Result<Self, String> {
        Self::from_bytes(&decode_key_text(text)?)
    }

    /// Reads a `*.pub` file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = read_key_file(path)?;
        Self::from_text(&text).map_err(|reason| key_file(path, reason))
    }

    pub fn id(&self) -> KeyId {
        self.id
    }

    pub fn to_bytes(&self) -> [u8; 32] {
        self.key.to_bytes()
    }

    /// The text of a `*.pub` file.
    pub fn to_text(&self) -> String {
        BASE64.encode(self.key.to_bytes()) + "\n"
    }

    /// Strict ed25519 verification of one signature over `message`.
    pub(crate) fn verifies(&self, message: &[u8], signature: &[u8; 64]) -> bool {
        self.key
            .verify_strict(message, &Signature::from_bytes(signature))
            .is_ok()
    }
}

/// A secret key that signs packages.
pub struct Signer {
    key: SigningKey,
    public: PublicKey,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Signer({})", self.public.id)
    }
}

impl Signer {
    pub fn from_seed(seed: &[u8; 32]) -> Self {
        let key = SigningKey::from_bytes(seed);
        let verifying = key.verifying_key();
        let public = PublicKey {
            key: verifying,
            id: KeyId::of(&verifying.to_bytes()),
        };
        Signer { key, public }
    }

    /// A new key from the kernel's random source.
    pub fn generate() -> Result<Self> {
        let mut seed = [0; 32];
        fs::File::open("/dev/urandom")
            .and_then(|mut f| f.read_exact(&mut seed))
            .map_err(|e| Error::io("cannot read /dev/urandom", e))?;
        Ok(Self::from_seed(&seed))
    }

    /// Parses the text of a `*.key` file.
    pub fn from_text(text: &str) -> Result<Self, String> {
        Ok(Self::from_seed(&decode_key_text(text)?))
    }

    /// Reads a `*.key` file.
    pub fn load(path: &Path) -> Result<Self> {
        let text = read_key_file(path)?;
        Self::from_text(&text).map_err(|reason| key_file(path, reason))
    }

    pub fn public(&self) -> &PublicKey {
        &self.public
    }

    pub fn id(&self) -> KeyId {
        self.public.id
    }

    /// Writes `PREFIX.key` (mode 0600) and `PREFIX.pub`, refusing to overwrite either.
    pub fn write_pair(&self, prefix: &Path) -> Result<(PathBuf, PathBuf)> {
        let secret = with_suffix(prefix, ".key");
        let public = with_suffix(prefix, ".pub");
        for p in [&secret, &public] {
            if p.exists() {
                return Err(key_file(p, "already exists; not overwritten".into()));
            }
        }
        let seed = BASE64.encode(self.key.to_bytes()) + "\n";
        write_new(&secret, seed.as_bytes(), 0o600)?;
        write_new(&public, self.public.to_text().as_bytes(), 0o644)?;
        Ok((secret, public))
    }

    pub(crate) fn sign(&self, message: &[u8]) -> Signature {
        self.key.sign(message)
    }
}

/// The published development public key (`keys/dev/dev.pub`): its secret half is in the
/// source tree, so an appliance that trusts it accepts packages from anybody. Builds say
/// so, a release build refuses it, and an appliance that trusts it says so on Status.
pub const DEVELOPMENT_PUBLIC_KEY: &str = include_str!("../../../keys/dev/dev.pub");

/// The id of [`DEVELOPMENT_PUBLIC_KEY`].
pub fn development_key_id() -> KeyId {
    PublicKey::from_text(DEVELOPMENT_PUBLIC_KEY)
        .expect("keys/dev/dev.pub is a valid public key (unit-tested)")
        .id()
}

/// The public keys an appliance (or a vendor's check) accepts signatures from.
#[derive(Debug, Clone, Default)]
pub struct Keyring {
    keys: Vec<PublicKey>,
}

impl Keyring {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a key; a key already present is not added twice.
    pub fn add(&mut self, key: PublicKey) {
        if self.get(key.id).is_none() {
            self.keys.push(key);
        }
    }

    /// Every `*.pub` file of `dir` (e.g. `/etc/appliance/keys`), in name order. A
    /// directory with none is an error: nothing could ever be installed.
    pub fn from_dir(dir: &Path) -> Result<Self> {
        let entries = fs::read_dir(dir)
            .map_err(|e| Error::io(format!("cannot list {}", dir.display()), e))?;
        let mut files = Vec::new();
        for e in entries {
            let e = e.map_err(|e| Error::io(format!("cannot list {}", dir.display()), e))?;
            let path = e.path();
            if path.extension().is_some_and(|x| x == "pub") {
                files.push(path);
            }
        }
        files.sort();
        let mut ring = Keyring::new();
        for f in &files {
            ring.add(PublicKey::load(f)?);
        }
        if ring.is_empty() {
            return Err(key_file(dir, "holds no public key (*.pub)".into()));
        }
        Ok(ring)
    }

    pub fn get(&self, id: KeyId) -> Option<&PublicKey> {
        self.keys.iter().find(|k| k.id == id)
    }

    pub fn ids(&self) -> impl Iterator<Item = KeyId> + '_ {
        self.keys.iter().map(|k| k.id)
    }

    pub fn iter(&self) -> impl Iterator<Item = &PublicKey> {
        self.keys.iter()
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// `manifest.sig`.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureFile {
    signatures: Vec<SignatureEntry>,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct SignatureEntry {
    key_id: String,
    signature: String,
}

/// The bytes of `manifest.sig`: one signature of `manifest` per signer.
pub(crate) fn sign_manifest(manifest: &[u8], signers: &[Signer]) -> Result<Vec<u8>> {
    if signers.is_empty() {
        return Err(Error::Build("no signing key given".into()));
    }
    let mut ids: Vec<KeyId> = signers.iter().map(Signer::id).collect();
    ids.sort();
    if ids.windows(2).any(|w| w[0] == w[1]) {
        return Err(Error::Build("the same signing key is given twice".into()));
    }
    let file = SignatureFile {
        signatures: signers
            .iter()
            .map(|s| SignatureEntry {
                key_id: s.id().to_string(),
                signature: BASE64.encode(s.sign(manifest).to_bytes()),
            })
            .collect(),
    };
    let mut out = serde_json::to_vec_pretty(&file).expect("strings always serialize");
    out.push(b'\n');
    Ok(out)
}

fn parse_signature_file(sig: &[u8]) -> Result<SignatureFile> {
    serde_json::from_slice(sig)
        .map_err(|e| Error::Malformed(format!("manifest.sig is not a signature list: {e}")))
}

/// The key ids `manifest.sig` names, verifying nothing (for inspection).
pub(crate) fn signature_key_ids(sig: &[u8]) -> Result<Vec<KeyId>> {
    parse_signature_file(sig)?
        .signatures
        .iter()
        .map(|s| parse_key_id(&s.key_id))
        .collect()
}

fn parse_key_id(s: &str) -> Result<KeyId> {
    KeyId::parse(s).ok_or_else(|| {
        Error::Malformed(format!(
            "manifest.sig names key id {:?}, not 16 lowercase hex digits",
            s.chars().take(20).collect::<String>()
        ))
    })
}

/// Checks `manifest.sig` against the keyring: at least one signature by a trusted key
/// must verify, and every signature by a trusted key must verify (a failing one means
/// tampering, not an unknown signer). Signatures by other keys are skipped. Returns the
/// ids of the keys whose signatures verified.
pub(crate) fn verify_manifest(
    manifest: &[u8],
    sig: &[u8],
    keyring: &Keyring,
) -> Result<Vec<KeyId>> {
    let file = parse_signature_file(sig)?;
    if file.signatures.is_empty() {
        return Err(Error::Unsigned);
    }
    let mut verified = Vec::new();
    let mut unknown = Vec::new();
    for entry in &file.signatures {
        let id = parse_key_id(&entry.key_id)?;
        let Some(key) = keyring.get(id) else {
            unknown.push(id.to_string());
            continue;
        };
        let bad = || Error::BadSignature {
            key_id: id.to_string(),
        };
        let bytes = BASE64.decode(&entry.signature).map_err(|_| bad())?;
        let bytes: [u8; 64] = bytes.try_into().map_err(|_| bad())?;
        key.key
            .verify_strict(manifest, &Signature::from_bytes(&bytes))
            .map_err(|_| bad())?;
        verified.push(id);
    }
    if verified.is_empty() {
        return Err(Error::UnknownKey { key_ids: unknown });
    }
    Ok(verified)
}

fn decode_key_text(text: &str) -> Result<[u8; 32], String> {
    let mut lines = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'));
    let (Some(line), None) = (lines.next(), lines.next()) else {
        return Err("expected exactly one line of base64 (besides # comments)".into());
    };
    let bytes = BASE64
        .decode(line)
        .map_err(|_| "the key is not valid base64".to_string())?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("the key is {} bytes, expected 32", b.len()))
}

fn read_key_file(path: &Path) -> Result<String> {
    // A key file is one line; anything large is not one.
    let mut text = String::new();
    fs::File::open(path)
        .and_then(|f| f.take(4096).read_to_string(&mut text))
        .map_err(|e| key_file(path, e.to_string()))?;
    Ok(text)
}

fn write_new(path: &Path, data: &[u8], mode: u32) -> Result<()> {
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(mode)
        .open(path)
        .and_then(|mut f| f.write_all(data))
        .map_err(|e| key_file(path, format!("cannot write: {e}")))
}

fn key_file(path: &Path, reason: String) -> Error {
    Error::KeyFile {
        path: path.to_path_buf(),
        reason,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signer(n: u8) -> Signer {
        Signer::from_seed(&[n; 32])
    }

    fn ring(signers: &[&Signer]) -> Keyring {
        let mut r = Keyring::new();
        for s in signers {
            r.add(s.public().clone());
        }
        r
    }

    #[test]
    fn the_development_key_is_the_public_half_of_dev_key() {
        let secret = Signer::from_text(include_str!("../../../keys/dev/dev.key")).unwrap();
        assert_eq!(development_key_id(), secret.id());
        assert_ne!(development_key_id(), signer(1).id());
    }

    #[test]
    fn key_id_is_sha256_prefix_in_hex() {
        let s = signer(1);
        let id = s.id().to_string();
        assert_eq!(id.len(), 16);
        let digest = Sha256::digest(s.public().to_bytes());
        assert_eq!(id, hex::encode(&digest[..8]));
        assert_eq!(KeyId::parse(&id), Some(s.id()));
        assert_eq!(KeyId::parse("ABCDEF0123456789"), None);
    }

    #[test]
    fn key_text_round_trips_with_comments() {
        let s = signer(2);
        let text = format!("# DEVELOPMENT ONLY\n{}", s.public().to_text());
        assert_eq!(PublicKey::from_text(&text).unwrap(), *s.public());
        assert!(PublicKey::from_text("").is_err());
        assert!(PublicKey::from_text("AAAA\nAAAA\n").is_err());
        assert!(PublicKey::from_text("AAAA\n").is_err());
        let seed = BASE64.encode([2u8; 32]);
        assert_eq!(Signer::from_text(&seed).unwrap().id(), s.id());
    }

    #[test]
    fn rotation_and_failures() {
        let (old, new, other) = (signer(1), signer(2), signer(3));
        let m = b"{\"manifest\":1}\n";
        let both = sign_manifest(m, &[old, new]).unwrap();
        let (old, new) = (signer(1), signer(2));
        // A ring with only the new key skips the old signature.
        assert_eq!(
            verify_manifest(m, &both, &ring(&[&new])).unwrap(),
            vec![new.id()]
        );
        assert_eq!(
            verify_manifest(m, &both, &ring(&[&old, &new]))
                .unwrap()
                .len(),
            2
        );
        let e = verify_manifest(m, &both, &ring(&[&other])).unwrap_err();
        assert_eq!(e.code(), "unknown_key");
        let e = verify_manifest(b"{\"manifest\":2}\n", &both, &ring(&[&new])).unwrap_err();
        assert_eq!(e.code(), "bad_signature");
        let e = verify_manifest(m, br#"{"signatures":[]}"#, &ring(&[&new])).unwrap_err();
        assert_eq!(e.code(), "unsigned");
        let e = verify_manifest(m, b"[]", &ring(&[&new])).unwrap_err();
        assert_eq!(e.code(), "malformed");
        assert!(sign_manifest(m, &[]).is_err());
        assert!(sign_manifest(m, &[signer(1), signer(1)]).is_err());
    }

    #[test]
    fn pair_files() {
        let dir = std::env::temp_dir().join(format!("package-keys-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        let s = signer(4);
        let (key, public) = s.write_pair(&dir.join("release")).unwrap();
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            fs::metadata(&key).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(Signer::load(&key).unwrap().id(), s.id());
        assert_eq!(PublicKey::load(&public).unwrap(), *s.public());
        assert!(
            s.write_pair(&dir.join("release")).is_err(),
            "overwrote a key"
        );
        let ring = Keyring::from_dir(&dir).unwrap();
        assert_eq!(ring.ids().collect::<Vec<_>>(), vec![s.id()]);
        fs::remove_dir_all(&dir).unwrap();
        assert!(Keyring::from_dir(&dir).is_err());
    }
}

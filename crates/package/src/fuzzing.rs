//! The body of the package parser's fuzz target (`fuzz/fuzz_targets/reader.rs`), also run
//! without libFuzzer over mutated valid packages (`tests/mutations.rs`), so both modes
//! exercise the same code. Not part of the API an installer uses.

use std::io::Read;

use crate::{inspect_reader, Keyring, PackageReader, Result, Signer};

/// The fixed key that signs the packages of the fuzz corpus.
pub fn signer() -> Signer {
    Signer::from_seed(&[0x5a; 32])
}

/// A keyring trusting [`signer`] only.
pub fn keyring() -> Keyring {
    let mut ring = Keyring::new();
    ring.add(signer().public().clone());
    ring
}

/// Reads arbitrary bytes as a package, as an installer would (verifying, draining every
/// payload to its verdict), and as `inspect` does. Must never panic, whatever `data` is;
/// returns the installer's verdict.
pub fn read_untrusted(data: &[u8], keyring: &Keyring) -> Result<()> {
    let _ = inspect_reader(data);
    let (_manifest, mut payloads) = PackageReader::open(data, keyring)?;
    let mut buf = [0u8; 4096];
    while let Some(mut p) = payloads.next_payload()? {
        while p.read(&mut buf)? > 0 {}
    }
    Ok(())
}

/// `manifest.sig` for `manifest` by [`signer`], so that mutated manifests get past the
/// signature check and exercise what lies behind it.
pub fn sign(manifest: &[u8]) -> Vec<u8> {
    crate::keys::sign_manifest(manifest, &[signer()]).expect("one signer always signs")
}

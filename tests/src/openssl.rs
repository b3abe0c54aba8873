//! The `openssl` command for tests that make certificates, keys and PKCS#12 files, or open
//! what the appliance exports (Debian package `openssl`).

use std::path::Path;
use std::process::Command;

/// Run `openssl args…` in `dir`; its standard output. Panics (the test fails) with
/// openssl's own words when it fails.
pub fn openssl(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the openssl command (Debian package openssl)");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The DER of the first certificate in a PEM text.
pub fn der_of(pem_text: &[u8]) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject;
    rustls::pki_types::CertificateDer::from_pem_slice(pem_text)
        .expect("a PEM certificate")
        .to_vec()
}

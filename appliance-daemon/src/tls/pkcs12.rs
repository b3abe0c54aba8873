//! PKCS#12 files out: the certificate, its chain and its key under the operator's password,
//! with what openssl 3 writes by default (PBES2: PBKDF2-HMAC-SHA-256 and AES-256-CBC; the
//! MAC is HMAC-SHA-256), so that `openssl pkcs12`, Windows and browsers open it.

use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKeyChain};
use rustls::pki_types::CertificateDer;

/// PBKDF2 iterations for the contents and the MAC (openssl 3's default is 2048; Java's
/// 10 000).
const ITERATIONS: u64 = 10_000;

pub(crate) fn write(
    chain: &[CertificateDer<'static>],
    key_pkcs8: &[u8],
    name: &str,
    password: &str,
) -> Result<Vec<u8>, p12_keystore::error::Error> {
    let certs = chain
        .iter()
        .map(|c| Certificate::from_der(c.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    // Ties the key to its certificate inside the file (any bytes; openssl uses the SHA-1
    // of the certificate).
    let local_key_id = &super::import::sha256(chain.first().map_or(&[][..], |c| c.as_ref()))[..20];
    let mut store = KeyStore::new();
    store.add_entry(
        name,
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(key_pkcs8, local_key_id, certs)),
    );
    store
        .writer(password)
        .encryption_iterations(ITERATIONS)
        .mac_iterations(ITERATIONS)
        .write()
}

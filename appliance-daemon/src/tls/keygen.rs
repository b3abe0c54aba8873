//! Keys made on the appliance for certificate requests (docs/certificates.md "Requests"):
//! ECDSA P-256 and P-384 by rcgen on ring; RSA 2048, 3072 and 4096 by RustCrypto's `rsa`
//! (ring cannot generate RSA keys), with ring's system random numbers, then written as
//! PKCS#8 here and handed to rcgen, so that ring signs the request as it signs every
//! handshake (ring checks the key's every component when it reads it).

use rsa::rand_core::{CryptoRng, RngCore};
use rsa::traits::{PrivateKeyParts as _, PublicKeyParts as _};
use rsa::{BoxedUint, RsaPrivateKey};
use rustls::pki_types::PrivatePkcs8KeyDer;

/// The key types a request may ask for, the default first.
pub(crate) const OFFERED: [&str; 5] = [
    "ecdsa-p256",
    "ecdsa-p384",
    "rsa-2048",
    "rsa-3072",
    "rsa-4096",
];

/// A new key of `key_type` (one of [`OFFERED`]). Slow for RSA (a 4096-bit key takes
/// seconds): call it off the async threads.
pub(crate) fn generate(key_type: &str) -> Result<rcgen::KeyPair, String> {
    let bits = match key_type {
        "ecdsa-p256" => {
            return rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)
                .map_err(|e| e.to_string())
        }
        "ecdsa-p384" => {
            return rcgen::KeyPair::generate_for(&rcgen::PKCS_ECDSA_P384_SHA384)
                .map_err(|e| e.to_string())
        }
        "rsa-2048" => 2048,
        "rsa-3072" => 3072,
        "rsa-4096" => 4096,
        other => return Err(format!("key type {other:?} is not offered")),
    };
    let key = RsaPrivateKey::new(&mut SystemRng, bits).map_err(|e| e.to_string())?;
    let der = pkcs8(&key)?;
    rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &PrivatePkcs8KeyDer::from(der.as_slice()),
        &rcgen::PKCS_RSA_SHA256,
    )
    .map_err(|e| e.to_string())
}

/// `key` as PKCS#8 (RFC 5208) around PKCS#1's RSAPrivateKey (RFC 8017, A.1.2), with the
/// larger prime first, as ring requires (`q < p`).
fn pkcs8(key: &RsaPrivateKey) -> Result<Vec<u8>, String> {
    let [p, q] = key.primes() else {
        return Err("an RSA key of two primes was expected".into());
    };
    let n: &BoxedUint = key.n();
    let key = if magnitude(p) < magnitude(q) {
        RsaPrivateKey::from_components(
            n.clone(),
            key.e().clone(),
            key.d().clone(),
            vec![q.clone(), p.clone()],
        )
        .map_err(|e| e.to_string())?
    } else {
        key.clone()
    };
    let (Some(dp), Some(dq), Some(qinv)) = (key.dp(), key.dq(), key.crt_coefficient()) else {
        return Err("the RSA key's CRT values are missing".into());
    };
    let n: &BoxedUint = key.n();
    let mut fields = integer(&[0]);
    for value in [
        n,
        key.e(),
        key.d(),
        &key.primes()[0],
        &key.primes()[1],
        dp,
        dq,
        &qinv,
    ] {
        fields.extend(integer(&value.to_be_bytes()));
    }
    let rsa_private_key = tlv(0x30, &fields);
    // AlgorithmIdentifier { rsaEncryption (1.2.840.113549.1.1.1), NULL }.
    const RSA_ENCRYPTION: [u8; 15] = [
        0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01, 0x05, 0x00,
    ];
    let mut info = integer(&[0]);
    info.extend_from_slice(&RSA_ENCRYPTION);
    info.extend(tlv(0x04, &rsa_private_key));
    Ok(tlv(0x30, &info))
}

/// A number's big-endian bytes without leading zeros (compared by length, then bytes).
fn magnitude(n: &BoxedUint) -> (usize, Vec<u8>) {
    let bytes = trimmed(&n.to_be_bytes()).to_vec();
    (bytes.len(), bytes)
}

fn trimmed(be: &[u8]) -> &[u8] {
    let start = be.iter().position(|b| *b != 0).unwrap_or(be.len());
    &be[start..]
}

/// A DER INTEGER of a non-negative big-endian number.
fn integer(be: &[u8]) -> Vec<u8> {
    let mut content = trimmed(be).to_vec();
    if content.first().is_none_or(|b| b & 0x80 != 0) {
        content.insert(0, 0);
    }
    tlv(0x02, &content)
}

/// A DER tag, length and content.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap_or(0));
    } else {
        let bytes = trimmed(&len.to_be_bytes()).to_vec();
        out.push(0x80 | u8::try_from(bytes.len()).unwrap_or(0));
        out.extend(bytes);
    }
    out.extend_from_slice(content);
    out
}

/// The operating system's random numbers, through ring (as every other key here).
struct SystemRng;

impl RngCore for SystemRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }

    fn next_u64(&mut self) -> u64 {
        let mut b = [0; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }

    fn fill_bytes(&mut self, dst: &mut [u8]) {
        use ring::rand::SecureRandom as _;
        // getrandom(2) does not fail once the kernel's pool is ready; a key is never made
        // from less than the system's randomness.
        ring::rand::SystemRandom::new()
            .fill(dst)
            .expect("the system's random number generator");
    }
}

impl CryptoRng for SystemRng {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_offered_type_makes_a_key_ring_signs_with() {
        // RSA 2048 only among the RSA sizes: the larger ones cost seconds in a debug build.
        for key_type in ["ecdsa-p256", "ecdsa-p384", "rsa-2048"] {
            let pair = generate(key_type).unwrap();
            let params = rcgen::CertificateParams::new(vec!["a.example.com".into()]).unwrap();
            let csr = params.serialize_request(&pair).unwrap();
            assert!(!csr.der().is_empty(), "{key_type}");
        }
        assert!(generate("rsa-1024").is_err());
    }

    #[test]
    fn der_integers_and_lengths() {
        assert_eq!(integer(&[0, 0]), [0x02, 0x01, 0x00]);
        assert_eq!(integer(&[0, 0x7f]), [0x02, 0x01, 0x7f]);
        assert_eq!(integer(&[0x80]), [0x02, 0x02, 0x00, 0x80]);
        assert_eq!(tlv(0x04, &[1; 200])[..3], [0x04, 0x81, 200]);
        assert_eq!(tlv(0x04, &[1; 300])[..4], [0x04, 0x82, 0x01, 0x2c]);
    }
}

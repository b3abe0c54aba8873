//! Reading and checking what an operator imports: PEM (certificates, a key: PKCS#8,
//! encrypted PKCS#8, PKCS#1 or SEC1), a DER certificate, or a PKCS#12/PFX file. Everything
//! is checked before anything is stored (docs/certificates.md "What an import checks"):
//! one key at most, the key is the leaf's, the chain is the leaf's (put in order, each link
//! signed by the next), not expired, usable by a TLS server, a key type rustls serves.

use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::sign::CertifiedKey;
use std::net::IpAddr;
use std::sync::Arc;
use x509_parser::prelude::{FromDer, GeneralName, X509Certificate};

/// The largest import accepted: a certificate with a long chain and its key is a few KiB.
pub(crate) const IMPORT_LIMIT: usize = 256 * 1024;
/// Certificates expiring sooner than this are accepted with a warning.
const SOON: i64 = 30 * 24 * 3600;

/// Why an import is refused (nothing is stored).
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(
        "the file is larger than {limit} bytes (a certificate with its chain and key is a few KiB)"
    )]
    TooLarge { limit: usize },
    #[error("the file is empty")]
    Empty,
    #[error("the file is neither PEM (-----BEGIN CERTIFICATE-----), a DER certificate nor a PKCS#12/PFX file")]
    Unrecognized,
    #[error("the file is damaged or cut short: {0}")]
    Damaged(String),
    #[error("{0} is encrypted: give its password (X-Password)")]
    PasswordNeeded(&'static str),
    #[error("the password is wrong")]
    WrongPassword,
    #[error("the file holds {0} private keys; import one certificate with its own key")]
    SeveralKeys(usize),
    #[error("the file holds no certificate")]
    NoCertificate,
    #[error("the file holds no private key for the certificate, and no pending request of this appliance has its key")]
    NoKey,
    #[error("the private key does not belong to the certificate")]
    KeyMismatch,
    #[error("unsupported: {0} (the appliance serves RSA of 2048 bits or more, ECDSA P-256 or P-384, and Ed25519)")]
    Unsupported(String),
    #[error("the certificate expired on {0}")]
    Expired(String),
    #[error("the certificate may not be used by a TLS server: {0}")]
    Usage(String),
    #[error("the chain is not the certificate's: {0}")]
    Chain(String),
    #[error("this certificate is already in the store, as \"{name}\" ({id})")]
    Duplicate { name: String, id: String },
}

/// What a file holds, before any check.
#[derive(Default)]
pub(crate) struct Contents {
    pub(crate) certs: Vec<Vec<u8>>,
    /// PKCS#8 DER.
    pub(crate) keys: Vec<Vec<u8>>,
    /// The PKCS#12 friendly name, if any.
    pub(crate) name: Option<String>,
}

/// Read `bytes` (PEM, DER certificate or PKCS#12) with `password` for what is encrypted.
pub(crate) fn read(bytes: &[u8], password: Option<&str>) -> Result<Contents, ImportError> {
    if bytes.len() > IMPORT_LIMIT {
        return Err(ImportError::TooLarge {
            limit: IMPORT_LIMIT,
        });
    }
    let trimmed = bytes.trim_ascii_start();
    if trimmed.is_empty() {
        return Err(ImportError::Empty);
    }
    if trimmed.starts_with(b"-----BEGIN") {
        return read_pem(trimmed, password);
    }
    if trimmed[0] != 0x30 {
        return Err(ImportError::Unrecognized);
    }
    if X509Certificate::from_der(bytes).is_ok() {
        return Ok(Contents {
            certs: vec![bytes.to_vec()],
            ..Contents::default()
        });
    }
    read_pkcs12(bytes, password)
}

fn read_pem(bytes: &[u8], password: Option<&str>) -> Result<Contents, ImportError> {
    let count = |needle: &[u8]| bytes.windows(needle.len()).filter(|w| *w == needle).count();
    if count(b"-----BEGIN ") != count(b"-----END ") {
        return Err(ImportError::Damaged(
            "a PEM section has no END line (is the file cut short?)".into(),
        ));
    }
    let sections = pem::parse_many(bytes).map_err(|e| ImportError::Damaged(format!("PEM: {e}")))?;
    let mut out = Contents::default();
    for section in sections {
        match section.tag() {
            "CERTIFICATE" | "X509 CERTIFICATE" => out.certs.push(section.into_contents()),
            "PRIVATE KEY" => out.keys.push(section.into_contents()),
            "RSA PRIVATE KEY" | "EC PRIVATE KEY" if section.headers().get("Proc-Type").is_some() => {
                return Err(ImportError::Unsupported(
                    "a key encrypted the legacy way (Proc-Type); convert it with `openssl pkcs8 -topk8`".into(),
                ))
            }
            "RSA PRIVATE KEY" => out.keys.push(pkcs1_to_pkcs8(section.contents())?),
            "EC PRIVATE KEY" => out.keys.push(sec1_to_pkcs8(section.contents())?),
            "ENCRYPTED PRIVATE KEY" => {
                let password = password.ok_or(ImportError::PasswordNeeded("the private key"))?;
                out.keys.push(decrypt_pkcs8(section.contents(), password)?);
            }
            // EC PARAMETERS (openssl ecparam), a CSR or anything else is not ours to store.
            _ => {}
        }
    }
    if out.certs.is_empty() && out.keys.is_empty() {
        return Err(ImportError::Unrecognized);
    }
    Ok(out)
}

fn decrypt_pkcs8(der: &[u8], password: &str) -> Result<Vec<u8>, ImportError> {
    use pkcs8::pkcs5;
    let info = pkcs8::EncryptedPrivateKeyInfo::try_from(der)
        .map_err(|e| ImportError::Damaged(format!("encrypted private key: {e}")))?;
    let doc = info.decrypt(password).map_err(|e| match e {
        // pkcs5 0.7 names a failed unpadding (a wrong password) EncryptFailed.
        pkcs8::Error::EncryptedPrivateKey(
            pkcs5::Error::DecryptFailed | pkcs5::Error::EncryptFailed,
        ) => ImportError::WrongPassword,
        pkcs8::Error::EncryptedPrivateKey(
            pkcs5::Error::AlgorithmParametersInvalid { .. }
            | pkcs5::Error::UnsupportedAlgorithm { .. },
        ) => ImportError::Unsupported(format!("the private key's encryption ({e})")),
        e => ImportError::Damaged(format!("encrypted private key: {e}")),
    })?;
    // A wrong password may still unpad by chance: what comes out must be a key.
    pkcs8::PrivateKeyInfo::try_from(doc.as_bytes()).map_err(|_| ImportError::WrongPassword)?;
    Ok(doc.as_bytes().to_vec())
}

fn pkcs1_to_pkcs8(der: &[u8]) -> Result<Vec<u8>, ImportError> {
    use pkcs8::der::Encode;
    let algorithm = pkcs8::AlgorithmIdentifierRef {
        oid: pkcs8::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1"),
        parameters: Some(pkcs8::der::asn1::AnyRef::NULL),
    };
    pkcs8::PrivateKeyInfo::new(algorithm, der)
        .to_der()
        .map_err(|e| ImportError::Damaged(format!("RSA private key: {e}")))
}

fn sec1_to_pkcs8(der: &[u8]) -> Result<Vec<u8>, ImportError> {
    use pkcs8::der::{Decode, Encode};
    let damaged = |e: pkcs8::der::Error| ImportError::Damaged(format!("EC private key: {e}"));
    let key = sec1::EcPrivateKey::from_der(der).map_err(damaged)?;
    let curve = key
        .parameters
        .and_then(sec1::EcParameters::named_curve)
        .ok_or_else(|| ImportError::Unsupported("an EC key without a named curve".into()))?;
    let inner = sec1::EcPrivateKey {
        parameters: None,
        ..key
    }
    .to_der()
    .map_err(damaged)?;
    let algorithm = pkcs8::AlgorithmIdentifierRef {
        oid: pkcs8::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1"),
        parameters: Some((&curve).into()),
    };
    pkcs8::PrivateKeyInfo::new(algorithm, &inner)
        .to_der()
        .map_err(damaged)
}

fn read_pkcs12(bytes: &[u8], password: Option<&str>) -> Result<Contents, ImportError> {
    use p12_keystore::error::Error as P12;
    use p12_keystore::KeyStoreEntry;
    let store = p12_keystore::KeyStore::from_pkcs12(bytes, password.unwrap_or("")).map_err(
        |e| match e {
            P12::MacError(_) if password.is_none() => {
                ImportError::PasswordNeeded("the PKCS#12 file")
            }
            P12::MacError(_) | P12::UnpadError => ImportError::WrongPassword,
            P12::DerError(e) => ImportError::Damaged(format!("PKCS#12: {e}")),
            P12::UnsupportedEncryptionScheme | P12::UnsupportedMacAlgorithm => {
                ImportError::Unsupported(format!("the PKCS#12 file's protection ({e})"))
            }
            e => ImportError::Damaged(format!("PKCS#12: {e}")),
        },
    )?;
    let mut out = Contents::default();
    for (alias, entry) in store.entries() {
        match entry {
            KeyStoreEntry::PrivateKeyChain(chain) => {
                out.keys.push(chain.key().to_vec());
                out.certs
                    .extend(chain.chain().iter().map(|c| c.as_der().to_vec()));
                out.name.get_or_insert_with(|| alias.clone());
            }
            KeyStoreEntry::Certificate(cert) => out.certs.push(cert.as_der().to_vec()),
            KeyStoreEntry::Secret(_) => {}
        }
    }
    // A PKCS#12 file carries a certificate with its key; one without (whose certificates
    // the reader does not even keep) is refused as such. A certificate signed for a request
    // of this appliance comes as PEM or DER.
    if out.keys.is_empty() {
        return Err(ImportError::NoKey);
    }
    Ok(out)
}

/// What the store and the list show of a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Info {
    pub(crate) subject: String,
    pub(crate) common_name: Option<String>,
    pub(crate) issuer: String,
    pub(crate) dns_names: Vec<String>,
    pub(crate) ip_addresses: Vec<IpAddr>,
    /// Unix seconds.
    pub(crate) not_before: i64,
    pub(crate) not_after: i64,
    pub(crate) key_type: String,
    /// SHA-256 of the certificate's DER.
    pub(crate) sha256: [u8; 32],
    pub(crate) self_signed: bool,
}

impl Info {
    /// DNS names then addresses, as strings.
    pub(crate) fn sans(&self) -> Vec<String> {
        self.dns_names
            .iter()
            .cloned()
            .chain(self.ip_addresses.iter().map(ToString::to_string))
            .collect()
    }

    /// Whether it names `host` (a DNS name, case-insensitive, `*.` covering one label).
    pub(crate) fn names_host(&self, host: &str) -> bool {
        self.dns_names.iter().any(|name| dns_matches(name, host))
    }
}

pub(crate) fn dns_matches(pattern: &str, host: &str) -> bool {
    match pattern.strip_prefix("*.") {
        Some(rest) => host
            .split_once('.')
            .is_some_and(|(label, tail)| !label.is_empty() && tail.eq_ignore_ascii_case(rest)),
        None => pattern.eq_ignore_ascii_case(host),
    }
}

pub(crate) fn parse(der: &[u8]) -> Result<X509Certificate<'_>, ImportError> {
    match X509Certificate::from_der(der) {
        Ok(([], cert)) => Ok(cert),
        Ok(_) => Err(ImportError::Damaged(
            "bytes after the end of a certificate".into(),
        )),
        Err(e) => Err(ImportError::Damaged(format!("certificate: {e}"))),
    }
}

/// Read what is shown of a certificate.
pub(crate) fn info(der: &[u8]) -> Result<Info, ImportError> {
    let cert = parse(der)?;
    let (mut dns_names, mut ip_addresses) = (Vec::new(), Vec::new());
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for name in &san.value.general_names {
            match name {
                GeneralName::DNSName(n) => dns_names.push(n.to_ascii_lowercase()),
                GeneralName::IPAddress(b) => match b.len() {
                    4 => {
                        ip_addresses
                            .push(IpAddr::from(<[u8; 4]>::try_from(*b).unwrap_or_default()));
                    }
                    16 => {
                        ip_addresses
                            .push(IpAddr::from(<[u8; 16]>::try_from(*b).unwrap_or_default()));
                    }
                    _ => {}
                },
                _ => {}
            }
        }
    }
    let common_name = cert
        .subject()
        .iter_common_name()
        .next()
        .and_then(|cn| cn.as_str().ok())
        .map(str::to_string);
    let self_signed =
        cert.subject().as_raw() == cert.issuer().as_raw() && cert.verify_signature(None).is_ok();
    Ok(Info {
        subject: cert.subject().to_string(),
        common_name,
        issuer: cert.issuer().to_string(),
        dns_names,
        ip_addresses,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
        key_type: key_type(&cert),
        sha256: sha256(der),
        self_signed,
    })
}

pub(crate) fn sha256(bytes: &[u8]) -> [u8; 32] {
    let digest = ring::digest::digest(&ring::digest::SHA256, bytes);
    let mut out = [0; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

fn key_type(cert: &X509Certificate<'_>) -> String {
    use x509_parser::public_key::PublicKey;
    let spki = cert.public_key();
    let curve = spki
        .algorithm
        .parameters
        .as_ref()
        .and_then(|p| p.as_oid().ok())
        .map(|oid| oid.to_id_string());
    match (spki.parsed(), curve.as_deref()) {
        (Ok(PublicKey::RSA(rsa)), _) => format!("rsa-{}", rsa.key_size()),
        (Ok(PublicKey::EC(_)), Some("1.2.840.10045.3.1.7")) => "ecdsa-p256".into(),
        (Ok(PublicKey::EC(_)), Some("1.3.132.0.34")) => "ecdsa-p384".into(),
        (Ok(PublicKey::EC(_)), Some("1.3.132.0.35")) => "ecdsa-p521".into(),
        _ if spki.algorithm.algorithm.to_id_string() == "1.3.101.112" => "ed25519".into(),
        _ => spki.algorithm.algorithm.to_id_string(),
    }
}

/// Something accepted that the operator should know.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Warning {
    pub(crate) code: &'static str,
    pub(crate) message: String,
}

/// A certificate that passed every check: leaf first, then its chain in order.
#[derive(Debug)]
pub(crate) struct Checked {
    pub(crate) chain: Vec<CertificateDer<'static>>,
    pub(crate) key: PrivatePkcs8KeyDer<'static>,
    pub(crate) info: Info,
    pub(crate) certified: Arc<CertifiedKey>,
    pub(crate) warnings: Vec<Warning>,
    /// The pending request whose key it took, if it came without one.
    pub(crate) request: Option<String>,
    pub(crate) name: Option<String>,
}

/// The names a certificate should match (host name and local addresses) and the keys of
/// pending requests (id, SPKI DER, PKCS#8 DER).
pub(crate) struct Context<'a> {
    pub(crate) hostname: &'a str,
    pub(crate) addresses: &'a [IpAddr],
    pub(crate) pending: &'a [(String, Vec<u8>, Vec<u8>)],
    /// Unix seconds.
    pub(crate) now: i64,
}

/// Check `contents` completely; the answer is ready to store and serve.
pub(crate) fn check(contents: Contents, context: &Context<'_>) -> Result<Checked, ImportError> {
    if contents.certs.is_empty() {
        return Err(ImportError::NoCertificate);
    }
    if contents.keys.len() > 1 {
        return Err(ImportError::SeveralKeys(contents.keys.len()));
    }
    let parsed = contents
        .certs
        .iter()
        .map(|der| parse(der))
        .collect::<Result<Vec<_>, _>>()?;
    let spki_of = |i: usize| parsed[i].public_key().raw;
    // The leaf: the key's certificate, or (no key) the one that issued none of the others,
    // whose key a pending request holds.
    let (leaf, key_der, request) = if let Some(key_der) = contents.keys.first() {
        let signing = signing_key(key_der)?;
        let public = signing
            .public_key()
            .ok_or_else(|| ImportError::Unsupported("a key whose public half is unknown".into()))?;
        let leaf = (0..parsed.len())
            .find(|&i| spki_of(i) == public.as_ref())
            .ok_or(ImportError::KeyMismatch)?;
        (leaf, key_der.clone(), None)
    } else {
        let issues_another = |i: usize| {
            (0..parsed.len())
                .any(|j| j != i && parsed[j].issuer().as_raw() == parsed[i].subject().as_raw())
        };
        let leaf = (0..parsed.len()).find(|&i| !issues_another(i)).unwrap_or(0);
        let (id, _, key) = context
            .pending
            .iter()
            .find(|(_, spki, _)| spki.as_slice() == spki_of(leaf))
            .ok_or(ImportError::NoKey)?;
        (leaf, key.clone(), Some(id.clone()))
    };
    let (order, reordered) = order_chain(&parsed, leaf)?;
    let info = info(&contents.certs[leaf])?;
    let leaf_cert = &parsed[leaf];
    if context.now > info.not_after {
        return Err(ImportError::Expired(super::store::rfc3339(info.not_after)));
    }
    check_usage(leaf_cert)?;
    let chain: Vec<CertificateDer<'static>> = order
        .iter()
        .map(|&i| CertificateDer::from(contents.certs[i].clone()))
        .collect();
    let key = PrivatePkcs8KeyDer::from(key_der);
    let certified = certified(&chain, &key)?;
    let mut warnings = warnings(&info, context);
    if reordered {
        warnings.push(Warning {
            code: "chain_reordered",
            message: "the chain was given out of order; it is stored and served leaf first".into(),
        });
    }
    Ok(Checked {
        chain,
        key,
        info,
        certified,
        warnings,
        request,
        name: contents.name,
    })
}

fn signing_key(pkcs8_der: &[u8]) -> Result<Arc<dyn rustls::sign::SigningKey>, ImportError> {
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(pkcs8_der.to_vec()));
    super::provider()
        .key_provider
        .load_private_key(key)
        .map_err(|e| {
            let algorithm = pkcs8::PrivateKeyInfo::try_from(pkcs8_der).map_or_else(
                |_| format!("the private key ({e})"),
                |k| match k.algorithm.oid.to_string().as_str() {
                    "1.2.840.113549.1.1.1" => {
                        "this RSA key (under 2048 bits, or malformed)".to_string()
                    }
                    "1.2.840.10045.2.1" => "this EC key's curve".to_string(),
                    "1.3.101.113" => "Ed448 keys".to_string(),
                    oid => format!("key algorithm {oid}"),
                },
            );
            ImportError::Unsupported(algorithm)
        })
}

/// Certificate chain and key as rustls serves them.
pub(crate) fn certified(
    chain: &[CertificateDer<'static>],
    key: &PrivatePkcs8KeyDer<'static>,
) -> Result<Arc<CertifiedKey>, ImportError> {
    let certified = CertifiedKey::from_der(
        chain.to_vec(),
        PrivateKeyDer::Pkcs8(key.clone_key()),
        &super::provider(),
    )
    .map_err(|e| match e {
        rustls::Error::InconsistentKeys(_) => ImportError::KeyMismatch,
        e => ImportError::Unsupported(e.to_string()),
    })?;
    certified
        .keys_match()
        .map_err(|_| ImportError::KeyMismatch)?;
    Ok(Arc::new(certified))
}

/// The leaf, then each certificate's issuer among the others (its signature checked), until
/// a self-signed one or no issuer is left. A certificate left over is refused.
fn order_chain(
    parsed: &[X509Certificate<'_>],
    leaf: usize,
) -> Result<(Vec<usize>, bool), ImportError> {
    let mut order = vec![leaf];
    loop {
        let current = &parsed[*order.last().unwrap_or(&leaf)];
        if current.subject().as_raw() == current.issuer().as_raw() {
            break;
        }
        let next = (0..parsed.len()).find(|i| {
            !order.contains(i) && parsed[*i].subject().as_raw() == current.issuer().as_raw()
        });
        let Some(next) = next else { break };
        current
            .verify_signature(Some(parsed[next].public_key()))
            .map_err(|_| {
                ImportError::Chain(format!(
                    "\"{}\" is not signed by the certificate named \"{}\" given with it",
                    current.subject(),
                    parsed[next].subject()
                ))
            })?;
        order.push(next);
    }
    if let Some(stray) = (0..parsed.len()).find(|i| !order.contains(i)) {
        return Err(ImportError::Chain(format!(
            "\"{}\" is not in the chain of \"{}\"",
            parsed[stray].subject(),
            parsed[leaf].subject()
        )));
    }
    let reordered = order.iter().enumerate().any(|(pos, &i)| pos != i);
    Ok((order, reordered))
}

fn check_usage(cert: &X509Certificate<'_>) -> Result<(), ImportError> {
    if let Ok(Some(ku)) = cert.key_usage() {
        if !ku.value.digital_signature() && !ku.value.key_encipherment() {
            return Err(ImportError::Usage(format!(
                "its key usage is {} (a TLS server needs digitalSignature)",
                ku.value
            )));
        }
    }
    if let Ok(Some(eku)) = cert.extended_key_usage() {
        if !eku.value.server_auth && !eku.value.any {
            return Err(ImportError::Usage(
                "its extended key usage does not include serverAuth".into(),
            ));
        }
    }
    Ok(())
}

fn warnings(info: &Info, context: &Context<'_>) -> Vec<Warning> {
    let mut out = Vec::new();
    let mut warn = |code, message: String| out.push(Warning { code, message });
    if context.now < info.not_before {
        warn(
            "not_yet_valid",
            format!(
                "it is valid only from {} (check the appliance's clock)",
                super::store::rfc3339(info.not_before)
            ),
        );
    }
    if info.not_after.saturating_sub(context.now) < SOON {
        warn(
            "expires_soon",
            format!(
                "it expires in {} days, on {}",
                info.not_after.saturating_sub(context.now) / 86_400,
                super::store::rfc3339(info.not_after)
            ),
        );
    }
    let host = context.hostname;
    let named = (!host.is_empty() && info.names_host(host))
        || info
            .ip_addresses
            .iter()
            .any(|ip| context.addresses.contains(ip));
    if !named {
        warn(
            "name_mismatch",
            format!(
                "it names neither the host name {host:?} nor an address of this appliance \
                 (browsers will warn unless it is reached by a name it holds)"
            ),
        );
    }
    if info.self_signed {
        warn(
            "self_signed",
            "it is self-signed: browsers will warn unless it is trusted by hand".into(),
        );
    }
    if let Some(bits) = info
        .key_type
        .strip_prefix("rsa-")
        .and_then(|b| b.parse::<u32>().ok())
    {
        if bits < 2048 {
            warn(
                "weak_key",
                format!("its RSA key has {bits} bits (2048 at least is advised)"),
            );
        }
    }
    out
}

#[cfg(test)]
#[path = "import_tests.rs"]
mod tests;

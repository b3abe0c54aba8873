//! Every way an import is read, accepted or refused. Keys and certificates are made with
//! rcgen, and with the openssl command where a format is openssl's to write (PKCS#1,
//! SEC1, encrypted PKCS#8, PKCS#12, RSA and Ed448 keys).

use super::*;
use crate::testdir::TestDir;
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};
use std::path::Path;
use std::process::Command;

const DAY: i64 = 86_400;

fn now() -> i64 {
    super::super::store::now()
}

struct Made {
    cert: rcgen::Certificate,
    key: KeyPair,
}

impl Made {
    fn pem(&self) -> String {
        self.cert.pem()
    }
    fn key_pem(&self) -> String {
        self.key.serialize_pem()
    }
}

fn params(name: &str, from: i64, to: i64) -> CertificateParams {
    let mut p = CertificateParams::new(vec![name.to_string()]).unwrap();
    p.distinguished_name.push(DnType::CommonName, name);
    p.not_before = time::OffsetDateTime::from_unix_timestamp(from).unwrap();
    p.not_after = time::OffsetDateTime::from_unix_timestamp(to).unwrap();
    p
}

fn ca(name: &str, issuer: Option<&Made>) -> Made {
    let mut p = params(name, now() - DAY, now() + 3650 * DAY);
    p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    p.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let key = KeyPair::generate().unwrap();
    let cert = match issuer {
        Some(i) => p.signed_by(&key, &i.cert, &i.key).unwrap(),
        None => p.self_signed(&key).unwrap(),
    };
    Made { cert, key }
}

fn leaf_with(p: CertificateParams, issuer: &Made) -> Made {
    let key = KeyPair::generate().unwrap();
    let cert = p.signed_by(&key, &issuer.cert, &issuer.key).unwrap();
    Made { cert, key }
}

fn leaf(name: &str, issuer: &Made) -> Made {
    leaf_with(params(name, now() - DAY, now() + 365 * DAY), issuer)
}

fn context<'a>(pending: &'a [(String, Vec<u8>, Vec<u8>)]) -> Context<'a> {
    Context {
        hostname: "support.example.com",
        addresses: &[],
        pending,
        now: now(),
    }
}

fn import(bytes: &[u8], password: Option<&str>) -> Result<Checked, ImportError> {
    check(read(bytes, password)?, &context(&[]))
}

fn codes(c: &Checked) -> Vec<&'static str> {
    c.warnings.iter().map(|w| w.code).collect()
}

fn openssl(dir: &Path, args: &[&str]) {
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
}

#[test]
fn a_pem_chain_is_read_checked_and_put_in_order() {
    let root = ca("Test Root", None);
    let inter = ca("Test Intermediate", Some(&root));
    let cert = leaf("support.example.com", &inter);
    // In order: leaf, intermediate, key.
    let pem = format!("{}{}{}", cert.pem(), inter.pem(), cert.key_pem());
    let ok = import(pem.as_bytes(), None).unwrap();
    assert_eq!(ok.chain.len(), 2);
    assert_eq!(ok.chain[0].as_ref(), cert.cert.der().as_ref());
    assert!(codes(&ok).is_empty(), "{:?}", ok.warnings);
    assert_eq!(ok.info.key_type, "ecdsa-p256");
    assert_eq!(ok.info.dns_names, vec!["support.example.com"]);
    // Out of order (key first, root, intermediate, leaf): reordered leaf first.
    let pem = format!(
        "{}{}{}{}",
        cert.key_pem(),
        root.pem(),
        inter.pem(),
        cert.pem()
    );
    let ok = import(pem.as_bytes(), None).unwrap();
    let order: Vec<&[u8]> = ok.chain.iter().map(AsRef::as_ref).collect();
    assert_eq!(
        order,
        vec![
            cert.cert.der().as_ref(),
            inter.cert.der().as_ref(),
            root.cert.der().as_ref()
        ]
    );
    assert_eq!(codes(&ok), vec!["chain_reordered"]);
}

#[test]
fn refusals_say_why() {
    let root = ca("Test Root", None);
    let cert = leaf("support.example.com", &root);
    let other = leaf("other.example.com", &root);
    // The key of another certificate.
    let pem = format!("{}{}", cert.pem(), other.key_pem());
    assert!(matches!(
        import(pem.as_bytes(), None),
        Err(ImportError::KeyMismatch)
    ));
    // Two keys.
    let pem = format!("{}{}{}", cert.pem(), cert.key_pem(), other.key_pem());
    assert!(matches!(
        import(pem.as_bytes(), None),
        Err(ImportError::SeveralKeys(2))
    ));
    // A certificate alone, no request pending.
    assert!(matches!(
        import(cert.pem().as_bytes(), None),
        Err(ImportError::NoKey)
    ));
    // A key alone.
    assert!(matches!(
        import(cert.key_pem().as_bytes(), None),
        Err(ImportError::NoCertificate)
    ));
    // A certificate that is not in the leaf's chain.
    let stray = ca("Someone Else", None);
    let pem = format!("{}{}{}", cert.pem(), stray.pem(), cert.key_pem());
    assert!(matches!(
        import(pem.as_bytes(), None),
        Err(ImportError::Chain(_))
    ));
    // An issuer with the right name but another key: the signature does not hold.
    let impostor = ca("Test Root", None);
    let pem = format!("{}{}{}", cert.pem(), impostor.pem(), cert.key_pem());
    assert!(matches!(
        import(pem.as_bytes(), None),
        Err(ImportError::Chain(_))
    ));
    // Expired.
    let old = leaf_with(
        params("old.example.com", now() - 400 * DAY, now() - DAY),
        &root,
    );
    let pem = format!("{}{}", old.pem(), old.key_pem());
    assert!(matches!(
        import(pem.as_bytes(), None),
        Err(ImportError::Expired(_))
    ));
    // Key usage for CAs only; extended key usage for clients only.
    let mut p = params("ca-only.example.com", now() - DAY, now() + 365 * DAY);
    p.key_usages = vec![KeyUsagePurpose::KeyCertSign];
    let bad = leaf_with(p, &root);
    let pem = format!("{}{}", bad.pem(), bad.key_pem());
    assert!(matches!(
        import(pem.as_bytes(), None),
        Err(ImportError::Usage(_))
    ));
    let mut p = params("client.example.com", now() - DAY, now() + 365 * DAY);
    p.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
    let bad = leaf_with(p, &root);
    let pem = format!("{}{}", bad.pem(), bad.key_pem());
    assert!(matches!(
        import(pem.as_bytes(), None),
        Err(ImportError::Usage(_))
    ));
}

#[test]
fn garbage_truncated_empty_and_huge_files_are_refused() {
    assert!(matches!(import(b"", None), Err(ImportError::Empty)));
    assert!(matches!(import(b"  \n", None), Err(ImportError::Empty)));
    assert!(matches!(
        import(b"hello, this is not a certificate", None),
        Err(ImportError::Unrecognized)
    ));
    let root = ca("Test Root", None);
    let cert = leaf("support.example.com", &root);
    let pem = format!("{}{}", cert.pem(), cert.key_pem());
    let cut = &pem.as_bytes()[..pem.len() / 2];
    assert!(
        matches!(import(cut, None), Err(ImportError::Damaged(_))),
        "{:?}",
        import(cut, None).err()
    );
    // DER cut short.
    let der = cert.cert.der().to_vec();
    assert!(matches!(
        import(&der[..der.len() - 10], None),
        Err(ImportError::Damaged(_))
    ));
    // A 10 MB upload, refused before anything is parsed.
    let huge = vec![b'A'; 10 << 20];
    assert!(matches!(
        import(&huge, None),
        Err(ImportError::TooLarge { .. })
    ));
}

#[test]
fn warnings_for_soon_not_yet_self_signed_and_foreign_names() {
    let root = ca("Test Root", None);
    let soon = leaf_with(
        params("support.example.com", now() - DAY, now() + 10 * DAY),
        &root,
    );
    let ok = import(format!("{}{}", soon.pem(), soon.key_pem()).as_bytes(), None).unwrap();
    assert_eq!(codes(&ok), vec!["expires_soon"]);
    let later = leaf_with(
        params("support.example.com", now() + DAY, now() + 365 * DAY),
        &root,
    );
    let ok = import(
        format!("{}{}", later.pem(), later.key_pem()).as_bytes(),
        None,
    )
    .unwrap();
    assert_eq!(codes(&ok), vec!["not_yet_valid"]);
    let key = KeyPair::generate().unwrap();
    let own = params("elsewhere.example.org", now() - DAY, now() + 365 * DAY)
        .self_signed(&key)
        .unwrap();
    let ok = import(
        format!("{}{}", own.pem(), key.serialize_pem()).as_bytes(),
        None,
    )
    .unwrap();
    assert_eq!(codes(&ok), vec!["name_mismatch", "self_signed"]);
    // A wildcard names the host.
    let wild = leaf("*.example.com", &root);
    let ok = import(format!("{}{}", wild.pem(), wild.key_pem()).as_bytes(), None).unwrap();
    assert!(codes(&ok).is_empty());
    assert!(dns_matches("*.example.com", "Support.example.com"));
    assert!(!dns_matches("*.example.com", "a.b.example.com"));
    assert!(!dns_matches("*.example.com", "example.com"));
}

#[test]
fn a_certificate_alone_takes_the_key_of_its_pending_request() {
    let root = ca("Test Root", None);
    let cert = leaf("support.example.com", &root);
    let pending = vec![(
        "req1".to_string(),
        cert.key.public_key_der(),
        cert.key.serialize_der(),
    )];
    let ok = check(
        read(cert.pem().as_bytes(), None).unwrap(),
        &context(&pending),
    )
    .unwrap();
    assert_eq!(ok.request.as_deref(), Some("req1"));
    // DER alone too.
    let ok = check(read(cert.cert.der(), None).unwrap(), &context(&pending)).unwrap();
    assert_eq!(ok.request.as_deref(), Some("req1"));
}

#[test]
fn openssl_key_formats_and_encrypted_keys() {
    let dir = TestDir::new("import-openssl");
    let d = dir.path();
    // SEC1 (EC PRIVATE KEY) and PKCS#1 (RSA PRIVATE KEY) keys with self-signed certificates.
    openssl(
        d,
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-out",
            "ec.key",
        ],
    );
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-key",
            "ec.key",
            "-subj",
            "/CN=support.example.com",
            "-days",
            "20",
            "-out",
            "ec.crt",
        ],
    );
    openssl(d, &["genrsa", "-traditional", "-out", "rsa.key", "2048"]);
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-key",
            "rsa.key",
            "-subj",
            "/CN=support.example.com",
            "-days",
            "90",
            "-out",
            "rsa.crt",
        ],
    );
    let read_file = |n: &str| std::fs::read(d.join(n)).unwrap();
    let joined = |a: &str, b: &str| [read_file(a), read_file(b)].concat();
    let ec = joined("ec.crt", "ec.key");
    assert!(String::from_utf8_lossy(&ec).contains("EC PRIVATE KEY"));
    let ok = import(&ec, None).unwrap();
    assert_eq!(ok.info.key_type, "ecdsa-p256");
    assert!(codes(&ok).contains(&"expires_soon"));
    let rsa = joined("rsa.crt", "rsa.key");
    assert!(String::from_utf8_lossy(&rsa).contains("RSA PRIVATE KEY"));
    assert_eq!(import(&rsa, None).unwrap().info.key_type, "rsa-2048");

    // Encrypted PKCS#8 (AES-256, PBKDF2).
    openssl(
        d,
        &[
            "pkcs8",
            "-topk8",
            "-in",
            "ec.key",
            "-v2",
            "aes-256-cbc",
            "-passout",
            "pass:secret-pass",
            "-out",
            "ec.enc",
        ],
    );
    let enc = joined("ec.crt", "ec.enc");
    assert!(import(&enc, Some("secret-pass")).is_ok());
    let err = import(&enc, Some("wrong-pass")).err();
    assert!(matches!(err, Some(ImportError::WrongPassword)), "{err:?}");
    assert!(matches!(
        import(&enc, None),
        Err(ImportError::PasswordNeeded(_))
    ));

    // An RSA key under 2048 bits, and an Ed448 key: not servable.
    openssl(d, &["genrsa", "-out", "weak.key", "1024"]);
    openssl(
        d,
        &[
            "req", "-x509", "-key", "weak.key", "-subj", "/CN=weak", "-days", "30", "-out",
            "weak.crt",
        ],
    );
    assert!(matches!(
        import(&joined("weak.crt", "weak.key"), None),
        Err(ImportError::Unsupported(_))
    ));
    openssl(d, &["genpkey", "-algorithm", "ed448", "-out", "ed448.key"]);
    openssl(
        d,
        &[
            "req",
            "-x509",
            "-key",
            "ed448.key",
            "-subj",
            "/CN=ed448",
            "-days",
            "30",
            "-out",
            "ed448.crt",
        ],
    );
    let err = import(&joined("ed448.crt", "ed448.key"), None).err();
    assert!(matches!(err, Some(ImportError::Unsupported(_))), "{err:?}");
}

#[test]
fn pkcs12_files_in_and_out() {
    let dir = TestDir::new("import-p12");
    let d = dir.path();
    let root = ca("Test Root", None);
    let cert = leaf("support.example.com", &root);
    std::fs::write(d.join("leaf.crt"), cert.pem()).unwrap();
    std::fs::write(d.join("leaf.key"), cert.key_pem()).unwrap();
    std::fs::write(d.join("root.crt"), root.pem()).unwrap();
    openssl(
        d,
        &[
            "pkcs12",
            "-export",
            "-in",
            "leaf.crt",
            "-inkey",
            "leaf.key",
            "-certfile",
            "root.crt",
            "-name",
            "Support",
            "-passout",
            "pass:p12-secret",
            "-out",
            "a.p12",
        ],
    );
    let p12 = std::fs::read(d.join("a.p12")).unwrap();
    let ok = import(&p12, Some("p12-secret")).unwrap();
    assert_eq!(ok.chain.len(), 2);
    assert_eq!(ok.chain[0].as_ref(), cert.cert.der().as_ref());
    assert_eq!(ok.name.as_deref(), Some("Support"));
    assert!(matches!(
        import(&p12, Some("wrong")),
        Err(ImportError::WrongPassword)
    ));
    assert!(matches!(
        import(&p12, None),
        Err(ImportError::PasswordNeeded(_))
    ));
    assert!(matches!(
        import(&p12[..p12.len() / 2], Some("p12-secret")),
        Err(ImportError::Damaged(_))
    ));
    // Certificates without their key.
    openssl(
        d,
        &[
            "pkcs12",
            "-export",
            "-nokeys",
            "-in",
            "leaf.crt",
            "-passout",
            "pass:p12-secret",
            "-out",
            "nokey.p12",
        ],
    );
    let nokey = std::fs::read(d.join("nokey.p12")).unwrap();
    let err = import(&nokey, Some("p12-secret")).err();
    assert!(matches!(err, Some(ImportError::NoKey)), "{err:?}");

    // Written here, read back here (openssl reads it in the daemon's tests).
    let written = super::super::pkcs12::write(
        &ok.chain,
        ok.key.secret_pkcs8_der(),
        "Support",
        "export-secret",
    )
    .unwrap();
    let back = import(&written, Some("export-secret")).unwrap();
    assert_eq!(back.chain, ok.chain);
    assert_eq!(back.key.secret_pkcs8_der(), ok.key.secret_pkcs8_der());

    // Two keys in one file.
    let other = leaf("other.example.com", &root);
    let mut two = p12_keystore::KeyStore::new();
    for (alias, m) in [("one", &cert), ("two", &other)] {
        let chain = vec![p12_keystore::Certificate::from_der(m.cert.der()).unwrap()];
        two.add_entry(
            alias,
            p12_keystore::KeyStoreEntry::PrivateKeyChain(p12_keystore::PrivateKeyChain::new(
                m.key.serialize_der(),
                alias.as_bytes(),
                chain,
            )),
        );
    }
    let two = two.writer("two-secret").write().unwrap();
    assert!(matches!(
        import(&two, Some("two-secret")),
        Err(ImportError::SeveralKeys(2))
    ));
}

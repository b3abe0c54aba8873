//! Packages built, verified, damaged and refused, end to end through the public API.

use std::fs;
use std::io::{self, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use crate::keys::sign_manifest;
use crate::*;

struct TempDir(PathBuf);

impl TempDir {
    fn new(tag: &str) -> Self {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let p = std::env::temp_dir().join(format!("package-{tag}-{}-{n}", std::process::id()));
        let _ = fs::remove_dir_all(&p);
        fs::create_dir_all(&p).unwrap();
        TempDir(p)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// xorshift64: enough randomness for test data and cut points, reproducible.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

fn key(n: u8) -> Signer {
    Signer::from_seed(&[n; 32])
}

fn ring(keys: &[&Signer]) -> Keyring {
    let mut r = Keyring::new();
    for k in keys {
        r.add(k.public().clone());
    }
    r
}

fn meta() -> Metadata {
    Metadata {
        version: Version::new(1, 2, 3),
        profiles: vec!["box".into(), "vm".into()],
        requires: vec![],
        floor: Some(Version::new(1, 0, 0)),
        created: 1_704_067_200,
    }
}

/// A base package around a random slot image of `size` bytes, signed by `signers`.
fn base_package(size: usize, signers: &[Signer]) -> (Vec<u8>, Vec<u8>) {
    let dir = TempDir::new("base");
    let slot = Rng(size as u64 + 1).bytes(size);
    fs::write(dir.path("slot.sqfs"), &slot).unwrap();
    let out = dir.path("update.pkg");
    build_base(&dir.path("slot.sqfs"), &meta(), &out, signers).unwrap();
    (fs::read(out).unwrap(), slot)
}

fn code(r: Result<impl Sized>) -> &'static str {
    match r {
        Ok(_) => "ok",
        Err(e) => e.code(),
    }
}

/// Where the only payload's data starts in a package we built: after three headers and
/// the padded manifest and signature.
fn payload_offset(pkg: &[u8]) -> usize {
    let mut at = 0;
    for _ in 0..2 {
        let size = tar::Header::from_byte_slice(&pkg[at..at + 512])
            .entry_size()
            .unwrap() as usize;
        at += 512 + size.div_ceil(512) * 512;
    }
    at + 512
}

/// A tar of the given entries, as a package would be if someone made it by hand.
fn raw_tar(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        crate::archive::append(&mut b, name, 0o644, data.len() as u64, 0, *data).unwrap();
    }
    b.into_inner().unwrap()
}

/// A signed manifest (and its signature file) for one base payload holding `payload`.
fn signed_base_manifest(payload: &[u8], signers: &[Signer]) -> (Vec<u8>, Vec<u8>) {
    let m = Manifest {
        format: FORMAT,
        kind: Kind::Base,
        name: BASE_NAME.into(),
        version: Version::new(1, 0, 0),
        profiles: vec!["box".into()],
        requires: vec![],
        floor: None,
        created: 0,
        payloads: vec![Payload {
            name: BASE_PAYLOAD.into(),
            size: payload.len() as u64,
            sha256: hex::encode(<sha2::Sha256 as sha2::Digest>::digest(payload)),
            compression: Compression::None,
            installed_size: payload.len() as u64,
        }],
    };
    let json = m.to_json();
    let sig = sign_manifest(&json, signers).unwrap();
    (json, sig)
}

#[test]
fn base_round_trip() {
    let (pkg, slot) = base_package(100_000, &[key(1)]);
    let (m, mut payloads) = PackageReader::open(&pkg[..], &ring(&[&key(1)])).unwrap();
    assert_eq!(m.kind, Kind::Base);
    assert_eq!(m.version, Version::new(1, 2, 3));
    assert_eq!(m.signed_by(), &[key(1).id()]);
    assert!(m.supports_profile("vm") && !m.supports_profile("virtio"));
    let mut p = payloads.next_payload().unwrap().unwrap();
    assert_eq!(p.payload().name, BASE_PAYLOAD);
    let mut got = Vec::new();
    p.read_to_end(&mut got).unwrap();
    assert_eq!(got, slot);
    assert!(payloads.next_payload().unwrap().is_none());
    assert!(payloads.next_payload().unwrap().is_none());

    let (inspected, ids) = inspect_reader(&pkg[..]).unwrap();
    assert_eq!(inspected, *m);
    assert_eq!(ids, vec![key(1).id()]);
}

#[test]
fn site_round_trip_gives_the_tree_back() {
    let dir = TempDir::new("site");
    let tree = dir.path("tree");
    fs::create_dir_all(tree.join("www/img")).unwrap();
    fs::write(tree.join("www/index.html"), "<h1>portal</h1>\n").unwrap();
    fs::write(tree.join("www/img/logo.png"), Rng(9).bytes(5000)).unwrap();
    fs::write(tree.join("run.sh"), "#!/bin/sh\n").unwrap();
    fs::set_permissions(tree.join("run.sh"), fs::Permissions::from_mode(0o700)).unwrap();
    let out = dir.path("portal.pkg");
    let mut meta = meta();
    meta.floor = None;
    meta.requires = vec![Requirement {
        name: "base".into(),
        min_version: Version::new(1, 0, 1),
    }];
    let built = build_site(&tree, "portal", &meta, &out, &[key(1)]).unwrap();
    assert_eq!(built.payloads[0].compression, Compression::Zstd);

    let file = fs::File::open(&out).unwrap();
    let (m, mut payloads) = PackageReader::open(file, &ring(&[&key(1)])).unwrap();
    assert_eq!(*m, built);
    assert_eq!(m.name, "portal");
    let p = payloads.next_payload().unwrap().unwrap();
    let mut listing = Vec::new();
    let mut tar = tar::Archive::new(zstd::Decoder::new(p).unwrap());
    let mut installed = 0;
    for e in tar.entries().unwrap() {
        let mut e = e.unwrap();
        let h = e.header().clone();
        let mut data = Vec::new();
        e.read_to_end(&mut data).unwrap();
        installed += data.len();
        listing.push(format!(
            "{} {:o} {} {}",
            e.path().unwrap().display(),
            h.mode().unwrap(),
            h.uid().unwrap(),
            h.mtime().unwrap()
        ));
    }
    assert_eq!(
        listing,
        [
            "run.sh 755 0 1704067200",
            "www 755 0 1704067200",
            "www/img 755 0 1704067200",
            "www/img/logo.png 644 0 1704067200",
            "www/index.html 644 0 1704067200",
        ]
    );
    assert_eq!(installed, 5000 + 16 + 10);
    assert!(m.payloads[0].installed_size > installed as u64);
    assert!(verify_file(&out, &ring(&[&key(1)])).is_ok());
}

#[test]
fn site_refuses_symlinks() {
    let dir = TempDir::new("link");
    let tree = dir.path("tree");
    fs::create_dir_all(&tree).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", tree.join("passwd")).unwrap();
    let mut meta = meta();
    meta.floor = None;
    let out = dir.path("x.pkg");
    assert_eq!(
        code(build_site(&tree, "x", &meta, &out, &[key(1)])),
        "build"
    );
    assert!(!out.exists());
    assert!(
        fs::read_dir(&dir.0).unwrap().count() == 1,
        "temporary files left"
    );
}

#[test]
fn builds_are_reproducible() {
    let (a, _) = base_package(3000, &[key(1), key(2)]);
    let (b, _) = base_package(3000, &[key(1), key(2)]);
    assert_eq!(a, b);

    let dir = TempDir::new("repro");
    let tree = dir.path("tree");
    fs::create_dir_all(tree.join("d")).unwrap();
    fs::write(tree.join("d/f"), "x").unwrap();
    let mut meta = meta();
    meta.floor = None;
    build_site(&tree, "s", &meta, &dir.path("1"), &[key(1)]).unwrap();
    // Times and modes of the tree do not matter.
    std::thread::sleep(std::time::Duration::from_millis(20));
    fs::write(tree.join("d/f"), "x").unwrap();
    fs::set_permissions(tree.join("d/f"), fs::Permissions::from_mode(0o600)).unwrap();
    build_site(&tree, "s", &meta, &dir.path("2"), &[key(1)]).unwrap();
    assert_eq!(
        fs::read(dir.path("1")).unwrap(),
        fs::read(dir.path("2")).unwrap()
    );
}

#[test]
fn a_flipped_payload_byte_fails_at_the_end_of_the_payload() {
    let size = 10_000;
    let (pkg, _) = base_package(size, &[key(1)]);
    let start = payload_offset(&pkg);
    let ring = ring(&[&key(1)]);
    let mut rng = Rng(7);
    let mut positions = vec![0, 1, size / 2, size - 1];
    positions.extend((0..20).map(|_| rng.below(size)));
    for pos in positions {
        let mut bad = pkg.clone();
        bad[start + pos] ^= 0x01;
        let (_, mut payloads) = PackageReader::open(&bad[..], &ring).unwrap();
        let mut p = payloads.next_payload().unwrap().unwrap();
        let mut buf = [0u8; 1000];
        let err = loop {
            match p.read(&mut buf) {
                Ok(0) => panic!("byte {pos}: the damaged payload was accepted"),
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        // Every byte was handed out before the verdict.
        assert_eq!(p.bytes_read(), size as u64, "byte {pos}");
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        assert_eq!(Error::from(err).code(), "hash_mismatch", "byte {pos}");
        // The verdict stays.
        assert!(p.read(&mut buf).is_err());
    }
}

#[test]
fn a_flipped_manifest_byte_is_a_bad_signature() {
    let (pkg, _) = base_package(100, &[key(1)]);
    let size = tar::Header::from_byte_slice(&pkg[..512])
        .entry_size()
        .unwrap() as usize;
    let ring = ring(&[&key(1)]);
    for pos in 512..512 + size {
        let mut bad = pkg.clone();
        bad[pos] ^= 0x20;
        let r = PackageReader::open(&bad[..], &ring);
        assert_eq!(code(r), "bad_signature", "byte {pos}");
    }
}

#[test]
fn signatures_unsigned_unknown_rotation_and_tampering() {
    let payload = b"slot";
    let (json, _) = signed_base_manifest(payload, &[key(1)]);
    let pkg = |sig: &[u8]| {
        raw_tar(&[
            (MANIFEST_ENTRY, &json),
            (SIGNATURE_ENTRY, sig),
            (BASE_PAYLOAD, payload),
        ])
    };
    let trusted = ring(&[&key(1)]);

    let unsigned = pkg(br#"{"signatures":[]}"#);
    assert_eq!(code(verify_reader(&unsigned[..], &trusted)), "unsigned");

    let (_, by_other) = signed_base_manifest(payload, &[key(2)]);
    let r = verify_reader(&pkg(&by_other)[..], &trusted);
    assert_eq!(code(r), "unknown_key");

    // Rotation: signed by a key the appliance does not know yet and by the old one.
    let (_, both) = signed_base_manifest(payload, &[key(2), key(1)]);
    let m = verify_reader(&pkg(&both)[..], &trusted).unwrap();
    assert_eq!(m.signed_by(), &[key(1).id()]);

    // A trusted key's signature that fails is tampering, even beside a good one.
    let mut v: serde_json::Value = serde_json::from_slice(&both).unwrap();
    let good = v["signatures"][1]["signature"].clone();
    v["signatures"][0]["key_id"] = key(3).id().to_string().into();
    v["signatures"][0]["signature"] = good;
    let forged = serde_json::to_vec(&v).unwrap();
    let r = verify_reader(&pkg(&forged)[..], &ring(&[&key(1), &key(3)]));
    assert_eq!(code(r), "bad_signature");
}

#[test]
fn truncation_anywhere_is_refused() {
    let (pkg, _) = base_package(20_000, &[key(1)]);
    let ring = ring(&[&key(1)]);
    assert_eq!(code(verify_reader(&pkg[..], &ring)), "ok");
    let mut cuts = vec![
        0,
        1,
        511,
        512,
        513,
        pkg.len() - 1024,
        pkg.len() - 512,
        pkg.len() - 1,
    ];
    let mut rng = Rng(0x1234_5678);
    cuts.extend((0..300).map(|_| rng.below(pkg.len())));
    for cut in cuts {
        let r = verify_reader(&pkg[..cut], &ring);
        assert_eq!(code(r), "truncated", "cut at {cut} of {}", pkg.len());
    }
}

#[test]
fn entries_must_be_exactly_manifest_signature_payloads() {
    let payload = b"slot image";
    let (json, sig) = signed_base_manifest(payload, &[key(1)]);
    let ring = ring(&[&key(1)]);
    type Entries<'a> = Vec<(&'a str, &'a [u8])>;
    let cases: Vec<(&str, Entries, &str)> = vec![
        (
            "exact",
            vec![
                (MANIFEST_ENTRY, &json),
                (SIGNATURE_ENTRY, &sig),
                (BASE_PAYLOAD, payload),
            ],
            "ok",
        ),
        (
            "extra entry",
            vec![
                (MANIFEST_ENTRY, &json),
                (SIGNATURE_ENTRY, &sig),
                (BASE_PAYLOAD, payload),
                ("extra.txt", b"x"),
            ],
            "malformed",
        ),
        (
            "missing payload",
            vec![(MANIFEST_ENTRY, &json), (SIGNATURE_ENTRY, &sig)],
            "malformed",
        ),
        (
            "signature first",
            vec![
                (SIGNATURE_ENTRY, &sig),
                (MANIFEST_ENTRY, &json),
                (BASE_PAYLOAD, payload),
            ],
            "malformed",
        ),
        (
            "payload before signature",
            vec![
                (MANIFEST_ENTRY, &json),
                (BASE_PAYLOAD, payload),
                (SIGNATURE_ENTRY, &sig),
            ],
            "malformed",
        ),
        (
            "renamed payload",
            vec![
                (MANIFEST_ENTRY, &json),
                (SIGNATURE_ENTRY, &sig),
                ("rootfs.img", payload),
            ],
            "malformed",
        ),
        (
            "payload larger than declared",
            vec![
                (MANIFEST_ENTRY, &json),
                (SIGNATURE_ENTRY, &sig),
                (BASE_PAYLOAD, b"slot image!"),
            ],
            "size_mismatch",
        ),
        (
            "payload smaller than declared",
            vec![
                (MANIFEST_ENTRY, &json),
                (SIGNATURE_ENTRY, &sig),
                (BASE_PAYLOAD, b"slot"),
            ],
            "size_mismatch",
        ),
        ("empty archive", vec![], "malformed"),
    ];
    for (what, entries, expected) in cases {
        let pkg = raw_tar(&entries);
        assert_eq!(code(verify_reader(&pkg[..], &ring)), expected, "{what}");
    }
}

#[test]
fn only_regular_entries_and_zero_trailers() {
    let payload = b"slot";
    let (json, sig) = signed_base_manifest(payload, &[key(1)]);
    let ring = ring(&[&key(1)]);
    let good = raw_tar(&[
        (MANIFEST_ENTRY, &json),
        (SIGNATURE_ENTRY, &sig),
        (BASE_PAYLOAD, payload),
    ]);

    // Padding to GNU tar's 10 KiB record is accepted; anything else after the end is not.
    let mut padded = good.clone();
    padded.resize(padded.len().div_ceil(10240) * 10240, 0);
    assert_eq!(code(verify_reader(&padded[..], &ring)), "ok");
    let mut junk = good.clone();
    junk.extend_from_slice(b"more");
    assert_eq!(code(verify_reader(&junk[..], &ring)), "malformed");

    // A reader of the one payload to its end (as the installers are) sees the whole
    // package checked: 1 MiB of random bytes after a valid package fail its final read.
    let end_of_payload = |pkg: &[u8]| -> Result<Vec<u8>, Error> {
        let (_, mut reader) = PackageReader::open(pkg, &ring)?;
        let mut payload = reader.next_payload()?.expect("one payload");
        let mut bytes = Vec::new();
        // The payload's own final read says it, not a later call.
        payload.read_to_end(&mut bytes).map_err(Error::from)?;
        Ok(bytes)
    };
    assert_eq!(end_of_payload(&padded).unwrap(), payload);
    // Random-looking bytes: SHA-256 in counter mode.
    let random: Vec<u8> = (0u32..(1 << 15))
        .flat_map(|i| {
            use sha2::Digest;
            sha2::Sha256::digest(i.to_le_bytes())
        })
        .collect();
    assert_eq!(random.len(), 1 << 20);
    let mut trailing = good.clone();
    trailing.extend_from_slice(&random);
    match end_of_payload(&trailing) {
        Err(Error::Malformed(why)) => assert!(why.contains("after"), "{why}"),
        other => panic!("trailing bytes accepted: {other:?}"),
    }

    // The payload as a symlink entry.
    let mut b = tar::Builder::new(Vec::new());
    crate::archive::append(
        &mut b,
        MANIFEST_ENTRY,
        0o644,
        json.len() as u64,
        0,
        &json[..],
    )
    .unwrap();
    crate::archive::append(
        &mut b,
        SIGNATURE_ENTRY,
        0o644,
        sig.len() as u64,
        0,
        &sig[..],
    )
    .unwrap();
    let mut h = crate::archive::header(tar::EntryType::Symlink, 0o777, 0, 0);
    b.append_link(&mut h, BASE_PAYLOAD, "/dev/sda").unwrap();
    let link = b.into_inner().unwrap();
    assert_eq!(code(verify_reader(&link[..], &ring)), "malformed");

    // A header whose checksum does not match.
    let mut bad = good.clone();
    bad[0] = b'M';
    assert_eq!(code(verify_reader(&bad[..], &ring)), "malformed");
}

/// A source that yields a header announcing a huge manifest, then endless bytes, and
/// counts what was taken from it.
struct Endless {
    header: Vec<u8>,
    given: usize,
}

impl Read for Endless {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        for b in buf.iter_mut() {
            *b = self.header.get(self.given).copied().unwrap_or(b'{');
            self.given += 1;
        }
        Ok(buf.len())
    }
}

#[test]
fn an_oversized_manifest_is_refused_before_it_is_read() {
    let mut h = crate::archive::header(tar::EntryType::Regular, 0o644, 10 << 20, 0);
    h.set_path(MANIFEST_ENTRY).unwrap();
    h.set_cksum();
    let mut src = Endless {
        header: h.as_bytes().to_vec(),
        given: 0,
    };
    let r = PackageReader::open(&mut src, &ring(&[&key(1)]));
    assert_eq!(code(r), "too_large");
    assert_eq!(src.given, 512, "read past the header");
}

#[test]
fn keyring_from_files() {
    let dir = TempDir::new("ring");
    let (pkg, _) = base_package(10, &[key(1)]);
    fs::write(dir.path("pkg"), &pkg).unwrap();
    fs::write(dir.path("a.pub"), key(1).public().to_text()).unwrap();
    fs::write(dir.path("b.pub"), key(2).public().to_text()).unwrap();
    fs::write(dir.path("notes.txt"), "not a key").unwrap();
    let ring = Keyring::from_dir(&dir.0).unwrap();
    assert_eq!(ring.len(), 2);
    assert!(verify_file(&dir.path("pkg"), &ring).is_ok());
    assert_eq!(
        code(verify_file(Path::new("/nonexistent.pkg"), &ring)),
        "io"
    );
}

#[test]
fn an_unfinished_payload_is_skipped_unverified() {
    let (pkg, _) = base_package(5000, &[key(1)]);
    let (_, mut payloads) = PackageReader::open(&pkg[..], &ring(&[&key(1)])).unwrap();
    let mut p = payloads.next_payload().unwrap().unwrap();
    let mut head = [0u8; 10];
    p.read_exact(&mut head).unwrap();
    assert_eq!(p.bytes_read(), 10);
    assert!(payloads.next_payload().unwrap().is_none());
}

#[test]
fn a_zero_byte_payload_has_a_verdict_too() {
    let (pkg, _) = base_package(0, &[key(1)]);
    let (m, mut payloads) = PackageReader::open(&pkg[..], &ring(&[&key(1)])).unwrap();
    assert_eq!(m.payloads[0].size, 0);
    let mut p = payloads.next_payload().unwrap().unwrap();
    assert_eq!(p.read(&mut [0u8; 16]).unwrap(), 0);
    assert!(payloads.next_payload().unwrap().is_none());
}

//! The fuzz target's body (`package::fuzzing::read_untrusted`) over mutated valid
//! packages, without libFuzzer: bit flips, cuts, insertions, block moves, header fields
//! changed with their checksum fixed, and manifests changed then signed again so the
//! mutation reaches the payload framing. A panic fails the test.
//!
//! `cargo test -p package --test mutations` runs a few thousand cases;
//! `PACKAGE_FUZZ_SECONDS=N` runs for N seconds instead (`fuzz/run-briefly` does);
//! `PACKAGE_FUZZ_CORPUS=DIR` writes the valid packages to DIR as libFuzzer's seed corpus.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use package::{build_base, build_site, fuzzing, Metadata, Signer, Version};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn scratch(tag: &str) -> PathBuf {
    let p = std::env::temp_dir().join(format!("package-mutations-{tag}-{}", std::process::id()));
    let _ = fs::remove_dir_all(&p);
    fs::create_dir_all(&p).unwrap();
    p
}

/// Valid packages of several shapes, signed by the fuzzing key (one also by a key the
/// keyring does not know).
fn seeds() -> Vec<Vec<u8>> {
    let dir = scratch("seeds");
    let meta = |floor| Metadata {
        version: Version::new(1, 0, 0),
        profiles: vec!["box".into()],
        requires: vec![],
        floor,
        created: 0,
    };
    let mut out = Vec::new();
    let mut rng = Rng(99);
    for (i, size) in [0usize, 1, 511, 512, 3000].into_iter().enumerate() {
        let slot = dir.join(format!("slot{i}"));
        fs::write(
            &slot,
            (0..size).map(|_| rng.next() as u8).collect::<Vec<_>>(),
        )
        .unwrap();
        let pkg = dir.join(format!("base{i}.pkg"));
        let signers = if i == 4 {
            vec![Signer::from_seed(&[1; 32]), fuzzing::signer()]
        } else {
            vec![fuzzing::signer()]
        };
        build_base(&slot, &meta(Some(Version::new(1, 0, 0))), &pkg, &signers).unwrap();
        out.push(fs::read(&pkg).unwrap());
    }
    let tree = dir.join("tree");
    fs::create_dir_all(tree.join("www")).unwrap();
    fs::write(tree.join("www/index.html"), "<p>site</p>\n").unwrap();
    let pkg = dir.join("site.pkg");
    build_site(&tree, "portal", &meta(None), &pkg, &[fuzzing::signer()]).unwrap();
    out.push(fs::read(&pkg).unwrap());
    fs::remove_dir_all(&dir).unwrap();
    out
}

/// Offsets of the tar headers of a package (blocks with the ustar magic).
fn headers(pkg: &[u8]) -> Vec<usize> {
    (0..pkg.len() / 512)
        .map(|b| b * 512)
        .filter(|&at| pkg.get(at + 257..at + 262) == Some(b"ustar"))
        .collect()
}

fn fix_checksum(pkg: &mut [u8], at: usize) {
    pkg[at + 148..at + 156].fill(b' ');
    let sum: u32 = pkg[at..at + 512].iter().map(|&b| u32::from(b)).sum();
    let field = format!("{sum:06o}\0 ");
    pkg[at + 148..at + 156].copy_from_slice(field.as_bytes());
}

/// The entries of a package (name, data), for rebuilding it around a changed manifest.
fn entries(pkg: &[u8]) -> Option<Vec<(String, Vec<u8>)>> {
    let mut out = Vec::new();
    for e in tar::Archive::new(pkg).entries().ok()? {
        let mut e = e.ok()?;
        let name = e.path().ok()?.to_string_lossy().into_owned();
        let mut data = Vec::new();
        e.read_to_end(&mut data).ok()?;
        out.push((name, data));
    }
    Some(out)
}

fn repack(entries: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    for (name, data) in entries {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        // A mutated name may be one tar cannot hold (empty, only `..`): such an entry is
        // left out, which is one more way for the package to be malformed.
        if b.append_data(&mut h, name, &data[..]).is_err() {
            continue;
        }
    }
    b.into_inner().unwrap_or_default()
}

/// Changes the manifest (a JSON field, or raw bytes) and signs it again.
fn resigned(pkg: &[u8], rng: &mut Rng) -> Vec<u8> {
    let Some(mut e) = entries(pkg).filter(|e| e.len() >= 2) else {
        return pkg.to_vec();
    };
    let Ok(mut m) = serde_json::from_slice::<serde_json::Value>(&e[0].1) else {
        return pkg.to_vec();
    };
    // Indexing a JSON value for writing panics unless the shape is right.
    let shaped = m.is_object()
        && m["payloads"]
            .as_array()
            .is_some_and(|p| p.first().is_some_and(serde_json::Value::is_object));
    if !shaped {
        return pkg.to_vec();
    }
    let p = &mut m["payloads"][0];
    match rng.below(10) {
        0 => {
            p["size"] = (p["size"].as_u64().unwrap_or(0) as i64 + rng.below(5) as i64 - 2)
                .max(0)
                .into();
        }
        1 => p["size"] = u64::MAX.into(),
        2 => p["sha256"] = "0".repeat(64).into(),
        3 => {
            p["name"] =
                ["manifest.json", "rootfs.sqfs", "site.tar.zst", "../x"][rng.below(4)].into();
        }
        4 => m["kind"] = ["base", "site", "delta"][rng.below(3)].into(),
        5 => {
            let extra = m["payloads"][0].clone();
            m["payloads"].as_array_mut().unwrap().push(extra);
        }
        6 => m["format"] = rng.below(3).into(),
        7 => m["version"] = ["1.0", "9.9.9", "01.0.0", ""][rng.below(4)].into(),
        8 => m["floor"] = ["2.0.0", "0.0.1"][rng.below(2)].into(),
        _ => {}
    }
    let mut json = serde_json::to_vec_pretty(&m).unwrap();
    if rng.below(4) == 0 && !json.is_empty() {
        let at = rng.below(json.len());
        json[at] = rng.next() as u8;
    }
    e[1].1 = fuzzing::sign(&json);
    e[0].1 = json;
    repack(&e)
}

fn mutate(pkg: &[u8], rng: &mut Rng) -> Vec<u8> {
    let mut p = pkg.to_vec();
    for _ in 0..=rng.below(3) {
        let len = p.len();
        match rng.below(9) {
            0 if len > 0 => p[rng.below(len)] ^= 1 << rng.below(8),
            1 if len > 0 => {
                p[rng.below(len)] = [0, 0xff, b'0', b'7', b' ', rng.next() as u8][rng.below(6)];
            }
            2 => p.truncate(rng.below(len + 1)),
            3 => {
                let at = rng.below(len + 1);
                let n = 1 + rng.below(16);
                p.splice(at..at, (0..n).map(|_| rng.next() as u8));
            }
            4 if len > 0 => {
                let at = rng.below(len);
                let end = (at + 1 + rng.below(1024)).min(len);
                p.drain(at..end);
            }
            5 if len >= 512 => {
                let b = rng.below(len / 512) * 512;
                let block = p[b..b + 512].to_vec();
                p.splice(b..b, block);
            }
            6 if len >= 1024 => {
                let (a, b) = (rng.below(len / 512) * 512, rng.below(len / 512) * 512);
                for i in 0..512 {
                    p.swap(a + i, b + i);
                }
            }
            7 => {
                let hs = headers(&p);
                if !hs.is_empty() {
                    let at = hs[rng.below(hs.len())];
                    let mut off = rng.below(512);
                    if (148..156).contains(&off) {
                        off = 124 + rng.below(12); // the size field instead
                    }
                    p[at + off] = [0, b'0', b'7', 0x80, 0xff, b'5', rng.next() as u8][rng.below(7)];
                    fix_checksum(&mut p, at);
                }
            }
            _ => p = resigned(&p, rng),
        }
    }
    p
}

#[test]
fn mutated_packages_never_panic() {
    let seconds: Option<u64> = std::env::var("PACKAGE_FUZZ_SECONDS")
        .ok()
        .and_then(|s| s.parse().ok());
    let seeds = seeds();
    let ring = fuzzing::keyring();
    for s in &seeds {
        fuzzing::read_untrusted(s, &ring).expect("a seed package is valid");
    }
    let deadline = seconds.map(|s| Instant::now() + Duration::from_secs(s));
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seconds.unwrap_or(0));
    let mut verdicts: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut runs = 0u64;
    loop {
        match deadline {
            Some(d) if Instant::now() >= d => break,
            None if runs >= 3000 => break,
            _ => {}
        }
        let seed = &seeds[rng.below(seeds.len())];
        let input = mutate(seed, &mut rng);
        let code = match fuzzing::read_untrusted(&input, &ring) {
            Ok(()) => "ok",
            Err(e) => e.code(),
        };
        *verdicts.entry(code).or_default() += 1;
        runs += 1;
    }
    println!("mutated packages: {runs} runs, verdicts {verdicts:?}");
    // The mutations must reach past the signature, into the payloads.
    for deep in ["hash_mismatch", "size_mismatch", "invalid_manifest"] {
        assert!(
            verdicts.contains_key(deep),
            "no mutation reached {deep}: {verdicts:?}"
        );
    }
}

#[test]
fn seed_corpus() {
    let Some(dir) = std::env::var_os("PACKAGE_FUZZ_CORPUS") else {
        return;
    };
    fs::create_dir_all(&dir).unwrap();
    for (i, s) in seeds().iter().enumerate() {
        fs::write(PathBuf::from(&dir).join(format!("seed-{i}.pkg")), s).unwrap();
    }
}

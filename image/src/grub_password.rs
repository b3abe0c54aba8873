//! GRUB's password: the editor (`e`) and the command line (`c`) of the boot menu ask for
//! it, the boot entries and the factory reset entry do not (`--unrestricted`). The builder
//! writes `set superusers` and a `password_pbkdf2` line with the PBKDF2 hash of the
//! password given (`--grub-password-file`, first line) into `grub.cfg` in place of
//! [`PLACEHOLDER`]: the same format as `grub-mkpasswd-pbkdf2` (PBKDF2-HMAC-SHA512, 10000
//! iterations, a random 64-byte salt, uppercase hex), so only the hash reaches the ESP.
//! docs/boot.md "GRUB password".

use std::num::NonZeroU32;
use std::path::Path;

use anyhow::{bail, Context, Result};

/// The user name GRUB asks for with the password.
pub(crate) const SUPERUSER: &str = "vendor";
/// The line of `image/grub/grub.cfg` the builder replaces.
pub(crate) const PLACEHOLDER: &str = "@GRUB_PASSWORD@";
/// The published password of development builds (never accepted by a release).
pub(crate) const DEV_PASSWORD_FILE: &str = "keys/dev/grub-password";
/// As `grub-mkpasswd-pbkdf2`'s defaults.
const ITERATIONS: u32 = 10_000;
const SALT_LEN: usize = 64;
const HASH_LEN: usize = 64;
/// A password shorter than this is refused.
pub(crate) const MIN_LEN: usize = 8;

/// The first line of `path`, without its line end.
pub(crate) fn read(path: &Path) -> Result<String> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read the GRUB password from {}", path.display()))?;
    let password = text.lines().next().unwrap_or("").to_string();
    if password.chars().count() < MIN_LEN {
        bail!(
            "{}: the GRUB password must have at least {MIN_LEN} characters on its first line",
            path.display()
        );
    }
    if password.chars().any(char::is_control) {
        bail!(
            "{}: the GRUB password holds a control character",
            path.display()
        );
    }
    Ok(password)
}

/// `grub.pbkdf2.sha512.10000.<salt>.<hash>` for `password` and `salt`.
pub(crate) fn pbkdf2(password: &str, salt: &[u8]) -> String {
    let mut out = [0u8; HASH_LEN];
    ring::pbkdf2::derive(
        ring::pbkdf2::PBKDF2_HMAC_SHA512,
        NonZeroU32::new(ITERATIONS).expect("non-zero"),
        salt,
        password.as_bytes(),
        &mut out,
    );
    format!(
        "grub.pbkdf2.sha512.{ITERATIONS}.{}.{}",
        hex::encode_upper(salt),
        hex::encode_upper(out)
    )
}

/// The hash of `password` with a new random salt.
pub(crate) fn hash(password: &str) -> Result<String> {
    use ring::rand::SecureRandom;
    let mut salt = [0u8; SALT_LEN];
    ring::rand::SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| anyhow::anyhow!("the kernel's random generator failed"))?;
    Ok(pbkdf2(password, &salt))
}

/// `template` (image/grub/grub.cfg) with its placeholder line replaced by the superuser
/// and the hash.
pub(crate) fn grub_cfg(template: &str, hash: &str) -> Result<String> {
    let lines = template.lines().filter(|l| l.trim() == PLACEHOLDER).count();
    if lines != 1 {
        bail!("grub.cfg must have exactly one {PLACEHOLDER} line, it has {lines}");
    }
    let mut out = String::with_capacity(template.len() + 300);
    for line in template.lines() {
        if line.trim() == PLACEHOLDER {
            out.push_str(&format!(
                "set superusers=\"{SUPERUSER}\"\npassword_pbkdf2 {SUPERUSER} {hash}\n"
            ));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::esp::GRUB_CFG;

    /// The format `grub-mkpasswd-pbkdf2` prints and GRUB's `password_pbkdf2` reads, and a
    /// hash that agrees with an independent PBKDF2 written from the RFC.
    #[test]
    fn the_hash_has_grub_mkpasswd_pbkdf2s_format() {
        let salt = [0xABu8; SALT_LEN];
        let h = pbkdf2("password", &salt);
        let parts: Vec<&str> = h.split('.').collect();
        assert_eq!(parts[..4], ["grub", "pbkdf2", "sha512", "10000"]);
        assert_eq!(parts[4], "AB".repeat(SALT_LEN));
        assert_eq!(parts[5].len(), HASH_LEN * 2);
        assert!(parts[5]
            .chars()
            .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_lowercase()));
        assert_eq!(parts[5], reference_pbkdf2("password", &salt, ITERATIONS));
        assert_ne!(pbkdf2("password!", &salt), h);
    }

    /// PBKDF2-HMAC-SHA512 (one block: 64 bytes) on the sha2 crate, written from RFC 8018.
    fn reference_pbkdf2(password: &str, salt: &[u8], iterations: u32) -> String {
        use sha2::{Digest, Sha512};
        let hmac = |key: &[u8], msg: &[u8]| -> Vec<u8> {
            let mut k = [0u8; 128];
            if key.len() > 128 {
                k[..64].copy_from_slice(&Sha512::digest(key));
            } else {
                k[..key.len()].copy_from_slice(key);
            }
            let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
            let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
            let inner = Sha512::new()
                .chain_update(&ipad)
                .chain_update(msg)
                .finalize();
            Sha512::new()
                .chain_update(&opad)
                .chain_update(inner)
                .finalize()
                .to_vec()
        };
        let mut msg = salt.to_vec();
        msg.extend_from_slice(&1u32.to_be_bytes());
        let mut u = hmac(password.as_bytes(), &msg);
        let mut t = u.clone();
        for _ in 1..iterations {
            u = hmac(password.as_bytes(), &u);
            t.iter_mut().zip(&u).for_each(|(a, b)| *a ^= b);
        }
        hex::encode_upper(t)
    }

    /// The generated grub.cfg locks the editor and the command line and leaves every
    /// entry bootable without the password.
    #[test]
    fn the_generated_grub_cfg_locks_the_editor_but_not_the_entries() {
        let hash = hash("correct horse").unwrap();
        let cfg = grub_cfg(GRUB_CFG, &hash).unwrap();
        assert!(!cfg.contains(PLACEHOLDER));
        assert!(cfg.contains(&format!("set superusers=\"{SUPERUSER}\"\n")));
        assert!(cfg.contains(&format!(
            "password_pbkdf2 {SUPERUSER} grub.pbkdf2.sha512.10000."
        )));
        assert!(!cfg.contains("correct horse"));
        // Before the first menu entry, so the menu starts locked.
        let superusers = cfg.find("set superusers").unwrap();
        let first_entry = cfg.find("menuentry ").unwrap();
        assert!(superusers < first_entry);
        let entries: Vec<&str> = cfg
            .lines()
            .filter(|l| l.trim_start().starts_with("menuentry "))
            .collect();
        assert!(entries.len() >= 4, "{entries:?}");
        for entry in &entries {
            assert!(entry.contains(" --unrestricted"), "{entry}");
        }
        assert!(
            entries.iter().any(|e| e.contains("--id factory-reset")),
            "the factory reset entry is there: {entries:?}"
        );
        // Two builds: two salts.
        assert_ne!(hash, super::hash("correct horse").unwrap());
        assert!(grub_cfg("menuentry x --unrestricted {\n}\n", &hash).is_err());
    }

    #[test]
    fn short_or_missing_passwords_are_refused() {
        let dir = std::env::temp_dir().join(format!("image-grub-pw-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pw");
        std::fs::write(&file, "short\n").unwrap();
        assert!(read(&file).unwrap_err().to_string().contains("at least 8"));
        std::fs::write(&file, "long enough\nsecond line ignored\n").unwrap();
        assert_eq!(read(&file).unwrap(), "long enough");
        assert!(read(&dir.join("missing")).is_err());
        std::fs::remove_dir_all(&dir).unwrap();
        let dev = read(&crate::workspace().join(DEV_PASSWORD_FILE)).unwrap();
        assert!(dev.len() >= MIN_LEN);
    }
}

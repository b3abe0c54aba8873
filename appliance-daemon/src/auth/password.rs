//! Password hashing (argon2id, PHC strings) and the rules a new password must meet.

use argon2::password_hash::PasswordHasher;
use argon2::Argon2;

/// The factory password of the `admin` account; it must be changed at first login.
pub(crate) const FACTORY_PASSWORD: &str = "password";
pub(crate) const MIN_LENGTH: usize = 8;
pub(crate) const MAX_LENGTH: usize = 256;

/// A PHC string of a password nobody has, verified against when the user name is unknown
/// so that a login for an unknown name takes as long as one for a known name.
static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();

#[derive(Debug, thiserror::Error)]
#[error("cannot hash the password: {0}")]
pub(crate) struct HashError(String);

/// Hash with argon2id and the library's default cost (19 MiB, 2 passes), random salt.
pub(crate) fn hash(password: &str) -> Result<String, HashError> {
    Argon2::default()
        .hash_password(password.as_bytes())
        .map(|h| h.to_string())
        .map_err(|e| HashError(e.to_string()))
}

/// Whether `password` matches the PHC string; a malformed hash never matches, nor one
/// that asks for more than [`MAX_MEMORY_BLOCKS`] of memory.
///
/// The work memory (19 MiB at the default cost) is one buffer reused by every verification
/// while logins follow one another ([`release_memory_when_idle`] frees it after 30 s
/// without one): a flood of logins then costs no memory beyond it, whatever the allocator
/// does with large blocks freed by many threads.
pub(crate) fn verify(phc: &str, password: &str) -> bool {
    use argon2::password_hash::phc::PasswordHash;
    use subtle::ConstantTimeEq;
    let Ok(parsed) = PasswordHash::new(phc) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = argon2::Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(argon2::Version::try_from).transpose() {
        Ok(v) => v.unwrap_or_default(),
        Err(_) => return false,
    };
    let Ok(params) = argon2::Params::try_from(&parsed) else {
        return false;
    };
    let blocks = params.block_count();
    if blocks > MAX_MEMORY_BLOCKS {
        return false;
    }
    let mut out = vec![0u8; expected.len()];
    let mut memory = MEMORY
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if memory.blocks.len() < blocks {
        memory.blocks.resize(blocks, argon2::Block::default());
    }
    memory.last_use = Some(std::time::Instant::now());
    let done = Argon2::new(algorithm, version, params).hash_password_into_with_memory(
        password.as_bytes(),
        salt,
        &mut out,
        &mut memory.blocks[..blocks],
    );
    drop(memory);
    done.is_ok() && bool::from(expected.as_bytes().ct_eq(&out))
}

/// How long the verification's work memory is kept after its last use.
const KEEP_MEMORY: std::time::Duration = std::time::Duration::from_secs(30);

/// Free the verification's work memory once no login used it for [`KEEP_MEMORY`]: an idle
/// daemon does not hold 19 MiB for the next login, while logins that follow one another
/// (a flood) reuse one buffer. One thread for the process, started on first call.
pub(crate) fn release_memory_when_idle() {
    static STARTED: std::sync::Once = std::sync::Once::new();
    STARTED.call_once(|| {
        std::thread::spawn(|| loop {
            std::thread::sleep(KEEP_MEMORY / 3);
            let mut memory = MEMORY
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if memory.last_use.is_some_and(|t| t.elapsed() >= KEEP_MEMORY) {
                *memory = Memory::default();
            }
        });
    });
}

/// The verification's work memory and when it was last used.
#[derive(Default)]
struct Memory {
    blocks: Vec<argon2::Block>,
    last_use: Option<std::time::Instant>,
}

/// The verification's work memory, reused (see [`verify`]).
static MEMORY: std::sync::Mutex<Memory> = std::sync::Mutex::new(Memory {
    blocks: Vec::new(),
    last_use: None,
});

/// The most memory a stored hash may ask for: 4 times the default cost (76 MiB).
const MAX_MEMORY_BLOCKS: usize = 4 * argon2::Params::DEFAULT_M_COST as usize;

/// Spend the time of one verification without any account behind it.
pub(crate) fn verify_dummy(password: &str) {
    let _ = verify(dummy(), password);
}

/// The placeholder hash, made on first use: [`prepare_dummy`] makes it at start so that the
/// first unknown name does not cost one hash more than a known one.
fn dummy() -> &'static str {
    DUMMY.get_or_init(|| hash(&super::random_hex(16)).unwrap_or_default())
}

/// Make the placeholder hash now, off the caller's thread.
pub(crate) fn prepare_dummy() {
    std::thread::spawn(|| {
        dummy();
    });
}

/// Why a new password is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Weak {
    #[error("the new password must have at least {MIN_LENGTH} characters")]
    TooShort,
    #[error("the new password must have at most {MAX_LENGTH} characters")]
    TooLong,
    #[error("the new password must differ from the current one")]
    Unchanged,
    #[error("the factory password cannot be kept")]
    Factory,
    #[error("the new password is one of the most common passwords; choose another")]
    Common,
}

/// Passwords of at least [`MIN_LENGTH`] characters found at the top of published lists of
/// leaked passwords, compared without regard to case: the first ones an attacker tries.
const COMMON: &[&str] = &[
    "password",
    "password1",
    "password12",
    "password123",
    "password1234",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "12345678",
    "123456789",
    "1234567890",
    "0123456789",
    "87654321",
    "11111111",
    "00000000",
    "12341234",
    "11223344",
    "123123123",
    "qwertyuiop",
    "qwerty123",
    "qwerty12",
    "1q2w3e4r",
    "1q2w3e4r5t",
    "1qaz2wsx",
    "zaq12wsx",
    "asdfghjkl",
    "asdf1234",
    "abcd1234",
    "abc12345",
    "abcdefgh",
    "iloveyou",
    "sunshine",
    "princess",
    "football",
    "baseball",
    "superman",
    "starwars",
    "whatever",
    "trustno1",
    "letmein1",
    "welcome1",
    "welcome123",
    "changeme",
    "changeme1",
    "administrator",
    "admin123",
    "admin1234",
    "adminadmin",
    "rootroot",
    "root1234",
    "toor1234",
    "default1",
    "appliance",
    "computer",
    "internet",
    "michelle",
    "jennifer",
    "1234qwer",
    "qwer1234",
    "azerty123",
    "azertyuiop",
    "motdepasse",
    "secret123",
    "master123",
    "monkey123",
    "dragon123",
];

/// The rules for a new password. Deliberately few: length, not the old one, not the
/// factory one, not one of the most common ones (NIST SP 800-63B's blocklist).
/// Composition rules make passwords worse, not better.
pub(crate) fn check_new(current: &str, new: &str) -> Result<(), Weak> {
    let chars = new.chars().count();
    if chars < MIN_LENGTH {
        return Err(Weak::TooShort);
    }
    if chars > MAX_LENGTH {
        return Err(Weak::TooLong);
    }
    if new == current {
        return Err(Weak::Unchanged);
    }
    if new == FACTORY_PASSWORD {
        return Err(Weak::Factory);
    }
    if COMMON.iter().any(|c| c.eq_ignore_ascii_case(new)) {
        return Err(Weak::Common);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_argon2id_and_verifies() {
        let h = hash("correct horse").unwrap();
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify(&h, "correct horse"));
        assert!(!verify(&h, "correct hors"));
        assert_ne!(h, hash("correct horse").unwrap(), "salt is random");
    }

    #[test]
    fn verifies_as_the_library_does() {
        use argon2::password_hash::PasswordVerifier;
        let h = hash("correct horse").unwrap();
        for given in ["correct horse", "correct horsf", ""] {
            assert_eq!(
                verify(&h, given),
                Argon2::default()
                    .verify_password(given.as_bytes(), h.as_str())
                    .is_ok(),
                "{given}"
            );
        }
        // A hash asking for too much memory is refused rather than computed.
        let huge = h.replace("m=19456", "m=4000000");
        assert!(!verify(&huge, "correct horse"));
    }

    #[test]
    fn malformed_hash_never_matches() {
        assert!(!verify("", ""));
        assert!(!verify("$argon2id$garbage", "x"));
    }

    #[test]
    fn new_password_rules() {
        assert_eq!(check_new("password", "short"), Err(Weak::TooShort));
        assert_eq!(check_new("old-secret", "old-secret"), Err(Weak::Unchanged));
        assert_eq!(check_new("x", "password"), Err(Weak::Factory));
        assert_eq!(check_new("x", &"a".repeat(257)), Err(Weak::TooLong));
        assert_eq!(check_new("password", "élan vital"), Ok(()));
        assert_eq!(check_new("password", "Password123"), Err(Weak::Common));
        assert_eq!(check_new("x", "QWERTYUIOP"), Err(Weak::Common));
        assert_eq!(check_new("x", "qwertyuiop!"), Ok(()));
        // Length counts characters, not bytes.
        assert_eq!(check_new("password", "ééééééé"), Err(Weak::TooShort));
    }
}

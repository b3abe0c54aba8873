//! Password hashing (argon2id, PHC strings) and the rules a new password must meet.

use argon2::password_hash::{PasswordHasher, PasswordVerifier};
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

/// Whether `password` matches the PHC string; a malformed hash never matches.
pub(crate) fn verify(phc: &str, password: &str) -> bool {
    Argon2::default()
        .verify_password(password.as_bytes(), phc)
        .is_ok()
}

/// Spend the time of one verification without any account behind it.
pub(crate) fn verify_dummy(password: &str) {
    let phc = DUMMY.get_or_init(|| hash("an unguessable placeholder").unwrap_or_default());
    let _ = verify(phc, password);
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
}

/// The rules for a new password. Deliberately few: length, not the old one, not the
/// factory one. Composition rules make passwords worse, not better.
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
        // Length counts characters, not bytes.
        assert_eq!(check_new("password", "ééééééé"), Err(Weak::TooShort));
    }
}

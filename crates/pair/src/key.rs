//! The inter-appliance key: the secret both appliances of a pair hold, set on each by an
//! operator, never sent over the wire and never shown again (only its fingerprint).
//!
//! Its text is written in Crockford's base32 alphabet (`0-9` and `A-Z` without `I`, `L`,
//! `O`, `U`), which a person reads and types without confusing characters. A generated
//! key is 52 random symbols (260 bits) shown in groups of four
//! (`7KQ2-M9XD-…`). An entered key is read with case, spaces and dashes ignored and the
//! look-alikes `O` -> `0`, `I`/`L` -> `1` folded, and it must have:
//! - at least [`MIN_SYMBOLS`] symbols (26 symbols of 5 bits: 130 bits if random), and
//! - at least [`MIN_DISTINCT`] different symbols (refuses `AAAA…`, `0123…0123…` and the
//!   like, which a person types when they make a key up).
//!
//! So a key generated on one appliance and typed on the other is accepted, and so is a
//! 128-bit key written as 32 hexadecimal digits (hex digits are base32 symbols); a
//! password-like phrase is refused, as the rule cannot tell how much it is worth.

use sha2::{Digest, Sha256};
use std::fmt;

/// The alphabet, in value order.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
/// Symbols of a generated key: 52 x 5 = 260 bits.
pub const GENERATED_SYMBOLS: usize = 52;
/// Fewest symbols of an entered key: 26 x 5 = 130 bits.
pub const MIN_SYMBOLS: usize = 26;
/// Most symbols of an entered key (a longer one is a mistake, not more security).
pub const MAX_SYMBOLS: usize = 128;
/// Fewest different symbols of an entered key.
pub const MIN_DISTINCT: usize = 12;
/// Symbols per group when a key is shown.
const GROUP: usize = 4;

/// A usable key: its symbols, normalized. `Debug` does not show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Key(String);

impl fmt::Debug for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Key({})", self.fingerprint())
    }
}

/// Why an entered key is refused. The messages say the rule, never the key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    #[error(
        "the key holds {0:?}, which is not one of its characters (digits and the letters A-Z \
         except U; case, spaces and dashes do not matter)"
    )]
    Character(char),
    #[error(
        "the key has {0} characters; it needs at least {MIN_SYMBOLS} (about 128 bits): \
         generate one on an appliance and type it on the other"
    )]
    TooShort(usize),
    #[error("the key has {0} characters; at most {MAX_SYMBOLS} are accepted")]
    TooLong(usize),
    #[error(
        "the key uses only {0} different characters; a random key of this length uses at \
         least {MIN_DISTINCT}: generate one instead of making one up"
    )]
    TooRegular(usize),
}

impl Key {
    /// A new key from 52 random bytes (the caller's system random generator): each byte
    /// gives one symbol from its low five bits (256 is a multiple of 32: no bias).
    pub fn generate(random: &[u8; GENERATED_SYMBOLS]) -> Key {
        Key(random
            .iter()
            .map(|b| char::from(ALPHABET[usize::from(b & 31)]))
            .collect())
    }

    /// Read a key an operator typed or pasted, or one read back from the store.
    pub fn parse(input: &str) -> Result<Key, KeyError> {
        let mut symbols = String::with_capacity(input.len());
        for c in input.chars() {
            if c == '-' || c.is_whitespace() {
                continue;
            }
            let folded = match c.to_ascii_uppercase() {
                'O' => '0',
                'I' | 'L' => '1',
                other => other,
            };
            if !folded.is_ascii() || !ALPHABET.contains(&(folded as u8)) {
                return Err(KeyError::Character(c));
            }
            symbols.push(folded);
        }
        let n = symbols.chars().count();
        if n < MIN_SYMBOLS {
            return Err(KeyError::TooShort(n));
        }
        if n > MAX_SYMBOLS {
            return Err(KeyError::TooLong(n));
        }
        let mut seen = [false; 32];
        for b in symbols.bytes() {
            if let Some(i) = ALPHABET.iter().position(|a| *a == b) {
                seen[i] = true;
            }
        }
        let distinct = seen.iter().filter(|s| **s).count();
        if distinct < MIN_DISTINCT {
            return Err(KeyError::TooRegular(distinct));
        }
        Ok(Key(symbols))
    }

    /// The key as shown once to the operator: groups of four joined by dashes.
    pub fn display(&self) -> String {
        group(&self.0, GROUP, '-')
    }

    /// The normalized symbols, as stored (never logged or answered).
    pub fn as_stored(&self) -> &str {
        &self.0
    }

    /// What both pages show so that an operator compares the two keys without seeing
    /// either: 64 bits of SHA-256 over a fixed context and the key, as `ABCD:EF01:…`.
    /// (The key has at least 128 bits: the fingerprint does not help guess it.)
    pub fn fingerprint(&self) -> String {
        let digest = Sha256::new()
            .chain_update(b"appliance pair key fingerprint v1\0")
            .chain_update(self.0.as_bytes())
            .finalize();
        group(&hex::encode_upper(&digest[..8]), 4, ':')
    }

    /// The HMAC key of the establish proof.
    pub(crate) fn secret(&self) -> &[u8] {
        self.0.as_bytes()
    }
}

fn group(text: &str, size: usize, separator: char) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / size);
    for (i, c) in text.chars().enumerate() {
        if i > 0 && i % size == 0 {
            out.push(separator);
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn random(seed: u8) -> [u8; GENERATED_SYMBOLS] {
        let mut bytes = [0u8; GENERATED_SYMBOLS];
        let mut x = u32::from(seed).wrapping_mul(2_654_435_761).wrapping_add(1);
        for b in &mut bytes {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x.to_le_bytes()[0];
        }
        bytes
    }

    #[test]
    fn a_generated_key_is_shown_in_groups_and_reads_back_the_same() {
        let key = Key::generate(&random(1));
        let shown = key.display();
        assert_eq!(shown.len(), GENERATED_SYMBOLS + GENERATED_SYMBOLS / 4 - 1);
        assert!(shown.split('-').all(|g| g.len() == 4), "{shown}");
        assert_eq!(Key::parse(&shown).unwrap(), key);
        // As a person may type it: lower case, spaces, no dashes.
        let typed = shown.to_lowercase().replace('-', " ");
        assert_eq!(Key::parse(&typed).unwrap(), key);
        assert_ne!(Key::generate(&random(2)), key);
    }

    #[test]
    fn look_alike_letters_are_folded() {
        let key = Key::parse("0123-4567-89AB-CDEF-GHJK-MNPQ-RSTV").unwrap();
        let typed = Key::parse("OI23 4567 89ab cdef ghjk mnpq rstv").unwrap();
        assert_eq!(key, typed);
        assert_eq!(
            Key::parse("Ll23456789ABCDEFGHJKMNPQRST")
                .unwrap()
                .as_stored()[..2],
            *"11"
        );
    }

    #[test]
    fn a_128_bit_hex_key_is_accepted() {
        Key::parse("3f9a0c7e51b2d84a6e0f1c93b7a25d4e").unwrap();
    }

    #[test]
    fn weak_or_malformed_keys_are_refused_with_the_rule() {
        assert_eq!(
            Key::parse("correct horse battery staple"),
            Err(KeyError::TooShort(25))
        );
        assert_eq!(
            Key::parse("an unusual but long passphrase of words"),
            Err(KeyError::Character('u'))
        );
        assert_eq!(Key::parse("ABCD-1234"), Err(KeyError::TooShort(8)));
        assert_eq!(Key::parse(""), Err(KeyError::TooShort(0)));
        assert_eq!(Key::parse(&"A".repeat(40)), Err(KeyError::TooRegular(1)));
        assert_eq!(
            Key::parse(&"0123456789".repeat(3)),
            Err(KeyError::TooRegular(10))
        );
        assert_eq!(
            Key::parse(&"0123456789ABCDEF".repeat(9)),
            Err(KeyError::TooLong(144))
        );
        assert_eq!(
            Key::parse("0123456789ABCDEFGHJKMNPQRé"),
            Err(KeyError::Character('é'))
        );
        // The message states the rule and never echoes the key.
        let message = KeyError::TooShort(8).to_string();
        assert!(message.contains("at least 26"), "{message}");
    }

    #[test]
    fn the_fingerprint_tells_keys_apart_and_hides_them() {
        let a = Key::generate(&random(3));
        let b = Key::generate(&random(4));
        assert_eq!(
            a.fingerprint(),
            Key::parse(&a.display()).unwrap().fingerprint()
        );
        assert_ne!(a.fingerprint(), b.fingerprint());
        assert_eq!(a.fingerprint().len(), 19);
        assert!(!format!("{a:?}").contains(a.as_stored()));
    }
}

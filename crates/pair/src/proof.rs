//! The establish proof: each side shows it holds the inter-appliance key without sending
//! it, bound to this one exchange and to the two TLS identities the exchange runs between.
//!
//! `proof = HMAC-SHA256(key, CONTEXT || direction || primary nonce || backup nonce ||
//! primary public key || backup public key)`, where each public key is the SHA-256 of the
//! side's pair certificate's SubjectPublicKeyInfo as the *prover* saw it in the TLS
//! handshake (its own, and the other's). So:
//! - a replayed proof fails: each side's nonce is fresh and used once;
//! - a proof cannot be reflected: the direction is part of it;
//! - a man in the middle of the TLS connection fails: each side computes the proof over the
//!   key it saw, and the middle presents its own key to each side.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::Key;

/// The domain of the proof (a version change makes old proofs useless).
const CONTEXT: &[u8] = b"appliance pair establish v1\0";

/// Who proves to whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The future backup answers the future primary's hello.
    BackupToPrimary,
    /// The future primary asks the backup to establish.
    PrimaryToBackup,
}

impl Direction {
    fn label(self) -> &'static [u8] {
        match self {
            Direction::BackupToPrimary => b"backup->primary\0",
            Direction::PrimaryToBackup => b"primary->backup\0",
        }
    }
}

/// What a proof is about: both nonces, both public keys (SHA-256 of the SPKI).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transcript {
    pub primary_nonce: [u8; 32],
    pub backup_nonce: [u8; 32],
    pub primary_key: [u8; 32],
    pub backup_key: [u8; 32],
}

fn mac(key: &Key, direction: Direction, t: &Transcript) -> Hmac<Sha256> {
    // HMAC takes a key of any length.
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(key.secret())
        .unwrap_or_else(|_| unreachable!("HMAC accepts any key length"));
    mac.update(CONTEXT);
    mac.update(direction.label());
    mac.update(&t.primary_nonce);
    mac.update(&t.backup_nonce);
    mac.update(&t.primary_key);
    mac.update(&t.backup_key);
    mac
}

/// The proof `direction`'s sender gives for `transcript`.
pub fn prove(key: &Key, direction: Direction, transcript: &Transcript) -> [u8; 32] {
    mac(key, direction, transcript)
        .finalize()
        .into_bytes()
        .into()
}

/// Whether `proof` is right (compared in constant time).
pub fn verify(key: &Key, direction: Direction, transcript: &Transcript, proof: &[u8]) -> bool {
    mac(key, direction, transcript).verify_slice(proof).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(seed: u8) -> Key {
        let mut random = [0u8; crate::key::GENERATED_SYMBOLS];
        for (i, b) in random.iter_mut().enumerate() {
            *b = (i as u8).wrapping_mul(7).wrapping_add(seed);
        }
        Key::generate(&random)
    }

    fn transcript() -> Transcript {
        Transcript {
            primary_nonce: [1; 32],
            backup_nonce: [2; 32],
            primary_key: [3; 32],
            backup_key: [4; 32],
        }
    }

    #[test]
    fn the_same_key_proves_and_another_does_not() {
        let t = transcript();
        let proof = prove(&key(1), Direction::BackupToPrimary, &t);
        assert!(verify(&key(1), Direction::BackupToPrimary, &t, &proof));
        assert!(!verify(&key(2), Direction::BackupToPrimary, &t, &proof));
        assert!(!verify(
            &key(1),
            Direction::BackupToPrimary,
            &t,
            &proof[..31]
        ));
    }

    #[test]
    fn a_proof_is_bound_to_direction_nonces_and_public_keys() {
        let t = transcript();
        let proof = prove(&key(1), Direction::BackupToPrimary, &t);
        assert!(
            !verify(&key(1), Direction::PrimaryToBackup, &t, &proof),
            "reflected"
        );
        for changed in [
            Transcript {
                primary_nonce: [9; 32],
                ..t
            },
            Transcript {
                backup_nonce: [9; 32],
                ..t
            },
            // A man in the middle: each side saw the middle's key instead.
            Transcript {
                primary_key: [9; 32],
                ..t
            },
            Transcript {
                backup_key: [9; 32],
                ..t
            },
        ] {
            assert!(!verify(
                &key(1),
                Direction::BackupToPrimary,
                &changed,
                &proof
            ));
        }
    }
}

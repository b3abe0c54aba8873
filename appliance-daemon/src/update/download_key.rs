//! The appliance download key (docs/packages.md "Download key"): the key pair is made once
//! and kept in the settings store with the appliance id it belongs to, so a factory
//! reset, which erases the store, gives a new id and a new pair, and a key made before
//! the reset no longer matches the appliance. Each request issues a fresh token, valid
//! 2400 minutes.

use ring::rand::{SecureRandom, SystemRandom};
use serde::{Deserialize, Serialize};

use package::Signer;

use super::catalog::DownloadError;
use super::Updater;
use crate::store::{Audit, Identity, Record};

/// Stored as the `download_key` record. The seed is a secret: never logged or shown.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct DownloadKeyPair {
    /// The appliance id the pair was made for.
    pub appliance_id: String,
    /// The ed25519 secret seed, 64 hex digits.
    pub seed: String,
    pub created_at: u64,
}

impl std::fmt::Debug for DownloadKeyPair {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DownloadKeyPair")
            .field("appliance_id", &self.appliance_id)
            .field("seed", &"<hidden>")
            .field("created_at", &self.created_at)
            .finish()
    }
}

impl Record for DownloadKeyPair {
    const KEY: &'static str = "download_key";
}

impl DownloadKeyPair {
    fn signer(&self) -> Option<Signer> {
        let mut seed = [0u8; 32];
        hex::decode_to_slice(&self.seed, &mut seed).ok()?;
        Some(Signer::from_seed(&seed))
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the system random number generator failed")]
    Random,
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error("{0}")]
    Installed(#[from] DownloadError),
    #[error("making the download key did not finish: {0}")]
    Interrupted(String),
}

impl Updater {
    /// The appliance's download-key signer, made and stored on first use (audit action
    /// `download_key.create`), made again if the stored one belongs to another id.
    fn download_signer(&self, identity: &Identity) -> Result<Signer, KeyError> {
        let current: DownloadKeyPair = self.store.get()?;
        if current.appliance_id == identity.appliance_id {
            if let Some(signer) = current.signer() {
                return Ok(signer);
            }
        }
        let mut seed = [0u8; 32];
        SystemRandom::new()
            .fill(&mut seed)
            .map_err(|_| KeyError::Random)?;
        let fresh = DownloadKeyPair {
            appliance_id: identity.appliance_id.clone(),
            seed: hex::encode(seed),
            created_at: units::now(),
        };
        let signer = Signer::from_seed(&seed);
        let audit = Audit::system(
            "download_key.create",
            format!(
                "download key {} made for appliance {}",
                signer.id(),
                identity.appliance_id
            ),
        );
        // Another request may have made one meanwhile: keep theirs.
        let kept = self.store.change(audit, |tx| {
            let now: DownloadKeyPair = tx.get()?;
            if now.appliance_id == identity.appliance_id {
                if let Some(theirs) = now.signer() {
                    return Ok::<_, crate::store::Error>(theirs);
                }
            }
            tx.put(&fresh)?;
            Ok(signer)
        })?;
        Ok(kept)
    }

    /// `GET /api/v1/updates/download-key`: a new armored token for this appliance.
    pub(crate) fn download_key(
        &self,
        identity: &Identity,
    ) -> Result<package::download_key::Issued, KeyError> {
        let signer = self.download_signer(identity)?;
        let installed = self.installed()?;
        let now = units::now();
        tracing::info!(key = %signer.id(), "download key issued");
        Ok(package::download_key::issue(
            &signer,
            &identity.appliance_id,
            installed,
            now,
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_seed_round_trips_and_stays_hidden() {
        let pair = DownloadKeyPair {
            appliance_id: "a".into(),
            seed: "07".repeat(32),
            created_at: 0,
        };
        assert_eq!(
            pair.signer().unwrap().id(),
            Signer::from_seed(&[7; 32]).id()
        );
        assert!(!format!("{pair:?}").contains("0707"));
        let bad = DownloadKeyPair {
            seed: "zz".into(),
            ..pair
        };
        assert!(bad.signer().is_none());
    }
}

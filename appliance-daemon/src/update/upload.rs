//! A package as it arrives (an upload, later a download): verified by the package crate,
//! then handed to the installer of its kind. Nothing of the payload is used before the manifest's
//! signature verified against the appliance's keys.

use std::io::Read;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use package::{Keyring, Kind, PackageReader};

use super::install::{InstallError, Installed, Update};
use super::state::{Event, Updates};
use super::{Platform, Updater};
use crate::store::Audit;

impl Platform {
    pub(crate) fn keys_dir(&self) -> PathBuf {
        match self {
            Platform::Appliance => PathBuf::from(crate::paths::KEYS_DIR),
            Platform::Dev { dir } => dir.join("keys"),
        }
    }
}

/// A payload read error: the package crate's verdict (hash, size) if it is one.
fn payload_error(e: std::io::Error) -> package::Error {
    let (kind, text) = (e.kind(), e.to_string());
    match e.into_inner().map(
        <dyn std::error::Error + std::marker::Send + std::marker::Sync + 'static>::downcast::<
            package::Error,
        >,
    ) {
        Some(Ok(verdict)) => *verdict,
        _ => package::Error::from(std::io::Error::new(kind, text)),
    }
}

impl Updater {
    /// Verify and install the package read from `body`: the one entry point of uploads
    /// and downloads, dispatching on the verified manifest's kind (a base package into
    /// the inactive slot, a site package onto `data`).
    pub(crate) fn install_package(
        &self,
        body: impl Read,
        actor: &str,
        address: Option<IpAddr>,
        downgrade: bool,
    ) -> Result<Installed, InstallError> {
        let keys = self.platform.keys_dir();
        let keyring = load_keyring(&keys)?;
        let opened = PackageReader::open(body, &keyring);
        let (manifest, mut reader) = match opened {
            Ok(v) => v,
            Err(e) => {
                let err = InstallError::Package(e);
                self.record_refusal("unknown", &err, actor, address);
                return Err(err);
            }
        };
        let mut update = Update::from_manifest(&manifest);
        update.signed = reader.signed().clone();
        // Marked only when it is one: the install's audit entry says "update.downgrade".
        update.downgrade = downgrade
            && super::checks::is_older(
                update.candidate(),
                &self.installed_now(&self.store.get()?)?,
            );
        let payload = first_payload(&mut reader)?;
        let install = match update.kind {
            Kind::Base => Self::install_base,
            Kind::Site => Self::install_site,
        };
        install(
            self,
            &update,
            payload,
            payload_error,
            &self.progress,
            actor,
            address,
        )
    }

    /// A package refused before its checks (signature, format): in the history too.
    fn record_refusal(
        &self,
        version: &str,
        err: &InstallError,
        actor: &str,
        address: Option<IpAddr>,
    ) {
        let event = Event {
            at: units::now(),
            kind: "refused".into(),
            version: version.to_string(),
            slot: None,
            package: None,
            detail: err.to_string(),
        };
        let result = self.store.change(
            Audit::user(
                actor,
                address,
                "update.refused",
                format!("{}: {err}", err.code()),
            ),
            |tx| {
                let mut u: Updates = tx.get()?;
                u.record(event);
                tx.put(&u)
            },
        );
        if let Err(e) = result {
            tracing::error!("cannot record a refused package: {e}");
        }
    }
}

/// The package's one payload (base and site packages carry exactly one).
fn first_payload<R: Read>(
    reader: &mut PackageReader<R>,
) -> Result<package::PayloadReader<'_, R>, InstallError> {
    match reader.next_payload() {
        Ok(Some(p)) => Ok(p),
        Ok(None) => Err(InstallError::NoPayload),
        Err(e) => Err(InstallError::Package(e)),
    }
}

/// What Status says of the keys in `dir` (the running slot's): their ids, and whether the
/// published development key is among them. Read once at start (the slot is read-only).
pub(crate) fn update_keys(dir: &Path) -> api_types::UpdateKeys {
    let ids: Vec<package::KeyId> = Keyring::from_dir(dir)
        .map(|ring| ring.ids().collect())
        .unwrap_or_default();
    api_types::UpdateKeys {
        development: ids.contains(&package::development_key_id()),
        trusted: ids.iter().map(ToString::to_string).collect(),
    }
}

fn load_keyring(dir: &Path) -> Result<Keyring, InstallError> {
    let keyring = Keyring::from_dir(dir).map_err(|e| {
        InstallError::NoKeys(format!("the appliance's trusted keys cannot be read: {e}"))
    })?;
    if keyring.is_empty() {
        return Err(InstallError::NoKeys(format!(
            "no trusted key in {}: no package can be verified",
            dir.display()
        )));
    }
    Ok(keyring)
}

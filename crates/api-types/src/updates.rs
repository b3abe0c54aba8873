//! `/api/v1/updates`: the updates view (slots, pending install, history, the catalog's
//! offer), the answer of an installed package and the progress of an install.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What the caller learns of a finished install (`POST /api/v1/updates/upload`, and the
/// site package and catalog installs).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Installed {
    /// `base` or `site`.
    pub kind: String,
    /// `base`, or the site package's name.
    pub name: String,
    pub version: String,
    /// The slot a base package was written to; none for a site package.
    pub slot: Option<String>,
    /// True for a base package (the new system starts at the next restart); a site
    /// package is in use as soon as it is installed.
    pub restart_required: bool,
    /// The version a site package replaced, kept for a rollback.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub previous: Option<String>,
}

/// One `progress` event of `GET /api/v1/updates/progress`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Progress {
    /// `idle`, `verifying`, `writing`, `finishing`, `done` or `failed`.
    pub phase: String,
    pub version: Option<String>,
    pub bytes: u64,
    pub total: u64,
    /// Set when done or failed: what happened, in a sentence.
    pub message: Option<String>,
}

/// `GET /api/v1/updates`: what runs, what each slot holds, the install waiting for a
/// restart, the anti-rollback floor, the site packages, rollbacks, history, and what the
/// update catalog offers.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Updates {
    pub running: Running,
    /// `A` / `B` -> what the slot holds.
    pub slots: BTreeMap<String, SlotInfo>,
    /// Installed, starts at the next restart.
    pub pending: Option<PendingInstall>,
    /// No base package below this version is accepted.
    pub floor: Option<String>,
    /// Installed site packages by name.
    pub sites: BTreeMap<String, SiteInfo>,
    /// The last rollback since the last successful update.
    pub rollback: Option<UpdateEvent>,
    pub installing: bool,
    /// Newest first.
    pub history: Vec<UpdateEvent>,
    /// The last catalog that verified.
    pub catalog: Option<CatalogInfo>,
    /// The last check, if it failed.
    pub last_check_failure: Option<CatalogFailure>,
    /// In install order (base first, site packages after what they need).
    pub available: Vec<Available>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Running {
    pub version: String,
    pub slot: String,
    pub profile: String,
}

/// What a slot holds, as far as the appliance installed or ran it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SlotInfo {
    pub version: String,
    /// Unix seconds.
    pub installed_at: Option<u64>,
}

/// A site package on `data`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SiteInfo {
    /// The version in use.
    pub version: String,
    /// The version it replaced, kept on `data` for a rollback.
    pub previous: Option<String>,
    /// Unix seconds of the install (or rollback) that made `version` current.
    pub installed_at: u64,
}

/// A base package installed and committed, not yet booted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PendingInstall {
    pub slot: String,
    pub version: String,
    /// The version that was running when it was installed.
    pub from_version: String,
    /// Unix seconds.
    pub installed_at: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateEvent {
    /// Unix seconds.
    pub at: u64,
    /// `installed`, `activated`, `rolled_back`, `refused` or `failed`.
    pub kind: String,
    pub version: String,
    pub slot: Option<String>,
    /// The site package the event is about; none for base packages.
    pub package: Option<String>,
    /// A sentence: why it was refused, why it was rolled back.
    pub detail: String,
}

/// The catalog part of `GET /api/v1/updates`: where it came from and when.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CatalogInfo {
    pub url: String,
    /// Unix seconds.
    pub checked_at: u64,
    pub issued: Option<u64>,
    pub expires: Option<u64>,
    /// Why the stored catalog is no longer usable (expired since, keys changed), if so.
    pub problem: Option<CatalogFailure>,
}

/// A catalog check that failed, or why a stored catalog is no longer usable.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct CatalogFailure {
    /// Unix seconds.
    pub at: u64,
    pub code: String,
    pub message: String,
}

/// One package of the catalog.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Available {
    pub id: String,
    /// `base` or `site`.
    pub kind: String,
    pub name: String,
    pub version: String,
    pub profiles: Vec<String>,
    pub requires: Vec<Requirement>,
    pub size: u64,
    pub installable: bool,
    /// Why it cannot be installed now (absent when installable).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blocked_code: Option<String>,
}

/// "Package `name` must be installed at `min_version` or later."
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Requirement {
    pub name: String,
    pub min_version: String,
}

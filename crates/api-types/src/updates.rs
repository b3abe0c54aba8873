//! `/api/v1/updates`: the answer of an installed package and the progress of an install.

use serde::{Deserialize, Serialize};

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

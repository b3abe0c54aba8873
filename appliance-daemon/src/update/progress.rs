//! Install progress, published to any number of watchers (the SSE endpoint, the UI).

use serde::Serialize;
use tokio::sync::watch;

/// Written as [`api_types::Progress`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(into = "api_types::Progress")]
pub struct Progress {
    /// `idle`, `verifying`, `writing`, `finishing`, `done`, `failed`.
    pub phase: &'static str,
    pub version: Option<String>,
    pub bytes: u64,
    pub total: u64,
    /// Set when done or failed: what happened, in a sentence.
    pub message: Option<String>,
}

impl From<Progress> for api_types::Progress {
    fn from(p: Progress) -> Self {
        api_types::Progress {
            phase: p.phase.to_string(),
            version: p.version,
            bytes: p.bytes,
            total: p.total,
            message: p.message,
        }
    }
}

#[derive(Debug)]
pub(crate) struct Publisher {
    tx: watch::Sender<Progress>,
}

impl Default for Publisher {
    fn default() -> Self {
        let (tx, _) = watch::channel(Progress {
            phase: "idle",
            ..Progress::default()
        });
        Publisher { tx }
    }
}

impl Publisher {
    pub(crate) fn set(&self, progress: Progress) {
        self.tx.send_replace(progress);
    }

    /// Update the byte count, publishing at most every 1 MiB (or at the end).
    pub(crate) fn bytes(&self, bytes: u64) {
        self.tx.send_if_modified(|p| {
            let step = bytes / (1 << 20) != p.bytes / (1 << 20) || bytes == p.total;
            p.bytes = bytes;
            step
        });
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<Progress> {
        self.tx.subscribe()
    }

    pub(crate) fn current(&self) -> Progress {
        self.tx.borrow().clone()
    }
}

//! What the appliance knows about its updates, kept in the settings store: the version in
//! each slot, the install waiting for its first boot, the anti-rollback floor, and the
//! history shown on the Updates page (installs, activations, rollbacks, refusals), and
//! the installed site packages.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

use package::Version;

use crate::store::Record;

/// How many history events are kept.
pub(crate) const HISTORY_KEEP: usize = 200;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Updates {
    /// `"A"` / `"B"` -> what that slot holds, as far as this appliance installed or ran it.
    #[serde(default)]
    pub slots: BTreeMap<String, SlotInfo>,
    /// Installed and committed, not yet booted.
    #[serde(default)]
    pub pending: Option<Pending>,
    /// No base package below this version may be installed.
    #[serde(default)]
    pub floor: Option<Version>,
    /// Installed site packages: name -> the version `current` names, and the one kept.
    #[serde(default)]
    pub sites: BTreeMap<String, SiteInfo>,
    /// Newest last.
    #[serde(default)]
    pub history: Vec<Event>,
}

impl Record for Updates {
    const KEY: &'static str = "updates";
}

pub(crate) use api_types::SlotInfo;

/// A site package on `data` (update/site.rs).
pub(crate) use api_types::SiteInfo;

pub(crate) use api_types::PendingInstall as Pending;

pub(crate) use api_types::UpdateEvent as Event;

impl Updates {
    pub(crate) fn record(&mut self, event: Event) {
        self.history.push(event);
        if self.history.len() > HISTORY_KEEP {
            let extra = self.history.len() - HISTORY_KEEP;
            self.history.drain(..extra);
        }
    }

    /// The last rollback of the base system, if it is more recent than the last
    /// activation: what the UI shows as a warning until another update succeeds. (A site
    /// package's rollback is an operator's choice, not a failure.)
    pub(crate) fn last_rollback(&self) -> Option<&Event> {
        self.history
            .iter()
            .rev()
            .filter(|e| e.package.is_none())
            .take_while(|e| e.kind != "activated")
            .find(|e| e.kind == "rolled_back")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(kind: &str) -> Event {
        Event {
            at: 0,
            kind: kind.into(),
            version: "1.0.2".into(),
            slot: Some("A".into()),
            package: None,
            detail: String::new(),
        }
    }

    #[test]
    fn history_is_bounded_and_newest_last() {
        let mut u = Updates::default();
        for i in 0..(HISTORY_KEEP + 5) {
            let mut e = ev("installed");
            e.at = i as u64;
            u.record(e);
        }
        assert_eq!(u.history.len(), HISTORY_KEEP);
        assert_eq!(u.history.last().unwrap().at, (HISTORY_KEEP + 4) as u64);
    }

    #[test]
    fn a_rollback_shows_until_the_next_activation() {
        let mut u = Updates::default();
        u.record(ev("installed"));
        u.record(ev("rolled_back"));
        assert!(u.last_rollback().is_some());
        u.record(ev("installed"));
        assert!(u.last_rollback().is_some());
        u.record(ev("activated"));
        assert!(u.last_rollback().is_none());
    }
}

//! What the appliance does once the factory reset has erased it, as the command line
//! names it.

use serde::{Deserialize, Serialize};

/// What the appliance does once the factory reset has erased it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ResetThen {
    #[default]
    Poweroff,
    Reboot,
}

impl ResetThen {
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "poweroff" => Some(ResetThen::Poweroff),
            "reboot" => Some(ResetThen::Reboot),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ResetThen::Poweroff => "poweroff",
            ResetThen::Reboot => "reboot",
        }
    }
}

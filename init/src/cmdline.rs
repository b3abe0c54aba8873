//! Kernel command line parsing (pure): which slot GRUB booted, and whether it saw a
//! factory reset request in grubenv.

use std::collections::HashMap;

/// The root slot GRUB chose, from `appliance.slot=A|B|factory`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    A,
    B,
    /// No slot was bootable: GRUB booted the factory partition.
    Factory,
}

impl Slot {
    /// The GPT partition label of this slot (docs/boot.md).
    pub fn label(self) -> &'static str {
        match self {
            Slot::A => "root-a",
            Slot::B => "root-b",
            Slot::Factory => "factory",
        }
    }
}

#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum CmdlineError {
    #[error("kernel command line has no appliance.slot=A|B|factory")]
    NoSlot,
    #[error("kernel command line says appliance.slot={0:?}; only A, B or factory are valid")]
    BadSlot(String),
}

/// Split a command line into words; double quotes group words (`a="x y"`), as the kernel does.
pub fn words(cmdline: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in cmdline.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

/// The value of the last `key=value` word for `key` (later words override earlier ones,
/// which is how `EXTRA_CMDLINE` appended by GRUB overrides the defaults).
pub fn value<'a>(words: &'a [String], key: &str) -> Option<&'a str> {
    words
        .iter()
        .rev()
        .find_map(|w| w.strip_prefix(key).and_then(|rest| rest.strip_prefix('=')))
}

/// The options the command line gives loadable modules, as modprobe reads them:
/// `e1000e.IntMode=1 e1000e.SmartPowerDownEnable=1` -> {"e1000e": "IntMode=1
/// SmartPowerDownEnable=1"}. Module names match with `-` and `_` alike; a value holding
/// spaces (quoted on the command line) is quoted again for the kernel's parser.
pub fn module_options(words: &[String]) -> HashMap<String, String> {
    let mut out: HashMap<String, String> = HashMap::new();
    for w in words {
        let key_end = w.find('=').unwrap_or(w.len());
        let Some(dot) = w[..key_end].find('.') else {
            continue;
        };
        let (module, option) = (&w[..dot], &w[dot + 1..]);
        if module.is_empty() || option.is_empty() || option.starts_with('=') {
            continue;
        }
        let option = match option.split_once('=') {
            Some((k, v)) if v.contains(char::is_whitespace) => format!("{k}=\"{v}\""),
            _ => option.to_string(),
        };
        let entry = out.entry(module.replace('-', "_")).or_default();
        if !entry.is_empty() {
            entry.push(' ');
        }
        entry.push_str(&option);
    }
    out
}

/// The slot named on the command line.
pub fn slot(cmdline: &str) -> Result<Slot, CmdlineError> {
    let w = words(cmdline);
    match value(&w, "appliance.slot") {
        None => Err(CmdlineError::NoSlot),
        Some("A" | "a") => Ok(Slot::A),
        Some("B" | "b") => Ok(Slot::B),
        Some("factory") => Ok(Slot::Factory),
        Some(other) => Err(CmdlineError::BadSlot(other.to_string())),
    }
}

/// GRUB adds `appliance.factory_reset=poweroff|reboot` when grubenv holds a reset request,
/// so stage 1 reads the ESP only then. grubenv stays the authority: the word alone never
/// starts a reset.
pub fn factory_reset_flagged(cmdline: &str) -> bool {
    let w = words(cmdline);
    value(&w, "appliance.factory_reset").is_some_and(|v| !v.is_empty())
}

/// Seconds a slot gets by default to pass its health check (TCG boots take about 60).
pub const HEALTH_TIMEOUT_DEFAULT: u64 = 300;

/// How long the booted slot may take to report healthy before init restarts the machine
/// so that GRUB falls back: `appliance.health_timeout=SECONDS` (0: never), else
/// [`HEALTH_TIMEOUT_DEFAULT`]. `None` when there is no deadline: the factory image (no
/// other slot to fall back to) or 0.
pub fn health_timeout(cmdline: &str) -> Option<u64> {
    let w = words(cmdline);
    if !matches!(slot(cmdline), Ok(Slot::A | Slot::B)) {
        return None;
    }
    let secs = value(&w, "appliance.health_timeout")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(HEALTH_TIMEOUT_DEFAULT);
    (secs > 0).then_some(secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_options_are_gathered_per_module_as_modprobe_does() {
        let w = words(
            "BOOT_IMAGE=(hd0,gpt3)/boot/vmlinuz appliance.slot=A e1000e.IntMode=1 \
             vmw-pvscsi.ring_pages=32 e1000e.debug=16 usbcore.nousb x.=1 .y=2 \
             dyndbg.q=\"file a.c +p\" rd.break",
        );
        let o = module_options(&w);
        assert_eq!(o["e1000e"], "IntMode=1 debug=16");
        assert_eq!(o["vmw_pvscsi"], "ring_pages=32");
        assert_eq!(o["usbcore"], "nousb");
        assert_eq!(o["dyndbg"], "q=\"file a.c +p\"");
        assert_eq!(o["rd"], "break");
        assert_eq!(o["appliance"], "slot=A");
        assert!(!o.contains_key("BOOT_IMAGE"));
        assert!(!o.contains_key("x"));
        assert!(!o.contains_key(""));
    }

    #[test]
    fn finds_slot_among_other_words() {
        let c = "BOOT_IMAGE=/boot/vmlinuz console=tty0 console=ttyS0,115200 appliance.slot=B panic=10\n";
        assert_eq!(slot(c), Ok(Slot::B));
        assert_eq!(Slot::B.label(), "root-b");
        assert_eq!(Slot::A.label(), "root-a");
    }

    #[test]
    fn missing_or_bad_slot_is_reported() {
        assert_eq!(slot("console=ttyS0 quiet"), Err(CmdlineError::NoSlot));
        assert_eq!(
            slot("appliance.slot=C"),
            Err(CmdlineError::BadSlot("C".into()))
        );
        // A longer key with the same prefix is not the slot.
        assert_eq!(slot("appliance.slotx=A"), Err(CmdlineError::NoSlot));
    }

    #[test]
    fn last_word_wins_and_quotes_group() {
        assert_eq!(slot("appliance.slot=A appliance.slot=B"), Ok(Slot::B));
        let w = words(r#"a="x y" b=1  "c d""#);
        assert_eq!(w, vec!["a=x y", "b=1", "c d"]);
        assert_eq!(value(&w, "a"), Some("x y"));
        assert_eq!(words("  "), Vec::<String>::new());
    }

    #[test]
    fn health_timeout_of_a_slot() {
        assert_eq!(
            health_timeout("appliance.slot=A"),
            Some(HEALTH_TIMEOUT_DEFAULT)
        );
        assert_eq!(
            health_timeout("appliance.slot=B appliance.health_timeout=90"),
            Some(90)
        );
        assert_eq!(
            health_timeout("appliance.slot=B appliance.health_timeout=0"),
            None
        );
        // A word that is not a number keeps the default rather than disarming it.
        assert_eq!(
            health_timeout("appliance.slot=A appliance.health_timeout=soon"),
            Some(HEALTH_TIMEOUT_DEFAULT)
        );
        assert_eq!(health_timeout("appliance.slot=factory"), None);
        assert_eq!(health_timeout("console=ttyS0"), None);
    }

    #[test]
    fn factory_slot_and_reset_flag() {
        assert_eq!(slot("appliance.slot=factory"), Ok(Slot::Factory));
        assert_eq!(Slot::Factory.label(), "factory");
        assert!(factory_reset_flagged(
            "appliance.slot=A appliance.factory_reset=poweroff panic=10"
        ));
        assert!(!factory_reset_flagged(
            "appliance.slot=A appliance.factory_reset="
        ));
        assert!(!factory_reset_flagged("appliance.slot=A"));
    }
}

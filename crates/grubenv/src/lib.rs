//! The GRUB environment block (`grubenv`) and the A/B boot state it carries.
//!
//! The block is exactly [`BLOCK_SIZE`] bytes: the header line, `KEY=value\n` lines, then
//! `#` padding. GRUB's `save_env` and our writers rewrite the same bytes in place, so the
//! file never changes size (a FAT directory entry is never touched after the build).
//!
//! The variables follow the scheme RAUC documents for GRUB: `ORDER` (slots in boot
//! preference, space separated), and per slot `X_OK` (1 = bootable) and `X_TRY` (1 = GRUB
//! already tried it once since it was last marked good). See `docs/boot.md`.
//!
//! Nothing here touches a disk: [`Env::parse`] and [`Env::to_block`] convert bytes, and the
//! transitions on [`BootState`] change memory only. The caller writes the block once.
#![forbid(unsafe_code)]

mod machine;
pub use machine::{Choice, Rollback};
mod reset;
pub use reset::{ResetProgress, ResetStage, Then};
use std::fmt;

pub const BLOCK_SIZE: usize = 1024;
const HEADER: &str = "# GRUB Environment Block\n";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("grubenv is {0} bytes, expected exactly {BLOCK_SIZE}")]
    Size(usize),
    #[error("grubenv does not start with the GRUB environment header")]
    Header,
    #[error("grubenv line {0:?} is not KEY=value")]
    Line(String),
    #[error("grubenv key or value {0:?} contains a character GRUB cannot store")]
    Invalid(String),
    #[error("grubenv variables need {0} bytes, more than the {BLOCK_SIZE}-byte block holds")]
    TooLarge(usize),
    #[error("unknown slot {0:?} (expected A or B)")]
    Slot(String),
}

/// The variables of one environment block, in file order.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Env {
    vars: Vec<(String, String)>,
}

impl Env {
    pub fn parse(block: &[u8]) -> Result<Self, Error> {
        if block.len() != BLOCK_SIZE {
            return Err(Error::Size(block.len()));
        }
        let text = String::from_utf8_lossy(block);
        let body = text.strip_prefix(HEADER).ok_or(Error::Header)?;
        let mut vars = Vec::new();
        for line in body.split('\n') {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (k, v) = line
                .split_once('=')
                .ok_or_else(|| Error::Line(line.to_string()))?;
            vars.push((k.to_string(), v.to_string()));
        }
        Ok(Env { vars })
    }

    pub fn get(&self, key: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn set(&mut self, key: &str, value: &str) {
        match self.vars.iter_mut().find(|(k, _)| k == key) {
            Some((_, v)) => *v = value.to_string(),
            None => self.vars.push((key.to_string(), value.to_string())),
        }
    }

    /// Drop `key`; nothing happens when it is not set.
    pub fn remove(&mut self, key: &str) {
        self.vars.retain(|(k, _)| k != key);
    }

    pub fn to_block(&self) -> Result<Vec<u8>, Error> {
        let mut out = String::from(HEADER);
        for (k, v) in &self.vars {
            for s in [k, v] {
                if s.contains(['\n', '\\']) || (s == k && (k.is_empty() || k.contains('='))) {
                    return Err(Error::Invalid(s.clone()));
                }
            }
            out.push_str(k);
            out.push('=');
            out.push_str(v);
            out.push('\n');
        }
        if out.len() > BLOCK_SIZE {
            return Err(Error::TooLarge(out.len()));
        }
        let mut block = out.into_bytes();
        block.resize(BLOCK_SIZE, b'#');
        Ok(block)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    A,
    B,
}

impl Slot {
    pub fn parse(s: &str) -> Result<Self, Error> {
        match s {
            "A" => Ok(Slot::A),
            "B" => Ok(Slot::B),
            other => Err(Error::Slot(other.to_string())),
        }
    }
    /// GPT partition label of the slot.
    pub fn label(self) -> &'static str {
        match self {
            Slot::A => "root-a",
            Slot::B => "root-b",
        }
    }
    pub fn other(self) -> Slot {
        match self {
            Slot::A => Slot::B,
            Slot::B => Slot::A,
        }
    }
}

impl fmt::Display for Slot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Slot::A => "A",
            Slot::B => "B",
        })
    }
}

/// The A/B state held in an [`Env`]. Transitions change memory only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BootState {
    env: Env,
}

impl BootState {
    /// The state of a freshly built disk: slot A good and first, slot B empty.
    pub fn factory() -> Self {
        let mut env = Env::default();
        env.set("ORDER", "A B");
        env.set("A_OK", "1");
        env.set("A_TRY", "0");
        env.set("B_OK", "0");
        env.set("B_TRY", "0");
        BootState { env }
    }

    pub fn from_env(env: Env) -> Self {
        BootState { env }
    }

    pub fn env(&self) -> &Env {
        &self.env
    }

    /// The anti-rollback floor kept on the ESP (`FLOOR`): a factory reset erases the data
    /// partition, not this.
    pub fn floor(&self) -> Option<&str> {
        self.env.get("FLOOR")
    }

    pub fn set_floor(&mut self, version: &str) {
        self.env.set("FLOOR", version);
    }

    pub fn is_ok(&self, slot: Slot) -> bool {
        self.env.get(&format!("{slot}_OK")) == Some("1")
    }

    pub fn is_trying(&self, slot: Slot) -> bool {
        self.env.get(&format!("{slot}_TRY")) == Some("1")
    }

    /// The booted slot passed its health gate: it stays bootable and is no longer on trial.
    /// A confirmed slot also re-arms GRUB's one more try for slots that fail later.
    pub fn mark_successful_boot(&mut self, slot: Slot) {
        self.env.set(&format!("{slot}_OK"), "1");
        self.env.set(&format!("{slot}_TRY"), "0");
        if self.env.get("TRY_RESET") == Some("1") {
            self.env.set("TRY_RESET", "0");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn factory_block_is_exactly_1024_bytes_and_parses_back() {
        let block = BootState::factory().env().to_block().unwrap();
        assert_eq!(block.len(), BLOCK_SIZE);
        assert!(block.starts_with(HEADER.as_bytes()));
        assert_eq!(*block.last().unwrap(), b'#');
        let env = Env::parse(&block).unwrap();
        assert_eq!(env.get("ORDER"), Some("A B"));
        assert_eq!(env.get("B_OK"), Some("0"));
    }

    #[test]
    fn parses_a_block_written_by_grub() {
        let mut block =
            b"# GRUB Environment Block\nORDER=B A\nA_OK=1\nA_TRY=0\nB_OK=1\nB_TRY=1\n".to_vec();
        block.resize(BLOCK_SIZE, b'#');
        let st = BootState::from_env(Env::parse(&block).unwrap());
        assert!(st.is_trying(Slot::B));
        let mut st2 = st.clone();
        st2.mark_successful_boot(Slot::B);
        assert!(!st2.is_trying(Slot::B) && st2.is_ok(Slot::B));
        let again = Env::parse(&st2.env().to_block().unwrap()).unwrap();
        assert_eq!(again.get("B_TRY"), Some("0"));
        assert_eq!(again.get("ORDER"), Some("B A"));
    }

    #[test]
    fn rejects_wrong_size_and_header() {
        assert_eq!(Env::parse(&[b'#'; 1000]), Err(Error::Size(1000)));
        assert_eq!(Env::parse(&[b'#'; BLOCK_SIZE]), Err(Error::Header));
    }

    #[test]
    fn overflow_is_an_error_not_a_truncation() {
        let mut env = Env::default();
        env.set("X", &"y".repeat(BLOCK_SIZE));
        assert!(matches!(env.to_block(), Err(Error::TooLarge(_))));
    }

    #[test]
    fn newline_in_value_is_refused() {
        let mut env = Env::default();
        env.set("X", "a\nB_OK=1");
        assert!(matches!(env.to_block(), Err(Error::Invalid(_))));
    }
}

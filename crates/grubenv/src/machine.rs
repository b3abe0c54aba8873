//! The A/B slot state machine: what GRUB (`image/grub/grub.cfg`) does at boot, modelled
//! step for step so that every transition can be tested without a boot, and what the
//! installer and the health gate do to the same variables.
//!
//! Life of an update into slot X while slot Y runs:
//! 1. [`BootState::begin_install`]: X_OK=0 (X is being overwritten: never boot it).
//! 2. The payload is written and verified.
//! 3. [`BootState::commit_install`]: X_OK=1, X_TRY=0, ORDER="X Y".
//! 4. Reboot. GRUB picks X (OK, not on trial) and sets X_TRY=1 ([`BootState::grub_boot`]).
//! 5. X passes the health gate: [`BootState::mark_successful_boot`] clears X_TRY.
//!    X never gets there (hang, watchdog, power loss): the next GRUB run skips X (TRY=1)
//!    and boots Y; Y sees ORDER starting with X that is not the booted slot:
//!    [`BootState::rollback`] reports it and [`BootState::abandon`] puts Y first again.

use crate::{BootState, Slot};

/// What GRUB boots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Choice {
    Slot(Slot),
    Factory,
}

/// Why the preferred slot was not the one booted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rollback {
    /// GRUB booted it but it never passed the health gate (TRY still set).
    NeverHealthy(Slot),
    /// GRUB could not even load its kernel (the slot is damaged), so it was skipped.
    Unbootable(Slot),
}

impl BootState {
    /// The slots in preference order (ORDER, then any slot it omits).
    pub fn order(&self) -> Vec<Slot> {
        let named = self.env.get("ORDER").unwrap_or("A B").split_whitespace();
        let mut out = Vec::with_capacity(2);
        for s in named
            .filter_map(|s| Slot::parse(s).ok())
            .chain([Slot::A, Slot::B])
        {
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }

    fn set_flag(&mut self, slot: Slot, flag: &str, value: bool) {
        self.env
            .set(&format!("{slot}_{flag}"), if value { "1" } else { "0" });
    }

    /// GRUB's choice and the variables it saves, given which slots have a readable kernel.
    /// Mirrors grub.cfg: first pass over ORDER for OK=1, TRY!=1 and a kernel; if none and
    /// TRY_RESET is not 1 while some slot is OK, clear every TRY, set TRY_RESET=1, try
    /// again; else the factory image. Only the health gate sets TRY_RESET back to 0.
    pub fn grub_boot(&mut self, readable: impl Fn(Slot) -> bool) -> Choice {
        let pick = |st: &BootState| {
            st.order()
                .into_iter()
                .find(|&s| st.is_ok(s) && !st.is_trying(s) && readable(s))
        };
        let mut chosen = pick(self);
        if chosen.is_none()
            && self.env.get("TRY_RESET") != Some("1")
            && (self.is_ok(Slot::A) || self.is_ok(Slot::B))
        {
            self.set_flag(Slot::A, "TRY", false);
            self.set_flag(Slot::B, "TRY", false);
            self.env.set("TRY_RESET", "1");
            chosen = pick(self);
        }
        match chosen {
            Some(slot) => {
                self.set_flag(slot, "TRY", true);
                Choice::Slot(slot)
            }
            None => Choice::Factory,
        }
    }

    /// Before the first byte is written into `slot`: it must not be booted half-written.
    pub fn begin_install(&mut self, slot: Slot) {
        self.set_flag(slot, "OK", false);
        self.set_flag(slot, "TRY", false);
    }

    /// The payload in `slot` is complete and verified: boot it first, on trial.
    pub fn commit_install(&mut self, slot: Slot) {
        self.set_flag(slot, "OK", true);
        self.set_flag(slot, "TRY", false);
        self.env.set("ORDER", &format!("{} {}", slot, slot.other()));
    }

    /// Seen from the booted slot: did the preferred slot fail?
    pub fn rollback(&self, booted: Slot) -> Option<Rollback> {
        let first = *self.order().first()?;
        if first == booted || !self.is_ok(first) {
            return None;
        }
        Some(if self.is_trying(first) {
            Rollback::NeverHealthy(first)
        } else {
            Rollback::Unbootable(first)
        })
    }

    /// Give up on `failed` after a rollback: not bootable, the booted slot first.
    pub fn abandon(&mut self, failed: Slot) {
        self.set_flag(failed, "OK", false);
        self.set_flag(failed, "TRY", false);
        self.env
            .set("ORDER", &format!("{} {}", failed.other(), failed));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ALL: fn(Slot) -> bool = |_| true;

    fn state(order: &str, a: (bool, bool), b: (bool, bool)) -> BootState {
        let mut st = BootState::factory();
        st.env.set("ORDER", order);
        st.set_flag(Slot::A, "OK", a.0);
        st.set_flag(Slot::A, "TRY", a.1);
        st.set_flag(Slot::B, "OK", b.0);
        st.set_flag(Slot::B, "TRY", b.1);
        st
    }

    #[test]
    fn factory_disk_boots_a_and_marks_it_on_trial() {
        let mut st = BootState::factory();
        assert_eq!(st.grub_boot(ALL), Choice::Slot(Slot::A));
        assert!(st.is_trying(Slot::A));
        st.mark_successful_boot(Slot::A);
        assert!(!st.is_trying(Slot::A));
        assert_eq!(st.grub_boot(ALL), Choice::Slot(Slot::A));
    }

    #[test]
    fn update_into_b_then_healthy() {
        let mut st = BootState::factory();
        st.grub_boot(ALL);
        st.mark_successful_boot(Slot::A);
        st.begin_install(Slot::B);
        assert!(!st.is_ok(Slot::B));
        // A power cut now: GRUB still boots A, and nothing looks like a rollback.
        let mut cut = st.clone();
        assert_eq!(cut.grub_boot(ALL), Choice::Slot(Slot::A));
        assert_eq!(cut.rollback(Slot::A), None);

        st.commit_install(Slot::B);
        assert_eq!(st.order(), vec![Slot::B, Slot::A]);
        assert_eq!(st.grub_boot(ALL), Choice::Slot(Slot::B));
        assert_eq!(st.rollback(Slot::B), None);
        st.mark_successful_boot(Slot::B);
        assert_eq!(st.grub_boot(ALL), Choice::Slot(Slot::B));
    }

    #[test]
    fn update_that_never_gets_healthy_rolls_back() {
        let mut st = BootState::factory();
        st.grub_boot(ALL);
        st.mark_successful_boot(Slot::A);
        st.begin_install(Slot::B);
        st.commit_install(Slot::B);
        assert_eq!(st.grub_boot(ALL), Choice::Slot(Slot::B));
        // No health: the watchdog resets. GRUB skips B (on trial) and boots A.
        assert_eq!(st.grub_boot(ALL), Choice::Slot(Slot::A));
        assert_eq!(st.rollback(Slot::A), Some(Rollback::NeverHealthy(Slot::B)));
        st.mark_successful_boot(Slot::A);
        st.abandon(Slot::B);
        assert_eq!(st.rollback(Slot::A), None);
        assert_eq!(st.order(), vec![Slot::A, Slot::B]);
        assert_eq!(st.grub_boot(ALL), Choice::Slot(Slot::A));
    }

    #[test]
    fn wrecked_slot_is_skipped_by_grub() {
        // 1.0.2 committed into A while B runs, then A is wrecked on disk.
        let mut st = state("A B", (true, false), (true, false));
        let b_only = |s: Slot| s == Slot::B;
        assert_eq!(st.grub_boot(b_only), Choice::Slot(Slot::B));
        assert_eq!(st.rollback(Slot::B), Some(Rollback::Unbootable(Slot::A)));
    }

    #[test]
    fn both_slots_bad_boots_factory_after_one_more_try() {
        // Both on trial (power lost twice before health): one more try of each...
        let mut st = state("A B", (true, true), (true, true));
        assert_eq!(st.grub_boot(ALL), Choice::Slot(Slot::A));
        assert_eq!(st.env.get("TRY_RESET"), Some("1"));
        // ... A fails again: B gets its one more try.
        assert_eq!(st.grub_boot(ALL), Choice::Slot(Slot::B));
        // ... B fails too: no slot left and the reset is spent: factory.
        assert_eq!(st.grub_boot(ALL), Choice::Factory);
        assert_eq!(st.grub_boot(ALL), Choice::Factory);
        // A slot confirmed later re-arms the one more try.
        st.mark_successful_boot(Slot::A);
        assert_eq!(st.grub_boot(ALL), Choice::Slot(Slot::A));
        assert_eq!(st.env.get("TRY_RESET"), Some("0"));
    }

    #[test]
    fn no_good_slot_at_all_boots_factory() {
        let mut st = state("A B", (false, false), (false, false));
        assert_eq!(st.grub_boot(ALL), Choice::Factory);
        let mut st = state("A B", (true, false), (true, false));
        assert_eq!(st.grub_boot(|_| false), Choice::Factory);
    }

    #[test]
    fn order_tolerates_garbage() {
        let st = state("B x B", (true, false), (true, false));
        assert_eq!(st.order(), vec![Slot::B, Slot::A]);
        let st = state("A B A", (true, false), (true, false));
        assert_eq!(st.order(), vec![Slot::A, Slot::B]);
        let mut st = BootState::factory();
        st.env.set("ORDER", "");
        assert_eq!(st.order(), vec![Slot::A, Slot::B]);
    }
}

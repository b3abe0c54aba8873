//! The factory reset as grubenv variables: the request (written by the daemon, or by GRUB's
//! console menu entry) and the progress stage 1 keeps while it works, so that a power cut
//! at any point resumes where the work is known to be durable (docs/factory-reset.md).
//!
//! | variable | written by | meaning |
//! |---|---|---|
//! | `FACTORY_RESET` | daemon, GRUB entry | `poweroff` or `reboot`: a reset is requested, and what follows it |
//! | `RESET_STAGE` | stage 1 | `wipe` (absent means wipe), `slots`, `data` |
//! | `RESET_WIPED` | stage 1 | bytes of `data` wiped and flushed (a checkpoint, every 10 %) |
//! | `RESET_STARTED` | stage 1 | Unix seconds when the first attempt began |
//! | `RESET_RUNS` | stage 1 | how many boots have worked on this reset |
//! | `RESET_METHOD` | stage 1 | the wipe method found to work, kept across a resume |
//!
//! Life of a reset: `wipe` (checkpointed) -> [`BootState::begin_slot_restore`] (no slot is
//! bootable: GRUB boots the factory image, whose stage 1 resumes) -> slot B cleared, the
//! factory system copied into slot A -> [`BootState::restore_factory_boot_order`] (stage
//! `data`) -> data filesystem and sanitization record -> [`BootState::finish_factory_reset`]
//! removes every variable above, last. Each step is safe to run again.
//!
//! As everywhere in this crate, transitions change memory only; the caller writes once.

use crate::{BootState, Slot};

pub(crate) const REQUEST: &str = "FACTORY_RESET";
pub(crate) const STAGE: &str = "RESET_STAGE";
pub(crate) const WIPED: &str = "RESET_WIPED";
pub(crate) const STARTED: &str = "RESET_STARTED";
pub(crate) const RUNS: &str = "RESET_RUNS";
pub(crate) const METHOD: &str = "RESET_METHOD";
const PROGRESS: [&str; 5] = [STAGE, WIPED, STARTED, RUNS, METHOD];

/// What the appliance does once the reset is complete.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Then {
    /// The default: a box being shipped back is left off.
    PowerOff,
    Reboot,
}

impl Then {
    pub fn parse(s: &str) -> Option<Then> {
        match s {
            "poweroff" => Some(Then::PowerOff),
            "reboot" => Some(Then::Reboot),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Then::PowerOff => "poweroff",
            Then::Reboot => "reboot",
        }
    }
}

/// Where a reset stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ResetStage {
    /// Wiping `data` (from [`ResetProgress::wiped`] on).
    Wipe,
    /// Clearing slot B and copying the factory system into slot A.
    Slots,
    /// Making the data filesystem and writing the sanitization record.
    Data,
}

impl ResetStage {
    pub fn as_str(self) -> &'static str {
        match self {
            ResetStage::Wipe => "wipe",
            ResetStage::Slots => "slots",
            ResetStage::Data => "data",
        }
    }
}

/// A pending reset as read from grubenv.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResetProgress {
    pub then: Then,
    pub stage: ResetStage,
    /// Bytes of `data` known wiped; meaningful in [`ResetStage::Wipe`].
    pub wiped: u64,
    pub started: Option<u64>,
    /// Boots that worked on this reset before this one.
    pub runs: u32,
    pub method: Option<String>,
}

impl BootState {
    /// The pending reset, if one was requested. Reading never fails: a value this firmware
    /// does not know errs on the safe side (power off, start the stage over).
    pub fn factory_reset(&self) -> Option<ResetProgress> {
        let request = self.env.get(REQUEST)?;
        let stage = match self.env.get(STAGE) {
            Some("slots") => ResetStage::Slots,
            Some("data") => ResetStage::Data,
            _ => ResetStage::Wipe,
        };
        let number = |key| self.env.get(key).and_then(|v| v.parse::<u64>().ok());
        Some(ResetProgress {
            then: Then::parse(request).unwrap_or(Then::PowerOff),
            stage,
            wiped: if stage == ResetStage::Wipe {
                number(WIPED).unwrap_or(0)
            } else {
                0
            },
            started: number(STARTED),
            runs: number(RUNS).map_or(0, |n| n.min(u64::from(u32::MAX)) as u32),
            method: self
                .env
                .get(METHOD)
                .filter(|m| !m.is_empty())
                .map(str::to_string),
        })
    }

    /// An administrator asked for a reset. Any leftover progress is dropped: a new request
    /// starts from the wipe.
    pub fn request_factory_reset(&mut self, then: Then) {
        for key in PROGRESS {
            self.env.remove(key);
        }
        self.env.set(REQUEST, then.as_str());
    }

    /// Take back a request nothing has acted on yet (the restart could not be started).
    pub fn cancel_factory_reset(&mut self) {
        self.finish_factory_reset();
    }

    /// Stage 1 starts (or resumes) work on the reset at Unix time `now`.
    pub fn begin_reset_run(&mut self, now: u64) {
        let runs = self.factory_reset().map_or(0, |p| p.runs);
        self.env.set(RUNS, &(runs.saturating_add(1)).to_string());
        if self
            .env
            .get(STARTED)
            .and_then(|v| v.parse::<u64>().ok())
            .is_none()
        {
            self.env.set(STARTED, &now.to_string());
        }
    }

    /// The wipe method that worked, so a resumed wipe uses it again.
    pub fn record_wipe_method(&mut self, method: &str) {
        self.env.set(METHOD, method);
    }

    /// `bytes` of data are wiped and flushed to the device.
    pub fn checkpoint_wipe(&mut self, bytes: u64) {
        self.env.set(WIPED, &bytes.to_string());
    }

    /// The wipe is complete; the slots are next. Neither slot may boot while one is cleared
    /// and the other overwritten, so GRUB boots the factory image until the boot order is
    /// restored, and that image's stage 1 resumes the reset.
    pub fn begin_slot_restore(&mut self) {
        self.env.set(STAGE, ResetStage::Slots.as_str());
        self.env.remove(WIPED);
        for slot in [Slot::A, Slot::B] {
            self.env.set(&format!("{slot}_OK"), "0");
            self.env.set(&format!("{slot}_TRY"), "0");
        }
    }

    /// The factory image cannot be restored (its partition holds no image): the slots and
    /// the boot order stay as they are, and the reset goes on with the data filesystem.
    pub fn skip_slot_restore(&mut self) {
        self.env.set(STAGE, ResetStage::Data.as_str());
        self.env.remove(WIPED);
    }

    /// Slot A holds the factory system again and slot B is empty: the A/B variables of a
    /// new disk (slot A good and first; no one-more-try or extra kernel arguments left).
    pub fn restore_factory_boot_order(&mut self) {
        let factory = BootState::factory();
        for key in ["ORDER", "A_OK", "A_TRY", "B_OK", "B_TRY"] {
            if let Some(v) = factory.env.get(key) {
                self.env.set(key, v);
            }
        }
        self.env.remove("TRY_RESET");
        self.env.remove("EXTRA_CMDLINE");
        self.env.set(STAGE, ResetStage::Data.as_str());
    }

    /// The reset is complete: the request and every progress variable go, last of all.
    pub fn finish_factory_reset(&mut self) {
        self.env.remove(REQUEST);
        for key in PROGRESS {
            self.env.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Env;

    fn round_trip(st: &BootState) -> BootState {
        BootState::from_env(Env::parse(&st.env().to_block().unwrap()).unwrap())
    }

    /// A disk that has lived: an update on slot B, a debug argument, GRUB's one more try.
    fn lived_in() -> BootState {
        let mut env = Env::default();
        for (k, v) in [
            ("ORDER", "B A"),
            ("A_OK", "1"),
            ("A_TRY", "0"),
            ("B_OK", "1"),
            ("B_TRY", "1"),
            ("TRY_RESET", "1"),
            ("EXTRA_CMDLINE", "panic=0"),
        ] {
            env.set(k, v);
        }
        BootState::from_env(env)
    }

    #[test]
    fn no_request_no_reset() {
        assert_eq!(BootState::factory().factory_reset(), None);
    }

    #[test]
    fn a_request_survives_the_block_and_starts_at_the_wipe() {
        let mut st = lived_in();
        st.request_factory_reset(Then::Reboot);
        let p = round_trip(&st).factory_reset().unwrap();
        assert_eq!(p.then, Then::Reboot);
        assert_eq!(p.stage, ResetStage::Wipe);
        assert_eq!((p.wiped, p.started, p.runs, p.method), (0, None, 0, None));
        // The A/B state is untouched by a request.
        assert_eq!(st.env().get("ORDER"), Some("B A"));
        assert!(st.is_ok(Slot::B));
    }

    #[test]
    fn unknown_values_err_on_the_safe_side() {
        let mut st = BootState::factory();
        st.env.set(REQUEST, "yes-please");
        st.env.set(STAGE, "someday");
        st.env.set(WIPED, "lots");
        let p = st.factory_reset().unwrap();
        assert_eq!(p.then, Then::PowerOff);
        assert_eq!(p.stage, ResetStage::Wipe);
        assert_eq!(p.wiped, 0);
    }

    #[test]
    fn a_new_request_drops_stale_progress() {
        let mut st = BootState::factory();
        st.request_factory_reset(Then::PowerOff);
        st.begin_reset_run(100);
        st.checkpoint_wipe(1 << 30);
        st.begin_slot_restore();
        st.request_factory_reset(Then::PowerOff);
        let p = st.factory_reset().unwrap();
        assert_eq!(
            (p.stage, p.wiped, p.runs, p.started),
            (ResetStage::Wipe, 0, 0, None)
        );
    }

    #[test]
    fn runs_count_and_the_first_start_is_kept() {
        let mut st = BootState::factory();
        st.request_factory_reset(Then::PowerOff);
        st.begin_reset_run(100);
        st.begin_reset_run(250);
        let p = round_trip(&st).factory_reset().unwrap();
        assert_eq!((p.runs, p.started), (2, Some(100)));
    }

    #[test]
    fn slot_restore_leaves_no_slot_bootable() {
        let mut st = lived_in();
        st.request_factory_reset(Then::PowerOff);
        st.begin_slot_restore();
        for slot in [Slot::A, Slot::B] {
            assert!(
                !st.is_ok(slot),
                "{slot} must not boot while the slots are rewritten"
            );
        }
        assert_eq!(st.factory_reset().unwrap().stage, ResetStage::Slots);
    }

    #[test]
    fn the_boot_order_becomes_a_new_disks_and_the_request_goes_last() {
        let mut st = lived_in();
        st.request_factory_reset(Then::Reboot);
        st.begin_reset_run(7);
        st.record_wipe_method("zeroout");
        st.checkpoint_wipe(4096);
        st.begin_slot_restore();
        st.restore_factory_boot_order();
        let p = st.factory_reset().unwrap();
        assert_eq!(p.stage, ResetStage::Data);
        assert_eq!(p.method.as_deref(), Some("zeroout"));
        st.finish_factory_reset();
        assert_eq!(st, BootState::factory());
    }

    #[test]
    fn without_a_factory_image_the_slots_stay() {
        let mut st = lived_in();
        st.request_factory_reset(Then::PowerOff);
        st.checkpoint_wipe(10);
        st.skip_slot_restore();
        assert_eq!(st.factory_reset().unwrap().stage, ResetStage::Data);
        st.finish_factory_reset();
        assert_eq!(st, lived_in());
    }

    #[test]
    fn cancel_takes_the_request_back() {
        let mut st = lived_in();
        let before = st.clone();
        st.request_factory_reset(Then::PowerOff);
        st.cancel_factory_reset();
        assert_eq!(st, before);
    }

    /// Stage 1's walk through a reset, as init does it, against a model disk. Power is cut
    /// after every possible number of grubenv writes (and in the middle of each step's
    /// disk work); each boot resumes from what grubenv says. The end is always the same:
    /// data entirely wiped, slot B empty, slot A factory, the new disk's boot state.
    #[derive(Debug, Clone, Default, PartialEq)]
    struct Disk {
        /// Which of the data partition's 10 chunks hold zeroes.
        data_zero: [bool; 10],
        slot_b_empty: bool,
        slot_a_factory: bool,
        data_fs: bool,
        record: bool,
    }

    /// One boot's work; `budget` counts the writes (grubenv or disk) until power is cut.
    /// Returns true when the reset finished within the budget.
    fn boot(env: &mut BootState, disk: &mut Disk, budget: &mut usize, now: u64) -> bool {
        let mut spend = || {
            if *budget == 0 {
                return false;
            }
            *budget -= 1;
            true
        };
        let Some(p) = env.factory_reset() else {
            return true;
        };
        let mut st = env.clone();
        st.begin_reset_run(now);
        if !spend() {
            return false;
        }
        *env = st.clone();
        let mut stage = p.stage;
        if stage == ResetStage::Wipe {
            st.record_wipe_method("zeroout");
            let from = (p.wiped / 100) as usize;
            for chunk in from..10 {
                if !spend() {
                    return false;
                }
                disk.data_zero[chunk] = true;
                st.checkpoint_wipe((chunk as u64 + 1) * 100);
                if !spend() {
                    return false;
                }
                *env = st.clone();
            }
            st.begin_slot_restore();
            if !spend() {
                return false;
            }
            *env = st.clone();
            stage = ResetStage::Slots;
        }
        if stage == ResetStage::Slots {
            if !spend() {
                return false;
            }
            disk.slot_b_empty = true;
            if !spend() {
                return false;
            }
            disk.slot_a_factory = true;
            st.restore_factory_boot_order();
            if !spend() {
                return false;
            }
            *env = st.clone();
        }
        if !spend() {
            return false;
        }
        disk.data_fs = true;
        if !spend() {
            return false;
        }
        disk.record = true;
        st.finish_factory_reset();
        if !spend() {
            return false;
        }
        *env = st;
        true
    }

    #[test]
    fn a_power_cut_anywhere_resumes_and_finishes() {
        let done = Disk {
            data_zero: [true; 10],
            slot_b_empty: true,
            slot_a_factory: true,
            data_fs: true,
            record: true,
        };
        for first_cut in 0..40 {
            for second_cut in [0, 1, 3, 100] {
                let mut env = lived_in();
                env.request_factory_reset(Then::PowerOff);
                let mut disk = Disk::default();
                let mut boots = 0;
                let mut budgets = vec![first_cut, second_cut].into_iter();
                loop {
                    boots += 1;
                    assert!(
                        boots < 10,
                        "no progress after cuts at {first_cut}, {second_cut}"
                    );
                    let mut budget = budgets.next().unwrap_or(usize::MAX);
                    if boot(&mut env, &mut disk, &mut budget, boots) {
                        break;
                    }
                    // Data is never declared wiped before every chunk is zero.
                    if let Some(p) = env.factory_reset() {
                        if p.stage > ResetStage::Wipe {
                            assert_eq!(disk.data_zero, [true; 10]);
                        }
                        // No slot is bootable while slot A is being rewritten.
                        if p.stage == ResetStage::Slots {
                            assert!(!env.is_ok(Slot::A) && !env.is_ok(Slot::B));
                        }
                    }
                }
                assert_eq!(disk, done, "cuts at {first_cut}, {second_cut}");
                assert_eq!(env, BootState::factory());
            }
        }
    }
}

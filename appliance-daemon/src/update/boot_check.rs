//! At start, after the health gate: what became of the install that was waiting for a
//! boot. Either the booted slot is the new one (activated), or GRUB fell back to the old
//! one (rolled back: the new slot never reached health, or could not even be loaded).

use grubenv::{BootState, Rollback, Slot};

use super::state::{Event, SlotInfo, Updates};

/// What [`reconcile`] decided; the caller writes `boot` (if changed) and `updates`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    pub boot_changed: bool,
    pub event: Option<Event>,
}

/// Pure: update `updates` and `boot` for a system booted from `booted` running `version`.
pub(crate) fn reconcile(
    updates: &mut Updates,
    boot: &mut BootState,
    booted: Slot,
    version: &str,
    now: u64,
) -> Outcome {
    let mut outcome = Outcome {
        boot_changed: false,
        event: None,
    };
    // The anti-rollback floor is kept on data and on the ESP: after a factory reset (data
    // erased) the ESP's comes back; a floor only on data (recorded before the ESP kept
    // it) goes to the ESP.
    let esp_floor = boot
        .floor()
        .and_then(|f| f.parse::<package::Version>().ok());
    if esp_floor > updates.floor {
        updates.floor = esp_floor;
    } else if let Some(floor) = updates.floor.filter(|f| Some(*f) > esp_floor) {
        boot.set_floor(&floor.to_string());
        outcome.boot_changed = true;
    }
    let running = updates
        .slots
        .get(&booted.to_string())
        .map(|s| s.version.clone());
    if running.as_deref() != Some(version) {
        updates.slots.insert(
            booted.to_string(),
            SlotInfo {
                version: version.to_string(),
                installed_at: updates
                    .pending
                    .as_ref()
                    .filter(|p| p.slot == booted.to_string())
                    .map(|p| p.installed_at),
            },
        );
    }
    if let Some(rollback) = boot.rollback(booted) {
        let failed = match rollback {
            Rollback::NeverHealthy(s) | Rollback::Unbootable(s) => s,
        };
        let failed_version = updates
            .pending
            .as_ref()
            .filter(|p| p.slot == failed.to_string())
            .map(|p| p.version.clone())
            .or_else(|| {
                updates
                    .slots
                    .get(&failed.to_string())
                    .map(|s| s.version.clone())
            })
            .unwrap_or_else(|| "unknown".to_string());
        let detail = match rollback {
            Rollback::NeverHealthy(s) => format!(
                "{failed_version} in slot {s} was started but never passed the health check; slot {booted} ({version}) was started again"
            ),
            Rollback::Unbootable(s) => format!(
                "{failed_version} in slot {s} could not be loaded (the slot is damaged); slot {booted} ({version}) was started again"
            ),
        };
        boot.abandon(failed);
        outcome.boot_changed = true;
        updates.pending = None;
        updates.slots.remove(&failed.to_string());
        let event = Event {
            at: now,
            kind: "rolled_back".into(),
            version: failed_version,
            slot: Some(failed.to_string()),
            package: None,
            detail,
        };
        updates.record(event.clone());
        outcome.event = Some(event);
    } else if let Some(pending) = updates.pending.take() {
        let event = if pending.slot == booted.to_string() && pending.version == version {
            Event {
                at: now,
                kind: "activated".into(),
                version: version.to_string(),
                slot: Some(booted.to_string()),
                package: None,
                detail: format!(
                    "{version} runs from slot {booted} (was {})",
                    pending.from_version
                ),
            }
        } else {
            Event {
                at: now,
                kind: "failed".into(),
                version: pending.version.clone(),
                slot: Some(pending.slot.clone()),
                package: None,
                detail: format!(
                    "{} was installed into slot {} but slot {booted} ({version}) started",
                    pending.version, pending.slot
                ),
            }
        };
        updates.record(event.clone());
        outcome.event = Some(event);
    }
    outcome
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::state::Pending;

    fn pending(slot: &str, version: &str) -> Option<Pending> {
        Some(Pending {
            slot: slot.into(),
            version: version.into(),
            from_version: "1.0.0".into(),
            installed_at: 1,
        })
    }

    #[test]
    fn first_boot_records_the_running_version() {
        let mut u = Updates::default();
        let mut b = BootState::factory();
        b.grub_boot(|_| true);
        b.mark_successful_boot(Slot::A);
        let o = reconcile(&mut u, &mut b, Slot::A, "1.0.0", 5);
        assert_eq!(o.event, None);
        assert!(!o.boot_changed);
        assert_eq!(u.slots["A"].version, "1.0.0");
    }

    #[test]
    fn the_floor_is_kept_on_the_esp_and_comes_back_after_a_factory_reset() {
        let mut b = BootState::factory();
        b.mark_successful_boot(Slot::A);
        // A floor on data only goes to the ESP.
        let mut u = Updates {
            floor: Some("1.0.1".parse().unwrap()),
            ..Updates::default()
        };
        let o = reconcile(&mut u, &mut b, Slot::A, "1.0.1", 5);
        assert!(o.boot_changed);
        assert_eq!(b.floor(), Some("1.0.1"));
        // Data erased (a factory reset): the ESP's floor comes back, the ESP unchanged.
        let mut erased = Updates::default();
        let o = reconcile(&mut erased, &mut b, Slot::A, "1.0.0", 6);
        assert_eq!(erased.floor, Some("1.0.1".parse().unwrap()));
        assert!(!o.boot_changed);
        // In step: nothing to write.
        let o = reconcile(&mut erased, &mut b, Slot::A, "1.0.0", 7);
        assert!(!o.boot_changed);
        // A lower floor on data never lowers the ESP's.
        let mut lower = Updates {
            floor: Some("1.0.0".parse().unwrap()),
            ..Updates::default()
        };
        reconcile(&mut lower, &mut b, Slot::A, "1.0.0", 8);
        assert_eq!(lower.floor, Some("1.0.1".parse().unwrap()));
        assert_eq!(b.floor(), Some("1.0.1"));
    }

    #[test]
    fn new_slot_booted_is_activated() {
        let mut u = Updates {
            pending: pending("B", "1.0.1"),
            ..Updates::default()
        };
        let mut b = BootState::factory();
        b.commit_install(Slot::B);
        b.grub_boot(|_| true);
        b.mark_successful_boot(Slot::B);
        let o = reconcile(&mut u, &mut b, Slot::B, "1.0.1", 5);
        assert_eq!(o.event.unwrap().kind, "activated");
        assert_eq!(u.pending, None);
        assert_eq!(u.slots["B"].version, "1.0.1");
        assert!(u.last_rollback().is_none());
    }

    #[test]
    fn fallback_to_the_old_slot_is_a_rollback_with_its_reason() {
        let mut u = Updates {
            pending: pending("B", "1.0.1"),
            ..Updates::default()
        };
        let mut b = BootState::factory();
        b.mark_successful_boot(Slot::A);
        b.commit_install(Slot::B);
        assert_eq!(b.grub_boot(|_| true), grubenv::Choice::Slot(Slot::B));
        // B hangs; the watchdog resets; GRUB boots A.
        assert_eq!(b.grub_boot(|_| true), grubenv::Choice::Slot(Slot::A));
        b.mark_successful_boot(Slot::A);
        let o = reconcile(&mut u, &mut b, Slot::A, "1.0.0", 9);
        let e = o.event.unwrap();
        assert_eq!(e.kind, "rolled_back");
        assert_eq!(e.version, "1.0.1");
        assert!(
            e.detail.contains("never passed the health check"),
            "{}",
            e.detail
        );
        assert!(o.boot_changed);
        assert!(!b.is_ok(Slot::B));
        assert_eq!(b.order(), vec![Slot::A, Slot::B]);
        assert_eq!(u.last_rollback().unwrap().version, "1.0.1");
        // The next start finds nothing more to do.
        let o = reconcile(&mut u, &mut b, Slot::A, "1.0.0", 10);
        assert_eq!(o.event, None);
    }

    #[test]
    fn a_wrecked_slot_is_named_as_damaged() {
        let mut u = Updates {
            pending: pending("A", "1.0.2"),
            ..Updates::default()
        };
        u.slots.insert(
            "B".into(),
            SlotInfo {
                version: "1.0.1".into(),
                installed_at: Some(1),
            },
        );
        let mut b = BootState::factory();
        b.mark_successful_boot(Slot::B);
        b.commit_install(Slot::A);
        assert_eq!(
            b.grub_boot(|s| s == Slot::B),
            grubenv::Choice::Slot(Slot::B)
        );
        b.mark_successful_boot(Slot::B);
        let e = reconcile(&mut u, &mut b, Slot::B, "1.0.1", 3)
            .event
            .unwrap();
        assert_eq!(e.kind, "rolled_back");
        assert_eq!(e.version, "1.0.2");
        assert!(e.detail.contains("could not be loaded"), "{}", e.detail);
    }
}

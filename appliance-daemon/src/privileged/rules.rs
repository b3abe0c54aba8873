//! What the privileged part allows, as pure functions of the request and the state.

use grubenv::{BootState, Slot};
use package::Version;

use crate::system::BootSlot;

/// A grubenv change the service asks for: any change is allowed except one that lets a
/// slot boot that could not before (only a verified install does that, and the booted
/// slot's health gate for itself), or that lowers the anti-rollback floor.
pub(crate) fn check_write(
    current: &BootState,
    new: &BootState,
    booted: BootSlot,
) -> Result<(), String> {
    for slot in [Slot::A, Slot::B] {
        if !current.is_ok(slot) && new.is_ok(slot) && booted != BootSlot::Slot(slot) {
            return Err(format!(
                "slot {slot} may become bootable only through a verified install"
            ));
        }
    }
    let floor = |st: &BootState| st.floor().and_then(|f| f.parse::<Version>().ok());
    if floor(new) < floor(current) {
        return Err(format!(
            "the anti-rollback floor {} may not go down",
            current.floor().unwrap_or_default()
        ));
    }
    Ok(())
}

/// The name is one the network settings would accept.
pub(crate) fn check_hostname(name: &str) -> Result<(), String> {
    if netconfig::validate::valid_hostname(name) {
        Ok(())
    } else {
        Err(format!("{name:?} is not a valid hostname"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn installed_b() -> BootState {
        let mut st = BootState::factory();
        st.commit_install(Slot::B);
        st
    }

    #[test]
    fn an_install_step_and_the_health_gate_are_allowed() {
        let booted = BootSlot::Slot(Slot::A);
        let mut begun = installed_b();
        begun.begin_install(Slot::B);
        assert_eq!(check_write(&installed_b(), &begun, booted), Ok(()));
        let mut trying = BootState::factory();
        trying.begin_install(Slot::A);
        let mut good = trying.clone();
        good.mark_successful_boot(Slot::A);
        assert_eq!(check_write(&trying, &good, booted), Ok(()));
        let mut reset = installed_b();
        reset.request_factory_reset(grubenv::Then::PowerOff);
        assert_eq!(check_write(&installed_b(), &reset, booted), Ok(()));
    }

    #[test]
    fn no_slot_becomes_bootable_by_a_write() {
        let mut begun = installed_b();
        begun.begin_install(Slot::B);
        let err = check_write(&begun, &installed_b(), BootSlot::Slot(Slot::A)).unwrap_err();
        assert!(err.contains("slot B"), "{err}");
        let err = check_write(&begun, &installed_b(), BootSlot::Factory).unwrap_err();
        assert!(err.contains("slot B"), "{err}");
    }

    #[test]
    fn the_floor_only_goes_up() {
        let booted = BootSlot::Slot(Slot::A);
        let mut low = BootState::factory();
        low.set_floor("1.0.0");
        let mut high = BootState::factory();
        high.set_floor("1.2.0");
        assert_eq!(check_write(&low, &high, booted), Ok(()));
        assert!(check_write(&high, &low, booted).is_err());
        assert!(check_write(&high, &BootState::factory(), booted).is_err());
    }

    #[test]
    fn hostnames_are_checked_again() {
        assert!(check_hostname("appliance-1").is_ok());
        assert!(check_hostname("bad name/..").is_err());
    }
}

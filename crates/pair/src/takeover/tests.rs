use super::*;
use crate::{step, Action, Event, Ids, Note, Role, SharedIps, State};

fn check(missed: u32, synced: bool) -> Check {
    Check {
        missed,
        threshold: DEFAULT_MISSED_CHECKS,
        synced,
    }
}

#[test]
fn a_primary_that_answers_or_missed_fewer_checks_than_the_setting_is_waited_for() {
    for missed in 0..DEFAULT_MISSED_CHECKS {
        for probe in [Probe::NotYet, Probe::Silent] {
            assert_eq!(decide(check(missed, true), probe), Decision::Wait);
        }
    }
    // A threshold of 0 (never accepted by check_setting) still needs one miss.
    let zero = Check {
        missed: 0,
        threshold: 0,
        synced: true,
    };
    assert_eq!(decide(zero, Probe::Silent), Decision::Wait);
}

#[test]
fn a_silent_primary_is_probed_then_taken_over_only_if_the_shared_ip_is_silent_too() {
    let silent = check(DEFAULT_MISSED_CHECKS, true);
    assert_eq!(decide(silent, Probe::NotYet), Decision::Probe);
    assert_eq!(decide(silent, Probe::Silent), Decision::TakeOver);
    let answered = Probe::Answered {
        address: "10.0.0.50/24",
        by: "52:54:00:00:00:0a",
    };
    assert_eq!(
        decide(silent, answered),
        Decision::Refrain(Refrain::StillAnswers {
            address: "10.0.0.50/24",
            by: "52:54:00:00:00:0a"
        })
    );
    // More misses change nothing to the veto.
    assert!(matches!(
        decide(check(40, true), answered),
        Decision::Refrain(Refrain::StillAnswers { .. })
    ));
}

#[test]
fn no_takeover_before_a_first_complete_sync_whatever_the_probe() {
    for probe in [Probe::NotYet, Probe::Silent] {
        assert_eq!(
            decide(check(DEFAULT_MISSED_CHECKS, false), probe),
            Decision::Refrain(Refrain::NoFirstSync)
        );
    }
    assert_eq!(decide(check(1, false), Probe::Silent), Decision::Wait);
}

#[test]
fn the_setting_is_between_2_and_50_checks() {
    assert!(check_setting(DEFAULT_MISSED_CHECKS).is_ok());
    assert!(check_setting(2).is_ok());
    assert!(check_setting(50).is_ok());
    for bad in [0, 1, 51, u32::MAX] {
        let err = check_setting(bad).unwrap_err();
        assert!(err.contains("between 2 and 50"), "{err}");
        assert!(err.contains("0.4 s to 10.0 s"), "{err}");
    }
}

#[test]
fn the_reasons_say_how_long_and_which_address() {
    assert_eq!(
        takeover_reason(5, &[("10.0.0.50/24".into(), "ARP")]),
        "primary missed 5 checks (1.0 s) and did not answer ARP for 10.0.0.50"
    );
    assert_eq!(
        takeover_reason(
            7,
            &[
                ("10.0.0.50/24".into(), "ARP"),
                ("2001:db8::50/64".into(), "NDP"),
                ("10.0.0.51/24".into(), "ARP"),
            ]
        ),
        "primary missed 7 checks (1.4 s) and did not answer ARP for 10.0.0.50, 10.0.0.51 nor \
         NDP for 2001:db8::50"
    );
    assert_eq!(
        takeover_reason(5, &[]),
        "primary missed 5 checks (1.0 s); no shared IP to probe"
    );
    let text = refrain_reason(
        5,
        Refrain::StillAnswers {
            address: "10.0.0.50/24",
            by: "52:54:00:00:00:0a",
        },
    );
    assert!(
        text.contains("10.0.0.50 still answers from 52:54:00:00:00:0a"),
        "{text}"
    );
    assert!(refrain_reason(5, Refrain::NoFirstSync).contains("first sync"));
}

/// The epochs of an automatic failover: the backup takes over alone one epoch up, and
/// the old primary, when it is heard again, steps down to backup at that epoch and
/// releases; a stale message of it changes nothing.
#[test]
fn a_takeover_moves_the_epoch_up_and_the_old_primary_steps_down_when_it_meets_the_new_one() {
    let (a, b) = ("0aaa", "0bbb");
    let ids_b = Ids { ours: b, peer: a };
    let ids_a = Ids { ours: a, peer: b };
    let backup = State {
        role: Role::Backup,
        epoch: 4,
    };
    let took = step(
        backup,
        ids_b,
        Event::BecomePrimary {
            peer_answered: false,
        },
    )
    .unwrap();
    assert_eq!(
        took.state,
        State {
            role: Role::Primary,
            epoch: 5
        }
    );
    assert_eq!(took.actions, vec![Action::SharedIps(SharedIps::Hold)]);
    assert_eq!(took.note, Some(Note::PeerSilent));

    // The old primary, still at 4, sees the new one at 5 (its restart's first check, or
    // the new primary's check once the link is back): backup at 5, releases.
    let old = State {
        role: Role::Primary,
        epoch: 4,
    };
    let met = step(
        old,
        ids_a,
        Event::PeerSeen {
            role: Role::Primary,
            epoch: 5,
        },
    )
    .unwrap();
    assert_eq!(
        met.state,
        State {
            role: Role::Backup,
            epoch: 5
        }
    );
    assert_eq!(met.actions, vec![Action::SharedIps(SharedIps::Release)]);
    assert_eq!(met.note, Some(Note::SteppedDown { epoch: 5 }));

    // The new primary hearing the old one's stale claim stays primary and tells it.
    let stale = step(
        took.state,
        ids_b,
        Event::PeerSeen {
            role: Role::Primary,
            epoch: 4,
        },
    )
    .unwrap();
    assert_eq!(stale.state, took.state);
    assert!(!stale
        .actions
        .contains(&Action::SharedIps(SharedIps::Release)));
    // A second takeover (the operator's, later) goes one epoch further.
    let again = step(
        met.state,
        ids_a,
        Event::BecomePrimary {
            peer_answered: true,
        },
    )
    .unwrap();
    assert_eq!(again.state.epoch, 6);
}

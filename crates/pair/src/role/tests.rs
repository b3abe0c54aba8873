use super::*;

const A: &str = "0aaa";
const B: &str = "0bbb";

fn ids_a() -> Ids<'static> {
    Ids { ours: A, peer: B }
}

fn ids_b() -> Ids<'static> {
    Ids { ours: B, peer: A }
}

fn st(role: Role, epoch: u64) -> State {
    State { role, epoch }
}

fn hold() -> Action {
    Action::SharedIps(SharedIps::Hold)
}

fn release() -> Action {
    Action::SharedIps(SharedIps::Release)
}

#[test]
fn establish_takes_an_epoch_above_both_and_gives_the_shared_ips_to_the_primary() {
    assert_eq!(establish_epoch(0, 0), 1);
    assert_eq!(establish_epoch(7, 3), 8);
    assert_eq!(establish_epoch(3, 7), 8);
    let p = step(
        st(Role::None, 7),
        ids_a(),
        Event::Established {
            role: Role::Primary,
            epoch: 8,
        },
    )
    .unwrap();
    assert_eq!(p.state, st(Role::Primary, 8));
    assert_eq!(p.actions, vec![hold()]);
    let b = step(
        st(Role::None, 3),
        ids_b(),
        Event::Established {
            role: Role::Backup,
            epoch: 8,
        },
    )
    .unwrap();
    assert_eq!(b.state, st(Role::Backup, 8));
    assert_eq!(b.actions, vec![release()]);
}

#[test]
fn establish_is_refused_when_already_paired_or_without_a_role() {
    for role in [Role::Primary, Role::Backup] {
        assert_eq!(
            step(
                st(role, 2),
                ids_a(),
                Event::Established {
                    role: Role::Backup,
                    epoch: 9
                }
            ),
            Err(Refusal::AlreadyPaired(role))
        );
    }
    assert_eq!(
        step(
            st(Role::None, 0),
            ids_a(),
            Event::Established {
                role: Role::None,
                epoch: 1
            }
        ),
        Err(Refusal::NoRole)
    );
}

#[test]
fn an_epoch_never_goes_back_at_establish() {
    // A stale agreed epoch (lower than what this appliance had) keeps its own.
    let t = step(
        st(Role::None, 12),
        ids_a(),
        Event::Established {
            role: Role::Primary,
            epoch: 5,
        },
    )
    .unwrap();
    assert_eq!(t.state.epoch, 12);
}

#[test]
fn become_primary_with_the_peer_answering_tells_it_first_then_holds() {
    let t = step(
        st(Role::Backup, 4),
        ids_b(),
        Event::BecomePrimary {
            peer_answered: true,
        },
    )
    .unwrap();
    assert_eq!(t.state, st(Role::Primary, 5));
    assert_eq!(
        t.actions,
        vec![
            Action::TellPeerPrimary {
                epoch: 5,
                reason: LostReason::TookOver
            },
            hold()
        ]
    );
    // The old primary, told so, becomes backup at the new epoch and releases.
    let old = step(
        st(Role::Primary, 4),
        ids_a(),
        Event::PeerIsPrimary { epoch: 5 },
    )
    .unwrap();
    assert_eq!(old.state, st(Role::Backup, 5));
    assert_eq!(old.actions, vec![release()]);
    assert_eq!(old.note, Some(Note::SteppedDown { epoch: 5 }));
}

#[test]
fn become_primary_without_the_peer_holds_and_notes_it() {
    let t = step(
        st(Role::Backup, 4),
        ids_b(),
        Event::BecomePrimary {
            peer_answered: false,
        },
    )
    .unwrap();
    assert_eq!(t.state, st(Role::Primary, 5));
    assert_eq!(t.actions, vec![hold()]);
    assert_eq!(t.note, Some(Note::PeerSilent));
}

#[test]
fn only_a_backup_becomes_primary() {
    for role in [Role::None, Role::Primary] {
        assert_eq!(
            step(
                st(role, 1),
                ids_a(),
                Event::BecomePrimary {
                    peer_answered: true
                }
            ),
            Err(Refusal::NotBackup(role))
        );
    }
}

#[test]
fn two_primaries_meeting_the_higher_epoch_wins_on_both_sides() {
    // A stayed primary at 4 while B became primary at 5 without reaching it.
    let a = step(
        st(Role::Primary, 4),
        ids_a(),
        Event::PeerSeen {
            role: Role::Primary,
            epoch: 5,
        },
    )
    .unwrap();
    assert_eq!(a.state, st(Role::Backup, 5));
    assert_eq!(a.actions, vec![release()]);
    let b = step(
        st(Role::Primary, 5),
        ids_b(),
        Event::PeerSeen {
            role: Role::Primary,
            epoch: 4,
        },
    )
    .unwrap();
    assert_eq!(b.state, st(Role::Primary, 5));
    assert_eq!(
        b.actions,
        vec![Action::TellPeerPrimary {
            epoch: 5,
            reason: LostReason::HigherEpoch
        }]
    );
    assert_eq!(
        b.note,
        Some(Note::Won {
            reason: LostReason::HigherEpoch
        })
    );
}

#[test]
fn two_primaries_at_one_epoch_the_first_id_wins_and_moves_on() {
    let a = step(
        st(Role::Primary, 6),
        ids_a(),
        Event::PeerSeen {
            role: Role::Primary,
            epoch: 6,
        },
    )
    .unwrap();
    let b = step(
        st(Role::Primary, 6),
        ids_b(),
        Event::PeerSeen {
            role: Role::Primary,
            epoch: 6,
        },
    )
    .unwrap();
    // A's id sorts first: A stays, at 7; B steps down. Exactly one holder.
    assert_eq!(a.state, st(Role::Primary, 7));
    assert_eq!(
        a.actions,
        vec![Action::TellPeerPrimary {
            epoch: 7,
            reason: LostReason::Tie
        }]
    );
    assert_eq!(b.state, st(Role::Backup, 6));
    assert_eq!(b.actions, vec![release()]);
    // B then hears A's message (epoch 7) and follows it.
    let b2 = step(b.state, ids_b(), Event::PeerIsPrimary { epoch: 7 }).unwrap();
    assert_eq!(b2.state, st(Role::Backup, 7));
    assert!(b2.actions.is_empty());
    // Or B hears it before its own check: same end.
    let b3 = step(
        st(Role::Primary, 6),
        ids_b(),
        Event::PeerIsPrimary { epoch: 7 },
    )
    .unwrap();
    assert_eq!(b3.state, st(Role::Backup, 7));
    assert_eq!(b3.actions, vec![release()]);
    // A told at the tie by B's message (the same epoch) resolves the same way.
    let a2 = step(
        st(Role::Primary, 6),
        ids_a(),
        Event::PeerIsPrimary { epoch: 6 },
    )
    .unwrap();
    assert_eq!(a2.state, st(Role::Primary, 7));
}

#[test]
fn never_two_holders_whatever_order_the_two_sides_learn_in() {
    // Every pair of epochs, both sides primary: exactly one keeps holding.
    for ea in 0..4 {
        for eb in 0..4 {
            let a = step(
                st(Role::Primary, ea),
                ids_a(),
                Event::PeerSeen {
                    role: Role::Primary,
                    epoch: eb,
                },
            )
            .unwrap();
            let b = step(
                st(Role::Primary, eb),
                ids_b(),
                Event::PeerSeen {
                    role: Role::Primary,
                    epoch: ea,
                },
            )
            .unwrap();
            let primaries = [a.state.role, b.state.role]
                .iter()
                .filter(|r| **r == Role::Primary)
                .count();
            assert_eq!(primaries, 1, "epochs {ea} and {eb}");
            let releases = [&a, &b]
                .iter()
                .filter(|t| t.actions.contains(&release()))
                .count();
            assert_eq!(releases, 1, "epochs {ea} and {eb}");
        }
    }
}

#[test]
fn a_stale_primary_message_changes_nothing() {
    // A primary at 9 told by a peer claiming primary at 3: it stays, and says so.
    let t = step(
        st(Role::Primary, 9),
        ids_a(),
        Event::PeerIsPrimary { epoch: 3 },
    )
    .unwrap();
    assert_eq!(t.state, st(Role::Primary, 9));
    assert_eq!(
        t.actions,
        vec![Action::TellPeerPrimary {
            epoch: 9,
            reason: LostReason::HigherEpoch
        }]
    );
    assert_eq!(t.note, Some(Note::Stale { theirs: 3, ours: 9 }));
    // A backup at 9 hearing of a primary at 3 keeps its epoch.
    let t = step(
        st(Role::Backup, 9),
        ids_b(),
        Event::PeerSeen {
            role: Role::Primary,
            epoch: 3,
        },
    )
    .unwrap();
    assert_eq!(t.state, st(Role::Backup, 9));
    assert!(t.actions.is_empty());
    assert_eq!(t.note, Some(Note::Stale { theirs: 3, ours: 9 }));
}

#[test]
fn a_backup_follows_its_primarys_epoch() {
    let t = step(
        st(Role::Backup, 2),
        ids_b(),
        Event::PeerSeen {
            role: Role::Primary,
            epoch: 4,
        },
    )
    .unwrap();
    assert_eq!(t.state, st(Role::Backup, 4));
    assert!(t.actions.is_empty());
    assert_eq!(t.note, None);
}

#[test]
fn a_primary_seeing_its_backup_keeps_holding() {
    let t = step(
        st(Role::Primary, 3),
        ids_a(),
        Event::PeerSeen {
            role: Role::Backup,
            epoch: 5,
        },
    )
    .unwrap();
    assert_eq!(t.state, st(Role::Primary, 5));
    assert!(t.actions.is_empty());
}

#[test]
fn two_backups_take_nothing_on_their_own() {
    let t = step(
        st(Role::Backup, 3),
        ids_a(),
        Event::PeerSeen {
            role: Role::Backup,
            epoch: 3,
        },
    )
    .unwrap();
    assert_eq!(t.state, st(Role::Backup, 3));
    assert!(t.actions.is_empty());
    assert_eq!(t.note, Some(Note::BothBackups));
}

#[test]
fn a_break_forgets_the_peer_keeps_the_epoch_and_hands_the_shared_ips_back() {
    for role in [Role::Primary, Role::Backup] {
        for (event, note) in [
            (Event::BrokenByUs, None),
            (Event::BrokenByPeer, Some(Note::PeerBroke)),
            (
                Event::PeerSeen {
                    role: Role::None,
                    epoch: 0,
                },
                Some(Note::PeerBroke),
            ),
        ] {
            let t = step(st(role, 5), ids_a(), event).unwrap();
            assert_eq!(t.state, st(Role::None, 5));
            assert_eq!(
                t.actions,
                vec![Action::ForgetPeer, Action::SharedIps(SharedIps::Operator)]
            );
            assert_eq!(t.note, note);
        }
    }
}

#[test]
fn events_about_a_peer_need_a_pair() {
    for event in [
        Event::BrokenByUs,
        Event::BrokenByPeer,
        Event::PeerIsPrimary { epoch: 3 },
        Event::PeerSeen {
            role: Role::Primary,
            epoch: 3,
        },
    ] {
        assert_eq!(
            step(st(Role::None, 2), ids_a(), event),
            Err(Refusal::NotPaired)
        );
    }
}

#[test]
fn roles_are_written_in_lower_case() {
    assert_eq!(
        serde_json::to_string(&Role::Primary).unwrap(),
        "\"primary\""
    );
    assert_eq!(
        serde_json::from_str::<Role>("\"none\"").unwrap(),
        Role::None
    );
    assert_eq!(Role::Backup.to_string(), "backup");
}

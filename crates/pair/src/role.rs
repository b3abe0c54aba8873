//! Roles and epochs: which appliance of a pair is primary (and holds the shared IPs), and
//! what each does when it learns something about the other.
//!
//! Each appliance stores its role and an **epoch** (a term number). The epoch only grows:
//! establish sets both to one more than the larger of the two; each become-primary takes
//! one more than the appliance had. When two appliances disagree, the higher epoch wins:
//! - both primary, different epochs: the lower one becomes backup at the higher epoch and
//!   releases the shared IPs; the winner tells it why;
//! - both primary, the same epoch (both became primary while they could not see each
//!   other): the appliance whose id sorts first (byte order) stays primary and moves to
//!   the next epoch, so that the tie is gone for good; the other becomes backup;
//! - a message from the peer with an epoch lower than ours is stale: it changes nothing
//!   (and a stale primary is told it lost);
//! - both backups: nothing is taken automatically; the operator chooses (Become primary).
//!
//! So there is never a second holder by this machine's doing; the ARP/NDP probe of the
//! shared IP stays the last guard against a holder this machine cannot see.
//! [`step`] is the whole machine: a state and an event in, the new state and what the
//! daemon must do (in order) out.

use serde::{Deserialize, Serialize};
use std::cmp::Ordering;

/// An appliance's role in a pair.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Not in a pair: the shared IPs are the operator's to enable.
    #[default]
    None,
    /// Holds the shared IPs; its service part is the pair's.
    Primary,
    /// Holds no shared IP; takes the primary's service part.
    Backup,
}

impl std::fmt::Display for Role {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Role::None => "none",
            Role::Primary => "primary",
            Role::Backup => "backup",
        })
    }
}

/// What an appliance stores about its role.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct State {
    pub role: Role,
    pub epoch: u64,
}

/// The two appliances' ids (the tie-break of two primaries at one epoch).
#[derive(Debug, Clone, Copy)]
pub struct Ids<'a> {
    pub ours: &'a str,
    pub peer: &'a str,
}

/// What happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// Establish succeeded with this appliance as `role`, at the agreed `epoch`
    /// ([`establish_epoch`]).
    Established { role: Role, epoch: u64 },
    /// The operator chose Become primary on the backup; whether the peer answered (and
    /// was told to step down).
    BecomePrimary { peer_answered: bool },
    /// The peer's state, as it answered a check or a sync.
    PeerSeen { role: Role, epoch: u64 },
    /// The peer says it is primary at `epoch` and this appliance must be backup (after its
    /// become-primary, or because it won a meeting of two primaries).
    PeerIsPrimary { epoch: u64 },
    /// The operator broke the pair on this appliance.
    BrokenByUs,
    /// The peer broke the pair (it said so, or answered that it no longer knows us).
    BrokenByPeer,
}

/// Who holds the shared IPs of the pair, as the network manager is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SharedIps {
    /// This appliance holds them (after its probe finds them free).
    Hold,
    /// This appliance must not hold them.
    Release,
    /// Not in a pair: each shared IP's Enabled flag in the network settings decides.
    Operator,
}

/// Why the peer must be backup (sent to it, shown in its status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LostReason {
    /// This appliance became primary by the operator's choice.
    TookOver,
    /// Both were primary; this one's epoch is higher.
    HigherEpoch,
    /// Both were primary at the same epoch; this one's id sorts first.
    Tie,
}

impl std::fmt::Display for LostReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LostReason::TookOver => "the peer became primary by an operator's choice",
            LostReason::HigherEpoch => "both were primary and the peer's epoch is higher",
            LostReason::Tie => {
                "both were primary at the same epoch and the peer's appliance id sorts first"
            }
        })
    }
}

/// What the daemon must do, in the order given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    SharedIps(SharedIps),
    /// Tell the peer that this appliance is primary at `epoch` ([`Event::PeerIsPrimary`]
    /// on its side).
    TellPeerPrimary {
        epoch: u64,
        reason: LostReason,
    },
    /// Forget the relationship (peer address, pin), keeping the epoch.
    ForgetPeer,
}

/// What the status shows about the last change, if it is worth showing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Note {
    /// This appliance became backup because the peer is primary at a higher (or tied)
    /// epoch.
    SteppedDown { epoch: u64 },
    /// Both were primary and this one stayed.
    Won { reason: LostReason },
    /// A message with an epoch lower than ours: ignored.
    Stale { theirs: u64, ours: u64 },
    /// Both appliances are backups: an operator must choose one.
    BothBackups,
    /// Became primary without the peer answering: it may still hold the shared IPs; the
    /// probe guards them.
    PeerSilent,
    /// The peer broke the relationship.
    PeerBroke,
}

/// The new state and what to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub state: State,
    pub actions: Vec<Action>,
    pub note: Option<Note>,
}

impl Transition {
    fn stay(state: State) -> Self {
        Transition {
            state,
            actions: Vec::new(),
            note: None,
        }
    }

    fn with(state: State, actions: Vec<Action>, note: Option<Note>) -> Self {
        Transition {
            state,
            actions,
            note,
        }
    }
}

/// An event that does not apply to the current state (an operator's choice refused, or a
/// message the pair should never send).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("this appliance is not in a failover pair")]
    NotPaired,
    #[error("this appliance is already the {0} of a failover pair; break the relationship first")]
    AlreadyPaired(Role),
    #[error("only the backup can become primary; this appliance is the {0}")]
    NotBackup(Role),
    #[error("an establish must make this appliance primary or backup")]
    NoRole,
}

/// The epoch both appliances take at establish: above anything either has had.
pub fn establish_epoch(ours: u64, theirs: u64) -> u64 {
    ours.max(theirs).saturating_add(1)
}

/// The whole state machine.
pub fn step(state: State, ids: Ids<'_>, event: Event) -> Result<Transition, Refusal> {
    use Role::{Backup, None as Unpaired, Primary};
    let hold = Action::SharedIps(SharedIps::Hold);
    let release = Action::SharedIps(SharedIps::Release);
    match (state.role, event) {
        (Unpaired, Event::Established { role, epoch }) => {
            let action = match role {
                Primary => hold,
                Backup => release,
                Unpaired => return Err(Refusal::NoRole),
            };
            let epoch = epoch.max(state.epoch);
            Ok(Transition::with(State { role, epoch }, vec![action], None))
        }
        (role, Event::Established { .. }) => Err(Refusal::AlreadyPaired(role)),

        (Backup, Event::BecomePrimary { peer_answered }) => {
            let epoch = state.epoch.saturating_add(1);
            let next = State {
                role: Primary,
                epoch,
            };
            if peer_answered {
                // The old primary releases first, then this one takes them.
                Ok(Transition::with(
                    next,
                    vec![
                        Action::TellPeerPrimary {
                            epoch,
                            reason: LostReason::TookOver,
                        },
                        hold,
                    ],
                    None,
                ))
            } else {
                Ok(Transition::with(next, vec![hold], Some(Note::PeerSilent)))
            }
        }
        (role, Event::BecomePrimary { .. }) => Err(Refusal::NotBackup(role)),

        (Unpaired, Event::PeerSeen { .. } | Event::PeerIsPrimary { .. }) => Err(Refusal::NotPaired),
        (
            Primary,
            Event::PeerSeen {
                role: Primary,
                epoch,
            },
        ) => Ok(primaries_meet(state, ids, epoch)),
        (Primary, Event::PeerIsPrimary { epoch }) => match epoch.cmp(&state.epoch) {
            Ordering::Greater => Ok(step_down(epoch)),
            Ordering::Less => Ok(Transition::with(
                state,
                vec![Action::TellPeerPrimary {
                    epoch: state.epoch,
                    reason: LostReason::HigherEpoch,
                }],
                Some(Note::Stale {
                    theirs: epoch,
                    ours: state.epoch,
                }),
            )),
            Ordering::Equal => Ok(primaries_meet(state, ids, epoch)),
        },
        (
            Backup,
            Event::PeerSeen {
                role: Primary,
                epoch,
            }
            | Event::PeerIsPrimary { epoch },
        ) => {
            if epoch >= state.epoch {
                Ok(Transition::stay(State {
                    role: Backup,
                    epoch,
                }))
            } else {
                Ok(Transition::with(
                    state,
                    Vec::new(),
                    Some(Note::Stale {
                        theirs: epoch,
                        ours: state.epoch,
                    }),
                ))
            }
        }
        (
            Primary,
            Event::PeerSeen {
                role: Backup,
                epoch,
            },
        ) => Ok(Transition::stay(State {
            role: Primary,
            epoch: state.epoch.max(epoch),
        })),
        (
            Backup,
            Event::PeerSeen {
                role: Backup,
                epoch,
            },
        ) => Ok(Transition::with(
            State {
                role: Backup,
                epoch: state.epoch.max(epoch),
            },
            Vec::new(),
            Some(Note::BothBackups),
        )),
        (Primary | Backup, Event::PeerSeen { role: Unpaired, .. } | Event::BrokenByPeer) => {
            Ok(Transition::with(
                State {
                    role: Unpaired,
                    epoch: state.epoch,
                },
                vec![Action::ForgetPeer, Action::SharedIps(SharedIps::Operator)],
                Some(Note::PeerBroke),
            ))
        }
        (Primary | Backup, Event::BrokenByUs) => Ok(Transition::with(
            State {
                role: Unpaired,
                epoch: state.epoch,
            },
            vec![Action::ForgetPeer, Action::SharedIps(SharedIps::Operator)],
            None,
        )),
        (Unpaired, Event::BrokenByUs | Event::BrokenByPeer) => Err(Refusal::NotPaired),
    }
}

/// Two primaries: the higher epoch wins; at one epoch, the id that sorts first, which then
/// moves to the next epoch.
fn primaries_meet(state: State, ids: Ids<'_>, theirs: u64) -> Transition {
    let won = |epoch: u64, reason| {
        Transition::with(
            State {
                role: Role::Primary,
                epoch,
            },
            vec![Action::TellPeerPrimary { epoch, reason }],
            Some(Note::Won { reason }),
        )
    };
    match theirs.cmp(&state.epoch) {
        Ordering::Less => won(state.epoch, LostReason::HigherEpoch),
        Ordering::Greater => step_down(theirs),
        Ordering::Equal if ids.ours.as_bytes() < ids.peer.as_bytes() => {
            won(state.epoch.saturating_add(1), LostReason::Tie)
        }
        Ordering::Equal => step_down(theirs),
    }
}

fn step_down(epoch: u64) -> Transition {
    Transition::with(
        State {
            role: Role::Backup,
            epoch,
        },
        vec![Action::SharedIps(SharedIps::Release)],
        Some(Note::SteppedDown { epoch }),
    )
}

#[cfg(test)]
mod tests;

//! The roles own the shared IPs: every transition's `SharedIps` action goes to the
//! network manager ([`crate::net::Handle::shared_role`]: the primary holds every shared
//! IP of its network settings after the ARP/NDP probe, the backup none, out of a pair the
//! Enabled flags decide), and **Become primary** on the backup: the old primary, if it
//! answers, becomes backup and releases first; if it does not, the probe of the shared
//! IPs must find them silent (never an address that still answers from another MAC).
//! With `pull`, the old primary is first asked for a final sync
//! ([`Failover::pull_final_sync`], `sync.rs`).
//! docs/failover.md "Become primary".

use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use api_types::{BecomePrimaryAnswer, PeerState, SharedIpAnswered};
use appliancectl::Method;
use pair::{Event, Note, Role, SharedIps};

use super::channel::{clause, CallError};
use super::record::PeerRecord;
use super::{Failover, FailoverError, PairRecord, REACH_NO};
use crate::net::{Probed, RoleOutcome};
use crate::store::{Audit, Store};

/// How long the old primary has to answer Become primary (release included).
const TELL_TIMEOUT: Duration = Duration::from_secs(3);
/// The same when the last check found it silent: it most likely is gone.
const TELL_TIMEOUT_SILENT: Duration = Duration::from_secs(1);

/// The failover service's hold on the network manager and the automatic failover's pace.
#[derive(Debug, Default)]
pub(super) struct Roles {
    net: OnceLock<crate::net::Handle>,
    /// The automatic failover's checks run (every 200 ms): the 2 s watch leaves the peer
    /// to them.
    fast: AtomicBool,
    /// Wakes the automatic failover's loop when the role or its settings change.
    pub(super) wake: tokio::sync::Notify,
}

impl Roles {
    /// The role, the peer or the automatic failover settings changed.
    pub(super) fn changed(&self) {
        self.wake.notify_one();
    }

    pub(super) fn fast_checks(&self) -> bool {
        self.fast.load(Ordering::Relaxed)
    }

    pub(super) fn set_fast_checks(&self, on: bool) {
        self.fast.store(on, Ordering::Relaxed);
    }
}

/// Who decides on the shared IPs when the network manager starts: in a pair nobody holds
/// them until the failover service has asked the peer ([`Failover::settle_at_start`]); out
/// of one, the Enabled flags.
pub(crate) fn shared_role_at_start(store: &Store) -> SharedIps {
    match store.get::<PairRecord>() {
        Ok(record) if record.state.role != Role::None => SharedIps::Release,
        Ok(_) => SharedIps::Operator,
        Err(err) => {
            tracing::error!("cannot read the failover pair's state: {err}; no shared IP taken");
            SharedIps::Release
        }
    }
}

/// The sentence of an appliance that stepped down, by what it learnt.
pub(super) fn stepped_down(event: Event, note: Option<Note>) -> Option<String> {
    let Some(Note::SteppedDown { epoch }) = note else {
        return None;
    };
    Some(match event {
        Event::PeerIsPrimary { .. } => format!(
            "The peer became primary at epoch {epoch} and said so; this appliance is now its \
             backup and released the shared IPs first."
        ),
        _ => format!(
            "The peer became primary at epoch {epoch} while this appliance was unreachable; \
             this appliance is now the backup and released the shared IPs."
        ),
    })
}

/// `ARP` or `NDP`, for an address as `10.0.0.50/24`.
pub(super) fn protocol(address: &str) -> &'static str {
    if address.contains(':') {
        "NDP"
    } else {
        "ARP"
    }
}

impl Failover {
    /// The network manager whose shared IPs the roles drive (once, at start).
    pub(crate) fn attach_network(&self, net: crate::net::Handle) {
        let _ = self.roles.net.set(net);
    }

    /// Who holds the pair's shared IPs from now on; what became of them.
    pub(super) async fn shared_ips(&self, ips: SharedIps) -> Option<RoleOutcome> {
        let why = match ips {
            SharedIps::Hold => "failover: this appliance is primary",
            SharedIps::Release => "failover: this appliance is backup",
            SharedIps::Operator => "failover: no pair; the Enabled flags decide",
        };
        let Some(net) = self.roles.net.get() else {
            tracing::warn!(
                ?ips,
                "failover: no network manager to give the shared IPs to"
            );
            return None;
        };
        let outcome = net.shared_role(ips, why).await;
        match &outcome {
            Some(o) => {
                for c in &o.conflicts {
                    tracing::warn!(
                        "failover: shared IP {} not taken: {} answers for it (probed again \
                         every second)",
                        c.address,
                        c.by
                    );
                }
            }
            None => tracing::error!("failover: the network manager has stopped"),
        }
        outcome
    }

    /// Probe the shared IPs this appliance does not hold.
    pub(super) async fn probe_shared(&self) -> Probed {
        match self.roles.net.get() {
            Some(net) => net.probe_shared().await.unwrap_or_default(),
            None => Probed::default(),
        }
    }

    /// At start, once: a primary asks the peer first (it may have become primary at a
    /// higher epoch meanwhile), then the shared IPs follow the role.
    pub(super) async fn settle_at_start(&self) {
        let Ok(record) = self.record() else {
            return;
        };
        match record.state.role {
            Role::None => return,
            Role::Primary => {
                if let Err(err) = self.check_peer().await {
                    tracing::warn!("failover: asking the peer at start: {err}");
                }
            }
            Role::Backup => {}
        }
        let ips = match self.record().map(|r| r.state.role) {
            Ok(Role::Primary) => SharedIps::Hold,
            Ok(Role::Backup) => SharedIps::Release,
            Ok(Role::None) => SharedIps::Operator,
            Err(err) => {
                tracing::error!("failover: cannot read the role at start: {err}");
                return;
            }
        };
        self.shared_ips(ips).await;
    }

    /// Tell the old primary this appliance is primary at `epoch`: it becomes backup and
    /// releases the shared IPs before it answers.
    async fn tell_took_over(&self, peer: &PeerRecord, epoch: u64) -> Result<PeerState, CallError> {
        let timeout = if self.reachable.load(Ordering::Relaxed) == REACH_NO {
            TELL_TIMEOUT_SILENT
        } else {
            TELL_TIMEOUT
        };
        let client = self
            .peer_client(peer, timeout)
            .map_err(CallError::Transport)?;
        let body = PeerState {
            appliance_id: self.facts.appliance_id.clone(),
            role: Role::Primary,
            epoch,
        };
        Self::call::<PeerState>(&client, Method::POST, "/api/v1/peer/primary", Some(&body))
            .await
            .map(|(state, _)| state)
    }

    /// `POST /api/v1/failover/become-primary`, on the backup.
    pub(crate) async fn become_primary(
        &self,
        pull: bool,
        user: &str,
        address: Option<IpAddr>,
    ) -> Result<BecomePrimaryAnswer, FailoverError> {
        let busy = self.busy.lock().await;
        let record = self.record()?;
        // Refused unless this appliance is the backup (nothing done yet).
        self.transition(
            &record,
            Event::BecomePrimary {
                peer_answered: false,
            },
        )?;
        let Some(peer) = record.peer.clone() else {
            return Err(pair::Refusal::NotPaired.into());
        };
        let pulled = if pull {
            Some(self.pull_final_sync(&peer).await)
        } else {
            None
        };
        let epoch = record.state.epoch.saturating_add(1);
        let (peer_answered, how) = match self.tell_took_over(&peer, epoch).await {
            Ok(theirs) if theirs.role == Role::Primary => {
                // Its epoch is above ours: it stays, this appliance follows it.
                drop(busy);
                let event = Event::PeerSeen {
                    role: theirs.role,
                    epoch: theirs.epoch,
                };
                self.peer_event(&peer, event, "become primary refused by the peer", address)
                    .await?;
                return Err(FailoverError::PeerStaysPrimary {
                    epoch: theirs.epoch,
                });
            }
            Ok(_) => (
                true,
                "the old primary became backup and released the shared IPs first".to_string(),
            ),
            Err(CallError::Refused { message, .. }) => {
                return Err(FailoverError::PeerRefused(clause(&message)));
            }
            Err(CallError::Transport(err)) => {
                // The split-brain guard: an address that still answers is not taken.
                let probed = self.probe_shared().await;
                if let Some(a) = probed.answered.first() {
                    tracing::warn!(
                        "failover: become primary refused: {} still answers from {}",
                        a.address,
                        a.by
                    );
                    return Err(FailoverError::SharedIpInUse {
                        address: a.address.clone(),
                        by: a.by.clone(),
                    });
                }
                let probe = if probed.probed.is_empty() {
                    "no shared IP to probe".to_string()
                } else {
                    format!(
                        "{} did not answer the probe",
                        probed
                            .probed
                            .iter()
                            .map(|a| format!("{} ({})", a, protocol(a)))
                            .collect::<Vec<_>>()
                            .join(", ")
                    )
                };
                (
                    false,
                    format!("the old primary did not answer ({err}); {probe}"),
                )
            }
        };
        let transition = self.transition(&record, Event::BecomePrimary { peer_answered })?;
        let epoch = transition.state.epoch;
        let pull_detail = pulled
            .as_deref()
            .map(|p| format!("; pull asked: {p}"))
            .unwrap_or_default();
        let detail = format!("this appliance became primary at epoch {epoch}: {how}{pull_detail}");
        tracing::info!("failover: {detail}");
        let outcome = self
            .commit(
                Audit::user(user, address, "failover.become_primary", detail),
                transition,
                Some(format!(
                    "This appliance became primary at epoch {epoch} (Become primary): {how}."
                )),
            )
            .await
            .inspect_err(|err| {
                if peer_answered {
                    // The old primary already stepped down: neither holds the shared IPs
                    // until Become primary is tried again (the next epoch; it follows).
                    tracing::error!(
                        "failover: the old primary became backup at epoch {epoch}, but this \
                         appliance could not store its new role ({err}): no appliance holds \
                         the shared IPs; choose Become primary again"
                    );
                }
            })?
            .unwrap_or_default();
        drop(busy);
        Ok(BecomePrimaryAnswer {
            peer_answered,
            pull: pulled,
            held: outcome.held,
            conflicts: outcome
                .conflicts
                .into_iter()
                .map(|c| SharedIpAnswered {
                    address: c.address,
                    by: c.by,
                })
                .collect(),
            failover: self.view()?,
        })
    }

    /// The automatic failover's takeover: primary alone, one epoch up, audited with
    /// `reason`. Nothing if the role changed meanwhile.
    pub(super) async fn take_over(&self, reason: &str) -> Result<(), FailoverError> {
        let _busy = self.busy.lock().await;
        let record = self.record()?;
        if record.state.role != Role::Backup {
            return Ok(());
        }
        let transition = self.transition(
            &record,
            Event::BecomePrimary {
                peer_answered: false,
            },
        )?;
        let epoch = transition.state.epoch;
        tracing::warn!("failover: automatic failover: {reason}; primary at epoch {epoch}");
        let outcome = self
            .commit(
                Audit::system(
                    "failover.auto_takeover",
                    format!(
                        "automatic failover: {reason}; this appliance became primary at \
                         epoch {epoch}"
                    ),
                ),
                transition,
                Some(format!(
                    "Automatic failover at epoch {epoch}: {reason}; this appliance is primary."
                )),
            )
            .await?;
        if let Some(o) = outcome {
            tracing::info!(held = ?o.held, "failover: shared IPs after the takeover");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_appliance_that_stepped_down_says_how_it_learnt_it() {
        let note = Some(Note::SteppedDown { epoch: 7 });
        let split = stepped_down(
            Event::PeerSeen {
                role: Role::Primary,
                epoch: 7,
            },
            note,
        )
        .unwrap();
        assert!(
            split.contains("became primary at epoch 7 while this appliance was unreachable"),
            "{split}"
        );
        let told = stepped_down(Event::PeerIsPrimary { epoch: 7 }, note).unwrap();
        assert!(told.contains("released the shared IPs first"), "{told}");
        assert_eq!(
            stepped_down(Event::BrokenByPeer, Some(Note::PeerBroke)),
            None
        );
        assert_eq!(protocol("10.0.0.50/24"), "ARP");
        let in_use = FailoverError::SharedIpInUse {
            address: "10.0.0.50/24".into(),
            by: "52:54:00:00:00:0a".into(),
        };
        assert_eq!(in_use.code(), "shared_ip_in_use");
        assert!(in_use
            .to_string()
            .contains("still answers from 52:54:00:00:00:0a"));
        assert_eq!(
            FailoverError::PeerStaysPrimary { epoch: 9 }.code(),
            "peer_primary"
        );
        assert_eq!(
            FailoverError::Setting(String::new()).code(),
            "invalid_setting"
        );
        assert_eq!(protocol("2001:db8::50/64"), "NDP");
    }
}

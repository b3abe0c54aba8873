//! Automatic failover, off by default (`PUT /api/v1/failover/auto`): a backup with it on
//! checks the primary every 200 ms over one kept pair-channel connection
//! (`POST /api/v1/peer/state`, the same check as the 2 s watch, which then stands aside);
//! a check not answered within the interval is missed. After the operator's number of
//! missed checks in a row, it probes the shared IPs with ARP/NDP and takes over only if
//! none answers and a first complete sync happened (`pair::takeover` is the rule).
//! Each decision not to take over is logged and audited once per silence of the primary.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use appliancectl::{Connection, Method};
use pair::takeover::{self, Check, Decision, Probe, CHECK_INTERVAL};
use pair::Role;

use super::channel::CallError;
use super::record::{AutoFailover, PairRecord};
use super::roles::protocol;
use super::{Failover, FailoverError, View};
use crate::store::Audit;

/// How often a silent primary's shared IPs are probed again while one still answers.
const PROBE_AGAIN: Duration = Duration::from_secs(1);
/// How long the loop sleeps between looks at the settings while it has nothing to check.
const IDLE: Duration = Duration::from_secs(1);

/// The loop's memory across checks.
#[derive(Default)]
struct Watch {
    /// The kept connection, and the pin it was made for.
    connection: Option<(String, Connection)>,
    missed: u32,
    last_probe: Option<Instant>,
    /// The last refusal logged and audited (its reason, without the count of missed
    /// checks), not to repeat it every check.
    refrained: Option<String>,
}

impl Failover {
    /// A first complete sync with the current peer happened: the backup has the primary's
    /// service part to serve.
    fn synced(record: &PairRecord) -> bool {
        super::sync::initial_done(record)
    }

    /// `PUT /api/v1/failover/auto`.
    pub(crate) async fn set_auto(
        &self,
        enabled: bool,
        missed_checks: Option<u32>,
        user: &str,
        address: Option<IpAddr>,
    ) -> Result<View, FailoverError> {
        let _busy = self.busy.lock().await;
        let missed_checks = missed_checks.unwrap_or(self.record()?.auto.missed_checks);
        takeover::check_setting(missed_checks).map_err(FailoverError::Setting)?;
        let auto = AutoFailover {
            enabled,
            missed_checks,
        };
        let detail = if enabled {
            format!(
                "automatic failover enabled: the backup takes over after {missed_checks} \
                 missed checks ({:.1} s) if the shared IPs do not answer either",
                takeover::silence(missed_checks).as_secs_f64()
            )
        } else {
            format!("automatic failover disabled (missed checks kept at {missed_checks})")
        };
        self.store
            .change_async(
                Audit::user(user, address, "failover.auto", detail.clone()),
                move |tx| {
                    let mut record: PairRecord = tx.get()?;
                    record.auto = auto;
                    tx.put(&record)
                },
            )
            .await?;
        tracing::info!("failover: {detail}");
        self.roles.changed();
        self.view()
    }

    /// The automatic failover's checks, for as long as the daemon runs; idle unless this
    /// appliance is a backup with automatic failover on.
    pub(super) async fn auto_watch(self: Arc<Self>) {
        let mut watch = Watch::default();
        let mut ticker = tokio::time::interval(CHECK_INTERVAL);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let record = match self.record() {
                Ok(r) => r,
                Err(err) => {
                    tracing::error!("failover: automatic failover cannot read the pair: {err}");
                    tokio::time::sleep(IDLE).await;
                    continue;
                }
            };
            let active = record.state.role == Role::Backup && record.auto.enabled;
            let Some(peer) = record.peer.clone().filter(|_| active) else {
                self.roles.set_fast_checks(false);
                watch = Watch::default();
                tokio::select! {
                    () = self.roles.wake.notified() => {}
                    () = tokio::time::sleep(IDLE) => {}
                }
                continue;
            };
            self.roles.set_fast_checks(true);
            ticker.tick().await;
            let missed = match self.fast_check(&mut watch, &record, &peer).await {
                Ok(missed) => missed,
                Err(err) => {
                    tracing::warn!("failover: a check of the primary: {err}");
                    false
                }
            };
            if missed {
                watch.missed = watch.missed.saturating_add(1);
            } else {
                if watch.missed > 0 {
                    tracing::info!(
                        "failover: the primary answers again after {} missed checks",
                        watch.missed
                    );
                }
                watch.missed = 0;
                watch.refrained = None;
                watch.last_probe = None;
                continue;
            }
            self.decide(&mut watch, &record).await;
        }
    }

    /// One check on the kept connection; whether it was missed.
    async fn fast_check(
        &self,
        watch: &mut Watch,
        record: &PairRecord,
        peer: &super::record::PeerRecord,
    ) -> Result<bool, FailoverError> {
        if watch
            .connection
            .as_ref()
            .is_none_or(|(pin, _)| *pin != peer.pin)
        {
            let client = self.peer_client(peer, CHECK_INTERVAL)?;
            watch.connection = Some((peer.pin.clone(), Connection::new(client)));
        }
        let Some((_, connection)) = watch.connection.as_mut() else {
            return Ok(true);
        };
        let body = serde_json::to_value(self.state_message(record.state))
            .map_err(|e| FailoverError::BadRequest(e.to_string()))?;
        let name = connection.client().endpoint().to_string();
        let response = connection
            .send(Method::POST, "/api/v1/peer/state", Some(&body))
            .await;
        let answer = Self::answer::<api_types::PeerState>(name, response);
        let missed = matches!(answer, Err(CallError::Transport(_)));
        self.checked(peer, answer).await?;
        Ok(missed)
    }

    /// After a missed check: wait, refrain (said once) or take over.
    async fn decide(&self, watch: &mut Watch, record: &PairRecord) {
        let check = Check {
            missed: watch.missed,
            threshold: record.auto.missed_checks,
            synced: Self::synced(record),
        };
        let probed;
        let refrain = match takeover::decide(check, Probe::NotYet) {
            Decision::Probe => {
                if watch
                    .last_probe
                    .is_some_and(|at| at.elapsed() < PROBE_AGAIN)
                {
                    return;
                }
                watch.last_probe = Some(Instant::now());
                probed = self.probe_shared().await;
                let probe = match probed.answered.first() {
                    Some(a) => Probe::Answered {
                        address: &a.address,
                        by: &a.by,
                    },
                    None => Probe::Silent,
                };
                match takeover::decide(check, probe) {
                    Decision::TakeOver => {
                        let probed: Vec<(String, &str)> = probed
                            .probed
                            .iter()
                            .map(|a| (a.clone(), protocol(a)))
                            .collect();
                        let reason = takeover::takeover_reason(watch.missed, &probed);
                        if let Err(err) = self.take_over(&reason).await {
                            tracing::error!("failover: automatic failover failed: {err}");
                        }
                        watch.connection = None;
                        return;
                    }
                    Decision::Refrain(refrain) => refrain,
                    Decision::Wait | Decision::Probe => return,
                }
            }
            Decision::Refrain(refrain) => refrain,
            Decision::Wait | Decision::TakeOver => return,
        };
        // Said once per silence (and again if the reason changes, not as the count grows).
        let kind = format!("{refrain:?}");
        if watch.refrained.as_deref() == Some(kind.as_str()) {
            return;
        }
        watch.refrained = Some(kind);
        let decision = takeover::refrain_reason(watch.missed, refrain);
        tracing::warn!("failover: automatic failover: {decision}");
        let audit = Audit::system("failover.auto_refrained", decision);
        if let Err(err) = self
            .store
            .change_async(audit, |_| Ok::<_, crate::store::Error>(()))
            .await
        {
            tracing::error!("failover: cannot audit: {err}");
        }
    }
}

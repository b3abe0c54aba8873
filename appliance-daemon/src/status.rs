//! Status > Basics and Status > Specs: who this appliance is, what it runs, its hardware
//! and the record of the factory reset that made its data partition.
//!
//! The hardware facts are read at most once a second and shared (reading /proc and /sys
//! costs about a millisecond; a page refresh or a monitoring script must not multiply it);
//! the clock and the daemon's own memory are read on every call, and the JSON is made at
//! most once per second (the clock in it has one-second resolution): a monitoring script
//! or 64 clients polling cost one serialization per second, not one per request.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::store::Store;
use crate::system::specs;
use crate::system::SystemInfo;
use crate::tls::Certificates;

/// How long one reading of the hardware facts is reused.
const SPECS_MAX_AGE: Duration = Duration::from_secs(1);

/// `GET /api/v1/status`.
pub(crate) use api_types::Status;

pub(crate) use api_types::Versions;

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error("reading the hardware facts did not finish: {0}")]
    Specs(String),
    #[error("encoding the status failed: {0}")]
    Encode(#[from] serde_json::Error),
}

/// Gathers the status, and keeps the last one for a second.
#[derive(Debug)]
pub(crate) struct StatusService {
    system: SystemInfo,
    store: Store,
    /// Root of /proc and /sys for the hardware facts.
    sysroot: PathBuf,
    /// Where the sanitization record lives (`/data`).
    state_dir: PathBuf,
    tls: Arc<Certificates>,
    update_keys: api_types::UpdateKeys,
    /// The failover pair, read on every call (its sync moves within a second).
    failover: Arc<crate::failover::Failover>,
    /// The gathered status and when.
    status: Mutex<Option<(Instant, Arc<Status>)>>,
    /// Its JSON, the unix second it was made in and the pair state it holds.
    json: Mutex<Option<(u64, Option<api_types::PairStatus>, bytes::Bytes)>>,
}

impl StatusService {
    pub(crate) fn new(
        system: SystemInfo,
        store: Store,
        state_dir: PathBuf,
        tls: Arc<Certificates>,
        update_keys: api_types::UpdateKeys,
        failover: Arc<crate::failover::Failover>,
    ) -> Self {
        StatusService {
            system,
            store,
            sysroot: PathBuf::from("/"),
            state_dir,
            tls,
            update_keys,
            failover,
            status: Mutex::new(None),
            json: Mutex::new(None),
        }
    }

    /// The status now as JSON (`GET /api/v1/status`): made at most once per second for
    /// the same failover pair state (the pair's state is read on every call: a break or a
    /// sync shows at once).
    pub(crate) async fn json(&self) -> Result<bytes::Bytes, StatusError> {
        let second = units::now();
        let pair = self.pair();
        let cached = self
            .json
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .as_ref()
            .filter(|(at, of, _)| *at == second && *of == pair)
            .map(|(_, _, json)| json.clone());
        if let Some(json) = cached {
            return Ok(json);
        }
        let status = self.gather_with(pair.clone()).await?;
        let json = bytes::Bytes::from(serde_json::to_vec(&status)?);
        *self
            .json
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) =
            Some((second, pair, json.clone()));
        Ok(json)
    }

    /// The failover pair's part of the status, read now.
    fn pair(&self) -> Option<api_types::PairStatus> {
        match self.failover.pair_status() {
            Ok(pair) => pair,
            Err(err) => {
                tracing::warn!("the failover pair's state is missing from the status: {err}");
                None
            }
        }
    }

    /// The status now: hardware facts at most a second old, the clock and the pair read
    /// now.
    pub(crate) async fn gather(&self) -> Result<Status, StatusError> {
        self.gather_with(self.pair()).await
    }

    async fn gather_with(
        &self,
        pair: Option<api_types::PairStatus>,
    ) -> Result<Status, StatusError> {
        let cached = match self.fresh() {
            Some(status) => status,
            None => {
                let status = Arc::new(self.read().await?);
                *self
                    .status
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) =
                    Some((Instant::now(), Arc::clone(&status)));
                status
            }
        };
        let mut status = (*cached).clone();
        status.specs.clock = specs::clock_now();
        status.time = status.specs.clock.utc.clone();
        status.failover = pair;
        status.certificates_expiring = self.tls.expiring(crate::tls::store::now());
        Ok(status)
    }

    fn fresh(&self) -> Option<Arc<Status>> {
        match &*self
            .status
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
        {
            Some((at, status)) if at.elapsed() < SPECS_MAX_AGE => Some(Arc::clone(status)),
            _ => None,
        }
    }

    async fn read(&self) -> Result<Status, StatusError> {
        let identity = self.store.identity()?;
        let root = self.sysroot.clone();
        let specs = tokio::task::spawn_blocking(move || specs::gather(&root))
            .await
            .map_err(|e| StatusError::Specs(e.to_string()))?;
        let profile = self.system.release.profile.clone();
        let model = match profile.as_str() {
            "box" => "Bomgar Box",
            _ => "Virtual Appliance",
        }
        .to_string();
        Ok(Status {
            model,
            profile,
            serial: specs.dmi.serial.clone(),
            appliance_id: identity.appliance_id,
            hostname: crate::system::hostname(),
            version: self.system.release.version.clone(),
            slot: self.system.slot.to_string(),
            versions: Versions {
                base: self.system.release.version.clone(),
                site: None,
            },
            uptime_seconds: specs.uptime_seconds.unwrap_or(0),
            time: specs.clock.utc.clone(),
            daemon_rss_bytes: own_rss(),
            certificate_sha256: self.tls.pin(),
            specs,
            sanitization: crate::reset::sanitization_record(&self.state_dir),
            scheduled_backup: crate::backup::runner::status(&self.store, units::now())?,
            update_keys: self.update_keys.clone(),
            failover: None,
            certificates_expiring: Vec::new(),
        })
    }
}

/// VmRSS of this process.
fn own_rss() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

//! The pair's sync, primary → backup: the primary's service part (snapshot::export by
//! difference, never an extra) applied on the backup as one numbered generation
//! (snapshot::apply_with, all or nothing, the generation recorded in the same store
//! transaction). When: the initial sync [`SyncTiming::initial_delay`] after establish,
//! then each change of the service part (the store's signal, debounced), a full
//! comparison every [`SyncTiming::full_interval`], and Sync now. docs/failover.md "Sync".

use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use appliancectl::Method;
use serde::{Deserialize, Serialize};

use super::channel::{clause, lock, CallError};
use super::{Failover, FailoverError, PairRecord};
use crate::snapshot::{self, ApplyOptions, Extras, Manifest, SnapshotError};
use crate::store::Audit;
use api_types::{FailoverEvent, FailoverSync, SyncAnswer};
use pair::Role;

/// Changes closer together than this travel as one generation.
const DEBOUNCE: Duration = Duration::from_millis(200);
/// A failed sync is tried again after this (a change or Sync now try at once).
const RETRY: Duration = Duration::from_secs(5);
/// The manifest call (the backup hashes what it has not hashed yet).
const MANIFEST_TIMEOUT: Duration = Duration::from_secs(120);
/// The whole transfer of one generation.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(3600);
/// How long Become primary waits for the final sync it pulls from the old primary.
const PULL_TIMEOUT: Duration = Duration::from_secs(120);
/// The same when the last check found the old primary silent: it most likely is gone.
const PULL_TIMEOUT_SILENT: Duration = Duration::from_secs(1);
/// Pieces of the snapshot in flight between the export and the connection.
const CHUNK: usize = 64 * 1024;
const CHUNKS_IN_FLIGHT: usize = 8;
/// The header naming the generation a snapshot is.
pub(crate) const GENERATION_HEADER: &str = "x-sync-generation";

/// When syncs happen.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SyncTiming {
    /// After establish, before the first sync (the guide's "about 60 seconds").
    pub(crate) initial_delay: Duration,
    /// A full comparison this often even without a change.
    pub(crate) full_interval: Duration,
}

impl SyncTiming {
    pub(crate) const DEFAULT: SyncTiming = SyncTiming {
        initial_delay: Duration::from_secs(60),
        full_interval: Duration::from_secs(60),
    };

    /// The defaults, or in dev mode `APPLIANCE_FAILOVER_SYNC_DELAY_MS` and
    /// `APPLIANCE_FAILOVER_SYNC_FULL_MS` (tests shorten them).
    pub(crate) fn from_env(dev: bool) -> SyncTiming {
        Self::from_lookup(dev, |name| std::env::var(name).ok())
    }

    fn from_lookup(dev: bool, var: impl Fn(&str) -> Option<String>) -> SyncTiming {
        let mut timing = Self::DEFAULT;
        if dev {
            let ms = |name: &str| {
                var(name)
                    .and_then(|v| v.parse::<u64>().ok())
                    .map(Duration::from_millis)
            };
            if let Some(d) = ms("APPLIANCE_FAILOVER_SYNC_DELAY_MS") {
                timing.initial_delay = d;
            }
            if let Some(d) = ms("APPLIANCE_FAILOVER_SYNC_FULL_MS") {
                timing.full_interval = d;
            }
        }
        timing
    }
}

/// What the sync needs that the failover service is built before.
#[derive(Debug, Clone)]
pub(crate) struct SyncSetup {
    pub(crate) state_dir: PathBuf,
    pub(crate) profile: String,
    pub(crate) version: String,
    /// The services that take a replaced service part (on the backup).
    pub(crate) reload: snapshot::Reload,
    pub(crate) timing: SyncTiming,
}

/// Where a backup's synced settings are changed: its primary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ManagedBy {
    /// The primary's host name or address, as the backup reaches it.
    pub(crate) primary: String,
    /// The primary's admin interface, `https://<primary>[:port]/appliance`.
    pub(crate) url: String,
}

impl ManagedBy {
    /// The API's sentence (English).
    pub(crate) fn sentence(&self) -> String {
        format!(
            "This appliance is the backup of {}; change this on the primary: {}.",
            self.primary, self.url
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SyncError {
    #[error(
        "this appliance is not the primary of a failover pair; Sync now is done on the primary"
    )]
    NotPrimary,
    #[error("this appliance is not the backup of the caller")]
    NotBackup,
    #[error("the sync is not set up yet; try again in a moment")]
    NotReady,
    #[error("{0}")]
    Failover(#[from] FailoverError),
    #[error("the backup refused the sync: {0}")]
    Refused(String),
    #[error("the service part could not be read or applied: {0}")]
    Snapshot(#[from] SnapshotError),
    #[error("the sync did not finish: {0}")]
    Interrupted(String),
}

impl SyncError {
    pub(crate) fn code(&self) -> &'static str {
        match self {
            SyncError::NotPrimary => "not_primary",
            SyncError::NotBackup => "not_backup",
            SyncError::NotReady => "not_ready",
            SyncError::Failover(e) => e.code(),
            SyncError::Refused(_) => "peer_refused",
            SyncError::Snapshot(SnapshotError::Damaged(_)) => "snapshot_damaged",
            SyncError::Snapshot(_) => "sync_failed",
            SyncError::Interrupted(_) => "sync_interrupted",
        }
    }
}

/// The sync's part of the failover service.
#[derive(Debug, Default)]
pub(crate) struct SyncState {
    setup: OnceLock<SyncSetup>,
    /// One sync (primary) or one apply (backup) at a time.
    running: tokio::sync::Mutex<()>,
    status: Mutex<Status>,
}

#[derive(Debug, Default)]
struct Status {
    /// Unix seconds of the oldest change not applied on the backup yet.
    pending_since: Option<u64>,
    last_checked: Option<u64>,
    last_error: Option<FailoverEvent>,
    last_failure: Option<Instant>,
    /// The last sync that succeeded (from the loop or Sync now): the full comparison
    /// counts from it.
    last_done: Option<Instant>,
}

/// `POST /api/v1/peer/sync/manifest`'s answer: what the backup holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct PeerManifest {
    /// The generation in force on the backup.
    pub(crate) generation: u64,
    pub(crate) manifest: Manifest,
}

/// `POST /api/v1/peer/sync`'s answer.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct PeerSynced {
    pub(crate) generation: u64,
    /// False when that generation was already in force (nothing changed).
    pub(crate) applied: bool,
}

/// One sync's outcome on the primary.
struct Synced {
    generation: u64,
    changed: bool,
    bytes_sent: u64,
}

impl Failover {
    /// At start, once the services the sync needs exist.
    pub(crate) fn set_sync(&self, setup: SyncSetup) {
        let _ = self.sync.setup.set(setup);
    }

    fn setup(&self) -> Result<&SyncSetup, SyncError> {
        self.sync.setup.get().ok_or(SyncError::NotReady)
    }

    /// The sync's part of `GET /api/v1/failover`.
    pub(super) fn sync_view(&self, record: &PairRecord) -> FailoverSync {
        let status = lock(&self.sync.status);
        let timing = self
            .sync
            .setup
            .get()
            .map_or(SyncTiming::DEFAULT, |s| s.timing);
        let initial_done = initial_done(record);
        let now = units::now();
        FailoverSync {
            initial_done,
            initial_due: match (&record.peer, record.state.role) {
                (Some(peer), Role::Primary) if !initial_done => {
                    Some(peer.since + timing.initial_delay.as_secs())
                }
                _ => None,
            },
            lag_seconds: if record.state.role == Role::Primary {
                status.pending_since.map_or(0, |t| now.saturating_sub(t))
            } else {
                0
            },
            last_checked: status.last_checked,
            last_error: status.last_error.clone(),
        }
    }

    /// While this appliance is the backup of a pair: its primary.
    fn primary_of_backup(&self) -> Option<super::record::PeerRecord> {
        let record = self.record().ok()?;
        match (record.state.role, record.peer) {
            (Role::Backup, Some(peer)) => Some(peer),
            _ => None,
        }
    }

    /// While this appliance is the backup of a pair: its primary's address (the scheduled
    /// backups are the primary's to make).
    pub(crate) fn primary_host(&self) -> Option<String> {
        self.primary_of_backup().map(|peer| peer.host)
    }

    /// While this appliance is a backup: where synced settings are changed (the primary
    /// and its admin interface's address).
    pub(crate) fn managed_by(&self) -> Option<ManagedBy> {
        let peer = self.primary_of_backup()?;
        let host = if peer.host.contains(':') {
            format!("[{}]", peer.host)
        } else {
            peer.host.clone()
        };
        let url = if peer.port == 443 {
            format!("https://{host}/appliance")
        } else {
            format!("https://{host}:{}/appliance", peer.port)
        };
        Some(ManagedBy {
            primary: peer.host,
            url,
        })
    }

    /// While this appliance is a backup: the sentence saying where synced settings are
    /// changed, "This appliance is the backup of <primary>; change this on the primary:
    /// https://<primary>/appliance." (`409 managed_by_primary`; the pages say it in their
    /// language from [`Failover::managed_by`]).
    pub(crate) fn managed_by_primary(&self) -> Option<String> {
        self.managed_by().map(|m| m.sentence())
    }

    /// `POST /api/v1/failover/sync` (Sync now): a sync at once, answered when the
    /// backup has applied it (or already held the same service part).
    pub(crate) async fn sync_now(&self) -> Result<SyncAnswer, SyncError> {
        let synced = self.sync_once(true).await?;
        Ok(SyncAnswer {
            generation: synced.generation,
            changed: synced.changed,
            bytes_sent: synced.bytes_sent,
            failover: self.view()?,
        })
    }

    /// On the primary, for as long as the daemon runs: the initial sync, each change
    /// (debounced), the full comparison, retries after a failure.
    pub(crate) async fn sync_loop(self: Arc<Self>) {
        let mut changes = self.store.service_changes();
        loop {
            let changed = matches!(
                tokio::time::timeout(Duration::from_secs(1), changes.changed()).await,
                Ok(Ok(()))
            );
            if changed {
                lock(&self.sync.status)
                    .pending_since
                    .get_or_insert_with(units::now);
                tokio::time::sleep(DEBOUNCE).await;
                changes.borrow_and_update();
            }
            let Ok(setup) = self.setup() else { continue };
            let Ok(record) = self.record() else { continue };
            let Some(peer) = record
                .peer
                .as_ref()
                .filter(|_| record.state.role == Role::Primary)
            else {
                lock(&self.sync.status).pending_since = None;
                continue;
            };
            let due = if initial_done(&record) {
                let status = lock(&self.sync.status);
                let retry_ok = status.last_failure.is_none_or(|t| t.elapsed() >= RETRY);
                let full_due = status
                    .last_done
                    .is_none_or(|t| t.elapsed() >= setup.timing.full_interval);
                changed || ((status.pending_since.is_some() || full_due) && retry_ok)
            } else {
                now_millis() >= peer.since * 1000 + setup.timing.initial_delay.as_millis() as u64
                    && lock(&self.sync.status)
                        .last_failure
                        .is_none_or(|t| t.elapsed() >= RETRY)
            };
            if !due {
                continue;
            }
            if let Err(err) = self.sync_once(false).await {
                tracing::warn!("failover: sync: {err}");
            }
        }
    }

    /// One sync: what the backup holds, compared; the difference sent as the next
    /// generation when they differ.
    async fn sync_once(&self, forced: bool) -> Result<Synced, SyncError> {
        let _running = self.sync.running.lock().await;
        let started = units::now();
        let changes = self.store.service_changes();
        let count = *changes.borrow();
        let result = self.sync_locked().await;
        let mut status = lock(&self.sync.status);
        match &result {
            Ok(_) => {
                status.last_error = None;
                status.last_failure = None;
                status.last_checked = Some(units::now());
                status.last_done = Some(Instant::now());
                // Changes made while this sync ran are still to be sent (counted by the
                // store, not by the clock's seconds).
                status.pending_since = (*changes.borrow() != count).then_some(started);
            }
            Err(err) => {
                status.last_error = Some(FailoverEvent {
                    at: units::now(),
                    message: format!("{err}"),
                });
                status.last_failure = Some(Instant::now());
                if !forced {
                    status.pending_since.get_or_insert(started);
                }
            }
        }
        result
    }

    async fn sync_locked(&self) -> Result<Synced, SyncError> {
        let setup = self.setup()?.clone();
        let record = self.record()?;
        let peer = match (&record.peer, record.state.role) {
            (Some(peer), Role::Primary) => peer.clone(),
            _ => return Err(SyncError::NotPrimary),
        };
        let refused = |e: CallError| match e {
            CallError::Transport(e) => SyncError::Failover(e),
            CallError::Refused { message, .. } => SyncError::Refused(clause(&message)),
        };
        let client = self.peer_client(&peer, MANIFEST_TIMEOUT)?;
        let (theirs, _) = Self::call::<PeerManifest>(
            &client,
            Method::POST,
            "/api/v1/peer/sync/manifest",
            Some(&serde_json::json!({})),
        )
        .await
        .map_err(refused)?;
        let store = self.store.clone();
        let dir = setup.state_dir.clone();
        let ours = tokio::task::spawn_blocking(move || snapshot::manifest(&store, &dir))
            .await
            .map_err(|e| SyncError::Interrupted(e.to_string()))??;
        if ours == theirs.manifest && theirs.generation > 0 {
            return Ok(Synced {
                generation: theirs.generation,
                changed: false,
                bytes_sent: 0,
            });
        }
        let generation = record
            .generation
            .max(theirs.generation)
            .checked_add(1)
            .ok_or_else(|| {
                SyncError::Refused(format!(
                    "it names generation {}, past the last one there can be",
                    theirs.generation
                ))
            })?;

        // The export writes into a bounded channel; the connection sends what comes.
        let (tx, rx) =
            tokio::sync::mpsc::channel::<Result<bytes::Bytes, std::io::Error>>(CHUNKS_IN_FLIGHT);
        let store = self.store.clone();
        let base = theirs.manifest;
        let export = tokio::task::spawn_blocking(move || {
            let mut out = ChannelWriter::new(tx);
            let exported = snapshot::export_with(
                &store,
                &setup.state_dir,
                &setup.profile,
                &setup.version,
                Extras::NONE,
                Some(&base),
                &mut out,
            );
            if let Err(e) = &exported {
                // The backup must not take a snapshot cut short for a whole one: the stream
                // ends in an error, not quietly.
                out.fail(e.to_string());
            }
            exported.map(|_| out.sent)
        });
        let body = axum::body::Body::from_stream(futures::stream::unfold(rx, |mut rx| async {
            rx.recv().await.map(|item| (item, rx))
        }));
        let mut client = self.peer_client(&peer, TRANSFER_TIMEOUT)?;
        client.set_timeout(TRANSFER_TIMEOUT);
        let generation_text = generation.to_string();
        let response = client
            .send_stream(
                Method::POST,
                "/api/v1/peer/sync",
                &[
                    ("content-type", "application/x-tar"),
                    (GENERATION_HEADER, generation_text.as_str()),
                ],
                body,
            )
            .await;
        let sent = export
            .await
            .map_err(|e| SyncError::Interrupted(e.to_string()))?;
        let response = response.map_err(|e| {
            SyncError::Failover(FailoverError::Unreachable {
                endpoint: client.endpoint().to_string(),
                detail: e.to_string(),
            })
        })?;
        let bytes_sent = sent?;
        if !response.status.is_success() {
            let message = serde_json::from_slice::<api_types::ErrorBody>(&response.body)
                .map_or_else(|_| format!("HTTP {}", response.status), |e| e.message);
            return Err(SyncError::Refused(clause(&message)));
        }
        let answer: PeerSynced = response
            .json()
            .map_err(|e| SyncError::Interrupted(e.to_string()))?;
        let detail = format!(
            "generation {} of the service part applied on the backup {} ({} bytes of files sent)",
            answer.generation, peer.appliance_id, bytes_sent
        );
        let applied = answer.generation;
        self.store
            .change_async(Audit::system("failover.sync", detail), move |tx| {
                let mut record: PairRecord = tx.get()?;
                record.generation = applied;
                record.last_sync = Some(units::now());
                tx.put(&record)
            })
            .await
            .map_err(FailoverError::from)?;
        tracing::info!(
            generation = applied,
            bytes_sent,
            "failover: sync applied on the backup"
        );
        Ok(Synced {
            generation: applied,
            changed: answer.applied,
            bytes_sent,
        })
    }

    /// `POST /api/v1/peer/sync/manifest`, on the backup: what it holds.
    pub(crate) async fn answer_manifest(
        &self,
        client: [u8; 32],
    ) -> Result<PeerManifest, SyncError> {
        let (record, _) = self.backup_of(client)?;
        let setup = self.setup()?;
        let store = self.store.clone();
        let dir = setup.state_dir.clone();
        let manifest = tokio::task::spawn_blocking(move || snapshot::manifest(&store, &dir))
            .await
            .map_err(|e| SyncError::Interrupted(e.to_string()))??;
        Ok(PeerManifest {
            generation: record.generation,
            manifest,
        })
    }

    /// `POST /api/v1/peer/sync`, on the backup: generation `generation` read from `input`
    /// and applied as one step, recorded with it; a generation already in force changes
    /// nothing. The services then take the new service part.
    pub(crate) async fn answer_sync(
        &self,
        client: [u8; 32],
        generation: u64,
        input: impl std::io::Read + Send + 'static,
    ) -> Result<PeerSynced, SyncError> {
        let _running = self.sync.running.lock().await;
        let (record, peer) = self.backup_of(client)?;
        if generation <= record.generation {
            return Ok(PeerSynced {
                generation: record.generation,
                applied: false,
            });
        }
        let setup = self.setup()?.clone();
        let store = self.store.clone();
        let pin = peer.pin.clone();
        let detail = format!(
            "generation {generation} of the service part from the primary {} applied",
            peer.appliance_id
        );
        let address = peer.host.parse().ok();
        let state_dir = setup.state_dir.clone();
        let applied = tokio::task::spawn_blocking(move || {
            let options = ApplyOptions {
                accept: Extras::NONE,
                kept: true,
            };
            snapshot::apply_with(
                &store,
                &state_dir,
                input,
                Audit::user("peer", address, "failover.sync", detail),
                options,
                |tx| {
                    let mut record: PairRecord = tx.get()?;
                    // Still this primary's backup, and not already past this generation
                    // (checked again inside the transaction).
                    if record.state.role != Role::Backup
                        || record.peer.as_ref().map(|p| &p.pin) != Some(&pin)
                        || record.generation >= generation
                    {
                        return Err(crate::store::Error::Cancelled);
                    }
                    record.generation = generation;
                    record.last_sync = Some(units::now());
                    tx.put(&record)
                },
            )
        })
        .await
        .map_err(|e| SyncError::Interrupted(e.to_string()))?;
        let applied = match applied {
            Ok(applied) => applied,
            Err(SnapshotError::Store(crate::store::Error::Cancelled)) => {
                let record = self.record()?;
                return Ok(PeerSynced {
                    generation: record.generation,
                    applied: false,
                });
            }
            Err(e) => {
                tracing::warn!("failover: generation {generation} refused: {e}");
                return Err(e.into());
            }
        };
        tracing::info!(
            generation,
            id = %applied.header.id,
            "failover: the primary's service part is in force"
        );
        let reloaded = setup.reload.run(false).await;
        for failed in &reloaded.not_reloaded {
            tracing::warn!("failover: after the sync, {failed}");
        }
        // The site packages' record follows the site directory the sync replaced.
        let updater = Arc::clone(&self.updater);
        let _ = tokio::task::spawn_blocking(move || updater.sites_after_sync()).await;
        Ok(PeerSynced {
            generation,
            applied: true,
        })
    }

    /// `POST /api/v1/peer/sync/pull`, on the primary: its backup, about to become primary
    /// with a final sync pulled, asks for one now; answered once the backup has applied it
    /// (or already held the same service part).
    pub(crate) async fn answer_pull(&self, client: [u8; 32]) -> Result<PeerSynced, SyncError> {
        let (record, peer) = self.peer_of(client)?;
        if record.state.role != Role::Primary {
            return Err(SyncError::NotPrimary);
        }
        tracing::info!(
            backup = %peer.appliance_id,
            "failover: the backup pulls a final sync before it becomes primary"
        );
        let synced = self.sync_once(true).await?;
        Ok(PeerSynced {
            generation: synced.generation,
            applied: synced.changed,
        })
    }

    /// Become primary's `pull`, on the backup: ask the old primary for a final sync (its
    /// Sync now towards this appliance, applied here before it answers). The sentence
    /// says what came of it; nothing is refused for it.
    pub(super) async fn pull_final_sync(&self, peer: &super::record::PeerRecord) -> String {
        let timeout =
            if self.reachable.load(std::sync::atomic::Ordering::Relaxed) == super::REACH_NO {
                PULL_TIMEOUT_SILENT
            } else {
                PULL_TIMEOUT
            };
        let answer = match self.peer_client(peer, timeout) {
            Ok(client) => {
                Self::call::<PeerSynced>(
                    &client,
                    Method::POST,
                    "/api/v1/peer/sync/pull",
                    Some(&serde_json::json!({})),
                )
                .await
            }
            Err(e) => Err(CallError::Transport(e)),
        };
        match answer {
            Ok((synced, _)) if synced.applied => format!(
                "generation {} pulled from the old primary and applied",
                synced.generation
            ),
            Ok((synced, _)) => format!(
                "the old primary had nothing newer: this appliance already held its service \
                 part (generation {})",
                synced.generation
            ),
            Err(CallError::Refused { message, .. }) => format!(
                "no final sync could be pulled: the old primary refused ({})",
                clause(&message)
            ),
            Err(CallError::Transport(e)) => {
                format!("no final sync could be pulled: the old primary did not answer ({e})")
            }
        }
    }

    /// The caller is the primary of this backup.
    fn backup_of(
        &self,
        client: [u8; 32],
    ) -> Result<(PairRecord, super::record::PeerRecord), SyncError> {
        let (record, peer) = self.peer_of(client)?;
        if record.state.role != Role::Backup {
            return Err(SyncError::NotBackup);
        }
        Ok((record, peer))
    }
}

fn now_millis() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// A first complete sync with the current peer happened.
pub(crate) fn initial_done(record: &PairRecord) -> bool {
    match (&record.peer, record.last_sync) {
        (Some(peer), Some(at)) => at >= peer.since,
        _ => false,
    }
}

/// The export's writer: pieces of [`CHUNK`] bytes into a bounded channel (the export
/// waits while the connection is behind).
struct ChannelWriter {
    tx: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>,
    buf: Vec<u8>,
    /// Bytes written in all.
    sent: u64,
}

impl ChannelWriter {
    fn new(tx: tokio::sync::mpsc::Sender<Result<bytes::Bytes, std::io::Error>>) -> Self {
        ChannelWriter {
            tx,
            buf: Vec::with_capacity(CHUNK),
            sent: 0,
        }
    }

    fn push(&mut self) -> std::io::Result<()> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let chunk = bytes::Bytes::from(std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK)));
        self.tx.blocking_send(Ok(chunk)).map_err(|_| {
            std::io::Error::new(
                std::io::ErrorKind::BrokenPipe,
                "the connection to the backup closed",
            )
        })
    }

    fn fail(&mut self, why: String) {
        let _ = self.tx.blocking_send(Err(std::io::Error::other(why)));
    }
}

impl std::io::Write for ChannelWriter {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        self.sent += n as u64;
        if self.buf.len() == CHUNK {
            self.push()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.push()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_timing_is_shortened_only_in_dev_mode() {
        let var =
            |name: &str| (name == "APPLIANCE_FAILOVER_SYNC_DELAY_MS").then(|| "1500".to_string());
        let dev = SyncTiming::from_lookup(true, var);
        assert_eq!(dev.initial_delay, Duration::from_millis(1500));
        assert_eq!(dev.full_interval, SyncTiming::DEFAULT.full_interval);
        let appliance = SyncTiming::from_lookup(false, var);
        assert_eq!(appliance.initial_delay, Duration::from_secs(60));
    }

    #[test]
    fn the_initial_sync_counts_only_with_the_current_peer() {
        let mut record = PairRecord::default();
        assert!(!initial_done(&record));
        record.peer = Some(super::super::record::PeerRecord {
            since: 1_000,
            ..Default::default()
        });
        record.last_sync = Some(999);
        assert!(!initial_done(&record), "a sync of a former pair");
        record.last_sync = Some(1_000);
        assert!(initial_done(&record));
    }

    #[test]
    fn the_export_writer_sends_bounded_pieces_and_fails_when_the_connection_is_gone() {
        use std::io::Write;
        let (tx, mut rx) = tokio::sync::mpsc::channel(CHUNKS_IN_FLIGHT);
        let mut out = ChannelWriter::new(tx);
        out.write_all(&vec![7u8; CHUNK * 2 + 10]).unwrap();
        out.flush().unwrap();
        let mut sizes = Vec::new();
        while let Ok(Ok(chunk)) = rx.try_recv() {
            sizes.push(chunk.len());
        }
        assert_eq!(sizes, vec![CHUNK, CHUNK, 10]);
        assert_eq!(out.sent, (CHUNK * 2 + 10) as u64);
        drop(rx);
        let err = out.write_all(&vec![1u8; CHUNK]).unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
    }
}

//! The scheduled backups service: the schedule as the API sets and shows it, the task
//! that runs it ([`Scheduler::run_loop`], started with the daemon), "run now", and the
//! kept backups. One backup at a time: a run asked for while one is under way is refused,
//! a scheduled one waits its turn.
//!
//! A run: the backup made with the stored password (crate::backup::make), moved into the
//! kept backups and the oldest beyond the retention count removed
//! ([`super::stored::keep`]), then pushed to the destination if one is set. Its result is
//! the `backup_runs` record (shown on Status) and an audit entry, `backup.scheduled`, with
//! `backup.push_failed` beside it when the push failed (the copy on data stays).
//!
//! While this appliance is the backup of a failover pair, a scheduled run is skipped and
//! recorded so ([`BackupOf`]): the schedule is synced from the primary, which makes them.
//! Run now still makes one.

use serde::Serialize;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::push::{self, ClientKey};
use super::schedule::{decide, Change, Decision, Destination, HttpAuth, Run, Runs, Schedule};
use super::stored::{self, Stored};
use crate::store::{Audit, Store};

/// The longest the task sleeps before it reads the clock again: a clock set forward past
/// a due time is noticed within this.
const NAP: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub(crate) enum ScheduleError {
    #[error("{0}")]
    Invalid(String),
    #[error("a backup is being made already; ask again when it has finished")]
    Busy,
    #[error("no backup password is set: set the schedule with a password first")]
    NoPassword,
    #[error("there is no kept backup named {0:?}")]
    NotFound(String),
    #[error("cannot read the kept backups: {0}")]
    Io(std::io::Error),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error("the backup task did not finish: {0}")]
    Task(String),
}

/// Who asked for a run.
#[derive(Debug, Clone)]
enum Trigger {
    Scheduled {
        slot: u64,
    },
    Manual {
        user: String,
        address: Option<IpAddr>,
    },
}

/// The primary's address while this appliance is the backup of a failover pair: its
/// scheduled backups are skipped then (the schedule is synced; the primary makes them).
pub(crate) struct BackupOf(pub(crate) Box<dyn Fn() -> Option<String> + Send + Sync>);

impl std::fmt::Debug for BackupOf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BackupOf")
    }
}

#[derive(Debug)]
pub(crate) struct Scheduler {
    /// Set once at start by the failover pair.
    pub(crate) backup_of: std::sync::OnceLock<BackupOf>,
    store: Store,
    state_dir: PathBuf,
    profile: String,
    version: String,
    running: tokio::sync::Mutex<()>,
    changed: tokio::sync::Notify,
}

/// `GET /api/v1/backup/schedule`: the schedule without its secrets.
#[derive(Debug, Serialize)]
pub(crate) struct View {
    pub(crate) enabled: bool,
    pub(crate) frequency: super::schedule::Frequency,
    pub(crate) weekday: Option<&'static str>,
    /// `HH:MM`, UTC.
    pub(crate) time: String,
    pub(crate) retention: u32,
    pub(crate) password_set: bool,
    pub(crate) destination: Option<DestinationView>,
    /// The line to add to an SFTP server's `authorized_keys` for this appliance.
    pub(crate) sftp_public_key: String,
    /// Unix seconds; `None` while disabled.
    pub(crate) next_run: Option<u64>,
    pub(crate) last: Option<Run>,
}

#[derive(Debug, Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub(crate) enum DestinationView {
    Https {
        url: String,
        auth: &'static str,
        user: Option<String>,
        token_set: bool,
        password_set: bool,
        pin_sha256: Option<String>,
    },
    Sftp {
        host: String,
        port: u16,
        user: String,
        directory: String,
        host_key: String,
    },
}

impl From<&Destination> for DestinationView {
    fn from(d: &Destination) -> Self {
        match d {
            Destination::Https(h) => DestinationView::Https {
                url: h.url.clone(),
                auth: match h.auth {
                    HttpAuth::None => "none",
                    HttpAuth::Bearer { .. } => "bearer",
                    HttpAuth::Basic { .. } => "basic",
                },
                user: match &h.auth {
                    HttpAuth::Basic { user, .. } => Some(user.clone()),
                    _ => None,
                },
                token_set: matches!(h.auth, HttpAuth::Bearer { .. }),
                password_set: matches!(h.auth, HttpAuth::Basic { .. }),
                pin_sha256: h.pin_sha256.clone(),
            },
            Destination::Sftp(s) => DestinationView::Sftp {
                host: s.host.clone(),
                port: s.port,
                user: s.user.clone(),
                directory: s.directory.clone(),
                host_key: s.host_key.clone(),
            },
        }
    }
}

/// Whether `e` comes of a write to a full data partition, wherever in the backup.
fn disk_full(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cause = Some(e);
    while let Some(err) = cause {
        if err
            .downcast_ref::<std::io::Error>()
            .is_some_and(stored::is_disk_full)
        {
            return true;
        }
        cause = err.source();
    }
    false
}

/// Scheduled backups on Status.
pub(crate) fn status(
    store: &Store,
    now: u64,
) -> Result<api_types::ScheduledBackup, crate::store::Error> {
    let schedule: Schedule = store.get()?;
    let runs: Runs = store.get()?;
    Ok(api_types::ScheduledBackup {
        enabled: schedule.enabled,
        next_run: next_run(&schedule, &runs, now),
        last: runs.last,
    })
}

fn next_run(schedule: &Schedule, runs: &Runs, now: u64) -> Option<u64> {
    schedule
        .enabled
        .then(|| match decide(schedule, runs.last_slot, now) {
            Decision::Run { .. } => now,
            Decision::WaitUntil(at) => at,
        })
}

impl Scheduler {
    pub(crate) fn new(store: Store, state_dir: &Path, profile: &str, version: &str) -> Self {
        Scheduler {
            backup_of: std::sync::OnceLock::new(),
            store,
            state_dir: state_dir.to_path_buf(),
            profile: profile.to_string(),
            version: version.to_string(),
            running: tokio::sync::Mutex::new(()),
            changed: tokio::sync::Notify::new(),
        }
    }

    /// The schedule as shown (the SSH key is made the first time).
    pub(crate) async fn view(&self) -> Result<View, ScheduleError> {
        let store = self.store.clone();
        let key = crate::store::blocking(move || ClientKey::load_or_create(&store)).await?;
        let schedule: Schedule = self.store.get()?;
        let runs: Runs = self.store.get()?;
        Ok(View {
            enabled: schedule.enabled,
            frequency: schedule.frequency,
            weekday: schedule.weekday.map(super::schedule::Weekday::name),
            time: schedule.time_of_day(),
            retention: schedule.retention,
            password_set: schedule.password.is_some(),
            destination: schedule.destination.as_ref().map(DestinationView::from),
            sftp_public_key: key.authorized_key().map_err(ScheduleError::Task)?,
            next_run: next_run(&schedule, &runs, units::now()),
            last: runs.last,
        })
    }

    /// Check and store a new schedule (audit `backup.schedule`); nothing is stored when
    /// any field is wrong.
    pub(crate) async fn set(
        &self,
        change: Change,
        user: &str,
        address: Option<IpAddr>,
    ) -> Result<View, ScheduleError> {
        let current: Schedule = self.store.get()?;
        let schedule = change
            .validate(&current, units::now())
            .map_err(ScheduleError::Invalid)?;
        let detail = match (&schedule.enabled, &schedule.destination) {
            (false, _) => "scheduled backups off".to_string(),
            (true, destination) => format!(
                "scheduled backups {} at {} UTC, {} kept{}",
                match schedule.weekday {
                    Some(day) => format!("every {}", day.name()),
                    None => "daily".to_string(),
                },
                schedule.time_of_day(),
                schedule.retention,
                destination
                    .as_ref()
                    .map(|d| format!(", pushed to {}", d.describe()))
                    .unwrap_or_default()
            ),
        };
        let audit = Audit::user(user, address, "backup.schedule", detail);
        self.store
            .change_async(audit, move |tx| tx.put(&schedule))
            .await?;
        self.changed.notify_one();
        self.view().await
    }

    /// Make a backup now, as the schedule would (refused while one is being made).
    pub(crate) async fn run_now(
        &self,
        user: &str,
        address: Option<IpAddr>,
    ) -> Result<Run, ScheduleError> {
        let _one = self.running.try_lock().map_err(|_| ScheduleError::Busy)?;
        let schedule: Schedule = self.store.get()?;
        if schedule.password.is_none() {
            return Err(ScheduleError::NoPassword);
        }
        let trigger = Trigger::Manual {
            user: user.to_string(),
            address,
        };
        Ok(self.execute(schedule, trigger).await)
    }

    /// The kept backups, newest first.
    pub(crate) fn stored(&self) -> Result<Vec<Stored>, ScheduleError> {
        stored::list(&self.state_dir).map_err(ScheduleError::Io)
    }

    /// The file of the kept backup `name`.
    pub(crate) fn stored_path(&self, name: &str) -> Result<PathBuf, ScheduleError> {
        stored::path_of(&self.state_dir, name)
            .ok_or_else(|| ScheduleError::NotFound(name.to_string()))
    }

    /// The task: sleeps until the next due time (waking at least every [`NAP`] to read the
    /// clock and the schedule again, so a restored or synced schedule is taken within it,
    /// and at once when the API changes the schedule), runs, and so on forever.
    pub(crate) async fn run_loop(self: Arc<Self>) {
        let mut served = None;
        loop {
            let wait = self.tick(&mut served).await;
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                () = self.changed.notified() => {}
            }
        }
    }

    /// One look at the schedule and the clock; how long to sleep after it.
    async fn tick(&self, served: &mut Option<u64>) -> Duration {
        let (schedule, runs) = match (self.store.get::<Schedule>(), self.store.get::<Runs>()) {
            (Ok(s), Ok(r)) => (s, r),
            (Err(e), _) | (_, Err(e)) => {
                tracing::error!("scheduled backups: cannot read the schedule: {e}");
                return NAP;
            }
        };
        if !schedule.enabled {
            return NAP;
        }
        let now = units::now();
        // What this task served, in case recording it failed.
        match decide(&schedule, runs.last_slot.max(*served), now) {
            Decision::WaitUntil(at) => {
                Duration::from_secs(at.saturating_sub(now).clamp(1, NAP.as_secs()))
            }
            Decision::Run { slot } => {
                *served = Some(slot);
                let _one = self.running.lock().await;
                if let Some(primary) = self.backup_of.get().and_then(|of| (of.0)()) {
                    let run = Run {
                        at: units::now(),
                        trigger: "scheduled".to_string(),
                        skipped: Some(format!(
                            "this appliance is the backup of {primary}; the primary makes the \
                             scheduled backups"
                        )),
                        ..Run::default()
                    };
                    self.record(&run, &Trigger::Scheduled { slot }).await;
                    return Duration::ZERO;
                }
                // Read again: a change may have come while a manual run held the lock.
                let schedule = self.store.get::<Schedule>().unwrap_or(schedule);
                self.execute(schedule, Trigger::Scheduled { slot }).await;
                Duration::ZERO
            }
        }
    }

    /// Make, keep, push and record one backup. Its failures are in the answer.
    async fn execute(&self, schedule: Schedule, trigger: Trigger) -> Run {
        let mut run = Run {
            trigger: match trigger {
                Trigger::Scheduled { .. } => "scheduled",
                Trigger::Manual { .. } => "manual",
            }
            .to_string(),
            destination: schedule.destination.as_ref().map(Destination::describe),
            ..Run::default()
        };
        match self.make_and_keep(&schedule).await {
            Ok((kept, removed)) => {
                run.file = Some(kept.name.clone());
                run.size = Some(kept.size);
                run.removed = removed;
                if let Some(destination) = &schedule.destination {
                    match self.push(destination, &kept.name).await {
                        Ok(()) => run.pushed = true,
                        Err(e) => run.push_error = Some(e),
                    }
                }
            }
            Err(e) => run.error = Some(e),
        }
        run.at = units::now();
        self.record(&run, &trigger).await;
        run
    }

    async fn make_and_keep(&self, schedule: &Schedule) -> Result<(Stored, Vec<String>), String> {
        let password = schedule
            .password
            .clone()
            .ok_or_else(|| ScheduleError::NoPassword.to_string())?;
        let (store, dir) = (self.store.clone(), self.state_dir.clone());
        let (profile, version) = (self.profile.clone(), self.version.clone());
        let retention = schedule.retention as usize;
        // Only when data is full: how many kept backups stay (read then, on the blocking pool).
        let full = |dir: &Path| {
            let kept = match stored::list(dir).map_or(0, |l| l.len()) {
                1 => "1 kept backup stays".to_string(),
                n => format!("{n} kept backups stay"),
            };
            format!(
                "the data partition is full: the backup could not be written and nothing was removed ({kept}); free space on data or lower the retention"
            )
        };
        let made = tokio::task::spawn_blocking(move || {
            let made = match super::make(&store, &dir, &profile, &version, &password) {
                Ok(made) => made,
                Err(e) if disk_full(&e) => return Err(full(&dir)),
                Err(e) => return Err(e.to_string()),
            };
            stored::keep(made, &dir, retention).map_err(|e| {
                if stored::is_disk_full(&e) {
                    full(&dir)
                } else {
                    format!("cannot keep the backup on data: {e}")
                }
            })
        })
        .await;
        made.unwrap_or_else(|e| Err(format!("the backup did not finish: {e}")))
    }

    async fn push(&self, destination: &Destination, name: &str) -> Result<(), String> {
        let store = self.store.clone();
        let key = crate::store::blocking(move || ClientKey::load_or_create(&store))
            .await
            .map_err(|e| e.to_string())?;
        let file = self.state_dir.join(stored::DIR).join(name);
        push::push(destination, &file, name, &key)
            .await
            .map_err(|e| e.to_string())
    }

    /// The run on Status, in the log and in the audit log.
    async fn record(&self, run: &Run, trigger: &Trigger) {
        let mut detail = match (&run.file, &run.error) {
            _ if run.skipped.is_some() => {
                format!("skipped: {}", run.skipped.as_deref().unwrap_or_default())
            }
            (Some(file), _) => format!(
                "backup {file} ({}) kept",
                units::bytes(run.size.unwrap_or(0))
            ),
            (None, Some(e)) => format!("backup failed: {e}"),
            (None, None) => "backup failed".to_string(),
        };
        if !run.removed.is_empty() {
            detail.push_str(&format!("; removed {}", run.removed.join(", ")));
        }
        match (&run.destination, run.pushed) {
            (Some(d), true) => detail.push_str(&format!("; pushed to {d}")),
            (Some(d), false) if run.file.is_some() => {
                detail.push_str(&format!("; not pushed to {d}"));
            }
            _ => {}
        }
        let (audit, slot) = match trigger {
            Trigger::Scheduled { slot } => {
                (Audit::system("backup.scheduled", &detail), Some(*slot))
            }
            Trigger::Manual { user, address } => (
                Audit::user(
                    user.as_str(),
                    *address,
                    "backup.scheduled",
                    format!("run now: {detail}"),
                ),
                None,
            ),
        };
        if run.error.is_some() || run.push_error.is_some() {
            tracing::error!("scheduled backup: {detail}");
        } else {
            tracing::info!("scheduled backup: {detail}");
        }
        let stored = run.clone();
        let recorded = self
            .store
            .change_async(audit, move |tx| {
                let mut runs: Runs = tx.get()?;
                if slot.is_some() {
                    runs.last_slot = slot;
                }
                runs.last = Some(stored);
                tx.put(&runs)
            })
            .await;
        if let Err(e) = recorded {
            tracing::error!("scheduled backup: cannot record the run: {e}");
        }
        if let Some(reason) = &run.push_error {
            let audit = Audit::system("backup.push_failed", reason.clone());
            if let Err(e) = self
                .store
                .change_async(audit, |_| Ok::<_, crate::store::Error>(()))
                .await
            {
                tracing::error!("scheduled backup: cannot record the failed push: {e}");
            }
        }
    }
}

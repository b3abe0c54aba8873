//! What the HTTP adapters (`api/`, `web/`) share: the running system's facts and one
//! handle on each domain service. Built once at start by [`crate::app`]; nothing here
//! knows about HTTP.

use std::path::PathBuf;
use std::sync::Arc;

use crate::auth::Auth;
use crate::backup::BackupService;
use crate::config::Mode;
use crate::status::StatusService;
use crate::store::Store;
use crate::system::shutdown::Shutdown;
use crate::system::SystemInfo;
use crate::time::TimeService;
use crate::tls::Certificates;
use crate::update::Updater;

#[derive(Debug)]
pub(crate) struct AppState {
    pub mode: Mode,
    pub system: SystemInfo,
    pub store: Store,
    /// Where persistent state lives (`/data`): downloads, the sanitization record.
    pub state_dir: PathBuf,
    pub auth: Arc<Auth>,
    /// The network manager.
    pub net: crate::net::Handle,
    /// Restart and power-off through init.
    pub shutdown: Shutdown,
    /// Status > Basics and Specs, gathered at most once a second.
    pub status: StatusService,
    /// The HTTPS certificate being served.
    pub tls: Arc<Certificates>,
    pub updater: Arc<Updater>,
    pub time: TimeService,
    /// Settings backups: make, restore and report.
    pub backup: BackupService,
    /// The failover pair.
    pub failover: Arc<crate::failover::Failover>,
    /// The persistent log (read side) and the support bundle's log part.
    pub logs: crate::logs::LogService,
    /// Syslog forwarding: the servers, their queues and links.
    pub forwarding: Arc<crate::logs::forward::Forwarder>,
    /// Scheduled backups: the schedule, its task, the kept backups.
    pub backup_schedule: Arc<crate::backup::runner::Scheduler>,
}

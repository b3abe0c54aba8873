//! What the HTTP adapters (`api/`, `web/`) share: the running system's facts and one
//! handle on each domain service. Built once at start by [`crate::app`]; nothing here
//! knows about HTTP.

use std::path::PathBuf;
use std::sync::Arc;

use crate::auth::Auth;
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
    pub auth: Auth,
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
    /// Scheduled backups: the schedule, its task, the kept backups.
    pub backups: Arc<crate::backup::runner::Scheduler>,
}

impl AppState {
    /// The service part was replaced underneath (a restore; next, the pair's sync): every
    /// service that keeps some of it in memory takes it again. Each failure is logged and
    /// named in the answer; the rest still reloads.
    pub(crate) async fn service_part_replaced(&self) -> Vec<String> {
        let mut failures = Vec::new();
        if let Err(e) = self.auth.settings_replaced() {
            tracing::error!("accounts after a restore: {e}");
            failures.push(format!("accounts and policy: {e}"));
        }
        if let Err(e) = self.tls.files_replaced().await {
            tracing::error!("certificate after a restore: {e}");
            failures.push(format!("certificate: {e}"));
        }
        if let Err(e) = self.time.settings_replaced().await {
            tracing::error!("time servers after a restore: {e}");
            failures.push(format!("time servers: {e}"));
        }
        self.backups.settings_replaced();
        failures
    }
}

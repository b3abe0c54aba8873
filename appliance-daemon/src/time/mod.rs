//! Time: the NTP servers (settings store), the time daemon's configuration and restart,
//! its synchronization state, and the last good time kept on data for machines whose
//! hardware clock cannot be trusted (docs/time.md).
//!
//! The time daemon is ntpd-rs's `ntp-daemon`, started and supervised by init (service
//! `ntpd` in `/etc/appliance/services`) with `-c /run/ntp.toml`. This module writes that
//! file, then stops the daemon so init starts it again with the new servers.

pub(crate) mod config;
pub(crate) mod observe;

use std::path::{Path, PathBuf};

use crate::config::Mode;
use crate::store::{Audit, Store};
pub(crate) use config::TimeConfig;
pub(crate) use observe::NtpState;

/// The service name in `/etc/appliance/services`.
pub(crate) const SERVICE: &str = "ntpd";

#[derive(Debug, Clone)]
pub(crate) struct TimeService {
    mode: Mode,
    store: Store,
    /// Where ntp.toml goes (dev mode: the state directory).
    toml: PathBuf,
    observe: PathBuf,
    /// The last good time, on data.
    saved: PathBuf,
}

/// `GET /api/v1/time`.
pub(crate) use api_types::Time as View;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ChangeError {
    /// The list is refused; every problem, by field.
    #[error("{}", problems_text(.0))]
    Invalid(Vec<config::Problem>),
    #[error(transparent)]
    Failed(#[from] TimeError),
}

/// The problems as one sentence.
pub(crate) fn problems_text(problems: &[config::Problem]) -> String {
    problems
        .iter()
        .map(|p| p.message.as_str())
        .collect::<Vec<_>>()
        .join("; ")
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum TimeError {
    #[error(transparent)]
    Store(#[from] crate::store::Error),
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
}

impl TimeService {
    pub(crate) fn new(mode: Mode, state_dir: &Path, store: Store) -> Self {
        let (toml, observe) = match mode {
            Mode::Appliance => (
                PathBuf::from(crate::paths::NTP_TOML),
                PathBuf::from(crate::paths::NTP_OBSERVE),
            ),
            Mode::Dev => (state_dir.join("ntp.toml"), state_dir.join("ntpd.observe")),
        };
        TimeService {
            mode,
            store,
            toml,
            observe,
            saved: state_dir.join(SAVED_CLOCK),
        }
    }

    /// Write the time daemon's configuration, which init waits for to start it: once the
    /// daemon serves (its health gate passed or failed), so that the time daemon's own
    /// start does not share the CPU with the daemon's (docs/time.md).
    pub(crate) fn start_time_daemon(&self) -> Result<(), TimeError> {
        let config: TimeConfig = self.store.get()?;
        self.write_config(&config)
    }

    /// Remember now as a good time (called while synchronized).
    pub(crate) fn save_good_time(&self) {
        let now = units::now().to_string();
        if let Err(err) = crate::tls::write_atomic(&self.saved, now.as_bytes(), 0o644) {
            tracing::warn!("cannot save the last good time: {err}");
        }
    }

    fn write_config(&self, config: &TimeConfig) -> Result<(), TimeError> {
        let text = config::ntp_toml(&config.servers, &self.observe.to_string_lossy());
        crate::tls::write_atomic(&self.toml, text.as_bytes(), 0o644).map_err(|source| {
            TimeError::Write {
                path: self.toml.display().to_string(),
                source,
            }
        })
    }

    /// The servers were replaced underneath (a restore, the pair's sync): rewrite the
    /// configuration and restart the time daemon with them.
    pub(crate) async fn settings_replaced(&self) -> Result<(), TimeError> {
        let config: TimeConfig = self.store.get()?;
        self.write_config(&config)?;
        if self.mode == Mode::Appliance {
            self.restart_daemon().await;
        }
        Ok(())
    }

    /// Check the requested servers as a whole, then keep them (audited) and restart the
    /// time daemon with them; a refused list changes nothing. The API and the Time page
    /// both come here.
    pub(crate) async fn change_servers(
        &self,
        requested: &[String],
        user: &str,
        address: Option<std::net::IpAddr>,
    ) -> Result<TimeConfig, ChangeError> {
        let servers = config::validate(requested).map_err(ChangeError::Invalid)?;
        let detail = if servers.is_empty() {
            "NTP off (no servers)".to_string()
        } else {
            format!("NTP servers {}", servers.join(", "))
        };
        Ok(self
            .set_servers(servers, Audit::user(user, address, "time.servers", detail))
            .await?)
    }

    /// Store servers already checked, rewrite the configuration and restart the time
    /// daemon.
    async fn set_servers(
        &self,
        servers: Vec<String>,
        audit: Audit,
    ) -> Result<TimeConfig, TimeError> {
        let config = TimeConfig { servers };
        let stored = config.clone();
        self.store
            .change_async(audit, move |tx| tx.put(&stored))
            .await?;
        self.write_config(&config)?;
        if self.mode == Mode::Appliance {
            self.restart_daemon().await;
        }
        Ok(config)
    }

    /// Stop the running time daemon; init starts it again with the new file.
    async fn restart_daemon(&self) {
        // Stopping it is the privileged part's (the time daemon runs as root).
        match tokio::task::spawn_blocking(crate::privileged::client::restart_time_service).await {
            Ok(Ok(())) => {}
            Ok(Err(err)) => tracing::warn!("cannot restart the time daemon: {err}"),
            Err(err) => tracing::warn!("restarting the time daemon did not finish: {err}"),
        }
    }

    pub(crate) async fn view(&self) -> Result<View, TimeError> {
        let config: TimeConfig = self.store.get()?;
        let clock = crate::system::specs::clock_now();
        let (state, daemon_error) = if self.mode == Mode::Dev {
            (
                NtpState::default(),
                Some("dev mode: no time daemon runs; the host's clock is left alone".to_string()),
            )
        } else {
            match observe::read(&self.observe).await {
                Ok(s) => (s, None),
                Err(e) => (NtpState::default(), Some(e.to_string())),
            }
        };
        Ok(View {
            servers: config.servers,
            synchronized: state.synchronized,
            stratum: state.stratum,
            server: state.server,
            offset_seconds: state.offset_seconds,
            last_sync: state.last_sync,
            time: clock.utc,
            kernel_synchronized: clock.kernel_synchronized,
            daemon_error,
            sources: state.sources,
        })
    }

    /// Every minute while running: keep the last good time when synchronized.
    pub(crate) async fn watch(self) {
        loop {
            tokio::time::sleep(std::time::Duration::from_secs(60)).await;
            if let Ok(state) = observe::read(&self.observe).await {
                if state.synchronized {
                    self.save_good_time();
                }
            }
        }
    }
}

/// The file in the state directory that holds the last good time.
pub(crate) const SAVED_CLOCK: &str = "clock";

/// At start, before anything reads the clock: move it forward to the last good time kept
/// in `saved` if it is behind it (the privileged part does it on the appliance, before
/// the service starts).
pub(crate) fn restore_clock(saved: &std::path::Path) {
    let Ok(text) = std::fs::read_to_string(saved) else {
        return;
    };
    let Ok(saved) = text.trim().parse::<i64>() else {
        return;
    };
    let now = units::now() as i64;
    if now < saved {
        let ts = nix::sys::time::TimeSpec::new(saved, 0);
        match nix::time::clock_settime(nix::time::ClockId::CLOCK_REALTIME, ts) {
            Ok(()) => tracing::warn!(
                "the clock was {} s behind the last good time; moved it forward until NTP synchronizes",
                saved - now
            ),
            Err(err) => tracing::error!("cannot set the clock to the last good time: {err}"),
        }
    }
}

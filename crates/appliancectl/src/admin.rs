//! Typed calls for what an administrator manages: network, time, updates, the HTTPS
//! certificate and the factory reset. Each answers the API's body as typed here; refusals
//! are [`Error::Api`] with the appliance's code, message and wrong fields.

use crate::api::{
    BackupRequest, Certificate, CertificateInstall, EstablishRequest, FactoryReset,
    FailoverKeyRequest, Installed, Logs, NetworkView, PeerAddress, ResetAccepted, ResetThen,
    RestoreReport, Time, TimeRequest, Updates,
};
use crate::upload::OnProgress;
use crate::{Client, Method, Response, Result};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

pub use crate::upload::UPLOAD_IDLE_TIMEOUT;

pub const NETWORK: &str = "/api/v1/network";
pub const NETWORK_CONFIRM: &str = "/api/v1/network/confirm";
pub const TIME: &str = "/api/v1/time";
pub const LOGS: &str = "/api/v1/logs";
pub const LOG_FORWARDING: &str = "/api/v1/logs/forwarding";
pub const SUPPORT_BUNDLE: &str = "/api/v1/support/bundle";
pub const UPDATES: &str = "/api/v1/updates";
pub const UPDATE_UPLOAD: &str = "/api/v1/updates/upload";
pub const TLS: &str = "/api/v1/tls";
pub const TLS_CERTIFICATE: &str = "/api/v1/tls/certificate";
pub const CERTIFICATES: &str = "/api/v1/certificates";
pub const CERTIFICATES_IMPORT: &str = "/api/v1/certificates/import";
pub const CERTIFICATES_REQUEST: &str = "/api/v1/certificates/request";
pub const CERTIFICATES_SETTINGS: &str = "/api/v1/certificates/settings";

/// `/api/v1/certificates/{id}/{action}` (`export`, `assign`), or the certificate itself
/// when `action` is empty.
pub fn certificate_path(id: &str, action: &str) -> String {
    let id: String = id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-')
        .collect();
    if action.is_empty() {
        format!("{CERTIFICATES}/{id}")
    } else {
        format!("{CERTIFICATES}/{id}/{action}")
    }
}
pub const FACTORY_RESET: &str = "/api/v1/system/factory-reset";
pub const FAILOVER: &str = "/api/v1/failover";
pub const FAILOVER_KEY: &str = "/api/v1/failover/key";
pub const FAILOVER_ESTABLISH: &str = "/api/v1/failover/establish";
pub const FAILOVER_BREAK: &str = "/api/v1/failover/break";
pub const FAILOVER_SYNC: &str = "/api/v1/failover/sync";
pub const FAILOVER_BECOME_PRIMARY: &str = "/api/v1/failover/become-primary";
pub const FAILOVER_AUTO: &str = "/api/v1/failover/auto";

/// The body of `PUT /api/v1/failover/key`: the key given, or a new one generated.
pub fn failover_key_body(key: Option<&str>) -> Value {
    json!(FailoverKeyRequest {
        key: key.map(str::to_string),
        generate: key.is_none(),
    })
}

/// The body of `POST /api/v1/failover/establish`.
pub fn establish_body(backup: &crate::Endpoint, reverse: &crate::Endpoint) -> Value {
    let address = |e: &crate::Endpoint| PeerAddress {
        host: e.host.clone(),
        port: e.port,
    };
    json!(EstablishRequest {
        backup: address(backup),
        reverse: address(reverse),
    })
}

pub const BACKUP: &str = "/api/v1/backup";
pub const BACKUP_RESTORE: &str = "/api/v1/backup/restore";

/// How long making a backup may take before its first byte arrives (the appliance
/// encrypts the settings and the site data before it sends anything).
pub const BACKUP_ANSWER_TIMEOUT: Duration = Duration::from_secs(3600);

/// The body of `POST /api/v1/failover/become-primary`.
pub fn become_primary_body(pull: bool) -> Value {
    json!(crate::api::BecomePrimaryRequest { pull })
}

/// The body of `PUT /api/v1/failover/auto`.
pub fn auto_failover_body(enabled: bool, missed_checks: Option<u32>) -> Value {
    json!(crate::api::AutoFailoverRequest {
        enabled,
        missed_checks,
    })
}

/// The body of `PUT /api/v1/time`.
pub fn time_body(servers: &[String]) -> Value {
    json!(TimeRequest {
        servers: servers.to_vec(),
    })
}

/// The body of `PUT /api/v1/tls/certificate`.
pub fn certificate_body(certificate_pem: &str, key_pem: &str) -> Value {
    json!(CertificateInstall {
        certificate: certificate_pem.to_string(),
        key: key_pem.to_string(),
    })
}

/// The body of `POST /api/v1/backup`.
pub fn backup_body(password: &str, include_history: bool) -> Value {
    json!(BackupRequest {
        password: password.to_string(),
        include_history,
    })
}

/// The body of `POST /api/v1/system/factory-reset`: the confirmation word and what follows.
pub fn factory_reset_body(then: ResetThen) -> Value {
    json!(FactoryReset {
        confirm: Some("factory-reset".to_string()),
        then: Some(then.as_str().to_string()),
    })
}

impl Client {
    /// `GET /api/v1/network`.
    pub async fn network(&self) -> Result<NetworkView> {
        self.call(Method::GET, NETWORK, None).await?.json()
    }

    /// `PUT /api/v1/network` with the settings as JSON; the state afterwards (`pending`
    /// set when the change reverts unless confirmed).
    pub async fn set_network(&self, settings: &Value) -> Result<NetworkView> {
        self.call(Method::PUT, NETWORK, Some(settings))
            .await?
            .json()
    }

    /// `POST /api/v1/network/confirm`: keep the change waiting for confirmation.
    pub async fn confirm_network(&self) -> Result<NetworkView> {
        self.call(Method::POST, NETWORK_CONFIRM, None).await?.json()
    }

    /// `GET /api/v1/time`.
    pub async fn time(&self) -> Result<Time> {
        self.call(Method::GET, TIME, None).await?.json()
    }

    /// `PUT /api/v1/time`: the NTP servers (an empty list turns NTP off).
    pub async fn set_time_servers(&self, servers: &[String]) -> Result<Time> {
        self.call(Method::PUT, TIME, Some(&time_body(servers)))
            .await?
            .json()
    }

    /// `GET /api/v1/updates`.
    pub async fn updates(&self) -> Result<Updates> {
        self.call(Method::GET, UPDATES, None).await?.json()
    }

    /// `POST /api/v1/updates/upload` with the package file, streamed; `on_progress` hears
    /// the bytes sent. The answer's status is not checked (see [`Client::upload_update`]).
    pub async fn send_update(&self, package: &Path, on_progress: OnProgress) -> Result<Response> {
        self.send_file(
            Method::POST,
            UPDATE_UPLOAD,
            &[
                ("accept", "application/json"),
                ("content-type", "application/octet-stream"),
            ],
            package,
            on_progress,
        )
        .await
    }

    /// `POST /api/v1/backup`: a backup made with `password` (and the logged history when
    /// `include_history`), written as it arrives into the writer `open` makes from the
    /// answer's headers ([`crate::download::attachment_name`] gives the appliance's name
    /// for the file). The writer and the bytes written come back.
    pub async fn backup_to<W: std::io::Write>(
        &self,
        password: &str,
        include_history: bool,
        open: impl FnOnce(&hyper::HeaderMap) -> std::io::Result<W>,
    ) -> Result<(W, u64)> {
        let limits = crate::Download {
            max_bytes: u64::MAX,
            answer_timeout: BACKUP_ANSWER_TIMEOUT.max(self.timeout()),
            idle_timeout: UPLOAD_IDLE_TIMEOUT.max(self.timeout()),
        };
        self.download_to(
            Method::POST,
            BACKUP,
            Some(&backup_body(password, include_history)),
            &limits,
            open,
        )
        .await
    }

    /// `GET /api/v1/logs` with `query` (`service=…&boot=…&before=…`, already encoded):
    /// a page of the persistent log, newest first.
    pub async fn logs(&self, query: &str) -> Result<Logs> {
        let path = if query.is_empty() {
            LOGS.to_string()
        } else {
            format!("{LOGS}?{query}")
        };
        self.call(Method::GET, &path, None).await?.json()
    }

    /// `GET /api/v1/support/bundle`, written as it arrives into the writer `open` makes
    /// from the answer's headers (as [`Client::backup_to`]).
    pub async fn support_bundle_to<W: std::io::Write>(
        &self,
        open: impl FnOnce(&hyper::HeaderMap) -> std::io::Result<W>,
    ) -> Result<(W, u64)> {
        let limits = crate::Download {
            max_bytes: u64::MAX,
            answer_timeout: BACKUP_ANSWER_TIMEOUT.max(self.timeout()),
            idle_timeout: UPLOAD_IDLE_TIMEOUT.max(self.timeout()),
        };
        self.download_to(Method::GET, SUPPORT_BUNDLE, None, &limits, open)
            .await
    }

    /// `POST /api/v1/backup/restore` with the backup file, streamed, and its password;
    /// `on_progress` hears the bytes sent. The answer's status is not checked.
    pub async fn send_restore(
        &self,
        backup: &Path,
        password: &str,
        on_progress: OnProgress,
    ) -> Result<Response> {
        self.send_file(
            Method::POST,
            BACKUP_RESTORE,
            &[
                ("accept", "application/json"),
                ("content-type", "application/octet-stream"),
                ("x-password", password),
            ],
            backup,
            on_progress,
        )
        .await
    }

    /// Restore a backup file made with `password`: what the appliance restored, left out
    /// and why (see [`RestoreReport`]).
    pub async fn restore_backup(
        &self,
        backup: &Path,
        password: &str,
        on_progress: OnProgress,
    ) -> Result<RestoreReport> {
        self.send_restore(backup, password, on_progress)
            .await?
            .error_for_status()?
            .json()
    }

    /// Install a package file (manual update): streamed, verified and written by the
    /// appliance; the new version starts at the next restart.
    pub async fn upload_update(
        &self,
        package: &Path,
        on_progress: OnProgress,
    ) -> Result<Installed> {
        self.send_update(package, on_progress)
            .await?
            .error_for_status()?
            .json()
    }

    /// `GET /api/v1/tls`: which certificate is served.
    pub async fn certificate(&self) -> Result<Certificate> {
        self.call(Method::GET, TLS, None).await?.json()
    }

    /// `PUT /api/v1/tls/certificate`: serve this certificate (PEM, leaf first) and key.
    pub async fn install_certificate(
        &self,
        certificate_pem: &str,
        key_pem: &str,
    ) -> Result<Certificate> {
        let body = certificate_body(certificate_pem, key_pem);
        self.call(Method::PUT, TLS_CERTIFICATE, Some(&body))
            .await?
            .json()
    }

    /// `DELETE /api/v1/tls/certificate`: back to a self-signed certificate.
    pub async fn self_signed_certificate(&self) -> Result<Certificate> {
        self.call(Method::DELETE, TLS_CERTIFICATE, None)
            .await?
            .json()
    }

    /// `POST /api/v1/system/factory-reset`: erase the appliance at the restart that follows.
    pub async fn factory_reset(&self, then: ResetThen) -> Result<ResetAccepted> {
        self.call(Method::POST, FACTORY_RESET, Some(&factory_reset_body(then)))
            .await?
            .json()
    }
}

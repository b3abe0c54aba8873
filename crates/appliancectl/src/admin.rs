//! Typed calls for what an administrator manages: network, time, updates, the HTTPS
//! certificate and the factory reset. Each answers the API's body as typed here; refusals
//! are [`Error::Api`] with the appliance's code, message and wrong fields.

use crate::api::{
    Certificate, CertificateInstall, EstablishRequest, FactoryReset, FailoverKeyRequest, Installed,
    NetworkView, PeerAddress, ResetAccepted, ResetThen, Time, TimeRequest, Updates,
};
use crate::client::{Activity, Limit};
use crate::upload::{FileBody, OnProgress};
use crate::{Client, Error, Method, Response, Result};
use hyper::header::{CONTENT_LENGTH, CONTENT_TYPE};
use serde_json::{json, Value};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

/// How long an upload may go without sending a byte or, once sent, without an answer
/// (the appliance verifies and commits the last part after the last byte).
pub const UPLOAD_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

pub const NETWORK: &str = "/api/v1/network";
pub const NETWORK_CONFIRM: &str = "/api/v1/network/confirm";
pub const TIME: &str = "/api/v1/time";
pub const UPDATES: &str = "/api/v1/updates";
pub const UPDATE_UPLOAD: &str = "/api/v1/updates/upload";
pub const TLS: &str = "/api/v1/tls";
pub const TLS_CERTIFICATE: &str = "/api/v1/tls/certificate";
pub const FACTORY_RESET: &str = "/api/v1/system/factory-reset";
pub const FAILOVER: &str = "/api/v1/failover";
pub const FAILOVER_KEY: &str = "/api/v1/failover/key";
pub const FAILOVER_ESTABLISH: &str = "/api/v1/failover/establish";
pub const FAILOVER_BREAK: &str = "/api/v1/failover/break";
pub const FAILOVER_SYNC: &str = "/api/v1/failover/sync";

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
        let file_error = |source| Error::File {
            path: package.to_path_buf(),
            source,
        };
        let file = tokio::fs::File::open(package).await.map_err(file_error)?;
        let total = file.metadata().await.map_err(file_error)?.len();
        let activity = Arc::new(Activity::new());
        let body = FileBody::new(file, total, Arc::clone(&activity), on_progress);
        let request = self
            .request_builder(&Method::POST, UPDATE_UPLOAD)?
            .header(CONTENT_TYPE, "application/octet-stream")
            .header(CONTENT_LENGTH, total)
            .body(body)
            .map_err(|e| Error::Request {
                method: Method::POST.to_string(),
                path: UPDATE_UPLOAD.to_string(),
                reason: e.to_string(),
            })?;
        let idle = UPLOAD_IDLE_TIMEOUT.max(self.timeout());
        self.exchange(
            Method::POST,
            UPDATE_UPLOAD,
            request,
            Limit::Idle(idle, activity),
        )
        .await
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

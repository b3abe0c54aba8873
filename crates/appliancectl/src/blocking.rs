//! A synchronous [`Client`](crate::Client): the same calls, each run to completion on a
//! private single-threaded tokio runtime. Not for use inside an async runtime.

use crate::api::{
    Certificate, Health, Installed, NetworkView, PowerAction, ResetAccepted, ResetThen,
    RestoreReport, Session, Status, Time, Updates,
};
use crate::OnProgress;
use crate::{Endpoint, Error, Method, Response, Result, StatusCode, Trust};
use serde_json::Value;
use std::path::Path;
use std::time::Duration;

#[derive(Debug)]
pub struct Client {
    inner: crate::Client,
    runtime: tokio::runtime::Runtime,
}

fn runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_io()
        .enable_time()
        .build()
        .map_err(Error::Runtime)
}

impl Client {
    pub fn new(endpoint: Endpoint, trust: &Trust) -> Result<Self> {
        Self::from_async(crate::Client::new(endpoint, trust)?)
    }

    pub fn from_async(inner: crate::Client) -> Result<Self> {
        Ok(Client {
            inner,
            runtime: runtime()?,
        })
    }

    pub fn inner(&self) -> &crate::Client {
        &self.inner
    }

    pub fn endpoint(&self) -> &Endpoint {
        self.inner.endpoint()
    }

    pub fn token(&self) -> Option<&str> {
        self.inner.token()
    }

    pub fn set_token(&mut self, token: Option<String>) {
        self.inner.set_token(token);
    }

    pub fn set_timeout(&mut self, timeout: Duration) {
        self.inner.set_timeout(timeout);
    }

    /// Give the account's password again (`X-Current-Password`) with each request from now
    /// on, for the calls that ask for it (see [`crate::Client::confirmed`]); None: no longer.
    pub fn set_current_password(&mut self, password: Option<&str>) {
        self.inner.set_current_password(password);
    }

    pub fn health(&self) -> Result<Health> {
        self.runtime.block_on(self.inner.health())
    }

    pub fn login(&mut self, username: &str, password: &str) -> Result<Session> {
        self.runtime.block_on(self.inner.login(username, password))
    }

    /// [`crate::Client::login_with_code`].
    pub fn login_with_code(
        &mut self,
        username: &str,
        password: &str,
        code: Option<&str>,
    ) -> Result<Session> {
        self.runtime
            .block_on(self.inner.login_with_code(username, password, code))
    }

    pub fn change_password(&self, current: &str, new: &str) -> Result<()> {
        self.runtime
            .block_on(self.inner.change_password(current, new))
    }

    pub fn status(&self) -> Result<Status> {
        self.runtime.block_on(self.inner.status())
    }

    pub fn reboot(&self) -> Result<PowerAction> {
        self.runtime.block_on(self.inner.reboot())
    }

    pub fn shutdown(&self) -> Result<PowerAction> {
        self.runtime.block_on(self.inner.shutdown())
    }

    pub fn network(&self) -> Result<NetworkView> {
        self.runtime.block_on(self.inner.network())
    }

    pub fn set_network(&self, settings: &Value) -> Result<NetworkView> {
        self.runtime.block_on(self.inner.set_network(settings))
    }

    pub fn confirm_network(&self) -> Result<NetworkView> {
        self.runtime.block_on(self.inner.confirm_network())
    }

    pub fn time(&self) -> Result<Time> {
        self.runtime.block_on(self.inner.time())
    }

    pub fn set_time_servers(&self, servers: &[String]) -> Result<Time> {
        self.runtime.block_on(self.inner.set_time_servers(servers))
    }

    pub fn updates(&self) -> Result<Updates> {
        self.runtime.block_on(self.inner.updates())
    }

    pub fn send_update(&self, package: &Path, on_progress: OnProgress) -> Result<Response> {
        self.runtime
            .block_on(self.inner.send_update(package, on_progress))
    }

    pub fn upload_update(&self, package: &Path, on_progress: OnProgress) -> Result<Installed> {
        self.runtime
            .block_on(self.inner.upload_update(package, on_progress))
    }

    /// See [`crate::Client::backup_to`].
    pub fn backup_to<W: std::io::Write>(
        &self,
        password: &str,
        include_history: bool,
        open: impl FnOnce(&hyper::HeaderMap) -> std::io::Result<W>,
    ) -> Result<(W, u64)> {
        self.runtime
            .block_on(self.inner.backup_to(password, include_history, open))
    }

    /// See [`crate::Client::logs`].
    pub fn logs(&self, query: &str) -> Result<crate::api::Logs> {
        self.runtime.block_on(self.inner.logs(query))
    }

    /// See [`crate::Client::support_bundle_to`].
    pub fn support_bundle_to<W: std::io::Write>(
        &self,
        open: impl FnOnce(&hyper::HeaderMap) -> std::io::Result<W>,
    ) -> Result<(W, u64)> {
        self.runtime.block_on(self.inner.support_bundle_to(open))
    }

    pub fn send_restore(
        &self,
        backup: &Path,
        password: &str,
        on_progress: OnProgress,
    ) -> Result<Response> {
        self.runtime
            .block_on(self.inner.send_restore(backup, password, on_progress))
    }

    pub fn restore_backup(
        &self,
        backup: &Path,
        password: &str,
        on_progress: OnProgress,
    ) -> Result<RestoreReport> {
        self.runtime
            .block_on(self.inner.restore_backup(backup, password, on_progress))
    }

    pub fn certificate(&self) -> Result<Certificate> {
        self.runtime.block_on(self.inner.certificate())
    }

    pub fn install_certificate(&self, certificate_pem: &str, key_pem: &str) -> Result<Certificate> {
        self.runtime
            .block_on(self.inner.install_certificate(certificate_pem, key_pem))
    }

    pub fn self_signed_certificate(&self) -> Result<Certificate> {
        self.runtime.block_on(self.inner.self_signed_certificate())
    }

    pub fn factory_reset(&self, then: ResetThen) -> Result<ResetAccepted> {
        self.runtime.block_on(self.inner.factory_reset(then))
    }

    pub fn request(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value)> {
        self.runtime
            .block_on(self.inner.request(method, path, body))
    }

    pub fn call(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Response> {
        self.runtime.block_on(self.inner.call(method, path, body))
    }

    pub fn send(&self, method: Method, path: &str, body: Option<&Value>) -> Result<Response> {
        self.runtime.block_on(self.inner.send(method, path, body))
    }

    /// See [`crate::Client::send_with`].
    pub fn send_with(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: impl Into<bytes::Bytes>,
    ) -> Result<Response> {
        self.runtime
            .block_on(self.inner.send_with(method, path, headers, body))
    }
}

/// See [`crate::fetch_fingerprint`].
pub fn fetch_fingerprint(endpoint: &Endpoint) -> Result<[u8; 32]> {
    runtime()?.block_on(crate::fetch_fingerprint(endpoint))
}

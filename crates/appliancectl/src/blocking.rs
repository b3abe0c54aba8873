//! A synchronous [`Client`](crate::Client): the same calls, each run to completion on a
//! private single-threaded tokio runtime. Not for use inside an async runtime.

use crate::api::{Health, PowerAction, Session, Status};
use crate::{Endpoint, Error, Method, Response, Result, StatusCode, Trust};
use serde_json::Value;
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

    pub fn health(&self) -> Result<Health> {
        self.runtime.block_on(self.inner.health())
    }

    pub fn login(&mut self, username: &str, password: &str) -> Result<Session> {
        self.runtime.block_on(self.inner.login(username, password))
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
}

/// See [`crate::fetch_fingerprint`].
pub fn fetch_fingerprint(endpoint: &Endpoint) -> Result<[u8; 32]> {
    runtime()?.block_on(crate::fetch_fingerprint(endpoint))
}

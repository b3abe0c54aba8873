//! The product's HTTPS client: of the appliance's API (`/api/v1`), used by the
//! `appliancectl` command, the daemon's self-check and the end-to-end tests, and of other
//! servers for downloads ([`download`]: the daemon's update server).
//!
//! One request per connection: HTTP/1.1 on hyper over rustls over TCP. The appliance's
//! certificate is self-signed, so the usual way to trust it is to pin its SHA-256
//! fingerprint ([`Trust::Pinned`]), learnt once with [`fetch_fingerprint`] and checked by a
//! person. [`Client`] is async (tokio); [`blocking::Client`] wraps it for synchronous callers.

pub mod admin;
pub mod api;
pub mod blocking;
mod client;
pub mod download;
mod endpoint;
mod error;
pub mod tls;
mod upload;

pub use api::{Health, PowerAction, Session, Status};
pub use client::{
    fetch_fingerprint, Client, Connection, Response, CURRENT_PASSWORD_HEADER, DEFAULT_TIMEOUT,
};
pub use download::Download;
pub use endpoint::{Endpoint, DEFAULT_PORT};
pub use error::Error;
pub use hyper::{Method, StatusCode, Uri};
pub use tls::{format_fingerprint, parse_fingerprint, ClientIdentity, Trust};
pub use upload::OnProgress;

pub type Result<T, E = Error> = std::result::Result<T, E>;

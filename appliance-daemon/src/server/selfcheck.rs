//! The self-check: a real HTTPS request from the daemon to itself over loopback, trusting
//! exactly the certificate it serves. Passing it is the daemon's part of the health gate
//! that marks the booted slot good.

use rustls::pki_types::CertificateDer;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use appliancectl::tls::fingerprint;
use appliancectl::{Client, Trust};

const ATTEMPTS: u32 = 5;
/// One attempt: connect, handshake, request and answer.
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The client could not be set up, or the attempt failed: the client's sentence says
    /// which step (connect, TLS, HTTP) and why.
    #[error(transparent)]
    Client(#[from] appliancectl::Error),
}

/// The address to reach a listener bound to `listen` from this host.
pub(crate) fn loopback_of(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// GET /api/v1/health on `listen` with the product's client, trusting exactly `cert`,
/// retrying briefly; Ok when it answers with the health body.
pub(crate) async fn run(listen: SocketAddr, cert: CertificateDer<'static>) -> Result<(), Error> {
    let trust = Trust::Pinned {
        sha256: fingerprint(cert.as_ref()),
    };
    let mut client = Client::new(loopback_of(listen).into(), &trust)?;
    client.set_timeout(TIMEOUT);
    let mut attempt = 1;
    loop {
        match client.health().await {
            Ok(_) => return Ok(()),
            Err(err) if attempt == ATTEMPTS => return Err(err.into()),
            Err(err) => tracing::debug!(attempt, "self-check failed: {err}"),
        }
        attempt += 1;
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unspecified_addresses_become_loopback() {
        assert_eq!(
            loopback_of("0.0.0.0:443".parse().unwrap()).to_string(),
            "127.0.0.1:443"
        );
        assert_eq!(
            loopback_of("[::]:443".parse().unwrap()).to_string(),
            "[::1]:443"
        );
        assert_eq!(
            loopback_of("10.1.2.3:8443".parse().unwrap()).to_string(),
            "10.1.2.3:8443"
        );
    }
}

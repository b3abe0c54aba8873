//! The self-check: a real HTTPS request from the daemon to itself over loopback, trusting
//! exactly the certificate it serves. Passing it is the daemon's part of the health gate
//! that marks the booted slot good.

use rustls::pki_types::{CertificateDer, ServerName};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

use appliancectl::tls::{client_config, fingerprint};
use appliancectl::Trust;

const ATTEMPTS: u32 = 5;
const TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("connecting to {addr}: {source}")]
    Io {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS client setup: {0}")]
    Tls(#[from] rustls::Error),
    #[error("no answer from {0} within {TIMEOUT:?}")]
    Timeout(SocketAddr),
    #[error("{addr} answered {status:?} instead of 200")]
    Status { addr: SocketAddr, status: String },
}

/// The address to reach a listener bound to `listen` from this host.
pub fn loopback_of(listen: SocketAddr) -> SocketAddr {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    SocketAddr::new(ip, listen.port())
}

/// GET /api/v1/health on `listen`, retrying briefly; Ok when it answers 200.
pub async fn run(listen: SocketAddr, cert: CertificateDer<'static>) -> Result<(), Error> {
    let addr = loopback_of(listen);
    let trust = Trust::Pinned {
        sha256: fingerprint(cert.as_ref()),
    };
    let config =
        client_config(&trust).map_err(|e| Error::Tls(rustls::Error::General(e.to_string())))?;
    let connector = TlsConnector::from(config);
    let mut last = Error::Timeout(addr);
    for attempt in 1..=ATTEMPTS {
        match tokio::time::timeout(TIMEOUT, once(&connector, addr)).await {
            Ok(Ok(())) => return Ok(()),
            Ok(Err(err)) => last = err,
            Err(_) => last = Error::Timeout(addr),
        }
        tracing::debug!(attempt, "self-check failed: {last}");
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    Err(last)
}

async fn once(connector: &TlsConnector, addr: SocketAddr) -> Result<(), Error> {
    let io = |source| Error::Io { addr, source };
    let tcp = TcpStream::connect(addr).await.map_err(io)?;
    let name = ServerName::try_from("localhost")
        .map_err(|e| Error::Tls(rustls::Error::General(e.to_string())))?;
    let mut tls = connector.connect(name, tcp).await.map_err(io)?;
    tls.write_all(b"GET /api/v1/health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await
        .map_err(io)?;
    let mut response = Vec::new();
    // The health answer is small; a bound keeps a confused server from growing us.
    (&mut tls)
        .take(64 * 1024)
        .read_to_end(&mut response)
        .await
        .map_err(io)?;
    let status = String::from_utf8_lossy(&response)
        .lines()
        .next()
        .unwrap_or("")
        .to_string();
    if status.starts_with("HTTP/1.1 200 ") {
        Ok(())
    } else {
        Err(Error::Status { addr, status })
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

//! The syslog servers an administrator chose (a service record: it follows the pair's sync
//! and the backups) and their validation.

use api_types::SyslogServer;
use rustls::pki_types::{pem::PemObject, CertificateDer};
use serde::{Deserialize, Serialize};
use std::net::IpAddr;

use crate::store::Record;

pub(crate) use netconfig::Problem;

/// At most this many servers.
pub(crate) const MAX_SERVERS: usize = 8;
/// A CA file longer than this is refused (a few certificates at most).
const MAX_CA_BYTES: usize = 64 * 1024;

/// How lines travel to a server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Transport {
    /// RFC 5426: one message per datagram.
    Udp,
    /// RFC 6587: octet-counting framing.
    Tcp,
    /// RFC 5425: octet-counting framing in TLS, the server checked against the CA given.
    Tls,
}

impl Transport {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "udp",
            Transport::Tcp => "tcp",
            Transport::Tls => "tls",
        }
    }
}

/// One server, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Server {
    pub host: String,
    pub port: u16,
    pub transport: Transport,
    /// PEM, for TLS only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca: Option<String>,
}

impl Server {
    pub(crate) fn view(&self) -> SyslogServer {
        SyslogServer {
            host: self.host.clone(),
            port: self.port,
            transport: self.transport.as_str().into(),
            ca: self.ca.clone(),
        }
    }

    /// `host:port/transport`, for the audit log and messages.
    pub(crate) fn label(&self) -> String {
        let host = match self.host.parse::<IpAddr>() {
            Ok(IpAddr::V6(_)) => format!("[{}]", self.host),
            _ => self.host.clone(),
        };
        format!("{host}:{}/{}", self.port, self.transport.as_str())
    }
}

/// The record: empty, forwarding is off (the factory setting).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ForwardingConfig {
    pub servers: Vec<Server>,
}

impl Record for ForwardingConfig {
    const KEY: &'static str = "log_forwarding";
}

/// Check a requested list as a whole; every problem is reported, not just the first.
pub(crate) fn validate(requested: &[SyslogServer]) -> Result<ForwardingConfig, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut servers: Vec<Server> = Vec::new();
    if requested.len() > MAX_SERVERS {
        problems.push(Problem {
            field: "servers".into(),
            message: format!("at most {MAX_SERVERS} servers"),
        });
    }
    for (i, s) in requested.iter().enumerate() {
        let mut problem = |field: &str, message: String| {
            problems.push(Problem {
                field: format!("servers[{i}].{field}"),
                message,
            });
        };
        let host = s.host.trim().to_ascii_lowercase();
        let host_ok = if host.is_empty() {
            problem("host", "the server's host is empty".into());
            false
        } else if host.parse::<IpAddr>().is_err() && !crate::net::validate::valid_domain(&host) {
            problem(
                "host",
                format!("{:?} is neither an IP address nor a host name", s.host),
            );
            false
        } else {
            true
        };
        if s.port == 0 {
            problem("port", "the port must be 1 to 65535".into());
        }
        let transport = match s.transport.trim().to_ascii_lowercase().as_str() {
            "udp" => Some(Transport::Udp),
            "tcp" => Some(Transport::Tcp),
            "tls" => Some(Transport::Tls),
            other => {
                problem(
                    "transport",
                    format!("{other:?} is not a transport: use udp, tcp or tls"),
                );
                None
            }
        };
        let ca =
            s.ca.as_deref()
                .map(str::trim)
                .filter(|c| !c.is_empty())
                .map(|c| format!("{c}\n"));
        match (transport, &ca) {
            (Some(Transport::Tls), None) => problem(
                "ca",
                "TLS needs the CA (PEM) that signed the server's certificate".into(),
            ),
            (Some(Transport::Tls), Some(pem)) => {
                if let Err(why) = check_ca(pem) {
                    problem("ca", why);
                }
            }
            (Some(_), Some(_)) => problem(
                "ca",
                "a CA is only for tls: leave it empty for udp and tcp".into(),
            ),
            _ => {}
        }
        if let (true, Some(transport), 1..) = (host_ok, transport, s.port) {
            let server = Server {
                host,
                port: s.port,
                transport,
                ca,
            };
            if servers
                .iter()
                .any(|o| o.host == server.host && o.port == server.port && o.transport == transport)
            {
                problem("host", format!("{} is listed twice", server.label()));
            } else {
                servers.push(server);
            }
        }
    }
    if problems.is_empty() {
        Ok(ForwardingConfig { servers })
    } else {
        Err(problems)
    }
}

/// The CA certificates of a PEM text; a sentence when there is none or one is unusable.
pub(crate) fn ca_certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, String> {
    if pem.len() > MAX_CA_BYTES {
        return Err(format!("the CA is longer than {} KiB", MAX_CA_BYTES / 1024));
    }
    let mut out = Vec::new();
    for c in CertificateDer::pem_slice_iter(pem.as_bytes()) {
        out.push(c.map_err(|e| format!("the CA is not readable PEM: {e}"))?);
    }
    if out.is_empty() {
        return Err("the CA holds no certificate (-----BEGIN CERTIFICATE-----)".into());
    }
    Ok(out)
}

fn check_ca(pem: &str) -> Result<(), String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in ca_certificates(pem)? {
        roots
            .add(c)
            .map_err(|e| format!("the CA certificate is unusable: {e}"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server(host: &str, port: u16, transport: &str, ca: Option<&str>) -> SyslogServer {
        SyslogServer {
            host: host.into(),
            port,
            transport: transport.into(),
            ca: ca.map(str::to_string),
        }
    }

    #[test]
    fn every_problem_is_named_by_field() {
        let ok = validate(&[
            server("Logs.Example.org", 514, "UDP", None),
            server("192.0.2.1", 6514, "tcp", Some("  ")),
        ])
        .unwrap();
        assert_eq!(ok.servers[0].host, "logs.example.org");
        assert_eq!(ok.servers[0].transport, Transport::Udp);
        assert_eq!(ok.servers[1].ca, None);
        let bad = validate(&[
            server("", 0, "sctp", None),
            server("not a host", 514, "tls", None),
            server("192.0.2.1", 514, "tls", Some("not pem")),
            server("192.0.2.1", 514, "tcp", Some("-----BEGIN CERTIFICATE-----")),
            server("a.example", 514, "udp", None),
            server("a.example", 514, "udp", None),
        ])
        .unwrap_err();
        let fields: Vec<&str> = bad.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "servers[0].host",
                "servers[0].port",
                "servers[0].transport",
                "servers[1].host",
                "servers[1].ca",
                "servers[2].ca",
                "servers[3].ca",
                "servers[5].host",
            ],
            "{bad:?}"
        );
        assert!(bad[6].message.contains("only for tls"), "{bad:?}");
        assert!(bad[7].message.contains("listed twice"), "{bad:?}");
        let many: Vec<SyslogServer> = (0..9)
            .map(|i| server(&format!("h{i}.example"), 514, "udp", None))
            .collect();
        assert_eq!(validate(&many).unwrap_err()[0].field, "servers");
    }
}

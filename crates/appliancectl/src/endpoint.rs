//! Where the appliance is: a host name or address and a port, as typed by the operator.

use crate::Error;
use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

/// The appliance serves its API on the standard HTTPS port.
pub const DEFAULT_PORT: u16 = 443;

/// A host (name or IP address, IPv6 without brackets) and a TCP port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Endpoint {
    pub host: String,
    pub port: u16,
}

impl Endpoint {
    pub fn new(host: impl Into<String>, port: u16) -> Self {
        Endpoint {
            host: host.into(),
            port,
        }
    }

    /// Parse `HOST`, `HOST:PORT`, `[IPV6]`, `[IPV6]:PORT` or a bare IPv6 address; the port
    /// defaults to 443.
    pub fn parse(input: &str) -> Result<Self, Error> {
        let invalid = |reason: &str| Error::InvalidHost {
            input: input.to_string(),
            reason: reason.to_string(),
        };
        let text = input.trim();
        if text.is_empty() {
            return Err(invalid("the host is empty"));
        }
        let (host, port) = if let Some(rest) = text.strip_prefix('[') {
            let (host, after) = rest
                .split_once(']')
                .ok_or_else(|| invalid("the closing ']' is missing"))?;
            match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return Err(invalid("only ':PORT' may follow ']'")),
                },
            }
        } else if text.parse::<IpAddr>().is_ok() {
            (text, None)
        } else {
            match text.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (text, None),
            }
        };
        if host.is_empty() {
            return Err(invalid("the host is empty"));
        }
        if host.contains(['/', ' ', '@', '[', ']'])
            || (host.contains(':') && host.parse::<IpAddr>().is_err())
        {
            return Err(invalid(
                "a host is a name or an IP address, without scheme or path",
            ));
        }
        let port = match port {
            None => DEFAULT_PORT,
            Some(p) => match p.parse::<u16>() {
                Ok(p) if p != 0 => p,
                _ => return Err(invalid("the port must be a number from 1 to 65535")),
            },
        };
        Ok(Endpoint::new(host.to_ascii_lowercase(), port))
    }

    /// `host:port`, with brackets around an IPv6 address: the HTTP `Host` header.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// `host_port` with anything but letters, digits, '.' and '-' replaced by '_': safe as a
    /// file name, one per appliance.
    pub fn file_stem(&self) -> String {
        let host: String = self
            .host
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '.' || c == '-' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        // A leading '.' would make a hidden file, ".." a path component.
        let host = host.trim_start_matches('.');
        format!("{host}_{}", self.port)
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.authority())
    }
}

impl FromStr for Endpoint {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        Endpoint::parse(s)
    }
}

impl From<SocketAddr> for Endpoint {
    fn from(addr: SocketAddr) -> Self {
        Endpoint::new(addr.ip().to_string(), addr.port())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_addresses_and_ports() {
        let e = Endpoint::parse("Appliance.example").unwrap();
        assert_eq!(e, Endpoint::new("appliance.example", 443));
        assert_eq!(e.to_string(), "appliance.example:443");
        assert_eq!(
            Endpoint::parse("192.0.2.7:8443").unwrap(),
            Endpoint::new("192.0.2.7", 8443)
        );
        assert_eq!(Endpoint::parse("::1").unwrap(), Endpoint::new("::1", 443));
        let v6 = Endpoint::parse("[2001:db8::1]:4443").unwrap();
        assert_eq!(v6, Endpoint::new("2001:db8::1", 4443));
        assert_eq!(v6.authority(), "[2001:db8::1]:4443");
        assert_eq!(Endpoint::parse("[fe80::1]").unwrap().port, 443);
    }

    #[test]
    fn refuses_what_is_not_a_host() {
        for bad in [
            "",
            "host:",
            "host:0",
            "host:99999",
            "https://host",
            "host/path",
            "[::1",
            "[::1]x",
            "a:b:c",
            ":443",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad:?} was accepted");
        }
    }

    #[test]
    fn file_stems_are_plain_names() {
        assert_eq!(
            Endpoint::new("appliance.example", 443).file_stem(),
            "appliance.example_443"
        );
        assert_eq!(Endpoint::new("::1", 8443).file_stem(), "__1_8443");
        assert_eq!(Endpoint::new("..", 443).file_stem(), "_443");
    }
}

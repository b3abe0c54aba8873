//! `logs [-f]` (the persistent log, oldest of the asked lines first, then new ones as they
//! come), `logs forwarding [show|set]` (syslog servers) and `support-bundle` (the support bundle saved into a file as it arrives).

use crate::backup::download;
use crate::{client_error, print_raw, render, Cli, Failure};
use appliancectl::api::{Forwarding, ForwardingRequest, LogLine, Logs, SyslogServer};
use std::path::Path;
use std::time::Duration;

/// Lines shown without -n.
const DEFAULT_LINES: usize = 100;
/// How often -f asks for new lines.
const FOLLOW_EVERY: Duration = Duration::from_secs(1);
/// When the appliance does not name the file.
const DEFAULT_BUNDLE: &str = "appliance-support.tar.zst";

fn encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One line as `appliancectl logs` prints it.
pub(crate) fn text_line(l: &LogLine) -> String {
    format!(
        "{} boot {} {} {}: {}",
        l.time, l.boot, l.service, l.level, l.message
    )
}

impl Cli {
    pub(crate) fn logs(
        &mut self,
        follow: bool,
        service: Option<&str>,
        boot: Option<&str>,
        level: Option<&str>,
        lines: Option<usize>,
    ) -> Result<(), Failure> {
        let mut filters = Vec::new();
        for (k, v) in [("service", service), ("boot", boot), ("level", level)] {
            if let Some(v) = v {
                filters.push(format!("{k}={}", encode(v)));
            }
        }
        let prefix: String = filters.iter().map(|f| f.clone() + "&").collect();
        let client = self.session_client()?;
        let first = format!("{prefix}limit={}", lines.unwrap_or(DEFAULT_LINES).max(1));
        let page: Logs = client.logs(&first).map_err(client_error)?;
        if self.options.json && !follow {
            let text = serde_json::to_string_pretty(&page).unwrap_or_default();
            return print_raw(format!("{text}\n").as_bytes());
        }
        let show = |lines: &[LogLine], json: bool| {
            for l in lines.iter().rev() {
                if json {
                    println!("{}", serde_json::to_string(l).unwrap_or_default());
                } else {
                    println!("{}", text_line(l));
                }
            }
        };
        show(&page.lines, self.options.json);
        if !follow {
            return Ok(());
        }
        let mut head = page.head;
        loop {
            std::thread::sleep(FOLLOW_EVERY);
            let q = format!("{prefix}after={}&limit=5000", encode(&head));
            let page: Logs = client.logs(&q).map_err(client_error)?;
            show(&page.lines, self.options.json);
            head = page.head;
        }
    }

    pub(crate) fn support_bundle(
        &mut self,
        output: Option<&Path>,
        force: bool,
    ) -> Result<(), Failure> {
        let client = self.session_client()?;
        let (path, size) = download(output, force, DEFAULT_BUNDLE, |open| {
            client.support_bundle_to(open).map_err(client_error)
        })?;
        if self.options.json {
            let answer = serde_json::json!({"file": path.display().to_string(), "bytes": size});
            return print_raw(answer.to_string().as_bytes());
        }
        println!(
            "Support bundle saved to {} ({}): a tar.zst (`tar --zstd -xf`); it holds no \
             password, key or other secret.",
            path.display(),
            render::bytes(size)
        );
        Ok(())
    }
}

/// `udp://HOST:PORT`, `tcp://HOST:PORT`, `tls://HOST:PORT` (`[ADDR]` for IPv6); the CA for
/// TLS. The appliance checks the rest.
pub(crate) fn server_of(url: &str, ca: Option<&str>) -> Result<SyslogServer, String> {
    let (transport, rest) = url.split_once("://").ok_or_else(|| {
        format!("{url:?}: write udp://HOST:PORT, tcp://HOST:PORT or tls://HOST:PORT")
    })?;
    let (host, port) = rest
        .trim_end_matches('/')
        .rsplit_once(':')
        .ok_or_else(|| format!("{url:?} has no port"))?;
    let port = port
        .parse::<u16>()
        .map_err(|_| format!("{url:?}: {port:?} is not a port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let transport = transport.to_ascii_lowercase();
    Ok(SyslogServer {
        host: host.to_string(),
        port,
        ca: (transport == "tls").then(|| ca.unwrap_or_default().to_string()),
        transport,
    })
}

/// The servers and their state, one block each.
pub(crate) fn forwarding_text(f: &Forwarding) -> String {
    if f.servers.is_empty() {
        return "No syslog server: forwarding is off.\n".to_string();
    }
    let mut out = String::new();
    for s in &f.servers {
        out.push_str(&format!(
            "{}://{}:{}\n  connected   {}\n  waiting     {} lines, {} bytes (at most {})\n  dropped     {}\n  sent        {}\n",
            s.server.transport,
            s.server.host,
            s.server.port,
            if s.connected { "yes" } else { "no" },
            s.queued_lines,
            s.queued_bytes,
            f.queue_cap_bytes,
            s.dropped,
            s.sent,
        ));
        if let Some(e) = &s.last_error {
            out.push_str(&format!(
                "  last error  {} ({})\n",
                e,
                s.last_error_at.as_deref().unwrap_or("?")
            ));
        }
    }
    out
}

impl Cli {
    pub(crate) fn log_forwarding(&mut self) -> Result<(), Failure> {
        if let Some(f) = self.session_call::<Forwarding>(
            appliancectl::Method::GET,
            appliancectl::admin::LOG_FORWARDING,
            None,
        )? {
            print!("{}", forwarding_text(&f));
        }
        Ok(())
    }

    pub(crate) fn log_forwarding_set(
        &mut self,
        urls: &[String],
        ca: Option<&Path>,
    ) -> Result<(), Failure> {
        let ca =
            match ca {
                Some(p) => Some(std::fs::read_to_string(p).map_err(|e| {
                    Failure::Usage(format!("cannot read the CA {}: {e}", p.display()))
                })?),
                None => None,
            };
        let servers = urls
            .iter()
            .map(|u| server_of(u, ca.as_deref()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(Failure::Usage)?;
        let body = serde_json::to_value(ForwardingRequest { servers }).unwrap_or_default();
        if let Some(f) = self.session_call::<Forwarding>(
            appliancectl::Method::PUT,
            appliancectl::admin::LOG_FORWARDING,
            Some(&body),
        )? {
            println!("Syslog servers set.");
            print!("{}", forwarding_text(&f));
        }
        Ok(())
    }
}

#[cfg(test)]
mod forwarding_tests {
    use super::*;

    #[test]
    fn server_urls_are_read() {
        let s = server_of("tls://logs.example:6514", Some("PEM")).unwrap();
        assert_eq!(
            (
                s.host.as_str(),
                s.port,
                s.transport.as_str(),
                s.ca.as_deref()
            ),
            ("logs.example", 6514, "tls", Some("PEM"))
        );
        let s = server_of("udp://[2001:db8::1]:514", Some("PEM")).unwrap();
        assert_eq!((s.host.as_str(), s.ca), ("2001:db8::1", None));
        assert!(server_of("logs.example:514", None).is_err());
        assert!(server_of("tcp://logs.example", None).is_err());
        assert!(server_of("tcp://logs.example:x", None).is_err());
    }
}

//! The NTP servers an administrator chose (a store record), their validation, and the
//! configuration file of the time daemon (ntpd-rs's `ntp-daemon`) made from them.

use serde::{Deserialize, Serialize};
use std::net::IpAddr;

use crate::store::Record;

/// Where the appliance keeps time from on a new or reset appliance.
pub(crate) const FACTORY_SERVERS: &[&str] = &["pool.ntp.org"];
pub(crate) const MAX_SERVERS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TimeConfig {
    pub servers: Vec<String>,
}

impl Default for TimeConfig {
    fn default() -> Self {
        TimeConfig {
            servers: FACTORY_SERVERS
                .iter()
                .map(std::string::ToString::to_string)
                .collect(),
        }
    }
}

impl Record for TimeConfig {
    const KEY: &'static str = "time";
}

pub(crate) use netconfig::Problem;

/// Check a requested server list as a whole; every problem is reported, not just the first.
pub(crate) fn validate(servers: &[String]) -> Result<Vec<String>, Vec<Problem>> {
    let mut problems = Vec::new();
    let mut out: Vec<String> = Vec::new();
    if servers.len() > MAX_SERVERS {
        problems.push(Problem {
            field: "servers".into(),
            message: format!("at most {MAX_SERVERS} servers"),
        });
    }
    for (i, raw) in servers.iter().enumerate() {
        let s = raw.trim().to_ascii_lowercase();
        let field = format!("servers[{i}]");
        if s.is_empty() {
            problems.push(Problem {
                field,
                message: "empty server name".into(),
            });
        } else if s.parse::<IpAddr>().is_err() && !is_hostname(&s) {
            problems.push(Problem {
                field,
                message: format!("{raw:?} is neither an IP address nor a host name"),
            });
        } else if out.contains(&s) {
            problems.push(Problem {
                field,
                message: format!("{raw:?} is listed twice"),
            });
        } else {
            out.push(s);
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// RFC 1123 host name (dot-separated labels of letters, digits and inner hyphens) whose
/// last label is not all digits, so that a mistyped IP address is not taken for a name.
fn is_hostname(s: &str) -> bool {
    crate::net::validate::valid_domain(s)
        && !s
            .split('.')
            .next_back()
            .is_some_and(|tld| tld.bytes().all(|b| b.is_ascii_digit()))
}

/// A pool name gets `mode = "pool"` (several servers behind one name), anything else one
/// server.
fn is_pool(server: &str) -> bool {
    server == "pool.ntp.org" || server.ends_with(".pool.ntp.org")
}

/// The time daemon's configuration for `servers`, observed through `observation_path`.
///
/// One agreeing source is enough (an appliance often has one site server); any step at
/// start is allowed, since the clock may be far off on a machine without a trustworthy
/// RTC; later steps over 1000 s make the daemon exit and init start it again, which then
/// steps at start.
pub(crate) fn ntp_toml(servers: &[String], observation_path: &str) -> String {
    let mut out = format!(
        "# Written by appliance-daemon from the settings store; changes here are lost.\n\
         [observability]\n\
         log-level = \"info\"\n\
         ansi-colors = false\n\
         observation-path = \"{observation_path}\"\n\
         observation-permissions = 0o666\n\
         \n\
         [synchronization]\n\
         minimum-agreeing-sources = 1\n\
         startup-step-panic-threshold = {{ forward = \"inf\", backward = \"inf\" }}\n"
    );
    for s in servers {
        let mode = if is_pool(s) { "pool" } else { "server" };
        // Validated names contain no quote or backslash.
        out.push_str(&format!(
            "\n[[source]]\nmode = \"{mode}\"\naddress = \"{s}\"\n"
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(list: &[&str]) -> Result<Vec<String>, Vec<Problem>> {
        validate(
            &list
                .iter()
                .map(std::string::ToString::to_string)
                .collect::<Vec<_>>(),
        )
    }

    #[test]
    fn good_lists() {
        assert_eq!(v(&["10.0.2.2"]).unwrap(), vec!["10.0.2.2"]);
        assert_eq!(v(&[" NTP.Example.com "]).unwrap(), vec!["ntp.example.com"]);
        assert_eq!(v(&["2001:db8::1", "time-1.example"]).unwrap().len(), 2);
        assert_eq!(v(&[]).unwrap(), Vec::<String>::new());
    }

    #[test]
    fn every_problem_is_reported() {
        let p = v(&[
            "",
            "bad name!",
            "10.0.2.2",
            "10.0.2.2",
            "300.1.1.1",
            "-x.example",
        ])
        .unwrap_err();
        let fields: Vec<&str> = p.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "servers[0]",
                "servers[1]",
                "servers[3]",
                "servers[4]",
                "servers[5]"
            ]
        );
        assert!(v(&["a"; 9]).is_err());
    }

    #[test]
    fn config_file() {
        let t = ntp_toml(
            &["pool.ntp.org".into(), "10.0.2.2".into()],
            "/run/ntpd.observe",
        );
        assert!(t.contains("minimum-agreeing-sources = 1"));
        assert!(t.contains("observation-path = \"/run/ntpd.observe\""));
        assert!(t.contains("mode = \"pool\"\naddress = \"pool.ntp.org\""));
        assert!(t.contains("mode = \"server\"\naddress = \"10.0.2.2\""));
        assert!(t.contains("backward = \"inf\""));
    }
}

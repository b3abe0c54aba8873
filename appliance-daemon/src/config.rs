//! The daemon's command line and the run-time configuration it selects.
//!
//! On the appliance init starts the daemon with no arguments: production paths and ports.
//! `--dev` runs it on a developer's machine without root: state in a directory, release
//! information from built-in defaults, no ESP, no port 80 unless asked for.

use std::net::SocketAddr;
use std::path::PathBuf;

pub const USAGE: &str = "\
usage: appliance-daemon [--listen ADDR] [--http-listen ADDR]
       appliance-daemon --dev --state-dir DIR [--listen ADDR] [--http-listen ADDR]

  --dev               developer mode: no root needed, nothing outside DIR is touched
  --state-dir DIR     where state lives (settings.redb, TLS certificate in DIR/tls); default /data
  --listen ADDR       HTTPS address (default 0.0.0.0:443; with --dev 127.0.0.1:8443)
  --http-listen ADDR  HTTP address that redirects to HTTPS (default 0.0.0.0:80; none with --dev)

For tests, with --dev only (the network is otherwise never touched in dev mode):
  --net-namespace NAME      apply the network settings inside network namespace NAME
  --net-interfaces A,B      the interfaces to manage there (default: its Ethernet NICs)
  --net-confirm-seconds N   revert an unconfirmed change after N s instead of 120

Environment in --dev mode: APPLIANCE_SLOT (default A), APPLIANCE_PROFILE (default vm),
APPLIANCE_VERSION (default this build's).
";

/// Where the daemon runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// On the appliance, started by init as root.
    Appliance,
    /// On a developer's machine.
    Dev,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    pub mode: Mode,
    /// Root of persistent state (`/data` on the appliance).
    pub state_dir: PathBuf,
    pub https_listen: SocketAddr,
    pub http_listen: Option<SocketAddr>,
    /// init's control socket, for reboot and power off (not used in dev mode).
    pub control_socket: PathBuf,
    /// Dev mode, for tests: apply the network settings inside this network namespace.
    pub net_namespace: Option<String>,
    /// The interfaces managed in that namespace; empty: its Ethernet NICs.
    pub net_interfaces: Vec<String>,
    /// Dev mode, for tests: how long an unconfirmed network change stays.
    pub net_confirm_seconds: Option<u64>,
}

/// What the command line asks for.
#[derive(Debug, PartialEq, Eq)]
pub enum Parsed {
    Run(Config),
    Help,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Error {
    #[error("unknown argument {0:?}")]
    Unknown(String),
    #[error("{0} needs a value")]
    Missing(&'static str),
    #[error("{option} value {value:?} is not an address like 127.0.0.1:8443")]
    Address { option: &'static str, value: String },
    #[error("--dev needs --state-dir DIR so that nothing outside DIR is written")]
    DevWithoutStateDir,
    #[error("{0} is for tests and needs --dev")]
    DevOnly(&'static str),
    #[error("{option} value {value:?} is not a number of seconds")]
    Seconds { option: &'static str, value: String },
}

impl Config {
    pub fn from_args(args: impl IntoIterator<Item = String>) -> Result<Parsed, Error> {
        let mut dev = false;
        let mut state_dir = None;
        let mut https = None;
        let mut http = None;
        let mut net_namespace = None;
        let mut net_interfaces = Vec::new();
        let mut net_confirm_seconds = None;
        let mut dev_only = None;
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--dev" => dev = true,
                "--state-dir" => {
                    state_dir = Some(PathBuf::from(
                        args.next().ok_or(Error::Missing("--state-dir"))?,
                    ));
                }
                "--listen" => https = Some(address("--listen", args.next())?),
                "--http-listen" => http = Some(address("--http-listen", args.next())?),
                "--net-namespace" => {
                    dev_only = Some("--net-namespace");
                    net_namespace = Some(args.next().ok_or(Error::Missing("--net-namespace"))?);
                }
                "--net-interfaces" => {
                    dev_only = Some("--net-interfaces");
                    let list = args.next().ok_or(Error::Missing("--net-interfaces"))?;
                    net_interfaces = list
                        .split(',')
                        .filter(|s| !s.is_empty())
                        .map(str::to_string)
                        .collect();
                }
                "--net-confirm-seconds" => {
                    dev_only = Some("--net-confirm-seconds");
                    let value = args.next().ok_or(Error::Missing("--net-confirm-seconds"))?;
                    net_confirm_seconds = Some(value.parse().map_err(|_| Error::Seconds {
                        option: "--net-confirm-seconds",
                        value,
                    })?);
                }
                "-h" | "--help" => return Ok(Parsed::Help),
                _ => return Err(Error::Unknown(arg)),
            }
        }
        if let Some(option) = dev_only.filter(|_| !dev) {
            return Err(Error::DevOnly(option));
        }
        let config = if dev {
            Config {
                mode: Mode::Dev,
                state_dir: state_dir.ok_or(Error::DevWithoutStateDir)?,
                https_listen: https.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8443))),
                http_listen: http,
                control_socket: PathBuf::from(control::SOCKET_PATH),
                net_namespace,
                net_interfaces,
                net_confirm_seconds,
            }
        } else {
            Config {
                mode: Mode::Appliance,
                state_dir: state_dir.unwrap_or_else(|| PathBuf::from(crate::paths::DATA)),
                https_listen: https.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 443))),
                http_listen: Some(http.unwrap_or(SocketAddr::from(([0, 0, 0, 0], 80)))),
                control_socket: PathBuf::from(control::SOCKET_PATH),
                net_namespace: None,
                net_interfaces: Vec::new(),
                net_confirm_seconds: None,
            }
        };
        Ok(Parsed::Run(config))
    }

    /// This appliance's own pair identity (the failover pair channel; the machine's).
    pub fn pair_dir(&self) -> PathBuf {
        self.state_dir.join(crate::failover::PAIR_DIR)
    }

    pub fn tls_dir(&self) -> PathBuf {
        self.state_dir.join("tls")
    }

    /// The local socket of the console's unlock (root only; in dev mode in the state).
    pub fn local_socket(&self) -> PathBuf {
        match self.mode {
            Mode::Appliance => PathBuf::from(crate::paths::LOCAL_SOCKET),
            Mode::Dev => self.state_dir.join("local.sock"),
        }
    }

    /// The settings database (docs/store.md).
    pub fn store_path(&self) -> PathBuf {
        self.state_dir.join("settings.redb")
    }
}

fn address(option: &'static str, value: Option<String>) -> Result<SocketAddr, Error> {
    let value = value.ok_or(Error::Missing(option))?;
    value.parse().map_err(|_| Error::Address { option, value })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Parsed, Error> {
        Config::from_args(args.iter().map(std::string::ToString::to_string))
    }

    #[test]
    fn no_arguments_is_the_appliance() {
        let Parsed::Run(c) = parse(&[]).unwrap() else {
            panic!("expected a config")
        };
        assert_eq!(c.mode, Mode::Appliance);
        assert_eq!(c.https_listen.to_string(), "0.0.0.0:443");
        assert_eq!(c.http_listen.unwrap().to_string(), "0.0.0.0:80");
        assert_eq!(c.tls_dir(), PathBuf::from("/data/tls"));
    }

    #[test]
    fn dev_mode_has_no_port_80_unless_asked() {
        let Parsed::Run(c) =
            parse(&["--dev", "--state-dir", "/tmp/x", "--listen", "127.0.0.1:0"]).unwrap()
        else {
            panic!("expected a config")
        };
        assert_eq!(c.mode, Mode::Dev);
        assert_eq!(c.http_listen, None);
        assert_eq!(c.https_listen.port(), 0);
        let Parsed::Run(c) = parse(&[
            "--dev",
            "--state-dir",
            "d",
            "--http-listen",
            "127.0.0.1:8080",
        ])
        .unwrap() else {
            panic!("expected a config")
        };
        assert_eq!(c.http_listen.unwrap().port(), 8080);
    }

    #[test]
    fn mistakes_are_reported() {
        assert_eq!(parse(&["--dev"]), Err(Error::DevWithoutStateDir));
        assert_eq!(parse(&["--listen"]), Err(Error::Missing("--listen")));
        assert!(matches!(
            parse(&["--listen", "443"]),
            Err(Error::Address { .. })
        ));
        assert_eq!(parse(&["-x"]), Err(Error::Unknown("-x".into())));
        assert_eq!(parse(&["--help"]), Ok(Parsed::Help));
        assert_eq!(
            parse(&["--net-namespace", "ns1"]),
            Err(Error::DevOnly("--net-namespace"))
        );
    }

    #[test]
    fn test_namespace_options() {
        let Parsed::Run(c) = parse(&[
            "--dev",
            "--state-dir",
            "d",
            "--net-namespace",
            "lab",
            "--net-interfaces",
            "a0,a1",
            "--net-confirm-seconds",
            "5",
        ])
        .unwrap() else {
            panic!("expected a config")
        };
        assert_eq!(c.net_namespace.as_deref(), Some("lab"));
        assert_eq!(c.net_interfaces, vec!["a0", "a1"]);
        assert_eq!(c.net_confirm_seconds, Some(5));
    }
}

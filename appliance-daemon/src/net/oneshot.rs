//! `appliance-daemon --net-only`: the network bring-up alone, ending once every interface
//! holds a lease. Not for operators: tests run it inside a network namespace to exercise the
//! same code the daemon runs at boot, against a real DHCP server.

use std::path::PathBuf;
use std::time::Duration;

pub const FLAG: &str = "--net-only";

pub const USAGE: &str = "\
usage: appliance-daemon --net-only [--resolv-conf PATH] [--timeout SECS] [--hold SECS] [IFACE...]

  Bring lo up, run DHCP on IFACE... (default: every Ethernet NIC), exit 0 once each
  holds a lease, 1 on timeout (default 60 s). With --hold, keep the clients running
  (renewing) that much longer before exiting. The addresses stay, with the lease's
  lifetime. Name servers go to PATH (default /run/resolv.conf).
";

#[derive(Debug, PartialEq, Eq)]
pub struct Args {
    pub interfaces: Vec<String>,
    pub resolv_conf: PathBuf,
    pub timeout: Duration,
    pub hold: Duration,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ArgsError {
    #[error("{0} needs a value")]
    Missing(&'static str),
    #[error("{option} value {value:?} is not a number of seconds")]
    Seconds { option: &'static str, value: String },
    #[error("unknown option {0:?}")]
    Unknown(String),
}

impl Args {
    /// Parse what follows `--net-only`.
    pub fn parse(args: impl IntoIterator<Item = String>) -> Result<Args, ArgsError> {
        let mut parsed = Args {
            interfaces: Vec::new(),
            resolv_conf: PathBuf::from(crate::paths::RESOLV_LINK),
            timeout: Duration::from_secs(60),
            hold: Duration::ZERO,
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--resolv-conf" => {
                    parsed.resolv_conf =
                        PathBuf::from(args.next().ok_or(ArgsError::Missing("--resolv-conf"))?);
                }
                "--timeout" => parsed.timeout = seconds("--timeout", args.next())?,
                "--hold" => parsed.hold = seconds("--hold", args.next())?,
                _ if arg.starts_with('-') => return Err(ArgsError::Unknown(arg)),
                _ => parsed.interfaces.push(arg),
            }
        }
        Ok(parsed)
    }
}

fn seconds(option: &'static str, value: Option<String>) -> Result<Duration, ArgsError> {
    let value = value.ok_or(ArgsError::Missing(option))?;
    match value.parse() {
        Ok(secs) => Ok(Duration::from_secs(secs)),
        Err(_) => Err(ArgsError::Seconds { option, value }),
    }
}

/// Bring the network up and wait for a lease on every interface.
pub fn run(args: Args) -> anyhow::Result<()> {
    use anyhow::Context;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async {
        let mut kernel = super::Kernel::appliance();
        kernel.resolv_conf = args.resolv_conf;
        // `ip netns exec` shares the host's hostname: leave it alone.
        kernel.set_hostname = false;
        if !args.interfaces.is_empty() {
            kernel.interfaces = Some(args.interfaces);
        }
        let options = super::Options {
            kernel: Some(kernel),
            store: None,
            // The virtual appliance's factory defaults: DHCP on every interface.
            profile: "vm".to_string(),
            config: None,
            init_dir: None,
            confirm_after: super::CONFIRM_AFTER,
            unapplied: None,
            shared_role: super::SharedIps::Operator,
        };
        let network = super::start(options).await?;
        let mut leases = network.state.subscribe();
        anyhow::ensure!(!leases.borrow().is_empty(), "no interface to bring up");
        let all_leased = leases.wait_for(|m| m.values().all(Option::is_some));
        // Only whether it happened: the borrow of the map must end here.
        let outcome = tokio::time::timeout(args.timeout, all_leased)
            .await
            .map(|r| r.is_ok());
        match outcome {
            Ok(true) => {
                tokio::time::sleep(args.hold).await;
                Ok(())
            }
            Ok(false) => anyhow::bail!("the network state went away"),
            Err(_) => {
                let missing: Vec<String> = network
                    .state
                    .subscribe()
                    .borrow()
                    .iter()
                    .filter(|(_, l)| l.is_none())
                    .map(|(i, _)| i.clone())
                    .collect();
                anyhow::bail!(
                    "no DHCP lease on {} within {:?} (is a DHCP server on the link?)",
                    missing.join(", "),
                    args.timeout
                )
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Args, ArgsError> {
        Args::parse(args.iter().map(std::string::ToString::to_string))
    }

    #[test]
    fn interfaces_and_options() {
        let a = parse(&[
            "veth1",
            "--resolv-conf",
            "/tmp/r",
            "--timeout",
            "5",
            "eth9",
            "--hold",
            "7",
        ])
        .unwrap();
        assert_eq!(a.interfaces, vec!["veth1", "eth9"]);
        assert_eq!(a.resolv_conf, PathBuf::from("/tmp/r"));
        assert_eq!(a.timeout, Duration::from_secs(5));
        assert_eq!(a.hold, Duration::from_secs(7));
        let a = parse(&[]).unwrap();
        assert!(a.interfaces.is_empty());
        assert_eq!(a.resolv_conf, PathBuf::from("/run/resolv.conf"));
    }

    #[test]
    fn mistakes() {
        assert_eq!(
            parse(&["--hold", "x"]),
            Err(ArgsError::Seconds {
                option: "--hold",
                value: "x".into()
            })
        );
        assert_eq!(
            parse(&["--resolv-conf"]),
            Err(ArgsError::Missing("--resolv-conf"))
        );
        assert_eq!(parse(&["--dev"]), Err(ArgsError::Unknown("--dev".into())));
    }
}

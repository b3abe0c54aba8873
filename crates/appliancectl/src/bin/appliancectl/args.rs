//! The command line, parsed by hand: a few global options and one command.

use appliancectl::api::ResetThen;
use appliancectl::parse_fingerprint;
use std::path::PathBuf;

pub const USAGE: &str = "\
Usage: appliancectl [OPTIONS] COMMAND

Commands:
  login [--user NAME]   open a session (user admin by default) and keep its token
  passwd                change the account's password
  status                identity, versions, uptime and hardware of the appliance
  health                liveness, version and slot (no login needed)
  reboot [--yes]        restart the appliance (asks first unless --yes)
  shutdown [--yes]      power the appliance off (asks first unless --yes)
  logout                forget the session token kept for this appliance
  fingerprint           print the SHA-256 fingerprint of the appliance's certificate

  network               interfaces, addresses, DHCP leases, shared IPs, routes, DNS,
                        hostname, and a change waiting for confirmation
  network set FILE|-    replace the network settings with the JSON in FILE (- : stdin);
                        a change made over the network reverts unless confirmed in time
  network confirm       keep the network change waiting for confirmation
  time                  NTP servers and whether the clock is synchronized
  time set-servers HOST...
                        use these NTP servers (--none: turn NTP off)
  updates               installed versions per slot, pending install, rollback, history
  update upload FILE    install an update package file; it starts at the next restart
  certificate           which HTTPS certificate the appliance serves
  certificate install CERT.pem KEY.pem
                        serve this certificate (leaf first, then intermediates) and key
  certificate self-signed
                        go back to a self-signed certificate
  factory-reset [--then poweroff|reboot] [--yes]
                        erase every setting and all data, restore the factory system,
                        then power off (default) or restart; asks to type factory-reset

Options:
  --host HOST[:PORT]    the appliance (default: $APPLIANCE_HOST; port 443)
  --json                print the API's JSON answer instead of readable text
  --pin SHA256          trust only the certificate with this SHA-256 fingerprint
  --ca FILE             verify the certificate and host name against these CA certificates
  --insecure            accept any certificate (unsafe: for a lab only)
  -h, --help            this help
  --version             the version of appliancectl

Environment: APPLIANCE_HOST, APPLIANCE_PASSWORD (login; current password for passwd),
APPLIANCE_NEW_PASSWORD (passwd), XDG_CONFIG_HOME (where sessions and pins are kept).
Exit status: 0 done (or answered no), 1 the appliance refused or the connection or a file
failed, 2 usage error.
";

/// How the operator asked to trust the appliance's certificate on this call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrustChoice {
    /// Whatever was remembered for this appliance, else trust on first use.
    Remembered,
    Pin([u8; 32]),
    Ca(PathBuf),
    Insecure,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Login { user: String },
    Passwd,
    Status,
    Health,
    Reboot { yes: bool },
    Shutdown { yes: bool },
    Logout,
    Fingerprint,
    Network,
    NetworkSet { file: Input },
    NetworkConfirm,
    Time,
    TimeSetServers { servers: Vec<String> },
    Updates,
    UpdateUpload { file: PathBuf },
    Certificate,
    CertificateInstall { certificate: PathBuf, key: PathBuf },
    CertificateSelfSigned,
    FactoryReset { then: ResetThen, yes: bool },
    Help,
    Version,
}

/// Where a file argument is read from: a path, or standard input for `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Input {
    Stdin,
    Path(PathBuf),
}

impl Input {
    fn from_arg(arg: String) -> Self {
        if arg == "-" {
            Input::Stdin
        } else {
            Input::Path(PathBuf::from(arg))
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    pub host: Option<String>,
    pub json: bool,
    pub trust: TrustChoice,
    pub command: Command,
}

/// A command line that does not parse; the message says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageError(pub String);

/// Parse the arguments (without the program name). Options may come before or after the
/// command; `--name value` and `--name=value` are both accepted.
pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Options, UsageError> {
    let usage = |m: String| Err(UsageError(m));
    let mut args = args.into_iter();
    let mut host = None;
    let mut json = false;
    let mut trust: Vec<(&'static str, TrustChoice)> = Vec::new();
    let mut user: Option<String> = None;
    let mut yes = false;
    let mut none = false;
    let mut then: Option<String> = None;
    let mut words: Vec<String> = Vec::new();
    while let Some(arg) = args.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((name, value)) if arg.starts_with("--") => {
                (name.to_string(), Some(value.to_string()))
            }
            _ => (arg.clone(), None),
        };
        let mut value = |what: &str| -> Result<String, UsageError> {
            match inline.clone().or_else(|| args.next()) {
                Some(v) if !v.is_empty() => Ok(v),
                _ => Err(UsageError(format!("{name} needs {what}"))),
            }
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(help(Command::Help)),
            "--version" => return Ok(help(Command::Version)),
            "--host" => host = Some(value("HOST[:PORT]")?),
            "--json" => json = true,
            "--pin" => {
                let text = value("a SHA-256 fingerprint")?;
                let sha256 = parse_fingerprint(&text).map_err(|e| UsageError(e.to_string()))?;
                trust.push(("--pin", TrustChoice::Pin(sha256)));
            }
            "--ca" => trust.push(("--ca", TrustChoice::Ca(PathBuf::from(value("a PEM file")?)))),
            "--insecure" => trust.push(("--insecure", TrustChoice::Insecure)),
            "--user" | "-u" => user = Some(value("a user name")?),
            "--yes" | "-y" => yes = true,
            "--none" => none = true,
            "--then" => then = Some(value("poweroff or reboot")?),
            _ if name.starts_with('-') && name != "-" => {
                return usage(format!("unknown option {name}"))
            }
            _ => words.push(arg),
        }
        if inline.is_some() && matches!(name.as_str(), "--json" | "--insecure" | "--yes" | "--none")
        {
            return usage(format!("{name} takes no value"));
        }
    }
    let trust = match trust.as_slice() {
        [] => TrustChoice::Remembered,
        [(_, one)] => one.clone(),
        [(a, _), (b, _), ..] => {
            return usage(format!("{a} and {b} exclude each other: choose one"))
        }
    };
    let mut words = words.into_iter();
    let Some(word) = words.next() else {
        return usage("no command given".to_string());
    };
    let rest: Vec<String> = words.collect();
    let command = command(&word, rest, yes, none)?;
    let command = match command {
        Command::Login { .. } => Command::Login {
            user: user.take().unwrap_or_else(|| "admin".to_string()),
        },
        Command::FactoryReset { yes, .. } => {
            let then = match then.take() {
                None => ResetThen::Poweroff,
                Some(text) => ResetThen::parse(&text).ok_or_else(|| {
                    UsageError(format!("--then takes poweroff or reboot, not {text:?}"))
                })?,
            };
            Command::FactoryReset { then, yes }
        }
        other => other,
    };
    if user.is_some() {
        return usage(format!("--user belongs to login, not {word}"));
    }
    if then.is_some() {
        return usage(format!("--then belongs to factory-reset, not {word}"));
    }
    if yes
        && !matches!(
            command,
            Command::Reboot { .. } | Command::Shutdown { .. } | Command::FactoryReset { .. }
        )
    {
        return usage(format!(
            "--yes belongs to reboot, shutdown and factory-reset, not {word}"
        ));
    }
    if none && !matches!(command, Command::TimeSetServers { .. }) {
        return usage(format!("--none belongs to time set-servers, not {word}"));
    }
    Ok(Options {
        host,
        json,
        trust,
        command,
    })
}

/// The command named by `word` and the words after it.
fn command(word: &str, rest: Vec<String>, yes: bool, none: bool) -> Result<Command, UsageError> {
    let usage = |m: String| Err(UsageError(m));
    let sub = rest.first().map(String::as_str);
    let whole = |n: usize| -> String {
        std::iter::once(word)
            .chain(rest.iter().take(n).map(String::as_str))
            .collect::<Vec<_>>()
            .join(" ")
    };
    // Exactly `n` words after the command: no more, no less.
    let args = |n: usize, what: &str| -> Result<Vec<String>, UsageError> {
        match rest.len().cmp(&n) {
            std::cmp::Ordering::Less => Err(UsageError(format!("{} needs {what}", whole(1)))),
            std::cmp::Ordering::Greater => Err(UsageError(format!(
                "unexpected argument {:?} after {}",
                rest[n],
                whole(n)
            ))),
            std::cmp::Ordering::Equal => Ok(rest[1..].to_vec()),
        }
    };
    let simple = |command: Command| -> Result<Command, UsageError> {
        match rest.first() {
            Some(extra) => Err(UsageError(format!(
                "unexpected argument {extra:?} after {word}"
            ))),
            None => Ok(command),
        }
    };
    match (word, sub) {
        ("login", _) => simple(Command::Login {
            user: String::new(),
        }),
        ("passwd", _) => simple(Command::Passwd),
        ("status", _) => simple(Command::Status),
        ("health", _) => simple(Command::Health),
        ("reboot", _) => simple(Command::Reboot { yes }),
        ("shutdown", _) => simple(Command::Shutdown { yes }),
        ("logout", _) => simple(Command::Logout),
        ("fingerprint", _) => simple(Command::Fingerprint),
        ("help", _) => simple(Command::Help),
        ("network", None) => Ok(Command::Network),
        ("network", Some("set")) => {
            let mut file = args(2, "a JSON file, or - for standard input")?;
            Ok(Command::NetworkSet {
                file: Input::from_arg(file.remove(0)),
            })
        }
        ("network", Some("confirm")) => args(1, "").map(|_| Command::NetworkConfirm),
        ("time", None) => Ok(Command::Time),
        ("time", Some("set-servers")) => {
            let servers = rest[1..].to_vec();
            match (servers.is_empty(), none) {
                (true, false) => usage(
                    "time set-servers needs at least one HOST (or --none to turn NTP off)"
                        .to_string(),
                ),
                (false, true) => {
                    usage("time set-servers takes either HOSTs or --none, not both".to_string())
                }
                _ => Ok(Command::TimeSetServers { servers }),
            }
        }
        ("updates" | "update", None) => Ok(Command::Updates),
        ("updates" | "update", Some("upload")) => {
            let mut file = args(2, "a package FILE")?;
            Ok(Command::UpdateUpload {
                file: PathBuf::from(file.remove(0)),
            })
        }
        ("certificate", None) => Ok(Command::Certificate),
        ("certificate", Some("install")) => {
            let mut files = args(3, "CERT.pem and KEY.pem")?;
            let key = PathBuf::from(files.remove(1));
            Ok(Command::CertificateInstall {
                certificate: PathBuf::from(files.remove(0)),
                key,
            })
        }
        ("certificate", Some("self-signed")) => args(1, "").map(|_| Command::CertificateSelfSigned),
        ("factory-reset", _) => simple(Command::FactoryReset {
            then: ResetThen::Poweroff,
            yes,
        }),
        ("network" | "time" | "updates" | "update" | "certificate", Some(other)) => {
            usage(format!("unknown command \"{word} {other}\""))
        }
        (other, _) => usage(format!("unknown command {other:?}")),
    }
}

fn help(command: Command) -> Options {
    Options {
        host: None,
        json: false,
        trust: TrustChoice::Remembered,
        command,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(line: &str) -> Result<Options, UsageError> {
        parse(line.split_whitespace().map(String::from))
    }

    #[test]
    fn global_options_go_before_or_after_the_command() {
        let a = parse_str("--host box.example:8443 --json status").unwrap();
        let b = parse_str("status --json --host=box.example:8443").unwrap();
        assert_eq!(a, b);
        assert_eq!(a.host.as_deref(), Some("box.example:8443"));
        assert!(a.json);
        assert_eq!(a.command, Command::Status);
        assert_eq!(a.trust, TrustChoice::Remembered);
    }

    #[test]
    fn login_defaults_to_admin() {
        assert_eq!(
            parse_str("login").unwrap().command,
            Command::Login {
                user: "admin".into()
            }
        );
        assert_eq!(
            parse_str("login --user ops").unwrap().command,
            Command::Login { user: "ops".into() }
        );
    }

    #[test]
    fn trust_choices() {
        let pin = "ab".repeat(32);
        assert_eq!(
            parse_str(&format!("--pin {pin} health")).unwrap().trust,
            TrustChoice::Pin([0xab; 32])
        );
        assert_eq!(
            parse_str("--ca /etc/ca.pem health").unwrap().trust,
            TrustChoice::Ca("/etc/ca.pem".into())
        );
        assert_eq!(
            parse_str("--insecure health").unwrap().trust,
            TrustChoice::Insecure
        );
        let both = parse_str(&format!("--pin {pin} --insecure health")).unwrap_err();
        assert!(both.0.contains("exclude each other"), "{both:?}");
        assert!(parse_str("--pin nothex health").is_err());
    }

    #[test]
    fn confirmation_flag_only_where_it_means_something() {
        assert_eq!(
            parse_str("reboot --yes").unwrap().command,
            Command::Reboot { yes: true }
        );
        assert_eq!(
            parse_str("shutdown").unwrap().command,
            Command::Shutdown { yes: false }
        );
        assert!(parse_str("status --yes").is_err());
        assert!(parse_str("status --user x").is_err());
    }

    #[test]
    fn usage_errors_say_what_is_wrong() {
        assert_eq!(parse_str("").unwrap_err().0, "no command given");
        assert_eq!(
            parse_str("frobnicate").unwrap_err().0,
            "unknown command \"frobnicate\""
        );
        assert_eq!(
            parse_str("status now").unwrap_err().0,
            "unexpected argument \"now\" after status"
        );
        assert_eq!(
            parse_str("--verbose status").unwrap_err().0,
            "unknown option --verbose"
        );
        assert_eq!(
            parse_str("status --host").unwrap_err().0,
            "--host needs HOST[:PORT]"
        );
        assert_eq!(
            parse_str("--json=1 status").unwrap_err().0,
            "--json takes no value"
        );
    }

    #[test]
    fn help_wins_over_everything() {
        assert_eq!(parse_str("bogus --help").unwrap().command, Command::Help);
        assert_eq!(parse_str("help").unwrap().command, Command::Help);
        assert_eq!(parse_str("--version").unwrap().command, Command::Version);
    }

    #[test]
    fn administration_commands() {
        assert_eq!(parse_str("network").unwrap().command, Command::Network);
        assert_eq!(
            parse_str("network set net.json").unwrap().command,
            Command::NetworkSet {
                file: Input::Path("net.json".into())
            }
        );
        assert_eq!(
            parse_str("--json network set -").unwrap().command,
            Command::NetworkSet { file: Input::Stdin }
        );
        assert_eq!(
            parse_str("network confirm").unwrap().command,
            Command::NetworkConfirm
        );
        assert_eq!(parse_str("time").unwrap().command, Command::Time);
        assert_eq!(
            parse_str("time set-servers ntp1.example 192.0.2.1")
                .unwrap()
                .command,
            Command::TimeSetServers {
                servers: vec!["ntp1.example".into(), "192.0.2.1".into()]
            }
        );
        assert_eq!(
            parse_str("time set-servers --none").unwrap().command,
            Command::TimeSetServers { servers: vec![] }
        );
        assert_eq!(parse_str("updates").unwrap().command, Command::Updates);
        assert_eq!(
            parse_str("update upload /tmp/1.0.1.pkg").unwrap().command,
            Command::UpdateUpload {
                file: "/tmp/1.0.1.pkg".into()
            }
        );
        assert_eq!(
            parse_str("certificate").unwrap().command,
            Command::Certificate
        );
        assert_eq!(
            parse_str("certificate install c.pem k.pem")
                .unwrap()
                .command,
            Command::CertificateInstall {
                certificate: "c.pem".into(),
                key: "k.pem".into()
            }
        );
        assert_eq!(
            parse_str("certificate self-signed").unwrap().command,
            Command::CertificateSelfSigned
        );
    }

    #[test]
    fn factory_reset_powers_off_unless_told_otherwise() {
        assert_eq!(
            parse_str("factory-reset").unwrap().command,
            Command::FactoryReset {
                then: ResetThen::Poweroff,
                yes: false
            }
        );
        assert_eq!(
            parse_str("factory-reset --then reboot --yes")
                .unwrap()
                .command,
            Command::FactoryReset {
                then: ResetThen::Reboot,
                yes: true
            }
        );
        assert_eq!(
            parse_str("factory-reset --then=halt").unwrap_err().0,
            "--then takes poweroff or reboot, not \"halt\""
        );
        assert_eq!(
            parse_str("reboot --then reboot").unwrap_err().0,
            "--then belongs to factory-reset, not reboot"
        );
    }

    #[test]
    fn administration_usage_errors() {
        for (line, message) in [
            (
                "network set",
                "network set needs a JSON file, or - for standard input",
            ),
            (
                "network set a b",
                "unexpected argument \"b\" after network set a",
            ),
            (
                "network confirm now",
                "unexpected argument \"now\" after network confirm",
            ),
            ("network frob", "unknown command \"network frob\""),
            (
                "time set-servers",
                "time set-servers needs at least one HOST (or --none to turn NTP off)",
            ),
            (
                "time set-servers a --none",
                "time set-servers takes either HOSTs or --none, not both",
            ),
            (
                "time --none",
                "--none belongs to time set-servers, not time",
            ),
            ("update upload", "update upload needs a package FILE"),
            (
                "certificate install c.pem",
                "certificate install needs CERT.pem and KEY.pem",
            ),
            (
                "status --yes",
                "--yes belongs to reboot, shutdown and factory-reset, not status",
            ),
            (
                "factory-reset now",
                "unexpected argument \"now\" after factory-reset",
            ),
        ] {
            assert_eq!(parse_str(line).unwrap_err().0, message, "{line}");
        }
    }
}

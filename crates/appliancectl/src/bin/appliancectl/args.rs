//! The command line, parsed by hand: a few global options and one command.

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
Exit status: 0 done, 1 the appliance or the connection failed, 2 usage error.
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
    Help,
    Version,
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
            _ if name.starts_with('-') && name != "-" => {
                return usage(format!("unknown option {name}"))
            }
            _ => words.push(arg),
        }
        if inline.is_some() && matches!(name.as_str(), "--json" | "--insecure" | "--yes") {
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
    if let Some(extra) = words.next() {
        return usage(format!("unexpected argument {extra:?} after {word}"));
    }
    let command = match word.as_str() {
        "login" => Command::Login {
            user: user.take().unwrap_or_else(|| "admin".to_string()),
        },
        "passwd" => Command::Passwd,
        "status" => Command::Status,
        "health" => Command::Health,
        "reboot" => Command::Reboot { yes },
        "shutdown" => Command::Shutdown { yes },
        "logout" => Command::Logout,
        "fingerprint" => Command::Fingerprint,
        "help" => Command::Help,
        other => return usage(format!("unknown command {other:?}")),
    };
    if user.is_some() {
        return usage(format!("--user belongs to login, not {word}"));
    }
    if yes && !matches!(command, Command::Reboot { .. } | Command::Shutdown { .. }) {
        return usage(format!("--yes belongs to reboot and shutdown, not {word}"));
    }
    Ok(Options {
        host,
        json,
        trust,
        command,
    })
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
}

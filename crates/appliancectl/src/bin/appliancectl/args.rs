//! The command line, declared with clap: a few global options (before or after the
//! command) and one command, turned into [`Options`] for `main`.

use appliancectl::api::ResetThen;
use appliancectl::parse_fingerprint;
use clap::error::ErrorKind;
use clap::{Args, CommandFactory, Parser, Subcommand};
use std::path::PathBuf;

const AFTER_HELP: &str = "\
Environment: APPLIANCE_HOST, APPLIANCE_PASSWORD (login; current password for passwd,
factory-reset, the certificate and account changes), APPLIANCE_TOTP (login's two-factor
code), APPLIANCE_NEW_PASSWORD (passwd, account add), XDG_CONFIG_HOME (where sessions and pins are kept).
Exit status: 0 done (or answered no), 1 the appliance refused or the connection or a file
failed, 2 usage error.";

/// The administrator's command line for the appliance's HTTPS API.
#[derive(Debug, Parser)]
#[command(
    name = "appliancectl",
    version,
    after_help = AFTER_HELP,
    help_template = "{usage-heading} {usage}\n\n{all-args}{after-help}",
    subcommand_value_name = "COMMAND",
    disable_help_subcommand = true
)]
struct Cli {
    /// The appliance (default: $APPLIANCE_HOST; port 443)
    #[arg(long, global = true, value_name = "HOST[:PORT]")]
    host: Option<String>,
    /// Print the API's JSON answer instead of readable text
    #[arg(long, global = true)]
    json: bool,
    /// Trust only the certificate with this SHA-256 fingerprint
    #[arg(long, global = true, value_name = "SHA256", value_parser = pin,
          conflicts_with_all = ["ca", "insecure"])]
    pin: Option<[u8; 32]>,
    /// Verify the certificate and host name against these CA certificates
    #[arg(long, global = true, value_name = "FILE", conflicts_with = "insecure")]
    ca: Option<PathBuf>,
    /// Accept any certificate (unsafe: for a lab only)
    #[arg(long, global = true)]
    insecure: bool,
    #[command(subcommand)]
    command: Word,
}

fn pin(text: &str) -> Result<[u8; 32], String> {
    parse_fingerprint(text).map_err(|e| e.to_string())
}

#[derive(Debug, Subcommand)]
enum Word {
    /// Open a session (user admin by default) and keep its token
    Login {
        #[arg(long, short, value_name = "NAME", default_value = "admin")]
        user: String,
    },
    /// Change the account's password
    Passwd,
    /// Identity, versions, uptime and hardware of the appliance
    Status,
    /// Liveness, version and slot (no login needed)
    Health,
    /// Restart the appliance (asks first unless --yes)
    Reboot(Confirm),
    /// Power the appliance off (asks first unless --yes)
    Shutdown(Confirm),
    /// Forget the session token kept for this appliance
    Logout,
    /// Print the SHA-256 fingerprint of the appliance's certificate
    Fingerprint,
    /// On the appliance's console, as root: end an account's lockout (no password needed)
    ///
    /// Talks to the daemon's local socket, not to the network; --host is not used.
    Unlock {
        /// The account
        #[arg(value_name = "NAME", default_value = "admin")]
        name: String,
        /// The daemon's local socket
        #[arg(long, value_name = "PATH", default_value = api_types::LOCAL_SOCKET)]
        socket: PathBuf,
    },
    /// Interfaces, addresses, DHCP, shared IPs, routes, DNS, hostname
    ///
    /// Also the network change waiting for confirmation, if there is one.
    Network {
        #[command(subcommand)]
        action: Option<NetworkWord>,
    },
    /// NTP servers and whether the clock is synchronized
    Time {
        #[command(subcommand)]
        action: Option<TimeWord>,
    },
    /// Installed versions per slot, pending install, rollback, history
    #[command(alias = "update")]
    Updates {
        #[command(subcommand)]
        action: Option<UpdateWord>,
    },
    /// Which HTTPS certificate the appliance serves
    Certificate {
        #[command(subcommand)]
        action: Option<CertificateWord>,
    },
    /// The administrators' accounts: list, add, enable, disable, delete
    Account {
        #[command(subcommand)]
        action: Option<AccountWord>,
    },
    /// The failover pair: role, epoch, peer, key fingerprint
    Failover {
        #[command(subcommand)]
        action: Option<FailoverWord>,
    },
    /// Download a backup of the settings, encrypted with a password
    ///
    /// Accounts, security policy, certificates and keys, time and update servers, site
    /// packages, network settings and host name; the logged history with
    /// --include-history. Saved under the appliance's file name unless -o.
    Backup {
        #[command(flatten)]
        password: PasswordArgs,
        /// Add the logged history (the audit log)
        #[arg(long)]
        include_history: bool,
        /// Save to FILE
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace FILE if it exists
        #[arg(long)]
        force: bool,
    },
    /// The appliance's log, newest last; -f keeps printing new lines
    ///
    /// What init and every service wrote, kept on the data disk across restarts. --boot
    /// takes a boot's number, or 0 for this boot, -1 for the one before, and so on.
    Logs {
        /// Keep printing lines as they come (Ctrl-C stops)
        #[arg(long, short)]
        follow: bool,
        /// Only this service's lines (init, appliance-daemon, ntpd, …)
        #[arg(long, value_name = "NAME")]
        service: Option<String>,
        /// Only this boot's lines
        #[arg(long, short, value_name = "N", allow_hyphen_values = true)]
        boot: Option<String>,
        /// Only lines at this level or worse (error, warn, notice, info, debug)
        #[arg(long, value_name = "LEVEL")]
        level: Option<String>,
        /// How many of the newest lines (default 100)
        #[arg(long, short = 'n', value_name = "N")]
        lines: Option<usize>,
        #[command(subcommand)]
        action: Option<LogsWord>,
    },
    /// Download the support bundle (logs, status, redacted settings, boot state, dmesg)
    SupportBundle {
        /// Save to FILE (default: the appliance's name for it)
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
        /// Replace FILE if it exists
        #[arg(long)]
        force: bool,
    },
    /// Restore a backup file; prints what was restored and what was left out
    ///
    /// Checked whole before anything changes, then applied as one step. Network settings
    /// naming NICs this appliance lacks give way to its factory defaults.
    Restore {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        #[command(flatten)]
        password: PasswordArgs,
    },
    /// Erase the appliance (asks to type factory-reset unless --yes)
    ///
    /// Every setting and all data are erased and the factory system restored; then the
    /// appliance powers off (default) or restarts.
    FactoryReset {
        /// What follows the reset
        #[arg(long, value_name = "poweroff|reboot", default_value = "poweroff",
              value_parser = ["poweroff", "reboot"])]
        then: String,
        #[command(flatten)]
        confirm: Confirm,
    },
    /// Print this help
    Help,
}

/// Where the backup's password comes from (never the command line: it would show in the
/// process list and the shell's history).
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct PasswordArgs {
    /// Read the backup's password from the first line of FILE
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Read the backup's password from the first line of standard input
    #[arg(long)]
    password_stdin: bool,
}

impl PasswordArgs {
    fn source(self) -> PasswordFrom {
        match self.password_file {
            Some(file) => PasswordFrom::File(file),
            None => PasswordFrom::Stdin,
        }
    }
}

#[derive(Debug, Args)]
struct Confirm {
    /// Do not ask first
    #[arg(long, short)]
    yes: bool,
}

#[derive(Debug, Subcommand)]
enum NetworkWord {
    /// Replace the network settings with the JSON in FILE (- : stdin)
    ///
    /// A change made over the network reverts unless confirmed in time.
    Set {
        #[arg(value_name = "FILE|-")]
        file: String,
    },
    /// Keep the network change waiting for confirmation
    Confirm,
}

#[derive(Debug, Subcommand)]
enum FailoverWord {
    /// Set the inter-appliance key: typed at the prompt (or $APPLIANCE_FAILOVER_KEY), or
    /// generated with --generate and shown once
    Key {
        /// Make a new key and show it once, to type on the other appliance
        #[arg(long)]
        generate: bool,
    },
    /// On the future primary: pair with the backup at HOST:PORT, which reaches this one
    /// back at the --reverse HOST:PORT
    Establish {
        /// How this appliance reaches the backup
        #[arg(long, value_name = "HOST[:PORT]")]
        backup: String,
        /// How the backup reaches this appliance back
        #[arg(long, value_name = "HOST[:PORT]")]
        reverse: String,
    },
    /// Break the failover relationship (only the relationship is forgotten)
    Break(Confirm),
    /// On the primary: sync the backup now; answers once the backup has applied it
    Sync,
    /// On the backup: become the primary (the old primary, if it answers, becomes backup
    /// and releases the shared IPs first)
    BecomePrimary {
        /// Pull a final sync from the old primary first, if it answers
        #[arg(long)]
        pull: bool,
    },
    /// Automatic failover on this appliance when it is the backup: --enable or --disable
    #[command(group(clap::ArgGroup::new("switch").required(true).args(["enable", "disable"])))]
    Auto {
        /// Take over when the primary misses the checks and its shared IPs do not answer
        #[arg(long)]
        enable: bool,
        #[arg(long)]
        disable: bool,
        /// Missed checks (one every 200 ms) before taking over, 2 to 50 (default 5)
        #[arg(long, value_name = "N")]
        missed_checks: Option<u32>,
    },
}

#[derive(Debug, Subcommand)]
enum TimeWord {
    /// Use these NTP servers (--none: turn NTP off)
    SetServers {
        #[arg(
            value_name = "HOST",
            required_unless_present = "none",
            conflicts_with = "none"
        )]
        servers: Vec<String>,
        /// Turn NTP off
        #[arg(long)]
        none: bool,
    },
}

#[derive(Debug, Subcommand)]
enum LogsWord {
    /// Syslog forwarding: the servers and each one's state; `set` replaces them
    Forwarding {
        #[command(subcommand)]
        action: Option<ForwardingWord>,
    },
}

#[derive(Debug, Subcommand)]
enum ForwardingWord {
    /// The servers, connected or not, lines waiting, dropped and sent, the last error
    Show,
    /// Forward to these servers: udp://HOST:PORT, tcp://HOST:PORT, tls://HOST:PORT
    /// (--none: stop forwarding)
    Set {
        #[arg(
            value_name = "URL",
            required_unless_present = "none",
            conflicts_with = "none"
        )]
        servers: Vec<String>,
        /// The CA (PEM) that signed the TLS servers' certificates
        #[arg(long, value_name = "FILE")]
        ca: Option<PathBuf>,
        /// Stop forwarding
        #[arg(long)]
        none: bool,
    },
}

#[derive(Debug, Subcommand)]
enum UpdateWord {
    /// Install an update package file; it starts at the next restart
    Upload { file: PathBuf },
}

#[derive(Debug, Subcommand)]
enum CertificateWord {
    /// Serve this certificate (leaf first, then intermediates) and key
    Install {
        #[arg(value_name = "CERT.pem")]
        certificate: PathBuf,
        #[arg(value_name = "KEY.pem")]
        key: PathBuf,
    },
    /// Go back to a self-signed certificate
    SelfSigned,
    /// The certificates of the store and the addresses each is served on
    List,
    /// Import a certificate: PEM (certificate, chain, key), DER, or PKCS#12/PFX
    ///
    /// Stored, not served until assigned. A PKCS#12 file or an encrypted key needs its
    /// password (--password-file or --password-stdin).
    Import {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// The name shown for it
        #[arg(long)]
        name: Option<String>,
        #[command(flatten)]
        password: OptionalPassword,
    },
    /// Save a certificate: pem, der (without the key) or pkcs12 (with its key and chain,
    /// under a password of at least 8 characters)
    Export {
        id: String,
        #[arg(long, value_parser = ["pem", "der", "pkcs12"], default_value = "pem")]
        format: String,
        #[command(flatten)]
        password: OptionalPassword,
        /// Save to FILE (never over an existing one)
        #[arg(long, short, value_name = "FILE")]
        output: PathBuf,
    },
    /// Make a key on the appliance and a signing request (CSR) for NAMES
    Request {
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
        #[arg(
            long,
            value_parser = ["ecdsa-p256", "ecdsa-p384", "rsa-2048", "rsa-3072", "rsa-4096"],
            default_value = "ecdsa-p256"
        )]
        key: String,
        /// Save the CSR to FILE (default: print it)
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
    /// Serve a certificate on exactly these local addresses (`*`: every address with no
    /// assignment of its own; none: take it off all)
    Assign {
        id: String,
        #[arg(value_name = "ADDRESS")]
        addresses: Vec<String>,
    },
    /// Delete a certificate assigned to no address
    Delete { id: String },
    /// Show the TLS settings, or change them: the minimum TLS version, HSTS (sent only on
    /// connections served a certificate that is not self-signed)
    Settings {
        #[arg(long = "min-tls", value_parser = ["1.2", "1.3"], value_name = "VERSION")]
        min_tls: Option<String>,
        #[arg(long, value_parser = ["on", "off"])]
        hsts: Option<String>,
    },
}

/// Where an optional password comes from (never the command line).
#[derive(Debug, Args)]
#[group(required = false, multiple = false)]
struct OptionalPassword {
    /// Read the password from the first line of FILE
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
    /// Read the password from the first line of standard input
    #[arg(long)]
    password_stdin: bool,
}

impl OptionalPassword {
    fn source(self) -> Option<PasswordFrom> {
        match (self.password_file, self.password_stdin) {
            (Some(file), _) => Some(PasswordFrom::File(file)),
            (None, true) => Some(PasswordFrom::Stdin),
            (None, false) => None,
        }
    }
}

/// How the operator asked to trust the appliance's certificate on this call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum TrustChoice {
    /// Whatever was remembered for this appliance, else trust on first use.
    Remembered,
    Pin([u8; 32]),
    Ca(PathBuf),
    Insecure,
}

#[derive(Debug, Subcommand)]
enum AccountWord {
    /// Every account: enabled, two-factor, created, last sign-in (the default)
    List,
    /// Create an account (asks your password again, then its initial password; its holder
    /// changes it at first sign-in)
    ///
    /// The initial password comes from $APPLIANCE_NEW_PASSWORD or the terminal.
    Add {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Let a disabled account sign in again (asks your password again)
    Enable {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Stop an account from signing in and end its sessions (asks your password again)
    Disable {
        #[arg(value_name = "NAME")]
        name: String,
    },
    /// Delete an account and end its sessions (asks your password again)
    Delete {
        #[arg(value_name = "NAME")]
        name: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Command {
    AccountList,
    AccountAdd {
        name: String,
    },
    AccountEnable {
        name: String,
        enabled: bool,
    },
    AccountDelete {
        name: String,
    },
    Login {
        user: String,
    },
    Passwd,
    Status,
    Health,
    Reboot {
        yes: bool,
    },
    Shutdown {
        yes: bool,
    },
    Logout,
    Fingerprint,
    Unlock {
        name: String,
        socket: PathBuf,
    },
    Network,
    NetworkSet {
        file: Input,
    },
    NetworkConfirm,
    Time,
    TimeSetServers {
        servers: Vec<String>,
    },
    Updates,
    UpdateUpload {
        file: PathBuf,
    },
    Certificate,
    CertificateInstall {
        certificate: PathBuf,
        key: PathBuf,
    },
    CertificateSelfSigned,
    CertificateList,
    CertificateImport {
        file: PathBuf,
        name: Option<String>,
        password: Option<PasswordFrom>,
    },
    CertificateExport {
        id: String,
        format: String,
        password: Option<PasswordFrom>,
        output: PathBuf,
    },
    CertificateRequest {
        names: Vec<String>,
        key: String,
        output: Option<PathBuf>,
    },
    CertificateAssign {
        id: String,
        addresses: Vec<String>,
    },
    CertificateDelete {
        id: String,
    },
    CertificateSettings {
        min_tls: Option<String>,
        hsts: Option<bool>,
    },
    FactoryReset {
        then: ResetThen,
        yes: bool,
    },
    Failover,
    FailoverKey {
        generate: bool,
    },
    FailoverEstablish {
        backup: String,
        reverse: String,
    },
    FailoverBreak {
        yes: bool,
    },
    FailoverSync,
    Backup {
        password: PasswordFrom,
        include_history: bool,
        output: Option<PathBuf>,
        force: bool,
    },
    Restore {
        file: PathBuf,
        password: PasswordFrom,
    },
    Logs {
        follow: bool,
        service: Option<String>,
        boot: Option<String>,
        level: Option<String>,
        lines: Option<usize>,
    },
    LogForwarding,
    LogForwardingSet {
        servers: Vec<String>,
        ca: Option<PathBuf>,
    },
    SupportBundle {
        output: Option<PathBuf>,
        force: bool,
    },
    FailoverBecomePrimary {
        pull: bool,
    },
    FailoverAuto {
        enabled: bool,
        missed_checks: Option<u32>,
    },
    /// Print this text (the help, or the version) and stop.
    Print(String),
}

/// Where a backup's password is read from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum PasswordFrom {
    File(PathBuf),
    Stdin,
}

/// Where a file argument is read from: a path, or standard input for `-`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Input {
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
pub(crate) struct Options {
    pub host: Option<String>,
    pub json: bool,
    pub trust: TrustChoice,
    pub command: Command,
}

/// A command line that does not parse; the message says what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UsageError(pub String);

/// Parse the arguments (without the program name).
pub(crate) fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Options, UsageError> {
    let argv = std::iter::once("appliancectl".to_string()).chain(args);
    let cli = match Cli::try_parse_from(argv) {
        Ok(cli) => cli,
        Err(err) => return not_parsed(&err),
    };
    let trust = match (cli.pin, cli.ca, cli.insecure) {
        (Some(sha256), _, _) => TrustChoice::Pin(sha256),
        (None, Some(file), _) => TrustChoice::Ca(file),
        (None, None, true) => TrustChoice::Insecure,
        (None, None, false) => TrustChoice::Remembered,
    };
    let command = match cli.command {
        Word::Login { user } => Command::Login { user },
        Word::Passwd => Command::Passwd,
        Word::Status => Command::Status,
        Word::Health => Command::Health,
        Word::Reboot(c) => Command::Reboot { yes: c.yes },
        Word::Shutdown(c) => Command::Shutdown { yes: c.yes },
        Word::Logout => Command::Logout,
        Word::Fingerprint => Command::Fingerprint,
        Word::Unlock { name, socket } => Command::Unlock { name, socket },
        Word::Network { action: None } => Command::Network,
        Word::Network {
            action: Some(NetworkWord::Set { file }),
        } => Command::NetworkSet {
            file: Input::from_arg(file),
        },
        Word::Network {
            action: Some(NetworkWord::Confirm),
        } => Command::NetworkConfirm,
        Word::Time { action: None } => Command::Time,
        Word::Time {
            action: Some(TimeWord::SetServers { servers, .. }),
        } => Command::TimeSetServers { servers },
        Word::Updates { action: None } => Command::Updates,
        Word::Updates {
            action: Some(UpdateWord::Upload { file }),
        } => Command::UpdateUpload { file },
        Word::Certificate { action: None } => Command::Certificate,
        Word::Certificate {
            action: Some(CertificateWord::Install { certificate, key }),
        } => Command::CertificateInstall { certificate, key },
        Word::Certificate {
            action: Some(CertificateWord::SelfSigned),
        } => Command::CertificateSelfSigned,
        Word::Certificate {
            action: Some(CertificateWord::List),
        } => Command::CertificateList,
        Word::Certificate {
            action:
                Some(CertificateWord::Import {
                    file,
                    name,
                    password,
                }),
        } => Command::CertificateImport {
            file,
            name,
            password: password.source(),
        },
        Word::Certificate {
            action:
                Some(CertificateWord::Export {
                    id,
                    format,
                    password,
                    output,
                }),
        } => Command::CertificateExport {
            id,
            format,
            password: password.source(),
            output,
        },
        Word::Certificate {
            action: Some(CertificateWord::Request { names, key, output }),
        } => Command::CertificateRequest { names, key, output },
        Word::Certificate {
            action: Some(CertificateWord::Assign { id, addresses }),
        } => Command::CertificateAssign { id, addresses },
        Word::Certificate {
            action: Some(CertificateWord::Delete { id }),
        } => Command::CertificateDelete { id },
        Word::Certificate {
            action: Some(CertificateWord::Settings { min_tls, hsts }),
        } => Command::CertificateSettings {
            min_tls,
            hsts: hsts.map(|h| h == "on"),
        },
        Word::Account {
            action: None | Some(AccountWord::List),
        } => Command::AccountList,
        Word::Account {
            action: Some(AccountWord::Add { name }),
        } => Command::AccountAdd { name },
        Word::Account {
            action: Some(AccountWord::Enable { name }),
        } => Command::AccountEnable {
            name,
            enabled: true,
        },
        Word::Account {
            action: Some(AccountWord::Disable { name }),
        } => Command::AccountEnable {
            name,
            enabled: false,
        },
        Word::Account {
            action: Some(AccountWord::Delete { name }),
        } => Command::AccountDelete { name },
        Word::FactoryReset { then, confirm } => Command::FactoryReset {
            // The parser admits only these two words.
            then: ResetThen::parse(&then).unwrap_or_default(),
            yes: confirm.yes,
        },
        Word::Failover { action: None } => Command::Failover,
        Word::Failover {
            action: Some(FailoverWord::Key { generate }),
        } => Command::FailoverKey { generate },
        Word::Failover {
            action: Some(FailoverWord::Establish { backup, reverse }),
        } => Command::FailoverEstablish { backup, reverse },
        Word::Failover {
            action: Some(FailoverWord::Break(c)),
        } => Command::FailoverBreak { yes: c.yes },
        Word::Failover {
            action: Some(FailoverWord::Sync),
        } => Command::FailoverSync,
        Word::Backup {
            password,
            include_history,
            output,
            force,
        } => Command::Backup {
            password: password.source(),
            include_history,
            output,
            force,
        },
        Word::Logs {
            action:
                Some(LogsWord::Forwarding {
                    action: None | Some(ForwardingWord::Show),
                }),
            ..
        } => Command::LogForwarding,
        Word::Logs {
            action:
                Some(LogsWord::Forwarding {
                    action: Some(ForwardingWord::Set { servers, ca, .. }),
                }),
            ..
        } => Command::LogForwardingSet { servers, ca },
        Word::Logs {
            follow,
            service,
            boot,
            level,
            lines,
            action: None,
        } => Command::Logs {
            follow,
            service,
            boot,
            level,
            lines,
        },
        Word::SupportBundle { output, force } => Command::SupportBundle { output, force },
        Word::Restore { file, password } => Command::Restore {
            file,
            password: password.source(),
        },
        Word::Failover {
            action: Some(FailoverWord::BecomePrimary { pull }),
        } => Command::FailoverBecomePrimary { pull },
        Word::Failover {
            action:
                Some(FailoverWord::Auto {
                    enable,
                    missed_checks,
                    ..
                }),
        } => Command::FailoverAuto {
            enabled: enable,
            missed_checks,
        },
        Word::Help => Command::Print(help()),
    };
    Ok(Options {
        host: cli.host,
        json: cli.json,
        trust,
        command,
    })
}

/// The whole help text.
pub(crate) fn help() -> String {
    Cli::command().render_help().to_string()
}

/// What a line clap did not parse means: `--help` and `--version` are not errors (their
/// text is what to print); anything else is a usage error.
fn not_parsed(err: &clap::Error) -> Result<Options, UsageError> {
    match err.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => Ok(Options {
            host: None,
            json: false,
            trust: TrustChoice::Remembered,
            command: Command::Print(err.render().to_string()),
        }),
        _ => Err(UsageError(usage_message(err))),
    }
}

/// Clap's message up to its usage part, on one line and without its `error: ` (main adds
/// the program's name and where to find the usage).
fn usage_message(err: &clap::Error) -> String {
    if matches!(
        err.kind(),
        ErrorKind::MissingSubcommand | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        return "no command given".to_string();
    }
    let text = err.render().to_string();
    let message: Vec<&str> = text
        .lines()
        .take_while(|line| !line.trim().is_empty())
        .map(str::trim)
        .collect();
    let message = message.join(" ");
    message
        .strip_prefix("error: ")
        .unwrap_or(&message)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_str(line: &str) -> Result<Options, UsageError> {
        parse(line.split_whitespace().map(String::from))
    }

    #[test]
    fn unlock_needs_no_host() {
        assert_eq!(
            parse_str("unlock").unwrap().command,
            Command::Unlock {
                name: "admin".into(),
                socket: PathBuf::from(api_types::LOCAL_SOCKET)
            }
        );
        assert_eq!(
            parse_str("unlock ops --socket /tmp/s").unwrap().command,
            Command::Unlock {
                name: "ops".into(),
                socket: PathBuf::from("/tmp/s")
            }
        );
    }

    #[test]
    fn the_declaration_is_consistent() {
        Cli::command().debug_assert();
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
        assert!(both.0.contains("cannot be used with"), "{both:?}");
        let bad = parse_str("--pin nothex health").unwrap_err();
        assert!(bad.0.contains("not a SHA-256 fingerprint"), "{bad:?}");
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
    fn failover_words() {
        assert_eq!(parse_str("failover").unwrap().command, Command::Failover);
        assert_eq!(
            parse_str("failover key --generate").unwrap().command,
            Command::FailoverKey { generate: true }
        );
        assert_eq!(
            parse_str("failover key").unwrap().command,
            Command::FailoverKey { generate: false }
        );
        assert_eq!(
            parse_str("failover establish --backup b:8443 --reverse a")
                .unwrap()
                .command,
            Command::FailoverEstablish {
                backup: "b:8443".into(),
                reverse: "a".into()
            }
        );
        assert_eq!(
            parse_str("failover break --yes").unwrap().command,
            Command::FailoverBreak { yes: true }
        );
        assert_eq!(
            parse_str("failover sync").unwrap().command,
            Command::FailoverSync
        );
        // The key is never a word of the command line (it would stay in the history).
        assert_eq!(
            parse_str("failover become-primary --pull").unwrap().command,
            Command::FailoverBecomePrimary { pull: true }
        );
        assert_eq!(
            parse_str("failover auto --enable --missed-checks 7")
                .unwrap()
                .command,
            Command::FailoverAuto {
                enabled: true,
                missed_checks: Some(7)
            }
        );
        assert_eq!(
            parse_str("failover auto --disable").unwrap().command,
            Command::FailoverAuto {
                enabled: false,
                missed_checks: None
            }
        );
        assert!(parse_str("failover auto").is_err());
        assert!(parse_str("failover auto --enable --disable").is_err());
        assert!(parse_str("failover key 0123456789ABCDEFGHJKMNPQRS").is_err());
        assert!(parse_str("failover establish --backup b").is_err());
    }

    #[test]
    fn log_forwarding_words() {
        assert_eq!(
            parse_str("logs forwarding").unwrap().command,
            Command::LogForwarding
        );
        assert_eq!(
            parse_str("logs forwarding show").unwrap().command,
            Command::LogForwarding
        );
        assert_eq!(
            parse_str("logs forwarding set udp://a:514 tls://b:6514 --ca ca.pem")
                .unwrap()
                .command,
            Command::LogForwardingSet {
                servers: vec!["udp://a:514".into(), "tls://b:6514".into()],
                ca: Some("ca.pem".into())
            }
        );
        assert_eq!(
            parse_str("logs forwarding set --none").unwrap().command,
            Command::LogForwardingSet {
                servers: Vec::new(),
                ca: None
            }
        );
        assert!(parse_str("logs forwarding set").is_err());
        assert!(parse_str("logs forwarding set udp://a:514 --none").is_err());
    }

    #[test]
    fn logs_and_the_support_bundle() {
        assert_eq!(
            parse_str("logs -f --service ntpd --boot -1 --level warn -n 20")
                .unwrap()
                .command,
            Command::Logs {
                follow: true,
                service: Some("ntpd".into()),
                boot: Some("-1".into()),
                level: Some("warn".into()),
                lines: Some(20),
            }
        );
        assert_eq!(
            parse_str("logs").unwrap().command,
            Command::Logs {
                follow: false,
                service: None,
                boot: None,
                level: None,
                lines: None,
            }
        );
        assert!(parse_str("--json logs").unwrap().json);
        assert_eq!(
            parse_str("support-bundle -o b.tar.zst --force")
                .unwrap()
                .command,
            Command::SupportBundle {
                output: Some(PathBuf::from("b.tar.zst")),
                force: true,
            }
        );
        assert!(parse_str("logs -n many").is_err());
    }

    #[test]
    fn usage_errors_say_what_is_wrong() {
        assert_eq!(parse_str("").unwrap_err().0, "no command given");
        for (line, words) in [
            ("frobnicate", "'frobnicate'"),
            ("status now", "'now'"),
            ("--verbose status", "'--verbose'"),
            ("status --host", "--host"),
            ("--json=1 status", "--json"),
        ] {
            let err = parse_str(line).unwrap_err().0;
            assert!(err.contains(words), "{line}: {err}");
            assert!(!err.contains('\n'), "{line}: one line, not {err:?}");
        }
    }

    #[test]
    fn help_and_version_are_printed() {
        for line in ["--help", "help"] {
            let Command::Print(text) = parse_str(line).unwrap().command else {
                panic!("{line}: no help");
            };
            assert!(text.starts_with("Usage: appliancectl"), "{line}: {text}");
        }
        let Command::Print(text) = parse_str("status --help").unwrap().command else {
            panic!("no help of status");
        };
        assert!(text.contains("Usage: appliancectl status"), "{text}");
        let Command::Print(text) = parse_str("--version").unwrap().command else {
            panic!("no version");
        };
        assert_eq!(
            text,
            format!("appliancectl {}\n", env!("CARGO_PKG_VERSION"))
        );
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
        assert_eq!(
            parse_str("certificate list").unwrap().command,
            Command::CertificateList
        );
        assert_eq!(
            parse_str("certificate import a.p12 --name Support --password-file pw")
                .unwrap()
                .command,
            Command::CertificateImport {
                file: "a.p12".into(),
                name: Some("Support".into()),
                password: Some(PasswordFrom::File("pw".into()))
            }
        );
        assert_eq!(
            parse_str("certificate export abc --format pkcs12 --password-stdin -o out.p12")
                .unwrap()
                .command,
            Command::CertificateExport {
                id: "abc".into(),
                format: "pkcs12".into(),
                password: Some(PasswordFrom::Stdin),
                output: "out.p12".into()
            }
        );
        assert!(parse_str("certificate export abc --format p7b -o x").is_err());
        assert_eq!(
            parse_str("certificate request a.example.com 10.0.0.1")
                .unwrap()
                .command,
            Command::CertificateRequest {
                names: vec!["a.example.com".into(), "10.0.0.1".into()],
                key: "ecdsa-p256".into(),
                output: None
            }
        );
        assert!(parse_str("certificate request").is_err());
        assert_eq!(
            parse_str("certificate request a.example.com --key rsa-3072")
                .unwrap()
                .command,
            Command::CertificateRequest {
                names: vec!["a.example.com".into()],
                key: "rsa-3072".into(),
                output: None
            }
        );
        assert_eq!(
            parse_str("certificate settings").unwrap().command,
            Command::CertificateSettings {
                min_tls: None,
                hsts: None
            }
        );
        assert_eq!(
            parse_str("certificate settings --min-tls 1.3 --hsts off")
                .unwrap()
                .command,
            Command::CertificateSettings {
                min_tls: Some("1.3".into()),
                hsts: Some(false)
            }
        );
        assert!(parse_str("certificate settings --min-tls 1.1").is_err());
        assert_eq!(
            parse_str("certificate assign abc 10.0.0.1 *")
                .unwrap()
                .command,
            Command::CertificateAssign {
                id: "abc".into(),
                addresses: vec!["10.0.0.1".into(), "*".into()]
            }
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
        assert!(parse_str("factory-reset --then=halt").is_err());
        assert!(parse_str("reboot --then reboot").is_err());
    }

    #[test]
    fn backup_and_restore_take_the_password_from_a_file_or_stdin() {
        assert_eq!(
            parse_str("backup --password-file pw -o a.backup")
                .unwrap()
                .command,
            Command::Backup {
                password: PasswordFrom::File("pw".into()),
                include_history: false,
                output: Some("a.backup".into()),
                force: false,
            }
        );
        assert_eq!(
            parse_str("backup --password-stdin --include-history --force")
                .unwrap()
                .command,
            Command::Backup {
                password: PasswordFrom::Stdin,
                include_history: true,
                output: None,
                force: true,
            }
        );
        assert_eq!(
            parse_str("--json restore a.backup --password-stdin")
                .unwrap()
                .command,
            Command::Restore {
                file: "a.backup".into(),
                password: PasswordFrom::Stdin,
            }
        );
        for line in [
            "backup",
            "backup --password secret",
            "backup --password-file pw --password-stdin",
            "restore --password-stdin",
            "restore a.backup",
            "restore a.backup --password-stdin --include-history",
        ] {
            assert!(parse_str(line).is_err(), "{line}");
        }
    }

    #[test]
    fn administration_usage_errors() {
        for line in [
            "network set",
            "network set a b",
            "network confirm now",
            "network frob",
            "time set-servers",
            "time set-servers a --none",
            "time --none",
            "update upload",
            "certificate install c.pem",
            "status --yes",
            "factory-reset now",
        ] {
            assert!(parse_str(line).is_err(), "{line}");
        }
    }
}

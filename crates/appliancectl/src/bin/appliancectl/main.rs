//! `appliancectl`: the administrator's command line for the appliance's HTTPS API.
//! See docs/appliancectl.md.

mod accounts;
mod admin;
mod args;
mod backup;
mod certificates;
mod failover;
mod hosts;
mod logs;
mod network;
mod render;
mod tty;

use appliancectl::{
    blocking, format_fingerprint, parse_fingerprint, Endpoint, Method, Response, Trust,
};
use args::{Command, Options, TrustChoice};
use hosts::{HostRecord, HostStore};
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::io::Write;
use std::process::ExitCode;

const MUST_CHANGE: &str = "The password must be changed first: run `appliancectl passwd`.";

/// Why the command did not do its job; decides the exit status.
enum Failure {
    /// Exit 2: the command line is wrong.
    Usage(String),
    /// Exit 1: the appliance refused, or could not be reached, or a local file failed.
    Failed(String),
}

impl From<String> for Failure {
    fn from(message: String) -> Self {
        Failure::Failed(message)
    }
}

fn main() -> ExitCode {
    match run(std::env::args().skip(1)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(Failure::Usage(message)) => {
            eprintln!("appliancectl: {message}\nRun `appliancectl --help` for usage.");
            ExitCode::from(2)
        }
        Err(Failure::Failed(message)) => {
            eprintln!("appliancectl: {message}");
            ExitCode::from(1)
        }
    }
}

/// `appliancectl unlock`: `POST /unlock/{name}` on the daemon's local socket (root only).
fn unlock_locally(name: &str, socket: &std::path::Path) -> Result<(), Failure> {
    use std::io::Read;
    let failed = |e: std::io::Error| {
        Failure::Failed(format!(
            "cannot reach the daemon on {} (run as root on the appliance): {e}",
            socket.display()
        ))
    };
    let mut stream = std::os::unix::net::UnixStream::connect(socket).map_err(failed)?;
    let path: String = name
        .bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    write!(
        stream,
        "POST /unlock/{path} HTTP/1.1\r\nHost: local\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .map_err(failed)?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).map_err(failed)?;
    let text = String::from_utf8_lossy(&raw);
    let status = text.split(' ').nth(1).unwrap_or("");
    let body = text.split_once("\r\n\r\n").map_or("", |(_, b)| b);
    if status != "200" {
        let message = serde_json::from_str::<api_types::ErrorBody>(body)
            .map_or_else(|_| format!("the daemon answered {status}"), |e| e.message);
        return Err(Failure::Failed(message));
    }
    let answer: api_types::Unlocked = serde_json::from_str(body)
        .map_err(|e| Failure::Failed(format!("unexpected answer from the daemon: {e}")))?;
    if answer.was_locked {
        println!("Sign-in to {name} unlocked.");
    } else {
        println!("Sign-in to {name} was not locked.");
    }
    Ok(())
}

fn run(argv: impl Iterator<Item = String>) -> Result<(), Failure> {
    let options = args::parse(argv).map_err(|e| Failure::Usage(e.0))?;
    if let Command::Print(text) = &options.command {
        print!("{text}");
        return Ok(());
    }
    if let Command::Unlock { name, socket } = &options.command {
        return unlock_locally(name, socket);
    }
    let host = options
        .host
        .clone()
        .or_else(|| {
            std::env::var("APPLIANCE_HOST")
                .ok()
                .filter(|h| !h.is_empty())
        })
        .ok_or_else(|| {
            Failure::Usage(
                "no appliance given: pass --host HOST[:PORT] or set APPLIANCE_HOST".into(),
            )
        })?;
    let endpoint = Endpoint::parse(&host).map_err(|e| Failure::Usage(e.to_string()))?;
    let store = HostStore::from_env()?;
    let mut cli = Cli {
        record: store.load(&endpoint)?,
        store,
        endpoint,
        options,
    };
    match cli.options.command.clone() {
        Command::Login { user } => cli.login(&user),
        Command::Passwd => cli.passwd(),
        Command::Status => cli.status(),
        Command::Health => cli.health(),
        Command::Reboot { yes } => cli.power(Power::Reboot, yes),
        Command::Shutdown { yes } => cli.power(Power::Shutdown, yes),
        Command::Logout => cli.logout(),
        Command::Fingerprint => cli.fingerprint(),
        Command::Unlock { .. } => unreachable!("handled before the host is resolved"),
        Command::Network => cli.network(),
        Command::NetworkSet { file } => cli.network_set(&file),
        Command::NetworkConfirm => cli.network_confirm(),
        Command::Time => cli.time(),
        Command::TimeSetServers { servers } => cli.time_set_servers(&servers),
        Command::Updates => cli.updates(),
        Command::UpdateUpload { file } => cli.update_upload(&file),
        Command::Certificate => cli.certificate(),
        Command::CertificateInstall { certificate, key } => {
            cli.certificate_install(&certificate, &key)
        }
        Command::CertificateSelfSigned => cli.certificate_self_signed(),
        Command::CertificateList => cli.certificate_list(),
        Command::CertificateImport {
            file,
            name,
            password,
        } => cli.certificate_import(&file, name.as_deref(), password.as_ref()),
        Command::CertificateExport {
            id,
            format,
            password,
            output,
        } => cli.certificate_export(&id, &format, password.as_ref(), &output),
        Command::CertificateRequest { names, key, output } => {
            cli.certificate_request(names, &key, output.as_deref())
        }
        Command::CertificateAssign { id, addresses } => cli.certificate_assign(&id, addresses),
        Command::CertificateDelete { id } => cli.certificate_delete(&id),
        Command::AccountList => cli.account_list(),
        Command::AccountAdd { name } => cli.account_add(&name),
        Command::AccountEnable { name, enabled } => cli.account_enable(&name, enabled),
        Command::AccountDelete { name } => cli.account_delete(&name),
        Command::CertificateSettings { min_tls, hsts } => cli.certificate_settings(min_tls, hsts),
        Command::FactoryReset { then, yes } => cli.factory_reset(then, yes),
        Command::Failover => cli.failover(),
        Command::FailoverKey { generate } => cli.failover_key(generate),
        Command::FailoverEstablish { backup, reverse } => cli.failover_establish(&backup, &reverse),
        Command::FailoverBreak { yes } => cli.failover_break(yes),
        Command::FailoverSync => cli.failover_sync(),
        Command::Backup {
            password,
            include_history,
            output,
            force,
        } => cli.backup(&password, include_history, output.as_deref(), force),
        Command::Restore { file, password } => cli.restore(&file, &password),
        Command::Logs {
            follow,
            service,
            boot,
            level,
            lines,
        } => cli.logs(
            follow,
            service.as_deref(),
            boot.as_deref(),
            level.as_deref(),
            lines,
        ),
        Command::LogForwarding => cli.log_forwarding(),
        Command::LogForwardingSet { servers, ca } => {
            cli.log_forwarding_set(&servers, ca.as_deref())
        }
        Command::SupportBundle { output, force } => cli.support_bundle(output.as_deref(), force),
        Command::FailoverBecomePrimary { pull } => cli.failover_become_primary(pull),
        Command::FailoverAuto {
            enabled,
            missed_checks,
        } => cli.failover_auto(enabled, missed_checks),
        Command::Print(_) => Ok(()),
    }
}

#[derive(Clone, Copy)]
enum Power {
    Reboot,
    Shutdown,
}

struct Cli {
    options: Options,
    endpoint: Endpoint,
    store: HostStore,
    record: HostRecord,
}

impl Cli {
    fn save(&self) -> Result<(), Failure> {
        Ok(self.store.save(&self.endpoint, &self.record)?)
    }

    /// The trust for this call: the command line's, else the remembered one, else (after a
    /// person checked the fingerprint) a new pin, remembered at once.
    fn trust(&mut self) -> Result<Trust, Failure> {
        match &self.options.trust {
            TrustChoice::Pin(sha256) => return Ok(Trust::Pinned { sha256: *sha256 }),
            TrustChoice::Ca(path) => return Ok(Trust::CaFile(path.clone())),
            TrustChoice::Insecure => {
                eprintln!(
                    "appliancectl: warning: --insecure: the certificate of {} is not checked; \
                     anyone on the network path can read the password and use the session",
                    self.endpoint
                );
                return Ok(Trust::InsecureAcceptAny);
            }
            TrustChoice::Remembered => {}
        }
        if let Some(text) = &self.record.fingerprint {
            let sha256 = parse_fingerprint(text).map_err(|e| {
                Failure::Failed(format!(
                    "{}: {e}",
                    self.store.path(&self.endpoint).display()
                ))
            })?;
            return Ok(Trust::Pinned { sha256 });
        }
        if let Some(path) = &self.record.ca_file {
            return Ok(Trust::CaFile(path.clone()));
        }
        let seen = blocking::fetch_fingerprint(&self.endpoint).map_err(client_error)?;
        let shown = format_fingerprint(&seen);
        if !tty::available() {
            return Err(Failure::Failed(format!(
                "the certificate of {} is not pinned yet. It presents SHA-256 fingerprint {shown}; \
                 check that this is the appliance's own, then run again with --pin {shown}",
                self.endpoint
            )));
        }
        eprintln!(
            "First contact with {}. Its certificate's SHA-256 fingerprint is:\n  {shown}\n\
             Compare it with the fingerprint the appliance shows before you trust it.",
            self.endpoint
        );
        if !tty::confirm("Trust this certificate for this appliance?")? {
            return Err(Failure::Failed(format!(
                "the certificate of {} was not trusted; nothing was sent",
                self.endpoint
            )));
        }
        self.record.fingerprint = Some(shown);
        self.save()?;
        Ok(Trust::Pinned { sha256: seen })
    }

    fn client(&mut self) -> Result<blocking::Client, Failure> {
        let trust = self.trust()?;
        let mut client =
            blocking::Client::new(self.endpoint.clone(), &trust).map_err(client_error)?;
        client.set_token(self.record.token.clone());
        Ok(client)
    }

    /// With `--json`: print the answer's body as received and give `None`. Else give the
    /// body, typed, for the command to show as text.
    pub(crate) fn typed<T: DeserializeOwned>(
        &self,
        answer: &Response,
    ) -> Result<Option<T>, Failure> {
        if self.options.json {
            print_raw(&answer.body)?;
            return Ok(None);
        }
        answer.json().map(Some).map_err(client_error)
    }

    /// With `--json`: print the answer's body as received. Else print `done`.
    pub(crate) fn report(&self, answer: &Response, done: &str) -> Result<(), Failure> {
        if self.options.json {
            return print_raw(&answer.body);
        }
        println!("{done}");
        Ok(())
    }

    /// One call with the session; its answer as [`Cli::typed`] gives it.
    pub(crate) fn session_call<T: DeserializeOwned>(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Option<T>, Failure> {
        let answer = self
            .session_client()?
            .call(method, path, body)
            .map_err(client_error)?;
        self.typed(&answer)
    }

    /// A client with the session token, or the advice to log in.
    pub(crate) fn session_client(&mut self) -> Result<blocking::Client, Failure> {
        if self.record.token.is_none() {
            return Err(Failure::Failed(format!(
                "not logged in to {}: run `appliancectl --host {} login` first",
                self.endpoint, self.endpoint
            )));
        }
        self.client()
    }

    /// A session client that gives the account's password again, as a factory reset, a
    /// change of the served certificate and the certificate store ask for: taken from
    /// $APPLIANCE_PASSWORD as at login, else asked on the terminal.
    pub(crate) fn confirmed_client(&mut self) -> Result<blocking::Client, Failure> {
        let mut client = self.session_client()?;
        let password = match env_secret("APPLIANCE_PASSWORD") {
            Some(p) => p,
            None if tty::available() => {
                let user = self.record.user.as_deref().unwrap_or("your account");
                tty::password(&format!(
                    "Password of {user} on {}, to confirm: ",
                    self.endpoint
                ))?
            }
            None => {
                return Err(Failure::Usage(format!(
                    "this change needs your password again: set APPLIANCE_PASSWORD or run on a \
                     terminal; nothing was sent to {}",
                    self.endpoint
                )))
            }
        };
        client.set_current_password(Some(&password));
        Ok(client)
    }

    fn login(&mut self, user: &str) -> Result<(), Failure> {
        let mut client = self.client()?;
        let password = match env_secret("APPLIANCE_PASSWORD") {
            Some(p) => p,
            None => tty::password(&format!("Password for {user} on {}: ", self.endpoint))?,
        };
        let session = match client.login(user, &password) {
            Err(appliancectl::Error::Api { code, .. }) if code == "totp_required" => {
                let code = match env_secret("APPLIANCE_TOTP") {
                    Some(c) => c,
                    None => tty::password("Two-factor code (or a recovery code): ")?,
                };
                client
                    .login_with_code(user, &password, Some(code.trim()))
                    .map_err(client_error)?
            }
            other => other.map_err(client_error)?,
        };
        match &self.options.trust {
            TrustChoice::Pin(sha256) => {
                self.record.fingerprint = Some(format_fingerprint(sha256));
                self.record.ca_file = None;
            }
            TrustChoice::Ca(path) => {
                self.record.ca_file = Some(path.clone());
                self.record.fingerprint = None;
            }
            TrustChoice::Insecure | TrustChoice::Remembered => {}
        }
        self.record.user = Some(user.to_string());
        self.record.token = Some(session.token);
        self.save()?;
        if self.options.json {
            // The token stays in the private file; it is not printed.
            let answer = serde_json::json!({"must_change_password": session.must_change_password});
            println!("{answer}");
        } else {
            println!("Logged in to {} as {user}.", self.endpoint);
        }
        if session.must_change_password {
            eprintln!("{MUST_CHANGE}");
        }
        if session.must_enrol_totp {
            eprintln!(
                "The security policy requires two-factor sign-in: enrol it on the web page \
                 Security > Account > Two-factor sign-in."
            );
        }
        Ok(())
    }

    fn passwd(&mut self) -> Result<(), Failure> {
        let client = self.session_client()?;
        let current = match env_secret("APPLIANCE_PASSWORD") {
            Some(p) => p,
            None => tty::password("Current password: ")?,
        };
        let new = match env_secret("APPLIANCE_NEW_PASSWORD") {
            Some(p) => p,
            None => {
                let first = tty::password("New password: ")?;
                let again = tty::password("New password again: ")?;
                if first != again {
                    return Err(Failure::Failed(
                        "the two new passwords differ; nothing was changed".to_string(),
                    ));
                }
                first
            }
        };
        // The answer has no body (204): nothing to print with --json.
        client
            .change_password(&current, &new)
            .map_err(client_error)?;
        if !self.options.json {
            println!("Password changed.");
        }
        Ok(())
    }

    fn status(&mut self) -> Result<(), Failure> {
        if let Some(status) = self.session_call(Method::GET, "/api/v1/status", None)? {
            print!("{}", render::status(&status));
        }
        Ok(())
    }

    fn health(&mut self) -> Result<(), Failure> {
        let answer = self
            .client()?
            .call(Method::GET, "/api/v1/health", None)
            .map_err(client_error)?;
        if let Some(health) = self.typed(&answer)? {
            print!("{}", render::health(&health));
        }
        Ok(())
    }

    fn power(&mut self, action: Power, yes: bool) -> Result<(), Failure> {
        let (verb, path, done) = match action {
            Power::Reboot => ("Reboot", "/api/v1/system/reboot", "is rebooting"),
            Power::Shutdown => ("Power off", "/api/v1/system/shutdown", "is powering off"),
        };
        let client = self.session_client()?;
        if !yes {
            if !tty::available() {
                return Err(Failure::Usage(format!(
                    "no terminal to confirm on: add --yes to {} {} without asking",
                    verb.to_lowercase(),
                    self.endpoint
                )));
            }
            if !tty::confirm(&format!("{verb} the appliance at {}?", self.endpoint))? {
                println!("Nothing done.");
                return Ok(());
            }
        }
        let answer = client
            .call(Method::POST, path, None)
            .map_err(client_error)?;
        self.report(
            &answer,
            &format!("The appliance at {} {done}.", self.endpoint),
        )
    }

    fn logout(&mut self) -> Result<(), Failure> {
        if self.record.token.take().is_none() {
            println!("Not logged in to {}.", self.endpoint);
            return Ok(());
        }
        self.save()?;
        println!(
            "Logged out of {}: its session token is forgotten.",
            self.endpoint
        );
        Ok(())
    }

    fn fingerprint(&mut self) -> Result<(), Failure> {
        let seen = blocking::fetch_fingerprint(&self.endpoint).map_err(client_error)?;
        let shown = format_fingerprint(&seen);
        if self.options.json {
            println!("{}", serde_json::json!({"sha256": shown}));
        } else {
            println!("{shown}");
        }
        Ok(())
    }
}

/// A password from the environment, for scripts; unset or empty means "ask".
pub(crate) fn env_secret(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// The API's body exactly as received, ending with a new line.
pub(crate) fn print_raw(body: &[u8]) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    let result = if body.is_empty() {
        Ok(())
    } else if body.ends_with(b"\n") {
        out.write_all(body)
    } else {
        out.write_all(body).and_then(|()| out.write_all(b"\n"))
    };
    result
        .and_then(|()| out.flush())
        .map_err(|e| Failure::Failed(format!("cannot write to standard output: {e}")))
}

fn client_error(err: appliancectl::Error) -> Failure {
    let problems: Vec<String> = err
        .problems()
        .iter()
        .filter(|p| !err.to_string().contains(&p.message))
        .map(|p| format!("\n  {}: {}", p.field, p.message))
        .collect();
    if !problems.is_empty() {
        return Failure::Failed(format!("{err}{}", problems.concat()));
    }
    if err.is_must_change_password() {
        return Failure::Failed(MUST_CHANGE.to_string());
    }
    if err.is_unauthorized() {
        return Failure::Failed(format!(
            "the session is missing or has expired ({err}): run `appliancectl login`"
        ));
    }
    Failure::Failed(err.to_string())
}

//! The commands for what the appliance manages: network, time, updates, the HTTPS
//! certificate and the factory reset. Each prints readable text, or the API's JSON with
//! `--json`.

use crate::args::{Input, TrustChoice};
use crate::{client_error, network, print_raw, render, tty, Cli, Failure};
use appliancectl::admin::{self, certificate_body, factory_reset_body, time_body};
use appliancectl::api::{Certificate, Installed, NetworkView, ResetAccepted, ResetThen, Time};
use appliancectl::{format_fingerprint, parse_fingerprint, Method, Response};
use std::io::{IsTerminal, Read, Write};
use std::path::Path;

/// The word the operator types to confirm a factory reset (as on the web UI and the
/// console).
pub(crate) const RESET_WORD: &str = "factory-reset";

fn read_file(path: &Path) -> Result<String, Failure> {
    std::fs::read_to_string(path)
        .map_err(|e| Failure::Failed(format!("cannot read {}: {e}", path.display())))
}

impl Cli {
    pub(crate) fn network(&mut self) -> Result<(), Failure> {
        if let Some(view) = self.session_call(Method::GET, admin::NETWORK, None)? {
            print!("{}", network::view(&view));
        }
        Ok(())
    }

    pub(crate) fn network_set(&mut self, file: &Input) -> Result<(), Failure> {
        let (name, text) = match file {
            Input::Stdin => {
                let mut text = String::new();
                std::io::stdin()
                    .read_to_string(&mut text)
                    .map_err(|e| Failure::Failed(format!("cannot read standard input: {e}")))?;
                ("standard input".to_string(), text)
            }
            Input::Path(path) => (path.display().to_string(), read_file(path)?),
        };
        let settings: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
            Failure::Failed(format!(
                "{name} is not JSON ({e}); nothing was sent to the appliance"
            ))
        })?;
        let client = self.session_client()?;
        let before = client.network().map_err(client_error)?;
        let answer = client
            .call(Method::PUT, admin::NETWORK, Some(&settings))
            .map_err(client_error)?;
        let Some(after) = self.typed::<NetworkView>(&answer)? else {
            return Ok(());
        };
        let changes = network::changes(&before.config, &after.config);
        if changes.is_empty() {
            println!("The network settings are unchanged.");
        } else {
            println!("Changed:");
            for line in changes {
                println!("{line}");
            }
        }
        match &after.pending {
            Some(p) => println!(
                "Confirm within {} s (before {}) with `appliancectl network confirm`, \
                 else the appliance goes back to its previous settings.",
                p.seconds_left,
                render::utc(p.deadline)
            ),
            None => println!("Saved; no confirmation is needed."),
        }
        Ok(())
    }

    pub(crate) fn network_confirm(&mut self) -> Result<(), Failure> {
        let answer = self
            .session_client()?
            .call(Method::POST, admin::NETWORK_CONFIRM, None)
            .map_err(client_error)?;
        self.report(
            &answer,
            "Confirmed: the appliance keeps its new network settings.",
        )
    }

    pub(crate) fn time(&mut self) -> Result<(), Failure> {
        if let Some(time) = self.session_call(Method::GET, admin::TIME, None)? {
            print!("{}", render::time(&time));
        }
        Ok(())
    }

    pub(crate) fn time_set_servers(&mut self, servers: &[String]) -> Result<(), Failure> {
        let body = time_body(servers);
        let Some(time) = self.session_call::<Time>(Method::PUT, admin::TIME, Some(&body))? else {
            return Ok(());
        };
        if servers.is_empty() {
            println!("NTP is off: the appliance keeps its own clock.");
        } else {
            println!(
                "NTP servers set; the time daemon restarts with them. It takes a few \
                 minutes to synchronize."
            );
        }
        print!("{}", render::time(&time));
        Ok(())
    }

    pub(crate) fn updates(&mut self) -> Result<(), Failure> {
        if let Some(updates) = self.session_call(Method::GET, admin::UPDATES, None)? {
            print!("{}", render::updates(&updates));
        }
        Ok(())
    }

    pub(crate) fn update_upload(&mut self, file: &Path) -> Result<(), Failure> {
        // A missing file is reported before anything is sent.
        let size = std::fs::metadata(file)
            .map_err(|e| Failure::Failed(format!("cannot read {}: {e}", file.display())))?
            .len();
        let client = self.session_client()?;
        let show = std::io::stderr().is_terminal();
        let progress = Progress::new(show);
        let answer = client.send_update(file, progress.callback());
        progress.finish();
        let answer = answer
            .and_then(appliancectl::Response::error_for_status)
            .map_err(client_error)?;
        let Some(installed) = self.typed::<Installed>(&answer)? else {
            return Ok(());
        };
        let into = match &installed.slot {
            Some(slot) => format!(" into slot {slot}"),
            None => String::new(),
        };
        println!(
            "Installed {}{into} ({} sent and verified).",
            installed.version,
            render::bytes(size)
        );
        println!(
            "It starts at the next restart: run `appliancectl reboot` when convenient. If it \
             fails its health check, the appliance goes back to the running version."
        );
        Ok(())
    }

    pub(crate) fn certificate(&mut self) -> Result<(), Failure> {
        if let Some(certificate) = self.session_call(Method::GET, admin::TLS, None)? {
            print!("{}", render::certificate(&certificate));
        }
        Ok(())
    }

    pub(crate) fn certificate_install(&mut self, cert: &Path, key: &Path) -> Result<(), Failure> {
        let body = certificate_body(&read_file(cert)?, &read_file(key)?);
        let client = self.confirmed_client()?;
        let answer = client
            .call(Method::PUT, admin::TLS_CERTIFICATE, Some(&body))
            .map_err(client_error)?;
        self.certificate_changed(&answer, "the installed certificate")
    }

    pub(crate) fn certificate_self_signed(&mut self) -> Result<(), Failure> {
        let client = self.confirmed_client()?;
        let answer = client
            .call(Method::DELETE, admin::TLS_CERTIFICATE, None)
            .map_err(client_error)?;
        self.certificate_changed(&answer, "a self-signed certificate")
    }

    /// After the appliance switched certificates: follow a remembered pin to the new public
    /// key (the answer came over the connection the old pin authenticated), and say so.
    fn certificate_changed(&mut self, answer: &Response, what: &str) -> Result<(), Failure> {
        let certificate: Certificate = answer.json().map_err(client_error)?;
        let new = parse_fingerprint(&certificate.certificate_sha256).ok();
        let mut advice = None;
        if let Some(new) = new {
            let shown = format_fingerprint(&new);
            match &self.options.trust {
                TrustChoice::Remembered => {
                    let pinned = self.record.fingerprint.as_deref().map(parse_fingerprint);
                    if matches!(pinned, Some(Ok(old)) if old != new) {
                        self.record.fingerprint = Some(shown.clone());
                        self.save()?;
                        advice = Some(format!(
                            "appliancectl now pins the new public key for {}.",
                            self.endpoint
                        ));
                    }
                }
                TrustChoice::Pin(old) if *old != new => {
                    let pinned = self.record.fingerprint.as_deref().map(parse_fingerprint);
                    if matches!(pinned, Some(Ok(remembered)) if remembered == *old) {
                        self.record.fingerprint = Some(shown.clone());
                        self.save()?;
                    }
                    advice = Some(format!("From now on pass --pin {shown}."));
                }
                _ => {}
            }
        }
        if self.options.json {
            print_raw(&answer.body)?;
        } else {
            println!("The appliance now serves {what} (from its next connection on).");
            print!("{}", render::certificate(&certificate));
        }
        if let Some(advice) = advice {
            eprintln!("{advice}");
        }
        Ok(())
    }

    pub(crate) fn factory_reset(&mut self, then: ResetThen, yes: bool) -> Result<(), Failure> {
        self.session_client()?;
        if !yes {
            if !tty::available() {
                return Err(Failure::Usage(format!(
                    "no terminal to confirm on: add --yes to erase {} without asking",
                    self.endpoint
                )));
            }
            let prompt = format!(
                "{}\nType {RESET_WORD} to erase it (anything else cancels): ",
                reset_warning(&self.endpoint.to_string(), then)
            );
            let typed = tty::line(&prompt)?;
            let typed = typed.trim();
            if typed.is_empty() {
                println!("Nothing done.");
                return Ok(());
            }
            if typed != RESET_WORD {
                return Err(Failure::Failed(format!(
                    "{typed:?} is not {RESET_WORD}; nothing was done"
                )));
            }
        }
        let answer = self
            .confirmed_client()?
            .call(
                Method::POST,
                admin::FACTORY_RESET,
                Some(&factory_reset_body(then)),
            )
            .map_err(client_error)?;
        let Some(accepted) = self.typed::<ResetAccepted>(&answer)? else {
            return Ok(());
        };
        let after = match ResetThen::parse(&accepted.then).unwrap_or(then) {
            ResetThen::Poweroff => "power off",
            ResetThen::Reboot => "start as new",
        };
        println!(
            "The appliance at {} is restarting to erase itself; it will then {after}.",
            self.endpoint
        );
        println!(
            "It comes back with a new certificate: check its fingerprint and log in again \
             with --pin (see `appliancectl fingerprint`)."
        );
        Ok(())
    }
}

/// What a factory reset erases, for the operator to read before typing the word.
pub(crate) fn reset_warning(endpoint: &str, then: ResetThen) -> String {
    let after = match then {
        ResetThen::Poweroff => "powers off",
        ResetThen::Reboot => "restarts",
    };
    format!(
        "Factory reset of the appliance at {endpoint}:\n\
         - every setting, account and password, the HTTPS certificate and its key, the logs,\n  \
         the site packages and every uploaded file are erased: the data partition is wiped\n  \
         and checked to read back as zeroes;\n\
         - the installed update is erased and the factory system comes back on slot A;\n\
         - then the appliance {after}, as new: DHCP on every NIC, admin / password, a new\n  \
         certificate.\n\
         This cannot be undone."
    )
}

/// Bytes sent, on one terminal line rewritten in place (nothing when not a terminal).
pub(crate) struct Progress {
    show: bool,
    shown: std::sync::Arc<std::sync::atomic::AtomicBool>,
}

impl Progress {
    pub(crate) fn new(show: bool) -> Self {
        Progress {
            show,
            shown: Default::default(),
        }
    }

    pub(crate) fn callback(&self) -> appliancectl::OnProgress {
        let show = self.show;
        let shown = std::sync::Arc::clone(&self.shown);
        let mut last_percent = None;
        Box::new(move |sent: u64, total: u64| {
            if !show {
                return;
            }
            let percent = sent.saturating_mul(100).checked_div(total).unwrap_or(100);
            if last_percent == Some(percent) {
                return;
            }
            last_percent = Some(percent);
            shown.store(true, std::sync::atomic::Ordering::Relaxed);
            let mut err = std::io::stderr().lock();
            let _ = write!(
                err,
                "\rSent {} of {} ({percent}%){}",
                render::bytes(sent),
                render::bytes(total),
                if sent == total {
                    ", the appliance verifies and commits it…"
                } else {
                    ""
                }
            );
            let _ = err.flush();
        })
    }

    pub(crate) fn finish(&self) {
        if self.shown.load(std::sync::atomic::Ordering::Relaxed) {
            eprintln!();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_warning_says_what_goes_and_what_follows() {
        let text = reset_warning("192.0.2.10:443", ResetThen::Reboot);
        assert!(text.starts_with("Factory reset of the appliance at 192.0.2.10:443:"));
        assert!(text.contains("account and password"));
        assert!(text.contains("then the appliance restarts"));
        assert!(text.ends_with("This cannot be undone."));
        assert!(reset_warning("h:1", ResetThen::Poweroff).contains("powers off"));
    }
}

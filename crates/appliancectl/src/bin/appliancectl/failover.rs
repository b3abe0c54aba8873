//! `appliancectl failover …`: the failover pair (docs/failover.md). Readable text, or the
//! API's JSON with `--json`.

use crate::render::{aligned, push, utc};
use crate::{client_error, env_secret, tty, Cli, Failure};
use appliancectl::admin::{
    self, auto_failover_body, become_primary_body, establish_body, failover_key_body,
};
use appliancectl::api::{BecomePrimaryAnswer, BreakAnswer, Failover, FailoverKey, SyncAnswer};
use appliancectl::{Endpoint, Method};

impl Cli {
    pub(crate) fn failover(&mut self) -> Result<(), Failure> {
        if let Some(view) = self.session_call::<Failover>(Method::GET, admin::FAILOVER, None)? {
            print!("{}", render(&view));
        }
        Ok(())
    }

    pub(crate) fn failover_key(&mut self, generate: bool) -> Result<(), Failure> {
        let typed = if generate {
            None
        } else {
            Some(match env_secret("APPLIANCE_FAILOVER_KEY") {
                Some(key) => key,
                None => tty::password("Inter-appliance key: ")?,
            })
        };
        let body = failover_key_body(typed.as_deref());
        let Some(answer) =
            self.session_call::<FailoverKey>(Method::PUT, admin::FAILOVER_KEY, Some(&body))?
        else {
            return Ok(());
        };
        if let Some(key) = &answer.key {
            println!("New inter-appliance key (shown this once; type it on the other appliance):");
            println!("  {key}");
        } else {
            println!("Inter-appliance key set.");
        }
        println!("Fingerprint: {}", answer.key_fingerprint);
        Ok(())
    }

    pub(crate) fn failover_establish(
        &mut self,
        backup: &str,
        reverse: &str,
    ) -> Result<(), Failure> {
        let parse = |what: &str, text: &str| {
            Endpoint::parse(text).map_err(|e| Failure::Usage(format!("--{what}: {e}")))
        };
        let body = establish_body(&parse("backup", backup)?, &parse("reverse", reverse)?);
        if let Some(view) =
            self.session_call::<Failover>(Method::POST, admin::FAILOVER_ESTABLISH, Some(&body))?
        {
            println!("Established: this appliance is the primary.");
            print!("{}", render(&view));
        }
        Ok(())
    }

    pub(crate) fn failover_break(&mut self, yes: bool) -> Result<(), Failure> {
        let client = self.session_client()?;
        if !yes {
            if !tty::available() {
                return Err(Failure::Usage(format!(
                    "no terminal to confirm on: add --yes to break the failover relationship of {}",
                    self.endpoint
                )));
            }
            if !tty::confirm(&format!(
                "Break the failover relationship of {}? No other setting is lost.",
                self.endpoint
            ))? {
                println!("Nothing done.");
                return Ok(());
            }
        }
        let answer = client
            .call(Method::POST, admin::FAILOVER_BREAK, None)
            .map_err(client_error)?;
        let Some(broken) = self.typed::<BreakAnswer>(&answer)? else {
            return Ok(());
        };
        if broken.peer_told {
            println!("Broken; the peer was told.");
        } else {
            println!("Broken; the peer did not answer and learns it when it next connects.");
        }
        Ok(())
    }
}

impl Cli {
    /// `failover sync`: Sync now, on the primary.
    pub(crate) fn failover_sync(&mut self) -> Result<(), Failure> {
        if let Some(answer) =
            self.session_call::<SyncAnswer>(Method::POST, admin::FAILOVER_SYNC, None)?
        {
            if answer.changed {
                println!(
                    "Generation {} applied on the backup ({} bytes sent).",
                    answer.generation, answer.bytes_sent
                );
            } else {
                println!(
                    "The backup already holds this service part (generation {}).",
                    answer.generation
                );
            }
        }
        Ok(())
    }

    pub(crate) fn failover_become_primary(&mut self, pull: bool) -> Result<(), Failure> {
        let body = become_primary_body(pull);
        let Some(answer) = self.session_call::<BecomePrimaryAnswer>(
            Method::POST,
            admin::FAILOVER_BECOME_PRIMARY,
            Some(&body),
        )?
        else {
            return Ok(());
        };
        print!("{}", render_become_primary(&answer));
        Ok(())
    }

    pub(crate) fn failover_auto(
        &mut self,
        enabled: bool,
        missed_checks: Option<u32>,
    ) -> Result<(), Failure> {
        let body = auto_failover_body(enabled, missed_checks);
        if let Some(view) =
            self.session_call::<Failover>(Method::PUT, admin::FAILOVER_AUTO, Some(&body))?
        {
            print!("{}", render(&view));
        }
        Ok(())
    }
}

/// What Become primary did, then the status.
pub(crate) fn render_become_primary(answer: &BecomePrimaryAnswer) -> String {
    let mut out = String::new();
    out.push_str(if answer.peer_answered {
        "This appliance is the primary; the old primary became backup and released the shared IPs first.\n"
    } else {
        "This appliance is the primary; the old primary did not answer and the shared IPs were probed free.\n"
    });
    if let Some(pull) = &answer.pull {
        out.push_str(&format!("Final sync: {pull}\n"));
    }
    if !answer.held.is_empty() {
        out.push_str(&format!("Shared IPs held: {}\n", answer.held.join(", ")));
    }
    for c in &answer.conflicts {
        out.push_str(&format!(
            "Shared IP {} not taken: {} answers for it (tried again every second)\n",
            c.address, c.by
        ));
    }
    out.push_str(&render(&answer.failover));
    out
}

pub(crate) fn render(view: &Failover) -> String {
    let mut rows = Vec::new();
    push(&mut rows, "Role", Some(view.role.to_string()));
    push(&mut rows, "Epoch", Some(view.epoch.to_string()));
    if let Some(peer) = &view.peer {
        let reach = if peer.reachable {
            "answering"
        } else {
            "not answering"
        };
        push(
            &mut rows,
            "Peer",
            Some(format!("{}:{} ({reach})", peer.host, peer.port)),
        );
        push(&mut rows, "Peer id", Some(peer.appliance_id.clone()));
        push(
            &mut rows,
            "Peer identity",
            Some(peer.identity_sha256.clone()),
        );
    } else {
        push(&mut rows, "Peer", Some("none".to_string()));
    }
    push(&mut rows, "Last sync", view.last_sync.map(utc));
    if view.peer.is_some() {
        push(&mut rows, "Generation", Some(view.generation.to_string()));
        push(
            &mut rows,
            "Sync lag",
            Some(format!("{} s", view.sync.lag_seconds)),
        );
        push(
            &mut rows,
            "Sync error",
            view.sync
                .last_error
                .as_ref()
                .map(|e| format!("{} {}", utc(e.at), e.message)),
        );
    }
    push(
        &mut rows,
        "Key",
        Some(
            view.key_fingerprint
                .clone()
                .map_or_else(|| "not set".to_string(), |f| format!("fingerprint {f}")),
        ),
    );
    push(
        &mut rows,
        "Automatic",
        Some(if view.auto.enabled {
            format!("on, after {} missed checks", view.auto.missed_checks)
        } else {
            "off".to_string()
        }),
    );
    push(
        &mut rows,
        "Last event",
        view.last_event
            .as_ref()
            .map(|e| format!("{} {}", utc(e.at), e.message)),
    );
    aligned(&rows)
}

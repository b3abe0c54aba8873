//! `account list|add|enable|disable|delete`: the administrators' accounts. Every change
//! asks for the caller's password again (`X-Current-Password`); an initial password comes
//! from $APPLIANCE_NEW_PASSWORD or the terminal, never the command line.

use crate::{client_error, env_secret, tty, Cli, Failure};
use appliancectl::api::{AccountChange, AccountList, NewAccount};
use appliancectl::Method;

const ACCOUNTS: &str = "/api/v1/accounts";

fn account_path(name: &str) -> String {
    // Names are [a-z0-9._-]: anything else is refused by the appliance, so percent-encode
    // the rest rather than send it raw.
    let encoded: String = name
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'.' | b'_' | b'-' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    format!("{ACCOUNTS}/{encoded}")
}

impl Cli {
    pub(crate) fn account_list(&mut self) -> Result<(), Failure> {
        let Some(list) = self.session_call::<AccountList>(Method::GET, ACCOUNTS, None)? else {
            return Ok(());
        };
        print!("{}", list_text(&list));
        Ok(())
    }

    pub(crate) fn account_add(&mut self, name: &str) -> Result<(), Failure> {
        let mut client = self.confirmed_client()?;
        let password = match env_secret("APPLIANCE_NEW_PASSWORD") {
            Some(p) => p,
            None => {
                let first = tty::password(&format!("Initial password for {name}: "))?;
                let again = tty::password("Initial password again: ")?;
                if first != again {
                    return Err(Failure::Failed(
                        "the two passwords differ; nothing was changed".to_string(),
                    ));
                }
                first
            }
        };
        let body = serde_json::json!(NewAccount {
            name: name.to_string(),
            password,
        });
        let answer = client
            .call(Method::POST, ACCOUNTS, Some(&body))
            .map_err(client_error)?;
        client.set_current_password(None);
        self.report(
            &answer,
            &format!("Account {name} created; its password must be changed at first sign-in."),
        )
    }

    pub(crate) fn account_enable(&mut self, name: &str, enabled: bool) -> Result<(), Failure> {
        let body = serde_json::json!(AccountChange { enabled });
        let answer = self
            .confirmed_client()?
            .call(Method::PUT, &account_path(name), Some(&body))
            .map_err(client_error)?;
        let done = if enabled {
            format!("Account {name} enabled.")
        } else {
            format!("Account {name} disabled; its sessions ended.")
        };
        self.report(&answer, &done)
    }

    pub(crate) fn account_delete(&mut self, name: &str) -> Result<(), Failure> {
        let answer = self
            .confirmed_client()?
            .call(Method::DELETE, &account_path(name), None)
            .map_err(client_error)?;
        self.report(
            &answer,
            &format!("Account {name} deleted; its sessions ended."),
        )
    }
}

/// One row per account, aligned.
fn list_text(list: &AccountList) -> String {
    let rows: Vec<Vec<String>> = std::iter::once(
        ["NAME", "STATE", "TWO-FACTOR", "CREATED", "LAST SIGN-IN"]
            .map(str::to_string)
            .to_vec(),
    )
    .chain(list.accounts.iter().map(|a| {
        vec![
            a.name.clone(),
            if a.enabled { "enabled" } else { "disabled" }.to_string(),
            if a.totp { "on" } else { "off" }.to_string(),
            a.created_at.map_or_else(|| "-".into(), units::rfc3339),
            a.last_login.map_or_else(|| "never".into(), units::rfc3339),
        ]
    }))
    .collect();
    let widths: Vec<usize> = (0..rows[0].len())
        .map(|i| rows.iter().map(|r| r[i].chars().count()).max().unwrap_or(0))
        .collect();
    let mut text = String::new();
    for r in &rows {
        let line: Vec<String> = r
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        text.push_str(line.join("  ").trim_end());
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use appliancectl::api::Account;

    #[test]
    fn the_list_is_aligned_and_paths_are_encoded() {
        let list = AccountList {
            accounts: vec![
                Account {
                    name: "admin".into(),
                    enabled: true,
                    totp: true,
                    created_at: None,
                    last_login: Some(0),
                },
                Account {
                    name: "operator".into(),
                    enabled: false,
                    totp: false,
                    created_at: Some(0),
                    last_login: None,
                },
            ],
        };
        let text = list_text(&list);
        assert!(text.contains("admin"), "{text}");
        assert!(text.contains("disabled"), "{text}");
        assert!(text.contains("never"), "{text}");
        assert!(text.contains("1970-01-01T00:00:00Z"), "{text}");
        assert_eq!(account_path("a b"), "/api/v1/accounts/a%20b");
    }
}

//! Pushing a kept backup to the operator's destination (docs/backup.md "Scheduled
//! backups"):
//! - HTTPS: `PUT <url><file name>` with the product's one HTTPS client (appliancectl's),
//!   the file streamed, the server verified against the system's CA roots or the pinned
//!   SHA-256 of its public key, with a bearer token or basic credentials if set; any 2xx
//!   is success.
//! - SFTP (russh): the server's host key must be the pinned one, the appliance signs in
//!   with its own ed25519 key ([`ClientKey`]); the file is written as `<name>.part` then
//!   renamed, so the server never shows a partial backup under the final name.

use russh::keys::ssh_key::private::Ed25519Keypair;
use russh::keys::ssh_key::{HashAlg, LineEnding, PrivateKey, PublicKey};
use serde::{Deserialize, Serialize};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

use super::schedule::{Destination, HttpAuth, HttpsDestination, SftpDestination};
use crate::store::{Audit, Record, Store};

/// Connecting and signing in, together (SSH); the HTTPS client has its own.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// The longest wait for the SSH server while sending.
const IDLE_TIMEOUT: Duration = Duration::from_secs(60);
const USER_AGENT: &str = concat!("appliance-daemon/", env!("CARGO_PKG_VERSION"));

#[derive(Debug, thiserror::Error)]
pub(crate) enum PushError {
    #[error("cannot reach {destination}: {reason}")]
    Unreachable { destination: String, reason: String },
    #[error(
        "the server at {destination} presented host key {seen}, not the pinned {expected}; nothing was sent"
    )]
    HostKey {
        destination: String,
        seen: String,
        expected: String,
    },
    #[error(
        "the server at {destination} is not the one pinned or trusted: {reason}; nothing was sent"
    )]
    Certificate { destination: String, reason: String },
    #[error("{destination} refused the sign-in: {reason}")]
    SignIn { destination: String, reason: String },
    #[error("{destination} refused the backup: {reason}")]
    Refused { destination: String, reason: String },
    #[error("sending to {destination} broke off: {reason}")]
    Transfer { destination: String, reason: String },
    #[error("{0}")]
    Setup(String),
}

/// Send `file` as `name` to `destination`.
pub(crate) async fn push(
    destination: &Destination,
    file: &Path,
    name: &str,
    key: &ClientKey,
) -> Result<(), PushError> {
    match destination {
        Destination::Https(https) => push_https(https, file, name).await,
        Destination::Sftp(sftp) => {
            let described = destination.describe();
            let private = key.private().map_err(PushError::Setup)?;
            push_sftp(sftp, &described, file, name, private).await
        }
    }
}

async fn push_https(dest: &HttpsDestination, file: &Path, name: &str) -> Result<(), PushError> {
    use appliancectl::{Client, Endpoint, Error as E, Method, Trust};
    let url = crate::update::fetch::HttpsUrl::parse(&dest.url).map_err(PushError::Setup)?;
    let destination = format!("{}{name}", dest.url);
    let trust = match &dest.pin_sha256 {
        Some(pin) => Trust::Pinned {
            sha256: appliancectl::parse_fingerprint(pin)
                .map_err(|e| PushError::Setup(e.to_string()))?,
        },
        None => crate::update::fetch::client_config(None)
            .map_err(|e| PushError::Setup(e.to_string()))?,
    };
    let mut client = Client::new(Endpoint::new(url.host.clone(), url.port), &trust)
        .map_err(|e| PushError::Setup(e.to_string()))?
        .with_user_agent(USER_AGENT);
    let mut basic = None;
    match &dest.auth {
        HttpAuth::None => {}
        HttpAuth::Bearer { token } => client.set_token(Some(token.clone())),
        HttpAuth::Basic { user, password } => {
            use base64::Engine;
            let pair =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            basic = Some(format!("Basic {pair}"));
        }
    }
    let mut headers = vec![
        ("content-type", "application/x-tar"),
        ("x-backup-name", name),
    ];
    if let Some(value) = &basic {
        headers.push(("authorization", value.as_str()));
    }
    let path = format!("{}{name}", url.path);
    let answer = client
        .send_file(Method::PUT, &path, &headers, file, Box::new(|_, _| {}))
        .await
        .map_err(|e| {
            let reason = e.to_string();
            match e {
                E::CertificateMismatch { .. } | E::CertificateRejected { .. } => {
                    PushError::Certificate {
                        destination: destination.clone(),
                        reason,
                    }
                }
                E::Resolve { .. } | E::Connect { .. } | E::Timeout { .. } | E::Tls { .. } => {
                    PushError::Unreachable {
                        destination: destination.clone(),
                        reason,
                    }
                }
                E::File { .. } | E::Request { .. } | E::TlsSetup(_) => PushError::Setup(reason),
                _ => PushError::Transfer {
                    destination: destination.clone(),
                    reason,
                },
            }
        })?;
    if answer.status.is_success() {
        return Ok(());
    }
    let excerpt: String = String::from_utf8_lossy(&answer.body)
        .chars()
        .take(200)
        .collect();
    let reason = format!("HTTP {}: {}", answer.status, excerpt.trim());
    Err(match answer.status.as_u16() {
        401 | 403 => PushError::SignIn {
            destination,
            reason,
        },
        _ => PushError::Refused {
            destination,
            reason,
        },
    })
}

/// Accepts the server only if its host key has the pinned fingerprint; keeps what it saw.
struct PinnedHost {
    expected: String,
    seen: Arc<Mutex<Option<String>>>,
}

impl russh::client::Handler for PinnedHost {
    type Error = russh::Error;

    async fn check_server_key(&mut self, key: &PublicKey) -> Result<bool, Self::Error> {
        let seen = key.fingerprint(HashAlg::Sha256).to_string();
        let ok = seen == self.expected;
        *self
            .seen
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Some(seen);
        Ok(ok)
    }
}

async fn push_sftp(
    dest: &SftpDestination,
    destination: &str,
    file: &Path,
    name: &str,
    key: PrivateKey,
) -> Result<(), PushError> {
    let unreachable = |reason: String| PushError::Unreachable {
        destination: destination.to_string(),
        reason,
    };
    let transfer = |reason: String| PushError::Transfer {
        destination: destination.to_string(),
        reason,
    };
    let seen = Arc::new(Mutex::new(None));
    let handler = PinnedHost {
        expected: dest.host_key.clone(),
        seen: Arc::clone(&seen),
    };
    let config = Arc::new(russh::client::Config {
        inactivity_timeout: Some(IDLE_TIMEOUT),
        ..Default::default()
    });
    let connected = tokio::time::timeout(
        CONNECT_TIMEOUT,
        russh::client::connect(config, (dest.host.as_str(), dest.port), handler),
    )
    .await
    .map_err(|_| unreachable(format!("no answer within {} s", CONNECT_TIMEOUT.as_secs())))?;
    let mut session = match connected {
        Ok(session) => session,
        Err(e) => {
            let seen = seen
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .clone();
            return Err(match seen {
                Some(seen) if seen != dest.host_key => PushError::HostKey {
                    destination: destination.to_string(),
                    seen,
                    expected: dest.host_key.clone(),
                },
                _ => unreachable(ssh_reason(&e)),
            });
        }
    };
    let key = russh::keys::PrivateKeyWithHashAlg::new(Arc::new(key), None);
    let auth = tokio::time::timeout(
        CONNECT_TIMEOUT,
        session.authenticate_publickey(&dest.user, key),
    )
    .await
    .map_err(|_| unreachable("the sign-in got no answer".into()))?
    .map_err(|e| unreachable(ssh_reason(&e)))?;
    if !auth.success() {
        return Err(PushError::SignIn {
            destination: destination.to_string(),
            reason: format!(
                "the appliance's key is not accepted for user {:?} (add its public key to the user's authorized_keys)",
                dest.user
            ),
        });
    }
    let channel = session
        .channel_open_session()
        .await
        .map_err(|e| transfer(ssh_reason(&e)))?;
    channel
        .request_subsystem(true, "sftp")
        .await
        .map_err(|e| transfer(ssh_reason(&e)))?;
    let sftp = russh_sftp::client::SftpSession::new(channel.into_stream())
        .await
        .map_err(|e| transfer(format!("the server has no SFTP: {e}")))?;
    let dir = dest.directory.trim_end_matches('/');
    let dir = if dir.is_empty() { "/" } else { dir };
    let join = |n: &str| {
        if dir.ends_with('/') {
            format!("{dir}{n}")
        } else {
            format!("{dir}/{n}")
        }
    };
    let partial = join(&format!("{name}.part"));
    let target = join(name);
    let refused = |what: &str, e: russh_sftp::client::error::Error| PushError::Refused {
        destination: destination.to_string(),
        reason: format!("{what}: {e}"),
    };
    let mut remote = sftp
        .create(partial.clone())
        .await
        .map_err(|e| refused(&format!("cannot create {partial}"), e))?;
    let mut local = tokio::fs::File::open(file)
        .await
        .map_err(|e| PushError::Setup(format!("cannot read {}: {e}", file.display())))?;
    let sent = match tokio::io::copy(&mut local, &mut remote).await {
        Ok(_) => remote.shutdown().await,
        Err(e) => Err(e),
    };
    drop(remote);
    if let Err(e) = sent {
        // Best effort: the server keeps no part of a backup that broke off.
        let _ = sftp.remove_file(partial.clone()).await;
        return Err(transfer(e.to_string()));
    }
    if let Err(e) = sftp.rename(partial.clone(), target.clone()).await {
        // Best effort, as above: no part left beside the backups the server keeps.
        let _ = sftp.remove_file(partial.clone()).await;
        return Err(refused(&format!("cannot rename {partial} to {target}"), e));
    }
    let _ = sftp.close().await;
    let _ = session
        .disconnect(russh::Disconnect::ByApplication, "", "en")
        .await;
    Ok(())
}

fn ssh_reason(e: &russh::Error) -> String {
    match e {
        russh::Error::IO(io) => io.to_string(),
        other => other.to_string(),
    }
}

/// A host key as the operator pins it, normalized to `SHA256:<base64>`: an OpenSSH
/// public key line (`ssh-ed25519 AAAA… [comment]`, as in the server's
/// `/etc/ssh/ssh_host_ed25519_key.pub`) or its fingerprint as `ssh-keygen -lf` prints it
/// (the whole line or the `SHA256:…` word).
pub(crate) fn host_key_fingerprint(text: &str) -> Result<String, String> {
    let text = text.trim();
    if let Some(word) = text.split_whitespace().find(|w| w.starts_with("SHA256:")) {
        let b64 = &word["SHA256:".len()..];
        use base64::Engine;
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(b64.trim_end_matches('='))
            .map_err(|_| format!("{word:?} is not a SHA256 fingerprint"))?;
        if bytes.len() != 32 {
            return Err(format!("{word:?} is not a SHA256 fingerprint (32 bytes)"));
        }
        return Ok(format!(
            "SHA256:{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
        ));
    }
    let key = PublicKey::from_openssh(text).map_err(|e| {
        format!(
            "give the server's public key line (ssh-ed25519 AAAA…) or its SHA256 fingerprint as ssh-keygen -lf prints it ({e})"
        )
    })?;
    Ok(key.fingerprint(HashAlg::Sha256).to_string())
}

/// The appliance's SSH key for SFTP destinations: the `backup_client_key` record, made on
/// first use. It is the service's (a backup, a restore and the pair carry it), so that the
/// server's `authorized_keys` still admits the appliance that took over the settings.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub(crate) struct ClientKey {
    /// OpenSSH private key format, unencrypted (the store is the appliance's secret).
    pub(crate) openssh: String,
}

impl Record for ClientKey {
    const KEY: &'static str = "backup_client_key";
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ClientKey(<hidden>)")
    }
}

impl ClientKey {
    /// The key, made and stored (audit `backup.client_key`) the first time (blocking).
    pub(crate) fn load_or_create(store: &Store) -> Result<ClientKey, crate::store::Error> {
        let current = store.get::<ClientKey>()?;
        if !current.openssh.is_empty() {
            return Ok(current);
        }
        let mut seed = [0u8; 32];
        ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut seed)
            .map_err(|_| crate::store::Error::Random)?;
        let mut private = PrivateKey::from(Ed25519Keypair::from_seed(&seed));
        private.set_comment("appliance-backup");
        let fresh = ClientKey {
            openssh: private
                .to_openssh(LineEnding::LF)
                .map_err(|_| crate::store::Error::Random)?
                .to_string(),
        };
        let audit = Audit::system(
            "backup.client_key",
            "SSH key for SFTP backup destinations made",
        );
        store.change(audit, |tx| {
            let current = tx.get::<ClientKey>()?;
            if !current.openssh.is_empty() {
                return Ok(current);
            }
            tx.put(&fresh)?;
            Ok::<_, crate::store::Error>(fresh.clone())
        })
    }

    fn private(&self) -> Result<PrivateKey, String> {
        PrivateKey::from_openssh(&self.openssh)
            .map_err(|e| format!("the appliance's SSH key does not read: {e}"))
    }

    /// `ssh-ed25519 AAAA… appliance-backup`, the line for the server's `authorized_keys`.
    pub(crate) fn authorized_key(&self) -> Result<String, String> {
        self.private()?
            .public_key()
            .to_openssh()
            .map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_keys_are_pinned_by_fingerprint_in_either_spelling() {
        let key = PrivateKey::from(Ed25519Keypair::from_seed(&[7; 32]));
        let line = key.public_key().to_openssh().unwrap();
        let fp = host_key_fingerprint(&line).unwrap();
        assert!(fp.starts_with("SHA256:") && fp.len() == 50, "{fp}");
        assert_eq!(
            host_key_fingerprint(&format!("{line} root@host")).unwrap(),
            fp
        );
        let keygen = format!("256 {fp} root@host (ED25519)");
        assert_eq!(host_key_fingerprint(&keygen).unwrap(), fp);
        for bad in [
            "",
            "ssh-ed25519",
            "ssh-ed25519 AAAA",
            "SHA256:abc",
            "md5:00",
        ] {
            assert!(host_key_fingerprint(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_client_key_is_made_once() {
        let dir = crate::testdir::TestDir::new("client-key");
        let store = Store::open(&dir.path().join("settings.redb")).unwrap();
        let a = ClientKey::load_or_create(&store).unwrap();
        let b = ClientKey::load_or_create(&store).unwrap();
        assert_eq!(a, b);
        let line = a.authorized_key().unwrap();
        assert!(line.starts_with("ssh-ed25519 AAAA"), "{line}");
        assert!(!format!("{a:?}").contains("PRIVATE"));
    }
}

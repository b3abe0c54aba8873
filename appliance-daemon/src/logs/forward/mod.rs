//! Syslog forwarding (docs/logs.md "Syslog forwarding"): the log's lines and the audit
//! log's entries, as RFC 5424 messages, to the servers an administrator chose, over UDP,
//! TCP or TLS. Each server has its own bounded queue and task (`link.rs`): a slow or
//! absent server never holds the daemon, the log or the other servers.
//!
//! One source task follows the ring on data from its end (`logring::Follower`) and the
//! audit log from its newest entry, a few times a second, and queues every new line and
//! entry on every server. What happened before the daemon started, or while no server was
//! set, is not sent.

pub mod bench;
pub(crate) mod config;
mod link;
pub(crate) mod message;
mod position;
pub(crate) mod queue;

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use api_types::{Forwarding, SyslogServer, SyslogServerStatus};

use crate::store::{Audit, Store};
pub(crate) use config::{ForwardingConfig, Problem};
use link::Link;

/// How often the sources look for new lines.
const POLL: Duration = Duration::from_millis(200);
/// Bytes of the ring read at once.
const READ_BYTES: usize = 256 * 1024;
/// Audit entries read at once.
const AUDIT_BATCH: usize = 1000;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ChangeError {
    #[error("{}", .0.iter().map(|p| format!("{}: {}", p.field, p.message)).collect::<Vec<_>>().join("; "))]
    Invalid(Vec<Problem>),
    #[error(transparent)]
    Store(#[from] crate::store::Error),
}

/// The forwarding service: the links, and the sources feeding them.
#[derive(Debug)]
pub(crate) struct Forwarder {
    store: Option<Store>,
    log_dir: PathBuf,
    cap: usize,
    links: Mutex<Vec<Arc<Link>>>,
    /// On the appliance: where the position is kept (on tmpfs: it lasts one boot), so that
    /// a restart of the daemon goes on where it stopped, and the first start of a boot
    /// sends this boot's lines written before it (init's, from the ring's newest segment).
    resume: Option<PathBuf>,
}

/// The queue bound: `APPLIANCE_SYSLOG_QUEUE_BYTES` (tests), else 4 MiB.
fn cap_from_env() -> usize {
    std::env::var("APPLIANCE_SYSLOG_QUEUE_BYTES")
        .ok()
        .and_then(|v| v.parse().ok())
        .filter(|&v: &usize| v >= 1024)
        .unwrap_or(queue::DEFAULT_CAP_BYTES)
}

fn hostname() -> String {
    crate::system::hostname()
}

impl Forwarder {
    /// The service over the ring in `log_dir` and the audit log of `store` (none: the log
    /// only). Call [`Forwarder::start`] in a runtime.
    pub(crate) fn new(
        store: Option<Store>,
        log_dir: &Path,
        resume: Option<PathBuf>,
    ) -> Arc<Forwarder> {
        let mut f = Self::with_cap(store, log_dir, cap_from_env());
        if let Some(f) = Arc::get_mut(&mut f) {
            f.resume = resume;
        }
        f
    }

    pub(crate) fn with_cap(store: Option<Store>, log_dir: &Path, cap: usize) -> Arc<Forwarder> {
        Arc::new(Forwarder {
            store,
            log_dir: log_dir.to_path_buf(),
            cap,
            links: Mutex::new(Vec::new()),
            resume: None,
        })
    }

    /// Take the stored servers and start following the log.
    pub(crate) fn start(self: &Arc<Self>) {
        if let Some(store) = &self.store {
            match store.get::<ForwardingConfig>() {
                Ok(c) => self.set(&c),
                Err(e) => tracing::error!("syslog forwarding stays off: {e}"),
            }
        }
        tokio::spawn(Arc::clone(self).follow());
    }

    /// Servers as given: a link already running for the same server keeps its queue and
    /// connection; the others stop; new ones start.
    pub(crate) fn set(&self, config: &ForwardingConfig) {
        let Ok(mut links) = self.links.lock() else {
            return;
        };
        let old = std::mem::take(&mut *links);
        for server in &config.servers {
            match old.iter().find(|l| &l.server == server) {
                Some(l) => links.push(Arc::clone(l)),
                None => {
                    let l = Link::new(server.clone(), self.cap);
                    tokio::spawn(Arc::clone(&l).run(hostname));
                    links.push(l);
                }
            }
        }
        for l in old {
            if !links.iter().any(|k| Arc::ptr_eq(k, &l)) {
                l.stop();
            }
        }
    }

    fn links(&self) -> Vec<Arc<Link>> {
        self.links.lock().map(|l| l.clone()).unwrap_or_default()
    }

    /// The servers and what each link is doing.
    pub(crate) fn view(&self) -> Forwarding {
        Forwarding {
            servers: self
                .links()
                .iter()
                .map(|l| {
                    let s = l.shown();
                    SyslogServerStatus {
                        server: l.server.view(),
                        connected: s.connected,
                        queued_lines: s.queued_lines,
                        queued_bytes: s.queued_bytes,
                        dropped: s.dropped,
                        sent: s.sent,
                        last_error_at: s.last_error.as_ref().map(|(_, at)| units::rfc3339(*at)),
                        last_error: s.last_error.map(|(w, _)| w),
                    }
                })
                .collect(),
            queue_cap_bytes: self.cap as u64,
        }
    }

    /// Check the requested servers as a whole, keep them (audited) and use them; a refused
    /// list changes nothing. The API and the Logs page both come here.
    pub(crate) async fn change(
        &self,
        requested: &[SyslogServer],
        user: &str,
        address: Option<IpAddr>,
    ) -> Result<Forwarding, ChangeError> {
        let config = config::validate(requested).map_err(ChangeError::Invalid)?;
        let detail = if config.servers.is_empty() {
            "syslog forwarding off (no servers)".to_string()
        } else {
            format!(
                "syslog servers {}",
                config
                    .servers
                    .iter()
                    .map(config::Server::label)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        };
        let Some(store) = &self.store else {
            self.set(&config);
            return Ok(self.view());
        };
        let stored = config.clone();
        store
            .change_async(
                Audit::user(user, address, "logs.forwarding", detail),
                move |tx| tx.put(&stored),
            )
            .await?;
        self.set(&config);
        Ok(self.view())
    }

    /// The servers were replaced underneath (a restore, the pair's sync).
    pub(crate) fn settings_replaced(&self) -> Result<(), crate::store::Error> {
        if let Some(store) = &self.store {
            self.set(&store.get::<ForwardingConfig>()?);
        }
        Ok(())
    }

    /// The source task: new ring lines and audit entries to every link.
    async fn follow(self: Arc<Self>) {
        let audit_end = self
            .store
            .as_ref()
            .and_then(|s| s.audit_after(u64::MAX - 1, 0).ok())
            .map_or(0, |(_, last)| last);
        let saved = self.resume.as_deref().and_then(position::load);
        // The first start of a boot on the appliance: this boot's lines only.
        let mut this_boot = None;
        let (mut ring, mut audit_seen) = match (&self.resume, saved) {
            (Some(_), Some((cursor, audit))) => {
                (logring::Follower::at(&self.log_dir, cursor), audit)
            }
            (Some(_), None) => {
                this_boot = logring::boots(&self.log_dir).last().map(|b| b.number);
                (logring::Follower::at_last_segment(&self.log_dir), audit_end)
            }
            (None, _) => (logring::Follower::at_head(&self.log_dir), audit_end),
        };
        let mut saved_at = None;
        let mut warned = false;
        loop {
            if let Some(file) = &self.resume {
                let now = (ring.position(), audit_seen);
                if saved_at != Some(now) {
                    position::save(file, now.0, now.1);
                    saved_at = Some(now);
                }
            }
            let links = self.links();
            if links.is_empty() {
                // Nothing to send to: what happens meanwhile is not kept.
                ring.skip_to_head();
                if let Some(s) = &self.store {
                    if let Ok((_, last)) = s.audit_after(u64::MAX - 1, 0) {
                        audit_seen = last;
                    }
                }
                tokio::time::sleep(POLL).await;
                continue;
            }
            let host = hostname();
            let mut more = false;
            let read = tokio::task::spawn_blocking(move || {
                let r = ring.poll(READ_BYTES);
                (ring, r)
            })
            .await;
            let Ok((back, polled)) = read else {
                tracing::error!("syslog forwarding stopped: the log reader failed");
                return;
            };
            ring = back;
            match polled {
                Ok(p) => {
                    warned = false;
                    more |= p.more;
                    if p.missed {
                        tracing::warn!(
                            "syslog forwarding fell a whole log behind: lines were rotated out before they were sent"
                        );
                    }
                    let lines: Vec<Arc<str>> = p
                        .records
                        .iter()
                        .filter(|r| this_boot.is_none_or(|b| r.boot == b))
                        .map(|r| Arc::from(message::log_line(r, &host)))
                        .collect();
                    for l in &links {
                        l.push(&lines);
                    }
                }
                Err(e) if !warned => {
                    warned = true;
                    tracing::warn!("syslog forwarding cannot read the log: {e}");
                }
                Err(_) => {}
            }
            if let Some(store) = &self.store {
                match store.audit_after(audit_seen, AUDIT_BATCH) {
                    Ok((entries, last)) => {
                        // The log was cleared or replaced (a restore): go on from its end.
                        if last < audit_seen {
                            audit_seen = last;
                        }
                        more |= entries.len() == AUDIT_BATCH;
                        let lines: Vec<Arc<str>> = entries
                            .iter()
                            .filter(|e| e.restored_from.is_none())
                            .map(|e| Arc::from(message::audit(e, &host)))
                            .collect();
                        if let Some(e) = entries.last() {
                            audit_seen = e.id;
                        }
                        for l in &links {
                            l.push(&lines);
                        }
                    }
                    Err(e) if !warned => {
                        warned = true;
                        tracing::warn!("syslog forwarding cannot read the audit log: {e}");
                    }
                    Err(_) => {}
                }
            }
            if !more {
                tokio::time::sleep(POLL).await;
            }
        }
    }
}

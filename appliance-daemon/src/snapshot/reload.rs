//! After an apply, the services that keep some of the service part in memory take it
//! again from the new records and files: the accounts and policy (sessions of accounts
//! that are gone end), the served certificate, the time servers, and, when a backup
//! carried them, the network settings. Each failure is logged and named; the rest still
//! reloads.

use std::sync::Arc;

use api_types::{AssignmentOutcome, CertificateOutcome, NetworkOutcome};

use crate::auth::Auth;
use crate::time::TimeService;
use crate::tls::Certificates;

/// One handle on each service that holds part of the service snapshot in memory.
#[derive(Debug, Clone)]
pub(crate) struct Reload {
    pub(crate) auth: Arc<Auth>,
    pub(crate) tls: Arc<Certificates>,
    pub(crate) time: TimeService,
    pub(crate) net: crate::net::Handle,
    pub(crate) forwarding: Arc<crate::logs::forward::Forwarder>,
}

/// What the services did with the replaced service part.
#[derive(Debug, Clone, Default)]
pub(crate) struct Reloaded {
    pub(crate) certificate: CertificateOutcome,
    /// Each address a certificate is assigned to, and whether this machine has it.
    pub(crate) certificate_assignments: Vec<AssignmentOutcome>,
    /// When the network settings were replaced too.
    pub(crate) network: Option<NetworkOutcome>,
    /// `"<service>: <why>"` for each service that could not take it (it does at the next
    /// start).
    pub(crate) not_reloaded: Vec<String>,
}

impl Reload {
    /// The service part was replaced underneath (a restore, the pair's sync), and the
    /// network settings too when `network` (a restore of a backup carrying them).
    pub(crate) async fn run(&self, network: bool) -> Reloaded {
        let mut out = Reloaded::default();
        if let Err(e) = self.auth.settings_replaced() {
            tracing::error!("accounts after a restore: {e}");
            out.not_reloaded.push(format!("accounts and policy: {e}"));
        }
        let state = match self.tls.files_replaced().await {
            Ok(false) => "restored",
            Ok(true) => "made",
            Err(e) => {
                tracing::error!("certificate after a restore: {e}");
                out.not_reloaded.push(format!("certificate: {e}"));
                "not_reloaded"
            }
        };
        let view = self.tls.view();
        out.certificate = CertificateOutcome {
            state: state.into(),
            installed: view.installed,
            subject: self.tls.served_subject(),
            certificate_sha256: view.certificate_sha256,
        };
        out.certificate_assignments = self.tls.assignments();
        if let Err(e) = self.time.settings_replaced().await {
            tracing::error!("time servers after a restore: {e}");
            out.not_reloaded.push(format!("time servers: {e}"));
        }
        if let Err(e) = self.forwarding.settings_replaced() {
            tracing::error!("syslog servers after a restore: {e}");
            out.not_reloaded.push(format!("syslog servers: {e}"));
        }
        if network {
            out.network = Some(match self.net.reload().await {
                Some(r) => NetworkOutcome {
                    state: if r.in_force {
                        "restored"
                    } else {
                        "factory_defaults"
                    }
                    .into(),
                    hostname: r.hostname,
                    note: r.note,
                },
                None => {
                    out.not_reloaded
                        .push("network settings: the network manager has stopped".into());
                    NetworkOutcome {
                        state: "not_applied".into(),
                        ..NetworkOutcome::default()
                    }
                }
            });
        }
        out
    }
}

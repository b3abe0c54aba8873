//! The failover role's hold on the shared IPs. Out of a pair each shared IP is held when
//! its stored Enabled flag says so; in a pair the role decides for every shared IP of the
//! settings: the primary holds them all (each after the ARP/NDP probe finds it free), the
//! backup none. The stored settings never change: after a break the Enabled flags decide
//! again. An address another host answers for is not taken; the primary probes for it
//! again every [`RETRY`] until it is free (the old primary releasing it late, say).

use std::time::Duration;
use tokio::time::Instant;

use super::Manager;
use crate::net::config::mac_text;
use crate::net::shared::{self, Probe};
use crate::net::SharedIps;

/// How often a primary probes again for a shared IP another host held.
const RETRY: Duration = Duration::from_secs(1);

/// An address another host answered for (or that could not be probed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answered {
    /// `10.0.0.50/24`.
    pub address: String,
    /// The MAC that answered, or why the probe failed.
    pub by: String,
}

/// What a probe of the shared IPs found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Probed {
    /// The addresses probed (those of the settings this appliance does not hold).
    pub probed: Vec<String>,
    /// Those another host answered for.
    pub answered: Vec<Answered>,
}

/// The shared IPs after a role change.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct RoleOutcome {
    /// Held by this appliance now.
    pub held: Vec<String>,
    /// Wanted, but another host answers for them: not taken.
    pub conflicts: Vec<Answered>,
}

impl Manager {
    /// Whether a shared IP whose stored Enabled flag is `enabled` is to be held.
    pub(super) fn wants(&self, enabled: bool) -> bool {
        match self.role {
            SharedIps::Operator => enabled,
            SharedIps::Hold => true,
            SharedIps::Release => false,
        }
    }

    /// Who holds the shared IPs from now on: release first what is no longer wanted, then
    /// probe and take what is; audited with `why`.
    pub(super) async fn set_role(&mut self, role: SharedIps, why: &str) -> RoleOutcome {
        let before = self.held_set();
        if role != self.role {
            tracing::info!(
                ?role,
                "network: the shared IPs follow the failover role ({why})"
            );
        }
        self.role = role;
        self.refused.clear();
        self.refresh_nics().await;
        let taken = self.probe_for_start().await;
        if let Err(err) = self.apply_all(taken).await {
            tracing::error!("network: the shared IPs could not all follow the role: {err}");
        }
        self.audit_shared(&before, None, why).await;
        self.schedule_retry();
        self.outcome()
    }

    /// The primary's next try at the shared IPs another host held.
    pub(super) async fn retry_role(&mut self) {
        self.retry_at = None;
        if self.role != SharedIps::Hold || self.refused.is_empty() {
            return;
        }
        let before = self.held_set();
        let mut taken = Vec::new();
        for s in self.running.shared_ips.clone() {
            if !self.refused.contains_key(&s.address) {
                continue;
            }
            match self.probe_one(&self.running, s.address, &s.mac).await {
                Ok(Some(Ok(t))) => {
                    self.refused.remove(&s.address);
                    taken.push(t);
                }
                Ok(Some(Err(holder))) => {
                    tracing::debug!("network: {} still held by {}", s.address, mac_text(&holder));
                }
                Ok(None) => {
                    self.refused.remove(&s.address);
                }
                Err(err) => tracing::warn!("network: {err}"),
            }
        }
        if !taken.is_empty() {
            if let Err(err) = self.apply_all(taken).await {
                tracing::error!("network: taking a freed shared IP failed: {err}");
            }
            self.audit_shared(&before, None, "failover primary: the address became free")
                .await;
        }
        self.schedule_retry();
    }

    fn schedule_retry(&mut self) {
        self.retry_at = (self.role == SharedIps::Hold && !self.refused.is_empty())
            .then(|| Instant::now() + RETRY);
    }

    fn outcome(&self) -> RoleOutcome {
        RoleOutcome {
            held: self.shared.keys().map(ToString::to_string).collect(),
            conflicts: self
                .refused
                .iter()
                .map(|(ip, (mac, _))| Answered {
                    address: ip.to_string(),
                    by: mac_text(mac),
                })
                .collect(),
        }
    }

    /// Probe every shared IP of the settings not held here, whatever its Enabled flag:
    /// those another host answers for.
    pub(super) async fn probe_shared(&mut self) -> Probed {
        self.refresh_nics().await;
        let mut found = Probed::default();
        if self.kernel.is_none() {
            return found;
        }
        for s in self.running.shared_ips.clone() {
            if self.shared.get(&s.address).is_some_and(|h| h.mac == s.mac) {
                continue;
            }
            let (Some(link), Some(own)) = (
                self.nic_by_mac(&s.mac).cloned(),
                crate::net::config::parse_mac(&s.mac),
            ) else {
                continue;
            };
            found.probed.push(s.address.to_string());
            let by = match shared::probe(link.index, own, s.address.addr).await {
                Ok(Probe::Free(_)) => continue,
                Ok(Probe::Taken(holder)) => mac_text(&holder),
                Err(err) => format!("the probe on {} failed: {err}", link.name),
            };
            found.answered.push(Answered {
                address: s.address.to_string(),
                by,
            });
        }
        found
    }

    /// The failover role's word for the view of a shared IP (`None` out of a pair), and
    /// its state and message when the role decides.
    pub(super) fn role_view(
        &self,
        held_on: Option<&str>,
        refused_by: Option<&[u8; 6]>,
    ) -> (Option<&'static str>, Option<(&'static str, String)>) {
        match self.role {
            SharedIps::Operator => (None, None),
            SharedIps::Release => (
                Some("backup"),
                Some((
                    "standby",
                    "not held: this appliance is the failover backup (the primary holds it)"
                        .to_string(),
                )),
            ),
            SharedIps::Hold => {
                let state = match (held_on, refused_by) {
                    (Some(_), _) if self.kernel.is_none() => None,
                    (Some(iface), _) => Some((
                        "held",
                        format!(
                            "held on {iface} and announced: this appliance is the failover \
                             primary"
                        ),
                    )),
                    (None, Some(mac)) => Some((
                        "conflict",
                        format!(
                            "this appliance is the failover primary, but {} holds it: not \
                             taken; probed again every second",
                            mac_text(mac)
                        ),
                    )),
                    (None, None) => None,
                };
                (Some("primary"), state)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::net::config::{InterfaceConfig, NetworkConfig, SharedIpConfig};
    use crate::net::{Actor, Options, SharedIps};
    use crate::store::Store;
    use crate::testdir::TestDir;

    const ETH0: &str = "52:54:00:12:34:56";

    /// The dev-mode manager (nothing applied, its NICs the examples) with a shared IP
    /// whose stored Enabled flag is `enabled`.
    async fn manager(dir: &TestDir, enabled: bool) -> crate::net::Handle {
        let store = Store::open(&dir.path().join("settings.redb")).unwrap();
        let net = crate::net::start(Options {
            kernel: None,
            store: Some(store),
            profile: "vm".into(),
            config: None,
            init_dir: None,
            confirm_after: crate::net::CONFIRM_AFTER,
            unapplied: None,
            shared_role: SharedIps::Operator,
        })
        .await
        .unwrap();
        let config = NetworkConfig {
            interfaces: vec![InterfaceConfig {
                mac: ETH0.into(),
                up: true,
                addresses: vec!["10.0.0.1/24".into()],
                ..InterfaceConfig::default()
            }],
            shared_ips: vec![SharedIpConfig {
                address: "10.0.0.50/24".into(),
                interface: ETH0.into(),
                enabled,
            }],
            ..NetworkConfig::default()
        };
        let actor = Actor {
            user: "admin".into(),
            address: None,
            remote: false,
            received: None,
        };
        net.put(config, actor).await.unwrap();
        net
    }

    #[tokio::test]
    async fn the_role_decides_over_the_enabled_flag_and_the_flag_decides_again_out_of_a_pair() {
        let dir = TestDir::new("net-role");
        let net = manager(&dir, false).await;
        let shared = |v: crate::net::NetworkView| v.shared_ips[0].clone();
        assert!(!shared(net.view().await.unwrap()).held);

        let held = net.shared_role(SharedIps::Hold, "test").await.unwrap();
        assert_eq!(held.held, vec!["10.0.0.50/24"]);
        assert!(held.conflicts.is_empty());
        let s = shared(net.view().await.unwrap());
        assert!(s.held);
        assert!(!s.enabled, "the stored flag is untouched");
        assert_eq!(s.role, Some("primary"));

        let released = net.shared_role(SharedIps::Release, "test").await.unwrap();
        assert!(released.held.is_empty());
        let s = shared(net.view().await.unwrap());
        assert!(!s.held);
        assert_eq!((s.role, s.state), (Some("backup"), "standby"));
        assert!(s.message.contains("failover backup"), "{}", s.message);
        // Dev mode probes nothing.
        assert!(net.probe_shared().await.unwrap().probed.is_empty());

        // Out of a pair: the flag (off) decides.
        net.shared_role(SharedIps::Operator, "test").await.unwrap();
        let s = shared(net.view().await.unwrap());
        assert!(!s.held);
        assert_eq!((s.role, s.state), (None, "disabled"));
    }

    #[tokio::test]
    async fn out_of_a_pair_an_enabled_shared_ip_is_held_again() {
        let dir = TestDir::new("net-role-on");
        let net = manager(&dir, true).await;
        net.shared_role(SharedIps::Release, "test").await.unwrap();
        assert!(!net.view().await.unwrap().shared_ips[0].held);
        let back = net.shared_role(SharedIps::Operator, "test").await.unwrap();
        assert_eq!(back.held, vec!["10.0.0.50/24"]);
    }
}

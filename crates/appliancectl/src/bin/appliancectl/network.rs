//! The network as an administrator reads it: per NIC its addresses, routes and DHCP lease,
//! the shared IPs, DNS, hostname and a change waiting for confirmation; and what a change
//! of settings changes, line by line.

use crate::render::{aligned, push, utc};
use appliancectl::api::{Interface, NetworkConfig, NetworkView, SharedIp};

pub(crate) fn view(view: &NetworkView) -> String {
    let mut rows = Vec::new();
    push(&mut rows, "Hostname", Some(view.hostname.clone()));
    push(&mut rows, "DNS servers", Some(list(&view.dns.servers)));
    push(&mut rows, "DNS search", Some(list(&view.dns.search)));
    if view.factory_default {
        push(
            &mut rows,
            "Settings",
            Some("factory defaults (never changed)".to_string()),
        );
    }
    let mut text = aligned(&rows);
    for nic in &view.interfaces {
        text.push_str(&interface(nic));
    }
    for ip in &view.shared_ips {
        text.push_str(&shared_ip(ip, view));
    }
    if let Some(p) = &view.pending {
        let from = p.from.map(|f| format!(" from {f}")).unwrap_or_default();
        text.push_str(&format!(
            "Pending change by {}{from}: reverts in {} s (at {}) unless confirmed: \
             run `appliancectl network confirm`\n",
            p.by,
            p.seconds_left,
            utc(p.deadline)
        ));
    }
    for note in &view.notes {
        text.push_str(&format!("Note: {note}\n"));
    }
    text
}

fn list(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_string()
    } else {
        items.join(" ")
    }
}

fn interface(nic: &Interface) -> String {
    let mut head = vec![nic.mac.clone()];
    head.push(if nic.up { "up" } else { "down" }.to_string());
    head.push(if nic.carrier { "link" } else { "no link" }.to_string());
    // 0: not reported.
    if nic.mtu > 0 {
        head.push(format!("MTU {}", nic.mtu));
    }
    if !nic.configured {
        head.push("not configured (kept down)".to_string());
    }
    let mut text = format!("Interface {}: {}\n", nic.name, head.join(", "));
    for a in &nic.addresses {
        let left = a
            .valid_seconds
            .map(|s| format!(", {s} s left"))
            .unwrap_or_default();
        text.push_str(&format!("  address {} ({}{left})\n", a.address, a.origin));
    }
    for r in &nic.routes {
        let via = r
            .gateway
            .as_deref()
            .map(|g| format!(" via {g}"))
            .unwrap_or_default();
        text.push_str(&format!("  route {}{via} ({})\n", r.destination, r.origin));
    }
    if let Some(dhcp) = &nic.dhcp {
        let mut line = format!("  DHCP {}", dhcp.state);
        // 0: not reported.
        if dhcp.since > 0 {
            line.push_str(&format!(" since {}", utc(dhcp.since)));
        }
        if let Some(lease) = &dhcp.lease {
            line.push_str(&format!(": lease {}", lease.address));
            if let Some(server) = &lease.server {
                line.push_str(&format!(" from {server}"));
            }
            if let Some(gateway) = &lease.gateway {
                line.push_str(&format!(", gateway {gateway}"));
            }
            if !lease.dns.is_empty() {
                line.push_str(&format!(", DNS {}", lease.dns.join(" ")));
            }
            match lease.expires_in {
                Some(s) => line.push_str(&format!(", expires in {s} s")),
                None => line.push_str(", never expires"),
            }
        } else if !dhcp.message.is_empty() {
            line.push_str(&format!(": {}", dhcp.message));
        }
        text.push_str(&line);
        text.push('\n');
    }
    text
}

fn shared_ip(ip: &SharedIp, view: &NetworkView) -> String {
    let nic = ip.interface_name.clone().unwrap_or_else(|| {
        view.interfaces
            .iter()
            .find(|n| n.mac == ip.interface)
            .map_or_else(|| ip.interface.clone(), |n| n.name.clone())
    });
    let mut parts = vec![
        format!("on {nic}"),
        if ip.enabled { "enabled" } else { "disabled" }.to_string(),
    ];
    if !ip.state.is_empty() {
        parts.push(ip.state.replace('_', " "));
    }
    if let Some(c) = &ip.conflict {
        parts.push(format!("claimed by {} at {}", c.mac, utc(c.at)));
    }
    let message = if ip.message.is_empty() {
        String::new()
    } else {
        format!(" ({})", ip.message)
    };
    format!("Shared IP {}: {}{message}\n", ip.address, parts.join(", "))
}

/// The settings as `(what, value)` lines in a fixed order, for comparing two versions.
fn lines(config: &NetworkConfig) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let hostname = if config.hostname.is_empty() {
        "(unchanged)".to_string()
    } else {
        config.hostname.clone()
    };
    out.push(("hostname".to_string(), hostname));
    for nic in &config.interfaces {
        let mut parts = vec![if nic.up { "up" } else { "down" }.to_string()];
        if nic.dhcp {
            parts.push("DHCP".to_string());
        }
        if let Some(mtu) = nic.mtu {
            parts.push(format!("MTU {mtu}"));
        }
        parts.extend(nic.addresses.iter().cloned());
        out.push((format!("interface {}", nic.mac), parts.join(" ")));
    }
    out.push(("gateways".to_string(), list(&config.gateways)));
    for r in &config.routes {
        out.push((
            format!("route {}", r.destination),
            format!("via {}", r.gateway),
        ));
    }
    out.push(("DNS servers".to_string(), list(&config.dns.servers)));
    out.push(("DNS search".to_string(), list(&config.dns.search)));
    for ip in &config.shared_ips {
        let state = if ip.enabled { "enabled" } else { "disabled" };
        out.push((
            format!("shared IP {}", ip.address),
            format!("on {}, {state}", ip.interface),
        ));
    }
    out
}

/// What changed from `before` to `after`, one line each: `what: old -> new`, `+ what: new`
/// (added) or `- what: old` (removed). Empty when nothing changed.
pub(crate) fn changes(before: &NetworkConfig, after: &NetworkConfig) -> Vec<String> {
    let (old, new) = (lines(before), lines(after));
    let value = |set: &[(String, String)], key: &str| {
        set.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    };
    let mut out = Vec::new();
    for (key, was) in &old {
        match value(&new, key) {
            Some(now) if &now != was => out.push(format!("  {key}: {was} -> {now}")),
            Some(_) => {}
            None => out.push(format!("- {key}: {was}")),
        }
    }
    for (key, now) in &new {
        if value(&old, key).is_none() {
            out.push(format!("+ {key}: {now}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn config(value: serde_json::Value) -> NetworkConfig {
        serde_json::from_value(value).unwrap()
    }

    #[test]
    fn changes_name_each_setting_once() {
        let before = config(json!({
            "interfaces": [{"mac": "52:54:00:12:34:56", "dhcp": true}],
            "dns": {"servers": ["10.0.2.3"]},
            "shared_ips": [{"address": "192.168.1.50/24", "interface": "52:54:00:12:34:56"}]
        }));
        let after = config(json!({
            "hostname": "support",
            "interfaces": [{"mac": "52:54:00:12:34:56", "addresses": ["192.168.1.10/24"]},
                           {"mac": "52:54:00:12:34:57", "up": false}],
            "gateways": ["192.168.1.1"],
            "routes": [{"destination": "10.20.0.0/16", "gateway": "192.168.1.254"}],
            "dns": {"servers": ["10.0.2.3"]}
        }));
        assert_eq!(
            changes(&before, &after),
            vec![
                "  hostname: (unchanged) -> support",
                "  interface 52:54:00:12:34:56: up DHCP -> up 192.168.1.10/24",
                "  gateways: none -> 192.168.1.1",
                "- shared IP 192.168.1.50/24: on 52:54:00:12:34:56, disabled",
                "+ interface 52:54:00:12:34:57: down",
                "+ route 10.20.0.0/16: via 192.168.1.254",
            ]
        );
        assert!(changes(&after, &after).is_empty());
    }

    #[test]
    fn view_shows_nics_leases_shared_ips_and_the_pending_change() {
        let parsed: NetworkView = serde_json::from_value(json!({
            "config": {"interfaces": [{"mac": "52:54:00:12:34:56", "dhcp": true}]},
            "factory_default": false,
            "applied": true,
            "notes": ["dev mode: nothing is applied to the machine"],
            "pending": {"seconds_left": 95, "deadline": 1_700_000_000, "by": "admin",
                        "from": "192.0.2.7", "previous": {}},
            "interfaces": [{
                "name": "eth0", "mac": "52:54:00:12:34:56", "configured": true, "up": true,
                "carrier": true, "mtu": 1500,
                "addresses": [{"address": "10.0.2.15/24", "origin": "dhcp", "valid_seconds": 3500},
                              {"address": "192.168.1.50/24", "origin": "shared", "valid_seconds": null}],
                "routes": [{"destination": "default", "gateway": "10.0.2.2", "origin": "dhcp"}],
                "dhcp": {"state": "bound", "since": 1_699_999_000, "message": "bound",
                         "lease": {"address": "10.0.2.15/24", "gateway": "10.0.2.2",
                                   "dns": ["10.0.2.3"], "search": [], "server": "10.0.2.2",
                                   "lease_seconds": 3600, "obtained_at": 1_699_999_000,
                                   "expires_in": 3500}}
            }],
            "shared_ips": [{"address": "192.168.1.50/24", "interface": "52:54:00:12:34:56",
                            "interface_name": "eth0", "enabled": true, "held": true,
                            "state": "held", "message": "", "since": 1_699_999_500,
                            "announcements": 3, "last_announced": null, "conflict": null}],
            "dns": {"servers": ["10.0.2.3"], "search": ["example.com"]},
            "hostname": "appliance",
            "shared_ip_history": []
        }))
        .unwrap();
        assert_eq!(
            view(&parsed),
            "\
Hostname:    appliance
DNS servers: 10.0.2.3
DNS search:  example.com
Interface eth0: 52:54:00:12:34:56, up, link, MTU 1500
  address 10.0.2.15/24 (dhcp, 3500 s left)
  address 192.168.1.50/24 (shared)
  route default via 10.0.2.2 (dhcp)
  DHCP bound since 2023-11-14T21:56:40Z: lease 10.0.2.15/24 from 10.0.2.2, gateway 10.0.2.2, DNS 10.0.2.3, expires in 3500 s
Shared IP 192.168.1.50/24: on eth0, enabled, held
Pending change by admin from 192.0.2.7: reverts in 95 s (at 2023-11-14T22:13:20Z) unless confirmed: run `appliancectl network confirm`
Note: dev mode: nothing is applied to the machine
"
        );
    }
}

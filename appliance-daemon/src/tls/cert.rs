//! The appliance's self-signed certificate: ECDSA P-256 (accepted by every browser), valid
//! for the hostname, `localhost` and the addresses the appliance has when it is made.
//!
//! Validity is rcgen's default (1975-4096) on purpose: the appliance may boot with a wrong
//! clock before NTP syncs, and a certificate that is "not yet valid" would lock the
//! operator out of the one interface that can fix the clock.

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};
use std::net::IpAddr;

pub(super) struct Generated {
    pub cert_pem: String,
    pub key_pem: String,
}

/// Make a certificate for `hostname` and `addresses`, with a new P-256 key or with the key
/// of `key_pem` (a re-issue for new names keeps the key, so public-key pins stay valid).
pub(super) fn generate(
    hostname: &str,
    addresses: &[IpAddr],
    key_pem: Option<&str>,
) -> Result<Generated, rcgen::Error> {
    let mut names = vec!["localhost".to_string()];
    if !hostname.is_empty() && hostname != "localhost" {
        names.insert(0, hostname.to_string());
    }
    let mut params = CertificateParams::new(names)?;
    for ip in addresses {
        params.subject_alt_names.push(SanType::IpAddress(*ip));
    }
    let mut dn = DistinguishedName::new();
    dn.push(
        DnType::CommonName,
        if hostname.is_empty() {
            "localhost"
        } else {
            hostname
        },
    );
    dn.push(DnType::OrganizationName, "Remote Support Appliance");
    params.distinguished_name = dn;
    let key = match key_pem {
        Some(pem) => KeyPair::from_pem(pem)?,
        None => KeyPair::generate_for(&rcgen::PKCS_ECDSA_P256_SHA256)?,
    };
    let cert = params.self_signed(&key)?;
    Ok(Generated {
        cert_pem: cert.pem(),
        key_pem: key.serialize_pem(),
    })
}

/// The addresses to name in a new certificate: loopback plus whatever interfaces are up.
/// Link-local IPv6 addresses are left out (a browser cannot use them without a zone).
pub(super) fn local_addresses() -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = vec![[127, 0, 0, 1].into(), std::net::Ipv6Addr::LOCALHOST.into()];
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return out;
    };
    for ifa in addrs {
        let Some(addr) = ifa.address else { continue };
        let ip: IpAddr = if let Some(v4) = addr.as_sockaddr_in() {
            v4.ip().into()
        } else if let Some(v6) = addr.as_sockaddr_in6() {
            let ip = v6.ip();
            if (ip.segments()[0] & 0xffc0) == 0xfe80 {
                continue;
            }
            ip.into()
        } else {
            continue;
        };
        if !out.contains(&ip) {
            out.push(ip);
        }
    }
    out
}

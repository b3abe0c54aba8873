//! Which certificate a connection gets: by the local address it arrived on, then by the
//! server name it asks for (SNI) among the certificates assigned somewhere, then the one
//! assigned to every address (`*`), else the self-signed one. The choice is a table of
//! ready rustls configurations swapped whole on any change ([`Selector::set`]); a handshake
//! costs an atomic load and one or two hash lookups, no lock, no disk, no parsing.

use arc_swap::ArcSwap;
use rustls::pki_types::CertificateDer;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use super::store::{Store, ANY};
use super::Error;

/// Serves one certificate.
#[derive(Debug)]
struct Fixed(Arc<CertifiedKey>);

impl ResolvesServerCert for Fixed {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(Arc::clone(&self.0))
    }
}

/// What a connection is served: the TLS configuration, and whether its HTTPS answers
/// carry `Strict-Transport-Security` (a certificate that is not self-signed, HSTS on).
#[derive(Debug, Clone)]
pub(crate) struct Served {
    pub(crate) config: Arc<ServerConfig>,
    pub(crate) hsts: bool,
}

/// `Strict-Transport-Security` as the appliance sends it: a year, this host only (its
/// host name's domain may hold hosts that do not speak HTTPS).
pub(crate) const HSTS: &str = "max-age=31536000";

/// The configurations of one moment.
#[derive(Debug)]
pub(crate) struct Table {
    by_address: HashMap<IpAddr, Served>,
    /// The leaf each assigned address serves (the self-check pins it).
    leaf_by_address: HashMap<IpAddr, CertificateDer<'static>>,
    /// Exact DNS names (lower case) of assigned certificates.
    by_name: HashMap<String, Served>,
    /// `*.example.com` of assigned certificates, keyed by `example.com`.
    by_wildcard: HashMap<String, Served>,
    fallback: Served,
    /// The leaf served where nothing is assigned (the self-check pins it).
    fallback_leaf: CertificateDer<'static>,
}

impl Table {
    /// The table for the self-signed certificate and the store's assignments, served as
    /// the store's settings say.
    pub(crate) fn build(self_signed: Arc<CertifiedKey>, store: &Store) -> Result<Table, Error> {
        let only_13 = store.settings.min_tls_version == "1.3";
        let served = |key: Arc<CertifiedKey>, self_signed: bool| {
            Ok::<_, Error>(Served {
                config: config(key, only_13)?,
                hsts: store.settings.hsts && !self_signed,
            })
        };
        let mut table = Table {
            by_address: HashMap::new(),
            leaf_by_address: HashMap::new(),
            by_name: HashMap::new(),
            by_wildcard: HashMap::new(),
            fallback_leaf: self_signed.cert[0].clone(),
            fallback: served(self_signed, true)?,
        };
        for entry in &store.entries {
            if entry.record.assigned.is_empty() {
                continue;
            }
            let this = served(Arc::clone(&entry.certified), entry.info.self_signed)?;
            for address in &entry.record.assigned {
                if address == ANY {
                    table.fallback = this.clone();
                    table.fallback_leaf = entry.chain[0].clone();
                } else if let Ok(ip) = address.parse::<IpAddr>() {
                    table.by_address.insert(ip, this.clone());
                    table.leaf_by_address.insert(ip, entry.chain[0].clone());
                }
            }
            for name in &entry.info.dns_names {
                match name.strip_prefix("*.") {
                    Some(rest) => table.by_wildcard.insert(rest.to_string(), this.clone()),
                    None => table.by_name.insert(name.clone(), this.clone()),
                };
            }
        }
        Ok(table)
    }

    /// The configuration for a connection to `local` asking for `server_name`.
    pub(crate) fn choose(&self, local: IpAddr, server_name: Option<&str>) -> &Served {
        if let Some(config) = self.by_address.get(&local.to_canonical()) {
            return config;
        }
        if let Some(name) = server_name {
            // Clients send SNI in lower case in practice; anything else falls through.
            if let Some(config) = self.by_name.get(name) {
                return config;
            }
            if let Some(config) = name
                .split_once('.')
                .and_then(|(_, rest)| self.by_wildcard.get(rest))
            {
                return config;
            }
        }
        &self.fallback
    }
}

/// The table in force, replaced whole.
#[derive(Debug)]
pub(crate) struct Selector(ArcSwap<Table>);

impl Selector {
    pub(crate) fn new(table: Table) -> Arc<Self> {
        Arc::new(Selector(ArcSwap::from_pointee(table)))
    }

    /// Serve `table` from the next handshake on (connections under way keep theirs).
    pub(crate) fn set(&self, table: Table) {
        self.0.store(Arc::new(table));
    }

    /// The configuration for a connection (see [`Table::choose`]).
    pub(crate) fn choose(&self, local: IpAddr, server_name: Option<&str>) -> Served {
        self.0.load().choose(local, server_name).clone()
    }

    /// The leaf served on an address with no assignment.
    pub(crate) fn fallback_leaf(&self) -> CertificateDer<'static> {
        self.0.load().fallback_leaf.clone()
    }

    /// The leaf served on `ip` to a client that sends no server name.
    pub(crate) fn leaf_for(&self, ip: IpAddr) -> CertificateDer<'static> {
        let table = self.0.load();
        table
            .leaf_by_address
            .get(&ip.to_canonical())
            .unwrap_or(&table.fallback_leaf)
            .clone()
    }
}

/// The server configuration for one certificate: TLS 1.3 and 1.2 (1.3 alone when
/// `only_13`) with ring's default suites (ECDHE key exchange with AES-GCM or
/// ChaCha20-Poly1305 only), HTTP/1.1 by ALPN.
fn config(served: Arc<CertifiedKey>, only_13: bool) -> Result<Arc<ServerConfig>, Error> {
    let versions: &[&rustls::SupportedProtocolVersion] = if only_13 {
        &[&rustls::version::TLS13]
    } else {
        &[&rustls::version::TLS13, &rustls::version::TLS12]
    };
    let mut config = ServerConfig::builder_with_provider(super::provider())
        .with_protocol_versions(versions)
        .map_err(|source| Error::Rustls {
            dir: std::path::PathBuf::new(),
            source,
        })?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(Fixed(served)));
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::super::import;
    use super::super::store::{Entry, Record, Store};
    use super::*;

    fn entry(id: &str, names: &[&str], assigned: &[&str]) -> Entry {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(
            names.iter().map(ToString::to_string).collect::<Vec<_>>(),
        )
        .unwrap()
        .self_signed(&key)
        .unwrap();
        let chain = vec![cert.der().clone()];
        let pkcs8 = rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der());
        Entry {
            record: Record {
                id: id.into(),
                name: id.into(),
                added: 0,
                assigned: assigned.iter().map(ToString::to_string).collect(),
            },
            info: import::info(cert.der()).unwrap(),
            certified: import::certified(&chain, &pkcs8).unwrap(),
            chain,
        }
    }

    #[test]
    fn by_address_then_server_name_then_star_then_self_signed() {
        let own = entry("own", &["appliance"], &[]);
        let a = entry("a", &["a.example.com"], &["10.0.0.1"]);
        let b = entry("b", &["*.example.org"], &["10.0.0.2", "::1"]);
        let dormant = entry("dormant", &["dormant.example.com"], &[]);
        let mut store = Store {
            entries: vec![a.clone(), b.clone(), dormant],
            settings: api_types::CertificateSettings::default(),
        };
        let table = Table::build(Arc::clone(&own.certified), &store).unwrap();
        let same = |x: &Served, y: &Served| Arc::ptr_eq(&x.config, &y.config);
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        let for_a = table.choose(ip("10.0.0.1"), None);
        let for_b = table.choose(ip("10.0.0.2"), None);
        let fallback = table.choose(ip("10.0.0.9"), None);
        assert!(!same(for_a, for_b) && !same(for_a, fallback) && !same(for_b, fallback));
        // The address first, whatever the name asked.
        assert!(same(
            table.choose(ip("10.0.0.1"), Some("x.example.org")),
            for_a
        ));
        // IPv6 and IPv4-mapped addresses.
        assert!(same(
            table.choose(ip("::1"), None),
            table.choose(ip("10.0.0.2"), None)
        ));
        assert!(same(table.choose(ip("::ffff:10.0.0.1"), None), for_a));
        // Then the name, among assigned certificates (exact, then one wildcard label).
        assert!(same(
            table.choose(ip("10.0.0.9"), Some("a.example.com")),
            for_a
        ));
        assert!(same(
            table.choose(ip("10.0.0.9"), Some("x.example.org")),
            for_b
        ));
        assert!(same(
            table.choose(ip("10.0.0.9"), Some("y.x.example.org")),
            fallback
        ));
        assert!(same(
            table.choose(ip("10.0.0.9"), Some("dormant.example.com")),
            fallback
        ));
        assert_eq!(table.fallback_leaf, own.chain[0]);
        // `*` takes the place of the self-signed one.
        store.entries[0].record.assigned.push(ANY.into());
        let table = Table::build(Arc::clone(&own.certified), &store).unwrap();
        assert_eq!(table.fallback_leaf, a.chain[0]);
        let selector = Selector::new(table);
        assert_eq!(selector.leaf_for(ip("10.0.0.2")), b.chain[0]);
        assert_eq!(selector.leaf_for(ip("127.0.0.1")), a.chain[0]);
    }
}

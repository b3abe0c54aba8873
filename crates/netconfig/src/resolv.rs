//! The resolver file's content: the name servers and search domains of the settings
//! first, then those learnt from every interface's lease, merged in interface-name order,
//! without duplicates and within the resolver's limits. The daemon writes it to
//! `/run/resolv.conf`.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::validate::{MAX_DNS_SERVERS, MAX_SEARCH};

/// What one interface contributes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Source {
    pub servers: Vec<IpAddr>,
    pub search: Vec<String>,
}

/// The name servers and search domains of the configured source then the leases', without
/// duplicates and within the resolver's limits.
pub fn merge<'a>(
    configured: &'a Source,
    sources: &'a BTreeMap<String, Source>,
) -> (Vec<IpAddr>, Vec<&'a str>) {
    let mut servers: Vec<IpAddr> = Vec::new();
    let mut search: Vec<&str> = Vec::new();
    for source in std::iter::once(configured).chain(sources.values()) {
        for s in &source.servers {
            if !servers.contains(s) && !s.is_unspecified() {
                servers.push(*s);
            }
        }
        for d in &source.search {
            // A domain with blanks would split into several on the `search` line.
            if !d.is_empty() && !d.contains(char::is_whitespace) && !search.contains(&d.as_str()) {
                search.push(d);
            }
        }
    }
    // More would be silently unused by the resolver.
    servers.truncate(MAX_DNS_SERVERS);
    search.truncate(MAX_SEARCH);
    (servers, search)
}

/// The file's content for the configured source then the leases'.
pub fn render(configured: &Source, sources: &BTreeMap<String, Source>) -> String {
    let (servers, search) = merge(configured, sources);
    let mut out =
        String::from("# Written by appliance-daemon from the network settings and DHCP leases.\n");
    if !search.is_empty() {
        out.push_str(&format!("search {}\n", search.join(" ")));
    }
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn src(servers: &[&str], search: &[&str]) -> Source {
        Source {
            servers: servers.iter().map(|s| s.parse().unwrap()).collect(),
            search: search
                .iter()
                .map(std::string::ToString::to_string)
                .collect(),
        }
    }

    #[test]
    fn merges_interfaces_in_name_order_without_duplicates_and_within_limits() {
        let mut m = BTreeMap::new();
        m.insert(
            "eth1".into(),
            src(&["10.1.0.1", "10.0.2.3"], &["b.example"]),
        );
        m.insert(
            "eth0".into(),
            src(&["10.0.2.3", "0.0.0.0"], &["a.example", "bad name"]),
        );
        m.insert("eth2".into(), src(&["10.2.0.1", "10.3.0.1"], &[]));
        assert_eq!(
            render(&Source::default(), &m),
            "# Written by appliance-daemon from the network settings and DHCP leases.\n\
             search a.example b.example\n\
             nameserver 10.0.2.3\n\
             nameserver 10.1.0.1\n\
             nameserver 10.2.0.1\n"
        );
        // The settings' servers come first and push the leases' out.
        let text = render(&src(&["2001:db8::53", "10.2.0.1"], &["site.example"]), &m);
        assert!(
            text.ends_with(
                "search site.example a.example b.example\n\
                 nameserver 2001:db8::53\n\
                 nameserver 10.2.0.1\n\
                 nameserver 10.0.2.3\n"
            ),
            "{text}"
        );
    }
}

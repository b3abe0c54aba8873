//! `/run/resolv.conf`: the name servers and search domains of the settings first, then
//! those learnt from every interface's lease, merged in interface-name order
//! (`netconfig::resolv` makes the content; this keeps the file). The slot's
//! `/etc/resolv.conf` may point here; the file lives on tmpfs, so a boot never starts with
//! a stale one.

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub(crate) use netconfig::resolv::Source;
use netconfig::resolv::{merge, render};

/// The file and the sources it was last written from; one per daemon, shared by the
/// interfaces' DHCP tasks.
#[derive(Debug)]
pub(crate) struct ResolvConf {
    path: PathBuf,
    sources: Mutex<Sources>,
}

#[derive(Debug, Default)]
struct Sources {
    configured: Source,
    leases: BTreeMap<String, Source>,
}

impl Sources {
    fn render(&self) -> String {
        render(&self.configured, &self.leases)
    }
}

impl ResolvConf {
    pub(crate) fn new(path: impl Into<PathBuf>) -> Self {
        ResolvConf {
            path: path.into(),
            sources: Mutex::new(Sources::default()),
        }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Record what `iface` contributes (`None`: nothing any more) and rewrite the file if
    /// its content changes.
    pub(crate) fn update(&self, iface: &str, source: Option<Source>) -> std::io::Result<()> {
        self.change(|sources| {
            match source {
                Some(s) => sources.leases.insert(iface.to_string(), s),
                None => sources.leases.remove(iface),
            };
        })
    }

    /// Set what the settings contribute (listed before every lease's).
    pub(crate) fn set_configured(&self, source: Source) -> std::io::Result<()> {
        self.change(|sources| sources.configured = source)
    }

    /// The name servers and search domains written now.
    pub(crate) fn current(&self) -> (Vec<IpAddr>, Vec<String>) {
        let sources = self
            .sources
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let (servers, search) = merge(&sources.configured, &sources.leases);
        (servers, search.into_iter().map(str::to_string).collect())
    }

    fn change(&self, f: impl FnOnce(&mut Sources)) -> std::io::Result<()> {
        // A poisoned lock only means another task panicked mid-update; the map is still
        // whole, so carry on with it.
        let mut sources = self
            .sources
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let before = sources.render();
        f(&mut sources);
        let after = sources.render();
        if after == before && self.path.exists() {
            return Ok(());
        }
        write_replacing(&self.path, after.as_bytes())
    }
}

/// Readers see the old file or the new one, never a half-written one. No fsync: the
/// file lives on tmpfs and is rewritten from the leases at every start.
fn write_replacing(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut tmp = path.as_os_str().to_owned();
    tmp.push(".new");
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
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
    fn writes_on_change_and_empties_when_the_lease_goes() {
        let dir = crate::testdir::TestDir::new("resolv");
        let conf = ResolvConf::new(dir.path().join("resolv.conf"));
        conf.update("eth0", Some(src(&["10.0.2.3"], &[]))).unwrap();
        let text = std::fs::read_to_string(conf.path()).unwrap();
        assert!(text.ends_with("nameserver 10.0.2.3\n"), "{text}");
        conf.update("eth0", None).unwrap();
        let text = std::fs::read_to_string(conf.path()).unwrap();
        assert!(!text.contains("nameserver"), "{text}");
    }
}

//! An L2 segment for several QEMU machines: a network namespace holding a bridge, made by
//! the test and deleted when the [`Lab`] is dropped (also when the test panics).
//!
//! Each machine on the segment gets a second NIC on a tap device
//! ([`crate::devices::SegmentNic`]); its first NIC stays QEMU's user network, so its API
//! is still reached on a host loopback port. QEMU makes the tap in its own namespace (the
//! host's) when it starts; [`Lab::attach`] then moves it into the lab's namespace and onto
//! the bridge. A tun/tap device keeps working for the process holding its file descriptor
//! when it changes namespace, so the guest's frames flow on the bridge from then on, and
//! nothing of the segment is visible in the host's namespace.
//!
//! The namespace itself can take an address on the bridge ([`Lab::address`]): the client
//! on the segment, which runs `arping`, `ping`, `curl`, `tcpdump` there ([`Lab::exec`],
//! [`Lab::spawn`]). Needs root and `iproute2` (and the tools a scenario runs).

use anyhow::{bail, Context};
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::devices::SegmentNic;
use crate::{Machine, MachineSpec};

/// The bridge's name inside the lab's namespace.
pub const BRIDGE: &str = "br0";

/// A network namespace with a bridge, and the processes started in it; all gone on drop.
pub struct Lab {
    ns: String,
    /// Short and unique to this lab: the taps' prefix (interface names have 15 bytes).
    id: String,
    taps: Vec<String>,
    children: Vec<Child>,
}

/// Run `cmd`; an error with its stderr unless it succeeds.
fn run(cmd: &mut Command) -> anyhow::Result<Output> {
    let out = cmd
        .output()
        .with_context(|| format!("cannot run {cmd:?} (is iproute2 installed?)"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(out)
}

fn ip(args: &[&str]) -> anyhow::Result<Output> {
    run(Command::new("ip").args(args))
}

impl Lab {
    /// A new namespace (`appliance-lab-<pid>-<n>`, loopback up) holding bridge
    /// [`BRIDGE`], up. Fails with a clear message unless run as root.
    pub fn new() -> anyhow::Result<Lab> {
        // /proc/self belongs to the process's effective user.
        if std::fs::metadata("/proc/self")?.uid() != 0 {
            bail!(
                "the lab needs root (a network namespace, a bridge and QEMU's tap devices): \
                 run the test as root"
            );
        }
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        let pid = std::process::id();
        let lab = Lab {
            ns: format!("appliance-lab-{pid}-{n}"),
            id: format!("lt{}{n}", pid % 100_000),
            taps: Vec::new(),
            children: Vec::new(),
        };
        ip(&["netns", "add", &lab.ns])?;
        ip(&["-n", &lab.ns, "link", "set", "lo", "up"])?;
        ip(&["-n", &lab.ns, "link", "add", BRIDGE, "type", "bridge"])?;
        ip(&["-n", &lab.ns, "link", "set", BRIDGE, "up"])?;
        Ok(lab)
    }

    /// The namespace's name.
    pub fn ns(&self) -> &str {
        &self.ns
    }

    /// A second NIC with `mac` for a machine of this lab, on a tap named after `short`.
    pub fn nic(&mut self, short: &str, mac: &str) -> SegmentNic {
        let tap = format!("{}{short}", self.id);
        assert!(tap.len() <= 15, "tap name {tap:?} is longer than 15 bytes");
        self.taps.push(tap.clone());
        SegmentNic {
            tap,
            mac: mac.to_string(),
        }
    }

    /// Start `spec` with a segment NIC (`short` names its tap, `mac` its address) and put
    /// the NIC on the bridge.
    pub fn start(&mut self, spec: MachineSpec, short: &str, mac: &str) -> anyhow::Result<Machine> {
        let nic = self.nic(short, mac);
        let m = Machine::start(&MachineSpec {
            segment: Some(nic.clone()),
            ..spec
        })?;
        self.attach(&nic)?;
        Ok(m)
    }

    /// Move the tap QEMU made for `nic` (in the host's namespace) into the lab's namespace
    /// and enslave it to the bridge, up. Waits up to 10 s for the tap to appear.
    pub fn attach(&self, nic: &SegmentNic) -> anyhow::Result<()> {
        let sys = Path::new("/sys/class/net").join(&nic.tap);
        let until = Instant::now() + Duration::from_secs(10);
        while !sys.exists() {
            if Instant::now() > until {
                bail!("QEMU made no tap {} within 10 s", nic.tap);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        ip(&["link", "set", &nic.tap, "netns", &self.ns])?;
        ip(&[
            "-n", &self.ns, "link", "set", &nic.tap, "master", BRIDGE, "up",
        ])?;
        Ok(())
    }

    /// Give the namespace `cidr` (e.g. `10.77.0.2/24`) on the bridge: a client on the
    /// segment.
    pub fn address(&self, cidr: &str) -> anyhow::Result<()> {
        ip(&["-n", &self.ns, "addr", "add", cidr, "dev", BRIDGE])?;
        Ok(())
    }

    /// The command `args` in the namespace (`ip netns exec`), with its output, whatever
    /// its exit status.
    pub fn exec(&self, args: &[&str]) -> anyhow::Result<Output> {
        Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("cannot run {args:?} in {}", self.ns))
    }

    /// The command `args` started in the namespace with piped stdout and stderr; killed
    /// when the lab is dropped (the caller takes what it reads).
    pub fn spawn(&mut self, args: &[&str]) -> anyhow::Result<&mut Child> {
        let child = Command::new("ip")
            .args(["netns", "exec", &self.ns])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .with_context(|| format!("cannot start {args:?} in {}", self.ns))?;
        self.children.push(child);
        Ok(self.children.last_mut().expect("just pushed"))
    }

    /// ARP requests for `address` broadcast on the bridge about every `every` (a client
    /// asking all the while who holds it; arping's own interval is whole seconds, so
    /// several, started `every` apart), until the answer is dropped. What answers is seen
    /// with [`Lab::watch`].
    pub fn keep_asking(&self, address: &str, every: Duration) -> anyhow::Result<Asking> {
        let n = (1000 / every.as_millis().max(1)).max(1);
        let mut asking = Asking(Vec::new());
        for _ in 0..n {
            asking.0.push(
                Command::new("ip")
                    .args(["netns", "exec", &self.ns])
                    .args(["arping", "-b", "-q", "-i", "1", "-w", "600", "-I", BRIDGE])
                    .arg(address)
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .spawn()
                    .context("cannot start arping (is iputils-arping installed?)")?,
            );
            std::thread::sleep(every);
        }
        Ok(asking)
    }

    /// The MAC that answers an ARP request for `address` on the bridge, if any answers
    /// within 2 s (needs an address of the namespace on the bridge; `iputils-arping`).
    pub fn arping(&self, address: &str) -> anyhow::Result<Option<String>> {
        let out = self.exec(&["arping", "-c", "1", "-w", "2", "-I", BRIDGE, address])?;
        Ok(arping_macs(&String::from_utf8_lossy(&out.stdout))
            .into_iter()
            .next())
    }

    /// `tcpdump` on the bridge printing the frames `filter` selects (e.g. `["arp"]`), one
    /// line each with its epoch timestamp and Ethernet addresses (`-tt -e -n`), from the
    /// moment it listens; stopped when the lab is dropped.
    pub fn watch(&mut self, filter: &[&str]) -> anyhow::Result<mpsc::Receiver<String>> {
        let args = [&["tcpdump", "-i", BRIDGE, "-n", "-l", "-tt", "-e"], filter].concat();
        let child = self.spawn(&args)?;
        let (tx, rx) = mpsc::channel();
        let out: Box<dyn Read + Send> = Box::new(child.stdout.take().context("stdout")?);
        let err: Box<dyn Read + Send> = Box::new(child.stderr.take().context("stderr")?);
        for stream in [out, err] {
            let tx = tx.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stream).lines().map_while(Result::ok) {
                    let _ = tx.send(line);
                }
            });
        }
        let until = Instant::now() + Duration::from_secs(10);
        loop {
            let line = rx
                .recv_timeout(until.saturating_duration_since(Instant::now()))
                .context("tcpdump did not start listening within 10 s (is tcpdump installed?)")?;
            if line.contains("listening on") {
                return Ok(rx);
            }
        }
    }

    /// Every MAC that answers `count` broadcast ARP requests for `address`, one a second
    /// (each holder answers each; two MACs mean two holders).
    pub fn arping_all(&self, address: &str, count: u32) -> anyhow::Result<Vec<String>> {
        let (count, wait) = (count.to_string(), (count + 1).to_string());
        let out = self.exec(&[
            "arping", "-b", "-c", &count, "-w", &wait, "-I", BRIDGE, address,
        ])?;
        Ok(arping_macs(&String::from_utf8_lossy(&out.stdout)))
    }

    /// Whether `address` answers one ping within 2 s.
    pub fn ping(&self, address: &str) -> anyhow::Result<bool> {
        Ok(self
            .exec(&["ping", "-c", "1", "-W", "2", address])?
            .status
            .success())
    }
}

/// The MACs of arping's replies in order, lower case: `Unicast reply from 10.77.0.50
/// [52:54:00:AA:BB:CC]  0.6ms`.
pub fn arping_macs(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.contains("reply from"))
        .filter_map(|l| l.split('[').nth(1))
        .filter_map(|rest| rest.split(']').next())
        .map(str::to_lowercase)
        .collect()
}

/// A line of [`Lab::watch`] (`-tt -e -n`) that is an ARP reply for `address`: its epoch
/// time and the MAC that answered, lower case. `1701970000.123456 52:54:00:aa:bb:cc > …,
/// ethertype ARP (0x0806), length 42: Reply 10.51.0.100 is-at 52:54:00:aa:bb:cc, length 28`.
pub fn arp_reply(line: &str, address: &str) -> Option<(f64, String)> {
    let line = line.to_lowercase();
    let rest = line.split(&format!("reply {address} is-at ")).nth(1)?;
    let mac = rest.split([',', ' ']).next()?.to_string();
    let at = line.split(' ').next()?.parse().ok()?;
    Some((at, mac))
}

/// The `arping`s of [`Lab::keep_asking`], stopped on drop.
pub struct Asking(Vec<Child>);

impl Drop for Asking {
    fn drop(&mut self) {
        for child in &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Taps never moved (QEMU gone before the attach) are in the host's namespace.
        for tap in &self.taps {
            if Path::new("/sys/class/net").join(tap).exists() {
                let _ = Command::new("ip").args(["link", "del", tap]).status();
            }
        }
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
    }
}

#[cfg(test)]
mod tests {
    use super::arping_macs;

    #[test]
    fn arping_reply_macs() {
        let out = "ARPING 10.77.0.50 from 10.77.0.2 br0\n\
                   Broadcast reply from 10.77.0.50 [52:54:00:AA:BB:0A]  0.812ms\n\
                   Broadcast reply from 10.77.0.50 [52:54:00:AA:BB:0B]  0.901ms\n\
                   Sent 1 probes (1 broadcast(s))\nReceived 2 response(s)\n";
        assert_eq!(
            arping_macs(out),
            vec!["52:54:00:aa:bb:0a", "52:54:00:aa:bb:0b"]
        );
        assert!(arping_macs("Sent 1 probes\nReceived 0 response(s)\n").is_empty());
    }

    #[test]
    fn arp_reply_lines() {
        let line = "1701970000.123456 52:54:00:aa:bb:cc > 1a:2b:3c:4d:5e:6f, ethertype ARP \
                    (0x0806), length 42: Reply 10.51.0.100 is-at 52:54:00:AA:BB:CC, length 28";
        assert_eq!(
            super::arp_reply(line, "10.51.0.100"),
            Some((1_701_970_000.123_456, "52:54:00:aa:bb:cc".to_string()))
        );
        assert_eq!(super::arp_reply(line, "10.51.0.1"), None);
        let request = "1701970000.2 52:54:00:aa:bb:cc > ff:ff:ff:ff:ff:ff, ethertype ARP \
                       (0x0806), length 42: Request who-has 10.51.0.100 tell 10.51.0.2";
        assert_eq!(super::arp_reply(request, "10.51.0.100"), None);
    }
}

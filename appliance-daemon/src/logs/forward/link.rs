//! One server's link: its queue, a task that connects (with backoff), sends what is
//! queued and reconnects when the server goes, and what it reports (connected, queued,
//! dropped, last error).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};

use super::config::{Server, Transport};
use super::message;
use super::queue::{Batch, Queue};

/// Waits before a new try after a failure: 1 s, doubled each failure, up to 60 s.
const BACKOFF_FIRST: Duration = Duration::from_secs(1);
const BACKOFF_MAX: Duration = Duration::from_secs(60);
/// A connect (TCP, TLS handshake) or a write that takes longer fails.
const IO_TIMEOUT: Duration = Duration::from_secs(15);
/// Bytes of messages written at once.
const BATCH_BYTES: usize = 64 * 1024;

#[derive(Debug, Default)]
struct Report {
    connected: bool,
    sent: u64,
    /// The sentence and when (Unix seconds).
    last_error: Option<(String, u64)>,
}

/// A server and its queue, shared by the sources (which push) and its task (which sends).
#[derive(Debug)]
pub(crate) struct Link {
    pub(crate) server: Server,
    queue: Mutex<Queue>,
    report: Mutex<Report>,
    wake: tokio::sync::Notify,
    stop: tokio::sync::watch::Sender<bool>,
}

/// What the status shows of a link.
pub(crate) struct Shown {
    pub(crate) connected: bool,
    pub(crate) queued_lines: u64,
    pub(crate) queued_bytes: u64,
    pub(crate) dropped: u64,
    pub(crate) sent: u64,
    pub(crate) last_error: Option<(String, u64)>,
}

impl Link {
    pub(crate) fn new(server: Server, cap: usize) -> Arc<Link> {
        Arc::new(Link {
            server,
            queue: Mutex::new(Queue::new(cap)),
            report: Mutex::new(Report::default()),
            wake: tokio::sync::Notify::new(),
            stop: tokio::sync::watch::Sender::new(false),
        })
    }

    /// Queue messages (never waits on the server).
    pub(crate) fn push(&self, lines: &[Arc<str>]) {
        if lines.is_empty() {
            return;
        }
        if let Ok(mut q) = self.queue.lock() {
            for l in lines {
                q.push(Arc::clone(l));
            }
        }
        self.wake.notify_one();
    }

    pub(crate) fn shown(&self) -> Shown {
        let (queued_lines, queued_bytes, dropped) = self
            .queue
            .lock()
            .map_or((0, 0, 0), |q| (q.len() as u64, q.bytes() as u64, q.dropped));
        let r = self.report.lock();
        let (connected, sent, last_error) = r.map_or((false, 0, None), |r| {
            (r.connected, r.sent, r.last_error.clone())
        });
        Shown {
            connected,
            queued_lines,
            queued_bytes,
            dropped,
            sent,
            last_error,
        }
    }

    /// The task ends (the server was removed or changed).
    pub(crate) fn stop(&self) {
        self.stop.send_replace(true);
    }

    fn take(&self) -> Batch {
        self.queue
            .lock()
            .map(|mut q| q.take(BATCH_BYTES))
            .unwrap_or_default()
    }

    fn put_back(&self, batch: Batch) {
        if let Ok(mut q) = self.queue.lock() {
            q.put_back(batch);
        }
    }

    fn set_connected(&self, up: bool) {
        if let Ok(mut r) = self.report.lock() {
            r.connected = up;
        }
    }

    fn sent(&self, n: usize) {
        if let Ok(mut r) = self.report.lock() {
            r.sent += n as u64;
        }
    }

    fn failed(&self, why: &str) {
        let first = match self.report.lock() {
            Ok(mut r) => {
                r.connected = false;
                let first = r.last_error.as_ref().is_none_or(|(w, _)| w != why);
                r.last_error = Some((why.to_string(), units::now()));
                first
            }
            Err(_) => false,
        };
        // Once per distinct failure, not at each retry: these lines are forwarded too.
        if first {
            tracing::warn!("syslog server {}: {why}", self.server.label());
        }
    }

    /// Connect, send, reconnect after a failure, until stopped.
    pub(crate) async fn run(self: Arc<Link>, hostname: fn() -> String) {
        let mut stop = self.stop.subscribe();
        let mut backoff = BACKOFF_FIRST;
        loop {
            if *stop.borrow() {
                return;
            }
            let outcome = match connect(&self.server).await {
                Ok(conn) => {
                    backoff = BACKOFF_FIRST;
                    self.set_connected(true);
                    let label = self.server.label();
                    let r = match conn {
                        Conn::Udp(sock) => self.pump_udp(&sock, &mut stop, hostname).await,
                        Conn::Stream(s) => self.pump_stream(s, &mut stop, hostname).await,
                    };
                    self.set_connected(false);
                    r.map_err(|e| format!("sending to {label} failed: {e}"))
                }
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) => return,
                Err(why) => self.failed(&why),
            }
            tokio::select! {
                () = tokio::time::sleep(backoff) => {}
                _ = stop.changed() => return,
            }
            backoff = (backoff * 2).min(BACKOFF_MAX);
        }
    }

    fn notice(&self, told: u64, hostname: fn() -> String) -> Option<String> {
        (told > 0).then(|| {
            message::dropped(
                told,
                &self.server.label(),
                &hostname(),
                units::now().saturating_mul(1_000_000),
            )
        })
    }

    async fn pump_stream(
        &self,
        stream: Box<dyn Stream>,
        stop: &mut tokio::sync::watch::Receiver<bool>,
        hostname: fn() -> String,
    ) -> std::io::Result<()> {
        let (mut rd, mut wr) = tokio::io::split(stream);
        let mut sink = [0u8; 512];
        let mut buf = Vec::with_capacity(BATCH_BYTES + 1024);
        loop {
            let batch = self.take();
            if batch.lines.is_empty() && batch.told == 0 {
                // Idle: wait for lines, and notice a server that closes the connection
                // (it never sends anything else) before a write would be lost to it.
                tokio::select! {
                    () = self.wake.notified() => continue,
                    r = rd.read(&mut sink) => match r {
                        Ok(0) => return Err(std::io::Error::other("the server closed the connection")),
                        Ok(_) => continue,
                        Err(e) => return Err(e),
                    },
                    _ = stop.changed() => {
                        // TLS: close_notify, so that the server sees an orderly close.
                        let _ = tokio::time::timeout(Duration::from_secs(2), wr.shutdown()).await;
                        return Ok(());
                    }
                }
            }
            buf.clear();
            if let Some(n) = self.notice(batch.told, hostname) {
                message::frame_into(&mut buf, n.as_bytes());
            }
            for l in &batch.lines {
                message::frame_into(&mut buf, l.as_bytes());
            }
            let write = async {
                wr.write_all(&buf).await?;
                wr.flush().await
            };
            match tokio::time::timeout(IO_TIMEOUT, write).await {
                Ok(Ok(())) => self.sent(batch.lines.len()),
                Ok(Err(e)) => {
                    self.put_back(batch);
                    return Err(e);
                }
                Err(_) => {
                    self.put_back(batch);
                    return Err(std::io::Error::other(format!(
                        "the server took no data for {} s",
                        IO_TIMEOUT.as_secs()
                    )));
                }
            }
        }
    }

    async fn pump_udp(
        &self,
        sock: &UdpSocket,
        stop: &mut tokio::sync::watch::Receiver<bool>,
        hostname: fn() -> String,
    ) -> std::io::Result<()> {
        loop {
            let mut batch = self.take();
            if batch.lines.is_empty() && batch.told == 0 {
                tokio::select! {
                    () = self.wake.notified() => continue,
                    _ = stop.changed() => return Ok(()),
                }
            }
            if let Some(n) = self.notice(batch.told, hostname) {
                if let Err(e) = sock.send(n.as_bytes()).await {
                    self.put_back(batch);
                    return Err(e);
                }
                batch.told = 0;
            }
            for (i, l) in batch.lines.iter().enumerate() {
                if let Err(e) = sock.send(l.as_bytes()).await {
                    self.sent(i);
                    batch.lines.drain(..i);
                    self.put_back(batch);
                    return Err(e);
                }
            }
            self.sent(batch.lines.len());
        }
    }
}

trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

enum Conn {
    Udp(UdpSocket),
    Stream(Box<dyn Stream>),
}

async fn connect(server: &Server) -> Result<Conn, String> {
    let label = server.label();
    let addr = tokio::time::timeout(
        IO_TIMEOUT,
        tokio::net::lookup_host((server.host.as_str(), server.port)),
    )
    .await
    .map_err(|_| format!("resolving {} timed out", server.host))?
    .map_err(|e| format!("cannot resolve {}: {e}", server.host))?
    .next()
    .ok_or_else(|| format!("{} has no address", server.host))?;
    if server.transport == Transport::Udp {
        let local: std::net::SocketAddr = if addr.is_ipv4() {
            ([0, 0, 0, 0], 0).into()
        } else {
            (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
        };
        let sock = UdpSocket::bind(local)
            .await
            .map_err(|e| format!("no UDP socket for {label}: {e}"))?;
        sock.connect(addr)
            .await
            .map_err(|e| format!("cannot reach {label}: {e}"))?;
        return Ok(Conn::Udp(sock));
    }
    let tcp = tokio::time::timeout(IO_TIMEOUT, TcpStream::connect(addr))
        .await
        .map_err(|_| format!("connecting to {label} timed out"))?
        .map_err(|e| format!("cannot connect to {label}: {e}"))?;
    let _ = tcp.set_nodelay(true);
    if server.transport == Transport::Tcp {
        return Ok(Conn::Stream(Box::new(tcp)));
    }
    let config = tls_config(server.ca.as_deref().unwrap_or_default())?;
    let name = rustls::pki_types::ServerName::try_from(server.host.clone()).map_err(|e| {
        format!(
            "{:?} cannot be checked against a certificate: {e}",
            server.host
        )
    })?;
    let tls = tokio::time::timeout(
        IO_TIMEOUT,
        tokio_rustls::TlsConnector::from(config).connect(name, tcp),
    )
    .await
    .map_err(|_| format!("the TLS handshake with {label} timed out"))?
    .map_err(|e| format!("the TLS handshake with {label} failed: {e}"))?;
    Ok(Conn::Stream(Box::new(tls)))
}

/// TLS 1.2 and 1.3, the operator's CA the only one trusted, no client certificate.
fn tls_config(ca: &str) -> Result<Arc<rustls::ClientConfig>, String> {
    let mut roots = rustls::RootCertStore::empty();
    for c in super::config::ca_certificates(ca)? {
        roots
            .add(c)
            .map_err(|e| format!("the CA certificate is unusable: {e}"))?;
    }
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| format!("TLS setup: {e}"))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(Arc::new(config))
}

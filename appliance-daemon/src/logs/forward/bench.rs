//! The forwarding's throughput figure (`tests/bench/syslog`, docs/benchmarks.md): lines
//! written into a ring in a scratch directory, as init writes them, followed, made into
//! RFC 5424 messages and sent to one TCP server by the same code the daemon runs.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use super::config::{ForwardingConfig, Server, Transport};
use super::Forwarder;

/// What one run measured.
#[derive(Debug, Clone)]
pub struct Figures {
    pub lines: u64,
    /// Seconds from the first line written into the ring until the link had written the
    /// last one to the server's socket.
    pub seconds: f64,
    /// Seconds the ring took to store them all.
    pub ring_seconds: f64,
    pub dropped: u64,
}

/// Forward `lines` log lines of about `message_bytes` to the TCP server at `server`, with
/// a queue of `queue_bytes`. The ring is made in `dir` (which must not hold one).
pub async fn tcp(
    server: SocketAddr,
    dir: &Path,
    lines: usize,
    message_bytes: usize,
    queue_bytes: usize,
) -> std::io::Result<Figures> {
    let mut ring = logring::Ring::open(dir, logring::DEFAULT_CAP, "bench")?;
    let f = Forwarder::with_cap(None, dir, queue_bytes);
    f.start();
    f.set(&ForwardingConfig {
        servers: vec![Server {
            host: server.ip().to_string(),
            port: server.port(),
            transport: Transport::Tcp,
            ca: None,
        }],
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    while !f.view().servers[0].connected {
        if Instant::now() > deadline {
            return Err(std::io::Error::other(format!(
                "no connection to {server}: {:?}",
                f.view().servers[0].last_error
            )));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let start = Instant::now();
    let ring_seconds = tokio::task::spawn_blocking(move || {
        let pad = "x".repeat(message_bytes.saturating_sub(24));
        let t = Instant::now();
        let texts: Vec<String> = (0..lines)
            .map(|i| format!("bench line {i:09} {pad}"))
            .collect();
        for chunk in texts.chunks(512) {
            let entries: Vec<logring::Entry<'_>> = chunk
                .iter()
                .map(|m| logring::Entry {
                    time_us: units::now() * 1_000_000,
                    uptime_ms: 0,
                    level: logring::Level::Info,
                    service: "bench",
                    message: m,
                })
                .collect();
            ring.append_all(&entries);
        }
        t.elapsed().as_secs_f64()
    })
    .await
    .map_err(std::io::Error::other)?;
    loop {
        let s = &f.view().servers[0];
        if s.sent + s.dropped >= lines as u64 {
            let seconds = start.elapsed().as_secs_f64();
            f.set(&ForwardingConfig::default());
            return Ok(Figures {
                lines: s.sent,
                seconds,
                ring_seconds,
                dropped: s.dropped,
            });
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

//! Connection caps and timeouts of the HTTPS and HTTP listeners (docs/security.md
//! "Connections"): how many connections in all and from one source (an IPv4 address, an
//! IPv6 /64), how long a client may take over its TLS handshake, its request head (also the
//! idle time between keep-alive requests) and each piece of a request body.
//!
//! Connections the appliance makes to itself (source address = destination address: the
//! self-check of the health gate, appliancectl on the console) have a pool of their own, so
//! a flood from the network never keeps the self-check from answering.

use std::collections::HashMap;
use std::future::Future as _;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::body::{Body, Frame, Incoming, SizeHint};
use hyper_util::rt::TokioTimer;
use tokio::net::{TcpListener, TcpStream};

use crate::auth::checks::Source;

/// The TLS handshake must be done within this.
pub(crate) const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A request head must arrive within this; also how long a kept-alive connection may idle.
pub(crate) const HEADER_TIMEOUT: Duration = Duration::from_secs(15);
/// A request body must make progress (a piece arrives) at least this often.
pub(crate) const BODY_IDLE_TIMEOUT: Duration = Duration::from_secs(10);

/// How many connections a listener keeps open at once.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caps {
    /// From the network, in all.
    pub total: usize,
    /// From one source.
    pub per_source: usize,
    /// From the appliance itself (a pool of its own).
    pub local: usize,
}

/// The HTTPS port: browsers open about 6 connections each; the pair channel 1 or 2.
pub(crate) const HTTPS: Caps = Caps {
    total: 512,
    per_source: 32,
    local: 128,
};

/// Port 80 only redirects.
pub(crate) const HTTP: Caps = Caps {
    total: 128,
    per_source: 8,
    local: 16,
};

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    local: usize,
    by_source: HashMap<Source, usize>,
}

/// The open connections of one listener, counted against its [`Caps`].
#[derive(Debug, Clone)]
pub(crate) struct Connections {
    caps: Caps,
    counts: Arc<Mutex<Counts>>,
}

/// An admitted connection: counted until dropped.
#[derive(Debug)]
pub(crate) struct Admitted {
    counts: Arc<Mutex<Counts>>,
    /// None for a local connection.
    source: Option<Source>,
}

impl Drop for Admitted {
    fn drop(&mut self) {
        let mut c = lock(&self.counts);
        match self.source {
            None => c.local = c.local.saturating_sub(1),
            Some(source) => {
                c.total = c.total.saturating_sub(1);
                if let Some(n) = c.by_source.get_mut(&source) {
                    *n = n.saturating_sub(1);
                    if *n == 0 {
                        c.by_source.remove(&source);
                    }
                }
            }
        }
    }
}

impl Connections {
    pub(crate) fn new(caps: Caps) -> Self {
        Connections {
            caps,
            counts: Arc::default(),
        }
    }

    /// Count a connection from `peer` to `local`, unless a cap is reached.
    pub(crate) fn admit(&self, peer: SocketAddr, local: SocketAddr) -> Option<Admitted> {
        let mut c = lock(&self.counts);
        if peer.ip().to_canonical() == local.ip().to_canonical() {
            if c.local >= self.caps.local {
                return None;
            }
            c.local += 1;
            return Some(Admitted {
                counts: Arc::clone(&self.counts),
                source: None,
            });
        }
        let source = Source::of(Some(peer.ip()));
        let mine = c.by_source.get(&source).copied().unwrap_or(0);
        if c.total >= self.caps.total || mine >= self.caps.per_source {
            return None;
        }
        c.total += 1;
        *c.by_source.entry(source).or_insert(0) += 1;
        Some(Admitted {
            counts: Arc::clone(&self.counts),
            source: Some(source),
        })
    }
}

fn lock(c: &Mutex<Counts>) -> std::sync::MutexGuard<'_, Counts> {
    // Counters only: a panic elsewhere cannot leave them half-updated.
    c.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The next connection on `listener` within the caps; one over a cap is closed at once.
pub(crate) async fn accept(
    listener: &TcpListener,
    connections: &Connections,
) -> (TcpStream, SocketAddr, Admitted) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(conn) => conn,
            Err(err) => {
                // Typically EMFILE: back off instead of spinning on the error.
                tracing::warn!("accepting a connection failed: {err}");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let Ok(local) = tcp.local_addr() else {
            continue;
        };
        match connections.admit(peer, local) {
            Some(admitted) => return (tcp, peer, admitted),
            None => tracing::debug!(%peer, "connection refused: too many open connections"),
        }
    }
}

/// HTTP/1.1 with the head and keep-alive timeout.
pub(crate) fn http1() -> hyper::server::conn::http1::Builder {
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT);
    builder
}

/// The request with its body cut after [`BODY_IDLE_TIMEOUT`] without progress.
pub(crate) fn timed(req: hyper::Request<Incoming>) -> hyper::Request<axum::body::Body> {
    req.map(|body| {
        axum::body::Body::new(TimedBody {
            inner: body,
            idle: BODY_IDLE_TIMEOUT,
            deadline: None,
        })
    })
}

/// A request body that fails when no piece of it arrives for `idle`.
struct TimedBody {
    inner: Incoming,
    idle: Duration,
    /// Armed while the handler waits for the next piece.
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
}

#[derive(Debug, thiserror::Error)]
#[error("the request body stalled: nothing arrived for {0:?}")]
pub(crate) struct BodyStalled(Duration);

impl Body for TimedBody {
    type Data = bytes::Bytes;
    type Error = Box<dyn std::error::Error + Send + Sync>;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Self::Data>, Self::Error>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                this.deadline = None;
                Poll::Ready(frame.map(|f| f.map_err(Into::into)))
            }
            Poll::Pending => {
                let idle = this.idle;
                let deadline = this
                    .deadline
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(idle)));
                match deadline.as_mut().poll(cx) {
                    Poll::Ready(()) => Poll::Ready(Some(Err(Box::new(BodyStalled(idle))))),
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn caps_per_source_in_all_and_a_pool_of_its_own_for_the_appliance() {
        let caps = Caps {
            total: 4,
            per_source: 2,
            local: 1,
        };
        let c = Connections::new(caps);
        let me = at("192.0.2.10:443");
        let a1 = c.admit(at("198.51.100.1:1000"), me).unwrap();
        let _a2 = c.admit(at("198.51.100.1:1001"), me).unwrap();
        assert!(c.admit(at("198.51.100.1:1002"), me).is_none(), "per source");
        let _b1 = c.admit(at("198.51.100.2:1000"), me).unwrap();
        let _b2 = c.admit(at("198.51.100.3:1000"), me).unwrap();
        assert!(c.admit(at("198.51.100.4:1000"), me).is_none(), "in all");
        // The appliance itself still gets in, once.
        let local = c.admit(at("192.0.2.10:5000"), me).unwrap();
        assert!(c.admit(at("192.0.2.10:5001"), me).is_none());
        drop(local);
        assert!(c.admit(at("192.0.2.10:5002"), me).is_some());
        // A closed connection gives its place back.
        drop(a1);
        assert!(c.admit(at("198.51.100.1:1003"), me).is_some());
    }
}

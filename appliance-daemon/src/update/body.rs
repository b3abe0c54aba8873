//! An HTTP request body as a blocking `Read`, for the installer running on a blocking
//! thread: a bounded channel of chunks, so a fast client cannot make the daemon buffer
//! more than a few chunks (memory stays bounded whatever the package size).

use bytes::Bytes;
use futures::StreamExt;
use std::io::Read;
use tokio::sync::mpsc;

/// Chunks in flight between the network and the installer.
const DEPTH: usize = 8;

pub(crate) struct BodyReader {
    rx: mpsc::Receiver<Result<Bytes, std::io::Error>>,
    current: Bytes,
}

/// Start pumping `body` into a reader; the pump ends when the reader is dropped.
pub(crate) fn reader(body: axum::body::Body) -> BodyReader {
    let (reader, pump) = channel();
    tokio::spawn(pump.run(body.into_data_stream()));
    reader
}

/// The sending half, for streams that must be read in the handler's own task (a field
/// of a multipart form borrows the form).
pub(crate) struct Pump {
    tx: mpsc::Sender<Result<Bytes, std::io::Error>>,
}

pub(crate) fn channel() -> (BodyReader, Pump) {
    let (tx, rx) = mpsc::channel(DEPTH);
    (
        BodyReader {
            rx,
            current: Bytes::new(),
        },
        Pump { tx },
    )
}

impl Pump {
    /// Forward `stream` until it ends, fails, or the reader is gone.
    pub(crate) async fn run<E: std::fmt::Display>(
        self,
        stream: impl futures::Stream<Item = Result<Bytes, E>> + Unpin,
    ) {
        let tx = self.tx;
        let mut stream = stream;
        while let Some(chunk) = stream.next().await {
            let chunk =
                chunk.map_err(|e| std::io::Error::other(format!("upload interrupted: {e}")));
            let failed = chunk.is_err();
            if tx.send(chunk).await.is_err() || failed {
                break;
            }
        }
    }
}

/// How much of a refused upload is read and dropped before answering.
const DRAIN_LIMIT: u64 = 2 << 30;

impl BodyReader {
    /// Read and drop what is left of a refused upload (up to 2 GiB), so that the client,
    /// still sending, receives the answer instead of a reset connection.
    pub(crate) fn drain(&mut self) {
        let _ = std::io::copy(&mut self.take(DRAIN_LIMIT), &mut std::io::sink());
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current.split_to(n));
        Ok(n)
    }
}

//! A file sent as a request body without reading it whole into memory: 64 KiB at a time,
//! with the byte count reported as it goes (an update package can be gigabytes).

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, ReadBuf};

use crate::client::Activity;

const CHUNK: usize = 64 * 1024;

/// Told the bytes sent so far and the total, after every chunk.
pub type OnProgress = Box<dyn FnMut(u64, u64) + Send>;

pub(crate) struct FileBody {
    file: tokio::fs::File,
    buffer: Box<[u8]>,
    sent: u64,
    total: u64,
    activity: Arc<Activity>,
    on_progress: OnProgress,
}

impl FileBody {
    pub(crate) fn new(
        file: tokio::fs::File,
        total: u64,
        activity: Arc<Activity>,
        on_progress: OnProgress,
    ) -> Self {
        FileBody {
            file,
            buffer: vec![0; CHUNK].into_boxed_slice(),
            sent: 0,
            total,
            activity,
            on_progress,
        }
    }
}

impl Body for FileBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        let this = self.get_mut();
        if this.sent >= this.total {
            return Poll::Ready(None);
        }
        // Never more than announced in Content-Length, even if the file grew meanwhile.
        let want = CHUNK.min((this.total - this.sent) as usize);
        let mut buf = ReadBuf::new(&mut this.buffer[..want]);
        match Pin::new(&mut this.file).poll_read(cx, &mut buf) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(err)) => Poll::Ready(Some(Err(err))),
            Poll::Ready(Ok(())) if buf.filled().is_empty() => {
                Poll::Ready(Some(Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    format!(
                        "the file ended after {} of {} bytes (it shrank while being sent)",
                        this.sent, this.total
                    ),
                ))))
            }
            Poll::Ready(Ok(())) => {
                let chunk = Bytes::copy_from_slice(buf.filled());
                this.sent += chunk.len() as u64;
                this.activity.touch();
                (this.on_progress)(this.sent, this.total);
                Poll::Ready(Some(Ok(Frame::data(chunk))))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.sent >= self.total
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.total - self.sent)
    }
}

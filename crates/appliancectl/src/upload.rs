//! A file sent as a request body without reading it whole into memory: 64 KiB at a time,
//! with the byte count reported as it goes (an update package can be gigabytes).

use bytes::Bytes;
use hyper::body::{Body, Frame, SizeHint};
use hyper::header::CONTENT_LENGTH;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, ReadBuf};

use crate::client::{Activity, Limit};
use crate::{Client, Error, Method, Response, Result};

const CHUNK: usize = 64 * 1024;

/// How long an upload may go without sending a byte or, once sent, without an answer
/// (the appliance verifies and commits the last part after the last byte).
pub const UPLOAD_IDLE_TIMEOUT: Duration = Duration::from_secs(120);

impl Client {
    /// `method path` with the file as the body, streamed with its Content-Length, and the
    /// caller's `headers` (a type, credentials) beside the client's own (host, agent, the
    /// token as `Authorization: Bearer` if set); `on_progress` hears the bytes sent. The
    /// answer's status is not checked. The call fails after [`UPLOAD_IDLE_TIMEOUT`] (or
    /// the client's timeout, if longer) without a byte sent or, once all is sent, without
    /// an answer: an appliance's update upload, a backup pushed to an HTTPS server.
    pub async fn send_file(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        file: &Path,
        on_progress: OnProgress,
    ) -> Result<Response> {
        let file_error = |source| Error::File {
            path: file.to_path_buf(),
            source,
        };
        let opened = tokio::fs::File::open(file).await.map_err(file_error)?;
        let total = opened.metadata().await.map_err(file_error)?.len();
        let activity = Arc::new(Activity::new());
        let body = FileBody::new(opened, total, Arc::clone(&activity), on_progress);
        let mut builder = self
            .bare_request_builder(&method, path)?
            .header(CONTENT_LENGTH, total);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let request = builder.body(body).map_err(|e| Error::Request {
            method: method.to_string(),
            path: path.to_string(),
            reason: e.to_string(),
        })?;
        let idle = UPLOAD_IDLE_TIMEOUT.max(self.timeout());
        self.exchange(method, path, request, Limit::Idle(idle, activity))
            .await
    }
}

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

//! A minimum pace for request bodies, as OTLP/HTTP has one.
//!
//! A call takes a worker before tonic reads its message (that bounds the
//! messages buffered at once), so a client that sends its message slowly
//! holds a worker while it does. The body is therefore checked against
//! HTTP's rule: at least [`MIN_BYTES_PER_WINDOW`] in every [`WINDOW`], else the
//! call ends with `DEADLINE_EXCEEDED` and the worker is free again.

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::{Instant, Sleep};
use tonic::{Code, Status};

pub const WINDOW: Duration = Duration::from_secs(10);
pub const MIN_BYTES_PER_WINDOW: usize = 10 << 10;

/// The rule a body is held to: `min_bytes` in every `window`.
#[derive(Clone, Copy, Debug)]
pub struct Pace {
    pub window: Duration,
    pub min_bytes: usize,
}

impl Default for Pace {
    fn default() -> Self {
        Pace { window: WINDOW, min_bytes: MIN_BYTES_PER_WINDOW }
    }
}

/// A request body that fails once it falls below its pace.
pub struct PacedBody<B> {
    inner: B,
    pace: Pace,
    received_in_window: usize,
    window_ends: Pin<Box<Sleep>>,
    ended: bool,
}

impl<B> PacedBody<B> {
    pub fn new(inner: B, pace: Pace) -> Self {
        let window_ends = Box::pin(tokio::time::sleep(pace.window));
        PacedBody { inner, pace, received_in_window: 0, window_ends, ended: false }
    }
}

impl<B> Body for PacedBody<B>
where
    B: Body<Data = Bytes, Error = Status> + Unpin,
{
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        let this = &mut *self;
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.received_in_window += frame.data_ref().map_or(0, Bytes::len);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(other) => {
                this.ended = true;
                Poll::Ready(other)
            }
            Poll::Pending => {
                // windows that passed while data kept coming are judged when the body next waits
                while this.window_ends.as_mut().poll(cx).is_ready() {
                    if this.received_in_window < this.pace.min_bytes {
                        let message = format!(
                            "message arrived slower than {} bytes in {} s",
                            this.pace.min_bytes,
                            this.pace.window.as_secs_f64()
                        );
                        return Poll::Ready(Some(Err(Status::new(Code::DeadlineExceeded, message))));
                    }
                    this.received_in_window = 0;
                    let next = Instant::now() + this.pace.window;
                    this.window_ends.as_mut().reset(next);
                }
                Poll::Pending
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.ended || self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

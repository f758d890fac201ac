//! A bound on open gRPC connections.
//!
//! HTTP/2 flow control lets a client push up to a connection window (1 MiB)
//! of request data that the server buffers before any handler reads it, so
//! memory grows with the connections a client opens, not with the calls the
//! workers admit. The accepted sockets therefore each hold a slot; past
//! [`MAX_CONNECTIONS`] a new connection is closed at once (the client sees
//! `UNAVAILABLE` and retries), which bounds the buffered data to
//! `MAX_CONNECTIONS` windows, 256 MiB, as HTTP's body budget is.
//!
//! So that idle sockets cannot keep the slots, a connection that sends
//! nothing within [`FIRST_BYTES_DEADLINE`] of being accepted is closed (HTTP
//! gives a request head as long), and the server ends every connection
//! gracefully after `max_connection_age` (`mod.rs`), as gRPC servers do to
//! rebalance: clients reconnect without failing a call.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_stream::Stream;
use tonic::transport::server::Connected;

pub const MAX_CONNECTIONS: usize = 256;
/// A new connection must send its first bytes (the HTTP/2 preface) within this.
pub const FIRST_BYTES_DEADLINE: Duration = Duration::from_secs(15);

/// Accepted connections, each holding a slot until it closes.
pub struct CappedIncoming<S> {
    inner: S,
    slots: Arc<Semaphore>,
    first_bytes_deadline: Duration,
    /// connections closed at once for want of a slot
    pub refused: Arc<AtomicU64>,
}

impl<S> CappedIncoming<S> {
    pub fn new(inner: S, limit: usize, first_bytes_deadline: Duration) -> Self {
        CappedIncoming { inner, slots: Arc::new(Semaphore::new(limit)), first_bytes_deadline, refused: Arc::default() }
    }
}

impl<S, IO, E> Stream for CappedIncoming<S>
where
    S: Stream<Item = Result<IO, E>> + Unpin,
{
    type Item = Result<Held<IO>, E>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        loop {
            match Pin::new(&mut this.inner).poll_next(cx) {
                Poll::Ready(Some(Ok(io))) => match this.slots.clone().try_acquire_owned() {
                    Ok(slot) => {
                        let silence = Some(Box::pin(tokio::time::sleep(this.first_bytes_deadline)));
                        return Poll::Ready(Some(Ok(Held { io, _slot: slot, silence })));
                    }
                    Err(_) => {
                        this.refused.fetch_add(1, Ordering::Relaxed);
                        drop(io); // closes the socket
                    }
                },
                Poll::Ready(Some(Err(error))) => return Poll::Ready(Some(Err(error))),
                Poll::Ready(None) => return Poll::Ready(None),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// A connection and its slot, given back when tonic drops the connection.
pub struct Held<IO> {
    io: IO,
    _slot: OwnedSemaphorePermit,
    /// until the first bytes arrive: when the connection is closed for silence
    silence: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl<IO: Connected> Connected for Held<IO> {
    type ConnectInfo = IO::ConnectInfo;

    fn connect_info(&self) -> IO::ConnectInfo {
        self.io.connect_info()
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Held<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        let Some(silence) = this.silence.as_mut() else { return read };
        match read {
            Poll::Ready(Ok(())) if buf.filled().len() > before => {
                this.silence = None;
                Poll::Ready(Ok(()))
            }
            Poll::Pending if silence.as_mut().poll(cx).is_ready() => {
                Poll::Ready(Err(io::Error::new(io::ErrorKind::TimedOut, "no bytes within 15 s of connecting")))
            }
            other => other,
        }
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Held<IO> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio_stream::StreamExt;

    #[test]
    fn connections_past_the_bound_are_closed_and_a_closed_one_frees_its_slot() {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
        runtime.block_on(async {
            let accepted = tokio_stream::iter((1..=5).map(Ok::<u32, io::Error>));
            let mut capped = CappedIncoming::new(accepted, 2, FIRST_BYTES_DEADLINE);
            let first = capped.next().await.unwrap().unwrap();
            let second = capped.next().await.unwrap().unwrap();
            assert_eq!((first.io, second.io), (1, 2));
            drop(first);
            // 3 takes the freed slot; 4 and 5 find none and are closed
            let third = capped.next().await.unwrap().unwrap();
            assert_eq!(third.io, 3);
            assert!(capped.next().await.is_none(), "4 and 5 closed, then the listener ended");
            assert_eq!(capped.refused.load(Ordering::Relaxed), 2);
            drop((second, third));
        });
    }
}

#[cfg(test)]
mod silence_tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio_stream::StreamExt;

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
    }

    #[test]
    fn a_silent_connection_is_closed_and_a_talking_one_is_not() {
        runtime().block_on(async {
            let (silent_client, silent_server) = tokio::io::duplex(64);
            let (mut talking_client, talking_server) = tokio::io::duplex(64);
            let accepted = tokio_stream::iter([Ok::<_, io::Error>(silent_server), Ok(talking_server)]);
            let mut capped = CappedIncoming::new(accepted, 2, Duration::from_millis(50));
            let mut silent = capped.next().await.unwrap().unwrap();
            let mut talking = capped.next().await.unwrap().unwrap();
            talking_client.write_all(b"PRI").await.unwrap();
            let mut first = [0u8; 3];
            talking.read_exact(&mut first).await.unwrap();
            assert_eq!(&first, b"PRI");
            let error = silent.read(&mut [0u8; 8]).await.unwrap_err();
            assert_eq!(
                (error.kind(), error.to_string().as_str()),
                (io::ErrorKind::TimedOut, "no bytes within 15 s of connecting")
            );
            // once talking, the deadline is gone: a later pause is the keep-alive's business
            tokio::time::sleep(Duration::from_millis(80)).await;
            talking_client.write_all(b"X").await.unwrap();
            let mut next = [0u8; 1];
            talking.read_exact(&mut next).await.unwrap();
            assert_eq!(&next, b"X");
            drop(silent_client);
        });
    }
}

//! A bound on open gRPC connections.
//!
//! HTTP/2 flow control lets a client push up to a connection window (1 MiB)
//! of request data that the server buffers before any handler reads it, so
//! memory grows with the connections a client opens, not with the calls the
//! workers admit. The accepted sockets therefore each hold a slot; past
//! [`MAX_CONNECTIONS`] a new connection is closed at once (the client sees
//! `UNAVAILABLE` and retries), which bounds the buffered data to
//! `MAX_CONNECTIONS` windows, 256 MiB, as HTTP's body budget is.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_stream::Stream;
use tonic::transport::server::Connected;

pub const MAX_CONNECTIONS: usize = 256;

/// Accepted connections, each holding a slot until it closes.
pub struct CappedIncoming<S> {
    inner: S,
    slots: Arc<Semaphore>,
    /// connections closed at once for want of a slot
    pub refused: Arc<AtomicU64>,
}

impl<S> CappedIncoming<S> {
    pub fn new(inner: S, limit: usize) -> Self {
        CappedIncoming { inner, slots: Arc::new(Semaphore::new(limit)), refused: Arc::default() }
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
                    Ok(slot) => return Poll::Ready(Some(Ok(Held { io, _slot: slot }))),
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
}

impl<IO: Connected> Connected for Held<IO> {
    type ConnectInfo = IO::ConnectInfo;

    fn connect_info(&self) -> IO::ConnectInfo {
        self.io.connect_info()
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Held<IO> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_read(cx, buf)
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
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(async {
            let accepted = tokio_stream::iter((1..=5).map(Ok::<u32, io::Error>));
            let mut capped = CappedIncoming::new(accepted, 2);
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
